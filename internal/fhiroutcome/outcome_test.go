package fhiroutcome

import "testing"

func TestCodes(t *testing.T) {
	for _, tc := range []struct {
		s               string
		issue, severity bool
	}{
		{"invalid", true, false},
		{"business-rule", true, false},
		{"informational", true, false},
		{"error", false, true},
		{"information", false, true},
		{"", false, false},
		{"Invalid", false, false},
		{"invalid ZZCANARYZZ", false, false},
	} {
		if got := IsIssueType(tc.s); got != tc.issue {
			t.Errorf("IsIssueType(%q) = %v", tc.s, got)
		}
		if got := IsIssueSeverity(tc.s); got != tc.severity {
			t.Errorf("IsIssueSeverity(%q) = %v", tc.s, got)
		}
	}
}
