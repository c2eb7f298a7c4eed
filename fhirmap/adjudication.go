package fhirmap

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
	"github.com/shopspring/decimal"
)

// ExtensionBase is the base URL of the extensions fhirsync defines. Every
// fhirsync extension URL is ExtensionBase followed by its name.
const ExtensionBase = "https://fhirsync.github.io/fhir/StructureDefinition/"

// ExtCASGroupCode is the URL of the extension that keeps an X12 claim
// adjustment group code (CAS01: CO, OA, PI, PR) on an
// ExplanationOfBenefit adjudication entry built from a CAS triplet
// (MAPPING.md §4.5, decision D4). C4BB has no element for it, and the
// group says who bears an amount (PR: the member; CO: the provider's
// contractual write-off; OA, PI: other, payer-initiated). Its value is a
// valueCoding in [terminology.SystemCASGroup] (the code system CMS Blue
// Button defines for the group codes), for example
//
//	{"url": "https://fhirsync.github.io/fhir/StructureDefinition/adjudication-cas-group",
//	 "valueCoding": {"system": "https://bluebutton.cms.gov/fhir/CodeSystem/ANSI-GRP-CODE", "code": "CO"}}
//
// Context: ExplanationOfBenefit.adjudication, ExplanationOfBenefit.item.adjudication
// (and detail/subDetail adjudication). Cardinality 0..1 per adjudication entry.
const ExtCASGroupCode = ExtensionBase + "adjudication-cas-group"

// C4BB code systems of adjudication categories, discriminators and payer
// adjudication statuses (MAPPING.md §5.3).
const (
	// SystemC4BBAdjudication holds the C4BB amount categories that the HL7
	// adjudication code system lacks (coinsurance, noncovered,
	// memberliability, paidtoprovider...).
	SystemC4BBAdjudication = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
	// SystemC4BBAdjudicationDiscriminator holds the categories of the
	// non-amount adjudication slices (adjustmentreason, allowedunits,
	// benefitpaymentstatus, billingnetworkstatus, renderingnetworkstatus,
	// rejectreason).
	SystemC4BBAdjudicationDiscriminator = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudicationDiscriminator"
	// SystemC4BBPayerAdjudicationStatus holds network statuses (innetwork,
	// outofnetwork, other) and payment statuses (paid, denied,
	// partiallypaid).
	SystemC4BBPayerAdjudicationStatus = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBPayerAdjudicationStatus"
)

// c4bbAmountCategories is the C4BB 2.1.0 C4BBAdjudication value set: the
// categories an amount-bearing adjudication or total may use.
var c4bbAmountCategories = map[terminology.Coding]bool{
	{System: terminology.SystemAdjudication, Code: "submitted"}:  true,
	{System: terminology.SystemAdjudication, Code: "copay"}:      true,
	{System: terminology.SystemAdjudication, Code: "eligible"}:   true,
	{System: terminology.SystemAdjudication, Code: "deductible"}: true,
	{System: terminology.SystemAdjudication, Code: "benefit"}:    true,
	{System: SystemC4BBAdjudication, Code: "coinsurance"}:        true,
	{System: SystemC4BBAdjudication, Code: "noncovered"}:         true,
	{System: SystemC4BBAdjudication, Code: "priorpayerpaid"}:     true,
	{System: SystemC4BBAdjudication, Code: "paidbypatient"}:      true,
	{System: SystemC4BBAdjudication, Code: "paidbypatientcash"}:  true,
	{System: SystemC4BBAdjudication, Code: "paidbypatientother"}: true,
	{System: SystemC4BBAdjudication, Code: "paidtopatient"}:      true,
	{System: SystemC4BBAdjudication, Code: "paidtoprovider"}:     true,
	{System: SystemC4BBAdjudication, Code: "memberliability"}:    true,
	{System: SystemC4BBAdjudication, Code: "discount"}:           true,
	{System: SystemC4BBAdjudication, Code: "drugcost"}:           true,
}

// IsAmountCategory reports whether c is in the C4BB 2.1.0 C4BBAdjudication
// value set, the categories of amount-bearing adjudication entries and
// totals (system and code must both match).
func IsAmountCategory(c terminology.Coding) bool {
	return c4bbAmountCategories[terminology.Coding{System: c.System, Code: c.Code}]
}

