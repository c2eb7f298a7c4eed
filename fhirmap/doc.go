// Package fhirmap turns payer records into FHIR R4 resources built on
// github.com/google/fhir/go protos, conforming to CARIN Blue Button (C4BB),
// US Core and Da Vinci Plan-Net.
//
// # Mapping
//
// A [Mapper] maps one decoded x12 record at a time ([Mapper.MapRecord]):
//
//   - an 837 professional, institutional or dental claim
//     ([Mapper.MapClaim837]) becomes a Claim (use claim; type professional,
//     institutional or oral; the C4BB institutional subType) and the
//     resources it refers to: the billing provider, payers and service
//     facility (Organization), practitioners, the service facility
//     (Location), the patient, one Coverage per payer (coordination of
//     benefits included) and, for an 837I, an Encounter;
//   - an 835 claim payment becomes a C4BB ExplanationOfBenefit, joined with
//     its 837 claim through a [ClaimLookup] (Options.Claims), and an 835
//     provider adjustment (PLB) a PaymentReconciliation.
//
// The result ([Result]) lists the resources in dependency order (referenced
// resources first), the profile requirements the record has no data for
// (Result.Unmet: a resource that misses one does not declare the profile),
// and warnings (an NPI whose check digit fails, a local code without a
// translation). The Claim itself declares no profile: C4BB profiles
// ExplanationOfBenefit. Where C4BB defines an ExplanationOfBenefit
// supportingInfo slice, the Claim's supportingInfo uses its
// C4BBSupportingInfoType category, so that the EOB carries it over as is.
//
// Options cover what X12 does not carry: the id key, the C4BB release, the
// clock of meta.lastUpdated, identifier systems ([Systems]), the member id
// of a dependent patient ([DependentMemberIDFunc], MAPPING.md D1), network
// status ([NetworkStatusFunc], D7), the Coverage.type crosswalk and which
// local code systems to translate ([Translation]) with the
// terminology.Mapper given to [NewMapper]: the original coding is kept and
// the standard one added next to it.
//
// An ExplanationOfBenefit declares the C4BB financial profile of its claim's
// kind only when package check finds every requirement of it met; otherwise
// the -Basis profile, otherwise none, and Result.Unmet lists what was missing
// (an 835 without its 837 has no diagnoses, MAPPING.md D8). CAS adjustments
// become adjudication through an [AdjudicationTable] that a payer can
// override; the X12 group code is kept in the [ExtCASGroupCode] extension.
//
// # Converter
//
// A [Converter] turns a source.Message into resources; [NewX12Converter]
// returns the one for X12 bodies, which decodes them with an x12.Decoder in
// bounded memory and maps each record. It reads bodies through
// source.Message.Open, so a file streamed from disk (filesource's Stream)
// is never held whole, and as a [StreamConverter] it hands each record's
// resources on as they are mapped; X12ConverterOptions.Workers maps the
// records of one message in parallel, in record order on output.
//
// An 835 claim payment joins with its 837 claim through Options.Claims, a
// [ClaimLookup]: a [ClaimIndex] of the claims converted in this process, a
// [FHIRClaimLookup] reading back the Claims written to a server, or both in
// turn with [ClaimLookups].
//
// # Delivery
//
// One bad record never loses the others: [X12Converter.Convert] returns the
// resources of every record it converted and a [ConvertError] naming each
// failed record by position. Both are permanent outcomes: write the
// resources, send the failed records to the reject path, acknowledge the
// message. A failure that is not about a record (a terminology server or
// claim lookup that could not answer, a cancelled context) returns no
// resources, so that the message is retried. Ids are deterministic, so
// converting a message again rewrites the same resources.
//
// # Enrollment
//
// An 834 member ([Mapper.MapMember834]) becomes a C4BB Patient, a C4BB
// Coverage per health coverage loop (HD), C4BB RelatedPersons for its
// custodial parent and responsible persons, and the payer and sponsor
// Organizations. The maintenance type (HD01, else INS03) decides the
// Coverage: an addition, change or audit is active with its benefit period;
// a termination sets period.end and is never a delete (status cancelled only
// for a coverage that never came into force, MAPPING.md D12); a
// reinstatement opens the period again. Every resource carries the
// transaction set's creation date and time as its source version
// (Result.SourceVersion and the [ExtSourceVersion] meta extension), for the
// stale-update guard. Ids agree with the 837 and 835 side once
// [EnrollmentOptions].PayerID names the payer's id; a dependent's own member
// id comes from a configurable REF. A full file (BGN08 4 or RX) drives
// [Mapper.Reconcile]: [Mapper.ScanFullFile] keeps only its coverage ids, and
// the coverages of the previous snapshot that it no longer holds are ended
// on its effective date.
//
// # Provider directory
//
// A [ProviderRow] is one row of a provider directory or credentialing table,
// NPPES-shaped: a provider at one practice location with its taxonomies and
// network participation. A [ColumnMap] names a team's own columns;
// [ReadProviderCSV] streams a CSV file row by row, [ProviderRowFromMap]
// reads a database row, and a [ProviderChange] carries a Debezium or
// Postgres change (before and after images, op, source version). A
// [ProviderMapper] maps them to Da Vinci PDex Plan-Net 1.2.0: the payer
// ([DirectoryPayer]) and its Networks (Organizations of type ntwk), the
// Location, then a Practitioner with one PractitionerRole per network (NUCC
// specialties, role code, newpatients and network-reference extensions), or
// an Organization with one OrganizationAffiliation per network. A row that
// ends (an end date, Active false, a delete, a role an update no longer
// has) sets active = false and period.end, never deletes; since Plan-Net
// fixes active to true, an ended resource declares its US Core parent
// instead and Result.Unmet says so. An NPI that fails its check digit is a
// [*ProviderError] (the row goes to the reject path) rather than a warning:
// a directory entry is keyed by it. Errors name the row, line and column,
// never a cell's value. [NewProviderCSVConverter] is the [Converter] for
// provider files, with the X12 converter's delivery rules, and
// [ProviderMapper.ReconcileFull] ends what a full file no longer lists.
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
// Resources hold PHI; nothing else this package produces does. [Error.Error]
// and [Error.LogValue] name positions, paths and sentinels, never a value;
// [Error.Diagnostics] may, and is documented as PHI. [Issue] values,
// [ConvertError] text and the lineage written to meta.source
// ("urn:fhirsync:x12:<source>:<ISA13>:<GS06>:<ST02>:<offset>", see
// [Mapper.Lineage]) hold positions, control numbers, codes and the
// message's PHI-free name. Findings of package check carry system URIs and
// the codes a profile requires, never codes found in a resource.
package fhirmap
