package fhirsync_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink/memsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
	"github.com/fhirsync/fhirsync/source/memsource"
)

// Batch ETL: an 837P file through the X12 converter into a sink. In a
// service the source would be filesource or kafkasource, the sink restsink
// (a FHIR server) or ndjsonsink (files for $import), and Reject a durable
// dead-letter store.
func ExampleRun() {
	data, err := os.ReadFile("fhirmap/testdata/837p_simple.x12")
	if err != nil {
		panic(err)
	}
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: []byte("an example key, use 32 random bytes")}})
	if err != nil {
		panic(err)
	}
	broker := memsource.NewBroker()
	broker.Publish(data)
	src := broker.Open("claims", &memsource.Options{Finite: true})

	dst := memsink.New(nil)
	dir, err := os.MkdirTemp("", "rejects")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	rejects, err := fhirsync.NewDirRejecter(dir) // holds PHI: keep it where PHI may be kept
	if err != nil {
		panic(err)
	}
	err = fhirsync.Run(context.Background(), src, fhirmap.NewX12Converter(m, nil), dst, &fhirsync.Options{
		Reject: rejects,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	var types []string
	for _, r := range dst.All() {
		types = append(types, resource.Type(r))
	}
	slices.Sort(types)
	fmt.Println(types)
	fmt.Println("acked:", broker.Committed("claims"))
	// Output:
	// [Claim Coverage Organization Organization Patient Practitioner]
	// acked: 1
}

// A read-through facade: reads are fetched from the system of record once
// and served from the cache until the TTL ends or a change event
// invalidates them.
func ExampleFacade() {
	fetch := func(_ context.Context, resourceType, id string) (proto.Message, error) {
		if resourceType == "Patient" && id == sinktest.PatientID(1) {
			return sinktest.Patient(1), nil // in a service: read the row, map it
		}
		return nil, fhirsync.ErrNotFound
	}
	f, err := fhirsync.NewFacade(fetch, &fhirsync.FacadeOptions{TTL: 10 * time.Minute, Types: []string{"Patient"}})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, path := range []string{"/Patient/" + sinktest.PatientID(1), "/Patient/" + sinktest.PatientID(1), "/Patient/unknown"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	st := f.Stats()
	fmt.Println("fetches:", st.Fetches, "hits:", st.Hits)
	// Output:
	// 200 application/fhir+json
	// 200 application/fhir+json
	// 404 application/fhir+json
	// fetches: 2 hits: 1
}
