package smpp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Session is one logical bind to an SMSC, on the ESME side: it dials, binds,
// keeps the link alive, and reconnects with exponential backoff and jitter
// when the link is lost — never holding more than one socket at a time. It
// carries up to Window requests outstanding; Submit waits for a free slot and
// never drops a request.
//
// A Session is safe for concurrent use. Create it with NewSession; stop it
// with Close.
type Session struct {
	cfg SessionConfig
	log *zap.Logger // cfg.Logger with the field addr

	ctx    context.Context // cancelled when the session is over
	cancel context.CancelFunc
	win    *window // window slots: a send takes one, completion gives it back
	// timers are the tunable timers in force (Tune replaces them).
	timers atomic.Pointer[sessionTimers]

	seq atomic.Uint32

	mu      sync.Mutex
	state   SessionState
	lastErr error
	backoff time.Duration
	cur     *conn       // the bound connection, nil when none
	isBound atomic.Bool // cur != nil, readable without the lock
	closing bool
	bound   chan struct{} // closed while bound; replaced when the bind is lost

	closeReq chan struct{} // closed by Close: the run loop stops reconnecting
	done     chan struct{} // closed when the run loop has exited

	stats counters
}

// NewSession validates cfg, fills its defaults and starts connecting in the
// background. Watch State, OnStateChange or WaitBound for the bind.
func NewSession(cfg SessionConfig) (*Session, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Session{
		cfg:      cfg,
		log:      cfg.Logger.With(zap.String("addr", cfg.Addr)),
		win:      newWindow(cfg.Window),
		bound:    make(chan struct{}),
		closeReq: make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.timers.Store(&sessionTimers{responseTimeout: cfg.ResponseTimeout, enquireLinkInterval: cfg.EnquireLinkInterval,
		reconnectMin: cfg.ReconnectMin, reconnectMax: cfg.ReconnectMax})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// Config returns the session's configuration with its defaults filled in.
// The password is blanked; the fields Tune changes have their values in
// force.
func (s *Session) Config() SessionConfig {
	c := s.cfg
	c.Password = ""
	t := s.timers.Load()
	c.Window = s.win.Size()
	c.ResponseTimeout, c.EnquireLinkInterval = t.responseTimeout, t.enquireLinkInterval
	c.ReconnectMin, c.ReconnectMax = t.reconnectMin, t.reconnectMax
	return c
}

// State returns the session's current state.
func (s *Session) State() SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Err returns why the last connection or attempt failed, or nil.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// WaitBound waits until the session is bound, refused or closed, or ctx ends.
func (s *Session) WaitBound(ctx context.Context) error {
	for {
		s.mu.Lock()
		st, ch, err := s.state, s.bound, s.lastErr
		s.mu.Unlock()
		switch st {
		case SessionBound:
			return nil
		case SessionRefused:
			return err
		case SessionClosing, SessionClosed:
			return ErrClosed
		}
		select {
		case <-ch:
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// InFlight returns how many window slots are in use.
func (s *Session) InFlight() int { return s.win.inUse() }

// FreeWindow returns how many more requests could be sent now without
// waiting; 0 when not bound.
func (s *Session) FreeWindow() int {
	if !s.isBound.Load() {
		return 0
	}
	return s.win.free()
}

// Bound reports whether the session has a bound connection now.
func (s *Session) Bound() bool { return s.isBound.Load() }

// SubmitResult is the SMSC's answer to a submit_sm.
type SubmitResult struct {
	MessageID string        // the SMSC's id for the message, for matching receipts
	RTT       time.Duration // from writing the request to reading its response
}

// Submit sends a submit_sm and waits for its response. It waits for a free
// window slot first, honouring ctx.
//
// Errors: *StatusError when the SMSC answered with an error status (see
// Retryable); ErrNotBound when there was no bound connection and nothing was
// sent; *UnknownOutcomeError when the request was written but the link was
// lost, or no response came in time, or ctx ended before the response (the
// SMSC may have accepted it); ErrClosed after Close; ctx.Err() when ctx ended
// while waiting for a slot (nothing was sent). p is encoded before Submit
// returns from its first step, so the caller may reuse it once Submit returns.
func (s *Session) Submit(ctx context.Context, p *SubmitSM) (SubmitResult, error) {
	cl, err := s.do(ctx, p, true)
	if err != nil {
		return SubmitResult{}, err
	}
	r := SubmitResult{MessageID: cl.messageID, RTT: cl.rtt}
	err = cl.err
	putCall(cl)
	return r, err
}

// Request sends any request an ESME may send (query_sm, cancel_sm,
// replace_sm, submit_multi, data_sm, ...) within the window, waits for its
// response and decodes it into a new PDU. Errors are as for Submit.
func (s *Session) Request(ctx context.Context, p ESMEPDU) (PDU, error) {
	cl, err := s.do(ctx, p, true)
	if err != nil {
		return nil, err
	}
	defer putCall(cl)
	if cl.err != nil {
		return nil, cl.err
	}
	resp, ok := New(p.CommandID().Response())
	if !ok {
		return nil, fmt.Errorf("smpp: %v has no response", p.CommandID())
	}
	if cl.messageID != "" {
		switch r := resp.(type) {
		case *SubmitSMResp:
			r.MessageID = []byte(cl.messageID)
		case *DataSMResp:
			r.MessageID = []byte(cl.messageID)
		}
		return resp, nil
	}
	if err := resp.Decode(cl.body); err != nil {
		return nil, err
	}
	return resp, nil
}

// do sends p and waits for its completion. On success the returned call
// holds the result (cl.err may be a peer's status); the caller recycles it.
func (s *Session) do(ctx context.Context, p ESMEPDU, windowed bool) (*call, error) {
	if windowed {
		if err := s.acquire(ctx); err != nil {
			return nil, err
		}
	}
	c, err := s.current()
	if err != nil {
		if windowed {
			s.win.release()
		}
		return nil, err
	}
	cl := getCall()
	cl.windowed = windowed
	if err := c.send(cl, p); err != nil {
		if windowed {
			s.win.release()
		}
		putCall(cl)
		return nil, err
	}
	select {
	case <-cl.done:
		return cl, nil
	case <-ctx.Done():
	}
	// The caller gave up. If the call is still pending, leave it to whoever
	// completes it (it keeps its window slot until then: the SMSC still
	// counts it); otherwise its completion is on the way.
	c.mu.Lock()
	if c.pending[cl.seq] == cl {
		cl.abandoned = true
		c.mu.Unlock()
		return nil, &UnknownOutcomeError{Command: p.CommandID(), Err: ctx.Err()}
	}
	c.mu.Unlock()
	<-cl.done
	return cl, nil
}

// complete hands a finished call to its waiter, or recycles it when the
// waiter has left, and frees its window slot.
func (s *Session) complete(cl *call) {
	if cl.windowed {
		s.win.release()
	}
	// abandoned is only set while the call is in pending, under conn.mu, and
	// the call has been removed from pending (under the same lock) before
	// complete runs, so reading it here is ordered after any write.
	if cl.abandoned {
		putCall(cl)
		return
	}
	if cl.cb != nil {
		cb := cl.cb
		r, err := SubmitResult{MessageID: cl.messageID, RTT: cl.rtt}, cl.err
		putCall(cl)
		cb(r, err)
		return
	}
	cl.done <- struct{}{}
}

// SubmitAsync sends a submit_sm and returns once it is queued for writing,
// without waiting for the response: done is called with the result when the
// response arrives, the request times out or the link is lost. It waits for
// a window slot first, honouring ctx; if it returns an error, done is never
// called. done runs on the session's reader or timer goroutine: it must be
// quick and must not block (hand the result to a channel or queue).
// Errors are as for Submit.
func (s *Session) SubmitAsync(ctx context.Context, p *SubmitSM, done func(SubmitResult, error)) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	c, err := s.current()
	if err != nil {
		s.win.release()
		return err
	}
	cl := getCall()
	cl.windowed = true
	cl.cb = done
	if err := c.send(cl, p); err != nil {
		s.win.release()
		putCall(cl)
		return err
	}
	return nil
}

// acquire takes a window slot, waiting for one within ctx.
func (s *Session) acquire(ctx context.Context) error {
	return s.win.acquire(ctx, s.closeReq)
}

// current returns the bound connection, or why there is none.
func (s *Session) current() (*conn, error) {
	s.mu.Lock()
	c, closing := s.cur, s.closing
	s.mu.Unlock()
	if closing {
		return nil, ErrClosed
	}
	if c == nil {
		return nil, ErrNotBound
	}
	return c, nil
}

// enquire sends an enquire_link outside the window and waits for its answer.
func (s *Session) enquire(c *conn) {
	cl := getCall()
	if err := c.send(cl, &EnquireLink{}); err != nil {
		putCall(cl)
		return
	}
	<-cl.done
	putCall(cl)
}

// nextSeq returns the next sequence number, 1..MaxSequence, wrapping.
func (s *Session) nextSeq() uint32 {
	for {
		n := s.seq.Add(1)
		if n >= 1 && n <= MaxSequence {
			return n
		}
		// Wrapped past MaxSequence: restart at 1 (one goroutine wins the CAS).
		s.seq.CompareAndSwap(n, 0)
	}
}

// Stats returns a snapshot of the session's state and counters.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	st := SessionStats{State: s.state, Backoff: s.backoff}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	s.mu.Unlock()
	c := &s.stats
	st.Window = s.win.Size()
	st.InFlight = s.win.inUse()
	st.Submitted = c.submitted.Load()
	st.Responses = c.responses.Load()
	st.ByStatus = make(map[Status]int64)
	for i := range c.byStatusLow {
		if n := c.byStatusLow[i].Load(); n > 0 {
			st.ByStatus[Status(i)] = n
		}
	}
	c.byStatusHighMu.Lock()
	for k, v := range c.byStatusHigh {
		st.ByStatus[k] = v
	}
	c.byStatusHighMu.Unlock()
	st.Timeouts = c.timeouts.Load()
	st.UnknownOutcome = c.unknownOutcome.Load()
	st.UnknownResps = c.unknownResp.Load()
	st.Connects = c.connects.Load()
	st.Reconnects = c.reconnects.Load()
	st.Inbound = c.inbound.Load()
	st.InboundFailed = c.inboundRejected.Load()
	st.EnquireLinks = c.enquireSent.Load()
	st.NacksSent = c.nacksSent.Load()
	st.ResponseTime = c.rtt.snapshot()
	return st
}

// Close stops the session: new requests fail with ErrClosed, requests in
// flight get up to ctx to be answered, then the session unbinds (waiting for
// unbind_resp within ctx) and closes the connection. Requests still pending
// when ctx ends fail with an *UnknownOutcomeError. Close returns when every
// goroutine of the session has exited; it returns ctx.Err() if ctx ended
// first. Calling Close again returns ErrClosed.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		<-s.done
		return ErrClosed
	}
	s.closing = true
	c := s.cur
	s.mu.Unlock()
	s.setState(SessionClosing, nil, 0)
	close(s.closeReq)

	var err error
	if c != nil {
		err = c.waitIdle(ctx)
		cl := getCall()
		if c.send(cl, &Unbind{}) == nil {
			select {
			case <-cl.done:
				putCall(cl)
			case <-ctx.Done():
				err = ctx.Err()
			}
		} else {
			putCall(cl)
		}
		c.fail(ErrClosed)
	}
	<-s.done
	s.cancel()
	s.setState(SessionClosed, nil, 0)
	return err
}

// run is the session's life: connect, serve, back off, until Close or a
// refused bind.
func (s *Session) run() {
	defer close(s.done)
	backoff := s.timers.Load().reconnectMin
	for {
		s.setState(SessionConnecting, nil, 0)
		c, err := s.connect()
		if err != nil {
			if s.isClosing() {
				return
			}
			if refused(err) {
				s.log.Debug("smpp: bind refused; not retrying", zap.Error(err))
				s.setState(SessionRefused, err, 0)
				return
			}
			wait := jitter(backoff)
			s.log.Debug("smpp: connect failed; retrying", zap.Duration("retry_in", wait.Round(time.Millisecond)), zap.Error(err))
			s.setState(SessionBackoff, err, wait)
			if !s.sleep(wait) {
				return
			}
			backoff = min(2*backoff, s.timers.Load().reconnectMax)
			continue
		}
		if s.stats.connects.Add(1) > 1 {
			s.stats.reconnects.Add(1)
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.nc.Close()
			return
		}
		s.cur = c
		s.isBound.Store(true)
		s.mu.Unlock()
		s.setState(SessionBound, nil, 0)
		start := time.Now()
		err = c.serve()
		s.mu.Lock()
		s.cur = nil
		s.isBound.Store(false)
		closing := s.closing
		s.bound = make(chan struct{})
		s.mu.Unlock()
		if closing {
			return
		}
		if tm := s.timers.Load(); time.Since(start) > 2*tm.reconnectMax || c.unbindSeen {
			backoff = tm.reconnectMin // the link was healthy: start over
		}
		wait := jitter(backoff)
		s.log.Debug("smpp: connection lost; reconnecting", zap.Duration("retry_in", wait.Round(time.Millisecond)), zap.Error(err))
		s.setState(SessionBackoff, err, wait)
		if !s.sleep(wait) {
			return
		}
		backoff = min(2*backoff, s.timers.Load().reconnectMax)
	}
}

// jitter returns a duration uniformly in [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d; false when Close was called meanwhile.
func (s *Session) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closeReq:
		return false
	}
}

