package fhirmap

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

// Mapper turns decoded X12 records into FHIR R4 resources (google/fhir
// protos): an 837 claim into a Claim and the resources it refers to
// (Patient, Coverage, Organization, Practitioner, Location and, for an
// institutional claim, an Encounter).
//
// A Mapper holds configuration only; it is safe for concurrent use. The
// terminology.Mapper given to [NewMapper] is called once per local code that
// a configured translation applies to (see [Options].Translate); wrap a slow
// one in a terminology.Cache.
type Mapper struct {
	tm   terminology.Mapper
	ids  *IDs
	opts Options
	src  string // PHI-free source name for lineage (see WithSourceName)
}

// Options configures a [Mapper]. The zero value (and a nil *Options) gives
// working defaults: unkeyed UUIDv5 ids, C4BB 2.1.0, the wall clock, and
// fhirsync's own identifier systems.
type Options struct {
	// IDs configures the deterministic resource ids (key, namespace,
	// format). Production deployments set a Key: see [IDs].
	IDs *IDOptions

	// C4BBVersion is the CARIN Blue Button release whose profiles and code
	// system URIs are emitted. Empty means DefaultC4BBVersion.
	C4BBVersion C4BBVersion

	// Now is the clock for meta.lastUpdated. Nil means time.Now. Tests set a
	// fixed clock so that output is reproducible.
	Now func() time.Time

	// TimeZone, when set, is the zone of the X12 times of day (BHT05,
	// DTP*435 DT): Claim.created and admission times are then emitted as
	// dateTimes with that zone. Nil means X12 carries no zone (MAPPING.md
	// §1.4), so only dates are emitted.
	TimeZone *time.Location

	// SourceName is the PHI-free name of the input (a file name, a message
	// id) written into the lineage of every resource (meta.source). The X12
	// converter sets it per message (see [Mapper.WithSourceName]). It must
	// not hold PHI.
	SourceName string

	// Systems gives the identifier systems X12 does not carry. Nil fields
	// fall back to fhirsync URNs; see [Systems].
	Systems Systems

	// DependentMemberID resolves the member id of a patient who is not the
	// subscriber (837 loop 2000C, HL 23), which 5010 does not send
	// (MAPPING.md §9 D1). Nil means none is known: such a Patient carries no
	// member identifier, cannot claim C4BB-Patient or US Core Patient, and the
	// result lists that requirement as unmet.
	DependentMemberID DependentMemberIDFunc

	// CoverageType maps the claim filing indicator (SBR09) to Coverage.type.
	// Nil means [DefaultCoverageType] (MAPPING.md §4.7.3, a crosswalk to the
	// Source of Payment Typology).
	CoverageType func(claimFilingIndicator string) (system, code string, ok bool)

	// NetworkStatus supplies the network status X12 does not carry
	// (MAPPING.md §9 D7), for the ExplanationOfBenefit adjudication slices
	// (benefitpaymentstatus, billingnetworkstatus, renderingnetworkstatus).
	// Nil means the status is unknown: benefitpaymentstatus "other", no
	// network slices.
	NetworkStatus NetworkStatusFunc

	// Adjudication is the table from CAS group and reason codes to C4BB
	// adjudication categories (MAPPING.md §4.5). Nil means
	// DefaultAdjudicationTable().
	Adjudication *AdjudicationTable

	// Claims finds the 837 claim an 835 claim payment pays (MAPPING.md
	// §3.5), so that the ExplanationOfBenefit takes what only the claim
	// knows (diagnoses, care team, admission data). Nil means no join: EOBs
	// are built from the 835 alone and list what they cannot meet.
	Claims ClaimLookup

	// Translate lists the local code systems whose codes gain a standard
	// coding through the terminology.Mapper (MAPPING.md §3.3): the original
	// coding is kept and the translation is added next to it. Empty means
	// nothing is translated.
	Translate []Translation

	// Enrollment configures the 834 mapping (payer id, dependent member id
	// REFs, Coverage.type table, full-file mode, SSN). Nil means
	// [EnrollmentOptions] defaults.
	Enrollment *EnrollmentOptions

	// NoNPICheck skips the NPI check digit test (terminology.ValidateNPI).
	// By default an NPI that fails it is kept and a warning is added to the
	// result (MAPPING.md §3.4).
	NoNPICheck bool
}

