package smpp

import (
	"context"
	"errors"
	"hash/maphash"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// call is one request awaiting its response. Calls are pooled: whoever
// removes a call from conn.pending (the reader on a response, the timer on a
// timeout, shutdown on a lost link) completes it exactly once, then either
// signals the waiter or, when the waiter gave up (abandoned), recycles it.
type call struct {
	seq      uint32
	cmd      CommandID
	windowed bool   // holds a window slot
	gen      uint64 // the write generation its octets were appended in
	sent     time.Time
	rtt      time.Duration // set when the response is read
	deadline int64         // unix nanoseconds

	// result
	status    Status
	messageID string // submit_sm_resp, data_sm_resp
	body      []byte // other responses: a copy of the body
	err       error

	abandoned bool                      // the waiter left; guarded by conn.mu
	done      chan struct{}             // capacity 1
	cb        func(SubmitResult, error) // SubmitAsync: called instead of signalling done
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func getCall() *call { return callPool.Get().(*call) }

func putCall(c *call) {
	c.messageID, c.body, c.err, c.abandoned, c.status, c.windowed, c.cb, c.rtt = "", nil, nil, false, 0, false, nil, 0
	callPool.Put(c)
}

// conn is one bound connection of a Session: a read loop that parses and
// completes pending requests, a write loop that drains the outgoing buffer
// (several PDUs per write), a timer loop for response timeouts and
// enquire_link, and inbound workers. It lives until the connection fails or
// is closed; the Session then makes a new one.
type conn struct {
	s  *Session
	nc net.Conn
	rd *Reader

	mu         sync.Mutex
	pending    map[uint32]*call
	wbuf       []byte // PDUs waiting for the writer
	spare      []byte
	gen        uint64 // generation of wbuf
	writtenGen uint64 // the last generation fully written
	dead       error  // why the connection ended; set once
	unbindSeen bool   // the peer sent unbind

	kick  chan struct{} // size 1: wakes the writer
	stop  chan struct{} // closed when the connection ends
	reads atomic.Int64  // PDUs received; the timer loop notes when it last moved
	links atomic.Int32  // enquire_links sent since the last PDU received

	workers []chan inboundJob
	wg      sync.WaitGroup
}

type inboundJob struct {
	h    Header
	body []byte
	buf  *[]byte // pooled backing array of body
}

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

var hashSeed = maphash.MakeSeed()

func newConn(s *Session, nc net.Conn, rd *Reader) *conn {
	c := &conn{
		s:       s,
		nc:      nc,
		rd:      rd,
		pending: make(map[uint32]*call, s.cfg.Window+4),
		wbuf:    make([]byte, 0, 4096),
		spare:   make([]byte, 0, 4096),
		gen:     1,
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	return c
}

// serve runs the connection until it fails or is closed and returns why.
// Every pending request has been failed and every goroutine has exited when
// it returns.
func (c *conn) serve() error {
	n := c.s.cfg.InboundWorkers
	c.workers = make([]chan inboundJob, n)
	for i := range c.workers {
		ch := make(chan inboundJob, 64)
		c.workers[i] = ch
		c.wg.Add(1)
		go c.inboundWorker(ch)
	}
	c.wg.Add(2)
	go c.writeLoop()
	go c.timerLoop()
	err := c.readLoop()
	c.fail(err)
	for _, ch := range c.workers {
		close(ch)
	}
	c.wg.Wait()
	c.mu.Lock()
	err = c.dead
	c.mu.Unlock()
	return err
}

// fail ends the connection (once): it closes the socket and fails every
// pending request — with an *UnknownOutcomeError when its octets may have
// reached the peer, with ErrNotBound when they never left our buffer.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		return
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = ErrUnbound
	}
	c.dead = err
	close(c.stop)
	c.nc.Close()
	unsent := c.gen // calls appended in this generation never reached the socket
	var done []*call
	for seq, cl := range c.pending {
		delete(c.pending, seq)
		if cl.gen == unsent {
			cl.err = ErrNotBound
		} else {
			cl.err = &UnknownOutcomeError{Command: cl.cmd, Err: err}
		}
		done = append(done, cl)
	}
	c.wbuf = c.wbuf[:0]
	c.mu.Unlock()
	for _, cl := range done {
		if _, unknown := cl.err.(*UnknownOutcomeError); unknown {
			c.s.stats.unknownOutcome.Add(1)
		}
		c.s.complete(cl)
	}
}

// send appends a request to the outgoing buffer and registers it as pending.
// The caller holds a window slot when cl.windowed.
func (c *conn) send(cl *call, p ESMEPDU) error {
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		return ErrNotBound
	}
	seq := c.s.nextSeq()
	for c.pending[seq] != nil { // only after 2^31 requests with one still pending
		seq = c.s.nextSeq()
	}
	var err error
	c.wbuf, err = AppendPDU(c.wbuf, p, StatusOK, seq)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	cl.seq = seq
	cl.cmd = p.CommandID()
	cl.gen = c.gen
	cl.sent = time.Now()
	cl.deadline = cl.sent.Add(c.s.timers.Load().responseTimeout).UnixNano()
	c.pending[seq] = cl
	c.mu.Unlock()
	c.s.stats.submitted.Add(1)
	c.wake()
	return nil
}

