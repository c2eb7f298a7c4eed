package fhirmap

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	clpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

func TestCodeTables(t *testing.T) {
	for in, want := range map[string]int{"P": 1, "S": 2, "T": 3, "A": 4, "H": 11, "U": 0, "": 0, "PP": 0, "s": 2, "I": 0} {
		if got := responsibilitySequence(in); got != want {
			t.Errorf("responsibilitySequence(%q) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[string]string{"18": "self", "01": "spouse", "19": "child", "53": "common", "20": "other", "G8": "other", "": "other"} {
		if got := subscriberRelationship(in); got != want {
			t.Errorf("subscriberRelationship(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		kind       x12.Kind
		nm101      string
		code, text string
		ok         bool
	}{
		{x12.Kind837PClaim, "82", "rendering", "", true},
		{x12.Kind837PClaim, "DQ", "supervisor", "", true},
		{x12.Kind837PClaim, "DN", "referring", "", true},
		{x12.Kind837PClaim, "P3", "primary", "", true},
		{x12.Kind837PClaim, "QB", "purchasedservice", "", true},
		{x12.Kind837PClaim, "DK", "", "ordering", true},
		{x12.Kind837DClaim, "DD", "", "assistant surgeon", true},
		{x12.Kind837IClaim, "71", "attending", "", true},
		{x12.Kind837IClaim, "72", "operating", "", true},
		{x12.Kind837IClaim, "ZZ", "otheroperating", "", true},
		{x12.Kind837PClaim, "ZZ", "", "", false},
		{x12.Kind837PClaim, "77", "", "", false},
		{x12.Kind837PClaim, "PW", "", "", false},
	} {
		_, code, text, ok := careTeamRole(tc.kind, tc.nm101)
		if code != tc.code || text != tc.text || ok != tc.ok {
			t.Errorf("careTeamRole(%s, %s) = %q, %q, %v", tc.kind, tc.nm101, code, text, ok)
		}
	}
	for in, want := range map[string]string{"MB": "1", "16": "1", "MC": "2", "VA": "3", "BL": "6", "CI": "5", "HM": "5", "WC": "95", "ZZ": "", "": ""} {
		_, got, ok := DefaultCoverageType(in)
		if got != want || ok != (want != "") {
			t.Errorf("DefaultCoverageType(%q) = %q, %v", in, got, ok)
		}
	}
	for _, tc := range []struct {
		charge x12.Amount
		units  string
		want   string
	}{
		{"150", "1", "150.00"}, {"80", "2", "40.00"}, {"100", "3", ""}, {"300.40", "12.5", ""}, {"300", "12.5", "24.00"},
		{"10", "0", ""}, {"10", "", ""}, {"", "1", ""}, {"-20", "2", "-10.00"}, {"x", "1", ""},
	} {
		got := unitPrice(tc.charge, tc.units, currencyUSD).GetValue().GetValue()
		if got != tc.want {
			t.Errorf("unitPrice(%s, %s) = %q, want %q", tc.charge, tc.units, got, tc.want)
		}
	}
}

func TestICDDiagnosis(t *testing.T) {
	for _, tc := range []struct{ q, code, sys, want string }{
		{"ABK", "J209", "http://hl7.org/fhir/sid/icd-10-cm", "J20.9"},
		{"ABF", "S060X1A", "http://hl7.org/fhir/sid/icd-10-cm", "S06.0X1A"},
		{"BK", "4019", "http://hl7.org/fhir/sid/icd-9-cm", "401.9"},
		{"BF", "V7389", "http://hl7.org/fhir/sid/icd-9-cm", "V73.89"},
		{"BJ", "E8889", "http://hl7.org/fhir/sid/icd-9-cm", "E888.9"},
	} {
		c, err := icdDiagnosis(x12.HealthCareCode{Qualifier: tc.q, Code: tc.code})
		if err != nil || c.GetSystem().GetValue() != tc.sys || c.GetCode().GetValue() != tc.want {
			t.Errorf("icdDiagnosis(%s:%s) = %v, %v", tc.q, tc.code, c, err)
		}
	}
	if _, err := icdDiagnosis(x12.HealthCareCode{Qualifier: "ABK", Code: "4019"}); err == nil {
		t.Error("ICD-9 code under ABK accepted as ICD-10-CM")
	}
}

func TestIsRecordError(t *testing.T) {
	for _, tc := range []struct {
		loop, seg string
		err       error
		want      bool
	}{
		{"2300", "CLM", x12.ErrRequiredElement, true},
		{"2400", "SV1", x12.ErrInvalidValue, true},
		{"2430", "SVD", x12.ErrInvalidValue, true},
		{"2100", "CLP", x12.ErrRequiredElement, true},
		{"2110", "SVC", x12.ErrInvalidValue, true},
		{"2000", "INS", x12.ErrRequiredElement, true},
		{"2100A", "NM1", x12.ErrRequiredElement, true},
		{"2000", "LX", x12.ErrInvalidValue, false},
		{"2010BA", "NM1", x12.ErrRequiredElement, false},
		{"2000B", "SBR", x12.ErrMissingSegment, false},
		{"1000A", "N1", x12.ErrRequiredElement, false},
		{"", "SE", x12.ErrSegmentCount, false},
		{"2010BA", "NM1", x12.ErrContext, true},
	} {
		se := &x12.SyntaxError{Pos: x12.Position{Loop: tc.loop, SegmentID: tc.seg}, Err: tc.err}
		if got := isRecordError(se); got != tc.want {
			t.Errorf("isRecordError(%s %s %v) = %v", tc.loop, tc.seg, tc.err, got)
		}
	}
}

func TestNewMapperOptions(t *testing.T) {
	if _, err := NewMapper(nil, &Options{C4BBVersion: "3.0.0"}); err == nil {
		t.Error("NewMapper accepted C4BB 3.0.0")
	}
	if _, err := NewMapper(nil, &Options{Translate: []Translation{{From: "urn:x"}}}); err == nil {
		t.Error("NewMapper accepted Translate without a terminology.Mapper")
	}
	if _, err := NewMapper(terminology.NewIndex(nil), &Options{Translate: []Translation{{From: " "}}}); err == nil {
		t.Error("NewMapper accepted a Translation without From")
	}
	if _, err := NewMapper(nil, &Options{IDs: &IDOptions{Key: []byte("short")}}); err == nil {
		t.Error("NewMapper accepted a short id key")
	}
	m, err := NewMapper(nil, nil)
	if err != nil || m.C4BBVersion() != C4BB210 || m.IDs().Keyed() {
		t.Errorf("NewMapper(nil, nil) = %v, %v", m, err)
	}
}

func mapOne(t *testing.T, m *Mapper, data []byte) *Result {
	t.Helper()
	rec, err := x12.NewDecoder(bytes.NewReader(data)).Read()
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.MapRecord(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func claimOf(t *testing.T, res *Result) *clpb.Claim {
	t.Helper()
	c, ok := res.Resources[len(res.Resources)-1].(*clpb.Claim)
	if !ok {
		t.Fatalf("last resource is %s, not a Claim", resource.Type(res.Resources[len(res.Resources)-1]))
	}
	return c
}

// TestTimeZone: with Options.TimeZone, BHT05 and the admission hour become
// dateTimes in that zone (MAPPING.md §1.4).
func TestTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	m, err := NewMapper(nil, &Options{TimeZone: ny, Now: func() time.Time { return goldenNow }})
	if err != nil {
		t.Fatal(err)
	}
	c := claimOf(t, mapOne(t, m, readCase(t, "837i_inpatient")))
	j, err := resource.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"created":"2024-01-15T10:30:00-05:00"`, `"timingPeriod":{"end":"2024-01-05T11:30:00-05:00","start":"2024-01-01T08:30:00-05:00"}`} {
		if !strings.Contains(string(j), want) {
			t.Errorf("Claim JSON lacks %s", want)
		}
	}
}

// TestVersion220 emits C4BB 2.2.0 canonicals.
func TestVersion220(t *testing.T) {
	m, err := NewMapper(nil, &Options{C4BBVersion: C4BB220})
	if err != nil {
		t.Fatal(err)
	}
	res := mapOne(t, m, readCase(t, "837p_simple"))
	for _, r := range res.Resources[:len(res.Resources)-1] {
		j, _ := resource.Marshal(r)
		if !strings.Contains(string(j), "|2.2.0") {
			t.Errorf("%s declares no 2.2.0 profile: %s", resource.Type(r), j)
		}
	}
}

// TestMappingErrors: bad values give *Error with the FHIR path and the X12
// position of the element.
func TestMappingErrors(t *testing.T) {
	simple := string(readCase(t, "837p_simple"))
	for _, tc := range []struct {
		name, old, new string
		sentinel       error
		path, seg      string
		element        int
	}{
		{"cpt", "HC:99213:25", "HC:9921:25", ErrInvalidCode, "Claim.item[0].productOrService", "SV1", 1},
		{"modifier", "HC:99213:25", "HC:99213:2$", ErrInvalidCode, "Claim.item[0].modifier", "SV1", 1},
		{"pos", "11:B:1", "1X:B:1", ErrInvalidCode, "Claim.item[0].locationCodeableConcept", "CLM", 5},
		{"line pos", "UN*1***1:2", "UN*1*X**1:2", ErrInvalidCode, "Claim.item[0].locationCodeableConcept", "SV1", 5},
		{"pointer", "UN*1***1:2", "UN*1***1:5", ErrInconsistent, "Claim.item[0].diagnosisSequence", "SV1", 7},
		{"gender", "DMG*D8*19800214*F", "DMG*D8*19800214*X", ErrInvalidCode, "Patient.gender", "DMG", 3},
		{"payer", "ACME HEALTH*****PI*12345", "ACME HEALTH", ErrMissing, "Claim.insurer", "NM1", 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := goldenMapper(t, "837p_simple", nil)
			body := strings.Replace(simple, tc.old, tc.new, 1)
			rec, err := x12.NewDecoder(strings.NewReader(body)).Read()
			if err != nil {
				t.Skipf("the decoder already rejects it: %v", err)
			}
			_, err = m.MapRecord(context.Background(), rec)
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if !errors.Is(err, tc.sentinel) || me.Path != tc.path || me.Pos.SegmentID != tc.seg || me.Pos.Element != tc.element {
				t.Errorf("err = %v (path %q, pos %+v)", err, me.Path, me.Pos)
			}
		})
	}
}

// TestInvalidNPIWarning: an NPI whose check digit fails is kept, with a
// warning, and the resource does not claim C4BB.
func TestInvalidNPIWarning(t *testing.T) {
	body := strings.Replace(string(readCase(t, "837p_simple")), "XX*1679576722", "XX*1679576723", 1)
	res := mapOne(t, goldenMapper(t, "837p_simple", nil), []byte(body))
	if len(res.Warnings) != 1 || res.Warnings[0].Rule != "npi-check-digit" || len(res.Unmet) != 1 || res.Unmet[0].Rule != "us-core-17" {
		t.Fatalf("warnings %v, unmet %v", res.Warnings, res.Unmet)
	}
	for _, r := range res.Resources {
		if resource.Type(r) == "Practitioner" {
			j, _ := resource.Marshal(r)
			if strings.Contains(string(j), "C4BB") || !strings.Contains(string(j), "1679576723") {
				t.Errorf("practitioner = %s", j)
			}
		}
	}
	m, _ := NewMapper(nil, &Options{NoNPICheck: true})
	if res := mapOne(t, m, []byte(body)); len(res.Warnings) != 0 {
		t.Errorf("NoNPICheck: warnings %v", res.Warnings)
	}
}

// TestDependentResolverError: a failing resolver fails the record with the
// cause kept for Diagnostics only.
func TestDependentResolverError(t *testing.T) {
	m, err := NewMapper(nil, &Options{DependentMemberID: func(context.Context, Dependent) (string, error) {
		return "", errors.New("enrollment store down")
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewX12Converter(m, nil).Convert(context.Background(), source.NewMessage("m", readCase(t, "837p_dependent"), nil, nil, nil))
	var me *Error
	if !errors.As(err, &me) || !errors.Is(err, ErrMissing) || strings.Contains(err.Error(), "store down") || !strings.Contains(me.Diagnostics(), "store down") {
		t.Errorf("err = %v", err)
	}
}

// TestCorrectionWithoutOriginal: a replacement claim without REF*F8 maps,
// with a warning and no related claim.
func TestCorrectionWithoutOriginal(t *testing.T) {
	body := strings.Replace(string(readCase(t, "837p_simple")), "11:B:1", "11:B:7", 1)
	res := mapOne(t, goldenMapper(t, "837p_simple", nil), []byte(body))
	if len(res.Warnings) != 1 || res.Warnings[0].Rule != "correction-without-original" || claimOf(t, res).Related != nil {
		t.Errorf("warnings = %v", res.Warnings)
	}
}

// TestLineage: the lineage URN escapes the source name and names the
// envelope and the record's offset.
func TestLineage(t *testing.T) {
	m := goldenMapper(t, "837p_simple", nil).WithSourceName("in box/claims:1.x12")
	rec, err := x12.NewDecoder(bytes.NewReader(readCase(t, "837p_simple"))).Read()
	if err != nil {
		t.Fatal(err)
	}
	want := "urn:fhirsync:x12:in%20box%2Fclaims%3A1.x12:000000101:101:0101:" + strconv.FormatInt(rec.Pos().Offset, 10)
	if got := m.Lineage(rec); got != want {
		t.Errorf("Lineage = %q, want %q", got, want)
	}
	if got := m.WithSourceName("").Lineage(rec); !strings.HasPrefix(got, "urn:fhirsync:x12:-:") {
		t.Errorf("Lineage without a source = %q", got)
	}
}
