package fhirmap

import (
	"fmt"
	"strings"
	"testing"
)

func TestC4BBVersionProfiles(t *testing.T) {
	cases := []struct {
		v     C4BBVersion
		kind  EOBKind
		basis bool
		want  string
	}{
		{C4BB210, EOBProfessional, false, "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-Professional-NonClinician|2.1.0"},
		{C4BB210, EOBProfessional, true, "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-Professional-NonClinician-Basis|2.1.0"},
		{C4BB210, EOBInpatient, false, "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-Inpatient-Institutional|2.1.0"},
		{C4BB220, EOBOutpatient, true, "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-Outpatient-Institutional-Basis|2.2.0"},
		{C4BB210, EOBOral, false, "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-Oral|2.1.0"},
		{C4BB220, EOBPharmacy, false, "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-Pharmacy|2.2.0"},
		{C4BB210, EOBKind(0), false, ""},
	}
	for _, c := range cases {
		if got := c.v.EOBProfile(c.kind, c.basis); got != c.want {
			t.Errorf("%s %v basis=%v: got %q, want %q", c.v, c.kind, c.basis, got, c.want)
		}
	}
	// Every basis variant is its financial profile plus "-Basis".
	for k := EOBProfessional; k <= EOBPharmacy; k++ {
		if string(k.Canonical(true)) != string(k.Canonical(false))+"-Basis" || !strings.HasPrefix(string(k.Canonical(false)), C4BBBase) {
			t.Errorf("%v: canonicals %q / %q", k, k.Canonical(false), k.Canonical(true))
		}
	}
	if got := C4BB210.Profile(C4BBPatient); got != "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-Patient|2.1.0" {
		t.Errorf("Patient profile %q", got)
	}
	// The C4BB version invariants require meta.profile to start with "<url>|2.1".
	if !strings.HasPrefix(C4BB210.Profile(C4BBOrganization), string(C4BBOrganization)+"|2.1") {
		t.Error("2.1.0 profile does not satisfy the version invariant prefix")
	}
}

func TestC4BBVersionDifferences(t *testing.T) {
	if C4BB210.USCoreVersion() != "6.1.0" || C4BB220.USCoreVersion() != "7.0.0" {
		t.Error("US Core parents")
	}
	if C4BB210.ICD9ProcedureSystem() == C4BB220.ICD9ProcedureSystem() {
		t.Error("ICD-9 procedure systems must differ between 2.1.0 and 2.2.0")
	}
	if !strings.HasPrefix(C4BB210.HCPCSSystem(), "https://") {
		t.Error("C4BB uses the https HCPCS system")
	}
	if !C4BB210.Valid() || !C4BB220.Valid() || C4BBVersion("2.0.0").Valid() {
		t.Error("Valid")
	}
}

func TestParseC4BBVersion(t *testing.T) {
	cases := []struct {
		in      string
		want    C4BBVersion
		wantErr bool
	}{
		{"", C4BB210, false},
		{"2.1.0", C4BB210, false},
		{"2.1", C4BB210, false},
		{"2.1.1", C4BB210, false},
		{"2.2.0", C4BB220, false},
		{"2.2.0-ballot", C4BB220, false},
		{"2.10.0", "", true},
		{"1.2.0", "", true},
		{"2.0.0", "", true},
	}
	for _, c := range cases {
		got, err := ParseC4BBVersion(c.in)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("ParseC4BBVersion(%q) = %q, %v", c.in, got, err)
		}
	}
}

func TestCanonical(t *testing.T) {
	url, v := ParseCanonical(PlanNetProfile(PlanNetNetwork))
	if url != PlanNetNetwork || v != "1.2.0" {
		t.Errorf("ParseCanonical: %q %q", url, v)
	}
	url, v = ParseCanonical(string(USCoreLocation))
	if url != USCoreLocation || v != "" {
		t.Errorf("ParseCanonical unversioned: %q %q", url, v)
	}
	if USCoreProfile(USCoreLocation) != "http://hl7.org/fhir/us/core/StructureDefinition/us-core-location|6.1.0" {
		t.Error("USCoreProfile")
	}
	if C4BBPatient.Version("") != string(C4BBPatient) {
		t.Error("Version with empty version")
	}
	if EOBKind(9).String() != "EOBKind(9)" || EOBOral.String() != "oral" {
		t.Error("EOBKind.String")
	}
}

func ExampleC4BBVersion_EOBProfile() {
	fmt.Println(C4BB210.EOBProfile(EOBProfessional, false))
	fmt.Println(PlanNetProfile(PlanNetPractitioner))
	// Output:
	// http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-Professional-NonClinician|2.1.0
	// http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-Practitioner|1.2.0
}
