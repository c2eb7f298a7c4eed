package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fhirsync/fhirsync/source"
)

// Defaults of [Options].
const (
	DefaultCommitInterval = 5 * time.Second
	DefaultCommitTimeout  = 10 * time.Second
	DefaultMaxPollRecords = 1000
	DefaultRevokeTimeout  = 10 * time.Second
)

// Options configures a [Source]. A nil *Options means defaults.
type Options struct {
	// CommitInterval is how often the acknowledged positions are committed.
	// Zero means [DefaultCommitInterval]; a negative value disables periodic
	// commits (positions are then committed on [Source.Commit], on revoke
	// and on Close only).
	CommitInterval time.Duration
	// CommitTimeout bounds the commits made on revoke and Close, and the
	// periodic ones. Zero means [DefaultCommitTimeout].
	CommitTimeout time.Duration
	// RevokeTimeout bounds how long a revoke waits for the delivered
	// records of the revoked partitions that are neither acknowledged nor
	// nacked, before it commits and gives the partitions up (see the
	// package documentation). Zero means [DefaultRevokeTimeout]; a negative
	// value means no wait. Read blocks meanwhile (franz-go holds polls
	// during a rebalance), so a consumer that stops (its Run cancelled)
	// while a revoke waits on it may take this long to return. With an
	// eager balancer, which halts the whole group while members revoke,
	// keep it well below kgo.RebalanceTimeout (60 s by default).
	RevokeTimeout time.Duration
	// MaxPollRecords bounds the messages one Read returns. Zero means
	// [DefaultMaxPollRecords]; a negative value means every buffered record.
	MaxPollRecords int
	// PHIFreeKeys states that record keys hold no PHI (they are, say, a
	// table's surrogate key, not a member id): the key then goes into
	// Message.Metadata["key"]. By default keys stay out of Metadata, which
	// is logged; read them with Message.As.
	PHIFreeKeys bool
	// Logger receives commit failures (topic, partition and offset only).
	// Nil means none are logged; they are retried at the next commit and
	// the last one is returned by Close.
	Logger *slog.Logger
}

// Source reads a Kafka consumer group. Its methods are safe for concurrent
// use; Read is meant to be called from one goroutine at a time (concurrent
// calls are serialized), acknowledgements from any.
type Source struct {
	cl   *kgo.Client
	opts Options
	log  *slog.Logger

	readMu sync.Mutex // serializes Read

	mu         sync.Mutex
	parts      map[topicPartition]*partition
	redeliver  []redelivery
	closed     bool
	isClosed   atomic.Bool        // closed, for acks without s.mu
	pollCancel context.CancelFunc // wakes a Read blocked in a poll
	lastErr    error              // last commit failure

	commitMu sync.Mutex // serializes commits with each other and with revokes

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// redelivery is a nacked record waiting for the next Read.
type redelivery struct {
	p   *partition
	rec *kgo.Record
}

// New builds a franz-go client from opts and returns a Source reading the
// consumer group they name. opts must name the group (kgo.ConsumerGroup)
// and what it consumes (kgo.ConsumeTopics or kgo.ConsumeRegex), and set
// kgo.ConsumeResetOffset when a new group should not start at the end of
// its topics.
//
// New appends kgo.DisableAutoCommit, kgo.BlockRebalanceOnPoll,
// kgo.OnPartitionsRevoked and kgo.OnPartitionsLost: the Source commits
// itself, and these options in opts are replaced. Do not set
// kgo.AdjustFetchOffsetsFn to move a group backwards past acknowledged
// records, or they are delivered again (at-least-once still holds). With
// kgo.InstanceID (static membership) Close does not leave the group.
func New(opts []kgo.Opt, o *Options) (*Source, error) {
	s := &Source{parts: map[topicPartition]*partition{}, done: make(chan struct{})}
	if o != nil {
		s.opts = *o
	}
	if s.opts.CommitInterval == 0 {
		s.opts.CommitInterval = DefaultCommitInterval
	}
	if s.opts.CommitTimeout <= 0 {
		s.opts.CommitTimeout = DefaultCommitTimeout
	}
	if s.opts.RevokeTimeout == 0 {
		s.opts.RevokeTimeout = DefaultRevokeTimeout
	}
	switch {
	case s.opts.MaxPollRecords == 0:
		s.opts.MaxPollRecords = DefaultMaxPollRecords
	case s.opts.MaxPollRecords < 0:
		s.opts.MaxPollRecords = 0 // kgo: everything buffered
	}
	s.log = s.opts.Logger
	all := make([]kgo.Opt, 0, len(opts)+4)
	all = append(all, opts...)
	all = append(all,
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
	)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("kafkasource: %w", err)
	}
	if g, _ := cl.OptValue(kgo.ConsumerGroup).(string); g == "" {
		cl.Close()
		return nil, errors.New("kafkasource: the options name no consumer group (kgo.ConsumerGroup)")
	}
	topics, _ := cl.OptValue(kgo.ConsumeTopics).([]string)
	if len(topics) == 0 {
		cl.Close()
		return nil, errors.New("kafkasource: the options name no topic (kgo.ConsumeTopics)")
	}
	s.cl = cl
	if s.opts.CommitInterval > 0 {
		s.wg.Add(1)
		go s.commitLoop()
	}
	return s, nil
}

