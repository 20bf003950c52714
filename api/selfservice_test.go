package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/inbox"
)

// issue issues a token with scopes through the operator API.
func (e *env) issue(ws inbox.WorkspaceID, name string, scopes ...string) (id, token string) {
	e.t.Helper()
	r := e.do("POST", fmt.Sprintf("/admin/v1/workspaces/%d/tokens", ws), opToken, map[string]any{"name": name, "scopes": scopes})
	want(e.t, r, http.StatusCreated, "")
	v := r.json(e.t)
	return v["id"].(string), v["token"].(string)
}

func TestScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) { c.AuthCacheTTL = -1 })
	w := e.ready("w")
	msgID, msgTok := e.issue(w.id, "sender", "messages")
	_, setTok := e.issue(w.id, "admin ui", "settings")

	// A token without settings cannot change the number; the answer names
	// the missing scope. Without messages it cannot send or read threads.
	r := e.do("PUT", "/v1/sms/number", msgTok, map[string]string{"number": w.num.E164})
	want(t, r, http.StatusForbidden, "forbidden")
	var body struct {
		Error struct {
			Message      string
			MissingScope string `json:"missing_scope"`
		}
	}
	json.Unmarshal(r.body, &body)
	if body.Error.MissingScope != "settings" || !strings.Contains(body.Error.Message, "settings") {
		t.Fatalf("403 body: %s", r.body)
	}
	for _, c := range []struct{ method, path, tok, scope string }{
		{"POST", "/v1/sms/number/disable", msgTok, "settings"},
		{"POST", "/v1/sms/number/enable", msgTok, "settings"},
		{"DELETE", "/v1/sms/number", msgTok, "settings"},
		{"POST", "/v1/sms/number-requests", msgTok, "settings"},
		{"POST", "/v1/messages", setTok, "messages"},
		{"POST", "/v1/messages/batch", setTok, "messages"},
		{"GET", "/v1/threads", setTok, "messages"},
	} {
		r := e.do(c.method, c.path, c.tok, `{}`)
		want(t, r, http.StatusForbidden, "forbidden")
		if !strings.Contains(string(r.body), `"missing_scope":"`+c.scope+`"`) {
			t.Fatalf("%s %s: %s", c.method, c.path, r.body)
		}
	}
	// Each does what its scope allows; both read the settings.
	want(t, e.send(msgTok, contact(1), "hi"), http.StatusAccepted, "")
	want(t, e.do("POST", "/v1/sms/number/disable", setTok, nil), http.StatusOK, "")
	for _, tok := range []string{msgTok, setTok, w.token} {
		want(t, e.do("GET", "/v1/sms", tok, nil), http.StatusOK, "")
		want(t, e.do("GET", "/v1/sms/number-requests", tok, nil), http.StatusOK, "")
	}
	want(t, e.do("POST", "/v1/sms/number/enable", w.token, nil), http.StatusOK, "") // the first token has both

	// Listed without secrets; revoked by id.
	l := e.do("GET", fmt.Sprintf("/admin/v1/workspaces/%d/tokens", w.id), opToken, nil)
	want(t, l, http.StatusOK, "")
	if strings.Contains(string(l.body), msgTok) || strings.Contains(string(l.body), w.token) || strings.Contains(string(l.body), `"token"`) {
		t.Fatalf("a secret is listed: %s", l.body)
	}
	var list struct {
		Tokens []struct {
			ID, Name   string
			Prefix     *string
			Scopes     []string
			LastUsedAt *time.Time `json:"last_used_at"`
		}
	}
	json.Unmarshal(l.body, &list)
	if len(list.Tokens) != 3 || list.Tokens[0].Name != "first" || len(list.Tokens[0].Scopes) != 2 || list.Tokens[1].ID != msgID ||
		list.Tokens[1].Prefix == nil || !strings.HasPrefix(msgTok, *list.Tokens[1].Prefix) || list.Tokens[1].LastUsedAt == nil {
		t.Fatalf("tokens: %s", l.body)
	}
	want(t, e.do("DELETE", fmt.Sprintf("/admin/v1/workspaces/%d/tokens/%s", w.id, msgID), opToken, nil), http.StatusOK, "")
	want(t, e.do("GET", "/v1/sms", msgTok, nil), http.StatusUnauthorized, "unauthorized")
	other := e.workspace("other", true)
	want(t, e.do("DELETE", fmt.Sprintf("/admin/v1/workspaces/%d/tokens/%s", other.id, msgID), opToken, nil), http.StatusNotFound, "not_found")
	for _, bad := range []any{map[string]any{"scopes": []string{}}, map[string]any{"scopes": []string{"admin"}}, map[string]any{"name": "x"}} {
		want(t, e.do("POST", fmt.Sprintf("/admin/v1/workspaces/%d/tokens", w.id), opToken, bad), http.StatusBadRequest, "invalid_request")
	}
	want(t, e.do("POST", "/admin/v1/workspaces/987654/tokens", opToken, map[string]any{"scopes": []string{"messages"}}), http.StatusNotFound, "not_found")
}

