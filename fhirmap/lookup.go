package fhirmap

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/x12"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	claimpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/internal/neterr"
)

// ExtLineItemControlNumber is the URL of the extension that carries an 837
// service line's line item control number (loop 2400 REF*6R, echoed in the
// 835's loop 2110 REF*6R) on Claim.item, as a valueString, so that the
// service payments of an 835 can be joined to the claim's lines
// (MAPPING.md §3.5). Context: Claim.item. Cardinality 0..1.
const ExtLineItemControlNumber = ExtensionBase + "line-item-control-number"

// ClaimLookup finds the claim (as the 837 side mapped it: a FHIR Claim) that
// an 835 claim payment pays, for the 837/835 join of MAPPING.md §3.5.
//
// FindClaim returns an error wrapping [ErrUnmatched] when no claim matches;
// any other error means the answer is unknown (a server was unreachable) and
// the record should be retried rather than mapped without its claim. The
// error is wrapped, text included, in the mapping error, which is logged: it
// must not quote the query's identifiers (claim numbers, member ids), as
// [LookupError] does not.
// Implementations must be safe for concurrent use. The returned Claim is the
// caller's: implementations never share it between calls.
type ClaimLookup interface {
	FindClaim(ctx context.Context, q ClaimQuery) (*claimpb.Claim, error)
}

// ReferenceProfiles is an optional capability of a [ClaimLookup]: it tells
// which profiles the resources a claim refers to declare (its Patient,
// Coverages, Organizations, Practitioners), so that an ExplanationOfBenefit
// built from the claim claims a C4BB profile only when the resources it
// refers to declare the profiles C4BB requires of them (a dependent Patient
// without a member id, a Practitioner whose NPI fails its check digit, do
// not). refs are "Type/id" references; the answer maps each reference the
// implementation knows to the versioned canonicals in its meta.profile (an
// empty slice when it declares none); unknown references are left out.
type ReferenceProfiles interface {
	DeclaredProfiles(ctx context.Context, refs []string) (map[string][]string, error)
}

// ClaimIdentifier is a business identifier of a Claim: system and value,
// compared exactly (as FHIR token search does, without case folding of the
// system).
type ClaimIdentifier struct {
	System string
	Value  string
}

// ClaimQuery describes the claim an 835 claim payment is for.
//
// A claim matches when it carries one of Identifiers and its billablePeriod
// overlaps [Start, End] (either end zero means open; a claim without a
// billablePeriod, or a query without dates, passes the date test). The
// identifiers are the patient control number (CLP01 = CLM01) in the system
// of each candidate billing provider (the 835 payee's NPI, its TIN), which is
// how the billing provider takes part in the match: the 837 side qualifies
// CLM01's system by the billing provider (Options.Systems).
//
// When several claims match, active claims win over cancelled ones (a void,
// CLM05-3 = 8); then, with Original set, a claim that replaces none (no
// Claim.related) wins over a replacement; then the most recently added
// (in-memory) or updated (server).
type ClaimQuery struct {
	Identifiers []ClaimIdentifier
	Start, End  time.Time // the claim payment's statement or service dates, as calendar dates
	// Original prefers the original claim to its replacements: a reversal
	// (835 CLP02 = 22) reverses the payment of the original.
	Original bool
}

// LogValue logs the query without its identifier values (CLP01 is an account
// number): only how many identifiers it has and whether it has dates.
func (q ClaimQuery) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("identifiers", len(q.Identifiers)), slog.Bool("dated", !q.Start.IsZero() || !q.End.IsZero()))
}

// ClaimIndexOptions configures a [ClaimIndex].
type ClaimIndexOptions struct {
	// MaxClaims bounds the index: when full, adding a claim evicts the
	// oldest one (first in, first out). 0 means DefaultMaxClaims; negative
	// means no bound.
	MaxClaims int
}

// DefaultMaxClaims is the number of claims a [ClaimIndex] keeps by default.
// A claim is kept in its binary protobuf form, typically 1–3 KB for a
// professional claim (more for long institutional claims), so the default
// bound is a few hundred megabytes at most.
const DefaultMaxClaims = 200_000

