package terminology

// TypeOfBill is a NUBC type of bill: facility type, bill classification and
// frequency. Its FHIR code ([SystemNUBCTypeOfBill]) is String().
type TypeOfBill struct {
	// FacilityType is the 1st significant digit ('1' hospital, '2' skilled
	// nursing, '3' home health, '4' religious non-medical, '6'
	// intermediate care, '7' clinic, '8' special facility ...).
	FacilityType byte
	// Classification is the 2nd significant digit ('1' inpatient Part A,
	// '2' inpatient Part B, '3' outpatient, '8' swing bed ...).
	Classification byte
	// Frequency is the 3rd significant character, a digit or a letter
	// (1 admit through discharge, 7 replacement, 8 void; X in Da Vinci PCT
	// examples stands for "any").
	Frequency byte
}

// ParseTypeOfBill parses a type of bill of 3 characters (111) or of 4 with a
// leading zero (0111), upper-casing the frequency.
//
// MAPPING.md §3.3 ([verify NUBC code format], D9): the code is 0 + facility
// type and classification (CLM05-1, 2 digits) + frequency (CLM05-3, 1
// character), e.g. 11:A:1 → 0111; Da Vinci PCT uses the 4-character form
// (011X). Facility type is a digit 1 to 9, classification a digit, frequency a
// digit or letter.
func ParseTypeOfBill(s string) (TypeOfBill, error) {
	c, err := newCode(KindTypeOfBill, s)
	if err != nil {
		return TypeOfBill{}, err
	}
	u := c.s
	skip := 0
	switch len(u) {
	case 3:
	case 4:
		if u[0] != '0' {
			return TypeOfBill{}, c.fail(ErrCodeCharacter, 0, "a leading 0 in a 4-character type of bill")
		}
		u, skip = u[1:], 1
	default:
		return TypeOfBill{}, c.length("3 characters, or 4 with a leading 0")
	}
	if err := tobChars(c, u, skip); err != nil {
		return TypeOfBill{}, err
	}
	return TypeOfBill{FacilityType: u[0], Classification: u[1], Frequency: u[2]}, nil
}

// tobChars checks the characters of an unprefixed type of bill.
func tobChars(c code, u string, skip int) error {
	for i := 0; i < len(u) && i < 3; i++ {
		b := u[i]
		switch {
		case i == 0 && (b < '1' || b > '9'):
			return c.fail(ErrCodeCharacter, skip+i, "a facility type digit 1 to 9")
		case i == 1 && !isDigit(b):
			return c.fail(ErrCodeCharacter, skip+i, "a classification digit")
		case i == 2 && !isAlnum(b):
			return c.fail(ErrCodeCharacter, skip+i, "a frequency digit or letter")
		}
	}
	return nil
}

// TypeOfBillFromParts builds a type of bill from the X12 parts: CLM05-1 (837I
// facility type code, 2 digits: facility type and classification) or 835
// CLP08, and CLM05-3 or CLP09 (claim frequency, 1 character).
//
// MAPPING.md §3.3: type of bill = 0 + CLM05-1 + CLM05-3 (11:A:1 → 0111).
func TypeOfBillFromParts(facility, frequency string) (TypeOfBill, error) {
	f, err := newCode(KindTypeOfBill+" facility code", facility)
	if err != nil {
		return TypeOfBill{}, err
	}
	if err := tobChars(f, f.s, 0); err != nil {
		return TypeOfBill{}, err
	}
	if len(f.s) != 2 {
		return TypeOfBill{}, f.length("a 2-digit facility code")
	}
	q, err := newCode(KindTypeOfBill+" frequency", frequency)
	if err != nil {
		return TypeOfBill{}, err
	}
	if !isAlnum(q.s[0]) {
		return TypeOfBill{}, q.fail(ErrCodeCharacter, 0, "a frequency digit or letter")
	}
	if len(q.s) != 1 {
		return TypeOfBill{}, q.length("a 1-character frequency code")
	}
	return TypeOfBill{FacilityType: f.s[0], Classification: f.s[1], Frequency: q.s[0]}, nil
}

// String returns the 4-character FHIR code with the leading zero (0111),
// or "" for the zero TypeOfBill.
func (t TypeOfBill) String() string {
	if t == (TypeOfBill{}) {
		return ""
	}
	return string([]byte{'0', t.FacilityType, t.Classification, t.Frequency})
}

// IsInpatient reports whether the bill is inpatient, which selects the C4BB
// institutional subType (inpatient vs outpatient).
//
// MAPPING.md §4.2 [design, verify with NUBC]: inpatient when the facility type
// is 1 (hospital), 2 (skilled nursing), 4 (religious non-medical) or 6
// (intermediate care) and the classification is 1 (inpatient Part A), 2
// (inpatient Part B) or 8 (swing bed); otherwise outpatient.
func (t TypeOfBill) IsInpatient() bool {
	switch t.FacilityType {
	case '1', '2', '4', '6':
	default:
		return false
	}
	switch t.Classification {
	case '1', '2', '8':
		return true
	}
	return false
}
