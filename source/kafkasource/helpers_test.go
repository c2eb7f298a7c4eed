package kafkasource_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/kafkasource"
)

// The in-process Kafka cluster the tests share; each test uses its own
// topics and groups.
var (
	clusterOnce sync.Once
	cluster     *kfake.Cluster
	clusterErr  error
	seq         atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Close()
	}
	os.Exit(code)
}

func sharedCluster(t testing.TB) *kfake.Cluster {
	t.Helper()
	clusterOnce.Do(func() { cluster, clusterErr = newCluster() })
	require.NoError(t, clusterErr)
	return cluster
}

func newCluster() (*kfake.Cluster, error) {
	return kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
}

// ownCluster returns a cluster of the test's own (control functions apply
// cluster-wide), closed after the test's other cleanups.
func ownCluster(t testing.TB) *kfake.Cluster {
	t.Helper()
	c, err := newCluster()
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// uniq returns a name unique within the test binary's run.
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), seq.Add(1))
}

// kafka is a topic and a group on a cluster.
type kafka struct {
	c      *kfake.Cluster
	topic  string
	group  string
	parts  int32
	client *kgo.Client // producer and admin
	adm    *kadm.Client
}

func newKafka(t testing.TB, c *kfake.Cluster, partitions int32) *kafka {
	t.Helper()
	k := &kafka{c: c, topic: uniq("t"), group: uniq("g"), parts: partitions}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	k.client, k.adm = cl, kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = k.adm.CreateTopic(ctx, partitions, 1, nil, k.topic)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = k.adm.DeleteGroups(ctx, k.group)
		_, _ = k.adm.DeleteTopics(ctx, k.topic)
		cl.Close()
	})
	return k
}

// produce writes values to partition p, in order.
func (k *kafka) produce(t testing.TB, p int32, values ...string) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: k.topic, Partition: p, Value: []byte(v)}
	}
	k.produceRecords(t, recs...)
}

func (k *kafka) produceRecords(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range recs {
		r.Topic = k.topic
	}
	require.NoError(t, k.client.ProduceSync(ctx, recs...).FirstErr())
}

// opts are the client options of a Source reading k's topic in k's group.
func (k *kafka) opts(extra ...kgo.Opt) []kgo.Opt {
	return append([]kgo.Opt{
		kgo.SeedBrokers(k.c.ListenAddrs()...),
		kgo.ConsumerGroup(k.group),
		kgo.ConsumeTopics(k.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, extra...)
}

// open returns a Source closed at the end of the test.
func (k *kafka) open(t testing.TB, o *kafkasource.Options, extra ...kgo.Opt) *kafkasource.Source {
	t.Helper()
	if o == nil {
		o = &kafkasource.Options{CommitInterval: -1}
	}
	s, err := kafkasource.New(k.opts(extra...), o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// committed returns the group's committed offset of every partition (-1
// when none).
func (k *kafka) committed(t testing.TB) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := k.adm.FetchOffsets(ctx, k.group)
	require.NoError(t, err)
	out := make([]int64, k.parts)
	for p := range k.parts {
		out[p] = -1
		if o, ok := offs.Lookup(k.topic, p); ok && o.Err == nil {
			out[p] = o.At
		}
	}
	return out
}

// ends returns the end offset of every partition.
func (k *kafka) ends(t testing.TB) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := k.adm.ListEndOffsets(ctx, k.topic)
	require.NoError(t, err)
	out := make([]int64, k.parts)
	for p := range k.parts {
		o, ok := l.Lookup(k.topic, p)
		require.True(t, ok)
		out[p] = o.Offset
	}
	return out
}

// readN reads until n messages came, failing after a timeout.
func readN(t testing.TB, s source.Source, n int) []*source.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*source.Message
	for len(out) < n {
		msgs, err := s.Read(ctx)
		require.NoError(t, err, "read %d of %d", len(out), n)
		out = append(out, msgs...)
	}
	return out
}

func ackAll(t testing.TB, msgs []*source.Message) {
	t.Helper()
	for _, m := range msgs {
		require.NoError(t, m.Ack(context.Background()))
	}
}

// waitMembers waits until the group is stable with n members that each hold
// partitions.
func (k *kafka) waitMembers(t testing.TB, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gs, err := k.adm.DescribeGroups(ctx, k.group)
		if err != nil {
			return false
		}
		g := gs[k.group]
		if g.State != "Stable" || len(g.Members) != n {
			return false
		}
		for _, m := range g.Members {
			a, ok := m.Assigned.AsConsumer()
			if !ok || len(a.Topics) == 0 {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond)
}
