package filesource_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/filesource"
	"github.com/fhirsync/fhirsync/source/sourcetest"
)

// harness publishes each payload as one file of a temporary directory.
type harness struct {
	dir  string
	n    int
	opts filesource.Options
}

func (h *harness) Publish(_ context.Context, t *testing.T, payloads []string) {
	for _, p := range payloads {
		name := filepath.Join(h.dir, fmt.Sprintf("%06d.x12", h.n))
		h.n++
		if h.opts.Watch {
			// Written in two steps, as a slow writer would: a Watch source
			// must not deliver the first half.
			f, err := os.Create(name)
			require.NoError(t, err)
			_, err = f.WriteString(p[:len(p)/2])
			require.NoError(t, err)
			require.NoError(t, f.Sync())
			_, err = f.WriteString(p[len(p)/2:])
			require.NoError(t, err)
			require.NoError(t, f.Close())
			continue
		}
		require.NoError(t, os.WriteFile(name, []byte(p), 0o644))
	}
}

func (h *harness) Open(_ context.Context, t *testing.T) source.Source {
	src, err := filesource.Open(h.dir, &h.opts)
	require.NoError(t, err)
	return src
}

func (h *harness) Payload(t *testing.T, m *source.Message) string {
	if h.opts.Stream != m.Streamed() {
		t.Errorf("message %s: Streamed() = %v with Options.Stream %v", m.ID, m.Streamed(), h.opts.Stream)
	}
	b, err := m.ReadBody()
	require.NoError(t, err)
	return string(b)
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts filesource.Options
	}{
		{"Finite", filesource.Options{}},
		{"FiniteBatch5", filesource.Options{MaxBatch: 5}},
		{"Watch", filesource.Options{Watch: true, PollInterval: 5 * time.Millisecond, SettleTime: 20 * time.Millisecond, MaxBatch: 4}},
		{"FiniteStream", filesource.Options{Stream: true, MaxBatch: 3}},
		{"WatchStream", filesource.Options{Stream: true, Watch: true, PollInterval: 5 * time.Millisecond, SettleTime: 20 * time.Millisecond, MaxBatch: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
				return &harness{dir: t.TempDir(), opts: tc.opts}
			}, sourcetest.Features{Finite: !tc.opts.Watch, Ordered: true, NackRedelivers: true})
		})
	}
}
