package pubsubsource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/gcerrors"
	"gocloud.dev/pubsub"
	"gocloud.dev/pubsub/batcher"
	"gocloud.dev/pubsub/driver"
	"gocloud.dev/pubsub/mempubsub"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/pubsubsource"
)

const canary = "ZZCANARYZZ"

// memSub returns a mempubsub topic and a subscription to it (ack deadline
// long enough that nothing is redelivered by the deadline during a test).
func memSub(t *testing.T) (*pubsub.Topic, *pubsub.Subscription) {
	t.Helper()
	topic := mempubsub.NewTopic()
	sub := mempubsub.NewSubscription(topic, time.Minute)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sub.Shutdown(ctx)
		_ = topic.Shutdown(ctx)
	})
	return topic, sub
}

func send(t *testing.T, topic *pubsub.Topic, msgs ...*pubsub.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := topic.Send(context.Background(), m); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
}

func newSource(t *testing.T, sub *pubsub.Subscription, opts *pubsubsource.Options) *pubsubsource.Source {
	t.Helper()
	src, err := pubsubsource.New(sub, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func readCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readN reads until n messages arrived, checking every batch's size.
func readN(ctx context.Context, t *testing.T, src source.Source, n, batchMax int) []*source.Message {
	t.Helper()
	var got []*source.Message
	for len(got) < n {
		batch, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("Read after %d of %d messages: %v", len(got), n, err)
		}
		if len(batch) == 0 || len(batch) > batchMax {
			t.Fatalf("Read returned %d messages, want 1..%d", len(batch), batchMax)
		}
		got = append(got, batch...)
	}
	return got
}

func bodies(ms []*source.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Body))
	}
	sort.Strings(out)
	return out
}

func ackAll(t *testing.T, ms []*source.Message) {
	t.Helper()
	for _, m := range ms {
		if err := m.Ack(context.Background()); err != nil {
			t.Fatalf("Ack %s: %v", m.ID, err)
		}
	}
}

