package smpptest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

func waitFor(t *testing.T, s *smpptest.Server, what string, cond func(smpptest.Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := s.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v (stats %+v)", what, err, s.Stats())
	}
}

func TestBindCredentials(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Accounts: map[string]string{"acme": "secret"}})
	c := dial(t, s.Addr())
	if st := c.Bind(smpp.BindTransceiver, "nobody", "secret"); st != smpp.StatusINVSYSID {
		t.Fatalf("unknown system_id: %v", st)
	}
	if st := c.Bind(smpp.BindTransceiver, "acme", "wrong"); st != smpp.StatusINVPASWD {
		t.Fatalf("wrong password: %v", st)
	}
	// A refused bind leaves the connection open; the right password binds.
	c.MustBind(smpp.BindTransceiver, "acme", "secret")
	if st := c.Bind(smpp.BindTransceiver, "acme", "secret"); st != smpp.StatusALYBND {
		t.Fatalf("second bind on a bound connection: %v", st)
	}
	st := s.Stats()
	if st.Binds != 1 || st.BindsRefused != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAnyCredentialsWhenNoAccounts(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	for _, typ := range []smpp.BindType{smpp.BindTransmitter, smpp.BindReceiver, smpp.BindTransceiver} {
		dial(t, s.Addr()).MustBind(typ, "whoever", "x")
	}
	if s.Stats().Binds != 3 {
		t.Fatal(s.Stats())
	}
}

func TestMaxBindsPerAccount(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{MaxBindsPerAccount: 2})
	a := dial(t, s.Addr())
	a.MustBind(smpp.BindTransmitter, "acme", "")
	dial(t, s.Addr()).MustBind(smpp.BindReceiver, "acme", "")
	dial(t, s.Addr()).MustBind(smpp.BindTransceiver, "other", "")
	c := dial(t, s.Addr())
	if st := c.Bind(smpp.BindTransceiver, "acme", ""); st != smpp.StatusALYBND {
		t.Fatalf("third bind of acme: %v", st)
	}
	// Closing a bind frees its place.
	_ = a.NC.Close()
	waitFor(t, s, "the closed bind to be gone", func(st smpptest.Stats) bool { return st.ConnsOpen == 3 })
	c.MustBind(smpp.BindTransceiver, "acme", "")
	if st := s.Stats(); st.MaxConnsOpen != 4 || st.BindsRefused != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBindStateChecks(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	c := dial(t, s.Addr())
	// enquire_link is answered before a bind; submit_sm is not.
	c.Expect(smpp.EnquireLinkRespID, smpp.StatusOK, c.Send(&smpp.EnquireLink{}))
	if st, _ := c.SubmitResp(c.Send(submitSM("447700900001", 0))); st != smpp.StatusINVBNDSTS {
		t.Fatalf("submit_sm before bind: %v", st)
	}
	c.Expect(smpp.QuerySMRespID, smpp.StatusINVBNDSTS, c.Send(&smpp.QuerySM{MessageID: []byte("1")}))
	// A receiver may not submit.
	r := dial(t, s.Addr())
	r.MustBind(smpp.BindReceiver, "rx", "")
	if st, _ := r.SubmitResp(r.Send(submitSM("447700900001", 0))); st != smpp.StatusINVBNDSTS {
		t.Fatalf("submit_sm on a receiver: %v", st)
	}
	if st := s.Stats(); st.Submits != 2 || st.SubmitsFailed != 2 || st.EnquireLinks != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSubmitMessageIDs(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransmitter, "acme", "pw")
	for i := 1; i <= 3; i++ {
		st, id := c.SubmitResp(c.Send(submitSM("447700900001", 0)))
		if st != smpp.StatusOK || id != strconv.Itoa(i) {
			t.Fatalf("submit %d: %v %q", i, st, id)
		}
	}
	s2 := smpptest.Start(t, smpptest.Config{MessageID: func(n uint64) string { return "msg-" + strconv.FormatUint(n, 16) }})
	c2 := dial(t, s2.Addr())
	c2.MustBind(smpp.BindTransceiver, "acme", "pw")
	for range 10 {
		c2.SubmitResp(c2.Send(submitSM("447700900001", 0)))
	}
	if _, id := c2.SubmitResp(c2.Send(submitSM("447700900001", 0))); id != "msg-b" {
		t.Fatalf("custom id %q", id)
	}
}

