// Package kafkasource is a [source.Source] over a Kafka consumer group, built
// on franz-go (github.com/twmb/franz-go/pkg/kgo).
//
// [New] takes the caller's client options (seed brokers, TLS, SASL, the
// consumer group and its topics, fetch sizes) and adds the few a correct
// at-least-once source needs: kgo.DisableAutoCommit, kgo.BlockRebalanceOnPoll
// and its own kgo.OnPartitionsRevoked and kgo.OnPartitionsLost callbacks.
// franz-go fixes rebalance callbacks when a client is built, so a source
// cannot adopt a client that was built without them; taking the options
// (rather than a *kgo.Client plus options the caller must remember to add)
// leaves no way to build a Source that commits wrongly. [Source.Client]
// returns the client for metrics and admin requests.
//
// Each [Source.Read] returns the records of one poll, one [source.Message]
// per record: Message.ID is "topic/partition@offset", Body is the record's
// value (nil for a tombstone, which is delivered like any other record: a
// Debezium delete is followed by one).
//
// # Delivery
//
// At least once. Per partition, the source commits only the offset after the
// highest contiguous acknowledged record (Kafka's convention: the committed
// offset is the next record to read), so an acknowledgement out of order, or
// from any goroutine, never lets an earlier unacknowledged record be skipped.
// Commits happen every Options.CommitInterval, on [Source.Commit], when
// partitions are revoked by a rebalance, and on [Source.Close].
//
// When partitions are revoked because another member joins, the source
// first waits (up to Options.RevokeTimeout) until every record of those
// partitions it delivered is acknowledged or nacked, then commits the
// contiguous acknowledged position and gives the partitions up: their new
// owner goes on from where this member's work ended, so two members never
// work a partition at once, and a member slow to write its records cannot
// write an older version of a resource over the newer one the new owner
// wrote since. When this member closes, or the wait times out, the
// acknowledged position is committed at once, and acknowledgements that
// arrive later for records of those partitions are ignored: their new owner
// reads them again from the committed offset. When partitions are lost (the
// member was fenced: its session expired), nothing is committed for them and
// later acknowledgements are ignored too, since another member may already
// own them. Such an ignored acknowledgement returns nil (the record was
// processed; only its commit is left to the next owner); one after Close
// returns [source.ErrClosed]. After a loss or a wait that timed out, this
// member may still write records its new owner reads too: at-least-once
// holds, but a late write of an older version can land over a newer one,
// so keep RevokeTimeout above the time a write can take.
//
// kgo's BlockRebalanceOnPoll is held only while a poll's records are
// registered, never while they are processed: a rebalance waits only for
// the records of the partitions this member gives up, and no longer than
// Options.RevokeTimeout (Read blocks meanwhile).
//
// [source.Message.Nack] redelivers: the record stays unacknowledged (nothing
// past it is committed) and the same Source returns it again from its next
// Read (a Read blocked waiting for records is woken), without seeking the
// partition, so the records after it that were acknowledged are not read
// again. If the partition is revoked or lost first, its new owner (or this
// member, after a restart) reads it from the committed offset. Nothing is
// ever dropped. There is no redelivery delay: backing off is the engine's
// job.
//
// When a partition's log loses records (an unclean leader election truncated
// it, or retention passed the consumer), franz-go reports the data loss and
// consumes on from a reset offset: the source then forgets what it tracked
// for that partition, so records at offsets reused below those delivered are
// delivered too, and commits go on from the new position.
//
// Records of one partition are first delivered in offset order; across
// partitions there is no order. A redelivered record comes after the records
// delivered since.
//
// # PHI
//
// Message.ID and Metadata hold positions only: "topic", "partition",
// "offset" and, for a record whose value is null, "tombstone" = "true".
// Record keys often hold a member id or another identifier, so the key goes
// into Metadata["key"] only when the operator states that keys are PHI-free
// (Options.PHIFreeKeys). Headers never go into Metadata. Errors name topics,
// partitions and offsets, never record contents. Topic names are the
// operator's and must not be PHI.
//
// # As
//
// [source.Message.As] exposes the record as a *kgo.Record (with its key and
// headers, which may hold PHI):
//
//	var rec *kgo.Record
//	if m.As(&rec) { ... rec.Headers ... }
package kafkasource
