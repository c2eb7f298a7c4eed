package x12

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
	"unsafe"
)

// Binding: the per-transaction binders turn a loop tree into typed structs. They
// read the elements they need, check what the mapping depends on (required
// segments and elements, dates, amounts, code values) and record the first
// problem as a *SyntaxError positioned at the segment, element and component.

// binder is the per-transaction part of the Decoder: how to type the context
// loops and the records of one family of loop tables.
type binder struct {
	// context returns the typed value of context loop l (nil when the loop has
	// none) after checking it.
	context func(b *binding, l *Loop) any
	// record types one record whose loop tree and base are in base.
	record func(b *binding, base recordBase) Record
}

// binding collects the first error found while typing a loop. It also holds
// the slabs the typed parts are cut from (see arena.go): the lists of a record
// (dates, references, lines...) are contiguous runs of one backing array each,
// and its single structs are elements of one, instead of one allocation per
// list or struct.
type binding struct {
	err    *SyntaxError
	counts *[256]uint16 // segments of the record by segIndex, when known
	slabs
}

// reset prepares the binding for a new unit (see arena.reset).
func (b *binding) reset(reuse, scrub bool) {
	b.err, b.counts = nil, nil
	b.slabs.reset(reuse, scrub)
}

// marks records where the lists of a loop start in the slabs.
type marks struct{ d, r, a, q int }

func (b *binding) mark() marks { return marks{len(b.dates), len(b.refs), len(b.amts), len(b.qtys)} }

// prealloc sizes the slabs for the record rooted at l and returns the number
// of HI composites of l itself. It uses the Decoder's counts of the record's
// segments when it has them.
func (b *binding) prealloc(l *Loop) (nHI int) {
	for i := range l.Segments {
		if segCode(&l.Segments[i]) == cHI {
			nHI += l.Segments[i].Len()
		}
	}
	var cnt *[256]uint16
	if b.counts != nil {
		cnt = b.counts
	} else {
		cnt = new([256]uint16)
		l.Walk(func(x *Loop) bool {
			for i := range x.Segments {
				cnt[segIndex[segCode(&x.Segments[i])]]++
			}
			return true
		})
	}
	n := func(code uint16) int { return int(cnt[segIndex[code]]) }
	reserve(&b.claims, 1)
	reserve(&b.codes, nHI)
	reserve(&b.lines, n(cLX))
	reserve(&b.dates, n(cDTP))
	reserve(&b.refs, n(cREF))
	reserve(&b.amts, n(cAMT))
	reserve(&b.qtys, n(cQTY))
	reserve(&b.prof, n(cSV1))
	reserve(&b.inst, n(cSV2))
	reserve(&b.dent, n(cSV3))
	reserve(&b.addrs, max(n(cN3), n(cN4)))
	reserve(&b.prvs, n(cPRV))
	reserve(&b.others, n(cSBR))
	reserve(&b.lineAdjs, n(cSVD))
	reserve(&b.adjs, 2*n(cCAS))
	reserve(&b.drugs, n(cLIN))
	reserve(&b.ois, n(cOI))
	// Diagnosis pointers and modifiers: four per line on average.
	reserve(&b.strs, 4*(n(cSV1)+n(cSV3))+n(cCLM))
	return nHI
}

// reserveParties sizes the slabs of the name loops (addresses,
// demographics, taxonomies, references, dates, contacts) of a batch of
// context loops from the counts of its segments by segIndex.
func (b *binding) reserveParties(cnt *[256]uint16) {
	n := func(code uint16) int { return int(cnt[segIndex[code]]) }
	reserve(&b.addrs, max(n(cN3), n(cN4)))
	reserve(&b.dmgs, n(cDMG))
	reserve(&b.prvs, n(cPRV))
	reserve(&b.refs, n(cREF))
	reserve(&b.dates, n(cDTP))
	reserve(&b.contacts, n(cPER))
}

func (b *binding) fail(e *SyntaxError) {
	if b.err == nil {
		b.err = e
	}
}

