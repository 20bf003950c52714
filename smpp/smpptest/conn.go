package smpptest

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
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

// pendKind is the kind of a request the Server sent and awaits an answer to.
type pendKind uint8

const (
	pendDeliver pendKind = iota + 1
	pendEnquire
	pendUnbind
)

func (k pendKind) respID() smpp.CommandID {
	switch k {
	case pendDeliver:
		return smpp.DeliverSMRespID
	case pendEnquire:
		return smpp.EnquireLinkRespID
	}
	return smpp.UnbindRespID
}

type pending struct {
	kind pendKind
	ch   chan smpp.Status // Deliver's waiter; nil for receipts and enquire_link
}

// drainTimeout bounds how long a connection that is closing after a last
// answer (unbind_resp, generic_nack) waits for the peer to close its side.
const drainTimeout = 2 * time.Second

// conn is one ESME connection: a reader goroutine that parses and answers
// in place, and a writer goroutine that sends what was queued, in one Write
// per wake-up, and runs the timer heap.
//
// Lock order: Server.mu and Server.msgMu may be taken with conn.mu held, and
// never the other way round; no I/O happens with any lock held.
type conn struct {
	s    *Server
	id   int
	nc   net.Conn
	wake chan struct{} // size 1: wakes the writer
	done chan struct{} // closed by close

	closeOnce   sync.Once
	state       atomic.Int32
	systemID    string // written by the reader before the state leaves stateOpen
	acctCounted bool   // guarded by Server.mu

	// Reader goroutine only.
	rd      *smpp.Reader
	dec     smpp.Decoder
	arrived int64 // submit_sm received
	maxOut  int64
	handled int

	written atomic.Int64 // submit_sm_resp handed to the socket (or dropped while muted)

	mu              sync.Mutex // guards what follows
	out             []byte     // queued for the writer
	outSubmits      int64      // submit_sm_resp in out
	sched           sched
	ord             uint64
	held            []item
	pend            map[uint32]pending
	seq             uint32 // last sequence number the Server used
	closeAfterFlush bool

	// Encoding scratch, used with mu held.
	submitResp smpp.SubmitSMResp
	dataResp   smpp.DataSMResp
	multiResp  smpp.SubmitMultiResp
	rcpt       smpp.DeliverSM
	idBuf      []byte
	textBuf    []byte
	tlvBuf     []byte
	srcBuf     []byte
	dstBuf     []byte
	one        [1]byte
}