// ClaimIndex is an in-memory [ClaimLookup]: it indexes the Claims the 837
// side produced (see [ClaimIndex.Add]) by every business identifier they
// carry, so that an 835 read later in the same run joins with them. It keeps
// each claim as compact protobuf bytes and decodes a fresh copy on a hit.
//
// It is bounded (see [ClaimIndexOptions].MaxClaims) and safe for concurrent
// use.
//
// PHI: the index holds claims, which hold PHI, in memory only.
type ClaimIndex struct {
	mu    sync.RWMutex
	max   int
	seq   uint64
	order *list.List                          // *indexedClaim, oldest first
	byKey map[ClaimIdentifier][]*list.Element // identifier → claims carrying it
	byID  map[string]*list.Element            // logical id → claim (a re-added id replaces)

	profiles  map[string][]string // "Type/id" → meta.profile of the other resources added
	profOrder *list.List          // keys of profiles, oldest first (bounded like the claims)
}

type indexedClaim struct {
	id         string
	keys       []ClaimIdentifier
	data       []byte // proto.Marshal of the Claim
	start, end time.Time
	cancelled  bool
	replaces   bool // the claim has related claims (a replacement or void)
	seq        uint64
}

// NewClaimIndex returns an empty index configured by opts (nil means
// defaults).
func NewClaimIndex(opts *ClaimIndexOptions) *ClaimIndex {
	max := DefaultMaxClaims
	if opts != nil && opts.MaxClaims != 0 {
		max = opts.MaxClaims
	}
	return &ClaimIndex{max: max, order: list.New(), byKey: map[ClaimIdentifier][]*list.Element{}, byID: map[string]*list.Element{},
		profiles: map[string][]string{}, profOrder: list.New()}
}

// Len returns the number of claims in the index.
func (ix *ClaimIndex) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.order.Len()
}

// Add indexes a Claim by every identifier (system and value both set) it
// carries. A Claim with the same logical id as one already indexed replaces
// it. Adding a claim without an identifier is an error wrapping [ErrMissing].
// The index keeps a copy: c may be changed afterwards.
func (ix *ClaimIndex) Add(c *claimpb.Claim) error {
	if c == nil {
		return fmt.Errorf("fhirmap: claim index: %w: nil claim", ErrMissing)
	}
	e := &indexedClaim{id: c.GetId().GetValue(), cancelled: c.GetStatus().GetValue() == cpb.FinancialResourceStatusCode_CANCELLED, replaces: len(c.GetRelated()) > 0}
	for _, id := range c.GetIdentifier() {
		k := ClaimIdentifier{System: id.GetSystem().GetValue(), Value: id.GetValue().GetValue()}
		if k.System != "" && k.Value != "" {
			e.keys = append(e.keys, k)
		}
	}
	if len(e.keys) == 0 {
		return fmt.Errorf("fhirmap: claim index: %w: claim has no identifier with a system and a value", ErrMissing)
	}
	e.start, e.end = periodDates(c.GetBillablePeriod())
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return fmt.Errorf("fhirmap: claim index: encoding a claim: %w", err)
	}
	e.data = data
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if e.id != "" {
		if old, ok := ix.byID[e.id]; ok {
			ix.remove(old)
		}
	}
	ix.seq++
	e.seq = ix.seq
	el := ix.order.PushBack(e)
	for _, k := range e.keys {
		ix.byKey[k] = append(ix.byKey[k], el)
	}
	if e.id != "" {
		ix.byID[e.id] = el
	}
	for ix.max > 0 && ix.order.Len() > ix.max {
		ix.remove(ix.order.Front())
	}
	return nil
}

// AddResources indexes the Claims among resources (for example a mapping
// [Result]'s Resources) and remembers the profiles the other resources
// declare, for [ClaimIndex.DeclaredProfiles] (at most 8 per claim the index
// holds, oldest forgotten first).
func (ix *ClaimIndex) AddResources(resources []proto.Message) error {
	for _, r := range resources {
		if c, ok := r.(*claimpb.Claim); ok {
			if err := ix.Add(c); err != nil {
				return err
			}
			continue
		}
		t, id := resource.Type(r), resource.ID(r)
		if t == "" || id == "" {
			continue
		}
		ix.remember(t+"/"+id, metaProfiles(r))
	}
	return nil
}