// Systems are the identifier systems (URIs) of identifiers whose assigning
// authority X12 does not name. Each func receives a PHI-free scope (a payer id
// or an NPI) and returns a URI. A nil func selects the default, shown with
// each field.
type Systems struct {
	// MemberID is the system of member ids (2010BA NM109) of a payer:
	// default "urn:fhirsync:member-id:<payer id>".
	MemberID func(payerID string) string
	// PayerID is the system of payer ids (NM1*PR NM109): default
	// "urn:fhirsync:payer-id".
	PayerID func() string
	// PatientControlNumber is the system of patient control numbers (CLM01)
	// of a billing provider: default
	// "urn:fhirsync:patient-control-number:<billing NPI or TIN>".
	PatientControlNumber func(billingProvider string) string
	// PayerClaimNumber is the system of a payer's claim control numbers
	// (REF*F8, 835 CLP07): default "urn:fhirsync:payer-claim-number:<payer id>".
	PayerClaimNumber func(payerID string) string
	// PaymentTrace is the system of a payer's payment trace numbers (835
	// TRN02) by originating company (TRN03): default
	// "urn:fhirsync:payment-trace:<TRN03>".
	PaymentTrace func(originatorID string) string
	// Local is the system of codes X12 sends under a qualifier with no
	// public code system (SV101-1 ER, IV, WK; mutually defined codes):
	// default "urn:fhirsync:x12:<qualifier>".
	Local func(qualifier string) string
}

// Translation asks the Mapper to translate the codes of one local code system
// into a standard one. The original coding stays; the translated coding is
// added next to it.
type Translation struct {
	// From is the local code system: a URI (as returned by
	// Systems.Local or configured for a payer) whose codes are translated.
	From string
	// To is the standard target system (terminology.SystemCPT,
	// terminology.SystemICD10CM, terminology.SystemNUCCTaxonomy...). Empty
	// means whatever target the terminology.Mapper has.
	To string
	// Required makes a code without a translation a mapping error
	// ([ErrInvalidCode]) instead of a warning.
	Required bool
}

// DependentMemberIDFunc returns the member id of a dependent patient of an
// 837 claim (MAPPING.md §9 D1), for example from an 834 enrollment store or
// the 835's NM1*QC, or the subscriber id with a payer-specific suffix. It
// returns "" when the id is unknown. The Dependent holds PHI: the function
// must not log it.
type DependentMemberIDFunc func(ctx context.Context, d Dependent) (string, error)

// Dependent describes a patient who is not the subscriber, for a
// [DependentMemberIDFunc]. It holds PHI.
type Dependent struct {
	PayerID      string     // 2010BB NM109
	SubscriberID string     // 2010BA NM109
	Relationship string     // PAT01 individual relationship code
	Patient      *x12.Party // loop 2010CA: name, address, demographics, REF
}

// NetworkStatusFunc returns the payer's network status of a provider for a
// claim (MAPPING.md §9 D7): "" for unknown, or one of "innetwork",
// "outofnetwork" (C4BBPayerAdjudicationStatus codes). An error fails the
// record's mapping (return one when the answer is unknown and a retry may
// help). The error is wrapped, text included, in the mapping error, which is
// logged: it must not quote the query's NPI or TIN.
type NetworkStatusFunc func(ctx context.Context, q NetworkQuery) (string, error)

// NetworkQuery is what a [NetworkStatusFunc] is asked about: a provider (by
// NPI, else TIN) in the network of a payer, on a date of service. It holds
// no member data.
type NetworkQuery struct {
	PayerID   string
	NPI       string
	TIN       string
	Role      string // "billing" or "rendering"
	Date      time.Time
	ClaimKind EOBKind
}

// DefaultCoverageType is the default crosswalk from the claim filing
// indicator (837 SBR09, 835 CLP06) to a Source of Payment Typology code
// (MAPPING.md §4.7.3, [verify]): Medicare (MA, MB, 16) → 1, Medicaid (MC) → 2,
// other government (CH, VA, OF, TV) → 3, Blue Cross/Blue Shield (BL) → 6,
// commercial and managed care (CI, 11–15, 17, HM, FI, DS) → 5, workers'
// compensation (WC) → 95. Other codes have no type.
func DefaultCoverageType(claimFilingIndicator string) (system, code string, ok bool) {
	switch strings.ToUpper(strings.TrimSpace(claimFilingIndicator)) {
	case "MA", "MB", "16":
		code = "1"
	case "MC":
		code = "2"
	case "CH", "VA", "OF", "TV":
		code = "3"
	case "BL":
		code = "6"
	case "CI", "11", "12", "13", "14", "15", "17", "HM", "FI", "DS":
		code = "5"
	case "WC":
		code = "95"
	default:
		return "", "", false
	}
	return terminology.SystemSOPT, code, true
}

