package fhirmap

// 837P/837I/837D claim → FHIR R4 Claim (MAPPING.md §4.1–§4.3), with the
// resources it refers to (parties837.go) and its codes (claim837_codes.go).

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/proto"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	clpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"

	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

func init() {
	f := func(m *Mapper, ctx context.Context, rec x12.Record) (*Result, error) {
		return m.MapClaim837(ctx, rec.(*x12.Claim837))
	}
	recordMappers[x12.Kind837PClaim] = f
	recordMappers[x12.Kind837IClaim] = f
	recordMappers[x12.Kind837DClaim] = f
}

// Code systems of the C4BB claim vocabularies.
const (
	systemC4BBSupportingInfo    = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType"
	systemC4BBCareTeamRole      = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimCareTeamRole"
	systemC4BBDiagnosisType     = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimDiagnosisType"
	systemC4BBProcedureType     = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimProcedureType"
	systemC4BBInstitutionalType = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBInstitutionalClaimSubType"
	systemV3ActCode             = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
)

// ExtPriorPayerPaid is the URL of the extension (valueMoney) on a
// non-focal Claim.insurance entry that carries what that other payer paid on
// the claim (837 loop 2320 AMT*D), for the ExplanationOfBenefit's
// priorpayerpaid amount (MAPPING.md §4.4). Context: Claim.insurance.
// Cardinality 0..1.
const ExtPriorPayerPaid = ExtensionBase + "prior-payer-paid"

// ClaimIdentifierSystem returns the identifier system of the patient control
// numbers (CLM01) of a billing provider under the default Systems:
// "urn:fhirsync:patient-control-number:<NPI or TIN>". A Mapper with
// Options.Systems.PatientControlNumber set uses that instead: see
// [Mapper.ClaimIdentifierSystem].
func ClaimIdentifierSystem(billingProvider string) string {
	return "urn:fhirsync:patient-control-number:" + strings.TrimSpace(billingProvider)
}

// ClaimIdentifierSystem returns the system of Claim.identifier[pat] (CLM01)
// for a billing provider's NPI (or TIN when it has none), honouring
// Options.Systems.PatientControlNumber.
func (m *Mapper) ClaimIdentifierSystem(billingProvider string) string {
	if f := m.opts.Systems.PatientControlNumber; f != nil {
		return f(billingProvider)
	}
	return ClaimIdentifierSystem(billingProvider)
}

// PayerClaimNumberSystem returns the system of a payer's claim control
// numbers (REF*F8, 835 CLP07), honouring Options.Systems.PayerClaimNumber.
func (m *Mapper) PayerClaimNumberSystem(payerID string) string {
	if f := m.opts.Systems.PayerClaimNumber; f != nil {
		return f(payerID)
	}
	return "urn:fhirsync:payer-claim-number:" + strings.TrimSpace(payerID)
}

// MemberIDSystem returns the system of a payer's member ids, honouring
// Options.Systems.MemberID.
func (m *Mapper) MemberIDSystem(payerID string) string { return m.memberIDSystem(payerID) }

func (m *Mapper) memberIDSystem(payerID string) string {
	if f := m.opts.Systems.MemberID; f != nil {
		return f(payerID)
	}
	return "urn:fhirsync:member-id:" + strings.TrimSpace(payerID)
}

// PayerIDSystem returns the system of payer ids (Organization
// identifier[payerid]), honouring Options.Systems.PayerID.
func (m *Mapper) PayerIDSystem() string { return m.payerIDSystem() }

func (m *Mapper) payerIDSystem() string {
	if f := m.opts.Systems.PayerID; f != nil {
		return f()
	}
	return "urn:fhirsync:payer-id"
}

// PaymentTraceSystem returns the system of a payer's payment trace numbers
// (835 TRN02) by originating company id (TRN03), honouring
// Options.Systems.PaymentTrace.
func (m *Mapper) PaymentTraceSystem(originatorID string) string {
	if f := m.opts.Systems.PaymentTrace; f != nil {
		return f(originatorID)
	}
	return "urn:fhirsync:payment-trace:" + strings.TrimSpace(originatorID)
}

// LocalSystem returns the code system of codes X12 sends under a qualifier
// with no public code system (SV101-1 ER, IV, WK, PRV02 other than PXC, HI
// condition/occurrence/value codes...), honouring Options.Systems.Local:
// "urn:fhirsync:x12:<qualifier>" by default. Options.Translate entries name
// these systems as their From.
func (m *Mapper) LocalSystem(qualifier string) string {
	if f := m.opts.Systems.Local; f != nil {
		return f(qualifier)
	}
	return "urn:fhirsync:x12:" + strings.TrimSpace(qualifier)
}

