package fhirmap

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"
	"sync"
	"unicode"
)

// IDFormat selects the shape of the logical ids an [IDs] produces.
type IDFormat int

const (
	// IDPrefixed ids are a short resource-type prefix, a hyphen and 26
	// lower-case base32 characters (128 bits), for example
	// "pat-3kq7r2m6xw4c5jv8tn2ydh6bqa". The prefix names the resource kind
	// only and carries no PHI; it also keeps ids from ever being purely
	// numeric, which HAPI refuses.
	IDPrefixed IDFormat = iota
	// IDUUID ids are bare RFC 9562 UUIDs in their 36-character text form:
	// version 5 (SHA-1, name-based) when no key is configured, version 8
	// (custom: the first 128 bits of the HMAC with the version and variant
	// bits set) when one is. Use it for servers that expect UUID ids.
	IDUUID
)

// DefaultIDNamespace is the UUIDv5 namespace used when [IDOptions] sets no
// Key and no Namespace. It is published in this source file and is therefore
// NOT a secret: ids derived from it can be reproduced by anyone who can guess
// the business key (see [IDs]).
var DefaultIDNamespace = [16]byte{0x41, 0xab, 0x6e, 0x43, 0xe0, 0xdf, 0x4f, 0x66, 0x93, 0xe1, 0x16, 0xd1, 0x41, 0x56, 0x19, 0x32}

// MinIDKeyLen is the shortest HMAC key [NewIDs] accepts. 32 random bytes are
// recommended.
const MinIDKeyLen = 16

// IDOptions configures an [IDs]. The zero value (and a nil *IDOptions) means:
// no key, so UUIDv5 over [DefaultIDNamespace], in the [IDPrefixed] format.
type IDOptions struct {
	// Key is the deployment's secret for HMAC-SHA256 ids. When set (at least
	// MinIDKeyLen bytes) ids are keyed hashes that cannot be reversed or
	// recomputed without the key. Keep it stable: changing it changes every id.
	Key []byte
	// Namespace is the UUIDv5 namespace used when Key is empty. The zero
	// value means DefaultIDNamespace.
	Namespace [16]byte
	// Format is the id shape; the zero value is IDPrefixed.
	Format IDFormat
}

// IDs derives deterministic, PHI-free FHIR logical ids from business keys
// (MAPPING.md §3.1), so that converting the same record twice yields the same
// ids and writes are idempotent.
//
// Ids appear in URLs, access logs and dead-letter records, so they never hold
// a member id, name or account number in clear: every id is a hash of its
// key. Two constructions are offered:
//
//   - With IDOptions.Key, HMAC-SHA256 keyed by a deployment secret. Without
//     the key nobody can tell which member an id belongs to, even by trying
//     every possible member id. This is the recommended setting for
//     production.
//   - Without a key, UUIDv5 over a namespace. The namespace is not a secret
//     (the default one is published here), and member ids, NPIs and claim
//     numbers have little entropy, so an attacker who sees an id can find the
//     key by hashing candidate keys until one matches (a dictionary attack).
//     Use it for tests, demos, or data that is not PHI.
//
// Key parts are normalized before hashing: surrounding white space is
// trimmed, inner runs of white space become one space and letters are
// upper-cased (keys are identifiers and codes, where "w123" and "W123 " name
// the same thing); dates keep only their digits ("2024-01-02" and "20240102"
// agree). Each part is length-prefixed and each kind of key has its own
// domain label, so ("AB", "C") and ("A", "BC") never collide, and neither do a
// Patient and a Coverage built from the same strings.
//
// An IDs is safe for concurrent use.
type IDs struct {
	key    []byte
	ns     [16]byte
	format IDFormat
	pool   sync.Pool // *idState
}

type idState struct {
	buf []byte
	mac hash.Hash // nil without a key
	sha hash.Hash // SHA-1 for UUIDv5
	sum []byte
}

