package fhirmap

// FHIR datatype builders shared by every mapper of this package. Each returns
// nil for empty input, so that no empty element is ever emitted: an element
// built from an absent X12 value is simply left out.

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

// fstr returns a FHIR string, nil for "".
func fstr(s string) *dtpb.String {
	if s == "" {
		return nil
	}
	return &dtpb.String{Value: s}
}

// fstrs returns FHIR strings for the non-empty values.
func fstrs(ss ...string) []*dtpb.String {
	var out []*dtpb.String
	for _, s := range ss {
		if s != "" {
			out = append(out, &dtpb.String{Value: s})
		}
	}
	return out
}

// fcode returns a FHIR code, nil for "".
func fcode(s string) *dtpb.Code {
	if s == "" {
		return nil
	}
	return &dtpb.Code{Value: s}
}

// furi returns a FHIR uri, nil for "".
func furi(s string) *dtpb.Uri {
	if s == "" {
		return nil
	}
	return &dtpb.Uri{Value: s}
}

// fbool returns a FHIR boolean.
func fbool(b bool) *dtpb.Boolean { return &dtpb.Boolean{Value: b} }

// fpos returns a FHIR positiveInt, nil for n < 1.
func fpos(n int) *dtpb.PositiveInt {
	if n < 1 {
		return nil
	}
	return &dtpb.PositiveInt{Value: uint32(n)}
}

// fposs returns FHIR positiveInts for the values ≥ 1.
func fposs(ns ...int) []*dtpb.PositiveInt {
	var out []*dtpb.PositiveInt
	for _, n := range ns {
		if n >= 1 {
			out = append(out, &dtpb.PositiveInt{Value: uint32(n)})
		}
	}
	return out
}

// coding returns a Coding, nil when code is "".
func coding(system, code string) *dtpb.Coding {
	if code == "" {
		return nil
	}
	return &dtpb.Coding{System: furi(system), Code: fcode(code)}
}

// codingFrom converts a terminology.Coding (with its version and display).
func codingFrom(c terminology.Coding) *dtpb.Coding {
	if c.Code == "" {
		return nil
	}
	return &dtpb.Coding{System: furi(c.System), Version: fstr(c.Version), Code: fcode(c.Code), Display: fstr(c.Display)}
}

// concept returns a CodeableConcept with one coding, nil when code is "".
func concept(system, code string) *dtpb.CodeableConcept {
	if code == "" {
		return nil
	}
	return &dtpb.CodeableConcept{Coding: []*dtpb.Coding{coding(system, code)}}
}

// conceptText returns a text-only CodeableConcept, nil for "".
func conceptText(text string) *dtpb.CodeableConcept {
	if text == "" {
		return nil
	}
	return &dtpb.CodeableConcept{Text: fstr(text)}
}

// concepts returns a CodeableConcept holding the non-nil codings, nil when
// there are none.
func concepts(cs ...*dtpb.Coding) *dtpb.CodeableConcept {
	var out []*dtpb.Coding
	for _, c := range cs {
		if c != nil {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return &dtpb.CodeableConcept{Coding: out}
}

// decimalText turns an X12 decimal number (R type: "150", "150.5", "-12.75",
// ".5", "+3", "007.10") into the FHIR decimal lexical form, keeping its
// digits exactly (no float on the way: "150.50" stays "150.50"). It reports
// false for text that is not a decimal number.
func decimalText(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return "", false
	}
	for i := 0; i < len(intPart); i++ {
		if intPart[i] < '0' || intPart[i] > '9' {
			return "", false
		}
	}
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return "", false
		}
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if hasPoint && frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, true
}

// fdecimal returns a FHIR decimal from X12 decimal text, nil when s is empty
// or malformed.
func fdecimal(s string) *dtpb.Decimal {
	d, ok := decimalText(s)
	if !ok {
		return nil
	}
	return &dtpb.Decimal{Value: d}
}

// currencyUSD is the currency of X12 amounts when no CUR segment names
// another.
const currencyUSD = "USD"

// currencyCode returns the ISO 4217 code of an X12 currency code (CUR02 of
// an 837 loop 2000A or of an 835 header), upper-cased: US dollars when it is
// absent. X12 amounts are in the currency CUR names (the TR3s send CUR only
// when it is not US dollars), so every Money of the record takes it. ok is
// false when the code is not three letters.
func currencyCode(cur02 string) (code string, ok bool) {
	c := strings.ToUpper(strings.TrimSpace(cur02))
	if c == "" {
		return currencyUSD, true
	}
	if len(c) != 3 {
		return "", false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return "", false
		}
	}
	return c, true
}