// elementName returns "CLM02" or "CLM05-3", built only from the segment id and
// positions (never values).
func elementName(id string, elem, comp int) string {
	buf := make([]byte, 0, 10)
	buf = append(buf, id...)
	if elem < 10 {
		buf = append(buf, '0')
	}
	buf = strconv.AppendInt(buf, int64(elem), 10)
	if comp > 0 {
		buf = append(buf, '-')
		buf = strconv.AppendInt(buf, int64(comp), 10)
	}
	return string(buf)
}

// elemError builds an element error. The value is copied: it must not keep
// the record's memory (which a Decoder with ReuseRecord recycles) alive or
// depend on it.
func elemError(s *fields, elem, comp int, err error, ik4, detail, value string) *SyntaxError {
	p := s.Pos()
	p.Element, p.Component = elem, comp
	return &SyntaxError{Pos: p, Err: err, IK3: "8", IK4: ik4, detail: detail, value: strings.Clone(value)}
}

// missing reports required element elem (component comp, 0 for the whole
// element) of s as missing.
func (b *binding) missing(s *fields, elem, comp int) {
	if b.err != nil {
		return
	}
	b.fail(elemError(s, elem, comp, ErrRequiredElement, "1", elementName(s.ID(), elem, comp)+" is required", ""))
}

// invalid reports element elem of s as holding an invalid value.
func (b *binding) invalid(s *fields, elem, comp int, ik4, what, value string) {
	if b.err != nil {
		return
	}
	b.fail(elemError(s, elem, comp, ErrInvalidValue, ik4, elementName(s.ID(), elem, comp)+" "+what, value))
}

// req returns element i of s, reporting it when empty.
func (b *binding) req(s *fields, i int) string {
	v := s.Element(i)
	if v == "" {
		b.missing(s, i, 0)
	}
	return v
}

// reqComp returns component j of element i of s, reporting it when empty.
func (b *binding) reqComp(s *fields, i, j int) string {
	v := s.Component(i, j)
	if v == "" {
		b.missing(s, i, j)
	}
	return v
}

// oneOf checks that element i of s, when present, is one of the codes.
func (b *binding) oneOf(s *fields, i int, v string, codes ...string) {
	if v == "" {
		return
	}
	for _, c := range codes {
		if v == c {
			return
		}
	}
	b.invalid(s, i, 0, "7", "is not a valid code", v)
}

// amount returns element i of s as an Amount, checking its syntax; required
// reports it when empty.
func (b *binding) amount(s *fields, i int, required bool) Amount {
	v := s.Element(i)
	if v == "" {
		if required {
			b.missing(s, i, 0)
		}
		return ""
	}
	if !validAmount(v) {
		b.invalid(s, i, 0, "6", "is not a decimal number", v)
	}
	return Amount(v)
}

// compAmount is amount for component j of element i.
func (b *binding) compAmount(s *fields, i, j int) Amount {
	v := s.Component(i, j)
	if v != "" && !validAmount(v) {
		b.invalid(s, i, j, "6", "is not a decimal number", v)
	}
	return Amount(v)
}

// date checks element i of s, when present, as a D8 date.
func (b *binding) date(s *fields, i int, required bool) string {
	v := s.Element(i)
	if v == "" {
		if required {
			b.missing(s, i, 0)
		}
		return ""
	}
	if !checkYMD(v) {
		b.invalid(s, i, 0, "8", "is not a CCYYMMDD date", v)
	}
	return v
}

// dated checks a date value v in element i of s whose format qualifier is fmt.
func (b *binding) dated(s *fields, i int, format, v string) {
	if v == "" || b.err != nil {
		return
	}
	switch ik4 := checkPeriod(format, v); ik4 {
	case "":
	case "7":
		b.invalid(s, i-1, 0, "7", "is not a date/time format qualifier", format)
	default:
		b.invalid(s, i, 0, ik4, "does not match its format "+knownFormat(format), v)
	}
}

// knownFormat returns f when it is one of the known format qualifiers (so that
// error details hold only constants).
func knownFormat(f string) string {
	switch f {
	case "D8", "RD8", "DT", "RDT", "TM":
		return f
	}
	return "qualifier"
}

