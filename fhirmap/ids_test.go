package fhirmap

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// testKey is a fixed 32-byte HMAC key for tests and examples. Never use a
// published key in production.
var testKey = []byte("fhirsync-test-key-0123456789abcd")

func newIDs(t testing.TB, o *IDOptions) *IDs {
	t.Helper()
	g, err := NewIDs(o)
	if err != nil {
		t.Fatalf("NewIDs: %v", err)
	}
	return g
}

// idCase is one typed-key call: fn returns the id (or an error) from g.
type idCase struct {
	name   string
	prefix string
	fn     func(g *IDs) (string, error)
}

// validCases exercises every typed method with a sufficient key.
func validCases() []idCase {
	return []idCase{
		{"patient/member", "pat-", func(g *IDs) (string, error) {
			return g.Patient(PatientKey{PayerID: "12345", MemberID: "W123456789"})
		}},
		{"patient/demographics", "pat-", func(g *IDs) (string, error) {
			return g.Patient(PatientKey{PayerID: "12345", SubscriberID: "W123456789", LastName: "DOE", FirstName: "JIM", BirthDate: "20100301"})
		}},
		{"practitioner/npi", "prac-", func(g *IDs) (string, error) {
			return g.Practitioner(PractitionerKey{NPI: "1912301953"})
		}},
		{"practitioner/tin", "prac-", func(g *IDs) (string, error) {
			return g.Practitioner(PractitionerKey{TIN: "371234567", LastName: "SMITH", FirstName: "ANNA"})
		}},
		{"organization/npi", "org-", func(g *IDs) (string, error) {
			return g.Organization(OrganizationKey{NPI: "1234567893"})
		}},
		{"organization/tin", "org-", func(g *IDs) (string, error) {
			return g.Organization(OrganizationKey{TIN: "371234567"})
		}},
		{"payer/id", "payer-", func(g *IDs) (string, error) { return g.Payer(PayerKey{PayerID: "12345"}) }},
		{"payer/naic", "payer-", func(g *IDs) (string, error) { return g.Payer(PayerKey{NAIC: "60054"}) }},
		{"payer/tin", "payer-", func(g *IDs) (string, error) { return g.Payer(PayerKey{TIN: "999999999"}) }},
		{"coverage", "cov-", func(g *IDs) (string, error) {
			return g.Coverage(CoverageKey{PayerID: "12345", SubscriberID: "W123456789", GroupNumber: "GRP001", Plan: "GOLD PPO", PeriodStart: "20240101"})
		}},
		{"claim", "claim-", func(g *IDs) (string, error) {
			return g.Claim(ClaimKey{BillingProvider: "1234567893", PatientControlNumber: "PCN0001", Frequency: "1", TransactionRef: "B1001"})
		}},
		{"eob", "eob-", func(g *IDs) (string, error) {
			return g.ExplanationOfBenefit(EOBKey{PayerID: "12345", ICN: "ICN9900001"})
		}},
		{"relatedperson/id", "rp-", func(g *IDs) (string, error) {
			return g.RelatedPerson(RelatedPersonKey{PatientID: "pat-abc", Relationship: "01", PersonID: "W123456789"})
		}},
		{"relatedperson/name", "rp-", func(g *IDs) (string, error) {
			return g.RelatedPerson(RelatedPersonKey{PatientID: "pat-abc", Relationship: "01", LastName: "DOE", FirstName: "JANE", BirthDate: "1980-02-14"})
		}},
		{"location/npi", "loc-", func(g *IDs) (string, error) { return g.Location(LocationKey{NPI: "1234567893"}) }},
		{"location/address", "loc-", func(g *IDs) (string, error) {
			return g.Location(LocationKey{Line: "1 MAIN ST", City: "SPRINGFIELD", State: "IL", PostalCode: "627011234"})
		}},
		{"practitionerrole", "role-", func(g *IDs) (string, error) {
			return g.PractitionerRole(PractitionerRoleKey{PractitionerID: "prac-x", OrganizationID: "org-y", Specialty: "207Q00000X"})
		}},
		{"encounter", "enc-", func(g *IDs) (string, error) {
			return g.Encounter(EncounterKey{BillingProvider: "1234567893", PatientControlNumber: "PCN0001", Start: "20240110"})
		}},
		{"provenance", "prov-", func(g *IDs) (string, error) {
			return g.Provenance(ProvenanceKey{Target: "Claim/claim-x", Source: "file-837.x12@ISA000000001/ST0001/3"})
		}},
		{"generic/known type", "plan-", func(g *IDs) (string, error) { return g.ID("InsurancePlan", "12345", "GOLD"), nil }},
		{"generic/unknown type", "medicationdispense-", func(g *IDs) (string, error) { return g.ID("MedicationDispense", "RX1"), nil }},
		{"generic/no type", "res-", func(g *IDs) (string, error) { return g.ID("", "X"), nil }},
	}
}