// moneyIn returns Money in currency cur (an ISO 4217 code) from FHIR
// decimal text.
func moneyIn(decimal, cur string) *dtpb.Money {
	return &dtpb.Money{Value: &dtpb.Decimal{Value: decimal}, Currency: &dtpb.Money_CurrencyCode{Value: cur}}
}

// money returns Money in currency cur from an X12 amount (MAPPING.md: X12
// money is a decimal with an explicit point; FHIR Money{value, currency},
// USD unless a CUR segment says otherwise). It returns nil, false for a
// malformed amount and nil, true for an empty one.
func money(a x12.Amount, cur string) (*dtpb.Money, bool) {
	if a == "" {
		return nil, true
	}
	d, ok := decimalText(string(a))
	if !ok {
		return nil, false
	}
	return moneyIn(d, cur), true
}

// fdate returns a FHIR date (day precision) for a calendar date.
func fdate(t time.Time) *dtpb.Date {
	if t.IsZero() {
		return nil
	}
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return &dtpb.Date{ValueUs: d.UnixMicro(), Timezone: "Z", Precision: dtpb.Date_DAY}
}

// fdateTimeDay returns a FHIR dateTime of day precision for a calendar date.
func fdateTimeDay(t time.Time) *dtpb.DateTime {
	if t.IsZero() {
		return nil
	}
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return &dtpb.DateTime{ValueUs: d.UnixMicro(), Timezone: "Z", Precision: dtpb.DateTime_DAY}
}

// fdateTimeIn returns a FHIR dateTime of second precision for a wall-clock
// time (as X12 carries it, in a UTC container) read in zone loc.
func fdateTimeIn(t time.Time, loc *time.Location) *dtpb.DateTime {
	if t.IsZero() || loc == nil {
		return nil
	}
	w := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc)
	_, off := w.Zone()
	return &dtpb.DateTime{ValueUs: w.UnixMicro(), Timezone: tzOffset(off), Precision: dtpb.DateTime_SECOND}
}

// tzOffset formats a zone offset in seconds as "+hh:mm" ("Z" for 0).
func tzOffset(off int) string {
	if off == 0 {
		return "Z"
	}
	sign := byte('+')
	if off < 0 {
		sign = '-'
		off = -off
	}
	b := []byte{sign}
	b = appendTwo(b, off/3600)
	b = append(b, ':')
	b = appendTwo(b, off%3600/60)
	return string(b)
}

func appendTwo(b []byte, n int) []byte { return append(b, byte('0'+n/10%10), byte('0'+n%10)) }

// finstant returns a FHIR instant in UTC, of second precision when t has no
// fraction of a second and of millisecond precision otherwise.
func finstant(t time.Time) *dtpb.Instant {
	t = t.UTC()
	p := dtpb.Instant_SECOND
	if t.Nanosecond() != 0 {
		p = dtpb.Instant_MILLISECOND
		t = t.Truncate(time.Millisecond)
	}
	return &dtpb.Instant{ValueUs: t.UnixMicro(), Timezone: "Z", Precision: p}
}

// fperiod returns a Period, nil when both ends are nil.
func fperiod(start, end *dtpb.DateTime) *dtpb.Period {
	if start == nil && end == nil {
		return nil
	}
	return &dtpb.Period{Start: start, End: end}
}

// datePeriod returns a Period of day precision from two calendar dates
// (either may be zero).
func datePeriod(start, end time.Time) *dtpb.Period {
	return fperiod(fdateTimeDay(start), fdateTimeDay(end))
}

// identifier returns an Identifier, nil when value is "".
func identifier(typ *dtpb.CodeableConcept, system, value string) *dtpb.Identifier {
	if value == "" {
		return nil
	}
	return &dtpb.Identifier{Type: typ, System: furi(system), Value: fstr(value)}
}

// v2IDType returns an identifier type from HL7 v2 table 0203 (MB, MR, NPI,
// TAX...).
func v2IDType(code string) *dtpb.CodeableConcept {
	return concept(terminology.SystemIdentifierType, code)
}

// c4bbIDType returns an identifier type from C4BBIdentifierType (uc, um,
// pat, payerid, naiccode).
func c4bbIDType(code string) *dtpb.CodeableConcept {
	return concept(terminology.SystemC4BBIdentifierType, code)
}

