package jetstreamsource

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fhirsync/fhirsync/source"
)

// DefaultBatchSize is the Options.BatchSize used when it is zero.
const DefaultBatchSize = 100

// minPrefetch is the fewest messages the Source asks the server for at a
// time, whatever Options.BatchSize: jetstream's Consume (nats.go v1.43)
// asks again once fewer than half its prefetch are outstanding, but skips
// that check while its previous pull request is still being sent; with a
// prefetch of 1 or 2 that can be every message, and under CPU load a
// skipped pull left the Source without messages until the missed heartbeat
// was noticed (2 × pullHeartbeat). Measured: stalls of over 2 s with a
// prefetch of 1 on a loaded machine, none with 2, 10 or 100.
const minPrefetch = 16

// pullExpiry is how long each pull request lasts; jetstream sends heartbeats
// every half of it and pulls again when two are missed, which bounds how
// long any lost pull request leaves the Source idle.
const pullExpiry = 10 * time.Second

// closeTimeout bounds how long Close waits for the pull subscription to
// drain (and for the messages pulled ahead to be nacked).
const closeTimeout = 5 * time.Second

// ErrUnsupportedConsumer is returned (wrapped, with the reason) by [New] for
// a consumer an at-least-once Source cannot read correctly: AckPolicy other
// than explicit, or not durable.
var ErrUnsupportedConsumer = errors.New("jetstreamsource: unsupported consumer")

// Options configures a [Source]. A nil *Options means defaults.
type Options struct {
	// BatchSize bounds the messages one Read returns, and (with a floor of
	// 16) the messages the Source asks the server for ahead of Read. Zero
	// means [DefaultBatchSize].
	BatchSize int
	// Linger is how long Read waits, after the first message, for more to
	// fill the batch. Zero means Read returns at once with the messages that
	// have arrived (at least one).
	Linger time.Duration
	// NakDelay asks the server to deliver a nacked message again only after
	// this delay (jetstream.Msg.NakWithDelay). Zero means at once; the
	// engine backs off before it gives up on a message anyway.
	NakDelay time.Duration
	// UnconfirmedAcks acknowledges with a fire-and-forget publish
	// (jetstream.Msg.Ack) instead of a confirmed acknowledgement
	// (jetstream.Msg.DoubleAck), which waits for the server. Faster; an
	// acknowledgement lost on the way causes a duplicate delivery after
	// AckWait, never a loss. See the package doc, # Delivery.
	UnconfirmedAcks bool
	// KeepAlive, when positive, is how often the Source tells the server
	// that each message it holds (pulled ahead and waiting for Read, or
	// returned by Read and not yet settled) is still being processed
	// (jetstream.Msg.InProgress), restarting its AckWait (messages still in
	// the nats.go subscription's buffer are not reached: see the package
	// doc, # Delivery). It must be below
	// the consumer's AckWait. Zero disables it: a message held longer than
	// AckWait is then delivered again meanwhile.
	KeepAlive time.Duration
	// PHIFreeSubject states that the subjects of the stream carry no PHI in
	// their tokens: the subject then goes into Message.Metadata["subject"].
	// By default subjects stay out of Metadata, which is logged; read them
	// with Message.As.
	PHIFreeSubject bool
	// PHIFreeHeaders names the headers the operator states are PHI-free
	// (say "Nats-Msg-Id"); the first value of each goes into
	// Message.Metadata["header:"+name] when present. No header goes into
	// Metadata by default.
	PHIFreeHeaders []string
}

