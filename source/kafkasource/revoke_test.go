package kafkasource_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/kafkasource"
)

// collector reads a Source in the background and acknowledges what it
// reads, as a service would.
type collector struct {
	mu   sync.Mutex
	got  []string // bodies, in the order read
	stop context.CancelFunc
	done chan struct{}
}

func collect(s source.Source) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			msgs, err := s.Read(ctx)
			if err != nil {
				return
			}
			for _, m := range msgs {
				c.mu.Lock()
				c.got = append(c.got, string(m.Body))
				c.mu.Unlock()
				_ = m.Ack(ctx)
			}
		}
	}()
	return c
}

func (c *collector) bodies() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

func (c *collector) close() {
	c.stop()
	<-c.done
}

// waitBodies waits until c read at least n messages.
func (c *collector) waitBodies(t *testing.T, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool { return len(c.bodies()) >= n }, 20*time.Second, 10*time.Millisecond, "read %d messages", n)
	return c.bodies()
}

// When another member joins, the partition a member gives up is handed
// over only once the records of it that the member holds are acknowledged
// or nacked: the new owner goes on from where the old one ended, so the two
// never work the partition at once (the old owner's late write of an older
// version would otherwise land over the new owner's newer one).
func TestRevokeWaitsForRecordsInFlight(t *testing.T) {
	for _, tc := range []struct {
		name   string
		settle func(context.Context, *source.Message) error
		// reread: the new owner reads the settled records of its
		// partition again (they were nacked: not processed).
		reread bool
	}{
		{"acknowledged", func(ctx context.Context, m *source.Message) error { return m.Ack(ctx) }, false},
		{"nacked", func(ctx context.Context, m *source.Message) error { return m.Nack(ctx, errors.New("sink unavailable")) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKafka(t, sharedCluster(t), 2)
			for p := range int32(2) {
				k.produce(t, p, fmt.Sprintf("p%d-0", p), fmt.Sprintf("p%d-1", p), fmt.Sprintf("p%d-2", p))
			}
			a := k.open(t, nil)
			msgs := readN(t, a, 6) // a owns both partitions and holds their records

			b := k.open(t, nil)
			cb := collect(b)
			defer cb.close()
			time.Sleep(time.Second) // time enough to join and take a partition
			assert.Empty(t, cb.bodies(), "b read records a still holds")

			for _, m := range msgs {
				require.NoError(t, tc.settle(context.Background(), m))
			}
			k.waitMembers(t, 2)
			for p := range int32(2) {
				k.produce(t, p, fmt.Sprintf("p%d-new", p))
			}
			want := 1
			if tc.reread {
				want = 4
			}
			got := cb.waitBodies(t, want)
			time.Sleep(300 * time.Millisecond)
			got = cb.bodies()
			require.Len(t, got, want, "b read %v", got)
			mine := strings.Split(got[0], "-")[0] // b's partition, "p0" or "p1"
			wantBodies := []string{mine + "-new"}
			if tc.reread {
				wantBodies = []string{mine + "-0", mine + "-1", mine + "-2", mine + "-new"}
			}
			assert.Equal(t, wantBodies, got)

			// a keeps its other partition: its new record, and for nacked
			// records those of that partition, come to a; those of the
			// partition it gave up do not.
			other := map[string]string{"p0": "p1", "p1": "p0"}[mine]
			wantA := []string{other + "-new"}
			if tc.reread {
				wantA = []string{other + "-0", other + "-1", other + "-2", other + "-new"}
			}
			var gotA []string
			for _, m := range readN(t, a, len(wantA)) {
				gotA = append(gotA, string(m.Body))
				require.NoError(t, m.Ack(context.Background()))
			}
			assert.ElementsMatch(t, wantA, gotA)
			require.NoError(t, a.Commit(context.Background()))
			cb.close()
			require.NoError(t, b.Close())
			assert.Equal(t, k.ends(t), k.committed(t))
		})
	}
}

// A member that never settles the records it holds (its sink is stuck)
// gives its partition up after Options.RevokeTimeout: the new owner reads
// the records again from the committed offset, nothing is lost, and the old
// member's late acknowledgements do not count.
func TestRevokeTimeout(t *testing.T) {
	k := newKafka(t, sharedCluster(t), 2)
	for p := range int32(2) {
		k.produce(t, p, fmt.Sprintf("p%d-0", p), fmt.Sprintf("p%d-1", p))
	}
	a := k.open(t, &kafkasource.Options{CommitInterval: -1, RevokeTimeout: 300 * time.Millisecond})
	msgs := readN(t, a, 4)

	start := time.Now()
	b := k.open(t, nil)
	cb := collect(b)
	defer cb.close()
	got := cb.waitBodies(t, 2)
	assert.Less(t, time.Since(start), 10*time.Second)
	mine := strings.Split(got[0], "-")[0]
	assert.Equal(t, []string{mine + "-0", mine + "-1"}, got, "b reads the records a held again")

	ackAll(t, msgs) // late for the partition a gave up
	require.NoError(t, a.Commit(context.Background()))
	committed := k.committed(t)
	other := map[string]int{"p0": 1, "p1": 0}[mine]
	assert.Equal(t, int64(2), committed[other], "a commits the partition it kept")
}

// Close does not wait for a revoke in progress to see its records settled:
// the service is stopping and will not settle them.
func TestCloseDuringRevokeWait(t *testing.T) {
	k := newKafka(t, sharedCluster(t), 2)
	for p := range int32(2) {
		k.produce(t, p, fmt.Sprintf("p%d-0", p))
	}
	a := k.open(t, nil) // the default RevokeTimeout
	readN(t, a, 2)
	b := k.open(t, nil)
	cb := collect(b)
	defer cb.close()
	time.Sleep(500 * time.Millisecond) // b joined: a waits for its records
	start := time.Now()
	require.NoError(t, a.Close())
	assert.Less(t, time.Since(start), 3*time.Second, "Close waited for the revoke")
	got := cb.waitBodies(t, 2)
	assert.ElementsMatch(t, []string{"p0-0", "p1-0"}, got, "b reads what a never acknowledged")
}
