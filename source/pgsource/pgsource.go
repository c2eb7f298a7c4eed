package pgsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fhirsync/fhirsync/source"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgproto3"
	"go.opentelemetry.io/otel/metric"
)

// Errors of Open. They are wrapped with the slot or publication name.
var (
	// ErrNotLogical: the server's wal_level is not logical (set it with
	// ALTER SYSTEM SET wal_level = logical and restart the server).
	ErrNotLogical = errors.New("pgsource: wal_level is not logical")
	// ErrNoSlot: the replication slot does not exist and Options.CreateSlot
	// is false.
	ErrNoSlot = errors.New("pgsource: replication slot does not exist")
	// ErrNoPublication: the publication does not exist and
	// Options.CreatePublication is false.
	ErrNoPublication = errors.New("pgsource: publication does not exist")
	// ErrSlotMismatch: the slot exists but uses another output plugin than
	// pgoutput, or belongs to another database.
	ErrSlotMismatch = errors.New("pgsource: replication slot is not a pgoutput slot of this database")
	// ErrInvalidName: a slot name is not 1 to 63 of [a-z0-9_], or a
	// publication or table name is empty, too long or holds a NUL byte.
	ErrInvalidName = errors.New("pgsource: invalid name")
)

// Defaults of Options.
const (
	DefaultStatusInterval    = 10 * time.Second
	DefaultMaxBatch          = 100
	DefaultBufferSize        = 1000
	DefaultReconnectDelay    = 500 * time.Millisecond
	DefaultMaxReconnectDelay = 30 * time.Second
)

// closeTimeout bounds the end of the stream and the connection's close.
const closeTimeout = 5 * time.Second

// statusWriteTimeout bounds the write of one status update.
const statusWriteTimeout = 10 * time.Second

// Options are a Source's optional settings; the zero value (or nil) means
// defaults.
type Options struct {
	// CreateSlot creates the replication slot (plugin pgoutput) when it does
	// not exist. A new slot streams changes committed after its creation;
	// rows that existed before are not read (backfill them separately).
	CreateSlot bool
	// TemporarySlot makes a slot created by CreateSlot temporary: Postgres
	// drops it when this Source's connection closes, so nothing pins WAL
	// after a crash, but its position is lost with it: a restart does not
	// resume and changes made while no Source runs are never delivered.
	// For tests and throwaway consumers; production needs a permanent slot
	// for at-least-once delivery across restarts.
	TemporarySlot bool
	// CreatePublication creates the publication when it does not exist: FOR
	// TABLE PublicationTables, or FOR ALL TABLES (superuser only) when that is
	// empty.
	CreatePublication bool
	// PublicationTables are the tables of a publication CreatePublication
	// creates, each "table" or "schema.table" (names are quoted; a name
	// holding a dot is not supported).
	PublicationTables []string
	// StatusInterval is how often a standby status update (the confirmed
	// position, and a heartbeat) is sent, idle or not; DefaultStatusInterval
	// when zero. Keep it well under the server's wal_sender_timeout (60s by
	// default).
	StatusInterval time.Duration
	// MaxBatch is the most messages one Read returns; DefaultMaxBatch when
	// zero.
	MaxBatch int
	// BufferSize is how many decoded changes wait for Read before the stream
	// is paused (status updates continue); DefaultBufferSize when zero.
	BufferSize int
	// Logger receives lifecycle events (positions, slot and publication
	// names, error kinds; never values), among them each lost connection
	// and reconnection attempt. Nil discards them.
	Logger *slog.Logger

	// MaxReconnects is how many reconnection attempts in a row are made
	// after the replication connection is lost before the Source gives up
	// (Read then returns a [*StreamError]); 0 means no limit (attempts go on
	// until Close), a negative value disables reconnection (a lost
	// connection ends the Source at once). An attempt that connects but
	// whose connection is lost again before a transaction was confirmed on
	// it, and within MaxReconnectDelay, counts as failed: the row goes on.
	MaxReconnects int
	// ReconnectDelay is the delay before the first reconnection attempt;
	// each failed attempt (see MaxReconnects) doubles it, up to
	// MaxReconnectDelay, and every delay is varied by up to ±20% so that
	// several Sources do not retry in step. DefaultReconnectDelay when
	// zero.
	ReconnectDelay time.Duration
	// MaxReconnectDelay caps the delay between reconnection attempts;
	// DefaultMaxReconnectDelay when zero.
	MaxReconnectDelay time.Duration
	// ServerTimeout is how long the Source waits for any message from the
	// server (each status update asks it for a reply) before it takes the
	// connection for lost and reconnects: a network cut that drops packets
	// without resetting the connection is otherwise noticed only by TCP,
	// after many minutes. When zero it is twice the server's
	// wal_sender_timeout, read at each connection (the server answers
	// within about half of that even while it decodes a large
	// transaction), and disabled when that is 0; a negative value disables
	// it. It is never less than three StatusIntervals.
	ServerTimeout time.Duration
	// MeterProvider receives the Source's metrics (see the package doc's
	// # Reconnection section); nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
}

