// Package sourcetest is the conformance suite every [source.Source] driver
// runs, in the style of Go CDK's drivertest.
//
// A driver's test implements a [Harness] (publish payloads into the real
// system behind the driver, open a Source on it) and calls [Run] with the
// [Features] it promises:
//
//	func TestConformance(t *testing.T) {
//		sourcetest.Run(t, newHarness, sourcetest.Features{Ordered: true, NackRedelivers: true})
//	}
//
// Every subtest gets a fresh harness and a 30 s deadline; a Read, Ack, Nack
// or Close that does not return within 10 s after its context is done fails
// the test instead of hanging it. The subtests check:
//
//   - ReadAll: every published payload is delivered, with a non-empty ID
//     that no other payload's delivery carries; with Ordered, first
//     deliveries come in publish order; with Finite, Read returns io.EOF once
//     everything was read and acked.
//   - AckedNotRedelivered: after acking everything, a Source opened after
//     Close delivers none of it again (a marker published after the reopen is
//     read to be sure; a finite Source returns io.EOF).
//   - OutOfOrderAck: acking every message but the first, then closing and
//     reopening, delivers the first again (later ones may come again too:
//     at-least-once); nothing is lost; once that is acked a further reopen
//     delivers nothing.
//   - Nack: a nacked message is delivered again, by the same Source with
//     NackRedelivers, otherwise after a reopen; it is never dropped.
//   - NackThenClose (NackRedelivers): a message nacked and not yet
//     delivered again when its Source closes is delivered after a reopen: a
//     driver that redelivers nacks from memory must not let its checkpoint
//     pass them (Nack checks this already for the other drivers).
//   - SettleOnce: a second Ack or Nack returns [source.ErrSettled].
//   - ConcurrentAcks: acks from several goroutines at once (run with -race)
//     all count.
//   - CancelledContext: Read with a cancelled context returns an error
//     satisfying errors.Is(err, context.Canceled) and no message, even with
//     a nacked message waiting (NackRedelivers), and loses nothing.
//   - DeadlineOnEmpty (not Finite): Read on a source with nothing to deliver
//     returns an error satisfying errors.Is(err, context.DeadlineExceeded)
//     when its deadline passes.
//   - Close: Close twice returns nil both times; Read after Close returns an
//     error satisfying errors.Is(err, source.ErrClosed); settling after Close
//     does not panic; whatever was not acked comes back after a reopen.
//
// In every subtest, every delivered message and every error returned by the
// driver is checked for PHI: [Canary], which one payload of every publish
// carries, must never appear in a Message's ID, its Metadata keys or values,
// its slog output ([source.Message.LogValue]) or an error string.
//
// # Finite sources
//
// A finite Source is read by the suite until every payload published has been
// delivered, and then, after the messages were settled, until io.EOF; the
// suite never calls Read while it holds unsettled messages and expects io.EOF,
// so a finite driver may either return io.EOF as soon as everything was read
// or wait until its in-flight messages are settled.
package sourcetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/source"
)

// Canary is the value one payload of every publish carries. It stands for
// PHI in a record body and must never reach a Message's ID, Metadata, log
// output or an error.
const Canary = "ZZCANARYZZ"

// testTimeout bounds each subtest: every Read the suite makes uses a context
// that expires by then. grace is how long after its context is done a Read,
// Ack, Nack or Close may take before the suite reports that the driver
// ignores its context. Variables only so that the suite's own tests of
// broken drivers finish sooner.
var (
	testTimeout = 30 * time.Second
	grace       = 10 * time.Second
)

// Harness connects the suite to one driver and the real system behind it.
type Harness interface {
	// Publish makes the payloads available to Sources opened by Open, in order.
	// Payloads are unique printable ASCII strings of at most 200 bytes; one holds ZZCANARYZZ.
	Publish(ctx context.Context, t *testing.T, payloads []string)
	// Open returns a new Source reading what was published. A Source opened after
	// another was closed resumes from the last checkpoint that one committed (a restart).
	Open(ctx context.Context, t *testing.T) source.Source
	// Payload returns the payload a message carries (its Body for most drivers).
	Payload(t *testing.T, m *source.Message) string
}

