package pgsource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/pgsource"
	"github.com/jackc/pglogrepl"
)

// event is a change event body, its images kept as raw JSON.
type event struct {
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Op     string          `json:"op"`
	TsMs   int64           `json:"ts_ms"`
	Source struct {
		Connector string `json:"connector"`
		DB        string `json:"db"`
		Schema    string `json:"schema"`
		Table     string `json:"table"`
		TxID      uint32 `json:"txId"`
		LSN       uint64 `json:"lsn"`
		TsMs      int64  `json:"ts_ms"`
	} `json:"source"`
}

func decodeEvent(t testing.TB, m *source.Message) event {
	t.Helper()
	var ev event
	if !json.Valid(m.Body) {
		t.Fatalf("message %s: body is not valid JSON", m.ID)
	}
	if err := json.Unmarshal(m.Body, &ev); err != nil {
		t.Fatalf("message %s: %v", m.ID, err)
	}
	return ev
}

// readN reads until n messages arrived.
func readN(ctx context.Context, t testing.TB, src source.Source, n int) []*source.Message {
	t.Helper()
	var out []*source.Message
	for len(out) < n {
		ms, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("Read after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, ms...)
	}
	if len(out) > n {
		t.Fatalf("read %d messages, want %d", len(out), n)
	}
	return out
}

// expectEmpty checks that nothing is delivered before a short deadline.
func expectEmpty(ctx context.Context, t testing.TB, src source.Source) {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	ms, err := src.Read(rctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = m.ID
		}
		t.Fatalf("Read = %v, %v; want nothing (context.DeadlineExceeded)", ids, err)
	}
}

