package terminology

import (
	"errors"
	"strconv"
	"strings"
)

// The rules a code can break; a [*CodeError] wraps one.
var (
	// ErrEmptyCode: the code is empty (or only spaces).
	ErrEmptyCode = errors.New("empty code")
	// ErrCodeLength: the code has the wrong number of characters.
	ErrCodeLength = errors.New("wrong length")
	// ErrCodeCharacter: a character is not allowed at its position.
	ErrCodeCharacter = errors.New("invalid character")
	// ErrCodeValue: the code is well formed but outside the values the
	// code set assigns (e.g. place of service 00).
	ErrCodeValue = errors.New("value not assigned")
	// ErrCheckDigit: the check digit does not match.
	ErrCheckDigit = errors.New("check digit mismatch")
	// ErrAmbiguous: the input can be read in more than one way (a 10-digit
	// NDC without hyphens; an 11-digit NDC with several 10-digit forms).
	ErrAmbiguous = errors.New("ambiguous")
)

// CodeError reports a code that breaks its code set's format. Its text names
// the code set, the rule and the position, never the code.
type CodeError struct {
	// Kind names the code set, like "ICD-10-CM" or "NDC".
	Kind string
	// Rule is the rule broken: ErrEmptyCode, ErrCodeLength,
	// ErrCodeCharacter, ErrCodeValue, ErrCheckDigit or ErrAmbiguous.
	Rule error
	// Offset is the 0-based byte offset of the offending character in the
	// input, or -1 when the rule is about the whole code.
	Offset int
	// Want says what was expected, in fixed words ("a digit", "3 to 7
	// characters").
	Want string
}

// Error returns "terminology: <kind>: <rule> [at offset N][: expected ...]".
func (e *CodeError) Error() string {
	var b strings.Builder
	b.WriteString("terminology: ")
	b.WriteString(e.Kind)
	b.WriteString(": ")
	b.WriteString(e.Rule.Error())
	if e.Offset >= 0 {
		b.WriteString(" at offset ")
		b.WriteString(strconv.Itoa(e.Offset))
	}
	if e.Want != "" {
		b.WriteString(": expected ")
		b.WriteString(e.Want)
	}
	return b.String()
}

// Unwrap returns the rule.
func (e *CodeError) Unwrap() error { return e.Rule }

// Kinds of code, as named in [CodeError.Kind].
const (
	KindICD10CM         = "ICD-10-CM"
	KindICD10PCS        = "ICD-10-PCS"
	KindICD9CM          = "ICD-9-CM"
	KindICD9Procedure   = "ICD-9-CM procedure"
	KindCPT             = "CPT"
	KindHCPCS           = "HCPCS"
	KindHC              = "HC procedure"
	KindModifier        = "procedure modifier"
	KindCDT             = "CDT"
	KindNDC             = "NDC"
	KindNPI             = "NPI"
	KindPlaceOfService  = "place of service"
	KindRevenueCode     = "revenue code"
	KindTypeOfBill      = "type of bill"
	KindPointOfOrigin   = "point of origin"
	KindPriority        = "priority of admission"
	KindDischargeStatus = "discharge status"
)

// code is a trimmed, upper-cased input with the offset of its first byte in
// the original, so errors point into what the caller passed.
type code struct {
	kind string
	s    string
	base int
}

func newCode(kind, in string) (code, error) {
	trimmed := strings.TrimLeft(in, " \t")
	base := len(in) - len(trimmed)
	trimmed = strings.TrimRight(trimmed, " \t")
	c := code{kind: kind, s: upperASCII(trimmed), base: base}
	if c.s == "" {
		return c, c.fail(ErrEmptyCode, -1, "")
	}
	return c, nil
}

func (c code) fail(rule error, i int, want string) error {
	off := -1
	if i >= 0 {
		off = c.base + i
	}
	return &CodeError{Kind: c.kind, Rule: rule, Offset: off, Want: want}
}

func (c code) length(want string) error { return c.fail(ErrCodeLength, -1, want) }

func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			return strings.ToUpper(s)
		}
	}
	return s
}

func isDigit(b byte) bool  { return '0' <= b && b <= '9' }
func isLetter(b byte) bool { return 'A' <= b && b <= 'Z' }
func isAlnum(b byte) bool  { return isDigit(b) || isLetter(b) }

// undot removes one point at position at (the only place it may be) and
// returns the code without it, or a character error for a point elsewhere.
func (c code) undot(at int) (string, error) {
	i := strings.IndexByte(c.s, '.')
	if i < 0 {
		return c.s, nil
	}
	if i != at || strings.IndexByte(c.s[i+1:], '.') >= 0 || i == len(c.s)-1 {
		j := i
		if i == at {
			if k := strings.IndexByte(c.s[i+1:], '.'); k >= 0 {
				j = i + 1 + k
			}
		}
		return "", c.fail(ErrCodeCharacter, j, "a point only after character "+strconv.Itoa(at)+", followed by more characters")
	}
	return c.s[:i] + c.s[i+1:], nil
}

