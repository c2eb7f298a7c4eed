package x12

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	moovfile "github.com/moov-io/x12/pkg/file"
	moovloops "github.com/moov-io/x12/pkg/loops"
	moovsegments "github.com/moov-io/x12/pkg/segments"
	moov837p "github.com/moov-io/x12/rule_5010_837p"

	"github.com/fhirsync/fhirsync/x12/internal/gen"
)

// Cross-check against github.com/moov-io/x12 v0.1.0, an independent 837P
// parser: on the 837P inputs it can parse, its claim count, CLM01 and CLM02
// must equal ours.
//
// What moov v0.1.0 needs, and what this test does about it:
//   - it parses a whole interchange from one string with '*' and '~' and no line
//     breaks: line breaks are removed (CR LF too);
//   - its 837P rules reject REF*6R in loop 2400, the drug identification loop
//     2410 (LIN, CTP), HL02 in loop 2000C and NM104 in loop 2010CA, and then
//     fail the whole file: those segments and elements are removed from moov's
//     copy (SE01 adjusted), never from ours — they do not touch CLM;
//   - its rules put loop 2000C (patient) after the subscriber's own claims and
//     fail on a subscriber without claims: subscribers with patient loops are
//     removed from the input both decoders read (dropPatientLoops);
//   - inputs it still rejects are reported as skipped (our hand-written
//     fixtures use 2300/2400 segments its rules do not know: PWK, CN1, CR1,
//     CRC...); at least three inputs — a moov-friendly inline 837P and two
//     generated 837Ps, one with several transaction sets — and 1000 claims
//     must be compared;
//   - it holds the interchange in memory (fine at these sizes), and its
//     file.NewScanner returns nothing over 64 KiB, so it is not used: the
//     interchange string goes to Interchange.Parse directly.

// moovCompatible rewrites an 837P interchange (with '*' and '~') for moov.
func moovCompatible(input []byte) string {
	s := strings.NewReplacer("\r", "", "\n", "").Replace(string(input))
	segs := strings.Split(s, "~")
	out := make([]string, 0, len(segs))
	removed := 0
	inPatient := false
	for _, seg := range segs {
		f := strings.Split(seg, "*")
		switch {
		case f[0] == "ST":
			removed = 0
		case f[0] == "REF" && len(f) > 1 && f[1] == "6R", f[0] == "LIN", f[0] == "CTP":
			removed++
			continue
		case f[0] == "HL" && len(f) > 3:
			inPatient = f[3] == "23"
			if inPatient {
				f[2] = ""
			}
		case f[0] == "NM1" && len(f) > 4 && f[1] == "QC" && inPatient:
			f[4] = ""
		case f[0] == "SE" && len(f) > 1:
			n, _ := strconv.Atoi(f[1])
			f[1] = strconv.Itoa(n - removed)
		}
		out = append(out, strings.TrimRight(strings.Join(f, "*"), "*"))
	}
	return strings.Join(out, "~")
}

// moovClaims parses with moov and returns "CLM01 CLM02" of every claim.
func moovClaims(interchange string) ([]string, error) {
	ic := moovfile.NewInterchange(&moov837p.InterchangeRule)
	if _, err := ic.Parse(interchange, ":"); err != nil {
		return nil, err
	}
	var claims []string
	var walk func(l moovloops.CompositeLoop)
	walk = func(l moovloops.CompositeLoop) {
		for _, s := range l.Loop.Segments {
			if c, ok := s.(*moovsegments.CLM); ok {
				claims = append(claims, c.ClaimSubmitterIdentifier+" "+c.MonetaryAmount)
			}
		}
		for _, sub := range l.SubLoops {
			walk(sub)
		}
	}
	for _, g := range ic.FunctionalGroups {
		for _, ts := range g.TransactionSets {
			for _, l := range ts.Loops {
				walk(l)
			}
		}
	}
	return claims, nil
}

// ourClaims decodes with our Decoder and returns "CLM01 CLM02" of every claim.
func ourClaims(t *testing.T, input []byte) []string {
	t.Helper()
	var claims []string
	for rec, err := range NewDecoder(bytes.NewReader(input)).Records() {
		if err != nil {
			t.Fatalf("our decoder: %v", err)
		}
		c := rec.(*Claim837)
		claims = append(claims, c.PatientControlNumber+" "+string(c.TotalCharge))
	}
	return claims
}

func TestMoovCrossCheck837P(t *testing.T) {
	inputs := map[string][][]string{} // name: transaction set bodies
	files, _ := filepath.Glob("testdata/decoder/837p_*.x12")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The bad claims are ours to report; moov reads only '*' and '~'.
		if bodies := transactionBodies(b); len(bodies) > 0 && !strings.Contains(f, "badclaim") {
			inputs[filepath.Base(f)] = bodies
		}
	}
	inputs["inline"] = [][]string{decP837(decClaim("A1"), decClaim("A2"), decManyLines("A3", 4))}
	inputs["generated 400"] = transactionBodies(gen.Generate837P(400, 11))
	claimsN := 2100
	if testing.Short() {
		claimsN = 1600
	}
	inputs["generated multi-ST"] = transactionBodies(gen.Generate837P(claimsN, 5))
	compared, claims := 0, 0
	for name, bodies := range inputs {
		for i := range bodies {
			bodies[i] = dropPatientLoops(bodies[i])
		}
		input := decInterchange("005010X222A1", bodies...)
		ours := ourClaims(t, input)
		theirs, err := moovClaims(moovCompatible(input))
		if err != nil {
			t.Logf("%s: moov cannot parse it (%v); skipped", name, err)
			continue
		}
		compared++
		claims += len(ours)
		if len(ours) == 0 || strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
			t.Errorf("%s: claims differ\nours:  %v\nmoov: %v", name, ours, theirs)
			continue
		}
		t.Logf("%s: %d claims in %d transaction sets agree", name, len(ours), len(bodies))
	}
	if compared < 3 || claims < 1000 {
		t.Errorf("compared only %d inputs (%d claims) with moov", compared, claims)
	}
}

// transactionBodies returns the segments between ST and SE of every 837
// transaction set of an input with '*' and '~' delimiters.
func transactionBodies(input []byte) [][]string {
	s := strings.NewReplacer("\r", "", "\n", "").Replace(string(input))
	var out [][]string
	var cur []string
	in := false
	for _, seg := range strings.Split(s, "~") {
		switch {
		case strings.HasPrefix(seg, "ST*837*"):
			in, cur = true, nil
		case strings.HasPrefix(seg, "SE*"):
			if in {
				out = append(out, cur)
			}
			in = false
		case in:
			cur = append(cur, seg)
		}
	}
	return out
}

// dropPatientLoops removes the subscribers that have patient loops (HL 22 with
// HL04 "1", their HL 23 loops and the claims under them): moov's rules put loop
// 2000C after the subscriber's own claims and cannot read a subscriber without
// claims. Both decoders then read the same input.
func dropPatientLoops(body []string) []string {
	var out []string
	skip := false
	for _, seg := range body {
		if f := strings.Split(seg, "*"); f[0] == "HL" && len(f) > 4 {
			switch f[3] {
			case "20":
				skip = false
			case "22":
				skip = f[4] == "1"
			}
		}
		if !skip {
			out = append(out, seg)
		}
	}
	return out
}
