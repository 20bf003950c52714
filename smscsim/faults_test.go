package smscsim_test

import (
	"testing"
	"time"
	"unicode/utf16"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// TestDropEvery: each bind is closed abruptly its period after binding,
// and the ESME can bind again.
func TestDropEvery(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Faults.DropEvery = 300 * time.Millisecond }))
	t0 := time.Now()
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	c.ExpectEOF(smpp.SubmitSMRespID, smpp.DeliverSMID)
	if d := time.Since(t0); d < 280*time.Millisecond {
		t.Fatalf("dropped after %v", d)
	}
	dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	if ar := report(t, s, "acme"); ar.Drops != 1 || ar.Binds != 2 {
		t.Fatalf("drops %d binds %d", ar.Drops, ar.Binds)
	}
}

// TestDropAfterPDUs: the connection closes on its N-th PDU (the bind
// counts), which goes unanswered.
func TestDropAfterPDUs(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Faults.DropAfterPDUs = 3 }))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver) // PDU 1
	seq := c.Send(msg("1", "2", 0, "x"))                    // PDU 2
	if st, _ := c.SubmitResp(seq); st != smpp.StatusOK {
		t.Fatal(st)
	}
	c.Send(msg("1", "2", 0, "x")) // PDU 3: no answer, closed
	c.ExpectEOF(smpp.SubmitSMRespID, smpp.DeliverSMID)
	if ar := report(t, s, "acme"); ar.Drops != 1 || ar.Accepted != 1 {
		t.Fatalf("drops %d accepted %d", ar.Drops, ar.Accepted)
	}
}

// TestMute: while muted (Sim.Mute, or the account's mute_every/mute_for)
// requests are dropped unanswered, enquire_link included; afterwards they
// are answered again.
func TestMute(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(nil))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	s.Mute(300 * time.Millisecond)
	c.Send(msg("1", "2", 0, "x"))
	c.Send(&smpp.EnquireLink{})
	c.ExpectNothing(200 * time.Millisecond)
	time.Sleep(150 * time.Millisecond) // real time: the 300 ms mute runs out
	seq := c.Send(msg("1", "2", 0, "x"))
	if st, _ := c.SubmitResp(seq); st != smpp.StatusOK {
		t.Fatal(st)
	}

	// Periodic: hung for the last 300ms of every 600ms.
	s2 := start(t, oneAccount(func(a *smscsim.AccountConfig) {
		a.Faults.MuteEvery, a.Faults.MuteFor = 600*time.Millisecond, 300*time.Millisecond
	}))
	// The periodic mute hangs bound connections only: the bind is answered.
	c2 := dial(t, s2.Addr("")).mustBind(smpp.BindTransceiver)
	const n = 24
	for range n {
		c2.Send(msg("1", "2", 0, "x"))
		time.Sleep(50 * time.Millisecond) // spread over two 600 ms cycles, muted half the time
	}
	answered := 0
	for {
		h, _, err := c2.ReadWithin(700 * time.Millisecond)
		if err != nil {
			break
		}
		if h.ID == smpp.SubmitSMRespID {
			answered++
		}
	}
	ar := report(t, s2, "acme")
	if answered < n/4 || answered > 3*n/4 || ar.MutedDrops != int64(n-answered) {
		t.Fatalf("%d of %d answered, muted drops %d", answered, n, ar.MutedDrops)
	}
}

// TestFail: faults.fail answers its fraction with its status.
func TestFail(t *testing.T) {
	t.Parallel()
	s := start(t, smscsim.Config{Seed: 1, Accounts: []smscsim.AccountConfig{
		acct(func(a *smscsim.AccountConfig) { a.Faults.Fail = "0x58:50%" }),
		{SystemID: "full", Faults: smscsim.FaultConfig{Fail: "ESME_RMSGQFUL:100%"}},
	}})
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	const n = 400
	for range n {
		c.Send(msg("1", "2", 0, "x"))
	}
	counts := map[smpp.Status]int{}
	for _, ev := range c.collect(n, 0, 0, ioTimeout) {
		counts[ev.status]++
	}
	if counts[smpp.StatusTHROTTLED] < n/4 || counts[smpp.StatusOK] < n/4 || len(counts) != 2 {
		t.Fatalf("answers %v", counts)
	}
	ar := report(t, s, "acme")
	if ar.Injected != int64(counts[smpp.StatusTHROTTLED]) || ar.Throttled != 0 || ar.Statuses["ESME_RTHROTTLED"] != ar.Injected {
		t.Fatalf("report %+v", ar)
	}
	f := dial(t, s.Addr(""))
	if st := f.Bind(smpp.BindTransceiver, "full", ""); st != smpp.StatusOK {
		t.Fatal(st)
	}
	seq := f.Send(msg("1", "2", 0, "x"))
	if st, _ := f.SubmitResp(seq); st != smpp.StatusMSGQFUL {
		t.Fatalf("100%% 0x14: %v", st)
	}
}

