package x12

import (
	"bytes"
	"testing/iotest"

	"errors"
	"github.com/fhirsync/fhirsync/x12/internal/gen"
	"io"
	"strings"
	"testing"
)

// tiny837 is a small, valid 837P interchange (synthetic data).
const tiny837 = "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240102*1230*^*00501*000000001*0*T*:~" +
	"GS*HC*SENDER*RECEIVER*20240102*1230*1*X*005010X222A1~" +
	"ST*837*0001*005010X222A1~" +
	"BHT*0019*00*REF1*20240102*1230*CH~" +
	"NM1*IL*1*DOE*JANE****MI*M123~" +
	"CLM*PCN1*100***11:B:1*Y*A*Y*Y~" +
	"HI*ABK:J449^ABF:E119~" +
	"SE*6*0001~" +
	"GE*1*1~" +
	"IEA*1*000000001~"

func readAll(t testing.TB, r *Reader) (ids []string, errs []error) {
	t.Helper()
	for i := 0; i < 1_000_000; i++ {
		s, err := r.Read()
		if err == io.EOF {
			return ids, errs
		}
		if err != nil {
			errs = append(errs, err)
			var se *SyntaxError
			if !errors.As(err, &se) {
				return ids, errs
			}
			if r.fatal != nil && r.fatal != io.EOF {
				return ids, errs
			}
			continue
		}
		ids = append(ids, s.ID())
	}
	t.Fatal("reader does not end")
	return
}

func TestReaderBasic(t *testing.T) {
	r := NewReader(strings.NewReader(tiny837))
	ids, errs := readAll(t, r)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := "ISA GS ST BHT NM1 CLM HI SE GE IEA"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("ids = %q, want %q", got, want)
	}
}

func TestSegmentAccess(t *testing.T) {
	r := NewReader(strings.NewReader(tiny837))
	for {
		s, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		if s.ID() != "CLM" {
			continue
		}
		if got := s.Component(5, 3); got != "1" {
			t.Errorf("CLM05-3 = %q", got)
		}
		if got := s.Element(1); got != "PCN1" {
			t.Errorf("CLM01 = %q", got)
		}
		p := s.Pos()
		if p.Index != 4 || p.Transaction != "0001" || p.Group != "1" || p.Interchange != "000000001" {
			t.Errorf("pos = %+v", p)
		}
		return
	}
}

func TestGeneratedPassesStrictChecks(t *testing.T) {
	for _, claims := range []int{0, 1, 999, 1000, 1001, 2500} {
		data := gen.Generate837P(claims, int64(claims))
		r := NewReader(bytes.NewReader(data))
		ids, errs := readAll(t, r)
		if len(errs) != 0 {
			t.Fatalf("claims=%d: %v", claims, errs[0])
		}
		n := 0
		for _, id := range ids {
			if id == "CLM" {
				n++
			}
		}
		if n != claims {
			t.Fatalf("claims=%d: read %d CLM", claims, n)
		}
	}
}

func TestReaderEnvelope(t *testing.T) {
	r := NewReader(bytes.NewReader(readFixture(t, "multi.x12")))
	var sawST, sawSE, sawGE, sawSecond bool
	for {
		s, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		env := r.Envelope()
		switch s.ID() {
		case "ST":
			sawST = true
			if env.ST.ID != "837" || env.ST.Control != s.Element(2) || env.ST.Convention != "005010X222A1" ||
				env.GS.FunctionalID != "HC" || env.GS.Version != "005010X222A1" || env.ISA.SenderID != "SUBMITTER" ||
				env.ISA.SenderQualifier != "ZZ" || env.ISA.Version != "00501" || env.ISA.Usage != "T" {
				t.Errorf("envelope at ST: %+v", env)
			}
		case "SE":
			sawSE = true
			if env.ST.Control != s.Element(2) {
				t.Errorf("ST header cleared before SE was handled: %+v", env.ST)
			}
		case "GE":
			sawGE = true
			if env.ST != (STHeader{}) || env.GS.Control != s.Element(2) {
				t.Errorf("envelope at GE: %+v", env)
			}
		case "ISA":
			if env.ISA.Control == "000000002" {
				sawSecond = true
				if d := r.Delimiters(); d != (Delimiters{Element: '|', Repetition: '^', Component: '>', Segment: 0x1c}) || s.Delimiters() != d {
					t.Errorf("second interchange delimiters = %+v", d)
				}
			}
		}
		if r.InputOffset() != s.Pos().Offset+int64(len(s.Raw()))+1 {
			t.Errorf("%s: InputOffset %d, segment at %d len %d", s.ID(), r.InputOffset(), s.Pos().Offset, len(s.Raw()))
		}
	}
	if !sawST || !sawSE || !sawGE || !sawSecond {
		t.Error("not every envelope segment was seen")
	}
}

