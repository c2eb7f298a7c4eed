package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/x12"
)

// resumeFiles are six 837P files of 60 claims each, written by
// x12/internal/gen (Generate837P(60, 1001) to Generate837P(60, 1006)), with
// two edits: the first subscriber of every file is named ZZCANARYZZ, and in
// the last file claim PCN00000030's charge (CLM02) is ZZCANARYZZ, a record
// that does not convert. (This package cannot import x12/internal/gen.)
var resumeFiles = []string{
	"testdata/resume/batch01.837p.x12",
	"testdata/resume/batch02.837p.x12",
	"testdata/resume/batch03.837p.x12",
	"testdata/resume/batch04.837p.x12",
	"testdata/resume/batch05.837p.x12",
	"testdata/resume/batch06.837p.x12",
}

// resumeTypes are the resource types the 837P files become.
var resumeTypes = []string{"Claim", "Patient", "Coverage", "Organization", "Practitioner", "Location"}

const canary = "ZZCANARYZZ"

// TestResumeAfterKill proves the delivery promise of -fhir -checkpoint with
// a real crash. It runs the x12tofhir binary as a child process over six
// 837P files into the test FHIR server (through a recording proxy), kills it
// with SIGKILL while a file is half written, restarts it with the same
// checkpoint, and checks that:
//
//   - the kill landed mid-run: some files were recorded in the checkpoint,
//     not all, and resources of an unrecorded file were on the server;
//   - the restart sent no Claim of a recorded file and every Claim of the
//     others (those of the half-written file again: re-delivery);
//   - every expected resource is on the server (the deterministic ids the
//     mapper gives, cross-checked for Claims and subscriber Patients against
//     ids computed from the X12 business keys), with the content the mapper
//     gives, and nothing else;
//   - a search by each identifier finds exactly one resource;
//   - a second full run (new checkpoint) sends every resource again (restsink
//     does not skip identical content; the server does) and changes no
//     content: Claims keep their version, and every version it makes is
//     identical to the one before apart from meta (a resource several files
//     share, such as a payer, is written by each with that file's lineage in
//     meta.source, and ends with the last file's, as before);
//   - a run with a complete checkpoint sends nothing;
//   - no output of any child holds the canary member name.
func TestResumeAfterKill(t *testing.T) {
	if testing.Short() && os.Getenv(fhirtest.IntegrationEnv) != "1" {
		t.Skip("builds and kills the x12tofhir binary against the FHIR test server: run without -short, or with " + fhirtest.IntegrationEnv + "=1")
	}
	var bin string
	built := make(chan struct{})
	go func() { // while the server starts
		defer close(built)
		bin = buildX12tofhir(t)
	}()
	defer func() { <-built }() // also when Start skips
	srv := fhirtest.Start(t)
	if <-built; bin == "" {
		t.FailNow()
	}
	rec, base := startRecorder(t, srv.URL())
	dir := t.TempDir()
	key := filepath.Join(dir, "id.key")
	if err := os.WriteFile(key, []byte("resume-test-key-0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "first.ckpt")
	args := append([]string{"-fhir", base, "-id-key-file", key, "-checkpoint", ckpt}, resumeFiles...)

	exp, stderr := expectedResources(t, bin, key)
	claimsOf := claimIDsByFile(t, key)
	want := map[string]int{}
	for k := range exp {
		want[strings.SplitN(k, "/", 2)[0]]++
	}
	var allClaims []string
	for _, ids := range claimsOf {
		allClaims = append(allClaims, ids...)
	}
	if len(allClaims) != want["Claim"] {
		t.Fatalf("%d claims decoded, %d Claims mapped", len(allClaims), want["Claim"])
	}
	t.Logf("expected resources: %v", want)

	outputs := [][]byte{stderr} // every child's output to the operator
	defer func() {
		for i, out := range outputs {
			if bytes.Contains(out, []byte(canary)) {
				t.Errorf("run %d: the output holds the canary:\n%s", i+1, out)
			}
		}
	}()

	// Run 1: killed with SIGKILL once a file is done (in the checkpoint)
	// and the next is partly on the server.
	claimCount := func() int { return searchTotal(t, srv, "Claim?_summary=count") }
	cmd, out := startChild(t, bin, args)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for killed := false; !killed; {
		select {
		case err := <-exited:
			t.Fatalf("run 1 ended (%v) before it could be killed mid-run; checkpoint %v; output:\n%s", err, readCheckpoint(t, ckpt, true), out)
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("no moment to kill run 1 in 30 s: checkpoint %v, %d Claims; output:\n%s", readCheckpoint(t, ckpt, true), claimCount(), out)
		case <-time.After(5 * time.Millisecond):
		}
		// Claims of a file not in the checkpoint are on the server, and the
		// checkpoint did not move while they were counted.
		done := readCheckpoint(t, ckpt, true)
		switch {
		case len(done) >= 1 && len(done) < len(resumeFiles)-1 && claimCount() > countClaims(claimsOf, done) && len(readCheckpoint(t, ckpt, true)) == len(done):
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		case len(done) >= len(resumeFiles)-1:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("run 1 got too far before it was caught: %v", done)
		}
	}
	err := <-exited
	outputs = append(outputs, out.Bytes())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("run 1 was not killed: %v", err)
	}
	done := readCheckpoint(t, ckpt, false) // what the dead process recorded
	onServer := listResources(t, srv, "Claim")
	var partial, missing int
	for f, ids := range claimsOf {
		if slices.Contains(done, f) {
			for _, id := range ids {
				if onServer[id] == nil {
					t.Errorf("Claim/%s of %s, recorded as done, is not on the server", id, f)
				}
			}
			continue
		}
		for _, id := range ids {
			if onServer[id] != nil {
				partial++
			} else {
				missing++
			}
		}
	}
	t.Logf("killed with %d of %d files recorded; %d Claims of unrecorded files on the server, %d missing", len(done), len(resumeFiles), partial, missing)
	if partial == 0 || missing == 0 {
		t.Fatalf("the kill did not land mid-run: %d Claims of unrecorded files written, %d missing", partial, missing)
	}
	sentBefore := rec.take()

	// Run 2: the restart with the same checkpoint finishes the job.
	code, out2 := runChild(t, bin, args)
	outputs = append(outputs, out2)
	sent := rec.take()
	wantCode, poisoned := 0, !slices.Contains(done, resumeFiles[5])
	if poisoned {
		wantCode = 1 // the last file's bad claim is reported again
	}
	if code != wantCode {
		t.Fatalf("restart: exit %d, want %d:\n%s", code, wantCode, out2)
	}
	if poisoned && !(bytes.Contains(out2, []byte(resumeFiles[5]+": ")) && bytes.Contains(out2, []byte("CLM (loop 2300), element 2"))) {
		t.Errorf("restart: the bad claim is not reported with its position:\n%s", out2)
	}
	for f, ids := range claimsOf {
		recorded := slices.Contains(done, f)
		for _, id := range ids {
			if n := sent["Claim/"+id]; recorded && n > 0 {
				t.Errorf("restart sent Claim/%s of %s, which the checkpoint records as done", id, f)
			} else if !recorded && n == 0 {
				t.Errorf("restart did not send Claim/%s of %s, which the checkpoint does not record", id, f)
			}
		}
	}
	resent := 0
	for k := range sentBefore {
		if strings.HasPrefix(k, "Claim/") && sent[k] > 0 {
			resent++
		}
	}
	t.Logf("restart sent %d resources; %d Claims sent by both runs (re-delivered)", len(sent), resent)
	if resent == 0 {
		t.Error("no Claim was sent again: re-delivery of the half-written file is not shown")
	}
	if got := readCheckpoint(t, ckpt, false); !reflect.DeepEqual(got, resumeFiles) {
		t.Errorf("checkpoint after the restart: %v", got)
	}

	// (1) and (2): every expected resource, with the mapper's content, and
	// nothing else; each identifier finds one resource.
	before := checkServer(t, srv, exp, want)
	for _, id := range subscriberPatientIDs(t, key) {
		if before["Patient/"+id] == nil {
			t.Errorf("Patient/%s (a subscriber's id from the X12 keys) is not on the server", id)
		}
	}
	// The canary reached the server (as the Patient of the claims whose
	// subscriber is the patient), so the output check below means something.
	named := 0
	for k, r := range exp {
		if b, _ := json.Marshal(r["name"]); strings.HasPrefix(k, "Patient/") && bytes.Contains(b, []byte(canary)) {
			named++
		}
	}
	if n := searchTotal(t, srv, "Patient?family="+canary+"&_summary=count"); n != named || n == 0 {
		t.Errorf("%d Patients named %s on the server, %d mapped: want the same, and some", n, canary, named)
	}

	// (3) A second full run, with a new checkpoint, changes nothing.
	args3 := slices.Clone(args)
	args3[slices.Index(args3, ckpt)] = filepath.Join(dir, "second.ckpt")
	code, out3 := runChild(t, bin, args3)
	outputs = append(outputs, out3)
	if code != 1 || !bytes.Contains(out3, []byte("CLM (loop 2300), element 2")) {
		t.Fatalf("second full run: exit %d, want 1 (the bad claim):\n%s", code, out3)
	}
	sent = rec.take()
	for k := range exp {
		if sent[k] == 0 {
			t.Errorf("the second full run did not send %s", k)
		}
	}
	after := checkServer(t, srv, exp, want)
	bumped := map[string]int{}
	for k, old := range before {
		cur := after[k]
		if v0, v1 := versionID(old), versionID(cur); v0 != v1 {
			bumped[strings.SplitN(k, "/", 2)[0]]++
			checkHistory(t, srv, k, v0, old)
		}
		if !reflect.DeepEqual(withoutVersion(old), withoutVersion(cur)) {
			t.Errorf("%s changed in the second full run", k)
		}
	}
	t.Logf("second full run: %d resources sent; new versions (identical content, meta.source of intermediate writers): %v", len(sent), bumped)
	if bumped["Claim"] != 0 {
		t.Errorf("%d Claims got a new version", bumped["Claim"])
	}

	// A run whose checkpoint holds every file sends nothing.
	code, out4 := runChild(t, bin, args)
	outputs = append(outputs, out4)
	if sent := rec.take(); code != 0 || len(sent) != 0 {
		t.Errorf("run with a complete checkpoint: exit %d, %d resources sent:\n%s", code, len(sent), out4)
	}
}

// buildX12tofhir builds this command into a temporary directory and
// returns its path, or "" after reporting the failure with t.Errorf (it may
// run in its own goroutine).
func buildX12tofhir(t *testing.T) string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "x12tofhir")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go build: %v\n%s", err, out)
		return ""
	}
	return bin
}

