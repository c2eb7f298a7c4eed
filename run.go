package fhirsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/source"
)

// Run moves what src delivers through conv into dst until ctx is done, src
// is finite and exhausted (it returns nil once every message is settled), or
// a failure stops it. It neither closes src nor dst.
//
// Messages are read ahead (up to Options.MaxInFlight), converted in parallel
// (Options.Converters) and their resources gathered into batches
// (Options.BatchSize, Options.BatchWait) in the order the source gave the
// messages; up to Options.Writers batches are written at once, never two
// that share a resource, and a batch waits for the batches in flight that
// write a resource it references (converters return referenced resources
// first; servers with referential integrity on write refuse the reverse).
// Within a batch, a later version of a resource replaces an earlier one,
// unless it references a resource the earlier one did not and the batch
// holds after it: then the batch is written first and the later version
// starts the next.
// A converter that implements [fhirmap.StreamConverter] (the X12 and
// provider converters do) is streamed: each record's resources are batched
// as soon as they are mapped, so memory stays bounded by a few records
// whatever the size of a message.
//
// A message is acked once every resource converted from it is written (or
// skipped by the stale-update guard) and every rejection found in it is
// recorded by Options.Reject. Retryable failures (a conversion whose
// terminology server or claim lookup could not answer, a sink's
// [sink.RetryableError], a retryable op of a [sink.BatchError]) are retried
// with back-off, honouring Retry-After; a message whose conversion or write
// is given up on (Options.MaxAttempts) is nacked. Permanent failures (a
// syntax or mapping error, an op the sink refuses for good) are rejections.
//
// Run stops with an error when the sink fails a whole Write permanently
// (a configuration or authorization problem: nothing can be written), when
// Source.Read keeps failing (Options.MaxReadAttempts) or fails permanently
// (source.ErrPermanent), or at a permanent failure when Options.Reject is
// nil. Messages not settled then stay unacked
// and are delivered again when the service restarts. When ctx is done Run
// returns ctx's error (its cause, when it has one), unless a failure had
// stopped it first: then it returns that failure.
//
// Error texts from the converter, the sink, the source and the Rejecter go
// into logs, span events, dead-letter records and Run's error: like
// fhirsync's own errors, they must hold no PHI (positions and codes, not
// values).
func Run(ctx context.Context, src source.Source, conv fhirmap.Converter, dst sink.Sink, opts *Options) error {
	if src == nil || conv == nil || dst == nil {
		return errors.New("fhirsync: Run needs a source, a converter and a sink")
	}
	o := opts.withDefaults()
	e := &engine{src: src, conv: conv, dst: dst, o: o, log: o.Logger, ins: newInstruments(o.MeterProvider)}
	if sc, ok := conv.(fhirmap.StreamConverter); ok {
		e.stream = sc
	}
	e.tracer = tracer(o.TracerProvider)
	return e.run(ctx)
}

// engine is the state of one Run.
type engine struct {
	src    source.Source
	conv   fhirmap.Converter
	stream fhirmap.StreamConverter // conv, when it streams
	dst    sink.Sink
	o      Options
	log    *slog.Logger
	ins    *instruments
	tracer trace.Tracer

	ctx    context.Context
	cancel context.CancelCauseFunc

	slots   chan struct{}  // one per message in flight
	convCh  chan *msgState // messages to convert
	orderCh chan *msgState // every message, in read order, for the batcher
	writers chan struct{}  // one per Write in flight
	wg      sync.WaitGroup // writers and rejecters started by the batcher

	keysMu sync.Mutex
	keysOK *sync.Cond          // signalled when a batch releases its keys
	busy   map[string]struct{} // resources of the batches in flight
	latest map[string]queued   // per resource, the newest source version of its ops queued or in flight
}

// queued is the newest source version among the ops of a resource that are
// queued or in flight, kept until the last of those ops carrying a version
// is written or dropped: two of them may carry the same version (a message
// delivered twice, a streamed conversion that emitted it again after a
// retry), and the first one failing must not let an older version in while
// the other is pending.
type queued struct {
	version string
	ops     int // ops carrying a version
}

