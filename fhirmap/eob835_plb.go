package fhirmap

// 835 provider-level adjustments (PLB) → PaymentReconciliation.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/payment_reconciliation_go_proto"

	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

func init() {
	recordMappers[x12.Kind835ProviderAdjustment] = func(m *Mapper, ctx context.Context, rec x12.Record) (*Result, error) {
		return m.MapProviderAdjustment835(ctx, rec.(*x12.ProviderAdjustment835))
	}
}

// systemPaymentType is HL7's payment type code system (payment, adjustment,
// advance), the example binding of PaymentReconciliation.detail.type.
const systemPaymentType = "http://terminology.hl7.org/CodeSystem/payment-type"

// MapProviderAdjustment835 maps the provider-level adjustments of an 835
// transaction (its PLB segments) to a base R4 PaymentReconciliation, with
// the payer and payee Organizations it refers to first.
//
// A PLB is not about one claim: it adjusts the whole payment to the provider
// (interest, overpayment recovery, a balance forwarded from an earlier
// remittance...), so it has no place on an ExplanationOfBenefit, and C4BB
// profiles nothing for it. PaymentReconciliation is the FHIR resource for a
// payment and its adjustments:
//
//   - identifier and paymentIdentifier: the TRN02 check or EFT trace number
//     (system Options.Systems.PaymentTrace of TRN03); the id is derived from
//     the payer, TRN03 and TRN02, so it is one resource per payment;
//   - status active, outcome complete, created from DTM*405 (else BPR16),
//     paymentDate BPR16, paymentAmount BPR02 (the whole payment, after the
//     adjustments; every Money in the CUR02 currency, US dollars without
//     one), paymentIssuer the payer, requestor the payee;
//   - one detail per adjustment: type payment-type#adjustment plus the PLB
//     reason code (X12 data element 426, PLB03-1), identifier the PLB03-2
//     reference (often the payer claim control number the adjustment
//     concerns), date PLB02 (fiscal period), payee the payee Organization,
//     amount PLB04 with its sign flipped (a positive PLB amount reduces the
//     payment; detail.amount says what the provider receives).
//
// The claim payments of the same 835 are linked to the payment through
// their EOBs' payment.identifier (the same TRN02).
func (m *Mapper) MapProviderAdjustment835(ctx context.Context, a *x12.ProviderAdjustment835) (*Result, error) {
	if a == nil || a.Header == nil {
		return nil, NewError(ErrMissing, Position{}, "PaymentReconciliation", "provider adjustment without its header (BPR, TRN, payer, payee)")
	}
	b := &eob835{m: m, ctx: ctx, rec: a, h: a.Header, pos: recordPos(a), res: &Result{}, seen: map[string]bool{}}
	if a.Loop() != nil {
		b.lineage = m.Lineage(a)
	}
	b.psRes = &Result{}
	b.ps = newPartySet(m, b.lineage, b.psRes)
	h := a.Header
	if err := b.currency(); err != nil {
		return nil, err
	}
	if err := b.payer(); err != nil {
		return nil, err
	}
	b.payee()
	payeeID, err := b.payeeOrganization()
	if err != nil {
		return nil, err
	}
	trace := strings.TrimSpace(h.Trace.Number)
	if trace == "" {
		return nil, NewError(ErrMissing, b.pos, "PaymentReconciliation.paymentIdentifier", "no TRN02 trace number to identify the payment by")
	}
	orig := strings.TrimSpace(h.Trace.OriginatorID)
	id := m.ids.ID("PaymentReconciliation", b.payerID, orig, trace)
	traceID := identifier(nil, m.PaymentTraceSystem(orig), trace)
	pr := &prpb.PaymentReconciliation{
		Id:                &dtpb.Id{Value: id},
		Meta:              m.meta(b.lineage),
		Identifier:        []*dtpb.Identifier{traceID},
		Status:            &prpb.PaymentReconciliation_StatusCode{Value: cpb.FinancialResourceStatusCode_ACTIVE},
		PaymentIssuer:     reference("Organization", b.payerOrgID),
		Requestor:         reference("Organization", payeeID),
		Outcome:           &prpb.PaymentReconciliation_OutcomeCode{Value: cpb.ClaimProcessingCode_COMPLETE},
		PaymentIdentifier: proto.Clone(traceID).(*dtpb.Identifier),
	}
	created, err := b.productionDate()
	if err != nil {
		return nil, err
	}
	pr.Created = fdateTimeDay(created)
	pd, err := parseDateField(h.PaymentDate, b.pos, "BPR", 16, "PaymentReconciliation.paymentDate")
	if err != nil {
		return nil, err
	}
	if pd.IsZero() {
		return nil, b.errAt(ErrMissing, "BPR", 16, "PaymentReconciliation.paymentDate", "BPR16 payment date missing")
	}
	pr.PaymentDate = fdate(pd)
	amt, ok := money(h.TotalPayment, b.cur)
	if !ok || amt == nil {
		return nil, b.errAt(ErrInvalidValue, "BPR", 2, "PaymentReconciliation.paymentAmount", "BPR02 is not a decimal amount")
	}
	pr.PaymentAmount = amt
	for i, adj := range a.Adjustments {
		path := "PaymentReconciliation.detail[" + strconv.Itoa(i) + "]"
		d := &prpb.PaymentReconciliation_Details{
			Type:  concepts(coding(systemPaymentType, "adjustment"), coding(terminology.X12CodeSystem("426"), strings.TrimSpace(adj.Reason))),
			Payee: reference("Organization", payeeID),
		}
		if ref := strings.TrimSpace(adj.Reference); ref != "" {
			d.Identifier = &dtpb.Identifier{Value: fstr(ref)}
		}
		if fd, err := parseDateField(adj.FiscalPeriodDate, b.pos, "PLB", 2, path+".date"); err != nil {
			return nil, err
		} else if !fd.IsZero() {
			d.Date = fdate(fd)
		}
		v, err := adj.Amount.Decimal()
		if err != nil {
			return nil, b.errAt(ErrInvalidValue, "PLB", 4, path+".amount", "PLB adjustment amount is not a decimal number").WithValue(string(adj.Amount)).WithCause(err)
		}
		d.Amount = moneyIn(v.Neg().String(), b.cur)
		pr.Detail = append(pr.Detail, d)
	}
	if err := b.dropKnown(); err != nil {
		return nil, err
	}
	b.finish()
	b.res.Resources = append(b.res.Resources, pr)
	return b.res, nil
}

