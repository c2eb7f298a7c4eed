package fhirmap

// 835 claim payment (+ the matching 837 claim) → C4BB ExplanationOfBenefit
// (MAPPING.md §3.5, §4.4–§4.6, §5).

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	clpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
	eobpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/explanation_of_benefit_go_proto"

	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

func init() {
	recordMappers[x12.Kind835ClaimPayment] = func(m *Mapper, ctx context.Context, rec x12.Record) (*Result, error) {
		return m.MapPayment835(ctx, rec.(*x12.ClaimPayment835))
	}
}

// ExtSubmittedProductOrService is the URL of the extension that keeps, on an
// ExplanationOfBenefit item, the procedure as the provider submitted it (835
// SVC06) when the payer adjudicated another one (SVC01, which becomes
// item.productOrService: MAPPING.md decision D6). Its value is a
// valueCodeableConcept. Context: ExplanationOfBenefit.item. Cardinality 0..1.
const ExtSubmittedProductOrService = ExtensionBase + "submitted-product-or-service"

// C4BB code systems of the ExplanationOfBenefit vocabularies the 835 side
// uses beyond the claim's.
const (
	systemC4BBRelatedClaim = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBRelatedClaimRelationshipCodes"
)

// MapPayment835 maps one 835 claim payment (loop 2100 with its service
// payments) to a CARIN Blue Button ExplanationOfBenefit and the resources it
// refers to that the 837 side has not already produced.
//
// # The join
//
// When Options.Claims is set, the claim the payment pays is looked up by the
// patient control number (CLP01 = CLM01) in the identifier system of the
// payee (1000B N1*PE: its NPI, else its tax id, also REF*TJ), and by date
// overlap (DTM*232/233, else the service dates); see [ClaimLookup]. The EOB
// then takes what only the claim knows: its type (and institutional
// subtype), patient, coverages (insurance), provider, care team, diagnoses,
// procedures, supporting information (admission, type of bill, point of
// origin, service facility, transportation, dental data...) and, through
// [MatchLines], each line's sequence, dates, place of service, diagnosis and
// care team pointers. The patient, coverages and providers of a matched
// claim are not emitted again (the 837 side wrote them, with more data than
// an 835 has): the result holds the EOB and, when they differ from the
// claim's, the 835's payer and payee Organizations.
//
// Without a match (or without Options.Claims), the EOB is built from the 835
// alone and the result also holds the payer Organization (1000A), the payee
// Organization (1000B), the rendering Practitioner (2100 NM1*82), the Patient
// (NM1*QC, its member id when NM108 is MI, HN, II or MR; gender "unknown" as
// US Core allows) and the Coverage (subscriber id from NM1*IL, else NM1*QC;
// group from REF*1L).
//
// # Claim type
//
// The type comes from the matched claim. Otherwise (MAPPING.md §4.4): a
// service line coded AD (CDT) makes it oral; a revenue code (SVC04, or SVC01
// qualified NU or HP) or an MIA segment makes it institutional, inpatient
// when the type of bill CLP08 + CLP09 is an inpatient one
// (terminology.TypeOfBill.IsInpatient) or MIA is present, else outpatient; an
// NDC line (N4) makes it pharmacy; anything else is professional (CLP08 is
// then the place of service).
//
// # Profiles and what cannot be met
//
// The EOB declares the C4BB financial profile of its type when it meets it,
// else the type's "-Basis" profile when it meets that, else no C4BB profile
// at all (a base R4 ExplanationOfBenefit): it never claims a profile it does
// not meet (MAPPING.md D8). Meeting is decided by package check, the same
// rules the golden tests run, over the EOB and the resources of the result;
// every requirement of the financial profile that the EOB misses is listed in
// Result.Unmet (an 835 without its claim has no diagnoses, no admission
// period...). The network statuses C4BB requires (benefitpaymentstatus,
// oral renderingnetworkstatus) come from Options.NetworkStatus (D7).
//
// # Amounts
//
// Every CAS triplet becomes an adjudication entry with the category of
// Options.Adjudication (MAPPING.md §4.5), its CARC as reason and its group
// code in the [ExtCASGroupCode] extension; items carry submitted (SVC02),
// eligible (AMT*B6, else derived), memberliability, paidtoprovider and benefit
// (SVC03), allowedunits (SVC05), benefitpaymentstatus and adjustmentreason
// (the dominant denial CARC where C4BB allows one; every CARC and RARC where
// it allows many; remark codes that fit nowhere go to processNote). Totals
// and payment follow §4.4; see [Adjudicate] and [ClaimDisposition] for the
// rules. Institutional EOBs carry amounts on items when the 835 has service
// lines and on the header when it has none (C4BB allows one or the other).
// Every Money is in the 835's currency (CUR02, US dollars without a CUR
// segment).
//
// # Reversals and corrections
//
// A reversal (CLP02 = 22) is an EOB of status cancelled; a claim payment
// with REF*F8 (the original payer claim control number) gets related[prior]
// naming it. When the reversal's CLP07 is the original's ICN (common
// practice), the reversal EOB has the original's id and replaces it. A
// reversal negates the original's amounts: its EOB's adjudication and
// totals show them with the original's signs (what was cancelled), while
// payment.amount is CLP04 as sent (the money taken back). The
// superseded EOB's "replacedby" link cannot be written from the correction
// alone (its content is not at hand); a payer-claim-store lookup can add it.
//
// Errors are [*Error] values with the X12 position and FHIR path; a
// ClaimLookup failure other than "no match" is returned wrapped as is (the
// answer is unknown: retry the record later).
func (m *Mapper) MapPayment835(ctx context.Context, p *x12.ClaimPayment835) (*Result, error) {
	if p == nil || p.Header == nil {
		return nil, NewError(ErrMissing, Position{}, "ExplanationOfBenefit", "claim payment without its header (BPR, TRN, payer, payee)")
	}
	b := &eob835{m: m, ctx: ctx, p: p, rec: p, h: p.Header, pos: recordPos(p), res: &Result{}, seen: map[string]bool{},
		careSeq: map[int]bool{}, diagSeq: map[int]bool{}, infoSeq: map[int]int{}}
	if p.Loop() != nil {
		b.lineage = m.Lineage(p)
	}
	b.psRes = &Result{}
	b.ps = newPartySet(m, b.lineage, b.psRes)
	b.table = m.opts.Adjudication
	if b.table == nil {
		b.table = DefaultAdjudicationTable()
	}
	if err := b.build(); err != nil {
		return nil, err
	}
	b.finish()
	b.res.Resources = append(b.res.Resources, b.eob)
	return b.res, nil
}

// finish adds the parties to the result, with their unmet requirements
// before the EOB's.
func (b *eob835) finish() {
	emitted := map[string]bool{}
	for _, r := range b.parties {
		emitted[refKeyOf(r)] = true
	}
	var unmet, warnings []Issue
	for _, pi := range b.partyUnmet {
		switch {
		case !emitted[pi.key]:
		case pi.warning:
			warnings = append(warnings, pi.issue)
		default:
			unmet = append(unmet, pi.issue)
		}
	}
	b.res.Unmet = append(unmet, b.res.Unmet...)
	b.res.Warnings = append(warnings, b.res.Warnings...)
	b.res.Resources = append(b.res.Resources, b.parties...)
}

// eob835 holds the state of mapping one 835 claim payment.
type eob835 struct {
	m          *Mapper
	ctx        context.Context
	p          *x12.ClaimPayment835
	rec        x12.Record     // the record (p, or a provider adjustment)
	h          *x12.Header835 // the 835 header (BPR, TRN, DTM, payer, payee)
	pos        Position
	lineage    string
	table      *AdjudicationTable
	res        *Result
	seen       map[string]bool
	parties    []proto.Message // referenced resources, in dependency order
	partyUnmet []partyIssue    // unmet requirements and warnings of the parties
	ps         partySet        // the shared Organization/Practitioner builders
	psRes      *Result         // where ps records its issues (moved by takeParties)
	stubs      []proto.Message // id and meta.profile of the claim's resources the EOB refers to (for the profile check only)

	cur          string // ISO 4217 currency of the amounts (header CUR02, else USD)
	payerID      string // bare payer id (N104 / REF*2U), else NAIC, else TIN: scopes the ICN
	payerOrgID   string
	payeeNPI     string
	payeeTIN     string
	renderNPI    string
	claim        *clpb.Claim // the matched 837 claim, nil without a match
	kind         EOBKind
	disp         Disposition
	amounts      *ClaimAmounts
	lines        []LineMatch
	eob          *eobpb.ExplanationOfBenefit
	infoSeq      map[int]int // claim supportingInfo sequence → EOB sequence
	careSeq      map[int]bool
	diagSeq      map[int]bool
	network      eobNetwork
	notes        []string // processNote texts, in order
	pendingNotes [][2]int // (item index, note number)
	statementSt  time.Time
	statementEn  time.Time
}