// dtp types and checks a DTP segment.
func (b *binding) dtp(s *fields) DateTimePeriod {
	d := DateTimePeriod{Qualifier: s.Element(1), Format: s.Element(2), Value: s.Element(3)}
	if d.Qualifier != "" && d.Format == "D8" && checkYMD(d.Value) {
		return d // the common case, valid
	}
	b.checkDTP(s, &d)
	return d
}

// checkDTP checks the elements of a DTP segment.
func (b *binding) checkDTP(s *fields, d *DateTimePeriod) {
	for i, v := range [3]string{d.Qualifier, d.Format, d.Value} {
		if v == "" {
			b.missing(s, i+1, 0)
		}
	}
	if d.Format != "" {
		b.dated(s, 3, d.Format, d.Value)
	}
}

// dtm types and checks a DTM segment (835).
func (b *binding) dtm(s *fields) DateTime {
	d := DateTime{Qualifier: b.req(s, 1), Date: b.date(s, 2, true), Time: s.Element(3)}
	if d.Time != "" {
		if _, err := ParseTime(d.Time); err != nil {
			b.invalid(s, 3, 0, "9", "is not a time", d.Time)
		}
	}
	return d
}

func ref(s *fields) Ref {
	r := Ref{Qualifier: s.Element(1), Value: s.Element(2), Description: s.Element(3)}
	if s.Element(4) != "" {
		r.OtherQualifier, r.Other = s.Component(4, 1), s.Component(4, 2)
	}
	return r
}

func (b *binding) ref(s *fields) Ref {
	r := ref(s)
	if r.Qualifier == "" {
		b.missing(s, 1, 0)
	}
	return r
}

// addRef appends the REF segment s to the refs slab.
func (b *binding) addRef(s *fields) {
	b.refs = append(b.refs, ref(s))
	if s.Element(1) == "" {
		b.missing(s, 1, 0)
	}
}

func (b *binding) amt(s *fields) MonetaryAmount {
	return MonetaryAmount{Qualifier: b.req(s, 1), Amount: b.amount(s, 2, true)}
}

func (b *binding) qty(s *fields) Quantity {
	q := Quantity{Qualifier: b.req(s, 1), Quantity: b.req(s, 2)}
	if q.Quantity != "" && !validAmount(q.Quantity) {
		b.invalid(s, 2, 0, "6", "is not a number", q.Quantity)
	}
	return q
}

func nte(s *fields) Note { return Note{Reference: s.Element(1), Text: s.Element(2)} }

func pwk(s *fields) Attachment {
	return Attachment{ReportType: s.Element(1), Transmission: s.Element(2), IDQualifier: s.Element(5), ID: s.Element(6)}
}

func nm1(s *fields) Entity {
	return Entity{Code: s.Element(1), Type: s.Element(2), LastOrOrgName: s.Element(3), First: s.Element(4),
		Middle: s.Element(5), Prefix: s.Element(6), Suffix: s.Element(7), IDQualifier: s.Element(8), ID: s.Element(9),
		Relationship: s.Element(10)}
}

func n1(s *fields) Entity {
	return Entity{Code: s.Element(1), LastOrOrgName: s.Element(2), IDQualifier: s.Element(3), ID: s.Element(4)}
}

func (b *binding) per(s *fields) Contact {
	c := Contact{Function: s.Element(1), Name: s.Element(2)}
	start := len(b.comms)
	for i := 3; i <= 7; i += 2 {
		if q, n := s.Element(i), s.Element(i+1); q != "" || n != "" {
			b.comms = append(b.comms, Communication{Qualifier: q, Number: n})
		}
	}
	c.Numbers = cut(b.comms, start)
	return c
}

func (b *binding) prv(s *fields) *ProviderInfo {
	p := take(&b.prvs)
	*p = ProviderInfo{Code: s.Element(1), IDQualifier: s.Element(2), Taxonomy: s.Element(3)}
	return p
}

