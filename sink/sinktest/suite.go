package sinktest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
)

// Liveness bound: how long a Write may take to give up once its context is
// done. It is a bound on a hang, not a performance assertion.
const promptly = 2 * time.Second

// testTimeout bounds each test so that a hanging driver fails instead of
// stalling the run.
const testTimeout = 2 * time.Minute

// closeTimeout bounds the final Close of each test.
const closeTimeout = 30 * time.Second

// within runs fn and returns its result, or false if it has not returned
// after d (fn then keeps running, abandoned: the driver is hanging).
func within(d time.Duration, fn func() error) (error, bool) {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err, true
	case <-time.After(d):
		return nil, false
	}
}

// Run runs the conformance suite against the driver newHarness connects to.
// Each test gets a fresh harness (an empty backend) and one sink.
func Run(t *testing.T, newHarness HarnessMaker, f Features) {
	t.Helper()
	if f.IfMatch && !f.Versions {
		t.Fatal("sinktest: Features.IfMatch requires Features.Versions")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"WriteRead", testWriteRead},
		{"MixedTypes", testMixedTypes},
		{"IdempotentRewrite", testIdempotentRewrite},
		{"UpdateOverwrites", testUpdateOverwrites},
		{"SameKeyInBatch", testSameKeyInBatch},
		{"PartialFailure", testPartialFailure},
		{"Delete", testDelete},
		{"IfMatch", testIfMatch},
		{"IfMatchDelete", testIfMatchDelete},
		{"Retryable", testRetryable},
		{"Cancel", testCancel},
		{"Close", testClose},
		{"CloseEmpty", testCloseEmpty},
		{"Concurrent", testConcurrent},
		{"LargeBatch", testLargeBatch},
		{"Canary", testCanary},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			h, err := newHarness(ctx, t)
			if err != nil {
				t.Fatalf("making harness: %v", err)
			}
			defer h.Close()
			s, err := h.MakeSink(ctx)
			if err != nil {
				t.Fatalf("making sink: %v", err)
			}
			e := &env{ctx: ctx, h: h, s: s, f: f}
			defer func() {
				cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
				defer cancel()
				err, ok := within(closeTimeout+promptly, func() error { return s.Close(cctx) })
				switch {
				case !ok:
					t.Errorf("Close did not return within %v", closeTimeout+promptly)
				case err != nil:
					t.Errorf("closing sink: %v", err)
				}
			}()
			tc.fn(t, e)
		})
	}
}

type env struct {
	ctx context.Context
	h   Harness
	s   sink.Sink
	f   Features
}

// write writes ops and fails the test unless Write returns nil.
func (e *env) write(t *testing.T, ops ...sink.Op) {
	t.Helper()
	if err := e.s.Write(e.ctx, ops); err != nil {
		t.Fatalf("Write(%d ops): %v", len(ops), err)
	}
}

// read returns the stored resource or fails the test.
func (e *env) read(t *testing.T, typ, id string) *Stored {
	t.Helper()
	st, err := e.h.Read(e.ctx, typ, id)
	if err != nil {
		t.Fatalf("Read(%s/%s): %v", typ, id, err)
	}
	if st == nil || st.Resource == nil {
		t.Fatalf("Read(%s/%s): no resource", typ, id)
	}
	if got := resource.Type(st.Resource) + "/" + resource.ID(st.Resource); got != typ+"/"+id {
		t.Fatalf("Read(%s/%s) returned %s", typ, id, got)
	}
	if e.f.Versions && st.VersionID == "" {
		t.Errorf("Read(%s/%s): no versionId although Features.Versions", typ, id)
	}
	return st
}

// expect checks that the backend holds want (same content).
func (e *env) expect(t *testing.T, want proto.Message) *Stored {
	t.Helper()
	st := e.read(t, resource.Type(want), resource.ID(want))
	if !SameContent(want, st.Resource) {
		t.Errorf("%s/%s: stored content differs from the last written", resource.Type(want), resource.ID(want))
	}
	return st
}

