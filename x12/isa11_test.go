package x12

import (
	"strings"
	"testing"
)

// TestISA11 reads the repetition separator from ISA11: a separator byte
// is one, while a letter or digit (4010's standards id "U") or a space (a
// malformed ISA11) means none, so that values are never cut at it.
func TestISA11(t *testing.T) {
	for _, tc := range []struct {
		isa11 byte
		want  byte
		value string // NM103 of the segment read
	}{
		{'^', '^', "SMITH JONES"},
		{'U', 0, "SMITH JONES"},
		{'5', 0, "SMITH JONES"},
		{' ', 0, "SMITH JONES"},
		{'!', '!', "SMITH JONES"},
	} {
		isa := []byte(tiny837[:106])
		isa[82] = tc.isa11
		in := string(isa) + "GS*HC*A*B*20240101*1200*1*X*005010X222A1~ST*837*0001*005010X222A1~NM1*41*2*SMITH JONES~SE*3*0001~GE*1*1~IEA*1*000000001~"
		r := NewReader(strings.NewReader(in))
		var got string
		for {
			s, err := r.Read()
			if err != nil {
				break
			}
			if s.ID() == "NM1" {
				got = s.Element(3)
				if n := s.Repetitions(3); n != 1 {
					t.Errorf("ISA11 %q: NM103 has %d repetitions, want 1", tc.isa11, n)
				}
				if d := s.Delimiters(); d.Repetition != tc.want {
					t.Errorf("ISA11 %q: repetition separator %q, want %q", tc.isa11, d.Repetition, tc.want)
				}
			}
		}
		if got != tc.value {
			t.Errorf("ISA11 %q: NM103 = %q, want %q", tc.isa11, got, tc.value)
		}
	}
}
