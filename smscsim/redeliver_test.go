package smscsim_test

import (
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// nextReceipt reads until a delivery receipt arrives and returns its
// sequence number and receipted_message_id.
func nextReceipt(t *testing.T, c *client) (uint32, string) {
	t.Helper()
	for {
		h, p := c.Read()
		if d, ok := p.(*smpp.DeliverSM); ok && d.IsReceipt() {
			id, _ := d.TLVs.ReceiptedMessageID()
			return h.Sequence, string(id)
		}
	}
}

// A receipt answered with a temporary error, or never answered because the
// connection closed, is sent again (as carriers do); an acknowledged one is not.
func TestReceiptRedelivery(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Receipts = smscsim.ReceiptConfig{Outcomes: "DELIVRD:100"} }))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	c.Send(msg("14155552671", "447911123456", 1, "hello"))
	seq, id := nextReceipt(t, c)
	c.Ack(seq, smpp.StatusX_T_APPN) // "try again later"
	seq2, id2 := nextReceipt(t, c)
	if id2 != id {
		t.Fatalf("redelivered receipt for %q, want %q", id2, id)
	}
	// Now the connection dies without acknowledging: the receipt comes again
	// on the next bind.
	_ = seq2
	c.NC.Close()
	c2 := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	seq3, id3 := nextReceipt(t, c2)
	if id3 != id {
		t.Fatalf("after the drop: receipt for %q, want %q", id3, id)
	}
	c2.Ack(seq3, smpp.StatusOK)
	c2.ExpectNothing(1500 * time.Millisecond)
	if r := report(t, s, "acme"); r.ReceiptRetries != 2 {
		t.Fatalf("receipt retries %d, want 2", r.ReceiptRetries)
	}
}

// An MO part answered with a temporary error is sent again until the ESME
// takes it; InjectMO reports the first attempt.
func TestMORedelivery(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(nil))
	in := newInbox()
	in.status = smpp.StatusX_T_APPN
	session(t, s.Addr(""), func(c *smpp.SessionConfig) { c.Handler = in })
	sts, err := s.InjectMO(ctx(t), smscsim.MO{From: "447700900001", To: "14155550100", Text: "retry me"})
	if err != nil || len(sts) != 1 || sts[0] != smpp.StatusX_T_APPN {
		t.Fatalf("first attempt: %v %v", sts, err)
	}
	in.mu.Lock()
	in.status = smpp.StatusOK
	in.mu.Unlock()
	waitStats(t, s, "the retry to be taken", func(st smscsim.Stats) bool { return st.MORetries >= 1 && report(t, s, "acme").MOResps["ESME_ROK"] == 1 })
	if r := report(t, s, "acme"); r.MOResps["ESME_ROK"] != 1 {
		t.Fatalf("mo_resps %v", r.MOResps)
	}
}

// A bind storm: 200 connections bind at once; the account's maximum holds,
// every other bind is refused with ESME_RALYBND, and the simulator serves on.
func TestBindStorm(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.MaxBinds = 4 }))
	const n = 200
	results := make(chan smpp.Status, n)
	for i := 0; i < n; i++ {
		go func() {
			c := dial(t, s.Addr(""))
			results <- c.Bind(smpp.BindTransceiver, "acme", "secret")
		}()
	}
	ok, refused := 0, 0
	for i := 0; i < n; i++ {
		switch <-results {
		case smpp.StatusOK:
			ok++
		case smpp.StatusALYBND:
			refused++
		}
	}
	if ok != 4 || refused != n-4 {
		t.Fatalf("%d bound, %d refused", ok, refused)
	}
	if st := s.Stats(); st.Bound != 4 {
		t.Fatalf("%d bound after the storm", st.Bound)
	}
}
