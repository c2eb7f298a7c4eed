package sink_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
)

const canary = "ZZCANARYZZ"

func pat(id string) *ppb.Patient {
	p := &ppb.Patient{Name: []*dtpb.HumanName{{Family: &dtpb.String{Value: canary}}}}
	if id != "" {
		p.Id = &dtpb.Id{Value: id}
	}
	return p
}

func TestOpRef(t *testing.T) {
	contained, err := resource.Wrap(pat("p-1"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		msg      proto.Message
		wantType string
		wantID   string
		wantErr  string
	}{
		{"patient", pat("p-1"), "Patient", "p-1", ""},
		{"contained", contained, "Patient", "p-1", ""},
		{"dots and dashes", pat("A.b-9"), "Patient", "A.b-9", ""},
		{"64 chars", pat(strings.Repeat("a", 64)), "Patient", strings.Repeat("a", 64), ""},
		{"nil", nil, "", "", "not an R4 resource"},
		{"datatype", &dtpb.HumanName{Family: &dtpb.String{Value: canary}}, "", "", "not an R4 resource"},
		{"empty contained", &bcrpb.ContainedResource{}, "", "", "not an R4 resource"},
		{"no id", pat(""), "", "", "Patient has no id"},
		{"65 chars", pat(strings.Repeat("a", 65)), "", "", "not a FHIR id"},
		{"underscore", pat("a_b"), "", "", "not a FHIR id"},
		{"space", pat(canary + " x"), "", "", "not a FHIR id"},
		{"slash", pat("a/b"), "", "", "not a FHIR id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ, id, err := sink.Op{Resource: tc.msg}.Ref()
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.wantType, typ)
				assert.Equal(t, tc.wantID, id)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, sink.ErrInvalid)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.NotContains(t, err.Error(), canary)
			assert.False(t, sink.IsRetryable(err))
		})
	}
}

func TestUpserts(t *testing.T) {
	a, b := pat("a"), pat("b")
	ops := sink.Upserts(a, b)
	require.Len(t, ops, 2)
	assert.Same(t, a, ops[0].Resource)
	assert.Same(t, b, ops[1].Resource)
	assert.False(t, ops[0].Delete)
	assert.Empty(t, ops[1].IfMatch)
	assert.Empty(t, sink.Upserts())
}

func TestClassification(t *testing.T) {
	cause := errors.New("HTTP 429")
	r2 := sink.Retryable(cause, 2*time.Second)
	r5 := sink.Retryable(errors.New("HTTP 503"), 5*time.Second)
	r0 := sink.Retryable(errors.New("reset"), 0)
	invalid := fmt.Errorf("%w: Patient has no id", sink.ErrInvalid)
	for _, tc := range []struct {
		name      string
		err       error
		retryable bool
		after     time.Duration
	}{
		{"nil", nil, false, 0},
		{"plain", errors.New("boom"), false, 0},
		{"canceled", context.Canceled, false, 0},
		{"deadline", context.DeadlineExceeded, false, 0},
		{"retryable", r2, true, 2 * time.Second},
		{"retryable no after", r0, true, 0},
		{"wrapped retryable", fmt.Errorf("restsink: PUT Patient/x: %w", r2), true, 2 * time.Second},
		{"sink timeout", sink.Retryable(context.DeadlineExceeded, 0), true, 0},
		{"batch all retryable", &sink.BatchError{Failed: []sink.IndexError{{Index: 0, Err: r2}, {Index: 3, Err: r5}}}, true, 5 * time.Second},
		{"batch mixed", &sink.BatchError{Failed: []sink.IndexError{{Index: 0, Err: r5}, {Index: 1, Err: invalid}}}, false, 5 * time.Second},
		{"batch invalid", &sink.BatchError{Failed: []sink.IndexError{{Index: 2, Err: invalid}}}, false, 0},
		{"batch empty", &sink.BatchError{}, false, 0},
		{"wrapped batch", fmt.Errorf("write: %w", &sink.BatchError{Failed: []sink.IndexError{{Index: 1, Err: r2}}}), true, 2 * time.Second},
		{"joined", errors.Join(errors.New("x"), r5), true, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.retryable, sink.IsRetryable(tc.err))
			assert.Equal(t, tc.after, sink.RetryAfter(tc.err))
		})
	}
	assert.Nil(t, sink.Retryable(nil, time.Second))
}

func TestBatchErrorIsAs(t *testing.T) {
	conflict := fmt.Errorf("%w: Patient/p-1 is at version 3", sink.ErrConflict)
	be := &sink.BatchError{Failed: []sink.IndexError{
		{Index: 1, Err: conflict},
		{Index: 4, Err: sink.Retryable(errors.New("HTTP 429"), time.Second)},
	}}
	var err error = fmt.Errorf("batch: %w", be)
	assert.ErrorIs(t, err, sink.ErrConflict)
	assert.NotErrorIs(t, err, sink.ErrInvalid)
	var got *sink.BatchError
	require.ErrorAs(t, err, &got)
	assert.Same(t, be, got)
	var re *sink.RetryableError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, time.Second, re.After)
	var ie sink.IndexError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, 1, ie.Index)
}

func TestErrorStrings(t *testing.T) {
	mk := func(n int) *sink.BatchError {
		be := &sink.BatchError{}
		for i := 0; i < n; i++ {
			be.Failed = append(be.Failed, sink.IndexError{Index: i * 2, Err: sink.ErrInvalid})
		}
		return be
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"index", sink.IndexError{Index: 7, Err: sink.ErrConflict}, "op 7: sink: version conflict"},
		{"batch one", mk(1), "sink: 1 op(s) failed; op 0: sink: invalid resource"},
		{"batch three", mk(3), "sink: 3 op(s) failed; op 0: sink: invalid resource; op 2: sink: invalid resource; op 4: sink: invalid resource"},
		{"batch five", mk(5), "sink: 5 op(s) failed; op 0: sink: invalid resource; op 2: sink: invalid resource; op 4: sink: invalid resource; and 2 more"},
		{"retryable after", sink.Retryable(errors.New("HTTP 429"), 1500*time.Millisecond), "retryable (after 1.5s): HTTP 429"},
		{"retryable", sink.Retryable(errors.New("HTTP 503"), 0), "retryable: HTTP 503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.err.Error())
		})
	}
}