// Source reads row changes from a Postgres logical replication slot. It is
// safe for concurrent use.
type Source struct {
	cfg         *pgconn.Config // the replication connection's configuration, for reconnecting
	slot        string
	publication string
	db          string
	systemID    string // the server's system identifier and timeline at the last
	timeline    int32  // connection: while they stay the same, so does the WAL history
	opts        Options
	log         *slog.Logger
	reconnects  metric.Int64Counter
	sess        *session // the current connection; pump only once started

	mu     sync.Mutex
	queue  []*source.Message // messages of the current session only
	err    error             // terminal *StreamError, returned by Read
	closed bool
	ready  chan struct{} // cap 1: the queue changed (wakes one Read; done wakes all)
	room   chan struct{} // cap 1: the queue fell below BufferSize

	stopCtx   context.Context // cancelled by Close: ends the pump
	stop      context.CancelFunc
	done      chan struct{} // closed when the pump has ended
	closeErr  error         // set by the pump before done closes
	closeOnce sync.Once
}

// session is one replication connection and what was received on it: its
// own tracker and decoder, so that nothing of a lost connection (its
// half-received transaction, its messages' acks) reaches the next one.
type session struct {
	conn     *pgconn.PgConn
	tr       *tracker
	dec      *decoder
	start    pglogrepl.LSN // where replication started
	slotLSN  pglogrepl.LSN // the slot's confirmed position then
	recvd    pglogrepl.LSN // highest WAL position received; pump only
	timeout  time.Duration // the effective ServerTimeout; 0: none
	lastRecv time.Time     // when the server last sent anything; pump only
	began    time.Time     // when streaming began; pump only
	dead     bool          // guarded by Source.mu: the connection was lost, its messages are no longer queued
}

var _ source.Source = (*Source)(nil)

var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// Open connects with connString (a keyword/value or URL connection string,
// see [pgconn.ParseConfig]) as a logical replication connection and starts
// streaming slot through publication from the slot's confirmed position.
// See [OpenConfig].
func Open(ctx context.Context, connString, slot, publication string, opts *Options) (*Source, error) {
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("pgsource: connection string: %w", err)
	}
	return OpenConfig(ctx, cfg, slot, publication, opts)
}

