// Package filesource reads files as messages: a directory of X12 files for a
// batch ETL run, or a drop directory watched for new files. Each file is one
// [source.Message] whose Body is the file's bytes or, with [Options.Stream],
// whose body is read from the file as it is converted (see # Memory).
//
//	src, err := filesource.Open("/data/inbound", &filesource.Options{Pattern: "*.x12"})
//	...
//	err = fhirsync.Run(ctx, src, conv, dst, nil)
//
// [Open] reads a directory (only its top level unless [Options.Recursive];
// only names matching [Options.Pattern]; never hidden files or directories,
// whose names start with "."). [OpenFiles] reads a list of files. Files are
// delivered in the order of their slash-separated paths relative to the
// directory (for OpenFiles, in the order given).
//
// In the default, finite, mode the files are listed once by Open and Read
// returns io.EOF once every one of them was acked. With [Options.Watch] the
// directory is polled every [Options.PollInterval] and Read never returns
// io.EOF; a file is read only once its size and modification time stayed the
// same for [Options.SettleTime], so a file still being written is not read
// half, and a file that changes while it is read is put back to settle
// again. Writers should still write under a hidden or non-matching name and
// rename into place, which is atomic; the settle time is the fallback for
// those that cannot.
//
// # Memory
//
// By default Read loads each file whole into Body: a file in flight costs its
// size in memory. [Options.MaxFileSize] (256 MiB by default) bounds it; a
// larger file is delivered as a failed message holding a [*TooLargeError].
// Read returns [Options.MaxBatch] files at most (1 by default), so the memory
// held is about the engine's in-flight limit times the largest file.
//
// With [Options.Stream], Read only opens each file to check it can be read,
// and delivers a streamed message: [source.Message.Open] opens the file
// again and reads it from disk, so a file of any size is converted in the
// memory of the records in flight (fhirmap's X12 converter streams). A
// streamed file must not change until its message is settled: Open, and the
// reader after every read, check that the file still has the size and
// modification time of the message's version, and fail with an error
// wrapping [ErrChanged] otherwise (the bytes of that read are not handed
// out), rather than let one message mix two versions. A change that keeps
// both the size and the modification time (a clock set back, a time
// restored by touch) is not seen. fhirsync.Run then rejects that version (a
// streaming converter's records mapped before the change are written: they
// are of that version); the new version is a new message (with Watch, once
// it settles; otherwise at the next Open, the checkpoint having the old
// version done). A streamed file removed after its message was delivered
// fails the same way, with an "open" [*FileError] wrapping fs.ErrNotExist.
//
// # Delivery
//
// At-least-once. A file is the unit: acking a message records its file as
// done in a checkpoint file before Ack returns (the whole checkpoint is
// written to a temporary file, fsynced, renamed over the old one, and the
// directory fsynced, so a crash leaves either the old or the new one). The
// checkpoint lists exactly the files acked, with their size and modification
// time, so a file acked out of order is never read again, while an unacked
// one, whatever its place, is delivered again after a restart: no position
// can be skipped. A file whose size or modification time changed since it was
// acked is a new version and is delivered again; two versions of one path are
// never in flight at once. Entries of files no longer listed are dropped from
// the checkpoint.
//
// The input files are never modified or moved: the input may be a read-only
// mount, a run can be repeated with a fresh checkpoint, and the files remain
// the audit copy. Move or delete files after they are done by your own means
// (the checkpoint forgets them when they disappear).
//
// The checkpoint file is [Options.Checkpoint], by default
// ".fhirsync-checkpoint.json" in the directory given to Open (hidden, so
// never read as input); OpenFiles without a Checkpoint keeps it in memory
// only, and a restart reads every file again. One Source at a time may use a
// checkpoint file: Open and OpenFiles lock it (flock on a ".lock" file beside
// it, released by Close or the process's end) and return [ErrLocked] when
// another Source holds it, so that two replicas pointed at one directory
// fail at start instead of both delivering every file.
//
// A nacked file is delivered again by the next Read. Settling a message after
// its Source was closed returns [source.ErrClosed] and records nothing.
//
// # Failed files
//
// A file that cannot be read (permission denied, missing from a list given
// to OpenFiles, larger than MaxFileSize, an I/O error) does not stop the
// others: it is delivered as a failed message ([source.NewFailedMessage]):
// no Body, and its Err (and [ReadError], and Message.As) give a [*FileError]
// naming the file. fhirsync.Run records it on the dead-letter path without
// converting it, then acks it; a converter used without Run should start with
//
//	if err := filesource.ReadError(m); err != nil {
//		return nil, err // permanent: record it on your reject path
//	}
//
// Acking such a message records the file as done, like any other; nacking it
// makes the next Read try the file again. A file removed from Open's
// directory after it was listed, before it is delivered, is skipped, not
// reported. Errors of the directory itself
// (unreadable root or subdirectory) are returned by Open or Read as a
// *FileError: nothing can be listed past them.
//
// # PHI
//
// Message.ID is the file's path relative to the directory (or as given to
// OpenFiles), with "@" and its version (size-modification time in
// nanoseconds), e.g. "837/2024-06-01.x12@11534336-1717200000000000000".
// Metadata holds "path", "size" and "modified" (RFC 3339, UTC). Paths are
// chosen by the operator, and must not name members (name files by date,
// batch or trading partner). No ID, Metadata or error is derived from a
// file's content.
//
// # As
//
// [source.Message.As] exposes a *[File] (path, absolute path, size,
// modification time) for every message, and a *[FileError] for a file that
// could not be read.
package filesource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fhirsync/fhirsync/source"
)

