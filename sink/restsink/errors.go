package restsink

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fhirsync/fhirsync/auth"
	"github.com/fhirsync/fhirsync/sink"

	"github.com/fhirsync/fhirsync/internal/fhiroutcome"
	"github.com/fhirsync/fhirsync/internal/neterr"
)

// Sentinel errors of restsink, beside sink.ErrInvalid and sink.ErrConflict.
var (
	// ErrAuth marks a request the server refused for its credentials: 401
	// (retryable, as credentials may be refreshed) or 403 (permanent, and
	// returned as the error of the whole Write).
	ErrAuth = errors.New("restsink: not authorized")
	// ErrUnsupported marks an interaction the server does not support (405,
	// 501, 404 on an update, a bundle over its size limit, an unsupported
	// content encoding), or a mode its CapabilityStatement does not list.
	// It concerns the configuration, not one resource: Write returns it as
	// the error of the whole batch.
	ErrUnsupported = errors.New("restsink: not supported by the server")
	// ErrUnavailable marks a transient server-side failure: 408, 429, 5xx,
	// a timeout or a network error. It is always inside a
	// *sink.RetryableError.
	ErrUnavailable = errors.New("restsink: server unavailable")
	// ErrBadResponse marks a response restsink cannot read (a batch response
	// that is not a Bundle, lacks entries, or exceeds the size limit). It is
	// retryable: the writes are idempotent.
	ErrBadResponse = errors.New("restsink: malformed response")
	// errNotAttempted marks an op that was not sent because an earlier
	// failure made sending it pointless.
	errNotAttempted = errors.New("restsink: not attempted")
	// errBundleTooLarge marks a bundle the server refused for its size.
	errBundleTooLarge = fmt.Errorf("%w: bundle too large (lower BundleSize)", ErrUnsupported)
)

// Issue is one OperationOutcome issue, without its free text.
type Issue struct {
	// Severity is fatal, error, warning or information ("unknown" when the
	// server sent another value).
	Severity string
	// Code is the R4 IssueType code (invalid, required, conflict, ...), or
	// "unknown" when the server sent a value outside that value set.
	Code string
	// Expression lists the FHIRPath expressions of the elements concerned
	// ("Patient.birthDate", "Bundle.entry[3].resource"); expressions that
	// are not plain paths are dropped, as they might quote values.
	Expression []string
}

