// Package terminology translates and normalizes the codes that payer data
// carries (ICD-10-CM, CPT, HCPCS, NDC, NUBC, CARC ...) for FHIR R4.
//
// It has four parts:
//
//   - [Mapper], the one-method interface a converter (fhirmap) calls per code:
//     Translate(ctx, from, targetSystem) returns a [Coding] or an error wrapping
//     [ErrNoMapping]. Mappers compose: [First] chains them, [Cache] remembers
//     their answers (bounded LRU, TTL, negative caching, singleflight),
//     [UnmappedReport] counts the codes nobody could map, and
//     [StripLicensedDisplays] drops licensed display text.
//   - Local maps: [ConceptMap] reads FHIR R4 ConceptMap JSON (one map or a
//     Bundle, [ReadConceptMaps]) and spreadsheets ([ReadCSV]); an [Index]
//     translates across many maps, with the R4 equivalence of every answer and
//     the unmapped modes provided, fixed and other-map.
//   - [Remote], a client of a terminology server's ConceptMap/$translate
//     (FHIR R4), meant to be used behind a [Cache]; its errors say whether a
//     retry may help ([IsRetryable]).
//   - System URIs (SystemICD10CM ...) and normalizers that turn X12 code
//     forms into FHIR ones (NormalizeICD10CM: J209 → J20.9; NormalizeNDC11;
//     ValidateNPI; NormalizeRevenueCode: 450 → 0450; ParseTypeOfBill ...), each
//     with the MAPPING.md rule it implements in its doc comment.
//
// Which equivalences count as a mapping: relatedto, equivalent, equal,
// wider, subsumes, narrower, specializes and inexact do; unmatched and
// disjoint never do (see [Equivalence.IsMatch]). Every translation reports its
// equivalence in [Coding.Equivalence], and [IndexOptions].Accept (or
// [AcceptExact]) narrows the rule where a lossy translation is worse than none.
//
// A typical set-up, handed to the converter once and called per code:
//
//	ix := terminology.NewIndex(nil)
//	maps, err := terminology.ReadConceptMaps(f)
//	...
//	err = ix.Add(maps...)
//	remote := terminology.NewRemote(httpClient, "https://tx.example.org/fhir", nil)
//	unmapped := terminology.NewUnmappedReport(nil)
//	m := unmapped.Wrap(terminology.First(ix, terminology.NewCache(remote, nil)))
//
// # PHI
//
// Codes and code systems are not PHI, and nothing in this package handles
// member data. Even so, error strings never print a code or a cell value:
// they name the code set, the rule and the position ([CodeError]), the JSON
// path or byte offset ([ConceptMapError]), the line, column and column name
// ([CSVError]), or the HTTP status and OperationOutcome issue codes
// ([RemoteError]; the server's free-text diagnostics are only available
// through [RemoteError.Diagnostics]). Spreadsheet displays and server
// messages could hold anything, so they are kept out of error text.
//
// # Licences
//
// CPT (AMA), CDT (ADA), NUBC and X12 code descriptions are licensed
// (MAPPING.md D13). [IsLicensed] identifies those systems; a deployment
// without the licences wraps its mapper in [StripLicensedDisplays] (or calls
// [Coding.WithoutLicensedDisplay]) and emits codes only.
//
// # Delivery
//
// A Mapper's answer is either a translation, a no-mapping error (a permanent
// fact about the code, cached for [CacheOptions].NegativeTTL), or another
// error (the answer is unknown: a [Remote] failure with [IsRetryable] true
// should make the caller retry the record later rather than reject it).
// Nothing here retries by itself.
package terminology
