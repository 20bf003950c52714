package smscsim

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// Connection states.
const (
	stateOpen int32 = iota
	stateTX
	stateRX
	stateTRX
	stateUnbinding
	stateClosed
)

// pendKind is the kind of deliver_sm the simulator sent and awaits an
// answer to.
type pendKind uint8

const (
	pendReceipt pendKind = iota + 1
	pendMO
	pendUnbind
)

type pending struct {
	kind pendKind
	d    *delivery // pendMO
	part int       // pendMO: which part of d
	n    uint64    // pendReceipt: the message number
	rc   receipt   // pendReceipt: what to send again
}

// receiptRetry is how long a carrier waits before it sends again a receipt
// or an MO part the ESME did not acknowledge (the connection closed first)
// or answered with a temporary error: real SMSCs keep a message until it is
// acknowledged.
const receiptRetry = 500 * time.Millisecond

// retryMO schedules one MO part again, on any receiver of the account. The
// retry has no waiter: InjectMO reports the first attempt's statuses.
func (c *conn) retryMO(a *account, p pending) {
	a.st.moRetries.Add(1)
	a.deliver(item{kind: kDeliver, d: &delivery{parts: []smpp.DeliverSM{p.d.parts[p.part]}}, due: c.sim.now() + int64(receiptRetry)})
}

const (
	// maxQueued is how many octets may wait for a peer that does not read
	// before the simulator drops it as a slow consumer.
	maxQueued = 64 << 20
	// drainTimeout bounds how long a connection closing after a last answer
	// (unbind_resp) waits for the peer to close its side.
	drainTimeout = 2 * time.Second
)

// conn is one ESME connection: a reader goroutine that parses and answers
// in place, and a writer goroutine that runs the timer heap and sends what
// was queued since its last write in one Write.
//
// Lock order: conn.mu, then account.bmu, account.mu, account.smu, Sim.mu
// and the log's lock; never two conns' mu at once. No I/O under a lock.
type conn struct {
	sim  *Sim
	ln   *listener
	id   int
	nc   net.Conn
	wake chan struct{} // size 1: wakes the writer
	done chan struct{} // closed by close

	closeOnce sync.Once
	state     atomic.Int32
	acct      *account // set once, by the reader at bind, before state leaves stateOpen
	bindType  smpp.BindType

	// Reader goroutine only.
	rd          *smpp.Reader
	dec         smpp.Decoder
	rng         *rand.Rand
	arrived     int64 // submit_sm received
	maxOut      int64
	handled     int
	pdus        int64
	logBuf      []byte
	textScratch []byte

	written atomic.Int64 // submit_sm_resp handed to the socket (or dropped)

	mu              sync.Mutex // guards what follows
	out             []byte     // queued for the writer
	outSubmits      int64      // submit_sm_resp in out
	sched           sched
	ord             uint64
	pend            map[uint32]pending
	seq             uint32
	closing         bool   // no more items are accepted
	closeAfterFlush bool   // unbind: flush, then half-close
	dropNow         bool   // fault: close without writing
	divert          []item // receipts to hand to another bind (this one is unbinding)

	// Encoding scratch, used with mu held.
	resp       smpp.SubmitSMResp
	dlv        smpp.DeliverSM
	idBuf      []byte
	textBuf    []byte
	tlvBuf     []byte
	srcBuf     []byte
	dstBuf     []byte
	one        [1]byte
	submitDate dateCache
	doneDate   dateCache
}

func newConn(s *Sim, ln *listener, nc net.Conn, id int) *conn {
	c := &conn{
		sim:  s,
		ln:   ln,
		id:   id,
		nc:   nc,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		rd:   smpp.NewReader(nc, 0),
		rng:  rand.New(rand.NewPCG(s.seed, uint64(id))),
		pend: make(map[uint32]pending),
	}
	return c
}

func (c *conn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) bound() bool {
	st := c.state.Load()
	return st == stateTX || st == stateRX || st == stateTRX
}

