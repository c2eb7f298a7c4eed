package jetstreamsource_test

import (
	"context"
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/jetstreamsource"
	"github.com/fhirsync/fhirsync/source/sourcetest"
)

// conformanceAckWait is short so that the subtests that close a Source with
// messages unacked (OutOfOrderAck, Close) see them again soon after the
// reopen: JetStream redelivers an unacked message only after AckWait.
const conformanceAckWait = time.Second

// harness is one stream and its durable consumer; each Open is a new Source
// on the same durable consumer, as a restarted service would make.
type harness struct {
	st   *stream
	opts *jetstreamsource.Options
}

func (h *harness) Publish(_ context.Context, t *testing.T, payloads []string) {
	t.Helper()
	h.st.publish(t, payloads...)
}

func (h *harness) Open(_ context.Context, t *testing.T) source.Source {
	t.Helper()
	src, err := jetstreamsource.New(h.st.consumer(t, conformanceAckWait), h.opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return src
}

func (h *harness) Payload(_ *testing.T, m *source.Message) string { return string(m.Body) }

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *jetstreamsource.Options
	}{
		{"Defaults", nil},
		{"UnconfirmedAcks/BatchSize=3/Linger", &jetstreamsource.Options{UnconfirmedAcks: true, BatchSize: 3, Linger: 5 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
				return &harness{st: newStream(t), opts: tc.opts}
			}, sourcetest.Features{Ordered: true, NackRedelivers: true})
		})
	}
}
