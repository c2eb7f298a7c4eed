package fhirmap

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/x12"
)

func readCase(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".x12"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func types(rs []proto.Message) string {
	var s []string
	for _, r := range rs {
		s = append(s, resource.Type(r))
	}
	return strings.Join(s, ",")
}

// TestConvertPartial converts a message whose second claim cannot be mapped:
// the first and third claims' resources come back with a ConvertError that
// names the failed record by position.
func TestConvertPartial(t *testing.T) {
	m := goldenMapper(t, "837p_corrections", nil)
	ix := NewClaimIndex(nil)
	var results int
	conv := NewX12Converter(m, &X12ConverterOptions{Index: ix, OnResult: func(context.Context, x12.Record, *Result) { results++ }})
	msg := source.NewMessage("batch-7@0", readCase(t, "837p_corrections"), map[string]string{"file": "claims-2024-01-15.x12"}, nil, nil)
	rs, err := conv.Convert(context.Background(), msg)
	var ce *ConvertError
	if !errors.As(err, &ce) || len(ce.Failed) != 1 {
		t.Fatalf("err = %v, want a ConvertError with one failed record", err)
	}
	f := ce.Failed[0]
	if f.Pos.Record != 2 || f.Pos.SegmentID != "HI" || f.Pos.Transaction != "0110" || f.Pos.Element != 1 || f.Pos.Component != 2 {
		t.Errorf("failed record position = %+v, want record 2, HI element 1 component 2, ST02 0110", f.Pos)
	}
	if !errors.Is(err, ErrInvalidCode) {
		t.Errorf("errors.Is(err, ErrInvalidCode) = false for %v", err)
	}
	var me *Error
	if !errors.As(err, &me) || me.Path != "Claim.diagnosis[0].diagnosisCodeableConcept" {
		t.Errorf("errors.As(*Error) path = %q", me.Path)
	}
	// the second good claim shares its billing provider, payer, patient and
	// coverage with the first: they are returned once
	if got, want := types(rs), "Organization,Organization,Patient,Coverage,Claim,Claim"; got != want {
		t.Errorf("resources = %s, want %s", got, want)
	}
	if results != 2 || ix.Len() != 2 {
		t.Errorf("OnResult called %d times, index holds %d claims; want 2 and 2", results, ix.Len())
	}
	for _, r := range rs {
		src := r.ProtoReflect().Descriptor().Fields().ByName("meta")
		meta := r.ProtoReflect().Get(src).Message().Interface()
		if s := metaSource(meta); !strings.HasPrefix(s, "urn:fhirsync:x12:claims-2024-01-15.x12:000000110:110:0110:") {
			t.Errorf("%s meta.source = %q", resource.Type(r), s)
		}
	}
}

func TestConvertKeepRepeats(t *testing.T) {
	m := goldenMapper(t, "837p_corrections", nil)
	rs, _ := NewX12Converter(m, &X12ConverterOptions{KeepRepeats: true}).Convert(context.Background(), source.NewMessage("m", readCase(t, "837p_corrections"), nil, nil, nil))
	if got, want := types(rs), "Organization,Organization,Patient,Coverage,Claim,Organization,Organization,Patient,Coverage,Claim"; got != want {
		t.Errorf("resources = %s, want %s", got, want)
	}
	// equalButMeta ignores meta only
	a, b := typicalClaimT(t), typicalClaimT(t)
	if !equalButMeta(a, b) {
		t.Error("equalButMeta: equal claims differ")
	}
	b.ProtoReflect().Clear(b.ProtoReflect().Descriptor().Fields().ByName("total"))
	if equalButMeta(a, b) {
		t.Error("equalButMeta: claims with different totals are equal")
	}
	if resource.ID(a) == "" || resource.ID(b) == "" {
		t.Error("equalButMeta lost the ids")
	}
}

func typicalClaimT(t *testing.T) proto.Message {
	m := goldenMapper(t, "837p_simple", nil)
	rs, err := NewX12Converter(m, nil).Convert(context.Background(), source.NewMessage("m", readCase(t, "837p_simple"), nil, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	return rs[len(rs)-1]
}

// TestConvertSyntaxError converts a message with a claim the decoder
// rejects (CLM02 missing): the error wraps the x12 sentinel, the other claim
// is converted.
func TestConvertSyntaxError(t *testing.T) {
	body := strings.Replace(string(readCase(t, "837p_dependent")), "CLM*PCN2001*45*", "CLM*PCN2001**", 1)
	m := goldenMapper(t, "837p_dependent", nil)
	rs, err := NewX12Converter(m, nil).Convert(context.Background(), source.NewMessage("m1", []byte(body), nil, nil, nil))
	var ce *ConvertError
	if !errors.As(err, &ce) || len(ce.Failed) != 1 {
		t.Fatalf("err = %v, want one failed record", err)
	}
	if !errors.Is(err, x12.ErrRequiredElement) || !errors.Is(err, ErrMissing) {
		t.Errorf("err = %v, want x12.ErrRequiredElement and ErrMissing", err)
	}
	if p := ce.Failed[0].Pos; p.Record != 1 || p.SegmentID != "CLM" || p.Element != 2 {
		t.Errorf("position = %+v, want record 1, CLM element 2", p)
	}
	if n := strings.Count(types(rs), "Claim"); n != 1 {
		t.Errorf("%d claims converted, want 1 (%s)", n, types(rs))
	}
}

func TestConvertCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := goldenMapper(t, "837p_simple", nil)
	rs, err := NewX12Converter(m, nil).Convert(ctx, source.NewMessage("m", readCase(t, "837p_simple"), nil, nil, nil))
	if !errors.Is(err, context.Canceled) || rs != nil {
		t.Errorf("Convert on a cancelled context = %d resources, %v", len(rs), err)
	}
}

// TestConvertTranslationFailure: a terminology.Mapper that cannot answer
// fails the whole message (no resources), so that it is retried.
func TestConvertTranslationFailure(t *testing.T) {
	boom := errors.New("terminology server unreachable")
	m, err := NewMapper(mapperFunc(func() error { return boom }), &Options{
		IDs:       &IDOptions{Key: goldenKey},
		Translate: []Translation{{From: "urn:fhirsync:x12:ER", To: "http://www.ama-assn.org/go/cpt"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := NewX12Converter(m, nil).Convert(context.Background(), source.NewMessage("m", readCase(t, "837p_terminology"), nil, nil, nil))
	if !errors.Is(err, boom) || rs != nil {
		t.Errorf("Convert = %d resources, %v; want none and the mapper's error", len(rs), err)
	}
	var ce *ConvertError
	if errors.As(err, &ce) {
		t.Errorf("a terminology failure was reported as a record failure: %v", err)
	}
}

func TestConverterFunc(t *testing.T) {
	var c Converter = ConverterFunc(func(_ context.Context, m *source.Message) ([]proto.Message, error) {
		return nil, errors.New(m.ID)
	})
	if _, err := c.Convert(context.Background(), source.NewMessage("x", nil, nil, nil, nil)); err == nil || err.Error() != "x" {
		t.Errorf("ConverterFunc.Convert = %v", err)
	}
}

func TestMapRecordUnsupported(t *testing.T) {
	m := goldenMapper(t, "837p_simple", nil)
	if _, err := m.MapRecord(context.Background(), nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("MapRecord(nil) = %v", err)
	}
}

// TestConvertStream: ConvertStream emits each record's resources as it maps
// them (several emits for a several-claim message), their concatenation is
// what Convert returns, and its error is Convert's; an emit error stops it.
func TestConvertStream(t *testing.T) {
	for _, name := range []string{"837p_corrections", "835_plb"} {
		t.Run(name, func(t *testing.T) {
			msg := source.NewMessage(name, readCase(t, name), nil, nil, nil)
			want, wantErr := NewX12Converter(goldenMapper(t, name, nil), nil).Convert(context.Background(), msg)
			var got []proto.Message
			emits := 0
			err := NewX12Converter(goldenMapper(t, name, nil), nil).ConvertStream(context.Background(), msg, func(rs []proto.Message) error {
				emits++
				got = append(got, rs...)
				return nil
			})
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("ConvertStream error %v, Convert error %v", err, wantErr)
			}
			if emits < 2 {
				t.Errorf("%d emits for a message of several records", emits)
			}
			if types(got) != types(want) {
				t.Fatalf("streamed %s, converted %s", types(got), types(want))
			}
			stop := errors.New("stop")
			calls := 0
			err = NewX12Converter(goldenMapper(t, name, nil), nil).ConvertStream(context.Background(), msg, func([]proto.Message) error {
				calls++
				return stop
			})
			if !errors.Is(err, stop) || calls != 1 {
				t.Errorf("after a failing emit: %v, %d calls", err, calls)
			}
		})
	}
}

// TestRecentResourcesBounded: the repeat filter forgets the oldest resources
// past its limit, so memory stays flat.
func TestRecentResourcesBounded(t *testing.T) {
	s := newRecentResources()
	r := func(i int) proto.Message {
		return &ppb.Patient{Id: &dtpb.Id{Value: "p" + strconv.Itoa(i)}}
	}
	for i := range recentLimit + 10 {
		if s.repeat(strconv.Itoa(i), r(i)) {
			t.Fatalf("%d: a new key is no repeat", i)
		}
	}
	if len(s.byKey) != recentLimit {
		t.Fatalf("%d remembered, limit %d", len(s.byKey), recentLimit)
	}
	if !s.repeat(strconv.Itoa(recentLimit+5), r(recentLimit+5)) {
		t.Error("a recent resource repeated unchanged is a repeat")
	}
	if s.repeat("0", r(0)) {
		t.Error("the oldest resource should have been forgotten")
	}
}

// TestEqualButMeta compares without touching either resource: both may be in
// use elsewhere.
func TestEqualButMeta(t *testing.T) {
	mk := func(family, updated string) *ppb.Patient {
		p := &ppb.Patient{Id: &dtpb.Id{Value: "p1"}, Name: []*dtpb.HumanName{{Family: &dtpb.String{Value: family}}}}
		if updated != "" {
			p.Meta = &dtpb.Meta{Source: &dtpb.Uri{Value: updated}}
		}
		return p
	}
	a, b := mk("Ng", "a.x12"), mk("Ng", "b.x12")
	if !equalButMeta(a, b) || !equalButMeta(a, mk("Ng", "")) {
		t.Error("resources differing in meta only should be equal")
	}
	if equalButMeta(a, mk("Li", "a.x12")) {
		t.Error("resources with different names should differ")
	}
	if a.GetMeta().GetSource().GetValue() != "a.x12" || b.GetMeta().GetSource().GetValue() != "b.x12" {
		t.Error("equalButMeta changed a resource")
	}
}
