package fhirmap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/x12"
)

// Converter turns one source message into FHIR resources: the unit of work
// of fhirsync's engine (DESIGN.md §3–4). The resources come in dependency
// order (referenced resources first).
//
// A Converter reports records it cannot convert as errors; see
// [X12Converter.Convert] for how partial results are returned.
type Converter interface {
	Convert(ctx context.Context, m *source.Message) ([]proto.Message, error)
}

// StreamConverter is a [Converter] that can hand over the resources of a
// message as it goes, record by record, instead of all at once: the memory
// of a conversion then stays bounded by a record whatever the size of the
// message (a 50,000-claim 837 file), as the x12 Decoder's does. fhirsync.Run
// streams through it when a Converter implements it.
type StreamConverter interface {
	Converter
	// ConvertStream converts m as Convert does, but calls emit with the
	// resources of each record (or of a few records) in order, referenced
	// resources first, instead of returning them. It returns what Convert
	// would return as its error: a [*ConvertError] listing the records that
	// failed (the others were emitted), or a failure of the whole message,
	// which may come after some resources were emitted (a retry emits them
	// again: writes are idempotent). When emit returns an error,
	// ConvertStream stops and returns it. emit may keep the slices it gets.
	ConvertStream(ctx context.Context, m *source.Message, emit func([]proto.Message) error) error
}

// collect runs a StreamConverter's ConvertStream and returns every resource
// emitted, for Convert.
func collect(ctx context.Context, c StreamConverter, m *source.Message) ([]proto.Message, error) {
	var out []proto.Message
	err := c.ConvertStream(ctx, m, func(rs []proto.Message) error {
		out = append(out, rs...)
		return nil
	})
	var ce *ConvertError
	if err != nil && !errors.As(err, &ce) {
		return nil, err
	}
	return out, err
}

// recentResources remembers the resources a converter emitted lately, so
// that one a later record of the same message repeats unchanged (a billing
// provider, a payer) is emitted once. It is bounded: memory stays flat
// whatever the size of the message, and a resource repeated after many others
// is emitted again, which costs a write, never correctness.
type recentResources struct {
	byKey map[string]proto.Message
	order []string // keys in insertion order, a ring
	next  int
}

const recentLimit = 4096

func newRecentResources() *recentResources {
	return &recentResources{byKey: make(map[string]proto.Message)}
}

// repeat reports whether r, under key k, was emitted lately with the same
// content apart from meta; if not, it remembers r.
func (s *recentResources) repeat(k string, r proto.Message) bool {
	if prev, ok := s.byKey[k]; ok {
		if equalButMeta(prev, r) {
			return true
		}
		s.byKey[k] = r
		return false
	}
	if len(s.order) < recentLimit {
		s.order = append(s.order, k)
	} else {
		delete(s.byKey, s.order[s.next])
		s.order[s.next] = k
		s.next = (s.next + 1) % recentLimit
	}
	s.byKey[k] = r
	return false
}

