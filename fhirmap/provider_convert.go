package fhirmap

import (
	"context"
	"errors"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/source"
)

// ProviderCSVConverterOptions configures a [ProviderCSVConverter]. A nil
// *ProviderCSVConverterOptions means defaults.
type ProviderCSVConverterOptions struct {
	// CSV configures the reading of each message body ([ReadProviderCSV]).
	// Nil means its defaults.
	CSV *ProviderCSVOptions
	// SourceName returns the PHI-free name of a message written into the
	// lineage (meta.source) of its resources. Nil means the message's
	// Metadata["file"] when set, else its ID.
	SourceName func(m *source.Message) string
	// SourceVersion returns the PHI-free source version of a message (its
	// extract date or export sequence; see
	// [ProviderMapper.WithSourceVersion]). Nil means none.
	SourceVersion func(m *source.Message) string
	// KeepRepeats keeps every row's copy of the resources that many rows
	// share (the payer, a network, a group practice, a location). By
	// default a resource already returned for an earlier row of the same
	// message, with the same content apart from meta, is returned once.
	KeepRepeats bool
	// OnResult, when set, is called after each row is mapped. The row holds
	// PHI; the result's issues do not.
	OnResult func(ctx context.Context, row *ProviderRow, res *ProviderResult)
}

// ProviderCSVConverter is a [Converter] for provider directory files: each
// message body is a CSV table ([ReadProviderCSV]) whose rows a
// [ProviderMapper] maps one at a time.
type ProviderCSVConverter struct {
	p    *ProviderMapper
	opts ProviderCSVConverterOptions
}

// NewProviderCSVConverter returns a Converter that maps the rows of each
// message with p.
func NewProviderCSVConverter(p *ProviderMapper, opts *ProviderCSVConverterOptions) *ProviderCSVConverter {
	c := &ProviderCSVConverter{p: p}
	if opts != nil {
		c.opts = *opts
	}
	return c
}

// Convert reads the message body as a provider table and maps every row. As
// with [X12Converter.Convert], one bad row never loses the others: the
// resources of the rows that mapped come back with a [*ConvertError] whose
// RecordErrors (Pos.Record = the row number) hold [*ProviderError] values; a
// bad header fails the whole message the same way, as record 0. Both are
// permanent. A cancelled context returns no resources.
func (c *ProviderCSVConverter) Convert(ctx context.Context, msg *source.Message) ([]proto.Message, error) {
	return collect(ctx, c, msg)
}

// ConvertStream implements [StreamConverter]: it converts like Convert and
// emits the resources of each row as soon as it is mapped, so that a table of
// any size is converted in memory bounded by a row.
func (c *ProviderCSVConverter) ConvertStream(ctx context.Context, msg *source.Message, emit func([]proto.Message) error) error {
	name := msg.ID
	switch {
	case c.opts.SourceName != nil:
		name = c.opts.SourceName(msg)
	case msg.Metadata["file"] != "":
		name = msg.Metadata["file"]
	}
	pm := &ProviderMapper{m: c.p.m.WithSourceName(name), opts: c.p.opts, version: c.p.version}
	if c.opts.SourceVersion != nil {
		pm.version = c.opts.SourceVersion(msg)
	}
	var failed []RecordError
	var recent *recentResources
	if !c.opts.KeepRepeats {
		recent = newRecentResources()
	}
	body, err := msg.Open() // a streamed file is read from disk as it is parsed
	if err != nil {
		return err
	}
	defer body.Close()
	br := &bodyReader{r: body}
	for row, err := range ReadProviderCSV(br, c.opts.CSV) {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if br.err != nil {
			// The body failed (a streamed file changed or could not be
			// read): a failure of the message, not of a row.
			return br.err
		}
		if err != nil {
			failed = append(failed, providerRecordError(err))
			continue
		}
		res, err := pm.MapRow(ctx, row)
		if err != nil {
			var pe *ProviderError
			if !errors.As(err, &pe) {
				return err
			}
			failed = append(failed, providerRecordError(err))
			continue
		}
		if c.opts.OnResult != nil {
			c.opts.OnResult(ctx, row, res)
		}
		out, err := recent.filter(res.Resources)
		if err != nil {
			return err
		}
		if len(out) > 0 {
			if err := emit(out); err != nil {
				return err
			}
		}
	}
	if len(failed) > 0 {
		return &ConvertError{Failed: failed}
	}
	return nil
}

// providerRecordError wraps a row's error for a ConvertError.
func providerRecordError(err error) RecordError {
	var pe *ProviderError
	pos := Position{}
	if errors.As(err, &pe) {
		pos.Record = pe.Record
	}
	return RecordError{Pos: pos, Err: err}
}

// bodyReader remembers the error, other than io.EOF, of a message body's
// reader.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}
