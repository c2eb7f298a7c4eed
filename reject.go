package fhirsync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/fhirsync/fhirsync/source"
)

// Stage says where a [Rejection] was found.
type Stage string

// The stages.
const (
	StageRead    Stage = "read"    // the source could not read the message's record (source.Message.Err)
	StageConvert Stage = "convert" // the message, or a record in it, did not convert
	StageWrite   Stage = "write"   // the sink refused a resource for good
)

// Rejection is what can never be written, with its reason: a record the
// source could not read, a whole message that did not convert, one record of
// it, or one resource the sink refused.
//
// The message's body holds PHI: a Rejecter must store it where PHI may be
// kept, because replaying the rejection needs it. Read it with
// Message.Open (or ReadBody), which also reads a streamed body (a whole
// file, see source.NewStreamMessage); one message may be rejected many times
// (a refused resource each), so store a large body once. Err's text is PHI-free
// (fhirsync's errors and the sinks' are); an error's Diagnostics method, where
// it has one, may hold PHI and is not called by the engine.
type Rejection struct {
	Message *source.Message
	Stage   Stage
	// Err is the reason: the source's error for the read stage
	// (source.Message.Err), a *fhirmap.Error or *fhirmap.ConvertError (or a
	// custom converter's error) for the convert stage, the sink's error for
	// the op (wrapping sink.ErrInvalid, sink.ErrConflict...) for the write
	// stage.
	Err error
	// Resource is "Type/id" of the refused resource at the write stage, ""
	// at the others.
	Resource string
	// Time is when the rejection was found.
	Time time.Time
}

