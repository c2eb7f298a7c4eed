package fhirmap

// Reading provider directory rows from a team's own table: a ColumnMap names
// the columns, ReadProviderCSV streams a CSV file, ProviderRowFromMap reads a
// map of column → value (a database row, a change event's before or after).

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"
)

// ColumnMap names the columns of a provider table, one field per
// [ProviderRow] field. An empty name means the table has no such column.
// Names are matched exactly, then case-insensitively with surrounding spaces
// trimmed. Column names appear in errors, so they must not hold PHI (they are
// a table's schema, not its data).
type ColumnMap struct {
	NPI, EntityType                                 string
	LastName, FirstName, MiddleName, Prefix, Suffix string
	Credentials, Gender, Languages                  string
	OrgName, OrgType, TIN                           string
	Taxonomy, OtherTaxonomies, Role                 string
	Phone, Fax, Email                               string

	MailingLine1, MailingLine2, MailingCity, MailingState, MailingPostalCode, MailingCountry       string
	LocationName                                                                                   string
	LocationLine1, LocationLine2, LocationCity, LocationState, LocationPostalCode, LocationCountry string
	LocationPhone, Latitude, Longitude, Hours                                                      string
	AcceptingNewPatients, NetworkIDs, NetworkNames, PlanIDs                                        string
	AffiliationNPI, AffiliationTIN, AffiliationName                                                string
	EffectiveDate, EndDate, Active                                                                 string

	// ListSeparator separates the values of a list cell (credentials,
	// languages, other taxonomies, network ids and names, plan ids). Empty
	// means "|". Network ids and names pair up by position. A list value
	// in a map ([]any, []string) needs no separator.
	ListSeparator string
	// DateLayouts are the time layouts of date cells, tried in order. Nil
	// means "2006-01-02", "20060102", "01/02/2006", then RFC 3339. In a map,
	// a time.Time gives its UTC date, and an integer is read as Debezium
	// sends dates and timestamps: days since 1970-01-01
	// (io.debezium.time.Date) up to the year 9999 in days, else
	// milliseconds (Timestamp), else microseconds (MicroTimestamp).
	DateLayouts []string
}

// DefaultColumnMap returns the column names of fhirsync's own provider table
// layout: snake_case field names ("npi", "last_name", "location_line1",
// "network_ids"...).
func DefaultColumnMap() ColumnMap {
	return ColumnMap{
		NPI: "npi", EntityType: "entity_type",
		LastName: "last_name", FirstName: "first_name", MiddleName: "middle_name", Prefix: "prefix", Suffix: "suffix",
		Credentials: "credentials", Gender: "gender", Languages: "languages",
		OrgName: "org_name", OrgType: "org_type", TIN: "tin",
		Taxonomy: "taxonomy", OtherTaxonomies: "other_taxonomies", Role: "role",
		Phone: "phone", Fax: "fax", Email: "email",
		MailingLine1: "mailing_line1", MailingLine2: "mailing_line2", MailingCity: "mailing_city",
		MailingState: "mailing_state", MailingPostalCode: "mailing_postal_code", MailingCountry: "mailing_country",
		LocationName:  "location_name",
		LocationLine1: "location_line1", LocationLine2: "location_line2", LocationCity: "location_city",
		LocationState: "location_state", LocationPostalCode: "location_postal_code", LocationCountry: "location_country",
		LocationPhone: "location_phone", Latitude: "latitude", Longitude: "longitude", Hours: "hours",
		AcceptingNewPatients: "accepting_new_patients", NetworkIDs: "network_ids", NetworkNames: "network_names", PlanIDs: "plan_ids",
		AffiliationNPI: "affiliation_npi", AffiliationTIN: "affiliation_tin", AffiliationName: "affiliation_name",
		EffectiveDate: "effective_date", EndDate: "end_date", Active: "active",
	}
}

// provColField is one ProviderRow field: its column name in a ColumnMap and how
// a cell (or a list) sets it.
type provColField struct {
	name func(c *ColumnMap) string
	path string // FHIR element it feeds, for errors
	set  func(r *ProviderRow, c *ColumnMap, v string) error
	list func(r *ProviderRow, vs []string) // list fields: set from a list
}

func provTextField(name func(c *ColumnMap) string, path string, dst func(r *ProviderRow) *string) provColField {
	return provColField{name: name, path: path, set: func(r *ProviderRow, _ *ColumnMap, v string) error {
		*dst(r) = v
		return nil
	}}
}