// offset maps an index in an undotted code back to the dotted input.
func (c code) offset(i, dotAt int) int {
	if strings.IndexByte(c.s, '.') >= 0 && i >= dotAt {
		return i + 1
	}
	return i
}

// NormalizeICD10CM returns an ICD-10-CM diagnosis code in its FHIR form.
//
// MAPPING.md §3.3: X12 (HI ABK/ABF/ABJ/ABN/APR) sends no decimal point (J209,
// S060X1A); FHIR http://hl7.org/fhir/sid/icd-10-cm codes have a point after the
// 3rd character when longer than 3 (J20.9, S06.0X1A). Upper-case; keep the
// placeholder X. Format: a letter, a digit, a letter or digit, then up to four
// letters or digits (3 to 7 characters). A point already present must be
// after the 3rd character.
func NormalizeICD10CM(s string) (string, error) {
	c, err := newCode(KindICD10CM, s)
	if err != nil {
		return "", err
	}
	u, err := c.undot(3)
	if err != nil {
		return "", err
	}
	if len(u) < 3 || len(u) > 7 {
		return "", c.length("3 to 7 characters without the point")
	}
	for i := 0; i < len(u); i++ {
		b := u[i]
		switch {
		case i == 0 && !isLetter(b):
			return "", c.fail(ErrCodeCharacter, c.offset(i, 3), "a letter")
		case i == 1 && !isDigit(b):
			return "", c.fail(ErrCodeCharacter, c.offset(i, 3), "a digit")
		case i >= 2 && !isAlnum(b):
			return "", c.fail(ErrCodeCharacter, c.offset(i, 3), "a letter or digit")
		}
	}
	if len(u) == 3 {
		return u, nil
	}
	return u[:3] + "." + u[3:], nil
}

// NormalizeICD10PCS returns an ICD-10-PCS procedure code in its FHIR form.
//
// MAPPING.md §3.3: ICD-10-PCS (HI BBR/BBQ) is 7 characters with no point.
// Upper-case. Each character is a digit or a letter other than I and O
// (ICD-10-PCS leaves those out so they cannot be read as 1 and 0).
func NormalizeICD10PCS(s string) (string, error) {
	c, err := newCode(KindICD10PCS, s)
	if err != nil {
		return "", err
	}
	for i := 0; i < len(c.s); i++ {
		b := c.s[i]
		if !isAlnum(b) || b == 'I' || b == 'O' {
			return "", c.fail(ErrCodeCharacter, i, "a digit or a letter other than I and O (no point)")
		}
	}
	if len(c.s) != 7 {
		return "", c.length("7 characters")
	}
	return c.s, nil
}

// NormalizeICD9CM returns an ICD-9-CM diagnosis code in its FHIR form.
//
// MAPPING.md §3.3 (rule marked [verify], decision D17): X12 (HI BK/BF/BJ/BN/PR)
// sends no point; numeric and V codes get a point after the 3rd character
// (4019 → 401.9, V7389 → V73.89), E codes after the 4th (E8889 → E888.9).
// Formats: 3 to 5 digits; V and 2 to 4 digits; E and 3 or 4 digits.
func NormalizeICD9CM(s string) (string, error) {
	c, err := newCode(KindICD9CM, s)
	if err != nil {
		return "", err
	}
	dotAt, minLen, maxLen, want := 3, 3, 5, "3 to 5 digits"
	switch c.s[0] {
	case 'E':
		dotAt, minLen, maxLen, want = 4, 4, 5, "E and 3 or 4 digits"
	case 'V':
		want = "V and 2 to 4 digits"
	default:
		if !isDigit(c.s[0]) {
			return "", c.fail(ErrCodeCharacter, 0, "a digit, E or V")
		}
	}
	u, err := c.undot(dotAt)
	if err != nil {
		return "", err
	}
	for i := 1; i < len(u); i++ {
		if !isDigit(u[i]) {
			return "", c.fail(ErrCodeCharacter, c.offset(i, dotAt), "a digit")
		}
	}
	if len(u) < minLen || len(u) > maxLen {
		return "", c.length(want)
	}
	if len(u) == dotAt {
		return u, nil
	}
	return u[:dotAt] + "." + u[dotAt:], nil
}

