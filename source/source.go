// Package source defines where records come from: the [Source] interface and
// the [Message] it yields, with the acknowledgement that settles it.
//
// # Delivery
//
// A Message is settled exactly once: [Message.Ack] after every resource
// derived from it is durably written (or after it was recorded on the
// dead-letter path), [Message.Nack] when it should be delivered again later.
// Settling twice returns [ErrSettled]. Sources that checkpoint (Kafka
// offsets, Postgres LSNs) commit only the highest contiguous acknowledged
// position, so a message acked out of order never lets an earlier unacked one
// be skipped; an unacked message is redelivered after a restart.
//
// # PHI
//
// Body may hold PHI. ID and Metadata must not: they appear in logs, metric
// labels and dead-letter records. Message implements [slog.LogValuer] and
// logs only its ID and Metadata.
//
// # Bodies
//
// A message's body is in memory (Body) or streamed: a source of records too
// large to hold (filesource with Options.Stream) makes its messages with
// [NewStreamMessage], and [Message.Open] reads the body from the source when
// a converter reads it, so that a file of any size costs no memory. Code
// that reads bodies should use Open (streaming) or ReadBody (whole) rather
// than Body, to accept both.
//
// # As
//
// A driver exposes its native message (a *kgo.Record, a pglogrepl message)
// through [Message.As], in the style of Go CDK.
package source

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
)

// ErrSettled is returned when a message is acked or nacked a second time.
var ErrSettled = errors.New("source: message already settled")

// ErrClosed is returned (possibly wrapped) by Read after Close.
var ErrClosed = errors.New("source: closed")

// ErrPermanent is matched (errors.Is) by a Read error that no retry can fix
// (a dropped replication slot, refused credentials, a deleted consumer):
// fhirsync.Run then stops at once instead of retrying Read. Mark such an
// error with Permanent.
var ErrPermanent = errors.New("source: permanent failure")

// Permanent returns err marked as permanent: it has err's text, unwraps to
// err, and matches ErrPermanent. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() error        { return e.err }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// AckFunc settles a message: a nil err acknowledges it, a non-nil err asks
// for redelivery (the error says why, without PHI).
type AckFunc func(ctx context.Context, err error) error

// Message is one record from a source.
type Message struct {
	// ID identifies the message within its source, PHI-free (for example
	// "orders-3@1042" or a file name and byte offset).
	ID string
	// Body is the record's bytes: an X12 business unit, a JSON change event.
	// It may hold PHI. It is nil for a streamed message (see
	// NewStreamMessage): read every message through Open or ReadBody to
	// accept both kinds.
	Body []byte
	// Metadata holds PHI-free attributes (topic, partition, file, LSN,
	// source version for the stale-update guard).
	Metadata map[string]string

	ack     AckFunc
	as      func(any) bool
	open    func() (io.ReadCloser, error)
	err     error
	mu      sync.Mutex
	settled bool
}

// NewMessage returns a message whose settlement calls ack (which may be nil
// for a source that needs no acknowledgement) and whose As calls as (which
// may be nil).
func NewMessage(id string, body []byte, metadata map[string]string, ack AckFunc, as func(any) bool) *Message {
	return &Message{ID: id, Body: body, Metadata: metadata, ack: ack, as: as}
}

// NewFailedMessage returns a message standing for a record the source could
// not read (a file it could not open, a record larger than its limit): it has
// no Body, and Err returns err, which must be PHI-free. fhirsync.Run records
// such a message on its dead-letter path without converting it, then acks it,
// as it does for any permanent failure; nacking it asks the source to try the
// record again.
func NewFailedMessage(id string, metadata map[string]string, err error, ack AckFunc, as func(any) bool) *Message {
	return &Message{ID: id, Metadata: metadata, ack: ack, as: as, err: err}
}

// NewStreamMessage returns a message whose body is not held in memory, for
// records too large to hold (a file of any size): Body is nil, and each call
// of Open calls open for a new reader of the whole body. open may be called
// by several goroutines at once (a converter, and a Rejecter keeping a copy
// of the body). open's errors, and the reader's, must be PHI-free; a reader
// whose record changed since the message was made should fail rather than
// hand out bytes of another version (a streaming converter writes records
// as it reads them).
func NewStreamMessage(id string, open func() (io.ReadCloser, error), metadata map[string]string, ack AckFunc, as func(any) bool) *Message {
	return &Message{ID: id, Metadata: metadata, ack: ack, as: as, open: open}
}

// Streamed reports whether the message's body is read through Open only
// (Body is nil): see NewStreamMessage.
func (m *Message) Streamed() bool { return m.open != nil }

// Open returns a reader of the message's body from its start: Body's bytes,
// or a new reader of a streamed body. The caller closes it. For a failed
// message (see NewFailedMessage), Open returns Err.
func (m *Message) Open() (io.ReadCloser, error) {
	switch {
	case m.err != nil:
		return nil, m.err
	case m.open != nil:
		return m.open()
	}
	return io.NopCloser(bytes.NewReader(m.Body)), nil
}

// ReadBody returns the whole body: Body itself, or a streamed body read into
// memory. Converters that need the whole record at once use it; those that
// can stream use Open.
func (m *Message) ReadBody() ([]byte, error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.open == nil {
		return m.Body, nil
	}
	rc, err := m.open()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Err returns why the source could not read the message's record (see
// NewFailedMessage), nil for a message with a Body.
func (m *Message) Err() error { return m.err }

// Ack acknowledges the message: it was processed and need not be delivered
// again.
func (m *Message) Ack(ctx context.Context) error { return m.settle(ctx, nil) }

// Nack asks for the message to be delivered again; cause says why and must be
// non-nil and PHI-free.
func (m *Message) Nack(ctx context.Context, cause error) error {
	if cause == nil {
		cause = errors.New("source: nacked")
	}
	return m.settle(ctx, cause)
}

func (m *Message) settle(ctx context.Context, err error) error {
	m.mu.Lock()
	if m.settled {
		m.mu.Unlock()
		return ErrSettled
	}
	m.settled = true
	m.mu.Unlock()
	if m.ack == nil {
		return nil
	}
	return m.ack(ctx, err)
}

// As exposes the driver's native message: it sets *target and returns true
// when target is a pointer to a type the driver offers.
func (m *Message) As(target any) bool {
	if m.as == nil {
		return false
	}
	return m.as(target)
}

// LogValue implements slog.LogValuer: the ID and Metadata only, never Body.
func (m *Message) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("id", m.ID)}
	if len(m.Metadata) > 0 {
		md := make([]any, 0, len(m.Metadata))
		for k, v := range m.Metadata {
			md = append(md, slog.String(k, v))
		}
		attrs = append(attrs, slog.Group("metadata", md...))
	}
	return slog.GroupValue(attrs...)
}

// Source yields messages. Read blocks until at least one message is
// available, ctx is done, or the source is exhausted; a finite source returns
// io.EOF when every message has been read. Close releases the source; it does
// not settle unsettled messages (they are redelivered by sources that can).
type Source interface {
	Read(ctx context.Context) ([]*Message, error)
	Close() error
}
