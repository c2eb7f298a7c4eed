package x12

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestCheckYMD compares the word-at-a-time date check with time.Parse on
// every day from 1899 to 2101 and on malformed variants (bytes just outside
// the digits, wrong lengths, impossible months and days).
func TestCheckYMD(t *testing.T) {
	ref := func(s string) bool {
		if len(s) != 8 || strings.ContainsAny(s, "+- ") {
			return false
		}
		_, err := time.Parse("20060102", s)
		return err == nil
	}
	var cases []string
	for d := time.Date(1899, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2102; d = d.AddDate(0, 0, 1) {
		cases = append(cases, d.Format("20060102"))
	}
	cases = append(cases, "", "2024011", "202401011", "20240001", "20241301", "20240100", "20240132",
		"20230229", "20240229", "19000229", "20000229", "20240431", "99991231", "00000101", "0000010",
		"2024-1-1", "20240101 ", " 2024010")
	for _, s := range []string{"20240115", "19991231"} {
		for i := range s {
			for _, c := range []byte{'/', ':', 'A', ' ', 0, 0xB0, 0x80 | '5'} {
				b := []byte(s)
				b[i] = c
				cases = append(cases, string(b))
			}
		}
	}
	for _, s := range cases {
		if got, want := checkYMD(s), ref(s); got != want {
			t.Errorf("checkYMD(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestCheckHM compares the HHMM check with time.Parse on every minute of a
// day and on malformed values, short ones included (it must not panic on them).
func TestCheckHM(t *testing.T) {
	ref := func(s string) bool {
		if len(s) != 4 || strings.ContainsAny(s, "+- ") {
			return false
		}
		_, err := time.Parse("1504", s)
		return err == nil
	}
	var cases []string
	for m := 0; m < 24*60; m++ {
		cases = append(cases, time.Date(2024, 1, 1, 0, m, 0, 0, time.UTC).Format("1504"))
	}
	cases = append(cases, "", "1", "12", "123", "12345", "2400", "1260", "0960", "9999", "12:3", "1a30", " 930", "093 ")
	for _, s := range cases {
		if got, want := checkHM(s), ref(s); got != want {
			t.Errorf("checkHM(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestFieldsSplit checks the binders' one-pass split against the Segment
// accessors on random segments: element counts, elements, components and
// repetitions, for every length around the eight-byte steps of the split.
func TestFieldsSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := Delimiters{Element: '*', Repetition: '^', Component: ':', Segment: '~'}
	alphabet := "AB1*:^*"
	for n := 0; n < 20000; n++ {
		var b strings.Builder
		b.WriteString([]string{"NM1", "SV1", "DTP", "HI", "REF"}[n%5])
		for k := rng.IntN(40); k > 0; k-- {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		raw := []byte(b.String())
		seg := NewOwnedSegment(raw, d, Position{})
		var f fields
		f.split(seg)
		if f.Len() != seg.Len() {
			t.Fatalf("%q: Len %d, want %d", raw, f.Len(), seg.Len())
		}
		for i := 1; i <= maxSplit && i <= seg.Len()+1; i++ {
			if got, want := f.Element(i), seg.Element(i); got != want {
				t.Fatalf("%q: Element(%d) = %q, want %q", raw, i, got, want)
			}
			for j := 1; j <= 4; j++ {
				if got, want := f.Component(i, j), seg.Component(i, j); got != want {
					t.Fatalf("%q: Component(%d, %d) = %q, want %q", raw, i, j, got, want)
				}
			}
			if got, want := f.Repetitions(i), seg.Repetitions(i); got != want {
				t.Fatalf("%q: Repetitions(%d) = %d, want %d", raw, i, got, want)
			}
		}
	}
}

// TestBinderComponents checks procedure and components, which scan an element
// once, against the components of the segment.
func TestBinderComponents(t *testing.T) {
	d := Delimiters{Element: '*', Repetition: '^', Component: ':', Segment: '~'}
	for _, tc := range []struct {
		raw           string
		qual, code    string
		mods          []string
		desc          string
		pointers      []string
		pointersRange [2]int
	}{
		{raw: "SV1*HC:99213*1", qual: "HC", code: "99213"},
		{raw: "SV1*HC:99213:25*1*UN*1***1:2:3:4", qual: "HC", code: "99213", mods: []string{"25"}, pointers: []string{"1", "2", "3", "4"}},
		{raw: "SV1*HC:99213::26*1*UN*1***1::3", qual: "HC", code: "99213", mods: []string{"", "26"}, pointers: []string{"1", "", "3"}},
		{raw: "SV1*HC:A:1:2:3:4:DESC:X:Y*1*UN*1***:::", qual: "HC", code: "A", mods: []string{"1", "2", "3", "4"}, desc: "DESC"},
		{raw: "SV1*HC:A::::*1*UN*1***5^6", qual: "HC", code: "A", pointers: []string{"5"}},
		{raw: "SV1*:B", code: "B"},
		{raw: "SV1", pointersRange: [2]int{2, 3}},
		{raw: "SV1*HC:A*1*UN*1***1:2:3:4:5", qual: "HC", code: "A", pointers: []string{"2", "3"}, pointersRange: [2]int{2, 3}},
	} {
		var f fields
		f.split(NewOwnedSegment([]byte(tc.raw), d, Position{}))
		var b binding
		p := b.procedure(&f, 1)
		if p.Qualifier != tc.qual || p.Code != tc.code || p.Description != tc.desc || strings.Join(p.Modifiers, ",") != strings.Join(tc.mods, ",") || len(p.Modifiers) != len(tc.mods) {
			t.Errorf("%s: procedure %+v", tc.raw, p)
		}
		from, to := 1, 4
		if tc.pointersRange[0] > 0 {
			from, to = tc.pointersRange[0], tc.pointersRange[1]
		}
		ptrs := b.components(&f, 7, from, to)
		if strings.Join(ptrs, ",") != strings.Join(tc.pointers, ",") || len(ptrs) != len(tc.pointers) {
			t.Errorf("%s: pointers %q, want %q", tc.raw, ptrs, tc.pointers)
		}
	}
}

// TestBinderCodes checks the segment id code constants of the binders.
func TestBinderCodes(t *testing.T) {
	for _, tc := range []struct {
		code uint16
		id   string
	}{
		{cAMT, "AMT"},
		{cBGN, "BGN"},
		{cCAS, "CAS"},
		{cCL1, "CL1"},
		{cCLM, "CLM"},
		{cCLP, "CLP"},
		{cCN1, "CN1"},
		{cCOB, "COB"},
		{cCR1, "CR1"},
		{cCRC, "CRC"},
		{cCTP, "CTP"},
		{cCUR, "CUR"},
		{cDMG, "DMG"},
		{cDN1, "DN1"},
		{cDN2, "DN2"},
		{cDSB, "DSB"},
		{cDTM, "DTM"},
		{cDTP, "DTP"},
		{cHD, "HD"},
		{cHI, "HI"},
		{cIDC, "IDC"},
		{cINS, "INS"},
		{cLIN, "LIN"},
		{cLQ, "LQ"},
		{cLX, "LX"},
		{cMIA, "MIA"},
		{cMOA, "MOA"},
		{cN1, "N1"},
		{cN3, "N3"},
		{cN4, "N4"},
		{cNM1, "NM1"},
		{cNTE, "NTE"},
		{cOI, "OI"},
		{cPER, "PER"},
		{cPRV, "PRV"},
		{cPWK, "PWK"},
		{cQTY, "QTY"},
		{cREF, "REF"},
		{cSBR, "SBR"},
		{cSV1, "SV1"},
		{cSV2, "SV2"},
		{cSV3, "SV3"},
		{cSVC, "SVC"},
		{cSVD, "SVD"},
		{cTOO, "TOO"},
	} {
		if got := idCode([]byte(tc.id), 0); got != tc.code || idString(tc.code) != tc.id {
			t.Errorf("code of %s = %d, constant %d", tc.id, got, tc.code)
		}
	}
}
