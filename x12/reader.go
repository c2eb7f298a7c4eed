package x12

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// DefaultMaxSegmentLength is the segment length limit used when
// Reader.MaxSegmentLength is 0.
const DefaultMaxSegmentLength = 1 << 20

// maxWarnings bounds the lenient-mode findings kept when OnWarning is nil.
const maxWarnings = 1000

const initialBufSize = 64 << 10

// Envelope carries the envelope headers in force: the interchange (ISA), the
// functional group (GS) and the transaction set (ST). Its fields are control
// numbers, ids, dates and versions, never PHI. Values are as sent, with the
// padding of the fixed-width ISA fields removed.
type Envelope struct {
	ISA ISAHeader // interchange control header
	GS  GSHeader  // functional group header
	ST  STHeader  // transaction set header
}

// ISAHeader holds the ISA interchange control header. The authorization and
// security information (ISA02, ISA04) are not kept: they may be passwords.
type ISAHeader struct {
	AuthQualifier     string // ISA01 authorization information qualifier
	SecurityQualifier string // ISA03 security information qualifier
	SenderQualifier   string // ISA05 interchange id qualifier
	SenderID          string // ISA06 interchange sender id
	ReceiverQualifier string // ISA07 interchange id qualifier
	ReceiverID        string // ISA08 interchange receiver id
	Date              string // ISA09 YYMMDD
	Time              string // ISA10 HHMM
	Version           string // ISA12 interchange control version number, e.g. "00501"
	Control           string // ISA13 interchange control number
	AckRequested      string // ISA14 "0" or "1"
	Usage             string // ISA15 "P" production, "T" test
}

// GSHeader holds the GS functional group header.
type GSHeader struct {
	FunctionalID string // GS01 functional identifier code, e.g. "HC"
	Sender       string // GS02 application sender's code
	Receiver     string // GS03 application receiver's code
	Date         string // GS04 CCYYMMDD
	Time         string // GS05 HHMM[SS[D[D]]]
	Control      string // GS06 group control number
	Agency       string // GS07 responsible agency code, "X"
	Version      string // GS08 version / release / industry identifier, e.g. "005010X222A1"
}

// STHeader holds the ST transaction set header.
type STHeader struct {
	ID         string // ST01 transaction set identifier code, e.g. "837"
	Control    string // ST02 transaction set control number
	Convention string // ST03 implementation convention reference, e.g. "005010X222A1"
}

type readerState uint8

const (
	stTop         readerState = iota // expecting ISA
	stInterchange                    // inside ISA/IEA, outside GS/GE
	stGroup                          // inside GS/GE, outside ST/SE
	stTx                             // inside ST/SE
)

