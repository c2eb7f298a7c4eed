package debezium

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/source"
)

// ErrTruncated reports a truncate event where row changes are mapped: it
// has no row images, so it ends nothing by itself.
var ErrTruncated = errors.New("debezium: table truncated (no row images; reconcile the table)")

// SourceVersion returns the PHI-free source version of the change e that m
// carried, for the stale-update guard ([fhirmap.ProviderChange]
// SourceVersion), as a string that compares in change order:
//
//   - the Postgres LSN of the change (source.lsn), written as
//     [fhirmap.LSNSourceVersion] writes it ("00000000016B3748");
//   - else the message's Kafka offset (Metadata["offset"], set by
//     kafkasource) zero-padded to 20 digits. Offsets compare only within a
//     partition: this holds for the changes of one row, which Debezium
//     keys by primary key into one partition, as long as the topic's
//     partition count does not change;
//   - else "" (no guard).
//
// Versions of one table must all come the same way: do not mix
// connectors, or topics, for one table.
func SourceVersion(m *source.Message, e *Event) string {
	if e != nil {
		if v, ok := e.Source.PostgresLSN(); ok {
			s, err := fhirmap.LSNSourceVersion(fmt.Sprintf("%X/%X", v>>32, v&0xFFFFFFFF))
			if err == nil {
				return s
			}
		}
	}
	if m != nil {
		if off, err := strconv.ParseInt(m.Metadata["offset"], 10, 64); err == nil && off >= 0 {
			return fmt.Sprintf("%020d", off)
		}
	}
	return ""
}