func provListField(name func(c *ColumnMap) string, path string, dst func(r *ProviderRow) *[]string) provColField {
	return provColField{name: name, path: path,
		set: func(r *ProviderRow, c *ColumnMap, v string) error {
			*dst(r) = provSplitList(v, c.sep())
			return nil
		},
		list: func(r *ProviderRow, vs []string) { *dst(r) = provCleanList(vs) },
	}
}

func provDateField(name func(c *ColumnMap) string, path string, dst func(r *ProviderRow) *time.Time) provColField {
	return provColField{name: name, path: path, set: func(r *ProviderRow, c *ColumnMap, v string) error {
		t, ok := c.parseDate(v)
		if !ok {
			return provErrBadCell
		}
		*dst(r) = t
		return nil
	}}
}

// provErrBadCell is returned by setters; the caller turns it into a positioned
// ProviderError.
var provErrBadCell = errors.New("bad cell")

// providerFields lists every column a ColumnMap can name.
var providerFields = []provColField{
	provTextField(func(c *ColumnMap) string { return c.NPI }, "identifier", func(r *ProviderRow) *string { return &r.NPI }),
	{name: func(c *ColumnMap) string { return c.EntityType }, path: "", set: func(r *ProviderRow, _ *ColumnMap, v string) error {
		e, ok := provParseEntity(v)
		if !ok {
			return provErrBadCell
		}
		r.Entity = e
		return nil
	}},
	provTextField(func(c *ColumnMap) string { return c.LastName }, "Practitioner.name.family", func(r *ProviderRow) *string { return &r.LastName }),
	provTextField(func(c *ColumnMap) string { return c.FirstName }, "Practitioner.name.given", func(r *ProviderRow) *string { return &r.FirstName }),
	provTextField(func(c *ColumnMap) string { return c.MiddleName }, "Practitioner.name.given", func(r *ProviderRow) *string { return &r.MiddleName }),
	provTextField(func(c *ColumnMap) string { return c.Prefix }, "Practitioner.name.prefix", func(r *ProviderRow) *string { return &r.Prefix }),
	provTextField(func(c *ColumnMap) string { return c.Suffix }, "Practitioner.name.suffix", func(r *ProviderRow) *string { return &r.Suffix }),
	provListField(func(c *ColumnMap) string { return c.Credentials }, "Practitioner.qualification", func(r *ProviderRow) *[]string { return &r.Credentials }),
	provTextField(func(c *ColumnMap) string { return c.Gender }, "Practitioner.gender", func(r *ProviderRow) *string { return &r.Gender }),
	provListField(func(c *ColumnMap) string { return c.Languages }, "Practitioner.communication", func(r *ProviderRow) *[]string { return &r.Languages }),
	provTextField(func(c *ColumnMap) string { return c.OrgName }, "Organization.name", func(r *ProviderRow) *string { return &r.OrgName }),
	provTextField(func(c *ColumnMap) string { return c.OrgType }, "Organization.type", func(r *ProviderRow) *string { return &r.OrgType }),
	provTextField(func(c *ColumnMap) string { return c.TIN }, "Organization.identifier", func(r *ProviderRow) *string { return &r.TIN }),
	provTextField(func(c *ColumnMap) string { return c.Taxonomy }, "PractitionerRole.specialty", func(r *ProviderRow) *string { return &r.Taxonomy }),
	provListField(func(c *ColumnMap) string { return c.OtherTaxonomies }, "PractitionerRole.specialty", func(r *ProviderRow) *[]string { return &r.OtherTaxonomies }),
	provTextField(func(c *ColumnMap) string { return c.Role }, "PractitionerRole.code", func(r *ProviderRow) *string { return &r.Role }),
	provTextField(func(c *ColumnMap) string { return c.Phone }, "PractitionerRole.telecom", func(r *ProviderRow) *string { return &r.Phone }),
	provTextField(func(c *ColumnMap) string { return c.Fax }, "PractitionerRole.telecom", func(r *ProviderRow) *string { return &r.Fax }),
	provTextField(func(c *ColumnMap) string { return c.Email }, "PractitionerRole.telecom", func(r *ProviderRow) *string { return &r.Email }),
	provTextField(func(c *ColumnMap) string { return c.MailingLine1 }, "Organization.address", func(r *ProviderRow) *string { return &r.MailingAddress.Line1 }),
	provTextField(func(c *ColumnMap) string { return c.MailingLine2 }, "Organization.address", func(r *ProviderRow) *string { return &r.MailingAddress.Line2 }),
	provTextField(func(c *ColumnMap) string { return c.MailingCity }, "Organization.address", func(r *ProviderRow) *string { return &r.MailingAddress.City }),
	provTextField(func(c *ColumnMap) string { return c.MailingState }, "Organization.address", func(r *ProviderRow) *string { return &r.MailingAddress.State }),
	provTextField(func(c *ColumnMap) string { return c.MailingPostalCode }, "Organization.address", func(r *ProviderRow) *string { return &r.MailingAddress.PostalCode }),
	provTextField(func(c *ColumnMap) string { return c.MailingCountry }, "Organization.address", func(r *ProviderRow) *string { return &r.MailingAddress.Country }),
	provTextField(func(c *ColumnMap) string { return c.LocationName }, "Location.name", func(r *ProviderRow) *string { return &r.Location.Name }),
	provTextField(func(c *ColumnMap) string { return c.LocationLine1 }, "Location.address", func(r *ProviderRow) *string { return &r.Location.Address.Line1 }),
	provTextField(func(c *ColumnMap) string { return c.LocationLine2 }, "Location.address", func(r *ProviderRow) *string { return &r.Location.Address.Line2 }),
	provTextField(func(c *ColumnMap) string { return c.LocationCity }, "Location.address", func(r *ProviderRow) *string { return &r.Location.Address.City }),
	provTextField(func(c *ColumnMap) string { return c.LocationState }, "Location.address", func(r *ProviderRow) *string { return &r.Location.Address.State }),
	provTextField(func(c *ColumnMap) string { return c.LocationPostalCode }, "Location.address", func(r *ProviderRow) *string { return &r.Location.Address.PostalCode }),
	provTextField(func(c *ColumnMap) string { return c.LocationCountry }, "Location.address", func(r *ProviderRow) *string { return &r.Location.Address.Country }),
	provTextField(func(c *ColumnMap) string { return c.LocationPhone }, "Location.telecom", func(r *ProviderRow) *string { return &r.Location.Phone }),
	provTextField(func(c *ColumnMap) string { return c.Latitude }, "Location.position", func(r *ProviderRow) *string { return &r.Location.Latitude }),
	provTextField(func(c *ColumnMap) string { return c.Longitude }, "Location.position", func(r *ProviderRow) *string { return &r.Location.Longitude }),
	provTextField(func(c *ColumnMap) string { return c.Hours }, "Location.hoursOfOperation", func(r *ProviderRow) *string { return &r.Location.Hours }),
	provTextField(func(c *ColumnMap) string { return c.AcceptingNewPatients }, "PractitionerRole.extension:newpatients", func(r *ProviderRow) *string { return &r.AcceptingNewPatients }),
	{name: func(c *ColumnMap) string { return c.NetworkIDs }, path: "Organization.identifier",
		set: func(r *ProviderRow, c *ColumnMap, v string) error {
			setNetworkIDs(r, provSplitList(v, c.sep()))
			return nil
		},
		list: setNetworkIDs},
	{name: func(c *ColumnMap) string { return c.NetworkNames }, path: "Organization.name",
		set: func(r *ProviderRow, c *ColumnMap, v string) error {
			setNetworkNames(r, provSplitList(v, c.sep()))
			return nil
		},
		list: setNetworkNames},
	provListField(func(c *ColumnMap) string { return c.PlanIDs }, "InsurancePlan.identifier", func(r *ProviderRow) *[]string { return &r.PlanIDs }),
	provTextField(func(c *ColumnMap) string { return c.AffiliationNPI }, "PractitionerRole.organization", func(r *ProviderRow) *string { return &r.Affiliation.NPI }),
	provTextField(func(c *ColumnMap) string { return c.AffiliationTIN }, "PractitionerRole.organization", func(r *ProviderRow) *string { return &r.Affiliation.TIN }),
	provTextField(func(c *ColumnMap) string { return c.AffiliationName }, "Organization.name", func(r *ProviderRow) *string { return &r.Affiliation.Name }),
	provDateField(func(c *ColumnMap) string { return c.EffectiveDate }, "PractitionerRole.period.start", func(r *ProviderRow) *time.Time { return &r.EffectiveDate }),
	provDateField(func(c *ColumnMap) string { return c.EndDate }, "PractitionerRole.period.end", func(r *ProviderRow) *time.Time { return &r.EndDate }),
	{name: func(c *ColumnMap) string { return c.Active }, path: "Practitioner.active", set: func(r *ProviderRow, _ *ColumnMap, v string) error {
		b, ok := provParseYesNo(v)
		if !ok {
			return provErrBadCell
		}
		r.Active = &b
		return nil
	}},
}

