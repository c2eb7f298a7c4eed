// Command x12tofhir converts X12 health care EDI files (837P/I/D claims, 835
// claim payments and remittances, 834 enrollment) to FHIR R4: CARIN Blue
// Button claims, explanations of benefit and the patients, coverages,
// related persons and providers they refer to.
//
// Usage:
//
//	x12tofhir [-out DIR] [-network STATUS] [-id-key-file FILE] [-payer-id ID] [-v] [-lenient] [-tolerant-isa] [FILE...]
//	x12tofhir [flags] [-full-file] -previous PREV FILE
//	x12tofhir -fhir URL [-mode MODE] [-checkpoint CKPT] [flags] FILE...
//	x12tofhir -records [-lenient] [-tolerant-isa] [FILE...]
//
// With no FILE it reads standard input. Files are read in the order given,
// and every claim read is kept in an in-memory index (fhirmap.ClaimIndex),
// so an 835 read after the 837 it pays joins with it: name a day's 837s
// first and its 835s after them. An 835 whose claim was not read still
// converts, to the best ExplanationOfBenefit the 835 allows (it then claims
// no C4BB profile it cannot meet; -v lists what it misses).
//
// By default the resources are written to standard output as NDJSON, one R4
// resource per line, referenced resources before the resources that refer to
// them. A resource that many records share (a billing provider, a payer) is
// written once, and again only if a later record changes it.
//
// With -out DIR the resources are written as a FHIR Bulk Data import set
// instead (package sink/ndjsonsink): one NDJSON file per resource type, each
// resource once (its latest version), and a manifest.json written last, for
// a server's $import. DIR must be new or empty.
//
// An 834 member becomes a C4BB Patient, a C4BB Coverage per health coverage
// (HD) loop and C4BB RelatedPersons, with the maintenance semantics of
// fhirmap.Mapper.MapMember834: an addition, change or audit writes an active
// Coverage, a termination its period.end (never a delete), a reinstatement
// an open period again. 834s usually name their payer by tax id: -payer-id
// gives the payer id its 837s and 835s carry, so that a member's Patient and
// Coverage ids are the same from every file.
//
// -previous PREV reconciles a full 834 (BGN08 4 verify or RX replace, or any
// 834 with -full-file) against the previous full file PREV: after FILE's own
// resources, it writes, for every Coverage of PREV that FILE no longer
// holds, the Coverage ended on FILE's effective date (fhirmap.Mapper.Reconcile).
// Only the coverage ids of FILE are held in memory.
//
// -network answers "innetwork" or "outofnetwork" for every provider's
// network status, which X12 does not carry and some C4BB profiles require
// (MAPPING.md D7: dental EOBs need the rendering provider's); services
// configure fhirmap.Options.NetworkStatus from their provider contracts
// instead. -id-key-file names a file whose bytes (at least 16) key the
// resource ids (HMAC); without it ids are UUIDv5 over a public namespace,
// fine for tests and demos only (see fhirmap.IDs).
//
// With -fhir URL the resources are written to the FHIR server at that base
// URL instead, through fhirsync.Run (the engine a service would use) and
// restsink, in transaction bundles by default (-mode put, conditional or
// batch otherwise): written at least once, retried with back-off when the
// server is busy, each file acknowledged only once all its resources are
// written. A record that does not convert, or a resource the server refuses
// for good, is reported on standard error and the exit status is 1. Files
// are converted one at a time, in order, so that 835s join with the 837s
// named before them. -previous does not apply.
//
// -checkpoint CKPT (with -fhir) makes such a run resumable. Each file is
// recorded in CKPT (package source/filesource's checkpoint: written to a
// temporary file, fsynced and renamed) once all its resources are written
// and its rejections reported, and a file recorded there in the same size
// and modification time is not read again. A run that was stopped, killed
// or lost its machine is resumed by running the same command again: the
// files it had finished are skipped, and the others, including the one it
// was writing, are written again, which overwrites what was written of them
// (ids are deterministic) and never duplicates. A file changed since it was
// recorded is written again. Name the files by the same paths in every
// run: CKPT knows files by path, and forgets those a run does not name. One
// run at a time may use a CKPT (a second fails at start). Without
// -checkpoint every run writes every file again, which is safe but slower.
//
// With -fhir, an 835 whose 837 was not read by this run joins with the Claim
// an earlier run wrote to the server (fhirmap.ClaimLookups: the in-memory
// index first, then a search of the server by claim identifier): a day's
// 835s can be run on their own, days after their 837s, and a resumed run
// joins 835s with claims finished before the stop.
//
// With -records it prints the decoded business records instead, as JSON
// lines: kind, position, file and the typed record.
//
// A malformed record is reported on standard error with its position (file,
// byte offset, segment, loop, element, envelope control numbers) and never
// its values; the other records are still converted and written. The exit
// status is 1 when any record or file failed, 2 on a usage error.
//
// # PHI
//
// The output holds PHI (names, member ids, dates of birth, diagnoses): treat
// it as you treat the input. Standard error carries only positions, codes,
// rule names and file names. File names go into each resource's lineage
// (meta.source): name your files without PHI.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/ndjsonsink"
	"github.com/fhirsync/fhirsync/x12"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// now is the clock of meta.lastUpdated (tests fix it).