// Reader reads the segments of X12 interchanges from an io.Reader, checking the
// ISA/GS/ST envelopes as it goes. Like encoding/csv, its exported fields
// configure it and must be set before the first call to Read.
//
// The delimiters are taken from each ISA: the element separator at offset 3,
// the repetition separator ISA11 (offset 82), the component separator ISA16
// (offset 104) and the segment terminator (offset 105); the ISA itself is never
// split on its component separator. Any byte values work, control characters
// included, as long as the four are distinct and not letters or digits (an
// ISA11 that is a letter or digit, like the "U" of 4010, means no repetition
// separator). White space (space, tab, CR, LF, VT, FF) before a segment is
// skipped, so CR, LF or CRLF after the terminators and blank lines do no harm,
// and CR or LF can be the terminator itself; empty segments are skipped too. A
// UTF-8 byte order mark before an ISA is skipped. An input may hold several
// interchanges, each with several functional groups of several transaction
// sets; the delimiters are read again at every ISA.
//
// Read returns a segment or an error, never both. Segments carry their
// Position: input offset, index within the transaction set (ST = 1) and the
// ISA13, GS06 and ST02 control numbers; Loop is left to the Decoder.
// Read does not allocate for segments inside a transaction set; it allocates a
// little at each envelope header.
//
// # Envelope checks
//
// The Reader checks SE01 (segment count, ST and SE included) and SE02 = ST02,
// GE01 (number of ST) and GE02 = GS06, IEA01 (number of GS) and IEA02 = ISA13,
// that every ST, GS and ISA is closed by its trailer (also at end of input), that
// no segment stands outside ST/SE, that ST02, GS06 and ISA13 are valid control
// numbers, and that the input does not end inside a segment.
//
// By default (strict), each finding is returned by Read as a *SyntaxError, one
// per call, and reading can go on: the next Read continues with the input after
// the finding. The segment at which a finding was made is returned by the next
// Read when it is itself sound: a count mismatch on SE is returned as the
// error, then the SE; an SE missing before a GS is returned as the error, then
// the GS (the open transaction set is closed first). Segments outside an
// envelope are skipped; a run of them is reported once, at its first segment.
// Input that ends inside a segment is reported with ErrTruncated and the partial
// segment is dropped.
//
// With Lenient set, these envelope findings are passed to OnWarning (or kept,
// see [Reader.Warnings]) instead, and Read returns only segments, io.EOF and the
// errors below; a partial segment at the end of input is then returned as a
// segment.
//
// Some errors are returned in both modes: ErrSegmentID (a segment whose id is
// malformed; it is skipped and reading can go on), and the fatal ones after
// which every Read returns the same error: ErrISA and ErrDelimiters (an
// interchange whose delimiters cannot be known), ErrTooLong (a segment longer
// than MaxSegmentLength: memory stays bounded on any input), ErrTruncated inside
// an ISA, and errors of the underlying io.Reader.
type Reader struct {
	// TolerantISA reads ISA segments whose fields are not padded to their fixed
	// widths: the element separator is taken at offset 3, exactly 16 element
	// separators are walked, the next byte is ISA16 (the component separator) and
	// the byte after it is the segment terminator. By default an ISA whose element
	// separators are not at their fixed offsets is ErrISA.
	TolerantISA bool

	// Lenient reports envelope findings (count and control-number mismatches,
	// missing trailers, segments outside an envelope, invalid control numbers,
	// a missing final terminator) to OnWarning instead of returning them from
	// Read, and goes on: many real files carry wrong counts.
	Lenient bool

	// OnWarning, when set, is called with each lenient-mode finding. When nil,
	// findings are kept and returned by Warnings.
	OnWarning func(*SyntaxError)

	// MaxSegmentLength limits the length of a segment in bytes (terminator
	// excluded); 0 means DefaultMaxSegmentLength (1 MiB). A longer segment is
	// ErrTooLong. Values above 1 GiB are taken as 1 GiB.
	MaxSegmentLength int

	rd    io.Reader
	buf   []byte
	pos   int   // next unread byte in buf
	end   int   // end of data in buf
	base  int64 // input offset of buf[0]
	scan  int   // buf[pos:scan] is known to hold no terminator
	rerr  error // error (io.EOF included) from rd, pending until buf is drained
	fatal error // sticky error; io.EOF once the end of input has been handled
	max   int   // segment length limit in force

	d      Delimiters
	haveD  bool
	state  readerState
	env    Envelope
	lastST STHeader // the previous ST header, whose values the next one often repeats
	isaCtl string   // raw control numbers, for trailer comparison
	gsCtl  string
	stCtl  string
	ctxI   *segCtx // delimiters and valid control numbers of the open envelopes
	ctxG   *segCtx
	ctxT   *segCtx
	groups int  // GS read in the current interchange
	sets   int  // ST read in the current group
	segs   int  // segments read in the current transaction set
	noGS   bool // the current group was opened by an ST without GS

	queue    []*SyntaxError // findings to return, in order
	pend     Segment        // segment to return after the queued findings
	hasPend  bool
	run      *SyntaxError // run of skipped segments being collapsed
	runN     int
	warnings []*SyntaxError
	consumed int64 // input offset after the last segment read
}

// NewReader returns a Reader that reads from r. It does its own buffering.
func NewReader(r io.Reader) *Reader {
	return &Reader{rd: r}
}

// Delimiters returns the delimiters of the current interchange (the zero value
// before the first ISA).
func (r *Reader) Delimiters() Delimiters { return r.d }

// Envelope returns the headers of the interchange, functional group and
// transaction set that hold the last segment returned by Read. A trailer (SE,
// GE, IEA) is still under its header; the next header replaces it.
func (r *Reader) Envelope() Envelope { return r.env }

