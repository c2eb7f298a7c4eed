package pgsource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/pgsource"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// reconnectCounts returns the Source's fhirsync.pgsource.reconnects by
// outcome.
func reconnectCounts(ctx context.Context, t testing.TB, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "fhirsync.pgsource.reconnects" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				outcome, _ := dp.Attributes.Value("outcome")
				out[outcome.AsString()] += dp.Value
			}
		}
	}
	return out
}

func newMeter() (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	r := sdkmetric.NewManualReader()
	return sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)), r
}

func commitOf(t testing.TB, m *source.Message) pglogrepl.LSN {
	t.Helper()
	lsn, err := pglogrepl.ParseLSN(m.Metadata["commit_lsn"])
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// ackConfirmed acks ms and waits until the slot confirmed them: a change
// acked but not yet reported to the server when the connection is lost
// comes again.
func (f *fixture) ackConfirmed(ctx context.Context, t testing.TB, ms []*source.Message) {
	t.Helper()
	ackAll(ctx, t, ms)
	var last pglogrepl.LSN
	for _, m := range ms {
		last = max(last, commitOf(t, m))
	}
	f.waitConfirmed(ctx, "passed the acked changes", func(l pglogrepl.LSN) bool { return l > last })
}

// rowID returns the id column of a change's row.
func rowID(t testing.TB, m *source.Message) int {
	t.Helper()
	var ch *pgsource.Change
	if !m.As(&ch) {
		t.Fatalf("message %s: As(**Change) = false", m.ID)
	}
	img := ch.After
	if img == nil {
		img = ch.Before
	}
	num, ok := img["id"].(json.Number)
	if !ok {
		t.Fatalf("message %s: id is %T", m.ID, img["id"])
	}
	id, err := num.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return int(id)
}

// TestReconnect terminates the walsender while changes are outstanding,
// acked and unacked: the Source reconnects by itself, every change arrives
// at least once (the unconfirmed ones again, with the same IDs), the acks
// of the old connection do not count in the new one, the confirmed position
// never moves backwards nor past an unacked change, and it advances after
// the reconnection; Close works.
func TestReconnect(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY, name text", true)
	mp, reader := newMeter()
	ins := func(ids ...int) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = fmt.Sprintf("INSERT INTO %s VALUES (%d, '%s %d')", f.table, id, canary, id)
		}
		return out
	}
	f.tx(ctx, ins(1, 2, 3)...)
	f.tx(ctx, ins(4, 5)...)
	f.tx(ctx, ins(6)...)
	src := f.open(ctx, &pgsource.Options{ReconnectDelay: 50 * time.Millisecond, MeterProvider: mp})
	ms := readN(ctx, t, src, 6)
	t1, t2 := commitOf(t, ms[0]), commitOf(t, ms[3])
	ackAll(ctx, t, ms[:4]) // the first transaction, and the first change of the second
	f.waitConfirmed(ctx, "passed the first transaction", func(l pglogrepl.LSN) bool { return l > t1 })
	f.waitStatusUpdates(ctx, 2)
	before := f.confirmed(ctx)
	if before >= t2 {
		t.Fatalf("confirmed_flush_lsn %s passed the second transaction (commit %s) with a change of it unacked", before, t2)
	}
	mon := f.monitorConfirmed(ctx)

	old := f.terminateWalsender(ctx)
	f.tx(ctx, ins(7, 8)...) // committed while (or just after) the Source is disconnected
	f.tx(ctx, ins(9)...)
	f.waitWalsender(ctx, "streamed again", func(p int) bool { return p != 0 && p != old })
	// Settlements of messages of the lost connection return nil and count
	// for nothing: their changes come again. (Made once the new connection
	// streams, so they cannot have counted on the old one.)
	if err := ms[4].Ack(ctx); err != nil {
		t.Errorf("Ack of a message of the lost connection = %v, want nil", err)
	}
	if err := ms[5].Nack(ctx, errors.New("sink unavailable")); err != nil {
		t.Errorf("Nack of a message of the lost connection = %v, want nil", err)
	}

	// Read until every change not confirmed before the cut came: 4 to 9.
	// Hold the new delivery of change 5 (acked only on the lost connection).
	seen := map[int]int{}
	var held *source.Message
	last := pglogrepl.LSN(0)
	for len(seen) < 6 {
		batch, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("Read after the cut, having %v: %v", seen, err)
		}
		for _, m := range batch {
			id := rowID(t, m)
			if id <= 3 {
				t.Errorf("change %d (%s) came again: its transaction was confirmed before the cut", id, m.ID)
			}
			if id <= 6 && m.ID != ms[id-1].ID {
				t.Errorf("change %d came again as %s, want the same ID %s", id, m.ID, ms[id-1].ID)
			}
			seen[id]++
			last = max(last, commitOf(t, m))
			if id == 5 && held == nil {
				held = m
				continue
			}
			if err := m.Ack(ctx); err != nil {
				t.Fatalf("Ack(%s): %v", m.ID, err)
			}
		}
	}
	if held == nil {
		t.Fatal("change 5, acked only on the lost connection, did not come again")
	}
	if pid := f.walsenderPID(ctx); pid == 0 || pid == old {
		t.Fatalf("walsender pid %d, want a new one (the terminated one was %d)", pid, old)
	}
	f.waitStatusUpdates(ctx, 3) // heartbeats resumed on the new connection
	if got := f.confirmed(ctx); got < before || got >= t2 {
		t.Fatalf("confirmed_flush_lsn = %s with change 5 unacked on the new connection; want from %s (before the cut) to before %s", got, before, t2)
	}
	if err := held.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	f.waitConfirmed(ctx, "passed the last transaction after the reconnection", func(l pglogrepl.LSN) bool { return l > last })
	mon.check(t)
	for id := 4; id <= 9; id++ {
		if seen[id] == 0 {
			t.Errorf("change %d never came", id)
		}
	}
	expectEmpty(ctx, t, src)

	if got := reconnectCounts(ctx, t, reader); got["ok"] != 1 {
		t.Errorf("reconnects = %v, want ok=1", got)
	}
	for _, want := range []string{"pgsource: replication stream failed", "pgsource: reconnected"} {
		if !strings.Contains(f.logs.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if err := src.Close(); err != nil {
		t.Fatalf("Close after a reconnection: %v", err)
	}
	if _, err := src.Read(ctx); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Read after Close = %v, want source.ErrClosed", err)
	}
	if err := ms[0].Ack(ctx); !errors.Is(err, source.ErrSettled) {
		t.Errorf("second Ack = %v, want source.ErrSettled", err)
	}
}

