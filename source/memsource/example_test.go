package memsource_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/fhirsync/fhirsync/source/memsource"
)

// A finite Source reads what was published and returns io.EOF once every
// message was acked; a nacked one is delivered again first.
func Example() {
	ctx := context.Background()
	b := memsource.NewBroker()
	b.Publish([]byte("ISA*first~"), []byte("ISA*second~"))

	src := b.Open("claims", &memsource.Options{Finite: true})
	defer src.Close()
	nacked := false
	for {
		ms, err := src.Read(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, m := range ms {
			if m.ID == "claims@1" && !nacked {
				nacked = true
				fmt.Println("nack", m.ID)
				_ = m.Nack(ctx, errors.New("sink unavailable"))
				continue
			}
			fmt.Println("ack", m.ID, "attempt", m.Metadata["attempt"])
			_ = m.Ack(ctx)
		}
	}
	fmt.Println("committed", b.Committed("claims"))
	// Output:
	// ack claims@0 attempt 1
	// nack claims@1
	// ack claims@1 attempt 2
	// committed 2
}