// InputOffset returns the input offset just after the last segment (terminator
// included) read so far.
func (r *Reader) InputOffset() int64 { return r.consumed }

// Warnings returns the lenient-mode findings kept so far when OnWarning is nil
// (at most 1000; later ones are dropped).
func (r *Reader) Warnings() []*SyntaxError { return r.warnings }

// Read returns the next segment. It returns io.EOF at the end of input (an
// empty input included) and a *SyntaxError for findings in the input; see
// [Reader] for which errors reading can go on after. The segment is a view
// valid until the next call to Read; see [Segment.Clone].
func (r *Reader) Read() (Segment, error) {
	// Fast path: a segment inside a transaction set with a known, non-envelope
	// id, wholly in the buffer.
	if r.state == stTx && len(r.queue) == 0 && !r.hasPend && r.fatal == nil {
		buf := r.buf[:r.end]
		p := r.pos
		for p < len(buf) && buf[p] <= ' ' && isSpace(buf[p]) {
			p++
		}
		if p < len(buf) {
			if k := bytes.IndexByte(buf[p:], r.d.Segment); k > 2 && k <= r.max {
				raw := buf[p : p+k : p+k]
				if code := idCode(raw, r.d.Element); code != codeNone && !isEnvelope(code) && r.segs < maxIndex {
					r.pos = p + k + 1
					r.scan = r.pos
					r.segs++
					off := r.base + int64(p)
					r.consumed = off + int64(k) + 1
					return Segment{ptr: &raw[0], info: uint64(k) | uint64(r.segs)<<infoIdxShr,
						loc: uint64(off)&offMask | uint64(code)<<locCodeShr, ctx: r.ctxT}, nil
				}
			}
		}
	}
	return r.readSlow()
}

func (r *Reader) readSlow() (Segment, error) {
	if r.max == 0 {
		r.max = r.MaxSegmentLength
		if r.max <= 0 {
			r.max = DefaultMaxSegmentLength
		}
		r.max = min(r.max, maxSegLen)
	}
	for {
		if len(r.queue) > 0 {
			e := r.queue[0]
			r.queue[0] = nil
			r.queue = r.queue[1:]
			if len(r.queue) == 0 {
				r.queue = nil
			}
			return Segment{}, e
		}
		if r.hasPend {
			r.hasPend = false
			s := r.pend
			r.pend = Segment{}
			return s, nil
		}
		if r.fatal != nil {
			return Segment{}, r.fatal
		}
		s, ok := r.step()
		if !ok {
			continue
		}
		if len(r.queue) > 0 {
			r.pend, r.hasPend = s, true
			continue
		}
		return s, nil
	}
}

// report queues a finding, or passes it to the warning path in lenient mode.
func (r *Reader) report(e *SyntaxError, lenientOK bool) {
	if lenientOK && r.Lenient {
		if r.OnWarning != nil {
			r.OnWarning(e)
		} else if len(r.warnings) < maxWarnings {
			r.warnings = append(r.warnings, e)
		}
		return
	}
	r.queue = append(r.queue, e)
}

// fail makes err sticky, returned after the findings already queued.
func (r *Reader) fail(err error) {
	r.fatal = err
}

// flushRun reports a pending run of skipped segments.
func (r *Reader) flushRun() {
	if r.run == nil {
		return
	}
	if r.runN == 1 {
		r.run.detail = "1 segment outside " + r.run.detail
	} else {
		r.run.detail = strconv.Itoa(r.runN) + " segments outside " + r.run.detail
	}
	r.report(r.run, true)
	r.run, r.runN = nil, 0
}

// skip drops a segment that stands outside the envelope allowing it, collapsing
// a run of them into one finding.
func (r *Reader) skip(s Segment, where string) {
	if r.run == nil {
		p := s.Pos()
		p.Index = 0
		r.run = &SyntaxError{Pos: p, Err: ErrUnexpectedSegment, TA1: "024", detail: where}
	}
	r.runN++
}

