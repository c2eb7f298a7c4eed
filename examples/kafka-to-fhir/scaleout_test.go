package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/memsink"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/kafkasource"
)

// The scale-out tests run replicas of the service in one consumer group of
// an in-process Kafka cluster; each member's enrollment comes as one 834 per
// version.
const (
	scaleTopic = "x12-834"
	scaleGroup = "kafka-to-fhir"
	scaleIDKey = "a test key of at least 16 bytes"
	// scaleVersions is the number of 834s sent per member.
	scaleVersions = 3
	// scaleSession is the replicas' group session: how long the group
	// waits for a crashed replica before giving its partitions away.
	scaleSession = 2 * time.Second
	// scaleWait bounds every wait of the tests for one step.
	scaleWait = 20 * time.Second
)

// TestScaleOutReplicas proves the scaling model of kafka-to-fhir: a team
// scales it by running more replicas of the service in one Kafka consumer
// group. Replicas wired as the service wires itself (a kafkasource.Source
// in the group, the X12 converter, fhirsync.Run with a DirRejecter and
// batches of 50) write 3,000 834s over six partitions into one shared store
// while the group changes under them:
//
//   - phase 1 (every member's 834 addition): replicas A and B share the
//     partitions;
//   - phase 2 (an address change for every member): A and B have read their
//     records and hold them unwritten when replica C joins; the group
//     rebalances with records in flight;
//   - phase 3 (a second change): A reads its records, writes two batches and
//     crashes before its next commit (from then on the broker hears nothing
//     from it: its commits and its leave are refused), with the rest of its
//     records read and unwritten; its session expires and B and C take its
//     partitions over from the offsets it committed last.
//
// Throughout, a watcher checks that no committed offset ever passes a record
// whose resources are not in the store. At the end the group's committed
// offsets are the ends of every partition, every record was delivered, and
// the store holds exactly what one consumer applying every record once, in
// order, would hold: the latest version of every member. Only the crash
// costs duplicates (the records A had read since its last commit are read
// again), and they are rewrites; the test counts them.
func TestScaleOutReplicas(t *testing.T) {
	s := newScaleOut(t, 6, 1000)

	// Phase 1: two replicas share the partitions.
	a := s.startReplica("replica-a")
	b := s.startReplica("replica-b")
	ends1 := s.produce(1)
	s.waitGroup("A and B share the partitions", func(g *kfake.GroupInfo) bool {
		return g.State == "Stable" && len(g.Members) == 2 && g.NumAssigned() == s.partitions &&
			g.Members[0].NumAssigned() > 0 && g.Members[1].NumAssigned() > 0
	})
	s.waitCommitted("phase 1", ends1)

	// Phase 2: C joins while A and B hold records read and not written.
	a.gate.close()
	b.gate.close()
	ends2 := s.produce(2)
	s.waitFor("A and B hold phase 2 records in flight", func() bool { return a.gate.blocked() && b.gate.blocked() })
	c := s.startReplica("replica-c")
	s.waitGroup("C joins the group", func(g *kfake.GroupInfo) bool { return len(g.Members) == 3 })
	require.True(t, a.gate.blocked() && b.gate.blocked(), "the rebalance began with A's and B's records in flight")
	a.gate.open()
	b.gate.open()
	s.waitGroup("C takes partitions from A and B", func(g *kfake.GroupInfo) bool {
		return g.State == "Stable" && len(g.Members) == 3 && g.NumAssigned() == s.partitions &&
			slices.ContainsFunc(g.Members, func(m kfake.GroupMember) bool { return m.ClientID == "replica-c" && m.NumAssigned() > 0 })
	})
	s.waitCommitted("phase 2", ends2)

	// Phase 3: A crashes with records written and not committed, and
	// records read and not written.
	a.gate.close()
	ends3 := s.produce(3)
	s.waitFor("A holds phase 3 records in flight", a.gate.blocked)
	member, owned := s.member("replica-a")
	require.NotEmpty(t, owned, "A owns partitions")
	// A commit while records are in flight stops before them.
	require.NoError(t, a.src.Commit(context.Background()))
	s.requireCommitted("A's commit with records in flight", owned, ends2)

	// The crash: from here on nothing A sends the coordinator counts.
	crash := s.cluster.Fault(
		kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Group: scaleGroup, Err: kerr.GroupAuthorizationFailed, Count: -1, When: func(r kmsg.Request) bool {
			return r.(*kmsg.OffsetCommitRequest).MemberID == member
		}},
		kfake.Fault{Keys: []kmsg.Key{kmsg.LeaveGroup}, Group: scaleGroup, Resource: member, Err: kerr.UnknownServerError, Count: -1},
	)
	defer crash.Remove()
	wroteBefore := a.gate.passed()
	a.gate.allow(2)
	s.waitFor("A writes two batches after its last commit", func() bool { return a.gate.passed() == wroteBefore+2 })
	writtenByA := a.gate.keysSince(wroteBefore)
	a.cancel()
	require.ErrorIs(t, a.wait(t), context.Canceled)
	require.ErrorIs(t, a.src.Close(), kerr.GroupAuthorizationFailed, "A's last commits never reached the group")
	s.requireCommitted("after A's crash", owned, ends2)
	require.True(t, slices.ContainsFunc(s.cluster.GroupInfo(scaleGroup).Members, func(m kfake.GroupMember) bool { return m.MemberID == member }),
		"A never left the group: the group finds out when its session expires")

	// B and C take A's partitions over and finish.
	s.waitGroup("B and C own every partition", func(g *kfake.GroupInfo) bool {
		return g.State == "Stable" && len(g.Members) == 2 && g.NumAssigned() == s.partitions
	})
	s.waitCommitted("phase 3", ends3)
	elapsed := time.Since(s.start)
	s.stop(b, c)
	s.requireDone(ends3)
	assert.Less(t, elapsed, 30*time.Second, "the run finishes well within a minute")

	// Every replica did part of the work. The only records delivered twice
	// are records of A's partitions that A had read since its last commit;
	// among them, those A wrote were delivered again to a survivor.
	s.mu.Lock()
	byReplica := map[string]int{}
	redelivered := 0
	for _, r := range s.records {
		got := s.delivered[r.msgID]
		for _, name := range got {
			byReplica[name]++
		}
		if len(got) > 1 {
			redelivered += len(got) - 1
			assert.True(t, slices.Contains(owned, r.partition) && r.offset >= ends2[r.partition] && got[0] == "replica-a",
				"%s was delivered %v: only A's crash may cost a delivery again", r.msgID, got)
		}
	}
	rewritten := map[string]bool{}
	for _, key := range writtenByA {
		r, ok := s.latest[key] // phase 3's record of the member
		if !ok || rewritten[r.msgID] {
			continue // a resource every member shares (the sponsor, the payer), or seen
		}
		got := s.delivered[r.msgID]
		assert.True(t, slices.Contains(got, "replica-b") || slices.Contains(got, "replica-c"),
			"%s, written by A after its last commit, was delivered again to a survivor (got %v)", r.msgID, got)
		rewritten[r.msgID] = true
	}
	s.mu.Unlock()
	for _, name := range []string{"replica-a", "replica-b", "replica-c"} {
		assert.Positive(t, byReplica[name], "%s converted records", name)
	}
	assert.NotEmpty(t, rewritten, "A wrote member resources after its last commit")

	ops, perKey := s.store.counts()
	memberOps, extra := 0, 0
	for key, n := range perKey {
		if _, ok := s.latest[key]; ok {
			memberOps += n
			extra += max(n-scaleVersions, 0)
		}
	}
	t.Logf("%d records on %d partitions in %s; %d delivered again (all after A's crash: %d of them written by A before it), per replica %v",
		len(s.records), s.partitions, elapsed.Round(time.Millisecond), redelivered, len(rewritten), byReplica)
	t.Logf("store: %d ops written, %d on member resources for %d member versions (%d rewrites of a version already written)",
		ops, memberOps, 2*s.members*scaleVersions, extra)
	t.Logf("steps:\n%s", strings.Join(s.steps, "\n"))
}

