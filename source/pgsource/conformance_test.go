package pgsource_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/sourcetest"
)

// harness publishes each batch of payloads as one transaction of inserts,
// so the suite's out-of-order acks fall inside a transaction.
type harness struct{ f *fixture }

func (h *harness) Publish(ctx context.Context, t *testing.T, payloads []string) {
	t.Helper()
	tx, err := h.f.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, p := range payloads {
		if _, err := tx.Exec(ctx, "INSERT INTO "+h.f.table+" (payload) VALUES ($1)", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) Open(ctx context.Context, t *testing.T) source.Source {
	t.Helper()
	return h.f.open(ctx, nil)
}

func (h *harness) Payload(t *testing.T, m *source.Message) string {
	t.Helper()
	var ev struct {
		After struct {
			Payload string `json:"payload"`
		} `json:"after"`
	}
	if err := json.Unmarshal(m.Body, &ev); err != nil {
		t.Fatalf("message %s: body is not a change event: %v", m.ID, err)
	}
	return ev.After.Payload
}

func TestConformance(t *testing.T) {
	requirePG(t)
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		return &harness{f: newFixture(t, "id bigserial PRIMARY KEY, payload text NOT NULL", true)}
	}, sourcetest.Features{Ordered: true, NackRedelivers: true})
}
