package restsink_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
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
				if strings.HasSuffix(t.Name(), "/IfMatchDelete") && !deleteHonoursIfMatch(t, srv) {
					t.Skip("the test server ignores If-Match on DELETE (reported in /work/team/RESTSINK_NOTES.md); " +
						"restsink sends it, see TestSingleRequestShape")
				}
				return newHarness(t, srv, tc.opts), nil
			}, features)
		})
	}
}

var (
	deleteIfMatchOnce sync.Once
	deleteIfMatchOK   bool
)

// deleteHonoursIfMatch reports whether the test server refuses a DELETE
// whose If-Match does not match (it should: 412).
func deleteHonoursIfMatch(t *testing.T, srv *fhirtest.Server) bool {
	deleteIfMatchOnce.Do(func() {
		ctx := t.Context()
		body := []byte(`{"resourceType":"Patient","id":"ifmatch-probe"}`)
		if _, _, err := srv.Do(ctx, http.MethodPut, "Patient/ifmatch-probe", body, nil); err != nil {
			t.Fatal(err)
		}
		resp, _, err := srv.Do(ctx, http.MethodDelete, "Patient/ifmatch-probe", nil, http.Header{"If-Match": {`W/"no-such-version"`}})
		if err != nil {
			t.Fatal(err)
		}
		deleteIfMatchOK = resp.StatusCode == http.StatusPreconditionFailed
		srv.Reset(t)
	})
	return deleteIfMatchOK
}
