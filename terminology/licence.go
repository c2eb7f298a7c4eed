package terminology

import (
	"context"
	"strings"
)

// licensedPrefixes are the systems whose descriptions are licensed
// (MAPPING.md decision D13: CPT, CDT, NUBC and X12 code descriptions), by
// exact URI or by prefix (ending in "/").
var licensedSystems = map[string]bool{
	SystemCPT:                   true, // AMA
	SystemCDT:                   true, // ADA
	SystemNUBCDischargeStatusR4: true, // NUBC (older R4 URI)
	SystemCARC:                  true, // X12
	SystemRARC:                  true, // X12
}

var licensedPrefixes = []string{
	"https://www.nubc.org/CodeSystem/", // NUBC: revenue, type of bill, point of origin, priority, discharge status
	"https://x12.org/",                 // X12: CARC, RARC, ambulance transport reason
	"https://codesystem.x12.org/",      // X12 code lists used by PAS
}

// IsLicensed reports whether the descriptions (displays) of system are
// licensed, so that a deployment without the licence must not emit them:
// CPT (AMA), CDT (ADA), every NUBC code system (revenue codes, type of bill,
// point of origin, priority of admission, discharge status) and the X12 code
// lists (CARC, RARC, ambulance transport reasons, the PAS code lists).
// MAPPING.md D13: emit codes only, and let callers plug in licensed display
// text. The codes themselves may be emitted.
func IsLicensed(system string) bool {
	if licensedSystems[system] {
		return true
	}
	for _, p := range licensedPrefixes {
		if strings.HasPrefix(system, p) {
			return true
		}
	}
	return false
}

// WithoutLicensedDisplay returns c with Display cleared when c's system is
// licensed (see [IsLicensed]).
func (c Coding) WithoutLicensedDisplay() Coding {
	if c.Display != "" && IsLicensed(c.System) {
		c.Display = ""
	}
	return c
}

// StripLicensedDisplays returns a [Mapper] that clears the Display of every
// translation into a licensed system (see [IsLicensed]), for a deployment
// without the licences. Put it outside a [Cache] or inside: either works.
func StripLicensedDisplays(m Mapper) Mapper {
	return MapperFunc(func(ctx context.Context, from Coding, targetSystem string) (Coding, error) {
		c, err := m.Translate(ctx, from, targetSystem)
		if err != nil {
			return c, err
		}
		return c.WithoutLicensedDisplay(), nil
	})
}
