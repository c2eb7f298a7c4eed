package terminology

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

const (
	payerPOS    = "http://example.org/CodeSystem/payer-pos"
	posMapURL   = "http://example.org/fhir/ConceptMap/payer-pos"
	posLegacy   = "http://example.org/fhir/ConceptMap/payer-pos-legacy"
	icd9to10URL = "http://example.org/fhir/ConceptMap/icd9-icd10"
)

// icd9to10 is a small ConceptMap exercising every equivalence and rule.
var icd9to10 = func() string {
	data, err := os.ReadFile("testdata/icd9-icd10.json")
	if err != nil {
		panic(err)
	}
	return string(data)
}()

func mustParse(t testing.TB, data string) []*ConceptMap {
	t.Helper()
	maps, err := ParseConceptMaps([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return maps
}

func TestConceptMapTranslate(t *testing.T) {
	cm := mustParse(t, icd9to10)[0]
	ctx := context.Background()
	icd9 := func(code string) Coding { return Coding{System: SystemICD9CM, Code: code} }
	cases := []struct {
		from   Coding
		target string
		want   Coding
		reason Reason
		eq     Equivalence
	}{
		{from: icd9("401.9"), target: SystemICD10CM, want: Coding{System: SystemICD10CM, Version: "2015", Code: "I10",
			Display: "Essential (primary) hypertension", Equivalence: EquivalenceEquivalent, ConceptMap: icd9to10URL}},
		{from: icd9("250.00"), target: SystemICD10CM, want: Coding{System: SystemICD10CM, Version: "2015", Code: "E11.9", Equivalence: EquivalenceEqual, ConceptMap: icd9to10URL}},
		{from: icd9("V73.89"), target: "", want: Coding{System: SystemICD10CM, Version: "2015", Code: "Z11.59", Equivalence: EquivalenceInexact, ConceptMap: icd9to10URL}},
		{from: icd9("E888.9"), target: SystemICD10CM, want: Coding{System: SystemICD10CM, Version: "2015", Code: "W19.XXXA", Equivalence: EquivalenceRelatedTo, ConceptMap: icd9to10URL}},
		{from: icd9("V25.2"), target: SystemICD10CM, want: Coding{System: SystemICD10CM, Version: "2015", Code: "Z30.2", Equivalence: EquivalenceSubsumes, ConceptMap: icd9to10URL}},
		{from: icd9("V70.0"), target: SystemICD10CM, want: Coding{System: SystemICD10CM, Version: "2015", Code: "Z00.00", Equivalence: EquivalenceSpecializes, ConceptMap: icd9to10URL}},
		// A target that depends on other data is skipped; the next one is used.
		{from: icd9("401.1"), target: SystemICD10CM, want: Coding{System: SystemICD10CM, Version: "2015", Code: "I10", Equivalence: EquivalenceWider, ConceptMap: icd9to10URL}},
		// Source version matches or is absent.
		{from: Coding{System: SystemICD9CM, Version: "2014", Code: "401.9"}, target: SystemICD10CM,
			want: Coding{System: SystemICD10CM, Version: "2015", Code: "I10", Display: "Essential (primary) hypertension", Equivalence: EquivalenceEquivalent, ConceptMap: icd9to10URL}},
		{from: Coding{System: SystemICD9CM, Version: "2012", Code: "401.9"}, target: SystemICD10CM, reason: ReasonNoMap},
		{from: icd9("799.9"), target: SystemICD10CM, reason: ReasonExcluded, eq: EquivalenceUnmatched},
		{from: icd9("530.81"), target: SystemICD10CM, reason: ReasonExcluded, eq: EquivalenceDisjoint},
		{from: icd9("123.4"), target: SystemICD10CM, reason: ReasonNoElement},
		{from: icd9("401.9"), target: SystemSNOMEDCT, reason: ReasonNoMap},
		{from: Coding{System: SystemICD10CM, Code: "I10"}, target: SystemICD9CM, reason: ReasonNoMap},
	}
	for _, tc := range cases {
		got, err := cm.Translate(ctx, tc.from, tc.target)
		if tc.reason == "" {
			if err != nil || got != tc.want {
				t.Errorf("Translate(%v, %q) = %+v, %v; want %+v", tc.from, tc.target, got, err, tc.want)
			}
			continue
		}
		var nm *NoMappingError
		if !errors.As(err, &nm) || !errors.Is(err, ErrNoMapping) || nm.Reason != tc.reason || nm.Equivalence != tc.eq {
			t.Errorf("Translate(%v, %q) = %+v, %v; want no mapping (%s, %q)", tc.from, tc.target, got, err, tc.reason, tc.eq)
		}
	}
}

func TestIndexAccept(t *testing.T) {
	ix := NewIndex(&IndexOptions{Accept: AcceptExact})
	if err := ix.Add(mustParse(t, icd9to10)...); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if c, err := ix.Translate(ctx, Coding{System: SystemICD9CM, Code: "401.9"}, SystemICD10CM); err != nil || c.Code != "I10" {
		t.Errorf("equivalent: %v, %v", c, err)
	}
	_, err := ix.Translate(ctx, Coding{System: SystemICD9CM, Code: "V73.89"}, SystemICD10CM)
	var nm *NoMappingError
	if !errors.As(err, &nm) || nm.Reason != ReasonExcluded || nm.Equivalence != EquivalenceInexact {
		t.Errorf("inexact under AcceptExact: %v", err)
	}
}

func TestIndexBundle(t *testing.T) {
	data, err := os.ReadFile("testdata/payer-maps.json")
	if err != nil {
		t.Fatal(err)
	}
	maps, err := ParseConceptMaps(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 2 || maps[0].URL != posMapURL || maps[1].URL != posLegacy {
		t.Fatalf("maps = %d", len(maps))
	}
	ix := NewIndex(nil)
	if err := ix.Add(maps...); err != nil {
		t.Fatal(err)
	}
	if err := ix.Add(mustParse(t, icd9to10)...); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pos := func(code string) Coding { return Coding{System: payerPOS, Code: code} }
	cases := []struct {
		code    string
		want    string
		display string
		eq      Equivalence
		mapURL  string
		reason  Reason
	}{
		{code: "OFF", want: "11", display: "Office", eq: EquivalenceEquivalent, mapURL: posMapURL},
		{code: "TEL", want: "02", display: "Telehealth Provided Other than in Patient's Home", eq: EquivalenceWider, mapURL: posMapURL},
		{code: "HOME", want: "12", display: "Home", eq: EquivalenceNarrower, mapURL: posMapURL}, // disjoint target skipped
		{code: "UNK", reason: ReasonExcluded}, // unmatched: unmapped rule ignored
		{code: "HOSP-OP", want: "22", display: "On Campus-Outpatient Hospital", eq: EquivalenceEquivalent, mapURL: posLegacy}, // other-map
		{code: "SPACE", want: "99", display: "Other Place of Service", eq: EquivalenceWider, mapURL: posLegacy},               // other-map's fixed
	}
	for _, tc := range cases {
		got, err := ix.Translate(ctx, pos(tc.code), SystemPlaceOfService)
		if tc.reason != "" {
			var nm *NoMappingError
			if !errors.As(err, &nm) || nm.Reason != tc.reason {
				t.Errorf("%s: %+v, %v; want %s", tc.code, got, err, tc.reason)
			}
			continue
		}
		want := Coding{System: SystemPlaceOfService, Code: tc.want, Display: tc.display, Equivalence: tc.eq, ConceptMap: tc.mapURL}
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", tc.code, got, err, want)
		}
	}
	if c, err := ix.Translate(ctx, Coding{System: SystemICD9CM, Code: "250.00"}, SystemICD10CM); err != nil || c.Code != "E11.9" {
		t.Errorf("icd9 via index: %v, %v", c, err)
	}
	if ix.Map(posLegacy+"|1") != maps[1] || ix.Map(posLegacy+"|2") != nil || ix.Map(posLegacy) != maps[1] || ix.Map("x") != nil {
		t.Error("Map lookup by canonical")
	}
	if len(ix.Maps()) != 3 {
		t.Errorf("Maps() = %d", len(ix.Maps()))
	}
	err = ix.Add(mustParse(t, icd9to10)...)
	if !errors.Is(err, ErrDuplicateMap) {
		t.Errorf("duplicate url: %v", err)
	}
}

func TestUnmappedModes(t *testing.T) {
	const local = "urn:example:local-revenue"
	provided := &ConceptMap{URL: "urn:map:provided", Group: []Group{{
		Source: local, Target: SystemNUBCRevenue, TargetVersion: "2024",
		Element:  []Element{{Code: "ER", Target: []Target{{Code: "0450", Equivalence: EquivalenceEquivalent}}}},
		Unmapped: &Unmapped{Mode: UnmappedProvided},
	}}}
	ctx := context.Background()
	got, err := provided.Translate(ctx, Coding{System: local, Code: "0551", Display: "ignored"}, SystemNUBCRevenue)
	want := Coding{System: SystemNUBCRevenue, Version: "2024", Code: "0551", Equivalence: EquivalenceEquivalent, ConceptMap: "urn:map:provided"}
	if err != nil || got != want {
		t.Errorf("provided: %+v, %v", got, err)
	}

	// other-map chains: a → b → c resolves; a loop a → b → a is refused.
	mk := func(url, next string, codes ...string) *ConceptMap {
		g := Group{Source: local, Target: SystemNUBCRevenue}
		for _, c := range codes {
			g.Element = append(g.Element, Element{Code: c, Target: []Target{{Code: "0" + c, Equivalence: EquivalenceEquivalent}}})
		}
		if next != "" {
			g.Unmapped = &Unmapped{Mode: UnmappedOtherMap, URL: next}
		}
		return &ConceptMap{URL: url, Group: []Group{g}}
	}
	ix := NewIndex(nil)
	if err := ix.Add(mk("urn:a", "urn:b", "100"), mk("urn:b", "urn:c", "200"), mk("urn:c", "", "300")); err != nil {
		t.Fatal(err)
	}
	if c, err := ix.Translate(ctx, Coding{System: local, Code: "300"}, SystemNUBCRevenue); err != nil || c.Code != "0300" || c.ConceptMap != "urn:c" {
		t.Errorf("chain: %+v, %v", c, err)
	}
	if _, err := ix.Translate(ctx, Coding{System: local, Code: "999"}, SystemNUBCRevenue); !errors.Is(err, ErrNoMapping) {
		t.Errorf("end of chain: %v", err)
	}

	loop := NewIndex(nil)
	if err := loop.Add(mk("urn:x", "urn:y", "1"), mk("urn:y", "urn:x", "2")); err != nil {
		t.Fatal(err)
	}
	_, err = loop.Translate(ctx, Coding{System: local, Code: "3"}, SystemNUBCRevenue)
	if !errors.Is(err, ErrMapLoop) || errors.Is(err, ErrNoMapping) {
		t.Errorf("loop: %v", err)
	}
	self := mk("urn:self", "urn:self", "1")
	if _, err := self.Translate(ctx, Coding{System: local, Code: "3"}, SystemNUBCRevenue); !errors.Is(err, ErrMapLoop) {
		t.Errorf("self loop: %v", err)
	}
	missing := NewIndex(nil)
	if err := missing.Add(mk("urn:m", "urn:nowhere", "1")); err != nil {
		t.Fatal(err)
	}
	if _, err := missing.Translate(ctx, Coding{System: local, Code: "3"}, SystemNUBCRevenue); !errors.Is(err, ErrMapNotFound) {
		t.Errorf("missing other map: %v", err)
	}
	// A long chain is cut at the depth limit.
	deep := NewIndex(nil)
	for i := 0; i < 40; i++ {
		if err := deep.Add(mk("urn:d"+itoa3(i), "urn:d"+itoa3(i+1), "x"+itoa3(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := deep.Translate(ctx, Coding{System: local, Code: "zzz"}, SystemNUBCRevenue); !errors.Is(err, ErrMapLoop) {
		t.Errorf("deep chain: %v", err)
	}
}

func itoa3(i int) string {
	return string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}

func TestParseConceptMapErrors(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		err    error
		path   string
		offset int64
	}{
		{"empty", ``, ErrSyntax, "", 0},
		{"truncated", `{"resourceType":"ConceptMap","group":[`, ErrSyntax, "", 38},
		{"bad char", `{"resourceType":"ConceptMap",}`, ErrSyntax, "", 29},
		{"not object", `[1,2]`, ErrInvalidConceptMap, "", 1},
		{"no type", `{"url":"u"}`, ErrNotConceptMap, "resourceType", -1},
		{"other type", `{"resourceType":"Patient"}`, ErrNotConceptMap, "resourceType", -1},
		{"group type", `{"resourceType":"ConceptMap","group":{"source":"a"}}`, ErrInvalidConceptMap, "group", 38},
		{"no source", `{"resourceType":"ConceptMap","group":[{"target":"b"}]}`, ErrInvalidConceptMap, "group[0].source", -1},
		{"no target", `{"resourceType":"ConceptMap","group":[{"source":"a"}]}`, ErrInvalidConceptMap, "group[0].target", -1},
		{"no code", `{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","element":[{"target":[]}]}]}`,
			ErrInvalidConceptMap, "group[0].element[0].code", -1},
		{"no equivalence", `{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","element":[{"code":"1","target":[{"code":"2"}]}]}]}`,
			ErrInvalidConceptMap, "group[0].element[0].target[0].equivalence", -1},
		{"bad equivalence", `{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","element":[{"code":"1"},{"code":"1","target":[{"code":"2","equivalence":"source-is-narrower-than-target"}]}]}]}`,
			ErrInvalidConceptMap, "group[0].element[1].target[0].equivalence", -1},
		{"target without code", `{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","element":[{"code":"1","target":[{"equivalence":"wider"}]}]}]}`,
			ErrInvalidConceptMap, "group[0].element[0].target[0].code", -1},
		{"fixed without code", `{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","unmapped":{"mode":"fixed"}}]}`,
			ErrInvalidConceptMap, "group[0].unmapped.code", -1},
		{"other-map without url", `{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","unmapped":{"mode":"other-map"}}]}`,
			ErrInvalidConceptMap, "group[0].unmapped.url", -1},
		{"bad mode", `{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","unmapped":{"mode":"guess"}}]}`,
			ErrInvalidConceptMap, "group[0].unmapped.mode", -1},
		{"no mode", `{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","unmapped":{}}]}`,
			ErrInvalidConceptMap, "group[0].unmapped.mode", -1},
		{"bundle entry invalid", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ConceptMap"}},{"resource":{"resourceType":"ConceptMap","group":[{"source":"a"}]}}]}`,
			ErrInvalidConceptMap, "entry[1].resource.group[0].target", -1},
		{"bundle entry type error", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","name":[{}]}},{"resource":{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","element":[{"code":7}]}]}}]}`,
			ErrInvalidConceptMap, "entry[1].resource.group.element.code", -1},
		{"bundle entry type error, slow path semantic", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","name":[{}]}},{"resource":{"resourceType":"ConceptMap","group":[{"source":"a"}]}}]}`,
			ErrInvalidConceptMap, "entry[1].resource.group[0].target", -1},
		{"nested bundles", strings.Repeat(`{"resourceType":"Bundle","entry":[{"resource":`, 10) + `{"resourceType":"ConceptMap"}` + strings.Repeat(`}]}`, 10),
			ErrNotConceptMap, "", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConceptMaps([]byte(tc.in))
			var ce *ConceptMapError
			if !errors.As(err, &ce) || !errors.Is(err, tc.err) {
				t.Fatalf("error = %v; want %v", err, tc.err)
			}
			if tc.name == "nested bundles" {
				if !strings.Contains(ce.Path, "entry[0].resource") {
					t.Errorf("path = %q", ce.Path)
				}
				return
			}
			if ce.Path != tc.path || ce.Offset != tc.offset {
				t.Errorf("path, offset = %q, %d; want %q, %d (%v)", ce.Path, ce.Offset, tc.path, tc.offset, err)
			}
		})
	}
}

