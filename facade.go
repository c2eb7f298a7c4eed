package fhirsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
)

// ErrNotFound is returned by a [FetchFunc] when the system of record has no
// such resource. The facade answers 404 and remembers it for
// FacadeOptions.NotFoundTTL.
var ErrNotFound = errors.New("fhirsync: resource not found")

// FetchFunc reads one resource from a system of record on demand, already
// converted to FHIR (for example with a fhirmap mapper). It returns
// [ErrNotFound] (possibly wrapped) when there is none. Its errors are
// logged by type only, never by text, as they are the caller's own.
type FetchFunc func(ctx context.Context, resourceType, id string) (proto.Message, error)

// SearchFunc answers a search (GET [type]?params) from a system of record,
// for example by identifier. Searches are not cached. An error wrapping
// [ErrBadSearch] (a parameter it does not support, a malformed value) is
// answered 400; other errors 502, or 504 for a timeout.
type SearchFunc func(ctx context.Context, resourceType string, params url.Values) ([]proto.Message, error)

// ErrBadSearch is wrapped by a [SearchFunc]'s error when the search itself is
// wrong (an unsupported parameter, a malformed value): the facade answers 400
// with the error's text, which must be PHI-free, as the diagnostics.
var ErrBadSearch = errors.New("fhirsync: search not supported")

// FacadeOptions configures a [Facade]. A nil *FacadeOptions, and every zero
// field, means the default.
type FacadeOptions struct {
	// TTL is how long a fetched resource is served from the cache; 0 means
	// five minutes. Change events shorten it: see Facade.Sink.
	TTL time.Duration
	// NotFoundTTL is how long a not-found answer is remembered; 0 means 30
	// seconds, negative means never.
	NotFoundTTL time.Duration
	// MaxEntries bounds the cache (least recently used entries go first); 0
	// means 10,000.
	MaxEntries int
	// Types limits the resource types served; nil means every R4 type.
	Types []string
	// Search, when set, answers searches; otherwise they get 501.
	Search SearchFunc
	// CacheControl is the Cache-Control header of answers; "" means
	// "no-store": answers hold PHI, and no shared cache may keep them.
	CacheControl string
	// Logger receives the facade's logs (resource types and ids, error
	// types: never PHI); nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Authorize, when set, decides for every answer whether the request may
	// see a resource: it runs after the cache, so every cached answer is
	// checked anew (the cache is shared by all callers), with the request
	// (its credentials, as the service's middleware established them) and the
	// resource, which it must not modify. An error answers 403, or 404 when
	// it wraps ErrNotFound (not revealing that the resource exists); its text
	// is not sent. Search results the request may not see are left out of
	// the bundle. Nil lets every request see everything: put the facade
	// behind your own authentication and authorization then. Facade.Get is
	// for trusted callers in the process and is not checked.
	Authorize func(r *http.Request, res proto.Message) error
	// BaseURL is the facade's base URL as its clients see it (behind a proxy,
	// say), for the fullUrl of search results; "" means the request's own
	// scheme, host and the path before the resource type.
	BaseURL string
}

// Facade is an http.Handler that answers FHIR reads (GET [type]/[id], and
// GET [type]?params with FacadeOptions.Search) from a fetch function, through
// a bounded TTL cache: the on-demand pattern, where syncing everything is not
// worth it. Concurrent reads of one missing resource share one fetch; a read
// that starts after the resource was invalidated never shares a fetch begun
// before. The cached entries of resources that change can be dropped as
// change events arrive, by running [Run] into Facade.Sink.
//
// It also answers GET metadata with a CapabilityStatement. Writes get 405.
// Errors are OperationOutcomes whose text never holds PHI.
//
// A fetch function that reads the database a change stream describes must
// not read before the change is visible to it: Postgres logical decoding,
// for one, can deliver a committed change a moment before other sessions
// see it, and a read in that moment would cache the old row for a whole TTL.
// Wait until the change's transaction is visible (examples/facade does), or
// keep the TTL short.
type Facade struct {
	fetch FetchFunc
	o     FacadeOptions
	cache *lru.Cache[string, *facadeEntry]
	types map[string]bool

	fmu     sync.Mutex         // orders fetches' cache fills with invalidations
	flights map[string]*flight // fetches in flight that new reads may join, by key

	mu    sync.Mutex
	stats FacadeStats
}