// Client returns the franz-go client, for metrics, lag and admin requests
// (kadm.NewClient). Do not poll, commit, seek or close through it: the
// Source does those.
func (s *Source) Client() *kgo.Client { return s.cl }

// Read returns the records of one poll (at most Options.MaxPollRecords),
// or the nacked records waiting for redelivery. It blocks until there is at
// least one, ctx is done (ctx.Err() is returned), or the Source is closed
// ([source.ErrClosed]); while a rebalance revokes partitions, franz-go holds
// the poll until the revoke is done, even past ctx (see
// Options.RevokeTimeout). A fetch error that came without records is
// returned wrapped (franz-go retries what can be retried; the errors it
// reports are usually lasting: authorization, a deleted topic, data loss
// after retention); Read may be called again.
func (s *Source) Read(ctx context.Context) ([]*source.Message, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
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
			rs := s.redeliver
			s.redeliver = nil
			s.mu.Unlock()
			msgs := make([]*source.Message, 0, len(rs))
			for _, r := range rs {
				if r.p.again(r.rec.Offset) {
					msgs = append(msgs, s.message(r.p, r.rec))
				}
			}
			if len(msgs) > 0 {
				return msgs, nil
			}
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		s.pollCancel = cancel
		s.mu.Unlock()

		fetches := s.cl.PollRecords(pctx, s.opts.MaxPollRecords)
		msgs, ferr := s.register(fetches)
		s.cl.AllowRebalance()

		s.mu.Lock()
		s.pollCancel = nil
		closed := s.closed
		s.mu.Unlock()
		cancel()
		switch {
		case closed:
			// Records polled while closing were registered but are never
			// delivered: they stay unacknowledged, so no commit passes them.
			return nil, source.ErrClosed
		case len(msgs) > 0:
			return msgs, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case ferr != nil:
			return nil, ferr
		}
		// woken by a Nack, or an empty poll: look again
	}
}

// register tracks the polled records and turns them into messages; it
// returns the first fetch error that is not a cancellation.
func (s *Source) register(fetches kgo.Fetches) ([]*source.Message, error) {
	var msgs []*source.Message
	var ferr error
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if fp.Err != nil {
			if err := s.fetchError(fp); err != nil && ferr == nil {
				ferr = err
			}
			var dl *kgo.ErrDataLoss
			if errors.As(fp.Err, &dl) {
				s.forget(topicPartition{fp.Topic, fp.Partition})
			}
		}
		if len(fp.Records) == 0 {
			return
		}
		tp := topicPartition{fp.Topic, fp.Partition}
		s.mu.Lock()
		p := s.parts[tp]
		if p == nil {
			p = newPartition(tp)
			s.parts[tp] = p
		}
		s.mu.Unlock()
		if msgs == nil {
			msgs = make([]*source.Message, 0, len(fp.Records))
		}
		p.mu.Lock()
		for _, rec := range fp.Records {
			if p.add(rec.Offset, rec.LeaderEpoch) {
				msgs = append(msgs, s.message(p, rec))
			}
		}
		p.mu.Unlock()
	})
	return msgs, ferr
}

