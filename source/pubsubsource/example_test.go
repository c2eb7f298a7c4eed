package pubsubsource_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"gocloud.dev/pubsub"
	"gocloud.dev/pubsub/mempubsub"

	"github.com/fhirsync/fhirsync/source/pubsubsource"
)

// A Source over any Go CDK subscription (here in-memory; rabbitpubsub,
// natspubsub, awssnssqs, gcppubsub and azuresb work the same way). Metadata
// is sender-controlled, so only the keys declared PHI-free are kept.
func Example() {
	ctx := context.Background()
	topic := mempubsub.NewTopic()
	defer topic.Shutdown(ctx)
	sub := mempubsub.NewSubscription(topic, time.Minute)

	src, err := pubsubsource.New(sub, &pubsubsource.Options{
		Name:            "claims",
		MetadataKeys:    []string{"kind"},
		ShutdownOnClose: true, // Close shuts sub down
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	err = topic.Send(ctx, &pubsub.Message{
		Body:     []byte("ISA*00*...~"),
		Metadata: map[string]string{"kind": "837P", "member": "ZZCANARYZZ"},
	})
	if err != nil {
		log.Fatal(err)
	}

	msgs, err := src.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range msgs {
		fmt.Println(strings.HasPrefix(m.ID, "claims#"), m.Metadata, string(m.Body))
		if err := m.Ack(ctx); err != nil { // after its resources are written
			log.Fatal(err)
		}
	}
	// Output:
	// true map[kind:837P] ISA*00*...~
}