// OpenConfig is [Open] with a parsed connection configuration, for TLS,
// authentication or dialing set in code. cfg is copied; the copy gets the
// runtime parameters a replication connection needs (replication=database,
// TimeZone=UTC, DateStyle=ISO, IntervalStyle=iso_8601, bytea_output=hex,
// extra_float_digits=3) and context cancellation by deadline, and is used
// again for every reconnection.
//
// Open's errors are not retried: a server that cannot be reached, or a slot
// or publication that is missing, is the caller's to handle.
func OpenConfig(ctx context.Context, cfg *pgconn.Config, slot, publication string, opts *Options) (*Source, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = DefaultStatusInterval
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.ReconnectDelay <= 0 {
		o.ReconnectDelay = DefaultReconnectDelay
	}
	if o.MaxReconnectDelay <= 0 {
		o.MaxReconnectDelay = DefaultMaxReconnectDelay
	}
	o.MaxReconnectDelay = max(o.MaxReconnectDelay, o.ReconnectDelay)
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !slotName.MatchString(slot) {
		return nil, fmt.Errorf("%w: slot name must be 1 to 63 of [a-z0-9_]", ErrInvalidName)
	}
	if err := checkName(publication); err != nil {
		return nil, fmt.Errorf("%w: publication name", err)
	}

	cfg = cfg.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	for k, v := range map[string]string{
		"replication": "database", "TimeZone": "UTC", "DateStyle": "ISO", "IntervalStyle": "iso_8601",
		"bytea_output": "hex", "extra_float_digits": "3", "standard_conforming_strings": "on",
	} {
		cfg.RuntimeParams[k] = v
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "fhirsync-pgsource"
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	s := &Source{
		cfg: cfg, slot: slot, publication: publication, opts: o, log: log,
		reconnects: newReconnectCounter(o.MeterProvider),
		ready:      make(chan struct{}, 1), room: make(chan struct{}, 1), done: make(chan struct{}),
	}
	sess, err := s.connect(ctx, true, 0)
	if err != nil {
		return nil, err
	}
	s.sess = sess
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// connect opens a replication connection and starts streaming the slot
// from its confirmed position, or from resume, the position a lost
// connection had confirmed, when that is further and the server's WAL
// history is the one it was confirmed on (see start). Only the first
// connection (create) may create the publication and the slot: a slot or
// publication missing on a reconnection was dropped, and creating it again
// would skip every change made meanwhile.
func (s *Source) connect(ctx context.Context, create bool, resume pglogrepl.LSN) (*session, error) {
	conn, err := pgconn.ConnectConfig(ctx, s.cfg)
	if err != nil {
		return nil, fmt.Errorf("pgsource: connect: %w", err)
	}
	sess, err := s.start(ctx, conn, create, resume)
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = conn.Close(closeCtx)
		cancel()
		return nil, err
	}
	return sess, nil
}

// start checks the server, the publication and the slot and starts
// replication on conn.
//
// On a reconnection, the lost connection may have confirmed more than it
// could report to the server (status updates go every StatusInterval).
// That position is a sound start, so those changes need not come again,
// while the server's WAL history is the one it was confirmed on: same
// system identifier and timeline. A failover to a promoted standby (a new
// timeline) may have lost WAL that was confirmed on the old primary, and
// positions past its own WAL would skip transactions it commits there: then
// replication starts from the slot's position as the server has it.
func (s *Source) start(ctx context.Context, conn *pgconn.PgConn, create bool, resume pglogrepl.LSN) (*session, error) {
	o := s.opts
	if !create {
		o.CreateSlot, o.CreatePublication = false, false
	}
	if rows, err := query(ctx, conn, "SHOW wal_level"); err != nil {
		return nil, fmt.Errorf("pgsource: show wal_level: %w", err)
	} else if len(rows) != 1 || len(rows[0]) != 1 || string(rows[0][0]) != "logical" {
		return nil, fmt.Errorf("%w (set it with ALTER SYSTEM SET wal_level = logical and restart the server)", ErrNotLogical)
	}
	sys, err := pglogrepl.IdentifySystem(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("pgsource: identify system: %w", err)
	}
	if s.db != "" && sys.DBName != s.db {
		return nil, fmt.Errorf("%w: %s (the connection reached another database)", ErrSlotMismatch, s.slot)
	}
	timeout, err := s.serverTimeout(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := ensurePublication(ctx, conn, s.publication, o, s.log); err != nil {
		return nil, err
	}
	slotLSN, err := ensureSlot(ctx, conn, s.slot, sys.DBName, o, s.log)
	if err != nil {
		return nil, err
	}
	startLSN := slotLSN
	if !create && resume > slotLSN {
		if sys.SystemID == s.systemID && sys.Timeline == s.timeline {
			startLSN = resume
		} else {
			s.log.Warn("pgsource: the server's WAL history changed (a failover or a restore): resuming from the slot's position, changes confirmed since come again",
				"slot", s.slot, "timeline", sys.Timeline, "previous_timeline", s.timeline, "lsn", slotLSN.String(), "confirmed", resume.String())
		}
	}
	err = pglogrepl.StartReplication(ctx, conn, s.slot, startLSN, pglogrepl.StartReplicationOptions{
		Mode:       pglogrepl.LogicalReplication,
		PluginArgs: []string{"proto_version '1'", "publication_names " + quoteLiteral(quoteIdent(s.publication))},
	})
	if err != nil {
		return nil, fmt.Errorf("pgsource: start replication of slot %s: %w", s.slot, err)
	}
	s.log.Info("pgsource: replication started", "slot", s.slot, "publication", s.publication, "lsn", startLSN.String())
	s.db, s.systemID, s.timeline = sys.DBName, sys.SystemID, sys.Timeline
	tr := newTracker(startLSN)
	return &session{conn: conn, tr: tr, dec: newDecoder(tr), start: startLSN, slotLSN: slotLSN, recvd: startLSN, timeout: timeout}, nil
}

// serverTimeout returns the effective Options.ServerTimeout for a
// connection (0: none).
func (s *Source) serverTimeout(ctx context.Context, conn *pgconn.PgConn) (time.Duration, error) {
	d := s.opts.ServerTimeout
	if d < 0 {
		return 0, nil
	}
	if d == 0 {
		rows, err := query(ctx, conn, "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_sender_timeout'")
		if err != nil {
			return 0, fmt.Errorf("pgsource: read wal_sender_timeout: %w", err)
		}
		if len(rows) != 1 || len(rows[0]) != 1 {
			return 0, nil
		}
		ms, err := strconv.ParseInt(string(rows[0][0]), 10, 64)
		if err != nil || ms <= 0 {
			return 0, nil // unknown, or disabled on the server: the server may be silent for any time
		}
		d = 2 * time.Duration(ms) * time.Millisecond
	}
	return max(d, 3*s.opts.StatusInterval), nil
}

func ensurePublication(ctx context.Context, conn *pgconn.PgConn, publication string, o Options, log *slog.Logger) error {
	rows, err := query(ctx, conn, "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = "+quoteLiteral(publication))
	if err != nil {
		return fmt.Errorf("pgsource: look up publication %s: %w", publication, err)
	}
	if len(rows) > 0 {
		return nil
	}
	if !o.CreatePublication {
		return fmt.Errorf("%w: %s", ErrNoPublication, publication)
	}
	sql := "CREATE PUBLICATION " + quoteIdent(publication) + " FOR ALL TABLES"
	if len(o.PublicationTables) > 0 {
		names := make([]string, len(o.PublicationTables))
		for i, t := range o.PublicationTables {
			parts := strings.Split(t, ".")
			if len(parts) > 2 {
				return fmt.Errorf("%w: publication table %q is not table or schema.table", ErrInvalidName, t)
			}
			for j, p := range parts {
				if err := checkName(p); err != nil {
					return fmt.Errorf("%w: publication table", err)
				}
				parts[j] = quoteIdent(p)
			}
			names[i] = strings.Join(parts, ".")
		}
		sql = "CREATE PUBLICATION " + quoteIdent(publication) + " FOR TABLE " + strings.Join(names, ", ")
	}
	if _, err := query(ctx, conn, sql); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42710" { // duplicate_object: created meanwhile
			return nil
		}
		return fmt.Errorf("pgsource: create publication %s: %w", publication, err)
	}
	log.Info("pgsource: publication created", "publication", publication)
	return nil
}

