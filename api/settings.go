package api

import (
	"context"

	"github.com/switchboard-sms/switchboard/inbox"
)

// settingsCacheMax bounds the workspace settings cache; past it the cache
// starts afresh.
const settingsCacheMax = 10000

// smartDefault returns the workspace's smart encoding default (from the
// settings cache, ratelimit.go: a busy workspace does not cost a query per
// message).
func (s *Server) smartDefault(ctx context.Context, ws inbox.WorkspaceID) (bool, error) {
	v, err := s.settingsOf(ctx, ws)
	return v.smart, err
}

// forgetSettings drops a workspace's cached settings after a change.
func (s *Server) forgetSettings(ws inbox.WorkspaceID) {
	if c := s.settings; c != nil {
		c.forget(ws)
	}
}
