package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/webhook"
	"github.com/switchboard-sms/switchboard/webhook/webhooktest"
)

type fixture struct {
	t     testing.TB
	ctx   context.Context
	store *inbox.Store
	exec  func(sql string, args ...any)
	count func(sql string) int
	ws    inbox.WorkspaceID
	num   inbox.Number
	recv  *webhooktest.Receiver
	// feed is the process's shared feed the deliverers read through, as
	// in the engine; wake closes its wake-up channel every 20 ms (the
	// engine's events.Hub, polling).
	feed    *inbox.Feed
	changed func() <-chan struct{}
}

func newFixture(t *testing.T) *fixture { return newFixtureTB(t) }

func newFixtureTB(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	pool := testenv.OpenPool(t, testenv.NewDatabase(t), 8)
	if err := inbox.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, store: inbox.New(pool, inbox.Options{})}
	f.exec = func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	f.count = func(sql string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	w, _, err := f.store.CreateWorkspace(ctx, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	f.ws = w.ID
	if f.num, err = f.store.AddNumber(ctx, inbox.NewNumber{E164: "+14155550100", Kind: inbox.Dedicated, Carrier: "sim", Owner: w.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.ConnectNumber(ctx, w.ID, f.num.ID); err != nil {
		t.Fatal(err)
	}
	if f.recv, err = webhooktest.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.recv.Close() })
	var mu sync.Mutex
	wake := make(chan struct{})
	f.changed = func() <-chan struct{} { mu.Lock(); defer mu.Unlock(); return wake }
	tick := time.NewTicker(20 * time.Millisecond)
	stopTick := make(chan struct{})
	go func() {
		for {
			select {
			case <-tick.C:
				mu.Lock()
				close(wake)
				wake = make(chan struct{})
				mu.Unlock()
			case <-stopTick:
				tick.Stop()
				return
			}
		}
	}()
	t.Cleanup(func() { close(stopTick) })
	f.feed = f.store.NewFeed(f.changed, inbox.FeedOptions{})
	return f
}

// endpoint registers a receiver for types and returns its id.
func (f *fixture) endpoint(r *webhooktest.Receiver, types ...string) inbox.WebhookID {
	f.t.Helper()
	w, secret, err := f.store.CreateWebhook(f.ctx, f.ws, inbox.NewWebhook{URL: r.URL, Types: types})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := r.SetSecrets(secret); err != nil {
		f.t.Fatal(err)
	}
	return w.ID
}

// deliverer runs a Deliverer with short timers until the test ends; stop
// stops it early.
func (f *fixture) deliverer(owner string, tweak ...func(*webhook.Config)) (d *webhook.Deliverer, stop func()) {
	f.t.Helper()
	g, _ := webhook.NewGuard([]string{"127.0.0.1"})
	cfg := webhook.Config{
		Store: f.store, Feed: f.feed, Changed: f.changed, Owner: owner, Views: api.WebhookViews(), Guard: g,
		Poll: 50 * time.Millisecond, Timeout: 300 * time.Millisecond, LeaseTTL: time.Second,
		Backoff: webhook.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		Logger:  zaptest.NewLogger(f.t),
	}
	for _, tw := range tweak {
		tw(&cfg)
	}
	d, err := webhook.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	f.t.Cleanup(stop)
	return d, stop
}

func (f *fixture) inbound(n int) {
	f.t.Helper()
	var in []inbox.Inbound
	for i := range n {
		in = append(in, inbox.Inbound{Carrier: "sim", From: fmt.Sprintf("+1646555%04d", i), To: f.num.E164, Body: fmt.Sprintf("reply %d", i), Encoding: "GSM7"})
	}
	if _, err := f.store.AppendInbound(f.ctx, in); err != nil {
		f.t.Fatal(err)
	}
}

// Every event arrives, verified, though the receiver answers 500s,
// timeouts, slow bodies and Retry-After for a while.
func TestEveryEventArrivesThroughFaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.endpoint(f.recv, inbox.EventMessageReceived, inbox.EventNumberAll)
	var faulty atomic.Bool
	faulty.Store(true)
	f.recv.SetBehaviour(func(n int64, typ string) webhooktest.Answer {
		if !faulty.Load() {
			return webhooktest.Answer{}
		}
		switch n % 5 {
		case 0:
			return webhooktest.Answer{Status: 500}
		case 1:
			return webhooktest.Answer{Delay: time.Second} // past the 300 ms timeout
		case 2:
			return webhooktest.Answer{Status: 503, RetryAfter: "1"}
		case 3:
			return webhooktest.Answer{SlowBody: time.Second} // 200, then a body slower than the timeout
		}
		return webhooktest.Answer{Status: 302}
	})
	d, _ := f.deliverer("a")
	f.inbound(40)
	if err := f.store.DisableNumber(f.ctx, f.ws, f.num.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.store.EnableNumber(f.ctx, f.ws, f.num.ID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "failed attempts in the log", func() bool { return d.Stats().Failed >= 20 })
	faulty.Store(false)
	testenv.Eventually(t, "42 events", func() bool { return len(f.recv.Events()) >= 42 })
	evs := f.recv.Events()
	counts := map[string]int{}
	texts := map[string]bool{}
	for _, e := range evs {
		counts[e.Type]++
		if e.Type == inbox.EventMessageReceived {
			var m struct {
				Text, Status string
				Thread       struct{ Number, Contact string }
			}
			json.Unmarshal(e.Data, &m)
			texts[m.Text] = true
			if m.Status != "received" || m.Thread.Number != f.num.E164 || !strings.HasPrefix(m.Thread.Contact, "+1646555") {
				t.Fatalf("message.received data %s", e.Data)
			}
		}
	}
	if len(evs) != 42 || counts[inbox.EventMessageReceived] != 40 || counts[inbox.EventNumberDisabled] != 1 || counts[inbox.EventNumberEnabled] != 1 || len(texts) != 40 {
		t.Fatalf("events %v (%d)", counts, len(evs))
	}
	if _, unverified, _ := f.recv.Stats(); unverified != 0 {
		t.Fatalf("%d deliveries did not verify", unverified)
	}
	// The delivery log has the failures, with status and error.
	var sawTimeout, saw500 bool
	p := inbox.Page{Limit: 500}
	for {
		list, next, err := f.store.WebhookAttempts(f.ctx, f.ws, 1, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			sawTimeout = sawTimeout || (a.HTTPStatus == 0 && a.Error == "timeout")
			saw500 = saw500 || (a.HTTPStatus == 500 && a.Error == "HTTP 500")
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	if !sawTimeout || !saw500 {
		t.Fatalf("log without a timeout (%v) or a 500 (%v)", sawTimeout, saw500)
	}
}

var statusRank = map[string]int{"queued": 0, "sending": 1, "submitted": 2, "delivered": 3, "failed": 3, "expired": 3}

// A message's status events never go backwards: a newer status supersedes
// a pending older one while the receiver is failing.
func TestStatusNeverGoesBackwards(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.endpoint(f.recv, inbox.EventMessageStatus)
	var down atomic.Bool
	down.Store(true)
	f.recv.SetBehaviour(func(int64, string) webhooktest.Answer {
		if down.Load() {
			return webhooktest.Answer{Status: 500}
		}
		return webhooktest.Answer{}
	})
	d, _ := f.deliverer("a")
	var reqs []inbox.OutboundRequest
	for i := range 20 {
		reqs = append(reqs, inbox.OutboundRequest{Workspace: f.ws, To: fmt.Sprintf("+1646555%04d", i), Body: "hi", Encoding: "GSM7", Segments: 1})
	}
	res, err := f.store.Enqueue(f.ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range res {
		ids = append(ids, int64(r.ID))
	}
	f.exec(`UPDATE messages SET status = 'submitted', submitted_at = now(), change_xid = pg_current_xact_id() WHERE id = ANY($1)`, ids)
	testenv.Eventually(t, "submitted events attempted", func() bool { return d.Stats().Failed >= 20 })
	f.exec(`UPDATE messages SET status = 'delivered', delivered_at = now(), change_xid = pg_current_xact_id() WHERE id = ANY($1)`, ids)
	// Wait for the delivered events to be in the outbox, then let the
	// receiver recover.
	testenv.Eventually(t, "delivered events queued", func() bool {
		return f.count(`SELECT count(*) FROM webhook_events WHERE state = 'superseded'`) == 20
	})
	down.Store(false)
	testenv.Eventually(t, "20 delivered events", func() bool { return len(f.recv.Events()) == 20 })
	time.Sleep(300 * time.Millisecond) // a late submitted event would arrive now
	last := map[string]int{}
	for _, id := range f.recv.Order() {
		e := f.recv.Events()[id]
		var m struct{ ID, Status string }
		json.Unmarshal(e.Data, &m)
		if r := statusRank[m.Status]; r < last[m.ID] {
			t.Fatalf("message %s went back to %s", m.ID, m.Status)
		} else {
			last[m.ID] = r
		}
		if m.Status != "delivered" {
			t.Fatalf("message %s: a superseded %s event was sent", m.ID, m.Status)
		}
	}
}

// 410 disables the endpoint and the workspace's other endpoints hear of it;
// an endpoint failing for FailingLimit is disabled too.
func TestEndpointDisabled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gone, err := webhooktest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	gone.SetBehaviour(func(int64, string) webhooktest.Answer { return webhooktest.Answer{Status: http.StatusGone} })
	goneID := f.endpoint(gone, inbox.EventMessageReceived)
	f.endpoint(f.recv, inbox.EventWebhookDisabled)
	f.deliverer("a", func(c *webhook.Config) { c.FailingLimit = 500 * time.Millisecond })
	f.inbound(3)
	testenv.Eventually(t, "the 410 endpoint disabled", func() bool {
		w, _ := f.store.GetWebhook(f.ctx, f.ws, goneID)
		return !w.Enabled && w.DisabledReason != ""
	})
	testenv.Eventually(t, "a webhook.disabled event", func() bool { return len(f.recv.Events()) == 1 })
	for _, e := range f.recv.Events() {
		var v struct {
			ID             string
			Enabled        bool
			DisabledReason *string `json:"disabled_reason"`
		}
		json.Unmarshal(e.Data, &v)
		if e.Type != inbox.EventWebhookDisabled || v.ID != fmt.Sprint(goneID) || v.Enabled || v.DisabledReason == nil {
			t.Fatalf("notice %s %s", e.Type, e.Data)
		}
	}
}

func TestFailingEndpointDisabled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.recv.SetBehaviour(func(int64, string) webhooktest.Answer { return webhooktest.Answer{Status: 500} })
	id := f.endpoint(f.recv, inbox.EventMessageReceived)
	f.deliverer("a", func(c *webhook.Config) { c.FailingLimit = 700 * time.Millisecond })
	f.inbound(1)
	testenv.Eventually(t, "the failing endpoint disabled", func() bool {
		w, _ := f.store.GetWebhook(f.ctx, f.ws, id)
		return !w.Enabled && w.DisabledReason == "failing"
	})
	if pending := f.count(`SELECT count(*) FROM webhook_events WHERE state = 'pending'`); pending != 0 {
		t.Fatalf("%d events still pending on a disabled endpoint", pending)
	}
}

// A rotation signs the very next delivery in the process that holds the
// endpoint, without waiting for a lease round (the lease here is an hour:
// no claim round comes after the first), whether the event comes from the
// feed or from the outbox (a test event): a receiver that knows only the
// new secret verifies it, and so does one that knows only the previous
// secret, which keeps signing too (two signatures).
func TestRotationSignsAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w, first, err := f.store.CreateWebhook(f.ctx, f.ws, inbox.NewWebhook{URL: f.recv.URL, Types: []string{inbox.EventMessageReceived}})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := f.deliverer("a", func(c *webhook.Config) { c.LeaseTTL = time.Hour })
	sent := int64(0)
	// deliver sends one event and checks that a receiver knowing only
	// the secret knows verifies it, and how many signatures it carried.
	deliver := func(what, knows string, sigs int, send func()) {
		t.Helper()
		if err := f.recv.SetSecrets(knows); err != nil {
			t.Fatal(err)
		}
		send()
		sent++
		testenv.Eventually(t, what, func() bool { req, _, _ := f.recv.Stats(); return req >= sent })
		if _, unverified, _ := f.recv.Stats(); unverified != 0 {
			t.Fatalf("%s: did not verify", what)
		}
		if n := f.recv.LastSignatures(); n != sigs {
			t.Fatalf("%s: %d signatures, want %d", what, n, sigs)
		}
	}
	fromFeed := func() { f.inbound(1) }
	fromOutbox := func() {
		id := webhook.NewEventID("t")
		body, _ := webhook.Body(id, inbox.EventWebhookTest, time.Now(), map[string]string{})
		if err := f.store.QueueWebhookEvent(f.ctx, f.ws, w.ID, inbox.WebhookEvent{ID: id, Type: inbox.EventWebhookTest, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	rotate := func() string {
		_, secret, err := f.store.RotateWebhookSecret(f.ctx, f.ws, w.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	deliver("before a rotation", first, 1, fromFeed)
	second := rotate()
	deliver("from the feed after a rotation, new secret", second, 2, fromFeed)
	deliver("from the feed after a rotation, previous secret", first, 2, fromFeed)
	third := rotate()
	deliver("from the outbox after a rotation, new secret", third, 2, fromOutbox)
	deliver("from the outbox after a rotation, previous secret", second, 2, fromOutbox)
	if s := d.Stats(); s.Endpoints != 1 || s.Failed != 0 {
		t.Fatalf("deliverer %+v", s)
	}
}

// Deleting an endpoint deletes its outbox and its delivery log, also while
// its deliverer records rounds into them and inbound traffic goes on (the
// rows have no foreign key to cascade: migration 0016, Store.DeleteWebhook).
func TestDeleteLeavesNoRows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.endpoint(f.recv, inbox.EventMessageReceived)
	f.recv.SetBehaviour(func(n int64, _ string) webhooktest.Answer {
		if n%4 == 0 {
			return webhooktest.Answer{Status: 500} // some stay pending, retried
		}
		return webhooktest.Answer{}
	})
	d, _ := f.deliverer("a")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f.store.AppendInbound(f.ctx, []inbox.Inbound{{Carrier: "sim", From: fmt.Sprintf("+1646777%04d", i%10000),
				To: f.num.E164, Body: "hi", Encoding: "GSM7"}})
			time.Sleep(2 * time.Millisecond) // a steady stream of replies
		}
	}()
	testenv.Eventually(t, "rows written", func() bool {
		return f.count(fmt.Sprintf(`SELECT count(*) FROM webhook_attempts WHERE endpoint_id = %d`, id)) >= 50
	})
	if err := f.store.DeleteWebhook(f.ctx, f.ws, id); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the deliverer lets the endpoint go", func() bool { return d.Stats().Endpoints == 0 })
	close(stop)
	<-done
	for _, table := range []string{"webhook_events", "webhook_attempts"} {
		if n := f.count(fmt.Sprintf(`SELECT count(*) FROM %s WHERE endpoint_id = %d`, table, id)); n != 0 {
			t.Errorf("%d rows of the deleted endpoint in %s", n, table)
		}
	}
}

// Two deliverers share the endpoints: each endpoint goes to one, and when
// one stops the other takes its endpoints over.
func TestLeasePassesOver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.endpoint(f.recv, inbox.EventMessageReceived)
	a, stopA := f.deliverer("a")
	testenv.Eventually(t, "a holds the endpoint", func() bool { return a.Stats().Endpoints == 1 })
	b, _ := f.deliverer("b")
	time.Sleep(400 * time.Millisecond) // real time: several of b's 50 ms polls, in which it would wrongly take it
	if b.Stats().Endpoints != 0 {
		t.Fatal("b took an endpoint a holds")
	}
	f.inbound(5)
	testenv.Eventually(t, "5 events", func() bool { return len(f.recv.Events()) == 5 })
	stopA()
	testenv.Eventually(t, "b takes the endpoint over", func() bool { return b.Stats().Endpoints == 1 })
	f.inbound(5)
	testenv.Eventually(t, "10 events", func() bool { return len(f.recv.Events()) == 10 })
}

// Endpoints of one workspace share the process's reads of the feed, and
// each event's body is built once: both receivers get every event, with
// the same bytes, from one read of the database (no wake-up of the feed
// says anything was committed after it).
func TestEndpointsShareTheFeed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	second, err := webhooktest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	f.endpoint(f.recv, inbox.EventMessageReceived)
	f.endpoint(second, inbox.EventMessageReceived)
	for range 10 {
		f.inbound(30)
	}
	quiet := make(chan struct{}) // never closed
	f.feed = f.store.NewFeed(func() <-chan struct{} { return quiet }, inbox.FeedOptions{})
	f.deliverer("a")
	testenv.Eventually(t, "300 events at each receiver", func() bool {
		return len(f.recv.Events()) >= 300 && len(second.Events()) >= 300
	})
	a, b := f.recv.Events(), second.Events()
	if len(a) != 300 || len(b) != 300 {
		t.Fatalf("events: %d and %d, want 300 each", len(a), len(b))
	}
	for id, ev := range a {
		if string(b[id].Data) != string(ev.Data) {
			t.Fatalf("event %s: %s at one receiver, %s at the other", id, ev.Data, b[id].Data)
		}
	}
	if _, unverified, _ := second.Stats(); unverified != 0 {
		t.Fatalf("%d deliveries did not verify", unverified)
	}
	// Connections are kept alive, not one per event. About Concurrency to
	// each receiver on a quiet machine; a loaded one (CI under -race saw
	// 76) dials more while requests overlap the dials and the spares over
	// the idle limit (twice Concurrency) close, so the bound is half the events: an
	// attempt that did not reuse connections would open 300.
	if a, b := f.recv.Conns(), second.Conns(); a >= 150 || b >= 150 {
		t.Fatalf("%d and %d connections for 300 events each: not kept alive", a, b)
	}
	// One read for both (and one of its own for an endpoint whose cursor
	// is before the window's start), however often they asked.
	testenv.Eventually(t, "the endpoints ask again", func() bool { return f.feed.Stats().Calls >= 6 })
	if s := f.feed.Stats(); s.Shared != 1 || s.Direct > 1 {
		t.Fatalf("feed %+v: want one shared read and at most one direct", s)
	}
}