// ensureSlot checks (or creates) the slot and returns the position to start
// from: its confirmed_flush_lsn, or a new slot's consistent point.
func ensureSlot(ctx context.Context, conn *pgconn.PgConn, slot, db string, o Options, log *slog.Logger) (pglogrepl.LSN, error) {
	for attempt := 0; ; attempt++ {
		rows, err := query(ctx, conn, "SELECT plugin, database, confirmed_flush_lsn FROM pg_catalog.pg_replication_slots WHERE slot_type = 'logical' AND slot_name = "+quoteLiteral(slot))
		if err != nil {
			return 0, fmt.Errorf("pgsource: look up slot %s: %w", slot, err)
		}
		if len(rows) > 0 {
			r := rows[0]
			if len(r) != 3 || string(r[0]) != "pgoutput" || string(r[1]) != db {
				return 0, fmt.Errorf("%w: %s", ErrSlotMismatch, slot)
			}
			if r[2] == nil {
				return 0, nil // let the server start where the slot is
			}
			lsn, err := pglogrepl.ParseLSN(string(r[2]))
			if err != nil {
				return 0, fmt.Errorf("pgsource: slot %s: confirmed_flush_lsn is not an LSN", slot)
			}
			return lsn, nil
		}
		if !o.CreateSlot {
			return 0, fmt.Errorf("%w: %s", ErrNoSlot, slot)
		}
		res, err := pglogrepl.CreateReplicationSlot(ctx, conn, slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
			Temporary: o.TemporarySlot, SnapshotAction: "NOEXPORT_SNAPSHOT", Mode: pglogrepl.LogicalReplication,
		})
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42710" && attempt == 0 { // created meanwhile
				continue
			}
			return 0, fmt.Errorf("pgsource: create slot %s: %w", slot, err)
		}
		lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
		if err != nil {
			return 0, fmt.Errorf("pgsource: create slot %s: consistent point is not an LSN", slot)
		}
		log.Info("pgsource: slot created", "slot", slot, "temporary", o.TemporarySlot, "lsn", lsn.String())
		return lsn, nil
	}
}

