package pgsource_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/source/pgsource"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
)

// The tests run against a real Postgres: FHIRSYNC_POSTGRES_URL, or the
// server on 127.0.0.1:5432 (user postgres, trust auth). It needs
// wal_level=logical. Each run creates its own database, each test its own
// schema, table, publication and slot, and drops them.
const (
	integrationEnv = "FHIRSYNC_INTEGRATION"
	urlEnv         = "FHIRSYNC_POSTGRES_URL"
	defaultURL     = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	canary         = "ZZCANARYZZ"
	enableHint     = "needs Postgres with wal_level=logical on " + urlEnv + " (default 127.0.0.1:5432, user postgres): " +
		"scripts/test sets it up (ALTER SYSTEM SET wal_level = logical, then restart the server)"
)

var pg struct {
	once   sync.Once
	reason string // why Postgres is unusable; empty when usable
	admin  string // URL of the server's maintenance database
	dbName string // this run's database
	dbURL  string // URL of this run's database
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pg.dbName != "" {
		dropDatabase()
	}
	os.Exit(code)
}

// requirePG returns the URL of this run's database, skipping the test when
// Postgres is unusable, or failing it under FHIRSYNC_INTEGRATION=1.
func requirePG(t testing.TB) string {
	t.Helper()
	pg.once.Do(setupPG)
	if pg.reason != "" {
		if os.Getenv(integrationEnv) == "1" {
			t.Fatalf("%s: %s", pg.reason, enableHint)
		}
		t.Skipf("%s: %s", pg.reason, enableHint)
	}
	return pg.dbURL
}

func setupPG() {
	pg.admin = os.Getenv(urlEnv)
	if pg.admin == "" {
		pg.admin = defaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.admin)
	if err != nil {
		pg.reason = "Postgres is unreachable (" + err.Error() + ")"
		return
	}
	defer conn.Close(ctx)
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		pg.reason = "SHOW wal_level failed (" + err.Error() + ")"
		return
	}
	if level != "logical" {
		pg.reason = "wal_level is " + level + ", not logical"
		return
	}
	name := "pgsource_test_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		pg.reason = "CREATE DATABASE failed (" + err.Error() + ")"
		return
	}
	u, err := url.Parse(pg.admin)
	if err != nil {
		pg.reason = "bad " + urlEnv
		return
	}
	u.Path = "/" + name
	pg.dbName, pg.dbURL = name, u.String()
}

// dropDatabase drops this run's database and any slot left in it.
func dropDatabase() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.admin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgsource tests: cannot drop database", pg.dbName, err)
		return
	}
	defer conn.Close(ctx)
	for i := 0; i < 50; i++ {
		_, err = conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`, pg.dbName)
		if err == nil {
			_, err = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, pg.dbName)
		}
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pg.dbName+" WITH (FORCE)"); err != nil {
		fmt.Fprintln(os.Stderr, "pgsource tests: cannot drop database", pg.dbName, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fixture is one test's schema, table, publication and slot.
type fixture struct {
	t      testing.TB
	url    string
	db     *pgx.Conn
	name   string // schema, publication and slot name
	table  string // schema-qualified table name
	logs   *logBuffer
	status time.Duration
}

// newFixture creates schema.tab with the column definitions cols, a
// publication of it and a permanent slot (before anything is published).
func newFixture(t testing.TB, cols string, full bool) *fixture {
	t.Helper()
	dbURL := requirePG(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	name := "pgs_" + randomHex(6)
	f := &fixture{t: t, url: dbURL, db: conn, name: name, table: name + ".tab", logs: &logBuffer{}, status: 100 * time.Millisecond}
	t.Cleanup(f.cleanup)
	f.exec(ctx, "CREATE SCHEMA "+name)
	f.exec(ctx, "CREATE TABLE "+f.table+" ("+cols+")")
	if full {
		f.exec(ctx, "ALTER TABLE "+f.table+" REPLICA IDENTITY FULL")
	}
	f.exec(ctx, "CREATE PUBLICATION "+name+" FOR TABLE "+f.table)
	f.exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", name)
	return f
}

func (f *fixture) exec(ctx context.Context, sql string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// tx runs stmts in one transaction.
func (f *fixture) tx(ctx context.Context, stmts ...string) {
	f.t.Helper()
	err := pgx.BeginFunc(ctx, f.db, func(tx pgx.Tx) error {
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	for i := 0; i < 50; i++ {
		_, err = f.db.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`, f.name)
		if err == nil {
			_, err = f.db.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, f.name)
		}
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		f.t.Errorf("drop slot %s: %v", f.name, err)
	}
	_, _ = f.db.Exec(ctx, "DROP PUBLICATION IF EXISTS "+f.name)
	_, _ = f.db.Exec(ctx, "DROP SCHEMA IF EXISTS "+f.name+" CASCADE")
	_ = f.db.Close(ctx)
	if strings.Contains(f.logs.String(), canary) {
		f.t.Errorf("the Source's log output holds the canary (PHI from a row)")
	}
}

