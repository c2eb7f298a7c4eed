package fhirsync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	clpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/memsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/memsource"
)

// TestRunChaos runs Run over randomized plans, one per seed: options,
// a plain or a streaming converter, messages whose resources share keys and
// carry source versions (some older than what came before, some delivered
// twice), and faults everywhere (retryable and permanent conversion
// failures, a converter panic, unreadable records, failing reads, whole
// writes and single ops that fail retryably, ops the sink refuses for good,
// a dead-letter store and a version store that fail for a while). It checks
// the engine's promises at the moment they must hold:
//
//  1. every delivery is settled exactly once; a nack happens only when
//     Options.MaxAttempts gives up, and the position is delivered again;
//     Run returns nil with a Rejecter, a permanent failure without one;
//  2. when a message is acked, its conversion ended, its permanent failures
//     were recorded, and each resource it produced is in the sink at that
//     version or newer, or was rejected for that message, or a newer version
//     of it was produced before (the stale-update guard skips it);
//  3. (with 1) a nacked message is delivered again and eventually acked;
//  4. the sink never applies an older source version of a resource over a
//     newer one, and ends with the newest version produced, unless a newer
//     version the sink refused for good made the guard skip it;
//  5. a batch is not written while a batch in flight writes the version of
//     a resource it references that its message emitted first, nor a
//     resource applied before one it references exists (unless a write of
//     that one was dropped); two writes of one resource are never in flight
//     at once, nor in one batch;
//  6. no goroutine outlives Run.
//
// A plan is a function of its seed; the interleaving is not. Reproduce a
// failure with -run 'TestRunChaos/seeds/seed=N$'.
func TestRunChaos(t *testing.T) {
	seeds := 200
	if testing.Short() {
		seeds = 40
	}
	start := time.Now()
	goroutines := runtime.NumGoroutine()
	var mu sync.Mutex
	var total chaosStats
	t.Run("seeds", func(t *testing.T) {
		for seed := range seeds {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				t.Parallel() // seeds wait on timers more than they compute
				st := runChaos(t, uint64(seed))
				mu.Lock()
				total.add(st)
				mu.Unlock()
			})
		}
	})
	// 6. No goroutine outlives Run (Run waits for every goroutine it
	// started; the seeds ran in parallel, so they are counted together).
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		var stacks strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Errorf("%d goroutines after the runs, %d before:\n%s", n, goroutines, stacks.String())
	}
	t.Logf("%v in %v", total, time.Since(start).Round(time.Millisecond))
}

// chaosStats counts what seeds ran through.
type chaosStats struct {
	seeds, failedRuns, messages, deliveries, nacks int
	rejected                                       map[fhirsync.Stage]int
}

func (s *chaosStats) add(o chaosStats) {
	s.seeds += o.seeds
	s.failedRuns += o.failedRuns
	s.messages += o.messages
	s.deliveries += o.deliveries
	s.nacks += o.nacks
	if s.rejected == nil {
		s.rejected = map[fhirsync.Stage]int{}
	}
	for k, v := range o.rejected {
		s.rejected[k] += v
	}
}

func (s chaosStats) String() string {
	return fmt.Sprintf("%d seeds (%d stopped by a permanent failure without a Rejecter), %d messages, %d deliveries, %d nacks, rejections: %d read, %d convert, %d write",
		s.seeds, s.failedRuns, s.messages, s.deliveries, s.nacks, s.rejected[fhirsync.StageRead], s.rejected[fhirsync.StageConvert], s.rejected[fhirsync.StageWrite])
}

// chaosRes is one resource a message converts to: its content is a function
// of (typ, i, ver, patient), and two messages carrying the same version of a
// resource almost always carry the same content.
type chaosRes struct {
	typ     string // Organization, Patient, Coverage or Claim
	i       int
	ver     int
	patient int // a Claim's patient (and that patient's Coverage): a claim moves between patients
}

func (r chaosRes) key() string { return chaosKey(r.typ, r.i) }

func chaosKey(typ string, i int) string {
	switch typ {
	case "Organization":
		return "Organization/" + sinktest.OrganizationID(i)
	case "Patient":
		return "Patient/" + sinktest.PatientID(i)
	case "Coverage":
		return "Coverage/" + sinktest.CoverageID(i)
	}
	return "Claim/" + sinktest.ClaimID(i)
}

func chaosVersion(ver int) string { return fmt.Sprintf("%08d", ver) }

// chaosRefs returns the keys resource r references.
func chaosRefs(r proto.Message) []string {
	var refs []*dtpb.Reference
	switch r := r.(type) {
	case *cvpb.Coverage:
		refs = append([]*dtpb.Reference{r.GetBeneficiary()}, r.GetPayor()...)
	case *clpb.Claim:
		refs = []*dtpb.Reference{r.GetPatient(), r.GetInsurer(), r.GetProvider()}
		for _, in := range r.GetInsurance() {
			refs = append(refs, in.GetCoverage())
		}
	}
	var out []string
	for _, ref := range refs {
		switch {
		case ref.GetPatientId() != nil:
			out = append(out, "Patient/"+ref.GetPatientId().GetValue())
		case ref.GetCoverageId() != nil:
			out = append(out, "Coverage/"+ref.GetCoverageId().GetValue())
		case ref.GetOrganizationId() != nil:
			out = append(out, "Organization/"+ref.GetOrganizationId().GetValue())
		}
	}
	return out
}

