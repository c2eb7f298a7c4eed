package main

import (
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
)

func TestMain(m *testing.M) { fhirtest.Main(m) }

const testKey = "a test key of at least 16 bytes"

func TestParseFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := write("key", "  "+testKey+"\n")
	columns := write("columns.json", `{"NPI": "provider_npi", "LastName": "surname"}`)
	badColumns := write("bad.json", `{"NPINumber": "provider_npi"}`)
	noNPI := write("nonpi.json", `{"NPI": ""}`)
	payer := write("payer.json", `{"PayerID": "PAYER1", "Name": "Acme Health"}`)
	env := func(key string) func(string) string {
		return func(name string) string {
			if name == "FHIRSYNC_ID_KEY" {
				return key
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		args    []string
		key     string // FHIRSYNC_ID_KEY
		wantErr string // substring; "" means success
		check   func(t *testing.T, c config)
	}{
		{name: "env key and defaults", args: []string{"-db", "postgres://x"}, key: testKey, check: func(t *testing.T, c config) {
			if string(c.IDKey) != testKey || c.Table != "provider" || c.Listen != ":8080" || !c.CreateSlot || !c.CreatePublication || c.PermanentSlot || c.Slot != "" {
				t.Errorf("config = %+v", c)
			}
			if c.Columns.NPI != "npi" || c.Payer != nil {
				t.Errorf("columns NPI %q, payer %v; want the defaults", c.Columns.NPI, c.Payer)
			}
		}},
		{name: "key file trimmed, over env", args: []string{"-db", "postgres://x", "-id-key-file", keyFile}, key: "another key of at least 16 bytes", check: func(t *testing.T, c config) {
			if string(c.IDKey) != testKey {
				t.Errorf("key %q, want %q", c.IDKey, testKey)
			}
		}},
		{name: "no key refused", args: []string{"-db", "postgres://x"}, wantErr: "ids served here would not match"},
		{name: "short key refused", args: []string{"-db", "postgres://x"}, key: "short", wantErr: "at least 16"},
		{name: "missing key file", args: []string{"-db", "postgres://x", "-id-key-file", filepath.Join(dir, "none")}, key: testKey, wantErr: "-id-key-file"},
		{name: "db required", args: nil, key: testKey, wantErr: "-db is required"},
		{name: "permanent slot needs a name", args: []string{"-db", "postgres://x", "-permanent-slot"}, key: testKey, wantErr: "-slot"},
		{name: "columns over defaults", args: []string{"-db", "postgres://x", "-columns", columns}, key: testKey, check: func(t *testing.T, c config) {
			if c.Columns.NPI != "provider_npi" || c.Columns.LastName != "surname" || c.Columns.FirstName != "first_name" {
				t.Errorf("columns = %+v", c.Columns)
			}
		}},
		{name: "misspelt column field", args: []string{"-db", "postgres://x", "-columns", badColumns}, key: testKey, wantErr: "unknown field"},
		{name: "columns without NPI", args: []string{"-db", "postgres://x", "-columns", noNPI}, key: testKey, wantErr: "NPI column is required"},
		{name: "payer", args: []string{"-db", "postgres://x", "-payer", payer}, key: testKey, check: func(t *testing.T, c config) {
			if c.Payer == nil || c.Payer.PayerID != "PAYER1" || c.Payer.Name != "Acme Health" {
				t.Errorf("payer = %+v", c.Payer)
			}
		}},
		{name: "stray argument", args: []string{"-db", "postgres://x", "extra"}, key: testKey, wantErr: "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, env(tc.key), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestSearchNPIs(t *testing.T) {
	const npi = "http://hl7.org/fhir/sid/us-npi"
	tests := []struct {
		query   string
		want    []string
		wantErr bool
	}{
		{query: "identifier=" + npi + "|1234567893", want: []string{"1234567893"}},
		{query: "identifier=1234567893", want: []string{"1234567893"}},
		{query: "identifier=" + npi + "|1234567893," + npi + "|1555000011,1234567893", want: []string{"1234567893", "1555000011"}},
		{query: "identifier=urn:other|1234567893", want: nil},
		{query: "identifier=|1234567893", want: nil},
		{query: "identifier=" + npi + "|1234567893&_format=json", want: []string{"1234567893"}},
		{query: "identifier=1234567893&identifier=1555000011", want: []string{"1234567893", "1555000011"}},
		{query: "", wantErr: true},
		{query: "name=Smith", wantErr: true},
		{query: "identifier=1234567893&name=Smith", wantErr: true},
		{query: "identifier:missing=true", wantErr: true},
		{query: "identifier=" + manyNPIs(maxSearchNPIs), want: strings.Split(manyNPIs(maxSearchNPIs), ",")},
		{query: "identifier=" + manyNPIs(maxSearchNPIs+1), wantErr: true},
	}
	for _, tc := range tests {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := searchNPIs(q)
		if tc.wantErr {
			if !errors.Is(err, errUnsupportedSearch) {
				t.Errorf("searchNPIs(%q) err = %v, want errUnsupportedSearch", tc.query, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("searchNPIs(%q) = %q, %v; want %q", tc.query, got, err, tc.want)
		}
	}
}

// manyNPIs returns n distinct comma-separated values.
func manyNPIs(n int) string {
	vs := make([]string, n)
	for i := range vs {
		vs[i] = strconv.Itoa(1000000000 + i)
	}
	return strings.Join(vs, ",")
}

func TestIndex(t *testing.T) {
	x := newIndex()
	steps := []struct {
		npi     string
		keys    []string
		wantOld []string
		// after the step: key → its NPIs
		want map[string][]string
	}{
		{npi: "A", keys: []string{"Practitioner/a", "Location/1", "Organization/net"}, want: map[string][]string{
			"Practitioner/a": {"A"}, "Location/1": {"A"}, "Organization/net": {"A"}}},
		{npi: "B", keys: []string{"Organization/b", "Location/1", "Organization/net", "Location/1"}, want: map[string][]string{
			"Location/1": {"A", "B"}, "Organization/net": {"A", "B"}, "Organization/b": {"B"}}},
		// A moves: Location/1 stays B's only, Location/2 is A's.
		{npi: "A", keys: []string{"Practitioner/a", "Location/2", "Organization/net"}, wantOld: []string{"Location/1", "Organization/net", "Practitioner/a"}, want: map[string][]string{
			"Location/1": {"B"}, "Location/2": {"A"}, "Practitioner/a": {"A"}}},
		// B's rows are deleted.
		{npi: "B", keys: nil, wantOld: []string{"Location/1", "Organization/b", "Organization/net"}, want: map[string][]string{
			"Location/1": nil, "Organization/b": nil, "Organization/net": {"A"}}},
	}
	for i, s := range steps {
		old := x.set(s.npi, s.keys)
		if !slices.Equal(old, s.wantOld) {
			t.Errorf("step %d: set(%s) old = %q, want %q", i, s.npi, old, s.wantOld)
		}
		for k, want := range s.want {
			got := x.npis(k, 10)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("step %d: npis(%s) = %q, want %q", i, k, got, want)
			}
		}
	}
	if n, k := x.size(); n != 1 || k != 3 {
		t.Errorf("size = %d NPIs, %d keys; want 1, 3", n, k)
	}
	if got := x.npis("Organization/net", 0); len(got) != 0 {
		t.Errorf("npis(max 0) = %q", got)
	}
}
