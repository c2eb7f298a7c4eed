package fhirmap_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
)

// Reading a provider table with its own column names and mapping each row to
// Plan-Net resources: the payer and its network first, then the location,
// the practitioner and one role per network. A bad row is an error naming its
// line and column, and the next row is read.
func ExampleProviderMapper_MapRow() {
	table := `NPI,Last,First,Degree,Taxonomy,Phone,Site,Street,City,State,Zip,Networks,NetworkNames
1234567893,Doe,Jane,MD,207Q00000X,217-555-0100,Main Clinic,1 Main St,Springfield,IL,62701,GOLD,Gold PPO
1234567890,Roe,Rick,DO,207Q00000X,217-555-0101,Main Clinic,1 Main St,Springfield,IL,62701,GOLD,Gold PPO
`
	cols := fhirmap.ColumnMap{
		NPI: "NPI", LastName: "Last", FirstName: "First", Credentials: "Degree", Taxonomy: "Taxonomy", Phone: "Phone",
		LocationName: "Site", LocationLine1: "Street", LocationCity: "City", LocationState: "State", LocationPostalCode: "Zip",
		NetworkIDs: "Networks", NetworkNames: "NetworkNames",
	}
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{Now: func() time.Time { return time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		panic(err)
	}
	p, err := fhirmap.NewProviderMapper(m, &fhirmap.ProviderOptions{Payer: &fhirmap.DirectoryPayer{
		PayerID: "ACME01", Name: "Acme Health Plan",
		Address: fhirmap.ProviderAddress{Line1: "1 Insurance Plaza", City: "Chicago", State: "IL", PostalCode: "60601"},
	}})
	if err != nil {
		panic(err)
	}
	for row, err := range fhirmap.ReadProviderCSV(strings.NewReader(table), &fhirmap.ProviderCSVOptions{Columns: &cols}) {
		if err != nil {
			fmt.Println("read:", err)
			continue
		}
		res, err := p.MapRow(context.Background(), row)
		if err != nil {
			fmt.Println("map:", err)
			continue
		}
		for _, r := range res.Resources {
			fmt.Println(resource.Type(r), strings.SplitN(resource.ID(r), "-", 2)[0])
		}
	}
	// Output:
	// Organization payer
	// Organization org
	// Location loc
	// Practitioner prac
	// PractitionerRole role
	// map: fhirmap: invalid value: Practitioner.identifier (NPI fails its format or check digit) at provider row 2, line 3, column NPI
}
