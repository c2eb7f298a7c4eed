package restsink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/restsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

// faultTypes are the resource types claimResources makes.
var faultTypes = []string{"Organization", "Practitioner", "Patient", "Coverage", "Claim"}

// Client timeout of the fault tests, and the delay of a slow response (the
// server applies the write; the answer comes after the client gave up).
const (
	faultClientTimeout = 5 * time.Second
	slowDelay          = 6 * time.Second
)

// randomFaults injects, per request: 2% 429 with Retry-After (in delta
// seconds or, one time in four, as an HTTP date), 2% 503, 1% connection
// reset before the server sees the request, 1% reset after the server
// applied it (the ack is lost), 1% 503 after the server applied it, 0.5% a
// response slower than the client's timeout (applied, ack lost).
func randomFaults(r *rand.Rand) fault {
	switch x := r.IntN(1000); {
	case x < 20:
		ra := "1"
		if x < 5 {
			ra = time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)
		}
		return fault{kind: status, status: http.StatusTooManyRequests, retryAfter: ra}
	case x < 40:
		return fault{kind: status, status: http.StatusServiceUnavailable}
	case x < 50:
		return fault{kind: reset}
	case x < 60:
		return fault{kind: resetAfter}
	case x < 70:
		return fault{kind: statusAfter, status: http.StatusServiceUnavailable}
	case x < 75:
		return fault{kind: slow, delay: slowDelay}
	}
	return fault{}
}

// TestFaults writes the resources of thousands of claims through the
// fault-injecting proxy, with a retry loop like the engine's, restarts the
// server in the middle, and checks that every valid resource is on the server
// exactly once with the content written, and that the invalid ones were
// rejected permanently and are absent.
//
// The restart and data: the test server keeps data in memory and loses it on
// restart, as no production server does with acknowledged writes. So the
// restart window keeps a durable view: the proxy freezes (requests arriving
// are held; requests the server is processing have their responses cut, so
// they are not acknowledged), the test snapshots the server (every write
// acknowledged so far was applied before its response, so the snapshot holds
// it), restarts the server, restores the snapshot, and unfreezes: the cut
// requests fail with connection resets and the retry loop sends them again.
// Writes the server applied but never acknowledged may or may not be in the
// snapshot; either way they are re-sent, so the final check covers every
// resource, and a write lost with the restart and not re-sent would show up
// as lost.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name          string
		claims, short int
		opts          restsink.Options
	}{
		// PUT by id in batch bundles: 25,000 resources.
		{"Batch100", 5000, 300, restsink.Options{Mode: restsink.Batch, BundleSize: 100, Workers: 4}},
		// Conditional updates with server-assigned ids in transactions of 8:
		// a retried create would duplicate if the sink or server were not
		// idempotent.
		{"Transaction8Conditional", 400, 60, restsink.Options{Mode: restsink.Transaction, BundleSize: 8, Workers: 4,
			Match: restsink.MatchIdentifier}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := tc.claims
			if testing.Short() {
				claims = tc.short
			}
			runFaults(t, claims, tc.opts)
		})
	}
}

type faultStats struct {
	acked, retries, writes int
	rejected               map[int]error
}

