package check_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"
)

// doc is a FHIR JSON resource as generic JSON, so that tests can break it
// freely (google/fhir's validating parser would refuse resources that break
// base R4 rules; the documents are parsed without validation).
type doc = map[string]any

// load reads testdata/<name>.json.
func load(t testing.TB, name string) doc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// exampleNames lists the valid example resources in testdata.
func exampleNames(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	sort.Strings(out)
	return out
}

var lenient *jsonformat.Unmarshaller

func init() {
	var err error
	lenient, err = jsonformat.NewUnmarshallerWithoutValidation("UTC", fhirversion.R4)
	if err != nil {
		panic(err)
	}
}

// toProto parses a document into its google/fhir resource message, without
// validation.
func toProto(t testing.TB, d doc) proto.Message {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := lenient.Unmarshal(b)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	r, err := resource.Unwrap(m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// strict parses a document with google/fhir's validating parser
// (resource.Unmarshal), as a user would.
func strict(t testing.TB, d doc) proto.Message {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := resource.Unmarshal(b)
	if err != nil {
		t.Fatalf("resource.Unmarshal: %v", err)
	}
	return m
}

// walk returns the container holding the last element of a dotted path
// ("item.0.adjudication.7.reason") and that element's key or index.
func walk(t testing.TB, d doc, path string) (container any, key string) {
	t.Helper()
	parts := strings.Split(path, ".")
	var cur any = d
	for _, p := range parts[:len(parts)-1] {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[p]
			if !ok {
				t.Fatalf("path %s: no %q", path, p)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(c) {
				t.Fatalf("path %s: bad index %q", path, p)
			}
			cur = c[i]
		default:
			t.Fatalf("path %s: cannot descend into %T", path, cur)
		}
	}
	return cur, parts[len(parts)-1]
}

// get returns the element at path.
func get(t testing.TB, d doc, path string) any {
	t.Helper()
	c, k := walk(t, d, path)
	switch c := c.(type) {
	case map[string]any:
		return c[k]
	case []any:
		i, _ := strconv.Atoi(k)
		return c[i]
	}
	return nil
}

// del removes the element at path (a key, or an array index).
func del(path string) func(testing.TB, doc) {
	return func(t testing.TB, d doc) {
		t.Helper()
		c, k := walk(t, d, path)
		switch c := c.(type) {
		case map[string]any:
			if _, ok := c[k]; !ok {
				t.Fatalf("del %s: absent", path)
			}
			delete(c, k)
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(c) {
				t.Fatalf("del %s: bad index", path)
			}
			parent, pk := walk(t, d, path[:strings.LastIndexByte(path, '.')])
			setIn(t, parent, pk, append(append([]any{}, c[:i]...), c[i+1:]...))
		}
	}
}

// set replaces (or adds) the element at path. Values given as JSON text
// (starting with { or [) are decoded first.
func set(path string, v any) func(testing.TB, doc) {
	return func(t testing.TB, d doc) {
		t.Helper()
		c, k := walk(t, d, path)
		setIn(t, c, k, jsonValue(t, v))
	}
}

// add appends v to the array at path (creating it).
func add(path string, v any) func(testing.TB, doc) {
	return func(t testing.TB, d doc) {
		t.Helper()
		c, k := walk(t, d, path)
		var arr []any
		switch c := c.(type) {
		case map[string]any:
			arr, _ = c[k].([]any)
		case []any:
			i, _ := strconv.Atoi(k)
			arr, _ = c[i].([]any)
		}
		setIn(t, c, k, append(arr, jsonValue(t, v)))
	}
}

// dup appends a deep copy of the array element at path to its array.
func dup(path string) func(testing.TB, doc) {
	return func(t testing.TB, d doc) {
		t.Helper()
		b, _ := json.Marshal(get(t, d, path))
		var cp any
		_ = json.Unmarshal(b, &cp)
		add(path[:strings.LastIndexByte(path, '.')], cp)(t, d)
	}
}

// all applies several edits in order.
func all(edits ...func(testing.TB, doc)) func(testing.TB, doc) {
	return func(t testing.TB, d doc) {
		t.Helper()
		for _, e := range edits {
			e(t, d)
		}
	}
}

func setIn(t testing.TB, c any, k string, v any) {
	t.Helper()
	switch c := c.(type) {
	case map[string]any:
		c[k] = v
	case []any:
		i, err := strconv.Atoi(k)
		if err != nil || i >= len(c) {
			t.Fatalf("set: bad index %q", k)
		}
		c[i] = v
	default:
		t.Fatalf("set: cannot set in %T", c)
	}
}

func jsonValue(t testing.TB, v any) any {
	t.Helper()
	s, ok := v.(string)
	if !ok || s == "" || (s[0] != '{' && s[0] != '[') {
		return v
	}
	var out any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("bad JSON value %s: %v", s, err)
	}
	return out
}

// canaryKeys are the JSON keys whose string values are free text or
// identifiers (PHI in real data): the canary test fills them with the canary.
var canaryKeys = map[string]bool{
	"family": true, "given": true, "text": true, "valueString": true, "line": true, "city": true,
	"display": true, "subscriberId": true, "alias": true, "description": true, "comment": true,
	"postalCode": true, "suffix": true,
}

// providerIDs are identifier systems of providers and payers, not PHI.
var providerIDs = map[string]bool{
	"http://hl7.org/fhir/sid/us-npi": true, "urn:oid:2.16.840.1.113883.4.4": true,
	"urn:oid:2.16.840.1.113883.6.300": true, "urn:oid:2.16.840.1.113883.4.7": true,
}

// canarize replaces free text and identifier values in d with canary.
func canarize(v any, canary string) {
	switch x := v.(type) {
	case map[string]any:
		_, hasSystem := x["system"]
		_, hasCode := x["code"]
		for k, e := range x {
			switch {
			case k == "value" && hasSystem && !hasCode:
				// Identifier.value, ContactPoint.value; provider identifiers
				// (NPI, TIN, NAIC, CLIA) are public and keep their syntax.
				if _, ok := e.(string); ok && !providerIDs[x["system"].(string)] {
					x[k] = canary
				}
			case k == "name":
				if _, ok := e.(string); ok {
					x[k] = canary
				} else {
					canarize(e, canary)
				}
			case canaryKeys[k]:
				switch ev := e.(type) {
				case string:
					x[k] = canary
				case []any:
					for i := range ev {
						if _, ok := ev[i].(string); ok {
							ev[i] = canary
						}
					}
				}
			default:
				canarize(e, canary)
			}
		}
	case []any:
		for _, e := range x {
			canarize(e, canary)
		}
	}
}

// mustJSON returns the FHIR JSON of a document.
func mustJSON(t testing.TB, d doc) []byte {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