// msgState follows one message from Read to its ack or nack.
type msgState struct {
	msg       *source.Message
	converted chan struct{} // closed when conversion ended
	chunks    chan chunk    // a StreamConverter's resources as they come; closed before converted
	res       []proto.Message
	refs      [][]string // refs[i]: what res[i] references (with several writers)
	reject    error      // a permanent conversion failure (the whole message, or some records of it)
	readErr   bool       // reject is the source's: it could not read the record
	giveUp    error      // conversion given up on, or abandoned: the message is nacked, or left
	abandoned bool       // the run is stopping: leave the message unsettled

	mu      sync.Mutex
	pending int   // ops and rejections not yet done, +1 while the batcher adds
	nack    error // set when some part was given up on
	left    bool  // some part was abandoned: never settle
}

// chunk is a part of a message's resources, with what each references.
type chunk struct {
	res  []proto.Message
	refs [][]string
}

// streamChunks is how many parts of a message a StreamConverter may convert
// ahead of the batcher.
const streamChunks = 16

// pop is an op of a batch with the messages whose resources it writes.
type pop struct {
	op      sink.Op
	key     string   // "Type/id"
	refs    []string // "Type/id" of the resources op's resource references (with several writers)
	version string   // source version, "" when none
	owners  []*msgState
}

// batch is a set of ops written by one Sink.Write.
type batch struct {
	ops []*pop
	idx map[string]int // key → index in ops
}

func (e *engine) run(parent context.Context) error {
	e.ctx, e.cancel = context.WithCancelCause(parent)
	defer e.cancel(nil)
	e.slots = make(chan struct{}, e.o.MaxInFlight)
	e.convCh = make(chan *msgState, e.o.MaxInFlight)
	e.orderCh = make(chan *msgState, e.o.MaxInFlight)
	e.writers = make(chan struct{}, e.o.Writers)
	e.busy = make(map[string]struct{})
	e.latest = make(map[string]queued)
	e.keysOK = sync.NewCond(&e.keysMu)
	stop := context.AfterFunc(e.ctx, func() {
		e.keysMu.Lock()
		e.keysOK.Broadcast()
		e.keysMu.Unlock()
	})
	defer stop()

	var stages sync.WaitGroup
	stages.Go(e.read)
	for range e.o.Converters {
		stages.Go(e.convertLoop)
	}
	stages.Go(e.batchLoop)
	stages.Wait()
	e.wg.Wait()
	if e.ctx.Err() != nil {
		// The failure that stopped the run, or ctx's cause, whichever came
		// first (a ctx cancelled while the run stops does not hide why).
		return context.Cause(e.ctx)
	}
	return nil
}

// fail stops the run with err.
func (e *engine) fail(err error) {
	e.cancel(err)
	e.log.LogAttrs(context.Background(), slog.LevelError, "fhirsync: run stopped", slog.String("error", err.Error()))
}

// read reads messages until the source ends or the run stops.
func (e *engine) read() {
	defer close(e.orderCh)
	defer close(e.convCh)
	failures := 0
	for {
		msgs, err := e.src.Read(e.ctx)
		// Messages returned with an error are processed first: a source
		// that hands over what it read before failing loses nothing.
		for _, m := range msgs {
			select {
			case e.slots <- struct{}{}:
			case <-e.ctx.Done():
				return
			}
			st := &msgState{msg: m, converted: make(chan struct{}), pending: 1}
			if e.stream != nil {
				st.chunks = make(chan chunk, streamChunks)
			}
			e.ins.read(e.ctx)
			e.orderCh <- st // buffered for MaxInFlight: never blocks
			e.convCh <- st
		}
		if err == nil {
			failures = 0
			continue
		}
		switch {
		case errors.Is(err, io.EOF):
			return
		case e.ctx.Err() != nil:
			return
		case errors.Is(err, source.ErrClosed), errors.Is(err, source.ErrPermanent):
			e.fail(fmt.Errorf("fhirsync: source read: %w", err))
			return
		}
		failures++
		e.log.LogAttrs(e.ctx, slog.LevelWarn, "fhirsync: source read failed", slog.String("error", err.Error()), slog.Int("attempt", failures))
		if failures >= e.o.MaxReadAttempts {
			e.fail(fmt.Errorf("fhirsync: source read failed %d times: %w", failures, err))
			return
		}
		if !e.sleep(e.o.Backoff.delay(failures)) {
			return
		}
	}
}

// convertLoop converts messages until there are no more.
func (e *engine) convertLoop() {
	for st := range e.convCh {
		e.convert(st)
	}
}

