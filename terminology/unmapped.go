package terminology

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
)

// UnmappedOptions configures an [UnmappedReport]. A nil *UnmappedOptions
// means defaults.
type UnmappedOptions struct {
	// MaxEntries bounds the number of distinct (system, code, target)
	// triples kept, so that a flood of bad codes cannot exhaust memory;
	// occurrences of triples beyond it are only counted (see Dropped).
	// Zero means 10000.
	MaxEntries int
}

// UnmappedCount is one line of an [UnmappedReport]: how often a code of a
// system found no mapping into a target system.
type UnmappedCount struct {
	// System is the source code system.
	System string
	// Code is the source code.
	Code string
	// TargetSystem is the target system asked for ("" for any).
	TargetSystem string
	// Count is the number of translations that found no mapping.
	Count int64
}

// UnmappedReport counts codes that found no mapping, to tell a team which
// entries its ConceptMaps lack. It holds only code systems and codes (not
// PHI); member data never enters it. It is safe for concurrent use.
type UnmappedReport struct {
	max int

	mu      sync.Mutex
	counts  map[unmappedKey]int64
	dropped int64
}

type unmappedKey struct{ system, code, target string }

// NewUnmappedReport returns an empty report.
func NewUnmappedReport(opts *UnmappedOptions) *UnmappedReport {
	r := &UnmappedReport{max: 10000, counts: make(map[unmappedKey]int64)}
	if opts != nil && opts.MaxEntries > 0 {
		r.max = opts.MaxEntries
	}
	return r
}

// Record counts one translation of from into targetSystem that found no
// mapping. Only from.System and from.Code are kept.
func (r *UnmappedReport) Record(from Coding, targetSystem string) {
	k := unmappedKey{from.System, from.Code, targetSystem}
	r.mu.Lock()
	if n, ok := r.counts[k]; ok || len(r.counts) < r.max {
		r.counts[k] = n + 1
	} else {
		r.dropped++
	}
	r.mu.Unlock()
}

// Wrap returns a [Mapper] that calls m and records every answer that wraps
// [ErrNoMapping]. Its answers are m's answers.
func (r *UnmappedReport) Wrap(m Mapper) Mapper {
	return MapperFunc(func(ctx context.Context, from Coding, targetSystem string) (Coding, error) {
		c, err := m.Translate(ctx, from, targetSystem)
		if err != nil && errors.Is(err, ErrNoMapping) {
			r.Record(from, targetSystem)
		}
		return c, err
	})
}

// Snapshot returns the counts, most frequent first, then by system, code and
// target system.
func (r *UnmappedReport) Snapshot() []UnmappedCount {
	r.mu.Lock()
	out := make([]UnmappedCount, 0, len(r.counts))
	for k, n := range r.counts {
		out = append(out, UnmappedCount{System: k.system, Code: k.code, TargetSystem: k.target, Count: n})
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b UnmappedCount) int {
		return cmp.Or(
			cmp.Compare(b.Count, a.Count),
			cmp.Compare(a.System, b.System),
			cmp.Compare(a.Code, b.Code),
			cmp.Compare(a.TargetSystem, b.TargetSystem),
		)
	})
	return out
}

// Dropped returns the number of occurrences not kept because MaxEntries
// distinct triples were already held.
func (r *UnmappedReport) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Reset empties the report.
func (r *UnmappedReport) Reset() {
	r.mu.Lock()
	clear(r.counts)
	r.dropped = 0
	r.mu.Unlock()
}