// TestScaleOutSlowReplica: a rebalance takes a partition from a replica that
// has read records of it and is slow to write them (a slow FHIR server, a
// long retry). The partition's new owner may go on only from what the old
// owner wrote; if both worked the partition at once, the old owner's late
// write of a member's older version would land after the new owner's write
// of a newer one, and the store would keep the older version.
func TestScaleOutSlowReplica(t *testing.T) {
	s := newScaleOut(t, 2, 200)
	a := s.startReplica("replica-a")
	ends1 := s.produce(1)
	s.waitCommitted("version 1", ends1)

	// A reads every member's version 2 and does not write it yet.
	a.gate.close()
	s.produce(2)
	s.waitFor("A holds version 2 in flight", a.gate.blocked)
	b := s.startReplica("replica-b")
	s.waitGroup("B joins the group", func(g *kfake.GroupInfo) bool { return len(g.Members) == 2 })
	ends3 := s.produce(3)

	// A stays stuck for a while: long enough for B, if it owned a
	// partition already, to write version 3 of its members.
	hold := time.Now().Add(time.Second)
	for time.Now().Before(hold) && !s.ownerWrote("replica-b", 3) {
		time.Sleep(5 * time.Millisecond)
	}
	a.gate.open()
	s.waitGroup("B takes a partition from A", func(g *kfake.GroupInfo) bool {
		return g.State == "Stable" && len(g.Members) == 2 && g.NumAssigned() == s.partitions &&
			g.Members[0].NumAssigned() > 0 && g.Members[1].NumAssigned() > 0
	})
	s.waitCommitted("version 3", ends3)
	s.stop(a, b)
	s.requireDone(ends3)

	// B started from what A wrote: nothing A read was delivered to B.
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.records {
		got := s.delivered[r.msgID]
		assert.False(t, slices.Contains(got, "replica-a") && slices.Contains(got, "replica-b"), "%s was delivered to both replicas", r.msgID)
	}
}

