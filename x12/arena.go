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
	hi    [4]int // high-water marks of segs, loops, kids and infos (see trim)
}

// reset prepares the arena for a new unit: with reuse, its buffers keep their
// memory; without, they are dropped so that the new unit gets its own.
func (a *arena) reset(reuse bool) {
	if reuse {
		trim(&a.segs, &a.hi[0])
		trim(&a.loops, &a.hi[1])
		trim(&a.kids, &a.hi[2])
		trim(&a.infos, &a.hi[3])
	} else {
		a.segs, a.loops, a.kids, a.infos = nil, nil, nil, nil
	}
	a.bind.reset(reuse)
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
func (s *slabs) reset(reuse bool) {
	if !reuse {
		*s = slabs{}
		return
	}
	// One trim per slab, each with its own high-water mark.
	trim(&s.dates, &s.hi[0])
	trim(&s.refs, &s.hi[1])
	trim(&s.amts, &s.hi[2])
	trim(&s.qtys, &s.hi[3])
	trim(&s.strs, &s.hi[4])
	trim(&s.prof, &s.hi[5])
	trim(&s.inst, &s.hi[6])
	trim(&s.dent, &s.hi[7])
	trim(&s.procs, &s.hi[8])
	trim(&s.codes, &s.hi[9])
	trim(&s.parties, &s.hi[10])
	trim(&s.lineParties, &s.hi[11])
	trim(&s.cobParties, &s.hi[12])
	trim(&s.addrs, &s.hi[13])
	trim(&s.prvs, &s.hi[14])
	trim(&s.dmgs, &s.hi[15])
	trim(&s.races, &s.hi[16])
	trim(&s.contacts, &s.hi[17])
	trim(&s.comms, &s.hi[18])
	trim(&s.notes, &s.hi[19])
	trim(&s.pwks, &s.hi[20])
	trim(&s.adjs, &s.hi[21])
	trim(&s.claims, &s.hi[22])
	trim(&s.lines, &s.hi[23])
	trim(&s.others, &s.hi[24])
	trim(&s.lineAdjs, &s.hi[25])
	trim(&s.drugs, &s.hi[26])
	trim(&s.teeth, &s.hi[27])
	trim(&s.conds, &s.hi[28])
	trim(&s.toothSt, &s.hi[29])
	trim(&s.contracts, &s.hi[30])
	trim(&s.cl1s, &s.hi[31])
	trim(&s.cr1s, &s.hi[32])
	trim(&s.dn1s, &s.hi[33])
	trim(&s.ois, &s.hi[34])
	trim(&s.mias, &s.hi[35])
	trim(&s.moas, &s.hi[36])
	trim(&s.headers, &s.hi[37])
	trim(&s.bprovs, &s.hi[38])
	trim(&s.subs, &s.hi[39])
	trim(&s.pats, &s.hi[40])
	trim(&s.patInfos, &s.hi[41])
}

// trim empties slab s for reuse. Its elements past the length used by the
// unit just released, up to the high-water mark *hi of earlier units, are
// cleared, so that no stale element keeps the memory of old records (their
// byte chunks) alive: the retained memory stays bounded by the largest unit.
func trim[T any](s *[]T, hi *int) {
	if n := len(*s); n < *hi {
		clear((*s)[n:*hi])
	}
	*hi = len(*s)
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
