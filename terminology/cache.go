package terminology

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// CacheOptions configures a [Cache]. A nil *CacheOptions means defaults.
type CacheOptions struct {
	// Size is the maximum number of entries (translations and remembered
	// no-mapping answers together); the least recently used entry is evicted
	// first. Zero means 10000.
	Size int
	// TTL is how long a translation is kept. Zero means one hour.
	TTL time.Duration
	// NegativeTTL is how long a no-mapping answer ([ErrNoMapping]) is kept.
	// Zero means five minutes; a negative value disables negative caching.
	NegativeTTL time.Duration
	// Now is the clock, for tests. Nil means time.Now.
	Now func() time.Time
}

// CacheStats counts what a [Cache] did since it was made.
type CacheStats struct {
	// Hits is the number of answers served from the cache.
	Hits int64
	// Misses is the number of calls to the wrapped mapper.
	Misses int64
	// Shared is the number of callers that waited for another caller's
	// in-flight call for the same key instead of calling the mapper.
	Shared int64
	// Evictions is the number of entries dropped to stay within Size.
	Evictions int64
	// Entries is the number of entries now held (some may have expired).
	Entries int
}

// Cache is a [Mapper] that remembers another mapper's answers: a bounded LRU
// with a TTL, that also remembers no-mapping answers (with their own TTL).
// Concurrent misses on the same key make a single call to the wrapped mapper
// (singleflight). Errors other than [ErrNoMapping] are never cached.
//
// A caller whose ctx ends stops waiting at once; the shared call is
// cancelled when every caller waiting on it has gone.
//
// The cache key is (System, Version, Code, target system); Display and the
// other fields of the input are ignored. Cache is safe for concurrent use.
type Cache struct {
	next   Mapper
	size   int
	ttl    time.Duration
	negTTL time.Duration
	now    func() time.Time

	mu    sync.Mutex
	lru   list.List // of *cacheEntry, most recently used first
	items map[cacheKey]*list.Element
	calls map[cacheKey]*cacheCall

	hits, misses, shared, evictions atomic.Int64
}

type cacheKey struct {
	system, version, code, target string
}

type cacheEntry struct {
	key     cacheKey
	coding  Coding
	err     error // nil or a no-mapping error
	expires time.Time
}

type cacheCall struct {
	done    chan struct{}
	coding  Coding
	err     error
	waiters int
	cancel  context.CancelFunc
}

// NewCache returns a Cache in front of next.
func NewCache(next Mapper, opts *CacheOptions) *Cache {
	c := &Cache{
		next:   next,
		size:   10000,
		ttl:    time.Hour,
		negTTL: 5 * time.Minute,
		now:    time.Now,
		items:  make(map[cacheKey]*list.Element),
		calls:  make(map[cacheKey]*cacheCall),
	}
	if opts != nil {
		if opts.Size > 0 {
			c.size = opts.Size
		}
		if opts.TTL > 0 {
			c.ttl = opts.TTL
		}
		if opts.NegativeTTL != 0 {
			c.negTTL = opts.NegativeTTL
		}
		if opts.Now != nil {
			c.now = opts.Now
		}
	}
	return c
}

// Translate returns the cached answer for (from, targetSystem), or asks the
// wrapped mapper once and remembers its answer.
func (c *Cache) Translate(ctx context.Context, from Coding, targetSystem string) (Coding, error) {
	if err := ctx.Err(); err != nil {
		return Coding{}, err
	}
	key := cacheKey{from.System, from.Version, from.Code, targetSystem}
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry)
		if c.now().Before(e.expires) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			c.hits.Add(1)
			return e.coding, e.err
		}
		c.lru.Remove(el)
		delete(c.items, key)
	}
	call, ok := c.calls[key]
	if ok {
		call.waiters++
		c.shared.Add(1)
	} else {
		// The call outlives any one caller: it keeps the first caller's
		// values (trace spans) but is cancelled only when every waiter has
		// gone (see wait).
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		call = &cacheCall{done: make(chan struct{}), waiters: 1, cancel: cancel}
		c.calls[key] = call
		c.misses.Add(1)
		go c.run(cctx, key, call, from, targetSystem)
	}
	c.mu.Unlock()
	return c.wait(ctx, key, call)
}

// wait waits for call or for ctx to end.
func (c *Cache) wait(ctx context.Context, key cacheKey, call *cacheCall) (Coding, error) {
	select {
	case <-call.done:
		return call.coding, call.err
	case <-ctx.Done():
	}
	select {
	case <-call.done: // finished while ctx ended: the answer is here
		return call.coding, call.err
	default:
	}
	c.mu.Lock()
	call.waiters--
	if call.waiters == 0 {
		// Nobody wants the answer any more: stop the call, and let the
		// next caller start afresh.
		call.cancel()
		if c.calls[key] == call {
			delete(c.calls, key)
		}
	}
	c.mu.Unlock()
	return Coding{}, ctx.Err()
}

// errMapperPanic is returned when the wrapped mapper panics inside the
// cache's goroutine (where the panic could not reach the caller).
var errMapperPanic = errors.New("terminology: cache: wrapped mapper panicked")

// run calls the wrapped mapper and publishes the answer.
func (c *Cache) run(ctx context.Context, key cacheKey, call *cacheCall, from Coding, target string) {
	defer call.cancel()
	coding, err := func() (coding Coding, err error) {
		defer func() {
			if recover() != nil {
				coding, err = Coding{}, errMapperPanic
			}
		}()
		return c.next.Translate(ctx, from, target)
	}()
	c.mu.Lock()
	if c.calls[key] == call {
		delete(c.calls, key)
	}
	switch {
	case err == nil:
		c.store(key, coding, nil, c.ttl)
	case errors.Is(err, ErrNoMapping) && c.negTTL > 0:
		c.store(key, Coding{}, err, c.negTTL)
	}
	call.coding, call.err = coding, err
	c.mu.Unlock()
	close(call.done)
}

// store adds an entry; c.mu is held.
func (c *Cache) store(key cacheKey, coding Coding, err error, ttl time.Duration) {
	e := &cacheEntry{key: key, coding: coding, err: err, expires: c.now().Add(ttl)}
	if el, ok := c.items[key]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.items[key] = c.lru.PushFront(e)
	for c.lru.Len() > c.size {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
		c.evictions.Add(1)
	}
}

// Purge drops every entry (in-flight calls are not affected).
func (c *Cache) Purge() {
	c.mu.Lock()
	c.lru.Init()
	clear(c.items)
	c.mu.Unlock()
}

// Stats returns counters of the cache's activity.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	n := c.lru.Len()
	c.mu.Unlock()
	return CacheStats{
		Hits:      c.hits.Load(),
		Misses:    c.misses.Load(),
		Shared:    c.shared.Load(),
		Evictions: c.evictions.Load(),
		Entries:   n,
	}
}
