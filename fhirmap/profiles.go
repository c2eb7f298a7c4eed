package fhirmap

import (
	"fmt"
	"strings"
)

// Canonical is a profile's (or extension's) canonical URL without a version,
// such as "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-Patient".
// Resources declare profiles in meta.profile with a version suffix
// ("…|2.1.0"): use [Canonical.Version], [C4BBVersion.Profile] or
// [PlanNetProfile] to build that form.
type Canonical string

// Version returns the versioned canonical "c|v" (c itself when v is empty).
func (c Canonical) Version(v string) string {
	if v == "" {
		return string(c)
	}
	return string(c) + "|" + v
}

// ParseCanonical splits a possibly versioned canonical ("url|2.1.0") into its
// URL and version ("" when unversioned).
func ParseCanonical(s string) (Canonical, string) {
	url, v, _ := strings.Cut(s, "|")
	return Canonical(url), v
}

// Base URLs of the StructureDefinitions of the implementation guides fhirsync
// targets.
const (
	C4BBBase    = "http://hl7.org/fhir/us/carin-bb/StructureDefinition/"
	USCoreBase  = "http://hl7.org/fhir/us/core/StructureDefinition/"
	PlanNetBase = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/"
)

// CARIN Blue Button (C4BB) profiles. Each financial ExplanationOfBenefit
// profile has a "-Basis" (non-financial) variant without the amount and total
// requirements. C4BBExplanationOfBenefit is abstract: never declare it alone.
const (
	C4BBExplanationOfBenefit             Canonical = C4BBBase + "C4BB-ExplanationOfBenefit"
	C4BBEOBProfessionalNonClinician      Canonical = C4BBBase + "C4BB-ExplanationOfBenefit-Professional-NonClinician"
	C4BBEOBProfessionalNonClinicianBasis Canonical = C4BBBase + "C4BB-ExplanationOfBenefit-Professional-NonClinician-Basis"
	C4BBEOBInpatientInstitutional        Canonical = C4BBBase + "C4BB-ExplanationOfBenefit-Inpatient-Institutional"
	C4BBEOBInpatientInstitutionalBasis   Canonical = C4BBBase + "C4BB-ExplanationOfBenefit-Inpatient-Institutional-Basis"
	C4BBEOBOutpatientInstitutional       Canonical = C4BBBase + "C4BB-ExplanationOfBenefit-Outpatient-Institutional"
	C4BBEOBOutpatientInstitutionalBasis  Canonical = C4BBBase + "C4BB-ExplanationOfBenefit-Outpatient-Institutional-Basis"
	C4BBEOBOral                          Canonical = C4BBBase + "C4BB-ExplanationOfBenefit-Oral"
	C4BBEOBOralBasis                     Canonical = C4BBBase + "C4BB-ExplanationOfBenefit-Oral-Basis"
	C4BBEOBPharmacy                      Canonical = C4BBBase + "C4BB-ExplanationOfBenefit-Pharmacy"
	C4BBEOBPharmacyBasis                 Canonical = C4BBBase + "C4BB-ExplanationOfBenefit-Pharmacy-Basis"
	C4BBPatient                          Canonical = C4BBBase + "C4BB-Patient"
	C4BBCoverage                         Canonical = C4BBBase + "C4BB-Coverage"
	C4BBOrganization                     Canonical = C4BBBase + "C4BB-Organization"
	C4BBPractitioner                     Canonical = C4BBBase + "C4BB-Practitioner"
	C4BBRelatedPerson                    Canonical = C4BBBase + "C4BB-RelatedPerson"
)

// US Core profiles (the C4BB 2.1.0 parents are version 6.1.0).
const (
	USCorePatient           Canonical = USCoreBase + "us-core-patient"
	USCoreCoverage          Canonical = USCoreBase + "us-core-coverage"
	USCoreOrganization      Canonical = USCoreBase + "us-core-organization"
	USCorePractitioner      Canonical = USCoreBase + "us-core-practitioner"
	USCorePractitionerRole  Canonical = USCoreBase + "us-core-practitionerrole"
	USCoreRelatedPerson     Canonical = USCoreBase + "us-core-relatedperson"
	USCoreLocation          Canonical = USCoreBase + "us-core-location"
	USCoreEncounter         Canonical = USCoreBase + "us-core-encounter"
	USCoreMedicationRequest Canonical = USCoreBase + "us-core-medicationrequest"
)