func runFaults(t *testing.T, claims int, opts restsink.Options) {
	srv := fhirtest.Start(t)
	start := time.Now()
	proxy := newFaultProxy(t, srv.URL())
	proxy.mu.Lock()
	proxy.random = randomFaults
	proxy.mu.Unlock()
	client := &http.Client{Timeout: faultClientTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	s, err := restsink.New(proxy.base(), client, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	byIdentifier := opts.Match == restsink.MatchIdentifier

	// The data: five resources per claim; every 500th claim's Coverage is
	// invalid and must be rejected.
	var ops []sink.Op
	invalid := map[int]bool{}
	for i := range claims {
		rs := claimResources(i)
		if i%500 == 7 {
			invalidCoverage(rs[3].(*cvpb.Coverage))
			invalid[len(ops)+3] = true
		}
		ops = append(ops, sink.Upserts(rs...)...)
	}
	built := time.Since(start)

	// The writer: engine-sized chunks, each retried until every op is
	// acknowledged or rejected.
	const chunk = 500
	restartAt := len(ops) * 2 / 5 / chunk // the chunk in whose middle the server restarts
	restart := make(chan struct{}, 1)
	stats := faultStats{rejected: map[int]error{}}
	done := make(chan error, 1)
	go func() {
		for c := 0; c*chunk < len(ops); c++ {
			if c == restartAt {
				armed := proxy.requests.Load() + 2
				hook := func(n int64) {
					if n == armed {
						restart <- struct{}{}
					}
				}
				proxy.onRequest.Store(&hook)
			}
			var idx []int
			for i := c * chunk; i < min((c+1)*chunk, len(ops)); i++ {
				idx = append(idx, i)
			}
			if err := writeUntilSettled(t.Context(), s, ops, idx, &stats); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()

	restarted := false
	for waiting := true; waiting; {
		select {
		case <-restart:
			restartKeepingAcked(t, srv, proxy)
			restarted = true
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			waiting = false
		}
	}
	if !restarted {
		t.Fatal("the restart did not happen")
	}
	written := time.Since(start) - built

	// Rejections: exactly the invalid ops, permanently, as sink.ErrInvalid,
	// without PHI.
	for i := range invalid {
		err, ok := stats.rejected[i]
		if !ok {
			t.Errorf("invalid op %d was not rejected", i)
			continue
		}
		if !errors.Is(err, sink.ErrInvalid) {
			t.Errorf("op %d rejected with %v, want sink.ErrInvalid", i, err)
		}
		sinktest.CheckNoCanary(t, err)
	}
	for i, err := range stats.rejected {
		if !invalid[i] {
			t.Errorf("valid op %d rejected: %v", i, err)
		}
	}
	if want := len(ops) - len(invalid); stats.acked != want {
		t.Errorf("acknowledged %d ops, want %d", stats.acked, want)
	}

	lost, dup, ghosts, differ := verifyServer(t, srv, ops, invalid, byIdentifier)
	t.Logf("%d claims, %d resources (%d invalid): acknowledged %d, rejected %d; lost %d, duplicated %d, unexpected %d, content differs %d",
		claims, len(ops), len(invalid), stats.acked, len(stats.rejected), lost, dup, ghosts, differ)
	t.Logf("%d Write calls, %d op retries, %d requests; injected: 429 %d, 503 %d, reset %d, reset after apply %d, 503 after apply %d, slow %d, cut by restart %d",
		stats.writes, stats.retries, proxy.requests.Load(), countStatus(proxy, 429), countStatus(proxy, 503),
		proxy.count(reset), proxy.count(resetAfter), proxy.count(statusAfter), proxy.count(slow), proxy.cut.Load())
	t.Logf("fixtures %v, writing %v, verifying %v", built.Round(time.Millisecond), written.Round(time.Millisecond),
		(time.Since(start) - built - written).Round(time.Millisecond))
	if lost+dup+ghosts+differ > 0 {
		t.Errorf("server content: %d lost, %d duplicated, %d unexpected, %d with other content", lost, dup, ghosts, differ)
	}
	if proxy.count(status)+proxy.count(reset)+proxy.count(resetAfter)+proxy.count(slow) == 0 {
		t.Error("no fault was injected")
	}
}

// countStatus counts the injected status answers with code (before or after
// the server applied the request).
func countStatus(p *faultProxy, code int) int64 {
	v, _ := p.byStatus.LoadOrStore(code, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

// writeUntilSettled writes ops[idx] like the engine does: on a BatchError it
// retries only the failed retryable ops and records the permanent ones as
// rejected; on a retryable whole-batch error it retries the batch; it backs
// off, honouring RetryAfter.
func writeUntilSettled(ctx context.Context, s sink.Sink, ops []sink.Op, idx []int, st *faultStats) error {
	for attempt := 0; len(idx) > 0; attempt++ {
		if attempt == 60 {
			return fmt.Errorf("gave up after %d attempts on %d ops", attempt, len(idx))
		}
		batch := make([]sink.Op, len(idx))
		for k, i := range idx {
			batch[k] = ops[i]
		}
		st.writes++
		err := s.Write(ctx, batch)
		var retry []int
		var be *sink.BatchError
		switch {
		case err == nil:
			st.acked += len(idx)
		case errors.As(err, &be):
			failed := map[int]bool{}
			for _, f := range be.Failed {
				failed[f.Index] = true
				if sink.IsRetryable(f.Err) {
					retry = append(retry, idx[f.Index])
				} else {
					st.rejected[idx[f.Index]] = f.Err
				}
			}
			st.acked += len(idx) - len(be.Failed)
		case sink.IsRetryable(err):
			retry = idx
		default:
			return fmt.Errorf("permanent whole-batch error: %w", err)
		}
		if len(retry) == 0 {
			return nil
		}
		st.retries += len(retry)
		wait := min(20*time.Millisecond<<min(attempt, 6), time.Second)
		wait = max(wait, sink.RetryAfter(err))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		idx = retry
	}
	return nil
}

// restartKeepingAcked restarts the server inside a proxy freeze and restores
// what it held (see TestFaults).
func restartKeepingAcked(t *testing.T, srv *fhirtest.Server, proxy *faultProxy) {
	proxy.freeze()
	defer proxy.unfreeze()
	ctx := t.Context()
	direct := &http.Client{Timeout: 2 * time.Minute}
	var snapshot []json.RawMessage
	for _, typ := range faultTypes {
		all, err := listAll(ctx, direct, srv.URL(), typ)
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		snapshot = append(snapshot, all...)
	}
	srv.Restart(t)
	for i := 0; i < len(snapshot); i += 500 {
		var buf bytes.Buffer
		buf.WriteString(`{"resourceType":"Bundle","type":"batch","entry":[`)
		part := snapshot[i:min(i+500, len(snapshot))]
		for k, raw := range part {
			// The stored JSON goes back as it is; the server replaces meta.
			var ref struct{ ResourceType, ID string }
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			if k > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"resource":%s,"request":{"method":"PUT","url":"%s/%s"}}`, raw, ref.ResourceType, ref.ID)
		}
		buf.WriteString(`]}`)
		resp, body, err := srv.Do(ctx, http.MethodPost, "", buf.Bytes(), nil)
		if err != nil || resp.StatusCode != 200 || bytes.Count(body, []byte(`"status":"20`)) != len(part) {
			t.Fatalf("restore: %v %v %.300s", err, resp, body)
		}
	}
	t.Logf("restarted the server mid-batch: %d resources held before the restart restored", len(snapshot))
}

// verifyServer reads every resource back from the server (not through the
// proxy) and compares with what was written.
func verifyServer(t *testing.T, srv *fhirtest.Server, ops []sink.Op, invalid map[int]bool, byIdentifier bool) (lost, dup, ghosts, differ int) {
	ctx := t.Context()
	direct := &http.Client{Timeout: 2 * time.Minute}
	key := func(m map[string]any) string {
		if byIdentifier {
			ids, _ := m["identifier"].([]any)
			if len(ids) == 0 {
				return fmt.Sprint(m["resourceType"], "|no identifier")
			}
			id, _ := ids[0].(map[string]any)
			return fmt.Sprint(m["resourceType"], "|", id["system"], "|", id["value"])
		}
		return fmt.Sprint(m["resourceType"], "/", m["id"])
	}
	stored := map[string][]map[string]any{}
	for _, typ := range faultTypes {
		all, err := listAll(ctx, direct, srv.URL(), typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range all {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			delete(m, "meta")
			if byIdentifier {
				delete(m, "id") // the server assigned it
			}
			stored[key(m)] = append(stored[key(m)], m)
		}
	}

	// The expected content, marshalled on two goroutines (slow under -race).
	want := make([]map[string]any, len(ops))
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < len(ops); i += 2 {
				if invalid[i] {
					continue
				}
				b, err := resource.Marshal(ops[i].Resource)
				if err != nil {
					panic(err)
				}
				var m map[string]any
				json.Unmarshal(b, &m)
				if byIdentifier {
					delete(m, "id")
				}
				want[i] = m
			}
		})
	}
	wg.Wait()

	expected := map[string]bool{}
	var examples []string
	for i, m := range want {
		if m == nil {
			continue
		}
		k := key(m)
		expected[k] = true
		got := stored[k]
		switch {
		case len(got) == 0:
			lost++
			examples = append(examples, "lost "+resource.Type(ops[i].Resource)+"/"+resource.ID(ops[i].Resource))
		case len(got) > 1:
			dup += len(got) - 1
			examples = append(examples, "duplicated "+resource.Type(ops[i].Resource)+"/"+resource.ID(ops[i].Resource))
		}
		if len(got) > 0 && !reflect.DeepEqual(got[0], m) {
			differ++
			examples = append(examples, "differs "+resource.Type(ops[i].Resource)+"/"+resource.ID(ops[i].Resource))
		}
	}
	for k, got := range stored {
		if !expected[k] {
			ghosts += len(got)
			examples = append(examples, "unexpected "+strings.SplitN(k, "|", 2)[0])
		}
	}
	if len(examples) > 10 {
		examples = examples[:10]
	}
	if len(examples) > 0 {
		t.Logf("examples: %s", strings.Join(examples, "; "))
	}
	return lost, dup, ghosts, differ
}
