package x12

import (
	"bytes"
	"log/slog"
	"unsafe"
)

// Segment is one X12 segment: its bytes without the terminator, the delimiters of
// its interchange and its Position.
//
// A Segment returned by [Reader.Read] is a view into the Reader's buffer and is
// valid only until the next call to Read: its byte slices are overwritten after
// that. [Segment.Clone] makes an owned copy that stays valid. Strings returned by
// a view (Element, Component, ...) are copies and stay valid; on an owned segment
// they share its memory and cost no allocation.
//
// Element, component and repetition positions are 1-based as in the implementation
// guides (CLM05-3 is Component(5, 3)). Trailing empty elements are omitted in X12,
// so an absent element reads as "" (or nil bytes): index defensively.
//
// The ISA segment is never split on the component or repetition separator: ISA11
// and ISA16 hold those separators themselves, so Component(i, 1) and
// RepetitionComponent(i, 1, 0) of an ISA return the whole element.
type Segment struct {
	raw   []byte
	pos   Position
	d     Delimiters
	owned bool
	isa   bool
}

// NewOwnedSegment returns an owned Segment over raw, the bytes of one segment
// without its terminator. raw must never be modified afterwards: the strings
// returned by the segment share its memory. pos.SegmentID is set from raw.
func NewOwnedSegment(raw []byte, d Delimiters, pos Position) Segment {
	id, _ := segmentID(raw, d.Element)
	pos.SegmentID = id
	return Segment{raw: raw, pos: pos, d: d, owned: true, isa: id == "ISA"}
}

// ID returns the segment id, such as "CLM". Known ids are interned: ID does not
// allocate. It returns "" for the zero Segment and for a malformed id.
func (s Segment) ID() string { return s.pos.SegmentID }

// Pos returns the position of the segment.
func (s Segment) Pos() Position { return s.pos }

// Delimiters returns the delimiters of the segment's interchange.
func (s Segment) Delimiters() Delimiters { return s.d }

// Raw returns the bytes of the segment without its terminator. For a segment
// returned by Read they are valid until the next Read and must not be modified.
func (s Segment) Raw() []byte { return s.raw }

// Owned reports whether the segment owns its bytes (from Clone or
// NewOwnedSegment) and so stays valid after the next Read.
func (s Segment) Owned() bool { return s.owned }

// Len returns the number of elements after the segment id as present in the
// input, trailing empty elements included when the sender wrote them.
func (s Segment) Len() int {
	if len(s.raw) == 0 {
		return 0
	}
	return bytes.Count(s.raw, []byte{s.d.Element})
}

// ElementBytes returns element i (1-based; 0 is the segment id), or nil when the
// segment has fewer elements. An element that is present but empty is returned
// as an empty, non-nil slice when the segment is not empty. The bytes belong to
// the segment: do not modify them.
func (s Segment) ElementBytes(i int) []byte {
	if i < 0 {
		return nil
	}
	return field(s.raw, s.d.Element, i)
}

// Element returns element i (1-based; 0 is the segment id) as a string, "" when
// absent. On a view it copies; on an owned segment it shares memory.
func (s Segment) Element(i int) string {
	return s.str(s.ElementBytes(i))
}

// ComponentBytes returns component j (1-based) of the first repetition of
// element i, or nil when absent.
func (s Segment) ComponentBytes(i, j int) []byte {
	if j < 1 {
		return nil
	}
	e := s.ElementBytes(i)
	if e == nil {
		return nil
	}
	if s.isa {
		if j == 1 {
			return e
		}
		return nil
	}
	if s.d.Repetition != 0 {
		if k := bytes.IndexByte(e, s.d.Repetition); k >= 0 {
			e = e[:k:k]
		}
	}
	return field(e, s.d.Component, j-1)
}

// Component returns component j (1-based) of the first repetition of element i,
// "" when absent. Component(i, 1) of a simple element is the element itself.
func (s Segment) Component(i, j int) string {
	return s.str(s.ComponentBytes(i, j))
}

// Repetitions returns the number of repetitions of element i: 0 when the element
// is absent or empty, 1 when it does not repeat.
func (s Segment) Repetitions(i int) int {
	e := s.ElementBytes(i)
	if len(e) == 0 {
		return 0
	}
	if s.isa || s.d.Repetition == 0 {
		return 1
	}
	return bytes.Count(e, []byte{s.d.Repetition}) + 1
}

// RepetitionComponentBytes returns component j (1-based) of repetition r
// (1-based) of element i; j = 0 returns the whole repetition. nil when absent.
func (s Segment) RepetitionComponentBytes(i, r, j int) []byte {
	if r < 1 || j < 0 {
		return nil
	}
	e := s.ElementBytes(i)
	if e == nil {
		return nil
	}
	if s.isa {
		if r == 1 && j <= 1 {
			return e
		}
		return nil
	}
	if s.d.Repetition != 0 {
		e = field(e, s.d.Repetition, r-1)
	} else if r != 1 {
		return nil
	}
	if e == nil || j == 0 {
		return e
	}
	return field(e, s.d.Component, j-1)
}

// RepetitionComponent returns component j (1-based) of repetition r (1-based) of
// element i; j = 0 returns the whole repetition. "" when absent.
func (s Segment) RepetitionComponent(i, r, j int) string {
	return s.str(s.RepetitionComponentBytes(i, r, j))
}

// Clone returns an owned copy of the segment that stays valid after the next
// Read. It makes one allocation (none when the segment is already owned).
func (s Segment) Clone() Segment {
	if s.owned {
		return s
	}
	if s.raw != nil {
		s.raw = bytes.Clone(s.raw)
	}
	s.owned = true
	return s
}