// eobNetwork are the network statuses of one claim payment, from
// Options.NetworkStatus: innetwork, outofnetwork or "" (unknown).
type eobNetwork struct {
	Billing, Rendering string
}

// benefitPayment is the benefitpaymentstatus code: the billing provider's
// network status, else the rendering provider's, else "other" (MAPPING.md
// D7: the payer's benefit level is not in X12).
func (n eobNetwork) benefitPayment() string {
	switch {
	case n.Billing != "":
		return n.Billing
	case n.Rendering != "":
		return n.Rendering
	}
	return "other"
}

// at returns the record position pointing at element el of segment seg.
func (b *eob835) at(seg string, el int) Position { return withElement(b.pos, seg, el) }

func (b *eob835) errAt(err error, seg string, el int, path, detail string) *Error {
	return NewError(err, b.at(seg, el), path, detail)
}

func (b *eob835) warn(pos Position, path, rule, msg string) {
	b.res.Warnings = append(b.res.Warnings, Issue{Pos: pos, Path: path, Rule: rule, Message: msg})
}

func (b *eob835) add(key string, r proto.Message) {
	if b.seen[key] {
		return
	}
	b.seen[key] = true
	b.parties = append(b.parties, r)
}

func (b *eob835) build() error {
	p := b.p
	icn := strings.TrimSpace(p.PayerClaimControlNumber)
	if icn == "" {
		return b.errAt(ErrMissing, "CLP", 7, "ExplanationOfBenefit.identifier", "CLP07 payer claim control number missing: the EOB's unique claim id")
	}
	if err := b.currency(); err != nil {
		return err
	}
	var err error
	if b.disp, err = ClaimDisposition(p, b.table); err != nil {
		return err
	}
	if b.amounts, err = Adjudicate(p, b.table); err != nil {
		return err
	}
	if b.disp.Reversal {
		// A reversal negates every amount of the payment it reverses (835
		// TR3 reversals and corrections) and its EOB, status cancelled,
		// takes that payment's EOB's place when CLP07 is the same, as it
		// usually is. Its adjudication and totals show what is cancelled,
		// with the original's signs, rather than negative charges; payment
		// keeps CLP04 as sent (see payment). A choice: neither C4BB nor
		// MAPPING.md say which sign a cancelled EOB carries.
		b.amounts.negate()
	}
	if !b.amounts.Balanced {
		b.warn(b.pos, "ExplanationOfBenefit.total", "835-unbalanced", "claim or line amounts do not balance (charge − adjustments ≠ payment): mapped as sent")
	}
	if err := b.payer(); err != nil {
		return err
	}
	b.payee()
	if err := b.statement(); err != nil {
		return err
	}
	if err := b.join(); err != nil {
		return err
	}
	b.kind = b.claimKind()
	if err := b.networkStatus(); err != nil {
		return err
	}
	id, err := b.m.ids.ExplanationOfBenefit(EOBKey{PayerID: b.payerID, ICN: icn})
	if err != nil {
		return b.errAt(ErrMissing, "CLP", 7, "ExplanationOfBenefit.id", "claim payment cannot be identified").WithCause(err)
	}
	e := &eobpb.ExplanationOfBenefit{
		Id: &dtpb.Id{Value: id},
		Identifier: []*dtpb.Identifier{
			identifier(c4bbIDType("uc"), b.m.PayerClaimNumberSystem(b.payerID), icn),
		},
		Status:  &eobpb.ExplanationOfBenefit_StatusCode{Value: cpb.ExplanationOfBenefitStatusCode_ACTIVE},
		Use:     &eobpb.ExplanationOfBenefit_UseCode{Value: cpb.UseCode_CLAIM},
		Outcome: &eobpb.ExplanationOfBenefit_OutcomeCode{Value: cpb.ClaimProcessingCode_COMPLETE},
		Insurer: reference("Organization", b.payerOrgID),
	}
	b.eob = e
	if b.disp.Status == "cancelled" {
		e.Status.Value = cpb.ExplanationOfBenefitStatusCode_CANCELLED
	}
	if b.disp.Outcome == "error" {
		e.Outcome.Value = cpb.ClaimProcessingCode_ERROR
		b.warn(b.at("CLP", 2), "ExplanationOfBenefit.outcome", "835-not-our-claim", "CLP02 23: the payer did not adjudicate this claim (forwarded); consumers usually should not see it")
	}
	if b.disp.Predetermination {
		e.Use.Value = cpb.UseCode_PREDETERMINATION
		b.warn(b.at("CLP", 2), "ExplanationOfBenefit.use", "835-predetermination", "CLP02 25: predetermination pricing only, not a claim: no C4BB profile")
	}
	e.Type, e.SubType = b.typeAndSubType()
	if err := b.created(); err != nil {
		return err
	}
	if err := b.parties835(); err != nil {
		return err
	}
	b.billablePeriod()
	b.related()
	b.careTeam()
	b.diagnoses()
	if err := b.supportingInfo(); err != nil {
		return err
	}
	b.insurance()
	if err := b.items(); err != nil {
		return err
	}
	b.header()
	b.totals()
	if err := b.payment(); err != nil {
		return err
	}
	b.processNotes()
	if err := b.referenced(); err != nil {
		return err
	}
	b.profile()
	return nil
}

// currency reads the currency of the 835's amounts: the header's CUR02, US
// dollars without one.
func (b *eob835) currency() error {
	var ok bool
	if b.cur, ok = currencyCode(b.h.Currency); !ok {
		pos := b.pos
		if l := b.h.Loop; l != nil {
			if s, found := l.Segment("CUR"); found {
				pos = PositionOf(s.Pos(), 0)
			}
		}
		return NewError(ErrInvalidCode, withElement(pos, "CUR", 2), "Money.currency", "CUR02 is not an ISO 4217 currency code").WithValue(b.h.Currency)
	}
	return nil
}

// payer builds the payer Organization from loop 1000A with the shared
// party builders: payer id N104 (N103 XV or PI) else REF*2U, NAIC from
// REF*NF, tax id from REF*EI else TRN03 ("1" + EIN).
func (b *eob835) payer() error {
	h := b.h
	pp := h.Payer // a copy: the record's context is shared, read-only
	if _, ok := pp.Refs.Get("EI"); !ok {
		if t := strings.TrimSpace(h.Trace.OriginatorID); len(t) == 10 && t[0] == '1' && allDigits(t) {
			pp.Refs = append(append(x12.Refs(nil), pp.Refs...), x12.Ref{Qualifier: "EI", Value: t[1:]})
		}
	}
	n := b.partyIssues()
	id, payerID, err := b.ps.payer(&pp, "ExplanationOfBenefit.insurer")
	if err != nil {
		return err
	}
	b.takeParties("Organization/"+id, n)
	b.payerOrgID = id
	naic, _ := pp.Refs.Get("NF")
	tin, _ := pp.Refs.Get("EI")
	switch {
	case payerID != "":
		b.payerID = payerID
	case strings.TrimSpace(naic) != "":
		b.payerID = strings.TrimSpace(naic)
	default:
		b.payerID = strings.TrimSpace(tin)
	}
	return nil
}

// partyIssues returns the number of issues the party builders recorded so
// far, for takeParties.
func (b *eob835) partyIssues() [2]int { return [2]int{len(b.psRes.Unmet), len(b.psRes.Warnings)} }

// takeParties moves the resources the party builders added into the
// result's parties, and their issues (recorded since n) under key: they
// reach the result only if the resource is emitted (see referenced).
func (b *eob835) takeParties(key string, n [2]int) {
	for _, is := range b.psRes.Unmet[n[0]:] {
		b.partyUnmet = append(b.partyUnmet, partyIssue{key: key, issue: is})
	}
	for _, is := range b.psRes.Warnings[n[1]:] {
		b.partyUnmet = append(b.partyUnmet, partyIssue{key: key, issue: is, warning: true})
	}
	b.psRes.Unmet, b.psRes.Warnings = b.psRes.Unmet[:n[0]], b.psRes.Warnings[:n[1]]
	for _, r := range b.ps.orgs {
		b.add(refKeyOf(r), r)
	}
	for _, r := range b.ps.pracs {
		b.add(refKeyOf(r), r)
	}
	b.ps.orgs, b.ps.pracs = nil, nil
}

// payee identifies the payee (loop 1000B): NPI (N103 XX) and tax id (N103
// FI, else REF*TJ).
func (b *eob835) payee() {
	pe := &b.h.Payee
	switch strings.ToUpper(strings.TrimSpace(pe.IDQualifier)) {
	case "XX":
		b.payeeNPI = strings.TrimSpace(pe.ID)
	case "FI":
		b.payeeTIN = strings.TrimSpace(pe.ID)
	}
	if b.payeeTIN == "" {
		if v, ok := pe.Refs.Get("TJ"); ok {
			b.payeeTIN = strings.TrimSpace(v)
		}
	}
	if b.p == nil {
		return
	}
	if r, ok := b.p.Entity("82"); ok && strings.EqualFold(strings.TrimSpace(r.IDQualifier), "XX") {
		b.renderNPI = strings.TrimSpace(r.ID)
	}
}

