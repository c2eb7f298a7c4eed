package debezium

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// schema is a Kafka Connect schema as JsonConverter writes it.
type schema struct {
	typ    string
	name   string // logical type, "io.debezium.time.Date"
	params map[string]string
	fields []field
	items  *schema // array
	values *schema // map
}

type field struct {
	name string
	s    *schema
}

// fieldSchema returns the schema of a struct's field, nil when s is nil or
// has no such field.
func (s *schema) fieldSchema(name string) *schema {
	if s == nil {
		return nil
	}
	for _, f := range s.fields {
		if f.name == name {
			return f.s
		}
	}
	return nil
}

// maxSchemaDepth bounds the nesting of schemas (Connect schemas of real
// tables are a few levels deep).
const maxSchemaDepth = 64

// parseSchema reads the schema value v at p.
func parseSchema(v any, p *path) (*schema, error) { return parseSchemaDepth(v, p, 0) }

func parseSchemaDepth(v any, p *path, depth int) (*schema, error) {
	if depth > maxSchemaDepth {
		return nil, invalid(p, "schema nested too deeply")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalid(p, "schema is not an object")
	}
	s := &schema{}
	var err error
	if s.typ, err = str(m, "type", p); err != nil {
		return nil, err
	}
	if s.name, err = str(m, "name", p); err != nil {
		return nil, err
	}
	if pv := m["parameters"]; pv != nil {
		pm, ok := pv.(map[string]any)
		if !ok {
			return nil, invalid(p.field("parameters"), "not an object")
		}
		s.params = make(map[string]string, len(pm))
		for k := range pm {
			if s.params[k], err = text(pm, k, p.field("parameters")); err != nil {
				return nil, err
			}
		}
	}
	if fv := m["fields"]; fv != nil {
		fp := p.field("fields")
		fs, ok := fv.([]any)
		if !ok {
			return nil, invalid(fp, "not an array")
		}
		s.fields = make([]field, 0, len(fs))
		for i, f := range fs {
			ep := fp.elem(i)
			sub, err := parseSchemaDepth(f, ep, depth+1)
			if err != nil {
				return nil, err
			}
			name, err := str(f.(map[string]any), "field", ep)
			if err != nil {
				return nil, err
			}
			s.fields = append(s.fields, field{name: name, s: sub})
		}
	}
	for _, sub := range []struct {
		key string
		dst **schema
	}{{"items", &s.items}, {"values", &s.values}} {
		if sv := m[sub.key]; sv != nil {
			if *sub.dst, err = parseSchemaDepth(sv, p.field(sub.key), depth+1); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// Logical type names.
const (
	logicalDecimal         = "org.apache.kafka.connect.data.Decimal"
	logicalVariableDecimal = "io.debezium.data.VariableScaleDecimal"
	logicalDate            = "io.debezium.time.Date"
	logicalConnectDate     = "org.apache.kafka.connect.data.Date"
	logicalTimestamp       = "io.debezium.time.Timestamp"
	logicalConnectTime     = "org.apache.kafka.connect.data.Timestamp"
	logicalMicroTimestamp  = "io.debezium.time.MicroTimestamp"
	logicalNanoTimestamp   = "io.debezium.time.NanoTimestamp"
)

// maxScale bounds a decimal's scale, so that a hostile schema cannot make
// Decode write a string of millions of zeros.
const maxScale = 1000

// maxDays bounds a Date (about ±270,000 years).
const maxDays = 100_000_000

// convert returns v typed by its schema s (see the package doc); maps and
// slices are converted in place. v == nil stays nil.
func convert(v any, s *schema, p *path) (any, error) {
	if v == nil || s == nil {
		return v, nil
	}
	switch s.name {
	case logicalDecimal:
		switch x := v.(type) {
		case string:
			scale, err := s.scale(p)
			if err != nil {
				return nil, err
			}
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, invalid(p, "decimal bytes are not base64")
			}
			return json.Number(decimalString(b, scale)), nil
		case json.Number:
			return x, nil
		}
		return nil, invalid(p, "decimal is not a base64 string")
	case logicalVariableDecimal:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalid(p, "variable scale decimal is not an object")
		}
		scale, err := integer(m, "scale", p)
		if err != nil {
			return nil, err
		}
		if scale < -maxScale || scale > maxScale {
			return nil, invalid(p.field("scale"), "decimal scale out of range")
		}
		raw, err := str(m, "value", p)
		if err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return nil, invalid(p.field("value"), "decimal bytes are not base64")
		}
		return json.Number(decimalString(b, int(scale))), nil
	case logicalDate, logicalConnectDate:
		days, err := integerValue(v, p)
		if err != nil {
			return nil, err
		}
		if days < -maxDays || days > maxDays {
			return nil, invalid(p, "date out of range")
		}
		return time.Unix(days*86400, 0).UTC(), nil
	case logicalTimestamp, logicalConnectTime:
		ms, err := integerValue(v, p)
		if err != nil {
			return nil, err
		}
		return time.UnixMilli(ms).UTC(), nil
	case logicalMicroTimestamp:
		us, err := integerValue(v, p)
		if err != nil {
			return nil, err
		}
		return time.UnixMicro(us).UTC(), nil
	case logicalNanoTimestamp:
		ns, err := integerValue(v, p)
		if err != nil {
			return nil, err
		}
		return time.Unix(0, ns).UTC(), nil
	}
	switch s.typ {
	case "int8", "int16", "int32", "int64":
		return integerValue(v, p)
	case "float32", "float64":
		if n, ok := v.(json.Number); ok {
			return n, nil
		}
		return nil, invalid(p, "not a number")
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, invalid(p, "not a boolean")
	case "string":
		if x, ok := v.(string); ok {
			return x, nil
		}
		return nil, invalid(p, "not a string")
	case "bytes":
		x, ok := v.(string)
		if !ok {
			return nil, invalid(p, "bytes are not a base64 string")
		}
		b, err := base64.StdEncoding.DecodeString(x)
		if err != nil {
			return nil, invalid(p, "bytes are not base64")
		}
		return b, nil
	case "struct":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalid(p, "not an object")
		}
		for _, f := range s.fields {
			fv, ok := m[f.name]
			if !ok {
				continue
			}
			c, err := convert(fv, f.s, p.field(f.name))
			if err != nil {
				return nil, err
			}
			m[f.name] = c
		}
		return m, nil
	case "array":
		a, ok := v.([]any)
		if !ok {
			return nil, invalid(p, "not an array")
		}
		for i, ev := range a {
			c, err := convert(ev, s.items, p.elem(i))
			if err != nil {
				return nil, err
			}
			a[i] = c
		}
		return a, nil
	case "map":
		// A map with string keys is an object; other keys come as an array
		// of [key, value] pairs, left as they are. Map keys are data, so
		// the path does not name them.
		if m, ok := v.(map[string]any); ok {
			for k, mv := range m {
				c, err := convert(mv, s.values, p.anyKey())
				if err != nil {
					return nil, err
				}
				m[k] = c
			}
		}
		return v, nil
	}
	return v, nil
}

// scale returns the scale parameter of a Decimal schema (0 when absent).
func (s *schema) scale(p *path) (int, error) {
	v, ok := s.params["scale"]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < -maxScale || n > maxScale {
		return 0, invalid(p, "decimal schema has a bad scale")
	}
	return n, nil
}

// integerValue returns v, a JSON integer, as an int64.
func integerValue(v any, p *path) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, invalid(p, "not an integer")
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return 0, invalid(p, "not an integer")
	}
	return i, nil
}

// decimalString formats the big-endian two's complement unscaled value b
// with scale digits after the point.
func decimalString(b []byte, scale int) string {
	x := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	neg := x.Sign() < 0
	digits := x.Abs(x).String()
	switch {
	case scale > 0:
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	case scale < 0 && digits != "0":
		digits += strings.Repeat("0", -scale)
	}
	if neg {
		return "-" + digits
	}
	return digits
}
