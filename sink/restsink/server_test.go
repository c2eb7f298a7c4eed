package restsink_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/restsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

// TestRefusedClientIDs runs against the test server emulating Medplum,
// which refuses update-as-create with client ids: PUT by id stops with a
// configuration error, and MatchAuto, after Probe, falls back to conditional
// updates with server-assigned ids.
func TestRefusedClientIDs(t *testing.T) {
	srv := fhirtest.Start(t, fhirtest.RefuseClientIDs())
	ctx := t.Context()
	ops := sink.Upserts(sinktest.Patient(1), sinktest.Coverage(1), sinktest.Claim(1))

	byID := newSink(t, srv.URL(), nil, nil)
	caps, err := byID.Probe(ctx)
	require.NoError(t, err)
	assert.False(t, caps.Types["Patient"].UpdateCreate)
	assert.True(t, caps.Types["Patient"].ConditionalUpdate)
	// Medplum-style ids (UUIDs) that do not exist yet: 404, a configuration
	// error that stops the Write rather than failing each op.
	uuidPatient := sinktest.Patient(1)
	uuidPatient.Id = &dtpb.Id{Value: "5f0c7d3a-2b1e-4c8d-9a6f-0e1d2c3b4a59"}
	err = byID.Write(ctx, sink.Upserts(uuidPatient))
	var be *sink.BatchError
	assert.False(t, errors.As(err, &be), "a configuration error, not per-op failures: %v", err)
	assert.ErrorIs(t, err, restsink.ErrUnsupported)
	assert.False(t, sink.IsRetryable(err))
	sinktest.CheckNoCanary(t, err)
	// Ids that are not UUIDs are refused as invalid, per op.
	err = byID.Write(ctx, ops)
	require.ErrorAs(t, err, &be)
	assert.Len(t, be.Failed, 3)
	assert.ErrorIs(t, err, sink.ErrInvalid)
	sinktest.CheckNoCanary(t, err)

	for _, mode := range []restsink.Mode{restsink.Single, restsink.Transaction, restsink.Batch} {
		srv.Reset(t)
		auto := newSink(t, srv.URL(), nil, &restsink.Options{Mode: mode, Match: restsink.MatchAuto})
		_, err = auto.Probe(ctx)
		require.NoError(t, err)
		require.NoError(t, auto.Write(ctx, ops), mode)
		require.NoError(t, auto.Write(ctx, ops), "%v: rewrite", mode) // idempotent: matches, updates
		h := newHarness(t, srv, restsink.Options{})
		for _, typ := range []string{"Patient", "Coverage", "Claim"} {
			all, err := h.List(ctx, typ)
			require.NoError(t, err)
			require.Len(t, all, 1, "%v %s", mode, typ)
			assert.Len(t, resource.ID(all[0].Resource), 36, "%v %s: a server-assigned UUID", mode, typ)
		}
	}

	// MatchAuto with the default BundleSize: once Probe switched the types to
	// conditional updates, transactions are cut at the server's cap for
	// conditional entries (8), so a larger Write still goes through.
	srv.Reset(t)
	auto := newSink(t, srv.URL(), nil, &restsink.Options{Mode: restsink.Transaction, Match: restsink.MatchAuto})
	_, err = auto.Probe(ctx)
	require.NoError(t, err)
	var many []sink.Op
	for i := range 20 {
		many = append(many, sink.Op{Resource: sinktest.Patient(i)})
	}
	require.NoError(t, auto.Write(ctx, many))
	all, err := newHarness(t, srv, restsink.Options{}).List(ctx, "Patient")
	require.NoError(t, err)
	assert.Len(t, all, 20)

	// Keeping the client id on a conditional create is refused (400): a
	// permanent failure of that op.
	keep := newSink(t, srv.URL(), nil, &restsink.Options{Match: restsink.MatchIdentifier, KeepID: true})
	err = keep.Write(ctx, sink.Upserts(sinktest.Patient(2)))
	require.ErrorAs(t, err, &be)
	assert.ErrorIs(t, err, sink.ErrInvalid)
	sinktest.CheckNoCanary(t, err)
}