// expectAbsent checks that the backend does not hold type/id.
func (e *env) expectAbsent(t *testing.T, typ, id string) {
	t.Helper()
	_, err := e.h.Read(e.ctx, typ, id)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Read(%s/%s) = %v, want ErrNotFound", typ, id, err)
	}
}

// expectList checks that the backend holds exactly the ids of resourceType
// given, each once.
func (e *env) expectList(t *testing.T, resourceType string, ids ...string) {
	t.Helper()
	all, err := e.h.List(e.ctx, resourceType)
	if err != nil {
		t.Fatalf("List(%s): %v", resourceType, err)
	}
	var got []string
	for _, st := range all {
		got = append(got, resource.ID(st.Resource))
	}
	slices.Sort(got)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("List(%s) = %s, want %s (each id once)", resourceType, summarize(got), summarize(want))
	}
}

func summarize(ids []string) string {
	if len(ids) > 12 {
		return fmt.Sprintf("%d ids %v ... %v", len(ids), ids[:6], ids[len(ids)-6:])
	}
	return fmt.Sprint(ids)
}

// closeSink closes the sink early (to check a backend after Close); Run's
// deferred Close then checks that a second Close returns nil.
func (e *env) closeSink(t *testing.T) {
	t.Helper()
	if err := e.s.Close(e.ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// failedIndexes returns the indexes a BatchError names, checking they are
// ascending and within the batch; for any other error it returns every index.
func failedIndexes(t *testing.T, err error, n int) []int {
	t.Helper()
	var be *sink.BatchError
	if !errors.As(err, &be) {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all
	}
	var idx []int
	for i, f := range be.Failed {
		if f.Index < 0 || f.Index >= n {
			t.Fatalf("BatchError names index %d of a %d-op batch", f.Index, n)
		}
		if i > 0 && f.Index <= be.Failed[i-1].Index {
			t.Fatalf("BatchError indexes not ascending: %v", err)
		}
		if f.Err == nil {
			t.Fatalf("BatchError index %d has no cause", f.Index)
		}
		idx = append(idx, f.Index)
	}
	return idx
}

// expectBatchError checks that err is a *BatchError failing exactly the
// indexes given, each with an error matching target.
func expectBatchError(t *testing.T, err error, n int, target error, indexes ...int) {
	t.Helper()
	var be *sink.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Write = %v, want a *sink.BatchError failing %v", err, indexes)
	}
	if got := failedIndexes(t, err, n); !slices.Equal(got, indexes) {
		t.Fatalf("BatchError fails %v, want exactly %v: %v", got, indexes, err)
	}
	for _, f := range be.Failed {
		if !errors.Is(f.Err, target) {
			t.Errorf("op %d: %v, want an error wrapping %v", f.Index, f.Err, target)
		}
		if sink.IsRetryable(f.Err) {
			t.Errorf("op %d: %v is retryable; want permanent", f.Index, f.Err)
		}
	}
	if sink.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true, want false", err)
	}
}

func patientIDs(is ...int) []string {
	ids := make([]string, len(is))
	for k, i := range is {
		ids[k] = PatientID(i)
	}
	return ids
}

func del(m proto.Message) sink.Op { return sink.Op{Resource: m, Delete: true} }

func testWriteRead(t *testing.T, e *env) {
	e.write(t, sink.Upserts(Patient(1), Patient(2))...)
	e.expect(t, Patient(1))
	e.expect(t, Patient(2))
	e.expectAbsent(t, "Patient", PatientID(3))
	// A ContainedResource is an accepted form of the same resource.
	cr, err := resource.Wrap(Patient(3))
	if err != nil {
		t.Fatal(err)
	}
	e.write(t, sink.Op{Resource: cr})
	e.expect(t, Patient(3))
	e.expectList(t, "Patient", patientIDs(1, 2, 3)...)
	e.closeSink(t)
	e.expect(t, Patient(1))
	e.expectList(t, "Patient", patientIDs(1, 2, 3)...)
}