// query runs sql with the simple protocol and returns the rows of its last
// result.
func query(ctx context.Context, conn *pgconn.PgConn, sql string) ([][][]byte, error) {
	results, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(results) == 0 {
		return nil, nil
	}
	return results[len(results)-1].Rows, nil
}

func checkName(s string) error {
	if s == "" || len(s) > 63 || strings.IndexByte(s, 0) >= 0 {
		return ErrInvalidName
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// Read returns the next decoded changes, up to Options.MaxBatch, blocking
// until at least one is available or ctx is done (ctx.Err() is returned).
// While a lost connection is being re-established, Read waits (see the
// package doc's # Reconnection section). After Close it returns
// [source.ErrClosed]. When the Source has stopped streaming for good (a
// permanent failure, or reconnection disabled or given up), Read returns a
// [*StreamError] on every call: Close the Source.
func (s *Source) Read(ctx context.Context) ([]*source.Message, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, source.ErrClosed
		}
		if n := len(s.queue); n > 0 {
			k := min(n, s.opts.MaxBatch)
			batch := s.queue[:k:k]
			if k == n {
				s.queue = nil
			} else {
				s.queue = s.queue[k:]
				signal(s.ready) // another reader may take the rest
			}
			if len(s.queue) < s.opts.BufferSize {
				signal(s.room)
			}
			s.mu.Unlock()
			return batch, nil
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.ready:
		case <-s.stopCtx.Done(): // Close
		case <-s.done: // the pump ended: wakes every blocked Read, where ready wakes one
		}
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Close sends a final standby status update with the confirmed position,
// ends the replication stream (which releases the slot before Close
// returns, so another Source can open it at once) and closes the
// connection. A transaction whose delivered changes are all acked but whose
// Commit had not been read yet is read to its end first (for at most 5 s),
// so it is confirmed. Messages not acked by then are delivered again by the
// next Source on the slot; an Ack or Nack after Close returns an error
// wrapping [source.ErrClosed]. Close during a reconnection stops it. Close
// returns an error only when the final status update fails (while the
// connection is lost, or after the Source stopped streaming, there is none
// to send and it returns nil). Close is idempotent: later calls return nil.
func (s *Source) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.stop()
		<-s.done
		err = s.closeErr
	})
	return err
}

