package jetstreamsource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/jetstreamsource"
)

func TestNewRefuses(t *testing.T) {
	st := newStream(t)
	for _, tc := range []struct {
		name        string
		cfg         jetstream.ConsumerConfig
		opts        *jetstreamsource.Options
		unsupported bool   // errors.Is(err, ErrUnsupportedConsumer)
		want        string // in the error text
	}{
		{"AckNone", jetstream.ConsumerConfig{Durable: "acknone", AckPolicy: jetstream.AckNonePolicy}, nil, true, "AckPolicy none"},
		{"AckAll", jetstream.ConsumerConfig{Durable: "ackall", AckPolicy: jetstream.AckAllPolicy}, nil, true, "AckPolicy all"},
		{"Ephemeral", jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy}, nil, true, "not durable"},
		{"KeepAliveNotBelowAckWait", jetstream.ConsumerConfig{Durable: "keepalive", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second}, &jetstreamsource.Options{KeepAlive: time.Second}, false, "KeepAlive"},
		{"NegativeBatchSize", jetstream.ConsumerConfig{Durable: "negative", AckPolicy: jetstream.AckExplicitPolicy}, &jetstreamsource.Options{BatchSize: -1}, false, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := jetstreamsource.New(st.consumerWith(t, tc.cfg), tc.opts)
			if err == nil {
				_ = src.Close()
				t.Fatal("New accepted the consumer")
			}
			if got := errors.Is(err, jetstreamsource.ErrUnsupportedConsumer); got != tc.unsupported {
				t.Errorf("errors.Is(%v, ErrUnsupportedConsumer) = %v, want %v", err, got, tc.unsupported)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error about %q", err, tc.want)
			}
		})
	}
	if _, err := jetstreamsource.New(nil, nil); err == nil {
		t.Error("New(nil) returned no error")
	}
}

