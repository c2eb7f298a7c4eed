package restsink_test

import (
	"context"
	"fmt"
	"net/http"
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
