package debezium_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync/source/debezium"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		opts *debezium.DecodeOptions
		want func(t *testing.T, e *debezium.Event)
	}{
		{"empty body is a tombstone", "", nil, func(t *testing.T, e *debezium.Event) { assert.True(t, e.Tombstone) }},
		{"blank body is a tombstone", " \n", nil, func(t *testing.T, e *debezium.Event) { assert.True(t, e.Tombstone) }},
		{"null is a tombstone", "null", nil, func(t *testing.T, e *debezium.Event) { assert.True(t, e.Tombstone) }},
		{"null payload is a tombstone", `{"schema":null,"payload":null}`, nil, func(t *testing.T, e *debezium.Event) { assert.True(t, e.Tombstone) }},
		{"unwrapped create", `{"op":"c","after":{"id":1,"npi":"1234567893"}}`, nil, func(t *testing.T, e *debezium.Event) {
			assert.Equal(t, debezium.OpCreate, e.Op)
			assert.Nil(t, e.Before)
			assert.Equal(t, map[string]any{"id": json.Number("1"), "npi": "1234567893"}, e.After)
		}},
		{"wrapped without schema", `{"payload":{"op":"d","before":{"id":2}}}`, nil, func(t *testing.T, e *debezium.Event) {
			assert.Equal(t, debezium.OpDelete, e.Op)
			assert.Equal(t, map[string]any{"id": json.Number("2")}, e.Before)
		}},
		{"a column named payload is a column", `{"op":"c","after":{"payload":"x"}}`, nil, func(t *testing.T, e *debezium.Event) {
			assert.Equal(t, "x", e.After["payload"])
		}},
		{"schema types the values", `{"schema":{"type":"struct","fields":[{"field":"after","type":"struct","fields":[{"field":"id","type":"int64"},{"field":"d","type":"int32","name":"io.debezium.time.Date"}]}]},"payload":{"op":"r","after":{"id":9007199254740993,"d":1}}}`, nil, func(t *testing.T, e *debezium.Event) {
			assert.Equal(t, int64(9007199254740993), e.After["id"])
			assert.Equal(t, time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC), e.After["d"])
		}},
		{"IgnoreSchema keeps JSON values", `{"schema":{"type":"struct","fields":[{"field":"after","type":"struct","fields":[{"field":"d","type":"int32","name":"io.debezium.time.Date"}]}]},"payload":{"op":"r","after":{"d":1}}}`, &debezium.DecodeOptions{IgnoreSchema: true}, func(t *testing.T, e *debezium.Event) {
			assert.Equal(t, json.Number("1"), e.After["d"])
		}},
		{"Debezium 1.x boolean snapshot", `{"op":"r","source":{"snapshot":true,"lsn":"16/B374D848"}}`, nil, func(t *testing.T, e *debezium.Event) {
			assert.Equal(t, "true", e.Source.Snapshot)
			lsn, ok := e.Source.PostgresLSN()
			assert.True(t, ok)
			assert.Equal(t, uint64(0x16B374D848), lsn)
		}},
		{"Oracle text txId and scn", `{"op":"c","source":{"connector":"oracle","txId":"0a001b00","scn":"1234567"}}`, nil, func(t *testing.T, e *debezium.Event) {
			assert.Equal(t, "0a001b00", e.Source.TxID)
			assert.Equal(t, "1234567", e.Source.SCN)
			_, ok := e.Source.PostgresLSN()
			assert.False(t, ok)
		}},
		{"time falls back to the envelope", `{"op":"c","ts_ms":1000}`, nil, func(t *testing.T, e *debezium.Event) {
			assert.Equal(t, time.UnixMilli(1000).UTC(), e.Time())
		}},
		{"truncate", `{"op":"t","source":{"table":"providers"}}`, nil, func(t *testing.T, e *debezium.Event) {
			assert.Equal(t, debezium.OpTruncate, e.Op)
			assert.Nil(t, e.Before)
			assert.Nil(t, e.After)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := debezium.Decode([]byte(tc.in), tc.opts)
			require.NoError(t, err)
			tc.want(t, e)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	const schemaAfter = `{"type":"struct","fields":[{"field":"after","type":"struct","fields":[%s]}]}`
	withSchema := func(fields, after string) string {
		return `{"schema":` + strings.Replace(schemaAfter, "%s", fields, 1) + `,"payload":{"op":"c","after":` + after + `}}`
	}
	for _, tc := range []struct {
		name   string
		in     string
		err    error
		offset int64
		path   string
		detail string
	}{
		{"truncated", `{"op":"c","after":{"npi":"12`, debezium.ErrSyntax, 28, "", "unexpected end of input"},
		{"bad character", `{"op":"c",}`, debezium.ErrSyntax, 10, "", "malformed JSON"},
		{"trailing data", `{"op":"c"} {"op":"d"}`, debezium.ErrSyntax, 12, "", "data after the event"},
		{"not an object", `["c"]`, debezium.ErrInvalid, -1, "$", "not an object"},
		{"missing op", `{"after":{}}`, debezium.ErrInvalid, -1, "$.op", "missing"},
		{"op not a string", `{"op":1}`, debezium.ErrInvalid, -1, "$.op", "not a string"},
		{"unknown op", `{"op":"x"}`, debezium.ErrUnknownOp, -1, "$.op", "not one of c, u, d, r, t, m"},
		{"payload not an object", `{"payload":"c"}`, debezium.ErrInvalid, -1, "$.payload", "not an object"},
		{"after not an object", `{"payload":{"op":"c","after":[1]}}`, debezium.ErrInvalid, -1, "$.payload.after", "not an object"},
		{"source not an object", `{"op":"c","source":1}`, debezium.ErrInvalid, -1, "$.source", "not an object"},
		{"table not a string", `{"op":"c","source":{"table":5}}`, debezium.ErrInvalid, -1, "$.source.table", "not a string"},
		{"ts_ms not an integer", `{"op":"c","source":{"ts_ms":1.5}}`, debezium.ErrInvalid, -1, "$.source.ts_ms", "not an integer"},
		{"envelope ts_ms a string", `{"op":"c","ts_ms":"1"}`, debezium.ErrInvalid, -1, "$.ts_ms", "not an integer"},
		{"lsn an object", `{"op":"c","source":{"lsn":{}}}`, debezium.ErrInvalid, -1, "$.source.lsn", "not a string or number"},
		{"snapshot a number", `{"op":"r","source":{"snapshot":1}}`, debezium.ErrInvalid, -1, "$.source.snapshot", "not a string or boolean"},
		{"transaction order", `{"op":"c","transaction":{"id":"1","total_order":"x"}}`, debezium.ErrInvalid, -1, "$.transaction.total_order", "not an integer"},
		{"schema not an object", `{"schema":[],"payload":{"op":"c"}}`, debezium.ErrInvalid, -1, "$.schema", "schema is not an object"},
		{"schema fields not an array", `{"schema":{"type":"struct","fields":{}},"payload":{"op":"c"}}`, debezium.ErrInvalid, -1, "$.schema.fields", "not an array"},
		{"schema field type", `{"schema":{"type":"struct","fields":[{"field":"after","type":3}]},"payload":{"op":"c"}}`, debezium.ErrInvalid, -1, "$.schema.fields[0].type", "not a string"},
		{"int column with text", withSchema(`{"field":"id","type":"int32"}`, `{"id":"7"}`), debezium.ErrInvalid, -1, "$.payload.after.id", "not an integer"},
		{"int column with a fraction", withSchema(`{"field":"id","type":"int64"}`, `{"id":7.5}`), debezium.ErrInvalid, -1, "$.payload.after.id", "not an integer"},
		{"string column with a number", withSchema(`{"field":"npi","type":"string"}`, `{"npi":1}`), debezium.ErrInvalid, -1, "$.payload.after.npi", "not a string"},
		{"boolean column", withSchema(`{"field":"active","type":"boolean"}`, `{"active":"yes"}`), debezium.ErrInvalid, -1, "$.payload.after.active", "not a boolean"},
		{"float column", withSchema(`{"field":"lat","type":"float64"}`, `{"lat":"x"}`), debezium.ErrInvalid, -1, "$.payload.after.lat", "not a number"},
		{"bytes not base64", withSchema(`{"field":"photo","type":"bytes"}`, `{"photo":"%%"}`), debezium.ErrInvalid, -1, "$.payload.after.photo", "bytes are not base64"},
		{"decimal not base64", withSchema(`{"field":"lat","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}}`, `{"lat":"!"}`), debezium.ErrInvalid, -1, "$.payload.after.lat", "decimal bytes are not base64"},
		{"decimal bad scale", withSchema(`{"field":"lat","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"99999"}}`, `{"lat":"AA=="}`), debezium.ErrInvalid, -1, "$.payload.after.lat", "decimal schema has a bad scale"},
		{"variable decimal scale", withSchema(`{"field":"v","type":"struct","name":"io.debezium.data.VariableScaleDecimal"}`, `{"v":{"scale":100000,"value":"AA=="}}`), debezium.ErrInvalid, -1, "$.payload.after.v.scale", "decimal scale out of range"},
		{"date out of range", withSchema(`{"field":"d","type":"int32","name":"io.debezium.time.Date"}`, `{"d":9999999999}`), debezium.ErrInvalid, -1, "$.payload.after.d", "date out of range"},
		{"array element", withSchema(`{"field":"tags","type":"array","items":{"type":"string"}}`, `{"tags":["a",1]}`), debezium.ErrInvalid, -1, "$.payload.after.tags[1]", "not a string"},
		{"map values are not named by key", withSchema(`{"field":"m","type":"map","values":{"type":"int32"}}`, `{"m":{"member-1":"x"}}`), debezium.ErrInvalid, -1, "$.payload.after.m.*", "not an integer"},
		{"odd column names are quoted", withSchema(`{"field":"first name","type":"string"}`, `{"first name":1}`), debezium.ErrInvalid, -1, `$.payload.after["first name"]`, "not a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := debezium.Decode([]byte(tc.in), nil)
			require.Error(t, err)
			assert.Nil(t, e)
			assert.ErrorIs(t, err, tc.err)
			var de *debezium.Error
			require.True(t, errors.As(err, &de))
			assert.Equal(t, tc.offset, de.Offset, "offset")
			assert.Equal(t, tc.path, de.Path, "path")
			assert.Equal(t, tc.detail, de.Detail(), "detail")
			assert.True(t, strings.HasPrefix(err.Error(), "debezium: "), err.Error())
		})
	}
}

