package fhirmap

// Provider directory rows → Da Vinci PDex Plan-Net 1.2.0 (MAPPING.md §4.8,
// §6, §11.6): Practitioner, PractitionerRole, Organization,
// OrganizationAffiliation, Location, and the payer's Networks.

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	lpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	oapb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_affiliation_go_proto"
	opb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	rolepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/terminology"
)

// Code systems of the directory mapping.
const (
	provPlanNetCS          = "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/"
	systemAcceptingPatient = provPlanNetCS + "AcceptingPatientsCS"
	systemProviderRole     = provPlanNetCS + "ProviderRoleCS"
	systemPractitionerRole = "http://terminology.hl7.org/CodeSystem/practitioner-role"
	systemDegree           = "http://terminology.hl7.org/CodeSystem/v2-0360|2.7"
	systemProviderLanguage = "urn:ietf:bcp:47"
)

// DirectoryPayer is the payer that owns the networks of a provider directory
// (Plan-Net Network.partOf): a plannet-Organization of type payer.
type DirectoryPayer struct {
	// PayerID keys the payer's Organization like the claim mappers' payers
	// ([IDs.Payer]); NAIC and TIN are fallbacks and extra identifiers.
	PayerID, NAIC, TIN string
	// Name and Address are required by plannet-Organization.
	Name    string
	Address ProviderAddress
	Phone   string
}

// ProviderOptions configures a [ProviderMapper]. A nil *ProviderOptions means
// no payer (networks then cannot claim plannet-Network) and the Mapper's
// source name.
type ProviderOptions struct {
	// Payer owns the networks. Nil means none is known: Network
	// Organizations lack partOf and do not claim plannet-Network, and the
	// roles that refer to them do not claim plannet-PractitionerRole.
	Payer *DirectoryPayer
	// NetworkSystem returns the identifier system of a payer's network ids.
	// Nil means "urn:fhirsync:network-id:<payer id>".
	NetworkSystem func(payerID string) string
	// DeleteEndsProvider makes a deleted row also end the provider itself
	// (Practitioner.active or Organization.active = false), for tables with
	// one row per provider. By default a deleted row ends only its own
	// participation (its PractitionerRoles or OrganizationAffiliations): the
	// provider may have other rows.
	DeleteEndsProvider bool
}

// ProviderMapper maps provider directory rows and their change events to
// Plan-Net resources. It holds configuration only and is safe for concurrent
// use.
type ProviderMapper struct {
	m       *Mapper
	opts    ProviderOptions
	version string // source version of table rows (WithSourceVersion)
}

// WithSourceVersion returns a copy of p whose [ProviderMapper.MapRow]
// stamps every result with the PHI-free source version v (the extract date
// or export sequence of a full file: Result.SourceVersion and the
// [ExtSourceVersion] meta extension), for the stale-update guard. Versions
// of one source must compare as strings ("20240201", zero-padded
// sequences). Change events carry their own ([ProviderChange]).
func (p *ProviderMapper) WithSourceVersion(v string) *ProviderMapper {
	c := *p
	c.version = v
	return &c
}

// NewProviderMapper returns a ProviderMapper that takes ids, the clock, the
// source name and the NPI check setting from m (see [Options]) and its
// directory settings from opts (nil means defaults).
func NewProviderMapper(m *Mapper, opts *ProviderOptions) (*ProviderMapper, error) {
	if m == nil {
		return nil, newProviderError(ErrMissing, nil, "", "", "NewProviderMapper needs a Mapper")
	}
	var o ProviderOptions
	if opts != nil {
		o = *opts
	}
	if o.Payer != nil {
		p := *o.Payer
		o.Payer = &p
		if _, err := m.ids.Payer(PayerKey{PayerID: p.PayerID, NAIC: p.NAIC, TIN: p.TIN}); err != nil {
			return nil, newProviderError(ErrMissing, nil, "", "Organization.identifier", "the directory payer has no payer id, NAIC code or TIN").withCause(err)
		}
	}
	return &ProviderMapper{m: m, opts: o}, nil
}

// ProviderResult is what mapping one row or change produced: the resources,
// unmet profile requirements and warnings of a [Result], and the change's
// operation.
//
// Result.SourceVersion is the change event's source version ("" for rows
// read from a table or file); every resource also carries it in the
// [ExtSourceVersion] meta extension.
type ProviderResult struct {
	Result
	// Op is the change's operation ("" for rows read from a table or file).
	Op ChangeOp
}

// MapRow maps one provider row to Plan-Net resources, referenced ones first:
// the payer and its Networks, the provider's Organization (organization
// rows), the Location, the Practitioner (individual rows), then one
// PractitionerRole (individual) or OrganizationAffiliation (organization) per
// network, or one PractitionerRole without a network.
//
// Ids are deterministic ([IDs]): Practitioner and Organization by NPI (else
// TIN), Location by address, roles by the resources they tie together, so a
// change of specialty or phone updates a role in place. A row that is not
// active (Active false, or an EndDate on or before the Mapper's clock) ends
// its roles: active = false and period.end, never a deletion. A resource
// that cannot meet a Plan-Net profile (an ended role: Plan-Net fixes active
// to true) does not declare it and the result lists why (Result.Unmet).
//
// An NPI (the row's or its affiliation's) that fails terminology.ValidateNPI
// is an error ([ErrInvalidValue]) unless Options.NoNPICheck: a directory
// entry is keyed by its NPI, and MAPPING.md §3.4's keep-and-warn would
// publish an entry that breaks us-core-16/17, so the row goes to the reject
// path instead. Other bad cells (a gender, taxonomy or language code, the
// hours) are dropped with a warning. Errors are [*ProviderError] values.
func (p *ProviderMapper) MapRow(ctx context.Context, row *ProviderRow) (*ProviderResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if row == nil {
		return nil, newProviderError(ErrMissing, nil, "", "", "nil row")
	}
	b := &provRowBuild{p: p, row: row, now: p.m.opts.Now(), version: p.version}
	b.lineage = p.lineage(row, "")
	if err := b.build(provEndNone, time.Time{}); err != nil {
		return nil, err
	}
	b.res.SourceVersion = p.version
	return &ProviderResult{Result: b.res}, nil
}

