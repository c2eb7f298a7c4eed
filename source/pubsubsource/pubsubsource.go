// Package pubsubsource reads messages from a Go CDK subscription
// ([gocloud.dev/pubsub.Subscription]): RabbitMQ, NATS, AWS SQS, GCP Pub/Sub,
// Azure Service Bus or in-memory, whichever driver the caller opened it with.
//
// [New] takes the caller's *pubsub.Subscription. Each [Source.Read] returns up
// to [Options.BatchSize] messages: it blocks for the first, then waits at most
// [Options.Linger] for more.
//
// # Delivery
//
// What a Source guarantees is what the driver guarantees. With an
// at-least-once driver (RabbitMQ, SQS, GCP Pub/Sub, Azure Service Bus,
// mempubsub) a message is delivered until it is acked:
//
//   - [source.Message.Ack] calls [pubsub.Message.Ack]. Go CDK sends acks in
//     the background in batches, so Ack returns once the ack is queued; an ack
//     that never reaches the broker means a redelivery, never a loss, and a
//     persistent ack failure is returned by a later Read.
//   - [source.Message.Nack] calls [pubsub.Message.Nack] when the driver
//     supports it ([pubsub.Message.Nackable]): the broker redelivers the
//     message (RabbitMQ requeues it at once; SQS and GCP Pub/Sub set its
//     visibility or ack deadline to zero, or with their NackLazy option wait
//     for it to pass; Azure Service Bus abandons it). When the driver cannot
//     nack (natspubsub, kafkapubsub, azuresb in ReceiveAndDelete mode) the
//     Source keeps the nacked message and returns it again
//     from the next Read, with the same ID; it is acked through the driver
//     when it is finally acked. Nothing is dropped while the Source is open.
//     A message nacked this way and not yet read again when the Source closes
//     is left unacked: an at-least-once driver redelivers it after its ack
//     deadline or a restart.
//   - A message never settled is redelivered by the broker after its ack
//     deadline (SQS visibility timeout, GCP/Azure ack deadline) or, for
//     RabbitMQ, when the AMQP channel that received it closes.
//
// Go CDK's natspubsub (v0.44) speaks core NATS only, not JetStream: it is
// at-most-once (as is azuresb in ReceiveAndDelete mode). Acks are no-ops there and a message read by a Source that is
// closed (or a process that stops) before the message is acked is lost; a
// nack is kept and redelivered by the same open Source as described above, but
// no restart brings anything back. Use an at-least-once broker for data that
// must not be lost.
//
// The order of first deliveries is the driver's (RabbitMQ and NATS deliver a
// queue or subject in publish order to a single consumer); redeliveries come
// out of order.
//
// # Ownership
//
// By default the caller owns the subscription: Close stops the Source but
// leaves the subscription open, so the caller can read it with another Source
// and must call [pubsub.Subscription.Shutdown] itself. With
// [Options.ShutdownOnClose], Close shuts the subscription down (flushing the
// acks queued before Close, bounded by [Options.ShutdownTimeout]); a settle
// after that returns an error wrapping [source.ErrClosed] and the message is
// redelivered by the broker.
//
// Go CDK's rabbitpubsub (v0.47) does not close its AMQP channel on Shutdown:
// deliveries it received and nobody acked go back to the queue only when the
// *amqp.Connection is closed. Close the connection after Close (and open a new
// one for the next subscription) when unacked messages must be redelivered
// without restarting the process.
//
// # PHI
//
// Go CDK metadata is set by the sender and may hold anything, so by default
// [source.Message.Metadata] is empty; [Options.MetadataKeys] lists the keys
// the operator declares PHI-free, and only those are copied.
//
// [source.Message.ID] is [Options.Name], "#", a random tag drawn by [New]
// and a counter of the messages this Source has received, for example
// "claims#5f0c2a9e.42": unique across Sources and restarts, so two messages
// never share an ID in logs or dead-letter records. A redelivery by the broker
// gets a new ID; a nack the Source keeps itself (see Delivery) keeps its ID. The driver's [pubsub.Message.LoggableID] is
// meant for logging but not always PHI-free: SQS and GCP Pub/Sub use
// broker-assigned ids, natspubsub and mempubsub a counter, but RabbitMQ uses
// the AMQP message-id or correlation-id and Azure Service Bus the MessageID,
// which publishers set and may fill with a business key. Set
// [Options.UseLoggableID] to use the LoggableID instead when the operator knows
// it is PHI-free. Errors never quote a message body or metadata.
//
// # As
//
// [source.Message.As] exposes the *pubsub.Message (target **pubsub.Message)
// and, through [pubsub.Message.As], the driver's native message: amqp.Delivery
// for rabbitpubsub (target *amqp.Delivery), *nats.Msg for natspubsub (target
// **nats.Msg), the SQS, GCP and Azure types their packages document. Settle
// through the source.Message only: acking the *pubsub.Message directly
// bypasses the Source's bookkeeping and a second settle makes Go CDK panic.
package pubsubsource

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/pubsub"

	"github.com/fhirsync/fhirsync/source"
)

