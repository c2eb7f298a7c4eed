// Package fhiroutcome holds the fixed codes of an OperationOutcome that
// fhirsync lets into its errors: a server's OperationOutcome is free text
// anywhere else (diagnostics, details, even a malformed code), and may quote
// the values it refused, so only a code of the value set bound to the
// element is ever copied out of it.
//
// It imports nothing of fhirsync's, so the packages that read servers'
// outcomes (restsink, terminology's $translate client) share one list.
package fhiroutcome

// IsIssueType reports whether s is a code of the FHIR R4 IssueType value set
// (the required binding of OperationOutcome.issue.code).
func IsIssueType(s string) bool {
	switch s {
	case "invalid", "structure", "required", "value", "invariant",
		"security", "login", "unknown", "expired", "forbidden", "suppressed",
		"processing", "not-supported", "duplicate", "multiple-matches", "not-found",
		"deleted", "too-long", "code-invalid", "extension", "too-costly",
		"business-rule", "conflict", "transient", "lock-error", "no-store",
		"exception", "timeout", "incomplete", "throttled", "informational":
		return true
	}
	return false
}

// IsIssueSeverity reports whether s is a code of the FHIR R4 IssueSeverity
// value set (OperationOutcome.issue.severity).
func IsIssueSeverity(s string) bool {
	switch s {
	case "fatal", "error", "warning", "information":
		return true
	}
	return false
}
