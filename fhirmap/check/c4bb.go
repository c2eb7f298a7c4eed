package check

import (
	"fmt"
	"strings"
)

// Canonical URLs (without version) of the profiles references must point to.
const (
	pC4BBPatient       = c4bbBase + "C4BB-Patient"
	pC4BBCoverage      = c4bbBase + "C4BB-Coverage"
	pC4BBOrganization  = c4bbBase + "C4BB-Organization"
	pC4BBPractitioner  = c4bbBase + "C4BB-Practitioner"
	pC4BBRelatedPerson = c4bbBase + "C4BB-RelatedPerson"
	pC4BBEOB           = c4bbBase + "C4BB-ExplanationOfBenefit"
)

// catSlice is a slice of a repeating element discriminated by a fixed
// category coding.
func catSlice(path, name, system, code string, min, max int, rules ...rule) slice {
	return slice{path: path, name: name, match: codingAt("category", system, code), min: min, max: max, sev: Error,
		what: "category " + system + "#" + code, rules: rules}
}

// adjSlice is an adjudication slice discriminated by a
// C4BBAdjudicationDiscriminator category.
func adjSlice(path, name string, min, max int, rules ...rule) slice {
	return catSlice(path, name, sysC4BBAdjDiscriminator, name, min, max, rules...)
}

// siSlice is a supportingInfo slice discriminated by a C4BBSupportingInfoType
// category.
func siSlice(name, code string, min, max int, rules ...rule) slice {
	return catSlice("supportingInfo", name, sysC4BBSupportingInfoType, code, min, max, rules...)
}

// amountSlice is the adjudicationamounttype slice of an adjudication or total
// element: entries whose category is in the C4BBAdjudication value set, each
// with an amount.
func amountSlice(path string, adj *valueSet, min int) slice {
	return slice{path: path, name: "adjudicationamounttype", match: inValueSet("category", adj), min: min, max: -1, sev: Error,
		what: "category from value set C4BBAdjudication", rules: []rule{required("amount")}}
}

// networkStatusSlice is a billing/rendering network status header slice.
func networkStatusSlice(name string, min, max int) slice {
	return adjSlice("adjudication", name, min, max, required("reason"), binding{"reason", vsNetworkStatus})
}

// benefitStatusSlice is a benefitpaymentstatus slice (header or item).
func benefitStatusSlice(path string, min, max int) slice {
	return adjSlice(path, "benefitpaymentstatus", min, max, required("reason"), binding{"reason", vsBenefitStatus})
}

// adjustmentReasonSlice is an adjustmentreason slice (header or item).
func adjustmentReasonSlice(path string, max int) slice {
	return adjSlice(path, "adjustmentreason", 0, max, required("reason"), binding{"reason", vsCARCRARC})
}

// Supporting info slices shared by several EOB profiles.
func siClmRecvdDate() slice {
	return siSlice("clmrecvddate", "clmrecvddate", 0, 1, required("timing[x]"), choice{"timing[x]", []string{"date"}})
}
func siServiceFacility() slice {
	return siSlice("servicefacility", "servicefacility", 0, 1, required("value[x]"), choice{"value[x]", []string{"Reference"}},
		target{path: "value[x]", types: []string{"Organization"}, profiles: []string{pC4BBOrganization}})
}
func siString(name string, max int, extra ...rule) slice {
	rules := append([]rule{required("value[x]"), choice{"value[x]", []string{"string"}}}, extra...)
	return siSlice(name, name, 0, max, rules...)
}
func siCode(name, code string, min int, v *valueSet) slice {
	rules := []rule{required("code")}
	if v != nil {
		rules = append(rules, binding{"code", v})
	}
	return siSlice(name, code, min, 1, rules...)
}
func siQuantity(name, code string, min, max int, extra ...rule) slice {
	rules := append([]rule{required("value[x]"), choice{"value[x]", []string{"Quantity"}}}, extra...)
	return siSlice(name, code, min, max, rules...)
}

// transportCodes are the C4BBTransportationServiceCategories codes.
var transportCodes = []string{"patientweight", "ambulancetransportreason", "transportationdistance", "roudtrippurpose", "stretcherpurpose", "pickuplocation", "dropofflocation"}

// transportSlices are the professional non-emergency transportation slices.
func transportSlices() []rule {
	noCodeTiming := []rule{forbidden("code"), forbidden("timing[x]")}
	ucum := func(unit string) []rule {
		return append([]rule{fixedString{"value[x].unit", unit}, fixedString{"value[x].system", sysUCUM}, required("value[x].value")}, noCodeTiming...)
	}
	out := []rule{
		siQuantity("patientweight", "patientweight", 0, -1, ucum("[lb_av]")...),
		siSlice("ambulancetransportreason", "ambulancetransportreason", 0, -1, append([]rule{required("reason"), binding{"reason", vsAmbulance}}, noCodeTiming...)...),
		siQuantity("transportationdistance", "transportationdistance", 0, -1, ucum("[mi_i]")...),
	}
	for _, n := range []string{"roudtrippurpose", "stretcherpurpose", "pickuplocation", "dropofflocation"} {
		out = append(out, siString(n, -1, noCodeTiming...))
	}
	return out
}

