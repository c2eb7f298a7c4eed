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
// OpenBody, whichever way it was kept.
type DirRejecter struct {
	dir string
	mu  sync.Mutex
	n   uint64
	// bodies remembers the body files of recent messages, so that the
	// rejections of one message share one copy.
	bodies     map[*source.Message]*bodyCopy
	bodyOrder  []*source.Message
	bodiesMade uint64
}

// bodyCopy is a message's body file being written, or written.
type bodyCopy struct {
	done chan struct{}
	name string // relative to the directory
	err  error  // why the body could not be kept (PHI-free)
}

// Bodies kept inline, and how many messages' body files are remembered.
const (
	inlineBodyMax    = 64 << 10
	rememberedBodies = 256
	bodiesDir        = "bodies"
)

// NewDirRejecter returns a DirRejecter writing into dir, which it creates
// (mode 0700) when missing.
func NewDirRejecter(dir string) (*DirRejecter, error) {
	if err := os.MkdirAll(filepath.Join(dir, bodiesDir), 0o700); err != nil {
		return nil, fmt.Errorf("fhirsync: reject directory: %w", err)
	}
	return &DirRejecter{dir: dir, bodies: map[*source.Message]*bodyCopy{}}, nil
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
				return err // the context ended
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
// that the rejection is still recorded; a failure to write the copy is
// not remembered, so that the next try writes it again.
func (d *DirRejecter) bodyFile(ctx context.Context, m *source.Message) (*bodyCopy, error) {
	d.mu.Lock()
	bc, ok := d.bodies[m]
	if !ok {
		bc = &bodyCopy{done: make(chan struct{})}
		d.bodies[m] = bc
		d.bodyOrder = append(d.bodyOrder, m)
		if len(d.bodyOrder) > rememberedBodies {
			delete(d.bodies, d.bodyOrder[0])
			d.bodyOrder = d.bodyOrder[1:]
		}
		d.bodiesMade++
	}
	seq := d.bodiesMade
	d.mu.Unlock()
	if ok {
		select {
		case <-bc.done:
			if bc.name != "" || bc.err != nil {
				return bc, nil
			}
			return d.bodyFile(ctx, m) // the writer failed and forgot it: try again
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer close(bc.done)
	name := filepath.ToSlash(filepath.Join(bodiesDir, time.Now().UTC().Format("20060102T150405.000000000Z")+"-"+fmt.Sprintf("%020d", seq)+".body"))
	rc, err := m.Open()
	if err != nil {
		bc.err = fmt.Errorf("fhirsync: body not kept: %w", err)
		return bc, nil
	}
	werr, rerr := writeReaderDurable(filepath.Join(d.dir, bodiesDir), filepath.Base(name), rc)
	rc.Close()
	switch {
	case rerr != nil:
		bc.err = fmt.Errorf("fhirsync: body not kept: %w", rerr)
		return bc, nil
	case werr != nil:
		d.mu.Lock()
		if d.bodies[m] == bc {
			delete(d.bodies, m)
		}
		d.mu.Unlock()
		return nil, werr
	}
	bc.name = name
	return bc, nil
}

// OpenBody returns a reader of rec's body, kept inline or in a body file. A
// record without a body (its message had none, or BodyError says why it
// could not be kept) gives an empty reader.
func (d *DirRejecter) OpenBody(rec RejectRecord) (io.ReadCloser, error) {
	if rec.BodyFile == "" {
		return io.NopCloser(bytes.NewReader(rec.Body)), nil
	}
	name := filepath.FromSlash(rec.BodyFile)
	if !filepath.IsLocal(name) {
		return nil, fmt.Errorf("fhirsync: reject record %s: body file outside the directory", rec.Name)
	}
	f, err := os.Open(filepath.Join(d.dir, name))
	if err != nil {
		return nil, fmt.Errorf("fhirsync: reject record %s: %w", rec.Name, err)
	}
	return f, nil
}

// Remove deletes rec's file (rec as given by Records), once its replay is
// written, and its body file when no other record refers to it.
func (d *DirRejecter) Remove(rec RejectRecord) error {
	if rec.Name == "" || !filepath.IsLocal(rec.Name) {
		return errors.New("fhirsync: Remove needs a record given by Records")
	}
	if err := os.Remove(filepath.Join(d.dir, rec.Name)); err != nil {
		return fmt.Errorf("fhirsync: reject record: %w", err)
	}
	if rec.BodyFile == "" {
		return nil
	}
	for other, err := range d.Records() {
		if err != nil {
			return err
		}
		if other.BodyFile == rec.BodyFile {
			return nil // still referred to
		}
	}
	if err := os.Remove(filepath.Join(d.dir, filepath.FromSlash(rec.BodyFile))); err != nil && !errors.Is(err, fs.ErrNotExist) {
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
