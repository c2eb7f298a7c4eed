package terminology

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
)

// ConceptMap is a FHIR R4 ConceptMap: groups of source codes with their
// targets in another code system. It is itself a [Mapper] over its own groups
// (its other-map rules can only refer to itself); put several maps in an
// [Index] to translate across all of them.
//
// The exported fields follow the R4 JSON names, so a ConceptMap can be built
// in code or marshaled back to JSON. Do not modify a ConceptMap after its
// first Translate or after adding it to an [Index]: its code lookup is built
// once.
type ConceptMap struct {
	// ID is the resource's logical id.
	ID string `json:"id,omitempty"`
	// URL is the map's canonical URL; other-map rules refer to maps by it.
	URL string `json:"url,omitempty"`
	// Version is the business version of the map.
	Version string `json:"version,omitempty"`
	// Name is the computer-friendly name of the map.
	Name string `json:"name,omitempty"`
	// Title is the human-friendly name of the map.
	Title string `json:"title,omitempty"`
	// Status is draft, active, retired or unknown (not enforced).
	Status string `json:"status,omitempty"`
	// SourceURI is the source value set (R4 sourceUri), informational.
	SourceURI string `json:"sourceUri,omitempty"`
	// SourceCanonical is the source value set (R4 sourceCanonical), informational.
	SourceCanonical string `json:"sourceCanonical,omitempty"`
	// TargetURI is the target value set (R4 targetUri), informational.
	TargetURI string `json:"targetUri,omitempty"`
	// TargetCanonical is the target value set (R4 targetCanonical), informational.
	TargetCanonical string `json:"targetCanonical,omitempty"`
	// Group holds the mappings, one group per (source system, target system).
	Group []Group `json:"group,omitempty"`

	once     sync.Once
	lookup   *cmLookup
	buildErr error
}

// Group is a ConceptMap.group: mappings from one source code system to one
// target code system.
type Group struct {
	// Source is the source code system URI. Required here (R4 allows it to
	// be absent, but such a group cannot be found by system).
	Source string `json:"source,omitempty"`
	// SourceVersion, when set, restricts the group to source codings of
	// this version (a coding without a version still matches).
	SourceVersion string `json:"sourceVersion,omitempty"`
	// Target is the target code system URI. Required here.
	Target string `json:"target,omitempty"`
	// TargetVersion is reported as the Version of translated codings.
	TargetVersion string `json:"targetVersion,omitempty"`
	// Element lists the source codes and their targets.
	Element []Element `json:"element,omitempty"`
	// Unmapped says what to do with a source code the group does not list.
	Unmapped *Unmapped `json:"unmapped,omitempty"`
}

// Element is a ConceptMap.group.element: one source code and its targets.
type Element struct {
	// Code is the source code. Required.
	Code string `json:"code,omitempty"`
	// Display is the source code's display, informational.
	Display string `json:"display,omitempty"`
	// Target lists the code's targets, in order of preference.
	Target []Target `json:"target,omitempty"`
}

// Target is a ConceptMap.group.element.target.
type Target struct {
	// Code is the target code. Required unless Equivalence is unmatched.
	Code string `json:"code,omitempty"`
	// Display is the target code's display.
	Display string `json:"display,omitempty"`
	// Equivalence is required, one of the ten R4 codes.
	Equivalence Equivalence `json:"equivalence,omitempty"`
	// Comment is free text about the mapping.
	Comment string `json:"comment,omitempty"`
	// DependsOn lists other data the mapping depends on. A Mapper cannot
	// see that data, so targets with DependsOn are never used by Translate.
	DependsOn []DependsOn `json:"dependsOn,omitempty"`
	// Product lists other concepts the mapping produces (not returned by
	// Translate).
	Product []DependsOn `json:"product,omitempty"`
}

// DependsOn is a ConceptMap.group.element.target.dependsOn or .product.
type DependsOn struct {
	// Property is the URI of the element the condition refers to.
	Property string `json:"property,omitempty"`
	// System is the code system of Value.
	System string `json:"system,omitempty"`
	// Value is the value the element must have.
	Value string `json:"value,omitempty"`
	// Display is the display of Value.
	Display string `json:"display,omitempty"`
}

// UnmappedMode is a ConceptMap.group.unmapped.mode code.
type UnmappedMode string

// The R4 ConceptMapGroupUnmappedMode codes.
const (
	// UnmappedProvided: use the source code itself as the target code.
	// The result has equivalence "equivalent".
	UnmappedProvided UnmappedMode = "provided"
	// UnmappedFixed: use the fixed Unmapped.Code. The result has
	// equivalence "wider" (a fixed code is a catch-all).
	UnmappedFixed UnmappedMode = "fixed"
	// UnmappedOtherMap: translate with the map whose canonical URL is
	// Unmapped.URL; the result is that map's answer.
	UnmappedOtherMap UnmappedMode = "other-map"
)