// setNetworkIDs sets the ids of the row's networks, keeping names already
// set by position.
func setNetworkIDs(r *ProviderRow, ids []string) {
	ids = provCleanList(ids)
	for len(r.Networks) < len(ids) {
		r.Networks = append(r.Networks, ProviderNetwork{})
	}
	for i := range r.Networks {
		if i < len(ids) {
			r.Networks[i].ID = ids[i]
		}
	}
}

// setNetworkNames sets the names of the row's networks by position.
func setNetworkNames(r *ProviderRow, names []string) {
	for len(r.Networks) < len(names) {
		r.Networks = append(r.Networks, ProviderNetwork{})
	}
	for i, n := range names {
		r.Networks[i].Name = strings.TrimSpace(n)
	}
}

func (c *ColumnMap) sep() string {
	if c.ListSeparator == "" {
		return "|"
	}
	return c.ListSeparator
}

// provSplitList splits a list cell, dropping empty values.
func provSplitList(v, sep string) []string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	return provCleanList(strings.Split(v, sep))
}

// provCleanList trims values and drops empty ones.
func provCleanList(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

var provDefaultDateLayouts = []string{"2006-01-02", "20060102", "01/02/2006", time.RFC3339}

// parseDate reads a date cell with the map's layouts; it keeps the calendar
// date only.
func (c *ColumnMap) parseDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	layouts := c.DateLayouts
	if layouts == nil {
		layouts = provDefaultDateLayouts
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, v); err == nil {
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), true
		}
	}
	return time.Time{}, false
}

