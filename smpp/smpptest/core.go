package smpptest

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/smpp"
)

// CoreConfig configures a Core. The zero value is usable: system_id
// DefaultSystemID, smpp.DefaultMaxPDULength, no enquire_link of its own,
// receipts dropped while muted, silent.
type CoreConfig struct {
	// SystemID is the system_id in bind responses (at most 15 octets); ""
	// means DefaultSystemID.
	SystemID string
	// MaxPDULength is the largest command_length accepted; 0 means
	// smpp.DefaultMaxPDULength. A longer PDU gets generic_nack
	// ESME_RINVCMDLEN with sequence number 0 and the connection is closed.
	MaxPDULength uint32
	// EnquireLinkEvery, when > 0, makes each bound connection send
	// enquire_link at that interval.
	EnquireLinkEvery time.Duration
	// KeepWhileMuted makes receipts and deliveries that fall due while a
	// connection is muted wait until the mute ends; otherwise they are
	// dropped, like answers.
	KeepWhileMuted bool
	// Logger receives connection events (accept, bind, refusal, unbind,
	// fault, close, I/O errors), never one per message; nil is silent.
	Logger *zap.Logger
}

// Core serves fake-SMSC connections: it accepts them, runs each Conn's
// reader and writer, and holds what is common to all of them (the clock,
// mute, hold and the connection list). What a fake decides is a
// ConnHandler per connection. Create it with NewCore; all its methods are
// safe for concurrent use.
type Core struct {
	cfg       CoreConfig
	log       *zap.Logger
	sysID     []byte
	epoch     time.Time
	epochUnix int64

	mu        sync.Mutex
	listeners []net.Listener
	conns     []*Conn // open, in accept order
	rr        int
	closed    bool

	wg sync.WaitGroup // accept loops and each Conn's two goroutines

	nextID                  atomic.Int64
	connsOpen, maxConnsOpen atomic.Int64
	muteUntil               atomic.Int64 // Now value; 0: not muted
	holding                 atomic.Bool
	dropAfter               atomic.Int64
}

// NewCore returns a Core serving nothing yet (see Serve).
func NewCore(cfg CoreConfig) (*Core, error) {
	if cfg.SystemID == "" {
		cfg.SystemID = DefaultSystemID
	}
	if len(cfg.SystemID) > 15 {
		return nil, errors.New("smpptest: SystemID longer than 15 characters")
	}
	if cfg.MaxPDULength == 0 {
		cfg.MaxPDULength = smpp.DefaultMaxPDULength
	}
	k := &Core{cfg: cfg, log: cfg.Logger, sysID: []byte(cfg.SystemID), epoch: time.Now()}
	if k.log == nil {
		k.log = zap.NewNop()
	}
	k.epochUnix = k.epoch.UnixNano()
	return k, nil
}

// Serve accepts connections on ln until Close, each served by a Conn whose
// handler newHandler returns (called once per connection, before its
// goroutines start). fields are added to the log lines of its connections
// (e.g. the listener's name). Close closes ln.
func (k *Core) Serve(ln net.Listener, newHandler func(c *Conn) ConnHandler, fields ...zap.Field) {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		_ = ln.Close()
		return
	}
	k.listeners = append(k.listeners, ln)
	k.wg.Add(1)
	k.mu.Unlock()
	log := k.log.With(fields...)
	go k.acceptLoop(ln, newHandler, log)
}

func (k *Core) acceptLoop(ln net.Listener, newHandler func(c *Conn) ConnHandler, log *zap.Logger) {
	defer k.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // listener closed
		}
		c := newConn(k, nc, int(k.nextID.Add(1)), log)
		c.h = newHandler(c)
		c.other, _ = c.h.(OtherHandler)
		c.obs, _ = c.h.(RequestObserver)
		if !k.register(c) {
			_ = nc.Close()
			return // closed
		}
		c.log.Info("accepted", zap.Stringer("remote", nc.RemoteAddr()))
		go c.readLoop()
		go c.writeLoop()
	}
}

// register adds an accepted Conn to the list and counts its two
// goroutines; false means the Core is closed.
func (k *Core) register(c *Conn) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return false
	}
	k.conns = append(k.conns, c)
	maxInt64(&k.maxConnsOpen, k.connsOpen.Add(1))
	k.wg.Add(2)
	return true
}