// TestBundleCaps: the server refuses a conditional transaction over 8
// entries with 413; the sink reports the configuration error.
func TestBundleCaps(t *testing.T) {
	srv := fhirtest.Shared(t)
	s := newSink(t, srv.URL(), nil, &restsink.Options{Mode: restsink.Transaction, Match: restsink.MatchIdentifier, BundleSize: 9})
	var ops []sink.Op
	for i := range 9 {
		ops = append(ops, sink.Op{Resource: sinktest.Patient(i)})
	}
	err := s.Write(t.Context(), ops)
	assert.ErrorIs(t, err, restsink.ErrUnsupported)
	assert.Contains(t, err.Error(), "BundleSize")
	assert.False(t, sink.IsRetryable(err))

	s8 := newSink(t, srv.URL(), nil, &restsink.Options{Mode: restsink.Transaction, Match: restsink.MatchIdentifier})
	assert.NoError(t, s8.Write(t.Context(), ops), "the default conditional bundle size fits")
}

// TestIfMatchVersion sends meta.versionId as If-Match: a stale copy is
// refused with sink.ErrConflict. Version ids are opaque (UUIDs here).
func TestIfMatchVersion(t *testing.T) {
	srv := fhirtest.Start(t, fhirtest.UUIDVersionIDs())
	ctx := t.Context()
	s := newSink(t, srv.URL(), nil, &restsink.Options{IfMatchVersion: true})
	require.NoError(t, s.Write(ctx, sink.Upserts(sinktest.Patient(1))))
	h := newHarness(t, srv, restsink.Options{})
	st, err := h.Read(ctx, "Patient", sinktest.PatientID(1))
	require.NoError(t, err)
	v1 := st.VersionID
	assert.Len(t, v1, 36, "a UUID")

	withVersion := func(rev int, v string) sink.Op {
		p := sinktest.PatientRev(1, rev)
		p.Meta = &dtpb.Meta{VersionId: &dtpb.Id{Value: v}}
		return sink.Op{Resource: p}
	}
	require.NoError(t, s.Write(ctx, []sink.Op{withVersion(1, v1)}))
	err = s.Write(ctx, []sink.Op{withVersion(2, v1)}) // v1 is stale now
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	assert.ErrorIs(t, err, sink.ErrConflict)
	var re *restsink.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusPreconditionFailed, re.StatusCode)
	st, err = h.Read(ctx, "Patient", sinktest.PatientID(1))
	require.NoError(t, err)
	assert.Equal(t, 1, sinktest.Revision(st.Resource))
}

// TestProbeTestServer reads the test server's CapabilityStatement.
func TestProbeTestServer(t *testing.T) {
	srv := fhirtest.Shared(t)
	s := newSink(t, srv.URL(), nil, &restsink.Options{Mode: restsink.Batch})
	caps, err := s.Probe(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "4.0.1", caps.FHIRVersion)
	assert.True(t, caps.Transaction)
	assert.True(t, caps.Batch)
	assert.Equal(t, restsink.TypeCapabilities{Update: true, Delete: true, UpdateCreate: true, ConditionalUpdate: true, ConditionalDelete: true},
		caps.Types["Claim"])
}

// TestOrderAcrossAddressing: an update addressed by identifier and a delete
// of the same resource addressed by id (it carries no identifier) are one
// resource: they go in separate rounds, in order, so the resource ends
// deleted. (In one batch bundle the server would apply the delete first.)
func TestOrderAcrossAddressing(t *testing.T) {
	srv := fhirtest.Shared(t)
	ctx := t.Context()
	s := newSink(t, srv.URL(), nil, &restsink.Options{Mode: restsink.Batch, Match: restsink.MatchIdentifier, KeepID: true})
	p := sinktest.Patient(3)
	byID := &ppb.Patient{Id: &dtpb.Id{Value: p.GetId().GetValue()}}
	require.NoError(t, s.Write(ctx, []sink.Op{{Resource: p}, {Resource: byID, Delete: true}}))
	_, err := newHarness(t, srv, restsink.Options{}).Read(ctx, "Patient", p.GetId().GetValue())
	assert.ErrorIs(t, err, sinktest.ErrNotFound)
}

