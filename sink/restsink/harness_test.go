package restsink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/restsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

// faultKind is what the proxy does to one request.
type faultKind int

const (
	pass        faultKind = iota
	status                // answer with a status, without forwarding
	stall                 // hang until the client gives up
	reset                 // close the connection abruptly, without forwarding
	resetAfter            // forward (the server applies the write), then reset
	slow                  // forward, then hold the response for a delay
	statusAfter           // forward (the server applies the write), then answer a status
	unblame               // forward; in a failure's OperationOutcome, drop the expressions and locations
)

type fault struct {
	kind       faultKind
	status     int
	retryAfter string
	delay      time.Duration
}

// faultProxy is a reverse proxy in front of the test server that injects
// faults: queued ones for the next requests (sinktest's FaultInjector), and
// random ones at given rates for the fault tests. It can also freeze, as a
// server restart does: requests arriving are held and then cut, and requests
// the server is processing have their responses cut.
type faultProxy struct {
	srv    *httptest.Server
	rp     *httputil.ReverseProxy
	target *url.URL

	mu     sync.Mutex
	queue  []fault
	random func(r *rand.Rand) fault
	rng    *rand.Rand
	frozen bool
	gen    int           // incremented by each freeze
	thaw   chan struct{} // closed when a freeze ends
	active sync.WaitGroup

	// onRequest, when set, is called with each request's number (from 1).
	onRequest atomic.Pointer[func(n int64)]
	requests  atomic.Int64
	injected  sync.Map // faultKind → *atomic.Int64
	byStatus  sync.Map // injected HTTP status → *atomic.Int64
	cut       atomic.Int64
	unblamed  atomic.Int64 // failures whose outcome lost its expressions
}