// convert converts one message, retrying transient failures.
func (e *engine) convert(st *msgState) {
	defer close(st.converted)
	if st.chunks != nil {
		defer close(st.chunks)
	}
	if err := st.msg.Err(); err != nil {
		// The source could not read the record: nothing to convert.
		st.reject, st.readErr = err, true
		return
	}
	ctx, span := e.tracer.Start(e.ctx, "fhirsync.convert", trace.WithAttributes(attribute.String("fhirsync.message.id", st.msg.ID)))
	defer span.End()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		res, err := e.safeConvert(ctx, st)
		e.ins.convertTime(ctx, time.Since(start))
		if err == nil {
			e.converted(st, res)
			return
		}
		span.RecordError(errors.New(err.Error()))
		var ce *fhirmap.ConvertError
		switch {
		case errors.As(err, &ce):
			// Some records failed for good; the others' resources are written.
			e.converted(st, res)
			st.reject = err
			return
		case e.ctx.Err() != nil:
			st.abandoned = true
			return
		case e.o.Retryable(err):
			if e.o.MaxAttempts > 0 && attempt >= e.o.MaxAttempts {
				st.giveUp = err
				return
			}
			e.ins.convertRetry(ctx)
			e.log.LogAttrs(ctx, slog.LevelWarn, "fhirsync: convert failed, retrying", slog.Any("message", st.msg), slog.String("error", err.Error()), slog.Int("attempt", attempt))
			if !e.sleep(max(e.o.Backoff.delay(attempt), retryAfter(err))) {
				st.abandoned = true
				return
			}
		default:
			st.reject = err
			span.SetStatus(codes.Error, "rejected")
			return
		}
	}
}

// converted keeps the resources of st and, with several writers, what each
// references (found here, in parallel, rather than by the batcher).
func (e *engine) converted(st *msgState, res []proto.Message) {
	st.res, st.refs = res, e.references(res)
}

// references returns, with several writers, what each of res references.
func (e *engine) references(res []proto.Message) [][]string {
	if e.o.Writers <= 1 || len(res) == 0 {
		return nil
	}
	refs := make([][]string, len(res))
	for i, r := range res {
		key, _ := resource.Key(r)
		refs[i] = references(r, key)
	}
	return refs
}

// errConverterPanic replaces the value of a converter's panic, which could
// hold PHI.
var errConverterPanic = errors.New("fhirsync: the converter panicked")

// safeConvert converts st's message. Through a StreamConverter the
// resources go to st.chunks as they come (res is nil); the batcher takes
// them meanwhile, so memory stays bounded by a few records.
func (e *engine) safeConvert(ctx context.Context, st *msgState) (res []proto.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, errConverterPanic
		}
	}()
	if e.stream == nil {
		return e.conv.Convert(ctx, st.msg)
	}
	return nil, e.stream.ConvertStream(ctx, st.msg, func(rs []proto.Message) error {
		select {
		case st.chunks <- chunk{res: rs, refs: e.references(rs)}:
			return nil
		case <-e.ctx.Done():
			return e.ctx.Err()
		}
	})
}

// batchLoop takes the converted messages in read order and gathers their
// resources into batches.
func (e *engine) batchLoop() {
	var cur *batch
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if cur != nil && len(cur.ops) > 0 {
			e.dispatch(cur)
		}
		cur = nil
		timer.Stop()
	}
	defer func() {
		if e.ctx.Err() == nil {
			flush()
		}
	}()
	for {
		var st *msgState
		var ok bool
		select {
		case st, ok = <-e.orderCh:
			if !ok {
				return
			}
		case <-timer.C:
			flush()
			continue
		case <-e.ctx.Done():
			return
		}
		add := func(res []proto.Message, refs [][]string) bool {
			for i, r := range res {
				if cur == nil {
					cur = &batch{idx: make(map[string]int)}
				}
				var rr []string
				if refs != nil {
					rr = refs[i]
				}
				next := func() *batch {
					flush()
					cur = &batch{idx: make(map[string]int)}
					return cur
				}
				if !e.add(cur, st, r, rr, next) {
					return false
				}
				if len(cur.ops) >= e.o.BatchSize {
					flush()
				} else if len(cur.ops) == 1 {
					timer.Reset(e.o.BatchWait)
				}
			}
			return true
		}
		chunks := st.chunks // nil without a StreamConverter: never ready
	wait:
		for {
			select {
			case c, ok := <-chunks:
				if !ok {
					chunks = nil
					continue
				}
				if !add(c.res, c.refs) {
					return
				}
			case <-st.converted:
				if chunks == nil {
					break wait
				}
			case <-timer.C:
				flush()
			case <-e.ctx.Done():
				return
			}
		}
		if st.abandoned {
			continue // the run is stopping
		}
		if st.giveUp != nil {
			e.giveUp(st, st.giveUp)
			e.done(st)
			continue
		}
		if st.reject != nil {
			stage := StageConvert
			if st.readErr {
				stage = StageRead
			}
			e.rejectAsync(st, &Rejection{Message: st.msg, Stage: stage, Err: st.reject, Time: time.Now()})
		}
		if !add(st.res, st.refs) {
			return
		}
		e.done(st)
	}
}

