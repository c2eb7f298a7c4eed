package terminology_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fhirsync/fhirsync/terminology"
)

// A payer's local place-of-service codes, mapped to the CMS code set.
const posMap = `{
  "resourceType": "ConceptMap",
  "url": "http://example.org/fhir/ConceptMap/payer-pos",
  "status": "active",
  "group": [{
    "source": "http://example.org/CodeSystem/payer-pos",
    "target": "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
    "element": [
      {"code": "OFF", "target": [{"code": "11", "display": "Office", "equivalence": "equivalent"}]},
      {"code": "TEL", "target": [{"code": "02", "equivalence": "wider"}]},
      {"code": "UNK", "target": [{"equivalence": "unmatched"}]}
    ]
  }]
}`

func Example() {
	maps, err := terminology.ReadConceptMaps(strings.NewReader(posMap))
	if err != nil {
		fmt.Println(err)
		return
	}
	ix := terminology.NewIndex(nil)
	if err := ix.Add(maps...); err != nil {
		fmt.Println(err)
		return
	}
	// What a converter holds: the index behind a cache, counting misses.
	unmapped := terminology.NewUnmappedReport(nil)
	m := unmapped.Wrap(terminology.NewCache(ix, nil))

	ctx := context.Background()
	for _, code := range []string{"OFF", "TEL", "UNK", "XYZ"} {
		from := terminology.Coding{System: "http://example.org/CodeSystem/payer-pos", Code: code}
		c, err := m.Translate(ctx, from, terminology.SystemPlaceOfService)
		switch {
		case errors.Is(err, terminology.ErrNoMapping):
			fmt.Printf("%s: no mapping\n", code)
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Printf("%s → %s %q (%s)\n", code, c.Code, c.Display, c.Equivalence)
		}
	}
	for _, u := range unmapped.Snapshot() {
		fmt.Printf("unmapped: %s x%d\n", u.Code, u.Count)
	}
	// Output:
	// OFF → 11 "Office" (equivalent)
	// TEL → 02 "" (wider)
	// UNK: no mapping
	// XYZ: no mapping
	// unmapped: UNK x1
	// unmapped: XYZ x1
}

func ExampleNormalizeICD10CM() {
	for _, x12 := range []string{"J209", "S060X1A", "E11"} {
		code, err := terminology.NormalizeICD10CM(x12)
		fmt.Println(code, err)
	}
	_, err := terminology.NormalizeICD10CM("JO91") // letter O for zero
	fmt.Println(err)
	// Output:
	// J20.9 <nil>
	// S06.0X1A <nil>
	// E11 <nil>
	// terminology: ICD-10-CM: invalid character at offset 1: expected a digit
}

func ExampleNormalizeNDC11() {
	for _, ndc := range []string{"0777-3105-02", "12345-678-90", "12345-6789-0", "12345678901"} {
		code, _ := terminology.NormalizeNDC11(ndc)
		fmt.Println(code)
	}
	_, err := terminology.NormalizeNDC11("1234567890")
	fmt.Println(err)
	// Output:
	// 00777310502
	// 12345067890
	// 12345678900
	// 12345678901
	// terminology: NDC: ambiguous: expected 11 digits, or hyphens to place the segments of a 10-digit NDC
}

func ExampleClassifyHC() {
	for _, code := range []string{"99213", "0001F", "J1100"} {
		kind, norm, _ := terminology.ClassifyHC(code)
		fmt.Println(norm, kind, kind.System(terminology.SystemHCPCS))
	}
	// Output:
	// 99213 CPT http://www.ama-assn.org/go/cpt
	// 0001F CPT http://www.ama-assn.org/go/cpt
	// J1100 HCPCS https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets
}

func ExampleValidateNPI() {
	fmt.Println(terminology.ValidateNPI("1234567893"))
	fmt.Println(terminology.ValidateNPI("1234567890"))
	// Output:
	// <nil>
	// terminology: NPI: check digit mismatch at offset 9: expected the Luhn check digit over 80840 and the first 9 digits
}

func ExampleParseTypeOfBill() {
	tob, _ := terminology.TypeOfBillFromParts("11", "1") // CLM05-1, CLM05-3
	fmt.Println(tob, tob.IsInpatient())
	tob, _ = terminology.ParseTypeOfBill("131")
	fmt.Println(tob, tob.IsInpatient())
	// Output:
	// 0111 true
	// 0131 false
}

func ExampleStripLicensedDisplays() {
	cpt := terminology.MapperFunc(func(_ context.Context, from terminology.Coding, target string) (terminology.Coding, error) {
		return terminology.Coding{System: terminology.SystemCPT, Code: "99213", Display: "(licensed text)"}, nil
	})
	c, _ := terminology.StripLicensedDisplays(cpt).Translate(context.Background(), terminology.Coding{}, terminology.SystemCPT)
	fmt.Printf("%s %q %v\n", c.Code, c.Display, terminology.IsLicensed(c.System))
	// Output:
	// 99213 "" true
}
