package fhirmap

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	opb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	rolepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
)

func TestProviderRowFromMap(t *testing.T) {
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		in     map[string]any
		check  func(t *testing.T, r *ProviderRow)
		errCol string // non-empty: want a *ProviderError naming this column
	}{
		{name: "strings", in: map[string]any{"npi": "1234567893", "last_name": "Doe", "network_ids": "N1|N2", "network_names": "One|Two"},
			check: func(t *testing.T, r *ProviderRow) {
				if r.NPI != "1234567893" || r.LastName != "Doe" || len(r.Networks) != 2 || r.Networks[1] != (ProviderNetwork{ID: "N2", Name: "Two"}) {
					t.Errorf("got %+v", r)
				}
			}},
		{name: "number npi and bool active", in: map[string]any{"npi": float64(1234567893), "active": false},
			check: func(t *testing.T, r *ProviderRow) {
				if r.NPI != "1234567893" || r.Active == nil || *r.Active {
					t.Errorf("npi %q active %v", r.NPI, r.Active)
				}
			}},
		{name: "json.Number and days since epoch", in: map[string]any{"npi": json.Number("1234567893"), "effective_date": json.Number("19723"), "end_date": int64(19724)},
			check: func(t *testing.T, r *ProviderRow) {
				if r.NPI != "1234567893" || !r.EffectiveDate.Equal(day) || !r.EndDate.Equal(day.AddDate(0, 0, 1)) {
					t.Errorf("npi %q dates %v %v", r.NPI, r.EffectiveDate, r.EndDate)
				}
			}},
		{name: "time.Time and text dates", in: map[string]any{"effective_date": day.Add(13 * time.Hour), "end_date": "20241231"},
			check: func(t *testing.T, r *ProviderRow) {
				if !r.EffectiveDate.Equal(day) || r.EndDate.Format("2006-01-02") != "2024-12-31" {
					t.Errorf("dates %v %v", r.EffectiveDate, r.EndDate)
				}
			}},
		{name: "lists", in: map[string]any{"credentials": []any{"MD", " "}, "languages": []string{"en", "es"}, "network_ids": []any{"A"}, "entity_type": "organization"},
			check: func(t *testing.T, r *ProviderRow) {
				if len(r.Credentials) != 1 || len(r.Languages) != 2 || len(r.Networks) != 1 || r.Entity != EntityOrganization {
					t.Errorf("got %+v", r)
				}
			}},
		{name: "NULL and case-insensitive names", in: map[string]any{"NPI": "1234567893", "last_name": nil, " Gender ": "F"},
			check: func(t *testing.T, r *ProviderRow) {
				if r.NPI != "1234567893" || r.LastName != "" || r.Gender != "F" {
					t.Errorf("got %+v", r)
				}
			}},
		{name: "Debezium timestamps and number lists", in: map[string]any{"effective_date": int64(1704067200000), "end_date": float64(1704153600000000), "plan_ids": []any{float64(7), json.Number("8"), nil}},
			check: func(t *testing.T, r *ProviderRow) {
				if !r.EffectiveDate.Equal(day) || !r.EndDate.Equal(day.AddDate(0, 0, 1)) || strings.Join(r.PlanIDs, ",") != "7,8" {
					t.Errorf("dates %v %v plans %v", r.EffectiveDate, r.EndDate, r.PlanIDs)
				}
			}},
		{name: "date out of range", in: map[string]any{"end_date": int64(math.MaxInt64)}, errCol: "end_date"},
		{name: "fractional number in a list", in: map[string]any{"plan_ids": []any{1.5}}, errCol: "plan_ids"},
		{name: "bad boolean", in: map[string]any{"active": "maybe"}, errCol: "active"},
		{name: "bad date", in: map[string]any{"end_date": "31/12/2024"}, errCol: "end_date"},
		{name: "bad entity", in: map[string]any{"entity_type": "3"}, errCol: "entity_type"},
		{name: "list in a text column", in: map[string]any{"last_name": []any{"a"}}, errCol: "last_name"},
		{name: "non-string list item", in: map[string]any{"credentials": []any{true}}, errCol: "credentials"},
		{name: "most negative integer date", in: map[string]any{"end_date": int64(math.MinInt64)}, errCol: "end_date"},
		{name: "negative days before year 1", in: map[string]any{"end_date": int64(-2932896)}, errCol: "end_date"},
		{name: "NaN", in: map[string]any{"npi": math.NaN()}, errCol: "npi"},
		{name: "nested object", in: map[string]any{"npi": map[string]any{}}, errCol: "npi"},
		{name: "time in a text column", in: map[string]any{"npi": day}, errCol: "npi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ProviderRowFromMap(tc.in, nil)
			if tc.errCol != "" {
				var pe *ProviderError
				if !errors.As(err, &pe) || pe.Column != tc.errCol || !errors.Is(err, ErrInvalidValue) {
					t.Fatalf("err = %v, want a ProviderError on column %s", err, tc.errCol)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
	r, err := ProviderRowFromStrings(map[string]string{"npi": "1234567893", "last_name": "Doe"}, nil)
	if err != nil || r.NPI != "1234567893" || r.LastName != "Doe" {
		t.Errorf("ProviderRowFromStrings = %+v, %v", r, err)
	}
}

func TestReadProviderCSV(t *testing.T) {
	cols := ColumnMap{NPI: "NPI", LastName: "Last", OrgName: "Org", Active: "Active", EndDate: "End"}
	type want struct {
		rows   int
		errs   []string // "sentinel|column|line" per error, in order
		prefix string
	}
	tests := []struct {
		name string
		in   string
		opts ProviderCSVOptions
		want want
	}{
		{name: "ok with BOM and extra column", in: "\ufeffNPI,Last,Org,Active,End,Other\n1234567893,Doe,,Y,,x\n1234567893,Roe,,N,2024-01-01,y\n", want: want{rows: 2}},
		{name: "semicolon", in: "NPI;Last;Org;Active;End\n1234567893;Doe;;;\n", opts: ProviderCSVOptions{Comma: ';'}, want: want{rows: 1}},
		{name: "missing column", in: "NPI,Last,Org,Active\n1,2,3,4\n", want: want{errs: []string{"header|End|1"}}},
		{name: "missing column allowed", in: "NPI,Last\n1234567893,Doe\n", opts: ProviderCSVOptions{AllowMissingColumns: true}, want: want{rows: 1}},
		{name: "duplicate column", in: "NPI,Last,Org,Active,End,last\n", want: want{errs: []string{"header|Last|1"}}},
		{name: "empty file", in: "", want: want{errs: []string{"header||0"}}},
		{name: "bad cells go on", in: "NPI,Last,Org,Active,End\n1234567893,Doe,,perhaps,\n1234567893,Roe,,,2024-13-01\n1234567893,Poe,,,\n",
			want: want{rows: 1, errs: []string{"value|Active|2", "value|End|3"}}},
		{name: "quote error goes on", in: "NPI,Last,Org,Active,End\n1234567893,\"Doe,,,\n", want: want{errs: []string{"csv||2"}}},
		{name: "short rows read as empty", in: "NPI,Last,Org,Active,End\n1234567893,Doe\n", want: want{rows: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Columns = &cols
			var rows int
			var errs []string
			for r, err := range ReadProviderCSV(strings.NewReader(tc.in), &o) {
				if err != nil {
					var pe *ProviderError
					if !errors.As(err, &pe) {
						t.Fatalf("error %T is not a *ProviderError", err)
					}
					kind := "?"
					var cpe *csv.ParseError
					switch {
					case errors.Is(err, ErrProviderHeader):
						kind = "header"
					case errors.Is(err, ErrInvalidValue):
						kind = "value"
					case errors.As(err, &cpe):
						kind = "csv"
					}
					errs = append(errs, fmt.Sprintf("%s|%s|%d", kind, pe.Column, pe.Line))
					continue
				}
				if r.Record == 0 || r.Line == 0 {
					t.Errorf("row without position: %d, %d", r.Record, r.Line)
				}
				rows++
			}
			if rows != tc.want.rows || strings.Join(errs, " ") != strings.Join(tc.want.errs, " ") {
				t.Errorf("rows %d errs %v, want %d %v", rows, errs, tc.want.rows, tc.want.errs)
			}
		})
	}
	// Stopping early stops reading.
	n := 0
	for range ReadProviderCSV(strings.NewReader("NPI,Last,Org,Active,End\n1,a,,,\n2,b,,,\n"), &ProviderCSVOptions{Columns: &cols}) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("iterations after break: %d", n)
	}
}

// providerTestRow is a valid individual row for the mapping table tests.
func providerTestRow() *ProviderRow {
	return &ProviderRow{
		Record: 1, NPI: "1234567893", LastName: "Doe", FirstName: "Jane", Credentials: []string{"MD"}, Gender: "F",
		Taxonomy: "207Q00000X", Phone: "217-555-0100",
		Location:    ProviderLocation{Name: "Main Clinic", Address: ProviderAddress{Line1: "1 Main St", City: "Springfield", State: "IL", PostalCode: "62701"}},
		Networks:    []ProviderNetwork{{ID: "NET-GOLD", Name: "Gold"}},
		Affiliation: ProviderAffiliation{NPI: "1555000011", Name: "Group"},
	}
}

// roleOf returns the first PractitionerRole of a result.
func roleOf(rs []proto.Message) *rolepb.PractitionerRole {
	for _, m := range rs {
		if r, ok := m.(*rolepb.PractitionerRole); ok {
			return r
		}
	}
	return nil
}

func hasRule(is []Issue, rule string) bool {
	for _, i := range is {
		if i.Rule == rule {
			return true
		}
	}
	return false
}

func TestProviderMapRow(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		edit    func(r *ProviderRow)
		opts    *ProviderOptions // nil: the test payer
		noCheck bool
		err     error  // wanted sentinel
		errCol  string // wanted column of the error
		check   func(t *testing.T, res *ProviderResult)
	}{
		{name: "valid", check: func(t *testing.T, res *ProviderResult) {
			if len(res.Unmet)+len(res.Warnings) != 0 {
				t.Errorf("issues %v %v", res.Unmet, res.Warnings)
			}
			role := roleOf(res.Resources)
			if !role.GetActive().GetValue() || role.GetCode()[0].GetCoding()[0].GetCode().GetValue() != "ph" {
				t.Errorf("role %v", role)
			}
		}},
		{name: "bad NPI", edit: func(r *ProviderRow) { r.NPI = "1234567890" }, err: ErrInvalidValue, errCol: "npi"},
		{name: "bad NPI not checked", edit: func(r *ProviderRow) { r.NPI = "1234567890" }, noCheck: true, check: func(t *testing.T, res *ProviderResult) {
			if roleOf(res.Resources) == nil {
				t.Error("no role")
			}
		}},
		{name: "bad affiliation NPI", edit: func(r *ProviderRow) { r.Affiliation.NPI = "12345" }, err: ErrInvalidValue, errCol: "affiliation_npi"},
		{name: "end before start", edit: func(r *ProviderRow) {
			r.EffectiveDate, r.EndDate = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		}, err: ErrInconsistent, errCol: "end_date"},
		{name: "no name", edit: func(r *ProviderRow) { r.LastName = "" }, err: ErrMissing, errCol: "last_name"},
		{name: "no key", edit: func(r *ProviderRow) { r.NPI = "" }, err: ErrMissing, errCol: "npi"},
		{name: "organization without NPI or TIN", edit: func(r *ProviderRow) { *r = ProviderRow{OrgName: "Org"} }, err: ErrMissing, errCol: "npi"},
		{name: "network without id", edit: func(r *ProviderRow) { r.Networks = []ProviderNetwork{{Name: "x"}} }, err: ErrMissing, errCol: "network_ids"},
		{name: "future end date stays active", edit: func(r *ProviderRow) { r.EndDate = goldenNow.AddDate(1, 0, 0) }, check: func(t *testing.T, res *ProviderResult) {
			role := roleOf(res.Resources)
			if !role.GetActive().GetValue() || role.GetPeriod().GetEnd() == nil {
				t.Errorf("role %v", role)
			}
		}},
		{name: "end date today ends the role", edit: func(r *ProviderRow) { r.EndDate = goldenNow }, check: func(t *testing.T, res *ProviderResult) {
			if roleOf(res.Resources).GetActive().GetValue() || !hasRule(res.Unmet, "PractitionerRole.active.fixed") {
				t.Errorf("unmet %v", res.Unmet)
			}
		}},
		{name: "no payer", opts: &ProviderOptions{}, check: func(t *testing.T, res *ProviderResult) {
			if !hasRule(res.Unmet, "Organization.partOf.min") || !hasRule(res.Unmet, "PractitionerRole.extension:network-reference.value[x].targetProfile") {
				t.Errorf("unmet %v", res.Unmet)
			}
		}},
		{name: "no telecom", edit: func(r *ProviderRow) { r.Phone = "" }, check: func(t *testing.T, res *ProviderResult) {
			if !hasRule(res.Unmet, "pd-1") {
				t.Errorf("unmet %v", res.Unmet)
			}
		}},
		{name: "location phone serves the role", edit: func(r *ProviderRow) { r.Phone, r.Location.Phone = "", "217-555-0199" }, check: func(t *testing.T, res *ProviderResult) {
			if len(roleOf(res.Resources).GetTelecom()) != 1 || len(res.Unmet) != 0 {
				t.Errorf("unmet %v", res.Unmet)
			}
		}},
		{name: "bad cells are warnings", edit: func(r *ProviderRow) {
			r.Gender, r.Role, r.Languages, r.AcceptingNewPatients, r.OtherTaxonomies = "Q", "wizard", []string{"english!"}, "sometimes", []string{"BAD"}
			r.Location.Hours, r.Location.Latitude = "whenever", "91"
		}, check: func(t *testing.T, res *ProviderResult) {
			for _, rule := range []string{"gender-code", "role-code", "language-code", "accepting-patients-code", "taxonomy-format", "hours-format", "position-format"} {
				if !hasRule(res.Warnings, rule) {
					t.Errorf("no %s warning in %v", rule, res.Warnings)
				}
			}
		}},
		{name: "role as system|code", edit: func(r *ProviderRow) { r.Role = systemPractitionerRole + "|doctor" }, check: func(t *testing.T, res *ProviderResult) {
			if c := roleOf(res.Resources).GetCode()[0].GetCoding()[0]; c.GetSystem().GetValue() != systemPractitionerRole || c.GetCode().GetValue() != "doctor" {
				t.Errorf("code %v", c)
			}
		}},
		{name: "no location name", edit: func(r *ProviderRow) { r.Location.Name, r.Affiliation.Name = "", "" }, check: func(t *testing.T, res *ProviderResult) {
			if !hasRule(res.Unmet, "Location.name.min") || !hasRule(res.Unmet, "PractitionerRole.location.targetProfile") {
				t.Errorf("unmet %v", res.Unmet)
			}
		}},
		{name: "inactive organization", edit: func(r *ProviderRow) {
			f := false
			*r = ProviderRow{Entity: EntityOrganization, NPI: "1555000011", OrgName: "Group", Active: &f, Phone: "1",
				Location: ProviderLocation{Address: ProviderAddress{Line1: "1 Main St", City: "Springfield"}}, Networks: []ProviderNetwork{{ID: "N", Name: "N"}}}
		}, check: func(t *testing.T, res *ProviderResult) {
			for _, m := range res.Resources {
				if o, ok := m.(*opb.Organization); ok && o.GetName().GetValue() == "Group" && o.GetActive().GetValue() {
					t.Error("organization is active")
				}
			}
			if !hasRule(res.Unmet, "Organization.active.fixed") || !hasRule(res.Unmet, "OrganizationAffiliation.active.fixed") {
				t.Errorf("unmet %v", res.Unmet)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}, Now: func() time.Time { return goldenNow }, NoNPICheck: tc.noCheck})
			if err != nil {
				t.Fatal(err)
			}
			opts := tc.opts
			if opts == nil {
				opts = &ProviderOptions{Payer: &providerTestPayer}
			}
			p, err := NewProviderMapper(m, opts)
			if err != nil {
				t.Fatal(err)
			}
			row := providerTestRow()
			if tc.edit != nil {
				tc.edit(row)
			}
			res, err := p.MapRow(ctx, row)
			if tc.err != nil {
				var pe *ProviderError
				if !errors.Is(err, tc.err) || !errors.As(err, &pe) || pe.Column != tc.errCol {
					t.Fatalf("err = %v, want %v on column %s", err, tc.err, tc.errCol)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// NoNPICheck keeps a bad NPI in a resource that claims
			// Plan-Net: the caller opted out of the check.
			if fs := check.All(res.Resources); len(fs) > 0 && !tc.noCheck {
				t.Errorf("check findings:\n%s", check.Report(fs))
			}
			tc.check(t, res)
		})
	}
}

func TestProviderMapChange(t *testing.T) {
	ctx := context.Background()
	p := providerTestMapper(t, "test")
	after := map[string]any{"npi": "1234567893", "last_name": "Doe", "phone": "1", "location_line1": "1 Main St", "location_name": "Main", "network_ids": []any{"N1"}, "network_names": []any{"Net"}}
	t.Run("delete without before", func(t *testing.T) {
		_, err := p.MapChange(ctx, &ProviderChange{Op: ChangeDelete, SourceVersion: "0/1"}, nil)
		var pe *ProviderError
		if !errors.Is(err, ErrMissing) || !errors.As(err, &pe) || pe.SourceVersion != "0/1" || !strings.Contains(err.Error(), "source version 0/1") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown op", func(t *testing.T) {
		if _, err := p.MapChange(ctx, &ProviderChange{Op: "x", After: after}, nil); !errors.Is(err, ErrInvalidCode) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bad cell names its column and version", func(t *testing.T) {
		bad := map[string]any{"npi": "1234567893", "last_name": "Doe", "active": "perhaps"}
		_, err := p.MapChange(ctx, &ProviderChange{Op: ChangeCreate, After: bad, SourceVersion: "7"}, nil)
		var pe *ProviderError
		if !errors.As(err, &pe) || pe.Column != "active" || pe.SourceVersion != "7" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("update that changes nothing ends nothing", func(t *testing.T) {
		res, err := p.MapChange(ctx, &ProviderChange{Op: ChangeUpdate, Before: after, After: after, SourceVersion: "9"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Resources {
			if r, ok := m.(*rolepb.PractitionerRole); ok && !r.GetActive().GetValue() {
				t.Error("an unchanged role was ended")
			}
		}
		if res.SourceVersion != "9" || res.Op != ChangeUpdate {
			t.Errorf("result version %q op %q", res.SourceVersion, res.Op)
		}
	})
	t.Run("delete ends the provider when asked", func(t *testing.T) {
		m, _ := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}, Now: func() time.Time { return goldenNow }})
		pp, _ := NewProviderMapper(m, &ProviderOptions{Payer: &providerTestPayer, DeleteEndsProvider: true})
		res, err := pp.MapChange(ctx, &ProviderChange{Op: ChangeDelete, Before: after}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var pracs, roles int
		for _, m := range res.Resources {
			switch r := m.(type) {
			case *prpb.Practitioner:
				pracs++
				if r.GetActive().GetValue() {
					t.Error("practitioner still active")
				}
			case *rolepb.PractitionerRole:
				roles++
				if r.GetActive().GetValue() || r.GetPeriod().GetEnd() == nil {
					t.Error("role not ended")
				}
			}
		}
		if pracs != 1 || roles != 1 {
			t.Errorf("%d practitioners, %d roles", pracs, roles)
		}
		if fs := check.All(res.Resources); len(fs) > 0 {
			t.Errorf("check findings:\n%s", check.Report(fs))
		}
	})
}

func TestParseChangeOp(t *testing.T) {
	for in, want := range map[string]ChangeOp{"c": ChangeCreate, "INSERT": ChangeCreate, "u": ChangeUpdate, "Update": ChangeUpdate, "d": ChangeDelete, "delete": ChangeDelete, "r": ChangeRead, "snapshot": ChangeRead} {
		if got, err := ParseChangeOp(in); err != nil || got != want {
			t.Errorf("ParseChangeOp(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseChangeOp("truncate"); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("truncate: %v", err)
	}
}

func TestProviderParseHours(t *testing.T) {
	tests := []struct {
		in   string
		n    int // hoursOfOperation entries; -1 = not understood
		days int // days in the first entry
	}{
		{"Mon-Fri 08:00-17:00", 1, 5},
		{"Mon-Fri 08:00-17:00; Sat 09:00-12:00", 2, 5},
		{"Mon,Wed,Fri 9:00-13:30", 1, 3},
		{"Mon-Sun 24h", 1, 7},
		{"Sun closed; Mon 08:00-12:00", 1, 1},
		{"Monday-Tuesday 08:00-12:00", 1, 2},
		{"Fri-Mon 08:00-12:00", -1, 0},
		{"Mon 17:00-08:00", -1, 0},
		{"Mon 25:00-26:00", -1, 0},
		{"Mon", -1, 0},
		{"Sun closed", -1, 0},
		{"Xyz 08:00-09:00", -1, 0},
	}
	for _, tc := range tests {
		h, ok := provParseHours(tc.in)
		if tc.n < 0 {
			if ok {
				t.Errorf("%q: understood", tc.in)
			}
			continue
		}
		if !ok || len(h) != tc.n || len(h[0].DaysOfWeek) != tc.days {
			t.Errorf("%q: %v %v", tc.in, h, ok)
		}
	}
}

// TestProviderCanary puts the canary in names, addresses, phones, network
// names and in values that fail (an NPI, a date, a boolean, a taxonomy code,
// hours), and checks that it never reaches an id, a meta element, an error's
// text or log value, or an issue, while it does reach the resources.
func TestProviderCanary(t *testing.T) {
	ctx := context.Background()
	p := providerTestMapper(t, "canary.csv")
	header := "npi,last_name,first_name,org_name,phone,location_name,location_line1,location_city,location_phone,hours,network_ids,network_names,affiliation_name,taxonomy,end_date,active,gender,languages,role\n"
	good := "1234567893," + canary + "," + canary + ",," + canary + "," + canary + "," + canary + " ST," + canary + "," + canary + ",Mon-Fri 08:00-17:00,NET1," + canary + "," + canary + ",207Q00000X,,Y,F,en,\n"
	bad := []string{
		canary + "," + canary + ",,,1,L,1 Main,,,,,,,,,,,,\n",                                                          // NPI
		"1234567893," + canary + ",,,1,L,1 Main,,,,,,,," + canary + ",,,,\n",                                           // date
		"1234567893," + canary + ",,,1,L,1 Main,,,,,,,,," + canary + ",,,\n",                                           // boolean
		"1234567893," + canary + ",,,1,L,1 Main,,," + canary + ",,,," + canary + ",,,," + canary + "," + canary + "\n", // warnings
		"\"" + canary + "\"x,\n", // CSV syntax
	}
	var texts []string
	var content strings.Builder
	note := func(err error) {
		texts = append(texts, err.Error())
		var pe *ProviderError
		if errors.As(err, &pe) {
			texts = append(texts, pe.Detail(), pe.Column, pe.Path, slog.AnyValue(pe.LogValue()).String())
		}
	}
	rows := header + good + strings.Join(bad, "")
	for row, err := range ReadProviderCSV(strings.NewReader(rows), &ProviderCSVOptions{AllowMissingColumns: true}) {
		if err != nil {
			note(err)
			continue
		}
		texts = append(texts, slog.AnyValue(row.LogValue()).String())
		res, err := p.MapRow(ctx, row)
		if err != nil {
			note(err)
			continue
		}
		for _, i := range append(res.Unmet, res.Warnings...) {
			texts = append(texts, i.String())
		}
		for _, r := range res.Resources {
			k, _ := resource.Key(r)
			texts = append(texts, k)
			meta := r.ProtoReflect().Get(r.ProtoReflect().Descriptor().Fields().ByName("meta")).Message().Interface()
			texts = append(texts, fmt.Sprint(meta))
			b, err := resource.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			content.Write(b)
		}
	}
	// The converter's ConvertError, and a full-file reconcile that fails.
	conv := NewProviderCSVConverter(p, &ProviderCSVConverterOptions{CSV: &ProviderCSVOptions{AllowMissingColumns: true}})
	if _, err := conv.Convert(ctx, source.NewMessage("m1", []byte(rows), nil, nil, nil)); err != nil {
		texts = append(texts, err.Error())
	} else {
		t.Error("converter: no error")
	}
	read := func() func(func(*ProviderRow, error) bool) {
		return ReadProviderCSV(strings.NewReader(rows), &ProviderCSVOptions{AllowMissingColumns: true})
	}
	if _, err := p.ReconcileFull(ctx, read(), read()); err != nil {
		texts = append(texts, err.Error())
	} else {
		t.Error("reconcile: no error")
	}
	// Change events: a bad value in a map, and a change's own LogValue.
	ch := &ProviderChange{Op: ChangeCreate, SourceVersion: "0/1", After: map[string]any{"npi": "1234567893", "last_name": canary, "end_date": canary}}
	texts = append(texts, slog.AnyValue(ch.LogValue()).String())
	if _, err := p.MapChange(ctx, ch, nil); err != nil {
		note(err)
	} else {
		t.Error("bad end_date accepted")
	}
	if _, err := ParseChangeOp(canary); err != nil {
		note(err)
	}
	if !strings.Contains(content.String(), canary) {
		t.Fatal("the canary is not in the resources: the inputs do not reach the mapping")
	}
	if len(texts) < 40 {
		t.Fatalf("only %d texts checked", len(texts))
	}
	for _, s := range texts {
		if strings.Contains(s, canary) {
			t.Errorf("PHI leak: %q", s)
		}
	}
	// Diagnostics may show the value: that is what it is for.
	_, err := ProviderRowFromMap(map[string]any{"active": canary}, nil)
	var pe *ProviderError
	if !errors.As(err, &pe) || !strings.Contains(pe.Diagnostics(), canary) {
		t.Errorf("Diagnostics does not show the value: %v", err)
	}
}

func TestLSNSourceVersion(t *testing.T) {
	for in, want := range map[string]string{"0/16B3748": "00000000016B3748", "16/B374D848": "00000016B374D848", "FFFFFFFF/FFFFFFFF": "FFFFFFFFFFFFFFFF"} {
		if got, err := LSNSourceVersion(in); err != nil || got != want {
			t.Errorf("LSNSourceVersion(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "/1", "1/", "G/1", "100000000/0"} {
		if _, err := LSNSourceVersion(in); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("LSNSourceVersion(%q): %v", in, err)
		}
	}
	a, _ := LSNSourceVersion("0/9")
	b, _ := LSNSourceVersion("0/10")
	if !(a < b) {
		t.Errorf("%s !< %s", a, b)
	}
}
