// Package neterr reduces a transport error (from net/http, a RoundTripper, a
// proxy) to its kind, in fhirsync's own words. The errors it classifies can
// quote a server's status line or headers, or a request URL that holds search
// values (a claim identifier, a code); none of their text reaches the
// returned error's text or its Unwrap chain, which holds a sentinel only.
//
// It imports nothing of fhirsync's, so every package that talks HTTP
// (restsink, fhirmap's claim lookup, terminology's $translate client) shares
// one classification.
package neterr

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// Error is the kind of a transport failure. It unwraps to a sentinel only
// (context.DeadlineExceeded, os.ErrDeadlineExceeded, context.Canceled, a
// syscall.Errno such as ECONNREFUSED or ECONNRESET, io.ErrUnexpectedEOF,
// io.EOF), never to the error it classifies. It satisfies net.Error.
type Error struct {
	kind     string
	timeout  bool
	sentinel error
}

// Error returns the kind, e.g. "timeout", "connection refused", "malformed
// HTTP response".
func (e *Error) Error() string { return e.kind }

// Unwrap returns the sentinel the failure matched, or nil.
func (e *Error) Unwrap() error { return e.sentinel }

// Timeout reports whether the failure was a timeout.
func (e *Error) Timeout() bool { return e.timeout }

// Temporary reports true: a transport failure may pass.
func (e *Error) Temporary() bool { return true }

// sentinels are the sentinels an Error may unwrap to, with their kind, most
// specific first.
var sentinels = []struct {
	err  error
	kind string
}{
	{context.DeadlineExceeded, "timeout"},
	{os.ErrDeadlineExceeded, "timeout"},
	{syscall.ETIMEDOUT, "timeout"},
	{context.Canceled, "request canceled"},
	{syscall.ECONNREFUSED, "connection refused"},
	{syscall.ECONNRESET, "connection reset"},
	{syscall.ECONNABORTED, "connection aborted"},
	{syscall.EPIPE, "broken pipe"},
	{syscall.EHOSTUNREACH, "host unreachable"},
	{syscall.ENETUNREACH, "network unreachable"},
	{io.ErrUnexpectedEOF, "response cut short"},
	{io.EOF, "connection closed"},
}

// Classify reduces err, which must not be nil, to an *Error whose kind is
// "network error" unless a more specific one applies.
func Classify(err error) *Error {
	out := &Error{kind: "network error"}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			out.kind, out.sentinel = s.kind, s.err
			break
		}
	}
	var ne net.Error
	if out.kind == "timeout" || errors.As(err, &ne) && ne.Timeout() {
		out.kind, out.timeout = "timeout", true
		return out
	}
	if out.sentinel != nil {
		return out
	}
	var dns *net.DNSError
	var oe *net.OpError
	var rh tls.RecordHeaderError
	switch msg := err.Error(); {
	case errors.As(err, &dns):
		out.kind = "DNS lookup failed"
	case errors.As(err, &rh):
		out.kind = "TLS handshake failed"
	case strings.Contains(msg, "malformed HTTP") || strings.Contains(msg, "malformed MIME header") ||
		strings.Contains(msg, "bad Content-Length") || strings.Contains(msg, "invalid Trailer") ||
		strings.Contains(msg, "unsupported transfer encoding") || strings.Contains(msg, "malformed chunked encoding"):
		// net/http's errors about a response it cannot parse are not typed;
		// the text is matched here, never printed.
		out.kind = "malformed HTTP response"
	case errors.As(err, &oe) && (oe.Op == "dial" || oe.Op == "read" || oe.Op == "write"):
		out.kind = "network error (" + oe.Op + ")"
	}
	return out
}