// build returns the resource, small (the sink clones what it stores, under
// -race): a Patient bears the canary and its version as a second given name
// (sinktest.Revision reads it), a Coverage and a Claim reference what their
// group emits before them (a Claim, its patient's).
func (r chaosRes) build() proto.Message {
	ref := func(typ string, i int) *dtpb.Reference {
		id := &dtpb.ReferenceId{Value: strings.SplitN(chaosKey(typ, i), "/", 2)[1]}
		switch typ {
		case "Organization":
			return &dtpb.Reference{Reference: &dtpb.Reference_OrganizationId{OrganizationId: id}}
		case "Patient":
			return &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: id}}
		}
		return &dtpb.Reference{Reference: &dtpb.Reference_CoverageId{CoverageId: id}}
	}
	meta := &dtpb.Meta{Extension: []*dtpb.Extension{{
		Url:   &dtpb.Uri{Value: fhirmap.ExtSourceVersion},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: &dtpb.String{Value: chaosVersion(r.ver)}}},
	}}}
	switch r.typ {
	case "Organization":
		return &orgpb.Organization{Id: &dtpb.Id{Value: sinktest.OrganizationID(r.i)}, Meta: meta, Name: &dtpb.String{Value: fmt.Sprintf("ORG %d", r.i)}}
	case "Patient":
		return &ppb.Patient{Id: &dtpb.Id{Value: sinktest.PatientID(r.i)}, Meta: meta, Name: []*dtpb.HumanName{{
			Family: &dtpb.String{Value: canary},
			Given:  []*dtpb.String{{Value: "Test"}, {Value: fmt.Sprintf("R%d", r.ver)}},
		}}}
	case "Coverage":
		return &cvpb.Coverage{Id: &dtpb.Id{Value: sinktest.CoverageID(r.i)}, Meta: meta, Beneficiary: ref("Patient", r.i), Payor: []*dtpb.Reference{ref("Organization", 0)}}
	}
	return &clpb.Claim{Id: &dtpb.Id{Value: sinktest.ClaimID(r.i)}, Meta: meta,
		Patient: ref("Patient", r.patient), Insurer: ref("Organization", 0), Provider: ref("Organization", 1),
		Insurance: []*clpb.Claim_Insurance{{Coverage: ref("Coverage", r.patient)}}}
}

// chaosFault is a permanent fault of a record.
type chaosFault int

const (
	chaosNone       chaosFault = iota
	chaosMapping               // the conversion fails with a *fhirmap.Error
	chaosPanic                 // the converter panics
	chaosUnreadable            // the source could not read the record
)

// chaosRecord is what one record converts to, and how it fails.
type chaosRecord struct {
	groups  [][]chaosRes // business records, referenced resources first
	failed  map[int]bool // groups that do not convert (a *fhirmap.ConvertError)
	fault   chaosFault
	retries int   // the record's first conversion attempts that fail retryably
	at      int   // chunk before which a streamed conversion fails
	chunks  []int // sizes of the chunks a StreamConverter emits
}

// emitted returns the resources of the groups that convert, in order.
func (r *chaosRecord) emitted() []chaosRes {
	var out []chaosRes
	for gi, g := range r.groups {
		if !r.failed[gi] {
			out = append(out, g...)
		}
	}
	return out
}

// chaosPlan is what a seed runs.
type chaosPlan struct {
	seed                                 uint64
	batchSize, writers, converters       int
	maxInFlight, maxAttempts, maxBatch   int
	batchWait                            time.Duration
	reject, stream, flakyVersions        bool
	records                              []chaosRecord
	log                                  []int           // the record at each position of the broker's log
	poison                               map[string]bool // "key@version" the sink refuses for good
	writeFail, opFail, readFail, rejFail float64
	verFail                              float64
}

func (p *chaosPlan) String() string {
	return fmt.Sprintf("seed=%d positions=%d records=%d batch=%d wait=%v writers=%d converters=%d inflight=%d attempts=%d stream=%v reject=%v poison=%d",
		p.seed, len(p.log), len(p.records), p.batchSize, p.batchWait, p.writers, p.converters, p.maxInFlight, p.maxAttempts, p.stream, p.reject, len(p.poison))
}

// permanent reports whether some record of the log fails its conversion or
// its read for good.
func (p *chaosPlan) permanent() bool {
	for _, r := range p.log {
		rec := &p.records[r]
		if rec.fault != chaosNone || len(rec.failed) > 0 {
			return true
		}
	}
	return false
}

