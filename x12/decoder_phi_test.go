package x12

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestDecoderErrorsCarryNoPHI decodes records whose names, ids and malformed
// values are the canary: no error string, position or log line may contain
// it, while Diagnostics (documented as PHI) shows the offending value.
func TestDecoderErrorsCarryNoPHI(t *testing.T) {
	const c = canary
	name := "NM1*IL*1*" + c + "*" + c + "****MI*" + c
	bad837 := [][]string{
		{"CLM*" + c + "*" + c + "***11:B:1", "HI*ABK:J449", "LX*1", "SV1*HC:99213*100*UN*1", "DTP*472*D8*20240110"},
		decClaim("A", "DTP*431*D8*"+c),
		decClaim("B", "DTP*431*"+c+"*20240101"),
		decClaim("C", "HI*ABF:"+c+":D8:"+c),
		decClaim("D", "AMT*F5*"+c),
		decClaim("E", "REF*"+c),
		{"CLM*F*100***11:B:1", "HI*ABK:J449", "LX*1", "SV1*HC:" + c + "*" + c + "*UN*" + c, "DTP*472*D8*20240110"},
		{"CLM*G*100***11:B:1", "HI*ABK:J449", "LX*1", "SV1*HC:99213*100*UN*1", "DTP*472*D8*20240110", "SVD*1*" + c, "CAS*" + c + "*45*" + c, "DTP*573*RD8*" + c},
		decClaim("H", "ZZC*"+c),
		decClaim("I", "NM1*82*1*"+c+"*"+c+"****XX*"+c, "PRV*PE*PXC*"+c),
		decClaim("J", "CN1*02*"+c),
		decClaim("K", "PAT*"+c),
		{"CLM*L*100***11:B:1", "HI*ABK:J449", "LX*1", "SV1*HC:99213*100*UN*1", "DTP*472*D8*20240110", "LIN**N4*" + c, "CTP****" + c + "*UN"},
	}
	head := append([]string(nil), decHead837...)
	head[11] = name
	head[12] = "DMG*D8*" + c + "*F"
	var input []byte
	input = append(input, decInterchange("005010X222A1", append(append([]string(nil), head...), decClaim("Z")...))...)
	body := append([]string(nil), decHead837...)
	body[11] = name
	for _, cl := range bad837 {
		body = append(body, cl...)
	}
	input = append(input, decInterchange("005010X222A1", body)...)
	input = append(input, decInterchange("005010X221A1", []string{
		"BPR*I*10*C*ACH************20240220", "TRN*1*" + c + "*1", "N1*PR*" + c + "*XV*" + c, "N1*PE*" + c + "*XX*" + c,
		"CLP*" + c + "*" + c + "*10*10", "NM1*QC*1*" + c + "*" + c,
		"CLP*X*1*" + c + "*10", "NM1*QC*1*" + c,
		"CLP*X*1*10*10", "NM1*QC*1*" + c, "SVC*HC:" + c + "*" + c + "*10",
		"CLP*X*1*10*10", "NM1*QC*1*" + c, "SVC*HC:99213*10*10", "DTM*472*" + c,
		"CLP*X*1*10*10", "NM1*QC*1*" + c, "SVC*HC:99213*10*10", "LQ*HE",
		"CLP*X*1*10*10", "NM1*QC*1*" + c, "CAS*PR*1*" + c,
		"CLP*X*1*10*10", "NM1*QC*1*" + c, "MIA*0***" + c,
		"PLB*" + c + "*" + c + "*" + c + ":" + c + "*" + c,
	}, []string{
		"BPR*I*" + c + "*C*ACH************" + c, "TRN*1*" + c + "*1",
		"N1*PR*" + c + "*XV*" + c, "N1*PE*" + c + "*XX*" + c, "CLP*X*1*10*10", "NM1*QC*1*" + c,
	})...)
	input = append(input, decInterchange("005010X220A1", []string{
		"BGN*00*" + c + "*20240101", "N1*P5*" + c + "*FI*" + c, "N1*IN*" + c + "*FI*" + c,
		"INS*" + c + "*18*021", "REF*0F*" + c, "NM1*IL*1*" + c + "*" + c,
		"INS*Y*18*021", "REF*0F*" + c, "NM1*IL*1*" + c + "*" + c, "DMG*D8*" + c,
		"INS*Y*18*021", "REF*0F*" + c, "NM1*IL*1*" + c + "*" + c, "HD*021**HLT", "DTP*348*D8*" + c,
		"INS*Y*18*021*XN*A***FT***D8*" + c, "REF*0F*" + c, "NM1*IL*1*" + c + "*" + c,
		"INS*Y*18*021", "REF*0F*" + c, "NM1*IL*1*" + c + "*" + c, "HD*021**HLT", "LX*1", "NM1*P3*1*" + c, "PLA*2*1P*" + c,
	}, []string{
		"BGN*00*" + c + "*" + c, "N1*P5*" + c + "*FI*" + c, "N1*IN*" + c + "*FI*" + c,
		"INS*Y*18*021", "REF*0F*" + c, "NM1*IL*1*" + c + "*" + c,
	})...)
	input = append(input, decInterchange("005010X279A1", []string{"BHT*0022*13*" + c})...)
	input = bytes.Replace(input, []byte("*005010X279A1~\nBHT"), []byte("*"+c+"~\nBHT"), 1)

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	d := NewDecoder(bytes.NewReader(input))
	d.Lenient = false
	var nerr, nrec, withValue int
	for rec, err := range d.Records() {
		if err != nil {
			nerr++
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("%v is not a *SyntaxError", err)
			}
			if strings.Contains(err.Error(), c) || strings.Contains(se.Pos.String(), c) {
				t.Errorf("error leaks PHI: %s", err)
			}
			if strings.Contains(se.Diagnostics(), c) {
				withValue++
			}
			logger.Error("decode", "err", err, "pos", se.Pos)
			continue
		}
		nrec++
		logger.Info("record", "rec", rec, "loop", rec.Loop(), "lead", rec.Loop().Lead())
	}
	if nerr < 30 || withValue < 25 {
		t.Errorf("%d errors, %d with the value in Diagnostics: the canary cases did not all fail", nerr, withValue)
	}
	if strings.Contains(logs.String(), c) {
		t.Errorf("log output leaks PHI:\n%s", logs.String())
	}
	if nrec == 0 {
		t.Error("no record decoded")
	}
	t.Logf("%d errors (%d with the value in Diagnostics), %d records", nerr, withValue, nrec)
}
