package memsink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
)

// Options configures a Sink. The zero value (or nil) is a plain store.
type Options struct {
	// Now is the clock for meta.lastUpdated; nil means time.Now.
	Now func() time.Time
	// VersionEveryWrite makes every upsert a new version, even one that
	// does not change the content.
	VersionEveryWrite bool
	// Fault, when set, is called for each op of a Write before the op is
	// applied, with the op's ordinal n (1 for the first op the sink was ever
	// given, counting every op of every Write that reached the store,
	// including failed ones). A non-nil result fails that op with that error
	// (reported in a *sink.BatchError) and the op is not applied. It runs
	// under the sink's lock: it must not call the Sink.
	Fault func(n int, op sink.Op) error
}

// Sink is an in-memory, versioned store of resources. It is safe for
// concurrent use. The zero value is not usable; call New.
type Sink struct {
	opts Options
	now  func() time.Time

	mu       sync.Mutex
	closed   bool
	store    map[string]*record // "Type/id" -> versions
	ops      int                // ops that reached the store (Fault's ordinal)
	writes   int                // Write calls that reached the store
	failNext []error            // queued whole-Write failures
	stall    int                // Write calls still to stall
}

type record struct {
	typ, id  string
	versions []version // oldest first
}

type version struct {
	n       int
	at      time.Time
	content proto.Message // without versionId and lastUpdated; nil for a tombstone
}

// Version is one stored version of a resource.
type Version struct {
	// VersionID is meta.versionId: "1", "2", ...
	VersionID string
	// LastUpdated is meta.lastUpdated.
	LastUpdated time.Time
	// Deleted marks a tombstone; Resource is then nil.
	Deleted bool
	// Resource is a copy of the stored resource, meta included.
	Resource proto.Message
}

// Stats counts what reached the sink.
type Stats struct {
	// Writes is the number of Write calls that reached the store (not
	// refused as a whole by a closed sink, a done context or FailNext).
	Writes int
	// Ops is the number of ops those calls carried.
	Ops int
	// Resources is the number of live (not deleted) resources.
	Resources int
	// Versions is the number of stored versions, tombstones included.
	Versions int
}

// ErrInjected is the cause of the errors Throttled and Unavailable return.
var ErrInjected = errors.New("memsink: injected fault")

// Throttled returns the error a rate-limited server causes: a retryable
// HTTP 429 Too Many Requests with Retry-After after (zero for none).
func Throttled(after time.Duration) error {
	return sink.Retryable(fmt.Errorf("%w: HTTP 429 Too Many Requests", ErrInjected), after)
}

// Unavailable returns the error an overloaded server causes: a retryable
// HTTP 503 Service Unavailable.
func Unavailable() error {
	return sink.Retryable(fmt.Errorf("%w: HTTP 503 Service Unavailable", ErrInjected), 0)
}

// FailOps returns an [Options].Fault that fails the ops with the given
// ordinals (1-based, over the sink's life) with err.
func FailOps(err error, ordinals ...int) func(n int, op sink.Op) error {
	set := map[int]bool{}
	for _, n := range ordinals {
		set[n] = true
	}
	return func(n int, _ sink.Op) error {
		if set[n] {
			return err
		}
		return nil
	}
}

// New returns an empty Sink.
func New(opts *Options) *Sink {
	s := &Sink{store: map[string]*record{}, now: time.Now}
	if opts != nil {
		s.opts = *opts
		if opts.Now != nil {
			s.now = opts.Now
		}
	}
	return s
}

// FailNext makes the next n Write calls fail as a whole with err, applying
// nothing (what a REST sink returns when its one request was refused).
func (s *Sink) FailNext(n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, err)
	}
}

// StallNext makes the next n Write calls block until their context is done
// and return its error, applying nothing.
func (s *Sink) StallNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stall += n
}

// Write applies ops in order. See the package documentation for what it
// returns.
func (s *Sink) Write(ctx context.Context, ops []sink.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return sink.ErrClosed
	}
	if s.stall > 0 {
		s.stall--
		s.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	if len(s.failNext) > 0 {
		err := s.failNext[0]
		s.failNext = s.failNext[1:]
		s.mu.Unlock()
		return err
	}
	defer s.mu.Unlock()
	s.writes++
	var failed []sink.IndexError
	for i, op := range ops {
		s.ops++
		if err := s.apply(s.ops, op); err != nil {
			failed = append(failed, sink.IndexError{Index: i, Err: err})
		}
	}
	if failed != nil {
		return &sink.BatchError{Failed: failed}
	}
	return nil
}

// apply applies one op; s.mu is held.
func (s *Sink) apply(n int, op sink.Op) error {
	typ, id, err := op.Ref()
	if err != nil {
		return err
	}
	if s.opts.Fault != nil {
		if err := s.opts.Fault(n, op); err != nil {
			return err
		}
	}
	key := typ + "/" + id
	rec := s.store[key]
	var cur *version
	if rec != nil {
		cur = &rec.versions[len(rec.versions)-1]
	}
	live := cur != nil && cur.content != nil
	if op.IfMatch != "" {
		want := strings.Trim(strings.TrimPrefix(op.IfMatch, "W/"), `"`)
		switch {
		case !live:
			return fmt.Errorf("%w: %s does not exist", sink.ErrConflict, key)
		case strconv.Itoa(cur.n) != want:
			return fmt.Errorf("%w: %s is at version %d", sink.ErrConflict, key, cur.n)
		}
	}
	if op.Delete {
		if live {
			rec.versions = append(rec.versions, version{n: cur.n + 1, at: s.now()})
		}
		return nil
	}
	r, _ := resource.Unwrap(op.Resource) // Ref checked it
	content := stripServerMeta(r)
	if live && !s.opts.VersionEveryWrite && proto.Equal(cur.content, content) {
		return nil
	}
	if rec == nil {
		rec = &record{typ: typ, id: id}
		s.store[key] = rec
	}
	next := 1
	if cur != nil {
		next = cur.n + 1
	}
	rec.versions = append(rec.versions, version{n: next, at: s.now(), content: content})
	return nil
}

