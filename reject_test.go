package fhirsync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

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
	if errors.Is(err, fs.ErrNotExist) {
		return nil // made with the first body kept apart
	}
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
	// A file where the bodies directory should be: nothing can be written.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bodies"), nil, 0o600))
	require.Error(t, rej.Reject(context.Background(), r))
	require.NoError(t, os.Remove(filepath.Join(dir, "bodies")))
	require.NoError(t, rej.Reject(context.Background(), r))
	recs := records(t, rej)
	require.Len(t, recs, 1)
	assert.Len(t, body(t, rej, recs[0]), 100<<10)
}

// rejectOnce records one write rejection of m.
func rejectOnce(t *testing.T, ctx context.Context, rej *fhirsync.DirRejecter, m *source.Message) error {
	t.Helper()
	return rej.Reject(ctx, &fhirsync.Rejection{Message: m, Stage: fhirsync.StageWrite, Err: errors.New("HTTP 422"), Resource: "Claim/x", Time: time.Now()})
}

// streamedMsg returns a streamed message whose body is b.
func streamedMsg(b string) *source.Message {
	return source.NewStreamMessage("in.x12@1", func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(b)), nil
	}, map[string]string{"path": "in.x12"}, nil, nil)
}

// TestDirRejecterDoesNotPinMessages: the DirRejecter remembers which body
// file a message has without keeping the message (and its body) alive once
// the engine is done with it: a large body in memory must be freed.
func TestDirRejecterDoesNotPinMessages(t *testing.T) {
	rej, err := fhirsync.NewDirRejecter(t.TempDir())
	require.NoError(t, err)
	w := func() weak.Pointer[source.Message] {
		m := source.NewMessage("m@1", bytes.Repeat([]byte("CLM*"+canary+"~"), 1<<18), nil, nil, nil) // 4 MiB
		require.NoError(t, rejectOnce(t, context.Background(), rej, m))
		return weak.Make(m)
	}()
	for range 5 {
		runtime.GC()
		if w.Value() == nil {
			break
		}
	}
	assert.Nil(t, w.Value(), "the DirRejecter keeps a settled message (and its body) alive")
	runtime.KeepAlive(rej)
}

// TestDirRejecterRejectAfterRemove: a rejection of a message recorded after
// Remove deleted the message's body file gets its own copy, not a
// reference to the deleted file.
func TestDirRejecterRejectAfterRemove(t *testing.T) {
	ctx := context.Background()
	rej, err := fhirsync.NewDirRejecter(t.TempDir())
	require.NoError(t, err)
	large := strings.Repeat("CLM*"+canary+"~", 10000)
	for _, m := range []*source.Message{streamedMsg(large), source.NewMessage("m@1", []byte(large), nil, nil, nil)} {
		require.NoError(t, rejectOnce(t, ctx, rej, m))
		recs := records(t, rej)
		require.Len(t, recs, 1)
		require.NoError(t, rej.Remove(recs[0]))
		require.NoError(t, rejectOnce(t, ctx, rej, m))
		recs = records(t, rej)
		require.Len(t, recs, 1)
		rc, err := rej.OpenBody(recs[0])
		require.NoError(t, err, "the record refers to a body file Remove deleted")
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		assert.Equal(t, large, string(b))
		require.NoError(t, rej.Remove(recs[0]))
	}
}

// TestDirRejecterRemoveWhileRejecting: Remove running while rejections of
// the same message are recorded never deletes a body file a record refers
// to, and leaves no body file that none refers to.
func TestDirRejecterRemoveWhileRejecting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rej, err := fhirsync.NewDirRejecter(dir)
	require.NoError(t, err)
	large := strings.Repeat("CLM*"+canary+"~", 10000)
	m := streamedMsg(large)
	stop := make(chan struct{})
	var removers sync.WaitGroup
	for range 2 {
		removers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for r, err := range rej.Records() {
					if err != nil {
						continue // removed by the other remover meanwhile
					}
					if err := rej.Remove(r); err != nil && !errors.Is(err, fs.ErrNotExist) {
						t.Error(err)
					}
				}
			}
		})
	}
	var rejecters sync.WaitGroup
	for range 4 {
		rejecters.Go(func() {
			for range 50 {
				assert.NoError(t, rejectOnce(t, ctx, rej, m))
			}
		})
	}
	rejecters.Wait()
	close(stop)
	removers.Wait()
	recs := records(t, rej)
	used := map[string]bool{}
	for _, r := range recs {
		used[r.BodyFile] = true
		assert.Equal(t, large, body(t, rej, r), "a record refers to a body file Remove deleted")
	}
	for _, f := range bodyFiles(t, dir) {
		assert.True(t, used["bodies/"+f], "body file %s is referred to by no record", f)
	}
}

