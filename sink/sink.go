package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
)

// Sink writes batches of FHIR R4 resources somewhere durable.
//
// Write and Close may be called from several goroutines; a Write after Close
// returns [ErrClosed]. Write must return promptly with ctx.Err() (possibly
// wrapped) once ctx is done.
type Sink interface {
	// Write writes ops in order. Two ops for the same resource (type and id)
	// in one batch are applied in batch order.
	Write(ctx context.Context, ops []Op) error
	// Close flushes and releases what the sink holds. It is idempotent.
	Close(ctx context.Context) error
}

// Op is one write: a resource to create or update, or a logical delete. A
// driver that cannot do what an op asks (a delete, an If-Match) fails that
// op with an error wrapping errors.ErrUnsupported; it never drops it.
type Op struct {
	// Resource is an R4 resource message from github.com/google/fhir/go (for
	// example *patient_go_proto.Patient) or a *ContainedResource holding one.
	// It must carry its logical id: fhirsync ids are deterministic, so a
	// rewrite overwrites. For a Delete only the type and id are used.
	Resource proto.Message
	// Delete asks the sink to delete the resource named by Resource's type and
	// id. Deleting what does not exist succeeds.
	Delete bool
	// IfMatch, when not empty, is the versionId the stored resource must have
	// for the write to apply (optimistic locking, sent as If-Match by REST
	// sinks). A mismatch is a permanent failure wrapping [ErrConflict].
	IfMatch string
}

// Ref returns the type and logical id of the resource op writes or deletes,
// after the checks every driver makes before it writes: Resource is an R4
// resource (or a ContainedResource holding one) and carries an id of FHIR id
// syntax, 1 to 64 of A-Z a-z 0-9 - and . characters. A failed check wraps
// [ErrInvalid] and names at most the message type, never a value.
func (o Op) Ref() (resourceType, id string, err error) {
	r, err := resource.Unwrap(o.Resource)
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	resourceType, id = resource.Type(r), resource.ID(r)
	switch {
	case id == "":
		return "", "", fmt.Errorf("%w: %s has no id", ErrInvalid, resourceType)
	case !validID(id):
		return "", "", fmt.Errorf("%w: %s id is not a FHIR id (1-64 of A-Z a-z 0-9 - .)", ErrInvalid, resourceType)
	}
	return resourceType, id, nil
}

// validID reports whether id matches the R4 id type, [A-Za-z0-9\-\.]{1,64}.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Upserts returns one upsert op per resource, in order.
func Upserts(resources ...proto.Message) []Op {
	ops := make([]Op, len(resources))
	for i, r := range resources {
		ops[i] = Op{Resource: r}
	}
	return ops
}

// Sentinel errors a sink wraps to say what went wrong.
var (
	// ErrClosed is returned by Write after Close.
	ErrClosed = errors.New("sink: closed")
	// ErrInvalid marks an op the sink or server refused as invalid (a
	// permanent failure: the resource will never be accepted as it is).
	ErrInvalid = errors.New("sink: invalid resource")
	// ErrConflict marks an op whose If-Match precondition failed.
	ErrConflict = errors.New("sink: version conflict")
)

// IndexError is the failure of the op at Index of a batch.
type IndexError struct {
	// Index is the position of the failed op in the batch given to Write.
	Index int
	// Err is why it failed; it may be a [*RetryableError].
	Err error
}

// Error implements error.
func (e IndexError) Error() string { return fmt.Sprintf("op %d: %v", e.Index, e.Err) }

// Unwrap returns the cause.
func (e IndexError) Unwrap() error { return e.Err }

// BatchError reports that the ops listed in Failed were not written and every
// other op of the batch was.
type BatchError struct {
	// Failed lists the failed ops in ascending Index order.
	Failed []IndexError
}

// Error implements error. It counts the failures and shows the first few.
func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sink: %d op(s) failed", len(e.Failed))
	for i, f := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-3)
			break
		}
		b.WriteString("; ")
		b.WriteString(f.Error())
	}
	return b.String()
}

// Unwrap returns the per-op errors, so errors.Is and errors.As see them.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f
	}
	return errs
}

// RetryableError marks a failure that may succeed if tried again later.
type RetryableError struct {
	// Err is the cause.
	Err error
	// After is how long the server asked the client to wait (Retry-After);
	// zero when it did not say.
	After time.Duration
}

// Error implements error.
func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("retryable (after %s): %v", e.After, e.Err)
	}
	return "retryable: " + fmt.Sprint(e.Err)
}

// Unwrap returns the cause.
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable wraps err as a [*RetryableError] with an optional delay.
func Retryable(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err, After: after}
}

// IsRetryable reports whether err, or every failure of a [*BatchError], may
// succeed if tried again. context.Canceled and context.DeadlineExceeded of the
// caller's own context are not retryable by themselves: a sink that hit its
// own timeout wraps it in a RetryableError.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var be *BatchError
	if errors.As(err, &be) && len(be.Failed) > 0 {
		for _, f := range be.Failed {
			if !IsRetryable(f.Err) {
				return false
			}
		}
		return true
	}
	var re *RetryableError
	return errors.As(err, &re)
}

// RetryAfter returns the longest server-requested delay found in err (in a
// RetryableError or any failure of a BatchError), or zero.
func RetryAfter(err error) time.Duration {
	var d time.Duration
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if re, ok := e.(*RetryableError); ok && re.After > d {
			d = re.After
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return d
}
