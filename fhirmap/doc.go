// Package fhirmap turns payer records into FHIR R4 resources built on
// github.com/google/fhir/go protos, conforming to CARIN Blue Button (C4BB),
// US Core and Da Vinci Plan-Net.
//
// This release holds the foundations the mappers stand on:
//
//   - [IDs]: deterministic, PHI-free resource ids from business keys, so that
//     a re-delivered record overwrites and never duplicates;
//   - [Error]: the typed mapping error, with the X12 position and FHIR path;
//   - [C4BBVersion] and the [Canonical] profile URLs (versioned, as C4BB
//     requires in meta.profile);
//   - package [github.com/fhirsync/fhirsync/fhirmap/check]: the must-have
//     elements, slices and invariants of the C4BB, US Core and Plan-Net
//     profiles, checked in Go.
//
// The converters from x12 records (837 claims, 835 claim payments, 834
// members) and provider-directory rows come next.
//
// # Ids
//
// Ids appear in URLs and access logs, so they never carry a member id, name
// or account number in clear. With a deployment key ([IDOptions].Key, at
// least [MinIDKeyLen] bytes) an id is an HMAC-SHA256 of the normalized key
// parts; that is the recommended setting. Without one, ids are UUIDv5 over
// [DefaultIDNamespace] (or a namespace of yours): deterministic and opaque,
// but the namespace is not a secret, so anyone holding it can confirm a
// guessed member id by recomputing its id. Code-like key parts are trimmed
// and upper-cased before hashing; Provenance sources and PractitionerRole ids
// are hashed case-sensitively. Every part is length-prefixed, and each kind
// of key hashes under its own label, so ("AB","C") and ("A","BC") differ and
// a Patient never shares an id with a Coverage.
//
// # PHI
//
// [Error.Error] and [Error.LogValue] name positions, paths and sentinels,
// never a value; [Error.Diagnostics] may, and is documented as PHI. Findings
// of package check carry codes and system URIs at most.
package fhirmap