func TestIDsValidAndDeterministic(t *testing.T) {
	opts := map[string]*IDOptions{
		"keyed":        {Key: testKey},
		"uuidv5":       nil,
		"keyed-uuid":   {Key: testKey, Format: IDUUID},
		"uuidv5-uuid":  {Format: IDUUID},
		"namespace-ns": {Namespace: [16]byte{1, 2, 3}},
	}
	for oname, o := range opts {
		g := newIDs(t, o)
		g2 := newIDs(t, o)
		seen := map[string]string{}
		for _, c := range validCases() {
			t.Run(oname+"/"+c.name, func(t *testing.T) {
				id, err := c.fn(g)
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if !ValidID(id) {
					t.Fatalf("id %q is not a valid FHIR id", id)
				}
				if o != nil && o.Format == IDUUID {
					if len(id) != 36 || strings.Count(id, "-") != 4 {
						t.Fatalf("id %q is not a UUID", id)
					}
					want := byte('5')
					if o.Key != nil {
						want = '8'
					}
					if id[14] != want || !strings.ContainsRune("89ab", rune(id[19])) {
						t.Fatalf("id %q: version %c variant %c, want version %c", id, id[14], id[19], want)
					}
				} else if !strings.HasPrefix(id, c.prefix) || len(id) != len(c.prefix)+26 {
					t.Fatalf("id %q: want prefix %q and 26 hash characters", id, c.prefix)
				}
				again, _ := c.fn(g2)
				if again != id {
					t.Fatalf("not deterministic: %q then %q", id, again)
				}
				if prev, dup := seen[id]; dup {
					t.Fatalf("id %q shared by %s and %s", id, prev, c.name)
				}
				seen[id] = c.name
			})
		}
	}
}

