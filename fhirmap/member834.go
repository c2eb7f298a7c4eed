package fhirmap

// 834 Benefit Enrollment and Maintenance (005010X220A1): one member (loop
// 2000, INS) → C4BB Patient, C4BB Coverage (one per 2300 HD loop),
// C4BB RelatedPerson (2100F custodial parent, 2100G responsible persons)
// and the payer and sponsor Organizations (MAPPING.md §4.7).

import (
	"context"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"
	opb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	rppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/related_person_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

func init() {
	recordMappers[x12.Kind834Member] = func(m *Mapper, ctx context.Context, rec x12.Record) (*Result, error) {
		return m.MapMember834(ctx, rec.(*x12.Member834))
	}
}

// ExtSourceVersion is the URL of the extension on meta that carries the
// source version of a resource (Result.SourceVersion), for the stale-update
// guard: valueString, for an 834 the transaction set's creation date and
// time as 16 digits (CCYYMMDDHHMMSSDD, see [SourceVersion834]). It holds no
// PHI. It sits on meta.extension rather than meta.tag because servers merge
// tags across versions.
const ExtSourceVersion = ExtensionBase + "source-version"

// Code systems of the 834 mapping.
const (
	systemV3Confidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	systemV3MaritalStatus   = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
	systemV3NullFlavor      = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
	systemV3RoleCode        = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
	systemBCP47             = "urn:ietf:bcp:47"
	systemCDCRace           = "urn:oid:2.16.840.1.113883.6.238"
	extUSCoreRace           = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
	extUSCoreEthnicity      = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
)

// EnrollmentOptions configures the 834 mapping ([Options].Enrollment). The
// zero value (and a nil pointer) means the defaults given with each field.
type EnrollmentOptions struct {
	// PayerID is the payer id the payer's 837 and 835 files carry (837
	// NM1*PR NM109, 835 N1*PR N104). Patient, Coverage and payer
	// Organization ids are derived from it, so set it when the 834's 1000B
	// N1*IN carries a tax id (N103 FI) rather than that payer id: only then
	// do the ids agree with the claims side. Empty means N104 when N103 is
	// XV or PI, else none (the payer is then identified by its tax id and a
	// warning says so).
	PayerID string

	// DependentIDRefs lists the loop 2000 REF qualifiers, in priority order,
	// whose value is a dependent's own member id (MAPPING.md §3.1: 23 client
	// number, ZZ, 17...). Nil means {"23"}; an empty non-nil slice means
	// none. When none is present, Options.DependentMemberID (the resolver the
	// 837 side uses) is asked; when it knows none either, the dependent is
	// keyed by subscriber id, name and birth date, exactly like an 837
	// dependent without an id, and their Patient cannot claim C4BB-Patient.
	DependentIDRefs []string

	// CoverageType maps the insurance line code (HD03) to Coverage.type
	// (MAPPING.md §4.7.3, §9 D15). Nil means [DefaultEnrollmentCoverageType].
	CoverageType func(insuranceLine string) (system, code string, ok bool)

	// FullFile treats every 834 as a full file (a snapshot of all enrolled
	// members) for [Mapper.ScanFullFile], even without BGN08 = 4 or RX.
	FullFile bool

	// SSN emits the member's social security number (NM108 = 34) as a
	// Patient identifier (http://hl7.org/fhir/sid/us-ssn). Off by default
	// (MAPPING.md §4.7.1: privacy).
	SSN bool
}

// enrollment returns the Mapper's enrollment options with defaults.
func (m *Mapper) enrollment() EnrollmentOptions {
	var o EnrollmentOptions
	if m.opts.Enrollment != nil {
		o = *m.opts.Enrollment
	}
	if o.DependentIDRefs == nil {
		o.DependentIDRefs = []string{"23"}
	}
	if o.CoverageType == nil {
		o.CoverageType = DefaultEnrollmentCoverageType
	}
	return o
}

// DefaultEnrollmentCoverageType maps an 834 insurance line code (HD03) to a
// v3-ActCode insurance policy code: HLT and MM (health, major medical) → HIP,
// HMO → HMO, PPO → PPO, POS → POS, EPO → MCPOL (managed care policy), DEN and
// DCP → DENTAL, VIS → VISPOL, PDG and MOD → DRUGPOL, LTC → LTC, AK (mental
// health) → MENTPOL. Other codes have no type.
//
// The line alone does not tell Medicare, Medicaid and commercial coverage
// apart, so no Source of Payment Typology code (the US Core extensible
// binding) is guessed: a payer that knows its program sets
// EnrollmentOptions.CoverageType to its own table (MAPPING.md §4.7.3, D15).
func DefaultEnrollmentCoverageType(insuranceLine string) (system, code string, ok bool) {
	switch strings.ToUpper(strings.TrimSpace(insuranceLine)) {
	case "HLT", "MM":
		code = "HIP"
	case "HMO":
		code = "HMO"
	case "PPO":
		code = "PPO"
	case "POS":
		code = "POS"
	case "EPO":
		code = "MCPOL"
	case "DEN", "DCP":
		code = "DENTAL"
	case "VIS":
		code = "VISPOL"
	case "PDG", "MOD":
		code = "DRUGPOL"
	case "LTC":
		code = "LTC"
	case "AK":
		code = "MENTPOL"
	default:
		return "", "", false
	}
	return systemV3ActCode, code, true
}

// SourceVersion834 returns the source version of the members of an 834
// transaction set: the creation date (BGN03) and time (BGN04) as 16 digits,
// CCYYMMDDHHMMSSDD (the time padded with zeros), so that versions compare as
// strings. It returns "" when BGN03 is not a date.
func SourceVersion834(h *x12.Header834) string {
	if h == nil {
		return ""
	}
	d := strings.TrimSpace(h.Date)
	if _, err := x12.ParseDate(d); err != nil {
		return ""
	}
	var b [16]byte
	copy(b[:], d)
	n := 8
	for i := 0; i < len(h.Time) && n < len(b); i++ {
		if c := h.Time[i]; c >= '0' && c <= '9' {
			b[n] = c
			n++
		}
	}
	for ; n < len(b); n++ {
		b[n] = '0'
	}
	return string(b[:])
}

// hasExtension reports whether one of es has the url.
func hasExtension(es []*dtpb.Extension, url string) bool {
	for _, e := range es {
		if e.GetUrl().GetValue() == url {
			return true
		}
	}
	return false
}

// withVersion adds the source version extension to mt.
func withVersion(mt *dtpb.Meta, version string) *dtpb.Meta {
	if version != "" {
		mt.Extension = append(mt.Extension, &dtpb.Extension{
			Url:   furi(ExtSourceVersion),
			Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: fstr(version)}},
		})
	}
	return mt
}

