package fhirmap

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	clpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
	eobpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/explanation_of_benefit_go_proto"
	opb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/resource"
)

// edit replaces the first old in s by new and recounts every transaction
// set's SE01, failing the test when old is not in s.
func edit(t testing.TB, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("fixture lacks %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	segs := strings.SplitAfter(s, "~")
	start := -1
	for i, seg := range segs {
		id := strings.TrimSpace(seg)
		switch {
		case strings.HasPrefix(id, "ST*"):
			start = i
		case strings.HasPrefix(id, "SE*") && start >= 0:
			el := strings.Split(strings.TrimSuffix(id, "~"), "*")
			el[1] = strconv.Itoa(i - start + 1)
			segs[i] = strings.Replace(seg, id, strings.Join(el, "*")+"~", 1)
			start = -1
		}
	}
	return strings.Join(segs, "")
}

// joined maps the claim and the payment of the 835p_joined case after the
// edits, and returns the claim's and the payment's results.
func joined(t *testing.T, claimEdits, paymentEdits []string) (claim, pay *Result) {
	t.Helper()
	claims, payment := case835(t, "835p_joined")
	claims, payment = edit(t, claims, claimEdits...), edit(t, payment, paymentEdits...)
	ix := NewClaimIndex(nil)
	m := goldenMapper(t, "835p_joined", ix)
	cr, errs := mapAll(t, m, ix, claims)
	if len(errs) != 0 || len(cr) != 1 {
		t.Fatalf("claim: %v", errs)
	}
	pr, errs := mapAll(t, m, nil, payment)
	if len(errs) != 0 || len(pr) != 1 {
		t.Fatalf("payment: %v", errs)
	}
	return cr[0], pr[0]
}

// moneyCurrencies returns the currency of every Money in m.
func moneyCurrencies(m protoreflect.Message) []string {
	var out []string
	if mo, ok := m.Interface().(*dtpb.Money); ok {
		return []string{mo.GetCurrency().GetValue()}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		if fd.IsList() {
			for i := 0; i < v.List().Len(); i++ {
				out = append(out, moneyCurrencies(v.List().Get(i).Message())...)
			}
			return true
		}
		out = append(out, moneyCurrencies(v.Message())...)
		return true
	})
	return out
}

// TestPatientWeightLinked: a patient weight from PAT08 (not CR1) is a C4BB
// transportation slice, which every item must reference
// (EOB-prof-all-transportation-supportinginfo-linked-to-line); otherwise the
// joined EOB claims no C4BB profile at all.
func TestPatientWeightLinked(t *testing.T) {
	cr, pr := joined(t, []string{"SBR*P*18*GRP001******CI~", "SBR*P*18*GRP001******CI~\nPAT*******01*175~"}, nil)
	c := claimOf(t, cr)
	weight := 0
	for _, si := range c.GetSupportingInfo() {
		if codeOf(si.GetCategory(), systemC4BBSupportingInfo) == "patientweight" {
			weight = int(si.GetSequence().GetValue())
		}
	}
	if weight == 0 {
		t.Fatal("no patientweight supportingInfo on the Claim")
	}
	for i, it := range c.GetItem() {
		found := false
		for _, s := range it.GetInformationSequence() {
			found = found || int(s.GetValue()) == weight
		}
		if !found {
			t.Errorf("Claim.item[%d] does not reference the patientweight supportingInfo %d", i, weight)
		}
	}
	e := eobOf(t, pr)
	if got := e.GetMeta().GetProfile(); len(got) != 1 || got[0].GetValue() != C4BB210.EOBProfile(EOBProfessional, false) {
		t.Errorf("EOB profile %v, unmet %v", got, pr.Unmet)
	}
}

