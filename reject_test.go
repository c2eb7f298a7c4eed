package fhirsync_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/source"
)

// records returns what rej recorded, oldest first.
func records(t *testing.T, rej *fhirsync.DirRejecter) []fhirsync.RejectRecord {
	t.Helper()
	var recs []fhirsync.RejectRecord
	for r, err := range rej.Records() {
		require.NoError(t, err)
		recs = append(recs, r)
	}
	return recs
}

func body(t *testing.T, rej *fhirsync.DirRejecter, rec fhirsync.RejectRecord) string {
	t.Helper()
	rc, err := rej.OpenBody(rec)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return string(b)
}

// bodyFiles lists the files under dir/bodies.
func bodyFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(dir, "bodies"))
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
		fi, err := e.Info()
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "bodies hold PHI")
	}
	return names
}

func TestDirRejecterBodies(t *testing.T) {
	ctx := context.Background()
	small := "ISA*" + canary + "~"
	large := strings.Repeat("CLM*"+canary+"~", 10000) // > 64 KiB
	for _, tc := range []struct {
		name   string
		msg    func() *source.Message
		times  int
		inline bool
		files  int
		want   string
	}{
		{"small in memory: inline", func() *source.Message {
			return source.NewMessage("m@1", []byte(small), nil, nil, nil)
		}, 3, true, 0, small},
		{"large in memory: one body file", func() *source.Message {
			return source.NewMessage("m@1", []byte(large), nil, nil, nil)
		}, 20, false, 1, large},
		{"streamed: one body file", func() *source.Message {
			return source.NewStreamMessage("m@1", func() (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader(small)), nil
			}, map[string]string{"path": "in.x12"}, nil, nil)
		}, 20, false, 1, small},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rej, err := fhirsync.NewDirRejecter(dir)
			require.NoError(t, err)
			m := tc.msg()
			var wg sync.WaitGroup
			for range tc.times { // one message, many refused resources, at once
				wg.Go(func() {
					assert.NoError(t, rej.Reject(ctx, &fhirsync.Rejection{Message: m, Stage: fhirsync.StageWrite, Err: errors.New("HTTP 422"), Resource: "Claim/x", Time: time.Now()}))
				})
			}
			wg.Wait()
			recs := records(t, rej)
			require.Len(t, recs, tc.times)
			assert.Len(t, bodyFiles(t, dir), tc.files)
			for _, r := range recs {
				assert.Equal(t, tc.inline, r.BodyFile == "", r.BodyFile)
				assert.Equal(t, recs[0].BodyFile, r.BodyFile, "one copy per message")
				assert.Empty(t, r.BodyError)
				assert.Equal(t, tc.want, body(t, rej, r))
				assert.NotContains(t, r.Name+r.BodyFile+r.Error+r.MessageID, canary)
			}
			// Removing the records removes the body with the last one.
			for i, r := range recs {
				require.NoError(t, rej.Remove(r))
				if i < len(recs)-1 {
					assert.Len(t, bodyFiles(t, dir), tc.files)
				}
			}
			assert.Empty(t, records(t, rej))
			assert.Empty(t, bodyFiles(t, dir))
		})
	}
}

// TestDirRejecterUnreadableBody: a streamed body that cannot be read is
// reported in the record, which is still written: the rejection is not lost.
func TestDirRejecterUnreadableBody(t *testing.T) {
	dir := t.TempDir()
	rej, err := fhirsync.NewDirRejecter(dir)
	require.NoError(t, err)
	for _, open := range []func() (io.ReadCloser, error){
		func() (io.ReadCloser, error) { return nil, errors.New("filesource: open in.x12: file changed") },
		func() (io.ReadCloser, error) {
			return io.NopCloser(io.MultiReader(strings.NewReader(canary), errorReader{})), nil
		},
	} {
		m := source.NewStreamMessage("in.x12@1", open, nil, nil, nil)
		require.NoError(t, rej.Reject(context.Background(), &fhirsync.Rejection{Message: m, Stage: fhirsync.StageConvert, Err: errors.New("bad"), Time: time.Now()}))
	}
	recs := records(t, rej)
	require.Len(t, recs, 2)
	for _, r := range recs {
		assert.Empty(t, r.BodyFile)
		assert.Contains(t, r.BodyError, "body not kept")
		assert.NotContains(t, r.BodyError, canary)
		assert.Empty(t, body(t, rej, r))
	}
	assert.Empty(t, bodyFiles(t, dir), "no partial copy is left")
}

type errorReader struct{}

func (errorReader) Read([]byte) (int, error) { return 0, errors.New("read: input/output error") }

// TestDirRejecterWriteFailure: a body file that cannot be written fails the
// Reject (the engine retries it), and the next try writes it.
func TestDirRejecterWriteFailure(t *testing.T) {
	dir := t.TempDir()
	rej, err := fhirsync.NewDirRejecter(dir)
	require.NoError(t, err)
	m := source.NewMessage("m@1", bytes.Repeat([]byte("x"), 100<<10), nil, nil, nil)
	r := &fhirsync.Rejection{Message: m, Stage: fhirsync.StageWrite, Err: errors.New("HTTP 422"), Time: time.Now()}
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "bodies")))
	require.Error(t, rej.Reject(context.Background(), r))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "bodies"), 0o700))
	require.NoError(t, rej.Reject(context.Background(), r))
	recs := records(t, rej)
	require.Len(t, recs, 1)
	assert.Len(t, body(t, rej, recs[0]), 100<<10)
}
