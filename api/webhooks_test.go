package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/webhook"
)

// allowLoopback lets webhook URLs name 127.0.0.1, as the engine's tests
// configure it.
func allowLoopback(c *api.Config) {
	g, err := webhook.NewGuard([]string{"127.0.0.1"})
	if err != nil {
		panic(err)
	}
	c.WebhookGuard = g
}

func TestWebhookLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	w := e.ready("w")
	other := e.ready("other")

	r := e.do("POST", "/v1/webhooks", w.token, map[string]any{
		"url": "http://127.0.0.1:9/hook", "description": "crm", "event_types": []string{"message.status", "number.*", "message.status"},
	})
	want(t, r, http.StatusCreated, "")
	created := r.json(t)
	id, _ := created["id"].(string)
	secret, _ := created["secret"].(string)
	if id == "" || !strings.HasPrefix(secret, "whsec_") || r.header.Get("Location") != "/v1/webhooks/"+id {
		t.Fatalf("create: %s %v", r.body, r.header)
	}
	if _, err := webhook.ParseKey(secret); err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	if types := created["event_types"].([]any); len(types) != 2 || created["enabled"] != true || created["disabled_reason"] != nil {
		t.Fatalf("create: %s", r.body)
	}

	// The secret is never shown again; another workspace sees nothing.
	r = e.do("GET", "/v1/webhooks/"+id, w.token, nil)
	want(t, r, http.StatusOK, "")
	if strings.Contains(string(r.body), "secret\"") || strings.Contains(string(r.body), secret) {
		t.Fatalf("get shows the secret: %s", r.body)
	}
	r = e.do("GET", "/v1/webhooks", w.token, nil)
	want(t, r, http.StatusOK, "")
	if list := r.json(t)["webhooks"].([]any); len(list) != 1 || strings.Contains(string(r.body), secret) {
		t.Fatalf("list: %s", r.body)
	}
	want(t, e.do("GET", "/v1/webhooks/"+id, other.token, nil), http.StatusNotFound, "not_found")
	want(t, e.do("DELETE", "/v1/webhooks/"+id, other.token, nil), http.StatusNotFound, "not_found")
	if list := e.do("GET", "/v1/webhooks", other.token, nil).json(t)["webhooks"].([]any); len(list) != 0 {
		t.Fatalf("other workspace lists %v", list)
	}

	// Patch, disable, enable.
	r = e.do("PATCH", "/v1/webhooks/"+id, w.token, map[string]any{"description": "helpdesk", "enabled": false})
	want(t, r, http.StatusOK, "")
	if v := r.json(t); v["description"] != "helpdesk" || v["enabled"] != false || v["disabled_reason"] != "manual" {
		t.Fatalf("patch: %s", r.body)
	}
	want(t, e.do("POST", "/v1/webhooks/"+id+"/test", w.token, nil), http.StatusConflict, "webhook_disabled")
	r = e.do("PATCH", "/v1/webhooks/"+id, w.token, map[string]any{"enabled": true})
	if v := r.json(t); v["enabled"] != true || v["disabled_reason"] != nil {
		t.Fatalf("enable: %s", r.body)
	}

	// Rotation: a new secret, the old one valid for a while.
	r = e.do("POST", "/v1/webhooks/"+id+"/rotate-secret", w.token, nil)
	want(t, r, http.StatusOK, "")
	rot := r.json(t)
	if s, _ := rot["secret"].(string); !strings.HasPrefix(s, "whsec_") || s == secret || rot["previous_secret_expires_at"] == nil {
		t.Fatalf("rotate: %s", r.body)
	}

	// A test event is queued (and shows in nothing else yet); replaying an
	// unknown event is 404.
	r = e.do("POST", "/v1/webhooks/"+id+"/test", w.token, nil)
	want(t, r, http.StatusAccepted, "")
	evID, _ := r.json(t)["event_id"].(string)
	if !strings.HasPrefix(evID, "evt_") {
		t.Fatalf("test: %s", r.body)
	}
	want(t, e.do("POST", "/v1/webhooks/"+id+"/events/"+evID+"/replay", w.token, nil), http.StatusAccepted, "")
	want(t, e.do("POST", "/v1/webhooks/"+id+"/events/evt_nope/replay", w.token, nil), http.StatusNotFound, "not_found")
	var n int
	e.pool.QueryRow(e.ctx, `SELECT count(*) FROM webhook_events WHERE event_id = $1 AND state = 'pending'`, evID).Scan(&n)
	if n != 2 {
		t.Fatalf("%d pending copies of the test event, want 2 (sent and replayed)", n)
	}
	r = e.do("GET", "/v1/webhooks/"+id+"/attempts", w.token, nil)
	want(t, r, http.StatusOK, "")
	if v := r.json(t); len(v["attempts"].([]any)) != 0 || v["next_cursor"] != nil {
		t.Fatalf("attempts: %s", r.body)
	}

	want(t, e.do("DELETE", "/v1/webhooks/"+id, w.token, nil), http.StatusNoContent, "")
	want(t, e.do("GET", "/v1/webhooks/"+id, w.token, nil), http.StatusNotFound, "not_found")
}

