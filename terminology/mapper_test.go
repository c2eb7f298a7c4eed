package terminology

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingMapper maps codes from a table, counts calls, and can block.
type countingMapper struct {
	table   map[string]string
	calls   atomic.Int64
	block   chan struct{} // if non-nil, each call waits for it (or ctx)
	started chan struct{} // if non-nil, receives once per call
	err     error         // if non-nil, returned for codes not in table
}

func (m *countingMapper) Translate(ctx context.Context, from Coding, target string) (Coding, error) {
	m.calls.Add(1)
	if m.started != nil {
		m.started <- struct{}{}
	}
	if m.block != nil {
		select {
		case <-m.block:
		case <-ctx.Done():
			return Coding{}, ctx.Err()
		}
	}
	if code, ok := m.table[from.Code]; ok {
		return Coding{System: target, Code: code, Equivalence: EquivalenceEquivalent}, nil
	}
	if m.err != nil {
		return Coding{}, m.err
	}
	return Coding{}, &NoMappingError{From: from, TargetSystem: target, Reason: ReasonNoElement}
}

func TestFirst(t *testing.T) {
	ctx := context.Background()
	a := &countingMapper{table: map[string]string{"1": "A1"}}
	b := &countingMapper{table: map[string]string{"1": "B1", "2": "B2"}}
	broken := &countingMapper{err: errors.New("backend down")}
	m := First(a, nil, b)
	if c, err := m.Translate(ctx, Coding{Code: "1"}, "t"); err != nil || c.Code != "A1" {
		t.Errorf("first wins: %v %v", c, err)
	}
	if c, err := m.Translate(ctx, Coding{Code: "2"}, "t"); err != nil || c.Code != "B2" {
		t.Errorf("falls through: %v %v", c, err)
	}
	_, err := m.Translate(ctx, Coding{Code: "3"}, "t")
	var nm *NoMappingError
	if !errors.As(err, &nm) || nm.Reason != ReasonNoElement {
		t.Errorf("none maps: %v", err)
	}
	// Another error stops the chain.
	after := &countingMapper{table: map[string]string{"3": "C3"}}
	if _, err := First(a, broken, after).Translate(ctx, Coding{Code: "3"}, "t"); err == nil || errors.Is(err, ErrNoMapping) || after.calls.Load() != 0 {
		t.Errorf("error stops: %v, later calls %d", err, after.calls.Load())
	}
	if _, err := First().Translate(ctx, Coding{Code: "1"}, "t"); !errors.As(err, &nm) || nm.Reason != ReasonNoMapper {
		t.Errorf("empty First: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := First(a).Translate(cctx, Coding{Code: "1"}, "t"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestCacheTTLAndNegative(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	next := &countingMapper{table: map[string]string{"1": "X"}}
	c := NewCache(next, &CacheOptions{TTL: time.Minute, NegativeTTL: 10 * time.Second, Now: clock.Now})
	for i := 0; i < 3; i++ {
		got, err := c.Translate(ctx, Coding{System: "s", Code: "1", Display: fmt.Sprint(i)}, "t")
		if err != nil || got.Code != "X" {
			t.Fatalf("translate: %v %v", got, err)
		}
		if _, err := c.Translate(ctx, Coding{System: "s", Code: "2"}, "t"); !errors.Is(err, ErrNoMapping) {
			t.Fatalf("negative: %v", err)
		}
	}
	if n := next.calls.Load(); n != 2 {
		t.Errorf("calls = %d; want 2 (one positive, one negative)", n)
	}
	clock.Add(11 * time.Second) // negative expired, positive not
	c.Translate(ctx, Coding{System: "s", Code: "1"}, "t")
	c.Translate(ctx, Coding{System: "s", Code: "2"}, "t")
	if n := next.calls.Load(); n != 3 {
		t.Errorf("after negative TTL: calls = %d; want 3", n)
	}
	clock.Add(time.Minute)
	c.Translate(ctx, Coding{System: "s", Code: "1"}, "t")
	if n := next.calls.Load(); n != 4 {
		t.Errorf("after TTL: calls = %d; want 4", n)
	}
	// Key includes version and target.
	c.Translate(ctx, Coding{System: "s", Version: "v2", Code: "1"}, "t")
	c.Translate(ctx, Coding{System: "s", Code: "1"}, "t2")
	if n := next.calls.Load(); n != 6 {
		t.Errorf("key: calls = %d; want 6", n)
	}
	st := c.Stats()
	if st.Misses != 6 || st.Hits != 5 || st.Entries != 4 {
		t.Errorf("stats = %+v", st)
	}
	c.Purge()
	if c.Stats().Entries != 0 {
		t.Error("purge")
	}

	// Negative caching disabled.
	next2 := &countingMapper{}
	c2 := NewCache(next2, &CacheOptions{NegativeTTL: -1})
	c2.Translate(ctx, Coding{Code: "2"}, "t")
	c2.Translate(ctx, Coding{Code: "2"}, "t")
	if next2.calls.Load() != 2 {
		t.Errorf("negative caching disabled: calls = %d", next2.calls.Load())
	}
}

func TestCacheDoesNotCacheErrors(t *testing.T) {
	ctx := context.Background()
	next := &countingMapper{err: &RemoteError{StatusCode: 503, retryable: true}}
	c := NewCache(next, nil)
	for i := 0; i < 2; i++ {
		if _, err := c.Translate(ctx, Coding{Code: "1"}, "t"); !IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
	}
	if next.calls.Load() != 2 {
		t.Errorf("calls = %d; errors must not be cached", next.calls.Load())
	}
}

func TestCacheLRU(t *testing.T) {
	ctx := context.Background()
	table := map[string]string{}
	for i := 0; i < 10; i++ {
		table[fmt.Sprint(i)] = fmt.Sprint("X", i)
	}
	next := &countingMapper{table: table}
	c := NewCache(next, &CacheOptions{Size: 3})
	for _, code := range []string{"0", "1", "2", "0", "3"} { // 1 is least recently used when 3 arrives
		c.Translate(ctx, Coding{Code: code}, "t")
	}
	before := next.calls.Load()
	c.Translate(ctx, Coding{Code: "0"}, "t")
	c.Translate(ctx, Coding{Code: "2"}, "t")
	c.Translate(ctx, Coding{Code: "3"}, "t")
	if next.calls.Load() != before {
		t.Errorf("recent entries evicted")
	}
	c.Translate(ctx, Coding{Code: "1"}, "t")
	if next.calls.Load() != before+1 {
		t.Errorf("LRU entry not evicted")
	}
	if st := c.Stats(); st.Entries != 3 || st.Evictions != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestCacheSingleflight(t *testing.T) {
	ctx := context.Background()
	next := &countingMapper{table: map[string]string{"1": "X"}, block: make(chan struct{}), started: make(chan struct{}, 100)}
	c := NewCache(next, nil)
	const n = 20
	var wg sync.WaitGroup
	results := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Translate(ctx, Coding{System: "s", Code: "1"}, "t")
			if err != nil {
				results <- "error: " + err.Error()
				return
			}
			results <- got.Code
		}()
	}
	<-next.started
	// Wait until every goroutine has joined the call (or got a hit).
	for deadline := time.Now().Add(5 * time.Second); c.Stats().Shared < n-1; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d callers joined", c.Stats().Shared)
		}
		time.Sleep(time.Millisecond)
	}
	close(next.block)
	wg.Wait()
	close(results)
	for r := range results {
		if r != "X" {
			t.Errorf("result %q", r)
		}
	}
	if next.calls.Load() != 1 {
		t.Errorf("calls = %d; want 1", next.calls.Load())
	}
}

