package fhirsync

import (
	"container/list"
	"context"
	"sync"

	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
)

// VersionStore remembers, per resource ("Type/id"), the newest source version
// written, for the stale-update guard: a resource whose source version is
// older than the one remembered is not written. Source versions compare as
// strings (fhirmap writes them so: zero-padded offsets, LSNs as 16 hex
// digits, 834 dates as YYYYMMDDhhmm). Implementations must be safe for
// concurrent use; errors are retried by Run.
type VersionStore interface {
	// Get returns the newest version remembered for key, "" when none.
	Get(ctx context.Context, key string) (string, error)
	// Put remembers version for key unless a newer one is remembered.
	Put(ctx context.Context, key, version string) error
}

// MemoryVersions is an in-memory VersionStore that keeps the most recently
// written keys, up to a limit. It forgets on restart and is one replica's
// memory: it guards against a source re-delivering or re-ordering its own
// changes, not against another service writing the same resources.
type MemoryVersions struct {
	mu    sync.Mutex
	limit int
	lru   *list.List // of *versionEntry, most recent first
	byKey map[string]*list.Element
}

type versionEntry struct{ key, version string }

// NewMemoryVersions returns a MemoryVersions that remembers at most limit
// keys (at least 1).
func NewMemoryVersions(limit int) *MemoryVersions {
	return &MemoryVersions{limit: max(limit, 1), lru: list.New(), byKey: make(map[string]*list.Element)}
}

// Get implements VersionStore.
func (m *MemoryVersions) Get(_ context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byKey[key]; ok {
		return e.Value.(*versionEntry).version, nil
	}
	return "", nil
}

// Put implements VersionStore.
func (m *MemoryVersions) Put(_ context.Context, key, version string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byKey[key]; ok {
		v := e.Value.(*versionEntry)
		if version > v.version {
			v.version = version
		}
		m.lru.MoveToFront(e)
		return nil
	}
	m.byKey[key] = m.lru.PushFront(&versionEntry{key: key, version: version})
	for m.lru.Len() > m.limit {
		old := m.lru.Back()
		m.lru.Remove(old)
		delete(m.byKey, old.Value.(*versionEntry).key)
	}
	return nil
}

// SourceVersion returns the source version a resource carries in its
// meta.extension ([fhirmap.ExtSourceVersion]), "" when none.
func SourceVersion(m proto.Message) string {
	r, err := resource.Unwrap(m)
	if err != nil {
		return ""
	}
	pr := r.ProtoReflect()
	fd := pr.Descriptor().Fields().ByName("meta")
	if fd == nil || !pr.Has(fd) {
		return ""
	}
	meta, ok := pr.Get(fd).Message().Interface().(*dtpb.Meta)
	if !ok {
		return ""
	}
	for _, e := range meta.GetExtension() {
		if e.GetUrl().GetValue() == fhirmap.ExtSourceVersion {
			return e.GetValue().GetStringValue().GetValue()
		}
	}
	return ""
}