// c4bbProfiles returns the C4BB rule packs of a release (v210 or v220).
func c4bbProfiles(v string) []*profile {
	adj := c4bbAdjudication(v)
	eob := func(id string, rules ...[]rule) *profile {
		p := &profile{url: c4bbBase + id, version: v, rtype: "ExplanationOfBenefit"}
		for _, rs := range rules {
			p.rules = append(p.rules, rs...)
		}
		return p
	}
	base := eobBase(v)
	prof, oral, pharm := eobProfessional(v), eobOral(v), eobPharmacy(v)
	inp, out := eobInstitutional(v, true), eobInstitutional(v, false)
	financial := func(id string) []rule {
		return []rule{
			versionInvariant(id, v),
			amountSlice("item.adjudication", adj, 1),
			atLeast1("total"),
			amountSlice("total", adj, 1),
		}
	}
	instFinancial := func(id string) []rule {
		return []rule{
			versionInvariant(id, v),
			headerXorItemAmounts(adj),
			each{"item", []rule{itemHasAmount(adj)}},
			amountSlice("item.adjudication", adj, 0),
			amountSlice("adjudication", adj, 0),
			atLeast1("total"),
			amountSlice("total", adj, 1),
		}
	}
	ps := []*profile{
		{url: pC4BBEOB, version: v, rtype: "ExplanationOfBenefit", abstract: true, rules: base},
		eob("C4BB-ExplanationOfBenefit-Professional-NonClinician-Basis", base, prof),
		eob("C4BB-ExplanationOfBenefit-Professional-NonClinician", base, prof, financial("C4BB-ExplanationOfBenefit-Professional-NonClinician")),
		eob("C4BB-ExplanationOfBenefit-Inpatient-Institutional-Basis", base, inp),
		eob("C4BB-ExplanationOfBenefit-Inpatient-Institutional", base, inp, instFinancial("C4BB-ExplanationOfBenefit-Inpatient-Institutional")),
		eob("C4BB-ExplanationOfBenefit-Outpatient-Institutional-Basis", base, out),
		eob("C4BB-ExplanationOfBenefit-Outpatient-Institutional", base, out, instFinancial("C4BB-ExplanationOfBenefit-Outpatient-Institutional")),
		eob("C4BB-ExplanationOfBenefit-Oral-Basis", base, oral),
		eob("C4BB-ExplanationOfBenefit-Oral", base, oral, financial("C4BB-ExplanationOfBenefit-Oral")),
		eob("C4BB-ExplanationOfBenefit-Pharmacy-Basis", base, pharm),
		eob("C4BB-ExplanationOfBenefit-Pharmacy", base, pharm, financial("C4BB-ExplanationOfBenefit-Pharmacy")),
		{url: pC4BBPatient, version: v, rtype: "Patient", rules: append(usCorePatient(), c4bbPatient(v)...)},
		{url: pC4BBCoverage, version: v, rtype: "Coverage", rules: append(usCoreCoverage(), c4bbCoverage()...)},
		{url: pC4BBOrganization, version: v, rtype: "Organization", rules: append(usCoreOrganization(), c4bbOrganization(v)...)},
		{url: pC4BBPractitioner, version: v, rtype: "Practitioner", rules: append(usCorePractitioner(), c4bbPractitioner(v)...)},
		{url: pC4BBRelatedPerson, version: v, rtype: "RelatedPerson", rules: append(usCoreRelatedPerson(), c4bbRelatedPerson()...)},
	}
	return ps
}

