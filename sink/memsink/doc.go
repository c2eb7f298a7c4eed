// Package memsink is an in-memory [sink.Sink] that keeps every version of
// every resource, for tests (of the engine, of converters, of a user's own
// service) and examples. It behaves like a small FHIR server: versions,
// history, tombstones, If-Match, search by identifier; and, like a good test
// double, it can be made to fail deterministically.
//
// # Versions
//
// An upsert of a resource whose content (everything but meta.versionId and
// meta.lastUpdated) differs from the current version makes a new version:
// meta.versionId "1", "2", "3"... and meta.lastUpdated from
// [Options].Now. An identical rewrite makes no new version (like HAPI's
// no-op update suppression), so an idempotent replay is visible as an
// unchanged versionId; set [Options].VersionEveryWrite to behave like a
// server that versions every PUT. A delete records a tombstone version;
// deleting what is absent or already deleted changes nothing.
//
// # Faults
//
// [Options].Fault fails chosen ops (by their ordinal over the sink's life)
// with any error, for example [Throttled] or an [sink.ErrInvalid] error;
// [Sink.FailNext] fails whole Write calls; [Sink.StallNext] makes Write hang
// until its context is done, like a server that stopped answering.
//
// # Delivery
//
// Write applies a batch under one lock, in order; it returns nil when every
// op was applied, a [*sink.BatchError] naming the ops that were not (the
// others were), or, when nothing was applied, ctx.Err(), [sink.ErrClosed]
// or an injected whole-Write error. "Durable" means: in this process's
// memory, until the Sink is garbage. Close stops writes; reads keep working.
//
// # PHI
//
// The sink holds resources, which hold PHI, in memory only. Its errors name
// the op index, the resource type and id and version ids, never an element
// value.
package memsink
