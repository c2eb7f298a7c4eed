package source_test

import (
	"context"
	"fmt"

	"github.com/fhirsync/fhirsync/source"
)

// A driver builds each Message with the function that settles it; the engine
// acks it once every resource derived from it is durably written.
func ExampleNewMessage() {
	ack := func(_ context.Context, err error) error {
		if err != nil {
			fmt.Println("redeliver later:", err)
			return nil
		}
		fmt.Println("committed")
		return nil
	}
	m := source.NewMessage("claims-0@42", []byte("ISA*00*..."), map[string]string{"partition": "0"}, ack, nil)
	_ = m.Ack(context.Background())
	fmt.Println(m.Ack(context.Background()))
	// Output:
	// committed
	// source: message already settled
}
