package pubsubsource_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"gocloud.dev/pubsub/rabbitpubsub"

	"github.com/fhirsync/fhirsync/source/pubsubsource"
)

// BenchmarkRabbitMQ measures messages/s read and acked through a Source on a
// real RabbitMQ queue (rabbitpubsub, default prefetch): b.N messages of 200
// bytes are published first, untimed; the timed part reads and acks them all
// and closes the Source, which flushes the acks to the broker. The peers run
// beside it: Go CDK's Subscription alone (Receive, Ack, Shutdown) and
// amqp091-go alone (Consume, Delivery.Ack), the floor under both.
func BenchmarkRabbitMQ(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("Source/BatchSize=%d", batch), func(b *testing.B) {
			q := fillQueue(b)
			ctx := b.Context()
			src := q.open(b, &pubsubsource.Options{BatchSize: batch})
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for n := 0; n < b.N; {
				ms, err := src.Read(ctx)
				if err != nil {
					b.Fatalf("Read after %d of %d: %v", n, b.N, err)
				}
				for _, m := range ms {
					if err := m.Ack(ctx); err != nil {
						b.Fatal(err)
					}
				}
				n += len(ms)
			}
			if err := src.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
	b.Run("GoCDK", func(b *testing.B) {
		q := fillQueue(b)
		ctx := b.Context()
		sub := rabbitpubsub.OpenSubscription(dialRabbit(b), q.queue, nil)
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for n := 0; n < b.N; n++ {
			m, err := sub.Receive(ctx)
			if err != nil {
				b.Fatalf("Receive after %d of %d: %v", n, b.N, err)
			}
			m.Ack()
		}
		if err := sub.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	})
	b.Run("amqp091", func(b *testing.B) {
		q := fillQueue(b)
		ch, err := dialRabbit(b).Channel()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		deliveries, err := ch.Consume(q.queue, "", false, false, false, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < b.N; n++ {
			d, ok := <-deliveries
			if !ok {
				b.Fatalf("deliveries closed after %d of %d", n, b.N)
			}
			if err := d.Ack(false); err != nil {
				b.Fatal(err)
			}
		}
		if err := ch.Close(); err != nil { // waits for the server
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	})
}

// fillQueue returns a fresh queue holding b.N messages of 200 bytes.
func fillQueue(b *testing.B) *rabbitQueue {
	q := newRabbitQueue(b)
	body := bytes.Repeat([]byte("x"), 200)
	const chunk = 10000
	for i := 0; i < b.N; i += chunk {
		msgs := make([]amqp.Publishing, min(chunk, b.N-i))
		for j := range msgs {
			msgs[j] = amqp.Publishing{Body: body}
		}
		q.publish(b.Context(), b, msgs...)
	}
	return q
}
