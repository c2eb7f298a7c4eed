package memsink_test

import (
	"context"
	"testing"

	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/memsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

// BenchmarkWrite writes batches of 100 Patients, half of them new and half
// updates of earlier ones, and reports resources per second.
func BenchmarkWrite(b *testing.B) {
	const batch = 100
	ctx := context.Background()
	pool := make([]sink.Op, 4000)
	for i := range pool {
		pool[i] = sink.Op{Resource: sinktest.PatientRev(i%2000, i/2000)}
	}
	s := memsink.New(nil)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		start := (n * batch) % len(pool)
		if err := s.Write(ctx, pool[start:start+batch]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "resources/s")
}