// Unmapped is a ConceptMap.group.unmapped: what a group does with source
// codes it does not list. It does not apply to a code that the group lists
// with only unmatched or disjoint targets.
type Unmapped struct {
	// Mode is provided, fixed or other-map.
	Mode UnmappedMode `json:"mode,omitempty"`
	// Code is the fixed target code (mode fixed).
	Code string `json:"code,omitempty"`
	// Display is the fixed target code's display (mode fixed).
	Display string `json:"display,omitempty"`
	// URL is the canonical URL of the other map (mode other-map), with an
	// optional "|version" suffix.
	URL string `json:"url,omitempty"`
}

// MarshalJSON writes c as an R4 ConceptMap resource, with its resourceType.
func (c *ConceptMap) MarshalJSON() ([]byte, error) {
	type plain ConceptMap // no methods, same fields
	return json.Marshal(struct {
		ResourceType string `json:"resourceType"`
		*plain
	}{"ConceptMap", (*plain)(c)})
}

// Errors a ConceptMap can be rejected with; a [*ConceptMapError] wraps one
// and says where.
var (
	// ErrSyntax: the input is not well-formed JSON.
	ErrSyntax = errors.New("malformed JSON")
	// ErrNotConceptMap: the input is JSON but not a ConceptMap or a Bundle.
	ErrNotConceptMap = errors.New("not a ConceptMap or a Bundle of ConceptMaps")
	// ErrInvalidConceptMap: a required element is missing or a code is not
	// one R4 allows.
	ErrInvalidConceptMap = errors.New("invalid ConceptMap")
	// ErrDuplicateMap: an Index already holds a map with this canonical URL.
	ErrDuplicateMap = errors.New("duplicate ConceptMap url")
	// ErrMapNotFound: an other-map rule names a map that is not loaded.
	ErrMapNotFound = errors.New("other-map target not loaded")
	// ErrMapLoop: other-map rules refer back to a map already being used,
	// or nest deeper than the limit.
	ErrMapLoop = errors.New("other-map loop")
)

// ConceptMapError reports bad ConceptMap input and where it is. Its text
// holds the position and a fixed description, never a value from the input.
type ConceptMapError struct {
	// Offset is the 0-based byte offset in the JSON input where the error
	// was detected, or -1 when it was found after decoding or inside a
	// Bundle entry (then Path says where). For a syntax error it is the
	// offending byte (the input's length for a truncated input); for a
	// value of the wrong type it is within or just after that value.
	Offset int64
	// Path is the JSON path of the offending element, like
	// "entry[2].resource.group[0].element[7].target[0].equivalence"; it may
	// be empty for a syntax error.
	Path string
	// Msg says what is wrong, in words that hold no input value.
	Msg string
	// Err is one of ErrSyntax, ErrNotConceptMap, ErrInvalidConceptMap,
	// ErrDuplicateMap, ErrMapNotFound or ErrMapLoop.
	Err error
}

