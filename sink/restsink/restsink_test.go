package restsink_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/auth"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/restsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

// recorded is one request a fake server received.
type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte // decompressed
}

// fake is an httptest FHIR server whose answers a test scripts.
type fake struct {
	srv    *httptest.Server
	answer func(r recorded, w http.ResponseWriter)

	mu       sync.Mutex
	requests []recorded
}

func newFake(t *testing.T, answer func(r recorded, w http.ResponseWriter)) *fake {
	f := &fake{answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, "bad gzip", 400)
				return
			}
			rd = zr
		}
		body, _ := io.ReadAll(rd)
		rec := recorded{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/fhir/"), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
		f.mu.Lock()
		f.requests = append(f.requests, rec)
		f.mu.Unlock()
		f.answer(rec, w)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) base() string { return f.srv.URL + "/fhir" }

func (f *fake) got() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func ok(_ recorded, w http.ResponseWriter) { w.WriteHeader(http.StatusOK) }

func newSink(t *testing.T, base string, client *http.Client, opts *restsink.Options) *restsink.Sink {
	t.Helper()
	s, err := restsink.New(base, client, opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func outcomeJSON(code, expr string) string {
	return fmt.Sprintf(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":%q,"diagnostics":"value %s refused","expression":[%q]}]}`,
		code, sinktest.Canary, expr)
}

func TestSingleRequestShape(t *testing.T) {
	f := newFake(t, ok)
	s := newSink(t, f.base(), nil, &restsink.Options{Header: http.Header{"X-Tenant": {"t1"}}})
	p := sinktest.Patient(1)
	ops := []sink.Op{
		{Resource: p, IfMatch: "3"},
		{Resource: sinktest.Patient(2), Delete: true},
		{Resource: sinktest.Claim(1), IfMatch: `W/"abc"`},
	}
	require.NoError(t, s.Write(t.Context(), ops))
	got := f.got()
	require.Len(t, got, 3)
	slices.SortFunc(got, func(a, b recorded) int { return strings.Compare(a.Path, b.Path) })
	claim, pat, del := got[0], got[1], got[2]

	assert.Equal(t, "PUT", pat.Method)
	assert.Equal(t, "Patient/"+sinktest.PatientID(1), pat.Path)
	assert.Equal(t, `W/"3"`, pat.Header.Get("If-Match"))
	assert.Equal(t, "application/fhir+json", pat.Header.Get("Content-Type"))
	assert.Equal(t, "application/fhir+json", pat.Header.Get("Accept"))
	assert.Equal(t, "return=minimal", pat.Header.Get("Prefer"))
	assert.Equal(t, "t1", pat.Header.Get("X-Tenant"))
	want, err := resource.Marshal(p)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(pat.Body))

	assert.Equal(t, "DELETE", del.Method)
	assert.Equal(t, "Patient/"+sinktest.PatientID(2), del.Path)
	assert.Empty(t, del.Body)
	assert.Empty(t, del.Header.Get("If-Match"))

	assert.Equal(t, "Claim/"+sinktest.ClaimID(1), claim.Path)
	assert.Equal(t, `W/"abc"`, claim.Header.Get("If-Match"))
}

func TestConditionalRequestShape(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprint("KeepID=", keep), func(t *testing.T) {
			f := newFake(t, ok)
			s := newSink(t, f.base(), nil, &restsink.Options{
				Match: restsink.MatchIdentifier, KeepID: keep, Gzip: true,
				IdentifierSystems: map[string]string{"Patient": "urn:second"},
			})
			p := sinktest.Patient(1)
			p.Identifier = append(p.Identifier, &dtpb.Identifier{
				System: &dtpb.Uri{Value: "urn:second"}, Value: &dtpb.String{Value: "a|b,c$"},
			})
			require.NoError(t, s.Write(t.Context(), sink.Upserts(p)))
			got := f.got()
			require.Len(t, got, 1)
			assert.Equal(t, "Patient", got[0].Path)
			q, err := url.ParseQuery(got[0].RawQuery)
			require.NoError(t, err)
			assert.Equal(t, []string{`urn:second|a\|b\,c\$`}, q["identifier"])
			assert.Equal(t, "gzip", got[0].Header.Get("Content-Encoding"))
			var body map[string]any
			require.NoError(t, json.Unmarshal(got[0].Body, &body))
			_, hasID := body["id"]
			assert.Equal(t, keep, hasID, "id in the body")
			assert.Equal(t, sinktest.Canary, body["name"].([]any)[0].(map[string]any)["family"], "content sent")
			assert.Equal(t, sinktest.PatientID(1), p.GetId().GetValue(), "the caller's resource is not modified")
		})
	}
}

func TestConditionalWithoutIdentifier(t *testing.T) {
	f := newFake(t, ok)
	s := newSink(t, f.base(), nil, &restsink.Options{Match: restsink.MatchIdentifier})
	noIdent := sinktest.Patient(2)
	noIdent.Identifier = nil
	err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(1), noIdent))
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 1)
	assert.Equal(t, 1, be.Failed[0].Index)
	assert.ErrorIs(t, err, sink.ErrInvalid)
	assert.Len(t, f.got(), 1)

	// A delete without an identifier falls back to its id.
	require.NoError(t, s.Write(t.Context(), []sink.Op{{Resource: noIdent, Delete: true}}))
	assert.Equal(t, "Patient/"+sinktest.PatientID(2), f.got()[1].Path)
}

func TestCustomIdentifier(t *testing.T) {
	f := newFake(t, ok)
	s := newSink(t, f.base(), nil, &restsink.Options{
		Match: restsink.MatchIdentifier,
		Identifier: func(m proto.Message) (resource.Identifier, bool) {
			return resource.Identifier{System: "urn:x", Value: resource.ID(m)}, true
		},
	})
	require.NoError(t, s.Write(t.Context(), sink.Upserts(sinktest.Claim(1))))
	q, _ := url.ParseQuery(f.got()[0].RawQuery)
	assert.Equal(t, "urn:x|"+sinktest.ClaimID(1), q.Get("identifier"))
}

