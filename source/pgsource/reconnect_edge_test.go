package pgsource_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/pgsource"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestConcurrentReadersSeeTheEnd: every Read blocked when the Source stops
// streaming for good returns the *StreamError, and every Read blocked when
// it is closed returns source.ErrClosed, not only the first one woken.
func TestConcurrentReadersSeeTheEnd(t *testing.T) {
	cases := []struct {
		name string
		end  func(ctx context.Context, f *fixture, src *pgsource.Source)
		want func(error) bool
	}{
		{"stream failed for good", func(ctx context.Context, f *fixture, _ *pgsource.Source) {
			f.terminateWalsender(ctx)
		}, func(err error) bool {
			var se *pgsource.StreamError
			return errors.As(err, &se)
		}},
		{"closed", func(_ context.Context, _ *fixture, src *pgsource.Source) {
			if err := src.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}, func(err error) bool { return errors.Is(err, source.ErrClosed) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			f := newFixture(t, "id int PRIMARY KEY", true)
			src := f.open(ctx, &pgsource.Options{MaxReconnects: -1})
			f.waitWalsender(ctx, "streamed", func(p int) bool { return p != 0 })
			const readers = 4
			errs := make(chan error, readers)
			var started sync.WaitGroup
			for range readers {
				started.Add(1)
				go func() {
					started.Done()
					_, err := src.Read(ctx)
					errs <- err
				}()
			}
			started.Wait()
			time.Sleep(100 * time.Millisecond) // all of them block in Read
			c.end(ctx, f, src)
			timeout := time.After(5 * time.Second)
			for i := range readers {
				select {
				case err := <-errs:
					if !c.want(err) {
						t.Errorf("Read %d = %v", i, err)
					}
				case <-timeout:
					t.Fatalf("%d of %d concurrent Reads still blocked 5s after the end", readers-i, readers)
				}
			}
		})
	}
}

// pgsourceGoroutines returns the stacks of goroutines running pgsource
// code (not this test package's).
func pgsourceGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "fhirsync/source/pgsource.") && !strings.Contains(g, "pgsource_test.") && !strings.Contains(g, "testing.tRunner") {
			out = append(out, g)
		}
	}
	return out
}

