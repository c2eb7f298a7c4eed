package terminology

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// normCase is one row of a normalizer table: want is the output, or rule
// (with offset, -1 for a whole-code rule) the error.
type normCase struct {
	in     string
	want   string
	rule   error
	offset int
}

func runNorm(t *testing.T, kind string, fn func(string) (string, error), cases []normCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := fn(tc.in)
		if tc.rule == nil {
			if err != nil || got != tc.want {
				t.Errorf("%s(%q) = %q, %v; want %q", kind, tc.in, got, err, tc.want)
			}
			continue
		}
		checkCodeError(t, kind, tc.in, err, tc.rule, tc.offset)
		if got != "" {
			t.Errorf("%s(%q) returned %q with its error", kind, tc.in, got)
		}
	}
}

func checkCodeError(t *testing.T, kind, in string, err, rule error, offset int) {
	t.Helper()
	var ce *CodeError
	if !errors.As(err, &ce) {
		t.Errorf("%s(%q) error = %v; want a *CodeError", kind, in, err)
		return
	}
	if !errors.Is(err, rule) || ce.Offset != offset {
		t.Errorf("%s(%q) error = %v (offset %d); want rule %v at offset %d", kind, in, err, ce.Offset, rule, offset)
	}
	if ce.Kind != kind && !strings.HasPrefix(ce.Kind, kind) {
		t.Errorf("%s(%q) error kind = %q", kind, in, ce.Kind)
	}
	if len(strings.TrimSpace(in)) >= 3 && strings.Contains(err.Error(), strings.TrimSpace(in)) {
		t.Errorf("%s(%q) error text %q contains the code", kind, in, err)
	}
}

func TestNormalizeICD10CM(t *testing.T) {
	runNorm(t, KindICD10CM, NormalizeICD10CM, []normCase{
		// MAPPING.md §3.3 examples.
		{in: "J209", want: "J20.9"},
		{in: "S060X1A", want: "S06.0X1A"},
		{in: "J20.9", want: "J20.9"},
		{in: "j209", want: "J20.9"},
		{in: "s060x1a", want: "S06.0X1A"},
		{in: "E11", want: "E11"},
		{in: "C4A0", want: "C4A.0"}, // alphanumeric 3rd character
		{in: "U071", want: "U07.1"},
		{in: " R51 ", want: "R51"},
		{in: "Z3A01", want: "Z3A.01"},
		{in: "", rule: ErrEmptyCode, offset: -1},
		{in: "   ", rule: ErrEmptyCode, offset: -1},
		{in: "J2", rule: ErrCodeLength, offset: -1},
		{in: "S060X1AB", rule: ErrCodeLength, offset: -1},
		{in: "1209", rule: ErrCodeCharacter, offset: 0},
		{in: "JA09", rule: ErrCodeCharacter, offset: 1},
		{in: "J20-9", rule: ErrCodeCharacter, offset: 3},
		{in: "J2.09", rule: ErrCodeCharacter, offset: 2},
		{in: "J20.", rule: ErrCodeCharacter, offset: 3},
		{in: "J20.9.1", rule: ErrCodeCharacter, offset: 5},
		{in: "J20.9-", rule: ErrCodeCharacter, offset: 5},  // offset counts the point
		{in: "  J20-9", rule: ErrCodeCharacter, offset: 5}, // and leading spaces
		{in: "JÉ09", rule: ErrCodeCharacter, offset: 1},
	})
}

func TestNormalizeICD10PCS(t *testing.T) {
	runNorm(t, KindICD10PCS, NormalizeICD10PCS, []normCase{
		{in: "0DTJ4ZZ", want: "0DTJ4ZZ"},
		{in: "0dtj4zz", want: "0DTJ4ZZ"},
		{in: "02703DZ", want: "02703DZ"},
		{in: "0DTJ4Z", rule: ErrCodeLength, offset: -1},
		{in: "0DTJ4ZZZ", rule: ErrCodeLength, offset: -1},
		{in: "0DT.J4ZZ", rule: ErrCodeCharacter, offset: 3}, // no point in PCS
		{in: "0DTI4ZZ", rule: ErrCodeCharacter, offset: 3},  // no I
		{in: "0DTJ4ZO", rule: ErrCodeCharacter, offset: 6},  // no O
		{in: "", rule: ErrEmptyCode, offset: -1},
	})
}

