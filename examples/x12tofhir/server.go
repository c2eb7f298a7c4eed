package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/sink/restsink"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/filesource"
)

// toServer writes the resources of c.files to the FHIR server c.fhirURL
// through the engine, and returns the exit status.
func toServer(c config, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := &restsink.Options{}
	switch c.mode {
	case "put":
		opts.Mode = restsink.Single
	case "conditional":
		opts.Mode, opts.Match = restsink.Single, restsink.MatchIdentifier
	case "transaction":
		opts.Mode = restsink.Transaction
	case "batch":
		opts.Mode = restsink.Batch
	default:
		fmt.Fprintf(stderr, "x12tofhir: -mode %q: want put, conditional, transaction or batch\n", c.mode)
		return 2
	}
	m, err := newMapper(c)
	if err != nil {
		fmt.Fprintf(stderr, "x12tofhir: %v\n", err)
		return 2
	}
	dst, err := restsink.New(c.fhirURL, nil, opts)
	if err != nil {
		fmt.Fprintf(stderr, "x12tofhir: %v\n", err)
		return 2
	}
	defer dst.Close(context.Background())
	// With -checkpoint, an acked file is recorded durably before its ack
	// returns, and skipped by the next run (see the package doc). Stream:
	// each file is decoded from disk as it is mapped, so a file of any size
	// costs no memory of its own.
	src, err := filesource.OpenFiles(c.files, &filesource.Options{Checkpoint: c.checkpoint, Stream: true})
	if err != nil {
		fmt.Fprintf(stderr, "x12tofhir: %v\n", err)
		return 1
	}
	defer src.Close()

	// A file that cannot be read reaches the reject path below through
	// Run (source.Message.Err), without conversion.
	conv := fhirmap.NewX12Converter(m.Mapper, &fhirmap.X12ConverterOptions{
		Lenient: c.lenient, TolerantISA: c.tolerantISA, Index: m.claims,
		// One file at a time (Converters: 1, below), its records mapped on
		// every core, finished in file order.
		Workers: runtime.GOMAXPROCS(0),
		SourceName: func(msg *source.Message) string {
			var f *filesource.File
			if msg.As(&f) {
				return f.Path
			}
			return msg.ID
		},
	})
	// Nothing is lost: what cannot be written is reported here (positions
	// and reasons, never values) and fails the command.
	var mu sync.Mutex
	failed := false
	reject := fhirsync.RejecterFunc(func(_ context.Context, r *fhirsync.Rejection) error {
		mu.Lock()
		defer mu.Unlock()
		failed = true
		name := r.Message.Metadata["path"]
		if r.Resource != "" {
			fmt.Fprintf(stderr, "%s: %s refused: %v\n", name, r.Resource, r.Err)
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", name, r.Err)
		}
		return nil
	})
	err = fhirsync.Run(ctx, src, conv, dst, &fhirsync.Options{
		Reject:      reject,
		Converters:  1, // in file order: an 835 joins with the 837s read before it
		MaxInFlight: 4, // files: each holds its resources until they are written
		Logger:      slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Fprintf(stderr, "x12tofhir: %v\n", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}
