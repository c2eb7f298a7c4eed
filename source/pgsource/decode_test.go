package pgsource

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgtype"
)

// wire builds pgoutput (protocol 1) messages.
type wire struct{ b []byte }

func (w *wire) u8(v byte) *wire    { w.b = append(w.b, v); return w }
func (w *wire) u16(v uint16) *wire { w.b = binary.BigEndian.AppendUint16(w.b, v); return w }
func (w *wire) u32(v uint32) *wire { w.b = binary.BigEndian.AppendUint32(w.b, v); return w }
func (w *wire) u64(v uint64) *wire { w.b = binary.BigEndian.AppendUint64(w.b, v); return w }
func (w *wire) str(s string) *wire { w.b = append(append(w.b, s...), 0); return w }

// pgTime is microseconds since 2000-01-01.
func pgTime(t time.Time) uint64 {
	return uint64(t.Sub(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).Microseconds())
}

var commitTime = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func msgBegin(final pglogrepl.LSN, xid uint32) []byte {
	return (&wire{}).u8('B').u64(uint64(final)).u64(pgTime(commitTime)).u32(xid).b
}

func msgCommit(commit, end pglogrepl.LSN) []byte {
	return (&wire{}).u8('C').u8(0).u64(uint64(commit)).u64(uint64(end)).u64(pgTime(commitTime)).b
}

type relCol struct {
	key  bool
	name string
	oid  uint32
}

func msgRelation(id uint32, ns, name string, cols ...relCol) []byte {
	w := (&wire{}).u8('R').u32(id).str(ns).str(name).u8('f').u16(uint16(len(cols)))
	for _, c := range cols {
		var flags byte
		if c.key {
			flags = 1
		}
		w.u8(flags).str(c.name).u32(c.oid).u32(0xffffffff)
	}
	return w.b
}

// tuple encodes values: nil is NULL, "\x00u" an unchanged TOASTed value.
func tuple(w *wire, vals ...any) *wire {
	w.u16(uint16(len(vals)))
	for _, v := range vals {
		switch v := v.(type) {
		case nil:
			w.u8('n')
		case string:
			if v == "\x00u" {
				w.u8('u')
				continue
			}
			w.u8('t').u32(uint32(len(v)))
			w.b = append(w.b, v...)
		}
	}
	return w
}

func msgInsert(rel uint32, vals ...any) []byte {
	return tuple((&wire{}).u8('I').u32(rel).u8('N'), vals...).b
}

func msgUpdate(rel uint32, oldKind byte, old []any, vals ...any) []byte {
	w := (&wire{}).u8('U').u32(rel)
	if oldKind != 0 {
		tuple(w.u8(oldKind), old...)
	}
	return tuple(w.u8('N'), vals...).b
}

func msgDelete(rel uint32, kind byte, vals ...any) []byte {
	return tuple((&wire{}).u8('D').u32(rel).u8(kind), vals...).b
}

func msgTruncate(rels ...uint32) []byte {
	w := (&wire{}).u8('T').u32(uint32(len(rels))).u8(0)
	for _, r := range rels {
		w.u32(r)
	}
	return w.b
}

var provider = msgRelation(16400, "public", "provider",
	relCol{true, "id", pgtype.Int4OID}, relCol{false, "name", pgtype.TextOID}, relCol{false, "tags", pgtype.TextArrayOID})

// feed decodes msgs (each at WAL position 100, 200, …) and returns the
// changes.
func feed(t *testing.T, d *decoder, msgs ...[]byte) []*change {
	t.Helper()
	var out []*change
	for i, m := range msgs {
		cs, err := d.decode(pglogrepl.LSN(100*(i+1)), m)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		out = append(out, cs...)
	}
	return out
}

