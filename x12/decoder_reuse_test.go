package x12

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirsync/fhirsync/x12/internal/gen"
)

// decEntriesJSON decodes input and returns the JSON of each result of Read
// (record or error, as in the golden files), marshaled before the next Read,
// and the text of each result's Diagnostics. With reuse, the record's memory
// is reused by the next Read: what is compared is what the caller could see.
func decEntriesJSON(t testing.TB, input []byte, reuse, lenient bool) (out []string) {
	t.Helper()
	d := NewDecoder(bytes.NewReader(input))
	d.ReuseRecord = reuse
	d.Lenient = lenient
	d.TolerantISA = lenient
	d.OnWarning = func(e *SyntaxError) { out = append(out, "warning "+e.Error()+" | "+e.Diagnostics()) }
	limit := len(input) + 16
	for n := 0; ; n++ {
		if n > limit {
			t.Fatalf("more than %d results from %d bytes", limit, len(input))
		}
		rec, err := d.Read()
		if err == io.EOF {
			return out
		}
		var e decGoldenEntry
		if err != nil {
			e.Error = err.Error()
			var se *SyntaxError
			if errors.As(err, &se) {
				e.Position = se.Pos.String() + " | " + se.Diagnostics()
			}
		} else {
			e = decGoldenEntry{Kind: rec.Kind(), Position: rec.Pos().String(), Transaction: rec.Envelope().ST.Control, Record: rec}
		}
		b, merr := json.Marshal(e)
		if merr != nil {
			t.Fatalf("marshal: %v", merr)
		}
		out = append(out, string(b)+decLoopsText(rec))
	}
}

// decLoopsText describes the loop tree of a record and its context (ids,
// positions and segment bytes), which the JSON leaves out.
func decLoopsText(rec Record) string {
	if rec == nil {
		return ""
	}
	var sb strings.Builder
	root := rec.Loop()
	for p := root.Parent; p != nil; p = p.Parent {
		sb.WriteString(" <" + p.ID + " " + p.Lead().Pos().String())
	}
	root.Walk(func(l *Loop) bool {
		sb.WriteString(" [" + l.ID)
		if l.Parent != nil {
			sb.WriteString(" in " + l.Parent.ID)
		}
		for _, s := range l.Segments {
			sb.WriteString(" " + s.Pos().String() + "=" + string(s.Raw()))
		}
		sb.WriteString("]")
		return true
	})
	return sb.String()
}

// TestDecoderReuseRecord checks that a Decoder with ReuseRecord yields, record
// by record, exactly what the default mode yields (JSON, positions, errors
// and loop trees), on every fixture and on a generated 837P, in strict and
// lenient mode.
func TestDecoderReuseRecord(t *testing.T) {
	files, err := filepath.Glob("testdata/decoder/*.x12")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	inputs := map[string][]byte{"generated": gen.Generate837P(500, 3)}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(f)] = b
	}
	for name, input := range inputs {
		for _, lenient := range []bool{false, true} {
			fresh := decEntriesJSON(t, input, false, lenient)
			reused := decEntriesJSON(t, input, true, lenient)
			if len(fresh) == 0 {
				t.Errorf("%s: no results", name)
			}
			if len(fresh) != len(reused) {
				t.Errorf("%s lenient=%v: %d results, %d with ReuseRecord", name, lenient, len(fresh), len(reused))
				continue
			}
			for i := range fresh {
				if fresh[i] != reused[i] {
					t.Errorf("%s lenient=%v: result %d differs with ReuseRecord:\n%s", name, lenient, i, decFirstDiff(fresh[i], reused[i]))
					break
				}
			}
		}
	}
}

// TestDecoderReuseRecordValues checks what stays valid after the next Read
// with ReuseRecord: strings and Segment values copied out of a record keep
// their content, while the record's structs are reused.
func TestDecoderReuseRecordValues(t *testing.T) {
	input := gen.Generate837P(50, 5)
	type kept struct {
		pcn, member, raw string
		seg              Segment
	}
	var want []kept
	for rec, err := range NewDecoder(bytes.NewReader(input)).Records() {
		if err != nil {
			t.Fatal(err)
		}
		c := rec.(*Claim837)
		want = append(want, kept{c.PatientControlNumber, c.Subscriber.Name.ID, string(c.Loop().Lead().Raw()), c.Loop().Lead()})
	}
	d := NewDecoder(bytes.NewReader(input))
	d.ReuseRecord = true
	var got []kept
	var first *Claim837
	reused := false
	for rec, err := range d.Records() {
		if err != nil {
			t.Fatal(err)
		}
		c := rec.(*Claim837)
		if first == nil {
			first = c
		} else if c == first {
			reused = true
		}
		got = append(got, kept{c.PatientControlNumber, c.Subscriber.Name.ID, string(c.Loop().Lead().Raw()), c.Loop().Lead()})
	}
	if !reused {
		t.Error("ReuseRecord never reused a record")
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		g := got[i]
		if g.pcn != want[i].pcn || g.member != want[i].member || g.raw != want[i].raw || string(g.seg.Raw()) != want[i].raw || g.seg.Element(1) != want[i].pcn {
			t.Fatalf("record %d: kept values changed after later Reads: %q %q %q, want %q %q %q", i, g.pcn, g.member, g.raw, want[i].pcn, want[i].member, want[i].raw)
		}
	}
}
