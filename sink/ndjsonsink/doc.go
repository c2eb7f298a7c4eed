// Package ndjsonsink writes FHIR Bulk Data NDJSON import sets: the files a
// FHIR server's $import (AWS HealthLake, Azure Health Data Services, Google
// Cloud Healthcare API) loads, and the Bulk Data manifest that lists them.
//
// A Sink owns one directory and writes one import set into it. Close seals
// the set:
//
//	dir/Patient.000001.ndjson     one file per resource type, rotated by size or line count
//	dir/Patient.000002.ndjson
//	dir/Coverage.000001.ndjson
//	dir/deleted.000001.ndjson     transaction Bundles of DELETE entries (only if there were deletes)
//	dir/manifest.json             written last: the set is complete when it exists
//
// Give $import the manifest's output files (on Azure, one input entry per
// file with its type; HealthLake and Google take a storage prefix, so upload
// only the output files there). Set [Options].BaseURL to where the files
// will be uploaded so the manifest's urls point there.
//
// # One line per resource
//
// An import set holds each resource (type and id) at most once, the latest
// write: Azure's $import picks a random winner among duplicate ids, and the
// other importers do not promise an order either. Lines are appended to work
// files under dir/.ndjsonsink/ as they come; an index of id → (file, line)
// marks a line dead when a later op for the same resource arrives. Close
// publishes each work file without its dead lines (a file with none is
// hard-linked, one with some is copied without them), so the sealed set has
// exactly one line per resource, the latest, and each type's files are
// numbered from 000001 without gaps. The index costs about 100 bytes per
// distinct resource (10 million resources ≈ 1 GB); for more, seal sets
// more often. Rotation limits apply to the work files, so sealed files are
// at most that large.
//
// There is no manifest, and no file under its final name, before Close: a
// later op may still remove a line from any file of the set, so a file
// published at rotation could be imported with a line the set no longer
// holds. To import as you go, seal small sets (Close, then New on a fresh
// directory) and import them in order.
//
// # Deletes
//
// $import cannot delete. A delete op removes the resource from the set (if
// an earlier op put it there) and lists it as deleted; a later upsert of the
// same resource takes it off that list. The sealed set lists the deleted
// resources in the manifest's "deleted" array: NDJSON files of transaction
// Bundles, each entry a request {"method": "DELETE", "url": "Type/id"}, the
// shape Bulk Data export uses for deletions. Apply them after the import
// (POST each line to the server's base), or with restsink. They are not
// $import input: uploading them with the output would import them as Bundle
// resources.
//
// # Delivery
//
// Write returns nil only once its ops are durable: their lines are written
// and fsynced, as is the directory when a new file was created, so a crash
// after Write returns loses none of them. Each Write is its own fsync group;
// batch ops for throughput. Writes are serialized; ops are serialized to
// JSON outside the lock, so concurrent writers use several cores.
//
// Crash safety: the work files are append-only and the deletes journal
// records where each delete fell among a type's lines, so New on a
// directory left by a crash replays both, rebuilds the index, cuts off a
// torn last line (never acknowledged) and resumes the set. Close writes each
// output file to a temporary name, fsyncs it and renames it (or hard-links
// a durable work file), then fsyncs the directory, and only then writes the
// manifest the same way: an importer never sees a half file, and the
// manifest, written last, is the commit point. The work files are removed
// only after the manifest is durable, so a Close stopped by an error, its
// context or a crash is done again by a later Close, or by New. Output files
// present without a manifest are an unfinished seal: do not import them.
//
// The directory is locked (flock on Unix) while a Sink has it open. Detach
// closes a Sink without sealing, for a service that stops and resumes the
// same set.
//
// Op.IfMatch is not supported (an import set keeps no versions): such an op
// fails with errors.ErrUnsupported.
//
// # PHI
//
// The files hold resources, hence PHI: protect the directory and the bucket
// they go to. File names are built from resource types and sequence numbers
// only. Errors name op indexes, resource types and ids, file paths and line
// numbers, never an element value; the manifest holds types, urls and
// counts.
package ndjsonsink