// reply appends a response (or any PDU that expects no answer) to the
// outgoing buffer. It is dropped when the connection is already gone: the
// peer will send its request again on the next connection.
func (c *conn) reply(id CommandID, st Status, seq uint32) {
	c.mu.Lock()
	if c.dead == nil {
		c.wbuf = AppendHeaderOnly(c.wbuf, id, st, seq)
	}
	c.mu.Unlock()
	c.wake()
}

// replyPDU appends a response with a body.
func (c *conn) replyPDU(p PDU, st Status, seq uint32) {
	c.mu.Lock()
	if c.dead == nil {
		if b, err := AppendPDU(c.wbuf, p, st, seq); err == nil {
			c.wbuf = b
		}
	}
	c.mu.Unlock()
	c.wake()
}

func (c *conn) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// writeLoop writes whatever has accumulated in wbuf, one write for all of it.
// It never holds the lock during I/O.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		// Let the goroutines that are ready to send append first, so one
		// write carries many PDUs instead of one system call each.
		runtime.Gosched()
		c.mu.Lock()
		if len(c.wbuf) == 0 || c.dead != nil {
			c.mu.Unlock()
			continue
		}
		buf := c.wbuf
		c.wbuf = c.spare[:0]
		flushing := c.gen
		c.gen++
		c.mu.Unlock()

		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
		_, err := c.nc.Write(buf)

		c.mu.Lock()
		if cap(buf) > 1<<20 {
			buf = make([]byte, 0, 4096) // do not keep a buffer grown by a burst
		}
		c.spare = buf[:0]
		if err == nil {
			c.writtenGen = flushing
		}
		c.mu.Unlock()
		if err != nil {
			c.fail(err)
			return
		}
	}
}

// readLoop reads and dispatches PDUs until the connection fails.
func (c *conn) readLoop() error {
	var dec Decoder
	var now time.Time // the time of the read that brought the PDU
	for {
		if c.rd.Buffered() == 0 {
			now = time.Time{} // the next PDU needs a read: take the time after it
		}
		h, body, err := c.rd.Next()
		if err != nil {
			var le *PDULengthError
			if errors.As(err, &le) {
				// The stream cannot be trusted any more (SMPP 3.4 §3.3).
				c.reply(GenericNackID, StatusINVCMDLEN, 0)
				c.flushAndWait()
			}
			return err
		}
		c.reads.Add(1)
		c.links.Store(0)
		if h.ID.IsResponse() {
			if now.IsZero() {
				now = time.Now()
			}
			c.response(&dec, h, body, now)
			continue
		}
		switch h.ID {
		case DeliverSMID, DataSMID, AlertNotificationID:
			c.s.stats.inbound.Add(1)
			c.dispatchInbound(h, body)
		case EnquireLinkID:
			c.reply(EnquireLinkRespID, StatusOK, h.Sequence)
		case UnbindID:
			c.mu.Lock()
			c.unbindSeen = true
			c.mu.Unlock()
			c.reply(UnbindRespID, StatusOK, h.Sequence)
			c.flushAndWait()
			return ErrUnbound
		case OutbindID:
			c.s.log.Debug("smpp: outbind on a bound connection ignored")
		default:
			if !h.ID.Known() {
				c.s.stats.nacksSent.Add(1)
				c.reply(GenericNackID, StatusINVCMDID, h.Sequence)
				continue
			}
			// A request the SMSC may not send to an ESME (submit_sm, bind, ...).
			c.reply(h.ID.Response(), StatusINVBNDSTS, h.Sequence)
		}
	}
}