// FacadeStats counts what the facade did.
type FacadeStats struct {
	Hits, Misses, Fetches, Invalidations int
}

// flight is one fetch, shared by the reads that join it.
type flight struct {
	done  chan struct{} // closed when e and err are set
	e     *facadeEntry
	err   error
	stale bool // invalidated while in flight (under fmu): it fills no cache
}

type facadeEntry struct {
	msg      proto.Message // nil: not found
	json     []byte
	etag     string
	modified time.Time // meta.lastUpdated, zero when none
	expires  time.Time
}

// NewFacade returns a Facade over fetch.
func NewFacade(fetch FetchFunc, opts *FacadeOptions) (*Facade, error) {
	if fetch == nil {
		return nil, errors.New("fhirsync: NewFacade needs a fetch function")
	}
	var o FacadeOptions
	if opts != nil {
		o = *opts
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Minute
	}
	if o.NotFoundTTL == 0 {
		o.NotFoundTTL = 30 * time.Second
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10_000
	}
	if o.CacheControl == "" {
		o.CacheControl = "no-store"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c, err := lru.New[string, *facadeEntry](o.MaxEntries)
	if err != nil {
		return nil, fmt.Errorf("fhirsync: facade cache: %w", err)
	}
	f := &Facade{fetch: fetch, o: o, cache: c, flights: make(map[string]*flight)}
	if o.Types != nil {
		f.types = map[string]bool{}
		for _, t := range o.Types {
			if _, err := resource.New(t); err != nil {
				return nil, fmt.Errorf("fhirsync: facade: %q is not an R4 resource type", t)
			}
			f.types[t] = true
		}
	}
	return f, nil
}

// Stats returns the facade's counters.
func (f *Facade) Stats() FacadeStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *Facade) count(fn func(s *FacadeStats)) {
	f.mu.Lock()
	fn(&f.stats)
	f.mu.Unlock()
}

// Get returns a resource through the cache (a copy the caller may modify),
// or an error wrapping ErrNotFound, or the fetch function's error. When ctx
// is done first, Get returns ctx's error at once; the fetch it started or
// joined goes on for the other readers (for up to a minute) and fills the
// cache.
func (f *Facade) Get(ctx context.Context, resourceType, id string) (proto.Message, error) {
	e, err := f.get(ctx, resourceType, id)
	if err != nil {
		return nil, err
	}
	if e.msg == nil {
		return nil, fmt.Errorf("%w: %s/%s", ErrNotFound, resourceType, id)
	}
	return proto.Clone(e.msg), nil
}

