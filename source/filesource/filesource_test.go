package filesource_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/filesource"
	"github.com/fhirsync/fhirsync/source/sourcetest"
)

// write creates the files (slash-separated paths) under dir.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
}

// drain reads a finite source to io.EOF, settling each message with settle
// (ack when nil), and returns the paths delivered.
func drain(t *testing.T, src source.Source, settle func(*source.Message) error) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var paths []string
	for {
		ms, err := src.Read(ctx)
		if errors.Is(err, io.EOF) {
			return paths
		}
		require.NoError(t, err)
		for _, m := range ms {
			paths = append(paths, m.Metadata["path"])
			if settle != nil {
				require.NoError(t, settle(m))
			} else {
				require.NoError(t, m.Ack(ctx))
			}
		}
	}
}

func TestListing(t *testing.T) {
	files := map[string]string{
		"b.x12":             "b",
		"a.x12":             "a",
		"notes.txt":         "n",
		".partial.x12":      "hidden: being written",
		"sub/c.x12":         "c",
		"sub/deeper/d.x12":  "d",
		".hidden/e.x12":     "hidden directory",
		"sub/.f.x12":        "hidden file in a subdirectory",
		"visible-ckpt.json": "{}",
	}
	for _, tc := range []struct {
		name string
		opts filesource.Options
		want []string
	}{
		{"top level", filesource.Options{}, []string{"a.x12", "b.x12", "notes.txt", "visible-ckpt.json"}},
		{"pattern", filesource.Options{Pattern: "*.x12"}, []string{"a.x12", "b.x12"}},
		{"recursive", filesource.Options{Recursive: true, Pattern: "*.x12"}, []string{"a.x12", "b.x12", "sub/c.x12", "sub/deeper/d.x12"}},
		{"checkpoint under a visible name is not input", filesource.Options{Pattern: "*.json", Checkpoint: "visible-ckpt.json"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, files)
			if tc.opts.Checkpoint != "" {
				tc.opts.Checkpoint = filepath.Join(dir, tc.opts.Checkpoint)
				require.NoError(t, os.Remove(tc.opts.Checkpoint))
			}
			src, err := filesource.Open(dir, &tc.opts)
			require.NoError(t, err)
			defer src.Close()
			assert.Equal(t, tc.want, drain(t, src, nil))
		})
	}
}

func TestMessage(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"837/day1.x12": "ISA*ZZCANARYZZ~"})
	mtime := time.Date(2024, 6, 1, 12, 0, 0, 5, time.UTC)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "837", "day1.x12"), mtime, mtime))
	src, err := filesource.Open(dir, &filesource.Options{Recursive: true})
	require.NoError(t, err)
	defer src.Close()
	ms, err := src.Read(context.Background())
	require.NoError(t, err)
	require.Len(t, ms, 1)
	m := ms[0]
	assert.Equal(t, "837/day1.x12@15-1717243200000000005", m.ID)
	assert.Equal(t, map[string]string{"path": "837/day1.x12", "size": "15", "modified": "2024-06-01T12:00:00.000000005Z"}, m.Metadata)
	assert.Equal(t, "ISA*ZZCANARYZZ~", string(m.Body))
	var f *filesource.File
	require.True(t, m.As(&f))
	assert.Equal(t, filesource.File{Path: "837/day1.x12", Abs: filepath.Join(dir, "837", "day1.x12"), Size: 15, ModTime: f.ModTime}, *f)
	assert.True(t, f.ModTime.Equal(mtime))
	var fe *filesource.FileError
	assert.False(t, m.As(&fe))
	assert.NoError(t, filesource.ReadError(m))
}

func TestCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ack       []string // acked in this order; the rest left unsettled
		modify    []string // files rewritten (new version) before the restart
		remove    []string // files removed before the restart
		wantAgain []string // delivered after the restart
		wantDone  []string // in the checkpoint after the first run
	}{
		{"nothing acked", nil, nil, nil, []string{"1.x12", "2.x12", "3.x12"}, nil},
		{"all acked", []string{"1.x12", "2.x12", "3.x12"}, nil, nil, nil, []string{"1.x12", "2.x12", "3.x12"}},
		{"out of order: the gap alone comes back", []string{"3.x12", "1.x12"}, nil, nil, []string{"2.x12"}, []string{"1.x12", "3.x12"}},
		{"first unacked", []string{"3.x12", "2.x12"}, nil, nil, []string{"1.x12"}, []string{"2.x12", "3.x12"}},
		{"a rewritten file is a new version", []string{"1.x12", "2.x12", "3.x12"}, []string{"2.x12"}, nil, []string{"2.x12"}, []string{"1.x12", "2.x12", "3.x12"}},
		{"a removed file is forgotten", []string{"1.x12", "2.x12", "3.x12"}, nil, []string{"1.x12"}, nil, []string{"1.x12", "2.x12", "3.x12"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			write(t, dir, map[string]string{"1.x12": "one", "2.x12": "two", "3.x12": "three"})
			src, err := filesource.Open(dir, &filesource.Options{MaxBatch: 10})
			require.NoError(t, err)
			ms, err := src.Read(ctx)
			require.NoError(t, err)
			require.Len(t, ms, 3)
			byPath := map[string]*source.Message{}
			for _, m := range ms {
				byPath[m.Metadata["path"]] = m
			}
			for _, p := range tc.ack {
				require.NoError(t, byPath[p].Ack(ctx))
			}
			assert.Equal(t, tc.wantDone, checkpointed(t, filepath.Join(dir, filesource.DefaultCheckpoint)))
			require.NoError(t, src.Close())

			for _, p := range tc.modify {
				write(t, dir, map[string]string{p: "rewritten, longer"})
			}
			for _, p := range tc.remove {
				require.NoError(t, os.Remove(filepath.Join(dir, p)))
			}
			src, err = filesource.Open(dir, nil)
			require.NoError(t, err)
			defer src.Close()
			assert.Equal(t, tc.wantAgain, drain(t, src, nil))
			if len(tc.remove) > 0 {
				require.NoError(t, src.Close())
				// The next write prunes the removed file: ack something.
				write(t, dir, map[string]string{"4.x12": "four"})
				src, err = filesource.Open(dir, nil)
				require.NoError(t, err)
				assert.Equal(t, []string{"4.x12"}, drain(t, src, nil))
				assert.Equal(t, []string{"2.x12", "3.x12", "4.x12"}, checkpointed(t, filepath.Join(dir, filesource.DefaultCheckpoint)))
			}
		})
	}
}

// checkpointed returns the paths a checkpoint file lists.
func checkpointed(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	var c struct {
		Version int
		Done    []struct{ Path string }
	}
	require.NoError(t, json.Unmarshal(b, &c))
	require.Equal(t, 1, c.Version)
	var paths []string
	for _, d := range c.Done {
		paths = append(paths, d.Path)
	}
	return paths
}

func TestFailedFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"1-ok.x12":  "ISA*ZZCANARYZZ~",
		"2-big.x12": strings.Repeat("ZZCANARYZZ", 10),
		"3-ok.x12":  "ISA*3~",
	})
	files := []string{
		filepath.Join(dir, "1-ok.x12"),
		filepath.Join(dir, "2-big.x12"),
		filepath.Join(dir, "missing.x12"),
		filepath.Join(dir, "3-ok.x12"),
		filepath.Join(dir, "1-ok.x12"), // listed twice: read once
	}
	ckpt := filepath.Join(t.TempDir(), "ckpt.json")
	opts := &filesource.Options{MaxFileSize: 50, Checkpoint: ckpt}
	src, err := filesource.OpenFiles(files, opts)
	require.NoError(t, err)

	type got struct {
		name string
		body string
		err  error
	}
	var gots []got
	drain(t, src, func(m *source.Message) error {
		err := filesource.ReadError(m)
		if err != nil {
			assert.NotContains(t, err.Error(), sourcetest.Canary)
			var fe *filesource.FileError
			require.True(t, m.As(&fe))
			assert.Same(t, err, error(fe))
		}
		gots = append(gots, got{filepath.Base(m.Metadata["path"]), string(m.Body), err})
		return m.Ack(context.Background()) // dead-lettered: done
	})
	require.NoError(t, src.Close())
	require.Len(t, gots, 4)
	assert.Equal(t, got{"1-ok.x12", "ISA*ZZCANARYZZ~", nil}, gots[0])
	assert.Equal(t, got{"3-ok.x12", "ISA*3~", nil}, gots[3])

	big := gots[1]
	assert.Equal(t, "2-big.x12", big.name)
	assert.Empty(t, big.body)
	assert.ErrorIs(t, big.err, filesource.ErrTooLarge)
	var tl *filesource.TooLargeError
	require.ErrorAs(t, big.err, &tl)
	assert.Equal(t, filesource.TooLargeError{Size: 100, Limit: 50}, *tl)
	var fe *filesource.FileError
	require.ErrorAs(t, big.err, &fe)
	assert.Equal(t, filepath.ToSlash(files[1]), fe.Path)

	missing := gots[2]
	assert.Equal(t, "missing.x12", missing.name)
	assert.ErrorIs(t, missing.err, fs.ErrNotExist)

	// Every one was acked: a restart delivers nothing; once the missing file
	// appears it is a new version and is read.
	src, err = filesource.OpenFiles(files, opts)
	require.NoError(t, err)
	assert.Empty(t, drain(t, src, nil))
	require.NoError(t, src.Close())
	write(t, dir, map[string]string{"missing.x12": "ISA*late~"})
	src, err = filesource.OpenFiles(files, opts)
	require.NoError(t, err)
	defer src.Close()
	assert.Equal(t, []string{filepath.ToSlash(files[2])}, drain(t, src, nil))
}

// unreadable makes dir/name a file that cannot be read: mode 0, or, for root
// (which reads files whatever their mode), a symbolic link to itself.
func unreadable(t *testing.T, dir, name string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if os.Geteuid() != 0 {
		require.NoError(t, os.WriteFile(p, []byte("unreadable"), 0o644))
		require.NoError(t, os.Chmod(p, 0))
		return
	}
	require.NoError(t, os.Symlink(name, p))
}

func TestUnreadableFile(t *testing.T) {
	for _, stream := range []bool{false, true} {
		dir := t.TempDir()
		write(t, dir, map[string]string{"b.x12": "b"})
		unreadable(t, dir, "a.x12")
		src, err := filesource.Open(dir, &filesource.Options{Stream: stream})
		require.NoError(t, err)
		var errs []error
		paths := drain(t, src, func(m *source.Message) error {
			errs = append(errs, filesource.ReadError(m))
			return m.Ack(context.Background())
		})
		require.NoError(t, src.Close())
		assert.Equal(t, []string{"a.x12", "b.x12"}, paths)
		var fe *filesource.FileError
		require.ErrorAs(t, errs[0], &fe)
		assert.Equal(t, "a.x12", fe.Path)
		assert.NoError(t, errs[1])
	}
}

func TestNackRetriesFailedFile(t *testing.T) {
	// A nacked failed message is tried again: the file may be readable now.
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "late.x12")}
	src, err := filesource.OpenFiles(files, nil)
	require.NoError(t, err)
	defer src.Close()
	ctx := context.Background()
	ms, err := src.Read(ctx)
	require.NoError(t, err)
	require.ErrorIs(t, filesource.ReadError(ms[0]), fs.ErrNotExist)
	write(t, dir, map[string]string{"late.x12": "ISA*1~"})
	require.NoError(t, ms[0].Nack(ctx, errors.New("retry")))
	ms, err = src.Read(ctx)
	require.NoError(t, err)
	require.NoError(t, filesource.ReadError(ms[0]))
	assert.Equal(t, "ISA*1~", string(ms[0].Body))
}

