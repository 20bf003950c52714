package inbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
)

// newToken returns a fresh API token and its hash.
func newToken() (string, []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(tok))
	return tok, h[:]
}

// CreateWorkspace creates a workspace and its first API token, named
// "first", with every scope. The token is returned in plaintext this once;
// only its SHA-256 is stored.
func (s *Store) CreateWorkspace(ctx context.Context, name string, smsAddon bool) (Workspace, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Workspace{}, "", invalid("empty workspace name")
	}
	tok, hash := newToken()
	var w Workspace
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO workspaces (name, sms_addon) VALUES ($1, $2)
			RETURNING id, name, sms_addon, time_zone, created_at`, name, smsAddon).
			Scan(&w.ID, &w.Name, &w.SMSAddon, &w.TimeZone, &w.CreatedAt)
		if err != nil {
			return err
		}
		// The first token has both scopes (the column's default).
		_, err = tx.Exec(ctx, `INSERT INTO api_tokens (token_hash, workspace_id, prefix, name) VALUES ($1, $2, $3, 'first')`,
			hash, w.ID, tokenDisplayPrefix(tok))
		return err
	})
	if err != nil {
		return Workspace{}, "", err
	}
	return w, tok, nil
}

// GetWorkspace returns a workspace, or ErrNotFound.
func (s *Store) GetWorkspace(ctx context.Context, ws WorkspaceID) (Workspace, error) {
	var w Workspace
	var daily, monthly *int64
	err := s.pool.QueryRow(ctx, `SELECT id, name, sms_addon, system, smart_encoding, api_requests_per_second,
		api_messages_per_second, time_zone, daily_segment_cap, monthly_segment_cap, created_at FROM workspaces WHERE id = $1`, ws).
		Scan(&w.ID, &w.Name, &w.SMSAddon, &w.System, &w.SmartEncoding, &w.RateLimits.RequestsPerSecond,
			&w.RateLimits.MessagesPerSecond, &w.TimeZone, &daily, &monthly, &w.CreatedAt)
	w.DailySegmentCap, w.MonthlySegmentCap = orZero(daily), orZero(monthly)
	if errors.Is(err, pgx.ErrNoRows) {
		return Workspace{}, ErrNotFound
	}
	return w, err
}

// SetSMSAddon switches a workspace's SMS add-on on or off (operator). With
// it off every SMS action of the workspace (Enqueue, ConnectNumber,
// EnableNumber) is refused with ErrSMSAddonRequired. Messages accepted while
// it was on keep their 202 and are still sent; inbound still lands.
func (s *Store) SetSMSAddon(ctx context.Context, ws WorkspaceID, on bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE workspaces SET sms_addon = $2, updated_at = now() WHERE id = $1`, ws, on)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// SetSmartEncoding sets a workspace's default for smart encoding
// (operator). It changes how messages accepted from then on are sent, never
// messages already accepted.
func (s *Store) SetSmartEncoding(ctx context.Context, ws WorkspaceID, on bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE workspaces SET smart_encoding = $2, updated_at = now() WHERE id = $1`, ws, on)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// SetRateLimits sets a workspace's own API rate limits (operator), both
// at once: nil fields take the configured default again. A limit outside
// 0 to MaxRateLimit is ErrInvalidArgument; an unknown workspace
// ErrNotFound.
func (s *Store) SetRateLimits(ctx context.Context, ws WorkspaceID, l RateLimits) error {
	for _, v := range []*int{l.RequestsPerSecond, l.MessagesPerSecond} {
		if v != nil && (*v < 0 || *v > MaxRateLimit) {
			return invalid("a rate limit must be 0 (no limit) to 1000000")
		}
	}
	tag, err := s.pool.Exec(ctx, `UPDATE workspaces SET api_requests_per_second = $2, api_messages_per_second = $3,
		updated_at = now() WHERE id = $1`, ws, l.RequestsPerSecond, l.MessagesPerSecond)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
