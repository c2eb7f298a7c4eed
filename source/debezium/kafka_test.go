package debezium_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/source/debezium"
	"github.com/fhirsync/fhirsync/source/kafkasource"
)

// Debezium events produced into Kafka (kfake, in process), read by
// kafkasource and mapped by the ProviderConverter: the path of a CDC
// deployment, with a bad event that goes to the reject path and a tombstone
// that maps to nothing.
func TestKafkaToPlanNet(t *testing.T) {
	const topic, group = "dbserver1.public.providers", "fhirsync-providers"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	require.NoError(t, err)
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	defer producer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := []byte(`{"id":7}`)
	values := [][]byte{
		fixture(t, "pg_create"),
		fixture(t, "pg_update_with_schema"),
		[]byte(`{"payload":{"op":"c","after":{"npi":`), // cut short: rejected
		fixture(t, "pg_delete"),
		nil, // the delete's tombstone
	}
	for _, v := range values {
		require.NoError(t, producer.ProduceSync(ctx, &kgo.Record{Key: key, Value: v}).FirstErr())
	}

	src, err := kafkasource.New([]kgo.Opt{
		kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, nil)
	require.NoError(t, err)
	conv := debezium.NewProviderConverter(testProviderMapper(t), nil)

	var counts []int
	var rejected []error
	for len(counts) < len(values) {
		msgs, err := src.Read(ctx)
		require.NoError(t, err)
		for _, m := range msgs {
			rs, err := conv.Convert(ctx, m)
			var ce *fhirmap.ConvertError
			switch {
			case errors.As(err, &ce):
				rejected = append(rejected, err) // the reject path records it; then the message is acked
			case err != nil:
				t.Fatalf("convert %s: %v", m.ID, err)
			}
			counts = append(counts, len(rs))
			require.NoError(t, m.Ack(ctx))
		}
	}
	assert.Equal(t, []int{5, 8, 0, 2, 0}, counts)
	require.Len(t, rejected, 1)
	assert.ErrorIs(t, rejected[0], debezium.ErrSyntax)
	require.NoError(t, src.Close())

	adm := kadm.NewClient(producer)
	offs, err := adm.FetchOffsets(ctx, group)
	require.NoError(t, err)
	o, ok := offs.Lookup(topic, 0)
	require.True(t, ok)
	assert.Equal(t, int64(len(values)), o.At, "every message acked and committed")
}
