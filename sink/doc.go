// Package sink defines where converted FHIR resources go: the [Sink]
// interface, the [Op] a sink writes, and the errors a sink classifies its
// failures into so that one place, the engine, can retry.
//
// Drivers live in subpackages: restsink (a FHIR server's REST API),
// ndjsonsink (Bulk Data NDJSON files for $import) and memsink (an in-memory
// store for tests and examples). sinktest is the conformance suite every
// driver passes, and [Op.Ref] the checks every driver makes before writing.
//
// # Delivery
//
// Write returns nil only when every op of the batch is durably written (the
// server answered 2xx, or the lines were written and fsynced). It returns a
// [*BatchError] when some ops failed and the others were written, and any
// other error when it cannot say which were written: the caller then treats
// the whole batch as failed. Failures are classified: an error for which
// [IsRetryable] is true may succeed later (429, 503, a timeout, a reset
// connection); anything else is permanent for that op (the resource is
// invalid, the server refused it) and belongs on the dead-letter path.
// Drivers do not retry; the engine does, with backoff, honouring
// [RetryAfter]. Writes are idempotent: writing the same op twice leaves one
// resource, so at-least-once delivery never duplicates. A driver that cannot
// do what an op asks (a delete, an If-Match) fails that op with an error
// wrapping errors.ErrUnsupported; it never drops it.
//
// # PHI
//
// Resources hold PHI. Errors returned by a sink name positions (batch index,
// resource type and id, FHIR path, HTTP status, issue code) and never an
// element value; a server's free-text diagnostics are kept out of Error() and
// are reachable only through an explicit Diagnostics method documented as PHI.
package sink
