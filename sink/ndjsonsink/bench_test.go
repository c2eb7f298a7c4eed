package ndjsonsink_test

import (
	"context"
	"testing"

	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/ndjsonsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

// BenchmarkWrite writes batches of 100 Patients (half new, half updates of
// earlier ones), each batch serialized and fsynced before Write returns,
// and reports resources per second. The directory is the test's temporary
// directory: the number depends on its file system's fsync.
func BenchmarkWrite(b *testing.B) {
	const batch = 100
	ctx := context.Background()
	pool := make([]sink.Op, 4000)
	for i := range pool {
		pool[i] = sink.Op{Resource: sinktest.PatientRev(i%2000, i/2000)}
	}
	s, err := ndjsonsink.New(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Detach(ctx)
	b.ReportAllocs()
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

// BenchmarkWriteParallel is BenchmarkWrite from several goroutines: JSON
// serialization runs in parallel, the appends and fsyncs one Write at a time.
func BenchmarkWriteParallel(b *testing.B) {
	const batch = 100
	ctx := context.Background()
	pool := make([]sink.Op, 4000)
	for i := range pool {
		pool[i] = sink.Op{Resource: sinktest.PatientRev(i%2000, i/2000)}
	}
	s, err := ndjsonsink.New(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Detach(ctx)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			start := (n * batch) % len(pool)
			if err := s.Write(ctx, pool[start:start+batch]); err != nil {
				b.Error(err)
				return
			}
			n++
		}
	})
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkClose seals a set of 10,000 Patients of which a tenth were
// written twice (so some files are copied without their dead lines).
func BenchmarkClose(b *testing.B) {
	ctx := context.Background()
	var ops []sink.Op
	for i := range 10000 {
		ops = append(ops, sink.Op{Resource: sinktest.Patient(i)})
	}
	for i := 0; i < 10000; i += 10 {
		ops = append(ops, sink.Op{Resource: sinktest.PatientRev(i, 1)})
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, err := ndjsonsink.New(b.TempDir(), &ndjsonsink.Options{MaxFileLines: 2000})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Write(ctx, ops); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
