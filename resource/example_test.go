package resource_test

import (
	"fmt"

	"github.com/fhirsync/fhirsync/resource"
)

func ExampleUnmarshal() {
	m, err := resource.Unmarshal([]byte(`{"resourceType":"Coverage","id":"cov-1","status":"active",
		"identifier":[{"system":"urn:example:member","value":"M1"}],
		"beneficiary":{"reference":"Patient/pat-1"},"payor":[{"reference":"Organization/org-1"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	key, _ := resource.Key(m)
	fmt.Println(key, resource.Identifiers(m)[0].System)
	b, _ := resource.Marshal(m)
	fmt.Println(string(b))
	// Output:
	// Coverage/cov-1 urn:example:member
	// {"beneficiary":{"reference":"Patient/pat-1"},"id":"cov-1","identifier":[{"system":"urn:example:member","value":"M1"}],"payor":[{"reference":"Organization/org-1"}],"resourceType":"Coverage","status":"active"}
}