func TestCacheWaiterCancel(t *testing.T) {
	next := &countingMapper{table: map[string]string{"1": "X"}, block: make(chan struct{}), started: make(chan struct{}, 10)}
	c := NewCache(next, nil)
	ctx1, cancel1 := context.WithCancel(context.Background())
	errc := make(chan error, 2)
	go func() { _, err := c.Translate(ctx1, Coding{Code: "1"}, "t"); errc <- err }()
	<-next.started
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	done2 := make(chan Coding, 1)
	go func() { got, _ := c.Translate(ctx2, Coding{Code: "1"}, "t"); done2 <- got }()
	for c.Stats().Shared < 1 {
		time.Sleep(time.Millisecond)
	}
	// The first caller gives up; the call goes on for the second.
	cancel1()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v", err)
	}
	close(next.block)
	if got := <-done2; got.Code != "X" {
		t.Errorf("second caller got %+v", got)
	}

	// When every waiter leaves, the call is cancelled and not cached.
	next2 := &countingMapper{table: map[string]string{"1": "X"}, block: make(chan struct{}), started: make(chan struct{}, 10)}
	c2 := NewCache(next2, nil)
	ctx3, cancel3 := context.WithCancel(context.Background())
	go func() { _, err := c2.Translate(ctx3, Coding{Code: "1"}, "t"); errc <- err }()
	<-next2.started
	cancel3()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("lone caller: %v", err)
	}
	for c2.Stats().Entries != 0 || next2.calls.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	// A new caller starts a new call.
	close(next2.block)
	if got, err := c2.Translate(context.Background(), Coding{Code: "1"}, "t"); err != nil || got.Code != "X" {
		t.Errorf("after abandon: %v %v", got, err)
	}
	if next2.calls.Load() != 2 {
		t.Errorf("calls = %d; want 2", next2.calls.Load())
	}
}

