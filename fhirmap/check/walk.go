package check

import (
	"strconv"
	"strings"
	"unicode"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// node is one element instance of a resource: a protobuf message and where
// it sits. Its FHIR path with 0-based indexes
// ("ExplanationOfBenefit.item[0].adjudication[2]") is built only when a
// finding needs it. For a choice element ("serviced[x]") the node is the
// chosen value and typ its FHIR type ("date", "CodeableConcept").
type node struct {
	m    protoreflect.Message
	up   *seg   // the parent's location; nil at the root
	name string // element name (the resource type at the root; with the type suffix for a choice)
	idx  int    // index in a repeating element, -1 when singular
	typ  string
}

// seg is a node's location, shared by its children.
type seg struct {
	up   *seg
	name string
	idx  int
}

func rootNode(m protoreflect.Message, resourceType string) node {
	return node{m: m, name: resourceType, idx: -1}
}

// path returns the node's FHIR path.
func (n node) path() string { return (&seg{up: n.up, name: n.name, idx: n.idx}).String() }

func (s *seg) String() string {
	var parts []*seg
	for c := s; c != nil; c = c.up {
		parts = append(parts, c)
	}
	b := make([]byte, 0, 64)
	for i := len(parts) - 1; i >= 0; i-- {
		if i != len(parts)-1 {
			b = append(b, '.')
		}
		b = append(b, parts[i].name...)
		if parts[i].idx >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(parts[i].idx), 10)
			b = append(b, ']')
		}
	}
	return string(b)
}

// primitiveTypes are the google/fhir messages that model FHIR primitives.
var primitiveTypes = map[protoreflect.Name]bool{
	"Base64Binary": true, "Boolean": true, "Canonical": true, "Code": true, "Date": true,
	"DateTime": true, "Decimal": true, "Id": true, "Instant": true, "Integer": true,
	"Markdown": true, "Oid": true, "PositiveInt": true, "String": true, "Time": true,
	"UnsignedInt": true, "Uri": true, "Url": true, "Uuid": true, "Xhtml": true,
}

// fhirType returns the FHIR type name of a google/fhir datatype message.
func fhirType(md protoreflect.MessageDescriptor) string {
	n := md.Name()
	if primitiveTypes[n] {
		s := string(n)
		return strings.ToLower(s[:1]) + s[1:]
	}
	return string(n)
}

