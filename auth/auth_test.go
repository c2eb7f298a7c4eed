package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/fhirsync/fhirsync/auth"
)

const (
	canary   = "ZZCANARYZZ"
	clientID = "fhirsync-test-client"
	secret   = "s3cr3t-ZZCANARYZZ"
)

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

func keys(t testing.TB) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, ecKey
}

// tokenServer is a test OAuth 2.0 token endpoint that verifies SMART Backend
// Services client assertions (or client credentials) and issues tokens.
type tokenServer struct {
	t         testing.TB
	srv       *httptest.Server
	pub       crypto.PublicKey // verifies assertions; nil for client-secret mode
	alg       string
	kid, jku  string
	scope     string
	expiresIn atomic.Int64
	// fail, when set, answers instead of issuing a token.
	fail atomic.Pointer[func(w http.ResponseWriter)]

	mu       sync.Mutex
	requests int
	jtis     map[string]bool
	problems []string
	issued   map[string]bool
}

func newTokenServer(t testing.TB, pub crypto.PublicKey, alg string) *tokenServer {
	ts := &tokenServer{t: t, pub: pub, alg: alg, jtis: map[string]bool{}, issued: map[string]bool{}, scope: "system/*.write"}
	ts.expiresIn.Store(3600)
	ts.srv = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.srv.Close)
	return ts
}

func (ts *tokenServer) url() string { return ts.srv.URL + "/token" }

func (ts *tokenServer) problem(format string, args ...any) {
	ts.problems = append(ts.problems, fmt.Sprintf(format, args...))
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	ts.requests++
	n := ts.requests
	ts.mu.Unlock()
	if f := ts.fail.Load(); f != nil {
		(*f)(w)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", 400)
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/token" {
		ts.problem("token request %s %s", r.Method, r.URL.Path)
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		ts.problem("grant_type %q", g)
	}
	if s := r.PostForm.Get("scope"); s != ts.scope {
		ts.problem("scope %q", s)
	}
	if ts.pub == nil {
		id, sec, ok := r.BasicAuth()
		if !ok {
			id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != clientID || sec != secret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
	} else {
		ts.checkAssertion(r)
	}
	tok := fmt.Sprintf("token-%d", n)
	ts.issued[tok] = true
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":%d,"scope":%q}`, tok, ts.expiresIn.Load(), ts.scope)
}

// checkAssertion verifies the client assertion as a SMART authorization
// server does: signature with the registered key, alg, iss = sub = client id,
// aud = token URL, exp within five minutes, a jti never seen before.
func (ts *tokenServer) checkAssertion(r *http.Request) {
	if at := r.PostForm.Get("client_assertion_type"); at != auth.ClientAssertionType {
		ts.problem("client_assertion_type %q", at)
	}
	if r.PostForm.Get("client_secret") != "" {
		ts.problem("client_secret sent")
	}
	var claims jwt.MapClaims
	tok, err := jwt.ParseWithClaims(r.PostForm.Get("client_assertion"), &claims, func(tok *jwt.Token) (any, error) {
		return ts.pub, nil
	}, jwt.WithValidMethods([]string{ts.alg}), jwt.WithAudience(ts.url()), jwt.WithIssuer(clientID),
		jwt.WithSubject(clientID), jwt.WithExpirationRequired())
	if err != nil {
		ts.problem("assertion: %v", err)
		return
	}
	if tok.Header["kid"] != ts.kid && !(ts.kid == "" && tok.Header["kid"] == nil) {
		ts.problem("kid %v", tok.Header["kid"])
	}
	if tok.Header["jku"] != ts.jku && !(ts.jku == "" && tok.Header["jku"] == nil) {
		ts.problem("jku %v", tok.Header["jku"])
	}
	if aud, ok := claims["aud"].(string); !ok || aud != ts.url() {
		ts.problem("aud %v is not the token URL as a string", claims["aud"])
	}
	exp, _ := claims.GetExpirationTime()
	if exp == nil || time.Until(exp.Time) > auth.MaxAssertionLifetime+time.Second {
		ts.problem("exp %v more than 5 minutes ahead", exp)
	}
	jti, _ := claims["jti"].(string)
	if len(jti) < 16 || ts.jtis[jti] {
		ts.problem("jti %q empty or reused", jti)
	}
	ts.jtis[jti] = true
}

func (ts *tokenServer) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.requests
}

