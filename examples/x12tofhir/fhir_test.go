package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"
	eobpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/explanation_of_benefit_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink/ndjsonsink"
)

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Date(2024, 2, 20, 8, 0, 0, 0, time.UTC) }
	fhirtest.Main(m)
}

var samples = []string{"testdata/sample.837p.x12", "testdata/sample.835.x12", "testdata/sample.834.x12"}

// parseNDJSON parses FHIR NDJSON into resources.
func parseNDJSON(t *testing.T, out []byte) []proto.Message {
	t.Helper()
	var rs []proto.Message
	for i, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		r, err := resource.Unmarshal(l)
		if err != nil {
			t.Fatalf("line %d is not an R4 resource: %v", i+1, err)
		}
		rs = append(rs, r)
	}
	return rs
}

func eobs(rs []proto.Message) map[string]*eobpb.ExplanationOfBenefit {
	out := map[string]*eobpb.ExplanationOfBenefit{}
	for _, r := range rs {
		if e, ok := r.(*eobpb.ExplanationOfBenefit); ok {
			out[e.GetIdentifier()[0].GetValue().GetValue()] = e
		}
	}
	return out
}

func TestFHIRFromFiles(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(samples, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if got := strings.TrimSpace(stderr.String()); got != "" {
		t.Errorf("stderr: %q", got)
	}
	rs := parseNDJSON(t, stdout.Bytes())
	counts := map[string]int{}
	keys := map[string]proto.Message{}
	for _, r := range rs {
		counts[resource.Type(r)]++
		k, _ := resource.Key(r)
		if old, ok := keys[k]; ok && proto.Equal(withoutMeta(old), withoutMeta(r)) {
			t.Errorf("%s written twice with the same content", k)
		}
		keys[k] = r
	}
	// 834: 3 members (the 837 and 835 have theirs too), a Coverage per HD
	// loop (4) and one with the other insurer of the COB loop, all carrying
	// the 834's source version.
	want := map[string]int{"Claim": 3, "ExplanationOfBenefit": 5, "PaymentReconciliation": 1}
	versioned := map[string]int{}
	for _, r := range rs {
		for _, e := range metaOf(r).GetExtension() {
			if e.GetUrl().GetValue() == fhirmap.ExtSourceVersion {
				versioned[resource.Type(r)]++
			}
		}
	}
	if versioned["Patient"] != 3 || versioned["Coverage"] != 5 || versioned["Practitioner"] != 1 {
		t.Errorf("834 resources with a source version: %v, want 3 Patients, 5 Coverages and the primary care Practitioner", versioned)
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%d %s, want %d (all: %v)", counts[k], k, n, counts)
		}
	}
	// The 835's claim payments joined the 837's claims read before them.
	e := eobs(rs)
	for _, icn := range []string{"ICN0000001", "ICN0000002"} {
		if len(e[icn].GetDiagnosis()) == 0 || len(e[icn].GetMeta().GetProfile()) != 1 {
			t.Errorf("%s did not join its claim", icn)
		}
	}
	// Referenced resources come before the resources that refer to them.
	seen := map[string]bool{}
	for _, r := range rs {
		k, _ := resource.Key(r)
		for _, ref := range refsOf(r) {
			if keys[ref] != nil && !seen[ref] {
				t.Errorf("%s refers to %s, written after it", k, ref)
			}
		}
		seen[k] = true
	}
	if fs := check.All(rs); len(fs) > 0 {
		for _, f := range fs {
			if f.Severity == check.Error {
				t.Errorf("finding: %s", f)
			}
		}
	}
	fhirtest.RequireValid(t, stdout.Bytes())

	// Deterministic: the same input gives the same output.
	var again bytes.Buffer
	run(samples, nil, &again, &bytes.Buffer{})
	if !bytes.Equal(again.Bytes(), stdout.Bytes()) {
		t.Error("a second run wrote other output")
	}
}

// withoutMeta returns a copy of r without its meta.
func withoutMeta(r proto.Message) proto.Message {
	c := proto.Clone(r)
	m := c.ProtoReflect()
	m.Clear(m.Descriptor().Fields().ByName("meta"))
	return c
}

// refsOf returns the "Type/id" references in a resource's JSON.
func refsOf(r proto.Message) []string {
	b, _ := resource.Marshal(r)
	var out []string
	for _, part := range strings.Split(string(b), `"reference":"`)[1:] {
		out = append(out, part[:strings.IndexByte(part, '"')])
	}
	return out
}