// Defaults for [Options].
const (
	DefaultBatchSize       = 100
	DefaultLinger          = 10 * time.Millisecond
	DefaultShutdownTimeout = 30 * time.Second
	DefaultName            = "pubsub"
)

// Options configure a [Source]. The zero value (or nil) means the defaults.
type Options struct {
	// BatchSize is the most messages one Read returns (DefaultBatchSize when
	// 0; 1 turns lingering off).
	BatchSize int
	// Linger is how long Read waits, after receiving its first message, for
	// more to fill the batch (DefaultLinger when 0). Messages Go CDK has
	// already fetched are returned without waiting.
	Linger time.Duration
	// Name prefixes message IDs ("Name#tag.n"); it must be PHI-free, for
	// example the subscription's name (DefaultName when empty).
	Name string
	// UseLoggableID makes the driver's pubsub.Message.LoggableID the
	// message ID instead of Name#tag.n. Set it only when the operator knows the
	// LoggableID is PHI-free (see the package doc).
	UseLoggableID bool
	// MetadataKeys lists the Go CDK metadata keys the operator declares
	// PHI-free; only these are copied into Message.Metadata. Empty means no
	// metadata.
	MetadataKeys []string
	// ShutdownOnClose makes the Source own the subscription: Close calls
	// Subscription.Shutdown. By default the caller keeps ownership.
	ShutdownOnClose bool
	// ShutdownTimeout bounds the Shutdown that Close makes when
	// ShutdownOnClose is set (DefaultShutdownTimeout when 0).
	ShutdownTimeout time.Duration
}

// Source reads a Go CDK subscription. It implements [source.Source]; Read,
// Close and the settling of its messages are safe for concurrent use.
type Source struct {
	sub       *pubsub.Subscription
	batchSize int
	linger    time.Duration
	prefix    string // Name#tag.
	loggable  bool
	mdKeys    []string
	owned     bool
	shutdownT time.Duration

	n atomic.Uint64 // messages received, for IDs

	mu        sync.Mutex
	closed    bool
	redeliver []*source.Message                  // nacked messages the driver cannot nack, in nack order
	wakers    map[uint64]context.CancelCauseFunc // Reads waiting in Receive
	nextWaker uint64

	closeOnce sync.Once
	closeErr  error
}

var _ source.Source = (*Source)(nil)

// errWake cancels a waiting Receive when a nacked message is ready again.
var errWake = errors.New("pubsubsource: redelivery ready")