// forget drops the tracker of a partition whose log lost records (an
// unclean leader election truncated it, or retention passed the consumer):
// franz-go consumes on from a reset offset, possibly below offsets already
// delivered, and those records must be delivered, not taken for repeats.
// Nothing more is committed for the old tracker, whose position may lie
// past the partition's new end; its acknowledgements no longer count.
func (s *Source) forget(tp topicPartition) {
	s.mu.Lock()
	p := s.parts[tp]
	delete(s.parts, tp)
	s.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// fetchError classifies an error of a poll: cancellations and a closing
// client are not errors of the fetch; the notifications after which the
// client keeps consuming (the group session failed and is being rejoined,
// records were lost to retention or truncation) are logged; the others are
// returned, wrapped with the partition.
func (s *Source) fetchError(fp kgo.FetchTopicPartition) error {
	var (
		gs *kgo.ErrGroupSession
		dl *kgo.ErrDataLoss
	)
	switch {
	case errors.Is(fp.Err, context.Canceled), errors.Is(fp.Err, context.DeadlineExceeded), errors.Is(fp.Err, kgo.ErrClientClosed):
		return nil
	case errors.As(fp.Err, &gs), errors.As(fp.Err, &dl):
		if s.log != nil {
			s.log.Warn("kafkasource: consumer notification", "topic", fp.Topic, "partition", fp.Partition, "err", fp.Err.Error())
		}
		return nil
	case fp.Topic == "":
		return fmt.Errorf("kafkasource: fetch: %w", fp.Err)
	}
	return fmt.Errorf("kafkasource: fetch %s/%d: %w", fp.Topic, fp.Partition, fp.Err)
}

// message builds the Message of a record tracked by p.
func (s *Source) message(p *partition, rec *kgo.Record) *source.Message {
	part := strconv.FormatInt(int64(rec.Partition), 10)
	off := strconv.FormatInt(rec.Offset, 10)
	md := make(map[string]string, 5)
	md["topic"], md["partition"], md["offset"] = rec.Topic, part, off
	if rec.Value == nil {
		md["tombstone"] = "true"
	}
	if s.opts.PHIFreeKeys && rec.Key != nil {
		md["key"] = string(rec.Key)
	}
	ack := func(_ context.Context, err error) error {
		if s.isClosed.Load() {
			return source.ErrClosed
		}
		if err == nil {
			p.ack(rec.Offset)
			return nil
		}
		s.nack(p, rec)
		return nil
	}
	as := func(target any) bool {
		if t, ok := target.(**kgo.Record); ok {
			*t = rec
			return true
		}
		return false
	}
	return source.NewMessage(rec.Topic+"/"+part+"@"+off, rec.Value, md, ack, as)
}

// nack queues an unacknowledged record of a live tracker for redelivery and
// wakes a blocked Read.
func (s *Source) nack(p *partition, rec *kgo.Record) {
	if !p.nacked(rec.Offset) {
		return // revoked or lost: its next owner reads it from the committed offset
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.redeliver = append(s.redeliver, redelivery{p: p, rec: rec})
	if s.pollCancel != nil {
		s.pollCancel()
	}
}

// Commit commits, for every partition, the offset after its highest
// contiguous acknowledged record, where that moved since the last commit.
// It is called every Options.CommitInterval; call it to commit sooner.
func (s *Source) Commit(ctx context.Context) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	ps := make([]*partition, 0, len(s.parts))
	for _, p := range s.parts {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	var batch commitBatch
	for _, p := range ps {
		p.mu.Lock()
		eo, ok := p.toCommit()
		p.mu.Unlock()
		if ok {
			batch.add(p, eo)
		}
	}
	return s.commit(ctx, batch)
}

// commitBatch is a set of positions to commit.
type commitBatch struct {
	offsets map[string]map[int32]kgo.EpochOffset
	parts   map[topicPartition]*partition
}

func (b *commitBatch) add(p *partition, eo kgo.EpochOffset) {
	if b.offsets == nil {
		b.offsets = map[string]map[int32]kgo.EpochOffset{}
		b.parts = map[topicPartition]*partition{}
	}
	if b.offsets[p.topic] == nil {
		b.offsets[p.topic] = map[int32]kgo.EpochOffset{}
	}
	b.offsets[p.topic][p.partition] = eo
	b.parts[p.topicPartition] = p
}

// commit sends a batch synchronously; s.commitMu must be held. It returns
// the first failure and records it for Close.
func (s *Source) commit(ctx context.Context, b commitBatch) error {
	if len(b.offsets) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.CommitTimeout)
	defer cancel()
	var first error
	s.cl.CommitOffsetsSync(ctx, b.offsets, func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			first = fmt.Errorf("kafkasource: commit: %w", err)
			return
		}
		for _, t := range resp.Topics {
			topic := t.Topic
			if topic == "" { // OffsetCommit v10+ answers with topic ids
				for _, rt := range req.Topics {
					if rt.TopicID == t.TopicID {
						topic = rt.Topic
					}
				}
			}
			for _, rp := range t.Partitions {
				tp := topicPartition{topic, rp.Partition}
				eo := b.offsets[topic][rp.Partition]
				if cerr := kerr.ErrorForCode(rp.ErrorCode); cerr != nil {
					if first == nil {
						first = fmt.Errorf("kafkasource: commit %s/%d@%d: %w", topic, rp.Partition, eo.Offset, cerr)
					}
					continue
				}
				if p := b.parts[tp]; p != nil {
					p.markCommitted(eo.Offset)
				}
			}
		}
	})
	if first != nil {
		if s.log != nil {
			s.log.Warn("kafkasource: commit failed", "err", first.Error())
		}
		s.mu.Lock()
		s.lastErr = first
		s.mu.Unlock()
	}
	return first
}

