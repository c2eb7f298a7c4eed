package x12

// Delimiters are the four separators taken from the ISA segment of an interchange.
type Delimiters struct {
	Element    byte // element separator: ISA offset 3
	Repetition byte // repetition separator: ISA11 (offset 82); 0 when ISA11 is a letter, digit or space (4010 "U": no repetitions)
	Component  byte // component separator: ISA16 (offset 104)
	Segment    byte // segment terminator: the byte after ISA16 (offset 105)
}

// isaLen is the length of a fixed-width ISA segment including its terminator.
const isaLen = 106

// maxTolerantISA bounds the ISA read in tolerant mode (mis-padded fields).
const maxTolerantISA = 512

// isaSeps are the offsets of the 16 element separators of a fixed-width ISA.
var isaSeps = [16]int{3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// isaResult is the outcome of parsing an ISA at the start of a buffer.
type isaResult struct {
	d      Delimiters
	n      int    // bytes of the ISA including its terminator
	more   bool   // more input is needed to decide
	err    error  // ErrISA, ErrDelimiters or nil
	detail string // PHI-free detail for err
	ta1    string // TA105 code for err
}

// parseISA reads the ISA at the start of b. atEOF says that b holds all the
// remaining input.
func parseISA(b []byte, tolerant, atEOF bool) isaResult {
	if len(b) < 4 {
		if !atEOF {
			return isaResult{more: true}
		}
	}
	if len(b) < 3 || b[0] != 'I' || b[1] != 'S' || b[2] != 'A' {
		if len(b) < 3 && !atEOF {
			return isaResult{more: true}
		}
		return isaResult{err: ErrISA, detail: "input does not start with ISA"}
	}
	if len(b) < 4 {
		return isaResult{err: ErrTruncated, detail: "input ends inside ISA", ta1: "023"}
	}
	var r isaResult
	sep := b[3]
	if !tolerant {
		if len(b) < isaLen {
			if !atEOF {
				return isaResult{more: true}
			}
			return isaResult{err: ErrTruncated, detail: "input ends inside ISA", ta1: "023"}
		}
		for _, o := range isaSeps {
			if b[o] != sep {
				return isaResult{err: ErrISA, detail: "ISA is not fixed width: element separators are not at their offsets; see TolerantISA"}
			}
		}
		r.d = Delimiters{Element: sep, Repetition: b[82], Component: b[104], Segment: b[105]}
		r.n = isaLen
	} else {
		count := 1 // the separator at offset 3
		i := 4
		lim := min(len(b), maxTolerantISA)
		for ; i < lim && count < 16; i++ {
			if b[i] == sep {
				count++
			}
		}
		// i is just past the 16th separator: ISA16, then the terminator.
		if count < 16 || i+1 >= lim {
			if len(b) < maxTolerantISA && !atEOF {
				return isaResult{more: true}
			}
			if atEOF && len(b) < maxTolerantISA {
				return isaResult{err: ErrTruncated, detail: "input ends inside ISA", ta1: "023"}
			}
			return isaResult{err: ErrISA, detail: "ISA does not have 16 element separators"}
		}
		r.d = Delimiters{Element: sep, Component: b[i], Segment: b[i+1]}
		r.n = i + 2
		// ISA11 lies between separators 11 and 12 (separator n precedes ISAn).
		start, k := 4, 1
		for j := 4; j < i; j++ {
			if b[j] == sep {
				k++
				if k == 11 {
					start = j + 1
				} else if k == 12 {
					if j-start == 1 {
						r.d.Repetition = b[start]
					} else {
						r.d.Repetition = 'U' // no usable repetition separator
					}
					break
				}
			}
		}
	}
	if isAlnum(r.d.Repetition) || r.d.Repetition == ' ' {
		// 4010 and earlier: ISA11 is the standards id "U". A space (a
		// malformed ISA11) is no separator either: taking it as one would
		// cut every value at its spaces.
		r.d.Repetition = 0
	}
	d := r.d
	switch {
	case isAlnum(d.Element):
		return isaResult{err: ErrDelimiters, detail: "element separator is a letter or digit", ta1: "026"}
	case isAlnum(d.Component):
		return isaResult{err: ErrDelimiters, detail: "component separator is a letter or digit", ta1: "027"}
	case isAlnum(d.Segment):
		return isaResult{err: ErrDelimiters, detail: "segment terminator is a letter or digit", ta1: "004"}
	case d.Element == d.Component || d.Element == d.Segment || d.Component == d.Segment:
		return isaResult{err: ErrDelimiters, detail: "delimiters are not distinct", ta1: "026"}
	case d.Repetition != 0 && (d.Repetition == d.Element || d.Repetition == d.Component || d.Repetition == d.Segment):
		return isaResult{err: ErrDelimiters, detail: "repetition separator is not distinct", ta1: "026"}
	}
	return r
}
