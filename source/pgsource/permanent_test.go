package pgsource_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/pgsource"
)

// TestStreamErrorPermanent: fhirsync.Run stops at once on every
// StreamError (errors.Is source.ErrPermanent): the Source returns it from
// every Read, whether the cause is permanent or reconnecting was given up
// or disabled, so retrying Read cannot help. The cause stays reachable.
func TestStreamErrorPermanent(t *testing.T) {
	for _, e := range []*pgsource.StreamError{
		{Slot: "s", Permanent: true, Err: pgsource.ErrNoSlot},
		{Slot: "s", Attempts: 3, Err: errors.New("connection refused")},
		{Slot: "s", Err: errors.New("connection reset")},
	} {
		var err error = e
		assert.ErrorIs(t, err, source.ErrPermanent, err.Error())
		assert.ErrorIs(t, err, e.Err)
		assert.NotErrorIs(t, err, source.ErrClosed)
	}
}

// TestStreamErrorStopsRun: a Source that stopped streaming for good returns
// the same *StreamError from every Read, whatever its cause: retrying Read
// cannot help, so it matches source.ErrPermanent, and fhirsync.Run stops at
// once instead of retrying a dead Source MaxReadAttempts times.
func TestStreamErrorStopsRun(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY", true)
	src := f.open(ctx, &pgsource.Options{MaxReconnects: -1})
	f.waitWalsender(ctx, "streamed", func(p int) bool { return p != 0 })
	f.terminateWalsender(ctx)
	_, err := src.Read(ctx)
	var se *pgsource.StreamError
	if !errors.As(err, &se) || se.Permanent {
		t.Fatalf("Read = %v, want a transient *StreamError", err)
	}
	if !errors.Is(err, source.ErrPermanent) {
		t.Errorf("errors.Is(%v, source.ErrPermanent) = false: Run would retry a Source that can never read again", err)
	}
}
