package pubsubsource_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	amqp "github.com/rabbitmq/amqp091-go"
	"gocloud.dev/pubsub"
	"gocloud.dev/pubsub/natspubsub"
	"gocloud.dev/pubsub/rabbitpubsub"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/pubsubsource"
)

// The brokers the integration tests use: scripts/test starts both.
const (
	rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"
	natsURL   = "nats://127.0.0.1:4222"
)

// unavailable skips a test whose broker is unreachable, or fails it under
// FHIRSYNC_INTEGRATION=1.
func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("FHIRSYNC_INTEGRATION") == "1" {
		t.Fatalf("%s unreachable: %v", what, err)
	}
	t.Skipf("%s unreachable (%v): start it (./scripts/test does) or set FHIRSYNC_INTEGRATION=1 to fail instead of skipping", what, err)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9]+`)

// uniqueName returns a per-test name for a queue, exchange or subject, so
// reruns and parallel packages do not collide.
func uniqueName(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := strings.Trim(unsafeName.ReplaceAllString(t.Name(), "-"), "-")
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	return "fhirsync-pubsubsource-" + name + "-" + hex.EncodeToString(b)
}

func dialRabbit(t testing.TB) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		unavailable(t, "RabbitMQ at 127.0.0.1:5672 (guest/guest)", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// rabbitQueue is a fanout exchange with one queue bound to it, deleted when
// the test ends.
type rabbitQueue struct {
	admin    *amqp.Connection
	pub      *amqp.Channel // in confirm mode
	exchange string
	queue    string
}

func newRabbitQueue(t testing.TB) *rabbitQueue {
	t.Helper()
	admin := dialRabbit(t)
	ch, err := admin.Channel()
	if err != nil {
		t.Fatalf("amqp channel: %v", err)
	}
	name := uniqueName(t)
	q := &rabbitQueue{admin: admin, pub: ch, exchange: name, queue: name}
	if err := ch.ExchangeDeclare(q.exchange, amqp.ExchangeFanout, false, false, false, false, nil); err != nil {
		t.Fatalf("declare exchange: %v", err)
	}
	if _, err := ch.QueueDeclare(q.queue, false, false, false, false, nil); err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	if err := ch.QueueBind(q.queue, "", q.exchange, false, nil); err != nil {
		t.Fatalf("bind queue: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("confirm mode: %v", err)
	}
	t.Cleanup(func() {
		// A fresh channel: the publishing one may have been closed by an error.
		ch, err := admin.Channel()
		if err != nil {
			t.Errorf("cleanup channel: %v", err)
			return
		}
		defer ch.Close()
		if _, err := ch.QueueDelete(q.queue, false, false, false); err != nil {
			t.Errorf("delete queue: %v", err)
		}
		if err := ch.ExchangeDelete(q.exchange, false, false); err != nil {
			t.Errorf("delete exchange: %v", err)
		}
	})
	return q
}

// publish sends the messages and waits for the broker's confirms.
func (q *rabbitQueue) publish(ctx context.Context, t testing.TB, msgs ...amqp.Publishing) {
	t.Helper()
	confirms := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for _, m := range msgs {
		dc, err := q.pub.PublishWithDeferredConfirmWithContext(ctx, q.exchange, "", false, false, m)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		ok, err := dc.WaitContext(ctx)
		if err != nil || !ok {
			t.Fatalf("publish not confirmed: %v, %v", ok, err)
		}
	}
}

// open returns a Source that owns a rabbitpubsub subscription on its own AMQP
// connection, and closes that connection after the Source: Go CDK's
// rabbitpubsub leaves its channel open on Shutdown, and unacked deliveries go
// back to the queue only when the channel (here, the connection) closes.
func (q *rabbitQueue) open(t testing.TB, opts *pubsubsource.Options) source.Source {
	t.Helper()
	conn := dialRabbit(t)
	sub := rabbitpubsub.OpenSubscription(conn, q.queue, nil)
	o := pubsubsource.Options{Name: "rabbit", ShutdownOnClose: true}
	if opts != nil {
		o = *opts
		o.ShutdownOnClose = true
	}
	src, err := pubsubsource.New(sub, &o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := &connClosingSource{Source: src, close: conn.Close}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// connClosingSource closes a connection after its Source.
type connClosingSource struct {
	*pubsubsource.Source
	close func() error
}

func (s *connClosingSource) Close() error {
	err := s.Source.Close()
	if cerr := s.close(); err == nil && cerr != nil && cerr != amqp.ErrClosed {
		err = cerr
	}
	return err
}

func dialNATS(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Timeout(2*time.Second))
	if err != nil {
		unavailable(t, "NATS at 127.0.0.1:4222", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// natsSubject is a unique core NATS subject with a Go CDK subscription opened
// on it (core NATS only delivers what is published after the subscription
// exists). Its nats.Subscription is unsubscribed when the test ends: the
// natspubsub driver does not unsubscribe on Shutdown.
type natsSubject struct {
	nc      *nats.Conn
	subject string
	sub     *pubsub.Subscription
}

func newNATSSubject(t testing.TB) *natsSubject {
	t.Helper()
	nc := dialNATS(t)
	subject := uniqueName(t)
	sub, err := natspubsub.OpenSubscriptionV2(nc, subject, nil)
	if err != nil {
		t.Fatalf("natspubsub subscription: %v", err)
	}
	t.Cleanup(func() {
		var ns *nats.Subscription
		if sub.As(&ns) {
			_ = ns.Unsubscribe()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sub.Shutdown(ctx)
	})
	return &natsSubject{nc: nc, subject: subject, sub: sub}
}

// publish publishes with NATS headers (natspubsub v2 maps them to Go CDK
// metadata) and flushes, so the server has them before it returns.
func (s *natsSubject) publish(t testing.TB, header map[string]string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		m := nats.NewMsg(s.subject)
		m.Data = []byte(b)
		for k, v := range header {
			m.Header.Set(k, v)
		}
		if err := s.nc.PublishMsg(m); err != nil {
			t.Fatalf("nats publish: %v", err)
		}
	}
	if err := s.nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatalf("nats flush: %v", err)
	}
}

func payloads(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	out[n/2] = canary + "-" + out[n/2]
	return out
}
