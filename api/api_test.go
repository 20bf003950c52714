package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/inbox"
)

// routeList is every route the server answers, from its OpenAPI-checked
// table (see TestOpenAPIListsEveryRoute).
func routeList(t testing.TB) []string {
	t.Helper()
	out := api.Routes()
	sort.Strings(out)
	return out
}

func TestOpenAPIListsEveryRoute(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(documented)
	if got, want := strings.Join(documented, "\n"), strings.Join(routeList(t), "\n"); got != want {
		t.Fatalf("openapi.json lists\n%s\n\nthe server has\n%s", got, want)
	}

	// Every $ref points at something that exists.
	var whole any
	json.Unmarshal(raw, &whole)
	for _, ref := range regexp.MustCompile(`"\$ref": "#/([^"]+)"`).FindAllStringSubmatch(string(raw), -1) {
		var node any = whole
		for _, part := range strings.Split(ref[1], "/") {
			m, ok := node.(map[string]any)
			if !ok || m[part] == nil {
				t.Fatalf("dangling $ref #/%s", ref[1])
			}
			node = m[part]
		}
	}

	// The sending report of GET /v1/sms: the schema has every field the
	// server sends, nested ones too, all of them required, nullable where
	// the server may send null; and its causes are the rule's.
	schema := whole.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any)["SendingReport"].(map[string]any)
	up := true
	full := api.LateFacts{Rate: 10, DedicatedRate: 100, CarrierRate: 20, BindsUp: &up, Now: time.Now(),
		Stats: inbox.SendingStats{QueuedMessages: 100, QueuedSegments: 100, OldestQueued: time.Now().Add(-10 * time.Second),
			Submitted: 10, SubmittedSegments: 10, WaitP50: time.Second, WaitP95: 3 * time.Second},
		Recent: inbox.RecentSending{Backlog: 10 * time.Second, NumberSegments: 40, AccountSegments: 200, AccountNumbers: 5}}
	for _, f := range []api.LateFacts{full, {}} {
		b, err := json.Marshal(api.ExplainLate(f))
		if err != nil {
			t.Fatal(err)
		}
		var v any
		json.Unmarshal(b, &v)
		checkSchema(t, "SendingReport", schema, v)
	}
	var enum []string
	for _, c := range schema["properties"].(map[string]any)["cause"].(map[string]any)["enum"].([]any) {
		if c != nil {
			enum = append(enum, c.(string))
		}
	}
	causes := api.LateCauses()
	sort.Strings(enum)
	sort.Strings(causes)
	if strings.Join(enum, " ") != strings.Join(causes, " ") {
		t.Fatalf("SendingReport causes %v, the rule's %v", enum, causes)
	}

	// Served as is, without a token.
	e := newEnv(t)
	r := e.do("GET", "/openapi.json", "", nil)
	if r.status != 200 || string(r.body) != string(raw) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s", r.status, r.header)
	}
}

