package sinktest

import (
	"fmt"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	clpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
)

// Canary is the value the synthetic resources carry in their PHI elements
// (a patient's family name, a subscriber id) and that must never appear in an
// error string.
const Canary = "ZZCANARYZZ"

// Identifier systems of the synthetic resources.
const (
	MemberSystem     = "urn:fhirsync:sinktest:member-id"
	SubscriberSystem = "urn:fhirsync:sinktest:subscriber-id"
	PayerSystem      = "urn:fhirsync:sinktest:payer-id"
	ClaimSystem      = "urn:fhirsync:sinktest:patient-control-number"
)

// The synthetic resources are written as R4 JSON and read through
// google/fhir's validating unmarshaller, so each builder is checked against
// the R4 required elements and cardinalities when it runs, and produces the
// same proto shape a harness gets when it parses a server's answer.
// Decimals carry no trailing zeros, because servers written in JavaScript
// return 150.00 as 150.

func mustParse[T proto.Message](json string) T {
	m, err := resource.Unmarshal([]byte(json))
	if err != nil {
		panic("sinktest: synthetic resource does not parse as R4: " + err.Error())
	}
	return m.(T)
}

// PatientID returns the id of Patient(i).
func PatientID(i int) string { return fmt.Sprintf("sinktest-pat-%d", i) }

// CoverageID returns the id of Coverage(i).
func CoverageID(i int) string { return fmt.Sprintf("sinktest-cov-%d", i) }

// ClaimID returns the id of Claim(i).
func ClaimID(i int) string { return fmt.Sprintf("sinktest-claim-%d", i) }

// OrganizationID returns the id of Organization(i).
func OrganizationID(i int) string { return fmt.Sprintf("sinktest-org-%d", i) }

// Patient returns synthetic Patient i: a member whose family name is
// [Canary], with a member identifier and a birth date derived from i.
func Patient(i int) *ppb.Patient { return PatientRev(i, 0) }

// PatientRev returns revision rev of Patient(i): the same resource (same id,
// same identifier) with different content, "R<rev>" as a second given name.
// Revision 0 is Patient(i). [Revision] reads rev back.
func PatientRev(i, rev int) *ppb.Patient {
	given := `"Test"`
	if rev != 0 {
		given += fmt.Sprintf(`, "R%d"`, rev)
	}
	birth := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%20000).Format("2006-01-02")
	gender := [...]string{"female", "male", "other", "unknown"}[i%4]
	return mustParse[*ppb.Patient](fmt.Sprintf(`{
  "resourceType": "Patient",
  "id": %q,
  "identifier": [{"system": %q, "value": "M%06d"}],
  "active": true,
  "name": [{"family": %q, "given": [%s]}],
  "gender": %q,
  "birthDate": %q,
  "address": [{"line": ["%d %s ST"], "city": "SPRINGFIELD", "state": "IL", "postalCode": "62701"}]
}`, PatientID(i), MemberSystem, i, Canary, given, gender, birth, 100+i, Canary))
}

// Revision returns the revision number PatientRev gave p (0 for Patient(i)),
// or -1 when p is not a synthetic patient.
func Revision(p proto.Message) int {
	pt, ok := p.(*ppb.Patient)
	if !ok {
		r, err := resource.Unwrap(p)
		if err != nil {
			return -1
		}
		if pt, ok = r.(*ppb.Patient); !ok {
			return -1
		}
	}
	if len(pt.GetName()) == 0 {
		return -1
	}
	g := pt.GetName()[0].GetGiven()
	if len(g) < 2 {
		return 0
	}
	var rev int
	if _, err := fmt.Sscanf(g[1].GetValue(), "R%d", &rev); err != nil {
		return -1
	}
	return rev
}

// Organization returns synthetic Organization i: Organization(0) is the
// payer every Coverage and Claim names, Organization(1) the billing provider.
func Organization(i int) *orgpb.Organization {
	typ := `{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov"}]}`
	if i == 0 {
		typ = `{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "pay"}]}`
	}
	return mustParse[*orgpb.Organization](fmt.Sprintf(`{
  "resourceType": "Organization",
  "id": %q,
  "identifier": [{"system": %q, "value": "ORG%05d"}],
  "active": true,
  "type": [%s],
  "name": "SINKTEST ORGANIZATION %d"
}`, OrganizationID(i), PayerSystem, i, typ, i))
}

