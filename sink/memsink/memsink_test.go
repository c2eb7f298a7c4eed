package memsink_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/memsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

// harness is the sinktest harness of memsink: the backend is the Sink
// itself, read through its exported read methods.
type harness struct{ s *memsink.Sink }

func (h *harness) MakeSink(context.Context) (sink.Sink, error) { return h.s, nil }
func (h *harness) Close()                                      {}

func (h *harness) Read(_ context.Context, typ, id string) (*sinktest.Stored, error) {
	m, ok := h.s.Read(typ, id)
	if !ok {
		return nil, sinktest.ErrNotFound
	}
	return &sinktest.Stored{Resource: m, VersionID: resource.VersionID(m)}, nil
}

func (h *harness) List(_ context.Context, typ string) ([]*sinktest.Stored, error) {
	var out []*sinktest.Stored
	for _, m := range h.s.All() {
		if resource.Type(m) == typ {
			out = append(out, &sinktest.Stored{Resource: m, VersionID: resource.VersionID(m)})
		}
	}
	return out, nil
}

func (h *harness) History(_ context.Context, typ, id string) ([]*sinktest.Stored, error) {
	var out []*sinktest.Stored
	for _, v := range h.s.History(typ, id) {
		out = append(out, &sinktest.Stored{Resource: v.Resource, VersionID: v.VersionID, Deleted: v.Deleted})
	}
	return out, nil
}

func (h *harness) FailNext(n int, f sinktest.Fault) {
	h.s.FailNext(n, sink.Retryable(fmt.Errorf("%w: HTTP %d", memsink.ErrInjected, f.Status), f.RetryAfter))
}

func (h *harness) StallNext(n int) { h.s.StallNext(n) }

var features = sinktest.Features{Versions: true, Delete: true, IfMatch: true, History: true, Faults: true}

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(context.Context, *testing.T) (sinktest.Harness, error) {
		return &harness{s: memsink.New(nil)}, nil
	}, features)
}

func TestConformanceVersionEveryWrite(t *testing.T) {
	sinktest.Run(t, func(context.Context, *testing.T) (sinktest.Harness, error) {
		return &harness{s: memsink.New(&memsink.Options{VersionEveryWrite: true})}, nil
	}, features)
}

// clock is a deterministic Options.Now: each call is one second later.
func clock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func upsert(m proto.Message) sink.Op { return sink.Op{Resource: m} }

func TestVersions(t *testing.T) {
	ctx := context.Background()
	type step struct {
		op       sink.Op
		wantVer  string // current versionId after the op, "" when absent
		wantHist int
	}
	p := sinktest.Patient
	rev := sinktest.PatientRev
	withMeta := func(m *ppb.Patient, ver string) *ppb.Patient {
		m.Meta = &dtpb.Meta{VersionId: &dtpb.Id{Value: ver}, LastUpdated: &dtpb.Instant{ValueUs: 1, Precision: dtpb.Instant_SECOND, Timezone: "Z"}}
		return m
	}
	withProfile := func(m *ppb.Patient) *ppb.Patient {
		m.Meta = &dtpb.Meta{Profile: []*dtpb.Canonical{{Value: "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"}}}
		return m
	}
	for _, tc := range []struct {
		name  string
		opts  *memsink.Options
		steps []step
	}{
		{"create then identical rewrite", nil, []step{
			{upsert(p(1)), "1", 1},
			{upsert(p(1)), "1", 1},
		}},
		{"server meta is not content", nil, []step{
			{upsert(p(1)), "1", 1},
			{upsert(withMeta(p(1), "77")), "1", 1},
		}},
		{"profile is content", nil, []step{
			{upsert(p(1)), "1", 1},
			{upsert(withProfile(p(1))), "2", 2},
		}},
		{"version every write", &memsink.Options{VersionEveryWrite: true}, []step{
			{upsert(p(1)), "1", 1},
			{upsert(p(1)), "2", 2},
		}},
		{"update", nil, []step{
			{upsert(p(1)), "1", 1},
			{upsert(rev(1, 1)), "2", 2},
			{upsert(rev(1, 2)), "3", 3},
		}},
		{"delete keeps a tombstone", nil, []step{
			{upsert(p(1)), "1", 1},
			{sink.Op{Resource: p(1), Delete: true}, "", 2},
			{sink.Op{Resource: p(1), Delete: true}, "", 2},
			{upsert(p(1)), "3", 3},
		}},
		{"delete of nothing", nil, []step{
			{sink.Op{Resource: p(1), Delete: true}, "", 0},
		}},
		{"if-match", nil, []step{
			{upsert(p(1)), "1", 1},
			{sink.Op{Resource: rev(1, 1), IfMatch: "1"}, "2", 2},
			{sink.Op{Resource: rev(1, 2), IfMatch: `W/"2"`}, "3", 3},
			{sink.Op{Resource: rev(1, 3), IfMatch: `"3"`}, "4", 4},
			{sink.Op{Resource: p(1), Delete: true, IfMatch: "4"}, "", 5},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := &memsink.Options{Now: clock()}
			if tc.opts != nil {
				opts.VersionEveryWrite = tc.opts.VersionEveryWrite
			}
			s := memsink.New(opts)
			for i, st := range tc.steps {
				require.NoError(t, s.Write(ctx, []sink.Op{st.op}), "step %d", i)
				m, ok := s.Read("Patient", sinktest.PatientID(1))
				if st.wantVer == "" {
					assert.False(t, ok, "step %d", i)
				} else {
					require.True(t, ok, "step %d", i)
					assert.Equal(t, st.wantVer, resource.VersionID(m), "step %d", i)
				}
				hist := s.History("Patient", sinktest.PatientID(1))
				assert.Len(t, hist, st.wantHist, "step %d", i)
				for j, v := range hist {
					assert.Equal(t, strconv.Itoa(j+1), v.VersionID)
					assert.Equal(t, v.Deleted, v.Resource == nil)
					if j > 0 {
						assert.True(t, v.LastUpdated.After(hist[j-1].LastUpdated))
					}
				}
			}
		})
	}
}

