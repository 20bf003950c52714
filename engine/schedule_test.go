package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smpp"
)

// Scheduled sends through the API against a strict carrier: 2 numbers × 40
// messages due 2 s ahead. Nothing reaches the carrier before send_at; then
// they go out at each number's rate (10 segments in any second, never an
// 11th), not all at once; each carries no validity_period but the one with
// a validity does, and a canceled one never goes out.
func TestE2EScheduledSendsGoOutAtTheirRate(t *testing.T) {
	t.Parallel()
	sim, logPath, te := startTenPerSecond(t, func(c *config.Config) { c.Engine.ReleaseEvery = config.Duration(200 * time.Millisecond) })
	ctx := context.Background()
	s := te.store
	ws, token, err := s.CreateWorkspace(ctx, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	numbers := []string{"+14155552681", "+14155552682"}
	for _, num := range numbers {
		n, err := s.AddNumber(ctx, inbox.NewNumber{E164: num, Kind: inbox.Dedicated, Carrier: "sim", Owner: ws.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConnectNumber(ctx, ws.ID, n.ID); err != nil {
			t.Fatal(err)
		}
	}
	sendAt := time.Now().Add(2 * time.Second).UTC().Truncate(time.Millisecond)
	const perNumber = 40
	var items []any
	for k, num := range numbers {
		for i := range perNumber {
			item := map[string]any{"from": num, "to": fmt.Sprintf("+4479112%02d%03d", 50+k, i),
				"text": fmt.Sprintf("scheduled %d %02d", k, i), "send_at": sendAt.Format(time.RFC3339Nano)}
			if i == 0 {
				item["validity"] = 600
			}
			items = append(items, item)
		}
	}
	items = append(items, map[string]any{"from": numbers[0], "to": "+447911259999", "text": "canceled",
		"send_at": sendAt.Format(time.RFC3339Nano)})
	r := testenv.Expect(t, testenv.Call(t, te.url, "POST", "/v1/messages/batch", token, map[string]any{"messages": items}), 200)
	results := r.Obj(t)["results"].([]any)
	var canceledID string
	for i, x := range results {
		res := x.(map[string]any)
		m, _ := res["message"].(map[string]any)
		if res["status"] != 202.0 || m["status"] != "scheduled" {
			t.Fatalf("item %d: %v", i, res)
		}
		canceledID = m["id"].(string)
	}
	c := testenv.Expect(t, testenv.Call(t, te.url, "POST", "/v1/messages/"+canceledID+"/cancel", token, nil), 200)
	if c.Obj(t)["status"] != "canceled" {
		t.Fatalf("cancel: %s", c.Body)
	}

	total := int64(len(numbers) * perNumber)
	testenv.Eventually(t, "every scheduled message at the carrier", func() bool { return sim.Stats().Accepted >= total })
	time.Sleep(300 * time.Millisecond) // anything more (the canceled one) would show now
	sim.Close()
	times := map[string][]time.Time{}
	validity := 0
	for _, l := range testenv.ReadSimLog(t, logPath) {
		if l.T.Before(sendAt) {
			t.Errorf("%s → %s reached the carrier at %v, before its send_at %v", l.Src, l.Dst, l.T, sendAt)
		}
		if strings.Contains(l.Text, "canceled") {
			t.Errorf("the canceled message reached the carrier")
		}
		if l.Validity != "" {
			validity++
			v, err := smpp.ParseTime([]byte(l.Validity), l.T)
			if err != nil || v.Sub(l.T) < 9*time.Minute || v.Sub(l.T) > 10*time.Minute+time.Second {
				t.Errorf("validity_period %q at %v: %v %v", l.Validity, l.T, v, err)
			}
		}
		times[l.Src] = append(times[l.Src], l.T)
	}
	if validity != len(numbers) {
		t.Errorf("%d submits carried a validity_period, want %d", validity, len(numbers))
	}
	for src, ts := range times {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		t.Logf("number %s: %d segments from %v to %v after send_at", src, len(ts),
			ts[0].Sub(sendAt).Round(time.Millisecond), ts[len(ts)-1].Sub(sendAt).Round(time.Millisecond))
		if ts[0].Sub(sendAt) > 1500*time.Millisecond {
			t.Errorf("number %s: first segment %v after send_at", src, ts[0].Sub(sendAt))
		}
		// At the rate, not at once: 40 at 10 per second take more than 3 s.
		if span := ts[len(ts)-1].Sub(ts[0]); span < 2900*time.Millisecond {
			t.Errorf("number %s: %d segments within %v", src, len(ts), span)
		}
		checkSliding(t, src, ts, 10)
	}
	if th := sim.Stats().Throttled; th != 0 {
		t.Errorf("the carrier refused %d submits", th)
	}
}

// A scheduled message whose validity runs out before it could be submitted
// (the engine was late releasing it) expires, with its own status event in
// the workspace's change feed, and never reaches the carrier.
func TestE2EValidityExpiresUnsentMessage(t *testing.T) {
	t.Parallel()
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: ""}]`)
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) {
		c.Engine.ExpireEvery = config.Duration(200 * time.Millisecond)
	}))
	ctx := context.Background()
	s := te.store
	ws, token := testenv.SeedTenant(t, s, "+14155552691")
	cur, err := s.ChangeCursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := testenv.Expect(t, testenv.Call(t, te.url, "POST", "/v1/messages", token,
		map[string]any{"to": "+447911260001", "text": "valid one minute", "validity": 60,
			"send_at": time.Now().Add(time.Hour).Format(time.RFC3339)}), 202)
	id := r.Obj(t)["id"].(string)
	// Its send time and its minute of validity pass (the test moves them
	// instead of waiting).
	pool := testenv.OpenPool(t, te.dbURL, 1)
	if _, err := pool.Exec(ctx, `UPDATE messages SET send_at = now() - interval '61 seconds',
		expires_at = now() - interval '1 second' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	var mid int64
	fmt.Sscan(id, &mid)
	testenv.WaitStatus(t, s, ws, inbox.MessageID(mid), inbox.StatusExpired)
	// The feed shows a change once every transaction running when it was
	// written has ended (Store.Changes), so the event may trail the status
	// by one of the engine's statements: wait for it.
	var ch []inbox.Change
	testenv.Eventually(t, "the expired event in the feed", func() bool {
		var err error
		if ch, err = s.Changes(ctx, ws, cur, 0); err != nil {
			t.Fatal(err)
		}
		return len(ch) > 0 && ch[len(ch)-1].Status == inbox.StatusExpired
	})
	if a := sim.Stats().Accepted; a != 0 {
		t.Fatalf("the carrier got %d messages", a)
	}
}
