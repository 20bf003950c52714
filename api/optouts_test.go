package api_test

import (
	"encoding/csv"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOptOutRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("acme")
	other := e.ready("other")
	e.inbound(contact(3), w.num.E164, "Arrêt")

	r := e.do("POST", "/v1/opt-outs", w.token, map[string]any{"contact": "+1 646 200 0001"})
	want(t, r, 201, "")
	if v := r.json(t); v["contact"] != contact(1) || v["opted_out"] != true || v["source"] != "api" || v["changed_at"] == nil {
		t.Fatalf("add %v", v)
	}
	want(t, e.do("POST", "/v1/opt-outs", w.token, map[string]any{"contact": contact(1)}), 200, "")
	want(t, e.send(w.token, contact(1), "promo"), 409, "recipient_opted_out")
	want(t, e.send(other.token, contact(1), "promo"), 202, "") // per workspace

	// The operator's opt-out is recorded as such.
	r = e.do("POST", "/admin/v1/workspaces/"+idOf(w.id)+"/opt-outs", opToken, map[string]any{"contact": contact(2)})
	want(t, r, 201, "")
	if r.json(t)["source"] != "operator" {
		t.Fatalf("operator add %s", r.body)
	}

	var list struct {
		OptOuts    []map[string]any `json:"opt_outs"`
		NextCursor *string          `json:"next_cursor"`
	}
	r = e.do("GET", "/v1/opt-outs?limit=2", w.token, nil)
	want(t, r, 200, "")
	json.Unmarshal(r.body, &list)
	if len(list.OptOuts) != 2 || list.NextCursor == nil || list.OptOuts[0]["contact"] != contact(1) {
		t.Fatalf("page 1 %s", r.body)
	}
	r = e.do("GET", "/v1/opt-outs?limit=2&cursor="+url.QueryEscape(*list.NextCursor), w.token, nil)
	want(t, r, 200, "")
	json.Unmarshal(r.body, &list)
	if len(list.OptOuts) != 1 || list.NextCursor != nil || list.OptOuts[0]["source"] != "keyword" || list.OptOuts[0]["keyword"] != "ARRET" {
		t.Fatalf("page 2 %s", r.body)
	}

	// One contact's state; %2B and + both name it.
	r = e.do("GET", "/v1/opt-outs/"+url.PathEscape(contact(3)), w.token, nil)
	want(t, r, 200, "")
	if v := r.json(t); v["opted_out"] != true || v["source"] != "keyword" {
		t.Fatalf("state %v", v)
	}
	r = e.do("GET", "/v1/opt-outs/"+contact(9), w.token, nil)
	want(t, r, 200, "")
	if v := r.json(t); v["opted_out"] != false || v["source"] != nil || v["changed_at"] != nil {
		t.Fatalf("never opted out %v", v)
	}

	// Remove: opted back in, sending works again.
	r = e.do("DELETE", "/v1/opt-outs/%2B"+contact(1)[1:], w.token, nil)
	want(t, r, 200, "")
	if v := r.json(t); v["opted_out"] != false || v["source"] != "api" {
		t.Fatalf("remove %v", v)
	}
	want(t, e.send(w.token, contact(1), "promo"), 202, "")

	// Bad input: the usual error objects.
	want(t, e.do("POST", "/v1/opt-outs", w.token, map[string]any{"contact": "nope"}), 422, "invalid_recipient")
	want(t, e.do("POST", "/v1/opt-outs", w.token, map[string]any{}), 400, "invalid_request")
	want(t, e.do("POST", "/v1/opt-outs", w.token, map[string]any{"contact": 12}), 400, "invalid_request")
	want(t, e.do("POST", "/v1/opt-outs", w.token, `{"contact":"+16462000001","x":1}`), 400, "invalid_request")
	want(t, e.do("GET", "/v1/opt-outs/abc", w.token, nil), 422, "invalid_recipient")
	want(t, e.do("DELETE", "/v1/opt-outs/abc", w.token, nil), 422, "invalid_recipient")
	want(t, e.do("GET", "/v1/opt-outs?cursor=zzz", w.token, nil), 400, "invalid_cursor")
	want(t, e.do("GET", "/v1/opt-outs?limit=0", w.token, nil), 400, "invalid_request")
	want(t, e.do("GET", "/v1/opt-outs", "", nil), 401, "unauthorized")
	want(t, e.do("GET", "/admin/v1/workspaces/999999/opt-outs", opToken, nil), 404, "not_found")
	want(t, e.do("POST", "/admin/v1/workspaces/999999/opt-outs", opToken, map[string]any{"contact": contact(1)}), 404, "not_found")
	want(t, e.do("GET", "/admin/v1/workspaces/x/opt-outs/"+contact(1), opToken, nil), 404, "not_found")
}