// run is the pump: the only goroutine using the connection. It streams the
// current session until Close or a failure; after a failure that
// reconnecting may fix it reconnects and streams the new session.
//
// A session lost before it proved itself (no transaction confirmed on it,
// and up for less than MaxReconnectDelay) does not end the run of failed
// attempts: the next reconnection continues its back-off and its count
// toward MaxReconnects. Otherwise a server that fails every stream at once
// would be reconnected to every ReconnectDelay for ever.
func (s *Source) run() {
	defer close(s.done)
	attempts := 0 // reconnection attempts in a row without a session that proved itself
	for {
		sess := s.sess
		err := s.stream(sess)
		if err == nil { // Close
			s.closeErr = s.shutdown(sess)
			return
		}
		confirmed := s.drop(sess, err)
		if s.stopCtx.Err() != nil {
			return
		}
		if sess.tr.progressed() || time.Since(sess.began) >= s.opts.MaxReconnectDelay {
			attempts = 0
		}
		if permanent(err) || s.opts.MaxReconnects < 0 {
			s.fail(&StreamError{Slot: s.slot, Permanent: permanent(err), Attempts: attempts, Err: s.explain(err)})
			return
		}
		next, n, serr := s.reconnect(confirmed, attempts, err)
		attempts = n
		if serr != nil {
			serr.Err = s.explain(serr.Err)
			s.fail(serr)
			return
		}
		if next == nil { // Close
			return
		}
		s.sess = next
	}
}

// stream receives sess's stream, decodes it into the queue Read takes from,
// answers keepalives and sends status updates every StatusInterval, until
// Close (it returns nil) or a failure (it returns the error).
func (s *Source) stream(sess *session) error {
	interval := s.opts.StatusInterval
	next := time.Now() // a status update at once: heartbeats resume with the connection
	sess.lastRecv = next
	sess.began = next
	for s.stopCtx.Err() == nil {
		if !time.Now().Before(next) {
			if err := s.sendStatus(sess, sess.tr.position()); err != nil {
				return fmt.Errorf("pgsource: send status update: %w", err)
			}
			next = time.Now().Add(interval)
		}
		if s.full() {
			t := time.NewTimer(time.Until(next))
			select {
			case <-s.room:
			case <-s.stopCtx.Done():
			case <-t.C:
			}
			t.Stop()
			// Nothing is read while paused, so the server's silence does
			// not count.
			sess.lastRecv = time.Now()
			continue
		}
		deadline := next
		if sess.timeout > 0 {
			deadline = minTime(deadline, sess.lastRecv.Add(sess.timeout))
		}
		rctx, cancel := context.WithDeadline(s.stopCtx, deadline)
		msg, err := sess.conn.ReceiveMessage(rctx)
		expired := rctx.Err() != nil
		cancel()
		if err != nil {
			if expired || pgconn.Timeout(err) {
				if sess.timeout > 0 && s.stopCtx.Err() == nil && time.Since(sess.lastRecv) >= sess.timeout {
					return fmt.Errorf("%w: nothing received for %s", ErrServerTimeout, sess.timeout)
				}
				continue // status due, or Close: the connection is intact
			}
			return fmt.Errorf("pgsource: replication stream: %w", err)
		}
		sess.lastRecv = time.Now()
		if err := s.handle(sess, msg, &next); err != nil {
			return err
		}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (s *Source) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) >= s.opts.BufferSize
}