// TestNumberRequestsAPI: a workspace asks for a number, an operator
// fulfils one request and declines another; the workspace sees each
// state on its event stream and in the API, and the new number among
// those it can connect.
func TestNumberRequestsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) { c.Carriers = []string{"carrier-a"} })
	w := e.ready("w")
	_, setTok := e.issue(w.id, "admin ui", "settings")
	s := e.openStream(t, w.token, "")
	setStream := e.openStream(t, setTok, "")
	if ev := s.next(5 * time.Second); ev.event != "ready" {
		t.Fatalf("first event %+v", ev)
	}
	setStream.next(5 * time.Second)

	r := e.do("POST", "/v1/sms/number-requests", w.token, map[string]any{"country": "us", "area_code": "415", "note": "Acme Bakery"})
	want(t, r, http.StatusCreated, "")
	q := r.json(t)
	if q["status"] != "open" || q["country"] != "US" || q["area_code"] != "415" || q["number"] != nil || r.header.Get("Location") != "/v1/sms/number-requests/"+q["id"].(string) {
		t.Fatalf("created: %s %v", r.body, r.header)
	}
	ev := s.next(5 * time.Second)
	if ev.event != "number_request.status" || ev.data["status"] != "open" || ev.data["id"] != q["id"] {
		t.Fatalf("event %+v", ev)
	}
	r2 := e.do("POST", "/v1/sms/number-requests", w.token, map[string]any{"country": "GB"})
	want(t, r2, http.StatusCreated, "")
	q2 := r2.json(t)
	s.next(5 * time.Second)
	for _, bad := range []any{map[string]any{}, map[string]any{"country": "USA"}, map[string]any{"country": "US", "area_code": "x"}, map[string]any{"country": "US", "extra": 1}} {
		want(t, e.do("POST", "/v1/sms/number-requests", w.token, bad), http.StatusBadRequest, "invalid_request")
	}
	free := e.workspace("free", false)
	want(t, e.do("POST", "/v1/sms/number-requests", free.token, map[string]any{"country": "US"}), http.StatusPaymentRequired, "sms_addon_required")

	// Operators see the open ones, oldest first.
	l := e.do("GET", "/admin/v1/number-requests", opToken, nil)
	want(t, l, http.StatusOK, "")
	var open struct{ Requests []map[string]any }
	json.Unmarshal(l.body, &open)
	if len(open.Requests) != 2 || open.Requests[0]["id"] != q["id"] || open.Requests[0]["workspace"] != fmt.Sprint(w.id) || open.Requests[0]["note"] != "Acme Bakery" {
		t.Fatalf("open requests: %s", l.body)
	}
	want(t, e.do("GET", "/admin/v1/number-requests?status=pending", opToken, nil), http.StatusBadRequest, "invalid_request")

	// Fulfilled with a number Switchboard does not have yet.
	num := newE164()
	id := q["id"].(string)
	want(t, e.do("POST", "/admin/v1/number-requests/"+id+"/fulfil", opToken, map[string]any{"number": num}), http.StatusConflict, "unknown_number")
	want(t, e.do("POST", "/admin/v1/number-requests/"+id+"/fulfil", opToken, map[string]any{"number": num, "carrier": "nope"}), 422, "unknown_carrier")
	f := e.do("POST", "/admin/v1/number-requests/"+id+"/fulfil", opToken, map[string]any{"number": num, "carrier": "carrier-a"})
	want(t, f, http.StatusOK, "")
	if v := f.json(t); v["request"].(map[string]any)["status"] != "fulfilled" || v["number"].(map[string]any)["workspace"] != fmt.Sprint(w.id) {
		t.Fatalf("fulfil: %s", f.body)
	}
	ev = s.next(5 * time.Second)
	if ev.event != "number_request.status" || ev.data["status"] != "fulfilled" || ev.data["number"] != num || ev.data["closed_at"] == nil {
		t.Fatalf("fulfilled event %+v", ev)
	}
	g := e.do("GET", "/v1/sms/number-requests/"+id, w.token, nil)
	if v := g.json(t); v["status"] != "fulfilled" || v["number"] != num {
		t.Fatalf("request after fulfil: %s", g.body)
	}
	nums := e.do("GET", "/v1/sms/numbers", w.token, nil)
	if !strings.Contains(string(nums.body), `"number":"`+num+`","kind":"dedicated"`) {
		t.Fatalf("the new number is not offered: %s", nums.body)
	}
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": num}), http.StatusOK, "")
	want(t, e.do("POST", "/admin/v1/number-requests/"+id+"/fulfil", opToken, map[string]any{"number": num}), http.StatusConflict, "number_request_closed")

	// Declined with a reason; a closed request cannot be cancelled.
	id2 := q2["id"].(string)
	want(t, e.do("POST", "/admin/v1/number-requests/"+id2+"/decline", opToken, map[string]any{}), http.StatusBadRequest, "invalid_request")
	d := e.do("POST", "/admin/v1/number-requests/"+id2+"/decline", opToken, map[string]any{"reason": "no UK numbers this month"})
	want(t, d, http.StatusOK, "")
	ev = s.next(5 * time.Second)
	if ev.event != "number_request.status" || ev.data["status"] != "declined" || ev.data["decline_reason"] != "no UK numbers this month" {
		t.Fatalf("declined event %+v", ev)
	}
	want(t, e.do("POST", "/v1/sms/number-requests/"+id2+"/cancel", w.token, nil), http.StatusConflict, "number_request_closed")
	want(t, e.do("POST", "/admin/v1/number-requests/424242/decline", opToken, map[string]any{"reason": "x"}), http.StatusNotFound, "not_found")

	// Cancelled by the workspace.
	r3 := e.do("POST", "/v1/sms/number-requests", w.token, map[string]any{"country": "US"})
	id3 := r3.json(t)["id"].(string)
	s.next(5 * time.Second)
	c := e.do("POST", "/v1/sms/number-requests/"+id3+"/cancel", w.token, nil)
	want(t, c, http.StatusOK, "")
	if ev := s.next(5 * time.Second); ev.data["status"] != "cancelled" {
		t.Fatalf("cancelled event %+v", ev)
	}
	all := e.do("GET", "/v1/sms/number-requests?limit=2", w.token, nil)
	var mine struct {
		Requests   []map[string]any
		NextCursor *string `json:"next_cursor"`
	}
	json.Unmarshal(all.body, &mine)
	if len(mine.Requests) != 2 || mine.Requests[0]["id"] != id3 || mine.NextCursor == nil {
		t.Fatalf("mine: %s", all.body)
	}

	// A token without the messages scope gets the request events but no
	// message event: after a message and a request, its next event is the
	// request.
	e.inbound(contact(7), num, "hello new number")
	if ev := s.next(5 * time.Second); ev.event != "message.received" {
		t.Fatalf("full stream got %+v", ev)
	}
	r4 := e.do("POST", "/v1/sms/number-requests", setTok, map[string]any{"country": "CA"})
	want(t, r4, http.StatusCreated, "")
	for {
		ev := setStream.next(5 * time.Second)
		if ev.event != "number_request.status" {
			t.Fatalf("settings-only stream got %+v", ev)
		}
		if ev.data["id"] == r4.json(t)["id"] {
			break
		}
	}
}

