package fhirsync_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/sink/memsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/memsource"
)

// BenchmarkRunOverhead measures the engine itself: messages of one small
// resource each (made once, beforehand) into the in-memory sink.
func BenchmarkRunOverhead(b *testing.B) {
	const n, keys = 10_000, 500
	bodies := make([][]byte, n)
	for i := range n {
		bodies[i] = strconv.AppendInt(nil, int64(i%keys), 10)
	}
	made := make([]proto.Message, keys)
	for i := range made {
		made[i] = sinktest.Patient(i)
	}
	conv := fhirmap.ConverterFunc(func(_ context.Context, m *source.Message) ([]proto.Message, error) {
		i, err := strconv.Atoi(string(m.Body))
		if err != nil {
			return nil, err
		}
		return []proto.Message{made[i]}, nil
	})
	b.ReportAllocs()
	for b.Loop() {
		broker := memsource.NewBroker()
		broker.Publish(bodies...)
		err := fhirsync.Run(context.Background(), broker.Open("bench", &memsource.Options{Finite: true}), conv, memsink.New(nil), fast(&fhirsync.Options{}))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkRunX12 measures 837P files through the X12 converter into the
// in-memory sink: the conversion dominates.
func BenchmarkRunX12(b *testing.B) {
	data, err := os.ReadFile("examples/x12tofhir/testdata/sample.837p.x12")
	if err != nil {
		b.Fatal(err)
	}
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: []byte("a benchmark key of 16+ bytes")}})
	if err != nil {
		b.Fatal(err)
	}
	conv := fhirmap.NewX12Converter(m, nil)
	const files = 50
	b.ReportAllocs()
	ops := 0
	for b.Loop() {
		broker := memsource.NewBroker()
		for range files {
			broker.Publish(data)
		}
		dst := memsink.New(nil)
		err := fhirsync.Run(context.Background(), broker.Open("bench", &memsource.Options{Finite: true}), conv, dst, fast(&fhirsync.Options{}))
		if err != nil {
			b.Fatal(err)
		}
		ops += dst.Stats().Ops
	}
	b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "resources-written/s")
}

// BenchmarkFacadeHit measures a cached read through the facade's handler
// (no network): routing, the cache and writing the stored JSON.
func BenchmarkFacadeHit(b *testing.B) {
	f, err := fhirsync.NewFacade(func(_ context.Context, _, _ string) (proto.Message, error) {
		return sinktest.Patient(1), nil
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/Patient/"+sinktest.PatientID(1), nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		f.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
