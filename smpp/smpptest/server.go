package smpptest

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/smpp"
)

// Defaults of Config's zero values.
const (
	// DefaultSystemID is the system_id the Server puts in its bind responses.
	DefaultSystemID = "smpptest"
	// DefaultRecordLimit is how many requests Received keeps by default.
	DefaultRecordLimit = 100_000
	// trackedStates caps the message states kept for query_sm beyond the
	// default (DELIVERED); older messages are then reported DELIVERED.
	trackedStates = 1 << 20
)

// Config configures a Server. The zero value is a working SMSC on
// 127.0.0.1:0 that accepts any credentials, answers every submit_sm at once
// with ESME_ROK and message_id "1", "2", …, sends no receipts and records the
// first DefaultRecordLimit requests.
//
// Func fields are called from connection goroutines, possibly concurrently.
type Config struct {
	// Addr is the address to listen on; "" means "127.0.0.1:0".
	Addr string
	// SystemID is the system_id in bind responses; "" means DefaultSystemID.
	SystemID string
	// Accounts maps system_id to password. Empty accepts any credentials. An
	// unknown system_id is refused with ESME_RINVSYSID, a wrong password with
	// ESME_RINVPASWD (bind responses without a body).
	Accounts map[string]string
	// MaxBindsPerAccount limits simultaneous binds per system_id; 0 means no
	// limit. A bind over the limit is refused with ESME_RALYBND.
	MaxBindsPerAccount int
	// TLS, when set, makes the Server accept TLS connections only.
	TLS *tls.Config
	// Window, when > 0, answers ESME_RMSGQFUL at once to a submit_sm that
	// arrives while Window submit_sm on its connection are unanswered (their
	// responses not yet written to the socket).
	Window int
	// Latency delays the answer to each submit_sm, data_sm and submit_multi
	// (SetLatency changes it at run time). Answers are due independently, so
	// they may leave out of order when the latency changes or with Jitter.
	Latency time.Duration
	// Jitter adds a uniformly random delay in [0, Jitter) to Latency.
	Jitter time.Duration
	// MessageID returns the message_id of the n-th accepted message (n from
	// 1); nil means decimal n. It is called each time the id is written
	// (response, receipt, query_sm_resp), so it must be a pure function of n,
	// and its result must be at most 64 octets.
	MessageID func(n uint64) string
	// Receipts makes the Server send a delivery receipt (deliver_sm with
	// esm_class 0x04, receipted_message_id and message_state TLVs and the
	// usual "id:… stat:DELIVRD …" text) for each accepted submit_sm that asks
	// for one: registered_delivery&3 is 1 or 3, or 2 (failure only) when
	// ReceiptState says the message failed. A transceiver gets the receipt
	// on its own connection; a transmitter's goes to a bound receiver or
	// transceiver with the same system_id (none: no receipt).
	Receipts bool
	// ReceiptDelay is the time between the submit_sm_resp and its receipt.
	ReceiptDelay time.Duration
	// ReceiptBeforeResp sends the receipt first and the submit_sm_resp
	// ReceiptDelay after it (at once when ReceiptDelay is 0): the race real
	// SMSCs produce.
	ReceiptBeforeResp bool
	// ReceiptState decides the final state a message's receipt (and query_sm)
	// reports; p is valid only during the call. nil means StateDelivered.
	ReceiptState func(p *smpp.SubmitSM) smpp.MessageState
	// EnquireLinkEvery, when > 0, makes the Server send enquire_link on each
	// bound connection at that interval.
	EnquireLinkEvery time.Duration
	// MaxPDULength is the largest command_length accepted; 0 means
	// smpp.DefaultMaxPDULength. A longer PDU gets generic_nack ESME_RINVCMDLEN
	// with sequence number 0 and the connection is closed.
	MaxPDULength uint32
	// RecordLimit is how many requests Received keeps (the first ones); 0
	// means DefaultRecordLimit.
	RecordLimit int
	// NoRecord turns recording off (benchmarks).
	NoRecord bool
	// Logger receives connection events (bind, close, protocol error),
	// never one per message; nil is silent.
	Logger *zap.Logger
}

