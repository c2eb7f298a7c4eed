package pgsource

import (
	"sync"

	"github.com/jackc/pglogrepl"
)

// txn is the delivery state of one transaction's changes.
type txn struct {
	end       pglogrepl.LSN // end of the transaction (CommitMessage.TransactionEndLSN)
	committed bool          // its Commit message was received: total is final
	total     int           // changes delivered for it
	acked     int           // changes acked
}

// tracker computes the position the slot may confirm: the end of the last
// transaction, in commit order, all of whose changes are acked and all of
// whose predecessors are too. Acks come in any order from any goroutine.
type tracker struct {
	mu        sync.Mutex
	txns      []*txn // unconfirmed transactions in commit order
	confirmed pglogrepl.LSN
	closed    bool
	moved     bool // a transaction was confirmed (keepalives do not count)
}

func newTracker(start pglogrepl.LSN) *tracker { return &tracker{confirmed: start} }

// begin registers a transaction that has started arriving.
func (t *tracker) begin() *txn {
	tx := &txn{}
	t.mu.Lock()
	t.txns = append(t.txns, tx)
	t.mu.Unlock()
	return tx
}

// add counts one more change of tx, before it is handed to Read.
func (t *tracker) add(tx *txn) {
	t.mu.Lock()
	tx.total++
	t.mu.Unlock()
}

// commit marks tx complete: every change of it has been counted.
func (t *tracker) commit(tx *txn, end pglogrepl.LSN) {
	t.mu.Lock()
	tx.end = end
	tx.committed = true
	t.advanceLocked()
	t.mu.Unlock()
}

// settle records an ack (nack false) or a nack of one change of tx. A
// nacked change stays unacked (it is delivered again, and its ack counts
// then). It reports false when the tracker is closed: the settlement no
// longer counts.
func (t *tracker) settle(tx *txn, nack bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if nack {
		return true
	}
	tx.acked++
	t.advanceLocked()
	return true
}

func (t *tracker) advanceLocked() {
	n := 0
	for _, tx := range t.txns {
		if !tx.committed || tx.acked < tx.total {
			break
		}
		if tx.end > t.confirmed {
			t.confirmed = tx.end
		}
		n++
	}
	if n > 0 {
		t.moved = true
		clear(t.txns[:n])
		t.txns = t.txns[n:]
		if len(t.txns) == 0 {
			t.txns = nil
		}
	}
}

// idle advances the confirmed position to walEnd, the server's position in a
// keepalive, when no transaction is pending: every transaction that
// committed before walEnd has been received (the stream is in order) and
// settled, so the slot need not hold WAL up to there.
func (t *tracker) idle(walEnd pglogrepl.LSN) {
	t.mu.Lock()
	if len(t.txns) == 0 && !t.closed && walEnd > t.confirmed {
		t.confirmed = walEnd
	}
	t.mu.Unlock()
}

// settledSoFar reports whether every change of tx counted so far is acked.
func (t *tracker) settledSoFar(tx *txn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return tx.acked == tx.total
}

// position returns the confirmed position.
func (t *tracker) position() pglogrepl.LSN {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.confirmed
}

// progressed reports whether a transaction received on this tracker was
// confirmed: the connection delivered something end to end.
func (t *tracker) progressed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.moved
}

// close stops counting settlements (commits still count).
func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}
