package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// A 160-character text with one curly apostrophe: three UCS-2 segments as
// written, one GSM-7 segment with smart encoding.
var (
	quote160    = strings.Repeat("a", 80) + "’" + strings.Repeat("b", 79)
	quote160GSM = strings.Repeat("a", 80) + "'" + strings.Repeat("b", 79)
)

type smartAnswer struct {
	ID            string `json:"id"`
	Text          string `json:"text"`
	Encoding      string `json:"encoding"`
	Segments      int    `json:"segments"`
	SmartEncoding *struct {
		Enabled       bool `json:"enabled"`
		Applied       bool `json:"applied"`
		Replaced      int  `json:"replaced"`
		SegmentsSaved int  `json:"segments_saved"`
	} `json:"smart_encoding"`
}

func decodeSmart(t *testing.T, r resp) smartAnswer {
	t.Helper()
	var a smartAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	return a
}

// checkSent checks an answer of POST /v1/messages and that the stored
// message (GET /v1/messages/{id}) is the text as sent.
func (e *env) checkSent(t *testing.T, tok string, r resp, text, enc string, segs int, enabled, applied bool, replaced, saved int) {
	t.Helper()
	want(t, r, http.StatusAccepted, "")
	a := decodeSmart(t, r)
	se := a.SmartEncoding
	if a.Text != text || a.Encoding != enc || a.Segments != segs || se == nil ||
		se.Enabled != enabled || se.Applied != applied || se.Replaced != replaced || se.SegmentsSaved != saved {
		t.Fatalf("answer %s; want text %.20q… %s %d segments, smart enabled %v applied %v replaced %d saved %d", r.body, text, enc, segs, enabled, applied, replaced, saved)
	}
	g := e.do("GET", "/v1/messages/"+a.ID, tok, nil)
	want(t, g, http.StatusOK, "")
	m := g.json(t)
	if m["text"] != text || m["encoding"] != enc || m["segments"] != float64(segs) {
		t.Fatalf("stored message %s; want the text as sent", g.body)
	}
}

func TestSmartEncodingPerMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("smart")
	send := func(body map[string]any) resp {
		body["to"] = contact(1)
		return e.do("POST", "/v1/messages", w.token, body)
	}
	// Off by default: one curly quote costs three UCS-2 segments.
	e.checkSent(t, w.token, send(map[string]any{"text": quote160}), quote160, "ucs2", 3, false, false, 0, 0)
	e.checkSent(t, w.token, send(map[string]any{"text": quote160, "smart_encoding": nil}), quote160, "ucs2", 3, false, false, 0, 0)
	// Asked for: one GSM-7 segment, two saved; the stored text is the one sent.
	e.checkSent(t, w.token, send(map[string]any{"text": quote160, "smart_encoding": true}), quote160GSM, "gsm7", 1, true, true, 1, 2)
	e.checkSent(t, w.token, send(map[string]any{"text": "“Hi” — it’s ready…", "smart_encoding": true}),
		`"Hi" - it's ready...`, "gsm7", 1, true, true, 5, 0)
	// Characters that carry meaning keep the text as written, in UCS-2.
	e.checkSent(t, w.token, send(map[string]any{"text": "It’s 😀", "smart_encoding": true}), "It’s 😀", "ucs2", 1, true, false, 0, 0)
	e.checkSent(t, w.token, send(map[string]any{"text": "ça va’", "smart_encoding": true}), "ça va’", "ucs2", 1, true, false, 0, 0)
	// GSM-7 text: nothing to do.
	e.checkSent(t, w.token, send(map[string]any{"text": "plain", "smart_encoding": true}), "plain", "gsm7", 1, true, false, 0, 0)
	// 11 UCS-2 segments are refused, but smart encoding brings them to 5.
	long := strings.Repeat("’", 67*11)
	want(t, send(map[string]any{"text": long}), http.StatusUnprocessableEntity, "message_too_long")
	e.checkSent(t, w.token, send(map[string]any{"text": long, "smart_encoding": true}), strings.Repeat("'", 67*11), "gsm7", 5, true, true, 67*11, 6)

	// Bad input: the usual error object, nothing stored.
	before := e.countMessages(w.id)
	for _, bad := range []string{`"yes"`, `1`, `"true"`, `{}`, `[true]`} {
		r := e.do("POST", "/v1/messages", w.token, `{"to":"`+contact(1)+`","text":"hi","smart_encoding":`+bad+`}`)
		want(t, r, http.StatusBadRequest, "invalid_request")
		if !strings.Contains(r.json(t)["error"].(map[string]any)["message"].(string), "smart_encoding") {
			t.Fatalf("smart_encoding %s: %s does not name the field", bad, r.body)
		}
	}
	if n := e.countMessages(w.id); n != before {
		t.Fatalf("%d messages stored by bad requests", n-before)
	}
}

func TestSmartEncodingWorkspaceDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("smart default")
	other := e.ready("other")
	path := "/admin/v1/workspaces/" + idOf(w.id)
	r := e.do("GET", path, opToken, nil)
	want(t, r, http.StatusOK, "")
	if r.json(t)["smart_encoding"] != false {
		t.Fatalf("a new workspace: %s; smart encoding is off by default", r.body)
	}
	sms := func(tok string) any {
		r := e.do("GET", "/v1/sms", tok, nil)
		want(t, r, 200, "")
		return r.json(t)["smart_encoding"]
	}
	if sms(w.token) != false {
		t.Fatal("GET /v1/sms: smart_encoding not false")
	}
	// Warm this process's cache with the old setting, then turn it on: the
	// change is seen at once.
	e.checkSent(t, w.token, e.send(w.token, contact(1), quote160), quote160, "ucs2", 3, false, false, 0, 0)
	r = e.do("PATCH", path, opToken, map[string]any{"smart_encoding": true})
	want(t, r, http.StatusOK, "")
	if m := r.json(t); m["smart_encoding"] != true || m["sms_addon"] != true {
		t.Fatalf("PATCH: %s", r.body)
	}
	if sms(w.token) != true || sms(other.token) != false {
		t.Fatal("GET /v1/sms does not show the workspace's default")
	}
	e.checkSent(t, w.token, e.send(w.token, contact(1), quote160), quote160GSM, "gsm7", 1, true, true, 1, 2)
	e.checkSent(t, other.token, e.send(other.token, contact(1), quote160), quote160, "ucs2", 3, false, false, 0, 0)
	// The request overrides the default.
	e.checkSent(t, w.token, e.do("POST", "/v1/messages", w.token, map[string]any{"to": contact(1), "text": quote160, "smart_encoding": false}),
		quote160, "ucs2", 3, false, false, 0, 0)
	// Changing the add-on leaves it alone; switching it off takes effect at once.
	want(t, e.do("PATCH", path, opToken, map[string]any{"sms_addon": true}), http.StatusOK, "")
	e.checkSent(t, w.token, e.send(w.token, contact(1), quote160), quote160GSM, "gsm7", 1, true, true, 1, 2)
	want(t, e.do("PATCH", path, opToken, map[string]any{"smart_encoding": false}), http.StatusOK, "")
	e.checkSent(t, w.token, e.send(w.token, contact(1), quote160), quote160, "ucs2", 3, false, false, 0, 0)

	want(t, e.do("PATCH", path, opToken, `{"smart_encoding":"yes"}`), http.StatusBadRequest, "invalid_request")
	want(t, e.do("PATCH", "/admin/v1/workspaces/424242", opToken, map[string]any{"smart_encoding": true}), http.StatusNotFound, "not_found")
}

// TestSmartEncodingIdempotent: a repeated client_ref is the same message
// whether its text comes as written or as substituted.
func TestSmartEncodingIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("smart idem")
	body := func(text string, smart any) map[string]any {
		return map[string]any{"to": contact(1), "text": text, "client_ref": "r1", "smart_encoding": smart}
	}
	first := e.do("POST", "/v1/messages", w.token, body(quote160, true))
	e.checkSent(t, w.token, first, quote160GSM, "gsm7", 1, true, true, 1, 2)
	id := decodeSmart(t, first).ID
	for _, b := range []map[string]any{body(quote160, true), body(quote160, false), body(quote160GSM, nil)} {
		r := e.do("POST", "/v1/messages", w.token, b)
		want(t, r, http.StatusOK, "")
		if a := decodeSmart(t, r); a.ID != id || a.Text != quote160GSM || a.Segments != 1 || a.SmartEncoding != nil {
			t.Fatalf("replay %v: %s", b["smart_encoding"], r.body)
		}
	}
	want(t, e.do("POST", "/v1/messages", w.token, body(quote160+"!", true)), http.StatusConflict, "client_ref_conflict")
}

func TestSmartEncodingBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("smart batch")
	want(t, e.do("PATCH", "/admin/v1/workspaces/"+idOf(w.id), opToken, map[string]any{"smart_encoding": true}), http.StatusOK, "")
	r := e.do("POST", "/v1/messages/batch", w.token, `{"messages":[
		{"to":"`+contact(1)+`","text":"`+quote160+`"},
		{"to":"`+contact(2)+`","text":"`+quote160+`","smart_encoding":false},
		{"to":"`+contact(3)+`","text":"`+quote160+`","smart_encoding":"yes"},
		{"to":"`+contact(4)+`","text":"It’s 😀","smart_encoding":true}]}`)
	want(t, r, http.StatusOK, "")
	var out struct {
		Results []struct {
			Status  int
			Message *json.RawMessage
			Error   *struct{ Code, Message string }
		}
	}
	if err := json.Unmarshal(r.body, &out); err != nil || len(out.Results) != 4 {
		t.Fatalf("%s: %v", r.body, err)
	}
	item := func(i int) resp {
		res := out.Results[i]
		if res.Message == nil {
			t.Fatalf("item %d: %s", i, r.body)
		}
		return resp{status: res.Status, header: http.Header{"Content-Type": {"application/json"}}, body: *res.Message}
	}
	e.checkSent(t, w.token, item(0), quote160GSM, "gsm7", 1, true, true, 1, 2)
	e.checkSent(t, w.token, item(1), quote160, "ucs2", 3, false, false, 0, 0)
	if res := out.Results[2]; res.Status != 400 || res.Error == nil || res.Error.Code != "invalid_request" || !strings.Contains(res.Error.Message, "smart_encoding") {
		t.Fatalf("item 2 (smart_encoding \"yes\"): %s", r.body)
	}
	e.checkSent(t, w.token, item(3), "It’s 😀", "ucs2", 1, true, false, 0, 0)
	if n := e.countMessages(w.id); n != 3 {
		t.Fatalf("%d messages stored, want 3", n)
	}
}

// TestOpenAPISmartEncoding: the answer's smart_encoding object is the
// documented SmartEncodingResult, every field sent.
func TestOpenAPISmartEncoding(t *testing.T) {
	t.Parallel()
	schema := openAPISchema(t, "SmartEncodingResult")
	e := newEnv(t)
	w := e.ready("smart schema")
	r := e.do("POST", "/v1/messages", w.token, map[string]any{"to": contact(1), "text": quote160, "smart_encoding": true})
	want(t, r, http.StatusAccepted, "")
	checkSchema(t, "SmartEncodingResult", schema, r.json(t)["smart_encoding"])
}
