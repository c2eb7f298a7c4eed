package restsink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
)

// Mode is how ops travel to the server.
type Mode int

const (
	// Single sends one request per op (PUT or DELETE).
	Single Mode = iota
	// Transaction sends transaction Bundles: all entries of a bundle are
	// applied, or none.
	Transaction
	// Batch sends batch Bundles: each entry is applied on its own.
	Batch
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case Single:
		return "single"
	case Transaction:
		return "transaction"
	case Batch:
		return "batch"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Match is how a request addresses the resource it writes.
type Match int

const (
	// MatchID writes [type]/[id]: an update, or an update-as-create with the
	// resource's deterministic id.
	MatchID Match = iota
	// MatchIdentifier writes [type]?identifier=[system]|[value]: a
	// conditional update on the business identifier chosen by
	// Options.Identifier. The server updates the one resource with that
	// identifier, or creates one (assigning the id itself unless
	// Options.KeepID is set).
	MatchIdentifier
	// MatchAuto is MatchID, except for resource types whose
	// CapabilityStatement (read by [Sink.Probe]) says updateCreate is false:
	// those use MatchIdentifier. Before Probe it is MatchID.
	MatchAuto
)

// Defaults of [Options].
const (
	// DefaultWorkers is the number of concurrent requests.
	DefaultWorkers = 4
	// DefaultTransactionSize is the entries per transaction Bundle (Medplum's
	// limit on update entries).
	DefaultTransactionSize = 50
	// DefaultConditionalTransactionSize is the entries per transaction
	// Bundle when entries are conditional (Medplum's limit for transactions
	// that need serializable isolation).
	DefaultConditionalTransactionSize = 8
	// DefaultBatchSize is the entries per batch Bundle.
	DefaultBatchSize = 100
	// DefaultMaxResponseBytes bounds a response body that restsink reads.
	DefaultMaxResponseBytes = 16 << 20
	// DefaultTimeout is the request timeout of the client New creates when
	// given none.
	DefaultTimeout = 2 * time.Minute
)

// Options are the optional settings of a [Sink]. The zero value and nil mean
// the defaults.
type Options struct {
	// Mode is how ops travel; the default is Single.
	Mode Mode
	// Match is how resources are addressed; the default is MatchID.
	Match Match
	// BundleSize is the most entries per bundle in Transaction and Batch
	// modes. Zero means DefaultBatchSize in Batch mode and, in Transaction
	// mode, DefaultConditionalTransactionSize for a transaction holding a
	// conditional entry (MatchIdentifier, or a type MatchAuto switched to
	// conditional update after Probe) and DefaultTransactionSize otherwise.
	BundleSize int
	// Workers is the most requests in flight at once, across all Write
	// calls. Zero means DefaultWorkers.
	Workers int
	// Identifier picks the identifier a conditional update matches on. Nil
	// means: the first identifier whose system is IdentifierSystems[type]
	// when that is set, else the first identifier with a system and a value.
	Identifier func(res proto.Message) (resource.Identifier, bool)
	// IdentifierSystems maps a resource type to the identifier system its
	// conditional updates match on (used when Identifier is nil).
	IdentifierSystems map[string]string
	// KeepID sends the resource's id in the body of a conditional update.
	// By default it is removed, so that the server assigns one on create:
	// Medplum refuses a conditional create with a client id; HAPI accepts it.
	KeepID bool
	// IfMatchVersion sends the resource's meta.versionId as If-Match when
	// Op.IfMatch is empty and the resource has one.
	IfMatchVersion bool
	// RejectNumericIDs refuses purely numeric ids before sending (HAPI
	// refuses them for client-assigned ids); such ops fail with
	// sink.ErrInvalid.
	RejectNumericIDs bool
	// Gzip compresses request bodies (Content-Encoding: gzip).
	Gzip bool
	// MaxResponseBytes bounds the response bodies restsink reads. Zero
	// means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Header holds extra headers for every request (a tenant header, say).
	Header http.Header
}

// Sink writes to a FHIR server's REST API. It is safe for concurrent use.
type Sink struct {
	base   string // base URL without a trailing slash
	client *http.Client
	opts   Options
	sem    chan struct{}
	locks  keyLocks
	caps   atomic.Pointer[Capabilities]
	now    func() time.Time
	// autoSize: BundleSize was left to its default, so a transaction with
	// a conditional entry is cut at DefaultConditionalTransactionSize.
	autoSize bool

	mu     sync.Mutex
	closed bool
	active sync.WaitGroup
}

var _ sink.Sink = (*Sink)(nil)

// New returns a Sink writing to the FHIR server at baseURL (for example
// "https://fhir.example.com/r4"). client carries the requests (its Transport
// may authenticate, see package auth; set its Transport's
// MaxIdleConnsPerHost to at least Workers); nil means a client with
// DefaultTimeout. New makes no request: call [Sink.Probe] to check the server.
func New(baseURL string, client *http.Client, opts *Options) (*Sink, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("restsink: base URL must be an absolute http(s) URL without query")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Mode < Single || o.Mode > Batch {
		return nil, fmt.Errorf("restsink: unknown mode %d", int(o.Mode))
	}
	if o.Match < MatchID || o.Match > MatchAuto {
		return nil, fmt.Errorf("restsink: unknown match %d", int(o.Match))
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	autoSize := o.BundleSize <= 0
	if o.BundleSize <= 0 {
		switch {
		case o.Mode == Batch:
			o.BundleSize = DefaultBatchSize
		case o.Match == MatchIdentifier:
			o.BundleSize = DefaultConditionalTransactionSize
		default:
			o.BundleSize = DefaultTransactionSize
		}
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.Workers
		client = &http.Client{Transport: tr, Timeout: DefaultTimeout}
	}
	return &Sink{
		base:   strings.TrimRight(u.String(), "/"),
		client: client,
		opts:   o,
		sem:    make(chan struct{}, o.Workers),
		locks:  keyLocks{busy: map[string]chan struct{}{}},
		now:    time.Now,

		autoSize: autoSize,
	}, nil
}

// Close makes later Writes fail with sink.ErrClosed and waits for the Writes
// in progress, or for ctx. It does not close the http.Client. It is
// idempotent.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// item is one op prepared for sending.
type item struct {
	index   int
	op      sink.Op
	typ, id string
	keys    []string // identities the op is serialized on: Type/id, and the condition when addressed by identifier
	method  string
	url     string // relative to the base URL
	cond    bool   // addressed by identifier
	ifMatch string // formatted If-Match, or ""
}

// Write writes ops; see the package documentation for its guarantees.
func (s *Sink) Write(ctx context.Context, ops []sink.Op) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return sink.ErrClosed
	}
	s.active.Add(1)
	s.mu.Unlock()
	defer s.active.Done()
	if err := ctx.Err(); err != nil {
		return err
	}

	w := &write{s: s, errs: make([]error, len(ops))}
	var rounds [][]*item
	occurrence := map[string]int{}
	for i, op := range ops {
		it, err := s.prepare(i, op)
		if err != nil {
			w.errs[i] = err
			continue
		}
		// The op goes in the first round after every earlier op sharing one
		// of its keys, so ops on one resource (by id or by condition) keep
		// their order and never share a bundle.
		r := 0
		for _, k := range it.keys {
			r = max(r, occurrence[k])
		}
		for _, k := range it.keys {
			occurrence[k] = r + 1
		}
		for r >= len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[r] = append(rounds[r], it)
	}

	// failedKeys records keys whose op failed retryably: their later ops
	// are not sent.
	failedKeys := map[string]error{}
	for r, round := range rounds {
		if r > 0 {
			for _, it := range rounds[r-1] {
				if sink.IsRetryable(w.errs[it.index]) {
					for _, k := range it.keys {
						failedKeys[k] = w.errs[it.index]
					}
				}
			}
		}
		var send []*item
	items:
		for _, it := range round {
			for _, k := range it.keys {
				if prev, ok := failedKeys[k]; ok {
					w.errs[it.index] = notAttempted(it, prev, "an earlier op for the same resource failed")
					continue items
				}
			}
			send = append(send, it)
		}
		w.run(ctx, s.units(send))
		if ctx.Err() != nil || w.fatal.Load() != nil {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("restsink: write interrupted: %w", err)
	}
	if f := w.fatal.Load(); f != nil {
		return *f
	}
	var be sink.BatchError
	for i, err := range w.errs {
		if err != nil {
			be.Failed = append(be.Failed, sink.IndexError{Index: i, Err: err})
		}
	}
	if len(be.Failed) > 0 {
		return &be
	}
	return nil
}

// notAttempted fails it with prev's classification without sending it.
func notAttempted(it *item, prev error, why string) error {
	e := &Error{Method: it.method, Type: it.typ, ID: it.id, Conditional: it.cond,
		Err: fmt.Errorf("%w: %s", errNotAttempted, why)}
	if sink.IsRetryable(prev) {
		return sink.Retryable(e, sink.RetryAfter(prev))
	}
	return e
}

// prepare validates op and works out its request line.
func (s *Sink) prepare(i int, op sink.Op) (*item, error) {
	typ, id, err := op.Ref()
	if err != nil {
		return nil, err
	}
	it := &item{index: i, op: op, typ: typ, id: id, method: http.MethodPut}
	if op.Delete {
		it.method = http.MethodDelete
	}
	if s.opts.RejectNumericIDs && strings.Trim(id, "0123456789") == "" {
		return nil, &Error{Method: it.method, Type: typ, ID: id,
			Err: fmt.Errorf("%w: purely numeric id refused (RejectNumericIDs)", sink.ErrInvalid)}
	}
	it.url = typ + "/" + id
	it.keys = []string{it.url}
	if s.conditional(typ) {
		ident, ok := s.identifier(op.Resource, typ)
		switch {
		case ok:
			it.cond = true
			it.url = typ + "?identifier=" + url.QueryEscape(escapeToken(ident.System)+"|"+escapeToken(ident.Value))
			it.keys = append(it.keys, it.url)
		case !op.Delete:
			return nil, &Error{Method: it.method, Type: typ, ID: id, Conditional: true,
				Err: fmt.Errorf("%w: no identifier to match on", sink.ErrInvalid)}
		}
	}
	v := op.IfMatch
	if v == "" && s.opts.IfMatchVersion && !op.Delete {
		v = resource.VersionID(op.Resource)
	}
	if v != "" {
		if strings.HasPrefix(v, `W/"`) || strings.HasPrefix(v, `"`) {
			it.ifMatch = v
		} else {
			it.ifMatch = `W/"` + v + `"`
		}
	}
	return it, nil
}

// conditional reports whether resources of typ are addressed by identifier.
func (s *Sink) conditional(typ string) bool {
	switch s.opts.Match {
	case MatchIdentifier:
		return true
	case MatchAuto:
		if c := s.caps.Load(); c != nil {
			if tc, ok := c.Types[typ]; ok {
				return !tc.UpdateCreate && tc.ConditionalUpdate
			}
		}
	}
	return false
}

// identifier picks the identifier a conditional op matches on.
func (s *Sink) identifier(res proto.Message, typ string) (resource.Identifier, bool) {
	if s.opts.Identifier != nil {
		id, ok := s.opts.Identifier(res)
		return id, ok && id.Value != ""
	}
	sys, want := s.opts.IdentifierSystems[typ]
	for _, id := range resource.Identifiers(res) {
		if id.Value == "" || id.System == "" {
			continue
		}
		if !want || id.System == sys {
			return id, true
		}
	}
	return resource.Identifier{}, false
}

// escapeToken escapes the characters FHIR search gives a meaning in a token
// parameter (\ | , $).
func escapeToken(s string) string {
	if !strings.ContainsAny(s, `\|,$`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == '\\' || r == '|' || r == ',' || r == '$' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unit is what one request carries: one op (bundle == "") or a bundle.
type unit struct {
	bundle string // "", "transaction" or "batch"
	items  []*item
}

// units groups the ops of one round (distinct keys) into requests.
func (s *Sink) units(items []*item) []unit {
	var out []unit
	var entries []*item
	for _, it := range items {
		switch {
		case s.opts.Mode == Single, s.opts.Mode == Transaction && it.op.Delete:
			out = append(out, unit{items: []*item{it}})
		default:
			entries = append(entries, it)
		}
	}
	kind := "batch"
	if s.opts.Mode == Transaction {
		kind = "transaction"
	}
	for len(entries) > 0 {
		n := min(len(entries), s.opts.BundleSize)
		if s.autoSize && s.opts.Mode == Transaction && n > DefaultConditionalTransactionSize {
			for _, it := range entries[:n] {
				if it.cond {
					n = DefaultConditionalTransactionSize
					break
				}
			}
		}
		out = append(out, unit{bundle: kind, items: entries[:n:n]})
		entries = entries[n:]
	}
	return out
}

// write is the state of one Write call.
type write struct {
	s     *Sink
	errs  []error               // per op index; each written by one goroutine
	abort atomic.Pointer[error] // a server-wide failure: send no more
	fatal atomic.Pointer[error] // a configuration failure: Write returns it
}

// run sends the units of one round with up to Workers goroutines and waits.
func (w *write) run(ctx context.Context, units []unit) {
	if len(units) == 0 {
		return
	}
	next := make(chan unit)
	var wg sync.WaitGroup
	for range min(w.s.opts.Workers, len(units)) {
		wg.Go(func() {
			for u := range next {
				w.do(ctx, u)
			}
		})
	}
	for _, u := range units {
		next <- u
	}
	close(next)
	wg.Wait()
}

// do sends one unit, or fails it without sending when the write is aborted.
func (w *write) do(ctx context.Context, u unit) {
	fail := func(err error, why string) {
		for _, it := range u.items {
			w.errs[it.index] = notAttempted(it, err, why)
		}
	}
	if a := w.abort.Load(); a != nil {
		fail(*a, "the server failed an earlier request of this batch")
		return
	}
	if ctx.Err() != nil || w.fatal.Load() != nil {
		return
	}
	var keys []string
	for _, it := range u.items {
		keys = append(keys, it.keys...)
	}
	if err := w.s.locks.lock(ctx, keys); err != nil {
		return
	}
	defer w.s.locks.unlock(keys)
	select {
	case w.s.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-w.s.sem }()
	if a := w.abort.Load(); a != nil {
		fail(*a, "the server failed an earlier request of this batch")
		return
	}
	var results []result
	if u.bundle == "" {
		results = []result{w.s.sendOne(ctx, u.items[0])}
	} else {
		results = w.s.sendBundle(ctx, u, func() error {
			if a := w.abort.Load(); a != nil {
				return *a
			}
			return nil
		})
	}
	for i, r := range results {
		it := u.items[i]
		w.errs[it.index] = r.err
		switch r.scope {
		case scopeServer:
			w.abort.CompareAndSwap(nil, &r.err)
		case scopeFatal:
			if ctx.Err() == nil {
				w.fatal.CompareAndSwap(nil, &r.err)
			}
		}
	}
}

// result is the outcome of one op of a request.
type result struct {
	err   error
	scope scope
}

// keyLocks serializes requests on resource identities: a request takes all
// its keys at once, or waits, so two requests for one key are never in
// flight together and no lock order can deadlock.
type keyLocks struct {
	mu   sync.Mutex
	busy map[string]chan struct{}
}

func (l *keyLocks) lock(ctx context.Context, keys []string) error {
	for {
		l.mu.Lock()
		var wait chan struct{}
		for _, k := range keys {
			if ch, ok := l.busy[k]; ok {
				wait = ch
				break
			}
		}
		if wait == nil {
			ch := make(chan struct{})
			for _, k := range keys {
				l.busy[k] = ch
			}
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *keyLocks) unlock(keys []string) {
	l.mu.Lock()
	ch := l.busy[keys[0]]
	for _, k := range keys {
		delete(l.busy, k)
	}
	l.mu.Unlock()
	close(ch)
}