// add adds resource r of message st, which references refs, to batch b,
// unless the stale-update guard skips it; when r cannot replace the version
// b holds, add writes b first (next dispatches it and returns the batch to
// add to). It returns false when the run is stopping.
func (e *engine) add(b *batch, st *msgState, r proto.Message, refs []string, next func() *batch) bool {
	key, err := resource.Key(r)
	if err != nil {
		// A converter's bug: a resource without a type or id cannot be written.
		e.rejectAsync(st, &Rejection{Message: st.msg, Stage: StageConvert, Err: fmt.Errorf("fhirsync: converter returned an unwritable resource: %w", err), Time: time.Now()})
		return true
	}
	version := ""
	if !e.o.DisableStaleGuard {
		version = SourceVersion(r)
	}
	if version != "" {
		newest, ok := e.newestVersion(key)
		if !ok {
			return false
		}
		if newest > version {
			e.ins.stale(e.ctx, resource.Type(r))
			e.log.LogAttrs(e.ctx, slog.LevelDebug, "fhirsync: stale resource skipped", slog.String("resource", key), slog.String("version", version), slog.String("newest", newest))
			return true
		}
	}
	if i, ok := b.idx[key]; ok && e.refersAfter(b, i, r, key, refs) {
		// In the queued one's place, r would be written before a resource
		// it newly references that b holds after that place (one the sink
		// may not have yet): b is written first, r starts the next batch.
		b = next()
	}
	st.mu.Lock()
	st.pending++
	st.mu.Unlock()
	if i, ok := b.idx[key]; ok {
		// A later version of the resource replaces the queued one.
		p := b.ops[i]
		e.requeue(key, p.version, version)
		p.op, p.refs, p.version = sink.Op{Resource: r}, refs, version
		p.owners = append(p.owners, st)
		return true
	}
	e.requeue(key, "", version)
	b.idx[key] = len(b.ops)
	b.ops = append(b.ops, &pop{op: sink.Op{Resource: r}, key: key, refs: refs, version: version, owners: []*msgState{st}})
	return true
}

// refersAfter reports whether r (key, which references refs: found here with
// one writer), replacing the op at index i of b, references a resource that
// b holds after i and that op does not reference. (What that op references
// is before it in b, or in flight, or written: a converter returns it
// first.)
func (e *engine) refersAfter(b *batch, i int, r proto.Message, key string, refs []string) bool {
	if i == len(b.ops)-1 {
		return false
	}
	old := b.ops[i].refs
	if e.o.Writers <= 1 {
		refs, old = references(r, key), references(b.ops[i].op.Resource, key)
	}
	for _, k := range refs {
		if j, ok := b.idx[k]; ok && j > i && !slices.Contains(old, k) {
			return true
		}
	}
	return false
}

// newestVersion returns the newest source version known for key: queued,
// or remembered by the VersionStore (asked again until it answers).
func (e *engine) newestVersion(key string) (string, bool) {
	e.keysMu.Lock()
	q, ok := e.latest[key]
	e.keysMu.Unlock()
	if ok {
		return q.version, true
	}
	var v string
	ok = e.retry("fhirsync: version store failed, retrying", func() (err error) {
		v, err = e.o.Versions.Get(e.ctx, key)
		return err
	})
	return v, ok
}

