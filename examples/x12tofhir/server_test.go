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