// dropKnown drops the parties that the ClaimLookup (when it implements
// ReferenceProfiles) already knows: the 837 side wrote them.
func (b *eob835) dropKnown() error {
	rp, ok := b.m.opts.Claims.(ReferenceProfiles)
	if !ok || len(b.parties) == 0 {
		return nil
	}
	keys := make([]string, 0, len(b.parties))
	for _, r := range b.parties {
		keys = append(keys, refKeyOf(r))
	}
	profs, err := rp.DeclaredProfiles(b.ctx, keys)
	if err != nil {
		return fmt.Errorf("fhirmap: PaymentReconciliation: profiles of the resources it refers to at %s: %w", b.pos, err)
	}
	parties := b.parties[:0]
	for _, r := range b.parties {
		if _, known := profs[refKeyOf(r)]; !known {
			parties = append(parties, r)
		}
	}
	b.parties = parties
	return nil
}

// parseDateField parses an optional CCYYMMDD element (zero time when empty).
func parseDateField(v string, pos Position, seg string, el int, path string) (t0 time.Time, err error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return t0, nil
	}
	t, err := x12.ParseDate(v)
	if err != nil {
		return t0, NewError(ErrInvalidValue, withElement(pos, seg, el), path, seg+" date is not a CCYYMMDD date").WithCause(err)
	}
	return t, nil
}
