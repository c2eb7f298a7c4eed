package fhirmap

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	rolepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"

	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
)

// TestProviderReconcileFull reconciles the directory case with a later full
// file in which Okafor is gone and Alvarez left the silver network.
func TestProviderReconcileFull(t *testing.T) {
	prev, err := os.ReadFile(filepath.Join("testdata", providerDir, "directory.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var cur []string
	for i, line := range strings.Split(strings.TrimSuffix(string(prev), "\n"), "\n") {
		switch {
		case i >= 10: // the rows that do not map
			continue
		case strings.HasPrefix(line, "1555000037,"): // Okafor
			continue
		case strings.HasPrefix(line, "1555000029,"): // Alvarez
			line = strings.Replace(line, "NET-GOLD;NET-SILVER,Gold PPO Network;Silver HMO Network", "NET-GOLD,Gold PPO Network", 1)
		}
		cur = append(cur, line)
	}
	current := []byte(strings.Join(cur, "\n") + "\n")
	read := func(b []byte) func(yield func(*ProviderRow, error) bool) {
		return ReadProviderCSV(bytes.NewReader(b), &ProviderCSVOptions{Columns: &providerTestColumns})
	}
	ctx := context.Background()
	for _, endProviders := range []bool{false, true} {
		m, _ := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}, Now: func() time.Time { return goldenNow }, SourceName: "full.csv"})
		p, _ := NewProviderMapper(m, &ProviderOptions{Payer: &providerTestPayer, DeleteEndsProvider: endProviders})
		res, err := p.ReconcileFull(ctx, read(prev), read(current))
		if err != nil {
			t.Fatal(err)
		}
		var ended, pracs int
		for _, r := range res.Resources {
			switch x := r.(type) {
			case *rolepb.PractitionerRole:
				if x.GetActive().GetValue() || x.GetPeriod().GetEnd() == nil {
					t.Errorf("role %s not ended", x.GetId().GetValue())
				}
				ended++
			case *prpb.Practitioner:
				if x.GetActive().GetValue() || x.GetName()[0].GetFamily().GetValue() != "Okafor" {
					t.Errorf("practitioner %s", x.GetName()[0].GetFamily().GetValue())
				}
				pracs++
			}
		}
		wantPracs := 0
		if endProviders {
			wantPracs = 1
		}
		if ended != 2 || pracs != wantPracs {
			t.Errorf("DeleteEndsProvider %v: %d ended roles, %d practitioners; want 2, %d", endProviders, ended, pracs, wantPracs)
		}
		if fs := check.All(res.Resources); len(fs) > 0 {
			t.Errorf("check findings:\n%s", check.Report(fs))
		}
		data, err := resource.Marshal(bundleOf(t, res.Resources))
		if err != nil {
			t.Fatal(err)
		}
		fhirtest.RequireValid(t, data)
	}

	// A current file with a row that does not map ends nothing.
	p := providerTestMapper(t, "full.csv")
	res, err := p.ReconcileFull(ctx, read(prev), read(prev))
	var ce *ConvertError
	if res != nil || !errors.As(err, &ce) || len(ce.Failed) != 2 {
		t.Errorf("res %v, err %v", res, err)
	}
	// The same file twice ends nothing.
	res, err = p.ReconcileFull(ctx, read(current), read(current))
	if err != nil || len(res.Resources) != 0 {
		t.Errorf("%v, %v", res, err)
	}
}
