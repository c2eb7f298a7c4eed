package jetstreamsource_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/jetstreamsource"
)

// BenchmarkReadAck measures messages/s read and acked through a Source on
// the local JetStream server (memory stream, one durable consumer): b.N
// messages of 200 bytes are published first, untimed; the timed part reads
// and acks them all and closes the Source. Confirmed acks (the default,
// DoubleAck) cost a round trip each: acked one after another that round
// trip bounds the rate, acked from several goroutines (as the engine's
// writers do) they overlap. Unconfirmed acks (Options.UnconfirmedAcks) are
// publishes. The peers run beside it: jetstream's Consume alone with
// DoubleAck and with Ack, the floor under the Source.
func BenchmarkReadAck(b *testing.B) {
	for _, bc := range []struct {
		name     string
		opts     jetstreamsource.Options
		parallel int // goroutines acking each batch; 0: the reading one
	}{
		{"Source/Confirmed/BatchSize=1", jetstreamsource.Options{BatchSize: 1}, 0},
		{"Source/Confirmed/BatchSize=100", jetstreamsource.Options{BatchSize: 100}, 0},
		{"Source/Confirmed/BatchSize=100/AckGoroutines=8", jetstreamsource.Options{BatchSize: 100}, 8},
		{"Source/Unconfirmed/BatchSize=100", jetstreamsource.Options{BatchSize: 100, UnconfirmedAcks: true}, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cons := fill(b)
			ctx := b.Context()
			src, err := jetstreamsource.New(cons, &bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for n := 0; n < b.N; {
				ms, err := src.Read(ctx)
				if err != nil {
					b.Fatalf("Read after %d of %d: %v", n, b.N, err)
				}
				ackAll(b, ctx, ms, bc.parallel)
				n += len(ms)
			}
			if err := src.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
	for _, confirmed := range []bool{true, false} {
		name := "jetstream.Consume/Ack"
		if confirmed {
			name = "jetstream.Consume/DoubleAck"
		}
		b.Run(name, func(b *testing.B) {
			cons := fill(b)
			ctx := b.Context()
			done := make(chan struct{})
			var n int
			var ackErr error
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			cc, err := cons.Consume(func(m jetstream.Msg) {
				if n >= b.N {
					return
				}
				var err error
				if confirmed {
					err = m.DoubleAck(ctx)
				} else {
					err = m.Ack()
				}
				if err != nil && ackErr == nil {
					ackErr = err
				}
				if n++; n == b.N {
					close(done)
				}
			}, jetstream.PullMaxMessages(100))
			if err != nil {
				b.Fatal(err)
			}
			<-done
			cc.Stop()
			b.StopTimer()
			if ackErr != nil {
				b.Fatal(ackErr)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// ackAll acks ms from the calling goroutine, or spread over parallel ones.
func ackAll(b *testing.B, ctx context.Context, ms []*source.Message, parallel int) {
	if parallel <= 1 {
		for _, m := range ms {
			if err := m.Ack(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ms); i += parallel {
				if err := ms[i].Ack(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// fill publishes b.N messages of 200 bytes on a new stream and returns its
// durable consumer.
func fill(b *testing.B) jetstream.Consumer {
	b.Helper()
	st := newStream(b)
	cons := st.consumer(b, time.Minute)
	body := []byte(strings.Repeat("x", 200))
	for i := 0; i < b.N; i++ {
		if _, err := st.js.PublishAsync(st.subject, body); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-st.js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishing timed out")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if info.NumPending != uint64(b.N) {
		b.Fatalf("stream holds %d messages for the consumer, want %d", info.NumPending, b.N)
	}
	return cons
}
