package fhirmap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/source"
)

// streamed returns a message whose body is streamed (as filesource's with
// Options.Stream): its reader yields body in small reads, then fails with
// failAt when that is set.
func streamed(body []byte, failAt int, fail error) *source.Message {
	return source.NewStreamMessage("file@1", func() (io.ReadCloser, error) {
		r := io.Reader(bytes.NewReader(body))
		if failAt > 0 {
			r = io.MultiReader(bytes.NewReader(body[:failAt]), failingReader{fail})
		}
		return io.NopCloser(io.LimitReader(smallReads{r}, int64(len(body)))), nil
	}, map[string]string{"file": "in.x12"}, nil, nil)
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// smallReads returns at most 100 bytes per Read, as a file read in pieces.
type smallReads struct{ r io.Reader }

func (s smallReads) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 100)]) }

// TestConvertStreamedBody: a streamed body converts exactly as the same bytes
// in Body, for the X12 and the provider CSV converters; a body that fails
// while it is read fails the message with that error.
func TestConvertStreamedBody(t *testing.T) {
	csv, err := os.ReadFile(filepath.Join("testdata", providerDir, "directory.csv"))
	if err != nil {
		t.Fatal(err)
	}
	changed := errors.New("the file changed") // as filesource.ErrChanged
	for _, tc := range []struct {
		name string
		body []byte
		conv func() Converter
	}{
		{"837p", readCase(t, "837p_corrections"), func() Converter {
			return NewX12Converter(goldenMapper(t, "837p_corrections", nil), nil)
		}},
		{"835", readCase(t, "835_plb"), func() Converter { return NewX12Converter(goldenMapper(t, "835_plb", nil), nil) }},
		{"providers", csv, func() Converter {
			return NewProviderCSVConverter(providerTestMapper(t, ""), &ProviderCSVConverterOptions{CSV: &ProviderCSVOptions{Columns: &providerTestColumns}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			want, wantErr := tc.conv().Convert(ctx, source.NewMessage("file@1", tc.body, map[string]string{"file": "in.x12"}, nil, nil))
			got, gotErr := tc.conv().Convert(ctx, streamed(tc.body, 0, nil))
			if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("streamed: error %v, in memory: %v", gotErr, wantErr)
			}
			if len(got) != len(want) || len(got) == 0 {
				t.Fatalf("streamed %d resources, in memory %d", len(got), len(want))
			}
			for i := range got {
				if !proto.Equal(got[i], want[i]) {
					t.Errorf("resource %d differs", i)
				}
			}

			_, err := tc.conv().Convert(ctx, streamed(tc.body, len(tc.body)/2, changed))
			if !errors.Is(err, changed) {
				t.Errorf("a body failing halfway: error %v, want it to wrap the reader's", err)
			}
		})
	}
}