// MapChange maps a change event of a provider table, reading Before and
// After through cols (nil means [DefaultColumnMap]):
//
//   - create and read map After like [ProviderMapper.MapRow];
//   - update maps After, and ends (active = false, period.end = the change's
//     date) every role of Before that After no longer has (the provider
//     moved, or left a network). An update without a Before image (Postgres
//     REPLICA IDENTITY DEFAULT sends none) can only map After: a role it
//     moved away from stays active until a delete or
//     [ProviderMapper.ReconcileFull] ends it: capture updates with REPLICA
//     IDENTITY FULL;
//   - delete ends the roles of Before, and with
//     ProviderOptions.DeleteEndsProvider the provider too. Nothing is ever
//     deleted from the FHIR server.
//
// The result carries the change's SourceVersion, which also goes into the
// lineage (meta.source) of every resource.
func (p *ProviderMapper) MapChange(ctx context.Context, ch *ProviderChange, cols *ColumnMap) (*ProviderResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ch == nil {
		return nil, newProviderError(ErrMissing, nil, "", "", "nil change")
	}
	when := ch.Time
	if when.IsZero() {
		when = p.m.opts.Now()
	}
	fail := func(err error) error {
		if pe, ok := err.(*ProviderError); ok {
			pe.SourceVersion = ch.SourceVersion
		}
		return err
	}
	read := func(m map[string]any, what string) (*ProviderRow, error) {
		if m == nil {
			return nil, fail(newProviderError(ErrMissing, nil, "", "", "the change has no "+what+" image"))
		}
		r, err := ProviderRowFromMap(m, cols)
		if err != nil {
			return nil, fail(err)
		}
		return r, nil
	}
	out := &ProviderResult{Op: ch.Op}
	switch ch.Op {
	case ChangeCreate, ChangeRead, ChangeUpdate:
		after, err := read(ch.After, "after")
		if err != nil {
			return nil, err
		}
		b := &provRowBuild{p: p, row: after, now: p.m.opts.Now(), lineage: p.lineage(after, ch.SourceVersion), version: ch.SourceVersion}
		if err := b.build(provEndNone, time.Time{}); err != nil {
			return nil, fail(err)
		}
		if ch.Op == ChangeUpdate && ch.Before != nil {
			before, err := read(ch.Before, "before")
			if err != nil {
				return nil, err
			}
			ended := &provRowBuild{p: p, row: before, now: p.m.opts.Now(), lineage: b.lineage, version: ch.SourceVersion, skip: b.roleIDs}
			if err := ended.build(provEndRolesOnly, when); err != nil {
				return nil, fail(err)
			}
			b.res.Resources = append(b.res.Resources, ended.res.Resources...)
			b.res.Unmet = append(b.res.Unmet, ended.res.Unmet...)
			b.res.Warnings = append(b.res.Warnings, ended.res.Warnings...)
		}
		out.Result = b.res
	case ChangeDelete:
		before, err := read(ch.Before, "before")
		if err != nil {
			return nil, err
		}
		mode := provEndRolesOnly
		if p.opts.DeleteEndsProvider {
			mode = provEndProvider
		}
		b := &provRowBuild{p: p, row: before, now: p.m.opts.Now(), lineage: p.lineage(before, ch.SourceVersion), version: ch.SourceVersion}
		if err := b.build(mode, when); err != nil {
			return nil, fail(err)
		}
		out.Result = b.res
	default:
		return nil, fail(newProviderError(ErrInvalidCode, nil, "", "", "unknown change operation"))
	}
	out.SourceVersion = ch.SourceVersion
	return out, nil
}

// lineage returns meta.source of the resources of a row:
// "urn:fhirsync:rows:<source>:<ref>", ref being the change's source version,
// else "line-<n>" or "row-<n>".
func (p *ProviderMapper) lineage(r *ProviderRow, version string) string {
	src := p.m.src
	if src == "" {
		src = "-"
	} else {
		src = strings.ReplaceAll(url.PathEscape(src), ":", "%3A")
	}
	ref := "-"
	switch {
	case version != "":
		ref = strings.ReplaceAll(url.PathEscape(version), ":", "%3A")
	case r.Line > 0:
		ref = "line-" + strconv.Itoa(r.Line)
	case r.Record > 0:
		ref = "row-" + strconv.Itoa(r.Record)
	}
	return "urn:fhirsync:rows:" + src + ":" + ref
}

// provEndMode says what a build ends.
type provEndMode int

const (
	provEndNone      provEndMode = iota // map the row as it is
	provEndRolesOnly                    // emit only the row's roles, ended
	provEndProvider                     // emit the provider and its roles, ended
)

// provRowBuild is the state of mapping one row.
type provRowBuild struct {
	p       *ProviderMapper
	row     *ProviderRow
	now     time.Time
	lineage string
	version string // the change's source version ("" for table rows)
	res     Result
	// providerID is the id of the row's Practitioner or Organization, once
	// build has computed it.
	providerID string
	seen       map[string]bool
	roleIDs    map[string]bool // ids of the roles built
	skip       map[string]bool // role ids not to end (an update's after image has them)
}

// meta returns the Meta of a resource of the row: its profile, lineage and
// source version.
func (b *provRowBuild) meta(profile string) *dtpb.Meta {
	return withVersion(b.p.m.meta(b.lineage, profile), b.version)
}

func (b *provRowBuild) add(key string, m proto.Message) {
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	if b.seen[key] {
		return
	}
	b.seen[key] = true
	b.res.Resources = append(b.res.Resources, m)
}

func (b *provRowBuild) warn(column, path, rule, msg string) {
	if column != "" {
		msg = "column " + column + ": " + msg
	}
	b.res.Warnings = append(b.res.Warnings, Issue{Pos: Position{Record: b.row.Record}, Path: path, Rule: rule, Message: msg})
}

func (b *provRowBuild) unmet(path, rule string, profile Canonical, msg string) {
	b.res.Unmet = append(b.res.Unmet, Issue{Pos: Position{Record: b.row.Record}, Path: path, Rule: rule, Profile: PlanNetProfile(profile), Message: msg})
}

