package x12

import "testing"

func TestLoopTablesCompile(t *testing.T) {
	if len(tables) != 5 {
		t.Fatalf("%d tables registered, want 5 (837P, 837I, 837D, 835, 834)", len(tables))
	}
	for _, tab := range tables {
		if tab.root == nil || tab.root.id != headerLoop {
			t.Errorf("%s: no header loop", tab.Name)
		}
		if len(tab.kinds) == 0 {
			t.Errorf("%s: no record loop", tab.Name)
		}
		// Every loop is reachable from the header.
		seen := map[*loopDef]bool{}
		var walk func(d *loopDef)
		walk = func(d *loopDef) {
			if seen[d] {
				return
			}
			seen[d] = true
			for _, c := range d.children {
				walk(c)
			}
		}
		walk(tab.root)
		if len(seen) != len(tab.defs) {
			t.Errorf("%s: %d of %d loops reachable", tab.Name, len(seen), len(tab.defs))
		}
		for _, d := range tab.defs {
			if d.leadIdx == 0 {
				t.Errorf("%s: loop %s has no lead index", tab.Name, d.id)
			}
			for _, s := range d.segs {
				if !d.hasIdx(segIndex[idCode([]byte(s), 0)]) {
					t.Errorf("%s: loop %s: mask misses %s", tab.Name, d.id, s)
				}
			}
		}
	}
}

func TestLookupTable(t *testing.T) {
	for _, tc := range []struct{ st01, st03, gs08, want string }{
		{"837", "005010X222A1", "", "837P"},
		{"837", "005010X222A2", "", "837P"},
		{"837", "", "005010X222A1", "837P"},
		{"837", "BOGUS", "005010X222A1", "837P"},
		{"837", "005010X223A2", "", "837I"},
		{"837", "005010X223A3", "", "837I"},
		{"837", "005010X224A2", "005010X222A1", "837D"},
		{"835", "005010X221A1", "", "835"},
		{"834", "005010X220A1", "", "834"},
		{"837", "005010X221A1", "", ""},
		{"270", "005010X279A1", "", ""},
		{"", "", "", ""},
	} {
		got := ""
		if tab := lookupTable(tc.st01, tc.st03, tc.gs08); tab != nil {
			got = tab.Name
		}
		if got != tc.want {
			t.Errorf("lookupTable(%q, %q, %q) = %q, want %q", tc.st01, tc.st03, tc.gs08, got, tc.want)
		}
	}
}

// TestPlace checks the engine's innermost-first placement on the 837P table.
func TestPlace(t *testing.T) {
	tab := lookupTable("837", "005010X222A1", "")
	stack := []frame{{def: tab.root}}
	open := func(id string) {
		stack = append(stack, frame{def: tab.byID[id]})
	}
	open("2000A")
	open("2000B")
	open("2300")
	open("2400")
	d := Delimiters{Element: '*', Component: ':', Repetition: '^', Segment: '~'}
	for _, tc := range []struct {
		seg   string
		level int
		open  string
		ok    bool
	}{
		{"DTP*472*D8*20240101", 4, "", true}, // a 2400 segment
		{"NM1*82*1*X", 5, "2420A", true},     // rendering at line level
		{"LX*2", 4, "2400", true},            // next line
		{"HI*ABK:J449", 3, "", true},         // back to the claim (out of order but placeable)
		{"SBR*S", 4, "2320", true},           // other subscriber under the claim
		{"CLM*X*1", 3, "2300", true},         // next claim
		{"HL*9*1*22*0", 2, "2000B", true},    // next subscriber
		{"HL*9**20*1", 1, "2000A", true},     // next billing provider
		{"NM1*ZZ*1*X", 0, "", false},         // unknown entity
		{"ZZZ*1", 0, "", false},              // unknown segment
		{"BHT*0019*00", 0, "", true},         // header segment
		{"NM1*PR*2*X", 3, "2010BB", true},    // a payer name opens under the subscriber
	} {
		s := NewOwnedSegment([]byte(tc.seg), d, Position{})
		p, ok := place(stack, &s)
		gotOpen := ""
		if p.open != nil {
			gotOpen = p.open.id
		}
		if ok != tc.ok || ok && (p.level != tc.level || gotOpen != tc.open) {
			t.Errorf("place(%s) = level %d open %q ok %v; want %d %q %v", tc.seg, p.level, gotOpen, ok, tc.level, tc.open, tc.ok)
		}
	}
}