// PostgresLSN returns the Postgres LSN of the change: source.lsn when it is
// a decimal number (Debezium's Postgres connector) or in Postgres' text form
// ("16/B374D848").
func (s Source) PostgresLSN() (uint64, bool) {
	if s.LSN == "" {
		return 0, false
	}
	if hi, lo, ok := strings.Cut(s.LSN, "/"); ok {
		h, err1 := strconv.ParseUint(hi, 16, 32)
		l, err2 := strconv.ParseUint(lo, 16, 32)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		return h<<32 | l, true
	}
	v, err := strconv.ParseUint(s.LSN, 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// ProviderChange returns the change of a provider table row that e
// describes, for [fhirmap.ProviderMapper.MapChange]: its operation, row
// images (shared with e, not copied), the given source version (see
// [SourceVersion]) and the time of the change (source.ts_ms). A tombstone,
// truncate or message event is [ErrNotRowChange].
func (e *Event) ProviderChange(sourceVersion string) (*fhirmap.ProviderChange, error) {
	var op fhirmap.ChangeOp
	switch {
	case e.Tombstone:
		return nil, fmt.Errorf("%w: tombstone", ErrNotRowChange)
	case e.Op == OpCreate:
		op = fhirmap.ChangeCreate
	case e.Op == OpUpdate:
		op = fhirmap.ChangeUpdate
	case e.Op == OpDelete:
		op = fhirmap.ChangeDelete
	case e.Op == OpRead:
		op = fhirmap.ChangeRead
	case e.Op.valid():
		return nil, fmt.Errorf("%w: op %s", ErrNotRowChange, e.Op)
	default:
		return nil, fmt.Errorf("%w: unknown op", ErrNotRowChange)
	}
	return &fhirmap.ProviderChange{
		Op:            op,
		Before:        e.Before,
		After:         e.After,
		SourceVersion: sourceVersion,
		Time:          e.Time(),
	}, nil
}

// ProviderConverterOptions configures a [ProviderConverter]. A nil
// *ProviderConverterOptions means defaults.
type ProviderConverterOptions struct {
	// Columns maps the table's columns (the row images' keys) to provider
	// fields. Nil means fhirmap.DefaultColumnMap.
	Columns *fhirmap.ColumnMap
	// Decode configures the decoding of each message body. Nil means
	// defaults.
	Decode *DecodeOptions
	// Tables, when set, restricts the conversion to the events of these
	// tables, named "table" or "schema.table"; events of other tables
	// produce nothing. Empty means every event.
	Tables []string
	// SourceVersion returns the source version of an event. Nil means
	// [SourceVersion].
	SourceVersion func(m *source.Message, e *Event) string
	// OnResult, when set, is called after each change is mapped. The event
	// holds PHI; the result's issues do not.
	OnResult func(ctx context.Context, e *Event, res *fhirmap.ProviderResult)
}

// ProviderConverter is a [fhirmap.Converter] for Debezium change events of
// a provider directory table: each message body is decoded ([Decode]) and
// its change mapped by a [fhirmap.ProviderMapper] (MapChange) to Plan-Net
// resources. It is safe for concurrent use.
type ProviderConverter struct {
	p    *fhirmap.ProviderMapper
	opts ProviderConverterOptions
}

// NewProviderConverter returns a Converter that maps the provider table
// changes of each message with p.
func NewProviderConverter(p *fhirmap.ProviderMapper, opts *ProviderConverterOptions) *ProviderConverter {
	c := &ProviderConverter{p: p}
	if opts != nil {
		c.opts = *opts
	}
	return c
}

// Convert decodes the message body and maps its change:
//
//   - a create, update, delete or snapshot read returns the resources of
//     [fhirmap.ProviderMapper.MapChange] (a delete ends roles; nothing is
//     deleted from the FHIR server);
//   - a tombstone, a logical decoding message, or an event of a table not
//     in Options.Tables returns nothing and no error;
//   - a truncate returns a [*fhirmap.ConvertError] wrapping
//     [ErrTruncated], so the reject path records it: end the table's roles
//     with fhirmap.ProviderMapper.ReconcileFull;
//   - a body that is not a change event, or a row that cannot be mapped,
//     returns a [*fhirmap.ConvertError] whose one RecordError (record 1)
//     holds the [*Error] or [*fhirmap.ProviderError]. Both are permanent:
//     the engine sends the message to the reject path and acks it.
//
// A cancelled ctx returns ctx's error.
func (c *ProviderConverter) Convert(ctx context.Context, m *source.Message) ([]proto.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	body, err := m.ReadBody() // Body, or a streamed body read whole
	if err != nil {
		return nil, err
	}
	e, err := Decode(body, c.opts.Decode)
	if err != nil {
		pos := fhirmap.Position{Record: 1}
		var de *Error
		if errors.As(err, &de) && de.Offset > 0 {
			pos.Offset = de.Offset
		}
		return nil, &fhirmap.ConvertError{Failed: []fhirmap.RecordError{{Pos: pos, Err: err}}}
	}
	if e.Tombstone || e.Op == OpMessage || !c.wants(e) {
		return nil, nil
	}
	if e.Op == OpTruncate {
		err := fmt.Errorf("%w: %s", ErrTruncated, tableName(e))
		return nil, &fhirmap.ConvertError{Failed: []fhirmap.RecordError{{Pos: fhirmap.Position{Record: 1}, Err: err}}}
	}
	version := ""
	if c.opts.SourceVersion != nil {
		version = c.opts.SourceVersion(m, e)
	} else {
		version = SourceVersion(m, e)
	}
	ch, err := e.ProviderChange(version)
	if err != nil {
		return nil, &fhirmap.ConvertError{Failed: []fhirmap.RecordError{{Pos: fhirmap.Position{Record: 1}, Err: err}}}
	}
	res, err := c.p.MapChange(ctx, ch, c.opts.Columns)
	if err != nil {
		var pe *fhirmap.ProviderError
		if errors.As(err, &pe) {
			return nil, &fhirmap.ConvertError{Failed: []fhirmap.RecordError{{Pos: fhirmap.Position{Record: 1}, Err: err}}}
		}
		return nil, err
	}
	if c.opts.OnResult != nil {
		c.opts.OnResult(ctx, e, res)
	}
	return res.Resources, nil
}

// wants reports whether e's table is one of Options.Tables.
func (c *ProviderConverter) wants(e *Event) bool {
	if len(c.opts.Tables) == 0 {
		return true
	}
	for _, t := range c.opts.Tables {
		if t == e.Source.Table || (e.Source.Schema != "" && t == e.Source.Schema+"."+e.Source.Table) {
			return true
		}
	}
	return false
}

// tableName returns "schema.table", "db.table" or "table".
func tableName(e *Event) string {
	switch {
	case e.Source.Schema != "":
		return e.Source.Schema + "." + e.Source.Table
	case e.Source.DB != "":
		return e.Source.DB + "." + e.Source.Table
	}
	return e.Source.Table
}

var _ fhirmap.Converter = (*ProviderConverter)(nil)
