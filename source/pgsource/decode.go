package pgsource

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
)

// The operations of a change, with Debezium's op codes.
const (
	OpCreate   = "c" // a row was inserted
	OpUpdate   = "u" // a row was updated
	OpDelete   = "d" // a row was deleted
	OpTruncate = "t" // a table was truncated (Before and After are nil)
)

// ErrProtocol is returned (wrapped) by Read when the replication stream
// holds something the driver cannot decode: a malformed pgoutput message, a
// change of a relation never described, a binary tuple. The error says
// where (message type, relation id, column), never a value.
var ErrProtocol = errors.New("pgsource: unexpected replication stream data")

// Change is one decoded row change, what [source.Message.As] exposes as
// *Change (see the package doc's # As section).
//
// Before and After hold PHI. LogValue logs positions only.
type Change struct {
	// Op is OpCreate, OpUpdate, OpDelete or OpTruncate.
	Op string
	// Schema and Table name the changed table.
	Schema, Table string
	// Before is the row before an update or delete: every column with
	// REPLICA IDENTITY FULL, only the replica identity's key columns with the
	// default identity (and nil for an update that did not change the key).
	// Nil for an insert.
	Before map[string]any
	// After is the row after an insert or update; nil for a delete.
	After map[string]any
	// LSN is the WAL position of the change (Debezium's source.lsn).
	LSN pglogrepl.LSN
	// CommitLSN is the position of its transaction's commit.
	CommitLSN pglogrepl.LSN
	// Ordinal is the change's 1-based position in its transaction.
	Ordinal int
	// TxID is the transaction id.
	TxID uint32
	// CommitTime is when the transaction committed.
	CommitTime time.Time
}

// LogValue implements slog.LogValuer: positions and names, never values.
func (c *Change) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("op", c.Op), slog.String("schema", c.Schema), slog.String("table", c.Table),
		slog.String("lsn", c.LSN.String()), slog.String("commit_lsn", c.CommitLSN.String()),
		slog.Int("ordinal", c.Ordinal))
}

// column is one decoded column of a tuple.
type column struct {
	name string
	val  any
}

// change is a decoded change as the stream produced it.
type change struct {
	op         string
	rel        *pglogrepl.RelationMessage
	before     []column // nil: JSON null
	after      []column
	lsn        pglogrepl.LSN
	commitLSN  pglogrepl.LSN
	ordinal    int
	xid        uint32
	commitTime time.Time
	native     pglogrepl.Message
	tx         *txn
}

// id is the message ID: commit LSN and ordinal, unique in the slot's
// history and PHI-free.
func (c *change) id() string { return c.commitLSN.String() + "#" + strconv.Itoa(c.ordinal) }

func (c *change) metadata() map[string]string {
	return map[string]string{
		"schema":     c.rel.Namespace,
		"table":      c.rel.RelationName,
		"op":         c.op,
		"lsn":        c.lsn.String(),
		"commit_lsn": c.commitLSN.String(),
	}
}

func (c *change) public() *Change {
	return &Change{
		Op: c.op, Schema: c.rel.Namespace, Table: c.rel.RelationName,
		Before: columnMap(c.before), After: columnMap(c.after),
		LSN: c.lsn, CommitLSN: c.commitLSN, Ordinal: c.ordinal, TxID: c.xid, CommitTime: c.commitTime,
	}
}

func columnMap(cols []column) map[string]any {
	if cols == nil {
		return nil
	}
	m := make(map[string]any, len(cols))
	for _, c := range cols {
		m[c.name] = c.val
	}
	return m
}

// body is the change as a Debezium-shaped payload: before, after, source
// {version, connector, ts_ms, db, schema, table, txId, lsn}, op, ts_ms.
func (c *change) body(db string, now time.Time) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"before":`...)
	b = appendColumns(b, c.before)
	b = append(b, `,"after":`...)
	b = appendColumns(b, c.after)
	b = append(b, `,"source":{"version":"fhirsync-pgsource","connector":"postgresql","ts_ms":`...)
	b = strconv.AppendInt(b, c.commitTime.UnixMilli(), 10)
	b = append(b, `,"db":`...)
	b = appendString(b, db)
	b = append(b, `,"schema":`...)
	b = appendString(b, c.rel.Namespace)
	b = append(b, `,"table":`...)
	b = appendString(b, c.rel.RelationName)
	b = append(b, `,"txId":`...)
	b = strconv.AppendUint(b, uint64(c.xid), 10)
	b = append(b, `,"lsn":`...)
	b = strconv.AppendUint(b, uint64(c.lsn), 10)
	b = append(b, `},"op":`...)
	b = appendString(b, c.op)
	b = append(b, `,"ts_ms":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	return append(b, '}')
}

