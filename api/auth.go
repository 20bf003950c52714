package api

import (
	"context"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// authCacheMax bounds the token cache; past it the cache starts afresh.
const authCacheMax = 10000

// authenticateToken returns what token authenticates as, from the cache
// (Config.AuthCacheTTL) or the store. Only successes are kept, under the
// token's SHA-256 (never the token). A revoked token therefore keeps
// working here for up to the TTL.
func (s *Server) authenticateToken(ctx context.Context, token string) (inbox.Auth, error) {
	c := s.auth
	if c == nil {
		return s.store.Authenticate(ctx, token)
	}
	key := sha(token)
	now := time.Now()
	if a, ok := c.get(key, now); ok {
		return a, nil
	}
	a, err := s.store.Authenticate(ctx, token)
	if err != nil {
		return inbox.Auth{}, err
	}
	c.put(key, a, now)
	return a, nil
}
