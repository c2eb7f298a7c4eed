package source_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync/source"
)

func TestSettleOnce(t *testing.T) {
	var got []error
	m := source.NewMessage("f.x12@0", []byte("ZZCANARYZZ"), nil, func(_ context.Context, err error) error {
		got = append(got, err)
		return nil
	}, nil)
	require.NoError(t, m.Ack(context.Background()))
	assert.ErrorIs(t, m.Ack(context.Background()), source.ErrSettled)
	assert.ErrorIs(t, m.Nack(context.Background(), errors.New("x")), source.ErrSettled)
	assert.Equal(t, []error{nil}, got)

	cause := errors.New("sink unavailable")
	m2 := source.NewMessage("f.x12@1", nil, nil, func(_ context.Context, err error) error {
		got = append(got, err)
		return nil
	}, nil)
	require.NoError(t, m2.Nack(context.Background(), cause))
	assert.Equal(t, cause, got[1])
}

func TestAs(t *testing.T) {
	type native struct{ offset int }
	n := &native{offset: 7}
	m := source.NewMessage("id", nil, nil, nil, func(target any) bool {
		p, ok := target.(**native)
		if ok {
			*p = n
		}
		return ok
	})
	var got *native
	require.True(t, m.As(&got))
	assert.Equal(t, 7, got.offset)
	var s string
	assert.False(t, m.As(&s))
	assert.False(t, source.NewMessage("id", nil, nil, nil, nil).As(&got))
}

func TestLogValueIsPHIFree(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	m := source.NewMessage("claims.x12@120", []byte("NM1*IL*1*ZZCANARYZZ~"), map[string]string{"file": "claims.x12"}, nil, nil)
	log.Info("read", "msg", m)
	assert.Contains(t, buf.String(), "claims.x12@120")
	assert.False(t, strings.Contains(buf.String(), "ZZCANARYZZ"))
}

func TestFailedMessage(t *testing.T) {
	cause := errors.New("file unreadable: permission denied")
	var got error = errors.New("unset")
	m := source.NewFailedMessage("in/a.x12@1-2", map[string]string{"path": "in/a.x12"}, cause, func(_ context.Context, err error) error {
		got = err
		return nil
	}, nil)
	assert.Nil(t, m.Body)
	assert.Equal(t, cause, m.Err())
	require.NoError(t, m.Ack(context.Background()))
	assert.NoError(t, got)
	assert.NoError(t, source.NewMessage("id", []byte("x"), nil, nil, nil).Err())
}

func TestPermanent(t *testing.T) {
	assert.NoError(t, source.Permanent(nil))
	cause := errors.New("replication slot dropped")
	err := source.Permanent(cause)
	assert.Equal(t, cause.Error(), err.Error())
	assert.ErrorIs(t, err, source.ErrPermanent)
	assert.ErrorIs(t, err, cause)
	assert.NotErrorIs(t, cause, source.ErrPermanent)
}

func TestStreamMessage(t *testing.T) {
	opens := 0
	m := source.NewStreamMessage("big.x12@1", func() (io.ReadCloser, error) {
		opens++
		return io.NopCloser(strings.NewReader("ISA*ZZCANARYZZ~")), nil
	}, nil, nil, nil)
	assert.True(t, m.Streamed())
	assert.Nil(t, m.Body)
	for range 2 {
		rc, err := m.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		assert.Equal(t, "ISA*ZZCANARYZZ~", string(b))
	}
	b, err := m.ReadBody()
	require.NoError(t, err)
	assert.Equal(t, "ISA*ZZCANARYZZ~", string(b))
	assert.Equal(t, 3, opens)

	fail := errors.New("open big.x12: file changed")
	m = source.NewStreamMessage("big.x12@1", func() (io.ReadCloser, error) { return nil, fail }, nil, nil, nil)
	_, err = m.ReadBody()
	assert.ErrorIs(t, err, fail)

	inMem := source.NewMessage("id", []byte("body"), nil, nil, nil)
	assert.False(t, inMem.Streamed())
	rc, err := inMem.Open()
	require.NoError(t, err)
	b, _ = io.ReadAll(rc)
	assert.Equal(t, "body", string(b))

	failed := source.NewFailedMessage("id", nil, fail, nil, nil)
	_, err = failed.Open()
	assert.ErrorIs(t, err, fail)
	_, err = failed.ReadBody()
	assert.ErrorIs(t, err, fail)
}
