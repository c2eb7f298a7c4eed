package x12

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/fhirsync/fhirsync/x12/internal/gen"
)

// FuzzReader checks that no input makes the Reader panic or loop, that every
// segment is a true view of the input at its offset, that reading one byte at
// a time gives the same result as reading large blocks, and that error strings
// stay short (they hold positions and codes, never values).
func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "reader", "*.x12"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		mode := uint8(0)
		if strings.Contains(name, "tolerant") {
			mode = 1
		}
		f.Add(data, mode)
	}
	f.Add(gen.Generate837P(3, 1), uint8(0))
	f.Add(gen.Generate837P(2, 2), uint8(6))
	for mode := uint8(1); mode < 8; mode++ {
		f.Add([]byte(tiny837), mode)
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		block := fuzzRead(t, NewReader(bytes.NewReader(data)), mode, data)
		one := fuzzRead(t, NewReader(iotest.OneByteReader(bytes.NewReader(data))), mode, data)
		if !equal(block, one) {
			t.Fatalf("one byte at a time differs:\n%s\nwant\n%s", strings.Join(one, "\n"), strings.Join(block, "\n"))
		}
	})
}

func fuzzRead(t *testing.T, r *Reader, mode uint8, data []byte) []string {
	r.TolerantISA = mode&1 != 0
	r.Lenient = mode&2 != 0
	if mode&4 != 0 {
		r.MaxSegmentLength = 64
	}
	var trace []string
	r.OnWarning = func(e *SyntaxError) { trace = append(trace, "warn "+checkErr(t, e)) }
	lastOff := int64(-1)
	var last error
	limit := 4*len(data) + 64
	for i := 0; ; i++ {
		if i > limit {
			t.Fatalf("no end after %d reads of %d bytes", i, len(data))
		}
		s, err := r.Read()
		if err == io.EOF {
			return append(trace, "eof")
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if err == last {
				return append(trace, "fatal "+err.Error())
			}
			last = err
			trace = append(trace, "err "+checkErr(t, se))
			continue
		}
		last = nil
		raw := s.Raw()
		p := s.Pos()
		if len(raw) == 0 {
			t.Fatalf("empty segment at %d", p.Offset)
		}
		if p.Offset <= lastOff || p.Offset+int64(len(raw)) > int64(len(data)) || !bytes.Equal(raw, data[p.Offset:p.Offset+int64(len(raw))]) {
			t.Fatalf("segment at %d (len %d) is not the input there (last offset %d)", p.Offset, len(raw), lastOff)
		}
		lastOff = p.Offset
		if id := s.ID(); id != "" && !bytes.HasPrefix(raw, []byte(id)) {
			t.Fatalf("id %q of segment %q", id, raw)
		}
		if r.MaxSegmentLength > 0 && len(raw) > r.MaxSegmentLength && s.ID() != "ISA" {
			t.Fatalf("segment of %d bytes over the limit", len(raw))
		}
		for i := 0; i <= s.Len()+1; i++ {
			_ = s.Component(i, 1)
			_ = s.RepetitionComponent(i, 2, 1)
			_ = s.Repetitions(i)
		}
		trace = append(trace, segLine(s))
	}
}

func checkErr(t *testing.T, e *SyntaxError) string {
	msg := e.Error()
	if len(msg) > 400 {
		t.Fatalf("error string of %d bytes: %q", len(msg), msg)
	}
	return msg
}
