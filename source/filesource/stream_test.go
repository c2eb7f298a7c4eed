package filesource_test

import (
	"context"
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
)

// readOne opens dir with opts and returns its first message.
func readOne(t *testing.T, dir string, opts *filesource.Options) (*filesource.Source, *source.Message) {
	t.Helper()
	src, err := filesource.Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })
	ms, err := src.Read(context.Background())
	require.NoError(t, err)
	require.Len(t, ms, 1)
	return src, ms[0]
}

func TestStreamMessage(t *testing.T) {
	dir := t.TempDir()
	body := "ISA*ZZCANARYZZ~" + strings.Repeat("x", 100)
	write(t, dir, map[string]string{"a.x12": body})
	_, m := readOne(t, dir, &filesource.Options{Stream: true})
	assert.True(t, m.Streamed())
	assert.Nil(t, m.Body, "a streamed message holds no body")
	assert.Equal(t, "115", m.Metadata["size"])
	for range 2 { // each Open reads from the start
		rc, err := m.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		assert.Equal(t, body, string(b))
	}
	b, err := m.ReadBody()
	require.NoError(t, err)
	assert.Equal(t, body, string(b))
	require.NoError(t, m.Ack(context.Background()))
}

// TestStreamLargerThanMaxFileSize: MaxFileSize bounds what is read into
// memory; a streamed file is not, so any size is delivered.
func TestStreamLargerThanMaxFileSize(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"big.x12": strings.Repeat("y", 4096)})
	_, m := readOne(t, dir, &filesource.Options{MaxFileSize: 1024})
	assert.ErrorIs(t, m.Err(), filesource.ErrTooLarge, "in memory: refused")
	_, m = readOne(t, dir, &filesource.Options{MaxFileSize: 1024, Stream: true, Checkpoint: filepath.Join(t.TempDir(), "ckpt")})
	require.NoError(t, m.Err(), "streamed: any size")
	b, err := m.ReadBody()
	require.NoError(t, err)
	assert.Len(t, b, 4096)
}

func TestStreamChanged(t *testing.T) {
	past := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, p string)
		// readFirst reads part of the file before the change.
		readFirst bool
	}{
		{"rewritten before Open", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, []byte("ISA*ZZCANARYZZ~ other content"), 0o644))
		}, false},
		{"same size, new mtime before Open", func(t *testing.T, p string) {
			require.NoError(t, os.Chtimes(p, past.Add(time.Hour), past.Add(time.Hour)))
		}, false},
		{"appended while read", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString("SE*2*0001~")
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}, true},
		{"truncated while read", func(t *testing.T, p string) {
			require.NoError(t, os.Truncate(p, 10))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "a.x12")
			write(t, dir, map[string]string{"a.x12": "ISA*ZZCANARYZZ~" + strings.Repeat("z", 64<<10)})
			require.NoError(t, os.Chtimes(p, past, past))
			_, m := readOne(t, dir, &filesource.Options{Stream: true})
			var rc io.ReadCloser
			var err error
			if tc.readFirst {
				rc, err = m.Open()
				require.NoError(t, err)
				defer rc.Close()
				_, err = io.ReadFull(rc, make([]byte, 100))
				require.NoError(t, err)
			}
			tc.change(t, p)
			if !tc.readFirst {
				_, err = m.Open()
			} else {
				_, err = io.ReadAll(rc)
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, filesource.ErrChanged)
			var fe *filesource.FileError
			require.True(t, errors.As(err, &fe))
			assert.Equal(t, "a.x12", fe.Path)
			assert.NotContains(t, err.Error(), "ZZCANARYZZ")
			_, err = m.ReadBody()
			assert.ErrorIs(t, err, filesource.ErrChanged)
		})
	}
}

// TestStreamCheckpoint: a streamed file is checkpointed like one read
// whole, and a changed one is a new version delivered again.
func TestStreamCheckpoint(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"a.x12": "one", "b.x12": "two"})
	src, err := filesource.Open(dir, &filesource.Options{Stream: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"a.x12", "b.x12"}, drain(t, src, nil))
	require.NoError(t, src.Close())

	write(t, dir, map[string]string{"b.x12": "two, corrected"})
	src, err = filesource.Open(dir, &filesource.Options{Stream: true})
	require.NoError(t, err)
	defer src.Close()
	var got []string
	assert.Equal(t, []string{"b.x12"}, drain(t, src, func(m *source.Message) error {
		b, err := m.ReadBody()
		require.NoError(t, err)
		got = append(got, string(b))
		return m.Ack(context.Background())
	}))
	assert.Equal(t, []string{"two, corrected"}, got)
}

// TestStreamNoByteOfAnotherVersion: a streamed reader never hands out a byte
// of a version other than the message's, even before the end of the file: a
// streaming converter maps (and the engine writes) records as they are
// read, so a change found only at the end would be found too late.
func TestStreamNoByteOfAnotherVersion(t *testing.T) {
	past := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	orig := "ISA*ZZCANARYZZ~" + strings.Repeat("z", 256<<10)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, p string)
	}{
		{"rewritten in place", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteAt([]byte(strings.Repeat("#", 1000)), 200<<10)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
		{"appended", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString(strings.Repeat("#", 1000))
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "a.x12")
			write(t, dir, map[string]string{"a.x12": orig})
			require.NoError(t, os.Chtimes(p, past, past))
			_, m := readOne(t, dir, &filesource.Options{Stream: true})
			rc, err := m.Open()
			require.NoError(t, err)
			defer rc.Close()
			got := make([]byte, 100)
			_, err = io.ReadFull(rc, got)
			require.NoError(t, err)
			tc.change(t, p)
			buf := make([]byte, 4096)
			for {
				n, err := rc.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					assert.ErrorIs(t, err, filesource.ErrChanged)
					assert.NotContains(t, err.Error(), "ZZCANARYZZ")
					break
				}
			}
			// (Not assert.NotContains: it would print the whole body.)
			assert.False(t, strings.Contains(string(got), "#"), "a byte of the new version was handed out")
			assert.True(t, strings.HasPrefix(orig, string(got)), "only a prefix of the delivered version is read (%d bytes of %d)", len(got), len(orig))
		})
	}
}