// NormalizeICD9Procedure returns an ICD-9-CM volume 3 procedure code in its
// FHIR form.
//
// MAPPING.md §3.3 (rule marked [verify], decision D17): X12 (HI BR/BQ) sends
// no point; the point goes after the 2nd digit (8151 → 81.51). Format: 3 or 4
// digits.
func NormalizeICD9Procedure(s string) (string, error) {
	c, err := newCode(KindICD9Procedure, s)
	if err != nil {
		return "", err
	}
	u, err := c.undot(2)
	if err != nil {
		return "", err
	}
	for i := 0; i < len(u); i++ {
		if !isDigit(u[i]) {
			return "", c.fail(ErrCodeCharacter, c.offset(i, 2), "a digit")
		}
	}
	if len(u) < 3 || len(u) > 4 {
		return "", c.length("3 or 4 digits")
	}
	return u[:2] + "." + u[2:], nil
}

// ProcedureKind says which code set an X12 HC procedure code belongs to.
type ProcedureKind int

const (
	// ProcedureCPT is CPT (system [SystemCPT]).
	ProcedureCPT ProcedureKind = iota + 1
	// ProcedureHCPCS is HCPCS Level II (system [SystemHCPCS] or
	// [SystemHCPCSTHO], per target profile).
	ProcedureHCPCS
)

// String returns "CPT" or "HCPCS".
func (k ProcedureKind) String() string {
	switch k {
	case ProcedureCPT:
		return "CPT"
	case ProcedureHCPCS:
		return "HCPCS"
	}
	return "unknown"
}

// System returns the code system URI of k: [SystemCPT] for CPT and
// hcpcsSystem ([SystemHCPCS] for C4BB, [SystemHCPCSTHO] for PAS, MAPPING.md
// D2) for HCPCS.
func (k ProcedureKind) System(hcpcsSystem string) string {
	switch k {
	case ProcedureCPT:
		return SystemCPT
	case ProcedureHCPCS:
		return hcpcsSystem
	}
	return ""
}

// NormalizeCPT returns a CPT code, upper-cased.
//
// MAPPING.md §3.3: CPT is ^[0-9]{4}[0-9A-Z]$: five digits (Category I, 99213),
// or four digits and a letter: F Category II (0001F), T Category III (0042T),
// U proprietary laboratory analyses (0001U), M multianalyte assays.
func NormalizeCPT(s string) (string, error) {
	c, err := newCode(KindCPT, s)
	if err != nil {
		return "", err
	}
	if err := checkCPT(c); err != nil {
		return "", err
	}
	return c.s, nil
}

func checkCPT(c code) error {
	for i := 0; i < len(c.s) && i < 5; i++ {
		if i < 4 && !isDigit(c.s[i]) {
			return c.fail(ErrCodeCharacter, i, "a digit")
		}
		if i == 4 && !isAlnum(c.s[i]) {
			return c.fail(ErrCodeCharacter, i, "a digit or letter")
		}
	}
	if len(c.s) != 5 {
		return c.length("5 characters")
	}
	return nil
}

// NormalizeHCPCS returns a HCPCS Level II code, upper-cased.
//
// MAPPING.md §3.3: HCPCS Level II is ^[A-V][0-9]{4}$ (a letter A to V, then
// four digits: J1100, G0008).
func NormalizeHCPCS(s string) (string, error) {
	c, err := newCode(KindHCPCS, s)
	if err != nil {
		return "", err
	}
	if err := checkHCPCS(c); err != nil {
		return "", err
	}
	return c.s, nil
}

func checkHCPCS(c code) error {
	if b := c.s[0]; b < 'A' || b > 'V' {
		return c.fail(ErrCodeCharacter, 0, "a letter A to V")
	}
	for i := 1; i < len(c.s) && i < 5; i++ {
		if !isDigit(c.s[i]) {
			return c.fail(ErrCodeCharacter, i, "a digit")
		}
	}
	if len(c.s) != 5 {
		return c.length("5 characters")
	}
	return nil
}

// ClassifyHC tells CPT from HCPCS Level II for a procedure code sent under
// the X12 qualifier HC (SV101-1, SV202-1, SVC01-1), and returns the code
// upper-cased.
//
// MAPPING.md §3.3 [design]: ^[0-9]{4}[0-9A-Z]$ (99213, 0001F Category II,
// 0042T Category III, 0001U) is CPT; ^[A-V][0-9]{4}$ is HCPCS Level II.
func ClassifyHC(s string) (ProcedureKind, string, error) {
	c, err := newCode(KindHC, s)
	if err != nil {
		return 0, "", err
	}
	if isDigit(c.s[0]) {
		if err := checkCPT(c); err != nil {
			return 0, "", err
		}
		return ProcedureCPT, c.s, nil
	}
	if isLetter(c.s[0]) {
		if err := checkHCPCS(c); err != nil {
			return 0, "", err
		}
		return ProcedureHCPCS, c.s, nil
	}
	return 0, "", c.fail(ErrCodeCharacter, 0, "a digit (CPT) or a letter A to V (HCPCS)")
}

