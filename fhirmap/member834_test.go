package fhirmap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/x12"
)

// The 834 golden cases name the payer by its tax id (1000B N103 FI), as most
// 834s do; the payer id the payer's 837s carry is configured.
func init() {
	for _, name := range []string{"834_add", "834_change", "834_term", "834_reinstate", "834_dependents", "834_full_jan", "834_full_feb"} {
		goldenOptionHooks[name] = func(o *Options) { o.Enrollment = &EnrollmentOptions{PayerID: "99999"} }
	}
}

// x834 wraps member segments (joined with "~") in an 834 interchange whose
// header has the given BGN and payer N1*IN, with a right SE count.
func x834(bgn, payer string, members ...string) string {
	segs := []string{"ST*834*0001*005010X220A1", bgn, "DTP*007*D8*20240201",
		"N1*P5*SYNTH EMPLOYER INC*FI*371111111", payer}
	for _, m := range members {
		segs = append(segs, strings.Split(m, "~")...)
	}
	segs = append(segs, fmt.Sprintf("SE*%d*0001", len(segs)+1))
	out := []string{"ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *240115*1200*^*00501*000000001*0*T*:",
		"GS*BE*SENDER*RECEIVER*20240115*1200*1*X*005010X220A1"}
	out = append(out, segs...)
	out = append(out, "GE*1*1", "IEA*1*000000001")
	return strings.Join(out, "~\n") + "~\n"
}

const (
	bgnChange = "BGN*00*T0001*20240115*1200****2"
	payerFI   = "N1*IN*SYNTH HEALTH PLAN*FI*370000001"
	payerXV   = "N1*IN*SYNTH HEALTH PLAN*XV*99999"
	subGina   = "INS*Y*18*021*28*A***FT~REF*0F*MBR0000001~REF*1L*GRP1001~NM1*IL*1*TESTMEMBER*GINA****34*000000001~DMG*D8*19900515*F"
	hdHealth  = "HD*021**HLT*GOLD PPO*IND~DTP*348*D8*20240201"
)

// map834 decodes an 834 and maps its members with m; decode errors fail the
// test, mapping errors are returned in order.
func map834(t testing.TB, m *Mapper, text string) ([]*Result, []error) {
	t.Helper()
	var out []*Result
	var errs []error
	for rec, err := range x12.NewDecoder(strings.NewReader(text)).Records() {
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		res, err := m.MapRecord(context.Background(), rec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, res)
	}
	return out, errs
}

