package fhirmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/x12"
	claimpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
	"google.golang.org/protobuf/proto"
)

const testPCNSystem = "urn:fhirsync:patient-control-number:1234567893"

// testClaim builds a valid R4 Claim from JSON. items are JSON objects of
// Claim.item without their sequence.
func testClaim(t testing.TB, id, pcn, start, end, status string, items ...string) *claimpb.Claim {
	t.Helper()
	var its []string
	for i, it := range items {
		its = append(its, fmt.Sprintf(`{"sequence": %d, %s}`, i+1, it))
	}
	if len(its) == 0 {
		its = append(its, `{"sequence": 1, "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]}}`)
	}
	period := ""
	if start != "" {
		period = fmt.Sprintf(`"billablePeriod": {"start": %q, "end": %q},`, start, end)
	}
	js := fmt.Sprintf(`{"resourceType": "Claim", "id": %q,
	  "identifier": [{"system": %q, "value": %q}],
	  "status": %q,
	  "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
	  "use": "claim",
	  "patient": {"reference": "Patient/pat-1"},
	  %s
	  "created": "2024-01-15",
	  "provider": {"reference": "Organization/org-1"},
	  "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
	  "insurance": [{"sequence": 1, "focal": true, "coverage": {"reference": "Coverage/cov-1"}}],
	  "item": [%s]}`, id, testPCNSystem, pcn, status, period, strings.Join(its, ","))
	m, err := resource.Unmarshal([]byte(js))
	if err != nil {
		t.Fatalf("claim JSON: %v", err)
	}
	return m.(*claimpb.Claim)
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func query(pcn, start, end string) ClaimQuery {
	q := ClaimQuery{Identifiers: []ClaimIdentifier{{System: "urn:fhirsync:patient-control-number:9999999999", Value: pcn}, {System: testPCNSystem, Value: pcn}}}
	if start != "" {
		q.Start = day(start)
	}
	if end != "" {
		q.End = day(end)
	}
	return q
}

// lookupCases runs the same matching table against any ClaimLookup filled
// with the same claims.
var lookupClaims = []struct{ id, pcn, start, end, status string }{
	{"claim-a", "PCN1", "2024-01-10", "2024-01-10", "active"},
	{"claim-b", "PCN2", "2024-01-05", "2024-01-06", "active"},
	{"claim-c", "PCN2", "2024-03-01", "2024-03-01", "active"},    // same PCN, other dates
	{"claim-d", "PCN3", "2024-02-01", "2024-02-02", "active"},    // original
	{"claim-e", "PCN3", "2024-02-01", "2024-02-02", "cancelled"}, // void of it
	{"claim-f", "PCN4", "", "", "active"},                        // no billablePeriod
	{"claim-g", "PCN5", "2024-04-01", "2024-04-01", "active"},    // original
	{"claim-h", "PCN5", "2024-04-01", "2024-04-01", "active"},    // its replacement (related, added later)
}

// lookupClaim builds claim i of lookupClaims; claim-h replaces claim-g.
func lookupClaim(t testing.TB, i int) *claimpb.Claim {
	c := lookupClaims[i]
	cl := testClaim(t, c.id, c.pcn, c.start, c.end, c.status)
	if c.id == "claim-h" {
		cl.Related = []*claimpb.Claim_RelatedClaim{{
			Relationship: concept("http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship", "prior"),
			Reference:    identifier(nil, "urn:fhirsync:payer-claim-number:12345", "ICN1"),
		}}
	}
	return cl
}

var lookupCases = []struct {
	name string
	q    ClaimQuery
	want string // claim id, "" = unmatched
}{
	{"exact", query("PCN1", "2024-01-10", "2024-01-10"), "claim-a"},
	{"no dates", query("PCN1", "", ""), "claim-a"},
	{"open end", query("PCN1", "2024-01-01", ""), "claim-a"},
	{"dates disagree", query("PCN1", "2024-01-11", "2024-01-12"), ""},
	{"dates pick among same PCN", query("PCN2", "2024-03-01", ""), "claim-c"},
	{"dates pick the other", query("PCN2", "2024-01-06", "2024-01-06"), "claim-b"},
	{"active beats cancelled", query("PCN3", "2024-02-01", "2024-02-02"), "claim-d"},
	{"undated claim", query("PCN4", "2024-05-01", "2024-05-01"), "claim-f"},
	{"unknown PCN", query("PCN9", "", ""), ""},
	{"case matters", query("pcn1", "", ""), ""},
	{"no identifiers", ClaimQuery{}, ""},
	{"replacement is the latest", query("PCN5", "", ""), "claim-h"},
	{"a reversal wants the original", func() ClaimQuery { q := query("PCN5", "", ""); q.Original = true; return q }(), "claim-g"},
}

func runLookupCases(t *testing.T, l ClaimLookup) {
	t.Helper()
	for _, tc := range lookupCases {
		c, err := l.FindClaim(context.Background(), tc.q)
		if tc.want == "" {
			if !errors.Is(err, ErrUnmatched) {
				t.Errorf("%s: got %v, %v; want ErrUnmatched", tc.name, c.GetId().GetValue(), err)
			}
			continue
		}
		if err != nil || c.GetId().GetValue() != tc.want {
			t.Errorf("%s: got %q, %v; want %s", tc.name, c.GetId().GetValue(), err, tc.want)
		}
	}
}

func TestClaimIndex(t *testing.T) {
	ix := NewClaimIndex(nil)
	for i := range lookupClaims {
		if err := ix.Add(lookupClaim(t, i)); err != nil {
			t.Fatal(err)
		}
	}
	runLookupCases(t, ix)

	// The index keeps a copy and hands out copies.
	c, _ := ix.FindClaim(context.Background(), query("PCN1", "", ""))
	c.Identifier = nil
	if c2, err := ix.FindClaim(context.Background(), query("PCN1", "", "")); err != nil || len(c2.Identifier) != 1 {
		t.Errorf("returned claim shares memory with the index: %v", err)
	}
	// Re-adding the same id replaces; the later of two claims with equal rank wins.
	if err := ix.Add(testClaim(t, "claim-a", "PCN1", "2024-01-10", "2024-01-10", "active", `"productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99214"}]}`)); err != nil {
		t.Fatal(err)
	}
	if n := ix.Len(); n != len(lookupClaims) {
		t.Errorf("Len %d after replacing, want %d", n, len(lookupClaims))
	}
	c, _ = ix.FindClaim(context.Background(), query("PCN1", "", ""))
	if got := c.GetItem()[0].GetProductOrService().GetCoding()[0].GetCode().GetValue(); got != "99214" {
		t.Errorf("replaced claim not returned: %s", got)
	}
	if err := ix.Add(testClaim(t, "claim-a2", "PCN1", "2024-01-10", "2024-01-10", "active")); err != nil {
		t.Fatal(err)
	}
	if c, _ = ix.FindClaim(context.Background(), query("PCN1", "", "")); c.GetId().GetValue() != "claim-a2" {
		t.Errorf("latest claim should win a tie, got %s", c.GetId().GetValue())
	}

	if err := ix.Add(&claimpb.Claim{}); !errors.Is(err, ErrMissing) {
		t.Errorf("claim without identifier: %v", err)
	}
	if err := ix.Add(nil); !errors.Is(err, ErrMissing) {
		t.Errorf("nil claim: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ix.FindClaim(ctx, query("PCN1", "", "")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestClaimIndexBounded(t *testing.T) {
	ix := NewClaimIndex(&ClaimIndexOptions{MaxClaims: 3})
	for i := 0; i < 5; i++ {
		if err := ix.Add(testClaim(t, fmt.Sprintf("c%d", i), fmt.Sprintf("P%d", i), "2024-01-01", "2024-01-01", "active")); err != nil {
			t.Fatal(err)
		}
	}
	if ix.Len() != 3 {
		t.Fatalf("Len %d, want 3", ix.Len())
	}
	for i := 0; i < 5; i++ {
		_, err := ix.FindClaim(context.Background(), query(fmt.Sprintf("P%d", i), "", ""))
		if evicted := i < 2; evicted != errors.Is(err, ErrUnmatched) {
			t.Errorf("claim %d: err %v, evicted %v", i, err, evicted)
		}
	}
	if len(ix.byKey) != 3 || len(ix.byID) != 3 {
		t.Errorf("evicted claims still indexed: %d keys, %d ids", len(ix.byKey), len(ix.byID))
	}
}

func TestClaimIndexConcurrent(t *testing.T) {
	ix := NewClaimIndex(&ClaimIndexOptions{MaxClaims: 50})
	claims := make([]*claimpb.Claim, 100)
	for i := range claims {
		claims[i] = testClaim(t, fmt.Sprintf("c%d", i), fmt.Sprintf("P%d", i%10), "2024-01-01", "2024-01-01", "active")
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(claims); i += 4 {
				if err := ix.Add(claims[i]); err != nil {
					t.Error(err)
				}
				if _, err := ix.FindClaim(context.Background(), query(fmt.Sprintf("P%d", i%10), "", "")); err != nil {
					t.Error(err)
				}
			}
		}(w)
	}
	wg.Wait()
	if ix.Len() != 50 {
		t.Errorf("Len %d", ix.Len())
	}
}

func TestFHIRClaimLookup(t *testing.T) {
	srv := fhirtest.Shared(t)
	ctx := context.Background()
	for i, c := range lookupClaims {
		body, err := resource.Marshal(lookupClaim(t, i))
		if err != nil {
			t.Fatal(err)
		}
		resp, rb, err := srv.Do(ctx, http.MethodPut, "Claim/"+c.id, body, nil)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("PUT Claim/%s: %v %v %s", c.id, err, resp.StatusCode, rb)
		}
	}
	l := NewFHIRClaimLookup(nil, srv.URL()+"/", nil)
	runLookupCases(t, l)

	// A later update of the same PCN and dates wins a tie.
	body, _ := resource.Marshal(testClaim(t, "claim-a2", "PCN1", "2024-01-10", "2024-01-10", "active"))
	if resp, rb, err := srv.Do(ctx, http.MethodPut, "Claim/claim-a2", body, nil); err != nil || resp.StatusCode >= 300 {
		t.Fatalf("PUT: %v %s", err, rb)
	}
	if c, err := l.FindClaim(ctx, query("PCN1", "", "")); err != nil || c.GetId().GetValue() != "claim-a2" {
		t.Errorf("latest update should win: %q %v", c.GetId().GetValue(), err)
	}
	// Paging: with _count-like small pages the lookup follows "next" links.
	// (The server decides page sizes; MaxPages only bounds the reads.)
	if _, err := NewFHIRClaimLookup(nil, srv.URL(), &FHIRClaimLookupOptions{MaxPages: 1}).FindClaim(ctx, query("PCN1", "", "")); err != nil {
		t.Errorf("one page: %v", err)
	}
}

func TestFHIRClaimLookupErrors(t *testing.T) {
	const canary = "ZZCANARYZZ"
	var status int
	var gotURL string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURL = r.URL.String()
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "too-costly", "diagnostics": "bad %s"}]}`, canary)
	}))
	defer ts.Close()
	l := NewFHIRClaimLookup(ts.Client(), ts.URL, nil)
	q := ClaimQuery{Identifiers: []ClaimIdentifier{{System: "urn:x", Value: canary}}}
	for _, tc := range []struct {
		status    int
		temporary bool
	}{{503, true}, {429, true}, {400, false}, {401, false}} {
		status = tc.status
		_, err := l.FindClaim(context.Background(), q)
		var le *LookupError
		if !errors.As(err, &le) || le.Status != tc.status || le.Temporary() != tc.temporary || len(le.Codes) != 1 || le.Codes[0] != "too_costly" && le.Codes[0] != "too-costly" {
			t.Errorf("status %d: %v (%+v)", tc.status, err, le)
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("error leaks the query or diagnostics: %v", err)
		}
	}
	if !strings.Contains(gotURL, "identifier=urn%3Ax%7C"+canary) {
		t.Errorf("search URL %q", gotURL)
	}
	// A 200 that is not a Bundle.
	status = 200
	if _, err := l.FindClaim(context.Background(), q); err == nil || strings.Contains(err.Error(), canary) {
		t.Errorf("non-Bundle: %v", err)
	}
	// Transport errors name no URL.
	ts.Close()
	_, err := l.FindClaim(context.Background(), q)
	var le *LookupError
	if !errors.As(err, &le) || !le.Temporary() || strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "urn") {
		t.Errorf("transport error: %v", err)
	}
	// Nor does any error it wraps, which callers may unwrap: the *url.Error
	// (it holds the URL) is not kept, only the kind of failure.
	var ue *url.Error
	if errors.As(err, &ue) {
		t.Errorf("a *url.Error is reachable: %v", ue)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("the kind of failure is lost: %v", err)
	}
	for _, s := range errorChain(err) {
		if strings.Contains(s, canary) || strings.Contains(s, "urn") {
			t.Errorf("wrapped transport error: %q", s)
		}
	}
}

func TestMatchLines(t *testing.T) {
	cpt := func(code string, mods ...string) string {
		s := fmt.Sprintf(`"productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": %q}]}`, code)
		for i, m := range mods {
			if i == 0 {
				s += `, "modifier": [`
			} else {
				s += ","
			}
			s += fmt.Sprintf(`{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": %q}]}`, m)
			if i == len(mods)-1 {
				s += "]"
			}
		}
		return s
	}
	ext := func(cn string) string {
		return fmt.Sprintf(`"extension": [{"url": %q, "valueString": %q}]`, ExtLineItemControlNumber, cn)
	}
	c := testClaim(t, "c", "P", "2024-01-10", "2024-01-12", "active",
		ext("L1")+", "+cpt("99213", "25")+`, "servicedDate": "2024-01-10", "quantity": {"value": 1}, "net": {"value": 100, "currency": "USD"}`,
		cpt("97110")+`, "servicedDate": "2024-01-10", "quantity": {"value": 2}, "net": {"value": 80, "currency": "USD"}`,
		cpt("97110")+`, "servicedDate": "2024-01-11", "quantity": {"value": 2}, "net": {"value": 80, "currency": "USD"}`,
		cpt("97110")+`, "servicedDate": "2024-01-11", "quantity": {"value": 1}, "net": {"value": 40, "currency": "USD"}`,
		`"revenue": {"coding": [{"system": "https://www.nubc.org/CodeSystem/RevenueCodes", "code": "0450"}]}, `+cpt("J3420"),
	)
	pay := func(qual, code string, mods []string, date, units, charge, cn string) x12.ServicePayment835 {
		s := x12.ServicePayment835{Procedure: x12.Procedure{Qualifier: qual, Code: code, Modifiers: mods}, Charge: x12.Amount(charge), UnitsPaid: units}
		if date != "" {
			s.Dates = x12.DateTimes{{Qualifier: "472", Date: date}}
		}
		if cn != "" {
			s.Refs = x12.Refs{{Qualifier: "6R", Value: cn}}
		}
		return s
	}
	svcs := []x12.ServicePayment835{
		pay("HC", "97110", nil, "20240111", "1", "40", ""),              // → item 3 (units and charge)
		pay("HC", "99999", nil, "", "1", "10", "L1"),                    // → item 0 by 6R, whatever the code
		pay("NU", "450", nil, "", "", "", ""),                           // → item 4 by revenue code
		pay("HC", "97110", nil, "20240111", "2", "80", ""),              // → item 2 (date)
		pay("HC", "97110", nil, "20240110", "2", "80", ""),              // → item 1
		pay("HC", "99213", []string{"", "25"}, "20240110", "1", "", ""), // item 0 taken: ordinal 5 is out of range → none
	}
	got := MatchLines(c, svcs)
	want := []LineMatch{{3, "code"}, {0, "6R"}, {4, "code"}, {2, "code"}, {1, "code"}, {-1, ""}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("payment %d matched %+v, want %+v", i, got[i], want[i])
		}
	}
	// Modifiers must agree; ordinal pairs what codes cannot.
	got = MatchLines(c, []x12.ServicePayment835{pay("HC", "99213", nil, "", "", "", ""), pay("HC", "G0001", nil, "", "", "", "")})
	if got[0] != (LineMatch{0, "ordinal"}) || got[1] != (LineMatch{1, "ordinal"}) {
		t.Errorf("ordinal: %+v", got)
	}
	// SVC06 (as submitted) is compared, not the adjudicated SVC01.
	s := pay("HC", "99212", nil, "", "", "", "")
	s.OriginalProcedure = &x12.Procedure{Qualifier: "HC", Code: "99213", Modifiers: []string{"25"}}
	if got = MatchLines(c, []x12.ServicePayment835{pay("HC", "J3420", nil, "", "", "", ""), s}); got[1] != (LineMatch{0, "code"}) || got[0] != (LineMatch{4, "code"}) {
		t.Errorf("SVC06: %+v", got)
	}
	if got = MatchLines(&claimpb.Claim{}, svcs[:1]); got[0] != (LineMatch{-1, ""}) {
		t.Errorf("claim without items: %+v", got)
	}
}