// DefaultMaxFileSize is the MaxFileSize used when Options.MaxFileSize is 0.
const DefaultMaxFileSize = 256 << 20

// DefaultCheckpoint is the name of the checkpoint file Open keeps in its
// directory unless Options.Checkpoint says otherwise.
const DefaultCheckpoint = ".fhirsync-checkpoint.json"

// Options configures a Source. A nil *Options means the defaults.
type Options struct {
	// Pattern selects files by base name, with path.Match syntax ("*.x12",
	// "837P_*.txt"); empty means every file.
	Pattern string
	// Recursive makes Open read subdirectories too (hidden ones excepted).
	Recursive bool
	// Watch polls the directory for new files and never ends (Read does not
	// return io.EOF). Only for Open.
	Watch bool
	// PollInterval is how often Watch lists the directory; 0 means 5 s.
	PollInterval time.Duration
	// SettleTime is how long a file's size and modification time must stay
	// the same before Watch reads it; 0 means 10 s, a negative value none.
	SettleTime time.Duration
	// MaxFileSize is the largest file read (whole, into memory); 0 means
	// DefaultMaxFileSize, a negative value no limit. It does not apply with
	// Stream.
	MaxFileSize int64
	// Stream delivers each file as a streamed message
	// ([source.NewStreamMessage]): Body is nil, and Message.Open reads the
	// file from disk as the converter reads it, so a file of any size costs
	// no memory. The converter must read bodies through Open or ReadBody
	// (fhirmap's X12 and provider converters do). See # Memory.
	Stream bool
	// MaxBatch is the most files one Read returns; 0 means 1.
	MaxBatch int
	// Checkpoint is the path of the checkpoint file. Empty means
	// DefaultCheckpoint in Open's directory, and memory only for OpenFiles.
	Checkpoint string
}

// File describes a file a message was read from; Message.As exposes it.
type File struct {
	// Path is the slash-separated path relative to Open's directory, or the
	// cleaned path given to OpenFiles.
	Path string
	// Abs is the path to open the file with.
	Abs string
	// Size is the file's size in bytes when it was read, or -1 if unknown.
	Size int64
	// ModTime is the file's modification time when it was read.
	ModTime time.Time
}