func TestRejectNumericIDs(t *testing.T) {
	f := newFake(t, ok)
	s := newSink(t, f.base(), nil, &restsink.Options{RejectNumericIDs: true})
	p := sinktest.Patient(1)
	p.Id = &dtpb.Id{Value: "12345"}
	err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(2), p))
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, 1, be.Failed[0].Index)
	assert.ErrorIs(t, err, sink.ErrInvalid)
	assert.False(t, sink.IsRetryable(err))
	assert.Len(t, f.got(), 1)
}

// TestStatusClassification checks each kind of single-request failure end
// to end: what Write returns, and that no error prints the canary the
// server's diagnostics carry.
func TestStatusClassification(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		body       string
		delete     bool
		wantNil    bool
		fatal      bool // a whole-Write error rather than a BatchError
		retryable  bool
		after      time.Duration
		target     error
		diag       bool // Diagnostics carries the server's text
	}{
		{name: "400 outcome", status: 400, body: outcomeJSON("value", "Patient.birthDate"), target: sink.ErrInvalid, diag: true},
		{name: "422 outcome", status: 422, body: outcomeJSON("invariant", "Patient"), target: sink.ErrInvalid, diag: true},
		{name: "400 not json", status: 400, body: "bad " + sinktest.Canary, target: sink.ErrInvalid, diag: true},
		{name: "412", status: 412, body: outcomeJSON("conflict", "Patient"), target: sink.ErrConflict, diag: true},
		{name: "409", status: 409, body: outcomeJSON("conflict", "Patient"), target: sink.ErrConflict, diag: true},
		{name: "429 seconds", status: 429, retryAfter: "12", retryable: true, after: 12 * time.Second, target: restsink.ErrUnavailable},
		{name: "429 date", status: 429, retryAfter: time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), retryable: true, target: restsink.ErrUnavailable},
		{name: "503", status: 503, body: "<html>down</html>", retryable: true, target: restsink.ErrUnavailable},
		{name: "500", status: 500, body: outcomeJSON("exception", "Patient"), retryable: true, target: restsink.ErrUnavailable, diag: true},
		{name: "408", status: 408, retryable: true, target: restsink.ErrUnavailable},
		{name: "401", status: 401, retryable: true, target: restsink.ErrAuth},
		{name: "403", status: 403, body: outcomeJSON("forbidden", "Patient"), fatal: true, target: restsink.ErrAuth},
		{name: "404 on PUT", status: 404, fatal: true, target: restsink.ErrUnsupported},
		{name: "405", status: 405, fatal: true, target: restsink.ErrUnsupported},
		{name: "501", status: 501, fatal: true, target: restsink.ErrUnsupported},
		{name: "404 on DELETE", status: 404, delete: true, wantNil: true},
		{name: "410 on DELETE", status: 410, delete: true, wantNil: true},
		{name: "204 on DELETE", status: 204, delete: true, wantNil: true},
		{name: "201", status: 201, wantNil: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(_ recorded, w http.ResponseWriter) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			s := newSink(t, f.base(), nil, &restsink.Options{Workers: 1})
			err := s.Write(t.Context(), []sink.Op{{Resource: sinktest.Patient(1), Delete: tc.delete}})
			if tc.wantNil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			sinktest.CheckNoCanary(t, err)
			var be *sink.BatchError
			assert.Equal(t, !tc.fatal, errors.As(err, &be), "BatchError: %v", err)
			assert.Equal(t, tc.retryable, sink.IsRetryable(err), "%v", err)
			assert.ErrorIs(t, err, tc.target)
			if tc.after > 0 {
				assert.Equal(t, tc.after, sink.RetryAfter(err))
			}
			if tc.name == "429 date" {
				assert.InDelta(t, 90, sink.RetryAfter(err).Seconds(), 3)
			}
			var re *restsink.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tc.status, re.StatusCode)
			assert.Equal(t, "Patient", re.Type)
			assert.Equal(t, sinktest.PatientID(1), re.ID)
			if tc.diag {
				assert.Contains(t, re.Diagnostics(), sinktest.Canary, "Diagnostics keeps the server's text")
			}
		})
	}
}

func TestTransportFailures(t *testing.T) {
	t.Run("reset", func(t *testing.T) {
		f := newFake(t, func(_ recorded, w http.ResponseWriter) { hijackReset(w) })
		s := newSink(t, f.base(), nil, nil)
		err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(1)))
		assert.True(t, sink.IsRetryable(err), "%v", err)
		assert.ErrorIs(t, err, restsink.ErrUnavailable)
		assert.NotContains(t, err.Error(), f.srv.URL)
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		f := newFake(t, func(_ recorded, w http.ResponseWriter) {
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		})
		s := newSink(t, f.base(), &http.Client{Timeout: 100 * time.Millisecond}, nil)
		err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(1)))
		assert.True(t, sink.IsRetryable(err), "%v", err)
		var te interface{ Timeout() bool }
		require.ErrorAs(t, err, &te)
		assert.True(t, te.Timeout())
	})
	t.Run("refused", func(t *testing.T) {
		f := newFake(t, ok)
		base := f.base()
		f.srv.Close()
		s := newSink(t, base, nil, nil)
		err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(1)))
		assert.True(t, sink.IsRetryable(err), "%v", err)
	})
	t.Run("conditional URL not in errors", func(t *testing.T) {
		f := newFake(t, func(_ recorded, w http.ResponseWriter) { hijackReset(w) })
		s := newSink(t, f.base(), nil, &restsink.Options{Match: restsink.MatchIdentifier})
		p := sinktest.Patient(1)
		p.Identifier[0].Value = &dtpb.String{Value: sinktest.Canary}
		err := s.Write(t.Context(), sink.Upserts(p))
		require.Error(t, err)
		sinktest.CheckNoCanary(t, err)
	})
}

