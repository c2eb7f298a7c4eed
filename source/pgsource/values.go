package pgsource

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
)

// UnavailableValue stands, as Debezium's placeholder does, for a column whose
// value the change does not carry: an unchanged TOASTed (large) value in an
// update of a table without REPLICA IDENTITY FULL.
const UnavailableValue = "__debezium_unavailable_value"

// valueDecoder turns the text form of a column value, as pgoutput sends it,
// into a JSON value: nil, bool, string, json.Number, json.RawMessage or []any
// of those. It never fails: a value pgtype cannot decode, or of a type it does
// not know (enums, domains, composites, extension types), is carried as its
// Postgres text form, a JSON string.
type valueDecoder struct {
	m *pgtype.Map
}

func newValueDecoder() *valueDecoder { return &valueDecoder{m: pgtype.NewMap()} }

// Text forms of the special values.
const (
	textInfinity    = "infinity"
	textNegInfinity = "-infinity"
)

// value decodes the text form of a value of type oid.
func (d *valueDecoder) value(oid uint32, text []byte) any {
	switch oid {
	case pgtype.BoolOID:
		var v pgtype.Bool
		if d.scan(oid, text, &v) && v.Valid {
			return v.Bool
		}
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID, pgtype.XIDOID, pgtype.CIDOID:
		var v pgtype.Int8
		if d.scan(pgtype.Int8OID, text, &v) && v.Valid {
			return json.Number(strconv.FormatInt(v.Int64, 10))
		}
	case pgtype.Float4OID:
		var v pgtype.Float4
		if d.scan(oid, text, &v) && v.Valid && finite(float64(v.Float32)) {
			return json.Number(strconv.FormatFloat(float64(v.Float32), 'g', -1, 32))
		}
	case pgtype.Float8OID:
		var v pgtype.Float8
		if d.scan(oid, text, &v) && v.Valid && finite(v.Float64) {
			return json.Number(strconv.FormatFloat(v.Float64, 'g', -1, 64))
		}
	case pgtype.NumericOID:
		// The exact decimal text, as Debezium's decimal.handling.mode=string:
		// a JSON number would lose digits in any float64 decoder.
		var v pgtype.Numeric
		if d.scan(oid, text, &v) && v.Valid {
			return string(text)
		}
	case pgtype.JSONOID, pgtype.JSONBOID:
		if json.Valid(text) {
			var b bytes.Buffer
			if json.Compact(&b, text) == nil {
				return json.RawMessage(b.Bytes())
			}
		}
	case pgtype.DateOID:
		var v pgtype.Date
		if d.scan(oid, text, &v) && v.Valid {
			switch v.InfinityModifier {
			case pgtype.Infinity:
				return textInfinity
			case pgtype.NegativeInfinity:
				return textNegInfinity
			}
			if y := v.Time.Year(); y >= 1 && y <= 9999 {
				return v.Time.Format(time.DateOnly)
			}
		}
	case pgtype.TimestamptzOID:
		var v pgtype.Timestamptz
		if d.scan(oid, text, &v) && v.Valid {
			switch v.InfinityModifier {
			case pgtype.Infinity:
				return textInfinity
			case pgtype.NegativeInfinity:
				return textNegInfinity
			}
			if t := v.Time.UTC(); t.Year() >= 1 && t.Year() <= 9999 {
				return t.Format(time.RFC3339Nano)
			}
		}
	case pgtype.TimestampOID:
		var v pgtype.Timestamp
		if d.scan(oid, text, &v) && v.Valid {
			switch v.InfinityModifier {
			case pgtype.Infinity:
				return textInfinity
			case pgtype.NegativeInfinity:
				return textNegInfinity
			}
			if y := v.Time.Year(); y >= 1 && y <= 9999 {
				return v.Time.Format("2006-01-02T15:04:05.999999999")
			}
		}
	case pgtype.ByteaOID:
		var v []byte
		if d.scan(oid, text, &v) {
			return base64.StdEncoding.EncodeToString(v)
		}
	default:
		if t, ok := d.m.TypeForOID(oid); ok {
			if ac, ok := t.Codec.(*pgtype.ArrayCodec); ok && ac.ElementType != nil {
				if v, ok := d.array(oid, ac.ElementType.OID, text); ok {
					return v
				}
			}
		}
	}
	return validString(text)
}

// scan decodes text into dst through pgtype, reporting success. A panic in a
// codec (malformed input) counts as a failure.
func (d *valueDecoder) scan(oid uint32, text []byte, dst any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return d.m.Scan(oid, pgtype.TextFormatCode, text, dst) == nil
}

// array decodes an array's text form into nested []any, one level per
// dimension (lower bounds are not kept), each element decoded by its type.
func (d *valueDecoder) array(oid, elem uint32, text []byte) (any, bool) {
	var a pgtype.Array[*string]
	if !d.scan(oid, text, &a) || !a.Valid {
		return nil, false
	}
	if len(a.Dims) == 0 {
		return []any{}, true
	}
	flat := make([]any, len(a.Elements))
	for i, e := range a.Elements {
		if e != nil {
			flat[i] = d.value(elem, []byte(*e))
		}
	}
	var nest func(dim int, xs []any) []any
	nest = func(dim int, xs []any) []any {
		if dim == len(a.Dims)-1 {
			return xs
		}
		n := int(a.Dims[dim].Length)
		if n <= 0 {
			return []any{}
		}
		size := len(xs) / n
		out := make([]any, n)
		for i := range out {
			out[i] = nest(dim+1, xs[i*size:(i+1)*size])
		}
		return out
	}
	return nest(0, flat), true
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// validString returns text as a string, with invalid UTF-8 (possible in a
// SQL_ASCII database) replaced so the JSON body stays valid.
func validString(text []byte) string {
	if utf8.Valid(text) {
		return string(text)
	}
	return string(bytes.ToValidUTF8(text, []byte("\uFFFD")))
}

// appendJSON appends v, a value from valueDecoder.value, as JSON.
func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case string:
		return appendString(b, v)
	case json.Number:
		return append(b, v...)
	case json.RawMessage:
		return append(b, v...)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	}
	// Not reached: value returns only the types above.
	out, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, out...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (valid UTF-8 assumed; invalid
// bytes become U+FFFD), escaping only what JSON requires plus U+2028/U+2029.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
