// Command x12tofhir reads X12 health care EDI files (837P/I/D claims, 835
// claim payments, 834 enrollments) and prints what it decodes.
//
// Usage:
//
//	x12tofhir -records [-lenient] [-tolerant-isa] [FILE...]
//
// With no FILE it reads standard input. With -records it prints every decoded
// business record as one JSON object per line: its kind ("837P claim"), its
// position (byte offset, segment index, loop, envelope control numbers), the
// file it came from and the typed record. A malformed record is reported on
// standard error with its position (never with its values: error messages hold
// no PHI) and decoding goes on; the exit status is 1 when any record or file
// failed, 2 on a usage error.
//
// FHIR output (the default mode to come) is produced by package fhirmap; until
// it is wired in, -records is required.
//
// # PHI
//
// The records printed on standard output hold PHI (names, member ids, dates of
// birth, diagnoses): treat the output as you treat the input. Standard error
// carries only positions, codes and file names.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/fhirsync/fhirsync/x12"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// line is one line of -records output.
type line struct {
	Kind     x12.Kind     `json:"kind"`
	Position x12.Position `json:"position"`
	File     string       `json:"file,omitempty"`
	Record   x12.Record   `json:"record"`
}

// run is the command, testable: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("x12tofhir", flag.ContinueOnError)
	fs.SetOutput(stderr)
	records := fs.Bool("records", false, "print the decoded business records as JSON lines")
	lenient := fs.Bool("lenient", false, "report envelope count mismatches and misplaced segments as warnings (on standard error) instead of errors")
	tolerantISA := fs.Bool("tolerant-isa", false, "accept ISA segments whose fixed-width fields are not padded")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: x12tofhir -records [-lenient] [-tolerant-isa] [FILE...]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !*records {
		fmt.Fprintln(stderr, "x12tofhir: FHIR output is not available in this build yet; use -records")
		fs.Usage()
		return 2
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	enc := json.NewEncoder(out)
	failed := false
	decode := func(name string, r io.Reader) {
		d := x12.NewDecoder(r)
		d.Lenient = *lenient
		d.TolerantISA = *tolerantISA
		d.OnWarning = func(e *x12.SyntaxError) { fmt.Fprintf(stderr, "%s: warning: %v\n", displayName(name), e) }
		for rec, err := range d.Records() {
			if err != nil {
				failed = true
				fmt.Fprintf(stderr, "%s: %v\n", displayName(name), err)
				continue
			}
			if err := enc.Encode(line{Kind: rec.Kind(), Position: rec.Pos(), File: name, Record: rec}); err != nil {
				failed = true
				fmt.Fprintf(stderr, "%s: encoding a %s at %s: %v\n", displayName(name), rec.Kind(), rec.Pos(), err)
			}
		}
	}
	if fs.NArg() == 0 {
		decode("", stdin)
	}
	for _, name := range fs.Args() {
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
		decode(name, f) // the Decoder does its own buffering
		f.Close()
	}
	if err := out.Flush(); err != nil {
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
