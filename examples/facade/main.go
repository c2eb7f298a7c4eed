// Command facade is a starter service for the on-demand pattern: it answers
// FHIR R4 reads of a payer's provider directory straight from the Postgres
// table that is its system of record, through fhirsync's read-through
// Facade, and keeps the Facade's cache fresh from the table's own change
// stream (logical replication). Nothing is copied into a FHIR server.
//
// Usage:
//
//	FHIRSYNC_ID_KEY=... go run ./examples/facade -db postgres://sync@db/directory -table provider -listen :8080
//
//	curl 'localhost:8080/Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1234567893'
//	curl localhost:8080/Practitioner/prac-...    # an id from the search
//	curl localhost:8080/PractitionerRole/role-...
//	curl localhost:8080/metadata
//
// # What it shows
//
// A provider table (one row per provider and practice location, with the
// columns of fhirmap.DefaultColumnMap, or others named by -columns) is
// mapped row by row by fhirmap.ProviderMapper to Da Vinci Plan-Net
// resources: Practitioner or Organization, Location, PractitionerRole or
// OrganizationAffiliation per network, and the payer's network
// Organizations. The service answers:
//
//   - GET /[type]?identifier=http://hl7.org/fhir/sid/us-npi|NPI (the system
//     may be left out): the rows of that NPI are selected and mapped on the
//     spot. Practitioner and Organization answer the resource that carries
//     the NPI; PractitionerRole, OrganizationAffiliation and Location, which
//     carry no NPI, answer those the NPI's rows produce (a shortcut for
//     PractitionerRole?practitioner.identifier=...). Several values,
//     comma-separated, are ORed. Other search parameters get 400.
//   - GET /[type]/[id]: ids are deterministic keyed hashes (fhirmap.IDs) of
//     NPIs, addresses and network ids, so they cannot be turned back into a
//     row. The service keeps an index id → NPI, built at start-up by mapping
//     every row once (correct by construction: the index holds exactly the
//     ids the mapper gives) and kept current from the change stream; a read
//     selects the NPI's rows and maps them. Answers go through the Facade's
//     TTL cache (ETag, If-None-Match, shared fetches, remembered 404s).
//   - GET /metadata (a CapabilityStatement) and GET /healthz.
//
// Freshness: a pgsource logical replication stream of the table runs through
// fhirsync.Run into Facade.Sink. The events are Debezium-shaped; package
// debezium decodes them, and its ProviderConverter gives the resources a
// sync service would write for the change. Beyond those, for each changed
// row the converter waits until the change's transaction is visible to new
// snapshots (logical decoding can send a commit a moment before other
// sessions see it; a read in between would cache the old row for a whole
// TTL), re-reads the rows of the NPIs of its before and after images (so a
// moved or re-keyed row is covered), updates the index, and hands the Sink
// every resource id those NPIs had or have: their cache entries (and
// remembered 404s) are dropped within a batch wait (10 ms) of the change
// arriving, so a read after that sees the new row. -ttl still bounds how long an entry lives,
// in case a change were missed. A deleted row's resources answer 404; a
// row with active = false or an end date answers ended roles (active
// false).
//
// # Running it
//
// Postgres needs wal_level = logical (ALTER SYSTEM SET wal_level = logical,
// then restart), and the -db role the REPLICATION attribute and SELECT on
// the table (and CREATE on the database for -create-publication). Give the
// table REPLICA IDENTITY FULL, or a replica identity that includes the NPI
// column: a delete event must name the NPI it removes (the service warns at
// start-up otherwise). Index the NPI column: every search and read selects
// by it.
//
// The slot is temporary by default, with a random name: Postgres drops it
// when the service stops, so a stopped facade never pins WAL. That fits a
// cache: a restarted service rebuilds its index from the table and starts
// with an empty cache, so it needs no position from before. Each replica
// has its own cache and so needs its own slot: run more replicas as they
// are. -permanent-slot (with -slot) keeps the slot across restarts. A
// publication the service creates stays (it holds no data and pins no WAL);
// replicas share it.
//
// The id key (-id-key-file FILE, or the environment variable
// FHIRSYNC_ID_KEY, at least 16 bytes) keys the resource ids. It is
// required: it must be the key every fhirsync service of this directory
// uses, and it must never change, or the ids served here would not match
// the ids written elsewhere, and ids clients saved would stop resolving.
//
// -payer FILE names the directory's payer (JSON of fhirmap.DirectoryPayer:
// {"PayerID": "...", "Name": "...", "Address": {"Line1": ..., "City": ...,
// "State": ..., "PostalCode": ...}}); without it network Organizations lack
// partOf and claim no Plan-Net profile. -columns FILE renames columns (JSON
// of fhirmap.ColumnMap fields over the defaults: {"NPI": "provider_npi"}).
//
// # Limits of a starter
//
// The index holds every id of every row in memory (about seven per row)
// and start-up maps every row once (tens of thousands of rows a second per
// core). Rows without an NPI are not served. A resource that several rows
// produce (a Location, a network) is answered from one of them. If the
// change stream fails the service stops (exit status 1), and a restart
// rebuilds everything. A TRUNCATE rebuilds the index and drops every entry
// it knew.
//
// # PHI
//
// Answers hold what a directory publishes (names, NPIs, addresses, phone
// numbers) and possibly a TIN, which can be an individual's SSN: serve them
// where that may go; they carry Cache-Control: no-store. Logs are JSON on
// standard error and hold request methods, paths (resource types and ids),
// statuses, counts, positions and error kinds: never a column value, a
// query string or a database error's text.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fhirsync/fhirsync/fhirmap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "facade: %v\n", err)
		os.Exit(2)
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(ctx, cfg); err != nil {
		cfg.Logger.Error("facade stopped", slog.String("error", err.Error()))
		os.Exit(1)
	}
}

