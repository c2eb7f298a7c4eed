package check

import "regexp"

// US Core 6.1.0 rules: the parents of the C4BB and Plan-Net profiles, also
// applied when a resource declares a US Core profile itself.

const (
	pUSCorePatient      = usCoreBase + "us-core-patient"
	pUSCoreOrganization = usCoreBase + "us-core-organization"
	pUSCorePractitioner = usCoreBase + "us-core-practitioner"
	extRace             = usCoreBase + "us-core-race"
	extEthnicity        = usCoreBase + "us-core-ethnicity"
	extBirthSex         = usCoreBase + "us-core-birthsex"
	extDataAbsent       = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
)

func usCoreProfiles() []*profile {
	return []*profile{
		{url: pUSCorePatient, version: usCoreV, rtype: "Patient", rules: usCorePatient()},
		{url: usCoreBase + "us-core-coverage", version: usCoreV, rtype: "Coverage", rules: usCoreCoverage()},
		{url: pUSCoreOrganization, version: usCoreV, rtype: "Organization", rules: usCoreOrganization()},
		{url: pUSCorePractitioner, version: usCoreV, rtype: "Practitioner", rules: usCorePractitioner()},
		{url: usCoreBase + "us-core-relatedperson", version: usCoreV, rtype: "RelatedPerson", rules: usCoreRelatedPerson()},
		{url: usCoreBase + "us-core-location", version: usCoreV, rtype: "Location", rules: usCoreLocation()},
		{url: usCoreBase + "us-core-practitionerrole", version: usCoreV, rtype: "PractitionerRole", rules: usCorePractitionerRole()},
		{url: usCoreBase + "us-core-encounter", version: usCoreV, rtype: "Encounter", rules: usCoreEncounter()},
	}
}

// extSlice is a slice of extensions (or sub-extensions) recognised by url.
func extSlice(path, name, url string, min, max int, rules ...rule) slice {
	return slice{path: path, name: name, match: stringAt("url", url), min: min, max: max, sev: Error, what: "url " + url, rules: rules}
}

func usCorePatient() []rule {
	return []rule{
		atLeast1("identifier"),
		required("identifier.system"),
		required("identifier.value"),
		atLeast1("name"),
		each{"name", []rule{nameInvariant()}},
		required("telecom.system"),
		required("telecom.value"),
		required("gender"),
		extSlice("extension", "race", extRace, 0, 1,
			extSlice("extension", "ombCategory", "ombCategory", 0, 5, required("value[x]"), choice{"value[x]", []string{"Coding"}}),
			extSlice("extension", "detailed", "detailed", 0, -1, required("value[x]"), choice{"value[x]", []string{"Coding"}}),
			extSlice("extension", "text", "text", 1, 1, required("value[x]"), choice{"value[x]", []string{"string"}}),
			forbidden("value[x]")),
		extSlice("extension", "ethnicity", extEthnicity, 0, 1,
			extSlice("extension", "ombCategory", "ombCategory", 0, 1, required("value[x]"), choice{"value[x]", []string{"Coding"}}),
			extSlice("extension", "detailed", "detailed", 0, -1, required("value[x]"), choice{"value[x]", []string{"Coding"}}),
			extSlice("extension", "text", "text", 1, 1, required("value[x]"), choice{"value[x]", []string{"string"}}),
			forbidden("value[x]")),
		extSlice("extension", "birthsex", extBirthSex, 0, 1, required("value[x]"), choice{"value[x]", []string{"code"}}),
	}
}

// nameInvariant is us-core-6 on each Patient.name: a family or given name,
// or else a data-absent-reason extension, not both.
func nameInvariant() rule {
	return invariant{key: "us-core-6", sev: Error, fn: func(r *run, n node, key string, sev Severity) {
		hasName := len(n.child("family")) > 0 || len(n.child("given")) > 0
		absent := false
		for _, e := range n.child("extension") {
			absent = absent || str(field(e.m, "url")) == extDataAbsent
		}
		if hasName == absent {
			r.report(sev, key, n.path(), "a name needs a family or given name, or else a data-absent-reason extension")
		}
	}}
}

func usCoreCoverage() []rule {
	return []rule{
		invariant{key: "us-core-15", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
			if len(at.child("subscriberId")) > 0 {
				return
			}
			for _, t := range at.sel("identifier.type") {
				if hasCoding(t.m, sysV2IdentifierType, "MB") {
					return
				}
			}
			r.report(sev, key, at.path()+".subscriberId", "a member id identifier (type MB) or subscriberId is required")
		}},
		slice{path: "identifier", name: "memberid", match: codingAt("type", sysV2IdentifierType, "MB"), min: 0, max: 1, sev: Error,
			what: "type " + sysV2IdentifierType + "#MB"},
		required("status"),
		required("beneficiary"),
		target{path: "beneficiary", types: []string{"Patient"}, profiles: []string{pUSCorePatient, pC4BBPatient}},
		required("relationship"),
		card{path: "payor", min: 1, max: 1},
		target{path: "payor", types: []string{"Organization", "Patient", "RelatedPerson"}},
		slice{path: "class", name: "group", match: codingAt("type", sysCoverageClass, "group"), min: 0, max: 1, sev: Error,
			what: "type " + sysCoverageClass + "#group", rules: []rule{required("value")}},
		slice{path: "class", name: "plan", match: codingAt("type", sysCoverageClass, "plan"), min: 0, max: 1, sev: Error,
			what: "type " + sysCoverageClass + "#plan", rules: []rule{required("value")}},
	}
}