func appendColumns(b []byte, cols []column) []byte {
	if cols == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c.name)
		b = append(b, ':')
		b = appendJSON(b, c.val)
	}
	return append(b, '}')
}

// decoder turns pgoutput messages into changes, keeping the relations the
// stream described and the transaction being received. It is used by one
// goroutine.
type decoder struct {
	values    *valueDecoder
	tracker   *tracker
	relations map[uint32]*pglogrepl.RelationMessage

	inTxn      bool
	tx         *txn
	xid        uint32
	commitLSN  pglogrepl.LSN
	commitTime time.Time
	ordinal    int
}

func newDecoder(t *tracker) *decoder {
	return &decoder{values: newValueDecoder(), tracker: t, relations: map[uint32]*pglogrepl.RelationMessage{}}
}

// decode handles one XLogData payload, returning the changes it carries (in
// order, each already counted in its transaction). Errors wrap ErrProtocol
// and never quote the data.
func (d *decoder) decode(walStart pglogrepl.LSN, data []byte) (out []*change, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: malformed pgoutput message at %s", ErrProtocol, walStart)
		}
	}()
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty pgoutput message at %s", ErrProtocol, walStart)
	}
	if !checkBounds(data) {
		return nil, fmt.Errorf("%w: malformed pgoutput message of type %q at %s", ErrProtocol, printable(data[0]), walStart)
	}
	msg, perr := pglogrepl.Parse(data)
	if perr != nil {
		return nil, fmt.Errorf("%w: pgoutput message of type %q at %s cannot be parsed", ErrProtocol, printable(data[0]), walStart)
	}
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		if d.inTxn {
			return nil, fmt.Errorf("%w: Begin inside a transaction at %s", ErrProtocol, walStart)
		}
		d.inTxn = true
		d.tx = d.tracker.begin()
		d.xid, d.commitLSN, d.commitTime, d.ordinal = m.Xid, m.FinalLSN, m.CommitTime, 0
	case *pglogrepl.CommitMessage:
		if !d.inTxn {
			return nil, fmt.Errorf("%w: Commit outside a transaction at %s", ErrProtocol, walStart)
		}
		d.inTxn = false
		d.tracker.commit(d.tx, m.TransactionEndLSN)
		d.tx = nil
	case *pglogrepl.RelationMessage:
		d.relations[m.RelationID] = m
	case *pglogrepl.InsertMessage:
		rel, err := d.relation(m.RelationID, walStart)
		if err != nil {
			return nil, err
		}
		after, err := d.tuple(rel, m.Tuple, nil, false, walStart)
		if err != nil {
			return nil, err
		}
		return d.emit(&change{op: OpCreate, rel: rel, after: after, lsn: walStart, native: m}), nil
	case *pglogrepl.UpdateMessage:
		rel, err := d.relation(m.RelationID, walStart)
		if err != nil {
			return nil, err
		}
		var before []column
		if m.OldTuple != nil {
			if before, err = d.tuple(rel, m.OldTuple, nil, m.OldTupleType == pglogrepl.UpdateMessageTupleTypeKey, walStart); err != nil {
				return nil, err
			}
		}
		after, err := d.tuple(rel, m.NewTuple, before, false, walStart)
		if err != nil {
			return nil, err
		}
		return d.emit(&change{op: OpUpdate, rel: rel, before: before, after: after, lsn: walStart, native: m}), nil
	case *pglogrepl.DeleteMessage:
		rel, err := d.relation(m.RelationID, walStart)
		if err != nil {
			return nil, err
		}
		before, err := d.tuple(rel, m.OldTuple, nil, m.OldTupleType == pglogrepl.DeleteMessageTupleTypeKey, walStart)
		if err != nil {
			return nil, err
		}
		return d.emit(&change{op: OpDelete, rel: rel, before: before, lsn: walStart, native: m}), nil
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			rel, err := d.relation(id, walStart)
			if err != nil {
				return nil, err
			}
			out = append(out, d.emit(&change{op: OpTruncate, rel: rel, lsn: walStart, native: m})...)
		}
		return out, nil
	default:
		// Type, Origin and logical decoding messages carry nothing to deliver.
	}
	return nil, nil
}

func (d *decoder) emit(c *change) []*change {
	d.ordinal++
	c.ordinal, c.commitLSN, c.xid, c.commitTime, c.tx = d.ordinal, d.commitLSN, d.xid, d.commitTime, d.tx
	d.tracker.add(d.tx)
	return []*change{c}
}

func (d *decoder) relation(id uint32, at pglogrepl.LSN) (*pglogrepl.RelationMessage, error) {
	rel, ok := d.relations[id]
	if !ok {
		return nil, fmt.Errorf("%w: change of relation %d, never described by a Relation message, at %s", ErrProtocol, id, at)
	}
	if !d.inTxn {
		return nil, fmt.Errorf("%w: change of %s.%s outside a transaction at %s", ErrProtocol, rel.Namespace, rel.RelationName, at)
	}
	return rel, nil
}