// TestServerWideFailureStopsTheBatch checks that after a 503 the ops not yet
// sent are failed with the same classification instead of being sent.
func TestServerWideFailureStopsTheBatch(t *testing.T) {
	f := newFake(t, func(_ recorded, w http.ResponseWriter) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(503)
	})
	s := newSink(t, f.base(), nil, &restsink.Options{Workers: 1})
	ops := sink.Upserts(sinktest.Patient(1), sinktest.Patient(2), sinktest.Patient(3), sinktest.Patient(4))
	err := s.Write(t.Context(), ops)
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	assert.Len(t, be.Failed, 4)
	assert.True(t, sink.IsRetryable(err))
	assert.Equal(t, 7*time.Second, sink.RetryAfter(err))
	for _, fl := range be.Failed {
		assert.Equal(t, 7*time.Second, sink.RetryAfter(fl.Err), "op %d", fl.Index)
	}
	assert.Len(t, f.got(), 1, "one request, then the batch stops")
}

// TestPerKeyOrdering writes several versions of a few keys in one batch and
// checks that the server never has two requests for one key at once and
// receives each key's versions in batch order.
func TestPerKeyOrdering(t *testing.T) {
	for _, mode := range []restsink.Mode{restsink.Single, restsink.Batch, restsink.Transaction} {
		t.Run(mode.String(), func(t *testing.T) {
			var (
				mu       sync.Mutex
				inflight = map[string]int{}
				seen     = map[string][]int{}
				overlap  atomic.Bool
			)
			track := func(path string, body []byte, f func()) {
				mu.Lock()
				inflight[path]++
				if inflight[path] > 1 {
					overlap.Store(true)
				}
				if m, err := resource.Unmarshal(body); err == nil {
					seen[path] = append(seen[path], sinktest.Revision(m))
				}
				mu.Unlock()
				f()
				mu.Lock()
				inflight[path]--
				mu.Unlock()
			}
			f := newFake(t, func(r recorded, w http.ResponseWriter) {
				if r.Method == http.MethodPut {
					track(r.Path, r.Body, func() { time.Sleep(2 * time.Millisecond) })
					w.WriteHeader(200)
					return
				}
				var b struct {
					Type  string `json:"type"`
					Entry []struct {
						Resource json.RawMessage `json:"resource"`
						Request  struct{ URL string }
					}
				}
				json.Unmarshal(r.Body, &b)
				keys := map[string]bool{}
				var wg sync.WaitGroup
				var out []string
				for _, e := range b.Entry {
					if keys[e.Request.URL] {
						overlap.Store(true) // two entries for one key in a bundle
					}
					keys[e.Request.URL] = true
					wg.Go(func() { track(e.Request.URL, e.Resource, func() { time.Sleep(2 * time.Millisecond) }) })
					out = append(out, `{"response":{"status":"200 OK"}}`)
				}
				wg.Wait()
				fmt.Fprintf(w, `{"resourceType":"Bundle","type":"%s-response","entry":[%s]}`, b.Type, strings.Join(out, ","))
			})
			s := newSink(t, f.base(), nil, &restsink.Options{Mode: mode, Workers: 4, BundleSize: 3})
			var ops []sink.Op
			for rev := 1; rev <= 4; rev++ {
				for k := range 5 {
					ops = append(ops, sink.Op{Resource: sinktest.PatientRev(k, rev)})
				}
				ops = append(ops, sink.Op{Resource: sinktest.Patient(100 + rev)})
			}
			// Two concurrent Writes touching the same keys.
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() { errs[i] = s.Write(t.Context(), ops) })
			}
			wg.Wait()
			require.NoError(t, errs[0])
			require.NoError(t, errs[1])
			assert.False(t, overlap.Load(), "two requests for one resource in flight at once")
			for k := range 5 {
				revs := seen["Patient/"+sinktest.PatientID(k)]
				require.Len(t, revs, 8)
				// Each Write sends revisions 1..4 in order; the two Writes
				// interleave, so each revision's second copy comes after its first.
				var one, two []int
				for _, r := range revs {
					if slices.Contains(one, r) {
						two = append(two, r)
					} else {
						one = append(one, r)
					}
				}
				assert.True(t, slices.IsSorted(one) && slices.IsSorted(two), "revisions of key %d arrived as %v", k, revs)
			}
		})
	}
}

func TestEarlierRetryableFailureHoldsLaterOps(t *testing.T) {
	f := newFake(t, func(r recorded, w http.ResponseWriter) {
		m, _ := resource.Unmarshal(r.Body)
		if sinktest.Revision(m) == 1 {
			w.WriteHeader(500) // this op only
			return
		}
		w.WriteHeader(200)
	})
	s := newSink(t, f.base(), nil, nil)
	ops := sink.Upserts(sinktest.PatientRev(1, 1), sinktest.Patient(2), sinktest.PatientRev(1, 2))
	err := s.Write(t.Context(), ops)
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 2)
	assert.Equal(t, []int{0, 2}, []int{be.Failed[0].Index, be.Failed[1].Index})
	assert.True(t, sink.IsRetryable(err))
	assert.Len(t, f.got(), 2, "revision 2 is not sent after revision 1 failed")
}