// Features says what a driver promises beyond the contract every Source keeps.
type Features struct {
	Finite         bool // Read returns io.EOF once everything published has been read
	Ordered        bool // first deliveries come in publish order
	NackRedelivers bool // a nacked message is delivered again by the same Source (otherwise only after a reopen)
}

type test struct {
	name string
	run  func(s *suite)
	skip func(f Features) string // non-empty: why the test does not apply
}

var tests = []test{
	{name: "ReadAll", run: testReadAll},
	{name: "AckedNotRedelivered", run: testAckedNotRedelivered},
	{name: "OutOfOrderAck", run: testOutOfOrderAck},
	{name: "Nack", run: testNack},
	{name: "NackThenClose", run: testNackThenClose, skip: func(f Features) string {
		if !f.NackRedelivers {
			return "Nack reopens the Source after the nack already"
		}
		return ""
	}},
	{name: "SettleOnce", run: testSettleOnce},
	{name: "ConcurrentAcks", run: testConcurrentAcks},
	{name: "CancelledContext", run: testCancelledContext},
	{name: "DeadlineOnEmpty", run: testDeadlineOnEmpty, skip: func(f Features) string {
		if f.Finite {
			return "a finite source returns io.EOF when it has nothing to deliver"
		}
		return ""
	}},
	{name: "Close", run: testClose},
}

// Run runs every conformance test as a subtest; each subtest gets a fresh harness
// (its own topic/slot/directory/queue) from newHarness.
func Run(t *testing.T, newHarness func(t *testing.T) Harness, f Features) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != nil {
				if why := tc.skip(f); why != "" {
					t.Skip(why)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			s := &suite{t: t, f: f, ctx: ctx, token: token(), ids: map[string]string{}, published: map[string]bool{}}
			s.h = newHarness(t)
			tc.run(s)
		})
	}
}

// token is a random prefix that keeps payloads unique across runs against
// systems that outlive a test.
func token() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// suite is the state of one subtest.
type suite struct {
	t     *testing.T
	h     Harness
	f     Features
	ctx   context.Context
	token string

	mu        sync.Mutex
	n         int               // payloads published so far
	published map[string]bool   // every payload published
	ids       map[string]string // message ID → payload it carried
}

// publish publishes n new payloads (one of them, when n >= 3, carrying the
// canary) and returns them in publish order.
func (s *suite) publish(n int) []string {
	s.t.Helper()
	ps := make([]string, n)
	s.mu.Lock()
	for i := range ps {
		ps[i] = fmt.Sprintf("sourcetest-%s-%04d", s.token, s.n)
		if n >= 3 && i == n/2 {
			ps[i] += "-member-" + Canary
		}
		s.published[ps[i]] = true
		s.n++
	}
	s.mu.Unlock()
	s.h.Publish(s.ctx, s.t, ps)
	return ps
}

// open opens a Source and closes it when the test ends (Close must be
// idempotent, so a test may close it first).
func (s *suite) open() source.Source {
	s.t.Helper()
	src := s.h.Open(s.ctx, s.t)
	if src == nil {
		s.t.Fatal("Harness.Open returned a nil Source")
	}
	s.t.Cleanup(func() { _ = src.Close() })
	return src
}

// within runs fn, failing the test when it does not return within Grace after
// ctx is done.
func (s *suite) within(ctx context.Context, what string, fn func() error) error {
	s.t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	limit := grace
	if dl, ok := ctx.Deadline(); ok {
		limit += time.Until(dl)
	} else if ctx.Err() == nil {
		limit += testTimeout
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case err := <-done:
		s.checkErr(what, err)
		return err
	case <-timer.C:
		s.t.Fatalf("%s did not return within %v after its context was done: a driver must honour ctx", what, grace)
		return nil
	}
}

