package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// End-to-end tests of tenant self-service (issue 9): custom number
// requests, "why is my SMS late", number self-tests and unrouted messages,
// each against a real engine, Postgres, Redis and the carrier simulator.
// Token scopes with the token CLI, and the self-test across engine
// processes, are tested in cmd/switchboard.

func withOperator(mod func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.Operator.Token = testenv.OperatorToken
		if mod != nil {
			mod(c)
		}
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	event string
	data  map[string]any
}

// openEvents opens GET /v1/events and returns its events.
func openEvents(t *testing.T, base, token string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("events: %v %v", res, err)
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer res.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "" && ev.event != "":
				out <- ev
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(line[6:]), &ev.data)
			}
		}
	}()
	if ev := nextEvent(t, out, ""); ev.event != "ready" {
		t.Fatalf("first event %+v", ev)
	}
	return out
}

// nextEvent returns the next event named kind ("" for any).
func nextEvent(t *testing.T, evs <-chan sseEvent, kind string) sseEvent {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if kind == "" || ev.event == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %q event within 15 s", kind)
		}
	}
}

// Custom number requests: one is fulfilled (a number is dedicated to the
// workspace, which is told on its event stream, connects it and sends from
// it), another is declined with a reason.
func TestSelfServiceNumberRequests(t *testing.T) {
	t.Parallel()
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}}]`)
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), withOperator(nil)))
	ws, tok := testenv.TenantOf(t, te.url, "acme")
	evs := openEvents(t, te.url, tok)

	q := testenv.Expect(t, testenv.Call(t, te.url, "POST", "/v1/sms/number-requests", tok, map[string]any{"country": "US", "area_code": "415", "note": "Acme Bakery, SF"}), 201).Obj(t)
	if ev := nextEvent(t, evs, "number_request.status"); ev.data["id"] != q["id"] || ev.data["status"] != "open" {
		t.Fatalf("event %+v", ev)
	}
	q2 := testenv.Expect(t, testenv.Call(t, te.url, "POST", "/v1/sms/number-requests", tok, map[string]any{"country": "GB"}), 201).Obj(t)
	nextEvent(t, evs, "number_request.status")

	var open struct{ Requests []map[string]any }
	json.Unmarshal(testenv.Expect(t, testenv.Call(t, te.url, "GET", "/admin/v1/number-requests", testenv.OperatorToken, nil), 200).Body, &open)
	if len(open.Requests) != 2 || open.Requests[0]["workspace"] != ws || open.Requests[0]["area_code"] != "415" {
		t.Fatalf("open requests %+v", open.Requests)
	}

	// Fulfilled with a number the carrier gave us: added, dedicated.
	num := "+14155550142"
	f := testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/number-requests/"+q["id"].(string)+"/fulfil", testenv.OperatorToken,
		map[string]any{"number": num, "carrier": "sim"}), 200).Obj(t)
	if f["number"].(map[string]any)["rate_class"] != "dedicated" {
		t.Fatalf("fulfil %v", f)
	}
	ev := nextEvent(t, evs, "number_request.status")
	if ev.data["status"] != "fulfilled" || ev.data["number"] != num {
		t.Fatalf("fulfilled event %+v", ev)
	}
	if v := testenv.Expect(t, testenv.Call(t, te.url, "GET", "/v1/sms/number-requests/"+q["id"].(string), tok, nil), 200).Obj(t); v["status"] != "fulfilled" || v["number"] != num {
		t.Fatalf("request state %v", v)
	}
	nums := testenv.Expect(t, testenv.Call(t, te.url, "GET", "/v1/sms/numbers", tok, nil), 200)
	if !strings.Contains(string(nums.Body), `"number":"`+num+`","kind":"dedicated","rate_class":"dedicated","state":"available"`) {
		t.Fatalf("numbers %s", nums.Body)
	}
	testenv.Expect(t, testenv.Call(t, te.url, "PUT", "/v1/sms/number", tok, map[string]any{"number": num}), 200)
	testenv.Expect(t, testenv.Call(t, te.url, "POST", "/v1/messages", tok, map[string]any{"to": "+447911123456", "text": "from our own number"}), 202)
	if ev := nextEvent(t, evs, "message.status"); ev.data["from"] != num {
		t.Fatalf("message event %+v", ev)
	}

	// Declined, with the reason shown to the workspace.
	testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/number-requests/"+q2["id"].(string)+"/decline", testenv.OperatorToken,
		map[string]any{"reason": "no GB numbers available this month"}), 200)
	ev = nextEvent(t, evs, "number_request.status")
	if ev.data["status"] != "declined" || ev.data["decline_reason"] != "no GB numbers available this month" {
		t.Fatalf("declined event %+v", ev)
	}
	v := testenv.Expect(t, testenv.Call(t, te.url, "GET", "/v1/sms/number-requests/"+q2["id"].(string), tok, nil), 200).Obj(t)
	if v["status"] != "declined" || v["number"] != nil {
		t.Fatalf("declined request %v", v)
	}
	testenv.Expect(t, testenv.Call(t, te.url, "POST", "/v1/sms/number-requests/"+q2["id"].(string)+"/cancel", tok, nil), http.StatusConflict)
	json.Unmarshal(testenv.Expect(t, testenv.Call(t, te.url, "GET", "/admin/v1/number-requests", testenv.OperatorToken, nil), 200).Body, &open)
	if len(open.Requests) != 0 {
		t.Fatalf("still open: %+v", open.Requests)
	}
}

type smsReport struct {
	Numbers []struct {
		Number  string
		Sending struct {
			RateClass string   `json:"rate_class"`
			Rate      *float64 `json:"rate"`
			Queue     struct {
				Messages, Segments int
			}
			Drain    *float64 `json:"drain_seconds"`
			LastHour struct {
				Submitted        int
				P50              *float64 `json:"wait_p50_seconds"`
				P95              *float64 `json:"wait_p95_seconds"`
				CarrierThrottled int      `json:"carrier_throttled"`
			} `json:"last_hour"`
			Cause         *string
			Advice        *string
			DedicatedRate *float64 `json:"dedicated_rate"`
		}
	}
}

func getReport(t *testing.T, base, tok string) smsReport {
	t.Helper()
	var r smsReport
	b := testenv.Expect(t, testenv.Call(t, base, "GET", "/v1/sms", tok, nil), 200).Body
	if err := json.Unmarshal(b, &r); err != nil || len(r.Numbers) != 1 {
		t.Fatalf("GET /v1/sms: %v %s", err, b)
	}
	return r
}

// "My SMS arrives late": on a 1 segment/s shared number with a backlog, the
// answer is the number's own rate, with the rate of a dedicated local
// number; when the carrier throttles, the answer is the carrier.
func TestSelfServiceLateSMS(t *testing.T) {
	t.Parallel()
	t.Run("number rate", func(t *testing.T) {
		t.Parallel()
		sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}}]`)
		te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), withOperator(func(c *config.Config) {
			c.Classes[0].Rate = 1 // shared: 1 segment in any second
		})))
		_, tok := testenv.TenantOf(t, te.url, "acme")
		shared := "+14155552600"
		testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/numbers", testenv.OperatorToken, map[string]any{"number": shared, "kind": "shared", "carrier": "sim"}), 201)
		testenv.Expect(t, testenv.Call(t, te.url, "PUT", "/v1/sms/number", tok, map[string]any{"number": shared}), 200)
		for i := 0; i < 15; i++ {
			testenv.Expect(t, testenv.Call(t, te.url, "POST", "/v1/messages", tok, map[string]any{"to": fmt.Sprintf("+4479111234%02d", i), "text": "order ready"}), 202)
		}
		rep := getReport(t, te.url, tok).Numbers[0].Sending
		t.Logf("backlog: queue %+v drain %v cause %v\nadvice: %v", rep.Queue, *rep.Drain, *rep.Cause, *rep.Advice)
		if rep.RateClass != "shared" || *rep.Rate != 1 || rep.Queue.Messages < 8 || *rep.Drain < 8 || *rep.DedicatedRate != 100 ||
			rep.Cause == nil || *rep.Cause != "number_rate" ||
			!strings.Contains(*rep.Advice, "own rate: 1 segment/s (rate class shared)") ||
			!strings.Contains(*rep.Advice, "Use a dedicated local number for higher throughput: it sends 100 segments/s") {
			t.Fatalf("report %+v", rep)
		}
		// As the backlog drains at 1/s, the waits of the last hour grow.
		var last smsReport
		testenv.Eventually(t, "three messages submitted", func() bool {
			last = getReport(t, te.url, tok)
			return last.Numbers[0].Sending.LastHour.Submitted >= 3
		})
		lh := last.Numbers[0].Sending.LastHour
		if lh.P50 == nil || *lh.P95 < 1 || lh.CarrierThrottled != 0 {
			t.Fatalf("last hour %+v", lh)
		}
	})
	t.Run("carrier", func(t *testing.T) {
		t.Parallel()
		// The carrier allows 2 segments/s per source; the number's class
		// (50/s, under the account's 1000/s) allows far more, so the
		// carrier answers ESME_RTHROTTLED.
		sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}, rate: {source: 2, source_burst: 1}}]`)
		te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), withOperator(func(c *config.Config) {
			c.Engine.RetryMin = config.Duration(200 * time.Millisecond)
			c.Engine.RetryMax = config.Duration(time.Second)
		})))
		_, tok := testenv.TenantOf(t, te.url, "acme")
		shared := "+14155552600"
		testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/numbers", testenv.OperatorToken, map[string]any{"number": shared, "kind": "shared", "carrier": "sim"}), 201)
		testenv.Expect(t, testenv.Call(t, te.url, "PUT", "/v1/sms/number", tok, map[string]any{"number": shared}), 200)
		for i := 0; i < 30; i++ {
			testenv.Expect(t, testenv.Call(t, te.url, "POST", "/v1/messages", tok, map[string]any{"to": fmt.Sprintf("+4479111234%02d", i), "text": "order ready"}), 202)
		}
		var rep smsReport
		testenv.Eventually(t, "the carrier named as the cause", func() bool {
			rep = getReport(t, te.url, tok)
			c := rep.Numbers[0].Sending.Cause
			return c != nil && *c == "carrier"
		})
		s := rep.Numbers[0].Sending
		t.Logf("carrier throttling: queue %+v, submitted in the last hour %d, throttled %d\nadvice: %s", s.Queue, s.LastHour.Submitted,
			s.LastHour.CarrierThrottled, *s.Advice)
		if s.LastHour.CarrierThrottled == 0 || !strings.Contains(*s.Advice, "The carrier answered \"throttled\"") || strings.Contains(*s.Advice, "Use a dedicated") {
			t.Fatalf("report %+v", s)
		}
	})
}

// Number self-test: a number the simulator routes back (a loopback
// number) comes back as a mobile-originated message; one it does not
// times out with a hint; nothing reaches a tenant's threads or the
// unrouted list.
func TestSelfServiceSelfTest(t *testing.T) {
	t.Parallel()
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}, loopback: {numbers: ["+14155550199"], delay: 20ms}}]`)
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), withOperator(nil)))
	ws, _ := testenv.TenantOf(t, te.url, "acme")
	routed, unrouted := "+14155550199", "+14155550188"
	for _, n := range []string{routed, unrouted} {
		testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/numbers", testenv.OperatorToken, map[string]any{"number": n, "kind": "dedicated", "workspace": ws, "carrier": "sim"}), 201)
	}
	probe := "+14155552600"
	testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/numbers", testenv.OperatorToken, map[string]any{"number": probe, "kind": "shared", "carrier": "sim"}), 201)

	v := testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/numbers/%2B"+routed[1:]+"/self-test", testenv.OperatorToken, map[string]any{"timeout_ms": 10000}), 200).Obj(t)
	t.Logf("routed number: result %v, latency %v ms, came back as %v\nhint: %v", v["result"], v["latency_ms"], v["returned_as"], v["hint"])
	if v["result"] != "returned" || v["from"] != probe || v["number_known"] != true || v["latency_ms"] == nil ||
		v["probe"].(map[string]any)["submitted_at"] == nil {
		t.Fatalf("self-test of a routed number: %v", v)
	}

	start := time.Now()
	v = testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/numbers/"+unrouted[1:]+"/self-test", testenv.OperatorToken, map[string]any{"timeout_ms": 3000}), 200).Obj(t)
	t.Logf("unrouted number: result %v after %v\nhint: %v", v["result"], time.Since(start).Round(time.Millisecond), v["hint"])
	if v["result"] != "timed_out" || v["returned_at"] != nil || v["probe"].(map[string]any)["submitted_at"] == nil ||
		!strings.Contains(v["hint"].(string), "does not route this number's inbound traffic") {
		t.Fatalf("self-test of a number the simulator does not route back: %v", v)
	}
	if st := sim.Stats(); st.Loopbacks != 1 {
		t.Fatalf("loopbacks at the simulator: %d", st.Loopbacks)
	}
	var wsID inbox.WorkspaceID
	fmt.Sscan(ws, &wsID)
	threads, _, err := te.store.ListThreads(context.Background(), wsID, inbox.Page{})
	if err != nil || len(threads) != 0 {
		t.Fatalf("the tenant has %d threads (%v)", len(threads), err)
	}
	un, _, err := te.store.ListUnrouted(context.Background(), inbox.Page{})
	if err != nil || len(un) != 0 {
		t.Fatalf("unrouted: %+v %v", un, err)
	}
}