// ErrTooLarge is what a [*TooLargeError] matches with errors.Is.
var ErrTooLarge = errors.New("filesource: file larger than MaxFileSize")

// TooLargeError says a file was not read because it is larger than
// Options.MaxFileSize.
type TooLargeError struct {
	Size  int64 // bytes in the file (at least this many)
	Limit int64 // Options.MaxFileSize
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("filesource: file of %d bytes exceeds MaxFileSize %d", e.Size, e.Limit)
}

// Is reports whether target is ErrTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// ErrChanged is what a streamed file's Open or reader returns (wrapped in a
// [*FileError]) when the file no longer has the size and modification time
// of the message's version: it changed after it was delivered.
var ErrChanged = errors.New("filesource: file changed since it was delivered")

// FileError is an error reading one file or directory. Its text names the
// path and the operation, never the content.
type FileError struct {
	Path string // as in File.Path; "." for Open's directory itself
	Op   string // "list", "stat", "open", "read", "lock"
	Err  error  // the cause: an *fs.PathError, a *TooLargeError, ...
}

func (e *FileError) Error() string {
	return "filesource: " + e.Op + " " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// ReadError returns the *FileError of a message that stands for a file that
// could not be read, and nil for any other message (including messages of
// other sources).
func ReadError(m *source.Message) error {
	var fe *FileError
	if m != nil && m.As(&fe) {
		return fe
	}
	return nil
}

// version identifies the content of a file: its size and modification time.
type version struct {
	Size  int64 // -1: unknown (the file could not be stat'ed)
	MTime int64 // Unix nanoseconds
}

func (v version) String() string {
	if v.Size < 0 {
		return "unknown"
	}
	return strconv.FormatInt(v.Size, 10) + "-" + strconv.FormatInt(v.MTime, 10)
}

// entry is a listed file.
type entry struct {
	rel, abs string
	ver      version
	modTime  time.Time
	err      *FileError // stat failed
}

// observation is what Watch saw of a file: the version and since when.
type observation struct {
	ver   version
	since time.Time
}

// Source reads files. It is safe for concurrent use.
type Source struct {
	root  string // Open's directory; "" for OpenFiles
	files []string
	opts  Options
	ckpt  string // checkpoint path, cleaned; "" in memory only

	rootAbs, ckptAbs string   // to keep the checkpoint out of the listing
	lock             *os.File // holds the checkpoint's lock while open

	scanMu sync.Mutex // one listing at a time

	mu        sync.Mutex
	closed    bool
	closedCh  chan struct{}
	wake      chan struct{}          // closed and replaced on nack, ack, Close
	done      map[string]version     // the checkpoint: files acked
	inflight  map[string]version     // delivered, unsettled
	queued    map[string]bool        // in queue
	queue     []entry                // ready to deliver, in order
	observed  map[string]observation // Watch: what the last listings saw
	listed    map[string]bool        // paths in the last listing (for pruning)
	lastScan  time.Time
	seq, wseq uint64 // checkpoint changes made and written

	ckptMu sync.Mutex // serializes checkpoint writes
}

var _ source.Source = (*Source)(nil)

// Open returns a Source over the files in dir (see the package doc for
// which). In finite mode the files are listed now; with Options.Watch, by
// each Read as PollInterval passes. It reads the checkpoint, creating it (so
// an unwritable location fails now, not at the first Ack).
func Open(dir string, opts *Options) (*Source, error) {
	s, err := newSource(opts)
	if err != nil {
		return nil, err
	}
	s.root = filepath.Clean(dir)
	if s.opts.Checkpoint == "" {
		s.ckpt = filepath.Join(s.root, DefaultCheckpoint)
	}
	s.rootAbs, _ = filepath.Abs(s.root)
	s.ckptAbs, _ = filepath.Abs(s.ckpt)
	fi, err := os.Stat(s.root)
	if err != nil {
		return nil, &FileError{Path: ".", Op: "stat", Err: err}
	}
	if !fi.IsDir() {
		return nil, &FileError{Path: ".", Op: "stat", Err: errors.New("not a directory")}
	}
	return s.start()
}

// OpenFiles returns a finite Source over the listed files, delivered in the
// order given (a path listed twice once). A file that cannot be read is
// delivered as a failed message (see [ReadError]). Options.Pattern,
// Recursive and Watch do not apply.
func OpenFiles(files []string, opts *Options) (*Source, error) {
	s, err := newSource(opts)
	if err != nil {
		return nil, err
	}
	if s.opts.Watch || s.opts.Recursive || s.opts.Pattern != "" {
		return nil, errors.New("filesource: OpenFiles takes no Watch, Recursive or Pattern")
	}
	seen := map[string]bool{}
	for _, f := range files {
		c := filepath.Clean(f)
		if !seen[c] {
			seen[c] = true
			s.files = append(s.files, c)
		}
	}
	return s.start()
}

func newSource(opts *Options) (*Source, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Pattern != "" {
		if _, err := path.Match(o.Pattern, ""); err != nil {
			return nil, fmt.Errorf("filesource: Pattern %q: %w", o.Pattern, err)
		}
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	switch {
	case o.SettleTime == 0:
		o.SettleTime = 10 * time.Second
	case o.SettleTime < 0:
		o.SettleTime = 0
	}
	if o.MaxFileSize == 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1
	}
	return &Source{
		opts:     o,
		ckpt:     cleanOrEmpty(o.Checkpoint),
		closedCh: make(chan struct{}),
		wake:     make(chan struct{}),
		done:     map[string]version{},
		inflight: map[string]version{},
		queued:   map[string]bool{},
		observed: map[string]observation{},
		listed:   map[string]bool{},
	}, nil
}

func cleanOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	return filepath.Clean(p)
}