func TestWorkersBound(t *testing.T) {
	var cur, peak atomic.Int64
	f := newFake(t, func(_ recorded, w http.ResponseWriter) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(3 * time.Millisecond)
		cur.Add(-1)
		w.WriteHeader(200)
	})
	s := newSink(t, f.base(), nil, &restsink.Options{Workers: 3})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			var ops []sink.Op
			for i := range 20 {
				ops = append(ops, sink.Op{Resource: sinktest.Patient(w*100 + i)})
			}
			assert.NoError(t, s.Write(t.Context(), ops))
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(3), "requests in flight across Writes")
	assert.Len(t, f.got(), 60)
}

// bundleResponder answers batch and transaction bundles: respond gets the
// entries' request URLs and returns the HTTP status and body.
func bundleResponder(respond func(kind string, urls []string) (int, string)) func(recorded, http.ResponseWriter) {
	return func(r recorded, w http.ResponseWriter) {
		var b struct {
			Type  string `json:"type"`
			Entry []struct {
				FullURL  string          `json:"fullUrl"`
				Resource json.RawMessage `json:"resource"`
				Request  struct {
					Method, URL, IfMatch string
				}
			}
		}
		if err := json.Unmarshal(r.Body, &b); err != nil || r.Method != http.MethodPost || r.Path != "" && r.Path != "/fhir" {
			w.WriteHeader(400)
			return
		}
		var urls []string
		for _, e := range b.Entry {
			urls = append(urls, e.Request.Method+" "+e.Request.URL)
		}
		code, body := respond(b.Type, urls)
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func TestBatchEntryStatuses(t *testing.T) {
	f := newFake(t, bundleResponder(func(kind string, urls []string) (int, string) {
		return 200, `{"resourceType":"Bundle","type":"batch-response","entry":[
			{"response":{"status":"201 Created"}},
			{"response":{"status":"400","outcome":` + outcomeJSON("required", "Coverage.status") + `}},
			{"response":{"status":"412 Precondition Failed"}},
			{"response":{"status":"429"}},
			{"response":{"status":"404 Not Found"}},
			{"response":{"status":"200"}}]}`
	}))
	s := newSink(t, f.base(), nil, &restsink.Options{Mode: restsink.Batch})
	ops := []sink.Op{
		{Resource: sinktest.Patient(1)},
		{Resource: sinktest.InvalidCoverage(1)},
		{Resource: sinktest.Patient(2), IfMatch: "1"},
		{Resource: sinktest.Patient(3)},
		{Resource: sinktest.Patient(4), Delete: true},
		{Resource: sinktest.Claim(1)},
	}
	err := s.Write(t.Context(), ops)
	sinktest.CheckNoCanary(t, err)
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 3)
	assert.Equal(t, 1, be.Failed[0].Index)
	assert.ErrorIs(t, be.Failed[0].Err, sink.ErrInvalid)
	assert.False(t, sink.IsRetryable(be.Failed[0].Err))
	var re *restsink.Error
	require.ErrorAs(t, be.Failed[0].Err, &re)
	assert.Equal(t, "batch", re.Bundle)
	assert.Equal(t, 1, re.Entry)
	assert.Equal(t, []restsink.Issue{{Severity: "error", Code: "required", Expression: []string{"Coverage.status"}}}, re.Issues)
	assert.Contains(t, re.Diagnostics(), sinktest.Canary)
	assert.Equal(t, 2, be.Failed[1].Index)
	assert.ErrorIs(t, be.Failed[1].Err, sink.ErrConflict)
	assert.Equal(t, 3, be.Failed[2].Index)
	assert.True(t, sink.IsRetryable(be.Failed[2].Err))
	require.Len(t, f.got(), 1)

	// The bundle sent: one entry per op, in order, deletes without a body.
	var sent struct {
		Type  string `json:"type"`
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
			Request  struct{ Method, URL, IfMatch string }
		}
	}
	require.NoError(t, json.Unmarshal(f.got()[0].Body, &sent))
	assert.Equal(t, "batch", sent.Type)
	require.Len(t, sent.Entry, 6)
	assert.Equal(t, f.base()+"/Patient/"+sinktest.PatientID(1), sent.Entry[0].FullURL)
	assert.Equal(t, "PUT", sent.Entry[0].Request.Method)
	assert.Equal(t, "Patient/"+sinktest.PatientID(1), sent.Entry[0].Request.URL)
	assert.Equal(t, `W/"1"`, sent.Entry[2].Request.IfMatch)
	assert.Equal(t, "DELETE", sent.Entry[4].Request.Method)
	assert.Empty(t, sent.Entry[4].Resource)
	assert.Empty(t, sent.Entry[4].FullURL)
}

