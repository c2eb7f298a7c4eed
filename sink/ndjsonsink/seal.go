package ndjsonsink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Manifest is a Bulk Data manifest (the shape of a $export completion
// response), written as manifest.json when a set is sealed.
type Manifest struct {
	// TransactionTime is when the set was sealed (a FHIR instant).
	TransactionTime string `json:"transactionTime"`
	// Request is Options.Request.
	Request string `json:"request"`
	// RequiresAccessToken is Options.RequiresAccessToken.
	RequiresAccessToken bool `json:"requiresAccessToken"`
	// Output lists the resource files: the input of $import.
	Output []File `json:"output"`
	// Deleted lists files of transaction Bundles whose entries DELETE the
	// resources deleted within the set. $import cannot delete: apply them
	// after the import (POST each line to the server's base URL).
	Deleted []File `json:"deleted"`
	// Error is always empty: a sink reports errors to its caller.
	Error []File `json:"error"`
}

// File is one file of a manifest.
type File struct {
	// Type is the resource type of every line ("Bundle" for deleted files).
	Type string `json:"type"`
	// URL is Options.BaseURL + "/" + the file name, or the bare file name.
	URL string `json:"url"`
	// Count is the number of lines (resources) in the file.
	Count int `json:"count"`
}

// seal writes the output files, the deleted files and the manifest, then
// removes the work directory. s.mu is held. The work files stay untouched
// until the manifest is durable, so a seal that stops (an error, ctx, a
// crash) can be done again from the start.
func (s *Sink) seal(ctx context.Context) error {
	for _, ts := range s.st.types {
		for _, p := range ts.parts {
			if p.f != nil {
				if err := p.f.Close(); err != nil {
					return err
				}
				p.f = nil
			}
		}
	}
	if err := s.removeOutputs(); err != nil {
		return err
	}
	m := Manifest{
		TransactionTime: s.opts.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Request:         s.opts.Request,
		// Importers read these as arrays; never null.
		Output: []File{}, Deleted: []File{}, Error: []File{},
	}
	w := bufio.NewWriterSize(nil, 1<<20) // reused by every copy
	for _, ts := range s.st.sortedTypes() {
		k := 0
		for _, p := range ts.parts {
			if p.live() == 0 {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			k++
			name := fmt.Sprintf("%s.%06d.ndjson", ts.name, k)
			if err := s.publishPart(p, filepath.Join(s.dir, name), w); err != nil {
				return err
			}
			m.Output = append(m.Output, File{Type: ts.name, URL: s.url(name), Count: p.live()})
		}
	}
	deleted, err := s.writeDeleted(ctx)
	if err != nil {
		return err
	}
	m.Deleted = append(m.Deleted, deleted...)
	if err := syncDir(s.dir); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := s.writeFile(filepath.Join(s.dir, ManifestName), append(b, '\n')); err != nil {
		return err
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	// Sealed. What is left is cleanup, which New also does.
	if s.journal != nil {
		s.journal.Close()
		s.journal = nil
	}
	rmErr := os.RemoveAll(s.work)
	s.closeFiles()
	if rmErr == nil {
		rmErr = syncDir(s.dir)
	}
	if rmErr != nil {
		return fmt.Errorf("ndjsonsink: set sealed, but removing its work files: %w", rmErr)
	}
	return nil
}

// removeOutputs removes output files a failed seal left behind.
func (s *Sink) removeOutputs() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if outputRe.MatchString(e.Name()) {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Sink) url(name string) string {
	if s.opts.BaseURL == "" {
		return name
	}
	return strings.TrimSuffix(s.opts.BaseURL, "/") + "/" + name
}

// publishPart puts the live lines of p at dst. A part without dead lines is
// hard-linked (its content is already durable); one with dead lines is
// copied without them, through w, to a temporary file, fsynced and renamed.
// Either way dst appears whole or not at all.
func (s *Sink) publishPart(p *part, dst string, w *bufio.Writer) error {
	if p.ndead == 0 {
		if err := os.Link(p.path, dst); err == nil {
			return nil
		}
	}
	tmp := filepath.Join(s.work, "publish"+tmpSuffix)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w.Reset(f)
	lines := 0
	err = eachLine(p.path, p.lines, func(line int32, b []byte) error {
		if p.isDead(line) {
			return nil
		}
		lines++
		w.Write(b)
		return w.WriteByte('\n') // a write error sticks to w
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil && lines != p.live() {
		err = fmt.Errorf("%w: %s: %d live lines, want %d", ErrCorrupt, p.path, lines, p.live())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// deleteBundle is one line of a deleted file.
type deleteBundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Entry        []deleteEntry `json:"entry"`
}

type deleteEntry struct {
	Request deleteRequest `json:"request"`
}

type deleteRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// writeDeleted writes the resources whose last op in the set is a delete as
// transaction Bundles of DELETE entries, sorted by type and id.
func (s *Sink) writeDeleted(ctx context.Context) ([]File, error) {
	var keys []string
	for _, ts := range s.st.sortedTypes() {
		ids := make([]string, 0, len(ts.deleted))
		for id := range ts.deleted {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			keys = append(keys, ts.name+"/"+id)
		}
	}
	var (
		files []File
		buf   []byte
		lines int
	)
	emit := func() error {
		if lines == 0 {
			return nil
		}
		name := fmt.Sprintf("deleted.%06d.ndjson", len(files)+1)
		if err := s.writeFile(filepath.Join(s.dir, name), buf); err != nil {
			return err
		}
		files = append(files, File{Type: "Bundle", URL: s.url(name), Count: lines})
		buf, lines = nil, 0
		return ctx.Err()
	}
	for len(keys) > 0 {
		n := min(len(keys), s.opts.DeleteBundleSize)
		b := deleteBundle{ResourceType: "Bundle", Type: "transaction"}
		for _, k := range keys[:n] {
			b.Entry = append(b.Entry, deleteEntry{Request: deleteRequest{Method: "DELETE", URL: k}})
		}
		keys = keys[n:]
		line, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		line = append(line, '\n')
		if lines > 0 && (int64(len(buf)+len(line)) > s.opts.MaxFileBytes ||
			s.opts.MaxFileLines > 0 && lines >= s.opts.MaxFileLines) {
			if err := emit(); err != nil {
				return nil, err
			}
		}
		buf = append(buf, line...)
		lines++
	}
	if err := emit(); err != nil {
		return nil, err
	}
	return files, nil
}

// writeFile writes b to dst through a fsynced temporary file in the work
// directory and a rename, so dst appears whole or not at all.
func (s *Sink) writeFile(dst string, b []byte) error {
	tmp := filepath.Join(s.work, filepath.Base(dst)+tmpSuffix)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return nil
}