func newChaosPlan(seed uint64) *chaosPlan {
	rng := rand.New(rand.NewPCG(seed, 0xc4a05))
	pick := func(xs ...int) int { return xs[rng.IntN(len(xs))] }
	chance := func(p float64) bool { return rng.Float64() < p }
	p := &chaosPlan{
		seed:        seed,
		batchSize:   pick(1, 2, 3, 5, 8, 16, 64),
		batchWait:   time.Duration(pick(200, 1000, 3000)) * time.Microsecond,
		writers:     1 + rng.IntN(4),
		converters:  1 + rng.IntN(4),
		maxInFlight: pick(1, 2, 4, 16, 64, 0),
		maxBatch:    pick(1, 5, 100),
		stream:      chance(0.5),
		reject:      chance(0.85),
		poison:      map[string]bool{},
	}
	if p.maxInFlight > 0 && p.maxInFlight <= 2 {
		// One message at a time waits out BatchWait before each write.
		p.batchWait = 200 * time.Microsecond
	}
	if chance(0.5) {
		p.maxAttempts = 1 + rng.IntN(3)
	}
	p.flakyVersions = chance(0.3)
	calm := chance(0.3)
	rate := func(r float64) float64 {
		if calm {
			return 0
		}
		return r * rng.Float64()
	}
	p.writeFail, p.opFail, p.readFail, p.rejFail, p.verFail = rate(0.3), rate(0.1), rate(0.2), rate(0.3), rate(0.1)
	permanent := !calm && (p.reject || chance(0.5))
	poisonRate := 0.0
	if permanent && chance(0.6) {
		poisonRate = 0.01 + 0.04*rng.Float64()
	}

	// Few keys make the stale-update guard work; many make resources that
	// are new to the sink, which what references them must wait for.
	patients := 2 + rng.IntN(pick(10, 30, 100))
	claims := 1 + rng.IntN(8)
	n := 30 + rng.IntN(70)
	for r := range n {
		ver := 10 * (r + 1)
		rec := chaosRecord{}
		for range 1 + rng.IntN(2) {
			i := rng.IntN(patients)
			v := ver
			if chance(0.1) {
				v = max(1, ver-10*(1+rng.IntN(5))) // an older change, late
			}
			if chance(0.05) {
				// The same patient twice in one message, older first.
				rec.groups = append(rec.groups, []chaosRes{{typ: "Patient", i: i, ver: max(1, v-5)}})
			}
			var g []chaosRes
			switch kind := rng.IntN(4); {
			case kind >= 2:
				g = []chaosRes{{typ: "Patient", i: i, ver: v}}
			case kind == 1:
				g = []chaosRes{{typ: "Organization", ver: v}, {typ: "Patient", i: i, ver: v}, {typ: "Coverage", i: i, ver: v}}
			default:
				g = []chaosRes{{typ: "Organization", ver: v}, {typ: "Organization", i: 1, ver: v}, {typ: "Patient", i: i, ver: v},
					{typ: "Coverage", i: i, ver: v}, {typ: "Claim", i: rng.IntN(claims), ver: v, patient: i}}
			}
			rec.groups = append(rec.groups, g)
		}
		if chance(0.08) {
			rec.retries = 1 + rng.IntN(3)
		}
		if permanent {
			switch x := rng.Float64(); {
			case x < 0.02:
				rec.fault = chaosMapping
			case x < 0.035:
				rec.fault = chaosPanic
			case x < 0.05:
				rec.fault = chaosUnreadable
			case x < 0.09 && len(rec.groups) > 1:
				rec.failed = map[int]bool{rng.IntN(len(rec.groups)): true}
			}
		}
		total := len(rec.emitted())
		for left := total; left > 0; {
			c := min(left, 1+rng.IntN(4))
			rec.chunks = append(rec.chunks, c)
			left -= c
		}
		rec.at = rng.IntN(len(rec.chunks) + 1)
		for _, g := range rec.groups {
			for _, res := range g {
				if poisonRate > 0 && chance(poisonRate) {
					p.poison[res.key()+"@"+chaosVersion(res.ver)] = true
				}
			}
		}
		p.records = append(p.records, rec)
	}
	// The log: every record in order, some delivered again a little later
	// (a producer's retry), carrying their older versions.
	type dup struct{ rec, at int }
	var dups []dup
	for r := range n {
		if chance(0.1) {
			dups = append(dups, dup{r, r + 1 + rng.IntN(20)})
		}
	}
	for r := range n {
		p.log = append(p.log, r)
		for _, d := range dups {
			if d.at == r {
				p.log = append(p.log, d.rec)
			}
		}
	}
	return p
}

// chaosDelivery is one delivery of a position of the log.
type chaosDelivery struct {
	pos, attempt, rec int
	msg               *source.Message
	produced          []chaosRes // what the converter handed to Run
	convDone          bool       // the conversion ended: converted, or failed for good
	convFailed        bool       // it ended with a permanent failure
	rejections        []*fhirsync.Rejection
	settled           int
	nacked            bool
}

func (d *chaosDelivery) rejected(stage fhirsync.Stage, key string) bool {
	for _, r := range d.rejections {
		if r.Stage == stage && (key == "" || r.Resource == key) {
			return true
		}
	}
	return false
}

// chaosHarness is the source, converter, sink, Rejecter and VersionStore
// of one seed, and the checks they make.
type chaosHarness struct {
	plan *chaosPlan
	mem  *memsink.Sink

	vmu        sync.Mutex
	violations []string

	// mu guards the source's, converter's, Rejecter's and VersionStore's
	// state. Lock order: mu, then the memsink's lock, then smu.
	mu         sync.Mutex
	rng        *rand.Rand
	deliveries map[*source.Message]*chaosDelivery
	all        []*chaosDelivery
	attempts   map[int]int    // conversion attempts per record
	newest     map[string]int // newest version produced so far per key
	readStreak int
	readBudget int
	rejBudget  int
	verBudget  int

	// smu guards the sink's state; it is taken under the memsink's lock.
	smu         sync.Mutex
	srng        *rand.Rand
	inflight    map[string]int
	applied     map[string]int // version last applied per key
	excused     map[string]int // per key, the newest version whose write may have been dropped
	failedNow   map[string]int // per key, the newest version that failed in the Write being applied
	wmu         sync.Mutex     // serializes memsink Writes (which apply under one lock anyway), for failedNow
	writeBudget int
	opBudget    int
}

func (h *chaosHarness) violate(format string, args ...any) {
	h.vmu.Lock()
	defer h.vmu.Unlock()
	h.violations = append(h.violations, fmt.Sprintf(format, args...))
}

var errChaosUnreadable = errors.New("chaos: record unreadable")

// chaosSource wraps a memsource Source: its reads fail now and then, and
// its messages' settlement is checked before it reaches the broker.
type chaosSource struct {
	h   *chaosHarness
	src *memsource.Source
}

