package fhirmap

// Provider directory rows (MAPPING.md §4.8): the input type, its typed error
// and change events. The table is read by provider_columns.go and mapped to
// Da Vinci PDex Plan-Net 1.2.0 resources by provider_map.go.

import (
	"encoding/csv"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// ProviderEntity is the kind of provider a directory row describes (NPPES
// "Entity Type Code": 1 individual, 2 organization).
type ProviderEntity int

// The provider entity kinds.
const (
	// EntityUnknown lets the mapper decide: a row with a last name is an
	// individual, a row with only an organization name an organization.
	EntityUnknown ProviderEntity = iota
	// EntityIndividual is a practitioner (NPPES entity type 1): a
	// Practitioner with one PractitionerRole per network.
	EntityIndividual
	// EntityOrganization is a group, facility or other organization (NPPES
	// entity type 2): an Organization with one OrganizationAffiliation per
	// network.
	EntityOrganization
)

// String returns "individual", "organization" or "unknown".
func (e ProviderEntity) String() string {
	switch e {
	case EntityIndividual:
		return "individual"
	case EntityOrganization:
		return "organization"
	}
	return "unknown"
}

// ProviderAddress is a postal address of a directory row.
type ProviderAddress struct {
	Line1, Line2 string
	City         string
	State        string // USPS code
	PostalCode   string // 5 or 9 digits (9 are written #####-####)
	Country      string
}

// IsZero reports whether the address has no part at all.
func (a ProviderAddress) IsZero() bool { return a == ProviderAddress{} }

// ProviderLocation is the practice location of a directory row (NPPES
// "Business Practice Location"): a Plan-Net Location.
type ProviderLocation struct {
	// Name is Location.name (US Core requires one). Empty means the
	// organization's name when the row has one.
	Name    string
	Address ProviderAddress
	Phone   string
	// Latitude and Longitude are decimal degrees (WGS84), both or neither.
	Latitude, Longitude string
	// Hours are the opening hours, as "Mon-Fri 08:00-17:00; Sat 09:00-12:00"
	// (day names or ranges, comma-separated days, "closed" or "24h" instead
	// of a time range): Location.hoursOfOperation.
	Hours string
}

// ProviderNetwork is a payer network a provider participates in: a Plan-Net
// Network (an Organization of type ntwk, part of the payer).
type ProviderNetwork struct {
	ID   string // the payer's network id (required)
	Name string // Organization.name (US Core requires one)
}

// ProviderAffiliation is the organization (group practice, facility) an
// individual provider works for at the row's location.
type ProviderAffiliation struct {
	NPI  string
	TIN  string
	Name string
}

// IsZero reports whether the affiliation names no organization.
func (a ProviderAffiliation) IsZero() bool { return a.NPI == "" && a.TIN == "" }

// ProviderRow is one row of a provider directory or credentialing table,
// shaped like an NPPES record: a provider (individual or organization) at one
// practice location, with its network participation. A team maps its own
// table onto it with a [ColumnMap] ([ReadProviderCSV], [ProviderRowFromMap])
// or fills it in Go.
//
// A ProviderRow holds what a directory publishes (names, NPIs, addresses,
// phone numbers), and possibly a TIN, which may be an individual's SSN: treat
// it as PHI. Its LogValue shows only the row's position.
type ProviderRow struct {
	// Record is the 1-based number of the row in its input (0 when
	// unknown); Line is its 1-based line in a CSV file (0 for other input).
	// Both are PHI-free and appear in errors.
	Record, Line int

	// NPI is the provider's National Provider Identifier (Practitioner or
	// Organization identifier, NPI slice), checked with
	// terminology.ValidateNPI.
	NPI    string
	Entity ProviderEntity

	// Individual: Practitioner.name, gender, qualification, communication.
	LastName, FirstName, MiddleName, Prefix, Suffix string
	Credentials                                     []string // degrees and licenses ("MD", "NP"): name.suffix and qualification
	Gender                                          string   // M, F, U, O or male, female, unknown, other
	Languages                                       []string // BCP-47 codes ("en", "es")

	// Organization: Organization.name and type (Plan-Net OrgTypeCS: prvgrp,
	// fac, atyprv, bus; empty means prvgrp).
	OrgName, OrgType string
	// TIN is the tax id (an organization's EIN): Organization.identifier
	// (TAX). It keys a provider that has no NPI.
	TIN string

	// Taxonomy is the primary NUCC provider taxonomy code, OtherTaxonomies
	// the rest: PractitionerRole.specialty, OrganizationAffiliation.specialty.
	Taxonomy        string
	OtherTaxonomies []string
	// Role is PractitionerRole.code: a Plan-Net ProviderRoleCS code ("ph",
	// "crnp"), an HL7 practitioner-role code ("doctor"), or either as
	// "system|code". Empty means derived from the first credential (MD → ph).
	Role string

	// Phone, Fax and Email are the provider's contact points at the
	// location (PractitionerRole.telecom, Organization.telecom).
	Phone, Fax, Email string
	// MailingAddress is the provider's business mailing address
	// (Organization.address); empty means the practice location's.
	MailingAddress ProviderAddress
	// Location is the practice location.
	Location ProviderLocation

	// AcceptingNewPatients is Y/N (yes, no, true, false, 1, 0) or a Plan-Net
	// AcceptingPatientsCS code (newpt, nopt, existptonly, existptfam): the
	// newpatients extension.
	AcceptingNewPatients string
	// Networks are the payer networks the provider participates in at the
	// location, and PlanIDs the payer's plans (carried for callers; no
	// InsurancePlan is built from them yet).
	Networks []ProviderNetwork
	PlanIDs  []string
	// Affiliation is the organization an individual works for at the
	// location: PractitionerRole.organization and Location.managingOrganization.
	Affiliation ProviderAffiliation

	// EffectiveDate and EndDate bound the participation (PractitionerRole
	// and OrganizationAffiliation period). An EndDate on or before the
	// mapper's clock ends it: active = false.
	EffectiveDate, EndDate time.Time
	// Active is the provider's own status (Practitioner.active,
	// Organization.active). Nil means active. False also ends the row's
	// participation.
	Active *bool

	cols *ColumnMap // the column names the row was read with, for errors
}

// LogValue logs the row's position and entity kind only.
func (r *ProviderRow) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("record", r.Record), slog.Int("line", r.Line), slog.String("entity", r.Entity.String()))
}

