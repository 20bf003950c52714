package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/inbox"
)

// access says who may call a route.
type access int

const (
	public    access = iota // anyone
	workspace               // a workspace token (Authorization: Bearer sbk_...)
	operator                // the operator token
)

// route is one entry of the API. The table below is the only place routes
// are registered; the OpenAPI document is checked against it.
type route struct {
	method, path string
	access       access
	// scope is what a workspace token needs for the route; "" is any
	// token of the workspace. A token without it is 403 forbidden.
	scope  inbox.Scope
	handle func(c *call) error
	// long routes have no request timeout: the handler bounds each store
	// call itself (event streams, self-tests).
	long bool
	// sends: the route sends messages, which count against the
	// workspace's messages per second (ratelimit.go).
	sends bool
}

// Scopes of the workspace routes: messages to send and read
// conversations, settings to change the SMS settings (numbers, number
// requests). Reading the settings needs either.
const (
	msgs     = inbox.ScopeMessages
	settings = inbox.ScopeSettings
)

var routes = []route{
	{method: "GET", path: "/openapi.json", access: public, handle: (*call).openAPI},

	{method: "POST", path: "/v1/messages", access: workspace, scope: msgs, handle: (*call).sendMessage, sends: true},
	{method: "POST", path: "/v1/messages/batch", access: workspace, scope: msgs, handle: (*call).sendBatch, sends: true},
	{method: "GET", path: "/v1/messages/{id}", access: workspace, scope: msgs, handle: (*call).getMessage},
	{method: "POST", path: "/v1/messages/{id}/cancel", access: workspace, scope: msgs, handle: (*call).cancelMessage},
	{method: "GET", path: "/v1/threads", access: workspace, scope: msgs, handle: (*call).listThreads},
	{method: "GET", path: "/v1/threads/{id}/messages", access: workspace, scope: msgs, handle: (*call).listThreadMessages},
	{method: "POST", path: "/v1/threads/{id}/read", access: workspace, scope: msgs, handle: (*call).markThreadRead},
	{method: "GET", path: "/v1/sms", access: workspace, handle: (*call).getSMS},
	{method: "GET", path: "/v1/sms/numbers", access: workspace, handle: (*call).listNumbers},
	{method: "PUT", path: "/v1/sms/number", access: workspace, scope: settings, handle: (*call).connectNumber},
	{method: "POST", path: "/v1/sms/number/disable", access: workspace, scope: settings, handle: (*call).disableNumber},
	{method: "POST", path: "/v1/sms/number/enable", access: workspace, scope: settings, handle: (*call).enableNumber},
	{method: "DELETE", path: "/v1/sms/number", access: workspace, scope: settings, handle: (*call).disconnectNumber},
	{method: "POST", path: "/v1/sms/number-requests", access: workspace, scope: settings, handle: (*call).requestNumber},
	{method: "GET", path: "/v1/sms/number-requests", access: workspace, handle: (*call).listNumberRequests},
	{method: "GET", path: "/v1/sms/number-requests/{id}", access: workspace, handle: (*call).getNumberRequest},
	{method: "POST", path: "/v1/sms/number-requests/{id}/cancel", access: workspace, scope: settings, handle: (*call).cancelNumberRequest},
	{method: "GET", path: "/v1/events", access: workspace, handle: (*call).events, long: true},
	{method: "POST", path: "/v1/webhooks", access: workspace, scope: settings, handle: (*call).createWebhook},
	{method: "GET", path: "/v1/webhooks", access: workspace, handle: (*call).listWebhooks},
	{method: "GET", path: "/v1/webhooks/{id}", access: workspace, handle: (*call).getWebhook},
	{method: "PATCH", path: "/v1/webhooks/{id}", access: workspace, scope: settings, handle: (*call).updateWebhook},
	{method: "DELETE", path: "/v1/webhooks/{id}", access: workspace, scope: settings, handle: (*call).deleteWebhook},
	{method: "POST", path: "/v1/webhooks/{id}/rotate-secret", access: workspace, scope: settings, handle: (*call).rotateWebhookSecret},
	{method: "POST", path: "/v1/webhooks/{id}/test", access: workspace, scope: settings, handle: (*call).testWebhook},
	{method: "GET", path: "/v1/webhooks/{id}/attempts", access: workspace, handle: (*call).listWebhookAttempts},
	{method: "POST", path: "/v1/webhooks/{id}/events/{event_id}/replay", access: workspace, scope: settings, handle: (*call).replayWebhookEvent},
	{method: "GET", path: "/v1/opt-outs", access: workspace, scope: msgs, handle: (*call).listOptOuts},
	{method: "POST", path: "/v1/opt-outs", access: workspace, scope: msgs, handle: (*call).addOptOut},
	{method: "GET", path: "/v1/opt-outs/{contact}", access: workspace, scope: msgs, handle: (*call).getOptOut},
	{method: "DELETE", path: "/v1/opt-outs/{contact}", access: workspace, scope: msgs, handle: (*call).removeOptOut},
	{method: "GET", path: "/v1/sms/keywords", access: workspace, handle: (*call).getKeywords},
	{method: "PUT", path: "/v1/sms/keywords", access: workspace, scope: settings, handle: (*call).putKeywords},
	{method: "GET", path: "/v1/usage", access: workspace, handle: (*call).getUsage},

	{method: "POST", path: "/admin/v1/workspaces", access: operator, handle: (*call).createWorkspace},
	{method: "GET", path: "/admin/v1/workspaces/{id}", access: operator, handle: (*call).getWorkspace},
	{method: "PATCH", path: "/admin/v1/workspaces/{id}", access: operator, handle: (*call).patchWorkspace},
	{method: "GET", path: "/admin/v1/workspaces/{id}/tokens", access: operator, handle: (*call).listTokens},
	{method: "POST", path: "/admin/v1/workspaces/{id}/tokens", access: operator, handle: (*call).issueToken},
	{method: "DELETE", path: "/admin/v1/workspaces/{id}/tokens/{token_id}", access: operator, handle: (*call).revokeToken},
	{method: "GET", path: "/admin/v1/numbers", access: operator, handle: (*call).listAllNumbers},
	{method: "POST", path: "/admin/v1/numbers", access: operator, handle: (*call).addNumber},
	{method: "POST", path: "/admin/v1/numbers/{number}/self-test", access: operator, handle: (*call).selfTest, long: true},
	{method: "GET", path: "/admin/v1/number-requests", access: operator, handle: (*call).listAllNumberRequests},
	{method: "POST", path: "/admin/v1/number-requests/{id}/fulfil", access: operator, handle: (*call).fulfilNumberRequest},
	{method: "POST", path: "/admin/v1/number-requests/{id}/decline", access: operator, handle: (*call).declineNumberRequest},
	{method: "GET", path: "/admin/v1/binds", access: operator, handle: (*call).listBinds},
	{method: "GET", path: "/admin/v1/unrouted", access: operator, handle: (*call).listUnroutedGroups},
	{method: "GET", path: "/admin/v1/unrouted/messages", access: operator, handle: (*call).listUnrouted},
	{method: "POST", path: "/admin/v1/unrouted/assign", access: operator, handle: (*call).assignUnrouted},
	{method: "GET", path: "/admin/v1/workspaces/{id}/opt-outs", access: operator, handle: (*call).listOptOuts},
	{method: "POST", path: "/admin/v1/workspaces/{id}/opt-outs", access: operator, handle: (*call).addOptOut},
	{method: "GET", path: "/admin/v1/workspaces/{id}/opt-outs/{contact}", access: operator, handle: (*call).getOptOut},
	{method: "DELETE", path: "/admin/v1/workspaces/{id}/opt-outs/{contact}", access: operator, handle: (*call).removeOptOut},
	{method: "GET", path: "/admin/v1/workspaces/{id}/keywords", access: operator, handle: (*call).getKeywords},
	{method: "PUT", path: "/admin/v1/workspaces/{id}/keywords", access: operator, handle: (*call).putKeywords},
	{method: "GET", path: "/admin/v1/usage", access: operator, handle: (*call).getUsage},
}