func TestIDsKeyChangesIDs(t *testing.T) {
	a := newIDs(t, &IDOptions{Key: testKey})
	b := newIDs(t, &IDOptions{Key: []byte("another-deployment-key-000000000")})
	c := newIDs(t, nil)
	d := newIDs(t, &IDOptions{Namespace: [16]byte{9}})
	k := PatientKey{PayerID: "12345", MemberID: "W123456789"}
	ids := map[string]bool{}
	for _, g := range []*IDs{a, b, c, d} {
		id, err := g.Patient(k)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if len(ids) != 4 {
		t.Fatalf("keys and namespaces must give distinct ids, got %d distinct of 4", len(ids))
	}
	if !a.Keyed() || c.Keyed() {
		t.Fatalf("Keyed: got %v/%v, want true/false", a.Keyed(), c.Keyed())
	}
}

func TestIDsNormalization(t *testing.T) {
	g := newIDs(t, &IDOptions{Key: testKey})
	same := []struct {
		name string
		a, b func() (string, error)
	}{
		{"member id case and space",
			func() (string, error) { return g.Patient(PatientKey{PayerID: "12345", MemberID: "W123456789"}) },
			func() (string, error) { return g.Patient(PatientKey{PayerID: " 12345 ", MemberID: "w123456789\t"}) }},
		{"birth date formats",
			func() (string, error) {
				return g.Patient(PatientKey{SubscriberID: "S1", LastName: "DOE", FirstName: "JIM", BirthDate: "2010-03-01"})
			},
			func() (string, error) {
				return g.Patient(PatientKey{SubscriberID: "S1", LastName: "Doe", FirstName: "Jim", BirthDate: "20100301"})
			}},
		{"inner white space",
			func() (string, error) { return g.Coverage(CoverageKey{SubscriberID: "S1", Plan: "GOLD PPO"}) },
			func() (string, error) { return g.Coverage(CoverageKey{SubscriberID: "S1", Plan: "gold   ppo "}) }},
		{"beneficiary defaults to subscriber",
			func() (string, error) { return g.Coverage(CoverageKey{SubscriberID: "S1"}) },
			func() (string, error) { return g.Coverage(CoverageKey{SubscriberID: "S1", MemberID: "s1"}) }},
		{"zip+4 counts as zip",
			func() (string, error) { return g.Location(LocationKey{Line: "1 MAIN ST", PostalCode: "62701"}) },
			func() (string, error) { return g.Location(LocationKey{Line: "1 Main St", PostalCode: "627011234"}) }},
		{"non-ASCII upper-cased",
			func() (string, error) { return g.Practitioner(PractitionerKey{TIN: "1", LastName: "MUÑOZ"}) },
			func() (string, error) { return g.Practitioner(PractitionerKey{TIN: "1", LastName: "muñoz"}) }},
	}
	for _, c := range same {
		t.Run(c.name, func(t *testing.T) {
			a, err := c.a()
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.b()
			if err != nil {
				t.Fatal(err)
			}
			if a != b {
				t.Fatalf("normalized keys differ: %q vs %q", a, b)
			}
		})
	}
	// The dependent's own Coverage differs from the subscriber's.
	sub, _ := g.Coverage(CoverageKey{SubscriberID: "S1"})
	dep, _ := g.Coverage(CoverageKey{SubscriberID: "S1", MemberID: "S1-02"})
	if sub == dep {
		t.Fatal("a dependent's Coverage must not share the subscriber's id")
	}
	// Provenance sources are case-sensitive message ids.
	p1, _ := g.Provenance(ProvenanceKey{Target: "Claim/a", Source: "msg-A"})
	p2, _ := g.Provenance(ProvenanceKey{Target: "Claim/a", Source: "msg-a"})
	if p1 == p2 {
		t.Fatal("Provenance source must stay case-sensitive")
	}
}

func TestIDsMissingKey(t *testing.T) {
	g := newIDs(t, &IDOptions{Key: testKey})
	cases := []struct {
		name string
		fn   func() (string, error)
	}{
		{"patient empty", func() (string, error) { return g.Patient(PatientKey{PayerID: "12345"}) }},
		{"patient no birth date", func() (string, error) {
			return g.Patient(PatientKey{SubscriberID: "S1", LastName: "DOE", FirstName: "JIM"})
		}},
		{"patient blank member id", func() (string, error) { return g.Patient(PatientKey{MemberID: "   "}) }},
		{"practitioner tin without name", func() (string, error) { return g.Practitioner(PractitionerKey{TIN: "1"}) }},
		{"organization empty", func() (string, error) { return g.Organization(OrganizationKey{}) }},
		{"payer empty", func() (string, error) { return g.Payer(PayerKey{}) }},
		{"coverage no subscriber", func() (string, error) { return g.Coverage(CoverageKey{PayerID: "1", MemberID: "M"}) }},
		{"claim no pcn", func() (string, error) { return g.Claim(ClaimKey{BillingProvider: "1234567893"}) }},
		{"claim no provider", func() (string, error) { return g.Claim(ClaimKey{PatientControlNumber: "P"}) }},
		{"eob no icn", func() (string, error) { return g.ExplanationOfBenefit(EOBKey{PayerID: "1"}) }},
		{"relatedperson no patient", func() (string, error) { return g.RelatedPerson(RelatedPersonKey{PersonID: "X"}) }},
		{"relatedperson no person", func() (string, error) { return g.RelatedPerson(RelatedPersonKey{PatientID: "pat-a"}) }},
		{"location empty", func() (string, error) { return g.Location(LocationKey{City: "X"}) }},
		{"practitionerrole empty", func() (string, error) {
			return g.PractitionerRole(PractitionerRoleKey{LocationID: "loc-a"})
		}},
		{"encounter empty", func() (string, error) { return g.Encounter(EncounterKey{Start: "20240101"}) }},
		{"provenance no source", func() (string, error) { return g.Provenance(ProvenanceKey{Target: "Claim/a"}) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := c.fn()
			if !errors.Is(err, ErrMissing) {
				t.Fatalf("err = %v, want ErrMissing", err)
			}
			if id != "" {
				t.Fatalf("id = %q on error, want empty", id)
			}
		})
	}
}

// TestIDsCanary checks that no part of a business key leaks into an id, in any
// format, for every typed method and the generic one.
func TestIDsCanary(t *testing.T) {
	const canary = "ZZCANARYZZ"
	for _, o := range []*IDOptions{nil, {Key: testKey}, {Format: IDUUID}, {Key: testKey, Format: IDUUID}} {
		g := newIDs(t, o)
		ids := []func() (string, error){
			func() (string, error) { return g.Patient(PatientKey{PayerID: canary, MemberID: canary}) },
			func() (string, error) {
				return g.Patient(PatientKey{SubscriberID: canary, LastName: canary, FirstName: canary, BirthDate: canary})
			},
			func() (string, error) { return g.Practitioner(PractitionerKey{NPI: canary}) },
			func() (string, error) { return g.Practitioner(PractitionerKey{TIN: canary, LastName: canary}) },
			func() (string, error) { return g.Organization(OrganizationKey{NPI: canary}) },
			func() (string, error) { return g.Payer(PayerKey{PayerID: canary}) },
			func() (string, error) {
				return g.Coverage(CoverageKey{PayerID: canary, SubscriberID: canary, MemberID: canary, GroupNumber: canary, Plan: canary, PeriodStart: canary})
			},
			func() (string, error) {
				return g.Claim(ClaimKey{BillingProvider: canary, PatientControlNumber: canary, Frequency: canary, TransactionRef: canary})
			},
			func() (string, error) { return g.ExplanationOfBenefit(EOBKey{PayerID: canary, ICN: canary}) },
			func() (string, error) {
				return g.RelatedPerson(RelatedPersonKey{PatientID: canary, PersonID: canary, Relationship: canary})
			},
			func() (string, error) {
				return g.RelatedPerson(RelatedPersonKey{PatientID: canary, LastName: canary, FirstName: canary, BirthDate: canary})
			},
			func() (string, error) { return g.Location(LocationKey{Line: canary, City: canary, PostalCode: canary}) },
			func() (string, error) {
				return g.PractitionerRole(PractitionerRoleKey{PractitionerID: canary, OrganizationID: canary, Code: canary})
			},
			func() (string, error) {
				return g.Encounter(EncounterKey{BillingProvider: canary, PatientControlNumber: canary, Start: canary})
			},
			func() (string, error) { return g.Provenance(ProvenanceKey{Target: canary, Source: canary}) },
			func() (string, error) { return g.ID("Patient", canary, canary), nil },
		}
		for i, fn := range ids {
			id, err := fn()
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			if strings.Contains(strings.ToUpper(id), canary) {
				t.Errorf("case %d: id %q contains the canary", i, id)
			}
			if err == nil && !ValidID(id) {
				t.Errorf("case %d: invalid id %q", i, id)
			}
		}
	}
}

// TestIDsPrefixFromTypeOnly shows that the prefix is derived from the resource
// type string alone (never from a key part), cleaned to [a-z0-9] and bounded.
func TestIDsPrefixFromTypeOnly(t *testing.T) {
	g := newIDs(t, &IDOptions{Key: testKey})
	if p := strings.SplitN(g.ID("Medication-Dispense!", "x"), "-", 2)[0]; p != "medicationdispense" {
		t.Fatalf("prefix %q", p)
	}
	long := strings.Repeat("Abcdefgh", 10)
	if id := g.ID(long, "x"); len(id) > 64 || !ValidID(id) {
		t.Fatalf("long type gave id %q (len %d)", id, len(id))
	}
}

// TestIDsSeparatorCollisions checks that key parts cannot be shifted across
// part boundaries, nor kinds of key confused, to produce the same id.
func TestIDsSeparatorCollisions(t *testing.T) {
	g := newIDs(t, &IDOptions{Key: testKey})
	pat := func(payer, member string) string {
		id, err := g.Patient(PatientKey{PayerID: payer, MemberID: member})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	groups := [][]string{
		{g.ID("X", "AB", "C"), g.ID("X", "A", "BC"), g.ID("X", "ABC"), g.ID("X", "A", "B", "C"), g.ID("X", "ABC", ""), g.ID("X", "", "ABC")},
		{g.ID("X", "A|B"), g.ID("X", "A", "B"), g.ID("X", "A\x00B"), g.ID("X", "A\x01B")},
		{g.ID("X"), g.ID("X", ""), g.ID("X", "", "")},
		{pat("AB", "C"), pat("A", "BC"), pat("", "ABC")},
		{g.ID("XA", "B"), g.ID("X", "AB")},
	}
	for i, grp := range groups {
		seen := map[string]int{}
		for j, id := range grp {
			if k, dup := seen[id]; dup {
				t.Errorf("group %d: entries %d and %d share id %q", i, k, j, id)
			}
			seen[id] = j
		}
	}
	// Kinds of key are separate domains: the same string as a payer id, a
	// provider NPI, a practitioner NPI, a location NPI and generic parts.
	payer, _ := g.Payer(PayerKey{PayerID: "1234567893"})
	org, _ := g.Organization(OrganizationKey{NPI: "1234567893"})
	orgTIN, _ := g.Organization(OrganizationKey{TIN: "1234567893"})
	prac, _ := g.Practitioner(PractitionerKey{NPI: "1234567893"})
	loc, _ := g.Location(LocationKey{NPI: "1234567893"})
	gen := g.ID("Organization", "1234567893")
	hashes := map[string]bool{}
	for _, id := range []string{payer, org, orgTIN, prac, loc, gen} {
		hashes[id[strings.IndexByte(id, '-')+1:]] = true
	}
	if len(hashes) != 6 {
		t.Fatalf("domains collide: %d distinct hashes of 6", len(hashes))
	}
}

// TestUUIDv5KnownAnswer checks the UUIDv5 construction against the RFC 9562
// example (DNS namespace, "www.example.com").
func TestUUIDv5KnownAnswer(t *testing.T) {
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	got := formatUUID(uuidV5(sha1.New(), nil, dns[:], []byte("www.example.com")))
	if want := "2ed6657d-e927-568b-95e1-2665a8aea6a2"; got != want {
		t.Fatalf("uuidV5 = %s, want %s", got, want)
	}
}

func TestNewIDsOptions(t *testing.T) {
	if _, err := NewIDs(&IDOptions{Key: []byte("short")}); err == nil {
		t.Fatal("a 5-byte key must be refused")
	}
	if _, err := NewIDs(&IDOptions{Format: 7}); err == nil {
		t.Fatal("an unknown format must be refused")
	}
	key := append([]byte(nil), testKey...)
	g := newIDs(t, &IDOptions{Key: key})
	before := g.ID("X", "a")
	key[0] ^= 0xff // the caller's slice is copied
	if g.ID("X", "a") != before {
		t.Fatal("IDs must copy its key")
	}
}

func TestValidID(t *testing.T) {
	cases := []struct {
		id   string
		want bool
	}{
		{"pat-abc", true},
		{"a", true},
		{"A.b-9", true},
		{"12345", false}, // purely numeric: HAPI refuses it
		{"", false},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"pat_abc", false},
		{"pat abc", false},
		{"pat/abc", false},
		{"ñ", false},
	}
	for _, c := range cases {
		if got := ValidID(c.id); got != c.want {
			t.Errorf("ValidID(%q) = %v, want %v", c.id, got, c.want)
		}
	}
}

func TestIDsConcurrent(t *testing.T) {
	g := newIDs(t, &IDOptions{Key: testKey})
	want, _ := g.Patient(PatientKey{PayerID: "1", MemberID: "M"})
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if id, _ := g.Patient(PatientKey{PayerID: "1", MemberID: "M"}); id != want {
					errs <- id
					return
				}
				g.ID("X", fmt.Sprint(w, i))
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for id := range errs {
		t.Errorf("concurrent call gave %q, want %q", id, want)
	}
}

func BenchmarkIDsPatient(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts *IDOptions
	}{
		{"hmac", &IDOptions{Key: testKey}},
		{"uuidv5", nil},
		{"hmac-uuid", &IDOptions{Key: testKey, Format: IDUUID}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := newIDs(b, bc.opts)
			k := PatientKey{PayerID: "12345", MemberID: "W123456789"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Patient(k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIDsGeneric(b *testing.B) {
	g := newIDs(b, &IDOptions{Key: testKey})
	b.ReportAllocs()
	for b.Loop() {
		g.ID("Claim", "1234567893", "pcn0001", "1", "b1001")
	}
}

// The ids below are pinned: a change of construction would change every id a
// deployment has already written and break idempotent re-runs.
func ExampleIDs_Patient() {
	ids, err := NewIDs(&IDOptions{Key: []byte("fhirsync-test-key-0123456789abcd")})
	if err != nil {
		panic(err)
	}
	id, err := ids.Patient(PatientKey{PayerID: "12345", MemberID: "W123456789"})
	if err != nil {
		panic(err)
	}
	same, _ := ids.Patient(PatientKey{PayerID: "12345", MemberID: " w123456789 "})
	fmt.Println(id)
	fmt.Println(id == same)
	// Output:
	// pat-sznappc2p7nq7xal2y62ibipcy
	// true
}

func ExampleIDs_ID() {
	ids, _ := NewIDs(&IDOptions{Format: IDUUID}) // UUIDv5, public namespace: not for PHI keys
	fmt.Println(ids.ID("InsurancePlan", "12345", "GOLD PPO"))
	// Output:
	// e8c84350-03c3-5490-907f-48980a1433fa
}
