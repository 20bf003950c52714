package inbox

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Scope is a permission a workspace token carries.
type Scope string

// Scopes.
const (
	// ScopeMessages: send messages, read threads and messages, and their
	// events.
	ScopeMessages Scope = "messages"
	// ScopeSettings: change the workspace's SMS settings (number
	// configuration) and its custom number requests.
	ScopeSettings Scope = "settings"
)

// AllScopes lists every scope. Tokens issued before scopes existed, and a
// workspace's first token, have all of them.
var AllScopes = []Scope{ScopeMessages, ScopeSettings}

// ParseScope returns the scope named s.
func ParseScope(s string) (Scope, bool) {
	sc := Scope(strings.ToLower(strings.TrimSpace(s)))
	return sc, slices.Contains(AllScopes, sc)
}

// TokenID names an API token; it is not a secret.
type TokenID int64

// Token describes an API token, without its secret.
type Token struct {
	ID        TokenID
	Workspace WorkspaceID
	Name      string
	// Prefix is the token's first characters ("sbk_" and 8 more), to tell
	// tokens apart; "" for tokens issued before prefixes were kept.
	Prefix    string
	Scopes    []Scope
	CreatedAt time.Time
	// LastUsedAt is when the token last authenticated a request, to within
	// LastUsedResolution; zero when never.
	LastUsedAt time.Time
	RevokedAt  time.Time // zero while the token works
}

// Auth is what a token authenticates as.
type Auth struct {
	Workspace WorkspaceID
	Token     TokenID
	Scopes    []Scope
}

// Has reports whether the token carries scope sc.
func (a Auth) Has(sc Scope) bool { return slices.Contains(a.Scopes, sc) }

// NewToken describes a token to issue.
type NewToken struct {
	Name   string  // free text, at most 100 characters; may be empty
	Scopes []Scope // at least one; duplicates are ignored
}

// LastUsedResolution is how often Authenticate records a token's use: at
// most one write per token per interval, so a busy client costs no write
// per request.
const LastUsedResolution = time.Minute

// tokenPrefix marks Switchboard API tokens, so a leaked one is recognisable.
const tokenPrefix = "sbk_"

// tokenDisplayPrefix is the part of a token kept in clear to tell tokens
// apart: "sbk_" and 8 of its 43 random characters (48 of 256 bits).
func tokenDisplayPrefix(tok string) string { return tok[:len(tokenPrefix)+8] }

const maxTokenName = 100

// IssueToken issues an API token for a workspace (operator) with the given
// name and scopes; the token is returned in plaintext this once. Refusals:
// ErrNotFound (no such workspace, or the system workspace, which has no
// tokens), ErrInvalidArgument (no scope, an unknown one, a name too long).
func (s *Store) IssueToken(ctx context.Context, ws WorkspaceID, nt NewToken) (Token, string, error) {
	var scopes []string
	for _, sc := range nt.Scopes {
		if !slices.Contains(AllScopes, sc) {
			return Token{}, "", invalid("unknown scope %q", sc)
		}
		if !slices.Contains(scopes, string(sc)) {
			scopes = append(scopes, string(sc))
		}
	}
	if len(scopes) == 0 {
		return Token{}, "", invalid("a token needs at least one scope")
	}
	slices.Sort(scopes)
	name := strings.TrimSpace(nt.Name)
	if len([]rune(name)) > maxTokenName {
		return Token{}, "", invalid("token name longer than %d characters", maxTokenName)
	}
	tok, hash := newToken()
	var t Token
	err := scanToken(s.pool.QueryRow(ctx, `
		INSERT INTO api_tokens (token_hash, workspace_id, prefix, name, scopes)
		SELECT $1, w.id, $3, $4, $5 FROM workspaces w WHERE w.id = $2 AND NOT w.system
		RETURNING `+tokenColumns, hash, ws, tokenDisplayPrefix(tok), name, scopes), &t)
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, "", ErrNotFound
	}
	if err != nil {
		return Token{}, "", err
	}
	return t, tok, nil
}

