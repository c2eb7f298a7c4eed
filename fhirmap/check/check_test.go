package check_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/resource"
	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	c4bbCS   = "http://hl7.org/fhir/us/carin-bb/CodeSystem/"
	pnCS     = "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/"
	pnSD     = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/"
	c4bbSD   = "http://hl7.org/fhir/us/carin-bb/StructureDefinition/"
	canary   = "ZZCANARYZZ"
	eobT     = "ExplanationOfBenefit"
	profProf = c4bbSD + "C4BB-ExplanationOfBenefit-Professional-NonClinician"
)

// cc is a CodeableConcept with one coding, as JSON.
func cc(system, code string) string {
	return fmt.Sprintf(`{"coding":[{"system":%q,"code":%q}]}`, system, code)
}

// adj is an adjudication entry with a category and a reason, as JSON.
func adj(catSystem, cat, reasonSystem, reason string) string {
	return fmt.Sprintf(`{"category":%s,"reason":{"coding":[{"system":%q,"code":%q}]}}`, cc(catSystem, cat), reasonSystem, reason)
}

// want is an expected finding: its rule, and its path when not "".
type want struct {
	rule, path string
	sev        check.Severity
}

func e(rule, path string) want { return want{rule, path, check.Error} }
func w(rule, path string) want { return want{rule, path, check.Warning} }

type breakCase struct {
	name string
	file string
	edit func(testing.TB, doc)
	want []want // exactly these findings (none when empty)
}