func (b *binding) dmg(s *fields) *Demographics {
	d := take(&b.dmgs)
	*d = Demographics{DateFormat: s.Element(1), BirthDate: s.Element(2), Gender: s.Element(3),
		MaritalStatus: s.Element(4), Citizenship: s.Element(6)}
	if d.BirthDate != "" {
		if d.DateFormat != "D8" {
			b.invalid(s, 1, 0, "7", "is not D8", d.DateFormat)
		}
		b.date(s, 2, false)
	}
	if n := s.Repetitions(5); n > 0 {
		start := len(b.races)
		for r := 1; r <= n; r++ {
			b.races = append(b.races, RaceEthnicity{Code: s.RepetitionComponent(5, r, 1),
				CodeQualifier: s.RepetitionComponent(5, r, 2), Detailed: s.RepetitionComponent(5, r, 3)})
		}
		d.RaceEthnicity = cut(b.races, start)
	}
	return d
}

// cas appends the adjustments of a CAS segment, checking the amounts.
func (b *binding) cas(dst []Adjustment, s *fields) []Adjustment {
	group := b.req(s, 1)
	if group != "" {
		b.oneOf(s, 1, group, "CO", "CR", "OA", "PI", "PR")
	}
	n := 0
	for i := 2; i <= 17; i += 3 {
		reason := s.Element(i)
		amount := b.amount(s, i+1, reason != "")
		qty := s.Element(i + 2)
		if reason == "" && amount == "" && qty == "" {
			continue
		}
		if reason == "" {
			b.missing(s, i, 0)
		}
		n++
		dst = append(dst, Adjustment{Group: group, Reason: reason, Amount: amount, Quantity: qty})
	}
	if n == 0 {
		b.missing(s, 2, 0)
	}
	return dst
}

// procedure types a composite procedure identifier in element i of s.
func (b *binding) procedure(s *fields, i int) Procedure {
	var p Procedure
	b.procedureInto(&p, s, i)
	return p
}

// procedureInto types a composite procedure identifier in element i of s into
// p, which must be zero: -1 qualifier, -2 code, -3 to -6 modifiers (empty
// positions kept, trailing empty ones dropped), -7 description.
func (b *binding) procedureInto(p *Procedure, s *fields, i int) {
	e := s.firstRep(i)
	sep := s.comp
	if sep == 0 {
		p.Qualifier = e
		return
	}
	start := len(b.strs)
	keep := start // length of strs up to the last non-empty modifier
	k, begin := 1, 0
	for j := 0; j <= len(e) && k <= 7; j++ {
		if j < len(e) && e[j] != sep {
			continue
		}
		v := e[begin:j]
		switch k {
		case 1:
			p.Qualifier = v
		case 2:
			p.Code = v
		case 7:
			p.Description = v
		default: // 3 to 6
			b.strs = append(b.strs, v)
			if v != "" {
				keep = len(b.strs)
			}
		}
		k++
		begin = j + 1
	}
	b.strs = b.strs[:keep]
	p.Modifiers = cut(b.strs, start)
}

// reqProcedure reports the qualifier and code of the procedure p (element 1
// of s) when missing.
func (b *binding) reqProcedure(s *fields, p *Procedure) {
	if p.Qualifier == "" {
		b.missing(s, 1, 1)
	}
	if p.Code == "" {
		b.missing(s, 1, 2)
	}
}

// components returns the components from..to (1-based) of element i, trailing
// empty ones dropped; nil when all are empty.
func (b *binding) components(s *fields, i, from, to int) []string {
	e := s.firstRep(i)
	if e == "" {
		return nil
	}
	sep := s.comp
	start := len(b.strs)
	keep := start // length of strs up to the last non-empty component
	k, begin := 1, 0
	for j := 0; j <= len(e) && k <= to; j++ {
		if j < len(e) && (sep == 0 || e[j] != sep) {
			continue
		}
		if k >= from {
			v := e[begin:j]
			b.strs = append(b.strs, v)
			if v != "" {
				keep = len(b.strs)
			}
		}
		k++
		begin = j + 1
	}
	b.strs = b.strs[:keep]
	return cut(b.strs, start)
}

// elements returns the non-empty elements among positions.
func (b *binding) elements(s *fields, positions ...int) []string {
	start := len(b.strs)
	for _, i := range positions {
		if v := s.Element(i); v != "" {
			b.strs = append(b.strs, v)
		}
	}
	return cut(b.strs, start)
}

