package inbox_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// later returns msg scheduled at t.
func later(r inbox.OutboundRequest, t time.Time) inbox.OutboundRequest {
	r.SendAt = t
	return r
}

func (e *env) release() int64 {
	e.t.Helper()
	n, err := e.s.ReleaseScheduled(e.ctx)
	if err != nil {
		e.t.Fatalf("release: %v", err)
	}
	return n
}

// due makes scheduled messages due now, as if their send time had come.
func (e *env) due(ids ...inbox.MessageID) {
	e.t.Helper()
	for _, id := range ids {
		e.exec(`UPDATE messages SET send_at = now() - interval '1 millisecond' WHERE id = $1`, id)
	}
}

func TestScheduledMessageWaitsAndHoldsNothingBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	res := e.send(later(msg(ws, contact(1), "tomorrow"), time.Now().Add(24*time.Hour)), msg(ws, contact(1), "now"))
	if !res[0].Scheduled || res[1].Scheduled {
		t.Fatalf("scheduled flags %v %v, want true false", res[0].Scheduled, res[1].Scheduled)
	}
	if m := e.message(ws, res[0].ID); m.Status != inbox.StatusScheduled || m.SendAt.IsZero() || !m.QueuedAt.IsZero() {
		t.Fatalf("scheduled message: %s send_at %v queued_at %v", m.Status, m.SendAt, m.QueuedAt)
	}
	// The later message of the same thread goes at once: the scheduled one
	// has no place in the line yet.
	c := e.claim("d", 10, time.Minute)
	if len(c) != 1 || c[0].ID != res[1].ID {
		t.Fatalf("claimed %v, want only %d", ids(c), res[1].ID)
	}
	if n := e.release(); n != 0 {
		t.Fatalf("released %d before the send time", n)
	}
	e.due(res[0].ID)
	if n := e.release(); n != 1 {
		t.Fatalf("released %d, want 1", n)
	}
	m := e.message(ws, res[0].ID)
	if m.Status != inbox.StatusQueued || m.QueuedAt.IsZero() {
		t.Fatalf("released message: %s", m.Status)
	}
	// It is behind "now" in the thread's line: not claimable until that one
	// is submitted.
	if c := e.claim("d", 10, time.Minute); len(c) != 0 {
		t.Fatalf("claimed %v while the thread's head is in flight", ids(c))
	}
	e.record(okSeg(res[1].ID, 0, "c1"))
	if c := e.claim("d", 10, time.Minute); len(c) != 1 || c[0].ID != res[0].ID {
		t.Fatalf("claimed %v, want the released message", ids(c))
	}
	// The feed tells scheduled, then queued (the latest state of each).
	var seen []inbox.Status
	e.changesUntil(ws, "", func(ch []inbox.Change) bool {
		seen = nil
		for _, x := range ch {
			if x.Message == res[0].ID {
				seen = append(seen, x.Status)
			}
		}
		return len(seen) > 0
	})
	if len(seen) != 1 || seen[0] != inbox.StatusSending {
		t.Fatalf("feed for the scheduled message: %v", seen)
	}
}

func TestScheduleAndValidityLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	bad := []inbox.OutboundRequest{
		later(msg(ws, contact(1), "too far"), time.Now().Add(inbox.MaxScheduleAhead+time.Hour)),
		{Workspace: ws, To: contact(2), Body: "short", Encoding: "gsm7", Segments: 1, Validity: 59 * time.Second},
		{Workspace: ws, To: contact(3), Body: "long", Encoding: "gsm7", Segments: 1, Validity: 10*time.Hour + time.Second},
		{Workspace: ws, To: contact(4), Body: "negative", Encoding: "gsm7", Segments: 1, Validity: -time.Minute},
	}
	res, err := e.s.Enqueue(e.ctx, bad)
	ok(t, err)
	for _, r := range res {
		wantCode(t, r.Err, inbox.CodeInvalidArgument)
	}
	good := e.send(
		later(msg(ws, contact(5), "35 days"), time.Now().Add(inbox.MaxScheduleAhead-time.Minute)),
		inbox.OutboundRequest{Workspace: ws, To: contact(6), Body: "1 min", Encoding: "gsm7", Segments: 1, Validity: time.Minute},
		later(msg(ws, contact(7), "past: at once"), time.Now().Add(-time.Hour)),
	)
	if !good[0].Scheduled || good[1].Scheduled || good[2].Scheduled {
		t.Fatalf("scheduled flags: %v %v %v", good[0].Scheduled, good[1].Scheduled, good[2].Scheduled)
	}
	m := e.message(ws, good[1].ID)
	if d := time.Until(m.ExpiresAt); d < 50*time.Second || d > 61*time.Second {
		t.Fatalf("expires_at %v from now, want about 1 min", d)
	}
	if n := e.count(`SELECT count(*) FROM messages`); n != 3 {
		t.Fatalf("%d messages stored, want 3", n)
	}
}

