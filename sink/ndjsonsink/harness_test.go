package ndjsonsink_test

import (
	"context"
	"testing"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/ndjsonsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

// harness reads the set back from the files on disk with ndjsonsink.Lines:
// the work files replayed while the set is open, the output files once it
// is sealed.
type harness struct {
	dir  string
	opts *ndjsonsink.Options
}

func (h *harness) MakeSink(context.Context) (sink.Sink, error) { return ndjsonsink.New(h.dir, h.opts) }
func (h *harness) Close()                                      {}

func (h *harness) Read(ctx context.Context, typ, id string) (*sinktest.Stored, error) {
	for l, err := range ndjsonsink.Lines(h.dir) {
		if err != nil {
			return nil, err
		}
		if l.Type == typ && l.ID == id {
			m, err := l.Resource()
			if err != nil {
				return nil, err
			}
			return &sinktest.Stored{Resource: m}, nil
		}
	}
	return nil, sinktest.ErrNotFound
}

func (h *harness) List(ctx context.Context, typ string) ([]*sinktest.Stored, error) {
	var out []*sinktest.Stored
	for l, err := range ndjsonsink.Lines(h.dir) {
		if err != nil {
			return nil, err
		}
		if l.Type == typ {
			m, err := l.Resource()
			if err != nil {
				return nil, err
			}
			if resource.ID(m) != l.ID {
				panic("line id mismatch")
			}
			out = append(out, &sinktest.Stored{Resource: m})
		}
	}
	return out, nil
}

var features = sinktest.Features{Delete: true}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *ndjsonsink.Options
	}{
		{"defaults", nil},
		{"rotating", &ndjsonsink.Options{MaxFileLines: 7, DeleteBundleSize: 2}},
		{"tiny files", &ndjsonsink.Options{MaxFileBytes: 1500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sinktest.Run(t, func(_ context.Context, t *testing.T) (sinktest.Harness, error) {
				return &harness{dir: t.TempDir(), opts: tc.opts}, nil
			}, features)
		})
	}
}
