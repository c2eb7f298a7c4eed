package sourcetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/memsource"
	"github.com/fhirsync/fhirsync/source/sourcetest"
)

// memHarness runs the suite against memsource, wrapped in a mutation (none
// for the correct driver).
type memHarness struct {
	b      *memsource.Broker
	opts   memsource.Options
	mutant string
}

func (h *memHarness) Publish(_ context.Context, _ *testing.T, payloads []string) {
	for _, p := range payloads {
		h.b.Publish([]byte(p))
	}
}

func (h *memHarness) Open(_ context.Context, _ *testing.T) source.Source {
	inner := h.b.Open("sourcetest", &h.opts)
	if h.mutant == "" {
		return inner
	}
	return &mutantSource{inner: inner, mutant: h.mutant}
}

func (h *memHarness) Payload(_ *testing.T, m *source.Message) string { return string(m.Body) }

// TestCorrectDriver: the suite passes a correct driver, finite or not.
func TestCorrectDriver(t *testing.T) {
	for _, finite := range []bool{false, true} {
		t.Run(fmt.Sprintf("Finite=%v", finite), func(t *testing.T) {
			sourcetest.Run(t, func(*testing.T) sourcetest.Harness {
				return &memHarness{b: memsource.NewBroker(), opts: memsource.Options{Finite: finite, MaxBatch: 3}}
			}, sourcetest.Features{Finite: finite, Ordered: true, NackRedelivers: true})
		})
	}
}

// mutants are deliberately broken drivers and the subtest that must catch
// each; finite ones run the suite with Features.Finite on a finite memsource.
var mutants = []struct {
	name, catchBy string
	raceOnly      bool
	finite        bool
}{
	{"commitsPastUnacked", "OutOfOrderAck", false, false},
	{"dropsNack", "Nack", false, false},
	{"nackCommits", "NackThenClose", false, false},
	{"forgetsAcks", "AckedNotRedelivered", false, false},
	{"bodyInID", "ReadAll", false, false},
	{"bodyInMetadata", "ReadAll", false, false},
	{"bodyInError", "Close", false, false},
	{"sameID", "ReadAll", false, false},
	{"emptyID", "ReadAll", false, false},
	{"reorders", "ReadAll", false, false},
	{"ignoresCancel", "CancelledContext", false, false},
	{"losesOnCancel", "CancelledContext", false, false},
	{"redeliversOnCancel", "CancelledContext", false, false},
	{"hangsOnEmpty", "DeadlineOnEmpty", false, false},
	{"noErrClosed", "Close", false, false},
	{"secondCloseFails", "Close", false, false},
	{"racyAcks", "ConcurrentAcks", true, false},
	{"neverEOF", "ReadAll", false, true},
	{"forgetsAcks", "AckedNotRedelivered", false, true},
	{"commitsPastUnacked", "OutOfOrderAck", false, true},
	{"dropsNack", "Nack", false, true},
	{"nackCommits", "NackThenClose", false, true},
}

// TestSuiteCatchesBrokenDrivers runs the suite against each mutant in a child
// process (a *testing.T cannot be faked) and checks that the expected subtest
// fails.
func TestSuiteCatchesBrokenDrivers(t *testing.T) {
	if os.Getenv("SOURCETEST_MUTANT") != "" {
		t.Skip("in a mutant child")
	}
	for _, m := range mutants {
		name := m.name
		if m.finite {
			name += "Finite"
		}
		t.Run(name, func(t *testing.T) {
			if m.raceOnly && !raceEnabled {
				t.Skip("caught by the race detector only; run with -race")
			}
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutantChild$/^"+m.catchBy+"$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "SOURCETEST_MUTANT="+m.name, "SOURCETEST_FINITE="+strconv.FormatBool(m.finite))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("mutant %s: the suite passed (err %v); output:\n%s", m.name, err, out)
			}
			if want := "--- FAIL: TestMutantChild/" + m.catchBy; !strings.Contains(string(out), want) {
				t.Fatalf("mutant %s: output lacks %q:\n%s", m.name, want, out)
			}
			if strings.Contains(string(out), sourcetest.Canary) {
				t.Errorf("mutant %s: the suite's own failure messages print the canary:\n%s", m.name, out)
			}
		})
	}
}

// TestMutantChild runs the suite against the mutant named by
// SOURCETEST_MUTANT, finite when SOURCETEST_FINITE is true; it is started by
// TestSuiteCatchesBrokenDrivers.
func TestMutantChild(t *testing.T) {
	name := os.Getenv("SOURCETEST_MUTANT")
	if name == "" {
		t.Skip("started by TestSuiteCatchesBrokenDrivers")
	}
	finite := os.Getenv("SOURCETEST_FINITE") == "true"
	// A broken driver may leave the suite waiting for a message that never
	// comes; a short deadline keeps the mutant runs fast.
	defer sourcetest.SetTimeouts(3*time.Second, 2*time.Second)()
	sourcetest.Run(t, func(*testing.T) sourcetest.Harness {
		return &memHarness{b: memsource.NewBroker(), opts: memsource.Options{Finite: finite}, mutant: name}
	}, sourcetest.Features{Finite: finite, Ordered: true, NackRedelivers: true})
}

