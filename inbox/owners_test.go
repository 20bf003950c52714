package inbox_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

func (e *env) takeOver(owner, instance string) inbox.DeadClaims {
	e.t.Helper()
	dc, err := e.s.TakeOverInstance(e.ctx, owner, instance)
	if err != nil {
		e.t.Fatalf("take over %s as %s: %v", instance, owner, err)
	}
	return dc
}

// lease reads a message's queue state: status, lease owner ("" for none)
// and whether its lease (due_at) is still running by the database clock.
func (e *env) lease(id inbox.MessageID) (status, owner string, running bool) {
	e.t.Helper()
	var o *string
	if err := e.pool.QueryRow(e.ctx, `SELECT status, lease_owner, coalesce(due_at > now(), false) FROM messages WHERE id = $1`, id).
		Scan(&status, &o, &running); err != nil {
		e.t.Fatal(err)
	}
	if o != nil {
		owner = *o
	}
	return status, owner, running
}

func (e *env) registered() []string {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `SELECT owner || '@' || instance FROM dispatch_owners ORDER BY 1`)
	ok(e.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		ok(e.t, rows.Scan(&s))
		out = append(out, s)
	}
	ok(e.t, rows.Err())
	return out
}

// untilReleased calls ReleaseDeadClaims(staleAfter) until it releases
// something, for at most 10 s.
func (e *env) untilReleased(staleAfter time.Duration) inbox.DeadClaims {
	e.t.Helper()
	var dc inbox.DeadClaims
	testenv.Wait(e.t, 10*time.Second, "an owner to go stale", func() bool {
		var err error
		dc, err = e.s.ReleaseDeadClaims(e.ctx, staleAfter)
		ok(e.t, err)
		return len(dc.Owners) > 0
	}, func() string {
		return fmt.Sprintf("no owner went stale after %v in 10 s: %v", staleAfter, e.registered())
	})
	return dc
}

// keepAlive stands for heartbeats that never miss, whatever the load of the
// machine: the owner's heartbeat is dated an hour ahead.
func (e *env) keepAlive(owner string) {
	e.t.Helper()
	e.exec(`UPDATE dispatch_owners SET heartbeat_at = now() + interval '1 hour' WHERE owner = $1`, owner)
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if dc := e.takeOver("a/1", "a"); len(dc.Owners) != 0 || dc.Messages != 0 {
		t.Fatalf("first take-over released %+v", dc)
	}
	var before, after time.Time
	ok(t, e.pool.QueryRow(e.ctx, `SELECT heartbeat_at FROM dispatch_owners WHERE owner = 'a/1'`).Scan(&before))
	revived, err := e.s.Heartbeat(e.ctx, "a/1", "a")
	if err != nil || revived {
		t.Fatalf("heartbeat: revived %v, %v", revived, err)
	}
	ok(t, e.pool.QueryRow(e.ctx, `SELECT heartbeat_at FROM dispatch_owners WHERE owner = 'a/1'`).Scan(&after))
	if !after.After(before) {
		t.Fatalf("heartbeat_at %v, then %v", before, after)
	}
	// Fresh: not released with any reasonable staleness.
	if dc, err := e.s.ReleaseDeadClaims(e.ctx, time.Minute); err != nil || len(dc.Owners) != 0 {
		t.Fatalf("released a live owner: %+v %v", dc, err)
	}
	// A second take-over by the same owner only refreshes it.
	if dc := e.takeOver("a/1", "a"); len(dc.Owners) != 0 {
		t.Fatalf("take-over again released %+v", dc)
	}
	if got := e.registered(); fmt.Sprint(got) != "[a/1@a]" {
		t.Fatalf("registered %v", got)
	}
	// Unregistered, then heartbeating again: back, and told so.
	n, err := e.s.Unregister(e.ctx, "a/1")
	if err != nil || n != 0 {
		t.Fatalf("unregister: %d %v", n, err)
	}
	if got := e.registered(); len(got) != 0 {
		t.Fatalf("after unregister: %v", got)
	}
	revived, err = e.s.Heartbeat(e.ctx, "a/1", "a")
	if err != nil || !revived {
		t.Fatalf("heartbeat after unregister: revived %v, %v", revived, err)
	}
	for _, bad := range []func() error{
		func() error { _, err := e.s.Heartbeat(e.ctx, "", "a"); return err },
		func() error { _, err := e.s.Heartbeat(e.ctx, "a/1", ""); return err },
		func() error { _, err := e.s.TakeOverInstance(e.ctx, "", "a"); return err },
		func() error { _, err := e.s.ReleaseDeadClaims(e.ctx, 0); return err },
		func() error { _, err := e.s.Unregister(e.ctx, ""); return err },
	} {
		wantCode(t, bad(), inbox.CodeInvalidArgument)
	}
}

