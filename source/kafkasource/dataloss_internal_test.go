package kafkasource

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fetch builds a poll result of one partition.
func fetch(err error, offsets ...int64) kgo.Fetches {
	fp := kgo.FetchPartition{Partition: 0, Err: err}
	for _, o := range offsets {
		fp.Records = append(fp.Records, &kgo.Record{Topic: "t", Partition: 0, Offset: o, Value: []byte("v")})
	}
	return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "t", Partitions: []kgo.FetchPartition{fp}}}}}
}

// TestDataLossForgetsTheTracker: after the log lost records and franz-go
// reset the offset below what was delivered, the records at the reused
// offsets are delivered (they were dropped as repeats), and nothing of the
// old tracker is committed any more.
func TestDataLossForgetsTheTracker(t *testing.T) {
	s := &Source{parts: map[topicPartition]*partition{}}
	msgs, err := s.register(fetch(nil, 10, 11, 12))
	if err != nil || len(msgs) != 3 {
		t.Fatalf("first poll: %d messages, %v", len(msgs), err)
	}
	old := s.parts[topicPartition{"t", 0}]
	msgs, err = s.register(fetch(&kgo.ErrDataLoss{Topic: "t", Partition: 0, ConsumedTo: 13, ResetTo: 5}, 5, 6))
	if err != nil {
		t.Fatalf("a data loss is not an error of Read: %v", err)
	}
	if len(msgs) != 2 || msgs[0].ID != "t/0@5" {
		t.Fatalf("records after the reset: %d messages, want 2 from offset 5", len(msgs))
	}
	if err := msgs[0].Ack(t.Context()); err != nil {
		t.Fatal(err)
	}
	old.mu.Lock()
	_, ok := old.toCommit()
	old.mu.Unlock()
	if ok || !old.dead {
		t.Error("the old tracker still commits")
	}
	p := s.parts[topicPartition{"t", 0}]
	p.mu.Lock()
	eo, ok := p.toCommit()
	p.mu.Unlock()
	if !ok || eo.Offset != 6 {
		t.Errorf("new tracker commits %v, %v; want offset 6", eo, ok)
	}
}