// NewIDs returns an id generator. It fails only when opts.Key is set but
// shorter than MinIDKeyLen, or opts.Format is unknown.
func NewIDs(opts *IDOptions) (*IDs, error) {
	var o IDOptions
	if opts != nil {
		o = *opts
	}
	if len(o.Key) > 0 && len(o.Key) < MinIDKeyLen {
		return nil, fmt.Errorf("fhirmap: id key is %d bytes, want at least %d", len(o.Key), MinIDKeyLen)
	}
	if o.Format != IDPrefixed && o.Format != IDUUID {
		return nil, fmt.Errorf("fhirmap: unknown id format %d", o.Format)
	}
	g := &IDs{format: o.Format, ns: o.Namespace}
	if g.ns == [16]byte{} {
		g.ns = DefaultIDNamespace
	}
	if len(o.Key) > 0 {
		g.key = append([]byte(nil), o.Key...)
	}
	g.pool.New = func() any {
		s := &idState{buf: make([]byte, 0, 256), sum: make([]byte, 0, sha256.Size)}
		if g.key != nil {
			s.mac = hmac.New(sha256.New, g.key)
		} else {
			s.sha = sha1.New()
		}
		return s
	}
	return g, nil
}

// Keyed reports whether ids are HMAC-SHA256 with a deployment key (true) or
// UUIDv5 over a public namespace (false).
func (g *IDs) Keyed() bool { return g.key != nil }

// idPrefix maps resource types to their human-readable id prefix.
var idPrefix = map[string]string{
	"Patient":                 "pat",
	"Practitioner":            "prac",
	"Organization":            "org",
	"Coverage":                "cov",
	"Claim":                   "claim",
	"ClaimResponse":           "clmresp",
	"ExplanationOfBenefit":    "eob",
	"RelatedPerson":           "rp",
	"Location":                "loc",
	"PractitionerRole":        "role",
	"Encounter":               "enc",
	"Provenance":              "prov",
	"HealthcareService":       "hcs",
	"InsurancePlan":           "plan",
	"Endpoint":                "ep",
	"MedicationRequest":       "medrx",
	"OrganizationAffiliation": "orgaff",
}

func prefixFor(resourceType string) string {
	if p, ok := idPrefix[resourceType]; ok {
		return p
	}
	var b strings.Builder
	for _, r := range resourceType {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
		}
		if b.Len() >= 32 {
			break
		}
	}
	if b.Len() == 0 {
		return "res"
	}
	return b.String()
}

var idBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Domain labels: one per kind of key, so that equal strings under different
// kinds never give the same id. They are hashed, never shown.
const (
	labelGeneric            = "fhirsync/id/v1/generic/"
	labelPatientMember      = "fhirsync/id/v1/Patient/member"
	labelPatientDemographic = "fhirsync/id/v1/Patient/subscriber-demographics"
	labelPractitionerNPI    = "fhirsync/id/v1/Practitioner/npi"
	labelPractitionerTIN    = "fhirsync/id/v1/Practitioner/tin-name"
	labelOrgNPI             = "fhirsync/id/v1/Organization/provider-npi"
	labelOrgTIN             = "fhirsync/id/v1/Organization/provider-tin"
	labelPayerID            = "fhirsync/id/v1/Organization/payer-id"
	labelPayerNAIC          = "fhirsync/id/v1/Organization/payer-naic"
	labelPayerTIN           = "fhirsync/id/v1/Organization/payer-tin"
	labelCoverage           = "fhirsync/id/v1/Coverage"
	labelClaim              = "fhirsync/id/v1/Claim"
	labelEOB                = "fhirsync/id/v1/ExplanationOfBenefit"
	labelRelatedPersonID    = "fhirsync/id/v1/RelatedPerson/id"
	labelRelatedPersonName  = "fhirsync/id/v1/RelatedPerson/demographics"
	labelLocationNPI        = "fhirsync/id/v1/Location/npi"
	labelLocationAddress    = "fhirsync/id/v1/Location/address"
	labelPractitionerRole   = "fhirsync/id/v1/PractitionerRole"
	labelEncounter          = "fhirsync/id/v1/Encounter"
	labelProvenance         = "fhirsync/id/v1/Provenance"
)

