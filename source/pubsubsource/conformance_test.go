package pubsubsource_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/pubsubsource"
	"github.com/fhirsync/fhirsync/source/sourcetest"
)

// rabbitHarness runs the conformance suite on a fresh RabbitMQ queue. Each
// Source owns its subscription and AMQP connection (see rabbitQueue.open), so
// a reopen gets back whatever the closed one left unacked.
type rabbitHarness struct{ q *rabbitQueue }

func (h *rabbitHarness) Publish(ctx context.Context, t *testing.T, payloads []string) {
	msgs := make([]amqp.Publishing, len(payloads))
	for i, p := range payloads {
		msgs[i] = amqp.Publishing{Body: []byte(p)}
	}
	h.q.publish(ctx, t, msgs...)
}

func (h *rabbitHarness) Open(_ context.Context, t *testing.T) source.Source { return h.q.open(t, nil) }

func (h *rabbitHarness) Payload(_ *testing.T, m *source.Message) string { return string(m.Body) }

// TestConformanceRabbitMQ: RabbitMQ through rabbitpubsub is at-least-once,
// delivers a queue in order to its one consumer, and requeues a nack at once.
func TestConformanceRabbitMQ(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		return &rabbitHarness{q: newRabbitQueue(t)}
	}, sourcetest.Features{Ordered: true, NackRedelivers: true})
}

// natsHarness runs the conformance suite on a fresh core NATS subject. Core
// NATS only delivers what is published while a subscription exists, so the
// harness opens one Go CDK subscription up front and every Source reads it
// without owning it.
type natsHarness struct{ s *natsSubject }

func (h *natsHarness) Publish(_ context.Context, t *testing.T, payloads []string) {
	h.s.publish(t, nil, payloads...)
}

func (h *natsHarness) Open(_ context.Context, t *testing.T) source.Source {
	src, err := pubsubsource.New(h.s.sub, &pubsubsource.Options{Name: "nats"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return src
}

func (h *natsHarness) Payload(_ *testing.T, m *source.Message) string { return string(m.Body) }

// natsConformance lists the subtests core NATS can pass. It leaves out
// OutOfOrderAck and Close: both expect a message left unacked by a closed
// Source to come back after a reopen, and natspubsub v0.44 (core NATS, no
// JetStream) is at-most-once, so nothing ever comes back; sourcetest.Features
// has no way to say so. A subtest added to sourcetest later is not run here
// until it is added to this list.
var natsConformance = []string{
	"ReadAll", "AckedNotRedelivered", "Nack", "SettleOnce", "ConcurrentAcks",
	"CancelledContext", "DeadlineOnEmpty",
}

// TestConformanceNATSCore runs the applicable subtests (natsConformance) of
// sourcetest on core NATS: delivery in publish order, and nacks redelivered
// by the same Source (which keeps them itself, the driver cannot nack). A
// test cannot pick subtests of sourcetest.Run in-process, so it runs the
// suite in a child process of this test binary with -test.run selecting them,
// and checks that each ran and passed.
func TestConformanceNATSCore(t *testing.T) {
	if os.Getenv("PUBSUBSOURCE_CONFORMANCE_CHILD") == "1" {
		sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
			return &natsHarness{s: newNATSSubject(t)}
		}, sourcetest.Features{Ordered: true, NackRedelivers: true})
		return
	}
	dialNATS(t) // skip, or fail under FHIRSYNC_INTEGRATION=1, when NATS is down
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pattern := "^" + t.Name() + "$/^(" + strings.Join(natsConformance, "|") + ")$"
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", pattern, "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "PUBSUBSOURCE_CONFORMANCE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("conformance child: %v\n%s", err, out)
	}
	for _, name := range natsConformance {
		if !strings.Contains(string(out), "--- PASS: "+t.Name()+"/"+name+" ") {
			t.Errorf("subtest %s did not pass in the child:\n%s", name, out)
		}
	}
}
