package terminology

import "strings"

// NormalizeNDC11 returns a National Drug Code in the 11-digit 5-4-2 form
// without hyphens, the form X12 carries (LIN03, SVC01-2 with qualifier N4)
// and the lossless default of MAPPING.md decision D3.
//
// MAPPING.md §3.3: 10→11 padding adds one zero to the short segment: 4-4-2 →
// 0+4-4-2; 5-3-2 → 5-0+3-2; 5-4-1 → 5-4-0+1. Accepted inputs: 11 digits
// (5-4-2 assumed), or three hyphenated segments of 4-4-2, 5-3-2, 5-4-1 or
// 5-4-2 digits. Ten digits without hyphens are refused with [ErrAmbiguous]:
// which segment is short cannot be known.
func NormalizeNDC11(s string) (string, error) {
	c, err := newCode(KindNDC, s)
	if err != nil {
		return "", err
	}
	labeler, product, pkg, err := ndcSegments(c)
	if err != nil {
		return "", err
	}
	return labeler + product + pkg, nil
}

// FormatNDC11 returns an NDC in the 11-digit 5-4-2 form with hyphens
// (12345-6789-01). It accepts what [NormalizeNDC11] accepts.
func FormatNDC11(s string) (string, error) {
	c, err := newCode(KindNDC, s)
	if err != nil {
		return "", err
	}
	labeler, product, pkg, err := ndcSegments(c)
	if err != nil {
		return "", err
	}
	return labeler + "-" + product + "-" + pkg, nil
}

// NDC10Candidates returns the hyphenated 10-digit forms an NDC may have: the
// 11-digit 5-4-2 form with one padding zero removed, from the labeler
// (0+4-4-2 → 4-4-2), the product (5-0+3-2 → 5-3-2) or the package
// (5-4-0+1 → 5-4-1) segment, in that order.
//
// MAPPING.md §3.3: THO writes the FHIR NDC code in the 10-digit form with
// hyphens in the correct place, and 11→10 is ambiguous without the FDA NDC
// directory: more than one candidate means only the directory can tell. No
// candidate (no segment starts with 0) means the code has no 10-digit form.
func NDC10Candidates(s string) ([]string, error) {
	c, err := newCode(KindNDC, s)
	if err != nil {
		return nil, err
	}
	labeler, product, pkg, err := ndcSegments(c)
	if err != nil {
		return nil, err
	}
	var out []string
	if labeler[0] == '0' {
		out = append(out, labeler[1:]+"-"+product+"-"+pkg)
	}
	if product[0] == '0' {
		out = append(out, labeler+"-"+product[1:]+"-"+pkg)
	}
	if pkg[0] == '0' {
		out = append(out, labeler+"-"+product+"-"+pkg[1:])
	}
	return out, nil
}

// NormalizeNDC10 returns the hyphenated 10-digit form of an NDC when there is
// exactly one (see [NDC10Candidates]); otherwise it fails with [ErrAmbiguous]
// (several forms: configure an FDA NDC directory lookup, MAPPING.md D3) or
// [ErrCodeValue] (none). A hyphenated 10-digit input is returned as given.
func NormalizeNDC10(s string) (string, error) {
	c, err := newCode(KindNDC, s)
	if err != nil {
		return "", err
	}
	if _, _, _, err := ndcSegments(c); err != nil {
		return "", err
	}
	if strings.Count(c.s, "-") == 2 && len(c.s) == 12 {
		return c.s, nil // already a hyphenated 10-digit NDC (4-4-2, 5-3-2, 5-4-1)
	}
	cands, _ := NDC10Candidates(c.s)
	switch len(cands) {
	case 1:
		return cands[0], nil
	case 0:
		return "", c.fail(ErrCodeValue, -1, "an 11-digit NDC with a padding zero")
	}
	return "", c.fail(ErrAmbiguous, -1, "an NDC directory lookup to pick the 10-digit form")
}

// ndcSegments splits an NDC into its 5-digit labeler, 4-digit product and
// 2-digit package segments, padding a 10-digit hyphenated form.
func ndcSegments(c code) (labeler, product, pkg string, err error) {
	s := c.s
	if strings.IndexByte(s, '-') < 0 {
		if err := c.digitsOnly("a digit or a hyphen"); err != nil {
			return "", "", "", err
		}
		switch len(s) {
		case 11:
			return s[:5], s[5:9], s[9:], nil
		case 10:
			return "", "", "", c.fail(ErrAmbiguous, -1, "11 digits, or hyphens to place the segments of a 10-digit NDC")
		}
		return "", "", "", c.length("11 digits, or 10 or 11 digits with hyphens")
	}
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return "", "", "", c.fail(ErrCodeCharacter, hyphenOffset(s, 3), "three hyphen-separated segments")
	}
	off := 0
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			if !isDigit(p[i]) {
				return "", "", "", c.fail(ErrCodeCharacter, off+i, "a digit")
			}
		}
		off += len(p) + 1
	}
	l, pr, pk := parts[0], parts[1], parts[2]
	switch {
	case len(l) == 4 && len(pr) == 4 && len(pk) == 2:
		return "0" + l, pr, pk, nil
	case len(l) == 5 && len(pr) == 3 && len(pk) == 2:
		return l, "0" + pr, pk, nil
	case len(l) == 5 && len(pr) == 4 && len(pk) == 1:
		return l, pr, "0" + pk, nil
	case len(l) == 5 && len(pr) == 4 && len(pk) == 2:
		return l, pr, pk, nil
	}
	return "", "", "", c.length("segments of 4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits")
}

// hyphenOffset returns the offset of the n-th hyphen (1-based) of s, or -1.
func hyphenOffset(s string, n int) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			n--
			if n == 0 {
				return i
			}
		}
	}
	return -1
}