func ofType[T proto.Message](rs []proto.Message) []T {
	var out []T
	for _, r := range rs {
		if v, ok := r.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestMember834IDsAgreeWith837 maps the family of 837p_dependent from an 834:
// the child's own id comes from REF*23 (the value the 837 side's resolver
// answers), the spouse has none and is keyed by name and birth date on both
// sides; every Patient and Coverage id of the 837 must come out of the 834.
func TestMember834IDsAgreeWith837(t *testing.T) {
	want := map[string]bool{}
	for _, res := range runResults(t, "837p_dependent") {
		for _, r := range res.Resources {
			switch r.(type) {
			case *ppb.Patient, *cvpb.Coverage:
				k, _ := resource.Key(r)
				want[k] = true
			}
		}
	}
	got := map[string]bool{}
	for _, res := range runResults(t, "834_dependents") {
		for _, r := range res.Resources {
			k, _ := resource.Key(r)
			got[k] = true
		}
	}
	if len(want) < 4 {
		t.Fatalf("837p_dependent gave only %d patients and coverages", len(want))
	}
	for k := range want {
		if !got[k] {
			t.Errorf("%s from the 837 is not among the 834's resources", k)
		}
	}
}

// runResults maps every record of a golden case with its golden Mapper.
func runResults(t testing.TB, name string) []*Result {
	t.Helper()
	m := goldenMapper(t, name, NewClaimIndex(nil))
	res, errs := map834(t, m, string(readCase(t, name)))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", name, errs)
	}
	return res
}

func TestMember834Mapping(t *testing.T) {
	tests := []struct {
		name   string
		opts   *EnrollmentOptions
		text   string
		errIs  error
		check  func(t *testing.T, res *Result)
		issues string // a rule that must be among the warnings and unmet
	}{
		{name: "payer id from XV", text: x834(bgnChange, payerXV, subGina+"~"+hdHealth), check: func(t *testing.T, res *Result) {
			p := ofType[*ppb.Patient](res.Resources)[0]
			if s := p.Identifier[0].GetSystem().GetValue(); s != "urn:fhirsync:member-id:99999" {
				t.Errorf("member id system %q", s)
			}
			if len(p.Identifier) != 1 {
				t.Errorf("SSN emitted without Options.Enrollment.SSN")
			}
		}},
		{name: "payer without payer id", text: x834(bgnChange, payerFI, subGina+"~"+hdHealth), issues: "payer-id-unknown"},
		{name: "SSN on request", opts: &EnrollmentOptions{SSN: true}, text: x834(bgnChange, payerXV, subGina+"~"+hdHealth), check: func(t *testing.T, res *Result) {
			p := ofType[*ppb.Patient](res.Resources)[0]
			if len(p.Identifier) != 2 || p.Identifier[1].GetSystem().GetValue() != "http://hl7.org/fhir/sid/us-ssn" {
				t.Errorf("identifiers %v", p.Identifier)
			}
		}},
		{name: "dependent id from a configured REF", opts: &EnrollmentOptions{DependentIDRefs: []string{"ZZ"}},
			text: x834(bgnChange, payerXV, "INS*N*19*021*28*A~REF*0F*MBR0000001~REF*ZZ*MBR0000001-03~NM1*IL*1*TESTMEMBER*KIM~DMG*D8*20150101*F~"+hdHealth),
			check: func(t *testing.T, res *Result) {
				p := ofType[*ppb.Patient](res.Resources)[0]
				if v := p.Identifier[0].GetValue().GetValue(); v != "MBR0000001-03" {
					t.Errorf("member id %q", v)
				}
				c := ofType[*cvpb.Coverage](res.Resources)[0]
				if c.GetRelationship().Coding[0].GetCode().GetValue() != "child" || c.GetSubscriber() == nil || c.GetSubscriber().GetPatientId().GetValue() == p.GetId().GetValue() {
					t.Errorf("dependent coverage relationship/subscriber wrong: %v", c)
				}
			}},
		{name: "dependent without id", opts: &EnrollmentOptions{DependentIDRefs: []string{}},
			text:   x834(bgnChange, payerXV, "INS*N*19*021*28*A~REF*0F*MBR0000001~REF*23*MBR0000001-03~NM1*IL*1*TESTMEMBER*KIM~DMG*D8*20150101*F~"+hdHealth),
			issues: "Patient.identifier:memberid.min"},
		{name: "stepchild is a child, grandchild other", text: x834(bgnChange, payerXV,
			"INS*N*17*021*28*A~REF*0F*MBR0000001~REF*23*A1~NM1*IL*1*TESTMEMBER*KIM~DMG*D8*20150101*F~"+hdHealth,
			"INS*N*05*021*28*A~REF*0F*MBR0000001~REF*23*A2~NM1*IL*1*TESTMEMBER*LEE~DMG*D8*20150101*F~"+hdHealth),
			check: func(t *testing.T, res *Result) {
				want := map[string]string{"A1": "child", "A2": "other"}[ofType[*ppb.Patient](res.Resources)[0].Identifier[0].GetValue().GetValue()]
				if got := ofType[*cvpb.Coverage](res.Resources)[0].GetRelationship().Coding[0].GetCode().GetValue(); got != want {
					t.Errorf("relationship %q, want %q", got, want)
				}
			}},
		{name: "audit 030 is active", text: x834(bgnChange, payerXV, strings.Replace(subGina, "*021*", "*030*", 1)+"~HD*030**HLT*GOLD PPO*IND~DTP*348*D8*20240201"), check: func(t *testing.T, res *Result) {
			c := ofType[*cvpb.Coverage](res.Resources)[0]
			if c.GetStatus().GetValue() != cpb.FinancialResourceStatusCode_ACTIVE || c.GetPeriod().GetEnd() != nil {
				t.Errorf("audit coverage %v", c)
			}
		}},
		{name: "HD 002 delete is entered-in-error", text: x834(bgnChange, payerXV, strings.Replace(subGina, "*021*", "*001*", 1)+"~HD*002**HLT*GOLD PPO*IND~DTP*348*D8*20240201"), check: func(t *testing.T, res *Result) {
			if c := ofType[*cvpb.Coverage](res.Resources)[0]; c.GetStatus().GetValue() != cpb.FinancialResourceStatusCode_ENTERED_IN_ERROR {
				t.Errorf("status %v", c.GetStatus())
			}
		}},
		{name: "HD 032 changes no coverage", text: x834(bgnChange, payerXV, strings.Replace(subGina, "*021*", "*001*", 1)+"~HD*032**HLT*GOLD PPO*IND~DTP*348*D8*20240201"), check: func(t *testing.T, res *Result) {
			if n := len(ofType[*cvpb.Coverage](res.Resources)); n != 0 {
				t.Errorf("%d coverages", n)
			}
		}},
		{name: "termination falls back to 303", text: x834(bgnChange, payerXV, strings.Replace(subGina, "*021*", "*024*", 1)+"~HD*024**HLT*GOLD PPO*IND~DTP*348*D8*20240201~DTP*303*D8*20240229"), check: func(t *testing.T, res *Result) {
			c := ofType[*cvpb.Coverage](res.Resources)[0]
			if c.GetPeriod().GetEnd() == nil || c.GetStatus().GetValue() != cpb.FinancialResourceStatusCode_ACTIVE {
				t.Errorf("terminated coverage %v", c)
			}
		}},
		// DTP*348 may carry the benefit period as a range (RD8): its end is
		// the coverage's end when no DTP*349 says otherwise.
		{name: "benefit period as a range", text: x834(bgnChange, payerXV, subGina+"~HD*021**HLT*GOLD PPO*IND~DTP*348*RD8*20240201-20241231"), check: func(t *testing.T, res *Result) {
			c := ofType[*cvpb.Coverage](res.Resources)[0]
			j, _ := resource.Marshal(c)
			if !strings.Contains(string(j), `"period":{"end":"2024-12-31","start":"2024-02-01"}`) {
				t.Errorf("coverage period: %s", j)
			}
		}},
		{name: "member termination without HD", text: x834(bgnChange, payerXV, strings.Replace(subGina, "*021*", "*024*", 1)), issues: "termination-without-coverage"},
		{name: "termination without a date", text: x834(bgnChange, payerXV, strings.Replace(subGina, "*021*", "*024*", 1)+"~HD*024**HLT*GOLD PPO*IND~DTP*348*D8*20240201"), errIs: ErrMissing},
		{name: "unknown maintenance type", text: x834(bgnChange, payerXV, strings.Replace(subGina, "*021*", "*099*", 1)+"~"+hdHealth), errIs: ErrInvalidCode},
		{name: "unknown coverage maintenance type", text: x834(bgnChange, payerXV, subGina+"~HD*777**HLT*GOLD PPO*IND~DTP*348*D8*20240201"), errIs: ErrInvalidCode},
		{name: "bad gender", text: x834(bgnChange, payerXV, strings.Replace(subGina, "19900515*F", "19900515*Q", 1)+"~"+hdHealth), errIs: ErrInvalidCode},
		{name: "race codes without crosswalk dropped", text: x834(bgnChange, payerXV, strings.Replace(subGina, "19900515*F", "19900515*F**C", 1)+"~"+hdHealth), issues: "no-crosswalk"},
		{name: "no gender", text: x834(bgnChange, payerXV, strings.Replace(subGina, "~DMG*D8*19900515*F", "", 1)+"~"+hdHealth), issues: "gender-unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMapper(nil, &Options{Now: func() time.Time { return goldenNow }, Enrollment: tc.opts})
			if err != nil {
				t.Fatal(err)
			}
			res, errs := map834(t, m, tc.text)
			if tc.errIs != nil {
				if len(errs) == 0 || !errors.Is(errs[0], tc.errIs) {
					t.Fatalf("errors %v, want %v", errs, tc.errIs)
				}
				var me *Error
				if !errors.As(errs[0], &me) || me.Pos.SegmentID == "" {
					t.Errorf("error without a segment position: %v", errs[0])
				}
				return
			}
			if len(errs) > 0 || len(res) == 0 {
				t.Fatalf("errors %v, %d results", errs, len(res))
			}
			if tc.issues != "" {
				var rules []string
				for _, r := range res {
					for _, i := range append(r.Warnings, r.Unmet...) {
						rules = append(rules, i.Rule)
					}
				}
				if !strings.Contains(strings.Join(rules, " "), tc.issues) {
					t.Errorf("issues %v, want %s", rules, tc.issues)
				}
			}
			for _, r := range res {
				if r.SourceVersion != "2024011512000000" {
					t.Errorf("SourceVersion %q", r.SourceVersion)
				}
				if tc.check != nil {
					tc.check(t, r)
				}
			}
		})
	}
}

