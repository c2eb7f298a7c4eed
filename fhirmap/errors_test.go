package fhirmap

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

func TestPositionString(t *testing.T) {
	cases := []struct {
		name string
		pos  Position
		want string
	}{
		{"zero", Position{}, "unknown position"},
		{"full", Position{Offset: 812, Index: 9, SegmentID: "CLM", Loop: "2300", Element: 5, Component: 3, Interchange: "000000001", Group: "1", Transaction: "0001", Record: 2},
			"record 2, offset 812, segment 9 CLM (loop 2300), element 5, component 3, ISA13 000000001 GS06 1 ST02 0001"},
		{"segment only", Position{Offset: 0, SegmentID: "ISA"}, "offset 0, segment ISA"},
		{"record only", Position{Record: 4}, "record 4"},
		{"envelope only", Position{Transaction: "0002"}, "ST02 0002"},
		{"component without element is dropped", Position{Offset: 10, SegmentID: "SV1", Component: 2}, "offset 10, segment SV1"},
		{"loop without segment", Position{Loop: "2010BA"}, "segment (loop 2010BA)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.pos.String(); got != c.want {
				t.Fatalf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	pos := Position{Offset: 812, Index: 9, SegmentID: "CLM", Loop: "2300", Element: 5, Component: 3, Record: 1}
	cases := []struct {
		name string
		err  *Error
		want string
	}{
		{"full", NewError(ErrInvalidCode, pos, "Claim.type", "CLM05-3 is not a claim frequency code"),
			"fhirmap: invalid code: Claim.type (CLM05-3 is not a claim frequency code) at record 1, offset 812, segment 9 CLM (loop 2300), element 5, component 3"},
		{"no detail", NewError(ErrMissing, Position{SegmentID: "NM1", Loop: "2010BA", Offset: 40}, "Patient.identifier", ""),
			"fhirmap: required data missing: Patient.identifier at offset 40, segment NM1 (loop 2010BA)"},
		{"no position", NewError(ErrUnsupported, Position{}, "", "837 version 004010"),
			"fhirmap: unsupported input (837 version 004010)"},
		{"no sentinel", NewError(nil, Position{Record: 3}, "Coverage.period", ""),
			"fhirmap: mapping error: Coverage.period at record 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.err.Error(); got != c.want {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestErrorIsAs(t *testing.T) {
	_, cause := strconv.Atoi("12x")
	e := NewError(ErrInvalidValue, Position{SegmentID: "SV1", Element: 4}, "Claim.item[0].quantity", "SV104 is not a number").WithCause(cause)
	var wrapped error = fmt.Errorf("record 7: %w", e)
	for _, target := range []error{ErrInvalidValue, strconv.ErrSyntax} {
		if !errors.Is(wrapped, target) {
			t.Errorf("errors.Is(%v) = false", target)
		}
	}
	if errors.Is(wrapped, ErrMissing) {
		t.Error("errors.Is(ErrMissing) = true")
	}
	var me *Error
	if !errors.As(wrapped, &me) || me.Path != "Claim.item[0].quantity" || me.Pos.Element != 4 || me.Detail() != "SV104 is not a number" {
		t.Fatalf("errors.As gave %+v", me)
	}
	var ne *strconv.NumError
	if !errors.As(wrapped, &ne) {
		t.Error("errors.As(*strconv.NumError) failed through the cause")
	}
	if got := NewError(nil, Position{}, "", "").Unwrap(); got != nil {
		t.Errorf("Unwrap of an empty error = %v", got)
	}
	if got := NewError(nil, Position{}, "", "").WithCause(cause).Unwrap(); len(got) != 1 {
		t.Errorf("Unwrap with only a cause = %v", got)
	}
}

// TestErrorCanary checks that the offending value and a cause that quotes input
// never reach Error() or the log, and do reach Diagnostics.
func TestErrorCanary(t *testing.T) {
	const canary = "ZZCANARYZZ"
	_, cause := strconv.ParseFloat(canary, 64) // its text quotes the input
	errs := []*Error{
		NewError(ErrInvalidValue, Position{Offset: 1, SegmentID: "DMG", Element: 2}, "Patient.birthDate", "DMG02 is not a CCYYMMDD date").WithValue(canary),
		NewError(ErrInvalidValue, Position{Record: 1}, "Claim.total", "CLM02 is not an amount").WithCause(cause),
		NewError(ErrMissing, Position{}, "Patient.name", "").WithValue("DOE " + canary).WithCause(cause),
	}
	for i, e := range errs {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		log.Error("mapping failed", "err", e)
		log.Error("mapping failed", slog.Any("err", e))
		for what, s := range map[string]string{"Error": e.Error(), "log": buf.String(), "fmt %v": fmt.Sprintf("%v", e), "wrapped": fmt.Errorf("x: %w", e).Error()} {
			if strings.Contains(s, canary) {
				t.Errorf("case %d: %s leaks the canary: %s", i, what, s)
			}
		}
		if !strings.Contains(buf.String(), e.Path) {
			t.Errorf("case %d: log lacks the path: %s", i, buf.String())
		}
		if !strings.Contains(e.Diagnostics(), canary) {
			t.Errorf("case %d: Diagnostics lacks the value: %s", i, e.Diagnostics())
		}
	}
}

func ExampleError() {
	err := NewError(ErrInvalidCode, Position{Offset: 812, Index: 9, SegmentID: "CLM", Loop: "2300", Element: 5, Component: 3, Transaction: "0001"},
		"Claim.type", "CLM05-3 is not a claim frequency code").WithValue("Q")
	fmt.Println(err)
	fmt.Println(errors.Is(err, ErrInvalidCode))
	// Output:
	// fhirmap: invalid code: Claim.type (CLM05-3 is not a claim frequency code) at offset 812, segment 9 CLM (loop 2300), element 5, component 3, ST02 0001
	// true
}