func TestWindowQueueFull(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Window: 2})
	s.Hold()
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	a := c.Send(submitSM("447700900001", 0))
	b := c.Send(submitSM("447700900002", 0))
	// Two are outstanding (held): the third is refused at once.
	third := c.Send(submitSM("447700900003", 0))
	if st, _ := c.SubmitResp(third); st != smpp.StatusMSGQFUL {
		t.Fatalf("third submit: %v", st)
	}
	s.Release()
	for _, seq := range []uint32{a, b} {
		if st, _ := c.SubmitResp(seq); st != smpp.StatusOK {
			t.Fatalf("held submit: %v", st)
		}
	}
	// With the window free again, a submit passes.
	if st, _ := c.SubmitResp(c.Send(submitSM("447700900004", 0))); st != smpp.StatusOK {
		t.Fatalf("after release: %v", st)
	}
	if st := s.Stats(); st.QueueFull != 1 || st.SubmitsFailed != 1 || st.SubmitsOK != 3 || st.MaxOutstanding != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// A client that keeps its window under the server's never sees 0x14, even
// when it pipelines.
func TestWindowRespectedNeverQueueFull(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Window: 10, NoRecord: true})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransmitter, "acme", "")
	if err := smpptest.Pipeline(c.NC, c.RD, submitTemplate(t), 5000, 10, 0); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.QueueFull != 0 || st.SubmitsOK != 5000 || st.MaxOutstanding > 10 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	s.FailNext(2, smpp.StatusTHROTTLED)
	want := []smpp.Status{smpp.StatusTHROTTLED, smpp.StatusTHROTTLED, smpp.StatusOK}
	for i, w := range want {
		st, id := c.SubmitResp(c.Send(submitSM("447700900001", 0)))
		if st != w {
			t.Fatalf("submit %d: %v, want %v", i, st, w)
		}
		if w == smpp.StatusOK && id != "1" {
			t.Fatalf("failed submits must not use message ids: got %q", id)
		}
	}
	if st := s.Stats(); st.Throttled != 2 || st.SubmitsFailed != 2 || st.SubmitsOK != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestResponder(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	s.SetResponder(func(p *smpp.SubmitSM) smpp.Status {
		if bytes.HasPrefix(p.Dest.Addr, []byte("999")) {
			return smpp.StatusINVDSTADR
		}
		return smpp.StatusOK
	})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	if st, _ := c.SubmitResp(c.Send(submitSM("999123", 0))); st != smpp.StatusINVDSTADR {
		t.Fatal(st)
	}
	if st, _ := c.SubmitResp(c.Send(submitSM("447700900001", 0))); st != smpp.StatusOK {
		t.Fatal(st)
	}
	// FailNext wins over the responder; nil restores ESME_ROK.
	s.FailNext(1, smpp.StatusSYSERR)
	if st, _ := c.SubmitResp(c.Send(submitSM("999123", 0))); st != smpp.StatusSYSERR {
		t.Fatal(st)
	}
	s.SetResponder(nil)
	if st, _ := c.SubmitResp(c.Send(submitSM("999123", 0))); st != smpp.StatusOK {
		t.Fatal(st)
	}
}

func TestHoldRelease(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	s.Hold()
	var seqs []uint32
	for i := range 3 {
		seqs = append(seqs, c.Send(submitSM("44770090000"+strconv.Itoa(i), 0)))
	}
	// enquire_link is still answered while submits are held.
	c.Expect(smpp.EnquireLinkRespID, smpp.StatusOK, c.Send(&smpp.EnquireLink{}))
	c.ExpectNothing(100 * time.Millisecond)
	waitFor(t, s, "three submits", func(st smpptest.Stats) bool { return st.Submits == 3 })
	s.Release()
	for _, seq := range seqs {
		if st, _ := c.SubmitResp(seq); st != smpp.StatusOK {
			t.Fatal(st)
		}
	}
	// Normal answers resume.
	if st, _ := c.SubmitResp(c.Send(submitSM("447700900009", 0))); st != smpp.StatusOK {
		t.Fatal(st)
	}
	if s.Stats().MaxOutstanding != 3 {
		t.Fatal(s.Stats())
	}
}