// Stats are the Server's counters since it started.
type Stats struct {
	Binds, BindsRefused     int64 // bind requests accepted and refused
	ConnsOpen, MaxConnsOpen int64 // connections open now, and at most
	Submits                 int64 // submit_sm received (not counting those dropped by Mute)
	SubmitsOK               int64 // submit_sm answered ESME_ROK
	SubmitsFailed           int64 // submit_sm answered with an error status (the next two included)
	Throttled               int64 // submit_sm answered ESME_RTHROTTLED (0x58)
	QueueFull               int64 // submit_sm answered ESME_RMSGQFUL (0x14)
	MaxOutstanding          int64 // most submit_sm unanswered at once on one connection
	EnquireLinks            int64 // enquire_link received
	Unbinds                 int64 // unbind received
	GenericNacks            int64 // generic_nack received from the ESME
	Delivers                int64 // deliver_sm sent (receipts and Deliver)
	DeliverResps            int64 // deliver_sm_resp received for them
	UnknownResponses        int64 // responses matching no request the Server sent
}

type counters struct {
	binds, bindsRefused, submits, submitsOK, submitsFailed,
	throttled, queueFull, maxOutstanding, enquireLinks, unbinds, genericNacks,
	delivers, deliverResps, unknownResponses atomic.Int64
}

// Server is a fake SMSC listening on a TCP port: a Core whose connections
// answer as Config and the run-time controls say. Create it with NewServer
// or Start. All its methods are safe for concurrent use.
type Server struct {
	cfg  Config
	core *Core
	ln   net.Listener

	mu      sync.Mutex
	perAcct map[string]int

	latency   atomic.Int64 // time.Duration
	responder atomic.Pointer[func(*smpp.SubmitSM) smpp.Status]
	failN     atomic.Int64
	failSt    atomic.Uint32
	msgN      atomic.Uint64

	msgMu  sync.Mutex
	states map[uint64]smpp.MessageState // messages not (yet) DELIVERED
	ids    map[string]uint64            // message_id → n, when cfg.MessageID is set

	rec recorder
	st  counters
}

