package smscsim_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// One test per knob; each fails if the knob is ignored.

func TestAccountCredentials(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(nil))
	c := dial(t, s.Addr(""))
	if st := c.Bind(smpp.BindTransceiver, "nobody", "secret"); st != smpp.StatusINVSYSID {
		t.Fatalf("unknown system_id: %v", st)
	}
	if st := c.Bind(smpp.BindTransceiver, "acme", "wrong"); st != smpp.StatusINVPASWD {
		t.Fatalf("wrong password: %v", st)
	}
	c.mustBind(smpp.BindTransceiver)
	if st := c.Bind(smpp.BindTransceiver, "acme", "secret"); st != smpp.StatusALYBND {
		t.Fatalf("second bind on a bound connection: %v", st)
	}
	// Before a bind, a submit_sm gets ESME_RINVBNDSTS.
	c2 := dial(t, s.Addr(""))
	seq := c2.Send(msg("1", "2", 0, "x"))
	if st, _ := c2.SubmitResp(seq); st != smpp.StatusINVBNDSTS {
		t.Fatalf("submit before bind: %v", st)
	}
	ar := report(t, s, "acme")
	if ar.Binds != 1 || ar.BindsRefused != 2 || s.Report().BindsRefused != 1 {
		t.Fatalf("binds %d refused %d, unknown %d", ar.Binds, ar.BindsRefused, s.Report().BindsRefused)
	}
}

// TestUnimplementedRequests: data_sm, submit_multi, query_sm, cancel_sm and
// replace_sm are answered at once, without a body, ESME_RINVBNDSTS before a
// bind and ESME_RINVCMDID once bound (even from a receiver); an unknown
// command_id gets generic_nack and the connection stays.
func TestUnimplementedRequests(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(nil))
	reqs := []smpp.PDU{&smpp.DataSM{}, &smpp.SubmitMulti{Dests: []smpp.MultiDest{{Flag: smpp.DestFlagSME, Addr: smpp.Address{Addr: []byte("1")}}}}, &smpp.QuerySM{MessageID: []byte("1")}, &smpp.CancelSM{}, &smpp.ReplaceSM{MessageID: []byte("1")}}
	c := dial(t, s.Addr(""))
	for i, want := range []smpp.Status{smpp.StatusINVBNDSTS, smpp.StatusINVCMDID} {
		if i == 1 {
			c.mustBind(smpp.BindReceiver)
		}
		for _, p := range reqs {
			seq := c.Send(p)
			h, _ := c.Read()
			if h.ID != p.CommandID().Response() || h.Status != want || h.Sequence != seq || h.Length != smpp.HeaderLen {
				t.Fatalf("%v: got %v status %v seq %d length %d, want status %v seq %d without a body", p.CommandID(), h.ID, h.Status, h.Sequence, h.Length, want, seq)
			}
		}
	}
	c.Raw(smpp.AppendHeaderOnly(nil, smpp.CommandID(0x0000_0777), smpp.StatusOK, 99))
	c.Expect(smpp.GenericNackID, smpp.StatusINVCMDID, 99)
	c.Expect(smpp.EnquireLinkRespID, smpp.StatusOK, c.Send(&smpp.EnquireLink{}))
}

func TestBindTypes(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.BindTypes = []string{"transmitter", "receiver"} }))
	if st := dial(t, s.Addr("")).Bind(smpp.BindTransceiver, "acme", "secret"); st != smpp.StatusBINDFAIL {
		t.Fatalf("transceiver not allowed: %v", st)
	}
	dial(t, s.Addr("")).mustBind(smpp.BindTransmitter)
	dial(t, s.Addr("")).mustBind(smpp.BindReceiver)
	// A receiver may not submit.
	c := dial(t, s.Addr("")).mustBind(smpp.BindReceiver)
	seq := c.Send(msg("1", "2", 0, "x"))
	if st, _ := c.SubmitResp(seq); st != smpp.StatusINVBNDSTS {
		t.Fatalf("submit on a receiver: %v", st)
	}
}