// start loads the checkpoint and, in finite mode, lists the files.
func (s *Source) start() (*Source, error) {
	if s.ckpt != "" {
		lock, err := lockFile(s.ckpt + lockSuffix)
		if err != nil {
			return nil, err
		}
		s.lock = lock
		done, err := readCheckpoint(s.ckpt)
		if errors.Is(err, fs.ErrNotExist) {
			done, err = map[string]version{}, writeCheckpoint(s.ckpt, nil)
		}
		if err != nil {
			s.unlock()
			return nil, err
		}
		s.done = done
	}
	if !s.opts.Watch {
		if err := s.scan(); err != nil {
			s.unlock()
			return nil, err
		}
	}
	return s, nil
}

// lockSuffix names the lock file beside a checkpoint.
const lockSuffix = ".lock"

// ErrLocked is returned by Open and OpenFiles when another Source (in this
// process or another) holds the checkpoint: two Sources on one checkpoint
// would both deliver every file and overwrite each other's record of what
// is done. Give each replica its own directory, or its own Checkpoint.
var ErrLocked = errors.New("filesource: checkpoint in use by another Source")

// unlock releases the checkpoint's lock.
func (s *Source) unlock() {
	if s.lock != nil {
		_ = s.lock.Close()
		s.lock = nil
	}
}

// list returns the files of the directory (or the list), sorted.
func (s *Source) list() ([]entry, error) {
	if s.root == "" {
		es := make([]entry, 0, len(s.files))
		for _, f := range s.files {
			es = append(es, stat(filepath.ToSlash(f), f))
		}
		return es, nil
	}
	var es []entry
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if p == s.root {
			if err != nil {
				return &FileError{Path: ".", Op: "list", Err: err}
			}
			return nil
		}
		rel, rerr := filepath.Rel(s.root, p)
		if rerr != nil {
			return rerr
		}
		rel = filepath.ToSlash(rel)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while listing
			}
			return &FileError{Path: rel, Op: "list", Err: err}
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if !s.opts.Recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if abs := filepath.Join(s.rootAbs, filepath.FromSlash(rel)); s.ckptAbs != "" && (abs == s.ckptAbs || abs == s.ckptAbs+lockSuffix) {
			return nil // a checkpoint (or its lock) kept under a visible name
		}
		if s.opts.Pattern != "" {
			if ok, _ := path.Match(s.opts.Pattern, d.Name()); !ok {
				return nil
			}
		}
		e := stat(rel, p)
		switch {
		case e.err != nil && errors.Is(e.err, fs.ErrNotExist):
			return nil // removed while listing
		case e.err == nil && e.ver.Size < 0:
			return nil // not a regular file
		}
		es = append(es, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.rel, b.rel) })
	return es, nil
}

