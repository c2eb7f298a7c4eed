package memsink_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/memsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

func Example() {
	ctx := context.Background()
	// Fail the 3rd op this sink ever sees as a throttled server would.
	s := memsink.New(&memsink.Options{Fault: memsink.FailOps(memsink.Throttled(2*time.Second), 3)})
	defer s.Close(ctx)

	err := s.Write(ctx, sink.Upserts(sinktest.Patient(1), sinktest.Patient(2), sinktest.Patient(3)))
	var be *sink.BatchError
	if errors.As(err, &be) {
		for _, f := range be.Failed {
			fmt.Printf("op %d failed, retryable=%t, after %s\n", f.Index, sink.IsRetryable(f.Err), sink.RetryAfter(f.Err))
		}
	}
	// Retry what failed, and update Patient 1; an identical rewrite of
	// Patient 2 makes no new version.
	err = s.Write(ctx, sink.Upserts(sinktest.Patient(3), sinktest.PatientRev(1, 1), sinktest.Patient(2)))
	fmt.Println("retry:", err)

	for _, m := range s.All() {
		k, _ := resource.Key(m)
		fmt.Println(k, "version", resource.VersionID(m))
	}
	fmt.Println(len(s.Search("Patient", sinktest.MemberSystem+"|M000002")), "match for member M000002")
	// Output:
	// op 2 failed, retryable=true, after 2s
	// retry: <nil>
	// Patient/sinktest-pat-1 version 2
	// Patient/sinktest-pat-2 version 1
	// Patient/sinktest-pat-3 version 1
	// 1 match for member M000002
}