// receives reports whether the connection is a bound receiver or transceiver.
func (c *conn) receives() bool {
	st := c.state.Load()
	return st == stateRX || st == stateTRX
}

// close closes the socket at once (the reader and writer then end), and
// hands the receipts and messages it had not sent yet to its account's
// other binds or backlog. It must not be called with any lock held.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.state.Store(stateClosed)
		_ = c.nc.Close()
		close(c.done)
		c.mu.Lock()
		a := c.acct
		c.closing = true
		var keep []item
		for _, it := range c.sched {
			switch {
			case it.kind == kReceipt || it.kind == kDeliver:
				keep = append(keep, it)
			case it.kind == kResp && it.flags&fReceipt != 0 && it.flags&fReceiptSent == 0:
				// The response is lost with the connection, but the
				// message was accepted: its receipt still comes.
				r := it
				r.kind = kReceipt
				if r.flags&fFirst == 0 {
					r.due += r.rc.delay
				}
				keep = append(keep, r)
			}
		}
		keep = append(keep, c.divert...)
		c.sched, c.divert = nil, nil
		pend := c.pend
		c.pend = map[uint32]pending{}
		c.mu.Unlock()
		if a != nil {
			a.unregister(c)
		}
		for _, p := range pend {
			if p.kind == pendMO && a != nil {
				a.countResp(a.moResps, 0, true)
				p.d.finish(statusLost, 1)
				c.retryMO(a, p)
			} else if p.kind == pendReceipt && a != nil {
				// Unacknowledged: it goes again, on another bind or later.
				a.countResp(a.receiptResps, 0, true)
				a.st.receiptRetries.Add(1)
				keep = append(keep, item{kind: kReceipt, n: p.n, rc: p.rc, due: c.sim.now() + int64(receiptRetry)})
			}
		}
		for _, it := range keep {
			if a != nil {
				a.deliver(it)
			} else {
				it.abandon()
			}
		}
		c.sim.unregister(c)
		c.sim.logf("smscsim: conn %d: closed", c.id)
	})
}

// finish closes the connection gracefully after what is queued: the writer
// flushes and half-closes, the reader discards input until the peer closes
// (or drainTimeout), then the connection closes.
func (c *conn) finish() {
	c.mu.Lock()
	c.closeAfterFlush = true
	c.mu.Unlock()
	c.kick()
	_ = c.nc.SetReadDeadline(time.Now().Add(drainTimeout))
	b := make([]byte, 4096)
	for {
		if _, err := c.nc.Read(b); err != nil {
			return
		}
	}
}

func (c *conn) nextSeq() uint32 {
	c.seq++
	if c.seq > smpp.MaxSequence {
		c.seq = 1
	}
	return c.seq
}

// muted reports whether the connection is hung at now: the whole simulator
// (Sim.Mute) or its account's periodic mute.
func (c *conn) muted(now int64) bool {
	if c.sim.muted(now) {
		return true
	}
	a := c.acct
	return a != nil && a.muteEvery > 0 && c.bound() && a.muted(now)
}

// muteEnd returns when the mute in force at now ends.
func (c *conn) muteEnd(now int64) int64 {
	end := now + int64(time.Millisecond)
	if u := c.sim.muteUntil.Load(); u > end {
		end = u
	}
	if a := c.acct; a != nil && a.muteEvery > 0 && a.muted(now) {
		end = max(end, now-now%a.muteEvery+a.muteEvery)
	}
	return end
}