// syncBuffer is a bytes.Buffer safe to read while a child writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.b.Bytes())
}

func (b *syncBuffer) String() string { return string(b.Bytes()) }

// startChild starts bin with args; its standard output and error go to the
// returned buffer.
func startChild(t *testing.T, bin string, args []string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// runChild runs bin with args to its end (45 s at most) and returns its exit
// status and output.
func runChild(t *testing.T, bin string, args []string) (int, []byte) {
	t.Helper()
	cmd, out := startChild(t, bin, args)
	timer := time.AfterFunc(45*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.Bytes()
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), out.Bytes()
	default:
		t.Fatalf("x12tofhir did not finish: %v\n%s", err, out)
		return 0, nil
	}
}

// recorder counts the resources written through a proxy in front of the
// server: "Type/id" of each PUT and of each entry of a posted Bundle.
type recorder struct {
	mu   sync.Mutex
	sent map[string]int
}

// take returns what was sent since the last take.
func (r *recorder) take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sent
	r.sent = map[string]int{}
	return s
}

func (r *recorder) note(method, path string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch method {
	case http.MethodPut:
		r.sent[path]++
	case http.MethodPost:
		var b struct {
			Entry []struct {
				Request struct{ URL string }
			}
		}
		if json.Unmarshal(body, &b) == nil {
			for _, e := range b.Entry {
				k, _, _ := strings.Cut(e.Request.URL, "?")
				r.sent[k]++
			}
		}
	}
}

