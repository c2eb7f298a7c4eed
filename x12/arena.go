package x12

// Memory of built records and context loops.
//
// The Decoder builds each unit (a record, or a batch of context loops) into an
// arena: the array of its Segments, its Loops, the child pointers, the
// contextInfo of context loops, and the binding slabs that the typed structs
// and their lists are cut from. The segment bytes themselves are always copied
// into a fresh buffer the unit owns, so that the strings and Segment values
// taken from a record stay valid and immutable in both modes.
//
// By default the arena's buffers are dropped before each build (reset with
// reuse false): every record owns new memory, sized from the counts of its
// segments so that each buffer costs one allocation. With
// Decoder.ReuseRecord, an arena is kept and reset to length zero once every
// record that used it has been released (the next call to Read) and, for
// context loops, once no open loop refers to it: steady-state decoding then
// allocates only the segment bytes.

// arena is the memory of one built unit.
type arena struct {
	segs  []Segment
	loops []Loop
	kids  []*Loop
	infos []contextInfo
	fill  []int32 // scratch of build for interleaved loops
	bind  binding
	pin   uint64 // sequence number of the last record emitted that uses the arena
	epoch int    // byte chunks started by the Decoder when the arena was last scrubbed
	hi    [4]int // high-water marks of segs, loops, kids and infos (see trim)
}

// reset prepares the arena for a new unit: with reuse, its buffers keep their
// memory (scrubbed of stale pointers when scrub is set, see trim); without,
// they are dropped so that the new unit gets its own.
func (a *arena) reset(reuse, scrub bool) {
	if reuse {
		trim(&a.segs, &a.hi[0], scrub)
		trim(&a.loops, &a.hi[1], scrub)
		trim(&a.kids, &a.hi[2], scrub)
		trim(&a.infos, &a.hi[3], scrub)
	} else {
		a.segs, a.loops, a.kids, a.infos = nil, nil, nil, nil
	}
	a.bind.reset(reuse, scrub)
}

// slabs are the lists the binders cut the parts of a typed record from: each
// list of a record (its dates, references, lines, providers...) is a
// contiguous run of one slab, and single structs (a claim, an address, a
// service) are elements of one. See binding.
type slabs struct {
	dates       []DateTimePeriod
	refs        []Ref
	amts        []MonetaryAmount
	qtys        []Quantity
	strs        []string
	prof        []ProfessionalService
	inst        []InstitutionalService
	dent        []DentalService
	procs       []Procedure
	codes       []HealthCareCode
	parties     []Party // context parties and the claim's providers (2310x)
	lineParties []Party // the lines' providers (2420x)
	cobParties  []Party // the other payers' providers (2330C-I)
	addrs       []Address
	prvs        []ProviderInfo
	dmgs        []Demographics
	races       []RaceEthnicity
	contacts    []Contact
	comms       []Communication
	notes       []Note
	pwks        []Attachment
	adjs        []Adjustment
	claims      []Claim837
	lines       []ServiceLine837
	others      []OtherSubscriber837
	lineAdjs    []LineAdjudication837
	drugs       []Drug837
	teeth       []Tooth
	conds       []ConditionIndicator
	toothSt     []ToothStatus
	contracts   []Contract
	cl1s        []InstitutionalInfo
	cr1s        []AmbulanceTransport
	dn1s        []Orthodontics
	ois         []OtherInsurance
	mias        []InpatientAdjudication
	moas        []OutpatientAdjudication
	headers     []Header837
	bprovs      []BillingProvider837
	subs        []Subscriber837
	pats        []Patient837
	patInfos    []PatientInfo

	hi [42]int // high-water marks of the slabs (see trim)
}

