package fhirmap

import (
	"context"
	"iter"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
)

// ReconcileFull compares two full loads of a provider table (the previous
// and the current file or snapshot) and ends what the current one no longer
// has: every PractitionerRole and OrganizationAffiliation of a previous row
// that no current row produces becomes active = false with period.end =
// the Mapper's clock date, rebuilt from the previous row so that nothing but
// its status and end changes. With ProviderOptions.DeleteEndsProvider, a
// Practitioner or Organization that no current row names at all is ended
// too. The current rows themselves are not mapped here: map them with
// [ProviderMapper.MapRow] as usual. With [ProviderMapper.WithSourceVersion]
// (the current file's version) the ended resources carry that version.
//
// Memory holds only the ids of the current roles, so both inputs may be
// streams ([ReadProviderCSV]); current is read first, then previous.
//
// A current row that cannot be read or mapped leaves it unknown which roles
// are still there, so ReconcileFull then ends nothing and returns a
// [*ConvertError] listing those rows. A previous row that does not map is
// skipped: it produced no resources then either.
func (p *ProviderMapper) ReconcileFull(ctx context.Context, previous, current iter.Seq2[*ProviderRow, error]) (*ProviderResult, error) {
	roles := map[string]bool{}
	providers := map[string]bool{}
	var failed []RecordError
	for row, err := range current {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if err != nil {
			failed = append(failed, providerRecordError(err))
			continue
		}
		b := &provRowBuild{p: p, row: row, now: p.m.opts.Now(), lineage: p.lineage(row, "")}
		if err := b.build(provEndRolesOnly, time.Time{}); err != nil {
			failed = append(failed, providerRecordError(err))
			continue
		}
		for id := range b.roleIDs {
			roles[id] = true
		}
		providers[b.providerID] = true
	}
	if len(failed) > 0 {
		return nil, &ConvertError{Failed: failed}
	}
	now := p.m.opts.Now()
	out := &ProviderResult{}
	for row, err := range previous {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if err != nil {
			continue
		}
		mode := provEndRolesOnly
		if p.opts.DeleteEndsProvider {
			// Find the row's provider id without emitting anything.
			probe := &provRowBuild{p: p, row: row, now: now, lineage: "-"}
			if probe.build(provEndRolesOnly, now) != nil {
				continue
			}
			if !providers[probe.providerID] {
				mode = provEndProvider
			}
		}
		b := &provRowBuild{p: p, row: row, now: now, lineage: p.lineage(row, ""), version: p.version, skip: roles}
		if err := b.build(mode, now); err != nil {
			continue
		}
		out.Resources = append(out.Resources, b.res.Resources...)
		out.Unmet = append(out.Unmet, b.res.Unmet...)
		out.Warnings = append(out.Warnings, b.res.Warnings...)
	}
	out.Resources = dedupeByKey(out.Resources)
	out.SourceVersion = p.version
	return out, nil
}

// dedupeByKey keeps the last resource of each Type/id, at the place of its
// first occurrence.
func dedupeByKey(rs []proto.Message) []proto.Message {
	index := map[string]int{}
	out := rs[:0:0]
	for _, r := range rs {
		k, err := resource.Key(r)
		if err != nil {
			out = append(out, r)
			continue
		}
		if i, ok := index[k]; ok {
			out[i] = r
			continue
		}
		index[k] = len(out)
		out = append(out, r)
	}
	return out
}
