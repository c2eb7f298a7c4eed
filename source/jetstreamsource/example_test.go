package jetstreamsource_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fhirsync/fhirsync/source/jetstreamsource"
)

// A Source reads a durable pull consumer the service configured with its
// own connection; each message is acknowledged, with the server's
// confirmation, once what was derived from it is written. (It needs a NATS
// server with JetStream, so it is compiled, not run.)
func Example() {
	nc, err := nats.Connect("nats://127.0.0.1:4222") // and TLS, credentials... as the service configures them
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close() // after the Source's Close
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	cons, err := js.CreateOrUpdateConsumer(ctx, "CLAIMS", jetstream.ConsumerConfig{
		Durable:   "fhirsync",
		AckPolicy: jetstream.AckExplicitPolicy, // required
		AckWait:   2 * time.Minute,             // covers how long the engine may hold a message
		// MaxDeliver left unlimited: the engine never nacks poison, and a
		// message delivered MaxDeliver times would be skipped for good.
	})
	if err != nil {
		log.Fatal(err)
	}
	src, err := jetstreamsource.New(cons, &jetstreamsource.Options{KeepAlive: 30 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	msgs, err := src.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range msgs {
		fmt.Println(m.ID, m.Metadata["num_delivered"]) // "CLAIMS/fhirsync@1042 1": positions only
		var jm jetstream.Msg
		if m.As(&jm) {
			_ = jm.Headers() // may hold PHI: never log them
		}
		if err := m.Ack(ctx); err != nil { // returns once the server recorded it
			log.Print(err)
		}
	}
}