func ackAll(ctx context.Context, t testing.TB, ms []*source.Message) {
	t.Helper()
	for _, m := range ms {
		if err := m.Ack(ctx); err != nil {
			t.Fatalf("Ack(%s): %v", m.ID, err)
		}
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestTypes checks that each type's value reaches the body as the exact
// JSON the package doc promises, in column order.
func TestTypes(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, `id int PRIMARY KEY, t text, vc varchar(10), ch char(4), i2 smallint, i4 int, i8 bigint,
		n numeric, n2 numeric(10,2), b bool, f8 float8, f8e float8, f4 real, fnan float8,
		ts timestamptz, tsn timestamp, d date, tinf timestamptz, dinf date,
		j jsonb, js json, ia int[], ta text[], ia2 int[][], na numeric[], tsa timestamptz[], ea int[],
		u uuid, by bytea, iv interval, nul text`, true)
	f.exec(ctx, `INSERT INTO `+f.table+` VALUES (1, E'Zo\u00eb "q" \\ \n\ttab', 'abc', 'ab', -32768, 2147483647, 9223372036854775807,
		12345678901234567890.123456789012, 12.5, true, 0.1, 1e100, 0.1, 'NaN',
		'2024-03-01 12:30:00.123456+02', '2024-03-01 12:30:00.5', '2024-02-29', 'infinity', '-infinity',
		'{"b": [1, 2.50, null], "a": 12345678901234567890}', '{"z":1, "a" : 2}', '{1,2,NULL}',
		ARRAY['a','b c',NULL,'"q"',''], '{{1,2},{3,4}}', '{1.5,NaN}', '{"2024-01-02 03:04:05+00"}', '{}',
		'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\xdeadbeef', '1 day 02:03:04', NULL)`)
	src := f.open(ctx, nil)
	m := readN(ctx, t, src, 1)[0]
	ev := decodeEvent(t, m)
	want := `{"id":1,"t":"Zoë \"q\" \\ \n\ttab","vc":"abc","ch":"ab  ","i2":-32768,"i4":2147483647,"i8":9223372036854775807,` +
		`"n":"12345678901234567890.123456789012","n2":"12.50","b":true,"f8":0.1,"f8e":1e+100,"f4":0.1,"fnan":"NaN",` +
		`"ts":"2024-03-01T10:30:00.123456Z","tsn":"2024-03-01T12:30:00.5","d":"2024-02-29","tinf":"infinity","dinf":"-infinity",` +
		`"j":{"a":12345678901234567890,"b":[1,2.50,null]},"js":{"z":1,"a":2},"ia":[1,2,null],` +
		`"ta":["a","b c",null,"\"q\"",""],"ia2":[[1,2],[3,4]],"na":["1.5","NaN"],"tsa":["2024-01-02T03:04:05Z"],"ea":[],` +
		`"u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","by":"3q2+7w==","iv":"P1DT2H3M4S","nul":null}`
	if string(ev.After) != want {
		t.Errorf("after =\n%s\nwant\n%s", ev.After, want)
	}
	if string(ev.Before) != "null" || ev.Op != "c" {
		t.Errorf("before = %s, op = %q; want null, c", ev.Before, ev.Op)
	}
	if ev.Source.Connector != "postgresql" || ev.Source.DB != pg.dbName || ev.Source.Schema != f.name || ev.Source.Table != "tab" ||
		ev.Source.TxID == 0 || ev.Source.LSN == 0 || ev.Source.TsMs == 0 || ev.TsMs < ev.Source.TsMs {
		t.Errorf("source block = %+v, ts_ms %d", ev.Source, ev.TsMs)
	}
	// The 64-bit integers survive a decoder that keeps numbers exact.
	dec := json.NewDecoder(bytes.NewReader(ev.After))
	dec.UseNumber()
	var after map[string]any
	if err := dec.Decode(&after); err != nil {
		t.Fatal(err)
	}
	if after["i8"] != json.Number("9223372036854775807") {
		t.Errorf("i8 = %v", after["i8"])
	}
	// As exposes the same values.
	var ch *pgsource.Change
	if !m.As(&ch) {
		t.Fatal("As(**Change) = false")
	}
	if ch.After["n"] != "12345678901234567890.123456789012" || ch.After["b"] != true || ch.After["nul"] != nil || ch.Before != nil {
		t.Errorf("Change.After = %v, Before = %v", ch.After, ch.Before)
	}
	var native pglogrepl.Message
	if !m.As(&native) {
		t.Fatal("As(*pglogrepl.Message) = false")
	}
	if _, ok := native.(*pglogrepl.InsertMessage); !ok {
		t.Errorf("native message is %T, want *pglogrepl.InsertMessage", native)
	}
	if m.As(new(string)) {
		t.Error("As(*string) = true")
	}
	ackAll(ctx, t, []*source.Message{m})
}

// TestFullIdentity follows one row through insert, update and delete with
// REPLICA IDENTITY FULL, in one transaction, and checks IDs and Metadata.
func TestFullIdentity(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY, name text, big text", true)
	f.exec(ctx, "ALTER TABLE "+f.table+" ALTER COLUMN big SET STORAGE EXTERNAL")
	big := strings.Repeat("0123456789abcdef", 1024) // 16 KiB: stored out of line (TOAST)
	f.tx(ctx,
		"INSERT INTO "+f.table+" VALUES (1, 'Ann', '"+big+"')",
		"UPDATE "+f.table+" SET name = 'Bea' WHERE id = 1",
		"DELETE FROM "+f.table+" WHERE id = 1")
	src := f.open(ctx, nil)
	ms := readN(ctx, t, src, 3)
	bigJSON := `"` + big + `"`
	cases := []struct{ op, before, after string }{
		{"c", `null`, `{"id":1,"name":"Ann","big":` + bigJSON + `}`},
		{"u", `{"id":1,"name":"Ann","big":` + bigJSON + `}`, `{"id":1,"name":"Bea","big":` + bigJSON + `}`},
		{"d", `{"id":1,"name":"Bea","big":` + bigJSON + `}`, `null`},
	}
	var commit string
	for i, c := range cases {
		m := ms[i]
		ev := decodeEvent(t, m)
		if ev.Op != c.op || string(ev.Before) != c.before || string(ev.After) != c.after {
			t.Errorf("change %d: op %s\nbefore %.80s\nafter %.80s\nwant op %s\nbefore %.80s\nafter %.80s", i, ev.Op, ev.Before, ev.After, c.op, c.before, c.after)
		}
		lsn := pglogrepl.LSN(ev.Source.LSN).String()
		cl, ord, ok := strings.Cut(m.ID, "#")
		if !ok || ord != fmt.Sprint(i+1) || (commit != "" && cl != commit) {
			t.Errorf("change %d: ID %q, want <commit LSN>#%d with one commit LSN", i, m.ID, i+1)
		}
		commit = cl
		wantMD := map[string]string{"schema": f.name, "table": "tab", "op": c.op, "lsn": lsn, "commit_lsn": cl}
		if fmt.Sprint(m.Metadata) != fmt.Sprint(wantMD) {
			t.Errorf("change %d: Metadata %v, want %v", i, m.Metadata, wantMD)
		}
	}
	ackAll(ctx, t, ms)
}

// TestDefaultIdentity documents what a table without REPLICA IDENTITY FULL
// gives: no before image of an update, only the key of a deleted row, and
// the placeholder for an unchanged TOASTed value.
func TestDefaultIdentity(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY, name text, big text", false)
	f.exec(ctx, "ALTER TABLE "+f.table+" ALTER COLUMN big SET STORAGE EXTERNAL")
	big := strings.Repeat("0123456789abcdef", 1024)
	f.exec(ctx, "INSERT INTO "+f.table+" VALUES (1, 'Ann', '"+big+"')")
	f.exec(ctx, "UPDATE "+f.table+" SET name = 'Bea' WHERE id = 1")
	f.exec(ctx, "UPDATE "+f.table+" SET id = 2 WHERE id = 1")
	f.exec(ctx, "DELETE FROM "+f.table+" WHERE id = 2")
	src := f.open(ctx, nil)
	ms := readN(ctx, t, src, 4)
	ph := `"` + pgsource.UnavailableValue + `"`
	cases := []struct{ op, before, after string }{
		{"c", `null`, `{"id":1,"name":"Ann","big":"` + big + `"}`},
		{"u", `null`, `{"id":1,"name":"Bea","big":` + ph + `}`},
		{"u", `{"id":1}`, `{"id":2,"name":"Bea","big":` + ph + `}`},
		{"d", `{"id":2}`, `null`},
	}
	for i, c := range cases {
		ev := decodeEvent(t, ms[i])
		if ev.Op != c.op || string(ev.Before) != c.before || string(ev.After) != c.after {
			t.Errorf("change %d: op %s before %.80s after %.80s; want op %s before %.80s after %.80s", i, ev.Op, ev.Before, ev.After, c.op, c.before, c.after)
		}
	}
	ackAll(ctx, t, ms)
}

// TestTruncate: a truncate is a message with op t per table.
func TestTruncate(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY", true)
	f.exec(ctx, "INSERT INTO "+f.table+" VALUES (1)")
	f.exec(ctx, "TRUNCATE "+f.table)
	src := f.open(ctx, nil)
	ms := readN(ctx, t, src, 2)
	ev := decodeEvent(t, ms[1])
	if ev.Op != "t" || string(ev.Before) != "null" || string(ev.After) != "null" || ev.Source.Table != "tab" || ms[1].Metadata["op"] != "t" {
		t.Errorf("truncate event: op %q before %s after %s table %q metadata %v", ev.Op, ev.Before, ev.After, ev.Source.Table, ms[1].Metadata)
	}
	var native pglogrepl.Message
	if !ms[1].As(&native) {
		t.Fatal("As(*pglogrepl.Message) = false")
	}
	if _, ok := native.(*pglogrepl.TruncateMessage); !ok {
		t.Errorf("native message is %T", native)
	}
	ackAll(ctx, t, ms)
}

// TestOutOfOrderAcks: three transactions; acks out of order never let the
// slot's confirmed_flush_lsn pass an unacked change.
func TestOutOfOrderAcks(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY", true)
	start := f.confirmed(ctx)
	ins := func(ids ...int) string {
		vs := make([]string, len(ids))
		for i, id := range ids {
			vs[i] = fmt.Sprintf("INSERT INTO %s VALUES (%d)", f.table, id)
		}
		return strings.Join(vs, "; ")
	}
	f.tx(ctx, ins(1, 2, 3))
	f.tx(ctx, ins(4, 5))
	f.tx(ctx, ins(6))
	src := f.open(ctx, nil)
	ms := readN(ctx, t, src, 6)
	commitOf := func(m *source.Message) pglogrepl.LSN {
		lsn, err := pglogrepl.ParseLSN(m.Metadata["commit_lsn"])
		if err != nil {
			t.Fatal(err)
		}
		return lsn
	}
	tx1, tx2 := commitOf(ms[0]), commitOf(ms[3])
	if commitOf(ms[2]) != tx1 || commitOf(ms[4]) != tx2 || commitOf(ms[5]) <= tx2 || tx2 <= tx1 {
		t.Fatalf("commit LSNs %v, want three transactions of 3, 2 and 1 changes", []string{ms[0].ID, ms[2].ID, ms[3].ID, ms[4].ID, ms[5].ID})
	}

	// Everything but the first change of the first transaction, newest first.
	for i := 5; i >= 1; i-- {
		if err := ms[i].Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.waitStatusUpdates(ctx, 3)
	// A keepalive may move it a little past the start, never past the
	// first commit.
	if got := f.confirmed(ctx); got < start || got > tx1 {
		t.Fatalf("confirmed_flush_lsn = %s with the first change unacked, want from %s (the start) to the first commit %s", got, start, tx1)
	}

	// Nack a change of the last transaction in a second Source later; here
	// ack the first: all three transactions are complete.
	if err := ms[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	f.waitConfirmed(ctx, "passed the last transaction's commit", func(l pglogrepl.LSN) bool { return l > commitOf(ms[5]) })

	// Now the middle transaction stays unacked while the others are acked.
	f.tx(ctx, ins(7, 8))
	f.tx(ctx, ins(9, 10))
	f.tx(ctx, ins(11))
	ms = readN(ctx, t, src, 5)
	tx1, tx2 = commitOf(ms[0]), commitOf(ms[2])
	for _, i := range []int{4, 1, 3, 0} { // all but ms[2], the first of the middle transaction
		if err := ms[i].Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := f.waitConfirmed(ctx, "passed the first transaction's commit", func(l pglogrepl.LSN) bool { return l > tx1 })
	f.waitStatusUpdates(ctx, 3)
	if got = f.confirmed(ctx); got <= tx1 || got > tx2 {
		t.Fatalf("confirmed_flush_lsn = %s, want the end of the first transaction: after its commit %s, not past the unacked one's commit %s", got, tx1, tx2)
	}
}

// TestRestartResumes: a new Source resumes from the confirmed position; a
// nacked change comes again with its transaction.
func TestRestartResumes(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY, note text", true)
	for i := 1; i <= 3; i++ {
		f.exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (%d, 'n%d')", f.table, i, i))
	}
	src := f.open(ctx, nil)
	ms := readN(ctx, t, src, 3)
	ackAll(ctx, t, ms[:2])
	if err := ms[2].Nack(ctx, errors.New("sink unavailable")); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ms[0].Ack(ctx); !errors.Is(err, source.ErrSettled) {
		t.Errorf("Ack after Ack = %v, want ErrSettled", err)
	}

	src = f.open(ctx, nil)
	again := readN(ctx, t, src, 1)
	if again[0].ID != ms[2].ID || string(again[0].Body[:strings.Index(string(again[0].Body), `"source"`)]) != string(ms[2].Body[:strings.Index(string(ms[2].Body), `"source"`)]) {
		t.Errorf("after a restart got %s, want the nacked %s again, same ID and images", again[0].ID, ms[2].ID)
	}
	expectEmpty(ctx, t, src)
	f.exec(ctx, "INSERT INTO "+f.table+" VALUES (4, 'n4')")
	next := readN(ctx, t, src, 1)
	ackAll(ctx, t, append(again, next...))
	if err := src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// An ack after Close does not count, says so, and the change comes again.
	f.exec(ctx, "INSERT INTO "+f.table+" VALUES (5, 'n5')")
	src = f.open(ctx, nil)
	late := readN(ctx, t, src, 1)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := late[0].Ack(ctx); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Ack after Close = %v, want an error wrapping source.ErrClosed", err)
	}
	if _, err := src.Read(ctx); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Read after Close = %v, want source.ErrClosed", err)
	}
	src = f.open(ctx, nil)
	if got := readN(ctx, t, src, 1); got[0].ID != late[0].ID {
		t.Errorf("after an ack after Close got %s, want %s again", got[0].ID, late[0].ID)
	} else {
		ackAll(ctx, t, got)
	}
}

// TestNackRedelivers: a nacked change comes again from the same Source
// (same ID and images), and nothing past it is confirmed until it is acked;
// then the slot moves on. A nack must not pin the slot (and the server's
// WAL) until the Source is restarted: the engine nacks and keeps running.
func TestNackRedelivers(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY, note text", true)
	start := f.confirmed(ctx)
	f.tx(ctx, "INSERT INTO "+f.table+" VALUES (1, 'n1')", "INSERT INTO "+f.table+" VALUES (2, 'n2')")
	f.exec(ctx, "INSERT INTO "+f.table+" VALUES (3, 'n3')")
	src := f.open(ctx, nil)
	ms := readN(ctx, t, src, 3)
	if err := ms[1].Nack(ctx, errors.New("sink unavailable")); err != nil {
		t.Fatal(err)
	}
	ackAll(ctx, t, []*source.Message{ms[0], ms[2]})

	first, err := pglogrepl.ParseLSN(ms[0].Metadata["commit_lsn"])
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		again := readN(ctx, t, src, 1)
		if again[0].ID != ms[1].ID || !bytes.Equal(again[0].Body, ms[1].Body) {
			t.Fatalf("round %d: got %s, want the nacked %s again with the same body", round, again[0].ID, ms[1].ID)
		}
		f.waitStatusUpdates(ctx, 2)
		if got := f.confirmed(ctx); got < start || got > first {
			t.Fatalf("confirmed_flush_lsn = %s while a change of the first transaction is unacked, want from %s (the start) to its commit %s", got, start, first)
		}
		if round == 0 {
			if err := again[0].Nack(ctx, errors.New("sink unavailable")); err != nil {
				t.Fatal(err)
			}
			continue
		}
		ackAll(ctx, t, again)
	}
	commit, err := pglogrepl.ParseLSN(ms[2].Metadata["commit_lsn"])
	if err != nil {
		t.Fatal(err)
	}
	f.waitConfirmed(ctx, "passed the last transaction once the nacked change was acked", func(l pglogrepl.LSN) bool { return l > commit })
	expectEmpty(ctx, t, src)
}

// TestIdleHeartbeat: with everything acked, WAL written for other tables
// does not stay pinned by the slot: the confirmed position follows the
// server's keepalives.
func TestIdleHeartbeat(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY", true)
	f.exec(ctx, "CREATE TABLE "+f.name+".other (id int)")
	f.exec(ctx, "INSERT INTO "+f.table+" VALUES (1)")
	src := f.open(ctx, nil)
	ackAll(ctx, t, readN(ctx, t, src, 1))
	f.exec(ctx, "INSERT INTO "+f.name+".other SELECT generate_series(1, 100)")
	var s string
	if err := f.db.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
		t.Fatal(err)
	}
	walNow, _ := pglogrepl.ParseLSN(s)
	f.waitConfirmed(ctx, "followed WAL of an unpublished table", func(l pglogrepl.LSN) bool { return l >= walNow })
	expectEmpty(ctx, t, src)
}

