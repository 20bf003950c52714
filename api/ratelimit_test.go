package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/ratelimit"
)

// withLimits gives the API a Limiter on the test Redis and the default
// limits given (the engine's api_limits). A grant of 1 s: within a test,
// what a workspace spent never expires unseen.
func withLimits(t testing.TB, requests, messages int) envOpt {
	c, prefix := testenv.Redis(t)
	l, err := ratelimit.New(c, ratelimit.Config{Prefix: prefix, Grant: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return func(cfg *api.Config) {
		cfg.RateLimiter, cfg.RequestsPerSecond, cfg.MessagesPerSecond = l, requests, messages
	}
}

// rateLimitItem matches one item of the RateLimit header
// (draft-ietf-httpapi-ratelimit-headers-11): a quoted policy name, r and t.
var rateLimitItem = regexp.MustCompile(`^"(requests|messages)";r=(\d+);t=(\d+)$`)

// remaining reads the policy's r from a RateLimit header.
func remaining(t testing.TB, r resp, policy string) int {
	t.Helper()
	for _, v := range r.header.Values("RateLimit") {
		for _, item := range splitList(v) {
			m := rateLimitItem.FindStringSubmatch(item)
			if m == nil {
				t.Fatalf("RateLimit item %q is not of the draft's form", item)
			}
			if m[1] == policy {
				n, _ := strconv.Atoi(m[2])
				return n
			}
		}
	}
	t.Fatalf("no %q item in RateLimit %q", policy, r.header.Values("RateLimit"))
	return 0
}

func splitList(v string) []string {
	var out []string
	for _, s := range regexp.MustCompile(`,\s*`).Split(v, -1) {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// TestRequestRateLimit: a workspace at 5 requests per second gets 5
// through at once, then 429 rate_limited with Retry-After and the draft's
// headers; every answer (success or error) carries RateLimit-Policy and
// RateLimit, counting down; another workspace is not affected; after
// Retry-After it is served again.
func TestRequestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimits(t, 5, 0))
	a, b := e.ready("a"), e.ready("b")
	for i := range 5 {
		path := "/v1/threads"
		status := http.StatusOK
		if i == 2 {
			path, status = "/v1/messages/1", http.StatusNotFound // errors count and carry the headers too
		}
		r := e.do("GET", path, a.token, nil)
		if r.status != status {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		if p := r.header.Get("RateLimit-Policy"); p != `"requests";q=5;w=1` {
			t.Fatalf("request %d: RateLimit-Policy %q", i, p)
		}
		if n := remaining(t, r, "requests"); n != 4-i {
			t.Errorf("request %d: r=%d, want %d", i, n, 4-i)
		}
	}
	r := e.do("GET", "/v1/threads", a.token, nil)
	want(t, r, http.StatusTooManyRequests, "rate_limited")
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	if r.header.Get("RateLimit-Policy") == "" || remaining(t, r, "requests") != 0 {
		t.Fatalf("429 headers: %v", r.header)
	}
	// The effective window of a refusal is not shorter than Retry-After
	// (draft-11 section 6).
	if m := rateLimitItem.FindStringSubmatch(r.header.Get("RateLimit")); m == nil || m[3] != strconv.Itoa(ra) {
		t.Errorf("RateLimit %q with Retry-After %d", r.header.Get("RateLimit"), ra)
	}
	// Another workspace has its own budget.
	if r := e.do("GET", "/v1/threads", b.token, nil); r.status != http.StatusOK {
		t.Fatalf("workspace b: %d %s", r.status, r.body)
	}
	// Unauthenticated requests count against nobody and carry no headers.
	if r := e.do("GET", "/v1/threads", "sbk_nope", nil); r.status != http.StatusUnauthorized || r.header.Get("RateLimit") != "" {
		t.Fatalf("bad token: %d %v", r.status, r.header)
	}
	if st := e.api.Stats(); st.RateLimitedRequests != 1 {
		t.Errorf("stats %+v", st)
	}
	time.Sleep(time.Duration(ra) * time.Second)
	if r := e.do("GET", "/v1/threads", a.token, nil); r.status != http.StatusOK {
		t.Fatalf("after Retry-After: %d %s", r.status, r.body)
	}
}

// TestMessageRateLimit: at 3 messages per second, POST /v1/messages sends
// 3 and refuses the fourth (429 rate_limited, nothing stored); a batch
// counts its items one by one: of 4 valid items and 1 invalid (another
// workspace's), 3 are sent and the 4th is refused in its result, the
// invalid one keeps its own error and costs nothing. The send routes
// carry both policies.
func TestMessageRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimits(t, 1000, 3))
	a := e.ready("a")
	for i := range 3 {
		r := e.send(a.token, contact(i), "hi")
		want(t, r, http.StatusAccepted, "")
		if p := r.header.Get("RateLimit-Policy"); p != `"requests";q=1000;w=1, "messages";q=3;w=1;sb-unit="messages"` {
			t.Fatalf("RateLimit-Policy %q", p)
		}
		if n := remaining(t, r, "messages"); n != 2-i {
			t.Errorf("message %d: messages r=%d, want %d", i, n, 2-i)
		}
	}
	r := e.send(a.token, contact(3), "hi")
	want(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// A request the API refuses before counting messages costs none.
	want(t, e.do("POST", "/v1/messages", a.token, map[string]any{"to": "", "text": "x"}), http.StatusBadRequest, "invalid_request")
	if n := e.countMessages(a.id); n != 3 {
		t.Fatalf("%d messages stored, want 3", n)
	}
	// Other routes show only the requests policy.
	if p := e.do("GET", "/v1/threads", a.token, nil).header.Get("RateLimit-Policy"); p != `"requests";q=1000;w=1` {
		t.Fatalf("GET /v1/threads RateLimit-Policy %q", p)
	}
	// A batch of another workspace (a full bucket of its own).
	b := e.ready("b")
	items := []map[string]any{
		{"to": contact(10), "text": "1"}, {"to": "", "text": "bad"}, {"to": contact(11), "text": "2"},
		{"to": contact(12), "text": "3"}, {"to": contact(13), "text": "4"},
	}
	r = e.do("POST", "/v1/messages/batch", b.token, map[string]any{"messages": items})
	want(t, r, http.StatusOK, "")
	res := r.json(t)["results"].([]any)
	got := ""
	for _, x := range res {
		m := x.(map[string]any)
		st := int(m["status"].(float64))
		code := ""
		if er, ok := m["error"].(map[string]any); ok {
			code = er["code"].(string)
		}
		got += fmt.Sprintf("%d%s ", st, map[bool]string{true: ":" + code, false: ""}[code != ""])
	}
	if wantRes := "202 400:invalid_request 202 202 429:rate_limited "; got != wantRes {
		t.Fatalf("batch results %q, want %q", got, wantRes)
	}
	if n := e.countMessages(b.id); n != 3 {
		t.Fatalf("%d messages of the batch stored, want 3", n)
	}
	if n := remaining(t, r, "messages"); n != 0 {
		t.Errorf("after the batch: messages r=%d", n)
	}
	if st := e.api.Stats(); st.RateLimitedMessages != 2 {
		t.Errorf("stats %+v: want 2 messages refused (one request, one item)", st)
	}
}

func redisClientFor(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestWorkspaceRateLimitOverrides: PATCH /admin/v1/workspaces/{id} sets a
// workspace's own limits (a number, 0 for none, null for the default
// again, a field left out unchanged), GET shows those in force and its
// own, the requests see them at once, and bad values are 400.
func TestWorkspaceRateLimitOverrides(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimits(t, 100, 50))
	a := e.ready("a")
	path := "/admin/v1/workspaces/" + strconv.FormatInt(int64(a.id), 10)
	limitsOf := func(r resp) string {
		m := r.json(t)
		return fmt.Sprint(m["rate_limits"], " ", m["rate_limit_overrides"])
	}
	r := e.do("GET", path, opToken, nil)
	want(t, r, http.StatusOK, "")
	if got := limitsOf(r); got != "map[messages_per_second:50 requests_per_second:100] map[messages_per_second:<nil> requests_per_second:<nil>]" {
		t.Fatalf("defaults: %s", got)
	}
	r = e.do("PATCH", path, opToken, `{"rate_limits": {"requests_per_second": 2, "messages_per_second": 0}}`)
	want(t, r, http.StatusOK, "")
	// As openapi.json documents them, with and without a null.
	props := openAPISchema(t, "Workspace")["properties"].(map[string]any)
	for _, f := range []string{"rate_limits", "rate_limit_overrides"} {
		checkSchema(t, "Workspace."+f, props[f].(map[string]any), r.json(t)[f])
		checkSchema(t, "Workspace."+f, props[f].(map[string]any), e.do("GET", "/admin/v1/workspaces/"+strconv.FormatInt(int64(e.ready("c").id), 10), opToken, nil).json(t)[f])
	}
	if got := limitsOf(r); got != "map[messages_per_second:0 requests_per_second:2] map[messages_per_second:0 requests_per_second:2]" {
		t.Fatalf("after PATCH: %s", got)
	}
	r = e.do("GET", "/v1/threads", a.token, nil)
	if p := r.header.Get("RateLimit-Policy"); p != `"requests";q=2;w=1` {
		t.Fatalf("policy after PATCH %q", p)
	}
	want(t, e.do("GET", "/v1/threads", a.token, nil), http.StatusOK, "")
	r = e.send(a.token, contact(1), "x")
	want(t, r, http.StatusTooManyRequests, "rate_limited") // the third request within the second
	r = e.do("PATCH", path, opToken, `{"rate_limits": {"requests_per_second": null}}`)
	want(t, r, http.StatusOK, "")
	if got := limitsOf(r); got != "map[messages_per_second:0 requests_per_second:100] map[messages_per_second:0 requests_per_second:<nil>]" {
		t.Fatalf("after null: %s", got)
	}
	for _, body := range []string{
		`{"rate_limits": {"requests_per_second": -1}}`,
		`{"rate_limits": {"messages_per_second": 1000001}}`,
		`{"rate_limits": {"messages_per_second": 1.5}}`,
		`{"rate_limits": {"messages_per_second": "10"}}`,
		`{"rate_limits": {"per_token": 10}}`,
		`{"rate_limits": 5}`,
	} {
		want(t, e.do("PATCH", path, opToken, body), http.StatusBadRequest, "invalid_request")
	}
	want(t, e.do("PATCH", "/admin/v1/workspaces/424242", opToken, `{"rate_limits": {"requests_per_second": 1}}`), http.StatusNotFound, "not_found")
}

// TestRateLimitRedisDown: with Redis unreachable the API serves every
// request (fail open), never 500: the policy is still announced, the
// RateLimit field (unknown) is not.
func TestRateLimitRedisDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedisServer(t)
	c := redisClientFor(t, srv.Addr)
	l, err := ratelimit.New(c, ratelimit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(cfg *api.Config) { cfg.RateLimiter, cfg.RequestsPerSecond, cfg.MessagesPerSecond = l, 1, 1 })
	a := e.ready("a")
	want(t, e.send(a.token, contact(1), "x"), http.StatusAccepted, "")
	want(t, e.send(a.token, contact(2), "x"), http.StatusTooManyRequests, "rate_limited")
	srv.Stop()
	for i := range 5 {
		r := e.send(a.token, contact(10+i), "x")
		if r.status == http.StatusTooManyRequests {
			continue // refused locally until the bucket would hold a unit again (< 1 s)
		}
		want(t, r, http.StatusAccepted, "")
	}
	testenv.Eventually(t, "sends accepted with Redis down", func() bool {
		r := e.send(a.token, contact(20), "x")
		if r.status >= 500 {
			t.Fatalf("Redis down: %d %s", r.status, r.body)
		}
		return r.status == http.StatusAccepted && r.header.Get("RateLimit-Policy") != "" && r.header.Get("RateLimit") == ""
	})
	for i := range 10 {
		want(t, e.send(a.token, contact(30+i), "x"), http.StatusAccepted, "")
	}
	if st := l.Stats(); st.Healthy || st.FailOpen < 20 {
		t.Errorf("limiter stats %+v", st)
	}
}
