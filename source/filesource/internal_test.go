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

// A file rewritten while it is read, even to the same size, is not
// delivered by a Watch source (its body could mix two versions): it goes
// back to settling, from the version it has now. A finite source delivers
// what it read under the version it had before the read, so a later run
// reads the new version.
func TestRewrittenWhileRead(t *testing.T) {
	for _, watch := range []bool{true, false} {
		dir := t.TempDir()
		name := filepath.Join(dir, "a.x12")
		require.NoError(t, os.WriteFile(name, []byte("AAAA"), 0o644))
		old := time.Now().Add(-time.Hour).Truncate(time.Second)
		require.NoError(t, os.Chtimes(name, old, old))
		s, err := Open(dir, &Options{Watch: watch, SettleTime: time.Hour})
		require.NoError(t, err)
		listed := stat("a.x12", name)
		s.inflight["a.x12"] = listed.ver
		newer := old.Add(time.Minute)
		readHook = func(string) {
			require.NoError(t, os.WriteFile(name, []byte("BBBB"), 0o644))
			require.NoError(t, os.Chtimes(name, newer, newer))
		}
		ms := s.load([]entry{listed})
		readHook = nil
		if watch {
			assert.Empty(t, ms, "a Watch source delivered a file rewritten while it was read")
			assert.NotContains(t, s.inflight, "a.x12")
			assert.Equal(t, version{Size: 4, MTime: newer.UnixNano()}, s.observed["a.x12"].ver)
			continue
		}
		require.Len(t, ms, 1)
		require.NoError(t, ms[0].Ack(t.Context()))
		assert.Equal(t, listed.ver, s.done["a.x12"], "the version recorded is the one before the read")
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