// Unrouted messages grouped by destination: the sign of a number the
// carrier routes to us but Switchboard does not have. Once the number is
// added, its messages are assigned to a workspace's threads and later
// replies land there by themselves.
func TestSelfServiceUnrouted(t *testing.T) {
	t.Parallel()
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}}]`)
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), withOperator(nil)))
	ctx := context.Background()
	ws, tok := testenv.TenantOf(t, te.url, "acme")
	evs := openEvents(t, te.url, tok)
	missing := "+14155550177"
	for _, mo := range []struct{ from, to, text string }{
		{"+447911123401", missing, "are you open today?"},
		{"+447911123402", missing, "hello?"},
		{"+447911123499", "+14155550166", "wrong number"},
		{"+447911123401", missing, "anyone there?"},
	} {
		if _, err := sim.InjectMO(ctx, smscsim.MO{From: mo.from, To: mo.to, Text: mo.text}); err != nil {
			t.Fatal(err)
		}
	}
	var groups struct {
		Destinations []struct {
			To       string
			Messages int
			Contacts int
			Number   map[string]any
		}
	}
	testenv.Eventually(t, "four unrouted messages", func() bool {
		json.Unmarshal(testenv.Expect(t, testenv.Call(t, te.url, "GET", "/admin/v1/unrouted", testenv.OperatorToken, nil), 200).Body, &groups)
		return len(groups.Destinations) == 2 && groups.Destinations[0].Messages+groups.Destinations[1].Messages == 4
	})
	g := groups.Destinations[0]
	if g.To != missing || g.Messages != 3 || g.Contacts != 2 || g.Number != nil {
		t.Fatalf("groups %+v", groups.Destinations)
	}
	testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/unrouted/assign", testenv.OperatorToken, map[string]any{"workspace": ws, "to": missing}), http.StatusConflict)
	testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/numbers", testenv.OperatorToken, map[string]any{"number": missing, "kind": "dedicated", "workspace": ws, "carrier": "sim"}), 201)
	a := testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/unrouted/assign", testenv.OperatorToken, map[string]any{"workspace": ws, "to": missing}), 200).Obj(t)
	if len(a["messages"].([]any)) != 3 || len(a["threads"].([]any)) != 2 {
		t.Fatalf("assigned %v", a)
	}
	if ev := nextEvent(t, evs, "message.received"); ev.data["text"] != "are you open today?" {
		t.Fatalf("first assigned event %+v", ev)
	}
	var wsID inbox.WorkspaceID
	fmt.Sscan(ws, &wsID)
	_, msgs := threadOf(t, te.store, wsID, "+447911123401")
	if len(msgs) != 2 || msgs[0].Body != "are you open today?" || msgs[1].Body != "anyone there?" {
		t.Fatalf("thread %+v", msgs)
	}
	// A later reply lands in the thread by itself.
	if _, err := sim.InjectMO(ctx, smscsim.MO{From: "+447911123401", To: missing, Text: "thanks"}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the reply in the thread", func() bool {
		_, msgs := threadOf(t, te.store, wsID, "+447911123401")
		return len(msgs) == 3
	})
	json.Unmarshal(testenv.Expect(t, testenv.Call(t, te.url, "GET", "/admin/v1/unrouted", testenv.OperatorToken, nil), 200).Body, &groups)
	if len(groups.Destinations) != 1 || groups.Destinations[0].To != "+14155550166" {
		t.Fatalf("groups after the assignment %+v", groups.Destinations)
	}
}
