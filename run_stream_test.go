package fhirsync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/memsink"
	"github.com/fhirsync/fhirsync/source/filesource"
)

// TestRunStreamedFile runs an X12 file through filesource with Stream: the
// file is decoded from disk (its message holds no body), the sink's refusals
// of several of its resources are recorded with one shared copy of the file,
// and the file is checkpointed as done.
func TestRunStreamedFile(t *testing.T) {
	one, err := os.ReadFile("fhirmap/testdata/837p_simple.x12")
	require.NoError(t, err)
	in := t.TempDir()
	// Many interchanges in one file, larger than a body kept inline.
	content := bytes.Repeat(one, 100)
	require.NoError(t, os.WriteFile(filepath.Join(in, "claims.x12"), content, 0o644))

	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: []byte("a test key of at least 16 bytes")}})
	require.NoError(t, err)
	src, err := filesource.Open(in, &filesource.Options{Stream: true})
	require.NoError(t, err)
	rejDir := t.TempDir()
	rej, err := fhirsync.NewDirRejecter(rejDir)
	require.NoError(t, err)
	dst := memsink.New(&memsink.Options{Fault: memsink.FailOps(fmt.Errorf("%w: HTTP 422", sink.ErrInvalid), 1, 3, 5)})
	require.NoError(t, fhirsync.Run(context.Background(), src, fhirmap.NewX12Converter(m, nil), dst, fast(&fhirsync.Options{Reject: rej, BatchSize: 4})))
	require.NoError(t, src.Close())

	recs := records(t, rej)
	require.Len(t, recs, 3)
	for _, r := range recs {
		assert.Equal(t, fhirsync.StageWrite, r.Stage)
		assert.Equal(t, recs[0].BodyFile, r.BodyFile)
		assert.Equal(t, "claims.x12", r.Metadata["path"])
	}
	require.NotEmpty(t, recs[0].BodyFile, "a streamed body is kept in a body file")
	assert.Equal(t, string(content), body(t, rej, recs[0]))
	assert.Len(t, bodyFiles(t, rejDir), 1)
	assert.Positive(t, dst.Len())

	// Acked: a restart reads nothing.
	src, err = filesource.Open(in, &filesource.Options{Stream: true})
	require.NoError(t, err)
	defer src.Close()
	assert.Empty(t, drainPaths(t, src))
}

// drainPaths reads a finite source to its end, acking, and returns the
// paths of the files read.
func drainPaths(t *testing.T, src *filesource.Source) []string {
	t.Helper()
	var paths []string
	for {
		ms, err := src.Read(context.Background())
		if errors.Is(err, io.EOF) {
			return paths
		}
		require.NoError(t, err)
		for _, m := range ms {
			paths = append(paths, m.Metadata["path"])
			require.NoError(t, m.Ack(context.Background()))
		}
	}
}