func TestNewRejects(t *testing.T) {
	_, sub := memSub(t)
	for _, tc := range []struct {
		name string
		sub  *pubsub.Subscription
		opts *pubsubsource.Options
	}{
		{"nil subscription", nil, nil},
		{"negative batch size", sub, &pubsubsource.Options{BatchSize: -1}},
		{"negative linger", sub, &pubsubsource.Options{Linger: -time.Second}},
		{"negative shutdown timeout", sub, &pubsubsource.Options{ShutdownTimeout: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if src, err := pubsubsource.New(tc.sub, tc.opts); err == nil {
				_ = src.Close()
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestReadBatchSize(t *testing.T) {
	const n = 25
	for _, tc := range []struct {
		name      string
		batchSize int
		wantMax   int
	}{
		{"one", 1, 1},
		{"seven", 7, 7},
		{"default", 0, pubsubsource.DefaultBatchSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic, sub := memSub(t)
			var want []string
			for i := range n {
				body := fmt.Sprintf("m%02d", i)
				want = append(want, body)
				send(t, topic, &pubsub.Message{Body: []byte(body)})
			}
			src := newSource(t, sub, &pubsubsource.Options{BatchSize: tc.batchSize})
			got := readN(readCtx(t), t, src, n, tc.wantMax)
			ackAll(t, got)
			if g := bodies(got); strings.Join(g, ",") != strings.Join(want, ",") {
				t.Fatalf("bodies = %v, want %v", g, want)
			}
		})
	}
}

func TestIDsAndMetadata(t *testing.T) {
	md := map[string]string{"kind": "claim", "member": canary, "tenant": "t1"}
	for _, tc := range []struct {
		name     string
		opts     pubsubsource.Options
		wantID   func(string) bool
		wantMeta map[string]string
	}{
		{
			name:   "defaults: counter id, no metadata",
			wantID: func(id string) bool { return strings.HasPrefix(id, "pubsub#") },
		},
		{
			name:   "name prefix",
			opts:   pubsubsource.Options{Name: "claims-sub"},
			wantID: func(id string) bool { return strings.HasPrefix(id, "claims-sub#") },
		},
		{
			name:   "loggable id",
			opts:   pubsubsource.Options{UseLoggableID: true},
			wantID: func(id string) bool { return strings.HasPrefix(id, "msg #") }, // mempubsub's
		},
		{
			name:     "declared keys only",
			opts:     pubsubsource.Options{MetadataKeys: []string{"kind", "tenant", "absent"}},
			wantID:   func(id string) bool { return strings.HasPrefix(id, "pubsub#") },
			wantMeta: map[string]string{"kind": "claim", "tenant": "t1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic, sub := memSub(t)
			for i := range 3 {
				send(t, topic, &pubsub.Message{Body: fmt.Appendf(nil, "%s-%d", canary, i), Metadata: md})
			}
			opts := tc.opts
			src := newSource(t, sub, &opts)
			got := readN(readCtx(t), t, src, 3, pubsubsource.DefaultBatchSize)
			seen := map[string]bool{}
			for _, m := range got {
				if !tc.wantID(m.ID) {
					t.Errorf("ID %q", m.ID)
				}
				if seen[m.ID] {
					t.Errorf("duplicate ID %q", m.ID)
				}
				seen[m.ID] = true
				if fmt.Sprint(m.Metadata) != fmt.Sprint(tc.wantMeta) {
					t.Errorf("Metadata = %v, want %v", m.Metadata, tc.wantMeta)
				}
				checkNoCanary(t, m)
			}
			ackAll(t, got)
		})
	}
}

// checkNoCanary fails if the canary reaches a message's ID, metadata or log line.
func checkNoCanary(t *testing.T, m *source.Message) {
	t.Helper()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("read", "msg", m)
	for what, s := range map[string]string{"ID": m.ID, "Metadata": fmt.Sprint(m.Metadata), "log": buf.String()} {
		if strings.Contains(s, canary) {
			t.Errorf("canary in %s: %s", what, s)
		}
	}
}

func TestAs(t *testing.T) {
	topic, sub := memSub(t)
	send(t, topic, &pubsub.Message{Body: []byte("x")})
	src := newSource(t, sub, nil)
	m := readN(readCtx(t), t, src, 1, pubsubsource.DefaultBatchSize)[0]
	var pm *pubsub.Message
	if !m.As(&pm) || string(pm.Body) != "x" {
		t.Fatalf("As(**pubsub.Message) = %v, %v", pm != nil, pm)
	}
	var other *strings.Builder
	if m.As(&other) {
		t.Fatal("As(**strings.Builder) = true")
	}
	ackAll(t, []*source.Message{m})
}

func TestNackNackableRedelivers(t *testing.T) {
	topic, sub := memSub(t)
	send(t, topic, &pubsub.Message{Body: []byte("again")})
	src := newSource(t, sub, nil)
	ctx := readCtx(t)
	first := readN(ctx, t, src, 1, pubsubsource.DefaultBatchSize)[0]
	if err := first.Nack(ctx, errors.New("sink unavailable")); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	second := readN(ctx, t, src, 1, pubsubsource.DefaultBatchSize)[0]
	if string(second.Body) != "again" {
		t.Fatalf("redelivered %q", second.Body)
	}
	if err := second.Ack(ctx); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := second.Ack(ctx); !errors.Is(err, source.ErrSettled) {
		t.Fatalf("second Ack = %v, want ErrSettled", err)
	}
}

func TestReadContextDone(t *testing.T) {
	_, sub := memSub(t)
	src := newSource(t, sub, nil)
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled before", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"deadline while waiting", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			batch, err := src.Read(ctx)
			if !errors.Is(err, tc.want) || batch != nil {
				t.Fatalf("Read = %d, %v; want %v", len(batch), err, tc.want)
			}
		})
	}
}

func TestClose(t *testing.T) {
	for _, owned := range []bool{false, true} {
		t.Run(fmt.Sprintf("ShutdownOnClose=%v", owned), func(t *testing.T) {
			topic, sub := memSub(t)
			src := newSource(t, sub, &pubsubsource.Options{ShutdownOnClose: owned})
			ctx := readCtx(t)

			send(t, topic, &pubsub.Message{Body: []byte("held")})
			held := readN(ctx, t, src, 1, pubsubsource.DefaultBatchSize)[0]

			// A Read blocked on an empty subscription returns ErrClosed.
			errc := make(chan error, 1)
			go func() {
				_, err := src.Read(ctx)
				errc <- err
			}()
			time.Sleep(20 * time.Millisecond) // let Read block (not a timing assertion: either order passes)
			if err := src.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := <-errc; !errors.Is(err, source.ErrClosed) {
				t.Fatalf("blocked Read = %v, want ErrClosed", err)
			}
			if _, err := src.Read(ctx); !errors.Is(err, source.ErrClosed) {
				t.Fatalf("Read after Close = %v, want ErrClosed", err)
			}
			if err := src.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}

			err := held.Ack(ctx)
			if owned {
				// The subscription is shut down: the ack cannot be sent.
				if !errors.Is(err, source.ErrClosed) {
					t.Fatalf("Ack after owned Close = %v, want ErrClosed", err)
				}
				if _, err := sub.Receive(ctx); err == nil {
					t.Fatal("subscription still receives after owned Close")
				}
				return
			}
			// The caller's subscription stays open: the ack goes through and
			// another Source reads on.
			if err != nil {
				t.Fatalf("Ack after Close: %v", err)
			}
			send(t, topic, &pubsub.Message{Body: []byte("next")})
			next := readN(ctx, t, newSource(t, sub, nil), 1, pubsubsource.DefaultBatchSize)
			if string(next[0].Body) != "next" {
				t.Fatalf("next Source read %q", next[0].Body)
			}
			ackAll(t, next)
		})
	}
}

// atMostOnce is a Go CDK driver that cannot nack, like natspubsub: it
// delivers each message once and counts acks.
type atMostOnce struct {
	ch    chan *driver.Message
	mu    sync.Mutex
	acked int
}

