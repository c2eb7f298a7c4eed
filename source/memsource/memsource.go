// Package memsource is an in-memory message broker and [source.Source], for
// tests and examples: publish from any goroutine, read through one or more
// Sources, ack and nack as the engine would, and restart a Source to see what
// a real broker would deliver again.
//
// A [Broker] is one ordered log (like a single-partition topic). Sources are
// opened on a named subscription (a consumer group): every subscription sees
// every message; the Sources open on one subscription share its messages,
// each delivered to one of them at a time.
//
// # Delivery
//
// At-least-once. Each subscription keeps a checkpoint: the highest contiguous
// acknowledged position, which survives the Sources (it is "durable" for as
// long as the Broker lives). Acks may come out of order and from any
// goroutine; an ack past an unacked message does not move the checkpoint.
// A nacked message is delivered again by the next Read of any Source on the
// subscription, and so is an unsettled message of a Source that was closed
// while others stay open. When the last Source of a subscription closes, what
// it knew beyond the checkpoint is forgotten, as after a crash: a Source
// opened afterwards resumes from the checkpoint and delivers every later
// message again, including ones acked out of order.
//
// With [Options.Finite], Read returns io.EOF when there is nothing left to
// deliver and nothing in flight; while messages are in flight it waits,
// because a nack makes them deliverable again.
//
// Settling a message after its Source was closed returns [source.ErrClosed]
// and changes nothing: the message is delivered again.
//
// # PHI
//
// Message.ID is "<subscription>@<position>" and Metadata holds the
// subscription, the position and the delivery attempt; none of them is
// derived from a body, so they are PHI-free as long as subscription names are.
//
// # As
//
// [source.Message.As] exposes a *[Delivery] (position and attempt).
package memsource

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"

	"github.com/fhirsync/fhirsync/source"
)

// Broker is an in-memory ordered log with named subscriptions. The zero
// value is not usable; call [NewBroker]. A Broker is safe for concurrent use.
type Broker struct {
	mu      sync.Mutex
	log     [][]byte
	subs    map[string]*subscription
	changed chan struct{} // closed and replaced whenever something may become deliverable
}

// subscription is the state of one named subscription.
type subscription struct {
	committed int             // positions below are acknowledged
	next      int             // next position never delivered since the last restart
	acked     map[int]bool    // acked positions >= committed
	inflight  map[int]*Source // delivered, unsettled, and by which Source
	redeliver []int           // nacked or orphaned positions, sorted
	attempts  map[int]int     // deliveries of positions >= committed since the last restart
	open      int             // open Sources
}

// NewBroker returns an empty Broker.
func NewBroker() *Broker {
	return &Broker{subs: map[string]*subscription{}, changed: make(chan struct{})}
}

// Publish appends bodies to the log, in order. The bodies are copied.
func (b *Broker) Publish(bodies ...[]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, body := range bodies {
		b.log = append(b.log, append([]byte(nil), body...))
	}
	b.notify()
}

// Len returns the number of messages published.
func (b *Broker) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.log)
}

// Committed returns the checkpoint of the named subscription: every position below
// it was acknowledged. It is 0 for a subscription never opened.
func (b *Broker) Committed(name string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.subs[name]; s != nil {
		return s.committed
	}
	return 0
}

// notify wakes every waiting Read. b.mu must be held.
func (b *Broker) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Options configures a Source. A nil *Options means the defaults.
type Options struct {
	// Finite makes Read return io.EOF when the subscription has nothing left
	// to deliver and nothing in flight.
	Finite bool
	// MaxBatch caps the messages one Read returns; 0 means 100.
	MaxBatch int
}

// Delivery is what [source.Message.As] exposes for a memsource message.
type Delivery struct {
	// Subscription is the subscription the message was delivered on.
	Subscription string
	// Position is the message's index in the log, from 0.
	Position int
	// Attempt counts deliveries of this position on the subscription since
	// its last restart, from 1.
	Attempt int
}

// Source reads a subscription of a Broker. It is safe for concurrent use.
type Source struct {
	b       *Broker
	name    string
	sub     *subscription
	opts    Options
	closed  chan struct{}
	isClose bool // guarded by b.mu
}

var _ source.Source = (*Source)(nil)

