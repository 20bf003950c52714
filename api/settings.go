package api

import (
	"context"
	"sync"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// settingsCacheMax bounds the workspace settings cache; past it the cache
// starts afresh.
const settingsCacheMax = 10000

// settingsCache remembers the workspace settings the send path reads (the
// smart encoding default), for Config.AuthCacheTTL like a token, so a busy
// workspace does not cost a query per message. A change made through this
// process (PATCH /admin/v1/workspaces/{id}) is seen at once; one made
// through another process within the TTL.
type settingsCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[inbox.WorkspaceID]settingsEntry
}

type settingsEntry struct {
	smart bool
	until time.Time
}

// smartDefault returns the workspace's smart encoding default, from the
// cache or the store.
func (s *Server) smartDefault(ctx context.Context, ws inbox.WorkspaceID) (bool, error) {
	c := s.settings
	now := time.Now()
	if c != nil {
		c.mu.Lock()
		e, ok := c.m[ws]
		c.mu.Unlock()
		if ok && now.Before(e.until) {
			return e.smart, nil
		}
	}
	w, err := s.store.GetWorkspace(ctx, ws)
	if err != nil {
		return false, err
	}
	if c != nil {
		c.mu.Lock()
		if len(c.m) >= settingsCacheMax {
			c.m = make(map[inbox.WorkspaceID]settingsEntry)
		}
		c.m[ws] = settingsEntry{smart: w.SmartEncoding, until: now.Add(c.ttl)}
		c.mu.Unlock()
	}
	return w.SmartEncoding, nil
}

// forgetSettings drops a workspace's cached settings after a change.
func (s *Server) forgetSettings(ws inbox.WorkspaceID) {
	if c := s.settings; c != nil {
		c.mu.Lock()
		delete(c.m, ws)
		c.mu.Unlock()
	}
}
