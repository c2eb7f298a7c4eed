package fhirmap

// Full-file reconciliation of 834 enrollment (MAPPING.md §4.7.1, §4.7.2): a
// member missing from a full file has lost their coverage.

import (
	"context"
	"errors"
	"io"
	"iter"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cvpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/coverage_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/x12"
)

// ErrNotFullFile reports an 834 that is not a full file (BGN08 is neither 4
// verify nor RX replace, and EnrollmentOptions.FullFile is not set): members
// missing from it have not left, so it cannot drive [Mapper.Reconcile].
var ErrNotFullFile = errors.New("fhirmap: 834 is not a full file")

// FullFile is what [Mapper.ScanFullFile] keeps of a full 834: the ids of
// the Coverages it holds, never their content, so that a file of millions
// of members costs tens of bytes per coverage. It holds no PHI.
type FullFile struct {
	// Effective is the date the snapshot is in force: header DTP*007, else
	// DTP*303, else the creation date BGN03. Reconcile ends the coverages
	// the file no longer holds on this date.
	Effective time.Time
	// SourceVersion is the file's [SourceVersion834] (of its first
	// transaction set), written to the terminated Coverages.
	SourceVersion string
	// Lineage is the PHI-free meta.source of the terminated Coverages: the
	// lineage of the first transaction set's header (BGN).
	Lineage string
	// Members counts the members (INS loops) read.
	Members int
	// CoverageIDs holds the ids of every Coverage the file maps to,
	// terminated ones included.
	CoverageIDs map[string]struct{}
}

// Has reports whether the file holds the Coverage with the given id.
func (f *FullFile) Has(coverageID string) bool {
	_, ok := f.CoverageIDs[coverageID]
	return ok
}

// headerRecord is a member whose position is its transaction set header's,
// for the lineage of a whole file.
type headerRecord struct {
	*x12.Member834
	pos x12.Position
}

func (h headerRecord) Pos() x12.Position { return h.pos }

// isFull reports whether an 834 header declares a full file.
func isFull834(h *x12.Header834) bool {
	switch strings.ToUpper(strings.TrimSpace(h.Action)) {
	case "4", "RX":
		return true
	}
	return false
}

// effective834 returns the date an 834 is in force: DTP*007, else 303, else
// BGN03.
func effective834(h *x12.Header834) (time.Time, error) {
	for _, q := range []string{"007", "303"} {
		if d, ok := h.Dates.Get(q); ok {
			p, err := d.Period()
			if err != nil {
				return time.Time{}, err
			}
			if p.IsTime {
				// a time of day (TM) names no date: without this check the
				// file would be in force from the zero time
				return time.Time{}, errors.New("DTP*" + q + " is a time of day, not a date")
			}
			return p.Start, nil
		}
	}
	return x12.ParseDate(strings.TrimSpace(h.Date))
}

// ScanFullFile reads a full 834 (BGN08 4 or RX, or any 834 when
// Options.Enrollment.FullFile is set) and returns the ids of the Coverages
// it holds, for [Mapper.Reconcile]. Memory grows with the number of
// coverages (one id each), not with the file.
//
// Every member must map: a member that cannot be decoded or mapped would
// look absent and have its coverage ended, so ScanFullFile then fails with a
// [*ConvertError] listing the failed records, and nothing must be
// terminated. A transaction set that is not a full file gives
// [ErrNotFullFile]. Other kinds of records in the input are ignored.
func (m *Mapper) ScanFullFile(ctx context.Context, r io.Reader) (*FullFile, error) {
	eo := m.enrollment()
	f := &FullFile{CoverageIDs: map[string]struct{}{}}
	var failed []RecordError
	var st string
	n := 0
	var last *x12.Header834
	for rec, err := range x12.NewDecoder(r).Records() {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if err != nil {
			var se *x12.SyntaxError
			if !errors.As(err, &se) {
				return nil, err
			}
			e := syntaxError(se, 0)
			failed = append(failed, RecordError{Pos: e.Pos, Err: e})
			continue
		}
		mem, ok := rec.(*x12.Member834)
		if !ok {
			continue
		}
		p := mem.Pos()
		if p.Transaction != st {
			st, n = p.Transaction, 0
		}
		n++
		if mem.Header != last {
			last = mem.Header
			if !eo.FullFile && !isFull834(mem.Header) {
				hp := p
				if l := mem.Header.Loop; l != nil && len(l.Segments) > 0 {
					hp = l.Lead().Pos()
				}
				return nil, NewError(ErrNotFullFile, PositionOf(hp, 0), "", "BGN08 is neither 4 (verify) nor RX (replace)")
			}
			if f.Lineage == "" {
				eff, err := effective834(mem.Header)
				if err != nil {
					return nil, NewError(ErrInvalidValue, PositionOf(p, 0), "Coverage.period.end", "the file's effective date (DTP*007, 303 or BGN03) is not a date").WithCause(err)
				}
				f.Effective = eff
				f.SourceVersion = SourceVersion834(mem.Header)
				hp := p
				if l := mem.Header.Loop; l != nil && len(l.Segments) > 0 {
					hp = l.Lead().Pos()
				}
				f.Lineage = m.Lineage(headerRecord{mem, hp})
			}
		}
		f.Members++
		res, err := m.MapMember834(ctx, mem)
		if err != nil {
			var me *Error
			if !errors.As(err, &me) {
				return nil, err
			}
			me.Pos.Record = n
			failed = append(failed, RecordError{Pos: me.Pos, Err: me})
			continue
		}
		for _, r := range res.Resources {
			if c, ok := r.(*cvpb.Coverage); ok {
				f.CoverageIDs[c.GetId().GetValue()] = struct{}{}
			}
		}
	}
	if len(failed) > 0 {
		return nil, &ConvertError{Failed: failed}
	}
	return f, nil
}

