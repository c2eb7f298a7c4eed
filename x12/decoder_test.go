package x12

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The -update flag (update) is defined in reader_fixture_test.go.

// decGoldenEntry is one result of Read in a golden file.
type decGoldenEntry struct {
	Kind        Kind   `json:"kind,omitempty"`
	Position    string `json:"position"`
	Transaction string `json:"transaction,omitempty"` // ST02 of the record's envelope
	Record      Record `json:"record,omitempty"`
	Error       string `json:"error,omitempty"`
}

// decDecodeAll reads every record and error of input.
func decDecodeAll(t testing.TB, input []byte, configure func(*Decoder)) []decGoldenEntry {
	t.Helper()
	d := NewDecoder(bytes.NewReader(input))
	if configure != nil {
		configure(d)
	}
	var out []decGoldenEntry
	for i := 0; ; i++ {
		if i > 100000 {
			t.Fatal("decoder does not end")
		}
		rec, err := d.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
			}
			out = append(out, decGoldenEntry{Position: se.Pos.String(), Error: err.Error()})
			continue
		}
		out = append(out, decGoldenEntry{Kind: rec.Kind(), Position: rec.Pos().String(), Transaction: rec.Envelope().ST.Control, Record: rec})
	}
	return out
}

func TestDecoderGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/decoder/*.x12")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".x12")
		t.Run(name, func(t *testing.T) {
			input, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(decDecodeAll(t, input, nil), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".x12") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestDecoderGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded %s differs from %s (rerun with -update after checking the diff):\n%s", f, golden, decFirstDiff(string(want), string(got)))
			}
		})
	}
}

// decFirstDiff shows the first differing line of two texts with some context.
func decFirstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + decFmtInt(i+1) + ":\n want: " + a + "\n  got: " + b
		}
	}
	return ""
}

func decFmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// decInterchange wraps transaction set bodies (segments without ST and SE) in one
// decInterchange and group with correct counts; ST01 follows the convention.
func decInterchange(conv string, bodies ...[]string) []byte {
	st01 := map[string]string{"X222": "837", "X223": "837", "X224": "837", "X221": "835", "X220": "834", "X279": "270"}[conv[6:10]]
	gs01 := map[string]string{"837": "HC", "835": "HP", "834": "BE", "270": "HS"}[st01]
	var b strings.Builder
	b.WriteString("ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *240115*1200*^*00501*000000001*0*T*:~\n")
	b.WriteString("GS*" + gs01 + "*SENDER*RECEIVER*20240115*1200*1*X*" + conv + "~\n")
	for i, body := range bodies {
		ctl := decFmtInt(1000 + i)
		b.WriteString("ST*" + st01 + "*" + ctl + "*" + conv + "~\n")
		for _, s := range body {
			b.WriteString(s + "~\n")
		}
		b.WriteString("SE*" + decFmtInt(len(body)+2) + "*" + ctl + "~\n")
	}
	b.WriteString("GE*" + decFmtInt(len(bodies)) + "*1~\nIEA*1*000000001~\n")
	return []byte(b.String())
}

var decHead837 = []string{
	"BHT*0019*00*B1*20240115*1200*CH",
	"NM1*41*2*SUBMITTER*****46*S1",
	"PER*IC*EDI DESK*TE*5555550100",
	"NM1*40*2*RECEIVER*****46*R1",
	"HL*1**20*1",
	"NM1*85*2*BILLING*****XX*1234567893",
	"N3*1 MAIN ST",
	"N4*SPRINGFIELD*IL*62701",
	"REF*EI*123456789",
	"HL*2*1*22*0",
	"SBR*P*18*******CI",
	"NM1*IL*1*DOE*JANE****MI*M1",
	"DMG*D8*19800101*F",
	"NM1*PR*2*PAYER*****PI*99999",
}

// decP837 is an 837P body: the header, one billing provider and one subscriber,
// then the claims.
func decP837(claims ...[]string) []string {
	body := append([]string(nil), decHead837...)
	for _, c := range claims {
		body = append(body, c...)
	}
	return body
}

// decClaim is a valid 837P decClaim with one line, its CLM01 id.
func decClaim(id string, extra ...string) []string {
	c := []string{"CLM*" + id + "*100***11:B:1*Y*A*Y*Y", "HI*ABK:J449"}
	c = append(c, extra...)
	return append(c, "LX*1", "SV1*HC:99213*100*UN*1***1", "DTP*472*D8*20240110")
}

// decOutcome summarizes one result of Read for table tests.
type decOutcome struct {
	kind Kind   // record kind, or "" for an error
	id   string // claim/payment/member id, or the error's sentinel name
	ik   string // error codes "IK3/IK4/IK5"
	at   string // error position: "SEG loop element"
}

func (o decOutcome) String() string { return string(o.kind) + "|" + o.id + "|" + o.ik + "|" + o.at }

var decSentinels = []struct {
	name string
	err  error
}{
	{"Context", ErrContext}, {"Unsupported", ErrUnsupportedTransaction}, {"TooLarge", ErrRecordTooLarge},
	{"Loop", ErrLoop}, {"Required", ErrRequiredElement}, {"Invalid", ErrInvalidValue}, {"Missing", ErrMissingSegment},
	{"SegmentCount", ErrSegmentCount}, {"SegmentID", ErrSegmentID}, {"Truncated", ErrTruncated}, {"ISA", ErrISA},
	{"TruncatedRecord", ErrTruncatedRecord}, {"TooLong", ErrTooLong},
}

func decOutcomes(t *testing.T, input []byte, configure func(*Decoder)) []string {
	t.Helper()
	d := NewDecoder(bytes.NewReader(input))
	if configure != nil {
		configure(d)
	}
	var out []string
	for rec, err := range d.Records() {
		if len(out) > 1000 {
			t.Fatal("too many results")
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			name := "?"
			for _, s := range decSentinels {
				if errors.Is(err, s.err) {
					name = s.name
					break
				}
			}
			at := se.Pos.SegmentID + " " + se.Pos.Loop
			if se.Pos.Element > 0 {
				at += " " + decFmtInt(se.Pos.Element)
				if se.Pos.Component > 0 {
					at += "-" + decFmtInt(se.Pos.Component)
				}
			}
			out = append(out, decOutcome{id: name, ik: se.IK3 + "/" + se.IK4 + "/" + se.IK5, at: at}.String())
			continue
		}
		id := ""
		switch r := rec.(type) {
		case *Claim837:
			id = r.PatientControlNumber
		case *ClaimPayment835:
			id = r.PatientControlNumber
		case *ProviderAdjustment835:
			id = decFmtInt(len(r.Adjustments))
		case *Member834:
			id = r.MaintenanceType
		}
		out = append(out, decOutcome{kind: rec.Kind(), id: id}.String())
	}
	return out
}

func decOk(kind Kind, id string) string { return decOutcome{kind: kind, id: id}.String() }

func decFail(sentinel, ik, at string) string {
	return decOutcome{id: sentinel, ik: ik, at: at}.String()
}

func TestDecoderErrors(t *testing.T) {
	P := Kind837PClaim
	for _, tc := range []struct {
		name      string
		input     []byte
		configure func(*Decoder)
		want      []string
	}{
		{"good", decInterchange("005010X222A1", decP837(decClaim("A"), decClaim("B"))), nil,
			[]string{decOk(P, "A"), decOk(P, "B")}},
		{"CLM01 missing", decInterchange("005010X222A1", decP837(decClaim("A"), []string{"CLM**100***11:B:1", "HI*ABK:J449", "LX*1", "SV1*HC:99213*100*UN*1", "DTP*472*D8*20240110"}, decClaim("C"))), nil,
			[]string{decOk(P, "A"), decFail("Required", "8/1/", "CLM 2300 1"), decOk(P, "C")}},
		{"CLM02 not a number", decInterchange("005010X222A1", decP837([]string{"CLM*B*1.2.3***11:B:1", "HI*ABK:J449", "LX*1", "SV1*HC:99213*100*UN*1", "DTP*472*D8*20240110"})), nil,
			[]string{decFail("Invalid", "8/6/", "CLM 2300 2")}},
		{"CLM05-3 missing", decInterchange("005010X222A1", decP837([]string{"CLM*B*100***11:B", "HI*ABK:J449", "LX*1", "SV1*HC:99213*100*UN*1", "DTP*472*D8*20240110"})), nil,
			[]string{decFail("Required", "8/1/", "CLM 2300 5-3")}},
		{"no principal diagnosis", decInterchange("005010X222A1", decP837([]string{"CLM*B*100***11:B:1", "HI*ABF:J449", "LX*1", "SV1*HC:99213*100*UN*1", "DTP*472*D8*20240110"}, decClaim("C"))), nil,
			[]string{decFail("Missing", "3//", "HI 2300"), decOk(P, "C")}},
		{"no service line", decInterchange("005010X222A1", decP837([]string{"CLM*B*100***11:B:1", "HI*ABK:J449"}, decClaim("C"))), nil,
			[]string{decFail("Missing", "3//", "LX 2300"), decOk(P, "C")}},
		{"line without SV1", decInterchange("005010X222A1", decP837([]string{"CLM*B*100***11:B:1", "HI*ABK:J449", "LX*1", "DTP*472*D8*20240110"})), nil,
			[]string{decFail("Missing", "3//", "SV1 2400")}},
		{"line without DTP*472", decInterchange("005010X222A1", decP837([]string{"CLM*B*100***11:B:1", "HI*ABK:J449", "LX*1", "SV1*HC:99213*100*UN*1", "DTP*471*D8*20240110"})), nil,
			[]string{decFail("Missing", "3//", "DTP 2400")}},
		{"bad D8", decInterchange("005010X222A1", decP837(decClaim("A", "DTP*431*D8*20240230"))), nil,
			[]string{decFail("Invalid", "8/8/", "DTP 2300 3")}},
		{"bad format qualifier", decInterchange("005010X222A1", decP837(decClaim("A", "DTP*431*D9*20240101"))), nil,
			[]string{decFail("Invalid", "8/7/", "DTP 2300 2")}},
		{"reversed RD8", decInterchange("005010X222A1", decP837(decClaim("A", "DTP*431*RD8*20240105-20240101"))), nil,
			[]string{decFail("Invalid", "8/8/", "DTP 2300 3")}},
		{"bad line charge", decInterchange("005010X222A1", decP837([]string{"CLM*B*100***11:B:1", "HI*ABK:J449", "LX*1", "SV1*HC:99213*1O0*UN*1", "DTP*472*D8*20240110"})), nil,
			[]string{decFail("Invalid", "8/6/", "SV1 2400 2")}},
		{"bad CAS amount in 2430", decInterchange("005010X222A1", decP837([]string{"CLM*B*100***11:B:1", "HI*ABK:J449", "LX*1", "SV1*HC:99213*100*UN*1", "DTP*472*D8*20240110", "SVD*88888*50*HC:99213**1", "CAS*CO*45*X", "DTP*573*D8*20240112"})), nil,
			[]string{decFail("Invalid", "8/6/", "CAS 2430 3")}},
		{"2430 without DTP*573", decInterchange("005010X222A1", decP837([]string{"CLM*B*100***11:B:1", "HI*ABK:J449", "LX*1", "SV1*HC:99213*100*UN*1", "DTP*472*D8*20240110", "SVD*88888*50*HC:99213**1"})), nil,
			[]string{decFail("Missing", "3//", "DTP 2430")}},
		{"2320 without 2330B", decInterchange("005010X222A1", decP837([]string{"CLM*B*100***11:B:1", "HI*ABK:J449", "SBR*S*18", "NM1*IL*1*DOE*JANE****MI*X", "LX*1", "SV1*HC:99213*100*UN*1", "DTP*472*D8*20240110"})), nil,
			[]string{decFail("Missing", "3//", "NM1 2320")}},
		{"unknown segment", decInterchange("005010X222A1", decP837(decClaim("A", "ZZZ*1"), decClaim("B"))), nil,
			[]string{decFail("Loop", "6//", "ZZZ 2300"), decOk(P, "B")}},
		{"unknown segment, lenient", decInterchange("005010X222A1", decP837(decClaim("A", "ZZZ*1"), decClaim("B"))), func(d *Decoder) { d.Lenient = true },
			[]string{decOk(P, "A"), decOk(P, "B")}},
		{"segment that fits no open loop", decInterchange("005010X222A1", decP837(decClaim("A", "TS3*1"), decClaim("B"))), nil,
			[]string{decFail("Loop", "6//", "TS3 2300"), decOk(P, "B")}},
		{"context segment out of sequence", decInterchange("005010X222A1", decP837(decClaim("A"), []string{"PAT*01"}, decClaim("B"))), nil,
			[]string{decFail("Loop", "7//", "PAT 2000B"), decOk(P, "B")}},
		{"context segment out of sequence, lenient", decInterchange("005010X222A1", decP837(decClaim("A"), []string{"PAT*01"}, decClaim("B"))), func(d *Decoder) { d.Lenient = true },
			[]string{decOk(P, "A"), decOk(P, "B")}},
		{"context segment inside an 835 claim payment", decInterchange("005010X221A1", []string{
			"BPR*I*10*C*ACH************20240220", "TRN*1*T*1", "N1*PR*P", "N1*PE*E*XX*1", "LX*1",
			"CLP*A*1*10*10", "NM1*QC*1*X", "TS3*1", "CLP*B*1*10*10", "NM1*QC*1*X"}), nil,
			[]string{decFail("Loop", "7//", "TS3 2000"), decOk(Kind835ClaimPayment, "B")}},
		{"51 lines", decInterchange("005010X222A1", decP837(decManyLines("A", 51), decClaim("B"))), nil,
			[]string{decFail("Loop", "4//", "LX 2400"), decOk(P, "B")}},
		{"51 lines, lenient", decInterchange("005010X222A1", decP837(decManyLines("A", 51), decClaim("B"))), func(d *Decoder) { d.Lenient = true },
			[]string{decOk(P, "A"), decOk(P, "B")}},
		{"subscriber without 2010BA", decInterchange("005010X222A1", append(append(append([]string(nil), decHead837[:11]...), decHead837[13:]...), append(decClaim("A"), decClaim("B")...)...)), nil,
			[]string{decFail("Missing", "3//", "NM1 2000B"), decFail("Context", "//", "CLM 2300"), decFail("Context", "//", "CLM 2300")}},
		{"header without BHT", decInterchange("005010X222A1", append(append([]string(nil), decHead837[1:]...), decClaim("A")...)), nil,
			[]string{decFail("Missing", "3//", "BHT HEADER"), decFail("Context", "//", "CLM 2300")}},
		{"bad birth date in context", decInterchange("005010X222A1", append(append(append([]string(nil), decHead837[:12]...), append([]string{"DMG*D8*19801301*F"}, decHead837[13:]...)...), decClaim("A")...)), nil,
			[]string{decFail("Invalid", "8/8/", "DMG 2010BA 2"), decFail("Context", "//", "CLM 2300")}},
		{"patient loop without PAT01", decInterchange("005010X222A1", append(append([]string(nil), decHead837[:9]...), append([]string{"HL*2*1*22*1", "SBR*P", "NM1*IL*1*DOE*JOHN****MI*M1", "NM1*PR*2*PAYER*****PI*99999", "HL*3*2*23*0", "PAT", "NM1*QC*1*DOE*KID"}, decClaim("A")...)...)), nil,
			[]string{decFail("Required", "8/1/", "PAT 2000C 1"), decFail("Context", "//", "CLM 2300")}},
		{"unsupported transaction then a good one", append(decInterchange("005010X279A1", []string{"BHT*0022*13"}), decInterchange("005010X222A1", decP837(decClaim("A")))...), nil,
			[]string{decFail("Unsupported", "//1", "ST "), decOk(P, "A")}},
		{"segment count wrong", regexp.MustCompile(`SE\*\d+\*`).ReplaceAll(decInterchange("005010X222A1", decP837(decClaim("A"), decClaim("B"))), []byte("SE*99*")), nil,
			[]string{decOk(P, "A"), decOk(P, "B"), decFail("SegmentCount", "//4", "SE  1")}},
		{"malformed segment id inside a claim", decInterchange("005010X222A1", decP837(decClaim("A", "d1*X"), decClaim("B"))), nil,
			[]string{decFail("SegmentID", "1//", " "), decOk(P, "B")}},
		{"input truncated inside a claim", decTruncateAfter(decInterchange("005010X222A1", decP837(decClaim("A"), decClaim("B"))), "SV1*HC:99213*1"), nil,
			[]string{decOk(P, "A"), decFail("Truncated", "//", " "), decFail("Missing", "//2", " "), decFail("Missing", "//", " "), decFail("Missing", "//", " ")}},
		{"not X12", []byte("hello, world"), nil,
			[]string{decFail("ISA", "//", " ")}},
		{"empty", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decOutcomes(t, tc.input, tc.configure)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// decManyLines is an 837P decClaim with n service lines.
func decManyLines(id string, n int) []string {
	c := []string{"CLM*" + id + "*100***11:B:1*Y*A*Y*Y", "HI*ABK:J449"}
	for i := 1; i <= n; i++ {
		c = append(c, "LX*"+decFmtInt(i), "SV1*HC:99213*1*UN*1***1", "DTP*472*D8*20240110")
	}
	return c
}

// decTruncateAfter cuts input just after the last occurrence of marker.
func decTruncateAfter(input []byte, marker string) []byte {
	return input[:bytes.LastIndex(input, []byte(marker))+len(marker)]
}

// decReadFixture decodes a fixture and returns its records, failing on errors.
func decReadFixture(t *testing.T, name string) []Record {
	t.Helper()
	input, err := os.ReadFile(filepath.Join("testdata/decoder", name))
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for rec, err := range NewDecoder(bytes.NewReader(input)).Records() {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func TestDecoderFixtures837P(t *testing.T) {
	recs := decReadFixture(t, "837p_basic.x12")
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	a, b, c := recs[0].(*Claim837), recs[1].(*Claim837), recs[2].(*Claim837)
	for _, x := range []*Claim837{a, b, c} {
		if x.Kind() != Kind837PClaim || x.Pos().SegmentID != "CLM" || x.Pos().Loop != "2300" || x.Envelope().ST.Control != "0001" {
			t.Errorf("%s: kind %s pos %v", x.PatientControlNumber, x.Kind(), x.Pos())
		}
	}
	// Context is shared, not copied, between claims under the same loops.
	if a.Subscriber != b.Subscriber || a.BillingProvider != c.BillingProvider || a.Header != c.Header {
		t.Error("claims under the same context loops do not share their context")
	}
	if a.Subscriber == c.Subscriber || c.Patient == nil || a.Patient != nil {
		t.Error("subscriber / patient context wrong")
	}
	if c.Patient.PatientInfo.Relationship != "19" || c.Patient.Name.First != "CAROL" || c.PatientParty() != &c.Patient.Name {
		t.Errorf("patient loop 2000C/2010CA: %+v", c.Patient)
	}
	if a.PatientParty() != &a.Subscriber.Name || a.Subscriber.Name.ID != "MBR0000001" || a.Subscriber.Payer.ID != "99999" {
		t.Errorf("subscriber loops 2010BA/2010BB: %+v", a.Subscriber)
	}
	if a.BillingProvider.Name.ID != "1234567893" || a.BillingProvider.PayToAddress == nil || a.BillingProvider.Specialty.Taxonomy != "207Q00000X" {
		t.Errorf("billing provider: %+v", a.BillingProvider)
	}
	if v, _ := a.BillingProvider.Name.Refs.Get("EI"); v != "123456789" {
		t.Errorf("REF*EI = %q", v)
	}
	// Claim level.
	if a.TotalCharge != "250.75" || a.FacilityCode != "11" || a.FrequencyCode != "1" {
		t.Errorf("CLM: %+v", a)
	}
	if total, err := a.TotalCharge.Decimal(); err != nil || total.String() != "250.75" {
		t.Errorf("CLM02 decimal = %v, %v", total, err)
	}
	if dx := a.Diagnoses(); len(dx) != 3 || dx[0].Code != "J449" || !dx[0].IsPrincipalDiagnosis() || dx[2].Code != "I10" {
		t.Errorf("diagnoses %+v", dx)
	}
	if v, _ := a.Refs.Get("G1"); v != "PA000111" {
		t.Errorf("REF*G1 = %q", v)
	}
	if a.Contract == nil || a.Ambulance == nil || a.Ambulance.Distance != "12" || len(a.Attachments) != 1 || len(a.Notes) != 1 || len(a.Conditions) != 1 {
		t.Errorf("CN1/CR1/PWK/NTE/CRC: %+v", a)
	}
	if amt, _ := a.Amounts.Get("F5"); amt != "20" {
		t.Errorf("AMT*F5 = %q", amt)
	}
	if len(a.Providers) != 3 || a.Providers[0].LoopID != "2310A" || a.Providers[1].LoopID != "2310B" || a.Providers[1].Provider.Taxonomy != "207R00000X" || a.Providers[2].Address == nil {
		t.Errorf("2310 providers: %+v", a.Providers)
	}
	// Lines.
	if len(a.Lines) != 2 {
		t.Fatalf("%d lines", len(a.Lines))
	}
	l1, l2 := a.Lines[0], a.Lines[1]
	if l1.Professional.Procedure.Code != "99213" || len(l1.Professional.Procedure.Modifiers) != 1 || l1.Professional.Procedure.Modifiers[0] != "25" ||
		strings.Join(l1.Professional.DiagnosisPointers, ",") != "1,2" || l1.ControlNumber() != "LINE0001" {
		t.Errorf("line 1: %+v %+v", l1, l1.Professional)
	}
	if len(l1.Providers) != 1 || l1.Providers[0].LoopID != "2420A" {
		t.Errorf("2420A: %+v", l1.Providers)
	}
	if l2.Drug == nil || l2.Drug.ProductID != "00000000001" || l2.Drug.UnitBasis != "UN" || l2.Drug.Loop.ID != "2410" {
		t.Errorf("2410 drug: %+v", l2.Drug)
	}
	if p, err := l1.Dates[0].Period(); err != nil || p.Start.Format("2006-01-02") != "2024-01-10" {
		t.Errorf("DTP*472 = %+v, %v", p, err)
	}
	// COB: 2320/2330A/2330B and 2430.
	if len(b.OtherPayers) != 1 {
		t.Fatalf("%d other payers", len(b.OtherPayers))
	}
	o := b.OtherPayers[0]
	if o.PayerResponsibility != "S" || o.Payer.ID != "88888" || o.Subscriber.ID != "OTHMBR01" || o.OtherInsurance == nil ||
		len(o.Adjustments) != 1 || o.Adjustments[0].Group != "CO" || o.Adjustments[0].Reason != "45" || o.Adjustments[0].Amount != "10" {
		t.Errorf("2320: %+v", o)
	}
	if d, ok := o.Payer.Dates.Get("573"); !ok || d.Value != "20240112" {
		t.Errorf("2330B DTP*573: %+v", o.Payer.Dates)
	}
	if paid, _ := o.Amounts.Get("D"); paid != "50" {
		t.Errorf("AMT*D = %q", paid)
	}
	adj := b.Lines[0].Adjudications
	if len(adj) != 1 || adj[0].OtherPayerID != "88888" || adj[0].Paid != "50" || len(adj[0].Adjustments) != 2 ||
		adj[0].Adjustments[1].Group != "PR" || adj[0].Adjustments[1].Reason != "2" {
		t.Errorf("2430: %+v", adj)
	}
	if p, _ := b.Lines[0].Dates[0].Period(); !p.IsRange() {
		t.Errorf("RD8 service date not a range: %+v", p)
	}
	// Every segment of a record is owned and carries its loop.
	a.Loop().Walk(func(l *Loop) bool {
		for _, s := range l.Segments {
			if !s.Owned() || s.Pos().Loop != l.ID || s.Pos().Transaction != "0001" {
				t.Errorf("segment %v of loop %s: owned %v", s.Pos(), l.ID, s.Owned())
			}
		}
		return true
	})
	if a.Loop().Parent == nil || a.Loop().Parent.ID != "2000B" || a.Loop().Ancestor(headerLoop) == nil || a.Loop().Name() != "Claim Information" {
		t.Errorf("loop tree: parent %v", a.Loop().Parent)
	}
}

// decRecordsJSON marshals records without their positions and envelopes.
func decRecordsJSON(t *testing.T, recs []Record) string {
	t.Helper()
	b, err := json.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecoderDelimitersAndLineEndings(t *testing.T) {
	// The same claims with other delimiters and no line endings decode alike.
	basic, odd := decReadFixture(t, "837p_basic.x12"), decReadFixture(t, "837p_delims.x12")
	if decRecordsJSON(t, basic) != decRecordsJSON(t, odd) {
		t.Error("837p_delims.x12 does not decode like 837p_basic.x12")
	}
	if d := odd[0].Loop().Lead().Delimiters(); d.Element != '|' || d.Component != '>' || d.Segment != 0x1c || d.Repetition != '!' {
		t.Errorf("delimiters %+v", d)
	}
	// CRLF, two interchanges, three groups, four transaction sets, ST03 absent
	// in one (GS08 routes it) and the A2 errata in another.
	multi := decReadFixture(t, "837p_multi_crlf.x12")
	var where []string
	for _, r := range multi {
		e := r.Envelope()
		where = append(where, e.ISA.Control+"/"+e.GS.Control+"/"+e.ST.Control+"/"+r.(*Claim837).PatientControlNumber)
	}
	want := "000000011/21/2101/PCN1001 000000011/21/2102/PCN1003 000000011/22/2201/PCN1003 000000012/23/2301/PCN1001 000000012/23/2301/PCN1002 000000012/23/2301/PCN1003"
	if strings.Join(where, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(where, " "), want)
	}
	if decRecordsJSON(t, multi[3:]) != decRecordsJSON(t, basic) {
		t.Error("the CRLF copy of 837p_basic decodes differently")
	}
}

func TestDecoderFixtures837I(t *testing.T) {
	recs := decReadFixture(t, "837i.x12")
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	in, out := recs[0].(*Claim837), recs[1].(*Claim837)
	if in.Kind() != Kind837IClaim || in.FacilityCode != "11" || in.FacilityCodeQualifier != "A" || out.FacilityCode != "13" {
		t.Errorf("837I CLM05: %s %s %s", in.Kind(), in.FacilityCode, out.FacilityCode)
	}
	if in.Institutional == nil || in.Institutional.AdmissionType != "1" || in.Institutional.AdmissionSource != "7" || in.Institutional.PatientStatus != "01" {
		t.Errorf("CL1: %+v", in.Institutional)
	}
	stmt, _ := in.Dates.Get("434")
	if p, err := stmt.Period(); err != nil || p.End.Day() != 5 {
		t.Errorf("DTP*434: %+v %v", p, err)
	}
	adm, _ := in.Dates.Get("435")
	if p, err := adm.Period(); err != nil || !p.HasTime || p.Start.Hour() != 8 {
		t.Errorf("DTP*435 DT: %+v %v", p, err)
	}
	dis, _ := in.Dates.Get("096")
	if p, err := dis.Period(); err != nil || !p.IsTime || p.TimeOfDay.Minutes() != 690 {
		t.Errorf("DTP*096 TM: %+v %v", p, err)
	}
	quals := map[string]HealthCareCode{}
	for _, c := range in.Codes {
		quals[c.Qualifier] = c
	}
	if quals["ABK"].PresentOnAdmission != "Y" || quals["ABJ"].Code != "R079" || quals["BBR"].Date != "20240102" || quals["BE"].Amount != "1600" || quals["DR"].Code != "280" {
		t.Errorf("HI codes: %+v", in.Codes)
	}
	if len(in.Diagnoses()) != 3 {
		t.Errorf("diagnoses: %+v", in.Diagnoses())
	}
	if in.Providers[0].Code != "71" || in.Providers[0].LoopID != "2310A" || in.Providers[1].LoopID != "2310B" {
		t.Errorf("2310: %+v", in.Providers)
	}
	if o := in.OtherPayers[0]; o.Inpatient == nil || o.Inpatient.DRGAmount != "4500.25" || strings.Join(o.Inpatient.Remarks, ",") != "MA01" {
		t.Errorf("2320 MIA: %+v", o.Inpatient)
	}
	if l := in.Lines[0].Institutional; l.RevenueCode != "0120" || l.Procedure != nil || l.UnitBasis != "DA" || l.UnitRate != "2250" {
		t.Errorf("SV2: %+v", l)
	}
	if l := in.Lines[2].Institutional; l.Procedure == nil || l.Procedure.Code != "99285" {
		t.Errorf("SV2 with procedure: %+v", l)
	}
	if out.Lines[0].Providers[0].LoopID != "2420C" || out.Providers[1].LoopID != "2310D" {
		t.Errorf("837I rendering loops: %+v %+v", out.Providers, out.Lines[0].Providers)
	}
}

func TestDecoderFixtures837D(t *testing.T) {
	recs := decReadFixture(t, "837d.x12")
	c := recs[0].(*Claim837)
	if c.Kind() != Kind837DClaim || c.Patient == nil || c.Patient.PatientInfo.Relationship != "01" {
		t.Fatalf("837D: %s %+v", c.Kind(), c.Patient)
	}
	if c.Orthodontics == nil || c.Orthodontics.TotalMonths != "24" || len(c.ToothStatus) != 2 || c.ToothStatus[0].Status != "M" || c.ToothStatus[1].CodeQualifier != "JP" {
		t.Errorf("DN1/DN2: %+v %+v", c.Orthodontics, c.ToothStatus)
	}
	l := c.Lines[0]
	if l.Dental == nil || l.Dental.Procedure.Qualifier != "AD" || l.Dental.Procedure.Code != "D2391" || l.Dental.Units != "1" ||
		strings.Join(l.Dental.DiagnosisPointers, ",") != "1" || l.Dental.PlaceOfService != "11" {
		t.Errorf("SV3: %+v", l.Dental)
	}
	if len(l.Teeth) != 1 || l.Teeth[0].Tooth != "3" || strings.Join(l.Teeth[0].Surfaces, "") != "OM" {
		t.Errorf("TOO: %+v", l.Teeth)
	}
	if len(l.Adjudications) != 1 || c.OtherPayers[0].Payer.ID != "55555" {
		t.Errorf("COB: %+v", l.Adjudications)
	}
	if strings.Join(c.Lines[1].Dental.OralCavity, ",") != "L" {
		t.Errorf("SV304: %+v", c.Lines[1].Dental)
	}
	if l2 := c.Lines[1]; l2.Contract == nil || l2.Contract.Amount != "200" || l2.ControlNumber() != "DLINE002" || c.Contract != nil {
		t.Errorf("2400 CN1: line %+v, claim %+v", l2.Contract, c.Contract)
	}
}

func TestDecoderFixtures835(t *testing.T) {
	recs := decReadFixture(t, "835.x12")
	if len(recs) != 6 {
		t.Fatalf("%d records", len(recs))
	}
	paid, denied, reversal, correction := recs[0].(*ClaimPayment835), recs[1].(*ClaimPayment835), recs[2].(*ClaimPayment835), recs[3].(*ClaimPayment835)
	plb := recs[4].(*ProviderAdjustment835)
	other := recs[5].(*ClaimPayment835)
	h := paid.Header
	if h != plb.Header || h != reversal.Header || h.TotalPayment != "170.75" || h.PaymentMethod != "ACH" || h.PaymentDate != "20240220" ||
		h.Trace.Number != "EFT0000001" || h.Payer.ID != "99999" || h.Payee.IDQualifier != "XX" || h.Payee.ID != "1234567893" {
		t.Errorf("header: %+v", h)
	}
	if d, _ := h.Dates.Get("405"); d.Date != "20240219" {
		t.Errorf("DTM*405: %+v", h.Dates)
	}
	if paid.HeaderNumber == nil || paid.HeaderNumber.TS3 == nil || paid.HeaderNumber.TS3.ClaimCount != "4" || other.HeaderNumber != nil {
		t.Errorf("2000: %+v", paid.HeaderNumber)
	}
	if paid.Status != "1" || paid.Payment != "200" || paid.PayerClaimControlNumber != "ICN0000001" || len(paid.Services) != 2 {
		t.Errorf("CLP: %+v", paid)
	}
	if qc, ok := paid.Entity("QC"); !ok || qc.ID != "MBR0000001" {
		t.Errorf("NM1*QC: %+v", paid.Entities)
	}
	s2 := paid.Services[1]
	if s2.ControlNumber() != "LINE0002" || len(s2.Adjustments) != 2 || s2.Adjustments[1].Group != "PR" || len(s2.Remarks) != 1 || s2.Remarks[0].Code != "N130" {
		t.Errorf("SVC 2: %+v", s2)
	}
	if allowed, _ := s2.Amounts.Get("B6"); allowed != "120" {
		t.Errorf("AMT*B6 = %q", allowed)
	}
	// Balancing: SVC02 - sum(CAS) = SVC03 on every line of the paid decClaim.
	for _, sv := range paid.Services {
		charge, _ := sv.Charge.Decimal()
		pay, _ := sv.Payment.Decimal()
		for _, a := range sv.Adjustments {
			v, _ := a.Amount.Decimal()
			charge = charge.Sub(v)
		}
		if !charge.Equal(pay) {
			t.Errorf("line %s does not balance: %s != %s", sv.Procedure.Code, charge, pay)
		}
	}
	if denied.Status != "4" || denied.Outpatient == nil || denied.Outpatient.Remarks[0] != "MA130" {
		t.Errorf("denied: %+v", denied)
	}
	if d, _ := denied.Services[0].Dates.Get("151"); d.Date != "20240106" {
		t.Errorf("DTM*151: %+v", denied.Services[0].Dates)
	}
	if !reversal.IsReversal() || reversal.Payment != "-250" || correction.IsReversal() || correction.PatientControlNumber != reversal.PatientControlNumber {
		t.Errorf("reversal/correction: %+v %+v", reversal, correction)
	}
	if v, _ := reversal.Refs.Get("F8"); v != "ICN0000800" {
		t.Errorf("REF*F8 = %q", v)
	}
	if e, ok := reversal.Entity("74"); !ok || e.First != "ALICIA" {
		t.Errorf("NM1*74: %+v", reversal.Entities)
	}
	if amt, err := reversal.Payment.Decimal(); err != nil || amt.Sign() >= 0 {
		t.Errorf("negative CLP04: %v %v", amt, err)
	}
	if plb.Kind() != Kind835ProviderAdjustment || len(plb.Adjustments) != 3 || plb.Adjustments[0].Reason != "L6" || plb.Adjustments[2].Reason != "FB" || plb.Adjustments[1].Amount != "50" {
		t.Errorf("PLB: %+v", plb.Adjustments)
	}
	if plb.Pos().SegmentID != "PLB" || plb.Pos().Loop != "SUMMARY" {
		t.Errorf("PLB position %v", plb.Pos())
	}
	if other.Status != "23" || other.DRGCode != "280" || other.Inpatient == nil || other.Header.HandlingCode != "H" || other.Envelope().ST.Control != "0602" {
		t.Errorf("second transaction: %+v", other)
	}
	// Transaction-level balancing: BPR02 = sum(CLP04) - sum(PLB04).
	total, _ := h.TotalPayment.Decimal()
	var sum = total.Sub(total)
	for _, r := range recs[:4] {
		v, _ := r.(*ClaimPayment835).Payment.Decimal()
		sum = sum.Add(v)
	}
	for _, a := range plb.Adjustments {
		v, _ := a.Amount.Decimal()
		sum = sum.Sub(v)
	}
	if !sum.Equal(total) {
		t.Errorf("BPR02 %s != sum(CLP04) - sum(PLB) %s", total, sum)
	}
}

func TestDecoderFixtures834(t *testing.T) {
	recs := decReadFixture(t, "834.x12")
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	add, change, term := recs[0].(*Member834), recs[1].(*Member834), recs[2].(*Member834)
	h := add.Header
	if h != term.Header || h.Purpose != "00" || h.Action != "2" || h.Sponsor.ID != "123456789" || h.Payer.Code != "IN" || len(h.Brokers) != 1 {
		t.Errorf("header: %+v", h)
	}
	if v, _ := h.Refs.Get("38"); v != "MASTERPOL01" {
		t.Errorf("REF*38 = %q", v)
	}
	if add.MaintenanceType != "021" || add.Subscriber != "Y" || add.Relationship != "18" || add.SubscriberID() != "SUB0000001" || add.EmploymentStatus != "FT" {
		t.Errorf("INS add: %+v", add)
	}
	n := add.Name
	if n.Code != "IL" || n.IDQualifier != "34" || n.Demographics == nil || n.Demographics.MaritalStatus != "M" || n.Address == nil || n.Address.LocationID != "001" ||
		len(n.Contacts) != 1 || len(n.Contacts[0].Numbers) != 2 || len(n.Languages) != 1 || n.Languages[0].Code != "EN" {
		t.Errorf("2100A: %+v", n)
	}
	if len(n.Demographics.RaceEthnicity) != 1 || n.Demographics.RaceEthnicity[0].Detailed != "2106-3" {
		t.Errorf("DMG05: %+v", n.Demographics.RaceEthnicity)
	}
	if add.MailingAddress == nil || add.MailingAddress.Address.Line1 != "PO BOX 12" {
		t.Errorf("2100C: %+v", add.MailingAddress)
	}
	if len(add.Coverages) != 2 {
		t.Fatalf("%d coverages", len(add.Coverages))
	}
	hlt, den := add.Coverages[0], add.Coverages[1]
	if hlt.InsuranceLine != "HLT" || hlt.CoverageLevel != "FAM" || len(hlt.IDCards) != 1 || len(hlt.Providers) != 1 ||
		hlt.Providers[0].Code != "P3" || hlt.Providers[0].Relationship != "72" || hlt.Providers[0].LoopID != "2310" {
		t.Errorf("2300 HLT: %+v", hlt)
	}
	if d, _ := hlt.Dates.Get("348"); d.Value != "20240101" {
		t.Errorf("DTP*348: %+v", hlt.Dates)
	}
	if len(den.CoordinationOfBenefits) != 1 || den.CoordinationOfBenefits[0].PayerResponsibility != "S" || len(den.CoordinationOfBenefits[0].RelatedEntities) != 1 ||
		den.CoordinationOfBenefits[0].RelatedEntities[0].IDQualifier != "NI" {
		t.Errorf("2320/2330: %+v", den.CoordinationOfBenefits)
	}
	if len(add.ReportingCategories) != 1 || add.ReportingCategories[0].Name != "DEPARTMENT" {
		t.Errorf("2700/2750: %+v", add.ReportingCategories)
	}
	if change.MaintenanceType != "001" || change.Subscriber != "N" || change.Name.Code != "74" || change.IncorrectName == nil ||
		change.IncorrectName.Demographics == nil || change.IncorrectName.Demographics.BirthDate != "20100101" {
		t.Errorf("INS change: %+v", change)
	}
	if term.MaintenanceType != "024" || term.MaintenanceReason != "07" || term.Coverages[0].MaintenanceType != "024" {
		t.Errorf("INS terminate: %+v", term)
	}
	if d, _ := term.Coverages[0].Dates.Get("349"); d.Value != "20240331" {
		t.Errorf("DTP*349: %+v", term.Coverages[0].Dates)
	}
}

func TestDecoderBadClaimBetweenGoodOnes(t *testing.T) {
	input, err := os.ReadFile("testdata/decoder/837p_badclaim.x12")
	if err != nil {
		t.Fatal(err)
	}
	got := decOutcomes(t, input, nil)
	want := []string{
		decOk(Kind837PClaim, "PCN2001"),
		decFail("Invalid", "8/6/", "CLM 2300 2"),
		decOk(Kind837PClaim, "PCN2003"),
		decFail("Missing", "3//", "SV1 2400"),
		decFail("Loop", "6//", "ZZZ 2300"),
		decFail("Invalid", "8/8/", "DTP 2400 3"),
		decOk(Kind837PClaim, "PCN2007"),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestDecoderRecordTooLarge(t *testing.T) {
	// A claim larger than MaxRecordLength is reported and skipped; the claims
	// around it decode. Its loops are not kept either (memory stays bounded).
	big := decManyLines("BIG", 40)
	input := decInterchange("005010X222A1", decP837(decClaim("A"), big, decClaim("B")))
	got := decOutcomes(t, input, func(d *Decoder) { d.MaxRecordLength = 4000 })
	want := []string{decOk(Kind837PClaim, "A"), decFail("TooLarge", "//", "LX 2400"), decOk(Kind837PClaim, "B")}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// Context larger than the limit: the context error once, then each claim
	// under it is skipped with ErrContext.
	got = decOutcomes(t, decInterchange("005010X222A1", decP837(decClaim("A"), decClaim("B"))), func(d *Decoder) { d.MaxRecordLength = 1000 })
	want = []string{decFail("TooLarge", "//", "HL 2000A"), decFail("Context", "//", "CLM 2300"), decFail("Context", "//", "CLM 2300")}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