// TestCurrency: an 837 (2000A CUR) or 835 (header CUR) in another currency
// than US dollars keeps its currency on every Money; an invalid CUR02 is a
// mapping error.
func TestCurrency(t *testing.T) {
	cr, pr := joined(t,
		[]string{"PRV*BI*PXC*207Q00000X~", "PRV*BI*PXC*207Q00000X~\nCUR*85*CAD~"},
		[]string{"TRN*1*EFT7788*1512345678~", "TRN*1*EFT7788*1512345678~\nCUR*PR*CAD~"})
	for _, res := range []*Result{cr, pr} {
		for _, r := range res.Resources {
			cs := moneyCurrencies(r.ProtoReflect())
			for _, c := range cs {
				if c != "CAD" {
					t.Errorf("%s has a Money in %q, want CAD", resource.Type(r), c)
				}
			}
			if _, isClaim := r.(*clpb.Claim); isClaim && len(cs) == 0 {
				t.Error("the Claim has no Money")
			}
			if _, isEOB := r.(*eobpb.ExplanationOfBenefit); isEOB && len(cs) == 0 {
				t.Error("the EOB has no Money")
			}
		}
	}

	// provider-level adjustments (PaymentReconciliation)
	plb, errs := mapAll(t, goldenMapper(t, "835_plb", nil), nil,
		edit(t, string(readCase(t, "835_plb")), "TRN*1*EFT8805*1512345678~", "TRN*1*EFT8805*1512345678~\nCUR*PR*CAD~"))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	n := 0
	for _, res := range plb {
		for _, r := range res.Resources {
			if typ := resource.Type(r); typ != "ExplanationOfBenefit" && typ != "PaymentReconciliation" {
				continue // the case's 837 is in US dollars
			}
			for _, c := range moneyCurrencies(r.ProtoReflect()) {
				n++
				if c != "CAD" {
					t.Errorf("835_plb: %s has a Money in %q, want CAD", resource.Type(r), c)
				}
			}
		}
	}
	if n == 0 {
		t.Error("835_plb: no Money")
	}

	claims, payment := case835(t, "835p_joined")
	m := goldenMapper(t, "835p_joined", nil)
	for name, text := range map[string]string{
		"837": edit(t, claims, "PRV*BI*PXC*207Q00000X~", "PRV*BI*PXC*207Q00000X~\nCUR*85*DOLLARS~"),
		"835": edit(t, payment, "TRN*1*EFT7788*1512345678~", "TRN*1*EFT7788*1512345678~\nCUR*PR*C1~"),
	} {
		_, errs := mapAll(t, m, nil, text)
		if len(errs) != 1 || !errors.Is(errs[0], ErrInvalidCode) {
			t.Errorf("%s with an invalid CUR02: %v, want ErrInvalidCode", name, errs)
		}
	}
}

// TestPayeeIsBillingPractitioner: a billing provider who is a person (2010AA
// NM102 = 1) is paid under their own NPI (1000B N104): the EOB's payee is
// that Practitioner, not an Organization made up from the person's NPI. An
// 835 without its claim tells the same when its rendering provider (NM1*82,
// a person) has the payee's NPI.
func TestPayeeIsBillingPractitioner(t *testing.T) {
	claimEdits := []string{"NM1*85*2*RIVER CLINIC*****XX*1234567893~", "NM1*85*1*SMITH*ANNA****XX*1679576722~"}
	paymentEdits := []string{"N1*PE*RIVER CLINIC*XX*1234567893~", "N1*PE*ANNA SMITH*XX*1679576722~"}
	_, matched := joined(t, claimEdits, paymentEdits)
	_, payment := case835(t, "835p_joined")
	unmatched, errs := mapAll(t, goldenMapper(t, "835p_joined", nil), nil, edit(t, payment, paymentEdits...))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	for name, res := range map[string]*Result{"matched": matched, "unmatched": unmatched[0]} {
		e := eobOf(t, res)
		if refType(e.GetProvider()) != "Practitioner" {
			t.Errorf("%s: EOB.provider %v, want the billing Practitioner", name, e.GetProvider())
		}
		if !proto.Equal(e.GetPayee().GetParty(), e.GetProvider()) {
			t.Errorf("%s: EOB.payee.party %v, want the billing Practitioner %v", name, e.GetPayee().GetParty(), e.GetProvider())
		}
		for _, r := range res.Resources {
			if o, ok := r.(*opb.Organization); ok {
				for _, id := range o.GetIdentifier() {
					if id.GetValue().GetValue() == "1679576722" {
						t.Errorf("%s: Organization %s carries the practitioner's NPI", name, o.GetId().GetValue())
					}
				}
			}
		}
		if fs := check.All(res.Resources); len(fs) != 0 {
			t.Errorf("%s: findings: %s", name, check.Report(fs))
		}
	}
}