func TestLatencyReordersResponses(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Latency: 300 * time.Millisecond})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	start := time.Now()
	slow := c.Send(submitSM("447700900001", 0))
	waitFor(t, s, "the first submit", func(st smpptest.Stats) bool { return st.Submits == 1 })
	s.SetLatency(0)
	fast := c.Send(submitSM("447700900002", 0))
	c.SubmitResp(fast)
	if time.Since(start) >= 300*time.Millisecond {
		t.Fatal("the second response waited for the first")
	}
	c.SubmitResp(slow)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("first response after %v, want ≥ 300ms", d)
	}
}

func TestLatencyDoesNotSerialize(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Latency: 100 * time.Millisecond, Jitter: 20 * time.Millisecond})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	start := time.Now()
	got := map[uint32]bool{}
	for range 50 {
		got[c.Send(submitSM("447700900001", 0))] = false
	}
	for range 50 {
		h, _ := c.Read()
		if h.ID != smpp.SubmitSMRespID || h.Status != smpp.StatusOK {
			t.Fatal(h)
		}
		if done, ok := got[h.Sequence]; !ok || done {
			t.Fatalf("unexpected or repeated sequence %d", h.Sequence)
		}
		got[h.Sequence] = true
	}
	// 50 answers of 100–120 ms each, concurrently: far less than 50 × 100 ms.
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("50 responses took %v", d)
	}
}

// readReceipt checks a receipt and answers it.
func readReceipt(t *testing.T, c *client, wantID string, wantState smpp.MessageState) {
	t.Helper()
	h, p := c.Read()
	if h.ID != smpp.DeliverSMID {
		t.Fatalf("got %v, want a receipt", h.ID)
	}
	d := p.(*smpp.DeliverSM)
	if !d.IsReceipt() || d.ESMClass != smpp.ESMClassDeliveryReceipt {
		t.Fatalf("esm_class %#x", d.ESMClass)
	}
	if id, ok := d.TLVs.ReceiptedMessageID(); !ok || string(id) != wantID {
		t.Fatalf("receipted_message_id %q %v, want %q", id, ok, wantID)
	}
	if st, ok := d.TLVs.MessageState(); !ok || st != wantState {
		t.Fatalf("message_state %v %v", st, ok)
	}
	text := string(d.ShortMessage)
	for _, part := range []string{"id:" + wantID + " ", "sub:001", "submit date:", "done date:", "stat:" + wantState.Stat(), "text:Hello from the test,"} {
		if !strings.Contains(text, part) {
			t.Fatalf("receipt text %q lacks %q", text, part)
		}
	}
	if string(d.Source.Addr) != "447700900001" || string(d.Dest.Addr) != "MyBrand" {
		t.Fatalf("receipt from %q to %q", d.Source.Addr, d.Dest.Addr)
	}
	c.Write(&smpp.DeliverSMResp{}, smpp.StatusOK, h.Sequence)
}

func TestReceipts(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Receipts: true, ReceiptDelay: 20 * time.Millisecond})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	// No receipt asked for: none sent.
	c.SubmitResp(c.Send(submitSM("447700900001", 0)))
	c.ExpectNothing(100 * time.Millisecond)
	// Asked for: response first, then the receipt.
	_, id := c.SubmitResp(c.Send(submitSM("447700900001", smpp.RegisteredDeliveryFinal)))
	readReceipt(t, c, id, smpp.StateDelivered)
	waitFor(t, s, "the deliver_sm_resp", func(st smpptest.Stats) bool { return st.DeliverResps == 1 })
	// Failure-only receipts are not sent for delivered messages.
	c.SubmitResp(c.Send(submitSM("447700900001", smpp.RegisteredDeliveryFailure)))
	c.ExpectNothing(100 * time.Millisecond)
	if st := s.Stats(); st.Delivers != 1 || st.UnknownResponses != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReceiptState(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Receipts: true, ReceiptState: func(*smpp.SubmitSM) smpp.MessageState { return smpp.StateUndeliverable }})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	_, id := c.SubmitResp(c.Send(submitSM("447700900001", smpp.RegisteredDeliveryFailure)))
	readReceipt(t, c, id, smpp.StateUndeliverable)
	p := c.Expect(smpp.QuerySMRespID, smpp.StatusOK, c.Send(&smpp.QuerySM{MessageID: []byte(id)}))
	if q := p.(*smpp.QuerySMResp); q.MessageState != smpp.StateUndeliverable || string(q.MessageID) != id {
		t.Fatalf("query_sm_resp %+v", q)
	}
}