// Amount categories used by the 835 mapping.
var (
	catSubmitted       = terminology.Coding{System: terminology.SystemAdjudication, Code: "submitted"}
	catEligible        = terminology.Coding{System: terminology.SystemAdjudication, Code: "eligible"}
	catBenefit         = terminology.Coding{System: terminology.SystemAdjudication, Code: "benefit"}
	catDeductible      = terminology.Coding{System: terminology.SystemAdjudication, Code: "deductible"}
	catCopay           = terminology.Coding{System: terminology.SystemAdjudication, Code: "copay"}
	catCoinsurance     = terminology.Coding{System: SystemC4BBAdjudication, Code: "coinsurance"}
	catNoncovered      = terminology.Coding{System: SystemC4BBAdjudication, Code: "noncovered"}
	catPriorPayerPaid  = terminology.Coding{System: SystemC4BBAdjudication, Code: "priorpayerpaid"}
	catPaidByPatient   = terminology.Coding{System: SystemC4BBAdjudication, Code: "paidbypatient"}
	catPaidToProvider  = terminology.Coding{System: SystemC4BBAdjudication, Code: "paidtoprovider"}
	catMemberLiability = terminology.Coding{System: SystemC4BBAdjudication, Code: "memberliability"}
	catDiscount        = terminology.Coding{System: SystemC4BBAdjudication, Code: "discount"}
)

// CASRule maps a CAS group code and claim adjustment reason code (CARC) to
// the C4BB amount category of the adjudication entry built from it
// (MAPPING.md §4.5).
type CASRule struct {
	// Group is the CAS01 claim adjustment group code: "CO", "OA", "PI" or
	// "PR" (required).
	Group string
	// Reason is the CARC the rule is for; "" makes the rule the group's
	// default, used for every reason of the group without a rule of its own.
	Reason string
	// Category is the adjudication category, from the C4BBAdjudication value
	// set (see IsAmountCategory).
	Category terminology.Coding
	// MemberLiability says the amount is owed by the member: it counts
	// toward the memberliability amount of the line and of the claim. The
	// default table sets it for every PR rule.
	MemberLiability bool
}

// DefaultCASRules returns the rules of MAPPING.md §4.5, the crosswalk that
// neither X12 nor C4BB defines:
//
//	PR 1 → deductible, PR 2 → coinsurance, PR 3 → copay, other PR → noncovered
//	(all PR rules count toward memberliability);
//	CO 45 → discount, other CO → noncovered;
//	OA 23 → priorpayerpaid, other OA → noncovered;
//	PI → noncovered.
//
// Every rule's reason is carried as the CARC in adjudication.reason and the
// group in the [ExtCASGroupCode] extension, so no information is lost when
// several reasons share a category.
func DefaultCASRules() []CASRule {
	return []CASRule{
		{Group: "PR", Reason: "1", Category: catDeductible, MemberLiability: true},
		{Group: "PR", Reason: "2", Category: catCoinsurance, MemberLiability: true},
		{Group: "PR", Reason: "3", Category: catCopay, MemberLiability: true},
		{Group: "PR", Category: catNoncovered, MemberLiability: true},
		{Group: "CO", Reason: "45", Category: catDiscount},
		{Group: "CO", Category: catNoncovered},
		{Group: "OA", Reason: "23", Category: catPriorPayerPaid},
		{Group: "OA", Category: catNoncovered},
		{Group: "PI", Category: catNoncovered},
	}
}

// AdjudicationTable is a configurable CAS group/reason → C4BB adjudication
// category table. Payers whose contracts give a reason another meaning
// override single rules with [AdjudicationTable.With]. The zero value is not
// usable: build one with [NewAdjudicationTable] or use
// [DefaultAdjudicationTable]. A table is immutable and safe for concurrent
// use.
type AdjudicationTable struct {
	rules []CASRule
	idx   map[[2]string]int // (group, reason) → index in rules; reason "" = group default
}