func TestDeclaredProfiles(t *testing.T) {
	const prof = "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-Patient|2.1.0"
	pat := func(id string, profiles ...string) []byte {
		meta := ""
		if len(profiles) > 0 {
			ps, _ := json.Marshal(profiles)
			meta = fmt.Sprintf(`"meta": {"profile": %s},`, ps)
		}
		return []byte(fmt.Sprintf(`{"resourceType": "Patient", "id": %q, %s "gender": "unknown"}`, id, meta))
	}
	refs := []string{"Patient/p1", "Patient/p2", "Patient/unknown", "Organization/none", "bad"}
	want := map[string][]string{"Patient/p1": {prof}, "Patient/p2": {}}
	check := func(name string, got map[string][]string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(want) || len(got["Patient/p1"]) != 1 || got["Patient/p1"][0] != prof || got["Patient/p2"] == nil || len(got["Patient/p2"]) != 0 {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}

	ix := NewClaimIndex(nil)
	var rs []proto.Message
	for _, b := range [][]byte{pat("p1", prof), pat("p2")} {
		m, err := resource.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, m)
	}
	if err := ix.AddResources(rs); err != nil {
		t.Fatal(err)
	}
	got, err := ix.DeclaredProfiles(context.Background(), refs)
	check("index", got, err)

	srv := fhirtest.Shared(t)
	for _, id := range []string{"p1", "p2"} {
		body := pat(id)
		if id == "p1" {
			body = pat(id, prof)
		}
		if resp, rb, err := srv.Do(context.Background(), http.MethodPut, "Patient/"+id, body, nil); err != nil || resp.StatusCode >= 300 {
			t.Fatalf("PUT: %v %s", err, rb)
		}
	}
	got, err = NewFHIRClaimLookup(nil, srv.URL(), nil).DeclaredProfiles(context.Background(), refs)
	check("server", got, err)
}