func TestCheckpointWriteFails(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"a.x12": "a"})
	ckptDir := t.TempDir()
	ckpt := filepath.Join(ckptDir, "sub", "ckpt.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(ckpt), 0o755))
	src, err := filesource.Open(dir, &filesource.Options{Checkpoint: ckpt})
	require.NoError(t, err)
	defer src.Close()
	ctx := context.Background()
	ms, err := src.Read(ctx)
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(filepath.Dir(ckpt)))
	require.Error(t, ms[0].Ack(ctx), "an ack that could not be recorded fails")
	// and the file is delivered again instead of being lost.
	require.NoError(t, os.MkdirAll(filepath.Dir(ckpt), 0o755))
	assert.Equal(t, []string{"a.x12"}, drain(t, src, nil))
	assert.Equal(t, []string{"a.x12"}, checkpointed(t, ckpt))
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"f.x12": "x"})
	badCkpt := filepath.Join(dir, ".bad.json")
	require.NoError(t, os.WriteFile(badCkpt, []byte("not json"), 0o644))
	for _, tc := range []struct {
		name string
		open func() (*filesource.Source, error)
		is   error
	}{
		{"missing directory", func() (*filesource.Source, error) { return filesource.Open(filepath.Join(dir, "nope"), nil) }, fs.ErrNotExist},
		{"not a directory", func() (*filesource.Source, error) { return filesource.Open(filepath.Join(dir, "f.x12"), nil) }, nil},
		{"bad pattern", func() (*filesource.Source, error) { return filesource.Open(dir, &filesource.Options{Pattern: "["}) }, nil},
		{"corrupt checkpoint", func() (*filesource.Source, error) {
			return filesource.Open(dir, &filesource.Options{Checkpoint: badCkpt})
		}, nil},
		{"unwritable checkpoint location", func() (*filesource.Source, error) {
			return filesource.Open(dir, &filesource.Options{Checkpoint: filepath.Join(dir, "no", "such", "dir", "c.json")})
		}, fs.ErrNotExist},
		{"Watch over a list", func() (*filesource.Source, error) {
			return filesource.OpenFiles([]string{"f"}, &filesource.Options{Watch: true})
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := tc.open()
			require.Error(t, err)
			assert.Nil(t, src)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
		})
	}
}

func TestWatchWaitsForSettle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		settle  time.Duration
		deliver bool
	}{
		{"unsettled file is not read", time.Hour, false},
		{"no settle time", -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, map[string]string{"a.x12": "half a fi"})
			src, err := filesource.Open(dir, &filesource.Options{Watch: true, PollInterval: time.Millisecond, SettleTime: tc.settle})
			require.NoError(t, err)
			defer src.Close()
			timeout := 300 * time.Millisecond
			if tc.deliver {
				timeout = 20 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			ms, err := src.Read(ctx)
			if !tc.deliver {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Empty(t, ms)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "a.x12", ms[0].Metadata["path"])
		})
	}
}

func TestCloseWakesRead(t *testing.T) {
	src, err := filesource.Open(t.TempDir(), &filesource.Options{Watch: true})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := src.Read(context.Background())
		done <- err
	}()
	require.NoError(t, src.Close())
	assert.ErrorIs(t, <-done, source.ErrClosed)
}

func TestDirectoryInList(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"sub/a.x12": "a"})
	src, err := filesource.OpenFiles([]string{filepath.Join(dir, "sub")}, nil)
	require.NoError(t, err)
	defer src.Close()
	ms, err := src.Read(context.Background())
	require.NoError(t, err)
	var fe *filesource.FileError
	require.ErrorAs(t, filesource.ReadError(ms[0]), &fe)
	assert.Equal(t, "read", fe.Op)
}

// TestCheckpointLocked: two Sources never share one checkpoint (two replicas
// would both deliver every file and overwrite each other's record).
func TestCheckpointLocked(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.x12"), []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	first, err := filesource.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filesource.Open(dir, &filesource.Options{Watch: true}); !errors.Is(err, filesource.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	other := filepath.Join(t.TempDir(), "ckpt.json")
	second, err := filesource.Open(dir, &filesource.Options{Checkpoint: other})
	if err != nil {
		t.Fatalf("a Source with its own checkpoint: %v", err)
	}
	second.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := filesource.Open(dir, nil)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer again.Close()
	msgs, err := again.Read(context.Background())
	if err != nil || len(msgs) != 1 || msgs[0].Metadata["path"] != "a.x12" {
		t.Fatalf("Read = %v, %v; the lock file must not be read as input", msgs, err)
	}
}
