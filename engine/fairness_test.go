package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// testMargin is the throttle margin of the tests that count at a strict
// carrier. The default (10 ms) covers the spread between a grant and the
// carrier reading the submit on a machine doing nothing else (the
// fairness bench measures it: the closest N+1 segments of a number came
// 1004 ms apart); under the race detector, with the whole suite running on
// two cores, writes are late by tens of milliseconds now and then.
const testMargin = config.Duration(50 * time.Millisecond)

// Campaigns queued one number after another, against a carrier that allows
// each number 10 segments in any second: every number's first message
// leaves within a second of being queued (no number waits behind another's
// backlog), and no number ever gets an 11th segment into a second.
func TestFairnessCampaignsQueuedInTurn(t *testing.T) {
	t.Parallel()
	sim, logPath, te := startTenPerSecond(t, nil)
	ctx := context.Background()
	s := te.store
	ws, _, err := s.CreateWorkspace(ctx, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	numbers := []string{"+14155552671", "+14155552672", "+14155552673", "+14155552674"}
	for _, num := range numbers {
		n, err := s.AddNumber(ctx, inbox.NewNumber{E164: num, Kind: inbox.Dedicated, Carrier: "sim", Owner: ws.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConnectNumber(ctx, ws.ID, n.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Each number's campaign: 30 messages (3 s at its rate), queued in turn.
	queued := map[string]time.Time{}
	for k, num := range numbers {
		var reqs []inbox.OutboundRequest
		for i := range 30 {
			reqs = append(reqs, inbox.OutboundRequest{Workspace: ws.ID, From: num, To: fmt.Sprintf("+4479112%02d%03d", k, i),
				Body: fmt.Sprintf("campaign %d %02d", k, i), Encoding: "GSM7", Segments: 1})
		}
		queued[strings.TrimPrefix(num, "+")] = time.Now()
		res, err := s.Enqueue(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		te.dispatcher.Kick()
		time.Sleep(200 * time.Millisecond) // the next campaign is queued while this one sends
	}
	testenv.Eventually(t, "every message at the carrier", func() bool { return sim.Stats().Accepted >= 120 })
	sim.Close()
	first := map[string]time.Time{}
	times := map[string][]time.Time{}
	for _, l := range testenv.ReadSimLog(t, logPath) {
		if _, ok := first[l.Src]; !ok {
			first[l.Src] = l.T
		}
		times[l.Src] = append(times[l.Src], l.T)
	}
	for src, q := range queued {
		wait := first[src].Sub(q)
		t.Logf("number %s: first segment %v after its campaign was queued", src, wait.Round(time.Millisecond))
		if wait > time.Second {
			t.Errorf("number %s waited %v for its first segment", src, wait)
		}
		ts := times[src]
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		checkSliding(t, src, ts, 10)
	}
	if th := sim.Stats().Throttled; th != 0 {
		t.Errorf("the carrier refused %d submits", th)
	}
}

// checkSliding fails t when the sorted times ts of one number's segments
// hold more than n within any second, as a strict carrier counts.
func checkSliding(t *testing.T, src string, ts []time.Time, n int) {
	t.Helper()
	for i := n; i < len(ts); i++ {
		if ts[i].Sub(ts[i-n]) < time.Second {
			t.Errorf("number %s: %d segments within %v", src, n+1, ts[i].Sub(ts[i-n]))
		}
	}
}

// A fresh install sends its first message at once: nothing of the carrier
// account was sent, so a Redis without its state needs no quiet period.
// When Redis loses its state while the account is sending, the account waits
// one interval plus the margin: /readyz and the bind view say until when,
// and nothing leaves before then.
func TestFreshInstallSendsAtOnceQuietAfterLoss(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "sim.jsonl")
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 2ms, receipts: {delay: 1ms}}]
log: `+logPath)
	cfg := engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), nil)
	te := startEngine(t, cfg)
	ws := testenv.Seed(t, te.store, "+14155552671")
	ctx := context.Background()
	queued := time.Now()
	first := enqueue(t, te.store, ws, "+447911123456", "first")
	te.dispatcher.Kick()
	sent := func(id inbox.MessageID) func() bool {
		return func() bool {
			m, err := te.store.GetMessage(ctx, ws, id)
			return err == nil && (m.Status == inbox.StatusSubmitted || m.Status == inbox.StatusDelivered)
		}
	}
	testenv.Eventually(t, "the first message sent", sent(first))
	if q := te.quietCarriers(ctx); len(q) != 0 {
		t.Fatalf("quiet period on a fresh install: %v", q)
	}
	// (submitted_at: when its submit_sm_resp was recorded, after it left)
	if m, err := te.store.GetMessage(ctx, ws, first); err != nil || m.SubmittedAt.Sub(queued) > time.Second {
		t.Fatalf("the first message of a fresh install was submitted %v after it was queued (%v)", m.SubmittedAt.Sub(queued), err)
	}

	// Redis loses the throttle's state (a restart without persistence).
	rdb, _ := testenv.Redis(t)
	keys, err := rdb.Keys(ctx, cfg.Throttle.Prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("throttle keys %v %v", keys, err)
	}
	if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	second := enqueue(t, te.store, ws, "+447911123456", "second")
	te.dispatcher.Kick()
	var until time.Time
	testenv.Eventually(t, "the quiet period in /readyz", func() bool {
		var body struct {
			Quiet map[string]time.Time `json:"throttle_quiet_until"`
		}
		resp, err := http.Get(te.url + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
			return false
		}
		until = body.Quiet["sim"]
		return !until.IsZero()
	})
	if d := time.Until(until); d > cfg.Throttle.Margin.D()+1100*time.Millisecond {
		t.Fatalf("quiet for %v, want about one interval", d)
	}
	if b := te.bindsWithRates(); len(b) == 0 || b[0].QuietUntil == nil {
		t.Fatalf("the bind view does not show the quiet period: %+v", b)
	}
	testenv.Eventually(t, "the second message sent", sent(second))
	sim.Close()
	log := testenv.ReadSimLog(t, logPath)
	if len(log) != 2 {
		t.Fatalf("the carrier got %d submits, want 2", len(log))
	}
	// Redis's clock and this one are the same machine's.
	if at := log[1].T; at.Before(until.Add(-5 * time.Millisecond)) {
		t.Fatalf("a message left at %v, before the quiet period ended at %v", at, until)
	}
}

// startTenPerSecond starts a simulator that allows each source number 10
// segments in any second (and logs every submit to logPath) and an engine
// whose rate classes send 10 a second per number, with the tests' throttle
// margin; mod, when set, changes the engine's config further.
func startTenPerSecond(t *testing.T, mod func(*config.Config)) (sim *smscsim.Sim, logPath string, te *testEngine) {
	t.Helper()
	logPath = filepath.Join(t.TempDir(), "sim.jsonl")
	sim = testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 2ms, receipts: {delay: 5ms},
  rate: {mode: sliding, source: 10}}]
log: `+logPath)
	te = startEngine(t, engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) {
		for i := range c.Classes {
			c.Classes[i].Rate = 10
		}
		c.Throttle.Margin = testMargin
		if mod != nil {
			mod(c)
		}
	}))
	return sim, logPath, te
}
