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

// facts is one row of the late rule's table: a number of rate 10
// segments/s (class c) unless said, a dedicated rate of 100, a carrier
// account of 20 segments/s, and a window of one minute.
type facts struct {
	rate, carrier        float64 // -1: unknown
	queued               int     // segments (and messages) queued
	oldest               time.Duration
	p95                  time.Duration
	hourSegs, throttled  int
	disabled             bool
	binds                string // "up", "down" or "" (unknown)
	backlog              time.Duration
	num, own, acct, nums int // during the backlog
	winNum, winOwn       int // over the window
	winAcct, winNums     int
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func (f facts) late() api.LateFacts {
	lf := api.LateFacts{Rate: 10, DedicatedRate: 100, CarrierRate: 20, Disabled: f.disabled, Now: now,
		Stats: inbox.SendingStats{QueuedMessages: f.queued, QueuedSegments: f.queued, CarrierThrottled: f.throttled,
			Submitted: f.hourSegs, SubmittedSegments: f.hourSegs, WaitP50: f.p95 / 2, WaitP95: f.p95},
		Recent: inbox.RecentSending{Backlog: f.backlog, NumberSegments: f.num, OwnSegments: f.own, AccountSegments: f.acct,
			AccountNumbers: f.nums, WindowNumberSegments: f.winNum, WindowOwnSegments: f.winOwn,
			WindowAccountSegments: f.winAcct, WindowAccountNumbers: f.winNums}}
	if f.rate != 0 {
		lf.Rate = max(f.rate, 0)
	}
	if f.carrier != 0 {
		lf.CarrierRate = max(f.carrier, 0)
	}
	if f.queued > 0 {
		lf.Stats.OldestQueued = now.Add(-f.oldest)
	}
	if f.binds != "" {
		up := f.binds == "up"
		lf.BindsUp = &up
	}
	return lf
}

// TestLateRule: the cause and advice of GET /v1/sms's sending report, for
// every cause on both sides of its boundaries (see late.go).
func TestLateRule(t *testing.T) {
	t.Parallel()
	s := time.Second
	for _, c := range []struct {
		name   string
		in     facts
		cause  string
		advice []string
	}{
		// Late or not.
		{"not late", facts{queued: 19, oldest: 1900 * time.Millisecond, p95: 1999 * time.Millisecond, hourSegs: 100}, "", nil},
		{"late: the queue needs 2 s", facts{queued: 20}, "number_rate",
			[]string{"own rate: 10 segments/s (rate class c); your 20 queued segments need about 2.0 s to go out.",
				"Use a dedicated local number for higher throughput: it sends 100 segments/s (10 times faster)."}},
		{"late: the oldest waited 2 s", facts{queued: 1, oldest: 2 * s}, "engine",
			[]string{"oldest queued message has waited 2.0 s, longer than this number's rate explains (1 queued segment needs about 0.1 s at 10 segments/s)", "the number sent 0 segments/s, 0 % of its rate",
				"carrier account was not busy (0 % of its 20 segments/s in use): no rate held them back. The wait is in the engine itself"}},
		{"rates unknown", facts{rate: -1, queued: 1000, oldest: time.Minute, p95: time.Minute, backlog: time.Minute}, "", nil},

		// Before any measurement: the workspace's own state, binds, carrier.
		{"disabled with a queue", facts{disabled: true, queued: 30, oldest: time.Minute, backlog: time.Minute, acct: 1200, nums: 5},
			"other", []string{"disabled in your workspace: your 30 messages queued on it wait until you enable it"}},
		{"disabled, nothing queued", facts{disabled: true, p95: 20 * s, hourSegs: 5}, "other", []string{"status history"}},
		{"no bind up", facts{binds: "down", queued: 3, oldest: 5 * s, backlog: 5 * s}, "engine",
			[]string{"No connection (bind) to this number's carrier is up: your 3 messages queued on it wait until one is"}},
		{"no bind up, nothing queued", facts{binds: "down", p95: 3 * s, hourSegs: 30}, "number_rate", []string{"last hour came faster"}},
		{"carrier throttling", facts{queued: 30, oldest: 10 * s, throttled: 3, backlog: 10 * s, num: 40, acct: 200, nums: 5},
			"carrier", []string{"carrier answered \"throttled\""}},

		// Measured over the backlog (rate × backlog ≥ 10 segments).
		{"account shared with other numbers", facts{queued: 100, oldest: 10 * s, backlog: 10 * s, num: 40, own: 40, acct: 200, nums: 5},
			"account_share", []string{
				"While your messages waited (10 s of the last minute), this number sent 4 segments/s, 40 % of its own rate of 10 segments/s (rate class c)",
				"sends at most 20 segments/s for all its numbers, was in use at 100 % (20 segments/s)",
				"shared with 4 other numbers, yours or other workspaces': this number got 20 % of the account's traffic, the others 80 %",
				"A faster number class would not help", "raise the account's rate (TPS)"}},
		{"account at 90 %", facts{queued: 100, oldest: 10 * s, backlog: 10 * s, num: 40, own: 40, acct: 180, nums: 5},
			"account_share", []string{"in use at 90 %"}},
		{"account at 89.5 %: engine", facts{queued: 100, oldest: 10 * s, backlog: 10 * s, num: 40, own: 40, acct: 179, nums: 5},
			"engine", []string{"this number sent only 4 segments/s, 40 % of its rate of 10 segments/s",
				"carrier account was not busy (89.5 % of its 20 segments/s in use)", "in the engine itself"}},
		{"account and number both at their rates", facts{queued: 100, oldest: 10 * s, backlog: 10 * s, num: 100, own: 100, acct: 200, nums: 2},
			"account_share", []string{"this number got 50 %", "also sent at its own rate"}},
		{"account used by this number alone", facts{carrier: 5, queued: 100, oldest: 10 * s, backlog: 10 * s, num: 50, own: 50, acct: 50, nums: 1},
			"account_share", []string{"all of it by this number"}},
		{"number at 90 %", facts{queued: 100, oldest: 10 * s, backlog: 10 * s, num: 90, own: 90, acct: 100, nums: 3},
			"number_rate", []string{"Messages wait for this number's own rate: 10 segments/s (rate class c). While your messages waited (10 s of the last minute), the number sent 9 segments/s, 90 % of that rate, and its carrier account had room (50 % of its 20 segments/s in use). Your 100 queued segments need about 10 s to go out.",
				"Use a dedicated local number"}},
		{"number at 89 %: engine", facts{queued: 100, oldest: 10 * s, backlog: 10 * s, num: 89, own: 89, acct: 100, nums: 3},
			"engine", []string{"sent only 8.9 segments/s, 89 % of its rate"}},
		{"shared number busy with other workspaces", facts{p95: 8 * s, hourSegs: 30, backlog: 20 * s, num: 200, own: 60, acct: 200, nums: 1},
			"number_rate", []string{"(30 % of it yours: other workspaces share this number)"}},
		{"account rate unknown, number at its rate", facts{carrier: -1, queued: 100, oldest: 10 * s, backlog: 10 * s, num: 100, own: 100},
			"number_rate", []string{"100 % of that rate. Your 100 queued"}},
		{"account rate unknown, number below its rate", facts{carrier: -1, queued: 100, oldest: 10 * s, backlog: 10 * s, num: 40, own: 40},
			"engine", []string{"40 % of its rate of 10 segments/s; the carrier account's rate is not known here, so the account cannot be ruled out."}},
		{"engine with a bind up", facts{binds: "up", queued: 50, oldest: 30 * s, backlog: 30 * s, num: 30, own: 30, acct: 30, nums: 1},
			"engine", []string{"1 segment/s, 10 % of its rate", "a connection (bind) to the carrier is up"}},
		{"slow number: 10 s measured", facts{rate: 1, queued: 5, oldest: 10 * s, backlog: 10 * s, num: 1, own: 1, acct: 1, nums: 1},
			"engine", []string{"While your messages waited (10 s of the last minute), this number sent only 0.1 segments/s"}},
		{"slow number: 9.9 s not measured yet", facts{rate: 1, queued: 5, oldest: 9900 * time.Millisecond, backlog: 9900 * time.Millisecond, num: 1, own: 1, acct: 1, nums: 1},
			"number_rate", []string{"own rate: 1 segment/s (rate class c); your 5 queued segments need about 5.0 s to go out."}},
		{"already dedicated", facts{rate: 100, carrier: 1000, queued: 1000, oldest: 10 * s, backlog: 10 * s, num: 1000, own: 1000, acct: 1000, nums: 1},
			"number_rate", []string{"spread your sending"}},

		// A queue too fresh to measure: the whole window.
		{"fresh queue, account busy over the window", facts{queued: 50, winNum: 0, winAcct: 1080, winNums: 4},
			"account_share", []string{"Over the last minute, this number sent 0 segments/s",
				"was in use at 90 % (18 segments/s), shared with 4 other numbers", "Your 50 queued segments wait for their share."}},
		{"fresh queue, account at 89.9 % over the window", facts{queued: 50, winAcct: 1079, winNums: 4},
			"number_rate", []string{"your 50 queued segments need about 5.0 s"}},
		{"fresh queue, number busy over the window", facts{queued: 50, winNum: 540, winOwn: 54, winAcct: 600, winNums: 2},
			"number_rate", []string{"Over the last minute the number sent 9 segments/s, 90 % of that rate (10 % of it yours",
				"carrier account had room (50 % of its 20 segments/s in use); your 50 queued segments need about 5.0 s"}},
		{"fresh queue, account slower than the number", facts{carrier: 5, queued: 50}, "account_share",
			[]string{"sends at most 5 segments/s for all its numbers, less than this number's own rate of 10 segments/s"}},

		// Nothing measurable waits now.
		{"past waits explained by the traffic", facts{rate: 1, p95: 20 * s, hourSegs: 20}, "number_rate",
			[]string{"your 20 segments of the last hour came faster than that, so 5% of them waited 20 s or more"}},
		{"past waits the traffic cannot explain", facts{rate: 1, p95: 20 * s, hourSegs: 19}, "other",
			[]string{"earlier than the last minute", "status history"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := api.ExplainLate(c.in.late())
			cause, advice := "", ""
			if v.Cause != nil {
				cause, advice = *v.Cause, *v.Advice
			}
			if cause != c.cause {
				t.Fatalf("cause %q (advice %q), want %q", cause, advice, c.cause)
			}
			for _, a := range c.advice {
				if !strings.Contains(advice, a) {
					t.Fatalf("advice %q\nwant it to contain %q", advice, a)
				}
			}
			if (cause == "") != (advice == "") {
				t.Fatalf("cause %q advice %q", cause, advice)
			}
		})
	}
}

// TestLateMeasured: the report carries the measurements the rule used, as
// rates and shares of the limits.
func TestLateMeasured(t *testing.T) {
	t.Parallel()
	up := true
	lf := facts{queued: 100, oldest: 10 * time.Second, backlog: 10 * time.Second, num: 40, own: 30, acct: 200, nums: 5,
		winNum: 120, winOwn: 90, winAcct: 600, winNums: 6}.late()
	lf.BindsUp = &up
	b, err := json.Marshal(api.ExplainLate(lf))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Cause    string
		Measured map[string]any
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	m, _ := json.Marshal(v.Measured)
	want := `{"account":{"numbers":5,"rate":20,"segments":200,"tps":20,"used":1,"window_numbers":6,"window_rate":10,"window_segments":600,"window_used":0.5},` +
		`"backlog_seconds":10,"binds_up":true,` +
		`"number":{"own_segments":30,"rate":4,"segments":40,"used":0.4,"window_own_segments":90,"window_rate":2,"window_segments":120,"window_used":0.2},` +
		`"window_seconds":60}`
	if v.Cause != "account_share" || string(m) != want {
		t.Fatalf("cause %s measured\n%s\nwant\n%s", v.Cause, m, want)
	}
	// No backlog: no rate over it; unknown limits: no shares.
	lf = facts{rate: -1, carrier: -1, winNum: 6}.late()
	b, _ = json.Marshal(api.ExplainLate(lf))
	json.Unmarshal(b, &v)
	m, _ = json.Marshal(v.Measured)
	want = `{"account":{"numbers":0,"rate":null,"segments":0,"tps":null,"used":null,"window_numbers":0,"window_rate":0,"window_segments":0,"window_used":null},` +
		`"backlog_seconds":0,"binds_up":null,` +
		`"number":{"own_segments":0,"rate":null,"segments":0,"used":null,"window_own_segments":0,"window_rate":0.1,"window_segments":6,"window_used":null},` +
		`"window_seconds":60}`
	if string(m) != want {
		t.Fatalf("measured\n%s\nwant\n%s", m, want)
	}
}

// TestSendingReportMeasured: the case that made the answer measured. A
// tenant's shared number (10 segments/s) and four other workspaces'
// numbers share a carrier account of 20 segments/s: the account is full,
// the tenant's number got a fifth of it, and GET /v1/sms says so with the
// numbers, instead of blaming the number's own rate. The data is written
// as the dispatcher would leave it (claimed, submitted), then its times are
// set: the tenant's 80 messages were accepted together 22 s ago and went
// out at 4/s from 20 s ago; the others sent 4/s each for the last 40 s.
func TestSendingReportMeasured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) {
		c.Rates = map[string]float64{"shared": 10, "dedicated": 100}
		c.CarrierRates = map[string]float64{"carrier-a": 20}
		c.BindsUp = func(carrier string) bool { return carrier == "carrier-a" }
	})
	w := e.workspace("w", true)
	n := e.shared()
	want(t, e.do("PUT", "/v1/sms/number", w.token, map[string]string{"number": n.E164}), http.StatusOK, "")
	var reqs []inbox.OutboundRequest
	for i := range 80 {
		reqs = append(reqs, inbox.OutboundRequest{Workspace: w.id, To: contact(i), Body: "hi", Encoding: "gsm7", Segments: 1})
	}
	for k := range 4 {
		o := e.ready(fmt.Sprint("other", k))
		for i := range 160 {
			reqs = append(reqs, inbox.OutboundRequest{Workspace: o.id, To: contact(1000*(k+1) + i), Body: "hi", Encoding: "gsm7", Segments: 1})
		}
	}
	res, err := e.store.Enqueue(e.ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	claimed, err := e.store.Claim(e.ctx, "test", len(reqs), time.Minute)
	if err != nil || len(claimed) != len(reqs) {
		t.Fatalf("claimed %d of %d: %v", len(claimed), len(reqs), err)
	}
	var rs []inbox.SubmitResult
	for i, c := range claimed {
		rs = append(rs, inbox.SubmitResult{Message: c.ID, Outcome: inbox.SubmitOK, CarrierMessageID: fmt.Sprint("id", i)})
	}
	if _, err := e.store.RecordSubmits(e.ctx, rs); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(e.ctx, `
		WITH o AS (SELECT id, workspace_id, row_number() OVER (PARTITION BY number_id ORDER BY id) - 1 AS i FROM messages)
		UPDATE messages m SET
		    submitted_at = CASE WHEN o.workspace_id = $1 THEN now() - interval '20 s' + o.i * interval '250 ms'
		                        ELSE now() - o.i * interval '250 ms' - interval '100 ms' END,
		    created_at = CASE WHEN o.workspace_id = $1 THEN now() - interval '22 s'
		                      ELSE now() - o.i * interval '250 ms' - interval '200 ms' END
		FROM o WHERE o.id = m.id`, w.id); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/v1/sms", w.token, nil)
	want(t, r, http.StatusOK, "")
	var v struct {
		Numbers []struct {
			Sending struct {
				Cause, Advice string
				Measured      struct {
					Window  float64 `json:"window_seconds"`
					Backlog float64 `json:"backlog_seconds"`
					Number  struct {
						Segments int
						Own      int `json:"own_segments"`
						Used     float64
					}
					Account struct {
						TPS      float64
						Segments int
						Numbers  int
						Used     float64
					}
					BindsUp *bool `json:"binds_up"`
				}
			}
		}
	}
	if err := json.Unmarshal(r.body, &v); err != nil || len(v.Numbers) != 1 {
		t.Fatalf("%v: %s", err, r.body)
	}
	sv := v.Numbers[0].Sending
	m := sv.Measured
	// The backlog is [22 s ago, 0.25 s ago]: the number sent its 80, each
	// other number 87 (those 0.35 s to 21.85 s ago).
	if sv.Cause != "account_share" || m.Window != 60 || m.Backlog != 21.75 || m.Number.Segments != 80 || m.Number.Own != 80 ||
		m.Account.TPS != 20 || m.Account.Segments != 80+4*87 || m.Account.Numbers != 5 || m.Account.Used < 0.9 ||
		m.Number.Used > 0.5 || m.BindsUp == nil || !*m.BindsUp {
		t.Fatalf("report: %s", r.body)
	}
	for _, a := range []string{"this number sent 3.7 segments/s, 37 % of its own rate of 10 segments/s",
		"was in use at 98 % (19.7 segments/s), shared with 4 other numbers", "this number got 19 %",
		"A faster number class would not help"} {
		if !strings.Contains(sv.Advice, a) {
			t.Fatalf("advice %q without %q", sv.Advice, a)
		}
	}
}
