package sinktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/sink"
)

// ErrNotFound is what a [Harness] returns from Read for a resource the
// backend does not hold, or holds only as deleted.
var ErrNotFound = errors.New("sinktest: not found")

// HarnessMaker makes a harness whose backend starts empty. Run calls it once
// per test; t is that test (for t.TempDir, t.Cleanup, t.Logf).
type HarnessMaker func(ctx context.Context, t *testing.T) (Harness, error)

// Harness connects the suite to one driver and to the backend behind it (a
// FHIR server, a directory, memory). The suite writes through the sink the
// harness makes and checks the result through Read and List, which must look
// at the backend itself (the server's REST API, the files on disk), not at
// the sink's own bookkeeping.
type Harness interface {
	// MakeSink returns a new sink writing to the harness's backend. Run
	// calls it once per harness.
	MakeSink(ctx context.Context) (sink.Sink, error)
	// Read returns the current version of the resource type/id, or
	// ErrNotFound when the backend does not hold it or holds it deleted. The
	// suite calls Read both while the sink is open and after it is closed.
	Read(ctx context.Context, resourceType, id string) (*Stored, error)
	// List returns every current resource of resourceType the backend holds,
	// in any order, once per copy it holds: a backend that stores the same
	// id twice (two NDJSON lines) lists it twice. The suite writes fewer than
	// 200 resources of a type.
	List(ctx context.Context, resourceType string) ([]*Stored, error)
	// Close releases the backend. The suite has closed the sink already.
	Close()
}

// Stored is one version of a resource as the backend holds it.
type Stored struct {
	// Resource is the content, a google/fhir R4 message; nil when Deleted.
	Resource proto.Message
	// VersionID is meta.versionId, "" when the backend keeps no versions.
	VersionID string
	// Deleted marks a deletion in a history.
	Deleted bool
}

// HistoryReader is implemented by harnesses of drivers with
// [Features].History: the backend keeps every version of a resource.
type HistoryReader interface {
	// History returns the versions of type/id oldest first, deletions
	// included (Deleted set, Resource nil), or an empty slice.
	History(ctx context.Context, resourceType, id string) ([]*Stored, error)
}

// FaultInjector is implemented by harnesses of drivers with
// [Features].Faults. A REST harness puts a fault-injecting proxy between
// the sink and the server; an in-process driver fails whole Write calls.
type FaultInjector interface {
	// FailNext makes the next n requests the sink sends to its backend fail
	// as f says, without reaching it. A driver that does not send requests
	// fails its next n Write calls as a whole.
	FailNext(n int, f Fault)
	// StallNext makes the next n requests hang until the sink gives up on
	// them (its context is done), like a server that stopped answering.
	StallNext(n int)
}

// Fault is an injected failure answer.
type Fault struct {
	// Status is the HTTP status to answer: 429 or 503 in the suite.
	Status int
	// RetryAfter, when positive, is sent as a Retry-After header of that
	// many seconds; the suite uses whole seconds.
	RetryAfter time.Duration
}

// Features says what a driver supports; the suite checks the promised
// behaviour and, for what is not promised, that the driver refuses rather
// than silently drops.
type Features struct {
	// Versions: the backend keeps a meta.versionId per resource, and a write
	// that changes the content makes a new one. An identical rewrite may or
	// may not make a new version (servers differ).
	Versions bool
	// Delete: Op.Delete removes the resource. Without it, a delete op must
	// fail with an error wrapping errors.ErrUnsupported.
	Delete bool
	// IfMatch: Op.IfMatch is honoured (a mismatch fails with sink.ErrConflict).
	// Without it, an op with IfMatch must fail with errors.ErrUnsupported.
	// IfMatch requires Versions.
	IfMatch bool
	// History: the harness implements HistoryReader.
	History bool
	// Faults: the harness implements FaultInjector.
	Faults bool
	// ValidatesRequired: the driver or its server refuses a resource that
	// lacks an R4 required element, with an error wrapping sink.ErrInvalid.
	ValidatesRequired bool
}
