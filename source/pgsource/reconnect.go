package pgsource

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fhirsync/fhirsync/source"
)

// ErrServerTimeout is the cause (wrapped) of a connection taken for lost
// because the server sent nothing for Options.ServerTimeout. The Source
// reconnects; it reaches Read only inside a [*StreamError] when
// reconnecting is disabled or given up.
var ErrServerTimeout = errors.New("pgsource: no message from the server in time")

// StreamError is the error Read returns once the Source has stopped
// streaming for good: the failure is permanent, or the connection was lost
// and reconnecting is disabled (Options.MaxReconnects < 0) or was given up
// after Options.MaxReconnects attempts. The Source is then dead: Close it.
// Nothing acked is lost and nothing unacked is confirmed; a new Source on
// the slot resumes from its confirmed position.
//
// Its text names the slot, positions, and the cause as Postgres or the
// network reported it: no row data.
type StreamError struct {
	// Slot is the replication slot's name.
	Slot string
	// Permanent reports a failure that reconnecting cannot fix, so none was
	// tried (or the last attempt met it): the slot or publication was
	// dropped (Err wraps [ErrNoSlot] or [ErrNoPublication]), the slot now
	// belongs to another plugin or database ([ErrSlotMismatch]), wal_level
	// is no longer logical ([ErrNotLogical]), the stream held data the
	// Source cannot decode ([ErrProtocol]), or the server refused the
	// connection or the replication for a reason other than its own state
	// (authentication, privileges, a missing database, an invalidated slot:
	// Err wraps the *pgconn.PgError). Opening a new Source fails the same
	// way until an operator fixes the cause.
	Permanent bool
	// Attempts is how many reconnection attempts were made in a row (see
	// Options.MaxReconnects).
	Attempts int
	// Err is the cause: the last failure.
	Err error
}