func (c *conn) readLoop() {
	defer c.sim.wg.Done()
	defer c.close()
	s := c.sim
	for {
		h, body, err := c.rd.Next()
		if err != nil {
			var le *smpp.PDULengthError
			if errors.As(err, &le) {
				s.logf("smscsim: conn %d: %v: generic_nack and close", c.id, err)
				c.answer(smpp.GenericNackID, smpp.StatusINVCMDLEN, 0)
				c.finish()
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.logf("smscsim: conn %d: read: %v", c.id, err)
			}
			return
		}
		c.pdus++
		if a := c.acct; a != nil && a.dropAfter > 0 && c.pdus >= a.dropAfter {
			a.st.drops.Add(1)
			s.logf("smscsim: conn %d: dropped on receiving PDU %d, %v (drop_after_pdus)", c.id, c.pdus, h.ID)
			return
		}
		switch {
		case h.ID.IsResponse():
			if c.onResponse(h) {
				return // our unbind answered
			}
		case (s.muteUntil.Load() != 0 || (c.acct != nil && c.acct.muteEvery > 0)) && c.muted(s.now()):
			if a := c.acct; a != nil {
				a.st.mutedDrops.Add(1)
			}
		default:
			if !c.onRequest(h, body) {
				c.kick()
				c.finish()
				return
			}
			c.handled++
		}
		// Wake the writer once the input is drained (or every 256
		// requests), so that answers to a burst leave in one write. Checked
		// after every PDU: the last request may be followed by responses.
		if c.handled > 0 && (c.rd.Buffered() == 0 || c.handled >= 256) {
			c.handled = 0
			c.mu.Lock()
			n := len(c.out)
			c.mu.Unlock()
			if n > maxQueued {
				s.logf("smscsim: conn %d: %d octets unread by the peer: closing (slow consumer)", c.id, n)
				return
			}
			c.kick()
		}
	}
}

// onRequest answers a request; false means the connection is to close after
// the answer (unbind).
func (c *conn) onRequest(h smpp.Header, body []byte) bool {
	switch h.ID {
	case smpp.SubmitSMID:
		c.onSubmit(h, body)
	case smpp.EnquireLinkID:
		c.answer(smpp.EnquireLinkRespID, smpp.StatusOK, h.Sequence)
	case smpp.BindTransmitterID, smpp.BindReceiverID, smpp.BindTransceiverID:
		c.onBind(h, body)
	case smpp.UnbindID:
		c.state.Store(stateUnbinding)
		if a := c.acct; a != nil {
			a.unregister(c)
		}
		c.answer(smpp.UnbindRespID, smpp.StatusOK, h.Sequence)
		c.sim.logf("smscsim: conn %d: unbind from the ESME", c.id)
		return false
	case smpp.DataSMID, smpp.SubmitMultiID, smpp.QuerySMID, smpp.CancelSMID, smpp.ReplaceSMID:
		// Valid requests the simulator does not implement: their response,
		// without a body, with ESME_RINVCMDID.
		st := smpp.StatusINVCMDID
		if !c.bound() {
			st = smpp.StatusINVBNDSTS
		}
		c.answer(h.ID.Response(), st, h.Sequence)
	default:
		// Unknown commands, and requests an ESME may not send.
		c.answer(smpp.GenericNackID, smpp.StatusINVCMDID, h.Sequence)
	}
	return true
}

// answer queues a header-only PDU at once.
func (c *conn) answer(id smpp.CommandID, st smpp.Status, seq uint32) {
	c.mu.Lock()
	c.out = smpp.AppendHeaderOnly(c.out, id, st, seq)
	if id == smpp.SubmitSMRespID {
		c.outSubmits++
	}
	c.mu.Unlock()
}

func decodeStatus(err error) smpp.Status {
	var de *smpp.DecodeError
	if errors.As(err, &de) {
		return de.Status
	}
	return smpp.StatusSYSERR
}