// statement reads the claim's statement dates (DTM*232/233). A start
// without an end is a one-day statement (835 TR3: the end is then assumed
// to be the start); an end without a start leaves the start unknown (the
// TR3 says it differs from the end and was not sent).
func (b *eob835) statement() error {
	for _, q := range [...]string{"232", "233"} {
		d, ok := b.p.Dates.Get(q)
		if !ok || strings.TrimSpace(d.Date) == "" {
			continue
		}
		t, err := x12.ParseDate(strings.TrimSpace(d.Date))
		if err != nil {
			return b.errAt(ErrInvalidValue, "DTM", 2, "ExplanationOfBenefit.billablePeriod", "DTM*"+q+" is not a CCYYMMDD date").WithCause(err)
		}
		if q == "232" {
			b.statementSt = t
		} else {
			b.statementEn = t
		}
	}
	if b.statementEn.IsZero() {
		b.statementEn = b.statementSt
	}
	return nil
}

// lineDates returns the span of the service payments' dates.
func (b *eob835) lineDates() (start, end time.Time) {
	for i := range b.p.Services {
		s := &b.p.Services[i]
		for _, d := range s.Dates {
			t, err := x12.ParseDate(strings.TrimSpace(d.Date))
			if err != nil {
				continue
			}
			switch d.Qualifier {
			case "472", "150", "151":
			default:
				continue
			}
			if start.IsZero() || t.Before(start) {
				start = t
			}
			if end.IsZero() || t.After(end) {
				end = t
			}
		}
	}
	return start, end
}

// join finds the matching 837 claim.
func (b *eob835) join() error {
	l := b.m.opts.Claims
	if l == nil {
		return nil
	}
	pcn := b.p.PatientControlNumber
	if strings.TrimSpace(pcn) == "" {
		return nil
	}
	q := ClaimQuery{Start: b.statementSt, End: b.statementEn, Original: b.disp.Reversal}
	if q.Start.IsZero() && q.End.IsZero() {
		q.Start, q.End = b.lineDates()
	}
	for _, bp := range [...]string{b.payeeNPI, b.payeeTIN} {
		if bp != "" {
			q.Identifiers = append(q.Identifiers, ClaimIdentifier{System: b.m.ClaimIdentifierSystem(bp), Value: pcn})
		}
	}
	if len(q.Identifiers) == 0 {
		return nil
	}
	c, err := l.FindClaim(b.ctx, q)
	switch {
	case err == nil:
		b.claim = c
		b.lines = MatchLines(c, b.p.Services)
	case errors.Is(err, ErrUnmatched):
		b.warn(b.at("CLP", 1), "ExplanationOfBenefit", "835-unmatched", "no 837 claim matches this claim payment: EOB built from the 835 alone")
	default:
		return fmt.Errorf("fhirmap: ExplanationOfBenefit: finding the claim of the claim payment at %s: %w", b.pos, err)
	}
	return nil
}

// claimKind returns the EOB kind: the matched claim's, else inferred from
// the 835 (see MapPayment835).
func (b *eob835) claimKind() EOBKind {
	if c := b.claim; c != nil {
		switch codeOf(c.GetType(), terminology.SystemClaimType) {
		case "institutional":
			if codeOf(c.GetSubType(), systemC4BBInstitutionalType) == "inpatient" {
				return EOBInpatient
			}
			return EOBOutpatient
		case "oral":
			return EOBOral
		case "pharmacy":
			return EOBPharmacy
		case "professional", "vision":
			return EOBProfessional
		}
	}
	inst, oral, pharm := b.p.Inpatient != nil, false, false
	for i := range b.p.Services {
		s := &b.p.Services[i]
		switch strings.ToUpper(strings.TrimSpace(s.Procedure.Qualifier)) {
		case "AD":
			oral = true
		case "NU", "HP":
			inst = true
		case "N4":
			pharm = true
		}
		if strings.TrimSpace(s.RevenueCode) != "" {
			inst = true
		}
	}
	switch {
	case oral:
		return EOBOral
	case inst:
		if b.p.Inpatient != nil {
			return EOBInpatient
		}
		if tob, err := terminology.TypeOfBillFromParts(b.p.FacilityCode, b.p.FrequencyCode); err == nil && tob.IsInpatient() {
			return EOBInpatient
		}
		return EOBOutpatient
	case pharm:
		return EOBPharmacy
	}
	return EOBProfessional
}

// typeAndSubType returns EOB.type and (institutional) EOB.subType.
func (b *eob835) typeAndSubType() (*dtpb.CodeableConcept, *dtpb.CodeableConcept) {
	switch b.kind {
	case EOBInpatient:
		return concept(terminology.SystemClaimType, "institutional"), concept(systemC4BBInstitutionalType, "inpatient")
	case EOBOutpatient:
		return concept(terminology.SystemClaimType, "institutional"), concept(systemC4BBInstitutionalType, "outpatient")
	case EOBOral:
		return concept(terminology.SystemClaimType, "oral"), nil
	case EOBPharmacy:
		return concept(terminology.SystemClaimType, "pharmacy"), nil
	}
	if b.claim != nil && codeOf(b.claim.GetType(), terminology.SystemClaimType) == "vision" {
		return concept(terminology.SystemClaimType, "vision"), nil
	}
	return concept(terminology.SystemClaimType, "professional"), nil
}

// networkStatus asks Options.NetworkStatus about the billing and rendering
// providers.
func (b *eob835) networkStatus() error {
	f := b.m.opts.NetworkStatus
	if f == nil {
		return nil
	}
	date := b.statementSt
	if date.IsZero() {
		date, _ = b.lineDates()
	}
	ask := func(role, npi, tin string) (string, error) {
		if npi == "" && tin == "" {
			return "", nil
		}
		s, err := f(b.ctx, NetworkQuery{PayerID: b.payerID, NPI: npi, TIN: tin, Role: role, Date: date, ClaimKind: b.kind})
		if err != nil {
			return "", fmt.Errorf("fhirmap: ExplanationOfBenefit.adjudication: network status of the %s provider at %s: %w", role, b.pos, err)
		}
		switch s {
		case "", "innetwork", "outofnetwork":
			return s, nil
		}
		return "", NewError(ErrInvalidCode, b.pos, "ExplanationOfBenefit.adjudication", "Options.NetworkStatus returned a code other than innetwork, outofnetwork or empty")
	}
	var err error
	if b.network.Billing, err = ask("billing", b.payeeNPI, b.payeeTIN); err != nil {
		return err
	}
	b.network.Rendering, err = ask("rendering", b.renderNPI, "")
	return err
}

// created sets EOB.created (MAPPING.md D16).
func (b *eob835) created() error {
	t, err := b.productionDate()
	if err != nil {
		return err
	}
	b.eob.Created = fdateTimeDay(t)
	return nil
}

// productionDate returns the date the payer produced the remittance:
// DTM*405 production date, else BPR16, else GS04 (MAPPING.md D16: the 835
// carries no per-claim adjudication date).
func (b *eob835) productionDate() (time.Time, error) {
	h := b.h
	type cand struct{ v, seg string }
	var cands []cand
	if d, ok := h.Dates.Get("405"); ok {
		cands = append(cands, cand{d.Date, "DTM*405"})
	}
	cands = append(cands, cand{h.PaymentDate, "BPR16"})
	if b.rec != nil && b.rec.Loop() != nil {
		cands = append(cands, cand{b.rec.Envelope().GS.Date, "GS04"})
	}
	for _, c := range cands {
		if strings.TrimSpace(c.v) == "" {
			continue
		}
		t, err := x12.ParseDate(strings.TrimSpace(c.v))
		if err != nil {
			return t, NewError(ErrInvalidValue, b.pos, "ExplanationOfBenefit.created", c.seg+" is not a CCYYMMDD date").WithValue(c.v).WithCause(err)
		}
		return t, nil
	}
	return time.Time{}, b.errAt(ErrMissing, "BPR", 16, "ExplanationOfBenefit.created", "no production date (DTM*405), payment date (BPR16) or group date (GS04)")
}