func (ts *tokenServer) check(t *testing.T) {
	t.Helper()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	assert.Empty(t, ts.problems, "token server saw bad requests")
}

// apiServer accepts only tokens the token server issued and not revoked.
type apiServer struct {
	srv     *httptest.Server
	ts      *tokenServer
	revoked sync.Map
	seen    sync.Map // token → true
}

func newAPIServer(t testing.TB, ts *tokenServer) *apiServer {
	a := &apiServer{ts: ts}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		ts.mu.Lock()
		good := ok && ts.issued[tok]
		ts.mu.Unlock()
		if _, rev := a.revoked.Load(tok); !good || rev {
			w.WriteHeader(401)
			return
		}
		a.seen.Store(tok, true)
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func get(t *testing.T, c *http.Client, u string) int {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestBackendServicesSignsAndCaches(t *testing.T) {
	rk, ek := keys(t)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		pub  crypto.PublicKey
		alg  string
		kid  string
		jku  string
	}{
		{"RS384", rk, &rk.PublicKey, "RS384", "key-1", "https://client.example/jwks.json"},
		{"ES384", ek, &ek.PublicKey, "ES384", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTokenServer(t, tc.pub, tc.alg)
			ts.kid, ts.jku = tc.kid, tc.jku
			api := newAPIServer(t, ts)
			tr, err := auth.BackendServices(auth.BackendServicesConfig{
				TokenURL: ts.url(), ClientID: clientID, Key: tc.key, KeyID: tc.kid, JWKSURL: tc.jku,
				Scopes: []string{"system/*.write"},
			}, nil)
			require.NoError(t, err)
			c := &http.Client{Transport: tr}
			var wg sync.WaitGroup
			codes := make([]int, 64)
			for i := range codes {
				wg.Go(func() {
					resp, err := c.Get(api.srv.URL)
					if err == nil {
						codes[i] = resp.StatusCode
						resp.Body.Close()
					}
				})
			}
			wg.Wait()
			for i, code := range codes {
				assert.Equal(t, 200, code, "request %d", i)
			}
			assert.Equal(t, 1, ts.count(), "64 concurrent API calls share one token request")
			assert.Equal(t, 1, tr.TokenRequests())
			ts.check(t)
		})
	}
}

func TestRefreshBeforeAndAfterExpiry(t *testing.T) {
	_, ek := keys(t)
	ts := newTokenServer(t, &ek.PublicKey, "ES384")
	api := newAPIServer(t, ts)
	var offset atomic.Int64
	defer auth.SetClock(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })()
	tr, err := auth.BackendServices(auth.BackendServicesConfig{
		TokenURL: ts.url(), ClientID: clientID, Key: ek, Scopes: []string{"system/*.write"},
	}, &auth.Options{RefreshBefore: 2 * time.Minute})
	require.NoError(t, err)
	c := &http.Client{Transport: tr}

	assert.Equal(t, 200, get(t, c, api.srv.URL))
	assert.Equal(t, 1, ts.count())
	offset.Store(int64(57 * time.Minute)) // 3 minutes left: still reused
	assert.Equal(t, 200, get(t, c, api.srv.URL))
	assert.Equal(t, 1, ts.count())
	offset.Store(int64(58*time.Minute + 30*time.Second)) // inside the 2-minute refresh window
	assert.Equal(t, 200, get(t, c, api.srv.URL))
	assert.Equal(t, 2, ts.count(), "refreshed before expiry")
	offset.Store(int64(3 * time.Hour)) // both tokens long expired
	assert.Equal(t, 200, get(t, c, api.srv.URL))
	assert.Equal(t, 3, ts.count(), "refreshed after expiry")
	_, usedLast := api.seen.Load("token-3")
	assert.True(t, usedLast, "the API saw the newest token")
	ts.check(t)
}