func TestMaxBinds(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.MaxBinds = 2 }))
	first := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	dial(t, s.Addr("")).mustBind(smpp.BindTransmitter)
	if st := dial(t, s.Addr("")).Bind(smpp.BindReceiver, "acme", "secret"); st != smpp.StatusALYBND {
		t.Fatalf("third bind: %v", st)
	}
	// An unbind frees a slot.
	seq := first.Send(&smpp.Unbind{})
	if h, _ := first.Read(); h.ID != smpp.UnbindRespID || h.Sequence != seq {
		t.Fatalf("unbind: %v", h.ID)
	}
	waitStats(t, s, "the unbind", func(st smscsim.Stats) bool { return st.Bound == 1 })
	dial(t, s.Addr("")).mustBind(smpp.BindReceiver)
}

// TestListeners: several listeners, named; one restricted to an account;
// one TLS with a self-signed certificate.
func TestListeners(t *testing.T) {
	t.Parallel()
	s := start(t, smscsim.Config{
		Listeners: []smscsim.ListenerConfig{
			{Name: "plain", Addr: "127.0.0.1:0"},
			{Name: "only-beta", Addr: "127.0.0.1:0", Accounts: []string{"beta"}},
			{Name: "tls", Addr: "127.0.0.1:0", TLS: &smscsim.TLSConfig{SelfSigned: true}},
		},
		Accounts: []smscsim.AccountConfig{acct(nil), {SystemID: "beta", Password: "b"}},
	})
	if s.Addr("plain") == "" || s.Addr("plain") == s.Addr("only-beta") || s.Addr("nope") != "" {
		t.Fatalf("addresses %q %q", s.Addr("plain"), s.Addr("only-beta"))
	}
	dial(t, s.Addr("plain")).mustBind(smpp.BindTransceiver)
	if st := dial(t, s.Addr("only-beta")).Bind(smpp.BindTransceiver, "acme", "secret"); st != smpp.StatusINVSYSID {
		t.Fatalf("acme on beta's listener: %v", st)
	}
	if st := dial(t, s.Addr("only-beta")).Bind(smpp.BindTransceiver, "beta", "b"); st != smpp.StatusOK {
		t.Fatalf("beta on its listener: %v", st)
	}
	sess := session(t, s.Addr("tls"), func(c *smpp.SessionConfig) {
		c.TLS = tlsConfig(s)
	})
	if _, err := sess.Submit(ctx(t), msg("1", "2", 0, "over TLS")); err != nil {
		t.Fatal(err)
	}
}

// TestWindowQueueFull: with window 3 and slow answers, the 4th and 5th
// outstanding submit_sm get ESME_RMSGQFUL at once; the report shows 3 as
// the most outstanding.
func TestWindowQueueFull(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Window = 3; a.Latency = "300ms" }))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransmitter)
	t0 := time.Now()
	for i := range 5 {
		c.Send(msg("14155550100", "4477009000"+strconv.Itoa(i), 0, "x"))
	}
	evs := c.collect(5, 0, 0, ioTimeout)
	var full, ok int
	for _, ev := range evs {
		switch ev.status {
		case smpp.StatusMSGQFUL:
			full++
			if ev.at.Sub(t0) > 200*time.Millisecond || ev.seq < 4 {
				t.Errorf("queue full answer to seq %d after %v", ev.seq, ev.at.Sub(t0))
			}
		case smpp.StatusOK:
			ok++
		}
	}
	ar := report(t, s, "acme")
	if full != 2 || ok != 3 || ar.QueueFull != 2 || ar.MaxOutstanding != 3 || ar.Statuses["ESME_RMSGQFUL"] != 2 {
		t.Fatalf("full %d ok %d; report %+v", full, ok, ar)
	}
}