// TestDirRejecterRemoveStaysInside: Remove and OpenBody touch only the
// directory's own files, whatever a record file (which anyone able to write
// the directory can edit) names.
func TestDirRejecterRemoveStaysInside(t *testing.T) {
	for _, tc := range []struct {
		name, bodyFile string
	}{
		{"parent", "../victim"},
		{"through bodies", "bodies/../../victim"},
		{"absolute", "/VICTIM"},
		{"another record", "other.json"},
		{"the bodies directory", "bodies/."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "rejects")
			rej, err := fhirsync.NewDirRejecter(dir)
			require.NoError(t, err)
			require.NoError(t, os.Mkdir(filepath.Join(dir, "bodies"), 0o700)) // as an earlier body made it
			victim := filepath.Join(parent, "victim")
			require.NoError(t, os.WriteFile(victim, []byte("keep"), 0o600))
			bf := tc.bodyFile
			if bf == "/VICTIM" {
				bf = victim
			}
			other := filepath.Join(dir, "other.json")
			require.NoError(t, os.WriteFile(other, []byte(`{"messageId":"o","stage":"write","error":"e","time":"2024-01-01T00:00:00Z"}`), 0o600))
			rec, err := json.Marshal(fhirsync.RejectRecord{MessageID: "m", Stage: fhirsync.StageWrite, Error: "e", Time: time.Now(), BodyFile: bf})
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "x.json"), rec, 0o600))
			var target fhirsync.RejectRecord
			for r, err := range rej.Records() {
				require.NoError(t, err)
				if r.Name == "x.json" {
					target = r
				}
			}
			require.Equal(t, "x.json", target.Name)
			_, err = rej.OpenBody(target)
			assert.Error(t, err, "OpenBody reads only body files")
			assert.Error(t, rej.Remove(target))
			assert.FileExists(t, victim)
			assert.FileExists(t, other)
			assert.DirExists(t, filepath.Join(dir, "bodies"))
		})
	}
	t.Run("record name", func(t *testing.T) {
		dir := t.TempDir()
		rej, err := fhirsync.NewDirRejecter(dir)
		require.NoError(t, err)
		keep := filepath.Join(dir, "bodies", "b.body")
		require.NoError(t, os.Mkdir(filepath.Join(dir, "bodies"), 0o700))
		require.NoError(t, os.WriteFile(keep, []byte("x"), 0o600))
		assert.Error(t, rej.Remove(fhirsync.RejectRecord{Name: "bodies/b.body"}))
		assert.FileExists(t, keep)
	})
}

// endless is a streamed body that never ends until done is closed: a slow
// input.
type endless struct{ done chan struct{} }

func (e endless) Read(p []byte) (int, error) {
	select {
	case <-e.done:
		return 0, io.EOF
	case <-time.After(time.Millisecond):
	}
	return copy(p, "CLM*"+canary+"~"), nil
}

// TestDirRejecterCancelledCopy: Reject returns when its context ends, even
// while it copies a body, leaves no partial copy, and a later Reject copies
// the body again.
func TestDirRejecterCancelledCopy(t *testing.T) {
	dir := t.TempDir()
	rej, err := fhirsync.NewDirRejecter(dir)
	require.NoError(t, err)
	done := make(chan struct{})
	defer close(done)
	slow := true
	m := source.NewStreamMessage("in.x12@1", func() (io.ReadCloser, error) {
		if slow {
			return io.NopCloser(endless{done}), nil
		}
		return io.NopCloser(strings.NewReader("ISA*" + canary + "~")), nil
	}, nil, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- rejectOnce(t, ctx, rej, m) }()
	select {
	case err := <-res:
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("Reject did not return when its context ended")
	}
	assert.Empty(t, bodyFiles(t, dir), "no partial copy is left")
	assert.Empty(t, records(t, rej))
	slow = false
	require.NoError(t, rejectOnce(t, context.Background(), rej, m))
	recs := records(t, rej)
	require.Len(t, recs, 1)
	assert.Empty(t, recs[0].BodyError)
	assert.Equal(t, "ISA*"+canary+"~", body(t, rej, recs[0]))
}
