package check

// Da Vinci PDex Plan-Net 1.2.0 rules. Plan-Net's US Core parents are the
// 6.1.0 profiles (Plan-Net relaxes PractitionerRole.practitioner and
// .organization to 0..1, which only the 6.1.0 parent allows).

const (
	pPlanNetPractitioner      = planNetBase + "plannet-Practitioner"
	pPlanNetPractitionerRole  = planNetBase + "plannet-PractitionerRole"
	pPlanNetOrganization      = planNetBase + "plannet-Organization"
	pPlanNetOrgAffiliation    = planNetBase + "plannet-OrganizationAffiliation"
	pPlanNetNetwork           = planNetBase + "plannet-Network"
	pPlanNetLocation          = planNetBase + "plannet-Location"
	pPlanNetHealthcareService = planNetBase + "plannet-HealthcareService"
	pPlanNetInsurancePlan     = planNetBase + "plannet-InsurancePlan"
	pPlanNetEndpoint          = planNetBase + "plannet-Endpoint"

	extNewPatients       = planNetBase + "newpatients"
	extNetworkReference  = planNetBase + "network-reference"
	extQualification     = planNetBase + "qualification"
	extLocationReference = planNetBase + "location-reference"
	extOrgDescription    = planNetBase + "org-description"
)

func planNetProfiles() []*profile {
	p := func(url, rtype string, rules ...[]rule) *profile {
		pr := &profile{url: url, version: planNetV, rtype: rtype}
		for _, rs := range rules {
			pr.rules = append(pr.rules, rs...)
		}
		return pr
	}
	return []*profile{
		p(pPlanNetPractitioner, "Practitioner", usCorePractitioner(), planNetPractitioner()),
		p(pPlanNetPractitionerRole, "PractitionerRole", usCorePractitionerRole(), planNetPractitionerRole()),
		p(pPlanNetOrganization, "Organization", usCoreOrganization(), planNetOrganization()),
		p(pPlanNetNetwork, "Organization", usCoreOrganization(), planNetNetwork()),
		p(pPlanNetLocation, "Location", usCoreLocation(), planNetLocation()),
		p(pPlanNetHealthcareService, "HealthcareService", planNetHealthcareService()),
		p(pPlanNetInsurancePlan, "InsurancePlan", planNetInsurancePlan()),
		p(pPlanNetEndpoint, "Endpoint", planNetEndpoint()),
		p(pPlanNetOrgAffiliation, "OrganizationAffiliation", planNetOrgAffiliation()),
	}
}

// activeTrue is Plan-Net's "active 1..1, fixed true".
func activeTrue() []rule {
	return []rule{required("active"), fixedBool{"active", true}}
}

func orgTarget(path string) rule {
	return target{path: path, types: []string{"Organization"}, profiles: []string{pPlanNetOrganization}}
}

func networkTarget(path string) rule {
	return target{path: path, types: []string{"Organization"}, profiles: []string{pPlanNetNetwork}}
}

func locationTarget(path string) rule {
	return target{path: path, types: []string{"Location"}, profiles: []string{pPlanNetLocation}}
}

func endpointTarget(path string) rule {
	return target{path: path, types: []string{"Endpoint"}, profiles: []string{pPlanNetEndpoint}}
}

// newPatients checks the newpatients extension where present.
func newPatients() rule {
	return extSlice("extension", "newpatients", extNewPatients, 0, -1,
		forbidden("value[x]"),
		extSlice("extension", "acceptingPatients", "acceptingPatients", 1, 1,
			required("value[x]"), choice{"value[x]", []string{"CodeableConcept"}}, binding{"value[x]", vsAccepting}),
		extSlice("extension", "fromNetwork", "fromNetwork", 0, 1,
			required("value[x]"), choice{"value[x]", []string{"Reference"}}, networkTarget("value[x]")),
		extSlice("extension", "characteristics", "characteristics", 0, -1,
			required("value[x]"), choice{"value[x]", []string{"string"}}),
		newPatientsCharacteristics(),
	)
}

// newPatientsCharacteristics is new-patients-characteristics. As published it
// compares acceptingPatients with the code "no", which AcceptingPatientsCS
// does not have (its code is "nopt", MAPPING.md §11.6): that comparison is
// kept as the error, and "nopt" with characteristics is a warning
// ("new-patients-characteristics.nopt").
func newPatientsCharacteristics() rule {
	return invariant{key: "new-patients-characteristics", sev: Error, fn: func(r *run, ext node, key string, sev Severity) {
		answer := ""
		chars := false
		for _, sub := range ext.child("extension") {
			switch str(field(sub.m, "url")) {
			case "acceptingPatients":
				for _, v := range sub.child("value[x]") {
					for _, c := range codings(v.m) {
						if c.code == "no" || c.code == "nopt" {
							answer = c.code
						}
					}
				}
			case "characteristics":
				chars = true
			}
		}
		switch {
		case chars && answer == "no":
			r.report(sev, key, ext.path(), "characteristics are not allowed when not accepting patients")
		case chars && answer == "nopt":
			r.report(Warning, key+".nopt", ext.path(), "characteristics given while not accepting patients (nopt)")
		}
	}}
}