var (
	reNPI  = regexp.MustCompile(`^[0-9]{10}$`)
	reCLIA = regexp.MustCompile(`^[0-9]{2}D[0-9]{7}$`)
	reNAIC = regexp.MustCompile(`^[0-9]{5}$`)
)

// npiLuhn reports whether a 10-digit NPI's check digit is right: the Luhn
// algorithm over the constant prefix 80840 and the first nine digits, which
// is what us-core-17 computes (its "+ 24" is the prefix's contribution).
func npiLuhn(npi string) bool {
	if !reNPI.MatchString(npi) {
		return false
	}
	sum := 24
	for i := 0; i < 10; i++ {
		d := int(npi[i] - '0')
		if i%2 == 0 && i < 9 { // 1st, 3rd, 5th, 7th and 9th digits are doubled
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// identifierSyntax applies the US Core identifier slice invariants to the
// identifiers with the slice's system: us-core-16/17 (NPI), us-core-18
// (CLIA), us-core-19 (NAIC). Values are never reported.
func identifierSyntax() rule {
	return invariant{key: "us-core-16", sev: Error, fn: func(r *run, at node, _ string, sev Severity) {
		for _, id := range at.child("identifier") {
			value := str(field(id.m, "value"))
			switch str(field(id.m, "system")) {
			case sysNPI:
				if !reNPI.MatchString(value) {
					r.report(sev, "us-core-16", id.path()+".value", "an NPI is 10 digits")
				} else if !npiLuhn(value) {
					r.report(sev, "us-core-17", id.path()+".value", "NPI check digit is wrong")
				}
			case sysCLIA:
				if !reCLIA.MatchString(value) {
					r.report(sev, "us-core-18", id.path()+".value", "a CLIA number is 2 digits, D, 7 digits")
				}
			case sysNAIC:
				if !reNAIC.MatchString(value) {
					r.report(sev, "us-core-19", id.path()+".value", "a NAIC code is 5 digits")
				}
			}
		}
	}}
}

func usCoreOrganization() []rule {
	return []rule{
		identifierSyntax(),
		required("active"),
		required("name"),
		card{path: "address.line", min: 0, max: 4},
	}
}

func usCorePractitioner() []rule {
	return []rule{
		atLeast1("identifier"),
		required("identifier.system"),
		required("identifier.value"),
		identifierSyntax(),
		atLeast1("name"),
		required("name.family"),
		card{path: "address.line", min: 0, max: 4},
	}
}

func usCoreRelatedPerson() []rule {
	return []rule{
		required("active"),
		required("patient"),
		target{path: "patient", types: []string{"Patient"}, profiles: []string{pUSCorePatient, pC4BBPatient}},
		invariant{key: "us-core-14", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
			if len(at.child("name")) == 0 && len(at.child("relationship")) == 0 {
				r.report(sev, key, at.path()+".name", "a name or a relationship is required")
			}
		}},
	}
}

func usCoreLocation() []rule {
	return []rule{
		required("name"),
		target{path: "managingOrganization", types: []string{"Organization"}},
	}
}

func usCorePractitionerRole() []rule {
	return []rule{
		invariant{key: "us-core-13", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
			for _, e := range []string{"practitioner", "organization", "healthcareService", "location"} {
				if len(at.child(e)) > 0 {
					return
				}
			}
			r.report(sev, key, at.path()+".practitioner", "a practitioner, organization, healthcareService or location is required")
		}},
		invariant{key: "pd-1", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
			if len(at.child("telecom")) == 0 && len(at.child("endpoint")) == 0 {
				r.report(sev, key, at.path()+".telecom", "a telecom or an endpoint is required")
			}
		}},
		target{path: "practitioner", types: []string{"Practitioner"}},
		target{path: "organization", types: []string{"Organization"}},
		required("telecom.system"),
		required("telecom.value"),
	}
}

func usCoreEncounter() []rule {
	return []rule{
		required("identifier.system"),
		required("identifier.value"),
		atLeast1("type"),
		required("subject"),
		target{path: "subject", types: []string{"Patient"}},
		target{path: "serviceProvider", types: []string{"Organization"}},
	}
}
