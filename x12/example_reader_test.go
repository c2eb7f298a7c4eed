package x12_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/fhirsync/fhirsync/x12"
)

func ExampleReader() {
	const input = "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240102*1230*^*00501*000000001*0*P*:~\n" +
		"GS*HC*SENDER*RECEIVER*20240102*1230*1*X*005010X222A1~\n" +
		"ST*837*0001*005010X222A1~\n" +
		"BHT*0019*00*REF1*20240102*1230*CH~\n" +
		"CLM*PCN1*100***11:B:1*Y*A*Y*Y~\n" +
		"SE*4*0001~\n" +
		"GE*1*1~\n" +
		"IEA*1*000000001~\n"

	r := x12.NewReader(strings.NewReader(input))
	for {
		seg, err := r.Read()
		if err == io.EOF {
			break
		}
		var se *x12.SyntaxError
		if errors.As(err, &se) {
			fmt.Println("finding:", se) // positions and codes only: safe to log
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		p := seg.Pos()
		fmt.Printf("%-3s offset %3d index %d", seg.ID(), p.Offset, p.Index)
		if seg.ID() == "CLM" {
			fmt.Printf("  CLM02 %s, frequency CLM05-3 %s", seg.Element(2), seg.Component(5, 3))
		}
		fmt.Println()
	}
	// Output:
	// ISA offset   0 index 0
	// GS  offset 107 index 0
	// ST  offset 161 index 1
	// BHT offset 187 index 2
	// CLM offset 222 index 3  CLM02 100, frequency CLM05-3 1
	// SE  offset 253 index 4
	// GE  offset 264 index 0
	// IEA offset 272 index 0
}

func ExampleReader_lenient() {
	const input = "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240102*1230*^*00501*000000001*0*P*:~" +
		"GS*HC*SENDER*RECEIVER*20240102*1230*1*X*005010X222A1~" +
		"ST*837*0001*005010X222A1~" +
		"BHT*0019*00*REF1*20240102*1230*CH~" +
		"SE*9*0001~" + // wrong segment count
		"GE*1*1~" +
		"IEA*1*000000001~"

	r := x12.NewReader(strings.NewReader(input))
	r.Lenient = true
	r.OnWarning = func(e *x12.SyntaxError) { fmt.Println("warning:", e) }
	n := 0
	for {
		_, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	fmt.Println(n, "segments")
	// Output:
	// warning: x12: SE01 does not match the number of segments (counted 3) at offset 218, segment 3 SE, element 1, ISA13 000000001 GS06 1 ST02 0001 [IK5 4]
	// 7 segments
}