// NewAdjudicationTable builds a table from rules. Group codes and reasons
// are compared upper-cased and trimmed. It fails when a rule has no group, a
// category outside the C4BBAdjudication value set, or when two rules have
// the same group and reason. A group without a default rule (Reason "")
// leaves the reasons it does not list unmapped: mapping an 835 that uses one
// then fails with [ErrInvalidCode].
func NewAdjudicationTable(rules []CASRule) (*AdjudicationTable, error) {
	t := &AdjudicationTable{idx: make(map[[2]string]int, len(rules))}
	for i, r := range rules {
		r.Group = strings.ToUpper(strings.TrimSpace(r.Group))
		r.Reason = strings.ToUpper(strings.TrimSpace(r.Reason))
		if r.Group == "" {
			return nil, fmt.Errorf("fhirmap: CAS rule %d: %w: no group code", i, ErrMissing)
		}
		if !IsAmountCategory(r.Category) {
			return nil, fmt.Errorf("fhirmap: CAS rule %d (%s %s): %w: category %s#%s is not in the C4BBAdjudication value set", i, r.Group, r.Reason, ErrInvalidCode, r.Category.System, r.Category.Code)
		}
		k := [2]string{r.Group, r.Reason}
		if _, dup := t.idx[k]; dup {
			return nil, fmt.Errorf("fhirmap: CAS rule %d (%s %s): %w: duplicate group and reason", i, r.Group, r.Reason, ErrInconsistent)
		}
		t.idx[k] = len(t.rules)
		t.rules = append(t.rules, CASRule{Group: r.Group, Reason: r.Reason, Category: terminology.Coding{System: r.Category.System, Code: r.Category.Code}, MemberLiability: r.MemberLiability})
	}
	return t, nil
}

var defaultTable = sync.OnceValue(func() *AdjudicationTable {
	t, err := NewAdjudicationTable(DefaultCASRules())
	if err != nil {
		panic(err) // the default rules are constants
	}
	return t
})

// DefaultAdjudicationTable returns the table of [DefaultCASRules].
func DefaultAdjudicationTable() *AdjudicationTable { return defaultTable() }

// With returns a new table: t's rules, with each of overrides replacing the
// rule of the same group and reason, or added when t has none.
func (t *AdjudicationTable) With(overrides ...CASRule) (*AdjudicationTable, error) {
	rules := append([]CASRule(nil), t.rules...)
	for _, o := range overrides {
		g, r := strings.ToUpper(strings.TrimSpace(o.Group)), strings.ToUpper(strings.TrimSpace(o.Reason))
		if i, ok := t.idx[[2]string{g, r}]; ok {
			rules[i] = o
			continue
		}
		rules = append(rules, o)
	}
	return NewAdjudicationTable(rules)
}

// Rules returns a copy of the table's rules in order.
func (t *AdjudicationTable) Rules() []CASRule { return append([]CASRule(nil), t.rules...) }

// Lookup returns the rule for a CAS group code and reason: the rule for the
// exact pair, else the group's default rule. ok is false when neither
// exists.
func (t *AdjudicationTable) Lookup(group, reason string) (rule CASRule, ok bool) {
	g, r := normCASCode(group), normCASCode(reason)
	if i, ok := t.idx[[2]string{g, r}]; ok {
		return t.rules[i], true
	}
	if i, ok := t.idx[[2]string{g, ""}]; ok {
		return t.rules[i], true
	}
	return CASRule{}, false
}

// normCASCode trims and upper-cases a group or reason code without
// allocating in the common (already clean) case.
func normCASCode(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ' ' || c >= 'a' && c <= 'z' {
			return strings.ToUpper(strings.TrimSpace(s))
		}
	}
	return s
}

// Adjudicated is one CAS triplet classified by an [AdjudicationTable].
type Adjudicated struct {
	Group    string          // CAS01
	Reason   string          // CARC
	Amount   decimal.Decimal // positive reduces the payment
	Quantity string          // CAS quantity, "" when absent
	Rule     CASRule         // the rule that classified it
}

// classify classifies adjustments with t; the position and path locate
// errors.
func (t *AdjudicationTable) classify(adjs []x12.Adjustment, pos Position, path string) ([]Adjudicated, error) {
	if len(adjs) == 0 {
		return nil, nil
	}
	out := make([]Adjudicated, 0, len(adjs))
	for _, a := range adjs {
		rule, ok := t.Lookup(a.Group, a.Reason)
		if !ok {
			return nil, NewError(ErrInvalidCode, withElement(pos, "CAS", 1), path, "CAS group and reason have no rule in the adjudication table").WithValue(a.Group + " " + a.Reason)
		}
		amt, err := a.Amount.Decimal()
		if err != nil {
			return nil, NewError(ErrInvalidValue, withElement(pos, "CAS", 3), path, "CAS amount is not a decimal number").WithValue(string(a.Amount)).WithCause(err)
		}
		out = append(out, Adjudicated{Group: normCASCode(a.Group), Reason: normCASCode(a.Reason), Amount: amt, Quantity: a.Quantity, Rule: rule})
	}
	return out, nil
}