// flushAndWait gives the writer a moment to send what is queued (a final
// generic_nack or unbind_resp) before the connection is closed.
func (c *conn) flushAndWait() {
	c.wake()
	deadline := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		empty := len(c.wbuf) == 0 && c.writtenGen+1 >= c.gen
		c.mu.Unlock()
		if empty {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// response completes the request a response answers.
func (c *conn) response(dec *Decoder, h Header, body []byte, now time.Time) {
	c.mu.Lock()
	cl := c.pending[h.Sequence]
	if cl != nil {
		if h.ID != GenericNackID && h.ID != cl.cmd.Response() {
			cl = nil // a response of the wrong type for this sequence number
		} else {
			delete(c.pending, h.Sequence)
		}
	}
	c.mu.Unlock()
	if cl == nil {
		c.s.stats.unknownResp.Add(1)
		c.s.log.Debug("smpp: response matches no request",
			zap.Stringer("command", h.ID), zap.Uint32("sequence", h.Sequence), zap.Stringer("status", h.Status))
		return
	}
	cl.rtt = now.Sub(cl.sent)
	c.s.stats.rtt.observe(cl.rtt)
	c.s.stats.response(h.Status)
	cl.status = h.Status
	switch {
	case h.ID == GenericNackID:
		st := h.Status
		if st == StatusOK {
			st = StatusUNKNOWNERR
		}
		cl.err = &StatusError{Command: cl.cmd, Status: st}
	case h.Status != StatusOK:
		cl.err = &StatusError{Command: cl.cmd, Status: h.Status}
	case h.ID == SubmitSMRespID || h.ID == DataSMRespID:
		p, err := dec.Decode(h, body)
		if err != nil {
			cl.err = &UnknownOutcomeError{Command: cl.cmd, Err: err}
			break
		}
		var id []byte
		if r, ok := p.(*SubmitSMResp); ok {
			id = r.MessageID
		} else {
			id = p.(*DataSMResp).MessageID
		}
		cl.messageID = string(id)
	default:
		if len(body) > 0 {
			cl.body = append([]byte(nil), body...)
		}
	}
	c.s.complete(cl)
}

// dispatchInbound copies an inbound PDU and queues it for the worker that
// handles its pair of addresses (pairOf). It blocks when that worker's
// queue is full, which stops reading and lets the SMSC's own window hold
// further messages back, but also holds back the responses to our
// submit_sm behind it: so the key is the pair, not the source alone. The
// receipts of a campaign come from the handsets it went to; keyed by the
// handset, many numbers texting the same handsets put their receipts on
// one worker, whose full queue stopped the reader and held every window
// slot of the bind (10,000 numbers sending at 40 % of the account's rate,
// `smppbench backlog`).
func (c *conn) dispatchInbound(h Header, body []byte) {
	bp := bodyPool.Get().(*[]byte)
	b := append((*bp)[:0], body...)
	*bp = b
	w := 0
	if len(c.workers) > 1 {
		w = int(maphash.Bytes(hashSeed, pairOf(h.ID, b)) % uint64(len(c.workers)))
	}
	select {
	case c.workers[w] <- inboundJob{h: h, body: b, buf: bp}:
	case <-c.stop:
		bodyPool.Put(bp)
	}
}

// pairOf returns the octets of a deliver_sm's, data_sm's or
// alert_notification's source_addr through its destination_addr (esme_addr
// for an alert_notification) without decoding the body, for spreading work:
// what one pair of addresses sends (a conversation's messages and parts, one
// message's receipts) goes to one worker, in order; other pairs run
// concurrently. A short body gives what it has (the worker's decode will
// report it).
func pairOf(id CommandID, b []byte) []byte {
	i := 0
	if id != AlertNotificationID {
		// skip service_type
		for i < len(b) && b[i] != 0 {
			i++
		}
		i++
	}
	i += 2 // source ton, npi
	if i >= len(b) {
		return nil
	}
	j := i
	for j < len(b) && b[j] != 0 {
		j++
	}
	j += 3 // the source's NUL, dest ton, npi
	for j < len(b) && b[j] != 0 {
		j++
	}
	return b[i:min(j, len(b))]
}

func (c *conn) inboundWorker(jobs <-chan inboundJob) {
	defer c.wg.Done()
	var deliver DeliverSM
	var data DataSM
	var alert AlertNotification
	for j := range jobs {
		var p SMSCPDU
		switch j.h.ID {
		case DeliverSMID:
			p = &deliver
		case DataSMID:
			p = &data
		default:
			p = &alert
		}
		st := StatusOK
		if err := p.Decode(j.body); err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				st = de.Status
			} else {
				st = StatusSYSERR
			}
			c.s.log.Debug("smpp: inbound PDU does not decode", zap.Stringer("command", j.h.ID), zap.Error(err))
		} else if c.s.cfg.Handler == nil {
			st = StatusX_T_APPN
		} else {
			st = c.s.cfg.Handler.HandleInbound(c.s.ctx, p)
		}
		bodyPool.Put(j.buf)
		if st != StatusOK {
			c.s.stats.inboundRejected.Add(1)
		}
		switch j.h.ID {
		case DeliverSMID:
			c.replyPDU(&DeliverSMResp{}, st, j.h.Sequence)
		case DataSMID:
			c.replyPDU(&DataSMResp{}, st, j.h.Sequence)
		}
	}
}

