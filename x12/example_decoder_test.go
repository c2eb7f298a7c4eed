package x12_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fhirsync/fhirsync/x12"
)

// An 837P with two claims for one subscriber; the second claim's charge is
// malformed. The Decoder yields the good claim, reports the bad one with its
// position and 999 codes, and goes on.
const example837P = `ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *240115*1200*^*00501*000000001*0*T*:~
GS*HC*SENDER*RECEIVER*20240115*1200*1*X*005010X222A1~
ST*837*0001*005010X222A1~
BHT*0019*00*B1*20240115*1200*CH~
NM1*41*2*SYNTH CLEARINGHOUSE*****46*S1~
NM1*40*2*SYNTH HEALTH PLAN*****46*R1~
HL*1**20*1~
NM1*85*2*SYNTHETIC CLINIC*****XX*1234567893~
N3*1 MAIN ST~
N4*SPRINGFIELD*IL*62701~
REF*EI*123456789~
HL*2*1*22*0~
SBR*P*18*GRP1******CI~
NM1*IL*1*TESTPERSON*ALICE****MI*MBR0001~
NM1*PR*2*SYNTH HEALTH PLAN*****PI*99999~
CLM*PCN1*125.50***11:B:1*Y*A*Y*Y~
HI*ABK:J449*ABF:I10~
LX*1~
SV1*HC:99213:25*125.50*UN*1***1:2~
DTP*472*D8*20240110~
REF*6R*LINE1~
CLM*PCN2*12O.00***11:B:1*Y*A*Y*Y~
HI*ABK:R51~
LX*1~
SV1*HC:99212*120*UN*1***1~
DTP*472*D8*20240111~
SE*25*0001~
GE*1*1~
IEA*1*000000001~
`

func ExampleDecoder() {
	d := x12.NewDecoder(strings.NewReader(example837P))
	for rec, err := range d.Records() {
		if err != nil {
			var se *x12.SyntaxError
			if errors.As(err, &se) {
				fmt.Printf("error at %s %s element %d (IK3 %s IK4 %s): %v\n",
					se.Pos.SegmentID, se.Pos.Loop, se.Pos.Element, se.IK3, se.IK4, errors.Is(err, x12.ErrInvalidValue))
			}
			continue
		}
		c := rec.(*x12.Claim837)
		charge, _ := c.TotalCharge.Decimal()
		dx, _ := c.PrincipalDiagnosis()
		line := c.Lines[0]
		fmt.Println(c.Kind(), c.PatientControlNumber, charge.StringFixed(2), "billed by NPI", c.BillingProvider.Name.ID)
		fmt.Println("  subscriber", c.Subscriber.Name.ID, "payer", c.Subscriber.Payer.ID, "principal dx", dx.Code)
		fmt.Println("  line", line.LineNumber, line.Professional.Procedure.Code, line.Professional.Procedure.Modifiers,
			line.Professional.Charge, "control number", line.ControlNumber())
		fmt.Println("  at", c.Pos())
	}
	// Output:
	// 837P claim PCN1 125.50 billed by NPI 1234567893
	//   subscriber MBR0001 payer 99999 principal dx J449
	//   line 1 99213 [25] 125.50 control number LINE1
	//   at offset 530, segment 14 CLM (loop 2300), ISA13 000000001 GS06 1 ST02 0001
	// error at CLM 2300 element 2 (IK3 8 IK4 6): true
}

// A streaming converter decodes with ReuseRecord: each record is used before
// the next Read, which reuses its memory. Strings copied out of a record (here
// the patient control numbers kept in a slice) stay valid; the *Claim837 and
// its slices do not.
func ExampleDecoder_reuseRecord() {
	d := x12.NewDecoder(strings.NewReader(example837P))
	d.ReuseRecord = true
	var pcns []string
	lines := 0
	for rec, err := range d.Records() {
		if err != nil {
			continue // reported elsewhere
		}
		c := rec.(*x12.Claim837)
		pcns = append(pcns, c.PatientControlNumber) // a string: stays valid
		lines += len(c.Lines)                       // use c before the next Read
	}
	fmt.Println(pcns, lines)
	// Output:
	// [PCN1] 1
}