// Error is the failure of one op as the server (or the network) reported it.
// Its Error method prints no PHI; Diagnostics returns the server's free text,
// which may.
type Error struct {
	// Method is the HTTP method of the op's request or bundle entry (PUT,
	// DELETE), or of the whole request (GET for Probe).
	Method string
	// Type and ID name the resource.
	Type, ID string
	// Conditional reports that the op addressed its resource by identifier.
	Conditional bool
	// Bundle is "transaction" or "batch" when the op travelled in a bundle,
	// else "".
	Bundle string
	// Entry is the op's index in that bundle.
	Entry int
	// StatusCode is the HTTP status of the op (of its entry in a batch), or
	// 0 when there was no response.
	StatusCode int
	// Issues are the OperationOutcome's issues, without free text.
	Issues []Issue
	// Err is the cause: sink.ErrInvalid, sink.ErrConflict, ErrAuth,
	// ErrUnsupported, ErrUnavailable, ErrBadResponse, wrapping for a
	// network failure its kind (which unwraps to a sentinel such as
	// context.DeadlineExceeded or syscall.ECONNRESET only, and satisfies
	// net.Error) and for a token failure the *auth.TokenError.
	Err error

	diagnostics string
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("restsink: ")
	if e.Bundle != "" {
		fmt.Fprintf(&b, "%s entry %d ", e.Bundle, e.Entry)
	}
	b.WriteString(e.Method)
	if e.Type != "" {
		b.WriteByte(' ')
		b.WriteString(e.Type)
		switch {
		case e.Conditional:
			b.WriteString("?identifier")
		case e.ID != "":
			b.WriteByte('/')
			b.WriteString(e.ID)
		}
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	for i, is := range e.Issues {
		if i == 4 {
			fmt.Fprintf(&b, "; and %d more issue(s)", len(e.Issues)-4)
			break
		}
		b.WriteString("; ")
		b.WriteString(is.Severity)
		b.WriteByte(' ')
		b.WriteString(is.Code)
		if len(is.Expression) > 0 {
			b.WriteString(" at ")
			b.WriteString(strings.Join(is.Expression, ", "))
		}
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Diagnostics returns the server's free text about the failure: the
// OperationOutcome's issue diagnostics and details, or the start of a body
// that was not an OperationOutcome. It may contain PHI (servers quote
// element values): never log it where PHI may not go.
func (e *Error) Diagnostics() string { return e.diagnostics }

// scope says how far a failure reaches.
type scope int

const (
	scopeOp     scope = iota // this op (or bundle) only
	scopeServer              // the server is unavailable: do not send more of this batch
	scopeFatal               // configuration: the whole Write fails with this error
)

// outcome is a parsed OperationOutcome.
type outcome struct {
	issues      []Issue
	diagnostics string
}

var (
	// safeExpression is a plain FHIRPath element path: names, dots and
	// numeric indexes; anything else (functions, literals) could quote a value.
	safeExpression  = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*(\[[0-9]+\])?(\.[a-z_][A-Za-z0-9_]*(\[[0-9]+\])?)*$`)
	entryExpression = regexp.MustCompile(`^Bundle\.entry\[([0-9]+)\]`)
)

// parseOutcome reads an OperationOutcome from a response body. A body that
// is not one yields no issues and, as diagnostics, its start.
func parseOutcome(body []byte) outcome {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string   `json:"severity"`
			Code        string   `json:"code"`
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
			Location    []string `json:"location"`
			Details     *struct {
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" {
		return outcome{diagnostics: clip(string(bytes.TrimSpace(body)), 1024)}
	}
	var out outcome
	var diag []string
	for _, is := range oo.Issue {
		x := Issue{Severity: known(fhiroutcome.IsIssueSeverity, is.Severity), Code: known(fhiroutcome.IsIssueType, is.Code)}
		paths := is.Expression
		if len(paths) == 0 {
			paths = is.Location
		}
		for _, p := range paths {
			if safeExpression.MatchString(p) && len(p) <= 200 {
				x.Expression = append(x.Expression, p)
			}
		}
		out.issues = append(out.issues, x)
		if is.Details != nil && is.Details.Text != "" {
			diag = append(diag, is.Details.Text)
		}
		if is.Diagnostics != "" {
			diag = append(diag, is.Diagnostics)
		}
	}
	out.diagnostics = clip(strings.Join(diag, "; "), 8192)
	return out
}

// known returns s when ok says it is a code of its closed value set, else
// "unknown": a server can put any text in a code.
func known(ok func(string) bool, s string) string {
	if ok(s) {
		return s
	}
	return "unknown"
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// overCap reports whether a bundle request's failure is the server's
// refusal of its size: 413, or 400 with an issue coded too-costly (Medplum's
// answer to an over-cap bundle).
func overCap(status int, o outcome) bool {
	if status == http.StatusRequestEntityTooLarge {
		return true
	}
	if status != http.StatusBadRequest {
		return false
	}
	for _, is := range o.issues {
		if is.Code == "too-costly" {
			return true
		}
	}
	return false
}

// blamedEntries returns the bundle entry indexes (below n) the outcome's
// expressions point at.
func (o outcome) blamedEntries(n int) map[int]bool {
	var m map[int]bool
	for _, is := range o.issues {
		for _, p := range is.Expression {
			if sm := entryExpression.FindStringSubmatch(p); sm != nil {
				if i, err := strconv.Atoi(sm[1]); err == nil && i < n {
					if m == nil {
						m = map[int]bool{}
					}
					m[i] = true
				}
			}
		}
	}
	return m
}

// retryAfter parses a Retry-After header: delta seconds or an HTTP date,
// relative to now. Absent, malformed or past values give 0.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		const maxSecs = int64(24 * time.Hour / time.Second)
		if secs > maxSecs {
			secs = maxSecs
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour).Round(time.Second)
		}
	}
	return 0
}

// classifyStatus classifies a non-success HTTP status for an op. e is filled
// in by the caller (method, resource, bundle position); the returned error is
// e, wrapped in a *sink.RetryableError when retryable.
func classifyStatus(e *Error, status int, after time.Duration, bundle bool) (error, scope) {
	e.StatusCode = status
	retry := func(cause error, sc scope) (error, scope) {
		e.Err = cause
		return sink.Retryable(e, after), sc
	}
	switch {
	case status == http.StatusUnauthorized:
		return retry(ErrAuth, scopeServer)
	case status == http.StatusForbidden:
		e.Err = ErrAuth
		return e, scopeFatal
	case status == http.StatusRequestTimeout:
		return retry(ErrUnavailable, scopeOp)
	case status == http.StatusTooManyRequests:
		return retry(ErrUnavailable, scopeServer)
	case status == http.StatusPreconditionFailed:
		e.Err = sink.ErrConflict
	case status == http.StatusConflict:
		// A version conflict, or an identifier that resolves to another
		// resource than the id written. restsink never has two writes of
		// one resource in flight, so a 409 is not its own contention.
		e.Err = sink.ErrConflict
	case status == http.StatusMethodNotAllowed || status == http.StatusNotImplemented ||
		status == http.StatusUnsupportedMediaType:
		e.Err = ErrUnsupported
		return e, scopeFatal
	case status == http.StatusNotFound && e.Method == http.MethodPut && !e.Conditional:
		// A PUT answered 404: the type is unknown or the server refuses
		// update-as-create (Medplum without client ids).
		e.Err = ErrUnsupported
		return e, scopeFatal
	case status == http.StatusRequestEntityTooLarge && bundle:
		e.Err = errBundleTooLarge
		return e, scopeFatal
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable ||
		status == http.StatusGatewayTimeout:
		return retry(ErrUnavailable, scopeServer)
	case status >= 500:
		return retry(ErrUnavailable, scopeOp)
	case status >= 400:
		e.Err = sink.ErrInvalid
	default:
		// 1xx or 3xx left over after the client's redirect policy: the base
		// URL is wrong.
		e.Err = fmt.Errorf("%w: unexpected HTTP %d", ErrUnsupported, status)
		return e, scopeFatal
	}
	return e, scopeOp
}

// errRetryable is implemented by errors that know whether they are
// retryable, such as auth.TokenError.
type errRetryable interface{ Retryable() bool }

// classifyTransport classifies a failed HTTP round trip. ctx is the caller's
// context: when it is done, its error is returned as is. The error's text is
// never kept: net/http's errors quote what the server sent (a malformed
// status line or header), a *url.Error holds the request URL (a conditional
// URL holds an identifier value), and a RoundTripper's errors may quote
// either. Only the kind of failure is, in restsink's words (see netCause).
func classifyTransport(ctx context.Context, e *Error, err error) (error, scope) {
	if ctx.Err() != nil {
		return ctx.Err(), scopeFatal
	}
	var r errRetryable
	if errors.As(err, &r) {
		// A failure of an authenticating transport (a token request). An
		// *auth.TokenError prints only the HTTP status, a registered OAuth
		// error code and auth's own words; another transport's error may say
		// anything, so only its classification is kept.
		var cause error = errAuthTransport
		var te *auth.TokenError
		if errors.As(err, &te) {
			cause = te
		}
		if r.Retryable() {
			e.Err = fmt.Errorf("%w: %w", ErrUnavailable, cause)
			return sink.Retryable(e, 0), scopeServer
		}
		e.Err = fmt.Errorf("%w: %w", ErrAuth, cause)
		return e, scopeFatal
	}
	var ce *x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	if errors.As(err, &ce) || errors.As(err, &ua) || errors.As(err, &he) {
		e.Err = fmt.Errorf("%w: TLS certificate not accepted", ErrUnsupported)
		return e, scopeFatal
	}
	e.Err = fmt.Errorf("%w: %w", ErrUnavailable, netCause(err))
	if errors.Is(err, syscall.ECONNREFUSED) {
		// Nobody listens: the rest of the batch would fail the same way.
		return sink.Retryable(e, 0), scopeServer
	}
	// A reset or a timeout concerns this request; others may get through.
	return sink.Retryable(e, 0), scopeOp
}

// errAuthTransport is the cause of a failure of an authenticating transport
// that is not an *auth.TokenError: its own text may say anything.
var errAuthTransport = errors.New("authenticating transport failed")

// netCause reduces a transport error to its kind in restsink's words
// (internal/neterr): neither a server's text nor the URL's survives.
func netCause(err error) error { return neterr.Classify(err) }
