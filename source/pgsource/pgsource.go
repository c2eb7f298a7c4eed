package pgsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/fhirsync/fhirsync/source"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgproto3"
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
	DefaultStatusInterval = 10 * time.Second
	DefaultMaxBatch       = 100
	DefaultBufferSize     = 1000
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
	// names, error kinds; never values). Nil discards them.
	Logger *slog.Logger
}

// Source reads row changes from a Postgres logical replication slot. It is
// safe for concurrent use.
type Source struct {
	conn   *pgconn.PgConn
	slot   string
	db     string
	opts   Options
	log    *slog.Logger
	tr     *tracker
	dec    *decoder
	recvd  pglogrepl.LSN // highest WAL position received; pump only
	failed bool          // the stream failed; pump only

	mu     sync.Mutex
	queue  []*source.Message
	err    error // terminal stream error, returned by Read once the queue is empty
	closed bool
	ready  chan struct{} // cap 1: queue or err changed
	room   chan struct{} // cap 1: the queue fell below BufferSize

	stopCtx   context.Context // cancelled by Close: ends the pump
	stop      context.CancelFunc
	done      chan struct{} // closed when the pump has ended
	closeErr  error         // set by the pump before done closes
	closeOnce sync.Once
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
// extra_float_digits=3) and context cancellation by deadline.
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
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgsource: connect: %w", err)
	}
	s, err := start(ctx, conn, slot, publication, o, log)
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = conn.Close(closeCtx)
		cancel()
		return nil, err
	}
	return s, nil
}

// start prepares the publication and slot and starts replication on conn.
func start(ctx context.Context, conn *pgconn.PgConn, slot, publication string, o Options, log *slog.Logger) (*Source, error) {
	if rows, err := query(ctx, conn, "SHOW wal_level"); err != nil {
		return nil, fmt.Errorf("pgsource: show wal_level: %w", err)
	} else if len(rows) != 1 || len(rows[0]) != 1 || string(rows[0][0]) != "logical" {
		return nil, fmt.Errorf("%w (set it with ALTER SYSTEM SET wal_level = logical and restart the server)", ErrNotLogical)
	}
	sys, err := pglogrepl.IdentifySystem(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("pgsource: identify system: %w", err)
	}
	if err := ensurePublication(ctx, conn, publication, o, log); err != nil {
		return nil, err
	}
	startLSN, err := ensureSlot(ctx, conn, slot, sys.DBName, o, log)
	if err != nil {
		return nil, err
	}
	err = pglogrepl.StartReplication(ctx, conn, slot, startLSN, pglogrepl.StartReplicationOptions{
		Mode:       pglogrepl.LogicalReplication,
		PluginArgs: []string{"proto_version '1'", "publication_names " + quoteLiteral(quoteIdent(publication))},
	})
	if err != nil {
		return nil, fmt.Errorf("pgsource: start replication of slot %s: %w", slot, err)
	}
	log.Info("pgsource: replication started", "slot", slot, "publication", publication, "lsn", startLSN.String())

	tr := newTracker(startLSN)
	s := &Source{
		conn: conn, slot: slot, db: sys.DBName, opts: o, log: log, tr: tr, dec: newDecoder(tr),
		recvd: startLSN,
		ready: make(chan struct{}, 1), room: make(chan struct{}, 1), done: make(chan struct{}),
	}
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	go s.run()
	return s, nil
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
// After Close it returns [source.ErrClosed]. When the replication stream
// fails, Read returns what was already decoded, then the stream's error on
// every call: the Source is dead; Close it and Open another, which resumes
// from the confirmed position.
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
		case <-s.stopCtx.Done():
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
// wrapping [source.ErrClosed]. Close returns an error only when the final
// status update fails (after a stream failure, which Read reported, it
// returns nil). Close is idempotent: later calls return nil.
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

// run is the pump: the only goroutine using the connection. It receives the
// stream, decodes it into the queue Read takes from, answers keepalives and
// sends status updates every StatusInterval, and on Close sends the final
// one.
func (s *Source) run() {
	defer close(s.done)
	interval := s.opts.StatusInterval
	next := time.Now().Add(interval)
	for s.stopCtx.Err() == nil {
		if !time.Now().Before(next) {
			if err := s.sendStatus(s.tr.position()); err != nil {
				s.fail(fmt.Errorf("pgsource: send status update: %w", err))
				break
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
			continue
		}
		rctx, cancel := context.WithDeadline(s.stopCtx, next)
		msg, err := s.conn.ReceiveMessage(rctx)
		expired := rctx.Err() != nil
		cancel()
		if err != nil {
			if expired || pgconn.Timeout(err) {
				continue // status due, or Close: the connection is intact
			}
			s.fail(fmt.Errorf("pgsource: replication stream: %w", err))
			break
		}
		if err := s.handle(msg, &next); err != nil {
			s.fail(err)
			break
		}
	}
	s.closeErr = s.shutdown()
}

func (s *Source) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) >= s.opts.BufferSize
}