// Source reads a JetStream pull consumer. Its methods are safe for
// concurrent use; acknowledgements may come from any goroutine.
type Source struct {
	opts     Options
	stream   string
	consumer string

	cc      jetstream.ConsumeContext
	ch      chan jetstream.Msg // pulled ahead, not yet returned by Read
	stopped <-chan struct{}    // closed when the pull subscription ends

	errMu   sync.Mutex
	lastErr error // last error jetstream reported while consuming
	fatal   error // the first one that stopped consuming

	leftMu   sync.Mutex
	left     []jetstream.Msg // arrived after Close began: nacked once the subscription is gone
	leftDone bool            // Close nacked left: nack at once from now on

	heldMu sync.Mutex
	held   map[jetstream.Msg]struct{} // pulled, not settled (with KeepAlive only)

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New returns a Source reading cons, a durable pull consumer with an
// explicit acknowledgement policy (see the package doc for why others are
// refused with [ErrUnsupportedConsumer]), and starts pulling messages. The
// consumer's configuration is taken from cons.CachedInfo: New makes no
// request of its own. The caller keeps the connection and closes it after
// [Source.Close].
func New(cons jetstream.Consumer, opts *Options) (*Source, error) {
	if cons == nil {
		return nil, errors.New("jetstreamsource: New needs a jetstream.Consumer")
	}
	var o Options
	if opts != nil {
		o = *opts
		o.PHIFreeHeaders = append([]string(nil), opts.PHIFreeHeaders...)
	}
	if o.BatchSize < 0 || o.Linger < 0 || o.NakDelay < 0 || o.KeepAlive < 0 {
		return nil, errors.New("jetstreamsource: negative BatchSize, Linger, NakDelay or KeepAlive")
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	info := cons.CachedInfo()
	if info == nil {
		return nil, errors.New("jetstreamsource: the consumer has no cached info (use one returned by jetstream's Consumer, CreateConsumer or CreateOrUpdateConsumer)")
	}
	if err := check(info, o); err != nil {
		return nil, err
	}
	s := &Source{
		opts:     o,
		stream:   info.Stream,
		consumer: info.Name,
		ch:       make(chan jetstream.Msg, o.BatchSize),
		done:     make(chan struct{}),
	}
	if o.KeepAlive > 0 {
		s.held = make(map[jetstream.Msg]struct{})
	}
	cc, err := cons.Consume(s.handle,
		jetstream.PullMaxMessages(max(o.BatchSize, minPrefetch)),
		jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(s.consumeErr),
	)
	if err != nil {
		return nil, fmt.Errorf("jetstreamsource: consume %s/%s: %w", s.stream, s.consumer, err)
	}
	s.cc = cc
	s.stopped = cc.Closed()
	if o.KeepAlive > 0 {
		s.wg.Add(1)
		go s.keepAlive()
	}
	return s, nil
}

// check refuses a consumer an at-least-once Source cannot read correctly.
func check(info *jetstream.ConsumerInfo, o Options) error {
	c := info.Config
	name := info.Stream + "/" + info.Name
	switch {
	case c.AckPolicy == jetstream.AckNonePolicy:
		return fmt.Errorf("%w: %s has AckPolicy none: the server forgets a message as soon as it is sent (at most once); use jetstream.AckExplicitPolicy", ErrUnsupportedConsumer, name)
	case c.AckPolicy == jetstream.AckAllPolicy:
		return fmt.Errorf("%w: %s has AckPolicy all: one ack would also acknowledge every earlier message, including those still being processed; use jetstream.AckExplicitPolicy", ErrUnsupportedConsumer, name)
	case c.AckPolicy != jetstream.AckExplicitPolicy:
		return fmt.Errorf("%w: %s has an unknown AckPolicy %d; use jetstream.AckExplicitPolicy", ErrUnsupportedConsumer, name, c.AckPolicy)
	case c.Durable == "":
		return fmt.Errorf("%w: %s is not durable: an ephemeral consumer is removed with its acknowledgements once idle, so a restart would not resume; set ConsumerConfig.Durable", ErrUnsupportedConsumer, name)
	case o.KeepAlive > 0 && c.AckWait > 0 && o.KeepAlive >= c.AckWait:
		return fmt.Errorf("jetstreamsource: Options.KeepAlive %v must be below the AckWait %v of %s", o.KeepAlive, c.AckWait, name)
	}
	return nil
}

// handle receives each message jetstream pulls, in order, and hands it to
// Read through s.ch; it blocks while s.ch is full (the server delivers
// nothing more than the pull requests ask for meanwhile). Once Close began,
// it keeps what still arrives for Close to nack.
func (s *Source) handle(jm jetstream.Msg) {
	// Kept alive from now on: a message waiting here while the engine is
	// not reading would otherwise be delivered again after AckWait.
	s.hold(jm)
	select {
	case <-s.done:
		s.leave(jm)
		return
	default:
	}
	select {
	case s.ch <- jm:
	case <-s.done:
		s.leave(jm)
	}
}

// hold tracks jm for Options.KeepAlive until it is settled.
func (s *Source) hold(jm jetstream.Msg) {
	if s.held != nil {
		s.heldMu.Lock()
		s.held[jm] = struct{}{}
		s.heldMu.Unlock()
	}
}

// release stops tracking jm for Options.KeepAlive.
func (s *Source) release(jm jetstream.Msg) {
	if s.held != nil {
		s.heldMu.Lock()
		delete(s.held, jm)
		s.heldMu.Unlock()
	}
}

// leave keeps a message that arrived after Close began, for Close to nack
// once the pull subscription is gone: a nak while it is still subscribed
// would have the server deliver the message straight back to it, and a
// delivery arriving after it unsubscribed waits for AckWait.
func (s *Source) leave(jm jetstream.Msg) {
	s.leftMu.Lock()
	if s.leftDone {
		s.leftMu.Unlock()
		s.release(jm)
		_ = jm.Nak()
		return
	}
	s.left = append(s.left, jm)
	s.leftMu.Unlock()
}

// consumeErr records what jetstream reports while consuming. Most of it is
// transient (a missed heartbeat, a leader change, a reconnect: jetstream
// pulls again). Some needs the operator: jetstream stops by itself when the
// consumer is deleted; a pull request the server refuses for good (a push
// consumer, a BatchSize above the consumer's MaxRequestBatch) stops it here,
// since pulling again would be refused again and Read would wait forever.
func (s *Source) consumeErr(cc jetstream.ConsumeContext, err error) {
	if s.closed() {
		return
	}
	stop := refused(err)
	s.errMu.Lock()
	s.lastErr = err
	if s.fatal == nil && (stop || errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrBadRequest)) {
		s.fatal = err
	}
	s.errMu.Unlock()
	if stop {
		cc.Stop()
	}
}

// refused reports whether err is the server's refusal of a pull request
// that would be refused again (its status descriptions are all there is).
func refused(err error) bool {
	text := strings.ToLower(err.Error())
	for _, r := range []string{"push based", "exceeded maxrequestbatch", "exceeded maxrequestexpires", "exceeded maxrequestmaxbytes"} {
		if strings.Contains(text, r) {
			return true
		}
	}
	return false
}

// stopErr is Read's error once the pull subscription ended without Close:
// the consumer was deleted, or the connection was closed.
func (s *Source) stopErr() error {
	s.errMu.Lock()
	err := s.fatal
	if err == nil {
		err = s.lastErr
	}
	s.errMu.Unlock()
	if err == nil {
		err = errors.New("subscription closed (connection closed?)")
	}
	// Permanent: this Source cannot pull again (fhirsync.Run stops at once).
	return source.Permanent(fmt.Errorf("jetstreamsource: consuming %s/%s stopped: %w", s.stream, s.consumer, err))
}

func (s *Source) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Read returns up to Options.BatchSize messages: it blocks until at least
// one has arrived, ctx is done (it then returns ctx's error), or the Source
// is closed ([source.ErrClosed]). It returns an error, and nothing more,
// once consuming stopped for good (the consumer was deleted, the connection
// closed).
func (s *Source) Read(ctx context.Context) ([]*source.Message, error) {
	if s.closed() {
		return nil, source.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var first jetstream.Msg
	select {
	case first = <-s.ch:
	default:
		select {
		case first = <-s.ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, source.ErrClosed
		case <-s.stopped:
			select {
			case first = <-s.ch: // buffered before it stopped
			default:
				if s.closed() { // Close stops it too
					return nil, source.ErrClosed
				}
				return nil, s.stopErr()
			}
		}
	}
	msgs := make([]*source.Message, 0, min(s.opts.BatchSize, 1+len(s.ch)))
	var firstErr error
	add := func(jm jetstream.Msg) {
		m, err := s.message(jm)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		msgs = append(msgs, m)
	}
	add(first)
	var linger <-chan time.Time
	if s.opts.Linger > 0 {
		t := time.NewTimer(s.opts.Linger)
		defer t.Stop()
		linger = t.C
	}
fill:
	for len(msgs) < s.opts.BatchSize {
		select {
		case jm := <-s.ch:
			add(jm)
			continue
		default:
		}
		if linger == nil {
			break
		}
		select {
		case jm := <-s.ch:
			add(jm)
		case <-linger:
			break fill
		case <-ctx.Done():
			break fill // return what was read: it is delivered
		case <-s.done:
			break fill
		}
	}
	if len(msgs) == 0 {
		return nil, firstErr
	}
	return msgs, nil
}

// message builds the Message of jm. A message without JetStream metadata
// (which a consumer never delivers) is nacked and reported.
func (s *Source) message(jm jetstream.Msg) (*source.Message, error) {
	meta, err := jm.Metadata()
	if err != nil {
		s.release(jm)
		_ = jm.Nak()
		return nil, fmt.Errorf("jetstreamsource: %s/%s delivered a message without JetStream metadata: %w", s.stream, s.consumer, err)
	}
	seq := strconv.FormatUint(meta.Sequence.Stream, 10)
	id := meta.Stream + "/" + meta.Consumer + "@" + seq
	md := make(map[string]string, 4+len(s.opts.PHIFreeHeaders))
	md["stream"] = meta.Stream
	md["consumer"] = meta.Consumer
	md["stream_seq"] = seq
	md["num_delivered"] = strconv.FormatUint(meta.NumDelivered, 10)
	if s.opts.PHIFreeSubject {
		md["subject"] = jm.Subject()
	}
	if len(s.opts.PHIFreeHeaders) > 0 {
		if h := jm.Headers(); h != nil {
			for _, name := range s.opts.PHIFreeHeaders {
				if v := h.Get(name); v != "" {
					md["header:"+name] = v
				}
			}
		}
	}
	ack := func(ctx context.Context, cause error) error {
		s.release(jm)
		var err error
		switch {
		case cause == nil && s.opts.UnconfirmedAcks:
			err = jm.Ack()
		case cause == nil:
			err = jm.DoubleAck(ctx)
		case s.opts.NakDelay > 0:
			err = jm.NakWithDelay(s.opts.NakDelay)
		default:
			err = jm.Nak()
		}
		if err != nil {
			what := "ack"
			if cause != nil {
				what = "nak"
			}
			return fmt.Errorf("jetstreamsource: %s %s: %w", what, id, err)
		}
		return nil
	}
	as := func(target any) bool {
		if t, ok := target.(*jetstream.Msg); ok {
			*t = jm
			return true
		}
		return false
	}
	return source.NewMessage(id, jm.Data(), md, ack, as), nil
}

// keepAlive tells the server every Options.KeepAlive that the messages held
// (pulled ahead, or read and not yet settled) are still in progress, until
// Close.
func (s *Source) keepAlive() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.KeepAlive)
	defer t.Stop()
	var batch []jetstream.Msg
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		batch = batch[:0]
		s.heldMu.Lock()
		for jm := range s.held {
			batch = append(batch, jm)
		}
		s.heldMu.Unlock()
		for _, jm := range batch {
			_ = jm.InProgress() // a failure means the connection is down; AckWait then decides
		}
	}
}

// Close stops pulling: it drains the pull subscription, nacking every
// message pulled ahead and not returned by Read (so it is delivered again
// at once), and stops Options.KeepAlive. Messages Read returned stay as they
// are: settle them, before or after Close, or the server delivers them again
// after AckWait. Close is idempotent and always returns nil; Read after Close
// returns [source.ErrClosed]. It does not close the caller's connection.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.cc.Drain() // handle keeps what the drain still delivers
		t := time.NewTimer(closeTimeout)
		select {
		case <-s.stopped:
		case <-t.C:
		}
		t.Stop()
		// Nak in stream order: the buffered ones came first.
	drain:
		for {
			select {
			case jm := <-s.ch:
				_ = jm.Nak()
			default:
				break drain
			}
		}
		s.leftMu.Lock()
		left := s.left
		s.left, s.leftDone = nil, true
		s.leftMu.Unlock()
		for _, jm := range left {
			_ = jm.Nak()
		}
		s.wg.Wait()
		if s.held != nil {
			s.heldMu.Lock()
			clear(s.held) // no more keep-alives: settle them or AckWait decides
			s.heldMu.Unlock()
		}
	})
	return nil
}