func mia(b *binding, s *fields) *InpatientAdjudication {
	m := take(&b.mias)
	*m = InpatientAdjudication{
		CoveredDays: s.Element(1), PPSOperatingOutlier: b.amount(s, 2, false), LifetimePsychiatricDays: s.Element(3),
		DRGAmount: b.amount(s, 4, false), DisproportionateShare: b.amount(s, 6, false), MSPPassThrough: b.amount(s, 7, false),
		PPSCapital: b.amount(s, 8, false), PPSCapitalFSPDRG: b.amount(s, 9, false), PPSCapitalHSPDRG: b.amount(s, 10, false),
		PPSCapitalDSHDRG: b.amount(s, 11, false), OldCapital: b.amount(s, 12, false), PPSCapitalIME: b.amount(s, 13, false),
		PPSOperatingHospitalSpecificDRG: b.amount(s, 14, false), CostReportDays: s.Element(15),
		PPSOperatingFederalSpecificDRG: b.amount(s, 16, false), PPSCapitalOutlier: b.amount(s, 17, false), IndirectTeaching: b.amount(s, 18, false),
		NonPayableProfessional: b.amount(s, 19, false), PPSCapitalException: b.amount(s, 24, false),
		Remarks: b.elements(s, 5, 20, 21, 22, 23),
	}
	return m
}

func moa(b *binding, s *fields) *OutpatientAdjudication {
	m := take(&b.moas)
	*m = OutpatientAdjudication{
		ReimbursementRate: s.Element(1), HCPCSPayable: b.amount(s, 2, false), Remarks: b.elements(s, 3, 4, 5, 6, 7),
		ESRDPayment: b.amount(s, 8, false), NonPayableProfessional: b.amount(s, 9, false),
	}
	return m
}

// party types a name loop: its NM1 or N1 and the N3, N4, REF, PER, PRV, DMG and
// DTP segments it holds.
func (b *binding) party(l *Loop) Party {
	var p Party
	b.partyInto(&p, l)
	return p
}

// partyInto types a name loop into p, which it overwrites.
func (b *binding) partyInto(p *Party, l *Loop) {
	*p = Party{LoopID: l.ID, Loop: l}
	m := b.mark()
	contacts := len(b.contacts)
	seenName := false
	var sc fields
	for _, seg := range l.Segments {
		s := sc.split(seg)
		switch s.code {
		case cNM1:
			if !seenName {
				p.Entity, seenName = nm1(s), true
			}
		case cN1:
			if !seenName {
				p.Entity, seenName = n1(s), true
			}
		case cN3:
			if p.Address == nil {
				p.Address = take(&b.addrs)
			}
			p.Address.Line1, p.Address.Line2 = b.req(s, 1), s.Element(2)
		case cN4:
			if p.Address == nil {
				p.Address = take(&b.addrs)
			}
			a := p.Address
			a.City, a.State, a.PostalCode, a.Country = s.Element(1), s.Element(2), s.Element(3), s.Element(4)
			a.LocationQualifier, a.LocationID, a.CountrySubdivision = s.Element(5), s.Element(6), s.Element(7)
		case cREF:
			b.addRef(s)
		case cPER:
			b.contacts = append(b.contacts, b.per(s))
		case cPRV:
			p.Provider = b.prv(s)
		case cDMG:
			p.Demographics = b.dmg(s)
		case cDTP:
			b.dates = append(b.dates, b.dtp(s))
		}
	}
	p.Refs, p.Dates, p.Contacts = cut(b.refs, m.r), cut(b.dates, m.d), cut(b.contacts, contacts)
}

// partyPtr types the first child loop of l with the given id, nil when absent.
func (b *binding) partyPtr(l *Loop, id string) *Party {
	c := l.Child(id)
	if c == nil {
		return nil
	}
	p := take(&b.parties)
	b.partyInto(p, c)
	return p
}

// requireChild returns the first child loop of l with id, reporting it as a
// missing segment (its leading segment, lead) when absent.
func (b *binding) requireChild(l *Loop, id, lead string) *Loop {
	c := l.Child(id)
	if c == nil {
		b.missingSegment(l, lead, "loop "+id+" is required")
	}
	return c
}