// scaleOut is a topic, a consumer group, replicas of the service and the
// store they share.
type scaleOut struct {
	t          *testing.T
	partitions int
	members    int
	cluster    *kfake.Cluster
	prod       *kgo.Client
	conv       *fhirmap.X12Converter
	store      *countingStore
	logs       *lockedBuffer
	log        *slog.Logger
	reject     string
	watch      *commitWatch
	start      time.Time
	steps      []string // when each wait ended, for the log

	keys      [][]string // per member: its Patient and Coverage ("Type/id")
	sourceVer []string   // per version: its source version

	mu        sync.Mutex
	records   []*scaleRecord           // in the order produced
	byPart    map[int32][]*scaleRecord // in offset order
	latest    map[string]*scaleRecord  // member resource key -> its latest record
	delivered map[string][]string      // message id -> the replicas that converted it, in order
}

// scaleRecord is one produced record and what it must leave in the store.
type scaleRecord struct {
	partition int32
	offset    int64
	msgID     string
	value     []byte
	version   int
	keys      []string // the member's resources ("Type/id")
	sourceVer string   // their source version
}

func newScaleOut(t *testing.T, partitions, members int) *scaleOut {
	t.Helper()
	logs := &lockedBuffer{}
	s := &scaleOut{
		t: t, partitions: partitions, members: members, store: newCountingStore(), logs: logs,
		log:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		reject: t.TempDir(), byPart: map[int32][]*scaleRecord{}, latest: map[string]*scaleRecord{}, delivered: map[string][]string{},
	}
	var err error
	s.cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), scaleTopic), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(s.cluster.Close) // after the replicas' cleanups
	s.prod, err = kgo.NewClient(kgo.SeedBrokers(s.cluster.ListenAddrs()...), kgo.DefaultProduceTopic(scaleTopic))
	require.NoError(t, err)
	t.Cleanup(s.prod.Close)
	mapper, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: []byte(scaleIDKey)}})
	require.NoError(t, err)
	s.conv = fhirmap.NewX12Converter(mapper, nil)
	s.learnMembers()
	s.watch = newCommitWatch(s)
	t.Cleanup(s.watch.stop)
	s.start = time.Now()
	return s
}