// stat describes one file; a version with Size -1 and no error means it is
// not a regular file.
func stat(rel, abs string) entry {
	e := entry{rel: rel, abs: abs}
	fi, err := os.Stat(abs) // follows symbolic links
	if err != nil {
		e.ver = version{Size: -1}
		e.err = &FileError{Path: rel, Op: "stat", Err: err}
		return e
	}
	if !fi.Mode().IsRegular() {
		e.ver = version{Size: -1}
		return e
	}
	e.ver = version{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
	e.modTime = fi.ModTime()
	return e
}

// scan lists the files and queues those ready to deliver: not done in their
// current version, not in flight or queued, and (Watch) settled.
func (s *Source) scan() error {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	es, err := s.list()
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastScan = now
	if err != nil {
		return err
	}
	listed := make(map[string]bool, len(es))
	for _, e := range es {
		listed[e.rel] = true
		if v, ok := s.done[e.rel]; ok && v == e.ver {
			continue
		}
		if s.opts.Watch {
			o, ok := s.observed[e.rel]
			if !ok || o.ver != e.ver {
				s.observed[e.rel] = observation{ver: e.ver, since: now}
				if s.opts.SettleTime > 0 {
					continue
				}
			} else if now.Sub(o.since) < s.opts.SettleTime {
				continue
			}
		}
		if s.queued[e.rel] {
			continue
		}
		if _, ok := s.inflight[e.rel]; ok {
			continue
		}
		s.queued[e.rel] = true
		s.queue = append(s.queue, e)
	}
	for p := range s.observed {
		if !listed[p] {
			delete(s.observed, p)
		}
	}
	s.listed = listed
	return nil
}

// Read returns the next files, waiting until one is ready, ctx is done, the
// Source is closed ([source.ErrClosed]) or, in finite mode, every file was
// acked (io.EOF). Failed files are delivered as messages (see [ReadError]);
// Read itself fails only when the directory cannot be listed.
func (s *Source) Read(ctx context.Context) ([]*source.Message, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, source.ErrClosed
		}
		var scanDue time.Duration
		if s.opts.Watch {
			scanDue = time.Until(s.lastScan.Add(s.opts.PollInterval))
		}
		s.mu.Unlock()
		if s.opts.Watch && scanDue <= 0 {
			if err := s.scan(); err != nil {
				return nil, err
			}
			scanDue = s.opts.PollInterval
		}

		s.mu.Lock()
		batch := s.take()
		finished := !s.opts.Watch && len(s.queue) == 0 && len(s.inflight) == 0 && len(batch) == 0
		wake := s.wake
		s.mu.Unlock()
		if finished {
			return nil, io.EOF
		}
		if ms := s.load(batch); len(ms) > 0 {
			return ms, nil
		}
		if len(batch) > 0 {
			continue // every file taken changed while read; try again
		}
		if err := s.wait(ctx, wake, scanDue); err != nil {
			return nil, err
		}
	}
}

// wait waits for ctx, Close, wake or (Watch) the next listing.
func (s *Source) wait(ctx context.Context, wake <-chan struct{}, scanDue time.Duration) error {
	var tick <-chan time.Time
	if s.opts.Watch {
		t := time.NewTimer(scanDue)
		defer t.Stop()
		tick = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closedCh:
		return source.ErrClosed
	case <-wake:
	case <-tick:
	}
	return nil
}