// missingSegment reports a required segment (or loop, by its leading segment)
// missing from loop l.
func (b *binding) missingSegment(l *Loop, id, detail string) {
	if b.err != nil {
		return
	}
	p := l.Lead().Pos()
	p.SegmentID = id
	p.Element, p.Component = 0, 0
	b.fail(&SyntaxError{Pos: p, Err: ErrMissingSegment, IK3: "3", detail: detail})
}

// Segment id codes the binders switch on (comparing codes is cheaper than
// comparing id strings; as constants, a switch on them compiles to a binary
// search). TestBinderCodes checks them against idCode.
const (
	cAMT uint16 = 465   // AMT
	cBGN uint16 = 1569  // BGN
	cCAS uint16 = 2684  // CAS
	cCL1 uint16 = 3100  // CL1
	cCLM uint16 = 3085  // CLM
	cCLP uint16 = 3088  // CLP
	cCN1 uint16 = 3174  // CN1
	cCOB uint16 = 3185  // COB
	cCR1 uint16 = 3322  // CR1
	cCRC uint16 = 3297  // CRC
	cCTP uint16 = 3384  // CTP
	cCUR uint16 = 3423  // CUR
	cDMG uint16 = 4448  // DMG
	cDN1 uint16 = 4506  // DN1
	cDN2 uint16 = 4507  // DN2
	cDSB uint16 = 4665  // DSB
	cDTM uint16 = 4713  // DTM
	cDTP uint16 = 4716  // DTP
	cHD  uint16 = 9436  // HD
	cHI  uint16 = 9621  // HI
	cIDC uint16 = 10771 // IDC
	cINS uint16 = 11157 // INS
	cLIN uint16 = 14963 // LIN
	cLQ  uint16 = 15245 // LQ
	cLX  uint16 = 15504 // LX
	cMIA uint16 = 16282 // MIA
	cMOA uint16 = 16504 // MOA
	cN1  uint16 = 18316 // N1
	cN3  uint16 = 18390 // N3
	cN4  uint16 = 18427 // N4
	cNM1 uint16 = 17789 // NM1
	cNTE uint16 = 18025 // NTE
	cOI  uint16 = 18945 // OI
	cPER uint16 = 20147 // PER
	cPRV uint16 = 20632 // PRV
	cPWK uint16 = 20806 // PWK
	cQTY uint16 = 22041 // QTY
	cREF uint16 = 22799 // REF
	cSBR uint16 = 24032 // SBR
	cSV1 uint16 = 24782 // SV1
	cSV2 uint16 = 24783 // SV2
	cSV3 uint16 = 24784 // SV3
	cSVC uint16 = 24757 // SVC
	cSVD uint16 = 24758 // SVD
	cTOO uint16 = 25842 // TOO
)

// maxSplit is the number of elements fields indexes: the binders read no
// element beyond (the highest they read is MIA24). It is a power of two minus
// one: Element masks indexes with it.
const maxSplit = 31

// fields is a segment split into its elements once, so that the binders read
// elements in constant time. Strings share the owned segment's memory.
type fields struct {
	seg       Segment
	code      uint16 // segment id code
	s         string
	end       [maxSplit + 1]int32 // end[i] is the offset just after element i (0: the id)
	n         int                 // number of elements after the id (as present)
	m         int                 // elements indexed by end: min(n, maxSplit)
	comp, rep byte
}