// learnMembers converts one 834 of every member to learn the ids of its
// resources (they come from the member's business keys, not from the
// record), and each version's source version.
func (s *scaleOut) learnMembers() {
	t := s.t
	t.Helper()
	s.keys, s.sourceVer = make([][]string, s.members), make([]string, scaleVersions+1)
	learn := func(m, v int) []string {
		res, err := s.conv.Convert(context.Background(), source.NewMessage("learn", enrollment834(m, v), nil, nil, nil))
		require.NoError(t, err)
		var keys []string
		for _, x := range res {
			if typ := resource.Type(x); typ == "Patient" || typ == "Coverage" {
				k, err := resource.Key(x)
				require.NoError(t, err)
				keys = append(keys, k)
				s.sourceVer[v] = fhirsync.SourceVersion(x)
			}
		}
		require.Len(t, keys, 2, "a Patient and a Coverage per record")
		require.NotEmpty(t, s.sourceVer[v])
		return keys
	}
	for v := 2; v <= scaleVersions; v++ {
		learn(0, v)
	}
	for m := range s.members {
		s.keys[m] = learn(m, 1)
	}
}

// produce sends every member's 834 of a version, keyed by member (every
// version of a member goes to one partition, in order), and returns the
// offset after the last record of each partition.
func (s *scaleOut) produce(version int) map[int32]int64 {
	t := s.t
	t.Helper()
	recs := make([]*kgo.Record, s.members)
	for m := range recs {
		recs[m] = &kgo.Record{Key: []byte("member-" + strconv.Itoa(m)), Value: enrollment834(m, version)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), scaleWait)
	defer cancel()
	results := s.prod.ProduceSync(ctx, recs...)
	require.NoError(t, results.FirstErr())
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, res := range results { // not in the order given
		rec := res.Record
		m, err := strconv.Atoi(strings.TrimPrefix(string(rec.Key), "member-"))
		require.NoError(t, err)
		r := &scaleRecord{
			partition: rec.Partition, offset: rec.Offset, msgID: fmt.Sprintf("%s/%d@%d", rec.Topic, rec.Partition, rec.Offset),
			value: rec.Value, version: version, keys: s.keys[m], sourceVer: s.sourceVer[version],
		}
		s.records = append(s.records, r)
		s.byPart[r.partition] = append(s.byPart[r.partition], r)
		for _, k := range r.keys {
			s.latest[k] = r
		}
	}
	ends := map[int32]int64{}
	for p, rs := range s.byPart {
		slices.SortFunc(rs, func(a, b *scaleRecord) int { return int(a.offset - b.offset) })
		ends[p] = rs[len(rs)-1].offset + 1
	}
	return ends
}

// between returns the records of partition p at offsets in [from, to).
func (s *scaleOut) between(p int32, from, to int64) []*scaleRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*scaleRecord
	for _, r := range s.byPart[p] {
		if r.offset >= from && r.offset < to {
			out = append(out, r)
		}
	}
	return out
}

// written reports whether the store holds r's member resources at r's
// version or a later one.
func (s *scaleOut) written(r *scaleRecord) bool {
	for _, k := range r.keys {
		typ, id, _ := strings.Cut(k, "/")
		got, ok := s.store.sink.Read(typ, id)
		if !ok || fhirsync.SourceVersion(got) < r.sourceVer {
			return false
		}
	}
	return true
}

// ownerWrote reports whether a partition the replica owns has the given
// version of all of its members written.
func (s *scaleOut) ownerWrote(clientID string, version int) bool {
	g := s.cluster.GroupInfo(scaleGroup)
	if g == nil {
		return false
	}
	for _, m := range g.Members {
		if m.ClientID != clientID {
			continue
		}
		for _, p := range m.Assignment[scaleTopic] {
			rs := s.between(p, 0, 1<<62)
			if !slices.ContainsFunc(rs, func(r *scaleRecord) bool { return r.version == version }) {
				continue
			}
			if !slices.ContainsFunc(rs, func(r *scaleRecord) bool { return r.version == version && !s.written(r) }) {
				return true
			}
		}
	}
	return false
}

