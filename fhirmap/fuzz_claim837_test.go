package fhirmap

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
)

// FuzzConvert837 feeds mutated 837s to the X12 converter: it must never
// panic, must report failures as a *ConvertError of *Error values, and every
// resource it returns must marshal to FHIR JSON.
func FuzzConvert837(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "837*.x12"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	m, err := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}})
	if err != nil {
		f.Fatal(err)
	}
	conv := NewX12Converter(m, &X12ConverterOptions{Lenient: true})
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := conv.Convert(context.Background(), source.NewMessage("fuzz", data, nil, nil, nil))
		if err != nil {
			var ce *ConvertError
			if !errors.As(err, &ce) {
				// fatal decoding errors (not an interchange at all) fail the message
				return
			}
			for _, e := range ce.Failed {
				var me *Error
				if !errors.As(e.Err, &me) {
					t.Fatalf("failed record error %T is not an *Error: %v", e.Err, e.Err)
				}
			}
		}
		for _, r := range rs {
			if _, err := resource.Marshal(r); err != nil {
				t.Fatalf("%s/%s does not marshal: %v", resource.Type(r), resource.ID(r), err)
			}
		}
	})
}