func (f *Facade) get(ctx context.Context, resourceType, id string) (*facadeEntry, error) {
	key := resourceType + "/" + id
	if e, ok := f.fresh(key); ok {
		f.count(func(s *FacadeStats) { s.Hits++ })
		return e, nil
	}
	f.fmu.Lock()
	if e, ok := f.fresh(key); ok { // filled meanwhile
		f.fmu.Unlock()
		f.count(func(s *FacadeStats) { s.Hits++ })
		return e, nil
	}
	f.count(func(s *FacadeStats) { s.Misses++ })
	fl, ok := f.flights[key]
	if !ok {
		fl = &flight{done: make(chan struct{})}
		f.flights[key] = fl
		// The fetch outlives this reader's cancellation: others may share it.
		go f.fly(context.WithoutCancel(ctx), fl, key, resourceType, id)
	}
	f.fmu.Unlock()
	select {
	case <-fl.done:
		return fl.e, fl.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fresh returns the unexpired cache entry of key.
func (f *Facade) fresh(key string) (*facadeEntry, bool) {
	e, ok := f.cache.Get(key)
	if !ok || !f.o.Now().Before(e.expires) {
		return nil, false
	}
	return e, true
}

// fly runs the fetch of fl and, unless key was invalidated meanwhile, caches
// what it found.
func (f *Facade) fly(ctx context.Context, fl *flight, key, resourceType, id string) {
	defer close(fl.done)
	f.count(func(s *FacadeStats) { s.Fetches++ })
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	msg, err := f.safeFetch(ctx, resourceType, id)
	now := f.o.Now()
	var e *facadeEntry
	switch {
	case errors.Is(err, ErrNotFound):
		e, err = &facadeEntry{expires: now.Add(f.o.NotFoundTTL)}, nil
	case err == nil:
		e, err = f.entry(msg, resourceType, id, now)
	}
	f.fmu.Lock()
	if f.flights[key] == fl {
		delete(f.flights, key)
	}
	if err == nil && !fl.stale && (e.msg != nil || f.o.NotFoundTTL > 0) {
		f.cache.Add(key, e)
	}
	f.fmu.Unlock()
	fl.e, fl.err = e, err
}

// errFetchPanicked replaces the value of a fetch function's panic, which
// could hold PHI.
var errFetchPanicked = errors.New("fhirsync: the fetch function panicked")

func (f *Facade) safeFetch(ctx context.Context, resourceType, id string) (msg proto.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, errFetchPanicked
		}
	}()
	return f.fetch(ctx, resourceType, id)
}

// errFetchedWrong reports a fetch that returned another resource than asked.
var errFetchedWrong = errors.New("fhirsync: fetch returned a resource of another type or id")

// entry prepares the cache entry of msg.
func (f *Facade) entry(msg proto.Message, resourceType, id string, now time.Time) (*facadeEntry, error) {
	if msg == nil || resource.Type(msg) != resourceType || resource.ID(msg) != id {
		return nil, errFetchedWrong
	}
	b, err := resource.Marshal(msg)
	if err != nil {
		return nil, err
	}
	e := &facadeEntry{msg: msg, json: b, expires: now.Add(f.o.TTL), modified: lastUpdated(msg)}
	if v := resource.VersionID(msg); v != "" {
		e.etag = `W/"` + v + `"`
	} else {
		h := sha256.Sum256(b)
		e.etag = `W/"` + hex.EncodeToString(h[:12]) + `"`
	}
	return e, nil
}

// lastUpdated returns the meta.lastUpdated of a resource, zero when none.
func lastUpdated(m proto.Message) time.Time {
	r, err := resource.Unwrap(m)
	if err != nil {
		return time.Time{}
	}
	pr := r.ProtoReflect()
	fd := pr.Descriptor().Fields().ByName("meta")
	if fd == nil || !pr.Has(fd) {
		return time.Time{}
	}
	meta, ok := pr.Get(fd).Message().Interface().(*dtpb.Meta)
	if !ok || meta.GetLastUpdated() == nil {
		return time.Time{}
	}
	return time.UnixMicro(meta.GetLastUpdated().GetValueUs())
}

// Invalidate drops the cached entry of a resource, so that the next read
// fetches it again: a fetch of it in flight neither fills the cache nor is
// shared with reads that start from now on.
func (f *Facade) Invalidate(resourceType, id string) {
	key := resourceType + "/" + id
	f.fmu.Lock()
	if fl, ok := f.flights[key]; ok {
		fl.stale = true
		delete(f.flights, key)
	}
	f.cache.Remove(key)
	f.fmu.Unlock()
	f.count(func(s *FacadeStats) { s.Invalidations++ })
}

// Sink returns a [sink.Sink] that invalidates the cached entries of the
// resources written to it: run change events through [Run] into it (alone,
// or alongside a real sink) so that the facade never serves a resource
// older than the last change seen. It never fails.
func (f *Facade) Sink() sink.Sink { return facadeSink{f} }

type facadeSink struct{ f *Facade }

func (s facadeSink) Write(_ context.Context, ops []sink.Op) error {
	for _, op := range ops {
		if t, id, err := op.Ref(); err == nil {
			s.f.Invalidate(t, id)
		}
	}
	return nil
}

