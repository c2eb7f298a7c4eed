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

// The -update flag (update) is defined in reader_fixture_test.go.

// goldenEntry is one result of Read in a golden file.
type goldenEntry struct {
	Kind        Kind   `json:"kind,omitempty"`
	Position    string `json:"position"`
	Transaction string `json:"transaction,omitempty"` // ST02 of the record's envelope
	Record      Record `json:"record,omitempty"`
	Error       string `json:"error,omitempty"`
}

// decodeAll reads every record and error of input.
func decodeAll(t testing.TB, input []byte, configure func(*Decoder)) []goldenEntry {
	t.Helper()
	d := NewDecoder(bytes.NewReader(input))
	if configure != nil {
		configure(d)
	}
	var out []goldenEntry
	for i := 0; ; i++ {
		if i > 100000 {
			t.Fatal("decoder does not end")
		}
		rec, err := d.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
			}
			out = append(out, goldenEntry{Position: se.Pos.String(), Error: err.Error()})
			continue
		}
		out = append(out, goldenEntry{Kind: rec.Kind(), Position: rec.Pos().String(), Transaction: rec.Envelope().ST.Control, Record: rec})
	}
	return out
}

func TestDecoderGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/decoder/*.x12")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".x12")
		t.Run(name, func(t *testing.T) {
			input, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(decodeAll(t, input, nil), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".x12") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestDecoderGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded %s differs from %s (rerun with -update after checking the diff):\n%s", f, golden, firstDiff(string(want), string(got)))
			}
		})
	}
}

// firstDiff shows the first differing line of two texts with some context.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + itoa(i+1) + ":\n want: " + a + "\n  got: " + b
		}
	}
	return ""
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