// step reads and processes one segment. It returns the segment and true when
// the segment is to be returned by Read (after any queued findings).
func (r *Reader) step() (Segment, bool) {
	if r.state == stTop {
		return r.readISA()
	}
	raw, start, err := r.nextRaw()
	switch err {
	case nil:
		return r.process(raw, start)
	case io.EOF:
		r.atEOF()
	case errTail:
		r.flushRun()
		e := &SyntaxError{Pos: r.envPos(r.base + int64(start)), Err: ErrTruncated, TA1: "023", detail: "input ends inside a segment"}
		r.report(e, true)
		if r.Lenient {
			return r.process(raw, start)
		}
	default:
		r.flushRun()
		r.fail(err)
	}
	return Segment{}, false
}

// envPos returns a position at off carrying the open envelopes' control numbers.
func (r *Reader) envPos(off int64) Position {
	p := Position{Offset: off}
	var e *segCtx
	switch r.state {
	case stInterchange:
		e = r.ctxI
	case stGroup:
		e = r.ctxG
	case stTx:
		e = r.ctxT
	}
	if e != nil {
		p.Interchange, p.Group, p.Transaction = e.interchange, e.group, e.transaction
	}
	return p
}

// atEOF closes open envelopes at the end of input.
func (r *Reader) atEOF() {
	r.flushRun()
	r.closeUntil(stTop, r.base+int64(r.end), "end of input")
	r.fail(io.EOF)
}

// closeUntil reports the trailers missing to bring the state down to s.
func (r *Reader) closeUntil(s readerState, off int64, before string) {
	for r.state > s {
		p := r.envPos(off)
		switch r.state {
		case stTx:
			r.report(&SyntaxError{Pos: p, Err: ErrMissingSegment, IK5: "2", detail: "SE missing before " + before}, true)
			r.state = stGroup
		case stGroup:
			r.report(&SyntaxError{Pos: p, Err: ErrMissingSegment, AK9: "3", detail: "GE missing before " + before}, true)
			r.state = stInterchange
		case stInterchange:
			r.report(&SyntaxError{Pos: p, Err: ErrMissingSegment, TA1: "023", detail: "IEA missing before " + before}, true)
			r.state = stTop
		}
	}
}

var errTail = errors.New("x12: unterminated tail")

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'
}

