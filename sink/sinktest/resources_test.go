package sinktest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

// Every builder round-trips through FHIR JSON unchanged (so what a server
// returns compares equal) and carries the canary in a PHI element.
func TestBuildersRoundTrip(t *testing.T) {
	ms := append(sinktest.Related(7), sinktest.PatientRev(7, 3), sinktest.Organization(5))
	for _, m := range ms {
		k, err := resource.Key(m)
		require.NoError(t, err)
		t.Run(k, func(t *testing.T) {
			// google/fhir's marshaller rewrites references in the message
			// it is given (typed ids become uris): marshal a copy.
			b, err := resource.Marshal(proto.Clone(m))
			require.NoError(t, err)
			back, err := resource.Unmarshal(b)
			require.NoError(t, err)
			assert.True(t, proto.Equal(m, back))
			assert.True(t, sinktest.SameContent(m, back))
			// SameContent sees through the two shapes of a reference.
			mutated := proto.Clone(m)
			_, err = resource.Marshal(mutated)
			require.NoError(t, err)
			assert.True(t, sinktest.SameContent(m, mutated))
			if resource.Type(m) == "Patient" || resource.Type(m) == "Coverage" {
				assert.Contains(t, string(b), sinktest.Canary)
			}
		})
	}
}

func TestBuildersDistinct(t *testing.T) {
	assert.False(t, sinktest.SameContent(sinktest.Patient(1), sinktest.Patient(2)))
	assert.False(t, sinktest.SameContent(sinktest.Patient(1), sinktest.PatientRev(1, 1)))
	assert.True(t, sinktest.SameContent(sinktest.Patient(1), sinktest.PatientRev(1, 0)))
	assert.False(t, sinktest.SameContent(sinktest.Patient(1), sinktest.Coverage(1)))
	assert.Equal(t, 0, sinktest.Revision(sinktest.Patient(4)))
	assert.Equal(t, 12, sinktest.Revision(sinktest.PatientRev(4, 12)))
	assert.Equal(t, -1, sinktest.Revision(sinktest.Coverage(4)))
	cr, err := resource.Wrap(sinktest.PatientRev(4, 2))
	require.NoError(t, err)
	assert.Equal(t, 2, sinktest.Revision(cr))
	assert.Equal(t, sinktest.PatientID(3), sinktest.Claim(3).GetPatient().GetPatientId().GetValue())
}

// The invalid coverage is refused by an R4 validator: it must fail to parse
// once serialized.
func TestInvalidCoverageIsInvalid(t *testing.T) {
	b, err := resource.Marshal(sinktest.InvalidCoverage(1))
	require.NoError(t, err)
	_, err = resource.Unmarshal(b)
	require.ErrorIs(t, err, resource.ErrInvalidJSON)
	assert.NotContains(t, err.Error(), sinktest.Canary)
}