func (s *scaleOut) deliver(replica, msgID string) {
	s.mu.Lock()
	s.delivered[msgID] = append(s.delivered[msgID], replica)
	s.mu.Unlock()
}

// replica is one running copy of the service.
type replica struct {
	name   string
	src    *kafkasource.Source
	gate   *gate
	cancel context.CancelFunc
	done   chan error
}

// startReplica starts a replica wired as serve wires the service, with
// short group timings for a test.
func (s *scaleOut) startReplica(name string) *replica {
	t := s.t
	t.Helper()
	src, err := kafkasource.New([]kgo.Opt{
		kgo.SeedBrokers(s.cluster.ListenAddrs()...),
		kgo.ConsumerGroup(scaleGroup),
		kgo.ConsumeTopics(scaleTopic),
		kgo.ClientID(name),
		kgo.SessionTimeout(scaleSession),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, &kafkasource.Options{CommitInterval: 100 * time.Millisecond, Logger: s.log})
	require.NoError(t, err)
	rejects, err := fhirsync.NewDirRejecter(s.reject)
	require.NoError(t, err)
	r := &replica{name: name, src: src, gate: newGate(s.store), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	conv := &recordingConverter{conv: s.conv, seen: func(id string) { s.deliver(name, id) }}
	go func() {
		r.done <- fhirsync.Run(ctx, src, conv, r.gate, &fhirsync.Options{Reject: rejects, BatchSize: 50, Logger: s.log})
	}()
	t.Cleanup(func() {
		cancel()
		_ = src.Close()
	})
	return r
}

// wait returns what Run returned.
func (r *replica) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(scaleWait):
		t.Fatalf("%s: Run did not return", r.name)
		return nil
	}
}

// stop shuts replicas down as the service does on SIGTERM, and stops the
// commit watcher.
func (s *scaleOut) stop(rs ...*replica) {
	t := s.t
	t.Helper()
	for _, r := range rs {
		r.cancel()
		require.ErrorIs(t, r.wait(t), context.Canceled)
		require.NoError(t, r.src.Close())
	}
	s.watch.stop()
}

// requireDone checks the end state: no commit passed an unwritten record,
// the group committed the end of every partition, every record was
// delivered, the store holds what one consumer applying every record once,
// in order, would hold, nothing was rejected and nothing logged holds PHI.
func (s *scaleOut) requireDone(ends map[int32]int64) {
	t := s.t
	t.Helper()
	assert.Empty(t, s.watch.violations())
	assert.Positive(t, s.watch.checked(), "the watcher checked commits")

	// The group's commits, as the broker reports them.
	adm := kadm.NewClient(s.prod)
	ctx, cancel := context.WithTimeout(context.Background(), scaleWait)
	defer cancel()
	brokerEnds, err := adm.ListEndOffsets(ctx, scaleTopic)
	require.NoError(t, err)
	committed, err := adm.FetchOffsets(ctx, scaleGroup)
	require.NoError(t, err)
	for p := range int32(s.partitions) {
		end, ok := brokerEnds.Lookup(scaleTopic, p)
		require.True(t, ok)
		o, ok := committed.Lookup(scaleTopic, p)
		require.True(t, ok, "partition %d has a commit", p)
		assert.Equal(t, end.Offset, o.At, "partition %d: committed offset", p)
		assert.Equal(t, ends[p], o.At, "partition %d: committed offset is past the last record produced", p)
	}

	s.mu.Lock()
	for _, r := range s.records {
		assert.NotEmpty(t, s.delivered[r.msgID], "record %s was delivered", r.msgID)
	}
	s.mu.Unlock()

	// Duplicates were rewrites, never new resources, and never left an
	// older version behind.
	got, want := s.store.sink.All(), s.reference().All()
	require.Len(t, got, len(want))
	require.Len(t, want, 2*s.members+2, "a Patient and a Coverage per member, the sponsor and the payer")
	for i := range want {
		gk, _ := resource.Key(got[i])
		wk, _ := resource.Key(want[i])
		require.Equal(t, wk, gk)
		// A resource every member's 834 carries (the sponsor, the payer)
		// comes from many records of one version, on every partition:
		// which of them a replica wrote last, and so its meta.source (the
		// record's position), depends on timing. Its content and source
		// version must still be the latest.
		_, ofMember := s.latest[wk]
		w, g := withoutServerMeta(want[i], !ofMember), withoutServerMeta(got[i], !ofMember)
		if !proto.Equal(w, g) {
			t.Errorf("%s: the store does not hold the latest version:\nwant %v\ngot  %v", wk, w, g)
		}
	}

	ents, err := os.ReadDir(s.reject)
	require.NoError(t, err)
	assert.Empty(t, slices.DeleteFunc(ents, func(e os.DirEntry) bool { return e.IsDir() }), "nothing was rejected")
	assert.NotContains(t, s.logs.String(), "ZZCANARYZZ", "logs hold no PHI")
}

