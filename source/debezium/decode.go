package debezium

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// DecodeOptions configures [Decode]. A nil *DecodeOptions means defaults.
type DecodeOptions struct {
	// IgnoreSchema keeps the row values as plain JSON values (string,
	// json.Number, bool, map[string]any, []any) even when the event carries
	// a schema.
	IgnoreSchema bool
}

// Decode decodes one change event: a message body as Kafka Connect's
// JsonConverter writes it, with or without the schema/payload wrapper. An
// empty body or JSON null is a tombstone. Errors are [*Error] values.
func Decode(data []byte, opts *DecodeOptions) (*Event, error) {
	var o DecodeOptions
	if opts != nil {
		o = *opts
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return &Event{Tombstone: true}, nil
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var top any
	if err := d.Decode(&top); err != nil {
		return nil, syntaxError(err, len(data))
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, &Error{Err: ErrSyntax, Offset: d.InputOffset(), detail: "data after the event"}
	}

	root := (*path)(nil)
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, invalid(root, "not an object")
	}
	payload, p := obj, root
	var sch *schema
	if pv, wrapped := obj["payload"]; wrapped {
		if _, hasOp := obj["op"]; !hasOp {
			if pv == nil {
				return &Event{Tombstone: true}, nil
			}
			p = root.field("payload")
			if payload, ok = pv.(map[string]any); !ok {
				return nil, invalid(p, "not an object")
			}
			if sv := obj["schema"]; sv != nil && !o.IgnoreSchema {
				s, err := parseSchema(sv, root.field("schema"))
				if err != nil {
					return nil, err
				}
				sch = s
			}
		}
	}
	return decodeEnvelope(payload, p, sch)
}

// syntaxError turns an encoding/json error into an *Error with an offset;
// encoding/json's text (which can quote a character of the input) is not
// kept.
func syntaxError(err error, n int) *Error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		// se.Offset counts the bytes read, the offending one included.
		return &Error{Err: ErrSyntax, Offset: max(se.Offset-1, 0), detail: "malformed JSON"}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &Error{Err: ErrSyntax, Offset: int64(n), detail: "unexpected end of input"}
	}
	return &Error{Err: ErrSyntax, Offset: 0, detail: "malformed JSON"}
}

// decodeEnvelope reads the payload object (the envelope) at p; sch is the
// envelope's schema, nil when none.
func decodeEnvelope(env map[string]any, p *path, sch *schema) (*Event, error) {
	e := &Event{}
	opv, ok := env["op"]
	if !ok || opv == nil {
		return nil, invalid(p.field("op"), "missing")
	}
	op, ok := opv.(string)
	if !ok {
		return nil, invalid(p.field("op"), "not a string")
	}
	e.Op = Op(op)
	if !e.Op.valid() {
		return nil, pathError(ErrUnknownOp, p.field("op"), "not one of c, u, d, r, t, m")
	}
	var err error
	if e.TsMs, err = integer(env, "ts_ms", p); err != nil {
		return nil, err
	}
	for _, img := range []struct {
		key string
		dst *map[string]any
	}{{"before", &e.Before}, {"after", &e.After}} {
		v := env[img.key]
		if v == nil {
			continue
		}
		ip := p.field(img.key)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalid(ip, "not an object")
		}
		if rs := sch.fieldSchema(img.key); rs != nil {
			if _, err := convert(m, rs, ip); err != nil {
				return nil, err
			}
		}
		*img.dst = m
	}
	if v := env["source"]; v != nil {
		sp := p.field("source")
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalid(sp, "not an object")
		}
		if err := decodeSource(&e.Source, m, sp); err != nil {
			return nil, err
		}
	}
	if v := env["transaction"]; v != nil {
		tp := p.field("transaction")
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalid(tp, "not an object")
		}
		t := &Transaction{}
		if t.ID, err = text(m, "id", tp); err != nil {
			return nil, err
		}
		if t.TotalOrder, err = integer(m, "total_order", tp); err != nil {
			return nil, err
		}
		if t.DataCollectionOrder, err = integer(m, "data_collection_order", tp); err != nil {
			return nil, err
		}
		e.Transaction = t
	}
	return e, nil
}

// decodeSource reads the source block m at p.
func decodeSource(s *Source, m map[string]any, p *path) error {
	var err error
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"version", &s.Version}, {"connector", &s.Connector}, {"name", &s.Name},
		{"db", &s.DB}, {"schema", &s.Schema}, {"table", &s.Table},
		{"sequence", &s.Sequence}, {"file", &s.File},
		{"change_lsn", &s.LSN}, {"commit_lsn", &s.CommitLSN},
	} {
		if *f.dst, err = str(m, f.key, p); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"lsn", &s.LSN}, {"txId", &s.TxID}, {"scn", &s.SCN}} {
		if _, ok := m[f.key]; !ok {
			continue
		}
		if *f.dst, err = text(m, f.key, p); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		key string
		dst *int64
	}{{"ts_ms", &s.TsMs}, {"pos", &s.Pos}, {"row", &s.Row}} {
		if *f.dst, err = integer(m, f.key, p); err != nil {
			return err
		}
	}
	switch v := m["snapshot"].(type) {
	case nil:
	case string:
		s.Snapshot = v
	case bool: // Debezium 1.x wrote a boolean
		s.Snapshot = strconv.FormatBool(v)
	default:
		return invalid(p.field("snapshot"), "not a string or boolean")
	}
	return nil
}

// str returns m[key] as a string ("" when absent or null).
func str(m map[string]any, key string, p *path) (string, error) {
	switch v := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", invalid(p.field(key), "not a string")
}

// text returns m[key], a string or a number, as written ("" when absent or
// null).
func text(m map[string]any, key string, p *path) (string, error) {
	switch v := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	return "", invalid(p.field(key), "not a string or number")
}

// integer returns m[key] as an int64 (0 when absent or null).
func integer(m map[string]any, key string, p *path) (int64, error) {
	switch v := m[key].(type) {
	case nil:
		return 0, nil
	case json.Number:
		i, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			return 0, invalid(p.field(key), "not an integer")
		}
		return i, nil
	}
	return 0, invalid(p.field(key), "not an integer")
}