// TestCreateSlotAndPublication: Open creates what is missing; a temporary
// slot disappears with its Source.
func TestCreateSlotAndPublication(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY, note text", true)
	for _, temporary := range []bool{false, true} {
		t.Run(fmt.Sprintf("temporary=%v", temporary), func(t *testing.T) {
			name := "pgs_new_" + randomHex(4)
			t.Cleanup(func() {
				ctx := context.Background()
				_, _ = f.db.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, name)
				_, _ = f.db.Exec(ctx, "DROP PUBLICATION IF EXISTS "+name)
			})
			opts := &pgsource.Options{StatusInterval: f.status, Logger: slog.New(slog.NewTextHandler(f.logs, nil))}
			if _, err := pgsource.Open(ctx, f.url, name, name, opts); !errors.Is(err, pgsource.ErrNoPublication) {
				t.Fatalf("Open without publication = %v, want ErrNoPublication", err)
			}
			opts.CreatePublication, opts.PublicationTables = true, []string{f.table}
			if _, err := pgsource.Open(ctx, f.url, name, name, opts); !errors.Is(err, pgsource.ErrNoSlot) {
				t.Fatalf("Open without slot = %v, want ErrNoSlot", err)
			}
			opts.CreateSlot, opts.TemporarySlot = true, temporary
			src, err := pgsource.Open(ctx, f.url, name, name, opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { _ = src.Close() })
			var tmp bool
			if err := f.db.QueryRow(ctx, "SELECT temporary FROM pg_replication_slots WHERE slot_name = $1", name).Scan(&tmp); err != nil || tmp != temporary {
				t.Fatalf("slot temporary = %v, %v; want %v", tmp, err, temporary)
			}
			f.exec(ctx, "INSERT INTO "+f.table+" VALUES ($1, 'x')", map[bool]int{false: 1, true: 2}[temporary])
			ackAll(ctx, t, readN(ctx, t, src, 1))
			if err := src.Close(); err != nil {
				t.Fatal(err)
			}
			// The server drops a temporary slot when the walsender exits,
			// just after Close.
			want := map[bool]int{false: 1, true: 0}[temporary]
			for {
				var n int
				if err := f.db.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", name).Scan(&n); err != nil {
					t.Fatalf("%d slots named %s after Close, want %d (%v)", n, name, want, err)
				}
				if n == want {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY", true)
	f.exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'test_decoding')", f.name+"_td")
	t.Cleanup(func() {
		_, _ = f.db.Exec(context.Background(), "SELECT pg_drop_replication_slot($1)", f.name+"_td")
	})
	cases := []struct {
		name, slot, pub string
		want            error
	}{
		{"bad slot name", "Bad-Name", f.name, pgsource.ErrInvalidName},
		{"empty publication", f.name, "", pgsource.ErrInvalidName},
		{"other plugin", f.name + "_td", f.name, pgsource.ErrSlotMismatch},
		{"missing slot", f.name + "_missing", f.name, pgsource.ErrNoSlot},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := pgsource.Open(ctx, f.url, c.slot, c.pub, nil)
			if !errors.Is(err, c.want) {
				if src != nil {
					_ = src.Close()
				}
				t.Fatalf("Open = %v, want %v", err, c.want)
			}
		})
	}
	if _, err := pgsource.Open(ctx, "postgres://%zz", f.name, f.name, nil); err == nil {
		t.Error("Open with a malformed connection string succeeded")
	}
}