func (facadeSink) Close(context.Context) error { return nil }

// ServeHTTP answers FHIR reads.
func (f *Facade) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		f.outcome(w, http.StatusMethodNotAllowed, "not-supported", "this server only reads")
		return
	}
	parts := strings.Split(path, "/")
	switch {
	case path == "metadata":
		f.capability(w, r)
	case len(parts) == 1 && path != "":
		f.search(w, r, parts[0])
	case len(parts) == 2:
		f.read(w, r, parts[0], parts[1])
	default:
		f.outcome(w, http.StatusNotFound, "not-found", "unknown path")
	}
}

// typeOK reports whether t is a resource type the facade serves.
func (f *Facade) typeOK(t string) bool {
	if f.types != nil {
		return f.types[t]
	}
	_, err := resource.New(t)
	return err == nil
}

func (f *Facade) read(w http.ResponseWriter, r *http.Request, resourceType, id string) {
	if !f.typeOK(resourceType) {
		f.outcome(w, http.StatusNotFound, "not-supported", "resource type not served")
		return
	}
	if !validFHIRID(id) {
		f.outcome(w, http.StatusBadRequest, "value", "not a FHIR id")
		return
	}
	e, err := f.get(r.Context(), resourceType, id)
	if err != nil {
		f.failed(w, r, err, "fhirsync: facade fetch failed", slog.String("resource", resourceType+"/"+id))
		return
	}
	if e.msg == nil {
		f.outcome(w, http.StatusNotFound, "not-found", "no such resource")
		return
	}
	if err := f.authorize(r, e.msg); err != nil {
		if errors.Is(err, ErrNotFound) {
			f.outcome(w, http.StatusNotFound, "not-found", "no such resource")
		} else {
			f.outcome(w, http.StatusForbidden, "forbidden", "not allowed")
		}
		return
	}
	h := w.Header()
	h.Set("ETag", e.etag)
	if !e.modified.IsZero() {
		h.Set("Last-Modified", e.modified.UTC().Format(http.TimeFormat))
	}
	h.Set("Cache-Control", f.o.CacheControl)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, e.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/fhir+json")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(e.json)
	}
}

// authorize applies FacadeOptions.Authorize, when set.
func (f *Facade) authorize(r *http.Request, m proto.Message) error {
	if f.o.Authorize == nil {
		return nil
	}
	return f.o.Authorize(r, m)
}