// TestSendingReport: GET /v1/sms reports each connected number's rate,
// queue and waits, from the store.
func TestSendingReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) {
		c.Rates = map[string]float64{"shared": 1, "dedicated": 100}
		c.CarrierRates = map[string]float64{"carrier-a": 1000}
	})
	w := e.workspace("w", true)
	n := e.shared()
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": n.E164}), http.StatusOK, "")
	for i := 0; i < 5; i++ {
		want(t, e.send(w.token, contact(i), "hello"), http.StatusAccepted, "")
	}
	r := e.do("GET", "/v1/sms", w.token, nil)
	want(t, r, http.StatusOK, "")
	var v struct {
		Numbers []struct {
			Number  string
			Sending struct {
				RateClass string  `json:"rate_class"`
				Rate      float64 `json:"rate"`
				Queue     struct{ Messages, Segments int }
				Drain     float64 `json:"drain_seconds"`
				LastHour  struct {
					Submitted int
					P50       *float64 `json:"wait_p50_seconds"`
				} `json:"last_hour"`
				Cause         *string
				Advice        *string
				DedicatedRate float64 `json:"dedicated_rate"`
			}
		}
	}
	json.Unmarshal(r.body, &v)
	sv := v.Numbers[0].Sending
	if sv.RateClass != "shared" || sv.Rate != 1 || sv.Queue.Messages != 5 || sv.Queue.Segments != 5 || sv.Drain != 5 ||
		sv.LastHour.Submitted != 0 || sv.LastHour.P50 != nil || sv.Cause == nil || *sv.Cause != "number_rate" || sv.DedicatedRate != 100 {
		t.Fatalf("report: %s", r.body)
	}
	// Nothing was submitted: the measurements are zeros, the engine did
	// not say whether a bind is up.
	for _, m := range []string{`"window_seconds":60`, `"backlog_seconds":0`, `"tps":1000`, `"binds_up":null`} {
		if !strings.Contains(string(r.body), m) {
			t.Fatalf("report without %s: %s", m, r.body)
		}
	}
	// /v1/sms/numbers has no report.
	if l := e.do("GET", "/v1/sms/numbers", w.token, nil); strings.Contains(string(l.body), "sending") {
		t.Fatalf("numbers: %s", l.body)
	}
}