// member834 holds the state of mapping one 834 member.
type member834 struct {
	partySet
	ctx     context.Context
	mem     *x12.Member834
	eo      EnrollmentOptions
	version string
	pos     x12.Position

	pats, rps, covs []proto.Message

	payerID    string // payer id (may be empty)
	scope      string // payer id, else the payer's tax id: the scope of member ids
	payerOrgID string
	payerOK    bool // the payer Organization claims C4BB-Organization
	sponsorID  string

	subscriberID    string
	memberID        string // the member's own member id ("" when unknown)
	patientID       string
	patientProfiled bool
	self            bool
}

// MapMember834 maps one 834 member (loop 2000) to a C4BB Patient, a C4BB
// Coverage per health coverage loop (2300), C4BB RelatedPersons for the
// custodial parent (2100F) and responsible persons (2100G), the payer
// (1000B) and sponsor (1000A) Organizations and the primary care providers
// (2310 NM1*P3, Patient.generalPractitioner), in dependency order:
// Organizations, Practitioners, Patient, RelatedPersons, Coverages.
//
// Maintenance semantics (MAPPING.md §4.7.2; the HD01 of a coverage loop wins
// over INS03): 021 addition, 001 change, 026 correction and 030 audit or
// compare give an active Coverage with the benefit period (DTP*348/349, a
// 348 range giving both, falling back to the member's 356/357 and, for the
// begin of an addition or reinstatement and the end of a termination, 303);
// 024 cancellation or termination sets period.end (never a delete; status
// cancelled only when the coverage ends on or before its start, a
// rescission, MAPPING.md D12); 025 reinstatement is active with no end
// unless 349 (or a 348 range) gives a new one; HD01
// 002 delete marks the Coverage entered-in-error; HD01 032 changes no
// Coverage.
//
// Result.SourceVersion and the [ExtSourceVersion] extension on every
// resource's meta carry [SourceVersion834] for the stale-update guard.
//
// Ids agree with the 837 and 835 side: a subscriber is keyed by payer id and
// subscriber id (REF*0F), a dependent by their own member id (see
// [EnrollmentOptions].DependentIDRefs) or else like an 837 dependent without
// one; a Coverage by payer, subscriber id, dependent and group number (REF*1L,
// else header REF*38), plus the insurance line for lines other than medical
// ones (HLT, HMO, PPO, POS, EPO, MM), so that a member's dental or vision
// coverage is a Coverage of its own while the medical one is the Coverage an
// 837 claim names.
func (m *Mapper) MapMember834(ctx context.Context, mem *x12.Member834) (*Result, error) {
	if mem == nil || mem.Header == nil {
		return nil, NewError(ErrMissing, Position{}, "Coverage", "834 member without its transaction set header")
	}
	b := &member834{
		partySet: newPartySet(m, m.Lineage(mem), &Result{}),
		ctx:      ctx, mem: mem, eo: m.enrollment(),
		version: SourceVersion834(mem.Header),
		pos:     mem.Pos(),
	}
	b.res.SourceVersion = b.version
	if err := b.build(); err != nil {
		return nil, err
	}
	// the primary care providers come from the shared provider builders,
	// which know no source version
	for _, g := range [][]proto.Message{b.orgs, b.pracs} {
		for _, r := range g {
			var mt *dtpb.Meta
			switch v := r.(type) {
			case *opb.Organization:
				mt = v.GetMeta()
			case *prpb.Practitioner:
				mt = v.GetMeta()
			}
			if mt != nil && !hasExtension(mt.GetExtension(), ExtSourceVersion) {
				withVersion(mt, b.version)
			}
		}
	}
	n := len(b.orgs) + len(b.pracs) + len(b.pats) + len(b.rps) + len(b.covs)
	b.res.Resources = make([]proto.Message, 0, n)
	for _, g := range [][]proto.Message{b.orgs, b.pracs, b.pats, b.rps, b.covs} {
		b.res.Resources = append(b.res.Resources, g...)
	}
	return b.res, nil
}

// meta returns a resource's meta with the lineage, profile, source version
// and, for a restricted member (INS13 = R), the confidentiality label.
func (b *member834) meta(profile string) *dtpb.Meta {
	mt := withVersion(b.m.meta(b.lineage, profile), b.version)
	if strings.EqualFold(strings.TrimSpace(b.mem.Confidentiality), "R") {
		mt.Security = []*dtpb.Coding{coding(systemV3Confidentiality, "R")}
	}
	return mt
}

func (b *member834) build() error {
	mem := b.mem
	b.self = strings.EqualFold(strings.TrimSpace(mem.Subscriber), "Y")
	b.subscriberID = strings.TrimSpace(mem.SubscriberID())
	if b.subscriberID == "" {
		return b.errAt(ErrMissing, segPos(mem.Loop(), "REF", b.pos), 2, 0, "Coverage.subscriberId", "member has no subscriber identifier (REF*0F)")
	}
	if err := b.checkMaintenance(mem.MaintenanceType, b.pos, 3, memberMaintenance); err != nil {
		return err
	}
	if err := b.payer(); err != nil {
		return err
	}
	b.sponsor()
	if err := b.patient(); err != nil {
		return err
	}
	b.relatedPersons()
	if len(mem.Coverages) == 0 && strings.TrimSpace(mem.MaintenanceType) == "024" {
		b.warn(b.pos, 3, 0, "Coverage.period.end", "termination-without-coverage",
			"member termination (INS03 024) without health coverage loops (2300): no Coverage to end")
	}
	for i := range mem.Coverages {
		if err := b.coverage(&mem.Coverages[i]); err != nil {
			return err
		}
	}
	return nil
}

