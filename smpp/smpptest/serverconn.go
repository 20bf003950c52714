package smpptest

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/switchboard-sms/switchboard/smpp"
)

// serverConn is the Server's ConnHandler: Config and the run-time controls
// applied to one connection.
type serverConn struct {
	*Conn
	s          *Server
	registered atomic.Bool // counted in Server.perAcct (under Server.mu)
	latency    int64       // reader only: the latency when the submit_sm in hand was counted
}

// The Server observes requests (Stats, Received) and answers the other
// requests.
var (
	_ RequestObserver = (*serverConn)(nil)
	_ OtherHandler    = (*serverConn)(nil)
)

func (s *Server) newConn(c *Conn) ConnHandler {
	c.SetWindow(int64(s.cfg.Window))
	c.SetPeak(&s.st.maxOutstanding, true)
	return &serverConn{Conn: c, s: s}
}

// Request counts and records the requests.
func (c *serverConn) Request(h smpp.Header, p smpp.PDU) {
	s := c.s
	switch h.ID {
	case smpp.EnquireLinkID:
		s.st.enquireLinks.Add(1)
		return
	case smpp.SubmitSMID:
		// The latency in force when the submit is counted applies to it, so
		// a test that waits for Stats().Submits and then calls SetLatency
		// knows which submits the change affects.
		c.latency = s.latency.Load()
		s.st.submits.Add(1)
	case smpp.UnbindID:
		s.st.unbinds.Add(1)
	}
	if s.rec.on {
		c.record(h, p)
	}
}

// record adds a request received on c; p nil records its header only.
func (c *serverConn) record(h smpp.Header, p smpp.PDU) {
	r, id, sid := &c.s.rec, c.ID(), c.SystemID()
	switch p := p.(type) {
	case *smpp.Bind:
		r.add(id, h, string(p.SystemID), nil, nil, 0, 0, 0, nil, nil)
	case *smpp.SubmitSM:
		r.add(id, h, sid, p.Source.Addr, p.Dest.Addr, p.DataCoding, p.ESMClass, p.RegisteredDelivery, p.ShortMessage, p.TLVs)
	case *smpp.DataSM:
		r.add(id, h, sid, p.Source.Addr, p.Dest.Addr, p.DataCoding, p.ESMClass, p.RegisteredDelivery, nil, p.TLVs)
	case *smpp.SubmitMulti:
		var dst []byte
		for _, d := range p.Dests {
			if d.Flag == smpp.DestFlagSME {
				dst = d.Addr.Addr
				break
			}
		}
		r.add(id, h, sid, p.Source.Addr, dst, p.DataCoding, p.ESMClass, p.RegisteredDelivery, p.ShortMessage, p.TLVs)
	case *smpp.QuerySM:
		r.add(id, h, sid, p.Source.Addr, nil, 0, 0, 0, nil, p.TLVs)
	case *smpp.CancelSM:
		r.add(id, h, sid, p.Source.Addr, p.Dest.Addr, 0, 0, 0, nil, p.TLVs)
	case *smpp.ReplaceSM:
		r.add(id, h, sid, p.Source.Addr, nil, 0, 0, p.RegisteredDelivery, p.ShortMessage, p.TLVs)
	default:
		r.add(id, h, sid, nil, nil, 0, 0, 0, nil, nil)
	}
}

// Bind checks Config.Accounts.
func (c *serverConn) Bind(b *smpp.Bind) smpp.Status {
	if accts := c.s.cfg.Accounts; len(accts) > 0 {
		pw, ok := accts[string(b.SystemID)]
		if !ok {
			return smpp.StatusINVSYSID
		}
		if pw != string(b.Password) {
			return smpp.StatusINVPASWD
		}
	}
	return smpp.StatusOK
}

// Bound applies Config.MaxBindsPerAccount.
func (c *serverConn) Bound(*smpp.Bind) bool {
	s := c.s
	sid := c.SystemID()
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.cfg.MaxBindsPerAccount; m > 0 && s.perAcct[sid] >= m {
		return false
	}
	s.perAcct[sid]++
	c.registered.Store(true)
	s.st.binds.Add(1)
	return true
}

func (c *serverConn) BindRefused(*smpp.Bind, smpp.Status) { c.s.st.bindsRefused.Add(1) }

func (c *serverConn) SubmitRefused(st smpp.Status) { c.s.countSubmit(st) }