// TestAccountRate: an account limited to 20 segments/s (burst 20), blasted
// with 100 submit_sm from 10 sources, accepts 20 and throttles 80 with
// 0x58; the report's sliding-window maximum is 20.
func TestAccountRate(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Rate.Account = 20 }))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	for i := range 100 {
		c.Send(msg("1415555010"+strconv.Itoa(i%10), "447700900001", 0, "x"))
	}
	evs := c.collect(100, 0, 0, ioTimeout)
	counts := map[smpp.Status]int{}
	for _, ev := range evs {
		counts[ev.status]++
	}
	ar := report(t, s, "acme")
	if counts[smpp.StatusOK] != 20 || counts[smpp.StatusTHROTTLED] != 80 {
		t.Fatalf("answers %v", counts)
	}
	if ar.Accepted != 20 || ar.Throttled != 80 || ar.ThrottledAccount != 80 || ar.ThrottledSource != 0 || ar.MaxPerSecond != 20 {
		t.Fatalf("report %+v", ar)
	}
	var srcAccepted, srcThrottled int64
	for _, src := range ar.Sources {
		srcAccepted += src.Accepted
		srcThrottled += src.Throttled
	}
	if len(ar.Sources) != 10 || srcAccepted != 20 || srcThrottled != 80 {
		t.Fatalf("sources %+v", ar.Sources)
	}
}

// TestSourceRate: sources limited to 5/s each (one override to 10/s, burst
// 10) each accept their burst and get 0x58 beyond it, and each source's
// sliding-window maximum shows its limit. The account has no limit.
func TestSourceRate(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) {
		a.Rate.Source = 5
		a.Rate.Sources = []smscsim.SourceRate{{Numbers: []string{"+18005550100"}, Rate: 10}}
	}))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	for range 30 {
		c.Send(msg("14155550100", "447700900001", 0, "x"))
		c.Send(msg("14155550101", "447700900001", 0, "x"))
		c.Send(msg("18005550100", "447700900001", 0, "x"))
	}
	c.collect(90, 0, 0, ioTimeout)
	ar := report(t, s, "acme")
	for src, want := range map[string]int64{"14155550100": 5, "14155550101": 5, "18005550100": 10} {
		sr, ok := ar.Source(src)
		if !ok || sr.Accepted != want || sr.Throttled != 30-want || sr.MaxPerSecond != want {
			t.Errorf("source %s: %+v, want %d accepted", src, sr, want)
		}
	}
	if ar.ThrottledSource != 70 || ar.ThrottledAccount != 0 || ar.MaxPerSecond != 20 {
		t.Fatalf("report %+v", ar)
	}
	// Bucket mode: the interval of max_in_interval is one second, and no
	// sliding limit gives a tightest spacing.
	if ar.RateMode != "bucket" || ar.IntervalMS != 1000 || ar.MaxInInterval != ar.MaxPerSecond || ar.TightestMS != 0 {
		t.Fatalf("report %+v", ar)
	}
	for _, sr := range ar.Sources {
		if sr.MaxInInterval != sr.MaxPerSecond || sr.TightestMS != 0 {
			t.Errorf("source %+v", sr)
		}
	}
}

// TestRateRefills: after a second, a throttled source may send again, and
// the window maximum stays at what one second allowed.
func TestRateRefills(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Rate.Source = 4 }))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	burst := func() (ok int) {
		for range 8 {
			c.Send(msg("14155550100", "447700900001", 0, "x"))
		}
		for _, ev := range c.collect(8, 0, 0, ioTimeout) {
			if ev.status == smpp.StatusOK {
				ok++
			}
		}
		return ok
	}
	if n := burst(); n != 4 {
		t.Fatalf("first burst: %d accepted", n)
	}
	time.Sleep(1100 * time.Millisecond) // real time: the simulator's one-second window moves on
	if n := burst(); n != 4 {
		t.Fatalf("second burst: %d accepted", n)
	}
	if sr, _ := report(t, s, "acme").Source("14155550100"); sr.MaxPerSecond != 4 || sr.Accepted != 8 || sr.Throttled != 8 {
		t.Fatalf("source %+v", sr)
	}
}

// TestMessagePayloadSegments: a long text in message_payload counts the
// segments it needs against the limits.
func TestMessagePayloadSegments(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Rate.Source = 3 }))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	p := msg("14155550100", "447700900001", 0, "")
	p.TLVs = smpp.AppendTLV(nil, smpp.TagMessagePayload, []byte(strings.Repeat("a", 300))) // 2 segments of 153
	seq := c.Send(p)
	if st, _ := c.SubmitResp(seq); st != smpp.StatusOK {
		t.Fatalf("first: %v", st)
	}
	seq = c.Send(p) // 2 more: over 3
	if st, _ := c.SubmitResp(seq); st != smpp.StatusTHROTTLED {
		t.Fatalf("second: %v", st)
	}
	if ar := report(t, s, "acme"); ar.AcceptedSegments != 2 || ar.MaxPerSecond != 2 {
		t.Fatalf("report %+v", ar)
	}
}