// open opens a Source on the fixture's slot, closed when the test ends.
func (f *fixture) open(ctx context.Context, opts *pgsource.Options) *pgsource.Source {
	f.t.Helper()
	o := pgsource.Options{StatusInterval: f.status, Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if opts != nil {
		o = *opts
		if o.Logger == nil {
			o.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
		}
		if o.StatusInterval == 0 {
			o.StatusInterval = f.status
		}
	}
	src, err := pgsource.Open(ctx, f.url, f.name, f.name, &o)
	if err != nil {
		f.t.Fatalf("Open: %v", err)
	}
	f.t.Cleanup(func() { _ = src.Close() })
	return src
}

// confirmed returns the slot's confirmed_flush_lsn.
func (f *fixture) confirmed(ctx context.Context) pglogrepl.LSN {
	f.t.Helper()
	var s string
	if err := f.db.QueryRow(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", f.name).Scan(&s); err != nil {
		f.t.Fatalf("confirmed_flush_lsn: %v", err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		f.t.Fatal(err)
	}
	return lsn
}

// waitConfirmed polls until the slot's confirmed_flush_lsn satisfies ok.
func (f *fixture) waitConfirmed(ctx context.Context, what string, ok func(pglogrepl.LSN) bool) pglogrepl.LSN {
	f.t.Helper()
	for {
		lsn := f.confirmed(ctx)
		if ok(lsn) {
			return lsn
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("confirmed_flush_lsn %s never %s", lsn, what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// replies returns the time of the last standby status update the server
// received on the slot's walsender (pg_stat_replication.reply_time).
func (f *fixture) replyTime(ctx context.Context) time.Time {
	f.t.Helper()
	var at *time.Time
	err := f.db.QueryRow(ctx, `SELECT r.reply_time FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = $1`, f.name).Scan(&at)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		f.t.Fatalf("reply_time: %v", err)
	}
	if at == nil {
		return time.Time{}
	}
	return *at
}

// waitStatusUpdates waits until the server has received n status updates
// sent after now.
func (f *fixture) waitStatusUpdates(ctx context.Context, n int) {
	f.t.Helper()
	last := time.Now()
	for seen := 0; seen < n; {
		if at := f.replyTime(ctx); at.After(last) {
			seen++
			last = at
			continue
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("the server received %d status updates, want %d", seen, n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// walsenderPID returns the pid of the walsender streaming the fixture's
// slot (pg_stat_replication joined to the slot's active_pid), 0 when none.
func (f *fixture) walsenderPID(ctx context.Context) int {
	f.t.Helper()
	var pid int
	err := f.db.QueryRow(ctx, `SELECT r.pid FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = $1`, f.name).Scan(&pid)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		f.t.Fatalf("walsender pid: %v", err)
	}
	return pid
}

// terminateWalsender terminates the slot's walsender
// (pg_terminate_backend) and waits until it no longer holds the slot. It
// returns the terminated pid.
func (f *fixture) terminateWalsender(ctx context.Context) int {
	f.t.Helper()
	pid := f.walsenderPID(ctx)
	if pid == 0 {
		f.t.Fatal("no walsender streams the slot")
	}
	var ok bool
	if err := f.db.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
		f.t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
	f.waitWalsender(ctx, "released by the terminated walsender", func(p int) bool { return p != pid })
	return pid
}

// waitWalsender polls until the pid holding the slot (0: none, or no slot)
// satisfies ok.
func (f *fixture) waitWalsender(ctx context.Context, what string, ok func(pid int) bool) int {
	f.t.Helper()
	for {
		var pid *int // nil also when the slot is gone (a temporary slot)
		if err := f.db.QueryRow(ctx, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", f.name).Scan(&pid); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			f.t.Fatalf("active_pid: %v", err)
		}
		p := 0
		if pid != nil {
			p = *pid
		}
		if ok(p) {
			return p
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("the slot was never %s (active_pid %d)", what, p)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// reopen opens a Source on the fixture's slot, retrying while a
// terminated walsender still holds the slot.
func (f *fixture) reopen(ctx context.Context, opts *pgsource.Options) *pgsource.Source {
	f.t.Helper()
	o := pgsource.Options{StatusInterval: f.status}
	if opts != nil {
		o = *opts
	}
	o.Logger = f.logger()
	for {
		src, err := pgsource.Open(ctx, f.url, f.name, f.name, &o)
		if err == nil {
			f.t.Cleanup(func() { _ = src.Close() })
			return src
		}
		if ctx.Err() != nil {
			f.t.Fatalf("reopen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// confirmedMonitor samples the slot's confirmed_flush_lsn on its own
// connection until stopped.
type confirmedMonitor struct {
	stop    context.CancelFunc
	done    chan struct{}
	samples []pglogrepl.LSN
	err     error
}

func (f *fixture) monitorConfirmed(ctx context.Context) *confirmedMonitor {
	f.t.Helper()
	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		f.t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	m := &confirmedMonitor{stop: stop, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		defer conn.Close(context.Background())
		for mctx.Err() == nil {
			var s string
			if err := conn.QueryRow(mctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", f.name).Scan(&s); err != nil {
				if mctx.Err() == nil {
					m.err = err
				}
				return
			}
			lsn, err := pglogrepl.ParseLSN(s)
			if err != nil {
				m.err = err
				return
			}
			m.samples = append(m.samples, lsn)
			select {
			case <-mctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return m
}

// check stops the monitor and fails the test unless the confirmed position
// never moved backwards.
func (m *confirmedMonitor) check(t testing.TB) {
	t.Helper()
	m.stop()
	<-m.done
	if m.err != nil {
		t.Fatalf("monitoring confirmed_flush_lsn: %v", m.err)
	}
	if len(m.samples) < 10 {
		t.Fatalf("only %d samples of confirmed_flush_lsn", len(m.samples))
	}
	for i := 1; i < len(m.samples); i++ {
		if m.samples[i] < m.samples[i-1] {
			t.Fatalf("confirmed_flush_lsn moved backwards: %s after %s (sample %d of %d)", m.samples[i], m.samples[i-1], i, len(m.samples))
		}
	}
}

// logger returns a logger writing to the fixture's log buffer, whose
// cleanup checks it for the canary.
func (f *fixture) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