// split splits s into f and returns f.
func (f *fields) split(s Segment) *fields {
	f.seg = s
	f.code = segCode(&s)
	raw := s.Raw()
	f.s = ""
	if len(raw) > 0 {
		f.s = unsafe.String(&raw[0], len(raw))
		if !s.Owned() {
			f.s = string(raw)
		}
	}
	d := s.Delimiters()
	f.comp, f.rep = d.Component, d.Repetition
	if s.isISA() {
		f.comp, f.rep = 0, 0
	}
	sep := d.Element
	n := 0
	// Eight bytes at a time (see indexSep); the tail is the last eight bytes
	// of the segment without those already seen, or a byte loop when the
	// segment is shorter than eight bytes.
	pat := swarLo * uint64(sep)
	i := 0
	for ; i+8 <= len(raw); i += 8 {
		for t := zeroBytes(binary.LittleEndian.Uint64(raw[i:]) ^ pat); t != 0; t &= t - 1 {
			if n <= maxSplit {
				f.end[n] = int32(i + bits.TrailingZeros64(t)>>3)
			}
			n++
		}
	}
	if i < len(raw) && len(raw) >= 8 {
		base := len(raw) - 8
		t := zeroBytes(binary.LittleEndian.Uint64(raw[base:]) ^ pat)
		t &^= 1<<(8*uint(i-base)) - 1 // the bytes before i were seen
		for ; t != 0; t &= t - 1 {
			if n <= maxSplit {
				f.end[n] = int32(base + bits.TrailingZeros64(t)>>3)
			}
			n++
		}
		i = len(raw)
	}
	for ; i < len(raw); i++ {
		if raw[i] == sep {
			if n <= maxSplit {
				f.end[n] = int32(i)
			}
			n++
		}
	}
	if n <= maxSplit {
		f.end[n] = int32(len(raw))
	}
	f.n, f.m = n, min(n, maxSplit)
	return f
}

// ID returns the segment id.
func (f *fields) ID() string { return f.seg.ID() }

// Pos returns the segment position.
func (f *fields) Pos() Position { return f.seg.Pos() }

// Len returns the number of elements after the id.
func (f *fields) Len() int { return f.n }

// Element returns element i (1 to maxSplit), "" when absent.
func (f *fields) Element(i int) string {
	if uint(i-1) < uint(f.m) {
		return f.s[f.end[(i-1)&maxSplit]+1 : f.end[i&maxSplit]]
	}
	return ""
}

// firstRep returns element i cut at its first repetition separator.
func (f *fields) firstRep(i int) string {
	e := f.Element(i)
	if f.rep != 0 {
		for k := 0; k < len(e); k++ {
			if e[k] == f.rep {
				return e[:k]
			}
		}
	}
	return e
}

// Component returns component j (1-based) of the first repetition of element i.
func (f *fields) Component(i, j int) string {
	return nth(f.firstRep(i), f.comp, j)
}

// Repetitions returns the number of repetitions of element i.
func (f *fields) Repetitions(i int) int {
	e := f.Element(i)
	if e == "" {
		return 0
	}
	if f.rep == 0 {
		return 1
	}
	return strings.Count(e, string(f.rep)) + 1
}

// RepetitionComponent returns component j of repetition r of element i (j = 0:
// the whole repetition).
func (f *fields) RepetitionComponent(i, r, j int) string {
	e := f.Element(i)
	if f.rep != 0 {
		e = nth(e, f.rep, r)
	} else if r != 1 {
		return ""
	}
	if j == 0 {
		return e
	}
	return nth(e, f.comp, j)
}

// nth returns field j (1-based) of e split on sep; e itself for j = 1 when sep
// is 0. Elements are short: a byte loop beats IndexByte here.
func nth(e string, sep byte, j int) string {
	if j < 1 {
		return ""
	}
	if sep == 0 {
		if j == 1 {
			return e
		}
		return ""
	}
	start := 0
	for i := 0; i < len(e); i++ {
		if e[i] == sep {
			if j == 1 {
				return e[start:i]
			}
			j--
			start = i + 1
		}
	}
	if j == 1 {
		return e[start:]
	}
	return ""
}

// maxComps is the number of components comps splits.
const maxComps = 8

// comps splits the first repetition of element i into its components (up to
// maxComps; the rest of the element stays in the last one).
func (f *fields) comps(i int, c *[maxComps]string) {
	e := f.firstRep(i)
	if e == "" {
		return
	}
	sep := f.comp
	n, start := 0, 0
	if sep != 0 {
		for k := 0; k < len(e) && n < maxComps-1; k++ {
			if e[k] == sep {
				c[n] = e[start:k]
				n++
				start = k + 1
			}
		}
	}
	c[n] = e[start:]
}

// find splits the first of l's own segments with id into f.
func (f *fields) find(l *Loop, id string) (*fields, bool) {
	s, ok := l.Segment(id)
	if !ok {
		return f, false
	}
	return f.split(s), true
}
