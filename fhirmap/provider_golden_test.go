package fhirmap

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
)

// providerDir holds the provider directory golden cases: <case>.csv (read
// with providerTestColumns) and cdc_<case>.json (a change event, read with
// DefaultColumnMap), each with <case>.golden.json and <case>.issues.txt.
const providerDir = "provider"

// providerTestColumns is the ColumnMap of testdata/provider/*.csv: a
// credentialing system's own column names.
var providerTestColumns = ColumnMap{
	NPI: "ProvNPI", EntityType: "EntityCd",
	LastName: "LName", FirstName: "FName", MiddleName: "MName", Suffix: "Sfx",
	Credentials: "Degrees", Gender: "Sex", Languages: "Langs",
	OrgName: "GroupName", OrgType: "GroupKind", TIN: "TaxID",
	Taxonomy: "PrimaryTaxonomy", OtherTaxonomies: "AltTaxonomies", Role: "RoleCd",
	Phone: "Phone", Fax: "Fax", Email: "Email",
	MailingLine1: "MailAddr1", MailingLine2: "MailAddr2", MailingCity: "MailCity", MailingState: "MailSt", MailingPostalCode: "MailZip",
	LocationName:  "SiteName",
	LocationLine1: "SiteAddr1", LocationLine2: "SiteAddr2", LocationCity: "SiteCity", LocationState: "SiteSt", LocationPostalCode: "SiteZip",
	LocationPhone: "SitePhone", Latitude: "Lat", Longitude: "Lon", Hours: "OfficeHours",
	AcceptingNewPatients: "NewPatients", NetworkIDs: "NetIDs", NetworkNames: "NetNames", PlanIDs: "PlanIDs",
	AffiliationNPI: "GroupNPI", AffiliationTIN: "GroupTIN", AffiliationName: "GroupNm",
	EffectiveDate: "EffDt", EndDate: "TermDt", Active: "Status",
	ListSeparator: ";",
}

// providerTestPayer owns the networks of the golden cases.
var providerTestPayer = DirectoryPayer{
	PayerID: "ACME01",
	Name:    "Acme Health Plan",
	Address: ProviderAddress{Line1: "1 Insurance Plaza", City: "Chicago", State: "IL", PostalCode: "60601"},
	Phone:   "800-555-0199",
}

// providerTestMapper returns the ProviderMapper of the golden cases: the
// golden clock and id key, the test payer.
func providerTestMapper(t testing.TB, source string) *ProviderMapper {
	t.Helper()
	m, err := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}, Now: func() time.Time { return goldenNow }, SourceName: source})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProviderMapper(m, &ProviderOptions{Payer: &providerTestPayer})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// providerRun collects the results of a case: resources by Type/id (a later
// version replaces an earlier one in place, as a server would keep the last
// write) and the issues.
type providerRun struct {
	resources []proto.Message
	index     map[string]int
	issues    []string
	// strict requires a resource emitted again (by another row) to be
	// identical but for its lineage: rows at one location, of one
	// organization or network, must agree, or the last row would rewrite
	// the resource with other content.
	strict bool
	diffs  []string
}

func (r *providerRun) addResult(t testing.TB, res *ProviderResult) {
	t.Helper()
	if r.index == nil {
		r.index = map[string]int{}
	}
	for _, u := range res.Unmet {
		r.issues = append(r.issues, "unmet: "+u.String())
	}
	for _, w := range res.Warnings {
		r.issues = append(r.issues, "warning: "+w.String())
	}
	for _, m := range res.Resources {
		k, err := resource.Key(m)
		if err != nil {
			t.Fatalf("resource without key: %v", err)
		}
		if i, ok := r.index[k]; ok {
			if r.strict && !sameButLineage(r.resources[i], m) {
				r.diffs = append(r.diffs, k)
			}
			r.resources[i] = m
			continue
		}
		r.index[k] = len(r.resources)
		r.resources = append(r.resources, m)
	}
}

// providerChangeFixture is the JSON form of a change event fixture.
type providerChangeFixture struct {
	Op            string         `json:"op"`
	SourceVersion string         `json:"source_version"`
	TsMs          int64          `json:"ts_ms"`
	Before        map[string]any `json:"before"`
	After         map[string]any `json:"after"`
}

func readProviderChange(t testing.TB, path string) *ProviderChange {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f providerChangeFixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	op, err := ParseChangeOp(f.Op)
	if err != nil {
		t.Fatal(err)
	}
	ch := &ProviderChange{Op: op, Before: f.Before, After: f.After, SourceVersion: f.SourceVersion}
	if f.TsMs != 0 {
		ch.Time = time.UnixMilli(f.TsMs).UTC()
	}
	return ch
}

