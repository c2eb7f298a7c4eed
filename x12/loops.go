package x12

import (
	"fmt"
	"strings"
)

// This file holds the generic loop engine: the types the per-transaction loop
// tables are written in (loops837.go, loops835.go, loops834.go) and the matching
// that assigns each segment of a transaction set to an implementation-guide loop.
// Adding a transaction (270/271, 276/277, 278) means adding a table and a binder,
// not changing the engine.

// headerLoop is the id given to the transaction set level: ST, the beginning
// segment (BHT, BPR, BGN) and the header segments that follow it, and SE.
const headerLoop = "HEADER"

// match identifies a segment by its id and, optionally, by the value of one of
// its elements (the qualifier that tells sibling loops apart, such as NM101).
type match struct {
	ID     string   // segment id, such as "NM1"
	Elem   int      // element holding the qualifier (usually 1); 0 when any segment with ID matches
	Values []string // accepted values of element Elem; empty when any value matches
}

func seg(id string) match { return match{ID: id} }

// q returns a match on segment id whose element 1 is one of values.
func q(id string, values ...string) match { return match{ID: id, Elem: 1, Values: values} }

// qe returns a match on segment id whose element elem is one of values.
func qe(id string, elem int, values ...string) match {
	return match{ID: id, Elem: elem, Values: values}
}

func (m *match) matches(s *Segment) bool {
	if s.ID() != m.ID {
		return false
	}
	return m.qualifies(s)
}

// qualifies checks the qualifier of a segment whose id matches.
func (m *match) qualifies(s *Segment) bool {
	if m.Elem == 0 || len(m.Values) == 0 {
		return true
	}
	v := s.ElementBytes(m.Elem)
	for _, want := range m.Values {
		if string(v) == want {
			return true
		}
	}
	return false
}

// loopSpec is one row of a loop table.
type loopSpec struct {
	ID     string // implementation guide loop id: "2300", or headerLoop
	Name   string // implementation guide loop name: "Claim Information"
	Parent string // parent loop id(s), comma separated ("2000B,2000C"); "" only for headerLoop
	Lead   match  // the leading segment (and qualifier) that starts an instance of the loop
	Max    int    // maximum repeat within one instance of its parent; 0 = unbounded (">1")
	Segs   string // the other segments the loop may contain, space separated ("DTP REF HI")
	// Record marks the loop whose instances are business records (one CLM, CLP
	// or INS and its subordinate loops); the loops above it are shared context.
	Record Kind
}

// txTable describes one transaction set implementation: how to recognize it
// and its loops.
type txTable struct {
	Name        string     // "837P"
	ST01        string     // transaction set id: "837"
	Conventions []string   // accepted ST03/GS08 values, the first is canonical
	Loops       []loopSpec // the loops, the header first

	// compiled
	defs  []*loopDef
	byID  map[string]*loopDef
	root  *loopDef
	kinds []Kind
	bind  binder
}

// loopDef is a compiled loopSpec.
type loopDef struct {
	id, name string
	lead     match
	max      int
	segs     []string
	parents  []*loopDef
	children []*loopDef
	record   Kind     // set on a record loop
	inRecord *loopDef // the record loop this loop belongs to (itself for a record loop); nil for context
	index    int
	segMask  [4]uint64 // bit segIndex of every non-leading segment id
	leadIdx  uint8     // segIndex of the leading segment id
	// act tells, by segIndex, what the loop does with a segment: actNone,
	// actOwn (one of its segments), or actChild+k (k is the first of its
	// children led by that segment id).
	act [256]uint8
}

const (
	actNone  = 0
	actOwn   = 1
	actChild = 2
)

// segIndex maps a segment id code to a small index (1 to 255) among the ids the
// loop tables use; 0 for the others. The engine matches on these indexes.
var (
	segIndex     [idCodes + 1]uint8
	segIndexNext = 1
)

func indexOf(id string) uint8 {
	c := idCode([]byte(id), 0)
	if segIndex[c] == 0 {
		if segIndexNext > 255 {
			panic("x12: loop tables use more than 255 segment ids")
		}
		segIndex[c] = uint8(segIndexNext)
		segIndexNext++
	}
	return segIndex[c]
}

func (d *loopDef) hasIdx(i uint8) bool { return d.segMask[i>>6]&(1<<(i&63)) != 0 }

func (d *loopDef) hasSeg(id string) bool {
	for _, s := range d.segs {
		if s == id {
			return true
		}
	}
	return false
}

func (d *loopDef) childIndex(c *loopDef) int {
	for i, x := range d.children {
		if x == c {
			return i
		}
	}
	return -1
}