// handle processes one message of sess's stream.
func (s *Source) handle(sess *session, msg pgproto3.BackendMessage, next *time.Time) error {
	switch m := msg.(type) {
	case *pgproto3.CopyData:
		if len(m.Data) == 0 {
			return fmt.Errorf("%w: empty CopyData", ErrProtocol)
		}
		switch m.Data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			k, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
			if err != nil {
				return fmt.Errorf("%w: malformed keepalive", ErrProtocol)
			}
			sess.tr.idle(k.ServerWALEnd)
			if k.ReplyRequested {
				*next = time.Now()
			}
		case pglogrepl.XLogDataByteID:
			x, err := pglogrepl.ParseXLogData(m.Data[1:])
			if err != nil {
				return fmt.Errorf("%w: malformed XLogData", ErrProtocol)
			}
			if x.WALStart > sess.recvd {
				sess.recvd = x.WALStart
			}
			changes, err := sess.dec.decode(x.WALStart, x.WALData)
			if err != nil {
				return err
			}
			if len(changes) > 0 {
				s.deliver(sess, changes)
			}
		}
	case *pgproto3.ErrorResponse:
		return fmt.Errorf("pgsource: replication stream: %w", pgconn.ErrorResponseToPgError(m))
	case *pgproto3.CopyDone:
		return errStreamEnded
	}
	return nil
}

// errStreamEnded: the server ended the stream (CopyDone) without an error,
// as a walsender may when the server shuts down.
var errStreamEnded = errors.New("pgsource: the server ended the replication stream")

// deliver turns changes into messages and queues them for Read.
func (s *Source) deliver(sess *session, changes []*change) {
	now := time.Now()
	ms := make([]*source.Message, len(changes))
	for i, c := range changes {
		ms[i] = s.message(sess, c, c.body(s.db, now))
	}
	s.mu.Lock()
	s.queue = append(s.queue, ms...)
	s.mu.Unlock()
	signal(s.ready)
}

// message returns a new, unsettled message for change c of sess with body.
func (s *Source) message(sess *session, c *change, body []byte) *source.Message {
	return source.NewMessage(c.id(), body, c.metadata(), s.ackFunc(sess, c, body), asFunc(c))
}

// ackFunc settles change c of sess. A nack puts a new message for it (same
// ID and body) at the head of the queue: the change stays unacked, so
// nothing from its transaction on is confirmed until that message is acked.
// A settlement of a change whose connection was lost counts for nothing and
// returns nil: the change comes again from the next connection, which
// starts before its transaction.
func (s *Source) ackFunc(sess *session, c *change, body []byte) source.AckFunc {
	tx := c.tx
	return func(_ context.Context, err error) error {
		if !sess.tr.settle(tx, err != nil) {
			if s.ended() {
				return fmt.Errorf("pgsource: settled change %s after Close or the end of the stream: it will be delivered again: %w", c.id(), source.ErrClosed)
			}
			return nil
		}
		if err != nil {
			m := s.message(sess, c, body)
			s.mu.Lock()
			if !sess.dead { // else its connection was lost meanwhile: it comes again from the next
				s.queue = append([]*source.Message{m}, s.queue...)
			}
			s.mu.Unlock()
			signal(s.ready)
		}
		return nil
	}
}

// ended reports whether the Source is closed or stopped streaming for good.
func (s *Source) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed || s.err != nil
}

func asFunc(c *change) func(any) bool {
	return func(target any) bool {
		switch t := target.(type) {
		case **Change:
			*t = c.public()
			return true
		case *pglogrepl.Message:
			*t = c.native
			return true
		}
		return false
	}
}