// TestReconnectUnderLoad cuts the connection twice while a writer commits
// small transactions and the reader holds some changes unacked, with a
// small buffer so that decoded changes wait unread at the cut: every change
// arrives at least once, and the slot confirms them all at the end.
func TestReconnectUnderLoad(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY", true)
	mp, reader := newMeter()
	const n = 300
	writer, err := pgx.Connect(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(context.Background())
	werr := make(chan error, 1)
	go func() {
		for id := 1; id <= n; {
			k := min(1+id%4, n-id+1)
			if _, err := writer.Exec(ctx, fmt.Sprintf("INSERT INTO %s SELECT generate_series(%d, %d)", f.table, id, id+k-1)); err != nil {
				werr <- err
				return
			}
			id += k
			time.Sleep(2 * time.Millisecond)
		}
		werr <- nil
	}()
	src := f.open(ctx, &pgsource.Options{ReconnectDelay: 20 * time.Millisecond, MaxBatch: 7, BufferSize: 20, MeterProvider: mp})
	mon := f.monitorConfirmed(ctx)

	seen := map[int]int{}
	var pending []*source.Message
	var last pglogrepl.LSN
	cuts := 0
	for len(seen) < n {
		batch, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("Read with %d of %d changes: %v", len(seen), n, err)
		}
		ackAll(ctx, t, pending) // acked one Read late: some are always outstanding
		pending = pending[:0]
		for i, m := range batch {
			seen[rowID(t, m)]++
			last = max(last, commitOf(t, m))
			if i%3 == 0 {
				pending = append(pending, m)
			} else if err := m.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if (cuts == 0 && len(seen) >= n/3) || (cuts == 1 && len(seen) >= 2*n/3) {
			f.waitWalsender(ctx, "streamed", func(p int) bool { return p != 0 })
			time.Sleep(100 * time.Millisecond) // the buffer fills: decoded changes wait unread at the cut
			f.terminateWalsender(ctx)
			cuts++
		}
	}
	ackAll(ctx, t, pending)
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	// Changes first seen on a lost connection, where their acks did not
	// count, may still wait in the buffer: read on, as the engine would,
	// until the slot confirms every change.
	for f.confirmed(ctx) <= last {
		rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		batch, err := src.Read(rctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Read: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("confirmed_flush_lsn %s never passed every change (%s)", f.confirmed(context.Background()), last)
		}
		for _, m := range batch {
			seen[rowID(t, m)]++
		}
		ackAll(ctx, t, batch)
	}
	mon.check(t)
	dups := 0
	for id := 1; id <= n; id++ {
		if seen[id] == 0 {
			t.Errorf("change %d never came", id)
		}
		dups += max(seen[id]-1, 0)
	}
	if cuts != 2 {
		t.Fatalf("%d cuts, want 2", cuts)
	}
	if got := reconnectCounts(ctx, t, reader); got["ok"] != 2 {
		t.Errorf("reconnects = %v, want ok=2", got)
	}
	t.Logf("%d changes, %d delivered again after 2 cuts", n, dups)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReconnectPermanent: a slot or publication dropped while the Source
// is disconnected (a temporary slot is, with its connection) ends it with a
// permanent *StreamError wrapping the sentinel, without row data;
// settlements are refused and Close works.
func TestReconnectPermanent(t *testing.T) {
	cases := []struct {
		name      string
		temporary bool
		drop      func(ctx context.Context, f *fixture)
		want      error
	}{
		{"slot dropped while disconnected", false, func(ctx context.Context, f *fixture) {
			// The Source reconnects after ReconnectDelay: terminate its
			// walsender until the slot is free long enough to drop it.
			for {
				if pid := f.walsenderPID(ctx); pid != 0 {
					f.exec(ctx, "SELECT pg_terminate_backend($1)", pid)
				}
				if _, err := f.db.Exec(ctx, "SELECT pg_drop_replication_slot($1)", f.name); err == nil {
					return
				}
				if ctx.Err() != nil {
					f.t.Fatal("could not drop the slot")
				}
				time.Sleep(10 * time.Millisecond)
			}
		}, pgsource.ErrNoSlot},
		{"temporary slot", true, func(ctx context.Context, f *fixture) {
			f.terminateWalsender(ctx) // the server drops the slot with its walsender
		}, pgsource.ErrNoSlot},
		{"publication dropped, then the connection lost", false, func(ctx context.Context, f *fixture) {
			f.exec(ctx, "DROP PUBLICATION "+f.name)
			f.terminateWalsender(ctx)
		}, pgsource.ErrNoPublication},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			f := newFixture(t, "id int PRIMARY KEY, name text", true)
			mp, reader := newMeter()
			opts := &pgsource.Options{ReconnectDelay: 200 * time.Millisecond, MeterProvider: mp}
			if c.temporary {
				f.exec(ctx, "SELECT pg_drop_replication_slot($1)", f.name)
				opts.CreateSlot, opts.TemporarySlot = true, true
			}
			src := f.open(ctx, opts)
			f.exec(ctx, "INSERT INTO "+f.table+" VALUES (1, $1)", canary)
			first := readN(ctx, t, src, 1)
			c.drop(ctx, f)
			_, err := src.Read(ctx)
			var se *pgsource.StreamError
			if !errors.As(err, &se) || !se.Permanent || !errors.Is(err, c.want) || se.Slot != f.name || se.Attempts != 1 {
				t.Fatalf("Read = %v (%+v), want a permanent *StreamError wrapping %v after 1 attempt", err, se, c.want)
			}
			if strings.Contains(err.Error(), canary) {
				t.Error("the error holds the canary")
			}
			if _, again := src.Read(ctx); again == nil || again.Error() != err.Error() {
				t.Errorf("second Read = %v, want %v", again, err)
			}
			if err := first[0].Ack(ctx); !errors.Is(err, source.ErrClosed) {
				t.Errorf("Ack after the Source stopped = %v, want an error wrapping source.ErrClosed", err)
			}
			if got := reconnectCounts(ctx, t, reader); got["failed"] != 1 || got["ok"] != 0 {
				t.Errorf("reconnects = %v, want failed=1", got)
			}
			if !strings.Contains(f.logs.String(), "pgsource: replication failed for good") {
				t.Error("the log lacks the stop")
			}
			if err := src.Close(); err != nil {
				t.Errorf("Close = %v, want nil", err)
			}
		})
	}
}