func TestFHIRFileOrder(t *testing.T) {
	var stdout bytes.Buffer
	// The 835 before its 837: no join, the EOB claims no C4BB profile.
	if code := run([]string{samples[1], samples[0]}, nil, &stdout, &bytes.Buffer{}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if e := eobs(parseNDJSON(t, stdout.Bytes()))["ICN0000001"]; len(e.GetDiagnosis()) != 0 || len(e.GetMeta().GetProfile()) != 0 {
		t.Error("an 835 read before its 837 joined it")
	}
}

func TestFHIRBadRecordStdin(t *testing.T) {
	input, err := os.ReadFile(samples[0])
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(input, []byte("CLM*PCN1002*80*"), []byte("CLM*PCN1002*ZZCANARYZZ*"), 1)
	bad = bytes.Replace(bad, []byte("TESTPERSON*ALICE*Q"), []byte("ZZCANARYZZ*ZZCANARYZZ*Q"), 1)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-v"}, bytes.NewReader(bad), &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	rs := parseNDJSON(t, stdout.Bytes())
	var claims []string
	for _, r := range rs {
		if resource.Type(r) == "Claim" {
			b, _ := resource.Marshal(r)
			claims = append(claims, string(b))
		}
	}
	if len(claims) != 2 || !strings.Contains(claims[0], "PCN1001") || !strings.Contains(claims[1], "PCN1003") {
		t.Errorf("the good claims around the bad one: %d", len(claims))
	}
	msg := stderr.String()
	if !strings.Contains(msg, "<stdin>: ") || !strings.Contains(msg, "CLM (loop 2300), element 2") || strings.Contains(msg, "ZZCANARYZZ") {
		t.Errorf("stderr: %q", msg)
	}
	if !strings.Contains(stdout.String(), "ZZCANARYZZ") {
		t.Error("the canary is not in the output: the test sees nothing")
	}
	for _, r := range rs {
		if strings.Contains(resource.ID(r), "ZZCANARYZZ") {
			t.Errorf("%s id leaks PHI", resource.Type(r))
		}
	}
}

func TestFHIROutDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "set")
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"-out", dir, "-network", "innetwork"}, samples[:2]...), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("-out wrote to standard output")
	}
	man, err := ndjsonsink.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range man.Output {
		files = append(files, fmt.Sprintf("%s %d", f.Type, f.Count))
	}
	sort.Strings(files)
	if got := strings.Join(files, ", "); !strings.Contains(got, "Claim 3") || !strings.Contains(got, "ExplanationOfBenefit 5") || !strings.Contains(got, "PaymentReconciliation 1") {
		t.Errorf("manifest output: %s", got)
	}
	// Each resource once, its latest version: the same set as the distinct
	// resources of the standard output mode.
	var all bytes.Buffer
	n := 0
	for l, err := range ndjsonsink.Lines(dir) {
		if err != nil {
			t.Fatal(err)
		}
		all.Write(l.JSON)
		all.WriteByte('\n')
		n++
	}
	var std bytes.Buffer
	run(append([]string{"-network", "innetwork"}, samples[:2]...), nil, &std, &bytes.Buffer{})
	distinct := map[string]bool{}
	for _, r := range parseNDJSON(t, std.Bytes()) {
		k, _ := resource.Key(r)
		distinct[k] = true
	}
	if n != len(distinct) {
		t.Errorf("%d lines in the set, %d distinct resources", n, len(distinct))
	}
	fhirtest.RequireValid(t, all.Bytes())
	// A sealed set is not written twice.
	if code := run(append([]string{"-out", dir}, samples[:1]...), nil, &stdout, &stderr); code != 1 {
		t.Errorf("second run into a sealed set: exit %d", code)
	}
}

func TestFHIRIDKey(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var plain, keyed bytes.Buffer
	run(samples[:1], nil, &plain, &bytes.Buffer{})
	if code := run([]string{"-id-key-file", key, samples[0]}, nil, &keyed, &bytes.Buffer{}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	p, k := parseNDJSON(t, plain.Bytes()), parseNDJSON(t, keyed.Bytes())
	if len(p) != len(k) || resource.ID(p[0]) == resource.ID(k[0]) {
		t.Error("-id-key-file does not change the ids")
	}
}

// metaOf returns the meta of a resource.
func metaOf(r proto.Message) *dtpb.Meta {
	m := r.ProtoReflect()
	return m.Get(m.Descriptor().Fields().ByName("meta")).Message().Interface().(*dtpb.Meta)
}

// TestFHIRReconcile converts February's full 834 against January's: the
// output holds February's members and, after them, January's two members
// February no longer holds, their Coverages ended on February's effective
// date; the payer id makes the ids those of the payer's claims.
func TestFHIRReconcile(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"-payer-id", "99999", "-v", "-previous", "testdata/full_jan.834.x12", "testdata/full_feb.834.x12"}
	if code := run(args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "2 coverages of testdata/full_jan.834.x12 ended on 2024-02-01") {
		t.Errorf("stderr: %q", stderr.String())
	}
	var ended []string
	for _, r := range parseNDJSON(t, stdout.Bytes()) {
		c, ok := r.(*cvpb.Coverage)
		if !ok || c.GetPeriod().GetEnd() == nil {
			continue
		}
		ended = append(ended, c.GetSubscriberId().GetValue())
		if e := time.UnixMicro(c.GetPeriod().GetEnd().GetValueUs()).UTC().Format("2006-01-02"); e != "2024-02-01" {
			t.Errorf("%s ended %s", c.GetSubscriberId().GetValue(), e)
		}
	}
	sort.Strings(ended)
	if strings.Join(ended, ",") != "FUL0000002,FUL0000004" {
		t.Errorf("ended coverages of %v, want FUL0000002 and FUL0000004", ended)
	}
	fhirtest.RequireValid(t, stdout.Bytes())

	// a change file is not a full file
	stderr.Reset()
	if code := run([]string{"-previous", "testdata/full_jan.834.x12", "testdata/sample.834.x12"}, nil, &bytes.Buffer{}, &stderr); code != 1 || !strings.Contains(stderr.String(), "not a full file") {
		t.Errorf("change file: exit %d, stderr %q", code, stderr.String())
	}
	if code := run([]string{"-previous", "testdata/full_jan.834.x12"}, nil, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("-previous without a file: exit %d, want 2", code)
	}
}
