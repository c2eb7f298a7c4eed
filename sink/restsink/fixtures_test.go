package restsink_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	clpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

// practitionerSystem is the NPI system of the synthetic practitioners.
const practitionerSystem = "http://hl7.org/fhir/sid/us-npi"

// templates are valid R4 resources (sinktest's builders, which parse R4
// JSON) that claimResources clones and varies: parsing JSON for each of
// 25,000 resources would take half a minute under the race detector.
var templates = sync.OnceValue(func() struct {
	org  *orgpb.Organization
	prac *prpb.Practitioner
	pat  *ppb.Patient
	cov  *cvpb.Coverage
	clm  *clpb.Claim
} {
	m, err := resource.Unmarshal(fmt.Appendf(nil, `{
  "resourceType": "Practitioner",
  "id": "rs-prac-0",
  "identifier": [{"system": %q, "value": "1000000000"}],
  "active": true,
  "name": [{"family": %q, "given": ["Pat"], "prefix": ["Dr"]}],
  "gender": "unknown"
}`, practitionerSystem, sinktest.Canary))
	if err != nil {
		panic(err)
	}
	return struct {
		org  *orgpb.Organization
		prac *prpb.Practitioner
		pat  *ppb.Patient
		cov  *cvpb.Coverage
		clm  *clpb.Claim
	}{sinktest.Organization(1), m.(*prpb.Practitioner), sinktest.Patient(0), sinktest.Coverage(0), sinktest.Claim(0)}
})

func str(s string) *dtpb.String { return &dtpb.String{Value: s} }

func orgRef(id string) *dtpb.Reference {
	return &dtpb.Reference{Reference: &dtpb.Reference_OrganizationId{OrganizationId: &dtpb.ReferenceId{Value: id}}}
}

// Ids of the resources of synthetic claim i.
func orgID(i int) string  { return fmt.Sprintf("rs-org-%d", i) }
func pracID(i int) string { return fmt.Sprintf("rs-prac-%d", i) }

// claimResources returns the five distinct resources of synthetic claim i,
// in reference order: its billing Organization, rendering Practitioner,
// Patient, Coverage and Claim. Each has its own id and business identifier
// and content that differs from claim to claim; the Patient's family name and
// the Coverage's subscriberId carry the canary.
func claimResources(i int) []proto.Message {
	tp := templates()

	org := proto.Clone(tp.org).(*orgpb.Organization)
	org.Id = &dtpb.Id{Value: orgID(i)}
	org.Identifier[0].Value = str(fmt.Sprintf("ORG-%d", i))
	org.Name = str(fmt.Sprintf("RESTSINK BILLING PROVIDER %d", i))

	prac := proto.Clone(tp.prac).(*prpb.Practitioner)
	prac.Id = &dtpb.Id{Value: pracID(i)}
	prac.Identifier[0].Value = str(fmt.Sprintf("%010d", 1000000000+i))
	prac.Name[0].Given = []*dtpb.String{str(fmt.Sprintf("P%d", i))}

	pat := proto.Clone(tp.pat).(*ppb.Patient)
	pat.Id = &dtpb.Id{Value: sinktest.PatientID(i)}
	pat.Identifier[0].Value = str(fmt.Sprintf("M%06d", i))
	pat.Address[0].Line = []*dtpb.String{str(fmt.Sprintf("%d %s ST", 100+i, sinktest.Canary))}

	cov := proto.Clone(tp.cov).(*cvpb.Coverage)
	cov.Id = &dtpb.Id{Value: sinktest.CoverageID(i)}
	cov.Identifier[0].Value = str(fmt.Sprintf("S%06d", i))
	patRef := &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: sinktest.PatientID(i)}}}
	cov.Subscriber = patRef
	cov.Beneficiary = proto.Clone(patRef).(*dtpb.Reference)
	cov.SubscriberId = str(fmt.Sprintf("%s%06d", sinktest.Canary, i))

	clm := proto.Clone(tp.clm).(*clpb.Claim)
	clm.Id = &dtpb.Id{Value: sinktest.ClaimID(i)}
	clm.Identifier[0].Value = str(fmt.Sprintf("PCN%06d", i))
	clm.Patient = proto.Clone(patRef).(*dtpb.Reference)
	clm.Provider = orgRef(orgID(i))
	clm.Insurance[0].Coverage = &dtpb.Reference{Reference: &dtpb.Reference_CoverageId{CoverageId: &dtpb.ReferenceId{Value: sinktest.CoverageID(i)}}}
	clm.Total = &dtpb.Money{Value: &dtpb.Decimal{Value: fmt.Sprintf("%d.5", 100+i)}, Currency: clm.GetTotal().GetCurrency()}

	return []proto.Message{org, prac, pat, cov, clm}
}

// invalidCoverage makes cov invalid for the server (it lacks the R4 required
// status, beneficiary and payor) while keeping its id and identifier.
func invalidCoverage(cov *cvpb.Coverage) {
	cov.Status = nil
	cov.Beneficiary = nil
	cov.Payor = nil
}

// counting counts the requests a client sends.
type counting struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}
