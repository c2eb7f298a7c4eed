package x12

import (
	"errors"
	"iter"
	"log/slog"
)

// Kind names the kind of a business [Record].
type Kind string

// The record kinds the Decoder yields.
const (
	Kind837PClaim             Kind = "837P claim"              // *Claim837 from an 837 professional (005010X222A1)
	Kind837IClaim             Kind = "837I claim"              // *Claim837 from an 837 institutional (005010X223A2)
	Kind837DClaim             Kind = "837D claim"              // *Claim837 from an 837 dental (005010X224A2)
	Kind835ClaimPayment       Kind = "835 claim payment"       // *ClaimPayment835 (loop 2100)
	Kind835ProviderAdjustment Kind = "835 provider adjustment" // *ProviderAdjustment835 (PLB)
	Kind834Member             Kind = "834 member"              // *Member834 (loop 2000)
)

// Record is one business record: an 837 claim, an 835 claim payment or
// provider adjustment, or an 834 member. The concrete types are [*Claim837],
// [*ClaimPayment835], [*ProviderAdjustment835] and [*Member834]; switch on the
// type or on Kind.
//
// A Record holds PHI. Its LogValue logs only its kind and position.
type Record interface {
	// Kind names the record kind, such as "837P claim".
	Kind() Kind
	// Pos is the position of the record's leading segment (CLM, CLP, INS, the
	// first PLB), its Loop set.
	Pos() Position
	// Envelope returns the interchange, group and transaction set headers the
	// record was read under.
	Envelope() Envelope
	// Loop returns the record's generic loop tree (loop 2300, 2100, 2000...):
	// every segment of the record, typed or not. Its Parent chain leads to the
	// context loops (billing provider, subscriber, header...) shared with the
	// other records under them.
	Loop() *Loop
	slog.LogValuer
}

// recordBase carries what every record has.
type recordBase struct {
	kind Kind
	env  *Envelope // shared by the records of a transaction set
	loop *Loop
}

// Kind implements [Record].
func (b *recordBase) Kind() Kind { return b.kind }

// Pos implements [Record].
func (b *recordBase) Pos() Position { return b.loop.Lead().Pos() }

// Envelope implements [Record].
func (b *recordBase) Envelope() Envelope { return *b.env }

// Loop implements [Record].
func (b *recordBase) Loop() *Loop { return b.loop }

// LogValue implements [slog.LogValuer]: kind and position only, never PHI.
func (b *recordBase) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", string(b.kind)), slog.String("pos", b.Pos().String()))
}

// Loop is one instance of an implementation-guide loop: its own segments in
// input order (the leading segment first) and its child loops. Loops are built
// by the Decoder from its loop tables and are immutable; the segments are owned
// (see [NewOwnedSegment]) and stay valid for as long as the Loop is referenced.
//
// The loops of a record are the record's own. The context loops above it (its
// Parent chain) are shared by every record under them and built once: their
// Children list only the context loops that arrived with them, never the
// records or the context loops that came after the first record.
type Loop struct {
	ID       string    // implementation guide loop id, such as "2300"; "HEADER" for the transaction set level
	Segments []Segment // the loop's own segments, leading segment first
	Children []*Loop   // child loop instances in input order
	Parent   *Loop     // the enclosing loop; nil for the transaction set level

	def *loopDef
	ctx *contextInfo // set on context loops
}

// contextInfo is what the Decoder keeps about a context loop.
type contextInfo struct {
	typed any    // the typed value of the loop (*Subscriber837...), nil when none
	err   error  // the error found in the loop or while typing it
	arena *arena // the memory of the loop (nil for a stand-in loop)
}

// Name returns the implementation guide name of the loop, such as "Claim Information".
func (l *Loop) Name() string {
	if l.def == nil {
		return ""
	}
	return l.def.name
}

// typed returns the cached typed value of a context loop.
func (l *Loop) typed() any {
	if l.ctx == nil {
		return nil
	}
	return l.ctx.typed
}

// Lead returns the leading segment of the loop (the zero Segment for an empty loop).
func (l *Loop) Lead() Segment {
	if len(l.Segments) == 0 {
		return Segment{}
	}
	return l.Segments[0]
}

// Segment returns the first of the loop's own segments with the given id.
func (l *Loop) Segment(id string) (Segment, bool) {
	for _, s := range l.Segments {
		if s.ID() == id {
			return s, true
		}
	}
	return Segment{}, false
}

// All yields the loop's own segments with the given id, in order.
func (l *Loop) All(id string) iter.Seq[Segment] {
	return func(yield func(Segment) bool) {
		for _, s := range l.Segments {
			if s.ID() == id && !yield(s) {
				return
			}
		}
	}
}

// Child returns the first child loop with the given id, or nil.
func (l *Loop) Child(id string) *Loop {
	for _, c := range l.Children {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// Ancestor returns the nearest enclosing loop with the given id, or nil.
func (l *Loop) Ancestor(id string) *Loop {
	for p := l.Parent; p != nil; p = p.Parent {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// Walk calls fn for l and every loop below it, depth first in input order,
// until fn returns false.
func (l *Loop) Walk(fn func(*Loop) bool) bool {
	if !fn(l) {
		return false
	}
	for _, c := range l.Children {
		if !c.Walk(fn) {
			return false
		}
	}
	return true
}

// LogValue implements [slog.LogValuer]: the loop id and the position of its
// leading segment, never element values.
func (l *Loop) LogValue() slog.Value {
	return slog.GroupValue(slog.String("loop", l.ID), slog.String("pos", l.Lead().Pos().String()))
}

// ErrContext reports a record that was not decoded because a context loop it
// depends on (a header, billing provider, subscriber, patient, payer...) is
// invalid. The context loop's own error is reported once, before the first
// record under it.
var ErrContext = errors.New("x12: record skipped: a loop it depends on is invalid")

// ErrUnsupportedTransaction reports a transaction set whose ST01/ST03 (or GS08)
// names an implementation the Decoder has no loop table for. The transaction
// set is skipped.
var ErrUnsupportedTransaction = errors.New("x12: unsupported transaction set")

// ErrRecordTooLarge reports a business record (or the context between two
// records) larger than [Decoder.MaxRecordLength]. The rest of it is skipped.
var ErrRecordTooLarge = errors.New("x12: record too large")