// New returns a Source reading sub. opts may be nil.
func New(sub *pubsub.Subscription, opts *Options) (*Source, error) {
	if sub == nil {
		return nil, errors.New("pubsubsource: nil subscription")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.BatchSize < 0 || o.Linger < 0 || o.ShutdownTimeout < 0 {
		return nil, errors.New("pubsubsource: negative BatchSize, Linger or ShutdownTimeout")
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	return &Source{
		sub:       sub,
		batchSize: o.BatchSize,
		linger:    o.Linger,
		prefix:    o.Name + "#" + tag() + ".",
		loggable:  o.UseLoggableID,
		mdKeys:    append([]string(nil), o.MetadataKeys...),
		owned:     o.ShutdownOnClose,
		shutdownT: o.ShutdownTimeout,
		wakers:    map[uint64]context.CancelCauseFunc{},
	}, nil
}

// tag returns 8 random hex digits that tell one Source's counter IDs from
// another's.
func tag() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Read returns the next messages: at least one and at most BatchSize. It
// blocks until a message arrives or ctx is done (it then returns ctx's error).
// Messages nacked on a driver that cannot nack come first. After Close it
// returns [source.ErrClosed]. A permanent subscription error (a failed ack
// send, a deleted queue) is returned wrapped; Go CDK returns it from then on.
func (s *Source) Read(ctx context.Context) ([]*source.Message, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, source.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			s.mu.Unlock()
			return nil, err
		}
		if len(s.redeliver) > 0 {
			n := min(len(s.redeliver), s.batchSize)
			batch := append([]*source.Message(nil), s.redeliver[:n]...)
			s.redeliver = append(s.redeliver[:0], s.redeliver[n:]...)
			s.mu.Unlock()
			return batch, nil
		}
		rctx, cancel := context.WithCancelCause(ctx)
		key := s.nextWaker
		s.nextWaker++
		s.wakers[key] = cancel
		s.mu.Unlock()

		batch, err := s.receive(rctx)

		s.mu.Lock()
		delete(s.wakers, key)
		s.mu.Unlock()
		cause := context.Cause(rctx)
		cancel(nil)
		if len(batch) > 0 {
			return batch, nil
		}
		switch {
		case errors.Is(cause, errWake):
			continue
		case errors.Is(cause, source.ErrClosed):
			return nil, source.ErrClosed
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("pubsubsource: receive: %w", err)
	}
}

// receive blocks on rctx for one message, then gathers more for up to linger.
// A message received is never dropped: once it has one, receive returns what
// it has whatever happens next.
func (s *Source) receive(rctx context.Context) ([]*source.Message, error) {
	pm, err := s.sub.Receive(rctx)
	if err != nil {
		return nil, err
	}
	batch := make([]*source.Message, 1, min(s.batchSize, 64))
	batch[0] = s.wrap(pm)
	if s.batchSize == 1 {
		return batch, nil
	}
	lctx, cancel := context.WithTimeout(rctx, s.linger)
	defer cancel()
	for len(batch) < s.batchSize {
		pm, err := s.sub.Receive(lctx)
		if err != nil {
			// The linger ran out, ctx is done, the Source closed or the
			// subscription failed: the next Read reports the last two.
			break
		}
		batch = append(batch, s.wrap(pm))
	}
	return batch, nil
}

// wrap turns a received *pubsub.Message into a source.Message.
func (s *Source) wrap(pm *pubsub.Message) *source.Message {
	n := s.n.Add(1)
	id := pm.LoggableID
	if !s.loggable || id == "" {
		id = s.prefix + strconv.FormatUint(n, 10)
	}
	return s.message(id, s.metadata(pm.Metadata), pm)
}

func (s *Source) message(id string, md map[string]string, pm *pubsub.Message) *source.Message {
	var m *source.Message
	ack := func(_ context.Context, err error) error { return s.settle(m, pm, err) }
	as := func(target any) (ok bool) {
		if p, isMsg := target.(**pubsub.Message); isMsg {
			*p = pm
			return true
		}
		// pubsub.Message.As panics when the driver set no AsFunc: then
		// the driver offers nothing.
		defer func() {
			if recover() != nil {
				ok = false
			}
		}()
		return pm.As(target)
	}
	m = source.NewMessage(id, pm.Body, md, ack, as)
	return m
}

// metadata copies the declared PHI-free keys.
func (s *Source) metadata(in map[string]string) map[string]string {
	var md map[string]string
	for _, k := range s.mdKeys {
		v, ok := in[k]
		if !ok {
			continue
		}
		if md == nil {
			md = make(map[string]string, len(s.mdKeys))
		}
		md[k] = v
	}
	return md
}

// settle acks (err nil) or nacks m, whose pubsub message is pm.
func (s *Source) settle(m *source.Message, pm *pubsub.Message, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.owned {
		return fmt.Errorf("pubsubsource: settle after Close shut the subscription down (the broker redelivers the message): %w", source.ErrClosed)
	}
	switch {
	case err == nil:
		pm.Ack()
	case pm.Nackable():
		pm.Nack()
	case s.closed:
		return fmt.Errorf("pubsubsource: nack after Close on a driver that cannot nack (the message is left unacked): %w", source.ErrClosed)
	default:
		// The driver cannot nack: keep the message for the next Read, as a
		// fresh, unsettled source.Message around the same pubsub.Message.
		s.redeliver = append(s.redeliver, s.message(m.ID, m.Metadata, pm))
		for _, wake := range s.wakers {
			wake(errWake)
		}
	}
	return nil
}

// Close stops the Source: a blocked Read returns [source.ErrClosed], as does
// every later Read. With [Options.ShutdownOnClose] it shuts the subscription
// down and returns Shutdown's error, if any. Close is idempotent: later calls
// return the first call's result. It settles nothing; see the package doc for
// what happens to unsettled messages.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.redeliver = nil
		for _, wake := range s.wakers {
			wake(source.ErrClosed)
		}
		s.mu.Unlock()
		if !s.owned {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.shutdownT)
		defer cancel()
		if err := s.sub.Shutdown(ctx); err != nil {
			s.closeErr = fmt.Errorf("pubsubsource: shutdown: %w", err)
		}
	})
	return s.closeErr
}
