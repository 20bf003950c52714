package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/inbox"
)

func TestSendMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")

	r := e.send(w.token, "+1 (646) 555-0100", "Hello there")
	want(t, r, http.StatusAccepted, "")
	m := r.json(t)
	if m["status"] != "queued" || m["segments"] != 1.0 || m["encoding"] != "gsm7" || m["from"] != w.num.E164 ||
		m["to"] != "+16465550100" || m["id"] == "" || m["thread_id"] == "" {
		t.Fatalf("answer %s", r.body)
	}
	if e.kicks.Load() == 0 {
		t.Fatal("the dispatcher was not kicked")
	}

	// Encoding and segments come from smpp/coding: UCS-2 for an emoji, two
	// parts past 160 GSM characters, € costs two septets.
	for _, c := range []struct {
		text     string
		enc      string
		segments float64
	}{
		{"Grüße 😀", "ucs2", 1},
		{strings.Repeat("a", 160), "gsm7", 1},
		{strings.Repeat("a", 161), "gsm7", 2},
		{strings.Repeat("€", 80), "gsm7", 1},
		{strings.Repeat("€", 81), "gsm7", 2},
		{strings.Repeat("я", 70), "ucs2", 1},
		{strings.Repeat("я", 71), "ucs2", 2},
		{strings.Repeat("a", 153*10), "gsm7", 10},
	} {
		r := e.send(w.token, contact(1), c.text)
		want(t, r, http.StatusAccepted, "")
		if m := r.json(t); m["encoding"] != c.enc || m["segments"] != c.segments {
			t.Fatalf("%.20q: %s", c.text, r.body)
		}
	}

	before := e.countMessages(w.id)
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"11 segments", map[string]any{"to": contact(1), "text": strings.Repeat("a", 153*10+1)}, 422, "message_too_long"},
		{"over the body limit", map[string]any{"to": contact(1), "text": strings.Repeat("я", 67*300)}, 413, "payload_too_large"},
		{"invalid recipient", map[string]any{"to": "+1 555 0100", "text": "x"}, 422, "invalid_recipient"},
		{"no recipient", map[string]any{"text": "x"}, 400, "invalid_request"},
		{"no text", map[string]any{"to": contact(1)}, 400, "invalid_request"},
		{"empty text", map[string]any{"to": contact(1), "text": ""}, 400, "invalid_request"},
		{"text not a string", `{"to": "+16465550100", "text": 5}`, 400, "invalid_request"},
		{"invalid UTF-8", "{\"to\": \"+16465550100\", \"text\": \"caf\xe9\"}", 422, "invalid_text"},
		{"lone surrogate", `{"to": "+16465550100", "text": "a\ud800b"}`, 422, "invalid_text"},
		{"from another number", map[string]any{"to": contact(1), "text": "x", "from": newE164()}, 409, "no_number_connected"},
		{"client_ref too long", map[string]any{"to": contact(1), "text": "x", "client_ref": strings.Repeat("k", 256)}, 400, "invalid_request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want(t, e.do("POST", "/v1/messages", w.token, c.body), c.status, c.code)
		})
	}
	if n := e.countMessages(w.id); n != before {
		t.Fatalf("refused requests queued %d messages", n-before)
	}
	// A written U+FFFD is text like any other.
	want(t, e.do("POST", "/v1/messages", w.token, `{"to": "+16465550100", "text": "a\uFFFD \\ud800 �"}`), 202, "")
}

