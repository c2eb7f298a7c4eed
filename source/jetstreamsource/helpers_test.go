package jetstreamsource_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/jetstreamsource"
)

// natsURL is the NATS server with JetStream that scripts/test starts
// (nats-server -js).
const natsURL = "nats://127.0.0.1:4222"

// canary stands for PHI in a body, a subject token or a header.
const canary = "ZZCANARYZZ"

// unavailable skips a test whose server is unreachable, or fails it under
// FHIRSYNC_INTEGRATION=1.
func unavailable(t testing.TB, err error) {
	t.Helper()
	const what = "NATS JetStream at " + natsURL
	if os.Getenv("FHIRSYNC_INTEGRATION") == "1" {
		t.Fatalf("%s unreachable: %v", what, err)
	}
	t.Skipf("%s unreachable (%v): start nats-server -js (./scripts/test does) or set FHIRSYNC_INTEGRATION=1 to fail instead of skipping", what, err)
}

// connect returns a connection of its own, closed when the test ends.
func connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Timeout(2*time.Second), nats.Name("fhirsync-jetstreamsource-test"))
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		unavailable(t, err) // the server runs without -js
	}
	return nc, js
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9]+`)

// stream is a per-test stream with one subject, deleted when the test ends.
type stream struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	name    string // stream name
	subject string // its one subject
}

func newStream(t testing.TB) *stream {
	t.Helper()
	nc, js := connect(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	tag := hex.EncodeToString(b)
	name := strings.Trim(unsafeName.ReplaceAllString(t.Name(), "_"), "_")
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	st := &stream{nc: nc, js: js, name: "FHIRSYNC_JSS_" + name + "_" + tag, subject: "fhirsync.jss." + tag}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: st.name, Subjects: []string{st.subject, st.subject + ".>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, st.name); err != nil {
			t.Errorf("delete stream %s: %v", st.name, err)
		}
	})
	return st
}

// consumer creates (or updates) the durable pull consumer "fhirsync" on the
// stream, acks explicit, with the given AckWait.
func (st *stream) consumer(t testing.TB, ackWait time.Duration) jetstream.Consumer {
	t.Helper()
	return st.consumerWith(t, jetstream.ConsumerConfig{Durable: "fhirsync", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait})
}

func (st *stream) consumerWith(t testing.TB, cfg jetstream.ConsumerConfig) jetstream.Consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := st.js.CreateOrUpdateConsumer(ctx, st.name, cfg)
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	return cons
}

// publish publishes the bodies on the stream's subject and waits for the
// stream to store each.
func (st *stream) publish(t testing.TB, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		st.publishMsg(t, &nats.Msg{Subject: st.subject, Data: []byte(b)})
	}
}

func (st *stream) publishMsg(t testing.TB, m *nats.Msg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := st.js.PublishMsg(ctx, m); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// open returns a Source on cons, closed when the test ends.
func open(t testing.TB, cons jetstream.Consumer, opts *jetstreamsource.Options) *jetstreamsource.Source {
	t.Helper()
	src, err := jetstreamsource.New(cons, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// readN reads until n messages arrived, within 10 s.
func readN(t testing.TB, src source.Source, n int) []*source.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []*source.Message
	for len(got) < n {
		ms, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("Read after %d of %d messages: %v", len(got), n, safe(err))
		}
		got = append(got, ms...)
	}
	return got
}

// safe is err's text without the canary, for failure messages.
func safe(err error) string {
	if err == nil {
		return "<nil>"
	}
	return strings.ReplaceAll(err.Error(), canary, "<canary>")
}
