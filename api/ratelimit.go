package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/ratelimit"
)

// RateLimiter takes units from the API's rate limit buckets;
// *ratelimit.Limiter implements it (see its Take for the contract).
type RateLimiter interface {
	Take(ctx context.Context, k ratelimit.Key, rate, n int) ratelimit.Result
}

// The buckets of a workspace, and the policy names of the RateLimit
// headers.
const (
	limitRequests = "requests"
	limitMessages = "messages"
)

// limits are the rate limits in force for a workspace: its own, else the
// configured defaults. 0: no limit.
type limits struct{ requests, messages int }

// wsSettings are the workspace settings the request path reads, cached
// for Config.AuthCacheTTL.
type wsSettings struct {
	smart bool
	own   inbox.RateLimits
}

// settingsOf returns the workspace's settings, from the cache or the
// store. A change made through this process (PATCH
// /admin/v1/workspaces/{id}) is seen at once; one made through another
// process within the TTL.
func (s *Server) settingsOf(ctx context.Context, ws inbox.WorkspaceID) (wsSettings, error) {
	c := s.settings
	now := time.Now()
	if c != nil {
		if v, ok := c.get(ws, now); ok {
			return v, nil
		}
	}
	w, err := s.store.GetWorkspace(ctx, ws)
	if err != nil {
		return wsSettings{}, err
	}
	v := wsSettings{smart: w.SmartEncoding, own: w.RateLimits}
	if c != nil {
		c.put(ws, v, now)
	}
	return v, nil
}

// limitsOf is what the workspace's own limits leave of the defaults.
func (s *Server) limitsOf(own inbox.RateLimits) limits {
	l := limits{requests: s.cfg.RequestsPerSecond, messages: s.cfg.MessagesPerSecond}
	if own.RequestsPerSecond != nil {
		l.requests = *own.RequestsPerSecond
	}
	if own.MessagesPerSecond != nil {
		l.messages = *own.MessagesPerSecond
	}
	return l
}

// limitRequest counts the request against the workspace's requests per
// second and sets the RateLimit-Policy and RateLimit headers (the
// messages policy too on the send routes). Over the limit it returns the
// 429 rate_limited error. Without a RateLimiter it does nothing.
func (c *call) limitRequest() error {
	if c.s.cfg.RateLimiter == nil {
		return nil
	}
	st, err := c.s.settingsOf(c.ctx, c.ws)
	if err != nil {
		return err
	}
	c.limits = c.s.limitsOf(st.own)
	h := c.w.Header()
	if p := c.policy(); p != "" {
		h.Set("RateLimit-Policy", p)
	}
	if c.limits.requests <= 0 {
		return nil
	}
	r := c.s.cfg.RateLimiter.Take(c.ctx, ratelimit.Key{Kind: limitRequests, ID: int64(c.ws)}, c.limits.requests, 1)
	c.addRateLimit(limitRequests, r)
	if r.Granted < 1 {
		c.s.limitedRequests.Add(1)
		return errRateLimited(limitRequests, c.limits.requests, r.RetryAfter)
	}
	return nil
}

// takeMessages counts n messages against the workspace's messages per
// second and returns how many may be sent (all, some or none) and, when
// fewer than n, the error to answer the others with. It adds the messages
// item of the RateLimit header.
func (c *call) takeMessages(n int) (int, error) {
	if c.s.cfg.RateLimiter == nil || c.limits.messages <= 0 || n == 0 {
		return n, nil
	}
	r := c.s.cfg.RateLimiter.Take(c.ctx, ratelimit.Key{Kind: limitMessages, ID: int64(c.ws)}, c.limits.messages, n)
	c.addRateLimit(limitMessages, r)
	if r.Granted < n {
		c.s.limitedMessages.Add(int64(n - r.Granted))
		return r.Granted, errRateLimited(limitMessages, c.limits.messages, r.RetryAfter)
	}
	return n, nil
}

