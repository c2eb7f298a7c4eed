package fhirmap

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

// update rewrites the golden files: go test ./fhirmap -run TestGolden -update
var update = flag.Bool("update", false, "rewrite the fhirmap golden files")

func TestMain(m *testing.M) { fhirtest.Main(m) }

// goldenNow is the fixed clock of the golden cases.
var goldenNow = time.Date(2024, 2, 1, 12, 0, 0, 0, time.UTC)

// goldenKey is the fixed id key of the golden cases (a test value, not a
// secret).
var goldenKey = []byte("fhirsync-golden-test-id-key-0001")

// goldenDependents is the dependent member id store of the golden cases
// (MAPPING.md §9 D1): what an 834 enrollment store would answer, by
// subscriber id and first name.
var goldenDependents = map[string]string{
	"MBR0000002|CAROL": "MBR0000002-02",
	"DEN0000001|FRAN":  "DEN0000001-01",
}

// goldenMapper returns the Mapper of a golden case: the fixed clock and key,
// the dependent store, and (when testdata/<case>.conceptmap.json exists) a
// terminology index with its maps, translating the local systems the maps
// name.
func goldenMapper(t testing.TB, name string, claims ClaimLookup) *Mapper {
	t.Helper()
	opts := &Options{
		IDs:        &IDOptions{Key: goldenKey},
		Now:        func() time.Time { return goldenNow },
		SourceName: name + ".x12",
		Claims:     claims,
		DependentMemberID: func(_ context.Context, d Dependent) (string, error) {
			return goldenDependents[d.SubscriberID+"|"+strings.ToUpper(d.Patient.First)], nil
		},
	}
	var tm terminology.Mapper
	if data, err := os.ReadFile(filepath.Join("testdata", name+".conceptmap.json")); err == nil {
		maps, err := terminology.ParseConceptMaps(data)
		if err != nil {
			t.Fatalf("%s.conceptmap.json: %v", name, err)
		}
		ix := terminology.NewIndex(nil)
		if err := ix.Add(maps...); err != nil {
			t.Fatal(err)
		}
		tm = ix
		seen := map[string]bool{}
		for _, cm := range maps {
			for _, g := range cm.Group {
				if !seen[g.Source+"|"+g.Target] {
					seen[g.Source+"|"+g.Target] = true
					opts.Translate = append(opts.Translate, Translation{From: g.Source, To: g.Target})
				}
			}
		}
	}
	if h := goldenOptionHooks[name]; h != nil {
		h(opts)
	}
	m, err := NewMapper(tm, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// goldenRun is what a golden case produced.
type goldenRun struct {
	resources []proto.Message // deduplicated by Type/id, first occurrence kept
	issues    []string        // decode and mapping errors, unmet requirements, warnings
}

// runCase decodes testdata/<name>.x12 record by record and maps each record;
// claims are added to an in-memory ClaimLookup so that a later 835 in the
// same case joins with them.
func runCase(t testing.TB, name string) goldenRun {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".x12"))
	if err != nil {
		t.Fatal(err)
	}
	index := NewClaimIndex(nil)
	m := goldenMapper(t, name, index)
	var run goldenRun
	seen := map[string]bool{}
	d := x12.NewDecoder(bytes.NewReader(data))
	for rec, err := range d.Records() {
		if err != nil {
			run.issues = append(run.issues, "decode: "+err.Error())
			continue
		}
		res, err := m.MapRecord(context.Background(), rec)
		if err != nil {
			if errors.Is(err, ErrUnsupported) {
				run.issues = append(run.issues, "skipped: "+err.Error())
				continue
			}
			run.issues = append(run.issues, "map: "+err.Error())
			continue
		}
		for _, u := range res.Unmet {
			run.issues = append(run.issues, "unmet: "+u.String())
		}
		for _, w := range res.Warnings {
			run.issues = append(run.issues, "warning: "+w.String())
		}
		if err := index.AddResources(res.Resources); err != nil {
			t.Fatalf("ClaimIndex.AddResources: %v", err)
		}
		for _, r := range res.Resources {
			k, err := resource.Key(r)
			if err != nil {
				t.Fatalf("resource without key: %v", err)
			}
			if !seen[k] {
				seen[k] = true
				run.resources = append(run.resources, r)
			}
		}
	}
	return run
}