func TestValidityExpiresTheMessage(t *testing.T) {
	t.Parallel()
	e := newEnvOpts(t, inbox.Options{MessageTTL: 10 * time.Hour})
	ws, _ := e.ready("w", inbox.Shared)
	v := inbox.OutboundRequest{Workspace: ws, To: contact(1), Body: "valid 2 min", Encoding: "gsm7", Segments: 1, Validity: 2 * time.Minute}
	res := e.send(v, msg(ws, contact(2), "default TTL"), later(v, time.Now().Add(time.Hour)))
	c := e.claim("d", 10, time.Minute)
	if len(c) != 2 {
		t.Fatalf("claimed %d", len(c))
	}
	for _, m := range c {
		switch m.ID {
		case res[0].ID:
			if d := time.Until(m.ExpiresAt); d < time.Minute || d > 2*time.Minute {
				t.Fatalf("claimed ExpiresAt %v from now", d)
			}
		case res[1].ID:
			if !m.ExpiresAt.IsZero() {
				t.Fatalf("a message without validity has ExpiresAt %v", m.ExpiresAt)
			}
		}
	}
	ok(t, first(e.s.Requeue(e.ctx, "d", []inbox.Requeue{{ID: res[0].ID}, {ID: res[1].ID}})))
	// Its validity ran out (the TTL has not): not claimable, and the sweep
	// expires it, with a status event.
	e.exec(`UPDATE messages SET expires_at = now() - interval '1 second' WHERE id = $1`, res[0].ID)
	cur, err := e.s.ChangeCursor(e.ctx)
	ok(t, err)
	if c := e.claim("d", 10, time.Minute); len(c) != 1 || c[0].ID != res[1].ID {
		t.Fatalf("claimed %v, want only the message without validity", ids(c))
	}
	n, err := e.s.ExpireMessages(e.ctx)
	ok(t, err)
	if n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	if m := e.message(ws, res[0].ID); m.Status != inbox.StatusExpired {
		t.Fatalf("status %s, want expired", m.Status)
	}
	found := false
	ch := e.changesUntil(ws, cur, func(ch []inbox.Change) bool {
		for _, x := range ch {
			found = found || (x.Message == res[0].ID && x.Status == inbox.StatusExpired)
		}
		return found
	})
	if !found {
		t.Fatalf("no expired event in %+v", ch)
	}
	// A scheduled message's validity counts from its send time.
	if m := e.message(ws, res[2].ID); m.ExpiresAt.Sub(m.SendAt) != 2*time.Minute {
		t.Fatalf("scheduled: send_at %v expires_at %v", m.SendAt, m.ExpiresAt)
	}
}

