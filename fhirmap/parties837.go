package fhirmap

// The resources an 837 claim refers to (MAPPING.md §4.1.2): the billing
// provider, payers, practitioners, the service facility, the patient, the
// coverages and (837I) the encounter.

import (
	"errors"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	lpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	opb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"

	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

// npiOf returns the NPI of a provider name loop (NM109 when NM108 = XX).
func npiOf(e x12.Entity) string {
	if strings.EqualFold(strings.TrimSpace(e.IDQualifier), "XX") {
		return strings.TrimSpace(e.ID)
	}
	return ""
}

// tinOf returns the tax id of a provider name loop: REF*EI (the EIN), or
// NM109 when NM108 is FI or 24. REF*SY (an SSN used as a TIN) is not used
// (MAPPING.md §4.1.2: do not emit by default).
func tinOf(p *x12.Party) string {
	if v, ok := p.Refs.Get("EI"); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	switch strings.ToUpper(strings.TrimSpace(p.IDQualifier)) {
	case "FI", "24":
		return strings.TrimSpace(p.ID)
	}
	return ""
}

// payerIDOf returns a payer's id: NM109 (N104) with NM108 (N103) PI or XV,
// else REF*2U (payer identification number).
func payerIDOf(p *x12.Party) string {
	switch strings.ToUpper(strings.TrimSpace(p.IDQualifier)) {
	case "PI", "XV":
		if id := strings.TrimSpace(p.ID); id != "" {
			return id
		}
	}
	if v, ok := p.Refs.Get("2U"); ok {
		return strings.TrimSpace(v)
	}
	return ""
}

// partyPos returns the position of a name loop's leading segment.
func partyPos(p *x12.Party) x12.Position {
	if p != nil && p.Loop != nil && len(p.Loop.Segments) > 0 {
		return p.Loop.Lead().Pos()
	}
	return x12.Position{}
}

// checkNPI validates an NPI's check digit (MAPPING.md §3.4). An invalid NPI is
// kept, with a warning; it returns false so that the resource does not claim
// a profile whose NPI slice it breaks (us-core-16/17).
func (b *partySet) checkNPI(npi string, p *x12.Party, path string) bool {
	if npi == "" || b.m.opts.NoNPICheck {
		return true
	}
	if err := terminology.ValidateNPI(npi); err != nil {
		b.warn(partyPos(p), 9, 0, path, "npi-check-digit", "NPI fails its format or check digit; identifier kept")
		return false
	}
	return true
}

// providerRef returns the reference to the Practitioner (NM102 = 1) or
// Organization (NM102 = 2) of a provider name loop and adds the resource.
// It returns nil (with a warning) when the loop has neither an NPI nor a
// tax id to identify the provider by.
func (b *partySet) providerRef(p *x12.Party, path string, taxonomy *dtpb.CodeableConcept) *dtpb.Reference {
	if p.IsPerson() {
		id, ok := b.practitioner(p, path, taxonomy)
		if !ok {
			return nil
		}
		return reference("Practitioner", id)
	}
	id, ok := b.organization(p, path, taxonomy)
	if !ok {
		return nil
	}
	return reference("Organization", id)
}

// practitioner adds the C4BB Practitioner of a person provider loop and
// returns its id.
func (b *partySet) practitioner(p *x12.Party, path string, taxonomy *dtpb.CodeableConcept) (string, bool) {
	npi, tin := npiOf(p.Entity), tinOf(p)
	id, err := b.m.ids.Practitioner(PractitionerKey{NPI: npi, TIN: tin, LastName: p.LastOrOrgName, FirstName: p.First})
	if err != nil {
		b.warn(partyPos(p), 9, 0, path, "provider-unidentified", "provider has no NPI and no tax id: left out")
		return "", false
	}
	if b.seen["Practitioner/"+id] {
		return id, true
	}
	pr := &prpb.Practitioner{
		Id:         &dtpb.Id{Value: id},
		Identifier: nonNilIDs(npiIdentifier(npi), tinIdentifier(tin)),
		Name:       nonNilNames(humanName(p.Entity)),
		Telecom:    telecom(p.Contacts),
		Address:    nonNilAddrs(address(p.Address)),
	}
	if taxonomy != nil {
		pr.Qualification = []*prpb.Practitioner_Qualification{{Code: taxonomy}}
	}
	profile := b.m.opts.C4BBVersion.Profile(C4BBPractitioner)
	if !b.checkNPI(npi, p, "Practitioner.identifier") {
		b.unmet(partyPos(p), "Practitioner.identifier", "us-core-17", profile, "the NPI check digit fails: C4BB-Practitioner not claimed")
		profile = ""
	} else if pr.Name == nil || pr.Name[0].Family == nil {
		b.unmet(partyPos(p), "Practitioner.name.family", "Practitioner.name.family.min", profile, "no family name: C4BB-Practitioner not claimed")
		profile = ""
	}
	pr.Meta = b.m.meta(b.lineage, profile)
	b.add(&b.pracs, "Practitioner/"+id, pr)
	return id, true
}

// organization adds the C4BB Organization of a non-person provider loop and
// returns its id.
func (b *partySet) organization(p *x12.Party, path string, taxonomy *dtpb.CodeableConcept) (string, bool) {
	npi, tin := npiOf(p.Entity), tinOf(p)
	id, err := b.m.ids.Organization(OrganizationKey{NPI: npi, TIN: tin})
	if err != nil {
		b.warn(partyPos(p), 9, 0, path, "provider-unidentified", "provider has no NPI and no tax id: left out")
		return "", false
	}
	if b.seen["Organization/"+id] {
		return id, true
	}
	o := &opb.Organization{
		Id:         &dtpb.Id{Value: id},
		Identifier: nonNilIDs(npiIdentifier(npi), tinIdentifier(tin)),
		Active:     fbool(true),
		Name:       fstr(strings.TrimSpace(p.LastOrOrgName)),
		Telecom:    telecom(p.Contacts),
		Address:    nonNilAddrs(address(p.Address)),
	}
	if taxonomy != nil {
		o.Type = []*dtpb.CodeableConcept{taxonomy}
	}
	profile := b.m.opts.C4BBVersion.Profile(C4BBOrganization)
	if !b.checkNPI(npi, p, "Organization.identifier") {
		b.unmet(partyPos(p), "Organization.identifier", "us-core-17", profile, "the NPI check digit fails: C4BB-Organization not claimed")
		profile = ""
	} else if o.Name == nil {
		b.unmet(partyPos(p), "Organization.name", "Organization.name.min", profile, "no name: C4BB-Organization not claimed")
		profile = ""
	}
	o.Meta = b.m.meta(b.lineage, profile)
	b.add(&b.orgs, "Organization/"+id, o)
	return id, true
}

// payer adds the C4BB Organization of a payer name loop (2010BB, 2330B) and
// returns its id and payer id.
func (b *partySet) payer(p *x12.Party, path string) (id, payerID string, err error) {
	payerID = payerIDOf(p)
	naic, _ := p.Refs.Get("NF")
	tin, _ := p.Refs.Get("EI")
	naic, tin = strings.TrimSpace(naic), strings.TrimSpace(tin)
	id, kerr := b.m.ids.Payer(PayerKey{PayerID: payerID, NAIC: naic, TIN: tin})
	if kerr != nil {
		return "", "", b.errAt(ErrMissing, partyPos(p), 9, 0, path, "payer has no payer id (NM108 PI or XV, REF*2U), NAIC code or tax id").WithCause(kerr)
	}
	if b.seen["Organization/"+id] {
		return id, payerID, nil
	}
	o := &opb.Organization{
		Id: &dtpb.Id{Value: id},
		Identifier: nonNilIDs(
			identifier(c4bbIDType("payerid"), b.m.payerIDSystem(), payerID),
			identifier(c4bbIDType("naiccode"), terminology.SystemNAIC, naic),
			tinIdentifier(tin),
		),
		Active:  fbool(true),
		Name:    fstr(strings.TrimSpace(p.LastOrOrgName)),
		Telecom: telecom(p.Contacts),
		Address: nonNilAddrs(address(p.Address)),
	}
	profile := b.m.opts.C4BBVersion.Profile(C4BBOrganization)
	if o.Name == nil {
		b.unmet(partyPos(p), "Organization.name", "Organization.name.min", profile, "no payer name: C4BB-Organization not claimed")
		profile = ""
	}
	o.Meta = b.m.meta(b.lineage, profile)
	b.add(&b.orgs, "Organization/"+id, o)
	return id, payerID, nil
}

// subscriberRelationship maps an X12 individual relationship code (SBR02,
// PAT01) to http://terminology.hl7.org/CodeSystem/subscriber-relationship
// (MAPPING.md §4.1.2: 18 self, 01 spouse, 19 child, 53 common, others other).
func subscriberRelationship(x12Code string) string {
	switch strings.TrimSpace(x12Code) {
	case "18":
		return "self"
	case "01":
		return "spouse"
	case "19":
		return "child"
	case "53":
		return "common"
	}
	return "other"
}

// responsibilitySequence maps SBR01 to the order of a payer: P 1, S 2, T 3,
// A–H 4–11; 0 for U (unknown) and anything else.
func responsibilitySequence(sbr01 string) int {
	s := strings.ToUpper(strings.TrimSpace(sbr01))
	if len(s) != 1 {
		return 0
	}
	switch c := s[0]; {
	case c == 'P':
		return 1
	case c == 'S':
		return 2
	case c == 'T':
		return 3
	case c >= 'A' && c <= 'H':
		return 4 + int(c-'A')
	}
	return 0
}

// genderCode maps DMG03 to FHIR administrative gender.
func genderCode(dmg03 string) (cpb.AdministrativeGenderCode_Value, bool) {
	switch strings.ToUpper(strings.TrimSpace(dmg03)) {
	case "F":
		return cpb.AdministrativeGenderCode_FEMALE, true
	case "M":
		return cpb.AdministrativeGenderCode_MALE, true
	case "U":
		return cpb.AdministrativeGenderCode_UNKNOWN, true
	}
	return cpb.AdministrativeGenderCode_INVALID_UNINITIALIZED, false
}

// PatientKey837 returns the business key of the patient of an 837 claim
// (MAPPING.md §3.1, §9 D1): the payer and the subscriber's member id when
// the subscriber is the patient; for a dependent (loop 2000C), the payer and
// dependentMemberID when it is known, else the subscriber id with the
// patient's name and birth date. The 835 mapper uses it to derive the same
// Patient id. A nil claim gives the zero key (which IDs refuses as too thin).
func PatientKey837(c *x12.Claim837, dependentMemberID string) PatientKey {
	k := PatientKey{}
	if c == nil {
		return k
	}
	if c.Subscriber != nil {
		k.PayerID = payerIDOf(&c.Subscriber.Payer)
		k.SubscriberID = strings.TrimSpace(c.Subscriber.Name.ID)
	}
	if c.Patient == nil {
		k.MemberID = k.SubscriberID
		return k
	}
	if dependentMemberID != "" {
		k.MemberID = dependentMemberID
		return k
	}
	k.LastName = c.Patient.Name.LastOrOrgName
	k.FirstName = c.Patient.Name.First
	if c.Patient.Name.Demographics != nil {
		k.BirthDate = c.Patient.Name.Demographics.BirthDate
	}
	return k
}

// patient adds the Patient of the claim (2010BA when the subscriber is the
// patient, else 2010CA) and its Coverage with the destination payer.
func (b *claim837) patient() error {
	c := b.c
	sub := c.Subscriber
	subID := strings.TrimSpace(sub.Name.ID)
	if subID == "" {
		return b.errAt(ErrMissing, partyPos(&sub.Name), 9, 0, "Coverage.subscriberId", "subscriber has no member id (2010BA NM109)")
	}
	party := c.PatientParty()
	info := sub.PatientInfo
	memberID := subID
	if c.Patient != nil {
		info = &c.Patient.PatientInfo
		memberID = ""
		if f := b.m.opts.DependentMemberID; f != nil {
			v, err := f(b.ctx, Dependent{PayerID: b.payerID, SubscriberID: subID, Relationship: c.Patient.PatientInfo.Relationship, Patient: &c.Patient.Name})
			if err != nil {
				return b.errAt(ErrMissing, partyPos(party), 0, 0, "Patient.identifier", "dependent member id resolver failed").WithCause(err)
			}
			memberID = strings.TrimSpace(v)
		}
	}
	key := PatientKey837(c, memberID)
	id, err := b.m.ids.Patient(key)
	if err != nil {
		return b.errAt(ErrMissing, partyPos(party), 0, 0, "Patient.id", "patient has no member id, and no subscriber id, name and birth date to identify them by").WithCause(err)
	}
	b.patientID = id
	b.memberID = memberID

	pt := &ppb.Patient{
		Id:         &dtpb.Id{Value: id},
		Identifier: nonNilIDs(identifier(v2IDType("MB"), b.m.memberIDSystem(b.payerID), memberID)),
		Name:       nonNilNames(humanName(party.Entity)),
		Telecom:    telecom(party.Contacts),
		Address:    nonNilAddrs(address(party.Address)),
	}
	pos := partyPos(party)
	if d := party.Demographics; d != nil && (d.Gender != "" || d.BirthDate != "") {
		if d.Gender != "" {
			g, ok := genderCode(d.Gender)
			if !ok {
				return b.errAt(ErrInvalidCode, segPos(party.Loop, "DMG", pos), 3, 0, "Patient.gender", "DMG03 is not a gender code (F, M, U)").WithValue(d.Gender)
			}
			pt.Gender = &ppb.Patient_GenderCode{Value: g}
		}
		if d.BirthDate != "" {
			t, err := x12.ParseDate(d.BirthDate)
			if err != nil {
				return b.errAt(ErrInvalidValue, segPos(party.Loop, "DMG", pos), 2, 0, "Patient.birthDate", "DMG02 is not a CCYYMMDD date").WithCause(err)
			}
			pt.BirthDate = fdate(t)
		}
	}
	if pt.Gender == nil {
		// US Core requires gender; X12 leaves DMG out for a subscriber who is
		// not the patient and may omit it otherwise (MAPPING.md §3.2).
		pt.Gender = &ppb.Patient_GenderCode{Value: cpb.AdministrativeGenderCode_UNKNOWN}
		b.warn(pos, 0, 0, "Patient.gender", "gender-unknown", "no DMG03 gender: gender set to unknown")
	}
	if info != nil && info.DeathDate != "" {
		t, err := x12.ParseDate(info.DeathDate)
		if err != nil {
			return b.errAt(ErrInvalidValue, segPos(info2loop(c), "PAT", pos), 6, 0, "Patient.deceasedDateTime", "PAT06 is not a CCYYMMDD date").WithCause(err)
		}
		pt.Deceased = &ppb.Patient_DeceasedX{Choice: &ppb.Patient_DeceasedX_DateTime{DateTime: fdateTimeDay(t)}}
	}
	b.patientProfiled = memberID != "" && pt.Name != nil
	profile := ""
	if b.patientProfiled {
		profile = b.m.opts.C4BBVersion.Profile(C4BBPatient)
	} else if memberID == "" {
		b.unmet(pos, "Patient.identifier", "Patient.identifier:memberid.min", b.m.opts.C4BBVersion.Profile(C4BBPatient),
			"the dependent's member id is unknown (5010 sends none; configure Options.DependentMemberID): C4BB-Patient not claimed")
	} else {
		b.unmet(pos, "Patient.name", "Patient.name.min", b.m.opts.C4BBVersion.Profile(C4BBPatient), "no patient name: C4BB-Patient not claimed")
	}
	pt.Meta = b.m.meta(b.lineage, profile)
	b.add(&b.pats, "Patient/"+id, pt)
	return nil
}

// info2loop returns the loop that holds the patient's PAT segment.
func info2loop(c *x12.Claim837) *x12.Loop {
	if c.Patient != nil {
		return c.Patient.Loop
	}
	return c.Subscriber.Loop
}

// coverage adds the Coverage of the claim's patient with the destination
// payer (2000B SBR, 2010BA, 2010BB).
func (b *claim837) coverage() error {
	c := b.c
	sub := c.Subscriber
	subID := strings.TrimSpace(sub.Name.ID)
	rel := "self"
	if c.Patient != nil {
		rel = subscriberRelationship(c.Patient.PatientInfo.Relationship)
	}
	id, err := b.m.ids.Coverage(b.coverageKey(b.payerID, subID, rel == "self", sub.GroupNumber))
	if err != nil {
		return b.errAt(ErrMissing, partyPos(&sub.Name), 9, 0, "Coverage.id", "coverage cannot be identified").WithCause(err)
	}
	b.coverageID = id
	cov := b.coverageResource(id, &sub.SubscriberInfo, subID, rel, b.payerOrgID, b.memberID, b.payerID)
	b.coverageMeta(cov, partyPos(&sub.Name))
	b.add(&b.covs, "Coverage/"+id, cov)
	return nil
}

// coverageKey returns the key of a Coverage of the claim's patient: with
// self true the patient is the subscriber; otherwise the beneficiary is told
// apart by their member id, or by their Patient id when the member id is not
// known (two children of one subscriber have two Coverages).
func (b *claim837) coverageKey(payerID, subscriberID string, self bool, group string) CoverageKey {
	k := CoverageKey{PayerID: payerID, SubscriberID: subscriberID, GroupNumber: group}
	if !self {
		k.MemberID = b.memberID
		if k.MemberID == "" {
			k.MemberID = "patient:" + b.patientID
		}
	}
	return k
}

// coverageResource builds a Coverage.
func (b *claim837) coverageResource(id string, sbr *x12.SubscriberInfo, subscriberID, rel, payerOrgID, beneficiaryMemberID, payerID string) *cvpb.Coverage {
	cov := &cvpb.Coverage{
		Id:           &dtpb.Id{Value: id},
		Status:       &cvpb.Coverage_StatusCode{Value: cpb.FinancialResourceStatusCode_ACTIVE},
		SubscriberId: fstr(subscriberID),
		Beneficiary:  reference("Patient", b.patientID),
		Relationship: concept(terminology.SystemSubscriberRelationship, rel),
		Payor:        []*dtpb.Reference{reference("Organization", payerOrgID)},
		Order:        fpos(responsibilitySequence(sbr.PayerResponsibility)),
	}
	if beneficiaryMemberID != "" {
		cov.Identifier = nonNilIDs(identifier(v2IDType("MB"), b.m.memberIDSystem(payerID), beneficiaryMemberID))
	}
	if rel == "self" {
		cov.Subscriber = reference("Patient", b.patientID)
	}
	if sys, code, ok := b.m.opts.CoverageType(sbr.ClaimFilingIndicator); ok {
		cov.Type = concept(sys, code)
	}
	if g := strings.TrimSpace(sbr.GroupNumber); g != "" {
		cov.ClassValue = []*cvpb.Coverage_Class{{
			Type:  concept(terminology.SystemCoverageClass, "group"),
			Value: fstr(g),
			Name:  fstr(strings.TrimSpace(sbr.GroupName)),
		}}
	}
	return cov
}

// coverageMeta sets a Coverage's meta: C4BB-Coverage when its beneficiary
// claims C4BB-Patient (the profile requires it), else none.
func (b *claim837) coverageMeta(cov *cvpb.Coverage, pos x12.Position) {
	profile := b.m.opts.C4BBVersion.Profile(C4BBCoverage)
	if !b.patientProfiled {
		b.unmet(pos, "Coverage.beneficiary", "Coverage.beneficiary.targetProfile", profile, "the beneficiary cannot claim C4BB-Patient: C4BB-Coverage not claimed")
		profile = ""
	}
	cov.Meta = b.m.meta(b.lineage, profile)
}

// otherCoverages adds a payer Organization and a Coverage for each other
// payer of the claim (loops 2320/2330A/2330B: coordination of benefits).
func (b *claim837) otherCoverages() error {
	for i := range b.c.OtherPayers {
		op := &b.c.OtherPayers[i]
		path := "Claim.insurance"
		orgID, payerID, err := b.payer(&op.Payer, path)
		if err != nil {
			return err
		}
		subID := strings.TrimSpace(op.Subscriber.ID)
		if subID == "" {
			return b.errAt(ErrMissing, partyPos(&op.Subscriber), 9, 0, "Coverage.subscriberId", "other subscriber has no member id (2330A NM109)")
		}
		rel := subscriberRelationship(op.Relationship)
		id, err := b.m.ids.Coverage(b.coverageKey(payerID, subID, rel == "self", op.GroupNumber))
		if err != nil {
			return b.errAt(ErrMissing, partyPos(&op.Subscriber), 9, 0, "Coverage.id", "other coverage cannot be identified").WithCause(err)
		}
		memberID := ""
		if rel == "self" {
			memberID = subID
		}
		cov := b.coverageResource(id, &op.SubscriberInfo, subID, rel, orgID, memberID, payerID)
		b.coverageMeta(cov, partyPos(&op.Subscriber))
		b.add(&b.covs, "Coverage/"+id, cov)
		b.otherCoverageIDs = append(b.otherCoverageIDs, id)
	}
	return nil
}

// facility adds the US Core Location (and, when it has an NPI, the C4BB
// Organization) of a service facility loop (NM1*77) and returns the
// Location's and Organization's ids.
func (b *claim837) facility(p *x12.Party, path string) (locID, orgID string) {
	npi := npiOf(p.Entity)
	k := LocationKey{NPI: npi}
	if a := p.Address; a != nil {
		k.Line, k.Line2, k.City, k.State, k.PostalCode = a.Line1, a.Line2, a.City, a.State, a.PostalCode
	}
	id, err := b.m.ids.Location(k)
	if err != nil {
		b.warn(partyPos(p), 0, 0, path, "facility-unidentified", "service facility has no NPI and no address: left out")
		return "", ""
	}
	if !b.seen["Location/"+id] {
		loc := &lpb.Location{
			Id:         &dtpb.Id{Value: id},
			Identifier: nonNilIDs(npiIdentifier(npi)),
			Name:       fstr(strings.TrimSpace(p.LastOrOrgName)),
			Telecom:    telecom(p.Contacts),
			Address:    address(p.Address),
		}
		profile := USCoreProfile(USCoreLocation)
		if loc.Name == nil {
			b.unmet(partyPos(p), "Location.name", "Location.name.min", profile, "no facility name: US Core Location not claimed")
			profile = ""
		}
		b.checkNPI(npi, p, "Location.identifier")
		loc.Meta = b.m.meta(b.lineage, profile)
		b.add(&b.locs, "Location/"+id, loc)
	}
	if npi != "" && !p.IsPerson() {
		orgID, _ = b.organization(p, path, nil)
	}
	return id, orgID
}

// encounter adds the US Core Encounter of an institutional claim (MAPPING.md
// §4.2, §9 D14) and returns its id.
func (b *claim837) encounter(ii *instInfo) (string, error) {
	c := b.c
	start := ii.statement.Start
	if !ii.admission.Start.IsZero() {
		start = ii.admission.Start
	}
	id, err := b.m.ids.Encounter(EncounterKey{BillingProvider: b.billingKey, PatientControlNumber: c.PatientControlNumber, Start: start.Format("20060102")})
	if err != nil {
		return "", b.errAt(ErrMissing, c.Pos(), 1, 0, "Encounter.id", "encounter cannot be identified").WithCause(err)
	}
	status := cpb.EncounterStatusCode_FINISHED
	if ii.stillPatient {
		status = cpb.EncounterStatusCode_IN_PROGRESS
	}
	class, text := "AMB", "Outpatient institutional claim, type of bill "+ii.tob.String()
	if ii.inpatient {
		class, text = "IMP", "Inpatient institutional claim, type of bill "+ii.tob.String()
	}
	enc := &encpb.Encounter{
		Id:         &dtpb.Id{Value: id},
		Status:     &encpb.Encounter_StatusCode{Value: status},
		ClassValue: coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", class),
		Type:       []*dtpb.CodeableConcept{conceptText(text)},
		Subject:    reference("Patient", b.patientID),
		Period:     ii.encounterPeriod(b.m.opts.TimeZone),
	}
	for _, ct := range b.attending {
		enc.Participant = append(enc.Participant, &encpb.Encounter_Participant{
			Type:       []*dtpb.CodeableConcept{concept("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "ATND")},
			Individual: ct,
		})
	}
	if ii.pointOfOrigin != nil || ii.discharge != nil {
		enc.Hospitalization = &encpb.Encounter_Hospitalization{AdmitSource: ii.pointOfOrigin, DischargeDisposition: ii.discharge}
	}
	if b.facilityLocID != "" {
		enc.Location = []*encpb.Encounter_Location{{Location: reference("Location", b.facilityLocID)}}
	}
	if b.billingRef != nil && b.billingType == "Organization" {
		enc.ServiceProvider = b.billingRef
	}
	enc.Meta = b.m.meta(b.lineage, USCoreProfile(USCoreEncounter))
	b.add(&b.encs, "Encounter/"+id, enc)
	return id, nil
}

// nonNilIDs returns the non-nil identifiers.
func nonNilIDs(ids ...*dtpb.Identifier) []*dtpb.Identifier {
	var out []*dtpb.Identifier
	for _, i := range ids {
		if i != nil {
			out = append(out, i)
		}
	}
	return out
}

// nonNilNames returns the non-nil names.
func nonNilNames(ns ...*dtpb.HumanName) []*dtpb.HumanName {
	var out []*dtpb.HumanName
	for _, n := range ns {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// nonNilAddrs returns the non-nil addresses.
func nonNilAddrs(as ...*dtpb.Address) []*dtpb.Address {
	var out []*dtpb.Address
	for _, a := range as {
		if a != nil {
			out = append(out, a)
		}
	}
	return out
}

// segPos returns the position of the first segment id of loop l, or def.
func segPos(l *x12.Loop, id string, def x12.Position) x12.Position {
	if l != nil {
		if s, ok := l.Segment(id); ok {
			return s.Pos()
		}
	}
	return def
}

// errNoMappingIs reports whether err is a terminology no-mapping answer.
func errNoMappingIs(err error) bool { return errors.Is(err, terminology.ErrNoMapping) }