// handle processes one message of the stream.
func (s *Source) handle(msg pgproto3.BackendMessage, next *time.Time) error {
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
			s.tr.idle(k.ServerWALEnd)
			if k.ReplyRequested {
				*next = time.Now()
			}
		case pglogrepl.XLogDataByteID:
			x, err := pglogrepl.ParseXLogData(m.Data[1:])
			if err != nil {
				return fmt.Errorf("%w: malformed XLogData", ErrProtocol)
			}
			if x.WALStart > s.recvd {
				s.recvd = x.WALStart
			}
			changes, err := s.dec.decode(x.WALStart, x.WALData)
			if err != nil {
				return err
			}
			if len(changes) > 0 {
				s.deliver(changes)
			}
		}
	case *pgproto3.ErrorResponse:
		return fmt.Errorf("pgsource: replication stream: %w", pgconn.ErrorResponseToPgError(m))
	case *pgproto3.CopyDone:
		return errors.New("pgsource: the server ended the replication stream")
	}
	return nil
}

// deliver turns changes into messages and queues them for Read.
func (s *Source) deliver(changes []*change) {
	now := time.Now()
	ms := make([]*source.Message, len(changes))
	for i, c := range changes {
		ms[i] = s.message(c, c.body(s.db, now))
	}
	s.mu.Lock()
	s.queue = append(s.queue, ms...)
	s.mu.Unlock()
	signal(s.ready)
}

// message returns a new, unsettled message for change c with body.
func (s *Source) message(c *change, body []byte) *source.Message {
	return source.NewMessage(c.id(), body, c.metadata(), s.ackFunc(c, body), asFunc(c))
}

// ackFunc settles change c. A nack puts a new message for it (same ID and
// body) at the head of the queue: the change stays unacked, so nothing from
// its transaction on is confirmed until that message is acked.
func (s *Source) ackFunc(c *change, body []byte) source.AckFunc {
	tx := c.tx
	return func(_ context.Context, err error) error {
		if !s.tr.settle(tx, err != nil) {
			return fmt.Errorf("pgsource: settled change %s after Close or a stream failure: it will be delivered again: %w", c.id(), source.ErrClosed)
		}
		if err != nil {
			m := s.message(c, body)
			s.mu.Lock()
			s.queue = append([]*source.Message{m}, s.queue...)
			s.mu.Unlock()
			signal(s.ready)
		}
		return nil
	}
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

// fail records the stream's terminal error for Read.
func (s *Source) fail(err error) {
	s.failed = true
	s.log.Warn("pgsource: replication stream failed", "slot", s.slot, "err", err)
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	signal(s.ready)
}

// sendStatus reports flushed (the confirmed position) as flushed and
// applied. Written is what was received, never less than flushed.
func (s *Source) sendStatus(flushed pglogrepl.LSN) error {
	written := max(s.recvd, flushed)
	if flushed == 0 {
		written = 0 // pglogrepl would report a zero flush position as written
	}
	// A write that cannot go out for this long means a dead connection;
	// without a deadline it would block the pump, and Close, for good.
	_ = s.conn.Conn().SetWriteDeadline(time.Now().Add(statusWriteTimeout))
	defer func() { _ = s.conn.Conn().SetWriteDeadline(time.Time{}) }()
	return pglogrepl.SendStandbyStatusUpdate(context.Background(), s.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: written, WALFlushPosition: flushed, WALApplyPosition: flushed,
	})
}

// shutdown sends the final status update, ends the stream (the server then
// releases the slot) and closes the connection.
func (s *Source) shutdown() error {
	s.tr.close()
	var err error
	if !s.failed {
		s.finishTxn()
	}
	if !s.failed {
		final := s.tr.position()
		if err = s.sendStatus(final); err == nil {
			_ = s.conn.Conn().SetDeadline(time.Now().Add(closeTimeout))
			if _, cerr := pglogrepl.SendStandbyCopyDone(context.Background(), s.conn); cerr != nil {
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
	_ = s.conn.Close(ctx)
	return err
}

// finishTxn, on Close, reads on while a transaction is half received and
// every change of it delivered so far is acked: its Commit is usually in
// flight already (pgoutput sends a transaction at once), and without it the
// transaction, although fully acked, would come again after a restart. It
// stops at a further change (which was never delivered), at the Commit, or
// after closeTimeout.
func (s *Source) finishTxn() {
	deadline := time.Now().Add(closeTimeout)
	for s.dec.inTxn && s.tr.settledSoFar(s.dec.tx) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		msg, err := s.conn.ReceiveMessage(ctx)
		expired := ctx.Err() != nil
		cancel()
		if err != nil {
			if !expired && !pgconn.Timeout(err) {
				s.failed = true
			}
			return
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok {
			if _, isErr := msg.(*pgproto3.ErrorResponse); isErr {
				s.failed = true
			}
			return
		}
		if len(cd.Data) == 0 || cd.Data[0] != pglogrepl.XLogDataByteID {
			continue
		}
		x, err := pglogrepl.ParseXLogData(cd.Data[1:])
		if err != nil {
			return
		}
		changes, err := s.dec.decode(x.WALStart, x.WALData)
		if err != nil || len(changes) > 0 {
			return
		}
	}
}
