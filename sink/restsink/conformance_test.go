package restsink_test

import (
	"context"
	"testing"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/sink/restsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

func TestMain(m *testing.M) { fhirtest.Main(m) }

// features is what restsink promises against the test server.
var features = sinktest.Features{
	Versions:          true,
	Delete:            true,
	IfMatch:           true,
	History:           true,
	Faults:            true,
	ValidatesRequired: true,
}

// TestConformance runs sinktest against the real test server, through the
// fault-injecting proxy, in every mode.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts restsink.Options
	}{
		{"Single", restsink.Options{}},
		{"SingleConditional", restsink.Options{Match: restsink.MatchIdentifier, KeepID: true}},
		{"Transaction", restsink.Options{Mode: restsink.Transaction}},
		{"TransactionConditional", restsink.Options{Mode: restsink.Transaction, Match: restsink.MatchIdentifier, KeepID: true}},
		{"Batch", restsink.Options{Mode: restsink.Batch, Gzip: true}},
		{"BatchConditional", restsink.Options{Mode: restsink.Batch, Match: restsink.MatchIdentifier, KeepID: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sinktest.Run(t, func(ctx context.Context, t *testing.T) (sinktest.Harness, error) {
				srv := fhirtest.Shared(t)
				return newHarness(t, srv, tc.opts), nil
			}, features)
		})
	}
}