func (b *provRowBuild) errorf(err error, col func(c *ColumnMap) string, path, detail string) *ProviderError {
	name := ""
	if col != nil {
		name = b.row.columnName(col)
	}
	return newProviderError(err, b.row, name, path, detail)
}

// provRowKeys are the ids and facts a row's resources share.
type provRowKeys struct {
	entity      ProviderEntity
	providerID  string // Practitioner or Organization id
	orgID       string // the organization of the role (affiliation, or the row's own)
	locationID  string
	locClaims   bool
	orgClaims   bool // an organization row's Organization claims plannet-Organization
	pracClaims  bool
	payerID     string
	networks    []provNetRef
	ended       bool // the participation has ended
	inactive    bool // the provider itself is inactive
	endDate     time.Time
	specialties []*dtpb.CodeableConcept
	telecom     []*dtpb.ContactPoint
}

type provNetRef struct {
	id     string
	claims bool
}

// build maps the row. mode and when say what to end (change events).
func (b *provRowBuild) build(mode provEndMode, when time.Time) error {
	r := b.row
	k := provRowKeys{entity: r.Entity}
	if k.entity == EntityUnknown {
		switch {
		case strings.TrimSpace(r.LastName) != "":
			k.entity = EntityIndividual
		case strings.TrimSpace(r.OrgName) != "":
			k.entity = EntityOrganization
		default:
			return b.errorf(ErrMissing, func(c *ColumnMap) string { return c.LastName }, "Practitioner.name.family", "the row has neither a last name nor an organization name")
		}
	}
	npi := strings.TrimSpace(r.NPI)
	idPath := "Practitioner.identifier"
	if k.entity == EntityOrganization {
		idPath = "Organization.identifier"
	}
	if err := b.checkNPI(npi, func(c *ColumnMap) string { return c.NPI }, idPath); err != nil {
		return err
	}
	affNPI := strings.TrimSpace(r.Affiliation.NPI)
	if err := b.checkNPI(affNPI, func(c *ColumnMap) string { return c.AffiliationNPI }, "PractitionerRole.organization"); err != nil {
		return err
	}
	if !r.EffectiveDate.IsZero() && !r.EndDate.IsZero() && r.EndDate.Before(r.EffectiveDate) {
		return b.errorf(ErrInconsistent, func(c *ColumnMap) string { return c.EndDate }, "PractitionerRole.period", "the end date is before the effective date")
	}
	today := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC)
	k.inactive = r.Active != nil && !*r.Active
	if !r.EndDate.IsZero() {
		k.endDate = time.Date(r.EndDate.Year(), r.EndDate.Month(), r.EndDate.Day(), 0, 0, 0, 0, time.UTC)
	}
	k.ended = k.inactive || (!k.endDate.IsZero() && !k.endDate.After(today))
	if mode != provEndNone {
		k.ended = true
		if mode == provEndProvider {
			k.inactive = true
		}
		if k.endDate.IsZero() || k.endDate.After(when) {
			k.endDate = time.Date(when.Year(), when.Month(), when.Day(), 0, 0, 0, 0, time.UTC)
		}
		if !r.EffectiveDate.IsZero() && k.endDate.Before(r.EffectiveDate) {
			k.endDate = r.EffectiveDate
		}
	}
	k.specialties = b.specialties()
	k.telecom = provContactPoints(r.Phone, r.Fax, r.Email)
	withProvider := mode != provEndRolesOnly

	// The payer and its networks.
	if err := b.networks(&k, withProvider); err != nil {
		return err
	}
	// The provider's organization, its location, the practitioner.
	switch k.entity {
	case EntityOrganization:
		id, err := b.p.m.ids.Organization(OrganizationKey{NPI: npi, TIN: r.TIN})
		if err != nil {
			return b.errorf(ErrMissing, func(c *ColumnMap) string { return c.NPI }, "Organization.identifier", "an organization row needs an NPI or a TIN").withCause(err)
		}
		k.providerID, k.orgID = id, id
		b.providerID = id
		if withProvider {
			b.organization(&k, npi)
		}
	default:
		id, err := b.p.m.ids.Practitioner(PractitionerKey{NPI: npi, TIN: r.TIN, LastName: r.LastName, FirstName: r.FirstName})
		if err != nil {
			return b.errorf(ErrMissing, func(c *ColumnMap) string { return c.NPI }, "Practitioner.identifier", "an individual row needs an NPI, or a TIN with a last name").withCause(err)
		}
		k.providerID = id
		b.providerID = id
		if !r.Affiliation.IsZero() {
			oid, err := b.p.m.ids.Organization(OrganizationKey{NPI: affNPI, TIN: r.Affiliation.TIN})
			if err != nil {
				return b.errorf(ErrMissing, func(c *ColumnMap) string { return c.AffiliationNPI }, "PractitionerRole.organization", "the affiliation has no NPI or TIN").withCause(err)
			}
			k.orgID = oid
		}
	}
	if err := b.location(&k, withProvider); err != nil {
		return err
	}
	if k.entity == EntityIndividual {
		if withProvider {
			b.practitioner(&k, npi)
		}
		return b.roles(&k)
	}
	return b.affiliations(&k)
}

// checkNPI validates an NPI's format and check digit (MAPPING.md §3.4).
func (b *provRowBuild) checkNPI(npi string, col func(c *ColumnMap) string, path string) error {
	if npi == "" || b.p.m.opts.NoNPICheck {
		return nil
	}
	if err := terminology.ValidateNPI(npi); err != nil {
		return b.errorf(ErrInvalidValue, col, path, "NPI fails its format or check digit").withValue(npi).withCause(err)
	}
	return nil
}

// provNuccCode matches a NUCC provider taxonomy code.
var provNuccCode = regexp.MustCompile(`^[0-9]{3}[0-9A-Z]{6}X$`)