func testMixedTypes(t *testing.T, e *env) {
	var ops []sink.Op
	seen := map[string]bool{}
	for _, i := range []int{1, 2} {
		for _, m := range Related(i) {
			k, _ := resource.Key(m)
			if !seen[k] {
				seen[k] = true
				ops = append(ops, sink.Op{Resource: m})
			}
		}
	}
	e.write(t, ops...)
	for _, op := range ops {
		e.expect(t, op.Resource)
	}
	e.closeSink(t)
	e.expectList(t, "Organization", OrganizationID(0), OrganizationID(1))
	e.expectList(t, "Claim", ClaimID(1), ClaimID(2))
	e.expectList(t, "Coverage", CoverageID(1), CoverageID(2))
}

func testIdempotentRewrite(t *testing.T, e *env) {
	e.write(t, sink.Upserts(Patient(1))...)
	first := e.expect(t, Patient(1))
	e.write(t, sink.Upserts(Patient(1))...)
	e.write(t, sink.Upserts(Patient(1))...)
	second := e.expect(t, Patient(1))
	e.expectList(t, "Patient", PatientID(1))
	if e.f.History {
		hist := history(t, e, "Patient", PatientID(1))
		// A server may or may not make a version of an identical rewrite.
		if len(hist) < 1 || len(hist) > 3 {
			t.Errorf("history after 3 identical writes has %d versions", len(hist))
		}
		for _, v := range hist {
			if v.Deleted || !SameContent(Patient(1), v.Resource) {
				t.Errorf("history holds a version that differs from the one written")
			}
		}
		if len(hist) == 1 && second.VersionID != first.VersionID {
			t.Errorf("versionId changed from %q to %q but history has one version", first.VersionID, second.VersionID)
		}
	}
	e.closeSink(t)
	e.expectList(t, "Patient", PatientID(1))
	e.expect(t, Patient(1))
}

func testUpdateOverwrites(t *testing.T, e *env) {
	e.write(t, sink.Upserts(Patient(1), Patient(2))...)
	v1 := e.expect(t, Patient(1))
	e.write(t, sink.Upserts(PatientRev(1, 1))...)
	v2 := e.expect(t, PatientRev(1, 1))
	if got := Revision(v2.Resource); got != 1 {
		t.Errorf("revision after update = %d, want 1", got)
	}
	if e.f.Versions && v2.VersionID == v1.VersionID {
		t.Errorf("versionId %q did not change on a content change", v1.VersionID)
	}
	e.expect(t, Patient(2))
	if e.f.History {
		hist := history(t, e, "Patient", PatientID(1))
		if len(hist) != 2 {
			t.Fatalf("history has %d versions, want 2", len(hist))
		}
		if !SameContent(Patient(1), hist[0].Resource) || !SameContent(PatientRev(1, 1), hist[1].Resource) {
			t.Errorf("history is not [original, update] oldest first")
		}
		if hist[1].VersionID != v2.VersionID {
			t.Errorf("last history versionId %q, current %q", hist[1].VersionID, v2.VersionID)
		}
	}
	e.closeSink(t)
	e.expect(t, PatientRev(1, 1))
	e.expectList(t, "Patient", patientIDs(1, 2)...)
}

func testSameKeyInBatch(t *testing.T, e *env) {
	e.write(t, sink.Upserts(PatientRev(1, 1), Patient(2), PatientRev(1, 2))...)
	e.expect(t, PatientRev(1, 2))
	e.expect(t, Patient(2))
	e.write(t, sink.Upserts(PatientRev(2, 3), PatientRev(2, 4), PatientRev(2, 5))...)
	e.expect(t, PatientRev(2, 5))
	want := patientIDs(1, 2)
	if e.f.Delete {
		e.write(t, sink.Op{Resource: PatientRev(3, 1)}, del(Patient(3)))
		e.expectAbsent(t, "Patient", PatientID(3))
		e.write(t, del(Patient(2)), sink.Op{Resource: PatientRev(2, 6)})
		e.expect(t, PatientRev(2, 6))
	}
	e.closeSink(t)
	e.expect(t, PatientRev(1, 2))
	e.expectList(t, "Patient", want...)
}