func TestShortLivedTokenIsReused(t *testing.T) {
	_, ek := keys(t)
	ts := newTokenServer(t, &ek.PublicKey, "ES384")
	ts.expiresIn.Store(60) // shorter than the default one-minute refresh margin
	api := newAPIServer(t, ts)
	tr, err := auth.BackendServices(auth.BackendServicesConfig{
		TokenURL: ts.url(), ClientID: clientID, Key: ek, Scopes: []string{"system/*.write"},
	}, nil)
	require.NoError(t, err)
	c := &http.Client{Transport: tr}
	for range 5 {
		assert.Equal(t, 200, get(t, c, api.srv.URL))
	}
	assert.Equal(t, 1, ts.count(), "margin is capped at half the lifetime")
}

func TestFailedRefreshKeepsValidToken(t *testing.T) {
	_, ek := keys(t)
	ts := newTokenServer(t, &ek.PublicKey, "ES384")
	api := newAPIServer(t, ts)
	var offset atomic.Int64
	defer auth.SetClock(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })()
	tr, err := auth.BackendServices(auth.BackendServicesConfig{
		TokenURL: ts.url(), ClientID: clientID, Key: ek, Scopes: []string{"system/*.write"},
	}, nil)
	require.NoError(t, err)
	c := &http.Client{Transport: tr}
	assert.Equal(t, 200, get(t, c, api.srv.URL))
	down := func(w http.ResponseWriter) { w.WriteHeader(503) }
	ts.fail.Store(&down)
	offset.Store(int64(59*time.Minute + 30*time.Second)) // due for refresh, not expired
	assert.Equal(t, 200, get(t, c, api.srv.URL), "old token still valid")
	offset.Store(int64(61 * time.Minute)) // expired, endpoint still down
	_, err = c.Get(api.srv.URL)
	var te *auth.TokenError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Retryable())
	assert.Equal(t, 503, te.StatusCode)
}

