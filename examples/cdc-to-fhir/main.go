// Command cdc-to-fhir is a starter service for change data capture: it keeps
// a FHIR server's provider directory (Plan-Net Practitioner, Organization,
// PractitionerRole, Location, Network) in sync with the provider table of a
// credentialing database, from its row changes, through fhirsync.Run.
//
// The changes come either straight from Postgres logical replication
// (-pg, package pgsource) or from Debezium change events on Kafka (-brokers
// and -topic, packages kafkasource and debezium); both carry the same
// Debezium-shaped events, which debezium.ProviderConverter maps with
// fhirmap.ProviderMapper. An inserted or updated row writes its resources;
// a deleted row ends its roles (active = false, period.end), never deleting
// history.
//
// Usage:
//
//	cdc-to-fhir -pg postgres://sync@db/credentialing -slot fhirsync -publication providers \
//	    -table public.provider -fhir https://fhir.example.com/r4 -reject DIR
//	cdc-to-fhir -brokers host:9092 -topic pg.public.provider -group fhirsync \
//	    -fhir https://fhir.example.com/r4 -reject DIR
//
// The table's columns are those of fhirmap.DefaultColumnMap (npi,
// entity_type, last_name, first_name, taxonomy, location_line1, ...). Give
// the table REPLICA IDENTITY FULL so that a delete carries the whole row.
// With -pg, -create makes the publication and a permanent slot when missing.
//
// Delivery: a change is acknowledged (its LSN confirmed to Postgres, or its
// offset committed) only once its resources are written or its rejection is
// recorded in the -reject directory (which holds the row: PHI may be there,
// keep it where PHI may be kept). Each resource carries the change's position
// as its source version, and the engine never lets an older change overwrite
// a newer one.
//
// The id key (-id-key-file, or FHIRSYNC_ID_KEY) keys the resource ids and
// must stay the same for the life of the data. Logs are JSON on standard
// error without PHI.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/ndjsonsink"
	"github.com/fhirsync/fhirsync/sink/restsink"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/debezium"
	"github.com/fhirsync/fhirsync/source/kafkasource"
	"github.com/fhirsync/fhirsync/source/pgsource"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// config is the parsed command line.
type config struct {
	pg, slot, publication, table string
	create, temporary            bool
	brokers, topic, group        string
	fhirURL, out, reject         string
	idKeyFile, payerID, payerNm  string
	batch                        int
}

// run is the command, testable: it returns the exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("cdc-to-fhir", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.pg, "pg", "", "read changes by logical replication from the Postgres at `URL`")
	fs.StringVar(&c.slot, "slot", "fhirsync", "the replication `SLOT` (-pg)")
	fs.StringVar(&c.publication, "publication", "fhirsync_providers", "the `PUBLICATION` (-pg)")
	fs.StringVar(&c.table, "table", "provider", "the provider `TABLE` (table or schema.table)")
	fs.BoolVar(&c.create, "create", false, "create the publication (for -table) and a permanent slot when missing (-pg)")
	fs.BoolVar(&c.temporary, "temporary-slot", false, "with -create, make the slot temporary (tests and demos: no resume after a restart)")
	fs.StringVar(&c.brokers, "brokers", "", "read Debezium change events from Kafka at comma-separated `BROKERS`")
	fs.StringVar(&c.topic, "topic", "", "the Debezium `TOPIC` (-brokers)")
	fs.StringVar(&c.group, "group", "fhirsync", "the consumer `GROUP` (-brokers)")
	fs.StringVar(&c.fhirURL, "fhir", "", "write to the FHIR server at base `URL`")
	fs.StringVar(&c.out, "out", "", "write a Bulk Data NDJSON import set into `DIR` instead (sealed at shutdown)")
	fs.StringVar(&c.reject, "reject", "", "record what cannot be written in `DIR` (holds PHI)")
	fs.StringVar(&c.idKeyFile, "id-key-file", "", "key resource ids with the bytes of `FILE` (else $FHIRSYNC_ID_KEY)")
	fs.StringVar(&c.payerID, "payer-id", "", "the payer `ID` that owns the networks (Plan-Net Network.partOf; with -payer-name)")
	fs.StringVar(&c.payerNm, "payer-name", "", "the payer's `NAME` (with -payer-id)")
	fs.IntVar(&c.batch, "batch", 50, "resources per write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	if err := serve(ctx, c, log); err != nil {
		var usage usageError
		if errors.As(err, &usage) {
			fmt.Fprintf(stderr, "cdc-to-fhir: %v\n", err)
			return 2
		}
		log.Error("cdc-to-fhir stopped", slog.String("error", err.Error()))
		return 1
	}
	return 0
}