func TestReceiptBeforeResp(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Receipts: true, ReceiptBeforeResp: true, ReceiptDelay: 50 * time.Millisecond})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	seq := c.Send(submitSM("447700900001", smpp.RegisteredDeliveryFinal))
	readReceipt(t, c, "1", smpp.StateDelivered)
	if st, id := c.SubmitResp(seq); st != smpp.StatusOK || id != "1" {
		t.Fatal(st, id)
	}
}

func TestTransmitterReceiptsGoToReceiver(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Receipts: true})
	rx := dial(t, s.Addr())
	rx.MustBind(smpp.BindReceiver, "acme", "")
	tx := dial(t, s.Addr())
	tx.MustBind(smpp.BindTransmitter, "acme", "")
	_, id := tx.SubmitResp(tx.Send(submitSM("447700900001", smpp.RegisteredDeliveryFinal)))
	readReceipt(t, rx, id, smpp.StateDelivered)
	tx.ExpectNothing(50 * time.Millisecond)
}

func TestQueryCancelReplaceDataSMSubmitMulti(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Receipts: true, ReceiptDelay: time.Hour})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	_, id := c.SubmitResp(c.Send(submitSM("447700900001", smpp.RegisteredDeliveryFinal)))
	p := c.Expect(smpp.QuerySMRespID, smpp.StatusOK, c.Send(&smpp.QuerySM{MessageID: []byte(id)}))
	if q := p.(*smpp.QuerySMResp); q.MessageState != smpp.StateEnroute {
		t.Fatalf("receipt pending: state %v", q.MessageState)
	}
	_, id2 := c.SubmitResp(c.Send(submitSM("447700900001", 0)))
	p = c.Expect(smpp.QuerySMRespID, smpp.StatusOK, c.Send(&smpp.QuerySM{MessageID: []byte(id2)}))
	if q := p.(*smpp.QuerySMResp); q.MessageState != smpp.StateDelivered {
		t.Fatalf("no receipt: state %v", q.MessageState)
	}
	c.Expect(smpp.QuerySMRespID, smpp.StatusINVMSGID, c.Send(&smpp.QuerySM{MessageID: []byte("424242")}))
	c.Expect(smpp.CancelSMRespID, smpp.StatusOK, c.Send(&smpp.CancelSM{MessageID: []byte(id)}))
	c.Expect(smpp.ReplaceSMRespID, smpp.StatusOK, c.Send(&smpp.ReplaceSM{MessageID: []byte(id), ShortMessage: []byte("new")}))
	ds := &smpp.DataSM{Source: smpp.Address{Addr: []byte("1555")}, Dest: smpp.Address{Addr: []byte("1666")}, TLVs: smpp.AppendTLV(nil, smpp.TagMessagePayload, []byte("payload"))}
	p = c.Expect(smpp.DataSMRespID, smpp.StatusOK, c.Send(ds))
	if string(p.(*smpp.DataSMResp).MessageID) != "3" {
		t.Fatalf("data_sm_resp %q", p.(*smpp.DataSMResp).MessageID)
	}
	sm := &smpp.SubmitMulti{Source: smpp.Address{Addr: []byte("1555")}, Dests: []smpp.MultiDest{{Flag: smpp.DestFlagSME, Addr: smpp.Address{Addr: []byte("1666")}}}, ShortMessage: []byte("hi")}
	p = c.Expect(smpp.SubmitMultiRespID, smpp.StatusOK, c.Send(sm))
	if r := p.(*smpp.SubmitMultiResp); string(r.MessageID) != "4" || len(r.Unsuccess) != 0 {
		t.Fatalf("submit_multi_resp %+v", r)
	}
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	mo := &smpp.DeliverSM{Source: smpp.Address{TON: 1, NPI: 1, Addr: []byte("447700900001")}, Dest: smpp.Address{Addr: []byte("12345")}, ShortMessage: []byte("STOP")}
	if _, err := s.Deliver(ctx, mo); !errors.Is(err, smpptest.ErrNoReceiver) {
		t.Fatalf("nobody bound: %v", err)
	}
	dial(t, s.Addr()).MustBind(smpp.BindTransmitter, "tx", "") // never chosen
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")

	type result struct {
		st  smpp.Status
		err error
	}
	res := make(chan result, 1)
	go func() {
		st, err := s.Deliver(ctx, mo)
		res <- result{st, err}
	}()
	h, p := c.Read()
	if h.ID != smpp.DeliverSMID || string(p.(*smpp.DeliverSM).ShortMessage) != "STOP" {
		t.Fatalf("got %v", h.ID)
	}
	c.Write(&smpp.DeliverSMResp{}, smpp.StatusX_T_APPN, h.Sequence)
	if r := <-res; r.err != nil || r.st != smpp.StatusX_T_APPN {
		t.Fatalf("Deliver: %v %v", r.st, r.err)
	}

	// DeliverTo picks by system_id; a context that ends stops the wait.
	if _, err := s.DeliverTo(ctx, "tx", mo); !errors.Is(err, smpptest.ErrNoReceiver) {
		t.Fatalf("DeliverTo a transmitter: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := s.DeliverTo(short, "acme", mo); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered DeliverTo: %v", err)
	}
	h, _ = c.Read() // the unanswered deliver_sm; a late answer counts as unknown
	c.Write(&smpp.DeliverSMResp{}, smpp.StatusOK, h.Sequence)
	waitFor(t, s, "the late response", func(st smpptest.Stats) bool { return st.UnknownResponses == 1 })
	if st := s.Stats(); st.Delivers != 2 || st.DeliverResps != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDeliverRoundRobin(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	a, b := dial(t, s.Addr()), dial(t, s.Addr())
	a.MustBind(smpp.BindReceiver, "acme", "")
	b.MustBind(smpp.BindTransceiver, "acme", "")
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range []*client{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Deliver(ctx, &smpp.DeliverSM{ShortMessage: []byte("mo")}); err != nil {
				t.Error(err)
			}
		}()
		h, _ := c.Read()
		c.Write(&smpp.DeliverSMResp{}, smpp.StatusOK, h.Sequence)
		wg.Wait()
	}
}