// read calls src.Read under a guard and checks what it returns.
func (s *suite) read(ctx context.Context, src source.Source) ([]*source.Message, error) {
	s.t.Helper()
	var ms []*source.Message
	err := s.within(ctx, "Read", func() error {
		var err error
		ms, err = src.Read(ctx)
		return err
	})
	if err == nil && len(ms) == 0 {
		s.t.Errorf("Read returned no messages and a nil error (it must block until at least one message, ctx done or io.EOF)")
	}
	for _, m := range ms {
		s.checkMessage(m)
	}
	return ms, err
}

func (s *suite) ack(m *source.Message) {
	s.t.Helper()
	if err := s.within(s.ctx, "Ack", func() error { return m.Ack(s.ctx) }); err != nil {
		s.t.Errorf("Ack(%s): %v", safe(m.ID), e(err))
	}
}

func (s *suite) nack(m *source.Message) {
	s.t.Helper()
	if err := s.within(s.ctx, "Nack", func() error { return m.Nack(s.ctx, errors.New("sourcetest: nack")) }); err != nil {
		s.t.Errorf("Nack(%s): %v", safe(m.ID), e(err))
	}
}

func (s *suite) close(src source.Source) {
	s.t.Helper()
	if err := s.within(s.ctx, "Close", src.Close); err != nil {
		s.t.Errorf("Close: %v", e(err))
	}
}

// checkErr fails the test when err's text carries the canary.
func (s *suite) checkErr(what string, err error) {
	s.t.Helper()
	if err != nil && strings.Contains(err.Error(), Canary) {
		s.t.Errorf("%s returned an error whose text holds the canary (PHI from a body): %q", what, e(err))
	}
}

