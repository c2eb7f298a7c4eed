package fhirmap

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/x12"
)

// bench834 returns an 834 of families: a subscriber with health and dental
// coverage (address, phone, demographics, language) and, in every other
// family, a spouse without an id of their own and a child with REF*23. It
// holds n members in all (n ≥ 1).
func bench834(n int) []byte {
	var b strings.Builder
	seg := 0
	w := func(format string, a ...any) {
		fmt.Fprintf(&b, format, a...)
		b.WriteString("~\n")
		seg++
	}
	b.WriteString("ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *240201*1200*^*00501*000000903*0*T*:~\n")
	b.WriteString("GS*BE*SENDER*RECEIVER*20240201*1200*903*X*005010X220A1~\n")
	w("ST*834*0903*005010X220A1")
	w("BGN*00*BENCH0001*20240201*1200****4")
	w("REF*38*MASTERPOL01")
	w("DTP*007*D8*20240201")
	w("N1*P5*SYNTH EMPLOYER INC*FI*371111111")
	w("N1*IN*SYNTH HEALTH PLAN*XV*99999")
	members := 0
	for f := 0; members < n; f++ {
		sub := fmt.Sprintf("BEN%07d", f)
		w("INS*Y*18*030*XN*A***FT")
		w("REF*0F*%s", sub)
		w("REF*1L*GRP%03d", f%50)
		w("NM1*IL*1*TESTPERSON%d*ALICE*M***34*%09d", f%97, f)
		w("PER*IP**HP*555555%04d", f%10000)
		w("N3*%d PINE RD", f%900+1)
		w("N4*SPRINGFIELD*IL*62701**CY*167")
		w("DMG*D8*19800101*F*M*:RET:2106-3")
		w("LUI*LE*EN**7")
		w("HD*030**HLT*GOLD PPO*FAM")
		w("DTP*348*D8*20240101")
		w("HD*030**DEN*DENTAL BASIC*FAM")
		w("DTP*348*D8*20240101")
		members++
		if f%2 == 1 && members+2 <= n {
			w("INS*N*01*030*XN*A")
			w("REF*0F*%s", sub)
			w("NM1*IL*1*TESTPERSON%d*BOB", f%97)
			w("DMG*D8*19810202*M")
			w("HD*030**HLT*GOLD PPO*FAM")
			w("DTP*348*D8*20240101")
			w("INS*N*19*030*XN*A")
			w("REF*0F*%s", sub)
			w("REF*23*%s-02", sub)
			w("NM1*IL*1*TESTPERSON%d*CARA", f%97)
			w("DMG*D8*20150303*F")
			w("HD*030**HLT*GOLD PPO*FAM")
			w("DTP*348*D8*20240101")
			members += 2
		}
	}
	w("SE*%d*0903", seg+1)
	b.WriteString("GE*1*903~\nIEA*1*000000903~\n")
	return []byte(b.String())
}

// Benchmark834Members measures 834 members mapped to Patient, Coverage and
// Organization resources per second: "map" on decoded members, "decode+map"
// from the bytes (x12.Decoder included), "decode+map+json" also marshalling
// every resource with google/fhir jsonformat as NDJSON would, and
// "reconcile" a full-file scan (decode, map, keep coverage ids).
func Benchmark834Members(b *testing.B) {
	const n = 10000
	data := bench834(n)
	m, err := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}, Now: benchMapper(b).opts.Now})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	run := func(b *testing.B, decode, marshal bool) {
		var recs []x12.Record
		if !decode {
			recs = decodeAll(b, data)
		}
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		b.ResetTimer()
		members, resources := 0, 0
		mapOne := func(rec x12.Record) {
			res, err := m.MapRecord(ctx, rec)
			if err != nil {
				b.Fatal(err)
			}
			members++
			resources += len(res.Resources)
			if marshal {
				for _, r := range res.Resources {
					if _, err := resource.Marshal(r); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		for i := 0; i < b.N; i++ {
			if decode {
				for rec, err := range x12.NewDecoder(bytes.NewReader(data)).Records() {
					if err != nil {
						b.Fatal(err)
					}
					mapOne(rec)
				}
				continue
			}
			for _, rec := range recs {
				mapOne(rec)
			}
		}
		b.StopTimer()
		if members != n*b.N {
			b.Fatalf("%d members mapped, want %d", members, n*b.N)
		}
		b.ReportMetric(float64(members)/b.Elapsed().Seconds(), "members/s")
		b.ReportMetric(float64(resources)/float64(members), "resources/member")
	}
	b.Run("map", func(b *testing.B) { run(b, false, false) })
	b.Run("decode+map", func(b *testing.B) { run(b, true, false) })
	b.Run("decode+map+json", func(b *testing.B) { run(b, true, true) })
	b.Run("scan-full-file", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f, err := m.ScanFullFile(ctx, bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if f.Members != n {
				b.Fatalf("%d members", f.Members)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "members/s")
	})
}
