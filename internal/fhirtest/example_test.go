package fhirtest_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
)

// A test starts a server (or takes the package's shared one), writes to it
// over plain HTTP and checks the result.
func ExampleStart() {
	var t testing.TB // the *testing.T of a test
	srv := fhirtest.Start(t, fhirtest.TransactionCaps(50, 8))
	resp, body, err := srv.Do(context.Background(), http.MethodPut, "Patient/p1",
		[]byte(`{"resourceType":"Patient","id":"p1","gender":"female"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("ETag"), len(body) > 0)
}

// Golden-file tests check every golden file with the server's validator.
func ExampleRequireValid() {
	var t testing.TB // the *testing.T of a test
	golden := []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p1"}}]}`)
	fhirtest.RequireValid(t, golden)
}
