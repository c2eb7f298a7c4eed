package x12

import (
	"errors"
	"io"
	"iter"
	"strconv"
)

// DefaultMaxRecordLength is the limit on the bytes of one business record (or
// of the context between two records) used when Decoder.MaxRecordLength is 0.
const DefaultMaxRecordLength = 64 << 20

// maxDecoderWarnings bounds the lenient-mode findings kept when OnWarning is nil.
const maxDecoderWarnings = 1000

// Decoder reads business records from X12 input: one 837 claim, 835 claim
// payment (or provider adjustment) or 834 member at a time, each with its
// context. Like encoding/csv, its exported fields configure it and must be set
// before the first call to Read.
//
// Each transaction set is routed by ST01 and ST03 (falling back to GS08) to a
// loop table; a generic engine assigns every segment to its implementation-guide
// loop, builds the loop tree of each record and of the context loops above it,
// and a binder fills the typed record. See the package documentation for the
// record kinds, the error model and the memory bound.
type Decoder struct {
	// TolerantISA reads ISA segments whose fields are not padded to their fixed
	// widths; see [Reader.TolerantISA].
	TolerantISA bool

	// Lenient reports envelope findings (see [Reader.Lenient]) and segments that
	// do not fit the loop structure, or exceed a loop's maximum repeat, to
	// OnWarning instead of returning them as errors. A segment that fits no loop
	// is then kept in the innermost open loop. Required-element, required-segment
	// and value checks stay errors: the mapping depends on them.
	Lenient bool

	// OnWarning, when set, is called with each lenient-mode finding. When nil,
	// findings are kept and returned by Warnings.
	OnWarning func(*SyntaxError)

	// MaxSegmentLength limits the length of a segment; see [Reader.MaxSegmentLength].
	MaxSegmentLength int

	// MaxRecordLength limits the size of one business record, and of the
	// context segments between two records: its segment bytes plus a fixed
	// allowance per segment (64) and per loop (128) for the decoded structure;
	// 0 means DefaultMaxRecordLength (64 MiB). A larger record is reported with
	// ErrRecordTooLarge and skipped.
	MaxRecordLength int

	// ReuseRecord lets Read reuse the memory of earlier records for the next
	// one, like encoding/csv's Reader.ReuseRecord, so that steady-state
	// decoding allocates almost nothing. A record (the *Claim837 or other
	// typed struct, and everything reached through its pointers and slices:
	// typed parts, Loops, Segments slices) is then valid only until the next
	// call to Read, or the next iteration of Records. The context parts it
	// points to (Header, BillingProvider, Subscriber, Patient...) stay valid
	// while records under them are returned, and are reused once the context
	// has changed and those records are released. Values of string type
	// (element values, Amount) and Segment values copied out of a record stay
	// valid and never change: segment bytes are never reused. Set it for
	// streaming (decode, map, forget); leave it false when records are kept,
	// as a claim index does. See the package documentation, # Memory.
	ReuseRecord bool

	src      io.Reader
	r        *Reader
	queue    []item
	qhead    int
	done     bool
	lastErr  error
	warnings []*SyntaxError

	// transaction state
	tab      *txTable
	skipping bool      // in an unsupported transaction set: skip to its end
	env      *Envelope // of the open transaction set, shared by its records
	stack    []frame
	ctx      unit // context segments not yet materialized
	rec      unit // the record being accumulated
	recOpen  bool
	recLevel int
	recKind  Kind
	ctxs     loopContexts
	deferred []error // envelope findings waiting for the open record to end
	inRun    bool    // in a run of segments that fit no loop (outside a record)

	// memory of the built units (arena.go)
	fresh    arena    // default mode: its buffers are dropped before each build
	arenas   []*arena // ReuseRecord: every arena, free or in use
	seq      uint64   // sequence number of the last record emitted
	returned uint64   // sequence number of the last record returned by Read
	released uint64   // records up to this sequence number are no longer in use
}

type item struct {
	rec Record
	err error
	seq uint64 // of a record
}