// recordPos returns the position of a decoded record (zero for a record
// that was not built by the x12 Decoder).
func recordPos(r x12.Record) Position {
	if r == nil || r.Loop() == nil {
		return Position{}
	}
	return PositionOf(r.Pos(), 0)
}

// withElement returns pos pointing at element el of a segment with the
// given id (the loop's position when the segment's own is unknown).
func withElement(pos Position, seg string, el int) Position {
	pos.SegmentID, pos.Element, pos.Component = seg, el, 0
	return pos
}

// dominantDenial returns the index in adjs of the adjustment whose CARC goes
// into a single-valued adjustmentreason slice (MAPPING.md §4.5): the one
// with the largest amount not owed by the member (non-PR), the first on a
// tie; -1 when every adjustment is the member's.
func dominantDenial(adjs []Adjudicated) int {
	best := -1
	for i, a := range adjs {
		if a.Group == "PR" {
			continue
		}
		if best < 0 || a.Amount.Abs().GreaterThan(adjs[best].Amount.Abs()) {
			best = i
		}
	}
	return best
}

// Disposition is how an 835 claim payment is presented on its
// ExplanationOfBenefit (MAPPING.md §4.6).
type Disposition struct {
	// Status is EOB.status: "active", or "cancelled" for a reversal
	// (CLP02 = 22), which voids the adjudication it reverses.
	Status string
	// Outcome is EOB.outcome: "complete", or "error" for a claim the payer
	// says is not its own (CLP02 = 23).
	Outcome string
	// PaymentType is the C4BBPayerAdjudicationStatus code of
	// EOB.payment.type: "paid", "denied" or "partiallypaid"; "" when there
	// is none (predetermination pricing, CLP02 = 25).
	PaymentType string
	// Reversal is true for CLP02 = 22.
	Reversal bool
	// NotOurClaim is true for CLP02 = 23: the payer forwarded the claim and
	// did not adjudicate it; consumers usually should not see it.
	NotOurClaim bool
	// Predetermination is true for CLP02 = 25 (pricing only, no payment):
	// not a C4BB claim EOB (its use would be predetermination).
	Predetermination bool
}