// mutantSource wraps a correct memsource Source and breaks one rule.
type mutantSource struct {
	inner  *memsource.Source
	mutant string

	mu        sync.Mutex
	delivered []*source.Message // inner messages, in delivery order
	kept      []*source.Message // nackCommits: nacked messages kept in memory only
	nacked    int               // redeliversOnCancel: nacks since the last Read
	closes    int
	last      string // bodies delivered
	racy      int
}

func (s *mutantSource) Read(ctx context.Context) ([]*source.Message, error) {
	readCtx := ctx
	switch s.mutant {
	case "ignoresCancel", "hangsOnEmpty":
		readCtx = context.Background()
	case "redeliversOnCancel":
		// Returns waiting redeliveries whatever the context.
		s.mu.Lock()
		waiting := s.nacked > 0
		s.nacked = 0
		s.mu.Unlock()
		if waiting {
			readCtx = context.Background()
		}
	case "losesOnCancel":
		if ctx.Err() != nil {
			ms, _ := s.inner.Read(context.Background())
			for _, m := range ms {
				_ = m.Ack(context.Background())
			}
			return nil, ctx.Err()
		}
	}
	if s.mutant == "nackCommits" {
		s.mu.Lock()
		kept := s.kept
		s.kept = nil
		s.mu.Unlock()
		if len(kept) > 0 {
			return kept, nil
		}
	}
	ms, err := s.inner.Read(readCtx)
	if err != nil {
		switch {
		case s.mutant == "noErrClosed" && errors.Is(err, source.ErrClosed):
			return nil, io.EOF
		case s.mutant == "neverEOF" && errors.Is(err, io.EOF):
			<-ctx.Done()
			return nil, ctx.Err()
		case s.mutant == "bodyInError" && errors.Is(err, source.ErrClosed):
			s.mu.Lock()
			defer s.mu.Unlock()
			return nil, fmt.Errorf("closed after %s: %w", s.last, err)
		}
		return nil, err
	}
	out := make([]*source.Message, len(ms))
	for i, m := range ms {
		out[i] = s.wrap(m)
	}
	if s.mutant == "reorders" {
		slices.Reverse(out)
	}
	return out, nil
}

func (s *mutantSource) wrap(m *source.Message) *source.Message {
	s.mu.Lock()
	s.delivered = append(s.delivered, m)
	idx := len(s.delivered) - 1
	s.last += string(m.Body) + ","
	s.mu.Unlock()
	id, md := m.ID, m.Metadata
	switch s.mutant {
	case "bodyInID":
		id = string(m.Body)
	case "bodyInMetadata":
		md = map[string]string{"first-bytes": string(m.Body)}
	case "sameID":
		id = "message"
	case "emptyID":
		id = ""
	}
	ack := func(ctx context.Context, err error) error {
		switch {
		case s.mutant == "racyAcks":
			s.racy++
		case s.mutant == "redeliversOnCancel" && err != nil:
			s.mu.Lock()
			s.nacked++
			s.mu.Unlock()
		case s.mutant == "forgetsAcks" && err == nil:
			return nil
		case s.mutant == "dropsNack" && err != nil:
			return m.Ack(ctx)
		case s.mutant == "nackCommits" && err != nil:
			// Redelivers from memory, but lets the checkpoint pass the
			// nacked message: lost if the Source closes first.
			if aerr := m.Ack(ctx); aerr != nil {
				return aerr
			}
			s.keep(id, m.Body, md)
			return nil
		case s.mutant == "commitsPastUnacked" && err == nil:
			s.mu.Lock()
			earlier := slices.Clone(s.delivered[:idx])
			s.mu.Unlock()
			for _, e := range earlier {
				_ = e.Ack(ctx) // ErrSettled for those settled already
			}
		}
		var settleErr error
		if err == nil {
			settleErr = m.Ack(ctx)
		} else {
			settleErr = m.Nack(ctx, err)
		}
		if errors.Is(settleErr, source.ErrSettled) {
			return nil
		}
		return settleErr
	}
	return source.NewMessage(id, m.Body, md, ack, m.As)
}

// keep queues an in-memory redelivery (nackCommits).
func (s *mutantSource) keep(id string, body []byte, md map[string]string) {
	km := source.NewMessage(id, body, md, func(_ context.Context, err error) error {
		if err != nil {
			s.keep(id, body, md)
		}
		return nil
	}, nil)
	s.mu.Lock()
	s.kept = append(s.kept, km)
	s.mu.Unlock()
}

func (s *mutantSource) Close() error {
	s.mu.Lock()
	s.closes++
	n := s.closes
	s.mu.Unlock()
	if s.mutant == "secondCloseFails" && n > 1 {
		return errors.New("already closed")
	}
	return s.inner.Close()
}