// Open returns a Source reading the named subscription (a PHI-free name:
// it appears in message IDs). The first Source of a
// subscription starts at its checkpoint (position 0 for a new one).
func (b *Broker) Open(name string, opts *Options) *Source {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 100
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.subs[name]
	if s == nil {
		s = &subscription{}
		b.subs[name] = s
	}
	if s.open == 0 {
		s.restart()
	}
	s.open++
	return &Source{b: b, name: name, sub: s, opts: o, closed: make(chan struct{})}
}

// restart forgets everything beyond the checkpoint.
func (s *subscription) restart() {
	s.next = s.committed
	s.acked = map[int]bool{}
	s.inflight = map[int]*Source{}
	s.redeliver = nil
	s.attempts = map[int]int{}
}

// Read returns the next messages of the subscription, waiting until there is
// at least one, ctx is done, the Source is closed ([source.ErrClosed]) or, in
// Finite mode, the subscription is drained (io.EOF).
func (src *Source) Read(ctx context.Context) ([]*source.Message, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := src.b
		b.mu.Lock()
		if src.isClose {
			b.mu.Unlock()
			return nil, source.ErrClosed
		}
		ms := src.take()
		if len(ms) > 0 {
			b.mu.Unlock()
			return ms, nil
		}
		if src.opts.Finite && len(src.sub.inflight) == 0 {
			b.mu.Unlock()
			return nil, io.EOF
		}
		wait := b.changed
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-src.closed:
			return nil, source.ErrClosed
		case <-wait:
		}
	}
}

// take delivers up to MaxBatch messages: redeliveries first, then new ones.
// b.mu must be held.
func (src *Source) take() []*source.Message {
	s := src.sub
	var ms []*source.Message
	for len(ms) < src.opts.MaxBatch && len(s.redeliver) > 0 {
		pos := s.redeliver[0]
		s.redeliver = s.redeliver[1:]
		ms = append(ms, src.deliver(pos))
	}
	for len(ms) < src.opts.MaxBatch && s.next < len(src.b.log) {
		ms = append(ms, src.deliver(s.next))
		s.next++
	}
	return ms
}

// deliver builds the message for pos. b.mu must be held.
func (src *Source) deliver(pos int) *source.Message {
	s := src.sub
	s.inflight[pos] = src
	s.attempts[pos]++
	d := &Delivery{Subscription: src.name, Position: pos, Attempt: s.attempts[pos]}
	md := map[string]string{
		"subscription": src.name,
		"position":     strconv.Itoa(pos),
		"attempt":      strconv.Itoa(d.Attempt),
	}
	body := append([]byte(nil), src.b.log[pos]...)
	ack := func(_ context.Context, err error) error { return src.settle(pos, err) }
	as := func(target any) bool {
		p, ok := target.(**Delivery)
		if ok {
			*p = d
		}
		return ok
	}
	return source.NewMessage(fmt.Sprintf("%s@%d", src.name, pos), body, md, ack, as)
}

// settle records an ack (err == nil) or a nack of pos.
func (src *Source) settle(pos int, err error) error {
	b := src.b
	b.mu.Lock()
	defer b.mu.Unlock()
	s := src.sub
	if src.isClose || s.inflight[pos] != src {
		return fmt.Errorf("memsource: settle %s@%d: %w", src.name, pos, source.ErrClosed)
	}
	delete(s.inflight, pos)
	if err != nil {
		s.requeue(pos)
		b.notify()
		return nil
	}
	s.acked[pos] = true
	for s.acked[s.committed] {
		delete(s.acked, s.committed)
		delete(s.attempts, s.committed)
		s.committed++
	}
	b.notify() // a finite Read may be waiting for the last ack
	return nil
}

// requeue schedules pos for redelivery, keeping redeliver sorted.
func (s *subscription) requeue(pos int) {
	i := sort.SearchInts(s.redeliver, pos)
	s.redeliver = append(s.redeliver, 0)
	copy(s.redeliver[i+1:], s.redeliver[i:])
	s.redeliver[i] = pos
}

// Close closes the Source; a Read waiting on it returns [source.ErrClosed].
// Its unsettled messages go back to the subscription (delivered again to
// another open Source, or after a restart). Close is idempotent.
func (src *Source) Close() error {
	b := src.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if src.isClose {
		return nil
	}
	src.isClose = true
	close(src.closed)
	s := src.sub
	s.open--
	if s.open == 0 {
		s.restart()
	} else {
		for pos, owner := range s.inflight {
			if owner == src {
				delete(s.inflight, pos)
				s.requeue(pos)
			}
		}
	}
	b.notify()
	return nil
}