// npiIdentifier returns an NPI identifier with its type (MAPPING.md §11.3:
// C4BB's NPI slices and the Practitioner-identifier invariant need
// v2-0203#NPI as well as the system).
func npiIdentifier(npi string) *dtpb.Identifier {
	return identifier(v2IDType("NPI"), terminology.SystemNPI, npi)
}

// tinIdentifier returns a tax id identifier (v2-0203#TAX).
func tinIdentifier(tin string) *dtpb.Identifier {
	return identifier(v2IDType("TAX"), terminology.SystemTIN, tin)
}

// reference returns a relative reference "Type/id" in google/fhir's typed
// form (the form its JSON parser produces), nil when id is "".
func reference(resourceType, id string) *dtpb.Reference {
	if id == "" {
		return nil
	}
	rid := &dtpb.ReferenceId{Value: id}
	r := &dtpb.Reference{}
	switch resourceType {
	case "Patient":
		r.Reference = &dtpb.Reference_PatientId{PatientId: rid}
	case "Practitioner":
		r.Reference = &dtpb.Reference_PractitionerId{PractitionerId: rid}
	case "PractitionerRole":
		r.Reference = &dtpb.Reference_PractitionerRoleId{PractitionerRoleId: rid}
	case "Organization":
		r.Reference = &dtpb.Reference_OrganizationId{OrganizationId: rid}
	case "Coverage":
		r.Reference = &dtpb.Reference_CoverageId{CoverageId: rid}
	case "Location":
		r.Reference = &dtpb.Reference_LocationId{LocationId: rid}
	case "Encounter":
		r.Reference = &dtpb.Reference_EncounterId{EncounterId: rid}
	case "Claim":
		r.Reference = &dtpb.Reference_ClaimId{ClaimId: rid}
	case "ClaimResponse":
		r.Reference = &dtpb.Reference_ClaimResponseId{ClaimResponseId: rid}
	case "ExplanationOfBenefit":
		r.Reference = &dtpb.Reference_ExplanationOfBenefitId{ExplanationOfBenefitId: rid}
	case "RelatedPerson":
		r.Reference = &dtpb.Reference_RelatedPersonId{RelatedPersonId: rid}
	case "Provenance":
		r.Reference = &dtpb.Reference_ProvenanceId{ProvenanceId: rid}
	default:
		r.Reference = &dtpb.Reference_Uri{Uri: &dtpb.String{Value: resourceType + "/" + id}}
	}
	return r
}

// humanName returns the name of a person entity (MAPPING.md §3.2: NM103
// family, NM104 and NM105 given, NM107 suffix; NM106 prefix), nil when it
// has no name parts.
func humanName(e x12.Entity) *dtpb.HumanName {
	n := &dtpb.HumanName{
		Family: fstr(strings.TrimSpace(e.LastOrOrgName)),
		Given:  fstrs(strings.TrimSpace(e.First), strings.TrimSpace(e.Middle)),
		Prefix: fstrs(strings.TrimSpace(e.Prefix)),
		Suffix: fstrs(strings.TrimSpace(e.Suffix)),
	}
	if n.Family == nil && n.Given == nil {
		return nil
	}
	return n
}

// address returns an Address from N3/N4 (MAPPING.md §3.2), nil when a is nil
// or empty. A 9-digit US postal code is written as #####-####. N407 (country
// subdivision) is the state outside the US when N402 is empty.
func address(a *x12.Address) *dtpb.Address {
	if a == nil {
		return nil
	}
	state := strings.TrimSpace(a.State)
	if state == "" {
		state = strings.TrimSpace(a.CountrySubdivision)
	}
	ad := &dtpb.Address{
		Line:       fstrs(strings.TrimSpace(a.Line1), strings.TrimSpace(a.Line2)),
		City:       fstr(strings.TrimSpace(a.City)),
		State:      fstr(state),
		PostalCode: fstr(postalCode(a.PostalCode)),
		Country:    fstr(strings.TrimSpace(a.Country)),
	}
	if ad.Line == nil && ad.City == nil && ad.State == nil && ad.PostalCode == nil && ad.Country == nil {
		return nil
	}
	return ad
}

// postalCode writes a 9-digit US ZIP+4 as #####-####; other codes as sent.
func postalCode(s string) string {
	s = strings.TrimSpace(s)
	if len(s) == 9 {
		for i := 0; i < 9; i++ {
			if s[i] < '0' || s[i] > '9' {
				return s
			}
		}
		return s[:5] + "-" + s[5:]
	}
	return s
}

