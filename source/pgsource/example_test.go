package pgsource_test

import (
	"context"
	"encoding/json"
	"errors"
	"log"

	"github.com/fhirsync/fhirsync/source/pgsource"
)

// Open a permanent slot on the provider table, creating the slot and the
// publication on first start, and process each change event: ack after it is
// durably handled, so the slot confirms it.
func ExampleOpen() {
	ctx := context.Background()
	src, err := pgsource.Open(ctx, "postgres://sync@db.example:5432/directory", "fhirsync_providers", "fhirsync_providers",
		&pgsource.Options{
			CreateSlot:        true,
			CreatePublication: true,
			PublicationTables: []string{"public.provider"},
		})
	if err != nil {
		log.Fatal(err) // errors.Is(err, pgsource.ErrNotLogical): set wal_level = logical
	}
	defer src.Close()
	for {
		ms, err := src.Read(ctx)
		if errors.Is(err, context.Canceled) {
			return
		}
		if err != nil {
			log.Fatal(err) // a *pgsource.StreamError: the Source stopped for good (lost connections are re-established by themselves)
		}
		for _, m := range ms {
			var ev struct {
				Op     string         `json:"op"`
				Before map[string]any `json:"before"`
				After  map[string]any `json:"after"`
			}
			if err := json.Unmarshal(m.Body, &ev); err != nil {
				log.Fatal(err)
			}
			log.Println("change", m) // logs ID and Metadata only
			if err := m.Ack(ctx); err != nil {
				log.Fatal(err)
			}
		}
	}
}