// ErrProviderHeader reports a CSV header that lacks a column the [ColumnMap]
// names, or names a column twice. A [*ProviderError] wraps it.
var ErrProviderHeader = errors.New("fhirmap: bad provider table header")

// ProviderError is an error about a provider directory row: what (Err, a
// sentinel such as [ErrInvalidValue], [ErrMissing], [ErrProviderHeader], or a
// *csv.ParseError), where (the row, its CSV line, the column name from the
// [ColumnMap], the change event's source version) and which FHIR element was
// being built.
//
// Error() never contains a cell value: column names come from the caller's
// ColumnMap, source versions are PHI-free by contract. The offending value is
// shown only by [ProviderError.Diagnostics], which is PHI.
type ProviderError struct {
	Err           error  // what: a sentinel, or a *csv.ParseError
	Record        int    // 1-based row number in the input (0 for the header or unknown)
	Line          int    // 1-based CSV line (0 for other input)
	Column        string // the column's name in the ColumnMap ("" when about the row)
	Path          string // the FHIR element being built ("Practitioner.identifier")
	SourceVersion string // the change event's source version (LSN, offset), PHI-free

	detail string // constant words
	value  string // the offending value: PHI, shown only by Diagnostics
	cause  error  // an underlying error whose text may quote input
}

// newProviderError returns an error about row r (nil for none). detail must
// be built from constants only.
func newProviderError(err error, r *ProviderRow, column, path, detail string) *ProviderError {
	e := &ProviderError{Err: err, Column: column, Path: path, detail: detail}
	if r != nil {
		e.Record, e.Line = r.Record, r.Line
	}
	return e
}

func (e *ProviderError) withValue(v string) *ProviderError {
	e.value = v
	return e
}

func (e *ProviderError) withCause(c error) *ProviderError {
	e.cause = c
	return e
}

// Detail returns the PHI-free explanation of the error.
func (e *ProviderError) Detail() string { return e.detail }

// Error describes the error, for example "fhirmap: invalid value:
// Practitioner.identifier (NPI fails its check digit) at provider row 3, line
// 4, column npi". It never contains a cell value.
func (e *ProviderError) Error() string {
	var b strings.Builder
	b.Grow(128)
	var pe *csv.ParseError
	switch {
	case e.Err == nil:
		b.WriteString("fhirmap: provider row error")
	case errors.As(e.Err, &pe):
		// A *csv.ParseError names its line, column and kind, never the data.
		b.WriteString("fhirmap: provider csv: ")
		b.WriteString(e.Err.Error())
	default:
		b.WriteString(e.Err.Error())
	}
	if e.Path != "" {
		b.WriteString(": ")
		b.WriteString(e.Path)
	}
	if e.detail != "" {
		b.WriteString(" (")
		b.WriteString(e.detail)
		b.WriteByte(')')
	}
	if pos := e.position(); pos != "" {
		b.WriteString(" at ")
		b.WriteString(pos)
	}
	return b.String()
}