func TestMalformedBatchResponses(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"not json", "<html>" + sinktest.Canary},
		{"not a bundle", `{"resourceType":"OperationOutcome"}`},
		{"too few entries", `{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"200"}}]}`},
		{"entry without response", `{"resourceType":"Bundle","entry":[{},{"response":{"status":"200"}}]}`},
		{"bad status", `{"resourceType":"Bundle","entry":[{"response":{"status":"OK"}},{"response":{"status":"200"}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(_ recorded, w http.ResponseWriter) { io.WriteString(w, tc.body) })
			s := newSink(t, f.base(), nil, &restsink.Options{Mode: restsink.Batch})
			err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(1), sinktest.Patient(2)))
			require.Error(t, err)
			sinktest.CheckNoCanary(t, err)
			assert.True(t, sink.IsRetryable(err), "%v", err)
			assert.ErrorIs(t, err, restsink.ErrBadResponse)
		})
	}
	t.Run("too large", func(t *testing.T) {
		f := newFake(t, func(_ recorded, w http.ResponseWriter) {
			io.WriteString(w, `{"resourceType":"Bundle","entry":[`+strings.Repeat(" ", 4096)+`]}`)
		})
		s := newSink(t, f.base(), nil, &restsink.Options{Mode: restsink.Batch, MaxResponseBytes: 1024})
		err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(1)))
		assert.ErrorIs(t, err, restsink.ErrBadResponse)
		assert.True(t, sink.IsRetryable(err))
	})
}

// TestTransactionResend: a transaction rejected for one entry it names is
// sent again without it, so exactly that op fails.
func TestTransactionResend(t *testing.T) {
	bad := "PUT Coverage/" + sinktest.CoverageID(1)
	f := newFake(t, bundleResponder(func(kind string, urls []string) (int, string) {
		if i := slices.Index(urls, bad); i >= 0 {
			return 400, outcomeJSON("required", fmt.Sprintf("Bundle.entry[%d].resource.status", i))
		}
		return 200, `{"resourceType":"Bundle","type":"transaction-response"}`
	}))
	s := newSink(t, f.base(), nil, &restsink.Options{Mode: restsink.Transaction})
	ops := sink.Upserts(sinktest.Patient(1), sinktest.InvalidCoverage(1), sinktest.Patient(2))
	err := s.Write(t.Context(), ops)
	sinktest.CheckNoCanary(t, err)
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 1)
	assert.Equal(t, 1, be.Failed[0].Index)
	assert.ErrorIs(t, err, sink.ErrInvalid)
	assert.False(t, sink.IsRetryable(err))
	got := f.got()
	require.Len(t, got, 2, "the rejected transaction, then the rest")
	assert.NotContains(t, string(got[1].Body), sinktest.CoverageID(1))
	assert.Contains(t, string(got[1].Body), sinktest.PatientID(2))
}

// unblamedOutcome is an OperationOutcome that names no bundle entry: its
// expression, when not empty, is a path inside a resource.
func unblamedOutcome(code, expr string) string {
	ex := ""
	if expr != "" {
		ex = fmt.Sprintf(`,"expression":[%q]`, expr)
	}
	return fmt.Sprintf(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":%q,"diagnostics":"value %s refused"%s}]}`,
		code, sinktest.Canary, ex)
}

// bundleEntries returns the "METHOD url" of each entry of each bundle the
// fake received, in order.
func bundleEntries(t *testing.T, got []recorded) [][]string {
	t.Helper()
	var out [][]string
	for _, r := range got {
		var b struct {
			Type  string `json:"type"`
			Entry []struct{ Request struct{ Method, URL string } }
		}
		require.NoError(t, json.Unmarshal(r.Body, &b))
		require.Equal(t, "transaction", b.Type)
		var urls []string
		for _, e := range b.Entry {
			urls = append(urls, e.Request.Method+" "+e.Request.URL)
		}
		out = append(out, urls)
	}
	return out
}

// TestTransactionIsolatesUnblamedFailure: a transaction refused with a 4xx
// whose outcome names no entry is sent again entry by entry, each in a
// transaction of its own and in bundle order, so that only the op at fault
// fails (permanently) and the others are written; a later op for a resource
// of that bundle still comes after.
func TestTransactionIsolatesUnblamedFailure(t *testing.T) {
	bad := "PUT Coverage/" + sinktest.CoverageID(1)
	p1 := "PUT Patient/" + sinktest.PatientID(1)
	p2 := "PUT Patient/" + sinktest.PatientID(2)
	for _, tc := range []struct {
		name   string
		status int
		body   string
		target error
	}{
		{"400 path inside the resource", 400, unblamedOutcome("required", "Coverage.status"), sink.ErrInvalid},
		{"422 no expression", 422, unblamedOutcome("invariant", ""), sink.ErrInvalid},
		{"400 entry out of range", 400, unblamedOutcome("invalid", "Bundle.entry[7].resource"), sink.ErrInvalid},
		{"400 not an outcome", 400, "<html>bad request " + sinktest.Canary + "</html>", sink.ErrInvalid},
		{"409", 409, unblamedOutcome("conflict", ""), sink.ErrConflict},
		{"412", 412, unblamedOutcome("conflict", ""), sink.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, bundleResponder(func(kind string, urls []string) (int, string) {
				if slices.Contains(urls, bad) {
					return tc.status, tc.body
				}
				return 200, `{"resourceType":"Bundle","type":"transaction-response"}`
			}))
			s := newSink(t, f.base(), nil, &restsink.Options{Mode: restsink.Transaction, Workers: 4})
			ops := sink.Upserts(sinktest.Patient(1), sinktest.InvalidCoverage(1), sinktest.Patient(2), sinktest.PatientRev(1, 2))
			err := s.Write(t.Context(), ops)
			sinktest.CheckNoCanary(t, err)
			var be *sink.BatchError
			require.ErrorAs(t, err, &be)
			require.Len(t, be.Failed, 1, "%v", err)
			assert.Equal(t, 1, be.Failed[0].Index)
			assert.ErrorIs(t, be.Failed[0].Err, tc.target)
			assert.False(t, sink.IsRetryable(be.Failed[0].Err))
			var re *restsink.Error
			require.ErrorAs(t, be.Failed[0].Err, &re)
			assert.Equal(t, tc.status, re.StatusCode)
			assert.Equal(t, "transaction", re.Bundle)
			assert.Equal(t, 0, re.Entry, "its position in the transaction that carried it alone")
			assert.Contains(t, re.Diagnostics(), sinktest.Canary)
			assert.Equal(t, [][]string{{p1, bad, p2}, {p1}, {bad}, {p2}, {p1}}, bundleEntries(t, f.got()),
				"the refused transaction, each of its entries alone in order, then the next round")
		})
	}
}

