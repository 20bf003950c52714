package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

func TestSendScheduledWithValidity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	at := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	r := e.do("POST", "/v1/messages", w.token, map[string]any{"to": contact(1), "text": "later",
		"send_at": at.Format(time.RFC3339), "validity": 600})
	want(t, r, http.StatusAccepted, "")
	m := r.json(t)
	if m["status"] != "scheduled" || m["send_at"] != at.Format(time.RFC3339) {
		t.Fatalf("answer %s", r.body)
	}
	g := e.do("GET", "/v1/messages/"+m["id"].(string), w.token, nil)
	want(t, g, http.StatusOK, "")
	v := g.json(t)
	if v["status"] != "scheduled" || v["send_at"] != at.Format(time.RFC3339) ||
		v["expires_at"] != at.Add(10*time.Minute).Format(time.RFC3339) {
		t.Fatalf("message %s", g.body)
	}
	// Without send_at: queued, and no send_at in the answer.
	r = e.do("POST", "/v1/messages", w.token, map[string]any{"to": contact(2), "text": "now", "validity": 60})
	want(t, r, http.StatusAccepted, "")
	if m := r.json(t); m["status"] != "queued" || m["send_at"] != nil {
		t.Fatalf("answer %s", r.body)
	}
	// The batch takes them too, item by item.
	r = e.do("POST", "/v1/messages/batch", w.token, map[string]any{"messages": []any{
		map[string]any{"to": contact(3), "text": "b1", "send_at": at.Format(time.RFC3339)},
		map[string]any{"to": contact(3), "text": "b2", "validity": 59},
	}})
	want(t, r, http.StatusOK, "")
	res := r.json(t)["results"].([]any)
	first, second := res[0].(map[string]any), res[1].(map[string]any)
	if first["status"] != 202.0 || first["message"].(map[string]any)["status"] != "scheduled" ||
		second["status"] != 400.0 || second["error"].(map[string]any)["code"] != "invalid_request" {
		t.Fatalf("batch %s", r.body)
	}
}

func TestSendScheduleBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	before := e.countMessages(w.id)
	for _, c := range []struct {
		name string
		body string
	}{
		{"send_at not a time", `{"to":"+16465550100","text":"x","send_at":"tomorrow"}`},
		{"send_at without zone", `{"to":"+16465550100","text":"x","send_at":"2030-01-02T09:00:00"}`},
		{"send_at a number", `{"to":"+16465550100","text":"x","send_at":1893574800}`},
		{"send_at too far", fmt.Sprintf(`{"to":"+16465550100","text":"x","send_at":%q}`, time.Now().Add(36*24*time.Hour).Format(time.RFC3339))},
		{"validity too short", `{"to":"+16465550100","text":"x","validity":59}`},
		{"validity too long", `{"to":"+16465550100","text":"x","validity":36001}`},
		{"validity fraction", `{"to":"+16465550100","text":"x","validity":60.5}`},
		{"validity negative", `{"to":"+16465550100","text":"x","validity":-60}`},
		{"validity a word", `{"to":"+16465550100","text":"x","validity":"an hour"}`},
		{"validity huge", `{"to":"+16465550100","text":"x","validity":1e400}`},
	} {
		r := e.do("POST", "/v1/messages", w.token, c.body)
		if r.status != http.StatusBadRequest || r.code() != "invalid_request" {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	if n := e.countMessages(w.id); n != before {
		t.Fatalf("%d messages stored by bad requests", n-before)
	}
}

func TestCancelMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	at := time.Now().Add(time.Hour).Format(time.RFC3339)
	sched := e.do("POST", "/v1/messages", w.token, map[string]any{"to": contact(1), "text": "later", "send_at": at}).json(t)["id"].(string)
	queued := e.send(w.token, contact(2), "now").json(t)["id"].(string)

	for _, id := range []string{sched, queued} {
		r := e.do("POST", "/v1/messages/"+id+"/cancel", w.token, nil)
		want(t, r, http.StatusOK, "")
		m := r.json(t)
		h := m["status_history"].([]any)
		if m["status"] != "canceled" || h[len(h)-1].(map[string]any)["status"] != "canceled" {
			t.Fatalf("canceled %s: %s", id, r.body)
		}
		// Again: the same.
		want(t, e.do("POST", "/v1/messages/"+id+"/cancel", w.token, "{}"), http.StatusOK, "")
	}
	// Submitted: 409.
	sub := e.send(w.token, contact(3), "gone").json(t)["id"].(string)
	c, err := e.store.Claim(e.ctx, "d", 10, time.Minute)
	if err != nil || len(c) != 1 {
		t.Fatalf("claim %v %v", c, err)
	}
	want(t, e.do("POST", "/v1/messages/"+sub+"/cancel", w.token, nil), http.StatusConflict, "message_not_cancelable")
	if _, err := e.store.RecordSubmits(e.ctx, []inbox.SubmitResult{{Message: c[0].ID, Outcome: inbox.SubmitOK, CarrierMessageID: "x1", Format: inbox.IDOpaque}}); err != nil {
		t.Fatal(err)
	}
	want(t, e.do("POST", "/v1/messages/"+sub+"/cancel", w.token, nil), http.StatusConflict, "message_not_cancelable")

	// Bad input.
	want(t, e.do("POST", "/v1/messages/abc/cancel", w.token, nil), http.StatusNotFound, "not_found")
	want(t, e.do("POST", "/v1/messages/99999999/cancel", w.token, nil), http.StatusNotFound, "not_found")
	want(t, e.do("POST", "/v1/messages/"+sched+"/cancel", w.token, `{"why":1}`), http.StatusBadRequest, "invalid_request")
	want(t, e.do("POST", "/v1/messages/"+sched+"/cancel", w.token, `[`), http.StatusBadRequest, "invalid_request")
	want(t, e.do("POST", "/v1/messages/"+sched+"/cancel", "", nil), http.StatusUnauthorized, "unauthorized")
	want(t, e.do("GET", "/v1/messages/"+sched+"/cancel", w.token, nil), http.StatusMethodNotAllowed, "method_not_allowed")
}