// eobBase holds the rules of the abstract C4BB-ExplanationOfBenefit, which
// every EOB profile inherits.
func eobBase(v string) []rule {
	return []rule{
		required("meta"),
		required("meta.lastUpdated"),
		slice{path: "identifier", name: "uniqueclaimid", match: codingAt("type", sysC4BBIdentifierType, "uc"), min: 1, max: 1, sev: Error,
			what: "type " + sysC4BBIdentifierType + "#uc", rules: []rule{required("value")}},
		required("status"),
		required("type"),
		binding{"type", vsClaimType},
		required("use"),
		fixedCode{"use", "claim"},
		required("patient"),
		target{path: "patient", types: []string{"Patient"}, profiles: []string{pC4BBPatient}},
		required("billablePeriod"),
		required("billablePeriod.start"),
		required("created"),
		required("insurer"),
		target{path: "insurer", types: []string{"Organization"}, profiles: []string{pC4BBOrganization}},
		required("provider"),
		required("related.relationship"),
		binding{"related.relationship", vsRelatedClaim},
		required("related.reference"),
		required("payee.type"),
		binding{"payee.type", vsPayeeType},
		target{path: "payee.party", types: []string{"Organization", "Patient", "Practitioner", "RelatedPerson"},
			profiles: []string{pC4BBOrganization, pC4BBPatient, pC4BBPractitioner, pC4BBRelatedPerson}},
		payeeOtherRequiresParty(),
		required("careTeam.provider"),
		target{path: "careTeam.provider", types: []string{"Organization", "Practitioner"}, profiles: []string{pC4BBOrganization, pC4BBPractitioner}},
		required("outcome"),
		atLeast1("insurance"),
		required("insurance.coverage"),
		required("insurance.focal"),
		target{path: "insurance.coverage", types: []string{"Coverage"}, profiles: []string{pC4BBCoverage}},
		insuranceFocal(),
		atLeast1("item"),
		required("item.adjudication.category"),
		required("adjudication.category"),
		binding{"payment.type", vsPaymentStatus},
		binding{"priority", vsPriority},
		required("total.category"),
		required("total.amount"),
	}
}

// providerRule restricts EOB.provider.
func providerRule(types ...string) rule {
	profiles := make([]string, 0, len(types))
	for _, t := range types {
		profiles = append(profiles, c4bbBase+"C4BB-"+t)
	}
	return target{path: "provider", types: types, profiles: profiles}
}

// diagnosisRules are the diagnosis rules shared by the EOB profiles that
// constrain diagnosis.
func diagnosisRules(types *valueSet) []rule {
	return []rule{
		required("diagnosis.type"),
		binding{"diagnosis.type", types},
		required("diagnosis.diagnosis[x]"),
		choice{"diagnosis.diagnosis[x]", []string{"CodeableConcept"}},
		binding{"diagnosis.diagnosis[x]", vsICDCM},
	}
}

func eobProfessional(v string) []rule {
	itemAdjMax := 1
	if v == v220 {
		itemAdjMax = -1
	}
	rs := []rule{
		transportLinked(),
		each{"careTeam", []rule{careTeamRoleType("EOB-prof-careTeam-practitioner", []string{"rendering", "primary", "referring", "supervisor"}, "Practitioner")}},
		binding{"careTeam.qualification", vsNUCC},
		binding{"type", vsProfClaimType},
		providerRule("Organization", "Practitioner"),
		siClmRecvdDate(),
		siServiceFacility(),
		siString("medicalrecordnumber", 1),
		siString("patientaccountnumber", 1),
	}
	rs = append(rs, transportSlices()...)
	rs = append(rs,
		required("careTeam.role"),
		binding{"careTeam.role", vsCareTeamProf},
		atLeast1("diagnosis"),
	)
	rs = append(rs, diagnosisRules(vsDiagTypeProf)...)
	rs = append(rs,
		binding{"item.modifier", vsModifiers},
		binding{"item.productOrService", vsProfProc},
		visionProductOrService(),
		required("item.serviced[x]"),
		required("item.location[x]"),
		choice{"item.location[x]", []string{"CodeableConcept"}},
		binding{"item.location[x]", vsPOS},
		networkStatusSlice("billingnetworkstatus", 0, 1),
		networkStatusSlice("renderingnetworkstatus", 0, 1),
		adjustmentReasonSlice("item.adjudication", itemAdjMax),
		benefitStatusSlice("item.adjudication", 1, 1),
		adjSlice("item.adjudication", "allowedunits", 0, 1),
	)
	return rs
}

