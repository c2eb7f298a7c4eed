package fhirmap

// The resources an 835 claim payment refers to: the payee (1000B), and,
// when no 837 claim matches, the rendering provider (2100 NM1*82), the
// patient (NM1*QC) and the coverage (NM1*IL, REF*1L).

import (
	"strings"

	"google.golang.org/protobuf/proto"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"
	eobpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/explanation_of_benefit_go_proto"
	opb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"

	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

// partyPosition returns the position of a name loop's leading segment, def
// when unknown.
func partyPosition(p *x12.Party, def Position) Position {
	if p != nil && p.Loop != nil && len(p.Loop.Segments) > 0 {
		return PositionOf(p.Loop.Lead().Pos(), 0)
	}
	return def
}

// unmetParty records a requirement the resource key ("Type/id") of the
// result cannot meet; it reaches Result.Unmet only if the resource is
// emitted (see eob835.referenced).
func (b *eob835) unmetParty(key string, pos Position, path, rule, profile, msg string) {
	b.partyUnmet = append(b.partyUnmet, partyIssue{key: key, issue: Issue{Pos: pos, Path: path, Rule: rule, Profile: profile, Message: msg}})
}

// partyIssue is an unmet requirement (or a warning) about a resource of the
// result.
type partyIssue struct {
	key     string
	issue   Issue
	warning bool
}

// parties835 sets provider, payee, patient, insurance and (without a match)
// the care team, adding the resources they refer to that the 837 side did
// not produce.
func (b *eob835) parties835() error {
	e := b.eob
	var payee *dtpb.Reference
	if id := b.payeePractitioner(); id != "" {
		payee = reference("Practitioner", id)
	} else {
		payeeID, err := b.payeeOrganization()
		if err != nil {
			return err
		}
		payee = reference("Organization", payeeID)
	}
	e.Payee = &eobpb.ExplanationOfBenefit_Payee{Type: concept(terminology.SystemPayeeType, "provider"), Party: payee}
	if c := b.claim; c != nil {
		e.Patient = cloneRef(c.GetPatient())
		e.Provider = cloneRef(c.GetProvider())
		// The 837 side wrote the claim's insurer and provider; the 835's
		// versions are emitted only when they are other resources.
		if refKey(c.GetInsurer()) == "Organization/"+b.payerOrgID {
			b.drop("Organization/" + b.payerOrgID)
		}
		if k := refKey(payee); refKey(c.GetProvider()) == k {
			b.drop(k)
		}
		return nil
	}
	e.Provider = cloneRef(payee)
	b.rendering()
	return b.patientAndCoverage()
}

// payeePractitioner returns the id of the Practitioner the payee is when its
// NPI (1000B N103 XX) is a person's, "" otherwise. N1*PE does not say
// whether the payee is a person or an organization, but an NPI names one or
// the other, never both: the payee is a person when the matched claim's
// billing provider is the Practitioner of that NPI (2010AA NM102 = 1, a
// provider billing under their own NPI), or, without a claim, when the claim
// payment's rendering provider (2100 NM1*82, NM102 = 1) has that NPI and the
// EOB carries it (professional and oral). Building an Organization from a
// person's NPI would give the same NPI to two resources of different types.
func (b *eob835) payeePractitioner() string {
	if b.payeeNPI == "" {
		return ""
	}
	id, err := b.m.ids.Practitioner(PractitionerKey{NPI: b.payeeNPI})
	if err != nil {
		return ""
	}
	if c := b.claim; c != nil {
		if refKey(c.GetProvider()) == "Practitioner/"+id {
			return id
		}
		return ""
	}
	if (b.kind == EOBProfessional || b.kind == EOBOral) && b.renderNPI == b.payeeNPI {
		if r, ok := b.p.Entity("82"); ok && r.IsPerson() {
			return id
		}
	}
	return ""
}

// drop removes an emitted resource by "Type/id".
func (b *eob835) drop(key string) {
	for i, r := range b.parties {
		if refKeyOf(r) == key {
			b.parties = append(b.parties[:i:i], b.parties[i+1:]...)
			return
		}
	}
}

// refKeyOf returns "Type/id" of a resource built here.
func refKeyOf(r proto.Message) string {
	switch v := r.(type) {
	case *opb.Organization:
		return "Organization/" + v.GetId().GetValue()
	case *prpb.Practitioner:
		return "Practitioner/" + v.GetId().GetValue()
	case *ppb.Patient:
		return "Patient/" + v.GetId().GetValue()
	case *cvpb.Coverage:
		return "Coverage/" + v.GetId().GetValue()
	}
	return ""
}

func cloneRef(r *dtpb.Reference) *dtpb.Reference {
	if r == nil {
		return nil
	}
	return proto.Clone(r).(*dtpb.Reference)
}

// payeeOrganization adds the payee Organization (loop 1000B) with the
// shared party builders and returns its id: by NPI (N103 XX), else tax id
// (N103 FI, or REF*TJ); a payee with neither (N103 XV, a health plan) gets an
// Organization of its own, identified by that id, without a C4BB profile.
func (b *eob835) payeeOrganization() (string, error) {
	pe := b.h.Payee // a copy: the record's context is shared, read-only
	if _, ok := pe.Refs.Get("EI"); !ok && b.payeeTIN != "" && !strings.EqualFold(strings.TrimSpace(pe.IDQualifier), "FI") {
		pe.Refs = append(append(x12.Refs(nil), pe.Refs...), x12.Ref{Qualifier: "EI", Value: b.payeeTIN})
	}
	if b.payeeNPI != "" || b.payeeTIN != "" {
		n := b.partyIssues()
		id, ok := b.ps.organization(&pe, "ExplanationOfBenefit.payee", nil)
		if ok {
			b.takeParties("Organization/"+id, n)
			return id, nil
		}
	}
	pos := partyPosition(&pe, b.pos)
	other := strings.TrimSpace(pe.ID)
	if other == "" {
		return "", NewError(ErrMissing, withElement(pos, "N1", 4), "ExplanationOfBenefit.payee", "payee has no NPI, tax id or other identifier (N104, REF*TJ)")
	}
	id := b.m.ids.ID("Organization", "835-payee", strings.TrimSpace(pe.IDQualifier), other)
	o := &opb.Organization{Id: &dtpb.Id{Value: id}, Active: fbool(true),
		Name: fstr(strings.TrimSpace(pe.LastOrOrgName)), Address: nonNilAddrs(address(pe.Address)), Telecom: telecom(pe.Contacts)}
	b.unmetParty("Organization/"+id, pos, "Organization.identifier", "Organization.identifier.min", b.m.opts.C4BBVersion.Profile(C4BBOrganization),
		"payee has no NPI or tax id: C4BB-Organization not claimed")
	o.Meta = b.m.meta(b.lineage)
	b.add("Organization/"+id, o)
	return id, nil
}

// rendering adds the rendering provider of the claim payment (2100 NM1*82,
// a person identified by NPI) to the care team of a professional or oral
// EOB built without its claim. An organization as rendering provider does
// not fit those profiles' care team invariants (rendering ⇒ Practitioner)
// and is left out.
func (b *eob835) rendering() {
	if b.kind != EOBProfessional && b.kind != EOBOral || b.renderNPI == "" {
		return
	}
	r, ok := b.p.Entity("82")
	if !ok || !r.IsPerson() {
		return
	}
	n := b.partyIssues()
	id, ok := b.ps.practitioner(&x12.Party{LoopID: "2100", Entity: r}, "ExplanationOfBenefit.careTeam[0].provider", nil)
	if !ok {
		return
	}
	b.takeParties("Practitioner/"+id, n)
	b.eob.CareTeam = append(b.eob.CareTeam, &eobpb.ExplanationOfBenefit_CareTeam{
		Sequence: fpos(1),
		Provider: reference("Practitioner", id),
		Role:     concept(systemC4BBCareTeamRole, "rendering"),
	})
	b.careSeq[1] = true
}

// memberIDQualifiers are the NM108 qualifiers of a member's own id in 835
// NM1*QC and NM1*IL (34, a social security number, is never used).
var memberIDQualifiers = map[string]bool{"MI": true, "HN": true, "II": true, "MR": true}

// patientAndCoverage adds the Patient (NM1*QC, corrected by NM1*74) and the
// Coverage of an EOB built without its claim, and sets EOB.patient and
// EOB.insurance (MAPPING.md §3.1, D1).
func (b *eob835) patientAndCoverage() error {
	p := b.p
	qc, ok := p.Entity("QC")
	if !ok {
		return b.errAt(ErrMissing, "NM1", 1, "ExplanationOfBenefit.patient", "claim payment has no patient name (NM1*QC)")
	}
	il, hasIL := p.Entity("IL")
	memberID := ""
	if memberIDQualifiers[strings.ToUpper(strings.TrimSpace(qc.IDQualifier))] {
		memberID = strings.TrimSpace(qc.ID)
	}
	ilID := ""
	if hasIL && memberIDQualifiers[strings.ToUpper(strings.TrimSpace(il.IDQualifier))] {
		ilID = strings.TrimSpace(il.ID)
	}
	// The insured is the patient when NM1*IL is absent, carries the
	// patient's id, or names the same person.
	self := !hasIL || ilID != "" && ilID == memberID || samePerson(qc, il)
	if memberID == "" && self {
		memberID = ilID
	}
	subscriberID := ilID
	if subscriberID == "" && self {
		subscriberID = memberID
	}
	name := qc
	if c, ok := p.Entity("74"); ok {
		name = correctedName(qc, c)
	}
	var patientID string
	if memberID != "" {
		id, err := b.m.ids.Patient(PatientKey{PayerID: b.payerID, MemberID: memberID})
		if err != nil {
			return b.errAt(ErrMissing, "NM1", 9, "ExplanationOfBenefit.patient", "patient cannot be identified").WithCause(err)
		}
		patientID = id
	} else {
		patientID = b.m.ids.ID("Patient", "835", b.payerID, subscriberID, name.LastOrOrgName, name.First)
	}
	pt := &ppb.Patient{
		Id:         &dtpb.Id{Value: patientID},
		Identifier: nonNilIDs(identifier(v2IDType("MB"), b.m.MemberIDSystem(b.payerID), memberID)),
		Name:       nonNilNames(humanName(name)),
		Gender:     &ppb.Patient_GenderCode{Value: cpb.AdministrativeGenderCode_UNKNOWN},
	}
	pprofile := b.m.opts.C4BBVersion.Profile(C4BBPatient)
	patientProfiled := true
	switch {
	case memberID == "":
		b.unmetParty("Patient/"+patientID, b.pos, "Patient.identifier", "Patient.identifier:memberid.min", pprofile, "the 835 carries no member id of the patient (NM1*QC NM108 MI, HN, II or MR): C4BB-Patient not claimed")
		pprofile, patientProfiled = "", false
	case pt.Name == nil:
		b.unmetParty("Patient/"+patientID, b.pos, "Patient.name", "Patient.name.min", pprofile, "no patient name: C4BB-Patient not claimed")
		pprofile, patientProfiled = "", false
	}
	pt.Meta = b.m.meta(b.lineage, pprofile)
	b.add("Patient/"+patientID, pt)
	b.eob.Patient = reference("Patient", patientID)

	group, _ := p.Refs.Get("1L")
	group = strings.TrimSpace(group)
	var covID string
	if subscriberID != "" {
		ben := ""
		if !self {
			ben = memberID
			if ben == "" {
				ben = "patient:" + patientID
			}
		}
		id, err := b.m.ids.Coverage(CoverageKey{PayerID: b.payerID, SubscriberID: subscriberID, MemberID: ben, GroupNumber: group})
		if err != nil {
			return b.errAt(ErrMissing, "NM1", 9, "ExplanationOfBenefit.insurance", "coverage cannot be identified").WithCause(err)
		}
		covID = id
	} else {
		covID = b.m.ids.ID("Coverage", "835", b.payerID, patientID, group)
	}
	cov := &cvpb.Coverage{
		Id:           &dtpb.Id{Value: covID},
		Status:       &cvpb.Coverage_StatusCode{Value: cpb.FinancialResourceStatusCode_ACTIVE},
		Identifier:   nonNilIDs(identifier(v2IDType("MB"), b.m.MemberIDSystem(b.payerID), memberID)),
		SubscriberId: fstr(subscriberID),
		Beneficiary:  reference("Patient", patientID),
		Payor:        []*dtpb.Reference{reference("Organization", b.payerOrgID)},
	}
	if self {
		cov.Relationship = concept(terminology.SystemSubscriberRelationship, "self")
		cov.Subscriber = reference("Patient", patientID)
	}
	if f := b.m.opts.CoverageType; f != nil {
		if sys, code, ok := f(p.ClaimFilingIndicator); ok {
			cov.Type = concept(sys, code)
		}
	}
	if group != "" {
		cov.ClassValue = []*cvpb.Coverage_Class{{Type: concept(terminology.SystemCoverageClass, "group"), Value: fstr(group)}}
	}
	cprofile := b.m.opts.C4BBVersion.Profile(C4BBCoverage)
	switch {
	case !patientProfiled:
		b.unmetParty("Coverage/"+covID, b.pos, "Coverage.beneficiary", "Coverage.beneficiary.targetProfile", cprofile, "the beneficiary cannot claim C4BB-Patient: C4BB-Coverage not claimed")
		cprofile = ""
	case subscriberID == "":
		b.unmetParty("Coverage/"+covID, b.pos, "Coverage.subscriberId", "Coverage.subscriberId.min", cprofile, "the 835 carries no subscriber id (NM1*IL): C4BB-Coverage not claimed")
		cprofile = ""
	case cov.Relationship == nil:
		b.unmetParty("Coverage/"+covID, b.pos, "Coverage.relationship", "Coverage.relationship.min", cprofile, "the 835 does not say how the patient relates to the insured: C4BB-Coverage not claimed")
		cprofile = ""
	}
	cov.Meta = b.m.meta(b.lineage, cprofile)
	b.add("Coverage/"+covID, cov)
	b.eob.Insurance = []*eobpb.ExplanationOfBenefit_Insurance{{Focal: fbool(true), Coverage: reference("Coverage", covID)}}
	return nil
}

// samePerson reports whether two person names are the same (last and first
// name, case-insensitive), both being present.
func samePerson(a, c x12.Entity) bool {
	la, lc := strings.TrimSpace(a.LastOrOrgName), strings.TrimSpace(c.LastOrOrgName)
	return la != "" && strings.EqualFold(la, lc) && strings.EqualFold(strings.TrimSpace(a.First), strings.TrimSpace(c.First))
}

// correctedName applies the parts of a corrected name (NM1*74) to a name.
func correctedName(orig, corr x12.Entity) x12.Entity {
	out := orig
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&out.LastOrOrgName, corr.LastOrOrgName}, {&out.First, corr.First}, {&out.Middle, corr.Middle},
		{&out.Prefix, corr.Prefix}, {&out.Suffix, corr.Suffix},
	} {
		if strings.TrimSpace(f.v) != "" {
			*f.dst = f.v
		}
	}
	return out
}