// proxy forwards TCP connections to Postgres, and can cut them (both ends
// closed), freeze them (nothing forwarded, nothing closed: a network that
// drops packets), refuse new ones or freeze new ones from the start.
type proxy struct {
	ln        net.Listener
	target    string
	refuse    atomic.Bool
	freezeNew atomic.Bool
	killAfter atomic.Int64 // a time.Duration: cut each new connection this long after it opens
	mu        sync.Mutex
	pairs     []*pair
}

type pair struct {
	client, server net.Conn
	frozen, killed atomic.Bool
}

func (p *pair) kill() {
	p.killed.Store(true)
	_ = p.client.Close()
	_ = p.server.Close()
}

func (p *pair) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() && !p.killed.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if p.killed.Load() {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				p.kill()
				return
			}
		}
		if err != nil {
			p.kill()
			return
		}
	}
}

// newProxy starts a proxy to the fixture's server and returns it with the
// fixture's URL through it.
func newProxy(t *testing.T, f *fixture) (*proxy, string) {
	u, err := url.Parse(f.url)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: u.Host}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.each(func(pr *pair) { pr.kill() })
	})
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.refuse.Load() {
			_ = c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		pr := &pair{client: c, server: s}
		pr.frozen.Store(p.freezeNew.Load())
		if d := time.Duration(p.killAfter.Load()); d > 0 {
			time.AfterFunc(d, pr.kill)
		}
		p.mu.Lock()
		p.pairs = append(p.pairs, pr)
		p.mu.Unlock()
		go pr.pipe(s, c)
		go pr.pipe(c, s)
	}
}

