package kafkasource

import (
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// topicPartition names a partition.
type topicPartition struct {
	topic     string
	partition int32
}

// pending is one delivered, not yet committed record of a partition.
type pending struct {
	offset int64
	epoch  int32
	acked  bool
}

// partition tracks the delivered records of one partition during one
// assignment: the position that may be committed is the offset after the
// highest record such that it and every record delivered before it are
// acknowledged. A revoke or loss of the partition makes the tracker dead: its
// acknowledgements no longer count, and a later assignment of the same
// partition gets a new tracker.
type partition struct {
	topicPartition

	mu   sync.Mutex
	dead bool
	// pend holds the delivered records from pend[head] on, in offset order;
	// those before head are acknowledged and folded into ready.
	pend []pending
	head int
	// last is the offset of the last record delivered (-1 before the first).
	last int64
	// ready is the position that may be committed (Offset -1 when none);
	// committed the last one committed (-1 when none).
	ready     kgo.EpochOffset
	committed int64
	// out counts the deliveries the caller has neither acknowledged nor
	// nacked; idle, when a revoke waits for it, is closed once out is 0.
	out  int
	idle chan struct{}
}

func newPartition(tp topicPartition) *partition {
	return &partition{topicPartition: tp, last: -1, ready: kgo.EpochOffset{Epoch: -1, Offset: -1}, committed: -1}
}

// add records the delivery of a record; it reports false (and records
// nothing) when the record is not after the last one delivered: the first
// delivery is the one tracked.
func (p *partition) add(offset int64, epoch int32) bool {
	if p.dead || offset <= p.last {
		return false
	}
	p.last = offset
	p.pend = append(p.pend, pending{offset: offset, epoch: epoch})
	p.out++
	return true
}

// find returns the index in pend of the record at offset, or -1.
func (p *partition) find(offset int64) int {
	i, ok := slices.BinarySearchFunc(p.pend[p.head:], offset, func(e pending, o int64) int {
		switch {
		case e.offset < o:
			return -1
		case e.offset > o:
			return 1
		}
		return 0
	})
	if !ok {
		return -1
	}
	return p.head + i
}

// ack acknowledges the record at offset and advances ready over the
// contiguous acknowledged records.
func (p *partition) ack(offset int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return
	}
	i := p.find(offset)
	if i < 0 || p.pend[i].acked {
		return
	}
	p.pend[i].acked = true
	p.settled()
	if i != p.head {
		return
	}
	for p.head < len(p.pend) && p.pend[p.head].acked {
		e := p.pend[p.head]
		p.ready = kgo.EpochOffset{Epoch: e.epoch, Offset: e.offset + 1}
		p.head++
	}
	switch {
	case p.head == len(p.pend):
		p.pend, p.head = p.pend[:0], 0
	case p.head >= 1024 && p.head*2 >= len(p.pend):
		n := copy(p.pend, p.pend[p.head:])
		p.pend, p.head = p.pend[:n], 0
	}
}

// again records that the record at offset, nacked, is delivered again; it
// reports false when the record is acknowledged or the tracker dead.
func (p *partition) again(offset int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.unacked(offset) {
		return false
	}
	p.out++
	return true
}

// unacked reports whether the tracker is alive and the record at offset
// delivered and not acknowledged; p.mu is held.
func (p *partition) unacked(offset int64) bool {
	if p.dead {
		return false
	}
	i := p.find(offset)
	return i >= 0 && !p.pend[i].acked
}

// nacked records that the caller gave the record at offset back without
// acknowledging it; it reports false when the record is acknowledged or the
// tracker dead (there is nothing to deliver again).
func (p *partition) nacked(offset int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.unacked(offset) {
		return false
	}
	p.settled()
	return true
}

// settled counts a delivery acknowledged or nacked; p.mu is held.
func (p *partition) settled() {
	p.out--
	if p.out == 0 && p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
}

// drained returns a channel closed once every delivery of the partition is
// acknowledged or nacked, or the tracker is dead.
func (p *partition) drained() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead || p.out <= 0 {
		return closedChan
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	return p.idle
}

// inFlight returns how many deliveries the caller holds.
func (p *partition) inFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out
}

// closedChan is a closed channel.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// toCommit returns the position to commit, if it is past the last one
// committed. p.mu must be held.
func (p *partition) toCommit() (kgo.EpochOffset, bool) {
	if p.dead || p.ready.Offset <= p.committed {
		return kgo.EpochOffset{}, false
	}
	return p.ready, true
}

// kill makes the tracker dead and returns the position that may still be
// committed for it (false when none is new).
func (p *partition) kill() (kgo.EpochOffset, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	eo, ok := p.toCommit()
	p.dead = true
	p.pend, p.head = nil, 0
	p.out = 0
	if p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
	return eo, ok
}

// markCommitted records that offset was committed.
func (p *partition) markCommitted(offset int64) {
	p.mu.Lock()
	if offset > p.committed {
		p.committed = offset
	}
	p.mu.Unlock()
}
