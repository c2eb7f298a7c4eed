package sinktest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/memsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

// mutants are broken drivers, each with the conformance test that must
// catch it.
var mutants = []struct {
	name, caughtBy string
}{
	{"lose-last-op", "WriteRead"},
	{"first-wins", "SameKeyInBatch"},
	{"append-only", "IdempotentRewrite"},
	{"leak-canary", "Canary"},
	{"ignore-ctx", "Cancel"},
	{"stall-ignores-ctx", "Cancel"},
	{"close-twice-fails", "Close"},
	{"write-after-close", "Close"},
	{"retry-unclassified", "Retryable"},
	{"retry-after-lost", "Retryable"},
	{"wrong-index", "PartialFailure"},
	{"whole-batch-fails", "PartialFailure"},
	{"drop-delete", "Delete"},
	{"ignore-ifmatch", "IfMatch"},
	{"lost-update", "Concurrent"},
}

// TestSuiteCatchesBrokenDrivers runs the suite against every mutant in a
// child process and checks that the expected test fails for each.
func TestSuiteCatchesBrokenDrivers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMutantChild$", "-test.v")
	cmd.Env = append(os.Environ(), "SINKTEST_MUTANTS=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the suite passed every mutant (err %v):\n%s", err, out)
	}
	for _, m := range mutants {
		want := fmt.Sprintf("--- FAIL: TestMutantChild/%s/%s ", m.name, m.caughtBy)
		if !strings.Contains(string(out), want) {
			t.Errorf("mutant %s not caught by %s", m.name, m.caughtBy)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}

func TestMutantChild(t *testing.T) {
	if os.Getenv("SINKTEST_MUTANTS") == "" {
		t.Skip("run by TestSuiteCatchesBrokenDrivers")
	}
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) {
			f := sinktest.Features{Versions: true, Delete: true, IfMatch: true, History: true, Faults: true}
			if m.name == "ignore-ifmatch" {
				f.IfMatch = false
			}
			if m.name == "append-only" || m.name == "lost-update" {
				f = sinktest.Features{Delete: true}
			}
			sinktest.Run(t, func(context.Context, *testing.T) (sinktest.Harness, error) {
				switch m.name {
				case "append-only":
					return appendOnlyHarness{&appendOnly{}}, nil
				case "lost-update":
					return appendOnlyHarness{&appendOnly{snapshots: true}}, nil
				}
				return mutantHarness{&mutant{name: m.name, mem: memsink.New(nil)}}, nil
			}, f)
		})
	}
}

// mutantHarness is the harness of a mutant.
type mutantHarness struct{ *mutant }

func (h mutantHarness) MakeSink(context.Context) (sink.Sink, error) { return h.mutant, nil }
func (h mutantHarness) Close()                                      {}

// mutant is memsink with one fault.
type mutant struct {
	name   string
	mem    *memsink.Sink
	mu     sync.Mutex
	closes int
	stall  int
}

func (m *mutant) Read(_ context.Context, typ, id string) (*sinktest.Stored, error) {
	r, ok := m.mem.Read(typ, id)
	if !ok {
		return nil, sinktest.ErrNotFound
	}
	return &sinktest.Stored{Resource: r, VersionID: resource.VersionID(r)}, nil
}

func (m *mutant) List(_ context.Context, typ string) ([]*sinktest.Stored, error) {
	var out []*sinktest.Stored
	for _, r := range m.mem.All() {
		if resource.Type(r) == typ {
			out = append(out, &sinktest.Stored{Resource: r, VersionID: resource.VersionID(r)})
		}
	}
	return out, nil
}

func (m *mutant) History(_ context.Context, typ, id string) ([]*sinktest.Stored, error) {
	var out []*sinktest.Stored
	for _, v := range m.mem.History(typ, id) {
		out = append(out, &sinktest.Stored{Resource: v.Resource, VersionID: v.VersionID, Deleted: v.Deleted})
	}
	return out, nil
}

func (m *mutant) FailNext(n int, f sinktest.Fault) {
	switch m.name {
	case "retry-unclassified":
		m.mem.FailNext(n, fmt.Errorf("HTTP %d", f.Status))
	case "retry-after-lost":
		m.mem.FailNext(n, sink.Retryable(fmt.Errorf("HTTP %d", f.Status), 0))
	default:
		m.mem.FailNext(n, sink.Retryable(fmt.Errorf("HTTP %d", f.Status), f.RetryAfter))
	}
}

func (m *mutant) StallNext(n int) {
	if m.name == "stall-ignores-ctx" {
		m.mu.Lock()
		m.stall += n
		m.mu.Unlock()
		return
	}
	m.mem.StallNext(n)
}