// filter returns the resources of rs that are not repeats (see repeat); a
// nil filter keeps them all.
func (s *recentResources) filter(rs []proto.Message) ([]proto.Message, error) {
	if s == nil {
		return rs, nil
	}
	out := make([]proto.Message, 0, len(rs))
	for _, r := range rs {
		k, err := resource.Key(r)
		if err != nil {
			return nil, err
		}
		if !s.repeat(k, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// ConverterFunc adapts a function to the [Converter] interface.
type ConverterFunc func(ctx context.Context, m *source.Message) ([]proto.Message, error)

// Convert calls f(ctx, m).
func (f ConverterFunc) Convert(ctx context.Context, m *source.Message) ([]proto.Message, error) {
	return f(ctx, m)
}

// X12ConverterOptions configures an [X12Converter]. A nil *X12ConverterOptions
// means defaults.
type X12ConverterOptions struct {
	// Lenient, TolerantISA and MaxRecordLength configure the x12.Decoder
	// (see its fields of the same names).
	Lenient         bool
	TolerantISA     bool
	MaxRecordLength int

	// SourceName returns the PHI-free name of a message written into the
	// lineage (meta.source) of its resources. Nil means the message's
	// Metadata["file"] when set, else its ID (both PHI-free by the
	// source.Message contract).
	SourceName func(m *source.Message) string

	// Index, when set, receives the resources of every claim converted, so
	// that an 835 read later (in this message or another) joins with its
	// 837 claim. It is usually the Mapper's Options.Claims.
	Index *ClaimIndex

	// KeepRepeats keeps every record's copy of the resources that many
	// records of a message share (a billing provider, a payer, a
	// practitioner). By default a resource already returned for a recent
	// record of the same message (among the last 4,096 resources), with the
	// same content apart from meta (lastUpdated, source) and the same
	// source version ([ExtSourceVersion]), is returned once:
	// the output then holds each version once, which saves writes and JSON
	// marshalling, and memory stays bounded. A copy whose content differs is
	// always returned.
	KeepRepeats bool

	// OnResult, when set, is called after each record is mapped, with the
	// record and its Result (its Unmet and Warnings carry the record's
	// position), in record order, from the goroutine converting the
	// message. The record holds PHI; the Result's issues do not.
	OnResult func(ctx context.Context, rec x12.Record, res *Result)

	// Workers is how many records of one message are mapped at once; 0 or 1
	// means one at a time. Mapping costs far more than decoding, so a large
	// file (a message) converts on one core unless Workers is set, say to
	// runtime.GOMAXPROCS(0): records are then decoded in order, mapped by
	// Workers goroutines, and their resources returned (emitted), OnResult
	// called and the Index fed in record order, as with one worker. The
	// Mapper's lookups (Options.Claims, DependentMemberID, terminology) are
	// then called concurrently, as they are when the engine converts several
	// messages at once. With an Index, an 835 claim payment is mapped only
	// once every record before it is finished, so that it joins with the
	// claims before it in the same message.
	Workers int
}

// X12Converter is a [Converter] for X12 messages: it decodes a
// source.Message body with an x12.Decoder, one business record (837 claim,
// 835 claim payment...) at a time, and maps each record with a [Mapper].
type X12Converter struct {
	m    *Mapper
	opts X12ConverterOptions
}

// NewX12Converter returns a Converter that maps the X12 records of each
// message with m.
func NewX12Converter(m *Mapper, opts *X12ConverterOptions) *X12Converter {
	c := &X12Converter{m: m}
	if opts != nil {
		c.opts = *opts
	}
	return c
}

// RecordError is one record that could not be converted: its position
// (with Pos.Record, the record's index in its transaction set) and the
// error, an [*Error] (a mapping error, or a wrapped x12.SyntaxError).
type RecordError struct {
	Pos Position
	Err error
}

// ConvertError lists the records of a message that could not be converted.
// The message's other records were converted: their resources are returned
// alongside it. Its text holds the positions and the errors' PHI-free text.
type ConvertError struct {
	Failed []RecordError
}

// Error summarizes the failed records, for example "fhirmap: 2 records not
// converted: record 3, offset 1234, ...: fhirmap: invalid code: ...; ...".
func (e *ConvertError) Error() string {
	var b strings.Builder
	b.WriteString("fhirmap: ")
	b.WriteString(strconv.Itoa(len(e.Failed)))
	if len(e.Failed) == 1 {
		b.WriteString(" record not converted: ")
	} else {
		b.WriteString(" records not converted: ")
	}
	for i, f := range e.Failed {
		if i == 3 {
			b.WriteString("; ...")
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Err.Error())
	}
	return b.String()
}

// Unwrap returns the errors of the failed records, so that errors.Is and
// errors.As see them.
func (e *ConvertError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f.Err
	}
	return out
}

// Convert decodes the message's body (Body, or a streamed body read through
// Message.Open) and maps every record in it.
//
// Partial results: one bad record does not lose the others. Convert returns
// the resources of every record it could convert, in input order, and, when
// some records failed, a [*ConvertError] listing each failed record's
// position and error ([*Error] values; decoding errors wrap the
// *x12.SyntaxError). The engine writes the returned resources and sends the
// failed records to its reject path: both are permanent outcomes, so the
// message is then acknowledged.
//
// A failure that is not about a record, a terminology.Mapper or ClaimLookup
// that could not answer or a cancelled ctx, returns no resources and that
// error (wrapped), so that the whole message is retried; test it with
// terminology.IsRetryable, errors.As for a *LookupError, or ctx.Err().
func (c *X12Converter) Convert(ctx context.Context, msg *source.Message) ([]proto.Message, error) {
	return collect(ctx, c, msg)
}

// ConvertStream implements [StreamConverter]: it converts like Convert and
// emits the resources of each record as soon as it is mapped, so that a
// message of any size is converted in memory bounded by a record. A resource
// a recent record of the message already emitted with the same content
// (apart from meta) is not emitted again, unless Options.KeepRepeats.
func (c *X12Converter) ConvertStream(ctx context.Context, msg *source.Message, emit func([]proto.Message) error) error {
	body, err := msg.Open() // a streamed file is read from disk as it decodes
	if err != nil {
		return err
	}
	defer body.Close()
	d := x12.NewDecoder(body)
	d.Lenient, d.TolerantISA, d.MaxRecordLength = c.opts.Lenient, c.opts.TolerantISA, c.opts.MaxRecordLength
	s := &x12Stream{c: c, m: c.m.WithSourceName(c.sourceName(msg)), emit: emit, workers: max(c.opts.Workers, 1)}
	if !c.opts.KeepRepeats {
		s.recent = newRecentResources()
	}
	if s.workers > 1 {
		var cancel context.CancelFunc
		s.mctx, cancel = context.WithCancel(ctx)
		// Long-lived workers: a goroutine per record would grow a new stack
		// for each (mapping is deep), which cost more than it gained.
		s.jobs = make(chan *recordJob)
		for range s.workers {
			s.wg.Go(s.work)
		}
		defer func() {
			cancel()
			close(s.jobs)
			s.wg.Wait() // no mapping outlives the call
		}()
	}
	if err := s.run(ctx, d); err != nil {
		return err
	}
	if len(s.failed) > 0 {
		return &ConvertError{Failed: s.failed}
	}
	return nil
}

// x12Stream converts the records of one message: each is mapped (by up to
// workers goroutines at once), then finished in record order on the calling
// goroutine (positions, the claim index, OnResult, the repeat filter, emit).
type x12Stream struct {
	c       *X12Converter
	m       *Mapper
	emit    func([]proto.Message) error
	recent  *recentResources
	failed  []RecordError
	workers int

	// with workers > 1
	mctx    context.Context // cancelled when the call ends
	jobs    chan *recordJob
	wg      sync.WaitGroup
	pending []*recordJob // dispatched, in record order
}

// recordJob is one record, or one syntax error, in input order.
type recordJob struct {
	rec    x12.Record
	n      int // the record's index in its transaction set
	res    *Result
	err    error        // MapRecord's
	failed *RecordError // a record the decoder could not read
	done   chan struct{}
}

// errMapperPanic replaces the value of a panic while mapping a record on a
// worker goroutine, which could hold PHI.
var errMapperPanic = errors.New("fhirmap: mapping a record panicked")

func (s *x12Stream) run(ctx context.Context, d *x12.Decoder) error {
	var st string
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := d.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			var se *x12.SyntaxError
			if !errors.As(err, &se) {
				// An I/O error of a streamed body (a file that changed or
				// could not be read): a failure of the message.
				return err
			}
			if se.Pos.Transaction != st {
				st, n = se.Pos.Transaction, 0
			}
			rn := 0
			if isRecordError(se) {
				n++
				rn = n
			}
			e := syntaxError(se, rn)
			if err := s.add(ctx, &recordJob{failed: &RecordError{Pos: e.Pos, Err: e}}); err != nil {
				return err
			}
			continue
		}
		if p := rec.Pos(); p.Transaction != st {
			st, n = p.Transaction, 0
		}
		n++
		if err := s.add(ctx, &recordJob{rec: rec, n: n}); err != nil {
			return err
		}
	}
	for len(s.pending) > 0 {
		if err := s.finishFirst(ctx); err != nil {
			return err
		}
	}
	return nil
}

