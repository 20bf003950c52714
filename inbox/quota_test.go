package inbox_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

func caps(daily, monthly int64) inbox.QuotaPatch {
	return inbox.QuotaPatch{DailyCap: &daily, MonthlyCap: &monthly}
}

func (e *env) setQuota(ws inbox.WorkspaceID, p inbox.QuotaPatch) {
	e.t.Helper()
	if err := e.s.SetQuota(e.ctx, ws, p); err != nil {
		e.t.Fatalf("set quota: %v", err)
	}
}

func (e *env) quota(ws inbox.WorkspaceID) inbox.QuotaStatus {
	e.t.Helper()
	q, err := e.s.Quota(e.ctx, ws)
	if err != nil {
		e.t.Fatalf("quota: %v", err)
	}
	return q
}

func segMsg(ws inbox.WorkspaceID, to string, segs int) inbox.OutboundRequest {
	r := msg(ws, to, fmt.Sprintf("%d segments", segs))
	r.Segments = segs
	return r
}

// quotaErr returns the *QuotaExceededError of a result, or nil.
func quotaErr(r inbox.EnqueueResult) *inbox.QuotaExceededError {
	var q *inbox.QuotaExceededError
	if errors.As(r.Err, &q) {
		return q
	}
	return nil
}

// TestQuotaExactUnderConcurrency: many callers on two stores (two engine
// processes, each with its own pool) enqueue to a capped workspace at once;
// exactly the cap's worth is accepted, what the count says is what the
// messages hold, and a workspace without a cap next to it has no counter
// row at all.
func TestQuotaExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := inbox.New(testenv.OpenPool(t, e.pool.Config().ConnString(), 8), inbox.Options{})
	ws, _ := e.ready("capped", inbox.Dedicated)
	free, _ := e.ready("free", inbox.Dedicated)
	const limit = 150
	e.setQuota(ws, caps(limit, 0))

	var accepted, refused, freeAccepted atomic.Int64
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := e.s
			if g%2 == 1 {
				st = other
			}
			for i := range 10 {
				// Batches of 1 to 3 items of one segment each, and one
				// item for the workspace without a cap in every batch.
				n := 1 + (g+i)%3
				reqs := []inbox.OutboundRequest{msg(free, contact(10_000+g*100+i), "free")}
				for k := range n {
					reqs = append(reqs, msg(ws, contact(g*100+i*5+k), "capped"))
				}
				res, err := st.Enqueue(e.ctx, reqs)
				if err != nil {
					t.Errorf("enqueue: %v", err)
					return
				}
				if res[0].Err != nil {
					t.Errorf("the workspace without a cap was refused: %v", res[0].Err)
				}
				freeAccepted.Add(1)
				for _, r := range res[1:] {
					switch {
					case r.Err == nil:
						accepted.Add(1)
					case quotaErr(r) != nil:
						refused.Add(1)
					default:
						t.Errorf("refused for another reason: %v", r.Err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != limit || refused.Load() == 0 {
		t.Fatalf("accepted %d, refused %d; want exactly %d accepted", accepted.Load(), refused.Load(), limit)
	}
	if n := e.count(`SELECT coalesce(sum(segments), 0)::int FROM messages WHERE workspace_id = $1`, ws); n != limit {
		t.Fatalf("messages hold %d segments, want %d", n, limit)
	}
	if q := e.quota(ws); q.Daily == nil || q.Daily.Used != limit || q.Daily.Remaining() != 0 || q.Monthly != nil {
		t.Fatalf("quota %+v", q)
	}
	if n := e.count(`SELECT count(*)::int FROM quota_usage WHERE workspace_id = $1`, free); n != 0 {
		t.Fatalf("the workspace without a cap has %d counter rows", n)
	}
	if q := e.quota(free); q.Daily != nil || q.Monthly != nil || q.TimeZone != "UTC" {
		t.Fatalf("free workspace quota %+v", q)
	}
}

// TestQuotaBatchPerItem: the items of a batch are counted in order; those
// before the cap go through, the one that would cross it and those after
// it are refused, each naming the cap; items refused for another reason
// and repeated idempotency keys count nothing.
func TestQuotaBatchPerItem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Dedicated)
	e.setQuota(ws, caps(7, 0))
	first := segMsg(ws, contact(1), 1)
	first.IdempotencyKey = "k1"
	e.send(first)

	bad := segMsg(ws, "not a number", 3)
	again := first // a repeat: the earlier message, not counted again
	res, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{
		segMsg(ws, contact(2), 2), bad, again, segMsg(ws, contact(3), 3), segMsg(ws, contact(4), 2), segMsg(ws, contact(5), 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !errors.Is(res[1].Err, inbox.ErrInvalidRecipient) || !res[2].Duplicate || res[3].Err != nil {
		t.Fatalf("before the cap: %+v", res[:4])
	}
	for _, i := range []int{4, 5} { // 1+2+3 = 6 used: 2 more crosses 7, and the 1 after it is refused too
		q := quotaErr(res[i])
		if q == nil || !errors.Is(res[i].Err, inbox.ErrQuotaExceeded) || inbox.ErrorCode(res[i].Err) != inbox.CodeQuotaExceeded {
			t.Fatalf("item %d: %v", i, res[i].Err)
		}
		if q.Period != inbox.QuotaDay || q.Limit != 7 || q.Used != 6 || q.Segments != []int{4: 2, 5: 1}[i] ||
			!q.ResetsAt.After(time.Now()) || q.ResetsAt.After(time.Now().Add(24*time.Hour)) {
			t.Fatalf("item %d: %+v", i, q)
		}
	}
	if q := e.quota(ws); q.Daily.Used != 6 {
		t.Fatalf("used %d, want 6", q.Daily.Used)
	}
	// Alone, the one-segment message fits.
	e.send(segMsg(ws, contact(5), 1))
	if r := e.must(e.s.Enqueue(e.ctx, []inbox.OutboundRequest{segMsg(ws, contact(5), 1)})); quotaErr(r[0]) == nil {
		t.Fatalf("past the cap: %+v", r[0])
	}
	// Keyword replies are counted but never refused.
	reply := segMsg(ws, contact(6), 2)
	reply.OptOutExempt = true
	e.send(reply)
	if q := e.quota(ws); q.Daily.Used != 9 {
		t.Fatalf("used %d after a keyword reply, want 9", q.Daily.Used)
	}
}

func (e *env) must(res []inbox.EnqueueResult, err error) []inbox.EnqueueResult {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// clock is a settable time for SetQuotaClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestQuotaPeriodsInTimeZone: days and months are the workspace's, not
// UTC's: at 04:59 UTC on 10 March 2024 it is still 9 March in New York,
// the day resets at its midnight (05:00 UTC), and the next day, the one
// clocks go forward, resets 23 hours later; the month resets at New York's
// 1 April. East of UTC, Tokyo's April starts on 31 March UTC.
func TestQuotaPeriodsInTimeZone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var c clock
	inbox.SetQuotaClock(e.s, c.now)
	ws, _ := e.ready("ny", inbox.Dedicated)
	ny := "America/New_York"
	e.setQuota(ws, inbox.QuotaPatch{TimeZone: &ny})
	c.set(at("2024-03-10T04:59:00Z"))
	e.setQuota(ws, caps(3, 5))

	e.send(segMsg(ws, contact(1), 2), segMsg(ws, contact(2), 1))
	q := quotaErr(e.must(e.s.Enqueue(e.ctx, []inbox.OutboundRequest{segMsg(ws, contact(3), 1)}))[0])
	if q == nil || q.Period != inbox.QuotaDay || q.Used != 3 || !q.ResetsAt.Equal(at("2024-03-10T05:00:00Z")) {
		t.Fatalf("9 March in New York: %+v", q)
	}
	st := e.quota(ws)
	if st.TimeZone != ny || st.Daily.Start.Format(time.DateOnly) != "2024-03-09" || st.Monthly.Start.Format(time.DateOnly) != "2024-03-01" ||
		!st.Monthly.ResetsAt.Equal(at("2024-04-01T04:00:00Z")) {
		t.Fatalf("quota %+v %+v", st.Daily, st.Monthly)
	}

	c.set(at("2024-03-10T05:00:01Z")) // 00:00:01 on 10 March in New York
	e.send(segMsg(ws, contact(3), 1))
	st = e.quota(ws)
	if st.Daily.Used != 1 || st.Daily.Start.Format(time.DateOnly) != "2024-03-10" ||
		!st.Daily.ResetsAt.Equal(at("2024-03-11T04:00:00Z")) || st.Monthly.Used != 4 {
		t.Fatalf("10 March in New York: %+v %+v", st.Daily, st.Monthly)
	}
	// Both caps would be crossed: the monthly one, which resets last, is named.
	q = quotaErr(e.must(e.s.Enqueue(e.ctx, []inbox.OutboundRequest{segMsg(ws, contact(4), 3)}))[0])
	if q == nil || q.Period != inbox.QuotaMonth || q.Limit != 5 || q.Used != 4 || !q.ResetsAt.Equal(at("2024-04-01T04:00:00Z")) {
		t.Fatalf("month: %+v", q)
	}

	// A new month starts both counts again.
	c.set(at("2024-04-01T04:00:00Z"))
	e.send(segMsg(ws, contact(4), 3))
	if st = e.quota(ws); st.Daily.Used != 3 || st.Monthly.Used != 3 || st.Monthly.Start.Format(time.DateOnly) != "2024-04-01" {
		t.Fatalf("April: %+v %+v", st.Daily, st.Monthly)
	}

	tokyo := "Asia/Tokyo"
	e.setQuota(ws, inbox.QuotaPatch{TimeZone: &tokyo})
	c.set(at("2024-03-31T15:30:00Z")) // 00:30 on 1 April in Tokyo
	st = e.quota(ws)
	if st.Daily.Start.Format(time.DateOnly) != "2024-04-01" || !st.Daily.ResetsAt.Equal(at("2024-04-01T15:00:00Z")) ||
		!st.Monthly.ResetsAt.Equal(at("2024-04-30T15:00:00Z")) {
		t.Fatalf("Tokyo: %+v %+v", st.Daily, st.Monthly)
	}
}

// TestQuotaThresholdEventsOnce: the feed gets one quota event when the
// count reaches 80 % and one at 100 %, in the transaction that got there;
// sending on past them (refused) adds none. A cap refusing a message
// before the count reaches it is 100 % too, once.
func TestQuotaThresholdEventsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Dedicated)
	start, err := e.s.ChangeCursor(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.setQuota(ws, caps(10, 0))
	quotaEvents := func(ws inbox.WorkspaceID, after string) []*inbox.QuotaEvent {
		cs, _ := e.changes(ws, after)
		var out []*inbox.QuotaEvent
		for _, c := range cs {
			if c.Kind == inbox.ChangeQuota {
				out = append(out, c.Quota)
			}
		}
		return out
	}
	for i := range 7 {
		e.send(msg(ws, contact(i), "hi"))
	}
	if evs := quotaEvents(ws, start); len(evs) != 0 {
		t.Fatalf("at 70 %%: %+v", evs)
	}
	e.send(msg(ws, contact(7), "hi")) // 80 %
	e.send(msg(ws, contact(8), "hi"))
	e.send(msg(ws, contact(9), "hi")) // 100 %
	for range 3 {
		e.must(e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(ws, contact(10), "refused")}))
	}
	// The feed shows a change once the transactions running when it was
	// written have ended (Store.Changes): wait for the two.
	var evs []*inbox.QuotaEvent
	testenv.Wait(t, 15*time.Second, "the two quota events", func() bool {
		evs = quotaEvents(ws, start)
		return len(evs) >= 2
	}, func() string { return fmt.Sprintf("events %+v; %s", evs, e.horizonHolders()) })
	if len(evs) != 2 {
		t.Fatalf("events %+v; %s", evs, e.horizonHolders())
	}
	for i, want := range []struct {
		threshold int
		used      int64
	}{{80, 8}, {100, 10}} {
		ev := evs[i]
		if ev.Threshold != want.threshold || ev.Used != want.used || ev.Limit != 10 || ev.Period != inbox.QuotaDay ||
			ev.Start.Format(time.DateOnly) != e.quota(ws).Daily.Start.Format(time.DateOnly) || ev.ResetsAt.IsZero() || ev.At.IsZero() {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	// The feed reads on after a quota event's cursor.
	cs := e.changesUntil(ws, start, func(cs []inbox.Change) bool { return len(cs) > 0 && cs[len(cs)-1].Kind == inbox.ChangeQuota })
	last := cs[len(cs)-1]
	if last.Kind != inbox.ChangeQuota {
		t.Fatalf("last change %+v", last)
	}
	if more, _ := e.changes(ws, last.Cursor); len(more) != 0 {
		t.Fatalf("after the last event: %+v", more)
	}

	// A monthly cap that refuses a two-segment message at 9 of 10: 100 %, once.
	other, _ := e.ready("other", inbox.Dedicated)
	e.setQuota(other, caps(0, 10))
	for i := range 9 {
		e.send(msg(other, contact(i), "hi"))
	}
	mark, err := e.s.ChangeCursor(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if q := quotaErr(e.must(e.s.Enqueue(e.ctx, []inbox.OutboundRequest{segMsg(other, contact(20), 2)}))[0]); q == nil {
			t.Fatal("not refused")
		}
	}
	evs = quotaEvents(other, mark)
	if len(evs) != 1 || evs[0].Threshold != 100 || evs[0].Used != 9 || evs[0].Period != inbox.QuotaMonth {
		t.Fatalf("refusal events %+v", evs)
	}
}

// TestSetQuota: bad settings are refused with nothing changed; a first cap
// counts what the day and month accepted before it (not earlier months,
// not inbound, in the workspace's time zone); changing the cap keeps the
// count, changing the time zone counts afresh, removing the last cap
// removes the counter; a cap set under what is used fires its events.
func TestSetQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	bad := []inbox.QuotaPatch{
		{TimeZone: ptr("Mars/Olympus")}, {TimeZone: ptr("")}, {TimeZone: ptr("Local")}, {TimeZone: ptr(" UTC")},
		caps(-1, 0), caps(0, inbox.MaxSegmentCap+1),
	}
	for _, p := range bad {
		if err := e.s.SetQuota(e.ctx, ws, p); !errors.Is(err, inbox.ErrInvalidArgument) {
			t.Fatalf("%+v: %v", p, err)
		}
	}
	if err := e.s.SetQuota(e.ctx, 999999, caps(1, 1)); !errors.Is(err, inbox.ErrNotFound) {
		t.Fatalf("no such workspace: %v", err)
	}
	if w, err := e.s.GetWorkspace(e.ctx, ws); err != nil || w.TimeZone != "UTC" || w.DailySegmentCap != 0 || w.MonthlySegmentCap != 0 {
		t.Fatalf("after refusals: %+v %v", w, err)
	}

	// Before any cap: today's 3 segments, 2 of them scheduled for later
	// (counted when accepted), one yesterday in Auckland's terms, one last
	// month, an inbound message.
	sched := segMsg(ws, contact(2), 2)
	sched.SendAt = time.Now().Add(48 * time.Hour)
	e.send(segMsg(ws, contact(1), 1), sched)
	old := e.send(segMsg(ws, contact(3), 4), segMsg(ws, contact(4), 5))
	e.exec(`UPDATE messages SET created_at = date_trunc('month', now() AT TIME ZONE 'Pacific/Auckland') AT TIME ZONE 'Pacific/Auckland' - interval '1 day'
		WHERE id = $1`, old[0].ID)
	e.exec(`UPDATE messages SET created_at = date_trunc('day', now() AT TIME ZONE 'Pacific/Auckland') AT TIME ZONE 'Pacific/Auckland' - interval '1 second'
		WHERE id = $1`, old[1].ID)
	e.inbound(inbox.Inbound{Carrier: "carrier-a", From: contact(1), To: n.E164, Body: "inbound", Encoding: "GSM7"})

	e.setQuota(ws, inbox.QuotaPatch{TimeZone: ptr("Pacific/Auckland"), DailyCap: ptr64(100)})
	q := e.quota(ws)
	// Yesterday's message (Auckland) is this month's unless today is the 1st there.
	wantMonth := int64(3)
	if time.Now().In(mustZone(t, "Pacific/Auckland")).Day() != 1 {
		wantMonth = 8
	}
	if q.Daily.Used != 3 || q.Monthly != nil || q.TimeZone != "Pacific/Auckland" {
		t.Fatalf("seeded %+v", q.Daily)
	}
	e.setQuota(ws, inbox.QuotaPatch{MonthlyCap: ptr64(1000)})
	if q = e.quota(ws); q.Monthly.Used != wantMonth || q.Daily.Used != 3 {
		t.Fatalf("with a monthly cap: day %+v month %+v, want month %d", q.Daily, q.Monthly, wantMonth)
	}
	e.send(segMsg(ws, contact(5), 1))
	e.setQuota(ws, inbox.QuotaPatch{DailyCap: ptr64(200)}) // the count goes on
	if q = e.quota(ws); q.Daily.Used != 4 || q.Daily.Limit != 200 {
		t.Fatalf("cap changed: %+v", q.Daily)
	}
	e.setQuota(ws, inbox.QuotaPatch{TimeZone: ptr("UTC")}) // counted afresh in UTC
	if q = e.quota(ws); q.Daily.Used < 4 || q.TimeZone != "UTC" {
		t.Fatalf("time zone changed: %+v", q.Daily)
	}

	// A cap under what is used: the events of the thresholds reached, once.
	start, err := e.s.ChangeCursor(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.setQuota(ws, inbox.QuotaPatch{DailyCap: ptr64(4)})
	e.setQuota(ws, inbox.QuotaPatch{DailyCap: ptr64(4)})
	var got []int
	cs, _ := e.changesN(ws, start, 2)
	for _, c := range cs {
		if c.Kind == inbox.ChangeQuota {
			got = append(got, c.Quota.Threshold)
		}
	}
	if fmt.Sprint(got) != "[80 100]" {
		t.Fatalf("events %v", got)
	}

	// No caps, no counter; a cap again counts afresh.
	e.setQuota(ws, caps(0, 0))
	if n := e.count(`SELECT count(*)::int FROM quota_usage`); n != 0 {
		t.Fatalf("%d counter rows without caps", n)
	}
	e.send(segMsg(ws, contact(6), 1))
	e.setQuota(ws, caps(100, 0))
	if q = e.quota(ws); q.Daily.Used < 5 {
		t.Fatalf("counted again: %+v", q.Daily)
	}
}

func ptr(s string) *string { return &s }
func ptr64(v int64) *int64 { return &v }

func mustZone(t *testing.T, name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
