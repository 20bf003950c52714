package api

import (
	"context"
	"sync"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// authCacheMax bounds the token cache; past it the cache starts afresh.
const authCacheMax = 10000

// authCache remembers what a token authenticated as (its workspace and
// scopes), for Config.AuthCacheTTL, so a busy client does not cost a
// database query per request. Only successes are kept, under the token's
// SHA-256 (never the token). A revoked token therefore keeps working here
// for up to the TTL.
type authCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[[32]byte]authEntry
}

type authEntry struct {
	auth  inbox.Auth
	until time.Time
}

// authenticateToken returns what token authenticates as, from the cache or
// the store.
func (s *Server) authenticateToken(ctx context.Context, token string) (inbox.Auth, error) {
	c := s.auth
	if c == nil {
		return s.store.Authenticate(ctx, token)
	}
	key := sha(token)
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.auth, nil
	}
	a, err := s.store.Authenticate(ctx, token)
	if err != nil {
		return inbox.Auth{}, err
	}
	c.mu.Lock()
	if len(c.m) >= authCacheMax {
		c.m = make(map[[32]byte]authEntry)
	}
	c.m[key] = authEntry{auth: a, until: now.Add(c.ttl)}
	c.mu.Unlock()
	return a, nil
}
