package terminology

import (
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
)

// CSVField is the meaning of a column in a mapping spreadsheet.
type CSVField int

// The columns [ReadCSV] understands.
const (
	// CSVIgnore marks a column that is not read.
	CSVIgnore CSVField = iota
	// CSVSourceSystem is the source code system URI.
	CSVSourceSystem
	// CSVSourceCode is the source code (required).
	CSVSourceCode
	// CSVTargetSystem is the target code system URI.
	CSVTargetSystem
	// CSVTargetCode is the target code (required unless the equivalence is
	// unmatched).
	CSVTargetCode
	// CSVDisplay is the target code's display (optional).
	CSVDisplay
	// CSVEquivalence is the R4 equivalence of the row (optional).
	CSVEquivalence
)

// String returns the field's default header name.
func (f CSVField) String() string {
	switch f {
	case CSVSourceSystem:
		return DefaultCSVNames.SourceSystem
	case CSVSourceCode:
		return DefaultCSVNames.SourceCode
	case CSVTargetSystem:
		return DefaultCSVNames.TargetSystem
	case CSVTargetCode:
		return DefaultCSVNames.TargetCode
	case CSVDisplay:
		return DefaultCSVNames.Display
	case CSVEquivalence:
		return DefaultCSVNames.Equivalence
	}
	return "ignored"
}

// CSVNames are the header names of the columns (matched case-insensitively,
// spaces trimmed). An empty name means the file has no such column.
type CSVNames struct {
	SourceSystem, SourceCode, TargetSystem, TargetCode, Display, Equivalence string
}

// DefaultCSVNames are the header names [ReadCSV] looks for by default.
var DefaultCSVNames = CSVNames{
	SourceSystem: "source_system",
	SourceCode:   "source_code",
	TargetSystem: "target_system",
	TargetCode:   "target_code",
	Display:      "display",
	Equivalence:  "equivalence",
}

// DefaultCSVOrder is the column order of a header-less file when
// [CSVOptions].Order is not given but NoHeader is set.
var DefaultCSVOrder = []CSVField{CSVSourceSystem, CSVSourceCode, CSVTargetSystem, CSVTargetCode, CSVDisplay, CSVEquivalence}

// CSVOptions configures [ReadCSV]. A nil *CSVOptions means defaults: a header
// row with [DefaultCSVNames], comma-separated.
type CSVOptions struct {
	// Names are the header names to look for. Nil means DefaultCSVNames.
	// Columns with other names are ignored.
	Names *CSVNames
	// NoHeader says the file has no header row; Order then gives the
	// meaning of each column.
	NoHeader bool
	// Order is the meaning of each column of a header-less file (column i
	// is Order[i]; extra columns are ignored). Nil means DefaultCSVOrder.
	Order []CSVField
	// Comma is the field delimiter. Zero means ','.
	Comma rune
	// Comment, if not zero, starts comment lines.
	Comment rune
	// SourceSystem is used for rows whose source system cell is empty or
	// when there is no such column.
	SourceSystem string
	// TargetSystem is used for rows whose target system cell is empty or
	// when there is no such column.
	TargetSystem string
	// DefaultEquivalence is used for rows whose equivalence cell is empty
	// or when there is no such column. Empty means equivalent.
	DefaultEquivalence Equivalence
	// URL, Name and Version are set on the resulting ConceptMap, so that
	// it can be found by an other-map rule.
	URL, Name, Version string
}

// Errors of [ReadCSV]; a [*CSVError] wraps one (or a *csv.ParseError).
var (
	// ErrCSVHeader: a required column is missing from the header, or a
	// name appears twice.
	ErrCSVHeader = errors.New("bad header")
	// ErrCSVValue: a required cell is empty or a cell holds a value its
	// column does not allow.
	ErrCSVValue = errors.New("bad value")
)

