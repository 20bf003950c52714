package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/inbox"
)

// TestWorkspaceIsolation calls every workspace route with workspace A's
// token on workspace B's objects: each is not found (or shows only A's
// own), and nothing of B changes.
func TestWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start, err := e.store.ChangeCursor(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := e.ready("A")
	b := e.ready("B")
	bShared := e.shared()
	if _, err := e.store.ConnectNumber(e.ctx, b.id, bShared.ID); err != nil {
		t.Fatal(err)
	}
	sent := e.do("POST", "/v1/messages", b.token, map[string]any{"to": contact(1), "text": "b's secret", "client_ref": "k1", "from": b.num.E164})
	want(t, sent, 202, "")
	bMsg, bThread := sent.json(t)["id"].(string), sent.json(t)["thread_id"].(string)
	e.inbound(contact(1), b.num.E164, "reply to b")
	bIn := e.inbound(contact(2), b.num.E164, "another")
	bReq, err := e.store.RequestNumber(e.ctx, b.id, inbox.NewNumberRequest{Country: "GB", Note: "b's brand"})
	if err != nil {
		t.Fatal(err)
	}
	bReqID := fmt.Sprint(bReq.ID)
	hook := e.do("POST", "/v1/webhooks", b.token, map[string]any{"url": "https://hooks.b.example/sms", "event_types": []string{"message.status"}, "description": "b's hook"})
	want(t, hook, 201, "")
	bHook := hook.json(t)["id"].(string)
	bOptedOut := contact(7)
	want(t, e.do("POST", "/v1/opt-outs", b.token, map[string]any{"contact": bOptedOut}), 201, "")
	want(t, e.do("PUT", "/v1/sms/keywords", b.token, map[string]any{"custom_keywords": []any{map[string]any{"keyword": "BSECRET", "action": "opt_out"}}}), 200, "")
	if _, err := e.store.FoldUsage(e.ctx); err != nil { // B's usage: its inbound messages
		t.Fatal(err)
	}
	bCap := int64(1000) // B's segment quota (A has none)
	if err := e.store.SetQuota(e.ctx, b.id, inbox.QuotaPatch{DailyCap: &bCap}); err != nil {
		t.Fatal(err)
	}

	// B as B sees it, through the API.
	snapshot := func() string {
		t.Helper()
		var out strings.Builder
		for _, p := range []string{"/v1/sms", "/v1/sms/numbers", "/v1/threads", "/v1/threads/" + bThread + "/messages", "/v1/messages/" + bMsg,
			"/v1/sms/number-requests", "/v1/webhooks", "/v1/webhooks/" + bHook, "/v1/webhooks/" + bHook + "/attempts",
			"/v1/opt-outs", "/v1/opt-outs/" + strings.Replace(bOptedOut, "+", "%2B", 1), "/v1/sms/keywords", "/v1/usage"} {
			r := e.do("GET", p, b.token, nil)
			want(t, r, 200, "")
			out.Write(r.body)
		}
		return out.String()
	}
	before := snapshot()

	bDed, bShr := b.num.E164, bShared.E164
	checks := map[string][]struct {
		name   string
		path   string
		body   any
		status int
		code   string
		check  func(t *testing.T, r resp)
	}{
		"POST /v1/messages": {
			{name: "from B's number", body: map[string]any{"to": contact(1), "text": "spoof", "from": bDed}, status: 409, code: "no_number_connected"},
			{name: "B's client_ref is A's own", body: map[string]any{"to": contact(1), "text": "mine", "client_ref": "k1"}, status: 202,
				check: func(t *testing.T, r resp) {
					if v := r.json(t); v["id"] == bMsg || v["thread_id"] == bThread {
						t.Fatalf("A got B's message: %s", r.body)
					}
				}},
		},
		"POST /v1/messages/batch": {
			{name: "from B's number, B's client_ref", body: map[string]any{"messages": []any{
				map[string]any{"to": contact(1), "text": "spoof", "from": bDed},
				map[string]any{"to": contact(1), "text": "mine", "client_ref": "k1"}, // A's own (a repeat of the case above)
			}}, status: 200, check: func(t *testing.T, r resp) {
				var a batchAnswer
				var m struct {
					ID       string `json:"id"`
					ThreadID string `json:"thread_id"`
				}
				json.Unmarshal(r.body, &a)
				if len(a.Results) == 2 {
					json.Unmarshal(a.Results[1].Message, &m)
				}
				if len(a.Results) != 2 || a.Results[0].Status != 409 || a.Results[0].code() != "no_number_connected" ||
					(a.Results[1].Status != 200 && a.Results[1].Status != 202) || m.ID == "" || m.ID == bMsg || m.ThreadID == bThread {
					t.Fatalf("A's batch: %s", r.body)
				}
			}},
		},
		"GET /v1/messages/{id}": {
			{name: "B's outbound", path: "/v1/messages/" + bMsg, status: 404, code: "not_found"},
			{name: "B's inbound", path: fmt.Sprintf("/v1/messages/%d", bIn.Message), status: 404, code: "not_found"},
		},
		"POST /v1/messages/{id}/cancel": {
			{name: "B's outbound", path: "/v1/messages/" + bMsg + "/cancel", status: 404, code: "not_found"},
			{name: "B's inbound", path: fmt.Sprintf("/v1/messages/%d/cancel", bIn.Message), status: 404, code: "not_found"},
		},
		"GET /v1/threads": {
			{name: "only A's", status: 200, check: func(t *testing.T, r resp) {
				var l struct{ Threads []map[string]any }
				json.Unmarshal(r.body, &l)
				for _, th := range l.Threads {
					if th["id"] == bThread || th["number"] == bDed || th["number"] == bShr {
						t.Fatalf("A sees B's thread %v", th)
					}
				}
				if len(l.Threads) != 1 || strings.Contains(string(r.body), "b's secret") {
					t.Fatalf("A's threads: %s", r.body)
				}
			}},
		},
		"GET /v1/threads/{id}/messages": {{name: "B's thread", path: "/v1/threads/" + bThread + "/messages", status: 404, code: "not_found"}},
		"POST /v1/threads/{id}/read":    {{name: "B's thread", path: "/v1/threads/" + bThread + "/read", status: 404, code: "not_found"}},
		"GET /v1/sms": {{name: "A's own", status: 200, check: func(t *testing.T, r resp) {
			if strings.Contains(string(r.body), bDed) || strings.Contains(string(r.body), bShr) {
				t.Fatalf("A sees B's numbers: %s", r.body)
			}
			if !strings.Contains(string(r.body), `"daily":null`) {
				t.Fatalf("A sees B's quota: %s", r.body)
			}
		}}},
		"GET /v1/sms/numbers": {{name: "no B's dedicated, no B's state", status: 200, check: func(t *testing.T, r resp) {
			var l struct{ Numbers []map[string]any }
			json.Unmarshal(r.body, &l)
			for _, n := range l.Numbers {
				if n["number"] == bDed || (n["number"] == bShr && n["state"] != "available") {
					t.Fatalf("A sees %v", n)
				}
			}
		}}},
		"PUT /v1/sms/number": {{name: "B's dedicated", body: map[string]string{"number": bDed}, status: 404, code: "not_found"}},
		"POST /v1/sms/number/disable": {
			{name: "B's dedicated", body: map[string]string{"number": bDed}, status: 404, code: "not_found"},
			{name: "B's shared (A's own connection)", body: map[string]string{"number": bShr}, status: 409, code: "no_number_connected"},
		},
		"POST /v1/sms/number/enable": {{name: "B's dedicated", path: "/v1/sms/number/enable?number=%2B" + bDed[1:], status: 404, code: "not_found"}},
		"DELETE /v1/sms/number": {
			{name: "B's dedicated", body: map[string]string{"number": bDed}, status: 404, code: "not_found"},
			{name: "B's shared (A's own connection)", body: map[string]string{"number": bShr}, status: 409, code: "no_number_connected"},
		},
		"POST /v1/sms/number-requests": {{name: "A's own", body: map[string]string{"country": "US"}, status: 201}},
		"GET /v1/sms/number-requests": {{name: "only A's", status: 200, check: func(t *testing.T, r resp) {
			if strings.Contains(string(r.body), "b's brand") || strings.Contains(string(r.body), `"id":"`+bReqID+`"`) {
				t.Fatalf("A sees B's request: %s", r.body)
			}
		}}},
		"GET /v1/sms/number-requests/{id}":         {{name: "B's request", path: "/v1/sms/number-requests/" + bReqID, status: 404, code: "not_found"}},
		"POST /v1/sms/number-requests/{id}/cancel": {{name: "B's request", path: "/v1/sms/number-requests/" + bReqID + "/cancel", status: 404, code: "not_found"}},
		"GET /v1/events":                           {{name: "no B's events", status: 200}},
		"POST /v1/webhooks":                        {{name: "A's own", body: map[string]any{"url": "https://hooks.a.example/sms", "event_types": []string{"message.status"}}, status: 201}},
		"GET /v1/webhooks": {{name: "only A's", status: 200, check: func(t *testing.T, r resp) {
			if strings.Contains(string(r.body), "b's hook") || strings.Contains(string(r.body), `"id":"`+bHook+`"`) {
				t.Fatalf("A sees B's webhook: %s", r.body)
			}
		}}},
		"GET /v1/webhooks/{id}":                           {{name: "B's webhook", path: "/v1/webhooks/" + bHook, status: 404, code: "not_found"}},
		"PATCH /v1/webhooks/{id}":                         {{name: "B's webhook", path: "/v1/webhooks/" + bHook, body: map[string]any{"enabled": false}, status: 404, code: "not_found"}},
		"DELETE /v1/webhooks/{id}":                        {{name: "B's webhook", path: "/v1/webhooks/" + bHook, status: 404, code: "not_found"}},
		"POST /v1/webhooks/{id}/rotate-secret":            {{name: "B's webhook", path: "/v1/webhooks/" + bHook + "/rotate-secret", status: 404, code: "not_found"}},
		"POST /v1/webhooks/{id}/test":                     {{name: "B's webhook", path: "/v1/webhooks/" + bHook + "/test", status: 404, code: "not_found"}},
		"GET /v1/webhooks/{id}/attempts":                  {{name: "B's webhook", path: "/v1/webhooks/" + bHook + "/attempts", status: 404, code: "not_found"}},
		"POST /v1/webhooks/{id}/events/{event_id}/replay": {{name: "B's webhook", path: "/v1/webhooks/" + bHook + "/events/evt_1/replay", status: 404, code: "not_found"}},
		"GET /v1/opt-outs": {{name: "only A's", status: 200, check: func(t *testing.T, r resp) {
			if strings.Contains(string(r.body), bOptedOut) {
				t.Fatalf("A sees B's opt-out: %s", r.body)
			}
		}}},
		"POST /v1/opt-outs": {{name: "A's own", body: map[string]any{"contact": contact(8)}, status: 201}},
		"GET /v1/opt-outs/{contact}": {{name: "B's opted-out contact", path: "/v1/opt-outs/%2B" + bOptedOut[1:], status: 200,
			check: func(t *testing.T, r resp) {
				if v := r.json(t); v["opted_out"] != false || v["source"] != nil {
					t.Fatalf("A sees B's opt-out: %s", r.body)
				}
			}}},
		"DELETE /v1/opt-outs/{contact}": {{name: "B's opted-out contact", path: "/v1/opt-outs/%2B" + bOptedOut[1:], status: 200}},
		"GET /v1/sms/keywords": {{name: "not B's", status: 200, check: func(t *testing.T, r resp) {
			if strings.Contains(string(r.body), "BSECRET") {
				t.Fatalf("A sees B's keyword: %s", r.body)
			}
		}}},
		"PUT /v1/sms/keywords": {{name: "A's own", body: map[string]any{"languages": []string{"en"}}, status: 200}},
		"GET /v1/usage": {{name: "only A's", status: 200, check: func(t *testing.T, r resp) {
			if strings.Contains(string(r.body), bDed) || !strings.Contains(string(r.body), `"daily":null`) {
				t.Fatalf("A sees B's usage or quota: %s", r.body)
			}
		}}},
	}
	for _, rt := range api.WorkspaceRoutes() {
		cs, ok := checks[rt]
		if !ok {
			t.Fatalf("workspace route %s has no isolation case", rt)
		}
		method, path, _ := strings.Cut(rt, " ")
		for _, c := range cs {
			t.Run(rt+" "+c.name, func(t *testing.T) {
				p := path
				if c.path != "" {
					p = c.path
				}
				if rt == "GET /v1/events" {
					checkNoEvents(t, e, a.token, start)
					return
				}
				r := e.do(method, p, a.token, c.body)
				want(t, r, c.status, c.code)
				if c.check != nil {
					c.check(t, r)
				}
			})
		}
	}
	if after := snapshot(); after != before {
		t.Fatalf("B changed:\nbefore %s\nafter  %s", before, after)
	}
}

// checkNoEvents opens A's event stream from before B's messages were
// written and reads it up to A's own message: none of B's comes first.
func checkNoEvents(t *testing.T, e *env, token, from string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Last-Event-ID", from)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("events: %d", res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "b's secret") || strings.Contains(line, "reply to b") || strings.Contains(line, "another") ||
			strings.Contains(line, "b's brand") {
			t.Fatalf("A's stream carries B's message: %s", line)
		}
		if strings.Contains(line, `"text":"mine"`) {
			return
		}
	}
	t.Fatalf("A's own message did not come: %v", sc.Err())
}
