package fhirmap

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
)

// Sentinel errors say what went wrong while mapping a record; an [*Error]
// wrapping one of them says where. Test for them with errors.Is.
var (
	// ErrMissing reports that data a FHIR element requires is absent from
	// the record (a required segment, element or key part).
	ErrMissing = errors.New("fhirmap: required data missing")
	// ErrInvalidCode reports a code that is not in the code list the mapping
	// expects (an unknown qualifier, claim frequency, gender code).
	ErrInvalidCode = errors.New("fhirmap: invalid code")
	// ErrInvalidValue reports a malformed value: a date, an amount, a
	// quantity, an NPI whose check digit fails.
	ErrInvalidValue = errors.New("fhirmap: invalid value")
	// ErrUnsupported reports valid input that this mapper does not handle
	// (a transaction type, an implementation guide version, a loop).
	ErrUnsupported = errors.New("fhirmap: unsupported input")
	// ErrInconsistent reports values that disagree with each other (an 835
	// claim whose lines do not add up, a date range that ends before it
	// starts).
	ErrInconsistent = errors.New("fhirmap: inconsistent values")
	// ErrUnmatched reports a record that must be joined to another one that
	// could not be found (an 835 claim payment without its 837 claim).
	ErrUnmatched = errors.New("fhirmap: no matching record")
)

// Position locates the source of a mapping error in the X12 input. It mirrors
// the X12 reader's position (without importing it) and adds the business
// record. Everything in it is PHI-free: offsets, indexes, segment and loop
// ids, envelope control numbers.
type Position struct {
	Offset      int64  // byte offset of the segment's first byte in the input stream
	Index       int    // 1-based index of the segment within its transaction set (ST = 1); 0 when unknown
	SegmentID   string // segment id, such as "CLM"
	Loop        string // implementation guide loop id, such as "2300"
	Element     int    // 1-based element position (0 = the whole segment)
	Component   int    // 1-based component position (0 = the whole element)
	Interchange string // ISA13 interchange control number
	Group       string // GS06 group control number
	Transaction string // ST02 transaction set control number
	Record      int    // 1-based index of the business record (837 CLM, 835 CLP, 834 INS loop) in its transaction set; 0 when unknown
}

// IsZero reports whether p holds no location at all.
func (p Position) IsZero() bool { return p == Position{} }

// String formats the position, for example "record 3, offset 1234, segment 17
// CLM (loop 2300), element 5, component 3, ISA13 000000001 GS06 1 ST02 0001".
// Unknown parts are left out; the zero Position formats as "unknown position".
func (p Position) String() string {
	if p.IsZero() {
		return "unknown position"
	}
	b := make([]byte, 0, 112)
	sep := ""
	add := func(s string) {
		b = append(b, sep...)
		b = append(b, s...)
		sep = ", "
	}
	if p.Record > 0 {
		add("record " + strconv.Itoa(p.Record))
	}
	if p.Offset > 0 || p.SegmentID != "" || p.Index > 0 {
		add("offset " + strconv.FormatInt(p.Offset, 10))
	}
	if p.SegmentID != "" || p.Index > 0 || p.Loop != "" {
		s := "segment"
		if p.Index > 0 {
			s += " " + strconv.Itoa(p.Index)
		}
		if p.SegmentID != "" {
			s += " " + p.SegmentID
		}
		if p.Loop != "" {
			s += " (loop " + p.Loop + ")"
		}
		add(s)
	}
	if p.Element > 0 {
		add("element " + strconv.Itoa(p.Element))
		if p.Component > 0 {
			add("component " + strconv.Itoa(p.Component))
		}
	}
	env := ""
	for _, f := range [...]struct{ name, v string }{{"ISA13 ", p.Interchange}, {"GS06 ", p.Group}, {"ST02 ", p.Transaction}} {
		if f.v == "" {
			continue
		}
		if env != "" {
			env += " "
		}
		env += f.name + f.v
	}
	if env != "" {
		add(env)
	}
	return string(b)
}