func TestGetMessageHistoryAndParts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	r := e.send(w.token, contact(1), strings.Repeat("a", 200))
	want(t, r, 202, "")
	id := r.json(t)["id"].(string)

	m := e.do("GET", "/v1/messages/"+id, w.token, nil)
	want(t, m, 200, "")
	if v := m.json(t); v["status"] != "queued" || v["direction"] != "out" || len(v["status_history"].([]any)) != 1 ||
		len(v["parts"].([]any)) != 0 || v["text"] != strings.Repeat("a", 200) || v["error"] != nil {
		t.Fatalf("queued: %s", m.body)
	}

	// The dispatcher's path: claim, two segments submitted, receipts.
	c, err := e.store.Claim(e.ctx, "test", 10, time.Minute)
	if err != nil || len(c) != 1 {
		t.Fatalf("claim: %v %v", c, err)
	}
	res, err := e.store.RecordSubmits(e.ctx, []inbox.SubmitResult{
		{Message: c[0].ID, Segment: 0, Outcome: inbox.SubmitOK, CarrierMessageID: "AB01", Format: inbox.IDHex},
		{Message: c[0].ID, Segment: 1, Outcome: inbox.SubmitOK, CarrierMessageID: "AB02", Format: inbox.IDHex},
	})
	if err != nil || res[0] != nil || res[1] != nil {
		t.Fatal(err, res)
	}
	_, err = e.store.ApplyReceipts(e.ctx, []inbox.Receipt{
		{Carrier: "carrier-a", CarrierMessageID: "AB01", Format: inbox.IDHex, Status: inbox.ReceiptDelivered},
		{Carrier: "carrier-a", CarrierMessageID: "AB02", Format: inbox.IDHex, Status: inbox.ReceiptDelivered},
	})
	if err != nil {
		t.Fatal(err)
	}
	m = e.do("GET", "/v1/messages/"+id, w.token, nil)
	want(t, m, 200, "")
	v := m.json(t)
	var statuses []string
	for _, h := range v["status_history"].([]any) {
		h := h.(map[string]any)
		if _, err := time.Parse(time.RFC3339Nano, h["at"].(string)); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, h["status"].(string))
	}
	if v["status"] != "delivered" || strings.Join(statuses, ",") != "queued,sending,submitted,delivered" {
		t.Fatalf("delivered: %s", m.body)
	}
	parts := v["parts"].([]any)
	if len(parts) != 2 || parts[0].(map[string]any)["carrier_message_id"] != "AB01" ||
		parts[1].(map[string]any)["carrier_message_id"] != "AB02" ||
		parts[1].(map[string]any)["receipt_status"] != "delivered" {
		t.Fatalf("parts: %s", m.body)
	}

	want(t, e.do("GET", "/v1/messages/999999", w.token, nil), 404, "not_found")
	want(t, e.do("GET", "/v1/messages/abc", w.token, nil), 404, "not_found")
}

func TestAddonRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.workspace("no add-on", false)
	ded := e.dedicated(w.id)
	shr := e.shared()

	want(t, e.send(w.token, contact(1), "hi"), http.StatusPaymentRequired, "sms_addon_required")
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": ded.E164}), 402, "sms_addon_required")
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": shr.E164}), 402, "sms_addon_required")
	if n := e.countMessages(w.id); n != 0 {
		t.Fatalf("%d messages queued without the add-on", n)
	}
	s := e.do("GET", "/v1/sms", w.token, nil)
	want(t, s, 200, "")
	if v := s.json(t); v["addon"] != false || v["state"] != "disconnected" || v["number"] != nil {
		t.Fatalf("sms: %s", s.body)
	}

	// The add-on is switched off after a number was connected: sending and
	// enabling are refused, disabling is allowed.
	w2 := e.ready("later")
	want(t, e.do("PATCH", fmt.Sprintf("/admin/v1/workspaces/%d", w2.id), opToken, map[string]bool{"sms_addon": false}), 200, "")
	want(t, e.send(w2.token, contact(1), "hi"), 402, "sms_addon_required")
	want(t, e.do("POST", "/v1/sms/number/disable", w2.token, nil), 200, "")
	want(t, e.do("POST", "/v1/sms/number/enable", w2.token, nil), 402, "sms_addon_required")
	if n := e.countMessages(w2.id); n != 0 {
		t.Fatalf("%d messages queued without the add-on", n)
	}
	want(t, e.do("PATCH", fmt.Sprintf("/admin/v1/workspaces/%d", w2.id), opToken, map[string]bool{"sms_addon": true}), 200, "")
	want(t, e.do("POST", "/v1/sms/number/enable", w2.token, nil), 200, "")
	want(t, e.send(w2.token, contact(1), "hi"), 202, "")
}

func TestDisableAndDisconnectBlockSending(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	sms := func(state string, number any) {
		t.Helper()
		r := e.do("GET", "/v1/sms", w.token, nil)
		want(t, r, 200, "")
		if v := r.json(t); v["state"] != state || v["number"] != number || v["addon"] != true {
			t.Fatalf("sms: %s, want %s %v", r.body, state, number)
		}
	}
	sms("connected", w.num.E164)

	d := e.do("POST", "/v1/sms/number/disable", w.token, nil)
	want(t, d, 200, "")
	if v := d.json(t); v["state"] != "disabled" || v["number"] != w.num.E164 {
		t.Fatalf("disable: %s", d.body)
	}
	sms("disabled", w.num.E164)
	want(t, e.send(w.token, contact(1), "hi"), 409, "number_disabled")

	// Inbound still lands while disabled.
	if res := e.inbound(contact(1), w.num.E164, "still here"); res.Workspace != w.id {
		t.Fatalf("inbound while disabled: %+v", res)
	}
	want(t, e.do("POST", "/v1/sms/number/enable", w.token, ""), 200, "")
	sms("connected", w.num.E164)
	want(t, e.send(w.token, contact(1), "hi"), 202, "")

	r := e.do("DELETE", "/v1/sms/number", w.token, nil)
	want(t, r, http.StatusNoContent, "")
	sms("disconnected", nil)
	want(t, e.send(w.token, contact(1), "hi"), 409, "no_number_connected")
	want(t, e.do("POST", "/v1/sms/number/disable", w.token, nil), 409, "no_number_connected")
	want(t, e.do("DELETE", "/v1/sms/number", w.token, nil), 409, "no_number_connected")

	// Connected again through PUT.
	c := e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": w.num.E164})
	want(t, c, 200, "")
	if v := c.json(t); v["state"] != "connected" || v["kind"] != "dedicated" || v["connected_at"] == nil {
		t.Fatalf("connect: %s", c.body)
	}
	want(t, e.send(w.token, contact(1), "hi"), 202, "")
}

func TestOptOutAndBackIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	want(t, e.send(w.token, contact(7), "promo"), 202, "")
	e.inbound(contact(7), w.num.E164, "STOP")
	want(t, e.send(w.token, contact(7), "promo 2"), 409, "recipient_opted_out")
	want(t, e.send(w.token, contact(8), "someone else"), 202, "")
	e.inbound(contact(7), w.num.E164, " start ")
	want(t, e.send(w.token, contact(7), "welcome back"), 202, "")
}

func TestClientRefIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	req := map[string]any{"to": contact(1), "text": "once", "client_ref": "order-1"}
	first := e.do("POST", "/v1/messages", w.token, req)
	want(t, first, 202, "")
	again := e.do("POST", "/v1/messages", w.token, req)
	want(t, again, 200, "")
	f, a := first.json(t), again.json(t)
	if f["id"] != a["id"] || a["status"] != "queued" || again.header.Get("Idempotent-Replayed") != "true" ||
		a["from"] != f["from"] || a["segments"] != f["segments"] {
		t.Fatalf("first %s, again %s", first.body, again.body)
	}
	// The same key with other content is a client bug, not a replay.
	req["text"] = "twice"
	want(t, e.do("POST", "/v1/messages", w.token, req), 409, "client_ref_conflict")
	// A repeat answers the first message even when sending is now refused.
	want(t, e.do("POST", "/v1/sms/number/disable", w.token, nil), 200, "")
	req["text"] = "once"
	want(t, e.do("POST", "/v1/messages", w.token, req), 200, "")

	// Concurrent requests with one key (grouped into one Enqueue or not):
	// one message.
	want(t, e.do("POST", "/v1/sms/number/enable", w.token, nil), 200, "")
	var wg sync.WaitGroup
	ids := make([]string, 20)
	codes := make([]int, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do("POST", "/v1/messages", w.token, map[string]any{"to": contact(2), "text": "race", "client_ref": "race"})
			codes[i] = r.status
			if r.status < 300 {
				ids[i] = r.json(t)["id"].(string)
			}
		}()
	}
	wg.Wait()
	accepted := 0
	for i := range ids {
		if ids[i] != ids[0] || (codes[i] != 200 && codes[i] != 202) {
			t.Fatalf("answers %v, ids %v", codes, ids)
		}
		if codes[i] == 202 {
			accepted++
		}
	}
	if accepted != 1 {
		t.Fatalf("%d answers 202 for one client_ref: %v", accepted, codes)
	}
}

// TestGroupCommit: many concurrent sends, stored in shared Enqueue calls,
// each get their own answer.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{1, 64} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *api.Config) { c.EnqueueBatch, c.EnqueueWorkers = batch, 2 })
			w := e.ready("w")
			var wg sync.WaitGroup
			const n = 200
			ids := make(chan string, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					to := contact(i % 7)
					if i%10 == 9 {
						to = "+1 555" // refused alone
					}
					r := e.send(w.token, to, fmt.Sprint("msg ", i))
					if i%10 == 9 {
						if r.status != 422 {
							t.Errorf("invalid recipient: %d %s", r.status, r.body)
						}
						return
					}
					if r.status != 202 {
						t.Errorf("send %d: %d %s", i, r.status, r.body)
						return
					}
					ids <- r.json(t)["id"].(string)
				}()
			}
			wg.Wait()
			close(ids)
			seen := map[string]bool{}
			for id := range ids {
				seen[id] = true
			}
			if len(seen) != n-n/10 || e.countMessages(w.id) != n-n/10 {
				t.Fatalf("%d distinct ids, %d messages, want %d", len(seen), e.countMessages(w.id), n-n/10)
			}
		})
	}
}