func TestDropAll(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	a, b := dial(t, s.Addr()), dial(t, s.Addr())
	a.MustBind(smpp.BindTransceiver, "acme", "")
	b.MustBind(smpp.BindTransceiver, "acme", "")
	s.DropAll()
	a.ExpectEOF()
	b.ExpectEOF()
	waitFor(t, s, "no connections", func(st smpptest.Stats) bool { return st.ConnsOpen == 0 })
	// The server still accepts new connections.
	dial(t, s.Addr()).MustBind(smpp.BindTransceiver, "acme", "")
}

func TestDropAfter(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	s.DropAfter(3)
	c.SubmitResp(c.Send(submitSM("447700900001", 0)))
	c.SubmitResp(c.Send(submitSM("447700900001", 0)))
	c.Send(submitSM("447700900001", 0)) // the third: closed unanswered
	c.ExpectEOF()
}

func TestUnknownCommandIsNackedAndConnectionKept(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	c.Raw(smpp.AppendHeader(nil, smpp.Header{Length: 20, ID: 0x00010099, Sequence: 77}))
	c.Raw([]byte{1, 2, 3, 4})
	c.Expect(smpp.GenericNackID, smpp.StatusINVCMDID, 77)
	// A deliver_sm from an ESME is nacked the same way.
	c.Expect(smpp.GenericNackID, smpp.StatusINVCMDID, c.Send(&smpp.DeliverSM{}))
	c.Expect(smpp.EnquireLinkRespID, smpp.StatusOK, c.Send(&smpp.EnquireLink{}))
	if st, _ := c.SubmitResp(c.Send(submitSM("447700900001", 0))); st != smpp.StatusOK {
		t.Fatal(st)
	}
}

func TestOversizeLengthIsNackedAndClosed(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{MaxPDULength: 1024})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	c.Raw(smpp.AppendHeader(nil, smpp.Header{Length: 5000, ID: smpp.SubmitSMID, Sequence: 9}))
	c.Expect(smpp.GenericNackID, smpp.StatusINVCMDLEN, 0)
	c.ExpectEOF()
	// A length under 16 likewise.
	c2 := dial(t, s.Addr())
	c2.Raw(smpp.AppendHeader(nil, smpp.Header{Length: 8, ID: smpp.EnquireLinkID, Sequence: 1}))
	c2.Expect(smpp.GenericNackID, smpp.StatusINVCMDLEN, 0)
	c2.ExpectEOF()
}

