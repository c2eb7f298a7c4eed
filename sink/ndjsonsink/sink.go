package ndjsonsink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
)

// ManifestName is the name of the manifest file in a sealed set's directory.
const ManifestName = "manifest.json"

// DefaultMaxFileBytes is the size a file rotates at when
// Options.MaxFileBytes is zero. It is this package's choice, not a limit of
// any server: check your importer's.
const DefaultMaxFileBytes = 256 << 20

// DefaultDeleteBundleSize is the number of DELETE entries per Bundle in the
// deleted files when Options.DeleteBundleSize is zero.
const DefaultDeleteBundleSize = 50

var (
	// ErrSealed is returned by New for a directory that holds a sealed set
	// (it has a manifest). A set is written once; start a new directory.
	ErrSealed = errors.New("ndjsonsink: import set already sealed")
	// ErrNotSet is returned by New for a directory that holds files that are
	// not part of an import set.
	ErrNotSet = errors.New("ndjsonsink: directory holds files that are not an import set")
	// ErrLocked is returned by New when another Sink (in this or another
	// process) has the directory open.
	ErrLocked = errors.New("ndjsonsink: import set in use by another sink")
)

// Options configures a Sink. Nil means the defaults.
type Options struct {
	// MaxFileBytes rotates a type's file before a line would take it past
	// this size (a line longer than it gets a file of its own). Zero means
	// DefaultMaxFileBytes.
	MaxFileBytes int64
	// MaxFileLines rotates a type's file once it holds this many lines
	// (counted before duplicates are removed at Close). Zero means no limit.
	MaxFileLines int
	// DeleteBundleSize is the number of DELETE entries per transaction
	// Bundle in the deleted files. Zero means DefaultDeleteBundleSize.
	DeleteBundleSize int
	// BaseURL, when set, is where the files will be uploaded
	// ("s3://bucket/prefix", "gs://bucket/prefix",
	// "https://account.blob.core.windows.net/container/prefix"): manifest
	// urls are BaseURL + "/" + file name. Empty means bare file names.
	BaseURL string
	// Request is the manifest's "request" field. Empty means
	// "urn:fhirsync:ndjsonsink".
	Request string
	// RequiresAccessToken is the manifest's "requiresAccessToken" field.
	RequiresAccessToken bool
	// Now is the clock for the manifest's transactionTime; nil means
	// time.Now.
	Now func() time.Time
}

// Sink writes one Bulk Data import set into a directory. It is safe for
// concurrent use. Call New to make one.
type Sink struct {
	dir, work string
	opts      Options

	closedFlag atomic.Bool
	mu         chan struct{} // a mutex whose wait honours a context

	// Guarded by mu.
	st       *state
	journal  *os.File
	lockFile *os.File
	closed   bool  // no more writes
	done     bool  // sealed or detached: nothing left to do
	broken   error // a failed write could not be undone
}

