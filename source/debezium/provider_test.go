package debezium_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/debezium"
)

func testProviderMapper(t testing.TB) *fhirmap.ProviderMapper {
	t.Helper()
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{Now: func() time.Time { return time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC) }})
	require.NoError(t, err)
	p, err := fhirmap.NewProviderMapper(m.WithSourceName("directory.public.providers"), &fhirmap.ProviderOptions{Payer: &fhirmap.DirectoryPayer{
		PayerID: "ACME01", Name: "Acme Health Plan",
		Address: fhirmap.ProviderAddress{Line1: "1 Insurance Plaza", City: "Chicago", State: "IL", PostalCode: "60601"},
	}})
	require.NoError(t, err)
	return p
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	require.NoError(t, err)
	return b
}

// kinds returns "Type" for each resource, with ":ended" for an inactive one.
func kinds(t *testing.T, rs []proto.Message) []string {
	t.Helper()
	var out []string
	for _, r := range rs {
		k := resource.Type(r)
		b, err := resource.Marshal(r)
		require.NoError(t, err)
		if strings.Contains(string(b), `"active":false`) {
			k += ":ended"
		}
		out = append(out, k)
	}
	return out
}

func TestProviderConverter(t *testing.T) {
	p := testProviderMapper(t)
	for _, tc := range []struct {
		name    string
		fixture string
		op      fhirmap.ChangeOp
		kinds   []string
		version string
	}{
		{"create", "pg_create", fhirmap.ChangeCreate,
			[]string{"Organization", "Organization", "Location", "Practitioner", "PractitionerRole"}, "00000000016B3748"},
		{"snapshot read", "pg_snapshot_read", fhirmap.ChangeRead,
			[]string{"Organization", "Organization", "Location", "Practitioner", "PractitionerRole"}, "00000000016B3748"},
		{"update moves the provider and adds a network: the old role ends", "pg_update_with_schema", fhirmap.ChangeUpdate,
			[]string{"Organization", "Organization", "Organization", "Location", "Practitioner", "PractitionerRole", "PractitionerRole", "PractitionerRole:ended"}, "00000000016B3800"},
		{"update without a schema", "pg_update_noschema", fhirmap.ChangeUpdate,
			[]string{"Organization", "Organization", "Location", "Practitioner", "PractitionerRole"}, "00000000016B3C48"},
		{"delete ends the roles", "pg_delete", fhirmap.ChangeDelete,
			[]string{"PractitionerRole:ended", "PractitionerRole:ended"}, "00000000016B38C0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *fhirmap.ProviderResult
			conv := debezium.NewProviderConverter(p, &debezium.ProviderConverterOptions{
				OnResult: func(_ context.Context, _ *debezium.Event, res *fhirmap.ProviderResult) { got = res },
			})
			msg := source.NewMessage("providers/0@7", fixture(t, tc.fixture), map[string]string{"offset": "7"}, nil, nil)
			rs, err := conv.Convert(context.Background(), msg)
			require.NoError(t, err)
			assert.Equal(t, tc.kinds, kinds(t, rs))
			require.NotNil(t, got)
			assert.Equal(t, tc.op, got.Op)
			assert.Equal(t, tc.version, got.SourceVersion)
			for _, r := range rs {
				b, err := resource.Marshal(r)
				require.NoError(t, err)
				assert.Contains(t, string(b), `"url":"`+fhirmap.ExtSourceVersion+`","valueString":"`+tc.version+`"`)
			}
			if fs := check.All(rs); len(fs) > 0 {
				t.Errorf("Plan-Net findings:\n%s", check.Report(fs))
			}
		})
	}
}

func TestProviderConverterNoRowChange(t *testing.T) {
	p := testProviderMapper(t)
	conv := debezium.NewProviderConverter(p, &debezium.ProviderConverterOptions{Tables: []string{"public.providers"}})
	other := debezium.NewProviderConverter(p, &debezium.ProviderConverterOptions{Tables: []string{"other"}})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		conv *debezium.ProviderConverter
		body []byte
	}{
		{"tombstone (nil body, as kafkasource delivers it)", conv, nil},
		{"tombstone fixture", conv, fixture(t, "tombstone")},
		{"logical decoding message", conv, fixture(t, "pg_message")},
		{"another table", other, fixture(t, "pg_create")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := tc.conv.Convert(ctx, source.NewMessage("m", tc.body, nil, nil, nil))
			assert.NoError(t, err)
			assert.Empty(t, rs)
		})
	}
}

