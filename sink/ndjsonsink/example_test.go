package ndjsonsink_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/ndjsonsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "import-set")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := ndjsonsink.New(dir, &ndjsonsink.Options{
		BaseURL: "s3://example-bucket/import/2024-02-03",
		Now:     func() time.Time { return time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC) },
	})
	if err != nil {
		log.Fatal(err)
	}
	// Write returns once the lines are fsynced.
	if err := s.Write(ctx, sink.Upserts(sinktest.Related(1)...)); err != nil {
		log.Fatal(err)
	}
	// A later version replaces the earlier line; a delete is listed apart.
	if err := s.Write(ctx, []sink.Op{
		{Resource: sinktest.PatientRev(1, 2)},
		{Resource: sinktest.Claim(1), Delete: true},
	}); err != nil {
		log.Fatal(err)
	}
	// Close seals the set: output files, deleted files, then the manifest.
	if err := s.Close(ctx); err != nil {
		log.Fatal(err)
	}

	m, err := ndjsonsink.ReadManifest(dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("transactionTime", m.TransactionTime)
	for _, f := range m.Output {
		fmt.Println("output ", f.Type, f.Count, f.URL)
	}
	for _, f := range m.Deleted {
		fmt.Println("deleted", f.Type, f.Count, f.URL)
	}
	for l, err := range ndjsonsink.Lines(dir) {
		if err != nil {
			log.Fatal(err)
		}
		if l.Type == "Patient" {
			p, _ := l.Resource()
			fmt.Printf("%s line %d: %s/%s revision %d\n", l.File, l.Number, l.Type, l.ID, sinktest.Revision(p))
		}
	}
	deleted, _ := ndjsonsink.Deleted(dir)
	fmt.Println("to delete after the import:", deleted)
	// Output:
	// transactionTime 2024-02-03T04:05:06.000Z
	// output  Coverage 1 s3://example-bucket/import/2024-02-03/Coverage.000001.ndjson
	// output  Organization 2 s3://example-bucket/import/2024-02-03/Organization.000001.ndjson
	// output  Patient 1 s3://example-bucket/import/2024-02-03/Patient.000001.ndjson
	// deleted Bundle 1 s3://example-bucket/import/2024-02-03/deleted.000001.ndjson
	// Patient.000001.ndjson line 1: Patient/sinktest-pat-1 revision 2
	// to delete after the import: [Claim/sinktest-claim-1]
}