// Error returns "terminology: conceptmap: <path> (offset N): <msg>".
func (e *ConceptMapError) Error() string {
	var b strings.Builder
	b.WriteString("terminology: conceptmap: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteByte(' ')
	}
	if e.Offset >= 0 {
		b.WriteString("(offset ")
		b.WriteString(strconv.FormatInt(e.Offset, 10))
		b.WriteString(") ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil && e.Msg != e.Err.Error() {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *ConceptMapError) Unwrap() error { return e.Err }

// ---- lookup ----

// cmLookup finds a group's elements by code.
type cmLookup struct {
	groups []groupLookup
}

type groupLookup struct {
	first map[string]int32   // code → index of its first element
	more  map[string][]int32 // code → indexes of further elements with the same code (rare)
}

// compile validates c and builds its code lookup, once.
func (c *ConceptMap) compile() error { return c.compileAt("") }

// compileAt is compile with the JSON path of the resource for error text.
func (c *ConceptMap) compileAt(prefix string) error {
	c.once.Do(func() {
		if err := c.validate(prefix); err != nil {
			c.buildErr = err
			return
		}
		lk := &cmLookup{groups: make([]groupLookup, len(c.Group))}
		for gi := range c.Group {
			g := &c.Group[gi]
			gl := groupLookup{first: make(map[string]int32, len(g.Element))}
			for ei := range g.Element {
				code := g.Element[ei].Code
				if _, dup := gl.first[code]; dup {
					if gl.more == nil {
						gl.more = make(map[string][]int32)
					}
					gl.more[code] = append(gl.more[code], int32(ei))
					continue
				}
				gl.first[code] = int32(ei)
			}
			lk.groups[gi] = gl
		}
		c.lookup = lk
	})
	return c.buildErr
}

// elements calls fn for each element of group gi with the given code, in
// document order, until fn returns true.
func (c *ConceptMap) elements(gi int, code string, fn func(*Element) bool) {
	gl := &c.lookup.groups[gi]
	i, ok := gl.first[code]
	if !ok {
		return
	}
	g := &c.Group[gi]
	if fn(&g.Element[i]) {
		return
	}
	for _, j := range gl.more[code] {
		if fn(&g.Element[j]) {
			return
		}
	}
}

// validate checks what Translate relies on. prefix is the JSON path of the
// resource ("" or "entry[3].resource").
func (c *ConceptMap) validate(prefix string) error {
	p := func(s string) string {
		if prefix == "" {
			return s
		}
		return prefix + "." + s
	}
	bad := func(path, msg string) error {
		return &ConceptMapError{Offset: -1, Path: path, Msg: msg, Err: ErrInvalidConceptMap}
	}
	if len(c.Group) > maxInt32 {
		return bad(p("group"), "too many groups")
	}
	for gi := range c.Group {
		g := &c.Group[gi]
		gp := p("group[" + strconv.Itoa(gi) + "]")
		if g.Source == "" {
			return bad(gp+".source", "group has no source system")
		}
		if g.Target == "" {
			return bad(gp+".target", "group has no target system")
		}
		if len(g.Element) > maxInt32 {
			return bad(gp+".element", "too many elements")
		}
		for ei := range g.Element {
			el := &g.Element[ei]
			ep := gp + ".element[" + strconv.Itoa(ei) + "]"
			if el.Code == "" {
				return bad(ep+".code", "element has no code")
			}
			for ti := range el.Target {
				t := &el.Target[ti]
				tp := ep + ".target[" + strconv.Itoa(ti) + "]"
				if t.Equivalence == "" {
					return bad(tp+".equivalence", "target has no equivalence")
				}
				if !t.Equivalence.Valid() {
					return bad(tp+".equivalence", "equivalence is not an R4 ConceptMapEquivalence code")
				}
				if t.Code == "" && t.Equivalence != EquivalenceUnmatched {
					return bad(tp+".code", "target has no code and its equivalence is not unmatched")
				}
			}
		}
		if u := g.Unmapped; u != nil {
			up := gp + ".unmapped"
			switch u.Mode {
			case UnmappedProvided:
			case UnmappedFixed:
				if u.Code == "" {
					return bad(up+".code", "unmapped mode fixed needs a code")
				}
			case UnmappedOtherMap:
				if u.URL == "" {
					return bad(up+".url", "unmapped mode other-map needs a url")
				}
			case "":
				return bad(up+".mode", "unmapped has no mode")
			default:
				return bad(up+".mode", "unmapped mode is not provided, fixed or other-map")
			}
		}
	}
	return nil
}

const maxInt32 = 1<<31 - 1

// ---- translation ----

// maxOtherMapDepth bounds chains of other-map rules.
const maxOtherMapDepth = 16

// groupRef names one group of one map.
type groupRef struct {
	cm *ConceptMap
	g  int
}

// translator runs the ConceptMap translation algorithm over a set of maps.
type translator struct {
	accept  func(Equivalence) bool
	resolve func(url string) *ConceptMap
}

// candidates returns the groups of cm whose source is system.
func candidates(cm *ConceptMap, system string) []groupRef {
	var refs []groupRef
	for gi := range cm.Group {
		if cm.Group[gi].Source == system {
			refs = append(refs, groupRef{cm, gi})
		}
	}
	return refs
}

// translate implements the algorithm documented on [Index.Translate].
// chain holds the maps whose other-map rules led here (loop protection).
func (t *translator) translate(refs []groupRef, from Coding, target string, chain []*ConceptMap) (Coding, error) {
	matched := false
	listed := false
	var excludedBy Equivalence
	for _, r := range refs {
		g := &r.cm.Group[r.g]
		if !groupApplies(g, from, target) {
			continue
		}
		matched = true
		var out Coding
		found := false
		r.cm.elements(r.g, from.Code, func(el *Element) bool {
			listed = true
			for ti := range el.Target {
				tg := &el.Target[ti]
				if len(tg.DependsOn) > 0 || tg.Code == "" {
					if excludedBy == "" {
						excludedBy = tg.Equivalence
					}
					continue
				}
				if !t.accept(tg.Equivalence) {
					if excludedBy == "" {
						excludedBy = tg.Equivalence
					}
					continue
				}
				out = Coding{System: g.Target, Version: g.TargetVersion, Code: tg.Code, Display: tg.Display,
					Equivalence: tg.Equivalence, ConceptMap: r.cm.URL}
				found = true
				return true
			}
			return false
		})
		if found {
			return out, nil
		}
	}
	if listed {
		return Coding{}, &NoMappingError{From: from, TargetSystem: target, Reason: ReasonExcluded, Equivalence: excludedBy}
	}
	if !matched {
		return Coding{}, &NoMappingError{From: from, TargetSystem: target, Reason: ReasonNoMap}
	}
	for _, r := range refs {
		g := &r.cm.Group[r.g]
		if g.Unmapped == nil || !groupApplies(g, from, target) {
			continue
		}
		u := g.Unmapped
		var out Coding
		switch u.Mode {
		case UnmappedProvided:
			out = Coding{System: g.Target, Version: g.TargetVersion, Code: from.Code,
				Equivalence: EquivalenceEquivalent, ConceptMap: r.cm.URL}
		case UnmappedFixed:
			out = Coding{System: g.Target, Version: g.TargetVersion, Code: u.Code, Display: u.Display,
				Equivalence: EquivalenceWider, ConceptMap: r.cm.URL}
		case UnmappedOtherMap:
			return t.otherMap(r.cm, u.URL, from, g.Target, append(chain, r.cm))
		default:
			continue
		}
		if !t.accept(out.Equivalence) {
			return Coding{}, &NoMappingError{From: from, TargetSystem: target, Reason: ReasonExcluded, Equivalence: out.Equivalence}
		}
		return out, nil
	}
	return Coding{}, &NoMappingError{From: from, TargetSystem: target, Reason: ReasonNoElement}
}

// otherMap follows an other-map rule of map cm.
func (t *translator) otherMap(cm *ConceptMap, url string, from Coding, target string, chain []*ConceptMap) (Coding, error) {
	var next *ConceptMap
	if t.resolve != nil {
		next = t.resolve(url)
	}
	if next == nil {
		return Coding{}, &ConceptMapError{Offset: -1, Path: mapName(cm) + " unmapped.url",
			Msg: "other-map refers to a map that is not loaded: " + systemText(url), Err: ErrMapNotFound}
	}
	if len(chain) > maxOtherMapDepth {
		return Coding{}, &ConceptMapError{Offset: -1, Path: mapName(cm) + " unmapped.url",
			Msg: "other-map chain is deeper than " + strconv.Itoa(maxOtherMapDepth), Err: ErrMapLoop}
	}
	for _, seen := range chain {
		if seen == next {
			return Coding{}, &ConceptMapError{Offset: -1, Path: mapName(cm) + " unmapped.url",
				Msg: "other-map refers back to " + mapName(next), Err: ErrMapLoop}
		}
	}
	if err := next.compile(); err != nil {
		return Coding{}, err
	}
	return t.translate(candidates(next, from.System), from, target, chain)
}

// groupApplies reports whether group g can translate from into target.
func groupApplies(g *Group, from Coding, target string) bool {
	if target != "" && g.Target != target {
		return false
	}
	if from.Version != "" && g.SourceVersion != "" && from.Version != g.SourceVersion {
		return false
	}
	return true
}

// mapName names a map in error text by its url (configuration, not PHI).
func mapName(cm *ConceptMap) string {
	switch {
	case cm.URL != "":
		return "ConceptMap " + systemText(cm.URL)
	case cm.ID != "":
		return "ConceptMap/" + systemText(cm.ID)
	}
	return "ConceptMap"
}

// matchesCanonical reports whether canonical (url or url|version) names cm.
func matchesCanonical(cm *ConceptMap, canonical string) bool {
	if cm.URL == "" {
		return false
	}
	url, version, hasVersion := strings.Cut(canonical, "|")
	if url != cm.URL {
		return false
	}
	return !hasVersion || version == cm.Version
}

// Translate translates from with this map alone; see [Index.Translate] for
// the rules. Its other-map rules can only refer to the map itself.
func (c *ConceptMap) Translate(ctx context.Context, from Coding, targetSystem string) (Coding, error) {
	if err := ctx.Err(); err != nil {
		return Coding{}, err
	}
	if err := c.compile(); err != nil {
		return Coding{}, err
	}
	t := translator{accept: Equivalence.IsMatch, resolve: func(url string) *ConceptMap {
		if matchesCanonical(c, url) {
			return c
		}
		return nil
	}}
	return t.translate(candidates(c, from.System), from, targetSystem, nil)
}