// claim837 holds the state of mapping one 837 claim.
type claim837 struct {
	partySet // the Organizations and Practitioners, the result's issues
	ctx      context.Context
	c        *x12.Claim837
	kind     x12.Kind

	// resources by kind (with partySet's orgs and pracs), concatenated in
	// dependency order at the end
	locs, pats, covs, encs []proto.Message

	cur              string // ISO 4217 currency of the claim's amounts (2000A CUR02, else USD)
	billingKey       string // NPI, else TIN
	billingRef       *dtpb.Reference
	billingType      string // "Organization" or "Practitioner"
	payerID          string
	payerOrgID       string
	patientID        string
	memberID         string
	patientProfiled  bool
	coverageID       string
	otherCoverageIDs []string
	facilityLocID    string
	facilityOrgID    string
	encounterID      string

	claim        *clpb.Claim
	careIdx      map[string]int // provider key + role → careTeam sequence
	claimRender  int            // careTeam sequence of the claim-level rendering provider
	attending    []*dtpb.Reference
	transportSeq []int // supportingInfo sequences every item must reference (ambulance)
	hiPos        []x12.Position
}

// MapClaim837 maps one 837 professional, institutional or dental claim to a
// Claim and the resources it refers to, in dependency order: Organizations
// (billing provider, payers, service facility), Practitioners, the service
// facility Location, the Patient, the Coverages, the Encounter (837I) and
// the Claim.
//
// Amounts are Money in the currency of loop 2000A's CUR02 (US dollars
// without one).
//
// The Claim has no C4BB profile (C4BB profiles ExplanationOfBenefit); the
// parties declare C4BB-Patient, C4BB-Coverage, C4BB-Organization,
// C4BB-Practitioner (at Options.C4BBVersion), US Core Location and US Core
// Encounter when the data meets them; otherwise they declare none and
// Result.Unmet says which requirement failed.
//
// Errors are [*Error] values (ErrMissing, ErrInvalidCode, ErrInvalidValue)
// with the X12 position and FHIR path, except for a terminology.Mapper
// failure other than "no mapping", which is returned wrapped as is (it may be
// retryable: see terminology.IsRetryable).
func (m *Mapper) MapClaim837(ctx context.Context, c *x12.Claim837) (*Result, error) {
	if c == nil || c.Subscriber == nil || c.BillingProvider == nil || c.Header == nil {
		return nil, NewError(ErrMissing, Position{}, "Claim", "claim without its header, billing provider or subscriber context")
	}
	b := &claim837{
		partySet: newPartySet(m, m.Lineage(c), &Result{}),
		ctx:      ctx, c: c, kind: c.Kind(), careIdx: map[string]int{},
	}
	if err := b.build(); err != nil {
		return nil, err
	}
	n := len(b.orgs) + len(b.pracs) + len(b.locs) + len(b.pats) + len(b.covs) + len(b.encs) + 1
	b.res.Resources = make([]proto.Message, 0, n)
	for _, g := range [][]proto.Message{b.orgs, b.pracs, b.locs, b.pats, b.covs, b.encs} {
		b.res.Resources = append(b.res.Resources, g...)
	}
	b.res.Resources = append(b.res.Resources, b.claim)
	return b.res, nil
}

// partySet builds the provider and payer resources (Organization,
// Practitioner) a record refers to, once each, and collects the record's
// unmet requirements and warnings. The 837 and 835 mappers embed it.
type partySet struct {
	m           *Mapper
	lineage     string
	res         *Result
	seen        map[string]bool // "Type/id" of the resources added
	orgs, pracs []proto.Message
}

// newPartySet returns a partySet writing its issues to res.
func newPartySet(m *Mapper, lineage string, res *Result) partySet {
	return partySet{m: m, lineage: lineage, res: res, seen: map[string]bool{}}
}

// add appends r to the group unless a resource with the same key was added.
func (b *partySet) add(group *[]proto.Message, key string, r proto.Message) {
	if b.seen[key] {
		return
	}
	b.seen[key] = true
	*group = append(*group, r)
}

// errAt returns a mapping error at a segment position.
func (b *partySet) errAt(err error, pos x12.Position, element, component int, path, detail string) *Error {
	p := PositionOf(pos, 0)
	p.Element, p.Component = element, component
	return NewError(err, p, path, detail)
}

// warn records a warning.
func (b *partySet) warn(pos x12.Position, element, component int, path, rule, msg string) {
	p := PositionOf(pos, 0)
	p.Element, p.Component = element, component
	b.res.Warnings = append(b.res.Warnings, Issue{Pos: p, Path: path, Rule: rule, Message: msg})
}

// unmet records a profile requirement the record cannot meet.
func (b *partySet) unmet(pos x12.Position, path, rule, profile, msg string) {
	b.res.Unmet = append(b.res.Unmet, Issue{Pos: PositionOf(pos, 0), Path: path, Rule: rule, Profile: profile, Message: msg})
}

