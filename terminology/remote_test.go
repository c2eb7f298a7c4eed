package terminology

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// translateServer is a minimal FHIR terminology server for ConceptMap/$translate
// (FHIR R4, https://hl7.org/fhir/R4/conceptmap-operation-translate.html): it
// accepts GET query parameters and POST Parameters resources, translates with
// the ConceptMaps it holds (by url, or by system/targetsystem), and answers a
// Parameters resource with result, message and match{equivalence, concept,
// source}.
type translateServer struct {
	t    *testing.T
	maps map[string]*ConceptMap // by url

	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
}

func newTranslateServer(t *testing.T, maps ...*ConceptMap) (*translateServer, *httptest.Server) {
	ts := &translateServer{t: t, maps: map[string]*ConceptMap{}}
	for _, cm := range maps {
		ts.maps[cm.URL] = cm
	}
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close)
	return ts, srv
}

func outcome(w http.ResponseWriter, status int, code, diagnostics string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"resourceType": "OperationOutcome",
		"issue":        []any{map[string]any{"severity": "error", "code": code, "diagnostics": diagnostics}},
	})
}

func (ts *translateServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts.mu.Lock()
	ts.requests = append(ts.requests, r)
	ts.bodies = append(ts.bodies, string(body))
	ts.mu.Unlock()
	if r.Header.Get("Accept") != "application/fhir+json" {
		outcome(w, http.StatusNotAcceptable, "not-supported", "accept")
		return
	}
	params := map[string]string{}
	var inline *ConceptMap
	switch r.Method {
	case http.MethodGet:
		for k, v := range r.URL.Query() {
			params[k] = v[0]
		}
	case http.MethodPost:
		if r.Header.Get("Content-Type") != "application/fhir+json" {
			outcome(w, http.StatusUnsupportedMediaType, "not-supported", "content type")
			return
		}
		var p struct {
			ResourceType string `json:"resourceType"`
			Parameter    []struct {
				Name      string          `json:"name"`
				ValueURI  *string         `json:"valueUri"`
				ValueCode *string         `json:"valueCode"`
				ValueStr  *string         `json:"valueString"`
				Resource  json.RawMessage `json:"resource"`
			} `json:"parameter"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.ResourceType != "Parameters" {
			outcome(w, http.StatusBadRequest, "invalid", "body is not Parameters")
			return
		}
		for _, q := range p.Parameter {
			// The R4 operation types: code is code, version/conceptMapVersion
			// are string, the rest are uri.
			want := map[string]string{"code": "code", "version": "string", "conceptMapVersion": "string", "conceptMap": "resource"}[q.Name]
			switch {
			case q.ValueURI != nil && (want == "" || want == "uri"):
				params[q.Name] = *q.ValueURI
			case q.ValueCode != nil && want == "code":
				params[q.Name] = *q.ValueCode
			case q.ValueStr != nil && want == "string":
				params[q.Name] = *q.ValueStr
			case q.Resource != nil && want == "resource":
				maps, err := ParseConceptMaps(q.Resource)
				if err != nil {
					outcome(w, http.StatusBadRequest, "invalid", "conceptMap")
					return
				}
				inline = maps[0]
			default:
				outcome(w, http.StatusBadRequest, "invalid", "parameter "+q.Name+" has the wrong type")
				return
			}
		}
	default:
		outcome(w, http.StatusMethodNotAllowed, "not-supported", "method")
		return
	}
	if params["code"] == "" || params["system"] == "" {
		outcome(w, http.StatusBadRequest, "required", "code and system are required")
		return
	}
	var cm *ConceptMap
	switch {
	case inline != nil:
		cm = inline
	case params["url"] != "":
		cm = ts.maps[params["url"]]
		if cm == nil {
			outcome(w, http.StatusNotFound, "not-found", "no ConceptMap "+params["url"])
			return
		}
	case r.PathValue("id") != "":
	default:
		for _, m := range ts.maps {
			for _, g := range m.Group {
				if g.Source == params["system"] && (params["targetsystem"] == "" || g.Target == params["targetsystem"]) {
					cm = m
				}
			}
		}
	}
	res := []any{}
	result := false
	message := "no match"
	if cm != nil {
		// Report every listed target (including unmatched ones), as servers do.
		for _, g := range cm.Group {
			if g.Source != params["system"] || (params["targetsystem"] != "" && g.Target != params["targetsystem"]) {
				continue
			}
			for _, el := range g.Element {
				if el.Code != params["code"] {
					continue
				}
				for _, tg := range el.Target {
					if tg.Equivalence.IsMatch() {
						result = true
						message = "matches found"
					}
					res = append(res, map[string]any{"name": "match", "part": []any{
						map[string]any{"name": "equivalence", "valueCode": string(tg.Equivalence)},
						map[string]any{"name": "concept", "valueCoding": map[string]any{"system": g.Target, "code": tg.Code, "display": tg.Display}},
						map[string]any{"name": "source", "valueUri": cm.URL},
					}})
				}
			}
		}
	}
	out := map[string]any{"resourceType": "Parameters", "parameter": append([]any{
		map[string]any{"name": "result", "valueBoolean": result},
		map[string]any{"name": "message", "valueString": message},
	}, res...)}
	w.Header().Set("Content-Type", "application/fhir+json")
	json.NewEncoder(w).Encode(out)
}

func TestRemoteTranslate(t *testing.T) {
	cm := mustParse(t, icd9to10)[0]
	ts, srv := newTranslateServer(t, cm)
	ctx := context.Background()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			r := NewRemote(srv.Client(), srv.URL+"/", &RemoteOptions{ConceptMapURL: icd9to10URL, Method: method})
			got, err := r.Translate(ctx, Coding{System: SystemICD9CM, Version: "2014", Code: "401.9"}, SystemICD10CM)
			want := Coding{System: SystemICD10CM, Code: "I10", Display: "Essential (primary) hypertension", Equivalence: EquivalenceEquivalent, ConceptMap: icd9to10URL}
			if err != nil || got != want {
				t.Errorf("401.9: %+v, %v", got, err)
			}
			ts.mu.Lock()
			req, body := ts.requests[len(ts.requests)-1], ts.bodies[len(ts.bodies)-1]
			ts.mu.Unlock()
			if req.Method != method || req.URL.Path != "/ConceptMap/$translate" {
				t.Errorf("request %s %s", req.Method, req.URL.Path)
			}
			if method == http.MethodGet {
				q := req.URL.Query()
				if q.Get("url") != icd9to10URL || q.Get("system") != SystemICD9CM || q.Get("code") != "401.9" ||
					q.Get("version") != "2014" || q.Get("targetsystem") != SystemICD10CM {
					t.Errorf("query = %v", q)
				}
			} else if !strings.Contains(body, `{"name":"code","valueCode":"401.9"}`) || !strings.Contains(body, `{"name":"version","valueString":"2014"}`) {
				t.Errorf("body = %s", body)
			}
			// Unmatched: the server lists the target but result is false.
			_, err = r.Translate(ctx, Coding{System: SystemICD9CM, Code: "799.9"}, SystemICD10CM)
			var nm *NoMappingError
			if !errors.As(err, &nm) || nm.Reason != ReasonExcluded || nm.Equivalence != EquivalenceUnmatched {
				t.Errorf("799.9: %v", err)
			}
			// Not in the map.
			_, err = r.Translate(ctx, Coding{System: SystemICD9CM, Code: "ZZCANARYZZ"}, SystemICD10CM)
			if !errors.As(err, &nm) || nm.Reason != ReasonRemote || strings.Contains(err.Error(), "CANARY") {
				t.Errorf("unknown code: %v", err)
			}
			// Disjoint is listed with result=false; wider is a match.
			if _, err := r.Translate(ctx, Coding{System: SystemICD9CM, Code: "530.81"}, SystemICD10CM); !errors.Is(err, ErrNoMapping) {
				t.Errorf("disjoint: %v", err)
			}
			if c, err := r.Translate(ctx, Coding{System: SystemICD9CM, Code: "V73.89"}, SystemICD10CM); err != nil || c.Equivalence != EquivalenceInexact {
				t.Errorf("inexact: %v %v", c, err)
			}
			// Matches in another system than the one asked for are ignored.
			if _, err := r.Translate(ctx, Coding{System: SystemICD9CM, Code: "401.9"}, SystemSNOMEDCT); !errors.Is(err, ErrNoMapping) {
				t.Errorf("other target: %v", err)
			}
		})
	}
	// Accept narrows; Lookup shows everything.
	r := NewRemote(srv.Client(), srv.URL, &RemoteOptions{Accept: AcceptExact})
	if _, err := r.Translate(ctx, Coding{System: SystemICD9CM, Code: "V73.89"}, SystemICD10CM); !errors.Is(err, ErrNoMapping) {
		t.Errorf("AcceptExact: %v", err)
	}
	res, err := r.Lookup(ctx, Coding{System: SystemICD9CM, Code: "401.1"}, SystemICD10CM)
	if err != nil || !res.Result || len(res.Matches) != 2 || res.Matches[1].Equivalence != EquivalenceWider || res.Message != "matches found" {
		t.Errorf("Lookup: %+v, %v", res, err)
	}
	// Inline conceptMap goes by POST.
	inline := &ConceptMap{URL: "urn:inline", Group: []Group{{Source: "urn:a", Target: "urn:b",
		Element: []Element{{Code: "1", Target: []Target{{Code: "2", Equivalence: EquivalenceEqual}}}}}}}
	r = NewRemote(srv.Client(), srv.URL, &RemoteOptions{ConceptMap: inline})
	if c, err := r.Translate(ctx, Coding{System: "urn:a", Code: "1"}, "urn:b"); err != nil || c.Code != "2" || c.ConceptMap != "urn:inline" {
		t.Errorf("inline: %+v, %v", c, err)
	}
	// An unknown map url is a permanent error, not "no mapping".
	r = NewRemote(srv.Client(), srv.URL, &RemoteOptions{ConceptMapURL: "urn:missing"})
	_, err = r.Translate(ctx, Coding{System: SystemICD9CM, Code: "401.9"}, SystemICD10CM)
	var re *RemoteError
	if !errors.As(err, &re) || re.StatusCode != 404 || IsRetryable(err) || errors.Is(err, ErrNoMapping) ||
		len(re.Issues) != 1 || re.Issues[0] != "not-found" || !strings.Contains(re.Diagnostics(), "urn:missing") {
		t.Errorf("missing map: %v (%+v)", err, re)
	}
}

func TestRemoteErrors(t *testing.T) {
	var mu sync.Mutex
	handler := func(w http.ResponseWriter, r *http.Request) {}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handler
		mu.Unlock()
		h(w, r)
	}))
	defer srv.Close()
	set := func(h http.HandlerFunc) { mu.Lock(); handler = h; mu.Unlock() }
	ctx := context.Background()
	from := Coding{System: SystemICD9CM, Code: "ZZCANARYZZ"}

	cases := []struct {
		name      string
		h         http.HandlerFunc
		status    int
		retryable bool
		after     time.Duration
		issues    []string
	}{
		{"429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			outcome(w, 429, "throttled", "slow down")
		}, 429, true, 7 * time.Second, []string{"throttled"}},
		{"503 date", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(503)
		}, 503, true, -1, nil},
		{"500", func(w http.ResponseWriter, r *http.Request) { outcome(w, 500, "exception", "ZZCANARYZZ crashed") }, 500, true, 0, []string{"exception"}},
		{"501", func(w http.ResponseWriter, r *http.Request) { outcome(w, 501, "not-supported", "") }, 501, false, 0, []string{"not-supported"}},
		{"408", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(408) }, 408, true, 0, nil},
		{"400", func(w http.ResponseWriter, r *http.Request) { outcome(w, 400, "invalid", "bad ZZCANARYZZ") }, 400, false, 0, []string{"invalid"}},
		{"401 free text code", func(w http.ResponseWriter, r *http.Request) { outcome(w, 401, "ZZCANARYZZ", "") }, 401, false, 0, nil},
		{"401 lower-case free text code", func(w http.ResponseWriter, r *http.Request) { outcome(w, 401, "zzcanaryzz", "") }, 401, false, 0, nil},
		{"200 not json", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>ZZCANARYZZ") }, 200, false, 0, nil},
		{"200 outcome", func(w http.ResponseWriter, r *http.Request) { outcome(w, 200, "informational", "") }, 200, false, 0, nil},
		{"200 bad equivalence", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"resourceType":"Parameters","parameter":[{"name":"result","valueBoolean":true},{"name":"match","part":[{"name":"equivalence","valueCode":"ZZCANARYZZ"}]}]}`)
		}, 200, false, 0, nil},
		{"200 too large", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"resourceType":"Parameters","parameter":[{"name":"message","valueString":"`+strings.Repeat("x", 2<<20)+`"}]}`)
		}, 200, false, 0, nil},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, `{"resourceType":`)
			if hj, ok := w.(http.Hijacker); ok {
				conn, _, _ := hj.Hijack()
				conn.Close()
			}
		}, 200, true, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set(tc.h)
			r := NewRemote(srv.Client(), srv.URL, nil)
			_, err := r.Translate(ctx, from, SystemICD10CM)
			var re *RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("error = %v; want *RemoteError", err)
			}
			if re.StatusCode != tc.status || re.Retryable() != tc.retryable || IsRetryable(err) != tc.retryable {
				t.Errorf("status %d retryable %v; want %d %v (%v)", re.StatusCode, re.Retryable(), tc.status, tc.retryable, err)
			}
			if tc.after >= 0 && re.RetryAfter != tc.after || tc.after < 0 && (re.RetryAfter < 59*time.Minute || re.RetryAfter > time.Hour) {
				t.Errorf("RetryAfter = %v; want %v", re.RetryAfter, tc.after)
			}
			if strings.Join(re.Issues, ",") != strings.Join(tc.issues, ",") {
				t.Errorf("issues = %q; want %q", re.Issues, tc.issues)
			}
			if errors.Is(err, ErrNoMapping) {
				t.Error("a failure must not look like no mapping")
			}
			if strings.Contains(strings.ToUpper(err.Error()), "CANARY") {
				t.Errorf("error text leaks: %v", err)
			}
		})
	}

	// No server at all: retryable transport error, text without the URL.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	_, err := NewRemote(nil, deadURL, nil).Translate(ctx, from, SystemICD10CM)
	if !IsRetryable(err) || strings.Contains(err.Error(), "CANARY") {
		t.Errorf("dead server: %v", err)
	}

	// Cancellation returns the context's error promptly, not retryable.
	set(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = NewRemote(srv.Client(), srv.URL, nil).Translate(cctx, from, SystemICD10CM)
	if !errors.Is(err, context.DeadlineExceeded) || IsRetryable(err) {
		t.Errorf("cancelled: %v", err)
	}

	// Configuration errors.
	for _, c := range []struct {
		base string
		opts *RemoteOptions
	}{{"not a url", nil}, {"ftp://x", nil}, {srv.URL, &RemoteOptions{Method: "PUT"}}} {
		if _, err := NewRemote(nil, c.base, c.opts).Translate(ctx, from, ""); err == nil || IsRetryable(err) {
			t.Errorf("config %q %+v: %v", c.base, c.opts, err)
		}
	}
}

func TestRemoteResponseVariants(t *testing.T) {
	body := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fhir/ConceptMap/my-map/$translate" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, body)
	}))
	defer srv.Close()
	r := NewRemote(srv.Client(), srv.URL+"/fhir", &RemoteOptions{ConceptMapID: "my-map"})
	ctx := context.Background()
	// R5 servers answer relationship and originMap.
	body = `{"resourceType":"Parameters","parameter":[{"name":"result","valueBoolean":true},
	  {"name":"match","part":[{"name":"relationship","valueCode":"source-is-broader-than-target"},
	  {"name":"concept","valueCoding":{"system":"urn:b","version":"3","code":"X"}},{"name":"originMap","valueCanonical":"urn:map"}]}]}`
	c, err := r.Translate(ctx, Coding{System: "urn:a", Code: "1"}, "urn:b")
	if err != nil || c != (Coding{System: "urn:b", Version: "3", Code: "X", Equivalence: EquivalenceNarrower, ConceptMap: "urn:map"}) {
		t.Errorf("R5 answer: %+v, %v", c, err)
	}
	// A match without equivalence is relatedto; without targetsystem any system goes.
	body = `{"resourceType":"Parameters","parameter":[{"name":"result","valueBoolean":true},
	  {"name":"match","part":[{"name":"concept","valueCoding":{"system":"urn:c","code":"Y"}}]}]}`
	c, err = r.Translate(ctx, Coding{System: "urn:a", Code: "1"}, "")
	if err != nil || c.Code != "Y" || c.Equivalence != EquivalenceRelatedTo {
		t.Errorf("no equivalence: %+v, %v", c, err)
	}
	if _, err := NewRemote(srv.Client(), srv.URL+"/fhir", &RemoteOptions{Accept: AcceptExact, ConceptMapID: "my-map"}).Translate(ctx, Coding{System: "urn:a", Code: "1"}, ""); !errors.Is(err, ErrNoMapping) {
		t.Errorf("relatedto under AcceptExact: %v", err)
	}
	// result=false and no matches.
	body = `{"resourceType":"Parameters","parameter":[{"name":"result","valueBoolean":false}]}`
	var nm *NoMappingError
	if _, err := r.Translate(ctx, Coding{System: "urn:a", Code: "1"}, ""); !errors.As(err, &nm) || nm.Reason != ReasonRemote {
		t.Errorf("result=false: %v", err)
	}
}

func TestRemoteBehindCache(t *testing.T) {
	cm := mustParse(t, icd9to10)[0]
	ts, srv := newTranslateServer(t, cm)
	c := NewCache(NewRemote(srv.Client(), srv.URL, &RemoteOptions{ConceptMapURL: icd9to10URL}), nil)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if got, err := c.Translate(ctx, Coding{System: SystemICD9CM, Code: "401.9"}, SystemICD10CM); err != nil || got.Code != "I10" {
			t.Fatalf("%v %v", got, err)
		}
		if _, err := c.Translate(ctx, Coding{System: SystemICD9CM, Code: "000.0"}, SystemICD10CM); !errors.Is(err, ErrNoMapping) {
			t.Fatalf("%v", err)
		}
	}
	ts.mu.Lock()
	n := len(ts.requests)
	ts.mu.Unlock()
	if n != 2 {
		t.Errorf("server saw %d requests; want 2", n)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		" 3 ":                           3 * time.Second,
		"-5":                            0,
		"soon":                          0,
		"Thu, 02 Jan 2025 03:05:05 GMT": time.Minute,
		"Thu, 02 Jan 2025 03:00:00 GMT": 0,
	}
	for h, want := range cases {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %v; want %v", h, got, want)
		}
	}
}