// TestTransactionFailureWithoutBlame: when the server refuses every entry
// on its own too, each op fails with its own answer.
func TestTransactionFailureWithoutBlame(t *testing.T) {
	f := newFake(t, bundleResponder(func(kind string, urls []string) (int, string) {
		return 400, outcomeJSON("invalid", "Patient.name")
	}))
	s := newSink(t, f.base(), nil, &restsink.Options{Mode: restsink.Transaction})
	err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(1), sinktest.Patient(2)))
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	assert.Len(t, be.Failed, 2, "both fail")
	for _, fl := range be.Failed {
		assert.ErrorIs(t, fl.Err, sink.ErrInvalid)
		assert.False(t, sink.IsRetryable(fl.Err))
	}
	assert.Equal(t, 3, len(f.got()), "the transaction, then each op alone")
}

// TestTransactionIsolationStopsOnServerFailure: a server-wide failure while
// entries are re-sent one by one stops the re-sending; the ops not sent
// fail with it, retryable.
func TestTransactionIsolationStopsOnServerFailure(t *testing.T) {
	var n atomic.Int64
	f := newFake(t, func(r recorded, w http.ResponseWriter) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(400)
			io.WriteString(w, unblamedOutcome("invalid", ""))
		default:
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(503)
		}
	})
	s := newSink(t, f.base(), nil, &restsink.Options{Mode: restsink.Transaction})
	err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(1), sinktest.Patient(2), sinktest.Patient(3)))
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 3)
	for _, fl := range be.Failed {
		assert.True(t, sink.IsRetryable(fl.Err), "op %d: %v", fl.Index, fl.Err)
		assert.Equal(t, 5*time.Second, sink.RetryAfter(fl.Err))
	}
	assert.ErrorIs(t, be.Failed[0].Err, restsink.ErrUnavailable, "the op the server failed")
	assert.Equal(t, 2, len(f.got()), "the transaction and the first op alone, then no more")
}

func TestTransactionDeletesTravelAlone(t *testing.T) {
	f := newFake(t, func(r recorded, w http.ResponseWriter) {
		if r.Method == http.MethodDelete {
			w.WriteHeader(404)
			return
		}
		io.WriteString(w, `{"resourceType":"Bundle","type":"transaction-response"}`)
	})
	s := newSink(t, f.base(), nil, &restsink.Options{Mode: restsink.Transaction, BundleSize: 2})
	ops := []sink.Op{
		{Resource: sinktest.Patient(1)}, {Resource: sinktest.Patient(2), Delete: true},
		{Resource: sinktest.Patient(3)}, {Resource: sinktest.Patient(4)},
	}
	require.NoError(t, s.Write(t.Context(), ops))
	var posts, deletes int
	for _, r := range f.got() {
		switch r.Method {
		case http.MethodPost:
			posts++
		case http.MethodDelete:
			deletes++
		}
	}
	assert.Equal(t, 2, posts, "3 upserts in bundles of 2")
	assert.Equal(t, 1, deletes)
}

// TestBundleTooLargeIsFatal: an over-cap bundle is a configuration error,
// whether the server says 413 or, as Medplum does, 400 with too-costly; not
// a permanent failure of each op.
func TestBundleTooLargeIsFatal(t *testing.T) {
	for _, mode := range []restsink.Mode{restsink.Transaction, restsink.Batch} {
		for _, status := range []int{413, 400} {
			t.Run(fmt.Sprintf("%v/%d", mode, status), func(t *testing.T) {
				f := newFake(t, func(_ recorded, w http.ResponseWriter) {
					w.WriteHeader(status)
					io.WriteString(w, outcomeJSON("too-costly", "Bundle"))
				})
				s := newSink(t, f.base(), nil, &restsink.Options{Mode: mode})
				err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(1), sinktest.Patient(2)))
				var be *sink.BatchError
				assert.False(t, errors.As(err, &be), "%v", err)
				assert.ErrorIs(t, err, restsink.ErrUnsupported)
				assert.NotErrorIs(t, err, sink.ErrInvalid)
				assert.Contains(t, err.Error(), "BundleSize")
				assert.False(t, sink.IsRetryable(err))
				sinktest.CheckNoCanary(t, err)
			})
		}
	}
}

func TestCancelReturnsPromptly(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := newFake(t, func(_ recorded, w http.ResponseWriter) { <-release })
	s := newSink(t, f.base(), nil, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Write(ctx, sink.Upserts(sinktest.Patient(1), sinktest.Patient(2))) }()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("Write did not return after its context expired")
	}
}

func TestCloseWaitsAndRefuses(t *testing.T) {
	release := make(chan struct{})
	f := newFake(t, func(_ recorded, w http.ResponseWriter) { <-release })
	s := newSink(t, f.base(), nil, nil)
	done := make(chan error, 1)
	go func() { done <- s.Write(t.Context(), sink.Upserts(sinktest.Patient(1))) }()
	for len(f.got()) == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	assert.ErrorIs(t, s.Close(ctx), context.DeadlineExceeded, "Close waits for the Write in flight")
	cancel()
	assert.ErrorIs(t, s.Write(t.Context(), sink.Upserts(sinktest.Patient(2))), sink.ErrClosed)
	close(release)
	assert.NoError(t, <-done)
	assert.NoError(t, s.Close(t.Context()))
}

func TestNewValidates(t *testing.T) {
	for _, u := range []string{"", "fhir.example.com", "ftp://x/fhir", "http://x/fhir?a=b", "http:///fhir"} {
		_, err := restsink.New(u, nil, nil)
		assert.Error(t, err, u)
	}
	_, err := restsink.New("http://x/fhir", nil, &restsink.Options{Mode: 7})
	assert.Error(t, err)
	_, err = restsink.New("http://x/fhir/", nil, &restsink.Options{Match: restsink.MatchAuto})
	assert.NoError(t, err)
}

const capabilityJSON = `{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1",
 "software":{"name":"Test","version":"1.2"},
 "rest":[{"mode":"server","interaction":[{"code":"transaction"}],
  "resource":[
   {"type":"Patient","interaction":[{"code":"update"},{"code":"delete"}],"updateCreate":true,"conditionalUpdate":true,"conditionalDelete":"single"},
   {"type":"Claim","interaction":[{"code":"update"}],"updateCreate":false,"conditionalUpdate":true}]}]}`

