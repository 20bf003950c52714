package api

import (
	"net/http"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// A workspace's API tokens, for operators: issued with scopes, listed
// without their secrets, revoked by id.

type tokenView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     *string    `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Token      string     `json:"token,omitempty"` // only when issued
}

func tokenOf(t *inbox.Token) tokenView {
	v := tokenView{ID: idString(int64(t.ID)), Name: t.Name, Prefix: orNull(t.Prefix), Scopes: make([]string, len(t.Scopes)),
		CreatedAt: t.CreatedAt.UTC(), LastUsedAt: utc(t.LastUsedAt), RevokedAt: utc(t.RevokedAt)}
	for i, sc := range t.Scopes {
		v.Scopes[i] = string(sc)
	}
	return v
}

// listTokens: GET /admin/v1/workspaces/{id}/tokens.
func (c *call) listTokens() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	list, err := c.s.store.ListTokens(c.ctx, inbox.WorkspaceID(id))
	if err != nil {
		return err
	}
	out := struct {
		Tokens []tokenView `json:"tokens"`
	}{Tokens: make([]tokenView, len(list))}
	for i := range list {
		out.Tokens[i] = tokenOf(&list[i])
	}
	return c.json(http.StatusOK, out)
}

type issueTokenBody struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// issueToken: POST /admin/v1/workspaces/{id}/tokens; the answer holds the
// token, shown this once.
func (c *call) issueToken() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	var body issueTokenBody
	if err := c.decodeBody(&body, false); err != nil {
		return err
	}
	if len(body.Scopes) == 0 {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "scopes is required: messages, settings or both")
	}
	var scopes []inbox.Scope
	for _, s := range body.Scopes {
		sc, ok := inbox.ParseScope(s)
		if !ok {
			return errorf(http.StatusBadRequest, codeInvalidRequest, "unknown scope %q: messages or settings", s)
		}
		scopes = append(scopes, sc)
	}
	t, secret, err := c.s.store.IssueToken(c.ctx, inbox.WorkspaceID(id), inbox.NewToken{Name: body.Name, Scopes: scopes})
	if err != nil {
		return err
	}
	v := tokenOf(&t)
	v.Token = secret
	return c.json(http.StatusCreated, v)
}

// revokeToken: DELETE /admin/v1/workspaces/{id}/tokens/{token_id}. The
// token stops working within the API's auth cache TTL (5 s).
func (c *call) revokeToken() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	tid, err := c.pathID("token_id")
	if err != nil {
		return err
	}
	t, err := c.s.store.RevokeTokenID(c.ctx, inbox.WorkspaceID(id), inbox.TokenID(tid))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, tokenOf(&t))
}
