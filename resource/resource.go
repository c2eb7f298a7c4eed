// Package resource holds the small helpers every fhirsync package needs around
// FHIR R4 resources modelled as github.com/google/fhir/go protocol buffers:
// the resource type and logical id of a message, its business identifiers,
// wrapping in and out of ContainedResource, and compact JSON in both directions.
//
// # PHI
//
// Resources hold PHI. The errors returned here name the resource type and a
// FHIR path at most, never an element value: google/fhir's own unmarshal errors,
// whose diagnostics may quote input, are reduced to their path.
package resource

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ErrNotResource reports a message that is not an R4 resource (nor a ContainedResource holding one).
var ErrNotResource = errors.New("resource: not an R4 resource message")

// ErrInvalidJSON reports FHIR JSON that could not be read into an R4 resource.
var ErrInvalidJSON = errors.New("resource: invalid FHIR JSON")

// Identifier is a business identifier of a resource: its system and value.
// Values may be PHI (a member id): never log them.
type Identifier struct {
	System string
	Value  string
}

var (
	containedOnce   sync.Once
	containedFields map[protoreflect.FullName]protoreflect.FieldDescriptor
	containedByName map[string]protoreflect.FieldDescriptor
)

func containedIndex() {
	containedOnce.Do(func() {
		containedFields = map[protoreflect.FullName]protoreflect.FieldDescriptor{}
		containedByName = map[string]protoreflect.FieldDescriptor{}
		od := (&bcrpb.ContainedResource{}).ProtoReflect().Descriptor().Oneofs().ByName("oneof_resource")
		for i := 0; i < od.Fields().Len(); i++ {
			f := od.Fields().Get(i)
			if f.Kind() != protoreflect.MessageKind {
				continue
			}
			containedFields[f.Message().FullName()] = f
			containedByName[string(f.Message().Name())] = f
		}
	})
}

// Unwrap returns the resource a ContainedResource holds, or m itself when m is
// already a resource. It returns ErrNotResource for anything else, and for an
// empty ContainedResource.
func Unwrap(m proto.Message) (proto.Message, error) {
	if m == nil {
		return nil, ErrNotResource
	}
	if cr, ok := m.(*bcrpb.ContainedResource); ok {
		rm := cr.ProtoReflect()
		od := rm.Descriptor().Oneofs().ByName("oneof_resource")
		f := rm.WhichOneof(od)
		if f == nil {
			return nil, ErrNotResource
		}
		return rm.Get(f).Message().Interface(), nil
	}
	containedIndex()
	if _, ok := containedFields[m.ProtoReflect().Descriptor().FullName()]; !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotResource, m.ProtoReflect().Descriptor().FullName())
	}
	return m, nil
}

// Wrap puts a resource into a ContainedResource (which is what Bundle entries
// and jsonformat's Marshal take). A ContainedResource is returned as is.
func Wrap(m proto.Message) (*bcrpb.ContainedResource, error) {
	if cr, ok := m.(*bcrpb.ContainedResource); ok {
		return cr, nil
	}
	if m == nil {
		return nil, ErrNotResource
	}
	containedIndex()
	f, ok := containedFields[m.ProtoReflect().Descriptor().FullName()]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotResource, m.ProtoReflect().Descriptor().FullName())
	}
	cr := &bcrpb.ContainedResource{}
	cr.ProtoReflect().Set(f, protoreflect.ValueOfMessage(m.ProtoReflect()))
	return cr, nil
}

// New returns an empty resource message of the named R4 type ("Patient"), or
// ErrNotResource when there is no such type.
func New(resourceType string) (proto.Message, error) {
	containedIndex()
	f, ok := containedByName[resourceType]
	if !ok {
		return nil, fmt.Errorf("%w: unknown type %q", ErrNotResource, resourceType)
	}
	cr := &bcrpb.ContainedResource{}
	return cr.ProtoReflect().NewField(f).Message().Interface(), nil
}

// Type returns the FHIR resource type of m ("Patient"), unwrapping a
// ContainedResource. It returns "" when m is not a resource.
func Type(m proto.Message) string {
	r, err := Unwrap(m)
	if err != nil {
		return ""
	}
	return string(r.ProtoReflect().Descriptor().Name())
}

// ID returns the logical id of m ("" when it has none or is not a resource).
func ID(m proto.Message) string {
	r, err := Unwrap(m)
	if err != nil {
		return ""
	}
	return stringField(r.ProtoReflect(), "id")
}