// NewMapper returns a Mapper that translates local codes with tm (nil means
// no translation) and is configured by opts (nil means defaults). It fails
// when the id options or the C4BB version are invalid.
func NewMapper(tm terminology.Mapper, opts *Options) (*Mapper, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.C4BBVersion == "" {
		o.C4BBVersion = DefaultC4BBVersion
	}
	if !o.C4BBVersion.Valid() {
		return nil, fmt.Errorf("fhirmap: unsupported C4BB version %q", string(o.C4BBVersion))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CoverageType == nil {
		o.CoverageType = DefaultCoverageType
	}
	for i, t := range o.Translate {
		if strings.TrimSpace(t.From) == "" {
			return nil, fmt.Errorf("fhirmap: Options.Translate[%d] has no From system", i)
		}
	}
	if len(o.Translate) > 0 && tm == nil {
		return nil, fmt.Errorf("fhirmap: Options.Translate needs a terminology.Mapper")
	}
	ids, err := NewIDs(o.IDs)
	if err != nil {
		return nil, err
	}
	return &Mapper{tm: tm, ids: ids, opts: o, src: o.SourceName}, nil
}

// IDs returns the id generator the Mapper uses, so that callers (and other
// mappers) derive the same ids for the same business keys.
func (m *Mapper) IDs() *IDs { return m.ids }

// C4BBVersion returns the C4BB release the Mapper emits.
func (m *Mapper) C4BBVersion() C4BBVersion { return m.opts.C4BBVersion }

// WithSourceName returns a shallow copy of m whose lineage names the input
// name (a file name or message id, PHI-free). The copy shares m's
// configuration and id generator.
func (m *Mapper) WithSourceName(name string) *Mapper {
	c := *m
	c.src = name
	return &c
}

// Result is what mapping one record produced.
//
// Resources come in dependency order: every resource appears after the
// resources it refers to (Organization, Practitioner, Location, Patient,
// Coverage, Encounter, then the Claim or ExplanationOfBenefit), so a sink
// writing them in order never writes a dangling reference. Resources shared
// by many records (a billing provider, a payer) are emitted again with each
// record; ids are deterministic, so writing them again is idempotent.
type Result struct {
	// Resources are the resources, referenced ones first.
	Resources []proto.Message
	// Unmet lists the profile requirements (C4BB, US Core) the record does
	// not have the data for. A resource that misses a requirement does not
	// declare the profile.
	Unmet []Issue
	// Warnings lists problems that did not stop the mapping: an NPI whose
	// check digit fails, a local code without a translation, a value that
	// was dropped.
	Warnings []Issue
	// SourceVersion is the source's version of the record, for the
	// stale-update guard (DESIGN.md §4): an 834 member's transaction set
	// creation date and time (see [Mapper.MapMember834]). Versions of one
	// source compare as strings; "" means the record has none.
	SourceVersion string
}

// Issue is one unmet requirement or warning of a [Result]. It is PHI-free:
// it names positions, paths, rules and codes of public code systems, never
// a value from the record.
type Issue struct {
	// Pos is where in the X12 input the issue comes from (zero when it is
	// about the record as a whole).
	Pos Position
	// Path is the FHIR element concerned, "Patient.identifier" or
	// "Claim.careTeam[1].provider".
	Path string
	// Rule names the requirement or check: a package check rule id
	// ("Patient.identifier:memberid.min") for unmet requirements, a short
	// kind ("npi-check-digit", "no-translation") for warnings.
	Rule string
	// Profile is the versioned canonical of the profile whose requirement is
	// unmet ("" for warnings).
	Profile string
	// Message says what is wrong, in fixed words.
	Message string
}

// String formats the issue on one line.
func (i Issue) String() string {
	var b strings.Builder
	b.WriteString(i.Rule)
	if i.Path != "" {
		b.WriteString(" ")
		b.WriteString(i.Path)
	}
	if i.Message != "" {
		b.WriteString(": ")
		b.WriteString(i.Message)
	}
	if i.Profile != "" {
		b.WriteString(" [")
		b.WriteString(i.Profile)
		b.WriteString("]")
	}
	if !i.Pos.IsZero() {
		b.WriteString(" at ")
		b.WriteString(i.Pos.String())
	}
	return b.String()
}

// recordMappers holds the record mappers of this package by record kind (the
// 837 claims, the 835 claim payment...), so that each mapper's own file plugs
// itself into MapRecord. It is filled by init functions of this package
// only; it is not a user-facing registry.
var recordMappers = map[x12.Kind]func(m *Mapper, ctx context.Context, rec x12.Record) (*Result, error){}

// MapRecord maps one decoded X12 record of a kind this package supports
// (an 837 claim, an 835 claim payment, an 834 member). A record kind it
// does not map is an [*Error] wrapping [ErrUnsupported].
func (m *Mapper) MapRecord(ctx context.Context, rec x12.Record) (*Result, error) {
	if rec == nil {
		return nil, NewError(ErrUnsupported, Position{}, "", "nil record")
	}
	if f := recordMappers[rec.Kind()]; f != nil {
		return f(m, ctx, rec)
	}
	return nil, NewError(ErrUnsupported, PositionOf(rec.Pos(), 0), "", "record kind not mapped to FHIR")
}

// PositionOf converts an x12 position into a mapping error position, with
// the 1-based index of the business record in its transaction set (0 when
// unknown).
func PositionOf(p x12.Position, record int) Position {
	return Position{
		Offset:      p.Offset,
		Index:       p.Index,
		SegmentID:   p.SegmentID,
		Loop:        p.Loop,
		Element:     p.Element,
		Component:   p.Component,
		Interchange: p.Interchange,
		Group:       p.Group,
		Transaction: p.Transaction,
		Record:      record,
	}
}
