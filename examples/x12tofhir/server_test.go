package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
)

// TestFHIRToServer writes the samples into the real test FHIR server with
// -fhir, twice (the second run overwrites: the same resources, no more), and
// checks that the EOBs joined with their claims (they carry the claims'
// diagnoses) and that a bad file fails the command with its position.
func TestFHIRToServer(t *testing.T) {
	srv := fhirtest.Start(t)
	total := func(query string) int {
		resp, body, err := srv.Do(context.Background(), "GET", query, nil, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %s", query, err, body)
		}
		var b struct{ Total int }
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		return b.Total
	}
	counts := func() map[string]int {
		out := map[string]int{}
		for _, typ := range []string{"Claim", "ExplanationOfBenefit", "Patient", "Coverage", "Organization", "Practitioner"} {
			out[typ] = total("/" + typ + "?_summary=count")
		}
		return out
	}
	for _, mode := range []string{"transaction", "put"} {
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"-fhir", srv.URL(), "-mode", mode}, samples...), nil, &stdout, &stderr); code != 0 {
			t.Fatalf("-mode %s: exit %d: %s", mode, code, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("-fhir wrote to standard output: %q", stdout.String())
		}
	}
	got := counts()
	for typ, n := range got {
		if n == 0 {
			t.Errorf("no %s on the server", typ)
		}
	}
	// The join: an EOB of a claim read before it carries the claim's diagnoses.
	resp, body, err := srv.Do(context.Background(), "GET", "/ExplanationOfBenefit?_count=100", nil, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("search EOBs: %v %s", err, body)
	}
	var bundle struct {
		Entry []struct {
			Resource struct {
				Diagnosis []json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(body, &bundle); err != nil {
		t.Fatal(err)
	}
	joined := 0
	for _, e := range bundle.Entry {
		if len(e.Resource.Diagnosis) > 0 {
			joined++
		}
	}
	if joined == 0 {
		t.Error("no EOB carries its claim's diagnoses: the 835 did not join with the 837")
	}
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"-fhir", srv.URL()}, samples...), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("rerun: exit %d: %s", code, stderr.String())
	}
	if again := counts(); !equalCounts(got, again) {
		t.Errorf("a rerun changed the counts: %v, then %v", got, again)
	}

	bad := filepath.Join(t.TempDir(), "bad.x12")
	if err := os.WriteFile(bad, []byte("ISA*nonsense ZZCANARYZZ~"), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run([]string{"-fhir", srv.URL(), samples[0], bad}, nil, &stdout, &stderr); code != 1 {
		t.Fatalf("a bad file: exit %d, want 1: %s", code, stderr.String())
	}
	if !bytes.Contains(stderr.Bytes(), []byte(bad)) || bytes.Contains(stderr.Bytes(), []byte("ZZCANARYZZ")) {
		t.Errorf("stderr should name the file and hold no value: %s", stderr.String())
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestFHIRLaterRunJoins runs a day's 837 and, as a separate run (a new
// process's empty claim index), its 835: the EOBs join with the claims the
// first run wrote, read back from the server, exactly as when both files are
// converted in one run.
func TestFHIRLaterRunJoins(t *testing.T) {
	// Which EOBs join when both files are read in one run (the sample's 835
	// also pays claims the 837 does not hold).
	var ndjson, stderr bytes.Buffer
	if code := run([]string{"testdata/sample.837p.x12", "testdata/sample.835.x12"}, nil, &ndjson, &stderr); code != 0 {
		t.Fatalf("one run: exit %d: %s", code, stderr.String())
	}
	want := map[string]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(ndjson.Bytes()), []byte("\n")) {
		var r struct {
			ResourceType, ID string
			Diagnosis        []json.RawMessage
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		if r.ResourceType == "ExplanationOfBenefit" {
			want[r.ID] = len(r.Diagnosis) > 0
		}
	}

	srv := fhirtest.Start(t)
	for _, file := range []string{"testdata/sample.837p.x12", "testdata/sample.835.x12"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-fhir", srv.URL(), file}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", file, code, stderr.String())
		}
	}
	resp, body, err := srv.Do(context.Background(), "GET", "/ExplanationOfBenefit?_count=100", nil, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("search EOBs: %v %s", err, body)
	}
	var bundle struct {
		Entry []struct {
			Resource struct {
				ID        string
				Diagnosis []json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(body, &bundle); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	joined := 0
	for _, e := range bundle.Entry {
		got[e.Resource.ID] = len(e.Resource.Diagnosis) > 0
		if got[e.Resource.ID] {
			joined++
		}
	}
	if joined == 0 || len(got) != len(want) {
		t.Fatalf("%d EOBs (%d joined) on the server, %d in one run", len(got), joined, len(want))
	}
	for id, j := range want {
		if got[id] != j {
			t.Errorf("EOB %s: joined %v in two runs, %v in one", id, got[id], j)
		}
	}
}
