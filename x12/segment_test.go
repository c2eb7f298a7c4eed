package x12

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"
)

var stdDelims = Delimiters{Element: '*', Repetition: '^', Component: ':', Segment: '~'}

// readSegment returns the first segment with the given id from input, cloned.
func readSegment(t *testing.T, input, id string) Segment {
	t.Helper()
	r := NewReader(strings.NewReader(input))
	for {
		s, err := r.Read()
		if err != nil {
			t.Fatalf("no %s segment: %v", id, err)
		}
		if s.ID() == id {
			return s.Clone()
		}
	}
}

func TestSegmentAccessors(t *testing.T) {
	type acc struct {
		name string
		got  func(Segment) any
		want any
	}
	tests := []struct {
		raw  string
		d    Delimiters
		accs []acc
	}{
		{"CLM*PCN1*100***11:B:1*Y", stdDelims, []acc{
			{"ID", func(s Segment) any { return s.ID() }, "CLM"},
			{"Len", func(s Segment) any { return s.Len() }, 6},
			{"Element(0)", func(s Segment) any { return s.Element(0) }, "CLM"},
			{"Element(1)", func(s Segment) any { return s.Element(1) }, "PCN1"},
			{"Element(3) present, empty", func(s Segment) any { return s.ElementBytes(3) != nil && len(s.ElementBytes(3)) == 0 }, true},
			{"Element(7) absent", func(s Segment) any { return s.ElementBytes(7) == nil }, true},
			{"Element(-1)", func(s Segment) any { return s.ElementBytes(-1) == nil }, true},
			{"Element(6)", func(s Segment) any { return s.Element(6) }, "Y"},
			{"Component(5,1)", func(s Segment) any { return s.Component(5, 1) }, "11"},
			{"Component(5,3)", func(s Segment) any { return s.Component(5, 3) }, "1"},
			{"Component(5,4)", func(s Segment) any { return s.ComponentBytes(5, 4) == nil }, true},
			{"Component(5,0)", func(s Segment) any { return s.ComponentBytes(5, 0) == nil }, true},
			{"Component(2,1) simple", func(s Segment) any { return s.Component(2, 1) }, "100"},
			{"Component(2,2) simple", func(s Segment) any { return s.Component(2, 2) }, ""},
			{"Component(9,1) absent", func(s Segment) any { return s.ComponentBytes(9, 1) == nil }, true},
			{"Repetitions(5)", func(s Segment) any { return s.Repetitions(5) }, 1},
			{"Repetitions(3) empty", func(s Segment) any { return s.Repetitions(3) }, 0},
			{"Repetitions(9) absent", func(s Segment) any { return s.Repetitions(9) }, 0},
		}},
		{"HI*ABK:J449*ABF:E119^ABF:I10^^ABF:R51", stdDelims, []acc{
			{"Len", func(s Segment) any { return s.Len() }, 2},
			{"Repetitions(2)", func(s Segment) any { return s.Repetitions(2) }, 4},
			{"Component(2,2) first repetition", func(s Segment) any { return s.Component(2, 2) }, "E119"},
			{"RepetitionComponent(2,2,2)", func(s Segment) any { return s.RepetitionComponent(2, 2, 2) }, "I10"},
			{"RepetitionComponent(2,2,0)", func(s Segment) any { return s.RepetitionComponent(2, 2, 0) }, "ABF:I10"},
			{"RepetitionComponent(2,3,0) empty", func(s Segment) any { return s.RepetitionComponent(2, 3, 0) }, ""},
			{"RepetitionComponent(2,4,2)", func(s Segment) any { return s.RepetitionComponent(2, 4, 2) }, "R51"},
			{"RepetitionComponent(2,5,1) absent", func(s Segment) any { return s.RepetitionComponentBytes(2, 5, 1) == nil }, true},
			{"RepetitionComponent(2,0,1)", func(s Segment) any { return s.RepetitionComponentBytes(2, 0, 1) == nil }, true},
			{"RepetitionComponent(1,1,2)", func(s Segment) any { return s.RepetitionComponent(1, 1, 2) }, "J449"},
		}},
		{"ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240102*1230*^*00501*000000001*0*T*:", stdDelims, []acc{
			{"ID", func(s Segment) any { return s.ID() }, "ISA"},
			{"Len", func(s Segment) any { return s.Len() }, 16},
			{"Element(6) padded", func(s Segment) any { return s.Element(6) }, "SUBMITTER      "},
			{"ISA11 not split", func(s Segment) any { return s.Component(11, 1) }, "^"},
			{"ISA16 not split", func(s Segment) any { return s.Component(16, 1) }, ":"},
			{"ISA16 component 2", func(s Segment) any { return s.ComponentBytes(16, 2) == nil }, true},
			{"ISA11 repetitions", func(s Segment) any { return s.Repetitions(11) }, 1},
			{"ISA16 RepetitionComponent", func(s Segment) any { return s.RepetitionComponent(16, 1, 0) }, ":"},
			{"ISA16 repetition 2", func(s Segment) any { return s.RepetitionComponentBytes(16, 2, 0) == nil }, true},
		}},
		{"HI|ABK>J449^ABF>E119", Delimiters{Element: '|', Component: '>', Segment: '\n'}, []acc{
			{"no repetition separator", func(s Segment) any { return s.Repetitions(1) }, 1},
			{"no repetition separator: ^ is data", func(s Segment) any { return s.Component(1, 2) }, "J449^ABF"},
			{"repetition 2 absent", func(s Segment) any { return s.RepetitionComponentBytes(1, 2, 0) == nil }, true},
		}},
		{"N3~1 MAIN ST", Delimiters{Element: '~', Repetition: '^', Component: '>', Segment: '\''}, []acc{
			{"ID", func(s Segment) any { return s.ID() }, "N3"},
			{"Element(1)", func(s Segment) any { return s.Element(1) }, "1 MAIN ST"},
		}},
		{"ZZCANARYZZ*X", stdDelims, []acc{
			{"malformed id", func(s Segment) any { return s.ID() }, ""},
			{"Element(1)", func(s Segment) any { return s.Element(1) }, "X"},
		}},
	}
	for _, tt := range tests {
		pos := Position{Offset: 42, Index: 7, Interchange: "000000001", Group: "1", Transaction: "0001", Loop: "2300"}
		owned := NewOwnedSegment([]byte(tt.raw), tt.d, pos)
		// The same segment as a view from a Reader.
		var view Segment
		if tt.d == stdDelims && owned.ID() != "" {
			input := tiny837
			if !strings.HasPrefix(tt.raw, "ISA") {
				input = strings.Replace(tiny837, "BHT*", tt.raw+"~BHT*", 1)
			}
			view = readSegment(t, input, owned.ID())
		}
		for _, a := range tt.accs {
			if got := a.got(owned); got != a.want {
				t.Errorf("%s: owned %s = %v, want %v", tt.raw, a.name, got, a.want)
			}
			if view.Raw() != nil {
				if got := a.got(view); got != a.want {
					t.Errorf("%s: view %s = %v, want %v", tt.raw, a.name, got, a.want)
				}
			}
		}
		if got := owned.Pos(); got.Offset != 42 || got.Index != 7 || got.Loop != "2300" || got.SegmentID != owned.ID() || got.Transaction != "0001" {
			t.Errorf("%s: Pos = %+v", tt.raw, got)
		}
		els := owned.AppendElements(nil)
		if len(els) != owned.Len()+1 {
			t.Errorf("%s: AppendElements gives %d elements, Len %d", tt.raw, len(els), owned.Len())
		}
		for i, e := range els {
			if !bytes.Equal(e, owned.ElementBytes(i)) {
				t.Errorf("%s: AppendElements[%d] = %q, ElementBytes = %q", tt.raw, i, e, owned.ElementBytes(i))
			}
		}
		if owned.Delimiters() != tt.d {
			t.Errorf("%s: Delimiters = %+v", tt.raw, owned.Delimiters())
		}
		if string(owned.Raw()) != tt.raw {
			t.Errorf("Raw = %q", owned.Raw())
		}
	}
}

