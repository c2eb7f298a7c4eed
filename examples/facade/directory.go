package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/debezium"
	"github.com/fhirsync/fhirsync/terminology"
)

// servedTypes are the resource types the provider mapping produces.
var servedTypes = []string{"Practitioner", "Organization", "Location", "PractitionerRole", "OrganizationAffiliation"}

// table is the provider table, as the catalog names it.
type table struct {
	schema, name string // pg_namespace.nspname, pg_class.relname
	npiColumn    string // the NPI column's real name
	npiType      string // its type, format_type()
	replIdent    string // pg_class.relreplident: d, n, f or i
	identCols    []string
}

// ident returns the quoted schema.table.
func (t *table) ident() string { return quoteIdent(t.schema) + "." + quoteIdent(t.name) }

// String returns schema.table (the operator's names: no PHI).
func (t *table) String() string { return t.schema + "." + t.name }

// directory answers reads from the provider table and keeps the id index.
type directory struct {
	db     *pool
	tab    table
	cols   fhirmap.ColumnMap
	mapper *fhirmap.ProviderMapper
	ids    *index
	log    *slog.Logger

	// conv maps a change event as a sync service would.
	conv *debezium.ProviderConverter

	// invalidate drops a cache entry (Facade.Invalidate); set once the
	// Facade exists, used when a TRUNCATE rebuilds the index.
	invalidate func(resourceType, id string)

	selectAll, selectNPI string

	// rebuild is held for reading by per-NPI refreshes and for writing by a
	// whole rebuild; locks serialize the refreshes of one NPI, so the last
	// to read the table is the last to write the index.
	rebuild sync.RWMutex
	locks   [64]sync.Mutex

	badRowsLogged atomic.Int64
}