var (
	memberMaintenance   = map[string]bool{"001": true, "021": true, "024": true, "025": true, "030": true}
	coverageMaintenance = map[string]bool{"001": true, "002": true, "021": true, "024": true, "025": true, "026": true, "030": true, "032": true}
)

// checkMaintenance reports a maintenance type code outside the TR3's list.
func (b *member834) checkMaintenance(code string, pos x12.Position, element int, valid map[string]bool) error {
	c := strings.TrimSpace(code)
	if c == "" && element == 1 {
		return nil // HD01 absent: INS03 applies
	}
	if !valid[c] {
		return b.errAt(ErrInvalidCode, pos, element, 0, "Coverage.status", "maintenance type code is not one of the 834 codes").WithValue(c)
	}
	return nil
}

// payer adds the C4BB Organization of the 1000B payer (N1*IN).
func (b *member834) payer() error {
	p := &b.mem.Header.Payer
	q := strings.ToUpper(strings.TrimSpace(p.IDQualifier))
	n104 := strings.TrimSpace(p.ID)
	var tin string
	switch q {
	case "XV", "PI":
		b.payerID = n104
	case "FI", "24":
		tin = n104
	}
	if b.eo.PayerID != "" {
		b.payerID = strings.TrimSpace(b.eo.PayerID)
	}
	b.scope = b.payerID
	if b.scope == "" {
		b.scope = tin
		b.warn(partyPos(p), 3, 0, "Organization.identifier", "payer-id-unknown",
			"1000B carries no payer id: member ids are scoped by the payer's tax id (set Options.Enrollment.PayerID so that ids agree with 837 and 835 files)")
	}
	id, err := b.m.ids.Payer(PayerKey{PayerID: b.payerID, TIN: tin})
	if err != nil {
		return b.errAt(ErrMissing, partyPos(p), 4, 0, "Coverage.payor", "payer (1000B N1*IN) has no payer id or tax id").WithCause(err)
	}
	b.payerOrgID = id
	o := &opb.Organization{
		Id: &dtpb.Id{Value: id},
		Identifier: nonNilIDs(
			identifier(c4bbIDType("payerid"), b.m.payerIDSystem(), b.payerID),
			tinIdentifier(tin),
		),
		Active:  fbool(true),
		Name:    fstr(strings.TrimSpace(p.LastOrOrgName)),
		Address: nonNilAddrs(address(p.Address)),
		Telecom: telecom(p.Contacts),
	}
	profile := b.m.opts.C4BBVersion.Profile(C4BBOrganization)
	b.payerOK = o.Name != nil
	if !b.payerOK {
		b.unmet(partyPos(p), "Organization.name", "Organization.name.min", profile, "no payer name: C4BB-Organization not claimed")
		profile = ""
	}
	o.Meta = withVersion(b.m.meta(b.lineage, profile), b.version)
	b.add(&b.orgs, "Organization/"+id, o)
	return nil
}

// sponsor adds the Organization of the 1000A sponsor (N1*P5), the
// Coverage.policyHolder, when it has a tax id (N103 FI or 24) or another id.
func (b *member834) sponsor() {
	p := &b.mem.Header.Sponsor
	q := strings.ToUpper(strings.TrimSpace(p.IDQualifier))
	n104 := strings.TrimSpace(p.ID)
	if n104 == "" || strings.TrimSpace(p.LastOrOrgName) == "" {
		return
	}
	var id, tin string
	var err error
	switch q {
	case "FI", "24":
		tin = n104
		id, err = b.m.ids.Organization(OrganizationKey{TIN: tin})
	default:
		id = b.m.ids.ID("Organization", "834-sponsor", q, n104)
	}
	if err != nil {
		return
	}
	b.sponsorID = id
	o := &opb.Organization{
		Id:         &dtpb.Id{Value: id},
		Identifier: nonNilIDs(tinIdentifier(tin)),
		Active:     fbool(true),
		Name:       fstr(strings.TrimSpace(p.LastOrOrgName)),
		Address:    nonNilAddrs(address(p.Address)),
		Telecom:    telecom(p.Contacts),
	}
	if tin == "" {
		o.Identifier = nonNilIDs(identifier(nil, "urn:fhirsync:x12:sponsor-id:"+q, n104))
	}
	o.Meta = withVersion(b.m.meta(b.lineage, b.m.opts.C4BBVersion.Profile(C4BBOrganization)), b.version)
	b.add(&b.orgs, "Organization/"+id, o)
}

// dependentMemberID returns a dependent's own member id: the first
// configured REF, else the DependentMemberID resolver's answer.
func (b *member834) dependentMemberID() (string, error) {
	for _, q := range b.eo.DependentIDRefs {
		if v, ok := b.mem.Refs.Get(q); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), nil
		}
	}
	if f := b.m.opts.DependentMemberID; f != nil {
		v, err := f(b.ctx, Dependent{PayerID: b.payerID, SubscriberID: b.subscriberID, Relationship: b.mem.Relationship, Patient: &b.mem.Name.Party})
		if err != nil {
			return "", b.errAt(ErrMissing, partyPos(&b.mem.Name.Party), 0, 0, "Patient.identifier", "dependent member id resolver failed").WithCause(err)
		}
		return strings.TrimSpace(v), nil
	}
	return "", nil
}