func TestIndexSep(t *testing.T) {
	// Every length and separator position, including bytes next to the
	// separator that differ from it by one bit (the classic false positives).
	for n := 0; n < 40; n++ {
		for at := -1; at < n; at++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = '*' ^ 1
				if i%3 == 0 {
					b[i] = 0
				}
			}
			want := -1
			if at >= 0 {
				b[at] = '*'
				want = at
			}
			for from := 0; from <= n; from++ {
				w := want
				if w < from {
					w = -1
					for i := from; i < n; i++ {
						if b[i] == '*' {
							w = i
							break
						}
					}
				}
				if got := indexSep(b, from, '*'); got != w {
					t.Fatalf("indexSep(%q, %d) = %d, want %d", b, from, got, w)
				}
			}
		}
	}
	if zeroBytes(0x0100010203000400) != 0x0080000000800080 {
		t.Errorf("zeroBytes = %#x", zeroBytes(0x0100010203000400))
	}
}

func TestZeroSegment(t *testing.T) {
	var s Segment
	if s.ID() != "" || s.Raw() != nil || s.Len() != 0 || s.Element(1) != "" || s.Component(1, 1) != "" ||
		s.Repetitions(1) != 0 || s.RepetitionComponent(1, 1, 1) != "" || s.Owned() || s.Delimiters() != (Delimiters{}) {
		t.Errorf("zero Segment is not empty")
	}
	if p := s.Pos(); p != (Position{}) {
		t.Errorf("zero Pos = %+v", p)
	}
	if c := s.Clone(); c.Raw() != nil {
		t.Errorf("Clone of zero segment has bytes")
	}
	_ = s.LogValue()
}

