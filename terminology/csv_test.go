package terminology

import (
	"context"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
)

const revenueCSV = "\ufeffSource_System, source_code ,target_system,target_code,display,equivalence,notes\n" +
	"urn:payer:rev,ER,https://www.nubc.org/CodeSystem/RevenueCodes,0450,Emergency room,equivalent,\n" +
	"urn:payer:rev,PHARM,https://www.nubc.org/CodeSystem/RevenueCodes,0250,\"Pharmacy, general\",Wider,x\n" +
	"urn:payer:rev,PHARM,https://www.nubc.org/CodeSystem/RevenueCodes,0636,,narrower,\n" +
	",,,,,,\n" +
	"urn:payer:rev,MISC,https://www.nubc.org/CodeSystem/RevenueCodes,,,unmatched,\n" +
	"urn:payer:pos,OFF,https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set,11,Office,,\n"

func TestReadCSV(t *testing.T) {
	cm, err := ReadCSV(strings.NewReader(revenueCSV), &CSVOptions{URL: "urn:map:csv"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.Group) != 2 || len(cm.Group[0].Element) != 3 || len(cm.Group[0].Element[1].Target) != 2 {
		t.Fatalf("shape: %+v", cm.Group)
	}
	ix := NewIndex(nil)
	if err := ix.Add(cm); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		from, code, target string
		want               Coding
		noMap              bool
	}{
		{from: "urn:payer:rev", code: "ER", target: SystemNUBCRevenue,
			want: Coding{System: SystemNUBCRevenue, Code: "0450", Display: "Emergency room", Equivalence: EquivalenceEquivalent, ConceptMap: "urn:map:csv"}},
		{from: "urn:payer:rev", code: "PHARM", target: SystemNUBCRevenue,
			want: Coding{System: SystemNUBCRevenue, Code: "0250", Display: "Pharmacy, general", Equivalence: EquivalenceWider, ConceptMap: "urn:map:csv"}},
		{from: "urn:payer:rev", code: "MISC", target: SystemNUBCRevenue, noMap: true},
		{from: "urn:payer:pos", code: "OFF", target: SystemPlaceOfService,
			want: Coding{System: SystemPlaceOfService, Code: "11", Display: "Office", Equivalence: EquivalenceEquivalent, ConceptMap: "urn:map:csv"}},
	}
	for _, tc := range cases {
		got, err := ix.Translate(ctx, Coding{System: tc.from, Code: tc.code}, tc.target)
		if tc.noMap {
			if !errors.Is(err, ErrNoMapping) {
				t.Errorf("%s: %v, %v", tc.code, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.code, got, err, tc.want)
		}
	}
}

func TestReadCSVOptions(t *testing.T) {
	// Custom names, semicolons, default systems, no system columns.
	in := "# local POS\nLocal;CMS;Label\nOFF;11;Office\nHOME;12;Home\n"
	cm, err := ReadCSV(strings.NewReader(in), &CSVOptions{
		Names:        &CSVNames{SourceCode: "local", TargetCode: "cms", Display: "label"},
		Comma:        ';',
		Comment:      '#',
		SourceSystem: "urn:payer:pos",
		TargetSystem: SystemPlaceOfService,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cm.Translate(context.Background(), Coding{System: "urn:payer:pos", Code: "HOME"}, SystemPlaceOfService)
	if err != nil || got.Code != "12" || got.Display != "Home" || got.Equivalence != EquivalenceEquivalent {
		t.Errorf("custom names: %+v, %v", got, err)
	}
	// No header, custom order, default equivalence.
	in = "x,OFF,11\nx,TEL,02\n"
	cm, err = ReadCSV(strings.NewReader(in), &CSVOptions{
		NoHeader: true, Order: []CSVField{CSVIgnore, CSVSourceCode, CSVTargetCode},
		SourceSystem: "urn:payer:pos", TargetSystem: SystemPlaceOfService, DefaultEquivalence: EquivalenceInexact,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err = cm.Translate(context.Background(), Coding{System: "urn:payer:pos", Code: "TEL"}, SystemPlaceOfService)
	if err != nil || got.Code != "02" || got.Equivalence != EquivalenceInexact {
		t.Errorf("no header: %+v, %v", got, err)
	}
	// Default order without a header.
	cm, err = ReadCSV(strings.NewReader("a,1,b,2,Two,relatedto\n"), &CSVOptions{NoHeader: true})
	if err != nil || cm.Group[0].Element[0].Target[0].Equivalence != EquivalenceRelatedTo {
		t.Errorf("default order: %+v, %v", cm, err)
	}
	// R5 relationship codes are understood.
	cm, err = ReadCSV(strings.NewReader("a,1,b,2,,source-is-narrower-than-target\n"), &CSVOptions{NoHeader: true})
	if err != nil || cm.Group[0].Element[0].Target[0].Equivalence != EquivalenceWider {
		t.Errorf("R5 code: %+v, %v", cm, err)
	}
}

func TestReadCSVErrors(t *testing.T) {
	const hdr = "source_system,source_code,target_system,target_code,display,equivalence\n"
	cases := []struct {
		name   string
		in     string
		opts   *CSVOptions
		err    error
		line   int
		column int
		col    string
	}{
		{"empty file", "", nil, ErrCSVHeader, 1, 0, ""},
		{"missing column", "source_system,source_code,target_system\n", nil, ErrCSVHeader, 1, 0, "target_code"},
		{"twice", "source_code,source_code\n", nil, ErrCSVHeader, 1, 2, "source_code"},
		{"empty code", hdr + "a,1,b,2,,\na,,b,2,,\n", nil, ErrCSVValue, 3, 2, "source_code"},
		{"empty source system", hdr + "a,1,b,2,,\n,1,b,2,,\n", nil, ErrCSVValue, 3, 1, "source_system"},
		{"empty target system", hdr + ",\n" + "a,1,,2,,\n", nil, ErrCSVValue, 3, 3, "target_system"},
		{"empty target code", hdr + "a,1,b,,,wider\n", nil, ErrCSVValue, 2, 4, "target_code"},
		{"bad equivalence", hdr + "a,1,b,2,Two,ZZCANARYZZ\n", nil, ErrCSVValue, 2, 6, "equivalence"},
		{"short row", hdr + "a,1\n", nil, ErrCSVValue, 2, 3, "target_system"},
		{"quote", hdr + "a,\"1,b,2\n", nil, nil, 2, 0, ""},
		{"bare quote", hdr + "a,1\"x,b,2,,\n", nil, nil, 2, 0, ""},
		{"order twice", "a,b\n", &CSVOptions{NoHeader: true, Order: []CSVField{CSVSourceCode, CSVSourceCode}}, ErrCSVHeader, 0, 2, "source_code"},
		{"no header, missing", "a,b\n", &CSVOptions{NoHeader: true, Order: []CSVField{CSVSourceCode}}, ErrCSVHeader, 0, 0, "source_system"},
		{"bad default", hdr, &CSVOptions{DefaultEquivalence: "close"}, ErrCSVValue, 0, 0, "DefaultEquivalence"},
		{"line after multi-line cell", hdr + "a,1,b,2,\"two\nlines\",\na,1,b,2,,nope\n", nil, ErrCSVValue, 4, 6, "equivalence"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.in), tc.opts)
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v; want *CSVError", err)
			}
			if tc.err == nil {
				var pe *csv.ParseError
				if !errors.As(err, &pe) {
					t.Errorf("error = %v; want a csv.ParseError", err)
				}
			} else if !errors.Is(err, tc.err) {
				t.Errorf("error = %v; want %v", err, tc.err)
			}
			if ce.Line != tc.line || ce.Column != tc.column || ce.Name != tc.col {
				t.Errorf("position = line %d column %d (%s); want %d %d (%s): %v", ce.Line, ce.Column, ce.Name, tc.line, tc.column, tc.col, err)
			}
			if strings.Contains(err.Error(), "CANARY") {
				t.Errorf("error leaks a cell: %v", err)
			}
		})
	}
}