func TestIfMatchConflicts(t *testing.T) {
	ctx := context.Background()
	s := memsink.New(nil)
	require.NoError(t, s.Write(ctx, sink.Upserts(sinktest.Patient(1), sinktest.Patient(2))))
	require.NoError(t, s.Write(ctx, []sink.Op{{Resource: sinktest.Patient(2), Delete: true}}))
	ops := []sink.Op{
		{Resource: sinktest.PatientRev(1, 1), IfMatch: "2"},         // stale
		{Resource: sinktest.PatientRev(2, 1), IfMatch: "1"},         // deleted
		{Resource: sinktest.PatientRev(3, 1), IfMatch: "1"},         // absent
		{Resource: sinktest.Patient(1), Delete: true, IfMatch: "9"}, // stale delete
		{Resource: sinktest.PatientRev(1, 2), IfMatch: "1"},         // current
	}
	err := s.Write(ctx, ops)
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 4)
	for i, f := range be.Failed {
		assert.Equal(t, i, f.Index)
		assert.ErrorIs(t, f.Err, sink.ErrConflict)
	}
	assert.Equal(t, "op 0: sink: version conflict: Patient/sinktest-pat-1 is at version 1", be.Failed[0].Error())
	assert.Equal(t, "op 2: sink: version conflict: Patient/sinktest-pat-3 does not exist", be.Failed[2].Error())
	m, ok := s.Read("Patient", sinktest.PatientID(1))
	require.True(t, ok)
	assert.Equal(t, 2, sinktest.Revision(m))
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	invalid := fmt.Errorf("%w: injected", sink.ErrInvalid)
	s := memsink.New(&memsink.Options{Fault: func(n int, op sink.Op) error {
		switch {
		case n == 2:
			return memsink.Throttled(3 * time.Second)
		case resource.ID(op.Resource) == sinktest.PatientID(7):
			return invalid
		}
		return nil
	}})
	err := s.Write(ctx, sink.Upserts(sinktest.Patient(1), sinktest.Patient(2), sinktest.Patient(7), sinktest.Patient(3)))
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 2)
	assert.Equal(t, 1, be.Failed[0].Index)
	assert.True(t, sink.IsRetryable(be.Failed[0].Err))
	assert.ErrorIs(t, be.Failed[0].Err, memsink.ErrInjected)
	assert.Equal(t, 2, be.Failed[1].Index)
	assert.ErrorIs(t, be.Failed[1].Err, sink.ErrInvalid)
	assert.False(t, sink.IsRetryable(err), "one permanent failure makes the batch not retryable")
	assert.Equal(t, 3*time.Second, sink.RetryAfter(err))
	assert.Equal(t, 2, s.Len())
	// The ordinal moves on: op 2 is past, a retry of Patient(2) succeeds.
	require.NoError(t, s.Write(ctx, sink.Upserts(sinktest.Patient(2))))
	assert.Equal(t, memsink.Stats{Writes: 2, Ops: 5, Resources: 3, Versions: 3}, s.Stats())

	s.FailNext(2, memsink.Unavailable())
	for range 2 {
		err := s.Write(ctx, sink.Upserts(sinktest.Patient(4)))
		assert.True(t, sink.IsRetryable(err))
		assert.Zero(t, sink.RetryAfter(err))
	}
	assert.Equal(t, 2, s.Stats().Writes, "whole-Write failures do not reach the store")
	require.NoError(t, s.Write(ctx, sink.Upserts(sinktest.Patient(4))))

	s.StallNext(1)
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Write(tctx, sink.Upserts(sinktest.Patient(5))), context.DeadlineExceeded)
	_, ok := s.Read("Patient", sinktest.PatientID(5))
	assert.False(t, ok)
}

func TestFailOps(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	s := memsink.New(&memsink.Options{Fault: memsink.FailOps(boom, 1, 4)})
	err := s.Write(ctx, sink.Upserts(sinktest.Patient(1), sinktest.Patient(2), sinktest.Patient(3)))
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 1)
	assert.Equal(t, 0, be.Failed[0].Index)
	err = s.Write(ctx, sink.Upserts(sinktest.Patient(1), sinktest.Patient(4)))
	require.ErrorAs(t, err, &be)
	assert.Equal(t, []sink.IndexError{{Index: 0, Err: boom}}, be.Failed)
	assert.Equal(t, 3, s.Len())
}

