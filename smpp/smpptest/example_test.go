package smpptest_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// A carrier that throttles the first submit, with receipts on. In a test,
// smpptest.Start(t, cfg) does the NewServer and the Close.
func Example() {
	srv, err := smpptest.NewServer(smpptest.Config{
		Accounts: map[string]string{"acme": "secret"},
		Receipts: true,
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.FailNext(1, smpp.StatusTHROTTLED)

	// A minimal ESME written with the codec.
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	rd := smpp.NewReader(nc, 0)
	send := func(p smpp.PDU, seq uint32) {
		b, _ := smpp.AppendPDU(nil, p, smpp.StatusOK, seq)
		nc.Write(b)
	}
	next := func() smpp.Header {
		h, _, _ := rd.Next()
		return h
	}
	send(&smpp.Bind{Type: smpp.BindTransceiver, SystemID: []byte("acme"), Password: []byte("secret"), InterfaceVersion: 0x34}, 1)
	fmt.Println(next().Status)
	sm := &smpp.SubmitSM{Source: smpp.Address{TON: 5, Addr: []byte("Brand")}, Dest: smpp.Address{TON: 1, NPI: 1, Addr: []byte("447700900123")},
		RegisteredDelivery: 1, ShortMessage: []byte("hi")}
	send(sm, 2)
	fmt.Println(next().Status) // throttled: no receipt
	send(sm, 3)
	fmt.Println(next().Status)
	r := next() // the receipt
	fmt.Println(r.ID)
	send(&smpp.DeliverSMResp{}, r.Sequence)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.WaitFor(ctx, func(s smpptest.Stats) bool { return s.DeliverResps == 1 })
	s := srv.Stats()
	fmt.Println(s.SubmitsOK, s.Throttled, s.Delivers)
	// Output:
	// ESME_ROK
	// ESME_RTHROTTLED
	// ESME_ROK
	// deliver_sm
	// 1 1 1
}