var now = time.Now

// line is one line of -records output.
type line struct {
	Kind     x12.Kind     `json:"kind"`
	Position x12.Position `json:"position"`
	File     string       `json:"file,omitempty"`
	Record   x12.Record   `json:"record"`
}

// config is the parsed command line.
type config struct {
	records, lenient, tolerantISA, verbose, fullFile bool
	out, network, idKeyFile, payerID, previous       string
	fhirURL, mode, checkpoint                        string
	files                                            []string
}

// run is the command, testable: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("x12tofhir", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.BoolVar(&c.records, "records", false, "print the decoded business records as JSON lines instead of FHIR")
	fs.StringVar(&c.out, "out", "", "write a Bulk Data NDJSON import set (one file per resource type and a manifest) into `DIR` instead of standard output")
	fs.StringVar(&c.network, "network", "", "answer `STATUS` (innetwork or outofnetwork) for every provider's network status")
	fs.StringVar(&c.idKeyFile, "id-key-file", "", "key resource ids with the bytes of `FILE` (HMAC-SHA256; at least 16 bytes)")
	fs.StringVar(&c.payerID, "payer-id", "", "the payer id (`ID`) the 834s' payer carries in its 837s and 835s, so that member ids agree")
	fs.StringVar(&c.previous, "previous", "", "reconcile the one full 834 FILE against the previous full 834 `PREV`: end the coverages FILE no longer holds")
	fs.BoolVar(&c.fullFile, "full-file", false, "treat every 834 as a full file (for -previous) whatever its BGN08")
	fs.BoolVar(&c.verbose, "v", false, "report each record's unmet profile requirements and warnings on standard error")
	fs.BoolVar(&c.lenient, "lenient", false, "report envelope count mismatches and misplaced segments as warnings (on standard error) instead of errors")
	fs.BoolVar(&c.tolerantISA, "tolerant-isa", false, "accept ISA segments whose fixed-width fields are not padded")
	fs.StringVar(&c.fhirURL, "fhir", "", "write the resources to the FHIR server at base `URL` (through fhirsync.Run) instead of standard output")
	fs.StringVar(&c.mode, "mode", "transaction", "with -fhir, how resources travel: put, conditional, transaction or batch")
	fs.StringVar(&c.checkpoint, "checkpoint", "", "with -fhir, record the files written in `CKPT` and skip them when run again, so that a stopped run resumes")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: x12tofhir [-out DIR] [-network STATUS] [-id-key-file FILE] [-payer-id ID] [-v] [-lenient] [-tolerant-isa] [FILE...]\n")
		fmt.Fprintf(stderr, "       x12tofhir [flags] [-full-file] -previous PREV FILE\n")
		fmt.Fprintf(stderr, "       x12tofhir -fhir URL [-mode MODE] [-checkpoint CKPT] [flags] FILE...\n")
		fmt.Fprintf(stderr, "       x12tofhir -records [-lenient] [-tolerant-isa] [FILE...]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c.files = fs.Args()
	if c.records && (c.out != "" || c.network != "" || c.idKeyFile != "" || c.payerID != "" || c.previous != "") {
		fmt.Fprintln(stderr, "x12tofhir: -records prints decoded records; -out, -network, -id-key-file, -payer-id and -previous apply to FHIR output")
		return 2
	}
	if c.previous != "" && len(c.files) != 1 {
		fmt.Fprintln(stderr, "x12tofhir: -previous reconciles exactly one full 834 FILE")
		return 2
	}
	switch c.network {
	case "", "innetwork", "outofnetwork":
	default:
		fmt.Fprintln(stderr, "x12tofhir: -network must be innetwork or outofnetwork")
		return 2
	}
	if c.checkpoint != "" && c.fhirURL == "" {
		fmt.Fprintln(stderr, "x12tofhir: -checkpoint records the files written to a server: it needs -fhir")
		return 2
	}
	if c.fhirURL != "" {
		if c.records || c.out != "" || c.previous != "" || len(c.files) == 0 {
			fmt.Fprintln(stderr, "x12tofhir: -fhir writes FILEs to a server: it takes files, and neither -records, -out nor -previous")
			return 2
		}
		return toServer(c, stderr)
	}
	var w writer
	if c.records {
		buf := bufio.NewWriterSize(stdout, 64<<10)
		w = &recordWriter{buf: buf, enc: json.NewEncoder(buf)}
	} else {
		m, err := newMapper(c)
		if err != nil {
			fmt.Fprintf(stderr, "x12tofhir: %v\n", err)
			return 2
		}
		fw := &fhirWriter{m: m, index: m.claims, stderr: stderr, verbose: c.verbose, seen: map[string][]byte{}, skipped: map[x12.Kind]int{}}
		if c.out != "" {
			s, err := ndjsonsink.New(c.out, nil)
			if err != nil {
				fmt.Fprintf(stderr, "x12tofhir: %v\n", err)
				return 1
			}
			fw.sink = s
		} else {
			fw.buf = bufio.NewWriterSize(stdout, 64<<10)
		}
		w = fw
	}
	failed := false
	decode := func(name string, r io.Reader) {
		d := x12.NewDecoder(r)
		d.Lenient = c.lenient
		d.TolerantISA = c.tolerantISA
		d.OnWarning = func(e *x12.SyntaxError) { fmt.Fprintf(stderr, "%s: warning: %v\n", displayName(name), e) }
		w.begin(name)
		for rec, err := range d.Records() {
			if err != nil {
				failed = true
				fmt.Fprintf(stderr, "%s: %v\n", displayName(name), err)
				continue
			}
			if err := w.record(name, rec); err != nil {
				failed = true
				fmt.Fprintf(stderr, "%s: %v\n", displayName(name), err)
			}
		}
		if err := w.end(name); err != nil {
			failed = true
			fmt.Fprintf(stderr, "%s: %v\n", displayName(name), err)
		}
	}
	if len(c.files) == 0 {
		decode("", stdin)
	}
	for _, name := range c.files {
		f, err := os.Open(name)
		if err != nil {
			failed = true
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is printed once, in front
			}
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			continue
		}
		decode(name, f)
		f.Close()
	}
	if fw, ok := w.(*fhirWriter); ok && c.previous != "" && !failed {
		if err := fw.reconcile(c.previous, c.files[0]); err != nil {
			failed = true
			fmt.Fprintf(stderr, "%s: %v\n", c.files[0], err)
		}
	}
	if err := w.close(); err != nil {
		fmt.Fprintf(stderr, "x12tofhir: writing output: %v\n", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

func displayName(name string) string {
	if name == "" {
		return "<stdin>"
	}
	return name
}

// writer is an output mode.
type writer interface {
	begin(name string)                        // a new input file starts
	record(name string, rec x12.Record) error // one decoded record
	end(name string) error                    // the input file ended
	close() error                             // flush and seal
}

// recordWriter prints decoded records (-records).
type recordWriter struct {
	buf *bufio.Writer
	enc *json.Encoder
}

func (w *recordWriter) begin(string)     {}
func (w *recordWriter) end(string) error { return nil }

func (w *recordWriter) record(name string, rec x12.Record) error {
	if err := w.enc.Encode(line{Kind: rec.Kind(), Position: rec.Pos(), File: name, Record: rec}); err != nil {
		return fmt.Errorf("encoding a %s at %s: %w", rec.Kind(), rec.Pos(), err)
	}
	return nil
}

func (w *recordWriter) close() error { return w.buf.Flush() }

// mapper is the Mapper with its claim index.
type mapper struct {
	*fhirmap.Mapper
	claims *fhirmap.ClaimIndex
}

// newMapper builds the Mapper of the FHIR modes.
func newMapper(c config) (*mapper, error) {
	ix := fhirmap.NewClaimIndex(nil)
	opts := &fhirmap.Options{Claims: ix, Now: func() time.Time { return now() }}
	if c.fhirURL != "" {
		// An 835 joins with the claims of this run, then with those an
		// earlier run (or the run before a crash) wrote to the server.
		opts.Claims = fhirmap.ClaimLookups(ix, fhirmap.NewFHIRClaimLookup(nil, c.fhirURL, nil))
	}
	if c.idKeyFile != "" {
		key, err := os.ReadFile(c.idKeyFile)
		if err != nil {
			return nil, fmt.Errorf("-id-key-file: %w", err)
		}
		opts.IDs = &fhirmap.IDOptions{Key: bytes.TrimSpace(key)}
	}
	if c.payerID != "" || c.fullFile {
		opts.Enrollment = &fhirmap.EnrollmentOptions{PayerID: c.payerID, FullFile: c.fullFile}
	}
	if s := c.network; s != "" {
		opts.NetworkStatus = func(context.Context, fhirmap.NetworkQuery) (string, error) { return s, nil }
	}
	m, err := fhirmap.NewMapper(nil, opts)
	if err != nil {
		return nil, err
	}
	return &mapper{Mapper: m, claims: ix}, nil
}

// fhirWriter maps records to FHIR and writes them as NDJSON lines or into
// an import set.
type fhirWriter struct {
	m       *mapper
	cur     *fhirmap.Mapper // m with the current file's source name
	index   *fhirmap.ClaimIndex
	stderr  io.Writer
	verbose bool

	buf  *bufio.Writer    // standard output mode
	sink *ndjsonsink.Sink // -out mode
	ops  []sink.Op        // pending -out writes

	// seen maps "Type/id" to the resource's content without meta, so that a
	// resource shared by many records is written once per version.
	seen    map[string][]byte
	skipped map[x12.Kind]int // records of the current file without a FHIR mapping
}

// end reports the records of the file that have no FHIR mapping (a record
// kind the decoder reads and fhirmap does not map): valid input this command
// does not convert, not a failure.
func (w *fhirWriter) end(name string) error {
	for k, n := range w.skipped {
		fmt.Fprintf(w.stderr, "%s: %d %s records not converted to FHIR by this command (see -records)\n", displayName(name), n, k)
	}
	clear(w.skipped)
	return nil
}

func (w *fhirWriter) begin(name string) {
	src := "stdin"
	if name != "" {
		src = filepath.Base(name)
	}
	w.cur = w.m.WithSourceName(src)
}

func (w *fhirWriter) record(name string, rec x12.Record) error {
	res, err := w.cur.MapRecord(context.Background(), rec)
	if err != nil {
		if errors.Is(err, fhirmap.ErrUnsupported) {
			w.skipped[rec.Kind()]++
			return nil
		}
		return err
	}
	if w.verbose {
		for _, i := range res.Unmet {
			fmt.Fprintf(w.stderr, "%s: unmet: %s\n", displayName(name), i)
		}
		for _, i := range res.Warnings {
			fmt.Fprintf(w.stderr, "%s: warning: %s\n", displayName(name), i)
		}
	}
	if err := w.index.AddResources(res.Resources); err != nil {
		return err
	}
	for _, r := range res.Resources {
		if err := w.emit(r); err != nil {
			return fmt.Errorf("at %s: %w", rec.Pos(), err)
		}
	}
	return nil
}

// emit writes one resource unless the same version was written before.
func (w *fhirWriter) emit(r proto.Message) error {
	if !w.changed(r) {
		return nil
	}
	if w.sink != nil {
		w.ops = append(w.ops, sink.Op{Resource: r})
		if len(w.ops) >= 512 {
			return w.flushOps()
		}
		return nil
	}
	b, err := resource.Marshal(r)
	if err != nil {
		return fmt.Errorf("marshalling a %s: %w", resource.Type(r), err)
	}
	w.buf.Write(b)
	w.buf.WriteByte('\n')
	return nil
}

// reconcile scans the full 834 in file (coverage ids only) and writes the
// Coverages of the previous full 834 that it no longer holds, ended on its
// effective date.
func (w *fhirWriter) reconcile(previous, file string) error {
	ctx := context.Background()
	cur := w.m.WithSourceName(filepath.Base(file))
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	full, err := cur.ScanFullFile(ctx, bufio.NewReaderSize(f, 64<<10))
	f.Close()
	if err != nil {
		return err
	}
	p, err := os.Open(previous)
	if err != nil {
		return fmt.Errorf("-previous: %w", err)
	}
	defer p.Close()
	prev := w.m.WithSourceName(filepath.Base(previous))
	n := 0
	for c, err := range cur.Reconcile(ctx, prev.Coverages834(ctx, bufio.NewReaderSize(p, 64<<10)), full) {
		if err != nil {
			return fmt.Errorf("-previous %s: %w", previous, err)
		}
		if err := w.emit(c); err != nil {
			return err
		}
		n++
	}
	if w.verbose {
		fmt.Fprintf(w.stderr, "%s: %d coverages of %s ended on %s\n", file, n, previous, full.Effective.Format("2006-01-02"))
	}
	return nil
}

// changed reports whether r differs (apart from meta) from the version of
// the same resource written before, and remembers it.
func (w *fhirWriter) changed(r proto.Message) bool {
	key, err := resource.Key(r)
	if err != nil {
		return true
	}
	c := proto.Clone(r)
	pr := c.ProtoReflect()
	if f := pr.Descriptor().Fields().ByName("meta"); f != nil {
		pr.Clear(f)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return true
	}
	if old, ok := w.seen[key]; ok && bytes.Equal(old, b) {
		return false
	}
	w.seen[key] = b
	return true
}

func (w *fhirWriter) flushOps() error {
	if len(w.ops) == 0 {
		return nil
	}
	err := w.sink.Write(context.Background(), w.ops)
	w.ops = w.ops[:0]
	return err
}

func (w *fhirWriter) close() error {
	if w.sink == nil {
		return w.buf.Flush()
	}
	if err := w.flushOps(); err != nil {
		w.sink.Detach(context.Background())
		return err
	}
	return w.sink.Close(context.Background())
}