// ClaimDisposition derives status, outcome and payment type from CLP02 and
// the amounts of a claim payment (MAPPING.md §4.6):
//
//   - 1, 2, 3, 19, 20, 21 (processed as primary/secondary/tertiary, and
//     forwarded): outcome complete; payment type paid when CLP04 > 0 and no
//     line is denied; partiallypaid when CLP04 > 0 but a line with a charge
//     was denied (paid nothing, with nothing of it owed by the member or
//     paid by a prior payer), or adjustments other than contractual (CO),
//     member (PR), payer-initiated (PI) and prior-payer (OA 23) ones reduced
//     the payment; when CLP04 = 0: paid if the member owes the rest (CLP05 >
//     0) or a prior payer paid it (OA 23), else denied;
//   - 4 (denied): complete, denied;
//   - 22 (reversal): status cancelled, complete, payment type from the
//     amounts as above with their signs flipped;
//   - 23 (not our claim): outcome error, denied;
//   - 25 (predetermination pricing only): complete, no payment type.
//
// Claim- and line-level adjustments are classified with t (nil means the
// default table).
func ClaimDisposition(p *x12.ClaimPayment835, t *AdjudicationTable) (Disposition, error) {
	if t == nil {
		t = DefaultAdjudicationTable()
	}
	pos := recordPos(p)
	d := Disposition{Status: "active", Outcome: "complete"}
	switch strings.TrimSpace(p.Status) {
	case "1", "2", "3", "19", "20", "21":
	case "4":
		d.PaymentType = "denied"
		return d, nil
	case "22":
		d.Status, d.Reversal = "cancelled", true
	case "23":
		d.Outcome, d.PaymentType, d.NotOurClaim = "error", "denied", true
		return d, nil
	case "25":
		d.Predetermination = true
		return d, nil
	default:
		return d, NewError(ErrInvalidCode, withElement(pos, "CLP", 2), "ExplanationOfBenefit.outcome", "CLP02 is not a claim status code").WithValue(p.Status)
	}
	paid, err := p.Payment.Decimal()
	if err != nil {
		return d, NewError(ErrInvalidValue, withElement(pos, "CLP", 4), "ExplanationOfBenefit.payment.amount", "CLP04 is not a decimal number").WithValue(string(p.Payment)).WithCause(err)
	}
	sign := decimal.NewFromInt(1)
	if d.Reversal {
		sign = sign.Neg()
	}
	paid = paid.Mul(sign)
	member := decimal.Zero
	if p.PatientResponsibility != "" {
		if member, err = p.PatientResponsibility.Decimal(); err != nil {
			return d, NewError(ErrInvalidValue, withElement(pos, "CLP", 5), "ExplanationOfBenefit.total", "CLP05 is not a decimal number").WithValue(string(p.PatientResponsibility)).WithCause(err)
		}
		member = member.Mul(sign)
	}
	priorPaid, otherReduced := false, false
	// note classifies adjustments and reports whether they hold a positive
	// amount the member owes or a prior payer paid.
	note := func(adjs []x12.Adjustment, pos Position, path string) (owedOrPrior bool, err error) {
		cl, err := t.classify(adjs, pos, path)
		if err != nil {
			return false, err
		}
		for _, a := range cl {
			amt := a.Amount.Mul(sign)
			switch {
			case a.Rule.Category == catPriorPayerPaid:
				if amt.IsPositive() {
					priorPaid, owedOrPrior = true, true
				}
			case a.Group == "OA" && amt.IsPositive():
				otherReduced = true
			}
			if a.Rule.MemberLiability && amt.IsPositive() {
				owedOrPrior = true
			}
		}
		return owedOrPrior, nil
	}
	if _, err := note(p.Adjustments, pos, "ExplanationOfBenefit.adjudication"); err != nil {
		return d, err
	}
	unpaidLine := false
	for i := range p.Services {
		s := &p.Services[i]
		spos := pos
		if s.Loop != nil {
			spos = PositionOf(s.Loop.Lead().Pos(), 0)
		}
		owedOrPrior, err := note(s.Adjustments, spos, fmt.Sprintf("ExplanationOfBenefit.item[%d].adjudication", i))
		if err != nil {
			return d, err
		}
		// A line paid nothing is denied unless the member owes it (applied
		// to the deductible...) or a prior payer paid it: the same rule as
		// for the claim below, and C4BB's partiallypaid ("some line items
		// on the claim were denied").
		charge, err1 := s.Charge.Decimal()
		linePaid, err2 := s.Payment.Decimal()
		if err1 == nil && err2 == nil && !charge.IsZero() && linePaid.IsZero() && !owedOrPrior {
			unpaidLine = true
		}
	}
	switch {
	case paid.IsPositive() && (unpaidLine || otherReduced):
		d.PaymentType = "partiallypaid"
	case paid.IsPositive():
		d.PaymentType = "paid"
	case member.IsPositive() || priorPaid:
		d.PaymentType = "paid"
	default:
		d.PaymentType = "denied"
	}
	return d, nil
}

// CategoryAmount is an amount with its C4BB adjudication category.
type CategoryAmount struct {
	Category terminology.Coding
	Amount   decimal.Decimal
}

// LineAmounts are the adjudicated amounts of one 835 service payment (loop
// 2110), as the item adjudication of an ExplanationOfBenefit shows them
// (MAPPING.md §4.4, §4.5).
type LineAmounts struct {
	Submitted decimal.Decimal // SVC02
	// Eligible is the allowed amount: AMT*B6 when sent (EligibleFromB6),
	// else SVC02 minus the line's CO and PI adjustments.
	Eligible       decimal.Decimal
	EligibleFromB6 bool
	Paid           decimal.Decimal // SVC03
	// MemberLiability is the sum of the adjustments whose rule is the
	// member's (PR by default).
	MemberLiability decimal.Decimal
	Adjustments     []Adjudicated // the line's CAS triplets in order
	UnitsPaid       string        // SVC05, "" when absent
	Remarks         []string      // LQ*HE remittance advice remark codes (RARC)
	// Balanced reports SVC02 − Σ CAS = SVC03.
	Balanced bool
}

// ClaimAmounts are the adjudicated amounts of an 835 claim payment.
type ClaimAmounts struct {
	Lines       []LineAmounts // one per SVC, in order
	Adjustments []Adjudicated // claim-level CAS (loop 2100)
	Remarks     []string      // claim-level remark codes: MIA05, MIA20–MIA24 and MOA03–MOA07 (RARC)
	// Totals are the EOB.total entries: submitted (CLP03), eligible,
	// the sums of every CAS category over the claim and its lines (discount
	// replaced by AMT*D8 when sent), paidbypatient (AMT*F5),
	// memberliability (CLP05) and paidtoprovider (CLP04), in a stable order.
	Totals []CategoryAmount
	// Balanced reports CLP03 − Σ(claim CAS + line CAS) = CLP04 (and every
	// line balanced). An unbalanced 835 is mapped as sent.
	Balanced bool
}