// qualificationExt checks the Plan-Net qualification extension where present.
func qualificationExt() rule {
	return extSlice("extension", "qualification", extQualification, 0, -1,
		extSlice("extension", "code", "code", 1, 1, required("value[x]"), choice{"value[x]", []string{"CodeableConcept"}}),
		extSlice("extension", "status", "status", 1, 1, required("value[x]"), choice{"value[x]", []string{"code"}},
			binding{"value[x]", vsQualStatus}, fixedCode{"value[x]", "active"}),
		extSlice("extension", "issuer", "issuer", 0, 1, required("value[x]"), choice{"value[x]", []string{"Reference"}}, orgTarget("value[x]")),
		extSlice("extension", "period", "period", 0, 1, required("value[x]"), choice{"value[x]", []string{"Period"}}),
		extSlice("extension", "identifier", "identifier", 0, -1, required("value[x]"), choice{"value[x]", []string{"Identifier"}}),
	)
}

func planNetPractitioner() []rule {
	return append(activeTrue(), required("qualification.code"))
}

func planNetPractitionerRole() []rule {
	rs := append(activeTrue(),
		invariant{key: "practitioner-or-organization-or-healthcareservice-or-location", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
			for _, e := range []string{"practitioner", "organization", "healthcareService", "location"} {
				if len(at.child(e)) > 0 {
					return
				}
			}
			r.report(sev, key, at.path()+".practitioner", "a practitioner, organization, healthcareService or location is required")
		}},
		target{path: "practitioner", types: []string{"Practitioner"}, profiles: []string{pPlanNetPractitioner}},
		orgTarget("organization"),
		binding{"code", vsPlanNetRole},
		binding{"specialty", vsPlanNetSpecialt},
		locationTarget("location"),
		target{path: "healthcareService", types: []string{"HealthcareService"}, profiles: []string{pPlanNetHealthcareService}},
		endpointTarget("endpoint"),
		newPatients(),
		extSlice("extension", "network-reference", extNetworkReference, 0, 1,
			required("value[x]"), choice{"value[x]", []string{"Reference"}}, networkTarget("value[x]")),
		qualificationExt(),
	)
	return rs
}

func planNetOrganization() []rule {
	return append(activeTrue(),
		orgTarget("partOf"),
		atLeast1("address"),
		atLeast1("type"),
		endpointTarget("endpoint"),
		qualificationExt(),
		extSlice("extension", "org-description", extOrgDescription, 0, 1, required("value[x]"), choice{"value[x]", []string{"string"}}),
	)
}

func planNetNetwork() []rule {
	return append(activeTrue(),
		required("type"),
		binding{"type", vsNetworkType},
		forbidden("telecom"),
		required("partOf"),
		orgTarget("partOf"),
		endpointTarget("endpoint"),
		extSlice("extension", "location-reference", extLocationReference, 0, -1,
			required("value[x]"), choice{"value[x]", []string{"Reference"}}, locationTarget("value[x]")),
	)
}

func planNetLocation() []rule {
	return []rule{
		required("status"),
		fixedCode{"status", "active"},
		forbidden("mode"),
		orgTarget("managingOrganization"),
		locationTarget("partOf"),
		endpointTarget("endpoint"),
		newPatients(),
	}
}

func planNetHealthcareService() []rule {
	return append(activeTrue(),
		orgTarget("providedBy"),
		atLeast1("category"),
		binding{"specialty", vsPlanNetSpecialt},
		locationTarget("location"),
		locationTarget("coverageArea"),
		endpointTarget("endpoint"),
		newPatients(),
	)
}

func planNetInsurancePlan() []rule {
	return []rule{
		required("status"),
		fixedCode{"status", "active"},
		required("type"),
		required("ownedBy"),
		orgTarget("ownedBy"),
		required("administeredBy"),
		orgTarget("administeredBy"),
		networkTarget("network"),
		networkTarget("plan.network"),
		locationTarget("coverageArea"),
		endpointTarget("endpoint"),
		invariant{key: "network-or-plan-Network", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
			if len(at.child("network")) == 0 && len(at.sel("plan.network")) == 0 {
				r.report(sev, key, at.path()+".network", "a network, or a network on every plan, is required")
			}
		}},
		invariant{key: "plan-type-is-distinct", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
			seen := map[string]bool{}
			for _, t := range at.sel("plan.type") {
				for _, c := range codings(t.m) {
					if seen[c.code] {
						r.report(sev, key, t.path(), "plan type code "+c.code+" is used by more than one plan")
						return
					}
					seen[c.code] = true
				}
			}
		}},
	}
}

func planNetEndpoint() []rule {
	return []rule{
		required("status"),
		fixedCode{"status", "active"},
		required("connectionType"),
		card{path: "payloadType", min: 1, max: 1},
		required("address"),
		orgTarget("managingOrganization"),
	}
}

func planNetOrgAffiliation() []rule {
	return append(activeTrue(),
		invariant{key: "organization-or-participatingOrganization", sev: Error, fn: func(r *run, at node, key string, sev Severity) {
			if len(at.child("organization")) == 0 && len(at.child("participatingOrganization")) == 0 {
				r.report(sev, key, at.path()+".organization", "an organization or a participatingOrganization is required")
			}
		}},
		orgTarget("organization"),
		orgTarget("participatingOrganization"),
		networkTarget("network"),
		binding{"specialty", vsPlanNetSpecialt},
		locationTarget("location"),
		target{path: "healthcareService", types: []string{"HealthcareService"}, profiles: []string{pPlanNetHealthcareService}},
		endpointTarget("endpoint"),
		qualificationExt(),
	)
}