func eobInstitutional(v string, inpatient bool) []rule {
	sub, diag := "outpatient", vsDiagTypeOut
	if inpatient {
		sub, diag = "inpatient", vsDiagTypeInp
	}
	rs := []rule{
		pointOfOrigin(),
		pattern{"type", sysClaimType, "institutional"},
		required("subType"),
		binding{"subType", vsInstSubType},
		pattern{"subType", sysC4BBInstSubType, sub},
		required("careTeam.role"),
		binding{"careTeam.role", vsCareTeamInst},
	}
	careTeam := []rule{careTeamRoleType("EOB-inst-careTeam-practitioner", []string{"attending", "primary", "referring", "supervisor"}, "Practitioner")}
	if v == v210 {
		careTeam = append(careTeam, careTeamRoleType("EOB-inst-careTeam-organization", []string{"rendering"}, "Organization"))
		rs = append(rs, providerRule("Organization"))
	} else {
		rs = append(rs, providerRule("Organization", "Practitioner"))
	}
	if !inpatient {
		careTeam = append(careTeam, careTeamQualification())
		rs = append(rs, binding{"careTeam.qualification", vsNUCC})
	}
	rs = append(rs, each{"careTeam", careTeam}, atLeast1("diagnosis"))
	rs = append(rs, diagnosisRules(diag)...)
	if inpatient {
		rs = append(rs,
			binding{"diagnosis.onAdmission", vsPOA},
			required("procedure.procedure[x]"),
			choice{"procedure.procedure[x]", []string{"CodeableConcept"}},
			binding{"procedure.procedure[x]", icdPCS(v)},
			required("procedure.type"),
			binding{"procedure.type", vsProcType},
			siSlice("admissionperiod", "admissionperiod", 1, 1, required("timing[x]"), choice{"timing[x]", []string{"Period"}}),
		)
	}
	rs = append(rs,
		siClmRecvdDate(),
		siCode("typeofbill", "typeofbill", 0, vsTypeOfBil),
		siCode("pointoforigin", "pointoforigin", 0, vsPOO),
		siCode("admtype", "admtype", 0, vsAdmitType),
		siCode("discharge-status", "discharge-status", 0, vsDischarge),
		siString("medicalrecordnumber", 1),
		siString("patientaccountnumber", 1),
	)
	if inpatient {
		rs = append(rs, siCode("drg", "drg", 0, nil), required("item.revenue"))
	} else {
		rs = append(rs, required("item.serviced[x]"), choice{"item.serviced[x]", []string{"date"}})
	}
	rs = append(rs,
		binding{"item.revenue", vsRevenue},
		binding{"item.modifier", vsModifiers},
		binding{"item.productOrService", vsInstProc},
		adjustmentReasonSlice("item.adjudication", -1),
		adjSlice("item.adjudication", "allowedunits", 0, 1, required("value")),
		networkStatusSlice("billingnetworkstatus", 0, 1),
		benefitStatusSlice("adjudication", 1, 1),
		adjustmentReasonSlice("adjudication", -1),
	)
	return rs
}

func eobOral(v string) []rule {
	itemAdjMax := 1
	if v == v220 {
		itemAdjMax = -1
	}
	rs := []rule{
		oralAdditionalBodySiteLinked(),
		oralLinkedItemHasBodySite(),
		oralSurfaceNeedsTooth(),
		each{"careTeam", []rule{careTeamRoleType("EOB-prof-careTeam-practitioner", []string{"rendering", "primary", "referring", "supervisor"}, "Practitioner")}},
		binding{"careTeam.qualification", vsNUCC},
		pattern{"type", sysClaimType, "oral"},
		providerRule("Practitioner", "Organization"),
		siClmRecvdDate(),
		siServiceFacility(),
		siQuantity("orthodontics", "orthodontics", 0, 1),
		siSlice("prosthesis", "prosthesis", 0, 1, required("value[x]"), choice{"value[x]", []string{"boolean"}}),
		siSlice("additionalbodysite", "additionalbodysite", 0, -1, required("code"), binding{"code", vsOralSite}),
		siSlice("missingtoothnumber", "missingtoothnumber", 0, -1, required("code"), binding{"code", vsToothNum}),
		siString("medicalrecordnumber", 1),
		siString("patientaccountnumber", 1),
		required("careTeam.role"),
		binding{"careTeam.role", vsCareTeamProf},
	}
	rs = append(rs, diagnosisRules(vsDiagTypeProf)...)
	rs = append(rs,
		binding{"item.modifier", vsModifiers},
		binding{"item.productOrService", vsCDT},
		required("item.serviced[x]"),
		required("item.location[x]"),
		choice{"item.location[x]", []string{"CodeableConcept"}},
		binding{"item.location[x]", vsPOS},
		binding{"item.bodySite", vsOralSite},
		binding{"item.subSite", vsSurface},
		networkStatusSlice("billingnetworkstatus", 0, 1),
		networkStatusSlice("renderingnetworkstatus", 1, 1),
		benefitStatusSlice("adjudication", 1, -1),
		adjustmentReasonSlice("item.adjudication", itemAdjMax),
		benefitStatusSlice("item.adjudication", 1, 1),
		adjSlice("item.adjudication", "allowedunits", 0, 1),
	)
	return rs
}