// stripServerMeta returns a canonical copy of r without meta.versionId and
// meta.lastUpdated (the server's to set), and without meta if nothing else
// is left in it.
func stripServerMeta(r proto.Message) proto.Message {
	c := proto.Clone(r)
	rm := c.ProtoReflect()
	canonical(rm)
	f := rm.Descriptor().Fields().ByName("meta")
	if f == nil || !rm.Has(f) {
		return c
	}
	meta, ok := rm.Get(f).Message().Interface().(*dtpb.Meta)
	if !ok {
		return c
	}
	meta.VersionId, meta.LastUpdated = nil, nil
	if proto.Size(meta) == 0 {
		rm.Clear(f)
	}
	return c
}

// canonical puts the references of m in the one shape google/fhir's
// unmarshaller gives them (a relative "Type/id" as a typed id), in place.
// The same JSON can be held in more than one proto shape, and google/fhir's
// marshaller turns typed ids into uris in the message it marshals; with
// every stored and incoming resource canonical, proto.Equal compares
// content.
func canonical(m protoreflect.Message) {
	m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if f.Kind() != protoreflect.MessageKind || f.Message().FullName() == anyName {
			return true
		}
		visit := func(x protoreflect.Message) {
			if r, ok := x.Interface().(*dtpb.Reference); ok {
				_ = jsonformat.NormalizeReference(r) // only errs on other types
			}
			canonical(x)
		}
		switch {
		case f.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(l.Get(i).Message())
			}
		case f.IsMap():
		default:
			visit(v.Message())
		}
		return true
	})
}

const anyName = "google.protobuf.Any"

// served returns what a read returns for v: a copy of the content with
// meta.versionId and meta.lastUpdated set.
func served(v *version) proto.Message {
	c := proto.Clone(v.content)
	rm := c.ProtoReflect()
	f := rm.Descriptor().Fields().ByName("meta")
	if f == nil {
		return c
	}
	mm := rm.Mutable(f).Message()
	if meta, ok := mm.Interface().(*dtpb.Meta); ok {
		meta.VersionId = &dtpb.Id{Value: strconv.Itoa(v.n)}
		meta.LastUpdated = &dtpb.Instant{
			ValueUs:   v.at.UnixMicro(),
			Timezone:  "Z",
			Precision: dtpb.Instant_MICROSECOND,
		}
	}
	return c
}

// Close stops the sink accepting writes. It is idempotent and always returns
// nil; what was written stays readable.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Read returns a copy of the current version of resourceType/id, with its
// meta.versionId and meta.lastUpdated, or false when it is absent or deleted.
func (s *Sink) Read(resourceType, id string) (proto.Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.store[resourceType+"/"+id]
	if rec == nil {
		return nil, false
	}
	cur := &rec.versions[len(rec.versions)-1]
	if cur.content == nil {
		return nil, false
	}
	return served(cur), true
}

// History returns every version of resourceType/id, oldest first,
// tombstones included; nil when it was never written.
func (s *Sink) History(resourceType, id string) []Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.store[resourceType+"/"+id]
	if rec == nil {
		return nil
	}
	out := make([]Version, len(rec.versions))
	for i := range rec.versions {
		v := &rec.versions[i]
		out[i] = Version{VersionID: strconv.Itoa(v.n), LastUpdated: v.at, Deleted: v.content == nil}
		if v.content != nil {
			out[i].Resource = served(v)
		}
	}
	return out
}

// Search returns the live resources of resourceType (all types when empty)
// with an identifier matching token, in FHIR token syntax: "system|value",
// "value" (any system), "|value" (no system) or "system|" (any value). The
// result is sorted by type and id.
func (s *Sink) Search(resourceType, token string) []proto.Message {
	system, value, hasBar := strings.Cut(token, "|")
	if !hasBar {
		system, value = "", token
	}
	match := func(idf resource.Identifier) bool {
		switch {
		case !hasBar:
			return idf.Value == value
		case system == "":
			return idf.System == "" && idf.Value == value
		case value == "":
			return idf.System == system
		default:
			return idf.System == system && idf.Value == value
		}
	}
	return s.collect(func(r *record, v *version) bool {
		if resourceType != "" && r.typ != resourceType {
			return false
		}
		return slices.ContainsFunc(resource.Identifiers(v.content), match)
	})
}

// All returns a copy of every live resource, sorted by type and id.
func (s *Sink) All() []proto.Message {
	return s.collect(func(*record, *version) bool { return true })
}

func (s *Sink) collect(keep func(*record, *version) bool) []proto.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := make([]*record, 0, len(s.store))
	for _, r := range s.store {
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b *record) int {
		return cmp.Or(cmp.Compare(a.typ, b.typ), cmp.Compare(a.id, b.id))
	})
	var out []proto.Message
	for _, r := range recs {
		cur := &r.versions[len(r.versions)-1]
		if cur.content != nil && keep(r, cur) {
			out = append(out, served(cur))
		}
	}
	return out
}

// Len returns the number of live (not deleted) resources.
func (s *Sink) Len() int {
	return s.Stats().Resources
}

// Stats returns counts of what reached the sink.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Writes: s.writes, Ops: s.ops}
	for _, r := range s.store {
		st.Versions += len(r.versions)
		if r.versions[len(r.versions)-1].content != nil {
			st.Resources++
		}
	}
	return st
}