// startRecorder starts a recording proxy to the FHIR base URL fhirBase and
// returns it and the base URL to give the command.
func startRecorder(t *testing.T, fhirBase string) (*recorder, string) {
	t.Helper()
	u, err := url.Parse(fhirBase)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{sent: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "reading the body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			plain := body
			if r.Header.Get("Content-Encoding") == "gzip" {
				if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
					plain, _ = io.ReadAll(zr)
				}
			}
			rec.note(r.Method, strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, u.Path), "/"), plain)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(ps.Close)
	return rec, ps.URL + u.Path
}

// readCheckpoint returns the paths filesource's checkpoint file records as
// done, sorted. With tolerant, a missing file reads as none.
func readCheckpoint(t *testing.T, name string, tolerant bool) []string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		if tolerant && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		t.Fatal(err)
	}
	var c struct {
		Done []struct{ Path string }
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	var out []string
	for _, e := range c.Done {
		out = append(out, e.Path)
	}
	sort.Strings(out)
	return out
}

// expectedResources maps the resources the mapper makes of resumeFiles,
// keyed by the id key in keyFile, to their JSON ("Type/id" → the last
// version), as bin's standard output mode writes them (the binary, not
// run: it maps without the race detector's cost). It also returns bin's
// standard error.
func expectedResources(t *testing.T, bin, keyFile string) (map[string]map[string]any, []byte) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"-id-key-file", keyFile}, resumeFiles...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "CLM (loop 2300), element 2") {
		t.Fatalf("mapping the files: %v, want exit status 1 (one bad claim): %s", err, stderr.String())
	}
	out := map[string]map[string]any{}
	for l := range bytes.Lines(stdout.Bytes()) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("mapping the files: %v", err)
		}
		typ, _ := m["resourceType"].(string)
		id, _ := m["id"].(string)
		if typ == "" || id == "" {
			t.Fatalf("mapping the files: a line without type or id: %.80s", l)
		}
		out[typ+"/"+id] = m
	}
	return out, stderr.Bytes()
}

