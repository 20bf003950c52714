package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/inbox"
)

// TestDatabaseDown: when the database cannot be reached, every route that
// needs it answers 503 unavailable with Retry-After (never 500), so a load
// balancer retries elsewhere.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")

	// A second server over a database URL whose port is closed.
	cfg, err := pgxpool.ParseConfig("postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	dead, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	down := newEnvOver(t, inbox.New(dead, inbox.Options{}))

	// And the first server after its pool is closed (a database that went
	// away under a running process).
	closed := newEnv(t)
	cw := closed.ready("w")
	closed.pool.Close()

	for _, c := range []struct {
		env   *env
		token string
	}{{down, w.token}, {closed, cw.token}} {
		for _, rt := range routeList(t) {
			method, path, _ := strings.Cut(rt, " ")
			if path == "/openapi.json" || path == "/admin/v1/binds" {
				continue // no database involved
			}
			tok := c.token
			if strings.HasPrefix(path, "/admin") {
				tok = opToken
			}
			var body any
			switch rt {
			case "POST /v1/messages":
				body = map[string]any{"to": contact(1), "text": "hi"}
			case "POST /v1/messages/batch":
				body = map[string]any{"messages": []any{map[string]any{"to": contact(1), "text": "hi"}}}
			case "PUT /v1/sms/number":
				body = map[string]any{"number": w.num.E164}
			case "POST /admin/v1/workspaces":
				body = map[string]any{"name": "x"}
			case "PATCH /admin/v1/workspaces/{id}":
				body = map[string]any{"sms_addon": true}
			case "POST /admin/v1/numbers":
				body = map[string]any{"number": newE164(), "kind": "shared", "carrier": "c"}
			case "POST /v1/sms/number-requests":
				body = map[string]any{"country": "US"}
			case "POST /admin/v1/workspaces/{id}/tokens":
				body = map[string]any{"scopes": []string{"messages"}}
			case "POST /admin/v1/number-requests/{id}/fulfil":
				body = map[string]any{"number": newE164()}
			case "POST /admin/v1/number-requests/{id}/decline":
				body = map[string]any{"reason": "none left"}
			case "POST /v1/opt-outs", "POST /admin/v1/workspaces/{id}/opt-outs":
				body = map[string]any{"contact": contact(1)}
			case "PUT /v1/sms/keywords", "PUT /admin/v1/workspaces/{id}/keywords":
				body = map[string]any{}
			case "POST /admin/v1/unrouted/assign":
				body = map[string]any{"workspace": "1", "to": newE164()}
			}
			start := time.Now()
			path = strings.NewReplacer("{id}", "1", "{token_id}", "1", "{number}", "%2B"+newE164()[1:], "{contact}", "%2B"+contact(1)[1:]).Replace(path)
			r := c.env.do(method, path, tok, body)
			want(t, r, http.StatusServiceUnavailable, "unavailable")
			if r.header.Get("Retry-After") == "" {
				t.Fatalf("%s: no Retry-After", rt)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("%s took %v", rt, d)
			}
		}
	}
	// The live server is unaffected.
	want(t, e.send(w.token, contact(1), "still fine"), 202, "")
}

// newEnvOver serves the API over a given store (no hub).
func newEnvOver(t *testing.T, store *inbox.Store) *env {
	t.Helper()
	// The event stream reads through a shared Feed, as in the engine; no
	// hub: every read is stale (the wake-up channel is always closed).
	stale := make(chan struct{})
	close(stale)
	feed := store.NewFeed(func() <-chan struct{} { return stale }, inbox.FeedOptions{})
	s, err := api.New(api.Config{Store: store, Feed: feed, OperatorToken: opToken, Logger: testLogger(t), RequestTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), store: store, api: s}
	e.srv = newServer(t, s)
	return e
}
