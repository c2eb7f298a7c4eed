package restsink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/restsink"
)

// Example writes resources in a batch Bundle. A stand-in server accepts the
// first entry and refuses the second as invalid; Write reports exactly that
// op, permanently, and its error names no value.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Type  string
			Entry []struct{ Request struct{ Method, URL string } }
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &b)
		fmt.Println(r.Method, r.URL.Path, b.Type)
		for _, e := range b.Entry {
			fmt.Println("  entry:", e.Request.Method, e.Request.URL)
		}
		io.WriteString(w, `{"resourceType":"Bundle","type":"batch-response","entry":[
			{"response":{"status":"201 Created"}},
			{"response":{"status":"400 Bad Request","outcome":{"resourceType":"OperationOutcome","issue":[
				{"severity":"error","code":"value","diagnostics":"birthDate 'Jan 1' is not a date","expression":["Patient.birthDate"]}]}}}]}`)
	}))
	defer srv.Close()

	s, err := restsink.New(srv.URL+"/fhir", nil, &restsink.Options{Mode: restsink.Batch, BundleSize: 100})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(context.Background())

	patient := func(id string) *ppb.Patient { return &ppb.Patient{Id: &dtpb.Id{Value: id}} }
	err = s.Write(context.Background(), sink.Upserts(patient("p1"), patient("p2")))

	var be *sink.BatchError
	if errors.As(err, &be) {
		for _, f := range be.Failed {
			fmt.Println("failed:", f.Index, "retryable:", sink.IsRetryable(f.Err), "invalid:", errors.Is(f.Err, sink.ErrInvalid))
			fmt.Println(f.Err)
			var re *restsink.Error
			if errors.As(f.Err, &re) {
				fmt.Println("diagnostics (PHI):", re.Diagnostics())
			}
		}
	}
	// Output:
	// POST /fhir batch
	//   entry: PUT Patient/p1
	//   entry: PUT Patient/p2
	// failed: 1 retryable: false invalid: true
	// restsink: batch entry 1 PUT Patient/p2: HTTP 400: sink: invalid resource; error value at Patient.birthDate
	// diagnostics (PHI): birthDate 'Jan 1' is not a date
}