// New opens an import set in dir, creating dir when missing. An empty
// directory starts a new set. A directory holding an unsealed set (left by
// a crash or by Detach) is resumed: every write acknowledged before is kept,
// a write torn by a crash is cut off, and the output files of an interrupted
// Close are removed (Close writes them again). A sealed directory is
// ErrSealed; one holding other files is ErrNotSet; one another Sink has
// open is ErrLocked.
func New(dir string, opts *Options) (*Sink, error) {
	s := &Sink{dir: dir, work: filepath.Join(dir, workDirName), mu: make(chan struct{}, 1)}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.MaxFileBytes <= 0 {
		s.opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if s.opts.DeleteBundleSize <= 0 {
		s.opts.DeleteBundleSize = DefaultDeleteBundleSize
	}
	if s.opts.Request == "" {
		s.opts.Request = "urn:fhirsync:ndjsonsink"
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	if err := mkdirDurable(dir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
		// A seal that stopped after its manifest only left work files.
		if err := os.RemoveAll(s.work); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", ErrSealed, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	hasWork := false
	var outputs []string
	for _, e := range entries {
		switch name := e.Name(); {
		case name == workDirName && e.IsDir():
			hasWork = true
		case outputRe.MatchString(name):
			outputs = append(outputs, name)
		default:
			return nil, fmt.Errorf("%w: %s", ErrNotSet, dir)
		}
	}
	if len(outputs) > 0 && !hasWork {
		return nil, fmt.Errorf("%w: %s", ErrNotSet, dir)
	}
	if err := mkdirDurable(s.work); err != nil {
		return nil, err
	}
	if s.lockFile, err = lockDir(filepath.Join(s.work, lockName)); err != nil {
		return nil, err
	}
	if err := s.open(outputs); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// open recovers the work directory; the lock is held.
func (s *Sink) open(leftovers []string) error {
	for _, name := range leftovers {
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
			return err
		}
	}
	if len(leftovers) > 0 {
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	st, err := load(s.work, true)
	if err != nil {
		return err
	}
	s.st = st
	for _, ts := range st.types {
		if n := len(ts.parts); n > 0 {
			p := ts.parts[n-1]
			if p.f, err = os.OpenFile(p.path, os.O_RDWR, 0); err != nil {
				return err
			}
		}
	}
	if s.journal, err = os.OpenFile(filepath.Join(s.work, journalName), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return err
	}
	return syncDir(s.work)
}

func (s *Sink) lock(ctx context.Context) error {
	select {
	case s.mu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sink) unlock() { <-s.mu }

// prepared is an op checked and serialized outside the lock.
type prepared struct {
	typ, id string
	del     bool
	line    []byte // the NDJSON line, newline included
}

// Write adds ops to the set, in order, and returns once they are durable:
// the lines are written and fsynced (and a new file's directory entry
// too), so a crash after Write returns nil loses none of them. An upsert
// replaces any earlier line of the same resource in the set; a delete
// removes it and lists the resource in the set's deleted files. Ops with
// IfMatch fail with errors.ErrUnsupported (files keep no versions). Invalid
// ops fail in a *sink.BatchError and the others are written. When the disk
// refuses a write, what the call wrote is undone and it returns a retryable
// error (if undoing fails too, the Sink refuses further writes; New on the
// directory recovers). ctx is honoured until the write starts; the write
// itself then runs to its end.
func (s *Sink) Write(ctx context.Context, ops []sink.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closedFlag.Load() {
		return sink.ErrClosed
	}
	var failed []sink.IndexError
	preps := make([]prepared, 0, len(ops))
	for i, op := range ops {
		p, err := prepare(op)
		if err != nil {
			failed = append(failed, sink.IndexError{Index: i, Err: err})
			continue
		}
		preps = append(preps, p)
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	switch {
	case s.closed:
		return sink.ErrClosed
	case s.broken != nil:
		return s.broken
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(preps) > 0 {
		if err := s.commit(preps); err != nil {
			return err
		}
	}
	if failed != nil {
		return &sink.BatchError{Failed: failed}
	}
	return nil
}

var errIfMatch = fmt.Errorf("ndjsonsink: If-Match: %w (an import set keeps no versions)", errors.ErrUnsupported)

func prepare(op sink.Op) (prepared, error) {
	typ, id, err := op.Ref()
	if err != nil {
		return prepared{}, err
	}
	if op.IfMatch != "" {
		return prepared{}, errIfMatch
	}
	if op.Delete {
		return prepared{typ: typ, id: id, del: true}, nil
	}
	// google/fhir's marshaller rewrites references in the message it is
	// given: marshal a copy, the caller may share op.Resource.
	b, err := resource.Marshal(proto.Clone(op.Resource))
	if err != nil {
		return prepared{}, fmt.Errorf("%w: %s/%s: %w", sink.ErrInvalid, typ, id, err)
	}
	if bytes.IndexByte(b, '\n') >= 0 {
		return prepared{}, fmt.Errorf("%w: %s/%s: JSON is not one line", sink.ErrInvalid, typ, id)
	}
	return prepared{typ: typ, id: id, line: append(b, '\n')}, nil
}

// pendingPart is what one Write appends to one part.
type pendingPart struct {
	p         *part
	origSize  int64
	origLines int32
	buf       []byte
}

type change struct {
	ts  *typeState
	id  string
	del bool
	at  loc
}

// commit appends preps to the work files, fsyncs them, and only then
// updates the index; on failure it undoes the appends. s.mu is held.
func (s *Sink) commit(preps []prepared) error {
	var (
		touched  []*pendingPart
		byPart   = map[*part]*pendingPart{}
		created  []createdPart
		totals   = map[*typeState]int64{}
		journal  []byte
		changes  = make([]change, 0, len(preps))
		firstErr error
	)
	for _, pr := range preps {
		ts := s.st.typeFor(pr.typ)
		if _, ok := totals[ts]; !ok {
			totals[ts] = ts.total
		}
		if pr.del {
			e, _ := json.Marshal(journalEntry{Type: pr.typ, ID: pr.id, After: ts.total})
			journal = append(append(journal, e...), '\n')
			changes = append(changes, change{ts: ts, id: pr.id, del: true})
			continue
		}
		n := int64(len(pr.line))
		var p *part
		if k := len(ts.parts); k > 0 {
			p = ts.parts[k-1]
		}
		if p == nil || p.lines > 0 && (p.size+n > s.opts.MaxFileBytes ||
			s.opts.MaxFileLines > 0 && int(p.lines) >= s.opts.MaxFileLines) {
			np, err := s.newPart(ts)
			if err != nil {
				firstErr = err
				break
			}
			created = append(created, createdPart{ts, np})
			p = np
		}
		pp := byPart[p]
		if pp == nil {
			pp = &pendingPart{p: p, origSize: p.size, origLines: p.lines}
			byPart[p] = pp
			touched = append(touched, pp)
		}
		changes = append(changes, change{ts: ts, id: pr.id, at: loc{part: int32(len(ts.parts) - 1), line: p.lines}})
		pp.buf = append(pp.buf, pr.line...)
		p.size += n
		p.lines++
		ts.total++
	}
	if firstErr == nil {
		firstErr = s.flush(touched, journal, len(created) > 0)
	}
	if firstErr != nil {
		if err := s.undo(touched, created, totals); err != nil {
			s.broken = fmt.Errorf("ndjsonsink: a failed write could not be undone (%v); open the directory again to recover: %w", err, firstErr)
			return s.broken
		}
		return sink.Retryable(fmt.Errorf("ndjsonsink: write: %w", firstErr), 0)
	}
	s.st.journalSize += int64(len(journal))
	for _, c := range created {
		// Only a type's last part is written again.
		for _, p := range c.ts.parts[:len(c.ts.parts)-1] {
			if p.f != nil {
				p.f.Close()
				p.f = nil
			}
		}
	}
	for _, c := range changes {
		if c.del {
			c.ts.remove(c.id)
		} else {
			c.ts.upsert(c.id, c.at)
		}
	}
	return nil
}

// flush writes and fsyncs the pending appends.
func (s *Sink) flush(touched []*pendingPart, journal []byte, newFiles bool) error {
	for _, pp := range touched {
		if _, err := pp.p.f.WriteAt(pp.buf, pp.origSize); err != nil {
			return err
		}
	}
	if len(journal) > 0 {
		if _, err := s.journal.WriteAt(journal, s.st.journalSize); err != nil {
			return err
		}
	}
	for _, pp := range touched {
		if err := pp.p.f.Sync(); err != nil {
			return err
		}
	}
	if len(journal) > 0 {
		if err := s.journal.Sync(); err != nil {
			return err
		}
	}
	if newFiles {
		return syncDir(s.work)
	}
	return nil
}

// undo reverts what commit did to the files and the in-memory state: it
// truncates the parts it appended to, removes the parts it created and cuts
// the journal back.
func (s *Sink) undo(touched []*pendingPart, created []createdPart, totals map[*typeState]int64) error {
	var errs []error
	isNew := map[*part]bool{}
	for _, c := range created {
		isNew[c.p] = true
	}
	for _, pp := range touched {
		pp.p.size, pp.p.lines = pp.origSize, pp.origLines
		if isNew[pp.p] {
			continue
		}
		if err := pp.p.f.Truncate(pp.origSize); err != nil {
			errs = append(errs, err)
		} else if err := pp.p.f.Sync(); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(created) - 1; i >= 0; i-- {
		c := created[i]
		c.ts.parts = c.ts.parts[:len(c.ts.parts)-1]
		c.p.f.Close()
		if err := os.Remove(c.p.path); err != nil {
			errs = append(errs, err)
		}
	}
	if len(created) > 0 {
		if err := syncDir(s.work); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.journal.Truncate(s.st.journalSize); err != nil {
		errs = append(errs, err)
	}
	for ts, total := range totals {
		ts.total = total
	}
	return errors.Join(errs...)
}

// createdPart is a part created by the current commit.
type createdPart struct {
	ts *typeState
	p  *part
}

// newPart creates the next work file of ts. s.mu is held.
func (s *Sink) newPart(ts *typeState) (*part, error) {
	seq := 1
	if k := len(ts.parts); k > 0 {
		seq = ts.parts[k-1].seq + 1
	}
	path := filepath.Join(s.work, fmt.Sprintf("%s.%06d.ndjson", ts.name, seq))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	p := &part{seq: seq, path: path, f: f}
	ts.parts = append(ts.parts, p)
	return p, nil
}

// Close seals the set: it writes the output files (one line per resource,
// the latest), the deleted files and, last, the manifest, which is the
// commit point an importer waits for. Close is idempotent; if it fails (for
// example ctx ends), writes stay refused and a later Close, or New on the
// directory, seals from where the set was.
func (s *Sink) Close(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	s.closed = true
	s.closedFlag.Store(true)
	if s.done {
		return nil
	}
	if s.broken != nil {
		return s.broken
	}
	if err := s.seal(ctx); err != nil {
		return err
	}
	s.done = true
	return nil
}

// Detach stops the sink without sealing the set: files are closed and the
// directory is unlocked, and a later New on it resumes the set. Writes
// after Detach fail with sink.ErrClosed, and Close does nothing.
func (s *Sink) Detach(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	s.closed = true
	s.closedFlag.Store(true)
	if s.done {
		return nil
	}
	s.done = true
	return s.closeFiles()
}

// closeFiles closes every open file and releases the directory lock.
func (s *Sink) closeFiles() error {
	var errs []error
	if s.st != nil {
		for _, ts := range s.st.types {
			for _, p := range ts.parts {
				if p.f != nil {
					errs = append(errs, p.f.Close())
					p.f = nil
				}
			}
		}
	}
	if s.journal != nil {
		errs = append(errs, s.journal.Close())
		s.journal = nil
	}
	if s.lockFile != nil {
		errs = append(errs, s.lockFile.Close())
		s.lockFile = nil
	}
	return errors.Join(errs...)
}

// Stats describes the set as it would be sealed now.
type Stats struct {
	// Resources is the number of resources in the set (one per type and id).
	Resources int
	// Deleted is the number of resources the set lists as deleted.
	Deleted int
	// Lines is the number of lines in the work files, superseded ones
	// included.
	Lines int64
}

// Stats returns what the set holds now.
func (s *Sink) Stats() Stats {
	s.mu <- struct{}{}
	defer s.unlock()
	var st Stats
	for _, ts := range s.st.types {
		st.Resources += len(ts.index)
		st.Deleted += len(ts.deleted)
		st.Lines += ts.total
	}
	return st
}

// mkdirDurable creates dir and any missing parents, and fsyncs the parent
// of each directory it created so that the new entries survive a crash.
func mkdirDurable(dir string) error {
	dir = filepath.Clean(dir)
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("ndjsonsink: %s is not a directory", dir)
		}
		return nil
	}
	if err := mkdirDurable(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// syncDir fsyncs a directory, making the entries created or renamed in it
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
