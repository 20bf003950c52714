package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/inbox/events"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

const opToken = "operator-token-for-tests"

// env is one test's API over a database of its own.
type env struct {
	t     testing.TB
	ctx   context.Context
	url   string // the database
	pool  *pgxpool.Pool
	store *inbox.Store
	api   *api.Server
	srv   *httptest.Server
	hub   *events.Hub
	kicks atomic.Int64
}

type envOpt func(*api.Config)

func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	pool := testenv.OpenPool(t, url, 16)
	if err := inbox.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	e := &env{t: t, ctx: ctx, url: url, pool: pool, store: inbox.New(pool, inbox.Options{})}
	hub, err := events.New(events.Config{Pool: pool, PollInterval: 500 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	e.hub = hub
	cfg := api.Config{
		Store: e.store, OperatorToken: opToken, MaxBodyBytes: 4096, Events: hub, Logger: testLogger(t),
		// The streams read the feed as in the engine: through the
		// process's shared Feed.
		Feed:  e.store.NewFeed(hub.Changed, inbox.FeedOptions{}),
		Kick:  func() { e.kicks.Add(1) },
		Binds: func() any { return []map[string]any{{"carrier": "carrier-a", "state": "bound", "window_in_use": 3}} },
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.api = s
	e.srv = newServer(t, s)
	return e
}

// newServer serves s over HTTP until the test ends, wired as the engine
// wires it: streams are closed when the server shuts down.
func newServer(t testing.TB, s *api.Server) *httptest.Server {
	srv := httptest.NewUnstartedServer(s)
	srv.Config.RegisterOnShutdown(s.CloseStreams)
	srv.Start()
	t.Cleanup(func() { s.CloseStreams(); srv.Close() })
	return srv
}

func testLogger(t testing.TB) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

var numberSeq atomic.Int64

// newE164 returns a valid US number no other call of this process returns.
func newE164() string {
	n := numberSeq.Add(1)
	return fmt.Sprintf("+1415%03d%04d", 200+n/10000%800, n%10000)
}

// contact returns a valid contact number for i.
func contact(i int) string { return fmt.Sprintf("+1646%03d%04d", 200+i/10000%800, i%10000) }

// tenant is a workspace and its token.
type tenant struct {
	id    inbox.WorkspaceID
	token string
	num   inbox.Number // its connected number, if any
}

func (e *env) workspace(name string, addon bool) tenant {
	e.t.Helper()
	w, tok, err := e.store.CreateWorkspace(e.ctx, name, addon)
	if err != nil {
		e.t.Fatal(err)
	}
	return tenant{id: w.ID, token: tok}
}

func (e *env) dedicated(ws inbox.WorkspaceID) inbox.Number {
	e.t.Helper()
	n, err := e.store.AddNumber(e.ctx, inbox.NewNumber{E164: newE164(), Kind: inbox.Dedicated, Carrier: "carrier-a", Owner: ws})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) shared() inbox.Number {
	e.t.Helper()
	n, err := e.store.AddNumber(e.ctx, inbox.NewNumber{E164: newE164(), Kind: inbox.Shared, Carrier: "carrier-a"})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// ready returns a workspace with the add-on and a connected dedicated number.
func (e *env) ready(name string) tenant {
	e.t.Helper()
	w := e.workspace(name, true)
	w.num = e.dedicated(w.id)
	if _, err := e.store.ConnectNumber(e.ctx, w.id, w.num.ID); err != nil {
		e.t.Fatal(err)
	}
	return w
}

func (e *env) inbound(from, to, body string) inbox.InboundResult {
	e.t.Helper()
	res, err := e.store.AppendInbound(e.ctx, []inbox.Inbound{{Carrier: "carrier-a", From: from, To: to, Body: body, Encoding: "GSM7"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return res[0]
}

// resp is an answer, read whole.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v: %s", r.status, err, r.body)
	}
	return m
}

// code is the error code of an error answer ("" for none).
func (r resp) code() string {
	var b struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(r.body, &b)
	return b.Error.Code
}

// do sends a request with a bearer token ("" for none). body is JSON-encoded
// unless it is a string or []byte, which are sent as they are.
func (e *env) do(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// want checks an answer's status and, for errors, its code.
func want(t testing.TB, r resp, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("answer %d %q, want %d %q: %s", r.status, r.code(), status, code, r.body)
	}
	if ct := r.header.Get("Content-Type"); r.status != http.StatusNoContent && !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("answer %d with Content-Type %q", r.status, ct)
	}
}

func (e *env) send(tok, to, text string) resp {
	e.t.Helper()
	return e.do("POST", "/v1/messages", tok, map[string]any{"to": to, "text": text})
}

// countMessages counts a workspace's messages.
func (e *env) countMessages(ws inbox.WorkspaceID) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM messages WHERE workspace_id = $1`, ws).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
