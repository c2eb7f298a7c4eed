package filesource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fhirsync/fhirsync/source/filesource"
)

// A batch run over a directory of X12 files: each file is one message, acked
// files are recorded in the checkpoint, and a second run finds nothing left.
func Example() {
	dir, _ := os.MkdirTemp("", "inbound")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "2024-06-01.837p.x12"), []byte("ISA*00*...~"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "2024-06-02.837p.x12"), []byte("ISA*00*...~"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not X12"), 0o644)

	run := func() {
		src, err := filesource.Open(dir, &filesource.Options{Pattern: "*.x12"})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer src.Close()
		ctx := context.Background()
		for {
			ms, err := src.Read(ctx)
			if errors.Is(err, io.EOF) {
				fmt.Println("done")
				return
			}
			if err != nil {
				fmt.Println(err)
				return
			}
			for _, m := range ms {
				if err := filesource.ReadError(m); err != nil {
					fmt.Println("dead-letter:", err) // record it durably, then ack
				}
				fmt.Println(m.Metadata["path"], m.Metadata["size"], "bytes")
				_ = m.Ack(ctx)
			}
		}
	}
	run()
	run()
	// Output:
	// 2024-06-01.837p.x12 11 bytes
	// 2024-06-02.837p.x12 11 bytes
	// done
	// done
}
