package fhirmap

import (
	"strings"
)

// The 834 golden cases name the payer by its tax id (1000B N103 FI), as most
// 834s do; the payer id the payer's 837s carry is configured.
func init() {
	for _, name := range []string{"834_add", "834_change", "834_term", "834_reinstate", "834_dependents", "834_full_jan", "834_full_feb"} {
		goldenOptionHooks[name] = func(o *Options) { o.Enrollment = &EnrollmentOptions{PayerID: "99999"} }
	}
}

var _ = strings.TrimSpace