// TestClaimDatesApplyToLines: 835 dates at the claim level (DTM*232/233)
// apply to every service line that has none of its own (835 TR3 DTM notes);
// a statement start without an end is a one-day statement.
func TestClaimDatesApplyToLines(t *testing.T) {
	_, payment := case835(t, "835p_joined")
	m := goldenMapper(t, "835p_joined", nil)
	for _, tc := range []struct {
		name         string
		edits        []string
		serviced     string // JSON of item[0].serviced[x]
		billable     string // JSON of billablePeriod
		wantServiced bool
	}{
		{"statement start only", []string{"DTM*050*20240116~", "DTM*232*20240110~\nDTM*050*20240116~", "DTM*472*20240110~\n", ""},
			`"servicedDate":"2024-01-10"`, `"billablePeriod":{"end":"2024-01-10","start":"2024-01-10"}`, true},
		{"statement range", []string{"DTM*050*20240116~", "DTM*232*20240108~\nDTM*233*20240112~\nDTM*050*20240116~", "DTM*472*20240110~\n", ""},
			`"servicedPeriod":{"end":"2024-01-12","start":"2024-01-08"}`, `"billablePeriod":{"end":"2024-01-12","start":"2024-01-08"}`, true},
		{"line date wins", []string{"DTM*050*20240116~", "DTM*232*20240108~\nDTM*233*20240112~\nDTM*050*20240116~"},
			`"servicedDate":"2024-01-10"`, `"billablePeriod":{"end":"2024-01-12","start":"2024-01-08"}`, true},
		{"statement end only", []string{"DTM*050*20240116~", "DTM*233*20240112~\nDTM*050*20240116~", "DTM*472*20240110~\n", ""},
			"", `"billablePeriod":{"end":"2024-01-12"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, errs := mapAll(t, m, nil, edit(t, payment, tc.edits...))
			if len(errs) != 0 {
				t.Fatal(errs)
			}
			e := eobOf(t, res[0])
			j, err := resource.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(j), tc.billable) {
				t.Errorf("EOB lacks %s", tc.billable)
			}
			if got := e.GetItem()[0].GetServiced() != nil; got != tc.wantServiced {
				t.Fatalf("item[0].serviced present %v, want %v", got, tc.wantServiced)
			}
			if tc.wantServiced {
				it, _ := resource.Marshal(&eobpb.ExplanationOfBenefit{Item: e.GetItem()[:1]})
				if !strings.Contains(string(it), tc.serviced) {
					t.Errorf("item[0] lacks %s: %s", tc.serviced, it)
				}
			}
		})
	}
}

// TestReversalShowsCancelledAdjudication: a reversal (CLP02 22) negates
// every amount of the payment it reverses, and its EOB replaces that
// payment's EOB (same CLP07, same id) with status cancelled. The cancelled
// EOB shows the adjudication it cancels (the original's amounts, signs
// restored), while payment.amount stays CLP04 as sent: the money this
// remittance takes back.
func TestReversalShowsCancelledAdjudication(t *testing.T) {
	run := runCase(t, "835_reversal")
	var rev *eobpb.ExplanationOfBenefit
	for _, r := range run.resources {
		if e, ok := r.(*eobpb.ExplanationOfBenefit); ok && e.GetStatus().GetValue().String() == "CANCELLED" {
			rev = e
		}
	}
	if rev == nil {
		t.Fatal("no cancelled EOB")
	}
	totals := map[string]string{}
	for _, tot := range rev.GetTotal() {
		totals[tot.GetCategory().GetCoding()[0].GetCode().GetValue()] = tot.GetAmount().GetValue().GetValue()
	}
	for cat, want := range map[string]string{"submitted": "200", "eligible": "200", "deductible": "40", "memberliability": "40", "paidtoprovider": "160"} {
		if totals[cat] != want {
			t.Errorf("total %s = %q, want %q (the reversed adjudication)", cat, totals[cat], want)
		}
	}
	for _, it := range rev.GetItem() {
		for _, a := range it.GetAdjudication() {
			if v := a.GetAmount().GetValue().GetValue(); strings.HasPrefix(v, "-") {
				t.Errorf("item %d adjudication %s amount %s: negative on the cancelled EOB", it.GetSequence().GetValue(), a.GetCategory().GetCoding()[0].GetCode().GetValue(), v)
			}
		}
	}
	if got := rev.GetPayment().GetAmount().GetValue().GetValue(); got != "-160" {
		t.Errorf("payment.amount %q, want CLP04 as sent (-160)", got)
	}
	if got := rev.GetPayment().GetType().GetCoding()[0].GetCode().GetValue(); got != "paid" {
		t.Errorf("payment.type %q, want paid (the reversed payment's)", got)
	}
}