func (b *claim837) build() error {
	c := b.c
	bp := &c.BillingProvider.Name
	npi, tin := npiOf(bp.Entity), tinOf(bp)
	b.billingKey = npi
	if b.billingKey == "" {
		b.billingKey = tin
	}
	if b.billingKey == "" {
		return b.errAt(ErrMissing, partyPos(bp), 9, 0, "Claim.provider", "billing provider has no NPI (NM108 XX) and no tax id (REF*EI)")
	}
	var ok bool
	if b.cur, ok = currencyCode(c.BillingProvider.Currency); !ok {
		return b.errAt(ErrInvalidCode, segPos(c.BillingProvider.Loop, "CUR", partyPos(bp)), 2, 0, "Claim.total.currency", "CUR02 is not an ISO 4217 currency code").WithValue(c.BillingProvider.Currency)
	}

	// Organizations and Practitioners first: billing provider, then payers.
	var taxonomy *dtpb.CodeableConcept
	if s := c.BillingProvider.Specialty; s != nil {
		var err error
		if taxonomy, err = b.taxonomy(s, segPos(c.BillingProvider.Loop, "PRV", partyPos(bp)), "Organization.type"); err != nil {
			return err
		}
	}
	if bp.IsPerson() {
		b.billingType = "Practitioner"
	} else {
		b.billingType = "Organization"
	}
	b.billingRef = b.providerRef(bp, "Claim.provider", taxonomy)
	if b.billingRef == nil {
		return b.errAt(ErrMissing, partyPos(bp), 9, 0, "Claim.provider", "billing provider cannot be identified")
	}
	var err error
	if b.payerOrgID, b.payerID, err = b.payer(&c.Subscriber.Payer, "Claim.insurer"); err != nil {
		return err
	}

	// The patient and the destination payer's Coverage, then the other payers'.
	if err := b.patient(); err != nil {
		return err
	}
	if err := b.coverage(); err != nil {
		return err
	}
	if err := b.otherCoverages(); err != nil {
		return err
	}

	return b.claimResource()
}

// claimResource builds the Claim itself.
func (b *claim837) claimResource() error {
	c := b.c
	id, err := b.m.ids.Claim(ClaimKey{BillingProvider: b.billingKey, PatientControlNumber: c.PatientControlNumber, Frequency: c.FrequencyCode, TransactionRef: transactionRef(c)})
	if err != nil {
		return b.errAt(ErrMissing, c.Pos(), 1, 0, "Claim.id", "claim cannot be identified").WithCause(err)
	}
	status := cpb.FinancialResourceStatusCode_ACTIVE
	if strings.TrimSpace(c.FrequencyCode) == "8" {
		status = cpb.FinancialResourceStatusCode_CANCELLED
	}
	cl := &clpb.Claim{
		Id: &dtpb.Id{Value: id},
		Identifier: []*dtpb.Identifier{
			identifier(c4bbIDType("pat"), b.m.ClaimIdentifierSystem(b.billingKey), c.PatientControlNumber),
		},
		Status:   &clpb.Claim_StatusCode{Value: status},
		Use:      &clpb.Claim_UseCode{Value: cpb.UseCode_CLAIM},
		Patient:  reference("Patient", b.patientID),
		Insurer:  reference("Organization", b.payerOrgID),
		Provider: b.billingRef,
		Priority: concept(terminology.SystemProcessPriority, "normal"),
	}
	b.claim = cl
	switch b.kind {
	case x12.Kind837IClaim:
		cl.Type = concept(terminology.SystemClaimType, "institutional")
	case x12.Kind837DClaim:
		cl.Type = concept(terminology.SystemClaimType, "oral")
	default:
		cl.Type = concept(terminology.SystemClaimType, "professional")
	}

	// created: BHT04 (+ BHT05 when a zone is configured).
	h := c.Header
	created, err := x12.ParseDate(h.Date)
	if err != nil {
		return b.errAt(ErrInvalidValue, segPos(h.Loop, "BHT", c.Pos()), 4, 0, "Claim.created", "BHT04 is not a CCYYMMDD date").WithCause(err)
	}
	cl.Created = fdateTimeDay(created)
	if loc := b.m.opts.TimeZone; loc != nil && h.Time != "" {
		if tod, err := x12.ParseTime(h.Time); err == nil {
			cl.Created = fdateTimeIn(created.Add(tod.Truncate(time.Second)), loc)
		}
	}

	// related: replacement (7) and void (8) claims name the original by the
	// payer's claim control number (REF*F8).
	switch strings.TrimSpace(c.FrequencyCode) {
	case "7", "8":
		if f8, ok := c.Refs.Get("F8"); ok && strings.TrimSpace(f8) != "" {
			cl.Related = []*clpb.Claim_RelatedClaim{{
				Relationship: concept(terminology.SystemRelatedClaimRelationship, "prior"),
				Reference:    identifier(nil, b.m.PayerClaimNumberSystem(b.payerID), strings.TrimSpace(f8)),
			}}
		} else {
			b.warn(c.Pos(), 5, 3, "Claim.related", "correction-without-original", "replacement or void claim (CLM05-3 7 or 8) without REF*F8: the original claim is not named")
		}
	}

	// payee: CLM08 = Y (benefits assigned) → the provider, else the subscriber.
	if strings.EqualFold(strings.TrimSpace(c.BenefitsAssignment), "Y") {
		cl.Payee = &clpb.Claim_Payee{Type: concept(terminology.SystemPayeeType, "provider"), Party: b.billingRef}
	} else {
		cl.Payee = &clpb.Claim_Payee{Type: concept(terminology.SystemPayeeType, "subscriber")}
		if c.Patient == nil {
			cl.Payee.Party = reference("Patient", b.patientID)
		}
	}
	if ref, ok := c.Refs.Get("9F"); ok && strings.TrimSpace(ref) != "" {
		cl.Referral = &dtpb.Reference{Identifier: identifier(nil, "", strings.TrimSpace(ref))}
	}

	if total, ok := money(c.TotalCharge, b.cur); !ok {
		return b.errAt(ErrInvalidValue, c.Pos(), 2, 0, "Claim.total", "CLM02 is not a decimal amount")
	} else {
		cl.Total = total
	}

	// Claim-level providers: care team, service facility, ambulance locations.
	if err := b.claimProviders(); err != nil {
		return err
	}

	b.hiPos = hiPositions(c)
	if err := b.diagnoses(); err != nil {
		return err
	}
	if err := b.procedures(); err != nil {
		return err
	}

	var ii *instInfo
	if b.kind == x12.Kind837IClaim {
		if ii, err = b.institutional(); err != nil {
			return err
		}
		cl.SubType = concept(systemC4BBInstitutionalType, map[bool]string{true: "inpatient", false: "outpatient"}[ii.inpatient])
		cl.BillablePeriod = datePeriod(ii.statement.Start, ii.statement.End)
		if b.encounterID, err = b.encounter(ii); err != nil {
			return err
		}
	}
	if err := b.supportingInfo(ii); err != nil {
		return err
	}
	b.accident()
	b.insurance()

	if err := b.items(ii); err != nil {
		return err
	}
	if b.kind != x12.Kind837IClaim {
		cl.BillablePeriod = b.lineSpan()
	}
	cl.Meta = b.m.meta(b.lineage)
	return nil
}