// USCoreVersion is the US Core version fhirsync emits by default (the parent
// of C4BB 2.1.0 and one of the two Plan-Net 1.2.0 dependencies).
const USCoreVersion = "6.1.0"

// Da Vinci PDex Plan-Net profiles.
const (
	PlanNetPractitioner            Canonical = PlanNetBase + "plannet-Practitioner"
	PlanNetPractitionerRole        Canonical = PlanNetBase + "plannet-PractitionerRole"
	PlanNetOrganization            Canonical = PlanNetBase + "plannet-Organization"
	PlanNetOrganizationAffiliation Canonical = PlanNetBase + "plannet-OrganizationAffiliation"
	PlanNetNetwork                 Canonical = PlanNetBase + "plannet-Network"
	PlanNetLocation                Canonical = PlanNetBase + "plannet-Location"
	PlanNetHealthcareService       Canonical = PlanNetBase + "plannet-HealthcareService"
	PlanNetInsurancePlan           Canonical = PlanNetBase + "plannet-InsurancePlan"
	PlanNetEndpoint                Canonical = PlanNetBase + "plannet-Endpoint"
)

// Da Vinci PDex Plan-Net extensions.
const (
	PlanNetExtNewPatients               Canonical = PlanNetBase + "newpatients"
	PlanNetExtNetworkReference          Canonical = PlanNetBase + "network-reference"
	PlanNetExtQualification             Canonical = PlanNetBase + "qualification"
	PlanNetExtPractitionerQualification Canonical = PlanNetBase + "practitioner-qualification"
	PlanNetExtContactPointAvailableTime Canonical = PlanNetBase + "contactpoint-availabletime"
	PlanNetExtViaIntermediary           Canonical = PlanNetBase + "via-intermediary"
	PlanNetExtAccessibility             Canonical = PlanNetBase + "accessibility"
	PlanNetExtDeliveryMethod            Canonical = PlanNetBase + "delivery-method"
	PlanNetExtEndpointUsecase           Canonical = PlanNetBase + "endpoint-usecase"
	PlanNetExtLocationReference         Canonical = PlanNetBase + "location-reference"
	PlanNetExtOrgDescription            Canonical = PlanNetBase + "org-description"
	PlanNetExtCommunicationProficiency  Canonical = PlanNetBase + "communication-proficiency"
)

// PlanNetVersion is the Plan-Net version fhirsync targets.
const PlanNetVersion = "1.2.0"

// PlanNetProfile returns the versioned canonical of a Plan-Net profile
// ("…/plannet-Practitioner|1.2.0").
func PlanNetProfile(c Canonical) string { return c.Version(PlanNetVersion) }

// USCoreProfile returns the versioned canonical of a US Core profile at
// [USCoreVersion] ("…/us-core-location|6.1.0").
func USCoreProfile(c Canonical) string { return c.Version(USCoreVersion) }

// C4BBVersion selects a CARIN Blue Button release. The releases differ in
// their US Core parents, a few cardinalities and invariants, and some code
// system URIs; the methods below give what an emitter needs to know.
type C4BBVersion string

// C4BB releases fhirsync can target.
const (
	// C4BB210 is STU 2.1.0, the default.
	C4BB210 C4BBVersion = "2.1.0"
	// C4BB220 is 2.2.0: US Core 7.0.0 parents; institutional providers may
	// be Practitioners and the institutional "rendering is an Organization"
	// invariant is gone; pharmacy prescribers are Practitioners;
	// professional and oral item adjustmentreason become 0..*, pharmacy
	// refillsAuthorized 0..1 and rejectreason 0..*;
	// paidbypatienthealthaccount joins the adjudication value set; ICD-9
	// procedures use http://hl7.org/fhir/sid/icd-9-cm.
	C4BB220 C4BBVersion = "2.2.0"
)

// DefaultC4BBVersion is the release emitted when none is configured.
const DefaultC4BBVersion = C4BB210

