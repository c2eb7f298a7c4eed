package terminology

// Equivalence is a FHIR R4 ConceptMapEquivalence code: how a target concept
// relates to its source concept (http://hl7.org/fhir/concept-map-equivalence).
type Equivalence string

// The FHIR R4 ConceptMapEquivalence codes.
const (
	// EquivalenceRelatedTo: the concepts are related, the nature of the
	// relationship is not known.
	EquivalenceRelatedTo Equivalence = "relatedto"
	// EquivalenceEquivalent: the definitions are equivalent.
	EquivalenceEquivalent Equivalence = "equivalent"
	// EquivalenceEqual: the concepts are exactly the same (same definition,
	// differing at most in spelling).
	EquivalenceEqual Equivalence = "equal"
	// EquivalenceWider: the target is wider in meaning than the source.
	EquivalenceWider Equivalence = "wider"
	// EquivalenceSubsumes: the target subsumes the source (a stronger wider).
	EquivalenceSubsumes Equivalence = "subsumes"
	// EquivalenceNarrower: the target is narrower in meaning than the source.
	EquivalenceNarrower Equivalence = "narrower"
	// EquivalenceSpecializes: the target specializes the source.
	EquivalenceSpecializes Equivalence = "specializes"
	// EquivalenceInexact: the concepts overlap but neither contains the other.
	EquivalenceInexact Equivalence = "inexact"
	// EquivalenceUnmatched: there is no match for this concept in the target
	// system. It never counts as a mapping.
	EquivalenceUnmatched Equivalence = "unmatched"
	// EquivalenceDisjoint: the target concept explicitly does not match the
	// source. It never counts as a mapping.
	EquivalenceDisjoint Equivalence = "disjoint"
)

// Valid reports whether e is one of the ten R4 ConceptMapEquivalence codes.
func (e Equivalence) Valid() bool {
	switch e {
	case EquivalenceRelatedTo, EquivalenceEquivalent, EquivalenceEqual,
		EquivalenceWider, EquivalenceSubsumes, EquivalenceNarrower,
		EquivalenceSpecializes, EquivalenceInexact,
		EquivalenceUnmatched, EquivalenceDisjoint:
		return true
	}
	return false
}

// IsMatch reports whether e makes a target usable as a translation. This is
// the default acceptance rule of [Index], [ConceptMap] and [Remote]:
// relatedto, equivalent, equal, wider, subsumes, narrower, specializes and
// inexact are mappings (the equivalence is reported in [Coding.Equivalence]
// so a caller can still refuse, say, narrower ones); unmatched and disjoint
// are explicit statements that there is no mapping, and an unknown code is
// never a mapping.
func (e Equivalence) IsMatch() bool {
	return e.Valid() && e != EquivalenceUnmatched && e != EquivalenceDisjoint
}

// AcceptExact accepts only equal and equivalent targets. Pass it as the
// Accept option where a lossy translation is worse than none.
func AcceptExact(e Equivalence) bool {
	return e == EquivalenceEqual || e == EquivalenceEquivalent
}

// equivalenceFromR5 maps an R5 ConceptMapRelationship code (which some
// terminology servers return from $translate) to its R4 equivalent.
func equivalenceFromR5(r string) (Equivalence, bool) {
	switch r {
	case "related-to":
		return EquivalenceRelatedTo, true
	case "equivalent":
		return EquivalenceEquivalent, true
	case "source-is-narrower-than-target":
		return EquivalenceWider, true
	case "source-is-broader-than-target":
		return EquivalenceNarrower, true
	case "not-related-to":
		return EquivalenceDisjoint, true
	}
	return "", false
}
