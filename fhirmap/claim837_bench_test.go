package fhirmap

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/x12"
)

// bench837P returns an 837P interchange of n claims: one subscriber loop per
// claim (a third with a dependent patient), one to four service lines, a
// rendering provider on every other claim, a drug line on every fifth.
// (x12/internal/gen cannot be imported from this package: Go's internal
// rule limits it to package x12's tree.)
func bench837P(n int) []byte {
	var b strings.Builder
	seg := 0
	w := func(format string, a ...any) {
		fmt.Fprintf(&b, format, a...)
		b.WriteString("~\n")
		seg++
	}
	b.WriteString("ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *240115*1200*^*00501*000000901*0*T*:~\n")
	b.WriteString("GS*HC*SENDER*RECEIVER*20240115*1200*901*X*005010X222A1~\n")
	w("ST*837*0901*005010X222A1")
	w("BHT*0019*00*BENCH0001*20240115*1200*CH")
	w("NM1*41*2*SYNTH CLEARINGHOUSE*****46*TPID0001")
	w("PER*IC*EDI DESK*TE*5555550100")
	w("NM1*40*2*SYNTH HEALTH PLAN*****46*RCV0001")
	w("HL*1**20*1")
	w("PRV*BI*PXC*207Q00000X")
	w("NM1*85*2*SYNTHETIC FAMILY CLINIC*****XX*1234567893")
	w("N3*100 MAIN ST")
	w("N4*SPRINGFIELD*IL*627010001")
	w("REF*EI*123456789")
	hl := 1
	cpts := []string{"99213:25", "97110", "J3420", "99214", "36415", "80053"}
	dx := []string{"J449", "E119", "I10", "M545", "Z0000", "R0981"}
	for i := 0; i < n; i++ {
		hl++
		sub := hl
		dep := i%3 == 2
		w("HL*%d*1*22*%d", sub, map[bool]int{true: 1, false: 0}[dep])
		if dep {
			w("SBR*P**GRP%04d******CI", i%50)
		} else {
			w("SBR*P*18*GRP%04d******CI", i%50)
		}
		w("NM1*IL*1*TESTPERSON%d*ALICE****MI*MBR%07d", i%97, i)
		w("N3*%d ELM ST", i%300)
		w("N4*SPRINGFIELD*IL*62701")
		w("DMG*D8*19%02d0%d1%d*F", 40+i%60, 1+i%9, i%10)
		w("NM1*PR*2*SYNTH HEALTH PLAN*****PI*99999")
		if dep {
			hl++
			w("HL*%d*%d*23*0", hl, sub)
			w("PAT*19")
			w("NM1*QC*1*TESTCHILD%d*CAROL", i%89)
			w("DMG*D8*2015060%d*F", 1+i%9)
		}
		lines := 1 + i%4
		w("CLM*PCN%07d*%d.50***11:B:1*Y*A*Y*Y", i, lines*100)
		w("REF*G1*PA%06d", i)
		w("HI*ABK:%s*ABF:%s", dx[i%len(dx)], dx[(i+1)%len(dx)])
		if i%2 == 0 {
			w("NM1*82*1*RENDER*RALPH****XX*1497758544")
			w("PRV*PE*PXC*207R00000X")
		}
		for l := 1; l <= lines; l++ {
			w("LX*%d", l)
			w("SV1*HC:%s*%d.%02d*UN*1***1:2", cpts[(i+l)%len(cpts)], 100, l)
			w("DTP*472*D8*202401%02d", 1+(i+l)%28)
			w("REF*6R*L%07d%02d", i, l)
			if l == 1 && i%5 == 0 {
				w("LIN**N4*00000000001")
				w("CTP****1*UN")
			}
		}
	}
	w("SE*%d*0901", seg+1)
	b.WriteString("GE*1*901~\nIEA*1*000000901~\n")
	return []byte(b.String())
}

func benchMapper(b *testing.B) *Mapper {
	m, err := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}, Now: func() time.Time { return goldenNow }})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkConvert837PNDJSON measures the conversion path end to end on one
// core (run with -cpu 1): decode an 837P, map every claim, marshal every
// resource with google/fhir jsonformat into NDJSON. It reports claims/s and
// resources/s.
func BenchmarkConvert837PNDJSON(b *testing.B) {
	const claims = 1000
	data := bench837P(claims)
	conv := NewX12Converter(benchMapper(b), nil)
	msg := source.NewMessage("bench", data, nil, nil, nil)
	var out bytes.Buffer
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	var nres int
	for i := 0; i < b.N; i++ {
		out.Reset()
		rs, err := conv.Convert(context.Background(), msg)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rs {
			j, err := resource.Marshal(r)
			if err != nil {
				b.Fatal(err)
			}
			out.Write(j)
			out.WriteByte('\n')
		}
		nres = len(rs)
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(claims*b.N)/s, "claims/s")
	b.ReportMetric(float64(nres*b.N)/s, "resources/s")
}

// BenchmarkMap837P measures decoding and mapping without marshalling.
func BenchmarkMap837P(b *testing.B) {
	const claims = 1000
	data := bench837P(claims)
	m := benchMapper(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := x12.NewDecoder(bytes.NewReader(data))
		for rec, err := range d.Records() {
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.MapRecord(context.Background(), rec); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(claims*b.N)/b.Elapsed().Seconds(), "claims/s")
}

// typicalClaim returns the Claim of the 837p_simple golden case.
func typicalClaim(b *testing.B) proto.Message {
	m := benchMapper(b)
	d := x12.NewDecoder(bytes.NewReader(readCase(b, "837p_simple")))
	rec, err := d.Read()
	if err != nil {
		b.Fatal(err)
	}
	res, err := m.MapRecord(context.Background(), rec)
	if err != nil {
		b.Fatal(err)
	}
	return res.Resources[len(res.Resources)-1]
}

// BenchmarkMarshalClaimJSONFormat measures google/fhir jsonformat (through
// resource.Marshal) on its own, on a typical professional Claim.
func BenchmarkMarshalClaimJSONFormat(b *testing.B) {
	c := typicalClaim(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := resource.Marshal(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalClaimProtoJSON marshals the same Claim with protojson (not
// FHIR JSON: a reference point for jsonformat's cost).
func BenchmarkMarshalClaimProtoJSON(b *testing.B) {
	c := typicalClaim(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := protojson.Marshal(c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBench837PInput keeps the benchmark input honest: it decodes and maps
// without errors.
func TestBench837PInput(t *testing.T) {
	data := bench837P(30)
	m, err := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := NewX12Converter(m, nil).Convert(context.Background(), source.NewMessage("b", data, nil, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(types(rs), "Claim"); n != 30 {
		t.Errorf("%d claims, want 30", n)
	}
}

// BenchmarkConvertStreamWorkers maps the claims of one 2,000-claim 837P
// message with X12ConverterOptions.Workers 1, 2 and 4 (no marshalling): the
// speed-up of one large file on several cores. Compare with -cpu.
func BenchmarkConvertStreamWorkers(b *testing.B) {
	const claims = 2000
	data := bench837P(claims)
	msg := source.NewMessage("bench", data, nil, nil, nil)
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			conv := NewX12Converter(benchMapper(b), &X12ConverterOptions{Workers: workers})
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if err := conv.ConvertStream(context.Background(), msg, func(rs []proto.Message) error {
					n += len(rs)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(claims*b.N)/b.Elapsed().Seconds(), "claims/s")
		})
	}
}