// No error text and no log line of an event holds a value of the input.
func TestCanary(t *testing.T) {
	const c = "ZZCANARYZZ"
	for _, in := range []string{
		`{"op":"c","after":{"last_name":"` + c + `"`,               // truncated inside a value
		`{"op":"c","after":{"last_name":"` + c + `"}} "` + c + `"`, // trailing data
		`{"op":"` + c + `"}`,                                // unknown op
		`{"op":"c","source":{"table":["` + c + `"]}}`,       // wrong type
		`{"op":"c","source":{"ts_ms":"` + c + `"}}`,         // wrong type
		`{"op":"c","transaction":{"id":{"x":"` + c + `"}}}`, // wrong type
		`{"op":"c","after":"` + c + `"}`,                    // row not an object
		`{"op":"c","after":{"n":1}} ` + c,                   // garbage after
		`{"op":"c","after":{"n":1` + c + `}}`,               // bad number
		`{"op":"c","after":{"n":tru` + c + `}}`,             // bad literal
		`{"op":"c","after":{"n":"\` + c + `"}}`,             // bad escape
		`{"schema":{"type":"struct","fields":[{"field":"after","type":"struct","fields":[{"field":"n","type":"int32"}]}]},"payload":{"op":"c","after":{"n":"` + c + `"}}}`,
		`{"schema":{"type":"struct","fields":[{"field":"after","type":"struct","fields":[{"field":"n","type":"bytes"}]}]},"payload":{"op":"c","after":{"n":"` + c + `!"}}}`,
		`{"schema":{"type":"struct","fields":[{"field":"after","type":"struct","fields":[{"field":"m","type":"map","values":{"type":"int32"}}]}]},"payload":{"op":"c","after":{"m":{"` + c + `":"x"}}}}`,
	} {
		_, err := debezium.Decode([]byte(in), nil)
		require.Error(t, err, in)
		assert.NotContains(t, err.Error(), c, "input %q", in)
	}
	// a decoded event logs no value (a MySQL query quoting one included)
	e, err := debezium.Decode([]byte(`{"op":"c","after":{"last_name":"`+c+`"},"source":{"connector":"mysql","table":"providers","query":"INSERT `+c+`"}}`), nil)
	require.NoError(t, err)
	var sb strings.Builder
	logJSON(&sb, e)
	assert.NotContains(t, sb.String(), c)
	assert.Contains(t, sb.String(), "providers")
}