func (c *conn) onBind(h smpp.Header, body []byte) {
	s := c.sim
	respID := h.ID.Response()
	p, err := c.dec.Decode(h, body)
	if err != nil {
		s.bindsRefused.Add(1)
		c.answer(respID, decodeStatus(err), h.Sequence)
		return
	}
	b := p.(*smpp.Bind)
	a := s.byID[string(b.SystemID)]
	refuse := func(st smpp.Status) {
		if a != nil {
			a.st.bindsRefused.Add(1)
		} else {
			s.bindsRefused.Add(1)
		}
		s.logf("smscsim: conn %d: %v as %q refused: %v", c.id, h.ID, b.SystemID, st)
		c.answer(respID, st, h.Sequence)
	}
	switch {
	case c.state.Load() != stateOpen:
		refuse(smpp.StatusALYBND)
		return
	case a == nil || (c.ln.allowed != nil && !c.ln.allowed[a.id]):
		a = nil
		refuse(smpp.StatusINVSYSID)
		return
	case a.pw != string(b.Password):
		refuse(smpp.StatusINVPASWD)
		return
	case !a.allow[b.Type]:
		refuse(smpp.StatusBINDFAIL)
		return
	}
	st := stateTRX
	switch b.Type {
	case smpp.BindTransmitter:
		st = stateTX
	case smpp.BindReceiver:
		st = stateRX
	}
	// All under mu: a receipt scheduled here by another goroutine as soon
	// as the account lists this bind must leave after the bind response.
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.acct, c.bindType = a, b.Type
	c.state.Store(st)
	ok, backlog := a.register(c)
	if !ok {
		c.acct = nil
		c.state.Store(stateOpen)
		c.mu.Unlock()
		refuse(smpp.StatusALYBND)
		return
	}
	resp := smpp.BindResp{Type: b.Type, SystemID: s.sysID, TLVs: smpp.AppendTLV(nil, smpp.TagSCInterfaceVersion, []byte{smpp.InterfaceVersion34})}
	c.out, _ = smpp.AppendPDU(c.out, &resp, smpp.StatusOK, h.Sequence)
	if a.dropEvery > 0 {
		c.pushLocked(item{kind: kDrop, due: s.now() + a.dropEvery})
	}
	for _, it := range backlog {
		c.pushLocked(it)
	}
	c.mu.Unlock()
	a.st.binds.Add(1)
	s.logf("smscsim: conn %d: bound as %v %q", c.id, b.Type, a.id)
}

