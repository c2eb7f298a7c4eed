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
}

// reset prepares the arena for a new unit: with reuse, its buffers keep their
// memory; without, they are dropped so that the new unit gets its own.
func (a *arena) reset(reuse bool) {
	if reuse {
		a.segs, a.loops, a.kids, a.infos = a.segs[:0], a.loops[:0], a.kids[:0], a.infos[:0]
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
}

// reset empties the slabs, keeping their memory with reuse, dropping it
// without.
func (s *slabs) reset(reuse bool) {
	if !reuse {
		*s = slabs{}
		return
	}
	trim(&s.dates)
	trim(&s.refs)
	trim(&s.amts)
	trim(&s.qtys)
	trim(&s.strs)
	trim(&s.prof)
	trim(&s.inst)
	trim(&s.dent)
	trim(&s.procs)
	trim(&s.codes)
	trim(&s.parties)
	trim(&s.lineParties)
	trim(&s.cobParties)
	trim(&s.addrs)
	trim(&s.prvs)
	trim(&s.dmgs)
	trim(&s.races)
	trim(&s.contacts)
	trim(&s.comms)
	trim(&s.notes)
	trim(&s.pwks)
	trim(&s.adjs)
	trim(&s.claims)
	trim(&s.lines)
	trim(&s.others)
	trim(&s.lineAdjs)
	trim(&s.drugs)
	trim(&s.teeth)
	trim(&s.conds)
	trim(&s.toothSt)
	trim(&s.contracts)
	trim(&s.cl1s)
	trim(&s.cr1s)
	trim(&s.dn1s)
	trim(&s.ois)
	trim(&s.mias)
	trim(&s.moas)
	trim(&s.headers)
	trim(&s.bprovs)
	trim(&s.subs)
	trim(&s.pats)
	trim(&s.patInfos)
}

func trim[T any](s *[]T) { *s = (*s)[:0] }

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
