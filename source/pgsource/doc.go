// Package pgsource is a [source.Source] reading row changes from Postgres
// logical replication: a replication slot with the built-in pgoutput plugin
// (protocol version 1) and a publication naming the tables.
//
//	src, err := pgsource.Open(ctx, "postgres://sync@db/claims", "fhirsync", "providers",
//		&pgsource.Options{CreateSlot: true, CreatePublication: true, PublicationTables: []string{"public.provider"}})
//
// The server needs wal_level = logical (ALTER SYSTEM SET wal_level = logical
// and a restart) and a role with the REPLICATION attribute. Tables should
// have REPLICA IDENTITY FULL (ALTER TABLE t REPLICA IDENTITY FULL); see
// Before images below.
//
// # Messages
//
// Each inserted, updated or deleted row is one Message whose Body is a JSON
// change event shaped as Debezium's payload, so a decoder written for
// Debezium payloads (such as package debezium's, into
// fhirmap.ProviderChange) reads both:
//
//	{"before":null,"after":{"id":7,"name":"…"},
//	 "source":{"version":"fhirsync-pgsource","connector":"postgresql","ts_ms":1700000000000,
//	           "db":"claims","schema":"public","table":"provider","txId":5012,"lsn":24376456},
//	 "op":"c","ts_ms":1700000000123}
//
// op is c (insert), u (update), d (delete) or t (truncate); source.ts_ms is
// the commit time, source.lsn the change's WAL position as a number, the
// outer ts_ms when the event was decoded. Columns keep the table's order.
// Values are decoded from their text form through pgtype into JSON:
//
//   - bool → true/false; int2, int4, int8, oid → a JSON integer (exact)
//   - float4, float8 → a JSON number, shortest exact form; NaN, Infinity,
//     -Infinity → strings
//   - numeric → a string of its exact decimal text ("12.50", "NaN"), as
//     Debezium's decimal.handling.mode=string (a JSON number would lose
//     digits in a float64 decoder)
//   - text, varchar, char, uuid, … → a string
//   - json, jsonb → the JSON value itself, compacted (Debezium sends a string)
//   - date → "2024-03-01"; timestamptz → RFC 3339 in UTC
//     ("2024-03-01T12:30:00.5Z"); timestamp → "2024-03-01T12:30:00.5";
//     infinite values → "infinity" / "-infinity" (Debezium sends epoch
//     numbers for date and timestamp)
//   - bytea → base64 (as Debezium's default)
//   - arrays → JSON arrays, nested per dimension, elements as above, NULL → null
//   - NULL → null; any other type (interval, time, inet, enums, domains,
//     composites, extension types) and any value pgtype cannot decode → its
//     Postgres text form as a string (with the connection's TimeZone=UTC,
//     DateStyle=ISO, IntervalStyle=iso_8601)
//
// A TRUNCATE is one message per truncated table with op "t" and null before
// and after, as Debezium's truncate events: it cannot be mapped row by row,
// so a converter rejects it to the dead-letter path, where an operator sees
// it (a silent skip would leave the FHIR server out of sync unnoticed).
//
// # Before images
//
// With REPLICA IDENTITY FULL, before holds every column of the old row, and
// an unchanged TOASTed (large) value in after is filled from it. Without it
// (the default identity, the primary key): an update's before is null
// unless the key changed, then it holds the key columns only; a delete's
// before holds the key columns only (other columns are left out, not
// null); and an unchanged TOASTed value in after is [UnavailableValue], as
// in Debezium. A consumer that must know a deleted row (fhirmap's provider
// mapping does) needs FULL.
//
// # Delivery
//
// At least once. The slot's confirmed position (standby status update,
// flush and apply LSN) only moves to the end of a transaction all of whose
// changes are acked, and whose predecessors' are too: acks come in any order
// from any goroutine, and an unacked change holds the position before its
// transaction. A status update is sent every Options.StatusInterval even
// when nothing changes, and at once when a keepalive asks for a reply. When
// every received transaction is settled, a keepalive's WAL position is
// confirmed too, so a slot whose tables are idle does not pin WAL written
// for other tables. Close sends a final update and ends the stream.
//
// [source.Message.Nack] redelivers: the same Source returns the change
// again (same ID and body) from its next Read, ahead of the changes waiting
// in its buffer, and the change stays unacked, so the confirmed position
// stays before its transaction until the redelivered message is acked (if
// the connection is lost first, the change comes again from the next one:
// see Reconnection). Nothing is dropped: a change nacked and not yet acked
// when the Source closes comes again, with the rest of its transaction, when a new Source
// opens on the slot (replication restarts from the confirmed position);
// changes already acked in a redelivered transaction come again too, with
// stable ids, so idempotent writes absorb them. A redelivered change may
// come after newer changes of the same row were delivered: the source
// version (Metadata["lsn"]) lets the stale-update guard keep the newer one.
//
// Message.ID is the commit LSN and the change's 1-based ordinal in its
// transaction, "0/16B3748#2": unique in a slot's history and stable across
// redeliveries. Metadata holds schema, table, op, lsn (the change's WAL
// position, text form: a per-row version for the stale-update guard, see
// fhirmap.LSNSourceVersion) and commit_lsn.
//
// Read returns up to Options.MaxBatch messages. Decoded changes wait in a
// buffer of Options.BufferSize; when it is full the stream pauses (status
// updates continue). Read after Close returns [source.ErrClosed]. Once the
// Source closed or stopped streaming for good, nothing more can be
// confirmed: a settlement returns an error wrapping source.ErrClosed, and
// the change comes again from the next Source.
//
// Slots are created without a snapshot: rows present before a slot's
// creation are not delivered. A slot created with Options.TemporarySlot is
// dropped by the server when its Source closes or its connection is lost,
// and with it the position: only a permanent slot resumes after a restart
// or a reconnection (a Source on a temporary slot stops at a lost
// connection with a permanent [*StreamError] wrapping [ErrNoSlot]). A permanent slot that is
// no longer read pins WAL until dropped (pg_drop_replication_slot).
//
// # Reconnection
//
// When the replication connection is lost (the server restarts or fails
// over, the walsender is terminated, the network fails or, with
// Options.ServerTimeout, goes silent), the Source reconnects by itself: it
// waits Options.ReconnectDelay (500 ms), doubled after each failed attempt
// up to Options.MaxReconnectDelay (30 s), each delay varied by up to ±20%,
// then connects again with the same configuration, checks wal_level, the
// publication and the slot (never creating them again: a slot or
// publication missing now was dropped, and a new one would skip the changes
// made meanwhile), and runs START_REPLICATION. Read meanwhile waits as for
// any change; Close stops the attempts. Options.MaxReconnects caps the
// attempts in a row (0, the default: no cap; negative: no reconnection).
// A connection lost again before a transaction was confirmed on it, and
// within MaxReconnectDelay, does not end the row: the back-off goes on
// growing, so a server that fails every stream at once (a disk full while
// decoding, say) is not reconnected to twice a second for ever.
//
// What was in flight is settled this way, so that nothing is lost and
// nothing unacked is confirmed:
//
//   - Each connection has its own delivery tracking. The changes decoded on
//     the lost connection and still in the buffer are dropped, and
//     settlements of messages from it (Ack and Nack) count for nothing and
//     return nil; a nacked one is not queued again. None of them can confirm
//     a position on the new connection.
//   - The new connection starts at the position the lost one had confirmed
//     (every transaction before it fully acked) when the server's WAL
//     history is unchanged (same system identifier and timeline), since
//     status updates may not have reported it yet; after a failover to a
//     promoted standby (a new timeline) it starts at the slot's confirmed
//     position as that server has it. Either way it is at or before the
//     first transaction with an unacked change, and never behind the
//     position the server holds, so the confirmed position never moves
//     backwards.
//   - The server therefore sends again every transaction after that
//     position: changes delivered on the lost connection and not yet
//     confirmed come again, with the same IDs (commit LSN and ordinal) and
//     bodies, and must be acked again on the new connection. Duplicates are
//     expected; idempotent writes absorb them.
//   - Status updates resume at once on the new connection, then every
//     StatusInterval.
//
// Permanent failures are not retried: the slot or publication dropped, the
// slot now of another plugin or database, wal_level no longer logical, the
// server refusing the role (authentication, privileges, a missing
// database), an invalidated slot, an untrusted certificate, any server
// error other than connection, resource and shutdown conditions, and data
// the Source cannot decode ([ErrProtocol]). Then, as when the attempts run
// out or reconnection is disabled, Read returns a [*StreamError] on every
// call (to every concurrent Read; it matches source.ErrPermanent either
// way, since no retry of Read can help, so fhirsync.Run stops at once):
// its Permanent field tells the two apart, errors.Is finds the
// sentinel ([ErrNoSlot], [ErrNoPublication], [ErrNotLogical],
// [ErrSlotMismatch], [ErrProtocol]) and errors.As the *pgconn.PgError. Close
// the Source; a new one resumes from the slot's confirmed position once the
// cause is fixed. A server that cannot start (wal_level lowered below
// logical while logical slots exist) looks like a server that is down:
// attempts go on.
//
// A network that drops packets without resetting the connection leaves
// both ends waiting. Each status update therefore asks the server for a
// reply, and when nothing at all arrives for Options.ServerTimeout (by
// default twice the server's wal_sender_timeout, so 2 min; the server
// answers within half of that even while it decodes a large transaction)
// the connection is taken for lost ([ErrServerTimeout]). While the buffer
// is full and the stream paused, the silence does not count.
//
// A server that receives nothing from a lost client keeps the slot until
// its wal_sender_timeout (60 s by default) ends the walsender; attempts
// meanwhile fail with "replication slot is active" and are retried. If the
// slot's confirmed position is found past the lost connection's (someone
// advanced the slot, or dropped it and created another of the same name,
// while the Source was disconnected), the changes in between were never
// delivered: the Source logs a warning and streams from the slot's
// position, as Open does.
//
// Every lost connection is logged at Warn (slot, error, confirmed position,
// buffered changes dropped), each failed attempt at Warn, a reconnection
// at Info (attempts, time taken, start position) and the end of streaming
// at Error: slot names, positions and errors, never values. The counter
// fhirsync.pgsource.reconnects (attributes pgsource.slot, outcome=ok or
// failed) counts reconnection attempts, on Options.MeterProvider.
//
// # PHI
//
// Body holds column values and may hold PHI. ID and Metadata hold positions
// and table names only; errors name message types, relations, columns and
// positions, never a value; log output (Options.Logger) holds slot and
// publication names, positions and errors. A [*StreamError] holds the slot
// name and the cause as Postgres or the network reported it; metric
// attributes hold the slot name and an outcome.
//
// # As
//
// [source.Message.As] offers the decoded change, with target a **[Change],
// and the pgoutput message, with target a *pglogrepl.Message (an
// *pglogrepl.InsertMessage, *pglogrepl.UpdateMessage,
// *pglogrepl.DeleteMessage or *pglogrepl.TruncateMessage, shared by the
// messages of one truncate). Both hold PHI.
package pgsource