func testPartialFailure(t *testing.T, e *env) {
	noID := Patient(90)
	noID.Id = nil
	badID := Patient(91)
	badID.Id = &dtpb.Id{Value: "not valid!"}
	ops := []sink.Op{
		{Resource: Patient(1)},
		{Resource: &dtpb.HumanName{Family: &dtpb.String{Value: Canary}}},
		{Resource: Patient(2)},
		{Resource: noID},
		{Resource: Patient(3)},
		{Resource: badID},
		{Resource: nil},
		{Resource: &bcrpb.ContainedResource{}},
		{Resource: Patient(4)},
	}
	err := e.s.Write(e.ctx, ops)
	expectBatchError(t, err, len(ops), sink.ErrInvalid, 1, 3, 5, 6, 7)
	noCanary(t, err)
	for _, i := range []int{1, 2, 3, 4} {
		e.expect(t, Patient(i))
	}
	want := patientIDs(1, 2, 3, 4)
	if e.f.ValidatesRequired {
		ops := []sink.Op{{Resource: Patient(5)}, {Resource: InvalidCoverage(1)}, {Resource: Patient(6)}}
		err := e.s.Write(e.ctx, ops)
		expectBatchError(t, err, len(ops), sink.ErrInvalid, 1)
		noCanary(t, err)
		e.expect(t, Patient(5))
		e.expect(t, Patient(6))
		e.expectAbsent(t, "Coverage", CoverageID(1))
		want = append(want, patientIDs(5, 6)...)
	}
	e.closeSink(t)
	e.expectList(t, "Patient", want...)
}

func testDelete(t *testing.T, e *env) {
	e.write(t, sink.Upserts(Patient(1), Patient(2))...)
	if !e.f.Delete {
		err := e.s.Write(e.ctx, []sink.Op{del(Patient(1))})
		expectBatchError(t, err, 1, errors.ErrUnsupported, 0)
		e.expect(t, Patient(1))
		return
	}
	e.write(t, del(Patient(1)))
	e.expectAbsent(t, "Patient", PatientID(1))
	e.expect(t, Patient(2))
	e.write(t, del(Patient(1)))                                                                  // already deleted
	e.write(t, del(Patient(9)))                                                                  // never existed
	e.write(t, sink.Op{Resource: &ppb.Patient{Id: &dtpb.Id{Value: PatientID(2)}}, Delete: true}) // type and id are enough
	e.expectAbsent(t, "Patient", PatientID(2))
	e.write(t, sink.Op{Resource: PatientRev(1, 1)}) // back after a delete
	e.expect(t, PatientRev(1, 1))
	if e.f.History {
		hist := history(t, e, "Patient", PatientID(1))
		if len(hist) < 3 || !hist[len(hist)-2].Deleted || hist[len(hist)-1].Deleted {
			t.Errorf("history of a delete then rewrite: %d versions, want [..., deleted, current]", len(hist))
		}
	}
	e.closeSink(t)
	e.expectList(t, "Patient", PatientID(1))
	e.expectAbsent(t, "Patient", PatientID(2))
}

func testIfMatch(t *testing.T, e *env) {
	e.write(t, sink.Upserts(Patient(1))...)
	if !e.f.IfMatch {
		err := e.s.Write(e.ctx, []sink.Op{{Resource: PatientRev(1, 1), IfMatch: "1"}})
		expectBatchError(t, err, 1, errors.ErrUnsupported, 0)
		e.expect(t, Patient(1))
		return
	}
	v1 := e.expect(t, Patient(1)).VersionID
	e.write(t, sink.Op{Resource: PatientRev(1, 1), IfMatch: v1})
	v2 := e.expect(t, PatientRev(1, 1)).VersionID
	if v2 == v1 {
		t.Fatalf("versionId %q unchanged after a conditional update", v1)
	}
	ops := []sink.Op{{Resource: Patient(2)}, {Resource: PatientRev(1, 2), IfMatch: v1}, {Resource: Patient(3)}}
	err := e.s.Write(e.ctx, ops)
	expectBatchError(t, err, len(ops), sink.ErrConflict, 1)
	noCanary(t, err)
	e.expect(t, PatientRev(1, 1))
	e.expect(t, Patient(2))
	e.expect(t, Patient(3))
}