// fill reads more input into the buffer, moving unread data to its start.
func (r *Reader) fill() {
	if r.pos > 0 {
		n := copy(r.buf, r.buf[r.pos:r.end])
		r.base += int64(r.pos)
		r.scan -= r.pos
		r.end = n
		r.pos = 0
	}
	if r.buf == nil {
		r.buf = make([]byte, initialBufSize)
	} else if r.end == len(r.buf) {
		nb := make([]byte, 2*len(r.buf))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for range 100 {
		n, err := r.rd.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			r.rerr = errors.New("x12: invalid count from io.Reader")
			return
		}
		r.end += n
		if err != nil {
			r.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.rerr = io.ErrNoProgress
}

// nextRaw returns the next non-empty segment (white space before it skipped)
// and its start in buf. It returns errTail with the unterminated rest of the
// input, io.EOF at the end of input, or a fatal error.
func (r *Reader) nextRaw() ([]byte, int, error) {
	term := r.d.Segment
	for {
		for r.pos < r.end && isSpace(r.buf[r.pos]) {
			r.pos++
		}
		if r.pos < r.end {
			r.scan = max(r.scan, r.pos)
			if k := bytes.IndexByte(r.buf[r.scan:r.end], term); k >= 0 {
				start, stop := r.pos, r.scan+k
				r.pos = stop + 1
				r.scan = r.pos
				if stop-start > r.max {
					return nil, 0, r.tooLong(start)
				}
				if stop == start {
					continue // empty segment
				}
				r.consumed = r.base + int64(r.pos)
				return r.buf[start:stop:stop], start, nil
			}
			r.scan = r.end
			if r.end-r.pos > r.max {
				return nil, 0, r.tooLong(r.pos)
			}
		}
		if r.rerr != nil {
			if r.rerr != io.EOF {
				return nil, 0, r.rerr
			}
			if r.pos < r.end {
				start := r.pos
				r.pos, r.scan = r.end, r.end
				r.consumed = r.base + int64(r.end)
				return r.buf[start:r.end:r.end], start, errTail
			}
			return nil, 0, io.EOF
		}
		r.fill()
	}
}

func (r *Reader) tooLong(start int) error {
	return &SyntaxError{Pos: r.envPos(r.base + int64(start)), Err: ErrTooLong, detail: "longer than " + strconv.Itoa(r.max) + " bytes"}
}

// readISA skips white space and byte order marks and reads an ISA.
func (r *Reader) readISA() (Segment, bool) {
	for {
		for r.pos < r.end && isSpace(r.buf[r.pos]) {
			r.pos++
		}
		if r.end-r.pos >= 3 && r.buf[r.pos] == 0xEF && r.buf[r.pos+1] == 0xBB && r.buf[r.pos+2] == 0xBF {
			r.pos += 3
			continue
		}
		res := parseISA(r.buf[r.pos:r.end], r.TolerantISA, false)
		if res.more || r.pos == r.end {
			switch {
			case r.rerr == nil:
				r.fill()
				continue
			case r.rerr != io.EOF:
				r.flushRun()
				r.fail(r.rerr)
				return Segment{}, false
			case r.pos == r.end:
				r.atEOF()
				return Segment{}, false
			}
			res = parseISA(r.buf[r.pos:r.end], r.TolerantISA, true)
		}
		off := r.base + int64(r.pos)
		if res.err == ErrISA && r.haveD && !isISA(r.buf[r.pos:min(r.end, r.pos+4)]) {
			// Data after an IEA: skip it as segments in the last interchange's syntax.
			raw, start, err := r.nextRaw()
			switch err {
			case nil, errTail:
				r.skip(makeSegment(raw, idCode(raw, r.d.Element), r.base+int64(start), 0, 0, nil), "an interchange")
			case io.EOF:
				r.atEOF()
			default:
				r.flushRun()
				r.fail(err)
			}
			return Segment{}, false
		}
		r.flushRun()
		if res.err != nil {
			p := Position{Offset: off}
			if isISA(r.buf[r.pos:min(r.end, r.pos+4)]) {
				p.SegmentID = "ISA"
			}
			e := &SyntaxError{Pos: p, Err: res.err, TA1: res.ta1, detail: res.detail}
			r.fail(e)
			return Segment{}, false
		}
		raw := r.buf[r.pos : r.pos+res.n-1 : r.pos+res.n-1]
		r.pos += res.n
		r.scan = r.pos
		r.consumed = r.base + int64(r.pos)
		r.d, r.haveD = res.d, true
		r.ctxI = &segCtx{d: r.d}
		s := makeSegment(raw, codeISA, off, 0, 0, r.ctxI)
		r.openInterchange(&s)
		return s, true
	}
}

func (r *Reader) openInterchange(s *Segment) {
	el := func(i int) string { return string(bytes.TrimSpace(s.ElementBytes(i))) }
	r.env = Envelope{ISA: ISAHeader{
		AuthQualifier: el(1), SecurityQualifier: el(3),
		SenderQualifier: el(5), SenderID: el(6), ReceiverQualifier: el(7), ReceiverID: el(8),
		Date: el(9), Time: el(10), Version: el(12), Control: el(13), AckRequested: el(14), Usage: el(15),
	}}
	r.isaCtl = r.env.ISA.Control
	if validNumber(r.isaCtl) {
		r.ctxI.interchange = r.isaCtl
	} else {
		r.env.ISA.Control = ""
		r.report(&SyntaxError{Pos: Position{Offset: int64(s.loc & offMask), SegmentID: "ISA", Element: 13}, Err: ErrInvalidValue,
			TA1: "018", detail: "ISA13 is not a control number", value: r.isaCtl}, true)
	}
	r.ctxG, r.ctxT = r.ctxI, r.ctxI
	r.state = stInterchange
	r.groups = 0
	r.gsCtl, r.stCtl = "", ""
}

// reuse returns old when it equals b, which saves an allocation for header
// values that repeat from one envelope to the next.
func reuse(old string, b []byte) string {
	if string(b) == old {
		return old
	}
	return string(b)
}

// validNumber reports whether s is a numeric control number of 1 to 9 digits.
func validNumber(s string) bool {
	if len(s) == 0 || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validControl reports whether s is an alphanumeric control number of 1 to 9
// characters (ST02 is AN 4-9; shorter ones are accepted).
func validControl(s string) bool {
	if len(s) == 0 || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// sameNumber compares control numbers numerically when both are numeric
// (leading zeros ignored), exactly otherwise.
func sameNumber(a []byte, b string) bool {
	if allDigits(a) && validNumber(b) {
		return string(bytes.TrimLeft(a, "0")) == strings.TrimLeft(b, "0")
	}
	return string(a) == b
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// count parses a count element; ok is false when it is not a number.
func count(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// isISA reports whether raw starts an ISA segment.
func isISA(raw []byte) bool {
	return len(raw) >= 3 && raw[0] == 'I' && raw[1] == 'S' && raw[2] == 'A' && (len(raw) == 3 || !isAlnum(raw[3]))
}

// process handles one segment read inside an interchange.
func (r *Reader) process(raw []byte, start int) (Segment, bool) {
	off := r.base + int64(start)
	if isISA(raw) {
		// A new interchange: close the open one, then read the ISA again as fixed width.
		r.flushRun()
		r.closeUntil(stTop, off, "ISA")
		r.pos, r.scan = start, start
		return Segment{}, false
	}
	code := idCode(raw, r.d.Element)
	for {
		switch r.state {
		case stTx:
			switch code {
			case codeST, codeGE, codeGS, codeIEA:
				r.flushRun()
				r.closeUntil(stGroup, off, idString(code))
				continue
			}
			if r.segs < maxIndex {
				r.segs++
			}
			s := makeSegment(raw, code, off, r.segs, 0, r.ctxT)
			if code == codeSE {
				r.flushRun()
				r.closeTx(s)
				return s, true
			}
			if code == codeNone {
				p := s.Pos()
				r.report(&SyntaxError{Pos: p, Err: ErrSegmentID, IK3: "1", value: string(raw[:min(len(raw), 16)])}, false)
				return Segment{}, false
			}
			return s, true
		case stGroup:
			switch code {
			case codeST:
				r.flushRun()
				return r.openTx(raw, off), true
			case codeGE:
				r.flushRun()
				s := makeSegment(raw, code, off, 0, 0, r.ctxG)
				r.closeGroup(s)
				return s, true
			case codeGS, codeIEA:
				r.flushRun()
				r.closeUntil(stInterchange, off, idString(code))
				continue
			}
			r.skip(makeSegment(raw, code, off, 0, 0, r.ctxG), "a transaction set")
			return Segment{}, false
		case stInterchange:
			switch code {
			case codeGS:
				r.flushRun()
				return r.openGroup(raw, off), true
			case codeIEA:
				r.flushRun()
				s := makeSegment(raw, code, off, 0, 0, r.ctxI)
				r.closeInterchange(s)
				return s, true
			case codeTA1:
				r.flushRun()
				return makeSegment(raw, code, off, 0, 0, r.ctxI), true
			case codeST:
				r.flushRun()
				r.report(&SyntaxError{Pos: r.envPos(off), Err: ErrMissingSegment, TA1: "024", detail: "GS missing before ST"}, true)
				r.state = stGroup
				r.noGS = true
				r.sets = 0
				r.gsCtl = ""
				r.ctxG = r.ctxI
				r.env.GS = GSHeader{}
				continue
			}
			r.skip(makeSegment(raw, code, off, 0, 0, r.ctxI), "a functional group")
			return Segment{}, false
		default:
			panic("x12: unreachable reader state")
		}
	}
}

func (r *Reader) openGroup(raw []byte, off int64) Segment {
	r.ctxG = &segCtx{d: r.d, interchange: r.ctxI.interchange}
	s := makeSegment(raw, codeGS, off, 0, 0, r.ctxG)
	g := &r.env.GS
	*g = GSHeader{
		FunctionalID: reuse(g.FunctionalID, s.ElementBytes(1)), Sender: reuse(g.Sender, s.ElementBytes(2)),
		Receiver: reuse(g.Receiver, s.ElementBytes(3)), Date: reuse(g.Date, s.ElementBytes(4)),
		Time: reuse(g.Time, s.ElementBytes(5)), Control: s.Element(6), Agency: reuse(g.Agency, s.ElementBytes(7)),
		Version: reuse(g.Version, s.ElementBytes(8)),
	}
	r.env.ST = STHeader{}
	r.gsCtl, r.stCtl = r.env.GS.Control, ""
	if validNumber(r.gsCtl) {
		r.ctxG.group = r.gsCtl
	} else {
		r.env.GS.Control = ""
	}
	r.ctxT = r.ctxG
	if r.ctxG.group == "" {
		p := s.Pos()
		p.Element = 6
		r.report(&SyntaxError{Pos: p, Err: ErrInvalidValue, AK9: "6", detail: "GS06 is not a control number", value: r.gsCtl}, true)
	}
	r.groups++
	r.sets = 0
	r.noGS = false
	r.state = stGroup
	return s
}

func (r *Reader) openTx(raw []byte, off int64) Segment {
	r.ctxT = &segCtx{d: r.d, interchange: r.ctxG.interchange, group: r.ctxG.group}
	s := makeSegment(raw, codeST, off, 1, 0, r.ctxT)
	h := &r.env.ST
	*h = STHeader{ID: reuse(r.lastST.ID, s.ElementBytes(1)), Control: s.Element(2), Convention: reuse(r.lastST.Convention, s.ElementBytes(3))}
	r.lastST = *h
	r.stCtl = r.env.ST.Control
	if validControl(r.stCtl) {
		r.ctxT.transaction = r.stCtl
	} else {
		r.env.ST.Control = ""
	}
	r.sets++
	r.segs = 1
	r.state = stTx
	if r.ctxT.transaction == "" {
		p := s.Pos()
		p.Element = 2
		r.report(&SyntaxError{Pos: p, Err: ErrInvalidValue, IK5: "7", detail: "ST02 is not a control number", value: r.stCtl}, true)
	}
	return s
}

func (r *Reader) closeTx(s Segment) {
	r.state = stGroup
	se01 := s.ElementBytes(1)
	if n, ok := count(se01); !ok || n != r.segs {
		p := s.Pos()
		p.Element = 1
		r.report(&SyntaxError{Pos: p, Err: ErrSegmentCount, IK5: "4", detail: "counted " + strconv.Itoa(r.segs), value: string(se01)}, true)
	}
	if se02 := s.ElementBytes(2); string(se02) != r.stCtl {
		p := s.Pos()
		p.Element = 2
		r.report(&SyntaxError{Pos: p, Err: ErrControlNumber, IK5: "3", value: string(se02)}, true)
	}
}

func (r *Reader) closeGroup(s Segment) {
	r.state = stInterchange
	r.env.ST = STHeader{}
	ge01 := s.ElementBytes(1)
	if n, ok := count(ge01); !ok || n != r.sets {
		p := s.Pos()
		p.Element = 1
		r.report(&SyntaxError{Pos: p, Err: ErrGroupCount, AK9: "5", detail: "counted " + strconv.Itoa(r.sets), value: string(ge01)}, true)
	}
	if ge02 := s.ElementBytes(2); !r.noGS && !sameNumber(ge02, r.gsCtl) {
		p := s.Pos()
		p.Element = 2
		r.report(&SyntaxError{Pos: p, Err: ErrControlNumber, AK9: "4", value: string(ge02)}, true)
	}
	r.noGS = false
}

func (r *Reader) closeInterchange(s Segment) {
	r.state = stTop
	r.env.ST = STHeader{}
	r.env.GS = GSHeader{}
	iea01 := s.ElementBytes(1)
	if n, ok := count(iea01); !ok || n != r.groups {
		p := s.Pos()
		p.Element = 1
		r.report(&SyntaxError{Pos: p, Err: ErrInterchangeCount, TA1: "021", detail: "counted " + strconv.Itoa(r.groups), value: string(iea01)}, true)
	}
	if iea02 := s.ElementBytes(2); !sameNumber(iea02, r.isaCtl) {
		p := s.Pos()
		p.Element = 2
		r.report(&SyntaxError{Pos: p, Err: ErrControlNumber, TA1: "001", value: string(iea02)}, true)
	}
}
