package restsink_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/restsink"
)

// benchBatch is how many ops each Write gets, as an engine batch would.
const benchBatch = 500

// BenchmarkWrite measures resources per second into the test server for
// each mode and worker count, and HTTP requests per resource. Every op
// writes a new resource (no identical rewrites, which the server may skip).
//
//	go test -run '^$' -bench BenchmarkWrite -benchtime 5000x ./sink/restsink/
func BenchmarkWrite(b *testing.B) {
	srv := fhirtest.Start(b)
	modes := []struct {
		name string
		opts restsink.Options
	}{
		{"PUT", restsink.Options{}},
		{"Conditional", restsink.Options{Match: restsink.MatchIdentifier}},
		{"Transaction8Conditional", restsink.Options{Mode: restsink.Transaction, Match: restsink.MatchIdentifier, BundleSize: 8}},
		{"Transaction8", restsink.Options{Mode: restsink.Transaction, BundleSize: 8}},
		{"Transaction50", restsink.Options{Mode: restsink.Transaction, BundleSize: 50}},
		{"Batch100", restsink.Options{Mode: restsink.Batch, BundleSize: 100}},
		{"Batch100Gzip", restsink.Options{Mode: restsink.Batch, BundleSize: 100, Gzip: true}},
	}
	next := 0 // claim number, so that every benchmark run writes new resources
	for _, m := range modes {
		for _, workers := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/workers=%d", m.name, workers), func(b *testing.B) {
				srv.Reset(b)
				var res []proto.Message
				for len(res) < b.N {
					res = append(res, claimResources(next)...)
					next++
				}
				res = res[:b.N]
				ops := sink.Upserts(res...)
				cnt := &counting{base: &http.Transport{MaxIdleConnsPerHost: workers}}
				opts := m.opts
				opts.Workers = workers
				s, err := restsink.New(srv.URL(), &http.Client{Transport: cnt, Timeout: time.Minute}, &opts)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < len(ops); i += benchBatch {
					if err := s.Write(ctx, ops[i:min(i+benchBatch, len(ops))]); err != nil {
						b.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "resources/s")
				b.ReportMetric(float64(cnt.n.Load())/float64(b.N), "requests/resource")
				s.Close(ctx)
			})
		}
	}
}

// BenchmarkWriteOverhead measures the sink's own cost per resource (JSON
// marshalling, bundle building, HTTP) against a server that does no FHIR
// work: it answers every request at once.
func BenchmarkWriteOverhead(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			rd = zr
		}
		body, _ := io.ReadAll(rd)
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusOK)
			return
		}
		n := bytes.Count(body, []byte(`"request":{`))
		var out strings.Builder
		out.WriteString(`{"resourceType":"Bundle","type":"batch-response","entry":[`)
		for i := range n {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteString(`{"response":{"status":"200 OK"}}`)
		}
		out.WriteString(`]}`)
		io.WriteString(w, out.String())
	}))
	defer srv.Close()
	var res []proto.Message
	for i := 0; len(res) < 5000; i++ {
		res = append(res, claimResources(i)...)
	}
	for _, m := range []struct {
		name string
		opts restsink.Options
	}{
		{"PUT", restsink.Options{}},
		{"Conditional", restsink.Options{Match: restsink.MatchIdentifier}},
		{"Transaction50", restsink.Options{Mode: restsink.Transaction, BundleSize: 50}},
		{"Batch100", restsink.Options{Mode: restsink.Batch, BundleSize: 100}},
		{"Batch100Gzip", restsink.Options{Mode: restsink.Batch, BundleSize: 100, Gzip: true}},
	} {
		b.Run(m.name, func(b *testing.B) {
			opts := m.opts
			opts.Workers = 4
			s, err := restsink.New(srv.URL, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}, &opts)
			if err != nil {
				b.Fatal(err)
			}
			ops := sink.Upserts(res...)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += benchBatch {
				i := done % len(ops)
				if err := s.Write(context.Background(), ops[i:min(i+benchBatch, len(ops), i+b.N-done)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
		})
	}
}