// specialties returns the NUCC codings of the row's taxonomy codes, primary
// first, dropping duplicates and (with a warning) malformed codes.
func (b *provRowBuild) specialties() []*dtpb.CodeableConcept {
	r := b.row
	var out []*dtpb.CodeableConcept
	seen := map[string]bool{}
	add := func(code string, col func(c *ColumnMap) string) {
		code = strings.ToUpper(strings.TrimSpace(code))
		if code == "" || seen[code] {
			return
		}
		seen[code] = true
		if !provNuccCode.MatchString(code) {
			b.warn(b.row.columnName(col), "PractitionerRole.specialty", "taxonomy-format", "not a NUCC taxonomy code: dropped")
			return
		}
		out = append(out, concept(terminology.SystemNUCCTaxonomy, code))
	}
	add(r.Taxonomy, func(c *ColumnMap) string { return c.Taxonomy })
	for _, t := range r.OtherTaxonomies {
		add(t, func(c *ColumnMap) string { return c.OtherTaxonomies })
	}
	return out
}

// provContactPoints returns work phone, fax and email contact points.
func provContactPoints(phone, fax, email string) []*dtpb.ContactPoint {
	var out []*dtpb.ContactPoint
	add := func(sys cpb.ContactPointSystemCode_Value, v string) {
		if v = strings.TrimSpace(v); v == "" {
			return
		}
		out = append(out, &dtpb.ContactPoint{
			System: &dtpb.ContactPoint_SystemCode{Value: sys},
			Value:  fstr(v),
			Use:    &dtpb.ContactPoint_UseCode{Value: cpb.ContactPointUseCode_WORK},
		})
	}
	add(cpb.ContactPointSystemCode_PHONE, phone)
	add(cpb.ContactPointSystemCode_FAX, fax)
	add(cpb.ContactPointSystemCode_EMAIL, email)
	return out
}

// providerAddress converts a row address, nil when empty.
func providerAddress(a ProviderAddress) *dtpb.Address {
	ad := &dtpb.Address{
		Use:        &dtpb.Address_UseCode{Value: cpb.AddressUseCode_WORK},
		Line:       fstrs(strings.TrimSpace(a.Line1), strings.TrimSpace(a.Line2)),
		City:       fstr(strings.TrimSpace(a.City)),
		State:      fstr(strings.ToUpper(strings.TrimSpace(a.State))),
		PostalCode: fstr(postalCode(a.PostalCode)),
		Country:    fstr(strings.TrimSpace(a.Country)),
	}
	if ad.Line == nil && ad.City == nil && ad.State == nil && ad.PostalCode == nil && ad.Country == nil {
		return nil
	}
	return ad
}

// provOrgType returns the Plan-Net OrgTypeCS concept of an organization.
func provOrgType(code string) *dtpb.CodeableConcept {
	return concept(terminology.SystemPlanNetOrgType, code)
}

// networkSystem returns the identifier system of the payer's network ids.
func (p *ProviderMapper) networkSystem(payerID string) string {
	if p.opts.NetworkSystem != nil {
		return p.opts.NetworkSystem(payerID)
	}
	if payerID == "" {
		return "urn:fhirsync:network-id"
	}
	return "urn:fhirsync:network-id:" + url.PathEscape(payerID)
}

// networks adds the payer Organization and one plannet-Network per network
// of the row.
func (b *provRowBuild) networks(k *provRowKeys, emit bool) error {
	r := b.row
	payer := b.p.opts.Payer
	payerClaims := false
	if payer != nil {
		id, _ := b.p.m.ids.Payer(PayerKey{PayerID: payer.PayerID, NAIC: payer.NAIC, TIN: payer.TIN})
		k.payerID = id
		payerClaims = strings.TrimSpace(payer.Name) != "" && !payer.Address.IsZero()
		if emit && len(r.Networks) > 0 {
			o := &opb.Organization{
				Id: &dtpb.Id{Value: id},
				Identifier: nonNilIDs(
					identifier(c4bbIDType("payerid"), b.p.m.payerIDSystem(), strings.TrimSpace(payer.PayerID)),
					identifier(c4bbIDType("naiccode"), terminology.SystemNAIC, strings.TrimSpace(payer.NAIC)),
					tinIdentifier(strings.TrimSpace(payer.TIN)),
				),
				Active:  fbool(true),
				Type:    []*dtpb.CodeableConcept{provOrgType("payer")},
				Name:    fstr(strings.TrimSpace(payer.Name)),
				Telecom: provContactPoints(payer.Phone, "", ""),
				Address: nonNilAddrs(providerAddress(payer.Address)),
			}
			profile := PlanNetProfile(PlanNetOrganization)
			if !payerClaims {
				b.unmet("Organization.address", "Organization.address.min", PlanNetOrganization, "the directory payer has no name or address: plannet-Organization not claimed")
				profile = ""
			}
			o.Meta = b.meta(profile)
			b.add("Organization/"+id, o)
		}
	}
	payerKey := ""
	if payer != nil {
		payerKey = strings.TrimSpace(payer.PayerID)
	}
	for i, n := range r.Networks {
		nid := strings.TrimSpace(n.ID)
		if nid == "" {
			return b.errorf(ErrMissing, func(c *ColumnMap) string { return c.NetworkIDs }, "Organization.identifier", "a network name has no network id at position "+strconv.Itoa(i+1))
		}
		id := b.p.m.ids.ID("Organization", "plannet-network", payerKey, nid)
		claims := payerClaims && strings.TrimSpace(n.Name) != ""
		k.networks = append(k.networks, provNetRef{id: id, claims: claims})
		if !emit {
			continue
		}
		o := &opb.Organization{
			Id:         &dtpb.Id{Value: id},
			Identifier: nonNilIDs(identifier(nil, b.p.networkSystem(payerKey), nid)),
			Active:     fbool(true),
			Type:       []*dtpb.CodeableConcept{provOrgType("ntwk")},
			Name:       fstr(strings.TrimSpace(n.Name)),
			PartOf:     reference("Organization", k.payerID),
		}
		profile := PlanNetProfile(PlanNetNetwork)
		switch {
		case payer == nil:
			b.unmet("Organization.partOf", "Organization.partOf.min", PlanNetNetwork, "no directory payer is configured: plannet-Network not claimed")
			profile = ""
		case !claims:
			b.unmet("Organization.name", "Organization.name.min", PlanNetNetwork, "the network has no name (or the payer no name or address): plannet-Network not claimed")
			profile = ""
		}
		o.Meta = b.meta(profile)
		b.add("Organization/"+id, o)
	}
	return nil
}

