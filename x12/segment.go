package x12

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"math/bits"
	"unsafe"
)

// Segment is one X12 segment: its bytes without the terminator, the delimiters of
// its interchange and its Position.
//
// A Segment returned by [Reader.Read] is a view into the Reader's buffer and is
// valid only until the next call to Read: its byte slices are overwritten after
// that. [Segment.Clone] and [Segment.AppendClone] make owned copies that stay
// valid. Strings returned by a view (Element, Component, ...) are copies and stay
// valid; on an owned segment they share its memory and cost no allocation.
//
// Element, component and repetition positions are 1-based as in the implementation
// guides (CLM05-3 is Component(5, 3)). Trailing empty elements are omitted in X12,
// so an absent element reads as "" (or nil bytes): index defensively.
//
// The ISA segment is never split on the component or repetition separator: ISA11
// and ISA16 hold those separators themselves, so Component(i, 1) and
// RepetitionComponent(i, 1, 0) of an ISA return the whole element.
//
// A Segment is four machine words, so that the compiler keeps it in registers
// when it is passed and returned by value; its position is packed and built by
// Pos. A segment is at most 1 GiB long.
type Segment struct {
	ptr  *byte   // first byte of the segment (nil for the zero Segment)
	info uint64  // bits 0-29 length, bit 30 owned, bit 31 ISA, bits 32-63 Index
	loc  uint64  // bits 0-47 input offset, bits 48-63 id code (0: no valid id)
	ctx  *segCtx // delimiters, envelope control numbers and loop: shared, never modified
}

// segCtx holds what many segments share. It is never modified once a Segment
// refers to it.
type segCtx struct {
	d                                     Delimiters
	interchange, group, transaction, loop string
}

const (
	maxSegLen  = 1<<30 - 1
	lenMask    = 1<<30 - 1
	flagOwned  = 1 << 30
	flagISA    = 1 << 31
	offMask    = 1<<48 - 1
	maxIndex   = 1<<32 - 1
	infoIdxShr = 32
	locCodeShr = 48
)

func makeSegment(raw []byte, code uint16, off int64, index int, flags uint64, ctx *segCtx) Segment {
	if off < 0 || off > offMask {
		off = offMask
	}
	if index < 0 || index > maxIndex {
		index = maxIndex
	}
	s := Segment{info: uint64(len(raw)) | flags | uint64(index)<<infoIdxShr, loc: uint64(off) | uint64(code)<<locCodeShr, ctx: ctx}
	if len(raw) > 0 {
		s.ptr = &raw[0]
	}
	if code == codeISA {
		s.info |= flagISA
	}
	return s
}

// NewOwnedSegment returns an owned Segment over raw, the bytes of one segment
// without its terminator. raw must never be modified afterwards: the strings
// returned by the segment share its memory. pos.SegmentID is set from raw.
// It makes one small allocation for the position; [Segment.AppendClone] makes
// none. It panics when raw is longer than 1 GiB.
func NewOwnedSegment(raw []byte, d Delimiters, pos Position) Segment {
	if len(raw) > maxSegLen {
		panic("x12: NewOwnedSegment: segment longer than 1 GiB")
	}
	ctx := &segCtx{d: d, interchange: pos.Interchange, group: pos.Group, transaction: pos.Transaction, loop: pos.Loop}
	return makeSegment(raw, idCode(raw, d.Element), pos.Offset, pos.Index, flagOwned, ctx)
}

// ID returns the segment id, such as "CLM", or "" for the zero Segment and a
// malformed id. Every well-formed id is interned: ID never allocates.
func (s Segment) ID() string { return idString(uint16(s.loc >> locCodeShr)) }

// Pos returns the position of the segment.
func (s Segment) Pos() Position {
	p := Position{Offset: int64(s.loc & offMask), Index: int(s.info >> infoIdxShr), SegmentID: s.ID()}
	if c := s.ctx; c != nil {
		p.Interchange, p.Group, p.Transaction, p.Loop = c.interchange, c.group, c.transaction, c.loop
	}
	return p
}

// Delimiters returns the delimiters of the segment's interchange.
func (s Segment) Delimiters() Delimiters {
	if s.ctx == nil {
		return Delimiters{}
	}
	return s.ctx.d
}

func (s Segment) elemSep() byte {
	if s.ctx == nil {
		return 0
	}
	return s.ctx.d.Element
}

func (s Segment) repSep() byte {
	if s.ctx == nil {
		return 0
	}
	return s.ctx.d.Repetition
}

func (s Segment) compSep() byte {
	if s.ctx == nil {
		return 0
	}
	return s.ctx.d.Component
}
func (s Segment) isISA() bool { return s.info&flagISA != 0 }

// Raw returns the bytes of the segment without its terminator. For a segment
// returned by Read they are valid until the next Read. Never modify them: on an
// owned segment (a Decoder record's, or a clone) the strings returned by its
// accessors share these bytes and would change.
func (s Segment) Raw() []byte {
	if s.ptr == nil {
		return nil
	}
	return unsafe.Slice(s.ptr, s.info&lenMask)
}

