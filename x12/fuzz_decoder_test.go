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
)

// FuzzDecoder decodes arbitrary input in strict and lenient mode: no panic, no
// hang (the number of results is bounded by the input size), every result is
// either a record with a position and a loop tree or a positioned error whose
// text holds no canary, and a Decoder with ReuseRecord yields the same results
// (JSON, positions, loop trees, errors) as one without, record by record.
func FuzzDecoder(f *testing.F) {
	files, _ := filepath.Glob("testdata/decoder/*.x12")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add(decInterchange("005010X222A1", decP837(decClaim("A"), decManyLines("B", 3))))
	f.Add(decInterchange("005010X221A1", []string{"BPR*I*10*C*ACH************20240220", "TRN*1*T*1", "N1*PR*P", "N1*PE*E", "CLP*A*1*10*10", "NM1*QC*1*X", "SVC*HC:1*10*10", "PLB*1*20241231*L6*1"}))
	f.Add(decInterchange("005010X220A1", []string{"BGN*00*R*20240101", "N1*P5*S", "N1*IN*P", "INS*Y*18*021", "REF*0F*1", "NM1*IL*1*X", "HD*021**HLT", "LS*2700", "LX*1", "N1*75*C", "LE*2700"}))
	f.Add(decInterchange("005010X222A1", decP837(decClaim("ZZCANARYZZ", "DTP*431*D8*ZZCANARYZZ", "ZZC*ZZCANARYZZ"))))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lenient := range []bool{false, true} {
			d := NewDecoder(bytes.NewReader(data))
			d.Lenient = lenient
			d.TolerantISA = lenient
			d.OnWarning = func(e *SyntaxError) {
				if e == nil || e.Error() == "" {
					t.Fatal("empty warning")
				}
			}
			limit := len(data) + 16
			n := 0
			for {
				rec, err := d.Read()
				if err == io.EOF {
					break
				}
				if n++; n > limit {
					t.Fatalf("more than %d results from %d bytes", limit, len(data))
				}
				if err != nil {
					// No error text or position may hold the canary: control
					// numbers and segment ids are at most 9 bytes, shorter than it.
					if strings.Contains(err.Error(), canary) {
						t.Fatalf("error leaks an element value: %v", err)
					}
					var se *SyntaxError
					if errors.As(err, &se) {
						if strings.Contains(se.Pos.String(), canary) {
							t.Fatalf("position leaks an element value: %s", se.Pos)
						}
						_ = se.Diagnostics()
						if se.Err == nil {
							t.Fatalf("SyntaxError without a sentinel: %v", se)
						}
					}
					continue
				}
				if rec == nil || rec.Loop() == nil || rec.Pos().SegmentID == "" || rec.Kind() == "" {
					t.Fatalf("incomplete record %#v", rec)
				}
				rec.Loop().Walk(func(l *Loop) bool {
					for _, s := range l.Segments {
						if !s.Owned() {
							t.Fatal("record segment not owned")
						}
					}
					return true
				})
				if _, err := json.Marshal(rec); err != nil {
					t.Fatalf("marshal %s: %v", rec.Kind(), err)
				}
			}
			fresh, reused := decEntriesJSON(t, data, false, lenient), decEntriesJSON(t, data, true, lenient)
			if len(fresh) != len(reused) {
				t.Fatalf("lenient=%v: %d results, %d with ReuseRecord", lenient, len(fresh), len(reused))
			}
			for i := range fresh {
				if fresh[i] != reused[i] {
					t.Fatalf("lenient=%v: result %d differs with ReuseRecord:\n%s", lenient, i, decFirstDiff(fresh[i], reused[i]))
				}
			}
		}
	})
}