// provParseEntity reads an entity type: NPPES codes 1 and 2, I/O, P/O, or the
// words individual, person, practitioner, organization, org, group.
func provParseEntity(v string) (ProviderEntity, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return EntityUnknown, true
	case "1", "i", "p", "individual", "person", "practitioner", "type 1":
		return EntityIndividual, true
	case "2", "o", "g", "organization", "organisation", "org", "group", "facility", "type 2":
		return EntityOrganization, true
	}
	return EntityUnknown, false
}

// provParseYesNo reads a boolean cell: Y/N, yes/no, true/false, t/f, 1/0,
// active/inactive.
func provParseYesNo(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "y", "yes", "true", "t", "1", "active", "a":
		return true, true
	case "n", "no", "false", "f", "0", "inactive", "i":
		return false, true
	}
	return false, false
}

// provCellError turns a setter failure into a positioned error.
func provCellError(r *ProviderRow, f *provColField, name string, v string) *ProviderError {
	return newProviderError(ErrInvalidValue, r, name, f.path, "cell is not a valid value for its column").withValue(v)
}

// ProviderRowFromMap reads a provider row from a map of column name → value:
// a database row, or the before or after image of a change event
// ([ProviderChange]). Values may be strings, booleans, numbers (float64,
// int, int64, json.Number), time.Time, lists ([]any, []string) for list
// columns, or nil for NULL. cols nil means [DefaultColumnMap]; columns
// absent from the map are empty. A value that does not fit its column is a
// [*ProviderError] naming the column.
func ProviderRowFromMap(m map[string]any, cols *ColumnMap) (*ProviderRow, error) {
	if cols == nil {
		d := DefaultColumnMap()
		cols = &d
	}
	r := &ProviderRow{cols: cols}
	for i := range providerFields {
		f := &providerFields[i]
		name := f.name(cols)
		if name == "" {
			continue
		}
		v, ok := provLookupColumn(m, name)
		if !ok || v == nil {
			continue
		}
		if err := setFromAny(r, cols, f, name, v); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// ProviderRowFromStrings is [ProviderRowFromMap] for a map of strings.
func ProviderRowFromStrings(m map[string]string, cols *ColumnMap) (*ProviderRow, error) {
	am := make(map[string]any, len(m))
	for k, v := range m {
		am[k] = v
	}
	return ProviderRowFromMap(am, cols)
}

// provLookupColumn finds a column exactly, then case-insensitively.
func provLookupColumn(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return v, true
		}
	}
	return nil, false
}

