package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// openAPISchema returns a schema of components/schemas in openapi.json.
func openAPISchema(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	s, ok := doc.Components.Schemas[name]
	if !ok {
		t.Fatalf("openapi.json has no schema %s", name)
	}
	return s
}

// resolve replaces a {"$ref"} schema by what it names, one level.
func resolve(t *testing.T, s map[string]any) map[string]any {
	if ref, ok := s["$ref"].(string); ok {
		var name string
		fmt.Sscanf(ref, "#/components/schemas/%s", &name)
		return openAPISchema(t, name)
	}
	return s
}

// TestQuotaAPI: the operator sets a workspace's time zone and caps; GET
// /v1/sms and GET /v1/usage show what is used; the message that would
// cross the cap is 429 quota_exceeded naming it, with Retry-After until
// it resets; the batch route refuses per item, after the items that fit;
// removing the cap lets sending go on.
func TestQuotaAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	other := e.ready("other")
	path := fmt.Sprintf("/admin/v1/workspaces/%d", w.id)

	// None by default.
	r := e.do("GET", path, opToken, nil)
	want(t, r, 200, "")
	if v := r.json(t); v["time_zone"] != "UTC" || v["daily_segment_cap"] != nil || v["monthly_segment_cap"] != nil {
		t.Fatalf("a new workspace: %s", r.body)
	}
	r = e.do("GET", "/v1/sms", w.token, nil)
	want(t, r, 200, "")
	if q := r.json(t)["quota"].(map[string]any); q["time_zone"] != "UTC" || q["daily"] != nil || q["monthly"] != nil {
		t.Fatalf("no caps: %s", r.body)
	}

	// Bad input: the usual error object, nothing changed.
	for _, body := range []string{
		`{"time_zone": "Mars/Olympus"}`, `{"time_zone": ""}`, `{"time_zone": "Local"}`, `{"time_zone": 5}`,
		`{"daily_segment_cap": 0}`, `{"daily_segment_cap": -3}`, `{"monthly_segment_cap": 1.5}`,
		`{"monthly_segment_cap": "100"}`, `{"daily_segment_cap": 1000000000001}`, `{"daily_segment_cap": 99999999999999999999}`,
	} {
		r := e.do("PATCH", path, opToken, body)
		want(t, r, 400, "invalid_request")
	}
	want(t, e.do("PATCH", "/admin/v1/workspaces/999999", opToken, map[string]any{"daily_segment_cap": 5}), 404, "not_found")
	if v := e.do("GET", path, opToken, nil).json(t); v["time_zone"] != "UTC" || v["daily_segment_cap"] != nil {
		t.Fatalf("changed by bad input: %v", v)
	}

	r = e.do("PATCH", path, opToken, map[string]any{"time_zone": "Europe/Paris", "daily_segment_cap": 3, "monthly_segment_cap": 100})
	want(t, r, 200, "")
	if v := r.json(t); v["time_zone"] != "Europe/Paris" || v["daily_segment_cap"] != 3.0 || v["monthly_segment_cap"] != 100.0 {
		t.Fatalf("patched: %s", r.body)
	}
	if req := fmt.Sprint(openAPISchema(t, "Workspace")["required"]); !strings.Contains(req, "time_zone daily_segment_cap monthly_segment_cap") {
		t.Fatalf("openapi.json: Workspace requires %s", req)
	}

	want(t, e.send(w.token, contact(1), "one"), 202, "")
	want(t, e.send(w.token, contact(2), "two"), 202, "")
	r = e.do("GET", "/v1/sms", w.token, nil)
	sms := r.json(t)
	checkSchema(t, "SMS", openAPISchema(t, "SMS"), sms)
	q := sms["quota"].(map[string]any)
	daily := q["daily"].(map[string]any)
	paris, _ := time.LoadLocation("Europe/Paris")
	today := time.Now().In(paris)
	if q["time_zone"] != "Europe/Paris" || daily["limit"] != 3.0 || daily["used"] != 2.0 || daily["remaining"] != 1.0 ||
		daily["period_start"] != today.Format(time.DateOnly) || q["monthly"].(map[string]any)["used"] != 2.0 {
		t.Fatalf("GET /v1/sms quota: %s", r.body)
	}
	resets, err := time.Parse(time.RFC3339, daily["resets_at"].(string))
	if y, m, d := today.AddDate(0, 0, 1).Date(); err != nil || !resets.Equal(time.Date(y, m, d, 0, 0, 0, 0, paris)) {
		t.Fatalf("resets_at %v (%v), want the next midnight in Paris", daily["resets_at"], err)
	}
	r = e.do("GET", "/v1/usage", w.token, nil)
	want(t, r, 200, "")
	if u := r.json(t)["quota"].(map[string]any)["daily"].(map[string]any); u["used"] != 2.0 {
		t.Fatalf("GET /v1/usage quota: %s", r.body)
	}
	checkSchema(t, "Usage", openAPISchema(t, "Usage"), r.json(t))
	if r := e.do("GET", "/admin/v1/usage", opToken, nil); r.json(t)["quota"] != nil || !strings.Contains(string(r.body), `"quota":null`) {
		t.Fatalf("the operator's usage has a quota: %s", r.body)
	}

	// The batch route: the item that fits goes, the rest are refused.
	r = e.do("POST", "/v1/messages/batch", w.token, map[string]any{"messages": []any{
		map[string]any{"to": "nonsense", "text": "bad recipient, not counted"},
		map[string]any{"to": contact(3), "text": "three"},
		map[string]any{"to": contact(4), "text": "four"},
		map[string]any{"to": contact(5), "text": "five"},
	}})
	want(t, r, 200, "")
	var a batchAnswer
	json.Unmarshal(r.body, &a)
	if len(a.Results) != 4 || a.Results[0].Status != 422 || a.Results[1].Status != 202 ||
		a.Results[2].Status != 429 || a.Results[2].code() != "quota_exceeded" || a.Results[3].code() != "quota_exceeded" {
		t.Fatalf("batch: %s", r.body)
	}
	var item struct {
		Code  string
		Quota map[string]any
	}
	json.Unmarshal(a.Results[2].Error, &item)
	if item.Quota["cap"] != "daily" || item.Quota["limit"] != 3.0 || item.Quota["used"] != 3.0 || item.Quota["segments"] != 1.0 ||
		item.Quota["resets_at"] != daily["resets_at"] {
		t.Fatalf("batch item error: %s", a.Results[2].Error)
	}
	detail := resolve(t, openAPISchema(t, "Error")["properties"].(map[string]any)["error"].(map[string]any))
	props := detail["properties"].(map[string]any)
	if fmt.Sprint(props["code"].(map[string]any)["enum"]) == "" || !strings.Contains(fmt.Sprint(props["code"].(map[string]any)["enum"]), "quota_exceeded") {
		t.Fatal("openapi.json: ErrorDetail.code does not list quota_exceeded")
	}
	checkSchema(t, "QuotaExceeded", resolve(t, props["quota"].(map[string]any)["allOf"].([]any)[0].(map[string]any)), item.Quota)

	// The single route: 429 with Retry-After until the day ends.
	r = e.send(w.token, contact(6), "six")
	want(t, r, http.StatusTooManyRequests, "quota_exceeded")
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if left := time.Until(resets).Seconds(); err != nil || secs < 1 || float64(secs) < left-5 || float64(secs) > left+5 {
		t.Fatalf("Retry-After %q, want about %.0f", r.header.Get("Retry-After"), left)
	}
	if qe := r.json(t)["error"].(map[string]any)["quota"].(map[string]any); qe["cap"] != "daily" || qe["used"] != 3.0 {
		t.Fatalf("429: %s", r.body)
	}
	// Another workspace is not held back.
	want(t, e.send(other.token, contact(6), "other"), 202, "")

	// The cap removed: sending goes on, nothing is counted.
	r = e.do("PATCH", path, opToken, map[string]any{"daily_segment_cap": nil, "monthly_segment_cap": nil})
	want(t, r, 200, "")
	if v := r.json(t); v["daily_segment_cap"] != nil || v["monthly_segment_cap"] != nil || v["time_zone"] != "Europe/Paris" {
		t.Fatalf("removed: %s", r.body)
	}
	want(t, e.send(w.token, contact(6), "six"), 202, "")
	if q := e.do("GET", "/v1/sms", w.token, nil).json(t)["quota"].(map[string]any); q["daily"] != nil || q["monthly"] != nil {
		t.Fatalf("after removal: %v", q)
	}
}