// breakCases break one constraint of a valid example each and name the
// finding(s) expected, and nothing else. A few are negative controls.
func breakCases() []breakCase {
	discr := c4bbCS + "C4BBAdjudicationDiscriminator"
	status := c4bbCS + "C4BBPayerAdjudicationStatus"
	si := c4bbCS + "C4BBSupportingInfoType"
	carc := "https://x12.org/codes/claim-adjustment-reason-codes"
	nucc := "http://nucc.org/provider-taxonomy"
	prof := "eob-professional"
	inp := "eob-inpatient"
	out := "eob-outpatient"
	oral := "eob-oral"
	ph := "eob-pharmacy"
	E := func(p string) string { return eobT + "." + p }
	return []breakCase{
		// C4BB ExplanationOfBenefit base, on the professional example.
		{"meta.lastUpdated missing", prof, del("meta.lastUpdated"), []want{e(E("meta.lastUpdated.min"), E("meta.lastUpdated"))}},
		{"unique claim id missing", prof, del("identifier"), []want{e(E("identifier:uniqueclaimid.min"), E("identifier"))}},
		{"unique claim id wrong type", prof, set("identifier.0.type", cc(c4bbCS+"C4BBIdentifierType", "pat")), []want{e(E("identifier:uniqueclaimid.min"), E("identifier"))}},
		{"unique claim id value missing", prof, del("identifier.0.value"), []want{e(E("identifier:uniqueclaimid.value.min"), E("identifier[0].value"))}},
		{"two unique claim ids", prof, dup("identifier.0"), []want{e(E("identifier:uniqueclaimid.max"), E("identifier"))}},
		{"status missing", prof, del("status"), []want{e(E("status.min"), E("status"))}},
		{"created missing", prof, del("created"), []want{e(E("created.min"), E("created"))}},
		{"outcome missing", prof, del("outcome"), []want{e(E("outcome.min"), E("outcome"))}},
		{"use not claim", prof, set("use", "preauthorization"), []want{e(E("use.fixed"), E("use"))}},
		{"type not professional", prof, set("type", cc("http://terminology.hl7.org/CodeSystem/claim-type", "institutional")), []want{e(E("type.binding"), E("type"))}},
		{"type unknown", prof, set("type", cc("http://example.org/claim-type", "x")), []want{e(E("type.binding"), E("type"))}},
		{"billablePeriod missing", prof, del("billablePeriod"), []want{e(E("billablePeriod.min"), E("billablePeriod"))}},
		{"billablePeriod.start missing", prof, del("billablePeriod.start"), []want{e(E("billablePeriod.start.min"), E("billablePeriod.start"))}},
		{"patient missing", prof, del("patient"), []want{e(E("patient.min"), E("patient"))}},
		{"patient is a Group", prof, set("patient.reference", "Group/g1"), []want{e(E("patient.target"), E("patient"))}},
		{"insurer is a Patient", prof, set("insurer.reference", "Patient/p1"), []want{e(E("insurer.target"), E("insurer"))}},
		{"provider is a Patient", prof, set("provider.reference", "Patient/p1"), []want{e(E("provider.target"), E("provider"))}},
		{"payee other without party", prof, all(set("payee.type", cc("http://terminology.hl7.org/CodeSystem/payeetype", "other")), del("payee.party")),
			[]want{e("EOB-payee-other-type-requires-party", E("payee.party"))}},
		{"payee type unknown", prof, set("payee.type", cc("http://example.org/payee", "x")), []want{e(E("payee.type.binding"), E("payee.type"))}},
		{"payee type missing", prof, del("payee.type"), []want{e(E("payee.type.min"), E("payee.type"))}},
		{"related without reference", prof, add("related", `{"relationship":`+cc("http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship", "prior")+`}`),
			[]want{e(E("related.reference.min"), E("related[0].reference"))}},
		{"related relationship unknown", prof, add("related", `{"relationship":`+cc("http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship", "associated")+`,"reference":{"value":"X"}}`),
			[]want{e(E("related.relationship.binding"), E("related[0].relationship"))}},
		{"careTeam rendering is an Organization", prof, set("careTeam.0.provider.reference", "Organization/org-igtfbl4z5vy3slboyo3cssdmyu"),
			[]want{e("EOB-prof-careTeam-practitioner", E("careTeam[0].provider"))}},
		{"careTeam provider is a Patient", prof, set("careTeam.0.provider.reference", "Patient/p1"), []want{e(E("careTeam.provider.target"), E("careTeam[0].provider")), e("EOB-prof-careTeam-practitioner", E("careTeam[0].provider"))}},
		{"careTeam role not professional", prof, set("careTeam.0.role", cc(c4bbCS+"C4BBClaimCareTeamRole", "attending")), []want{e(E("careTeam.role.binding"), E("careTeam[0].role"))}},
		{"careTeam role missing", prof, del("careTeam.0.role"), []want{e(E("careTeam.role.min"), E("careTeam[0].role"))}},
		{"careTeam qualification not NUCC", prof, set("careTeam.0.qualification", cc("http://example.org/taxonomy", "207Q00000X")),
			[]want{e(E("careTeam.qualification.binding"), E("careTeam[0].qualification"))}},
		{"careTeam qualification bad NUCC syntax", prof, set("careTeam.0.qualification", cc(nucc, "207Q0000")),
			[]want{w(E("careTeam.qualification.format"), E("careTeam[0].qualification"))}},
		{"insurance missing", prof, del("insurance"), []want{e(E("insurance.min"), E("insurance"))}},
		{"two focal insurances", prof, dup("insurance.0"), []want{e("EOB-insurance-focal", E("insurance"))}},
		{"no focal insurance", prof, set("insurance.0.focal", false), []want{w("EOB-insurance-focal.none", E("insurance"))}},
		{"insurance coverage is a Patient", prof, set("insurance.0.coverage.reference", "Patient/p1"), []want{e(E("insurance.coverage.target"), E("insurance[0].coverage"))}},
		{"item missing", prof, del("item"), []want{e(E("item.min"), E("item"))}},
		{"payment type unknown", prof, set("payment.type", cc(status, "innetwork")), []want{e(E("payment.type.binding"), E("payment.type"))}},
		{"priority unknown", prof, set("priority", cc("http://terminology.hl7.org/CodeSystem/processpriority", "urgent")), []want{e(E("priority.binding"), E("priority"))}},
		{"total amount missing", prof, del("total.0.amount"), []want{e(E("total.amount.min"), E("total[0].amount")), e(E("total:adjudicationamounttype.amount.min"), E("total[0].amount"))}},

		// Professional / NonClinician.
		{"diagnosis missing", prof, del("diagnosis"), []want{e(E("diagnosis.min"), E("diagnosis"))}},
		{"diagnosis type missing", prof, del("diagnosis.0.type"), []want{e(E("diagnosis.type.min"), E("diagnosis[0].type"))}},
		{"diagnosis type not professional", prof, set("diagnosis.0.type", "["+cc("http://terminology.hl7.org/CodeSystem/ex-diagnosistype", "admitting")+"]"),
			[]want{e(E("diagnosis.type.binding"), E("diagnosis[0].type[0]"))}},
		{"diagnosis as a Reference", prof, all(del("diagnosis.0.diagnosisCodeableConcept"), set("diagnosis.0.diagnosisReference", `{"reference":"Condition/c1"}`)),
			[]want{e(E("diagnosis.diagnosis[x].type"), E("diagnosis[0].diagnosisReference"))}},
		{"diagnosis code system not ICD-CM", prof, set("diagnosis.0.diagnosisCodeableConcept", cc("http://hl7.org/fhir/sid/icd-10", "J06.9")),
			[]want{e(E("diagnosis.diagnosis[x].binding"), E("diagnosis[0].diagnosisCodeableConcept"))}},
		{"diagnosis code without its point", prof, set("diagnosis.0.diagnosisCodeableConcept", cc("http://hl7.org/fhir/sid/icd-10-cm", "J069")),
			[]want{w(E("diagnosis.diagnosis[x].format"), E("diagnosis[0].diagnosisCodeableConcept"))}},
		{"item serviced missing", prof, del("item.0.servicedDate"), []want{e(E("item.serviced[x].min"), E("item[0].serviced[x]"))}},
		{"item location missing", prof, del("item.0.locationCodeableConcept"), []want{e(E("item.location[x].min"), E("item[0].location[x]"))}},
		{"item location is an address", prof, all(del("item.0.locationCodeableConcept"), set("item.0.locationAddress", `{"city":"X"}`)),
			[]want{e(E("item.location[x].type"), E("item[0].locationAddress"))}},
		{"item location not POS", prof, set("item.0.locationCodeableConcept", cc("http://example.org/pos", "11")), []want{e(E("item.location[x].binding"), E("item[0].locationCodeableConcept"))}},
		{"item location POS not 2 digits", prof, set("item.0.locationCodeableConcept", cc("https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set", "1")),
			[]want{w(E("item.location[x].format"), E("item[0].locationCodeableConcept"))}},
		{"item product not CPT/HCPCS", prof, set("item.0.productOrService", cc("http://www.ada.org/cdt", "D2391")), []want{e(E("item.productOrService.binding"), E("item[0].productOrService"))}},
		{"item HCPCS with a CPT code", prof, set("item.0.productOrService", cc("https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "99213")),
			[]want{w(E("item.productOrService.format"), E("item[0].productOrService"))}},
		{"not-applicable product on a professional claim", prof, set("item.0.productOrService", cc("http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-applicable")),
			[]want{e("EOB-vision-item-productorservice", E("item[0].productOrService"))}},
		{"not-applicable product on a vision claim (control)", prof, all(set("type", cc("http://terminology.hl7.org/CodeSystem/claim-type", "vision")),
			set("item.0.productOrService", cc("http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-applicable"))), nil},
		{"item modifier not CPT/HCPCS", prof, set("item.0.modifier.0", cc("http://example.org/mod", "25")), []want{e(E("item.modifier.binding"), E("item[0].modifier[0]"))}},
		{"item benefitpaymentstatus missing", prof, del("item.0.adjudication.7"), []want{e(E("item.adjudication:benefitpaymentstatus.min"), E("item[0].adjudication"))}},
		{"item benefitpaymentstatus reason unknown", prof, set("item.0.adjudication.7.reason.coding.0.code", "paid"),
			[]want{e(E("item.adjudication:benefitpaymentstatus.reason.binding"), E("item[0].adjudication[7].reason"))}},
		{"item benefitpaymentstatus reason missing", prof, del("item.0.adjudication.7.reason"),
			[]want{e(E("item.adjudication:benefitpaymentstatus.reason.min"), E("item[0].adjudication[7].reason"))}},
		{"two item adjustment reasons", prof, dup("item.0.adjudication.6"), []want{e(E("item.adjudication:adjustmentreason.max"), E("item[0].adjudication"))}},
		{"item adjustment reason not CARC/RARC", prof, set("item.0.adjudication.6.reason.coding.0.system", "http://example.org/reason"),
			[]want{e(E("item.adjudication:adjustmentreason.reason.binding"), E("item[0].adjudication[6].reason"))}},
		{"item adjudication category missing", prof, del("item.0.adjudication.8.category"), []want{e(E("item.adjudication.category.min"), E("item[0].adjudication[8].category"))}},
		{"no item amounts", prof, all(del("item.0.adjudication.5"), del("item.0.adjudication.4"), del("item.0.adjudication.3"), del("item.0.adjudication.2"), del("item.0.adjudication.1"), del("item.0.adjudication.0")),
			[]want{e(E("item.adjudication:adjudicationamounttype.min"), E("item[0].adjudication"))}},
		{"item amount without amount", prof, del("item.0.adjudication.0.amount"), []want{e(E("item.adjudication:adjudicationamounttype.amount.min"), E("item[0].adjudication[0].amount"))}},
		{"total missing", prof, del("total"), []want{e(E("total.min"), E("total")), e(E("total:adjudicationamounttype.min"), E("total"))}},
		{"total without amount categories", prof, all(del("total.3"), del("total.2"), del("total.1"), set("total.0.category", cc(discr, "benefitpaymentstatus"))),
			[]want{e(E("total:adjudicationamounttype.min"), E("total"))}},
		{"billing network status not a network status", prof, add("adjudication", adj(discr, "billingnetworkstatus", status, "other")),
			[]want{e(E("adjudication:billingnetworkstatus.reason.binding"), E("adjudication[0].reason"))}},
		{"two rendering network statuses", prof, all(add("adjudication", adj(discr, "renderingnetworkstatus", status, "innetwork")), dup("adjudication.0")),
			[]want{e(E("adjudication:renderingnetworkstatus.max"), E("adjudication"))}},
		{"claim received date missing", prof, del("supportingInfo.0.timingDate"), []want{e(E("supportingInfo:clmrecvddate.timing[x].min"), E("supportingInfo[0].timing[x]"))}},
		{"claim received date as a period", prof, all(del("supportingInfo.0.timingDate"), set("supportingInfo.0.timingPeriod", `{"start":"2024-01-16"}`)),
			[]want{e(E("supportingInfo:clmrecvddate.timing[x].type"), E("supportingInfo[0].timingPeriod"))}},
		{"two patient account numbers", prof, dup("supportingInfo.1"), []want{e(E("supportingInfo:patientaccountnumber.max"), E("supportingInfo"))}},
		{"patient account number not a string", prof, all(del("supportingInfo.1.valueString"), set("supportingInfo.1.valueBoolean", true)),
			[]want{e(E("supportingInfo:patientaccountnumber.value[x].type"), E("supportingInfo[1].valueBoolean"))}},
		{"service facility not an Organization", prof, add("supportingInfo", `{"sequence":3,"category":`+cc(si, "servicefacility")+`,"valueReference":{"reference":"Location/l1"}}`),
			[]want{e(E("supportingInfo:servicefacility.value[x].target"), E("supportingInfo[2].valueReference"))}},
		{"transportation info not linked to an item", prof,
			add("supportingInfo", `{"sequence":3,"category":`+cc(si, "patientweight")+`,"valueQuantity":{"value":150,"unit":"[lb_av]","system":"http://unitsofmeasure.org"}}`),
			[]want{e("EOB-prof-all-transportation-supportinginfo-linked-to-line", E("supportingInfo[2]"))}},
		{"transportation info linked (control)", prof, all(
			add("supportingInfo", `{"sequence":3,"category":`+cc(si, "patientweight")+`,"valueQuantity":{"value":150,"unit":"[lb_av]","system":"http://unitsofmeasure.org"}}`),
			set("item.0.informationSequence", "[3]")), nil},
		{"patient weight in kg", prof, all(
			add("supportingInfo", `{"sequence":3,"category":`+cc(si, "patientweight")+`,"valueQuantity":{"value":70,"unit":"kg","system":"http://unitsofmeasure.org"}}`),
			set("item.0.informationSequence", "[3]")),
			[]want{e(E("supportingInfo:patientweight.value[x].unit.fixed"), E("supportingInfo[2].valueQuantity.unit"))}},
		{"profile version unsupported", prof, set("meta.profile", `["`+profProf+`|2.0.0"]`),
			[]want{w("profile.version", E("meta.profile")), w("EOB-professional-nonclinician-meta-profile-version", E("meta.profile"))}},
		{"profile without version", prof, set("meta.profile", `["`+profProf+`"]`), []want{w("EOB-professional-nonclinician-meta-profile-version", E("meta.profile"))}},
		{"abstract profile", prof, set("meta.profile", `["`+c4bbSD+`C4BB-ExplanationOfBenefit|2.1.0"]`), []want{e("profile.abstract", E("meta.profile"))}},
		{"unknown profile (control)", prof, set("meta.profile", `["http://example.org/StructureDefinition/my-eob"]`), nil},

		// Inpatient institutional.
		{"inpatient subType missing", inp, del("subType"), []want{e(E("subType.min"), E("subType"))}},
		{"inpatient subType outpatient", inp, set("subType.coding.0.code", "outpatient"), []want{e(E("subType.pattern"), E("subType"))}},
		{"inpatient type professional", inp, set("type.coding.0.code", "professional"), []want{e(E("type.pattern"), E("type"))}},
		{"inpatient provider a Practitioner", inp, set("provider.reference", "Practitioner/prac-ybrq2nmk5tikwrmt6decr3b5ia"), []want{e(E("provider.target"), E("provider"))}},
		{"inpatient rendering a Practitioner", inp, set("careTeam.1.provider.reference", "Practitioner/prac-ybrq2nmk5tikwrmt6decr3b5ia"),
			[]want{e("EOB-inst-careTeam-organization", E("careTeam[1].provider"))}},
		{"inpatient attending an Organization", inp, set("careTeam.0.provider.reference", "Organization/org-rc4r74xoazxqtgkriup2h3ouya"),
			[]want{e("EOB-inst-careTeam-practitioner", E("careTeam[0].provider"))}},
		{"inpatient careTeam role professional-only", inp, set("careTeam.0.role", cc(c4bbCS+"C4BBClaimCareTeamRole", "purchasedservice")),
			[]want{e(E("careTeam.role.binding"), E("careTeam[0].role"))}},
		{"inpatient admission period missing", inp, del("supportingInfo.0"), []want{e(E("supportingInfo:admissionperiod.min"), E("supportingInfo"))}},
		{"inpatient admission period a date", inp, all(del("supportingInfo.0.timingPeriod"), set("supportingInfo.0.timingDate", "2024-02-10")),
			[]want{e(E("supportingInfo:admissionperiod.timing[x].type"), E("supportingInfo[0].timingDate"))}},
		{"inpatient type of bill not NUBC", inp, set("supportingInfo.2.code.coding.0.system", "http://example.org/tob"),
			[]want{e(E("supportingInfo:typeofbill.code.binding"), E("supportingInfo[2].code"))}},
		{"inpatient type of bill without code", inp, del("supportingInfo.2.code"), []want{e(E("supportingInfo:typeofbill.code.min"), E("supportingInfo[2].code"))}},
		{"inpatient DRG without code", inp, del("supportingInfo.6.code"), []want{e(E("supportingInfo:drg.code.min"), E("supportingInfo[6].code"))}},
		{"inpatient newborn point of origin, non-newborn admission", inp, set("supportingInfo.3.code.coding.0.system", "https://www.nubc.org/CodeSystem/PointOfOriginNewborn"),
			[]want{e("EOB-inst-pointoforigin", E("supportingInfo"))}},
		{"inpatient newborn admission, non-newborn point of origin", inp, set("supportingInfo.4.code.coding.0.code", "4"),
			[]want{w("EOB-inst-pointoforigin.newborn", E("supportingInfo"))}},
		{"inpatient revenue missing", inp, del("item.0.revenue"), []want{e(E("item.revenue.min"), E("item[0].revenue"))}},
		{"inpatient revenue 3 digits", inp, set("item.0.revenue.coding.0.code", "120"), []want{w(E("item.revenue.format"), E("item[0].revenue"))}},
		{"inpatient product HIPPS (control)", inp, set("item.0.productOrService", cc("https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/ProspMedicareFeeSvcPmtGen/HIPPSCodes", "HAAA1")), nil},
		{"inpatient diagnosis type secondary", inp, set("diagnosis.1.type.0.coding.0.code", "secondary"), []want{e(E("diagnosis.type.binding"), E("diagnosis[1].type[0]"))}},
		{"inpatient POA not CMS", inp, set("diagnosis.0.onAdmission", cc("urn:oid:2.16.840.1.113883.6.301.11", "Y")), []want{e(E("diagnosis.onAdmission.binding"), E("diagnosis[0].onAdmission"))}},
		{"inpatient procedure type missing", inp, del("procedure.0.type"), []want{e(E("procedure.type.min"), E("procedure[0].type"))}},
		{"inpatient procedure CPT", inp, set("procedure.0.procedureCodeableConcept", cc("http://www.ama-assn.org/go/cpt", "99223")),
			[]want{e(E("procedure.procedure[x].binding"), E("procedure[0].procedureCodeableConcept"))}},
		{"inpatient ICD-9 procedure, 2.1.0 system (control)", inp, set("procedure.0.procedureCodeableConcept", cc("http://www.cms.gov/Medicare/Coding/ICD9", "81.51")), nil},
		{"inpatient amounts at header and item", inp, add("adjudication", `{"category":`+cc("http://terminology.hl7.org/CodeSystem/adjudication", "submitted")+`,"amount":{"value":1,"currency":"USD"}}`),
			[]want{e("EOB-institutional-item-or-header-adjudication", E("adjudication"))}},
		{"inpatient no amounts", inp, all(del("item.0.adjudication.1"), del("item.0.adjudication.0")),
			[]want{e("EOB-institutional-item-or-header-adjudication", E("adjudication")), e("adjudication-has-amount-type-slice", E("item[0].adjudication"))}},
		{"inpatient benefit payment status missing", inp, del("adjudication.1"), []want{e(E("adjudication:benefitpaymentstatus.min"), E("adjudication"))}},
		{"inpatient allowed units without value", inp, del("item.0.adjudication.3.value"), []want{e(E("item.adjudication:allowedunits.value.min"), E("item[0].adjudication[3].value"))}},
		{"inpatient total missing", inp, del("total"), []want{e(E("total.min"), E("total")), e(E("total:adjudicationamounttype.min"), E("total"))}},

		// Outpatient institutional.
		{"outpatient rendering without qualification", out, del("careTeam.1.qualification"), []want{e("EOB-careteam-qualification", E("careTeam[1].qualification"))}},
		{"outpatient serviced as a period", out, all(del("item.0.servicedDate"), set("item.0.servicedPeriod", `{"start":"2024-02-20"}`)),
			[]want{e(E("item.serviced[x].type"), E("item[0].servicedPeriod"))}},
		{"outpatient serviced missing", out, del("item.0.servicedDate"), []want{e(E("item.serviced[x].min"), E("item[0].serviced[x]"))}},
		{"outpatient subType inpatient", out, set("subType.coding.0.code", "inpatient"), []want{e(E("subType.pattern"), E("subType"))}},
		{"outpatient diagnosis admitting", out, set("diagnosis.0.type.0.coding.0.code", "admitting"), []want{e(E("diagnosis.type.binding"), E("diagnosis[0].type[0]"))}},
		{"outpatient amounts at header and item", out, add("item.0.adjudication", `{"category":`+cc("http://terminology.hl7.org/CodeSystem/adjudication", "submitted")+`,"amount":{"value":1,"currency":"USD"}}`),
			[]want{e("EOB-institutional-item-or-header-adjudication", E("adjudication"))}},

		// Oral.
		{"oral item without bodySite", oral, del("item.0.bodySite"), []want{e("Oral-line-item-with-linked-additionalbody-site-requires-bodysite", E("item[0].bodySite"))}},
		{"oral additional body site not linked", oral, del("item.0.informationSequence"), []want{e("Oral-EOB-supportinginfo-additionalbodysite-requires-line-item", E("supportingInfo[0]"))}},
		{"oral surface without tooth", oral, all(del("item.0.informationSequence"), del("item.0.bodySite")),
			[]want{e("Oral-EOB-supportinginfo-additionalbodysite-requires-line-item", E("supportingInfo[0]")), e("Oral-EOB-surface-subsite-requires-tooth-number", E("item[0].subSite"))}},
		{"oral surface with an area only", oral, all(del("item.0.informationSequence"), set("item.0.bodySite", cc("http://terminology.hl7.org/CodeSystem/ADAAreaOralCavitySystem", "10"))),
			[]want{e("Oral-EOB-supportinginfo-additionalbodysite-requires-line-item", E("supportingInfo[0]")), e("Oral-EOB-surface-subsite-requires-tooth-number", E("item[0].subSite"))}},
		{"oral rendering network status missing", oral, del("adjudication.0"), []want{e(E("adjudication:renderingnetworkstatus.min"), E("adjudication"))}},
		{"oral benefit payment status missing", oral, del("adjudication.1"), []want{e(E("adjudication:benefitpaymentstatus.min"), E("adjudication"))}},
		{"oral product CPT", oral, set("item.0.productOrService", cc("http://www.ama-assn.org/go/cpt", "99213")), []want{e(E("item.productOrService.binding"), E("item[0].productOrService"))}},
		{"oral product without D", oral, set("item.0.productOrService.coding.0.code", "2391"), []want{w(E("item.productOrService.format"), E("item[0].productOrService"))}},
		{"oral surface not ADA", oral, set("item.0.subSite.0", cc("http://terminology.hl7.org/CodeSystem/FDI-surface", "O")), []want{e(E("item.subSite.binding"), E("item[0].subSite[0]"))}},
		{"oral body site not ADA", oral, set("item.0.bodySite", cc("http://snomed.info/sct", "245577003")), []want{e(E("item.bodySite.binding"), E("item[0].bodySite"))}},
		{"oral missing tooth without code", oral, del("supportingInfo.1.code"), []want{e(E("supportingInfo:missingtoothnumber.code.min"), E("supportingInfo[1].code"))}},
		{"oral type professional", oral, set("type.coding.0.code", "professional"), []want{e(E("type.pattern"), E("type"))}},
		{"oral diagnosis type missing (diagnosis optional)", oral, add("diagnosis", `{"sequence":1,"diagnosisCodeableConcept":`+cc("http://hl7.org/fhir/sid/icd-10-cm", "K02.52")+`}`),
			[]want{e(E("diagnosis.type.min"), E("diagnosis[0].type"))}},
		{"oral item location missing", oral, del("item.0.locationCodeableConcept"), []want{e(E("item.location[x].min"), E("item[0].location[x]"))}},

		// Pharmacy.
		{"pharmacy days supply missing", ph, del("supportingInfo.0"), []want{e(E("supportingInfo:dayssupply.min"), E("supportingInfo"))}},
		{"pharmacy DAW code missing", ph, del("supportingInfo.1"), []want{e(E("supportingInfo:dawcode.min"), E("supportingInfo"))}},
		{"pharmacy refill number missing", ph, del("supportingInfo.2"), []want{e(E("supportingInfo:refillNum.min"), E("supportingInfo"))}},
		{"pharmacy refills authorized missing", ph, del("supportingInfo.3"), []want{e(E("supportingInfo:refillsAuthorized.min"), E("supportingInfo"))}},
		{"pharmacy DAW not NCPDP", ph, set("supportingInfo.1.code.coding.0.system", "http://example.org/daw"), []want{e(E("supportingInfo:dawcode.code.binding"), E("supportingInfo[1].code"))}},
		{"pharmacy days supply a string", ph, all(del("supportingInfo.0.valueQuantity"), set("supportingInfo.0.valueString", "30")),
			[]want{e(E("supportingInfo:dayssupply.value[x].type"), E("supportingInfo[0].valueString"))}},
		{"pharmacy prescriber a Practitioner (2.1.0 as published)", ph,
			add("careTeam", `{"sequence":1,"provider":{"reference":"Practitioner/prac-ybrq2nmk5tikwrmt6decr3b5ia"},"role":`+cc(c4bbCS+"C4BBClaimCareTeamRole", "prescribing")+`}`),
			[]want{e("EOB-pharm-careTeam-practitioner", E("careTeam[0].provider"))}},
		{"pharmacy rendering careTeam", ph,
			add("careTeam", `{"sequence":1,"provider":{"reference":"Practitioner/prac-ybrq2nmk5tikwrmt6decr3b5ia"},"role":`+cc(c4bbCS+"C4BBClaimCareTeamRole", "rendering")+`}`),
			[]want{e(E("careTeam.role.binding"), E("careTeam[0].role")), e("EOB-pharm-careTeam-organization", E("careTeam[0].provider"))}},
		{"pharmacy product CPT", ph, set("item.0.productOrService", cc("http://www.ama-assn.org/go/cpt", "99213")), []want{e(E("item.productOrService.binding"), E("item[0].productOrService"))}},
		{"pharmacy compound (control)", ph, set("item.0.productOrService", cc(c4bbCS+"C4BBCompoundLiteral", "compound")), nil},
		{"pharmacy detail not NDC", ph, set("item.0.detail", `[{"sequence":1,"productOrService":`+cc("http://www.nlm.nih.gov/research/umls/rxnorm", "197361")+`}]`),
			[]want{e(E("item.detail.productOrService.binding"), E("item[0].detail[0].productOrService"))}},
		{"pharmacy two reject reasons", ph, all(add("item.0.adjudication", adj(discr, "rejectreason", "http://terminology.hl7.org/CodeSystem/NCPDPRejectCode", "70")), dup("item.0.adjudication.3")),
			[]want{e(E("item.adjudication:rejectreason.max"), E("item[0].adjudication"))}},
		{"pharmacy reject reason not NCPDP", ph, add("item.0.adjudication", adj(discr, "rejectreason", carc, "45")),
			[]want{e(E("item.adjudication:rejectreason.reason.binding"), E("item[0].adjudication[3].reason"))}},
		{"pharmacy serviced as a period", ph, all(del("item.0.servicedDate"), set("item.0.servicedPeriod", `{"start":"2024-04-20"}`)),
			[]want{e(E("item.serviced[x].type"), E("item[0].servicedPeriod"))}},
		{"pharmacy benefit payment status missing", ph, del("adjudication"), []want{e(E("adjudication:benefitpaymentstatus.min"), E("adjudication"))}},

		// C4BB Coverage (+ US Core Coverage).
		{"coverage subscriberId missing", "coverage", del("subscriberId"), []want{e("Coverage.subscriberId.min", "Coverage.subscriberId")}},
		{"coverage no member id at all", "coverage", all(del("subscriberId"), del("identifier")),
			[]want{e("Coverage.subscriberId.min", "Coverage.subscriberId"), e("us-core-15", "Coverage.subscriberId")}},
		{"coverage relationship missing", "coverage", del("relationship"), []want{e("Coverage.relationship.min", "Coverage.relationship")}},
		{"coverage relationship unknown", "coverage", set("relationship.coding.0.code", "friend"), []want{e("Coverage.relationship.binding", "Coverage.relationship")}},
		{"coverage two payors", "coverage", dup("payor.0"), []want{e("Coverage.payor.max", "Coverage.payor")}},
		{"coverage payor a Patient", "coverage", set("payor.0.reference", "Patient/p1"), []want{e("Coverage.payor.target", "Coverage.payor[0]")}},
		{"coverage beneficiary a Group", "coverage", set("beneficiary.reference", "Group/g1"), []want{e("Coverage.beneficiary.target", "Coverage.beneficiary")}},
		{"coverage lastUpdated missing", "coverage", del("meta.lastUpdated"), []want{e("Coverage.meta.lastUpdated.min", "Coverage.meta.lastUpdated")}},
		{"coverage two groups", "coverage", dup("class.0"), []want{e("Coverage.class:group.max", "Coverage.class")}},
		{"coverage group without value", "coverage", del("class.0.value"), []want{e("Coverage.class:group.value.min", "Coverage.class[0].value")}},
		{"coverage two member ids", "coverage", dup("identifier.0"), []want{e("Coverage.identifier:memberid.max", "Coverage.identifier")}},
		{"coverage status missing", "coverage", del("status"), []want{e("Coverage.status.min", "Coverage.status")}},

		// C4BB Patient (+ US Core Patient).
		{"patient member id typed MR", "patient", set("identifier.0.type.coding.0.code", "MR"), []want{e("Patient.identifier:memberid.min", "Patient.identifier")}},
		{"patient identifier without system", "patient", del("identifier.0.system"), []want{e("Patient.identifier.system.min", "Patient.identifier[0].system")}},
		{"patient gender missing", "patient", del("gender"), []want{e("Patient.gender.min", "Patient.gender")}},
		{"patient name missing", "patient", del("name"), []want{e("Patient.name.min", "Patient.name")}},
		{"patient name text only", "patient", set("name.0", `{"text":"J DOE"}`), []want{e("us-core-6", "Patient.name[0]")}},
		{"patient name absent with reason (control)", "patient", set("name.0", `{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}`), nil},
		{"patient lastUpdated missing", "patient", del("meta.lastUpdated"), []want{e("Patient.meta.lastUpdated.min", "Patient.meta.lastUpdated")}},
		{"patient profile unversioned", "patient", set("meta.profile", `["`+c4bbSD+`C4BB-Patient"]`), []want{w("patient-meta-profile-version", "Patient.meta.profile")}},
		{"patient telecom without value", "patient", add("telecom", `{"system":"phone"}`), []want{e("Patient.telecom.value.min", "Patient.telecom[0].value")}},
		{"patient race without text", "patient", add("extension", `{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3"}}]}`),
			[]want{e("Patient.extension:race.extension:text.min", "Patient.extension[0].extension")}},
		{"patient birth sex as a string", "patient", add("extension", `{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueString":"F"}`),
			[]want{e("Patient.extension:birthsex.value[x].type", "Patient.extension[0].valueString")}},
		{"patient two ethnicities", "patient", all(add("extension", `{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity","extension":[{"url":"text","valueString":"x"}]}`), dup("extension.0")),
			[]want{e("Patient.extension:ethnicity.max", "Patient.extension")}},
		{"patient with race (control)", "patient", add("extension", `{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3"}},{"url":"text","valueString":"White"}]}`), nil},

		// C4BB Organization (+ US Core Organization).
		{"organization NPI check digit", "organization-provider", set("identifier.0.value", "1234567890"), []want{e("us-core-17", "Organization.identifier[0].value")}},
		{"organization NPI length", "organization-provider", set("identifier.0.value", "123456789"), []want{e("us-core-16", "Organization.identifier[0].value")}},
		{"organization NPI without type", "organization-provider", del("identifier.0.type"), []want{w("C4BB.identifier.type", "Organization.identifier[0].type")}},
		{"organization TIN without type", "organization-provider", del("identifier.1.type"), []want{w("C4BB.identifier.type", "Organization.identifier[1].type")}},
		{"organization active missing", "organization-provider", del("active"), []want{e("Organization.active.min", "Organization.active")}},
		{"organization name missing", "organization-provider", del("name"), []want{e("Organization.name.min", "Organization.name")}},
		{"organization lastUpdated missing", "organization-provider", del("meta.lastUpdated"), []want{e("uncontained-requires-lastUpdated", "Organization.meta.lastUpdated")}},
		{"organization five address lines", "organization-provider", set("address.0.line", `["1","2","3","4","5"]`), []want{e("Organization.address.line.max", "Organization.address[0].line")}},
		{"payer NAIC four digits", "organization-payer", set("identifier.1.value", "6005"), []want{e("us-core-19", "Organization.identifier[1].value")}},
		{"organization CLIA malformed", "organization-provider", add("identifier", `{"system":"urn:oid:2.16.840.1.113883.4.7","value":"12X3456789"}`), []want{e("us-core-18", "Organization.identifier[2].value")}},

		// C4BB Practitioner (+ US Core Practitioner).
		{"practitioner NPI without type", "practitioner", del("identifier.0.type"),
			[]want{e("Practitioner-identifier", "Practitioner.identifier"), w("C4BB.identifier.type", "Practitioner.identifier[0].type")}},
		{"practitioner two NPIs", "practitioner", dup("identifier.0"), []want{e("Practitioner.identifier:NPI.max", "Practitioner.identifier")}},
		{"practitioner family missing", "practitioner", del("name.0.family"), []want{e("Practitioner.name.family.min", "Practitioner.name[0].family")}},
		{"practitioner no identifier", "practitioner", del("identifier"),
			[]want{e("Practitioner.identifier.min", "Practitioner.identifier"), e("Practitioner-identifier", "Practitioner.identifier")}},
		{"practitioner NPI check digit", "practitioner", set("identifier.0.value", "1912301954"), []want{e("us-core-17", "Practitioner.identifier[0].value")}},

		// C4BB RelatedPerson (+ US Core RelatedPerson).
		{"relatedperson active missing", "relatedperson", del("active"), []want{e("RelatedPerson.active.min", "RelatedPerson.active")}},
		{"relatedperson no name nor relationship", "relatedperson", all(del("name"), del("relationship")), []want{e("us-core-14", "RelatedPerson.name")}},
		{"relatedperson patient a Group", "relatedperson", set("patient.reference", "Group/g1"), []want{e("RelatedPerson.patient.target", "RelatedPerson.patient")}},
		{"relatedperson lastUpdated missing", "relatedperson", del("meta.lastUpdated"), []want{e("RelatedPerson.meta.lastUpdated.min", "RelatedPerson.meta.lastUpdated")}},

		// Plan-Net.
		{"plannet practitioner inactive", "plannet-practitioner", set("active", false), []want{e("Practitioner.active.fixed", "Practitioner.active")}},
		{"plannet practitioner active missing", "plannet-practitioner", del("active"), []want{e("Practitioner.active.min", "Practitioner.active")}},
		{"plannet practitioner qualification code missing", "plannet-practitioner", del("qualification.0.code"), []want{e("Practitioner.qualification.code.min", "Practitioner.qualification[0].code")}},
		{"plannet practitioner NPI check digit", "plannet-practitioner", set("identifier.0.value", "1667000009"), []want{e("us-core-17", "Practitioner.identifier[0].value")}},
		{"plannet organization address missing", "plannet-organization", del("address"), []want{e("Organization.address.min", "Organization.address")}},
		{"plannet organization type missing", "plannet-organization", del("type"), []want{e("Organization.type.min", "Organization.type")}},
		{"plannet organization inactive", "plannet-organization", set("active", false), []want{e("Organization.active.fixed", "Organization.active")}},
		{"plannet organization partOf a Location", "plannet-organization", set("partOf", `{"reference":"Location/l1"}`), []want{e("Organization.partOf.target", "Organization.partOf")}},
		{"plannet network with telecom", "plannet-network", add("telecom", `{"system":"phone","value":"555"}`), []want{e("Organization.telecom.max", "Organization.telecom")}},
		{"plannet network partOf missing", "plannet-network", del("partOf"), []want{e("Organization.partOf.min", "Organization.partOf")}},
		{"plannet network type not ntwk", "plannet-network", set("type.0.coding.0.code", "prvgrp"), []want{e("Organization.type.binding", "Organization.type[0]")}},
		{"plannet network two types", "plannet-network", dup("type.0"), []want{e("Organization.type.max", "Organization.type")}},
		{"plannet network inactive", "plannet-network", set("active", false), []want{e("Organization.active.fixed", "Organization.active")}},
		{"plannet location suspended", "plannet-location", set("status", "suspended"), []want{e("Location.status.fixed", "Location.status")}},
		{"plannet location status missing", "plannet-location", del("status"), []want{e("Location.status.min", "Location.status")}},
		{"plannet location with mode", "plannet-location", set("mode", "instance"), []want{e("Location.mode.max", "Location.mode")}},
		{"plannet location name missing", "plannet-location", del("name"), []want{e("Location.name.min", "Location.name")}},
		{"plannet location accepting code unknown", "plannet-location", set("extension.0.extension.0.valueCodeableConcept.coding.0.code", "maybe"),
			[]want{e("Location.extension:newpatients.extension:acceptingPatients.value[x].binding", "Location.extension[0].extension[0].valueCodeableConcept")}},
		{"plannet location accepting missing", "plannet-location", del("extension.0.extension.0"),
			[]want{e("Location.extension:newpatients.extension:acceptingPatients.min", "Location.extension[0].extension")}},
		{"plannet location fromNetwork a Practitioner", "plannet-location", set("extension.0.extension.1.valueReference.reference", "Practitioner/p1"),
			[]want{e("Location.extension:newpatients.extension:fromNetwork.value[x].target", "Location.extension[0].extension[1].valueReference")}},
		{"plannet role without anyone", "plannet-practitionerrole", all(del("practitioner"), del("organization"), del("location")),
			[]want{e("practitioner-or-organization-or-healthcareservice-or-location", "PractitionerRole.practitioner"), e("us-core-13", "PractitionerRole.practitioner")}},
		{"plannet role without telecom", "plannet-practitionerrole", del("telecom"), []want{e("pd-1", "PractitionerRole.telecom")}},
		{"plannet role telecom without system", "plannet-practitionerrole", del("telecom.0.system"), []want{e("PractitionerRole.telecom.system.min", "PractitionerRole.telecom[0].system")}},
		{"plannet role specialty not NUCC", "plannet-practitionerrole", set("specialty.0.coding.0.system", "http://snomed.info/sct"), []want{e("PractitionerRole.specialty.binding", "PractitionerRole.specialty[0]")}},
		{"plannet role specialty bad syntax", "plannet-practitionerrole", set("specialty.0.coding.0.code", "207Q00000"), []want{w("PractitionerRole.specialty.format", "PractitionerRole.specialty[0]")}},
		{"plannet role code unknown system", "plannet-practitionerrole", set("code.0.coding.0.system", "http://example.org/roles"), []want{e("PractitionerRole.code.binding", "PractitionerRole.code[0]")}},
		{"plannet role inactive", "plannet-practitionerrole", set("active", false), []want{e("PractitionerRole.active.fixed", "PractitionerRole.active")}},
		{"plannet role two networks", "plannet-practitionerrole", dup("extension.0"), []want{e("PractitionerRole.extension:network-reference.max", "PractitionerRole.extension")}},
		{"plannet role network not a reference", "plannet-practitionerrole", set("extension.0", `{"url":"`+pnSD+`network-reference","valueString":"PPO"}`),
			[]want{e("PractitionerRole.extension:network-reference.value[x].type", "PractitionerRole.extension[0].valueString")}},
		{"plannet role not accepting, with characteristics", "plannet-practitionerrole", set("extension.1.extension.0.valueCodeableConcept.coding.0.code", "nopt"),
			[]want{w("new-patients-characteristics.nopt", "PractitionerRole.extension[1]")}},
		{"plannet role not accepting (published code no), with characteristics", "plannet-practitionerrole", set("extension.1.extension.0.valueCodeableConcept.coding.0.code", "no"),
			[]want{e("new-patients-characteristics", "PractitionerRole.extension[1]"),
				e("PractitionerRole.extension:newpatients.extension:acceptingPatients.value[x].binding", "PractitionerRole.extension[1].extension[0].valueCodeableConcept")}},
		{"plannet role qualification without code", "plannet-practitionerrole", add("extension", `{"url":"`+pnSD+`qualification","extension":[{"url":"status","valueCode":"active"}]}`),
			[]want{e("PractitionerRole.extension:qualification.extension:code.min", "PractitionerRole.extension[2].extension")}},
		{"plannet role healthcareService a Location", "plannet-practitionerrole", set("healthcareService", `[{"reference":"Location/l1"}]`),
			[]want{e("PractitionerRole.healthcareService.target", "PractitionerRole.healthcareService[0]")}},
		{"plannet role practitioner a Patient", "plannet-practitionerrole", set("practitioner.reference", "Patient/p1"), []want{e("PractitionerRole.practitioner.target", "PractitionerRole.practitioner")}},
		{"plannet role qualification status inactive", "plannet-practitionerrole", add("extension", `{"url":"`+pnSD+`qualification","extension":[{"url":"code","valueCodeableConcept":`+cc("http://nucc.org/provider-taxonomy", "207Q00000X")+`},{"url":"status","valueCode":"inactive"}]}`),
			[]want{e("PractitionerRole.extension:qualification.extension:status.value[x].fixed", "PractitionerRole.extension[2].extension[1].valueCode")}},
		{"plannet service category missing", "plannet-healthcareservice", del("category"), []want{e("HealthcareService.category.min", "HealthcareService.category")}},
		{"plannet service inactive", "plannet-healthcareservice", set("active", false), []want{e("HealthcareService.active.fixed", "HealthcareService.active")}},
		{"plannet plan without network", "plannet-insuranceplan", del("network"), []want{e("network-or-plan-Network", "InsurancePlan.network")}},
		{"plannet plan networks per plan (control)", "plannet-insuranceplan", all(del("network"), set("plan.0.network", `[{"reference":"Organization/org-lwilmbs2jy2l6w7bwgmeb5r5zi"}]`)), nil},
		{"plannet plan types repeat", "plannet-insuranceplan", dup("plan.0"), []want{e("plan-type-is-distinct", "InsurancePlan.plan[1].type")}},
		{"plannet plan ownedBy missing", "plannet-insuranceplan", del("ownedBy"), []want{e("InsurancePlan.ownedBy.min", "InsurancePlan.ownedBy")}},
		{"plannet plan type missing", "plannet-insuranceplan", del("type"), []want{e("InsurancePlan.type.min", "InsurancePlan.type")}},
		{"plannet plan draft", "plannet-insuranceplan", set("status", "draft"), []want{e("InsurancePlan.status.fixed", "InsurancePlan.status")}},
		{"plannet endpoint off", "plannet-endpoint", set("status", "off"), []want{e("Endpoint.status.fixed", "Endpoint.status")}},
		{"plannet endpoint connection type missing", "plannet-endpoint", del("connectionType"), []want{e("Endpoint.connectionType.min", "Endpoint.connectionType")}},
		{"plannet endpoint address missing", "plannet-endpoint", del("address"), []want{e("Endpoint.address.min", "Endpoint.address")}},
		{"plannet service location an Organization", "plannet-healthcareservice", set("location.0.reference", "Organization/o1"), []want{e("HealthcareService.location.target", "HealthcareService.location[0]")}},
		{"plannet endpoint two payload types", "plannet-endpoint", dup("payloadType.0"), []want{e("Endpoint.payloadType.max", "Endpoint.payloadType")}},
		{"plannet affiliation without organizations", "plannet-organizationaffiliation", all(del("organization"), del("participatingOrganization")),
			[]want{e("organization-or-participatingOrganization", "OrganizationAffiliation.organization")}},
		{"plannet affiliation inactive", "plannet-organizationaffiliation", set("active", false), []want{e("OrganizationAffiliation.active.fixed", "OrganizationAffiliation.active")}},
		{"plannet affiliation specialty not NUCC", "plannet-organizationaffiliation", set("specialty.0.coding.0.system", "http://snomed.info/sct"),
			[]want{e("OrganizationAffiliation.specialty.binding", "OrganizationAffiliation.specialty[0]")}},

		// Profiles declared on the wrong resource type.
		{"patient declaring an EOB profile", "patient", set("meta.profile", `["`+profProf+`|2.1.0"]`), []want{e("profile.type", "Patient.meta.profile")}},
	}
}

// matchFindings compares findings with the expected ones, exactly.
func matchFindings(t *testing.T, got []check.Finding, wants []want) {
	t.Helper()
	ok := len(got) == len(wants)
	if ok {
		used := make([]bool, len(got))
		for _, wt := range wants {
			found := false
			for i, f := range got {
				if !used[i] && f.Rule == wt.rule && (wt.path == "" || f.Path == wt.path) && f.Severity == wt.sev {
					used[i], found = true, true
					break
				}
			}
			ok = ok && found
		}
	}
	if !ok {
		var ws []string
		for _, wt := range wants {
			ws = append(ws, fmt.Sprintf("%s %s @ %s", wt.sev, wt.rule, wt.path))
		}
		t.Errorf("findings:\n%swant:\n  %s", check.Report(got), strings.Join(ws, "\n  "))
	}
}

func TestValidExamples(t *testing.T) {
	var res []proto.Message
	for _, name := range exampleNames(t) {
		t.Run(name, func(t *testing.T) {
			m := strict(t, load(t, name)) // valid base R4 as well
			if fs := check.Resource(m); len(fs) != 0 {
				t.Errorf("unexpected findings:\n%s", check.Report(fs))
			}
			res = append(res, m)
		})
	}
	if len(res) < 20 {
		t.Fatalf("only %d examples", len(res))
	}
	if fs := check.All(res); len(fs) != 0 {
		t.Errorf("All: unexpected findings:\n%s", check.Report(fs))
	}
	if fs := check.Bundle(bundle(t, res, false)); len(fs) != 0 {
		t.Errorf("Bundle: unexpected findings:\n%s", check.Report(fs))
	}
}

// bundle wraps resources in a collection Bundle; with urn, every reference
// is rewritten to the entries' urn:uuid fullUrls (as in a transaction).
func bundle(t testing.TB, res []proto.Message, urn bool) *bcrpb.Bundle {
	t.Helper()
	b := &bcrpb.Bundle{Type: &bcrpb.Bundle_TypeCode{Value: 0}}
	for i, m := range res {
		cr, err := resource.Wrap(m)
		if err != nil {
			t.Fatal(err)
		}
		full := "https://fhir.example.org/r4/" + resource.Type(m) + "/" + resource.ID(m)
		if urn {
			full = fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", i)
		}
		b.Entry = append(b.Entry, &bcrpb.Bundle_Entry{FullUrl: &dpb.Uri{Value: full}, Resource: cr})
	}
	return b
}

func TestBreakingRules(t *testing.T) {
	for _, c := range breakCases() {
		t.Run(c.name, func(t *testing.T) {
			d := load(t, c.file)
			c.edit(t, d)
			matchFindings(t, check.Resource(toProto(t, d)), c.want)
		})
	}
}

// TestCanary fills every name, identifier value and free-text element of the
// examples with the canary, breaks every rule again, and checks that no
// finding (nor the report) carries the canary, while the findings are still
// the expected ones.
func TestCanary(t *testing.T) {
	for _, c := range breakCases() {
		t.Run(c.name, func(t *testing.T) {
			d := load(t, c.file)
			canarize(d, canary)
			c.edit(t, d)
			fs := check.Resource(toProto(t, d))
			matchFindings(t, fs, c.want)
			if strings.Contains(check.Report(fs), canary) {
				t.Errorf("report leaks the canary:\n%s", check.Report(fs))
			}
			for _, f := range fs {
				if strings.Contains(fmt.Sprintf("%+v %s", f, f), canary) {
					t.Errorf("finding leaks the canary: %+v", f)
				}
			}
		})
	}
	// The canary did reach the resources: the test would be void otherwise.
	d := load(t, "patient")
	canarize(d, canary)
	if get(t, d, "name.0.family") != canary || get(t, d, "identifier.0.value") != canary {
		t.Fatal("canarize did not fill the patient")
	}
}

func TestBasisProfiles(t *testing.T) {
	// The -Basis profiles drop the amount and total requirements.
	cases := []struct {
		file  string
		basis string
		strip func(testing.TB, doc)
	}{
		{"eob-professional", "C4BB-ExplanationOfBenefit-Professional-NonClinician-Basis",
			all(del("total"), del("item.0.adjudication.5"), del("item.0.adjudication.4"), del("item.0.adjudication.3"), del("item.0.adjudication.2"), del("item.0.adjudication.1"), del("item.0.adjudication.0"))},
		{"eob-inpatient", "C4BB-ExplanationOfBenefit-Inpatient-Institutional-Basis", all(del("total"), del("item.0.adjudication.1"), del("item.0.adjudication.0"))},
		{"eob-outpatient", "C4BB-ExplanationOfBenefit-Outpatient-Institutional-Basis", all(del("total"), del("adjudication.2"), del("adjudication.1"))},
		{"eob-oral", "C4BB-ExplanationOfBenefit-Oral-Basis", all(del("total"), del("item.0.adjudication.1"), del("item.0.adjudication.0"))},
		{"eob-pharmacy", "C4BB-ExplanationOfBenefit-Pharmacy-Basis", all(del("total"), del("item.0.adjudication"))},
	}
	for _, c := range cases {
		t.Run(c.basis, func(t *testing.T) {
			d := load(t, c.file)
			c.strip(t, d)
			financial := check.Resource(toProto(t, d))
			if len(financial) == 0 {
				t.Fatal("the financial profile should reject an EOB without amounts")
			}
			set("meta.profile", `["`+c4bbSD+c.basis+`|2.1.0"]`)(t, d)
			if fs := check.Resource(toProto(t, d)); len(fs) != 0 {
				t.Errorf("basis profile findings:\n%s", check.Report(fs))
			}
			// Basis profiles keep everything else: the required item
			// benefit payment status (professional) or header one.
			del("meta.lastUpdated")(t, d)
			matchFindings(t, check.Resource(toProto(t, d)), []want{e(eobT+".meta.lastUpdated.min", eobT+".meta.lastUpdated")})
		})
	}
}

// TestC4BB220 checks the 2.2.0 differences: each edit breaks a 2.1.0 rule
// that 2.2.0 relaxed or changed.
func TestC4BB220(t *testing.T) {
	discr := c4bbCS + "C4BBAdjudicationDiscriminator"
	cases := []struct {
		name  string
		file  string
		edit  func(testing.TB, doc)
		want  []want // under 2.1.0; 2.2.0 must give none
		want2 []want // under 2.2.0 when not none
	}{
		{"institutional provider a Practitioner", "eob-inpatient", set("provider.reference", "Practitioner/prac-ybrq2nmk5tikwrmt6decr3b5ia"),
			[]want{e(eobT+".provider.target", eobT+".provider")}, nil},
		{"institutional rendering a Practitioner", "eob-outpatient", set("careTeam.1.provider.reference", "Practitioner/prac-ybrq2nmk5tikwrmt6decr3b5ia"),
			[]want{e("EOB-inst-careTeam-organization", eobT+".careTeam[1].provider")}, nil},
		{"pharmacy prescriber a Practitioner", "eob-pharmacy",
			add("careTeam", `{"sequence":1,"provider":{"reference":"Practitioner/prac-ybrq2nmk5tikwrmt6decr3b5ia"},"role":`+cc(c4bbCS+"C4BBClaimCareTeamRole", "prescribing")+`}`),
			[]want{e("EOB-pharm-careTeam-practitioner", eobT+".careTeam[0].provider")}, nil},
		{"pharmacy prescriber an Organization", "eob-pharmacy",
			add("careTeam", `{"sequence":1,"provider":{"reference":"Organization/org-rc4r74xoazxqtgkriup2h3ouya"},"role":`+cc(c4bbCS+"C4BBClaimCareTeamRole", "prescribing")+`}`),
			nil, []want{e("EOB-pharm-careTeam-practitioner", eobT+".careTeam[0].provider")}},
		{"pharmacy refills authorized missing", "eob-pharmacy", del("supportingInfo.3"), []want{e(eobT+".supportingInfo:refillsAuthorized.min", eobT+".supportingInfo")}, nil},
		{"pharmacy two reject reasons", "eob-pharmacy",
			all(add("item.0.adjudication", adj(discr, "rejectreason", "http://terminology.hl7.org/CodeSystem/NCPDPRejectCode", "70")), dup("item.0.adjudication.3")),
			[]want{e(eobT+".item.adjudication:rejectreason.max", eobT+".item[0].adjudication")}, nil},
		{"professional two item adjustment reasons", "eob-professional", dup("item.0.adjudication.6"),
			[]want{e(eobT+".item.adjudication:adjustmentreason.max", eobT+".item[0].adjudication")}, nil},
		{"oral two item adjustment reasons", "eob-oral", all(add("item.0.adjudication", adj(discr, "adjustmentreason", "https://x12.org/codes/claim-adjustment-reason-codes", "45")), dup("item.0.adjudication.3")),
			[]want{e(eobT+".item.adjudication:adjustmentreason.max", eobT+".item[0].adjudication")}, nil},
		{"health account payment only", "eob-pharmacy",
			all(del("item.0.adjudication.2"), del("item.0.adjudication.1"), set("item.0.adjudication.0.category.coding.0", `{"system":"`+c4bbCS+`C4BBAdjudication","code":"paidbypatienthealthaccount"}`)),
			[]want{e(eobT+".item.adjudication:adjudicationamounttype.min", eobT+".item[0].adjudication")}, nil},
		{"ICD-9 procedure, 2.2.0 system", "eob-inpatient", set("procedure.0.procedureCodeableConcept", cc("http://hl7.org/fhir/sid/icd-9-cm", "81.51")),
			[]want{e(eobT+".procedure.procedure[x].binding", eobT+".procedure[0].procedureCodeableConcept")}, nil},
		{"practitioner NPI typed by system only", "practitioner", del("identifier.0.type"),
			[]want{e("Practitioner-identifier", "Practitioner.identifier"), w("C4BB.identifier.type", "Practitioner.identifier[0].type")}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := load(t, c.file)
			c.edit(t, d)
			matchFindings(t, check.Resource(toProto(t, d)), c.want)
			profs := get(t, d, "meta.profile").([]any)
			profs[0] = strings.Replace(profs[0].(string), "|2.1.0", "|2.2.0", 1)
			matchFindings(t, check.Resource(toProto(t, d)), c.want2)
		})
	}
}

// TestReferencedProfiles checks that All and Bundle resolve references and
// require the referenced resources to declare the profiles C4BB and Plan-Net
// reference.
func TestReferencedProfiles(t *testing.T) {
	eob := strict(t, load(t, "eob-professional"))
	pat := load(t, "patient")
	set("meta.profile", `["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|6.1.0"]`)(t, pat)
	fs := check.All([]proto.Message{eob, strict(t, pat)})
	matchFindings(t, fs, []want{e(eobT+".patient.targetProfile", eobT+".patient")})
	if fs[0].ResourceID != "eob-3vpvyqixsd2em5q4ee3a3mfndy" || fs[0].Profile != profProf+"|2.1.0" {
		t.Errorf("finding names %s/%s %s", fs[0].ResourceType, fs[0].ResourceID, fs[0].Profile)
	}
	// Resource alone cannot see the Patient.
	if fs := check.Resource(eob); len(fs) != 0 {
		t.Errorf("Resource: %s", check.Report(fs))
	}

	// In a transaction-style Bundle references are urn:uuid fullUrls; the
	// rendering careTeam member resolves to an Organization.
	res := []proto.Message{strict(t, load(t, "patient")), strict(t, load(t, "organization-provider"))}
	e2 := load(t, "eob-professional")
	set("patient.reference", "urn:uuid:00000000-0000-4000-8000-000000000000")(t, e2)
	set("careTeam.0.provider.reference", "urn:uuid:00000000-0000-4000-8000-000000000001")(t, e2)
	res = append(res, strict(t, e2))
	matchFindings(t, check.Bundle(bundle(t, res, true)), []want{e("EOB-prof-careTeam-practitioner", eobT+".careTeam[0].provider")})

	// Absolute references resolve to the Bundle entry with that Type/id.
	e3 := load(t, "eob-professional")
	set("patient.reference", "https://fhir.example.org/r4/Patient/pat-sznappc2p7nq7xal2y62ibipcy")(t, e3)
	set("meta.profile", `["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]`)(t, pat)
	matchFindings(t, check.Bundle(bundle(t, []proto.Message{strict(t, pat), strict(t, e3)}, false)),
		[]want{e(eobT+".patient.targetProfile", eobT+".patient")})

	// Plan-Net: a PractitionerRole's network must be a plannet-Network.
	role := strict(t, load(t, "plannet-practitionerrole"))
	net := load(t, "plannet-network")
	set("meta.profile", `["`+pnSD+`plannet-Organization|1.2.0"]`)(t, net)
	set("address", `[{"city":"CHICAGO"}]`)(t, net)
	matchFindings(t, check.All([]proto.Message{role, strict(t, net)}),
		[]want{e("PractitionerRole.extension:network-reference.value[x].targetProfile", "PractitionerRole.extension[0].valueReference")})

	if check.Bundle(nil) != nil {
		t.Error("Bundle(nil) should find nothing")
	}
}

func TestProfilesAgreeWithFhirmap(t *testing.T) {
	have := map[string]bool{}
	for _, p := range check.Profiles() {
		have[p] = true
		if check.RuleCount(p) == 0 {
			t.Errorf("%s: no rules", p)
		}
	}
	for _, v := range []fhirmap.C4BBVersion{fhirmap.C4BB210, fhirmap.C4BB220} {
		for k := fhirmap.EOBProfessional; k <= fhirmap.EOBPharmacy; k++ {
			for _, basis := range []bool{false, true} {
				if p := v.EOBProfile(k, basis); !have[p] {
					t.Errorf("no rules for %s", p)
				}
			}
		}
		for _, c := range []fhirmap.Canonical{fhirmap.C4BBPatient, fhirmap.C4BBCoverage, fhirmap.C4BBOrganization, fhirmap.C4BBPractitioner, fhirmap.C4BBRelatedPerson} {
			if !have[v.Profile(c)] {
				t.Errorf("no rules for %s", v.Profile(c))
			}
		}
	}
	for _, c := range []fhirmap.Canonical{fhirmap.PlanNetPractitioner, fhirmap.PlanNetPractitionerRole, fhirmap.PlanNetOrganization,
		fhirmap.PlanNetOrganizationAffiliation, fhirmap.PlanNetNetwork, fhirmap.PlanNetLocation, fhirmap.PlanNetHealthcareService,
		fhirmap.PlanNetInsurancePlan, fhirmap.PlanNetEndpoint} {
		if !have[fhirmap.PlanNetProfile(c)] {
			t.Errorf("no rules for %s", fhirmap.PlanNetProfile(c))
		}
	}
	for _, c := range []fhirmap.Canonical{fhirmap.USCorePatient, fhirmap.USCoreCoverage, fhirmap.USCoreOrganization, fhirmap.USCorePractitioner,
		fhirmap.USCorePractitionerRole, fhirmap.USCoreRelatedPerson, fhirmap.USCoreLocation, fhirmap.USCoreEncounter} {
		if !have[fhirmap.USCoreProfile(c)] {
			t.Errorf("no rules for %s", fhirmap.USCoreProfile(c))
		}
	}
	if check.RuleCount("http://example.org/x") != 0 {
		t.Error("RuleCount of an unknown profile")
	}
}

// TestUSCoreDirect checks resources that declare US Core profiles themselves.
func TestUSCoreDirect(t *testing.T) {
	loc := load(t, "plannet-location")
	set("meta.profile", `["http://hl7.org/fhir/us/core/StructureDefinition/us-core-location|6.1.0"]`)(t, loc)
	set("mode", "instance")(t, loc) // allowed by US Core, forbidden by Plan-Net
	if fs := check.Resource(toProto(t, loc)); len(fs) != 0 {
		t.Errorf("US Core Location: %s", check.Report(fs))
	}
	del("name")(t, loc)
	matchFindings(t, check.Resource(toProto(t, loc)), []want{e("Location.name.min", "Location.name")})

	set("meta.profile", `["http://hl7.org/fhir/us/core/StructureDefinition/us-core-location|3.1.1"]`)(t, loc)
	matchFindings(t, check.Resource(toProto(t, loc)), []want{w("profile.version", "Location.meta.profile"), e("Location.name.min", "Location.name")})

	enc := doc{
		"resourceType": "Encounter", "id": "enc-x",
		"meta":    map[string]any{"profile": []any{"http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter"}},
		"status":  "finished",
		"class":   map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
		"type":    []any{map[string]any{"text": "inpatient stay"}},
		"subject": map[string]any{"reference": "Patient/pat-sznappc2p7nq7xal2y62ibipcy"},
	}
	if fs := check.Resource(strict(t, enc)); len(fs) != 0 {
		t.Errorf("US Core Encounter: %s", check.Report(fs))
	}
	enc["identifier"] = []any{map[string]any{"value": "E1"}}
	matchFindings(t, check.Resource(toProto(t, enc)), []want{e("Encounter.identifier.system.min", "Encounter.identifier[0].system")})
	delete(enc, "identifier")
	delete(enc, "type")
	set("subject.reference", "Group/g")(t, enc)
	matchFindings(t, check.Resource(toProto(t, enc)), []want{e("Encounter.type.min", "Encounter.type"), e("Encounter.subject.target", "Encounter.subject")})
}

// TestReportGolden pins the report format on a set of broken resources.
// Run with -update to rewrite testdata/report.golden.txt.
func TestReportGolden(t *testing.T) {
	var fs []check.Finding
	for _, c := range breakCases() {
		if !strings.HasPrefix(c.name, "inpatient") && !strings.HasPrefix(c.name, "plannet role") {
			continue
		}
		d := load(t, c.file)
		c.edit(t, d)
		fs = append(fs, check.Resource(toProto(t, d))...)
	}
	got := check.Report(fs)
	golden := filepath.Join("testdata", "report.golden.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("report differs from %s (run with -update):\n%s", golden, got)
	}
	if check.Report(nil) != "no findings\n" {
		t.Error("empty report")
	}
}

func TestSeverityString(t *testing.T) {
	if check.Error.String() != "error" || check.Warning.String() != "warning" || check.Severity(9).String() != "Severity(9)" {
		t.Error("Severity.String")
	}
	f := check.Finding{ResourceType: "Patient", ResourceID: "pat-1", Profile: "p", Path: "Patient.gender", Rule: "Patient.gender.min", Severity: check.Error, Message: "required element missing"}
	if got := f.String(); got != "error Patient/pat-1 Patient.gender: Patient.gender.min: required element missing [p]" {
		t.Errorf("Finding.String = %q", got)
	}
}

func TestNotAResource(t *testing.T) {
	if fs := check.Resource(&dpb.Coding{}); fs != nil {
		t.Errorf("a Coding gave findings: %v", fs)
	}
	if fs := check.Resource(nil); fs != nil {
		t.Errorf("nil gave findings: %v", fs)
	}
}

func BenchmarkResourceEOB(b *testing.B) {
	m := strict(b, load(b, "eob-professional"))
	b.ReportAllocs()
	for b.Loop() {
		if fs := check.Resource(m); len(fs) != 0 {
			b.Fatal(fs)
		}
	}
}

func ExampleResource() {
	b, err := os.ReadFile("testdata/coverage.json")
	if err != nil {
		panic(err)
	}
	cov, err := resource.Unmarshal(b)
	if err != nil {
		panic(err)
	}
	fmt.Print(check.Report(check.Resource(cov)))
	cov.ProtoReflect().Clear(cov.ProtoReflect().Descriptor().Fields().ByName("subscriber_id"))
	fmt.Print(check.Report(check.Resource(cov)))
	// Output:
	// no findings
	// Coverage/cov-a2irg6tjqczyarx3yax2jji2lu
	//   error   Coverage.subscriberId.min  Coverage.subscriberId: required element missing [http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-Coverage|2.1.0]
}