// timerLoop fails requests past their response timeout and keeps the link
// alive with enquire_link when nothing has been received for a while.
func (c *conn) timerLoop() {
	defer c.wg.Done()
	cfg := &c.s.cfg
	tm := c.s.timers.Load()
	tick := min(tm.responseTimeout, tm.enquireLinkInterval) / 10
	tick = max(tick, 5*time.Millisecond)
	tick = min(tick, time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	var expired []*call
	lastReads, lastRead := c.reads.Load(), time.Now()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			nowNs := now.UnixNano()
			expired = expired[:0]
			c.mu.Lock()
			for seq, cl := range c.pending {
				if cl.deadline <= nowNs {
					delete(c.pending, seq)
					expired = append(expired, cl)
				}
			}
			c.mu.Unlock()
			for _, cl := range expired {
				cl.err = &UnknownOutcomeError{Command: cl.cmd, Err: ErrResponseTimeout}
				c.s.stats.timeouts.Add(1)
				c.s.stats.unknownOutcome.Add(1)
				c.s.complete(cl)
			}
			if n := c.reads.Load(); n != lastReads {
				lastReads, lastRead = n, now
			}
			idle := now.Sub(lastRead)
			if idle >= c.s.timers.Load().enquireLinkInterval*time.Duration(c.links.Load()+1) {
				if int(c.links.Load()) >= cfg.MaxUnansweredLinks {
					c.s.log.Debug("smpp: enquire_link unanswered; the link is dead", zap.Int32("unanswered", c.links.Load()))
					c.fail(errLinkDead)
					return
				}
				c.links.Add(1)
				c.s.stats.enquireSent.Add(1)
				go c.s.enquire(c)
			}
		}
	}
}

var errLinkDead = errors.New("smpp: enquire_link unanswered: link dead")

// inFlight reports how many requests are pending on the connection.
func (c *conn) inFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// waitIdle waits until no windowed request is pending or ctx ends.
func (c *conn) waitIdle(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		c.mu.Lock()
		busy := false
		for _, cl := range c.pending {
			if cl.windowed {
				busy = true
				break
			}
		}
		dead := c.dead != nil
		c.mu.Unlock()
		if !busy || dead {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
