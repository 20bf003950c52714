package smpptest_test

import (
	"testing"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// TestAnswerBeforeResponseInOneRead: a submit_sm followed, in the same
// read, by the deliver_sm_resp of a receipt is answered at once (the
// answer used to wait for the next request).
func TestAnswerBeforeResponseInOneRead(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Receipts: true})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	sm := submitSM("447700900001", smpp.RegisteredDeliveryFinal)
	seq := c.Send(sm)
	c.SubmitResp(seq)
	h, _ := c.Read()
	if h.ID != smpp.DeliverSMID {
		t.Fatalf("got %v, want the receipt", h.ID)
	}
	c.Seq++
	b, err := smpp.AppendPDU(nil, sm, smpp.StatusOK, c.Seq)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = smpp.AppendPDU(b, &smpp.DeliverSMResp{}, smpp.StatusOK, h.Sequence)
	c.Raw(b)
	if st, _ := c.SubmitResp(c.Seq); st != smpp.StatusOK {
		t.Fatalf("status %v", st)
	}
}