// TestCanary: a PHI value in every column type never reaches an ID,
// Metadata, a log line (the fixture checks the Source's log) or an error.
func TestCanary(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY, name text, tags text[], doc jsonb, n numeric", true)
	f.exec(ctx, `INSERT INTO `+f.table+` VALUES (1, $1, ARRAY[$1], jsonb_build_object('n', $1::text), 1)`, canary)
	f.exec(ctx, `UPDATE `+f.table+` SET name = $1 || '2'`, canary)
	f.exec(ctx, `DELETE FROM `+f.table)
	src := f.open(ctx, nil)
	ms := readN(ctx, t, src, 3)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	for _, m := range ms {
		if !bytes.Contains(m.Body, []byte(canary)) {
			t.Errorf("message %s: body lacks the canary (the test is not testing)", m.ID)
		}
		var ch *pgsource.Change
		m.As(&ch)
		logger.Info("change", "message", m, "change", ch)
		for k, v := range m.Metadata {
			if strings.Contains(k+v, canary) {
				t.Errorf("Metadata %s=%s holds the canary", k, v)
			}
		}
		if strings.Contains(m.ID, canary) {
			t.Errorf("ID %s holds the canary", m.ID)
		}
	}
	if strings.Contains(logs.String(), canary) {
		t.Errorf("slog output of Message or Change holds the canary: %s", logs.String())
	}
	ackAll(ctx, t, ms)
	if err := src.Close(); err != nil && strings.Contains(err.Error(), canary) {
		t.Errorf("Close error holds the canary")
	}
}

