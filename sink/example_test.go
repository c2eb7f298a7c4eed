package sink_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/fhirsync/fhirsync/sink"
)

// A caller (normally the engine) classifies what Write returned: retry the
// whole batch later, or split it into written, retryable and rejected ops.
func ExampleIsRetryable() {
	err := error(&sink.BatchError{Failed: []sink.IndexError{
		{Index: 1, Err: sink.Retryable(errors.New("HTTP 429 Too Many Requests"), 2*time.Second)},
		{Index: 3, Err: fmt.Errorf("%w: Patient has no id", sink.ErrInvalid)},
	}})

	fmt.Println("whole batch retryable:", sink.IsRetryable(err))
	fmt.Println("wait at least:", sink.RetryAfter(err))
	var be *sink.BatchError
	if errors.As(err, &be) {
		for _, f := range be.Failed {
			switch {
			case sink.IsRetryable(f.Err):
				fmt.Printf("op %d: retry later\n", f.Index)
			case errors.Is(f.Err, sink.ErrInvalid):
				fmt.Printf("op %d: reject (dead-letter)\n", f.Index)
			}
		}
	}
	// Output:
	// whole batch retryable: false
	// wait at least: 2s
	// op 1: retry later
	// op 3: reject (dead-letter)
}
