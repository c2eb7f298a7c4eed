package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/terminology"
)

// The integration test runs the service against a real Postgres:
// FHIRSYNC_POSTGRES_URL, or the server on 127.0.0.1:5432 (user postgres,
// trust auth), which needs wal_level=logical. It creates its own schema,
// table, publication and (temporary) slot, and drops them.
const (
	integrationEnv = "FHIRSYNC_INTEGRATION"
	pgURLEnv       = "FHIRSYNC_POSTGRES_URL"
	defaultPGURL   = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	enableHint     = "needs Postgres with wal_level=logical at " + pgURLEnv + " (default 127.0.0.1:5432, user postgres, trust auth): " +
		"./scripts/test sets it up (ALTER SYSTEM SET wal_level = logical, then a restart) and sets " + integrationEnv + "=1, which turns this skip into a failure"
	canary = "ZZCANARYZZ"
	// pollFor bounds how long a change may take to show.
	pollFor = 15 * time.Second
)

// requirePG returns an admin connection to Postgres, skipping the test when
// it is unusable (failing it under FHIRSYNC_INTEGRATION=1).
func requirePG(t *testing.T) (*pgx.Conn, string) {
	t.Helper()
	u := os.Getenv(pgURLEnv)
	if u == "" {
		u = defaultPGURL
	}
	unusable := func(reason string) {
		t.Helper()
		if os.Getenv(integrationEnv) == "1" {
			t.Fatalf("%s: %s", reason, enableHint)
		}
		t.Skipf("%s: %s", reason, enableHint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		unusable("Postgres is unreachable (" + err.Error() + ")")
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		unusable("SHOW wal_level failed (" + err.Error() + ")")
	}
	if level != "logical" {
		unusable("wal_level is " + level + ", not logical")
	}
	return conn, u
}

// fixture is the test's schema (with its provider table), publication and
// slot, all named name.
type fixture struct {
	t    *testing.T
	db   *pgx.Conn
	url  string
	name string
}

func newFixture(t *testing.T) *fixture {
	conn, u := requirePG(t)
	f := &fixture{t: t, db: conn, url: u, name: "facade_" + randomHex(6)}
	t.Cleanup(f.cleanup)
	f.exec("CREATE SCHEMA " + f.name)
	f.exec(`CREATE TABLE ` + f.name + `.provider (
		id serial PRIMARY KEY,
		npi text NOT NULL, entity_type text, last_name text, first_name text, credentials text[], gender text, languages text[],
		org_name text, org_type text, taxonomy text, phone text,
		location_name text, location_line1 text, location_city text, location_state text, location_postal_code text,
		location_phone text, hours text, latitude numeric, longitude numeric,
		accepting_new_patients boolean, network_ids text[], network_names text[],
		affiliation_npi text, affiliation_name text, effective_date date, end_date date, active boolean)`)
	f.exec("CREATE INDEX ON " + f.name + ".provider (npi)")
	f.exec("ALTER TABLE " + f.name + ".provider REPLICA IDENTITY FULL")
	return f
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.db.Exec(ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// slotExists reports whether the fixture's slot exists.
func (f *fixture) slotExists() bool {
	f.t.Helper()
	var n int
	if err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, f.name).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n > 0
}

// cleanup drops the slot (ending a session still holding it), the
// publication and the schema.
func (f *fixture) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 50; i++ {
		_, err := f.db.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`, f.name)
		if err == nil {
			_, err = f.db.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, f.name)
		}
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, sql := range []string{"DROP PUBLICATION IF EXISTS " + f.name, "DROP SCHEMA IF EXISTS " + f.name + " CASCADE"} {
		if _, err := f.db.Exec(ctx, sql); err != nil {
			f.t.Errorf("cleanup: %s: %v", sql, err)
		}
	}
}

// npi returns a valid NPI (check digit computed) from 9 digits.
func npi(t *testing.T, first9 string) string {
	t.Helper()
	d, err := terminology.NPICheckDigit(first9)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s%c", first9, d)
}

// logBuffer collects the service's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// service is the running service under test.
type service struct {
	t    *testing.T
	base string
	done chan error
	stop context.CancelFunc
	logs *logBuffer
}

func startService(t *testing.T, f *fixture, cfg config) *service {
	t.Helper()
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ready := make(chan string, 1)
	cfg.OnReady = func(addr string) { ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{t: t, done: make(chan error, 1), stop: cancel, logs: logs}
	go func() { s.done <- run(ctx, cfg) }()
	select {
	case addr := <-ready:
		s.base = "http://" + addr
	case err := <-s.done:
		cancel()
		t.Fatalf("run ended before serving: %v\nlogs:\n%s", err, logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("service not ready after 60s\nlogs:\n%s", logs)
	}
	t.Cleanup(func() {
		cancel()
		defer func() {
			if t.Failed() {
				t.Logf("service logs:\n%s", logs)
			}
		}()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("run did not return 30s after its context ended")
		}
	})
	return s
}

// get GETs path and returns the status and the body.
func (s *service) get(path string) (int, []byte) {
	s.t.Helper()
	resp, err := http.Get(s.base + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, b
}

// obj is decoded FHIR JSON.
type obj = map[string]any

func decode(t *testing.T, b []byte) obj {
	t.Helper()
	var o obj
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return o
}

// read GETs Type/id, wants 200 and valid FHIR, and returns the resource.
func (s *service) read(typ, id string) obj {
	s.t.Helper()
	status, b := s.get("/" + typ + "/" + id)
	if status != http.StatusOK {
		s.t.Fatalf("GET %s/%s: %d %s", typ, id, status, b)
	}
	fhirtest.RequireValid(s.t, b)
	return decode(s.t, b)
}

// search runs Type?identifier=<NPI system>|npi, wants 200 and a valid
// Bundle, and returns its resources.
func (s *service) search(typ, npi string) []obj {
	s.t.Helper()
	status, b := s.get("/" + typ + "?identifier=" + url.QueryEscape(terminology.SystemNPI+"|"+npi))
	if status != http.StatusOK {
		s.t.Fatalf("search %s: %d %s", typ, status, b)
	}
	fhirtest.RequireValid(s.t, b)
	bundle := decode(s.t, b)
	var out []obj
	entries, _ := bundle["entry"].([]any)
	for _, e := range entries {
		out = append(out, e.(obj)["resource"].(obj))
	}
	if total, _ := bundle["total"].(float64); int(total) != len(out) {
		s.t.Errorf("search %s: total %v, %d entries", typ, bundle["total"], len(out))
	}
	return out
}

// eventually polls cond until it holds or pollFor passes.
func (s *service) eventually(what string, cond func() (bool, string)) {
	s.t.Helper()
	deadline := time.Now().Add(pollFor)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: not within %v; last: %s", what, pollFor, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statusIs returns a condition: GET path answers status.
func (s *service) statusIs(path string, status int) func() (bool, string) {
	return func() (bool, string) {
		got, b := s.get(path)
		return got == status, fmt.Sprintf("%d %s", got, b)
	}
}

func ids(rs []obj) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r["id"].(string))
	}
	slices.Sort(out)
	return out
}

// refs returns the Organization ids of a PractitionerRole's network-reference
// extensions.
func networkRefs(role obj) []string {
	var out []string
	exts, _ := role["extension"].([]any)
	for _, e := range exts {
		e := e.(obj)
		if strings.HasSuffix(e["url"].(string), "/network-reference") {
			out = append(out, strings.TrimPrefix(e["valueReference"].(obj)["reference"].(string), "Organization/"))
		}
	}
	return out
}

// TestService runs the service on a provider table: searches by NPI and
// reads by id answer valid FHIR with the ids the mapper gives; updates,
// moves, deactivations, deletes and inserts show promptly although reads
// are cached for an hour; shutdown drops the temporary slot; the logs never
// hold the canary (a provider's last name).
func TestService(t *testing.T) {
	f := newFixture(t)
	pracNPI, orgNPI, newNPI := npi(t, "123456789"), npi(t, "155500001"), npi(t, "198765432")
	ins := `INSERT INTO ` + f.name + `.provider (npi, entity_type, last_name, first_name, credentials, gender, languages, org_name, taxonomy, phone,
		location_name, location_line1, location_city, location_state, location_postal_code, location_phone, hours, latitude, longitude,
		accepting_new_patients, network_ids, network_names, affiliation_npi, affiliation_name, effective_date, end_date, active)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)`
	nets, netNames := []string{"NET-GOLD", "NET-SILVER"}, []string{"Gold PPO", "Silver HMO"}
	// The practitioner at two practice locations (two rows), the first
	// shared with its group's own row.
	f.exec(ins, pracNPI, "1", canary, "Nora", []string{"MD"}, "F", []string{"en", "es"}, nil, "207RC0000X", "217-555-0101",
		"Riverside Clinic", "100 Main St", "Springfield", "IL", "62701", "217-555-0100", "Mon-Fri 08:00-17:00", "39.7817", "-89.6501",
		true, nets, netNames, orgNPI, "Riverside Clinic", "2024-01-01", nil, nil)
	f.exec(ins, pracNPI, "1", canary, "Nora", []string{"MD"}, "F", []string{"en"}, nil, "207RC0000X", "217-555-0102",
		"Oak Clinic", "200 Oak Ave", "Springfield", "IL", "62702", "217-555-0200", nil, nil, nil,
		true, nets, netNames, nil, nil, "2024-01-01", nil, nil)
	f.exec(ins, orgNPI, "2", nil, nil, nil, nil, nil, "Riverside Clinic", "261QP2300X", "217-555-0100",
		"Riverside Clinic", "100 Main St", "Springfield", "IL", "62701", "217-555-0100", nil, nil, nil,
		nil, []string{"NET-GOLD"}, []string{"Gold PPO"}, nil, nil, "2024-01-01", nil, true)

	cfg := config{
		DB: f.url, Table: f.name + ".provider", Listen: "127.0.0.1:0", IDKey: []byte(testKey),
		Columns: fhirmap.DefaultColumnMap(),
		Payer: &fhirmap.DirectoryPayer{PayerID: "PAYER1", Name: "Acme Health Plan",
			Address: fhirmap.ProviderAddress{Line1: "1 Payer Way", City: "Chicago", State: "IL", PostalCode: "60601"}},
		Slot: f.name, Publication: f.name, CreateSlot: true, CreatePublication: true,
		// An hour: whatever shows below was invalidated by a change event,
		// not expired.
		TTL: time.Hour, NotFoundTTL: time.Hour, MaxConns: 4,
	}
	s := startService(t, f, cfg)
	if !f.slotExists() {
		t.Fatal("the service created no slot")
	}

	gen, err := fhirmap.NewIDs(&fhirmap.IDOptions{Key: []byte(testKey)})
	if err != nil {
		t.Fatal(err)
	}
	pracID, _ := gen.Practitioner(fhirmap.PractitionerKey{NPI: pracNPI})
	orgID, _ := gen.Organization(fhirmap.OrganizationKey{NPI: orgNPI})
	loc1, _ := gen.Location(fhirmap.LocationKey{Line: "100 Main St", City: "Springfield", State: "IL", PostalCode: "62701"})
	loc2, _ := gen.Location(fhirmap.LocationKey{Line: "200 Oak Ave", City: "Springfield", State: "IL", PostalCode: "62702"})
	loc3, _ := gen.Location(fhirmap.LocationKey{Line: "300 Elm St", City: "Springfield", State: "IL", PostalCode: "62703"})

	// Searches by NPI.
	pracs := s.search("Practitioner", pracNPI)
	if got := ids(pracs); !slices.Equal(got, []string{pracID}) {
		t.Fatalf("Practitioner search: ids %q, want [%s] (the keyed id of the NPI)", got, pracID)
	}
	if got := ids(s.search("Organization", orgNPI)); !slices.Equal(got, []string{orgID}) {
		t.Errorf("Organization search: ids %q, want [%s]", got, orgID)
	}
	if got := s.search("Organization", pracNPI); len(got) != 0 {
		t.Errorf("Organization search by a practitioner's NPI: %q, want none (networks carry no NPI)", ids(got))
	}
	if got, want := ids(s.search("Location", pracNPI)), slices.Sorted(slices.Values([]string{loc1, loc2})); !slices.Equal(got, want) {
		t.Errorf("Location search: ids %q, want %q", got, want)
	}
	roles := s.search("PractitionerRole", pracNPI)
	if len(roles) != 4 {
		t.Fatalf("PractitionerRole search: %d roles, want 4 (2 locations x 2 networks)", len(roles))
	}
	affs := s.search("OrganizationAffiliation", orgNPI)
	if len(affs) != 1 {
		t.Fatalf("OrganizationAffiliation search: %d, want 1", len(affs))
	}
	if got := s.search("Practitioner", npi(t, "111111111")); len(got) != 0 {
		t.Errorf("search of an unknown NPI: %q", ids(got))
	}

	// Reads by id, of every type, shared resources included.
	p := s.read("Practitioner", pracID)
	if name := p["name"].([]any)[0].(obj); name["family"] != canary || name["given"].([]any)[0] != "Nora" || p["active"] != true {
		t.Errorf("Practitioner: name %v, active %v", name, p["active"])
	}
	s.read("Organization", orgID)
	s.read("Location", loc1) // produced by both NPIs' rows
	s.read("Location", loc2)
	s.read("PractitionerRole", roles[0]["id"].(string))
	s.read("OrganizationAffiliation", affs[0]["id"].(string))
	netIDs := networkRefs(roles[0])
	if len(netIDs) != 1 {
		t.Fatalf("role network references: %q", netIDs)
	}
	if net := s.read("Organization", netIDs[0]); net["name"] == nil || net["partOf"] == nil {
		t.Errorf("network Organization: %v", net)
	}
	if status, b := s.get("/Practitioner/prac-aaaaaaaaaaaaaaaaaaaaaaaaaa"); status != http.StatusNotFound {
		t.Errorf("unknown id: %d %s", status, b)
	}
	// The new location is not there yet: its 404 is remembered for an hour.
	if status, _ := s.get("/Location/" + loc3); status != http.StatusNotFound {
		t.Fatalf("Location %s before the move: %d, want 404", loc3, status)
	}
	for _, q := range []string{"/Practitioner", "/Practitioner?name=Nora", "/Practitioner?identifier:missing=false"} {
		if status, b := s.get(q); status != http.StatusBadRequest || !bytes.Contains(b, []byte("OperationOutcome")) {
			t.Errorf("GET %s: %d %s, want 400 with an OperationOutcome", q, status, b)
		}
	}
	if status, b := s.get("/metadata"); status != http.StatusOK {
		t.Errorf("metadata: %d %s", status, b)
	} else {
		fhirtest.RequireValid(t, b)
	}

	// An update of both rows shows in the cached Practitioner.
	f.exec(`UPDATE `+f.name+`.provider SET first_name = 'Nadia' WHERE npi = $1`, pracNPI)
	s.eventually("the renamed practitioner", func() (bool, string) {
		status, b := s.get("/Practitioner/" + pracID)
		return status == http.StatusOK && bytes.Contains(b, []byte(`"Nadia"`)), fmt.Sprintf("%d %s", status, b)
	})
	fhirtest.RequireValid(t, func() []byte { _, b := s.get("/Practitioner/" + pracID); return b }())

	// A move: the second row's location changes; the new Location (404
	// remembered) appears and the old one, produced by no row now, goes.
	f.exec(`UPDATE `+f.name+`.provider SET location_name = 'Elm Clinic', location_line1 = '300 Elm St', location_postal_code = '62703' WHERE npi = $1 AND location_line1 = '200 Oak Ave'`, pracNPI)
	s.eventually("the new location", s.statusIs("/Location/"+loc3, http.StatusOK))
	s.read("Location", loc3)
	s.eventually("the old location gone", s.statusIs("/Location/"+loc2, http.StatusNotFound))
	s.read("Location", loc1)

	// Deactivation: the provider and its roles end.
	f.exec(`UPDATE `+f.name+`.provider SET active = false WHERE npi = $1`, pracNPI)
	s.eventually("the inactive practitioner", func() (bool, string) {
		status, b := s.get("/Practitioner/" + pracID)
		return status == http.StatusOK && decode(t, b)["active"] == false, fmt.Sprintf("%d %s", status, b)
	})
	roleID := roles[0]["id"].(string)
	s.eventually("the ended role", func() (bool, string) {
		status, b := s.get("/PractitionerRole/" + roleID)
		return status == http.StatusOK && decode(t, b)["active"] == false, fmt.Sprintf("%d %s", status, b)
	})
	s.read("PractitionerRole", roleID)

	// Deletion: the group's row goes; its resources answer 404; the
	// location the practitioner still uses stays.
	f.exec(`DELETE FROM `+f.name+`.provider WHERE npi = $1`, orgNPI)
	s.eventually("the deleted organization", s.statusIs("/Organization/"+orgID, http.StatusNotFound))
	s.eventually("the deleted affiliation", s.statusIs("/OrganizationAffiliation/"+affs[0]["id"].(string), http.StatusNotFound))
	if got := s.search("Organization", orgNPI); len(got) != 0 {
		t.Errorf("search after delete: %q", ids(got))
	}
	s.read("Location", loc1)

	// An insert: a new provider is found by search and by id.
	newID, _ := gen.Practitioner(fhirmap.PractitionerKey{NPI: newNPI})
	if status, _ := s.get("/Practitioner/" + newID); status != http.StatusNotFound {
		t.Fatalf("new practitioner before insert: %d", status)
	}
	f.exec(ins, newNPI, "1", "Okafor", "Ada", []string{"NP"}, "F", nil, nil, "363LF0000X", "217-555-0301",
		"Elm Clinic", "300 Elm St", "Springfield", "IL", "62703", nil, nil, nil, nil,
		false, []string{"NET-GOLD"}, []string{"Gold PPO"}, nil, nil, "2024-06-01", nil, nil)
	s.eventually("the inserted practitioner", s.statusIs("/Practitioner/"+newID, http.StatusOK))
	s.read("Practitioner", newID)
	if got := ids(s.search("Practitioner", newNPI)); !slices.Equal(got, []string{newID}) {
		t.Errorf("search of the inserted practitioner: %q", got)
	}

	// TRUNCATE: the index is rebuilt and every entry dropped; rows inserted
	// after it are served.
	f.exec(`TRUNCATE ` + f.name + `.provider`)
	s.eventually("the truncated practitioner", s.statusIs("/Practitioner/"+pracID, http.StatusNotFound))
	s.eventually("the truncated location", s.statusIs("/Location/"+loc1, http.StatusNotFound))
	f.exec(ins, newNPI, "1", "Okafor", "Ada", []string{"NP"}, "F", nil, nil, "363LF0000X", "217-555-0301",
		"Elm Clinic", "300 Elm St", "Springfield", "IL", "62703", nil, nil, nil, nil,
		false, []string{"NET-GOLD"}, []string{"Gold PPO"}, nil, nil, "2024-06-01", nil, nil)
	s.eventually("the practitioner inserted after the truncate", s.statusIs("/Practitioner/"+newID, http.StatusOK))

	// Shutdown: run returns nil, the temporary slot goes with it.
	s.stop()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
		s.done <- err
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	deadline := time.Now().Add(pollFor)
	for f.slotExists() {
		if time.Now().After(deadline) {
			t.Fatal("the temporary slot outlived the service")
		}
		time.Sleep(50 * time.Millisecond)
	}

	logs := s.logs.String()
	if strings.Contains(logs, canary) {
		t.Errorf("the logs hold the canary:\n%s", logs)
	}
	for _, want := range []string{`"msg":"facade: index built"`, `"npis":2`, `"msg":"facade: serving"`, `"msg":"facade: table truncated, index rebuilt"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %s:\n%s", want, logs)
		}
	}
}