func TestSearch(t *testing.T) {
	ctx := context.Background()
	s := memsink.New(nil)
	var ops []sink.Op
	for i := range 3 {
		for _, m := range sinktest.Related(i) {
			ops = append(ops, upsert(m))
		}
	}
	noSystem := sinktest.Patient(8)
	noSystem.Identifier[0].System = nil
	ops = append(ops, upsert(noSystem), sink.Op{Resource: sinktest.Patient(2), Delete: true})
	require.NoError(t, s.Write(ctx, ops))
	ids := func(ms []proto.Message) []string {
		var out []string
		for _, m := range ms {
			k, _ := resource.Key(m)
			out = append(out, k)
		}
		return out
	}
	for _, tc := range []struct {
		typ, token string
		want       []string
	}{
		{"Patient", sinktest.MemberSystem + "|M000001", []string{"Patient/sinktest-pat-1"}},
		{"", sinktest.MemberSystem + "|M000001", []string{"Patient/sinktest-pat-1"}},
		{"Coverage", sinktest.MemberSystem + "|M000001", nil},
		{"Patient", "M000001", []string{"Patient/sinktest-pat-1"}},
		{"Patient", "M000008", []string{"Patient/sinktest-pat-8"}},
		{"Patient", "|M000008", []string{"Patient/sinktest-pat-8"}},
		{"Patient", "|M000001", nil},
		{"Patient", sinktest.MemberSystem + "|", []string{"Patient/sinktest-pat-0", "Patient/sinktest-pat-1"}},
		{"Patient", sinktest.MemberSystem + "|M000002", nil}, // deleted
		{"Coverage", sinktest.SubscriberSystem + "|S000002", []string{"Coverage/sinktest-cov-2"}},
		{"Organization", sinktest.PayerSystem + "|", []string{"Organization/sinktest-org-0", "Organization/sinktest-org-1"}},
	} {
		t.Run(tc.typ+" "+tc.token, func(t *testing.T) {
			assert.Equal(t, tc.want, ids(s.Search(tc.typ, tc.token)))
		})
	}
	all := ids(s.All())
	assert.Len(t, all, 11) // 2 orgs, 3 patients - 1 deleted + 1 without system, 3 coverages, 3 claims
	assert.Equal(t, "Claim/sinktest-claim-0", all[0])
	assert.Equal(t, 11, s.Len())
}

// A message google/fhir's marshaller has been through holds its references
// as uris; it is still the same content, not a new version.
func TestReferenceShapesAreOneContent(t *testing.T) {
	ctx := context.Background()
	s := memsink.New(nil)
	require.NoError(t, s.Write(ctx, sink.Upserts(sinktest.Claim(1))))
	// google/fhir's own marshaller rewrites typed reference ids as uris in
	// place (resource.Marshal shields its callers by marshalling a copy).
	marshalled := sinktest.Claim(1)
	jm, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	require.NoError(t, err)
	cr, err := resource.Wrap(marshalled)
	require.NoError(t, err)
	_, err = jm.Marshal(cr)
	require.NoError(t, err)
	require.False(t, proto.Equal(sinktest.Claim(1), marshalled), "the marshaller no longer mutates: drop this test")
	require.NoError(t, s.Write(ctx, sink.Upserts(marshalled)))
	m, _ := s.Read("Claim", sinktest.ClaimID(1))
	assert.Equal(t, "1", resource.VersionID(m))
	assert.True(t, proto.Equal(sinktest.Claim(1), stripMeta(m)), "stored in the unmarshaller's shape")
}

func stripMeta(m proto.Message) proto.Message {
	c := proto.Clone(m)
	c.ProtoReflect().Clear(c.ProtoReflect().Descriptor().Fields().ByName("meta"))
	return c
}

func TestReadReturnsCopies(t *testing.T) {
	ctx := context.Background()
	s := memsink.New(nil)
	p := sinktest.Patient(1)
	require.NoError(t, s.Write(ctx, sink.Upserts(p)))
	p.Name[0].Family.Value = "changed after write"
	m, _ := s.Read("Patient", sinktest.PatientID(1))
	m.(*ppb.Patient).Name[0].Family.Value = "changed after read"
	again, _ := s.Read("Patient", sinktest.PatientID(1))
	assert.Equal(t, sinktest.Canary, again.(*ppb.Patient).Name[0].Family.Value)
	assert.True(t, sinktest.SameContent(sinktest.Patient(1), again))
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s := memsink.New(nil)
	require.NoError(t, s.Write(ctx, sink.Upserts(sinktest.Patient(1))))
	require.NoError(t, s.Close(ctx))
	require.NoError(t, s.Close(ctx))
	assert.ErrorIs(t, s.Write(ctx, sink.Upserts(sinktest.Patient(2))), sink.ErrClosed)
	assert.Equal(t, 1, s.Len())
}
