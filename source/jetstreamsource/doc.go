// Package jetstreamsource is a durable, at-least-once [source.Source] over a
// NATS JetStream pull consumer, built on the jetstream package of nats.go
// (github.com/nats-io/nats.go/jetstream).
//
// Go CDK's natspubsub (used by the pubsubsource package) speaks core NATS
// only: at most once, no acknowledgements. This package is the NATS source to
// use when nothing may be lost.
//
// [New] takes the caller's [jetstream.Consumer]: a durable pull consumer the
// service created or looked up with its own connection (URL, TLS, NKey or JWT
// credentials), with AckPolicy explicit:
//
//	cons, err := js.CreateOrUpdateConsumer(ctx, "CLAIMS", jetstream.ConsumerConfig{
//		Durable:   "fhirsync",
//		AckPolicy: jetstream.AckExplicitPolicy,
//		AckWait:   2 * time.Minute,
//	})
//	src, err := jetstreamsource.New(cons, &jetstreamsource.Options{KeepAlive: 30 * time.Second})
//
// New refuses, with [ErrUnsupportedConsumer], a consumer whose acknowledgement
// policy is not explicit (AckNone is at most once; AckAll acknowledges every
// earlier message too, so an acknowledgement out of order would let an
// unprocessed message go) and one that is not durable (an ephemeral consumer
// is removed with its acknowledgement state when its client goes away, so a
// restart would not resume where the last run stopped). A push consumer
// cannot be read either; the jetstream package's ConsumerInfo does not say
// which kind a consumer is, so the server's refusal of the first pull
// request is what Read returns.
//
// The Source pulls messages ahead of Read (jetstream's Consume with
// PullMaxMessages set to Options.BatchSize, at least 16) and each
// [Source.Read] returns up to Options.BatchSize of them, one [source.Message] per JetStream message:
// Message.ID is "stream/consumer@streamSeq", Body is the message's data.
// Several Sources (in several processes) may read one consumer: the server
// spreads its messages among them.
//
// # Delivery
//
// At least once. JetStream tracks every delivered message until it is
// acknowledged: [source.Message.Ack] acknowledges it with a confirmed ack
// (jetstream.Msg.DoubleAck), which returns only once the server has recorded
// the acknowledgement. The engine acks only after a durable write and the
// confirmation makes the acknowledgement as durable as the write: an
// unconfirmed ack (a fire-and-forget publish) lost on a reconnect or a
// leader change would only cause a duplicate, never a loss, so
// Options.UnconfirmedAcks trades that (and the certainty that an Ack
// returning nil took effect) for throughput. An Ack that returns an error
// may or may not have reached the server; the message may come again.
// Acknowledgements may come in any order and from any goroutine: the server
// keeps each message's state, so an acknowledgement never covers another
// message. Acks and Nacks after [Source.Close] still reach the server (the
// connection is the caller's).
//
// [source.Message.Nack] naks the message (jetstream.Msg.Nak, or NakWithDelay
// with Options.NakDelay), and the server delivers it again, to this Source or
// another one on the same consumer. Nothing is ever dropped by the Source.
// The server redelivers a message that is neither acked nor nacked once the
// consumer's AckWait has passed since it was delivered, including messages
// delivered to a Source that was closed or crashed: after a restart,
// unacknowledged messages come back after at most AckWait. Messages the
// Source had pulled ahead but not yet returned from Read are nacked by
// Close, in stream order, once it has drained the pull subscription (a nak
// while still subscribed would have the server send the message straight
// back to it), so they come back at once; one the server sends just as the
// subscription ends is lost in transit and comes back after AckWait. The
// closed Source's last pull request stays on the server until it expires
// (10 s); nats-server 2.9 mishandles a redelivery that meets such a request
// (seen with 2.9.10: the message waits for AckWait and a later one is
// delivered twice). Nothing is lost; newer servers were not tried here.
//
// AckWait must therefore cover how long the engine may hold a message: up to
// fhirsync's Options.MaxInFlight messages are read ahead, batched and
// retried with back-off while a sink is down, so a message can be held much
// longer than a single write takes. A message held past AckWait is delivered
// again while the first delivery is still being processed: a duplicate,
// harmless with idempotent writes, but each one counts as a delivery. Either
// set AckWait generously, or set Options.KeepAlive (below AckWait, say a
// third of it), which tells the server every KeepAlive that each message the
// Source holds (pulled ahead and waiting for Read, or read and not yet
// settled) is still in progress (jetstream.Msg.InProgress), so its AckWait
// starts over. Only what reached the Source is covered: up to BatchSize
// messages wait for Read in the Source; while they wait, about
// max(BatchSize, 16) more can sit in the nats.go subscription's buffer, out
// of the Source's reach, and those are delivered again after AckWait (to
// another Source of the consumer, or into this one's buffer as duplicates). The consumer's MaxAckPending (default 1000) caps
// the messages delivered and not yet settled across every Source of the
// consumer; with MaxAckPending below the engine's MaxInFlight plus
// BatchSize the server simply delivers no more until some are acked.
//
// MaxDeliver: once a message was delivered MaxDeliver times, the server stops
// delivering it (it stays in the stream, but this consumer skips it for
// good). fhirsync's engine never nacks poison (a message it cannot convert is
// recorded on the reject path and acked); it nacks only what it could not
// write for now, and every nack and every AckWait expiry is another
// delivery. A finite MaxDeliver would then drop messages during a long sink
// outage. Leave MaxDeliver unlimited (-1, the default) or make it large.
//
// First deliveries follow the stream's order when a single Source reads the
// consumer (and MaxAckPending allows); a redelivered message comes after
// the messages delivered since.
//
// # PHI
//
// Message.ID and Metadata hold positions only, from the JetStream
// acknowledgement subject: "stream", "consumer", "stream_seq" and
// "num_delivered" (how many times the server has delivered the message,
// this time included). Stream and consumer names are the operator's and must
// not be PHI. Subjects often carry identifiers in their tokens
// ("claims.member.123456"), so the subject goes into Metadata["subject"]
// only when the operator states that subjects are PHI-free
// (Options.PHIFreeSubject); headers go into Metadata only when named in
// Options.PHIFreeHeaders. Errors name the stream, consumer and stream
// sequence, never message contents.
//
// # As
//
// [source.Message.As] exposes the native message as a [jetstream.Msg] (with
// its subject and headers, which may hold PHI):
//
//	var jm jetstream.Msg
//	if m.As(&jm) { ... jm.Headers() ... }
//
// Settle the message through the [source.Message], not through the
// jetstream.Msg: the Source also tracks it for Options.KeepAlive.
package jetstreamsource