// CreateToken issues another API token for a workspace (operator) with
// every scope, returned in plaintext this once.
func (s *Store) CreateToken(ctx context.Context, ws WorkspaceID) (string, error) {
	_, tok, err := s.IssueToken(ctx, ws, NewToken{Scopes: AllScopes})
	return tok, err
}

const tokenColumns = `id, workspace_id, name, coalesce(prefix, ''), scopes, created_at, last_used_at, revoked_at`

func scanToken(row pgx.Row, t *Token) error {
	var scopes []string
	var used, revoked *time.Time
	if err := row.Scan(&t.ID, &t.Workspace, &t.Name, &t.Prefix, &scopes, &t.CreatedAt, &used, &revoked); err != nil {
		return err
	}
	t.Scopes = make([]Scope, len(scopes))
	for i, sc := range scopes {
		t.Scopes[i] = Scope(sc)
	}
	t.LastUsedAt, t.RevokedAt = timeOrZero(used), timeOrZero(revoked)
	return nil
}

// ListTokens returns a workspace's tokens, revoked ones included, oldest
// first, without their secrets.
func (s *Store) ListTokens(ctx context.Context, ws WorkspaceID) ([]Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE workspace_id = $1 ORDER BY id`, ws)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) {
		var t Token
		err := scanToken(r, &t)
		return t, err
	})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		if _, err := s.GetWorkspace(ctx, ws); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// RevokeTokenID makes one of a workspace's tokens unusable. Another
// workspace's token, or an unknown id, is ErrNotFound; revoking a revoked
// token changes nothing.
func (s *Store) RevokeTokenID(ctx context.Context, ws WorkspaceID, id TokenID) (Token, error) {
	var t Token
	err := scanToken(s.pool.QueryRow(ctx, `
		UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
		WHERE id = $1 AND workspace_id = $2
		RETURNING `+tokenColumns, id, ws), &t)
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, ErrNotFound
	}
	return t, err
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

// Authenticate returns what a token authenticates as, or ErrUnauthorized.
// The database finds the row by the token's hash, so the plaintext never
// reaches it; the hash is compared again in constant time. The token's
// last use is recorded in the same statement, at most once per
// LastUsedResolution.
func (s *Store) Authenticate(ctx context.Context, token string) (Auth, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return Auth{}, ErrUnauthorized
	}
	h := sha256.Sum256([]byte(token))
	var (
		a      Auth
		stored []byte
		scopes []string
	)
	err := s.pool.QueryRow(ctx, `
		WITH t AS (
			SELECT token_hash, workspace_id, id, scopes, last_used_at FROM api_tokens
			WHERE token_hash = $1 AND revoked_at IS NULL
		), used AS (
			UPDATE api_tokens a SET last_used_at = now()
			FROM t
			WHERE a.token_hash = t.token_hash
			  AND (t.last_used_at IS NULL OR t.last_used_at < now() - $2::int8 * interval '1 microsecond')
		)
		SELECT token_hash, workspace_id, id, scopes FROM t`, h[:], micros(LastUsedResolution)).
		Scan(&stored, &a.Workspace, &a.Token, &scopes)
	if errors.Is(err, pgx.ErrNoRows) {
		return Auth{}, ErrUnauthorized
	}
	if err != nil {
		return Auth{}, err
	}
	if subtle.ConstantTimeCompare(stored, h[:]) != 1 {
		return Auth{}, ErrUnauthorized
	}
	a.Scopes = make([]Scope, len(scopes))
	for i, sc := range scopes {
		a.Scopes[i] = Scope(sc)
	}
	return a, nil
}

// AuthenticateToken returns the workspace a token belongs to, or
// ErrUnauthorized (Authenticate without the scopes).
func (s *Store) AuthenticateToken(ctx context.Context, token string) (WorkspaceID, error) {
	a, err := s.Authenticate(ctx, token)
	return a.Workspace, err
}