// LogValue implements [slog.LogValuer]. It logs the segment id and position
// only, never element values, so a Segment can be logged without leaking PHI.
func (s Segment) LogValue() slog.Value {
	p := s.pos
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("id", p.SegmentID), slog.Int64("offset", p.Offset))
	if p.Index > 0 {
		attrs = append(attrs, slog.Int("index", p.Index))
	}
	if p.Loop != "" {
		attrs = append(attrs, slog.String("loop", p.Loop))
	}
	if p.Interchange != "" {
		attrs = append(attrs, slog.String("isa13", p.Interchange))
	}
	if p.Group != "" {
		attrs = append(attrs, slog.String("gs06", p.Group))
	}
	if p.Transaction != "" {
		attrs = append(attrs, slog.String("st02", p.Transaction))
	}
	return slog.GroupValue(attrs...)
}

func (s Segment) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s.owned {
		return unsafe.String(&b[0], len(b))
	}
	return string(b)
}

// field returns field n (0-based) of b split on sep, or nil when b has fewer
// fields. The result's capacity is clipped to its length.
func field(b []byte, sep byte, n int) []byte {
	if b == nil {
		return nil
	}
	start := 0
	for ; n > 0; n-- {
		k := bytes.IndexByte(b[start:], sep)
		if k < 0 {
			return nil
		}
		start += k + 1
	}
	end := bytes.IndexByte(b[start:], sep)
	if end < 0 {
		end = len(b)
	} else {
		end += start
	}
	return b[start:end:end]
}

// segmentID returns the id of the segment raw (interned when known) and whether
// it is well formed: 2 or 3 upper-case letters or digits, the first a letter.
func segmentID(raw []byte, sep byte) (string, bool) {
	n := len(raw)
	if k := bytes.IndexByte(raw[:min(n, 4)], sep); k >= 0 {
		n = k
	}
	if n < 2 || n > 3 {
		return "", false
	}
	key, ok := idKey(raw[:n])
	if !ok {
		return "", false
	}
	if s := lookupID(key); s != "" {
		return s, true
	}
	return string(raw[:n]), true
}

// idKey packs a 2- or 3-byte segment id into an integer, checking its syntax.
func idKey(b []byte) (uint32, bool) {
	if b[0] < 'A' || b[0] > 'Z' {
		return 0, false
	}
	key := uint32(b[0]) << 16
	for i := 1; i < len(b); i++ {
		c := b[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return 0, false
		}
		key |= uint32(c) << (16 - 8*i)
	}
	return key, true
}

// knownIDs are the segment ids of the X12 5010 health care transactions
// (837, 835, 834, 820, 270/271, 276/277, 278, 999, TA1) and their envelopes.
// They are interned so that Read returns them without allocating.
var knownIDs = [...]string{
	"ISA", "IEA", "GS", "GE", "ST", "SE", "TA1", "ISB", "ISE", "BHT", "BPR", "BGN", "BIN", "TRN", "CUR", "REF", "DTP",
	"DTM", "NM1", "N1", "N2", "N3", "N4", "N9", "PER", "PRV", "HL", "SBR", "PAT", "DMG", "CLM", "CL1", "PWK", "CN1",
	"AMT", "QTY", "K3", "NTE", "CR1", "CR2", "CR3", "CR4", "CR5", "CR6", "CR7", "CR8", "CRC", "HI", "HCP", "LX", "SV1",
	"SV2", "SV3", "SV4", "SV5", "SV6", "SV7", "TOO", "MEA", "PS1", "LIN", "CTP", "SVD", "CAS", "OI", "MOA", "MIA", "LQ",
	"FRM", "CLP", "SVC", "PLB", "TS3", "TS2", "RDM", "INS", "HD", "COB", "LUI", "EC", "ICM", "HLH", "IDC", "DSB",
	"ACT", "LS", "LE", "EQ", "EB", "III", "MSG", "AAA", "STC", "ENT", "UM", "HSD", "DN1", "DN2", "PLA", "AK1", "AK2",
	"AK3", "AK4", "AK5", "AK9", "IK3", "IK4", "IK5", "CTX", "RMR", "ADX", "IT1", "INV", "PRA", "HCR", "SVD", "DSB",
	"LX", "BGF", "QTY", "VEH", "SV", "TRN", "UR", "PDS", "PDP", "PER", "NX1", "NX2", "RMT", "DMA", "SUP", "MPI",
}

const idTableBits = 9

type idSlot struct {
	key uint32
	id  string
}

var idTable = func() (t [1 << idTableBits]idSlot) {
	for _, id := range knownIDs {
		key, ok := idKey([]byte(id))
		if !ok {
			panic("x12: bad known segment id " + id)
		}
		for h := idHash(key); ; h = (h + 1) & (1<<idTableBits - 1) {
			if t[h].key == key {
				break
			}
			if t[h].key == 0 {
				t[h] = idSlot{key, id}
				break
			}
		}
	}
	return t
}()

func idHash(key uint32) uint32 { return (key * 2654435761) >> (32 - idTableBits) }

// lookupID returns the interned id for key, or "" when it is not a known id.
func lookupID(key uint32) string {
	for h := idHash(key); ; h = (h + 1) & (1<<idTableBits - 1) {
		s := &idTable[h]
		if s.key == key {
			return s.id
		}
		if s.key == 0 {
			return ""
		}
	}
}
