package x12

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"github.com/fhirsync/fhirsync/x12/internal/gen"
)

// benchClaims makes a generated 837P of about 11.3 MB.
const benchClaims = 20000

var benchData = sync.OnceValue(func() []byte { return gen.Generate837P(benchClaims, 1) })

// BenchmarkReader reads every segment of an 11 MB 837P and touches its id.
func BenchmarkReader(b *testing.B) {
	data := benchData()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	br := bytes.NewReader(data)
	cpu0 := processCPU()
	for b.Loop() {
		br.Reset(data)
		r := NewReader(br)
		n := 0
		for {
			s, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if s.ID() == "CLM" {
				n++
			}
		}
		if n != benchClaims {
			b.Fatalf("read %d claims", n)
		}
	}
	reportCPU(b, cpu0, len(data))
}

// BenchmarkReaderElements also reads a few elements of each segment, as a
// decoder does (ElementBytes and ComponentBytes do not allocate).
func BenchmarkReaderElements(b *testing.B) {
	data := benchData()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	br := bytes.NewReader(data)
	for b.Loop() {
		br.Reset(data)
		r := NewReader(br)
		total := 0
		for {
			s, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			total += len(s.ElementBytes(1)) + len(s.ElementBytes(2)) + len(s.ComponentBytes(1, 2))
			if s.ID() == "CLM" {
				total += len(s.ComponentBytes(5, 3))
			}
		}
		if total == 0 {
			b.Fatal("nothing read")
		}
	}
}

// BenchmarkReaderAppendElements splits every segment into all its elements
// with AppendElements, the one-pass way for a decoder.
func BenchmarkReaderAppendElements(b *testing.B) {
	data := benchData()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	br := bytes.NewReader(data)
	els := make([][]byte, 0, 32)
	for b.Loop() {
		br.Reset(data)
		r := NewReader(br)
		total := 0
		for {
			s, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			els = s.AppendElements(els[:0])
			total += len(els)
		}
		if total == 0 {
			b.Fatal("nothing read")
		}
	}
}

// BenchmarkIndexByte is the physical reference: a bare scan for terminators.
func BenchmarkIndexByte(b *testing.B) {
	data := benchData()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		n := 0
		for p := data; ; {
			k := bytes.IndexByte(p, '~')
			if k < 0 {
				break
			}
			n++
			p = p[k+1:]
		}
		if n == 0 {
			b.Fatal("no segments")
		}
	}
}