// billablePeriod sets EOB.billablePeriod: DTM*232/233, else the claim's,
// else the span of the service dates. With DTM*233 alone the start comes
// from the claim or the service dates when they are not after the end;
// otherwise it is left out rather than made up (it is not the end date).
func (b *eob835) billablePeriod() {
	e := b.eob
	switch {
	case !b.statementSt.IsZero() || !b.statementEn.IsZero():
		st := b.statementSt
		if st.IsZero() {
			if cs := dtDate(b.claim.GetBillablePeriod().GetStart()); !cs.IsZero() && !cs.After(b.statementEn) {
				st = cs
			} else if ls, _ := b.lineDates(); !ls.IsZero() && !ls.After(b.statementEn) {
				st = ls
			}
		}
		e.BillablePeriod = datePeriod(st, b.statementEn)
	case b.claim.GetBillablePeriod() != nil:
		e.BillablePeriod = proto.Clone(b.claim.GetBillablePeriod()).(*dtpb.Period)
	default:
		if s, en := b.lineDates(); !s.IsZero() {
			e.BillablePeriod = datePeriod(s, en)
		}
	}
}

// related sets EOB.related: the original claim a correction or reversal
// refers to (835 REF*F8, else the matched claim's related claims).
func (b *eob835) related() {
	if f8, ok := b.p.Refs.Get("F8"); ok && strings.TrimSpace(f8) != "" {
		if strings.TrimSpace(f8) != strings.TrimSpace(b.p.PayerClaimControlNumber) {
			b.eob.Related = append(b.eob.Related, &eobpb.ExplanationOfBenefit_RelatedClaim{
				Relationship: concept(terminology.SystemRelatedClaimRelationship, "prior"),
				Reference:    identifier(nil, b.m.PayerClaimNumberSystem(b.payerID), strings.TrimSpace(f8)),
			})
		}
		return
	}
	for _, r := range b.claim.GetRelated() {
		if r.GetReference() == nil || r.GetRelationship() == nil ||
			r.GetReference().GetValue().GetValue() == strings.TrimSpace(b.p.PayerClaimControlNumber) {
			continue
		}
		er := &eobpb.ExplanationOfBenefit_RelatedClaim{}
		copyFields(er, r)
		b.eob.Related = append(b.eob.Related, er)
	}
}

// careTeam copies the matched claim's care team, keeping the members whose
// role and provider type the EOB profile allows; without a claim, the
// rendering provider of the 835 (2100 NM1*82) when one was identified.
func (b *eob835) careTeam() {
	for _, ct := range b.claim.GetCareTeam() {
		role := ct.GetRole()
		typ := refType(ct.GetProvider())
		if !b.careTeamAllowed(role, typ) {
			continue
		}
		e := &eobpb.ExplanationOfBenefit_CareTeam{}
		copyFields(e, ct)
		if q := e.GetQualification(); q != nil && !hasSystem(q, terminology.SystemNUCCTaxonomy) {
			e.Qualification = nil
		}
		b.eob.CareTeam = append(b.eob.CareTeam, e)
		b.careSeq[int(ct.GetSequence().GetValue())] = true
	}
}

// careTeamAllowed reports whether a care team role and provider type fit the
// EOB profile (MAPPING.md §5.4; D5: an institutional rendering person is
// left out under C4BB 2.1.0, which wants an Organization).
func (b *eob835) careTeamAllowed(role *dtpb.CodeableConcept, typ string) bool {
	code := ""
	for _, c := range role.GetCoding() {
		switch c.GetSystem().GetValue() {
		case terminology.SystemCareTeamRole, systemC4BBCareTeamRole:
			code = c.GetCode().GetValue()
		}
	}
	switch b.kind {
	case EOBProfessional, EOBOral:
		switch code {
		case "rendering", "primary", "referring", "supervisor":
			return typ == "Practitioner"
		case "purchasedservice":
			return typ == "Practitioner" || typ == "Organization"
		}
	case EOBInpatient, EOBOutpatient:
		switch code {
		case "attending", "primary", "referring":
			return typ == "Practitioner"
		case "operating", "otheroperating":
			return typ == "Practitioner" || typ == "Organization"
		case "rendering":
			if b.m.opts.C4BBVersion == C4BB210 {
				return typ == "Organization"
			}
			return typ == "Practitioner" || typ == "Organization"
		}
	}
	return false
}

// diagnoses copies the matched claim's diagnoses whose types the EOB
// profile allows.
func (b *eob835) diagnoses() {
	for _, d := range b.claim.GetDiagnosis() {
		e := &eobpb.ExplanationOfBenefit_Diagnosis{}
		copyFields(e, d)
		var types []*dtpb.CodeableConcept
		for _, t := range e.GetType() {
			if b.diagnosisTypeAllowed(t) {
				types = append(types, t)
			}
		}
		if len(types) == 0 {
			continue
		}
		e.Type = types
		if b.kind != EOBInpatient {
			e.OnAdmission = nil
		}
		b.eob.Diagnosis = append(b.eob.Diagnosis, e)
		b.diagSeq[int(d.GetSequence().GetValue())] = true
	}
	if b.kind == EOBInpatient {
		for _, pr := range b.claim.GetProcedure() {
			e := &eobpb.ExplanationOfBenefit_Procedure{}
			copyFields(e, pr)
			b.eob.Procedure = append(b.eob.Procedure, e)
		}
	}
}

func (b *eob835) diagnosisTypeAllowed(t *dtpb.CodeableConcept) bool {
	for _, c := range t.GetCoding() {
		sys, code := c.GetSystem().GetValue(), c.GetCode().GetValue()
		switch b.kind {
		case EOBProfessional, EOBOral:
			if sys == terminology.SystemDiagnosisType && code == "principal" || sys == systemC4BBDiagnosisType && code == "secondary" {
				return true
			}
		case EOBInpatient:
			if sys == terminology.SystemDiagnosisType && (code == "principal" || code == "admitting") || sys == systemC4BBDiagnosisType && (code == "other" || code == "externalcauseofinjury") {
				return true
			}
		case EOBOutpatient:
			if sys == terminology.SystemDiagnosisType && code == "principal" || sys == systemC4BBDiagnosisType && (code == "other" || code == "externalcauseofinjury" || code == "patientreasonforvisit") {
				return true
			}
		}
	}
	return false
}

// infoAllowed lists the C4BBSupportingInfoType codes each EOB profile slices
// (MAPPING.md §5.4), with the slices that allow at most one entry.
var infoAllowed = map[EOBKind]map[string]bool{
	EOBProfessional: {"clmrecvddate": true, "servicefacility": true, "medicalrecordnumber": true, "patientaccountnumber": true,
		"patientweight": false, "ambulancetransportreason": false, "transportationdistance": false, "roudtrippurpose": false,
		"stretcherpurpose": false, "pickuplocation": false, "dropofflocation": false},
	EOBInpatient: {"admissionperiod": true, "clmrecvddate": true, "typeofbill": true, "pointoforigin": true, "admtype": true,
		"discharge-status": true, "drg": true, "medicalrecordnumber": true, "patientaccountnumber": true},
	EOBOutpatient: {"clmrecvddate": true, "typeofbill": true, "pointoforigin": true, "admtype": true, "discharge-status": true,
		"medicalrecordnumber": true, "patientaccountnumber": true},
	EOBOral: {"clmrecvddate": true, "servicefacility": true, "orthodontics": true, "prosthesis": true, "additionalbodysite": false,
		"missingtoothnumber": false, "medicalrecordnumber": true, "patientaccountnumber": true},
	EOBPharmacy: {"clmrecvddate": true},
}