// wantsReceipt reports whether registered_delivery asks for a receipt of a
// message with this final state.
func wantsReceipt(rd uint8, st smpp.MessageState) bool {
	switch rd & smpp.RegisteredDeliveryMask {
	case smpp.RegisteredDeliveryFinal, smpp.RegisteredDeliveryMask:
		return true
	case smpp.RegisteredDeliveryFailure:
		return st != smpp.StateDelivered
	}
	return false
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

func (c *conn) onSubmit(h smpp.Header, body []byte) {
	s := c.sim
	outstanding := c.arrived - c.written.Load()
	c.arrived++
	a := c.acct
	p, err := c.dec.Decode(h, body)
	if err != nil {
		st := decodeStatus(err)
		if a != nil {
			a.st.submits.Add(1)
			a.countStatus(st)
		}
		c.answer(smpp.SubmitSMRespID, st, h.Sequence)
		return
	}
	bst := c.state.Load()
	if bst != stateTX && bst != stateTRX {
		if a != nil {
			a.st.submits.Add(1)
			a.countStatus(smpp.StatusINVBNDSTS)
		}
		c.answer(smpp.SubmitSMRespID, smpp.StatusINVBNDSTS, h.Sequence)
		return
	}
	sm := p.(*smpp.SubmitSM)
	a.st.submits.Add(1)
	if a.window > 0 && outstanding >= a.window {
		a.st.queueFull.Add(1)
		a.countStatus(smpp.StatusMSGQFUL)
		c.answer(smpp.SubmitSMRespID, smpp.StatusMSGQFUL, h.Sequence)
		return
	}
	if outstanding >= c.maxOut {
		c.maxOut = outstanding + 1
		maxInt64(&a.st.maxOutstanding, c.maxOut)
	}
	var sc Script
	scripted := false
	if a.scripts {
		if text, ok := scriptText(sm); ok {
			if v, err := ParseScript(text); err != nil {
				a.st.scriptErrors.Add(1)
				s.logf("smscsim: conn %d: %q: %v (sent as plain text)", c.id, text, err)
			} else {
				sc, scripted = v, true
			}
		}
	}
	segs := segmentsOf(sm)
	status := smpp.StatusOK
	validUntil, validOK := c.validUntil(sm)
	var arrival int64 // Sim.now when the limits judged it
	if scripted && sc.HasStatus {
		status = sc.Status
	} else if !validOK {
		status = smpp.StatusINVEXPIRY
	} else if st, ok := a.fails.Sample(c.rng); ok {
		status = st
	}
	if status != smpp.StatusOK {
		a.st.injected.Add(1)
	} else {
		var verdict int
		verdict, arrival = a.admit(sm.Source.Addr, segs)
		switch verdict {
		case admitAccount:
			status = smpp.StatusTHROTTLED
			a.st.throttled.Add(1)
			a.st.throttledAcct.Add(1)
		case admitSource:
			status = smpp.StatusTHROTTLED
			a.st.throttled.Add(1)
			a.st.throttledSrc.Add(1)
		}
	}
	if status != smpp.StatusOK {
		a.countStatus(status)
	}
	if scripted && sc.Drop {
		a.st.dropped.Add(1)
		c.written.Add(1) // never answered: not outstanding here
		return
	}
	delay := a.latency.Sample(c.rng)
	if scripted && sc.HasAfter {
		delay = int64(sc.After)
	}
	it := item{kind: kResp, seq: h.Sequence, status: status}
	if status == smpp.StatusOK {
		it.n = a.nextID.Add(1)
		a.st.accepted.Add(1)
		a.st.segments.Add(int64(segs))
		if s.log != nil {
			c.logAccepted(a, sm, h.Sequence, it.n, segs, arrival)
		}
		c.receiptFor(a, sm, &it, &sc, scripted, &delay, validUntil)
		if a.loop != nil && a.loop.has(sm.Dest.Addr) {
			a.st.loopbacks.Add(1)
			d := loopbackOf(sm)
			a.deliver(item{kind: kDeliver, due: s.now() + delay + a.loopDelay.Sample(c.rng), d: d})
		}
	}
	c.queue(&it, delay)
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
func (c *conn) receiptFor(a *account, sm *smpp.SubmitSM, it *item, sc *Script, scripted bool, delay *int64, validUntil int64) {
	oc := a.outcomes.Sample(c.rng)
	if scripted && sc.HasStat {
		oc = Outcome{State: sc.Stat, Err: defaultErr[sc.Stat]}
	}
	if scripted && sc.HasErr {
		oc.Err = sc.Err
	}
	want := a.receipts && wantsReceipt(sm.RegisteredDelivery, oc.State)
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
		want = a.receipts && wantsReceipt(sm.RegisteredDelivery, oc.State)
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
	if c.state.Load() == stateTRX {
		it.flags |= fReceipt
		if first {
			it.flags |= fFirst
		}
		it.rc.fill(sm, c.sim.unixNow(), oc, rdelay)
		return
	}
	// A transmitter's receipts go to a receiver of its account.
	r := item{kind: kReceipt, n: it.n, due: c.sim.now() + *delay + rdelay}
	if first {
		r.due = c.sim.now() + *delay
		*delay += a.beforeGap
	}
	r.rc.fill(sm, c.sim.unixNow(), oc, 0)
	a.deliver(r)
}

// scriptText returns a submit_sm's text when it starts with '{' and ends
// with '}' (a fault script), decoded; ok is false otherwise. The check is cheap; decoding
// allocates, but only scripted messages pay it.
func scriptText(sm *smpp.SubmitSM) (string, bool) {
	b := sm.ShortMessage
	if len(b) == 0 {
		if pl, ok := sm.TLVs.MessagePayload(); ok {
			b = pl
		}
	}
	if sm.ESMClass&smpp.ESMClassUDHI != 0 {
		if _, d, err := coding.ParseUDH(b); err == nil {
			b = d
		}
	}
	enc := smpp.EncodingOf(sm.DataCoding, 0)
	switch {
	case len(b) == 0:
		return "", false
	case enc == coding.GSM7 && (b[0] == '{' || len(b) > 1 && b[0] == 0x1B && b[1] == 0x28):
	case enc == coding.UCS2 && len(b) > 1 && b[0] == 0 && b[1] == '{':
	case (enc == coding.Latin1 || enc == coding.Binary) && b[0] == '{':
	default:
		return "", false
	}
	var text string
	if enc == coding.GSM7 && b[0] == '{' {
		text = string(b) // sent as ASCII with data_coding 0, as many clients do
	} else {
		text = string(coding.AppendDecodeReplace(nil, b, enc))
	}
	// A script also ends with '}': a GSM text that merely starts with 'ä'
	// (0x7B, ASCII '{') is not one.
	if !strings.HasSuffix(strings.TrimRight(text, " \r\n"), "}") {
		return "", false
	}
	return text, true
}

// queue answers it now, or after delay.
func (c *conn) queue(it *item, delay int64) {
	c.mu.Lock()
	if delay <= 0 {
		c.emit(it)
	} else {
		it.due = c.sim.now() + delay
		c.pushLocked(*it)
	}
	c.mu.Unlock()
}

// schedule adds an item to this connection's heap from another goroutine;
// false means the connection is closing and the caller keeps the item.
func (c *conn) schedule(it item) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	top := c.pushLocked(it)
	c.mu.Unlock()
	if top {
		c.kick()
	}
	return true
}

func (c *conn) pushLocked(it item) bool {
	c.ord++
	it.ord = c.ord
	return c.sched.push(it)
}

// emit writes an item into out. Called with mu held.
func (c *conn) emit(it *item) {
	s := c.sim
	a := c.acct
	switch it.kind {
	case kResp:
		rcpt := it.flags&fReceipt != 0
		if rcpt && it.flags&fFirst != 0 && it.flags&fReceiptSent == 0 {
			c.emitReceipt(&it.rc, it.n)
			it.flags |= fReceiptSent
			if a.beforeGap > 0 {
				it.due = s.now() + a.beforeGap
				c.pushLocked(*it)
				return
			}
		}
		if it.status != smpp.StatusOK {
			c.out = smpp.AppendHeaderOnly(c.out, smpp.SubmitSMRespID, it.status, it.seq)
		} else {
			c.idBuf = a.idFmt.Append(c.idBuf[:0], it.n)
			c.resp.MessageID = c.idBuf
			c.out, _ = smpp.AppendPDU(c.out, &c.resp, smpp.StatusOK, it.seq)
		}
		c.outSubmits++
		if rcpt && it.flags&fFirst == 0 {
			if it.rc.delay > 0 {
				r := *it
				r.kind = kReceipt
				r.due = s.now() + it.rc.delay
				c.pushLocked(r)
			} else {
				c.emitReceipt(&it.rc, it.n)
			}
		}
	case kReceipt:
		c.emitReceipt(&it.rc, it.n)
	case kDeliver:
		c.emitDeliver(it)
	case kDrop:
		c.dropNow = true
	}
}

// emitReceipt writes a delivery receipt for message n. Called with mu held.
func (c *conn) emitReceipt(rc *receipt, n uint64) {
	a := c.acct
	if !c.receives() {
		// Unbinding: another receiver of the account gets it.
		c.divert = append(c.divert, item{kind: kReceipt, n: n, rc: *rc})
		return
	}
	// The receipt goes from the handset (the message's destination) to the
	// ESME (its source).
	c.srcBuf = append(c.srcBuf[:0], rc.dst[:rc.dstLen]...)
	c.dstBuf = append(c.dstBuf[:0], rc.src[:rc.srcLen]...)
	c.idBuf = append(a.rcptFmt.Append(c.idBuf[:0], n), 0)
	id := c.idBuf[:len(c.idBuf)-1]
	c.textBuf = c.appendReceiptText(c.textBuf[:0], id, rc, c.sim.unixNow())
	c.one[0] = uint8(rc.state)
	c.tlvBuf = smpp.AppendTLV(c.tlvBuf[:0], smpp.TagReceiptedMessageID, c.idBuf)
	c.tlvBuf = smpp.AppendTLV(c.tlvBuf, smpp.TagMessageState, c.one[:])
	if rc.state != smpp.StateDelivered && rc.err != 0 {
		// network_error_code: GSM (3) and the err code.
		c.tlvBuf = smpp.AppendTLV(c.tlvBuf, smpp.TagNetworkErrorCode, []byte{3, byte(rc.err >> 8), byte(rc.err)})
	}
	c.dlv = smpp.DeliverSM{
		Source:       smpp.Address{TON: rc.dstTON, NPI: rc.dstNPI, Addr: c.srcBuf},
		Dest:         smpp.Address{TON: rc.srcTON, NPI: rc.srcNPI, Addr: c.dstBuf},
		ESMClass:     smpp.ESMClassDeliveryReceipt,
		ShortMessage: c.textBuf,
		TLVs:         c.tlvBuf,
	}
	seq := c.nextSeq()
	out, err := smpp.AppendPDU(c.out, &c.dlv, smpp.StatusOK, seq)
	if err != nil {
		c.sim.logf("smscsim: conn %d: receipt for message %d: %v", c.id, n, err)
		return
	}
	c.out = out
	c.pend[seq] = pending{kind: pendReceipt, n: n, rc: *rc}
	a.st.receipts.Add(1)
}

// dateCache keeps the last receipt date written: YYMMDDhhmm changes once a
// minute, and formatting a time is dearer than the rest of a receipt.
type dateCache struct {
	minute int64 // Unix minutes of buf; 0: empty
	buf    [10]byte
}

func (d *dateCache) append(dst []byte, unixNano int64) []byte {
	m := unixNano / int64(time.Minute)
	if m != d.minute || d.minute == 0 {
		time.Unix(0, unixNano).UTC().AppendFormat(d.buf[:0], "0601021504")
		d.minute = m
	}
	return append(dst, d.buf[:]...)
}

// appendReceiptText appends the de-facto receipt text of SMPP 3.4
// Appendix B, with 10-digit dates (done: Unix nanoseconds).
func (c *conn) appendReceiptText(dst, id []byte, rc *receipt, done int64) []byte {
	dst = append(dst, "id:"...)
	dst = append(dst, id...)
	if rc.state == smpp.StateDelivered {
		dst = append(dst, " sub:001 dlvrd:001 submit date:"...)
	} else {
		dst = append(dst, " sub:001 dlvrd:000 submit date:"...)
	}
	dst = c.submitDate.append(dst, rc.submitted)
	dst = append(dst, " done date:"...)
	dst = c.doneDate.append(dst, done)
	dst = append(dst, " stat:"...)
	dst = append(dst, rc.state.Stat()...)
	e := rc.err
	dst = append(dst, " err:"...)
	dst = append(dst, byte('0'+e/100%10), byte('0'+e/10%10), byte('0'+e%10))
	dst = append(dst, " text:"...)
	return append(dst, rc.text[:rc.textLen]...)
}

// emitDeliver writes the parts of a mobile-originated message. Called with
// mu held.
func (c *conn) emitDeliver(it *item) {
	d := it.d
	if !c.receives() {
		c.divert = append(c.divert, *it)
		return
	}
	for i := range d.parts {
		seq := c.nextSeq()
		out, err := smpp.AppendPDU(c.out, &d.parts[i], smpp.StatusOK, seq)
		if err != nil {
			c.sim.logf("smscsim: conn %d: MO part %d: %v", c.id, i+1, err)
			d.finish(statusLost, 1)
			continue
		}
		c.out = out
		c.pend[seq] = pending{kind: pendMO, d: d, part: i}
	}
	c.acct.st.moMessages.Add(1)
	c.acct.st.moParts.Add(int64(len(d.parts)))
}

// onResponse matches a response from the ESME to what the simulator sent;
// true means the connection is to close (the unbind_resp to our unbind).
func (c *conn) onResponse(h smpp.Header) bool {
	c.mu.Lock()
	p, ok := c.pend[h.Sequence]
	if ok {
		delete(c.pend, h.Sequence)
	}
	c.mu.Unlock()
	a := c.acct
	if !ok || a == nil {
		c.sim.unknownResps.Add(1)
		return false
	}
	switch p.kind {
	case pendReceipt:
		a.countResp(a.receiptResps, h.Status, false)
		if h.Status.Temporary() {
			// The ESME asks for it later (ESME_RX_T_APPN, ...): send again.
			a.st.receiptRetries.Add(1)
			a.deliver(item{kind: kReceipt, n: p.n, rc: p.rc, due: c.sim.now() + int64(receiptRetry)})
		}
	case pendMO:
		a.countResp(a.moResps, h.Status, false)
		p.d.finish(h.Status, 1)
		if h.Status.Temporary() {
			c.retryMO(a, p)
		}
	case pendUnbind:
		return h.ID == smpp.UnbindRespID || h.ID == smpp.GenericNackID
	}
	return false
}

// sendUnbind sends unbind (a carrier-initiated unbind).
func (c *conn) sendUnbind() {
	if !c.bound() {
		return
	}
	c.state.Store(stateUnbinding)
	if a := c.acct; a != nil {
		a.unregister(c)
	}
	c.mu.Lock()
	seq := c.nextSeq()
	c.out = smpp.AppendHeaderOnly(c.out, smpp.UnbindID, smpp.StatusOK, seq)
	c.pend[seq] = pending{kind: pendUnbind}
	c.mu.Unlock()
	c.kick()
}

// writeLoop sends what was queued since its last write in one Write, and
// runs the items that fall due. It never writes with mu held.
func (c *conn) writeLoop() {
	defer c.sim.wg.Done()
	s := c.sim
	var spare []byte
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-c.wake:
		case <-t.C:
		case <-c.done:
			return
		}
		c.mu.Lock()
		next := int64(-1)
		if len(c.sched) > 0 {
			now := s.now()
			c.runDue(now)
			if len(c.sched) > 0 {
				next = c.sched[0].due - now
			}
		}
		buf := c.out
		c.out = spare[:0]
		nsub := c.outSubmits
		c.outSubmits = 0
		closeAfter, drop := c.closeAfterFlush, c.dropNow
		divert := c.divert
		c.divert = nil
		a := c.acct
		c.mu.Unlock()
		if drop {
			if a != nil {
				a.st.drops.Add(1)
			}
			s.logf("smscsim: conn %d: dropped (drop_every)", c.id)
			c.mu.Lock()
			c.divert = append(c.divert, divert...)
			c.mu.Unlock()
			c.close()
			return
		}
		if a != nil {
			for _, it := range divert {
				a.deliver(it)
			}
		}
		if next >= 0 {
			t.Reset(time.Duration(next))
		}
		// Count the responses as answered before writing them: once the
		// write starts, the ESME may read them and send more, and a window
		// it respects must never look exceeded here.
		if nsub > 0 {
			c.written.Add(nsub)
		}
		if len(buf) > 0 {
			if _, err := c.nc.Write(buf); err != nil {
				if !errors.Is(err, net.ErrClosed) {
					s.logf("smscsim: conn %d: write: %v", c.id, err)
				}
				c.close()
				return
			}
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not keep a buffer grown by a burst
		}
		spare = buf
		if closeAfter {
			if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			} else {
				c.close()
			}
			return
		}
	}
}

// runDue emits the items due by now. Called with mu held.
func (c *conn) runDue(now int64) {
	muted := c.muted(now)
	for len(c.sched) > 0 && c.sched[0].due <= now {
		it := c.sched.pop()
		if muted {
			switch it.kind {
			case kResp:
				c.written.Add(1) // dropped: no longer outstanding
				if a := c.acct; a != nil {
					a.st.mutedDrops.Add(1)
				}
				continue
			case kReceipt, kDeliver:
				// A hung SMSC sends nothing: these leave when it recovers.
				it.due = c.muteEnd(now)
				c.pushLocked(it)
				continue
			}
		}
		c.emit(&it)
		if c.dropNow {
			return
		}
	}
}

func maxInt64(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}
