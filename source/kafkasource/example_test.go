package kafkasource_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fhirsync/fhirsync/source/kafkasource"
)

// A Source reads a consumer group with the caller's client options; each
// message is acknowledged once what was derived from it is written, and the
// group's commit never passes a message that was not.
func Example() {
	// An in-process cluster stands in for the brokers here.
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "provider-changes"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		panic(err)
	}
	defer producer.Close()
	ctx := context.Background()
	if err := producer.ProduceSync(ctx, &kgo.Record{Topic: "provider-changes", Value: []byte(`{"op":"c"}`)}).FirstErr(); err != nil {
		panic(err)
	}

	src, err := kafkasource.New([]kgo.Opt{
		kgo.SeedBrokers(cluster.ListenAddrs()...), // and TLS, SASL... as the service configures them
		kgo.ConsumerGroup("fhirsync-providers"),
		kgo.ConsumeTopics("provider-changes"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, nil)
	if err != nil {
		panic(err)
	}
	msgs, err := src.Read(ctx)
	if err != nil {
		panic(err)
	}
	for _, m := range msgs {
		fmt.Println(m.ID, m.Metadata["offset"], string(m.Body))
		var rec *kgo.Record
		if m.As(&rec) {
			fmt.Println("partition", rec.Partition)
		}
		_ = m.Ack(ctx)
	}
	if err := src.Close(); err != nil { // commits offset 1 and leaves the group
		panic(err)
	}
	// Output:
	// provider-changes/0@0 0 {"op":"c"}
	// partition 0
}
