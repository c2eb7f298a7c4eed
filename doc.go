// Package fhirsync keeps a FHIR R4 server in sync with a payer's systems of
// record. It is a library a team embeds in its own service: claims engines,
// enrollment systems and provider databases stay the source of truth, and
// fhirsync turns what they emit into correct FHIR and delivers it safely.
//
// # The picture
//
//	source ──Read──▶ message{ID (PHI-free), Body (may hold PHI), Metadata}
//	   │             filesource, kafkasource (+ debezium), pgsource,
//	   │             jetstreamsource, pubsubsource (RabbitMQ, SQS, GCP,
//	   │             Azure), memsource
//	   ▼
//	Run ─ convert    x12 Decoder: one business record at a time
//	   │             (an 837 claim, an 835 claim payment, an 834 member)
//	   │             fhirmap: record → R4 resources, referenced first,
//	   │             deterministic PHI-free ids; terminology: standard codings
//	   ▼
//	    ─ batch      by size and time, in source order, one version of a
//	   │             resource per batch, stale versions skipped
//	   ▼
//	sink.Write       restsink (PUT, conditional update, transaction or batch
//	   │             bundles), ndjsonsink (Bulk Data $import files), memsink
//	   ▼
//	ack              once every resource of the message is written and every
//	                 rejection found in it is recorded (Options.Reject)
//
// [Run] is the engine: at-least-once delivery, acks only after durable
// writes, retries with back-off, a dead-letter path, per-resource order and
// a stale-update guard. [Facade] is the on-demand pattern: an http.Handler
// answering FHIR reads through a cache, invalidated by change events run
// through Run into [Facade.Sink].
//
// The unit of work is the business record, not the file: a 50,000-claim 837
// streams in memory bounded by one claim, and one bad claim does not sink the
// others.
//
// Three sync patterns share these parts: event-driven (Kafka, Debezium,
// Postgres logical replication → convert → upsert), batch ETL (X12 files →
// REST upsert or NDJSON for $import), and an on-demand read facade with a
// cache where syncing is not worth it. Dual writes are the anti-pattern
// fhirsync exists to replace. A team scales it by running more replicas of
// its own service: in one Kafka consumer group, or over partitioned sources.
//
// # Packages
//
//   - [github.com/fhirsync/fhirsync/x12]: a streaming X12 5010 reader and
//     decoder with typed 837P/837I/837D, 835 and 834 records.
//   - [github.com/fhirsync/fhirsync/terminology]: ConceptMap translation,
//     code-system URIs and the normalizers X12 needs (ICD-10, NDC, NPI).
//   - [github.com/fhirsync/fhirsync/fhirmap]: 837 claims, 835 claim payments,
//     834 members and provider-directory rows to R4 (C4BB, US Core, Plan-Net),
//     with deterministic PHI-free ids and an X12 Converter.
//   - [github.com/fhirsync/fhirsync/source]: the Message and Source contract;
//     drivers filesource, kafkasource, pgsource, jetstreamsource,
//     pubsubsource and memsource;
//     debezium, the Debezium change-event format; the sourcetest
//     conformance suite.
//   - [github.com/fhirsync/fhirsync/sink]: the Sink contract and its error
//     classification; restsink, ndjsonsink and memsink drivers; the sinktest
//     conformance suite.
//   - [github.com/fhirsync/fhirsync/auth]: OAuth2 client-credentials and SMART
//     Backend Services authentication as http.RoundTrippers.
//   - [github.com/fhirsync/fhirsync/resource]: type, id, identifiers and
//     JSON of google/fhir R4 resource messages.
//
// # Delivery
//
// fhirsync delivers at least once and makes that safe with idempotent writes:
// every resource has a deterministic id derived from its business key, so a
// re-delivered record overwrites and never duplicates. A message is
// acknowledged only after every resource derived from it is durably written.
// Sources and sinks classify failures and never retry themselves; Run
// retries what is retryable, with back-off. Permanent failures (bad syntax,
// an invalid resource) go to the dead-letter path (Options.Reject) with their
// reason and the message is then acked: poison is never nacked. A failure
// given up on (Options.MaxAttempts) is nacked, never dropped. Sources
// checkpoint only the highest contiguous acked position (a Kafka offset, a
// Postgres LSN, a file), so a restart never skips an unacked message. Two
// versions of one resource are never in flight at once, and a resource whose
// source version is older than the one written last is skipped.
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