// take moves up to MaxBatch queued files in flight. s.mu must be held.
func (s *Source) take() []entry {
	var batch []entry
	i := 0
	for ; i < len(s.queue) && len(batch) < s.opts.MaxBatch; i++ {
		e := s.queue[i]
		delete(s.queued, e.rel)
		s.inflight[e.rel] = e.ver
		batch = append(batch, e)
	}
	s.queue = s.queue[i:]
	return batch
}

// load reads the files taken and builds their messages. A file that changed
// since it was listed, or while it was read (Watch), goes back to settling
// instead.
func (s *Source) load(batch []entry) []*source.Message {
	var ms []*source.Message
	for _, e := range batch {
		f, body, ferr, after := s.readFile(e)
		v := version{Size: f.Size, MTime: f.ModTime.UnixNano()}
		if f.Size < 0 {
			v = version{Size: -1}
		}
		if ferr != nil && s.root != "" && errors.Is(ferr, fs.ErrNotExist) {
			// Removed from the directory since it was listed: nothing to read.
			s.mu.Lock()
			delete(s.inflight, e.rel)
			s.mu.Unlock()
			continue
		}
		if s.opts.Watch && ferr == nil && (v != e.ver || after != v) {
			// Still being written: settle again from now.
			s.mu.Lock()
			delete(s.inflight, e.rel)
			s.observed[e.rel] = observation{ver: after, since: time.Now()}
			s.mu.Unlock()
			continue
		}
		if v != e.ver {
			s.mu.Lock()
			s.inflight[e.rel] = v
			s.mu.Unlock()
		}
		ms = append(ms, s.message(f, v, body, ferr))
	}
	return ms
}

// readHook, when set (by tests), runs after a file's content was read.
var readHook func(abs string)