// PatientKey834 returns the business key of the Patient of an 834 member:
// the payer and the member id (REF*0F for a subscriber, the dependent's own
// id otherwise), or, for a dependent whose id is not known, the subscriber
// id with the member's name and birth date (the key [PatientKey837] gives an
// 837 dependent without an id).
func PatientKey834(payerID string, mem *x12.Member834, dependentMemberID string) PatientKey {
	k := PatientKey{PayerID: payerID, SubscriberID: strings.TrimSpace(mem.SubscriberID())}
	if strings.EqualFold(strings.TrimSpace(mem.Subscriber), "Y") {
		k.MemberID = k.SubscriberID
		return k
	}
	if dependentMemberID != "" {
		k.MemberID = dependentMemberID
		return k
	}
	k.LastName = mem.Name.LastOrOrgName
	k.FirstName = mem.Name.First
	if d := mem.Name.Demographics; d != nil {
		k.BirthDate = d.BirthDate
	}
	return k
}

// patient adds the member's C4BB Patient (loop 2100A, 2100C).
func (b *member834) patient() error {
	mem := b.mem
	party := &mem.Name.Party
	ppos := partyPos(party)
	if ppos.SegmentID == "" {
		ppos = b.pos
	}
	if b.self {
		b.memberID = b.subscriberID
	} else {
		v, err := b.dependentMemberID()
		if err != nil {
			return err
		}
		b.memberID = v
	}
	id, err := b.m.ids.Patient(PatientKey834(b.scope, mem, b.memberID))
	if err != nil {
		return b.errAt(ErrMissing, ppos, 0, 0, "Patient.id", "dependent has no member id, and no name and birth date to identify them by").WithCause(err)
	}
	b.patientID = id
	pt := &ppb.Patient{
		Id:         &dtpb.Id{Value: id},
		Identifier: nonNilIDs(identifier(v2IDType("MB"), b.m.memberIDSystem(b.scope), b.memberID)),
		Name:       nonNilNames(humanName(party.Entity)),
		Telecom:    telecom(party.Contacts),
	}
	if b.eo.SSN && strings.TrimSpace(party.IDQualifier) == "34" {
		pt.Identifier = append(pt.Identifier, nonNilIDs(identifier(v2IDType("SS"), terminology.SystemSSN, strings.TrimSpace(party.ID)))...)
	}
	if a := memberAddress(party.Address); a != nil {
		a.Use = &dtpb.Address_UseCode{Value: cpb.AddressUseCode_HOME}
		pt.Address = append(pt.Address, a)
	}
	if mem.MailingAddress != nil {
		if a := memberAddress(mem.MailingAddress.Address); a != nil {
			a.Type = &dtpb.Address_TypeCode{Value: cpb.AddressTypeCode_POSTAL}
			pt.Address = append(pt.Address, a)
		}
	}
	dmgPos := segPos(party.Loop, "DMG", ppos)
	if d := party.Demographics; d != nil {
		if d.Gender != "" {
			g, ok := genderCode(d.Gender)
			if !ok {
				return b.errAt(ErrInvalidCode, dmgPos, 3, 0, "Patient.gender", "DMG03 is not a gender code (F, M, U)").WithValue(d.Gender)
			}
			pt.Gender = &ppb.Patient_GenderCode{Value: g}
		}
		if d.BirthDate != "" {
			t, err := x12.ParseDate(d.BirthDate)
			if err != nil {
				return b.errAt(ErrInvalidValue, dmgPos, 2, 0, "Patient.birthDate", "DMG02 is not a CCYYMMDD date").WithCause(err)
			}
			pt.BirthDate = fdate(t)
		}
		pt.MaritalStatus = maritalStatus(d.MaritalStatus)
		if d.MaritalStatus != "" && pt.MaritalStatus == nil {
			b.warn(dmgPos, 4, 0, "Patient.maritalStatus", "unknown-code", "DMG04 is not a marital status code: dropped")
		}
		pt.Extension = b.raceEthnicity(d.RaceEthnicity, dmgPos)
	}
	if pt.Gender == nil {
		pt.Gender = &ppb.Patient_GenderCode{Value: cpb.AdministrativeGenderCode_UNKNOWN}
		b.warn(ppos, 0, 0, "Patient.gender", "gender-unknown", "no DMG03 gender: gender set to unknown")
	}
	if mem.DeathDate != "" {
		t, err := x12.ParseDate(mem.DeathDate)
		if err != nil {
			return b.errAt(ErrInvalidValue, b.pos, 12, 0, "Patient.deceasedDateTime", "INS12 is not a CCYYMMDD date").WithCause(err)
		}
		pt.Deceased = &ppb.Patient_DeceasedX{Choice: &ppb.Patient_DeceasedX_DateTime{DateTime: fdateTimeDay(t)}}
	}
	pt.Communication = b.communication(mem.Name.Languages, segPos(party.Loop, "LUI", ppos))
	pt.GeneralPractitioner = b.primaryCare()

	b.patientProfiled = b.memberID != "" && pt.Name != nil
	profile := ""
	switch {
	case b.patientProfiled:
		profile = b.m.opts.C4BBVersion.Profile(C4BBPatient)
	case b.memberID == "":
		b.unmet(ppos, "Patient.identifier", "Patient.identifier:memberid.min", b.m.opts.C4BBVersion.Profile(C4BBPatient),
			"the dependent has no member id of their own (configure Options.Enrollment.DependentIDRefs or Options.DependentMemberID): C4BB-Patient not claimed")
	default:
		b.unmet(ppos, "Patient.name", "Patient.name.min", b.m.opts.C4BBVersion.Profile(C4BBPatient), "no member name: C4BB-Patient not claimed")
	}
	pt.Meta = b.meta(profile)
	b.add(&b.pats, "Patient/"+id, pt)
	return nil
}

// primaryCare returns references to the member's primary care providers
// (loop 2310 NM1*P3 of any coverage, identified by NPI), adding their
// Practitioner or Organization (MAPPING.md §4.7.1).
func (b *member834) primaryCare() []*dtpb.Reference {
	var out []*dtpb.Reference
	seen := map[string]bool{}
	for i := range b.mem.Coverages {
		for j := range b.mem.Coverages[i].Providers {
			p := &b.mem.Coverages[i].Providers[j].Party
			if !strings.EqualFold(strings.TrimSpace(p.Code), "P3") || npiOf(p.Entity) == "" || seen[npiOf(p.Entity)] {
				continue
			}
			seen[npiOf(p.Entity)] = true
			if ref := b.providerRef(p, "Patient.generalPractitioner", nil); ref != nil {
				out = append(out, ref)
			}
		}
	}
	return out
}