// lookupTable resolves name ("table" or "schema.table") in the catalog and
// finds the NPI column.
func lookupTable(ctx context.Context, db *pool, name, npiColumn string) (table, error) {
	var t table
	err := db.with(ctx, func(c *pgx.Conn) error {
		var ok bool
		if err := c.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return nil
		}
		err := c.QueryRow(ctx, `
			SELECT n.nspname, c.relname, c.relreplident::text,
			       coalesce((SELECT array_agg(a.attname::text) FROM pg_index i
			                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
			                 WHERE i.indrelid = c.oid
			                   AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))), '{}')
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.oid = to_regclass($1)`, name).Scan(&t.schema, &t.name, &t.replIdent, &t.identCols)
		if err != nil {
			return err
		}
		rows, err := c.Query(ctx, `SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
			WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var col, typ string
			if err := rows.Scan(&col, &typ); err != nil {
				return err
			}
			if col == npiColumn || (t.npiColumn == "" && strings.EqualFold(col, strings.TrimSpace(npiColumn))) {
				t.npiColumn, t.npiType = col, typ
			}
		}
		return rows.Err()
	})
	if err != nil {
		return t, wrapDB("catalog lookup", err)
	}
	switch {
	case t.name == "":
		return t, fmt.Errorf("table %q not found (give -table schema.table, or check the search path)", name)
	case t.npiColumn == "":
		return t, fmt.Errorf("table %s has no NPI column %q (see -columns)", t.String(), npiColumn)
	}
	return t, nil
}

// identityCoversNPI reports whether delete events name the NPI: REPLICA
// IDENTITY FULL, or an identity (primary key or index) that includes it.
func (t *table) identityCoversNPI() bool {
	if t.replIdent == "f" {
		return true
	}
	for _, c := range t.identCols {
		if c == t.npiColumn {
			return true
		}
	}
	return false
}

func newDirectory(db *pool, tab table, cols fhirmap.ColumnMap, mapper *fhirmap.ProviderMapper, log *slog.Logger) *directory {
	d := &directory{db: db, tab: tab, cols: cols, mapper: mapper, ids: newIndex(), log: log}
	d.conv = debezium.NewProviderConverter(mapper, &debezium.ProviderConverterOptions{Columns: &d.cols})
	// Rows travel as JSON (to_jsonb), the shape the change stream gives
	// them too, so a row reads the same through either path.
	d.selectAll = `SELECT to_jsonb(t) FROM ` + tab.ident() + ` t`
	d.selectNPI = d.selectAll + ` WHERE t.` + quoteIdent(tab.npiColumn) + ` = $1::text::` + tab.npiType
	return d
}

// wrapDB wraps a database failure as a *dbError (once), keeping context
// errors as they are.
func wrapDB(op string, err error) error {
	var de *dbError
	if err == nil || errors.As(err, &de) {
		return err
	}
	return &dbError{op: op, err: err}
}

// errRowJSON replaces a JSON decoding error, whose text can quote the row.
var errRowJSON = errors.New("facade: a row's JSON does not decode")

// rowFromJSON reads one row (to_jsonb) through the ColumnMap.
func (d *directory) rowFromJSON(b []byte) (*fhirmap.ProviderRow, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, errRowJSON
	}
	return fhirmap.ProviderRowFromMap(m, &d.cols)
}

// badRow logs a row that does not map: its error only (a *fhirmap.ProviderError
// logs column names and FHIR paths, never a value), and only the first
// hundred times, since every read of the row meets it again.
func (d *directory) badRow(ctx context.Context, err error) {
	if d.badRowsLogged.Add(1) > 100 {
		return
	}
	d.log.LogAttrs(ctx, slog.LevelWarn, "facade: a row does not map; its resources are not served", slog.Any("error", err))
}

// resourcesOf selects the rows of npi and maps them.
func (d *directory) resourcesOf(ctx context.Context, npi string) ([]proto.Message, error) {
	var bodies [][]byte
	err := d.db.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, d.selectNPI, npi)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			bodies = append(bodies, bytes.Clone(rows.RawValues()[0]))
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrapDB("select", err)
	}
	var out []proto.Message
	for _, b := range bodies {
		row, err := d.rowFromJSON(b)
		if err != nil {
			d.badRow(ctx, err)
			continue
		}
		res, err := d.mapper.MapRow(ctx, row)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			d.badRow(ctx, err)
			continue
		}
		out = append(out, res.Resources...)
	}
	return out, nil
}

// keysOf returns the "Type/id" keys of resources.
func keysOf(res []proto.Message) []string {
	keys := make([]string, 0, len(res))
	for _, r := range res {
		if k, err := resource.Key(r); err == nil {
			keys = append(keys, k)
		}
	}
	return keys
}

// fetch is the Facade's FetchFunc: the NPIs the index gives for the id,
// their rows mapped, the resource picked out.
func (d *directory) fetch(ctx context.Context, resourceType, id string) (proto.Message, error) {
	// A key several NPIs share is produced alike by each; a few are tried
	// in case the index runs ahead of, or behind, the table.
	for _, npi := range d.ids.npis(resourceType+"/"+id, 3) {
		res, err := d.resourcesOf(ctx, npi)
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			if resource.Type(r) == resourceType && resource.ID(r) == id {
				return r, nil
			}
		}
	}
	return nil, fhirsync.ErrNotFound
}

// errUnsupportedSearch is a search this service cannot answer.
var errUnsupportedSearch = errors.New("facade: only identifier searches (the NPI) are supported")

// maxSearchNPIs bounds the NPIs of one search.
const maxSearchNPIs = 50

// searchNPIs returns the NPIs a search asks for: the values of identifier
// (token search: system|value, or a bare value), comma-separated values
// ORed; a value of another system matches nothing. Only identifier and
// _format are accepted.
func searchNPIs(params url.Values) ([]string, error) {
	if _, ok := params["identifier"]; !ok {
		return nil, errUnsupportedSearch
	}
	for k := range params {
		if k != "identifier" && k != "_format" {
			return nil, errUnsupportedSearch
		}
	}
	var npis []string
	seen := map[string]bool{}
	for _, v := range params["identifier"] {
		for tok := range strings.SplitSeq(v, ",") {
			npi := tok
			if sys, val, ok := strings.Cut(tok, "|"); ok {
				if sys != terminology.SystemNPI {
					continue
				}
				npi = val
			}
			npi = strings.TrimSpace(npi)
			if npi == "" || seen[npi] {
				continue
			}
			seen[npi] = true
			npis = append(npis, npi)
		}
	}
	if len(npis) > maxSearchNPIs {
		return nil, fmt.Errorf("%w: at most %d values", errUnsupportedSearch, maxSearchNPIs)
	}
	return npis, nil
}

// search is the Facade's SearchFunc: the rows of each NPI asked for,
// mapped, and the resources of the type asked for. Practitioner and
// Organization must carry the NPI; the other types carry none, and answer
// what the NPI's rows produce.
func (d *directory) search(ctx context.Context, resourceType string, params url.Values) ([]proto.Message, error) {
	npis, err := searchNPIs(params)
	if err != nil {
		return nil, err
	}
	var out []proto.Message
	seen := map[string]bool{}
	for _, npi := range npis {
		res, err := d.resourcesOf(ctx, npi)
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			if resource.Type(r) != resourceType {
				continue
			}
			if (resourceType == "Practitioner" || resourceType == "Organization") && !hasNPI(r, npi) {
				continue
			}
			k, err := resource.Key(r)
			if err != nil || seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// hasNPI reports whether r carries the NPI identifier npi.
func hasNPI(r proto.Message, npi string) bool {
	for _, id := range resource.Identifiers(r) {
		if id.System == terminology.SystemNPI && strings.TrimSpace(id.Value) == npi {
			return true
		}
	}
	return false
}

// buildStats are the counts of a build.
type buildStats struct {
	rows, unmapped, noNPI int64
}

// build reads every row, maps it and returns the index of their ids. The
// rows are mapped on every core.
func (d *directory) build(ctx context.Context) (*index, buildStats, error) {
	type result struct {
		npi  string
		keys []string
	}
	var st buildStats
	var unmapped, noNPI atomic.Int64
	bodies := make(chan []byte, 256)
	results := make(chan result, 256)
	var workers sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		workers.Go(func() {
			for b := range bodies {
				row, err := d.rowFromJSON(b)
				if err != nil {
					unmapped.Add(1)
					d.badRow(ctx, err)
					continue
				}
				npi := strings.TrimSpace(row.NPI)
				if npi == "" {
					noNPI.Add(1)
					continue
				}
				res, err := d.mapper.MapRow(ctx, row)
				if err != nil {
					unmapped.Add(1)
					if ctx.Err() == nil {
						d.badRow(ctx, err)
					}
					continue
				}
				results <- result{npi: npi, keys: keysOf(res.Resources)}
			}
		})
	}
	byNPI := map[string][]string{}
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for r := range results {
			byNPI[r.npi] = append(byNPI[r.npi], r.keys...)
		}
	}()
	err := d.db.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, d.selectAll)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			st.rows++
			select {
			case bodies <- bytes.Clone(rows.RawValues()[0]):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return rows.Err()
	})
	close(bodies)
	workers.Wait()
	close(results)
	<-collected
	if err != nil {
		return nil, st, wrapDB("scan", err)
	}
	x := newIndex()
	for npi, keys := range byNPI {
		x.set(npi, keys)
	}
	st.unmapped, st.noNPI = unmapped.Load(), noNPI.Load()
	return x, st, nil
}

// load builds the index at start-up.
func (d *directory) load(ctx context.Context) error {
	start := time.Now()
	x, st, err := d.build(ctx)
	if err != nil {
		return err
	}
	d.ids.replace(x)
	npis, keys := d.ids.size()
	d.log.LogAttrs(ctx, slog.LevelInfo, "facade: index built",
		slog.String("table", d.tab.String()), slog.Int64("rows", st.rows), slog.Int("npis", npis), slog.Int("ids", keys),
		slog.Int64("rows_unmapped", st.unmapped), slog.Int64("rows_without_npi", st.noNPI),
		slog.Duration("took", time.Since(start)))
	return nil
}

// refresh re-reads the rows of npi, sets its keys in the index, and
// returns the keys it had and has.
func (d *directory) refresh(ctx context.Context, npi string) (old, cur []string, err error) {
	d.rebuild.RLock()
	defer d.rebuild.RUnlock()
	h := fnv.New32a()
	_, _ = h.Write([]byte(npi))
	l := &d.locks[h.Sum32()%uint32(len(d.locks))]
	l.Lock()
	defer l.Unlock()
	res, err := d.resourcesOf(ctx, npi)
	if err != nil {
		return nil, nil, err
	}
	cur = keysOf(res)
	return d.ids.set(npi, cur), cur, nil
}

// Convert is the change stream's converter (a fhirmap.Converter): for a
// change of the provider table it returns the resources whose cache
// entries must go, for Facade.Sink. Those are the change's own resources
// (debezium.ProviderConverter: what a sync service would write) and every
// resource the NPIs of its before and after images had or have, after
// their rows are read again and the index updated. Only a database failure
// is an error (retried by fhirsync.Run: see retryable).
func (d *directory) Convert(ctx context.Context, m *source.Message) ([]proto.Message, error) {
	e, err := debezium.Decode(m.Body, nil)
	if err != nil {
		// *debezium.Error names offsets and paths, never values.
		d.log.LogAttrs(ctx, slog.LevelWarn, "facade: change event not understood; its resources stay cached until -ttl",
			slog.String("message", m.ID), slog.String("error", err.Error()))
		return nil, nil
	}
	if e.Tombstone || e.Op == debezium.OpMessage || e.Source.Schema != d.tab.schema || e.Source.Table != d.tab.name {
		return nil, nil // no row change, or another table of the publication
	}
	// The change is read again from the table: wait until the table shows
	// it, or the read (and a client's read after the invalidation) could
	// still see the row before it.
	xid, _ := strconv.ParseInt(e.Source.TxID, 10, 64)
	if err := d.waitVisible(ctx, xid); err != nil {
		return nil, err
	}
	if e.Op == debezium.OpTruncate {
		return nil, d.truncated(ctx)
	}
	var out []proto.Message
	seen := map[string]bool{}
	add := func(r proto.Message) {
		if k, err := resource.Key(r); err == nil && !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	// A row that does not map is no reason to keep anything cached: the
	// converter's error is only logged.
	own, err := d.conv.Convert(ctx, m)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		d.log.LogAttrs(ctx, slog.LevelDebug, "facade: the change does not map", slog.String("message", m.ID), slog.String("error", err.Error()))
	}
	for _, r := range own {
		add(r)
	}
	npis := d.changeNPIs(e)
	if len(npis) == 0 {
		d.log.LogAttrs(ctx, slog.LevelWarn, "facade: change names no NPI (a delete under REPLICA IDENTITY DEFAULT?); its resources stay cached until -ttl",
			slog.String("message", m.ID), slog.String("op", string(e.Op)))
	}
	for _, npi := range npis {
		old, cur, err := d.refresh(ctx, npi)
		if err != nil {
			return nil, err
		}
		for _, k := range append(old, cur...) {
			if !seen[k] {
				if r := stub(k); r != nil {
					add(r)
				}
			}
		}
	}
	return out, nil
}

// truncated rebuilds the whole index after a TRUNCATE and drops every
// cache entry it knew or knows.
func (d *directory) truncated(ctx context.Context) error {
	d.rebuild.Lock()
	defer d.rebuild.Unlock()
	x, st, err := d.build(ctx)
	if err != nil {
		return err
	}
	old := d.ids.keys()
	d.ids.replace(x)
	for _, k := range append(old, d.ids.keys()...) {
		if t, id, ok := strings.Cut(k, "/"); ok {
			d.invalidate(t, id)
		}
	}
	d.log.LogAttrs(ctx, slog.LevelInfo, "facade: table truncated, index rebuilt", slog.Int64("rows", st.rows), slog.Int("ids_dropped", len(old)))
	return nil
}

// stub returns an empty resource of key's type with key's id: all the
// Facade's Sink looks at.
func stub(key string) proto.Message {
	t, id, ok := strings.Cut(key, "/")
	if !ok {
		return nil
	}
	r, err := resource.New(t)
	if err != nil || resource.SetID(r, id) != nil {
		return nil
	}
	return r
}

// changeNPIs returns the NPIs of a change's before and after images.
func (d *directory) changeNPIs(ch *debezium.Event) []string {
	only := fhirmap.ColumnMap{NPI: d.cols.NPI} // read the NPI alone: another bad cell must not hide it
	var out []string
	for _, img := range []map[string]any{ch.Before, ch.After} {
		if img == nil {
			continue
		}
		row, err := fhirmap.ProviderRowFromMap(img, &only)
		if err != nil {
			continue
		}
		if npi := strings.TrimSpace(row.NPI); npi != "" && (len(out) == 0 || out[0] != npi) {
			out = append(out, npi)
		}
	}
	return out
}

// visibleSQL reports whether the transaction with 32-bit id $1 is visible
// to the statement's snapshot. The id is widened to the 64-bit txid
// nearest the snapshot's xmax (ids in use are within 2^31 of each other);
// an id at or above xmax is still running, so not visible.
// txid_current_snapshot and txid_visible_in_snapshot exist since Postgres
// 8.3 (pg_current_snapshot and pg_visible_in_snapshot since 13).
const visibleSQL = `SELECT txid_visible_in_snapshot(greatest(0,
	m + CASE WHEN d > 2147483648 THEN d - 4294967296 WHEN d < -2147483648 THEN d + 4294967296 ELSE d END), s)
	FROM (SELECT s, m, $1::bigint - (m & 4294967295) AS d
	      FROM (SELECT s, txid_snapshot_xmax(s) AS m FROM (SELECT txid_current_snapshot() AS s) a) b) c`

// maxVisibleWait bounds the wait for a change to become visible.
const maxVisibleWait = 10 * time.Second

// waitVisible waits until transaction xid (a change event's source.txId)
// is visible to new snapshots. Logical decoding sends a transaction once
// its commit record is flushed, which is a moment before the committing
// session leaves the proc array and other sessions see its rows: a read
// of the table in between would miss the change, and a cache entry filled
// then would stay stale for its TTL.
func (d *directory) waitVisible(ctx context.Context, xid int64) error {
	if xid <= 0 {
		return nil
	}
	deadline := time.Now().Add(maxVisibleWait)
	delay := 500 * time.Microsecond
	for {
		var visible bool
		err := d.db.with(ctx, func(c *pgx.Conn) error { return c.QueryRow(ctx, visibleSQL, xid).Scan(&visible) })
		if err != nil {
			return wrapDB("visibility check", err)
		}
		if visible {
			return nil
		}
		if time.Now().After(deadline) {
			d.log.LogAttrs(ctx, slog.LevelWarn, "facade: a change's transaction is still not visible; reading the table anyway",
				slog.Int64("xid", xid), slog.Duration("waited", maxVisibleWait))
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 20*time.Millisecond)
	}
}
