package fhirmap_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
)

// Converting an 837P message: the claim comes last, after the resources it
// refers to; ids are deterministic hashes of business keys.
func ExampleX12Converter() {
	data, err := os.ReadFile("testdata/837p_simple.x12")
	if err != nil {
		panic(err)
	}
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{
		IDs: &fhirmap.IDOptions{Key: []byte("an example key, use 32 random bytes")},
		Now: func() time.Time { return time.Date(2024, 2, 1, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	conv := fhirmap.NewX12Converter(m, nil)
	msg := source.NewMessage("claims-2024-01-15.x12@0", data, map[string]string{"file": "claims-2024-01-15.x12"}, nil, nil)
	resources, err := conv.Convert(context.Background(), msg)
	if err != nil {
		panic(err)
	}
	for _, r := range resources {
		fmt.Println(resource.Type(r))
	}
	claim := resources[len(resources)-1]
	for _, id := range resource.Identifiers(claim) {
		fmt.Println("identifier:", id.System, id.Value)
	}
	// Output:
	// Organization
	// Organization
	// Practitioner
	// Patient
	// Coverage
	// Claim
	// identifier: urn:fhirsync:patient-control-number:1234567893 PCN0001
}
