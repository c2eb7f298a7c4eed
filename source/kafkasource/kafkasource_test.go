package kafkasource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/kafkasource"
)

const canary = "ZZCANARYZZ"

func TestNewNeedsGroupAndTopics(t *testing.T) {
	c := sharedCluster(t)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
		want string
	}{
		{"no group", []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("x")}, "kafkasource"},
		{"no topics", []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("g")}, "no topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := kafkasource.New(tc.opts, nil)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// A message carries the record's value and its position; the key goes into
// Metadata only when the operator says keys are PHI-free; headers never.
func TestMessageShape(t *testing.T) {
	k := newKafka(t, sharedCluster(t), 1)
	k.produceRecords(t,
		&kgo.Record{Key: []byte("member-" + canary), Value: []byte(`{"name":"` + canary + `"}`), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(canary)}}},
		&kgo.Record{Key: []byte("k2"), Value: nil}, // tombstone
		&kgo.Record{Value: []byte{}},
	)
	for _, tc := range []struct {
		name    string
		phiFree bool
		key     map[int]string
	}{
		{"keys are PHI by default", false, nil},
		{"PHI-free keys", true, map[int]string{0: "member-" + canary, 1: "k2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			group := uniq("g")
			s, err := kafkasource.New(append(k.opts(), kgo.ConsumerGroup(group)), &kafkasource.Options{CommitInterval: -1, PHIFreeKeys: tc.phiFree})
			require.NoError(t, err)
			defer s.Close()
			msgs := readN(t, s, 3)
			require.Len(t, msgs, 3)
			for i, m := range msgs {
				off := strconv.Itoa(i)
				assert.Equal(t, k.topic+"/0@"+off, m.ID)
				want := map[string]string{"topic": k.topic, "partition": "0", "offset": off}
				if i == 1 {
					want["tombstone"] = "true"
				}
				if key, ok := tc.key[i]; ok {
					want["key"] = key
				}
				assert.Equal(t, want, m.Metadata)
				var rec *kgo.Record
				require.True(t, m.As(&rec))
				assert.Equal(t, int64(i), rec.Offset)
				var wrong *kgo.FetchPartition
				assert.False(t, m.As(&wrong))
			}
			assert.Equal(t, `{"name":"`+canary+`"}`, string(msgs[0].Body))
			assert.Nil(t, msgs[1].Body)
			assert.NotNil(t, msgs[2].Body)
			assert.Empty(t, msgs[2].Body)

			if !tc.phiFree {
				var buf bytes.Buffer
				log := slog.New(slog.NewJSONHandler(&buf, nil))
				for _, m := range msgs {
					log.Info("read", "msg", m)
					assert.NotContains(t, m.ID, canary)
					for k, v := range m.Metadata {
						assert.NotContains(t, k+v, canary)
					}
				}
				assert.NotContains(t, buf.String(), canary)
			}
		})
	}
}

