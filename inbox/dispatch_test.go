package inbox_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

func ids(cs []inbox.ClaimedMessage) []inbox.MessageID {
	var out []inbox.MessageID
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func okSeg(id inbox.MessageID, seg int, carrierID string) inbox.SubmitResult {
	return inbox.SubmitResult{Message: id, Segment: seg, Outcome: inbox.SubmitOK, CarrierMessageID: carrierID, Format: inbox.IDOpaque}
}

func TestClaimCarriesWhatTheDispatcherNeeds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	r := msg(ws, contact(1), "hello")
	r.Encoding, r.Segments = "ucs2", 3
	id := e.send(r)[0].ID
	c := e.claim("d1", 10, time.Minute)
	if len(c) != 1 {
		t.Fatalf("claimed %d", len(c))
	}
	got := c[0]
	if got.ID != id || got.Workspace != ws || got.From != n.E164 || got.Carrier != "carrier-a" ||
		got.RateClass != inbox.RateClassDedicated || got.To != contact(1) || got.Body != "hello" ||
		got.Encoding != "ucs2" || got.Segments != 3 || got.Attempts != 1 || got.CreatedAt.IsZero() ||
		len(got.Submitted) != 3 || got.Submitted[0] || time.Until(got.LeaseUntil) < 50*time.Second {
		t.Fatalf("claimed %+v", got)
	}
	if m := e.message(ws, id); m.Status != inbox.StatusSending || m.SendingAt.IsZero() {
		t.Fatalf("after claim: %s", m.Status)
	}
	if again := e.claim("d2", 10, time.Minute); len(again) != 0 {
		t.Fatalf("claimed a leased message again: %v", ids(again))
	}
	_, err := e.s.Claim(e.ctx, "", 10, time.Minute)
	wantCode(t, err, inbox.CodeInvalidArgument)
}

func TestClaimOrderPerThread(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	res := e.send(msg(ws, contact(1), "1"), msg(ws, contact(1), "2"), msg(ws, contact(2), "other"), msg(ws, contact(1), "3"))
	m1, m2, other, m3 := res[0].ID, res[1].ID, res[2].ID, res[3].ID

	c := e.claim("d", 10, time.Minute)
	if fmt.Sprint(ids(c)) != fmt.Sprint([]inbox.MessageID{m1, other}) {
		t.Fatalf("first claim %v, want [%d %d]", ids(c), m1, other)
	}
	// m2 waits while m1 is in flight.
	if c := e.claim("d", 10, time.Minute); len(c) != 0 {
		t.Fatalf("claimed %v while m1 in flight", ids(c))
	}
	// m1 requeued for later: m2 still waits behind it.
	errs, err := e.s.Requeue(e.ctx, "d", []inbox.Requeue{{ID: m1, NotBefore: time.Now().Add(400 * time.Millisecond), Reason: "throttled"}})
	ok(t, err)
	ok(t, errs[0])
	if c := e.claim("d", 10, time.Minute); len(c) != 0 {
		t.Fatalf("claimed %v while m1 waits to be retried", ids(c))
	}
	time.Sleep(500 * time.Millisecond) // real time: claims compare not-before with PostgreSQL's now()
	c = e.claim("d", 10, time.Minute)
	if len(c) != 1 || c[0].ID != m1 || c[0].Attempts != 2 {
		t.Fatalf("after not-before: %+v", c)
	}
	if m := e.message(ws, m1); m.LastError != "throttled" {
		t.Fatalf("last error %q", m.LastError)
	}
	e.record(okSeg(m1, 0, "id-1"))
	c = e.claim("d", 10, time.Minute)
	if len(c) != 1 || c[0].ID != m2 {
		t.Fatalf("after m1 submitted: %v, want %d", ids(c), m2)
	}
	// A permanent failure also releases the thread.
	e.record(inbox.SubmitResult{Message: m2, Segment: 0, Outcome: inbox.SubmitPermanent, ErrorCode: 0x45, Reason: "submit failed"})
	c = e.claim("d", 10, time.Minute)
	if len(c) != 1 || c[0].ID != m3 {
		t.Fatalf("after m2 failed: %v, want %d", ids(c), m3)
	}
	if m := e.message(ws, m2); m.Status != inbox.StatusFailed || m.CarrierError != 0x45 || m.FailedAt.IsZero() {
		t.Fatalf("m2 %+v", m)
	}
}

func TestClaimersGetDisjointMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	const total = 1200
	var reqs []inbox.OutboundRequest
	for i := range total {
		reqs = append(reqs, msg(ws, contact(i), "x"))
	}
	e.send(reqs...)
	var (
		mu   sync.Mutex
		seen = map[inbox.MessageID]string{}
		wg   sync.WaitGroup
	)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("claimer-", w)
			for {
				c, err := e.s.Claim(e.ctx, owner, 37, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(c) == 0 {
					return
				}
				mu.Lock()
				for _, m := range c {
					if prev, dup := seen[m.ID]; dup {
						t.Errorf("message %d claimed by %s and %s", m.ID, prev, owner)
					}
					seen[m.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("claimed %d of %d", len(seen), total)
	}
}

func TestCrashedClaimerLeaseComesBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	r := msg(ws, contact(1), "x")
	r.Segments = 2
	id := e.send(r)[0].ID
	c := e.claim("crashes", 10, 150*time.Millisecond)
	if len(c) != 1 {
		t.Fatal("nothing claimed")
	}
	// It submitted segment 0, then died.
	e.record(okSeg(id, 0, "seg0"))
	if c := e.claim("survivor", 10, time.Minute); len(c) != 0 {
		t.Fatal("claimed under a live lease")
	}
	time.Sleep(250 * time.Millisecond) // real time: the 150 ms lease expires by PostgreSQL's now()
	c = e.claim("survivor", 10, time.Minute)
	if len(c) != 1 || c[0].ID != id || c[0].Attempts != 2 || !c[0].Submitted[0] || c[0].Submitted[1] {
		t.Fatalf("after lease expiry: %+v", c)
	}
	// The dead claimer's late requeue must not disturb the survivor.
	errs, err := e.s.Requeue(e.ctx, "crashes", []inbox.Requeue{{ID: id}, {ID: 98765}})
	ok(t, err)
	wantCode(t, errs[0], inbox.CodeLeaseLost)
	wantCode(t, errs[1], inbox.CodeNotFound)
	e.record(okSeg(id, 1, "seg1"))
	m := e.message(ws, id)
	if m.Status != inbox.StatusSubmitted || m.SubmittedAt.IsZero() || len(m.SegmentInfo) != 2 ||
		m.SegmentInfo[0].CarrierMessageID != "seg0" || m.SegmentInfo[1].CarrierMessageID != "seg1" {
		t.Fatalf("after resubmit: %+v", m)
	}
}

func TestRecordSubmitsRetryableAndErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	r := msg(ws, contact(1), "x")
	r.Segments = 3
	id := e.send(r)[0].ID
	e.claim("d", 10, time.Minute)
	e.record(okSeg(id, 0, "a"), inbox.SubmitResult{Message: id, Segment: 1, Outcome: inbox.SubmitRetryable, ErrorCode: 0x58, Reason: "throttled"},
		okSeg(id, 2, "c"))
	m := e.message(ws, id)
	if m.Status != inbox.StatusSending || m.CarrierError != 0x58 || m.LastError != "throttled" {
		t.Fatalf("after a retryable error: %+v", m)
	}
	errs, err := e.s.Requeue(e.ctx, "d", []inbox.Requeue{{ID: id}})
	ok(t, err)
	ok(t, errs[0])
	c := e.claim("d", 10, time.Minute)
	if len(c) != 1 || fmt.Sprint(c[0].Submitted) != "[true false true]" {
		t.Fatalf("retry claim %+v", c)
	}
	e.record(okSeg(id, 1, "b"))
	if m := e.message(ws, id); m.Status != inbox.StatusSubmitted {
		t.Fatalf("status %s", m.Status)
	}
	// Results for unknown messages or segments are refused per item.
	errs, err = e.s.RecordSubmits(e.ctx, []inbox.SubmitResult{okSeg(424242, 0, "z"), okSeg(id, 3, "z"), okSeg(id, -1, "z"), okSeg(id, 0, "a")})
	ok(t, err)
	wantCode(t, errs[0], inbox.CodeNotFound)
	wantCode(t, errs[1], inbox.CodeInvalidArgument)
	wantCode(t, errs[2], inbox.CodeInvalidArgument)
	ok(t, errs[3]) // a repeated result is harmless
	// A final message does not move.
	e.record(inbox.SubmitResult{Message: id, Segment: 0, Outcome: inbox.SubmitPermanent, ErrorCode: 1})
	e.receipts(inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: "a", Status: inbox.ReceiptDelivered})
	// failed already? No: the permanent error came after every segment was submitted.
	if m := e.message(ws, id); m.Status != inbox.StatusFailed {
		t.Fatalf("status %s", m.Status)
	}
	e.record(okSeg(id, 0, "a2"))
	if m := e.message(ws, id); m.Status != inbox.StatusFailed {
		t.Fatalf("final status moved to %s", m.Status)
	}
}

func TestClaimWaitsForDisabledNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	id := e.send(msg(ws, contact(1), "x"))[0].ID
	ok(t, e.s.DisableNumber(e.ctx, ws, n.ID))
	if c := e.claim("d", 10, time.Minute); len(c) != 0 {
		t.Fatal("claimed from a disabled number")
	}
	ok(t, e.s.EnableNumber(e.ctx, ws, n.ID))
	ok(t, e.s.DisconnectNumber(e.ctx, ws, n.ID))
	if c := e.claim("d", 10, time.Minute); len(c) != 0 {
		t.Fatal("claimed from a disconnected number")
	}
	e.connect(ws, n)
	if c := e.claim("d", 10, time.Minute); len(c) != 1 || c[0].ID != id {
		t.Fatalf("after reconnect: %v", ids(c))
	}
}

func TestExpireMessages(t *testing.T) {
	t.Parallel()
	e := newEnvOpts(t, inbox.Options{MessageTTL: time.Hour})
	ws, _ := e.ready("w", inbox.Shared)
	res := e.send(msg(ws, contact(1), "old queued"), msg(ws, contact(2), "old in flight"),
		msg(ws, contact(3), "old lease lost"), msg(ws, contact(4), "young"), msg(ws, contact(5), "old submitted"))
	c := e.claim("d", 10, time.Minute)
	if len(c) != 5 {
		t.Fatalf("claimed %d", len(c))
	}
	ok(t, first(e.s.Requeue(e.ctx, "d", []inbox.Requeue{{ID: res[0].ID}})))
	e.record(okSeg(res[4].ID, 0, "x"))
	e.exec(`UPDATE messages SET due_at = now() - interval '1 second' WHERE id = $1`, res[2].ID)
	e.exec(`UPDATE messages SET created_at = now() - interval '61 minutes' WHERE id <> $1`, res[3].ID)
	// Too old to claim, even before the sweep.
	ok(t, first(e.s.Requeue(e.ctx, "d", []inbox.Requeue{{ID: res[3].ID}})))
	if c := e.claim("d", 10, time.Minute); len(c) != 1 || c[0].ID != res[3].ID {
		t.Fatalf("claimed %v, want only the young one", ids(c))
	}
	n, err := e.s.ExpireMessages(e.ctx)
	ok(t, err)
	if n != 2 {
		t.Fatalf("expired %d, want 2", n)
	}
	want := []inbox.Status{inbox.StatusExpired, inbox.StatusSending, inbox.StatusExpired, inbox.StatusSending, inbox.StatusSubmitted}
	for i, r := range res {
		m := e.message(ws, r.ID)
		if m.Status != want[i] {
			t.Errorf("message %d: %s, want %s", i, m.Status, want[i])
		}
		if m.Status == inbox.StatusExpired && m.ExpiredAt.IsZero() {
			t.Errorf("message %d: no expiry time", i)
		}
	}
	if inbox.New(e.pool, inbox.Options{}).MessageTTL() != 10*time.Hour {
		t.Fatal("default TTL is not 10h")
	}
}

func first(errs []error, err error) error {
	if err != nil {
		return err
	}
	return errs[0]
}

func TestDisabledNumberHoldsItsQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	other, _ := e.ready("other", inbox.Dedicated)
	res := e.send(msg(ws, contact(1), "1"), msg(ws, contact(1), "2"), msg(ws, contact(2), "3"))
	e.send(msg(other, contact(1), "other"))
	due := func() int {
		return e.count(`SELECT count(*) FROM messages WHERE workspace_id = $1 AND due_at IS NOT NULL`, ws)
	}
	// The thread heads are due (messages 1 and 3); message 2 waits
	// behind 1, out of the claim index.
	if due() != 2 {
		t.Fatalf("%d due", due())
	}
	ok(t, e.s.DisableNumber(e.ctx, ws, n.ID))
	// Held: out of the claim index, not only skipped by Claim.
	if due() != 0 {
		t.Fatalf("%d still due while disabled", due())
	}
	// A message that became due in a race with the disable is caught by
	// Claim and put back on hold.
	e.exec(`UPDATE messages SET due_at = now() WHERE id = $1`, res[0].ID)
	c := e.claim("d", 10, time.Minute)
	if len(c) != 1 || c[0].Workspace != other {
		t.Fatalf("claimed %+v while disabled", c)
	}
	if due() != 0 || e.message(ws, res[0].ID).Status != inbox.StatusQueued {
		t.Fatal("a due message of a disabled number was not put back on hold")
	}
	ok(t, e.s.EnableNumber(e.ctx, ws, n.ID))
	c = e.claim("d", 10, time.Minute)
	if fmt.Sprint(ids(c)) != fmt.Sprint([]inbox.MessageID{res[0].ID, res[2].ID}) {
		t.Fatalf("after enable: %v", ids(c))
	}
	// Disconnect holds too; a requeue while held stays held.
	ok(t, e.s.DisconnectNumber(e.ctx, ws, n.ID))
	ok(t, first(e.s.Requeue(e.ctx, "d", []inbox.Requeue{{ID: res[0].ID}})))
	if due() != 1 { // res[2] is still in flight under its lease; res[0] and res[1] are held
		t.Fatalf("%d due after disconnect", due())
	}
	if c := e.claim("d", 10, time.Minute); len(c) != 0 {
		t.Fatalf("claimed %v while disconnected", ids(c))
	}
	e.connect(ws, n)
	if c := e.claim("d", 10, time.Minute); len(c) != 1 || c[0].ID != res[0].ID || c[0].Attempts != 2 {
		t.Fatalf("after reconnect: %+v", c)
	}
}

func TestExpireWalksThreadsInOrder(t *testing.T) {
	t.Parallel()
	e := newEnvOpts(t, inbox.Options{MessageTTL: time.Hour})
	ws, _ := e.ready("w", inbox.Shared)
	old := e.send(msg(ws, contact(1), "a"), msg(ws, contact(1), "b"), msg(ws, contact(1), "c"))
	e.exec(`UPDATE messages SET created_at = now() - interval '2 hours'`)
	fresh := e.send(msg(ws, contact(1), "d"))[0]
	n, err := e.s.ExpireMessages(e.ctx)
	ok(t, err)
	if n != 3 {
		t.Fatalf("expired %d, want 3", n)
	}
	for _, r := range old {
		if m := e.message(ws, r.ID); m.Status != inbox.StatusExpired {
			t.Fatalf("%d: %s", r.ID, m.Status)
		}
	}
	if c := e.claim("d", 10, time.Minute); len(c) != 1 || c[0].ID != fresh.ID {
		t.Fatalf("after expiry: %v, want %d", ids(c), fresh.ID)
	}
	// A failed receipt on a message still sending also moves the thread on.
	next := e.send(msg(ws, contact(1), "e"))[0]
	e.record(inbox.SubmitResult{Message: fresh.ID, Outcome: inbox.SubmitOK, CarrierMessageID: "1", Format: inbox.IDOpaque, Segment: 0})
	if c := e.claim("d", 10, time.Minute); len(c) != 1 || c[0].ID != next.ID {
		t.Fatalf("after submit: %v", ids(c))
	}
	r := msg(ws, contact(1), "two parts")
	r.Segments = 2
	twoParts := e.send(r)[0]
	e.record(inbox.SubmitResult{Message: next.ID, Outcome: inbox.SubmitOK, CarrierMessageID: "2", Format: inbox.IDOpaque})
	c := e.claim("d", 10, time.Minute)
	if len(c) != 1 || c[0].ID != twoParts.ID {
		t.Fatalf("claimed %v", ids(c))
	}
	last := e.send(msg(ws, contact(1), "after"))[0]
	e.record(okSeg(twoParts.ID, 0, "p0"))
	e.receipts(inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: "p0", Status: inbox.ReceiptRejected})
	if m := e.message(ws, twoParts.ID); m.Status != inbox.StatusRejected {
		t.Fatalf("two parts: %s", m.Status)
	}
	if c := e.claim("d", 10, time.Minute); len(c) != 1 || c[0].ID != last.ID {
		t.Fatalf("after a rejected head: %v, want %d", ids(c), last.ID)
	}
}

