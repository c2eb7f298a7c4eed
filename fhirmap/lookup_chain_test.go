package fhirmap

import (
	"context"
	"errors"
	"reflect"
	"testing"

	claimpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
)

// countingLookup answers every query with err, and counts them.
type countingLookup struct {
	err   error
	calls int
}

func (f *countingLookup) FindClaim(context.Context, ClaimQuery) (*claimpb.Claim, error) {
	f.calls++
	return nil, f.err
}

func TestClaimLookups(t *testing.T) {
	ctx := context.Background()
	mem, server := NewClaimIndex(nil), NewClaimIndex(nil)
	if err := mem.Add(testClaim(t, "claim-today", "PCN1", "2024-01-10", "2024-01-10", "active")); err != nil {
		t.Fatal(err)
	}
	if err := server.Add(testClaim(t, "claim-last-week", "PCN2", "2024-01-03", "2024-01-03", "active")); err != nil {
		t.Fatal(err)
	}
	down := &countingLookup{err: &LookupError{Status: 503}}
	for _, tc := range []struct {
		name    string
		lookups []ClaimLookup
		pcn     string
		want    string // claim id, "" for ErrUnmatched
		wantErr error
	}{
		{"first answers", []ClaimLookup{mem, server}, "PCN1", "claim-today", nil},
		{"first misses, second answers", []ClaimLookup{mem, server}, "PCN2", "claim-last-week", nil},
		{"nobody knows", []ClaimLookup{mem, server}, "PCN3", "", ErrUnmatched},
		{"a failing lookup stops the search", []ClaimLookup{down, server}, "PCN2", "", down.err},
		{"a failing lookup after an answer is not asked", []ClaimLookup{mem, down}, "PCN1", "claim-today", nil},
		{"none", nil, "PCN1", "", ErrUnmatched},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ClaimLookups(tc.lookups...).FindClaim(ctx, query(tc.pcn, "", ""))
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) || c != nil {
					t.Errorf("got %v, %v; want error %v", c, err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("error %v", err)
			case c.GetId().GetValue() != tc.want:
				t.Errorf("claim %s, want %s", c.GetId().GetValue(), tc.want)
			}
		})
	}
	if down.calls != 1 {
		t.Errorf("the failing lookup was asked %d times, want 1", down.calls)
	}
}

// profilesOf is a ReferenceProfiles answering from a map.
type profilesOf struct {
	countingLookup
	known map[string][]string
}

func (p *profilesOf) DeclaredProfiles(_ context.Context, refs []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, r := range refs {
		if v, ok := p.known[r]; ok {
			out[r] = v
		}
	}
	return out, nil
}

func TestClaimLookupsProfiles(t *testing.T) {
	first := &profilesOf{known: map[string][]string{"Patient/a": {"p1"}}}
	second := &profilesOf{known: map[string][]string{"Patient/a": {"other"}, "Coverage/b": {"c1"}}}
	plain := &countingLookup{err: ErrUnmatched} // no ReferenceProfiles: skipped
	rp := ClaimLookups(first, plain, second).(ReferenceProfiles)
	got, err := rp.DeclaredProfiles(context.Background(), []string{"Patient/a", "Coverage/b", "Organization/c"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"Patient/a": {"p1"}, "Coverage/b": {"c1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v (the first lookup that knows a reference answers it)", got, want)
	}
}