// ucs2 encodes s as UTF-16BE.
func ucs2(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

// TestFaultScript: scripts in the text decide the answer and the receipt,
// however the text is encoded (GSM 7-bit with escaped braces, ASCII,
// UCS-2); a malformed one is counted and the message sent as text.
func TestFaultScript(t *testing.T) {
	t.Parallel()
	s := start(t, smscsim.Config{Accounts: []smscsim.AccountConfig{acct(nil), {SystemID: "plain", Faults: smscsim.FaultConfig{NoScripts: true}}}})
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	gsm, err := coding.Append(nil, "{submit:{status:0x58}}", coding.GSM7)
	if err != nil {
		t.Fatal(err)
	}
	if gsm[0] != 0x1B {
		t.Fatalf("GSM 03.38 escapes '{': %x", gsm)
	}
	send := func(text []byte, dc, rd uint8) uint32 {
		p := msg("1", "2", rd, "")
		p.ShortMessage, p.DataCoding = text, dc
		return c.Send(p)
	}
	// Status, in three encodings.
	for _, tc := range []struct {
		text []byte
		dc   uint8
	}{{gsm, 0}, {[]byte("{submit:{status:0x58}}"), 0}, {[]byte("{submit:{status:ESME_RTHROTTLED}}"), 1}, {ucs2("{submit:{status:88}}"), 8}} {
		seq := send(tc.text, tc.dc, 0)
		if st, _ := c.SubmitResp(seq); st != smpp.StatusTHROTTLED {
			t.Fatalf("%x: %v", tc.text, st)
		}
	}
	// Delay of the response.
	t0 := time.Now()
	seq := send([]byte("{submit:{after:250ms}}"), 0, 0)
	if st, _ := c.SubmitResp(seq); st != smpp.StatusOK || time.Since(t0) < 240*time.Millisecond {
		t.Fatalf("after: %v in %v", st, time.Since(t0))
	}
	// Receipt stat, err and delay, though registered_delivery asked none.
	t0 = time.Now()
	send([]byte("{receipt:{stat:UNDELIV,err:34,after:200ms}}"), 0, 0)
	evs := c.collect(1, 1, 0, ioTimeout)
	rc, _ := smpp.ParseReceipt(evs[1].text)
	if string(rc.Stat) != "UNDELIV" || string(rc.Err) != "034" || evs[1].at.Sub(evs[0].at) < 190*time.Millisecond {
		t.Fatalf("receipt %q %v after the response", evs[1].text, evs[1].at.Sub(evs[0].at))
	}
	// Receipt first, on request.
	send([]byte("{receipt:{first:true}}"), 0, 1)
	evs = c.collect(1, 1, 0, ioTimeout)
	if evs[0].id != smpp.DeliverSMID || evs[1].id != smpp.SubmitSMRespID {
		t.Fatalf("first: %v then %v", evs[0].id, evs[1].id)
	}
	// No receipt though one was asked; then a dropped submit.
	seq = send([]byte("{receipt:{none:true}}"), 0, 1)
	if st, _ := c.SubmitResp(seq); st != smpp.StatusOK {
		t.Fatal(st)
	}
	send([]byte("{submit:{drop:true}}"), 0, 0)
	c.ExpectNothing(100 * time.Millisecond)
	// Malformed: answered as a plain message.
	seq = send([]byte("{submit:{status:}}"), 0, 0)
	if st, _ := c.SubmitResp(seq); st != smpp.StatusOK {
		t.Fatal(st)
	}
	ar := report(t, s, "acme")
	if ar.ScriptErrors != 1 || ar.Unanswered != 1 || ar.Injected != 4 {
		t.Fatalf("report: script errors %d, unanswered %d, injected %d", ar.ScriptErrors, ar.Unanswered, ar.Injected)
	}
	// An account with no_scripts ignores them.
	p := dial(t, s.Addr(""))
	if st := p.Bind(smpp.BindTransceiver, "plain", ""); st != smpp.StatusOK {
		t.Fatal(st)
	}
	seq = p.Send(msg("1", "2", 0, "{submit:{status:0x58}}"))
	if st, _ := p.SubmitResp(seq); st != smpp.StatusOK {
		t.Fatalf("no_scripts: %v", st)
	}
}

// TestUnbindAll: a carrier-initiated unbind; the connection closes once the
// ESME answers, and our session binds again.
func TestUnbindAll(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(nil))
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	s.UnbindAll()
	h, _ := c.Read()
	if h.ID != smpp.UnbindID {
		t.Fatalf("got %v, want unbind", h.ID)
	}
	b, _ := smpp.AppendPDU(nil, &smpp.UnbindResp{}, smpp.StatusOK, h.Sequence)
	c.Raw(b)
	c.ExpectEOF(smpp.SubmitSMRespID, smpp.DeliverSMID)
	session(t, s.Addr(""), nil)
	s.UnbindAll()
	waitStats(t, s, "the session's rebind", func(st smscsim.Stats) bool { return st.Binds == 3 && st.Bound == 1 })
}
