package neterr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
)

const canary = "ZZCANARYZZ"

func TestClassify(t *testing.T) {
	urlErr := func(err error) error {
		return &url.Error{Op: "Get", URL: "http://x/Claim?identifier=" + canary, Err: err}
	}
	for _, tc := range []struct {
		err      error
		kind     string
		sentinel error
		timeout  bool
	}{
		{urlErr(context.DeadlineExceeded), "timeout", context.DeadlineExceeded, true},
		{urlErr(os.ErrDeadlineExceeded), "timeout", os.ErrDeadlineExceeded, true},
		{urlErr(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "connection refused", syscall.ECONNREFUSED, false},
		{urlErr(&net.OpError{Op: "read", Err: syscall.ECONNRESET}), "connection reset", syscall.ECONNRESET, false},
		{urlErr(io.ErrUnexpectedEOF), "response cut short", io.ErrUnexpectedEOF, false},
		{urlErr(context.Canceled), "request canceled", context.Canceled, false},
		{urlErr(&net.DNSError{Err: "no such host " + canary, Name: canary}), "DNS lookup failed", nil, false},
		{urlErr(fmt.Errorf("net/http: HTTP/1.x transport connection broken: malformed HTTP status code %q", canary)), "malformed HTTP response", nil, false},
		{urlErr(errors.New("proxy refused " + canary)), "network error", nil, false},
	} {
		got := Classify(tc.err)
		if got.Error() != tc.kind || got.Timeout() != tc.timeout || !got.Temporary() {
			t.Errorf("%v: kind %q timeout %v, want %q %v", tc.err, got.Error(), got.Timeout(), tc.kind, tc.timeout)
		}
		if tc.sentinel != nil && !errors.Is(got, tc.sentinel) {
			t.Errorf("%v: does not unwrap to %v", tc.err, tc.sentinel)
		}
		for e := error(got); e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), canary) {
				t.Errorf("%v: the canary reached %q", tc.err, e.Error())
			}
		}
		var ne net.Error
		if !errors.As(got, &ne) {
			t.Errorf("%v: not a net.Error", tc.err)
		}
	}
}
