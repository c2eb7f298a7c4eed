package check

import (
	"testing"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

func TestParseRefURI(t *testing.T) {
	cases := []struct {
		in  string
		typ string
		key string
	}{
		{"Patient/123", "Patient", "Patient/123"},
		{"https://fhir.example.org/r4/Patient/123", "Patient", "https://fhir.example.org/r4/Patient/123"},
		{"https://fhir.example.org/r4/Patient/123/_history/2", "Patient", "https://fhir.example.org/r4/Patient/123/_history/2"},
		{"urn:uuid:0f1e2d3c-0000-4000-8000-000000000000", "", "urn:uuid:0f1e2d3c-0000-4000-8000-000000000000"},
		{"patient/123", "", "patient/123"},
		{"Pat1ent/123", "", "Pat1ent/123"},
		{"", "", ""},
	}
	for _, c := range cases {
		r := parseRefURI(c.in)
		if r.typ != c.typ || r.key != c.key {
			t.Errorf("parseRefURI(%q) = %+v, want {%s %s}", c.in, r, c.typ, c.key)
		}
	}
}

func TestReference(t *testing.T) {
	cases := []struct {
		ref  *dpb.Reference
		want ref
	}{
		{&dpb.Reference{Reference: &dpb.Reference_PractitionerRoleId{PractitionerRoleId: &dpb.ReferenceId{Value: "r1"}}}, ref{"PractitionerRole", "PractitionerRole/r1"}},
		{&dpb.Reference{Reference: &dpb.Reference_Uri{Uri: &dpb.String{Value: "urn:uuid:x"}}}, ref{"", "urn:uuid:x"}},
		{&dpb.Reference{Reference: &dpb.Reference_Uri{Uri: &dpb.String{Value: "urn:uuid:x"}}, Type: &dpb.Uri{Value: "Organization"}}, ref{"Organization", "urn:uuid:x"}},
		{&dpb.Reference{Reference: &dpb.Reference_Fragment{Fragment: &dpb.String{Value: "c1"}}}, ref{"", "#c1"}},
		{&dpb.Reference{Type: &dpb.Uri{Value: "http://hl7.org/fhir/StructureDefinition/Practitioner"}, Display: &dpb.String{Value: "x"}}, ref{"Practitioner", ""}},
		{&dpb.Reference{}, ref{}},
	}
	for i, c := range cases {
		if got := reference(c.ref.ProtoReflect()); got != c.want {
			t.Errorf("case %d: got %+v, want %+v", i, got, c.want)
		}
	}
	if got := reference(nil); got != (ref{}) {
		t.Errorf("nil: %+v", got)
	}
}

func TestSnakeToType(t *testing.T) {
	for in, want := range map[string]string{"patient": "Patient", "practitioner_role": "PractitionerRole", "medicinal_product_undesirable_effect": "MedicinalProductUndesirableEffect"} {
		if got := snakeToType(in); got != want {
			t.Errorf("snakeToType(%q) = %q", in, got)
		}
	}
}

func TestNPILuhn(t *testing.T) {
	for npi, want := range map[string]bool{
		"1234567893":  true, // MAPPING.md §3.4 sanity value
		"1912301953":  true,
		"1234567890":  false,
		"123456789":   false,
		"12345678901": false,
		"123456789X":  false,
		"0000000000":  false,
	} {
		if got := npiLuhn(npi); got != want {
			t.Errorf("npiLuhn(%q) = %v", npi, got)
		}
	}
}

func TestCodeReaders(t *testing.T) {
	// An enum code with a FHIR original code ("<") and one without.
	lt := &dpb.Quantity_ComparatorCode{Value: cpb.QuantityComparatorCode_LESS_THAN}
	if got := code(lt.ProtoReflect()); got != "<" {
		t.Errorf("comparator code %q", got)
	}
	use := &dpb.ContactPoint_UseCode{Value: cpb.ContactPointUseCode_MOBILE}
	if got := code(use.ProtoReflect()); got != "mobile" {
		t.Errorf("use code %q", got)
	}
	if got := code((&dpb.ContactPoint_UseCode{}).ProtoReflect()); got != "" {
		t.Errorf("unset code %q", got)
	}
	if got := code((&dpb.Code{Value: "abc"}).ProtoReflect()); got != "abc" {
		t.Errorf("Code %q", got)
	}
	if got := codings((&dpb.Code{Value: "F"}).ProtoReflect()); len(got) != 1 || got[0] != (coding{code: "F"}) {
		t.Errorf("codings of a Code: %v", got)
	}
	if v, ok := uintValue((&dpb.PositiveInt{Value: 3}).ProtoReflect()); !ok || v != 3 {
		t.Error("PositiveInt")
	}
	if v, ok := uintValue((&dpb.Integer{Value: -1}).ProtoReflect()); ok || v != 0 {
		t.Error("negative Integer")
	}
	if v, ok := uintValue((&dpb.Integer{Value: 7}).ProtoReflect()); !ok || v != 7 {
		t.Error("Integer")
	}
	if _, ok := uintValue((&dpb.String{Value: "7"}).ProtoReflect()); ok {
		t.Error("String as uint")
	}
	if _, ok := boolean((&dpb.String{}).ProtoReflect()); ok {
		t.Error("String as boolean")
	}
	if !coded((&dpb.Coding{}).ProtoReflect()) || coded((&dpb.Address{}).ProtoReflect()) || !coded(use.ProtoReflect()) {
		t.Error("coded")
	}
}

func TestValueSetHelpers(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("vs with an entry without # should panic (a programming error in the rule tables)")
		}
	}()
	v := vs("x", "s#a", "s#*", "s#b")
	if !v.contains(coding{"s", "zzz"}) || v.contains(coding{"s", ""}) || v.contains(coding{"t", "a"}) {
		t.Error("whole-system membership")
	}
	if !v.containsCode("q") || vs("y", "s#a").containsCode("b") {
		t.Error("containsCode")
	}
	vs("bad", "no-hash")
}
