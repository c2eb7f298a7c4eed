package fhirmap

// Conversion of the parts of a FHIR Claim (as the 837 side mapped it) into
// the matching parts of an ExplanationOfBenefit, for the 837/835 join.

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// copyFields copies the fields of src into dst by name: fields of the same
// message type are cloned; choice wrappers (the google/fhir "…X" messages of
// value[x], timing[x], diagnosis[x], serviced[x]...) of different parent
// types are converted field by field; fields whose types differ otherwise
// (Claim.supportingInfo.reason is a CodeableConcept, the EOB's a Coding) or
// that dst lacks are left out. Claim and ExplanationOfBenefit backbone
// elements share their element names and datatypes, which is what makes the
// copy sound.
func copyFields(dst, src proto.Message) {
	copyReflect(dst.ProtoReflect(), src.ProtoReflect())
}

func copyReflect(dst, src protoreflect.Message) {
	dfs := dst.Descriptor().Fields()
	src.Range(func(sf protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		df := dfs.ByName(sf.Name())
		if df == nil || df.Kind() != sf.Kind() || df.Cardinality() != sf.Cardinality() || df.IsMap() {
			return true
		}
		if sf.Kind() != protoreflect.MessageKind {
			if df.Kind() == protoreflect.EnumKind && df.Enum().FullName() != sf.Enum().FullName() {
				return true
			}
			dst.Set(df, v)
			return true
		}
		same := df.Message().FullName() == sf.Message().FullName()
		if !same && !isChoice(df.Message(), sf.Message()) {
			return true
		}
		conv := func(sv protoreflect.Message) protoreflect.Value {
			if same {
				return protoreflect.ValueOfMessage(proto.Clone(sv.Interface()).ProtoReflect())
			}
			nv := dst.NewField(df).Message()
			if df.IsList() {
				nv = dst.Mutable(df).List().NewElement().Message()
			}
			copyReflect(nv, sv)
			return protoreflect.ValueOfMessage(nv)
		}
		if sf.IsList() {
			sl, dl := v.List(), dst.Mutable(df).List()
			for i := 0; i < sl.Len(); i++ {
				dl.Append(conv(sl.Get(i).Message()))
			}
			return true
		}
		dst.Set(df, conv(v.Message()))
		return true
	})
}

// isChoice reports whether two messages are google/fhir choice-type wrappers
// of the same element name (e.g. Claim_SupportingInformation_TimingX and
// ExplanationOfBenefit_SupportingInformation_TimingX).
func isChoice(a, b protoreflect.MessageDescriptor) bool {
	na, nb := string(a.Name()), string(b.Name())
	if na != nb || !strings.HasSuffix(na, "X") {
		return false
	}
	return a.Oneofs().Len() == 1 && b.Oneofs().Len() == 1
}