// ID returns the id of a resource of the given type whose business key is
// parts, for resources without a typed key method (or keys of your own). Each
// part is normalized like a code (trimmed, white space collapsed,
// upper-cased). The domain is the resource type, distinct from every typed
// method's: ID("Patient", payer, member) is not the id Patient returns.
func (g *IDs) ID(resourceType string, parts ...string) string {
	np := make([]string, len(parts))
	for i, p := range parts {
		np[i] = normCode(p)
	}
	return g.make(prefixFor(resourceType), labelGeneric+resourceType, np...)
}

// make hashes label and parts (already normalized) into an id.
func (g *IDs) make(prefix, label string, parts ...string) string {
	s := g.pool.Get().(*idState)
	defer g.pool.Put(s)
	b := s.buf[:0]
	b = binary.AppendUvarint(b, uint64(len(label)))
	b = append(b, label...)
	b = binary.AppendUvarint(b, uint64(len(parts)))
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	s.buf = b
	var sum [16]byte
	if s.mac != nil {
		s.mac.Reset()
		s.mac.Write(b)
		s.sum = s.mac.Sum(s.sum[:0])
		copy(sum[:], s.sum)
		if g.format == IDUUID {
			sum[6] = sum[6]&0x0f | 0x80 // version 8
			sum[8] = sum[8]&0x3f | 0x80 // RFC 9562 variant
		}
	} else {
		sum = uuidV5(s.sha, s.sum[:0], g.ns[:], b)
	}
	if g.format == IDUUID {
		return formatUUID(sum)
	}
	out := make([]byte, 0, len(prefix)+1+26)
	out = append(out, prefix...)
	out = append(out, '-')
	out = idBase32.AppendEncode(out, sum[:])
	return string(out)
}

// uuidV5 computes the RFC 9562 version 5 UUID of name in namespace ns, using
// h (a SHA-1 hash, reset here) and scratch for the digest.
func uuidV5(h hash.Hash, scratch, ns, name []byte) [16]byte {
	h.Reset()
	h.Write(ns)
	h.Write(name)
	var u [16]byte
	copy(u[:], h.Sum(scratch))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}

func formatUUID(u [16]byte) string {
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[c>>4], hexd[c&0x0f])
	}
	return string(out)
}

// normCode trims s, collapses inner white space runs to one space and
// upper-cases it.
func normCode(s string) string {
	s = strings.TrimSpace(s)
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || (c >= 'a' && c <= 'z') || c == ' ' && i+1 < len(s) && s[i+1] == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
			simple = false
			break
		}
	}
	if simple {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// normDate keeps the digits of a date ("2024-01-02" → "20240102") when it has
// exactly 8 of them, and otherwise normalizes it like a code.
func normDate(s string) string {
	var d [8]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return normCode(s)
			}
			d[n] = c
			n++
		case c == '-' || c == ' ' || c == '/':
		default:
			return normCode(s)
		}
	}
	if n != len(d) {
		return normCode(s)
	}
	return string(d[:])
}

// errKey is the error a typed id method returns when its key is too thin.
func errKey(resourceType, need string) error {
	return fmt.Errorf("fhirmap: %s id: %w: key needs %s", resourceType, ErrMissing, need)
}

// PatientKey is the business key of a Patient (MAPPING.md §3.1): the payer and
// the member's own id, or, for a dependent without one, the subscriber id with
// the member's name and birth date.
type PatientKey struct {
	PayerID      string // payer id (837 NM1*PR NM109, 835 N1*PR N104, 834 sponsor/payer); may be empty in single-payer deployments
	MemberID     string // the patient's own member id (2010BA NM109 for the subscriber, 835 NM1*QC NM109, 834 REF)
	SubscriberID string // fallback: the subscriber's member id
	LastName     string // fallback: the patient's family name
	FirstName    string // fallback: the patient's first given name
	BirthDate    string // fallback: CCYYMMDD or YYYY-MM-DD
}