// ClassifyModifier tells a CPT modifier from a HCPCS Level II modifier and
// returns it upper-cased.
//
// MAPPING.md §3.3 [design]: two numeric characters (25, 59) → CPT;
// alphabetic or alphanumeric (LT, GT, XU, Q5, JW) → HCPCS.
func ClassifyModifier(s string) (ProcedureKind, string, error) {
	c, err := newCode(KindModifier, s)
	if err != nil {
		return 0, "", err
	}
	for i := 0; i < len(c.s); i++ {
		if !isAlnum(c.s[i]) {
			return 0, "", c.fail(ErrCodeCharacter, i, "a letter or digit")
		}
	}
	if len(c.s) != 2 {
		return 0, "", c.length("2 characters")
	}
	if isDigit(c.s[0]) && isDigit(c.s[1]) {
		return ProcedureCPT, c.s, nil
	}
	return ProcedureHCPCS, c.s, nil
}

// NormalizeCDT returns a CDT dental procedure code, upper-cased.
//
// MAPPING.md §3.3: CDT (X12 qualifier AD) is D and four digits (D0120),
// system http://www.ada.org/cdt.
func NormalizeCDT(s string) (string, error) {
	c, err := newCode(KindCDT, s)
	if err != nil {
		return "", err
	}
	if c.s[0] != 'D' {
		return "", c.fail(ErrCodeCharacter, 0, "D")
	}
	for i := 1; i < len(c.s) && i < 5; i++ {
		if !isDigit(c.s[i]) {
			return "", c.fail(ErrCodeCharacter, i, "a digit")
		}
	}
	if len(c.s) != 5 {
		return "", c.length("D and 4 digits")
	}
	return c.s, nil
}

// digitsOnly checks that every byte is a digit.
func (c code) digitsOnly(want string) error {
	for i := 0; i < len(c.s); i++ {
		if !isDigit(c.s[i]) {
			return c.fail(ErrCodeCharacter, i, want)
		}
	}
	return nil
}

// padDigits left-pads a 1..n digit code with zeros to n digits and rejects
// all zeros.
func padDigits(kind, s string, n int) (string, error) {
	c, err := newCode(kind, s)
	if err != nil {
		return "", err
	}
	if err := c.digitsOnly("a digit"); err != nil {
		return "", err
	}
	if len(c.s) > n {
		return "", c.length("1 to " + strconv.Itoa(n) + " digits")
	}
	if strings.Trim(c.s, "0") == "" {
		return "", c.fail(ErrCodeValue, -1, "a non-zero code")
	}
	return strings.Repeat("0", n-len(c.s)) + c.s, nil
}

// NormalizePlaceOfService returns a CMS place of service code.
//
// MAPPING.md §3.3: place of service is always 2 characters, left-padded with
// 0 (2 → 02). Digits only; 00 is not a place of service.
func NormalizePlaceOfService(s string) (string, error) {
	return padDigits(KindPlaceOfService, s, 2)
}

// NormalizeRevenueCode returns a NUBC revenue code.
//
// MAPPING.md §3.3: a revenue code is 4 characters with a leading zero
// (450 → 0450), as in the C4BB examples (0450, 0551). Digits only; 0000 is
// not a revenue code.
func NormalizeRevenueCode(s string) (string, error) {
	return padDigits(KindRevenueCode, s, 4)
}

// NormalizeDischargeStatus returns a NUBC patient discharge status code.
//
// MAPPING.md §3.3 and §4.2: CL103 discharge status is 2 characters
// (1 → 01). Digits only; 00 is not a status.
func NormalizeDischargeStatus(s string) (string, error) {
	return padDigits(KindDischargeStatus, s, 2)
}

// NormalizePointOfOrigin returns a NUBC point of origin code.
//
// MAPPING.md §3.3: CL102 point of origin is 1 character (a digit or a
// letter), upper-cased.
func NormalizePointOfOrigin(s string) (string, error) {
	return oneChar(KindPointOfOrigin, s, isAlnum, "a digit or letter")
}

// NormalizePriorityOfAdmission returns a NUBC priority (type) of admission
// or visit code.
//
// MAPPING.md §3.3: CL101 priority of admission is 1 character, a digit 1 to 9
// (4 is newborn, which selects [SystemNUBCPointOfOriginNewborn]).
func NormalizePriorityOfAdmission(s string) (string, error) {
	return oneChar(KindPriority, s, func(b byte) bool { return '1' <= b && b <= '9' }, "a digit 1 to 9")
}

func oneChar(kind, s string, ok func(byte) bool, want string) (string, error) {
	c, err := newCode(kind, s)
	if err != nil {
		return "", err
	}
	if !ok(c.s[0]) {
		return "", c.fail(ErrCodeCharacter, 0, want)
	}
	if len(c.s) != 1 {
		return "", c.length("1 character")
	}
	return c.s, nil
}
