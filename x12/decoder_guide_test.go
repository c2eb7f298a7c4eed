package x12

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestDecoderGuideLayouts checks element positions and loop placement against
// the implementation guides, one table row per fact: the input is a synthetic
// transaction set, the want a rendering of the typed fields (and loop
// segments) the fact is about.
func TestDecoderGuideLayouts(t *testing.T) {
	dental := func(claim ...string) []byte {
		return decInterchange("005010X224A2", append(append([]string(nil), decHead837...), claim...))
	}
	professional := func(claim ...string) []byte {
		return decInterchange("005010X222A1", append(append([]string(nil), decHead837...), claim...))
	}
	loopSegs := func(l *Loop) string {
		var ids []string
		for _, s := range l.Segments {
			ids = append(ids, s.ID())
		}
		return l.ID + ":" + strings.Join(ids, ",")
	}
	contract := func(c *Contract) string {
		if c == nil {
			return "-"
		}
		return c.Type + "/" + string(c.Amount)
	}
	// A line-level CN1 (837D 2400 Contract Information) and K3 (File
	// Information) are followed by line-level REF*6R and AMT.
	lineCN1 := []string{"CLM*D1*100***11:B:1*Y*A*Y*Y", "LX*1", "SV3*AD:D2391*100*11**1", "TOO*JP*3*O:M", "DTP*472*D8*20240301",
		"CN1*02*80", "REF*6R*LINE1", "AMT*T*5", "K3*FILE INFO", "LX*2", "SV3*AD:D0120*0", "REF*6R*LINE2"}
	lineCN1P := []string{"CLM*P1*100***11:B:1*Y*A*Y*Y", "HI*ABK:J449", "LX*1", "SV1*HC:99213*100*UN*1***1", "DTP*472*D8*20240110", "CN1*05*90"}
	for _, tc := range []struct {
		name  string
		input []byte
		got   func(Record) string
		want  string
	}{
		{"837D DN2: the tooth designation qualifier is DN206", dental("CLM*D1*100***11:B:1*Y*A*Y*Y", "DN2*1*M****JP", "DN2*32*E****JP", "LX*1", "SV3*AD:D0120*100"),
			func(r Record) string {
				var out []string
				for _, ts := range r.(*Claim837).ToothStatus {
					out = append(out, ts.Tooth+"/"+ts.Status+"/"+ts.CodeQualifier)
				}
				return strings.Join(out, " ")
			}, "1/M/JP 32/E/JP"},
		{"837D 2400 CN1 and K3 stay in the service line", dental(lineCN1...),
			func(r Record) string {
				c := r.(*Claim837)
				l := c.Lines[0]
				ctl, _ := l.Refs.Get("6R")
				tax, _ := l.Amounts.Get("T")
				return fmt.Sprintf("claim refs=%d amts=%d cn1=%s | line %s 6R=%s T=%s cn1=%s | %s | line2 6R=%s",
					len(c.Refs), len(c.Amounts), contract(c.Contract), loopSegs(l.Loop), ctl, tax, contract(l.Contract),
					loopSegs(c.Loop()), c.Lines[1].ControlNumber())
			}, "claim refs=0 amts=0 cn1=- | line 2400:LX,SV3,TOO,DTP,CN1,REF,AMT,K3 6R=LINE1 T=5 cn1=02/80 | 2300:CLM | line2 6R=LINE2"},
		{"837P 2400 CN1 is the line's contract", professional(lineCN1P...),
			func(r Record) string {
				c := r.(*Claim837)
				return "claim " + contract(c.Contract) + " line " + contract(c.Lines[0].Contract)
			}, "claim - line 05/90"},
		{"835 MIA: every amount of the inpatient adjudication", decInterchange("005010X221A1", []string{
			"BPR*I*10*C*ACH************20240220", "TRN*1*T*1", "N1*PR*P", "N1*PE*E*XX*1",
			"CLP*A*1*100*10**MA*ICN1*11*1", "NM1*QC*1*X",
			"MIA*3*2.5*0*40*MA01*6*7*8*9*10*11*12*13*14*5*16*17*18*19*MA02*MA03*MA04*MA05*24"}),
			func(r Record) string {
				m := r.(*ClaimPayment835).Inpatient
				return fmt.Sprintf("%s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %v",
					m.CoveredDays, m.PPSOperatingOutlier, m.LifetimePsychiatricDays, m.DRGAmount, m.DisproportionateShare, m.MSPPassThrough,
					m.PPSCapital, m.PPSCapitalFSPDRG, m.PPSCapitalHSPDRG, m.PPSCapitalDSHDRG, m.OldCapital, m.PPSCapitalIME,
					m.PPSOperatingHospitalSpecificDRG, m.CostReportDays, m.PPSOperatingFederalSpecificDRG, m.PPSCapitalOutlier,
					m.IndirectTeaching, m.NonPayableProfessional, m.PPSCapitalException, strings.Join(m.Remarks, ","), m.Remarks != nil)
			}, "3 2.5 0 40 6 7 8 9 10 11 12 13 14 5 16 17 18 19 24 MA01,MA02,MA03,MA04,MA05 true"},
		{"837D CLM19 claim submission reason (PB predetermination)", dental("CLM*D1*100***11:B:1*Y*A*Y*Y**********PB", "LX*1", "SV3*AD:D2740*100"),
			func(r Record) string { return r.(*Claim837).SubmissionReason }, "PB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for rec, err := range NewDecoder(bytes.NewReader(tc.input)).Records() {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				got = append(got, tc.got(rec))
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