// Coverages834 maps the 834 in r and yields its Coverages one at a time, for
// [Mapper.Reconcile]'s previous set when that is a prior full file. A record
// that cannot be decoded or mapped ends the sequence with its error: a
// coverage left out would never be ended.
func (m *Mapper) Coverages834(ctx context.Context, r io.Reader) iter.Seq2[*cvpb.Coverage, error] {
	return func(yield func(*cvpb.Coverage, error) bool) {
		for rec, err := range x12.NewDecoder(r).Records() {
			if cerr := ctx.Err(); cerr != nil {
				yield(nil, cerr)
				return
			}
			if err != nil {
				var se *x12.SyntaxError
				if errors.As(err, &se) {
					err = syntaxError(se, 0)
				}
				yield(nil, err)
				return
			}
			mem, ok := rec.(*x12.Member834)
			if !ok {
				continue
			}
			res, err := m.MapMember834(ctx, mem)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, r := range res.Resources {
				if c, ok := r.(*cvpb.Coverage); ok {
					if !yield(c, nil) {
						return
					}
				}
			}
		}
	}
}

// Reconcile compares the Coverages known before a full file (previous: the
// Coverages of the prior full file from [Mapper.Coverages834], or those a
// FHIR server or store holds for the sponsor and payer) with the full file
// (full, from [Mapper.ScanFullFile]) and yields, for each previous Coverage
// the full file no longer holds, the update that ends it: a copy with
// period.end set to full.Effective, status cancelled when that is on or
// before period.start (never in force, MAPPING.md D12), and meta carrying
// the full file's lineage and source version. Nothing is deleted.
//
// Coverages that are already over by then (period.end on or before the
// effective date), cancelled or entered-in-error are left alone, as are
// the ones the full file holds (its own mapping updates them). previous is
// read once, one Coverage at a time; an error from it ends the sequence with
// that error.
func (m *Mapper) Reconcile(ctx context.Context, previous iter.Seq2[*cvpb.Coverage, error], full *FullFile) iter.Seq2[*cvpb.Coverage, error] {
	return func(yield func(*cvpb.Coverage, error) bool) {
		if full == nil || full.Effective.IsZero() {
			yield(nil, NewError(ErrMissing, Position{}, "Coverage.period.end", "Reconcile needs a scanned full file with an effective date"))
			return
		}
		end := fdateTimeDay(full.Effective)
		for c, err := range previous {
			if cerr := ctx.Err(); cerr != nil {
				yield(nil, cerr)
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if c == nil || full.Has(c.GetId().GetValue()) {
				continue
			}
			switch c.GetStatus().GetValue() {
			case cpb.FinancialResourceStatusCode_CANCELLED, cpb.FinancialResourceStatusCode_ENTERED_IN_ERROR:
				continue
			}
			if e := c.GetPeriod().GetEnd(); e != nil && e.GetValueUs() <= end.GetValueUs() {
				continue
			}
			t := proto.Clone(c).(*cvpb.Coverage)
			if t.Period == nil {
				t.Period = &dtpb.Period{}
			}
			t.Period.End = proto.Clone(end).(*dtpb.DateTime)
			if s := t.Period.GetStart(); s != nil && end.GetValueUs() <= s.GetValueUs() {
				t.Status = &cvpb.Coverage_StatusCode{Value: cpb.FinancialResourceStatusCode_CANCELLED}
			}
			t.Meta = reconciledMeta(m, c.GetMeta(), full)
			if !yield(t, nil) {
				return
			}
		}
	}
}

// reconciledMeta returns the meta of a terminated Coverage: the previous
// profiles and security labels, the Mapper's clock, the full file's lineage
// and source version.
func reconciledMeta(m *Mapper, prev *dtpb.Meta, full *FullFile) *dtpb.Meta {
	mt := m.meta(full.Lineage)
	for _, p := range prev.GetProfile() {
		mt.Profile = append(mt.Profile, proto.Clone(p).(*dtpb.Canonical))
	}
	for _, s := range prev.GetSecurity() {
		mt.Security = append(mt.Security, proto.Clone(s).(*dtpb.Coding))
	}
	return withVersion(mt, full.SourceVersion)
}