func (m *mutant) Write(ctx context.Context, ops []sink.Op) error {
	m.mu.Lock()
	closed := m.closes > 0
	stall := m.stall > 0
	if stall {
		m.stall--
	}
	m.mu.Unlock()
	switch m.name {
	case "lose-last-op":
		if len(ops) > 1 {
			ops = ops[:len(ops)-1]
		}
	case "first-wins":
		seen := map[string]bool{}
		var keep []sink.Op
		for _, op := range ops {
			k, err := resource.Key(op.Resource)
			if err == nil && seen[k] {
				continue
			}
			seen[k] = true
			keep = append(keep, op)
		}
		ops = keep
	case "ignore-ctx":
		ctx = context.Background()
	case "stall-ignores-ctx":
		if stall {
			time.Sleep(3 * time.Second)
			return ctx.Err()
		}
	case "write-after-close":
		if closed {
			return nil
		}
	case "whole-batch-fails":
		for _, op := range ops {
			if _, _, err := op.Ref(); err != nil {
				return err
			}
		}
	case "drop-delete":
		var keep []sink.Op
		for _, op := range ops {
			if !op.Delete {
				keep = append(keep, op)
			}
		}
		ops = keep
	case "ignore-ifmatch":
		ops = append([]sink.Op(nil), ops...)
		for i := range ops {
			ops[i].IfMatch = ""
		}
	}
	if closed && m.name != "write-after-close" {
		return sink.ErrClosed
	}
	err := m.mem.Write(ctx, ops)
	var be *sink.BatchError
	if errors.As(err, &be) {
		for i := range be.Failed {
			switch m.name {
			case "leak-canary":
				if r := ops[be.Failed[i].Index].Resource; r != nil {
					be.Failed[i].Err = fmt.Errorf("%w in %s", be.Failed[i].Err, prototext.Format(r))
				}
			case "wrong-index":
				be.Failed[i].Index = min(be.Failed[i].Index+1, len(ops)-1)
			}
		}
	}
	return err
}

func (m *mutant) Close(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closes++
	if m.name == "close-twice-fails" && m.closes > 1 {
		return errors.New("already closed")
	}
	return nil
}

// appendOnly is a driver that appends every upsert and never replaces: the
// NDJSON mistake (duplicate ids in one import set). With snapshots it
// replaces, but copy-on-write without holding its lock: it copies the
// store, applies the batch to the copy and swaps it in, losing what
// concurrent writers swapped in meanwhile (no data race, a lost update).
type appendOnly struct {
	mu        sync.Mutex
	lines     []proto.Message
	closed    bool
	snapshots bool
}

type appendOnlyHarness struct{ *appendOnly }

func (h appendOnlyHarness) MakeSink(context.Context) (sink.Sink, error) { return h.appendOnly, nil }
func (h appendOnlyHarness) Close()                                      {}

func (a *appendOnly) Write(ctx context.Context, ops []sink.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.snapshots {
		return a.writeSnapshot(ops)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return sink.ErrClosed
	}
	var failed []sink.IndexError
	for i, op := range ops {
		typ, id, err := op.Ref()
		if err != nil || op.IfMatch != "" {
			failed = append(failed, sink.IndexError{Index: i, Err: errors.Join(err, errors.ErrUnsupported)})
			continue
		}
		if op.Delete {
			var keep []proto.Message
			for _, l := range a.lines {
				if resource.Type(l) != typ || resource.ID(l) != id {
					keep = append(keep, l)
				}
			}
			a.lines = keep
			continue
		}
		r, _ := resource.Unwrap(op.Resource)
		a.lines = append(a.lines, proto.Clone(r))
	}
	if failed != nil {
		return &sink.BatchError{Failed: failed}
	}
	return nil
}

func (a *appendOnly) writeSnapshot(ops []sink.Op) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return sink.ErrClosed
	}
	snap := slices.Clone(a.lines)
	a.mu.Unlock()
	var failed []sink.IndexError
	for i, op := range ops {
		typ, id, err := op.Ref()
		if err != nil || op.IfMatch != "" {
			failed = append(failed, sink.IndexError{Index: i, Err: errors.Join(err, errors.ErrUnsupported)})
			continue
		}
		snap = slices.DeleteFunc(snap, func(l proto.Message) bool { return resource.Type(l) == typ && resource.ID(l) == id })
		if !op.Delete {
			r, _ := resource.Unwrap(op.Resource)
			snap = append(snap, proto.Clone(r))
		}
	}
	time.Sleep(time.Millisecond)
	a.mu.Lock()
	a.lines = snap
	a.mu.Unlock()
	if failed != nil {
		return &sink.BatchError{Failed: failed}
	}
	return nil
}

func (a *appendOnly) Close(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	return nil
}

func (a *appendOnly) Read(_ context.Context, typ, id string) (*sinktest.Stored, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.lines) - 1; i >= 0; i-- {
		if resource.Type(a.lines[i]) == typ && resource.ID(a.lines[i]) == id {
			return &sinktest.Stored{Resource: a.lines[i]}, nil
		}
	}
	return nil, sinktest.ErrNotFound
}

func (a *appendOnly) List(_ context.Context, typ string) ([]*sinktest.Stored, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*sinktest.Stored
	for _, l := range a.lines {
		if resource.Type(l) == typ {
			out = append(out, &sinktest.Stored{Resource: l})
		}
	}
	return out, nil
}

// The mutants' list is the suite's contract; keep it honest.
func TestMutantsNameRealTests(t *testing.T) {
	known := "WriteRead MixedTypes IdempotentRewrite UpdateOverwrites SameKeyInBatch PartialFailure Delete IfMatch IfMatchDelete Retryable Cancel Close CloseEmpty Concurrent LargeBatch Canary"
	for _, m := range mutants {
		assert.Contains(t, strings.Fields(known), m.caughtBy)
	}
}