// TestFailedRefreshBacksOff: while the cached token is still valid, a token
// endpoint that fails is not asked again on every request but after a
// growing interval (RefreshRetryMin, doubling, at most RefreshRetryMax); once
// the token has expired, each request asks again and its failure surfaces.
// The clock is the package clock, moved by the test only.
func TestFailedRefreshBacksOff(t *testing.T) {
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var offset atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	advance := func(d time.Duration) { offset.Add(int64(d)) }
	defer auth.SetClock(now)()

	var calls atomic.Int64
	var failWith atomic.Pointer[error]
	tr := auth.NewTransport(func(ctx context.Context) (*oauth2.Token, error) {
		n := calls.Add(1)
		if e := failWith.Load(); e != nil {
			return nil, *e
		}
		return &oauth2.Token{AccessToken: fmt.Sprintf("token-%d", n), TokenType: "Bearer", Expiry: now().Add(3 * time.Hour)}, nil
	}, &auth.Options{RefreshBefore: time.Hour})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer token-") {
			w.WriteHeader(401)
		}
	}))
	defer api.Close()
	c := &http.Client{Transport: tr}
	fail := func(err error) { failWith.Store(&err) }
	unavailable := &oauth2.RetrieveError{Response: &http.Response{StatusCode: 503}}
	refused := &oauth2.RetrieveError{Response: &http.Response{StatusCode: 401}, ErrorCode: "invalid_client"}

	assert.Equal(t, 200, get(t, c, api.URL))
	require.Equal(t, int64(1), calls.Load())

	for _, tc := range []struct {
		name  string
		cause error
	}{{"unavailable", unavailable}, {"refused", refused}} {
		t.Run(tc.name, func(t *testing.T) {
			fail(tc.cause)
			advance(2*time.Hour + time.Minute) // into the refresh window (the token's last hour)
			before := calls.Load()
			for range 20 {
				assert.Equal(t, 200, get(t, c, api.URL), "the cached token is still valid")
			}
			assert.Equal(t, before+1, calls.Load(), "one failed refresh, then no request per API call")

			// Each further attempt waits twice as long as the one before.
			wait := auth.RefreshRetryMin
			for attempt := int64(2); attempt <= 5; attempt++ {
				advance(wait - time.Millisecond)
				assert.Equal(t, 200, get(t, c, api.URL))
				assert.Equal(t, before+attempt-1, calls.Load(), "attempt %d before %v", attempt, wait)
				advance(time.Millisecond)
				for range 5 {
					assert.Equal(t, 200, get(t, c, api.URL))
				}
				assert.Equal(t, before+attempt, calls.Load(), "attempt %d after %v", attempt, wait)
				wait *= 2
			}

			// The endpoint recovers: the next attempt gets a new token,
			// which is used.
			failWith.Store(nil)
			advance(wait)
			assert.Equal(t, 200, get(t, c, api.URL))
			assert.Equal(t, before+6, calls.Load())
			tok, err := tr.Token(context.Background())
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("token-%d", before+6), tok.AccessToken)
		})
	}

	// The interval is capped at RefreshRetryMax (and starts over from
	// RefreshRetryMin after a success).
	fail(unavailable)
	advance(2*time.Hour + time.Minute)
	before := calls.Load()
	get(t, c, api.URL)
	require.Equal(t, before+1, calls.Load())
	for wait := auth.RefreshRetryMin; wait < 8*auth.RefreshRetryMax; wait *= 2 {
		advance(min(wait, auth.RefreshRetryMax))
		assert.Equal(t, 200, get(t, c, api.URL))
	}
	n := calls.Load()
	advance(auth.RefreshRetryMax - time.Millisecond)
	assert.Equal(t, 200, get(t, c, api.URL))
	assert.Equal(t, n, calls.Load(), "not before RefreshRetryMax")
	advance(time.Millisecond)
	assert.Equal(t, 200, get(t, c, api.URL))
	assert.Equal(t, n+1, calls.Load(), "after RefreshRetryMax")

	// Expired: no back-off, each request asks and gets the error.
	advance(time.Hour)
	n = calls.Load()
	for range 3 {
		_, err := c.Get(api.URL)
		var te *auth.TokenError
		require.ErrorAs(t, err, &te)
		assert.True(t, te.Retryable())
		assert.Equal(t, 503, te.StatusCode)
	}
	assert.Equal(t, n+3, calls.Load())
}

func TestUnauthorizedDropsToken(t *testing.T) {
	_, ek := keys(t)
	ts := newTokenServer(t, &ek.PublicKey, "ES384")
	api := newAPIServer(t, ts)
	tr, err := auth.BackendServices(auth.BackendServicesConfig{
		TokenURL: ts.url(), ClientID: clientID, Key: ek, Scopes: []string{"system/*.write"},
	}, nil)
	require.NoError(t, err)
	c := &http.Client{Transport: tr}
	assert.Equal(t, 200, get(t, c, api.srv.URL))
	api.revoked.Store("token-1", true)
	assert.Equal(t, 401, get(t, c, api.srv.URL), "the revoked token is refused once")
	assert.Equal(t, 200, get(t, c, api.srv.URL), "then a new token is fetched")
	assert.Equal(t, 2, ts.count())
}