// memberAddress is address with the county (N405 CY, N406) as district.
func memberAddress(a *x12.Address) *dtpb.Address {
	ad := address(a)
	if ad != nil && strings.EqualFold(strings.TrimSpace(a.LocationQualifier), "CY") {
		ad.District = fstr(strings.TrimSpace(a.LocationID))
	}
	return ad
}

// maritalStatus maps DMG04 to v3-MaritalStatus (MAPPING.md §4.7.1).
func maritalStatus(dmg04 string) *dtpb.CodeableConcept {
	switch strings.ToUpper(strings.TrimSpace(dmg04)) {
	case "M":
		return concept(systemV3MaritalStatus, "M")
	case "D":
		return concept(systemV3MaritalStatus, "D")
	case "W":
		return concept(systemV3MaritalStatus, "W")
	case "I":
		return concept(systemV3MaritalStatus, "S")
	case "U":
		return concept(systemV3MaritalStatus, "U")
	case "S", "X":
		return concept(systemV3MaritalStatus, "L")
	case "B":
		return concept(systemV3MaritalStatus, "T")
	case "R":
		return concept(systemV3NullFlavor, "UNK")
	}
	return nil
}

// ombCategories are the CDC Race and Ethnicity codes of the OMB categories
// (US Core race and ethnicity ombCategory), with their display and whether
// they are an ethnicity.
var ombCategories = map[string]struct {
	display   string
	ethnicity bool
}{
	"1002-5": {"American Indian or Alaska Native", false},
	"2028-9": {"Asian", false},
	"2054-5": {"Black or African American", false},
	"2076-8": {"Native Hawaiian or Other Pacific Islander", false},
	"2106-3": {"White", false},
	"2135-2": {"Hispanic or Latino", true},
	"2186-5": {"Not Hispanic or Latino", true},
}

// raceEthnicity builds the US Core race and ethnicity extensions from DMG05
// (MAPPING.md §4.7.1 [verify]): only CDC Race and Ethnicity codes (DMG05-2
// RET, DMG05-3) of the OMB categories are emitted; X12's own race codes
// (DMG05-1) have no exact crosswalk and are dropped with a warning.
func (b *member834) raceEthnicity(rs []x12.RaceEthnicity, pos x12.Position) []*dtpb.Extension {
	var race, eth []*dtpb.Extension
	var raceText, ethText []string
	for _, r := range rs {
		code := strings.TrimSpace(r.Detailed)
		c, ok := ombCategories[code]
		if !strings.EqualFold(strings.TrimSpace(r.CodeQualifier), "RET") || !ok {
			b.warn(pos, 5, 0, "Patient.extension", "no-crosswalk", "DMG05 race or ethnicity is not a CDC OMB category code: dropped")
			continue
		}
		e := &dtpb.Extension{Url: furi("ombCategory"), Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Coding{Coding: &dtpb.Coding{System: furi(systemCDCRace), Code: fcode(code), Display: fstr(c.display)}}}}
		if c.ethnicity {
			if len(eth) == 0 {
				eth, ethText = append(eth, e), append(ethText, c.display)
			}
		} else if len(race) < 5 {
			race, raceText = append(race, e), append(raceText, c.display)
		}
	}
	var out []*dtpb.Extension
	text := func(ss []string) *dtpb.Extension {
		return &dtpb.Extension{Url: furi("text"), Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: fstr(strings.Join(ss, ", "))}}}
	}
	if len(race) > 0 {
		out = append(out, &dtpb.Extension{Url: furi(extUSCoreRace), Extension: append(race, text(raceText))})
	}
	if len(eth) > 0 {
		out = append(out, &dtpb.Extension{Url: furi(extUSCoreEthnicity), Extension: append(eth, text(ethText))})
	}
	return out
}

// iso6392to1 maps the NISO Z39.53 (ISO 639-2) codes of languages common in
// US enrollment to their ISO 639-1 codes, the BCP 47 form.
var iso6392to1 = map[string]string{
	"ara": "ar", "chi": "zh", "zho": "zh", "eng": "en", "fre": "fr", "fra": "fr", "ger": "de", "deu": "de",
	"gre": "el", "ell": "el", "hat": "ht", "heb": "he", "hin": "hi", "ita": "it", "jpn": "ja", "kor": "ko",
	"per": "fa", "fas": "fa", "pol": "pl", "por": "pt", "rus": "ru", "som": "so", "spa": "es", "tgl": "tl",
	"ukr": "uk", "urd": "ur", "vie": "vi", "amh": "am", "ben": "bn", "guj": "gu", "pan": "pa", "khm": "km",
	"lao": "lo", "tha": "th", "hmn": "hmn", "nav": "nv", "arm": "hy", "hye": "hy", "alb": "sq", "sqi": "sq",
	"bur": "my", "mya": "my", "nep": "ne", "swa": "sw", "yid": "yi", "tam": "ta", "tel": "te", "mar": "mr",
	"ilo": "ilo", "yue": "yue", "srp": "sr", "hrv": "hr", "bos": "bs", "rum": "ro", "ron": "ro",
	"dut": "nl", "nld": "nl", "tur": "tr", "kur": "ku", "pus": "ps", "tir": "ti", "orm": "om", "yor": "yo",
	"ibo": "ig", "hau": "ha", "mon": "mn", "ind": "id", "may": "ms", "msa": "ms",
}

