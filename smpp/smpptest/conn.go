package smpptest

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

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

const (
	// maxQueued is how many octets may wait for a peer that does not read
	// its responses before the Conn drops it as a slow consumer.
	maxQueued = 64 << 20
	// drainTimeout bounds how long a connection that is closing after a
	// last answer (unbind_resp, generic_nack) waits for the peer to close
	// its side.
	drainTimeout = 2 * time.Second
)

// Conn is one ESME connection of a Core: a reader goroutine that parses
// each PDU and answers in place or hands it to the ConnHandler, and a
// writer goroutine that runs the timer heap and sends everything queued
// since its last write in one Write. No I/O happens under a lock.
//
// Lock order: a Conn's lock may be held when a handler takes its own locks
// (lock-held methods), never the other way round; never two Conns' locks
// at once.
type Conn struct {
	k    *Core
	h    ConnHandler
	id   int
	nc   net.Conn
	log  *zap.Logger
	wake chan struct{} // size 1: wakes the writer
	done chan struct{} // closed by Close

	other     OtherHandler    // h, when it answers the other requests
	obs       RequestObserver // h, when it observes requests
	closeOnce sync.Once
	state     atomic.Int32
	// Set under mu by the reader at bind, before state leaves stateOpen.
	systemID string
	bindType smpp.BindType

	// Reader goroutine only (set before it starts or by Bound).
	rd      *smpp.Reader
	dec     smpp.Decoder
	arrived int64 // submit_sm received
	maxOut  int64
	handled int
	pdus    int64
	window  int64
	peak    *atomic.Int64
	peakAll bool
	resp    Pending // the request a response answers, for Response

	// faults is set by SetFaultsLocked (mu held) at bind and only read
	// after: by the reader, and by the writer with mu held.
	faults Faults

	// What follows changes with every write: kept off the cache lines of
	// the fields above, which the reader reads for every PDU.
	_ [64]byte

	written atomic.Int64 // submit_sm_resp handed to the socket (or dropped)

	mu              sync.Mutex // guards what follows
	out             []byte     // queued for the writer
	outSubmits      int64      // submit_sm_resp in out
	sched           sched
	ord             uint64
	held            []Item
	pend            map[uint32]Pending
	seq             uint32 // last sequence number the Conn used
	closing         bool   // Close has run: nothing more is scheduled
	closeAfterFlush bool   // flush, then half-close
	dropNow         bool   // fault: close without writing
	divert          []Item // receipts and deliveries for Divert

	// Encoding scratch, used with mu held.
	submitResp smpp.SubmitSMResp
	dataResp   smpp.DataSMResp
	multiResp  smpp.SubmitMultiResp
	idBuf      []byte
	rw         receiptWriter
}

func newConn(k *Core, nc net.Conn, id int, log *zap.Logger) *Conn {
	c := &Conn{
		k:    k,
		id:   id,
		nc:   nc,
		log:  log.With(zap.Int("bind", id)),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		rd:   smpp.NewReader(nc, 0),
		pend: make(map[uint32]Pending),
	}
	c.rd.SetMaxLength(k.cfg.MaxPDULength)
	return c
}

// ID returns the connection's number, from 1 in accept order.
func (c *Conn) ID() int { return c.id }

// Logger returns the connection's logger (its number in field "bind").
func (c *Conn) Logger() *zap.Logger { return c.log }

// SystemID returns the system_id the connection bound as ("" before a bind).
// It is safe to read once IsBound or Receives has returned true.
func (c *Conn) SystemID() string { return c.systemID }

// BindType returns the type of the connection's bind (valid once bound).
func (c *Conn) BindType() smpp.BindType { return c.bindType }

// IsBound reports whether the connection is bound (any bind type) and not
// unbinding.
func (c *Conn) IsBound() bool {
	st := c.state.Load()
	return st == stateTX || st == stateRX || st == stateTRX
}

// Receives reports whether the connection is a bound receiver or
// transceiver.
func (c *Conn) Receives() bool {
	st := c.state.Load()
	return st == stateRX || st == stateTRX
}

// Transmits reports whether the connection is a bound transmitter or
// transceiver.
func (c *Conn) Transmits() bool {
	st := c.state.Load()
	return st == stateTX || st == stateTRX
}

// Done is closed when the connection closes.
func (c *Conn) Done() <-chan struct{} { return c.done }

