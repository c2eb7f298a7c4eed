package fhirmap_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/x12"
)

// Mapping an 834 member: a termination (INS03 024) ends the dental
// coverage's period and keeps it active; the transaction set's creation
// date and time is the source version.
func ExampleMapper_MapMember834() {
	data, err := os.ReadFile("testdata/834_term.x12")
	if err != nil {
		panic(err)
	}
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{
		IDs:        &fhirmap.IDOptions{Key: []byte("an example key, use 32 random bytes")},
		Now:        func() time.Time { return time.Date(2024, 4, 1, 12, 0, 0, 0, time.UTC) },
		Enrollment: &fhirmap.EnrollmentOptions{PayerID: "99999"}, // the payer id of its 837s
	})
	if err != nil {
		panic(err)
	}
	for rec, err := range x12.NewDecoder(bytes.NewReader(data)).Records() {
		if err != nil {
			panic(err)
		}
		res, err := m.MapRecord(context.Background(), rec)
		if err != nil {
			panic(err)
		}
		fmt.Println("version", res.SourceVersion)
		for _, r := range res.Resources {
			if c, ok := r.(*cvpb.Coverage); ok {
				p := c.GetPeriod()
				fmt.Println(resource.Type(r), c.GetStatus().GetValue(), c.GetClassValue()[1].GetValue().GetValue(),
					time.UnixMicro(p.GetStart().GetValueUs()).UTC().Format("2006-01-02"), time.UnixMicro(p.GetEnd().GetValueUs()).UTC().Format("2006-01-02"))
			}
		}
	}
	// Output:
	// version 2024040108000000
	// Coverage ACTIVE DENTAL BASIC 2024-02-01 2024-03-31
	// version 2024040108000000
	// Coverage CANCELLED GOLD PPO 2024-04-01 2024-04-01
}
