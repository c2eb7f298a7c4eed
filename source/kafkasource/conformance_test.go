package kafkasource_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/kafkasource"
	"github.com/fhirsync/fhirsync/source/sourcetest"
)

// harness publishes into a fresh topic of the shared kfake cluster and opens
// Sources in one consumer group on it; payloads go round-robin over the
// topic's partitions.
type harness struct {
	k    *kafka
	next int
}

func (h *harness) Publish(_ context.Context, t *testing.T, payloads []string) {
	t.Helper()
	recs := make([]*kgo.Record, len(payloads))
	for i, p := range payloads {
		recs[i] = &kgo.Record{Partition: int32(h.next % int(h.k.parts)), Value: []byte(p)}
		h.next++
	}
	h.k.produceRecords(t, recs...)
}

func (h *harness) Open(_ context.Context, t *testing.T) source.Source {
	t.Helper()
	s, err := kafkasource.New(h.k.opts(), nil) // default options: periodic commits every 5 s, and on Close
	require.NoError(t, err)
	return s
}

func (h *harness) Payload(_ *testing.T, m *source.Message) string { return string(m.Body) }

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partitions int32
		f          sourcetest.Features
	}{
		{"one partition", 1, sourcetest.Features{Ordered: true, NackRedelivers: true}},
		{"three partitions", 3, sourcetest.Features{NackRedelivers: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
				return &harness{k: newKafka(t, sharedCluster(t), tc.partitions)}
			}, tc.f)
		})
	}
}
