package x12

import "strconv"

// Position locates a segment, or an error, in the input. It never holds element
// values: everything in it is safe to log.
type Position struct {
	Offset      int64  // byte offset of the segment's first byte in the whole input stream
	Index       int    // 1-based index of the segment within its transaction set (ST = 1); 0 for ISA, GS, GE, IEA
	SegmentID   string // segment id, such as "CLM"; "" when the id itself is invalid
	Loop        string // implementation guide loop id ("2300") once known: set by the Decoder, "" from the Reader
	Element     int    // 1-based element position (0 = the whole segment); used by errors
	Component   int    // 1-based component position (0 = the whole element); used by errors
	Interchange string // ISA13 interchange control number ("" when absent or invalid)
	Group       string // GS06 group control number ("" outside a group or when invalid)
	Transaction string // ST02 transaction set control number ("" outside a transaction set or when invalid)
}

// String formats the position, for example
// "offset 1234, segment 17 CLM (loop 2300), element 2, ISA13 000000001 GS06 1 ST02 0001".
// Parts that are unknown are left out.
func (p Position) String() string {
	b := make([]byte, 0, 96)
	b = append(b, "offset "...)
	b = strconv.AppendInt(b, p.Offset, 10)
	if p.SegmentID != "" || p.Index > 0 {
		b = append(b, ", segment"...)
		if p.Index > 0 {
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(p.Index), 10)
		}
		if p.SegmentID != "" {
			b = append(b, ' ')
			b = append(b, p.SegmentID...)
		}
		if p.Loop != "" {
			b = append(b, " (loop "...)
			b = append(b, p.Loop...)
			b = append(b, ')')
		}
	}
	if p.Element > 0 {
		b = append(b, ", element "...)
		b = strconv.AppendInt(b, int64(p.Element), 10)
		if p.Component > 0 {
			b = append(b, ", component "...)
			b = strconv.AppendInt(b, int64(p.Component), 10)
		}
	}
	sep := ", "
	for _, f := range [...]struct{ name, v string }{{"ISA13 ", p.Interchange}, {"GS06 ", p.Group}, {"ST02 ", p.Transaction}} {
		if f.v == "" {
			continue
		}
		b = append(b, sep...)
		sep = " "
		b = append(b, f.name...)
		b = append(b, f.v...)
	}
	return string(b)
}