// Every bad input to the webhook routes gets the API's error object, never
// a 500.
func TestWebhookBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // public addresses only
	w := e.ready("w")
	_, setTok := e.issue(w.id, "settings only", "settings")
	_, msgTok := e.issue(w.id, "messages only", "messages")
	ok := e.do("POST", "/v1/webhooks", w.token, map[string]any{"url": "https://hooks.example.com/sb", "event_types": []string{"message.received"}})
	want(t, ok, http.StatusCreated, "")
	id := ok.json(t)["id"].(string)
	long := "https://example.com/" + strings.Repeat("a", 2000)
	for _, c := range []struct {
		method, path, tok string
		body              any
		status            int
		code              string
	}{
		{"POST", "/v1/webhooks", w.token, `{"url":"http://127.0.0.1/x","event_types":["message.status"]}`, 422, "webhook_target_refused"},
		{"POST", "/v1/webhooks", w.token, `{"url":"http://10.1.2.3/x","event_types":["message.status"]}`, 422, "webhook_target_refused"},
		{"POST", "/v1/webhooks", w.token, `{"url":"http://[::1]:80/x","event_types":["message.status"]}`, 422, "webhook_target_refused"},
		{"POST", "/v1/webhooks", w.token, `{"url":"http://169.254.169.254/latest","event_types":["message.status"]}`, 422, "webhook_target_refused"},
		{"POST", "/v1/webhooks", w.token, `{"url":"http://localhost:8080/x","event_types":["message.status"]}`, 422, "webhook_target_refused"},
		{"POST", "/v1/webhooks", w.token, `{"url":"ftp://example.com/x","event_types":["message.status"]}`, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, `{"url":"example.com/x","event_types":["message.status"]}`, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, `{"url":"https://u:p@example.com/x","event_types":["message.status"]}`, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, `{"url":"https://example.com/x#f","event_types":["message.status"]}`, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, map[string]any{"url": long, "event_types": []string{"message.status"}}, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, `{"url":"https://example.com/x","event_types":[]}`, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, `{"url":"https://example.com/x"}`, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, `{"url":"https://example.com/x","event_types":["message.sent"]}`, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, `{"url":"https://example.com/x","event_types":"message.status"}`, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, `{"url":"https://example.com/x","event_types":["message.status"],"secret":"x"}`, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, map[string]any{"url": "https://example.com/x", "description": strings.Repeat("d", 501), "event_types": []string{"number.*"}}, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, `not json`, 400, "invalid_request"},
		{"POST", "/v1/webhooks", w.token, ``, 400, "invalid_request"},
		{"POST", "/v1/webhooks", msgTok, `{"url":"https://example.com/x","event_types":["message.status"]}`, 403, "forbidden"},
		{"POST", "/v1/webhooks", setTok, `{"url":"https://example.com/x","event_types":["message.status"]}`, 403, "forbidden"},
		{"PATCH", "/v1/webhooks/" + id, setTok, `{"event_types":["message.received"]}`, 403, "forbidden"},
		{"PATCH", "/v1/webhooks/" + id, w.token, `{"event_types":[]}`, 400, "invalid_request"},
		{"PATCH", "/v1/webhooks/" + id, w.token, `{"url":"http://192.168.1.1/"}`, 422, "webhook_target_refused"},
		{"PATCH", "/v1/webhooks/" + id, w.token, `{"enabled":"yes"}`, 400, "invalid_request"},
		{"PATCH", "/v1/webhooks/" + id, w.token, `{"url":null,"bogus":1}`, 400, "invalid_request"},
		{"PATCH", "/v1/webhooks/0", w.token, `{}`, 404, "not_found"},
		{"PATCH", "/v1/webhooks/abc", w.token, `{}`, 404, "not_found"},
		{"PATCH", "/v1/webhooks/99999999", w.token, `{}`, 404, "not_found"},
		{"GET", "/v1/webhooks/-1", w.token, nil, 404, "not_found"},
		{"GET", "/v1/webhooks/" + id + "/attempts?limit=0", w.token, nil, 400, "invalid_request"},
		{"GET", "/v1/webhooks/" + id + "/attempts?cursor=zzz", w.token, nil, 400, "invalid_cursor"},
		{"GET", "/v1/webhooks/99999999/attempts", w.token, nil, 404, "not_found"},
		{"POST", "/v1/webhooks/" + id + "/rotate-secret", w.token, `[1]`, 400, "invalid_request"},
		{"POST", "/v1/webhooks/" + id + "/rotate-secret", msgTok, nil, 403, "forbidden"},
		{"POST", "/v1/webhooks/99999999/rotate-secret", w.token, nil, 404, "not_found"},
		{"POST", "/v1/webhooks/99999999/test", w.token, nil, 404, "not_found"},
		{"POST", "/v1/webhooks/" + id + "/test", w.token, `{"x":1}`, 400, "invalid_request"},
		{"POST", "/v1/webhooks/" + id + "/events/" + strings.Repeat("e", 201) + "/replay", w.token, nil, 404, "not_found"},
		{"DELETE", "/v1/webhooks/99999999", w.token, nil, 404, "not_found"},
		{"GET", "/v1/webhooks", "", nil, 401, "unauthorized"},
	} {
		r := e.do(c.method, c.path, c.tok, c.body)
		if r.status != c.status || r.code() != c.code {
			t.Errorf("%s %s %v: %d %s, want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}
	// Too many endpoints is a clear refusal.
	for i := 1; ; i++ {
		r := e.do("POST", "/v1/webhooks", w.token, map[string]any{"url": "https://example.com/x", "event_types": []string{"number.*"}})
		if r.status == http.StatusCreated {
			continue
		}
		want(t, r, http.StatusBadRequest, "invalid_request")
		if i != 20 { // the first was created above
			t.Fatalf("refused at %d: %s", i, r.body)
		}
		break
	}
}

// A webhook.test event's body is the envelope the docs describe, and the
// views give the API's objects.
func TestWebhookEventBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	w := e.ready("w")
	r := e.do("POST", "/v1/webhooks", w.token, map[string]any{"url": "http://127.0.0.1:9/", "event_types": []string{"message.received"}})
	id := r.json(t)["id"].(string)
	r = e.do("POST", "/v1/webhooks/"+id+"/test", w.token, `{}`)
	want(t, r, http.StatusAccepted, "")
	var body []byte
	if err := e.pool.QueryRow(e.ctx, `SELECT body FROM webhook_events WHERE event_id = $1`, r.json(t)["event_id"]).Scan(&body); err != nil {
		t.Fatal(err)
	}
	var env struct {
		ID, Type, Timestamp string
		Data                map[string]any
	}
	if err := json.Unmarshal(body, &env); err != nil || env.ID != r.json(t)["event_id"] || env.Type != "webhook.test" ||
		env.Timestamp == "" || env.Data["webhook_id"] != id {
		t.Fatalf("body %s (%v)", body, err)
	}
}