// TestLatency: a fixed latency delays every answer; a mix gives both its
// values; each account has its own.
func TestLatency(t *testing.T) {
	t.Parallel()
	s := start(t, smscsim.Config{Accounts: []smscsim.AccountConfig{
		acct(func(a *smscsim.AccountConfig) { a.Latency = "150ms" }),
		{SystemID: "mix", Latency: "50%:0ms,50%:400ms"},
	}})
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	t0 := time.Now()
	for range 5 {
		c.Send(msg("1", "2", 0, "x"))
	}
	for _, ev := range c.collect(5, 0, 0, ioTimeout) {
		if d := ev.at.Sub(t0); d < 150*time.Millisecond {
			t.Fatalf("answered after %v", d)
		}
	}
	m := dial(t, s.Addr(""))
	if st := m.Bind(smpp.BindTransceiver, "mix", ""); st != smpp.StatusOK {
		t.Fatal(st)
	}
	t0 = time.Now()
	for range 40 {
		m.Send(msg("1", "2", 0, "x"))
	}
	var fast, slow int
	for _, ev := range m.collect(40, 0, 0, ioTimeout) {
		if d := ev.at.Sub(t0); d < 250*time.Millisecond {
			fast++
		} else if d >= 400*time.Millisecond {
			slow++
		}
	}
	if fast < 8 || slow < 8 || fast+slow != 40 {
		t.Fatalf("mix: %d fast, %d slow", fast, slow)
	}
}

// TestReceiptsOnRequest: registered_delivery 0 gets no receipt, 1 always,
// 2 only on failure; disabled receipts never come.
func TestReceiptsOnRequest(t *testing.T) {
	t.Parallel()
	s := start(t, smscsim.Config{Accounts: []smscsim.AccountConfig{
		acct(nil),
		{SystemID: "failing", Receipts: smscsim.ReceiptConfig{Outcomes: "UNDELIV:100"}},
		{SystemID: "silent", Receipts: smscsim.ReceiptConfig{Disabled: true}},
	}})
	for _, tc := range []struct {
		acct     string
		rd       uint8
		receipts int
	}{{"acme", 0, 0}, {"acme", 1, 1}, {"acme", 2, 0}, {"failing", 2, 1}, {"failing", 1, 1}, {"silent", 1, 0}} {
		c := dial(t, s.Addr(""))
		pw := map[string]string{"acme": "secret"}[tc.acct]
		if st := c.Bind(smpp.BindTransceiver, tc.acct, pw); st != smpp.StatusOK {
			t.Fatal(st)
		}
		c.Send(msg("1", "2", tc.rd, "x"))
		evs := c.collect(1, tc.receipts, 0, ioTimeout)
		c.ExpectNothing(50 * time.Millisecond)
		if tc.receipts == 1 {
			st, _ := evs[1].tlvs.MessageState()
			if tc.acct == "failing" && (st != smpp.StateUndeliverable || !strings.Contains(string(evs[1].text), "stat:UNDELIV err:003")) {
				t.Errorf("%s: receipt %q state %v", tc.acct, evs[1].text, st)
			}
		}
	}
}

// TestReceiptDelay: the receipt comes its delay after the response.
func TestReceiptDelay(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Receipts.Delay = "300ms" }))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	c.Send(msg("1", "2", 1, "x"))
	evs := c.collect(1, 1, 0, ioTimeout)
	if evs[0].id != smpp.SubmitSMRespID || evs[1].at.Sub(evs[0].at) < 290*time.Millisecond {
		t.Fatalf("receipt %v after the response", evs[1].at.Sub(evs[0].at))
	}
}