// waitNoPgsourceGoroutines fails unless the Source's goroutines are gone
// shortly after Close.
func waitNoPgsourceGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := pgsourceGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pgsource goroutines left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNoServerConnections fails unless the server soon has no backend of
// a Source (application_name fhirsync-pgsource) in this run's database.
func (f *fixture) waitNoServerConnections(ctx context.Context) {
	f.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var n int
		if err := f.db.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'fhirsync-pgsource'").Scan(&n); err != nil {
			f.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d server connections of the Source left after Close", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCloseDuringReconnect: Close while the Source waits between attempts,
// or while an attempt hangs on a server that accepts the connection and
// never answers, returns promptly and leaves no goroutine behind; Read
// then returns source.ErrClosed.
func TestCloseDuringReconnect(t *testing.T) {
	cases := []struct {
		name  string
		delay time.Duration
		cut   func(p *proxy)
	}{
		{"waiting for the next attempt", 10 * time.Second, func(p *proxy) {
			p.refuse.Store(true)
			p.each(func(pr *pair) { pr.kill() })
		}},
		{"attempt hanging", 10 * time.Millisecond, func(p *proxy) {
			p.freezeNew.Store(true)
			p.each(func(pr *pair) { pr.kill() })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			f := newFixture(t, "id int PRIMARY KEY", true)
			p, via := newProxy(t, f)
			mp, reader := newMeter()
			src := f.openVia(ctx, via, pgsource.Options{ReconnectDelay: c.delay, MeterProvider: mp})
			f.waitWalsender(ctx, "streamed", func(p int) bool { return p != 0 })
			c.cut(p)
			if c.delay < time.Second {
				// An attempt is under way once the proxy holds its connection.
				for n := 0; n < 2; {
					p.mu.Lock()
					n = len(p.pairs)
					p.mu.Unlock()
					if ctx.Err() != nil {
						t.Fatal("no reconnection attempt")
					}
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(100 * time.Millisecond)
			} else {
				f.waitWalsender(ctx, "released", func(p int) bool { return p == 0 })
				time.Sleep(100 * time.Millisecond)
			}
			began := time.Now()
			if err := src.Close(); err != nil {
				t.Errorf("Close = %v, want nil", err)
			}
			if d := time.Since(began); d > time.Second {
				t.Errorf("Close took %s during a reconnection", d)
			}
			if _, err := src.Read(ctx); !errors.Is(err, source.ErrClosed) {
				t.Errorf("Read after Close = %v, want source.ErrClosed", err)
			}
			waitNoPgsourceGoroutines(t)
			p.each(func(pr *pair) { pr.kill() }) // a frozen proxy would hold the server's end
			f.waitNoServerConnections(ctx)
			if got := reconnectCounts(ctx, t, reader); got["ok"] != 0 {
				t.Errorf("reconnects = %v, want none ok", got)
			}
		})
	}
}

// TestPublicationDroppedWhileStreaming: a publication dropped while the
// Source streams makes the server fail the stream at the next change
// (SQLSTATE 42704): Read returns a permanent *StreamError that errors.Is
// finds ErrNoPublication in, as when the drop is found on a reconnection,
// and errors.As the server's error; no row data in it.
func TestPublicationDroppedWhileStreaming(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY, name text", true)
	src := f.open(ctx, &pgsource.Options{ReconnectDelay: 20 * time.Millisecond})
	f.exec(ctx, "INSERT INTO "+f.table+" VALUES (1, $1)", canary)
	ackAll(ctx, t, readN(ctx, t, src, 1))
	f.exec(ctx, "DROP PUBLICATION "+f.name)
	f.exec(ctx, "INSERT INTO "+f.table+" VALUES (2, $1)", canary)
	_, err := src.Read(ctx)
	var se *pgsource.StreamError
	var pgErr *pgconn.PgError
	if !errors.As(err, &se) || !se.Permanent || !errors.Is(err, pgsource.ErrNoPublication) || !errors.As(err, &pgErr) || pgErr.Code != "42704" {
		t.Fatalf("Read = %v (%+v), want a permanent *StreamError wrapping ErrNoPublication and the server's 42704", err, se)
	}
	if strings.Contains(err.Error(), canary) {
		t.Error("the error holds the canary")
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	waitNoPgsourceGoroutines(t)
	f.waitNoServerConnections(ctx)
}

// TestFlappingConnection: a connection lost soon after each reconnection,
// before a transaction was confirmed on it, does not reset the back-off:
// the delays keep growing and MaxReconnects counts those attempts, so a
// server that fails every stream at once (a disk full while decoding, a
// proxy cutting connections) is not hammered every ReconnectDelay for
// ever. A connection on which a transaction was confirmed resets the
// count.
func TestFlappingConnection(t *testing.T) {
	cases := []struct {
		name     string
		progress bool // a transaction is confirmed on each connection
	}{
		{"no progress between cuts", false},
		{"a transaction confirmed between cuts", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			f := newFixture(t, "id int PRIMARY KEY", true)
			p, via := newProxy(t, f)
			mp, reader := newMeter()
			const maxReconnects = 3
			src := f.openVia(ctx, via, pgsource.Options{
				MaxReconnects: maxReconnects, ReconnectDelay: 20 * time.Millisecond, MaxReconnectDelay: 5 * time.Second, MeterProvider: mp,
			})
			if !c.progress {
				p.killAfter.Store(int64(200 * time.Millisecond))
				p.each(func(pr *pair) { pr.kill() })
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				_, err := src.Read(rctx)
				var se *pgsource.StreamError
				if !errors.As(err, &se) || se.Permanent || se.Attempts != maxReconnects {
					t.Fatalf("Read = %v, want a transient *StreamError after %d attempts (each connection lost at once)", err, maxReconnects)
				}
				if got := reconnectCounts(ctx, t, reader); got["ok"] != maxReconnects {
					t.Errorf("reconnects = %v, want ok=%d", got, maxReconnects)
				}
				return
			}
			for i := 1; i <= 2*maxReconnects; i++ {
				f.exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (%d)", f.table, i))
				var ms []*source.Message
				for len(ms) == 0 || rowID(t, ms[0]) != i { // earlier rows may come again
					ms = readN(ctx, t, src, 1)
					ackAll(ctx, t, ms)
				}
				commit := commitOf(t, ms[0])
				f.waitConfirmed(ctx, "passed the acked change", func(l pglogrepl.LSN) bool { return l > commit })
				f.terminateWalsender(ctx)
			}
			f.exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (%d)", f.table, 100))
			ms := readN(ctx, t, src, 1)
			if id := rowID(t, ms[0]); id != 100 {
				t.Fatalf("got change %d, want 100", id)
			}
			if got := reconnectCounts(ctx, t, reader); got["ok"] != 2*maxReconnects {
				t.Errorf("reconnects = %v, want ok=%d", got, 2*maxReconnects)
			}
		})
	}
}

// TestServerTimeoutWhileNobodyReads: a full buffer pauses the stream, and
// the server's silence meanwhile (nothing is read from it) does not count
// toward ServerTimeout, however long nobody calls Read; a slow reader
// after that does not make it count either. The connection is never taken
// for lost and every change comes once.
func TestServerTimeoutWhileNobodyReads(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY, name text", true)
	mp, reader := newMeter()
	f.exec(ctx, "INSERT INTO "+f.table+" SELECT g, $1 FROM generate_series(1, 60) g", canary)
	src := f.open(ctx, &pgsource.Options{
		BufferSize: 5, MaxBatch: 2, ServerTimeout: 300 * time.Millisecond, StatusInterval: 100 * time.Millisecond, MeterProvider: mp,
	})
	pid := f.waitWalsender(ctx, "streamed", func(p int) bool { return p != 0 })
	time.Sleep(2 * time.Second) // nobody reads: the buffer is full, the stream paused
	seen := map[int]int{}
	for len(seen) < 60 {
		ms, err := src.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			seen[rowID(t, m)]++
		}
		ackAll(ctx, t, ms)
		if len(seen) < 20 {
			time.Sleep(150 * time.Millisecond) // a slow reader
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("change %d came %d times", id, n)
		}
	}
	if got := reconnectCounts(ctx, t, reader); len(got) != 0 {
		t.Errorf("reconnects = %v, want none", got)
	}
	if now := f.walsenderPID(ctx); now != pid {
		t.Errorf("walsender %d, want %d still: the connection was replaced", now, pid)
	}
	if strings.Contains(f.logs.String(), pgsource.ErrServerTimeout.Error()) {
		t.Error("the connection was taken for lost (ServerTimeout) while the reader was slow")
	}
}

// TestReconnectConcurrentAcks: acks and nacks come from many goroutines,
// late and out of order, while the connection is cut twice: acks of lost
// connections race their drop and the new connection's redeliveries. Every
// change arrives, the confirmed position never moves backwards and in the
// end passes every change; no data race (run with -race).
func TestReconnectConcurrentAcks(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY, name text", true)
	const n = 200
	src := f.open(ctx, &pgsource.Options{ReconnectDelay: 10 * time.Millisecond, MaxBatch: 5, BufferSize: 30})
	mon := f.monitorConfirmed(ctx)
	for id := 1; id <= n; id += 4 {
		f.exec(ctx, fmt.Sprintf("INSERT INTO %s SELECT g, $1 FROM generate_series(%d, %d) g", f.table, id, id+3), canary)
	}
	work := make(chan *source.Message, 64)
	var acks sync.WaitGroup
	var settleErrs sync.Map
	for w := range 8 {
		acks.Add(1)
		go func() {
			defer acks.Done()
			for m := range work {
				time.Sleep(time.Duration((w*7+len(m.ID))%5) * time.Millisecond)
				var err error
				if w == 0 && strings.HasSuffix(m.ID, "#2") {
					err = m.Nack(ctx, errors.New("try again"))
				} else {
					err = m.Ack(ctx)
				}
				if err != nil {
					settleErrs.Store(m.ID, err)
				}
			}
		}()
	}
	seen := map[int]bool{}
	var last pglogrepl.LSN
	cuts := 0
	for f.confirmed(ctx) <= last || len(seen) < n {
		rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		ms, err := src.Read(rctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Read: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d changes, confirmed %s, last commit %s", len(seen), n, f.confirmed(context.Background()), last)
		}
		for _, m := range ms {
			seen[rowID(t, m)] = true
			last = max(last, commitOf(t, m))
			work <- m
		}
		if (cuts == 0 && len(seen) >= n/3) || (cuts == 1 && len(seen) >= 2*n/3) {
			f.waitWalsender(ctx, "streamed", func(p int) bool { return p != 0 })
			f.terminateWalsender(ctx)
			cuts++
		}
	}
	close(work)
	acks.Wait()
	mon.check(t)
	settleErrs.Range(func(id, err any) bool {
		t.Errorf("settling %s: %v", id, err)
		return true
	})
	if cuts != 2 {
		t.Errorf("%d cuts, want 2", cuts)
	}
}
