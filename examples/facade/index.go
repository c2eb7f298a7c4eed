package main

import (
	"slices"
	"sync"
)

// index maps resource keys ("Type/id") to the NPIs whose rows produce them,
// and NPIs to their keys. Ids are keyed hashes, so this is the only way
// from an id back to a row. A key may belong to many NPIs (a Location
// several providers share, a network every provider joins).
type index struct {
	mu    sync.RWMutex
	byNPI map[string][]string            // NPI → keys of its rows' resources
	byKey map[string]map[string]struct{} // key → NPIs
}

func newIndex() *index {
	return &index{byNPI: map[string][]string{}, byKey: map[string]map[string]struct{}{}}
}

// set makes keys the keys of npi (none removes it) and returns its previous
// keys.
func (x *index) set(npi string, keys []string) (old []string) {
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	x.mu.Lock()
	defer x.mu.Unlock()
	old = x.byNPI[npi]
	for _, k := range old {
		if _, still := slices.BinarySearch(keys, k); still {
			continue
		}
		if s := x.byKey[k]; s != nil {
			delete(s, npi)
			if len(s) == 0 {
				delete(x.byKey, k)
			}
		}
	}
	for _, k := range keys {
		s := x.byKey[k]
		if s == nil {
			s = map[string]struct{}{}
			x.byKey[k] = s
		}
		s[npi] = struct{}{}
	}
	if len(keys) == 0 {
		delete(x.byNPI, npi)
	} else {
		x.byNPI[npi] = keys
	}
	return old
}

// npis returns up to max NPIs whose rows produce key.
func (x *index) npis(key string, max int) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []string
	for npi := range x.byKey[key] {
		if len(out) == max {
			break
		}
		out = append(out, npi)
	}
	return out
}

// keys returns every key.
func (x *index) keys() []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]string, 0, len(x.byKey))
	for k := range x.byKey {
		out = append(out, k)
	}
	return out
}

// size returns the number of NPIs and of keys.
func (x *index) size() (npis, keys int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byNPI), len(x.byKey)
}

// replace swaps in the content of y (a freshly built index).
func (x *index) replace(y *index) {
	y.mu.Lock()
	defer y.mu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byNPI, x.byKey = y.byNPI, y.byKey
	y.byNPI, y.byKey = map[string][]string{}, map[string]map[string]struct{}{}
}