// NewDecoder returns a Decoder that reads from r. It does its own buffering.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{src: r}
}

// Read returns the next business record. It returns io.EOF at the end of the
// input. Errors are *SyntaxError values (test the sentinel with errors.Is) and
// decoding goes on after them: a malformed record is reported once and skipped,
// the next Read continues with the next record. After a fatal error (the input
// cannot be read further: ErrISA, ErrDelimiters, ErrTooLong, or an error of the
// underlying io.Reader, which is returned as is) Read returns io.EOF.
func (d *Decoder) Read() (Record, error) {
	if d.r == nil {
		d.start()
	}
	// The records returned before are released: with ReuseRecord, their
	// memory may be reused from now on.
	d.released = d.returned
	for {
		if d.qhead < len(d.queue) {
			it := d.queue[d.qhead]
			d.queue[d.qhead] = item{}
			d.qhead++
			if d.qhead == len(d.queue) {
				d.queue, d.qhead = d.queue[:0], 0
			}
			if it.rec != nil {
				d.returned = it.seq
			}
			return it.rec, it.err
		}
		if d.done {
			return nil, io.EOF
		}
		s, err := d.r.Read()
		if err != nil {
			d.readerError(err)
			continue
		}
		d.feed(&s)
	}
}

// Records returns an iterator over the records and errors of Read, ending at
// io.EOF (which it does not yield).
func (d *Decoder) Records() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			rec, err := d.Read()
			if err == io.EOF {
				return
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// InputOffset returns the input offset just after the last segment read.
func (d *Decoder) InputOffset() int64 {
	if d.r == nil {
		return 0
	}
	return d.r.InputOffset()
}

// Warnings returns the lenient-mode findings kept so far when OnWarning is nil
// (at most 1000).
func (d *Decoder) Warnings() []*SyntaxError { return d.warnings }

func (d *Decoder) start() {
	d.r = NewReader(d.src)
	d.r.TolerantISA = d.TolerantISA
	d.r.Lenient = d.Lenient
	d.r.MaxSegmentLength = d.MaxSegmentLength
	d.r.OnWarning = d.warn
	d.ctx.chunked, d.rec.chunked = d.ReuseRecord, d.ReuseRecord
}

func (d *Decoder) warn(e *SyntaxError) {
	if d.OnWarning != nil {
		d.OnWarning(e)
	} else if len(d.warnings) < maxDecoderWarnings {
		d.warnings = append(d.warnings, e)
	}
}

func (d *Decoder) emit(rec Record, err error) { d.queue = append(d.queue, item{rec: rec, err: err}) }

// emitRecord queues a record built in arena a and pins a and the arenas of the
// context loops above it until the record is released.
func (d *Decoder) emitRecord(rec Record, a *arena) {
	d.seq++
	a.pin = d.seq
	for p := rec.Loop().Parent; p != nil; p = p.Parent {
		if p.ctx != nil && p.ctx.arena != nil {
			p.ctx.arena.pin = d.seq
		}
	}
	d.queue = append(d.queue, item{rec: rec, seq: d.seq})
}

// acquire returns an arena to build a unit in. In the default mode it is the
// Decoder's one arena with its buffers dropped; with ReuseRecord, it is an
// arena no returned record and no open context loop uses any more.
func (d *Decoder) acquire() *arena {
	if !d.ReuseRecord {
		d.fresh.reset(false, false)
		return &d.fresh
	}
	// An arena is scrubbed of stale pointers (see trim) when a new byte chunk
	// was started since its last scrub: stale elements then pin at most the
	// chunks of a few records.
	epoch := d.ctx.chunks + d.rec.chunks
	for _, a := range d.arenas {
		if a.pin <= d.released && !d.onStack(a) {
			a.reset(true, a.epoch != epoch)
			a.epoch = epoch
			return a
		}
	}
	a := &arena{epoch: epoch}
	d.arenas = append(d.arenas, a)
	return a
}

// onStack reports whether an open context loop was built in arena a.
func (d *Decoder) onStack(a *arena) bool {
	for i := range d.stack {
		if l := d.stack[i].loop; l != nil && l.ctx != nil && l.ctx.arena == a {
			return true
		}
	}
	return false
}

func (d *Decoder) maxRecord() int {
	if d.MaxRecordLength > 0 {
		return d.MaxRecordLength
	}
	return DefaultMaxRecordLength
}

// readerError routes an error of the segment Reader.
func (d *Decoder) readerError(err error) {
	se, ok := err.(*SyntaxError)
	fatal := !ok || err == d.lastErr || errors.Is(err, ErrISA) || errors.Is(err, ErrDelimiters) || errors.Is(err, ErrTooLong)
	d.lastErr = err
	if err == io.EOF {
		d.endTransaction()
		d.done = true
		return
	}
	if fatal {
		if d.recOpen {
			d.rec.markBad(se)
			if se == nil {
				d.rec.bad = &SyntaxError{Pos: d.rec.position(), Err: ErrTruncatedRecord}
			}
		}
		d.endTransaction()
		if err != d.queueLastErr() {
			d.emit(nil, err)
		}
		d.done = true
		return
	}
	switch {
	case errors.Is(err, ErrTruncated) && d.recOpen:
		// The input ended inside a segment of the open record: it is incomplete.
		d.rec.markBad(se)
	case se.IK3 != "" && d.tab != nil && !d.skipping:
		// A segment the Reader could not read (ErrSegmentID), skipped.
		if d.recOpen {
			d.rec.markBad(se)
		} else {
			d.emit(nil, se)
		}
	case d.recOpen:
		// An envelope finding: reported after the record it interrupts.
		d.deferred = append(d.deferred, err)
	default:
		d.emit(nil, err)
	}
}

// ErrTruncatedRecord reports a record cut short by an error that stopped the
// input (see Decoder.Read).
var ErrTruncatedRecord = errors.New("x12: record cut short by an input error")

func (d *Decoder) queueLastErr() error {
	if n := len(d.queue); n > d.qhead {
		return d.queue[n-1].err
	}
	return nil
}

// feed processes one segment from the Reader.
func (d *Decoder) feed(s *Segment) {
	if code := segCode(s); isEnvelope(code) {
		switch code {
		case codeST:
			d.endTransaction()
			d.beginTransaction(s)
		case codeSE:
			if d.tab == nil {
				// An unsupported set is skipped to its SE.
				d.skipping = false
			} else {
				d.endTransaction()
			}
		default: // ISA, GS, GE, IEA, TA1
			d.endTransaction()
		}
		return
	}
	if d.tab == nil {
		// Outside a supported transaction set: the Reader reports stray
		// segments.
		return
	}
	p, ok := place(d.stack, s)
	if !ok {
		d.unexpected(s)
		return
	}
	d.inRun = false
	level := p.level
	if d.recOpen && p.open == nil && level < d.recLevel && d.stack[level].loop != nil {
		// A segment of a context loop already shared by records, inside a
		// record: out of sequence. It spoils this record, which goes on.
		d.outOfSequence(s, level)
		return
	}
	if d.recOpen && (level < d.recLevel || (level == d.recLevel && p.open != nil)) {
		d.finishRecord()
	}
	if p.open == nil {
		d.stack = d.stack[:level+1]
		d.store(level, s)
		return
	}
	def := p.open
	d.stack = d.stack[:level]
	parent := &d.stack[level-1]
	ci := parent.def.childIndex(def)
	if parent.counts[ci] < 0xffff {
		parent.counts[ci]++
	}
	over := def.max > 0 && int(parent.counts[ci]) > def.max
	f := d.push(def)
	if def.record != "" {
		d.startRecord(def, level)
	}
	parent = &d.stack[level-1] // push may have moved the stack
	inRecord := def.inRecord != nil
	u := &d.ctx
	if inRecord {
		u = &d.rec
	}
	var parentInst int32 = -1
	var parentLoop *Loop
	if (parent.def.inRecord != nil) == inRecord && parent.loop == nil {
		parentInst = parent.inst
	} else {
		parentLoop = parent.loop
	}
	f.inst = u.newInst(def, parentInst, parentLoop)
	if over {
		e := &SyntaxError{Pos: s.Pos(), Err: ErrLoop, IK3: "4",
			detail: "loop " + def.id + " occurs more than " + strconv.Itoa(def.max) + " times"}
		e.Pos.Loop = def.id
		d.problem(e)
	}
	d.store(level, s)
}

// push opens a frame for def on the stack, reusing memory.
func (d *Decoder) push(def *loopDef) *frame {
	n := len(d.stack)
	if n < cap(d.stack) {
		d.stack = d.stack[:n+1]
	} else {
		d.stack = append(d.stack, frame{})
	}
	f := &d.stack[n]
	f.def, f.loop, f.inst = def, nil, -1
	clear(f.counts[:len(def.children)])
	return f
}

// store appends s to the unit of the loop open at level.
func (d *Decoder) store(level int, s *Segment) {
	f := &d.stack[level]
	ctx := d.ctxs.get(*s, f.def, len(d.tab.defs))
	if f.def.inRecord != nil {
		d.rec.add(*s, ctx, f.inst, d.maxRecord())
		return
	}
	if f.loop != nil {
		d.outOfSequence(s, level)
		return
	}
	d.ctx.add(*s, ctx, f.inst, d.maxRecord())
}

// outOfSequence reports a segment of a context loop that records already
// share: it cannot be added to it any more. The segment is dropped; inside a
// record it spoils the record (strict mode).
func (d *Decoder) outOfSequence(s *Segment, level int) {
	id := d.stack[level].def.id
	pos := s.Pos()
	pos.Loop = id
	e := &SyntaxError{Pos: pos, Err: ErrLoop, IK3: "7", detail: "segment out of sequence: loop " + id + " has already been used by a record"}
	d.problem(e)
}

// problem reports a structural finding in the unit being built: an error that
// spoils the record (or context) in strict mode, a warning in lenient mode.
func (d *Decoder) problem(e *SyntaxError) {
	if d.Lenient {
		d.warn(e)
		return
	}
	if d.recOpen {
		d.rec.markBad(e)
	} else {
		d.emit(nil, e)
	}
}

// unexpected handles a segment that no open loop takes.
func (d *Decoder) unexpected(s *Segment) {
	inner := &d.stack[len(d.stack)-1]
	e := &SyntaxError{Pos: s.Pos(), Err: ErrLoop, IK3: "2", detail: "segment does not fit the loop structure of " + d.tab.Name}
	if !d.tab.knows(s.ID()) {
		e.IK3 = "6"
		e.detail = "segment is not part of " + d.tab.Name
	}
	e.Pos.Loop = inner.def.id
	if d.Lenient {
		d.warn(e)
		d.store(len(d.stack)-1, s)
		return
	}
	if d.recOpen {
		d.rec.markBad(e)
		return
	}
	if !d.inRun {
		d.inRun = true
		d.emit(nil, e)
	}
}

// knows reports whether any loop of the table holds segments with id.
func (t *txTable) knows(id string) bool {
	for _, l := range t.defs {
		if l.lead.ID == id || l.hasSeg(id) {
			return true
		}
	}
	return false
}

func (d *Decoder) beginTransaction(st *Segment) {
	env := d.r.Envelope()
	d.env = &env
	d.tab = lookupTable(st.Element(1), st.Element(3), env.GS.Version)
	if d.tab == nil {
		d.skipping = true
		e := &SyntaxError{Pos: st.Pos(), Err: ErrUnsupportedTransaction, IK5: "1",
			detail: "no loop table for this ST01/ST03"}
		e.value = st.Element(1) + " " + st.Element(3)
		d.emit(nil, e)
		return
	}
	d.stack = d.stack[:0]
	f := d.push(d.tab.root)
	f.inst = d.ctx.newInst(d.tab.root, -1, nil)
	d.store(0, st)
}

// endTransaction closes the open transaction set (at SE, at a new envelope
// segment or at the end of input).
func (d *Decoder) endTransaction() {
	if d.recOpen {
		d.finishRecord()
	}
	if d.ctx.bad != nil {
		d.emit(nil, d.ctx.bad)
	}
	d.ctx.clear()
	d.stack = d.stack[:0]
	d.tab = nil
	d.skipping = false
	d.inRun = false
	d.flushDeferred()
}

func (d *Decoder) flushDeferred() {
	for i, e := range d.deferred {
		d.emit(nil, e)
		d.deferred[i] = nil
	}
	d.deferred = d.deferred[:0]
}

// startRecord begins a record whose loop def opens at stack level: the pending
// context is materialized first so that the record can point to it.
func (d *Decoder) startRecord(def *loopDef, level int) {
	d.materialize()
	d.recOpen = true
	d.recLevel = level
	d.recKind = def.record
}

// materialize turns the pending context segments into shared, typed Loops.
func (d *Decoder) materialize() {
	u := &d.ctx
	if len(u.insts) == 0 {
		return
	}
	if u.bad != nil {
		d.emit(nil, u.bad)
	}
	a := d.acquire()
	loops := u.build(a)
	for i := range d.stack {
		f := &d.stack[i]
		if f.def.inRecord != nil || f.loop != nil {
			continue
		}
		if f.inst >= 0 {
			f.loop = &loops[f.inst]
		} else {
			// Opened after the context went bad (and was dropped): a stand-in
			// that carries the error to the records under it.
			f.loop = &Loop{ID: f.def.id, def: f.def, ctx: &contextInfo{err: u.bad}}
			if i > 0 {
				f.loop.Parent = d.stack[i-1].loop
			}
		}
		f.inst = -1
	}
	infos := sized(a.infos, len(loops))
	a.infos = infos
	b := &a.bind
	b.reserveParties(&u.cnt)
	owner := a // the arena to pin while records use these loops
	if !d.ReuseRecord {
		owner = nil // the Decoder's one arena: records must not keep it alive
	}
	for i := range loops {
		l := &loops[i]
		infos[i] = contextInfo{arena: owner}
		l.ctx = &infos[i]
		if u.bad != nil {
			l.ctx.err = u.bad
			continue
		}
		b.err = nil
		l.ctx.typed = d.tab.bind.context(b, l)
		if b.err != nil {
			l.ctx.err = b.err
			d.emit(nil, b.err)
		}
	}
	u.clear()
}

// finishRecord ends the open record: it is typed and queued, or its error is.
func (d *Decoder) finishRecord() {
	d.recOpen = false
	u := &d.rec
	defer func() {
		u.clear()
		d.flushDeferred()
	}()
	if u.bad != nil {
		d.emit(nil, u.bad)
		return
	}
	if len(u.insts) == 0 {
		return
	}
	for p := u.insts[0].parentLoop; p != nil; p = p.Parent {
		if p.ctx != nil && p.ctx.err != nil {
			pos := u.position()
			d.emit(nil, &SyntaxError{Pos: pos, Err: ErrContext, detail: "loop " + p.ID + " is invalid"})
			return
		}
	}
	a := d.acquire()
	loops := u.build(a)
	root := &loops[0]
	base := recordBase{kind: d.recKind, env: d.env, loop: root}
	b := &a.bind
	b.counts = &u.cnt
	rec := d.tab.bind.record(b, base)
	b.counts = nil
	if b.err != nil {
		d.emit(nil, b.err)
		return
	}
	d.emitRecord(rec, a)
}

// Bookkeeping counted against MaxRecordLength besides the segment bytes, so
// that a record of many tiny segments or loops is bounded too.
const (
	segOverhead  = 64  // per segment: its Segment, scratch entry...
	instOverhead = 128 // per loop instance: its Loop, scratch entry...
)

// unit accumulates the segments of a record, or of the pending context, and
// builds its loops. The segment bytes are gathered in a scratch buffer, then
// copied in one piece into a buffer the built loops own; the segments, which
// point into that buffer, go into one array the loops share.
type unit struct {
	buf     []byte      // the bytes of the segments: scratch, or an append-only chunk (chunked)
	base    int         // start of the unit's bytes in buf (0 unless chunked)
	chunked bool        // buf is a chunk whose built bytes are never overwritten (ReuseRecord)
	chunks  int         // number of chunks started
	segs    []useg      // scratch: the segments, pointer-free (no GC write barriers)
	insts   []uinst     // scratch
	cnt     [256]uint16 // number of segments by segIndex (saturating)
	bytes   int
	bad     *SyntaxError
	first   Segment // the first segment (a view: only its position is used), with its loop context
	started bool    // first is set
	scat    bool    // some loop's segments are not contiguous in segs
	last    int32   // instance of the last segment added
}

// useg is a segment being gathered: its packed header and where its bytes are.
type useg struct {
	info, loc uint64 // the Segment's packed length/index and offset/id
	off       int32  // offset of its bytes from unit.base
	inst      int32  // its loop instance
}

type uinst struct {
	def        *loopDef
	ctx        *segCtx // position context of the loop's segments
	parent     int32   // index of the parent instance in the unit, -1 when outside
	parentLoop *Loop   // the parent when it is outside the unit (a materialized context loop)
	first      int32   // index in segs of the first segment
	nsegs      int32
	nchild     int32
}

// clear drops the unit's content, keeping its scratch memory.
func (u *unit) clear() {
	u.segs = u.segs[:0]
	u.buf = u.buf[:u.base] // drops the bytes of a unit that was not built
	u.cnt = [256]uint16{}
	clear(u.insts)
	u.insts = u.insts[:0]
	u.bytes = 0
	u.bad = nil
	u.started = false
	u.scat = false
	u.last = -1
}

// position returns the position of the unit's first segment, its loop set.
func (u *unit) position() Position { return u.first.Pos() }

func (u *unit) markBad(e *SyntaxError) {
	if u.bad == nil && e != nil {
		u.bad = e
	}
}

func (u *unit) newInst(def *loopDef, parent int32, parentLoop *Loop) int32 {
	if u.bad != nil {
		return -1 // a spoiled unit keeps nothing: memory stays bounded
	}
	u.bytes += instOverhead
	if parent >= 0 {
		u.insts[parent].nchild++
	}
	// The memory past len(u.insts) is zero (clear zeroes what a unit used),
	// so only the non-zero fields are written, without a struct copy.
	n := len(u.insts)
	if n == cap(u.insts) {
		u.insts = append(u.insts, uinst{})
	} else {
		u.insts = u.insts[:n+1]
	}
	in := &u.insts[n]
	in.def, in.parent, in.parentLoop = def, parent, parentLoop
	return int32(n)
}

func (u *unit) add(s Segment, ctx *segCtx, inst int32, limit int) {
	if !u.started {
		u.first, u.started = s, true
		u.first.ctx = ctx
	}
	if u.bad != nil {
		return // a spoiled unit keeps nothing: memory stays bounded
	}
	raw := s.Raw()
	u.bytes += len(raw) + segOverhead
	if u.bytes > limit {
		pos := s.Pos()
		pos.Loop = ctx.loop
		u.bad = &SyntaxError{Pos: pos, Err: ErrRecordTooLarge, detail: "more than " + strconv.Itoa(limit) + " bytes"}
		return
	}
	in := &u.insts[inst]
	if in.nsegs == 0 {
		// The segments of a loop instance share one context.
		in.first, in.ctx = int32(len(u.segs)), ctx
	} else if inst != u.last {
		u.scat = true
	}
	in.nsegs++
	u.last = inst
	if i := segIndex[segCode(&s)]; u.cnt[i] < 0xffff {
		u.cnt[i]++
	}
	info, loc := packed(s)
	if u.chunked && len(u.buf)+len(raw) > cap(u.buf) {
		u.newChunk(len(raw))
	}
	u.segs = append(u.segs, useg{info: info, loc: loc, off: int32(len(u.buf) - u.base), inst: inst})
	u.buf = append(u.buf, raw...)
}

// chunkSize is the size of the chunks a unit gathers its bytes in with
// ReuseRecord.
const chunkSize = 64 << 10

// newChunk moves the bytes of the unit being gathered to a new chunk with room
// for n more bytes. The old chunk is left to the units built in it.
func (u *unit) newChunk(n int) {
	have := len(u.buf) - u.base
	c := chunkBytes(max(chunkSize, 2*(have+n)))[:have]
	copy(c, u.buf[u.base:])
	u.buf, u.base = c, 0
	u.chunks++
}

// chunkBytes returns a new byte slice of length 0 and capacity n. (An
// earlier version took the memory of a strings.Builder to skip make's zeroing,
// about 3-5% of decoding; writing through string memory breaks unsafe's rules
// and could expose stale heap bytes, so chunks are zeroed like any slice.)
func chunkBytes(n int) []byte {
	return make([]byte, 0, n)
}

// build makes the unit's Loops in arena a. In the default mode, the bytes are
// copied into a new buffer of their size (one allocation); with ReuseRecord,
// they stay in the chunk they were gathered in. Either way they are never
// written again: strings taken from the segments never change. The segments,
// the loops and the child pointers go into the arena's buffers (in the
// default mode, three more allocations). A loop's segments are a slice of
// the segment array (regrouped by loop in the rare case a loop's segments were
// interleaved with another's).
func (u *unit) build(a *arena) []Loop {
	var data []byte
	if u.chunked {
		// The bytes stay where they are; the chunk is never written there
		// again.
		data = u.buf[u.base:len(u.buf):len(u.buf)]
		u.base = len(u.buf)
	} else {
		data = make([]byte, len(u.buf))
		copy(data, u.buf)
	}
	segs := sized(a.segs, len(u.segs))
	a.segs = segs
	if u.scat {
		off := int32(0)
		for i := range u.insts {
			u.insts[i].first = off
			off += u.insts[i].nsegs
		}
		fill := sized(a.fill, len(u.insts))
		clear(fill)
		a.fill = fill
		for k := range u.segs {
			us := &u.segs[k]
			in := &u.insts[us.inst]
			segs[in.first+fill[us.inst]] = unpacked(us.info, us.loc, data, us.off, in.ctx)
			fill[us.inst]++
		}
	} else {
		// Each loop's segments are a run of segs: one context per run.
		for i := range u.insts {
			in := &u.insts[i]
			first, end := int(in.first), int(in.first+in.nsegs)
			ctx := in.ctx
			for k := first; k < end; k++ {
				us := &u.segs[k]
				segs[k] = unpacked(us.info, us.loc, data, us.off, ctx)
			}
		}
	}
	loops := sized(a.loops, len(u.insts))
	a.loops = loops
	nchild := 0
	for i := range u.insts {
		in := &u.insts[i]
		first, end := int(in.first), int(in.first+in.nsegs)
		l := &loops[i]
		l.ID, l.def, l.Segments = in.def.id, in.def, segs[first:end:end]
		l.Children, l.Parent, l.ctx = nil, nil, nil
		nchild += int(in.nchild)
	}
	var kids []*Loop
	if nchild > 0 {
		kids = sized(a.kids, nchild)
		a.kids = kids
	}
	off := 0
	for i := range u.insts {
		if n := int(u.insts[i].nchild); n > 0 {
			loops[i].Children = kids[off : off : off+n]
			off += n
		}
	}
	for i := range u.insts {
		in := &u.insts[i]
		if in.parent >= 0 {
			p := &loops[in.parent]
			loops[i].Parent = p
			p.Children = append(p.Children, &loops[i])
		} else {
			loops[i].Parent = in.parentLoop
		}
	}
	return loops
}
