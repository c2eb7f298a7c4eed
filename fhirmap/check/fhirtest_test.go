package check_test

import (
	"testing"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
)

func TestMain(m *testing.M) { fhirtest.Main(m) }

// TestExamplesPassServerValidation runs the valid examples through the
// project's FHIR test server validator (base R4 structure, cardinalities,
// invariants and required bindings), as an independent check of the
// examples this package's rules accept. It skips when the server cannot run
// (node or internal/fhirserver/node_modules missing) unless
// FHIRSYNC_INTEGRATION=1.
func TestExamplesPassServerValidation(t *testing.T) {
	for _, name := range exampleNames(t) {
		b := mustJSON(t, load(t, name))
		if errs := fhirtest.Validate(t, b); len(errs) > 0 {
			t.Errorf("%s: the server's validator reports:\n\t%v", name, errs)
		}
	}
	// Control: the validator does reject a broken example.
	d := load(t, "eob-professional")
	del("created")(t, d)
	if errs := fhirtest.Validate(t, mustJSON(t, d)); len(errs) == 0 {
		t.Error("the server's validator accepted an ExplanationOfBenefit without created")
	}
}
