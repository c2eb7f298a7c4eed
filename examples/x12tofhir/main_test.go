package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type outLine struct {
	Kind     string `json:"kind"`
	Position struct {
		Offset      int64
		Index       int
		SegmentID   string
		Loop        string
		Transaction string
	} `json:"position"`
	File   string         `json:"file"`
	Record map[string]any `json:"record"`
}

func decodeLines(t *testing.T, out string) []outLine {
	t.Helper()
	var lines []outLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var x outLine
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("line is not JSON: %v\n%s", err, l)
		}
		lines = append(lines, x)
	}
	return lines
}

func TestRecordsFromFiles(t *testing.T) {
	files := []string{"testdata/sample.837p.x12", "testdata/sample.835.x12", "testdata/sample.834.x12"}
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"-records"}, files...), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
	kinds := map[string]int{}
	for _, l := range decodeLines(t, stdout.String()) {
		kinds[l.Kind]++
		if l.Position.SegmentID == "" || l.Position.Loop == "" || l.Position.Offset == 0 || l.File == "" || len(l.Record) == 0 {
			t.Errorf("incomplete line: %+v", l)
		}
	}
	want := map[string]int{"837P claim": 3, "835 claim payment": 5, "835 provider adjustment": 1, "834 member": 3}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %q records, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
}

func TestRecordsFromStdinWithBadRecord(t *testing.T) {
	input, err := os.ReadFile("testdata/sample.837p.x12")
	if err != nil {
		t.Fatal(err)
	}
	// Break the second claim's charge with a canary value.
	bad := bytes.Replace(input, []byte("CLM*PCN1002*80*"), []byte("CLM*PCN1002*ZZCANARYZZ*"), 1)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-records"}, bytes.NewReader(bad), &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	lines := decodeLines(t, stdout.String())
	if len(lines) != 2 || lines[0].Record["PatientControlNumber"] != "PCN1001" || lines[1].Record["PatientControlNumber"] != "PCN1003" {
		t.Errorf("good claims around the bad one not decoded: %d lines", len(lines))
	}
	msg := stderr.String()
	if !strings.Contains(msg, "<stdin>: ") || !strings.Contains(msg, "CLM (loop 2300), element 2") || strings.Contains(msg, "ZZCANARYZZ") {
		t.Errorf("stderr: %q", msg)
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(nil, strings.NewReader(""), &stdout, &stderr); code != 0 || stdout.Len() != 0 || stderr.Len() != 0 {
		t.Errorf("empty input: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"-records", filepath.Join(t.TempDir(), "missing.x12")}, nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "missing.x12: no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr.String())
	}
	for _, args := range [][]string{{"-nope"}, {"-records", "-out", t.TempDir()}, {"-network", "maybe"}, {"-id-key-file", filepath.Join(t.TempDir(), "none")},
		{"-fhir", "http://localhost:1"}, {"-fhir", "http://localhost:1", "-out", t.TempDir(), "f.x12"}, {"-fhir", "http://localhost:1", "-records", "f.x12"},
		{"-fhir", "http://localhost:1", "-mode", "fast", "f.x12"}, {"-fhir", "not a url", "f.x12"}, {"-checkpoint", filepath.Join(t.TempDir(), "ckpt"), "f.x12"}} {
		stderr.Reset()
		if code := run(args, strings.NewReader(""), &stdout, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
	short := filepath.Join(t.TempDir(), "key")
	os.WriteFile(short, []byte("short"), 0o600)
	if code := run([]string{"-id-key-file", short}, strings.NewReader(""), &stdout, &stderr); code != 2 {
		t.Errorf("short key: exit %d", code)
	}
}