func TestNormalizeICD9CM(t *testing.T) {
	runNorm(t, KindICD9CM, NormalizeICD9CM, []normCase{
		// MAPPING.md §3.3 examples.
		{in: "4019", want: "401.9"},
		{in: "V7389", want: "V73.89"},
		{in: "E8889", want: "E888.9"},
		{in: "401", want: "401"},
		{in: "25000", want: "250.00"},
		{in: "250.00", want: "250.00"},
		{in: "v7389", want: "V73.89"},
		{in: "V25", want: "V25"},
		{in: "E849", want: "E849"},
		{in: "E888.9", want: "E888.9"},
		{in: "E88.89", rule: ErrCodeCharacter, offset: 3}, // E codes: point after the 4th
		{in: "40", rule: ErrCodeLength, offset: -1},
		{in: "401911", rule: ErrCodeLength, offset: -1},
		{in: "E88", rule: ErrCodeLength, offset: -1},
		{in: "E88891", rule: ErrCodeLength, offset: -1},
		{in: "V738A", rule: ErrCodeCharacter, offset: 4},
		{in: "A401", rule: ErrCodeCharacter, offset: 0},
		{in: "", rule: ErrEmptyCode, offset: -1},
	})
}

func TestNormalizeICD9Procedure(t *testing.T) {
	runNorm(t, KindICD9Procedure, NormalizeICD9Procedure, []normCase{
		{in: "8151", want: "81.51"}, // MAPPING.md §3.3
		{in: "81.51", want: "81.51"},
		{in: "001", want: "00.1"},
		{in: "81", rule: ErrCodeLength, offset: -1},
		{in: "81511", rule: ErrCodeLength, offset: -1},
		{in: "815.1", rule: ErrCodeCharacter, offset: 3},
		{in: "81A1", rule: ErrCodeCharacter, offset: 2},
	})
}

func TestNormalizeCPTAndHCPCS(t *testing.T) {
	runNorm(t, KindCPT, NormalizeCPT, []normCase{
		{in: "99213", want: "99213"},
		{in: "0001F", want: "0001F"},
		{in: "0042t", want: "0042T"},
		{in: "0001U", want: "0001U"},
		{in: "J1100", rule: ErrCodeCharacter, offset: 0},
		{in: "9921", rule: ErrCodeLength, offset: -1},
		{in: "992130", rule: ErrCodeLength, offset: -1},
		{in: "9921-", rule: ErrCodeCharacter, offset: 4},
	})
	runNorm(t, KindHCPCS, NormalizeHCPCS, []normCase{
		{in: "J1100", want: "J1100"},
		{in: "g0008", want: "G0008"},
		{in: "V2020", want: "V2020"},
		{in: "W1234", rule: ErrCodeCharacter, offset: 0}, // only A..V
		{in: "99213", rule: ErrCodeCharacter, offset: 0},
		{in: "J11A0", rule: ErrCodeCharacter, offset: 3},
		{in: "J110", rule: ErrCodeLength, offset: -1},
	})
}

func TestClassifyHC(t *testing.T) {
	cases := []struct {
		in   string
		kind ProcedureKind
		want string
		rule error
		off  int
	}{
		{in: "99213", kind: ProcedureCPT, want: "99213"},
		{in: "0001F", kind: ProcedureCPT, want: "0001F"}, // Category II
		{in: "0042T", kind: ProcedureCPT, want: "0042T"}, // Category III
		{in: "0001U", kind: ProcedureCPT, want: "0001U"},
		{in: "j1100", kind: ProcedureHCPCS, want: "J1100"},
		{in: "A0428", kind: ProcedureHCPCS, want: "A0428"},
		{in: "D0120", kind: ProcedureHCPCS, want: "D0120"}, // a D code under HC is HCPCS
		{in: "Z1234", rule: ErrCodeCharacter, off: 0},
		{in: "-1234", rule: ErrCodeCharacter, off: 0},
		{in: "9921", rule: ErrCodeLength, off: -1},
		{in: "", rule: ErrEmptyCode, off: -1},
	}
	for _, tc := range cases {
		kind, got, err := ClassifyHC(tc.in)
		if tc.rule != nil {
			checkCodeError(t, KindHC, tc.in, err, tc.rule, tc.off)
			continue
		}
		if err != nil || kind != tc.kind || got != tc.want {
			t.Errorf("ClassifyHC(%q) = %v, %q, %v; want %v, %q", tc.in, kind, got, err, tc.kind, tc.want)
		}
	}
	if got := ProcedureCPT.System(SystemHCPCS); got != SystemCPT {
		t.Errorf("ProcedureCPT.System = %q", got)
	}
	if got := ProcedureHCPCS.System(SystemHCPCSTHO); got != SystemHCPCSTHO {
		t.Errorf("ProcedureHCPCS.System = %q", got)
	}
}