// supportingInfo builds EOB.supportingInfo: the 835's received date
// (DTM*050), patient account number (CLP01), medical record number (REF*EA)
// and, for institutional claims, DRG (CLP11) and type of bill (CLP08 +
// CLP09) when the claim has none; then the matched claim's entries whose
// C4BB category the profile slices.
func (b *eob835) supportingInfo() error {
	allowed := infoAllowed[b.kind]
	have := map[string]bool{}
	add := func(code string, si *eobpb.ExplanationOfBenefit_SupportingInformation) int {
		seq := len(b.eob.SupportingInfo) + 1
		si.Sequence = fpos(seq)
		si.Category = concept(systemC4BBSupportingInfo, code)
		b.eob.SupportingInfo = append(b.eob.SupportingInfo, si)
		have[code] = true
		return seq
	}
	if d, ok := b.p.Dates.Get("050"); ok && strings.TrimSpace(d.Date) != "" {
		t, err := x12.ParseDate(strings.TrimSpace(d.Date))
		if err != nil {
			return b.errAt(ErrInvalidValue, "DTM", 2, "ExplanationOfBenefit.supportingInfo", "DTM*050 is not a CCYYMMDD date").WithCause(err)
		}
		add("clmrecvddate", &eobpb.ExplanationOfBenefit_SupportingInformation{Timing: &eobpb.ExplanationOfBenefit_SupportingInformation_TimingX{
			Choice: &eobpb.ExplanationOfBenefit_SupportingInformation_TimingX_Date{Date: fdate(t)}}})
	}
	if _, ok := allowed["patientaccountnumber"]; ok && strings.TrimSpace(b.p.PatientControlNumber) != "" {
		add("patientaccountnumber", &eobpb.ExplanationOfBenefit_SupportingInformation{Value: eobString(strings.TrimSpace(b.p.PatientControlNumber))})
	}
	if v, ok := b.p.Refs.Get("EA"); ok && strings.TrimSpace(v) != "" {
		if _, ok := allowed["medicalrecordnumber"]; ok {
			add("medicalrecordnumber", &eobpb.ExplanationOfBenefit_SupportingInformation{Value: eobString(strings.TrimSpace(v))})
		}
	}
	if b.kind == EOBInpatient && strings.TrimSpace(b.p.DRGCode) != "" {
		add("drg", &eobpb.ExplanationOfBenefit_SupportingInformation{Code: concept(terminology.SystemMSDRG, strings.TrimSpace(b.p.DRGCode))})
	}
	for _, si := range b.claim.GetSupportingInfo() {
		code := codeOf(si.GetCategory(), systemC4BBSupportingInfo)
		single, ok := allowed[code]
		if !ok || single && have[code] {
			continue
		}
		e := &eobpb.ExplanationOfBenefit_SupportingInformation{}
		copyFields(e, si)
		e.Reason = nil
		switch code {
		case "patientweight", "transportationdistance":
			// C4BB fixes the unit to the UCUM code ([lb_av], [mi_i]).
			if q := e.GetValue().GetQuantity(); q != nil && q.GetCode() != nil {
				q.Unit = fstr(q.GetCode().GetValue())
				q.System = furi(terminology.SystemUCUM)
			}
		case "ambulancetransportreason":
			// C4BB carries the reason in reason (a Coding), not code.
			if c := e.GetCode().GetCoding(); len(c) > 0 {
				e.Reason, e.Code = proto.Clone(c[0]).(*dtpb.Coding), nil
			}
		}
		b.infoSeq[int(si.GetSequence().GetValue())] = add(code, e)
	}
	if (b.kind == EOBInpatient || b.kind == EOBOutpatient) && !have["typeofbill"] {
		if tob, err := terminology.TypeOfBillFromParts(b.p.FacilityCode, b.p.FrequencyCode); err == nil {
			add("typeofbill", &eobpb.ExplanationOfBenefit_SupportingInformation{Code: concept(terminology.SystemNUBCTypeOfBill, tob.String())})
		}
	}
	return nil
}

func eobString(s string) *eobpb.ExplanationOfBenefit_SupportingInformation_ValueX {
	return &eobpb.ExplanationOfBenefit_SupportingInformation_ValueX{Choice: &eobpb.ExplanationOfBenefit_SupportingInformation_ValueX_StringValue{StringValue: fstr(s)}}
}

// insurance sets EOB.insurance: the matched claim's (the focal one is the
// payer's own coverage), else the 835's Coverage.
func (b *eob835) insurance() {
	for _, in := range b.claim.GetInsurance() {
		e := &eobpb.ExplanationOfBenefit_Insurance{}
		copyFields(e, in)
		b.eob.Insurance = append(b.eob.Insurance, e)
	}
}

// items builds one item per service payment (loop 2110); without service
// payments, the matched claim's items (claim-level adjudication).
func (b *eob835) items() error {
	next := 1
	for _, it := range b.claim.GetItem() {
		if s := int(it.GetSequence().GetValue()); s >= next {
			next = s + 1
		}
	}
	used := map[int]bool{}
	for i := range b.p.Services {
		var ci *clpb.Claim_Item
		if i < len(b.lines) && b.lines[i].Item >= 0 {
			ci = b.claim.GetItem()[b.lines[i].Item]
		}
		seq := i + 1
		if b.claim != nil {
			if ci != nil && !used[int(ci.GetSequence().GetValue())] {
				seq = int(ci.GetSequence().GetValue())
			} else {
				seq, next = next, next+1
			}
		}
		used[seq] = true
		it, err := b.item(i, seq, ci)
		if err != nil {
			return err
		}
		b.eob.Item = append(b.eob.Item, it)
	}
	if len(b.p.Services) == 0 {
		for _, ci := range b.claim.GetItem() {
			it := b.claimItem(ci)
			if b.kind != EOBInpatient && b.kind != EOBOutpatient {
				// Professional and oral items need an amount and the benefit
				// payment status: the submitted line charge.
				if ci.GetNet() != nil {
					it.Adjudication = append(it.Adjudication, adjAmount(catSubmitted, proto.Clone(ci.GetNet()).(*dtpb.Money)))
				}
				it.Adjudication = append(it.Adjudication, adjStatus("benefitpaymentstatus", b.network.benefitPayment()))
			}
			b.eob.Item = append(b.eob.Item, it)
		}
	}
	return nil
}

// claimItem copies what a claim item says about the service (not its
// amounts) into an EOB item, remapping its sequences to the EOB's.
func (b *eob835) claimItem(ci *clpb.Claim_Item) *eobpb.ExplanationOfBenefit_Item {
	it := &eobpb.ExplanationOfBenefit_Item{
		Sequence:         fpos(int(ci.GetSequence().GetValue())),
		Revenue:          cloneCC(ci.GetRevenue()),
		ProductOrService: cloneCC(ci.GetProductOrService()),
		BodySite:         cloneCC(ci.GetBodySite()),
	}
	for _, mo := range ci.GetModifier() {
		it.Modifier = append(it.Modifier, cloneCC(mo))
	}
	for _, ss := range ci.GetSubSite() {
		it.SubSite = append(it.SubSite, cloneCC(ss))
	}
	if s := ci.GetServiced(); s != nil {
		it.Serviced = &eobpb.ExplanationOfBenefit_Item_ServicedX{}
		copyFields(it.Serviced, s)
	}
	if l := ci.GetLocation(); l != nil {
		it.Location = &eobpb.ExplanationOfBenefit_Item_LocationX{}
		copyFields(it.Location, l)
	}
	if q := ci.GetQuantity(); q != nil {
		it.Quantity = proto.Clone(q).(*dtpb.SimpleQuantity)
	}
	for _, s := range ci.GetCareTeamSequence() {
		if b.careSeq[int(s.GetValue())] {
			it.CareTeamSequence = append(it.CareTeamSequence, fpos(int(s.GetValue())))
		}
	}
	for _, s := range ci.GetDiagnosisSequence() {
		if b.diagSeq[int(s.GetValue())] {
			it.DiagnosisSequence = append(it.DiagnosisSequence, fpos(int(s.GetValue())))
		}
	}
	if b.kind == EOBInpatient {
		for _, s := range ci.GetProcedureSequence() {
			it.ProcedureSequence = append(it.ProcedureSequence, fpos(int(s.GetValue())))
		}
	}
	for _, s := range ci.GetInformationSequence() {
		if n, ok := b.infoSeq[int(s.GetValue())]; ok {
			it.InformationSequence = append(it.InformationSequence, fpos(n))
		}
	}
	return it
}

func cloneCC(c *dtpb.CodeableConcept) *dtpb.CodeableConcept {
	if c == nil {
		return nil
	}
	return proto.Clone(c).(*dtpb.CodeableConcept)
}