func eobPharmacy(v string) []rule {
	refillsAuthMin, rejectMax := 1, 1
	prescriber := "Organization" // 2.1.0 as published; 2.2.0 corrects it to Practitioner
	if v == v220 {
		refillsAuthMin, rejectMax, prescriber = 0, -1, "Practitioner"
	}
	return []rule{
		pattern{"type", sysClaimType, "pharmacy"},
		providerRule("Organization", "Practitioner"),
		each{"careTeam", []rule{
			careTeamRoleType("EOB-pharm-careTeam-practitioner", []string{"primary", "prescribing"}, prescriber),
			careTeamRoleType("EOB-pharm-careTeam-organization", []string{"rendering"}, "Organization"),
		}},
		siQuantity("dayssupply", "dayssupply", 1, 1),
		siCode("dawcode", "dawcode", 1, vsDAW),
		siQuantity("refillNum", "refillnum", 1, 1),
		siQuantity("refillsAuthorized", "refillsauthorized", refillsAuthMin, 1),
		siCode("brandgenericindicator", "brandgenericindicator", 0, vsBrandGen),
		siCode("rxoriginCode", "rxorigincode", 0, vsRxOrigin),
		siClmRecvdDate(),
		siCode("compoundcode", "compoundcode", 0, vsCompound),
		binding{"item.productOrService", vsNDCOrComp},
		binding{"item.detail.productOrService", vsNDC},
		required("careTeam.role"),
		binding{"careTeam.role", vsCareTeamPharm},
		networkStatusSlice("billingnetworkstatus", 0, 1),
		benefitStatusSlice("adjudication", 1, 1),
		adjSlice("item.adjudication", "rejectreason", 0, rejectMax, required("reason"), binding{"reason", vsReject}),
		required("item.serviced[x]"),
		choice{"item.serviced[x]", []string{"date"}},
	}
}

// Invariants --------------------------------------------------------------

// versionInvariant is a C4BB "<profile>-meta-profile-version" invariant:
// meta.profile must hold the canonical with its major.minor version.
func versionInvariant(id, v string) rule {
	keys := map[string]string{
		"C4BB-Patient":      "patient-meta-profile-version",
		"C4BB-Organization": "organization-meta-profile-version",
		"C4BB-Practitioner": "practitioner-meta-profile-version",
		"C4BB-ExplanationOfBenefit-Inpatient-Institutional":   "EOB-institutional-inpatient-meta-profile-version",
		"C4BB-ExplanationOfBenefit-Outpatient-Institutional":  "EOB-institutional-outpatient-meta-profile-version",
		"C4BB-ExplanationOfBenefit-Professional-NonClinician": "EOB-professional-nonclinician-meta-profile-version",
		"C4BB-ExplanationOfBenefit-Pharmacy":                  "EOB-pharmacy-meta-profile-version",
		"C4BB-ExplanationOfBenefit-Oral":                      "EOB-oral-meta-profile-version",
	}
	prefix := c4bbBase + id + "|" + v[:strings.LastIndexByte(v, '.')]
	return invariant{key: keys[id], sev: Warning, fn: func(r *run, at node, key string, sev Severity) {
		for _, p := range at.sel("meta.profile") {
			if strings.HasPrefix(str(p.m), prefix) {
				return
			}
		}
		r.report(sev, key, at.path()+".meta.profile", "meta.profile lacks "+prefix+"…")
	}}
}

// insuranceFocal is EOB-insurance-focal: at most one insurance is focal.
// MAPPING.md §11.5: as published the invariant sits on each repetition and
// cannot see two focal entries; the intent (exactly one focal coverage) is
// checked here, with a warning when none is focal.
func insuranceFocal() rule {
	return invariant{key: "EOB-insurance-focal", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
		ins := at.child("insurance")
		if len(ins) == 0 {
			return
		}
		focal := 0
		for _, n := range ins {
			for _, f := range n.child("focal") {
				if v, ok := boolean(f.m); ok && v {
					focal++
				}
			}
		}
		switch {
		case focal > 1:
			r.report(sev, key, at.path()+".insurance", fmt.Sprintf("%d insurance entries have focal = true, at most 1 allowed", focal))
		case focal == 0:
			r.report(Warning, key+".none", at.path()+".insurance", "no insurance entry has focal = true: one coverage should be the one adjudicated")
		}
	}}
}

// payeeOtherRequiresParty is EOB-payee-other-type-requires-party.
func payeeOtherRequiresParty() rule {
	return invariant{key: "EOB-payee-other-type-requires-party", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
		for _, p := range at.child("payee") {
			other := false
			for _, t := range p.child("type") {
				other = other || hasCoding(t.m, sysPayeeType, "other")
			}
			if other && len(p.child("party")) == 0 {
				r.report(sev, key, p.path()+".party", "payee type is other: payee.party is required")
			}
		}
	}}
}

