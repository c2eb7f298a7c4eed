package debezium_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/debezium"
)

// Decoding a change event with the schema wrapper: values take the Go type
// of their Connect type (a Decimal is an exact json.Number, a Date a
// time.Time), and the source block gives the table and the position.
func ExampleDecode() {
	body := `{"schema":{"type":"struct","fields":[
	  {"field":"after","type":"struct","optional":true,"fields":[
	    {"field":"id","type":"int32"},
	    {"field":"fee","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}},
	    {"field":"effective_date","type":"int32","name":"io.debezium.time.Date"}]},
	  {"field":"op","type":"string"}]},
	 "payload":{"op":"c","after":{"id":7,"fee":"MDk=","effective_date":19723},
	  "source":{"connector":"postgresql","db":"directory","schema":"public","table":"providers","lsn":23803720,"ts_ms":1706783400000}}}`
	e, err := debezium.Decode([]byte(body), nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Op, e.Source.Schema+"."+e.Source.Table, e.Time().Format(time.RFC3339))
	fmt.Printf("%T %v\n", e.After["id"], e.After["id"])
	fmt.Printf("%T %v\n", e.After["fee"], e.After["fee"])
	fmt.Printf("%T %v\n", e.After["effective_date"], e.After["effective_date"].(time.Time).Format(time.DateOnly))
	fmt.Println(debezium.SourceVersion(nil, e))

	_, err = debezium.Decode([]byte(`{"op":"c","source":{"table":7}}`), nil)
	fmt.Println(err)
	// Output:
	// c public.providers 2024-02-01T10:30:00Z
	// int64 7
	// json.Number 123.45
	// time.Time 2024-01-01
	// 00000000016B3748
	// debezium: invalid change event at $.source.table (not a string)
}

// The changes of a provider table, as Debezium writes them into Kafka,
// become Plan-Net resources through one Converter: here a new row, keyed by
// its NPI, at one location in one network.
func ExampleProviderConverter() {
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{Now: func() time.Time { return time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		panic(err)
	}
	providers, err := fhirmap.NewProviderMapper(m, &fhirmap.ProviderOptions{Payer: &fhirmap.DirectoryPayer{
		PayerID: "ACME01", Name: "Acme Health Plan",
		Address: fhirmap.ProviderAddress{Line1: "1 Insurance Plaza", City: "Chicago", State: "IL", PostalCode: "60601"},
	}})
	if err != nil {
		panic(err)
	}

	conv := debezium.NewProviderConverter(providers, nil) // a fhirmap.Converter for fhirsync.Run

	body := `{"op":"c","source":{"connector":"postgresql","schema":"public","table":"providers","lsn":23803720},
	  "after":{"npi":"1234567893","last_name":"Doe","first_name":"Jane","credentials":"MD","taxonomy":"207Q00000X",
	   "location_name":"Main Clinic","location_line1":"1 Main St","location_city":"Springfield","location_state":"IL",
	   "location_postal_code":"62701","network_ids":"GOLD","network_names":"Gold PPO"}}`
	msg := source.NewMessage("dbserver1.public.providers/0@0", []byte(body), map[string]string{"offset": "0"}, nil, nil)
	rs, err := conv.Convert(context.Background(), msg)
	if err != nil {
		panic(err)
	}
	for _, r := range rs {
		fmt.Println(resource.Type(r), strings.SplitN(resource.ID(r), "-", 2)[0])
	}
	// Output:
	// Organization payer
	// Organization org
	// Location loc
	// Practitioner prac
	// PractitionerRole role
}