// Key returns "Type/id", the identity a sink serializes writes on. It returns
// ErrNotResource for a non-resource and an error when the id is empty.
func Key(m proto.Message) (string, error) {
	r, err := Unwrap(m)
	if err != nil {
		return "", err
	}
	t := string(r.ProtoReflect().Descriptor().Name())
	id := stringField(r.ProtoReflect(), "id")
	if id == "" {
		return "", fmt.Errorf("resource: %s has no id", t)
	}
	return t + "/" + id, nil
}

// SetID sets the logical id of a resource (unwrapping a ContainedResource).
func SetID(m proto.Message, id string) error {
	r, err := Unwrap(m)
	if err != nil {
		return err
	}
	return setStringField(r.ProtoReflect(), "id", id)
}

// VersionID returns meta.versionId, or "" when absent.
func VersionID(m proto.Message) string {
	r, err := Unwrap(m)
	if err != nil {
		return ""
	}
	rm := r.ProtoReflect()
	mf := rm.Descriptor().Fields().ByName("meta")
	if mf == nil || !rm.Has(mf) {
		return ""
	}
	return stringField(rm.Get(mf).Message(), "version_id")
}

// Identifiers returns the business identifiers of a resource (its top-level
// identifier element, single or repeated), in order. Empty systems or values
// are kept as empty strings.
func Identifiers(m proto.Message) []Identifier {
	r, err := Unwrap(m)
	if err != nil {
		return nil
	}
	rm := r.ProtoReflect()
	f := rm.Descriptor().Fields().ByName("identifier")
	if f == nil || f.Kind() != protoreflect.MessageKind {
		return nil
	}
	read := func(im protoreflect.Message) Identifier {
		return Identifier{System: stringField(im, "system"), Value: stringField(im, "value")}
	}
	if f.IsList() {
		l := rm.Get(f).List()
		out := make([]Identifier, 0, l.Len())
		for i := 0; i < l.Len(); i++ {
			out = append(out, read(l.Get(i).Message()))
		}
		return out
	}
	if !rm.Has(f) {
		return nil
	}
	return []Identifier{read(rm.Get(f).Message())}
}

// stringField reads field name of m when it is a FHIR primitive message with a
// string "value" (id, uri, string, ...).
func stringField(m protoreflect.Message, name protoreflect.Name) string {
	f := m.Descriptor().Fields().ByName(name)
	if f == nil || f.Kind() != protoreflect.MessageKind || f.IsList() || !m.Has(f) {
		return ""
	}
	pm := m.Get(f).Message()
	vf := pm.Descriptor().Fields().ByName("value")
	if vf == nil || vf.Kind() != protoreflect.StringKind {
		return ""
	}
	return pm.Get(vf).String()
}

func setStringField(m protoreflect.Message, name protoreflect.Name, v string) error {
	f := m.Descriptor().Fields().ByName(name)
	if f == nil || f.Kind() != protoreflect.MessageKind || f.IsList() {
		return fmt.Errorf("resource: %s has no field %s", m.Descriptor().Name(), name)
	}
	pm := m.NewField(f).Message()
	vf := pm.Descriptor().Fields().ByName("value")
	if vf == nil || vf.Kind() != protoreflect.StringKind {
		return fmt.Errorf("resource: field %s is not a string primitive", name)
	}
	pm.Set(vf, protoreflect.ValueOfString(v))
	m.Set(f, protoreflect.ValueOfMessage(pm))
	return nil
}

var (
	codecOnce   sync.Once
	marshaller  *jsonformat.Marshaller
	pretty      *jsonformat.Marshaller
	unmarshal   *jsonformat.Unmarshaller
	errCodecSet error
)

func codecs() error {
	codecOnce.Do(func() {
		var err error
		if marshaller, err = jsonformat.NewMarshaller(false, "", "", fhirversion.R4); err != nil {
			errCodecSet = err
			return
		}
		if pretty, err = jsonformat.NewPrettyMarshaller(fhirversion.R4); err != nil {
			errCodecSet = err
			return
		}
		if unmarshal, err = jsonformat.NewUnmarshaller("UTC", fhirversion.R4); err != nil {
			errCodecSet = err
		}
	})
	return errCodecSet
}