// policy is the RateLimit-Policy header of the call's route for the
// workspace's limits ("" when none applies): draft-ietf-httpapi-ratelimit-
// headers-11, a List of quota policies. A limit of N per second is
// q=N;w=1. The draft's quota unit registry has no unit for messages: the
// messages policy says so in a vendor parameter, sb-unit.
func (c *call) policy() string {
	p := ""
	if c.limits.requests > 0 {
		p = `"requests";q=` + strconv.Itoa(c.limits.requests) + ";w=1"
	}
	if c.route.sends && c.limits.messages > 0 {
		if p != "" {
			p += ", "
		}
		p += `"messages";q=` + strconv.Itoa(c.limits.messages) + `;w=1;sb-unit="messages"`
	}
	return p
}

// addRateLimit adds the policy's item to the RateLimit header (draft-11:
// r, what the bucket holds now; t, the seconds until it is full again, or
// on a refusal until Retry-After). Nothing is added while Redis cannot be
// asked (the limit is not enforced then).
func (c *call) addRateLimit(name string, r ratelimit.Result) {
	if r.FailOpen {
		return
	}
	t := ceilSeconds(r.Reset)
	if r.RetryAfter > 0 {
		t = max(t, ceilSeconds(r.RetryAfter))
	}
	item := `"` + name + `";r=` + strconv.Itoa(r.Remaining) + ";t=" + strconv.Itoa(t)
	h := c.w.Header()
	if old := h.Get("RateLimit"); old != "" {
		item = old + ", " + item
	}
	h.Set("RateLimit", item)
}

// errRateLimited is the 429 of a request over the policy's limit.
func errRateLimited(policy string, limit int, retry time.Duration) *apiError {
	e := errorf(http.StatusTooManyRequests, codeRateLimited,
		"over this workspace's limit of %d %s per second; retry after %d s", limit, policy, ceilSeconds(max(retry, time.Second)))
	e.retryAfter = max(retry, time.Second)
	return e
}

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// rateLimitsView is a workspace's rate limits (GET and PATCH
// /admin/v1/workspaces/{id}): in force, and its own (null: the
// configured default).
type rateLimitsView struct {
	RequestsPerSecond int `json:"requests_per_second"`
	MessagesPerSecond int `json:"messages_per_second"`
}

type rateLimitOverridesView struct {
	RequestsPerSecond *int `json:"requests_per_second"`
	MessagesPerSecond *int `json:"messages_per_second"`
}

// rateLimitsPatch is the rate_limits of PATCH /admin/v1/workspaces/{id}:
// a number sets the workspace's own limit (0: none), null returns to the
// configured default, a field left out stays as it is.
type rateLimitsPatch struct {
	RequestsPerSecond optionalInt `json:"requests_per_second"`
	MessagesPerSecond optionalInt `json:"messages_per_second"`
}

// optionalInt is a JSON integer that may be null or absent.
type optionalInt struct {
	set bool // present (a number or null)
	v   *int
}

// UnmarshalJSON reads a whole number or null.
func (o *optionalInt) UnmarshalJSON(b []byte) error {
	o.set = true
	if string(b) == "null" {
		o.v = nil
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a whole number or null")
	}
	o.v = &n
	return nil
}

// apply returns own with the patch applied, or a 400 for a limit out of
// range.
func (p *rateLimitsPatch) apply(own inbox.RateLimits) (inbox.RateLimits, error) {
	for _, f := range []struct {
		name string
		o    optionalInt
		dst  **int
	}{{"requests_per_second", p.RequestsPerSecond, &own.RequestsPerSecond}, {"messages_per_second", p.MessagesPerSecond, &own.MessagesPerSecond}} {
		if !f.o.set {
			continue
		}
		if v := f.o.v; v != nil && (*v < 0 || *v > inbox.MaxRateLimit) {
			return own, errorf(http.StatusBadRequest, codeInvalidRequest,
				"rate_limits.%s must be 0 (no limit) to %d, or null for the default", f.name, inbox.MaxRateLimit)
		}
		*f.dst = f.o.v
	}
	return own, nil
}
