package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// ErrTokenRejected marks a token request the authorization server refused
// (HTTP 4xx other than 408 and 429): the credentials, the client
// registration or the requested scopes are wrong, and trying again will not
// help.
var ErrTokenRejected = errors.New("auth: token request rejected")

// TokenError is a failed token request. Its Error method names the HTTP
// status and the RFC 6749 error code only, never a secret, a token or the
// server's free-text description.
type TokenError struct {
	// StatusCode is the token endpoint's HTTP status, or 0 when no response
	// was received (or the response was 2xx but unusable).
	StatusCode int
	// Code is the RFC 6749 "error" code of the response (for example
	// "invalid_client") when it is one of the registered codes, else "".
	Code string
	// Err is the cause: ErrTokenRejected, a transport error, or a
	// malformed-response error.
	Err error
	// retryable is the classification; see Retryable.
	retryable bool
}

// Error implements error.
func (e *TokenError) Error() string {
	s := "auth: token request failed"
	if e.StatusCode != 0 {
		s += fmt.Sprintf(": HTTP %d", e.StatusCode)
	}
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Err != nil && !errors.Is(e.Err, ErrTokenRejected) {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *TokenError) Unwrap() error { return e.Err }

// Retryable reports whether the token request may succeed if tried again
// later: the endpoint was unreachable or timed out, it answered 408, 429 or
// 5xx, or its answer was cut short (the connection dropped mid-body, or the
// JSON ends in the middle of a value). Sinks use it to classify the failure
// of an API request.
func (e *TokenError) Retryable() bool { return e.retryable }

// registeredCodes are RFC 6749 §5.2's error codes (plus the two of §4.1.2.1
// servers also send); anything else a server sends is dropped, as it might
// carry arbitrary text.
var registeredCodes = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true,
	"unauthorized_client": true, "unsupported_grant_type": true, "invalid_scope": true,
	"server_error": true, "temporarily_unavailable": true, "access_denied": true,
}

// classify turns any token fetch error into a *TokenError whose text holds no
// secret: oauth2's own errors print the response body, which is dropped here.
func classify(err error) error {
	var te *TokenError
	if errors.As(err, &te) {
		return te
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		out := &TokenError{Err: ErrTokenRejected}
		if registeredCodes[re.ErrorCode] {
			out.Code = re.ErrorCode
		}
		if re.Response != nil {
			out.StatusCode = re.Response.StatusCode
		}
		switch {
		case out.StatusCode == 408 || out.StatusCode == 429 || out.StatusCode >= 500:
			out.retryable = true
			out.Err = errors.New("auth: token endpoint unavailable")
		case out.StatusCode >= 200 && out.StatusCode < 300 && re.ErrorCode == "":
			out.StatusCode = 0
			out.Err = errMalformed
		}
		return out
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &TokenError{Err: errors.New("auth: token request timed out"), retryable: true}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// The transport failed: keep the innermost network error, not the URL.
		return &TokenError{Err: netCause(ue.Err), retryable: true}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &TokenError{Err: netCause(ne), retryable: true}
	}
	if cut, timeout := cutShort(err); cut {
		// The answer did not arrive whole: trying again may get all of it.
		if timeout {
			return &TokenError{Err: errors.New("auth: token request timed out"), retryable: true}
		}
		return &TokenError{Err: errCutShort, retryable: true}
	}
	// Anything else (oauth2's "server response missing access_token", a
	// response that is not JSON) is a malformed answer: not retryable.
	return &TokenError{Err: errMalformed}
}

// errCutShort is the cause of a token response that ended early.
var errCutShort = fmt.Errorf("auth: token response cut short: %w", io.ErrUnexpectedEOF)

// cutShort reports whether a token fetch failed because the response body
// ended early (the connection dropped mid-body, or the JSON stops in the
// middle of a value), and whether that was a timeout. golang.org/x/oauth2
// formats these failures with %v, losing the cause, so its messages are
// matched too: "oauth2: cannot fetch token: <read error>" is only returned
// for a failed body read, and encoding/json says "unexpected end of JSON
// input" only of truncated input.
func cutShort(err error) (cut, timeout bool) {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return true, false
	}
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Error() == "unexpected end of JSON input" {
		return true, false
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "oauth2: cannot fetch token: "); ok {
		return true, strings.Contains(rest, "Client.Timeout") || strings.Contains(rest, "deadline exceeded")
	}
	return strings.HasPrefix(msg, "oauth2: cannot parse json: ") && strings.HasSuffix(msg, "unexpected end of JSON input"), false
}

// netCause reduces a transport error to its kind, so that no URL (which
// could carry query parameters) reaches an error string.
func netCause(err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("auth: token request timed out")
	default:
		var oe *net.OpError
		if errors.As(err, &oe) {
			return fmt.Errorf("auth: token endpoint unreachable (%s)", oe.Op)
		}
		return errors.New("auth: token endpoint unreachable")
	}
}