// Marshal returns the compact FHIR JSON of a resource (or ContainedResource).
// It does not modify m (google/fhir's marshaller rewrites typed reference ids
// in place, so it is given a copy), and is safe to call concurrently on one
// message.
func Marshal(m proto.Message) ([]byte, error) {
	if err := codecs(); err != nil {
		return nil, err
	}
	cr, err := wrapClone(m)
	if err != nil {
		return nil, err
	}
	b, err := marshaller.Marshal(cr)
	if err != nil {
		return nil, fmt.Errorf("resource: marshal %s: %w", Type(cr), sanitize(err))
	}
	return b, nil
}

// MarshalIndent returns the FHIR JSON of a resource, indented by two spaces.
// Like Marshal, it does not modify m.
func MarshalIndent(m proto.Message) ([]byte, error) {
	if err := codecs(); err != nil {
		return nil, err
	}
	cr, err := wrapClone(m)
	if err != nil {
		return nil, err
	}
	b, err := pretty.Marshal(cr)
	if err != nil {
		return nil, fmt.Errorf("resource: marshal %s: %w", Type(cr), sanitize(err))
	}
	return b, nil
}

// wrapClone wraps a deep copy of m, for google/fhir's marshaller, which
// mutates what it is given.
func wrapClone(m proto.Message) (*bcrpb.ContainedResource, error) {
	r, err := Unwrap(m)
	if err != nil {
		return nil, err
	}
	return Wrap(proto.Clone(r))
}

// Unmarshal reads FHIR R4 JSON into the concrete resource message (for
// example *patient_go_proto.Patient). Errors wrap ErrInvalidJSON and carry the
// JSON path of the problem, never the offending value.
func Unmarshal(b []byte) (proto.Message, error) {
	if err := codecs(); err != nil {
		return nil, err
	}
	m, err := unmarshal.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidJSON, sanitize(err))
	}
	return Unwrap(m)
}

// sanitize reduces a google/fhir error to text that cannot carry input values:
// the error's JSON path(s) when it has them, else a generic word.
func sanitize(err error) error {
	var paths []string
	collectPaths(err, &paths)
	if len(paths) == 0 {
		return errors.New("invalid content")
	}
	return errors.New("invalid content at " + strings.Join(paths, ", "))
}

// collectPaths walks google/fhir's unmarshal errors (an internal type, read
// by reflection) and keeps their Path and Details, which that library documents
// as PHI-free; Diagnostics, which may hold PHI, is dropped.
func collectPaths(err error, out *[]string) {
	if err == nil || len(*out) >= 8 {
		return
	}
	v := reflect.ValueOf(err)
	switch v.Kind() {
	case reflect.Slice:
		for i := 0; i < v.Len() && len(*out) < 8; i++ {
			if e, ok := v.Index(i).Interface().(error); ok {
				collectPaths(e, out)
			}
		}
		return
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		s := v.Elem()
		if s.Kind() == reflect.Struct {
			p, d := s.FieldByName("Path"), s.FieldByName("Details")
			if p.IsValid() && p.Kind() == reflect.String && d.IsValid() && d.Kind() == reflect.String {
				*out = append(*out, safePath(p.String())+": "+d.String())
				return
			}
		}
	}
	if u := errors.Unwrap(err); u != nil {
		collectPaths(u, out)
	}
}

// safePath keeps the part of a JSON path that names real R4 elements and
// replaces the rest with "<unknown>", so a path can never echo an input key or
// an unknown resource type (which could be anything, PHI included).
func safePath(p string) string {
	containedIndex()
	segs := strings.Split(p, ".")
	f, ok := containedByName[segs[0]]
	if !ok {
		return "<unknown>"
	}
	md := f.Message()
	out := []string{segs[0]}
	for _, seg := range segs[1:] {
		name, idx, _ := strings.Cut(seg, "[")
		var fd protoreflect.FieldDescriptor
		if md != nil {
			fd = md.Fields().ByJSONName(name)
			if fd == nil {
				fd = md.Fields().ByJSONName(strings.TrimPrefix(name, "_"))
			}
		}
		if fd == nil {
			out = append(out, "<unknown>")
			break
		}
		if idx != "" && strings.Trim(strings.TrimSuffix(idx, "]"), "0123456789") == "" {
			name += "[" + idx
		}
		out = append(out, name)
		md = nil
		if fd.Kind() == protoreflect.MessageKind {
			md = fd.Message()
		}
	}
	return strings.Join(out, ".")
}