func TestDecode(t *testing.T) {
	type want struct {
		id, op, before, after string
	}
	cases := []struct {
		name string
		msgs [][]byte
		want []want
	}{
		{
			name: "insert, update with old tuple, delete",
			msgs: [][]byte{
				provider, msgBegin(0x1000, 7),
				msgInsert(16400, "1", "Ann", `{a,NULL}`),
				msgUpdate(16400, 'O', []any{"1", "Ann", `{a,NULL}`}, "1", "Bea", "\x00u"),
				msgDelete(16400, 'O', "1", "Bea", nil),
				msgCommit(0x1000, 0x1040),
			},
			want: []want{
				{"0/1000#1", "c", `null`, `{"id":1,"name":"Ann","tags":["a",null]}`},
				{"0/1000#2", "u", `{"id":1,"name":"Ann","tags":["a",null]}`, `{"id":1,"name":"Bea","tags":["a",null]}`},
				{"0/1000#3", "d", `{"id":1,"name":"Bea","tags":null}`, `null`},
			},
		},
		{
			name: "default identity: no old tuple, key tuple, toast placeholder",
			msgs: [][]byte{
				provider, msgBegin(0x2000, 8),
				msgUpdate(16400, 0, nil, "1", "Bea", "\x00u"),
				msgUpdate(16400, 'K', []any{"1", nil, nil}, "2", "Bea", "{}"),
				msgDelete(16400, 'K', "2", nil, nil),
				msgCommit(0x2000, 0x2040),
			},
			want: []want{
				{"0/2000#1", "u", `null`, `{"id":1,"name":"Bea","tags":"` + UnavailableValue + `"}`},
				{"0/2000#2", "u", `{"id":1}`, `{"id":2,"name":"Bea","tags":[]}`},
				{"0/2000#3", "d", `{"id":2}`, `null`},
			},
		},
		{
			name: "truncate of two tables, relation redefined",
			msgs: [][]byte{
				provider, msgRelation(16401, "s", "other", relCol{true, "k", pgtype.TextOID}),
				msgBegin(0x3000, 9), msgTruncate(16400, 16401), msgCommit(0x3000, 0x3040),
				msgRelation(16400, "public", "provider", relCol{true, "id", pgtype.Int8OID}, relCol{false, "added", pgtype.BoolOID}),
				msgBegin(0x4000, 10), msgInsert(16400, "5", "t"), msgCommit(0x4000, 0x4040),
			},
			want: []want{
				{"0/3000#1", "t", `null`, `null`},
				{"0/3000#2", "t", `null`, `null`},
				{"0/4000#1", "c", `null`, `{"id":5,"added":true}`},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDecoder(newTracker(0x10))
			got := feed(t, d, c.msgs...)
			if len(got) != len(c.want) {
				t.Fatalf("%d changes, want %d", len(got), len(c.want))
			}
			for i, w := range c.want {
				var ev struct {
					Before, After json.RawMessage
					Op            string
					Source        struct {
						Schema, Table, DB string
						TxID              uint32 `json:"txId"`
						TsMs              int64  `json:"ts_ms"`
					}
				}
				body := got[i].body("claims", commitTime)
				if err := json.Unmarshal(body, &ev); err != nil {
					t.Fatalf("change %d: %v in %s", i, err, body)
				}
				if got[i].id() != w.id || ev.Op != w.op || string(ev.Before) != w.before || string(ev.After) != w.after {
					t.Errorf("change %d: %s %s before %s after %s; want %s %s before %s after %s", i, got[i].id(), ev.Op, ev.Before, ev.After, w.id, w.op, w.before, w.after)
				}
				if ev.Source.DB != "claims" || ev.Source.TsMs != commitTime.UnixMilli() || ev.Source.TxID == 0 {
					t.Errorf("change %d: source %+v", i, ev.Source)
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		msgs [][]byte // the last one fails
	}{
		{"unknown relation", [][]byte{msgBegin(0x1000, 1), msgInsert(99, "ZZCANARYZZ")}},
		{"change outside a transaction", [][]byte{provider, msgInsert(16400, "1", "ZZCANARYZZ", nil)}},
		{"column count", [][]byte{provider, msgBegin(0x1000, 1), msgInsert(16400, "1", "ZZCANARYZZ")}},
		{"begin in a transaction", [][]byte{msgBegin(0x1000, 1), msgBegin(0x2000, 2)}},
		{"commit outside a transaction", [][]byte{msgCommit(0x1000, 0x1040)}},
		{"binary tuple", [][]byte{provider, msgBegin(0x1000, 1), func() []byte {
			b := msgInsert(16400, "1", "ZZCANARYZZ", nil)
			b[bytes.Index(b, []byte("ZZCANARYZZ"))-5] = 'b'
			return b
		}()}},
		{"truncated insert", [][]byte{provider, msgBegin(0x1000, 1), msgInsert(16400, "1", "ZZCANARYZZ", nil)[:20]}},
		{"unknown message type", [][]byte{{'Z', 'Z', 'C', 'A', 'N', 'A', 'R', 'Y', 'Z', 'Z'}}},
		{"empty", [][]byte{{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDecoder(newTracker(0x10))
			last := len(c.msgs) - 1
			feed(t, d, c.msgs[:last]...)
			_, err := d.decode(0x5000, c.msgs[last])
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("decode = %v, want ErrProtocol", err)
			}
			if strings.Contains(err.Error(), "ZZCANARYZZ") || strings.Contains(err.Error(), "CANARY") {
				t.Errorf("error text holds data from the stream: %v", err)
			}
		})
	}
}

// TestDecodeTracks: changes are counted in their transaction, which the
// tracker confirms once committed and acked.
func TestDecodeTracks(t *testing.T) {
	tr := newTracker(0x10)
	d := newDecoder(tr)
	got := feed(t, d, provider, msgBegin(0x1000, 1), msgInsert(16400, "1", "a", nil), msgInsert(16400, "2", "b", nil))
	tr.settle(got[0].tx, false)
	tr.settle(got[1].tx, false)
	if p := tr.position(); p != 0x10 {
		t.Fatalf("position %s before the commit, want 0/10", p)
	}
	feed(t, d, msgCommit(0x1000, 0x1040), msgBegin(0x2000, 2), msgCommit(0x2000, 0x2040))
	if p := tr.position(); p != 0x2040 {
		t.Fatalf("position %s after the commits, want 0/2040 (an empty transaction is complete)", p)
	}
}

func TestTracker(t *testing.T) {
	type step struct {
		op  string // begin, add, commit, ack, nack, idle, close
		tx  int    // transaction index (begin order)
		lsn pglogrepl.LSN
	}
	cases := []struct {
		name  string
		steps []step
		want  pglogrepl.LSN
	}{
		{"acked in order", []step{{"begin", 0, 0}, {"add", 0, 0}, {"add", 0, 0}, {"commit", 0, 0x100}, {"ack", 0, 0}, {"ack", 0, 0}}, 0x100},
		{"one change unacked", []step{{"begin", 0, 0}, {"add", 0, 0}, {"add", 0, 0}, {"commit", 0, 0x100}, {"ack", 0, 0}}, 0x10},
		{"acked before the commit arrives", []step{{"begin", 0, 0}, {"add", 0, 0}, {"ack", 0, 0}}, 0x10},
		{"later transaction acked first", []step{
			{"begin", 0, 0}, {"add", 0, 0}, {"commit", 0, 0x100},
			{"begin", 1, 0}, {"add", 1, 0}, {"commit", 1, 0x200}, {"ack", 1, 0},
		}, 0x10},
		{"then the earlier one", []step{
			{"begin", 0, 0}, {"add", 0, 0}, {"commit", 0, 0x100},
			{"begin", 1, 0}, {"add", 1, 0}, {"commit", 1, 0x200}, {"ack", 1, 0}, {"ack", 0, 0},
		}, 0x200},
		{"stops before an unacked middle", []step{
			{"begin", 0, 0}, {"add", 0, 0}, {"commit", 0, 0x100},
			{"begin", 1, 0}, {"add", 1, 0}, {"commit", 1, 0x200},
			{"begin", 2, 0}, {"add", 2, 0}, {"commit", 2, 0x300},
			{"ack", 2, 0}, {"ack", 0, 0},
		}, 0x100},
		{"nack holds", []step{{"begin", 0, 0}, {"add", 0, 0}, {"add", 0, 0}, {"commit", 0, 0x100}, {"nack", 0, 0}, {"ack", 0, 0}}, 0x10},
		{"nacked change redelivered and acked", []step{{"begin", 0, 0}, {"add", 0, 0}, {"add", 0, 0}, {"commit", 0, 0x100}, {"nack", 0, 0}, {"ack", 0, 0}, {"ack", 0, 0}}, 0x100},
		{"no idle while a nacked change is pending", []step{{"begin", 0, 0}, {"add", 0, 0}, {"commit", 0, 0x100}, {"nack", 0, 0}, {"idle", 0, 0x500}}, 0x10},
		{"idle when nothing pending", []step{{"begin", 0, 0}, {"add", 0, 0}, {"commit", 0, 0x100}, {"ack", 0, 0}, {"idle", 0, 0x500}}, 0x500},
		{"no idle while pending", []step{{"begin", 0, 0}, {"add", 0, 0}, {"commit", 0, 0x100}, {"idle", 0, 0x500}}, 0x10},
		{"no idle in a transaction", []step{{"begin", 0, 0}, {"idle", 0, 0x500}}, 0x10},
		{"idle never goes back", []step{{"idle", 0, 0x5}}, 0x10},
		{"ack after close ignored", []step{{"begin", 0, 0}, {"add", 0, 0}, {"commit", 0, 0x100}, {"close", 0, 0}, {"ack", 0, 0}}, 0x10},
		{"commit after close counts", []step{{"begin", 0, 0}, {"add", 0, 0}, {"ack", 0, 0}, {"close", 0, 0}, {"commit", 0, 0x100}}, 0x100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newTracker(0x10)
			var txs []*txn
			for _, s := range c.steps {
				switch s.op {
				case "begin":
					txs = append(txs, tr.begin())
				case "add":
					tr.add(txs[s.tx])
				case "commit":
					tr.commit(txs[s.tx], s.lsn)
				case "ack":
					tr.settle(txs[s.tx], false)
				case "nack":
					tr.settle(txs[s.tx], true)
				case "idle":
					tr.idle(s.lsn)
				case "close":
					tr.close()
				}
			}
			if got := tr.position(); got != c.want {
				t.Errorf("position = %s, want %s", got, c.want)
			}
		})
	}
}

// FuzzDecode feeds arbitrary pgoutput messages after a relation and a Begin:
// decode never panics, its errors never quote the input, and every change it
// returns has a valid JSON body.
func FuzzDecode(f *testing.F) {
	f.Add(msgInsert(16400, "1", "ZZCANARYZZ", `{ZZCANARYZZ,NULL}`))
	f.Add(msgUpdate(16400, 'O', []any{"1", "ZZCANARYZZ", nil}, "1", "x", "\x00u"))
	f.Add(msgDelete(16400, 'K', "ZZCANARYZZ", nil, nil))
	f.Add(msgTruncate(16400))
	f.Add(msgRelation(16400, "public", "provider", relCol{true, "id", pgtype.JSONBOID}, relCol{false, "d", pgtype.DateOID}, relCol{false, "a", pgtype.Float8ArrayOID}))
	f.Add(msgCommit(0x1000, 0x1040))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDecoder(newTracker(0x10))
		feed(t, d, provider, msgBegin(0x1000, 1))
		changes, err := d.decode(0x1010, data)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			if strings.Contains(err.Error(), "ZZCANARYZZ") {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		// A relation the input defines may be used by a second message.
		more, err := d.decode(0x1020, append([]byte{}, data...))
		if err == nil {
			changes = append(changes, more...)
		}
		for _, c := range changes {
			if b := c.body("db", commitTime); !json.Valid(b) {
				t.Fatalf("invalid JSON body %q", b)
			}
			for k, v := range c.metadata() {
				if strings.Contains(k, "ZZCANARYZZ") || (k != "schema" && k != "table" && strings.Contains(v, "ZZCANARYZZ")) {
					t.Fatalf("metadata %s=%s quotes a value", k, v)
				}
			}
			if strings.Contains(c.id(), "ZZCANARYZZ") {
				t.Fatalf("id %s quotes a value", c.id())
			}
		}
	})
}

// BenchmarkDecode measures decoding alone: one pgoutput insert of six
// columns into a change and its JSON body.
func BenchmarkDecode(b *testing.B) {
	rel := msgRelation(16400, "public", "provider",
		relCol{true, "id", pgtype.Int4OID}, relCol{false, "name", pgtype.TextOID}, relCol{false, "amount", pgtype.NumericOID},
		relCol{false, "updated", pgtype.TimestamptzOID}, relCol{false, "tags", pgtype.TextArrayOID}, relCol{false, "active", pgtype.BoolOID})
	ins := msgInsert(16400, "4711", "provider 4711", "5888.75", "2024-03-01 12:30:00.123456+00", "{net-0,plan}", "t")
	tr := newTracker(0x10)
	d := newDecoder(tr)
	if _, err := d.decode(0x100, rel); err != nil {
		b.Fatal(err)
	}
	if _, err := d.decode(0x100, msgBegin(0x1000, 1)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cs, err := d.decode(0x200, ins)
		if err != nil || len(cs) != 1 {
			b.Fatal(err)
		}
		_ = cs[0].body("db", commitTime)
		_ = cs[0].metadata()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}
