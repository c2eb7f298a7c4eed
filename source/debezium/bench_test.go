package debezium_test

import (
	"context"
	"testing"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/debezium"
)

// BenchmarkDecode decodes Postgres events of a 19-column provider row: with
// the schema wrapper (typed values: Decimal, Date, MicroTimestamp) and
// without it (plain JSON values).
func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"pg_create", "pg_update_noschema"} {
		data := fixture(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := debezium.Decode(data, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProviderConverter maps one create event to its five Plan-Net
// resources.
func BenchmarkProviderConverter(b *testing.B) {
	conv := debezium.NewProviderConverter(testProviderMapper(b), nil)
	msg := source.NewMessage("t/0@1", fixture(b, "pg_create"), map[string]string{"offset": "1"}, nil, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conv.Convert(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}