// checkMessage checks a delivered message: a payload that was published, a
// non-empty ID that no other payload's delivery carried, and no canary in its
// ID, Metadata or log output.
func (s *suite) checkMessage(m *source.Message) {
	s.t.Helper()
	if m == nil {
		s.t.Fatal("Read returned a nil *Message")
	}
	p := s.h.Payload(s.t, m)
	s.mu.Lock()
	known := s.published[p]
	prev, seen := s.ids[m.ID]
	if !seen {
		s.ids[m.ID] = p
	}
	s.mu.Unlock()
	switch {
	case m.ID == "":
		s.t.Errorf("message carrying payload %d has an empty ID", len(p))
	case seen && prev != p:
		s.t.Errorf("message ID %q was delivered for two different payloads", safe(m.ID))
	}
	if !known {
		s.t.Errorf("message %q carries a payload that was never published", safe(m.ID))
	}
	if strings.Contains(m.ID, Canary) {
		s.t.Errorf("message ID holds the canary (PHI from a body)")
	}
	for k, v := range m.Metadata {
		if strings.Contains(k, Canary) || strings.Contains(v, Canary) {
			s.t.Errorf("message %q: Metadata holds the canary (PHI from a body)", safe(m.ID))
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("delivered", "message", m)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("delivered", "message", m)
	if strings.Contains(buf.String(), Canary) {
		s.t.Errorf("message %q: its slog output holds the canary (PHI from a body)", safe(m.ID))
	}
}

// safe keeps a canary out of the suite's own failure messages.
func safe(s string) string { return strings.ReplaceAll(s, Canary, "<canary>") }

// e is err's text without the canary, for the suite's failure messages.
func e(err error) string {
	if err == nil {
		return "<nil>"
	}
	return safe(err.Error())
}

// delivery is one message as the suite received it.
type delivery struct {
	payload string
	m       *source.Message
}

// readUntil reads from src until every payload in want (described by what)
// was delivered at least once, calling settle (if non-nil) on each message as it arrives, and
// returns every delivery in order. A finite source that returns io.EOF first,
// or any other error, fails the test.
func (s *suite) readUntil(src source.Source, want []string, settle func(*source.Message), what string) []delivery {
	s.t.Helper()
	missing := map[string]bool{}
	for _, p := range want {
		missing[p] = true
	}
	var got []delivery
	for len(missing) > 0 {
		ms, err := s.read(s.ctx, src)
		for _, m := range ms {
			p := s.h.Payload(s.t, m)
			got = append(got, delivery{p, m})
			delete(missing, p)
			if settle != nil {
				settle(m)
			}
		}
		if err != nil {
			s.t.Fatalf("Read: %v (still waiting for %d of %d payloads: %s)", e(err), len(missing), len(want), what)
		}
	}
	return got
}

// drain reads a finite src until io.EOF, acking every message, and returns
// the payloads delivered.
func (s *suite) drain(src source.Source) []string {
	s.t.Helper()
	var got []string
	for {
		ms, err := s.read(s.ctx, src)
		for _, m := range ms {
			got = append(got, s.h.Payload(s.t, m))
			s.ack(m)
		}
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			s.t.Fatalf("Read: %v (a finite source must end with io.EOF)", e(err))
		}
	}
}

// expectNothingOf checks that src delivers none of done: a finite source
// returns io.EOF without delivering any of them; for others a marker is
// published and read, and nothing in done may come before it. Everything
// delivered is acked.
func (s *suite) expectNothingOf(src source.Source, done []string) {
	s.t.Helper()
	isDone := map[string]bool{}
	for _, p := range done {
		isDone[p] = true
	}
	var again []delivery
	if s.f.Finite {
		for _, p := range s.drain(src) {
			if isDone[p] {
				again = append(again, delivery{payload: p})
			}
		}
	} else {
		marker := s.publish(1)
		for _, d := range s.readUntil(src, marker, s.ack, "the marker published after the reopen") {
			if isDone[d.payload] {
				again = append(again, d)
			}
		}
	}
	if len(again) > 0 {
		s.t.Errorf("%d of %d acked messages were delivered again after a reopen (the checkpoint lost acks)", len(again), len(done))
	}
}

func payloads(ds []delivery) []string {
	ps := make([]string, len(ds))
	for i, d := range ds {
		ps[i] = d.payload
	}
	return ps
}

func testReadAll(s *suite) {
	want := s.publish(10)
	src := s.open()
	got := s.readUntil(src, want, s.ack, "the published payloads")
	if s.f.Ordered {
		var first []string
		seen := map[string]bool{}
		for _, p := range payloads(got) {
			if !seen[p] {
				seen[p] = true
				first = append(first, p)
			}
		}
		for i := range want {
			if first[i] != want[i] {
				s.t.Errorf("Ordered: first delivery %d carries payload %s, want %s", i, safe(first[i]), safe(want[i]))
				break
			}
		}
	}
	if s.f.Finite {
		for i := 0; i < 2; i++ {
			ms, err := s.read(s.ctx, src)
			if !errors.Is(err, io.EOF) || len(ms) > 0 {
				s.t.Fatalf("Finite: Read after everything was read and acked returned %d messages and %v, want io.EOF", len(ms), e(err))
			}
		}
	}
}

func testAckedNotRedelivered(s *suite) {
	want := s.publish(5)
	src := s.open()
	s.readUntil(src, want, s.ack, "the published payloads")
	s.close(src)
	s.expectNothingOf(s.open(), want)
}

func testOutOfOrderAck(s *suite) {
	want := s.publish(6)
	src := s.open()
	got := s.readUntil(src, want, nil, "the published payloads")
	first := got[0]
	// Ack the others newest first, so an ack never follows its predecessor.
	for i := len(got) - 1; i > 0; i-- {
		if got[i].payload != first.payload {
			s.ack(got[i].m)
		}
	}
	s.close(src)

	src = s.open()
	var after []string
	if s.f.Finite {
		after = s.drain(src)
	} else {
		marker := s.publish(1)
		after = payloads(s.readUntil(src, []string{first.payload, marker[0]}, s.ack, "the first message (left unacked while later ones were acked) after a reopen, and a marker"))
	}
	redelivered := false
	for _, p := range after {
		redelivered = redelivered || p == first.payload
	}
	if !redelivered {
		s.t.Fatalf("the first message, left unacked while the later ones were acked, was not delivered after a reopen: the checkpoint skipped it")
	}
	s.close(src)
	s.expectNothingOf(s.open(), want)
}

func testNack(s *suite) {
	want := s.publish(4)
	src := s.open()
	got := s.readUntil(src, want, nil, "the published payloads")
	nacked := got[0]
	s.nack(nacked.m)
	for _, d := range got[1:] {
		if d.payload != nacked.payload {
			s.ack(d.m)
		}
	}
	if s.f.NackRedelivers {
		s.readUntil(src, []string{nacked.payload}, s.ack, "the nacked message, from the same Source (NackRedelivers)")
		if s.f.Finite {
			if ms, err := s.read(s.ctx, src); !errors.Is(err, io.EOF) || len(ms) > 0 {
				s.t.Errorf("Finite: Read after the nacked message was redelivered and acked returned %d messages and %v, want io.EOF", len(ms), e(err))
			}
		}
		s.close(src)
		s.expectNothingOf(s.open(), want)
		return
	}
	s.close(src)
	src = s.open()
	var after []string
	if s.f.Finite {
		after = s.drain(src)
	} else {
		after = payloads(s.readUntil(src, []string{nacked.payload}, s.ack, "the nacked message, after a reopen"))
	}
	for _, p := range after {
		if p == nacked.payload {
			return
		}
	}
	s.t.Errorf("a nacked message was not delivered again after a reopen: nack dropped it")
}

func testNackThenClose(s *suite) {
	want := s.publish(3)
	src := s.open()
	got := s.readUntil(src, want, nil, "the published payloads")
	nacked := got[0]
	s.nack(nacked.m)
	for _, d := range got[1:] {
		if d.payload != nacked.payload {
			s.ack(d.m)
		}
	}
	s.close(src)
	src = s.open()
	var after []string
	if s.f.Finite {
		after = s.drain(src)
	} else {
		// The acked ones may come again too (at-least-once), before the marker.
		marker := s.publish(1)
		after = payloads(s.readUntil(src, []string{nacked.payload, marker[0]}, s.ack, "the message nacked before its Source closed, after a reopen, and a marker"))
	}
	if !slices.Contains(after, nacked.payload) {
		s.t.Fatalf("a message nacked (and not yet delivered again) when its Source closed was not delivered after a reopen: the checkpoint passed it")
	}
	s.close(src)
	s.expectNothingOf(s.open(), want)
}

func testSettleOnce(s *suite) {
	want := s.publish(3)
	src := s.open()
	got := s.readUntil(src, want, nil, "the published payloads")
	a, n := got[0].m, got[1].m
	s.ack(a)
	if err := a.Ack(s.ctx); !errors.Is(err, source.ErrSettled) {
		s.t.Errorf("second Ack = %v, want source.ErrSettled", e(err))
	}
	if err := a.Nack(s.ctx, errors.New("sourcetest")); !errors.Is(err, source.ErrSettled) {
		s.t.Errorf("Nack after Ack = %v, want source.ErrSettled", e(err))
	}
	s.nack(n)
	if err := n.Ack(s.ctx); !errors.Is(err, source.ErrSettled) {
		s.t.Errorf("Ack after Nack = %v, want source.ErrSettled", e(err))
	}
	if err := n.Nack(s.ctx, errors.New("sourcetest")); !errors.Is(err, source.ErrSettled) {
		s.t.Errorf("second Nack = %v, want source.ErrSettled", e(err))
	}
}

func testConcurrentAcks(s *suite) {
	want := s.publish(40)
	src := s.open()
	got := s.readUntil(src, want, nil, "the published payloads")
	mathrand.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
	const workers = 8
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(got); i += workers {
				if err := got[i].m.Ack(s.ctx); err != nil {
					s.checkErr("Ack", err)
					s.t.Errorf("concurrent Ack(%s): %v", safe(got[i].m.ID), e(err))
				}
			}
		}()
	}
	wg.Wait()
	s.close(src)
	s.expectNothingOf(s.open(), want)
}