// TestTransactionIsolationAgainstServer: against the test server behind a
// proxy that drops the entry paths from its transaction failures (as servers
// that do not name the failed entry answer), a transaction holding an
// invalid resource and an entry with a stale If-Match is sent again entry by
// entry: exactly those two ops fail, permanently, and every other resource
// of the bundle is written. In both addressings.
func TestTransactionIsolationAgainstServer(t *testing.T) {
	srv := fhirtest.Start(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		opts restsink.Options
	}{
		{"ByID", restsink.Options{Mode: restsink.Transaction}},
		{"ByIdentifier", restsink.Options{Mode: restsink.Transaction, Match: restsink.MatchIdentifier, KeepID: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset(t)
			h := newHarness(t, srv, tc.opts)
			h.mu.Lock()
			h.random = func(*rand.Rand) fault { return fault{kind: unblame} }
			h.mu.Unlock()
			s, err := h.MakeSink(ctx)
			require.NoError(t, err)
			defer s.Close(ctx)

			// Patient 1 at version 2; the Write below updates it with
			// If-Match version 1.
			require.NoError(t, s.Write(ctx, sink.Upserts(sinktest.PatientRev(1, 1))))
			require.NoError(t, s.Write(ctx, sink.Upserts(sinktest.PatientRev(1, 2))))
			var ops []sink.Op
			for i := 10; i < 12; i++ {
				ops = append(ops, sink.Upserts(claimResources(i)...)...)
			}
			const invalidOp = 8 // claim 11's Coverage
			invalidCoverage(ops[invalidOp].Resource.(*cvpb.Coverage))
			staleOp := len(ops)
			ops = append(ops, sink.Op{Resource: sinktest.PatientRev(1, 3), IfMatch: "1"})

			err = s.Write(ctx, ops)
			sinktest.CheckNoCanary(t, err)
			var be *sink.BatchError
			require.ErrorAs(t, err, &be)
			require.Len(t, be.Failed, 2, "%v", err)
			assert.Equal(t, invalidOp, be.Failed[0].Index)
			assert.ErrorIs(t, be.Failed[0].Err, sink.ErrInvalid)
			assert.Equal(t, staleOp, be.Failed[1].Index)
			assert.ErrorIs(t, be.Failed[1].Err, sink.ErrConflict)
			for _, fl := range be.Failed {
				assert.False(t, sink.IsRetryable(fl.Err))
			}
			assert.Positive(t, h.unblamed.Load(), "the proxy removed the server's entry paths")

			// Every other resource is on the server, once, as written.
			for i, op := range ops {
				if i == invalidOp || i == staleOp {
					continue
				}
				typ, id := resource.Type(op.Resource), resource.ID(op.Resource)
				st, err := h.Read(ctx, typ, id)
				if !assert.NoError(t, err, "%s/%s", typ, id) {
					continue
				}
				want, _ := resource.Marshal(op.Resource)
				got, _ := resource.Marshal(st.Resource)
				assert.JSONEq(t, withoutMeta(t, want), withoutMeta(t, got), "%s/%s", typ, id)
			}
			_, err = h.Read(ctx, "Coverage", resource.ID(ops[invalidOp].Resource))
			assert.ErrorIs(t, err, sinktest.ErrNotFound, "the invalid Coverage")
			st, err := h.Read(ctx, "Patient", sinktest.PatientID(1))
			require.NoError(t, err)
			assert.Equal(t, 2, sinktest.Revision(st.Resource), "the stale update was refused")
		})
	}
}

// withoutMeta returns a resource's JSON without its meta element.
func withoutMeta(t *testing.T, b []byte) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	delete(m, "meta")
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return string(out)
}
