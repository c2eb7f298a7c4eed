package pgsource_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRead measures end to end throughput against the real Postgres:
// b.N rows inserted in transactions of 1,000 (not timed), then read,
// decoded and acked by one Source until the slot confirms them all.
func BenchmarkRead(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f := newFixture(b, "id int PRIMARY KEY, name text, amount numeric(12,2), updated timestamptz, tags text[], active bool", true)
	for done := 0; done < b.N; done += 1000 {
		n := min(1000, b.N-done)
		f.exec(ctx, fmt.Sprintf(`INSERT INTO %s SELECT i, 'provider ' || i, i * 1.25, now(), ARRAY['net-' || (i %% 7), 'plan'], i %% 2 = 0
			FROM generate_series(%d, %d) i`, f.table, done+1, done+n))
	}
	b.ResetTimer()
	start := time.Now()
	src := f.open(ctx, nil)
	var bytes int64
	for got := 0; got < b.N; {
		ms, err := src.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range ms {
			bytes += int64(len(m.Body))
			if err := m.Ack(ctx); err != nil {
				b.Fatal(err)
			}
		}
		got += len(ms)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if err := src.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "changes/s")
	b.ReportMetric(float64(bytes)/float64(b.N), "B/change")
}
