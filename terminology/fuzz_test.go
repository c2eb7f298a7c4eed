package terminology

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func FuzzConceptMap(f *testing.F) {
	for _, name := range []string{"testdata/icd9-icd10.json", "testdata/payer-maps.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"resourceType":"ConceptMap"}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","element":[{"code":"1","target":[{"code":"2","equivalence":"equal"}]}],"unmapped":{"mode":"other-map","url":"u"}}]}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","name":[{}]}},{"resource":{"resourceType":"ConceptMap","url":"u","group":[{"source":"a","target":"b","unmapped":{"mode":"other-map","url":"u"}}]}}]}`,
		`{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","unmapped":{"mode":"provided"}}]}`,
		`{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","element":[{"code":7}]}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bundle","entry":[{"resource":null}]}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		maps, err := ParseConceptMaps(data)
		if err != nil {
			var ce *ConceptMapError
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T: %v", err, err)
			}
			if ce.Offset < -1 || ce.Offset > int64(len(data)) {
				t.Fatalf("offset %d outside input of %d bytes", ce.Offset, len(data))
			}
			if ce.Err == nil || err.Error() == "" {
				t.Fatalf("error without cause: %#v", ce)
			}
			return
		}
		ix := NewIndex(nil)
		addErr := ix.Add(maps...)
		if addErr != nil && !errors.Is(addErr, ErrDuplicateMap) {
			t.Fatalf("Add of parsed maps: %v", addErr)
		}
		ctx := context.Background()
		for _, cm := range maps {
			for _, g := range cm.Group {
				codes := []string{"not-listed"}
				for _, el := range g.Element {
					codes = append(codes, el.Code)
				}
				for _, code := range codes {
					for _, m := range []Mapper{cm, ix} {
						c, err := m.Translate(ctx, Coding{System: g.Source, Code: code}, g.Target)
						switch {
						case err == nil:
							if c.Code == "" || !c.Equivalence.IsMatch() {
								t.Fatalf("translation %+v", c)
							}
						case errors.Is(err, ErrNoMapping), errors.Is(err, ErrMapLoop), errors.Is(err, ErrMapNotFound):
						default:
							t.Fatalf("Translate: %v", err)
						}
					}
				}
			}
			// What was parsed marshals and parses back to the same JSON.
			out, err := json.Marshal(cm)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseConceptMaps(out)
			if err != nil || len(back) != 1 {
				t.Fatalf("re-parse: %v", err)
			}
			again, _ := json.Marshal(back[0])
			if string(again) != string(out) {
				t.Fatalf("round trip differs:\n%s\n%s", out, again)
			}
		}
	})
}

func FuzzCSV(f *testing.F) {
	f.Add(revenueCSV, false)
	f.Add("source_system,source_code,target_system,target_code,display,equivalence\na,1,b,2,Two,wider\na,1,b,,,unmatched\n", false)
	f.Add("a,1,b,2,Two,relatedto\n", true)
	f.Add("a,\"1\nx\",b,2,\"multi\nline\",\n", true)
	f.Add("a,1\"x,b,2\n", true)
	f.Add("\ufeffsource_code,target_code\n1,2\n", false)
	f.Add("", false)
	f.Fuzz(func(t *testing.T, in string, noHeader bool) {
		opts := &CSVOptions{NoHeader: noHeader, SourceSystem: "urn:s", TargetSystem: "urn:t"}
		cm, err := ReadCSV(strings.NewReader(in), opts)
		if err != nil {
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T: %v", err, err)
			}
			if ce.Line < 0 || ce.Column < 0 || ce.Line > strings.Count(in, "\n")+2 {
				t.Fatalf("position line %d column %d in %d lines", ce.Line, ce.Column, strings.Count(in, "\n")+1)
			}
			return
		}
		if err := cm.compile(); err != nil {
			t.Fatalf("ReadCSV returned an invalid map: %v", err)
		}
		ctx := context.Background()
		for _, g := range cm.Group {
			for _, el := range g.Element {
				c, err := cm.Translate(ctx, Coding{System: g.Source, Code: el.Code}, g.Target)
				if err != nil && !errors.Is(err, ErrNoMapping) {
					t.Fatalf("Translate: %v", err)
				}
				if err == nil && c.Code == "" {
					t.Fatalf("empty translation %+v", c)
				}
			}
		}
	})
}