// Patient returns the id of the Patient with key k: from (payer, member id)
// when MemberID is set, else from (payer, subscriber id, last name, first
// name, birth date), which needs at least SubscriberID, LastName and
// BirthDate. Otherwise it returns an error wrapping [ErrMissing].
func (g *IDs) Patient(k PatientKey) (string, error) {
	if m := normCode(k.MemberID); m != "" {
		return g.make("pat", labelPatientMember, normCode(k.PayerID), m), nil
	}
	sub, last, dob := normCode(k.SubscriberID), normCode(k.LastName), normDate(k.BirthDate)
	if sub == "" || last == "" || dob == "" {
		return "", errKey("Patient", "a member id, or a subscriber id with last name and birth date")
	}
	return g.make("pat", labelPatientDemographic, normCode(k.PayerID), sub, last, normCode(k.FirstName), dob), nil
}

// PractitionerKey is the business key of a Practitioner: the NPI, else the
// TIN with the practitioner's name.
type PractitionerKey struct {
	NPI       string // NM109 when NM108 = XX
	TIN       string // fallback: tax id (REF*EI / REF*SY context)
	LastName  string // fallback
	FirstName string // fallback
}

// Practitioner returns the id of the Practitioner with key k: from the NPI,
// else from (TIN, last name, first name), which needs TIN and LastName.
func (g *IDs) Practitioner(k PractitionerKey) (string, error) {
	if npi := normCode(k.NPI); npi != "" {
		return g.make("prac", labelPractitionerNPI, npi), nil
	}
	tin, last := normCode(k.TIN), normCode(k.LastName)
	if tin == "" || last == "" {
		return "", errKey("Practitioner", "an NPI, or a TIN with a last name")
	}
	return g.make("prac", labelPractitionerTIN, tin, last, normCode(k.FirstName)), nil
}

// OrganizationKey is the business key of a provider Organization: the NPI,
// else the TIN.
type OrganizationKey struct {
	NPI string // NM109 when NM108 = XX (NM102 = 2)
	TIN string // fallback: EIN (REF*EI)
}

// Organization returns the id of the provider Organization with key k.
func (g *IDs) Organization(k OrganizationKey) (string, error) {
	if npi := normCode(k.NPI); npi != "" {
		return g.make("org", labelOrgNPI, npi), nil
	}
	if tin := normCode(k.TIN); tin != "" {
		return g.make("org", labelOrgTIN, tin), nil
	}
	return "", errKey("Organization", "an NPI or a TIN")
}

// PayerKey is the business key of a payer Organization: the payer id, else
// the NAIC company code, else the TIN.
type PayerKey struct {
	PayerID string // 837 NM1*PR NM109 (PI), 835 N1*PR N104 (XV), REF*2U
	NAIC    string // fallback: NAIC company code
	TIN     string // fallback: EIN
}

// Payer returns the id of the payer Organization with key k. The same payer
// id read from an 837, an 835 or an 834 gives the same id.
func (g *IDs) Payer(k PayerKey) (string, error) {
	if id := normCode(k.PayerID); id != "" {
		return g.make("payer", labelPayerID, id), nil
	}
	if naic := normCode(k.NAIC); naic != "" {
		return g.make("payer", labelPayerNAIC, naic), nil
	}
	if tin := normCode(k.TIN); tin != "" {
		return g.make("payer", labelPayerTIN, tin), nil
	}
	return "", errKey("Organization (payer)", "a payer id, NAIC code or TIN")
}