func TestClassifyModifier(t *testing.T) {
	cases := []struct {
		in   string
		kind ProcedureKind
		want string
		rule error
	}{
		{in: "25", kind: ProcedureCPT, want: "25"},
		{in: "59", kind: ProcedureCPT, want: "59"},
		{in: "LT", kind: ProcedureHCPCS, want: "LT"},
		{in: "gt", kind: ProcedureHCPCS, want: "GT"},
		{in: "XU", kind: ProcedureHCPCS, want: "XU"},
		{in: "Q5", kind: ProcedureHCPCS, want: "Q5"},
		{in: "JW", kind: ProcedureHCPCS, want: "JW"},
		{in: "2", rule: ErrCodeLength},
		{in: "LTX", rule: ErrCodeLength},
		{in: "L-", rule: ErrCodeCharacter},
	}
	for _, tc := range cases {
		kind, got, err := ClassifyModifier(tc.in)
		if tc.rule != nil {
			if !errors.Is(err, tc.rule) {
				t.Errorf("ClassifyModifier(%q) error = %v; want %v", tc.in, err, tc.rule)
			}
			continue
		}
		if err != nil || kind != tc.kind || got != tc.want {
			t.Errorf("ClassifyModifier(%q) = %v, %q, %v", tc.in, kind, got, err)
		}
	}
}

func TestNormalizeCDT(t *testing.T) {
	runNorm(t, KindCDT, NormalizeCDT, []normCase{
		{in: "D0120", want: "D0120"},
		{in: "d2740", want: "D2740"},
		{in: "0120", rule: ErrCodeCharacter, offset: 0},
		{in: "D012", rule: ErrCodeLength, offset: -1},
		{in: "D01200", rule: ErrCodeLength, offset: -1},
		{in: "D01A0", rule: ErrCodeCharacter, offset: 3},
	})
}

func TestNDC(t *testing.T) {
	runNorm(t, KindNDC, NormalizeNDC11, []normCase{
		// MAPPING.md §3.3: 4-4-2 → 0+4-4-2; 5-3-2 → 5-0+3-2; 5-4-1 → 5-4-0+1.
		{in: "1234-5678-90", want: "01234567890"},
		{in: "12345-678-90", want: "12345067890"},
		{in: "12345-6789-0", want: "12345678900"},
		{in: "12345-6789-01", want: "12345678901"},
		{in: "12345678901", want: "12345678901"},  // X12 LIN03 form
		{in: "0777-3105-02", want: "00777310502"}, // C4BB example
		{in: "1234567890", rule: ErrAmbiguous, offset: -1},
		{in: "123456789", rule: ErrCodeLength, offset: -1},
		{in: "123456789012", rule: ErrCodeLength, offset: -1},
		{in: "1234-567-89", rule: ErrCodeLength, offset: -1},
		{in: "12345-6789", rule: ErrCodeCharacter, offset: -1},
		{in: "12345-67-89-0", rule: ErrCodeCharacter, offset: 11},
		{in: "12345-67A9-01", rule: ErrCodeCharacter, offset: 8},
		{in: "1234567890A", rule: ErrCodeCharacter, offset: 10},
		{in: "", rule: ErrEmptyCode, offset: -1},
	})
	runNorm(t, KindNDC, FormatNDC11, []normCase{
		{in: "12345678901", want: "12345-6789-01"},
		{in: "1234-5678-90", want: "01234-5678-90"},
	})
	runNorm(t, KindNDC, NormalizeNDC10, []normCase{
		{in: "01234567890", want: "1234-5678-90"},  // only the labeler is padded
		{in: "12345067891", want: "12345-678-91"},  // only the product
		{in: "12345678901", want: "12345-6789-1"},  // only the package
		{in: "0777-3105-02", want: "0777-3105-02"}, // already 10-digit hyphenated
		{in: "00777310502", rule: ErrAmbiguous, offset: -1},
		{in: "12345678911", rule: ErrCodeValue, offset: -1},
	})
	got, err := NDC10Candidates("00777310502")
	want := []string{"0777-3105-02", "00777-3105-2"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("NDC10Candidates = %q, %v; want %q", got, err, want)
	}
	// Round trip: every 10-digit form pads to an 11-digit form that lists it.
	for _, ten := range []string{"1234-5678-90", "12345-678-90", "12345-6789-0"} {
		eleven, err := NormalizeNDC11(ten)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := NDC10Candidates(eleven)
		if !slices.Contains(c, ten) {
			t.Errorf("NDC10Candidates(%s) = %q; lacks %s", eleven, c, ten)
		}
	}
}

