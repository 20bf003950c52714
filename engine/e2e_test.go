package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
	"github.com/switchboard-sms/switchboard/smscsim"
)

func enqueue(t *testing.T, s *inbox.Store, ws inbox.WorkspaceID, to, text string) inbox.MessageID {
	t.Helper()
	res, err := s.Enqueue(context.Background(), []inbox.OutboundRequest{{Workspace: ws, To: to, Body: text, Encoding: encodingOf(text), Segments: segmentsOf(text)}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatalf("enqueue %q: %v", text, res[0].Err)
	}
	return res[0].ID
}

func threadOf(t *testing.T, s *inbox.Store, ws inbox.WorkspaceID, contact string) (inbox.Thread, []inbox.Message) {
	t.Helper()
	ctx := context.Background()
	threads, _, err := s.ListThreads(ctx, ws, inbox.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range threads {
		if th.Contact == contact {
			msgs, _, err := s.ListMessages(ctx, ws, th.ID, inbox.Page{})
			if err != nil {
				t.Fatal(err)
			}
			return th, msgs
		}
	}
	return inbox.Thread{}, nil
}

// Replies to a shared number go to the workspace that last wrote to that
// contact from it; a reply nobody can claim is kept as unrouted.
func TestE2ESharedNumberRouting(t *testing.T) {
	t.Parallel()
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}}]`)
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), nil))
	ctx := context.Background()
	s := te.store
	shared, err := s.AddNumber(ctx, inbox.NewNumber{E164: "+14155552600", Kind: inbox.Shared, Carrier: "sim"})
	if err != nil {
		t.Fatal(err)
	}
	var wss [2]inbox.WorkspaceID
	for i, name := range []string{"alpha", "beta"} {
		ws, _, err := s.CreateWorkspace(ctx, name, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConnectNumber(ctx, ws.ID, shared.ID); err != nil {
			t.Fatal(err)
		}
		wss[i] = ws.ID
	}
	contacts := [2]string{"+447911123401", "+447911123402"}
	for i := range wss {
		id := enqueue(t, s, wss[i], contacts[i], "hello from "+[]string{"alpha", "beta"}[i])
		testenv.WaitStatus(t, s, wss[i], id, inbox.StatusDelivered)
	}
	for i, c := range contacts {
		if _, err := sim.InjectMO(ctx, smscsim.MO{From: c, To: "+14155552600", Text: "reply " + c}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "the reply in its thread", func() bool {
			_, msgs := threadOf(t, s, wss[i], c)
			return len(msgs) == 2 && msgs[1].Direction == inbox.DirectionIn && msgs[1].Body == "reply "+c
		})
		if _, other := threadOf(t, s, wss[1-i], c); len(other) != 0 {
			t.Fatalf("the reply of %s also reached the other workspace", c)
		}
	}
	if _, err := sim.InjectMO(ctx, smscsim.MO{From: "+447911123499", To: "+14155552600", Text: "who is this?"}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "an unrouted message", func() bool {
		un, _, err := s.ListUnrouted(ctx, inbox.Page{})
		return err == nil && len(un) == 1 && un[0].Body == "who is this?"
	})
}

// A long UCS-2 message goes out in parts that reassemble; a receipt that
// overtakes its submit_sm_resp still delivers the message; STOP opts the
// contact out and START back in. The receipts come 250 ms before their
// submit_sm_resp, so that even a loaded machine applies one before the
// submit result is recorded (with 10 ms, a CI run recorded every result
// first).
func TestE2ELongMessageEarlyReceiptAndOptOut(t *testing.T) {
	t.Parallel()
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", message_id: hex, receipt_id: decimal,
  latency: 300ms, receipts: {delay: 1ms, before_resp: 1.0, before_resp_gap: 250ms}}]`)
	cfg := engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) {
		c.Carriers[0].LongMessage = "udh16"
		c.Carriers[0].MessageIDs = config.MessageIDs{Submit: "hex", Receipt: "decimal"}
	})
	te := startEngine(t, cfg)
	ws := testenv.Seed(t, te.store, "+14155552671")
	ctx := context.Background()
	long := strings.Repeat("Привет, мир! 😀 ", 12) // UCS-2, 4 parts
	id := enqueue(t, te.store, ws, "+447911123456", long)
	m := testenv.WaitStatus(t, te.store, ws, id, inbox.StatusDelivered)
	if m.Encoding != "UCS2" || m.Segments < 3 || len(m.SegmentInfo) != m.Segments {
		t.Fatalf("message %+v", m)
	}
	r := te.router.Stats()
	if r.ReceiptsUnmatched == 0 {
		t.Fatalf("no receipt arrived before its submit result: %+v", r)
	}

	// STOP, then sending is refused; START, then it is allowed again.
	if _, err := sim.InjectMO(ctx, smscsim.MO{From: "+447911123456", To: "+14155552671", Text: " stop "}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the opt-out", func() bool {
		res, err := te.store.Enqueue(ctx, []inbox.OutboundRequest{{Workspace: ws, To: "+447911123456", Body: "x", Encoding: "GSM7", Segments: 1}})
		return err == nil && inbox.ErrorCode(res[0].Err) == inbox.CodeRecipientOptedOut
	})
	if _, err := sim.InjectMO(ctx, smscsim.MO{From: "+447911123456", To: "+14155552671", Text: "START"}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the opt-in", func() bool {
		res, err := te.store.Enqueue(ctx, []inbox.OutboundRequest{{Workspace: ws, To: "+447911123456", Body: "welcome back", Encoding: "GSM7", Segments: 1}})
		return err == nil && res[0].Err == nil
	})
	// Both keywords are kept in the thread.
	_, msgs := threadOf(t, te.store, ws, "+447911123456")
	var in []string
	for _, m := range msgs {
		if m.Direction == inbox.DirectionIn {
			in = append(in, m.Body)
		}
	}
	if len(in) != 2 {
		t.Fatalf("inbound in the thread: %q", in)
	}
}

// A long MO whose parts arrive on different binds is reassembled once.
func TestE2EMOPartsAcrossBinds(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	cfg := engineConfig(t, testenv.NewDatabase(t), srv.Addr(), func(c *config.Config) { c.Carriers[0].Binds, c.Carriers[0].MaxBinds = 2, 2 })
	te := startEngine(t, cfg)
	ws := testenv.Seed(t, te.store, "+14155552671")
	testenv.Eventually(t, "two binds", func() bool { return srv.Stats().Binds >= 2 })
	text := strings.Repeat("A long reply that spans several parts. ", 10)
	parts, err := coding.Split(text, coding.GSM7, coding.UDH8, 77)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, part := range parts { // smpptest.Deliver goes round robin over the binds
		p := smpp.DeliverSM{Source: smpp.Address{TON: 1, NPI: 1, Addr: []byte("447911123456")}, Dest: smpp.Address{TON: 1, NPI: 1, Addr: []byte("14155552671")}}
		smpp.SetPart((*smpp.SubmitSM)(&p), part, coding.UDH8)
		if st, err := srv.Deliver(ctx, &p); err != nil || st != smpp.StatusOK {
			t.Fatal(st, err)
		}
	}
	_, msgs := threadOf(t, te.store, ws, "+447911123456")
	if len(msgs) != 1 || msgs[0].Body != text || msgs[0].Segments != len(parts) {
		t.Fatalf("thread %+v", msgs)
	}
	conns := map[int]bool{}
	for _, rc := range srv.Received() {
		if rc.Header.ID == smpp.BindTransceiverID {
			conns[rc.Conn] = true
		}
	}
	if len(conns) < 2 {
		t.Fatalf("parts went over %d binds", len(conns))
	}
}