// TestPushConsumer: the server refuses pull requests on a push consumer for
// good; Read must say so instead of waiting forever.
func TestPushConsumer(t *testing.T) {
	st := newStream(t)
	legacy, err := st.nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := legacy.AddConsumer(st.name, &nats.ConsumerConfig{Durable: "push", DeliverSubject: st.subject + "-push", AckPolicy: nats.AckExplicitPolicy}); err != nil {
		t.Fatalf("add push consumer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := st.js.Consumer(ctx, st.name, "push")
	if err != nil {
		t.Fatal(err)
	}
	src := open(t, cons, nil)
	st.publish(t, "one")
	ms, err := src.Read(ctx)
	if err == nil || ctx.Err() != nil || len(ms) > 0 {
		t.Fatalf("Read on a push consumer = %d messages, %v; want the server's refusal before the deadline", len(ms), err)
	}
	if !strings.Contains(err.Error(), "push based") {
		t.Errorf("Read: %v, want the server's refusal (push based)", err)
	}
	if _, again := src.Read(ctx); again == nil || again.Error() != err.Error() {
		t.Errorf("second Read = %v, want the same error", again)
	}
}

// TestIDAndMetadata: the ID and Metadata are positions; subject and headers
// only when declared PHI-free; As gives the jetstream.Msg with everything.
func TestIDAndMetadata(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  *jetstreamsource.Options
		extra func(st *stream) map[string]string // beyond the positions
	}{
		{"Defaults", nil, func(*stream) map[string]string { return nil }},
		{"PHIFreeSubjectAndHeader", &jetstreamsource.Options{PHIFreeSubject: true, PHIFreeHeaders: []string{"Nats-Msg-Id", "Absent"}},
			func(st *stream) map[string]string {
				return map[string]string{"subject": st.subject + ".claims", "header:Nats-Msg-Id": "dedup-1"}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStream(t)
			st.publish(t, "first")
			m := nats.NewMsg(st.subject + ".claims")
			m.Data = []byte("second")
			m.Header.Set("Nats-Msg-Id", "dedup-1")
			m.Header.Set("X-Member", "member-"+canary)
			st.publishMsg(t, m)
			src := open(t, st.consumer(t, 30*time.Second), tc.opts)
			got := readN(t, src, 2)
			msg := got[1]
			if want := st.name + "/fhirsync@2"; msg.ID != want {
				t.Errorf("ID = %q, want %q", msg.ID, want)
			}
			want := map[string]string{"stream": st.name, "consumer": "fhirsync", "stream_seq": "2", "num_delivered": "1"}
			maps.Copy(want, tc.extra(st))
			if !maps.Equal(msg.Metadata, want) {
				t.Errorf("Metadata = %v, want %v", msg.Metadata, want)
			}
			if string(msg.Body) != "second" {
				t.Errorf("Body = %q", msg.Body)
			}
			var jm jetstream.Msg
			if !msg.As(&jm) {
				t.Fatal("As(*jetstream.Msg) = false")
			}
			if jm.Subject() != st.subject+".claims" || jm.Headers().Get("X-Member") != "member-"+canary {
				t.Errorf("As: subject %q, headers %v", jm.Subject(), jm.Headers())
			}
			var other *nats.Msg
			if msg.As(&other) {
				t.Error("As(**nats.Msg) = true, want false")
			}
			for _, m := range got {
				if err := m.Ack(context.Background()); err != nil {
					t.Errorf("Ack(%s): %v", m.ID, err)
				}
			}
		})
	}
}

// TestCanary: a canary in the body, a subject token and a header never
// reaches an ID, Metadata, the slog output or an error, by default.
func TestCanary(t *testing.T) {
	st := newStream(t)
	m := nats.NewMsg(st.subject + ".member." + canary)
	m.Data = []byte(`{"name":"` + canary + `"}`)
	m.Header.Set("X-Member", canary)
	st.publishMsg(t, m)
	st.publish(t, "plain "+canary)
	st.consumer(t, 30*time.Second)
	// The Source gets a connection of its own, closed below.
	nc, js := connect(t)
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	cons, err := js.Consumer(cctx, st.name, "fhirsync")
	if err != nil {
		t.Fatal(err)
	}
	src := open(t, cons, &jetstreamsource.Options{KeepAlive: 10 * time.Millisecond})
	got := readN(t, src, 2)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	var texts []string
	for _, msg := range got {
		logger.Info("read", "message", msg)
		texts = append(texts, msg.ID, fmt.Sprint(msg.Metadata))
	}
	time.Sleep(30 * time.Millisecond) // some keep-alives go out for the held messages
	if err := got[0].Nack(context.Background(), errors.New("later")); err != nil {
		t.Errorf("Nack: %v", safe(err))
	}
	// Errors: settling and reading once the connection is gone.
	nc.Close()
	if err := got[1].Ack(context.Background()); err == nil {
		t.Error("Ack on a closed connection returned nil")
	} else {
		texts = append(texts, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for { // what arrived before the connection closed (the nacked one), then the error
		ms, err := src.Read(ctx)
		for _, msg := range ms {
			logger.Info("read", "message", msg)
			texts = append(texts, msg.ID, fmt.Sprint(msg.Metadata))
		}
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Read on a closed connection = %v, want an error before the deadline", safe(err))
			}
			texts = append(texts, err.Error())
			break
		}
	}
	texts = append(texts, logs.String())
	for _, s := range texts {
		if strings.Contains(s, canary) {
			t.Errorf("the canary leaked: %s", strings.ReplaceAll(s, canary, "<canary>"))
		}
	}
}

// TestNack: a nacked message comes again to the same Source, with the same
// ID and its delivery count up; with NakDelay, not before the delay.
func TestNack(t *testing.T) {
	for _, delay := range []time.Duration{0, 300 * time.Millisecond} {
		t.Run(fmt.Sprintf("NakDelay=%v", delay), func(t *testing.T) {
			st := newStream(t)
			st.publish(t, "a")
			src := open(t, st.consumer(t, 30*time.Second), &jetstreamsource.Options{NakDelay: delay})
			first := readN(t, src, 1)[0]
			nacked := time.Now()
			if err := first.Nack(context.Background(), errors.New("sink down")); err != nil {
				t.Fatal(err)
			}
			again := readN(t, src, 1)[0]
			if waited := time.Since(nacked); waited < delay {
				t.Errorf("redelivered after %v, before NakDelay %v", waited, delay)
			}
			if again.ID != first.ID || again.Metadata["num_delivered"] != "2" {
				t.Errorf("redelivery: ID %q (first %q), num_delivered %q, want the same ID and 2", again.ID, first.ID, again.Metadata["num_delivered"])
			}
			if err := again.Ack(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAcksReachServer: a confirmed Ack has been recorded by the server when
// it returns; unconfirmed ones get there too.
func TestAcksReachServer(t *testing.T) {
	const n = 20
	for _, unconfirmed := range []bool{false, true} {
		t.Run(fmt.Sprintf("UnconfirmedAcks=%v", unconfirmed), func(t *testing.T) {
			st := newStream(t)
			for i := 0; i < n; i++ {
				st.publish(t, fmt.Sprint("m", i))
			}
			cons := st.consumer(t, 30*time.Second)
			src := open(t, cons, &jetstreamsource.Options{UnconfirmedAcks: unconfirmed, BatchSize: 7})
			got := readN(t, src, n)
			for i := len(got) - 1; i >= 0; i-- { // newest first: acks are per message
				if err := got[i].Ack(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for {
				info, err := cons.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if info.AckFloor.Stream == n && info.NumAckPending == 0 {
					break
				}
				if !unconfirmed {
					t.Fatalf("after confirmed acks: ack floor %d, %d pending; want %d, 0", info.AckFloor.Stream, info.NumAckPending, n)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestClosePulledAhead: what the Source pulled ahead and Read never
// returned is not lost at Close (Close naks it; on nats-server 2.9 a nak
// that meets the closed Source's pull request, still waiting on the server,
// may instead wait for AckWait and deliver another message twice); what
// Read returned can still be acked after Close.
func TestClosePulledAhead(t *testing.T) {
	const n = 12
	st := newStream(t)
	for i := 0; i < n; i++ {
		st.publish(t, fmt.Sprint("m", i))
	}
	cons := st.consumer(t, 2*time.Second)
	src := open(t, cons, &jetstreamsource.Options{BatchSize: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	held, err := src.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	heldIDs := map[string]bool{}
	for _, m := range held {
		heldIDs[m.ID] = true
	}
	time.Sleep(50 * time.Millisecond) // let the pull-ahead fill
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	for _, m := range held {
		if err := m.Ack(ctx); err != nil {
			t.Errorf("Ack after Close: %v", err)
		}
	}
	src2 := open(t, st.consumer(t, 2*time.Second), nil)
	seen := map[string]bool{}
	for len(seen) < n-len(held) {
		ms, err := src2.Read(ctx)
		if err != nil {
			t.Fatalf("Read: %v, after %d of the %d messages not returned before Close", err, len(seen), n-len(held))
		}
		for _, m := range ms {
			if heldIDs[m.ID] {
				t.Errorf("%s, acked after Close, came again", m.ID)
			}
			seen[m.ID] = true
			_ = m.Ack(ctx) // a second copy's ack may be refused: the first one counted
		}
	}
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending == 0 && info.AckFloor.Stream == n {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d messages left unacked, ack floor %d", info.NumAckPending, info.AckFloor.Stream)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKeepAlive: a message held past AckWait is delivered again, unless
// KeepAlive tells the server it is in progress.
func TestKeepAlive(t *testing.T) {
	const ackWait = time.Second
	for _, tc := range []struct {
		keepAlive   time.Duration
		redelivered bool
	}{
		{0, true},
		{200 * time.Millisecond, false},
	} {
		t.Run(fmt.Sprintf("KeepAlive=%v", tc.keepAlive), func(t *testing.T) {
			t.Parallel()
			st := newStream(t)
			st.publish(t, "slow")
			src := open(t, st.consumer(t, ackWait), &jetstreamsource.Options{KeepAlive: tc.keepAlive})
			first := readN(t, src, 1)[0]
			ctx, cancel := context.WithTimeout(context.Background(), 3*ackWait)
			defer cancel()
			ms, err := src.Read(ctx) // holds first meanwhile
			if redelivered := err == nil; redelivered != tc.redelivered {
				t.Fatalf("holding a message for %v with AckWait %v: Read = %d messages, %v; want redelivered=%v", 3*ackWait, ackWait, len(ms), err, tc.redelivered)
			}
			if tc.redelivered {
				if ms[0].ID != first.ID || ms[0].Metadata["num_delivered"] != "2" {
					t.Errorf("redelivered %s (num_delivered %s), want %s again", ms[0].ID, ms[0].Metadata["num_delivered"], first.ID)
				}
			} else if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Read = %v, want context.DeadlineExceeded", err)
			}
			if err := first.Ack(context.Background()); err != nil {
				t.Errorf("Ack of the held message: %v", err)
			}
		})
	}
}

// TestConsumerDeleted: Read returns an error, not a hang, once the consumer
// is deleted under it.
func TestConsumerDeleted(t *testing.T) {
	st := newStream(t)
	src := open(t, st.consumer(t, 30*time.Second), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := src.Read(ctx)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := st.js.DeleteConsumer(ctx, st.name, "fhirsync"); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read while the consumer is deleted = %v, want an error before the deadline", err)
	}
	if !errors.Is(err, jetstream.ErrConsumerDeleted) {
		t.Errorf("Read = %v, want errors.Is(err, jetstream.ErrConsumerDeleted)", err)
	}
	if _, err := src.Read(ctx); !errors.Is(err, jetstream.ErrConsumerDeleted) {
		t.Errorf("second Read = %v, want the same error", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if _, err := src.Read(ctx); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Read after Close = %v, want source.ErrClosed", err)
	}
}

// TestKeepAlivePulledAhead: KeepAlive also covers the messages pulled ahead
// and waiting for Read (the engine is not reading: its writes are stalled,
// say). Held past AckWait, they are not delivered again meanwhile.
func TestKeepAlivePulledAhead(t *testing.T) {
	const ackWait = time.Second
	st := newStream(t)
	st.publish(t, "a")
	src := open(t, st.consumer(t, ackWait), &jetstreamsource.Options{BatchSize: 16, KeepAlive: 200 * time.Millisecond})
	got := readN(t, src, 1)
	st.publish(t, "b", "c", "d", "e") // pulled ahead: Read is not called
	time.Sleep(3 * ackWait)
	got = append(got, readN(t, src, 4)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*ackWait)
	defer cancel()
	for {
		ms, err := src.Read(ctx)
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Read: %v", err)
			}
			break
		}
		got = append(got, ms...)
	}
	seen := map[string]bool{}
	for _, m := range got {
		if seen[m.ID] || m.Metadata["num_delivered"] != "1" {
			t.Errorf("%s delivered again (num_delivered %s) while pulled ahead", m.ID, m.Metadata["num_delivered"])
		}
		seen[m.ID] = true
		if err := m.Ack(context.Background()); err != nil {
			t.Errorf("Ack %s: %v", m.ID, err)
		}
	}
	if len(seen) != 5 {
		t.Errorf("got %d distinct messages, want 5", len(seen))
	}
}
