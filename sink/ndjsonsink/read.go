package ndjsonsink

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
)

// Line is one resource of a set, as read back.
type Line struct {
	// File is the file name: an output file of a sealed set, or a work file
	// (under .ndjsonsink/) of an unsealed one.
	File string
	// Number is the 1-based line number in File.
	Number int
	// Type and ID name the resource.
	Type, ID string
	// JSON is the line without its newline.
	JSON []byte
}

// Resource parses the line into its google/fhir R4 message.
func (l Line) Resource() (proto.Message, error) { return resource.Unmarshal(l.JSON) }

// ReadManifest reads the manifest of the sealed set in dir. For an unsealed
// set the error wraps fs.ErrNotExist.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("ndjsonsink: reading %s: %w", ManifestName, err)
	}
	return &m, nil
}

// Lines iterates over the resources of the set in dir. For a sealed set
// these are the lines of the manifest's output files, in manifest order, as
// they are (a duplicate would show twice). For an unsealed set (open, or
// left by a crash or Detach) they are what the set would hold if sealed now:
// the latest line of each resource, by type and then in write order (the
// ops of a Write in progress may or may not be seen). The JSON of a Line is its own.
// Iteration stops at the first error, which it yields.
func Lines(dir string) iter.Seq2[Line, error] {
	return func(yield func(Line, error) bool) {
		m, err := ReadManifest(dir)
		switch {
		case err == nil:
			for _, f := range m.Output {
				name := path.Base(f.URL)
				err := eachLine(filepath.Join(dir, name), -1, func(n int32, b []byte) error {
					var h lineHead
					if err := json.Unmarshal(b, &h); err != nil || h.ResourceType != f.Type || h.ID == "" {
						return fmt.Errorf("%w: %s line %d", ErrCorrupt, name, n+1)
					}
					if !yield(Line{File: name, Number: int(n) + 1, Type: h.ResourceType, ID: h.ID, JSON: slices.Clone(b)}, nil) {
						return errStop
					}
					return nil
				})
				if err != nil {
					if !errors.Is(err, errStop) {
						yield(Line{}, err)
					}
					return
				}
			}
		case errors.Is(err, fs.ErrNotExist):
			st, err := load(filepath.Join(dir, workDirName), false)
			if err != nil {
				yield(Line{}, err)
				return
			}
			for _, ts := range st.sortedTypes() {
				err := eachLiveLine(ts, func(p *part, n int32, b []byte) error {
					var h lineHead
					if err := json.Unmarshal(b, &h); err != nil {
						return fmt.Errorf("%w: %s line %d", ErrCorrupt, p.path, n+1)
					}
					l := Line{File: filepath.Join(workDirName, filepath.Base(p.path)), Number: int(n) + 1, Type: ts.name, ID: h.ID, JSON: slices.Clone(b)}
					if !yield(l, nil) {
						return errStop
					}
					return nil
				})
				if err != nil {
					if !errors.Is(err, errStop) {
						yield(Line{}, err)
					}
					return
				}
			}
		default:
			yield(Line{}, err)
		}
	}
}

var errStop = errors.New("stop")

// Deleted returns the resources ("Type/id", sorted) the set in dir lists as
// deleted: from the deleted files of a sealed set, or from the journal of an
// unsealed one.
func Deleted(dir string) ([]string, error) {
	m, err := ReadManifest(dir)
	if errors.Is(err, fs.ErrNotExist) {
		st, err := load(filepath.Join(dir, workDirName), false)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, ts := range st.sortedTypes() {
			for id := range ts.deleted {
				out = append(out, ts.name+"/"+id)
			}
		}
		slices.Sort(out)
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range m.Deleted {
		name := path.Base(f.URL)
		err := eachLine(filepath.Join(dir, name), -1, func(n int32, b []byte) error {
			var bundle deleteBundle
			if err := json.Unmarshal(b, &bundle); err != nil || bundle.ResourceType != "Bundle" {
				return fmt.Errorf("%w: %s line %d", ErrCorrupt, name, n+1)
			}
			for _, e := range bundle.Entry {
				out = append(out, e.Request.URL)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}