// reference returns what one consumer reading every record once, in the
// order they were produced, writes into an empty store.
func (s *scaleOut) reference() *memsink.Sink {
	t := s.t
	t.Helper()
	ref := memsink.New(nil)
	var ops []sink.Op
	for _, r := range s.records {
		res, err := s.conv.Convert(context.Background(), source.NewMessage(r.msgID, r.value, nil, nil, nil))
		require.NoError(t, err)
		for _, x := range res {
			ops = append(ops, sink.Op{Resource: x})
		}
	}
	require.NoError(t, ref.Write(context.Background(), ops))
	return ref
}

// member returns the group member id of a replica and the partitions it owns.
func (s *scaleOut) member(clientID string) (string, []int32) {
	g := s.cluster.GroupInfo(scaleGroup)
	require.NotNil(s.t, g)
	for _, m := range g.Members {
		if m.ClientID == clientID {
			return m.MemberID, m.Assignment[scaleTopic]
		}
	}
	s.t.Fatalf("%s is not in the group", clientID)
	return "", nil
}

func (s *scaleOut) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(scaleWait)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.steps = append(s.steps, fmt.Sprintf("%8s %s", time.Since(s.start).Round(time.Millisecond), what))
}

func (s *scaleOut) waitGroup(what string, cond func(*kfake.GroupInfo) bool) {
	s.t.Helper()
	s.waitFor(what, func() bool {
		g := s.cluster.GroupInfo(scaleGroup)
		return g != nil && cond(g)
	})
}

// waitCommitted waits until the group committed ends on every partition.
func (s *scaleOut) waitCommitted(what string, ends map[int32]int64) {
	s.t.Helper()
	s.waitFor(what+": the group commits every record", func() bool {
		c := commitsOf(s.cluster)
		for p, end := range ends {
			if c[p] != end {
				return false
			}
		}
		return true
	})
}

// requireCommitted checks the group's commits of partitions.
func (s *scaleOut) requireCommitted(what string, partitions []int32, want map[int32]int64) {
	s.t.Helper()
	c := commitsOf(s.cluster)
	for _, p := range partitions {
		require.Equal(s.t, want[p], c[p], "%s: partition %d", what, p)
	}
}

// commitsOf returns the group's committed offsets, per partition.
func commitsOf(c *kfake.Cluster) map[int32]int64 {
	out := map[int32]int64{}
	g := c.GroupInfo(scaleGroup)
	if g == nil {
		return out
	}
	for p, gc := range g.Commits[scaleTopic] {
		out[p] = gc.Offset
	}
	return out
}

// recordingConverter is the service's converter, noting which replica
// converted which message. It keeps the stream path Run takes with the X12
// converter.
type recordingConverter struct {
	conv *fhirmap.X12Converter
	seen func(msgID string)
}

func (c *recordingConverter) Convert(ctx context.Context, m *source.Message) ([]proto.Message, error) {
	c.seen(m.ID)
	return c.conv.Convert(ctx, m)
}

func (c *recordingConverter) ConvertStream(ctx context.Context, m *source.Message, emit func([]proto.Message) error) error {
	c.seen(m.ID)
	return c.conv.ConvertStream(ctx, m, emit)
}