// decodeClaims calls fn with each 837 claim of each file.
func decodeClaims(t *testing.T, fn func(file string, c *x12.Claim837)) {
	t.Helper()
	for _, f := range resumeFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for rec, err := range x12.NewDecoder(bytes.NewReader(b)).Records() {
			if err != nil {
				continue // the bad claim
			}
			if c, ok := rec.(*x12.Claim837); ok {
				fn(f, c)
			}
		}
	}
}

// keyedIDs returns the ids keyed by keyFile, as -id-key-file makes them.
func keyedIDs(t *testing.T, keyFile string) *fhirmap.IDs {
	t.Helper()
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := fhirmap.NewIDs(&fhirmap.IDOptions{Key: bytes.TrimSpace(key)})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// claimIDsByFile computes the Claim ids of each file from the claims'
// business keys (billing provider NPI, patient control number, frequency,
// BHT03), independently of the mapper.
func claimIDsByFile(t *testing.T, keyFile string) map[string][]string {
	t.Helper()
	ids := keyedIDs(t, keyFile)
	out := map[string][]string{}
	decodeClaims(t, func(f string, c *x12.Claim837) {
		ref := c.Header.Reference
		if ref == "" {
			ref = c.Envelope().ST.Control
		}
		id, err := ids.Claim(fhirmap.ClaimKey{BillingProvider: c.BillingProvider.Name.ID, PatientControlNumber: c.PatientControlNumber, Frequency: c.FrequencyCode, TransactionRef: ref})
		if err != nil {
			t.Fatal(err)
		}
		out[f] = append(out[f], id)
	})
	return out
}

// subscriberPatientIDs computes the Patient ids of the subscribers who are
// their claims' patients from (payer id, member id).
func subscriberPatientIDs(t *testing.T, keyFile string) []string {
	t.Helper()
	ids := keyedIDs(t, keyFile)
	var out []string
	decodeClaims(t, func(_ string, c *x12.Claim837) {
		if c.Patient != nil {
			return
		}
		id, err := ids.Patient(fhirmap.PatientKey{PayerID: c.Subscriber.Payer.ID, MemberID: c.Subscriber.Name.ID})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	})
	return out
}

func countClaims(claimsOf map[string][]string, files []string) int {
	n := 0
	for _, f := range files {
		n += len(claimsOf[f])
	}
	return n
}

// checkServer checks that the server holds exactly the expected resources,
// with the expected content apart from meta, and that each of their
// identifiers finds exactly one resource. It returns what it read.
func checkServer(t *testing.T, srv *fhirtest.Server, exp map[string]map[string]any, want map[string]int) map[string]map[string]any {
	t.Helper()
	got := map[string]map[string]any{}
	for _, typ := range resumeTypes {
		rs := listResources(t, srv, typ)
		if len(rs) != want[typ] {
			t.Errorf("%d %s on the server, want %d", len(rs), typ, want[typ])
		}
		for id, r := range rs {
			got[typ+"/"+id] = r
			if strings.Contains(id, canary) {
				t.Errorf("%s/%s: the id holds the canary", typ, id)
			}
		}
	}
	for k, e := range exp {
		g := got[k]
		if g == nil {
			t.Errorf("%s is not on the server", k)
			continue
		}
		if !reflect.DeepEqual(jsonWithoutMeta(e), jsonWithoutMeta(g)) {
			t.Errorf("%s on the server differs from the mapper's", k)
		}
		typ := strings.SplitN(k, "/", 2)[0]
		ids, _ := e["identifier"].([]any)
		for _, i := range ids {
			im, _ := i.(map[string]any)
			sys, _ := im["system"].(string)
			val, _ := im["value"].(string)
			q := typ + "?identifier=" + url.QueryEscape(sys+"|"+val) + "&_summary=count"
			if n := searchTotal(t, srv, q); n != 1 {
				t.Errorf("%s: %d %s with its identifier %s, want 1", k, n, typ, sys)
			}
		}
	}
	return got
}

// listResources reads every resource of a type from the server, by id.
func listResources(t *testing.T, srv *fhirtest.Server, typ string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	next := typ + "?_count=1000"
	for next != "" {
		var b struct {
			Entry []struct{ Resource map[string]any }
			Link  []struct{ Relation, URL string }
		}
		getJSON(t, srv, next, &b)
		for _, e := range b.Entry {
			out[e.Resource["id"].(string)] = e.Resource
		}
		next = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				next = strings.TrimPrefix(l.URL, srv.URL())
			}
		}
	}
	return out
}