// Owned reports whether the segment owns its bytes (from Clone, AppendClone or
// NewOwnedSegment) and so stays valid after the next Read.
func (s Segment) Owned() bool { return s.info&flagOwned != 0 }

// Len returns the number of elements after the segment id as present in the
// input, trailing empty elements included when the sender wrote them.
func (s Segment) Len() int {
	raw := s.Raw()
	if len(raw) == 0 {
		return 0
	}
	return bytes.Count(raw, []byte{s.elemSep()})
}

// ElementBytes returns element i (1-based; 0 is the segment id), or nil when the
// segment has fewer elements. An element that is present but empty is returned
// as an empty, non-nil slice. The bytes belong to the segment: do not modify them.
func (s Segment) ElementBytes(i int) []byte {
	if i < 0 {
		return nil
	}
	return field(s.Raw(), s.elemSep(), i)
}

// Element returns element i (1-based; 0 is the segment id) as a string, "" when
// absent. On a view it copies; on an owned segment it shares memory.
func (s Segment) Element(i int) string {
	return s.str(s.ElementBytes(i))
}

// ComponentBytes returns component j (1-based) of the first repetition of
// element i, or nil when absent. The bytes belong to the segment: do not modify
// them.
func (s Segment) ComponentBytes(i, j int) []byte {
	if j < 1 {
		return nil
	}
	e := s.ElementBytes(i)
	if e == nil {
		return nil
	}
	if s.isISA() {
		if j == 1 {
			return e
		}
		return nil
	}
	if rs := s.repSep(); rs != 0 {
		e = field(e, rs, 0)
	}
	return field(e, s.compSep(), j-1)
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
	if s.isISA() || s.repSep() == 0 {
		return 1
	}
	return bytes.Count(e, []byte{s.repSep()}) + 1
}

// RepetitionComponentBytes returns component j (1-based) of repetition r
// (1-based) of element i; j = 0 returns the whole repetition. nil when absent.
// The bytes belong to the segment: do not modify them.
func (s Segment) RepetitionComponentBytes(i, r, j int) []byte {
	if r < 1 || j < 0 {
		return nil
	}
	e := s.ElementBytes(i)
	if e == nil {
		return nil
	}
	if s.isISA() {
		if r == 1 && j <= 1 {
			return e
		}
		return nil
	}
	if rs := s.repSep(); rs != 0 {
		e = field(e, rs, r-1)
	} else if r != 1 {
		return nil
	}
	if e == nil || j == 0 {
		return e
	}
	return field(e, s.compSep(), j-1)
}

// RepetitionComponent returns component j (1-based) of repetition r (1-based) of
// element i; j = 0 returns the whole repetition. "" when absent.
func (s Segment) RepetitionComponent(i, r, j int) string {
	return s.str(s.RepetitionComponentBytes(i, r, j))
}

// Clone returns an owned copy of the segment that stays valid after the next
// Read. It makes one allocation (none when the segment is already owned).
func (s Segment) Clone() Segment {
	if s.Owned() {
		return s
	}
	if raw := s.Raw(); len(raw) > 0 {
		s.ptr = &bytes.Clone(raw)[0]
	}
	s.info |= flagOwned
	return s
}

// AppendClone appends the segment's bytes to dst and returns an owned segment
// over the appended copy, with the grown dst. Many segments can be copied into
// one buffer this way without an allocation per segment. The copied bytes must
// not be modified afterwards: do not reuse dst (dst[:0]) while any segment
// copied into it is in use.
func (s Segment) AppendClone(dst []byte) (Segment, []byte) {
	raw := s.Raw()
	n := len(dst)
	dst = append(dst, raw...)
	if len(raw) > 0 {
		s.ptr = &dst[n]
	}
	s.info |= flagOwned
	return s, dst
}

// WithLoop returns the segment with Pos().Loop set to loop. It makes one small
// allocation unless the loop is already set.
func (s Segment) WithLoop(loop string) Segment {
	if s.ctx != nil && s.ctx.loop == loop {
		return s
	}
	var c segCtx
	if s.ctx != nil {
		c = *s.ctx
	}
	c.loop = loop
	s.ctx = &c
	return s
}