// leakyTransport fails every request with an error that quotes the request
// URL (as some proxies' and tracing wrappers' errors do), or answers with a
// body whose read fails the same way.
type leakyTransport struct {
	err     error // returned as is when set
	bodyErr bool  // answer 200 with a body whose Read fails quoting the URL
}

func (lt leakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if lt.err != nil {
		return nil, lt.err
	}
	quoted := fmt.Errorf("upstream refused %s", r.URL)
	if lt.bodyErr {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(io.MultiReader(strings.NewReader("{"), errReader{quoted})), Request: r}, nil
	}
	return nil, quoted
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// errorChain returns the text of err and of every error reachable from it
// by unwrapping (Unwrap() error and Unwrap() []error).
func errorChain(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		out = append(out, e.Error(), fmt.Sprintf("%+v", e))
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

// TestLookupErrorUnwrapPHISafe: whatever the transport's errors say (here
// the search URL, which holds the claim identifier), neither LookupError's
// text nor anything reachable by unwrapping it holds the identifier, while
// the kind of failure stays testable with errors.Is / errors.As.
func TestLookupErrorUnwrapPHISafe(t *testing.T) {
	const canary = "ZZCANARYZZ"
	q := ClaimQuery{Identifiers: []ClaimIdentifier{{System: "urn:x", Value: canary}}}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	for _, tc := range []struct {
		name    string
		tr      leakyTransport
		is      error // errors.Is target, or nil
		timeout bool
	}{
		{name: "error quoting the URL", tr: leakyTransport{}},
		{name: "body read quoting the URL", tr: leakyTransport{bodyErr: true}, is: nil},
		{name: "timeout quoting the URL", tr: leakyTransport{err: fmt.Errorf("GET %s: %w", "https://x/Claim?identifier=urn:x|"+canary, context.DeadlineExceeded)},
			is: context.DeadlineExceeded, timeout: true},
		{name: "refused", tr: leakyTransport{err: fmt.Errorf("dialing for %s: %w", canary, refused)}, is: syscall.ECONNREFUSED},
		{name: "unexpected EOF", tr: leakyTransport{err: fmt.Errorf("%s: %w", canary, io.ErrUnexpectedEOF)}, is: io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewFHIRClaimLookup(&http.Client{Transport: tc.tr}, "https://fhir.example/r4", nil)
			_, err := l.FindClaim(context.Background(), q)
			var le *LookupError
			if !errors.As(err, &le) {
				t.Fatalf("want a *LookupError, got %v", err)
			}
			if !le.Temporary() {
				t.Errorf("a transport failure is temporary: %v", err)
			}
			for _, s := range errorChain(err) {
				if strings.Contains(s, canary) {
					t.Errorf("unwrapping reaches the identifier: %q", s)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			var ne net.Error
			if got := errors.As(err, &ne) && ne.Timeout(); got != tc.timeout {
				t.Errorf("timeout = %v, want %v (%v)", got, tc.timeout, err)
			}
		})
	}

	// A 200 whose body is not valid FHIR: the decoder's error, which quotes
	// the invalid value, is not kept either.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Claim","id":"c1","status":"%s"}}]}`, canary)
	}))
	defer bad.Close()
	_, err := NewFHIRClaimLookup(nil, bad.URL, nil).FindClaim(context.Background(), q)
	if le := (*LookupError)(nil); !errors.As(err, &le) || le.Status != 200 || le.Temporary() {
		t.Errorf("invalid FHIR: %v", err)
	}
	for _, s := range errorChain(err) {
		if strings.Contains(s, canary) {
			t.Errorf("invalid FHIR: unwrapping reaches the value: %q", s)
		}
	}

	// The client's own timeout: still a timeout, and errors.Is
	// context.DeadlineExceeded, without the URL.
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(release)
	l := NewFHIRClaimLookup(&http.Client{Timeout: 50 * time.Millisecond}, ts.URL, nil)
	_, err = l.FindClaim(context.Background(), q)
	var le *LookupError
	if !errors.As(err, &le) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("client timeout: %v", err)
	}
	for _, s := range errorChain(err) {
		if strings.Contains(s, canary) {
			t.Errorf("client timeout: unwrapping reaches the identifier: %q", s)
		}
	}

	// The caller's context: its error, as is.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	l = NewFHIRClaimLookup(nil, ts.URL, nil)
	if _, err := l.FindClaim(ctx, q); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("caller's deadline: %v", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := l.FindClaim(cctx, q); !errors.Is(err, context.Canceled) {
		t.Errorf("caller's cancel: %v", err)
	}
}