// Submit decides a submit_sm: FailNext, then the responder; an accepted one
// gets a message number, Latency (and Jitter) and maybe a receipt.
func (c *serverConn) Submit(h smpp.Header, sm *smpp.SubmitSM) {
	s := c.s
	status := smpp.StatusOK
	if fs, ok := s.takeFail(); ok {
		status = fs
	} else if r := s.responder.Load(); r != nil {
		status = (*r)(sm)
	}
	s.countSubmit(status)
	it := Item{Kind: ItemResp, Seq: h.Sequence, Status: status}
	if status != smpp.StatusOK {
		c.Queue(&it, c.latency)
		return
	}
	delay := s.jitter(c.latency)
	it.N = s.msgN.Add(1)
	final := smpp.StateDelivered
	if f := s.cfg.ReceiptState; f != nil {
		final = f(sm)
	}
	want := s.cfg.Receipts && WantsReceipt(sm.RegisteredDelivery, final)
	var rx *Conn // a transmitter's receipts go to a receiver of its account
	if want && c.BindType() == smpp.BindTransmitter {
		if rx = s.pickReceiver(c.SystemID(), true); rx == nil {
			want = false
		}
	}
	s.accepted(it.N, final, want) // before the receipt can leave
	switch {
	case want && rx != nil:
		// Timed from now: the response and the receipt travel on different
		// connections anyway.
		r := Item{Kind: ItemReceipt, N: it.N, Due: s.core.Now() + delay + int64(s.cfg.ReceiptDelay)}
		s.fillReceipt(&r.Receipt, sm, final)
		rx.Schedule(r)
	case want:
		it.Flags |= FlagReceipt
		if s.cfg.ReceiptBeforeResp {
			it.Flags |= FlagReceiptFirst
		}
		s.fillReceipt(&it.Receipt, sm, final)
	}
	c.Queue(&it, delay)
}

// fillReceipt sets a receipt of the Server's: err 001 for a failed message,
// no network_error_code, ReceiptDelay between it and the response.
func (s *Server) fillReceipt(rc *Receipt, sm *smpp.SubmitSM, final smpp.MessageState) {
	var e uint16
	if final != smpp.StateDelivered {
		e = 1
	}
	rc.Fill(sm, s.core.UnixNow(), final, e, false)
	rc.Delay = int64(s.cfg.ReceiptDelay)
}

// Other answers data_sm, submit_multi (a message number each), query_sm
// (the message's state), cancel_sm and replace_sm (ESME_ROK).
func (c *serverConn) Other(h smpp.Header, p smpp.PDU) {
	s := c.s
	respID := h.ID.Response()
	it := Item{Seq: h.Sequence}
	var delay int64
	switch p := p.(type) {
	case *smpp.DataSM, *smpp.SubmitMulti:
		it.Kind = ItemDataResp
		if h.ID == smpp.SubmitMultiID {
			it.Kind = ItemMultiResp
		}
		it.N = s.msgN.Add(1)
		s.accepted(it.N, smpp.StateDelivered, false)
		delay = s.jitter(s.latency.Load())
	case *smpp.QuerySM:
		it.Kind = ItemRaw
		if st, ok := s.lookup(p.MessageID); ok {
			it.Raw, _ = smpp.AppendPDU(nil, &smpp.QuerySMResp{MessageID: p.MessageID, MessageState: st}, smpp.StatusOK, h.Sequence)
		} else {
			it.Raw = smpp.AppendHeaderOnly(nil, respID, smpp.StatusINVMSGID, h.Sequence)
		}
	default: // cancel_sm, replace_sm
		it.Kind = ItemRaw
		it.Raw = smpp.AppendHeaderOnly(nil, respID, smpp.StatusOK, h.Sequence)
	}
	c.Queue(&it, delay)
}

// Response counts the responses.
func (c *serverConn) Response(h smpp.Header, p *Pending) bool {
	s := c.s
	if h.ID == smpp.GenericNackID {
		s.st.genericNacks.Add(1)
	} else if p == nil {
		s.st.unknownResponses.Add(1)
	}
	if p == nil {
		return false
	}
	if (p.Kind == PendDeliver || p.Kind == PendReceipt) && h.ID == smpp.DeliverSMRespID {
		s.st.deliverResps.Add(1)
	}
	return p.Kind == PendUnbind && h.ID == smpp.UnbindRespID
}

func (c *serverConn) Unbinding() {}

func (c *serverConn) AppendMessageID(dst []byte, n uint64) []byte { return c.s.appendID(dst, n) }

func (c *serverConn) AppendReceiptID(dst []byte, n uint64) []byte { return c.s.appendID(dst, n) }

func (c *serverConn) ReceiptSent(n uint64, final smpp.MessageState) {
	c.s.st.delivers.Add(1)
	c.s.receiptSent(n, final)
}

func (c *serverConn) DeliverySent(*Delivery) {}

func (c *serverConn) Fault(Fault) {}

// Divert drops them: the Server does not send a receipt on another bind
// once it fell due.
func (c *serverConn) Divert([]Item) {}

// Closed frees the connection's place among its account's binds.
func (c *serverConn) Closed([]Item, []Pending) {
	s := c.s
	s.mu.Lock()
	if c.registered.Swap(false) {
		sid := c.SystemID()
		if s.perAcct[sid]--; s.perAcct[sid] <= 0 {
			delete(s.perAcct, sid)
		}
	}
	s.mu.Unlock()
}

// jitter adds Config.Jitter's random part to a latency.
func (s *Server) jitter(d int64) int64 {
	if j := int64(s.cfg.Jitter); j > 0 {
		d += rand.Int64N(j)
	}
	return d
}

// WantsReceipt reports whether registered_delivery rd asks for a receipt
// of a message whose final state is final (SMPP 3.4 §5.2.17): always for a
// final receipt, on failure only for a failure receipt.
func WantsReceipt(rd uint8, final smpp.MessageState) bool {
	switch rd & smpp.RegisteredDeliveryMask {
	case smpp.RegisteredDeliveryFinal, smpp.RegisteredDeliveryMask:
		return true
	case smpp.RegisteredDeliveryFailure:
		return final != smpp.StateDelivered
	}
	return false
}
