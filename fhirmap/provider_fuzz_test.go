package fhirmap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirsync/fhirsync/resource"
)

// FuzzProviderCSV feeds mutated provider tables to ReadProviderCSV and maps
// every row it yields: reading and mapping must never panic or hang, must
// report failures as *ProviderError values, and every resource must marshal
// to FHIR JSON.
func FuzzProviderCSV(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", providerDir, "directory.csv")); err == nil {
		f.Add(b)
	} else {
		f.Fatal(err)
	}
	f.Add([]byte("ProvNPI,LName,SiteAddr1,SiteName,Phone,NetIDs,NetNames,OfficeHours\n1234567893,Doe,1 Main,Main,1,A;B,x,Mon-Fri 08:00-17:00\n"))
	f.Add([]byte("ProvNPI,GroupName,EntityCd,TermDt\n1555000011,\"Org \"\"A\"\"\",2,2020-01-01\n\"broken\n"))
	f.Add([]byte("\ufeffProvNPI,ProvNPI\n"))
	p := providerTestMapper(f, "fuzz.csv")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		rows := 0
		for row, err := range ReadProviderCSV(bytes.NewReader(data), &ProviderCSVOptions{Columns: &providerTestColumns, AllowMissingColumns: true}) {
			rows++
			if rows > len(data)+2 {
				t.Fatalf("more rows (%d) than the input can hold", rows)
			}
			if err != nil {
				var pe *ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("read error %T is not a *ProviderError: %v", err, err)
				}
				continue
			}
			res, err := p.MapRow(ctx, row)
			if err != nil {
				var pe *ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("map error %T is not a *ProviderError: %v", err, err)
				}
				continue
			}
			for _, r := range res.Resources {
				if _, err := resource.Marshal(r); err != nil {
					t.Fatalf("%s/%s does not marshal: %v", resource.Type(r), resource.ID(r), err)
				}
			}
		}
	})
}

// FuzzProviderRowFromMap feeds mutated change-event images (JSON objects, as
// a Debezium decoder would hand them over, numbers as json.Number or
// float64) to ProviderRowFromMap and maps the rows: no panic, failures are
// *ProviderError values, resources marshal.
func FuzzProviderRowFromMap(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", providerDir, "cdc_*.json"))
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.json") {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var fx providerChangeFixture
		if err := json.Unmarshal(b, &fx); err != nil {
			f.Fatal(err)
		}
		for _, img := range []map[string]any{fx.Before, fx.After} {
			if img != nil {
				b, _ := json.Marshal(img)
				f.Add(b, false)
				f.Add(b, true)
			}
		}
	}
	p := providerTestMapper(f, "fuzz")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte, useNumber bool) {
		d := json.NewDecoder(bytes.NewReader(data))
		if useNumber {
			d.UseNumber()
		}
		var img map[string]any
		if d.Decode(&img) != nil {
			return
		}
		res, err := p.MapChange(ctx, &ProviderChange{Op: ChangeCreate, After: img, SourceVersion: "1"}, nil)
		if err != nil {
			var pe *ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ProviderError: %v", err, err)
			}
			return
		}
		for _, r := range res.Resources {
			if _, err := resource.Marshal(r); err != nil {
				t.Fatalf("%s/%s does not marshal: %v", resource.Type(r), resource.ID(r), err)
			}
		}
	})
}
