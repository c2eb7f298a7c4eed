package filesource_test

import (
	"context"
	"errors"
	"io"
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
