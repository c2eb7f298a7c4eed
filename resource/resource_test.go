package resource_test

import (
	"strings"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
)

func patient() *ppb.Patient {
	return &ppb.Patient{
		Id: &dtpb.Id{Value: "pat-1"},
		Identifier: []*dtpb.Identifier{
			{System: &dtpb.Uri{Value: "urn:example:member"}, Value: &dtpb.String{Value: "M1"}},
		},
		Name: []*dtpb.HumanName{{Family: &dtpb.String{Value: "ZZCANARYZZ"}}},
	}
}

func TestTypeIDKeyIdentifiers(t *testing.T) {
	p := patient()
	cr, err := resource.Wrap(p)
	require.NoError(t, err)
	for _, m := range []proto.Message{p, cr} {
		assert.Equal(t, "Patient", resource.Type(m))
		assert.Equal(t, "pat-1", resource.ID(m))
		k, err := resource.Key(m)
		require.NoError(t, err)
		assert.Equal(t, "Patient/pat-1", k)
		assert.Equal(t, []resource.Identifier{{System: "urn:example:member", Value: "M1"}}, resource.Identifiers(m))
	}
	require.NoError(t, resource.SetID(cr, "pat-2"))
	assert.Equal(t, "pat-2", p.GetId().GetValue())
	_, err = resource.Key(&ppb.Patient{})
	assert.Error(t, err)
	assert.Equal(t, "", resource.Type(&dtpb.String{}))
	_, err = resource.Wrap(&dtpb.String{})
	assert.ErrorIs(t, err, resource.ErrNotResource)
}

func TestNew(t *testing.T) {
	m, err := resource.New("Coverage")
	require.NoError(t, err)
	assert.Equal(t, "Coverage", resource.Type(m))
	_, err = resource.New("Nope")
	assert.ErrorIs(t, err, resource.ErrNotResource)
}

func TestJSONRoundTrip(t *testing.T) {
	b, err := resource.Marshal(patient())
	require.NoError(t, err)
	assert.JSONEq(t, `{"resourceType":"Patient","id":"pat-1","identifier":[{"system":"urn:example:member","value":"M1"}],"name":[{"family":"ZZCANARYZZ"}]}`, string(b))
	m, err := resource.Unmarshal(b)
	require.NoError(t, err)
	assert.True(t, proto.Equal(patient(), m))
}

func TestUnmarshalErrorsArePHIFree(t *testing.T) {
	for _, in := range []string{
		`{"resourceType":"Patient","birthDate":"ZZCANARYZZ"}`,
		`{"resourceType":"Patient","gender":"ZZCANARYZZ"}`,
		`{"resourceType":"Patient","name":[{"family":["ZZCANARYZZ"]}]}`,
		`{"resourceType":"Patient","ZZCANARYZZ":1}`,
		`{"resourceType":"ZZCANARYZZ"}`,
		`not json ZZCANARYZZ`,
	} {
		_, err := resource.Unmarshal([]byte(in))
		require.Error(t, err, in)
		assert.ErrorIs(t, err, resource.ErrInvalidJSON)
		assert.NotContains(t, strings.ToUpper(err.Error()), "ZZCANARYZZ", in)
	}
}

func TestMarshalDoesNotMutate(t *testing.T) {
	p := patient()
	p.GeneralPractitioner = []*dtpb.Reference{{Reference: &dtpb.Reference_PractitionerId{PractitionerId: &dtpb.ReferenceId{Value: "prac-1"}}}}
	before := proto.Clone(p)
	b, err := resource.Marshal(p)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"reference":"Practitioner/prac-1"`)
	assert.True(t, proto.Equal(before, p), "Marshal changed its input")
	_, err = resource.MarshalIndent(p)
	require.NoError(t, err)
	assert.True(t, proto.Equal(before, p), "MarshalIndent changed its input")
}