func TestCanaryInDiagnosticsOnly(t *testing.T) {
	// Diagnostics keeps the offending value, so the canary tests have teeth.
	for _, name := range []string{"se_count.x12", "se_control.x12", "ge_control.x12", "iea_count.x12", "bad_st02.x12", "bad_gs06.x12", "bad_segment_id.x12"} {
		r := NewReader(bytes.NewReader(readFixture(t, name)))
		found := false
		for i := 0; i < 1000; i++ {
			_, err := r.Read()
			if err == io.EOF {
				break
			}
			var se *SyntaxError
			if errors.As(err, &se) {
				if strings.Contains(se.Error(), canary) {
					t.Errorf("%s: canary in Error(): %s", name, se.Error())
				}
				if strings.Contains(se.Diagnostics(), canary) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: no Diagnostics() carries the offending value", name)
		}
	}
}

func TestTooLong(t *testing.T) {
	data := readFixture(t, "long_segment.x12")
	r := NewReader(bytes.NewReader(data))
	r.MaxSegmentLength = 64
	res := run(t, r)
	if res.fatal == nil || !errors.Is(res.fatal, ErrTooLong) {
		t.Fatalf("fatal = %v, want ErrTooLong", res.fatal)
	}
	if strings.Contains(res.fatal.Error(), canary) {
		t.Errorf("canary in %s", res.fatal)
	}
	// The same file reads with the default limit.
	if res := run(t, NewReader(bytes.NewReader(data))); res.fatal != nil || len(res.errs) != 0 {
		t.Errorf("default limit: %v %v", res.fatal, res.errs)
	}
}

// endless yields the same bytes forever.
type endless struct {
	pattern []byte
	n       int64
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.pattern[(e.n+int64(i))%int64(len(e.pattern))]
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestBoundedMemoryOnGarbage(t *testing.T) {
	isa := tiny837[:106]
	tests := []struct {
		name   string
		prefix string
		fill   string
		want   error
	}{
		{"no terminator after ISA", isa, "ZZCANARYZZ*", ErrTooLong},
		{"no terminator in a transaction set", isa + "GS*HC*A*B*20240101*1200*1*X*005010X222A1~ST*837*0001~", "ABCDEFGH", ErrTooLong},
		{"no ISA", "", "ZZCANARYZZ", ErrISA},
	}
	for _, tt := range tests {
		src := io.MultiReader(strings.NewReader(tt.prefix), &endless{pattern: []byte(tt.fill)})
		r := NewReader(src)
		r.MaxSegmentLength = 4096
		var err error
		for i := 0; i < 100; i++ {
			if _, err = r.Read(); err != nil && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrISA) {
				continue
			}
			if err != nil {
				break
			}
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
		if len(r.buf) > 2*initialBufSize {
			t.Errorf("%s: buffer grew to %d bytes", tt.name, len(r.buf))
		}
		if err != nil && strings.Contains(err.Error(), canary) {
			t.Errorf("%s: canary in %s", tt.name, err)
		}
	}
}

func TestSegmentsOutsideEnvelopeBounded(t *testing.T) {
	// An endless run of segments between GS and ST is skipped without
	// growing memory; stop it after a while with a limited reader.
	prefix := tiny837[:106] + "GS*HC*A*B*20240101*1200*1*X*005010X222A1~"
	src := io.MultiReader(strings.NewReader(prefix), io.LimitReader(&endless{pattern: []byte("NM1*IL*1*ZZCANARYZZ~")}, 20*400000))
	r := NewReader(src)
	res := run(t, r)
	if want := []string{"UnexpectedSegment TA1=024", "MissingSegment AK9=3", "MissingSegment TA1=023"}; !equal(res.errs, want) {
		t.Errorf("errors = %q, want %q", res.errs, want)
	}
	if len(r.buf) > initialBufSize {
		t.Errorf("buffer grew to %d bytes", len(r.buf))
	}
}

func TestReaderIOErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	tests := []struct {
		name string
		src  io.Reader
		want error
	}{
		{"error at start", iotest.ErrReader(boom), boom},
		{"error inside ISA", io.MultiReader(strings.NewReader(tiny837[:50]), iotest.ErrReader(boom)), boom},
		{"error in a transaction set", io.MultiReader(strings.NewReader(tiny837[:300]), iotest.ErrReader(boom)), boom},
		{"timeout", iotest.TimeoutReader(iotest.HalfReader(strings.NewReader(tiny837))), iotest.ErrTimeout},
	}
	for _, tt := range tests {
		r := NewReader(tt.src)
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			_, err = r.Read()
		}
		if err != tt.want {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			continue
		}
		if _, err2 := r.Read(); err2 != tt.want {
			t.Errorf("%s: error is not sticky: %v", tt.name, err2)
		}
	}
	// Data returned with io.EOF in the same call is read.
	r := NewReader(iotest.DataErrReader(strings.NewReader(tiny837)))
	if res := run(t, r); len(res.errs) != 0 || len(res.ids) != 10 {
		t.Errorf("DataErrReader: %q %q", res.ids, res.errs)
	}
}

func TestWarningsKept(t *testing.T) {
	r := NewReader(bytes.NewReader(readFixture(t, "se_control.x12")))
	r.Lenient = true
	for {
		_, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	w := r.Warnings()
	if len(w) != 1 || !errors.Is(w[0], ErrControlNumber) || w[0].IK5 != "3" || w[0].Pos.SegmentID != "SE" || w[0].Pos.Element != 2 {
		t.Errorf("Warnings() = %v", w)
	}
}