// communication maps LUI segments to Patient.communication (MAPPING.md
// §4.7.1): LUI01 LE (ISO 639-1) as is, LD (ISO 639-2) through its ISO 639-1
// code, otherwise the description (LUI03) as text; LUI04 7 (speaking) or 8
// (native) marks the language preferred.
func (b *member834) communication(langs []x12.Language, pos x12.Position) []*ppb.Patient_Communication {
	var out []*ppb.Patient_Communication
	for _, l := range langs {
		code := strings.ToLower(strings.TrimSpace(l.Code))
		switch strings.ToUpper(strings.TrimSpace(l.Qualifier)) {
		case "LE":
			if len(code) != 2 {
				code = ""
			}
		case "LD":
			code = iso6392to1[code]
		default:
			code = ""
		}
		var cc *dtpb.CodeableConcept
		if code != "" {
			cc = concept(systemBCP47, code)
			cc.Text = fstr(strings.TrimSpace(l.Description))
		} else {
			cc = conceptText(strings.TrimSpace(l.Description))
		}
		if cc == nil {
			b.warn(pos, 2, 0, "Patient.communication.language", "no-crosswalk", "LUI language code is not an ISO 639 code this mapper knows: dropped")
			continue
		}
		c := &ppb.Patient_Communication{Language: cc}
		if u := strings.TrimSpace(l.Use); u == "7" || u == "8" {
			c.Preferred = fbool(true)
		}
		out = append(out, c)
	}
	return out
}

// relatedPersonRoles maps 2100F/2100G entity codes to v3-RoleCode
// (MAPPING.md §4.7.1 [design]).
var relatedPersonRoles = map[string]string{"S3": "PRN", "S1": "PRN", "GD": "GUARD", "J6": "POWATT", "X4": "SPS", "TZ": "SIGOTHR"}

// relatedPersonText names the other 2100G entity codes.
var relatedPersonText = map[string]string{
	"6Y": "Case manager", "9K": "Key person", "E1": "Person or other entity legally responsible for a child",
	"EI": "Executor of estate", "EXS": "Ex-spouse", "GB": "Other insured", "LR": "Legal representative",
	"QD": "Responsible party",
}

// relatedPersons adds a C4BB RelatedPerson for the custodial parent (2100F)
// and each responsible person (2100G).
func (b *member834) relatedPersons() {
	var parties []*x12.Party
	if b.mem.CustodialParent != nil {
		parties = append(parties, b.mem.CustodialParent)
	}
	for i := range b.mem.ResponsiblePersons {
		parties = append(parties, &b.mem.ResponsiblePersons[i])
	}
	for _, p := range parties {
		code := strings.ToUpper(strings.TrimSpace(p.Code))
		var rel *dtpb.CodeableConcept
		if rc := relatedPersonRoles[code]; rc != "" {
			rel = concept(systemV3RoleCode, rc)
		} else {
			rel = conceptText(relatedPersonText[code])
		}
		id, err := b.m.ids.RelatedPerson(RelatedPersonKey{PatientID: b.patientID, Relationship: code, LastName: p.LastOrOrgName, FirstName: p.First})
		if err != nil {
			b.warn(partyPos(p), 3, 0, "RelatedPerson", "related-person-unidentified", "responsible person has no name: left out")
			continue
		}
		rp := &rppb.RelatedPerson{
			Id:      &dtpb.Id{Value: id},
			Active:  fbool(true),
			Patient: reference("Patient", b.patientID),
			Name:    nonNilNames(humanName(p.Entity)),
			Telecom: telecom(p.Contacts),
			Address: nonNilAddrs(address(p.Address)),
		}
		if rel != nil {
			rp.Relationship = []*dtpb.CodeableConcept{rel}
		}
		profile := b.m.opts.C4BBVersion.Profile(C4BBRelatedPerson)
		if !b.patientProfiled {
			b.unmet(partyPos(p), "RelatedPerson.patient", "RelatedPerson.patient.targetProfile", profile, "the member cannot claim C4BB-Patient: C4BB-RelatedPerson not claimed")
			profile = ""
		}
		rp.Meta = b.meta(profile)
		b.add(&b.rps, "RelatedPerson/"+id, rp)
	}
}

// relationship834 maps INS02 to subscriber-relationship (MAPPING.md §4.7.1:
// 18 self, 01 spouse, 53 common, 19/09/10/17 child, 03/16 parent, all else
// other).
func relationship834(ins02 string) string {
	switch strings.TrimSpace(ins02) {
	case "18":
		return "self"
	case "01":
		return "spouse"
	case "53":
		return "common"
	case "19", "09", "10", "17":
		return "child"
	case "03", "16":
		return "parent"
	}
	return "other"
}

// medicalLines are the insurance lines (HD03) whose Coverage is the one an
// 837 professional or institutional claim names: their Coverage key has no
// plan, like the 837's.
var medicalLines = map[string]bool{"HLT": true, "HMO": true, "PPO": true, "POS": true, "EPO": true, "MM": true}

