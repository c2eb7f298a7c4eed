// Package fhirsync keeps a FHIR R4 server in sync with a payer's systems of
// record. It is a library a team embeds in its own service: claims engines,
// enrollment systems and provider databases stay the source of truth, and
// fhirsync turns what they emit into correct FHIR and delivers it safely.
//
// # The picture
//
//	source ──Read──▶ message{ID (PHI-free), Body (may hold PHI), Metadata}
//	   │
//	convert          x12 Decoder: one business record at a time
//	   │             (an 837 claim, an 835 claim payment, an 834 member)
//	   │             fhirmap: record → R4 resources, referenced first,
//	   │             deterministic PHI-free ids; terminology: standard codings
//	   ▼
//	sink.Write       restsink (PUT, conditional update, transaction or batch
//	                 bundles), ndjsonsink (Bulk Data $import files), memsink
//
// The unit of work is the business record, not the file: a 50,000-claim 837
// streams in memory bounded by one claim, and one bad claim does not sink the
// others.
//
// Three sync patterns share these parts: event-driven (Kafka, Debezium,
// Postgres logical replication → convert → upsert), batch ETL (X12 files →
// REST upsert or NDJSON for $import), and an on-demand read facade with a
// cache where syncing is not worth it. Dual writes are the anti-pattern
// fhirsync exists to replace.
//
// # Packages
//
//   - [github.com/fhirsync/fhirsync/x12]: a streaming X12 5010 reader and
//     decoder with typed 837P/837I/837D, 835 and 834 records.
//   - [github.com/fhirsync/fhirsync/terminology]: ConceptMap translation,
//     code-system URIs and the normalizers X12 needs (ICD-10, NDC, NPI).
//   - [github.com/fhirsync/fhirsync/sink]: the Sink contract and its error
//     classification; restsink, ndjsonsink and memsink drivers; the sinktest
//     conformance suite.
//   - [github.com/fhirsync/fhirsync/auth]: OAuth2 client-credentials and SMART
//     Backend Services authentication as http.RoundTrippers.
//   - [github.com/fhirsync/fhirsync/fhirmap]: 837 claims, 835 claim payments,
//     834 members and provider-directory rows to R4 (C4BB, US Core, Plan-Net),
//     with deterministic PHI-free ids and an X12 Converter.
//   - [github.com/fhirsync/fhirsync/source]: the Message and Source contract.
//   - [github.com/fhirsync/fhirsync/resource]: type, id, identifiers and
//     JSON of google/fhir R4 resource messages.
//
// The source drivers and the engine that joins the parts (Run, with retries,
// a dead-letter path and checkpoints) are being built; until they land, the
// packages above are used directly, as examples/x12tofhir does.
//
// # Delivery
//
// fhirsync delivers at least once and makes that safe with idempotent writes:
// every resource has a deterministic id derived from its business key, so a
// re-delivered record overwrites and never duplicates. A message is
// acknowledged only after every resource derived from it is durably written.
// Sinks classify failures as retryable or permanent and never retry
// themselves; permanent failures (bad syntax, an invalid resource) go to a
// dead-letter path with their reason, never back to the source.
//
// # PHI
//
// Message and resource ids, metadata, file names, error strings, log
// attributes and metric labels never contain PHI. Errors carry positions
// (byte offset, segment index, loop, element, envelope control numbers, FHIR
// path) and codes, never element values; where a value helps debugging it is
// reachable only through an explicit Diagnostics method documented as PHI.
// The tests carry a canary member name and fail if it leaks.
package fhirsync