func testCancelledContext(s *suite) {
	want := s.publish(3)
	src := s.open()
	ctx, cancel := context.WithCancel(s.ctx)
	cancel()
	ms, err := s.read(ctx, src)
	if !errors.Is(err, context.Canceled) {
		s.t.Errorf("Read with a cancelled context returned %v, want an error satisfying errors.Is(err, context.Canceled)", e(err))
	}
	if len(ms) > 0 {
		s.t.Errorf("Read with a cancelled context returned %d messages", len(ms))
	}
	// Nothing was lost to the cancelled Read.
	got := s.readUntil(src, want, nil, "the payloads, after a Read with a cancelled context")
	if !s.f.NackRedelivers {
		for _, d := range got {
			s.ack(d.m)
		}
		return
	}
	// Nor does a message waiting for redelivery change that.
	s.nack(got[0].m)
	for _, d := range got[1:] {
		s.ack(d.m)
	}
	ms, err = s.read(ctx, src)
	if !errors.Is(err, context.Canceled) || len(ms) > 0 {
		s.t.Fatalf("Read with a cancelled context, a nacked message waiting, returned %d messages and %v, want context.Canceled", len(ms), e(err))
	}
	s.readUntil(src, []string{got[0].payload}, s.ack, "the nacked message, after a Read with a cancelled context")
}

