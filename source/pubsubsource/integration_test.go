package pubsubsource_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	amqp "github.com/rabbitmq/amqp091-go"
	"gocloud.dev/pubsub"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/pubsubsource"
)

// TestRabbitMQDelivery runs the at-least-once cycle against the real broker:
// ordered first delivery, out-of-order acks, a nack redelivered by the same
// Source, unacked messages redelivered after a restart, and acks that reach
// the broker (the queue is empty at the end).
func TestRabbitMQDelivery(t *testing.T) {
	ctx := readCtx(t)
	q := newRabbitQueue(t)
	want := payloads("claim", 6)
	var pubs []amqp.Publishing
	for i, p := range want {
		pubs = append(pubs, amqp.Publishing{
			Body: []byte(p),
			// Sender-set fields: the MessageId is Go CDK's LoggableID.
			MessageId: fmt.Sprintf("%s-%d", canary, i),
			Headers:   amqp.Table{"kind": "claim", "member": canary},
		})
	}
	q.publish(ctx, t, pubs...)

	src := q.open(t, &pubsubsource.Options{Name: "rabbit", BatchSize: 4, MetadataKeys: []string{"kind"}})
	got := readN(ctx, t, src, len(want), 4)
	if g := payloadsOf(got); !slices.Equal(g, want) {
		t.Fatalf("first delivery order %v, want %v", g, want)
	}
	for _, m := range got {
		if !strings.HasPrefix(m.ID, "rabbit#") {
			t.Errorf("ID %q", m.ID)
		}
		if fmt.Sprint(m.Metadata) != "map[kind:claim]" {
			t.Errorf("Metadata %v", m.Metadata)
		}
		checkNoCanary(t, m)
		var d amqp.Delivery
		if !m.As(&d) || string(d.Body) != string(m.Body) {
			t.Errorf("As(*amqp.Delivery) did not expose the delivery")
		}
	}

	// Acks out of order; message 1 nacked; message 3 left unsettled.
	for _, i := range []int{5, 0, 4, 2} {
		if err := got[i].Ack(ctx); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	if err := got[1].Nack(ctx, errors.New("sink unavailable")); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	again := readN(ctx, t, src, 1, 4)
	var d amqp.Delivery
	if string(again[0].Body) != want[1] || !again[0].As(&d) || !d.Redelivered {
		t.Fatalf("after Nack read %q (redelivered %v), want %q redelivered", again[0].Body, d.Redelivered, want[1])
	}
	if err := src.Close(); err != nil { // message 1 (again) and 3 unsettled
		t.Fatalf("Close: %v", err)
	}
	if err := got[3].Ack(ctx); !errors.Is(err, source.ErrClosed) {
		t.Fatalf("Ack after Close = %v, want ErrClosed", err)
	}

	restarted := q.open(t, nil)
	rest := readN(ctx, t, restarted, 2, pubsubsource.DefaultBatchSize)
	if g := payloadsOf(rest); !slices.Equal(sorted(g), sorted([]string{want[1], want[3]})) {
		t.Fatalf("after restart read %v, want %v and %v", g, want[1], want[3])
	}
	ackAll(t, rest)
	if err := restarted.Close(); err != nil { // flushes the acks
		t.Fatalf("Close: %v", err)
	}

	ch, err := q.admin.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	qs, err := ch.QueueDeclarePassive(q.queue, false, false, false, false, nil)
	if err != nil {
		t.Fatalf("inspect queue: %v", err)
	}
	if qs.Messages != 0 {
		t.Fatalf("%d messages left in the queue after every one was acked", qs.Messages)
	}
}

// TestNATSCore reads core NATS through natspubsub (at-most-once: no JetStream
// in Go CDK's natspubsub v0.44): publish order, declared metadata only, the
// native *nats.Msg through As, and nacks kept and redelivered by the Source
// itself because the driver cannot nack.
func TestNATSCore(t *testing.T) {
	ctx := readCtx(t)
	s := newNATSSubject(t)
	src := newSource(t, s.sub, &pubsubsource.Options{Name: "nats", BatchSize: 8, MetadataKeys: []string{"kind"}})
	want := payloads("claim", 20)
	s.publish(t, map[string]string{"kind": "claim", "member": canary}, want...)

	got := readN(ctx, t, src, len(want), 8)
	if g := payloadsOf(got); !slices.Equal(g, want) {
		t.Fatalf("delivery order %v, want %v", g, want)
	}
	for _, m := range got {
		if !strings.HasPrefix(m.ID, "nats#") {
			t.Errorf("ID %q", m.ID)
		}
		if fmt.Sprint(m.Metadata) != "map[kind:claim]" {
			t.Errorf("Metadata %v", m.Metadata)
		}
		checkNoCanary(t, m)
		var nm *nats.Msg
		var pm *pubsub.Message
		if !m.As(&nm) || string(nm.Data) != string(m.Body) || !m.As(&pm) || pm.Nackable() {
			t.Errorf("As did not expose a non-nackable *pubsub.Message and its *nats.Msg")
		}
	}

	nacked := map[string]string{} // payload → ID
	for i, m := range got {
		if i%7 == 3 {
			nacked[string(m.Body)] = m.ID
			if err := m.Nack(ctx, errors.New("sink unavailable")); err != nil {
				t.Fatalf("Nack: %v", err)
			}
			continue
		}
		if err := m.Ack(ctx); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	again := readN(ctx, t, src, len(nacked), 8)
	for _, m := range again {
		if id, ok := nacked[string(m.Body)]; !ok || id != m.ID {
			t.Errorf("redelivered %s (%q), nacked were %v", m.ID, m.Body, nacked)
		}
	}
	ackAll(t, again)
}

func payloadsOf(ms []*source.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Body)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