// transactionRef is the claim key's transaction reference: BHT03, else ST02.
func transactionRef(c *x12.Claim837) string {
	if c.Header != nil && strings.TrimSpace(c.Header.Reference) != "" {
		return c.Header.Reference
	}
	return c.Envelope().ST.Control
}

// careTeamRole returns the careTeam role of an 837 provider loop by its
// entity code (NM101) and claim variant (MAPPING.md §4.1.1): a coding, or a
// text for roles with no code (ordering, assistant surgeon). ok is false for
// loops that are not care team members (facility, ambulance locations).
func careTeamRole(kind x12.Kind, nm101 string) (system, code, text string, ok bool) {
	switch strings.ToUpper(strings.TrimSpace(nm101)) {
	case "82":
		return systemC4BBCareTeamRole, "rendering", "", true
	case "DQ":
		return terminology.SystemCareTeamRole, "supervisor", "", true
	case "DN":
		return systemC4BBCareTeamRole, "referring", "", true
	case "P3":
		return terminology.SystemCareTeamRole, "primary", "", true
	case "QB":
		return systemC4BBCareTeamRole, "purchasedservice", "", true
	case "DK":
		return "", "", "ordering", true
	case "DD":
		return "", "", "assistant surgeon", true
	case "71":
		return systemC4BBCareTeamRole, "attending", "", true
	case "72":
		return systemC4BBCareTeamRole, "operating", "", true
	case "ZZ":
		if kind == x12.Kind837IClaim {
			return systemC4BBCareTeamRole, "otheroperating", "", true
		}
	}
	return "", "", "", false
}

// taxonomy returns the provider taxonomy of a PRV segment as a
// CodeableConcept: NUCC for PRV02 = PXC, a local system (with its
// translation, when configured) otherwise.
func (b *claim837) taxonomy(p *x12.ProviderInfo, pos x12.Position, path string) (*dtpb.CodeableConcept, error) {
	code := strings.TrimSpace(p.Taxonomy)
	if code == "" {
		return nil, nil
	}
	q := strings.ToUpper(strings.TrimSpace(p.IDQualifier))
	if q == "PXC" || q == "" {
		return concept(terminology.SystemNUCCTaxonomy, code), nil
	}
	cs, err := b.withTranslation(coding(b.m.LocalSystem("PRV02-"+q), code), pos, 3, 0, path)
	if err != nil {
		return nil, err
	}
	return concepts(cs...), nil
}