func TestMalformedBodyGetsItsResponse(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	// submit_sm whose sm_length runs past the body.
	body := []byte{0, 1, 1, '1', 0, 1, 1, '2', 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 200, 'x'}
	c.Raw(append(smpp.AppendHeader(nil, smpp.Header{Length: uint32(16 + len(body)), ID: smpp.SubmitSMID, Sequence: 5}), body...))
	c.Expect(smpp.SubmitSMRespID, smpp.StatusINVMSGLEN, 5)
	// A bind with a too-long system_id is refused with the decoder's status.
	c2 := dial(t, s.Addr())
	bb := append(bytes.Repeat([]byte{'a'}, 20), 0)
	c2.Raw(append(smpp.AppendHeader(nil, smpp.Header{Length: uint32(16 + len(bb)), ID: smpp.BindTransceiverID, Sequence: 1}), bb...))
	c2.Expect(smpp.BindTransceiverRespID, smpp.StatusINVSYSID, 1)
}

func TestMute(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	s.Mute(300 * time.Millisecond)
	c.Send(&smpp.EnquireLink{})
	c.Send(submitSM("447700900001", 0))
	c.ExpectNothing(150 * time.Millisecond)
	time.Sleep(200 * time.Millisecond) // real time: the 300 ms mute runs out (the Core has no clock to set)
	// After the mute, answers resume; what arrived meanwhile was dropped.
	c.Expect(smpp.EnquireLinkRespID, smpp.StatusOK, c.Send(&smpp.EnquireLink{}))
	if st := s.Stats(); st.EnquireLinks != 1 || st.Submits != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMuteDropsDueAnswers(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{Latency: 50 * time.Millisecond, Window: 1})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	c.Send(submitSM("447700900001", 0))
	waitFor(t, s, "the submit", func(st smpptest.Stats) bool { return st.Submits == 1 })
	s.Mute(200 * time.Millisecond)
	c.ExpectNothing(250 * time.Millisecond)
	// The dropped answer no longer counts against the window.
	if st, _ := c.SubmitResp(c.Send(submitSM("447700900001", 0))); st != smpp.StatusOK {
		t.Fatal(st)
	}
}

func TestUnbindAll(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	s.UnbindAll()
	h, _ := c.Read()
	if h.ID != smpp.UnbindID {
		t.Fatalf("got %v, want unbind", h.ID)
	}
	c.Write(&smpp.UnbindResp{}, smpp.StatusOK, h.Sequence)
	c.ExpectEOF() // the server closes at once, not waiting for the ESME
	waitFor(t, s, "the connection to close", func(st smpptest.Stats) bool { return st.ConnsOpen == 0 })
	if s.Stats().UnknownResponses != 0 {
		t.Fatal(s.Stats())
	}
}

func TestUnbindFromESME(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	c.Expect(smpp.UnbindRespID, smpp.StatusOK, c.Send(&smpp.Unbind{}))
	c.ExpectEOF() // the server half-closes after its unbind_resp
	_ = c.NC.Close()
	waitFor(t, s, "the connection to close", func(st smpptest.Stats) bool { return st.ConnsOpen == 0 && st.Unbinds == 1 })
}

func TestServerEnquireLink(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{EnquireLinkEvery: 30 * time.Millisecond})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	for range 2 {
		h, _ := c.Read()
		if h.ID != smpp.EnquireLinkID {
			t.Fatalf("got %v", h.ID)
		}
		c.Write(&smpp.EnquireLinkResp{}, smpp.StatusOK, h.Sequence)
	}
	time.Sleep(10 * time.Millisecond) // real time: a response wrongly taken as unknown would be counted now
	if st := s.Stats(); st.UnknownResponses != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSendRawAndGenericNackCounted(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{})
	if err := s.SendRaw([]byte{0}); err == nil {
		t.Fatal("SendRaw with nobody bound")
	}
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "")
	raw := smpp.AppendHeader(nil, smpp.Header{Length: 16, ID: 0x000000AA, Sequence: 4242})
	if err := s.SendRaw(raw); err != nil {
		t.Fatal(err)
	}
	h, _, err := c.ReadWithin(ioTimeout)
	var uc *smpp.UnknownCommandError
	if !errors.As(err, &uc) || h.ID != 0x000000AA || h.Sequence != 4242 {
		t.Fatalf("got %+v %v", h, err)
	}
	c.Write(&smpp.GenericNack{}, smpp.StatusINVCMDID, h.Sequence)
	waitFor(t, s, "the generic_nack", func(st smpptest.Stats) bool { return st.GenericNacks == 1 })
}

