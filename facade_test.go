package fhirsync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
