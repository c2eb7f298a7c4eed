package fhirsync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink/sinktest"
	"github.com/fhirsync/fhirsync/source/memsource"
)

// record is a system of record for the facade tests: patients by id, each
// at a revision, with a fetch counter.
type record struct {
	mu      sync.Mutex
	revs    map[string]int
	fetches atomic.Int32
	fail    error
	delay   time.Duration
}

func (s *record) fetch(_ context.Context, typ, id string) (proto.Message, error) {
	s.fetches.Add(1)
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	rev, ok := s.revs[id]
	if typ != "Patient" || !ok {
		return nil, fhirsync.ErrNotFound
	}
	var i int
	if _, err := fmt.Sscanf(id, "sinktest-pat-%d", &i); err != nil {
		return nil, fhirsync.ErrNotFound
	}
	return sinktest.PatientRev(i, rev), nil
}

func (s *record) set(id string, rev int) {
	s.mu.Lock()
	s.revs[id] = rev
	s.mu.Unlock()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func get(t *testing.T, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func TestFacadeReadThroughCache(t *testing.T) {
	sor := &record{revs: map[string]int{sinktest.PatientID(1): 1}}
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f, err := fhirsync.NewFacade(sor.fetch, &fhirsync.FacadeOptions{TTL: time.Minute, NotFoundTTL: 10 * time.Second, Now: clk.now, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv := httptest.NewServer(f)
	defer srv.Close()
	u := srv.URL + "/Patient/" + sinktest.PatientID(1)

	resp, body := get(t, u, nil)
	require.Equal(t, 200, resp.StatusCode, string(body))
	assert.Equal(t, "application/fhir+json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	m, err := resource.Unmarshal(body)
	require.NoError(t, err)
	assert.Equal(t, 1, sinktest.Revision(m))
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)

	// A hit: no fetch. If-None-Match: 304.
	resp, _ = get(t, u, http.Header{"If-None-Match": {etag}})
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
	assert.EqualValues(t, 1, sor.fetches.Load())

	// The system of record changes: the cache serves the old revision until
	// the TTL ends.
	sor.set(sinktest.PatientID(1), 2)
	_, body = get(t, u, nil)
	m, _ = resource.Unmarshal(body)
	assert.Equal(t, 1, sinktest.Revision(m))
	clk.add(2 * time.Minute)
	_, body = get(t, u, nil)
	m, _ = resource.Unmarshal(body)
	assert.Equal(t, 2, sinktest.Revision(m))
	assert.EqualValues(t, 2, sor.fetches.Load())

	// Not found is remembered for NotFoundTTL.
	missing := srv.URL + "/Patient/" + sinktest.PatientID(9)
	resp, body = get(t, missing, nil)
	assert.Equal(t, 404, resp.StatusCode)
	assert.Contains(t, string(body), `"OperationOutcome"`)
	get(t, missing, nil)
	assert.EqualValues(t, 3, sor.fetches.Load())
	sor.set(sinktest.PatientID(9), 1)
	clk.add(11 * time.Second)
	resp, _ = get(t, missing, nil)
	assert.Equal(t, 200, resp.StatusCode)

	st := f.Stats()
	assert.Equal(t, 4, st.Fetches)
	assert.Equal(t, 3, st.Hits)
}

func TestFacadeConcurrentMissesShareOneFetch(t *testing.T) {
	sor := &record{revs: map[string]int{sinktest.PatientID(1): 1}, delay: 50 * time.Millisecond}
	f, err := fhirsync.NewFacade(sor.fetch, nil)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			m, err := f.Get(context.Background(), "Patient", sinktest.PatientID(1))
			assert.NoError(t, err)
			assert.Equal(t, 1, sinktest.Revision(m))
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, sor.fetches.Load())
}

// TestFacadeInvalidatedByChangeEvents runs change events through Run into the
// facade's Sink: a changed resource is fetched again at once.
func TestFacadeInvalidatedByChangeEvents(t *testing.T) {
	sor := &record{revs: map[string]int{sinktest.PatientID(1): 1, sinktest.PatientID(2): 1}}
	f, err := fhirsync.NewFacade(sor.fetch, &fhirsync.FacadeOptions{TTL: time.Hour})
	require.NoError(t, err)
	ctx := context.Background()
	for _, id := range []string{sinktest.PatientID(1), sinktest.PatientID(2)} {
		_, err := f.Get(ctx, "Patient", id)
		require.NoError(t, err)
	}
	sor.set(sinktest.PatientID(1), 2)
	b := memsource.NewBroker()
	publish(b, "1 2") // the change event of patient 1
	require.NoError(t, fhirsync.Run(ctx, b.Open("changes", &memsource.Options{Finite: true}), patients(false), f.Sink(), fast(nil)))
	m, err := f.Get(ctx, "Patient", sinktest.PatientID(1))
	require.NoError(t, err)
	assert.Equal(t, 2, sinktest.Revision(m))
	_, err = f.Get(ctx, "Patient", sinktest.PatientID(2))
	require.NoError(t, err)
	assert.EqualValues(t, 3, sor.fetches.Load(), "patient 2 stays cached")
	assert.Equal(t, 1, f.Stats().Invalidations)
}

func TestFacadeErrorsHoldNoPHI(t *testing.T) {
	sor := &record{revs: map[string]int{}, fail: errors.New("database down for member " + canary)}
	var logs bytes.Buffer
	f, err := fhirsync.NewFacade(sor.fetch, &fhirsync.FacadeOptions{
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Search: func(context.Context, string, url.Values) ([]proto.Message, error) {
			return nil, errors.New("search failed for " + canary)
		},
	})
	require.NoError(t, err)
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/Patient/" + sinktest.PatientID(1), 502},
		{"GET", "/Patient?identifier=" + canary, 502},
		{"GET", "/Patient/" + canary + "!", 400},
		{"GET", "/NoSuchType/1", 404},
		{"PUT", "/Patient/1", 405},
		{"GET", "/a/b/c", 404},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, tc.status, resp.StatusCode, tc.path)
		assert.NotContains(t, string(b), canary)
		var oo struct{ ResourceType string }
		require.NoError(t, json.Unmarshal(b, &oo))
		assert.Equal(t, "OperationOutcome", oo.ResourceType)
	}
	assert.NotContains(t, logs.String(), canary)
	assert.Contains(t, logs.String(), "facade fetch failed")
}

func TestFacadeSearchAndMetadataAreValidFHIR(t *testing.T) {
	srvFHIR := fhirtest.Start(t)
	sor := &record{revs: map[string]int{sinktest.PatientID(1): 1}}
	f, err := fhirsync.NewFacade(sor.fetch, &fhirsync.FacadeOptions{
		Types: []string{"Patient", "Coverage"},
		Search: func(_ context.Context, typ string, q url.Values) ([]proto.Message, error) {
			if q.Get("identifier") == "" {
				return nil, nil
			}
			return []proto.Message{sinktest.Patient(1)}, nil
		},
	})
	require.NoError(t, err)
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, path := range []string{"/metadata", "/Patient?identifier=x", "/Patient/" + sinktest.PatientID(1), "/Patient/" + sinktest.PatientID(5)} {
		_, body := get(t, srv.URL+path, nil)
		srvFHIR.RequireValid(t, body)
	}
	every, err := fhirsync.NewFacade(sor.fetch, nil) // every R4 type
	require.NoError(t, err)
	w := httptest.NewRecorder()
	every.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metadata", nil))
	srvFHIR.RequireValid(t, w.Body.Bytes())
	resp, body := get(t, srv.URL+"/Patient?identifier=x", nil)
	require.Equal(t, 200, resp.StatusCode)
	var bundle struct {
		Type  string
		Total int
	}
	require.NoError(t, json.Unmarshal(body, &bundle))
	assert.Equal(t, "searchset", bundle.Type)
	assert.Equal(t, 1, bundle.Total)
	resp, _ = get(t, srv.URL+"/Claim/x", nil)
	assert.Equal(t, 404, resp.StatusCode, "a type outside Types")
}

// gatedFetch is a system of record whose fetches of a gated id wait until
// the gate is opened; each fetch reads the revision when it starts.
type gatedFetch struct {
	mu      sync.Mutex
	revs    map[string]int
	gated   string
	gate    chan struct{}
	started chan string // a fetch began (its id)
	fetches atomic.Int32
}

func newGatedFetch(gated string, revs map[string]int) *gatedFetch {
	return &gatedFetch{revs: revs, gated: gated, gate: make(chan struct{}), started: make(chan string, 100)}
}

func (g *gatedFetch) fetch(ctx context.Context, typ, id string) (proto.Message, error) {
	g.fetches.Add(1)
	g.mu.Lock()
	rev, ok := g.revs[id]
	gated := id == g.gated
	g.mu.Unlock()
	g.started <- id
	if gated {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if !ok {
		return nil, fhirsync.ErrNotFound
	}
	var i int
	fmt.Sscanf(id, "sinktest-pat-%d", &i)
	return sinktest.PatientRev(i, rev), nil
}

func (g *gatedFetch) ungate() {
	g.mu.Lock()
	g.gated = ""
	g.mu.Unlock()
}

func (g *gatedFetch) set(id string, rev int) {
	g.mu.Lock()
	g.revs[id] = rev
	g.mu.Unlock()
}

type getResult struct {
	m   proto.Message
	err error
}

func goGet(ctx context.Context, f *fhirsync.Facade, id string) chan getResult {
	ch := make(chan getResult, 1)
	go func() {
		m, err := f.Get(ctx, "Patient", id)
		ch <- getResult{m, err}
	}()
	return ch
}

// TestFacadeReadAfterInvalidateIsFresh: a read that starts after a resource
// was invalidated never gets what a fetch begun before the invalidation
// read, nor does that fetch fill the cache.
func TestFacadeReadAfterInvalidateIsFresh(t *testing.T) {
	id := sinktest.PatientID(1)
	g := newGatedFetch(id, map[string]int{id: 1})
	f, err := fhirsync.NewFacade(g.fetch, &fhirsync.FacadeOptions{TTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx := context.Background()

	before := goGet(ctx, f, id)
	require.Equal(t, id, <-g.started) // the fetch read revision 1 and waits
	g.set(id, 2)                      // the system of record changes...
	f.Invalidate("Patient", id)       // ...and its change event arrives
	g.ungate()                        // fetches from now on do not wait
	after := goGet(ctx, f, id)
	select {
	case r := <-after:
		require.NoError(t, r.err)
		assert.Equal(t, 2, sinktest.Revision(r.m), "a read after the invalidation got an older revision")
	case <-time.After(5 * time.Second):
		close(g.gate)
		r := <-after
		require.NoError(t, r.err)
		t.Fatalf("the read after the invalidation waited for the fetch begun before it, and got revision %d", sinktest.Revision(r.m))
	}
	close(g.gate)
	r := <-before
	require.NoError(t, r.err)
	assert.Equal(t, 1, sinktest.Revision(r.m), "the first read gets what its fetch read")
	m, err := f.Get(ctx, "Patient", id)
	require.NoError(t, err)
	assert.Equal(t, 2, sinktest.Revision(m), "the stale fetch did not fill the cache")
}

// TestFacadeInvalidationOfOtherResourcesKeepsCaching: a change event for one
// resource does not stop a fetch of another from filling the cache (under a
// steady change stream nothing would ever be cached).
func TestFacadeInvalidationOfOtherResourcesKeepsCaching(t *testing.T) {
	id, other := sinktest.PatientID(1), sinktest.PatientID(2)
	g := newGatedFetch(id, map[string]int{id: 1, other: 1})
	f, err := fhirsync.NewFacade(g.fetch, &fhirsync.FacadeOptions{TTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx := context.Background()
	pending := goGet(ctx, f, id)
	require.Equal(t, id, <-g.started)
	f.Invalidate("Patient", other)
	close(g.gate)
	require.NoError(t, (<-pending).err)
	_, err = f.Get(ctx, "Patient", id)
	require.NoError(t, err)
	assert.EqualValues(t, 1, g.fetches.Load(), "the second read is a hit")
}

// TestFacadeCancelledReaderReturnsPromptly: a reader whose context ends
// stops waiting for a fetch it shares; the fetch goes on for the others and
// fills the cache.
func TestFacadeCancelledReaderReturnsPromptly(t *testing.T) {
	id := sinktest.PatientID(1)
	g := newGatedFetch(id, map[string]int{id: 1})
	f, err := fhirsync.NewFacade(g.fetch, &fhirsync.FacadeOptions{TTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	first := goGet(ctx, f, id)
	require.Equal(t, id, <-g.started)
	other := goGet(context.Background(), f, id)
	cancel()
	select {
	case r := <-first:
		assert.ErrorIs(t, r.err, context.Canceled)
	case <-time.After(5 * time.Second):
		close(g.gate)
		<-first
		t.Fatal("Get did not return when its context was cancelled")
	}
	close(g.gate)
	r := <-other
	require.NoError(t, r.err, "the shared fetch outlives the cancelled reader")
	assert.Equal(t, 1, sinktest.Revision(r.m))
	_, err = f.Get(context.Background(), "Patient", id)
	require.NoError(t, err)
	assert.EqualValues(t, 1, g.fetches.Load())
}

// TestFacadeFetchPanic: a fetch function that panics answers 502 like any
// failed fetch; the panic value (which may hold PHI) reaches no log.
func TestFacadeFetchPanic(t *testing.T) {
	var logs bytes.Buffer
	f, err := fhirsync.NewFacade(func(context.Context, string, string) (proto.Message, error) {
		panic("no row for member " + canary)
	}, &fhirsync.FacadeOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(f)
	var serverLog syncBuffer
	srv.Config.ErrorLog = log.New(&serverLog, "", 0)
	srv.Start()
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/Patient/" + sinktest.PatientID(1))
	require.NoError(t, err, "the server dropped the connection")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.NotContains(t, string(b), canary)
	_, err = f.Get(context.Background(), "Patient", sinktest.PatientID(2))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), canary)
	assert.NotContains(t, logs.String()+serverLog.String(), canary)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFacadeCapabilityStatementListsServedTypes: /metadata names every type
// the facade reads (all of R4 when FacadeOptions.Types is nil, where a
// statement without resources would say nothing can be read), with search
// only when a SearchFunc is set.
func TestFacadeCapabilityStatementListsServedTypes(t *testing.T) {
	search := func(context.Context, string, url.Values) ([]proto.Message, error) { return nil, nil }
	for _, tc := range []struct {
		name     string
		opts     fhirsync.FacadeOptions
		want     []string // types that must be listed
		absent   []string
		exactly  int // number of types listed, 0: at least len(want)
		searches bool
	}{
		{"every type", fhirsync.FacadeOptions{}, []string{"Patient", "Coverage", "ExplanationOfBenefit", "Practitioner"}, nil, 0, false},
		{"some types with search", fhirsync.FacadeOptions{Types: []string{"Patient", "Coverage"}, Search: search}, []string{"Coverage", "Patient"}, []string{"Claim"}, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := fhirsync.NewFacade((&record{revs: map[string]int{}}).fetch, &tc.opts)
			require.NoError(t, err)
			srv := httptest.NewServer(f)
			defer srv.Close()
			resp, body := get(t, srv.URL+"/metadata", nil)
			require.Equal(t, 200, resp.StatusCode)
			var cs struct {
				ResourceType string
				Rest         []struct {
					Mode     string
					Resource []struct {
						Type        string
						Interaction []struct{ Code string }
					}
				}
			}
			require.NoError(t, json.Unmarshal(body, &cs))
			require.Equal(t, "CapabilityStatement", cs.ResourceType)
			require.Len(t, cs.Rest, 1)
			listed := map[string][]string{}
			for _, r := range cs.Rest[0].Resource {
				for _, in := range r.Interaction {
					listed[r.Type] = append(listed[r.Type], in.Code)
				}
			}
			for _, typ := range tc.want {
				want := []string{"read"}
				if tc.searches {
					want = append(want, "search-type")
				}
				assert.Equal(t, want, listed[typ], typ)
			}
			for _, typ := range tc.absent {
				assert.NotContains(t, listed, typ)
			}
			if tc.exactly > 0 {
				assert.Len(t, listed, tc.exactly)
			}
		})
	}
}

// TestFacadeLastModified: Last-Modified is the resource's meta.lastUpdated,
// as FHIR asks; without one there is no Last-Modified (the time of the fetch
// is not when the resource changed).
func TestFacadeLastModified(t *testing.T) {
	updated := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	f, err := fhirsync.NewFacade(func(_ context.Context, _, id string) (proto.Message, error) {
		p := sinktest.Patient(1)
		if id == sinktest.PatientID(1) {
			p.Meta = &dtpb.Meta{LastUpdated: &dtpb.Instant{ValueUs: updated.UnixMicro(), Precision: dtpb.Instant_SECOND, Timezone: "Z"}}
			return p, nil
		}
		p.Id.Value = id
		return p, nil
	}, &fhirsync.FacadeOptions{Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }})
	require.NoError(t, err)
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, tc := range []struct{ id, want string }{
		{sinktest.PatientID(1), "Fri, 01 Mar 2024 10:00:00 GMT"},
		{sinktest.PatientID(2), ""},
	} {
		resp, body := get(t, srv.URL+"/Patient/"+tc.id, nil)
		require.Equal(t, 200, resp.StatusCode, string(body))
		assert.Equal(t, tc.want, resp.Header.Get("Last-Modified"), tc.id)
	}
}

// TestFacadeFetchFailureStatus: a fetch that timed out answers 504, another
// failure 502; a reader that went away gets no answer and no warning.
func TestFacadeFetchFailureStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		cancel  bool
		status  int
		code    string
		warning bool
	}{
		{"timeout", fmt.Errorf("select: %w", context.DeadlineExceeded), false, http.StatusGatewayTimeout, "timeout", true},
		{"failure", errors.New("connection refused"), false, http.StatusBadGateway, "transient", true},
		{"reader gone", nil, true, 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			var logs syncBuffer
			f, err := fhirsync.NewFacade(func(ctx context.Context, _, _ string) (proto.Message, error) {
				if tc.err != nil {
					return nil, tc.err
				}
				<-release
				return nil, fhirsync.ErrNotFound
			}, &fhirsync.FacadeOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancel {
				cancel()
			}
			defer cancel()
			w := httptest.NewRecorder()
			f.ServeHTTP(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/Patient/"+sinktest.PatientID(1), nil))
			if tc.status != 0 {
				assert.Equal(t, tc.status, w.Code)
				var oo struct{ Issue []struct{ Code string } }
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &oo))
				require.Len(t, oo.Issue, 1)
				assert.Equal(t, tc.code, oo.Issue[0].Code)
			} else {
				assert.Empty(t, w.Body.String())
			}
			assert.Equal(t, tc.warning, strings.Contains(logs.String(), "facade fetch failed"), logs.String())
		})
	}
	t.Run("search timeout", func(t *testing.T) {
		f, err := fhirsync.NewFacade((&record{}).fetch, &fhirsync.FacadeOptions{
			Logger: slog.New(slog.DiscardHandler),
			Search: func(ctx context.Context, _ string, _ url.Values) ([]proto.Message, error) {
				return nil, fmt.Errorf("query: %w", context.DeadlineExceeded)
			},
		})
		require.NoError(t, err)
		w := httptest.NewRecorder()
		f.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/Patient?identifier=x", nil))
		assert.Equal(t, http.StatusGatewayTimeout, w.Code)
	})
}

// TestFacadeSearchURLsAndBadSearch: search results carry absolute fullUrls
// (from the request, or FacadeOptions.BaseURL), and a SearchFunc error
// wrapping ErrBadSearch is a 400.
func TestFacadeSearchURLsAndBadSearch(t *testing.T) {
	search := func(_ context.Context, _ string, q url.Values) ([]proto.Message, error) {
		if q.Get("name") != "" {
			return nil, fmt.Errorf("%w: parameter name", fhirsync.ErrBadSearch)
		}
		return []proto.Message{sinktest.Patient(1)}, nil
	}
	fetch := func(context.Context, string, string) (proto.Message, error) { return nil, fhirsync.ErrNotFound }
	for _, tc := range []struct {
		base, mount, want string
	}{
		{"", "/", "/Patient/" + sinktest.PatientID(1)},
		{"", "/fhir/", "/fhir/Patient/" + sinktest.PatientID(1)},
		{"https://api.example.com/r4", "/", "https://api.example.com/r4/Patient/" + sinktest.PatientID(1)},
	} {
		f, err := fhirsync.NewFacade(fetch, &fhirsync.FacadeOptions{Search: search, BaseURL: tc.base})
		require.NoError(t, err)
		mux := http.NewServeMux()
		mux.Handle(tc.mount, http.StripPrefix(strings.TrimSuffix(tc.mount, "/"), f))
		srv := httptest.NewServer(mux)
		resp, body := get(t, srv.URL+tc.mount+"Patient?identifier=x", nil)
		require.Equal(t, 200, resp.StatusCode, string(body))
		var bundle struct{ Entry []struct{ FullURL string } }
		require.NoError(t, json.Unmarshal(body, &bundle))
		require.Len(t, bundle.Entry, 1)
		want := tc.want
		if tc.base == "" {
			want = srv.URL + tc.want
		}
		assert.Equal(t, want, bundle.Entry[0].FullURL)
		resp, body = get(t, srv.URL+tc.mount+"Patient?name=x", nil)
		assert.Equal(t, 400, resp.StatusCode)
		assert.Contains(t, string(body), "parameter name")
		srv.Close()
	}
}

// TestFacadeAuthorize: every answer, cached or not, is checked against the
// request; a refusal is a 403 (or a 404 when it wraps ErrNotFound) without
// its text, and search results the request may not see are left out.
func TestFacadeAuthorize(t *testing.T) {
	sor := &record{revs: map[string]int{sinktest.PatientID(1): 1, sinktest.PatientID(2): 1}}
	authorize := func(r *http.Request, res proto.Message) error {
		switch who := r.Header.Get("X-User"); {
		case who == "admin":
			return nil
		case who == "member-1" && resource.ID(res) == sinktest.PatientID(1):
			return nil
		case who == "":
			return errors.New("anonymous " + canary)
		}
		return fmt.Errorf("%w: not this member's", fhirsync.ErrNotFound)
	}
	f, err := fhirsync.NewFacade(sor.fetch, &fhirsync.FacadeOptions{
		Authorize: authorize,
		Search: func(context.Context, string, url.Values) ([]proto.Message, error) {
			return []proto.Message{sinktest.Patient(1), sinktest.Patient(2)}, nil
		},
	})
	require.NoError(t, err)
	srv := httptest.NewServer(f)
	defer srv.Close()
	as := func(user string) http.Header {
		if user == "" {
			return nil
		}
		return http.Header{"X-User": {user}}
	}
	for _, tc := range []struct {
		user, id string
		status   int
	}{
		{"admin", sinktest.PatientID(2), 200}, // fills the cache
		{"member-1", sinktest.PatientID(1), 200},
		{"member-1", sinktest.PatientID(2), 404}, // cached, still checked
		{"", sinktest.PatientID(2), 403},
	} {
		resp, body := get(t, srv.URL+"/Patient/"+tc.id, as(tc.user))
		assert.Equal(t, tc.status, resp.StatusCode, "%s reads %s", tc.user, tc.id)
		if tc.status != 200 {
			assert.NotContains(t, string(body), canary, "a refusal's text is not sent")
			assert.NotContains(t, string(body), "sinktest-pat", "a refusal shows nothing of the resource")
		}
	}
	_, body := get(t, srv.URL+"/Patient?identifier=x", as("member-1"))
	var bundle struct{ Total int }
	require.NoError(t, json.Unmarshal(body, &bundle))
	assert.Equal(t, 1, bundle.Total, "the search shows only what member-1 may see")
}