// item builds the EOB item of service payment i, with the matched claim item
// ci (nil when none).
func (b *eob835) item(i, seq int, ci *clpb.Claim_Item) (*eobpb.ExplanationOfBenefit_Item, error) {
	s := &b.p.Services[i]
	path := "ExplanationOfBenefit.item[" + strconv.Itoa(i) + "]"
	spos := b.pos
	if s.Loop != nil && len(s.Loop.Segments) > 0 {
		spos = PositionOf(s.Loop.Lead().Pos(), 0)
	}
	var it *eobpb.ExplanationOfBenefit_Item
	if ci != nil {
		it = b.claimItem(ci)
	} else {
		it = &eobpb.ExplanationOfBenefit_Item{}
		if b.claim == nil && b.careSeq[1] {
			it.CareTeamSequence = []*dtpb.PositiveInt{fpos(1)}
		}
	}
	it.Sequence = fpos(seq)

	// revenue and the adjudicated procedure (SVC01, D6)
	q := strings.ToUpper(strings.TrimSpace(s.Procedure.Qualifier))
	rev := strings.TrimSpace(s.RevenueCode)
	if q == "NU" {
		rev = strings.TrimSpace(s.Procedure.Code)
	}
	if rev != "" {
		r, err := terminology.NormalizeRevenueCode(rev)
		if err != nil {
			return nil, NewError(ErrInvalidCode, withElement(spos, "SVC", 4), path+".revenue", "revenue code is not a NUBC revenue code").WithValue(rev).WithCause(err)
		}
		it.Revenue = concept(terminology.SystemNUBCRevenue, r)
	}
	if q != "NU" {
		pc, err := b.procedure(&s.Procedure, withElement(spos, "SVC", 1), path+".productOrService")
		if err != nil {
			return nil, err
		}
		if orig := s.OriginalProcedure; orig != nil && strings.TrimSpace(orig.Code) != "" {
			if oc, err := b.procedure(orig, withElement(spos, "SVC", 6), path+".extension"); err == nil && !proto.Equal(oc, pc) {
				it.Extension = append(it.Extension, &dtpb.Extension{Url: furi(ExtSubmittedProductOrService),
					Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_CodeableConcept{CodeableConcept: oc}}})
			}
		}
		it.ProductOrService = pc
		mods, err := b.modifiers(s.Procedure.Modifiers, withElement(spos, "SVC", 1), path+".modifier")
		if err != nil {
			return nil, err
		}
		it.Modifier = mods
	} else if it.ProductOrService == nil {
		it.ProductOrService = concept(terminology.SystemDataAbsentReason, "not-applicable")
	}

	// dates: DTM*472, else DTM*150/151, else the claim item's, else the
	// claim-level statement dates, which apply to every service line without
	// dates of its own (835 TR3 DTM notes); outpatient lines take the start
	// date (C4BB wants a date there).
	if sv, err := b.serviced(s, spos, path); err != nil {
		return nil, err
	} else if sv != nil {
		it.Serviced = sv
	}
	if it.Serviced == nil && !b.statementSt.IsZero() {
		if b.statementEn.Equal(b.statementSt) {
			it.Serviced = &eobpb.ExplanationOfBenefit_Item_ServicedX{Choice: &eobpb.ExplanationOfBenefit_Item_ServicedX_Date{Date: fdate(b.statementSt)}}
		} else {
			it.Serviced = &eobpb.ExplanationOfBenefit_Item_ServicedX{Choice: &eobpb.ExplanationOfBenefit_Item_ServicedX_Period{Period: datePeriod(b.statementSt, b.statementEn)}}
		}
	}
	if b.kind == EOBOutpatient {
		if pd := it.GetServiced().GetPeriod(); pd != nil {
			it.Serviced = &eobpb.ExplanationOfBenefit_Item_ServicedX{Choice: &eobpb.ExplanationOfBenefit_Item_ServicedX_Date{Date: fdate(dtDate(pd.GetStart()))}}
		}
	}

	// place of service: the claim's, else CLP08 (professional and oral)
	if it.Location == nil && (b.kind == EOBProfessional || b.kind == EOBOral) && strings.TrimSpace(b.p.FacilityCode) != "" {
		if pos, err := terminology.NormalizePlaceOfService(b.p.FacilityCode); err == nil {
			it.Location = &eobpb.ExplanationOfBenefit_Item_LocationX{Choice: &eobpb.ExplanationOfBenefit_Item_LocationX_CodeableConcept{CodeableConcept: concept(terminology.SystemPlaceOfService, pos)}}
		}
	}

	// quantity: SVC07 (original units) else SVC05 else the claim's
	if u := strings.TrimSpace(s.OriginalUnits); u != "" {
		it.Quantity = quantity(u, "", "")
	} else if u := strings.TrimSpace(s.UnitsPaid); u != "" && it.Quantity == nil {
		it.Quantity = quantity(u, "", "")
	}

	it.Adjudication = b.lineAdjudication(i, spos)
	return it, nil
}

// serviced returns a service payment's serviced[x] from DTM*472 or
// DTM*150/151 (nil when it has none).
func (b *eob835) serviced(s *x12.ServicePayment835, spos Position, path string) (*eobpb.ExplanationOfBenefit_Item_ServicedX, error) {
	parse := func(q string) (time.Time, error) {
		d, ok := s.Dates.Get(q)
		if !ok || strings.TrimSpace(d.Date) == "" {
			return time.Time{}, nil
		}
		t, err := x12.ParseDate(strings.TrimSpace(d.Date))
		if err != nil {
			return t, NewError(ErrInvalidValue, withElement(spos, "DTM", 2), path+".serviced", "DTM*"+q+" is not a CCYYMMDD date").WithCause(err)
		}
		return t, nil
	}
	d472, err := parse("472")
	if err != nil {
		return nil, err
	}
	if !d472.IsZero() {
		return &eobpb.ExplanationOfBenefit_Item_ServicedX{Choice: &eobpb.ExplanationOfBenefit_Item_ServicedX_Date{Date: fdate(d472)}}, nil
	}
	st, err := parse("150")
	if err != nil {
		return nil, err
	}
	en, err := parse("151")
	if err != nil {
		return nil, err
	}
	switch {
	case st.IsZero() && en.IsZero():
		return nil, nil
	case st.IsZero():
		st = en
	}
	if en.IsZero() || en.Equal(st) {
		return &eobpb.ExplanationOfBenefit_Item_ServicedX{Choice: &eobpb.ExplanationOfBenefit_Item_ServicedX_Date{Date: fdate(st)}}, nil
	}
	if en.Before(st) {
		return nil, NewError(ErrInconsistent, withElement(spos, "DTM", 2), path+".serviced", "DTM*151 service period end is before DTM*150 start")
	}
	return &eobpb.ExplanationOfBenefit_Item_ServicedX{Choice: &eobpb.ExplanationOfBenefit_Item_ServicedX_Period{Period: datePeriod(st, en)}}, nil
}

// procedure codes an 835 procedure composite (SVC01, SVC06): HC → CPT or
// HCPCS, AD → CDT, HP → HIPPS, N4 → NDC (11 digits), others a local system.
func (b *eob835) procedure(p *x12.Procedure, pos Position, path string) (*dtpb.CodeableConcept, error) {
	code := strings.TrimSpace(p.Code)
	if code == "" {
		return nil, NewError(ErrMissing, pos, path, "procedure code missing")
	}
	pos.Component = 2
	bad := func(err error, what string) error {
		return NewError(ErrInvalidCode, pos, path, "procedure code is not "+what).WithValue(code).WithCause(err)
	}
	var c *dtpb.Coding
	switch q := strings.ToUpper(strings.TrimSpace(p.Qualifier)); q {
	case "HC":
		k, v, err := terminology.ClassifyHC(code)
		if err != nil {
			return nil, bad(err, "a CPT or HCPCS code")
		}
		c = coding(k.System(b.m.opts.C4BBVersion.HCPCSSystem()), v)
	case "AD":
		v, err := terminology.NormalizeCDT(code)
		if err != nil {
			return nil, bad(err, "a CDT code")
		}
		c = coding(terminology.SystemCDT, v)
	case "HP":
		c = coding(terminology.SystemHIPPS, strings.ToUpper(code))
	case "N4":
		v, err := terminology.NormalizeNDC11(code)
		if err != nil {
			return nil, bad(err, "an 11-digit NDC")
		}
		c = coding(terminology.SystemNDC, v)
	default:
		c = coding(b.m.LocalSystem(q), code)
	}
	cc := concepts(c)
	cc.Text = fstr(strings.TrimSpace(p.Description))
	return cc, nil
}

// modifiers codes procedure modifiers (CPT when numeric, HCPCS otherwise).
func (b *eob835) modifiers(ms []string, pos Position, path string) ([]*dtpb.CodeableConcept, error) {
	var out []*dtpb.CodeableConcept
	for k, mo := range ms {
		if strings.TrimSpace(mo) == "" {
			continue
		}
		kind, v, err := terminology.ClassifyModifier(mo)
		if err != nil {
			pos.Component = 3 + k
			return nil, NewError(ErrInvalidCode, pos, path, "procedure modifier is not a CPT or HCPCS modifier").WithValue(mo).WithCause(err)
		}
		out = append(out, concept(kind.System(b.m.opts.C4BBVersion.HCPCSSystem()), v))
	}
	return out, nil
}

// adjAmount returns an amount-bearing adjudication entry.
func adjAmount(cat terminology.Coding, amount *dtpb.Money) *eobpb.ExplanationOfBenefit_Item_Adjudication {
	return &eobpb.ExplanationOfBenefit_Item_Adjudication{Category: concept(cat.System, cat.Code), Amount: amount}
}

// adjDecimal returns an amount-bearing adjudication entry from a decimal in
// currency cur.
func adjDecimal(cat terminology.Coding, d decimal.Decimal, cur string) *eobpb.ExplanationOfBenefit_Item_Adjudication {
	return adjAmount(cat, moneyIn(d.String(), cur))
}

// adjStatus returns a C4BBAdjudicationDiscriminator entry whose reason is a
// C4BBPayerAdjudicationStatus code.
func adjStatus(discriminator, status string) *eobpb.ExplanationOfBenefit_Item_Adjudication {
	return &eobpb.ExplanationOfBenefit_Item_Adjudication{
		Category: concept(SystemC4BBAdjudicationDiscriminator, discriminator),
		Reason:   concept(SystemC4BBPayerAdjudicationStatus, status),
	}
}

