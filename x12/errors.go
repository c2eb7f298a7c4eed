package x12

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors say what went wrong; a [*SyntaxError] wrapping one of them says where.
// Test for them with errors.Is.
var (
	// ErrISA reports an ISA segment that cannot be read: the input does not start with
	// "ISA", or the ISA is not fixed width (see [Reader.TolerantISA]).
	ErrISA = errors.New("x12: invalid ISA segment")
	// ErrDelimiters reports delimiters taken from the ISA that are not distinct, or that
	// are letters or digits.
	ErrDelimiters = errors.New("x12: invalid delimiters")
	// ErrSegmentCount reports an SE01 that does not match the number of segments of
	// the transaction set (ST and SE included).
	ErrSegmentCount = errors.New("x12: SE01 does not match the number of segments")
	// ErrControlNumber reports a trailer whose control number does not match its
	// header: SE02 vs ST02, GE02 vs GS06 or IEA02 vs ISA13.
	ErrControlNumber = errors.New("x12: control numbers of header and trailer differ")
	// ErrGroupCount reports a functional group whose GE01 does not match the number
	// of transaction sets (ST) it holds.
	ErrGroupCount = errors.New("x12: GE01 does not match the number of transaction sets")
	// ErrInterchangeCount reports an interchange whose IEA01 does not match the number
	// of functional groups (GS) it holds.
	ErrInterchangeCount = errors.New("x12: IEA01 does not match the number of functional groups")
	// ErrUnexpectedSegment reports a segment where the envelope does not allow one,
	// such as data between GS and ST or after IEA.
	ErrUnexpectedSegment = errors.New("x12: unexpected segment")
	// ErrMissingSegment reports a required segment that is absent, such as an SE,
	// GE or IEA trailer, or a GS before an ST.
	ErrMissingSegment = errors.New("x12: missing segment")
	// ErrEnvelope reports any other violation of the ISA/GS/ST envelope structure.
	ErrEnvelope = errors.New("x12: invalid envelope")
	// ErrTruncated reports input that ends inside a segment (no segment terminator)
	// or inside the fixed-width ISA.
	ErrTruncated = errors.New("x12: truncated input")
	// ErrSegmentID reports a segment whose id is not 2 or 3 upper-case letters or digits.
	ErrSegmentID = errors.New("x12: invalid segment id")
	// ErrLoop reports a segment that does not fit the loop structure of the
	// implementation guide (used by the Decoder).
	ErrLoop = errors.New("x12: segment does not fit the loop structure")
	// ErrRequiredElement reports a required data element that is missing.
	ErrRequiredElement = errors.New("x12: required data element missing")
	// ErrInvalidValue reports a data element whose value is not valid, such as a
	// control number that is not numeric.
	ErrInvalidValue = errors.New("x12: invalid data element value")
	// ErrTooLong reports a segment longer than [Reader.MaxSegmentLength].
	ErrTooLong = errors.New("x12: segment too long")
)

// SyntaxError locates an error in X12 input. Err is one of the sentinel errors
// (ErrSegmentCount, ErrControlNumber, ...), Pos says where it was found, and the
// code fields carry the acknowledgment codes needed to build a 999 (IK3, IK4, IK5,
// AK9) or a TA1 (TA1).
//
// Error never prints an element value: it is safe to log. Diagnostics may include
// the offending value and must be treated as PHI.
type SyntaxError struct {
	Pos Position // where: offset, segment, element, envelope control numbers
	Err error    // what: a sentinel such as ErrSegmentCount

	IK3 string // IK304 segment syntax error code: "1" unrecognized id, "2" unexpected, "3" required segment missing, "8" segment has data element errors
	IK4 string // IK403 element syntax error code: "1" required element missing, "7" invalid code value, "8" invalid date
	IK5 string // IK502 transaction set error code: "2" SE missing, "3" ST02/SE02 differ, "4" segment count, "7" invalid ST02
	AK9 string // AK905 functional group error code: "3" GE missing, "4" GS06/GE02 differ, "5" transaction set count, "6" invalid GS06
	TA1 string // TA105 interchange note code: "001" ISA13/IEA02 differ, "018" invalid ISA13, "021" group count, "023" premature end, "024" invalid content

	detail string // PHI-free detail built only from constants and counts computed by us
	value  string // the offending value: may be PHI, only shown by Diagnostics
}

// Error describes the error with its position and acknowledgment codes. It never
// contains an element value.
func (e *SyntaxError) Error() string {
	var b strings.Builder
	b.Grow(128)
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("x12: syntax error")
	}
	if e.detail != "" {
		b.WriteString(" (")
		b.WriteString(e.detail)
		b.WriteByte(')')
	}
	b.WriteString(" at ")
	b.WriteString(e.Pos.String())
	codes := [...]struct{ name, code string }{{"IK3", e.IK3}, {"IK4", e.IK4}, {"IK5", e.IK5}, {"AK9", e.AK9}, {"TA1", e.TA1}}
	first := true
	for _, c := range codes {
		if c.code == "" {
			continue
		}
		if first {
			b.WriteString(" [")
			first = false
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(c.name)
		b.WriteByte(' ')
		b.WriteString(c.code)
	}
	if !first {
		b.WriteByte(']')
	}
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Diagnostics returns Error followed by the offending value when one is known.
//
// PHI: the value may be a name, a member id or any other protected health
// information. Never log Diagnostics or send it where PHI must not go.
func (e *SyntaxError) Diagnostics() string {
	s := e.Error()
	if e.value == "" {
		return s
	}
	return s + ": value " + strconv.Quote(e.value)
}
