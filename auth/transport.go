package auth

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Defaults of [Options].
const (
	// DefaultRefreshBefore is how long before its expiry a cached token is
	// replaced when Options.RefreshBefore is zero.
	DefaultRefreshBefore = time.Minute
	// DefaultTokenTimeout bounds a token request when Options.TokenClient is nil.
	DefaultTokenTimeout = 30 * time.Second
)

// Back-off of failed refreshes; see [Transport.Token].
const (
	// RefreshRetryMin is how long a Transport waits after a failed refresh
	// before asking the token endpoint again, while its cached token is
	// still valid. The wait doubles with each consecutive failure.
	RefreshRetryMin = time.Second
	// RefreshRetryMax bounds that wait.
	RefreshRetryMax = time.Minute
)

// timeNow is the clock; tests replace it.
var timeNow = time.Now

// TokenFunc obtains a new access token. ctx carries the *http.Client for the
// token request under [oauth2.HTTPClient] (as golang.org/x/oauth2 expects)
// and is bounded by the token client's timeout; it is not cancelled when the
// API request that triggered the fetch is, because other requests may be
// waiting for the same token.
//
// A TokenFunc should return a [*TokenError] for failures; other errors are
// treated as permanent.
type TokenFunc func(ctx context.Context) (*oauth2.Token, error)

// Options are the optional settings of a [Transport]. The zero value and nil
// mean the defaults.
type Options struct {
	// Base carries the authenticated API requests. Nil means
	// http.DefaultTransport.
	Base http.RoundTripper
	// TokenClient makes the token requests. Nil means a client over
	// http.DefaultTransport with a DefaultTokenTimeout timeout. The token
	// client must not itself use the Transport.
	TokenClient *http.Client
	// RefreshBefore is how long before a token's expiry the Transport
	// fetches the next one; at most half the token's lifetime is used, so a
	// short-lived token is still reused. Zero means DefaultRefreshBefore.
	RefreshBefore time.Duration
}

// Transport is an [http.RoundTripper] that sends every request with an
// "Authorization: Bearer" token obtained from its TokenFunc. It caches the
// token, lets concurrent requests share one token request, refreshes the token
// before it expires and drops it when the server answers 401. A Transport is
// safe for concurrent use.
type Transport struct {
	fetch       TokenFunc
	base        http.RoundTripper
	tokenClient *http.Client
	early       time.Duration

	mu        sync.Mutex
	tok       *oauth2.Token
	refreshAt time.Time // zero: never (the token has no expiry)
	call      *tokenCall
	fetches   int
	// failures counts the consecutive failed refreshes while tok was still
	// valid; until retryAt, tok is used without asking again.
	failures int
	retryAt  time.Time
}

// tokenCall is one token request that concurrent callers wait for.
type tokenCall struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

// NewTransport returns a Transport that obtains its tokens from fetch.
func NewTransport(fetch TokenFunc, opts *Options) *Transport {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Base == nil {
		o.Base = http.DefaultTransport
	}
	if o.TokenClient == nil {
		o.TokenClient = &http.Client{Transport: http.DefaultTransport, Timeout: DefaultTokenTimeout}
	}
	if o.RefreshBefore <= 0 {
		o.RefreshBefore = DefaultRefreshBefore
	}
	return &Transport{fetch: fetch, base: o.Base, tokenClient: o.TokenClient, early: o.RefreshBefore}
}

// Token returns a valid token, from the cache when it holds one that is not
// due for refresh. It returns ctx.Err() when ctx is done first. When a
// refresh fails but the cached token has not expired yet, the cached token is
// returned, and the token endpoint is not asked again before a back-off
// (RefreshRetryMin after the first failure, doubling with each consecutive
// failure up to RefreshRetryMax), so a failing endpoint is not asked on every
// request. Once no valid token is cached, every call asks the endpoint and
// returns its failure.
func (t *Transport) Token(ctx context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	now := timeNow()
	if t.tok != nil && (t.refreshAt.IsZero() || now.Before(t.refreshAt) ||
		now.Before(t.retryAt) && now.Before(t.tok.Expiry)) {
		tok := t.tok
		t.mu.Unlock()
		return tok, nil
	}
	c := t.call
	if c == nil {
		c = &tokenCall{done: make(chan struct{})}
		t.call = c
		t.fetches++
		go t.run(context.WithoutCancel(ctx), c)
	}
	t.mu.Unlock()
	select {
	case <-c.done:
		return c.tok, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run performs one token request and publishes its result.
func (t *Transport) run(ctx context.Context, c *tokenCall) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, t.tokenClient)
	if t.tokenClient.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.tokenClient.Timeout)
		defer cancel()
	}
	tok, err := t.fetch(ctx)
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = &TokenError{Err: errMalformed}
	}
	if err != nil {
		err = classify(err)
	}
	now := timeNow()
	t.mu.Lock()
	t.call = nil
	switch {
	case err == nil:
		t.tok = tok
		t.failures, t.retryAt = 0, time.Time{}
		t.refreshAt = time.Time{}
		if !tok.Expiry.IsZero() {
			margin := t.early
			if half := tok.Expiry.Sub(now) / 2; half < margin {
				margin = half
			}
			t.refreshAt = tok.Expiry.Add(-margin)
		}
		c.tok = tok
	case t.tok != nil && (t.tok.Expiry.IsZero() || now.Before(t.tok.Expiry)):
		// The refresh failed but the cached token is still good: keep using
		// it, and back off before asking again.
		t.failures++
		t.retryAt = now.Add(refreshRetry(t.failures))
		c.tok = t.tok
	default:
		c.err = err
	}
	t.mu.Unlock()
	close(c.done)
}

// RoundTrip implements http.RoundTripper: it sends req, with the token in its
// Authorization header, through the base transport. A token failure is
// returned as a [*TokenError] and req is not sent.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.Token(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	r2 := req.Clone(req.Context())
	tok.SetAuthHeader(r2)
	resp, err := t.base.RoundTrip(r2)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		t.invalidate(tok)
	}
	return resp, err
}

// invalidate drops the cached token if it is still tok, so that the next
// request fetches a new one (the server no longer accepts tok).
func (t *Transport) invalidate(tok *oauth2.Token) {
	t.mu.Lock()
	if t.tok == tok {
		t.tok = nil
	}
	t.mu.Unlock()
}

// TokenRequests returns how many token requests the Transport has started.
func (t *Transport) TokenRequests() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fetches
}

// CloseIdleConnections closes the idle connections of the base transport and
// of the token client's transport, when they support it.
func (t *Transport) CloseIdleConnections() {
	type closeIdler interface{ CloseIdleConnections() }
	if c, ok := t.base.(closeIdler); ok {
		c.CloseIdleConnections()
	}
	t.tokenClient.CloseIdleConnections()
}

var errMalformed = errors.New("auth: malformed token response")

// refreshRetry is the back-off after the n-th consecutive failed refresh
// (n >= 1): RefreshRetryMin doubled n-1 times, at most RefreshRetryMax.
func refreshRetry(n int) time.Duration {
	d := RefreshRetryMin
	for i := 1; i < n && d < RefreshRetryMax; i++ {
		d *= 2
	}
	return min(d, RefreshRetryMax)
}