// TestDeadOwnerClaimsReleased: an owner whose heartbeat stops is declared
// dead once its heartbeat is staleAfter old, not before; its messages under
// a running lease become claimable at once, and are claimed with the next
// attempt and the parts already accepted; a live owner's claims and an
// unregistered claimer's stay under their leases.
func TestDeadOwnerClaimsReleased(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	var reqs []inbox.OutboundRequest
	for i := range 7 {
		r := msg(ws, contact(i), fmt.Sprint("m", i))
		r.Segments = 2
		reqs = append(reqs, r)
	}
	e.send(reqs...)
	e.takeOver("dead/1", "dead")
	e.takeOver("live/1", "live")
	deadMsgs := ids(e.claim("dead/1", 3, 2*time.Minute))
	liveMsgs := ids(e.claim("live/1", 2, 2*time.Minute))
	loneMsgs := ids(e.claim("never-registered", 2, 2*time.Minute))
	if len(deadMsgs) != 3 || len(liveMsgs) != 2 || len(loneMsgs) != 2 {
		t.Fatalf("claimed %v %v %v", deadMsgs, liveMsgs, loneMsgs)
	}
	// The dead owner got its first part out before it died.
	e.record(okSeg(deadMsgs[0], 0, "d0"))
	e.keepAlive("live/1")

	const staleAfter = 300 * time.Millisecond
	dc := e.untilReleased(staleAfter)
	if len(dc.Owners) != 1 || dc.Messages != 3 {
		t.Fatalf("released %+v", dc)
	}
	d := dc.Owners[0]
	if d.Owner != "dead/1" || d.Instance != "dead" || d.Messages != 3 || d.StartedAt.IsZero() || d.HeartbeatAt.Before(d.StartedAt) {
		t.Fatalf("dead owner %+v", d)
	}
	var silent time.Duration
	ok(t, e.pool.QueryRow(e.ctx, `SELECT extract(epoch FROM now() - $1::timestamptz) * 1e6`, d.HeartbeatAt).Scan(&silent))
	if silent *= time.Microsecond; silent < staleAfter {
		t.Fatalf("released %v after its last heartbeat, staleAfter %v", silent, staleAfter)
	}
	if got := e.registered(); fmt.Sprint(got) != "[live/1@live]" {
		t.Fatalf("registered after the release: %v", got)
	}
	for _, id := range deadMsgs {
		if st, o, running := e.lease(id); st != "sending" || o != "" || running {
			t.Fatalf("released message %d: %s, owner %q, lease running %v", id, st, o, running)
		}
	}
	for _, id := range liveMsgs {
		if st, o, running := e.lease(id); st != "sending" || o != "live/1" || !running {
			t.Fatalf("live owner's message %d: %s, owner %q, lease running %v", id, st, o, running)
		}
	}
	for _, id := range loneMsgs {
		if st, o, running := e.lease(id); st != "sending" || o != "never-registered" || !running {
			t.Fatalf("unregistered claimer's message %d: %s, owner %q, lease running %v", id, st, o, running)
		}
	}
	// Released once: nothing left to release.
	if dc, err := e.s.ReleaseDeadClaims(e.ctx, staleAfter); err != nil || len(dc.Owners) != 0 {
		t.Fatalf("second release: %+v %v", dc, err)
	}

	e.takeOver("peer/1", "peer")
	c := e.claim("peer/1", 10, 2*time.Minute)
	if fmt.Sprint(ids(c)) != fmt.Sprint(deadMsgs) {
		t.Fatalf("peer claimed %v, want the dead owner's %v", ids(c), deadMsgs)
	}
	for i, m := range c {
		if m.Attempts != 2 || m.Submitted[0] != (i == 0) || m.Submitted[1] {
			t.Fatalf("reclaimed %d: attempts %d, submitted %v", m.ID, m.Attempts, m.Submitted)
		}
	}
}