func TestScheduledTTLCountsFromSendTime(t *testing.T) {
	t.Parallel()
	e := newEnvOpts(t, inbox.Options{MessageTTL: time.Hour})
	ws, _ := e.ready("w", inbox.Shared)
	res := e.send(later(msg(ws, contact(1), "in 2 h"), time.Now().Add(2*time.Hour)))
	// Accepted 3 hours ago, due now: older than the TTL, but not past it
	// counted from its send time.
	e.exec(`UPDATE messages SET created_at = now() - interval '3 hours', send_at = now() - interval '1 minute' WHERE id = $1`, res[0].ID)
	if n := e.release(); n != 1 {
		t.Fatalf("released %d", n)
	}
	if c := e.claim("d", 10, time.Minute); len(c) != 1 {
		t.Fatalf("claimed %d, want 1", len(c))
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	other, _ := e.ready("other", inbox.Shared)
	res := e.send(
		later(msg(ws, contact(1), "scheduled"), time.Now().Add(time.Hour)),
		msg(ws, contact(2), "head"), msg(ws, contact(2), "middle"), msg(ws, contact(2), "last"),
		msg(ws, contact(3), "in flight"),
	)
	sched, head, middle, last, flight := res[0].ID, res[1].ID, res[2].ID, res[3].ID, res[4].ID

	if _, err := e.s.CancelMessage(e.ctx, other, sched); err == nil {
		t.Fatal("another workspace canceled the message")
	} else {
		wantCode(t, err, inbox.CodeNotFound)
	}
	m, err := e.s.CancelMessage(e.ctx, ws, sched)
	ok(t, err)
	if m.Status != inbox.StatusCanceled || m.CanceledAt.IsZero() {
		t.Fatalf("canceled scheduled: %s at %v", m.Status, m.CanceledAt)
	}
	// Again: the same answer.
	if m, err := e.s.CancelMessage(e.ctx, ws, sched); err != nil || m.Status != inbox.StatusCanceled {
		t.Fatalf("second cancel: %v %v", m.Status, err)
	}
	e.due(sched)
	if n := e.release(); n != 0 {
		t.Fatalf("released a canceled message")
	}

	// The middle of a thread's line: the head goes, then the last.
	ok(t, err2(e.s.CancelMessage(e.ctx, ws, middle)))
	c := e.claim("d", 10, time.Minute)
	if got := ids(c); len(got) != 2 || !has(got, head) || !has(got, flight) {
		t.Fatalf("claimed %v, want head %d and %d", got, head, flight)
	}
	// Claimed (sending) or submitted: too late.
	wantCode(t, err2(e.s.CancelMessage(e.ctx, ws, flight)), inbox.CodeNotCancelable)
	e.record(okSeg(flight, 0, "f1"))
	wantCode(t, err2(e.s.CancelMessage(e.ctx, ws, flight)), inbox.CodeNotCancelable)
	e.record(okSeg(head, 0, "h1"))
	c = e.claim("d", 10, time.Minute)
	if len(c) != 1 || c[0].ID != last {
		t.Fatalf("claimed %v, want the last message %d", ids(c), last)
	}

	// The head of a line: the next one becomes the head.
	res = e.send(msg(ws, contact(4), "a"), msg(ws, contact(4), "b"))
	ok(t, err2(e.s.CancelMessage(e.ctx, ws, res[0].ID)))
	c = e.claim("d", 10, time.Minute)
	if len(c) != 1 || c[0].ID != res[1].ID {
		t.Fatalf("claimed %v, want %d", ids(c), res[1].ID)
	}
	// A new message after everything was canceled or sent is claimable at once.
	ok(t, err2(e.s.CancelMessage(e.ctx, ws, e.send(msg(ws, contact(5), "x"))[0].ID)))
	res = e.send(msg(ws, contact(5), "y"))
	if c := e.claim("d", 10, time.Minute); len(c) != 1 || c[0].ID != res[0].ID {
		t.Fatalf("claimed %v after a canceled head", ids(c))
	}
	if n := e.count(`SELECT count(*) FROM messages WHERE status = 'canceled' AND (due_at IS NOT NULL OR pending_since IS NOT NULL)`); n != 0 {
		t.Fatalf("%d canceled messages still pending", n)
	}
}

// TestCancelRacesClaim cancels queued messages while claimers take them:
// each message is either canceled and never claimed, or claimed and the
// cancel refused.
func TestCancelRacesClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	const n = 300
	reqs := make([]inbox.OutboundRequest, n)
	for i := range reqs {
		reqs[i] = msg(ws, contact(i%100), "race") // three per thread
	}
	res := e.send(reqs...)
	var (
		mu       sync.Mutex
		claimed  = map[inbox.MessageID]bool{}
		canceled = map[inbox.MessageID]bool{}
		refused  = map[inbox.MessageID]bool{}
		wg       sync.WaitGroup
		done     = make(chan struct{})
	)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := e.s.Claim(e.ctx, "d", 20, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, m := range c {
					if claimed[m.ID] {
						t.Errorf("message %d claimed twice", m.ID)
					}
					claimed[m.ID] = true
				}
				mu.Unlock()
				// Submit what was claimed so the threads move on.
				var rs []inbox.SubmitResult
				for _, m := range c {
					rs = append(rs, okSeg(m.ID, 0, fmt.Sprint("id", m.ID)))
				}
				if len(rs) > 0 {
					if _, err := e.s.RecordSubmits(e.ctx, rs); err != nil {
						t.Error(err)
						return
					}
				}
				select {
				case <-done:
					if len(c) == 0 {
						return
					}
				default:
				}
			}
		}()
	}
	for i := len(res) - 1; i >= 0; i-- { // from the back: mostly non-heads
		_, err := e.s.CancelMessage(e.ctx, ws, res[i].ID)
		mu.Lock()
		switch inbox.ErrorCode(err) {
		case "":
			canceled[res[i].ID] = true
		case inbox.CodeNotCancelable:
			refused[res[i].ID] = true
		default:
			t.Errorf("cancel %d: %v", res[i].ID, err)
		}
		mu.Unlock()
		if i%2 == 0 {
			i-- // leave every other one to the claimers
		}
	}
	close(done)
	wg.Wait()
	for id := range canceled {
		if claimed[id] {
			t.Errorf("message %d was canceled and claimed", id)
		}
		if m := e.message(ws, id); m.Status != inbox.StatusCanceled {
			t.Errorf("canceled message %d is %s", id, m.Status)
		}
	}
	for id := range refused {
		if !claimed[id] {
			t.Errorf("cancel of %d refused but it was never claimed", id)
		}
	}
	if len(claimed)+len(canceled) != n {
		t.Fatalf("claimed %d + canceled %d != %d: some message is stuck", len(claimed), len(canceled), n)
	}
	if len(canceled) == 0 || len(claimed) == 0 {
		t.Fatalf("no race: canceled %d, claimed %d", len(canceled), len(claimed))
	}
}

func TestReleaseHonoursOptOutAndDisabledNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	res := e.send(later(msg(ws, contact(1), "to an opted-out contact"), time.Now().Add(time.Hour)),
		later(msg(ws, contact(2), "number disabled"), time.Now().Add(time.Hour)))
	e.exec(`INSERT INTO contacts (workspace_id, contact, opted_out) VALUES ($1, $2, true)`, ws, contact(1))
	ok(t, e.s.DisableNumber(e.ctx, ws, n.ID))
	e.due(res[0].ID, res[1].ID)
	if got := e.release(); got != 2 {
		t.Fatalf("released %d", got)
	}
	if m := e.message(ws, res[0].ID); m.Status != inbox.StatusCanceled || m.LastError != "recipient_opted_out" {
		t.Fatalf("opted out: %s %q", m.Status, m.LastError)
	}
	if m := e.message(ws, res[1].ID); m.Status != inbox.StatusQueued {
		t.Fatalf("disabled number: %s", m.Status)
	}
	if c := e.claim("d", 10, time.Minute); len(c) != 0 {
		t.Fatalf("claimed %v from a disabled number", ids(c))
	}
	ok(t, e.s.EnableNumber(e.ctx, ws, n.ID))
	if c := e.claim("d", 10, time.Minute); len(c) != 1 || c[0].ID != res[1].ID {
		t.Fatalf("claimed %v after enable", ids(c))
	}
}

func err2[T any](_ T, err error) error { return err }

func has(s []inbox.MessageID, id inbox.MessageID) bool {
	for _, x := range s {
		if x == id {
			return true
		}
	}
	return false
}