func (d *atMostOnce) ReceiveBatch(ctx context.Context, _ int) ([]*driver.Message, error) {
	select {
	case m := <-d.ch:
		return []*driver.Message{m}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(20 * time.Millisecond):
		return nil, nil
	}
}

func (d *atMostOnce) SendAcks(_ context.Context, ids []driver.AckID) error {
	d.mu.Lock()
	d.acked += len(ids)
	d.mu.Unlock()
	return nil
}

func (d *atMostOnce) ackCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.acked
}

func (*atMostOnce) CanNack() bool                                   { return false }
func (*atMostOnce) SendNacks(context.Context, []driver.AckID) error { panic("unreachable") }
func (*atMostOnce) IsRetryable(error) bool                          { return false }
func (*atMostOnce) As(any) bool                                     { return false }
func (*atMostOnce) ErrorAs(error, any) bool                         { return false }
func (*atMostOnce) ErrorCode(error) gcerrors.ErrorCode              { return gcerrors.Unknown }
func (*atMostOnce) Close() error                                    { return nil }

func newAtMostOnce(t *testing.T, bodies ...string) (*atMostOnce, *pubsub.Subscription) {
	d := &atMostOnce{ch: make(chan *driver.Message, len(bodies))}
	for i, b := range bodies {
		d.ch <- &driver.Message{Body: []byte(b), AckID: i, LoggableID: fmt.Sprint(i)}
	}
	sub := pubsub.NewSubscription(d, &batcher.Options{MaxBatchSize: 1, MaxHandlers: 1}, nil)
	t.Cleanup(func() { _ = sub.Shutdown(context.Background()) })
	return d, sub
}

func TestNackNotNackableKeptForNextRead(t *testing.T) {
	d, sub := newAtMostOnce(t, "a", "b")
	src := newSource(t, sub, nil)
	ctx := readCtx(t)
	got := readN(ctx, t, src, 2, pubsubsource.DefaultBatchSize)
	ids := map[string]string{}
	for _, m := range got {
		ids[string(m.Body)] = m.ID
		if err := m.Nack(ctx, errors.New("later")); err != nil {
			t.Fatalf("Nack: %v", err)
		}
	}
	again := readN(ctx, t, src, 2, pubsubsource.DefaultBatchSize)
	for _, m := range again {
		if ids[string(m.Body)] != m.ID {
			t.Errorf("redelivered %q as %s, first read as %s", m.Body, m.ID, ids[string(m.Body)])
		}
	}
	if d.ackCount() != 0 {
		t.Fatalf("%d acks sent before any Ack", d.ackCount())
	}
	ackAll(t, again)
	if err := sub.Shutdown(ctx); err != nil { // flushes the acks
		t.Fatalf("Shutdown: %v", err)
	}
	if d.ackCount() != 2 {
		t.Fatalf("driver saw %d acks, want 2", d.ackCount())
	}
}

func TestNackWakesBlockedRead(t *testing.T) {
	_, sub := newAtMostOnce(t, "only")
	src := newSource(t, sub, nil)
	ctx := readCtx(t)
	m := readN(ctx, t, src, 1, pubsubsource.DefaultBatchSize)[0]

	type result struct {
		batch []*source.Message
		err   error
	}
	res := make(chan result, 1)
	go func() {
		b, err := src.Read(ctx) // nothing left in the driver: blocks until the nack
		res <- result{b, err}
	}()
	time.Sleep(20 * time.Millisecond) // let Read block (either order passes)
	if err := m.Nack(ctx, errors.New("later")); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	r := <-res
	if r.err != nil || len(r.batch) != 1 || string(r.batch[0].Body) != "only" {
		t.Fatalf("Read = %v, %v", r.batch, r.err)
	}
	ackAll(t, r.batch)
}

func TestNackNotNackableAfterClose(t *testing.T) {
	_, sub := newAtMostOnce(t, "x")
	src := newSource(t, sub, nil)
	m := readN(readCtx(t), t, src, 1, pubsubsource.DefaultBatchSize)[0]
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	err := m.Nack(context.Background(), errors.New("later"))
	if !errors.Is(err, source.ErrClosed) {
		t.Fatalf("Nack after Close = %v, want ErrClosed", err)
	}
}

func TestIDsUniqueAcrossSources(t *testing.T) {
	topic, sub := memSub(t)
	idForm := regexp.MustCompile(`^claims#[0-9a-f]{8}\.1$`)
	seen := map[string]bool{}
	for i := range 3 {
		send(t, topic, &pubsub.Message{Body: fmt.Appendf(nil, "m%d", i)})
		src := newSource(t, sub, &pubsubsource.Options{Name: "claims"})
		m := readN(readCtx(t), t, src, 1, pubsubsource.DefaultBatchSize)[0]
		if !idForm.MatchString(m.ID) || seen[m.ID] {
			t.Fatalf("Source %d's first ID %q: want a fresh Name#tag.1", i, m.ID)
		}
		seen[m.ID] = true
		ackAll(t, []*source.Message{m})
		if err := src.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