// careTeamMember adds (or finds) the careTeam entry of a provider loop and
// returns its sequence, 0 when the loop is not a care team member or cannot
// be identified.
func (b *claim837) careTeamMember(p *x12.Party, path string) (int, error) {
	sys, code, text, ok := careTeamRole(b.kind, p.Code)
	if !ok {
		return 0, nil
	}
	var qual *dtpb.CodeableConcept
	if p.Provider != nil {
		var err error
		if qual, err = b.taxonomy(p.Provider, segPos(p.Loop, "PRV", partyPos(p)), path+".qualification"); err != nil {
			return 0, err
		}
	}
	ref := b.providerRef(p, path+".provider", nil)
	if ref == nil {
		return 0, nil
	}
	key := refKey(ref) + "|" + code + text
	if seq, ok := b.careIdx[key]; ok {
		if qual != nil && b.claim.CareTeam[seq-1].Qualification == nil {
			b.claim.CareTeam[seq-1].Qualification = qual
		}
		return seq, nil
	}
	role := concept(sys, code)
	if role == nil {
		role = conceptText(text)
	}
	seq := len(b.claim.CareTeam) + 1
	b.claim.CareTeam = append(b.claim.CareTeam, &clpb.Claim_CareTeam{
		Sequence:      fpos(seq),
		Provider:      ref,
		Role:          role,
		Qualification: qual,
	})
	b.careIdx[key] = seq
	if code == "attending" {
		b.attending = append(b.attending, ref)
	}
	return seq, nil
}

// refKey returns "Type/id" of a reference built by reference().
func refKey(r *dtpb.Reference) string {
	switch v := r.GetReference().(type) {
	case *dtpb.Reference_PractitionerId:
		return "Practitioner/" + v.PractitionerId.GetValue()
	case *dtpb.Reference_OrganizationId:
		return "Organization/" + v.OrganizationId.GetValue()
	case *dtpb.Reference_Uri:
		return v.Uri.GetValue()
	}
	return ""
}

// claimProviders maps the claim-level provider loops (2310x).
func (b *claim837) claimProviders() error {
	for i := range b.c.Providers {
		p := &b.c.Providers[i]
		switch strings.ToUpper(strings.TrimSpace(p.Code)) {
		case "77":
			b.facilityLocID, b.facilityOrgID = b.facility(p, "Claim.facility")
			if b.facilityLocID != "" {
				b.claim.Facility = reference("Location", b.facilityLocID)
			}
		case "PW", "45":
			// ambulance pick-up/drop-off: supporting info (see supportingInfo)
		default:
			seq, err := b.careTeamMember(p, "Claim.careTeam")
			if err != nil {
				return err
			}
			if seq > 0 && strings.TrimSpace(p.Code) == "82" {
				b.claimRender = seq
			}
		}
	}
	return nil
}

// insurance builds Claim.insurance: the destination payer's Coverage (focal)
// and one per other payer (2320), ordered by payer responsibility (SBR01).
func (b *claim837) insurance() {
	type ins struct {
		rank int
		e    *clpb.Claim_Insurance
	}
	rank := func(sbr01 string) int {
		if r := responsibilitySequence(sbr01); r > 0 {
			return r
		}
		return 100
	}
	list := []ins{{rank(b.c.Subscriber.PayerResponsibility), &clpb.Claim_Insurance{Focal: fbool(true), Coverage: reference("Coverage", b.coverageID)}}}
	if g1, ok := b.c.Refs.Get("G1"); ok && strings.TrimSpace(g1) != "" {
		list[0].e.PreAuthRef = fstrs(strings.TrimSpace(g1))
	}
	for i, id := range b.otherCoverageIDs {
		op := &b.c.OtherPayers[i]
		e := &clpb.Claim_Insurance{Focal: fbool(false), Coverage: reference("Coverage", id)}
		if paid, ok := op.Amounts.Get("D"); ok {
			if mon, ok := money(paid, b.cur); ok && mon != nil {
				e.Extension = []*dtpb.Extension{{
					Url:   &dtpb.Uri{Value: ExtPriorPayerPaid},
					Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Money{Money: mon}},
				}}
			}
		}
		list = append(list, ins{rank(op.PayerResponsibility), e})
	}
	// stable insertion sort by rank (a handful of entries)
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].rank < list[j-1].rank; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	for i, e := range list {
		e.e.Sequence = fpos(i + 1)
		b.claim.Insurance = append(b.claim.Insurance, e.e)
	}
}

// accident builds Claim.accident from CLM11 and DTP*439 (the date is 1..1).
func (b *claim837) accident() {
	if len(b.c.RelatedCauses) == 0 {
		return
	}
	d, ok := b.c.Dates.Get("439")
	if !ok {
		b.warn(b.c.Pos(), 11, 0, "Claim.accident", "accident-without-date", "CLM11 related causes without DTP*439 accident date: Claim.accident left out")
		return
	}
	p, err := d.Period()
	if err != nil || p.Start.IsZero() {
		b.warn(b.c.Pos(), 11, 0, "Claim.accident", "accident-without-date", "DTP*439 is not a date: Claim.accident left out")
		return
	}
	a := &clpb.Claim_Accident{Date: fdate(p.Start)}
	for _, rc := range b.c.RelatedCauses {
		switch strings.ToUpper(strings.TrimSpace(rc)) {
		case "AA":
			a.Type = concept(systemV3ActCode, "MVA")
		case "EM":
			a.Type = concept(systemV3ActCode, "WPA")
		case "OA":
			a.Type = conceptText("Other accident")
		default:
			continue
		}
		break
	}
	if st, ctry := strings.TrimSpace(b.c.AccidentState), strings.TrimSpace(b.c.AccidentCountry); st != "" || ctry != "" {
		a.Location = &clpb.Claim_Accident_LocationX{Choice: &clpb.Claim_Accident_LocationX_Address{Address: &dtpb.Address{State: fstr(st), Country: fstr(ctry)}}}
	}
	b.claim.Accident = a
}