// CoverageKey is the business key of a Coverage: (payer, subscriber id,
// beneficiary, group number, plan, period start).
//
// MAPPING.md §3.1 lists (payer, subscriberId, group, plan, period.start);
// MemberID is added because a subscriber's dependents share the subscriber
// id but each gets a Coverage of their own (C4BB Coverage.beneficiary is one
// patient). An empty MemberID means the beneficiary is the subscriber.
type CoverageKey struct {
	PayerID      string
	SubscriberID string // Coverage.subscriberId (required)
	MemberID     string // the beneficiary's member id when not the subscriber
	GroupNumber  string // class[group].value (SBR03, 834 REF*1L)
	Plan         string // class[plan].value (834 HD04 or plan code)
	PeriodStart  string // period.start (834 DTP*348), CCYYMMDD or YYYY-MM-DD
}

// Coverage returns the id of the Coverage with key k, which needs a
// SubscriberID.
func (g *IDs) Coverage(k CoverageKey) (string, error) {
	sub := normCode(k.SubscriberID)
	if sub == "" {
		return "", errKey("Coverage", "a subscriber id")
	}
	ben := normCode(k.MemberID)
	if ben == "" {
		ben = sub
	}
	return g.make("cov", labelCoverage, normCode(k.PayerID), sub, ben, normCode(k.GroupNumber), normCode(k.Plan), normDate(k.PeriodStart)), nil
}

// ClaimKey is the business key of a Claim (MAPPING.md §3.1): (billing
// provider, patient control number, frequency code, transaction reference).
type ClaimKey struct {
	BillingProvider      string // billing provider NPI (2010AA NM109), or TIN for atypical providers (required)
	PatientControlNumber string // CLM01 (required)
	Frequency            string // CLM05-3 claim frequency code
	TransactionRef       string // BHT03 originator reference, else ST02
}

// Claim returns the id of the Claim with key k.
func (g *IDs) Claim(k ClaimKey) (string, error) {
	bp, pcn := normCode(k.BillingProvider), normCode(k.PatientControlNumber)
	if bp == "" || pcn == "" {
		return "", errKey("Claim", "a billing provider and a patient control number")
	}
	return g.make("claim", labelClaim, bp, pcn, normCode(k.Frequency), normCode(k.TransactionRef)), nil
}

// EOBKey is the business key of an ExplanationOfBenefit: the payer's claim
// control number (835 CLP07), one EOB per CLP, scoped by payer.
type EOBKey struct {
	PayerID string
	ICN     string // CLP07 payer claim control number (required)
}

// ExplanationOfBenefit returns the id of the ExplanationOfBenefit with key k.
func (g *IDs) ExplanationOfBenefit(k EOBKey) (string, error) {
	icn := normCode(k.ICN)
	if icn == "" {
		return "", errKey("ExplanationOfBenefit", "a payer claim control number")
	}
	return g.make("eob", labelEOB, normCode(k.PayerID), icn), nil
}

// RelatedPersonKey is the business key of a RelatedPerson: the Patient it
// relates to, the relationship code, and the person's own identifier or, when
// there is none, their name and birth date.
type RelatedPersonKey struct {
	PatientID    string // logical id of the Patient (already PHI-free) (required)
	Relationship string // relationship code (834 INS02, v3 RoleCode)
	PersonID     string // the related person's identifier (member id, ...)
	LastName     string // fallback
	FirstName    string // fallback
	BirthDate    string // fallback
}

// RelatedPerson returns the id of the RelatedPerson with key k, which needs a
// PatientID and either a PersonID or a LastName.
func (g *IDs) RelatedPerson(k RelatedPersonKey) (string, error) {
	pat := strings.TrimSpace(k.PatientID)
	if pat == "" {
		return "", errKey("RelatedPerson", "a patient id")
	}
	rel := normCode(k.Relationship)
	if pid := normCode(k.PersonID); pid != "" {
		return g.make("rp", labelRelatedPersonID, pat, rel, pid), nil
	}
	last := normCode(k.LastName)
	if last == "" {
		return "", errKey("RelatedPerson", "a person id or a last name")
	}
	return g.make("rp", labelRelatedPersonName, pat, rel, last, normCode(k.FirstName), normDate(k.BirthDate)), nil
}