// careTeamRoleType is one of the C4BB careTeam invariants: a careTeam entry
// whose role has one of codes (any system, as the published FHIRPath does)
// must refer to a resource of type want. It applies to each careTeam entry.
func careTeamRoleType(key string, codes []string, want string) rule {
	return invariant{key: key, sev: Error, fn: func(r *run, ct node, key string, sev Severity) {
		hit := false
		for _, role := range ct.child("role") {
			for _, c := range codings(role.m) {
				hit = hit || contains(codes, c.code)
			}
		}
		if !hit {
			return
		}
		for _, p := range ct.child("provider") {
			rf := reference(p.m)
			typ := rf.typ
			if typ == "" && r.resolve != nil && rf.key != "" {
				if res, ok := r.resolve(rf.key); ok {
					typ = res.typ
				}
			}
			if typ != "" && typ != want {
				r.report(sev, key, p.path(), fmt.Sprintf("careTeam role %s requires %s, found %s", strings.Join(codes, "|"), article(want), article(typ)))
			}
		}
	}}
}

// careTeamQualification is EOB-careteam-qualification (outpatient): a
// rendering careTeam member's qualification is from the NUCC taxonomy value
// set. It applies to each careTeam entry.
func careTeamQualification() rule {
	return invariant{key: "EOB-careteam-qualification", sev: Error, fn: func(r *run, ct node, key string, sev Severity) {
		rendering := false
		for _, role := range ct.child("role") {
			for _, c := range codings(role.m) {
				rendering = rendering || c.code == "rendering"
			}
		}
		if !rendering {
			return
		}
		for _, q := range ct.child("qualification") {
			for _, c := range codings(q.m) {
				if vsNUCC.contains(c) {
					return
				}
			}
		}
		r.report(sev, key, ct.path()+".qualification", "rendering careTeam member needs a qualification from the NUCC provider taxonomy")
	}}
}

// transportLinked is EOB-prof-all-transportation-supportinginfo-linked-to-line.
func transportLinked() rule {
	return invariant{key: "EOB-prof-all-transportation-supportinginfo-linked-to-line", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
		linked := map[uint64]bool{}
		for _, s := range seqs(at, "item.informationSequence") {
			linked[s] = true
		}
		for _, si := range at.child("supportingInfo") {
			transport := false
			for _, c := range si.child("category") {
				for _, cd := range codings(c.m) {
					transport = transport || (cd.system == sysC4BBSupportingInfoType && contains(transportCodes, cd.code))
				}
			}
			if !transport {
				continue
			}
			for _, s := range seqs(si, "sequence") {
				if !linked[s] {
					r.report(sev, key, si.path(), "transportation supportingInfo "+itoa(s)+" is not referenced by any item.informationSequence")
				}
			}
		}
	}}
}

// visionProductOrService is EOB-vision-item-productorservice: only a vision
// claim may use data-absent-reason#not-applicable as item.productOrService.
func visionProductOrService() rule {
	return invariant{key: "EOB-vision-item-productorservice", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
		for _, t := range at.child("type") {
			if hasCoding(t.m, sysClaimType, "vision") {
				return
			}
		}
		for _, ps := range at.sel("item.productOrService") {
			if hasCoding(ps.m, sysDataAbsentReason, "not-applicable") {
				r.report(sev, key, ps.path(), "not-applicable product or service is allowed only on vision claims")
			}
		}
	}}
}

// pointOfOrigin is EOB-inst-pointoforigin. As published (MAPPING.md §11.4)
// only one half can fire: a non-newborn admission type with a newborn point
// of origin. The other half (a newborn admission with a non-newborn point of
// origin) compares with a system that never occurs; it is reported here as a
// warning under "EOB-inst-pointoforigin.newborn".
func pointOfOrigin() rule {
	return invariant{key: "EOB-inst-pointoforigin", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
		newbornAdmit, otherAdmit, newbornPOO, otherPOO := false, false, false, false
		for _, si := range at.child("supportingInfo") {
			for _, c := range si.child("code") {
				cs := codings(c.m)
				admit, four := false, false
				for _, cd := range cs {
					admit = admit || cd.system == sysAdmitType
					four = four || cd.code == "4"
					newbornPOO = newbornPOO || cd.system == sysPOONewborn
					otherPOO = otherPOO || cd.system == sysPOO
				}
				if admit && four {
					newbornAdmit = true
				}
				if admit && !four {
					otherAdmit = true
				}
			}
		}
		if otherAdmit && newbornPOO {
			r.report(sev, key, at.path()+".supportingInfo", "point of origin is from the newborn code system but the admission type is not newborn (4)")
		}
		if newbornAdmit && otherPOO {
			r.report(Warning, key+".newborn", at.path()+".supportingInfo", "admission type is newborn (4) but the point of origin is not from the newborn code system")
		}
	}}
}

// hasAmountCategory reports whether an adjudication-like node's category is
// in the C4BBAdjudication value set.
func hasAmountCategory(n node, adj *valueSet) bool {
	for _, c := range n.child("category") {
		for _, cd := range codings(c.m) {
			if adj.contains(cd) {
				return true
			}
		}
	}
	return false
}