// TestTakeOverInstance: a process restarted at once (its previous life's
// heartbeat still fresh) releases that life's claims at its start, without
// waiting; other instances are left alone; the previous life, should it
// wake up, is told it was superseded and is fenced off.
func TestTakeOverInstance(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	var reqs []inbox.OutboundRequest
	for i := range 5 {
		reqs = append(reqs, msg(ws, contact(i), "x"))
	}
	e.send(reqs...)
	e.takeOver("eng/life1", "eng")
	e.takeOver("other/1", "other")
	old := ids(e.claim("eng/life1", 3, 2*time.Minute))
	others := ids(e.claim("other/1", 2, 2*time.Minute))
	ok(t, first(e.s.Requeue(e.ctx, "eng/life1", []inbox.Requeue{{ID: old[2]}}))) // put back before the kill

	// kill -9, restart.
	dc := e.takeOver("eng/life2", "eng")
	if len(dc.Owners) != 1 || dc.Owners[0].Owner != "eng/life1" || dc.Owners[0].Instance != "eng" || dc.Messages != 2 {
		t.Fatalf("take-over released %+v", dc)
	}
	if got := e.registered(); fmt.Sprint(got) != "[eng/life2@eng other/1@other]" {
		t.Fatalf("registered %v", got)
	}
	c := e.claim("eng/life2", 10, 2*time.Minute)
	if fmt.Sprint(ids(c)) != fmt.Sprint(old) {
		t.Fatalf("restarted process claimed %v, want %v", ids(c), old)
	}
	for _, m := range c {
		if m.Attempts != 2 {
			t.Fatalf("message %d: attempts %d", m.ID, m.Attempts)
		}
	}
	for _, id := range others {
		if _, o, running := e.lease(id); o != "other/1" || !running {
			t.Fatalf("other instance's message %d: owner %q, running %v", id, o, running)
		}
	}
	// The previous life wakes up.
	_, err := e.s.Heartbeat(e.ctx, "eng/life1", "eng")
	if !errors.Is(err, inbox.ErrOwnerSuperseded) || !strings.Contains(err.Error(), "eng/life2") {
		t.Fatalf("old life's heartbeat: %v", err)
	}
	if got := e.registered(); fmt.Sprint(got) != "[eng/life2@eng other/1@other]" {
		t.Fatalf("registered after the old life's heartbeat: %v", got)
	}
	errs, err := e.s.Requeue(e.ctx, "eng/life1", []inbox.Requeue{{ID: old[0]}})
	ok(t, err)
	wantCode(t, errs[0], inbox.CodeLeaseLost)
	if _, err := e.s.Heartbeat(e.ctx, "eng/life2", "eng"); err != nil {
		t.Fatal(err)
	}
}

