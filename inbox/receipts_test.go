package inbox_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// submitted enqueues, claims and submits one message per segment count,
// with the given carrier ids (hex format).
func (e *env) submitted(ws inbox.WorkspaceID, to string, carrierIDs ...string) inbox.MessageID {
	e.t.Helper()
	r := msg(ws, to, "x")
	r.Segments = len(carrierIDs)
	id := e.send(r)[0].ID
	c := e.claim("d", 100, time.Minute)
	found := false
	for _, m := range c {
		found = found || m.ID == id
	}
	if !found {
		e.t.Fatalf("message %d not claimed", id)
	}
	var rs []inbox.SubmitResult
	for i, cid := range carrierIDs {
		rs = append(rs, inbox.SubmitResult{Message: id, Segment: i, Outcome: inbox.SubmitOK, CarrierMessageID: cid, Format: inbox.IDHex})
	}
	e.record(rs...)
	return id
}

func rcpt(id string, st inbox.ReceiptStatus) inbox.Receipt {
	return inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: id, Format: inbox.IDDecimal, Status: st}
}

func TestReceiptsNormaliseIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	id := e.submitted(ws, contact(1), "00B8BE19")
	res := e.receipts(rcpt("12107289", inbox.ReceiptDelivered))
	if res[0].Message != id || res[0].Status != inbox.StatusDelivered {
		t.Fatalf("receipt result %+v", res[0])
	}
	m := e.message(ws, id)
	if m.Status != inbox.StatusDelivered || m.DeliveredAt.IsZero() || m.SegmentInfo[0].ReceiptStatus != inbox.ReceiptDelivered ||
		m.SegmentInfo[0].CarrierMessageID != "00B8BE19" {
		t.Fatalf("message %+v", m)
	}
	// Another carrier's id with the same value is not this message.
	other := rcpt("12107289", inbox.ReceiptFailed)
	other.Carrier = "carrier-b"
	if r := e.receipts(other); r[0].Message != 0 {
		t.Fatalf("matched across carriers: %+v", r[0])
	}
	res, err := e.s.ApplyReceipts(e.ctx, []inbox.Receipt{{Carrier: "carrier-a", CarrierMessageID: "1", Status: "weird"}, {Carrier: "", CarrierMessageID: "1", Status: inbox.ReceiptDelivered}})
	ok(t, err)
	wantCode(t, res[0].Err, inbox.CodeInvalidArgument)
	wantCode(t, res[1].Err, inbox.CodeInvalidArgument)
}

func TestReceiptBeforeSubmitResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	id := e.send(msg(ws, contact(1), "x"))[0].ID
	e.claim("d", 10, time.Minute)
	// The receipt overtakes the submit_sm_resp.
	res := e.receipts(rcpt("255", inbox.ReceiptDelivered))
	if res[0].Message != 0 {
		t.Fatalf("receipt applied to %d before the submit result", res[0].Message)
	}
	if m := e.message(ws, id); m.Status != inbox.StatusSending {
		t.Fatalf("status %s", m.Status)
	}
	e.record(inbox.SubmitResult{Message: id, Outcome: inbox.SubmitOK, CarrierMessageID: "ff", Format: inbox.IDHex})
	if m := e.message(ws, id); m.Status != inbox.StatusDelivered || m.SubmittedAt.IsZero() || m.DeliveredAt.IsZero() {
		t.Fatalf("after the submit result: %+v", m)
	}
	// A failed receipt that waited fails the message when the result lands.
	id2 := e.send(msg(ws, contact(2), "x"))[0].ID
	e.claim("d", 10, time.Minute)
	f := rcpt("4096", inbox.ReceiptRejected)
	f.ErrorCode = 11
	e.receipts(f)
	e.record(inbox.SubmitResult{Message: id2, Outcome: inbox.SubmitOK, CarrierMessageID: "1000", Format: inbox.IDHex})
	if m := e.message(ws, id2); m.Status != inbox.StatusRejected || m.CarrierError != 11 || m.RejectedAt.IsZero() {
		t.Fatalf("rejected receipt first: %+v", m)
	}
	// Orphans are swept.
	e.receipts(rcpt("777", inbox.ReceiptDelivered))
	e.exec(`UPDATE segments SET created_at = now() - interval '2 days' WHERE message_id IS NULL`)
	n, err := e.s.DeleteOrphanReceipts(e.ctx, 24*time.Hour)
	ok(t, err)
	if n != 1 {
		t.Fatalf("deleted %d orphan receipts", n)
	}
}

func TestReceiptFinalNeverMovesBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	id := e.submitted(ws, contact(1), "10")
	e.receipts(rcpt("16", inbox.ReceiptEnroute))
	if m := e.message(ws, id); m.Status != inbox.StatusSubmitted || m.SegmentInfo[0].ReceiptStatus != inbox.ReceiptEnroute {
		t.Fatalf("after enroute: %s / %s", m.Status, m.SegmentInfo[0].ReceiptStatus)
	}
	e.receipts(rcpt("16", inbox.ReceiptDelivered))
	at := e.message(ws, id).DeliveredAt
	for _, st := range []inbox.ReceiptStatus{inbox.ReceiptFailed, inbox.ReceiptExpired, inbox.ReceiptEnroute, inbox.ReceiptDelivered} {
		res := e.receipts(rcpt("16", st))
		if res[0].Status != inbox.StatusDelivered {
			t.Fatalf("after %s: %s", st, res[0].Status)
		}
	}
	m := e.message(ws, id)
	if m.Status != inbox.StatusDelivered || !m.DeliveredAt.Equal(at) || m.SegmentInfo[0].ReceiptStatus != inbox.ReceiptDelivered {
		t.Fatalf("moved: %+v", m)
	}
	// Duplicates in one batch: the first final one wins.
	id2 := e.submitted(ws, contact(2), "11")
	res := e.receipts(rcpt("17", inbox.ReceiptEnroute), rcpt("17", inbox.ReceiptExpired), rcpt("17", inbox.ReceiptDelivered))
	for _, r := range res {
		if r.Message != id2 || r.Status != inbox.StatusExpired {
			t.Fatalf("batch duplicates: %+v", res)
		}
	}
}

func TestReceiptsPerSegment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	id := e.submitted(ws, contact(1), "a1", "a2", "a3")
	e.receipts(rcpt(fmt.Sprint(0xa1), inbox.ReceiptDelivered), rcpt(fmt.Sprint(0xa3), inbox.ReceiptDelivered))
	if m := e.message(ws, id); m.Status != inbox.StatusSubmitted {
		t.Fatalf("two of three delivered: %s", m.Status)
	}
	e.receipts(rcpt(fmt.Sprint(0xa2), inbox.ReceiptDelivered))
	if m := e.message(ws, id); m.Status != inbox.StatusDelivered {
		t.Fatalf("all delivered: %s", m.Status)
	}
	// One failed segment fails the message, whatever the others do.
	id2 := e.submitted(ws, contact(2), "b1", "b2")
	f := rcpt(fmt.Sprint(0xb2), inbox.ReceiptFailed)
	f.ErrorCode = 34
	e.receipts(rcpt(fmt.Sprint(0xb1), inbox.ReceiptDelivered), f)
	m := e.message(ws, id2)
	if m.Status != inbox.StatusFailed || m.CarrierError != 34 {
		t.Fatalf("one failed segment: %+v", m)
	}
	e.receipts(rcpt(fmt.Sprint(0xb2), inbox.ReceiptDelivered))
	if m := e.message(ws, id2); m.Status != inbox.StatusFailed {
		t.Fatalf("moved back to %s", m.Status)
	}
}

func TestReceiptsRaceSubmitResults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	const n = 300
	var reqs []inbox.OutboundRequest
	for i := range n {
		r := msg(ws, contact(i), "x")
		r.Segments = 2
		reqs = append(reqs, r)
	}
	res := e.send(reqs...)
	if c := e.claim("d", n, time.Minute); len(c) != n {
		t.Fatalf("claimed %d", len(c))
	}
	// Submit results and receipts for the same ids land at once, from
	// several goroutines each, in small batches and both orders.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				id := res[i].ID
				_, err := e.s.RecordSubmits(e.ctx, []inbox.SubmitResult{
					{Message: id, Segment: 1, Outcome: inbox.SubmitOK, CarrierMessageID: fmt.Sprintf("%x", 2*i+1), Format: inbox.IDHex},
					{Message: id, Segment: 0, Outcome: inbox.SubmitOK, CarrierMessageID: fmt.Sprintf("%X", 2*i), Format: inbox.IDHex},
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := (w + 2) % 4; i < n; i += 4 {
				_, err := e.s.ApplyReceipts(e.ctx, []inbox.Receipt{
					rcpt(fmt.Sprint(2*i), inbox.ReceiptDelivered), rcpt(fmt.Sprint(2*i+1), inbox.ReceiptDelivered),
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := e.count(`SELECT count(*) FROM messages WHERE status = 'delivered'`); got != n {
		t.Fatalf("%d of %d delivered", got, n)
	}
	if got := e.count(`SELECT count(*) FROM segments WHERE message_id IS NULL`); got != 0 {
		t.Fatalf("%d receipts left waiting", got)
	}
}
