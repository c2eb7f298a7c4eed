package debezium

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors: what is wrong. An [*Error] wraps one and says where.
var (
	// ErrSyntax reports input that is not JSON.
	ErrSyntax = errors.New("debezium: malformed JSON")
	// ErrInvalid reports JSON that is not a change event: a value of the
	// wrong type, a missing op, a value its schema does not allow.
	ErrInvalid = errors.New("debezium: invalid change event")
	// ErrUnknownOp reports an op that is none of c, u, d, r, t, m.
	ErrUnknownOp = errors.New("debezium: unknown operation")
	// ErrNotRowChange reports an event that changes no row (a tombstone, a
	// truncate, a message) where a row change is needed.
	ErrNotRowChange = errors.New("debezium: not a row change")
)

// Error is an error about a change event: what (Err: [ErrSyntax],
// [ErrInvalid] or [ErrUnknownOp]) and where: the byte offset of malformed
// JSON, or the JSON path of a value that does not fit.
//
// Error() never quotes a value from the input: its text is made of constant
// words, the offset and the path, whose parts are object keys (envelope
// fields and column names).
type Error struct {
	Err error
	// Offset is the byte offset in the input where the JSON is malformed;
	// -1 when the error is about a decoded value (see Path).
	Offset int64
	// Path is the JSON path of the offending value, such as
	// "$.payload.after.npi" or "$.schema.fields[1].type"; "" for malformed
	// JSON.
	Path string

	detail string   // constant words
	keys   []string // the object keys in Path, for tests
}

// Detail returns the constant explanation of the error ("not a string").
func (e *Error) Detail() string { return e.detail }

// Error describes the error, for example "debezium: invalid change event at
// $.payload.source.ts_ms (not an integer)" or "debezium: malformed JSON at
// byte 120 (unexpected end of input)".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("debezium: error")
	}
	switch {
	case e.Path != "":
		b.WriteString(" at ")
		b.WriteString(e.Path)
	case e.Offset >= 0:
		b.WriteString(" at byte ")
		b.WriteString(strconv.FormatInt(e.Offset, 10))
	}
	if e.detail != "" {
		b.WriteString(" (")
		b.WriteString(e.detail)
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// path is a JSON path, built as a chain from the value to the root so that
// the success path allocates nothing for it.
type path struct {
	parent *path
	key    string // an object key (index -1)
	index  int    // an array index; -2 for any key of a map ("*")
}

func (p *path) field(key string) *path { return &path{parent: p, key: key, index: -1} }
func (p *path) elem(i int) *path       { return &path{parent: p, index: i} }
func (p *path) anyKey() *path          { return &path{parent: p, index: -2} }

// render formats p as "$.a.b[2]" and returns the object keys in it.
func (p *path) render() (string, []string) {
	var elems []*path
	for q := p; q != nil; q = q.parent {
		elems = append(elems, q)
	}
	var b strings.Builder
	b.WriteByte('$')
	var keys []string
	for i := len(elems) - 1; i >= 0; i-- {
		q := elems[i]
		if q.index == -2 {
			b.WriteString(".*")
			continue
		}
		if q.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(q.index))
			b.WriteByte(']')
			continue
		}
		keys = append(keys, q.key)
		if identifier(q.key) {
			b.WriteByte('.')
			b.WriteString(q.key)
		} else {
			b.WriteString("[")
			b.WriteString(strconv.Quote(q.key))
			b.WriteString("]")
		}
	}
	return b.String(), keys
}

// identifier reports whether s can follow a dot in a path.
func identifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}

// invalid returns an ErrInvalid error at p; detail must be constant.
func invalid(p *path, detail string) *Error {
	return pathError(ErrInvalid, p, detail)
}

func pathError(err error, p *path, detail string) *Error {
	e := &Error{Err: err, Offset: -1, detail: detail}
	e.Path, e.keys = p.render()
	return e
}
