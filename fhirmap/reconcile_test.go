package fhirmap

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
)

// reconcileFiles runs Reconcile with the January full file as the previous
// state and the February full file as the new one.
func reconcileFiles(t *testing.T, m *Mapper) ([]*cvpb.Coverage, *FullFile) {
	t.Helper()
	ctx := context.Background()
	full, err := m.ScanFullFile(ctx, bytes.NewReader(readCase(t, "834_full_feb")))
	if err != nil {
		t.Fatal(err)
	}
	var out []*cvpb.Coverage
	for c, err := range m.Reconcile(ctx, m.Coverages834(ctx, bytes.NewReader(readCase(t, "834_full_jan"))), full) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out, full
}

// TestReconcile: FUL0000002 and FUL0000004 are in January's full file and
// not in February's, so their Coverages end on February's effective date;
// FUL0000001 and FUL0000003 stay, FUL0000005 is new (no termination).
func TestReconcile(t *testing.T) {
	m := goldenMapper(t, "834_full_feb", nil)
	out, full := reconcileFiles(t, m)
	if full.Members != 3 || len(full.CoverageIDs) != 3 || full.SourceVersion != "2024020106000000" {
		t.Errorf("scan: %d members, %d coverages, version %q", full.Members, len(full.CoverageIDs), full.SourceVersion)
	}
	var want []string
	for _, sub := range []string{"FUL0000002", "FUL0000004"} {
		id, err := m.IDs().Coverage(CoverageKey834("99999", sub, true, "", "", "GRP2001", "EPO"))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	var got []string
	for _, c := range out {
		got = append(got, c.GetId().GetValue())
		if e := c.GetPeriod().GetEnd(); e == nil || time.UnixMicro(e.GetValueUs()).UTC().Format("2006-01-02") != "2024-02-01" {
			t.Errorf("%s: period.end %v, want 2024-02-01", c.GetId().GetValue(), e)
		}
		if c.GetStatus().GetValue() != cpb.FinancialResourceStatusCode_ACTIVE {
			t.Errorf("%s: status %v, want active (terminated, not rescinded)", c.GetId().GetValue(), c.GetStatus())
		}
		if v := versionOf(c.GetMeta()); v != full.SourceVersion {
			t.Errorf("%s: source version %q, want %q", c.GetId().GetValue(), v, full.SourceVersion)
		}
		if !strings.HasPrefix(c.GetMeta().GetSource().GetValue(), "urn:fhirsync:x12:834_full_feb.x12:") {
			t.Errorf("lineage %q", c.GetMeta().GetSource().GetValue())
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("terminated %v, want %v", got, want)
	}

	// The golden Bundle: the terminated Coverages with the Patients and
	// Organizations they refer to (from January's mapping), so that package
	// check can resolve the references.
	var rs []proto.Message
	seen := map[string]bool{}
	for _, res := range runResults(t, "834_full_jan") {
		for _, r := range res.Resources {
			if _, ok := r.(*cvpb.Coverage); ok {
				continue
			}
			k, _ := resource.Key(r)
			if !seen[k] {
				seen[k] = true
				rs = append(rs, r)
			}
		}
	}
	for _, c := range out {
		rs = append(rs, c)
	}
	b := bundleOf(t, rs)
	data, err := resource.MarshalIndent(b)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	compareGolden(t, "834_reconcile.golden.json", data)
	if fs := check.Bundle(b); len(fs) > 0 {
		t.Errorf("package check findings:\n%s", check.Report(fs))
	}
	fhirtest.RequireValid(t, data)
}

func versionOf(mt *dtpb.Meta) string {
	for _, e := range mt.GetExtension() {
		if e.GetUrl().GetValue() == ExtSourceVersion {
			return e.GetValue().GetStringValue().GetValue()
		}
	}
	return ""
}

// TestReconcileRules covers what Reconcile leaves alone and the rescission
// of a coverage that would have begun after the effective date.
func TestReconcileRules(t *testing.T) {
	m := goldenMapper(t, "834_full_feb", nil)
	full := &FullFile{Effective: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), SourceVersion: "2024020106000000", Lineage: "urn:fhirsync:x12:f:1:1:1:0",
		CoverageIDs: map[string]struct{}{"cov-kept": {}}}
	day := func(s string) *dtpb.DateTime {
		tm, _ := time.Parse("2006-01-02", s)
		return fdateTimeDay(tm)
	}
	cov := func(id string, st cpb.FinancialResourceStatusCode_Value, start, end string) *cvpb.Coverage {
		c := &cvpb.Coverage{Id: &dtpb.Id{Value: id}, Status: &cvpb.Coverage_StatusCode{Value: st}, Period: &dtpb.Period{}}
		if start != "" {
			c.Period.Start = day(start)
		}
		if end != "" {
			c.Period.End = day(end)
		}
		return c
	}
	active := cpb.FinancialResourceStatusCode_ACTIVE
	prev := []*cvpb.Coverage{
		cov("cov-kept", active, "2024-01-01", ""),
		cov("cov-ended", active, "2023-01-01", "2023-12-31"),
		cov("cov-cancelled", cpb.FinancialResourceStatusCode_CANCELLED, "2024-01-01", ""),
		cov("cov-error", cpb.FinancialResourceStatusCode_ENTERED_IN_ERROR, "2024-01-01", ""),
		cov("cov-gone", active, "2024-01-01", "2024-12-31"),
		cov("cov-future", active, "2024-03-01", ""),
	}
	seq := func(yield func(*cvpb.Coverage, error) bool) {
		for _, c := range prev {
			if !yield(c, nil) {
				return
			}
		}
	}
	got := map[string]*cvpb.Coverage{}
	for c, err := range m.Reconcile(context.Background(), seq, full) {
		if err != nil {
			t.Fatal(err)
		}
		got[c.GetId().GetValue()] = c
	}
	if len(got) != 2 || got["cov-gone"] == nil || got["cov-future"] == nil {
		t.Fatalf("terminated %v, want cov-gone and cov-future", got)
	}
	if s := got["cov-gone"].GetStatus().GetValue(); s != cpb.FinancialResourceStatusCode_ACTIVE {
		t.Errorf("cov-gone status %v", s)
	}
	if s := got["cov-future"].GetStatus().GetValue(); s != cpb.FinancialResourceStatusCode_CANCELLED {
		t.Errorf("cov-future (never in force) status %v, want cancelled", s)
	}
	if prev[4].GetPeriod().GetEnd().GetValueUs() != day("2024-12-31").GetValueUs() {
		t.Error("Reconcile modified the previous Coverage")
	}

	// an error of the previous set ends the sequence with it
	boom := errors.New("store unavailable")
	var gotErr error
	for _, err := range m.Reconcile(context.Background(), func(yield func(*cvpb.Coverage, error) bool) { yield(nil, boom) }, full) {
		gotErr = err
	}
	if !errors.Is(gotErr, boom) {
		t.Errorf("error %v, want %v", gotErr, boom)
	}
}

// TestScanFullFile: a change file is not a full file unless the caller says
// so, and a member that fails to map fails the scan (it would otherwise look
// absent and be terminated).
func TestScanFullFile(t *testing.T) {
	ctx := context.Background()
	m := goldenMapper(t, "834_add", nil)
	if _, err := m.ScanFullFile(ctx, bytes.NewReader(readCase(t, "834_add"))); !errors.Is(err, ErrNotFullFile) {
		t.Errorf("change file: %v, want ErrNotFullFile", err)
	}
	m2, err := NewMapper(nil, &Options{Enrollment: &EnrollmentOptions{FullFile: true, PayerID: "99999"}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := m2.ScanFullFile(ctx, bytes.NewReader(readCase(t, "834_add")))
	if err != nil || f.Members != 1 || len(f.CoverageIDs) != 3 { // health, dental, other insurer (COB)
		t.Fatalf("forced full file: %v %+v", err, f)
	}
	bad := strings.Replace(string(readCase(t, "834_full_feb")), "HD*030**HLT", "HD*777**HLT", 1)
	_, err = m.ScanFullFile(ctx, strings.NewReader(bad))
	var ce *ConvertError
	if !errors.As(err, &ce) || len(ce.Failed) != 1 || !errors.Is(err, ErrInvalidCode) {
		t.Errorf("bad member: %v, want a ConvertError with one ErrInvalidCode", err)
	}
}

// TestScanFullFileTimeOfDay: an effective date sent as a time of day
// (DTP*007*TM) names no date, so the scan fails instead of dating the file
// at the zero time.
func TestScanFullFileTimeOfDay(t *testing.T) {
	m, err := NewMapper(nil, &Options{Enrollment: &EnrollmentOptions{FullFile: true, PayerID: "99999"}})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(x834(bgnChange, payerXV, subGina+"~"+hdHealth), "DTP*007*D8*20240201", "DTP*007*TM*1200", 1)
	f, err := m.ScanFullFile(context.Background(), strings.NewReader(text))
	if !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("ScanFullFile = %+v, %v; want ErrInvalidValue", f, err)
	}
}
