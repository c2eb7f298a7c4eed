package pgsource

import (
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestValue(t *testing.T) {
	d := newValueDecoder()
	const unknownOID = 987654
	cases := []struct {
		name string
		oid  uint32
		text string
		want string // JSON
	}{
		{"bool true", pgtype.BoolOID, "t", `true`},
		{"bool false", pgtype.BoolOID, "f", `false`},
		{"int2", pgtype.Int2OID, "-32768", `-32768`},
		{"int8 max", pgtype.Int8OID, "9223372036854775807", `9223372036854775807`},
		{"oid", pgtype.OIDOID, "4294967295", `4294967295`},
		{"float8", pgtype.Float8OID, "0.1", `0.1`},
		{"float8 exponent", pgtype.Float8OID, "1e+100", `1e+100`},
		{"float8 negative zero", pgtype.Float8OID, "-0", `-0`},
		{"float8 NaN", pgtype.Float8OID, "NaN", `"NaN"`},
		{"float8 infinity", pgtype.Float8OID, "-Infinity", `"-Infinity"`},
		{"float4 shortest", pgtype.Float4OID, "0.1", `0.1`},
		{"numeric exact", pgtype.NumericOID, "12345678901234567890.123456789012", `"12345678901234567890.123456789012"`},
		{"numeric scale kept", pgtype.NumericOID, "12.50", `"12.50"`},
		{"numeric NaN", pgtype.NumericOID, "NaN", `"NaN"`},
		{"text escapes", pgtype.TextOID, "a\"b\\c\nd\x01\u2028<&>", `"a\"b\\c\nd\u0001\u2028<&>"`},
		{"text invalid UTF-8", pgtype.TextOID, "a\xffb", "\"a\uFFFDb\""},
		{"jsonb object", pgtype.JSONBOID, `{"a": 1.50, "b": [true, null]}`, `{"a":1.50,"b":[true,null]}`},
		{"json big number", pgtype.JSONOID, `[12345678901234567890]`, `[12345678901234567890]`},
		{"json scalar string", pgtype.JSONBOID, `"x"`, `"x"`},
		{"date", pgtype.DateOID, "2024-02-29", `"2024-02-29"`},
		{"date infinity", pgtype.DateOID, "infinity", `"infinity"`},
		{"date BC kept as text", pgtype.DateOID, "0044-03-15 BC", `"0044-03-15 BC"`},
		{"timestamptz to UTC", pgtype.TimestamptzOID, "2024-03-01 12:30:00.123456+02", `"2024-03-01T10:30:00.123456Z"`},
		{"timestamptz whole second", pgtype.TimestamptzOID, "2024-03-01 12:30:00+00", `"2024-03-01T12:30:00Z"`},
		{"timestamptz -infinity", pgtype.TimestamptzOID, "-infinity", `"-infinity"`},
		{"timestamp", pgtype.TimestampOID, "2024-03-01 12:30:00.5", `"2024-03-01T12:30:00.5"`},
		{"bytea", pgtype.ByteaOID, `\xdeadbeef`, `"3q2+7w=="`},
		{"uuid", pgtype.UUIDOID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{"interval as text", pgtype.IntervalOID, "P1DT2H", `"P1DT2H"`},
		{"int array with null", pgtype.Int4ArrayOID, "{1,2,NULL}", `[1,2,null]`},
		{"text array quoting", pgtype.TextArrayOID, `{a,"b c",NULL,"\"q\"",""}`, `["a","b c",null,"\"q\"",""]`},
		{"2-D array", pgtype.Int4ArrayOID, "{{1,2},{3,4},{5,6}}", `[[1,2],[3,4],[5,6]]`},
		{"empty array", pgtype.Int4ArrayOID, "{}", `[]`},
		{"array lower bound dropped", pgtype.Int4ArrayOID, "[0:1]={7,8}", `[7,8]`},
		{"numeric array", pgtype.NumericArrayOID, "{1.5,NaN}", `["1.5","NaN"]`},
		{"jsonb array", pgtype.JSONBArrayOID, `{"{\"a\": 1}",null}`, `[{"a":1},null]`},
		{"unknown type as text", unknownOID, "mood:happy", `"mood:happy"`},
		{"int that is not an int", pgtype.Int4OID, "ZZCANARYZZ", `"ZZCANARYZZ"`},
		{"bad json as text", pgtype.JSONBOID, "{", `"{"`},
		{"bad array as text", pgtype.Int4ArrayOID, "{1,", `"{1,"`},
		{"bad date as text", pgtype.DateOID, "yesterday", `"yesterday"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := string(appendJSON(nil, d.value(c.oid, []byte(c.text))))
			if got != c.want {
				t.Errorf("value(%d, %q) = %s, want %s", c.oid, c.text, got, c.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("value(%d, %q) = %s is not valid JSON", c.oid, c.text, got)
			}
		})
	}
}

// TestAppendStringMatchesEncodingJSON: appendString decodes back to the
// same string as encoding/json reads it.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "tab\tquote\"back\\slash", "\x00\x1f\x7f", "é中😀", "\u2028\u2029", "<script>&"} {
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil || back != s {
			t.Errorf("appendString(%q) = %s, reads back as %q, %v", s, appendString(nil, s), back, err)
		}
	}
}
