// Command kafka-to-fhir is a starter service for the event-driven pattern:
// it reads X12 interchanges (837 claims, 835 payments, 834 enrollments), one
// per Kafka record, from a topic in a consumer group, converts them to FHIR
// R4 and writes them to a FHIR server (or a Bulk Data NDJSON directory),
// through fhirsync.Run.
//
// Usage:
//
//	kafka-to-fhir -brokers host:9092 -topic x12-inbound -group fhirsync \
//	    (-fhir https://fhir.example.com/r4 [-mode transaction] | -out DIR) \
//	    -reject DIR [-id-key-file FILE]
//
// Delivery: a record's offset is committed only once every resource of its
// interchange is written and every record that cannot be converted (or
// resource the server refuses for good) is recorded in the -reject
// directory, which holds the record (PHI: keep it where PHI may be kept)
// and the reason. Offsets are committed per partition only up to the
// highest contiguous acknowledged record, so a crash re-delivers and the
// deterministic ids make the rewrite idempotent. Run more replicas with the
// same -group to scale: Kafka spreads the partitions among them.
//
// The id key (-id-key-file, or the environment variable FHIRSYNC_ID_KEY)
// keys the resource ids (HMAC): it must stay the same for the life of the
// data, or re-delivered records would create new resources instead of
// overwriting.
//
// Logs are JSON on standard error and hold no PHI: message ids (topic,
// partition, offset), resource types and ids, error texts.
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
	"github.com/fhirsync/fhirsync/source/kafkasource"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// config is the parsed command line.
type config struct {
	brokers, topic, group      string
	fhirURL, mode, out, reject string
	idKeyFile                  string
	batch                      int
}

// run is the command, testable: it returns the exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("kafka-to-fhir", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.brokers, "brokers", "localhost:9092", "comma-separated seed `BROKERS`")
	fs.StringVar(&c.topic, "topic", "", "the `TOPIC` of X12 interchanges, one per record")
	fs.StringVar(&c.group, "group", "fhirsync", "the consumer `GROUP`")
	fs.StringVar(&c.fhirURL, "fhir", "", "write to the FHIR server at base `URL`")
	fs.StringVar(&c.mode, "mode", "transaction", "how resources travel to the server: put, conditional, transaction or batch")
	fs.StringVar(&c.out, "out", "", "write a Bulk Data NDJSON import set into `DIR` instead of a server (sealed at shutdown)")
	fs.StringVar(&c.reject, "reject", "", "record what cannot be written in `DIR` (holds PHI)")
	fs.StringVar(&c.idKeyFile, "id-key-file", "", "key resource ids with the bytes of `FILE` (else $FHIRSYNC_ID_KEY)")
	fs.IntVar(&c.batch, "batch", 50, "resources per write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	if err := serve(ctx, c, log); err != nil {
		var usage usageError
		if errors.As(err, &usage) {
			fmt.Fprintf(stderr, "kafka-to-fhir: %v\n", err)
			return 2
		}
		log.Error("kafka-to-fhir stopped", slog.String("error", err.Error()))
		return 1
	}
	return 0
}

type usageError struct{ error }

// serve runs the service until ctx is done (then it returns nil) or a failure
// stops it.
func serve(ctx context.Context, c config, log *slog.Logger) (err error) {
	if c.topic == "" || c.reject == "" || (c.fhirURL == "") == (c.out == "") {
		return usageError{errors.New("-topic, -reject and one of -fhir and -out are required")}
	}
	key, err := idKey(c.idKeyFile)
	if err != nil {
		return usageError{err}
	}
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: key}})
	if err != nil {
		return usageError{err}
	}
	dst, err := openSink(c)
	if err != nil {
		return err
	}
	defer func() {
		// Close seals an NDJSON set; a REST sink has nothing to flush.
		if cerr := dst.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
			err = cerr
		}
	}()
	rejects, err := fhirsync.NewDirRejecter(c.reject)
	if err != nil {
		return err
	}
	src, err := kafkasource.New([]kgo.Opt{
		kgo.SeedBrokers(strings.Split(c.brokers, ",")...),
		kgo.ConsumerGroup(c.group),
		kgo.ConsumeTopics(c.topic),
	}, &kafkasource.Options{Logger: log})
	if err != nil {
		return err
	}
	defer src.Close()
	log.Info("kafka-to-fhir started", slog.String("topic", c.topic), slog.String("group", c.group))
	err = fhirsync.Run(ctx, src, fhirmap.NewX12Converter(m, nil), dst, &fhirsync.Options{
		Reject:    rejects,
		BatchSize: c.batch,
		Logger:    log,
	})
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		log.Info("kafka-to-fhir stopping")
		return nil
	}
	return err
}

// openSink returns the sink the flags ask for.
func openSink(c config) (sink.Sink, error) {
	if c.out != "" {
		return ndjsonsink.New(c.out, nil)
	}
	var mode restsink.Mode
	var match restsink.Match
	switch c.mode {
	case "put":
		mode = restsink.Single
	case "conditional":
		mode, match = restsink.Single, restsink.MatchIdentifier
	case "transaction":
		mode = restsink.Transaction
	case "batch":
		mode = restsink.Batch
	default:
		return nil, usageError{fmt.Errorf("-mode %q: want put, conditional, transaction or batch", c.mode)}
	}
	return restsink.New(c.fhirURL, nil, &restsink.Options{Mode: mode, Match: match, BundleSize: c.batch})
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
