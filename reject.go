package fhirsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
// Message.Body holds PHI: a Rejecter must store it where PHI may be kept,
// because replaying the rejection needs it. Err's text is PHI-free
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
type DirRejecter struct {
	dir string
	mu  sync.Mutex
	n   uint64
}

// NewDirRejecter returns a DirRejecter writing into dir, which it creates
// (mode 0700) when missing.
func NewDirRejecter(dir string) (*DirRejecter, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fhirsync: reject directory: %w", err)
	}
	return &DirRejecter{dir: dir}, nil
}

// RejectRecord is the content of one DirRejecter file.
type RejectRecord struct {
	MessageID string            `json:"messageId"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Stage     Stage             `json:"stage"`
	Resource  string            `json:"resource,omitempty"`
	Error     string            `json:"error"`
	Time      time.Time         `json:"time"`
	Body      []byte            `json:"body"` // PHI
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
	if r.Message != nil {
		rec.MessageID, rec.Metadata, rec.Body = r.Message.ID, r.Message.Metadata, r.Message.Body
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
				yield(RejectRecord{}, fmt.Errorf("fhirsync: reject file %s: %w", n, err))
				return
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// writeFileDurable writes b to dir/name through a fsynced temporary file and a
// rename, then fsyncs dir.
func writeFileDurable(dir, name string, b []byte) (err error) {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("fhirsync: reject file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil { // CreateTemp made it 0600
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		return fmt.Errorf("fhirsync: reject file: %w", err)
	}
	df, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fhirsync: reject directory: %w", err)
	}
	defer df.Close()
	if err := df.Sync(); err != nil {
		return fmt.Errorf("fhirsync: reject directory: %w", err)
	}
	return nil
}