// remember records the declared profiles of a resource.
func (ix *ClaimIndex) remember(key string, profiles []string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, ok := ix.profiles[key]; !ok {
		ix.profOrder.PushBack(key)
	}
	ix.profiles[key] = profiles
	for ix.max > 0 && ix.profOrder.Len() > 8*ix.max {
		old := ix.profOrder.Remove(ix.profOrder.Front()).(string)
		delete(ix.profiles, old)
	}
}

// DeclaredProfiles implements [ReferenceProfiles] with the resources given
// to [ClaimIndex.AddResources].
func (ix *ClaimIndex) DeclaredProfiles(ctx context.Context, refs []string) (map[string][]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make(map[string][]string, len(refs))
	for _, r := range refs {
		if p, ok := ix.profiles[r]; ok {
			out[r] = append([]string{}, p...)
		}
	}
	return out, nil
}

// metaProfiles returns the meta.profile values of a resource.
func metaProfiles(m proto.Message) []string {
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName("meta")
	if f == nil || !r.Has(f) {
		return []string{}
	}
	meta, ok := r.Get(f).Message().Interface().(*dtpb.Meta)
	if !ok {
		return []string{}
	}
	out := make([]string, 0, len(meta.GetProfile()))
	for _, p := range meta.GetProfile() {
		out = append(out, p.GetValue())
	}
	return out
}

// remove drops an element; ix.mu is held.
func (ix *ClaimIndex) remove(el *list.Element) {
	e := el.Value.(*indexedClaim)
	ix.order.Remove(el)
	for _, k := range e.keys {
		els := ix.byKey[k]
		for i, x := range els {
			if x == el {
				els = append(els[:i:i], els[i+1:]...)
				break
			}
		}
		if len(els) == 0 {
			delete(ix.byKey, k)
		} else {
			ix.byKey[k] = els
		}
	}
	if e.id != "" && ix.byID[e.id] == el {
		delete(ix.byID, e.id)
	}
}

// FindClaim implements [ClaimLookup].
func (ix *ClaimIndex) FindClaim(ctx context.Context, q ClaimQuery) (*claimpb.Claim, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ix.mu.RLock()
	var best *indexedClaim
	seen := map[*indexedClaim]bool{}
	for _, k := range q.Identifiers {
		for _, el := range ix.byKey[k] {
			e := el.Value.(*indexedClaim)
			if seen[e] || !overlaps(e.start, e.end, q.Start, q.End) {
				continue
			}
			seen[e] = true
			if best == nil || better(q, candidate{e.cancelled, e.replaces, e.seq}, candidate{best.cancelled, best.replaces, best.seq}) {
				best = e
			}
		}
	}
	var data []byte
	if best != nil {
		data = best.data
	}
	ix.mu.RUnlock()
	if data == nil {
		return nil, fmt.Errorf("fhirmap: claim index: %w", ErrUnmatched)
	}
	c := &claimpb.Claim{}
	if err := proto.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("fhirmap: claim index: decoding a claim: %w", err)
	}
	return c, nil
}

// candidate is what ranks a matching claim.
type candidate struct {
	cancelled, replaces bool
	rank                uint64 // later added or updated is higher
}

// better reports whether candidate a beats b for query q: active before
// cancelled, originals before replacements when q.Original, then the higher
// rank.
func better(q ClaimQuery, a, b candidate) bool {
	if a.cancelled != b.cancelled {
		return !a.cancelled
	}
	if q.Original && a.replaces != b.replaces {
		return !a.replaces
	}
	return a.rank > b.rank
}

// overlaps reports whether the date ranges [s1, e1] and [s2, e2] overlap, a
// zero end being open and a range with both ends zero matching anything.
func overlaps(s1, e1, s2, e2 time.Time) bool {
	if s1.IsZero() && e1.IsZero() || s2.IsZero() && e2.IsZero() {
		return true
	}
	if !e1.IsZero() && !s2.IsZero() && e1.Before(s2) {
		return false
	}
	if !e2.IsZero() && !s1.IsZero() && e2.Before(s1) {
		return false
	}
	return true
}

