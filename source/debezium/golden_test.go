package debezium_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/debezium"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden decodes every testdata/<case>.json and compares the event,
// each value shown with its Go type, with testdata/<case>.golden.json.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	n := 0
	for _, in := range cases {
		if strings.HasSuffix(in, ".golden.json") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			require.NoError(t, err)
			e, err := debezium.Decode(data, nil)
			require.NoError(t, err)
			msg := source.NewMessage("t/0@42", data, map[string]string{"offset": "42"}, nil, nil)
			got, err := json.MarshalIndent(render(e, debezium.SourceVersion(msg, e)), "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			golden := filepath.Join("testdata", name+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run with -update to create it")
			assert.Equal(t, string(want), string(got))
		})
	}
	require.NotZero(t, n)
}

// render shows an event with the Go type of every row value.
func render(e *debezium.Event, version string) map[string]any {
	out := map[string]any{
		"tombstone":      e.Tombstone,
		"op":             e.Op,
		"ts_ms":          e.TsMs,
		"source":         e.Source,
		"transaction":    e.Transaction,
		"before":         typed(e.Before),
		"after":          typed(e.After),
		"source_version": version,
	}
	if tm := e.Time(); !tm.IsZero() {
		out["time"] = tm.Format(time.RFC3339Nano)
	}
	return out
}

func typed(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		if x == nil {
			return nil
		}
		out := make(map[string]any, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out[k] = typed(x[k])
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = typed(e)
		}
		return out
	case time.Time:
		return "time.Time " + x.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%T %v", v, v)
}