// Error is a mapping error: what went wrong (Err, a sentinel such as
// [ErrMissing]), where in the X12 input (Pos) and which FHIR element was being
// built (Path, such as "Claim.item[2].productOrService").
//
// Error() never contains an element value, so the error is safe to log and to
// record on the dead-letter path. The offending value, when one is known, is
// kept unexported and is returned only by [Error.Diagnostics], which is PHI.
type Error struct {
	Err  error    // what: a sentinel such as ErrInvalidCode
	Pos  Position // where in the X12 input
	Path string   // where in FHIR: the element being built, with 0-based indexes

	detail string // PHI-free explanation, built from constants only
	value  string // the offending value: may be PHI, shown only by Diagnostics
	cause  error  // an underlying error whose text may quote input: shown only by Diagnostics
}

// NewError returns a mapping error. detail explains the problem in words the
// reader of a log needs ("CLM05-3 is not a claim frequency code"); it must be
// built from constants only, never from input. Use [Error.WithValue] and
// [Error.WithCause] to attach the offending value or an underlying error.
func NewError(err error, pos Position, path, detail string) *Error {
	return &Error{Err: err, Pos: pos, Path: path, detail: detail}
}

// WithValue records the offending value (which may be PHI) for
// [Error.Diagnostics] and returns e.
func (e *Error) WithValue(v string) *Error {
	e.value = v
	return e
}

// WithCause records an underlying error (for example from strconv, whose text
// quotes its input) and returns e. The cause takes part in errors.Is and
// errors.As but its text is shown only by [Error.Diagnostics].
func (e *Error) WithCause(cause error) *Error {
	e.cause = cause
	return e
}

// Detail returns the PHI-free explanation given to [NewError].
func (e *Error) Detail() string { return e.detail }

// Error describes the error with its FHIR path and X12 position, for example
// "fhirmap: invalid code: Claim.type (CLM05-3 is not a claim frequency code)
// at record 1, offset 812, segment 9 CLM (loop 2300), element 5, component 3".
// It never contains an element value.
func (e *Error) Error() string {
	var b strings.Builder
	b.Grow(128)
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("fhirmap: mapping error")
	}
	if e.Path != "" {
		b.WriteString(": ")
		b.WriteString(e.Path)
	}
	if e.detail != "" {
		b.WriteString(" (")
		b.WriteString(e.detail)
		b.WriteByte(')')
	}
	if !e.Pos.IsZero() {
		b.WriteString(" at ")
		b.WriteString(e.Pos.String())
	}
	return b.String()
}

// Unwrap returns the sentinel and, when set, the underlying cause.
func (e *Error) Unwrap() []error {
	switch {
	case e.Err != nil && e.cause != nil:
		return []error{e.Err, e.cause}
	case e.cause != nil:
		return []error{e.cause}
	case e.Err != nil:
		return []error{e.Err}
	}
	return nil
}

// Diagnostics returns Error followed by the offending value and the
// underlying cause's text when they are known.
//
// PHI: the value and the cause may hold a name, a member id, a birth date or
// any other protected health information. Never log Diagnostics or send it
// where PHI must not go.
func (e *Error) Diagnostics() string { return diagnostics(e.Error(), e.value, e.cause) }

// diagnostics appends the offending value and the cause's text (both may be
// PHI) to the PHI-free message msg, for the Diagnostics methods.
func diagnostics(msg, value string, cause error) string {
	if value != "" {
		msg += ": value " + strconv.Quote(value)
	}
	if cause != nil {
		msg += ": cause: " + cause.Error()
	}
	return msg
}

// LogValue logs the error's kind, FHIR path, detail and position: never the
// value or the cause.
func (e *Error) LogValue() slog.Value {
	pos := ""
	if !e.Pos.IsZero() {
		pos = e.Pos.String()
	}
	return logValue(e.Err, e.Path, e.detail, pos)
}

// logValue groups the PHI-free parts of a mapping error for slog, leaving
// out the empty ones, for the LogValue methods.
func logValue(kind error, path, detail, pos string) slog.Value {
	attrs := make([]slog.Attr, 0, 4)
	if kind != nil {
		attrs = append(attrs, slog.String("kind", kind.Error()))
	}
	if path != "" {
		attrs = append(attrs, slog.String("path", path))
	}
	if detail != "" {
		attrs = append(attrs, slog.String("detail", detail))
	}
	if pos != "" {
		attrs = append(attrs, slog.String("pos", pos))
	}
	return slog.GroupValue(attrs...)
}