func TestProbe(t *testing.T) {
	f := newFake(t, func(r recorded, w http.ResponseWriter) {
		if r.Path == "metadata" {
			io.WriteString(w, capabilityJSON)
			return
		}
		w.WriteHeader(200)
	})
	s := newSink(t, f.base(), nil, &restsink.Options{Match: restsink.MatchAuto})
	caps, err := s.Probe(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "4.0.1", caps.FHIRVersion)
	assert.Equal(t, "Test 1.2", caps.Software)
	assert.True(t, caps.Transaction)
	assert.False(t, caps.Batch)
	assert.Equal(t, restsink.TypeCapabilities{Update: true, Delete: true, UpdateCreate: true, ConditionalUpdate: true, ConditionalDelete: true}, caps.Types["Patient"])
	assert.Equal(t, restsink.TypeCapabilities{Update: true, ConditionalUpdate: true}, caps.Types["Claim"])

	// MatchAuto: Claim (no update-as-create) goes by identifier, Patient by id.
	require.NoError(t, s.Write(t.Context(), sink.Upserts(sinktest.Patient(1), sinktest.Claim(1))))
	var paths []string
	for _, r := range f.got()[1:] {
		paths = append(paths, r.Path+"?"+r.RawQuery)
	}
	slices.Sort(paths)
	assert.Equal(t, []string{"Claim?identifier=" + url.QueryEscape(sinktest.ClaimSystem+"|PCN000001"), "Patient/" + sinktest.PatientID(1) + "?"}, paths)

	// A mode the server does not list.
	sb := newSink(t, f.base(), nil, &restsink.Options{Mode: restsink.Batch})
	_, err = sb.Probe(t.Context())
	assert.ErrorIs(t, err, restsink.ErrUnsupported)
}

func TestProbeFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		target    error
		retryable bool
	}{
		{"not a statement", 200, `{"resourceType":"Patient"}`, restsink.ErrBadResponse, false},
		{"not json", 200, `<html>`, restsink.ErrBadResponse, false},
		{"503", 503, ``, restsink.ErrUnavailable, true},
		{"401", 401, ``, restsink.ErrAuth, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(_ recorded, w http.ResponseWriter) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			s := newSink(t, f.base(), nil, nil)
			_, err := s.Probe(t.Context())
			assert.ErrorIs(t, err, tc.target)
			assert.Equal(t, tc.retryable, sink.IsRetryable(err))
		})
	}
}

// TestAuthTokenFailures: a token endpoint that refuses the client stops the
// Write with a permanent error; one that is down makes it retryable.
func TestAuthTokenFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		retryable bool
		target    error
	}{
		{"refused", 401, false, restsink.ErrAuth},
		{"down", 503, true, restsink.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, `{"error":"invalid_client","error_description":"`+sinktest.Canary+`"}`)
			}))
			defer tokens.Close()
			f := newFake(t, ok)
			tr := auth.ClientCredentials(&clientcredentials.Config{ClientID: "c", ClientSecret: "s3cret", TokenURL: tokens.URL}, nil)
			s := newSink(t, f.base(), &http.Client{Transport: tr}, nil)
			err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(1), sinktest.Patient(2)))
			require.Error(t, err)
			sinktest.CheckNoCanary(t, err)
			assert.NotContains(t, err.Error(), "s3cret")
			assert.Equal(t, tc.retryable, sink.IsRetryable(err), "%v", err)
			assert.ErrorIs(t, err, tc.target)
			var te *auth.TokenError
			assert.ErrorAs(t, err, &te)
			assert.Empty(t, f.got(), "nothing reached the FHIR server")
		})
	}
}

