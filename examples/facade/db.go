package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pool is a small pool of connections for reads and searches (pgxpool is
// not among the module's dependencies; this is all the service needs).
type pool struct {
	cfg  *pgx.ConnConfig
	sem  chan struct{}  // one token per connection in use or idle
	idle chan *pgx.Conn // idle connections
}

func newPool(connString string, max int) (*pool, error) {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, errors.New("-db is not a valid connection string")
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "fhirsync-facade"
	}
	return &pool{cfg: cfg, sem: make(chan struct{}, max), idle: make(chan *pgx.Conn, max)}, nil
}

// with runs fn on a connection. A connection that fn's error left closed or
// unusable is dropped; the next caller dials a new one.
func (p *pool) with(ctx context.Context, fn func(c *pgx.Conn) error) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.sem }()
	var c *pgx.Conn
	select {
	case c = <-p.idle:
	default:
		var err error
		if c, err = pgx.ConnectConfig(ctx, p.cfg); err != nil {
			return &dbError{op: "connect", err: err}
		}
	}
	err := fn(c)
	if c.IsClosed() || (err != nil && !isStatementError(err)) {
		_ = c.Close(context.WithoutCancel(ctx))
		return err
	}
	p.idle <- c // never blocks: at most cap(sem) connections exist
	return err
}

// close closes the idle connections.
func (p *pool) close(ctx context.Context) {
	for {
		select {
		case c := <-p.idle:
			_ = c.Close(ctx)
		default:
			return
		}
	}
}

// isStatementError reports whether err is a server's error about one
// statement, after which the connection is still usable.
func isStatementError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && !strings.HasPrefix(pgErr.Code, "08") && !strings.HasPrefix(pgErr.Code, "57")
}

// dbError is a database failure. Its text names the operation and the kind
// of failure only: a server's message can quote a value (invalid input
// syntax for type ...: "..."), and values can be PHI.
type dbError struct {
	op  string
	err error
}

func (e *dbError) Error() string { return "facade: database " + e.op + " failed: " + errorKind(e.err) }

// Unwrap keeps context errors and *pgconn.PgError reachable with errors.Is
// and errors.As.
func (e *dbError) Unwrap() error { return e.err }

// errorKind describes err without its text: an SQLSTATE, a context error, a
// network failure, or the error's type.
func errorKind(err error) string {
	var pgErr *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.As(err, &pgErr):
		return "SQLSTATE " + pgErr.Code
	case errors.Is(err, context.Canceled):
		return context.Canceled.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded.Error()
	case errors.As(err, &netErr):
		if netErr.Timeout() {
			return "network timeout"
		}
		return "network error"
	}
	return fmt.Sprintf("%T", err)
}

// quoteIdent quotes a Postgres identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