// LogValue logs the rejection without PHI: message id, stage, resource and
// the error's text.
func (r *Rejection) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("stage", string(r.Stage))}
	if r.Message != nil {
		attrs = append(attrs, slog.String("message", r.Message.ID))
	}
	if r.Resource != "" {
		attrs = append(attrs, slog.String("resource", r.Resource))
	}
	if r.Err != nil {
		attrs = append(attrs, slog.String("error", r.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// Rejecter records rejections durably: the dead-letter path. Reject returns
// only once the rejection is recorded; an error makes Run retry it (the
// message stays unacked meanwhile). It may be called from several goroutines.
type Rejecter interface {
	Reject(ctx context.Context, r *Rejection) error
}

// RejecterFunc adapts a function to a Rejecter.
type RejecterFunc func(ctx context.Context, r *Rejection) error

// Reject calls f.
func (f RejecterFunc) Reject(ctx context.Context, r *Rejection) error { return f(ctx, r) }

// DirRejecter records each rejection as one JSON file in a directory: the
// message (id, metadata, body), the stage, the resource and the error text.
// Files are written with mode 0600 to a temporary name, fsynced, renamed and
// the directory fsynced, so a rejection Reject returned for survives a crash.
// The directory holds PHI (message bodies): keep it where PHI may be kept.
//
// A body of up to 64 KiB held in memory is kept in the record itself. A
// larger or streamed body (a whole file, see source.NewStreamMessage) is
// copied once, streaming, into a file under "bodies/" that every rejection
// of that message refers to: a file whose server refused a hundred
// resources is stored once, not a hundred times. Read a record's body with
// OpenBody, whichever way it was kept. The DirRejecter remembers which
// messages have a body file without keeping the messages alive.
//
// Remove is safe alongside Reject calls of the same DirRejecter. Another
// process recording rejections into the same directory at the same time
// (a running service, while a replay tool removes records) could refer to
// a body file Remove deletes: replay through the service's own DirRejecter,
// or while the service is stopped. A crash can leave, besides the records,
// files no record refers to (".tmp-*" files, a body file copied just
// before): purge them with the rest by your retention rules.
type DirRejecter struct {
	dir string
	mu  sync.Mutex
	n   uint64
	// bodies remembers the body files of messages, so that the rejections
	// of one message share one copy; its keys do not keep the messages (and
	// their bodies) alive, and the entries of collected messages are
	// dropped as it grows.
	bodies     map[weak.Pointer[source.Message]]*bodyCopy
	pruneAt    int
	bodiesMade uint64
	// using counts, by body file, the Rejects between taking the file and
	// writing their record; released is signalled when a count drops to 0.
	using    map[string]int
	released *sync.Cond
}

// bodyCopy is a message's body file being written, or written. Its fields
// are set under DirRejecter.mu before done is closed.
type bodyCopy struct {
	done    chan struct{}
	name    string // relative to the directory
	err     error  // why the body could not be kept (PHI-free)
	removed bool   // Remove deleted the file: copy the body again
}

// Bodies kept inline, and the size of the body map below which it is not
// pruned.
const (
	inlineBodyMax = 64 << 10
	minBodiesMap  = 64
	bodiesDir     = "bodies"
)

// NewDirRejecter returns a DirRejecter writing into dir, which it creates
// (mode 0700) when missing; "bodies/" is made when a first body is kept
// apart.
func NewDirRejecter(dir string) (*DirRejecter, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fhirsync: reject directory: %w", err)
	}
	d := &DirRejecter{dir: dir, bodies: map[weak.Pointer[source.Message]]*bodyCopy{}, pruneAt: minBodiesMap, using: map[string]int{}}
	d.released = sync.NewCond(&d.mu)
	return d, nil
}

// RejectRecord is the content of one DirRejecter file.
type RejectRecord struct {
	MessageID string            `json:"messageId"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Stage     Stage             `json:"stage"`
	Resource  string            `json:"resource,omitempty"`
	Error     string            `json:"error"`
	Time      time.Time         `json:"time"`
	// Body is the message's body when it is kept inline (PHI).
	Body []byte `json:"body,omitempty"`
	// BodyFile names the file, relative to the directory, holding a body
	// kept apart (larger than 64 KiB, or streamed). It holds PHI.
	BodyFile string `json:"bodyFile,omitempty"`
	// BodyError says why the body could not be kept: a streamed body that
	// could not be read (its source, such as an input file, is then the
	// copy to replay from). PHI-free.
	BodyError string `json:"bodyError,omitempty"`
	// Name is the record's file name in the directory, set by Records.
	Name string `json:"-"`
}

// Reject implements Rejecter.
func (d *DirRejecter) Reject(ctx context.Context, r *Rejection) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rec := RejectRecord{Stage: r.Stage, Resource: r.Resource, Time: r.Time.UTC()}
	if r.Err != nil {
		rec.Error = r.Err.Error()
	}
	if m := r.Message; m != nil {
		rec.MessageID, rec.Metadata = m.ID, m.Metadata
		switch {
		case m.Err() != nil:
			// A record the source could not read has no body.
		case !m.Streamed() && len(m.Body) <= inlineBodyMax:
			rec.Body = m.Body
		default:
			bc, err := d.bodyFile(ctx, m)
			if err != nil {
				return err // the context ended, or the copy could not be written
			}
			if bc.name != "" {
				defer d.release(bc.name) // once the record referring to it is written
			}
			rec.BodyFile = bc.name
			if bc.err != nil {
				rec.BodyError = bc.err.Error()
			}
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("fhirsync: reject record: %w", err)
	}
	d.mu.Lock()
	d.n++
	n := d.n
	d.mu.Unlock()
	// The name orders rejections by time and never holds the id itself
	// (ids are PHI-free, but may hold path separators).
	h := sha256.Sum256([]byte(rec.MessageID + "\x00" + rec.Resource))
	name := rec.Time.Format("20060102T150405.000000000Z") + "-" + fmt.Sprintf("%020d", n) + "-" + hex.EncodeToString(h[:6]) + ".json"
	return writeFileDurable(d.dir, name, b)
}

// bodyFile returns the body file of m, writing it unless a rejection of m
// already did. A body that cannot be read is reported in the copy's err, so
// that the rejection is still recorded; a copy that could not be written,
// or was cut short by ctx, is not remembered, so that the next try writes
// it again. A copy returned with a name is in use (see release) until the
// caller has written its record.
func (d *DirRejecter) bodyFile(ctx context.Context, m *source.Message) (*bodyCopy, error) {
	key := weak.Make(m)
	for {
		d.mu.Lock()
		bc, ok := d.bodies[key]
		if !ok {
			break // d.mu held: make it
		}
		d.mu.Unlock()
		select {
		case <-bc.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		d.mu.Lock()
		switch {
		case bc.name != "" && !bc.removed:
			d.using[bc.name]++
			d.mu.Unlock()
			return bc, nil
		case bc.name == "" && bc.err != nil:
			d.mu.Unlock()
			return bc, nil
		}
		// Its writer failed, or Remove deleted it: copy it again.
		if d.bodies[key] == bc {
			delete(d.bodies, key)
		}
		d.mu.Unlock()
	}
	bc := &bodyCopy{done: make(chan struct{})}
	d.bodies[key] = bc
	d.prune()
	d.bodiesMade++
	seq := d.bodiesMade
	d.mu.Unlock()
	defer close(bc.done)

	forget := func(err error) (*bodyCopy, error) {
		d.mu.Lock()
		if d.bodies[key] == bc {
			delete(d.bodies, key)
		}
		d.mu.Unlock()
		return nil, err
	}
	name := filepath.ToSlash(filepath.Join(bodiesDir, time.Now().UTC().Format("20060102T150405.000000000Z")+"-"+fmt.Sprintf("%020d", seq)+".body"))
	rc, err := m.Open()
	if err != nil {
		d.mu.Lock()
		bc.err = fmt.Errorf("fhirsync: body not kept: %w", err)
		d.mu.Unlock()
		return bc, nil
	}
	werr := os.MkdirAll(filepath.Join(d.dir, bodiesDir), 0o700)
	var rerr error
	if werr != nil {
		werr = fmt.Errorf("fhirsync: reject directory: %w", werr)
	} else {
		werr, rerr = writeReaderDurable(filepath.Join(d.dir, bodiesDir), filepath.Base(name), ctxReader{ctx, rc})
	}
	rc.Close()
	switch {
	case rerr != nil && ctx.Err() != nil && errors.Is(rerr, ctx.Err()):
		return forget(ctx.Err())
	case rerr != nil:
		d.mu.Lock()
		bc.err = fmt.Errorf("fhirsync: body not kept: %w", rerr)
		d.mu.Unlock()
		return bc, nil
	case werr != nil:
		return forget(werr)
	}
	d.mu.Lock()
	bc.name = name
	d.using[name]++
	d.mu.Unlock()
	return bc, nil
}

// release ends a use of the body file name taken by bodyFile.
func (d *DirRejecter) release(name string) {
	d.mu.Lock()
	if d.using[name]--; d.using[name] <= 0 {
		delete(d.using, name)
		d.released.Broadcast()
	}
	d.mu.Unlock()
}

// prune drops the entries of collected messages once the map doubled since
// the last pruning. d.mu must be held.
func (d *DirRejecter) prune() {
	if len(d.bodies) < d.pruneAt {
		return
	}
	for k, bc := range d.bodies {
		if k.Value() == nil {
			select {
			case <-bc.done:
				delete(d.bodies, k)
			default: // still being written (its writer holds the message)
			}
		}
	}
	d.pruneAt = max(2*len(d.bodies), minBodiesMap)
}

// ctxReader reads r until ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// OpenBody returns a reader of rec's body, kept inline or in a body file. A
// record without a body (its message had none, or BodyError says why it
// could not be kept) gives an empty reader. A BodyFile that does not name a
// file of "bodies/" is refused.
func (d *DirRejecter) OpenBody(rec RejectRecord) (io.ReadCloser, error) {
	if rec.BodyFile == "" {
		return io.NopCloser(bytes.NewReader(rec.Body)), nil
	}
	p, err := d.bodyPath(rec)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("fhirsync: reject record %s: %w", rec.Name, err)
	}
	return f, nil
}

// bodyPath returns the path of rec's body file, which must be a file
// directly under "bodies/" (record files can be edited by anyone who can
// write the directory: they must not reach elsewhere).
func (d *DirRejecter) bodyPath(rec RejectRecord) (string, error) {
	base, ok := strings.CutPrefix(rec.BodyFile, bodiesDir+"/")
	if !ok || !isPlainName(base) {
		return "", fmt.Errorf("fhirsync: reject record %s: body file not under %s/", rec.Name, bodiesDir)
	}
	return filepath.Join(d.dir, bodiesDir, base), nil
}

// isPlainName reports whether name is a file name without a directory.
func isPlainName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) && filepath.IsLocal(name)
}

// Remove deletes rec's file (rec as given by Records), once its replay is
// written, and its body file when no other record refers to it.
func (d *DirRejecter) Remove(rec RejectRecord) error {
	if !isPlainName(rec.Name) || !strings.HasSuffix(rec.Name, ".json") {
		return errors.New("fhirsync: Remove needs a record given by Records")
	}
	var body string
	if rec.BodyFile != "" {
		p, err := d.bodyPath(rec)
		if err != nil {
			return err
		}
		body = p
	}
	if err := os.Remove(filepath.Join(d.dir, rec.Name)); err != nil {
		return fmt.Errorf("fhirsync: reject record: %w", err)
	}
	if body == "" {
		return nil
	}
	// First stop new rejections from taking the body file (they copy the
	// body again), and wait for those that took it to write their records;
	// then look for records that refer to it.
	d.mu.Lock()
	for k, bc := range d.bodies {
		if bc.name == rec.BodyFile {
			bc.removed = true
			delete(d.bodies, k)
		}
	}
	for d.using[rec.BodyFile] > 0 {
		d.released.Wait()
	}
	d.mu.Unlock()
	for other, err := range d.Records() {
		if err != nil {
			return err
		}
		if other.BodyFile == rec.BodyFile {
			return nil // still referred to
		}
	}
	if err := os.Remove(body); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fhirsync: reject body: %w", err)
	}
	return nil
}

// Records returns the rejections recorded in dir, oldest first, for
// inspection or replay. The iteration stops at the first file it cannot read,
// yielding the error.
func (d *DirRejecter) Records() iter.Seq2[RejectRecord, error] {
	return func(yield func(RejectRecord, error) bool) {
		entries, err := os.ReadDir(d.dir)
		if err != nil {
			yield(RejectRecord{}, err)
			return
		}
		var names []string
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(d.dir, n))
			var rec RejectRecord
			if err == nil {
				err = json.Unmarshal(b, &rec)
			}
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // removed meanwhile
				}
				yield(RejectRecord{}, fmt.Errorf("fhirsync: reject file %s: %w", n, err))
				return
			}
			rec.Name = n
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// writeFileDurable writes b to dir/name through a fsynced temporary file and a
// rename, then fsyncs dir.
func writeFileDurable(dir, name string, b []byte) error {
	werr, _ := writeReaderDurable(dir, name, bytes.NewReader(b))
	return werr
}

// writeReaderDurable copies r to dir/name through a fsynced temporary file
// (mode 0600) and a rename, then fsyncs dir. An error reading r is returned
// as rerr, one writing as werr; either way nothing is left behind.
func writeReaderDurable(dir, name string, r io.Reader) (werr, rerr error) {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("fhirsync: reject file: %w", err), nil
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, readerOnly{r, &rerr}); err != nil {
		if rerr != nil {
			return nil, rerr
		}
		return fmt.Errorf("fhirsync: reject file: %w", err), nil
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fhirsync: reject file: %w", err), nil
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fhirsync: reject file: %w", err), nil
	}
	ok = true
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil { // CreateTemp made it 0600
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("fhirsync: reject file: %w", err), nil
	}
	df, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fhirsync: reject directory: %w", err), nil
	}
	defer df.Close()
	if err := df.Sync(); err != nil {
		return fmt.Errorf("fhirsync: reject directory: %w", err), nil
	}
	return nil, nil
}

// readerOnly records the errors of r in *err, to tell them from write errors
// in io.Copy (and hides r's WriterTo, so that they go through Read).
type readerOnly struct {
	r   io.Reader
	err *error
}

func (r readerOnly) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		*r.err = err
	}
	return n, err
}