// bundleOf wraps resources in a collection Bundle.
func bundleOf(t testing.TB, rs []proto.Message) *bcrpb.Bundle {
	t.Helper()
	b := &bcrpb.Bundle{Type: &bcrpb.Bundle_TypeCode{Value: cpb.BundleTypeCode_COLLECTION}}
	for _, r := range rs {
		cr, err := resource.Wrap(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Entry = append(b.Entry, &bcrpb.Bundle_Entry{Resource: cr})
	}
	return b
}

func goldenCases(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "*.x12"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".x12"))
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no golden cases in testdata")
	}
	return names
}

// TestGolden maps every testdata/<case>.x12 and compares the Bundle of its
// resources with <case>.golden.json, the errors, unmet requirements and
// warnings with <case>.issues.txt, and the profile findings of package check
// with <case>.findings.txt (each file absent when empty). It also requires
// that no element is empty.
func TestGolden(t *testing.T) {
	for _, name := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			run := runCase(t, name)
			if len(run.resources) == 0 {
				t.Fatal("the case produced no resources")
			}
			b := bundleOf(t, run.resources)
			got, err := resource.MarshalIndent(b)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			compareGolden(t, name+".golden.json", got)
			compareGolden(t, name+".issues.txt", lines(run.issues))
			var findings []byte
			if fs := check.Bundle(b); len(fs) > 0 {
				findings = []byte(check.Report(fs))
			}
			compareGolden(t, name+".findings.txt", findings)
			for _, r := range run.resources {
				if p := emptyElement(r.ProtoReflect(), resource.Type(r)); p != "" {
					t.Errorf("%s/%s has an empty element at %s", resource.Type(r), resource.ID(r), p)
				}
			}
		})
	}
}

// TestGoldenValid runs every golden Bundle through the FHIR test server's
// validator (base R4 structure, cardinalities, invariants, required
// bindings). It skips when node or the server's npm install is missing,
// unless FHIRSYNC_INTEGRATION=1.
func TestGoldenValid(t *testing.T) {
	for _, name := range goldenCases(t) {
		data, err := os.ReadFile(filepath.Join("testdata", name+".golden.json"))
		if err != nil {
			t.Fatalf("%s: %v (run go test ./fhirmap -run TestGolden -update)", name, err)
		}
		t.Run(name, func(t *testing.T) { fhirtest.RequireValid(t, data) })
	}
}

func lines(ss []string) []byte {
	if len(ss) == 0 {
		return nil
	}
	return []byte(strings.Join(ss, "\n") + "\n")
}

// compareGolden compares got with testdata/file, or rewrites it under
// -update (removing it when got is empty).
func compareGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if len(got) == 0 {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			return
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		want, err = nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (rerun with -update if the change is intended):\n%s", file, firstDiff(want, got))
	}
}

func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n want %q\n  got %q", i+1, w, g)
		}
	}
	return "(same lines)"
}

// emptyElement returns the path of the first element of m that is present
// but empty (a message with no field set, a string primitive with an empty
// value, an empty list), or "".
func emptyElement(m protoreflect.Message, path string) string {
	var bad string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			if l.Len() == 0 {
				bad = p
				return false
			}
			if fd.Kind() == protoreflect.MessageKind {
				for i := 0; i < l.Len(); i++ {
					if s := emptyMessage(l.Get(i).Message(), fmt.Sprintf("%s[%d]", p, i)); s != "" {
						bad = s
						return false
					}
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			if s := emptyMessage(v.Message(), p); s != "" {
				bad = s
				return false
			}
		}
		return true
	})
	return bad
}

// emptyMessage reports an empty message (or empty primitive string value)
// at path, or recurses.
func emptyMessage(m protoreflect.Message, path string) string {
	n := 0
	m.Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool { n++; return false })
	if n == 0 {
		// google/fhir primitives keep their value in a scalar field "value";
		// a zero scalar is unset, so a Boolean false would look empty here.
		if fd := m.Descriptor().Fields().ByName("value"); fd != nil && fd.Kind() == protoreflect.BoolKind {
			return ""
		}
		return path
	}
	if fd := m.Descriptor().Fields().ByName("value"); fd != nil && fd.Kind() == protoreflect.StringKind && m.Has(fd) && m.Get(fd).String() == "" {
		return path
	}
	return emptyElement(m, path)
}