// TestBackpressure: with a small buffer the stream pauses while nobody
// reads, status updates go on meanwhile, and Read batches are bounded.
func TestBackpressure(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY", true)
	f.exec(ctx, "INSERT INTO "+f.table+" SELECT generate_series(1, 40)")
	src := f.open(ctx, &pgsource.Options{BufferSize: 4, MaxBatch: 3})
	f.waitStatusUpdates(ctx, 3) // heartbeats while the buffer is full and nobody reads
	var ids []string
	for len(ids) < 40 {
		ms, err := src.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) > 3 {
			t.Fatalf("Read returned %d messages, MaxBatch is 3", len(ms))
		}
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		ackAll(ctx, t, ms)
	}
	for i, id := range ids {
		if !strings.HasSuffix(id, fmt.Sprintf("#%d", i+1)) {
			t.Fatalf("message %d has ID %s, want ordinal %d", i, id, i+1)
		}
	}
	f.waitConfirmed(ctx, "passed the transaction", func(l pglogrepl.LSN) bool {
		c, _ := pglogrepl.ParseLSN(strings.Split(ids[0], "#")[0])
		return l > c
	})
}

// TestStreamFailure: with reconnection disabled, when the server ends the
// walsender, Read reports a *StreamError (without row data), settlements
// are refused, Close returns, and a new Source resumes.
func TestStreamFailure(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, "id int PRIMARY KEY, name text", true)
	f.exec(ctx, "INSERT INTO "+f.table+" VALUES (1, $1)", canary)
	src := f.open(ctx, &pgsource.Options{MaxReconnects: -1})
	first := readN(ctx, t, src, 1)
	f.terminateWalsender(ctx)
	_, err := src.Read(ctx)
	var se *pgsource.StreamError
	if !errors.As(err, &se) {
		t.Fatalf("Read after the walsender was terminated = %v, want a *StreamError", err)
	}
	if se.Permanent || se.Attempts != 0 || se.Slot != f.name {
		t.Errorf("StreamError = %+v, want a transient failure of slot %s with no attempt", se, f.name)
	}
	if strings.Contains(err.Error(), canary) {
		t.Errorf("stream error holds the canary")
	}
	if _, again := src.Read(ctx); again == nil || again.Error() != err.Error() {
		t.Errorf("second Read = %v, want the same error %v", again, err)
	}
	if err := first[0].Ack(ctx); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Ack after the stream ended = %v, want an error wrapping source.ErrClosed", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close after a stream failure = %v, want nil (Read reported the failure)", err)
	}
	src2 := f.reopen(ctx, nil)
	again := readN(ctx, t, src2, 1)
	if again[0].ID != first[0].ID {
		t.Errorf("after the failure got %s, want %s again", again[0].ID, first[0].ID)
	}
	ackAll(ctx, t, again)
}