// TestStreamSettling: a streamed message's file removed after delivery
// fails Open (fs.ErrNotExist, PHI-free) and can still be acked; a nacked one
// is delivered again as a new streamed message read from the start; a
// reader open when the Source closes reads on.
func TestStreamSettling(t *testing.T) {
	ctx := context.Background()
	body := "ISA*ZZCANARYZZ~" + strings.Repeat("s", 10000)
	t.Run("removed after delivery", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, map[string]string{"a.x12": body})
		_, m := readOne(t, dir, &filesource.Options{Stream: true})
		require.NoError(t, os.Remove(filepath.Join(dir, "a.x12")))
		_, err := m.Open()
		assert.ErrorIs(t, err, fs.ErrNotExist)
		var fe *filesource.FileError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "open", fe.Op)
		assert.NotContains(t, err.Error(), "ZZCANARYZZ")
		require.NoError(t, m.Ack(ctx))
	})
	t.Run("nacked", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, map[string]string{"a.x12": body})
		src, m := readOne(t, dir, &filesource.Options{Stream: true})
		rc, err := m.Open()
		require.NoError(t, err)
		_, err = io.ReadFull(rc, make([]byte, 10))
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.NoError(t, m.Nack(ctx, errors.New("try later")))
		ms, err := src.Read(ctx)
		require.NoError(t, err)
		require.Len(t, ms, 1)
		assert.Equal(t, m.ID, ms[0].ID)
		b, err := ms[0].ReadBody()
		require.NoError(t, err)
		assert.Equal(t, body, string(b))
		require.NoError(t, ms[0].Ack(ctx))
	})
	t.Run("closed while read", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, map[string]string{"a.x12": body})
		src, m := readOne(t, dir, &filesource.Options{Stream: true})
		rc, err := m.Open()
		require.NoError(t, err)
		defer rc.Close()
		require.NoError(t, src.Close())
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		assert.Equal(t, body, string(b))
		assert.ErrorIs(t, m.Ack(ctx), source.ErrClosed)
	})
}

// TestStreamReadSizes: a streamed body reads whole whatever the size of the
// reads, an empty file included, and ends with io.EOF.
func TestStreamReadSizes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size, read int
	}{
		{"empty", 0, 512},
		{"one read of its size", 4096, 4096},
		{"reads larger than the file", 1000, 1 << 16},
		{"one byte at a time", 300, 1},
		{"uneven reads", 100000, 777},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			body := strings.Repeat("0123456789", tc.size/10+1)[:tc.size]
			write(t, dir, map[string]string{"a.x12": body})
			_, m := readOne(t, dir, &filesource.Options{Stream: true})
			rc, err := m.Open()
			require.NoError(t, err)
			defer rc.Close()
			var got []byte
			buf := make([]byte, tc.read)
			for {
				n, err := rc.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
			}
			assert.Equal(t, body, string(got))
			n, err := rc.Read(buf)
			assert.Zero(t, n)
			assert.Equal(t, io.EOF, err, "EOF again")
		})
	}
}

// TestStreamWatchChanged: with Watch, a streamed file that changes after
// delivery fails its reader with ErrChanged; once that message is settled,
// the new version is delivered as a new message, and acking it checkpoints
// the new version.
func TestStreamWatchChanged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, settle := range []string{"ack", "nack"} {
		t.Run(settle, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "a.x12")
			past := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
			write(t, dir, map[string]string{"a.x12": "ISA*ZZCANARYZZ~ one"})
			require.NoError(t, os.Chtimes(p, past, past))
			opts := &filesource.Options{Stream: true, Watch: true, PollInterval: 10 * time.Millisecond, SettleTime: -1}
			src, err := filesource.Open(dir, opts)
			require.NoError(t, err)
			ms, err := src.Read(ctx)
			require.NoError(t, err)
			require.Len(t, ms, 1)
			write(t, dir, map[string]string{"a.x12": "ISA*ZZCANARYZZ~ two, longer"})
			_, err = ms[0].ReadBody()
			assert.ErrorIs(t, err, filesource.ErrChanged)
			if settle == "ack" {
				require.NoError(t, ms[0].Ack(ctx))
			} else {
				require.NoError(t, ms[0].Nack(ctx, errors.New("later")))
			}
			next, err := src.Read(ctx)
			require.NoError(t, err)
			require.Len(t, next, 1)
			assert.NotEqual(t, ms[0].ID, next[0].ID, "a new version")
			b, err := next[0].ReadBody()
			require.NoError(t, err)
			assert.Equal(t, "ISA*ZZCANARYZZ~ two, longer", string(b))
			require.NoError(t, next[0].Ack(ctx))
			require.NoError(t, src.Close())

			src, err = filesource.Open(dir, opts)
			require.NoError(t, err)
			defer src.Close()
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			_, err = src.Read(short)
			assert.ErrorIs(t, err, context.DeadlineExceeded, "the new version is done")
		})
	}
}
