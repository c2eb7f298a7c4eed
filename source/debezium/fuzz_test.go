package debezium

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that a decoded event has a
// known operation, and that every error is an *Error whose text holds only
// constant words, an offset inside the input and a path whose parts are
// object keys of the input: never a value (the canary, carried in the seeds'
// values, must not leak).
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, s := range seeds {
		if strings.HasSuffix(s, ".golden.json") {
			continue
		}
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		``, `null`, `{"op":"c"}`, `{"op":"ZZCANARYZZ"}`,
		`{"op":"c","after":{"last_name":"ZZCANARYZZ"`,
		`{"payload":{"op":"u","before":{"a":1},"after":{"a":"ZZCANARYZZ"}}}`,
		`{"schema":{"type":"struct","fields":[{"field":"after","type":"struct","fields":[{"field":"n","type":"int32"},{"field":"d","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}}]}]},"payload":{"op":"c","after":{"n":"ZZCANARYZZ","d":"z8c="}}}`,
		`{"schema":{"type":"struct","fields":[{"field":"after","type":"struct","fields":[{"field":"m","type":"map","values":{"type":"int32"}}]}]},"payload":{"op":"c","after":{"m":{"ZZCANARYZZ":"x"}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data, nil)
		if err == nil {
			if e == nil {
				t.Fatal("nil event and nil error")
			}
			if !e.Tombstone && !e.Op.valid() {
				t.Fatalf("decoded an unknown op")
			}
			return
		}
		var de *Error
		if !errors.As(err, &de) {
			t.Fatalf("error %T is not an *Error", err)
		}
		if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnknownOp) {
			t.Fatalf("error wraps no sentinel")
		}
		if de.Offset < -1 || de.Offset > int64(len(data)) {
			t.Fatalf("offset %d outside the input (%d bytes)", de.Offset, len(data))
		}
		text := err.Error()
		if de.Path != "" {
			if !strings.HasPrefix(de.Path, "$") {
				t.Fatalf("path %q", de.Path)
			}
			keys := objectKeys(data)
			for _, k := range de.keys {
				if !keys[k] && k != "op" { // "op" is named when missing
					t.Fatalf("path part %q is not an object key of the input", k)
				}
			}
			text = strings.Replace(text, de.Path, "", 1)
		} else if de.Offset < 0 {
			t.Fatalf("an error with neither offset nor path")
		}
		if bytes.Contains(data, []byte("ZZCANARYZZ")) && strings.Contains(text, "ZZCANARYZZ") {
			t.Fatalf("error text holds the canary")
		}
		for _, r := range text {
			if r == '"' || r == '\'' {
				t.Fatalf("error text outside its path quotes something: %q", text)
			}
		}
	})
}

// objectKeys returns every object key in data, a JSON value.
func objectKeys(data []byte) map[string]bool {
	keys := map[string]bool{}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return keys
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				keys[k] = true
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return keys
}