// requeue records that an op of key that carried source version was ("" for
// none, or a new op) now carries now ("" for none, or written or dropped).
func (e *engine) requeue(key, was, now string) {
	if was == now {
		return
	}
	e.keysMu.Lock()
	defer e.keysMu.Unlock()
	q := e.latest[key]
	if was != "" {
		q.ops--
	}
	if now != "" {
		q.ops++
		q.version = max(q.version, now)
	}
	if q.ops <= 0 {
		delete(e.latest, key)
	} else {
		e.latest[key] = q
	}
}

// retry calls fn until it succeeds, logging msg and backing off after each
// failure; it reports false when the run stopped first.
func (e *engine) retry(msg string, fn func() error, attrs ...slog.Attr) bool {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return true
		}
		e.log.LogAttrs(e.ctx, slog.LevelWarn, msg, append(attrs, slog.String("error", err.Error()), slog.Int("attempt", attempt))...)
		if !e.sleep(e.o.Backoff.delay(attempt)) {
			return false
		}
	}
}

// dispatch starts writing b once none of its resources, nor any resource
// they reference, is in flight, and a writer is free: a resource reaches
// the sink after those it references (converters return them first), which
// servers with referential integrity on write require.
func (e *engine) dispatch(b *batch) {
	e.keysMu.Lock()
	for e.ctx.Err() == nil && e.conflicts(b) {
		e.keysOK.Wait()
	}
	if e.ctx.Err() != nil {
		e.keysMu.Unlock()
		return
	}
	for _, p := range b.ops {
		e.busy[p.key] = struct{}{}
	}
	e.keysMu.Unlock()
	select {
	case e.writers <- struct{}{}:
	case <-e.ctx.Done():
		return
	}
	e.wg.Go(func() {
		defer func() { <-e.writers }()
		defer e.release(b)
		e.write(b)
	})
}

func (e *engine) conflicts(b *batch) bool {
	for _, p := range b.ops {
		if _, ok := e.busy[p.key]; ok {
			return true
		}
		for _, k := range p.refs {
			if _, ok := e.busy[k]; ok {
				return true
			}
		}
	}
	return false
}

// release frees the resources of b for later batches.
func (e *engine) release(b *batch) {
	e.keysMu.Lock()
	for _, p := range b.ops {
		delete(e.busy, p.key)
	}
	e.keysOK.Broadcast()
	e.keysMu.Unlock()
}

// write writes the ops of b, retrying what is retryable.
func (e *engine) write(b *batch) {
	ops := b.ops
	for attempt := 1; len(ops) > 0; attempt++ {
		ctx, span := e.tracer.Start(e.ctx, "fhirsync.write", trace.WithAttributes(attribute.Int("fhirsync.ops", len(ops)), attribute.Int("fhirsync.attempt", attempt)))
		list := make([]sink.Op, len(ops))
		for i, p := range ops {
			list[i] = p.op
		}
		start := time.Now()
		err := e.dst.Write(ctx, list)
		e.ins.writeTime(ctx, time.Since(start))
		if err == nil {
			span.End()
			e.written(ops)
			return
		}
		span.RecordError(errors.New(err.Error()))
		span.SetStatus(codes.Error, "write failed")
		span.End()
		if e.ctx.Err() != nil {
			e.abandon(ops)
			return
		}
		var retry []*pop
		var after time.Duration
		var be *sink.BatchError
		switch {
		case errors.As(err, &be):
			failed := make(map[int]error, len(be.Failed))
			for _, f := range be.Failed {
				failed[f.Index] = f.Err
			}
			var ok []*pop
			for i, p := range ops {
				ferr, bad := failed[i]
				switch {
				case !bad:
					ok = append(ok, p)
				case sink.IsRetryable(ferr):
					retry = append(retry, p)
					after = max(after, sink.RetryAfter(ferr))
				default:
					e.rejectOp(p, ferr)
				}
			}
			e.written(ok)
			err = errors.Join(errorsOf(be.Failed)...)
		case sink.IsRetryable(err):
			retry, after = ops, sink.RetryAfter(err)
		default:
			e.abandon(ops)
			e.fail(fmt.Errorf("fhirsync: sink write: %w", err))
			return
		}
		if len(retry) == 0 {
			return
		}
		if e.o.MaxAttempts > 0 && attempt >= e.o.MaxAttempts {
			for _, p := range retry {
				e.forget(p)
				for _, st := range p.owners {
					e.giveUp(st, err)
					e.done(st)
				}
			}
			return
		}
		e.ins.retry(e.ctx)
		e.log.LogAttrs(e.ctx, slog.LevelWarn, "fhirsync: write failed, retrying", slog.Int("ops", len(retry)), slog.String("error", err.Error()), slog.Int("attempt", attempt))
		if !e.sleep(max(e.o.Backoff.delay(attempt), after)) {
			e.abandon(retry)
			return
		}
		ops = retry
	}
}

