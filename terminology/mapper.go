package terminology

import (
	"context"
	"errors"
	"strings"
)

// Coding is a code from a code system: the input and the output of a [Mapper].
// It mirrors FHIR's Coding, plus the provenance of a translation.
type Coding struct {
	// System is the code system's canonical URI, e.g. [SystemICD10CM].
	System string
	// Version is the code system version, if known.
	Version string
	// Code is the code within System.
	Code string
	// Display is the code's text in System. It is empty when the source
	// gave none or when a licence forbids it (see [StripLicensedDisplays]).
	Display string

	// Equivalence is how the translated code relates to the source code
	// ("equivalent", "wider", ...). It is set on results and ignored on input.
	Equivalence Equivalence
	// ConceptMap is the canonical URL of the ConceptMap (or the name of the
	// remote server's map, when the server reports it) that produced the
	// translation. It is set on results and ignored on input.
	ConceptMap string
}

// IsZero reports whether c has neither a system nor a code.
func (c Coding) IsZero() bool { return c.System == "" && c.Code == "" }

// Mapper translates a coding into a target code system.
//
// Translate returns the translation of from into targetSystem, or an error
// that wraps [ErrNoMapping] (normally a [*NoMappingError]) when there is none.
// Any other error (a network failure, a broken map) means the answer is
// unknown, not negative. An empty targetSystem means "any target system".
//
// Implementations are safe for concurrent use. A Mapper is meant to be
// called once per code by a converter (fhirmap): wrap slow mappers in a
// [Cache].
type Mapper interface {
	Translate(ctx context.Context, from Coding, targetSystem string) (Coding, error)
}

// MapperFunc adapts a function to the [Mapper] interface.
type MapperFunc func(ctx context.Context, from Coding, targetSystem string) (Coding, error)

// Translate calls f(ctx, from, targetSystem).
func (f MapperFunc) Translate(ctx context.Context, from Coding, targetSystem string) (Coding, error) {
	return f(ctx, from, targetSystem)
}

// ErrNoMapping is wrapped by the error a [Mapper] returns when it knows of no
// translation for a code. Test with errors.Is(err, ErrNoMapping).
var ErrNoMapping = errors.New("no mapping")

// NoMappingError says that a coding has no translation into a target system.
// It matches [ErrNoMapping] under errors.Is. Its Error text names the systems
// and the reason, never the code.
type NoMappingError struct {
	// From is the coding that could not be translated.
	From Coding
	// TargetSystem is the requested target system ("" for any).
	TargetSystem string
	// Reason says why: one of the Reason constants.
	Reason Reason
	// Equivalence is the equivalence that excluded the match (e.g.
	// "unmatched", "disjoint"), when Reason is [ReasonExcluded].
	Equivalence Equivalence
}

// Reason is why a [NoMappingError] was returned.
type Reason string

// Reasons for a [NoMappingError].
const (
	// ReasonNoMap: no map (or group) translates From.System to the target system.
	ReasonNoMap Reason = "no map between the systems"
	// ReasonNoElement: a map exists but does not list the code and has no
	// unmapped rule that applies.
	ReasonNoElement Reason = "code not in map"
	// ReasonExcluded: the map lists the code, but every target's equivalence
	// says it is not a mapping (unmatched, disjoint) or was rejected by the
	// caller's Accept function, or depends on other data.
	ReasonExcluded Reason = "code explicitly not mapped"
	// ReasonRemote: a terminology server answered result=false.
	ReasonRemote Reason = "server found no mapping"
	// ReasonNoMapper: [First] was given no mappers.
	ReasonNoMapper Reason = "no mapper configured"
)

// Error returns a message naming the systems and the reason, not the code.
func (e *NoMappingError) Error() string {
	var b strings.Builder
	b.WriteString("terminology: no mapping from ")
	b.WriteString(systemText(e.From.System))
	b.WriteString(" to ")
	b.WriteString(systemText(e.TargetSystem))
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(string(e.Reason))
	}
	if e.Equivalence != "" {
		b.WriteString(" (")
		b.WriteString(string(e.Equivalence))
		b.WriteString(")")
	}
	return b.String()
}

// Is reports whether target is [ErrNoMapping].
func (e *NoMappingError) Is(target error) bool { return target == ErrNoMapping }

// systemText keeps system URIs short and printable in error messages. System
// URIs are configuration, not member data, but they may come from outside
// input, so they are truncated and stripped of control characters.
func systemText(s string) string {
	if s == "" {
		return "(any)"
	}
	const max = 120
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// First returns a [Mapper] that asks each mapper in turn and returns the first
// translation found. An error wrapping [ErrNoMapping] falls through to the next
// mapper; any other error stops the chain and is returned. When no mapper has
// a translation, the last mapper's no-mapping error is returned.
func First(mappers ...Mapper) Mapper {
	ms := make([]Mapper, 0, len(mappers))
	for _, m := range mappers {
		if m != nil {
			ms = append(ms, m)
		}
	}
	return firstMapper(ms)
}

type firstMapper []Mapper

func (f firstMapper) Translate(ctx context.Context, from Coding, targetSystem string) (Coding, error) {
	var last error
	for _, m := range f {
		if err := ctx.Err(); err != nil {
			return Coding{}, err
		}
		c, err := m.Translate(ctx, from, targetSystem)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, ErrNoMapping) {
			return Coding{}, err
		}
		last = err
	}
	if last == nil {
		last = &NoMappingError{From: from, TargetSystem: targetSystem, Reason: ReasonNoMapper}
	}
	return Coding{}, last
}
