package pgsource

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestPermanent(t *testing.T) {
	pgErr := func(code string) error {
		return fmt.Errorf("pgsource: replication stream: %w", &pgconn.PgError{Severity: "FATAL", Code: code, Message: "m"})
	}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"slot dropped", fmt.Errorf("%w: s", ErrNoSlot), true},
		{"publication dropped", fmt.Errorf("%w: p", ErrNoPublication), true},
		{"slot of another plugin", fmt.Errorf("%w: s", ErrSlotMismatch), true},
		{"wal_level lowered", ErrNotLogical, true},
		{"undecodable stream", fmt.Errorf("%w: malformed XLogData", ErrProtocol), true},
		{"password refused", pgErr("28P01"), true},
		{"no pg_hba entry", pgErr("28000"), true},
		{"role lost REPLICATION", pgErr("42501"), true},
		{"database dropped", pgErr("3D000"), true},
		{"slot or publication missing on the server", pgErr("42704"), true},
		{"slot invalidated, wal_level", pgErr("55000"), true},
		{"WAL removed", pgErr("58P01"), true},
		{"internal error", pgErr("XX000"), true},
		{"untrusted certificate", fmt.Errorf("connect: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), true},
		{"terminated (pg_terminate_backend, shutdown)", pgErr("57P01"), false},
		{"crash of another backend", pgErr("57P02"), false},
		{"starting up", pgErr("57P03"), false},
		{"slot held by the previous walsender", pgErr("55006"), false},
		{"too many connections", pgErr("53300"), false},
		{"connection failure", pgErr("08006"), false},
		{"connection reset", fmt.Errorf("receive: %w", &net.OpError{Op: "read", Err: syscall.ECONNRESET}), false},
		{"connection refused", fmt.Errorf("connect: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), false},
		{"closed", io.ErrUnexpectedEOF, false},
		{"server silent", fmt.Errorf("%w: nothing received for 2m", ErrServerTimeout), false},
		{"stream ended", errStreamEnded, false},
		{"other", errors.New("x"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := permanent(c.err); got != c.want {
				t.Errorf("permanent(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}

func TestReconnectDelay(t *testing.T) {
	o := Options{ReconnectDelay: 100 * time.Millisecond, MaxReconnectDelay: time.Second}
	cases := []struct {
		attempt int
		base    time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{50, time.Second},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.attempt), func(t *testing.T) {
			lo, hi := time.Duration(float64(c.base)*(1-reconnectJitter)), time.Duration(float64(c.base)*(1+reconnectJitter))
			seen := map[time.Duration]bool{}
			for range 200 {
				d := reconnectDelay(&o, c.attempt)
				if d < lo || d > hi {
					t.Fatalf("delay %s, want %s ±20%% (%s to %s)", d, c.base, lo, hi)
				}
				seen[d] = true
			}
			if len(seen) < 10 {
				t.Errorf("%d distinct delays in 200: no jitter", len(seen))
			}
		})
	}
}

func TestStreamErrorText(t *testing.T) {
	cause := errors.New("cause")
	cases := []struct {
		e    StreamError
		want string
	}{
		{StreamError{Slot: "s", Permanent: true, Attempts: 1, Err: cause}, "pgsource: replication of slot s stopped (permanent failure, after 1 reconnection attempt): cause"},
		{StreamError{Slot: "s", Permanent: true, Err: cause}, "pgsource: replication of slot s stopped (permanent failure): cause"},
		{StreamError{Slot: "s", Err: cause}, "pgsource: replication of slot s stopped (connection lost, reconnection disabled): cause"},
		{StreamError{Slot: "s", Attempts: 3, Err: cause}, "pgsource: replication of slot s stopped (connection lost, after 3 reconnection attempts): cause"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
		if !errors.Is(&c.e, cause) {
			t.Errorf("%q does not unwrap to its cause", c.want)
		}
	}
}