// countingStore is the store every replica writes: a memsink that counts
// the ops it is given per resource.
type countingStore struct {
	sink *memsink.Sink

	mu     sync.Mutex
	ops    int
	perKey map[string]int
}

func newCountingStore() *countingStore {
	c := &countingStore{perKey: map[string]int{}}
	c.sink = memsink.New(&memsink.Options{Fault: func(_ int, op sink.Op) error {
		typ, id, err := op.Ref()
		if err == nil {
			c.mu.Lock()
			c.ops++
			c.perKey[typ+"/"+id]++
			c.mu.Unlock()
		}
		return nil // observe only
	}})
	return c
}

func (c *countingStore) counts() (int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops, maps.Clone(c.perKey)
}

// gate is a replica's way to the shared store: the test closes it to hold
// the replica's writes (records read and not written, as with a slow
// server), lets a given number through, or opens it.
type gate struct {
	store *countingStore

	mu      sync.Mutex
	tokens  int // writes let through; -1: open
	waiting int
	written [][]string // keys of each write let through
	change  chan struct{}
}

func newGate(store *countingStore) *gate {
	return &gate{store: store, tokens: -1, change: make(chan struct{})}
}

// set changes the tokens and wakes the waiting writes; g.mu is held.
func (g *gate) set(tokens int) {
	g.tokens = tokens
	close(g.change)
	g.change = make(chan struct{})
}

func (g *gate) open()  { g.mu.Lock(); g.set(-1); g.mu.Unlock() }
func (g *gate) close() { g.mu.Lock(); g.set(0); g.mu.Unlock() }

// allow lets n more writes through a closed gate.
func (g *gate) allow(n int) { g.mu.Lock(); g.set(max(g.tokens, 0) + n); g.mu.Unlock() }

// blocked reports whether a write is held at the gate.
func (g *gate) blocked() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.waiting > 0 }

// passed returns how many writes went through.
func (g *gate) passed() int { g.mu.Lock(); defer g.mu.Unlock(); return len(g.written) }

// keysSince returns the resources of the writes after the first n.
func (g *gate) keysSince(n int) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, w := range g.written[n:] {
		out = append(out, w...)
	}
	return out
}

// Write implements sink.Sink.
func (g *gate) Write(ctx context.Context, ops []sink.Op) error {
	g.mu.Lock()
	for g.tokens == 0 {
		g.waiting++
		ch := g.change
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		g.mu.Lock()
		g.waiting--
		if err := ctx.Err(); err != nil {
			g.mu.Unlock()
			return err
		}
	}
	if g.tokens > 0 {
		g.tokens--
	}
	g.mu.Unlock()
	err := g.store.sink.Write(ctx, ops)
	keys := make([]string, 0, len(ops))
	for _, op := range ops {
		k, _ := resource.Key(op.Resource)
		keys = append(keys, k)
	}
	g.mu.Lock()
	g.written = append(g.written, keys)
	g.mu.Unlock()
	return err
}

// Close implements sink.Sink; the shared store outlives the replicas.
func (g *gate) Close(context.Context) error { return nil }

// commitWatch checks, as the group commits, that no committed offset
// passes a record whose member resources are not in the store (at that
// record's version or a later one), and that commits never go back.
type commitWatch struct {
	s *scaleOut

	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}

	mu    sync.Mutex
	seen  map[int32]int64 // last commit checked, per partition
	bad   []string
	count int
}

func newCommitWatch(s *scaleOut) *commitWatch {
	w := &commitWatch{s: s, quit: make(chan struct{}), done: make(chan struct{}), seen: map[int32]int64{}}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.quit:
				w.check()
				return
			case <-tick.C:
				w.check()
			}
		}
	}()
	return w
}