// readFile is the one place that reads a file's content (a later streaming
// Body would start here). It returns the file as it was read: size and
// modification time from the open file's own stat before the read (the
// size read, when that differs), and after, the version the open file's
// stat gives once it was read (it differs from the first when the file
// changed while it was read).
func (s *Source) readFile(e entry) (f File, body []byte, ferr *FileError, after version) {
	f = File{Path: e.rel, Abs: e.abs, Size: -1}
	if e.err != nil {
		return f, nil, e.err, after
	}
	fail := func(op string, err error) (File, []byte, *FileError, version) {
		return f, nil, &FileError{Path: e.rel, Op: op, Err: err}, after
	}
	fh, err := os.Open(e.abs)
	if err != nil {
		return fail("open", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return fail("stat", err)
	}
	f.Size, f.ModTime = fi.Size(), fi.ModTime()
	if s.opts.Stream {
		// Opened to see that it can be; read by the message's Open.
		return f, nil, nil, version{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
	}
	limit := s.opts.MaxFileSize
	if limit > 0 && fi.Size() > limit {
		return fail("read", &TooLargeError{Size: fi.Size(), Limit: limit})
	}
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + bytes.MinRead)
	r := io.Reader(fh)
	if limit > 0 {
		r = io.LimitReader(fh, limit+1)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return fail("read", err)
	}
	if readHook != nil {
		readHook(e.abs)
	}
	if limit > 0 && int64(buf.Len()) > limit {
		return fail("read", &TooLargeError{Size: int64(buf.Len()), Limit: limit})
	}
	fi2, err := fh.Stat()
	if err != nil {
		return fail("stat", err)
	}
	after = version{Size: fi2.Size(), MTime: fi2.ModTime().UnixNano()}
	if int64(buf.Len()) != fi.Size() {
		// Grew or shrank while read: report what was read as a change.
		f.Size = int64(buf.Len())
	}
	return f, buf.Bytes(), nil, after
}

// message builds the message of one file.
func (s *Source) message(f File, v version, body []byte, ferr *FileError) *source.Message {
	md := map[string]string{"path": f.Path}
	if f.Size >= 0 {
		md["size"] = strconv.FormatInt(f.Size, 10)
		md["modified"] = f.ModTime.UTC().Format(time.RFC3339Nano)
	}
	id := f.Path + "@" + v.String()
	ack := func(ctx context.Context, err error) error { return s.settle(ctx, f.Path, v, err) }
	as := func(target any) bool {
		switch p := target.(type) {
		case **File:
			c := f
			*p = &c
			return true
		case **FileError:
			if ferr == nil {
				return false
			}
			*p = ferr
			return true
		}
		return false
	}
	if ferr != nil {
		return source.NewFailedMessage(id, md, ferr, ack, as)
	}
	if s.opts.Stream {
		return source.NewStreamMessage(id, func() (io.ReadCloser, error) { return openVersion(f, v) }, md, ack, as)
	}
	return source.NewMessage(id, body, md, ack, as)
}

// openVersion opens the streamed file f at version v: it fails with
// ErrChanged when the file has another version now, and its reader does as
// soon as the file changes while it is read.
func openVersion(f File, v version) (io.ReadCloser, error) {
	fh, err := os.Open(f.Abs)
	if err != nil {
		return nil, &FileError{Path: f.Path, Op: "open", Err: err}
	}
	sr := &streamReader{f: fh, file: f, want: v}
	if err := sr.check("open"); err != nil {
		fh.Close()
		return nil, err
	}
	return sr, nil
}

// streamReader reads a streamed file, never past the size of its version,
// and checks the version after every read: a streaming converter maps (and
// the engine writes) records as they are read, so no byte of another
// version may be handed out, not even before the end of the file. On a
// local file system (Linux's, at least) a write changes the file's
// modification time before its data, so bytes read while the file changed
// are caught by the check that follows the read; a network file system
// may update it later.
type streamReader struct {
	f    *os.File
	file File
	want version
	n    int64 // bytes read
	err  error // sticky
}

// check compares the open file's version with the one delivered.
func (r *streamReader) check(op string) error {
	fi, err := r.f.Stat()
	if err != nil {
		return &FileError{Path: r.file.Path, Op: "stat", Err: err}
	}
	if (version{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}) != r.want {
		return &FileError{Path: r.file.Path, Op: op, Err: ErrChanged}
	}
	return nil
}

func (r *streamReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if rest := r.want.Size - r.n; rest <= 0 {
		// The whole version was read: the file must end here, unchanged.
		var one [1]byte
		n, err := r.f.Read(one[:])
		switch {
		case n > 0:
			err = &FileError{Path: r.file.Path, Op: "read", Err: ErrChanged} // it grew
		case err == io.EOF:
			if cerr := r.check("read"); cerr != nil {
				err = cerr
			}
		case err != nil:
			err = &FileError{Path: r.file.Path, Op: "read", Err: err}
		}
		if err != nil {
			r.err = err
		}
		return 0, err
	} else if int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := r.f.Read(p)
	switch {
	case err == io.EOF:
		if n > 0 {
			err = nil // the next Read checks the end
			break
		}
		// Shorter than its version: it was truncated.
		err = &FileError{Path: r.file.Path, Op: "read", Err: ErrChanged}
	case err != nil:
		err = &FileError{Path: r.file.Path, Op: "read", Err: err}
	}
	if err == nil && n > 0 {
		err = r.check("read")
	}
	if err != nil {
		// The bytes of this read are not handed out: they may be of
		// another version, or follow a failure.
		r.err = err
		return 0, err
	}
	r.n += int64(n)
	return n, nil
}

func (r *streamReader) Close() error { return r.f.Close() }

// settle acks (err == nil) or nacks the file rel at version v.
func (s *Source) settle(_ context.Context, rel string, v version, err error) error {
	s.mu.Lock()
	if cur, ok := s.inflight[rel]; s.closed || !ok || cur != v {
		s.mu.Unlock()
		return fmt.Errorf("filesource: settle %s: %w", rel, source.ErrClosed)
	}
	delete(s.inflight, rel)
	if err != nil {
		s.requeue(rel)
		s.notify()
		s.mu.Unlock()
		return nil
	}
	s.done[rel] = v
	s.seq++
	my := s.seq
	s.mu.Unlock()

	werr := s.commit(my)

	s.mu.Lock()
	defer s.mu.Unlock()
	if werr != nil {
		// Not durable: deliver it again rather than lose it.
		if s.done[rel] == v {
			delete(s.done, rel)
		}
		if !s.closed {
			s.requeue(rel)
		}
	}
	s.notify()
	return werr
}

// requeue puts rel back at the head of the queue, re-listed. s.mu must be
// held.
func (s *Source) requeue(rel string) {
	if s.queued[rel] {
		return
	}
	abs := filepath.FromSlash(rel)
	if s.root != "" {
		abs = filepath.Join(s.root, abs)
	}
	e := stat(rel, abs)
	s.queued[rel] = true
	s.queue = append([]entry{e}, s.queue...)
}

// notify wakes waiting Reads. s.mu must be held.
func (s *Source) notify() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// commit writes the checkpoint unless a write since change my has already
// included it (concurrent acks share writes).
func (s *Source) commit(my uint64) error {
	if s.ckpt == "" {
		return nil
	}
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.mu.Lock()
	if s.wseq >= my {
		s.mu.Unlock()
		return nil
	}
	seq := s.seq
	entries := make([]checkpointEntry, 0, len(s.done))
	for p, v := range s.done {
		if s.listed[p] {
			entries = append(entries, checkpointEntry{Path: p, Size: v.Size, MTime: v.MTime})
		}
	}
	s.mu.Unlock()
	if err := writeCheckpoint(s.ckpt, entries); err != nil {
		return err
	}
	s.mu.Lock()
	s.wseq = seq
	s.mu.Unlock()
	return nil
}

// Close closes the Source; a waiting Read returns [source.ErrClosed].
// Unsettled files are delivered again by a Source opened later. Close is
// idempotent.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closedCh)
		s.unlock()
	}
	return nil
}

