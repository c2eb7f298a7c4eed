package x12

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	moovfile "github.com/moov-io/x12/pkg/file"
	moov837p "github.com/moov-io/x12/rule_5010_837p"
)

// Peer benchmark: github.com/moov-io/x12 v0.1.0, whose whole-interchange parse
// is file.Interchange.Parse(string, componentSeparator). It needs the segments
// back to back (no newlines) and the '*' and '~' delimiters, and builds every
// segment of the interchange as a struct in memory.
//
// It cannot parse the generated 837P: its 5010 837P rules reject REF*6R (line
// item control number, loop 2400), HL02 in loop 2000C (the parent id the guide
// requires) and NM104 (first name) in loop 2010CA, and then return
// "unable to parse group section" for the whole file. So it is measured on its
// own sample 837P transaction set (read from the module cache, not copied into
// this repository), repeated to over 10 MB, and BenchmarkReaderMoovSample reads
// the same bytes with our Reader.

const moovTargetSize = 10 << 20

var moovSample = sync.OnceValues(func() ([]byte, error) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "github.com", "moov-io", "x12@v0.1.0", "examples", "example_5010_837p", "sample.txt")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.ReplaceAll(strings.ReplaceAll(string(raw), "\r", ""), "\n", "")
	st, ge := strings.Index(s, "ST*"), strings.Index(s, "GE*")
	if st < 0 || ge < st {
		return nil, fmt.Errorf("unexpected sample layout")
	}
	head, body := s[:st], s[st:ge]
	// Renumber ST02/SE02 so that every transaction set has its own control number.
	control := strings.Split(body, "*")[2] // ST*837*<ST02>*...
	var b bytes.Buffer
	b.WriteString(head)
	n := 0
	for b.Len() < moovTargetSize {
		n++
		tx := strings.ReplaceAll(body, "*"+control+"*", fmt.Sprintf("*%09d*", n)) // ST02
		tx = strings.ReplaceAll(tx, "*"+control+"~", fmt.Sprintf("*%09d~", n))    // SE02
		b.WriteString(tx)
	}
	// GE and IEA with the right counts; GS06 and ISA13 of the sample.
	gs := strings.Split(head[strings.Index(head, "GS*"):], "*")
	isa13 := strings.Split(head, "*")[13]
	fmt.Fprintf(&b, "GE*%d*%s~IEA*1*%s~", n, gs[6], isa13)
	return b.Bytes(), nil
})

// BenchmarkMoovX12 parses the repeated moov-io sample with moov-io/x12.
func BenchmarkMoovX12(b *testing.B) {
	gen837 := strings.ReplaceAll(string(benchData()), "\n", "")
	if n, err := moovfile.NewInterchange(&moov837p.InterchangeRule).Parse(gen837, ":"); err == nil && n == len(gen837) {
		b.Log("moov-io/x12 now parses the generated 837P: measure it on that file")
	}
	data, err := moovSample()
	if err != nil {
		b.Skipf("moov-io/x12 sample not available: %v", err)
	}
	in := string(data)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		ic := moovfile.NewInterchange(&moov837p.InterchangeRule)
		n, err := ic.Parse(in, "<")
		if err != nil || n != len(in) {
			b.Fatalf("moov-io/x12 parsed %d of %d bytes: %v", n, len(in), err)
		}
	}
}

// BenchmarkReaderMoovSample reads the same bytes as BenchmarkMoovX12 with the
// Reader, touching every segment id.
func BenchmarkReaderMoovSample(b *testing.B) {
	data, err := moovSample()
	if err != nil {
		b.Skipf("moov-io/x12 sample not available: %v", err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	br := bytes.NewReader(data)
	for b.Loop() {
		br.Reset(data)
		r := NewReader(br)
		n := 0
		for {
			s, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if s.ID() == "CLM" {
				n++
			}
		}
		if n == 0 {
			b.Fatal("no claims")
		}
	}
}
