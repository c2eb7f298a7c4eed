// Package restsink is a [sink.Sink] that writes FHIR R4 resources to a FHIR
// server's REST API.
//
// # Modes
//
// [Options].Mode chooses how ops travel, [Options].Match how a resource is
// addressed:
//
//   - [Single]: one HTTP request per op: PUT [type]/[id] ([MatchID], update
//     as create with the deterministic client id), PUT
//     [type]?identifier=[system]|[value] ([MatchIdentifier], a conditional
//     update that lets the server assign the id on create), or DELETE.
//     Requests per resource: 1.
//   - [Transaction]: a transaction Bundle of up to BundleSize entries per
//     request (1/BundleSize requests per resource). The server applies a
//     bundle all or nothing. Deletes are sent as single DELETE requests,
//     because a delete of a missing resource fails a whole transaction on
//     some servers.
//   - [Batch]: a batch Bundle of up to BundleSize entries per request; the
//     server applies each entry on its own and reports each entry's status.
//
// Bundle entries use the same addressing as single requests. Servers cap
// bundles: the fhirsync test server (Medplum's router) accepts 50 update
// entries per transaction, and only 8 when an entry is conditional.
// [Sink.Probe] reads the server's CapabilityStatement (GET /metadata), checks
// the mode is supported and, with [MatchAuto], switches the types for which
// the server refuses update-as-create with client ids (as Medplum does) to
// conditional update. HAPI refuses purely numeric client ids:
// [Options].RejectNumericIDs refuses them before sending.
//
// # Delivery
//
// Write returns nil when the server acknowledged every op with a 2xx (a
// DELETE also succeeds on 404 and 410), a [*sink.BatchError] naming each op
// that was not written, and another error when it cannot say which ops were
// written: the context ended ([context.Canceled], possibly wrapped), or a
// failure that concerns the whole configuration (the server refused the
// credentials with 403, does not support the interaction, refused the bundle
// size with 413, or with 400 and an issue coded too-costly as Medplum does):
// these wrap [ErrAuth] or [ErrUnsupported] and are not retryable.
//
// Failures are classified, never retried here: 408, 429, 5xx (but 501),
// timeouts, connection resets and refusals are [*sink.RetryableError] values
// carrying the server's Retry-After (delta seconds or HTTP date); after a
// server-wide failure (401, 429, 502, 503, 504, a refused connection) the ops of
// the batch not yet sent fail with the same error rather than being sent. A
// 4xx is permanent for its op: 409 and 412 wrap [sink.ErrConflict], anything
// else [sink.ErrInvalid]; 401 is retryable because credentials may be
// refreshed. A token request failure of an auth Transport (or of another
// transport whose error has a Retryable method) is retryable or permanent as
// its Retryable method says.
//
// A transaction is all or nothing: a refused one wrote none of its ops.
// restsink sends them again so that Write reports exactly the ops at fault,
// as in Batch mode, and writes the others:
//
//   - When the server refuses it with an OperationOutcome whose expressions
//     name entries (Bundle.entry[n]...), those ops fail permanently and the
//     others are sent again in a new transaction without them: one more
//     request.
//   - When it refuses it with a 4xx that names no entry (no such expression
//     or location, or a body that is no OperationOutcome), each op is sent
//     again in a transaction of its own, one after the other in bundle
//     order: up to one more request per entry, each op then failing or
//     succeeding on its own answer. A failure beyond one op while doing so
//     (the server unavailable or refusing the credentials, a configuration
//     error, the context ending) stops it, and the ops not yet sent fail
//     with that failure.
//   - A retryable failure (408, 429, 5xx, a network failure) fails every op
//     of the bundle with it.
//
// Sending again is safe whatever the addressing: nothing of the refused
// transaction was applied, updates by id and by identifier are idempotent,
// and an op's If-Match goes with it unchanged, checked against the version
// it was checked against in the bundle (a 412 then means another writer
// changed the resource, which is what If-Match guards against). restsink uses
// transactions of one entry rather than a batch or single requests: every
// server that takes transactions takes those and processes them as it
// processed the bundle, and a conditional URL stays in the request body. What
// is given up is atomicity across the ops of one bundle, which restsink never
// promised: a Write is cut into bundles of BundleSize and into rounds, and
// the ops of a transaction naming its failed entries already went again
// without them. The re-sending happens while the bundle's resources are
// held, so the ordering below is kept.
//
// Ordering: two ops for the same resource are never in one bundle and never
// in flight at once. A resource is known by its type and id and, when it is
// addressed by identifier, by that condition too (so a delete by id and an
// update by identifier of one resource are ordered, and two resources
// matching one condition never share a bundle). A batch is split into rounds
// (an op goes in the first round after every earlier op sharing one of its
// identities) and rounds run one after the other, so a
// later op for a resource is applied after the earlier one; when the earlier
// op failed with a retryable error, the later one is not sent and fails the
// same way, so a retry cannot apply an older version over a newer one.
// Concurrent Write calls share the Workers limit and never have two requests
// for the same resource in flight.
//
// # PHI
//
// Resources hold PHI. Errors name the HTTP method, the resource type and id
// (fhirsync ids are PHI-free), the HTTP status, and the OperationOutcome's
// issue severities and codes (only codes of their R4 value sets; anything
// else prints as "unknown") and plain FHIRPath element paths; never a request
// URL's query, an identifier value, or the server's free text. A transport
// failure is named by its kind (timeout, connection refused, connection
// reset, malformed HTTP response, ...), never by the text net/http or a
// RoundTripper gave it, which can quote the server's status line or headers
// or the request URL; such errors are not wrapped either, only a sentinel
// (context.DeadlineExceeded, syscall.ECONNRESET, io.ErrUnexpectedEOF, ...)
// is. The free text (issue diagnostics and details) is reachable only
// through [Error.Diagnostics], which returns PHI.
//
// [MatchIdentifier] puts the identifier's system and value in the request
// URL of a Single request, and URLs end up in access logs: when identifier
// values are PHI (member ids), use Transaction or Batch mode, where the
// conditional URL travels inside the request body.
package restsink
