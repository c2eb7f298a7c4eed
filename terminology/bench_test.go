package terminology

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// bigConceptMap returns the JSON of a ConceptMap with n elements (ICD-9-CM
// style codes to ICD-10-CM style codes, one or two targets each).
func bigConceptMap(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"ConceptMap","url":"http://example.org/fhir/ConceptMap/big","status":"active","group":[{"source":"http://hl7.org/fhir/sid/icd-9-cm","target":"http://hl7.org/fhir/sid/icd-10-cm","element":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"code":"%03d.%02d","display":"Source concept %d","target":[{"code":"A%02d.%03d","display":"Target concept %d","equivalence":"equivalent"}`,
			i/100, i%100, i, i/1000%100, i%1000, i)
		if i%5 == 0 {
			fmt.Fprintf(&b, `,{"code":"B%02d.%03d","equivalence":"narrower","comment":"alternative"}`, i/1000%100, i%1000)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}]}`)
	return b.Bytes()
}

var bigOnce struct {
	sync.Once
	data []byte
}

func big100k() []byte {
	bigOnce.Do(func() { bigOnce.data = bigConceptMap(100_000) })
	return bigOnce.data
}

// BenchmarkLoadConceptMap100k parses, validates and indexes a 100,000-element
// ConceptMap. heap-MB is the live heap the loaded map holds.
func BenchmarkLoadConceptMap100k(b *testing.B) {
	data := big100k()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var maps []*ConceptMap
	for b.Loop() {
		var err error
		maps, err = ParseConceptMaps(data)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// Retained size: live heap with and without the map.
	var before, after runtime.MemStats
	maps = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	maps, _ = ParseConceptMaps(data)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MB")
	b.ReportMetric(float64(len(data))/(1<<20), "json-MB")
	runtime.KeepAlive(maps)
}

// BenchmarkReadCSV100k loads the same 100,000 mappings from CSV.
func BenchmarkReadCSV100k(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("source_system,source_code,target_system,target_code,display,equivalence\n")
	for i := 0; i < 100_000; i++ {
		fmt.Fprintf(&sb, "%s,%03d.%02d,%s,A%02d.%03d,Target concept %d,equivalent\n", SystemICD9CM, i/100, i%100, SystemICD10CM, i/1000%100, i%1000, i)
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadCSV(strings.NewReader(data), nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchIndex(b *testing.B) (*Index, []Coding) {
	maps, err := ParseConceptMaps(big100k())
	if err != nil {
		b.Fatal(err)
	}
	ix := NewIndex(nil)
	if err := ix.Add(maps...); err != nil {
		b.Fatal(err)
	}
	codes := make([]Coding, 1000)
	for i := range codes {
		j := i * 97
		codes[i] = Coding{System: SystemICD9CM, Code: fmt.Sprintf("%03d.%02d", j/100, j%100)}
	}
	return ix, codes
}

// BenchmarkIndexTranslate is a lookup in a 100k-element map, no cache.
func BenchmarkIndexTranslate(b *testing.B) {
	ix, codes := benchIndex(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := ix.Translate(ctx, codes[i%len(codes)], SystemICD10CM); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkTranslateCached is Translate through a warm Cache (1000 keys).
func BenchmarkTranslateCached(b *testing.B) {
	ix, codes := benchIndex(b)
	c := NewCache(ix, nil)
	ctx := context.Background()
	for _, code := range codes {
		if _, err := c.Translate(ctx, code, SystemICD10CM); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := c.Translate(ctx, codes[i%len(codes)], SystemICD10CM); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkTranslateCachedParallel is the warm cache under concurrent callers.
func BenchmarkTranslateCachedParallel(b *testing.B) {
	ix, codes := benchIndex(b)
	c := NewCache(ix, nil)
	ctx := context.Background()
	for _, code := range codes {
		c.Translate(ctx, code, SystemICD10CM)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.Translate(ctx, codes[i%len(codes)], SystemICD10CM); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkNormalize covers the per-code normalizers of the conversion path.
func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NormalizeICD10CM("S060X1A")
		NormalizeNDC11("12345-678-90")
		ValidateNPI("1234567893")
		NormalizeRevenueCode("450")
	}
}