// reset empties the slabs, keeping their memory with reuse, dropping it
// without.
func (s *slabs) reset(reuse, scrub bool) {
	if !reuse {
		*s = slabs{}
		return
	}
	// One trim per slab, each with its own high-water mark.
	trim(&s.dates, &s.hi[0], scrub)
	trim(&s.refs, &s.hi[1], scrub)
	trim(&s.amts, &s.hi[2], scrub)
	trim(&s.qtys, &s.hi[3], scrub)
	trim(&s.strs, &s.hi[4], scrub)
	trim(&s.prof, &s.hi[5], scrub)
	trim(&s.inst, &s.hi[6], scrub)
	trim(&s.dent, &s.hi[7], scrub)
	trim(&s.procs, &s.hi[8], scrub)
	trim(&s.codes, &s.hi[9], scrub)
	trim(&s.parties, &s.hi[10], scrub)
	trim(&s.lineParties, &s.hi[11], scrub)
	trim(&s.cobParties, &s.hi[12], scrub)
	trim(&s.addrs, &s.hi[13], scrub)
	trim(&s.prvs, &s.hi[14], scrub)
	trim(&s.dmgs, &s.hi[15], scrub)
	trim(&s.races, &s.hi[16], scrub)
	trim(&s.contacts, &s.hi[17], scrub)
	trim(&s.comms, &s.hi[18], scrub)
	trim(&s.notes, &s.hi[19], scrub)
	trim(&s.pwks, &s.hi[20], scrub)
	trim(&s.adjs, &s.hi[21], scrub)
	trim(&s.claims, &s.hi[22], scrub)
	trim(&s.lines, &s.hi[23], scrub)
	trim(&s.others, &s.hi[24], scrub)
	trim(&s.lineAdjs, &s.hi[25], scrub)
	trim(&s.drugs, &s.hi[26], scrub)
	trim(&s.teeth, &s.hi[27], scrub)
	trim(&s.conds, &s.hi[28], scrub)
	trim(&s.toothSt, &s.hi[29], scrub)
	trim(&s.contracts, &s.hi[30], scrub)
	trim(&s.cl1s, &s.hi[31], scrub)
	trim(&s.cr1s, &s.hi[32], scrub)
	trim(&s.dn1s, &s.hi[33], scrub)
	trim(&s.ois, &s.hi[34], scrub)
	trim(&s.mias, &s.hi[35], scrub)
	trim(&s.moas, &s.hi[36], scrub)
	trim(&s.headers, &s.hi[37], scrub)
	trim(&s.bprovs, &s.hi[38], scrub)
	trim(&s.subs, &s.hi[39], scrub)
	trim(&s.pats, &s.hi[40], scrub)
	trim(&s.patInfos, &s.hi[41], scrub)
}

// trim empties slab s for reuse. *hi is the high-water mark of the lengths
// used since the last scrub: the elements below it may still point to the
// byte chunks of old records. With scrub, they are cleared, so that stale
// elements never keep more than the chunks used since the last scrub alive.
func trim[T any](s *[]T, hi *int, scrub bool) {
	*hi = max(*hi, len(*s))
	if scrub {
		clear((*s)[:*hi])
		*hi = 0
	}
	*s = (*s)[:0]
}

// take appends a zero T to slab s and returns a pointer to it. The pointer
// stays valid when the slab grows later (the element stays where it is; the
// grown slab holds a copy).
func take[T any](s *[]T) *T {
	n := len(*s)
	if n == cap(*s) {
		var zero T
		*s = append(*s, zero)
		return &(*s)[n]
	}
	*s = (*s)[:n+1]
	clear((*s)[n:])
	return &(*s)[n]
}

// reserve makes room for n more elements in slab s, so that the next n appends
// do not move it. A nil slab gets exactly n (one allocation per record in the
// default mode); a used one grows geometrically.
func reserve[T any](s *[]T, n int) {
	if cap(*s)-len(*s) >= n {
		return
	}
	c := len(*s) + n
	if cap(*s) > 0 {
		c = max(c, 2*cap(*s))
	}
	ns := make([]T, len(*s), c)
	copy(ns, *s)
	*s = ns
}

// cut returns the part of a slab appended since start (nil when none), with its
// capacity clipped so that appending to it never touches the slab.
func cut[T any](slab []T, start int) []T {
	if len(slab) == start {
		return nil
	}
	return slab[start:len(slab):len(slab)]
}

// sized returns a slice of length n reusing the memory of buf when it is large
// enough (buf's content is overwritten).
func sized[T any](buf []T, n int) []T {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]T, n, max(n, 2*cap(buf)))
}