func TestCachePanic(t *testing.T) {
	c := NewCache(MapperFunc(func(context.Context, Coding, string) (Coding, error) { panic("boom") }), nil)
	if _, err := c.Translate(context.Background(), Coding{Code: "1"}, "t"); !errors.Is(err, errMapperPanic) {
		t.Errorf("panic: %v", err)
	}
}

func TestCacheConcurrent(t *testing.T) {
	table := map[string]string{}
	for i := 0; i < 50; i++ {
		table[fmt.Sprint(i)] = fmt.Sprint("X", i)
	}
	next := &countingMapper{table: table}
	c := NewCache(next, &CacheOptions{Size: 20})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				code := fmt.Sprint((i * (g + 1)) % 60)
				got, err := c.Translate(context.Background(), Coding{Code: code}, "t")
				want, ok := table[code]
				if ok && (err != nil || got.Code != want) || !ok && !errors.Is(err, ErrNoMapping) {
					t.Errorf("code %s: %v %v", code, got, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if st := c.Stats(); st.Entries > 20 {
		t.Errorf("entries = %d > size", st.Entries)
	}
}

func TestUnmappedReport(t *testing.T) {
	ctx := context.Background()
	r := NewUnmappedReport(&UnmappedOptions{MaxEntries: 3})
	m := r.Wrap(&countingMapper{table: map[string]string{"ok": "X"}})
	for _, code := range []string{"a", "b", "a", "ok", "c", "a", "b", "d", "d"} {
		m.Translate(ctx, Coding{System: "s", Code: code, Display: "ZZCANARYZZ"}, "t")
	}
	got := r.Snapshot()
	want := []UnmappedCount{{"s", "a", "t", 3}, {"s", "b", "t", 2}, {"s", "c", "t", 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("snapshot = %v; want %v", got, want)
	}
	if r.Dropped() != 2 {
		t.Errorf("dropped = %d", r.Dropped())
	}
	if strings.Contains(fmt.Sprintf("%+v", got), "CANARY") {
		t.Error("display entered the report")
	}
	// Errors other than no-mapping are not recorded.
	r.Reset()
	r.Wrap(&countingMapper{err: errors.New("down")}).Translate(ctx, Coding{System: "s", Code: "z"}, "t")
	if len(r.Snapshot()) != 0 || r.Dropped() != 0 {
		t.Errorf("after reset/error: %v", r.Snapshot())
	}
	// Concurrent recording.
	var wg sync.WaitGroup
	r2 := NewUnmappedReport(nil)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				r2.Record(Coding{System: "s", Code: fmt.Sprint(i % 10)}, "t")
			}
		}()
	}
	wg.Wait()
	for _, e := range r2.Snapshot() {
		if e.Count != 800 {
			t.Errorf("%v", e)
		}
	}
}

func TestLicence(t *testing.T) {
	licensed := []string{SystemCPT, SystemCDT, SystemNUBCRevenue, SystemNUBCTypeOfBill, SystemNUBCPointOfOrigin,
		SystemNUBCPointOfOriginNewborn, SystemNUBCPriorityOfAdmission, SystemNUBCDischargeStatus, SystemNUBCDischargeStatusR4,
		SystemCARC, SystemRARC, SystemX12AmbulanceTransportReason, X12CodeSystem("1365"), SystemX12ReviewDecisionReason}
	free := []string{SystemICD10CM, SystemICD10PCS, SystemHCPCS, SystemHCPCSTHO, SystemLOINC, SystemNDC, SystemRxNorm,
		SystemPlaceOfService, SystemNPI, SystemNUCCTaxonomy, "", "https://www.nubc.org.example.com/x"}
	for _, s := range licensed {
		if !IsLicensed(s) {
			t.Errorf("IsLicensed(%q) = false", s)
		}
	}
	for _, s := range free {
		if IsLicensed(s) {
			t.Errorf("IsLicensed(%q) = true", s)
		}
	}
	m := StripLicensedDisplays(MapperFunc(func(_ context.Context, from Coding, target string) (Coding, error) {
		return Coding{System: target, Code: "99213", Display: "Office visit"}, nil
	}))
	if c, _ := m.Translate(context.Background(), Coding{}, SystemCPT); c.Display != "" || c.Code != "99213" {
		t.Errorf("CPT display kept: %+v", c)
	}
	if c, _ := m.Translate(context.Background(), Coding{}, SystemHCPCS); c.Display == "" {
		t.Errorf("HCPCS display dropped: %+v", c)
	}
}