// TestQuotaEventStream: the event stream carries quota.threshold at 80 %
// and at 100 %, once each, to any token of the workspace (a settings-only
// token too, which gets no message events).
func TestQuotaEventStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	_, setTok := e.issue(w.id, "settings only", "settings")
	settings := e.openStream(t, setTok, "")
	all := e.openStream(t, w.token, "")
	for _, s := range []*stream{settings, all} {
		if ev := s.next(5 * time.Second); ev.event != "ready" {
			t.Fatalf("first event %q", ev.event)
		}
	}
	ws := fmt.Sprintf("/admin/v1/workspaces/%d", w.id)
	want(t, e.do("PATCH", ws, opToken, map[string]any{"monthly_segment_cap": 5}), 200, "")
	for i := range 7 {
		r := e.send(w.token, contact(i), "hi")
		if i < 5 {
			want(t, r, 202, "")
		} else {
			want(t, r, 429, "quota_exceeded")
		}
	}
	want(t, e.do("PATCH", ws, opToken, map[string]any{"monthly_segment_cap": nil}), 200, "")
	want(t, e.send(w.token, contact(9), "after"), 202, "")

	schema := openAPISchema(t, "QuotaThresholdEvent")
	check := func(ev sse, threshold float64) {
		t.Helper()
		if ev.event != "quota.threshold" || ev.data["cap"] != "monthly" || ev.data["threshold"] != threshold ||
			ev.data["limit"] != 5.0 || ev.data["used"] != threshold/20 {
			t.Fatalf("event %s %v", ev.event, ev.data)
		}
		checkSchema(t, "QuotaThresholdEvent", schema, ev.data)
	}
	check(settings.next(10*time.Second), 80)
	check(settings.next(10*time.Second), 100)
	// The whole stream up to the message sent after: the two quota events
	// between the messages that reached the thresholds, no more.
	var got []string
	for {
		ev := all.next(10 * time.Second)
		if ev.event == "quota.threshold" {
			got = append(got, fmt.Sprint(ev.data["threshold"]))
		} else {
			got = append(got, fmt.Sprint(ev.data["text"]))
		}
		if ev.data["text"] == "after" {
			break
		}
	}
	if fmt.Sprint(got) != "[hi hi hi hi 80 hi 100 after]" {
		t.Fatalf("stream %v", got)
	}
}