// LocationKey is the business key of a Location (a service facility or
// practice site): its NPI, else its address.
type LocationKey struct {
	NPI        string // 2310C/2310E NM109 when NM108 = XX
	Line       string // fallback: N301 (required without NPI)
	Line2      string // N302
	City       string // N401
	State      string // N402
	PostalCode string // N403 (5 or 9 digits; only the first 5 count)
}

// Location returns the id of the Location with key k.
func (g *IDs) Location(k LocationKey) (string, error) {
	if npi := normCode(k.NPI); npi != "" {
		return g.make("loc", labelLocationNPI, npi), nil
	}
	line := normCode(k.Line)
	if line == "" {
		return "", errKey("Location", "an NPI or an address line")
	}
	zip := normCode(k.PostalCode)
	if len(zip) > 5 {
		zip = zip[:5]
	}
	return g.make("loc", labelLocationAddress, line, normCode(k.Line2), normCode(k.City), normCode(k.State), zip), nil
}

// PractitionerRoleKey is the business key of a PractitionerRole: the
// resources it ties together (by their PHI-free logical ids) and its codes.
type PractitionerRoleKey struct {
	PractitionerID string // logical id of the Practitioner
	OrganizationID string // logical id of the Organization
	LocationID     string // logical id of the Location
	NetworkID      string // logical id of the Plan-Net Network Organization
	Code           string // role code
	Specialty      string // NUCC taxonomy code
}

// PractitionerRole returns the id of the PractitionerRole with key k, which
// needs a PractitionerID or an OrganizationID.
func (g *IDs) PractitionerRole(k PractitionerRoleKey) (string, error) {
	p, o := strings.TrimSpace(k.PractitionerID), strings.TrimSpace(k.OrganizationID)
	if p == "" && o == "" {
		return "", errKey("PractitionerRole", "a practitioner id or an organization id")
	}
	return g.make("role", labelPractitionerRole, p, o, strings.TrimSpace(k.LocationID), strings.TrimSpace(k.NetworkID), normCode(k.Code), normCode(k.Specialty)), nil
}

// EncounterKey is the business key of an Encounter built from an
// institutional claim: the billing provider, the patient control number
// (which a replacement claim keeps) and the start of the stay.
type EncounterKey struct {
	BillingProvider      string // billing provider NPI or TIN (required)
	PatientControlNumber string // CLM01 (required)
	Start                string // admission date or statement start, CCYYMMDD or YYYY-MM-DD
}

// Encounter returns the id of the Encounter with key k.
func (g *IDs) Encounter(k EncounterKey) (string, error) {
	bp, pcn := normCode(k.BillingProvider), normCode(k.PatientControlNumber)
	if bp == "" || pcn == "" {
		return "", errKey("Encounter", "a billing provider and a patient control number")
	}
	return g.make("enc", labelEncounter, bp, pcn, normDate(k.Start)), nil
}

// ProvenanceKey is the business key of a Provenance: the resource it is
// about and the PHI-free identity of the source record (a source.Message ID,
// a file name with an interchange control number and position).
type ProvenanceKey struct {
	Target string // "Type/id" of the target resource (required)
	Source string // PHI-free source record identity (required)
}

// Provenance returns the id of the Provenance with key k. Source is used as
// given (not upper-cased): message ids are case-sensitive.
func (g *IDs) Provenance(k ProvenanceKey) (string, error) {
	t, s := strings.TrimSpace(k.Target), strings.TrimSpace(k.Source)
	if t == "" || s == "" {
		return "", errKey("Provenance", "a target and a source")
	}
	return g.make("prov", labelProvenance, t, s), nil
}

// ValidID reports whether id is a valid FHIR logical id
// ([A-Za-z0-9\-\.]{1,64}) that is not purely numeric.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	digits := true
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '.':
			digits = false
		default:
			return false
		}
	}
	return !digits
}