func testDeadlineOnEmpty(s *suite) {
	src := s.open()
	expectDeadline := func(when string) {
		ctx, cancel := context.WithTimeout(s.ctx, 100*time.Millisecond)
		defer cancel()
		ms, err := s.read(ctx, src)
		if !errors.Is(err, context.DeadlineExceeded) || len(ms) > 0 {
			s.t.Errorf("Read on a source with nothing to deliver (%s) returned %d messages and %v, want context.DeadlineExceeded", when, len(ms), e(err))
		}
	}
	expectDeadline("nothing published")
	s.readUntil(src, s.publish(2), s.ack, "the published payloads")
	expectDeadline("everything read and acked")
}

func testClose(s *suite) {
	want := s.publish(3)
	src := s.open()
	got := s.readUntil(src, want, nil, "the published payloads")
	s.close(src)
	if err := s.within(s.ctx, "Close", src.Close); err != nil {
		s.t.Errorf("second Close = %v, want nil (Close is idempotent)", e(err))
	}
	ms, err := s.read(s.ctx, src)
	if !errors.Is(err, source.ErrClosed) || len(ms) > 0 {
		s.t.Errorf("Read after Close returned %d messages and %v, want source.ErrClosed", len(ms), e(err))
	}
	// Settling after Close must not panic; whatever it returns, a message
	// whose Ack did not return nil must come back.
	var pending []string
	if err := s.within(s.ctx, "Ack", func() error { return got[0].m.Ack(s.ctx) }); err != nil {
		pending = append(pending, got[0].payload)
	}
	_ = s.within(s.ctx, "Nack", func() error { return got[1].m.Nack(s.ctx, errors.New("sourcetest")) })
	for _, d := range got[1:] {
		pending = append(pending, d.payload)
	}
	src = s.open()
	if s.f.Finite {
		after := map[string]bool{}
		for _, p := range s.drain(src) {
			after[p] = true
		}
		for _, p := range pending {
			if !after[p] {
				s.t.Errorf("a message left unacked when its Source was closed was not delivered after a reopen")
			}
		}
		return
	}
	s.readUntil(src, pending, s.ack, "the messages left unacked at Close, after a reopen")
}