// groupNumber returns the group or policy number of a coverage loop: 2300
// REF*1L, else 2000 REF*1L, else the header's master policy number REF*38.
func (b *member834) groupNumber(hd *x12.Coverage834) string {
	for _, refs := range []x12.Refs{hd.Refs, b.mem.Refs} {
		if v, ok := refs.Get("1L"); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	v, _ := b.mem.Header.Refs.Get("38")
	return strings.TrimSpace(v)
}

// CoverageKey834 returns the business key of the Coverage of one 834 health
// coverage loop: the same key an 837 gives the claim's Coverage for the
// member's medical lines; other lines (DEN, VIS, PDG...) add the line as the
// plan. memberID is the dependent's own member id ("" for a subscriber);
// patientID stands in for it when a dependent has none, as on the 837 side.
func CoverageKey834(payerID, subscriberID string, self bool, memberID, patientID, group, insuranceLine string) CoverageKey {
	k := CoverageKey{PayerID: payerID, SubscriberID: subscriberID, GroupNumber: group}
	if !self {
		k.MemberID = memberID
		if k.MemberID == "" {
			k.MemberID = "patient:" + patientID
		}
	}
	if line := strings.ToUpper(strings.TrimSpace(insuranceLine)); !medicalLines[line] {
		k.Plan = line
	}
	return k
}

// dateOf returns the date of the first DTP with the qualifier (the end of a
// range when end is true), its position, and an error for a bad value.
func (b *member834) dateOf(dates x12.Dates, l *x12.Loop, qualifier string, end bool) (time.Time, error) {
	d, ok := dates.Get(qualifier)
	if !ok {
		return time.Time{}, nil
	}
	p, err := d.Period()
	if err != nil || p.IsTime {
		return time.Time{}, b.errAt(ErrInvalidValue, dtpPos(l, qualifier, b.pos), 3, 0, "Coverage.period", "DTP03 is not a date of its format (D8, RD8)").WithCause(err)
	}
	if end {
		return p.End, nil
	}
	return p.Start, nil
}

// dtpPos returns the position of the DTP with the qualifier in loop l.
func dtpPos(l *x12.Loop, qualifier string, def x12.Position) x12.Position {
	if l == nil {
		return def
	}
	for _, s := range l.Segments {
		if s.ID() == "DTP" && s.Element(1) == qualifier {
			return s.Pos()
		}
	}
	return def
}

// firstDate returns the first non-zero date of the (loop, qualifier) pairs.
func (b *member834) firstDate(end bool, hd *x12.Coverage834, hdQuals []string, memQuals []string) (time.Time, error) {
	for _, q := range hdQuals {
		t, err := b.dateOf(hd.Dates, hd.Loop, q, end)
		if err != nil || !t.IsZero() {
			return t, err
		}
	}
	for _, q := range memQuals {
		t, err := b.dateOf(b.mem.Dates, b.mem.Loop(), q, end)
		if err != nil || !t.IsZero() {
			return t, err
		}
	}
	return time.Time{}, nil
}

// coverage adds the Coverage of one health coverage loop (2300 HD).
func (b *member834) coverage(hd *x12.Coverage834) error {
	hpos := b.pos
	if hd.Loop != nil && len(hd.Loop.Segments) > 0 {
		hpos = hd.Loop.Lead().Pos()
	}
	if err := b.checkMaintenance(hd.MaintenanceType, hpos, 1, coverageMaintenance); err != nil {
		return err
	}
	action := strings.TrimSpace(hd.MaintenanceType)
	if action == "" {
		action = strings.TrimSpace(b.mem.MaintenanceType)
	}
	if action == "032" {
		return nil // employee information only: no coverage change
	}
	group := b.groupNumber(hd)
	id, err := b.m.ids.Coverage(CoverageKey834(b.scope, b.subscriberID, b.self, b.memberID, b.patientID, group, hd.InsuranceLine))
	if err != nil {
		return b.errAt(ErrMissing, hpos, 0, 0, "Coverage.id", "coverage cannot be identified").WithCause(err)
	}

	startQuals, endQuals := []string{"348"}, []string{"349"}
	memStart, memEnd := []string{"356"}, []string{"357"}
	switch action {
	case "021", "025":
		startQuals, memStart = append(startQuals, "303"), append(memStart, "303")
	case "024":
		endQuals, memEnd = append(endQuals, "303"), append(memEnd, "303")
	}
	start, err := b.firstDate(false, hd, startQuals, memStart)
	if err != nil {
		return err
	}
	end, err := b.firstDate(true, hd, endQuals, memEnd)
	if err != nil {
		return err
	}
	if end.IsZero() {
		// DTP*348 sent as a range (RD8) is the whole benefit period: its end
		// is the coverage's end when no DTP*349 (or 357) gives one.
		if d, ok := hd.Dates.Get("348"); ok {
			if p, err := d.Period(); err == nil && p.IsRange() {
				end = p.End
			}
		}
	}
	status := cpb.FinancialResourceStatusCode_ACTIVE
	switch action {
	case "024":
		if end.IsZero() {
			return b.errAt(ErrMissing, hpos, 0, 0, "Coverage.period.end", "termination (024) without a benefit end date (DTP*349, 357 or 303)")
		}
		if !start.IsZero() && !end.After(start) {
			status = cpb.FinancialResourceStatusCode_CANCELLED // rescinded: never in force
		}
	case "002":
		status = cpb.FinancialResourceStatusCode_ENTERED_IN_ERROR
	}
	if start.IsZero() {
		b.warn(hpos, 0, 0, "Coverage.period.start", "no-benefit-begin", "no benefit begin date (DTP*348, 356): the Coverage is written without period.start")
	}

	rel := relationship834(b.mem.Relationship)
	if b.self {
		rel = "self"
	}
	cov := &cvpb.Coverage{
		Id:           &dtpb.Id{Value: id},
		Status:       &cvpb.Coverage_StatusCode{Value: status},
		PolicyHolder: reference("Organization", b.sponsorID),
		SubscriberId: fstr(b.subscriberID),
		Beneficiary:  reference("Patient", b.patientID),
		Relationship: concept(terminology.SystemSubscriberRelationship, rel),
		Period:       datePeriod(start, end),
		Payor:        []*dtpb.Reference{reference("Organization", b.payerOrgID)},
	}
	if b.memberID != "" {
		cov.Identifier = nonNilIDs(identifier(v2IDType("MB"), b.m.memberIDSystem(b.scope), b.memberID))
	}
	if b.self {
		cov.Subscriber = reference("Patient", b.patientID)
	} else if subID, err := b.m.ids.Patient(PatientKey{PayerID: b.scope, MemberID: b.subscriberID}); err == nil {
		cov.Subscriber = reference("Patient", subID)
	}
	if sys, code, ok := b.eo.CoverageType(hd.InsuranceLine); ok {
		cov.Type = concept(sys, code)
	}
	if group != "" {
		cov.ClassValue = append(cov.ClassValue, &cvpb.Coverage_Class{Type: concept(terminology.SystemCoverageClass, "group"), Value: fstr(group)})
	}
	if v, ok := hd.Refs.Get("17"); ok && strings.TrimSpace(v) != "" {
		cov.ClassValue = append(cov.ClassValue, &cvpb.Coverage_Class{Type: concept(terminology.SystemCoverageClass, "subgroup"), Value: fstr(strings.TrimSpace(v))})
	}
	if plan := strings.TrimSpace(hd.PlanDescription); plan != "" {
		cov.ClassValue = append(cov.ClassValue, &cvpb.Coverage_Class{Type: concept(terminology.SystemCoverageClass, "plan"), Value: fstr(plan), Name: fstr(plan)})
	}
	if lvl := strings.TrimSpace(hd.CoverageLevel); lvl != "" {
		cov.ClassValue = append(cov.ClassValue, &cvpb.Coverage_Class{Type: concept(terminology.SystemCoverageClass, "class"), Value: fstr(lvl)})
	}
	profile := b.m.opts.C4BBVersion.Profile(C4BBCoverage)
	switch {
	case !b.patientProfiled:
		b.unmet(hpos, "Coverage.beneficiary", "Coverage.beneficiary.targetProfile", profile, "the beneficiary cannot claim C4BB-Patient: C4BB-Coverage not claimed")
		profile = ""
	case !b.payerOK:
		b.unmet(hpos, "Coverage.payor", "Coverage.payor.targetProfile", profile, "the payer cannot claim C4BB-Organization: C4BB-Coverage not claimed")
		profile = ""
	}
	cov.Meta = b.meta(profile)
	b.add(&b.covs, "Coverage/"+id, cov)
	return b.otherCoverages(hd)
}

// otherCoverages adds a Coverage for each coordination of benefits loop
// (2320 COB with its 2330 NM1*IN insurer) of a coverage (MAPPING.md §4.7.1):
// the member's coverage with another payer, ordered by COB01 (P 1, S 2,
// T 3), its policy number (COB02) as subscriberId, its period from
// DTP*344/345. The 834 does not say how the member relates to that
// policy's subscriber, so the Coverage has no relationship and cannot claim
// C4BB-Coverage (listed as unmet).
func (b *member834) otherCoverages(hd *x12.Coverage834) error {
	for i := range hd.CoordinationOfBenefits {
		cob := &hd.CoordinationOfBenefits[i]
		cpos := b.pos
		if cob.Loop != nil && len(cob.Loop.Segments) > 0 {
			cpos = cob.Loop.Lead().Pos()
		}
		policy := strings.TrimSpace(cob.PolicyNumber)
		var ins *x12.Party
		for j := range cob.RelatedEntities {
			if strings.EqualFold(strings.TrimSpace(cob.RelatedEntities[j].Code), "IN") {
				ins = &cob.RelatedEntities[j]
			}
		}
		if policy == "" || ins == nil {
			b.warn(cpos, 2, 0, "Coverage", "other-coverage-incomplete", "coordination of benefits without a policy number (COB02) or an insurer (2330 NM1*IN): no Coverage")
			continue
		}
		var pk PayerKey
		switch strings.ToUpper(strings.TrimSpace(ins.IDQualifier)) {
		case "XV", "PI":
			pk.PayerID = strings.TrimSpace(ins.ID)
		case "NI":
			pk.NAIC = strings.TrimSpace(ins.ID)
		case "FI", "24":
			pk.TIN = strings.TrimSpace(ins.ID)
		}
		orgID, err := b.m.ids.Payer(pk)
		if err != nil {
			b.warn(partyPos(ins), 9, 0, "Coverage.payor", "other-coverage-incomplete", "other insurer (2330 NM1*IN) has no payer id, NAIC code or tax id: no Coverage")
			continue
		}
		o := &opb.Organization{
			Id: &dtpb.Id{Value: orgID},
			Identifier: nonNilIDs(
				identifier(c4bbIDType("payerid"), b.m.payerIDSystem(), pk.PayerID),
				identifier(c4bbIDType("naiccode"), terminology.SystemNAIC, pk.NAIC),
				tinIdentifier(pk.TIN),
			),
			Active:  fbool(true),
			Name:    fstr(strings.TrimSpace(ins.LastOrOrgName)),
			Address: nonNilAddrs(address(ins.Address)),
		}
		oprof := b.m.opts.C4BBVersion.Profile(C4BBOrganization)
		if o.Name == nil {
			oprof = ""
		}
		o.Meta = withVersion(b.m.meta(b.lineage, oprof), b.version)
		b.add(&b.orgs, "Organization/"+orgID, o)

		scope := pk.PayerID + pk.NAIC + pk.TIN
		group, _ := cob.Refs.Get("6P")
		k := CoverageKey{PayerID: scope, SubscriberID: policy, MemberID: b.memberID, GroupNumber: strings.TrimSpace(group)}
		if k.MemberID == "" {
			k.MemberID = "patient:" + b.patientID
		}
		id, err := b.m.ids.Coverage(k)
		if err != nil {
			return b.errAt(ErrMissing, cpos, 2, 0, "Coverage.id", "other coverage cannot be identified").WithCause(err)
		}
		start, err := b.dateOf(cob.Dates, cob.Loop, "344", false)
		if err != nil {
			return err
		}
		end, err := b.dateOf(cob.Dates, cob.Loop, "345", true)
		if err != nil {
			return err
		}
		cov := &cvpb.Coverage{
			Id:           &dtpb.Id{Value: id},
			Status:       &cvpb.Coverage_StatusCode{Value: cpb.FinancialResourceStatusCode_ACTIVE},
			SubscriberId: fstr(policy),
			Beneficiary:  reference("Patient", b.patientID),
			Period:       datePeriod(start, end),
			Payor:        []*dtpb.Reference{reference("Organization", orgID)},
			Order:        fpos(responsibilitySequence(cob.PayerResponsibility)),
		}
		if g := strings.TrimSpace(group); g != "" {
			cov.ClassValue = []*cvpb.Coverage_Class{{Type: concept(terminology.SystemCoverageClass, "group"), Value: fstr(g)}}
		}
		b.unmet(cpos, "Coverage.relationship", "Coverage.relationship.min", b.m.opts.C4BBVersion.Profile(C4BBCoverage),
			"the 834 does not say how the member relates to the other policy's subscriber: C4BB-Coverage not claimed")
		cov.Meta = b.meta("")
		b.add(&b.covs, "Coverage/"+id, cov)
	}
	return nil
}
