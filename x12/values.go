package x12

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/shopspring/decimal"
)

// Value helpers. Typed records keep every element as its raw text (a string or a
// named string type such as [Amount]); the functions here turn that text into Go
// values on demand. They never put the text itself into an error message: the
// errors wrap [ErrInvalidValue] and name only the expected format.

// Amount is an X12 decimal number (data element type R, e.g. CLM02, SV102, CLP04,
// AMT02) kept as its raw text: "150", "150.5", "-12.75", ".5". Money is never a
// float: use [Amount.Decimal].
type Amount string

// Decimal returns the exact decimal value of a. An empty Amount is an error
// (check for "" first when the element is situational).
func (a Amount) Decimal() (decimal.Decimal, error) { return ParseAmount(string(a)) }

// IsValid reports whether a is a well-formed X12 decimal number.
func (a Amount) IsValid() bool { return validAmount(string(a)) }

var (
	errAmount   = fmt.Errorf("x12: malformed decimal number (want [-]digits[.digits]): %w", ErrInvalidValue)
	errDate     = fmt.Errorf("x12: malformed date (want CCYYMMDD): %w", ErrInvalidValue)
	errRange    = fmt.Errorf("x12: malformed date range (want CCYYMMDD-CCYYMMDD): %w", ErrInvalidValue)
	errDateTime = fmt.Errorf("x12: malformed date-time (want CCYYMMDDHHMM): %w", ErrInvalidValue)
	errTime     = fmt.Errorf("x12: malformed time (want HHMM[SS[D[D]]]): %w", ErrInvalidValue)
	errFormat   = fmt.Errorf("x12: unknown date/time format qualifier: %w", ErrInvalidValue)
	errBadOrder = fmt.Errorf("x12: date range ends before it starts: %w", ErrInvalidValue)
)

// validAmount implements the X12 R (decimal) syntax: an optional leading minus
// sign, digits with at most one decimal point, at least one digit. No plus sign,
// no exponent, no thousands separators.
func validAmount(s string) bool {
	i := 0
	if len(s) > 0 && s[0] == '-' {
		i = 1
	}
	digits, points := 0, 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			points++
			if points > 1 {
				return false
			}
		default:
			return false
		}
	}
	return digits > 0
}

// ParseAmount parses an X12 decimal number exactly. See [Amount].
func ParseAmount(s string) (decimal.Decimal, error) {
	if !validAmount(s) {
		return decimal.Decimal{}, errAmount
	}
	d, err := decimal.NewFromString(s)
	if err != nil { // not reachable after validAmount, kept for safety
		return decimal.Decimal{}, errAmount
	}
	return d, nil
}

func digitsN(s string, n int) (int, bool) {
	if len(s) < n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func parseYMD(s string) (time.Time, bool) {
	y, m, d, ok := splitYMD(s)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}

// splitYMD checks a CCYYMMDD date and returns its parts.
func splitYMD(s string) (y, m, d int, ok bool) {
	if len(s) != 8 {
		return 0, 0, 0, false
	}
	y, ok1 := digitsN(s, 4)
	m, ok2 := digitsN(s[4:], 2)
	d, ok3 := digitsN(s[6:], 2)
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// checkYMD reports whether s is a valid CCYYMMDD date (no time.Time built).
// It reads the eight bytes as one word.
func checkYMD(s string) bool {
	if len(s) != 8 {
		return false
	}
	x := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s), 8))
	// Every byte is 0x30 to 0x39.
	if x&0xF0F0F0F0F0F0F0F0 != 0x3030303030303030 || (x+0x0606060606060606)&0xF0F0F0F0F0F0F0F0 != 0x3030303030303030 {
		return false
	}
	x &= 0x0F0F0F0F0F0F0F0F
	dig := func(i int) int { return int(x >> (8 * i) & 0xF) }
	y := dig(0)*1000 + dig(1)*100 + dig(2)*10 + dig(3)
	m := dig(4)*10 + dig(5)
	d := dig(6)*10 + dig(7)
	return m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m)
}

// checkHM reports whether s is a valid HHMM time.
func checkHM(s string) bool {
	if len(s) != 4 {
		return false // checked first: s[2:] below needs two bytes
	}
	h, ok1 := digitsN(s, 2)
	m, ok2 := digitsN(s[2:], 2)
	return ok1 && ok2 && h <= 23 && m <= 59
}