// adjReason returns an adjustmentreason entry with a CARC or RARC reason.
func adjReason(system, code string) *eobpb.ExplanationOfBenefit_Item_Adjudication {
	return &eobpb.ExplanationOfBenefit_Item_Adjudication{
		Category: concept(SystemC4BBAdjudicationDiscriminator, "adjustmentreason"),
		Reason:   concept(system, code),
	}
}

// casEntries returns one adjudication entry per CAS triplet: its category,
// the CARC as reason, the amount (in currency cur) and the group code
// extension.
func casEntries(adjs []Adjudicated, cur string) []*eobpb.ExplanationOfBenefit_Item_Adjudication {
	out := make([]*eobpb.ExplanationOfBenefit_Item_Adjudication, 0, len(adjs))
	for _, a := range adjs {
		e := adjDecimal(a.Rule.Category, a.Amount, cur)
		e.Reason = concept(terminology.SystemCARC, a.Reason)
		e.Extension = []*dtpb.Extension{{Url: furi(ExtCASGroupCode),
			Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Coding{Coding: coding(terminology.SystemCASGroup, a.Group)}}}}
		out = append(out, e)
	}
	return out
}

// singleAdjustmentReason reports whether the item adjustmentreason slice of
// this EOB allows one entry only (professional and oral under C4BB 2.1.0).
func (b *eob835) singleAdjustmentReason() bool {
	return (b.kind == EOBProfessional || b.kind == EOBOral) && b.m.opts.C4BBVersion == C4BB210
}

// lineAdjudication builds the adjudication of service payment i.
func (b *eob835) lineAdjudication(i int, spos Position) []*eobpb.ExplanationOfBenefit_Item_Adjudication {
	l := &b.amounts.Lines[i]
	out := []*eobpb.ExplanationOfBenefit_Item_Adjudication{
		adjDecimal(catSubmitted, l.Submitted, b.cur),
		adjDecimal(catEligible, l.Eligible, b.cur),
	}
	out = append(out, casEntries(l.Adjustments, b.cur)...)
	out = append(out,
		adjDecimal(catMemberLiability, l.MemberLiability, b.cur),
		adjDecimal(catPaidToProvider, l.Paid, b.cur),
		adjDecimal(catBenefit, l.Paid, b.cur),
	)
	// adjustment reasons: the dominant denial CARC where one is allowed,
	// every non-member CARC and every RARC otherwise.
	remarks := l.Remarks
	if b.singleAdjustmentReason() {
		if d := dominantDenial(l.Adjustments); d >= 0 {
			out = append(out, adjReason(terminology.SystemCARC, l.Adjustments[d].Reason))
		} else if len(remarks) > 0 {
			out = append(out, adjReason(terminology.SystemRARC, remarks[0]))
			remarks = remarks[1:]
		}
		for _, r := range remarks {
			b.noteRemark(i, r)
		}
	} else {
		seen := map[string]bool{}
		for _, a := range l.Adjustments {
			if a.Group != "PR" && !seen[a.Reason] {
				seen[a.Reason] = true
				out = append(out, adjReason(terminology.SystemCARC, a.Reason))
			}
		}
		for _, r := range remarks {
			out = append(out, adjReason(terminology.SystemRARC, r))
		}
	}
	if b.kind == EOBProfessional || b.kind == EOBOral {
		out = append(out, adjStatus("benefitpaymentstatus", b.network.benefitPayment()))
	}
	if u := l.UnitsPaid; u != "" {
		if d := fdecimal(u); d != nil {
			out = append(out, &eobpb.ExplanationOfBenefit_Item_Adjudication{Category: concept(SystemC4BBAdjudicationDiscriminator, "allowedunits"), Value: d})
		}
	}
	return out
}

// noteRemark records a remark code that has no adjudication slot as a
// processNote, referenced from item i's noteNumber (i < 0: the claim's).
func (b *eob835) noteRemark(i int, code string) {
	text := "Remittance advice remark code " + code + " (" + terminology.SystemRARC + ")"
	n := 0
	for k, t := range b.notes {
		if t == text {
			n = k + 1
		}
	}
	if n == 0 {
		b.notes = append(b.notes, text)
		n = len(b.notes)
	}
	if i >= 0 {
		b.pendingNotes = append(b.pendingNotes, [2]int{i, n})
	}
}

// header builds the header adjudication: network and benefit payment
// statuses, claim-level adjustment reasons (CAS 2100 CARCs, MIA/MOA RARCs)
// and, for institutional claims without service lines, the amounts.
func (b *eob835) header() {
	e := b.eob
	if b.network.Billing != "" {
		e.Adjudication = append(e.Adjudication, adjStatus("billingnetworkstatus", b.network.Billing))
	}
	if b.network.Rendering != "" && (b.kind == EOBProfessional || b.kind == EOBOral) {
		e.Adjudication = append(e.Adjudication, adjStatus("renderingnetworkstatus", b.network.Rendering))
	}
	switch b.kind {
	case EOBInpatient, EOBOutpatient, EOBOral, EOBPharmacy:
		e.Adjudication = append(e.Adjudication, adjStatus("benefitpaymentstatus", b.network.benefitPayment()))
	}
	inst := b.kind == EOBInpatient || b.kind == EOBOutpatient
	if inst && len(b.p.Services) == 0 {
		for _, t := range b.amounts.Totals {
			switch t.Category {
			case catSubmitted, catEligible, catMemberLiability, catPaidToProvider:
				e.Adjudication = append(e.Adjudication, adjDecimal(t.Category, t.Amount, b.cur))
			}
		}
		e.Adjudication = append(e.Adjudication, casEntries(b.amounts.Adjustments, b.cur)...)
	}
	seen := map[string]bool{}
	for _, a := range b.amounts.Adjustments {
		if a.Group != "PR" && !seen[a.Reason] {
			seen[a.Reason] = true
			e.Adjudication = append(e.Adjudication, adjReason(terminology.SystemCARC, a.Reason))
		}
	}
	for _, r := range b.amounts.Remarks {
		if inst {
			e.Adjudication = append(e.Adjudication, adjReason(terminology.SystemRARC, r))
		} else {
			b.noteRemark(-1, r)
		}
	}
}

// totals sets EOB.total from the claim amounts. Without an OA 23
// adjustment, what the other payers paid (the matched claim's
// ExtPriorPayerPaid, 837 2320 AMT*D) is the priorpayerpaid total.
func (b *eob835) totals() {
	have := false
	for _, t := range b.amounts.Totals {
		have = have || t.Category == catPriorPayerPaid
	}
	if !have {
		prior, n := decimal.Zero, 0
		for _, in := range b.claim.GetInsurance() {
			for _, ext := range in.GetExtension() {
				if ext.GetUrl().GetValue() != ExtPriorPayerPaid {
					continue
				}
				if d, err := decimal.NewFromString(ext.GetValue().GetMoney().GetValue().GetValue()); err == nil {
					prior, n = prior.Add(d), n+1
				}
			}
		}
		if n > 0 {
			b.amounts.Totals = append(b.amounts.Totals, CategoryAmount{Category: catPriorPayerPaid, Amount: prior})
			sortAmounts(b.amounts.Totals)
		}
	}
	for _, t := range b.amounts.Totals {
		b.eob.Total = append(b.eob.Total, &eobpb.ExplanationOfBenefit_Total{Category: concept(t.Category.System, t.Category.Code), Amount: moneyIn(t.Amount.String(), b.cur)})
	}
}

// payment sets EOB.payment: type, CLP04, BPR16 and the TRN02 trace number.
// CLP04 is the money of this remittance for the claim, as sent, also on a
// reversal (where it is negative: the payment taken back), so that the EOBs
// of one TRN02 with its PLB adjustments still add up to BPR02.
func (b *eob835) payment() error {
	h := b.h
	pm := &eobpb.ExplanationOfBenefit_Payment{}
	if b.disp.PaymentType != "" {
		pm.Type = concept(SystemC4BBPayerAdjudicationStatus, b.disp.PaymentType)
	}
	amt, ok := money(b.p.Payment, b.cur)
	if !ok {
		return b.errAt(ErrInvalidValue, "CLP", 4, "ExplanationOfBenefit.payment.amount", "CLP04 is not a decimal amount")
	}
	pm.Amount = amt
	if d := strings.TrimSpace(h.PaymentDate); d != "" {
		t, err := x12.ParseDate(d)
		if err != nil {
			return NewError(ErrInvalidValue, b.pos, "ExplanationOfBenefit.payment.date", "BPR16 is not a CCYYMMDD date").WithCause(err)
		}
		pm.Date = fdate(t)
	}
	if n := strings.TrimSpace(h.Trace.Number); n != "" {
		pm.Identifier = identifier(nil, b.m.PaymentTraceSystem(strings.TrimSpace(h.Trace.OriginatorID)), n)
	}
	b.eob.Payment = pm
	return nil
}