func TestProviderConverterErrors(t *testing.T) {
	const c = "ZZCANARYZZ"
	p := testProviderMapper(t)
	conv := debezium.NewProviderConverter(p, nil)
	badNPI := strings.Replace(strings.Replace(string(fixture(t, "pg_create")), `"1234567893"`, `"1234567890"`, 1), `"Doe"`, `"`+c+`"`, 1)
	for _, tc := range []struct {
		name string
		body string
		is   error
		as   any
		want string
	}{
		{"malformed JSON", `{"op":"c","after":{"last_name":"` + c, debezium.ErrSyntax, new(*debezium.Error), "at byte 42"},
		{"not a change event", `{"op":"c","source":{"table":["` + c + `"]}}`, debezium.ErrInvalid, new(*debezium.Error), "$.source.table"},
		{"truncate", string(fixture(t, "pg_truncate")), debezium.ErrTruncated, nil, "public.providers"},
		{"row that cannot be mapped", badNPI, fhirmap.ErrInvalidValue, new(*fhirmap.ProviderError), "source version 00000000016B3748"},
		{"create without an after image", `{"op":"c","source":{"lsn":1}}`, fhirmap.ErrMissing, new(*fhirmap.ProviderError), "no after image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := conv.Convert(context.Background(), source.NewMessage("m", []byte(tc.body), nil, nil, nil))
			assert.Empty(t, rs)
			var ce *fhirmap.ConvertError
			require.ErrorAs(t, err, &ce, "permanent: a ConvertError")
			require.Len(t, ce.Failed, 1)
			assert.ErrorIs(t, err, tc.is)
			if tc.as != nil {
				assert.ErrorAs(t, err, tc.as)
			}
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), c)
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := conv.Convert(ctx, source.NewMessage("m", fixture(t, "pg_create"), nil, nil, nil))
	assert.ErrorIs(t, err, context.Canceled)
}

func TestSourceVersion(t *testing.T) {
	pg, err := debezium.Decode(fixture(t, "pg_create"), nil)
	require.NoError(t, err)
	my, err := debezium.Decode(fixture(t, "mysql_create"), nil)
	require.NoError(t, err)
	lsnText, err := debezium.Decode([]byte(`{"op":"c","source":{"lsn":"16/B374D848"}}`), nil)
	require.NoError(t, err)
	at := func(off string) *source.Message {
		return source.NewMessage("t/0@"+off, nil, map[string]string{"offset": off}, nil, nil)
	}
	for _, tc := range []struct {
		name string
		m    *source.Message
		e    *debezium.Event
		want string
	}{
		{"Postgres LSN", at("42"), pg, "00000000016B3748"},
		{"Postgres LSN in text form", nil, lsnText, "00000016B374D848"},
		{"Kafka offset without an LSN", at("42"), my, "00000000000000000042"},
		{"offsets compare as strings", at("1000"), my, "00000000000000001000"},
		{"nothing", source.NewMessage("m", nil, nil, nil, nil), my, ""},
		{"nil event", at("3"), nil, "00000000000000000003"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, debezium.SourceVersion(tc.m, tc.e))
		})
	}
	assert.Less(t, debezium.SourceVersion(at("999"), my), debezium.SourceVersion(at("1000"), my))

	v := debezium.NewProviderConverter(testProviderMapper(t), &debezium.ProviderConverterOptions{
		SourceVersion: func(m *source.Message, _ *debezium.Event) string { return "v-" + m.Metadata["offset"] },
	})
	rs, err := v.Convert(context.Background(), source.NewMessage("t/0@5", fixture(t, "pg_create"), map[string]string{"offset": "5"}, nil, nil))
	require.NoError(t, err)
	b, err := resource.Marshal(rs[0])
	require.NoError(t, err)
	assert.Contains(t, string(b), `"valueString":"v-5"`)
}

func TestProviderChange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		op   fhirmap.ChangeOp
		err  error
		time time.Time
	}{
		{`{"op":"c","after":{"a":1},"source":{"ts_ms":1000},"ts_ms":2000}`, fhirmap.ChangeCreate, nil, time.UnixMilli(1000).UTC()},
		{`{"op":"u","before":{"a":1},"after":{"a":2},"ts_ms":2000}`, fhirmap.ChangeUpdate, nil, time.UnixMilli(2000).UTC()},
		{`{"op":"d","before":{"a":1}}`, fhirmap.ChangeDelete, nil, time.Time{}},
		{`{"op":"r","after":{"a":1}}`, fhirmap.ChangeRead, nil, time.Time{}},
		{`{"op":"t"}`, "", debezium.ErrNotRowChange, time.Time{}},
		{`{"op":"m"}`, "", debezium.ErrNotRowChange, time.Time{}},
		{``, "", debezium.ErrNotRowChange, time.Time{}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			e, err := debezium.Decode([]byte(tc.in), nil)
			require.NoError(t, err)
			ch, err := e.ProviderChange("v1")
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				assert.Nil(t, ch)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.op, ch.Op)
			assert.Equal(t, "v1", ch.SourceVersion)
			assert.Equal(t, tc.time, ch.Time)
			assert.Equal(t, e.Before, ch.Before)
			assert.Equal(t, e.After, ch.After)
		})
	}
	_, err := (&debezium.Event{Op: "x"}).ProviderChange("")
	assert.True(t, errors.Is(err, debezium.ErrNotRowChange))
}