// Error describes the failure.
func (e *StreamError) Error() string {
	var b strings.Builder
	b.WriteString("pgsource: replication of slot ")
	b.WriteString(e.Slot)
	switch {
	case e.Permanent:
		b.WriteString(" stopped (permanent failure")
	case e.Attempts == 0:
		b.WriteString(" stopped (connection lost, reconnection disabled")
	default:
		b.WriteString(" stopped (connection lost")
	}
	if e.Attempts > 0 {
		b.WriteString(", after ")
		b.WriteString(strconv.Itoa(e.Attempts))
		b.WriteString(" reconnection attempt")
		if e.Attempts > 1 {
			b.WriteByte('s')
		}
	}
	b.WriteString("): ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the cause.
func (e *StreamError) Unwrap() error { return e.Err }

// Is reports whether target is source.ErrPermanent, which every
// StreamError matches: the Source that returned it has stopped streaming
// and returns it from every Read, so retrying Read cannot help, and
// fhirsync.Run stops at once. (Permanent tells whether a new Source on the
// slot would fail the same way.)
func (e *StreamError) Is(target error) bool { return target == source.ErrPermanent }

// transientCodes are the SQLSTATEs of failures that reconnecting may fix:
// class 08 (connection exception) and 53 (insufficient resources: too many
// connections, out of memory, disk full) by class, and these codes.
var transientCodes = map[string]bool{
	"57P01": true, // admin_shutdown: the server is stopping, or pg_terminate_backend
	"57P02": true, // crash_shutdown: another backend crashed
	"57P03": true, // cannot_connect_now: the server is starting up, shutting down or in recovery
	"57P05": true, // idle_session_timeout
	"57014": true, // query_canceled
	"55006": true, // object_in_use: the slot is still held by a previous walsender
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
}

// permanent reports whether err is a failure that reconnecting cannot fix.
// What the server reports is permanent unless its SQLSTATE says the
// connection or the server's state was at fault; anything else (a reset or
// closed connection, a timeout, a refused dial, a stream the server ended)
// is transient.
func permanent(err error) bool {
	for _, p := range []error{ErrProtocol, ErrNoSlot, ErrNoPublication, ErrSlotMismatch, ErrNotLogical, ErrInvalidName} {
		if errors.Is(err, p) {
			return true
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		return !(strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || transientCodes[code])
	}
	var certErr *tls.CertificateVerificationError
	return errors.As(err, &certErr)
}

// explain adds the sentinel to a failure the server reported as a missing
// object (SQLSTATE 42704, undefined_object): a publication dropped while
// the Source streams fails the stream at the next change, a slot dropped
// between the check and START_REPLICATION fails that command, and the
// server's text (which may be translated) does not say which. A new
// connection then looks the publication and the slot up: err comes back
// wrapping [ErrNoPublication] or [ErrNoSlot] when one is missing, else
// (or when the lookup fails) as it was.
func (s *Source) explain(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42704" || errors.Is(err, ErrNoPublication) || errors.Is(err, ErrNoSlot) {
		return err
	}
	ctx, cancel := context.WithTimeout(s.stopCtx, closeTimeout)
	defer cancel()
	conn, cerr := pgconn.ConnectConfig(ctx, s.cfg)
	if cerr != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = conn.Close(closeCtx)
		cancel()
	}()
	if perr := ensurePublication(ctx, conn, s.publication, Options{}, s.log); errors.Is(perr, ErrNoPublication) {
		return fmt.Errorf("%w: %s: %w", ErrNoPublication, s.publication, err)
	}
	if _, serr := ensureSlot(ctx, conn, s.slot, s.db, Options{}, s.log); errors.Is(serr, ErrNoSlot) {
		return fmt.Errorf("%w: %s: %w", ErrNoSlot, s.slot, err)
	}
	return err
}

// reconnectTimeout bounds one reconnection attempt: the connection, the
// checks of the server, publication and slot, and START_REPLICATION.
const reconnectTimeout = 30 * time.Second

// reconnectJitter varies each reconnection delay by up to ±20%.
const reconnectJitter = 0.2

// reconnectDelay is the delay before reconnection attempt n (1-based).
func reconnectDelay(o *Options, n int) time.Duration {
	d := float64(o.ReconnectDelay)
	for i := 1; i < n && d < float64(o.MaxReconnectDelay); i++ {
		d *= 2
	}
	d = min(d, float64(o.MaxReconnectDelay))
	return time.Duration(d * (1 + reconnectJitter*(2*rand.Float64()-1)))
}

// reconnect re-establishes a lost replication connection, with back-off,
// until it succeeds (it returns the new session), Close (nil, nil), a
// permanent failure or the last of Options.MaxReconnects attempts (the
// *StreamError). lost is the position the lost session had confirmed,
// cause why it was lost, and prior the attempts already made in a row
// (see run): numbering, back-off and the cap continue from there. It also
// returns the number of the last attempt.
func (s *Source) reconnect(lost pglogrepl.LSN, prior int, cause error) (*session, int, *StreamError) {
	began := time.Now()
	for attempt := prior + 1; ; attempt++ {
		if max := s.opts.MaxReconnects; max > 0 && attempt > max {
			// The previous attempt connected, but its session was lost
			// before it proved itself.
			return nil, attempt - 1, &StreamError{Slot: s.slot, Attempts: attempt - 1, Err: cause}
		}
		d := reconnectDelay(&s.opts, attempt)
		t := time.NewTimer(d)
		select {
		case <-s.stopCtx.Done():
			t.Stop()
			return nil, attempt, nil
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.stopCtx, reconnectTimeout)
		sess, err := s.connect(ctx, false, lost)
		cancel()
		if s.stopCtx.Err() != nil {
			if sess != nil {
				closeCtx, cancel := context.WithTimeout(context.Background(), closeTimeout)
				_ = sess.conn.Close(closeCtx)
				cancel()
			}
			return nil, attempt, nil
		}
		if err == nil {
			s.count(outcomeOK)
			s.log.Info("pgsource: reconnected", "slot", s.slot, "attempts", attempt, "after", time.Since(began).Round(time.Millisecond).String(),
				"lsn", sess.start.String(), "slot_lsn", sess.slotLSN.String(), "confirmed", lost.String())
			if sess.slotLSN > lost {
				// Only this Source moves the slot while it streams; while it
				// was disconnected someone advanced it, or dropped it and
				// created another of the same name. Changes committed in
				// between were not delivered by this Source.
				s.log.Warn("pgsource: the slot's confirmed position moved ahead while disconnected (advanced, or dropped and created again): changes before it were not delivered",
					"slot", s.slot, "slot_lsn", sess.slotLSN.String(), "confirmed", lost.String())
			}
			return sess, attempt, nil
		}
		s.count(outcomeFailed)
		cause = err
		if permanent(err) {
			return nil, attempt, &StreamError{Slot: s.slot, Permanent: true, Attempts: attempt, Err: err}
		}
		if max := s.opts.MaxReconnects; max > 0 && attempt >= max {
			return nil, attempt, &StreamError{Slot: s.slot, Attempts: attempt, Err: err}
		}
		s.log.Warn("pgsource: reconnection failed", "slot", s.slot, "attempt", attempt, "err", err)
	}
}

// Outcomes of the reconnection counter.
const (
	outcomeOK     = "ok"
	outcomeFailed = "failed"
)

// instrumentation is the name of the Source's meter.
const instrumentation = "github.com/fhirsync/fhirsync/source/pgsource"

func newReconnectCounter(mp metric.MeterProvider) metric.Int64Counter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	// Creation fails only for an invalid name; a failed instrument is a
	// no-op one.
	c, _ := mp.Meter(instrumentation).Int64Counter("fhirsync.pgsource.reconnects",
		metric.WithDescription("Reconnection attempts after a lost replication connection, by outcome."))
	return c
}

func (s *Source) count(outcome string) {
	s.reconnects.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("pgsource.slot", s.slot), attribute.String("outcome", outcome)))
}