func (s *chaosSource) Read(ctx context.Context) ([]*source.Message, error) {
	h := s.h
	h.mu.Lock()
	fail := h.readBudget > 0 && h.readStreak < 3 && h.rng.Float64() < h.plan.readFail
	partial := h.readBudget > 0 && h.readStreak < 3 && h.rng.Float64() < h.plan.readFail
	if fail {
		h.readBudget--
		h.readStreak++
	}
	h.mu.Unlock()
	if fail {
		return nil, errors.New("chaos: broker unreachable")
	}
	ms, err := s.src.Read(ctx)
	out := make([]*source.Message, 0, len(ms))
	for _, m := range ms {
		out = append(out, h.deliver(m))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil && len(out) > 0 && partial {
		h.readBudget--
		h.readStreak++
		return out, errors.New("chaos: connection lost after a partial fetch")
	}
	if err == nil {
		h.readStreak = 0
	}
	return out, err
}

func (s *chaosSource) Close() error { return s.src.Close() }

// deliver wraps a memsource message.
func (h *chaosHarness) deliver(m *source.Message) *source.Message {
	var md *memsource.Delivery
	if !m.As(&md) {
		panic("chaos: not a memsource message")
	}
	d := &chaosDelivery{pos: md.Position, attempt: md.Attempt, rec: h.plan.log[md.Position]}
	ack := func(ctx context.Context, err error) error {
		h.settle(d, err)
		if err == nil {
			return m.Ack(ctx)
		}
		return m.Nack(ctx, err)
	}
	var nm *source.Message
	if h.plan.records[d.rec].fault == chaosUnreadable {
		nm = source.NewFailedMessage(m.ID, m.Metadata, errChaosUnreadable, ack, m.As)
	} else {
		nm = source.NewMessage(m.ID, m.Body, m.Metadata, ack, m.As)
	}
	d.msg = nm
	h.mu.Lock()
	h.deliveries[nm] = d
	h.all = append(h.all, d)
	h.mu.Unlock()
	return nm
}

// settle checks a delivery at the moment Run settles it (invariants 1 and
// 2), before the broker hears of it.
func (h *chaosHarness) settle(d *chaosDelivery, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d.settled++
	if d.settled > 1 {
		h.violate("%s: settled %d times", d.msg.ID, d.settled)
	}
	if err != nil {
		d.nacked = true
		if h.plan.maxAttempts == 0 {
			h.violate("%s: nacked (%v) with no MaxAttempts to give up", d.msg.ID, err)
		}
		return
	}
	rec := &h.plan.records[d.rec]
	if rec.fault == chaosUnreadable {
		if !d.rejected(fhirsync.StageRead, "") {
			h.violate("%s: an unreadable record acked without a read-stage rejection", d.msg.ID)
		}
		return
	}
	if !d.convDone {
		h.violate("%s: acked before its conversion ended", d.msg.ID)
	}
	if d.convFailed && !d.rejected(fhirsync.StageConvert, "") {
		h.violate("%s: acked with a permanent conversion failure not recorded", d.msg.ID)
	}
	for _, r := range d.produced {
		k := r.key()
		if h.newest[k] > r.ver || d.rejected(fhirsync.StageWrite, k) {
			continue
		}
		h.smu.Lock()
		got, ok := h.applied[k]
		h.smu.Unlock()
		if !ok {
			got = -1
		}
		if got < r.ver {
			h.violate("%s: acked while %s is at version %d in the sink, not %d (and neither rejected nor superseded)", d.msg.ID, k, got, r.ver)
		}
	}
}

// stored returns the source version of key in the sink, -1 when absent.
func (h *chaosHarness) stored(key string) int {
	typ, id, _ := strings.Cut(key, "/")
	got, ok := h.mem.Read(typ, id)
	if !ok {
		return -1
	}
	v, err := strconv.Atoi(fhirsync.SourceVersion(got))
	if err != nil {
		h.violate("%s: stored without a source version", key)
		return -1
	}
	if typ == "Patient" && sinktest.Revision(got) != v {
		h.violate("%s: stored content of revision %d under source version %d", key, sinktest.Revision(got), v)
	}
	return v
}

// begin starts a conversion attempt of message m.
func (h *chaosHarness) begin(m *source.Message) (*chaosDelivery, *chaosRecord, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.deliveries[m]
	if d == nil {
		h.violate("%s: converting a message the source did not deliver", m.ID)
		return nil, nil, 0
	}
	if f := strings.Fields(string(m.Body)); len(f) != 2 || f[0] != strconv.Itoa(d.rec) || f[1] != canary {
		h.violate("%s: body does not match its position", m.ID)
	}
	if d.convDone {
		h.violate("%s: converted again after its conversion ended", m.ID)
	}
	h.attempts[d.rec]++
	return d, &h.plan.records[d.rec], h.attempts[d.rec]
}

// produce notes that d's conversion hands rs to Run.
func (h *chaosHarness) produce(d *chaosDelivery, rs []chaosRes) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range rs {
		h.newest[r.key()] = max(h.newest[r.key()], r.ver)
	}
	d.produced = append(d.produced, rs...)
}

// ended notes that d's conversion ended: converted, or failed for good.
func (h *chaosHarness) ended(d *chaosDelivery, failed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d.convDone, d.convFailed = true, failed
}

func chaosMappingError() error {
	return fhirmap.NewError(fhirmap.ErrInvalidValue, fhirmap.Position{SegmentID: "NM1", Loop: "2010BA", Element: 3}, "Patient.name[0].family", "").WithValue(canary)
}

func chaosConvertError(rec *chaosRecord) error {
	ce := &fhirmap.ConvertError{}
	for gi := range rec.groups {
		if rec.failed[gi] {
			ce.Failed = append(ce.Failed, fhirmap.RecordError{Pos: fhirmap.Position{Record: gi + 1}, Err: chaosMappingError()})
		}
	}
	return ce
}

// chaosConverter is a plain Converter.
type chaosConverter struct{ h *chaosHarness }

func (c chaosConverter) Convert(_ context.Context, m *source.Message) ([]proto.Message, error) {
	d, rec, attempt := c.h.begin(m)
	if d == nil {
		return nil, errors.New("chaos: unknown message")
	}
	if attempt <= rec.retries {
		return nil, transient(attempt)
	}
	switch rec.fault {
	case chaosMapping:
		c.h.ended(d, true)
		return nil, chaosMappingError()
	case chaosPanic:
		c.h.ended(d, true)
		panic("chaos: the converter choked on member " + canary)
	}
	rs := rec.emitted()
	out := make([]proto.Message, len(rs))
	for i, r := range rs {
		out[i] = r.build()
	}
	c.h.produce(d, rs)
	c.h.ended(d, len(rec.failed) > 0)
	if len(rec.failed) > 0 {
		return out, chaosConvertError(rec)
	}
	return out, nil
}

// transient returns a retryable failure of the kinds IsRetryable accepts.
func transient(attempt int) error {
	switch attempt % 3 {
	case 0:
		return &fhirmap.LookupError{Status: 503}
	case 1:
		return &fhirmap.LookupError{Status: 429, Codes: []string{"throttled"}}
	}
	return sink.Retryable(errors.New("chaos: terminology server unavailable"), time.Duration(attempt)*time.Millisecond)
}

