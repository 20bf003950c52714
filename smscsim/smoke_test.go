package smscsim_test

import (
	"testing"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// TestQuickStart: the zero-knob account answers at once with decimal ids
// and sends a DELIVRD receipt when asked.
func TestQuickStart(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(nil))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	seq := c.Send(msg("14155550100", "447700900001", 0, "no receipt"))
	if st, id := c.SubmitResp(seq); st != smpp.StatusOK || id != "1" {
		t.Fatalf("first: %v %q", st, id)
	}
	seq = c.Send(msg("14155550100", "447700900001", 1, "with a receipt please"))
	evs := c.collect(1, 1, smpp.StatusOK, ioTimeout)
	if evs[0].id != smpp.SubmitSMRespID || evs[0].seq != seq || evs[0].msgID != "2" {
		t.Fatalf("second response %+v", evs[0])
	}
	r := evs[1]
	rid, _ := r.tlvs.ReceiptedMessageID()
	st, _ := r.tlvs.MessageState()
	if r.esm != smpp.ESMClassDeliveryReceipt || string(rid) != "2" || st != smpp.StateDelivered || r.src != "447700900001" || r.dst != "14155550100" {
		t.Fatalf("receipt %+v rid %q state %v", r, rid, st)
	}
	rc, err := smpp.ParseReceipt(r.text)
	if err != nil || string(rc.ID) != "2" || string(rc.Stat) != "DELIVRD" || string(rc.Err) != "000" || string(rc.Text) != "with a receipt pleas" {
		t.Fatalf("receipt text %q: %+v %v", r.text, rc, err)
	}
	c.ExpectNothing(50e6)
	waitStats(t, s, "the receipt's response", func(st smscsim.Stats) bool { return st.ReceiptResps == 1 })
	ar := report(t, s, "acme")
	if ar.Accepted != 2 || ar.Receipts != 1 || ar.ReceiptResps["ESME_ROK"] != 1 || ar.MaxPerSecond != 2 || ar.MaxOutstanding != 1 {
		t.Fatalf("report %+v", ar)
	}
}
