package fhirmap

import (
	"errors"
	"strings"
	"testing"

	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

func TestAdjudicationTableLookup(t *testing.T) {
	tab := DefaultAdjudicationTable()
	tests := []struct {
		group, reason string
		want          terminology.Coding
		member        bool
		ok            bool
	}{
		{"PR", "1", catDeductible, true, true},
		{"PR", "2", catCoinsurance, true, true},
		{"pr", " 3 ", catCopay, true, true},
		{"PR", "96", catNoncovered, true, true},
		{"CO", "45", catDiscount, false, true},
		{"CO", "97", catNoncovered, false, true},
		{"OA", "23", catPriorPayerPaid, false, true},
		{"OA", "18", catNoncovered, false, true},
		{"PI", "45", catNoncovered, false, true},
		{"CR", "45", terminology.Coding{}, false, false},
		{"", "45", terminology.Coding{}, false, false},
	}
	for _, tc := range tests {
		r, ok := tab.Lookup(tc.group, tc.reason)
		if ok != tc.ok || r.Category != tc.want || r.MemberLiability != tc.member {
			t.Errorf("Lookup(%q, %q) = %+v, %v; want %v member=%v ok=%v", tc.group, tc.reason, r, ok, tc.want, tc.member, tc.ok)
		}
	}
}

func TestAdjudicationTableWith(t *testing.T) {
	tab, err := DefaultAdjudicationTable().With(
		CASRule{Group: "co", Reason: "45", Category: catNoncovered},           // replaces
		CASRule{Group: "PR", Reason: "204", Category: catNoncovered},          // adds (no member liability: payer's choice)
		CASRule{Group: "CR", Category: catNoncovered, MemberLiability: false}, // adds a group
		CASRule{Group: "OA", Reason: "23", Category: catPriorPayerPaid},       // same as before
		CASRule{Group: "PI", Reason: "94", Category: catDiscount},             // adds
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		g, r   string
		want   terminology.Coding
		member bool
	}{
		{"CO", "45", catNoncovered, false},
		{"PR", "204", catNoncovered, false},
		{"PR", "205", catNoncovered, true},
		{"CR", "1", catNoncovered, false},
		{"PI", "94", catDiscount, false},
	} {
		if r, ok := tab.Lookup(tc.g, tc.r); !ok || r.Category != tc.want || r.MemberLiability != tc.member {
			t.Errorf("Lookup(%s, %s) = %+v, %v", tc.g, tc.r, r, ok)
		}
	}
	if n := len(DefaultAdjudicationTable().Rules()); n != len(DefaultCASRules()) {
		t.Errorf("default table changed by With: %d rules", n)
	}
	if r, _ := DefaultAdjudicationTable().Lookup("CO", "45"); r.Category != catDiscount {
		t.Errorf("default table changed by With: CO 45 → %v", r.Category)
	}
}

func TestNewAdjudicationTableErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules []CASRule
		want  error
	}{
		{"no group", []CASRule{{Reason: "1", Category: catDeductible}}, ErrMissing},
		{"not an amount category", []CASRule{{Group: "PR", Category: terminology.Coding{System: SystemC4BBAdjudicationDiscriminator, Code: "adjustmentreason"}}}, ErrInvalidCode},
		{"wrong system", []CASRule{{Group: "PR", Category: terminology.Coding{System: SystemC4BBAdjudication, Code: "deductible"}}}, ErrInvalidCode},
		{"duplicate", []CASRule{{Group: "PR", Reason: "1", Category: catDeductible}, {Group: "pr", Reason: "1 ", Category: catCopay}}, ErrInconsistent},
	}
	for _, tc := range tests {
		if _, err := NewAdjudicationTable(tc.rules); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// payment builds a claim payment with claim-level and line-level CAS.
func payment(status, charge, paid, member string, claimCAS []x12.Adjustment, lines ...x12.ServicePayment835) *x12.ClaimPayment835 {
	return &x12.ClaimPayment835{
		PatientControlNumber: "PCN1", Status: status, TotalCharge: x12.Amount(charge), Payment: x12.Amount(paid),
		PatientResponsibility: x12.Amount(member), PayerClaimControlNumber: "ICN1",
		Adjustments: claimCAS, Services: lines,
	}
}

func svc(charge, paid string, cas ...x12.Adjustment) x12.ServicePayment835 {
	return x12.ServicePayment835{Procedure: x12.Procedure{Qualifier: "HC", Code: "99213"}, Charge: x12.Amount(charge), Payment: x12.Amount(paid), Adjustments: cas}
}

func cas(group, reason, amount string) x12.Adjustment {
	return x12.Adjustment{Group: group, Reason: reason, Amount: x12.Amount(amount)}
}

func TestClaimDisposition(t *testing.T) {
	tests := []struct {
		name                         string
		p                            *x12.ClaimPayment835
		status, outcome, paymentType string
	}{
		{"paid", payment("1", "100", "80", "20", nil, svc("100", "80", cas("PR", "2", "20"))), "active", "complete", "paid"},
		{"paid with contractual", payment("1", "150", "80", "20", nil, svc("150", "80", cas("CO", "45", "50"), cas("PR", "2", "20"))), "active", "complete", "paid"},
		{"secondary paid", payment("2", "100", "20", "0", nil, svc("100", "20", cas("OA", "23", "80"))), "active", "complete", "paid"},
		{"one line unpaid", payment("1", "200", "80", "0", nil, svc("100", "80", cas("CO", "45", "20")), svc("100", "0", cas("CO", "97", "100"))), "active", "complete", "partiallypaid"},
		{"other adjustment", payment("19", "100", "60", "0", nil, svc("100", "60", cas("OA", "18", "40"))), "active", "complete", "partiallypaid"},
		// A line paid nothing because the member owes it (a deductible) or a
		// prior payer paid it was not denied (C4BB partiallypaid: "some line
		// items on the claim were denied").
		{"one line to the deductible", payment("1", "250", "80", "120", nil, svc("100", "80", cas("PR", "2", "20")), svc("150", "0", cas("CO", "45", "50"), cas("PR", "1", "100"))), "active", "complete", "paid"},
		{"one line paid by the prior payer", payment("2", "200", "20", "0", nil, svc("100", "20", cas("OA", "23", "80")), svc("100", "0", cas("OA", "23", "100"))), "active", "complete", "paid"},
		{"one line denied, one to the deductible", payment("1", "300", "80", "100", nil, svc("100", "80", cas("CO", "45", "20")), svc("100", "0", cas("PR", "1", "100")), svc("100", "0", cas("CO", "97", "100"))), "active", "complete", "partiallypaid"},
		{"zero paid member owes", payment("1", "100", "0", "100", nil, svc("100", "0", cas("PR", "1", "100"))), "active", "complete", "paid"},
		{"zero paid prior payer", payment("2", "100", "0", "0", []x12.Adjustment{cas("OA", "23", "100")}), "active", "complete", "paid"},
		{"zero paid all contractual", payment("1", "100", "0", "0", []x12.Adjustment{cas("CO", "50", "100")}), "active", "complete", "denied"},
		{"denied", payment("4", "80", "0", "0", []x12.Adjustment{cas("CO", "50", "80")}), "active", "complete", "denied"},
		{"reversal of paid", payment("22", "-300", "-250", "-50", []x12.Adjustment{cas("PR", "1", "-50")}), "cancelled", "complete", "paid"},
		{"not our claim", payment("23", "100", "0", "0", nil), "active", "error", "denied"},
		{"predetermination", payment("25", "100", "0", "0", nil), "active", "complete", ""},
	}
	for _, tc := range tests {
		d, err := ClaimDisposition(tc.p, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if d.Status != tc.status || d.Outcome != tc.outcome || d.PaymentType != tc.paymentType {
			t.Errorf("%s: got %s/%s/%s, want %s/%s/%s", tc.name, d.Status, d.Outcome, d.PaymentType, tc.status, tc.outcome, tc.paymentType)
		}
	}
}

func TestClaimDispositionErrors(t *testing.T) {
	tests := []struct {
		name string
		p    *x12.ClaimPayment835
		want error
		path string
	}{
		{"bad status", payment("99", "1", "1", "", nil), ErrInvalidCode, "ExplanationOfBenefit.outcome"},
		{"bad payment", payment("1", "1", "ZZCANARYZZ", "", nil), ErrInvalidValue, "ExplanationOfBenefit.payment.amount"},
		{"unclassified CAS", payment("1", "1", "1", "", []x12.Adjustment{cas("CR", "1", "1")}), ErrInvalidCode, "ExplanationOfBenefit.adjudication"},
		{"bad CAS amount", payment("1", "1", "1", "", nil, svc("1", "1", cas("CO", "45", "ZZCANARYZZ"))), ErrInvalidValue, "ExplanationOfBenefit.item[0].adjudication"},
	}
	for _, tc := range tests {
		_, err := ClaimDisposition(tc.p, nil)
		var fe *Error
		if !errors.Is(err, tc.want) || !errors.As(err, &fe) || fe.Path != tc.path {
			t.Errorf("%s: err = %v, want %v at %s", tc.name, err, tc.want, tc.path)
			continue
		}
		if strings.Contains(err.Error(), "ZZCANARYZZ") {
			t.Errorf("%s: error leaks the value: %v", tc.name, err)
		}
	}
}

func TestAdjudicate(t *testing.T) {
	b6 := func(s x12.ServicePayment835, allowed string) x12.ServicePayment835 {
		s.Amounts = x12.Amounts{{Qualifier: "B6", Amount: x12.Amount(allowed)}}
		return s
	}
	line1 := b6(svc("125.5", "110", cas("CO", "45", "15.5")), "110")
	line2 := b6(svc("125.25", "90", cas("CO", "45", "5.25"), cas("PR", "2", "30")), "120")
	line2.Remarks = []x12.Remark{{Qualifier: "HE", Code: "N130"}, {Qualifier: "RX", Code: "70"}}
	p := payment("1", "250.75", "200", "30", nil, line1, line2)
	p.Amounts = x12.Amounts{{Qualifier: "AU", Amount: "230"}, {Qualifier: "F5", Amount: "10"}}
	p.Outpatient = &x12.OutpatientAdjudication{Remarks: []string{"MA130", "", "MA130"}}
	ca, err := Adjudicate(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Balanced {
		t.Error("balanced claim reported unbalanced")
	}
	got := map[string]string{}
	for _, tot := range ca.Totals {
		got[tot.Category.Code] = tot.Amount.String()
	}
	want := map[string]string{
		"submitted": "250.75", "eligible": "230", "discount": "20.75", "coinsurance": "30",
		"paidbypatient": "10", "memberliability": "30", "paidtoprovider": "200",
	}
	if len(got) != len(want) {
		t.Errorf("totals %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("total %s = %q, want %q", k, got[k], v)
		}
	}
	if ca.Totals[0].Category != catSubmitted || ca.Totals[len(ca.Totals)-1].Category != catPaidToProvider {
		t.Errorf("totals out of order: %v", ca.Totals)
	}
	l := ca.Lines[1]
	if l.Eligible.String() != "120" || !l.EligibleFromB6 || l.MemberLiability.String() != "30" || l.Paid.String() != "90" || len(l.Adjustments) != 2 || !l.Balanced {
		t.Errorf("line 2: %+v", l)
	}
	if len(l.Remarks) != 1 || l.Remarks[0] != "N130" {
		t.Errorf("line 2 remarks %v", l.Remarks)
	}
	if len(ca.Remarks) != 1 || ca.Remarks[0] != "MA130" {
		t.Errorf("claim remarks %v", ca.Remarks)
	}

	// Without B6 the allowed amount is derived: charge − CO − PI.
	p = payment("1", "100", "50", "10", []x12.Adjustment{cas("CO", "97", "5")}, svc("100", "55", cas("CO", "45", "30"), cas("PI", "94", "5"), cas("PR", "3", "10")))
	if ca, err = Adjudicate(p, nil); err != nil {
		t.Fatal(err)
	}
	if e := ca.Lines[0].Eligible.String(); e != "65" || ca.Lines[0].EligibleFromB6 {
		t.Errorf("derived eligible %s", e)
	}
	for _, tot := range ca.Totals {
		if tot.Category == catEligible && tot.Amount.String() != "60" {
			t.Errorf("claim eligible %s, want 60 (line 65 − claim CO 5)", tot.Amount)
		}
		if tot.Category == catNoncovered && tot.Amount.String() != "10" {
			t.Errorf("noncovered %s, want 10 (CO 97 + PI 94)", tot.Amount)
		}
	}
	if !ca.Balanced {
		t.Error("balanced claim with claim-level CAS reported unbalanced")
	}

	// Unbalanced lines are mapped as sent and flagged.
	p = payment("1", "100", "90", "0", nil, svc("100", "90", cas("CO", "45", "5")))
	if ca, err = Adjudicate(p, nil); err != nil || ca.Balanced || ca.Lines[0].Balanced {
		t.Errorf("unbalanced: err %v, balanced %v/%v", err, ca.Balanced, ca.Lines[0].Balanced)
	}

	// No lines: AMT*AU, else charge minus claim-level CO/PI.
	p = payment("1", "100", "70", "0", []x12.Adjustment{cas("CO", "45", "30")})
	if ca, err = Adjudicate(p, nil); err != nil {
		t.Fatal(err)
	}
	for _, tot := range ca.Totals {
		if tot.Category == catEligible && tot.Amount.String() != "70" {
			t.Errorf("claim-only eligible %s", tot.Amount)
		}
	}
}

func TestDominantDenial(t *testing.T) {
	tab := DefaultAdjudicationTable()
	cl, err := tab.classify([]x12.Adjustment{cas("PR", "1", "500"), cas("CO", "45", "20"), cas("CO", "97", "-30"), cas("OA", "18", "30")}, Position{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if i := dominantDenial(cl); i != 2 {
		t.Errorf("dominant = %d, want 2 (largest non-PR, first on a tie)", i)
	}
	if i := dominantDenial(cl[:1]); i != -1 {
		t.Errorf("PR only: %d", i)
	}
}