// position formats the row, line, column and source version.
func (e *ProviderError) position() string {
	var parts []string
	if e.Record > 0 {
		parts = append(parts, "provider row "+strconv.Itoa(e.Record))
	}
	if e.Line > 0 {
		parts = append(parts, "line "+strconv.Itoa(e.Line))
	}
	if e.Column != "" {
		parts = append(parts, "column "+e.Column)
	}
	if e.SourceVersion != "" {
		parts = append(parts, "source version "+e.SourceVersion)
	}
	return strings.Join(parts, ", ")
}

// Unwrap returns the sentinel and, when set, the underlying cause.
func (e *ProviderError) Unwrap() []error {
	var out []error
	if e.Err != nil {
		out = append(out, e.Err)
	}
	if e.cause != nil {
		out = append(out, e.cause)
	}
	return out
}

// Diagnostics returns Error followed by the offending value and the cause's
// text when known.
//
// PHI: the value may be a name, an NPI, a TIN or an address. Never log
// Diagnostics or send it where PHI must not go.
func (e *ProviderError) Diagnostics() string { return diagnostics(e.Error(), e.value, e.cause) }

// LogValue logs the error's kind, path, detail and position, never a value.
func (e *ProviderError) LogValue() slog.Value {
	return logValue(e.Err, e.Path, e.detail, e.position())
}

// ChangeOp is the operation of a [ProviderChange], with Debezium's op codes.
type ChangeOp string

// The change operations.
const (
	ChangeCreate ChangeOp = "c" // a row was inserted
	ChangeUpdate ChangeOp = "u" // a row was updated
	ChangeDelete ChangeOp = "d" // a row was deleted
	ChangeRead   ChangeOp = "r" // a row was read by a snapshot
)

// ParseChangeOp reads an operation: Debezium's codes (c, u, d, r), their
// names (create, update, delete, read), or SQL and logical replication verbs
// (insert, update, delete), in any case.
func ParseChangeOp(s string) (ChangeOp, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "c", "create", "insert", "i":
		return ChangeCreate, nil
	case "u", "update":
		return ChangeUpdate, nil
	case "d", "delete":
		return ChangeDelete, nil
	case "r", "read", "snapshot":
		return ChangeRead, nil
	}
	return "", newProviderError(ErrInvalidCode, nil, "", "", "not a change operation").withValue(s)
}

// ProviderChange is a change of one provider table row, as captured by
// Debezium or Postgres logical replication: the row's columns before and
// after the change, read through the same [ColumnMap] as a CSV. (Decoding a
// Debezium envelope into a ProviderChange belongs to package debezium.)
//
// Before and After hold PHI. SourceVersion must not.
type ProviderChange struct {
	Op ChangeOp
	// Before is the row before an update or delete (nil for a create). A
	// delete needs the whole row (Postgres REPLICA IDENTITY FULL), not only
	// its key, to know which roles end.
	Before map[string]any
	// After is the row after a create, update or read (nil for a delete).
	After map[string]any
	// SourceVersion is the source's PHI-free position of the change,
	// carried in Result.SourceVersion, the [ExtSourceVersion] meta extension
	// and the lineage, for the stale-update guard. Versions of one source
	// must compare as strings: write a Postgres LSN with [LSNSourceVersion]
	// ("0/16B3748" → "00000000016B3748"), a Kafka offset zero-padded.
	SourceVersion string
	// Time is when the change was committed (Debezium source.ts_ms); it
	// dates the end of roles a delete or update ends. Zero means the
	// mapper's clock.
	Time time.Time
}

// LogValue logs the operation and source version only.
func (c *ProviderChange) LogValue() slog.Value {
	return slog.GroupValue(slog.String("op", string(c.Op)), slog.String("source_version", c.SourceVersion))
}

// LSNSourceVersion turns a Postgres LSN in its text form ("16/B374D848") into
// a source version that compares as a string in LSN order: 16 upper-case hex
// digits ("00000016B374D848").
func LSNSourceVersion(lsn string) (string, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(lsn), "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil || hi == "" || lo == "" {
		return "", newProviderError(ErrInvalidValue, nil, "", "", "not a Postgres LSN (hex/hex)").withValue(lsn)
	}
	const hexd = "0123456789ABCDEF"
	v := h<<32 | l
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexd[v&0xf]
		v >>= 4
	}
	return string(b[:]), nil
}