// Acknowledgements in any order, from many goroutines, commit per partition
// only the offset after the highest contiguous acknowledged record.
func TestOutOfOrderAcks(t *testing.T) {
	const per = 6
	type pos struct{ p, i int }
	for _, tc := range []struct {
		name  string
		skip  []pos // left unacknowledged in the first round
		first []int64
	}{
		{"all", nil, []int64{per, per, per}},
		{"first of one partition", []pos{{0, 0}}, []int64{-1, per, per}},
		{"a gap in each partition", []pos{{0, 2}, {1, 3}, {2, 5}}, []int64{2, 3, 5}},
		{"all but the last", []pos{{1, per - 1}}, []int64{per, per - 1, per}},
		{"only the last acked", []pos{{2, 0}, {2, 1}, {2, 2}, {2, 3}, {2, 4}}, []int64{per, per, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKafka(t, sharedCluster(t), 3)
			for p := range int32(3) {
				var vs []string
				for i := range per {
					vs = append(vs, fmt.Sprintf("p%d-%d", p, i))
				}
				k.produce(t, p, vs...)
			}
			s := k.open(t, nil)
			msgs := readN(t, s, 3*per)
			require.Len(t, msgs, 3*per)
			byPos := map[pos]*source.Message{}
			for _, m := range msgs {
				p, _ := strconv.Atoi(m.Metadata["partition"])
				i, _ := strconv.Atoi(m.Metadata["offset"])
				byPos[pos{p, i}] = m
			}
			skip := map[pos]bool{}
			for _, p := range tc.skip {
				skip[p] = true
			}
			var first, rest []*source.Message
			for p, m := range byPos {
				if skip[p] {
					rest = append(rest, m)
				} else {
					first = append(first, m)
				}
			}
			ackConcurrently(t, first)
			require.NoError(t, s.Commit(context.Background()))
			assert.Equal(t, tc.first, k.committed(t))

			ackConcurrently(t, rest)
			require.NoError(t, s.Commit(context.Background()))
			assert.Equal(t, []int64{per, per, per}, k.committed(t))
		})
	}
}