// LogValue implements [slog.LogValuer]. It logs the segment id and position
// only, never element values, so a Segment can be logged without leaking PHI.
func (s Segment) LogValue() slog.Value {
	p := s.Pos()
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
	if s.Owned() {
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
	i := 0
	for ; n > 0; n-- {
		k := indexSep(b, i, sep)
		if k < 0 {
			return nil
		}
		i = k + 1
	}
	end := indexSep(b, i, sep)
	if end < 0 {
		end = len(b)
	}
	return b[i:end:end]
}

// indexSep returns the index of the first sep in b at or after i, or -1.
// Elements are short, so instead of calling bytes.IndexByte it tests eight
// bytes at a time in a word, without a branch per byte.
func indexSep(b []byte, i int, sep byte) int {
	pat := swarLo * uint64(sep)
	for ; i+8 <= len(b); i += 8 {
		if t := zeroBytes(binary.LittleEndian.Uint64(b[i:]) ^ pat); t != 0 {
			return i + bits.TrailingZeros64(t)>>3
		}
	}
	for ; i < len(b); i++ {
		if b[i] == sep {
			return i
		}
	}
	return -1
}

const (
	swarLo = 0x0101010101010101
	swar7F = 0x7F7F7F7F7F7F7F7F
)

// zeroBytes returns a word with the high bit set in exactly the bytes of x
// that are zero.
func zeroBytes(x uint64) uint64 {
	return ^((x&swar7F + swar7F) | x | swar7F)
}

// AppendElements appends the elements of the segment to dst, the segment id
// first, so that with e := s.AppendElements(buf[:0]), e[i] is element i, and
// returns the extended slice. It splits the segment in one pass: use it when
// reading many elements of one segment. The slices belong to the segment.
// An ISA is split on its element separator only, like ElementBytes does.
func (s Segment) AppendElements(dst [][]byte) [][]byte {
	raw := s.Raw()
	if raw == nil {
		return dst
	}
	sep := s.elemSep()
	pat := swarLo * uint64(sep)
	start, i := 0, 0
	for ; i+8 <= len(raw); i += 8 {
		for t := zeroBytes(binary.LittleEndian.Uint64(raw[i:]) ^ pat); t != 0; t &= t - 1 {
			k := i + bits.TrailingZeros64(t)>>3
			dst = append(dst, raw[start:k:k])
			start = k + 1
		}
	}
	for ; i < len(raw); i++ {
		if raw[i] == sep {
			dst = append(dst, raw[start:i:i])
			start = i + 1
		}
	}
	return append(dst, raw[start:len(raw):len(raw)])
}

// Segment ids are 2 or 3 characters: an upper-case letter, then upper-case
// letters or digits. Each well-formed id has a code (1 to 34632) that packs into
// a Segment, and its string is a slice of allIDs, so ids never allocate.
const (
	idAlnum  = 36                           // A-Z then 0-9
	idCodes  = 26 * idAlnum * (idAlnum + 1) // third character or none
	codeNone = 0
)

// alnumIdx maps A-Z to 1-26 and 0-9 to 27-36; other bytes to 0.
var alnumIdx = func() (t [256]uint8) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = uint8(c-'A') + 1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = uint8(c-'0') + 27
	}
	return t
}()

// allIDs holds every well-formed id, three bytes per code (a space pads
// two-character ids).
var allIDs = func() string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 0, 3*idCodes)
	for a := 0; a < 26; a++ {
		for c1 := 0; c1 < idAlnum; c1++ {
			b = append(b, chars[a], chars[c1], ' ')
			for c2 := 0; c2 < idAlnum; c2++ {
				b = append(b, chars[a], chars[c1], chars[c2])
			}
		}
	}
	return string(b)
}()

// idCode returns the code of the id that starts raw (ended by sep or the end of
// raw), or codeNone when the id is malformed.
func idCode(raw []byte, sep byte) uint16 {
	if len(raw) < 2 {
		return codeNone
	}
	a, b := alnumIdx[raw[0]], alnumIdx[raw[1]]
	if a == 0 || a > 26 || b == 0 {
		return codeNone
	}
	var c uint8
	if len(raw) > 2 && raw[2] != sep {
		c = alnumIdx[raw[2]]
		if c == 0 || len(raw) > 3 && raw[3] != sep {
			return codeNone
		}
	}
	return uint16((int(a-1)*idAlnum+int(b-1))*(idAlnum+1)+int(c)) + 1
}

// idString returns the id of a code.
func idString(code uint16) string {
	if code == codeNone || int(code) > idCodes {
		return ""
	}
	c := int(code) - 1
	if c%(idAlnum+1) == 0 {
		return allIDs[3*c : 3*c+2]
	}
	return allIDs[3*c : 3*c+3]
}

func mustCode(id string) uint16 {
	c := idCode([]byte(id), 0)
	if c == codeNone {
		panic("x12: bad segment id " + id)
	}
	return c
}

// Codes of the envelope segments.
var (
	codeISA = mustCode("ISA")
	codeIEA = mustCode("IEA")
	codeGS  = mustCode("GS")
	codeGE  = mustCode("GE")
	codeST  = mustCode("ST")
	codeSE  = mustCode("SE")
	codeTA1 = mustCode("TA1")
)

// envelopeCode marks the codes of the envelope segments, which the Reader's
// fast path leaves to its slow path.
var envelopeCode = func() (t [idCodes/64 + 1]uint64) {
	for _, c := range []uint16{codeISA, codeIEA, codeGS, codeGE, codeST, codeSE, codeTA1} {
		t[c/64] |= 1 << (c % 64)
	}
	return t
}()

func isEnvelope(code uint16) bool { return envelopeCode[code/64]&(1<<(code%64)) != 0 }
