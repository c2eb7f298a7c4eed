package terminology

// ValidateNPI checks a National Provider Identifier.
//
// MAPPING.md §3.4: an NPI is 10 digits (US Core us-core-16: ^[0-9]{10}$); the
// 10th is a Luhn check digit computed over the constant prefix 80840 followed
// by the first 9 digits (us-core-17: double digits 1, 3, 5, 7, 9, subtract 9
// from doubled results over 9, add digits 2, 4, 6, 8 and the check digit,
// add 24 for the prefix, and require sum mod 10 == 0). 1234567893 is valid.
// On failure MAPPING.md keeps the identifier and logs a warning: the caller
// decides; this only reports.
func ValidateNPI(s string) error {
	c := code{kind: KindNPI, s: s}
	if s == "" {
		return c.fail(ErrEmptyCode, -1, "")
	}
	if err := c.digitsOnly("a digit"); err != nil {
		return err
	}
	if len(s) != 10 {
		return c.length("10 digits")
	}
	if (npiSum(s[:9])+int(s[9]-'0'))%10 != 0 {
		return c.fail(ErrCheckDigit, 9, "the Luhn check digit over 80840 and the first 9 digits")
	}
	return nil
}

// NPICheckDigit returns the check digit ('0'..'9') that completes the first 9
// digits of an NPI (MAPPING.md §3.4).
func NPICheckDigit(first9 string) (byte, error) {
	c := code{kind: KindNPI, s: first9}
	if first9 == "" {
		return 0, c.fail(ErrEmptyCode, -1, "")
	}
	if err := c.digitsOnly("a digit"); err != nil {
		return 0, err
	}
	if len(first9) != 9 {
		return 0, c.length("9 digits")
	}
	return byte('0' + (10-npiSum(first9)%10)%10), nil
}

// npiSum is the Luhn sum of the prefix 80840 and the 9 digits, without the
// check digit: the 9 digits are at the doubled positions 1, 3, 5, 7, 9, and
// the prefix contributes 24.
func npiSum(d string) int {
	sum := 24
	for i := 0; i < 9; i++ {
		v := int(d[i] - '0')
		if i%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum
}