// commitLoop commits every CommitInterval until Close.
func (s *Source) commitLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			_ = s.Commit(context.Background()) // failures are logged and retried next tick
		}
	}
}

// drop removes the trackers of partitions from the Source and its
// redelivery queue, and returns them.
func (s *Source) drop(partitions map[string][]int32) []*partition {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*partition
	for topic, ps := range partitions {
		for _, n := range ps {
			tp := topicPartition{topic, n}
			if p := s.parts[tp]; p != nil {
				out = append(out, p)
				delete(s.parts, tp)
			}
		}
	}
	if len(out) > 0 && len(s.redeliver) > 0 {
		keep := s.redeliver[:0]
		for _, r := range s.redeliver {
			if !slices.Contains(out, r.p) {
				keep = append(keep, r)
			}
		}
		clear(s.redeliver[len(keep):])
		s.redeliver = keep
	}
	return out
}

// onRevoked waits for the records of the revoked partitions in flight,
// commits the contiguous acknowledged positions of the partitions and stops
// counting their acknowledgements. franz-go calls it before the partitions
// can be assigned to another member (and, with BlockRebalanceOnPoll, never
// while a poll's records are being registered).
func (s *Source) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	s.awaitInFlight(ctx, revoked)
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var batch commitBatch
	for _, p := range s.drop(revoked) {
		if eo, ok := p.kill(); ok {
			batch.add(p, eo)
		}
	}
	if ctx == nil || ctx.Err() != nil {
		ctx = context.Background() // the client is closing: still try the final commit
	}
	_ = s.commit(ctx, batch)
}

// awaitInFlight waits until the caller has acknowledged or nacked every
// record of the revoked partitions it was given, so that what it writes for
// them is committed before another member reads on from the commit: two
// members never work a partition at once. It gives up after
// Options.RevokeTimeout, when the Source closes (a stopping service settles
// nothing more) or when ctx (the client's) is done.
func (s *Source) awaitInFlight(ctx context.Context, revoked map[string][]int32) {
	if s.opts.RevokeTimeout < 0 {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	var ps []*partition
	for topic, parts := range revoked {
		for _, n := range parts {
			if p := s.parts[topicPartition{topic, n}]; p != nil {
				ps = append(ps, p)
			}
		}
	}
	s.mu.Unlock()
	if len(ps) == 0 {
		return
	}
	var ctxDone <-chan struct{}
	if ctx != nil {
		ctxDone = ctx.Done()
	}
	timer := time.NewTimer(s.opts.RevokeTimeout)
	defer timer.Stop()
	for _, p := range ps {
		select {
		case <-p.drained():
		case <-s.done:
			return
		case <-ctxDone:
			return
		case <-timer.C:
			if s.log != nil {
				for _, q := range ps {
					if n := q.inFlight(); n > 0 {
						s.log.Warn("kafkasource: partition revoked with records in flight; its next owner reads them again", "topic", q.topic, "partition", q.partition, "in_flight", n)
					}
				}
			}
			return
		}
	}
}

// onLost stops counting the acknowledgements of lost partitions without
// committing them: another member may own them already.
func (s *Source) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	for _, p := range s.drop(lost) {
		p.kill()
	}
}

// Close commits the contiguous acknowledged positions, leaves the group and
// closes the client. Later acknowledgements and Read return
// [source.ErrClosed] (the records not acknowledged in time are read again by
// the group's next owner of their partition). Close is idempotent; it returns the last commit
// failure, if the final commits did not succeed.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.isClosed.Store(true)
		s.redeliver = nil
		if s.pollCancel != nil {
			s.pollCancel()
		}
		s.lastErr = nil
		s.mu.Unlock()
		close(s.done)
		s.wg.Wait()
		_ = s.Commit(context.Background())
		// Leaving the group revokes every partition: onRevoked commits
		// what was acknowledged since.
		s.cl.CloseAllowingRebalance()
		s.mu.Lock()
		for tp, p := range s.parts {
			p.kill()
			delete(s.parts, tp)
		}
		s.closeErr = s.lastErr
		s.mu.Unlock()
	})
	return s.closeErr
}

var _ source.Source = (*Source)(nil)
var _ io.Closer = (*Source)(nil)