// setFromAny sets one field from a map value.
func setFromAny(r *ProviderRow, cols *ColumnMap, f *provColField, name string, v any) error {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case bool:
		if x {
			s = "true"
		} else {
			s = "false"
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return provCellError(r, f, name, strconv.FormatFloat(x, 'g', -1, 64))
		}
		if provIsDateField(cols, name) && x == math.Trunc(x) && math.Abs(x) < 1e18 {
			return provSetDays(r, f, name, int64(x))
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return setFromAny(r, cols, f, name, float64(x))
	case int:
		return setFromAny(r, cols, f, name, int64(x))
	case int32:
		return setFromAny(r, cols, f, name, int64(x))
	case int64:
		if provIsDateField(cols, name) {
			return provSetDays(r, f, name, x)
		}
		s = strconv.FormatInt(x, 10)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return setFromAny(r, cols, f, name, i)
		}
		s = x.String()
	case time.Time:
		if !provIsDateField(cols, name) {
			return provCellError(r, f, name, "")
		}
		s = x.UTC().Format("2006-01-02")
	case []string:
		if f.list == nil {
			return provCellError(r, f, name, strings.Join(x, ","))
		}
		f.list(r, x)
		return nil
	case []any:
		if f.list == nil {
			return provCellError(r, f, name, "")
		}
		vs := make([]string, 0, len(x))
		for _, e := range x {
			switch ev := e.(type) {
			case string:
				vs = append(vs, ev)
			case json.Number:
				vs = append(vs, ev.String())
			case float64:
				if ev != math.Trunc(ev) || math.Abs(ev) >= 1e15 {
					return provCellError(r, f, name, "")
				}
				vs = append(vs, strconv.FormatInt(int64(ev), 10))
			case int64:
				vs = append(vs, strconv.FormatInt(ev, 10))
			case int:
				vs = append(vs, strconv.Itoa(ev))
			case nil:
			default:
				return provCellError(r, f, name, "")
			}
		}
		f.list(r, vs)
		return nil
	default:
		return provCellError(r, f, name, "")
	}
	if strings.TrimSpace(s) == "" {
		return nil
	}
	if err := f.set(r, cols, s); err != nil {
		return provCellError(r, f, name, s)
	}
	return nil
}

func provIsDateField(c *ColumnMap, name string) bool {
	return name != "" && (name == c.EffectiveDate || name == c.EndDate)
}

// provSetDays sets a date field from a number of days since 1970-01-01.
func provSetDays(r *ProviderRow, f *provColField, name string, n int64) error {
	// Debezium's temporal types: io.debezium.time.Date (days), Timestamp
	// (milliseconds), MicroTimestamp (microseconds), told apart by size up
	// to the year 9999.
	const maxDays, maxMillis, maxMicros = 2932896, 253402300799999, 253402300799999999
	a := n
	if a < 0 {
		a = -a
	}
	var t time.Time
	switch {
	case a < 0: // math.MinInt64
		return provCellError(r, f, name, strconv.FormatInt(n, 10))
	case a <= maxDays:
		t = time.Unix(n*86400, 0).UTC()
	case a <= maxMillis:
		t = time.UnixMilli(n).UTC()
	case a <= maxMicros:
		t = time.UnixMicro(n).UTC()
	default:
		return provCellError(r, f, name, strconv.FormatInt(n, 10))
	}
	if err := f.set(r, &ColumnMap{DateLayouts: []string{"2006-01-02"}}, t.Format("2006-01-02")); err != nil {
		return provCellError(r, f, name, strconv.FormatInt(n, 10))
	}
	return nil
}

// ProviderCSVOptions configures [ReadProviderCSV]. A nil *ProviderCSVOptions
// means defaults: [DefaultColumnMap], comma-separated, every mapped column
// required in the header.
type ProviderCSVOptions struct {
	// Columns names the table's columns. Nil means DefaultColumnMap().
	Columns *ColumnMap
	// Comma is the field delimiter. Zero means ','.
	Comma rune
	// Comment, if not zero, starts comment lines.
	Comment rune
	// AllowMissingColumns lets the header lack columns the ColumnMap names
	// (they read as empty). By default a missing column is an
	// [ErrProviderHeader] error, which catches a misspelt name.
	AllowMissingColumns bool
}