// Adjudicate computes the amounts of a claim payment with table t (nil
// means the default table). It fails with an [*Error] on an amount that is
// not a decimal number or a CAS group and reason the table cannot classify.
func Adjudicate(p *x12.ClaimPayment835, t *AdjudicationTable) (*ClaimAmounts, error) {
	if t == nil {
		t = DefaultAdjudicationTable()
	}
	pos := recordPos(p)
	dec := func(a x12.Amount, seg string, el int, path, what string) (decimal.Decimal, error) {
		v, err := a.Decimal()
		if err != nil {
			return v, NewError(ErrInvalidValue, withElement(pos, seg, el), path, what+" is not a decimal number").WithValue(string(a)).WithCause(err)
		}
		return v, nil
	}
	ca := &ClaimAmounts{Balanced: true}
	charge, err := dec(p.TotalCharge, "CLP", 3, "ExplanationOfBenefit.total", "CLP03")
	if err != nil {
		return nil, err
	}
	paid, err := dec(p.Payment, "CLP", 4, "ExplanationOfBenefit.payment.amount", "CLP04")
	if err != nil {
		return nil, err
	}
	member := decimal.Zero
	if p.PatientResponsibility != "" {
		if member, err = dec(p.PatientResponsibility, "CLP", 5, "ExplanationOfBenefit.total", "CLP05"); err != nil {
			return nil, err
		}
	}
	if ca.Adjustments, err = t.classify(p.Adjustments, pos, "ExplanationOfBenefit.adjudication"); err != nil {
		return nil, err
	}
	byCat := map[terminology.Coding]decimal.Decimal{}
	casSum := decimal.Zero
	reducesEligible := decimal.Zero // claim-level CO and PI
	for _, a := range ca.Adjustments {
		byCat[a.Rule.Category] = byCat[a.Rule.Category].Add(a.Amount)
		casSum = casSum.Add(a.Amount)
		if a.Group == "CO" || a.Group == "PI" {
			reducesEligible = reducesEligible.Add(a.Amount)
		}
	}
	eligible := decimal.Zero
	ca.Lines = make([]LineAmounts, len(p.Services))
	for i := range p.Services {
		s := &p.Services[i]
		spos := pos
		if s.Loop != nil {
			spos = PositionOf(s.Loop.Lead().Pos(), 0)
		}
		path := fmt.Sprintf("ExplanationOfBenefit.item[%d].adjudication", i)
		ldec := func(a x12.Amount, seg string, el int, what string) (decimal.Decimal, error) {
			v, err := a.Decimal()
			if err != nil {
				return v, NewError(ErrInvalidValue, withElement(spos, seg, el), path, what+" is not a decimal number").WithValue(string(a)).WithCause(err)
			}
			return v, nil
		}
		l := &ca.Lines[i]
		if l.Submitted, err = ldec(s.Charge, "SVC", 2, "SVC02"); err != nil {
			return nil, err
		}
		if l.Paid, err = ldec(s.Payment, "SVC", 3, "SVC03"); err != nil {
			return nil, err
		}
		if l.Adjustments, err = t.classify(s.Adjustments, spos, path); err != nil {
			return nil, err
		}
		l.UnitsPaid = strings.TrimSpace(s.UnitsPaid)
		lineCAS, lineReduces := decimal.Zero, decimal.Zero
		l.MemberLiability = decimal.Zero
		for _, a := range l.Adjustments {
			byCat[a.Rule.Category] = byCat[a.Rule.Category].Add(a.Amount)
			lineCAS = lineCAS.Add(a.Amount)
			if a.Rule.MemberLiability {
				l.MemberLiability = l.MemberLiability.Add(a.Amount)
			}
			if a.Group == "CO" || a.Group == "PI" {
				lineReduces = lineReduces.Add(a.Amount)
			}
		}
		if b6, ok := s.Amounts.Get("B6"); ok && b6 != "" {
			if l.Eligible, err = ldec(b6, "AMT", 2, "AMT*B6"); err != nil {
				return nil, err
			}
			l.EligibleFromB6 = true
		} else {
			l.Eligible = l.Submitted.Sub(lineReduces)
		}
		for _, r := range s.Remarks {
			if strings.TrimSpace(r.Qualifier) == "HE" && strings.TrimSpace(r.Code) != "" {
				l.Remarks = append(l.Remarks, strings.TrimSpace(r.Code))
			}
		}
		l.Balanced = l.Submitted.Sub(lineCAS).Equal(l.Paid)
		if !l.Balanced {
			ca.Balanced = false
		}
		casSum = casSum.Add(lineCAS)
		eligible = eligible.Add(l.Eligible)
	}
	if len(p.Services) > 0 {
		eligible = eligible.Sub(reducesEligible)
	} else if au, ok := p.Amounts.Get("AU"); ok && au != "" {
		if eligible, err = dec(au, "AMT", 2, "ExplanationOfBenefit.total", "AMT*AU"); err != nil {
			return nil, err
		}
	} else {
		eligible = charge.Sub(reducesEligible)
	}
	if !charge.Sub(casSum).Equal(paid) {
		ca.Balanced = false
	}
	if d8, ok := p.Amounts.Get("D8"); ok && d8 != "" {
		if byCat[catDiscount], err = dec(d8, "AMT", 2, "ExplanationOfBenefit.total", "AMT*D8"); err != nil {
			return nil, err
		}
	}
	if f5, ok := p.Amounts.Get("F5"); ok && f5 != "" {
		if byCat[catPaidByPatient], err = dec(f5, "AMT", 2, "ExplanationOfBenefit.total", "AMT*F5"); err != nil {
			return nil, err
		}
	}
	byCat[catSubmitted] = charge
	byCat[catEligible] = eligible
	byCat[catMemberLiability] = member
	byCat[catPaidToProvider] = paid
	for c, v := range byCat {
		ca.Totals = append(ca.Totals, CategoryAmount{Category: c, Amount: v})
	}
	sortAmounts(ca.Totals)
	ca.Remarks = claimRemarks(p)
	return ca, nil
}