// checkPeriod validates a date/time value against its format qualifier like
// ParsePeriod, without building time values. It returns "" when valid, else
// the 999 IK403 code: "7" unknown format qualifier, "8" invalid date, "9"
// invalid time.
func checkPeriod(format, v string) string {
	switch format {
	case "D8":
		if checkYMD(v) {
			return ""
		}
	case "RD8":
		if len(v) == 17 && v[8] == '-' && checkYMD(v[:8]) && checkYMD(v[9:]) && v[9:] >= v[:8] {
			return ""
		}
	case "DT":
		if len(v) == 12 && checkYMD(v[:8]) && checkHM(v[8:]) {
			return ""
		}
	case "RDT":
		if len(v) == 25 && v[12] == '-' && checkYMD(v[:8]) && checkHM(v[8:12]) && checkYMD(v[13:21]) && checkHM(v[21:]) && v[13:] >= v[:12] {
			return ""
		}
	case "TM":
		if _, err := ParseTime(v); err == nil {
			return ""
		}
		return "9"
	default:
		return "7"
	}
	return "8"
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// ParseDate parses a D8 date (CCYYMMDD: DTP03 with DTP02=D8, DMG02, BPR16, DTM02,
// BHT04, GS04) as midnight UTC. X12 carries no time zone: the UTC location is only
// a container, the value is a calendar date.
func ParseDate(s string) (time.Time, error) {
	t, ok := parseYMD(s)
	if !ok {
		return time.Time{}, errDate
	}
	return t, nil
}

// ParseDateRange parses an RD8 range (CCYYMMDD-CCYYMMDD). Both ends are dates at
// midnight UTC; end is the last day of the range (inclusive). A range that ends
// before it starts is an error.
func ParseDateRange(s string) (start, end time.Time, err error) {
	if len(s) != 17 || s[8] != '-' {
		return time.Time{}, time.Time{}, errRange
	}
	var ok1, ok2 bool
	start, ok1 = parseYMD(s[:8])
	end, ok2 = parseYMD(s[9:])
	if !ok1 || !ok2 {
		return time.Time{}, time.Time{}, errRange
	}
	if end.Before(start) {
		return time.Time{}, time.Time{}, errBadOrder
	}
	return start, end, nil
}

// ParseTime parses a TM time of day (HHMM, HHMMSS, HHMMSSD or HHMMSSDD: DTP03
// with DTP02=TM, BHT05, DTM03, GS05) and returns it as the offset since midnight.
func ParseTime(s string) (time.Duration, error) {
	n := len(s)
	if n != 4 && n != 6 && n != 7 && n != 8 {
		return 0, errTime
	}
	h, ok1 := digitsN(s, 2)
	m, ok2 := digitsN(s[2:], 2)
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return 0, errTime
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	if n >= 6 {
		sec, ok := digitsN(s[4:], 2)
		if !ok || sec > 59 {
			return 0, errTime
		}
		d += time.Duration(sec) * time.Second
	}
	if n > 6 {
		frac, ok := digitsN(s[6:], n-6)
		if !ok {
			return 0, errTime
		}
		if n == 7 {
			d += time.Duration(frac) * 100 * time.Millisecond
		} else {
			d += time.Duration(frac) * 10 * time.Millisecond
		}
	}
	return d, nil
}

// ParseDateTime parses a DT date-time (CCYYMMDDHHMM, e.g. DTP*435*DT admission
// date and hour) as a wall-clock time in UTC (X12 carries no zone).
func ParseDateTime(s string) (time.Time, error) {
	if len(s) != 12 {
		return time.Time{}, errDateTime
	}
	day, ok := parseYMD(s[:8])
	if !ok {
		return time.Time{}, errDateTime
	}
	tod, err := ParseTime(s[8:])
	if err != nil {
		return time.Time{}, errDateTime
	}
	return day.Add(tod), nil
}

// Period is a parsed DTP value: a single date or date-time (Start == End), a
// range, or (format TM) a time of day in TimeOfDay.
type Period struct {
	Start, End time.Time     // zero for TM
	HasTime    bool          // DT and RDT carry hours and minutes
	TimeOfDay  time.Duration // TM only: offset since midnight
	IsTime     bool          // the format was TM (a time of day, no date)
}

// IsRange reports whether p spans more than one instant (RD8, RDT).
func (p Period) IsRange() bool { return !p.IsTime && !p.Start.Equal(p.End) }

// ParsePeriod parses a date/time value according to its X12 format qualifier
// (DTP02): D8, RD8, DT, RDT (CCYYMMDDHHMM-CCYYMMDDHHMM) or TM.
func ParsePeriod(format, value string) (Period, error) {
	switch format {
	case "D8":
		t, err := ParseDate(value)
		return Period{Start: t, End: t}, err
	case "RD8":
		s, e, err := ParseDateRange(value)
		return Period{Start: s, End: e}, err
	case "DT":
		t, err := ParseDateTime(value)
		return Period{Start: t, End: t, HasTime: true}, err
	case "RDT":
		if len(value) != 25 || value[12] != '-' {
			return Period{}, errDateTime
		}
		s, err1 := ParseDateTime(value[:12])
		e, err2 := ParseDateTime(value[13:])
		if err := errors.Join(err1, err2); err != nil {
			return Period{}, errDateTime
		}
		if e.Before(s) {
			return Period{}, errBadOrder
		}
		return Period{Start: s, End: e, HasTime: true}, nil
	case "TM":
		d, err := ParseTime(value)
		return Period{TimeOfDay: d, IsTime: true}, err
	}
	return Period{}, errFormat
}