// testIfMatchDelete checks that If-Match guards a delete as it guards an
// update (FHIR http.html#concurrency: a mismatch is 412).
func testIfMatchDelete(t *testing.T, e *env) {
	if !e.f.IfMatch || !e.f.Delete {
		t.Skip("driver declares no If-Match or no delete (Features.IfMatch, Features.Delete)")
	}
	e.write(t, sink.Upserts(Patient(1))...)
	v1 := e.expect(t, Patient(1)).VersionID
	e.write(t, sink.Upserts(PatientRev(1, 1))...)
	v2 := e.expect(t, PatientRev(1, 1)).VersionID
	err := e.s.Write(e.ctx, []sink.Op{{Resource: Patient(1), Delete: true, IfMatch: v1}})
	expectBatchError(t, err, 1, sink.ErrConflict, 0)
	e.expect(t, PatientRev(1, 1))
	e.write(t, sink.Op{Resource: Patient(1), Delete: true, IfMatch: v2})
	e.expectAbsent(t, "Patient", PatientID(1))
}

func faults(t *testing.T, e *env) FaultInjector {
	t.Helper()
	fi, ok := e.h.(FaultInjector)
	if !ok {
		t.Fatalf("Features.Faults is set but %T does not implement sinktest.FaultInjector", e.h)
	}
	return fi
}

func history(t *testing.T, e *env, typ, id string) []*Stored {
	t.Helper()
	hr, ok := e.h.(HistoryReader)
	if !ok {
		t.Fatalf("Features.History is set but %T does not implement sinktest.HistoryReader", e.h)
	}
	hist, err := hr.History(e.ctx, typ, id)
	if err != nil {
		t.Fatalf("History(%s/%s): %v", typ, id, err)
	}
	return hist
}

func testRetryable(t *testing.T, e *env) {
	if !e.f.Faults {
		t.Skip("driver declares no fault injection (Features.Faults)")
	}
	fi := faults(t, e)
	for _, tc := range []struct {
		fault Fault
		first int
	}{
		{Fault{Status: 429, RetryAfter: 2 * time.Second}, 1},
		{Fault{Status: 503}, 11},
		{Fault{Status: 429}, 21},
	} {
		ops := sink.Upserts(Patient(tc.first), Patient(tc.first+1), Patient(tc.first+2))
		fi.FailNext(1, tc.fault)
		err := e.s.Write(e.ctx, ops)
		if err == nil {
			t.Fatalf("HTTP %d injected: Write returned nil", tc.fault.Status)
		}
		noCanary(t, err)
		if !sink.IsRetryable(err) {
			t.Errorf("HTTP %d: IsRetryable(%v) = false", tc.fault.Status, err)
		}
		if got := sink.RetryAfter(err); got != tc.fault.RetryAfter {
			t.Errorf("HTTP %d: RetryAfter = %v, want %v", tc.fault.Status, got, tc.fault.RetryAfter)
		}
		if errors.Is(err, sink.ErrInvalid) || errors.Is(err, sink.ErrConflict) {
			t.Errorf("HTTP %d classified as permanent: %v", tc.fault.Status, err)
		}
		failed := failedIndexes(t, err, len(ops))
		var retry []sink.Op
		for i, op := range ops {
			if slices.Contains(failed, i) {
				retry = append(retry, op)
			} else {
				e.expect(t, op.Resource) // reported written
			}
		}
		// The engine retries only what failed; the fault was for one request.
		e.write(t, retry...)
		for _, op := range ops {
			e.expect(t, op.Resource)
		}
	}
	e.closeSink(t)
	e.expectList(t, "Patient", patientIDs(1, 2, 3, 11, 12, 13, 21, 22, 23)...)
}