// unregister forgets a closed Conn.
func (k *Core) unregister(c *Conn) {
	k.mu.Lock()
	for i, x := range k.conns {
		if x == c {
			k.conns = append(k.conns[:i], k.conns[i+1:]...)
			k.connsOpen.Add(-1)
			break
		}
	}
	k.mu.Unlock()
}

// Close stops listening, closes every connection without unbinding and
// waits until the Core's goroutines have ended. Calling it again does
// nothing.
func (k *Core) Close() {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return
	}
	k.closed = true
	lns := k.listeners
	conns := append([]*Conn(nil), k.conns...)
	k.mu.Unlock()
	for _, ln := range lns {
		_ = ln.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	k.wg.Wait()
}

// Conns returns the open connections in accept order.
func (k *Core) Conns() []*Conn {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]*Conn(nil), k.conns...)
}

// NextReceiver returns the next open connection, in round-robin order over
// all of them, that is a bound receiver or transceiver and for which match
// (when not nil) is true; nil when there is none. match runs with the
// Core's lock held.
func (k *Core) NextReceiver(match func(c *Conn) bool) *Conn {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := len(k.conns)
	for i := 0; i < n; i++ {
		c := k.conns[(k.rr+i)%n]
		if !c.Receives() || (match != nil && !match(c)) {
			continue
		}
		k.rr = (k.rr + i + 1) % n
		return c
	}
	return nil
}

// ConnsOpen returns how many connections are open now, and the most that
// were open at once.
func (k *Core) ConnsOpen() (now, most int64) { return k.connsOpen.Load(), k.maxConnsOpen.Load() }

// Now is the time since the Core started, in nanoseconds of the monotonic
// clock: the time base of Item.Due and Faults.
func (k *Core) Now() int64 { return int64(time.Since(k.epoch)) }

// UnixNow is the wall clock in Unix nanoseconds, from the monotonic clock
// (cheaper than time.Now, and steady if the wall clock is set).
func (k *Core) UnixNow() int64 { return k.epochUnix + k.Now() }

// Started returns when the Core started.
func (k *Core) Started() time.Time { return k.epoch }

// Logger returns the Core's logger (never nil).
func (k *Core) Logger() *zap.Logger { return k.log }

// Mute makes every connection a hung SMSC for d: requests that arrive are
// dropped unanswered (enquire_link and binds included), answers that fall
// due are dropped, receipts and deliveries too or, with
// CoreConfig.KeepWhileMuted, they wait until the mute ends, and no
// enquire_link is sent. Responses from the ESME are still processed, and
// SendRequest, QueueRaw and SendUnbind still send.
func (k *Core) Mute(d time.Duration) {
	u := k.Now() + int64(d)
	if u == 0 {
		u = 1
	}
	k.muteUntil.Store(u)
}

func (k *Core) muted(now int64) bool {
	u := k.muteUntil.Load()
	return u != 0 && now < u
}

// Hold stops answering what handlers Queue (answers to submit_sm, data_sm,
// submit_multi, query_sm, cancel_sm, replace_sm): they are kept, in arrival
// order. Binds, enquire_link, unbind and immediate refusals are still
// answered.
func (k *Core) Hold() { k.holding.Store(true) }

// Release answers everything held, in arrival order, then resumes normal
// answers. What is queued while Release runs is answered after the held
// items.
func (k *Core) Release() {
	k.holding.Store(false)
	for _, c := range k.Conns() {
		c.release()
	}
}

// DropAll closes every connection abruptly, without unbind.
func (k *Core) DropAll() {
	for _, c := range k.Conns() {
		c.log.Info("dropped (DropAll)")
		c.Close()
	}
}

// DropAfter closes a connection abruptly once the Core has received n more
// PDUs (on any connection): the connection that receives the n-th closes
// without answering it. n ≤ 0 cancels.
func (k *Core) DropAfter(n int) { k.dropAfter.Store(int64(n)) }

// UnbindAll sends unbind to every bound connection (an SMSC-initiated
// unbind).
func (k *Core) UnbindAll() {
	for _, c := range k.Conns() {
		c.SendUnbind()
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