// TestReceiptOutcomes: the mix decides the stat, err, message_state and
// network_error_code, in proportion.
func TestReceiptOutcomes(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Receipts.Outcomes = "DELIVRD:50,REJECTD/034:50" }))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	const n = 200
	for range n {
		c.Send(msg("1", "2", 1, "x"))
	}
	stats := map[string]int{}
	for _, ev := range c.collect(n, n, 0, ioTimeout) {
		if ev.id != smpp.DeliverSMID {
			continue
		}
		rc, err := smpp.ParseReceipt(ev.text)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := ev.tlvs.MessageState()
		ne, hasNE := ev.tlvs.NetworkErrorCode()
		key := string(rc.Stat) + "/" + string(rc.Err) + "/" + st.String()
		if string(rc.Stat) == "REJECTD" && (!hasNE || ne.Code != 34) {
			t.Fatalf("network_error_code %+v %v", ne, hasNE)
		}
		stats[key]++
	}
	if len(stats) != 2 || stats["DELIVRD/000/DELIVERED"] < 60 || stats["REJECTD/034/REJECTED"] < 60 {
		t.Fatalf("outcomes %v", stats)
	}
}

// TestMessageIDFormats: the resp's id and the receipt's id in their
// configured formats, for the same message number.
func TestMessageIDFormats(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		resp, rcpt string
		start      uint64
		wantResp   string
		wantRcpt   string
	}{
		{"", "", 0, "1", "1"},
		{"hex", "", 0xB8BE19, "b8be19", "b8be19"},
		{"HEX:8", "HEX", 0xB8BE19, "00B8BE19", "B8BE19"}, // leading zeros dropped in the receipt
		{"hex", "decimal", 0xFF, "ff", "255"},            // Vonage: hex resp, decimal receipt
		{"decimal:12", "", 42, "000000000042", "000000000042"},
	} {
		s := start(t, oneAccount(func(a *smscsim.AccountConfig) {
			a.MessageID, a.ReceiptID, a.IDStart = tc.resp, tc.rcpt, tc.start
		}))
		c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
		c.Send(msg("1", "2", 1, "x"))
		evs := c.collect(1, 1, 0, ioTimeout)
		rid, _ := evs[1].tlvs.ReceiptedMessageID()
		rc, _ := smpp.ParseReceipt(evs[1].text)
		if evs[0].msgID != tc.wantResp || string(rid) != tc.wantRcpt || string(rc.ID) != tc.wantRcpt {
			t.Errorf("%q/%q: resp %q, receipt TLV %q text %q; want %q, %q", tc.resp, tc.rcpt, evs[0].msgID, rid, rc.ID, tc.wantResp, tc.wantRcpt)
		}
	}
}

// TestReceiptBeforeResp: with before_resp 1 the receipt is on the wire
// before its submit_sm_resp, and the response follows the gap later.
func TestReceiptBeforeResp(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) {
		a.Receipts.BeforeResp = 1
		a.Receipts.BeforeRespGap = 200 * time.Millisecond
		a.Latency = "20ms"
	}))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	seq := c.Send(msg("1", "2", 1, "x"))
	evs := c.collect(1, 1, 0, ioTimeout)
	if evs[0].id != smpp.DeliverSMID || evs[1].id != smpp.SubmitSMRespID || evs[1].seq != seq {
		t.Fatalf("order: %v then %v", evs[0].id, evs[1].id)
	}
	rid, _ := evs[0].tlvs.ReceiptedMessageID()
	if string(rid) != evs[1].msgID || evs[1].at.Sub(evs[0].at) < 190*time.Millisecond {
		t.Fatalf("receipt %q, response %q %v later", rid, evs[1].msgID, evs[1].at.Sub(evs[0].at))
	}
	// Without a gap both leave in one write, the receipt first.
	s2 := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Receipts.BeforeResp = 1 }))
	c2 := dial(t, s2.Addr("")).mustBind(smpp.BindTransceiver)
	for range 20 {
		c2.Send(msg("1", "2", 1, "x"))
	}
	evs = c2.collect(20, 20, 0, ioTimeout)
	for i := 0; i < 40; i += 2 {
		rid, _ := evs[i].tlvs.ReceiptedMessageID()
		if evs[i].id != smpp.DeliverSMID || evs[i+1].id != smpp.SubmitSMRespID || string(rid) != evs[i+1].msgID {
			t.Fatalf("pair %d: %v %q then %v %q", i/2, evs[i].id, rid, evs[i+1].id, evs[i+1].msgID)
		}
	}
}