// SetWindow makes a submit_sm that arrives while n submit_sm of this
// connection are unanswered (their responses not yet handed to the socket)
// get ESME_RMSGQFUL at once; n ≤ 0 means no window. Call it from the
// handler's constructor or from Bound.
func (c *Conn) SetWindow(n int64) { c.window = n }

// SetPeak makes the connection fold into p the most submit_sm it had
// unanswered at once, each arrival included. With all, every arrival
// counts (those refused at once too); otherwise only those within the
// window that decoded on a bind that may submit. Call it from the
// handler's constructor or from Bound.
func (c *Conn) SetPeak(p *atomic.Int64, all bool) { c.peak, c.peakAll = p, all }

// SetFaultsLocked sets the faults the connection injects (see Faults).
// Call it from Bound (lock held).
func (c *Conn) SetFaultsLocked(f Faults) {
	c.faults = f
	if f.DropEvery > 0 {
		c.PushLocked(Item{Kind: ItemDrop, Due: c.k.Now() + f.DropEvery})
	}
}

func (c *Conn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close closes the socket at once (the reader and writer then end),
// without unbind, and hands what the connection owed the ESME to the
// handler's Closed. It must not be called with any lock held.
func (c *Conn) Close() {
	c.closeOnce.Do(func() {
		c.state.Store(stateClosed)
		_ = c.nc.Close()
		close(c.done)
		c.mu.Lock()
		c.closing = true
		keep := append(owed(c.sched), c.divert...)
		c.sched, c.divert = nil, nil
		pend := make([]Pending, 0, len(c.pend))
		for _, p := range c.pend {
			pend = append(pend, p)
		}
		c.pend = map[uint32]Pending{}
		c.mu.Unlock()
		c.k.unregister(c)
		if c.h != nil {
			c.h.Closed(keep, pend)
		}
		c.log.Info("closed")
	})
}

// finish closes the connection gracefully after what is queued: the writer
// flushes and half-closes, the reader discards input until the peer closes
// (or drainTimeout), then the connection closes.
func (c *Conn) finish() {
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

func (c *Conn) nextSeq() uint32 {
	c.seq++
	if c.seq > smpp.MaxSequence {
		c.seq = 1
	}
	return c.seq
}

// muted reports whether the connection is hung at now: the Core's mute or,
// once bound, the periodic one of its faults.
func (c *Conn) muted(now int64) bool {
	return c.k.muted(now) || (c.faults.MuteEvery > 0 && c.IsBound() && c.faults.muted(now))
}

// muteEnd returns when the mute in force at now ends (at least 1 ms on).
func (c *Conn) muteEnd(now int64) int64 {
	end := now + int64(time.Millisecond)
	if u := c.k.muteUntil.Load(); u > end {
		end = u
	}
	if f := &c.faults; f.muted(now) {
		end = max(end, now-now%f.MuteEvery+f.MuteEvery)
	}
	return end
}

// dropFault reports whether this PDU, the connection's pdus-th, is the one
// a drop fault closes the connection on.
func (c *Conn) dropFault() bool {
	if k := c.k; k.dropAfter.Load() > 0 && k.dropAfter.Add(-1) == 0 {
		return true
	}
	return c.faults.DropAfterPDUs > 0 && c.pdus >= c.faults.DropAfterPDUs
}

func (c *Conn) readLoop() {
	defer c.k.wg.Done()
	defer c.Close()
	k := c.k
	for {
		h, body, err := c.rd.Next()
		if err != nil {
			var le *smpp.PDULengthError
			if errors.As(err, &le) {
				c.log.Warn("bad command_length: generic_nack and close", zap.Error(err))
				c.answer(smpp.GenericNackID, smpp.StatusINVCMDLEN, 0)
				c.finish()
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Warn("read", zap.Error(err))
			}
			return
		}
		c.pdus++
		if c.dropFault() {
			c.h.Fault(FaultDrop)
			c.log.Info("dropped on receiving a PDU (fault)", zap.Int64("pdu", c.pdus), zap.Stringer("command", h.ID))
			return
		}
		switch {
		case h.ID.IsResponse():
			if c.onResponse(h) {
				return // our unbind answered: nothing more to say, close now
			}
		case (k.muteUntil.Load() != 0 || c.faults.MuteEvery > 0) && c.muted(k.Now()):
			c.h.Fault(FaultMutedRequest)
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
		// after every PDU, responses included: a request may be the last
		// thing before responses in the same read, and its answer must not
		// wait for the next request.
		if c.handled > 0 && (c.rd.Buffered() == 0 || c.handled >= 256) {
			c.handled = 0
			c.mu.Lock()
			n := len(c.out)
			c.mu.Unlock()
			if n > maxQueued {
				c.log.Warn("closing a slow consumer", zap.Int("unread_octets", n))
				return
			}
			c.kick()
		}
	}
}

// onRequest answers a request; false means the connection is to close after
// the answer (unbind).
func (c *Conn) onRequest(h smpp.Header, body []byte) bool {
	switch h.ID {
	case smpp.SubmitSMID:
		c.onSubmit(h, body)
	case smpp.EnquireLinkID:
		c.observe(h, nil)
		c.answer(smpp.EnquireLinkRespID, smpp.StatusOK, h.Sequence)
	case smpp.BindTransmitterID, smpp.BindReceiverID, smpp.BindTransceiverID:
		c.onBind(h, body)
	case smpp.UnbindID:
		c.observe(h, nil)
		c.state.Store(stateUnbinding)
		c.h.Unbinding()
		c.answer(smpp.UnbindRespID, smpp.StatusOK, h.Sequence)
		c.log.Info("unbind from the ESME")
		return false
	case smpp.DataSMID, smpp.SubmitMultiID, smpp.QuerySMID, smpp.CancelSMID, smpp.ReplaceSMID:
		c.onOther(h, body)
	default:
		// Unknown commands, and requests an ESME may not send (deliver_sm,
		// outbind, alert_notification): generic_nack, keep the connection.
		c.observe(h, nil)
		c.answer(smpp.GenericNackID, smpp.StatusINVCMDID, h.Sequence)
	}
	return true
}

// answer queues a header-only PDU at once.
func (c *Conn) answer(id smpp.CommandID, st smpp.Status, seq uint32) {
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

// decode decodes a request's body and shows it to the handler's Request
// (nil when it did not decode), if it observes requests; on failure it
// returns the status to answer.
func (c *Conn) decode(h smpp.Header, body []byte) (smpp.PDU, smpp.Status) {
	p, err := c.dec.Decode(h, body)
	if err != nil {
		c.observe(h, nil)
		return nil, decodeStatus(err)
	}
	c.observe(h, p)
	return p, smpp.StatusOK
}

// observe shows a request to the handler when it is a RequestObserver.
func (c *Conn) observe(h smpp.Header, p smpp.PDU) {
	if c.obs != nil {
		c.obs.Request(h, p)
	}
}

func (c *Conn) onBind(h smpp.Header, body []byte) {
	respID := h.ID.Response()
	p, st := c.decode(h, body)
	if st != smpp.StatusOK {
		c.h.BindRefused(nil, st)
		c.answer(respID, st, h.Sequence)
		return
	}
	b := p.(*smpp.Bind)
	refuse := func(st smpp.Status) {
		c.h.BindRefused(b, st)
		c.log.Info("bind refused", zap.Stringer("command", h.ID), zap.ByteString("system_id", b.SystemID), zap.Stringer("status", st))
		c.answer(respID, st, h.Sequence)
	}
	if c.state.Load() != stateOpen {
		refuse(smpp.StatusALYBND)
		return
	}
	if st := c.h.Bind(b); st != smpp.StatusOK {
		refuse(st)
		return
	}
	state := stateTRX
	switch b.Type {
	case smpp.BindTransmitter:
		state = stateTX
	case smpp.BindReceiver:
		state = stateRX
	}
	// All under mu: what another goroutine schedules here as soon as the
	// handler registers the bind must leave after the bind response.
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.systemID, c.bindType = string(b.SystemID), b.Type
	c.state.Store(state)
	if !c.h.Bound(b) {
		c.state.Store(stateOpen)
		c.mu.Unlock()
		refuse(smpp.StatusALYBND)
		return
	}
	resp := smpp.BindResp{Type: b.Type, SystemID: c.k.sysID, TLVs: smpp.AppendTLV(nil, smpp.TagSCInterfaceVersion, []byte{smpp.InterfaceVersion34})}
	c.out, _ = smpp.AppendPDU(c.out, &resp, smpp.StatusOK, h.Sequence)
	if every := c.k.cfg.EnquireLinkEvery; every > 0 {
		c.PushLocked(Item{Kind: ItemEnquireLink, Due: c.k.Now() + int64(every)})
	}
	c.mu.Unlock()
	c.log.Info("bound", zap.Stringer("type", b.Type), zap.String("system_id", c.systemID))
}

// onSubmit enforces the bind state and the window, then hands a submit_sm
// to the handler.
func (c *Conn) onSubmit(h smpp.Header, body []byte) {
	outstanding := c.arrived - c.written.Load()
	c.arrived++
	if c.peakAll {
		c.notePeak(outstanding)
	}
	p, st := c.decode(h, body)
	switch {
	case st != smpp.StatusOK:
	case !c.Transmits():
		st = smpp.StatusINVBNDSTS
	case c.window > 0 && outstanding >= c.window:
		st = smpp.StatusMSGQFUL
	}
	if st != smpp.StatusOK {
		c.h.SubmitRefused(st)
		c.answer(smpp.SubmitSMRespID, st, h.Sequence)
		return
	}
	if !c.peakAll {
		c.notePeak(outstanding)
	}
	c.h.Submit(h, p.(*smpp.SubmitSM))
}

// notePeak counts a submit_sm that arrived with outstanding others
// unanswered.
func (c *Conn) notePeak(outstanding int64) {
	if outstanding >= c.maxOut && c.peak != nil {
		c.maxOut = outstanding + 1
		maxInt64(c.peak, c.maxOut)
	}
}

// onOther handles data_sm, submit_multi, query_sm, cancel_sm and
// replace_sm.
func (c *Conn) onOther(h smpp.Header, body []byte) {
	respID := h.ID.Response()
	if c.other == nil {
		c.observe(h, nil)
		st := smpp.StatusINVCMDID
		if !c.IsBound() {
			st = smpp.StatusINVBNDSTS
		}
		c.answer(respID, st, h.Sequence)
		return
	}
	p, st := c.decode(h, body)
	if st == smpp.StatusOK && !c.Transmits() {
		st = smpp.StatusINVBNDSTS
	}
	if st != smpp.StatusOK {
		c.answer(respID, st, h.Sequence)
		return
	}
	c.other.Other(h, p)
}

// onResponse matches a response from the ESME to what the Conn sent; true
// means the connection is to close.
func (c *Conn) onResponse(h smpp.Header) bool {
	c.mu.Lock()
	p, ok := c.pend[h.Sequence]
	if ok && (h.ID == smpp.GenericNackID || h.ID == p.Kind.respID()) {
		delete(c.pend, h.Sequence)
	} else {
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return c.h.Response(h, nil)
	}
	c.resp = p
	closeNow := c.h.Response(h, &c.resp)
	if p.Statuses != nil {
		p.Statuses <- h.Status
	}
	if closeNow {
		c.log.Info("unbind answered: closing")
	}
	return closeNow
}

// Unanswered counts a submit_sm the handler will never answer as no longer
// outstanding (reader goroutine).
func (c *Conn) Unanswered() { c.written.Add(1) }

// SendRequest queues a request the SMSC originates (p is encoded at once,
// so the caller may reuse it) and registers its sequence number, which it
// returns, so that the response reaches the handler's Response with pend
// (and pend.Statuses, when set, gets its status).
func (c *Conn) SendRequest(p smpp.PDU, pend Pending) (uint32, error) {
	c.mu.Lock()
	seq := c.nextSeq()
	out, err := smpp.AppendPDU(c.out, p, smpp.StatusOK, seq)
	if err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.out = out
	c.pend[seq] = pend
	c.mu.Unlock()
	c.kick()
	return seq, nil
}

// Forget stops waiting for the response to the request with sequence
// number seq (its response, if it comes, is then unknown).
func (c *Conn) Forget(seq uint32) {
	c.mu.Lock()
	delete(c.pend, seq)
	c.mu.Unlock()
}

// SendUnbind sends unbind when the connection is bound (an SMSC-initiated
// unbind), after calling the handler's Unbinding. The handler's Response
// decides whether the answer closes the connection.
func (c *Conn) SendUnbind() {
	if !c.IsBound() {
		return
	}
	c.state.Store(stateUnbinding)
	c.h.Unbinding()
	_, _ = c.SendRequest(&smpp.Unbind{}, Pending{Kind: PendUnbind})
}

// QueueRaw writes b as it is, with the next write.
func (c *Conn) QueueRaw(b []byte) {
	c.mu.Lock()
	c.out = append(c.out, b...)
	c.mu.Unlock()
	c.kick()
}