// TestReleasedOwnerIsFenced: an owner declared dead while it was only
// paused wakes up: its Requeue is refused before and after another owner
// claimed the message, so it never puts back a successor's claim; its
// submit results are still recorded (the segment did go out); its next
// heartbeat registers it again, and says so.
func TestReleasedOwnerIsFenced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	r := msg(ws, contact(1), "x")
	r.Segments = 2
	res := e.send(r, msg(ws, contact(2), "y"))
	m1, m2 := res[0].ID, res[1].ID
	e.takeOver("paused", "p")
	if c := e.claim("paused", 10, 2*time.Minute); len(c) != 2 {
		t.Fatalf("claimed %v", ids(c))
	}
	e.exec(`UPDATE dispatch_owners SET heartbeat_at = now() - interval '1 minute' WHERE owner = 'paused'`)
	if dc, err := e.s.ReleaseDeadClaims(e.ctx, 10*time.Second); err != nil || dc.Messages != 2 {
		t.Fatalf("release: %+v %v", dc, err)
	}
	// Wakes up before anyone claimed m2: refused all the same.
	errs, err := e.s.Requeue(e.ctx, "paused", []inbox.Requeue{{ID: m2}})
	ok(t, err)
	wantCode(t, errs[0], inbox.CodeLeaseLost)

	e.takeOver("successor", "s")
	c := e.claim("successor", 10, 2*time.Minute)
	if len(c) != 2 || c[0].ID != m1 || c[0].Attempts != 2 {
		t.Fatalf("successor claimed %+v", c)
	}
	// The paused owner's late requeue must not undo the successor's claim.
	errs, err = e.s.Requeue(e.ctx, "paused", []inbox.Requeue{{ID: m1, Reason: "late"}, {ID: m2}})
	ok(t, err)
	wantCode(t, errs[0], inbox.CodeLeaseLost)
	wantCode(t, errs[1], inbox.CodeLeaseLost)
	for _, id := range []inbox.MessageID{m1, m2} {
		if st, o, running := e.lease(id); st != "sending" || o != "successor" || !running {
			t.Fatalf("message %d after the late requeue: %s, owner %q, running %v", id, st, o, running)
		}
	}
	// Its late submit result is recorded: part 0 went out.
	e.record(okSeg(m1, 0, "late-0"))
	if m := e.message(ws, m1); len(m.SegmentInfo) == 0 || m.SegmentInfo[0].CarrierMessageID != "late-0" {
		t.Fatalf("late submit not recorded: %+v", m)
	}
	// The successor's own requeue still works.
	ok(t, first(e.s.Requeue(e.ctx, "successor", []inbox.Requeue{{ID: m2}})))
	// The paused owner's heartbeat brings it back, and says so.
	revived, err := e.s.Heartbeat(e.ctx, "paused", "p")
	if err != nil || !revived {
		t.Fatalf("heartbeat of a released owner: revived %v, %v", revived, err)
	}
	if revived, err := e.s.Heartbeat(e.ctx, "paused", "p"); err != nil || revived {
		t.Fatalf("next heartbeat: revived %v, %v", revived, err)
	}
}