// lineSpan returns the billable period of a professional or dental claim:
// the earliest line start to the latest line end (MAPPING.md §4.1), which
// items() has recorded on the items.
func (b *claim837) lineSpan() *dtpb.Period {
	var start, end *dtpb.DateTime
	less := func(a, c *dtpb.DateTime) bool { return a.GetValueUs() < c.GetValueUs() }
	for _, it := range b.claim.Item {
		var s, e *dtpb.DateTime
		switch v := it.GetServiced().GetChoice().(type) {
		case *clpb.Claim_Item_ServicedX_Date:
			d := &dtpb.DateTime{ValueUs: v.Date.GetValueUs(), Timezone: "Z", Precision: dtpb.DateTime_DAY}
			s, e = d, d
		case *clpb.Claim_Item_ServicedX_Period:
			s, e = v.Period.GetStart(), v.Period.GetEnd()
		}
		if s != nil && (start == nil || less(s, start)) {
			start = proto.Clone(s).(*dtpb.DateTime)
		}
		if e != nil && (end == nil || less(end, e)) {
			end = proto.Clone(e).(*dtpb.DateTime)
		}
	}
	return fperiod(start, end)
}

// items builds Claim.item from the service lines (loops 2400).
func (b *claim837) items(ii *instInfo) error {
	for i := range b.c.Lines {
		if err := b.item(i, ii); err != nil {
			return err
		}
	}
	return nil
}