// config is what run needs; parseFlags fills it from the command line.
type config struct {
	// DB is the connection string of the database that holds the table.
	DB string
	// Table is the provider table, "table" (on the search path) or
	// "schema.table".
	Table string
	// Listen is the HTTP address, ":8080"; port 0 picks a free one.
	Listen string
	// IDKey keys the resource ids (fhirmap.IDOptions.Key).
	IDKey []byte
	// Columns names the table's columns.
	Columns fhirmap.ColumnMap
	// Payer owns the networks; nil means none is known.
	Payer *fhirmap.DirectoryPayer

	// Slot and Publication name the replication slot and publication;
	// an empty Slot means a random name (temporary slots only).
	Slot, Publication string
	// CreateSlot and CreatePublication create them when missing;
	// PermanentSlot creates a permanent slot instead of a temporary one.
	CreateSlot, CreatePublication, PermanentSlot bool

	// TTL and NotFoundTTL are the Facade's cache lifetimes.
	TTL, NotFoundTTL time.Duration
	// MaxConns bounds the connections used for reads and searches.
	MaxConns int

	// Logger receives the service's logs; nil means JSON on standard error.
	Logger *slog.Logger
	// OnReady, when set, is called with the listening address once the
	// index is built and requests are served.
	OnReady func(addr string)
}

// errNoKey explains why the service refuses to start without an id key.
var errNoKey = errors.New("no id key: give -id-key-file FILE or set FHIRSYNC_ID_KEY (at least 16 bytes). " +
	"Resource ids are keyed hashes of NPIs and addresses: the key must be the one every fhirsync service of this directory uses " +
	"and must never change, or the ids served here would not match the ids written elsewhere and saved ids would stop resolving; " +
	"unkeyed ids could also be reversed by hashing candidate NPIs")

// parseFlags reads the command line (and FHIRSYNC_ID_KEY through getenv).
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("facade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := config{Columns: fhirmap.DefaultColumnMap()}
	var keyFile, columnsFile, payerFile string
	fs.StringVar(&c.DB, "db", "", "Postgres connection `URL` of the directory database (required)")
	fs.StringVar(&c.Table, "table", "provider", "the provider `TABLE` (or schema.table)")
	fs.StringVar(&c.Listen, "listen", ":8080", "HTTP listen `ADDRESS`")
	fs.StringVar(&keyFile, "id-key-file", "", "key resource ids with the bytes of `FILE`, surrounding white space trimmed (else $FHIRSYNC_ID_KEY)")
	fs.StringVar(&columnsFile, "columns", "", "JSON `FILE` of fhirmap.ColumnMap fields naming the table's columns (over the defaults)")
	fs.StringVar(&payerFile, "payer", "", "JSON `FILE` of the directory's payer (fhirmap.DirectoryPayer)")
	fs.StringVar(&c.Slot, "slot", "", "replication slot `NAME` (default: a random name; required with -permanent-slot)")
	fs.StringVar(&c.Publication, "publication", "fhirsync_facade", "publication `NAME`")
	fs.BoolVar(&c.CreateSlot, "create-slot", true, "create the slot when missing")
	fs.BoolVar(&c.CreatePublication, "create-publication", true, "create the publication (FOR TABLE the table) when missing")
	fs.BoolVar(&c.PermanentSlot, "permanent-slot", false, "create a permanent slot instead of a temporary one (it pins WAL while the service is down)")
	fs.DurationVar(&c.TTL, "ttl", 5*time.Minute, "how long a read is cached (changes invalidate sooner)")
	fs.DurationVar(&c.NotFoundTTL, "not-found-ttl", 30*time.Second, "how long a 404 is remembered (changes invalidate sooner)")
	fs.IntVar(&c.MaxConns, "max-conns", 8, "database connections for reads and searches")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, errors.New("unexpected arguments after the flags")
	}
	if c.DB == "" {
		return c, errors.New("-db is required")
	}
	if c.PermanentSlot && c.Slot == "" {
		return c, errors.New("-permanent-slot needs -slot NAME: a permanent slot must be found again after a restart")
	}
	if c.MaxConns < 1 {
		return c, errors.New("-max-conns must be at least 1")
	}
	key, err := readKey(keyFile, getenv)
	if err != nil {
		return c, err
	}
	c.IDKey = key
	if columnsFile != "" {
		if err := readJSONFile(columnsFile, &c.Columns); err != nil {
			return c, fmt.Errorf("-columns: %w", err)
		}
		if c.Columns.NPI == "" {
			return c, errors.New("-columns: the NPI column is required: rows are selected by it")
		}
	}
	if payerFile != "" {
		c.Payer = &fhirmap.DirectoryPayer{}
		if err := readJSONFile(payerFile, c.Payer); err != nil {
			return c, fmt.Errorf("-payer: %w", err)
		}
	}
	return c, nil
}

// readKey reads the id key from file, else from $FHIRSYNC_ID_KEY.
func readKey(file string, getenv func(string) string) ([]byte, error) {
	var key []byte
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("-id-key-file: %w", err)
		}
		key = bytes.TrimSpace(b)
	} else {
		key = []byte(getenv("FHIRSYNC_ID_KEY"))
	}
	if len(key) == 0 {
		return nil, errNoKey
	}
	if len(key) < fhirmap.MinIDKeyLen {
		return nil, fmt.Errorf("the id key is %d bytes, want at least %d (32 random bytes are recommended)", len(key), fhirmap.MinIDKeyLen)
	}
	return key, nil
}

// readJSONFile decodes a JSON file into v, refusing unknown fields (a
// misspelt column field would otherwise be ignored).
func readJSONFile(name string, v any) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