// checkSchema checks a value the server sends against an object schema of
// openapi.json: the same properties, every one required, a null only where
// nullable, objects recursively.
func checkSchema(t *testing.T, path string, schema map[string]any, v any) {
	t.Helper()
	if v == nil {
		if schema["nullable"] != true {
			t.Fatalf("openapi.json: %s is sent as null but is not nullable", path)
		}
		return
	}
	obj, ok := v.(map[string]any)
	if !ok || schema["type"] != "object" {
		return
	}
	props, _ := schema["properties"].(map[string]any)
	required := map[string]bool{}
	for _, r := range schema["required"].([]any) {
		required[r.(string)] = true
	}
	for k, sub := range obj {
		ps, ok := props[k].(map[string]any)
		if !ok {
			t.Fatalf("openapi.json: %s.%s is sent but not documented", path, k)
		}
		if !required[k] {
			t.Fatalf("openapi.json: %s.%s is always sent but not required", path, k)
		}
		checkSchema(t, path+"."+k, ps, sub)
	}
	for k := range props {
		if _, ok := obj[k]; !ok {
			t.Fatalf("openapi.json: %s.%s is documented but not sent", path, k)
		}
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	for _, rt := range routeList(t) {
		method, path, _ := strings.Cut(rt, " ")
		path = strings.NewReplacer("{id}", "1").Replace(path)
		if path == "/openapi.json" {
			continue
		}
		admin := strings.HasPrefix(path, "/admin/")
		wrong := opToken // the other kind of token
		if admin {
			wrong = w.token
		}
		for _, c := range []struct {
			name, header string
		}{
			{"no token", ""},
			{"the other kind of token", "Bearer " + wrong},
			{"unknown token", "Bearer sbk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
			{"basic auth", "Basic " + w.token},
			{"empty bearer", "Bearer "},
		} {
			r := e.do(method, path, "", `{}`, "Authorization", c.header)
			want(t, r, http.StatusUnauthorized, "unauthorized")
			if r.header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%s %s, %s: no WWW-Authenticate", method, path, c.name)
			}
		}
	}
	// Revoked tokens stop working.
	if err := e.store.RevokeToken(e.ctx, w.token); err != nil {
		t.Fatal(err)
	}
	want(t, e.do("GET", "/v1/sms", w.token, nil), 401, "unauthorized")

	// A token checked recently is trusted for AuthCacheTTL: revoking it
	// takes effect within that time.
	c := newEnv(t, func(c *api.Config) { c.AuthCacheTTL = 2 * time.Second })
	cw := c.ready("w")
	want(t, c.do("GET", "/v1/sms", cw.token, nil), 200, "")
	if err := c.store.RevokeToken(c.ctx, cw.token); err != nil {
		t.Fatal(err)
	}
	want(t, c.do("GET", "/v1/sms", cw.token, nil), 200, "")
	time.Sleep(2100 * time.Millisecond) // real time: the cache entry's 2 s run out (the API has no clock to set)
	want(t, c.do("GET", "/v1/sms", cw.token, nil), 401, "unauthorized")

	// Without an operator token configured, the operator API is closed.
	off := newEnv(t, func(c *api.Config) { c.OperatorToken = "" })
	want(t, off.do("GET", "/admin/v1/binds", "", nil), 401, "unauthorized")
	want(t, off.do("GET", "/admin/v1/binds", opToken, nil), 401, "unauthorized")
}

// bodyCase is a request body and the error it is answered with.
type bodyCase struct {
	name   string
	body   string
	hdr    []string // headers, name and value
	status int
	code   string
}

func TestRequestBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	big := `{"to": "+16465550100", "text": "` + strings.Repeat("a", 5000) + `"}`
	for _, c := range []bodyCase{
		{"unknown field", `{"to": "+16465550100", "text": "x", "cc": "+16465550101"}`, nil, 400, "invalid_request"},
		{"trailing data", `{"to": "+16465550100", "text": "x"} {}`, nil, 400, "invalid_request"},
		{"trailing garbage", `{"to": "+16465550100", "text": "x"}x`, nil, 400, "invalid_request"},
		{"two objects", `{"to": "+16465550100", "text": "x"}{"to": "+16465550100", "text": "y"}`, nil, 400, "invalid_request"},
		{"array", `[{"to": "+16465550100", "text": "x"}]`, nil, 400, "invalid_request"},
		{"null", `null`, nil, 400, "invalid_request"},
		{"truncated", `{"to": "+16465550100", "text": "x"`, nil, 400, "invalid_request"},
		{"wrong type", `{"to": 16465550100, "text": "x"}`, nil, 400, "invalid_request"},
		{"empty", ``, nil, 400, "invalid_request"},
		{"not JSON", `to=+16465550100&text=x`, nil, 400, "invalid_request"},
		{"form content type", `{"to": "+16465550100", "text": "x"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"over the limit", big, nil, 413, "payload_too_large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want(t, e.do("POST", "/v1/messages", w.token, c.body, c.hdr...), c.status, c.code)
		})
	}
	// Over the limit without a Content-Length (chunked): still 413.
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/messages", struct{ *strings.Reader }{strings.NewReader(big)})
	req.Header.Set("Authorization", "Bearer "+w.token)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 || req.ContentLength != -1 && req.ContentLength != 0 {
		t.Fatalf("chunked over the limit: %d (length %d)", res.StatusCode, req.ContentLength)
	}
	// Strict on the other routes too.
	want(t, e.do("PUT", "/v1/sms/number", w.token, `{"number": "`+w.num.E164+`", "extra": 1}`), 400, "invalid_request")
	want(t, e.do("POST", "/admin/v1/workspaces", opToken, `{"name": "x", "sms_addon": "yes"}`), 400, "invalid_request")
	if n := e.countMessages(w.id); n != 0 {
		t.Fatalf("%d messages queued by refused requests", n)
	}
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	want(t, e.do("GET", "/v1/nothing", w.token, nil), 404, "not_found")
	want(t, e.do("GET", "/", "", nil), 404, "not_found")
	r := e.do("DELETE", "/v1/messages", w.token, nil)
	want(t, r, 405, "method_not_allowed")
	if r.header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q", r.header.Values("Allow"))
	}
	want(t, e.do("GET", "/v1/threads?limit=0", w.token, nil), 400, "invalid_request")
	want(t, e.do("GET", "/v1/threads?limit=501", w.token, nil), 400, "invalid_request")
	want(t, e.do("GET", "/v1/threads?cursor=bogus", w.token, nil), 400, "invalid_cursor")
}

func TestOperatorAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) {
		c.Carriers, c.RateClasses = []string{"carrier-a", "carrier-b"}, []string{"shared", "dedicated", "premium"}
	})
	r := e.do("POST", "/admin/v1/workspaces", opToken, map[string]any{"name": "Acme", "sms_addon": true})
	want(t, r, http.StatusCreated, "")
	ws := r.json(t)
	tok, _ := ws["token"].(string)
	if ws["name"] != "Acme" || ws["sms_addon"] != true || !strings.HasPrefix(tok, "sbk_") || r.header.Get("Location") == "" {
		t.Fatalf("create: %s", r.body)
	}
	id := ws["id"].(string)
	want(t, e.do("GET", "/v1/sms", tok, nil), 200, "") // the token works
	got := e.do("GET", r.header.Get("Location"), opToken, nil)
	want(t, got, 200, "")
	if v := got.json(t); v["id"] != id || v["token"] != nil {
		t.Fatalf("get workspace: %s", got.body)
	}
	want(t, e.do("GET", "/admin/v1/workspaces/424242", opToken, nil), 404, "not_found")
	want(t, e.do("POST", "/admin/v1/workspaces", opToken, map[string]any{"name": " "}), 400, "invalid_request")

	p := e.do("PATCH", "/admin/v1/workspaces/"+id, opToken, map[string]any{"sms_addon": false})
	want(t, p, 200, "")
	if p.json(t)["sms_addon"] != false {
		t.Fatalf("patch: %s", p.body)
	}
	want(t, e.do("PATCH", "/admin/v1/workspaces/"+id, opToken, `{}`), 200, "")
	want(t, e.do("PATCH", "/admin/v1/workspaces/424242", opToken, map[string]any{"sms_addon": true}), 404, "not_found")
	want(t, e.do("PATCH", "/admin/v1/workspaces/"+id, opToken, map[string]any{"name": "x"}), 400, "invalid_request")
	want(t, e.do("PATCH", "/admin/v1/workspaces/"+id, opToken, map[string]any{"sms_addon": true}), 200, "")

	num := newE164()
	n := e.do("POST", "/admin/v1/numbers", opToken, map[string]any{"number": num, "kind": "dedicated", "workspace": id, "carrier": "carrier-b", "class": "premium"})
	want(t, n, 201, "")
	if v := n.json(t); v["number"] != num || v["workspace"] != id || v["rate_class"] != "premium" || v["kind"] != "dedicated" || v["status"] != "active" {
		t.Fatalf("add number: %s", n.body)
	}
	shared := e.do("POST", "/admin/v1/numbers", opToken, map[string]any{"number": newE164(), "kind": "shared", "carrier": "carrier-a"})
	want(t, shared, 201, "")
	if v := shared.json(t); v["workspace"] != nil || v["rate_class"] != "shared" {
		t.Fatalf("add shared: %s", shared.body)
	}
	wsNum, _ := json.Marshal(json.Number(id)) // a workspace id as a JSON number works too
	want(t, e.do("POST", "/admin/v1/numbers", opToken, `{"number": "`+newE164()+`", "kind": "dedicated", "workspace": `+string(wsNum)+`, "carrier": "carrier-a"}`), 201, "")
	for _, c := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"exists", map[string]any{"number": num, "kind": "shared", "carrier": "carrier-a"}, 409, "number_exists"},
		{"bad number", map[string]any{"number": "+1 555", "kind": "shared", "carrier": "carrier-a"}, 422, "invalid_number"},
		{"unknown carrier", map[string]any{"number": newE164(), "kind": "shared", "carrier": "nope"}, 422, "unknown_carrier"},
		{"unknown class", map[string]any{"number": newE164(), "kind": "shared", "carrier": "carrier-a", "class": "gold"}, 422, "unknown_rate_class"},
		{"bad kind", map[string]any{"number": newE164(), "kind": "mine", "carrier": "carrier-a"}, 400, "invalid_request"},
		{"dedicated without workspace", map[string]any{"number": newE164(), "kind": "dedicated", "carrier": "carrier-a"}, 400, "invalid_request"},
		{"shared with workspace", map[string]any{"number": newE164(), "kind": "shared", "carrier": "carrier-a", "workspace": id}, 400, "invalid_request"},
		{"unknown workspace", map[string]any{"number": newE164(), "kind": "dedicated", "carrier": "carrier-a", "workspace": "987654"}, 404, "not_found"},
		{"bad workspace id", map[string]any{"number": newE164(), "kind": "dedicated", "carrier": "carrier-a", "workspace": "x"}, 400, "invalid_request"},
		{"no carrier", map[string]any{"number": newE164(), "kind": "shared"}, 400, "invalid_request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want(t, e.do("POST", "/admin/v1/numbers", opToken, c.body), c.status, c.code)
		})
	}

	b := e.do("GET", "/admin/v1/binds", opToken, nil)
	want(t, b, 200, "")
	if binds := b.json(t)["binds"].([]any); len(binds) != 1 || binds[0].(map[string]any)["window_in_use"] != 3.0 {
		t.Fatalf("binds: %s", b.body)
	}
	nobinds := newEnv(t, func(c *api.Config) { c.Binds = nil })
	if r := nobinds.do("GET", "/admin/v1/binds", opToken, nil); string(r.body) != `{"binds":[]}`+"\n" {
		t.Fatalf("no binds: %s", r.body)
	}

	// Inbound to an unknown number is kept as unrouted.
	e.inbound(contact(1), newE164(), "who is this?")
	e.inbound(contact(2), newE164(), "hello?")
	u := e.do("GET", "/admin/v1/unrouted/messages?limit=1", opToken, nil)
	want(t, u, 200, "")
	v := u.json(t)
	if msgs := v["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["text"] != "hello?" ||
		msgs[0].(map[string]any)["reason"] != "unknown_number" || v["next_cursor"] == nil {
		t.Fatalf("unrouted: %s", u.body)
	}
	u = e.do("GET", "/admin/v1/unrouted/messages?limit=1&cursor="+v["next_cursor"].(string), opToken, nil)
	if v := u.json(t); v["messages"].([]any)[0].(map[string]any)["text"] != "who is this?" {
		t.Fatalf("unrouted page 2: %s", u.body)
	}
}

func TestNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.workspace("w", true)
	s1, s2 := e.shared(), e.shared()
	d1, d2 := e.dedicated(w.id), e.dedicated(w.id)
	other := e.workspace("other", true)
	od := e.dedicated(other.id)

	l := e.do("GET", "/v1/sms/numbers", w.token, nil)
	want(t, l, 200, "")
	var list struct{ Numbers []map[string]any }
	json.Unmarshal(l.body, &list)
	got := map[string]string{}
	for _, n := range list.Numbers {
		got[n["number"].(string)] = fmt.Sprint(n["kind"], " ", n["state"])
	}
	if got[s1.E164] != "shared available" || got[d1.E164] != "dedicated available" || got[od.E164] != "" || list.Numbers[0]["kind"] != "dedicated" {
		t.Fatalf("numbers: %s", l.body)
	}

	// Shared: connect, then switch.
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": s1.E164}), 200, "")
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": s2.E164}), 200, "")
	r := e.do("GET", "/v1/sms", w.token, nil)
	if v := r.json(t); v["number"] != s2.E164 || v["state"] != "connected" {
		t.Fatalf("after switch: %s", r.body)
	}
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": od.E164}), 404, "not_found")
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": newE164()}), 404, "not_found")
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": "12"}), 422, "invalid_number")
	want(t, e.do("PUT", "/v1/sms/number", w.token, `{}`), 400, "invalid_request")

	// Several numbers: actions need one named.
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": d1.E164}), 200, "")
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": d2.E164}), 200, "")
	r = e.do("GET", "/v1/sms", w.token, nil)
	if v := r.json(t); v["number"] != nil || v["state"] != "connected" || len(v["numbers"].([]any)) != 3 {
		t.Fatalf("several: %s", r.body)
	}
	want(t, e.do("POST", "/v1/sms/number/disable", w.token, nil), 400, "number_required")
	want(t, e.do("DELETE", "/v1/sms/number", w.token, nil), 400, "number_required")
	want(t, e.do("POST", "/v1/sms/number/disable?number="+d1.E164[1:], w.token, nil), 422, "invalid_number") // a '+' must be %2B in a query
	want(t, e.do("POST", "/v1/sms/number/disable?number=%2B"+d1.E164[1:], w.token, nil), 200, "")
	want(t, e.do("POST", "/v1/sms/number/disable", w.token, map[string]string{"number": d2.E164}), 200, "")
	want(t, e.do("POST", "/v1/sms/number/disable", w.token, map[string]string{"number": s2.E164}), 200, "")
	r = e.do("GET", "/v1/sms", w.token, nil)
	if v := r.json(t); v["state"] != "disabled" {
		t.Fatalf("all disabled: %s", r.body)
	}
	want(t, e.do("POST", "/v1/sms/number/enable", w.token, map[string]string{"number": d1.E164}), 200, "")
	want(t, e.do("POST", "/v1/sms/number/enable?number=%2B"+d2.E164[1:], w.token, map[string]string{"number": d1.E164}), 400, "invalid_request")
	want(t, e.do("DELETE", "/v1/sms/number", w.token, map[string]string{"number": s1.E164}), 409, "no_number_connected")
	want(t, e.do("DELETE", "/v1/sms/number?number=%2B"+s2.E164[1:], w.token, nil), 204, "")
	want(t, e.do("DELETE", "/v1/sms/number", w.token, map[string]string{"number": od.E164}), 404, "not_found")

	// Sending picks among the enabled numbers; from names one.
	s := e.do("POST", "/v1/messages", w.token, map[string]any{"to": contact(1), "text": "hi"})
	want(t, s, 202, "")
	if s.json(t)["from"] != d1.E164 {
		t.Fatalf("send from the only enabled number: %s", s.body)
	}
	want(t, e.do("POST", "/v1/messages", w.token, map[string]any{"to": contact(1), "text": "hi", "from": d2.E164}), 409, "number_disabled")
	_ = inbox.Connected
}

// GET /admin/v1/numbers: the operator's list with who has each number
// connected, the status filter, and paging.
func TestAdminListNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.ready("a")
	b := e.workspace("b", true)
	pool := e.shared()
	if _, err := e.store.ConnectNumber(e.ctx, b.id, pool.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.store.DisableNumber(e.ctx, b.id, pool.ID); err != nil {
		t.Fatal(err)
	}
	want(t, e.do("GET", "/admin/v1/numbers", a.token, nil), 401, "unauthorized")
	want(t, e.do("GET", "/admin/v1/numbers?status=gone", opToken, nil), 400, "invalid_request")

	r := e.do("GET", "/admin/v1/numbers", opToken, nil)
	want(t, r, 200, "")
	var out struct {
		Numbers []struct {
			Number      string  `json:"number"`
			Kind        string  `json:"kind"`
			Workspace   *string `json:"workspace"`
			ConnectedBy []struct {
				Workspace string `json:"workspace"`
				State     string `json:"state"`
			} `json:"connected_by"`
		} `json:"numbers"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Numbers) != 2 || out.NextCursor != nil {
		t.Fatalf("numbers: %s", r.body)
	}
	ded, sh := out.Numbers[0], out.Numbers[1]
	if ded.Number != a.num.E164 || ded.Workspace == nil || len(ded.ConnectedBy) != 1 || ded.ConnectedBy[0].State != "connected" ||
		ded.ConnectedBy[0].Workspace != fmt.Sprint(a.id) {
		t.Fatalf("dedicated number: %s", r.body)
	}
	if sh.Number != pool.E164 || sh.Workspace != nil || len(sh.ConnectedBy) != 1 || sh.ConnectedBy[0].State != "disabled" {
		t.Fatalf("shared number: %s", r.body)
	}
	page := e.do("GET", "/admin/v1/numbers?limit=1", opToken, nil)
	want(t, page, 200, "")
	if next, _ := page.json(t)["next_cursor"].(string); next == "" {
		t.Fatalf("first page of one: %s", page.body)
	}
	if err := e.store.RetireNumber(e.ctx, pool.ID); err != nil {
		t.Fatal(err)
	}
	retired := e.do("GET", "/admin/v1/numbers?status=retired", opToken, nil)
	want(t, retired, 200, "")
	if list := retired.json(t)["numbers"].([]any); len(list) != 1 || list[0].(map[string]any)["number"] != pool.E164 {
		t.Fatalf("retired: %s", retired.body)
	}
}
