package fhirmap

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/x12"
)

// bench835 returns an 835 that pays the n claims of bench837P(n): one claim
// payment per claim, one service payment per line (with its REF*6R, a CO-45
// and a PR-2 adjustment, AMT*B6), a remark code on every third line.
func bench835(n int) []byte {
	var b strings.Builder
	seg := 0
	w := func(format string, a ...any) {
		fmt.Fprintf(&b, format, a...)
		b.WriteString("~\n")
		seg++
	}
	b.WriteString("ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *240201*1200*^*00501*000000902*0*T*:~\n")
	b.WriteString("GS*HP*SENDER*RECEIVER*20240201*1200*902*X*005010X221A1~\n")
	w("ST*835*0902*005010X221A1")
	w("BPR*I*1000*C*ACH*CCP*01*999999992*DA*123456*1512345678**01*999988880*DA*98765*20240201")
	w("TRN*1*EFTBENCH01*1512345678")
	w("DTM*405*20240131")
	w("N1*PR*SYNTH HEALTH PLAN*XV*99999")
	w("N3*1 PLAN WAY")
	w("N4*AUSTIN*TX*78701")
	w("PER*BL*EDI SUPPORT*TE*5555550198")
	w("N1*PE*SYNTHETIC FAMILY CLINIC*XX*1234567893")
	w("REF*TJ*123456789")
	w("LX*1")
	cpts := []string{"99213:25", "97110", "J3420", "99214", "36415", "80053"}
	for i := 0; i < n; i++ {
		lines := 1 + i%4
		var charge, paid, pr float64
		for l := 1; l <= lines; l++ {
			c := 100 + float64(l)/100
			charge += c
			paid += c - 30
			pr += 10
		}
		w("CLP*PCN%07d*1*%.2f*%.2f*%.2f*12*ICN%07d*11*1", i, charge, paid, pr, i)
		w("NM1*QC*1*TESTPERSON%d*ALICE****MI*MBR%07d", i%97, i)
		w("DTM*050*20240116")
		for l := 1; l <= lines; l++ {
			c := 100 + float64(l)/100
			w("SVC*HC:%s*%.2f*%.2f**1", cpts[(i+l)%len(cpts)], c, c-30)
			w("DTM*472*202401%02d", 1+(i+l)%28)
			w("CAS*CO*45*20")
			w("CAS*PR*2*10")
			w("REF*6R*L%07d%02d", i, l)
			w("AMT*B6*%.2f", c-20)
			if (i+l)%3 == 0 {
				w("LQ*HE*N130")
			}
		}
	}
	w("SE*%d*0902", seg+1)
	b.WriteString("GE*1*902~\nIEA*1*000000902~\n")
	return []byte(b.String())
}

// decodeAll decodes every record of data.
func decodeAll(b *testing.B, data []byte) []x12.Record {
	var out []x12.Record
	for rec, err := range x12.NewDecoder(strings.NewReader(string(data))).Records() {
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// benchEOB runs the 835 → EOB benchmarks: map every claim payment of a
// 1000-claim 835, joined with its 837 claims or not, and marshal the
// resources with google/fhir jsonformat (marshal) or not.
func benchEOB(b *testing.B, joined, marshal bool) {
	const n = 1000
	var ix *ClaimIndex
	opts := &Options{IDs: &IDOptions{Key: goldenKey}, Now: benchMapper(b).opts.Now,
		// what an 834 enrollment store would answer for the dependents
		DependentMemberID: func(_ context.Context, d Dependent) (string, error) { return d.SubscriberID + "-01", nil },
	}
	if joined {
		ix = NewClaimIndex(nil)
		opts.Claims = ix
	}
	m, err := NewMapper(nil, opts)
	if err != nil {
		b.Fatal(err)
	}
	if joined {
		for _, rec := range decodeAll(b, bench837P(n)) {
			res, err := m.MapRecord(context.Background(), rec)
			if err != nil {
				b.Fatal(err)
			}
			if err := ix.AddResources(res.Resources); err != nil {
				b.Fatal(err)
			}
		}
	}
	recs := decodeAll(b, bench835(n))
	b.ReportAllocs()
	b.ResetTimer()
	eobs, bytes, profiled := 0, 0, 0
	for i := 0; i < b.N; i++ {
		for _, rec := range recs {
			res, err := m.MapRecord(context.Background(), rec)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range res.Resources {
				if marshal {
					js, err := resource.Marshal(r)
					if err != nil {
						b.Fatal(err)
					}
					bytes += len(js) + 1
				}
				if resource.Type(r) == "ExplanationOfBenefit" {
					eobs++
					if len(metaProfiles(r)) > 0 {
						profiled++
					}
				}
			}
		}
	}
	b.StopTimer()
	if joined && profiled != eobs {
		b.Fatalf("%d of %d joined EOBs claim a C4BB profile", profiled, eobs)
	}
	b.ReportMetric(float64(eobs)/b.Elapsed().Seconds(), "eob/s")
	if marshal {
		b.ReportMetric(float64(bytes)/float64(eobs), "ndjson-bytes/eob")
	}
}

// BenchmarkMapPayment835 measures 835 claim payment → C4BB
// ExplanationOfBenefit per second on the decoded records (run with -cpu 1
// for one core): joined with the claims of an in-memory ClaimIndex or not,
// with and without google/fhir jsonformat marshalling to NDJSON.
func BenchmarkMapPayment835(b *testing.B) {
	b.Run("joined/jsonformat", func(b *testing.B) { benchEOB(b, true, true) })
	b.Run("joined/map-only", func(b *testing.B) { benchEOB(b, true, false) })
	b.Run("unmatched/jsonformat", func(b *testing.B) { benchEOB(b, false, true) })
}

// BenchmarkMarshalEOB measures google/fhir jsonformat on its own: one joined
// professional EOB of the golden case 835p_joined to compact JSON.
func BenchmarkMarshalEOB(b *testing.B) {
	run := runCase(b, "835p_joined")
	var eob proto.Message
	for _, r := range run.resources {
		if resource.Type(r) == "ExplanationOfBenefit" {
			eob = r
		}
	}
	js, err := resource.Marshal(eob)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(js)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := resource.Marshal(eob); err != nil {
			b.Fatal(err)
		}
	}
}