type usageError struct{ error }

// serve runs the service until ctx is done (then it returns nil) or a
// failure stops it.
func serve(ctx context.Context, c config, log *slog.Logger) (err error) {
	if (c.pg == "") == (c.brokers == "") || (c.fhirURL == "") == (c.out == "") || c.reject == "" {
		return usageError{errors.New("one of -pg and -brokers, one of -fhir and -out, and -reject are required")}
	}
	if c.brokers != "" && c.topic == "" {
		return usageError{errors.New("-brokers needs -topic")}
	}
	key, err := idKey(c.idKeyFile)
	if err != nil {
		return usageError{err}
	}
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: key}})
	if err != nil {
		return usageError{err}
	}
	var popts *fhirmap.ProviderOptions
	if c.payerID != "" {
		popts = &fhirmap.ProviderOptions{Payer: &fhirmap.DirectoryPayer{PayerID: c.payerID, Name: c.payerNm}}
	}
	pm, err := fhirmap.NewProviderMapper(m, popts)
	if err != nil {
		return usageError{err}
	}
	conv := debezium.NewProviderConverter(pm, &debezium.ProviderConverterOptions{Tables: []string{c.table}})

	dst, err := openSink(c)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := dst.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
			err = cerr
		}
	}()
	rejects, err := fhirsync.NewDirRejecter(c.reject)
	if err != nil {
		return err
	}
	var src source.Source
	if c.pg != "" {
		src, err = pgsource.Open(ctx, c.pg, c.slot, c.publication, &pgsource.Options{
			CreateSlot: c.create, TemporarySlot: c.temporary,
			CreatePublication: c.create, PublicationTables: []string{c.table},
			Logger: log,
		})
	} else {
		src, err = kafkasource.New([]kgo.Opt{
			kgo.SeedBrokers(strings.Split(c.brokers, ",")...),
			kgo.ConsumerGroup(c.group),
			kgo.ConsumeTopics(c.topic),
		}, &kafkasource.Options{Logger: log})
	}
	if err != nil {
		return err
	}
	defer src.Close()
	log.Info("cdc-to-fhir started", slog.String("table", c.table))
	err = fhirsync.Run(ctx, src, conv, dst, &fhirsync.Options{Reject: rejects, BatchSize: c.batch, Logger: log})
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		log.Info("cdc-to-fhir stopping")
		return nil
	}
	return err
}

// openSink returns the sink the flags ask for: transaction bundles into a
// server, or an NDJSON import set.
func openSink(c config) (sink.Sink, error) {
	if c.out != "" {
		return ndjsonsink.New(c.out, nil)
	}
	return restsink.New(c.fhirURL, nil, &restsink.Options{Mode: restsink.Transaction, BundleSize: c.batch})
}

// idKey reads the id key from file, or from $FHIRSYNC_ID_KEY.
func idKey(file string) ([]byte, error) {
	// Surrounding white space (a key file's final newline) is not part of
	// the key, as in x12tofhir: every service must derive the same ids.
	if file != "" {
		b, err := os.ReadFile(file)
		return bytes.TrimSpace(b), err
	}
	if k := strings.TrimSpace(os.Getenv("FHIRSYNC_ID_KEY")); k != "" {
		return []byte(k), nil
	}
	return nil, errors.New("no id key: give -id-key-file or set FHIRSYNC_ID_KEY (ids must stay stable, so the key must too)")
}
