package memsource_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/memsource"
	"github.com/fhirsync/fhirsync/source/sourcetest"
)

type harness struct {
	b    *memsource.Broker
	opts *memsource.Options
}

func (h *harness) Publish(_ context.Context, _ *testing.T, payloads []string) {
	for _, p := range payloads {
		h.b.Publish([]byte(p))
	}
}

func (h *harness) Open(_ context.Context, _ *testing.T) source.Source {
	return h.b.Open("sourcetest", h.opts)
}

func (h *harness) Payload(_ *testing.T, m *source.Message) string { return string(m.Body) }

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts memsource.Options
	}{
		{"Unbounded", memsource.Options{}},
		{"Finite", memsource.Options{Finite: true}},
		{"Batch1", memsource.Options{MaxBatch: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sourcetest.Run(t, func(*testing.T) sourcetest.Harness {
				return &harness{b: memsource.NewBroker(), opts: &tc.opts}
			}, sourcetest.Features{Finite: tc.opts.Finite, Ordered: true, NackRedelivers: true})
		})
	}
}

func readN(t *testing.T, src *memsource.Source, n int) []*source.Message {
	t.Helper()
	var ms []*source.Message
	for len(ms) < n {
		got, err := src.Read(context.Background())
		require.NoError(t, err)
		ms = append(ms, got...)
	}
	require.Len(t, ms, n)
	return ms
}

func TestCheckpointIsContiguous(t *testing.T) {
	for _, tc := range []struct {
		name          string
		ack           []int // indexes of the 5 delivered messages to ack, in order
		wantCommitted int
		wantAgain     []string // IDs delivered after a restart
	}{
		{"none", nil, 0, []string{"s@0", "s@1", "s@2", "s@3", "s@4"}},
		{"all in order", []int{0, 1, 2, 3, 4}, 5, nil},
		{"all reversed", []int{4, 3, 2, 1, 0}, 5, nil},
		{"gap at 0", []int{4, 3, 2, 1}, 0, []string{"s@0", "s@1", "s@2", "s@3", "s@4"}},
		{"gap at 2", []int{0, 1, 3, 4}, 2, []string{"s@2", "s@3", "s@4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := memsource.NewBroker()
			for i := 0; i < 5; i++ {
				b.Publish([]byte{byte('a' + i)})
			}
			src := b.Open("s", nil)
			ms := readN(t, src, 5)
			for _, i := range tc.ack {
				require.NoError(t, ms[i].Ack(context.Background()))
			}
			assert.Equal(t, tc.wantCommitted, b.Committed("s"))
			require.NoError(t, src.Close())

			src = b.Open("s", &memsource.Options{Finite: true})
			defer src.Close()
			var again []string
			for {
				ms, err := src.Read(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				for _, m := range ms {
					again = append(again, m.ID)
					require.NoError(t, m.Ack(context.Background()))
				}
			}
			assert.Equal(t, tc.wantAgain, again)
			assert.Equal(t, 5, b.Committed("s"))
		})
	}
}

func TestSharedSubscription(t *testing.T) {
	ctx := context.Background()
	b := memsource.NewBroker()
	b.Publish([]byte("a"), []byte("b"), []byte("c"))
	one := b.Open("g", &memsource.Options{MaxBatch: 2})
	two := b.Open("g", nil)
	other := b.Open("other", nil)
	defer other.Close()
	defer two.Close()

	fromOne := readN(t, one, 2)
	fromTwo := readN(t, two, 1)
	assert.Equal(t, "g@2", fromTwo[0].ID, "a shared subscription delivers each message to one Source")
	assert.Len(t, readN(t, other, 3), 3, "every subscription sees every message")

	require.NoError(t, fromOne[1].Ack(ctx))
	require.NoError(t, one.Close())
	// one's unsettled g@0 goes to two; acking a message of a closed Source fails.
	assert.ErrorIs(t, fromOne[0].Ack(ctx), source.ErrClosed)
	again := readN(t, two, 1)
	assert.Equal(t, "g@0", again[0].ID)
	var d *memsource.Delivery
	require.True(t, again[0].As(&d))
	assert.Equal(t, memsource.Delivery{Subscription: "g", Position: 0, Attempt: 2}, *d)

	require.NoError(t, again[0].Ack(ctx))
	assert.Equal(t, 2, b.Committed("g"))
	require.NoError(t, fromTwo[0].Ack(ctx))
	assert.Equal(t, 3, b.Committed("g"))
}

func TestCloseWakesRead(t *testing.T) {
	src := memsource.NewBroker().Open("s", nil)
	done := make(chan error, 1)
	go func() {
		_, err := src.Read(context.Background())
		done <- err
	}()
	require.NoError(t, src.Close())
	assert.ErrorIs(t, <-done, source.ErrClosed)
}