// Coverage returns synthetic Coverage i: Patient(i)'s plan with the payer
// Organization(0); its subscriberId is [Canary]-bearing.
func Coverage(i int) *cvpb.Coverage {
	return mustParse[*cvpb.Coverage](fmt.Sprintf(`{
  "resourceType": "Coverage",
  "id": %q,
  "identifier": [{"system": %q, "value": "S%06d"}],
  "status": "active",
  "subscriber": {"reference": "Patient/%s"},
  "subscriberId": "%s%06d",
  "beneficiary": {"reference": "Patient/%s"},
  "relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": "self"}]},
  "period": {"start": "2024-01-01"},
  "payor": [{"reference": "Organization/%s"}],
  "class": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "group"}]}, "value": "GRP001"}]
}`, CoverageID(i), SubscriberSystem, i, PatientID(i), Canary, i, PatientID(i), OrganizationID(0)))
}

// Claim returns synthetic professional Claim i for Patient(i) under
// Coverage(i), billed by Organization(1) to Organization(0).
func Claim(i int) *clpb.Claim {
	return mustParse[*clpb.Claim](fmt.Sprintf(`{
  "resourceType": "Claim",
  "id": %q,
  "identifier": [{"system": %q, "value": "PCN%06d"}],
  "status": "active",
  "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
  "use": "claim",
  "patient": {"reference": "Patient/%s"},
  "billablePeriod": {"start": "2024-01-10", "end": "2024-01-10"},
  "created": "2024-01-15",
  "insurer": {"reference": "Organization/%s"},
  "provider": {"reference": "Organization/%s"},
  "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
  "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J06.9"}]}}],
  "insurance": [{"sequence": 1, "focal": true, "coverage": {"reference": "Coverage/%s"}}],
  "item": [{
    "sequence": 1,
    "diagnosisSequence": [1],
    "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]},
    "servicedDate": "2024-01-10",
    "quantity": {"value": 1},
    "unitPrice": {"value": %d.5, "currency": "USD"},
    "net": {"value": %d.5, "currency": "USD"}
  }],
  "total": {"value": %d.5, "currency": "USD"}
}`, ClaimID(i), ClaimSystem, i, PatientID(i), OrganizationID(0), OrganizationID(1), CoverageID(i), 100+i, 100+i, 100+i))
}

// Related returns the resources of claim i in reference order:
// Organization(0), Organization(1), Patient(i), Coverage(i), Claim(i).
func Related(i int) []proto.Message {
	return []proto.Message{Organization(0), Organization(1), Patient(i), Coverage(i), Claim(i)}
}

// InvalidCoverage returns a Coverage with a valid id that lacks the R4
// required status, beneficiary and payor, and carries [Canary] in its
// subscriberId. A driver that validates (or whose server does) refuses it.
func InvalidCoverage(i int) *cvpb.Coverage {
	return &cvpb.Coverage{
		Id:           &dtpb.Id{Value: CoverageID(i)},
		SubscriberId: &dtpb.String{Value: Canary},
	}
}

// SameContent reports whether a and b are the same resource content, ignoring
// meta (versionId, lastUpdated and whatever else a server adds there).
func SameContent(a, b proto.Message) bool {
	ra, err := resource.Unwrap(a)
	if err != nil {
		return false
	}
	rb, err := resource.Unwrap(b)
	if err != nil {
		return false
	}
	if ra.ProtoReflect().Descriptor() != rb.ProtoReflect().Descriptor() {
		return false
	}
	ca, cb := withoutMeta(ra), withoutMeta(rb)
	if proto.Equal(ca, cb) {
		return true
	}
	// The same JSON can be held in more than one proto shape (a relative
	// reference as a typed id or as a uri: google/fhir's marshaller turns the
	// first into the second in the message it marshals); compare what a
	// server would see. ca and cb are copies, so marshalling them is safe.
	ja, errA := resource.Marshal(ca)
	jb, errB := resource.Marshal(cb)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

func withoutMeta(m proto.Message) proto.Message {
	c := proto.Clone(m)
	rm := c.ProtoReflect()
	if f := rm.Descriptor().Fields().ByName("meta"); f != nil {
		rm.Clear(f)
	}
	return c
}
