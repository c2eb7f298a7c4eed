// Package gen writes realistic synthetic X12 files for tests and benchmarks.
//
// Everything it writes is synthetic: names, member ids, addresses and control
// numbers are drawn from small made-up lists by a seeded generator, so the same
// arguments always give the same bytes. NPIs carry a valid check digit; codes
// (ICD-10-CM, CPT/HCPCS, taxonomy) are real code values; NDCs have the 11-digit
// shape but are made up.
package gen

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
)

// ClaimsPerTransaction is the number of claims Write837P puts in one ST/SE
// transaction set before it starts the next.
const ClaimsPerTransaction = 1000

// Write837P writes one interchange (ISA/IEA) with one functional group (GS/GE)
// holding 837 Professional (005010X222A1) transaction sets with claims claims in
// all (ClaimsPerTransaction per ST), generated from seed. Segments end with "~"
// and a newline. Envelope counts and control numbers are correct, so the output
// passes strict envelope checks.
//
// The claims vary like real traffic: billing provider loops (HL 20) with
// subscribers (HL 22), a third of whom have a dependent patient (HL 23); one to
// six service lines (LX/SV1/DTP*472/REF*6R) per claim, some with a drug (LIN/CTP);
// some claims carry a prior authorization, a rendering provider, a service
// facility, and about one in ten a coordination-of-benefits loop 2320 (SBR, CAS,
// AMT*D, OI, NM1*IL, NM1*PR) with line adjudication (SVD/CAS/DTP*573).
// About 565 bytes per claim: 20000 claims make about 11.3 MB.
func Write837P(w io.Writer, claims int, seed int64) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	g := &generator{w: bw, rng: rand.New(rand.NewPCG(uint64(seed), 0x837837837))}
	g.interchange(claims)
	return bw.Flush()
}

// Generate837P returns the bytes Write837P writes.
func Generate837P(claims int, seed int64) []byte {
	var b bytes.Buffer
	b.Grow(claims*600 + 1024)
	_ = Write837P(&b, claims, seed) // a bytes.Buffer does not fail
	return b.Bytes()
}

type generator struct {
	w      *bufio.Writer
	rng    *rand.Rand
	b      []byte // segment being built
	segs   int    // segments in the current transaction set
	hl     int    // last HL id in the current transaction set
	pcn    int    // patient control number sequence
	lineNo int    // line item control number sequence
}

var (
	lastNames  = []string{"ALDERWOOD", "BRAMBLE", "CASTELLANE", "DUNMORE", "ELLERBY", "FAIRCHILDE", "GANTRY", "HOLLOWAY", "IVERSEN", "JESSAMINE", "KETTLEWELL", "LARKSPUR", "MARROWAY", "NETTLEFORD", "OAKSHOTT", "PENDERGRASS", "QUILLAN", "ROOKWOOD", "SALTMARSH", "THORNBURY", "UPWOOD", "VANTERPOOL", "WHITLOCKE", "YARBOROUGH"}
	firstNames = []string{"ADA", "BASIL", "CORA", "DESMOND", "EDITH", "FLORIAN", "GRETA", "HUGO", "ISOLDE", "JASPER", "KLARA", "LEOPOLD", "MAGDA", "NILES", "OTTILIE", "PERCIVAL", "ROSALIND", "SILAS", "THEA", "URBAN", "VIOLA", "WENDELL"}
	streets    = []string{"MAIN ST", "OAK AVE", "PINE RD", "MAPLE DR", "CEDAR LN", "ELM ST", "LAKE BLVD", "HILL CT", "RIVER WAY", "PARK PL"}
	cities     = []struct{ city, state, zip string }{
		{"SPRINGFIELD", "IL", "62701"}, {"COLUMBUS", "OH", "43215"}, {"AUSTIN", "TX", "78701"}, {"ALBANY", "NY", "12207"},
		{"SALEM", "OR", "97301"}, {"DOVER", "DE", "19901"}, {"MADISON", "WI", "53703"}, {"RALEIGH", "NC", "27601"},
	}
	orgNames   = []string{"RIVERSIDE FAMILY MEDICINE", "NORTHGATE CLINIC", "LAKEVIEW PHYSICIANS GROUP", "SUMMIT ORTHOPEDICS", "HARBOR PEDIATRICS", "VALLEY INTERNAL MEDICINE"}
	payers     = []struct{ name, id string }{{"ACME HEALTH PLAN", "99999"}, {"BLUEWATER INSURANCE", "88888"}, {"CIVIC MUTUAL", "77777"}}
	diagnoses  = []string{"J449", "E119", "I10", "M545", "Z0000", "R51", "K219", "F329", "E785", "J069", "M1711", "N390", "R0789", "Z23", "E039", "G4733"}
	procedures = []struct {
		code   string
		charge int // cents
	}{{"99213", 12500}, {"99214", 18500}, {"99203", 16000}, {"80053", 4500}, {"85025", 2800}, {"36415", 1200}, {"93000", 6500}, {"71046", 9800}, {"97110", 7500}, {"90471", 3000}, {"J3420", 2500}, {"J1885", 1800}}
	modifiers  = []string{"25", "59", "LT", "RT", "GT"}
	taxonomies = []string{"207Q00000X", "208D00000X", "207R00000X", "208000000X", "207X00000X"}
	places     = []string{"11", "11", "11", "22", "02", "12"}
	cobReasons = []string{"45", "253", "2", "1", "3"}
)