// TestCloneOutlivesRead reads with a one-byte reader, so the buffer is
// compacted and overwritten as reading goes on; clones must keep their bytes.
func TestCloneOutlivesRead(t *testing.T) {
	data := readFixture(t, "basic.x12")
	r := NewReader(iotest.OneByteReader(bytes.NewReader(data)))
	var clones []Segment
	var app []Segment
	var buf []byte
	for {
		s, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		clones = append(clones, s.Clone())
		var a Segment
		a, buf = s.AppendClone(buf)
		app = append(app, a)
	}
	for i, s := range clones {
		p := s.Pos()
		want := data[p.Offset : p.Offset+int64(len(s.Raw()))]
		if !bytes.Equal(s.Raw(), want) || !s.Owned() {
			t.Errorf("clone %d = %q, want %q", i, s.Raw(), want)
		}
		if !bytes.Equal(app[i].Raw(), want) || !app[i].Owned() || app[i].Pos() != p {
			t.Errorf("AppendClone %d = %q, want %q", i, app[i].Raw(), want)
		}
	}
}

func TestSegmentAllocations(t *testing.T) {
	owned := NewOwnedSegment([]byte("NM1*IL*1*DOE*JANE****MI*M123"), stdDelims, Position{})
	if n := testing.AllocsPerRun(100, func() { _ = owned.Element(3) }); n != 0 {
		t.Errorf("Element on an owned segment allocates %v times", n)
	}
	e := owned.Element(3)
	if unsafe.StringData(e) != &owned.Raw()[9] {
		t.Errorf("Element on an owned segment copies")
	}
	ebuf := make([][]byte, 0, 16)
	if n := testing.AllocsPerRun(100, func() {
		_ = owned.ElementBytes(9)
		_ = owned.ComponentBytes(9, 1)
		_ = owned.ID()
		_ = owned.AppendElements(ebuf[:0])
	}); n != 0 {
		t.Errorf("ElementBytes/ComponentBytes/ID allocate %v times", n)
	}
	view := readSegment(t, tiny837, "NM1")
	view.info &^= flagOwned // make it a view again
	if n := testing.AllocsPerRun(100, func() { _ = view.Element(3) }); n != 1 {
		t.Errorf("Element on a view allocates %v times, want 1 (a copy)", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = view.Clone() }); n != 1 {
		t.Errorf("Clone allocates %v times, want 1", n)
	}
	var buf []byte
	buf = make([]byte, 0, 1<<10)
	if n := testing.AllocsPerRun(10, func() { _, _ = view.AppendClone(buf[:0]) }); n != 0 {
		t.Errorf("AppendClone allocates %v times with room in dst", n)
	}
}

func TestReadDoesNotAllocate(t *testing.T) {
	data := readFixture(t, "basic.x12")
	big := bytes.Repeat([]byte("NTE*ADD*SOME NOTE TEXT~\n"), 5000)
	// Splice many segments into the transaction set and fix SE01.
	i := bytes.Index(data, []byte("SE*13*0001"))
	input := append(append(append([]byte{}, data[:i]...), big...), []byte("SE*5013*0001~\nGE*1*1~\nIEA*1*000000001~\n")...)
	r := NewReader(bytes.NewReader(input))
	for {
		s, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		if s.ID() == "NTE" {
			break
		}
	}
	if n := testing.AllocsPerRun(4000, func() {
		if _, err := r.Read(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Read allocates %v times per segment", n)
	}
}

func TestWithLoop(t *testing.T) {
	s := readSegment(t, tiny837, "CLM")
	l := s.WithLoop("2300")
	if l.Pos().Loop != "2300" || s.Pos().Loop != "" {
		t.Errorf("WithLoop: %q, original %q", l.Pos().Loop, s.Pos().Loop)
	}
	if l.Pos().Transaction != "0001" || l.Pos().Offset != s.Pos().Offset {
		t.Errorf("WithLoop lost the position: %+v", l.Pos())
	}
	if n := testing.AllocsPerRun(10, func() { _ = l.WithLoop("2300") }); n != 0 {
		t.Errorf("WithLoop with the same loop allocates")
	}
}

func TestSegmentLogValue(t *testing.T) {
	s := readSegment(t, tiny837, "NM1").WithLoop("2010BA")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("segment", "seg", s)
	out := buf.String()
	for _, want := range []string{`"id":"NM1"`, `"loop":"2010BA"`, `"st02":"0001"`, `"offset":`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %s lacks %s", out, want)
		}
	}
	if strings.Contains(out, "DOE") || strings.Contains(out, "M123") {
		t.Errorf("log leaks element values: %s", out)
	}
}

func TestIDCodes(t *testing.T) {
	seen := map[string]bool{}
	for code := 1; code <= idCodes; code++ {
		id := idString(uint16(code))
		if len(id) < 2 || len(id) > 3 || seen[id] {
			t.Fatalf("code %d: id %q", code, id)
		}
		seen[id] = true
		if got := idCode([]byte(id+"*X"), '*'); got != uint16(code) {
			t.Fatalf("idCode(%q) = %d, want %d", id, got, code)
		}
	}
	for _, bad := range []string{"", "A", "1AB", "ab", "ABCD", "A-B", "AB\x00", "ZZCANARYZZ"} {
		if c := idCode([]byte(bad), '*'); c != codeNone {
			t.Errorf("idCode(%q) = %d, want none", bad, c)
		}
	}
	if idString(0) != "" || idString(idCodes+1) != "" {
		t.Error("idString of invalid codes")
	}
}
