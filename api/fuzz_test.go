package api

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/webhook"
)

// FuzzRequestBodies feeds arbitrary bytes to the strict JSON decoding of
// every request body and to the checks of POST /v1/messages (text,
// send_at, validity: what runs before anything reaches the store). Nothing may panic; every refusal must
// be an API error with a status, never a bare error that would become a 500.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"to":"+447911123456","text":"hello","client_ref":"r1"}`,
		`{"to":"+447911123456","text":"\ud83d\ude00 emoji","from":"+14155552671"}`,
		`{"to":"x","text":"\ud800"}`,
		`{"name":"acme","sms_addon":true}`,
		`{"sms_addon":false}`,
		`{"number":"+14155552671","kind":"dedicated","workspace":"12","carrier":"sim","class":"dedicated"}`,
		`{"url":"https://example.com/hook","description":"crm","event_types":["message.status","number.*"]}`,
		`{"url":null,"enabled":false,"event_types":[]}`,
		`{"to":"+447911123456","text":"later","send_at":"2030-01-02T09:00:00Z","validity":3600}`,
		`{"to":"+447911123456","text":"x","send_at":"2030-01-02T09:00:00.123+05:30","validity":"60"}`,
		`{"to":"+447911123456","text":"x","send_at":"9999-99-99T99:99:99Z","validity":1e400}`,
		`{"to":"+447911123456","text":"x","send_at":null,"validity":-0.5}`,
		`{"to":"+447911123456","text":"It’s “fine”…","smart_encoding":true}`,
		`{"to":"+447911123456","text":"x","smart_encoding":"yes"}`,
		`{"smart_encoding":true}`,
		`{"to":1}`, `[]`, `{"to":"a"} trailing`, `{"text":"` + "\xff" + `"}`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("decode error %T %v is not an API error", err, err)
			}
		}
		o, err := parseOutgoing(body, false)
		check(err)
		smart, serr := parseOutgoing(body, true)
		check(serr)
		if (err == nil) != (serr == nil) || (err == nil && (smart.segments > o.segments || (!smart.smart.Applied && smart.text != o.text))) {
			t.Fatalf("smart encoding: %d segments (%v), without %d (%v)", smart.segments, serr, o.segments, err)
		}
		if err == nil && (o.validity < 0 || o.sendAt.After(time.Now().Add(inbox.MaxScheduleAhead))) {
			t.Fatalf("accepted validity %v, send_at %v", o.validity, o.sendAt)
		}
		check(decodeStrict(body, &createWorkspaceRequest{}, false))
		check(decodeStrict(body, &patchWorkspaceRequest{}, false))
		check(decodeStrict(body, &addNumberRequest{}, false))
		var hook createWebhookRequest
		if err := decodeStrict(body, &hook, false); err == nil {
			inbox.CheckWebhookURL(hook.URL)
			(&webhook.Guard{}).CheckURL(hook.URL)
		} else {
			check(err)
		}
		check(decodeStrict(body, &patchWebhookRequest{}, false))
		check(decodeStrict(body, &addOptOutRequest{}, false))
		var kw putKeywordsRequest
		if err := decodeStrict(body, &kw, false); err == nil && kw.Replies != nil && kw.Replies.Help != nil {
			_, err := replyOf(*kw.Replies.Help)
			check(err)
		} else {
			check(err)
		}
	})
}

// FuzzUsageQuery feeds arbitrary query strings and Accept headers to the
// parsing of GET /v1/usage and /admin/v1/usage: no panic, and every
// refusal an API error.
func FuzzUsageQuery(f *testing.F) {
	for _, s := range [][2]string{
		{"from=2025-01-01&to=2025-12-31&granularity=month", "text/csv"},
		{"granularity=day", "application/json, text/csv;q=0.5"},
		{"from=2025-13-01", "text/csv;q=abc"}, {"to=0001-01-01", ""}, {"workspace=12", "*/*"}, {"%zz", ";;"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, query, accept string) {
		for _, a := range []access{workspace, operator} {
			r, err := http.NewRequest("GET", "/v1/usage", nil)
			if err != nil {
				t.Fatal(err)
			}
			r.URL.RawQuery = query
			r.Header.Set("Accept", accept)
			c := &call{r: r, route: &route{access: a}, ws: 1}
			if _, err := c.usageQuery(); err != nil {
				var ae *apiError
				if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
					t.Fatalf("query %q: %v", query, err)
				}
			}
			wantsCSV(r)
		}
	})
}

// FuzzQuotaPatch feeds arbitrary bodies to the quota fields of PATCH
// /admin/v1/workspaces/{id}: each is refused with an API error (400), or
// becomes a patch the store takes: a cap of 0 (null: none) or 1 to
// inbox.MaxSegmentCap, a time zone Go's time.LoadLocation knows.
func FuzzQuotaPatch(f *testing.F) {
	for _, s := range []string{
		`{"time_zone":"America/New_York","daily_segment_cap":20000,"monthly_segment_cap":null}`,
		`{"daily_segment_cap":0}`, `{"monthly_segment_cap":-1}`, `{"daily_segment_cap":1.5}`, `{"daily_segment_cap":"5"}`,
		`{"daily_segment_cap":1e3}`, `{"daily_segment_cap":1000000000000}`, `{"daily_segment_cap":1000000000001}`,
		`{"daily_segment_cap":99999999999999999999999}`, `{"time_zone":"Local"}`, `{"time_zone":""}`,
		`{"time_zone":" UTC"}`, `{"time_zone":"../../etc/passwd"}`, `{"time_zone":"/etc/localtime"}`,
		`{"time_zone":null,"daily_segment_cap":null}`, `{"time_zone":"Etc/GMT+12"}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		isAPIError := func(err error) {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
				t.Fatalf("%T %v is not a 400 API error", err, err)
			}
		}
		var req patchWorkspaceRequest
		if err := decodeStrict(body, &req, false); err != nil {
			isAPIError(err)
			return
		}
		p, any, err := quotaPatch(req.TimeZone, req.DailySegmentCap, req.MonthlySegmentCap)
		if err != nil {
			isAPIError(err)
			return
		}
		if any != (p.TimeZone != nil || p.DailyCap != nil || p.MonthlyCap != nil) {
			t.Fatalf("quota change %v for %+v", any, p)
		}
		for _, c := range []*int64{p.DailyCap, p.MonthlyCap} {
			if c != nil && (*c < 0 || *c > inbox.MaxSegmentCap) {
				t.Fatalf("cap %d passed on", *c)
			}
		}
		if p.TimeZone != nil {
			if _, err := time.LoadLocation(*p.TimeZone); err != nil || *p.TimeZone == "" || *p.TimeZone == "Local" {
				t.Fatalf("time zone %q passed on (%v)", *p.TimeZone, err)
			}
		}
	})
}