func (b *claim837) item(i int, ii *instInfo) error {
	c := b.c
	ln := &c.Lines[i]
	path := "Claim.item[" + strconv.Itoa(i) + "]"
	lxPos := c.Pos()
	if ln.Loop != nil && len(ln.Loop.Segments) > 0 {
		lxPos = ln.Loop.Lead().Pos()
	}
	seq := i + 1
	if n, err := strconv.Atoi(strings.TrimSpace(ln.LineNumber)); err == nil && n > 0 {
		seq = n
	}
	it := &clpb.Claim_Item{Sequence: fpos(seq)}
	if cn := strings.TrimSpace(ln.ControlNumber()); cn != "" {
		it.Extension = []*dtpb.Extension{{
			Url:   &dtpb.Uri{Value: ExtLineItemControlNumber},
			Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: fstr(cn)}},
		}}
	}

	// care team: line-level providers (2420x), else the claim's rendering provider
	var lineCare []int
	for j := range ln.Providers {
		p := &ln.Providers[j]
		switch strings.ToUpper(strings.TrimSpace(p.Code)) {
		case "77", "PW", "45":
			continue
		}
		s, err := b.careTeamMember(p, "Claim.careTeam")
		if err != nil {
			return err
		}
		if s > 0 {
			lineCare = append(lineCare, s)
		}
	}
	if len(lineCare) == 0 && b.claimRender > 0 {
		lineCare = []int{b.claimRender}
	}
	it.CareTeamSequence = fposs(lineCare...)

	// service dates
	serviced, err := b.lineServiced(ln, lxPos, path, ii)
	if err != nil {
		return err
	}
	it.Serviced = serviced

	var charge x12.Amount
	var units, pos string
	var chargePos, posPos x12.Position
	var posEl, posComp int
	switch {
	case ln.Professional != nil:
		sv := ln.Professional
		sp := segPos(ln.Loop, "SV1", lxPos)
		chargePos = sp
		if it.ProductOrService, err = b.procedureConcept(&sv.Procedure, sp, 1, path+".productOrService"); err != nil {
			return err
		}
		if it.Modifier, err = b.modifiers(sv.Procedure.Modifiers, sp, 1, path+".modifier"); err != nil {
			return err
		}
		charge, units, pos = sv.Charge, sv.Units, sv.PlaceOfService
		switch strings.ToUpper(strings.TrimSpace(sv.UnitBasis)) {
		case "MJ":
			it.Quantity = quantity(units, "min", "min")
		default:
			it.Quantity = quantity(units, "", "")
		}
		if it.DiagnosisSequence, err = b.pointers(sv.DiagnosisPointers, sp, 7, path+".diagnosisSequence"); err != nil {
			return err
		}
		posPos, posEl = sp, 5
		if pos == "" {
			pos, posPos, posEl, posComp = c.FacilityCode, c.Pos(), 5, 1
		}
	case ln.Institutional != nil:
		sv := ln.Institutional
		sp := segPos(ln.Loop, "SV2", lxPos)
		chargePos = sp
		rev, err := terminology.NormalizeRevenueCode(sv.RevenueCode)
		if err != nil {
			return b.errAt(ErrInvalidCode, sp, 1, 0, path+".revenue", "SV201 is not a NUBC revenue code").WithValue(sv.RevenueCode).WithCause(err)
		}
		it.Revenue = concept(terminology.SystemNUBCRevenue, rev)
		if sv.Procedure != nil && strings.TrimSpace(sv.Procedure.Code) != "" {
			if it.ProductOrService, err = b.procedureConcept(sv.Procedure, sp, 2, path+".productOrService"); err != nil {
				return err
			}
			if it.Modifier, err = b.modifiers(sv.Procedure.Modifiers, sp, 2, path+".modifier"); err != nil {
				return err
			}
		} else {
			// MAPPING.md §4.2: a revenue-code-only line has no procedure code.
			it.ProductOrService = concept(terminology.SystemDataAbsentReason, "not-applicable")
		}
		charge, units = sv.Charge, sv.Units
		switch strings.ToUpper(strings.TrimSpace(sv.UnitBasis)) {
		case "DA":
			it.Quantity = quantity(units, "day", "d")
		default:
			it.Quantity = quantity(units, "", "")
		}
		if sv.UnitRate != "" {
			up, ok := money(sv.UnitRate, b.cur)
			if !ok {
				return b.errAt(ErrInvalidValue, sp, 6, 0, path+".unitPrice", "SV206 is not a decimal amount")
			}
			it.UnitPrice = up
		}
		if b.encounterID != "" {
			it.Encounter = []*dtpb.Reference{reference("Encounter", b.encounterID)}
		}
	case ln.Dental != nil:
		sv := ln.Dental
		sp := segPos(ln.Loop, "SV3", lxPos)
		chargePos = sp
		if it.ProductOrService, err = b.procedureConcept(&sv.Procedure, sp, 1, path+".productOrService"); err != nil {
			return err
		}
		if it.Modifier, err = b.modifiers(sv.Procedure.Modifiers, sp, 1, path+".modifier"); err != nil {
			return err
		}
		charge, units, pos = sv.Charge, sv.Units, sv.PlaceOfService
		it.Quantity = quantity(units, "", "")
		if it.DiagnosisSequence, err = b.pointers(sv.DiagnosisPointers, sp, 11, path+".diagnosisSequence"); err != nil {
			return err
		}
		posPos, posEl = sp, 3
		if pos == "" {
			pos, posPos, posEl, posComp = c.FacilityCode, c.Pos(), 5, 1
		}
		if err := b.dentalSites(ln, it, sp, path); err != nil {
			return err
		}
	default:
		return b.errAt(ErrMissing, lxPos, 0, 0, path, "service line without SV1, SV2 or SV3")
	}

	net, ok := money(charge, b.cur)
	if !ok {
		return b.errAt(ErrInvalidValue, chargePos, 2, 0, path+".net", "line charge is not a decimal amount")
	}
	it.Net = net
	if it.UnitPrice == nil {
		it.UnitPrice = unitPrice(charge, units, b.cur)
	}
	if pos != "" {
		p, err := terminology.NormalizePlaceOfService(pos)
		if err != nil {
			return b.errAt(ErrInvalidCode, posPos, posEl, posComp, path+".locationCodeableConcept", "place of service is not a CMS place of service code").WithValue(pos).WithCause(err)
		}
		it.Location = &clpb.Claim_Item_LocationX{Choice: &clpb.Claim_Item_LocationX_CodeableConcept{CodeableConcept: concept(terminology.SystemPlaceOfService, p)}}
	}

	if ln.Drug != nil {
		d, err := b.drugDetail(ln.Drug, lxPos, path+".detail[0]")
		if err != nil {
			return err
		}
		if d != nil {
			it.Detail = []*clpb.Claim_Item_Detail{d}
		}
	}
	if err := b.lineLocations(ln, it, path); err != nil {
		return err
	}
	it.InformationSequence = append(fposs(b.transportSeq...), it.InformationSequence...)
	b.claim.Item = append(b.claim.Item, it)
	return nil
}

// unitPrice returns charge ÷ units as Money when units > 0 and the quotient
// is exact to the cent (MAPPING.md §4.1 [design]); nil otherwise, so that
// unitPrice × quantity always equals net.
func unitPrice(charge x12.Amount, units, cur string) *dtpb.Money {
	if charge == "" || units == "" {
		return nil
	}
	ch, err := charge.Decimal()
	if err != nil {
		return nil
	}
	u, err := decimal.NewFromString(strings.TrimSpace(units))
	if err != nil || !u.IsPositive() {
		return nil
	}
	q := ch.DivRound(u, 2)
	if !q.Mul(u).Equal(ch) {
		return nil
	}
	return moneyIn(q.StringFixed(2), cur)
}

