package x12

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const canary = "ZZCANARYZZ"

var sentinels = []struct {
	name string
	err  error
}{
	{"ISA", ErrISA}, {"Delimiters", ErrDelimiters}, {"SegmentCount", ErrSegmentCount}, {"ControlNumber", ErrControlNumber},
	{"GroupCount", ErrGroupCount}, {"InterchangeCount", ErrInterchangeCount}, {"UnexpectedSegment", ErrUnexpectedSegment},
	{"MissingSegment", ErrMissingSegment}, {"Envelope", ErrEnvelope}, {"Truncated", ErrTruncated}, {"SegmentID", ErrSegmentID},
	{"InvalidValue", ErrInvalidValue}, {"TooLong", ErrTooLong},
}

// short names an error by its sentinel and codes, e.g. "SegmentCount IK5=4".
func short(err error) string {
	var se *SyntaxError
	if !errors.As(err, &se) {
		return "other(" + err.Error() + ")"
	}
	name := "?"
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			name = s.name
			break
		}
	}
	for _, c := range [...]struct{ k, v string }{{"IK3", se.IK3}, {"IK4", se.IK4}, {"IK5", se.IK5}, {"AK9", se.AK9}, {"TA1", se.TA1}} {
		if c.v != "" {
			name += " " + c.k + "=" + c.v
		}
	}
	return name
}

// result is what reading a whole input gives.
type result struct {
	trace    []string // one line per Read result and per warning
	ids      []string
	errs     []string // short names of errors returned by Read
	warnings []string // short names of lenient findings
	all      []*SyntaxError
	fatal    error
}

func segLine(s Segment) string {
	p := s.Pos()
	return fmt.Sprintf("seg %s off=%d idx=%d isa13=%s gs06=%s st02=%s len=%d", s.ID(), p.Offset, p.Index, p.Interchange, p.Group, p.Transaction, s.Len())
}

// run reads r to the end. It stops at io.EOF or when the same error comes
// twice in a row (a fatal error).
func run(t testing.TB, r *Reader) result {
	t.Helper()
	var res result
	r.OnWarning = func(e *SyntaxError) {
		res.trace = append(res.trace, "warn "+e.Error())
		res.warnings = append(res.warnings, short(e))
		res.all = append(res.all, e)
	}
	var last error
	for i := 0; i < 100000; i++ {
		s, err := r.Read()
		if err == io.EOF {
			res.trace = append(res.trace, "eof")
			if _, err2 := r.Read(); err2 != io.EOF {
				t.Errorf("Read after io.EOF = %v", err2)
			}
			return res
		}
		if err != nil {
			if last != nil && err == last {
				res.fatal = err
				return res
			}
			last = err
			res.trace = append(res.trace, "err "+err.Error())
			res.errs = append(res.errs, short(err))
			var se *SyntaxError
			if errors.As(err, &se) {
				res.all = append(res.all, se)
			} else {
				res.fatal = err
				return res
			}
			if s.Raw() != nil || s.ID() != "" {
				t.Errorf("Read returned a segment with an error")
			}
			continue
		}
		last = nil
		res.trace = append(res.trace, segLine(s))
		res.ids = append(res.ids, s.ID())
	}
	t.Fatal("reader does not end")
	return res
}

type fixture struct {
	file     string
	tolerant bool
	segs     int      // segments returned in strict mode (-1: do not check)
	errs     []string // errors returned by Read in strict mode, in order
	fatal    string   // short name of the sticky error, "" when reading ends with io.EOF
	warnings []string // lenient findings, in order; nil means the same as errs
	lenErrs  []string // errors returned by Read in lenient mode
}