// telecom returns the contact points of PER segments (MAPPING.md §3.2: TE
// phone, EM email, FX fax, CP mobile phone, HP home phone, WP work phone, UR
// url; EX, an extension, is appended to the phone number before it).
func telecom(contacts []x12.Contact) []*dtpb.ContactPoint {
	var out []*dtpb.ContactPoint
	for _, c := range contacts {
		var last *dtpb.ContactPoint
		for _, n := range c.Numbers {
			v := strings.TrimSpace(n.Number)
			if v == "" {
				continue
			}
			var sys cpb.ContactPointSystemCode_Value
			var use cpb.ContactPointUseCode_Value
			switch strings.ToUpper(n.Qualifier) {
			case "TE":
				sys = cpb.ContactPointSystemCode_PHONE
			case "CP":
				sys, use = cpb.ContactPointSystemCode_PHONE, cpb.ContactPointUseCode_MOBILE
			case "HP":
				sys, use = cpb.ContactPointSystemCode_PHONE, cpb.ContactPointUseCode_HOME
			case "WP":
				sys, use = cpb.ContactPointSystemCode_PHONE, cpb.ContactPointUseCode_WORK
			case "EM":
				sys = cpb.ContactPointSystemCode_EMAIL
			case "FX":
				sys = cpb.ContactPointSystemCode_FAX
			case "UR":
				sys = cpb.ContactPointSystemCode_URL
			case "EX":
				if last != nil && last.System.GetValue() == cpb.ContactPointSystemCode_PHONE {
					last.Value.Value += " x" + v
				}
				continue
			default:
				continue
			}
			cp := &dtpb.ContactPoint{
				System: &dtpb.ContactPoint_SystemCode{Value: sys},
				Value:  fstr(v),
			}
			if use != cpb.ContactPointUseCode_INVALID_UNINITIALIZED {
				cp.Use = &dtpb.ContactPoint_UseCode{Value: use}
			}
			out = append(out, cp)
			last = cp
		}
	}
	return out
}

// quantity returns a SimpleQuantity from X12 decimal text with an optional
// UCUM unit, nil for empty or malformed text.
func quantity(value, unit, ucum string) *dtpb.SimpleQuantity {
	d := fdecimal(value)
	if d == nil {
		return nil
	}
	q := &dtpb.SimpleQuantity{Value: d}
	if ucum != "" {
		q.Unit = fstr(unit)
		q.System = furi(terminology.SystemUCUM)
		q.Code = fcode(ucum)
	}
	return q
}

// meta returns the Meta of a resource: its profiles (versioned canonicals),
// meta.lastUpdated from the Mapper's clock and meta.source (the lineage).
func (m *Mapper) meta(lineage string, profiles ...string) *dtpb.Meta {
	mt := &dtpb.Meta{LastUpdated: finstant(m.opts.Now()), Source: furi(lineage)}
	for _, p := range profiles {
		if p != "" {
			mt.Profile = append(mt.Profile, &dtpb.Canonical{Value: p})
		}
	}
	return mt
}

// Lineage returns the PHI-free lineage URI of an X12 record, written to
// meta.source of every resource mapped from it:
//
//	urn:fhirsync:x12:<source>:<ISA13>:<GS06>:<ST02>:<offset>
//
// where source is the Mapper's source name (a file name or message id,
// percent-encoded; "-" when none) and offset is the byte offset of the
// record's leading segment (CLM, CLP) in the input. Control numbers and
// offsets are not PHI; the source name must not be either.
func (m *Mapper) Lineage(rec x12.Record) string {
	env := rec.Envelope()
	pos := rec.Pos()
	src := m.src
	if src == "" {
		src = "-"
	} else {
		src = url.PathEscape(src)
		src = strings.ReplaceAll(src, ":", "%3A")
	}
	var b strings.Builder
	b.Grow(64 + len(src))
	b.WriteString("urn:fhirsync:x12:")
	b.WriteString(src)
	for _, s := range [...]string{env.ISA.Control, env.GS.Control, env.ST.Control} {
		b.WriteByte(':')
		if s == "" {
			s = "-"
		}
		b.WriteString(url.PathEscape(strings.TrimSpace(s)))
	}
	b.WriteByte(':')
	b.WriteString(strconv.FormatInt(pos.Offset, 10))
	return b.String()
}