// call is one request being served.
type call struct {
	s     *Server
	w     *statusWriter
	r     *http.Request
	ctx   context.Context // the request's, bounded by RequestTimeout
	route *route
	ws    inbox.WorkspaceID // the caller, on workspace routes
	auth  inbox.Auth        // the caller's token, on workspace routes
	// limits are the workspace's rate limits, on workspace routes with a
	// RateLimiter.
	limits limits
	start  time.Time
}

// wrap turns a route into an http.Handler: authentication, the request
// timeout, error answers and the log line.
func (s *Server) wrap(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		c := &call{s: s, w: sw, r: r, route: rt, start: time.Now()}
		var cancel context.CancelFunc
		c.ctx, cancel = context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		err := c.authenticate()
		if err == nil {
			if rt.long {
				c.ctx = r.Context() // the handler bounds each store call itself
			}
			err = rt.handle(c)
		}
		if err != nil {
			err = c.fail(err)
		}
		c.logLine(err)
	})
}

// authenticate checks the route's token.
func (c *call) authenticate() error {
	switch c.route.access {
	case workspace:
		tok, ok := bearer(c.r)
		if !ok {
			return errUnauthorized
		}
		a, err := c.s.authenticateToken(c.ctx, tok)
		if err != nil {
			return err
		}
		c.ws, c.auth = a.Workspace, a
		// Every request with an accepted token counts, and its answer
		// carries the rate limit headers.
		if err := c.limitRequest(); err != nil {
			return err
		}
		if sc := c.route.scope; sc != "" && !a.Has(sc) {
			return errForbidden(sc)
		}
	case operator:
		tok, ok := bearer(c.r)
		if !ok || c.s.cfg.OperatorToken == "" {
			return errUnauthorized
		}
		h := sha(tok)
		if subtle.ConstantTimeCompare(h[:], c.s.opHash[:]) != 1 {
			return errUnauthorized
		}
	}
	return nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

func sha(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// json writes a success answer.
func (c *call) json(status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	c.w.WriteHeader(status)
	c.w.Write(append(b, '\n'))
	return nil
}

// noContent writes 204.
func (c *call) noContent() error {
	c.w.Header().Set("Cache-Control", "no-store")
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// logLine logs the request at debug, and its failure at warn (503) or
// error (500). Never a token or a message body.
func (c *call) logLine(err error) {
	status := http.StatusOK
	pattern := ""
	switch {
	case c.w.status != 0:
		status = c.w.status
	case c.r.Context().Err() != nil:
		status = 499 // the client went away before an answer
	}
	if c.route != nil {
		pattern = c.route.method + " " + c.route.path
	}
	fields := []zap.Field{
		zap.String("method", c.r.Method), zap.String("route", pattern), zap.String("path", c.r.URL.Path),
		zap.Int("status", status), zap.Duration("took", time.Since(c.start)),
	}
	if c.ws != 0 {
		fields = append(fields, zap.Int64("workspace", int64(c.ws)))
	}
	switch {
	case status >= 500 && status != http.StatusServiceUnavailable:
		c.s.log.Error("api request failed", append(fields, zap.Error(err))...)
	case status == http.StatusServiceUnavailable:
		c.s.log.Warn("api request: service unavailable", append(fields, zap.Error(err))...)
	default:
		c.s.log.Debug("api request", fields...)
	}
}

// statusWriter records the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// write deadlines of event streams).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pathID reads a positive integer path parameter; anything else names
// nothing (404).
func (c *call) pathID(name string) (int64, error) {
	id, err := strconv.ParseInt(c.r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}

// page reads ?cursor= and ?limit=.
func (c *call) page() (inbox.Page, error) {
	q := c.r.URL.Query()
	p := inbox.Page{Cursor: q.Get("cursor")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > inbox.MaxPageSize {
			return p, errorf(http.StatusBadRequest, codeInvalidRequest, "limit must be 1 to %d", inbox.MaxPageSize)
		}
		p.Limit = n
	}
	return p, nil
}