// TestThreadOrderUnderConcurrency: enqueues to one contact race with
// dispatchers submitting; every message goes out, one at a time, in the
// order it was accepted.
func TestThreadOrderUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Dedicated)
	const total = 120
	var (
		mu       sync.Mutex
		accepted []inbox.MessageID
		sent     []inbox.MessageID
		done     = make(chan struct{})
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() { // the API: sequential requests from two clients for one contact
		defer wg.Done()
		defer close(done)
		for i := 0; i < total; i += 2 {
			res, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(ws, contact(1), fmt.Sprint(i)), msg(ws, contact(1), fmt.Sprint(i+1))})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			accepted = append(accepted, res[0].ID, res[1].ID)
			mu.Unlock()
		}
	}()
	for d := range 3 { // dispatchers
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("d", d)
			for {
				c, err := e.s.Claim(e.ctx, owner, 10, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(c) > 1 {
					t.Errorf("two messages of one thread claimed at once: %v", ids(c))
				}
				for _, m := range c {
					mu.Lock()
					sent = append(sent, m.ID)
					mu.Unlock()
					if _, err := e.s.RecordSubmits(e.ctx, []inbox.SubmitResult{okSeg(m.ID, 0, fmt.Sprint("id", m.ID))}); err != nil {
						t.Error(err)
						return
					}
				}
				if len(c) == 0 {
					select {
					case <-done:
						mu.Lock()
						n := len(sent)
						mu.Unlock()
						if n == total {
							return
						}
					default:
					}
					time.Sleep(time.Millisecond) // an idle claimer polls the queue, as a dispatcher does
				}
			}
		}()
	}
	wg.Wait()
	if fmt.Sprint(sent) != fmt.Sprint(accepted) {
		t.Fatalf("sent in order %v\naccepted in order %v", sent, accepted)
	}
}