// checkpointFile is the content of the checkpoint.
type checkpointFile struct {
	Version int               `json:"version"`
	Done    []checkpointEntry `json:"done"`
}

type checkpointEntry struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`     // -1: the file could not be stat'ed
	MTime int64  `json:"mtime_ns"` // modification time, Unix nanoseconds
}

// readCheckpoint reads the files done.
func readCheckpoint(name string) (map[string]version, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("filesource: checkpoint: %w", err)
	}
	var c checkpointFile
	if err := json.Unmarshal(b, &c); err != nil || c.Version != 1 {
		return nil, fmt.Errorf("filesource: checkpoint %s is not a version 1 checkpoint", name)
	}
	done := make(map[string]version, len(c.Done))
	for _, e := range c.Done {
		done[e.Path] = version{Size: e.Size, MTime: e.MTime}
	}
	return done, nil
}

// writeCheckpoint replaces the checkpoint atomically and durably: a
// temporary file in the same directory, fsynced, renamed over the old one,
// then the directory fsynced so the rename itself survives a crash.
func writeCheckpoint(name string, entries []checkpointEntry) error {
	slices.SortFunc(entries, func(a, b checkpointEntry) int { return strings.Compare(a.Path, b.Path) })
	if entries == nil {
		entries = []checkpointEntry{}
	}
	b, err := json.MarshalIndent(checkpointFile{Version: 1, Done: entries}, "", " ")
	if err != nil {
		return fmt.Errorf("filesource: checkpoint: %w", err)
	}
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return fmt.Errorf("filesource: checkpoint: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("filesource: checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("filesource: checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("filesource: checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("filesource: checkpoint: %w", err)
	}
	ok = true
	return syncDir(dir)
}

// syncDir fsyncs a directory so a rename in it is durable (not possible, and
// not needed, on Windows).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filesource: checkpoint: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("filesource: checkpoint: %w", err)
	}
	return nil
}
