// Package sinktest is the conformance suite every [sink.Sink] driver runs,
// in the style of Go CDK's drivertest, and the synthetic R4 resources it
// writes.
//
// A driver's test implements a [Harness] (make a sink; read back what its
// backend holds) and calls [Run] with the [Features] it promises:
//
//	func TestConformance(t *testing.T) {
//		sinktest.Run(t, newHarness, sinktest.Features{Versions: true, Delete: true})
//	}
//
// The suite checks: write then read; an identical rewrite leaves one
// resource with the same content; an update overwrites; two ops for one key
// in a batch end with the later; a batch with invalid ops in the middle
// fails exactly those indexes with [sink.ErrInvalid] and writes the others;
// an injected 429/503 is retryable with the server's Retry-After; a
// cancelled or expired context makes Write return within two seconds; Close
// is idempotent and a later Write fails with [sink.ErrClosed]; concurrent
// writers lose nothing and a contended key ends as one of the versions
// written; and no error ever prints [Canary], which the synthetic resources
// carry in their PHI elements. What a driver does not support (delete,
// If-Match) it must refuse with errors.ErrUnsupported, never drop.
//
// The builders ([Patient], [Coverage], [Claim], [Organization], [Related])
// return valid R4 resources: they are parsed by google/fhir's validating
// unmarshaller, so a real server accepts them.
//
// # PHI
//
// The synthetic resources are fictitious; their PHI elements (names,
// addresses, subscriber ids) carry [Canary] so that a leak into an error is
// caught.
package sinktest