// ackConcurrently acks msgs in a random order from one goroutine each.
func ackConcurrently(t *testing.T, msgs []*source.Message) {
	t.Helper()
	rand.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	var wg sync.WaitGroup
	errs := make(chan error, len(msgs))
	for _, m := range msgs {
		wg.Go(func() { errs <- m.Ack(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// A nacked message comes back from the same Source, and nothing past it is
// committed until it is acknowledged.
func TestNackRedelivers(t *testing.T) {
	k := newKafka(t, sharedCluster(t), 1)
	k.produce(t, 0, "a", "b", "c")
	s := k.open(t, nil)
	msgs := readN(t, s, 3)
	require.NoError(t, msgs[1].Nack(context.Background(), errors.New("sink unavailable")))
	require.ErrorIs(t, msgs[1].Ack(context.Background()), source.ErrSettled)
	ackAll(t, []*source.Message{msgs[0], msgs[2]})
	require.NoError(t, s.Commit(context.Background()))
	assert.Equal(t, []int64{1}, k.committed(t))

	again := readN(t, s, 1)
	require.Len(t, again, 1)
	assert.Equal(t, msgs[1].ID, again[0].ID)
	assert.Equal(t, "b", string(again[0].Body))

	// nacked again, then acknowledged: only then does the commit pass it
	require.NoError(t, again[0].Nack(context.Background(), errors.New("still down")))
	third := readN(t, s, 1)
	require.Equal(t, msgs[1].ID, third[0].ID)
	require.NoError(t, s.Commit(context.Background()))
	assert.Equal(t, []int64{1}, k.committed(t))
	ackAll(t, third)
	require.NoError(t, s.Commit(context.Background()))
	assert.Equal(t, []int64{3}, k.committed(t))
}

// A Nack wakes a Read that is blocked waiting for records.
func TestNackWakesBlockedRead(t *testing.T) {
	k := newKafka(t, sharedCluster(t), 1)
	k.produce(t, 0, "a")
	s := k.open(t, nil)
	msgs := readN(t, s, 1)
	got := make(chan []*source.Message, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		m, err := s.Read(ctx)
		assert.NoError(t, err)
		got <- m
	}()
	time.Sleep(50 * time.Millisecond) // let the Read block (the test passes either way)
	require.NoError(t, msgs[0].Nack(context.Background(), errors.New("later")))
	again := <-got
	require.Len(t, again, 1)
	assert.Equal(t, msgs[0].ID, again[0].ID)
}

// A restart resumes at the last commit: unacknowledged records are read
// again, acknowledged ones are not.
func TestRestartResumesAtCommit(t *testing.T) {
	k := newKafka(t, sharedCluster(t), 1)
	k.produce(t, 0, "0", "1", "2", "3", "4")
	s := k.open(t, nil)
	msgs := readN(t, s, 5)
	ackAll(t, []*source.Message{msgs[0], msgs[1], msgs[2], msgs[4]})
	require.NoError(t, s.Close()) // commits 3
	assert.Equal(t, []int64{3}, k.committed(t))

	s2 := k.open(t, nil)
	again := readN(t, s2, 2)
	require.Len(t, again, 2)
	assert.Equal(t, "3", string(again[0].Body))
	assert.Equal(t, "4", string(again[1].Body))
}

func TestCloseAndContext(t *testing.T) {
	k := newKafka(t, sharedCluster(t), 1)
	k.produce(t, 0, "a")
	s := k.open(t, nil)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Read(cancelled)
	assert.ErrorIs(t, err, context.Canceled)

	msgs := readN(t, s, 1)
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	_, err = s.Read(short)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// Close wakes a blocked Read
	done := make(chan error, 1)
	go func() {
		_, err := s.Read(context.Background())
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, s.Close())
	assert.ErrorIs(t, <-done, source.ErrClosed)

	assert.NoError(t, s.Close(), "Close is idempotent")
	_, err = s.Read(context.Background())
	assert.ErrorIs(t, err, source.ErrClosed)
	assert.ErrorIs(t, msgs[0].Ack(context.Background()), source.ErrClosed, "an ack after Close does not count")
	assert.Equal(t, []int64{-1}, k.committed(t))
}

// The periodic commit commits without an explicit Commit call.
func TestPeriodicCommit(t *testing.T) {
	k := newKafka(t, sharedCluster(t), 1)
	k.produce(t, 0, "a", "b")
	s := k.open(t, &kafkasource.Options{CommitInterval: 20 * time.Millisecond})
	ackAll(t, readN(t, s, 2))
	require.Eventually(t, func() bool { return k.committed(t)[0] == 2 }, 20*time.Second, 20*time.Millisecond)
}

// Two Sources in one group: the second joins while the first consumes, then
// the first closes. Nothing is lost, what the first acknowledged before the
// second joined is not delivered again, and in the end the group's commits
// reach the end of every partition.
func TestRebalance(t *testing.T) {
	const parts, per = 4, 10
	k := newKafka(t, sharedCluster(t), parts)
	phase := func(name string) []string {
		var all []string
		for p := range int32(parts) {
			var vs []string
			for i := range per {
				vs = append(vs, fmt.Sprintf("%s-%d-%d", name, p, i))
			}
			k.produce(t, p, vs...)
			all = append(all, vs...)
		}
		return all
	}
	one := phase("one")
	a := k.open(t, nil)
	ackAll(t, readN(t, a, len(one)))

	type seen struct {
		mu   sync.Mutex
		got  map[string]int
		cond *sync.Cond
	}
	var sn seen
	sn.got = map[string]int{}
	sn.cond = sync.NewCond(&sn.mu)
	byB := map[string]bool{}
	consume := func(ctx context.Context, s *kafkasource.Source, isB bool) {
		for {
			msgs, err := s.Read(ctx)
			if err != nil {
				return
			}
			sn.mu.Lock()
			for _, m := range msgs {
				sn.got[string(m.Body)]++
				if isB {
					byB[string(m.Body)] = true
				}
			}
			sn.cond.Broadcast()
			sn.mu.Unlock()
			for _, m := range msgs {
				_ = m.Ack(ctx)
			}
		}
	}
	waitFor := func(want []string) {
		t.Helper()
		deadline := time.AfterFunc(30*time.Second, func() { sn.mu.Lock(); sn.cond.Broadcast(); sn.mu.Unlock() })
		defer deadline.Stop()
		start := time.Now()
		sn.mu.Lock()
		defer sn.mu.Unlock()
		for {
			missing := 0
			for _, w := range want {
				if sn.got[w] == 0 {
					missing++
				}
			}
			if missing == 0 {
				return
			}
			require.Less(t, time.Since(start), 30*time.Second, "%d messages never delivered", missing)
			sn.cond.Wait()
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { consume(ctx, a, false) })
	b := k.open(t, nil)
	wg.Go(func() { consume(ctx, b, true) })
	k.waitMembers(t, 2) // the cooperative rebalance moved partitions from a to b

	two := phase("two")
	waitFor(two)
	sn.mu.Lock()
	inB := 0
	for _, v := range two {
		if byB[v] {
			inB++
		}
	}
	sn.mu.Unlock()
	assert.True(t, inB > 0 && inB < len(two), "both members consumed while sharing the group (b read %d of %d)", inB, len(two))
	require.NoError(t, a.Close())
	three := phase("three")
	waitFor(three)

	sn.mu.Lock()
	for _, v := range one {
		assert.False(t, byB[v], "%s was acknowledged by the first member before the second joined, yet delivered again", v)
	}
	dups := 0
	for _, n := range sn.got {
		dups += n - 1
	}
	sn.mu.Unlock()
	t.Logf("duplicates (at-least-once, in flight at a revoke): %d of %d", dups, len(one)+len(two)+len(three))

	cancel()
	wg.Wait()
	require.NoError(t, b.Close())
	assert.Equal(t, k.ends(t), k.committed(t), "the group committed everything")

	// A new member reads only what comes after
	c := k.open(t, nil)
	four := phase("four")
	got := readN(t, c, len(four))
	var bodies []string
	for _, m := range got {
		bodies = append(bodies, string(m.Body))
	}
	assert.ElementsMatch(t, four, bodies)
}

// When the group session is lost (the coordinator fences the member),
// nothing is committed for the lost partitions and acknowledgements of their
// records that come later do not count: the records are read again.
func TestLostPartitionsDoNotCommit(t *testing.T) {
	c := ownCluster(t)
	k := newKafka(t, c, 1)
	k.produce(t, 0, "0", "1", "2", "3")
	s := k.open(t, nil)
	before := readN(t, s, 4)
	ackAll(t, before[:2])

	c.ControlKey(kmsg.Heartbeat.Int16(), func(r kmsg.Request) (kmsg.Response, error, bool) {
		req := r.(*kmsg.HeartbeatRequest)
		if req.Group != k.group {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})

	// After the loss the group rejoins and reads from the committed offset
	// (none): the records come again.
	after := readN(t, s, 4)
	assert.Equal(t, before[0].ID, after[0].ID)
	ackAll(t, before[2:]) // late: their partition was lost
	require.NoError(t, s.Commit(context.Background()))
	assert.Equal(t, []int64{-1}, k.committed(t), "nothing acknowledged before the loss is committed")

	ackAll(t, after[:3])
	require.NoError(t, s.Commit(context.Background()))
	assert.Equal(t, []int64{3}, k.committed(t))
}

// Fetch errors and commit errors name positions, never record contents.
func TestErrorsArePHIFree(t *testing.T) {
	c := ownCluster(t)
	k := newKafka(t, c, 1)
	k.produce(t, 0, canary)
	var buf bytes.Buffer
	s := k.open(t, &kafkasource.Options{CommitInterval: -1, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	msgs := readN(t, s, 1)
	ackAll(t, msgs)
	c.ControlKey(kmsg.OffsetCommit.Int16(), func(r kmsg.Request) (kmsg.Response, error, bool) {
		req := r.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.GroupAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	err := s.Commit(context.Background())
	require.ErrorIs(t, err, kerr.GroupAuthorizationFailed)
	assert.Contains(t, err.Error(), k.topic+"/0@1")
	assert.NotContains(t, err.Error(), canary)
	assert.Contains(t, buf.String(), "commit failed")
	assert.NotContains(t, buf.String(), canary)
	// the next commit succeeds and Close reports nothing
	require.NoError(t, s.Close())
	assert.Equal(t, []int64{1}, k.committed(t))
	assert.False(t, strings.Contains(buf.String(), canary))
}