func errorsOf(f []sink.IndexError) []error {
	out := make([]error, len(f))
	for i := range f {
		out[i] = f[i].Err
	}
	return out
}

// written records ops as written and settles their part of their messages.
func (e *engine) written(ops []*pop) {
	for _, p := range ops {
		e.ins.written(e.ctx, resource.Type(p.op.Resource))
		if p.version != "" {
			e.remember(p.key, p.version)
		}
		for _, st := range p.owners {
			e.done(st)
		}
	}
}

// remember stores the version written for key in the VersionStore.
func (e *engine) remember(key, version string) {
	if !e.retry("fhirsync: version store failed, retrying", func() error { return e.o.Versions.Put(e.ctx, key, version) }) {
		return
	}
	e.requeue(key, version, "")
}

// forget drops the queued version of an op that was not written.
func (e *engine) forget(p *pop) {
	e.requeue(p.key, p.version, "")
}

// rejectOp records that the sink refused op p for good, for each message it
// came from.
func (e *engine) rejectOp(p *pop, err error) {
	e.forget(p)
	for _, st := range p.owners {
		e.reject(st, &Rejection{Message: st.msg, Stage: StageWrite, Err: err, Resource: p.key, Time: time.Now()})
		e.done(st) // the op's part
	}
}

// rejectAsync records r for st in the background: the batcher goes on.
func (e *engine) rejectAsync(st *msgState, r *Rejection) {
	st.mu.Lock()
	st.pending++
	st.mu.Unlock()
	e.wg.Go(func() {
		e.reject(st, r)
		e.done(st)
	})
}

// reject records r with Options.Reject, retrying until it is recorded; with
// no Rejecter, it stops the run.
func (e *engine) reject(st *msgState, r *Rejection) {
	e.ins.rejected(e.ctx, r.Stage)
	if e.o.Reject == nil {
		e.leave(st)
		e.fail(fmt.Errorf("fhirsync: message %s: %s failure and no Options.Reject to record it: %w", st.msg.ID, r.Stage, r.Err))
		return
	}
	e.log.LogAttrs(e.ctx, slog.LevelWarn, "fhirsync: rejected", slog.Any("rejection", r))
	if !e.retry("fhirsync: reject failed, retrying", func() error { return e.o.Reject.Reject(e.ctx, r) }, slog.Any("message", st.msg)) {
		e.leave(st)
	}
}

// giveUp marks st to be nacked with cause err.
func (e *engine) giveUp(st *msgState, err error) {
	st.mu.Lock()
	if st.nack == nil {
		st.nack = err
	}
	st.mu.Unlock()
}

// leave marks st never to be settled by this run (it stops first).
func (e *engine) leave(st *msgState) {
	st.mu.Lock()
	st.left = true
	st.mu.Unlock()
}

// abandon leaves the messages of ops unsettled: the run is stopping.
func (e *engine) abandon(ops []*pop) {
	for _, p := range ops {
		for _, st := range p.owners {
			e.leave(st)
			e.done(st)
		}
	}
}

// done ends one part of message st; the last part settles it.
func (e *engine) done(st *msgState) {
	st.mu.Lock()
	st.pending--
	last := st.pending == 0
	nack, left := st.nack, st.left
	st.mu.Unlock()
	if !last {
		return
	}
	defer func() { <-e.slots }()
	if left {
		return
	}
	// Settle even when the run is stopping: the writes are done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 30*time.Second)
	defer cancel()
	var err error
	if nack != nil {
		err = st.msg.Nack(ctx, nack)
		e.ins.settled(ctx, "nacked")
	} else {
		err = st.msg.Ack(ctx)
		e.ins.settled(ctx, "acked")
	}
	if err != nil {
		e.log.LogAttrs(ctx, slog.LevelWarn, "fhirsync: settling a message failed", slog.Any("message", st.msg), slog.Bool("nack", nack != nil), slog.String("error", err.Error()))
	}
}

// referenceDesc is the descriptor of an R4 Reference.
var referenceDesc = (&dtpb.Reference{}).ProtoReflect().Descriptor()