// Valid reports whether v is a release fhirsync supports.
func (v C4BBVersion) Valid() bool { return v == C4BB210 || v == C4BB220 }

// ParseC4BBVersion maps a version string from a meta.profile canonical to
// a release: "2.1", "2.1.0" and other 2.1.x give C4BB210, "2.2…" C4BB220.
// An empty string gives DefaultC4BBVersion.
func ParseC4BBVersion(s string) (C4BBVersion, error) {
	switch {
	case s == "":
		return DefaultC4BBVersion, nil
	case s == "2.1" || strings.HasPrefix(s, "2.1."):
		return C4BB210, nil
	case s == "2.2" || strings.HasPrefix(s, "2.2."):
		return C4BB220, nil
	}
	return "", fmt.Errorf("fhirmap: unsupported C4BB version %q", s)
}

// Profile returns the versioned canonical of a C4BB profile for this
// release, for meta.profile ("…/C4BB-Patient|2.1.0"). The C4BB version
// invariants only require the canonical to start with "<url>|2.1"; the full
// version is emitted.
func (v C4BBVersion) Profile(c Canonical) string { return c.Version(string(v)) }

// USCoreVersion returns the US Core version this release's Patient,
// Coverage, Organization, Practitioner and RelatedPerson profiles derive
// from.
func (v C4BBVersion) USCoreVersion() string {
	if v == C4BB220 {
		return "7.0.0"
	}
	return "6.1.0"
}

// ICD9ProcedureSystem returns the code system URI C4BB binds ICD-9 procedure
// codes to in this release.
func (v C4BBVersion) ICD9ProcedureSystem() string {
	if v == C4BB220 {
		return "http://hl7.org/fhir/sid/icd-9-cm"
	}
	return "http://www.cms.gov/Medicare/Coding/ICD9"
}

// HCPCSSystem returns the HCPCS Level II system URI of this release's value
// sets. Both releases use the https form, which differs from the
// terminology.hl7.org and Da Vinci PAS form (http://…): MAPPING.md §9 D2.
func (v C4BBVersion) HCPCSSystem() string {
	return "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
}

// EOBKind is the kind of claim an ExplanationOfBenefit is for, which selects
// its C4BB profile.
type EOBKind int

// The C4BB ExplanationOfBenefit kinds.
const (
	EOBProfessional EOBKind = iota + 1 // professional and non-clinician (CMS-1500, 837P), vision
	EOBInpatient                       // inpatient institutional (UB-04, 837I)
	EOBOutpatient                      // outpatient institutional (UB-04, 837I)
	EOBOral                            // dental (ADA form, 837D)
	EOBPharmacy                        // pharmacy (NCPDP)
)

// String returns the kind's name.
func (k EOBKind) String() string {
	switch k {
	case EOBProfessional:
		return "professional"
	case EOBInpatient:
		return "inpatient"
	case EOBOutpatient:
		return "outpatient"
	case EOBOral:
		return "oral"
	case EOBPharmacy:
		return "pharmacy"
	}
	return "EOBKind(" + fmt.Sprint(int(k)) + ")"
}

// Canonical returns the kind's C4BB profile: the financial one, or its
// "-Basis" variant when basis is true. It returns "" for an unknown kind.
func (k EOBKind) Canonical(basis bool) Canonical {
	var c Canonical
	switch k {
	case EOBProfessional:
		c = C4BBEOBProfessionalNonClinician
	case EOBInpatient:
		c = C4BBEOBInpatientInstitutional
	case EOBOutpatient:
		c = C4BBEOBOutpatientInstitutional
	case EOBOral:
		c = C4BBEOBOral
	case EOBPharmacy:
		c = C4BBEOBPharmacy
	default:
		return ""
	}
	if basis {
		c += "-Basis"
	}
	return c
}

// EOBProfile returns the versioned canonical of the C4BB ExplanationOfBenefit
// profile of kind k for this release, for meta.profile.
func (v C4BBVersion) EOBProfile(k EOBKind, basis bool) string {
	c := k.Canonical(basis)
	if c == "" {
		return ""
	}
	return v.Profile(c)
}