func TestClientCredentials(t *testing.T) {
	ts := newTokenServer(t, nil, "")
	api := newAPIServer(t, ts)
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		tr := auth.ClientCredentials(&clientcredentials.Config{
			ClientID: clientID, ClientSecret: secret, TokenURL: ts.url(),
			Scopes: []string{"system/*.write"}, AuthStyle: style,
		}, nil)
		c := &http.Client{Transport: tr}
		before := ts.count()
		for range 10 {
			assert.Equal(t, 200, get(t, c, api.srv.URL))
		}
		assert.Equal(t, before+1, ts.count(), "one token for ten calls")
	}
	ts.check(t)

	// Wrong secret: a permanent, secret-free error.
	tr := auth.ClientCredentials(&clientcredentials.Config{
		ClientID: clientID, ClientSecret: "wrong-" + canary, TokenURL: ts.url(),
		Scopes: []string{"system/*.write"}, AuthStyle: oauth2.AuthStyleInParams,
	}, nil)
	_, err := (&http.Client{Transport: tr}).Get(api.srv.URL)
	var te *auth.TokenError
	require.ErrorAs(t, err, &te)
	assert.False(t, te.Retryable())
	assert.ErrorIs(t, err, auth.ErrTokenRejected)
	assert.Equal(t, "invalid_client", te.Code)
	assert.NotContains(t, err.Error(), canary)
}

func TestTokenErrorClassification(t *testing.T) {
	_, ek := keys(t)
	json400 := func(status int, body string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	leak := `"error_description":"client ` + secret + ` unknown; assertion ` + canary + `"`
	for _, tc := range []struct {
		name      string
		respond   func(w http.ResponseWriter)
		retryable bool
		status    int
		code      string
		rejected  bool
	}{
		{"400 invalid_client", json400(400, `{"error":"invalid_client",`+leak+`}`), false, 400, "invalid_client", true},
		{"401 invalid_client", json400(401, `{"error":"invalid_client",`+leak+`}`), false, 401, "invalid_client", true},
		{"400 invalid_scope", json400(400, `{"error":"invalid_scope"}`), false, 400, "invalid_scope", true},
		{"403 unknown code dropped", json400(403, `{"error":"`+canary+`"}`), false, 403, "", true},
		{"404 html", json400(404, `<html>`+canary+`</html>`), false, 404, "", true},
		{"200 with error code", json400(200, `{"error":"invalid_grant",`+leak+`}`), false, 200, "invalid_grant", true},
		{"408", json400(408, ``), true, 408, "", false},
		{"429", json400(429, `{"error":"temporarily_unavailable"}`), true, 429, "temporarily_unavailable", false},
		{"500", json400(500, canary), true, 500, "", false},
		{"503", json400(503, ``), true, 503, "", false},
		{"200 not json", json400(200, `not json `+canary), false, 0, "", false},
		// A 200 whose body was cut: the answer is not malformed, it did not
		// arrive whole; trying again may help.
		{"200 cut mid-body", func(w http.ResponseWriter) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err == nil {
				fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"+
					`{"access_token":"tok-%s","token_type":"bea`, canary)
				buf.Flush()
				conn.Close()
			}
		}, true, 0, "", false},
		{"200 truncated JSON", json400(200, `{"access_token":"tok-`+canary+`","token_type":"bea`), true, 0, "", false},
		{"200 no access_token", json400(200, `{"token_type":"bearer","note":"`+canary+`"}`), false, 0, "", false},
		{"reset", func(w http.ResponseWriter) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
				conn.Close()
			}
		}, true, 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTokenServer(t, &ek.PublicKey, "ES384")
			ts.fail.Store(&tc.respond)
			tr, err := auth.BackendServices(auth.BackendServicesConfig{
				TokenURL: ts.url(), ClientID: clientID, Key: ek, Scopes: []string{"system/*.write"},
			}, nil)
			require.NoError(t, err)
			tok, err := tr.Token(context.Background())
			require.Error(t, err)
			assert.Nil(t, tok)
			var te *auth.TokenError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tc.retryable, te.Retryable())
			assert.Equal(t, tc.status, te.StatusCode)
			assert.Equal(t, tc.code, te.Code)
			assert.Equal(t, tc.rejected, errors.Is(err, auth.ErrTokenRejected))
			assert.NotContains(t, err.Error(), canary)
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), ts.srv.URL, "no URL in the error")
		})
	}
}