func newFaultProxy(t testing.TB, serverURL string) *faultProxy {
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	target := &url.URL{Scheme: u.Scheme, Host: u.Host}
	p := &faultProxy{target: u, rng: rand.New(rand.NewPCG(1, 2))}
	p.rp = httputil.NewSingleHostReverseProxy(target)
	p.rp.Transport = &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	p.rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		// The server is down: like a gateway, answer 502.
		w.WriteHeader(http.StatusBadGateway)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

// base returns the FHIR base URL through the proxy.
func (p *faultProxy) base() string { return p.srv.URL + p.target.Path }

func (p *faultProxy) count(k faultKind) int64 {
	v, _ := p.injected.LoadOrStore(k, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func (p *faultProxy) next() fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) > 0 {
		f := p.queue[0]
		p.queue = p.queue[1:]
		return f
	}
	if p.random != nil {
		return p.random(p.rng)
	}
	return fault{}
}

// freeze starts a restart window and waits until the server has finished
// the requests it was given; their responses will be cut.
func (p *faultProxy) freeze() {
	p.mu.Lock()
	p.frozen = true
	p.gen++
	p.thaw = make(chan struct{})
	p.mu.Unlock()
	p.active.Wait()
}

// unfreeze ends the restart window: the requests held are cut.
func (p *faultProxy) unfreeze() {
	p.mu.Lock()
	p.frozen = false
	close(p.thaw)
	p.mu.Unlock()
}

// forward sends r to the server and returns the buffered response, or false
// when a restart window cut it (before or after the server saw it).
func (p *faultProxy) forward(r *http.Request) (*httptest.ResponseRecorder, bool) {
	p.mu.Lock()
	if p.frozen {
		ch := p.thaw
		p.mu.Unlock()
		<-ch
		return nil, false
	}
	gen := p.gen
	p.active.Add(1)
	p.mu.Unlock()
	rec := httptest.NewRecorder()
	p.rp.ServeHTTP(rec, r)
	p.active.Done()
	p.mu.Lock()
	cut, ch := p.gen != gen, p.thaw
	p.mu.Unlock()
	if cut {
		<-ch
		return nil, false
	}
	return rec, true
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	n := p.requests.Add(1)
	if h := p.onRequest.Load(); h != nil {
		(*h)(n)
	}
	f := p.next()
	if f.kind != pass {
		v, _ := p.injected.LoadOrStore(f.kind, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	if f.kind == status || f.kind == statusAfter {
		v, _ := p.byStatus.LoadOrStore(f.status, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	switch f.kind {
	case status:
		io.Copy(io.Discard, r.Body)
		writeStatus(w, f)
		return
	case stall:
		// Reading the body to its end lets the server notice the client
		// hanging up, which cancels r.Context().
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		return
	case reset:
		io.Copy(io.Discard, r.Body)
		hijackReset(w)
		return
	}
	if f.kind == unblame {
		r.Header.Del("Accept-Encoding") // an answer to rewrite, not gzip
	}
	rec, ok := p.forward(r)
	if !ok {
		p.cut.Add(1)
		hijackReset(w)
		return
	}
	switch f.kind {
	case resetAfter:
		hijackReset(w)
		return
	case statusAfter:
		writeStatus(w, f)
		return
	case slow:
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	case unblame:
		if rec.Code >= 400 {
			if b, ok := withoutExpressions(rec.Body.Bytes()); ok {
				p.unblamed.Add(1)
				rec.Body.Reset()
				rec.Body.Write(b)
				rec.Header().Del("Content-Length")
			}
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// withoutExpressions removes the expressions and locations of an
// OperationOutcome's issues, as servers that do not say which bundle entry
// failed answer.
func withoutExpressions(body []byte) ([]byte, bool) {
	var oo map[string]any
	if err := json.Unmarshal(body, &oo); err != nil || oo["resourceType"] != "OperationOutcome" {
		return nil, false
	}
	issues, _ := oo["issue"].([]any)
	for _, is := range issues {
		if m, ok := is.(map[string]any); ok {
			delete(m, "expression")
			delete(m, "location")
		}
	}
	b, err := json.Marshal(oo)
	return b, err == nil
}

func writeStatus(w http.ResponseWriter, f fault) {
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(f.status)
	fmt.Fprintf(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"throttled","diagnostics":"injected %d for %s"}]}`, f.status, sinktest.Canary)
}

// hijackReset closes the client's connection with a TCP RST.
func hijackReset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// FailNext implements sinktest.FaultInjector.
func (p *faultProxy) FailNext(n int, f sinktest.Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ra := ""
	if f.RetryAfter > 0 {
		ra = strconv.Itoa(int(f.RetryAfter / time.Second))
	}
	for range n {
		p.queue = append(p.queue, fault{kind: status, status: f.Status, retryAfter: ra})
	}
}

// StallNext implements sinktest.FaultInjector.
func (p *faultProxy) StallNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.queue = append(p.queue, fault{kind: stall})
	}
}

// harness connects sinktest to a restsink writing through a fault proxy to
// the test server, and reads the server directly.
type harness struct {
	*faultProxy
	srv    *fhirtest.Server
	opts   restsink.Options
	client *http.Client
}

var _ sinktest.FaultInjector = (*harness)(nil)
var _ sinktest.HistoryReader = (*harness)(nil)

func newHarness(t testing.TB, srv *fhirtest.Server, opts restsink.Options) *harness {
	return &harness{
		faultProxy: newFaultProxy(t, srv.URL()),
		srv:        srv,
		opts:       opts,
		client:     &http.Client{Timeout: time.Minute},
	}
}

func (h *harness) MakeSink(ctx context.Context) (sink.Sink, error) {
	s, err := restsink.New(h.base(), nil, &h.opts)
	if err != nil {
		return nil, err
	}
	if _, err := s.Probe(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (h *harness) get(ctx context.Context, path string) (int, []byte, error) {
	return get(ctx, h.client, h.srv.URL(), path)
}

func get(ctx context.Context, client *http.Client, base, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/"+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (h *harness) Read(ctx context.Context, typ, id string) (*sinktest.Stored, error) {
	code, body, err := h.get(ctx, typ+"/"+id)
	switch {
	case err != nil:
		return nil, err
	case code == http.StatusNotFound || code == http.StatusGone:
		return nil, sinktest.ErrNotFound
	case code != http.StatusOK:
		return nil, fmt.Errorf("read %s/%s: HTTP %d", typ, id, code)
	}
	m, err := resource.Unmarshal(body)
	if err != nil {
		return nil, err
	}
	return &sinktest.Stored{Resource: m, VersionID: resource.VersionID(m)}, nil
}

// searchAll lists every current resource of typ, paging with _offset.
func (h *harness) searchAll(ctx context.Context, typ string) ([]json.RawMessage, error) {
	return listAll(ctx, h.client, h.srv.URL(), typ)
}

// listAll lists every current resource of typ on the server at base, paging
// with _offset.
func listAll(ctx context.Context, client *http.Client, base, typ string) ([]json.RawMessage, error) {
	const page = 1000
	var out []json.RawMessage
	for off := 0; ; off += page {
		code, body, err := get(ctx, client, base, fmt.Sprintf("%s?_count=%d&_offset=%d", typ, page, off))
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("search %s: HTTP %d", typ, code)
		}
		var b struct {
			Total int `json:"total"`
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, err
		}
		for _, e := range b.Entry {
			out = append(out, e.Resource)
		}
		if len(b.Entry) < page {
			return out, nil
		}
	}
}

func (h *harness) List(ctx context.Context, typ string) ([]*sinktest.Stored, error) {
	raws, err := h.searchAll(ctx, typ)
	if err != nil {
		return nil, err
	}
	out := make([]*sinktest.Stored, 0, len(raws))
	for _, raw := range raws {
		m, err := resource.Unmarshal(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, &sinktest.Stored{Resource: m, VersionID: resource.VersionID(m)})
	}
	return out, nil
}

func (h *harness) History(ctx context.Context, typ, id string) ([]*sinktest.Stored, error) {
	code, body, err := h.get(ctx, typ+"/"+id+"/_history?_count=1000")
	switch {
	case err != nil:
		return nil, err
	case code == http.StatusNotFound:
		return []*sinktest.Stored{}, nil
	case code != http.StatusOK:
		return nil, fmt.Errorf("history %s/%s: HTTP %d", typ, id, code)
	}
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
			Request  struct {
				Method string `json:"method"`
			} `json:"request"`
			Response struct {
				Etag string `json:"etag"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, err
	}
	out := make([]*sinktest.Stored, 0, len(b.Entry))
	for i := len(b.Entry) - 1; i >= 0; i-- { // the server lists newest first
		e := b.Entry[i]
		if e.Request.Method == http.MethodDelete || len(e.Resource) == 0 {
			out = append(out, &sinktest.Stored{Deleted: true})
			continue
		}
		m, err := resource.Unmarshal(e.Resource)
		if err != nil {
			return nil, err
		}
		out = append(out, &sinktest.Stored{Resource: m, VersionID: resource.VersionID(m)})
	}
	return out, nil
}

func (h *harness) Close() {}
