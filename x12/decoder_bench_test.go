package x12

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/fhirsync/fhirsync/x12/internal/gen"
)

// decBenchClaims makes a generated 837P of about 11.5 MB (575 bytes a decClaim).
const decBenchClaims = 20000

var decBenchData = sync.OnceValue(func() []byte { return gen.Generate837P(decBenchClaims, 1) })

// reportCPU reports the throughput per CPU second of the process (all its
// threads: the garbage collector's work counts) since cpu0 = processCPU(),
// for b.N iterations over size bytes. The wall-clock MB/s of a benchmark also
// measures the other processes of a shared machine; this one does not (but
// includes the collector's work done on other cores).
func reportCPU(b *testing.B, cpu0 int64, size int) {
	if cpu0 < 0 {
		return
	}
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/(float64(cpu)/1e9)/1e6, "MB/cpu-s")
	}
}

// benchDecode decodes every claim of the 11.5 MB generated 837P per
// iteration, with or without ReuseRecord, and reports ns/claim.
func benchDecode(b *testing.B, reuse bool) {
	data := decBenchData()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	br := bytes.NewReader(data)
	cpu0 := processCPU()
	for b.Loop() {
		br.Reset(data)
		d := NewDecoder(br)
		d.ReuseRecord = reuse
		n := 0
		for {
			rec, err := d.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if c, ok := rec.(*Claim837); ok && c.PatientControlNumber != "" {
				n++
			}
		}
		if n != decBenchClaims {
			b.Fatalf("decoded %d claims, want %d", n, decBenchClaims)
		}
	}
	reportCPU(b, cpu0, len(data))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/decBenchClaims, "ns/claim")
}

// BenchmarkDecoder837P decodes every claim of an 11.5 MB generated 837P into
// typed records the way a streaming converter does: with ReuseRecord, each
// record is used before the next Read. This is the benchmark of the
// >= 300 MB/s target.
func BenchmarkDecoder837P(b *testing.B) { benchDecode(b, true) }

// BenchmarkDecoder837PFresh is BenchmarkDecoder837P in the default mode, where
// every record owns its memory (records can be kept).
func BenchmarkDecoder837PFresh(b *testing.B) { benchDecode(b, false) }

// heapProfile decodes a generated 837P of about size bytes streamed through an
// io.Pipe (never held in memory), with or without ReuseRecord, and samples
// the heap: peak is the largest HeapInuse seen every sampleEvery claims
// (garbage included: it follows the GC pacing), live the largest HeapAlloc
// right after a GC forced every 10*sampleEvery claims (the memory actually
// retained).
func heapProfile(tb testing.TB, size int64, sampleEvery int, forceGC, reuse bool) (claims int, peak, live uint64) {
	tb.Helper()
	nclaims := int(size / 575)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(gen.Write837P(pw, nclaims, 7)) }()
	defer pr.Close()
	runtime.GC()
	d := NewDecoder(pr)
	d.ReuseRecord = reuse
	var ms runtime.MemStats
	for {
		rec, err := d.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		if _, ok := rec.(*Claim837); !ok {
			tb.Fatalf("unexpected record %T", rec)
		}
		claims++
		if claims%sampleEvery == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			if forceGC && claims%(10*sampleEvery) == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				live = max(live, ms.HeapAlloc)
			}
		}
	}
	if claims != nclaims {
		tb.Fatalf("decoded %d claims, want %d", claims, nclaims)
	}
	return claims, peak, live
}

// BenchmarkDecoderPeakHeap reports the peak heap while decoding a 10 MB and a
// 500 MB generated 837P streamed through a pipe, in the default mode and with
// ReuseRecord: memory is bounded by one record, so the two sizes must be
// close (the test TestDecoderMemoryBounded asserts the ratio on the retained
// heap).
func BenchmarkDecoderPeakHeap(b *testing.B) {
	for _, reuse := range []bool{false, true} {
		for _, size := range []int64{10 << 20, 500 << 20} {
			name := fmt.Sprintf("%dMB", size>>20)
			if reuse {
				name += "/reuse"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(size)
				var peak, live uint64
				for b.Loop() {
					_, p, l := heapProfile(b, size, 200, true, reuse)
					peak, live = max(peak, p), max(live, l)
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
				b.ReportMetric(float64(live)/(1<<20), "live-heap-MB")
			})
		}
	}
}