// headerXorItemAmounts is EOB-institutional-item-or-header-adjudication:
// amounts sit at the header or at the items, not both and not neither.
func headerXorItemAmounts(adj *valueSet) rule {
	return invariant{key: "EOB-institutional-item-or-header-adjudication", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
		header, item := false, false
		for _, a := range at.child("adjudication") {
			header = header || hasAmountCategory(a, adj)
		}
		for _, a := range at.sel("item.adjudication") {
			item = item || hasAmountCategory(a, adj)
		}
		switch {
		case header && item:
			r.report(sev, key, at.path()+".adjudication", "amount adjudications at both header and item level")
		case !header && !item:
			r.report(sev, key, at.path()+".adjudication", "no amount adjudication at header or item level")
		}
	}}
}

// itemHasAmount is adjudication-has-amount-type-slice, on each item of the
// financial institutional profiles (MAPPING.md §11.2).
func itemHasAmount(adj *valueSet) rule {
	return invariant{key: "adjudication-has-amount-type-slice", sev: Error, fn: func(r *run, item node, key string, sev Severity) {
		adjs := item.child("adjudication")
		if len(adjs) == 0 {
			return
		}
		for _, a := range adjs {
			if hasAmountCategory(a, adj) {
				return
			}
		}
		r.report(sev, key, item.path()+".adjudication", "item adjudication has no entry with a category from C4BBAdjudication")
	}}
}

// additionalBodySiteSeqs returns the sequences of the additionalbodysite
// supportingInfo entries; with toothOnly, only those coded with a tooth
// number.
func additionalBodySiteSeqs(at node, toothOnly bool) map[uint64]bool {
	out := map[uint64]bool{}
	for _, si := range at.child("supportingInfo") {
		abs := false
		for _, c := range si.child("category") {
			for _, cd := range codings(c.m) {
				abs = abs || cd.code == "additionalbodysite"
			}
		}
		if !abs {
			continue
		}
		if toothOnly {
			tooth := false
			for _, c := range si.child("code") {
				for _, cd := range codings(c.m) {
					tooth = tooth || cd.system == sysToothNumber
				}
			}
			if !tooth {
				continue
			}
		}
		for _, s := range seqs(si, "sequence") {
			out[s] = true
		}
	}
	return out
}

// oralAdditionalBodySiteLinked is
// Oral-EOB-supportinginfo-additionalbodysite-requires-line-item.
func oralAdditionalBodySiteLinked() rule {
	return invariant{key: "Oral-EOB-supportinginfo-additionalbodysite-requires-line-item", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
		linked := map[uint64]bool{}
		for _, s := range seqs(at, "item.informationSequence") {
			linked[s] = true
		}
		abs := additionalBodySiteSeqs(at, false)
		for _, si := range at.child("supportingInfo") {
			for _, s := range seqs(si, "sequence") {
				if abs[s] && !linked[s] {
					r.report(sev, key, si.path(), "additionalbodysite supportingInfo "+itoa(s)+" is not referenced by any item.informationSequence")
				}
			}
		}
	}}
}

// oralLinkedItemHasBodySite is
// Oral-line-item-with-linked-additionalbody-site-requires-bodysite.
func oralLinkedItemHasBodySite() rule {
	return invariant{key: "Oral-line-item-with-linked-additionalbody-site-requires-bodysite", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
		abs := additionalBodySiteSeqs(at, false)
		for _, item := range at.child("item") {
			for _, s := range seqs(item, "informationSequence") {
				if abs[s] && len(item.child("bodySite")) == 0 {
					r.report(sev, key, item.path()+".bodySite", "item refers to an additionalbodysite supportingInfo and needs a bodySite")
					break
				}
			}
		}
	}}
}

// oralSurfaceNeedsTooth is Oral-EOB-surface-subsite-requires-tooth-number:
// an item with a tooth surface (subSite) names its tooth in bodySite or by
// referring to a tooth-coded additionalbodysite supportingInfo.
func oralSurfaceNeedsTooth() rule {
	return invariant{key: "Oral-EOB-surface-subsite-requires-tooth-number", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
		tooth := additionalBodySiteSeqs(at, true)
		for _, item := range at.child("item") {
			if len(item.child("subSite")) == 0 {
				continue
			}
			ok := false
			for _, bs := range item.child("bodySite") {
				for _, cd := range codings(bs.m) {
					ok = ok || cd.system == sysToothNumber
				}
			}
			for _, s := range seqs(item, "informationSequence") {
				ok = ok || tooth[s]
			}
			if !ok {
				r.report(sev, key, item.path()+".subSite", "tooth surface without a tooth number in bodySite or a linked additionalbodysite")
			}
		}
	}}
}

