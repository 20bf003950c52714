package inbox_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/inbox"
)

func TestWorkspaceTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, tok, err := e.s.CreateWorkspace(e.ctx, " Acme ", false)
	ok(t, err)
	if w.Name != "Acme" || w.SMSAddon || tok == "" {
		t.Fatalf("workspace %+v token %q", w, tok)
	}
	got, err := e.s.AuthenticateToken(e.ctx, tok)
	ok(t, err)
	if got != w.ID {
		t.Fatalf("token authenticates workspace %d, want %d", got, w.ID)
	}
	// Only the hash is stored.
	h := sha256.Sum256([]byte(tok))
	if e.count(`SELECT count(*) FROM api_tokens WHERE token_hash = $1`, h[:]) != 1 {
		t.Fatal("token hash not stored")
	}
	if e.count(`SELECT count(*) FROM api_tokens WHERE position($1::bytea in token_hash) > 0`, []byte(tok)) != 0 {
		t.Fatal("plaintext token stored")
	}
	for _, bad := range []string{"", "sbk_", tok + "x", strings.ToUpper(tok), "Bearer " + tok} {
		_, err := e.s.AuthenticateToken(e.ctx, bad)
		wantCode(t, err, inbox.CodeUnauthorized)
	}
	tok2, err := e.s.CreateToken(e.ctx, w.ID)
	ok(t, err)
	ok(t, e.s.RevokeToken(e.ctx, tok))
	_, err = e.s.AuthenticateToken(e.ctx, tok)
	wantCode(t, err, inbox.CodeUnauthorized)
	if got, err := e.s.AuthenticateToken(e.ctx, tok2); err != nil || got != w.ID {
		t.Fatalf("second token: %d, %v", got, err)
	}
	_, err = e.s.CreateToken(e.ctx, 999999)
	wantCode(t, err, inbox.CodeNotFound)
	_, _, err = e.s.CreateWorkspace(e.ctx, "  ", true)
	wantCode(t, err, inbox.CodeInvalidArgument)
}

func TestSMSAddonRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws := e.workspace("no addon", false)
	n := e.shared("c")
	d := e.dedicated(ws, "c")
	_, err := e.s.ConnectNumber(e.ctx, ws, n.ID)
	wantCode(t, err, inbox.CodeSMSAddonRequired)
	_, err = e.s.ConnectNumber(e.ctx, ws, d.ID)
	wantCode(t, err, inbox.CodeSMSAddonRequired)
	res, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(ws, contact(1), "hi")})
	ok(t, err)
	wantCode(t, res[0].Err, inbox.CodeSMSAddonRequired)

	ok(t, e.s.SetSMSAddon(e.ctx, ws, true))
	e.connect(ws, n)
	e.send(msg(ws, contact(1), "hi"))

	// Switched off again: refused, and what was queued stays queued.
	ok(t, e.s.SetSMSAddon(e.ctx, ws, false))
	res, err = e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(ws, contact(2), "hi")})
	ok(t, err)
	wantCode(t, res[0].Err, inbox.CodeSMSAddonRequired)
	err = e.s.EnableNumber(e.ctx, ws, n.ID)
	wantCode(t, err, inbox.CodeSMSAddonRequired)
	if got := e.count(`SELECT count(*) FROM messages`); got != 1 {
		t.Fatalf("%d messages stored, want 1", got)
	}
	wantCode(t, e.s.SetSMSAddon(e.ctx, 424242, true), inbox.CodeNotFound)
	ws2, err := e.s.GetWorkspace(e.ctx, ws)
	ok(t, err)
	if ws2.SMSAddon {
		t.Fatal("add-on still on")
	}
}

func TestSmartEncodingSetting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws := e.workspace("smart", true)
	w, err := e.s.GetWorkspace(e.ctx, ws)
	ok(t, err)
	if w.SmartEncoding {
		t.Fatal("smart encoding is on for a new workspace; the default is off")
	}
	for _, on := range []bool{true, false, true} {
		ok(t, e.s.SetSmartEncoding(e.ctx, ws, on))
		w, err := e.s.GetWorkspace(e.ctx, ws)
		ok(t, err)
		if w.SmartEncoding != on || !w.SMSAddon {
			t.Fatalf("after SetSmartEncoding(%v): %+v", on, w)
		}
	}
	wantCode(t, e.s.SetSmartEncoding(e.ctx, 424242, true), inbox.CodeNotFound)
}

// A workspace's own rate limits: none at first (the configured defaults),
// set and cleared field by field, 0 kept as "no limit", bounds checked.
func TestRateLimitsSetting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws := e.workspace("limits", true)
	w, err := e.s.GetWorkspace(e.ctx, ws)
	ok(t, err)
	if w.RateLimits.RequestsPerSecond != nil || w.RateLimits.MessagesPerSecond != nil {
		t.Fatalf("a new workspace has limits of its own: %+v", w.RateLimits)
	}
	n, zero := 250, 0
	ok(t, e.s.SetRateLimits(e.ctx, ws, inbox.RateLimits{RequestsPerSecond: &n, MessagesPerSecond: &zero}))
	w, err = e.s.GetWorkspace(e.ctx, ws)
	ok(t, err)
	if r, m := w.RateLimits.RequestsPerSecond, w.RateLimits.MessagesPerSecond; r == nil || *r != 250 || m == nil || *m != 0 {
		t.Fatalf("after setting 250 and 0: %+v", w.RateLimits)
	}
	ok(t, e.s.SetRateLimits(e.ctx, ws, inbox.RateLimits{MessagesPerSecond: &n}))
	w, err = e.s.GetWorkspace(e.ctx, ws)
	ok(t, err)
	if r, m := w.RateLimits.RequestsPerSecond, w.RateLimits.MessagesPerSecond; r != nil || m == nil || *m != 250 {
		t.Fatalf("after clearing requests: %+v", w.RateLimits)
	}
	bad := inbox.MaxRateLimit + 1
	wantCode(t, e.s.SetRateLimits(e.ctx, ws, inbox.RateLimits{RequestsPerSecond: &bad}), inbox.CodeInvalidArgument)
	neg := -1
	wantCode(t, e.s.SetRateLimits(e.ctx, ws, inbox.RateLimits{MessagesPerSecond: &neg}), inbox.CodeInvalidArgument)
	wantCode(t, e.s.SetRateLimits(e.ctx, 424242, inbox.RateLimits{}), inbox.CodeNotFound)
}
