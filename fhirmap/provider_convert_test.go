package fhirmap

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
)

func TestProviderCSVConverter(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", providerDir, "directory.csv"))
	if err != nil {
		t.Fatal(err)
	}
	p := providerTestMapper(t, "")
	var results int
	conv := NewProviderCSVConverter(p, &ProviderCSVConverterOptions{
		CSV:      &ProviderCSVOptions{Columns: &providerTestColumns},
		OnResult: func(context.Context, *ProviderRow, *ProviderResult) { results++ },
	})
	msg := source.NewMessage("msg-1", body, map[string]string{"file": "directory.csv"}, nil, nil)
	rs, err := conv.Convert(context.Background(), msg)
	var ce *ConvertError
	if !errors.As(err, &ce) || len(ce.Failed) != 2 || ce.Failed[0].Pos.Record != 10 || ce.Failed[1].Pos.Record != 11 {
		t.Fatalf("err = %v", err)
	}
	for _, f := range ce.Failed {
		var pe *ProviderError
		if !errors.As(f.Err, &pe) {
			t.Errorf("failed row error %T", f.Err)
		}
	}
	if results != 9 {
		t.Errorf("%d results, want 9", results)
	}
	// Each resource once (rows agree on shared resources), in the golden
	// case's order and content.
	want := runProviderCase(t, "directory")
	if len(rs) != len(want.resources) {
		t.Fatalf("%d resources, want %d", len(rs), len(want.resources))
	}
	for i := range rs {
		if !equalButMeta(rs[i], want.resources[i]) {
			k, _ := resource.Key(rs[i])
			t.Errorf("resource %d (%s) differs from the golden case", i, k)
		}
	}
	if fs := check.All(rs); len(fs) > 0 {
		t.Errorf("check findings:\n%s", check.Report(fs))
	}
	keep := NewProviderCSVConverter(p, &ProviderCSVConverterOptions{CSV: &ProviderCSVOptions{Columns: &providerTestColumns}, KeepRepeats: true})
	all, _ := keep.Convert(context.Background(), msg)
	if len(all) <= len(rs) {
		t.Errorf("KeepRepeats: %d resources, want more than %d", len(all), len(rs))
	}

	t.Run("source version", func(t *testing.T) {
		vc := NewProviderCSVConverter(p, &ProviderCSVConverterOptions{
			CSV:           &ProviderCSVOptions{Columns: &providerTestColumns},
			SourceVersion: func(m *source.Message) string { return m.Metadata["extract_date"] },
		})
		rs, _ := vc.Convert(context.Background(), source.NewMessage("m", body, map[string]string{"extract_date": "20240201"}, nil, nil))
		for _, r := range rs {
			b, err := resource.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"url":"`+ExtSourceVersion+`","valueString":"20240201"`) {
				t.Fatalf("%s has no source version: %s", resource.ID(r), b)
			}
		}
		res, err := p.WithSourceVersion("7").MapRow(context.Background(), providerTestRow())
		if err != nil || res.SourceVersion != "7" {
			t.Errorf("MapRow: %v, %v", res, err)
		}
	})
	t.Run("bad header", func(t *testing.T) {
		rs, err := conv.Convert(context.Background(), source.NewMessage("m", []byte("a,b\n1,2\n"), nil, nil, nil))
		if len(rs) != 0 || !errors.As(err, &ce) || len(ce.Failed) != 1 || !errors.Is(err, ErrProviderHeader) {
			t.Errorf("%d resources, err %v", len(rs), err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rs, err := conv.Convert(ctx, msg)
		if rs != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("%d resources, err %v", len(rs), err)
		}
	})
}
