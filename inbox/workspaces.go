package inbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
)

// tokenPrefix marks Switchboard API tokens, so a leaked one is recognisable.
const tokenPrefix = "sbk_"

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

// CreateWorkspace creates a workspace and its first API token. The token is
// returned in plaintext this once; only its SHA-256 is stored.
func (s *Store) CreateWorkspace(ctx context.Context, name string, smsAddon bool) (Workspace, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Workspace{}, "", invalid("empty workspace name")
	}
	tok, hash := newToken()
	var w Workspace
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO workspaces (name, sms_addon) VALUES ($1, $2)
			RETURNING id, name, sms_addon, created_at`, name, smsAddon).
			Scan(&w.ID, &w.Name, &w.SMSAddon, &w.CreatedAt)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO api_tokens (token_hash, workspace_id) VALUES ($1, $2)`, hash, w.ID)
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
	err := s.pool.QueryRow(ctx, `SELECT id, name, sms_addon, created_at FROM workspaces WHERE id = $1`, ws).
		Scan(&w.ID, &w.Name, &w.SMSAddon, &w.CreatedAt)
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

// CreateToken issues another API token for a workspace (operator), returned
// in plaintext this once.
func (s *Store) CreateToken(ctx context.Context, ws WorkspaceID) (string, error) {
	tok, hash := newToken()
	_, err := s.pool.Exec(ctx, `INSERT INTO api_tokens (token_hash, workspace_id) VALUES ($1, $2)`, hash, ws)
	if isForeignKeyViolation(err) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", err
	}
	return tok, nil
}

// RevokeToken makes a token unusable. Revoking an unknown token is ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, token string) error {
	h := sha256.Sum256([]byte(token))
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL`, h[:])
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// AuthenticateToken returns the workspace a token belongs to, or
// ErrUnauthorized. The database finds the row by the token's hash, so the
// plaintext never reaches it; the hash is compared again in constant time.
func (s *Store) AuthenticateToken(ctx context.Context, token string) (WorkspaceID, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return 0, ErrUnauthorized
	}
	h := sha256.Sum256([]byte(token))
	var ws WorkspaceID
	var stored []byte
	err := s.pool.QueryRow(ctx, `SELECT workspace_id, token_hash FROM api_tokens
		WHERE token_hash = $1 AND revoked_at IS NULL`, h[:]).Scan(&ws, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrUnauthorized
	}
	if err != nil {
		return 0, err
	}
	if subtle.ConstantTimeCompare(stored, h[:]) != 1 {
		return 0, ErrUnauthorized
	}
	return ws, nil
}