// drop retires the session of a failed connection: its settlements stop
// counting, the messages it queued and Read did not take are dropped (they
// are unacked, so the next connection delivers them again), and its
// connection is closed. It returns the position the session had confirmed.
func (s *Source) drop(sess *session, cause error) pglogrepl.LSN {
	sess.tr.close()
	confirmed := sess.tr.position()
	s.mu.Lock()
	sess.dead = true
	dropped := len(s.queue)
	s.queue = nil
	s.mu.Unlock()
	signal(s.room)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = sess.conn.Close(ctx)
	cancel()
	if s.stopCtx.Err() == nil {
		s.log.Warn("pgsource: replication stream failed", "slot", s.slot, "err", cause,
			"permanent", permanent(cause), "confirmed", confirmed.String(), "dropped", dropped)
	}
	return confirmed
}

// fail records the Source's terminal error for Read.
func (s *Source) fail(err *StreamError) {
	s.log.Error("pgsource: replication failed for good", "slot", s.slot, "err", err, "permanent", err.Permanent, "attempts", err.Attempts)
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	signal(s.ready)
}

// sendStatus reports flushed (the confirmed position) as flushed and
// applied. Written is what was received, never less than flushed. With a
// ServerTimeout it asks the server for a reply, so that a live connection
// is never silent for long.
func (s *Source) sendStatus(sess *session, flushed pglogrepl.LSN) error {
	written := max(sess.recvd, flushed)
	if flushed == 0 {
		written = 0 // pglogrepl would report a zero flush position as written
	}
	// A write that cannot go out for this long means a dead connection;
	// without a deadline it would block the pump, and Close, for good.
	_ = sess.conn.Conn().SetWriteDeadline(time.Now().Add(statusWriteTimeout))
	defer func() { _ = sess.conn.Conn().SetWriteDeadline(time.Time{}) }()
	return pglogrepl.SendStandbyStatusUpdate(context.Background(), sess.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: written, WALFlushPosition: flushed, WALApplyPosition: flushed,
		ReplyRequested: sess.timeout > 0,
	})
}

// shutdown sends the final status update of sess, ends the stream (the
// server then releases the slot) and closes the connection.
func (s *Source) shutdown(sess *session) error {
	sess.tr.close()
	var err error
	ok := s.finishTxn(sess)
	if ok {
		final := sess.tr.position()
		if err = s.sendStatus(sess, final); err == nil {
			_ = sess.conn.Conn().SetDeadline(time.Now().Add(closeTimeout))
			if _, cerr := pglogrepl.SendStandbyCopyDone(context.Background(), sess.conn); cerr != nil {
				err = cerr
			}
		}
		if err != nil {
			err = fmt.Errorf("pgsource: final status update of slot %s: %w", s.slot, err)
		}
		s.log.Info("pgsource: replication stopped", "slot", s.slot, "lsn", final.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = sess.conn.Close(ctx)
	return err
}

// finishTxn, on Close, reads on while a transaction is half received and
// every change of it delivered so far is acked: its Commit is usually in
// flight already (pgoutput sends a transaction at once), and without it the
// transaction, although fully acked, would come again after a restart. It
// stops at a further change (which was never delivered), at the Commit, or
// after closeTimeout. It reports false when the stream failed meanwhile.
func (s *Source) finishTxn(sess *session) bool {
	deadline := time.Now().Add(closeTimeout)
	for sess.dec.inTxn && sess.tr.settledSoFar(sess.dec.tx) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		msg, err := sess.conn.ReceiveMessage(ctx)
		expired := ctx.Err() != nil
		cancel()
		if err != nil {
			return expired || pgconn.Timeout(err)
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok {
			_, isErr := msg.(*pgproto3.ErrorResponse)
			return !isErr
		}
		if len(cd.Data) == 0 || cd.Data[0] != pglogrepl.XLogDataByteID {
			continue
		}
		x, err := pglogrepl.ParseXLogData(cd.Data[1:])
		if err != nil {
			return true
		}
		changes, err := sess.dec.decode(x.WALStart, x.WALData)
		if err != nil || len(changes) > 0 {
			return true
		}
	}
	return true
}
