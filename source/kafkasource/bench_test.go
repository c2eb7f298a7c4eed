package kafkasource_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/kafkasource"
)

// BenchmarkReadAck measures messages read and acknowledged per second
// through the in-process cluster (kfake): b.N records of 256 bytes on 4
// partitions are produced before the timer starts; acks come from 4
// goroutines, and the final commit is inside the timing.
func BenchmarkReadAck(b *testing.B) {
	k := newKafka(b, sharedCluster(b), 4)
	value := make([]byte, 256)
	const chunk = 5000
	for i := 0; i < b.N; i += chunk {
		n := min(chunk, b.N-i)
		recs := make([]*kgo.Record, n)
		for j := range recs {
			recs[j] = &kgo.Record{Partition: int32((i + j) % 4), Key: []byte(strconv.Itoa(i + j)), Value: value}
		}
		k.produceRecords(b, recs...)
	}
	s, err := kafkasource.New(k.opts(kgo.FetchMaxWait(50*time.Millisecond)), &kafkasource.Options{CommitInterval: time.Second})
	require.NoError(b, err)
	defer s.Close()
	ctx := context.Background()
	work := make(chan []*source.Message, 16)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for msgs := range work {
				for _, m := range msgs {
					if err := m.Ack(ctx); err != nil {
						b.Error(err)
					}
				}
			}
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for read := 0; read < b.N; {
		msgs, err := s.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		read += len(msgs)
		work <- msgs
	}
	close(work)
	wg.Wait()
	if err := s.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