// Messages enqueued to a contact while the messages before them are being
// claimed and submitted are never stranded: the queue drains, in order per
// thread, with several senders per contact at once (message ids then do not
// follow the order of the thread; an earlier design that assumed they did
// stranded almost every message here).
func TestQueueDrainsUnderConcurrentEnqueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Dedicated)
	const contacts, sendersPer, perSender = 2, 4, 40
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // the dispatcher: claim and submit whatever is due
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := e.s.Claim(e.ctx, "d", 50, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			var rs []inbox.SubmitResult
			for _, m := range c {
				rs = append(rs, inbox.SubmitResult{Message: m.ID, Outcome: inbox.SubmitOK, CarrierMessageID: fmt.Sprintf("%x", m.ID), Format: inbox.IDHex})
			}
			if len(rs) > 0 {
				if _, err := e.s.RecordSubmits(e.ctx, rs); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	var senders sync.WaitGroup
	for k := range contacts * sendersPer {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for i := range perSender {
				if _, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(ws, contact(k%contacts), fmt.Sprint(k, "/", i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	senders.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && e.count(`SELECT count(*) FROM messages WHERE status = 'queued'`) > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if n := e.count(`SELECT count(*) FROM messages WHERE status = 'queued'`); n > 0 {
		t.Fatalf("%d of %d messages stranded in the queue (due_at NULL: %d)", n, contacts*sendersPer*perSender,
			e.count(`SELECT count(*) FROM messages WHERE status = 'queued' AND due_at IS NULL`))
	}
}

// A long message sent whole in one message_payload is one part on the wire:
// it is submitted by that part's result and delivered by its receipt, in
// either order; the part count stays as first recorded, a bad one is refused.
func TestRecordSubmitsWholeMessageInOnePart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Dedicated)
	long := func(to string) inbox.OutboundRequest {
		r := msg(ws, to, "long")
		r.Segments = 3
		return r
	}
	res := e.send(long(contact(1)), long(contact(2)), long(contact(3)))
	after, before, bad := res[0].ID, res[1].ID, res[2].ID
	if c := e.claim("d", 10, time.Minute); len(c) != 3 || c[0].Parts != 0 {
		t.Fatalf("claimed %+v", c)
	}
	whole := func(id inbox.MessageID, carrierID string) inbox.SubmitResult {
		r := okSeg(id, 0, carrierID)
		r.Parts = 1
		return r
	}
	// The receipt of "before" arrives before its submit result.
	e.receipts(inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: "p-2", Format: inbox.IDOpaque, Status: inbox.ReceiptDelivered})
	e.record(whole(after, "p-1"), whole(before, "p-2"))
	if m := e.message(ws, after); m.Status != inbox.StatusSubmitted || m.SubmittedAt.IsZero() || len(m.SegmentInfo) != 1 {
		t.Fatalf("after its one part: %s with %d parts", m.Status, len(m.SegmentInfo))
	}
	if m := e.message(ws, before); m.Status != inbox.StatusDelivered {
		t.Fatalf("receipt first: %s", m.Status)
	}
	e.receipts(inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: "p-1", Format: inbox.IDOpaque, Status: inbox.ReceiptDelivered})
	if m := e.message(ws, after); m.Status != inbox.StatusDelivered || m.Segments != 3 {
		t.Fatalf("after its receipt: %s, %d segments", m.Status, m.Segments)
	}
	// A part count above the segments, or a part index beyond the count, is
	// refused and changes nothing.
	r := whole(bad, "p-3")
	r.Parts = 4
	r2 := okSeg(bad, 1, "p-4")
	r2.Parts = 1
	errs, err := e.s.RecordSubmits(e.ctx, []inbox.SubmitResult{r, r2})
	ok(t, err)
	wantCode(t, errs[0], inbox.CodeInvalidArgument)
	wantCode(t, errs[1], inbox.CodeInvalidArgument)
	if m := e.message(ws, bad); m.Status != inbox.StatusSending {
		t.Fatalf("after refused results: %s", m.Status)
	}
	// A retry is claimed with the split the first accepted part fixed.
	r = okSeg(bad, 0, "p-5")
	r.Parts = 3
	e.record(r)
	ok(t, first(e.s.Requeue(e.ctx, "d", []inbox.Requeue{{ID: bad}})))
	c := e.claim("d", 10, time.Minute)
	if len(c) != 1 || c[0].ID != bad || c[0].Parts != 3 || !c[0].Submitted[0] || c[0].Submitted[1] {
		t.Fatalf("retry claimed %+v", c)
	}
}

// ClaimLimited takes at most perNumber messages of a sender number and none
// of the skipped numbers, so one number's long backlog queued first does
// not fill the claim that other numbers' messages wait for.
func TestClaimLimitedSharesTheClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wsA, a := e.ready("a", inbox.Dedicated)
	wsB, b := e.ready("b", inbox.Dedicated)
	var reqs []inbox.OutboundRequest
	for i := range 30 {
		reqs = append(reqs, msg(wsA, contact(i), "campaign a"))
	}
	for i := range 5 {
		reqs = append(reqs, msg(wsB, contact(i), "campaign b"))
	}
	e.send(reqs...)
	c, err := e.s.ClaimLimited(e.ctx, "d", 20, time.Minute, nil, 4)
	ok(t, err)
	per := map[string]int{}
	for _, m := range c {
		per[m.From]++
	}
	if per[a.E164] != 4 || per[b.E164] != 4 {
		t.Fatalf("claimed per number %v, want 4 of each", per)
	}
	c, err = e.s.ClaimLimited(e.ctx, "d", 20, time.Minute, []string{a.E164}, 10)
	ok(t, err)
	if len(c) != 1 || c[0].From != b.E164 {
		t.Fatalf("with a skipped: claimed %d (%v)", len(c), ids(c))
	}
	_, err = e.s.ClaimLimited(e.ctx, "d", 20, time.Minute, nil, -1)
	wantCode(t, err, inbox.CodeInvalidArgument)
}

// SentRecently tells a fresh carrier account (nothing sent) from one with
// a message being sent or submitted within the window.
func TestSentRecently(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Dedicated)
	sent, err := e.s.SentRecently(e.ctx, "carrier-a", time.Second, time.Minute, time.Second)
	ok(t, err)
	if sent {
		t.Fatal("a fresh account sent recently")
	}
	id := e.send(msg(ws, contact(1), "hi"))[0].ID
	if sent, _ := e.s.SentRecently(e.ctx, "carrier-a", time.Second, time.Minute, time.Second); sent {
		t.Fatal("a queued message counts as sent")
	}
	e.claim("d", 10, time.Minute)
	if sent, _ := e.s.SentRecently(e.ctx, "carrier-a", time.Second, time.Minute, time.Second); !sent {
		t.Fatal("a message being sent does not count")
	}
	e.record(okSeg(id, 0, "x-1"))
	if sent, _ := e.s.SentRecently(e.ctx, "carrier-a", time.Minute, time.Minute, time.Second); !sent {
		t.Fatal("a message submitted within the window does not count")
	}
	if sent, _ := e.s.SentRecently(e.ctx, "carrier-b", time.Minute, time.Minute, time.Second); sent {
		t.Fatal("another carrier's message counts")
	}
	_, err = e.s.SentRecently(e.ctx, "", time.Minute, time.Minute, time.Second)
	wantCode(t, err, inbox.CodeInvalidArgument)
}
