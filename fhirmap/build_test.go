package fhirmap

import (
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/resource"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"github.com/fhirsync/fhirsync/x12"
)

func TestDecimalText(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"150", "150", true},
		{"150.50", "150.50", true},
		{".5", "0.5", true},
		{"-12.75", "-12.75", true},
		{"+3", "3", true},
		{"007.10", "7.10", true},
		{"150.", "150", true},
		{"-0", "0", true},
		{"-0.00", "0.00", true},
		{"0", "0", true},
		{"", "", false},
		{".", "", false},
		{"-", "", false},
		{"1e5", "", false},
		{"1.2.3", "", false},
		{"12a", "", false},
	} {
		got, ok := decimalText(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("decimalText(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPostalCodeAndTZ(t *testing.T) {
	for in, want := range map[string]string{"627010001": "62701-0001", "62701": "62701", "K1A0B1": "K1A0B1", "62701000A": "62701000A"} {
		if got := postalCode(in); got != want {
			t.Errorf("postalCode(%q) = %q, want %q", in, got, want)
		}
	}
	for off, want := range map[int]string{0: "Z", -5 * 3600: "-05:00", 5*3600 + 1800: "+05:30"} {
		if got := tzOffset(off); got != want {
			t.Errorf("tzOffset(%d) = %q, want %q", off, got, want)
		}
	}
}

// TestBuildersMarshal checks that the builders give what google/fhir's JSON
// marshaller writes as intended: dates, instants, money text, typed
// references, telecom with an extension.
func TestBuildersMarshal(t *testing.T) {
	d := time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	p := &ppb.Patient{
		Id:        &dtpb.Id{Value: "pat-1"},
		Meta:      (&Mapper{opts: Options{Now: func() time.Time { return time.Date(2024, 2, 1, 12, 0, 0, 0, time.UTC) }}}).meta("urn:x", "http://p|1"),
		BirthDate: fdate(d),
		Gender:    &ppb.Patient_GenderCode{Value: cpb.AdministrativeGenderCode_FEMALE},
		Address:   []*dtpb.Address{address(&x12.Address{Line1: "1 ELM ST", City: "X", State: "IL", PostalCode: "627010001"})},
		Telecom: telecom([]x12.Contact{{Numbers: []x12.Communication{
			{Qualifier: "TE", Number: "5555550100"}, {Qualifier: "EX", Number: "12"}, {Qualifier: "EM", Number: "A@B.TEST"}, {Qualifier: "ZZ", Number: "1"},
		}}}),
		ManagingOrganization: reference("Organization", "org-1"),
		Deceased: &ppb.Patient_DeceasedX{Choice: &ppb.Patient_DeceasedX_DateTime{
			DateTime: fdateTimeIn(time.Date(2024, 7, 1, 8, 30, 0, 0, time.UTC), ny)}},
	}
	b, err := resource.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"address":[{"city":"X","line":["1 ELM ST"],"postalCode":"62701-0001","state":"IL"}],"birthDate":"2024-01-10","deceasedDateTime":"2024-07-01T08:30:00-04:00","gender":"female","id":"pat-1","managingOrganization":{"reference":"Organization/org-1"},"meta":{"lastUpdated":"2024-02-01T12:00:00Z","profile":["http://p|1"],"source":"urn:x"},"resourceType":"Patient","telecom":[{"system":"phone","value":"5555550100 x12"},{"system":"email","value":"A@B.TEST"}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	m, ok := money("-12.50", currencyUSD)
	if !ok || m.GetValue().GetValue() != "-12.50" || m.GetCurrency().GetValue() != "USD" {
		t.Errorf("money = %v, %v", m, ok)
	}
	if m, ok := money("x", currencyUSD); ok || m != nil {
		t.Errorf("money(x) = %v, %v", m, ok)
	}
	if m, ok := money("", currencyUSD); !ok || m != nil {
		t.Errorf("money(\"\") = %v, %v", m, ok)
	}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "USD", true}, {" usd ", "USD", true}, {"CAD", "CAD", true}, {"cad", "CAD", true},
		{"US", "", false}, {"DOLLAR", "", false}, {"C1D", "", false},
	} {
		if got, ok := currencyCode(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("currencyCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
