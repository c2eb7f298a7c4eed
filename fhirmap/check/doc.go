// Package check verifies FHIR R4 resources (google/fhir protos) against the
// profiles fhirsync emits: CARIN Blue Button 2.1.0 and 2.2.0 (C4BB), their US
// Core 6.1.0 parents, and Da Vinci PDex Plan-Net 1.2.0.
//
// [Resource] checks a resource against every profile it declares in
// meta.profile; [All] and [Bundle] check several and also resolve references
// between them, so that a C4BB ExplanationOfBenefit whose patient does not
// declare C4BB-Patient is caught. [Report] formats findings for logs and
// golden files.
//
// The rules are written from the guides' FSH sources, as data where they are
// data (cardinalities, fixed and pattern values, required bindings,
// reference targets, slices discriminated by a category, type or url) and as
// Go for the invariants (careTeam role ⇒ provider type, focal insurance,
// header xor item amounts, oral tooth and surface rules, NPI check digit,
// version invariants...). Each [Finding] names its rule: "<Type>.<path>.<kind>"
// with kind min, max, fixed, pattern, binding, format, target,
// targetProfile or type; "<Type>.<element>:<slice>.min|max" (and
// "<Type>.<element>:<slice>.<path>.<kind>" inside a slice) for slices; the
// guide's key ("EOB-insurance-focal", "us-core-17") for invariants.
//
// It is not a full FHIR validator: base R4 rules are left to the JSON parser
// (google/fhir validates cardinalities and primitives) and to an external
// validator; membership of codes in large or licensed code systems (CPT,
// ICD-10, NDC, NUBC, NUCC, X12) is checked by code system only, with a
// syntax check reported as a warning; extensible bindings are not checked.
// Run it in tests and, if you like, before writing to a server.
//
// # PHI
//
// Findings never carry element values: not names, identifiers (the NPI
// check reports only that the check digit is wrong), dates, amounts, text,
// nor the codes found in the resource (a diagnosis or procedure code is
// health information about the member): they name the code systems found and
// the codes the profile requires. A finding does carry the
// resource's logical id, which fhirsync derives without PHI (fhirmap.IDs).
package check
