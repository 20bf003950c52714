package engine

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// faultLoad is the short form of a fault run; `make faults` sets
// SB_FAULT_SCALE to run the long form.
// enqueueLoad queues n messages from ws to `contacts` contacts, texts
// "<tag> <contact index> <sequence>", and returns their ids.
func enqueueLoad(t *testing.T, s *inbox.Store, ws inbox.WorkspaceID, tag string, n, contacts int) []inbox.MessageID {
	t.Helper()
	var reqs []inbox.OutboundRequest
	for i := 0; i < n; i++ {
		reqs = append(reqs, inbox.OutboundRequest{Workspace: ws, To: fmt.Sprintf("+4479111%05d", i%contacts),
			Body: fmt.Sprintf("%s %05d %06d", tag, i%contacts, i), Encoding: "GSM7", Segments: 1})
	}
	var ids []inbox.MessageID
	for len(reqs) > 0 {
		k := min(len(reqs), 500)
		res, err := s.Enqueue(context.Background(), reqs[:k])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			ids = append(ids, r.ID)
		}
		reqs = reqs[k:]
	}
	return ids
}

// waitAllFinal waits until no outbound message of the database is pending.
func waitAllFinal(t *testing.T, te *testEngine, within time.Duration) map[inbox.Status]int {
	t.Helper()
	ctx := context.Background()
	var counts map[inbox.Status]int
	testenv.Wait(t, within, "every outbound message to be final", func() bool {
		counts = map[inbox.Status]int{}
		rows, err := te.db.Query(ctx, `SELECT status, count(*) FROM messages WHERE direction = 'out' GROUP BY status`)
		if err == nil {
			for rows.Next() {
				var st string
				var n int
				rows.Scan(&st, &n)
				counts[inbox.Status(st)] = n
			}
			rows.Close()
		}
		open := counts[inbox.StatusQueued] + counts[inbox.StatusSending] + counts[inbox.StatusSubmitted]
		return err == nil && open == 0
	}, func() string { return fmt.Sprintf("messages not final after %v: %v", within, counts) })
	return counts
}

// simTexts counts how often each text reached the carrier, and the order in
// which each destination saw its texts.
func simTexts(t *testing.T, logPath string) (map[string]int, map[string][]string) {
	seen := map[string]int{}
	order := map[string][]string{}
	for _, l := range testenv.ReadSimLog(t, logPath) {
		seen[l.Text]++
		order[l.Dst] = append(order[l.Dst], l.Text)
	}
	return seen, order
}

func fastClasses(c *config.Config) {
	for i := range c.Classes {
		c.Classes[i].Rate = 2000
	}
}

// The carrier drops every connection every few seconds under load: nothing
// is lost, no more sockets than binds are ever open, the reconnects and
// their backoff show in the metrics.
func TestFaultCarrierDropsConnections(t *testing.T) {
	t.Parallel()
	scale := testenv.FaultScale()
	logPath := filepath.Join(t.TempDir(), "sim.jsonl")
	sim := testenv.StartSim(t, fmt.Sprintf(`accounts: [{system_id: sb, password: "", max_binds: 2, latency: 5ms..15ms,
  receipts: {delay: 10ms}, faults: {drop_every: %ds}}]
log: %s`, map[bool]int{true: 2, false: 5}[scale == 1], logPath))
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) {
		c.Carriers[0].Binds, c.Carriers[0].MaxBinds = 2, 2
		fastClasses(c)
	}))
	ws := testenv.Seed(t, te.store, "+14155552671")
	n := 2000 * scale
	enqueueLoad(t, te.store, ws, "drop", n, 400)
	te.dispatcher.Kick()
	counts := waitAllFinal(t, te, time.Duration(60*scale)*time.Second)
	rep := sim.Report()
	var reconnects int64
	for _, b := range te.binds() {
		reconnects += b.Reconnects
	}
	sim.Close()
	seen, _ := simTexts(t, logPath)
	lost, dups := 0, 0
	for i := 0; i < n; i++ {
		c := seen[fmt.Sprintf("drop %05d %06d", i%400, i)]
		if c == 0 {
			lost++
		}
		if c > 1 {
			dups += c - 1
		}
	}
	acct, _ := rep.Account("sb")
	t.Logf("drops under load: accepted %d, delivered %d, lost %d, duplicates %d (unknown-outcome resends), carrier drops %d, reconnects %d, binds refused %d",
		n, counts[inbox.StatusDelivered], lost, dups, acct.Drops, reconnects, acct.BindsRefused)
	testenv.FaultRow(t, "carrier drops binds every few s", fmt.Sprintf("%d msgs, 2 binds", n), n, lost, dups, int(acct.BindsRefused))
	if lost != 0 || counts[inbox.StatusDelivered] != n {
		t.Fatalf("lost %d; statuses %v", lost, counts)
	}
	if acct.Drops == 0 || reconnects == 0 {
		t.Fatalf("no drop happened (drops %d, reconnects %d)", acct.Drops, reconnects)
	}
	if acct.BindsRefused != 0 {
		t.Fatalf("%d binds refused: the engine opened more sockets than its binds", acct.BindsRefused)
	}
	if dups > int(te.dispatcher.Stats().Unknown) {
		t.Fatalf("%d duplicates but only %d unknown outcomes", dups, te.dispatcher.Stats().Unknown)
	}
}

