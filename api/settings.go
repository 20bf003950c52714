package api

import (
	"context"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// settingsCacheMax bounds the workspace settings cache; past it the cache
// starts afresh.
const settingsCacheMax = 10000

// smartDefault returns the workspace's smart encoding default, from the
// cache or the store. The cache keeps the settings the send path reads,
// for Config.AuthCacheTTL like a token, so a busy workspace does not cost
// a query per message. A change made through this process (PATCH
// /admin/v1/workspaces/{id}) is seen at once; one made through another
// process within the TTL.
func (s *Server) smartDefault(ctx context.Context, ws inbox.WorkspaceID) (bool, error) {
	c := s.settings
	now := time.Now()
	if c != nil {
		if smart, ok := c.get(ws, now); ok {
			return smart, nil
		}
	}
	w, err := s.store.GetWorkspace(ctx, ws)
	if err != nil {
		return false, err
	}
	if c != nil {
		c.put(ws, w.SmartEncoding, now)
	}
	return w.SmartEncoding, nil
}

// forgetSettings drops a workspace's cached settings after a change.
func (s *Server) forgetSettings(ws inbox.WorkspaceID) {
	if c := s.settings; c != nil {
		c.forget(ws)
	}
}
