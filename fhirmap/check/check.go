package check

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fhirsync/fhirsync/resource"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Severity is how serious a finding is, as a FHIR validator would rate it.
type Severity int

const (
	// Error is a violation a validator reports as an error: the resource
	// does not conform to the profile.
	Error Severity = iota + 1
	// Warning is a problem a validator reports as a warning (the C4BB
	// version invariants) or a likely mistake fhirsync flags on its own
	// (a code whose syntax does not fit its code system).
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

// Finding is one way a resource fails a profile it declares.
//
// A Finding never holds element values other than codes and code system
// URIs: no names, identifiers, dates, amounts or free text. ResourceID is the
// resource's logical id, which fhirsync makes PHI-free (fhirmap.IDs); check
// resources from elsewhere with that in mind.
type Finding struct {
	ResourceType string   // "ExplanationOfBenefit"
	ResourceID   string   // logical id
	Profile      string   // the canonical as declared in meta.profile
	Path         string   // FHIR path with 0-based indexes: "ExplanationOfBenefit.item[0].adjudication"
	Rule         string   // rule id: "<Type>.<path>.<kind>" or an invariant key such as "EOB-insurance-focal"
	Severity     Severity // Error or Warning
	Message      string   // what is wrong, PHI-free
}

// String formats the finding on one line:
// "error ExplanationOfBenefit/eob-1 ExplanationOfBenefit.total: ExplanationOfBenefit.total.min: required element missing [<profile>]".
func (f Finding) String() string {
	return fmt.Sprintf("%s %s/%s %s: %s: %s [%s]", f.Severity, f.ResourceType, f.ResourceID, f.Path, f.Rule, f.Message, f.Profile)
}

// Resource checks a resource (or a ContainedResource holding one) against
// every profile it declares in meta.profile that this package knows (see
// [Profiles]); other profiles are ignored. References are checked for their
// target type only; use [All] or [Bundle] to also check that referenced
// resources declare the profiles the references require.
func Resource(m proto.Message) []Finding {
	return checkAll([]entry{{m: m}}, false)
}

// All checks each resource like [Resource], and resolves references between
// them ("Type/id") to check the referenced resources' declared profiles.
func All(resources []proto.Message) []Finding {
	es := make([]entry, len(resources))
	for i, m := range resources {
		es[i] = entry{m: m}
	}
	return checkAll(es, true)
}

// Bundle checks every entry resource of b like [All], resolving references
// by "Type/id" and by entry fullUrl (urn:uuid references in transaction
// bundles).
func Bundle(b *bcrpb.Bundle) []Finding {
	if b == nil {
		return nil
	}
	es := make([]entry, 0, len(b.GetEntry()))
	for _, e := range b.GetEntry() {
		if e.GetResource() == nil {
			continue
		}
		es = append(es, entry{m: e.GetResource(), fullURL: e.GetFullUrl().GetValue()})
	}
	return checkAll(es, true)
}

// entry is a resource to check and the URL other resources may use for it.
type entry struct {
	m       proto.Message
	fullURL string
}

// resolved is what a reference resolves to.
type resolved struct {
	typ      string
	profiles []string // canonical URLs, versions stripped
}

func checkAll(entries []entry, resolveRefs bool) []Finding {
	type item struct {
		m     protoreflect.Message
		typ   string
		id    string
		profs []string
	}
	items := make([]item, 0, len(entries))
	index := map[string]resolved{}
	for _, e := range entries {
		r, err := resource.Unwrap(e.m)
		if err != nil {
			continue
		}
		it := item{m: r.ProtoReflect(), typ: resource.Type(r), id: resource.ID(r)}
		it.profs = declaredProfiles(it.m)
		items = append(items, it)
		res := resolved{typ: it.typ}
		for _, p := range it.profs {
			url, _, _ := strings.Cut(p, "|")
			res.profiles = append(res.profiles, url)
		}
		if it.id != "" {
			index[it.typ+"/"+it.id] = res
		}
		if e.fullURL != "" {
			index[e.fullURL] = res
		}
	}
	var resolve func(string) (resolved, bool)
	if resolveRefs {
		resolve = func(key string) (resolved, bool) {
			if r, ok := index[key]; ok {
				return r, true
			}
			// An absolute URL ending in Type/id resolves like Type/id.
			if i := strings.LastIndexByte(key, '/'); i > 0 {
				if j := strings.LastIndexByte(key[:i], '/'); j >= 0 {
					if r, ok := index[key[j+1:]]; ok {
						return r, true
					}
				}
			}
			return resolved{}, false
		}
	}
	var out []Finding
	for _, it := range items {
		r := &run{rtype: it.typ, id: it.id, resolve: resolve, seen: map[string]bool{}, out: &out}
		root := rootNode(it.m, it.typ)
		for _, declared := range it.profs {
			r.profile = declared
			p, warn := lookup(declared)
			if warn != "" {
				r.report(Warning, "profile.version", it.typ+".meta.profile", warn)
			}
			if p == nil {
				continue
			}
			if p.rtype != it.typ {
				r.report(Error, "profile.type", it.typ+".meta.profile", fmt.Sprintf("profile is for %s resources", p.rtype))
				continue
			}
			if p.abstract {
				r.report(Error, "profile.abstract", it.typ+".meta.profile", "abstract profile: declare one of its concrete profiles")
				continue
			}
			for _, ru := range p.rules {
				ru.eval(r, root, it.typ)
			}
		}
	}
	sortFindings(out)
	return out
}

// declaredProfiles returns meta.profile of a resource.
func declaredProfiles(m protoreflect.Message) []string {
	var out []string
	for _, n := range (node{m: m}).sel("meta.profile") {
		out = append(out, str(n.m))
	}
	return out
}

// run carries the state of checking one resource against one profile.
type run struct {
	rtype, id, profile string
	resolve            func(key string) (resolved, bool)
	seen               map[string]bool // rule+path already reported for this resource
	out                *[]Finding
}

// report records a finding once per (rule, path) and resource, whichever
// declared profile (a C4BB profile and its US Core parent) finds it first.
func (r *run) report(sev Severity, rule, path, msg string) {
	if sev == 0 {
		sev = Error
	}
	k := rule + "\x00" + path
	if r.seen[k] {
		return
	}
	r.seen[k] = true
	*r.out = append(*r.out, Finding{ResourceType: r.rtype, ResourceID: r.id, Profile: r.profile, Path: path, Rule: rule, Severity: sev, Message: msg})
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.ResourceType != b.ResourceType {
			return a.ResourceType < b.ResourceType
		}
		if a.ResourceID != b.ResourceID {
			return a.ResourceID < b.ResourceID
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Rule < b.Rule
	})
}

// Report formats findings grouped by resource, one finding per line, in a
// stable order, for logs and golden files. It returns "no findings\n" when
// there are none.
func Report(findings []Finding) string {
	if len(findings) == 0 {
		return "no findings\n"
	}
	fs := append([]Finding(nil), findings...)
	sortFindings(fs)
	var b strings.Builder
	last := ""
	for _, f := range fs {
		key := f.ResourceType + "/" + f.ResourceID
		if key != last {
			fmt.Fprintf(&b, "%s\n", key)
			last = key
		}
		fmt.Fprintf(&b, "  %-7s %s  %s: %s [%s]\n", f.Severity, f.Rule, f.Path, f.Message, f.Profile)
	}
	return b.String()
}