func TestValidateNPI(t *testing.T) {
	cases := []struct {
		in   string
		rule error
		off  int
	}{
		{in: "1234567893"}, // MAPPING.md §3.4 sanity value
		{in: "1245319599"},
		{in: "1003000126"},
		{in: "1234567890", rule: ErrCheckDigit, off: 9},
		{in: "1234567894", rule: ErrCheckDigit, off: 9},
		{in: "123456789", rule: ErrCodeLength, off: -1},
		{in: "12345678930", rule: ErrCodeLength, off: -1},
		{in: "12345A7893", rule: ErrCodeCharacter, off: 5},
		{in: " 1234567893", rule: ErrCodeCharacter, off: 0}, // identifiers are not trimmed
		{in: "", rule: ErrEmptyCode, off: -1},
	}
	for _, tc := range cases {
		err := ValidateNPI(tc.in)
		if tc.rule == nil {
			if err != nil {
				t.Errorf("ValidateNPI(%q) = %v", tc.in, err)
			}
			continue
		}
		checkCodeError(t, KindNPI, tc.in, err, tc.rule, tc.off)
	}
	// The check digit agrees with ValidateNPI for every last digit.
	for _, first9 := range []string{"123456789", "124531959", "100300012", "000000000", "999999999"} {
		d, err := NPICheckDigit(first9)
		if err != nil {
			t.Fatal(err)
		}
		for c := byte('0'); c <= '9'; c++ {
			err := ValidateNPI(first9 + string(c))
			if (c == d) != (err == nil) {
				t.Errorf("NPI %s%c: check digit %c, ValidateNPI = %v", first9, c, d, err)
			}
		}
	}
	if _, err := NPICheckDigit("12345678"); !errors.Is(err, ErrCodeLength) {
		t.Errorf("NPICheckDigit(8 digits) = %v", err)
	}
}

func TestPaddedCodes(t *testing.T) {
	runNorm(t, KindPlaceOfService, NormalizePlaceOfService, []normCase{
		{in: "2", want: "02"}, // MAPPING.md §3.3
		{in: "11", want: "11"},
		{in: "02", want: "02"},
		{in: "0", rule: ErrCodeValue, offset: -1},
		{in: "00", rule: ErrCodeValue, offset: -1},
		{in: "111", rule: ErrCodeLength, offset: -1},
		{in: "1A", rule: ErrCodeCharacter, offset: 1},
		{in: "", rule: ErrEmptyCode, offset: -1},
	})
	runNorm(t, KindRevenueCode, NormalizeRevenueCode, []normCase{
		{in: "450", want: "0450"}, // MAPPING.md §3.3
		{in: "0450", want: "0450"},
		{in: "0551", want: "0551"},
		{in: "1", want: "0001"},
		{in: "1001", want: "1001"},
		{in: "0000", rule: ErrCodeValue, offset: -1},
		{in: "04500", rule: ErrCodeLength, offset: -1},
		{in: "45O", rule: ErrCodeCharacter, offset: 2},
	})
	runNorm(t, KindDischargeStatus, NormalizeDischargeStatus, []normCase{
		{in: "1", want: "01"}, // MAPPING.md §3.3
		{in: "30", want: "30"},
		{in: "00", rule: ErrCodeValue, offset: -1},
		{in: "301", rule: ErrCodeLength, offset: -1},
	})
	runNorm(t, KindPointOfOrigin, NormalizePointOfOrigin, []normCase{
		{in: "1", want: "1"},
		{in: "d", want: "D"},
		{in: "12", rule: ErrCodeLength, offset: -1},
		{in: "-", rule: ErrCodeCharacter, offset: 0},
	})
	runNorm(t, KindPriority, NormalizePriorityOfAdmission, []normCase{
		{in: "4", want: "4"},
		{in: "0", rule: ErrCodeCharacter, offset: 0},
		{in: "A", rule: ErrCodeCharacter, offset: 0},
		{in: "11", rule: ErrCodeLength, offset: -1},
	})
}