func testCancel(t *testing.T, e *env) {
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	err, ok := within(promptly, func() error { return e.s.Write(ctx, sink.Upserts(Patient(1))) })
	if !ok {
		t.Fatalf("Write with a cancelled context did not return within %v", promptly)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a cancelled context = %v, want an error wrapping context.Canceled", err)
	}
	if e.f.Faults {
		faults(t, e).StallNext(1)
		const timeout = 200 * time.Millisecond
		ctx, cancel := context.WithTimeout(e.ctx, timeout)
		defer cancel()
		err, ok := within(timeout+promptly, func() error { return e.s.Write(ctx, sink.Upserts(Patient(2))) })
		if !ok {
			t.Fatalf("Write to a stalled backend did not return within %v of its context's end", promptly)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Write to a stalled backend = %v, want an error wrapping context.DeadlineExceeded", err)
		}
	}
	// The sink is still usable.
	e.write(t, sink.Upserts(Patient(1), Patient(2))...)
	e.expect(t, Patient(1))
	e.expect(t, Patient(2))
}

func testClose(t *testing.T, e *env) {
	e.write(t, sink.Upserts(Patient(1))...)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = e.s.Close(e.ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Close #%d: %v", i, err)
		}
	}
	if err := e.s.Close(e.ctx); err != nil {
		t.Errorf("Close after Close: %v", err)
	}
	err := e.s.Write(e.ctx, sink.Upserts(Patient(2)))
	if !errors.Is(err, sink.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if sink.IsRetryable(err) {
		t.Errorf("Write after Close is retryable: %v", err)
	}
	e.expect(t, Patient(1))
	e.expectAbsent(t, "Patient", PatientID(2))
	e.expectList(t, "Patient", PatientID(1))
}

func testCloseEmpty(t *testing.T, e *env) {
	e.closeSink(t)
	e.expectList(t, "Patient")
}