// check looks at the commits made since the last check. A commit read
// before the store is looked at must already be covered by it: a record is
// acked only once written, and committed only once acked. Records below a
// checked commit stay covered: only records at or after a commit are
// delivered again, and a member's later records carry later versions.
func (w *commitWatch) check() {
	commits := commitsOf(w.s.cluster)
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, c := range commits {
		last := w.seen[p]
		switch {
		case c < last:
			w.bad = append(w.bad, fmt.Sprintf("partition %d: commit went back from %d to %d", p, last, c))
			continue
		case c == last:
			continue
		}
		w.count++
		for _, r := range w.s.between(p, last, c) {
			if !w.s.written(r) {
				w.bad = append(w.bad, fmt.Sprintf("partition %d: commit %d passed %s, whose resources are not written", p, c, r.msgID))
			}
		}
		w.seen[p] = c
	}
}

func (w *commitWatch) stop() {
	w.stopOnce.Do(func() { close(w.quit) })
	<-w.done
}

func (w *commitWatch) violations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.bad)
}

func (w *commitWatch) checked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count
}

// withoutServerMeta returns a copy of a stored resource without the
// versionId and lastUpdated the store sets, and without meta.source when
// noSource.
func withoutServerMeta(m proto.Message, noSource bool) proto.Message {
	c := proto.Clone(m)
	r, err := resource.Unwrap(c)
	if err != nil {
		return c
	}
	pr := r.ProtoReflect()
	if fd := pr.Descriptor().Fields().ByName("meta"); fd != nil && pr.Has(fd) {
		if meta, ok := pr.Get(fd).Message().Interface().(*dtpb.Meta); ok {
			meta.VersionId, meta.LastUpdated = nil, nil
			if noSource {
				meta.Source = nil
			}
		}
	}
	return c
}

// lockedBuffer collects the replicas' logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// enrollment834 returns an 834 interchange for one member: version 1 adds
// the member (a subscriber with health coverage), versions 2 and 3 change
// the member's address, each in a later transaction set (BGN date and time,
// the source version). The member's last name is the PHI canary.
func enrollment834(member, version int) []byte {
	when := [...][2]string{{"20240115", "1200"}, {"20240301", "0930"}, {"20240401", "0800"}}[version-1]
	ctl := fmt.Sprintf("%09d", member*10+version)
	maint, reason, dtp := "001", "AI", "303" // change; maintenance effective
	if version == 1 {
		maint, reason, dtp = "021", "28", "356" // addition; eligibility begin
	}
	segs := []string{
		"ST*834*" + ctl + "*005010X220A1",
		"BGN*00*REF" + ctl + "*" + when[0] + "*" + when[1] + "****2",
		"REF*38*MASTERPOL01",
		"DTP*007*D8*" + when[0],
		"N1*P5*SYNTH EMPLOYER INC*FI*371111111",        // Loop 1000A Sponsor Name
		"N1*IN*SYNTH HEALTH PLAN*FI*370000001",         // Loop 1000B Payer
		"INS*Y*18*" + maint + "*" + reason + "*A***FT", // Loop 2000 Member Level Detail
		fmt.Sprintf("REF*0F*MBR%07d", member),
		"REF*1L*GRP1001",
		"DTP*" + dtp + "*D8*20240201",
		fmt.Sprintf("NM1*IL*1*ZZCANARYZZ*GIVEN%d****34*%09d", member, member), // Loop 2100A Member Name
		fmt.Sprintf("N3*%d VERSION%d ST", member+1, version),
		"N4*SPRINGFIELD*IL*62701",
		"DMG*D8*19900515*F",
		"HD*" + maint + "**HLT*GOLD PPO*FAM", // Loop 2300 Health Coverage
		"DTP*348*D8*20240201",
	}
	segs = append(segs, fmt.Sprintf("SE*%d*%s", len(segs)+1, ctl))
	var b strings.Builder
	b.WriteString("ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *240115*1200*^*00501*" + ctl + "*0*T*:~")
	b.WriteString("GS*BE*SENDER*RECEIVER*" + when[0] + "*" + when[1] + "*" + ctl + "*X*005010X220A1~")
	for _, seg := range segs {
		b.WriteString(seg + "~")
	}
	b.WriteString("GE*1*" + ctl + "~IEA*1*" + ctl + "~")
	return []byte(b.String())
}
