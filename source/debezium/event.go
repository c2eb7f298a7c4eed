package debezium

import (
	"log/slog"
	"time"
)

// Op is the operation of a change event, as Debezium writes it.
type Op string

// The operations.
const (
	OpCreate   Op = "c" // a row was inserted
	OpUpdate   Op = "u" // a row was updated
	OpDelete   Op = "d" // a row was deleted
	OpRead     Op = "r" // a row was read by a snapshot
	OpTruncate Op = "t" // the table was truncated (no row images)
	OpMessage  Op = "m" // a logical decoding message (Postgres pg_logical_emit_message; no row images)
)

// valid reports whether op is one of the operations.
func (op Op) valid() bool {
	switch op {
	case OpCreate, OpUpdate, OpDelete, OpRead, OpTruncate, OpMessage:
		return true
	}
	return false
}

// Event is one decoded change event.
//
// Before and After hold PHI. The other fields are positions, names and
// times.
type Event struct {
	// Tombstone is true for the null value Debezium writes after a delete
	// (for Kafka log compaction). A tombstone carries nothing else: Op is
	// empty.
	Tombstone bool
	Op        Op
	// Before is the row before an update or delete, After the row after a
	// create, update or snapshot read; nil when the event has none (a
	// create has no Before; a delete captured with Postgres REPLICA
	// IDENTITY DEFAULT has only the key columns in Before; an update
	// captured so has no Before). Values are typed as the package doc says.
	Before, After map[string]any
	// Source is the event's source block.
	Source Source
	// TsMs is when the connector processed the event (the envelope's ts_ms,
	// milliseconds since the Unix epoch; 0 when absent). Source.TsMs is
	// when the change was made in the database.
	TsMs int64
	// Transaction is the transaction block (provide.transaction.metadata),
	// nil when absent.
	Transaction *Transaction
}

// Source is the source block of a change event: where the change comes
// from. It holds names and positions, no row values (a MySQL source block's
// "query", which may quote values, is not kept).
type Source struct {
	Version   string // Debezium version, "2.5.0.Final"
	Connector string // "postgresql", "mysql", "sqlserver", "oracle"...
	Name      string // the connector's logical name (topic.prefix)
	// TsMs is when the change was made in the database (commit time),
	// milliseconds since the Unix epoch; 0 when absent.
	TsMs int64
	// Snapshot is "true", "first", "last", "incremental"... for snapshot
	// reads, "false" or "" for streamed changes.
	Snapshot string
	DB       string
	Schema   string
	Table    string
	// LSN is the change's log position as written: a decimal number for
	// Postgres (source.lsn), a string such as "00000027:00000758:0003" for
	// SQL Server and Db2 (source.change_lsn). See [Source.PostgresLSN].
	LSN string
	// CommitLSN is SQL Server's and Db2's source.commit_lsn.
	CommitLSN string
	// SCN is Oracle's system change number (source.scn).
	SCN string
	// TxID is the transaction id (txId, a number for Postgres, a string
	// for Oracle), as written.
	TxID string
	// Sequence is Postgres' source.sequence: a JSON array (as a string) of
	// the last committed LSN and the event's LSN.
	Sequence string
	// File, Pos and Row are MySQL's binlog position (file name, position,
	// row within the event).
	File string
	Pos  int64
	Row  int64
}

// Transaction is the transaction block of a change event.
type Transaction struct {
	ID                  string // the transaction id ("571:53195829" for Postgres: txId:LSN)
	TotalOrder          int64  // the event's position among all events of the transaction
	DataCollectionOrder int64  // its position among the transaction's events of the same table
}

// Time returns when the change was made: the source block's ts_ms, else
// the envelope's, else the zero time.
func (e *Event) Time() time.Time {
	switch {
	case e.Source.TsMs != 0:
		return time.UnixMilli(e.Source.TsMs).UTC()
	case e.TsMs != 0:
		return time.UnixMilli(e.TsMs).UTC()
	}
	return time.Time{}
}

// LogValue implements slog.LogValuer: the operation, the table and the
// position, never a row value.
func (e *Event) LogValue() slog.Value {
	if e.Tombstone {
		return slog.GroupValue(slog.Bool("tombstone", true))
	}
	attrs := []slog.Attr{slog.String("op", string(e.Op))}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("connector", e.Source.Connector)
	add("db", e.Source.DB)
	add("schema", e.Source.Schema)
	add("table", e.Source.Table)
	add("lsn", e.Source.LSN)
	add("tx_id", e.Source.TxID)
	if e.Source.TsMs != 0 {
		attrs = append(attrs, slog.Int64("ts_ms", e.Source.TsMs))
	}
	return slog.GroupValue(attrs...)
}
