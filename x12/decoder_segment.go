package x12

// The Decoder builds owned segments without an allocation per segment: the
// bytes go into record-owned chunks and the position context (delimiters,
// envelope control numbers and the loop id) is shared by all the segments of a
// loop in a transaction set. This file is the only place that touches the
// Segment internals of segment.go (X12_API.md, Additions).

// packed returns the packed length/index and offset/id words of s, marked
// owned.
func packed(s Segment) (info, loc uint64) { return s.info | flagOwned, s.loc }

// unpacked rebuilds an owned segment from packed words, its bytes at data[off:]
// (never modified afterwards) and its position context (which carries its loop).
func unpacked(info, loc uint64, data []byte, off int32, ctx *segCtx) Segment {
	s := Segment{info: info, loc: loc, ctx: ctx}
	if info&lenMask > 0 {
		s.ptr = &data[off]
	}
	return s
}

// loopContexts caches one position context per loop of a transaction set.
type loopContexts struct {
	src  *segCtx   // the Reader's context the cache was built from
	ctxs []*segCtx // by loopDef.index
}

// get returns the shared context for the segments of loop def, derived from the
// context of s.
func (c *loopContexts) get(s Segment, def *loopDef, ndefs int) *segCtx {
	if s.ctx != c.src || len(c.ctxs) != ndefs {
		c.src = s.ctx
		if cap(c.ctxs) >= ndefs {
			c.ctxs = c.ctxs[:ndefs]
			clear(c.ctxs)
		} else {
			c.ctxs = make([]*segCtx, ndefs)
		}
	}
	x := c.ctxs[def.index]
	if x == nil {
		x = new(segCtx)
		if s.ctx != nil {
			*x = *s.ctx
		}
		x.loop = def.id
		c.ctxs[def.index] = x
	}
	return x
}

// internID returns the interned copy of a segment id so that comparisons with
// Segment.ID hit the pointer-equality fast path. It panics on a malformed id:
// loop tables are package data.
func internID(id string) string {
	c := idCode([]byte(id), 0)
	if c == codeNone {
		panic("x12: bad segment id in loop table: " + id)
	}
	return idString(c)
}

// segCode returns the id code of s (0 for a malformed id).
func segCode(s *Segment) uint16 { return uint16(s.loc >> locCodeShr) }