func TestReceivedRecords(t *testing.T) {
	t.Parallel()
	s := smpptest.Start(t, smpptest.Config{RecordLimit: 3})
	c := dial(t, s.Addr())
	c.MustBind(smpp.BindTransceiver, "acme", "pw")
	p := submitSM("447700900001", 1)
	p.DataCoding = 8
	p.TLVs = smpp.AppendTLV(nil, smpp.TagUserMessageReference, []byte{0, 7})
	c.SubmitResp(c.Send(p))
	c.Send(&smpp.EnquireLink{}) // not recorded
	c.Read()
	c.SubmitResp(c.Send(submitSM("447700900002", 0)))
	c.SubmitResp(c.Send(submitSM("447700900003", 0))) // over the limit
	got := s.Received()
	if len(got) != 3 {
		t.Fatalf("%d records", len(got))
	}
	if got[0].Header.ID != smpp.BindTransceiverID || got[0].SystemID != "acme" || got[0].Conn != 1 {
		t.Fatalf("bind record %+v", got[0])
	}
	r := got[1]
	if r.Header.ID != smpp.SubmitSMID || r.SystemID != "acme" || r.Source != "MyBrand" || r.Dest != "447700900001" ||
		r.DataCoding != 8 || r.RegisteredDelivery != 1 || string(r.ShortMessage) != string(p.ShortMessage) || r.At.IsZero() {
		t.Fatalf("submit record %+v", r)
	}
	if v, ok := r.TLVs.UserMessageReference(); !ok || v != 7 {
		t.Fatal(v, ok)
	}
	// Records are copies.
	got[1].ShortMessage[0] = 'X'
	if s.Received()[1].ShortMessage[0] == 'X' {
		t.Fatal("Received shares memory with the server")
	}
	s2 := smpptest.Start(t, smpptest.Config{NoRecord: true})
	c2 := dial(t, s2.Addr())
	c2.MustBind(smpp.BindTransceiver, "acme", "pw")
	c2.SubmitResp(c2.Send(submitSM("447700900001", 0)))
	if n := len(s2.Received()); n != 0 {
		t.Fatalf("NoRecord kept %d", n)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	cert := selfSigned(t)
	s := smpptest.Start(t, smpptest.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	nc, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	c := smpptest.NewClient(t, nc)
	c.MustBind(smpp.BindTransceiver, "acme", "")
	if st, id := c.SubmitResp(c.Send(submitSM("447700900001", 0))); st != smpp.StatusOK || id != "1" {
		t.Fatal(st, id)
	}
	c.Expect(smpp.UnbindRespID, smpp.StatusOK, c.Send(&smpp.Unbind{}))
	c.ExpectEOF()
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smpptest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestCloseLeavesNoGoroutines runs alone (not parallel): after Close returns,
// no goroutine of the package may remain, whatever was in flight.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	if n := len(smpptest.LeakedGoroutines(pkgPath)); n != 0 {
		t.Fatalf("%d goroutines before the test", n)
	}
	s, err := smpptest.NewServer(smpptest.Config{Latency: time.Hour, Receipts: true, EnquireLinkEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var clients []*client
	for i := range 4 {
		c := dial(t, s.Addr())
		clients = append(clients, c)
		if i < 3 {
			c.MustBind(smpp.BindTransceiver, "acme", "")
			c.Send(submitSM("447700900001", 1)) // answer due in an hour
		}
	}
	s.Hold()
	clients[0].Send(submitSM("447700900001", 1)) // held
	waitFor(t, s, "the submits", func(st smpptest.Stats) bool { return st.Submits == 4 })
	delivered := make(chan error, 1)
	go func() {
		_, err := s.Deliver(context.Background(), &smpp.DeliverSM{ShortMessage: []byte("never answered")})
		delivered <- err
	}()
	waitFor(t, s, "the deliver_sm", func(st smpptest.Stats) bool { return st.Delivers == 1 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-delivered; err == nil {
		t.Fatal("Deliver succeeded on a closed server")
	}
	// Close has waited for every goroutine; one may still be returning from
	// its last deferred call, so allow it a moment (as goleak does).
	var leaked []string
	testenv.Wait(t, time.Second, "the server's goroutines to end", func() bool {
		leaked = smpptest.LeakedGoroutines(pkgPath)
		return len(leaked) == 0
	}, func() string { return "after Close:\n" + strings.Join(leaked, "\n\n") })
	_ = s.Close() // a second Close is harmless
}