// TestStartupRefusals: run refuses to start, naming why, when the table,
// its NPI column or the publication's coverage of it is missing, and
// leaves no slot behind.
func TestStartupRefusals(t *testing.T) {
	f := newFixture(t)
	f.exec("CREATE TABLE " + f.name + ".other (id int)")
	f.exec("CREATE PUBLICATION " + f.name + " FOR TABLE " + f.name + ".other")
	base := config{DB: f.url, Table: f.name + ".provider", Listen: "127.0.0.1:0", IDKey: []byte(testKey),
		Columns: fhirmap.DefaultColumnMap(), Slot: f.name, Publication: f.name, CreateSlot: true, CreatePublication: true, MaxConns: 2}
	tests := []struct {
		name string
		edit func(c *config)
		want string
	}{
		{name: "no table", edit: func(c *config) { c.Table = f.name + ".missing" }, want: "not found"},
		{name: "no NPI column", edit: func(c *config) { c.Columns.NPI = "provider_npi" }, want: `no NPI column "provider_npi"`},
		{name: "publication without the table", edit: func(*config) {}, want: "does not publish"},
		{name: "no slot, not created", edit: func(c *config) { c.CreateSlot = false }, want: "slot"},
		{name: "no key", edit: func(c *config) { c.IDKey = nil }, want: "no id key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			var logs logBuffer
			cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			cfg.OnReady = func(string) { t.Error("the service started") }
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: %v, want an error containing %q", err, tc.want)
			}
			deadline := time.Now().Add(pollFor)
			for f.slotExists() {
				if time.Now().After(deadline) {
					t.Fatal("a slot outlived the refused start")
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestStreamLossStops: when the replication connection is lost, run stops
// with an error at once, rather than go on serving a cache that nothing
// invalidates any more.
func TestStreamLossStops(t *testing.T) {
	f := newFixture(t)
	s := startService(t, f, config{DB: f.url, Table: f.name + ".provider", Listen: "127.0.0.1:0", IDKey: []byte(testKey),
		Columns: fhirmap.DefaultColumnMap(), Slot: f.name, Publication: f.name, CreateSlot: true, CreatePublication: true,
		TTL: time.Hour, NotFoundTTL: time.Hour, MaxConns: 2})
	f.exec(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1`, f.name)
	select {
	case err := <-s.done:
		if err == nil || !strings.Contains(err.Error(), "change stream stopped") {
			t.Errorf("run: %v, want a change stream failure", err)
		}
		s.done <- err
	case <-time.After(pollFor):
		t.Fatal("run goes on without its change stream")
	}
}