// negate flips the sign of every amount: the amounts of a reversal (CLP02
// 22) become those of the payment it reverses.
func (ca *ClaimAmounts) negate() {
	neg := func(adjs []Adjudicated) {
		for i := range adjs {
			adjs[i].Amount = adjs[i].Amount.Neg()
		}
	}
	for i := range ca.Lines {
		l := &ca.Lines[i]
		l.Submitted, l.Eligible, l.Paid, l.MemberLiability = l.Submitted.Neg(), l.Eligible.Neg(), l.Paid.Neg(), l.MemberLiability.Neg()
		neg(l.Adjustments)
	}
	neg(ca.Adjustments)
	for i := range ca.Totals {
		ca.Totals[i].Amount = ca.Totals[i].Amount.Neg()
	}
}

// claimRemarks returns the claim-level RARCs of MIA and MOA, in element
// order, without duplicates.
func claimRemarks(p *x12.ClaimPayment835) []string {
	var out []string
	add := func(c string) {
		c = strings.TrimSpace(c)
		if c == "" {
			return
		}
		for _, o := range out {
			if o == c {
				return
			}
		}
		out = append(out, c)
	}
	if m := p.Inpatient; m != nil {
		for _, r := range m.Remarks {
			add(r)
		}
	}
	if m := p.Outpatient; m != nil {
		for _, r := range m.Remarks {
			add(r)
		}
	}
	return out
}

// totalOrder is the order of EOB.total entries.
var totalOrder = []terminology.Coding{
	catSubmitted, catEligible, catDiscount, catNoncovered, catDeductible, catCoinsurance, catCopay,
	catPriorPayerPaid, catPaidByPatient, catMemberLiability, catPaidToProvider,
}

// sortAmounts orders amounts by totalOrder, other categories after them by
// system and code.
func sortAmounts(a []CategoryAmount) {
	rank := func(c terminology.Coding) int {
		for i, o := range totalOrder {
			if o == c {
				return i
			}
		}
		return len(totalOrder)
	}
	sort.SliceStable(a, func(i, j int) bool {
		ri, rj := rank(a[i].Category), rank(a[j].Category)
		if ri != rj {
			return ri < rj
		}
		if a[i].Category.System != a[j].Category.System {
			return a[i].Category.System < a[j].Category.System
		}
		return a[i].Category.Code < a[j].Category.Code
	})
}