// failed answers a fetch or search that failed with err (the caller's own
// error, logged by type only): 504 for a timeout, else 502; nothing when the
// reader went away.
func (f *Facade) failed(w http.ResponseWriter, r *http.Request, err error, msg string, attr slog.Attr) {
	if r.Context().Err() != nil {
		return
	}
	f.o.Logger.LogAttrs(r.Context(), slog.LevelWarn, msg, attr, slog.String("error_type", fmt.Sprintf("%T", err)))
	if errors.Is(err, context.DeadlineExceeded) {
		f.outcome(w, http.StatusGatewayTimeout, "timeout", "the system of record did not answer in time")
		return
	}
	f.outcome(w, http.StatusBadGateway, "transient", "the system of record could not answer")
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

func (f *Facade) search(w http.ResponseWriter, r *http.Request, resourceType string) {
	if !f.typeOK(resourceType) {
		f.outcome(w, http.StatusNotFound, "not-supported", "resource type not served")
		return
	}
	if f.o.Search == nil {
		f.outcome(w, http.StatusNotImplemented, "not-supported", "search is not supported")
		return
	}
	res, err := f.o.Search(r.Context(), resourceType, r.URL.Query())
	if errors.Is(err, ErrBadSearch) {
		f.outcome(w, http.StatusBadRequest, "not-supported", err.Error())
		return
	}
	if err != nil {
		f.failed(w, r, err, "fhirsync: facade search failed", slog.String("type", resourceType))
		return
	}
	base := f.baseURL(r, resourceType)
	allowed := res[:0:0]
	for _, m := range res {
		if f.authorize(r, m) == nil {
			allowed = append(allowed, m)
		}
	}
	res = allowed
	entries := make([]json.RawMessage, 0, len(res))
	for _, m := range res {
		b, err := resource.Marshal(m)
		if err != nil {
			f.outcome(w, http.StatusInternalServerError, "exception", "a resource could not be serialized")
			return
		}
		entries = append(entries, b)
	}
	type entry struct {
		FullURL  string          `json:"fullUrl,omitempty"`
		Resource json.RawMessage `json:"resource"`
		Search   map[string]any  `json:"search"`
	}
	bundle := struct {
		ResourceType string  `json:"resourceType"`
		Type         string  `json:"type"`
		Total        int     `json:"total"`
		Entry        []entry `json:"entry,omitempty"`
	}{ResourceType: "Bundle", Type: "searchset", Total: len(entries)}
	for i, b := range entries {
		bundle.Entry = append(bundle.Entry, entry{
			FullURL:  base + resource.Type(res[i]) + "/" + resource.ID(res[i]),
			Resource: b,
			Search:   map[string]any{"mode": "match"},
		})
	}
	f.writeJSON(w, http.StatusOK, bundle)
}

// baseURL returns the absolute base of the facade's URLs, ending in "/":
// FacadeOptions.BaseURL, or the request's scheme, host and the path before
// the resource type (the facade may be mounted under a prefix).
func (f *Facade) baseURL(r *http.Request, resourceType string) string {
	if f.o.BaseURL != "" {
		return strings.TrimSuffix(f.o.BaseURL, "/") + "/"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	p := r.URL.Path
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		p = u.Path // as the client sent it, before any http.StripPrefix
	}
	prefix := strings.TrimSuffix(strings.TrimSuffix(p, "/"), resourceType)
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return scheme + "://" + r.Host + prefix
}

func (f *Facade) capability(w http.ResponseWriter, _ *http.Request) {
	types := slices.Sorted(maps.Keys(f.types))
	if f.types == nil {
		types = r4Types()
	}
	type interaction struct {
		Code string `json:"code"`
	}
	type res struct {
		Type        string        `json:"type"`
		Interaction []interaction `json:"interaction"`
	}
	inter := []interaction{{Code: "read"}}
	if f.o.Search != nil {
		inter = append(inter, interaction{Code: "search-type"})
	}
	rs := make([]res, 0, len(types))
	for _, t := range types {
		rs = append(rs, res{Type: t, Interaction: inter})
	}
	rest := map[string]any{"mode": "server", "resource": rs}
	f.writeJSON(w, http.StatusOK, map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         f.o.Now().UTC().Format("2006-01-02"),
		"kind":         "instance",
		"software":     map[string]any{"name": "fhirsync facade"},
		"implementation": map[string]any{
			"description": "fhirsync read-through facade",
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"json"},
		"rest":        []any{rest},
	})
}

// r4Types returns the name of every R4 resource type, sorted.
var r4Types = sync.OnceValue(func() []string {
	var out []string
	od := (&bcrpb.ContainedResource{}).ProtoReflect().Descriptor().Oneofs().ByName("oneof_resource")
	for i := 0; i < od.Fields().Len(); i++ {
		if m := od.Fields().Get(i).Message(); m != nil {
			out = append(out, string(m.Name()))
		}
	}
	slices.Sort(out)
	return out
})

// outcome answers an OperationOutcome with a fixed, PHI-free text.
func (f *Facade) outcome(w http.ResponseWriter, status int, code, text string) {
	f.writeJSON(w, status, map[string]any{
		"resourceType": "OperationOutcome",
		"issue": []any{map[string]any{
			"severity":    "error",
			"code":        code,
			"diagnostics": text,
		}},
	})
}

func (f *Facade) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Header().Set("Cache-Control", f.o.CacheControl)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// validFHIRID reports whether id has FHIR id syntax: 1 to 64 of A-Z a-z 0-9
// - and . characters.
func validFHIRID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