// TestDecoderMemoryBounded checks that memory is bounded by one record: the
// heap retained while decoding a large generated 837P (streamed through a
// pipe, never held in memory) is less than twice the heap retained while
// decoding a file ten times smaller. The sizes are 10 MB and 100 MB (4 MB and
// 40 MB with -short or the race detector); BenchmarkDecoderPeakHeap reports
// 10 MB against 500 MB.
// The measure is the live heap after a GC forced every 2000 claims: not a
// timing.
func TestDecoderMemoryBounded(t *testing.T) {
	small, large := int64(10<<20), int64(100<<20)
	if testing.Short() || raceEnabled {
		small, large = 4<<20, 40<<20
	}
	for _, reuse := range []bool{false, true} {
		_, _, liveSmall := heapProfile(t, small, 200, true, reuse)
		_, _, liveLarge := heapProfile(t, large, 200, true, reuse)
		t.Logf("ReuseRecord %v: live heap %.1f MB decoding %d MB, %.1f MB decoding %d MB", reuse, float64(liveSmall)/(1<<20), small>>20, float64(liveLarge)/(1<<20), large>>20)
		if liveLarge >= 2*liveSmall {
			t.Errorf("ReuseRecord %v: live heap grows with the input: %d bytes for %d MB, %d bytes for %d MB", reuse, liveSmall, small>>20, liveLarge, large>>20)
		}
	}
}

// loopsOnly is a record of the loop tree alone, for BenchmarkDecoder837PLoops.
type loopsOnly struct{ recordBase }

// BenchmarkDecoder837PLoops measures the engine alone: segment placement, loop
// trees and the copy of the record bytes, with the 837P binder replaced by one
// that only wraps the loop tree (context loops are still typed), with
// ReuseRecord. The difference with BenchmarkDecoder837P is the cost of the
// typed records.
func BenchmarkDecoder837PLoops(b *testing.B) {
	tab := lookupTable("837", "005010X222A1", "")
	saved := tab.bind
	tab.bind.record = func(_ *binding, base recordBase) Record { return &loopsOnly{base} }
	defer func() { tab.bind = saved }()
	data := decBenchData()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	br := bytes.NewReader(data)
	cpu0 := processCPU()
	for b.Loop() {
		br.Reset(data)
		d := NewDecoder(br)
		d.ReuseRecord = true
		n := 0
		for {
			rec, err := d.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if rec.Loop() != nil {
				n++
			}
		}
		if n != decBenchClaims {
			b.Fatalf("decoded %d claims, want %d", n, decBenchClaims)
		}
	}
	reportCPU(b, cpu0, len(data))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/decBenchClaims, "ns/claim")
}

// BenchmarkBinder837P measures the 837P binder alone: it types again, with a
// reused arena, 300 claims of a generated 837P whose loop trees were built
// once (few enough to stay in the CPU caches, as the record being typed is
// when decoding). The bytes are those of the claims' loops.
func BenchmarkBinder837P(b *testing.B) {
	var claims []*Claim837
	var counts [][256]uint16 // the segment counts the Decoder gives the binder
	size := 0
	for rec, err := range NewDecoder(bytes.NewReader(gen.Generate837P(300, 1))).Records() {
		if err != nil {
			b.Fatal(err)
		}
		c := rec.(*Claim837)
		claims = append(claims, c)
		var cnt [256]uint16
		c.Loop().Walk(func(l *Loop) bool {
			for _, s := range l.Segments {
				size += len(s.Raw()) + 2
				cnt[segIndex[segCode(&s)]]++
			}
			return true
		})
		counts = append(counts, cnt)
	}
	var a arena
	b.SetBytes(int64(size))
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		for i, c := range claims {
			a.reset(true, false)
			a.bind.counts = &counts[i]
			if record837(&a.bind, c.recordBase); a.bind.err != nil {
				b.Fatal(a.bind.err)
			}
		}
	}
	reportCPU(b, cpu0, size)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(claims)), "ns/claim")
}