func (g *generator) pick(list []string) string { return list[g.rng.IntN(len(list))] }

// seg starts a segment.
func (g *generator) seg(id string) { g.b = append(g.b[:0], id...) }

// el appends an element.
func (g *generator) el(v string) {
	g.b = append(g.b, '*')
	g.b = append(g.b, v...)
}

// els appends several elements.
func (g *generator) els(v ...string) {
	for _, s := range v {
		g.el(s)
	}
}

// end terminates the segment and writes it.
func (g *generator) end() {
	g.b = append(g.b, '~', '\n')
	g.w.Write(g.b)
	g.segs++
}

// line writes a whole segment from its id and elements.
func (g *generator) line(id string, v ...string) {
	g.seg(id)
	g.els(v...)
	g.end()
}

func money(cents int) string {
	s := strconv.Itoa(cents / 100)
	switch c := cents % 100; {
	case c == 0:
	case c%10 == 0:
		s += "." + strconv.Itoa(c/10)
	default:
		s += "." + strconv.Itoa(c/10) + strconv.Itoa(c%10)
	}
	return s
}

func pad(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// npi returns a 10-digit NPI with a valid Luhn check digit (prefix 80840).
func (g *generator) npi() string {
	d := make([]byte, 10)
	d[0] = '1' + byte(g.rng.IntN(2))
	for i := 1; i < 9; i++ {
		d[i] = '0' + byte(g.rng.IntN(10))
	}
	sum := 24 // the constant for the 80840 prefix
	for i := 8; i >= 0; i-- {
		v := int(d[i] - '0')
		if (8-i)%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	d[9] = '0' + byte((10-sum%10)%10)
	return string(d)
}

func (g *generator) digits(n int) string {
	d := make([]byte, n)
	for i := range d {
		d[i] = '0' + byte(g.rng.IntN(10))
	}
	return string(d)
}

func (g *generator) date(year0, years int) string {
	y := year0 + g.rng.IntN(years)
	m := 1 + g.rng.IntN(12)
	d := 1 + g.rng.IntN(28)
	return pad(y, 4) + pad(m, 2) + pad(d, 2)
}

func (g *generator) address() {
	c := cities[g.rng.IntN(len(cities))]
	g.line("N3", strconv.Itoa(1+g.rng.IntN(9899))+" "+g.pick(streets))
	g.line("N4", c.city, c.state, c.zip+g.digits(4))
}

func (g *generator) interchange(claims int) {
	g.w.WriteString("ISA*00*          *00*          *ZZ*FHIRSYNCSUBMIT *ZZ*FHIRSYNCRECV   *250115*0930*^*00501*000000001*0*T*:~\n")
	g.line("GS", "HC", "FHIRSYNCSUBMIT", "FHIRSYNCRECV", "20250115", "0930", "1", "X", "005010X222A1")
	sets := 0
	for left := claims; left > 0 || sets == 0; {
		n := min(left, ClaimsPerTransaction)
		sets++
		g.transaction(sets, n)
		left -= n
	}
	g.line("GE", strconv.Itoa(sets), "1")
	g.line("IEA", "1", "000000001")
}

func (g *generator) transaction(set, claims int) {
	g.segs, g.hl = 0, 0
	control := pad(set, 4)
	g.line("ST", "837", control, "005010X222A1")
	g.line("BHT", "0019", "00", "B"+pad(set, 6), "20250115", "0930", "CH")
	// Loop 1000A Submitter Name, 1000B Receiver Name
	g.line("NM1", "41", "2", "FHIRSYNC BILLING SERVICE", "", "", "", "", "46", "TGJ23")
	g.line("PER", "IC", "BILLING DESK", "TE", "5555550100", "EM", "edi@example.invalid")
	g.line("NM1", "40", "2", "ACME HEALTH PLAN", "", "", "", "", "46", "66783JJT")
	for claims > 0 {
		claims -= g.billingProvider(claims)
	}
	g.segs++ // SE itself
	g.line("SE", strconv.Itoa(g.segs), control)
}

// billingProvider writes a 2000A loop and its subscribers; it returns the number of claims written.
func (g *generator) billingProvider(max int) int {
	g.hl++
	parent := g.hl
	g.line("HL", strconv.Itoa(parent), "", "20", "1")
	g.line("PRV", "BI", "PXC", g.pick(taxonomies))
	// Loop 2010AA Billing Provider Name
	g.line("NM1", "85", "2", g.pick(orgNames), "", "", "", "", "XX", g.npi())
	g.address()
	g.line("REF", "EI", g.digits(9))
	written := 0
	subscribers := 5 + g.rng.IntN(40)
	for i := 0; i < subscribers && written < max; i++ {
		written += g.subscriber(parent, max-written)
	}
	return written
}

func (g *generator) person() (last, first string) {
	return g.pick(lastNames), g.pick(firstNames)
}

// subscriber writes a 2000B loop (and perhaps a 2000C) with its claims.
func (g *generator) subscriber(parent, max int) int {
	g.hl++
	sub := g.hl
	dependent := g.rng.IntN(3) == 0
	child := "0"
	if dependent {
		child = "1"
	}
	g.line("HL", strconv.Itoa(sub), strconv.Itoa(parent), "22", child)
	rel := "18"
	if dependent {
		rel = ""
	}
	group := "GRP" + g.digits(5)
	g.line("SBR", "P", rel, group, "", "", "", "", "", "CI")
	// Loop 2010BA Subscriber Name
	last, first := g.person()
	g.line("NM1", "IL", "1", last, first, "", "", "", "MI", "W"+g.digits(9))
	g.address()
	g.line("DMG", "D8", g.date(1945, 60), []string{"F", "M"}[g.rng.IntN(2)])
	// Loop 2010BB Payer Name
	p := payers[g.rng.IntN(len(payers))]
	g.line("NM1", "PR", "2", p.name, "", "", "", "", "PI", p.id)
	if dependent {
		g.hl++
		g.line("HL", strconv.Itoa(g.hl), strconv.Itoa(sub), "23", "0")
		g.line("PAT", []string{"01", "19", "19", "G8"}[g.rng.IntN(4)])
		// Loop 2010CA Patient Name
		_, pfirst := g.person()
		g.line("NM1", "QC", "1", last, pfirst)
		g.address()
		g.line("DMG", "D8", g.date(2000, 24), []string{"F", "M"}[g.rng.IntN(2)])
	}
	n := min(max, 1+g.rng.IntN(3))
	for i := 0; i < n; i++ {
		g.claim(p.id)
	}
	return n
}

type svcLine struct {
	code, mod string
	units     int
	charge    int // cents
	drug      bool
}

// claim writes a 2300 loop with its 2310, 2320 and 2400 loops.
func (g *generator) claim(payerID string) {
	g.pcn++
	nlines := 1 + g.rng.IntN(6)
	lines := make([]svcLine, nlines)
	total := 0
	for i := range lines {
		p := procedures[g.rng.IntN(len(procedures))]
		l := svcLine{code: p.code, units: 1 + g.rng.IntN(3)*g.rng.IntN(2), charge: p.charge}
		if g.rng.IntN(4) == 0 {
			l.mod = g.pick(modifiers)
		}
		l.charge *= l.units
		l.drug = p.code[0] == 'J' && g.rng.IntN(2) == 0
		total += l.charge
		lines[i] = l
	}
	pos := g.pick(places)
	freq := "1"
	if g.rng.IntN(25) == 0 {
		freq = "7"
	}
	g.line("CLM", "PCN"+pad(g.pcn, 8), money(total), "", "", pos+":B:"+freq, "Y", "A", "Y", "Y")
	svcDate := g.date(2024, 2)
	if g.rng.IntN(5) == 0 {
		g.line("DTP", "431", "D8", svcDate)
	}
	if freq == "7" {
		g.line("REF", "F8", "PAYERCLM"+g.digits(8))
	}
	if g.rng.IntN(6) == 0 {
		g.line("REF", "G1", "PA"+g.digits(10))
	}
	if g.rng.IntN(3) == 0 {
		g.line("REF", "EA", "MRN"+g.digits(7))
	}
	// HI Health Care Diagnosis Code
	g.seg("HI")
	ndx := 1 + g.rng.IntN(4)
	first := g.rng.IntN(len(diagnoses))
	step := 1 + g.rng.IntN(len(diagnoses)/ndx) // distinct codes
	for i := 0; i < ndx; i++ {
		q := "ABF"
		if i == 0 {
			q = "ABK"
		}
		g.el(q + ":" + diagnoses[(first+i*step)%len(diagnoses)])
	}
	g.end()
	if g.rng.IntN(2) == 0 {
		// Loop 2310B Rendering Provider Name
		last, first := g.person()
		g.line("NM1", "82", "1", last, first, "", "", "", "XX", g.npi())
		g.line("PRV", "PE", "PXC", g.pick(taxonomies))
	}
	if pos == "22" || g.rng.IntN(8) == 0 {
		// Loop 2310C Service Facility Location Name
		g.line("NM1", "77", "2", g.pick(orgNames)+" ANNEX", "", "", "", "", "XX", g.npi())
		g.address()
	}
	cob := g.rng.IntN(10) == 0
	if cob {
		// Loop 2320 Other Subscriber Information
		g.line("SBR", "S", "01", "OG"+g.digits(6), "", "", "", "", "", "CI")
		g.line("CAS", "CO", g.pick(cobReasons), money(total/5))
		g.line("AMT", "D", money(total-total/5))
		g.line("OI", "", "", "Y", "P", "", "Y")
		// Loop 2330A Other Subscriber Name, 2330B Other Payer Name
		last, first := g.person()
		g.line("NM1", "IL", "1", last, first, "", "", "", "MI", "X"+g.digits(9))
		g.address()
		g.line("NM1", "PR", "2", "OTHER COMMUNITY PLAN", "", "", "", "", "PI", "55555")
	}
	for i, l := range lines {
		// Loop 2400 Service Line Number
		g.line("LX", strconv.Itoa(i+1))
		proc := "HC:" + l.code
		if l.mod != "" {
			proc += ":" + l.mod
		}
		ptr := "1"
		if ndx > 1 {
			ptr = "1:" + strconv.Itoa(2+g.rng.IntN(ndx-1))
		}
		g.line("SV1", proc, money(l.charge), "UN", strconv.Itoa(l.units), "", "", ptr)
		g.line("DTP", "472", "D8", svcDate)
		g.lineNo++
		g.line("REF", "6R", "L"+pad(g.lineNo, 9))
		if l.drug {
			// Loop 2410 Drug Identification
			g.line("LIN", "", "N4", "0"+g.digits(10))
			g.line("CTP", "", "", "", strconv.Itoa(1+g.rng.IntN(10)), "UN")
		}
		if cob {
			// Loop 2430 Line Adjudication Information
			paid := l.charge - l.charge/5
			g.line("SVD", "55555", money(paid), proc, "", strconv.Itoa(l.units))
			g.line("CAS", "CO", "45", money(l.charge-paid))
			g.line("DTP", "573", "D8", svcDate)
		}
	}
}