// organization adds the plannet-Organization of an organization row.
func (b *provRowBuild) organization(k *provRowKeys, npi string) {
	r := b.row
	typ := strings.ToLower(strings.TrimSpace(r.OrgType))
	switch typ {
	case "":
		typ = "prvgrp"
	case "fac", "prvgrp", "atyprv", "bus":
	default:
		b.warn(r.columnName(func(c *ColumnMap) string { return c.OrgType }), "Organization.type", "org-type", "not a Plan-Net provider organization type (fac, prvgrp, atyprv, bus): prvgrp used")
		typ = "prvgrp"
	}
	addr := providerAddress(r.MailingAddress)
	if addr == nil {
		addr = providerAddress(r.Location.Address)
	}
	telecom := k.telecom
	if len(telecom) == 0 {
		telecom = provContactPoints(r.Location.Phone, "", "")
	}
	o := &opb.Organization{
		Id:         &dtpb.Id{Value: k.providerID},
		Identifier: nonNilIDs(npiIdentifier(npi), tinIdentifier(strings.TrimSpace(r.TIN))),
		Active:     fbool(!k.inactive),
		Type:       []*dtpb.CodeableConcept{provOrgType(typ)},
		Name:       fstr(strings.TrimSpace(r.OrgName)),
		Telecom:    telecom,
		Address:    nonNilAddrs(addr),
	}
	profile := PlanNetProfile(PlanNetOrganization)
	switch {
	case o.Name == nil:
		b.unmet("Organization.name", "Organization.name.min", PlanNetOrganization, "no organization name: plannet-Organization not claimed")
		profile = ""
	case o.Address == nil:
		b.unmet("Organization.address", "Organization.address.min", PlanNetOrganization, "no address: plannet-Organization not claimed")
		profile = USCoreProfile(USCoreOrganization)
	case k.inactive:
		b.unmet("Organization.active", "Organization.active.fixed", PlanNetOrganization, "the organization is inactive: Plan-Net fixes active to true, US Core Organization claimed")
		profile = USCoreProfile(USCoreOrganization)
	}
	k.orgClaims = profile == PlanNetProfile(PlanNetOrganization)
	o.Meta = b.meta(profile)
	b.add("Organization/"+k.providerID, o)
}

// location adds the plannet-Location of the row's practice location.
func (b *provRowBuild) location(k *provRowKeys, emit bool) error {
	r := b.row
	l := r.Location
	if l.Address.IsZero() {
		return nil
	}
	id, err := b.p.m.ids.Location(LocationKey{Line: l.Address.Line1, Line2: l.Address.Line2, City: l.Address.City, State: l.Address.State, PostalCode: l.Address.PostalCode})
	if err != nil {
		return b.errorf(ErrMissing, func(c *ColumnMap) string { return c.LocationLine1 }, "Location.address.line", "the practice location has no address line").withCause(err)
	}
	k.locationID = id
	name := strings.TrimSpace(l.Name)
	if name == "" && k.entity == EntityOrganization {
		name = strings.TrimSpace(r.OrgName)
	}
	if name == "" {
		name = strings.TrimSpace(r.Affiliation.Name)
	}
	k.locClaims = name != ""
	if !emit {
		return nil
	}
	loc := &lpb.Location{
		Id:                   &dtpb.Id{Value: id},
		Status:               &lpb.Location_StatusCode{Value: cpb.LocationStatusCode_ACTIVE},
		Name:                 fstr(name),
		Telecom:              provContactPoints(l.Phone, "", ""),
		Address:              providerAddress(l.Address),
		ManagingOrganization: reference("Organization", k.orgID),
	}
	if lat, lon := strings.TrimSpace(l.Latitude), strings.TrimSpace(l.Longitude); lat != "" || lon != "" {
		la, lo := fdecimal(lat), fdecimal(lon)
		if la == nil || lo == nil || !provInRange(la.Value, 90) || !provInRange(lo.Value, 180) {
			b.warn(r.columnName(func(c *ColumnMap) string { return c.Latitude }), "Location.position", "position-format", "latitude and longitude must both be decimal degrees: position dropped")
		} else {
			loc.Position = &lpb.Location_Position{Latitude: la, Longitude: lo}
		}
	}
	if strings.TrimSpace(l.Hours) != "" {
		hours, ok := provParseHours(l.Hours)
		if !ok {
			b.warn(r.columnName(func(c *ColumnMap) string { return c.Hours }), "Location.hoursOfOperation", "hours-format", "hours are not \"Mon-Fri 08:00-17:00; Sat 09:00-12:00\": dropped")
		} else {
			loc.HoursOfOperation = hours
		}
	}
	profile := PlanNetProfile(PlanNetLocation)
	switch {
	case !k.locClaims:
		b.unmet("Location.name", "Location.name.min", PlanNetLocation, "the practice location has no name: plannet-Location not claimed")
		profile = ""
	case k.entity == EntityOrganization && !k.orgClaims:
		b.unmet("Location.managingOrganization", "Location.managingOrganization.targetProfile", PlanNetLocation, "the organization does not claim plannet-Organization: US Core Location claimed")
		profile = USCoreProfile(USCoreLocation)
		k.locClaims = false
	}
	loc.Meta = b.meta(profile)
	b.add("Location/"+id, loc)
	return nil
}

// provInRange reports whether decimal text d is within [-limit, limit].
func provInRange(d string, limit float64) bool {
	f, err := strconv.ParseFloat(d, 64)
	return err == nil && f >= -limit && f <= limit
}

