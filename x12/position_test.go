package x12

import (
	"errors"
	"strings"
	"testing"
)

func TestPositionString(t *testing.T) {
	tests := []struct {
		p    Position
		want string
	}{
		{Position{}, "offset 0"},
		{Position{Offset: 1234, Index: 17, SegmentID: "CLM", Loop: "2300", Element: 2, Interchange: "000000001", Group: "1", Transaction: "0001"},
			"offset 1234, segment 17 CLM (loop 2300), element 2, ISA13 000000001 GS06 1 ST02 0001"},
		{Position{Offset: 5, SegmentID: "GS", Element: 6, Component: 1, Interchange: "000000001"},
			"offset 5, segment GS, element 6, component 1, ISA13 000000001"},
		{Position{Offset: 9, Index: 3}, "offset 9, segment 3"},
		{Position{Offset: 9, Transaction: "0001"}, "offset 9, ST02 0001"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestSyntaxError(t *testing.T) {
	e := &SyntaxError{
		Pos: Position{Offset: 10, Index: 2, SegmentID: "SE", Element: 1, Transaction: "0001"},
		Err: ErrSegmentCount, IK5: "4", detail: "counted 3", value: canary,
	}
	want := "x12: SE01 does not match the number of segments (counted 3) at offset 10, segment 2 SE, element 1, ST02 0001 [IK5 4]"
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if !errors.Is(e, ErrSegmentCount) || errors.Unwrap(e) != ErrSegmentCount {
		t.Error("Unwrap does not give the sentinel")
	}
	if d := e.Diagnostics(); !strings.HasPrefix(d, want) || !strings.Contains(d, canary) {
		t.Errorf("Diagnostics() = %q", d)
	}
	all := &SyntaxError{Err: ErrTruncated, IK3: "1", IK4: "2", IK5: "3", AK9: "4", TA1: "023"}
	if got := all.Error(); got != "x12: truncated input at offset 0 [IK3 1 IK4 2 IK5 3 AK9 4 TA1 023]" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&SyntaxError{}).Error(); got != "x12: syntax error at offset 0" {
		t.Errorf("Error() = %q", got)
	}
}
