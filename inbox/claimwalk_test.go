package inbox_test

import (
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// TestClaimWalksNumbersRoundRobin: when one number's backlog was queued
// first, a claim still serves the other numbers in turn — each claim
// starts where the previous one stopped — instead of first in, first out
// across numbers (the old global claim handed out the first number's
// backlog, perNumber at a time, for as long as it lasted).
func TestClaimWalksNumbersRoundRobin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const numbers, perNumber, claimMax = 12, 2, 6
	var (
		wss  []inbox.WorkspaceID
		e164 []string
	)
	for i := range numbers {
		ws, n := e.ready("w"+string(rune('a'+i)), inbox.Dedicated)
		wss, e164 = append(wss, ws), append(e164, n.E164)
	}
	// The first number's campaign first: 200 contacts, two messages each.
	var reqs []inbox.OutboundRequest
	for i := range 200 {
		reqs = append(reqs, msg(wss[0], contact(i), "first"), msg(wss[0], contact(i), "second"))
	}
	e.send(reqs...)
	for _, ws := range wss[1:] {
		e.send(msg(ws, contact(1), "a"), msg(ws, contact(2), "b"), msg(ws, contact(3), "c"))
	}
	served := map[string]int{}
	for claim := range numbers * perNumber / claimMax {
		c, err := e.s.ClaimLimited(e.ctx, "d", claimMax, time.Minute, nil, perNumber)
		ok(t, err)
		if len(c) != claimMax {
			t.Fatalf("claim %d took %d, want %d", claim, len(c), claimMax)
		}
		for _, m := range c {
			served[m.From]++
		}
	}
	for i, n := range e164 {
		if served[n] != perNumber {
			t.Errorf("number %d: %d messages in the first %d claims, want %d (served: %v)",
				i, served[n], numbers*perNumber/claimMax, perNumber, served)
		}
	}
	// Only heads are due: the first number's 200 second messages wait
	// behind their first ones, out of the claim index.
	if n := e.count(`SELECT count(*) FROM messages WHERE workspace_id = $1 AND due_at IS NOT NULL`, wss[0]); n != 200 {
		t.Fatalf("%d of the first number's messages are in the claim index, want its 200 heads", n)
	}
}

// TestEveryWayAHeadLeavesPromotesTheNext: a thread's next message enters
// the claim index exactly when the message before it stops being pending:
// submitted, failed, expired, canceled (as the head), or failed by a
// receipt that beat its submit result. Until then it is not due.
func TestEveryWayAHeadLeavesPromotesTheNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	var reqs []inbox.OutboundRequest
	for i := range 6 {
		reqs = append(reqs, msg(ws, contact(1), string(rune('1'+i))))
	}
	res := e.send(reqs...)
	dueOnes := func() []inbox.MessageID {
		t.Helper()
		rows, err := e.pool.Query(e.ctx, `SELECT id FROM messages WHERE workspace_id = $1 AND due_at IS NOT NULL ORDER BY id`, ws)
		ok(t, err)
		defer rows.Close()
		var out []inbox.MessageID
		for rows.Next() {
			var id inbox.MessageID
			ok(t, rows.Scan(&id))
			out = append(out, id)
		}
		ok(t, rows.Err())
		return out
	}
	wantDue := func(step string, id inbox.MessageID) {
		t.Helper()
		if d := dueOnes(); len(d) != 1 || d[0] != id {
			t.Fatalf("%s: due %v, want only %d", step, d, id)
		}
	}
	claimOne := func(step string, id inbox.MessageID) {
		t.Helper()
		if c := e.claim("d", 10, time.Minute); len(c) != 1 || c[0].ID != id {
			t.Fatalf("%s: claimed %v, want %d", step, ids(c), id)
		}
	}
	wantDue("enqueued", res[0].ID)

	claimOne("first", res[0].ID)
	wantDue("in flight (its lease end)", res[0].ID)
	e.record(okSeg(res[0].ID, 0, "walk-1"))
	wantDue("submitted", res[1].ID)

	claimOne("second", res[1].ID)
	e.record(inbox.SubmitResult{Message: res[1].ID, Outcome: inbox.SubmitPermanent, ErrorCode: 0x45, Reason: "no"})
	wantDue("failed", res[2].ID)

	e.exec(`UPDATE messages SET expires_at = now() - interval '1 second' WHERE id = $1`, res[2].ID)
	n, err := e.s.ExpireMessages(e.ctx)
	ok(t, err)
	if n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	wantDue("expired", res[3].ID)

	// Canceling a message behind the head changes nothing; canceling the
	// head makes the next one the head.
	_, err = e.s.CancelMessage(e.ctx, ws, res[4].ID)
	ok(t, err)
	wantDue("canceled behind the head", res[3].ID)
	_, err = e.s.CancelMessage(e.ctx, ws, res[3].ID)
	ok(t, err)
	wantDue("canceled head", res[5].ID)

	// A failed receipt before the submit result ends the message when
	// the result maps it: the thread moves on to the message behind.
	res7 := e.send(msg(ws, contact(1), "7"))
	claimOne("sixth", res[5].ID)
	wantDue("in flight, with one behind it", res[5].ID)
	e.receipts(inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: "walk-6", Status: inbox.ReceiptFailed})
	e.record(okSeg(res[5].ID, 0, "walk-6"))
	if m := e.message(ws, res[5].ID); m.Status == inbox.StatusQueued || m.Status == inbox.StatusSending {
		t.Fatalf("sixth still %s", m.Status)
	}
	wantDue("failed by its receipt", res7[0].ID)
}