// chaosStreamer is a StreamConverter.
type chaosStreamer struct{ h *chaosHarness }

func (c chaosStreamer) Convert(_ context.Context, m *source.Message) ([]proto.Message, error) {
	c.h.violate("%s: Run called Convert on a StreamConverter", m.ID)
	return nil, errors.New("chaos: Run must stream")
}

func (c chaosStreamer) ConvertStream(_ context.Context, m *source.Message, emit func([]proto.Message) error) error {
	d, rec, attempt := c.h.begin(m)
	if d == nil {
		return errors.New("chaos: unknown message")
	}
	rs := rec.emitted()
	for ci := 0; ; ci++ {
		if ci == rec.at {
			if attempt <= rec.retries {
				return transient(attempt)
			}
			switch rec.fault {
			case chaosMapping:
				c.h.ended(d, true)
				return chaosMappingError()
			case chaosPanic:
				c.h.ended(d, true)
				panic("chaos: the converter choked on member " + canary)
			}
		}
		if ci == len(rec.chunks) {
			break
		}
		chunk := rs[:rec.chunks[ci]]
		rs = rs[rec.chunks[ci]:]
		out := make([]proto.Message, len(chunk))
		for i, r := range chunk {
			out[i] = r.build()
		}
		c.h.produce(d, chunk)
		if err := emit(out); err != nil {
			return err
		}
	}
	c.h.ended(d, len(rec.failed) > 0)
	if len(rec.failed) > 0 {
		return chaosConvertError(rec)
	}
	return nil
}

// Reject records a rejection after checking it belongs to what failed.
func (h *chaosHarness) Reject(_ context.Context, r *fhirsync.Rejection) error {
	if r.Err == nil || strings.Contains(r.Err.Error(), canary) {
		h.violate("rejection error %v: missing or holding PHI", r.Err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rejBudget > 0 && h.rng.Float64() < h.plan.rejFail {
		h.rejBudget--
		return errors.New("chaos: dead-letter store unavailable")
	}
	d := h.deliveries[r.Message]
	if d == nil {
		h.violate("rejection of a message the source did not deliver")
		return nil
	}
	if d.settled > 0 {
		h.violate("%s: rejection recorded after its message was settled", d.msg.ID)
	}
	rec := &h.plan.records[d.rec]
	switch r.Stage {
	case fhirsync.StageRead:
		if rec.fault != chaosUnreadable || !errors.Is(r.Err, errChaosUnreadable) {
			h.violate("%s: unexpected read-stage rejection: %v", d.msg.ID, r.Err)
		}
	case fhirsync.StageConvert:
		var fe *fhirmap.Error
		if !d.convFailed || !(errors.As(r.Err, &fe) || strings.Contains(r.Err.Error(), "converter panicked")) {
			h.violate("%s: unexpected convert-stage rejection: %v", d.msg.ID, r.Err)
		}
	case fhirsync.StageWrite:
		ver, ok := 0, false
		for _, p := range d.produced {
			if p.key() == r.Resource && (!ok || p.ver < ver) {
				ver, ok = p.ver, true
			}
		}
		poisoned := false
		for v := range h.newest[r.Resource] + 1 {
			if v >= ver && h.plan.poison[r.Resource+"@"+chaosVersion(v)] {
				poisoned = true
				break
			}
		}
		if !ok || !poisoned || !errors.Is(r.Err, sink.ErrInvalid) {
			h.violate("%s: unexpected write-stage rejection of %s: %v", d.msg.ID, r.Resource, r.Err)
		}
	default:
		h.violate("%s: rejection at unknown stage %q", d.msg.ID, r.Stage)
	}
	d.rejections = append(d.rejections, r)
	return nil
}

// chaosVersions is a VersionStore that fails now and then.
type chaosVersions struct {
	h   *chaosHarness
	mem *fhirsync.MemoryVersions
}

func (v *chaosVersions) fail() error {
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	if v.h.verBudget > 0 && v.h.rng.Float64() < v.h.plan.verFail {
		v.h.verBudget--
		return errors.New("chaos: version store unavailable")
	}
	return nil
}

func (v *chaosVersions) Get(ctx context.Context, key string) (string, error) {
	if err := v.fail(); err != nil {
		return "", err
	}
	return v.mem.Get(ctx, key)
}

func (v *chaosVersions) Put(ctx context.Context, key, version string) error {
	if err := v.fail(); err != nil {
		return err
	}
	return v.mem.Put(ctx, key, version)
}

// chaosSink wraps the memsink: whole writes fail retryably now and then,
// and what is in flight is checked.
type chaosSink struct{ h *chaosHarness }

func (s chaosSink) Write(ctx context.Context, ops []sink.Op) error {
	h := s.h
	keys := make([]string, len(ops))
	vers := make([]int, len(ops))
	refs := make([][]string, len(ops))
	for i, op := range ops {
		refs[i] = chaosRefs(op.Resource)
		k, err := resource.Key(op.Resource)
		if err != nil {
			h.violate("an op without a key: %v", err)
		}
		keys[i] = k
		vers[i], _ = strconv.Atoi(fhirsync.SourceVersion(op.Resource))
	}
	h.smu.Lock()
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			h.violate("%s twice in one batch", k)
		}
		seen[k] = true
		if h.inflight[k] > 0 {
			h.violate("%s in two writes in flight at once", k)
		}
	}
	// 5. A batch waits for the batches in flight that write what it
	// references: the version of what an op references that its group
	// emitted first is applied already, unless it is in this batch too,
	// or its write was dropped.
	for i, k := range keys {
		for _, ref := range refs[i] {
			if got, ok := h.applied[ref]; !seen[ref] && (!ok || got < vers[i]) && h.excused[ref] < vers[i] {
				h.violate("%s (version %d) written while %s, which it references, is at %d and not in its batch", k, vers[i], ref, got)
			}
		}
	}
	for _, k := range keys {
		h.inflight[k]++
	}
	var ferr error
	if h.writeBudget > 0 && h.srng.Float64() < h.plan.writeFail {
		h.writeBudget--
		for i, k := range keys {
			h.retried(k, vers[i])
		}
		switch h.srng.IntN(3) {
		case 0:
			ferr = memsink.Throttled(time.Duration(h.srng.IntN(3)) * time.Millisecond)
		case 1:
			ferr = memsink.Unavailable()
		default:
			ferr = sink.Retryable(errors.New("chaos: connection reset"), 0)
		}
	}
	var pause time.Duration
	if h.srng.IntN(4) == 0 {
		pause = time.Duration(h.srng.IntN(300)) * time.Microsecond
	}
	h.smu.Unlock()
	defer func() {
		h.smu.Lock()
		for _, k := range keys {
			h.inflight[k]--
		}
		h.smu.Unlock()
	}()
	time.Sleep(pause)
	if ferr != nil {
		return ferr
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.smu.Lock()
	clear(h.failedNow)
	h.smu.Unlock()
	return h.mem.Write(ctx, ops)
}

func (s chaosSink) Close(ctx context.Context) error { return s.h.mem.Close(ctx) }

// fault is the memsink's Fault: it runs under the memsink's lock, for each
// op in the order they are applied, so it sees what the store sees
// (invariants 4 and 5).
func (h *chaosHarness) fault(_ int, op sink.Op) error {
	key, err := resource.Key(op.Resource)
	if err != nil {
		return err
	}
	vs := fhirsync.SourceVersion(op.Resource)
	ver, err := strconv.Atoi(vs)
	if err != nil {
		h.violate("%s: written without a source version", key)
	}
	h.smu.Lock()
	defer h.smu.Unlock()
	if h.plan.poison[key+"@"+vs] {
		h.excused[key] = max(h.excused[key], ver)
		return fmt.Errorf("%w: chaos: HTTP 422", sink.ErrInvalid)
	}
	if h.opBudget > 0 && h.srng.Float64() < h.plan.opFail {
		h.opBudget--
		h.retried(key, ver)
		// What references it later in this Write is applied all the same;
		// later batches wait for its retry.
		h.failedNow[key] = max(h.failedNow[key], ver)
		return memsink.Throttled(time.Duration(h.srng.IntN(3)) * time.Millisecond)
	}
	if last, ok := h.applied[key]; ok && ver < last {
		h.violate("%s: version %d applied over %d", key, ver, last)
	}
	h.applied[key] = ver
	// 5. What an op references exists when it is applied, unless a write
	// of it was dropped (Run then writes what references it all the same).
	// In one batch, a newer version may replace an older one in place,
	// before the newer version of what both reference: that one exists.
	for _, ref := range chaosRefs(op.Resource) {
		if _, ok := h.applied[ref]; !ok && h.excused[ref] == 0 && h.failedNow[ref] == 0 {
			h.violate("%s (version %d) applied before %s, which it references", key, ver, ref)
		}
	}
	return nil
}

// retried notes that the write of version ver of key failed retryably: with
// MaxAttempts, Run may give up on it (and write what references it); without,
// it keeps the batch in flight and retries. smu is held.
func (h *chaosHarness) retried(key string, ver int) {
	if h.plan.maxAttempts > 0 {
		h.excused[key] = max(h.excused[key], ver)
	}
}

// chaosLog is a log handler that fails the seed on a canary in any log
// line, or on a settlement Run reports as failed.
type chaosLog struct {
	h   *chaosHarness
	buf *bytes.Buffer
	mu  *sync.Mutex
	slog.Handler
}

func newChaosLog(h *chaosHarness) *chaosLog {
	l := &chaosLog{h: h, buf: &bytes.Buffer{}, mu: &sync.Mutex{}}
	l.Handler = slog.NewTextHandler(l.buf, &slog.HandlerOptions{Level: slog.LevelInfo})
	return l
}

func (l *chaosLog) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
	if err := l.Handler.Handle(ctx, r); err != nil {
		return err
	}
	line := l.buf.String()
	if strings.Contains(line, canary) {
		l.h.violate("a log line holds PHI: %s", line)
	}
	if r.Message == "fhirsync: settling a message failed" {
		l.h.violate("%s", line)
	}
	return nil
}

