package fhirtest

import (
	"os"
	"sync"
	"testing"
)

var shared struct {
	mu  sync.Mutex
	srv *Server
}

// Shared returns the test binary's shared server, started with default
// options on first use, after resetting it so the caller starts with no data.
// Tests that use it must not run in parallel with each other (no t.Parallel),
// since each call resets the data of all. The server stops when the test
// binary exits (it watches its stdin) or, sooner, in [Main].
func Shared(t testing.TB) *Server {
	t.Helper()
	s := sharedServer(t)
	s.Reset(t)
	return s
}

func sharedServer(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil {
		shared.srv = newServer(t)
	}
	return shared.srv
}

// Main runs the package's tests and then stops the shared server. Call it
// from TestMain:
//
//	func TestMain(m *testing.M) { fhirtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	shared.mu.Lock()
	if shared.srv != nil {
		_ = shared.srv.Close()
		shared.srv = nil
	}
	shared.mu.Unlock()
	os.Exit(code)
}

// Validate validates data (FHIR JSON, a Bundle, or NDJSON) with the shared
// server's validator without touching its data, and returns one line per
// error, "LINE: ResourceType/id: path: message"; nil when valid. It skips or
// fails the test like [Start] when the server cannot run.
func Validate(t testing.TB, data []byte) []string {
	t.Helper()
	return sharedServer(t).Validate(t, data)
}

// RequireValid fails the test now, listing every error, unless data is valid
// FHIR R4. Golden-file tests call it on every golden file.
func RequireValid(t testing.TB, data []byte) {
	t.Helper()
	sharedServer(t).RequireValid(t, data)
}
