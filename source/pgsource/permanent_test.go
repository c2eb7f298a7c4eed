package pgsource_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/pgsource"
)

// TestStreamErrorPermanent: fhirsync.Run stops at once on a permanent
// StreamError (errors.Is source.ErrPermanent), and keeps retrying Read on
// one that gave up after MaxReconnects on a transient cause.
func TestStreamErrorPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  *pgsource.StreamError
		want bool
	}{
		{&pgsource.StreamError{Slot: "s", Permanent: true, Err: pgsource.ErrNoSlot}, true},
		{&pgsource.StreamError{Slot: "s", Attempts: 3, Err: errors.New("connection refused")}, false},
	} {
		var err error = tc.err
		assert.Equal(t, tc.want, errors.Is(err, source.ErrPermanent), err.Error())
		assert.ErrorIs(t, err, tc.err.Err)
	}
}