// periodDates returns the calendar dates (UTC midnight) of a Period's ends.
func periodDates(p *dtpb.Period) (start, end time.Time) {
	return dtDate(p.GetStart()), dtDate(p.GetEnd())
}

// dtDate returns the calendar date of a FHIR dateTime in its own zone as
// UTC midnight (zero for nil).
func dtDate(d *dtpb.DateTime) time.Time {
	if d == nil {
		return time.Time{}
	}
	t := time.UnixMicro(d.GetValueUs()).UTC()
	if loc, err := zoneOf(d.GetTimezone()); err == nil {
		t = t.In(loc)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// dateOnly returns the calendar date of a FHIR date (UTC midnight).
func dateOnly(d *dtpb.Date) time.Time {
	if d == nil {
		return time.Time{}
	}
	t := time.UnixMicro(d.GetValueUs()).UTC()
	if loc, err := zoneOf(d.GetTimezone()); err == nil {
		t = t.In(loc)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// zoneOf parses a google/fhir timezone ("Z", "UTC", "+05:00", or an IANA
// name).
func zoneOf(tz string) (*time.Location, error) {
	switch tz {
	case "", "Z", "UTC":
		return time.UTC, nil
	}
	if len(tz) == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':' {
		t, err := time.Parse("-07:00", tz)
		if err != nil {
			return nil, err
		}
		_, off := t.Zone()
		return time.FixedZone(tz, off), nil
	}
	return time.LoadLocation(tz)
}

// FHIRClaimLookupOptions configures a [FHIRClaimLookup].
type FHIRClaimLookupOptions struct {
	// MaxPages bounds how many search result pages are read per identifier
	// (following the Bundle's "next" links). 0 means 4.
	MaxPages int
	// Header holds extra request headers (an Authorization header, for
	// example; an http.RoundTripper on the client is the better place).
	Header http.Header
}

// FHIRClaimLookup is a [ClaimLookup] backed by a FHIR R4 server's search:
// for each identifier of the query it reads
//
//	GET [base]/Claim?identifier=<system>|<value>
//
// and picks among the Claims found as [ClaimQuery] says, the most recently
// updated (meta.lastUpdated) winning a tie. It reads back the Claims the 837
// side wrote, so a day's 835 joins with claims written on earlier days or by
// other processes.
//
// PHI: the query URL carries the patient control number (CLP01), as FHIR
// search requires; errors never do, neither in their text nor in the errors
// they wrap (a [*LookupError] carries the HTTP status, the OperationOutcome
// issue codes and the kind of transport failure only). Use TLS to a real
// server.
type FHIRClaimLookup struct {
	client *http.Client
	base   string
	opts   FHIRClaimLookupOptions
}

// NewFHIRClaimLookup returns a lookup that searches the server at baseURL
// (the FHIR base, such as "https://fhir.example.org/r4") with client (nil
// means http.DefaultClient; authentication belongs in its Transport).
func NewFHIRClaimLookup(client *http.Client, baseURL string, opts *FHIRClaimLookupOptions) *FHIRClaimLookup {
	if client == nil {
		client = http.DefaultClient
	}
	l := &FHIRClaimLookup{client: client, base: strings.TrimRight(baseURL, "/")}
	if opts != nil {
		l.opts = *opts
	}
	if l.opts.MaxPages <= 0 {
		l.opts.MaxPages = 4
	}
	return l
}

// LookupError is a failed FHIR search of a [FHIRClaimLookup]: the HTTP
// status (0 when no response came) and the OperationOutcome issue codes.
// It never holds the search values.
type LookupError struct {
	Status int      // HTTP status, 0 for a transport error
	Codes  []string // OperationOutcome issue codes, when the server sent one
	// Err is the kind of transport or decoding failure, when there was one:
	// never the transport's own error, whose text (or whose wrapped errors'
	// text) may quote the search URL and so the claim identifier. It
	// unwraps to a sentinel only: context.DeadlineExceeded or
	// os.ErrDeadlineExceeded for timeouts (which also satisfy net.Error
	// with Timeout() true), context.Canceled, syscall errors such as
	// ECONNREFUSED and ECONNRESET, io.ErrUnexpectedEOF, io.EOF.
	Err error
}

// Error describes the failure without the query values.
func (e *LookupError) Error() string {
	var b strings.Builder
	b.WriteString("fhirmap: claim search")
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if len(e.Codes) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(e.Codes, ", "))
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(sanitizeURLError(e.Err))
	}
	return b.String()
}

// Unwrap returns Err, the PHI-safe kind of the failure (see [LookupError]).
func (e *LookupError) Unwrap() error { return e.Err }

// Temporary reports whether retrying may help: transport errors (including
// a response body cut short), 408, 429 and 5xx.
func (e *LookupError) Temporary() bool {
	var te *neterr.Error
	return e.Status == 0 || errors.As(e.Err, &te) || e.Status == http.StatusRequestTimeout ||
		e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// sanitizeURLError drops the URL (which holds the search values) from a
// *url.Error's text (LookupError.Err is never one when FHIRClaimLookup made
// it; this guards errors built elsewhere).
func sanitizeURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + transportCause(ue.Err).Error()
	}
	return err.Error()
}

// errMalformedResponse is the cause of a LookupError for a response that is
// not FHIR JSON: the decoder's own error may quote the response's values.
var errMalformedResponse = errors.New("response is not FHIR R4 JSON")

// transportCause classifies a transport (or response body) error by kind
// (internal/neterr), dropping its text: a RoundTripper's or proxy's error can
// quote the request URL, which holds the claim identifier.
func transportCause(err error) error { return neterr.Classify(err) }

// FindClaim implements [ClaimLookup].
func (l *FHIRClaimLookup) FindClaim(ctx context.Context, q ClaimQuery) (*claimpb.Claim, error) {
	var best *claimpb.Claim
	var bestCand candidate
	seen := map[string]bool{}
	for _, k := range q.Identifiers {
		if k.System == "" || k.Value == "" {
			continue
		}
		next := l.base + "/Claim?identifier=" + url.QueryEscape(k.System+"|"+k.Value)
		for page := 0; next != "" && page < l.opts.MaxPages; page++ {
			b, err := l.search(ctx, next)
			if err != nil {
				return nil, err
			}
			next = ""
			for _, ln := range b.GetLink() {
				if ln.GetRelation().GetValue() == "next" {
					next = ln.GetUrl().GetValue()
				}
			}
			for _, e := range b.GetEntry() {
				c := e.GetResource().GetClaim()
				if c == nil || !hasIdentifier(c, k) {
					continue
				}
				if id := c.GetId().GetValue(); id != "" {
					if seen[id] {
						continue
					}
					seen[id] = true
				}
				s, en := periodDates(c.GetBillablePeriod())
				if !overlaps(s, en, q.Start, q.End) {
					continue
				}
				cand := candidateOf(c)
				if best == nil || better(q, cand, bestCand) {
					best, bestCand = c, cand
				}
			}
		}
	}
	if best == nil {
		return nil, fmt.Errorf("fhirmap: claim search: %w", ErrUnmatched)
	}
	return best, nil
}

// DeclaredProfiles implements [ReferenceProfiles]: one search per resource
// type, GET [base]/<Type>?_id=<id>,<id>... (50 ids at most per request).
func (l *FHIRClaimLookup) DeclaredProfiles(ctx context.Context, refs []string) (map[string][]string, error) {
	byType := map[string][]string{}
	var types []string
	for _, r := range refs {
		t, id, ok := strings.Cut(r, "/")
		if !ok || t == "" || id == "" || strings.ContainsAny(id, ",/?&#") {
			continue
		}
		if byType[t] == nil {
			types = append(types, t)
		}
		byType[t] = append(byType[t], id)
	}
	out := map[string][]string{}
	for _, t := range types {
		ids := byType[t]
		for len(ids) > 0 {
			n := min(len(ids), 50)
			b, err := l.search(ctx, l.base+"/"+url.PathEscape(t)+"?_id="+url.QueryEscape(strings.Join(ids[:n], ",")))
			if err != nil {
				return nil, err
			}
			ids = ids[n:]
			for _, e := range b.GetEntry() {
				m, err := resource.Unwrap(e.GetResource())
				if err != nil || resource.Type(m) != t {
					continue
				}
				out[t+"/"+resource.ID(m)] = metaProfiles(m)
			}
		}
	}
	return out, nil
}

// candidateOf ranks a Claim read from a server by meta.lastUpdated.
func candidateOf(c *claimpb.Claim) candidate {
	return candidate{
		cancelled: c.GetStatus().GetValue() == cpb.FinancialResourceStatusCode_CANCELLED,
		replaces:  len(c.GetRelated()) > 0,
		rank:      uint64(max(c.GetMeta().GetLastUpdated().GetValueUs(), 0)),
	}
}

// hasIdentifier reports whether c carries identifier k (servers match tokens
// case-insensitively; the join wants the exact identifier).
func hasIdentifier(c *claimpb.Claim, k ClaimIdentifier) bool {
	for _, id := range c.GetIdentifier() {
		if id.GetSystem().GetValue() == k.System && id.GetValue().GetValue() == k.Value {
			return true
		}
	}
	return false
}

// search reads one search result page.
func (l *FHIRClaimLookup) search(ctx context.Context, u string) (*bcrpb.Bundle, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &LookupError{Err: errors.New("invalid base URL")}
	}
	for k, vs := range l.opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := l.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The error (a *url.Error holding the URL, and whatever the
		// RoundTripper returned) may quote the claim identifier: keep only
		// its kind, in the text and in the chain.
		return nil, &LookupError{Err: transportCause(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &LookupError{Status: resp.StatusCode, Err: transportCause(err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &LookupError{Status: resp.StatusCode, Codes: outcomeCodes(body)}
	}
	m, err := resource.Unmarshal(body)
	if err != nil {
		return nil, &LookupError{Status: resp.StatusCode, Err: errMalformedResponse}
	}
	b, ok := m.(*bcrpb.Bundle)
	if !ok {
		return nil, &LookupError{Status: resp.StatusCode, Err: fmt.Errorf("search returned a %s, not a Bundle", resource.Type(m))}
	}
	return b, nil
}

// outcomeCodes returns the issue codes of an OperationOutcome body, nil when
// it is not one.
func outcomeCodes(body []byte) []string {
	m, err := resource.Unmarshal(body)
	if err != nil {
		return nil
	}
	c, err := resource.Wrap(m)
	if err != nil || c.GetOperationOutcome() == nil {
		return nil
	}
	var out []string
	for _, is := range c.GetOperationOutcome().GetIssue() {
		out = append(out, strings.ToLower(is.GetCode().GetValue().String()))
	}
	return out
}

// LineMatch says which claim item a service payment was matched to and how.
type LineMatch struct {
	Item int    // index into Claim.item; -1 when the payment matched no item
	By   string // "6R" (line item control number), "code" (code, date, units, charge) or "ordinal"; "" when unmatched
}

// MatchLines pairs the service payments of an 835 claim payment (loops
// 2110) with the items of the claim they pay (MAPPING.md §3.5), and returns
// one LineMatch per payment, in order. Each item is used at most once:
//
//  1. by line item control number: 2110 REF*6R equal to the item's
//     [ExtLineItemControlNumber];
//  2. by code: the submitted procedure (SVC06 when sent, else SVC01; a NU
//     qualifier compares with item.revenue) with the same modifiers, and,
//     where both sides have them, the same service date (DTM*472 or 150 vs
//     serviced[x]'s start); among several, the item that also has the same
//     units (SVC07, else SVC05) and charge (SVC02) wins, then the first;
//  3. by ordinal: the n-th payment and the n-th item, when that item is
//     still free.
func MatchLines(c *claimpb.Claim, svcs []x12.ServicePayment835) []LineMatch {
	out := make([]LineMatch, len(svcs))
	items := c.GetItem()
	used := make([]bool, len(items))
	for i := range out {
		out[i].Item = -1
	}
	// 1. REF*6R
	for i := range svcs {
		cn := strings.TrimSpace(svcs[i].ControlNumber())
		if cn == "" {
			continue
		}
		for j, it := range items {
			if !used[j] && itemControlNumber(it) == cn {
				out[i], used[j] = LineMatch{Item: j, By: "6R"}, true
				break
			}
		}
	}
	// 2. code, modifiers, date; units and charge break ties.
	for i := range svcs {
		if out[i].Item >= 0 {
			continue
		}
		s := &svcs[i]
		proc := s.Procedure
		if s.OriginalProcedure != nil && s.OriginalProcedure.Code != "" {
			proc = *s.OriginalProcedure
		}
		if strings.TrimSpace(proc.Code) == "" {
			continue
		}
		date := svcDate(s)
		units := s.OriginalUnits
		if units == "" {
			units = s.UnitsPaid
		}
		best, bestScore := -1, -1
		for j, it := range items {
			if used[j] || !sameProcedure(it, proc) {
				continue
			}
			score := 0
			if d := itemDate(it); !d.IsZero() && !date.IsZero() {
				if !d.Equal(date) {
					continue
				}
			}
			if sameDecimal(it.GetQuantity().GetValue().GetValue(), units) {
				score++
			}
			if sameDecimal(it.GetNet().GetValue().GetValue(), string(s.Charge)) {
				score++
			}
			if score > bestScore {
				best, bestScore = j, score
			}
		}
		if best >= 0 {
			out[i], used[best] = LineMatch{Item: best, By: "code"}, true
		}
	}
	// 3. ordinal
	for i := range svcs {
		if out[i].Item < 0 && i < len(items) && !used[i] {
			out[i], used[i] = LineMatch{Item: i, By: "ordinal"}, true
		}
	}
	return out
}

// itemControlNumber returns the REF*6R carried on a Claim item.
func itemControlNumber(it *claimpb.Claim_Item) string {
	for _, e := range it.GetExtension() {
		if e.GetUrl().GetValue() == ExtLineItemControlNumber {
			return strings.TrimSpace(e.GetValue().GetStringValue().GetValue())
		}
	}
	return ""
}

// sameProcedure compares an X12 procedure composite with a Claim item's
// code (any coding of productOrService, or revenue for NU) and modifiers
// (as sets, ignoring empty positions).
func sameProcedure(it *claimpb.Claim_Item, p x12.Procedure) bool {
	code := strings.ToUpper(strings.TrimSpace(p.Code))
	cc := it.GetProductOrService()
	if strings.EqualFold(strings.TrimSpace(p.Qualifier), "NU") {
		cc = it.GetRevenue()
		code = strings.TrimLeft(code, "0")
	}
	found := false
	for _, cd := range cc.GetCoding() {
		v := strings.ToUpper(cd.GetCode().GetValue())
		if strings.EqualFold(strings.TrimSpace(p.Qualifier), "NU") {
			v = strings.TrimLeft(v, "0")
		}
		if v == code {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	want := map[string]int{}
	for _, m := range p.Modifiers {
		if m = strings.ToUpper(strings.TrimSpace(m)); m != "" {
			want[m]++
		}
	}
	for _, m := range it.GetModifier() {
		for _, cd := range m.GetCoding() {
			v := strings.ToUpper(cd.GetCode().GetValue())
			if want[v] == 0 {
				return false
			}
			want[v]--
			break
		}
	}
	for _, n := range want {
		if n != 0 {
			return false
		}
	}
	return true
}

// svcDate returns a service payment's date: DTM*472, else DTM*150 (period
// start), as UTC midnight; zero when absent or malformed.
func svcDate(s *x12.ServicePayment835) time.Time {
	for _, q := range [...]string{"472", "150"} {
		if d, ok := s.Dates.Get(q); ok {
			if t, err := x12.ParseDate(d.Date); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// itemDate returns the date of a Claim item's serviced[x] (a period's
// start).
func itemDate(it *claimpb.Claim_Item) time.Time {
	switch s := it.GetServiced(); {
	case s.GetDate() != nil:
		return dateOnly(s.GetDate())
	case s.GetPeriod() != nil:
		return dtDate(s.GetPeriod().GetStart())
	}
	return time.Time{}
}

// sameDecimal compares two decimal texts by value; false when either is
// empty or malformed.
func sameDecimal(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	da, err1 := decimal.NewFromString(a)
	db, err2 := decimal.NewFromString(b)
	return err1 == nil && err2 == nil && da.Equal(db)
}