// add maps j's record (at once, or on a worker) and finishes what is done.
func (s *x12Stream) add(ctx context.Context, j *recordJob) error {
	if s.workers <= 1 {
		if j.rec != nil {
			j.res, j.err = s.m.MapRecord(ctx, j.rec)
		}
		return s.finish(ctx, j)
	}
	if j.rec != nil && s.c.opts.Index != nil && j.rec.Kind() == x12.Kind835ClaimPayment {
		// A payment joins with the claims indexed before it, in this
		// message too: every earlier record is finished first.
		for len(s.pending) > 0 {
			if err := s.finishFirst(ctx); err != nil {
				return err
			}
		}
		j.res, j.err = s.m.MapRecord(ctx, j.rec)
		return s.finish(ctx, j)
	}
	j.done = make(chan struct{})
	if j.rec == nil {
		close(j.done)
	} else {
		select {
		case s.jobs <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.pending = append(s.pending, j)
	// A window of records in flight keeps the workers busy while one is slow;
	// records wait for their turn to be finished, so memory stays bounded.
	for len(s.pending) > 4*s.workers {
		if err := s.finishFirst(ctx); err != nil {
			return err
		}
	}
	return nil
}

// work maps the records sent on s.jobs until it is closed.
func (s *x12Stream) work() {
	for j := range s.jobs {
		s.mapJob(j)
	}
}

// mapJob maps j's record on a worker, and marks it done.
func (s *x12Stream) mapJob(j *recordJob) {
	defer close(j.done)
	defer func() {
		if r := recover(); r != nil {
			j.res, j.err = nil, errMapperPanic
		}
	}()
	j.res, j.err = s.m.MapRecord(s.mctx, j.rec)
}

// finishFirst waits for the first pending record and finishes it.
func (s *x12Stream) finishFirst(ctx context.Context) error {
	j := s.pending[0]
	select {
	case <-j.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.pending[0] = nil
	s.pending = s.pending[1:]
	return s.finish(ctx, j)
}

// finish completes one record in input order.
func (s *x12Stream) finish(ctx context.Context, j *recordJob) error {
	if j.failed != nil {
		s.failed = append(s.failed, *j.failed)
		return nil
	}
	res, err := j.res, j.err
	if err != nil {
		var me *Error
		if !errors.As(err, &me) {
			return err
		}
		p := j.rec.Pos()
		me.Pos.Record = j.n
		if me.Pos.IsZero() || me.Pos.Offset == 0 && me.Pos.SegmentID == "" {
			me.Pos = PositionOf(p, j.n)
		}
		s.failed = append(s.failed, RecordError{Pos: me.Pos, Err: me})
		return nil
	}
	for i := range res.Unmet {
		res.Unmet[i].Pos.Record = j.n
	}
	for i := range res.Warnings {
		res.Warnings[i].Pos.Record = j.n
	}
	if s.c.opts.Index != nil {
		if err := s.c.opts.Index.AddResources(res.Resources); err != nil {
			return err
		}
	}
	if s.c.opts.OnResult != nil {
		s.c.opts.OnResult(ctx, j.rec, res)
	}
	out, err := s.recent.filter(res.Resources)
	if err != nil {
		return err
	}
	if len(out) > 0 {
		return s.emit(out)
	}
	return nil
}

func (c *X12Converter) sourceName(msg *source.Message) string {
	if c.opts.SourceName != nil {
		return c.opts.SourceName(msg)
	}
	if f := msg.Metadata["file"]; f != "" {
		return f
	}
	return msg.ID
}

// equalButMeta reports whether two resources have the same content apart
// from meta, and the same source version (the [ExtSourceVersion] extension
// on meta): a copy with another source version is not a repeat, since the
// stale-update guard must see the newer one (an 834 message holds several
// transaction sets, each with its own date).
func equalButMeta(a, b proto.Message) bool {
	// Field by field, without touching either message: both may be in use
	// elsewhere (a StreamConverter's output is written while it goes on).
	ra, rb := a.ProtoReflect(), b.ProtoReflect()
	if ra.Descriptor() != rb.Descriptor() {
		return false
	}
	fields := ra.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Name() == "meta" {
			if metaSourceVersion(ra, fd) != metaSourceVersion(rb, fd) {
				return false
			}
			continue
		}
		has := ra.Has(fd)
		if has != rb.Has(fd) {
			return false
		}
		if has && !valueEqual(fd, ra.Get(fd), rb.Get(fd)) {
			return false
		}
	}
	return bytes.Equal(ra.GetUnknown(), rb.GetUnknown())
}

// metaSourceVersion returns the [ExtSourceVersion] of m's meta field fd, ""
// when none.
func metaSourceVersion(m protoreflect.Message, fd protoreflect.FieldDescriptor) string {
	if !m.Has(fd) {
		return ""
	}
	meta, ok := m.Get(fd).Message().Interface().(*dtpb.Meta)
	if !ok {
		return ""
	}
	for _, e := range meta.GetExtension() {
		if e.GetUrl().GetValue() == ExtSourceVersion {
			return e.GetValue().GetStringValue().GetValue()
		}
	}
	return ""
}

// valueEqual compares two values of field fd.
func valueEqual(fd protoreflect.FieldDescriptor, a, b protoreflect.Value) bool {
	switch {
	case fd.IsList():
		la, lb := a.List(), b.List()
		if la.Len() != lb.Len() {
			return false
		}
		for i := range la.Len() {
			if !scalarOrMessageEqual(fd, la.Get(i), lb.Get(i)) {
				return false
			}
		}
		return true
	case fd.IsMap():
		ma, mb := a.Map(), b.Map()
		if ma.Len() != mb.Len() {
			return false
		}
		eq := true
		ma.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			w := mb.Get(k)
			eq = w.IsValid() && scalarOrMessageEqual(fd.MapValue(), v, w)
			return eq
		})
		return eq
	}
	return scalarOrMessageEqual(fd, a, b)
}

