package check

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// A rule checks one constraint of a profile on a resource (or, inside a
// slice, on each slice member) and reports findings through the run.
type rule interface {
	eval(r *run, at node, id string)
}

// ruleID joins a rule id prefix and a suffix.
func ruleID(prefix, path, kind string) string {
	s := prefix
	if path != "" {
		s += "." + path
	}
	if kind != "" {
		s += "." + kind
	}
	return s
}

// split separates a dotted path into its parent path and last element.
func split(path string) (parent, last string) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return "", path
	}
	return path[:i], path[i+1:]
}

// card is a cardinality constraint: for every instance of the parent of
// path, the number of instances of its last element is within [min, max]
// (max < 0 means unbounded).
type card struct {
	path     string
	min, max int
	sev      Severity
}

func (c card) eval(r *run, at node, id string) {
	parent, last := split(c.path)
	for _, p := range at.sel(parent) {
		n := len(p.child(last))
		if n < c.min {
			msg := "required element missing"
			if n > 0 {
				msg = fmt.Sprintf("%d present, at least %d required", n, c.min)
			}
			r.report(c.sev, ruleID(id, c.path, "min"), p.missingPath(last), msg)
		}
		if c.max >= 0 && n > c.max {
			msg := fmt.Sprintf("%d present, at most %d allowed", n, c.max)
			if c.max == 0 {
				msg = "element is not allowed by the profile"
			}
			r.report(c.sev, ruleID(id, c.path, "max"), p.missingPath(last), msg)
		}
	}
}

// required (1..1), atLeast1 (1..*) and forbidden (0..0) are shorthands for
// common cardinalities.
func required(path string) card  { return card{path: path, min: 1, max: 1} }
func atLeast1(path string) card  { return card{path: path, min: 1, max: -1} }
func forbidden(path string) card { return card{path: path, min: 0, max: 0} }

// fixedCode requires every instance at path (a code primitive) to be code.
type fixedCode struct {
	path, code string
}

func (f fixedCode) eval(r *run, at node, id string) {
	for _, n := range at.sel(f.path) {
		if got := code(n.m); got != f.code {
			r.report(Error, ruleID(id, f.path, "fixed"), n.path(), fmt.Sprintf("code is not the fixed value %q", f.code))
		}
	}
}

// fixedBool requires every instance at path (a boolean) to be v.
type fixedBool struct {
	path string
	v    bool
}

func (f fixedBool) eval(r *run, at node, id string) {
	for _, n := range at.sel(f.path) {
		if got, ok := boolean(n.m); !ok || got != f.v {
			r.report(Error, ruleID(id, f.path, "fixed"), n.path(), fmt.Sprintf("fixed value is %t", f.v))
		}
	}
}

// fixedString requires every instance at path (a string-valued primitive such
// as Quantity.unit or Quantity.system) to equal v. The value found is never
// reported: only the expected constant.
type fixedString struct {
	path, v string
}

func (f fixedString) eval(r *run, at node, id string) {
	for _, n := range at.sel(f.path) {
		if str(n.m) != f.v {
			r.report(Error, ruleID(id, f.path, "fixed"), n.path(), fmt.Sprintf("fixed value is %q", f.v))
		}
	}
}

// pattern requires every instance at path (CodeableConcept or Coding) to
// carry the coding system#code (FHIR pattern semantics: other codings may
// be present too).
type pattern struct {
	path, system, code string
}

func (p pattern) eval(r *run, at node, id string) {
	for _, n := range at.sel(p.path) {
		if !hasCoding(n.m, p.system, p.code) {
			r.report(Error, ruleID(id, p.path, "pattern"), n.path(), fmt.Sprintf("lacks coding %s#%s%s", p.system, p.code, found(codings(n.m))))
		}
	}
}

// found formats the codings of an element for a message: codes and systems
// are the only element content findings may show.
func found(cs []coding) string {
	if len(cs) == 0 {
		return " (no coding)"
	}
	// Systems only: a code found in a resource (a diagnosis, a procedure) is
	// health information about the member the resource belongs to.
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.system == "" {
			parts = append(parts, "(no system)")
			continue
		}
		parts = append(parts, c.system)
	}
	return " (found codings of " + strings.Join(parts, ", ") + ")"
}