// lineServiced returns a line's serviced[x]: DTP*472 (D8 → date, RD8 →
// period); a dental line without one takes the claim's DTP*472; an
// institutional line without one takes the statement period (a date when it
// is one day), MAPPING.md §4.2 [design].
func (b *claim837) lineServiced(ln *x12.ServiceLine837, lxPos x12.Position, path string, ii *instInfo) (*clpb.Claim_Item_ServicedX, error) {
	d, ok := ln.Dates.Get("472")
	dpos := segPos(ln.Loop, "DTP", lxPos)
	if !ok && b.kind == x12.Kind837DClaim {
		d, ok = b.c.Dates.Get("472")
		dpos = b.c.Pos()
	}
	var start, end time.Time
	if ok {
		p, err := d.Period()
		if err != nil {
			return nil, b.errAt(ErrInvalidValue, dpos, 3, 0, path+".serviced", "DTP*472 is not a date or date range").WithCause(err)
		}
		start, end = p.Start, p.End
	} else if ii != nil {
		start, end = ii.statement.Start, ii.statement.End
	}
	switch {
	case start.IsZero():
		return nil, nil
	case end.IsZero() || start.Equal(end):
		return &clpb.Claim_Item_ServicedX{Choice: &clpb.Claim_Item_ServicedX_Date{Date: fdate(start)}}, nil
	default:
		return &clpb.Claim_Item_ServicedX{Choice: &clpb.Claim_Item_ServicedX_Period{Period: datePeriod(start, end)}}, nil
	}
}

// pointers maps diagnosis code pointers (SV107, SV311) to diagnosis
// sequences. A pointer to no diagnosis is an error.
func (b *claim837) pointers(ps []string, pos x12.Position, element int, path string) ([]*dtpb.PositiveInt, error) {
	n := len(b.c.Diagnoses())
	var out []int
	for k, p := range ps {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		v, err := strconv.Atoi(p)
		if err != nil || v < 1 || v > n {
			e := b.errAt(ErrInconsistent, pos, element, k+1, path, "diagnosis code pointer does not designate a diagnosis of the claim").WithValue(p)
			return nil, e
		}
		out = append(out, v)
	}
	return fposs(out...), nil
}

// drugDetail builds item.detail[0] from loop 2410 (LIN/CTP): the NDC
// (11 digits, MAPPING.md §9 D3) and the national drug unit count.
func (b *claim837) drugDetail(d *x12.Drug837, lxPos x12.Position, path string) (*clpb.Claim_Item_Detail, error) {
	pos := lxPos
	if d.Loop != nil && len(d.Loop.Segments) > 0 {
		pos = d.Loop.Lead().Pos()
	}
	code := strings.TrimSpace(d.ProductID)
	if code == "" {
		return nil, nil
	}
	var cs []*dtpb.Coding
	q := strings.ToUpper(strings.TrimSpace(d.ProductQualifier))
	if q == "N4" {
		ndc, err := terminology.NormalizeNDC11(code)
		if err != nil {
			return nil, b.errAt(ErrInvalidCode, pos, 3, 0, path+".productOrService", "LIN03 is not an 11-digit NDC").WithValue(code).WithCause(err)
		}
		cs = []*dtpb.Coding{coding(terminology.SystemNDC, ndc)}
	} else {
		var err error
		if cs, err = b.withTranslation(coding(b.m.LocalSystem("LIN02-"+q), code), pos, 3, 0, path+".productOrService"); err != nil {
			return nil, err
		}
	}
	det := &clpb.Claim_Item_Detail{Sequence: fpos(1), ProductOrService: concepts(cs...)}
	unit, ucum := "", ""
	switch strings.ToUpper(strings.TrimSpace(d.UnitBasis)) {
	case "F2":
		unit, ucum = "international unit", "[iU]"
	case "GR":
		unit, ucum = "gram", "g"
	case "ME":
		unit, ucum = "milligram", "mg"
	case "ML":
		unit, ucum = "milliliter", "mL"
	}
	det.Quantity = quantity(d.Quantity, unit, ucum)
	return det, nil
}

// lineLocations adds the ambulance pick-up and drop-off locations of a line
// (2420G/H) as supporting information the line refers to.
func (b *claim837) lineLocations(ln *x12.ServiceLine837, it *clpb.Claim_Item, path string) error {
	for j := range ln.Providers {
		p := &ln.Providers[j]
		cat := ""
		switch strings.ToUpper(strings.TrimSpace(p.Code)) {
		case "PW":
			cat = "pickuplocation"
		case "45":
			cat = "dropofflocation"
		default:
			continue
		}
		if s := addressText(p.Address); s != "" {
			seq := b.addInfo(coding(systemC4BBSupportingInfo, cat), nil, nil, stringValue(s))
			it.InformationSequence = append(it.InformationSequence, fpos(seq))
		}
	}
	return nil
}
