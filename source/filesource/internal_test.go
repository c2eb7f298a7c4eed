package filesource

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Watch source that finds a file changed between listing and reading does
// not deliver it: the file goes back to settling. A finite source delivers
// what it read, with the version it read.
func TestChangedWhileRead(t *testing.T) {
	for _, watch := range []bool{true, false} {
		dir := t.TempDir()
		name := filepath.Join(dir, "a.x12")
		require.NoError(t, os.WriteFile(name, []byte("complete now"), 0o644))
		s, err := Open(dir, &Options{Watch: watch, SettleTime: time.Hour})
		require.NoError(t, err)
		listed := entry{rel: "a.x12", abs: name, ver: version{Size: 4, MTime: 1}} // as seen half written
		s.inflight["a.x12"] = listed.ver
		ms := s.load([]entry{listed})
		if watch {
			assert.Empty(t, ms)
			assert.NotContains(t, s.inflight, "a.x12")
			assert.Equal(t, int64(12), s.observed["a.x12"].ver.Size)
			continue
		}
		require.Len(t, ms, 1)
		assert.Equal(t, "complete now", string(ms[0].Body))
		assert.Equal(t, int64(12), s.inflight["a.x12"].Size)
		require.NoError(t, ms[0].Ack(t.Context()))
		assert.Equal(t, int64(12), s.done["a.x12"].Size)
	}
}

// A file listed and then removed before it is read is skipped.
func TestRemovedBeforeRead(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "a.x12")
	require.NoError(t, os.WriteFile(name, []byte("a"), 0o644))
	s, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, os.Remove(name))
	ms, err := s.Read(t.Context())
	assert.Empty(t, ms)
	assert.ErrorIs(t, err, io.EOF)
}