// referenceTypes maps the typed-id fields of Reference's oneof
// ("practitioner_role_id") to their resource type ("PractitionerRole").
var referenceTypes = sync.OnceValue(func() map[protoreflect.Name]string {
	out := map[protoreflect.Name]string{}
	fields := referenceDesc.Oneofs().ByName("reference").Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		name := string(f.Name())
		if !strings.HasSuffix(name, "_id") || f.Message() == nil || f.Message().Name() != "ReferenceId" || name == "resource_id" {
			continue
		}
		var t strings.Builder
		for part := range strings.SplitSeq(strings.TrimSuffix(name, "_id"), "_") {
			if part != "" {
				t.WriteString(strings.ToUpper(part[:1]) + part[1:])
			}
		}
		if _, err := resource.New(t.String()); err == nil { // not DomainResource
			out[f.Name()] = t.String()
		}
	}
	return out
})

// references returns the distinct "Type/id" of the resources r references
// by a relative reference (typed, or a "Type/id[/_history/v]" uri), self
// excepted.
func references(r proto.Message, self string) []string {
	u, err := resource.Unwrap(r)
	if err != nil {
		return nil
	}
	var out []string
	collectReferences(u.ProtoReflect(), self, &out)
	return out
}

func collectReferences(m protoreflect.Message, self string, out *[]string) {
	d := m.Descriptor()
	if d == referenceDesc {
		k := referenceKey(m)
		if k != "" && k != self && !slices.Contains(*out, k) {
			*out = append(*out, k)
		}
		return
	}
	for _, fd := range referenceFields(d) {
		if !m.Has(fd) {
			continue
		}
		if fd.IsList() {
			l := m.Get(fd).List()
			for j := range l.Len() {
				collectReferences(l.Get(j).Message(), self, out)
			}
		} else {
			collectReferences(m.Get(fd).Message(), self, out)
		}
	}
}

// referenceFields returns the fields of messages of type md that can hold a
// Reference, outside extensions (an extension's references are not the
// resource's links that servers check on write).
func referenceFields(md protoreflect.MessageDescriptor) []protoreflect.FieldDescriptor {
	if v, ok := referenceFieldsOf.Load(md); ok {
		return v.([]protoreflect.FieldDescriptor)
	}
	var out []protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if holdsMessage(fd) && reaches(fd.Message(), map[protoreflect.FullName]bool{}) {
			out = append(out, fd)
		}
	}
	referenceFieldsOf.Store(md, out)
	return out
}

// referenceFieldsOf memoizes referenceFields.
var referenceFieldsOf sync.Map

func holdsMessage(fd protoreflect.FieldDescriptor) bool {
	return fd.Message() != nil && !fd.IsMap() && fd.Name() != "extension" && fd.Name() != "modifier_extension"
}

// reaches reports whether a message of type md can hold a Reference outside
// extensions.
func reaches(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if md == referenceDesc {
		return true
	}
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); holdsMessage(fd) && reaches(fd.Message(), seen) {
			return true
		}
	}
	return false
}

// referenceKey returns "Type/id" of a relative Reference, "" for any other.
func referenceKey(m protoreflect.Message) string {
	f := m.WhichOneof(referenceDesc.Oneofs().ByName("reference"))
	switch {
	case f == nil:
		return ""
	case f.Name() == "uri":
		u := stringValue(m.Get(f).Message())
		if i := strings.Index(u, "/_history/"); i > 0 {
			u = u[:i]
		}
		if typ, id, ok := strings.Cut(u, "/"); ok && typ != "" && id != "" && !strings.ContainsAny(id, "/:") && !strings.Contains(typ, ":") {
			return u
		}
		return ""
	}
	if typ, ok := referenceTypes()[f.Name()]; ok {
		if id := stringValue(m.Get(f).Message()); id != "" {
			return typ + "/" + id
		}
	}
	return ""
}

// stringValue returns the value field of a google/fhir primitive (String,
// Uri, ReferenceId).
func stringValue(m protoreflect.Message) string {
	f := m.Descriptor().Fields().ByName("value")
	if f == nil || f.Kind() != protoreflect.StringKind {
		return ""
	}
	return m.Get(f).String()
}

// sleep waits d or until the run stops; it reports whether the run goes on.
func (e *engine) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.ctx.Done():
		return false
	}
}