func TestSourceVersion834(t *testing.T) {
	for _, tc := range []struct{ date, time, want string }{
		{"20240115", "1200", "2024011512000000"},
		{"20240115", "120059", "2024011512005900"},
		{"20240115", "12005912", "2024011512005912"},
		{"20240115", "", "2024011500000000"},
		{"2024011", "1200", ""},
		{"", "", ""},
	} {
		if got := SourceVersion834(&x12.Header834{Date: tc.date, Time: tc.time}); got != tc.want {
			t.Errorf("SourceVersion834(%q, %q) = %q, want %q", tc.date, tc.time, got, tc.want)
		}
	}
	if SourceVersion834(&x12.Header834{Date: "20240115", Time: "2359"}) <= SourceVersion834(&x12.Header834{Date: "20240115", Time: "1200"}) {
		t.Error("later creation times must compare greater")
	}
}

func TestEnrollmentCodeTables(t *testing.T) {
	for line, want := range map[string]string{"HLT": "HIP", "hmo": "HMO", "PPO": "PPO", "POS": "POS", "EPO": "MCPOL", "DEN": "DENTAL", "VIS": "VISPOL", "PDG": "DRUGPOL", "LTC": "LTC", "AK": "MENTPOL", "STD": "", "": ""} {
		sys, code, ok := DefaultEnrollmentCoverageType(line)
		if code != want || ok != (want != "") || ok && sys != systemV3ActCode {
			t.Errorf("DefaultEnrollmentCoverageType(%q) = %q %q %v, want %q", line, sys, code, ok, want)
		}
	}
	for ins02, want := range map[string]string{"18": "self", "01": "spouse", "53": "common", "19": "child", "09": "child", "10": "child", "17": "child", "03": "parent", "16": "parent", "15": "other", "26": "other", "05": "other", "": "other"} {
		if got := relationship834(ins02); got != want {
			t.Errorf("relationship834(%q) = %q, want %q", ins02, got, want)
		}
	}
	for dmg04, want := range map[string]string{"M": "M", "D": "D", "W": "W", "I": "S", "U": "U", "S": "L", "X": "L", "B": "T", "R": "UNK", "Q": ""} {
		got := ""
		if cc := maritalStatus(dmg04); cc != nil {
			got = cc.Coding[0].GetCode().GetValue()
		}
		if got != want {
			t.Errorf("maritalStatus(%q) = %q, want %q", dmg04, got, want)
		}
	}
}