// TestTransmitterReceipts: a transmitter's receipts go to a receiver of its
// account; while none is bound they wait in the backlog and are sent when
// one binds.
func TestTransmitterReceipts(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(nil))
	tx := dial(t, s.Addr("")).mustBind(smpp.BindTransmitter)
	for range 3 {
		tx.Send(msg("14155550100", "447700900001", 1, "x"))
	}
	tx.collect(3, 0, 0, ioTimeout)
	tx.ExpectNothing(50 * time.Millisecond)
	if ar := report(t, s, "acme"); ar.Backlog != 3 || ar.Receipts != 0 {
		t.Fatalf("backlog %d receipts %d", ar.Backlog, ar.Receipts)
	}
	rx := dial(t, s.Addr("")).mustBind(smpp.BindReceiver)
	evs := rx.collect(0, 3, 0, ioTimeout)
	for _, ev := range evs {
		if ev.id != smpp.DeliverSMID || ev.esm != smpp.ESMClassDeliveryReceipt || ev.dst != "14155550100" {
			t.Fatalf("receipt %+v", ev)
		}
	}
	// From now on, straight to the receiver.
	tx.Send(msg("14155550100", "447700900001", 1, "x"))
	rx.collect(0, 1, 0, ioTimeout)
	if ar := report(t, s, "acme"); ar.Backlog != 0 || ar.Receipts != 4 {
		t.Fatalf("backlog %d receipts %d", ar.Backlog, ar.Receipts)
	}
}

// TestReceiptSurvivesDrop: a receipt not yet sent when its transceiver
// drops is sent on the account's next bind.
func TestReceiptSurvivesDrop(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Receipts.Delay = "200ms" }))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	c.Send(msg("14155550100", "447700900001", 1, "x"))
	evs := c.collect(1, 0, 0, ioTimeout)
	_ = c.NC.Close()
	waitStats(t, s, "the close", func(st smscsim.Stats) bool { return st.ConnsOpen == 0 })
	c2 := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	r := c2.collect(0, 1, 0, ioTimeout)[0]
	if rid, _ := r.tlvs.ReceiptedMessageID(); string(rid) != evs[0].msgID {
		t.Fatalf("receipt for %q, want %q", rid, evs[0].msgID)
	}
}

// TestValidityPeriod: a message whose validity_period ends before its
// receipt is due expires: the receipt says EXPIRED and comes when the
// validity ends. A longer validity changes nothing; a malformed one is
// answered ESME_RINVEXPIRY.
func TestValidityPeriod(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Receipts.Delay = "3s" }))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	short := msg("1", "2", 1, "short validity")
	short.ValidityPeriod = []byte("000000000001000R") // 1 s
	c.Send(short)
	evs := c.collect(1, 1, 0, ioTimeout)
	rc, err := smpp.ParseReceipt(evs[1].text)
	if err != nil {
		t.Fatal(err)
	}
	if d := evs[1].at.Sub(evs[0].at); string(rc.Stat) != "EXPIRED" || d > 2*time.Second {
		t.Fatalf("receipt %q %v after the response, want EXPIRED after about 1 s", evs[1].text, d)
	}
	long := msg("1", "2", 1, "long validity")
	long.ValidityPeriod = []byte("000000010000000R") // 1 h
	c.Send(long)
	evs = c.collect(1, 1, 0, ioTimeout)
	if rc, err := smpp.ParseReceipt(evs[1].text); err != nil || string(rc.Stat) != "DELIVRD" {
		t.Fatalf("receipt %q, want DELIVRD", evs[1].text)
	}
	bad := msg("1", "2", 1, "bad validity")
	bad.ValidityPeriod = []byte("000000013000100R") // relative with tenths
	c.Send(bad)
	if evs := c.collect(1, 0, 0, ioTimeout); evs[0].status != smpp.StatusINVEXPIRY {
		t.Fatalf("status %v, want ESME_RINVEXPIRY", evs[0].status)
	}
	c.ExpectNothing(100 * time.Millisecond)
	if r := s.Report(); r.Accounts[0].ValidityExpired != 1 {
		t.Fatalf("validity_expired %d, want 1", r.Accounts[0].ValidityExpired)
	}
}
