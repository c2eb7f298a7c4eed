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
}

// reset prepares the arena for a new unit: with reuse, its buffers keep their
// memory (scrubbed of stale pointers when scrub is set, see trim); without,
// they are dropped so that the new unit gets its own.
func (a *arena) reset(reuse, scrub bool) {
	if reuse {
		trim(&a.segs, scrub)
		trim(&a.loops, scrub)
		trim(&a.kids, scrub)
		trim(&a.infos, scrub)
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
}

// reset empties the slabs, keeping their memory with reuse, dropping it
// without.
func (s *slabs) reset(reuse, scrub bool) {
	if !reuse {
		*s = slabs{}
		return
	}
	trim(&s.dates, scrub)
	trim(&s.refs, scrub)
	trim(&s.amts, scrub)
	trim(&s.qtys, scrub)
	trim(&s.strs, scrub)
	trim(&s.prof, scrub)
	trim(&s.inst, scrub)
	trim(&s.dent, scrub)
	trim(&s.procs, scrub)
	trim(&s.codes, scrub)
	trim(&s.parties, scrub)
	trim(&s.lineParties, scrub)
	trim(&s.cobParties, scrub)
	trim(&s.addrs, scrub)
	trim(&s.prvs, scrub)
	trim(&s.dmgs, scrub)
	trim(&s.races, scrub)
	trim(&s.contacts, scrub)
	trim(&s.comms, scrub)
	trim(&s.notes, scrub)
	trim(&s.pwks, scrub)
	trim(&s.adjs, scrub)
	trim(&s.claims, scrub)
	trim(&s.lines, scrub)
	trim(&s.others, scrub)
	trim(&s.lineAdjs, scrub)
	trim(&s.drugs, scrub)
	trim(&s.teeth, scrub)
	trim(&s.conds, scrub)
	trim(&s.toothSt, scrub)
	trim(&s.contracts, scrub)
	trim(&s.cl1s, scrub)
	trim(&s.cr1s, scrub)
	trim(&s.dn1s, scrub)
	trim(&s.ois, scrub)
	trim(&s.mias, scrub)
	trim(&s.moas, scrub)
	trim(&s.headers, scrub)
	trim(&s.bprovs, scrub)
	trim(&s.subs, scrub)
	trim(&s.pats, scrub)
	trim(&s.patInfos, scrub)
}

// trim empties slab s for reuse. Its elements, up to its capacity, may still
// point to the byte chunks of old records. With scrub, they are cleared, so
// that stale elements never keep more than the chunks used since the last
// scrub alive. (Clearing the whole capacity once per chunk costs less than
// keeping a high-water mark of every slab up to date for every record.)
func trim[T any](s *[]T, scrub bool) {
	if scrub {
		clear((*s)[:cap(*s)])
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