func (p *proxy) each(fn func(*pair)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.pairs {
		fn(pr)
	}
}

// openVia opens a Source on the fixture's slot through connString.
func (f *fixture) openVia(ctx context.Context, connString string, o pgsource.Options) *pgsource.Source {
	f.t.Helper()
	if o.StatusInterval == 0 {
		o.StatusInterval = f.status
	}
	o.Logger = f.logger()
	src, err := pgsource.Open(ctx, connString, f.name, f.name, &o)
	if err != nil {
		f.t.Fatalf("Open: %v", err)
	}
	f.t.Cleanup(func() { _ = src.Close() })
	return src
}

// waitCounts polls the reconnection counter until ok accepts it.
func waitCounts(ctx context.Context, t *testing.T, r *sdkmetric.ManualReader, what string, ok func(map[string]int64) bool) {
	t.Helper()
	for {
		got := reconnectCounts(ctx, t, r)
		if ok(got) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("reconnects = %v, never %s", got, what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestReconnectAttempts: reconnection disabled, given up after
// MaxReconnects refused attempts, and recovering after refused attempts.
func TestReconnectAttempts(t *testing.T) {
	cases := []struct {
		name          string
		maxReconnects int
		recover       bool
		wantAttempts  int
	}{
		{"disabled", -1, false, 0},
		{"given up", 2, false, 2},
		{"recovers", 0, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			f := newFixture(t, "id int PRIMARY KEY", true)
			p, via := newProxy(t, f)
			mp, reader := newMeter()
			f.exec(ctx, "INSERT INTO "+f.table+" VALUES (1)")
			f.exec(ctx, "INSERT INTO "+f.table+" VALUES (2)")
			src := f.openVia(ctx, via, pgsource.Options{
				MaxReconnects: c.maxReconnects, ReconnectDelay: 20 * time.Millisecond, MaxReconnectDelay: 100 * time.Millisecond, MeterProvider: mp,
			})
			// The first transaction is acked and complete (its Commit came
			// before the second's change), perhaps not yet reported to the
			// server: the new connection starts after it all the same. The
			// second stays unacked.
			first := readN(ctx, t, src, 2)
			ackAll(ctx, t, first[:1])
			p.refuse.Store(true)
			p.each(func(pr *pair) { pr.kill() })
			if !c.recover {
				_, err := src.Read(ctx)
				var se *pgsource.StreamError
				if !errors.As(err, &se) || se.Permanent || se.Attempts != c.wantAttempts {
					t.Fatalf("Read = %v (%+v), want a transient *StreamError after %d attempts", err, se, c.wantAttempts)
				}
				if got := reconnectCounts(ctx, t, reader); got["failed"] != int64(c.wantAttempts) || got["ok"] != 0 {
					t.Errorf("reconnects = %v, want failed=%d", got, c.wantAttempts)
				}
				if err := src.Close(); err != nil {
					t.Errorf("Close = %v", err)
				}
				return
			}
			waitCounts(ctx, t, reader, "failed twice", func(m map[string]int64) bool { return m["failed"] >= 2 })
			f.exec(ctx, "INSERT INTO "+f.table+" VALUES (3)")
			p.refuse.Store(false)
			ms := readN(ctx, t, src, 2)
			if ms[0].ID != first[1].ID || rowID(t, ms[1]) != 3 {
				t.Fatalf("after the reconnection got changes %d (%s) and %d, want 2 (%s, unacked) and 3", rowID(t, ms[0]), ms[0].ID, rowID(t, ms[1]), first[1].ID)
			}
			ackAll(ctx, t, ms)
			commit := commitOf(t, ms[1])
			f.waitConfirmed(ctx, "passed the change read after the reconnection", func(l pglogrepl.LSN) bool { return l > commit })
			if got := reconnectCounts(ctx, t, reader); got["ok"] != 1 {
				t.Errorf("reconnects = %v, want ok=1", got)
			}
			if !strings.Contains(f.logs.String(), "pgsource: reconnection failed") {
				t.Error("the log lacks the failed attempts")
			}
			if err := src.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
		})
	}
}

// TestServerTimeout: a connection that goes silent without closing (a
// network dropping packets) is taken for lost after ServerTimeout; the
// attempts that meet the slot still held by the stranded walsender are
// retried, and once the server lets go of it the Source streams again.
func TestServerTimeout(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY", true)
	p, via := newProxy(t, f)
	mp, reader := newMeter()
	f.exec(ctx, "INSERT INTO "+f.table+" VALUES (1)")
	src := f.openVia(ctx, via, pgsource.Options{
		ServerTimeout: time.Second, ReconnectDelay: 20 * time.Millisecond, MaxReconnectDelay: 200 * time.Millisecond, MeterProvider: mp,
	})
	f.ackConfirmed(ctx, t, readN(ctx, t, src, 1))
	p.each(func(pr *pair) { pr.frozen.Store(true) })
	cut := time.Now()
	f.exec(ctx, "INSERT INTO "+f.table+" VALUES (2)")
	// The walsender does not know: it holds the slot, so attempts fail.
	waitCounts(ctx, t, reader, "failed on the held slot", func(m map[string]int64) bool { return m["failed"] >= 1 })
	if d := time.Since(cut); d < 900*time.Millisecond {
		t.Errorf("the connection was taken for lost after %s, before ServerTimeout (1s)", d)
	}
	if !strings.Contains(f.logs.String(), pgsource.ErrServerTimeout.Error()) {
		t.Error("the log does not say why the connection was taken for lost")
	}
	p.each(func(pr *pair) {
		if pr.frozen.Load() {
			pr.kill() // the server notices at last (wal_sender_timeout, or TCP)
		}
	})
	ms := readN(ctx, t, src, 1)
	if rowID(t, ms[0]) != 2 {
		t.Fatalf("got change %d, want 2", rowID(t, ms[0]))
	}
	ackAll(ctx, t, ms)
	commit := commitOf(t, ms[0])
	f.waitConfirmed(ctx, "passed the change read after the reconnection", func(l pglogrepl.LSN) bool { return l > commit })
	if got := reconnectCounts(ctx, t, reader); got["ok"] != 1 {
		t.Errorf("reconnects = %v, want ok=1", got)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}