// valueSet is a required value set, known by its systems and codes. A system
// mapped to a nil code set admits any code of that system (licensed or large
// code systems); format, when set for such a system, is the syntax a code of
// that system has, checked with warning severity.
type valueSet struct {
	name    string
	systems map[string]map[string]bool
	format  map[string]*regexp.Regexp
}

// vs builds a value set from "system#code" and "system#*" entries.
func vs(name string, entries ...string) *valueSet {
	v := &valueSet{name: name, systems: map[string]map[string]bool{}}
	for _, e := range entries {
		sys, c, ok := strings.Cut(e, "#")
		if !ok {
			panic("check: value set entry without #: " + e)
		}
		if c == "*" {
			v.systems[sys] = nil
			continue
		}
		if _, any := v.systems[sys]; any && v.systems[sys] == nil {
			continue
		}
		if v.systems[sys] == nil {
			v.systems[sys] = map[string]bool{}
		}
		v.systems[sys][c] = true
	}
	return v
}

// withFormat adds a code syntax for a whole-system member of v.
func (v *valueSet) withFormat(system, re string) *valueSet {
	if v.format == nil {
		v.format = map[string]*regexp.Regexp{}
	}
	v.format[system] = regexp.MustCompile(re)
	return v
}

func (v *valueSet) contains(c coding) bool {
	codes, ok := v.systems[c.system]
	if !ok || c.code == "" {
		return false
	}
	return codes == nil || codes[c.code]
}

// containsCode reports whether code c, given without a system (a code
// primitive such as an extension's valueCode), is in v.
func (v *valueSet) containsCode(c string) bool {
	for _, codes := range v.systems {
		if codes == nil || codes[c] {
			return true
		}
	}
	return false
}

// systemList lists v's systems, sorted, for messages.
func (v *valueSet) systemList() string {
	s := make([]string, 0, len(v.systems))
	for sys := range v.systems {
		s = append(s, sys)
	}
	sort.Strings(s)
	return strings.Join(s, " | ")
}

// binding is a required binding: every instance at path must carry at least
// one coding from the value set (for a code primitive, a code of it). A code
// of a whole-system member whose syntax is known but does not match gets a
// warning (rule kind "format").
type binding struct {
	path string
	vs   *valueSet
}

func (b binding) eval(r *run, at node, id string) {
	for _, n := range at.sel(b.path) {
		if !coded(n.m) {
			continue // another type of a choice element: the choice rule reports it
		}
		cs := codings(n.m)
		ok := false
		for _, c := range cs {
			if c.system == "" && n.m.Descriptor().Name() != "Coding" && n.m.Descriptor().Name() != "CodeableConcept" {
				if b.vs.containsCode(c.code) {
					ok = true
				}
				continue
			}
			if b.vs.contains(c) {
				ok = true
				if re := b.vs.format[c.system]; re != nil && !re.MatchString(c.code) {
					r.report(Warning, ruleID(id, b.path, "format"), n.path(), fmt.Sprintf("code does not have the syntax of %s codes", c.system))
				}
			}
		}
		if !ok {
			r.report(Error, ruleID(id, b.path, "binding"), n.path(), fmt.Sprintf("no coding from required value set %s [%s]%s", b.vs.name, b.vs.systemList(), found(cs)))
		}
	}
}

// target restricts a Reference to resource types and, when the referenced
// resource is available (in a Bundle or a list passed to All), to resources
// declaring one of the profiles (any version).
type target struct {
	path     string
	types    []string
	profiles []string // canonical URLs without version; empty = no profile requirement
}