// C4BB non-EOB profiles ----------------------------------------------------

func c4bbPatient(v string) []rule {
	return []rule{
		required("meta"),
		required("meta.lastUpdated"),
		versionInvariant("C4BB-Patient", v),
		slice{path: "identifier", name: "memberid", match: codingAt("type", sysV2IdentifierType, "MB"), min: 1, max: -1, sev: Error,
			what: "type " + sysV2IdentifierType + "#MB"},
	}
}

func c4bbCoverage() []rule {
	return []rule{
		required("meta"),
		required("meta.lastUpdated"),
		required("subscriberId"),
		target{path: "beneficiary", types: []string{"Patient"}, profiles: []string{pC4BBPatient}},
		required("relationship"),
		binding{"relationship", vsSubscriberRel},
		required("payor"),
		target{path: "payor", types: []string{"Organization"}, profiles: []string{pC4BBOrganization}},
	}
}

func c4bbOrganization(v string) []rule {
	rs := []rule{
		required("meta"),
		invariant{key: "uncontained-requires-lastUpdated", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
			if len(at.sel("meta.lastUpdated")) == 0 {
				r.report(sev, key, at.path()+".meta.lastUpdated", "meta.lastUpdated is required on a resource that is not contained")
			}
		}},
		versionInvariant("C4BB-Organization", v),
	}
	if v == v210 {
		rs = append(rs,
			identifierTypeHint(sysNPI, sysV2IdentifierType, "NPI"),
			identifierTypeHint(sysTIN, sysV2IdentifierType, "TAX"),
			identifierTypeHint(sysNAIC, sysC4BBIdentifierType, "naiccode"),
		)
	}
	return rs
}

func c4bbPractitioner(v string) []rule {
	rs := []rule{
		required("meta"),
		versionInvariant("C4BB-Practitioner", v),
		atLeast1("identifier"),
		slice{path: "identifier", name: "NPI", match: stringAt("system", sysNPI), min: 0, max: 1, sev: Error, what: "system " + sysNPI},
		practitionerIdentifier(v),
	}
	if v == v210 {
		rs = append(rs,
			identifierTypeHint(sysNPI, sysV2IdentifierType, "NPI"),
			identifierTypeHint(sysTIN, sysV2IdentifierType, "TAX"),
		)
	}
	return rs
}

func c4bbRelatedPerson() []rule {
	return []rule{
		required("meta"),
		required("meta.lastUpdated"),
		target{path: "patient", types: []string{"Patient"}, profiles: []string{pC4BBPatient}},
	}
}

// practitionerIdentifier is C4BB Practitioner-identifier: an NPI or a TIN.
// 2.1.0 tests identifier.type codes (NPI | TAX), 2.2.0 identifier.system.
func practitionerIdentifier(v string) rule {
	return invariant{key: "Practitioner-identifier", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
		for _, id := range at.child("identifier") {
			if v == v220 {
				if s := str(field(id.m, "system")); s == sysNPI || s == sysTIN {
					return
				}
				continue
			}
			for _, t := range id.child("type") {
				for _, c := range codings(t.m) {
					if c.code == "NPI" || c.code == "TAX" {
						return
					}
				}
			}
		}
		msg := "identifier must include an NPI or a TIN, typed " + sysV2IdentifierType + "#NPI or #TAX"
		if v == v220 {
			msg = "identifier must include an NPI (" + sysNPI + ") or a TIN (" + sysTIN + ")"
		}
		r.report(sev, key, at.path()+".identifier", msg)
	}}
}

// identifierTypeHint warns about an identifier with the given system whose
// type lacks the coding C4BB 2.1.0 adds to that identifier slice's pattern
// (MAPPING.md §11.3): without it the identifier is not recognised as the
// slice, and for a Practitioner it does not satisfy Practitioner-identifier.
func identifierTypeHint(system, typeSystem, typeCode string) rule {
	return invariant{key: "C4BB.identifier.type", sev: Warning, fn: func(r *run, at node, key string, sev Severity) {
		for _, id := range at.child("identifier") {
			if str(field(id.m, "system")) != system {
				continue
			}
			ok := false
			for _, t := range id.child("type") {
				ok = ok || hasCoding(t.m, typeSystem, typeCode)
			}
			if !ok {
				r.report(sev, key, id.path()+".type", "identifier with system "+system+" lacks type "+typeSystem+"#"+typeCode+" (C4BB 2.1.0 slice pattern)")
			}
		}
	}}
}

// article prefixes a resource type with "a" or "an".
func article(t string) string {
	if t != "" && strings.ContainsRune("AEIOU", rune(t[0])) {
		return "an " + t
	}
	return "a " + t
}