func scalarOrMessageEqual(fd protoreflect.FieldDescriptor, a, b protoreflect.Value) bool {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return proto.Equal(a.Message().Interface(), b.Message().Interface())
	case protoreflect.BytesKind:
		return bytes.Equal(a.Bytes(), b.Bytes())
	}
	return a.Equal(b)
}

// isRecordError reports whether a decoding error is about a business record
// (which the Decoder then skipped) rather than an envelope or a context loop,
// so that records are counted right: errors skipping a record for a bad
// context (ErrContext), and errors positioned in a record's loops: 837 loops
// 2300–2440, 835 loops 2100/2110, 834 loops 2000 (INS) to 2750.
func isRecordError(se *x12.SyntaxError) bool {
	if errors.Is(se, x12.ErrContext) || errors.Is(se, x12.ErrRecordTooLarge) || errors.Is(se, x12.ErrTruncatedRecord) {
		return true
	}
	l := se.Pos.Loop
	switch {
	case len(l) < 4:
		return false
	case l == "2000":
		// 834 member (INS...) vs 835 header number (LX, TS3, TS2): a context
		switch se.Pos.SegmentID {
		case "LX", "TS3", "TS2":
			return false
		}
		return true
	case strings.HasPrefix(l, "20"):
		return false // 837 billing provider, subscriber, patient and their name loops
	}
	return l[0] == '2'
}

// syntaxError wraps an X12 syntax error as a mapping error at its position:
// ErrUnsupported for an unsupported transaction set, ErrMissing for a
// missing segment or element, ErrInvalidValue otherwise. The x12 error stays
// reachable with errors.Is and errors.As.
func syntaxError(se *x12.SyntaxError, record int) *Error {
	kind := ErrInvalidValue
	switch {
	case errors.Is(se, x12.ErrUnsupportedTransaction):
		kind = ErrUnsupported
	case errors.Is(se, x12.ErrMissingSegment), errors.Is(se, x12.ErrRequiredElement):
		kind = ErrMissing
	}
	detail := "X12 input could not be decoded"
	if se.Err != nil {
		// the x12 sentinels' texts are constants, never input
		detail = se.Err.Error()
	}
	return NewError(kind, PositionOf(se.Pos, record), "", detail).WithCause(se)
}