func TestTypeOfBill(t *testing.T) {
	cases := []struct {
		in        string
		want      string
		inpatient bool
		rule      error
		off       int
	}{
		{in: "0111", want: "0111", inpatient: true},
		{in: "111", want: "0111", inpatient: true},
		{in: "011X", want: "011X", inpatient: true}, // Da Vinci PCT form
		{in: "0121", want: "0121", inpatient: true}, // hospital inpatient Part B
		{in: "0131", want: "0131"},                  // hospital outpatient
		{in: "0181", want: "0181", inpatient: true}, // swing bed
		{in: "0211", want: "0211", inpatient: true}, // SNF inpatient
		{in: "0231", want: "0231"},                  // SNF outpatient
		{in: "0411", want: "0411", inpatient: true}, // religious non-medical
		{in: "0611", want: "0611", inpatient: true}, // intermediate care
		{in: "0711", want: "0711"},                  // clinic
		{in: "0831", want: "0831"},                  // ambulatory surgery center
		{in: "0327", want: "0327"},                  // home health, replacement
		{in: "011q", want: "011Q", inpatient: true},
		{in: "1111", rule: ErrCodeCharacter, off: 0},
		{in: "0011", rule: ErrCodeCharacter, off: 1},
		{in: "01A1", rule: ErrCodeCharacter, off: 2},
		{in: "011-", rule: ErrCodeCharacter, off: 3},
		{in: "11", rule: ErrCodeLength, off: -1},
		{in: "01111", rule: ErrCodeLength, off: -1},
		{in: "", rule: ErrEmptyCode, off: -1},
	}
	for _, tc := range cases {
		tob, err := ParseTypeOfBill(tc.in)
		if tc.rule != nil {
			checkCodeError(t, KindTypeOfBill, tc.in, err, tc.rule, tc.off)
			continue
		}
		if err != nil || tob.String() != tc.want || tob.IsInpatient() != tc.inpatient {
			t.Errorf("ParseTypeOfBill(%q) = %v (inpatient %v), %v; want %s (inpatient %v)", tc.in, tob, tob.IsInpatient(), err, tc.want, tc.inpatient)
		}
	}
	// MAPPING.md §3.3: 11:A:1 → 0111.
	tob, err := TypeOfBillFromParts("11", "1")
	if err != nil || tob.String() != "0111" {
		t.Errorf("TypeOfBillFromParts(11, 1) = %v, %v", tob, err)
	}
	if _, err := TypeOfBillFromParts("1", "1"); !errors.Is(err, ErrCodeLength) {
		t.Errorf("TypeOfBillFromParts(1, 1) = %v", err)
	}
	if _, err := TypeOfBillFromParts("11", ""); !errors.Is(err, ErrEmptyCode) {
		t.Errorf("TypeOfBillFromParts(11, empty) = %v", err)
	}
	if _, err := TypeOfBillFromParts("01", "1"); !errors.Is(err, ErrCodeCharacter) {
		t.Errorf("TypeOfBillFromParts(01, 1) = %v", err)
	}
	if (TypeOfBill{}).String() != "" {
		t.Error("zero TypeOfBill has a code")
	}
}

// TestNormalizersCanary: whatever the input, error text never repeats it.
func TestNormalizersCanary(t *testing.T) {
	const canary = "ZZCANARYZZ"
	fns := map[string]func(string) (string, error){
		"ICD10CM": NormalizeICD10CM, "ICD10PCS": NormalizeICD10PCS, "ICD9CM": NormalizeICD9CM,
		"ICD9Proc": NormalizeICD9Procedure, "CPT": NormalizeCPT, "HCPCS": NormalizeHCPCS, "CDT": NormalizeCDT,
		"NDC11": NormalizeNDC11, "NDC10": NormalizeNDC10, "POS": NormalizePlaceOfService,
		"Revenue": NormalizeRevenueCode, "Discharge": NormalizeDischargeStatus,
		"TOB": func(s string) (string, error) { tob, err := ParseTypeOfBill(s); return tob.String(), err },
		"NPI": func(s string) (string, error) { return "", ValidateNPI(s) },
	}
	for name, fn := range fns {
		for _, in := range []string{canary, "1" + canary, "J20." + canary, "12345-" + canary + "-1"} {
			_, err := fn(in)
			if err == nil {
				t.Errorf("%s(%q) accepted", name, in)
				continue
			}
			if strings.Contains(err.Error(), "CANARY") {
				t.Errorf("%s error leaks input: %v", name, err)
			}
		}
	}
}