// tuple decodes a tuple. keyOnly keeps only the replica identity's key
// columns (the others are sent as NULL). An unchanged TOASTed value takes the
// value of the same column in old (the before image, complete with REPLICA
// IDENTITY FULL) or else UnavailableValue.
func (d *decoder) tuple(rel *pglogrepl.RelationMessage, td *pglogrepl.TupleData, old []column, keyOnly bool, at pglogrepl.LSN) ([]column, error) {
	if td == nil {
		return nil, fmt.Errorf("%w: change of %s.%s without a tuple at %s", ErrProtocol, rel.Namespace, rel.RelationName, at)
	}
	if len(td.Columns) != len(rel.Columns) {
		return nil, fmt.Errorf("%w: tuple of %s.%s has %d columns, its relation %d, at %s", ErrProtocol, rel.Namespace, rel.RelationName, len(td.Columns), len(rel.Columns), at)
	}
	cols := make([]column, 0, len(td.Columns))
	for i, tc := range td.Columns {
		rc := rel.Columns[i]
		if keyOnly && rc.Flags&1 == 0 {
			continue
		}
		var v any
		switch tc.DataType {
		case pglogrepl.TupleDataTypeNull:
		case pglogrepl.TupleDataTypeText:
			v = d.values.value(rc.DataType, tc.Data)
		case pglogrepl.TupleDataTypeToast:
			v = UnavailableValue
			for _, o := range old {
				if o.name == rc.Name {
					v = o.val
					break
				}
			}
		default:
			return nil, fmt.Errorf("%w: column %q of %s.%s has tuple data type %q at %s", ErrProtocol, rc.Name, rel.Namespace, rel.RelationName, printable(tc.DataType), at)
		}
		cols = append(cols, column{name: rc.Name, val: v})
	}
	return cols, nil
}

func printable(b byte) string {
	if b >= 0x20 && b < 0x7f {
		return string(rune(b))
	}
	return fmt.Sprintf("0x%02x", b)
}

// checkBounds walks a pgoutput (protocol 1) message and reports whether
// every count and length in it fits in data, so that pglogrepl.Parse, which
// trusts them, neither allocates what a corrupt length claims nor reads
// past the end.
func checkBounds(data []byte) bool {
	r := reader{b: data, ok: true}
	switch r.u8() {
	case 'B':
		r.skip(8 + 8 + 4)
	case 'C':
		r.skip(1 + 8 + 8 + 8)
	case 'O':
		r.skip(8)
		r.str()
	case 'R':
		r.skip(4)
		r.str()
		r.str()
		r.skip(1)
		for n := int(r.u16()); n > 0 && r.ok; n-- {
			r.skip(1)
			r.str()
			r.skip(4 + 4)
		}
	case 'Y':
		r.skip(4)
		r.str()
		r.str()
	case 'I':
		r.skip(4)
		if r.u8() != 'N' {
			return false
		}
		r.tuple()
	case 'U':
		r.skip(4)
		kind := r.u8()
		if kind == 'K' || kind == 'O' {
			r.tuple()
			kind = r.u8()
		}
		if kind != 'N' {
			return false
		}
		r.tuple()
	case 'D':
		r.skip(4)
		if kind := r.u8(); kind != 'K' && kind != 'O' {
			return false
		}
		r.tuple()
	case 'T':
		n := int(r.u32())
		r.skip(1)
		if n > len(data) {
			return false
		}
		r.skip(4 * n)
	case 'M':
		r.skip(1 + 8)
		r.str()
		r.skip(int(r.u32()))
	default:
		return false
	}
	return r.ok
}

// reader reads big-endian fields; once a read goes past the end, ok is
// false for good.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) take(n int) []byte {
	if !r.ok || n < 0 || n > len(r.b) {
		r.b, r.ok = nil, false
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) skip(n int) { r.take(n) }

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// str skips a NUL-terminated string.
func (r *reader) str() {
	i := bytes.IndexByte(r.b, 0)
	if !r.ok || i < 0 {
		r.b, r.ok = nil, false
		return
	}
	r.b = r.b[i+1:]
}

// tuple skips TupleData: a column count, then per column n (NULL), u
// (unchanged TOAST), or t/b with a length and that many bytes.
func (r *reader) tuple() {
	for n := int(r.u16()); n > 0 && r.ok; n-- {
		switch r.u8() {
		case 'n', 'u':
		case 't', 'b':
			r.skip(int(r.u32()))
		default:
			r.b, r.ok = nil, false
		}
	}
}