// compile checks a table and links its loops. It panics on a malformed table:
// tables are package data, so a mistake is a programming error caught by tests.
func (t *txTable) compile(b binder) *txTable {
	t.bind = b
	t.byID = make(map[string]*loopDef, len(t.Loops))
	for i := range t.Loops {
		sp := &t.Loops[i]
		if _, dup := t.byID[sp.ID]; dup {
			panic(fmt.Sprintf("x12: table %s: duplicate loop %s", t.Name, sp.ID))
		}
		d := &loopDef{id: sp.ID, name: sp.Name, lead: sp.Lead, max: sp.Max, segs: strings.Fields(sp.Segs), record: sp.Record, index: i}
		for j, s := range d.segs {
			d.segs[j] = internID(s)
			i := indexOf(s)
			d.segMask[i>>6] |= 1 << (i & 63)
		}
		d.lead.ID = internID(d.lead.ID)
		d.leadIdx = indexOf(d.lead.ID)
		t.byID[sp.ID] = d
		t.defs = append(t.defs, d)
	}
	for i := range t.Loops {
		sp := &t.Loops[i]
		d := t.byID[sp.ID]
		if sp.Parent == "" {
			if sp.ID != headerLoop || t.root != nil {
				panic(fmt.Sprintf("x12: table %s: loop %s has no parent", t.Name, sp.ID))
			}
			t.root = d
			continue
		}
		for _, p := range strings.Split(sp.Parent, ",") {
			pd := t.byID[p]
			if pd == nil {
				panic(fmt.Sprintf("x12: table %s: loop %s: unknown parent %s", t.Name, sp.ID, p))
			}
			d.parents = append(d.parents, pd)
			pd.children = append(pd.children, d)
		}
		if d.record != "" {
			t.kinds = append(t.kinds, d.record)
		}
	}
	if t.root == nil {
		panic("x12: table " + t.Name + " has no " + headerLoop)
	}
	// Mark the record subtrees. A loop below a record loop belongs to it; a loop
	// reachable both from a record and from context would be ambiguous.
	var mark func(d, rec *loopDef)
	mark = func(d, rec *loopDef) {
		if d.inRecord != nil && d.inRecord != rec {
			panic(fmt.Sprintf("x12: table %s: loop %s is under two record loops", t.Name, d.id))
		}
		d.inRecord = rec
		for _, c := range d.children {
			if c.record != "" && c != d {
				panic(fmt.Sprintf("x12: table %s: record loop %s below record loop %s", t.Name, c.id, rec.id))
			}
			mark(c, rec)
		}
	}
	for _, d := range t.defs {
		if d.record != "" {
			mark(d, d)
		}
		if len(d.children) > maxChildren {
			panic(fmt.Sprintf("x12: table %s: loop %s has more than %d child loops", t.Name, d.id, maxChildren))
		}
	}
	for _, d := range t.defs {
		for i := range d.act {
			if d.hasIdx(uint8(i)) && i != 0 {
				d.act[i] = actOwn
			}
		}
		for k := len(d.children) - 1; k >= 0; k-- {
			d.act[d.children[k].leadIdx] = actChild + uint8(k)
		}
	}
	// Sibling leads must be distinguishable.
	for _, d := range t.defs {
		for i, a := range d.children {
			for _, b := range d.children[i+1:] {
				if overlap(a.lead, b.lead) {
					panic(fmt.Sprintf("x12: table %s: loops %s and %s under %s have the same leading segment", t.Name, a.id, b.id, d.id))
				}
			}
			if d.hasSeg(a.lead.ID) && a.lead.ID != "" {
				panic(fmt.Sprintf("x12: table %s: loop %s lists %s, the leading segment of its child %s", t.Name, d.id, a.lead.ID, a.id))
			}
		}
	}
	return t
}

func overlap(a, b match) bool {
	if a.ID != b.ID {
		return false
	}
	if a.Elem != b.Elem || len(a.Values) == 0 || len(b.Values) == 0 {
		return true
	}
	for _, x := range a.Values {
		for _, y := range b.Values {
			if x == y {
				return true
			}
		}
	}
	return false
}

// tables lists the supported transaction set implementations.
var tables []*txTable

func register(t *txTable, b binder) { tables = append(tables, t.compile(b)) }

// lookupTable routes a transaction set by ST01 and ST03, falling back to GS08
// when ST03 is absent or unknown.
func lookupTable(st01, st03, gs08 string) *txTable {
	for _, conv := range [2]string{st03, gs08} {
		if conv == "" {
			continue
		}
		for _, t := range tables {
			if t.ST01 != st01 {
				continue
			}
			for _, c := range t.Conventions {
				if c == conv {
					return t
				}
			}
		}
	}
	return nil
}

// maxChildren bounds the number of child loops of a loop in a table, so that
// a frame counts their repeats in a fixed array.
const maxChildren = 24

// frame is one open loop instance on the engine's stack.
type frame struct {
	def    *loopDef
	loop   *Loop               // the materialized context loop, nil while pending or for record loops
	inst   int32               // index of the instance in the unit being built, -1 when materialized
	counts [maxChildren]uint16 // repeats of each child loop (indexed like def.children) within this instance, saturating
}

// placement is where the engine puts a segment.
type placement struct {
	level int      // stack level of the loop that takes the segment
	open  *loopDef // non-nil when the segment starts a new instance of this loop at level
}

// place finds the loop of seg given the open loops in stack, innermost first:
// a segment belongs to the innermost open loop that lists it, or starts a child
// loop of the innermost open loop that has one led by it. ok is false when no
// open loop takes it.
func place(stack []frame, s *Segment) (p placement, ok bool) {
	idx := segIndex[segCode(s)]
	if idx == 0 {
		return placement{}, false
	}
	for level := len(stack) - 1; level >= 0; level-- {
		d := stack[level].def
		switch a := d.act[idx]; a {
		case actNone:
		case actOwn:
			return placement{level: level}, true
		default:
			// Siblings led by the same segment id usually test the same
			// qualifier element: it is cut from the segment once.
			qe, qv := 0, []byte(nil)
			for _, c := range d.children[a-actChild:] {
				if c.leadIdx != idx {
					continue
				}
				m := &c.lead
				if m.Elem == 0 || len(m.Values) == 0 {
					return placement{level: level + 1, open: c}, true
				}
				if m.Elem != qe {
					qe, qv = m.Elem, s.ElementBytes(m.Elem)
				}
				for _, want := range m.Values {
					if string(qv) == want {
						return placement{level: level + 1, open: c}, true
					}
				}
			}
		}
	}
	return placement{}, false
}
