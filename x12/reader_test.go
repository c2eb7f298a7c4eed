package x12

import (
	"bytes"

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