func getJSON(t *testing.T, srv *fhirtest.Server, path string, v any) {
	t.Helper()
	resp, body, err := srv.Do(context.Background(), http.MethodGet, path, nil, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %s", path, err, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func searchTotal(t *testing.T, srv *fhirtest.Server, query string) int {
	t.Helper()
	var b struct{ Total int }
	getJSON(t, srv, query, &b)
	return b.Total
}

// checkHistory checks that every version of k made after version v0 has the
// content of old apart from meta.
func checkHistory(t *testing.T, srv *fhirtest.Server, k, v0 string, old map[string]any) {
	t.Helper()
	var b struct {
		Entry []struct{ Resource map[string]any }
	}
	getJSON(t, srv, k+"/_history", &b)
	for _, e := range b.Entry { // newest first
		if versionID(e.Resource) == v0 {
			return
		}
		if !reflect.DeepEqual(jsonWithoutMeta(old), jsonWithoutMeta(e.Resource)) {
			t.Errorf("%s version %s differs from version %s beyond meta", k, versionID(e.Resource), v0)
		}
	}
	t.Errorf("%s: version %s is not in its history", k, v0)
}

func versionID(r map[string]any) string {
	m, _ := r["meta"].(map[string]any)
	v, _ := m["versionId"].(string)
	return v
}

// jsonWithoutMeta returns a copy of r without meta.
func jsonWithoutMeta(r map[string]any) map[string]any {
	c := make(map[string]any, len(r))
	for k, v := range r {
		if k != "meta" {
			c[k] = v
		}
	}
	return c
}

// withoutVersion returns a copy of r without meta.versionId and
// meta.lastUpdated, which the server sets.
func withoutVersion(r map[string]any) map[string]any {
	c := jsonWithoutMeta(r)
	if m, ok := r["meta"].(map[string]any); ok {
		mc := make(map[string]any, len(m))
		for k, v := range m {
			if k != "versionId" && k != "lastUpdated" {
				mc[k] = v
			}
		}
		c["meta"] = mc
	}
	return c
}
