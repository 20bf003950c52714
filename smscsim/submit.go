package smscsim

import (
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// SubmitRefused counts a submit_sm the Conn answered at once: undecodable,
// not bound to submit, or over the account's window.
func (c *conn) SubmitRefused(st smpp.Status) {
	a := c.acct
	if a == nil {
		return
	}
	a.st.submits.Add(1)
	if st == smpp.StatusMSGQFUL {
		a.st.queueFull.Add(1)
	}
	a.countStatus(st)
}

// Submit decides a submit_sm within the window (see the package doc, "What
// a submit_sm meets"): a fault script or faults.fail, else the validity
// period and the rate limits; an accepted one gets a message id, its
// latency, maybe a receipt and a loopback MO.
func (c *conn) Submit(h smpp.Header, sm *smpp.SubmitSM) {
	s := c.sim
	a := c.acct
	a.st.submits.Add(1)
	var sc Script
	scripted := a.scripts && c.script(sm, &sc)
	segs := segmentsOf(sm)
	validUntil, validOK := c.validUntil(sm)
	status := smpp.StatusOK
	var arrival int64 // Sim.now when the limits judged it
	switch {
	case scripted && sc.HasStatus:
		status = sc.Status
	case !validOK:
		status = smpp.StatusINVEXPIRY
	default:
		if st, ok := a.fails.Sample(c.rng); ok {
			status = st
		}
	}
	if status != smpp.StatusOK {
		a.st.injected.Add(1)
	} else {
		status, arrival = a.limit(sm.Source.Addr, segs)
	}
	if status != smpp.StatusOK {
		a.countStatus(status)
	}
	if scripted && sc.Drop {
		a.st.dropped.Add(1)
		c.Unanswered()
		return
	}
	delay := a.latency.Sample(c.rng)
	if scripted && sc.HasAfter {
		delay = int64(sc.After)
	}
	it := smpptest.Item{Kind: smpptest.ItemResp, Seq: h.Sequence, Status: status}
	if status == smpp.StatusOK {
		it.N = a.nextID.Add(1)
		a.st.accepted.Add(1)
		a.st.segments.Add(int64(segs))
		if s.log != nil {
			c.logAccepted(a, sm, h.Sequence, it.N, segs, arrival)
		}
		c.receiptFor(a, sm, &it, &sc, scripted, &delay, validUntil)
		if a.loop != nil && a.loop.has(sm.Dest.Addr) {
			a.st.loopbacks.Add(1)
			d := loopbackOf(sm)
			a.deliver(smpptest.Item{Kind: smpptest.ItemDeliver, Due: s.now() + delay + a.loopDelay.Sample(c.rng), Delivery: d})
		}
	}
	c.Queue(&it, delay)
}

// script reads the fault script in sm's text into sc and reports whether
// the text is one; a malformed one is counted and logged, and the text
// sent as plain text.
func (c *conn) script(sm *smpp.SubmitSM, sc *Script) bool {
	text, ok := scriptText(sm)
	if !ok {
		return false
	}
	v, err := ParseScript(text)
	if err != nil {
		c.acct.st.scriptErrors.Add(1)
		c.Logger().Warn("fault script not understood: sent as plain text", zap.String("text", text), zap.Error(err))
		return false
	}
	*sc = v
	return true
}

// limit applies the account's and the source's rate limits to segs
// segments from src: ESME_ROK or ESME_RTHROTTLED (counted), and the
// arrival time (Sim.now) they were judged at.
func (a *account) limit(src []byte, segs int) (smpp.Status, int64) {
	verdict, arrival := a.admit(src, segs)
	switch verdict {
	case admitAccount:
		a.st.throttled.Add(1)
		a.st.throttledAcct.Add(1)
	case admitSource:
		a.st.throttled.Add(1)
		a.st.throttledSrc.Add(1)
	default:
		return smpp.StatusOK, arrival
	}
	return smpp.StatusTHROTTLED, arrival
}

// validUntil reads sm's validity_period as the Sim.now at which it ends (0:
// none, the simulator keeps the message as long as it needs); ok is false
// when the field is not an SMPP time (answered ESME_RINVEXPIRY).
func (c *conn) validUntil(sm *smpp.SubmitSM) (until int64, ok bool) {
	if len(sm.ValidityPeriod) == 0 {
		return 0, true
	}
	now := c.sim.now()
	wall := time.Unix(0, c.sim.epochUnix+now)
	t, err := smpp.ParseTime(sm.ValidityPeriod, wall)
	if err != nil {
		return 0, false
	}
	return now + max(int64(t.Sub(wall)), 1), true
}

// receiptFor decides the receipt of an accepted submit_sm: on this
// connection with the response (a transceiver), or scheduled on a receiver
// of the account (a transmitter). It may lengthen the response delay
// (receipt first, on another connection). A message whose validity_period
// (validUntil, 0 for none) ends before its receipt's time is expired: its
// receipt says EXPIRED and comes when the validity ends, as a carrier that
// drops it then would send it.
func (c *conn) receiptFor(a *account, sm *smpp.SubmitSM, it *smpptest.Item, sc *Script, scripted bool, delay *int64, validUntil int64) {
	oc := a.outcomes.Sample(c.rng)
	if scripted && sc.HasStat {
		oc = Outcome{State: sc.Stat, Err: defaultErr[sc.Stat]}
	}
	if scripted && sc.HasErr {
		oc.Err = sc.Err
	}
	want := a.receipts && smpptest.WantsReceipt(sm.RegisteredDelivery, oc.State)
	if scripted && sc.Receipt {
		want = !sc.NoReceipt
	}
	if !want && validUntil == 0 {
		return
	}
	rdelay := a.rcptDelay.Sample(c.rng)
	if scripted && sc.HasReceiptAfter {
		rdelay = int64(sc.ReceiptAfter)
	}
	if now := c.sim.now(); validUntil != 0 && now+*delay+rdelay > validUntil {
		a.st.validityExpired.Add(1)
		oc = Outcome{State: smpp.StateExpired, Err: defaultErr[smpp.StateExpired]}
		rdelay = max(validUntil-now-*delay, 0)
		want = a.receipts && smpptest.WantsReceipt(sm.RegisteredDelivery, oc.State)
		if scripted && sc.Receipt {
			want = !sc.NoReceipt
		}
	}
	if !want {
		return
	}
	first := scripted && sc.First
	if !first && a.before > 0 {
		first = c.rng.Float64() < a.before
	}
	if c.BindType() == smpp.BindTransceiver {
		it.Flags |= smpptest.FlagReceipt
		it.Receipt.Fill(sm, c.sim.unixNow(), oc.State, uint16(oc.Err), true)
		it.Receipt.Delay = rdelay
		if first {
			it.Flags |= smpptest.FlagReceiptFirst
			it.Receipt.Delay = a.beforeGap
		}
		return
	}
	// A transmitter's receipts go to a receiver of its account.
	r := smpptest.Item{Kind: smpptest.ItemReceipt, N: it.N, Due: c.sim.now() + *delay + rdelay}
	if first {
		r.Due = c.sim.now() + *delay
		*delay += a.beforeGap
	}
	r.Receipt.Fill(sm, c.sim.unixNow(), oc.State, uint16(oc.Err), true)
	a.deliver(r)
}

// segmentsOf returns how many segments a submit_sm counts for the rate
// limits: one, or for a text sent whole in message_payload, the parts it
// needs (153 GSM characters, 67 UCS-2 units or 134 octets each).
func segmentsOf(p *smpp.SubmitSM) int {
	if len(p.ShortMessage) > 0 {
		return 1
	}
	pl, ok := p.TLVs.MessagePayload()
	if !ok {
		return 1
	}
	data := pl
	if p.ESMClass&smpp.ESMClassUDHI != 0 {
		if _, d, err := coding.ParseUDH(pl); err == nil {
			data = d
		}
	}
	enc := smpp.EncodingOf(p.DataCoding, 0)
	units := len(data)
	if enc == coding.UCS2 {
		units /= 2
	}
	single, part := coding.Capacity(enc, coding.UDH8)
	if units <= single {
		return 1
	}
	return (units + part - 1) / part
}
