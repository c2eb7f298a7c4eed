package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
)

const pgHint = "needs Postgres with wal_level=logical on 127.0.0.1:5432 (user postgres, trust): scripts/test sets it up"

// testDB creates a database of its own on the local Postgres and returns
// its URL; the database is dropped at the end. It skips (or, under
// FHIRSYNC_INTEGRATION=1, fails) when Postgres is unusable.
func testDB(t *testing.T) string {
	t.Helper()
	admin := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	ctx := context.Background()
	unusable := func(why string) {
		if os.Getenv("FHIRSYNC_INTEGRATION") == "1" {
			t.Fatalf("%s: %s", why, pgHint)
		}
		t.Skipf("%s: %s", why, pgHint)
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		unusable("Postgres is unreachable")
	}
	defer conn.Close(ctx)
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil || level != "logical" {
		unusable("wal_level is not logical")
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "cdc_to_fhir_" + hex.EncodeToString(b)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			t.Errorf("drop database: %v", err)
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active", name)
		if _, err := c.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

// TestCDCToFHIR keeps the test FHIR server's directory in sync with a
// provider table by logical replication: an insert writes the provider, an
// update changes it, a delete ends its role.
func TestCDCToFHIR(t *testing.T) {
	db := testDB(t)
	srv := fhirtest.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE provider (
		id serial PRIMARY KEY, npi text, entity_type text, last_name text, first_name text,
		taxonomy text, location_name text, location_line1 text, location_city text, location_state text,
		location_postal_code text, phone text, accepting_new_patients text, network_ids text, network_names text);
		ALTER TABLE provider REPLICA IDENTITY FULL`)
	require.NoError(t, err)

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	slot := "cdc_test_" + hex.EncodeToString(b)
	var logs bytes.Buffer
	t.Setenv("FHIRSYNC_ID_KEY", "a test key of at least 16 bytes")
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	cfg := config{pg: db, slot: slot, publication: slot, table: "public.provider", create: true, temporary: true,
		fhirURL: srv.URL(), reject: t.TempDir(), batch: 50}
	go func() { done <- serve(runCtx, cfg, slog.New(slog.NewJSONHandler(&logs, nil))) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
		assert.NotContains(t, logs.String(), "ZZCANARYZZ")
		if t.Failed() {
			t.Logf("service logs:\n%s", logs.String())
			ents, _ := os.ReadDir(cfg.reject)
			for _, e := range ents {
				b, _ := os.ReadFile(cfg.reject + "/" + e.Name())
				t.Logf("rejection %s: %.400s", e.Name(), b)
			}
		}
	}()

	search := func(query string) []map[string]any {
		resp, body, err := srv.Do(ctx, "GET", query, nil, nil)
		if err != nil || resp.StatusCode != 200 {
			return nil
		}
		var bundle struct {
			Entry []struct{ Resource map[string]any }
		}
		_ = json.Unmarshal(body, &bundle)
		var out []map[string]any
		for _, e := range bundle.Entry {
			out = append(out, e.Resource)
		}
		return out
	}
	familyOf := func(npi string) string {
		rs := search("/Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|" + npi)
		if len(rs) != 1 {
			return ""
		}
		b, _ := json.Marshal(rs[0]["name"])
		return string(b)
	}

	// The slot exists once the service started: only later changes stream.
	require.Eventually(t, func() bool {
		var n int
		_ = conn.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&n)
		return n == 1
	}, 120*time.Second, 50*time.Millisecond, "replication slot created")

	_, err = conn.Exec(ctx, `INSERT INTO provider (npi, entity_type, last_name, first_name, taxonomy, location_name, location_line1,
		location_city, location_state, location_postal_code, phone, accepting_new_patients, network_ids, network_names) VALUES
		('1234567893', '1', 'ZZCANARYZZ', 'Ann', '207Q00000X', 'Main Clinic', '1 Main St', 'Dover', 'DE', '19901', '3025550100', 'Y', 'N1', 'Gold'),
		('1172714408', '1', 'Baker', 'Ben', '208D00000X', 'North Clinic', '2 North St', 'Dover', 'DE', '19901', '3025550101', 'N', 'N1', 'Gold')`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return strings.Contains(familyOf("1234567893"), "ZZCANARYZZ") && strings.Contains(familyOf("1172714408"), "Baker")
	}, 60*time.Second, 100*time.Millisecond, "inserted providers on the server")

	_, err = conn.Exec(ctx, `UPDATE provider SET last_name = 'Carter' WHERE npi = '1234567893'`)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(familyOf("1234567893"), "Carter") },
		60*time.Second, 100*time.Millisecond, "updated provider on the server")

	_, err = conn.Exec(ctx, `DELETE FROM provider WHERE npi = '1172714408'`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, r := range search("/PractitionerRole?_count=100") {
			if r["active"] == false {
				return true
			}
		}
		return false
	}, 60*time.Second, 100*time.Millisecond, "the deleted row's role ended")
}

func TestUsage(t *testing.T) {
	t.Setenv("FHIRSYNC_ID_KEY", "")
	for _, args := range [][]string{
		{},
		{"-pg", "postgres://x", "-brokers", "k:9092", "-fhir", "http://x", "-reject", "r"},
		{"-brokers", "k:9092", "-fhir", "http://x", "-reject", "r"},
		{"-pg", "postgres://x", "-fhir", "http://x", "-reject", t.TempDir()},
	} {
		var stderr bytes.Buffer
		assert.Equal(t, 2, run(context.Background(), args, &stderr), "%v", args)
		assert.NotEmpty(t, stderr.String())
	}
}