func (l *chaosLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &chaosLog{h: l.h, buf: l.buf, mu: l.mu, Handler: l.Handler.WithAttrs(as)}
}

func (l *chaosLog) WithGroup(name string) slog.Handler {
	return &chaosLog{h: l.h, buf: l.buf, mu: l.mu, Handler: l.Handler.WithGroup(name)}
}

// stats counts what the seed ran through; h.mu is held.
func (h *chaosHarness) stats(err error) chaosStats {
	st := chaosStats{seeds: 1, messages: len(h.plan.log), deliveries: len(h.all), rejected: map[fhirsync.Stage]int{}}
	if err != nil {
		st.failedRuns++
	}
	for _, d := range h.all {
		if d.nacked {
			st.nacks++
		}
		for _, r := range d.rejections {
			st.rejected[r.Stage]++
		}
	}
	return st
}

// chaosLeaks returns the stacks of the goroutines labelled with seed.
func chaosLeaks(seed uint64) string {
	var all strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&all, 1)
	label := fmt.Sprintf(`"chaos-seed":"%d"`, seed)
	var out []string
	for block := range strings.SplitSeq(all.String(), "\n\n") {
		if strings.Contains(block, label) {
			out = append(out, block)
		}
	}
	return strings.Join(out, "\n\n")
}