// TestConceptMapErrorCanary: values from the input never reach error text.
func TestConceptMapErrorCanary(t *testing.T) {
	const c = "ZZCANARYZZ"
	inputs := []string{
		`{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","element":[{"code":"` + c + `","target":[{"code":"x","equivalence":"` + c + `"}]}]}]}`,
		`{"resourceType":"` + c + `"}`,
		`{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","element":[{"code":"1","display":"` + c + `","target":[{"code":"` + c + `","equivalence":7}]}]}]}`,
		`{"resourceType":"ConceptMap","name":"` + c + `",}`,
	}
	for _, in := range inputs {
		_, err := ParseConceptMaps([]byte(in))
		if err == nil {
			t.Fatalf("accepted %s", in)
		}
		if strings.Contains(err.Error(), "CANARY") {
			t.Errorf("error leaks input: %v", err)
		}
	}
	cm := mustParse(t, icd9to10)[0]
	_, err := cm.Translate(context.Background(), Coding{System: SystemICD9CM, Code: c}, SystemICD10CM)
	if err == nil || strings.Contains(err.Error(), "CANARY") {
		t.Errorf("no-mapping error = %v", err)
	}
}

func TestConceptMapJSONRoundTrip(t *testing.T) {
	cm := mustParse(t, icd9to10)[0]
	data, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `{"resourceType":"ConceptMap",`) {
		t.Errorf("marshal: %.60s", data)
	}
	back := mustParse(t, string(data))[0]
	again, _ := json.Marshal(back)
	if string(again) != string(data) {
		t.Errorf("round trip differs:\n%s\n%s", data, again)
	}
	// A map built in code is validated on first use.
	bad := &ConceptMap{Group: []Group{{Source: "a"}}}
	if _, err := bad.Translate(context.Background(), Coding{System: "a", Code: "1"}, ""); !errors.Is(err, ErrInvalidConceptMap) {
		t.Errorf("invalid map in code: %v", err)
	}
	if err := NewIndex(nil).Add(bad); !errors.Is(err, ErrInvalidConceptMap) {
		t.Errorf("Index.Add invalid: %v", err)
	}
}

func TestDuplicateElements(t *testing.T) {
	cm := &ConceptMap{Group: []Group{{Source: "a", Target: "b", Element: []Element{
		{Code: "1", Target: []Target{{Equivalence: EquivalenceUnmatched}}},
		{Code: "1", Target: []Target{{Code: "X", Equivalence: EquivalenceEquivalent}}},
	}}}}
	c, err := cm.Translate(context.Background(), Coding{System: "a", Code: "1"}, "b")
	if err != nil || c.Code != "X" {
		t.Errorf("duplicate element: %+v, %v", c, err)
	}
}

func TestTranslateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ix := NewIndex(nil)
	if _, err := ix.Translate(ctx, Coding{System: "a", Code: "1"}, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Index: %v", err)
	}
	if _, err := mustParse(t, icd9to10)[0].Translate(ctx, Coding{}, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("ConceptMap: %v", err)
	}
}
