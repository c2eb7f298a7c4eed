package terminology_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/fhirsync/fhirsync/terminology"
)

// quotingTransport fails every request with an error that quotes its URL
// (which, for GET, holds the code being translated).
type quotingTransport struct{}

func (quotingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, errors.New("proxy refused " + r.URL.String())
}

// TestRemoteTransportErrorsHoldNoValue: a server's malformed status line and
// a transport error quoting the request URL never reach a RemoteError's
// text or its Unwrap chain; the failure stays retryable.
func TestRemoteTransportErrorsHoldNoValue(t *testing.T) {
	const canary = "ZZCANARYZZ"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == "\r\n" {
						break
					}
				}
				_, _ = c.Write([]byte("HTTP/1.1 2" + canary + " OK\r\nContent-Length: 0\r\n\r\n"))
			}()
		}
	}()
	for name, r := range map[string]*terminology.Remote{
		"malformed status line": terminology.NewRemote(nil, "http://"+ln.Addr().String(), nil),
		"quoting transport":     terminology.NewRemote(&http.Client{Transport: quotingTransport{}}, "http://fhir.example/r4", nil),
	} {
		_, err := r.Translate(context.Background(), terminology.Coding{System: "urn:local", Code: canary}, terminology.SystemSNOMEDCT)
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if !terminology.IsRetryable(err) {
			t.Errorf("%s: %v is not retryable", name, err)
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), canary) {
				t.Errorf("%s: the canary reached %q", name, e.Error())
			}
		}
	}
}