// NewServer starts a Server listening on cfg.Addr (default 127.0.0.1:0).
func NewServer(cfg Config) (*Server, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if cfg.RecordLimit <= 0 {
		cfg.RecordLimit = DefaultRecordLimit
	}
	core, err := NewCore(CoreConfig{SystemID: cfg.SystemID, MaxPDULength: cfg.MaxPDULength,
		EnquireLinkEvery: cfg.EnquireLinkEvery, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	s := &Server{
		cfg:     cfg,
		core:    core,
		ln:      ln,
		perAcct: make(map[string]int),
		states:  make(map[uint64]smpp.MessageState),
	}
	if cfg.MessageID != nil {
		s.ids = make(map[string]uint64)
	}
	s.rec.init(cfg.RecordLimit, !cfg.NoRecord)
	s.latency.Store(int64(cfg.Latency))
	core.Serve(ln, s.newConn)
	return s, nil
}

// Start starts a Server for a test and closes it when the test ends; it
// stops the test when the Server cannot listen.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("smpptest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Addr returns the address the Server listens on, as host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening, closes every connection without unbinding and waits
// until all the Server's goroutines have ended. Deliver calls in progress
// fail. Close returns nil; calling it again does nothing.
func (s *Server) Close() error {
	s.core.Close()
	return nil
}

// Runtime controls.

// SetLatency changes the delay before answering each submit_sm, data_sm and
// submit_multi that arrives from now on.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// SetResponder makes f decide each submit_sm's command_status (after the
// Window and FailNext checks); nil restores ESME_ROK. p is valid only during
// the call; f runs on the connection's reader goroutine, so it should be quick.
func (s *Server) SetResponder(f func(p *smpp.SubmitSM) smpp.Status) {
	if f == nil {
		s.responder.Store(nil)
		return
	}
	s.responder.Store(&f)
}

// FailNext answers the next n submit_sm (across connections) with status st,
// without a body; like any status it is decided on arrival and the answer
// then waits for Latency or Release. n ≤ 0 cancels a previous FailNext.
func (s *Server) FailNext(n int, st smpp.Status) {
	s.failSt.Store(uint32(st))
	s.failN.Store(int64(n))
}

// Hold stops answering requests that carry messages or ask about them
// (submit_sm, data_sm, submit_multi, query_sm, cancel_sm, replace_sm): they
// are kept, with their status decided on arrival. Binds, enquire_link and
// unbind are still answered (Mute silences everything).
func (s *Server) Hold() { s.core.Hold() }

// Release answers everything held, in arrival order, then resumes normal
// answers. Requests that arrive while Release runs are answered after the
// held ones.
func (s *Server) Release() { s.core.Release() }

// Mute makes the Server a hung SMSC for d: requests that arrive are dropped
// unanswered (enquire_link and binds included), answers and receipts that
// fall due are dropped, and the Server sends no enquire_link. Responses from
// the ESME are still processed, and Deliver, SendRaw and UnbindAll still
// send.
func (s *Server) Mute(d time.Duration) { s.core.Mute(d) }

// DropAll closes every connection abruptly, without unbind.
func (s *Server) DropAll() { s.core.DropAll() }

// DropAfter closes a connection abruptly once the Server has received n more
// PDUs (on any connection): the connection that receives the n-th closes
// without answering it. n ≤ 0 cancels.
func (s *Server) DropAfter(n int) { s.core.DropAfter(n) }

// UnbindAll sends unbind to every bound connection (a carrier-initiated
// unbind). A connection is closed when its unbind_resp arrives, or after
// answering an unbind the ESME sends.
func (s *Server) UnbindAll() { s.core.UnbindAll() }

// Deliver sends d to one bound receiver or transceiver (round robin), waits
// for its deliver_sm_resp (or a generic_nack) and returns that response's
// command_status. It fails when none is bound, when the connection closes
// first, or when ctx ends. d is encoded before Deliver waits, so the caller
// may reuse it as soon as Deliver returns.
func (s *Server) Deliver(ctx context.Context, d *smpp.DeliverSM) (smpp.Status, error) {
	return s.deliver(ctx, "", false, d)
}

// DeliverTo is Deliver restricted to the binds of one system_id.
func (s *Server) DeliverTo(ctx context.Context, systemID string, d *smpp.DeliverSM) (smpp.Status, error) {
	return s.deliver(ctx, systemID, true, d)
}

// ErrNoReceiver is returned by Deliver and DeliverTo when no receiver or
// transceiver is bound (for that system_id).
var ErrNoReceiver = errors.New("smpptest: no bound receiver or transceiver")

// ErrConnClosed is returned by Deliver when the connection closed before the
// deliver_sm_resp arrived.
var ErrConnClosed = errors.New("smpptest: connection closed before the response")

func (s *Server) deliver(ctx context.Context, systemID string, bySID bool, d *smpp.DeliverSM) (smpp.Status, error) {
	c := s.pickReceiver(systemID, bySID)
	if c == nil {
		return 0, ErrNoReceiver
	}
	ch := make(chan smpp.Status, 1)
	seq, err := c.SendRequest(d, Pending{Kind: PendDeliver, Statuses: ch})
	if err != nil {
		return 0, err
	}
	s.st.delivers.Add(1)
	select {
	case st := <-ch:
		return st, nil
	case <-ctx.Done():
		c.Forget(seq)
		return 0, ctx.Err()
	case <-c.Done():
		return 0, ErrConnClosed
	}
}

// pickReceiver returns the next registered receiver or transceiver in
// round-robin order, optionally only of one system_id.
func (s *Server) pickReceiver(systemID string, bySID bool) *Conn {
	return s.core.NextReceiver(func(c *Conn) bool {
		sc, ok := c.h.(*serverConn)
		return ok && sc.registered.Load() && (!bySID || c.SystemID() == systemID)
	})
}

// SendRaw writes b, as it is, to every bound connection (for example a PDU
// with an unknown command_id). It fails when none is bound.
func (s *Server) SendRaw(b []byte) error {
	sent := false
	for _, c := range s.core.Conns() {
		if c.IsBound() {
			c.QueueRaw(b)
			sent = true
		}
	}
	if !sent {
		return errors.New("smpptest: SendRaw: no bound connection")
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	c := &s.st
	open, most := s.core.ConnsOpen()
	return Stats{
		Binds: c.binds.Load(), BindsRefused: c.bindsRefused.Load(),
		ConnsOpen: open, MaxConnsOpen: most,
		Submits: c.submits.Load(), SubmitsOK: c.submitsOK.Load(), SubmitsFailed: c.submitsFailed.Load(),
		Throttled: c.throttled.Load(), QueueFull: c.queueFull.Load(), MaxOutstanding: c.maxOutstanding.Load(),
		EnquireLinks: c.enquireLinks.Load(), Unbinds: c.unbinds.Load(), GenericNacks: c.genericNacks.Load(),
		Delivers: c.delivers.Load(), DeliverResps: c.deliverResps.Load(), UnknownResponses: c.unknownResponses.Load(),
	}
}

// WaitFor polls Stats until cond returns true or ctx ends (then it returns
// ctx's error).
func (s *Server) WaitFor(ctx context.Context, cond func(Stats) bool) error {
	return Poll(ctx, func() bool { return cond(s.Stats()) })
}

// Poll calls cond every 2 ms until it returns true (then Poll returns nil)
// or ctx ends (then it returns ctx's error).
func Poll(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Server) countSubmit(st smpp.Status) {
	if st == smpp.StatusOK {
		s.st.submitsOK.Add(1)
		return
	}
	s.st.submitsFailed.Add(1)
	switch st {
	case smpp.StatusTHROTTLED:
		s.st.throttled.Add(1)
	case smpp.StatusMSGQFUL:
		s.st.queueFull.Add(1)
	}
}

// takeFail consumes one FailNext, reporting its status.
func (s *Server) takeFail() (smpp.Status, bool) {
	if s.failN.Load() <= 0 {
		return 0, false
	}
	if s.failN.Add(-1) < 0 {
		return 0, false
	}
	return smpp.Status(s.failSt.Load()), true
}

// appendID appends the message_id of the n-th message.
func (s *Server) appendID(dst []byte, n uint64) []byte {
	if s.cfg.MessageID != nil {
		return append(dst, s.cfg.MessageID(n)...)
	}
	return appendUint(dst, n)
}

func appendUint(dst []byte, n uint64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// accepted registers the n-th message for query_sm: ENROUTE while a receipt
// is due, then final.
func (s *Server) accepted(n uint64, final smpp.MessageState, receiptDue bool) {
	if s.ids == nil && !receiptDue && final == smpp.StateDelivered {
		return
	}
	s.msgMu.Lock()
	if s.ids != nil && len(s.ids) < trackedStates {
		s.ids[s.cfg.MessageID(n)] = n
	}
	st := final
	if receiptDue {
		st = smpp.StateEnroute
	}
	if st != smpp.StateDelivered && len(s.states) < trackedStates {
		s.states[n] = st
	}
	s.msgMu.Unlock()
}

// receiptSent records the final state once the receipt is out.
func (s *Server) receiptSent(n uint64, final smpp.MessageState) {
	s.msgMu.Lock()
	if final == smpp.StateDelivered {
		delete(s.states, n)
	} else if _, ok := s.states[n]; ok || len(s.states) < trackedStates {
		s.states[n] = final
	}
	s.msgMu.Unlock()
}

// lookup returns a known message's state.
func (s *Server) lookup(id []byte) (smpp.MessageState, bool) {
	var n uint64
	if s.ids != nil {
		s.msgMu.Lock()
		v, ok := s.ids[string(id)]
		s.msgMu.Unlock()
		if !ok {
			return 0, false
		}
		n = v
	} else {
		if len(id) == 0 || len(id) > 19 {
			return 0, false
		}
		for _, c := range id {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + uint64(c-'0')
		}
		if n == 0 || n > s.msgN.Load() {
			return 0, false
		}
	}
	s.msgMu.Lock()
	st, ok := s.states[n]
	s.msgMu.Unlock()
	if !ok {
		st = smpp.StateDelivered
	}
	return st, true
}