// practitioner adds the plannet-Practitioner of an individual row.
func (b *provRowBuild) practitioner(k *provRowKeys, npi string) {
	r := b.row
	pr := &prpb.Practitioner{
		Id:         &dtpb.Id{Value: k.providerID},
		Identifier: nonNilIDs(npiIdentifier(npi)),
		Active:     fbool(!k.inactive),
	}
	name := &dtpb.HumanName{
		Use:    &dtpb.HumanName_UseCode{Value: cpb.NameUseCode_OFFICIAL},
		Family: fstr(strings.TrimSpace(r.LastName)),
		Given:  fstrs(strings.TrimSpace(r.FirstName), strings.TrimSpace(r.MiddleName)),
		Prefix: fstrs(strings.TrimSpace(r.Prefix)),
		Suffix: fstrs(append([]string{strings.TrimSpace(r.Suffix)}, r.Credentials...)...),
	}
	if name.Family != nil || name.Given != nil {
		pr.Name = []*dtpb.HumanName{name}
	}
	if g := strings.TrimSpace(r.Gender); g != "" {
		if code, ok := provPractitionerGender(g); ok {
			pr.Gender = &prpb.Practitioner_GenderCode{Value: code}
		} else {
			b.warn(r.columnName(func(c *ColumnMap) string { return c.Gender }), "Practitioner.gender", "gender-code", "not a gender code: dropped")
		}
	}
	for _, c := range r.Credentials {
		pr.Qualification = append(pr.Qualification, &prpb.Practitioner_Qualification{Code: provCredentialConcept(c)})
	}
	for _, l := range r.Languages {
		if !provBcp47.MatchString(l) {
			b.warn(r.columnName(func(c *ColumnMap) string { return c.Languages }), "Practitioner.communication", "language-code", "not a BCP-47 language tag: dropped")
			continue
		}
		pr.Communication = append(pr.Communication, concept(systemProviderLanguage, l))
	}
	profile := PlanNetProfile(PlanNetPractitioner)
	switch {
	case len(pr.Identifier) == 0:
		b.unmet("Practitioner.identifier", "Practitioner.identifier.min", PlanNetPractitioner, "no NPI: plannet-Practitioner not claimed")
		profile = ""
	case pr.Name == nil || pr.Name[0].Family == nil:
		b.unmet("Practitioner.name.family", "Practitioner.name.family.min", PlanNetPractitioner, "no family name: plannet-Practitioner not claimed")
		profile = ""
	case k.inactive:
		b.unmet("Practitioner.active", "Practitioner.active.fixed", PlanNetPractitioner, "the practitioner is inactive: Plan-Net fixes active to true, US Core Practitioner claimed")
		profile = USCoreProfile(USCorePractitioner)
	}
	k.pracClaims = profile == PlanNetProfile(PlanNetPractitioner)
	pr.Meta = b.meta(profile)
	b.add("Practitioner/"+k.providerID, pr)
}

var provBcp47 = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)

// provPractitionerGender maps a gender cell to AdministrativeGender.
func provPractitionerGender(g string) (cpb.AdministrativeGenderCode_Value, bool) {
	switch strings.ToLower(g) {
	case "m", "male":
		return cpb.AdministrativeGenderCode_MALE, true
	case "f", "female":
		return cpb.AdministrativeGenderCode_FEMALE, true
	case "o", "other", "x":
		return cpb.AdministrativeGenderCode_OTHER, true
	case "u", "unknown":
		return cpb.AdministrativeGenderCode_UNKNOWN, true
	}
	return 0, false
}

// provDegreeCodes are HL7 v2 table 0360 degree/license codes, by upper-cased
// credential.
var provDegreeCodes = map[string]string{
	"MD": "MD", "DO": "DO", "NP": "NP", "PA": "PA", "RN": "RN", "LPN": "LPN",
	"PHARMD": "PharmD", "PHD": "PHD", "RPH": "RPH", "CNM": "CNM", "CNS": "CNS",
	"MSN": "MSN", "BSN": "BSN", "CNA": "CNA", "EMT": "EMT", "MBA": "MBA",
}

// provCredentialConcept returns the qualification code of a credential: an HL7
// v2-0360 coding when the credential is one, with the credential as text.
func provCredentialConcept(c string) *dtpb.CodeableConcept {
	c = strings.TrimSpace(c)
	cc := &dtpb.CodeableConcept{Text: fstr(c)}
	if code, ok := provDegreeCodes[strings.ToUpper(strings.ReplaceAll(c, ".", ""))]; ok {
		cc.Coding = []*dtpb.Coding{coding(systemDegree, code)}
	}
	return cc
}

// providerRoleCodes are the codes of Plan-Net ProviderRoleCS.
var providerRoleCodes = map[string]bool{
	"ap": true, "apn": true, "at": true, "au": true, "bh": true, "ba": true, "bt": true, "cnw": true, "crnp": true,
	"ch": true, "cs": true, "co": true, "dp": true, "de": true, "drr": true, "dn": true, "om": true, "em": true,
	"ho": true, "lpn": true, "mt": true, "ma": true, "nh": true, "na": true, "nu": true, "ot": true, "op": true,
	"oo": true, "os": true, "rx": true, "pt": true, "ph": true, "pa": true, "po": true, "py": true, "rn": true,
	"rt": true, "sw": true, "sp": true, "sh": true, "te": true,
}

// hl7RoleCodes are the codes of HL7 practitioner-role.
var hl7RoleCodes = map[string]bool{"doctor": true, "nurse": true, "pharmacist": true, "researcher": true, "teacher": true, "ict": true}

// credentialRoles derives a ProviderRoleCS code from a credential.
var credentialRoles = map[string]string{
	"MD": "ph", "DO": "ph", "NP": "crnp", "CRNP": "crnp", "APRN": "apn", "PA": "pa", "PA-C": "pa", "RN": "rn", "LPN": "lpn",
	"DDS": "de", "DMD": "de", "OD": "oo", "DPM": "po", "PSYD": "py", "LCSW": "sw", "MSW": "sw", "DC": "ch",
	"PT": "pt", "DPT": "pt", "OT": "ot", "PHARMD": "rx", "RPH": "rx", "CNM": "cnw", "AUD": "au", "LMFT": "mt",
}

// roleCode returns PractitionerRole.code.
func (b *provRowBuild) roleCode() *dtpb.CodeableConcept {
	r := b.row
	v := strings.TrimSpace(r.Role)
	if v == "" {
		for _, c := range r.Credentials {
			if code, ok := credentialRoles[strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(c), ".", ""))]; ok {
				return concept(systemProviderRole, code)
			}
		}
		return nil
	}
	if sys, code, ok := strings.Cut(v, "|"); ok {
		sys, code = strings.TrimSpace(sys), strings.TrimSpace(code)
		if (sys == systemProviderRole && providerRoleCodes[code]) || (sys == systemPractitionerRole && hl7RoleCodes[code]) {
			return concept(sys, code)
		}
	} else {
		lc := strings.ToLower(v)
		switch {
		case providerRoleCodes[lc]:
			return concept(systemProviderRole, lc)
		case hl7RoleCodes[lc]:
			return concept(systemPractitionerRole, lc)
		}
	}
	b.warn(r.columnName(func(c *ColumnMap) string { return c.Role }), "PractitionerRole.code", "role-code", "not a PractitionerRoleVS code (Plan-Net ProviderRoleCS or HL7 practitioner-role): dropped")
	return nil
}