// child returns the instances of element name under n. name is the FHIR
// element name; a choice element is written "value[x]" and yields the chosen
// value. Unknown names yield nothing.
func (n node) child(name string) []node {
	jname, choice := strings.CutSuffix(name, "[x]")
	fd := n.m.Descriptor().Fields().ByJSONName(jname)
	if fd == nil || fd.Kind() != protoreflect.MessageKind {
		return nil
	}
	if fd.IsList() {
		l := n.m.Get(fd).List()
		if l.Len() == 0 {
			return nil
		}
		up := &seg{up: n.up, name: n.name, idx: n.idx}
		out := make([]node, 0, l.Len())
		for i := 0; i < l.Len(); i++ {
			out = append(out, node{m: l.Get(i).Message(), up: up, name: jname, idx: i})
		}
		return out
	}
	if !n.m.Has(fd) {
		return nil
	}
	m := n.m.Get(fd).Message()
	up := &seg{up: n.up, name: n.name, idx: n.idx}
	if choice {
		od := m.Descriptor().Oneofs().ByName("choice")
		if od == nil {
			return nil
		}
		cf := m.WhichOneof(od)
		if cf == nil || cf.Kind() != protoreflect.MessageKind {
			return nil
		}
		typ := fhirType(cf.Message())
		return []node{{m: m.Get(cf).Message(), up: up, name: jname + upperFirst(typ), idx: -1, typ: typ}}
	}
	return []node{{m: m, up: up, name: jname, idx: -1}}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// sel returns the instances at a dotted path below n ("billablePeriod.start",
// "item.adjudication"). An empty path is n itself.
func (n node) sel(path string) []node {
	if path == "" {
		return []node{n}
	}
	cur := []node{n}
	for path != "" {
		name := path
		if i := strings.IndexByte(path, '.'); i >= 0 {
			name, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		var next []node
		for _, c := range cur {
			next = append(next, c.child(name)...)
		}
		if len(next) == 0 {
			return nil
		}
		cur = next
	}
	return cur
}

// missingPath is the path to report for an absent element name under n.
func (n node) missingPath(name string) string { return n.path() + "." + name }

// primitive value readers -------------------------------------------------

// str returns the string value of a primitive message (String, Uri, Code,
// Id...), or "".
func str(m protoreflect.Message) string {
	if m == nil {
		return ""
	}
	f := m.Descriptor().Fields().ByName("value")
	if f == nil || f.Kind() != protoreflect.StringKind {
		return ""
	}
	return m.Get(f).String()
}

// code returns the FHIR code of a code primitive: a Code message's string, or
// an enum-coded message's code (honouring google/fhir's original-code
// annotation).
func code(m protoreflect.Message) string {
	if m == nil {
		return ""
	}
	f := m.Descriptor().Fields().ByName("value")
	if f == nil {
		return ""
	}
	switch f.Kind() {
	case protoreflect.StringKind:
		return m.Get(f).String()
	case protoreflect.EnumKind:
		num := m.Get(f).Enum()
		if num == 0 {
			return ""
		}
		ev := f.Enum().Values().ByNumber(num)
		if ev == nil {
			return ""
		}
		if orig, ok := proto.GetExtension(ev.Options(), apb.E_FhirOriginalCode).(string); ok && orig != "" {
			return orig
		}
		return strings.ReplaceAll(strings.ToLower(string(ev.Name())), "_", "-")
	}
	return ""
}

// boolean returns a Boolean message's value and whether it has one.
func boolean(m protoreflect.Message) (v, ok bool) {
	if m == nil {
		return false, false
	}
	f := m.Descriptor().Fields().ByName("value")
	if f == nil || f.Kind() != protoreflect.BoolKind {
		return false, false
	}
	return m.Get(f).Bool(), true
}

// uintValue returns the value of a PositiveInt/UnsignedInt message.
func uintValue(m protoreflect.Message) (uint64, bool) {
	f := m.Descriptor().Fields().ByName("value")
	if f == nil {
		return 0, false
	}
	switch f.Kind() {
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return m.Get(f).Uint(), true
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
		protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		v := m.Get(f).Int()
		if v < 0 {
			return 0, false
		}
		return uint64(v), true
	}
	return 0, false
}

// field returns the single message-valued field name of m, or nil.
func field(m protoreflect.Message, name protoreflect.Name) protoreflect.Message {
	if m == nil {
		return nil
	}
	fd := m.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.MessageKind || fd.IsList() || !m.Has(fd) {
		return nil
	}
	return m.Get(fd).Message()
}

// coding is a (system, code) pair read from a Coding.
type coding struct{ system, code string }

func (c coding) String() string { return c.system + "#" + c.code }

// codings returns the codings of n: the coding list of a CodeableConcept, the
// Coding itself, or, for a code primitive, a coding without a system.
func codings(m protoreflect.Message) []coding {
	if m == nil {
		return nil
	}
	md := m.Descriptor()
	switch md.Name() {
	case "Coding":
		return []coding{{system: str(field(m, "system")), code: code(field(m, "code"))}}
	case "CodeableConcept":
		fd := md.Fields().ByName("coding")
		l := m.Get(fd).List()
		out := make([]coding, 0, l.Len())
		for i := 0; i < l.Len(); i++ {
			cm := l.Get(i).Message()
			out = append(out, coding{system: str(field(cm, "system")), code: code(field(cm, "code"))})
		}
		return out
	}
	if c := code(m); c != "" {
		return []coding{{code: c}}
	}
	return nil
}

// hasCoding reports whether m (CodeableConcept or Coding) carries system#code.
func hasCoding(m protoreflect.Message, system, c string) bool {
	for _, cd := range codings(m) {
		if cd.system == system && cd.code == c {
			return true
		}
	}
	return false
}

// ref is what a Reference points to.
type ref struct {
	typ string // resource type, "" when unknown
	key string // "Type/id" for relative references, the URL or URN otherwise; "" for logical references
}

// reference reads a Reference message (google/fhir normalizes "Type/id" into
// typed id fields; absolute URLs and URNs stay in the uri field).
func reference(m protoreflect.Message) ref {
	if m == nil {
		return ref{}
	}
	var r ref
	if od := m.Descriptor().Oneofs().ByName("reference"); od != nil {
		if f := m.WhichOneof(od); f != nil && f.Kind() == protoreflect.MessageKind {
			v := m.Get(f).Message()
			switch f.Name() {
			case "uri":
				r = parseRefURI(str(v))
			case "fragment":
				r = ref{key: "#" + str(v)}
			default:
				name := string(f.Name())
				if strings.HasSuffix(name, "_id") && name != "resource_id" {
					t := snakeToType(strings.TrimSuffix(name, "_id"))
					r = ref{typ: t, key: t + "/" + str(v)}
				} else {
					r = ref{key: str(v)}
				}
			}
		}
	}
	if r.typ == "" {
		if t := str(field(m, "type")); t != "" {
			// Reference.type is a URI; for FHIR types it is the bare type name
			// or http://hl7.org/fhir/StructureDefinition/<Type>.
			r.typ = t[strings.LastIndexByte(t, '/')+1:]
		}
	}
	return r
}

// parseRefURI splits a literal reference: "Patient/123",
// "https://server/fhir/Patient/123/_history/2", "urn:uuid:...".
func parseRefURI(s string) ref {
	if strings.HasPrefix(s, "urn:") || s == "" {
		return ref{key: s}
	}
	parts := strings.Split(s, "/")
	if n := len(parts); n >= 4 && parts[n-2] == "_history" {
		parts = parts[:n-2]
	}
	if n := len(parts); n >= 2 && isTypeName(parts[n-2]) {
		t := parts[n-2]
		if n == 2 {
			return ref{typ: t, key: t + "/" + parts[1]}
		}
		return ref{typ: t, key: s}
	}
	return ref{key: s}
}

func isTypeName(s string) bool {
	if s == "" || !unicode.IsUpper(rune(s[0])) {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

// snakeToType turns a google/fhir reference field stem ("practitioner_role")
// into the FHIR resource type ("PractitionerRole").
func snakeToType(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up {
			b.WriteRune(unicode.ToUpper(r))
			up = false
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}