// ReadProviderCSV reads provider rows from a CSV file with a header row,
// one row at a time in bounded memory. Each step yields a row, or a
// [*ProviderError] for a row that cannot be read (a malformed CSV record, a
// date or boolean that does not parse), after which reading goes on with the
// next row. A bad header (ErrProviderHeader) or a read error ends the
// sequence after its error.
//
// Columns the ColumnMap does not name are ignored; a column named twice in
// the header is an error. Errors carry the row number, line and column name,
// never a cell's content.
func ReadProviderCSV(r io.Reader, opts *ProviderCSVOptions) iter.Seq2[*ProviderRow, error] {
	var o ProviderCSVOptions
	if opts != nil {
		o = *opts
	}
	cols := o.Columns
	if cols == nil {
		d := DefaultColumnMap()
		cols = &d
	}
	return func(yield func(*ProviderRow, error) bool) {
		cr := csv.NewReader(r)
		if o.Comma != 0 {
			cr.Comma = o.Comma
		}
		cr.Comment = o.Comment
		cr.FieldsPerRecord = -1
		cr.ReuseRecord = true
		header, err := cr.Read()
		if err != nil {
			if err == io.EOF {
				yield(nil, newProviderError(ErrProviderHeader, nil, "", "", "the file has no header row"))
				return
			}
			yield(nil, provCsvReadError(err, 0))
			return
		}
		index, herr := provHeaderIndex(header, cols, o.AllowMissingColumns)
		if herr != nil {
			yield(nil, herr)
			return
		}
		record := 0
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				return
			}
			record++
			if err != nil {
				var pe *csv.ParseError
				if errors.As(err, &pe) {
					if !yield(nil, provCsvReadError(err, record)) {
						return
					}
					continue
				}
				yield(nil, provCsvReadError(err, record))
				return
			}
			line, _ := cr.FieldPos(0)
			row, rerr := provRowFromRecord(rec, index, cols, record, line, cr)
			if !yield(row, rerr) {
				return
			}
		}
	}
}

// provCsvReadError wraps a reader error.
func provCsvReadError(err error, record int) *ProviderError {
	e := &ProviderError{Err: err, Record: record, detail: "the CSV record cannot be read"}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		e.Line = pe.Line
	}
	return e
}

// provHeaderIndex maps each field of providerFields to its column index (-1 when
// absent).
func provHeaderIndex(header []string, cols *ColumnMap, allowMissing bool) ([]int, error) {
	pos := make(map[string]int, len(header))
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		k := strings.ToLower(strings.TrimSpace(h))
		if k == "" {
			continue
		}
		if _, dup := pos[k]; dup {
			// Report the mapped name when the duplicate is a mapped column;
			// otherwise only the position (header cells are not trusted).
			col := ""
			for j := range providerFields {
				if n := providerFields[j].name(cols); n != "" && strings.EqualFold(n, strings.TrimSpace(h)) {
					col = n
				}
			}
			e := newProviderError(ErrProviderHeader, nil, col, "", "a column appears twice in the header")
			e.Line = 1
			return nil, e
		}
		pos[k] = i
	}
	index := make([]int, len(providerFields))
	for i := range providerFields {
		index[i] = -1
		name := providerFields[i].name(cols)
		if name == "" {
			continue
		}
		if p, ok := pos[strings.ToLower(strings.TrimSpace(name))]; ok {
			index[i] = p
			continue
		}
		if !allowMissing {
			e := newProviderError(ErrProviderHeader, nil, name, "", "the header lacks a column the ColumnMap names")
			e.Line = 1
			return nil, e
		}
	}
	return index, nil
}

// provRowFromRecord sets a row from one CSV record.
func provRowFromRecord(rec []string, index []int, cols *ColumnMap, record, line int, cr *csv.Reader) (*ProviderRow, error) {
	r := &ProviderRow{Record: record, Line: line, cols: cols}
	for i, p := range index {
		if p < 0 || p >= len(rec) {
			continue
		}
		v := rec[p]
		if strings.TrimSpace(v) == "" {
			continue
		}
		f := &providerFields[i]
		if err := f.set(r, cols, v); err != nil {
			e := provCellError(r, f, f.name(cols), v)
			if l, _ := cr.FieldPos(p); l > 0 {
				e.Line = l
			}
			return nil, e
		}
	}
	return r, nil
}

// columnName returns the column name of a field in the row's ColumnMap (the
// default name when the row was built in Go).
func (r *ProviderRow) columnName(get func(c *ColumnMap) string) string {
	if r.cols != nil {
		if n := get(r.cols); n != "" {
			return n
		}
	}
	d := provDefaultCols
	return get(&d)
}

var provDefaultCols = DefaultColumnMap()