// TestSelfTestAPI: the probe is queued in the system workspace; played
// back as the dispatcher and the carrier would, it comes back and the
// request answers returned. A probe the carrier accepts but never brings
// back times out with a hint.
func TestSelfTestAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.ready("tenant")
	want(t, e.do("POST", "/admin/v1/numbers/"+tenant.num.E164[1:]+"/self-test", opToken, nil), http.StatusConflict, "no_probe_number")
	probeFrom := e.shared()
	want(t, e.do("POST", "/admin/v1/numbers/12/self-test", opToken, nil), http.StatusUnprocessableEntity, "invalid_number")
	want(t, e.do("POST", "/admin/v1/numbers/"+tenant.num.E164[1:]+"/self-test", opToken, map[string]any{"timeout_ms": 5}), http.StatusBadRequest, "invalid_request")

	// The carrier, played here: submits what is claimed and, for the
	// tenant's number, delivers it back.
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			claimed, err := e.store.Claim(e.ctx, "test", 10, time.Minute)
			if err != nil {
				return
			}
			for _, c := range claimed {
				e.store.RecordSubmits(e.ctx, []inbox.SubmitResult{{Message: c.ID, Outcome: inbox.SubmitOK, CarrierMessageID: fmt.Sprint(c.ID)}})
				if c.To == tenant.num.E164 {
					e.store.AppendInbound(e.ctx, []inbox.Inbound{{Carrier: "carrier-a", From: c.From, To: c.To, Body: c.Body, Encoding: "GSM7"}})
					e.hub.Notify()
				}
			}
		}
	}()
	r := e.do("POST", "/admin/v1/numbers/%2B"+tenant.num.E164[1:]+"/self-test", opToken, map[string]any{"timeout_ms": 10000})
	want(t, r, http.StatusOK, "")
	v := r.json(t)
	if v["result"] != "returned" || v["from"] != probeFrom.E164 || v["number_known"] != true || v["number_workspace"] != fmt.Sprint(tenant.id) ||
		v["latency_ms"] == nil || v["returned_as"].(map[string]any)["to"] != tenant.num.E164 || !strings.Contains(v["hint"].(string), "reach us") {
		t.Fatalf("self-test: %s", r.body)
	}
	// Nothing reached the tenant's threads.
	if n := e.countMessages(tenant.id); n != 0 {
		t.Fatalf("%d messages in the tenant's workspace", n)
	}

	stranger := newE164()
	start := time.Now()
	r = e.do("POST", "/admin/v1/numbers/"+stranger+"/self-test", opToken, map[string]any{"timeout_ms": 1500})
	want(t, r, http.StatusOK, "")
	v = r.json(t)
	if v["result"] != "timed_out" || v["number_known"] != false || v["probe"].(map[string]any)["submitted_at"] == nil ||
		!strings.Contains(v["hint"].(string), "does not route") || time.Since(start) < 1500*time.Millisecond {
		t.Fatalf("self-test of a number the carrier does not route back: %s", r.body)
	}
	un := e.do("GET", "/admin/v1/unrouted", opToken, nil)
	if strings.Contains(string(un.body), "self-test") {
		t.Fatalf("a probe is unrouted: %s", un.body)
	}
}

func TestUnroutedAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	x := newE164()
	e.inbound(contact(1), x, "hello?")
	e.inbound(contact(2), x, "anyone?")
	e.inbound(contact(3), newE164(), "elsewhere")
	e.inbound(contact(1), x, "still there?")

	g := e.do("GET", "/admin/v1/unrouted", opToken, nil)
	want(t, g, http.StatusOK, "")
	var groups struct {
		Destinations []struct {
			To       string
			Messages int
			Contacts int
			Reasons  []string
			Latest   struct{ Text string }
			Number   map[string]any
		}
		NextCursor *string `json:"next_cursor"`
	}
	json.Unmarshal(g.body, &groups)
	if len(groups.Destinations) != 2 || groups.Destinations[0].To != x || groups.Destinations[0].Messages != 3 || groups.Destinations[0].Contacts != 2 ||
		groups.Destinations[0].Latest.Text != "still there?" || groups.Destinations[0].Number != nil || groups.NextCursor != nil {
		t.Fatalf("groups: %s", g.body)
	}
	m := e.do("GET", "/admin/v1/unrouted/messages?to=%2B"+x[1:], opToken, nil)
	var list struct{ Messages []map[string]any }
	json.Unmarshal(m.body, &list)
	if len(list.Messages) != 3 {
		t.Fatalf("messages to x: %s", m.body)
	}

	want(t, e.do("POST", "/admin/v1/unrouted/assign", opToken, map[string]any{"workspace": fmt.Sprint(w.id), "to": x}), http.StatusConflict, "unknown_number")
	want(t, e.do("POST", "/admin/v1/numbers", opToken, map[string]any{"number": x, "kind": "dedicated", "workspace": fmt.Sprint(w.id), "carrier": "carrier-a"}), http.StatusCreated, "")
	want(t, e.do("POST", "/admin/v1/unrouted/assign", opToken, map[string]any{"workspace": "987654", "to": x}), http.StatusNotFound, "not_found")
	want(t, e.do("POST", "/admin/v1/unrouted/assign", opToken, map[string]any{"workspace": fmt.Sprint(w.id)}), http.StatusBadRequest, "invalid_request")
	s := e.openStream(t, w.token, "")
	s.next(5 * time.Second)
	one := list.Messages[2]["id"].(string) // the oldest
	a := e.do("POST", "/admin/v1/unrouted/assign", opToken, map[string]any{"workspace": fmt.Sprint(w.id), "to": x, "ids": []string{one}})
	want(t, a, http.StatusOK, "")
	if v := a.json(t); len(v["messages"].([]any)) != 1 || len(v["threads"].([]any)) != 1 {
		t.Fatalf("assign one: %s", a.body)
	}
	if ev := s.next(5 * time.Second); ev.event != "message.received" || ev.data["text"] != "hello?" {
		t.Fatalf("event %+v", ev)
	}
	a = e.do("POST", "/admin/v1/unrouted/assign", opToken, map[string]any{"workspace": fmt.Sprint(w.id), "to": x})
	want(t, a, http.StatusOK, "")
	th := e.do("GET", "/v1/threads", w.token, nil)
	if !strings.Contains(string(th.body), "still there?") || !strings.Contains(string(th.body), "anyone?") {
		t.Fatalf("threads: %s", th.body)
	}
	g = e.do("GET", "/admin/v1/unrouted", opToken, nil)
	json.Unmarshal(g.body, &groups)
	if len(groups.Destinations) != 1 || groups.Destinations[0].To == x {
		t.Fatalf("groups after the assignment: %s", g.body)
	}
}
