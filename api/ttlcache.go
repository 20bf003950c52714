package api

import (
	"sync"
	"time"
)

// ttlCache remembers values for ttl each, up to max entries (past it the
// cache starts afresh). It is safe for concurrent use. The API keeps what
// the send path reads per request in it (what a token authenticates as, a
// workspace's settings), so a busy client does not cost a database query
// per request.
type ttlCache[K comparable, V any] struct {
	ttl time.Duration
	max int
	mu  sync.Mutex
	m   map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v     V
	until time.Time
}

func newTTLCache[K comparable, V any](ttl time.Duration, max int) *ttlCache[K, V] {
	return &ttlCache[K, V]{ttl: ttl, max: max, m: map[K]ttlEntry[V]{}}
}

// get returns k's value if it was put less than ttl before now.
func (c *ttlCache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put keeps v for k from now on, for ttl.
func (c *ttlCache[K, V]) put(k K, v V, now time.Time) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[K]ttlEntry[V])
	}
	c.m[k] = ttlEntry[V]{v: v, until: now.Add(c.ttl)}
	c.mu.Unlock()
}

// forget drops k's value.
func (c *ttlCache[K, V]) forget(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}