// TestCoverageKey834 pins the key rules: medical lines key like the 837,
// other lines add the line; a dependent without an id stands in by Patient id.
func TestCoverageKey834(t *testing.T) {
	k := CoverageKey834("99999", "S1", true, "", "pat-x", "G1", "HMO")
	if k != (CoverageKey{PayerID: "99999", SubscriberID: "S1", GroupNumber: "G1"}) {
		t.Errorf("medical subscriber key %+v", k)
	}
	if k := CoverageKey834("99999", "S1", true, "", "pat-x", "G1", "den"); k.Plan != "DEN" {
		t.Errorf("dental key %+v", k)
	}
	if k := CoverageKey834("99999", "S1", false, "", "pat-x", "G1", "HLT"); k.MemberID != "patient:pat-x" {
		t.Errorf("dependent without id key %+v", k)
	}
	if k := CoverageKey834("99999", "S1", false, "D1", "pat-x", "G1", "HLT"); k.MemberID != "D1" {
		t.Errorf("dependent key %+v", k)
	}
}

func TestMember834Communication(t *testing.T) {
	m, err := NewMapper(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &member834{partySet: newPartySet(m, "", &Result{})}
	got := b.communication([]x12.Language{
		{Qualifier: "LD", Code: "spa", Use: "7"},
		{Qualifier: "LE", Code: "VI", Use: "5"},
		{Qualifier: "LD", Code: "hmn", Use: "8"},
		{Qualifier: "LD", Code: "xyz", Description: "LOCAL DIALECT"},
		{Qualifier: "LE", Code: "eng"},
	}, x12.Position{})
	var out []string
	for _, c := range got {
		s := c.GetLanguage().GetText().GetValue()
		if len(c.GetLanguage().GetCoding()) > 0 {
			s = c.GetLanguage().GetCoding()[0].GetCode().GetValue()
		}
		out = append(out, fmt.Sprintf("%s/%v", s, c.GetPreferred().GetValue()))
	}
	if want := "es/true vi/false hmn/true LOCAL DIALECT/false"; strings.Join(out, " ") != want {
		t.Errorf("communication %q, want %q", strings.Join(out, " "), want)
	}
	if len(b.res.Warnings) != 1 || b.res.Warnings[0].Rule != "no-crosswalk" {
		t.Errorf("warnings %v, want one no-crosswalk (LE with a 3-letter code)", b.res.Warnings)
	}
}