var fixtures = []fixture{
	{file: "basic.x12", segs: 17},
	{file: "no_newlines.x12", segs: 17},
	{file: "crlf.x12", segs: 17},
	{file: "lf_terminator.x12", segs: 17},
	{file: "cr_terminator_crlf.x12", segs: 17},
	{file: "bom_leading_space.x12", segs: 17},
	{file: "control_delimiters.x12", segs: 17},
	{file: "tilde_element.x12", segs: 17},
	{file: "pipe_bang.x12", segs: 17},
	{file: "high_bytes.x12", segs: 17},
	{file: "isa11_u_4010.x12", segs: 17},
	{file: "multi.x12", segs: 45 + 43},
	{file: "ta1.x12", segs: 18},
	{file: "empty.x12", segs: 0},
	{file: "whitespace_only.x12", segs: 0},
	{file: "bom_only.x12", segs: 0},
	{file: "empty_segments.x12", segs: 17},
	{file: "unknown_ids.x12", segs: 20},
	{file: "long_segment.x12", segs: 18},
	{file: "tolerant_isa_ok.x12", tolerant: true, segs: 17},
	{file: "tolerant_isa.x12", tolerant: true, segs: 17, errs: []string{"InvalidValue TA1=018"}},
	{file: "isa_not_fixed.x12", segs: 0, errs: []string{"ISA"}, fatal: "ISA"},
	{file: "tolerant_isa.x12", segs: 0, errs: []string{"ISA"}, fatal: "ISA"},
	{file: "se_count.x12", segs: 17, errs: []string{"SegmentCount IK5=4"}},
	{file: "se_count_number.x12", segs: 17, errs: []string{"SegmentCount IK5=4"}},
	{file: "se_control.x12", segs: 17, errs: []string{"ControlNumber IK5=3"}},
	{file: "ge_count.x12", segs: 17, errs: []string{"GroupCount AK9=5"}},
	{file: "ge_control.x12", segs: 17, errs: []string{"ControlNumber AK9=4"}},
	{file: "iea_count.x12", segs: 17, errs: []string{"InterchangeCount TA1=021"}},
	{file: "iea_control.x12", segs: 17, errs: []string{"ControlNumber TA1=001"}},
	{file: "iea_control_unpadded.x12", segs: 17},
	{file: "missing_se.x12", segs: 16, errs: []string{"MissingSegment IK5=2"}},
	{file: "missing_ge.x12", segs: 16, errs: []string{"MissingSegment AK9=3"}},
	{file: "missing_iea.x12", segs: 16, errs: []string{"MissingSegment TA1=023"}},
	{file: "missing_se_before_st.x12", segs: 30, errs: []string{"MissingSegment IK5=2"}},
	{file: "missing_se_ge_before_gs.x12", segs: 30, errs: []string{"MissingSegment IK5=2", "MissingSegment AK9=3"}},
	{file: "eof_in_transaction.x12", segs: 11, errs: []string{"MissingSegment IK5=2", "MissingSegment AK9=3", "MissingSegment TA1=023"}},
	{file: "truncated_segment.x12", segs: 9,
		errs:     []string{"Truncated TA1=023", "MissingSegment IK5=2", "MissingSegment AK9=3", "MissingSegment TA1=023"},
		warnings: []string{"Truncated TA1=023", "MissingSegment IK5=2", "MissingSegment AK9=3", "MissingSegment TA1=023"}},
	{file: "truncated_final_terminator.x12", segs: 16,
		errs: []string{"Truncated TA1=023", "MissingSegment TA1=023"}, warnings: []string{"Truncated TA1=023"}},
	{file: "truncated_isa.x12", segs: 0, errs: []string{"Truncated TA1=023"}, fatal: "Truncated TA1=023"},
	{file: "truncated_isa_tolerant.x12", tolerant: true, segs: 0, errs: []string{"Truncated TA1=023"}, fatal: "Truncated TA1=023"},
	{file: "not_x12.x12", segs: 0, errs: []string{"ISA"}, fatal: "ISA"},
	{file: "delims_not_distinct.x12", segs: 0, errs: []string{"Delimiters TA1=026"}, fatal: "Delimiters TA1=026"},
	{file: "delim_alnum.x12", segs: 0, errs: []string{"Delimiters TA1=004"}, fatal: "Delimiters TA1=004"},
	{file: "repetition_same.x12", segs: 0, errs: []string{"Delimiters TA1=026"}, fatal: "Delimiters TA1=026"},
	{file: "outside_between_gs_st.x12", segs: 17, errs: []string{"UnexpectedSegment TA1=024"}},
	{file: "outside_between_isa_gs.x12", segs: 17, errs: []string{"UnexpectedSegment TA1=024"}},
	{file: "outside_after_iea.x12", segs: 34, errs: []string{"UnexpectedSegment TA1=024"}},
	{file: "garbage_after_iea.x12", segs: 17, errs: []string{"UnexpectedSegment TA1=024"}},
	{file: "st_without_gs.x12", segs: 15, errs: []string{"MissingSegment TA1=024", "MissingSegment AK9=3"}},
	{file: "se_without_st.x12", segs: 17, errs: []string{"UnexpectedSegment TA1=024"}},
	{file: "nested_isa.x12", segs: 11 + 17, errs: []string{"MissingSegment IK5=2", "MissingSegment AK9=3", "MissingSegment TA1=023"}},
	{file: "bad_st02.x12", segs: 17, errs: []string{"InvalidValue IK5=7"}},
	{file: "bad_gs06.x12", segs: 17, errs: []string{"InvalidValue AK9=6"}},
	{file: "bad_segment_id.x12", segs: 17, errs: []string{"SegmentID IK3=1", "SegmentID IK3=1", "SegmentID IK3=1", "SegmentID IK3=1"},
		warnings: []string{}, lenErrs: []string{"SegmentID IK3=1", "SegmentID IK3=1", "SegmentID IK3=1", "SegmentID IK3=1"}},
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "reader", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReaderFixtures(t *testing.T) {
	for _, f := range fixtures {
		name := f.file
		if f.tolerant {
			name += "/tolerant"
		}
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, f.file)

			// Strict.
			r := NewReader(bytes.NewReader(data))
			r.TolerantISA = f.tolerant
			strict := run(t, r)
			if f.segs >= 0 && len(strict.ids) != f.segs {
				t.Errorf("strict: %d segments, want %d", len(strict.ids), f.segs)
			}
			if !equal(strict.errs, f.errs) {
				t.Errorf("strict errors:\n got %q\nwant %q", strict.errs, f.errs)
			}
			if len(strict.warnings) != 0 {
				t.Errorf("strict mode warned: %q", strict.warnings)
			}
			gotFatal := ""
			if strict.fatal != nil {
				gotFatal = short(strict.fatal)
			}
			if gotFatal != f.fatal {
				t.Errorf("fatal = %q, want %q", gotFatal, f.fatal)
			}

			// Lenient: envelope findings become warnings.
			lr := NewReader(bytes.NewReader(data))
			lr.TolerantISA = f.tolerant
			lr.Lenient = true
			lenient := run(t, lr)
			wantWarn, wantErrs := f.warnings, f.lenErrs
			if wantWarn == nil {
				wantWarn = f.errs
				if f.fatal != "" {
					wantWarn, wantErrs = nil, f.errs
				}
			}
			if !equal(lenient.warnings, wantWarn) {
				t.Errorf("lenient warnings:\n got %q\nwant %q", lenient.warnings, wantWarn)
			}
			if !equal(lenient.errs, wantErrs) {
				t.Errorf("lenient errors:\n got %q\nwant %q", lenient.errs, wantErrs)
			}

			// One byte at a time gives the same result.
			or := NewReader(iotest.OneByteReader(bytes.NewReader(data)))
			or.TolerantISA = f.tolerant
			if one := run(t, or); !equal(one.trace, strict.trace) {
				t.Errorf("one byte at a time:\n%s\nwant\n%s", strings.Join(one.trace, "\n"), strings.Join(strict.trace, "\n"))
			}

			// No error string carries the canary; positions are PHI-free too.
			for _, e := range append(strict.all, lenient.all...) {
				if strings.Contains(e.Error(), canary) || strings.Contains(e.Pos.String(), canary) {
					t.Errorf("canary in error: %s", e.Error())
				}
			}

			golden(t, f, strict.trace, lenient.trace)
		})
	}
}

func golden(t *testing.T, f fixture, strict, lenient []string) {
	t.Helper()
	name := strings.TrimSuffix(f.file, ".x12")
	if f.tolerant {
		name += ".tolerant"
	}
	path := filepath.Join("testdata", "reader", name+".golden")
	got := "# strict\n" + strings.Join(strict, "\n") + "\n# lenient\n" + strings.Join(lenient, "\n") + "\n"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("trace differs from %s (run go test -update after checking):\n%s", path, got)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
