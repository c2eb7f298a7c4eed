package terminology

import (
	"context"
	"strconv"
	"strings"
	"sync"
)

// IndexOptions configures an [Index]. A nil *IndexOptions means defaults.
type IndexOptions struct {
	// Accept decides which equivalences count as a mapping. Nil means
	// [Equivalence.IsMatch]: everything but unmatched and disjoint.
	// [AcceptExact] keeps only equal and equivalent.
	Accept func(Equivalence) bool
}

// Index holds several ConceptMaps, indexed by source system, and translates
// across all of them. It is a [Mapper]. It is safe for concurrent use,
// including Add during Translate.
type Index struct {
	accept func(Equivalence) bool

	mu       sync.RWMutex
	maps     []*ConceptMap
	byURL    map[string]*ConceptMap
	bySource map[string][]groupRef
}

// NewIndex returns an empty Index.
func NewIndex(opts *IndexOptions) *Index {
	ix := &Index{
		accept:   Equivalence.IsMatch,
		byURL:    make(map[string]*ConceptMap),
		bySource: make(map[string][]groupRef),
	}
	if opts != nil && opts.Accept != nil {
		ix.accept = opts.Accept
	}
	return ix
}

// Add validates maps and adds them to the index, in order. Maps added earlier
// are consulted first. A map whose url is already in the index is refused
// with [ErrDuplicateMap] (build a new Index to replace a map). On error,
// the maps before the failing one stay added.
func (ix *Index) Add(maps ...*ConceptMap) error {
	for i, cm := range maps {
		if cm == nil {
			continue
		}
		if err := cm.compile(); err != nil {
			return err
		}
		ix.mu.Lock()
		if cm.URL != "" {
			if _, dup := ix.byURL[cm.URL]; dup {
				ix.mu.Unlock()
				return &ConceptMapError{Offset: -1, Path: "[" + strconv.Itoa(i) + "].url",
					Msg: "an index already holds " + mapName(cm), Err: ErrDuplicateMap}
			}
			ix.byURL[cm.URL] = cm
		}
		ix.maps = append(ix.maps, cm)
		for gi := range cm.Group {
			src := cm.Group[gi].Source
			ix.bySource[src] = append(ix.bySource[src], groupRef{cm, gi})
		}
		ix.mu.Unlock()
	}
	return nil
}

// Map returns the map with the given canonical URL (optionally with a
// "|version" suffix, which must then match), or nil.
func (ix *Index) Map(canonical string) *ConceptMap {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.lookupURL(canonical)
}

func (ix *Index) lookupURL(canonical string) *ConceptMap {
	url, _, _ := strings.Cut(canonical, "|")
	cm := ix.byURL[url]
	if cm == nil || !matchesCanonical(cm, canonical) {
		return nil
	}
	return cm
}

// Maps returns the maps in the index, in the order they were added.
func (ix *Index) Maps() []*ConceptMap {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return append([]*ConceptMap(nil), ix.maps...)
}

// Translate translates from into targetSystem ("" for any target) with the
// maps of the index. The rules, in order:
//
//  1. Groups apply when their source is from.System, their target is
//     targetSystem (if given), and their sourceVersion is empty, from.Version
//     is empty, or the two are equal. Groups are tried in the order maps were
//     added, then in document order.
//  2. In each group that lists from.Code, targets are tried in order; the
//     first target with a code, without dependsOn, and whose equivalence is
//     accepted (see [IndexOptions].Accept) is the answer, with its
//     equivalence, the group's targetVersion and the map's url.
//  3. When some group lists the code but no target is accepted (for
//     example it is unmatched or disjoint), the answer is a
//     [*NoMappingError] with [ReasonExcluded]; unmapped rules do not apply.
//  4. Otherwise the first applicable group with an unmapped rule decides:
//     provided (the source code, equivalence equivalent), fixed (the fixed
//     code, equivalence wider) or other-map (the named map's answer, found by
//     canonical URL in this index; a chain is limited to 16 maps and a map
//     referring back to itself fails with [ErrMapLoop]; an unknown url fails
//     with [ErrMapNotFound]).
//  5. Otherwise there is no mapping ([ReasonNoElement], or [ReasonNoMap]
//     when no group applies).
func (ix *Index) Translate(ctx context.Context, from Coding, targetSystem string) (Coding, error) {
	if err := ctx.Err(); err != nil {
		return Coding{}, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t := translator{accept: ix.accept, resolve: ix.lookupURL}
	return t.translate(ix.bySource[from.System], from, targetSystem, nil)
}