func TestTokenEndpointUnreachableAndSlow(t *testing.T) {
	_, ek := keys(t)
	// Unreachable: a listener that was closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + l.Addr().String() + "/token"
	l.Close()
	tr, err := auth.BackendServices(auth.BackendServicesConfig{TokenURL: dead, ClientID: clientID, Key: ek}, nil)
	require.NoError(t, err)
	_, err = tr.Token(context.Background())
	var te *auth.TokenError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Retryable())
	assert.NotContains(t, err.Error(), l.Addr().String())

	// Slower than the token client's timeout: retryable.
	ts := newTokenServer(t, &ek.PublicKey, "ES384")
	release := make(chan struct{})
	defer close(release)
	slow := func(w http.ResponseWriter) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}
	ts.fail.Store(&slow)
	tr, err = auth.BackendServices(auth.BackendServicesConfig{TokenURL: ts.url(), ClientID: clientID, Key: ek},
		&auth.Options{TokenClient: &http.Client{Timeout: 100 * time.Millisecond}})
	require.NoError(t, err)
	_, err = tr.Token(context.Background())
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Retryable())

	// A caller whose context ends first gets its context's error promptly.
	tr, err = auth.BackendServices(auth.BackendServicesConfig{TokenURL: ts.url(), ClientID: clientID, Key: ek}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = tr.Token(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestBackendServicesConfigErrors(t *testing.T) {
	rk, ek := keys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ok := auth.BackendServicesConfig{TokenURL: "https://auth.example/token", ClientID: clientID, Key: rk}
	for _, tc := range []struct {
		name string
		mod  func(c *auth.BackendServicesConfig)
	}{
		{"relative URL", func(c *auth.BackendServicesConfig) { c.TokenURL = "/token" }},
		{"bad scheme", func(c *auth.BackendServicesConfig) { c.TokenURL = "ftp://x/token" }},
		{"no client", func(c *auth.BackendServicesConfig) { c.ClientID = "" }},
		{"nil key", func(c *auth.BackendServicesConfig) { c.Key = nil }},
		{"short RSA", func(c *auth.BackendServicesConfig) { c.Key = small }},
		{"P-256", func(c *auth.BackendServicesConfig) { c.Key = p256 }},
		{"long assertion", func(c *auth.BackendServicesConfig) { c.AssertionLifetime = 6 * time.Minute }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			_, err := auth.BackendServices(c, nil)
			assert.ErrorIs(t, err, auth.ErrConfig)
		})
	}
	_, err = auth.BackendServices(ok, nil)
	assert.NoError(t, err)
	ok.Key = ek
	_, err = auth.BackendServices(ok, nil)
	assert.NoError(t, err)
}

func TestRoundTripClosesBodyOnTokenFailure(t *testing.T) {
	tr := auth.NewTransport(func(ctx context.Context) (*oauth2.Token, error) {
		return nil, errors.New("no token")
	}, nil)
	body := &closeRecorder{Reader: strings.NewReader("{}")}
	req, err := http.NewRequest("POST", "http://127.0.0.1:1/x", body)
	require.NoError(t, err)
	_, err = tr.RoundTrip(req)
	var te *auth.TokenError
	require.ErrorAs(t, err, &te)
	assert.False(t, te.Retryable())
	assert.True(t, body.closed)
}

type closeRecorder struct {
	*strings.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestTokenResponseJSON(t *testing.T) {
	// The token a Transport returns carries the server's fields.
	ts := newTokenServer(t, nil, "")
	tr := auth.ClientCredentials(&clientcredentials.Config{
		ClientID: clientID, ClientSecret: secret, TokenURL: ts.url(), Scopes: []string{"system/*.write"},
	}, nil)
	tok, err := tr.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "token-1", tok.AccessToken)
	assert.Equal(t, "Bearer", tok.Type())
	b, _ := json.Marshal(tok.Extra("scope"))
	assert.JSONEq(t, `"system/*.write"`, string(b))
	assert.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, time.Minute)
}
