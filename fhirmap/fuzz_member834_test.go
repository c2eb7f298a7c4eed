package fhirmap

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
)

// FuzzConvert834 converts arbitrary input seeded with the 834 golden cases:
// no panic, failed records are *Error values, every resource marshals, and a
// full-file scan of the same input either fails or counts every coverage
// the conversion produced.
func FuzzConvert834(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "834*.x12"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	m, err := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}, Enrollment: &EnrollmentOptions{FullFile: true}})
	if err != nil {
		f.Fatal(err)
	}
	conv := NewX12Converter(m, &X12ConverterOptions{KeepRepeats: true})
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := conv.Convert(context.Background(), source.NewMessage("fuzz", data, nil, nil, nil))
		if err != nil {
			var ce *ConvertError
			if !errors.As(err, &ce) {
				return
			}
			for _, e := range ce.Failed {
				var me *Error
				if !errors.As(e.Err, &me) {
					t.Fatalf("failed record error %T is not an *Error: %v", e.Err, e.Err)
				}
			}
		}
		covs := map[string]bool{}
		for _, r := range rs {
			if _, err := resource.Marshal(r); err != nil {
				t.Fatalf("%s/%s does not marshal: %v", resource.Type(r), resource.ID(r), err)
			}
			if resource.Type(r) == "Coverage" {
				covs[resource.ID(r)] = true
			}
		}
		full, serr := m.ScanFullFile(context.Background(), bytes.NewReader(data))
		if serr != nil {
			return
		}
		if err == nil {
			for id := range covs {
				if !full.Has(id) {
					t.Fatalf("coverage %s converted but not in the full-file scan", id)
				}
			}
		}
	})
}