func newConn(s *Server, nc net.Conn, id int) *conn {
	c := &conn{
		s:    s,
		id:   id,
		nc:   nc,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		rd:   smpp.NewReader(nc, 0),
		pend: make(map[uint32]pending),
	}
	c.rd.SetMaxLength(s.cfg.MaxPDULength)
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

// close closes the socket at once (the reader and writer then end) and
// forgets the connection. It must not be called with Server.mu held.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.state.Store(stateClosed)
		_ = c.nc.Close()
		close(c.done)
		c.s.unregister(c)
		c.s.logf("smpptest: conn %d: closed", c.id)
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

func (c *conn) readLoop() {
	defer c.s.wg.Done()
	defer c.close()
	s := c.s
	for {
		h, body, err := c.rd.Next()
		if err != nil {
			var le *smpp.PDULengthError
			if errors.As(err, &le) {
				s.logf("smpptest: conn %d: %v: generic_nack and close", c.id, err)
				c.answer(smpp.GenericNackID, smpp.StatusINVCMDLEN, 0)
				c.finish()
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.logf("smpptest: conn %d: read: %v", c.id, err)
			}
			return
		}
		if s.dropAfter.Load() > 0 && s.dropAfter.Add(-1) == 0 {
			s.logf("smpptest: conn %d: dropped on receiving %v (DropAfter)", c.id, h.ID)
			return
		}
		switch {
		case h.ID.IsResponse():
			if c.onResponse(h) {
				return // our unbind answered: nothing more to say, close now
			}
		case s.muteUntil.Load() != 0 && s.muted(s.now()):
		default:
			if !c.onRequest(h, body) {
				c.kick()
				c.finish()
				return
			}
			c.handled++
		}
		// Checked after every PDU, responses included: a request may be
		// the last thing before responses in the same read, and its answer
		// must not wait for the next request.
		if c.handled > 0 && (c.rd.Buffered() == 0 || c.handled >= 256) {
			c.handled = 0
			c.mu.Lock()
			n := len(c.out)
			c.mu.Unlock()
			if n > maxQueued {
				s.logf("smpptest: conn %d: %d octets unread by the peer: closing (slow consumer)", c.id, n)
				return
			}
			c.kick()
		}
	}
}

// onRequest answers a request; false means the connection is to close after
// the answer (unbind).
func (c *conn) onRequest(h smpp.Header, body []byte) bool {
	s := c.s
	switch h.ID {
	case smpp.SubmitSMID:
		c.onSubmit(h, body)
	case smpp.EnquireLinkID:
		s.st.enquireLinks.Add(1)
		c.answer(smpp.EnquireLinkRespID, smpp.StatusOK, h.Sequence)
	case smpp.BindTransmitterID, smpp.BindReceiverID, smpp.BindTransceiverID:
		c.onBind(h, body)
	case smpp.UnbindID:
		s.st.unbinds.Add(1)
		if s.rec.on {
			c.record(h, nil, nil, 0, 0, 0, nil, nil)
		}
		c.state.Store(stateUnbinding)
		c.answer(smpp.UnbindRespID, smpp.StatusOK, h.Sequence)
		s.logf("smpptest: conn %d: unbind from the ESME", c.id)
		return false
	case smpp.DataSMID, smpp.SubmitMultiID, smpp.QuerySMID, smpp.CancelSMID, smpp.ReplaceSMID:
		c.onOther(h, body)
	default:
		// Unknown commands, and requests an ESME may not send (deliver_sm,
		// outbind, alert_notification): generic_nack, keep the connection.
		if s.rec.on {
			c.record(h, nil, nil, 0, 0, 0, nil, nil)
		}
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
	if de, ok := err.(*smpp.DecodeError); ok {
		return de.Status
	}
	var de *smpp.DecodeError
	if errors.As(err, &de) {
		return de.Status
	}
	return smpp.StatusSYSERR
}

func (c *conn) onBind(h smpp.Header, body []byte) {
	s := c.s
	respID := h.ID.Response()
	p, err := c.dec.Decode(h, body)
	if err != nil {
		s.st.bindsRefused.Add(1)
		if s.rec.on {
			c.record(h, nil, nil, 0, 0, 0, nil, nil)
		}
		c.answer(respID, decodeStatus(err), h.Sequence)
		return
	}
	b := p.(*smpp.Bind)
	sid := string(b.SystemID)
	if s.rec.on {
		s.rec.add(c.id, h, sid, nil, nil, 0, 0, 0, nil, nil)
	}
	refuse := func(st smpp.Status) {
		s.st.bindsRefused.Add(1)
		s.logf("smpptest: conn %d: %v as %q refused: %v", c.id, h.ID, sid, st)
		c.answer(respID, st, h.Sequence)
	}
	if c.state.Load() != stateOpen {
		refuse(smpp.StatusALYBND)
		return
	}
	if len(s.cfg.Accounts) > 0 {
		pw, ok := s.cfg.Accounts[sid]
		if !ok {
			refuse(smpp.StatusINVSYSID)
			return
		}
		if pw != string(b.Password) {
			refuse(smpp.StatusINVPASWD)
			return
		}
	}
	s.mu.Lock()
	if m := s.cfg.MaxBindsPerAccount; m > 0 && s.perAcct[sid] >= m {
		s.mu.Unlock()
		refuse(smpp.StatusALYBND)
		return
	}
	s.perAcct[sid]++
	c.acctCounted = true
	c.systemID = sid
	s.mu.Unlock()
	st := stateTRX
	switch b.Type {
	case smpp.BindTransmitter:
		st = stateTX
	case smpp.BindReceiver:
		st = stateRX
	}
	resp := smpp.BindResp{Type: b.Type, SystemID: s.sysID, TLVs: smpp.AppendTLV(nil, smpp.TagSCInterfaceVersion, []byte{smpp.InterfaceVersion34})}
	c.mu.Lock()
	c.out, _ = smpp.AppendPDU(c.out, &resp, smpp.StatusOK, h.Sequence)
	if every := s.cfg.EnquireLinkEvery; every > 0 {
		c.pushLocked(item{kind: kEnquireLink, due: s.now() + int64(every)})
	}
	c.mu.Unlock()
	c.state.Store(st)
	s.st.binds.Add(1)
	s.logf("smpptest: conn %d: bound as %v %q", c.id, b.Type, sid)
}

// jitter adds Config.Jitter's random part to a latency.
func (s *Server) jitter(d int64) int64 {
	if j := int64(s.cfg.Jitter); j > 0 {
		d += rand.Int64N(j)
	}
	return d
}

func wantsReceipt(rd uint8, final smpp.MessageState) bool {
	switch rd & smpp.RegisteredDeliveryMask {
	case smpp.RegisteredDeliveryFinal, smpp.RegisteredDeliveryMask:
		return true
	case smpp.RegisteredDeliveryFailure:
		return final != smpp.StateDelivered
	}
	return false
}

func (c *conn) onSubmit(h smpp.Header, body []byte) {
	s := c.s
	// The latency in force when the submit is counted applies to it, so a
	// test that waits for Stats().Submits and then calls SetLatency knows
	// which submits the change affects.
	latency := s.latency.Load()
	s.st.submits.Add(1)
	outstanding := c.arrived - c.written.Load()
	c.arrived++
	if outstanding >= c.maxOut {
		c.maxOut = outstanding + 1
		maxInt64(&s.st.maxOutstanding, c.maxOut)
	}
	p, err := c.dec.Decode(h, body)
	if err != nil {
		if s.rec.on {
			c.record(h, nil, nil, 0, 0, 0, nil, nil)
		}
		st := decodeStatus(err)
		s.countSubmit(st)
		c.answer(smpp.SubmitSMRespID, st, h.Sequence)
		return
	}
	sm := p.(*smpp.SubmitSM)
	if s.rec.on {
		c.record(h, sm.Source.Addr, sm.Dest.Addr, sm.DataCoding, sm.ESMClass, sm.RegisteredDelivery, sm.ShortMessage, sm.TLVs)
	}
	bst := c.state.Load()
	if bst != stateTX && bst != stateTRX {
		s.countSubmit(smpp.StatusINVBNDSTS)
		c.answer(smpp.SubmitSMRespID, smpp.StatusINVBNDSTS, h.Sequence)
		return
	}
	if w := s.cfg.Window; w > 0 && outstanding >= int64(w) {
		s.countSubmit(smpp.StatusMSGQFUL)
		c.answer(smpp.SubmitSMRespID, smpp.StatusMSGQFUL, h.Sequence)
		return
	}
	status := smpp.StatusOK
	if fs, ok := s.takeFail(); ok {
		status = fs
	} else if r := s.responder.Load(); r != nil {
		status = (*r)(sm)
	}
	s.countSubmit(status)
	it := item{kind: kSubmitResp, seq: h.Sequence, status: status}
	var delay int64
	if status == smpp.StatusOK {
		delay = s.jitter(latency)
		it.n = s.msgN.Add(1)
		final := smpp.StateDelivered
		if f := s.cfg.ReceiptState; f != nil {
			final = f(sm)
		}
		want := s.cfg.Receipts && wantsReceipt(sm.RegisteredDelivery, final)
		var rx *conn // a transmitter's receipts go to a receiver of its account
		if want && bst == stateTX {
			if rx = s.pickReceiver(c.systemID, true, nil); rx == nil {
				want = false
			}
		}
		s.accepted(it.n, final, want) // before the receipt can leave
		switch {
		case want && rx != nil:
			// Timed from now: the response and the receipt travel on
			// different connections anyway.
			r := item{kind: kReceipt, n: it.n, due: s.now() + delay + int64(s.cfg.ReceiptDelay)}
			r.rc.fill(sm, time.Now().UnixNano(), final)
			rx.schedule(r)
		case want:
			it.flags |= fReceipt
			it.rc.fill(sm, time.Now().UnixNano(), final)
		}
	} else {
		delay = latency
	}
	c.queue(&it, delay)
}

// onOther handles data_sm, submit_multi, query_sm, cancel_sm and replace_sm.
func (c *conn) onOther(h smpp.Header, body []byte) {
	s := c.s
	respID := h.ID.Response()
	p, err := c.dec.Decode(h, body)
	if err != nil {
		if s.rec.on {
			c.record(h, nil, nil, 0, 0, 0, nil, nil)
		}
		c.answer(respID, decodeStatus(err), h.Sequence)
		return
	}
	if s.rec.on {
		switch p := p.(type) {
		case *smpp.DataSM:
			c.record(h, p.Source.Addr, p.Dest.Addr, p.DataCoding, p.ESMClass, p.RegisteredDelivery, nil, p.TLVs)
		case *smpp.SubmitMulti:
			var dst []byte
			for _, d := range p.Dests {
				if d.Flag == smpp.DestFlagSME {
					dst = d.Addr.Addr
					break
				}
			}
			c.record(h, p.Source.Addr, dst, p.DataCoding, p.ESMClass, p.RegisteredDelivery, p.ShortMessage, p.TLVs)
		case *smpp.QuerySM:
			c.record(h, p.Source.Addr, nil, 0, 0, 0, nil, p.TLVs)
		case *smpp.CancelSM:
			c.record(h, p.Source.Addr, p.Dest.Addr, 0, 0, 0, nil, p.TLVs)
		case *smpp.ReplaceSM:
			c.record(h, p.Source.Addr, nil, 0, 0, p.RegisteredDelivery, p.ShortMessage, p.TLVs)
		}
	}
	if bst := c.state.Load(); bst != stateTX && bst != stateTRX {
		c.answer(respID, smpp.StatusINVBNDSTS, h.Sequence)
		return
	}
	it := item{seq: h.Sequence}
	var delay int64
	switch p := p.(type) {
	case *smpp.DataSM, *smpp.SubmitMulti:
		it.kind = kDataResp
		if h.ID == smpp.SubmitMultiID {
			it.kind = kMultiResp
		}
		it.n = s.msgN.Add(1)
		s.accepted(it.n, smpp.StateDelivered, false)
		delay = s.jitter(s.latency.Load())
	case *smpp.QuerySM:
		it.kind = kRaw
		if st, ok := s.lookup(p.MessageID); ok {
			it.raw, _ = smpp.AppendPDU(nil, &smpp.QuerySMResp{MessageID: p.MessageID, MessageState: st}, smpp.StatusOK, h.Sequence)
		} else {
			it.raw = smpp.AppendHeaderOnly(nil, respID, smpp.StatusINVMSGID, h.Sequence)
		}
	default: // cancel_sm, replace_sm
		it.kind = kRaw
		it.raw = smpp.AppendHeaderOnly(nil, respID, smpp.StatusOK, h.Sequence)
	}
	c.queue(&it, delay)
}

// queue answers it now, after delay, or on Release while the Server holds.
func (c *conn) queue(it *item, delay int64) {
	s := c.s
	c.mu.Lock()
	switch {
	case s.holding.Load() || len(c.held) > 0:
		c.held = append(c.held, *it)
	case delay <= 0:
		c.emit(it)
	default:
		it.due = s.now() + delay
		c.pushLocked(*it)
	}
	c.mu.Unlock()
}

// schedule adds an item to this connection's heap (from another goroutine).
func (c *conn) schedule(it item) {
	c.mu.Lock()
	top := c.pushLocked(it)
	c.mu.Unlock()
	if top {
		c.kick()
	}
}

func (c *conn) pushLocked(it item) bool {
	c.ord++
	it.ord = c.ord
	return c.sched.push(it)
}

// release answers the held items. The holding flag is already off.
func (c *conn) release() {
	c.mu.Lock()
	held := c.held
	c.held = nil
	for i := range held {
		c.emit(&held[i])
	}
	c.mu.Unlock()
	c.kick()
}

// emit writes an item into out. Called with mu held.
func (c *conn) emit(it *item) {
	s := c.s
	switch it.kind {
	case kSubmitResp:
		rcpt := it.flags&fReceipt != 0
		if rcpt && s.cfg.ReceiptBeforeResp && it.flags&fReceiptSent == 0 {
			c.emitReceipt(&it.rc, it.n)
			it.flags |= fReceiptSent
			if d := s.cfg.ReceiptDelay; d > 0 {
				it.due = s.now() + int64(d)
				c.pushLocked(*it)
				return
			}
		}
		if it.status != smpp.StatusOK {
			c.out = smpp.AppendHeaderOnly(c.out, smpp.SubmitSMRespID, it.status, it.seq)
		} else {
			c.idBuf = s.appendID(c.idBuf[:0], it.n)
			c.submitResp.MessageID = c.idBuf
			c.out, _ = smpp.AppendPDU(c.out, &c.submitResp, smpp.StatusOK, it.seq)
		}
		c.outSubmits++
		if rcpt && !s.cfg.ReceiptBeforeResp {
			if d := s.cfg.ReceiptDelay; d > 0 {
				r := *it
				r.kind = kReceipt
				r.due = s.now() + int64(d)
				c.pushLocked(r)
			} else {
				c.emitReceipt(&it.rc, it.n)
			}
		}
	case kDataResp:
		c.idBuf = s.appendID(c.idBuf[:0], it.n)
		c.dataResp.MessageID = c.idBuf
		c.out, _ = smpp.AppendPDU(c.out, &c.dataResp, smpp.StatusOK, it.seq)
	case kMultiResp:
		c.idBuf = s.appendID(c.idBuf[:0], it.n)
		c.multiResp.MessageID = c.idBuf
		c.out, _ = smpp.AppendPDU(c.out, &c.multiResp, smpp.StatusOK, it.seq)
	case kReceipt:
		c.emitReceipt(&it.rc, it.n)
	case kRaw:
		c.out = append(c.out, it.raw...)
	case kEnquireLink:
		if !c.bound() {
			return // unbinding or closed: stop
		}
		seq := c.nextSeq()
		c.pend[seq] = pending{kind: pendEnquire}
		c.out = smpp.AppendHeaderOnly(c.out, smpp.EnquireLinkID, smpp.StatusOK, seq)
		it.due = s.now() + int64(s.cfg.EnquireLinkEvery)
		c.pushLocked(*it)
	}
}

// emitReceipt writes a delivery receipt for message n. Called with mu held.
func (c *conn) emitReceipt(rc *receipt, n uint64) {
	s := c.s
	st := c.state.Load()
	if st != stateRX && st != stateTRX {
		return
	}
	// The receipt goes from the handset (the message's destination) to the
	// ESME (its source).
	c.srcBuf = append(c.srcBuf[:0], rc.dst[:rc.dstLen]...)
	c.dstBuf = append(c.dstBuf[:0], rc.src[:rc.srcLen]...)
	c.idBuf = append(s.appendID(c.idBuf[:0], n), 0)
	id := c.idBuf[:len(c.idBuf)-1]
	c.textBuf = appendReceiptText(c.textBuf[:0], id, rc, time.Now())
	c.one[0] = uint8(rc.final)
	c.tlvBuf = smpp.AppendTLV(c.tlvBuf[:0], smpp.TagReceiptedMessageID, c.idBuf)
	c.tlvBuf = smpp.AppendTLV(c.tlvBuf, smpp.TagMessageState, c.one[:])
	c.rcpt = smpp.DeliverSM{
		Source:       smpp.Address{TON: rc.dstTON, NPI: rc.dstNPI, Addr: c.srcBuf},
		Dest:         smpp.Address{TON: rc.srcTON, NPI: rc.srcNPI, Addr: c.dstBuf},
		ESMClass:     smpp.ESMClassDeliveryReceipt,
		ShortMessage: c.textBuf,
		TLVs:         c.tlvBuf,
	}
	seq := c.nextSeq()
	out, err := smpp.AppendPDU(c.out, &c.rcpt, smpp.StatusOK, seq)
	if err != nil {
		s.logf("smpptest: conn %d: receipt for message %d: %v", c.id, n, err)
		return
	}
	c.out = out
	c.pend[seq] = pending{kind: pendDeliver}
	s.st.delivers.Add(1)
	s.receiptSent(n, rc.final)
}

// appendReceiptText appends the de-facto receipt text of SMPP 3.4 Appendix B.
func appendReceiptText(dst, id []byte, rc *receipt, done time.Time) []byte {
	dst = append(dst, "id:"...)
	dst = append(dst, id...)
	if rc.final == smpp.StateDelivered {
		dst = append(dst, " sub:001 dlvrd:001 submit date:"...)
	} else {
		dst = append(dst, " sub:001 dlvrd:000 submit date:"...)
	}
	dst = time.Unix(0, rc.submitted).UTC().AppendFormat(dst, "0601021504")
	dst = append(dst, " done date:"...)
	dst = done.UTC().AppendFormat(dst, "0601021504")
	dst = append(dst, " stat:"...)
	dst = append(dst, rc.final.Stat()...)
	if rc.final == smpp.StateDelivered {
		dst = append(dst, " err:000 text:"...)
	} else {
		dst = append(dst, " err:001 text:"...)
	}
	return append(dst, rc.text[:rc.textLen]...)
}

// onResponse matches a response from the ESME to what the Server sent; true
// means the connection is to close (the unbind_resp to our unbind).
func (c *conn) onResponse(h smpp.Header) bool {
	s := c.s
	c.mu.Lock()
	p, ok := c.pend[h.Sequence]
	if ok && (h.ID == smpp.GenericNackID || h.ID == p.kind.respID()) {
		delete(c.pend, h.Sequence)
	} else {
		ok = false
	}
	c.mu.Unlock()
	if h.ID == smpp.GenericNackID {
		s.st.genericNacks.Add(1)
	} else if !ok {
		s.st.unknownResponses.Add(1)
	}
	if !ok {
		return false
	}
	if p.kind == pendDeliver && h.ID == smpp.DeliverSMRespID {
		s.st.deliverResps.Add(1)
	}
	if p.ch != nil {
		p.ch <- h.Status
	}
	if p.kind == pendUnbind && h.ID == smpp.UnbindRespID {
		s.logf("smpptest: conn %d: unbind_resp received", c.id)
		return true
	}
	return false
}

// sendRequest queues a request the Server originates and registers its
// sequence number for the response.
func (c *conn) sendRequest(p smpp.PDU, kind pendKind, ch chan smpp.Status) (uint32, error) {
	c.mu.Lock()
	seq := c.nextSeq()
	out, err := smpp.AppendPDU(c.out, p, smpp.StatusOK, seq)
	if err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.out = out
	c.pend[seq] = pending{kind: kind, ch: ch}
	c.mu.Unlock()
	c.kick()
	return seq, nil
}

func (c *conn) forget(seq uint32) {
	c.mu.Lock()
	delete(c.pend, seq)
	c.mu.Unlock()
}

func (c *conn) sendUnbind() {
	if !c.bound() {
		return
	}
	c.state.Store(stateUnbinding)
	_, _ = c.sendRequest(&smpp.Unbind{}, pendUnbind, nil)
}

func (c *conn) queueRaw(b []byte) {
	c.mu.Lock()
	c.out = append(c.out, b...)
	c.mu.Unlock()
	c.kick()
}

// writeLoop sends what was queued since its last write in one Write, and
// runs the items that fall due. It never writes with mu held.
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	s := c.s
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
		closeAfter := c.closeAfterFlush
		c.mu.Unlock()
		if next >= 0 {
			t.Reset(time.Duration(next))
		}
		// Count the responses answered before writing them: once the write
		// starts, the ESME may read them and send more, and a window it
		// respects must never look exceeded here.
		if nsub > 0 {
			c.written.Add(nsub)
		}
		if len(buf) > 0 {
			if _, err := c.nc.Write(buf); err != nil {
				if !errors.Is(err, net.ErrClosed) {
					s.logf("smpptest: conn %d: write: %v", c.id, err)
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
			// Half-close so the peer reads everything, then EOF; the reader
			// closes the connection when the peer has closed its side.
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
	s := c.s
	muted := s.muted(now)
	for len(c.sched) > 0 && c.sched[0].due <= now {
		it := c.sched.pop()
		if muted {
			switch it.kind {
			case kSubmitResp:
				c.written.Add(1) // dropped: no longer outstanding
			case kEnquireLink:
				it.due = now + int64(s.cfg.EnquireLinkEvery)
				c.pushLocked(it)
			}
			continue
		}
		c.emit(&it)
	}
}