// runChaos runs one seed.
func runChaos(t *testing.T, seed uint64) chaosStats {
	p := newChaosPlan(seed)
	h := &chaosHarness{
		plan:        p,
		rng:         rand.New(rand.NewPCG(seed, 1)),
		srng:        rand.New(rand.NewPCG(seed, 2)),
		deliveries:  map[*source.Message]*chaosDelivery{},
		attempts:    map[int]int{},
		newest:      map[string]int{},
		inflight:    map[string]int{},
		applied:     map[string]int{},
		excused:     map[string]int{},
		failedNow:   map[string]int{},
		readBudget:  5,
		rejBudget:   10,
		verBudget:   10,
		writeBudget: 20,
		opBudget:    20,
	}
	h.mem = memsink.New(&memsink.Options{Fault: h.fault})
	b := memsource.NewBroker()
	for _, r := range p.log {
		b.Publish(fmt.Appendf(nil, "%d %s", r, canary))
	}
	src := &chaosSource{h: h, src: b.Open("chaos", &memsource.Options{Finite: true, MaxBatch: p.maxBatch})}
	var conv fhirmap.Converter = chaosConverter{h}
	if p.stream {
		conv = chaosStreamer{h}
	}
	opts := fast(&fhirsync.Options{
		BatchSize:   p.batchSize,
		Writers:     p.writers,
		Converters:  p.converters,
		MaxInFlight: p.maxInFlight,
		MaxAttempts: p.maxAttempts,
		Logger:      slog.New(newChaosLog(h)),
	})
	opts.BatchWait = p.batchWait
	opts.Backoff = fhirsync.Backoff{Initial: 200 * time.Microsecond, Max: time.Millisecond}
	if p.reject {
		opts.Reject = h
	}
	if p.flakyVersions {
		opts.Versions = &chaosVersions{h: h, mem: fhirsync.NewMemoryVersions(100_000)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The goroutines Run starts carry the seed's label, which
	// chaosLeaks finds.
	var err error
	pprof.Do(ctx, pprof.Labels("chaos-seed", strconv.FormatUint(seed, 10)), func(ctx context.Context) {
		err = fhirsync.Run(ctx, src, conv, chaosSink{h}, opts)
	})
	require.NoError(t, src.Close())
	// 6. No goroutine of this seed outlives Run.
	leaks := chaosLeaks(seed)
	for deadline := time.Now().Add(time.Second); leaks != "" && time.Now().Before(deadline); leaks = chaosLeaks(seed) {
		time.Sleep(time.Millisecond)
	}
	if leaks != "" {
		t.Errorf("goroutines outlive Run:\n%s", leaks)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	for i, v := range h.violations {
		if i == 10 {
			t.Errorf("... and %d more", len(h.violations)-10)
			break
		}
		t.Error(v)
	}

	// 1. Run's result.
	switch {
	case err == nil:
	case p.reject:
		t.Errorf("Run with a Rejecter: %v", err)
	default:
		var fe *fhirmap.Error
		assert.Contains(t, err.Error(), "no Options.Reject")
		assert.True(t, errors.As(err, &fe) || errors.Is(err, sink.ErrInvalid) || errors.Is(err, errChaosUnreadable) || strings.Contains(err.Error(), "converter panicked"),
			"Run stopped on something else than a permanent failure: %v", err)
		assert.NotContains(t, err.Error(), canary)
	}
	if !p.reject && p.permanent() {
		assert.Error(t, err, "a permanent failure without a Rejecter must stop Run")
	}
	t.Logf("plan: %v; %d deliveries; Run: %v", p, len(h.all), err)
	if err != nil {
		return h.stats(err)
	}

	// 1 and 3. Every delivery settled once; every position acked once,
	// after its nacked deliveries.
	assert.Equal(t, len(p.log), b.Committed("chaos"), "positions acked")
	acks := make([]int, len(p.log))
	tries := make([]int, len(p.log))
	for _, d := range h.all {
		tries[d.pos]++
		if d.settled != 1 {
			t.Errorf("%s (delivery %d): settled %d times", d.msg.ID, d.attempt, d.settled)
		}
		if d.settled == 1 && !d.nacked {
			acks[d.pos]++
			if d.attempt != tries[d.pos] {
				t.Errorf("%s: acked on delivery %d, not its last", d.msg.ID, d.attempt)
			}
		}
	}
	for pos := range p.log {
		if acks[pos] != 1 {
			t.Errorf("position %d: acked %d times over %d deliveries", pos, acks[pos], tries[pos])
		}
	}

	// 4. Each resource ends at the newest version produced, unless a newer
	// version the sink refused made the guard skip it.
	good, bad := map[string]int{}, map[string]int{}
	for _, d := range h.all {
		for _, r := range d.produced {
			if p.poison[r.key()+"@"+chaosVersion(r.ver)] {
				bad[r.key()] = max(bad[r.key()], r.ver)
			} else {
				good[r.key()] = max(good[r.key()], r.ver)
			}
		}
	}
	for _, r := range h.mem.All() {
		k, _ := resource.Key(r)
		if _, ok := good[k]; !ok {
			t.Errorf("%s is in the sink but no message produced a version it accepts", k)
		}
	}
	for k, v := range good {
		got := h.stored(k)
		switch {
		case got > v:
			t.Errorf("%s: ends at version %d, newer than any produced (%d)", k, got, v)
		case v > bad[k] && got != v:
			t.Errorf("%s: ends at version %d, not the newest produced, %d", k, got, v)
		}
	}
	return h.stats(err)
}

// gateVersions is a VersionStore that closes a channel when the engine asks
// it about a key: the batcher asks when it adds a resource it has no queued
// version of, so the test knows how far the batcher got.
type gateVersions struct {
	fhirsync.VersionStore
	mu    sync.Mutex
	gates map[string]chan struct{}
}

func (g *gateVersions) Get(ctx context.Context, key string) (string, error) {
	g.mu.Lock()
	if c, ok := g.gates[key]; ok {
		close(c)
		delete(g.gates, key)
	}
	g.mu.Unlock()
	return g.VersionStore.Get(ctx, key)
}

// gateSink holds the first write of Patient 0 until first is closed and
// fails it with fail, and holds the second until second is closed.
type gateSink struct {
	*memsink.Sink
	first, second chan struct{}
	fail          func(ops []sink.Op) error
	mu            sync.Mutex
	writes        int
}

func (s *gateSink) Write(ctx context.Context, ops []sink.Op) error {
	if resource.ID(ops[0].Resource) == sinktest.PatientID(0) {
		s.mu.Lock()
		s.writes++
		n := s.writes
		s.mu.Unlock()
		switch n {
		case 1:
			<-s.first
			return s.fail(ops)
		case 2:
			<-s.second
		}
	}
	return s.Sink.Write(ctx, ops)
}

// TestRunStaleGuardKeepsAPendingDuplicate (found by TestRunChaos): the same
// version of a resource is queued twice (a message delivered twice, or a
// streamed conversion that emitted it again after a retry), and the first
// write of it fails: given up on, or refused for good. The stale-update guard
// must still know that version while the other copy is pending, or an older
// version that arrives meanwhile is written after the copy and overwrites it.
//
// The messages: m1 and m2 both carry Patient 0 at version 790 (and another
// patient each, so batches of 2 cut between them); m3 carries Patient 0 at
// version 610, which must be skipped as stale.
func TestRunStaleGuardKeepsAPendingDuplicate(t *testing.T) {
	multi := fhirmap.ConverterFunc(func(_ context.Context, m *source.Message) ([]proto.Message, error) {
		var out []proto.Message
		for f := range strings.FieldsSeq(string(m.Body)) {
			var i, rev int
			if _, err := fmt.Sscanf(f, "%d:%d", &i, &rev); err != nil {
				return nil, &fhirmap.Error{Err: fhirmap.ErrInvalidValue}
			}
			p := sinktest.PatientRev(i, rev)
			withVersion(p, fmt.Sprintf("%08d", rev))
			out = append(out, p)
		}
		return out, nil
	})
	for _, tc := range []struct {
		name string
		fail func(ops []sink.Op) error
		opts fhirsync.Options
	}{
		{"given up", func([]sink.Op) error { return memsink.Unavailable() }, fhirsync.Options{MaxAttempts: 1}},
		{"refused", func(ops []sink.Op) error {
			return &sink.BatchError{Failed: []sink.IndexError{{Index: 0, Err: fmt.Errorf("%w: HTTP 422", sink.ErrInvalid)}, {Index: 1, Err: memsink.Unavailable()}}}
		}, fhirsync.Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := memsource.NewBroker()
			publish(b, "0:790 9:1", "0:790 5:1", "0:610 7:1")
			m2added, m3added := make(chan struct{}), make(chan struct{})
			versions := &gateVersions{VersionStore: fhirsync.NewMemoryVersions(100), gates: map[string]chan struct{}{
				// Patient 5 and 7 come after Patient 0 in m2 and m3.
				"Patient/" + sinktest.PatientID(5): m2added,
				"Patient/" + sinktest.PatientID(7): m3added,
			}}
			dst := &gateSink{Sink: memsink.New(&memsink.Options{VersionEveryWrite: true}), first: m2added, second: m3added, fail: tc.fail}
			var mu sync.Mutex
			var rejected []string
			opts := tc.opts
			opts.BatchSize, opts.Writers, opts.Versions = 2, 2, versions
			opts.Reject = fhirsync.RejecterFunc(func(_ context.Context, r *fhirsync.Rejection) error {
				mu.Lock()
				defer mu.Unlock()
				rejected = append(rejected, r.Message.ID+" "+r.Resource)
				return nil
			})
			require.NoError(t, fhirsync.Run(context.Background(), b.Open("sub", &memsource.Options{Finite: true}), multi, dst, fast(&opts)))
			assert.Equal(t, 3, b.Committed("sub"))
			var revs []int
			for _, v := range dst.History("Patient", sinktest.PatientID(0)) {
				revs = append(revs, sinktest.Revision(v.Resource))
			}
			assert.NotContains(t, revs, 610, "an older version was written after a newer one: %v", revs)
			got, ok := dst.Read("Patient", sinktest.PatientID(0))
			require.True(t, ok)
			assert.Equal(t, 790, sinktest.Revision(got))
			t.Logf("Patient 0 history %v, rejections %v", revs, rejected)
		})
	}
}

// TestRunReplacedResourceKeepsReferencesFirst (found by TestRunChaos): a
// newer version of a resource that replaces an older one in a batch must not
// be written before a resource it references that the batch holds after the
// older one's place: here Claim 0 moves from Patient 0 to Patient 1, a new
// patient, within one batch. A server with referential integrity refuses a
// claim naming a patient it does not have yet (restsink writes a batch's ops
// in order, cutting bundles).
func TestRunReplacedResourceKeepsReferencesFirst(t *testing.T) {
	moved := sinktest.Claim(0)
	moved.Patient = &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: sinktest.PatientID(1)}}}
	bodies := map[string][]proto.Message{
		"first":  {sinktest.Patient(0), sinktest.Coverage(0), sinktest.Claim(0)},
		"second": {sinktest.Patient(1), moved},
	}
	conv := fhirmap.ConverterFunc(func(_ context.Context, m *source.Message) ([]proto.Message, error) {
		return bodies[string(m.Body)], nil
	})
	for _, writers := range []int{1, 3} {
		t.Run(fmt.Sprintf("writers=%d", writers), func(t *testing.T) {
			b := memsource.NewBroker()
			publish(b, "first", "second")
			dst := &refCheckSink{Sink: memsink.New(nil), checked: map[string]bool{"Patient": true}, written: map[string]bool{}}
			src := b.Open("sub", &memsource.Options{Finite: true})
			opts := fast(&fhirsync.Options{BatchSize: 10, Writers: writers})
			opts.BatchWait = 200 * time.Millisecond // one batch for both messages
			require.NoError(t, fhirsync.Run(context.Background(), src, conv, dst, opts))
			assert.Equal(t, 2, b.Committed("sub"))
			assert.Empty(t, dst.violations, "resources written before what they reference")
			got, ok := dst.Sink.(*memsink.Sink).Read("Claim", sinktest.ClaimID(0))
			require.True(t, ok)
			assert.Equal(t, sinktest.PatientID(1), got.(*clpb.Claim).GetPatient().GetPatientId().GetValue())
		})
	}
}