// TestConcurrentReleases: processes releasing at the same time release each
// dead owner, and each of its messages, exactly once.
func TestConcurrentReleases(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	const rounds, owners, perOwner = 6, 4, 25
	for round := range rounds {
		var reqs []inbox.OutboundRequest
		for i := range owners * perOwner {
			reqs = append(reqs, msg(ws, contact(round*1000+i), "x"))
		}
		e.send(reqs...)
		want := map[inbox.MessageID]string{}
		for o := range owners {
			owner := fmt.Sprintf("r%d-o%d", round, o)
			e.takeOver(owner, owner)
			for _, id := range ids(e.claim(owner, perOwner, 2*time.Minute)) {
				want[id] = owner
			}
		}
		if len(want) != owners*perOwner {
			t.Fatalf("round %d: claimed %d", round, len(want))
		}
		e.exec(`UPDATE dispatch_owners SET heartbeat_at = now() - interval '1 minute'`)
		const callers = 3
		got := make([]inbox.DeadClaims, callers)
		errs := make([]error, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for c := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[c], errs[c] = e.s.ReleaseDeadClaims(e.ctx, 10*time.Second)
			}()
		}
		close(start)
		wg.Wait()
		var released []string
		total := 0
		for c := range callers {
			ok(t, errs[c])
			total += got[c].Messages
			for _, d := range got[c].Owners {
				if d.Messages != perOwner {
					t.Fatalf("round %d: %s released with %d messages, want %d", round, d.Owner, d.Messages, perOwner)
				}
				released = append(released, d.Owner)
			}
		}
		slices.Sort(released)
		var all []string
		for o := range owners {
			all = append(all, fmt.Sprintf("r%d-o%d", round, o))
		}
		if fmt.Sprint(released) != fmt.Sprint(all) {
			t.Fatalf("round %d: released %v, want each of %v once", round, released, all)
		}
		if total != owners*perOwner {
			t.Fatalf("round %d: %d messages released, want %d", round, total, owners*perOwner)
		}
		c := e.claim("collector", 1000, 2*time.Minute)
		if len(c) != len(want) {
			t.Fatalf("round %d: %d released messages claimable, want %d", round, len(c), len(want))
		}
		var rs []inbox.SubmitResult
		for _, m := range c {
			if _, ok := want[m.ID]; !ok || m.Attempts != 2 {
				t.Fatalf("round %d: claimed %d (attempts %d), not a dead owner's", round, m.ID, m.Attempts)
			}
			rs = append(rs, okSeg(m.ID, 0, fmt.Sprint("c", m.ID)))
		}
		e.record(rs...)
	}
}

// TestUnregisterReleasesLeftovers: a clean shutdown that left messages
// under its lease makes them claimable at once.
func TestUnregisterReleasesLeftovers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	e.send(msg(ws, contact(1), "a"), msg(ws, contact(2), "b"))
	e.takeOver("x/1", "x")
	c := e.claim("x/1", 10, 2*time.Minute)
	e.record(okSeg(c[0].ID, 0, "done"))
	leftover := c[1].ID
	n, err := e.s.Unregister(e.ctx, "x/1")
	if err != nil || n != 1 {
		t.Fatalf("unregister: %d %v", n, err)
	}
	if c := e.claim("y/1", 10, 2*time.Minute); len(c) != 1 || c[0].ID != leftover || c[0].Attempts != 2 {
		t.Fatalf("after unregister: %+v", c)
	}
	if got := e.registered(); len(got) != 0 {
		t.Fatalf("registered %v", got)
	}
}