// acceptingCode returns the AcceptingPatientsCS code of the row ("" when not
// given or not understood).
func (b *provRowBuild) acceptingCode() string {
	v := strings.ToLower(strings.TrimSpace(b.row.AcceptingNewPatients))
	switch v {
	case "":
		return ""
	case "newpt", "nopt", "existptonly", "existptfam":
		return v
	}
	if yes, ok := provParseYesNo(v); ok {
		if yes {
			return "newpt"
		}
		return "nopt"
	}
	b.warn(b.row.columnName(func(c *ColumnMap) string { return c.AcceptingNewPatients }), "PractitionerRole.extension", "accepting-patients-code", "not Y/N or an AcceptingPatientsCS code: dropped")
	return ""
}

// newPatientsExt returns the Plan-Net newpatients extension.
func newPatientsExt(code, networkID string) *dtpb.Extension {
	ext := &dtpb.Extension{Url: furi(string(PlanNetExtNewPatients)), Extension: []*dtpb.Extension{{
		Url:   furi("acceptingPatients"),
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_CodeableConcept{CodeableConcept: concept(systemAcceptingPatient, code)}},
	}}}
	if networkID != "" {
		ext.Extension = append(ext.Extension, &dtpb.Extension{
			Url:   furi("fromNetwork"),
			Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Reference{Reference: reference("Organization", networkID)}},
		})
	}
	return ext
}

// networkRefExt returns the Plan-Net network-reference extension.
func networkRefExt(networkID string) *dtpb.Extension {
	return &dtpb.Extension{
		Url:   furi(string(PlanNetExtNetworkReference)),
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Reference{Reference: reference("Organization", networkID)}},
	}
}

// period returns the participation period.
func (k *provRowKeys) period(start time.Time) *dtpb.Period {
	return datePeriod(start, k.endDate)
}

// roles adds one PractitionerRole per network (one without a network when the
// row has none).
func (b *provRowBuild) roles(k *provRowKeys) error {
	r := b.row
	code := b.roleCode()
	accepting := b.acceptingCode()
	telecom := k.telecom
	if len(telecom) == 0 {
		telecom = provContactPoints(r.Location.Phone, "", "")
	}
	nets := k.networks
	if len(nets) == 0 {
		nets = []provNetRef{{}}
	}
	for _, n := range nets {
		id, err := b.p.m.ids.PractitionerRole(PractitionerRoleKey{PractitionerID: k.providerID, OrganizationID: k.orgID, LocationID: k.locationID, NetworkID: n.id})
		if err != nil {
			return b.errorf(ErrMissing, nil, "PractitionerRole", "the role has no practitioner").withCause(err)
		}
		if b.roleIDs == nil {
			b.roleIDs = map[string]bool{}
		}
		b.roleIDs[id] = true
		if b.skip[id] {
			continue
		}
		role := &rolepb.PractitionerRole{
			Id:           &dtpb.Id{Value: id},
			Active:       fbool(!k.ended),
			Period:       k.period(r.EffectiveDate),
			Practitioner: reference("Practitioner", k.providerID),
			Organization: reference("Organization", k.orgID),
			Specialty:    k.specialties,
			Location:     provNonNilRefs(reference("Location", k.locationID)),
			Telecom:      telecom,
		}
		if code != nil {
			role.Code = []*dtpb.CodeableConcept{code}
		}
		if accepting != "" {
			role.Extension = append(role.Extension, newPatientsExt(accepting, n.id))
		}
		if n.id != "" {
			role.Extension = append(role.Extension, networkRefExt(n.id))
		}
		profile := PlanNetProfile(PlanNetPractitionerRole)
		switch {
		case len(telecom) == 0:
			b.unmet("PractitionerRole.telecom", "pd-1", PlanNetPractitionerRole, "no phone, fax or email: plannet-PractitionerRole not claimed")
			profile = ""
		case k.ended:
			b.unmet("PractitionerRole.active", "PractitionerRole.active.fixed", PlanNetPractitionerRole, "the role has ended: Plan-Net fixes active to true, US Core PractitionerRole claimed")
			profile = USCoreProfile(USCorePractitionerRole)
		case !k.pracClaims && !b.seen["Practitioner/"+k.providerID]:
			// The practitioner is not in this result (only roles are
			// ended): nothing to check it against.
		case !k.pracClaims:
			b.unmet("PractitionerRole.practitioner", "PractitionerRole.practitioner.targetProfile", PlanNetPractitionerRole, "the practitioner does not claim plannet-Practitioner: plannet-PractitionerRole not claimed")
			profile = USCoreProfile(USCorePractitionerRole)
		case k.locationID != "" && !k.locClaims:
			b.unmet("PractitionerRole.location", "PractitionerRole.location.targetProfile", PlanNetPractitionerRole, "the location does not claim plannet-Location: plannet-PractitionerRole not claimed")
			profile = USCoreProfile(USCorePractitionerRole)
		case n.id != "" && !n.claims:
			b.unmet("PractitionerRole.extension", "PractitionerRole.extension:network-reference.value[x].targetProfile", PlanNetPractitionerRole, "the network does not claim plannet-Network: plannet-PractitionerRole not claimed")
			profile = USCoreProfile(USCorePractitionerRole)
		}
		role.Meta = b.meta(profile)
		b.add("PractitionerRole/"+id, role)
	}
	return nil
}