// testConcurrent writes from several goroutines, each its own keys plus keys
// shared by all. No write may be lost, and a shared key must end as one of
// the versions written to it.
func testConcurrent(t *testing.T, e *env) {
	const goroutines, rounds, shared = 4, 8, 3
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written = map[int][]int{} // shared patient -> revisions written
	)
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				own := 100 + g*rounds + r
				k := 900 + r%shared
				rev := 1 + g*rounds + r
				ops := sink.Upserts(Patient(own), PatientRev(k, rev))
				mu.Lock()
				written[k] = append(written[k], rev)
				mu.Unlock()
				if err := writeRetrying(e.ctx, e.s, ops); err != nil {
					t.Errorf("goroutine %d round %d: %v", g, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var want []string
	for g := range goroutines {
		for r := range rounds {
			want = append(want, PatientID(100+g*rounds+r))
			e.expect(t, Patient(100+g*rounds+r))
		}
	}
	check := func() {
		for k := 900; k < 900+shared; k++ {
			st := e.read(t, "Patient", PatientID(k))
			rev := Revision(st.Resource)
			if !slices.Contains(written[k], rev) || !SameContent(PatientRev(k, rev), st.Resource) {
				t.Errorf("Patient/%s holds revision %d, not one of those written %v", PatientID(k), rev, written[k])
			}
		}
	}
	check()
	for k := 900; k < 900+shared; k++ {
		want = append(want, PatientID(k))
	}
	e.closeSink(t)
	check()
	e.expectList(t, "Patient", want...)
}

// writeRetrying writes ops, retrying what a real server may refuse for a
// while under concurrent updates of one key (a retryable error), a few times.
func writeRetrying(ctx context.Context, s sink.Sink, ops []sink.Op) error {
	var err error
	for range 8 {
		if err = s.Write(ctx, ops); err == nil || !sink.IsRetryable(err) {
			return err
		}
		var be *sink.BatchError
		if errors.As(err, &be) {
			var again []sink.Op
			for _, f := range be.Failed {
				again = append(again, ops[f.Index])
			}
			ops = again
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

func testLargeBatch(t *testing.T, e *env) {
	const n = 120
	ops := make([]sink.Op, n)
	ids := make([]string, n)
	for i := range ops {
		ops[i] = sink.Op{Resource: Patient(1000 + i)}
		ids[i] = PatientID(1000 + i)
	}
	e.write(t, ops...)
	for i := 0; i < n; i += 17 {
		e.expect(t, Patient(1000+i))
	}
	e.closeSink(t)
	e.expectList(t, "Patient", ids...)
}

// testCanary makes every kind of failure the driver can report happen on
// resources that carry the canary in their PHI elements, and checks that no
// returned error says it.
func testCanary(t *testing.T, e *env) {
	noID := Patient(1)
	noID.Id = nil
	badID := Patient(2)
	badID.Id = &dtpb.Id{Value: "bad id"}
	type batch struct {
		name string
		ops  []sink.Op
	}
	batches := []batch{
		{"not a resource", []sink.Op{{Resource: &dtpb.HumanName{Family: &dtpb.String{Value: Canary}}}}},
		{"no id", []sink.Op{{Resource: noID}}},
		{"bad id", []sink.Op{{Resource: badID}}},
		{"missing required", []sink.Op{{Resource: InvalidCoverage(1)}}},
		{"if-match", []sink.Op{{Resource: Patient(3)}, {Resource: PatientRev(3, 1), IfMatch: "424242"}}},
		{"delete", []sink.Op{{Resource: Patient(4)}, {Resource: Patient(4), Delete: true}}},
	}
	for _, b := range batches {
		err := e.s.Write(e.ctx, b.ops)
		noCanaryIn(t, b.name, err)
	}
	if e.f.Faults {
		fi := faults(t, e)
		fi.FailNext(1, Fault{Status: 429, RetryAfter: time.Second})
		noCanaryIn(t, "429", e.s.Write(e.ctx, sink.Upserts(Patient(5))))
		fi.FailNext(1, Fault{Status: 503})
		noCanaryIn(t, "503", e.s.Write(e.ctx, sink.Upserts(Patient(6))))
		fi.StallNext(1)
		ctx, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
		err, ok := within(promptly, func() error { return e.s.Write(ctx, sink.Upserts(Patient(7))) })
		cancel()
		if !ok {
			t.Fatalf("Write to a stalled backend did not return within %v", promptly)
		}
		noCanaryIn(t, "stall", err)
	}
	e.closeSink(t)
	noCanaryIn(t, "after close", e.s.Write(e.ctx, sink.Upserts(Patient(8))))
}

func noCanary(t *testing.T, err error) {
	t.Helper()
	noCanaryIn(t, "", err)
}

// noCanaryIn fails t if err, or any error it wraps, prints the canary.
func noCanaryIn(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range errorStrings(err) {
		if strings.Contains(strings.ToUpper(s), Canary) {
			t.Errorf("%s: error prints PHI (the canary): %q", what, s)
			return
		}
	}
}

// errorStrings returns what err and every error in its tree print, with
// the %v and %+v verbs.
func errorStrings(err error) []string {
	var out []string
	var walk func(error, int)
	walk = func(e error, depth int) {
		if e == nil || depth > 32 {
			return
		}
		out = append(out, e.Error(), fmt.Sprintf("%+v", e))
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x, depth+1)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap(), depth+1)
		}
	}
	walk(err, 0)
	return out
}

// CheckNoCanary fails t if err or any error it wraps prints [Canary]. Driver
// tests use it on every error they provoke.
func CheckNoCanary(t testing.TB, err error) {
	t.Helper()
	for _, s := range errorStrings(err) {
		if strings.Contains(strings.ToUpper(s), Canary) {
			t.Errorf("error prints PHI (the canary): %q", s)
			return
		}
	}
}
