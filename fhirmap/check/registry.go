package check

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Base URLs of the guides' StructureDefinitions. They equal the fhirmap
// constants (a test keeps them in step); check does not import fhirmap so
// that fhirmap's own tests can use check.
const (
	c4bbBase    = "http://hl7.org/fhir/us/carin-bb/StructureDefinition/"
	usCoreBase  = "http://hl7.org/fhir/us/core/StructureDefinition/"
	planNetBase = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/"
)

// Rule pack versions.
const (
	v210       = "2.1.0" // C4BB STU 2.1.0
	v220       = "2.2.0" // C4BB 2.2.0
	usCoreV    = "6.1.0" // US Core 6.1.0 (7.0.0 has the same constraints for what is checked here)
	planNetV   = "1.2.0" // Plan-Net 1.2.0
	defaultC4B = v210
)

// profile is a rule pack: every rule a resource declaring the profile must
// satisfy, parents' rules included.
type profile struct {
	url      string // canonical without version
	version  string // the release the rules are for
	rtype    string // resource type
	abstract bool
	rules    []rule
}

var (
	registryOnce sync.Once
	registry     map[string]*profile // url|version
)

func register(ps ...*profile) {
	for _, p := range ps {
		registry[p.url+"|"+p.version] = p
	}
}

func buildRegistry() {
	registryOnce.Do(func() {
		registry = map[string]*profile{}
		register(c4bbProfiles(v210)...)
		register(c4bbProfiles(v220)...)
		register(usCoreProfiles()...)
		register(planNetProfiles()...)
	})
}

// lookup finds the rule pack for a declared canonical. warn is set when the
// canonical names a known profile at a version without a pack of its own;
// the closest pack is then used.
func lookup(canonical string) (p *profile, warn string) {
	buildRegistry()
	url, v, _ := strings.Cut(canonical, "|")
	pack, supported := "", true
	switch {
	case strings.HasPrefix(url, c4bbBase):
		switch {
		case v == "" || v == "2.1" || strings.HasPrefix(v, "2.1."):
			pack = v210
		case v == "2.2" || strings.HasPrefix(v, "2.2."):
			pack = v220
		default:
			pack, supported = defaultC4B, false
		}
	case strings.HasPrefix(url, usCoreBase):
		pack = usCoreV
		supported = v == "" || strings.HasPrefix(v, "6.1.") || strings.HasPrefix(v, "7.0.")
	case strings.HasPrefix(url, planNetBase):
		pack = planNetV
		supported = v == "" || strings.HasPrefix(v, "1.2.")
	default:
		return nil, ""
	}
	p = registry[url+"|"+pack]
	if p == nil {
		return nil, ""
	}
	if !supported {
		warn = fmt.Sprintf("version %s has no rule pack here: checked against %s", v, pack)
	}
	return p, warn
}

// Profiles returns the versioned canonicals this package has rules for,
// sorted. A resource declaring one of them (any version of the same release
// line, or no version) is checked against it.
func Profiles() []string {
	buildRegistry()
	out := make([]string, 0, len(registry))
	for k, p := range registry {
		if !p.abstract {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// RuleCount returns how many rules (cardinalities, fixed values, bindings,
// references, slices and their member rules, invariants) the rule pack of a
// versioned canonical holds, or 0 when it has none.
func RuleCount(canonical string) int {
	buildRegistry()
	p := registry[canonical]
	if p == nil {
		return 0
	}
	return countRules(p.rules)
}

func countRules(rs []rule) int {
	n := 0
	for _, r := range rs {
		switch x := r.(type) {
		case slice:
			n += 1 + countRules(x.rules)
		case each:
			n += countRules(x.rules)
		default:
			n++
		}
	}
	return n
}