func jsonID(id int64) string { return strconv.FormatInt(id, 10) }

func TestKeywordSettingsRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("acme")

	r := e.do("GET", "/v1/sms/keywords", w.token, nil)
	want(t, r, 200, "")
	var k struct {
		Languages      []string
		CustomKeywords []map[string]string `json:"custom_keywords"`
		Replies        map[string]*string
		Defaults       map[string]map[string][]string `json:"default_keywords"`
	}
	json.Unmarshal(r.body, &k)
	if len(k.Languages) != 8 || len(k.CustomKeywords) != 0 || k.Replies["opt_out"] != nil || len(k.Defaults["sl"]["opt_out"]) == 0 {
		t.Fatalf("defaults %s", r.body)
	}

	r = e.do("PUT", "/v1/sms/keywords", w.token, map[string]any{
		"languages":       []string{"en", "es"},
		"custom_keywords": []map[string]string{{"keyword": "Párate", "action": "opt_out"}, {"keyword": "end", "action": "none"}},
		"replies":         map[string]any{"opt_out": "Dado de baja. Envía ALTA para volver.", "opt_in": nil, "help": "Ayuda: acme.example"},
	})
	want(t, r, 200, "")
	json.Unmarshal(r.body, &k)
	if len(k.Languages) != 2 || len(k.CustomKeywords) != 2 || k.CustomKeywords[1]["keyword"] != "PARATE" ||
		k.Replies["opt_out"] == nil || k.Replies["opt_in"] != nil {
		t.Fatalf("put %s", r.body)
	}
	// The settings act on inbound texts, and the reply is in the thread.
	res := e.inbound(contact(1), w.num.E164, "párate")
	if res.Keyword.String() != "opt_out" || res.Reply == 0 {
		t.Fatalf("inbound %+v", res)
	}
	m := e.do("GET", "/v1/messages/"+jsonID(int64(res.Reply)), w.token, nil)
	want(t, m, 200, "")
	if v := m.json(t); v["text"] != "Dado de baja. Envía ALTA para volver." || v["thread_id"] != jsonID(int64(res.Thread)) {
		t.Fatalf("reply %v", v)
	}
	if res := e.inbound(contact(2), w.num.E164, "END"); res.Keyword.String() != "none" {
		t.Fatalf("END turned off: %+v", res)
	}

	// The operator sees and sets the same.
	r = e.do("GET", "/admin/v1/workspaces/"+idOf(w.id)+"/keywords", opToken, nil)
	want(t, r, 200, "")
	want(t, e.do("PUT", "/admin/v1/workspaces/"+idOf(w.id)+"/keywords", opToken, map[string]any{}), 200, "")
	r = e.do("GET", "/v1/sms/keywords", w.token, nil)
	json.Unmarshal(r.body, &k)
	if len(k.Languages) != 8 || len(k.CustomKeywords) != 0 || k.Replies["opt_out"] != nil {
		t.Fatalf("reset by operator %s", r.body)
	}

	// Bad input.
	want(t, e.do("PUT", "/v1/sms/keywords", w.token, map[string]any{"languages": []string{"xx"}}), 400, "invalid_request")
	want(t, e.do("PUT", "/v1/sms/keywords", w.token, map[string]any{"custom_keywords": []map[string]string{{"keyword": "go", "action": "jump"}}}), 400, "invalid_request")
	want(t, e.do("PUT", "/v1/sms/keywords", w.token, map[string]any{"custom_keywords": []map[string]string{{"keyword": "!!!", "action": "help"}}}), 400, "invalid_request")
	want(t, e.do("PUT", "/v1/sms/keywords", w.token, map[string]any{"replies": map[string]any{"help": strings.Repeat("x", 1600)}}), 422, "message_too_long")
	want(t, e.do("PUT", "/v1/sms/keywords", w.token, map[string]any{"languages": "en"}), 400, "invalid_request")
	want(t, e.do("PUT", "/v1/sms/keywords", w.token, nil), 400, "invalid_request")
	want(t, e.do("PUT", "/admin/v1/workspaces/999999/keywords", opToken, map[string]any{}), 404, "not_found")
	want(t, e.do("GET", "/admin/v1/workspaces/999999/keywords", opToken, nil), 404, "not_found")
	// A messages-only token may read but not change the settings.
	tok := e.do("POST", "/admin/v1/workspaces/"+idOf(w.id)+"/tokens", opToken, map[string]any{"name": "m", "scopes": []string{"messages"}})
	want(t, tok, 201, "")
	mt := tok.json(t)["token"].(string)
	want(t, e.do("GET", "/v1/sms/keywords", mt, nil), 200, "")
	want(t, e.do("PUT", "/v1/sms/keywords", mt, map[string]any{}), 403, "forbidden")
}

func TestUsageRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("acme")
	other := e.ready("other")
	want(t, e.send(w.token, contact(1), "hello"), 202, "")
	want(t, e.send(w.token, contact(2), strings.Repeat("long ", 40)), 202, "") // 2 segments
	want(t, e.send(other.token, contact(1), "hi"), 202, "")
	e.inbound(contact(1), w.num.E164, "thanks")
	e.inbound(contact(1), other.num.E164, "hi")
	// Pending messages are not counted: fail the workspace's two.
	if _, err := e.pool.Exec(e.ctx, `UPDATE messages SET status = 'failed', failed_at = now(), due_at = NULL,
		pending_since = NULL, change_xid = pg_current_xact_id() WHERE workspace_id = $1 AND direction = 'out'`, w.id); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Format("2006-01-02")
	var u struct {
		From, To, Granularity string
		TimeZone              string `json:"time_zone"`
		AsOf                  string `json:"as_of"`
		Rows                  []map[string]any
	}
	// The rollups are folded in the background (the engine's job): none yet.
	r := e.do("GET", "/v1/usage", w.token, nil)
	want(t, r, 200, "")
	json.Unmarshal(r.body, &u)
	if len(u.Rows) != 0 || u.AsOf == "" || r.header.Get("Usage-As-Of") != u.AsOf {
		t.Fatalf("usage before the fold %s %v", r.body, r.header)
	}
	before := u.AsOf
	time.Sleep(1100 * time.Millisecond) // as_of has whole seconds
	if f, err := e.store.FoldUsage(e.ctx); err != nil || f.Busy || f.Messages != 5 {
		t.Fatalf("fold %+v %v", f, err)
	}

	r = e.do("GET", "/v1/usage", w.token, nil)
	want(t, r, 200, "")
	json.Unmarshal(r.body, &u)
	if u.To != today || u.Granularity != "day" || u.TimeZone != "UTC" || len(u.Rows) != 2 || u.AsOf <= before {
		t.Fatalf("usage %s (before the fold: as of %s)", r.body, before)
	}
	if row := u.Rows[1]; row["period"] != today || row["number"] != w.num.E164 || row["direction"] != "out" ||
		row["status"] != "failed" || row["messages"] != 2.0 || row["segments"] != 3.0 || row["workspace"] != nil {
		t.Fatalf("out row %v", row)
	}
	if row := u.Rows[0]; row["direction"] != "in" || row["status"] != "received" || row["messages"] != 1.0 {
		t.Fatalf("in row %v", row)
	}

	// CSV on request, monthly.
	r = e.do("GET", "/v1/usage?granularity=month&from="+today+"&to="+today, w.token, nil, "Accept", "text/csv")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") || r.header.Get("Usage-As-Of") != u.AsOf {
		t.Fatalf("csv %d %s", r.status, r.header)
	}
	recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil || len(recs) != 3 || strings.Join(recs[0], ",") != "period,number,direction,status,messages,segments" ||
		recs[2][0] != today[:8]+"01" || recs[2][5] != "3" {
		t.Fatalf("csv %q %v", recs, err)
	}
	// JSON preferred over CSV: JSON.
	r = e.do("GET", "/v1/usage", w.token, nil, "Accept", "application/json, text/csv;q=0.5")
	want(t, r, 200, "")

	// The operator's view: every workspace, or one.
	r = e.do("GET", "/admin/v1/usage", opToken, nil)
	want(t, r, 200, "")
	json.Unmarshal(r.body, &u)
	if len(u.Rows) != 3 || u.Rows[2]["workspace"] != idOf(other.id) {
		t.Fatalf("admin usage %s", r.body)
	}
	r = e.do("GET", "/admin/v1/usage?workspace="+idOf(other.id), opToken, nil, "Accept", "text/csv")
	recs, _ = csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if len(recs) != 2 || recs[0][0] != "workspace" || recs[1][0] != idOf(other.id) {
		t.Fatalf("admin csv %q", recs)
	}

	// Bad input: 400 with the usual error object, CSV asked for or not.
	for _, q := range []string{"?from=2024-13-01", "?to=yesterday", "?granularity=week", "?from=2025-02-01&to=2025-01-01",
		"?from=2020-01-01&to=2025-01-01", "?from=2025-01-01&to=2025-02-01", "?granularity=month&from=2000-01-01&to=2025-01-01", "?from=0001-01-01"} {
		want(t, e.do("GET", "/v1/usage"+q, w.token, nil, "Accept", "text/csv"), 400, "invalid_request")
	}
	want(t, e.do("GET", "/v1/usage?from=2025-01-01&to=2025-01-31", w.token, nil), 200, "") // 31 days
	want(t, e.do("GET", "/admin/v1/usage?workspace=abc", opToken, nil), 400, "invalid_request")
	want(t, e.do("GET", "/v1/usage", "", nil), 401, "unauthorized")
}