// A storm of ESME_RTHROTTLED: the slow-down engages, every message still
// goes, and each contact gets its messages in the order they were accepted.
func TestFaultThrottleStorm(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "sim.jsonl")
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 2ms, receipts: {delay: 5ms}, faults: {fail: "0x58:40%"}}]
log: `+logPath)
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) {
		fastClasses(c)
		c.Engine.RetryMin = config.Duration(50 * time.Millisecond)
		c.Engine.RetryMax = config.Duration(500 * time.Millisecond)
	}))
	ws := testenv.Seed(t, te.store, "+14155552671")
	n := 600 * testenv.FaultScale()
	enqueueLoad(t, te.store, ws, "storm", n, 30)
	te.dispatcher.Kick()
	// Meanwhile the refused number's effective rate drops below its class's
	// rate; the account's, shown in the operator's bind view, does not: only
	// one of its numbers was refused.
	type low struct{ number, account float64 }
	lowest := make(chan low, 1)
	stopWatch := make(chan struct{})
	lim := te.limits.limits().classes[inbox.RateClassDedicated]
	go func() {
		l := low{math.Inf(1), math.Inf(1)}
		defer func() { lowest <- l }()
		for {
			for _, b := range te.bindsWithRates() {
				if b.EffectiveRate != nil && b.AccountRate > 0 {
					l.account = min(l.account, *b.EffectiveRate/b.AccountRate)
				}
			}
			if r, err := te.limiter.EffectiveRate(context.Background(), "sim", "+14155552671", lim); err == nil {
				l.number = min(l.number, r/lim.Rate())
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	counts := waitAllFinal(t, te, 90*time.Second)
	close(stopWatch)
	l := <-lowest
	if !(l.number < 1) {
		t.Errorf("the refused number's effective rate never dropped (lowest fraction %v)", l.number)
	}
	if l.account != 1 {
		t.Errorf("one number's refusals slowed the whole account (lowest fraction %v)", l.account)
	}
	d := te.dispatcher.Stats()
	cuts := te.limiter.Stats().Cuts
	sim.Close()
	seen, order := simTexts(t, logPath)
	reordered := 0
	for dst, texts := range order {
		if !sort.SliceIsSorted(texts, func(i, j int) bool { return texts[i] < texts[j] }) {
			reordered++
			t.Errorf("contact %s got its messages out of order: %v", dst, texts)
		}
	}
	missing := 0
	for i := 0; i < n; i++ {
		if seen[fmt.Sprintf("storm %05d %06d", i%30, i)] == 0 {
			missing++
		}
	}
	t.Logf("0x58 storm: %d messages, delivered %d, throttled answers %d, retries %d, rate cuts %d, missing %d, contacts reordered %d",
		n, counts[inbox.StatusDelivered], d.Throttled, d.Retried, cuts, missing, reordered)
	testenv.FaultRow(t, "0x58 storm (40% of submits)", fmt.Sprintf("%d msgs, 30 contacts", n), n, missing, 0, reordered)
	if counts[inbox.StatusDelivered] != n || missing != 0 {
		t.Fatalf("statuses %v, missing %d", counts, missing)
	}
	if d.Throttled == 0 || cuts == 0 {
		t.Fatalf("the slow-down did not engage: %d throttled answers, %d cuts", d.Throttled, cuts)
	}
}

// Receipts for unknown ids, duplicate receipts and MO parts that never
// complete are handled as documented and counted.
func TestFaultOddDeliveries(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{Receipts: true})
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), srv.Addr(), func(c *config.Config) {
		c.Engine.InboundPartTimeout = config.Duration(time.Millisecond)
	}))
	ws := testenv.Seed(t, te.store, "+14155552671")
	ctx := context.Background()
	id := enqueue(t, te.store, ws, "+447911123456", "hello")
	te.dispatcher.Kick()
	m := testenv.WaitStatus(t, te.store, ws, id, inbox.StatusDelivered)
	receipt := func(carrierID, stat string) smpp.Status {
		var tl smpp.TLVs
		tl = smpp.AppendTLV(tl, smpp.TagReceiptedMessageID, []byte(carrierID+"\x00"))
		st, err := srv.Deliver(ctx, &smpp.DeliverSM{ESMClass: smpp.ESMClassDeliveryReceipt, TLVs: tl,
			ShortMessage: []byte("id:" + carrierID + " sub:001 dlvrd:000 submit date:2611251200 done date:2611251201 stat:" + stat + " err:000 text:")})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	before := te.router.Stats()
	// Unknown id: acknowledged (a resend would not help), kept, counted.
	if st := receipt("999999999", "DELIVRD"); st != smpp.StatusOK {
		t.Fatalf("unknown receipt answered %v", st)
	}
	// A duplicate, and a late contradicting one, for a delivered message: the
	// final status does not move.
	carrierID := m.SegmentInfo[0].CarrierMessageID
	if st := receipt(carrierID, "DELIVRD"); st != smpp.StatusOK {
		t.Fatal(st)
	}
	if st := receipt(carrierID, "UNDELIV"); st != smpp.StatusOK {
		t.Fatal(st)
	}
	if again, _ := te.store.GetMessage(ctx, ws, id); again.Status != inbox.StatusDelivered {
		t.Fatalf("a duplicate receipt moved a delivered message to %q", again.Status)
	}
	// A receipt without an id: acknowledged and counted as malformed.
	st, _ := srv.Deliver(ctx, &smpp.DeliverSM{ESMClass: smpp.ESMClassDeliveryReceipt, ShortMessage: []byte("nothing useful")})
	if st != smpp.StatusOK {
		t.Fatal(st)
	}
	// An MO in three parts of which one never comes: kept, flagged, stored
	// after the timeout.
	parts, _ := coding.Split(strings.Repeat("part of a long reply ", 20), coding.GSM7, coding.UDH8, 9)
	for _, i := range []int{0, 2} {
		p := smpp.DeliverSM{Source: smpp.Address{TON: 1, NPI: 1, Addr: []byte("447911123456")}, Dest: smpp.Address{TON: 1, NPI: 1, Addr: []byte("14155552671")}}
		smpp.SetPart((*smpp.SubmitSM)(&p), parts[i], coding.UDH8)
		if st, err := srv.Deliver(ctx, &p); err != nil || st != smpp.StatusOK {
			t.Fatal(st, err)
		}
	}
	if n := te.router.Sweep(ctx); n != 1 {
		t.Fatalf("sweep stored %d messages", n)
	}
	after := te.router.Stats()
	_, msgs := threadOf(t, te.store, ws, "+447911123456")
	last := msgs[len(msgs)-1]
	t.Logf("odd deliveries: unmatched receipts %d, malformed %d, incomplete MO %d; the incomplete message: %.60q…",
		after.ReceiptsUnmatched-before.ReceiptsUnmatched, after.Malformed-before.Malformed, after.MOIncomplete-before.MOIncomplete, last.Body)
	if after.ReceiptsUnmatched-before.ReceiptsUnmatched != 1 || after.Malformed-before.Malformed != 1 || after.MOIncomplete-before.MOIncomplete != 1 {
		t.Fatalf("counters before %+v after %+v", before, after)
	}
	if last.Direction != inbox.DirectionIn || !strings.Contains(last.Body, "[…]") {
		t.Fatalf("incomplete message %+v", last)
	}
}

// Redis stops under load and comes back: nothing goes out while it is away
// (fail closed), no number ever exceeds its rate at a carrier that counts
// strictly (20 in any second per number), and sending resumes within
// seconds of its return. This Redis keeps nothing on disk, so it comes back
// empty: the throttle then waits a quiet period of one interval plus the
// margin before it grants again (package throttle); a Redis with
// persistence resumes at once.
func TestFaultRedisRestart(t *testing.T) {
	t.Parallel()
	rs := testenv.StartRedisServer(t)
	logPath := filepath.Join(t.TempDir(), "sim.jsonl")
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 2ms, receipts: {delay: 5ms},
  rate: {mode: sliding, source: 20}}]
log: `+logPath)
	cfg := engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) {
		c.Redis.URL = rs.URL()
		for i := range c.Classes {
			c.Classes[i].Rate = 20
		}
		c.Throttle.Margin = testMargin
	})
	te := startEngine(t, cfg)
	s := te.store
	ctx := context.Background()
	numbers := []string{"+14155552671", "+14155552672", "+14155552673"}
	ws, _, err := s.CreateWorkspace(ctx, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, num := range numbers {
		n, err := s.AddNumber(ctx, inbox.NewNumber{E164: num, Kind: inbox.Dedicated, Carrier: "sim", Owner: ws.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConnectNumber(ctx, ws.ID, n.ID); err != nil {
			t.Fatal(err)
		}
	}
	n := 600
	enqueueLoad(t, s, ws.ID, "redis", n, 60)
	te.dispatcher.Kick()
	testenv.Eventually(t, "some messages sent", func() bool { return sim.Stats().Accepted > 60 })
	rs.Stop()
	down := time.Now()
	// Submits written before the outage may still be answered; nothing is
	// granted after it. Real time both: half a second for the answers in
	// flight, then 3 s in which a grant made without Redis would show.
	time.Sleep(500 * time.Millisecond)
	during := sim.Stats().Accepted
	time.Sleep(3 * time.Second)
	if got := sim.Stats().Accepted; got != during {
		t.Fatalf("%d messages went out while Redis was down", got-during)
	}
	rs.Start()
	up := time.Now()
	testenv.Eventually(t, "sending to resume", func() bool { return sim.Stats().Accepted > during })
	resumed := time.Since(up)
	counts := waitAllFinal(t, te, 90*time.Second)
	rep := sim.Report()
	sim.Close()
	acct, _ := rep.Account("sb")
	worst, tightest := int64(0), math.Inf(1)
	for _, num := range numbers {
		src, ok := acct.Source(strings.TrimPrefix(num, "+"))
		if ok && src.MaxInInterval > worst {
			worst = src.MaxInInterval
		}
		if ok && src.TightestMS > 0 {
			tightest = min(tightest, src.TightestMS)
		}
	}
	t.Logf("closest 21 segments of one number came at the carrier: %.1f ms", tightest)
	t.Logf("redis restart under load: down %v, resumed %v after it came back, delivered %d/%d, most per number in any second %d (limit 20), carrier throttled %d",
		up.Sub(down).Round(time.Millisecond), resumed.Round(time.Millisecond), counts[inbox.StatusDelivered], n, worst, acct.ThrottledSource)
	viol := 0
	if worst > 20 {
		viol = int(worst - 20)
	}
	testenv.FaultRow(t, "Redis stopped and restarted", fmt.Sprintf("%d msgs, 3 numbers at 20/s", n), n, n-counts[inbox.StatusDelivered], 0, viol+int(acct.ThrottledSource))
	if resumed > 5*time.Second {
		t.Fatalf("sending resumed %v after Redis came back, want within 5s", resumed)
	}
	if worst > 20 || acct.ThrottledSource != 0 {
		t.Fatalf("rate violated: worst second %d, carrier throttled %d", worst, acct.ThrottledSource)
	}
	if counts[inbox.StatusDelivered] != n {
		t.Fatalf("statuses %v", counts)
	}
	_ = smscsim.MO{}
}