func (s *Session) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// refused reports a bind answer that retrying cannot fix.
func refused(err error) bool {
	st, ok := StatusOf(err)
	return ok && (st == StatusINVPASWD || st == StatusINVSYSID || st == StatusINVSYSTYP)
}

func (s *Session) setState(st SessionState, err error, backoff time.Duration) {
	s.mu.Lock()
	if s.state == SessionClosed || (s.state == SessionRefused && st != SessionClosing && st != SessionClosed) {
		s.mu.Unlock()
		return
	}
	if s.closing && st != SessionClosing && st != SessionClosed {
		s.mu.Unlock()
		return
	}
	s.state = st
	if err != nil {
		s.lastErr = err
	}
	s.backoff = backoff
	if st == SessionBound {
		close(s.bound)
	}
	s.mu.Unlock()
	if f := s.cfg.OnStateChange; f != nil {
		f(StateChange{Session: s, State: st, Err: err, Backoff: backoff, At: time.Now()})
	}
}

// connect dials and binds within BindTimeout, or until Close.
func (s *Session) connect() (*conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.BindTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.closeReq:
			cancel()
		case <-ctx.Done():
		}
	}()
	dial := s.cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return nil, err
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		tcp.SetNoDelay(true)
		tcp.SetKeepAlive(true)
	}
	if s.cfg.TLS != nil {
		tc := s.cfg.TLS.Clone()
		if tc.ServerName == "" {
			host, _, _ := net.SplitHostPort(s.cfg.Addr)
			tc.ServerName = host
		}
		tlsConn := tls.Client(nc, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("smpp: TLS handshake with %s: %w", s.cfg.Addr, err)
		}
		nc = tlsConn
	}
	// Turn the context into a deadline for the bind exchange.
	dl, _ := ctx.Deadline()
	nc.SetDeadline(dl)
	unwatch := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	rd := NewReader(nc, 0)
	rd.SetMaxLength(s.cfg.MaxPDULength)
	err = s.bind(nc, rd)
	unwatch()
	if err != nil {
		nc.Close()
		if ctx.Err() != nil && !isStatus(err) {
			return nil, fmt.Errorf("smpp: bind to %s: %w", s.cfg.Addr, ctx.Err())
		}
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return newConn(s, nc, rd), nil
}