// TestReleasePlan: finding a dead owner's messages reads the range of
// messages_ready beyond now (the heads under a running lease or requeued
// for later; per number, or the whole index's when the planner finds that
// cheaper) and primary-key probes, never the whole table, even
// when the statistics say the range holds the whole table. The plan, with
// its actual rows and buffers, is logged (go test -v -run ReleasePlan).
func TestReleasePlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	enqueue := func(from, n int) {
		var reqs []inbox.OutboundRequest
		for i := range n {
			reqs = append(reqs, msg(ws, contact(from+i), "x"))
			if len(reqs) == 500 || i == n-1 {
				e.send(reqs...)
				reqs = reqs[:0]
			}
		}
	}
	// History: 3000 messages submitted; 600 in flight under a live owner,
	// 300 under a dead one; 2000 queued behind them.
	enqueue(0, 3000)
	for len(e.claim("history", 500, 2*time.Minute)) > 0 {
	}
	e.exec(`WITH d AS (UPDATE messages SET status = 'submitted', submitted_at = now(), due_at = NULL,
	        pending_since = NULL, lease_owner = NULL WHERE status = 'sending' RETURNING thread_id)
	        UPDATE threads SET out_next = out_next + 1 WHERE id IN (SELECT thread_id FROM d)`)
	enqueue(10000, 900)
	e.takeOver("live", "live")
	e.takeOver("dead", "dead")
	e.claim("live", 600, 2*time.Minute)
	e.claim("dead", 300, 2*time.Minute)
	enqueue(20000, 2000)
	e.keepAlive("live")
	e.exec(`UPDATE dispatch_owners SET heartbeat_at = now() - interval '1 hour' WHERE owner = 'dead'`)

	// explain runs EXPLAIN (opts) of the release in a transaction set up
	// as the release's own, rolled back.
	explain := func(opts string) string {
		t.Helper()
		tx, err := e.pool.Begin(e.ctx)
		ok(t, err)
		defer tx.Rollback(e.ctx)
		for _, q := range inbox.ReleasePlan[1:] { // [0] is BEGIN
			_, err := tx.Exec(e.ctx, q)
			ok(t, err)
		}
		rows, err := tx.Query(e.ctx, "EXPLAIN ("+opts+") "+inbox.ReleaseStaleSQL, int64(10*time.Second/time.Microsecond))
		ok(t, err)
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var line string
			ok(t, rows.Scan(&line))
			b.WriteString(line + "\n")
		}
		ok(t, rows.Err())
		return b.String()
	}
	check := func(when, plan string) {
		t.Helper()
		if strings.Contains(plan, "Seq Scan on messages") ||
			!regexp.MustCompile(`(Index Scan on messages_ready|Index Scan using messages_ready on messages m)\b[^\n]*\n\s+Index Cond: \(((number_id = n\.id) AND \()?due_at > now\(\)\)`).MatchString(plan) {
			t.Fatalf("%s: the dead owner's messages are not found through messages_ready:\n%s", when, plan)
		}
		for _, m := range regexp.MustCompile(`(?:Scan on|using) (\w+)`).FindAllStringSubmatch(plan, -1) {
			if name := m[1]; strings.HasPrefix(name, "messages_") && name != "messages_ready" && name != "messages_pkey" {
				t.Fatalf("%s: the release reads %s:\n%s", when, name, plan)
			}
		}
	}
	// Statistics as they are before the first autovacuum: none.
	analyzed := explain("ANALYZE, BUFFERS, TIMING OFF, COSTS OFF")
	t.Logf("release of a dead owner's 300 messages among %d:\n%s", e.count(`SELECT count(*) FROM messages`), analyzed)
	check("release", analyzed)
	if !regexp.MustCompile(`Update on messages m_\d \(actual rows=300 `).MatchString(analyzed) {
		t.Fatalf("the release did not update the dead owner's 300 messages:\n%s", analyzed)
	}

	// Statistics saying every message is due in the future.
	e.exec(`UPDATE messages SET due_at = now() + interval '1 hour' WHERE status = 'submitted'`)
	e.exec(`ANALYZE messages`)
	e.exec(`UPDATE messages SET due_at = NULL WHERE status = 'submitted'`)
	check("after misleading statistics", explain("COSTS OFF"))
}

// TestTakeOverRace: two processes starting with one instance id at the
// same time: the one whose registration commits second is told it was
// superseded and writes nothing (its release is rolled back with it).
func TestTakeOverRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The other process's take-over, caught between its release and its
	// commit.
	tx, err := e.pool.Begin(e.ctx)
	ok(t, err)
	defer tx.Rollback(e.ctx)
	_, err = tx.Exec(e.ctx, `INSERT INTO dispatch_owners (owner, instance) VALUES ('first', 'shared-id')`)
	ok(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := e.s.TakeOverInstance(e.ctx, "second", "shared-id")
		done <- err
	}()
	testenv.Eventually(t, "the second take-over to wait for the first's row lock", func() bool {
		return e.count(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) > 0
	})
	ok(t, tx.Commit(e.ctx))
	if err := <-done; !errors.Is(err, inbox.ErrOwnerSuperseded) {
		t.Fatalf("second take-over: %v", err)
	}
	if got := e.registered(); fmt.Sprint(got) != "[first@shared-id]" {
		t.Fatalf("registered %v", got)
	}
	// Its heartbeat says the same.
	if _, err := e.s.Heartbeat(e.ctx, "second", "shared-id"); !errors.Is(err, inbox.ErrOwnerSuperseded) {
		t.Fatalf("heartbeat: %v", err)
	}
}