// processNotes writes the remark codes that have no adjudication slot as
// processNote entries, referenced from their items' noteNumber.
func (b *eob835) processNotes() {
	for k, t := range b.notes {
		b.eob.ProcessNote = append(b.eob.ProcessNote, &eobpb.ExplanationOfBenefit_Note{
			Number: fpos(k + 1),
			Type:   &eobpb.ExplanationOfBenefit_Note_TypeCode{Value: cpb.NoteTypeCode_DISPLAY},
			Text:   fstr(t),
		})
	}
	for _, pn := range b.pendingNotes {
		it := b.eob.Item[pn[0]]
		it.NoteNumber = append(it.NoteNumber, fpos(pn[1]))
	}
}

// profile declares the C4BB profile the EOB meets: the financial profile of
// its kind, else the "-Basis" one, else none; the financial profile's
// requirements it misses go to Result.Unmet.
func (b *eob835) profile() {
	e := b.eob
	v := b.m.opts.C4BBVersion
	if b.disp.Predetermination {
		e.Meta = b.m.meta(b.lineage)
		return
	}
	try := func(profile string) []check.Finding {
		e.Meta = b.m.meta(b.lineage, profile)
		all := append(append(append([]proto.Message(nil), b.parties...), b.stubs...), e)
		var out []check.Finding
		for _, f := range check.All(all) {
			if f.ResourceType == "ExplanationOfBenefit" && f.ResourceID == e.GetId().GetValue() && f.Severity == check.Error {
				out = append(out, f)
			}
		}
		return out
	}
	financial := v.EOBProfile(b.kind, false)
	missed := try(financial)
	if len(missed) == 0 {
		return
	}
	for _, f := range missed {
		b.res.Unmet = append(b.res.Unmet, Issue{Pos: b.pos, Path: f.Path, Rule: f.Rule, Profile: financial, Message: f.Message})
	}
	if len(try(v.EOBProfile(b.kind, true))) == 0 {
		return
	}
	e.Meta = b.m.meta(b.lineage)
}

// referenced asks the ClaimLookup (when it implements ReferenceProfiles)
// about the resources the EOB refers to. A resource of this result that the
// lookup already knows (the 837 side wrote it, with more than an 835 says:
// a birth date, a gender, an address) is not emitted again, so that a thin
// 835 version never overwrites it. Care team members and a service facility
// that do not declare the C4BB profile the EOB requires of them are left out
// (with a warning): both are optional, so the EOB keeps its profile. The
// answers also become stub resources (id and meta.profile only) for the
// profile check, so that an EOB whose patient or coverage is not C4BB claims
// no C4BB profile.
func (b *eob835) referenced() error {
	rp, ok := b.m.opts.Claims.(ReferenceProfiles)
	if !ok {
		return nil
	}
	var refs []string
	seen := map[string]bool{}
	add := func(r *dtpb.Reference) {
		if k := refString(r); k != "" && !seen[k] {
			seen[k] = true
			refs = append(refs, k)
		}
	}
	e := b.eob
	add(e.GetPatient())
	add(e.GetProvider())
	add(e.GetInsurer())
	add(e.GetPayee().GetParty())
	for _, ct := range e.GetCareTeam() {
		add(ct.GetProvider())
	}
	for _, in := range e.GetInsurance() {
		add(in.GetCoverage())
	}
	for _, si := range e.GetSupportingInfo() {
		add(si.GetValue().GetReference())
	}
	for _, r := range b.parties {
		if k := refKeyOf(r); k != "" && !seen[k] {
			seen[k] = true
			refs = append(refs, k)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	profs, err := rp.DeclaredProfiles(b.ctx, refs)
	if err != nil {
		return fmt.Errorf("fhirmap: ExplanationOfBenefit: profiles of the resources it refers to at %s: %w", b.pos, err)
	}
	parties := b.parties[:0]
	for _, r := range b.parties {
		if _, known := profs[refKeyOf(r)]; !known {
			parties = append(parties, r)
		}
	}
	b.parties = parties
	lacks := func(r *dtpb.Reference, want ...Canonical) bool {
		p, known := profs[refString(r)]
		return known && !declaresAny(p, want...)
	}
	var keep []*eobpb.ExplanationOfBenefit_CareTeam
	dropped := map[uint32]bool{}
	for i, ct := range e.GetCareTeam() {
		if lacks(ct.GetProvider(), C4BBOrganization, C4BBPractitioner) {
			dropped[ct.GetSequence().GetValue()] = true
			b.warn(b.pos, "ExplanationOfBenefit.careTeam["+strconv.Itoa(i)+"]", "careteam-not-c4bb",
				"the care team member's resource declares no C4BB profile (see the 837's unmet requirements): left out of the EOB")
			continue
		}
		keep = append(keep, ct)
	}
	if len(dropped) > 0 {
		e.CareTeam = keep
		for _, it := range e.GetItem() {
			var seqs []*dtpb.PositiveInt
			for _, s := range it.GetCareTeamSequence() {
				if !dropped[s.GetValue()] {
					seqs = append(seqs, s)
				}
			}
			it.CareTeamSequence = seqs
		}
	}
	var infos []*eobpb.ExplanationOfBenefit_SupportingInformation
	for i, si := range e.GetSupportingInfo() {
		if codeOf(si.GetCategory(), systemC4BBSupportingInfo) == "servicefacility" && lacks(si.GetValue().GetReference(), C4BBOrganization) {
			b.warn(b.pos, "ExplanationOfBenefit.supportingInfo["+strconv.Itoa(i)+"]", "servicefacility-not-c4bb",
				"the service facility's Organization declares no C4BB profile: left out of the EOB")
			continue
		}
		infos = append(infos, si)
	}
	e.SupportingInfo = infos
	for _, k := range refs {
		p, ok := profs[k]
		if !ok {
			continue
		}
		t, id, _ := strings.Cut(k, "/")
		stub, err := resource.New(t)
		if err != nil || resource.SetID(stub, id) != nil {
			continue
		}
		meta := &dtpb.Meta{}
		for _, c := range p {
			meta.Profile = append(meta.Profile, &dtpb.Canonical{Value: c})
		}
		r := stub.ProtoReflect()
		if f := r.Descriptor().Fields().ByName("meta"); f != nil {
			r.Set(f, protoreflect.ValueOfMessage(meta.ProtoReflect()))
		}
		b.stubs = append(b.stubs, stub)
	}
	return nil
}

// declaresAny reports whether declared (versioned canonicals) holds one of
// want, any version.
func declaresAny(declared []string, want ...Canonical) bool {
	for _, d := range declared {
		c, _ := ParseCanonical(d)
		for _, w := range want {
			if c == w {
				return true
			}
		}
	}
	return false
}

// refString returns "Type/id" of a reference in google/fhir's typed form
// (or its relative literal form), "" when it has none.
func refString(r *dtpb.Reference) string {
	if r == nil {
		return ""
	}
	m := r.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("reference")
	if od == nil {
		return ""
	}
	f := m.WhichOneof(od)
	if f == nil {
		return ""
	}
	if f.Name() == "uri" {
		u := r.GetUri().GetValue()
		if strings.Count(u, "/") == 1 {
			return u
		}
		return ""
	}
	name := string(f.Name())
	if !strings.HasSuffix(name, "_id") || f.Message() == nil || f.Message().Name() != "ReferenceId" {
		return ""
	}
	var t strings.Builder
	for _, part := range strings.Split(strings.TrimSuffix(name, "_id"), "_") {
		if part != "" {
			t.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	id := m.Get(f).Message().Interface().(*dtpb.ReferenceId).GetValue()
	if id == "" {
		return ""
	}
	return t.String() + "/" + id
}

// codeOf returns the code of the first coding of cc in system.
func codeOf(cc *dtpb.CodeableConcept, system string) string {
	for _, c := range cc.GetCoding() {
		if c.GetSystem().GetValue() == system {
			return c.GetCode().GetValue()
		}
	}
	return ""
}

// hasSystem reports whether cc has a coding in system.
func hasSystem(cc *dtpb.CodeableConcept, system string) bool {
	for _, c := range cc.GetCoding() {
		if c.GetSystem().GetValue() == system {
			return true
		}
	}
	return false
}

// refType returns the resource type of a typed reference ("" when unknown).
func refType(r *dtpb.Reference) string {
	switch r.GetReference().(type) {
	case *dtpb.Reference_PractitionerId:
		return "Practitioner"
	case *dtpb.Reference_OrganizationId:
		return "Organization"
	case *dtpb.Reference_PatientId:
		return "Patient"
	case *dtpb.Reference_PractitionerRoleId:
		return "PractitionerRole"
	}
	if u := r.GetUri().GetValue(); u != "" {
		if t, _, ok := strings.Cut(u, "/"); ok {
			return t
		}
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