func TestAuthenticatedWrites(t *testing.T) {
	var tokenRequests atomic.Int64
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenRequests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"tok","token_type":"bearer","expires_in":3600}`)
	}))
	defer tokens.Close()
	f := newFake(t, func(r recorded, w http.ResponseWriter) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(200)
	})
	tr := auth.ClientCredentials(&clientcredentials.Config{ClientID: "c", ClientSecret: "s", TokenURL: tokens.URL}, nil)
	s := newSink(t, f.base(), &http.Client{Transport: tr}, nil)
	var ops []sink.Op
	for i := range 40 {
		ops = append(ops, sink.Op{Resource: sinktest.Patient(i)})
	}
	require.NoError(t, s.Write(t.Context(), ops))
	assert.Equal(t, int64(1), tokenRequests.Load())
}

func TestOpErrorsBeforeSending(t *testing.T) {
	f := newFake(t, ok)
	s := newSink(t, f.base(), nil, nil)
	empty := &ppb.Patient{Id: &dtpb.Id{Value: "p1"}}
	err := s.Write(t.Context(), []sink.Op{{Resource: nil}, {Resource: empty}, {Resource: &dtpb.String{Value: sinktest.Canary}}})
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 2)
	assert.Equal(t, []int{0, 2}, []int{be.Failed[0].Index, be.Failed[1].Index})
	assert.ErrorIs(t, err, sink.ErrInvalid)
	sinktest.CheckNoCanary(t, err)
	assert.Len(t, f.got(), 1, "only the valid op is sent")
}

// TestWriteLeavesResourcesAlone: the caller's messages are not modified
// (google/fhir's marshaller rewrites reference ids in what it is given), so
// one message may be in several concurrent Writes.
func TestWriteLeavesResourcesAlone(t *testing.T) {
	f := newFake(t, ok)
	for _, match := range []restsink.Match{restsink.MatchID, restsink.MatchIdentifier} {
		s := newSink(t, f.base(), nil, &restsink.Options{Match: match})
		c := sinktest.Claim(1)
		before := proto.Clone(c)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { assert.NoError(t, s.Write(t.Context(), sink.Upserts(c, sinktest.Coverage(1)))) })
		}
		wg.Wait()
		assert.True(t, proto.Equal(before, c), "Write modified the caller's Claim")
	}
}

// rawResponder answers every request with raw bytes on the hijacked
// connection, then closes it.
func rawResponder(raw string) func(recorded, http.ResponseWriter) {
	return func(_ recorded, w http.ResponseWriter) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		buf.WriteString(raw)
		buf.Flush()
		conn.Close()
	}
}

// TestServerTextNotInErrors: whatever the server sends (a status line, a
// header, issue codes, a body cut short) in upper or lower case, the errors
// of Write and Probe, and every error they wrap, print only restsink's own
// classification, never the server's text.
func TestServerTextNotInErrors(t *testing.T) {
	lower := strings.ToLower(sinktest.Canary)
	for _, tc := range []struct {
		name   string
		answer func(recorded, http.ResponseWriter)
		target error
		// written: the status line was a 2xx, which is all single requests
		// and transactions need.
		written bool
		says    string // restsink's classification, in the Write error
	}{
		{"status code", rawResponder("HTTP/1.1 " + sinktest.Canary + "\r\n\r\n"), restsink.ErrUnavailable, false, "malformed HTTP response"},
		{"status line", rawResponder(sinktest.Canary + " 200 OK\r\n\r\n"), restsink.ErrUnavailable, false, "malformed HTTP response"},
		{"protocol version", rawResponder("HTTP/1." + sinktest.Canary + " 200 OK\r\n\r\n"), restsink.ErrUnavailable, false, "malformed HTTP response"},
		{"content length", rawResponder("HTTP/1.1 200 OK\r\nContent-Length: " + sinktest.Canary + "\r\n\r\n"), restsink.ErrUnavailable, false, "malformed HTTP response"},
		{"header line", rawResponder("HTTP/1.1 200 OK\r\n" + sinktest.Canary + "\r\n\r\n"), restsink.ErrUnavailable, false, "malformed HTTP response"},
		{"reason phrase", rawResponder("HTTP/1.1 503 " + sinktest.Canary + "\r\nContent-Length: 0\r\n\r\n"), restsink.ErrUnavailable, false, "HTTP 503"},
		{"body cut short", rawResponder("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"resourceType\":\"" + sinktest.Canary), restsink.ErrBadResponse, true, "response body cut short"},
		{"lower-case issue code and severity", func(_ recorded, w http.ResponseWriter) {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"resourceType":"OperationOutcome","issue":[{"severity":%q,"code":%q,"diagnostics":%q}]}`, lower, lower, lower)
		}, sink.ErrInvalid, false, "HTTP 400: sink: invalid resource; unknown unknown"},
	} {
		for _, mode := range []restsink.Mode{restsink.Single, restsink.Batch, restsink.Transaction} {
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				f := newFake(t, tc.answer)
				s := newSink(t, f.base(), nil, &restsink.Options{Mode: mode, Match: restsink.MatchIdentifier})
				err := s.Write(t.Context(), sink.Upserts(sinktest.Patient(1), sinktest.Patient(2)))
				if tc.written && mode != restsink.Batch {
					require.NoError(t, err)
				} else {
					require.Error(t, err)
					sinktest.CheckNoCanary(t, err)
					assert.ErrorIs(t, err, tc.target)
					assert.Contains(t, err.Error(), tc.says)
				}
				_, err = s.Probe(t.Context())
				require.Error(t, err)
				sinktest.CheckNoCanary(t, err)
			})
		}
	}

	// A RoundTripper's own errors (a proxy's, a tracing wrapper's, another
	// authenticating transport's) may quote the request URL, which holds the
	// identifier of a conditional update: only their kind is kept.
	p := sinktest.Patient(1)
	p.Identifier[0].Value = &dtpb.String{Value: sinktest.Canary}
	for _, tc := range []struct {
		name      string
		rt        roundTripFunc
		retryable bool
		target    error
	}{
		{"quoting the URL", func(r *http.Request) (*http.Response, error) {
			return nil, fmt.Errorf("proxy refused %s", r.URL)
		}, true, restsink.ErrUnavailable},
		{"quoting the URL around a reset", func(r *http.Request) (*http.Response, error) {
			return nil, fmt.Errorf("proxy: %s: %w", r.URL, syscall.ECONNRESET)
		}, true, syscall.ECONNRESET},
		{"retryable token failure of another transport", func(r *http.Request) (*http.Response, error) {
			return nil, foreignTokenError{"token for " + r.URL.String(), true}
		}, true, restsink.ErrUnavailable},
		{"permanent token failure of another transport", func(r *http.Request) (*http.Response, error) {
			return nil, foreignTokenError{"token for " + r.URL.String(), false}
		}, false, restsink.ErrAuth},
	} {
		t.Run("RoundTripper "+tc.name, func(t *testing.T) {
			s := newSink(t, "http://fhir.invalid/r4", &http.Client{Transport: tc.rt}, &restsink.Options{Match: restsink.MatchIdentifier})
			err := s.Write(t.Context(), sink.Upserts(p))
			require.Error(t, err)
			sinktest.CheckNoCanary(t, err)
			assert.Equal(t, tc.retryable, sink.IsRetryable(err), "%v", err)
			assert.ErrorIs(t, err, tc.target)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// foreignTokenError is a token failure of an authenticating transport other
// than package auth's, which says whether it is retryable.
type foreignTokenError struct {
	text      string
	retryable bool
}

func (e foreignTokenError) Error() string   { return e.text }
func (e foreignTokenError) Retryable() bool { return e.retryable }