// runProviderCase maps one golden case.
func runProviderCase(t testing.TB, name string) *providerRun {
	t.Helper()
	run := &providerRun{}
	ctx := context.Background()
	switch {
	case strings.HasPrefix(name, "cdc_"):
		p := providerTestMapper(t, "provider-cdc")
		res, err := p.MapChange(ctx, readProviderChange(t, filepath.Join("testdata", providerDir, name+".json")), nil)
		if err != nil {
			run.issues = append(run.issues, "error: "+err.Error())
			return run
		}
		run.issues = append(run.issues, "source version: "+res.SourceVersion+", op: "+string(res.Op))
		run.addResult(t, res)
	default:
		run.strict = true
		f, err := os.Open(filepath.Join("testdata", providerDir, name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		p := providerTestMapper(t, name+".csv")
		for row, err := range ReadProviderCSV(f, &ProviderCSVOptions{Columns: &providerTestColumns}) {
			if err != nil {
				run.issues = append(run.issues, "read: "+err.Error())
				continue
			}
			res, err := p.MapRow(ctx, row)
			if err != nil {
				run.issues = append(run.issues, "map: "+err.Error())
				continue
			}
			run.addResult(t, res)
		}
	}
	return run
}

func providerCases(t testing.TB) []string {
	var names []string
	for _, pat := range []string{"*.csv", "cdc_*.json"} {
		files, err := filepath.Glob(filepath.Join("testdata", providerDir, pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, ".golden.json") {
				continue
			}
			names = append(names, strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".csv"), ".json"))
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no provider golden cases")
	}
	return names
}

// TestProviderGolden maps every provider case and compares the Bundle of its
// resources with <case>.golden.json and its issues with <case>.issues.txt
// (-update rewrites them). Every resource must pass package check for the
// profiles it declares, and have no empty element.
func TestProviderGolden(t *testing.T) {
	for _, name := range providerCases(t) {
		t.Run(name, func(t *testing.T) {
			run := runProviderCase(t, name)
			if len(run.resources) == 0 {
				t.Fatalf("the case produced no resources; issues:\n%s", lines(run.issues))
			}
			b := bundleOf(t, run.resources)
			got, err := resource.MarshalIndent(b)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			compareGolden(t, filepath.Join(providerDir, name+".golden.json"), got)
			compareGolden(t, filepath.Join(providerDir, name+".issues.txt"), lines(run.issues))
			for _, k := range run.diffs {
				t.Errorf("%s is emitted by several rows with different content", k)
			}
			if fs := check.Bundle(b); len(fs) > 0 {
				t.Errorf("check findings:\n%s", check.Report(fs))
			}
			for _, r := range run.resources {
				if p := emptyElement(r.ProtoReflect(), resource.Type(r)); p != "" {
					t.Errorf("%s/%s has an empty element at %s", resource.Type(r), resource.ID(r), p)
				}
			}
		})
	}
}

// TestProviderGoldenValid runs every provider golden Bundle through the FHIR
// test server's validator. It skips when node or the server's npm install is
// missing, unless FHIRSYNC_INTEGRATION=1.
func TestProviderGoldenValid(t *testing.T) {
	for _, name := range providerCases(t) {
		data, err := os.ReadFile(filepath.Join("testdata", providerDir, name+".golden.json"))
		if err != nil {
			t.Fatalf("%s: %v (run go test ./fhirmap -run TestProviderGolden -update)", name, err)
		}
		t.Run(name, func(t *testing.T) { fhirtest.RequireValid(t, data) })
	}
}

// TestProviderGoldenProfiles checks that the directory case claims every
// Plan-Net profile it is meant to show, so that a regression cannot silently
// drop a profile and still pass check.Bundle.
func TestProviderGoldenProfiles(t *testing.T) {
	run := runProviderCase(t, "directory")
	count := map[string]int{}
	for _, r := range run.resources {
		b, err := resource.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []Canonical{PlanNetPractitioner, PlanNetPractitionerRole, PlanNetOrganization, PlanNetNetwork, PlanNetLocation, PlanNetOrganizationAffiliation, USCorePractitionerRole, USCorePractitioner} {
			if bytes.Contains(b, []byte(`"`+c.Version(PlanNetVersion)+`"`)) || bytes.Contains(b, []byte(`"`+USCoreProfile(c)+`"`)) {
				count[string(c)]++
			}
		}
	}
	want := map[Canonical]int{
		PlanNetPractitioner:            5, // Alvarez, Okafor, Chen, Stein, Kim
		PlanNetOrganization:            3, // payer, group, imaging center
		PlanNetNetwork:                 2, // gold, silver
		PlanNetLocation:                4, // main, east, imaging, Kim's office
		PlanNetOrganizationAffiliation: 4, // group: main in 2 networks, east in 1; imaging in 1
		USCorePractitioner:             1, // Novak, inactive
	}
	for c, n := range want {
		if count[string(c)] != n {
			t.Errorf("%s claimed by %d resources, want %d", c, count[string(c)], n)
		}
	}
	if count[string(PlanNetPractitionerRole)] == 0 || count[string(USCorePractitionerRole)] == 0 {
		t.Errorf("want active Plan-Net roles and ended US Core roles, got %v", count)
	}
}

// sameButLineage reports whether a and b are equal once meta.source is
// cleared.
func sameButLineage(a, b proto.Message) bool {
	strip := func(m proto.Message) proto.Message {
		c := proto.Clone(m)
		rm := c.ProtoReflect()
		if fd := rm.Descriptor().Fields().ByName("meta"); fd != nil && rm.Has(fd) {
			meta := rm.Mutable(fd).Message()
			meta.Clear(meta.Descriptor().Fields().ByName("source"))
		}
		return c
	}
	return proto.Equal(strip(a), strip(b))
}