func isStatus(err error) bool { _, ok := StatusOf(err); return ok }

// bind performs the bind exchange on a fresh connection.
func (s *Session) bind(nc net.Conn, rd *Reader) error {
	req := Bind{
		Type:             s.cfg.Type,
		SystemID:         []byte(s.cfg.SystemID),
		Password:         []byte(s.cfg.Password),
		SystemType:       []byte(s.cfg.SystemType),
		InterfaceVersion: InterfaceVersion34,
		AddrTON:          s.cfg.AddrTON,
		AddrNPI:          s.cfg.AddrNPI,
		AddressRange:     []byte(s.cfg.AddressRange),
	}
	const seq = 1
	s.seq.Store(seq)
	out, err := AppendPDU(nil, &req, StatusOK, seq)
	if err != nil {
		return err
	}
	if _, err := nc.Write(out); err != nil {
		return err
	}
	for {
		h, body, err := rd.Next()
		if err != nil {
			return err
		}
		switch {
		case h.ID == req.CommandID().Response() && h.Sequence == seq:
			if h.Status != StatusOK {
				return &StatusError{Command: req.CommandID(), Status: h.Status}
			}
			var resp BindResp
			if err := resp.Decode(body); err != nil {
				return err
			}
			return nil
		case h.ID == GenericNackID:
			st := h.Status
			if st == StatusOK {
				st = StatusBINDFAIL
			}
			return &StatusError{Command: req.CommandID(), Status: st}
		case h.ID == EnquireLinkID:
			if _, err := nc.Write(AppendHeaderOnly(nil, EnquireLinkRespID, StatusOK, h.Sequence)); err != nil {
				return err
			}
		case h.ID == UnbindID:
			nc.Write(AppendHeaderOnly(nil, UnbindRespID, StatusOK, h.Sequence))
			return errors.New("smpp: peer unbound during bind")
		case !h.ID.IsResponse():
			// Nothing else may come before the bind answer; refuse it.
			if _, err := nc.Write(AppendHeaderOnly(nil, h.ID.Response(), StatusINVBNDSTS, h.Sequence)); err != nil {
				return err
			}
		}
	}
}