// affiliations adds one plannet-OrganizationAffiliation per network of an
// organization row: the organization's participation in the payer's network.
func (b *provRowBuild) affiliations(k *provRowKeys) error {
	r := b.row
	if strings.TrimSpace(r.AcceptingNewPatients) != "" {
		b.warn(r.columnName(func(c *ColumnMap) string { return c.AcceptingNewPatients }), "OrganizationAffiliation", "newpatients-not-mapped", "Plan-Net has no newpatients extension on OrganizationAffiliation (it belongs on a HealthcareService): not mapped")
	}
	telecom := k.telecom
	if len(telecom) == 0 {
		telecom = provContactPoints(r.Location.Phone, "", "")
	}
	for _, n := range k.networks {
		id := b.p.m.ids.ID("OrganizationAffiliation", k.providerID, n.id, k.locationID)
		if b.roleIDs == nil {
			b.roleIDs = map[string]bool{}
		}
		b.roleIDs[id] = true
		if b.skip[id] {
			continue
		}
		oa := &oapb.OrganizationAffiliation{
			Id:                        &dtpb.Id{Value: id},
			Active:                    fbool(!k.ended),
			Period:                    k.period(r.EffectiveDate),
			Organization:              reference("Organization", k.payerID),
			ParticipatingOrganization: reference("Organization", k.providerID),
			Network:                   provNonNilRefs(reference("Organization", n.id)),
			Specialty:                 k.specialties,
			Location:                  provNonNilRefs(reference("Location", k.locationID)),
			Telecom:                   telecom,
		}
		profile := PlanNetProfile(PlanNetOrganizationAffiliation)
		switch {
		case k.ended:
			b.unmet("OrganizationAffiliation.active", "OrganizationAffiliation.active.fixed", PlanNetOrganizationAffiliation, "the affiliation has ended: Plan-Net fixes active to true")
			profile = ""
		case k.inactive:
			profile = ""
		case !k.orgClaims:
			b.unmet("OrganizationAffiliation.participatingOrganization", "OrganizationAffiliation.participatingOrganization.targetProfile", PlanNetOrganizationAffiliation, "the organization does not claim plannet-Organization: plannet-OrganizationAffiliation not claimed")
			profile = ""
		case !n.claims:
			b.unmet("OrganizationAffiliation.network", "OrganizationAffiliation.network.targetProfile", PlanNetOrganizationAffiliation, "the network does not claim plannet-Network: plannet-OrganizationAffiliation not claimed")
			profile = ""
		case k.locationID != "" && !k.locClaims:
			b.unmet("OrganizationAffiliation.location", "OrganizationAffiliation.location.targetProfile", PlanNetOrganizationAffiliation, "the location does not claim plannet-Location: plannet-OrganizationAffiliation not claimed")
			profile = ""
		}
		oa.Meta = b.meta(profile)
		b.add("OrganizationAffiliation/"+id, oa)
	}
	return nil
}

// provNonNilRefs returns the non-nil references.
func provNonNilRefs(rs ...*dtpb.Reference) []*dtpb.Reference {
	var out []*dtpb.Reference
	for _, r := range rs {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// provDayCodes maps day names to FHIR days-of-week.
var provDayCodes = map[string]cpb.DaysOfWeekCode_Value{
	"mon": cpb.DaysOfWeekCode_MON, "tue": cpb.DaysOfWeekCode_TUE, "wed": cpb.DaysOfWeekCode_WED, "thu": cpb.DaysOfWeekCode_THU,
	"fri": cpb.DaysOfWeekCode_FRI, "sat": cpb.DaysOfWeekCode_SAT, "sun": cpb.DaysOfWeekCode_SUN,
}

var provDayOrder = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// provParseHours reads opening hours such as "Mon-Fri 08:00-17:00; Sat
// 09:00-12:00; Sun closed; Mon,Wed 24h". It reports false for text it does
// not understand.
func provParseHours(s string) ([]*lpb.Location_HoursOfOperation, bool) {
	var out []*lpb.Location_HoursOfOperation
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		daySpec, timeSpec, ok := strings.Cut(part, " ")
		if !ok {
			return nil, false
		}
		days, ok := provParseDays(daySpec)
		if !ok {
			return nil, false
		}
		h := &lpb.Location_HoursOfOperation{}
		for _, d := range days {
			h.DaysOfWeek = append(h.DaysOfWeek, &lpb.Location_HoursOfOperation_DaysOfWeekCode{Value: d})
		}
		switch ts := strings.ToLower(strings.TrimSpace(timeSpec)); ts {
		case "closed":
			continue
		case "24h", "24 hours", "all day":
			h.AllDay = fbool(true)
		default:
			from, to, ok := strings.Cut(ts, "-")
			if !ok {
				return nil, false
			}
			open, ok1 := provClockTime(from)
			closing, ok2 := provClockTime(to)
			if !ok1 || !ok2 || closing.ValueUs <= open.ValueUs {
				return nil, false
			}
			h.OpeningTime, h.ClosingTime = open, closing
		}
		out = append(out, h)
	}
	return out, len(out) > 0
}

// provParseDays reads "Mon-Fri", "Mon,Wed,Fri" or "Sat".
func provParseDays(s string) ([]cpb.DaysOfWeekCode_Value, bool) {
	var out []cpb.DaysOfWeekCode_Value
	for _, item := range strings.Split(strings.ToLower(s), ",") {
		item = strings.TrimSpace(item)
		from, to, isRange := strings.Cut(item, "-")
		a, b := provDayIndex(from), provDayIndex(to)
		switch {
		case !isRange && a >= 0:
			out = append(out, provDayCodes[provDayOrder[a]])
		case isRange && a >= 0 && b >= a:
			for i := a; i <= b; i++ {
				out = append(out, provDayCodes[provDayOrder[i]])
			}
		default:
			return nil, false
		}
	}
	return out, len(out) > 0
}

func provDayIndex(s string) int {
	s = strings.TrimSpace(s)
	if len(s) < 3 {
		return -1
	}
	for i, d := range provDayOrder {
		if s[:3] == d {
			return i
		}
	}
	return -1
}

// provClockTime reads "HH:MM" (24-hour) as a FHIR time.
func provClockTime(s string) (*dtpb.Time, bool) {
	s = strings.TrimSpace(s)
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) == 0 || len(hh) > 2 || len(mm) != 2 {
		return nil, false
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return nil, false
	}
	return &dtpb.Time{ValueUs: int64(h*3600+m*60) * 1e6, Precision: dtpb.Time_SECOND}, true
}
