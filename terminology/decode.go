package terminology

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// resourceDoc is the union of the ConceptMap and Bundle shapes, so a single
// pass of encoding/json decodes either.
type resourceDoc struct {
	ResourceType string `json:"resourceType"`
	*ConceptMap
	Entry []bundleEntry `json:"entry"`
}

type bundleEntry struct {
	Resource *resourceDoc `json:"resource"`
}

// rawBundle is the slow-path shape: entries kept raw, decoded one by one.
type rawBundle struct {
	ResourceType string `json:"resourceType"`
	Entry        []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

// ReadConceptMaps reads FHIR R4 JSON from r: a single ConceptMap, or a Bundle
// whose entries hold ConceptMaps (entries holding other resource types are
// skipped; a nested Bundle is read too). Every map is validated and its code
// lookup built before it is returned.
//
// Validation checks what translation relies on: group source and target,
// element code, a valid R4 equivalence on every target, a code on every
// target that is not unmatched, and the unmapped rules (R4 invariants cmd-2
// and cmd-3). It does not enforce cmd-1 (a comment on narrower and inexact
// targets), which FHIR servers do enforce on write.
//
// Errors are [*ConceptMapError] values with a byte offset and/or JSON path.
func ReadConceptMaps(r io.Reader) ([]*ConceptMap, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return ParseConceptMaps(data)
}

// ParseConceptMaps is [ReadConceptMaps] over a byte slice.
func ParseConceptMaps(data []byte) ([]*ConceptMap, error) {
	var doc resourceDoc
	err := json.Unmarshal(data, &doc)
	if err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return nil, jsonError(err, "")
		}
		// A type error may come from a non-ConceptMap entry of a Bundle
		// (a Patient's "name" is an array): retry entry by entry.
		return parseSlow(data, "", 0)
	}
	var out []*ConceptMap
	if err := collect(&doc, "", &out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// maxBundleDepth bounds Bundle-in-Bundle nesting.
const maxBundleDepth = 8

// collect appends the ConceptMaps of a decoded document to out.
func collect(doc *resourceDoc, path string, out *[]*ConceptMap, depth int) error {
	switch doc.ResourceType {
	case "ConceptMap":
		cm := doc.ConceptMap
		if cm == nil {
			cm = &ConceptMap{}
		}
		if err := cm.compileAt(path); err != nil {
			return err
		}
		*out = append(*out, cm)
		return nil
	case "Bundle":
		if depth >= maxBundleDepth {
			return &ConceptMapError{Offset: -1, Path: path, Msg: "Bundles nested too deep", Err: ErrNotConceptMap}
		}
		for i := range doc.Entry {
			res := doc.Entry[i].Resource
			if res == nil {
				continue
			}
			if res.ResourceType != "ConceptMap" && res.ResourceType != "Bundle" {
				continue
			}
			if err := collect(res, join(path, "entry["+strconv.Itoa(i)+"].resource"), out, depth+1); err != nil {
				return err
			}
		}
		return nil
	case "":
		return &ConceptMapError{Offset: -1, Path: join(path, "resourceType"), Msg: "resourceType is missing", Err: ErrNotConceptMap}
	default:
		return &ConceptMapError{Offset: -1, Path: join(path, "resourceType"), Msg: "resourceType is not ConceptMap or Bundle", Err: ErrNotConceptMap}
	}
}

// parseSlow decodes a document whose fast decode hit a type error: the
// top level is decoded with raw entries, and each entry on its own, so a
// type error is attributed to its entry and entries of other types are
// skipped whatever their shape.
func parseSlow(data []byte, path string, depth int) ([]*ConceptMap, error) {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, jsonError(err, path)
	}
	switch head.ResourceType {
	case "ConceptMap":
		var doc resourceDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, jsonError(err, path)
		}
		doc.Entry = nil
		var out []*ConceptMap
		if err := collect(&doc, path, &out, depth); err != nil {
			return nil, err
		}
		return out, nil
	case "Bundle":
		if depth >= maxBundleDepth {
			return nil, &ConceptMapError{Offset: -1, Path: path, Msg: "Bundles nested too deep", Err: ErrNotConceptMap}
		}
		var b rawBundle
		if err := json.Unmarshal(data, &b); err != nil {
			return nil, jsonError(err, path)
		}
		var out []*ConceptMap
		for i, e := range b.Entry {
			if len(e.Resource) == 0 || bytes.Equal(e.Resource, []byte("null")) {
				continue
			}
			ep := join(path, "entry["+strconv.Itoa(i)+"].resource")
			var h struct {
				ResourceType string `json:"resourceType"`
			}
			if err := json.Unmarshal(e.Resource, &h); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					// resourceType itself has the wrong type, or the
					// resource is not an object: not a ConceptMap.
					continue
				}
				return nil, relJSONError(err, ep)
			}
			if h.ResourceType != "ConceptMap" && h.ResourceType != "Bundle" {
				continue
			}
			maps, err := parseSlow(e.Resource, ep, depth+1)
			if err != nil {
				var ce *ConceptMapError
				if errors.As(err, &ce) && ce.Offset >= 0 && ep != "" {
					// Offsets inside an entry are relative to it;
					// the path is the position.
					ce.Offset = -1
				}
				return nil, err
			}
			out = append(out, maps...)
		}
		return out, nil
	case "":
		return nil, &ConceptMapError{Offset: -1, Path: join(path, "resourceType"), Msg: "resourceType is missing", Err: ErrNotConceptMap}
	}
	return nil, &ConceptMapError{Offset: -1, Path: join(path, "resourceType"), Msg: "resourceType is not ConceptMap or Bundle", Err: ErrNotConceptMap}
}

// jsonError converts an encoding/json error to a *ConceptMapError. The
// messages of json.SyntaxError and json.UnmarshalTypeError hold at most one
// input character and Go type names, never a value.
func jsonError(err error, path string) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off := se.Offset // bytes read, including the offending one
		if off > 0 && !strings.HasPrefix(se.Error(), "unexpected end") {
			off--
		}
		return &ConceptMapError{Offset: off, Path: path, Msg: se.Error(), Err: ErrSyntax}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		p := path
		if f := fieldPath(te.Field); f != "" {
			p = join(path, f)
		}
		msg := "JSON " + te.Value + " where " + typeName(te) + " was expected"
		if te.Value == "" {
			msg = "JSON value of the wrong type"
		}
		return &ConceptMapError{Offset: te.Offset, Path: p, Msg: msg, Err: ErrInvalidConceptMap}
	}
	// io.ErrUnexpectedEOF and other structural failures.
	return &ConceptMapError{Offset: -1, Path: path, Msg: "malformed JSON", Err: ErrSyntax}
}

// relJSONError is jsonError for a fragment whose offsets are not absolute.
func relJSONError(err error, path string) error {
	e := jsonError(err, path)
	if ce, ok := e.(*ConceptMapError); ok {
		ce.Offset = -1
	}
	return e
}

func typeName(te *json.UnmarshalTypeError) string {
	if te.Type == nil {
		return "another type"
	}
	switch te.Type.Kind().String() {
	case "slice":
		return "an array"
	case "struct", "ptr", "map":
		return "an object"
	case "string":
		return "a string"
	}
	return te.Type.String()
}

// fieldPath turns encoding/json's dotted field path into a JSON path by
// dropping the names of embedded Go structs.
func fieldPath(f string) string {
	parts := strings.Split(f, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "ConceptMap" && p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}