func (t target) eval(r *run, at node, id string) {
	for _, n := range at.sel(t.path) {
		rf := reference(n.m)
		if rf.typ != "" && !contains(t.types, rf.typ) {
			r.report(Error, ruleID(id, t.path, "target"), n.path(), fmt.Sprintf("refers to %s, allowed: %s", article(rf.typ), strings.Join(t.types, " | ")))
			continue
		}
		if len(t.profiles) == 0 || r.resolve == nil || rf.key == "" {
			continue
		}
		res, ok := r.resolve(rf.key)
		if !ok {
			continue
		}
		if rf.typ == "" && !contains(t.types, res.typ) {
			r.report(Error, ruleID(id, t.path, "target"), n.path(), fmt.Sprintf("refers to %s, allowed: %s", article(res.typ), strings.Join(t.types, " | ")))
			continue
		}
		matched := false
		for _, p := range res.profiles {
			if contains(t.profiles, p) {
				matched = true
				break
			}
		}
		if !matched {
			r.report(Error, ruleID(id, t.path, "targetProfile"), n.path(), fmt.Sprintf("referenced %s does not declare %s", res.typ, strings.Join(t.profiles, " or ")))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// choice restricts a choice element ("value[x]") to some types.
type choice struct {
	path  string // ends in [x]
	types []string
}

func (c choice) eval(r *run, at node, id string) {
	for _, n := range at.sel(c.path) {
		if !contains(c.types, n.typ) {
			r.report(Error, ruleID(id, c.path, "type"), n.path(), fmt.Sprintf("type %s, allowed: %s", n.typ, strings.Join(c.types, " | ")))
		}
	}
}

// matcher decides whether an element instance belongs to a slice.
type matcher func(n node) bool

// codingAt matches instances whose element at path carries system#code.
func codingAt(path, system, code string) matcher {
	return func(n node) bool {
		for _, c := range n.sel(path) {
			if hasCoding(c.m, system, code) {
				return true
			}
		}
		return false
	}
}

// inValueSet matches instances whose element at path has a coding in v.
func inValueSet(path string, v *valueSet) matcher {
	return func(n node) bool {
		for _, c := range n.sel(path) {
			for _, cd := range codings(c.m) {
				if v.contains(cd) {
					return true
				}
			}
		}
		return false
	}
}

// stringAt matches instances whose string primitive at path equals v.
func stringAt(path, v string) matcher {
	return func(n node) bool {
		for _, c := range n.sel(path) {
			if str(c.m) == v {
				return true
			}
		}
		return false
	}
}

// slice is a named slice of a repeating element: for every instance of the
// parent of path, the members matching are counted against [min, max] and
// each member must satisfy rules (paths relative to the member).
type slice struct {
	path     string // the sliced element, e.g. "item.adjudication"
	name     string
	match    matcher
	min, max int
	sev      Severity
	what     string // how members are recognised, for messages
	rules    []rule
}

func (s slice) eval(r *run, at node, id string) {
	sid := ruleID(id, s.path+":"+s.name, "")
	parent, last := split(s.path)
	for _, p := range at.sel(parent) {
		var members []node
		for _, m := range p.child(last) {
			if s.match(m) {
				members = append(members, m)
			}
		}
		if len(members) < s.min {
			r.report(s.sev, sid+".min", p.missingPath(last), fmt.Sprintf("slice %s (%s): %d present, at least %d required", s.name, s.what, len(members), s.min))
		}
		if s.max >= 0 && len(members) > s.max {
			r.report(s.sev, sid+".max", p.missingPath(last), fmt.Sprintf("slice %s (%s): %d present, at most %d allowed", s.name, s.what, len(members), s.max))
		}
		for _, m := range members {
			for _, sub := range s.rules {
				sub.eval(r, m, sid)
			}
		}
	}
}

// each applies rules to every instance at path (paths relative to it): a
// way to scope rules such as invariants declared on a repeating element.
type each struct {
	path  string
	rules []rule
}

func (e each) eval(r *run, at node, id string) {
	for _, n := range at.sel(e.path) {
		for _, sub := range e.rules {
			sub.eval(r, n, id)
		}
	}
}

// invariant is a constraint written in Go: fn reports findings under key
// (the implementation guide's invariant key) with sev.
type invariant struct {
	key string
	sev Severity
	fn  func(r *run, at node, key string, sev Severity)
}

func (i invariant) eval(r *run, at node, _ string) { i.fn(r, at, i.key, i.sev) }

// seqs returns the positiveInt values at path under n.
func seqs(n node, path string) []uint64 {
	var out []uint64
	for _, c := range n.sel(path) {
		if v, ok := uintValue(c.m); ok {
			out = append(out, v)
		}
	}
	return out
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// coded reports whether m can carry a code: a Coding, a CodeableConcept, a
// code primitive or an enum-coded element.
func coded(m protoreflect.Message) bool {
	switch m.Descriptor().Name() {
	case "Coding", "CodeableConcept", "Code":
		return true
	}
	f := m.Descriptor().Fields().ByName("value")
	return f != nil && f.Kind() == protoreflect.EnumKind
}
