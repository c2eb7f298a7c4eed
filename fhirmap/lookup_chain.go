package fhirmap

import (
	"context"
	"errors"
	"fmt"

	claimpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
)

// ClaimLookups returns a [ClaimLookup] that asks each of lookups in turn and
// answers with the first Claim found: typically a [ClaimIndex] of the claims
// this process converted, then a [FHIRClaimLookup] reading back what was
// written before (by an earlier run, before a restart, by another replica),
// so that an 835 arriving days after its 837 still joins. A lookup that
// answers [ErrUnmatched] passes the query on; any other error (a server that
// could not answer) is returned at once, so that the record is retried
// rather than mapped without its claim.
//
// It implements [ReferenceProfiles] too: each reference is answered by the
// first of lookups that implements it and knows the reference.
func ClaimLookups(lookups ...ClaimLookup) ClaimLookup {
	return chain(lookups)
}

type chain []ClaimLookup

func (c chain) FindClaim(ctx context.Context, q ClaimQuery) (*claimpb.Claim, error) {
	for _, l := range c {
		claim, err := l.FindClaim(ctx, q)
		if err == nil && claim != nil {
			return claim, nil
		}
		if err != nil && !errors.Is(err, ErrUnmatched) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("fhirmap: claim lookups: %w", ErrUnmatched)
}

func (c chain) DeclaredProfiles(ctx context.Context, refs []string) (map[string][]string, error) {
	out := make(map[string][]string, len(refs))
	rest := refs
	for _, l := range c {
		rp, ok := l.(ReferenceProfiles)
		if !ok || len(rest) == 0 {
			continue
		}
		got, err := rp.DeclaredProfiles(ctx, rest)
		if err != nil {
			return nil, err
		}
		var left []string
		for _, r := range rest {
			if p, ok := got[r]; ok {
				out[r] = p
			} else {
				left = append(left, r)
			}
		}
		rest = left
	}
	return out, nil
}