// CSVError reports bad spreadsheet input and where it is. Its text holds the
// line, the column and the column's name, never a cell's content.
type CSVError struct {
	// Line is the 1-based line of the record (0 if unknown).
	Line int
	// Column is the 1-based column (field) number, or 0 when the error is
	// about the row or comes from the CSV syntax (then the wrapped
	// *csv.ParseError has the byte column).
	Column int
	// Name is the column's header name (or its default name).
	Name string
	// Msg says what is wrong, in fixed words.
	Msg string
	// Err is ErrCSVHeader, ErrCSVValue or a *csv.ParseError.
	Err error
}

// Error returns "terminology: csv: line L, column C (name): msg".
func (e *CSVError) Error() string {
	var b strings.Builder
	b.WriteString("terminology: csv: ")
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Column > 0 {
		b.WriteString(", column ")
		b.WriteString(strconv.Itoa(e.Column))
	}
	if e.Name != "" {
		b.WriteString(" (")
		b.WriteString(csvNameText(e.Name))
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *CSVError) Unwrap() error { return e.Err }

// csvNameText keeps configured column names printable and short.
func csvNameText(s string) string {
	const max = 40
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

// ReadCSV reads a mapping spreadsheet saved as CSV and returns it as a
// ConceptMap: one group per (source system, target system), in order of first
// appearance, one element per source code, one target per row. Rows whose
// cells are all empty are skipped. A row with equivalence unmatched and no
// target code says the source code has no mapping.
//
// Errors are [*CSVError] values with the line, the column and its name; they
// never hold a cell's content (displays could hold anything).
func ReadCSV(r io.Reader, opts *CSVOptions) (*ConceptMap, error) {
	var o CSVOptions
	if opts != nil {
		o = *opts
	}
	names := DefaultCSVNames
	if o.Names != nil {
		names = *o.Names
	}
	if o.DefaultEquivalence == "" {
		o.DefaultEquivalence = EquivalenceEquivalent
	}
	if !o.DefaultEquivalence.Valid() {
		return nil, &CSVError{Name: "DefaultEquivalence", Msg: "not an R4 ConceptMapEquivalence code", Err: ErrCSVValue}
	}
	cr := csv.NewReader(r)
	if o.Comma != 0 {
		cr.Comma = o.Comma
	}
	cr.Comment = o.Comment
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	// cols[f] is the 0-based column of field f, or -1.
	var cols [CSVEquivalence + 1]int
	for i := range cols {
		cols[i] = -1
	}
	colName := func(f CSVField) string {
		switch f {
		case CSVSourceSystem:
			return names.SourceSystem
		case CSVSourceCode:
			return names.SourceCode
		case CSVTargetSystem:
			return names.TargetSystem
		case CSVTargetCode:
			return names.TargetCode
		case CSVDisplay:
			return names.Display
		case CSVEquivalence:
			return names.Equivalence
		}
		return ""
	}
	if o.NoHeader {
		order := o.Order
		if order == nil {
			order = DefaultCSVOrder
		}
		for i, f := range order {
			if f <= CSVIgnore || f > CSVEquivalence {
				continue
			}
			if cols[f] >= 0 {
				return nil, &CSVError{Column: i + 1, Name: f.String(), Msg: "field given twice in Order", Err: ErrCSVHeader}
			}
			cols[f] = i
		}
		names = DefaultCSVNames
	} else {
		header, err := cr.Read()
		if err == io.EOF {
			return nil, &CSVError{Line: 1, Msg: "no header row", Err: ErrCSVHeader}
		}
		if err != nil {
			return nil, csvReadError(err)
		}
		for i, h := range header {
			h = strings.TrimSpace(h)
			if i == 0 {
				h = strings.TrimPrefix(h, "\ufeff") // byte order mark of spreadsheet exports
			}
			for f := CSVSourceSystem; f <= CSVEquivalence; f++ {
				n := colName(f)
				if n == "" || !strings.EqualFold(h, n) {
					continue
				}
				if cols[f] >= 0 {
					return nil, &CSVError{Line: 1, Column: i + 1, Name: n, Msg: "column appears twice", Err: ErrCSVHeader}
				}
				cols[f] = i
			}
		}
	}
	need := func(f CSVField, fallback string) error {
		if cols[f] >= 0 || fallback != "" {
			return nil
		}
		line := 1
		if o.NoHeader {
			line = 0
		}
		name := colName(f)
		if name == "" {
			name = f.String()
		}
		return &CSVError{Line: line, Name: name, Msg: "required column missing", Err: ErrCSVHeader}
	}
	for _, req := range []struct {
		f        CSVField
		fallback string
	}{{CSVSourceSystem, o.SourceSystem}, {CSVSourceCode, ""}, {CSVTargetSystem, o.TargetSystem}, {CSVTargetCode, ""}} {
		if err := need(req.f, req.fallback); err != nil {
			return nil, err
		}
	}

	cm := &ConceptMap{URL: o.URL, Name: o.Name, Version: o.Version, Status: "active"}
	type pair struct{ source, target string }
	groups := map[pair]int{}
	elems := map[pair]map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvReadError(err)
		}
		if allEmpty(rec) {
			continue
		}
		cell := func(f CSVField) string {
			if c := cols[f]; c >= 0 && c < len(rec) {
				return strings.TrimSpace(rec[c])
			}
			return ""
		}
		bad := func(f CSVField, msg string) error {
			line, _ := cr.FieldPos(0)
			col := cols[f]
			if col >= 0 && col < len(rec) {
				line, _ = cr.FieldPos(col)
			}
			return &CSVError{Line: line, Column: col + 1, Name: colName(f), Msg: msg, Err: ErrCSVValue}
		}
		src, tgt := cell(CSVSourceSystem), cell(CSVTargetSystem)
		if src == "" {
			src = o.SourceSystem
		}
		if tgt == "" {
			tgt = o.TargetSystem
		}
		if src == "" {
			return nil, bad(CSVSourceSystem, "empty source system")
		}
		if tgt == "" {
			return nil, bad(CSVTargetSystem, "empty target system")
		}
		code := cell(CSVSourceCode)
		if code == "" {
			return nil, bad(CSVSourceCode, "empty source code")
		}
		eq := o.DefaultEquivalence
		if s := cell(CSVEquivalence); s != "" {
			eq = Equivalence(strings.ToLower(s))
			if !eq.Valid() {
				r5, ok := equivalenceFromR5(strings.ToLower(s))
				if !ok {
					return nil, bad(CSVEquivalence, "not an R4 ConceptMapEquivalence code")
				}
				eq = r5
			}
		}
		t := Target{Code: cell(CSVTargetCode), Display: cell(CSVDisplay), Equivalence: eq}
		if t.Code == "" && eq != EquivalenceUnmatched {
			return nil, bad(CSVTargetCode, "empty target code (allowed only with equivalence unmatched)")
		}
		k := pair{src, tgt}
		gi, ok := groups[k]
		if !ok {
			gi = len(cm.Group)
			groups[k] = gi
			elems[k] = map[string]int{}
			cm.Group = append(cm.Group, Group{Source: src, Target: tgt})
		}
		g := &cm.Group[gi]
		ei, ok := elems[k][code]
		if !ok {
			ei = len(g.Element)
			elems[k][code] = ei
			g.Element = append(g.Element, Element{Code: code})
		}
		g.Element[ei].Target = append(g.Element[ei].Target, t)
	}
	if err := cm.compile(); err != nil {
		return nil, err
	}
	return cm, nil
}

func allEmpty(rec []string) bool {
	for _, s := range rec {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

// csvReadError wraps an encoding/csv error; *csv.ParseError's text holds
// positions and a fixed description only.
func csvReadError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &CSVError{Line: pe.Line, Msg: pe.Error(), Err: pe}
	}
	return &CSVError{Msg: "read failed: " + err.Error(), Err: err}
}
