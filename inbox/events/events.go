// Package events tells the readers of the inbox change feed
// (inbox.Store.Changes) when to read, across every engine process sharing
// one PostgreSQL.
//
// The feed itself is the messages table; this package only carries
// wake-ups. Writers call Hub.Notify after they commit: it sends at most one
// `pg_notify('sb_changes', ”)` per NotifyInterval (20 ms) per process,
// from a goroutine of its own, so a writer never waits on it. Each process
// keeps one connection that LISTENs on the channel and wakes the local
// readers (Hub.Changed) on every notification, at most once per
// WakeInterval (50 ms). Readers are also woken every PollInterval (1 s)
// whatever happens, which covers a listener that is reconnecting, a writer
// that died between its commit and its Notify, and changes the feed holds
// back until an older transaction ends. So a change reaches a reader in
// about WakeInterval when notifications flow, and within PollInterval
// (plus the read) when they do not.
//
// A notification carries no payload and may be lost (the listener's
// connection drops, the server restarts): it is only a hint to read now.
// Readers keep their own cursor into the feed, so a lost, duplicated or
// spurious wake-up costs one read at most, never a change.
//
// The package sits under inbox, beside the feed it announces, but neither
// imports the other: a feed's readers take the hub's Changed as a function
// (inbox.Store.NewFeed), and the hub knows only a pgx pool.
package events

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultChannel        = "sb_changes"
	DefaultPollInterval   = time.Second
	DefaultNotifyInterval = 20 * time.Millisecond
	DefaultWakeInterval   = 50 * time.Millisecond
	DefaultReconnectMin   = 100 * time.Millisecond
	DefaultReconnectMax   = 5 * time.Second
	// DefaultIdleCheck is how long the listener waits without a
	// notification before it pings its connection, so a connection that died
	// silently (no RST) is replaced within about this plus the ping timeout.
	DefaultIdleCheck = 30 * time.Second
)

// Config configures a Hub. Zero durations take the defaults above.
type Config struct {
	// Pool sends the notifications; its connection config (a copy) opens
	// the listening connection, which is not taken from the pool.
	Pool           *pgxpool.Pool
	Channel        string
	PollInterval   time.Duration
	NotifyInterval time.Duration
	WakeInterval   time.Duration
	ReconnectMin   time.Duration
	ReconnectMax   time.Duration
	IdleCheck      time.Duration
	Logger         *zap.Logger // nil: no logging
}

// Stats are a Hub's counters.
type Stats struct {
	Listening     bool  // the listening connection is up
	Notifications int64 // notifications received
	Sent          int64 // notifications sent (after coalescing)
	SendErrors    int64
	Wakeups       int64 // times the readers were woken
	Reconnects    int64 // listening connections opened after the first
}

// Hub is one process's end of the wake-up channel. It is safe for
// concurrent use. The zero value is not usable: call New, and Close when
// done.
type Hub struct {
	cfg    Config
	log    *zap.Logger
	connCf *pgx.ConnConfig

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at each wake-up

	kickNotify chan struct{} // size 1: a Notify is pending
	kickWake   chan struct{} // size 1: a wake-up is pending

	listening                                            atomic.Bool
	notifications, sent, sendErrors, wakeups, reconnects atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New starts a Hub: its listener, its notifier and its poll timer.
func New(cfg Config) (*Hub, error) {
	if cfg.Pool == nil {
		return nil, errors.New("events: Config.Pool is nil")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.Channel == "" {
		cfg.Channel = DefaultChannel
	}
	def(&cfg.PollInterval, DefaultPollInterval)
	def(&cfg.NotifyInterval, DefaultNotifyInterval)
	def(&cfg.WakeInterval, DefaultWakeInterval)
	def(&cfg.ReconnectMin, DefaultReconnectMin)
	def(&cfg.ReconnectMax, DefaultReconnectMax)
	def(&cfg.IdleCheck, DefaultIdleCheck)
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	h := &Hub{
		cfg:        cfg,
		log:        cfg.Logger,
		connCf:     cfg.Pool.Config().ConnConfig.Copy(),
		changed:    make(chan struct{}),
		kickNotify: make(chan struct{}, 1),
		kickWake:   make(chan struct{}, 1),
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.wg.Add(4)
	go func() { defer h.wg.Done(); h.listen() }()
	go func() { defer h.wg.Done(); h.notifier() }()
	go func() { defer h.wg.Done(); h.waker() }()
	go func() { defer h.wg.Done(); h.poll() }()
	return h, nil
}

// Close stops the Hub and waits for its goroutines. Readers waiting on
// Changed are not woken any more; Notify does nothing.
func (h *Hub) Close() {
	h.cancel()
	h.wg.Wait()
}

// Notify tells every process's readers that something was committed. It
// never blocks: calls are coalesced into at most one notification per
// NotifyInterval, sent in the background. Call it after the commit.
func (h *Hub) Notify() {
	select {
	case h.kickNotify <- struct{}{}:
	default:
	}
}

// Changed returns a channel closed at the next wake-up. Take it before
// reading the feed, then wait on it: a change committed after the read
// began closes it (at the latest at the next poll).
func (h *Hub) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}

// Stats returns the Hub's counters.
func (h *Hub) Stats() Stats {
	return Stats{
		Listening: h.listening.Load(), Notifications: h.notifications.Load(), Sent: h.sent.Load(),
		SendErrors: h.sendErrors.Load(), Wakeups: h.wakeups.Load(), Reconnects: h.reconnects.Load(),
	}
}

// wake asks the waker for a wake-up.
func (h *Hub) wake() {
	select {
	case h.kickWake <- struct{}{}:
	default:
	}
}

// waker wakes the readers, at most once per WakeInterval.
func (h *Hub) waker() {
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.kickWake:
		}
		h.mu.Lock()
		close(h.changed)
		h.changed = make(chan struct{})
		h.mu.Unlock()
		h.wakeups.Add(1)
		if !sleep(h.ctx, h.cfg.WakeInterval) {
			return
		}
	}
}

// poll wakes the readers every PollInterval.
func (h *Hub) poll() {
	t := time.NewTicker(h.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			h.wake()
		}
	}
}

// notifier sends the coalesced notifications.
func (h *Hub) notifier() {
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.kickNotify:
		}
		ctx, cancel := context.WithTimeout(h.ctx, 2*time.Second)
		_, err := h.cfg.Pool.Exec(ctx, `SELECT pg_notify($1, '')`, h.cfg.Channel)
		cancel()
		if err != nil {
			// Readers still poll: a lost notification delays, never loses.
			if h.sendErrors.Add(1)%100 == 1 && h.ctx.Err() == nil {
				h.log.Warn("events: notify failed", zap.Error(err))
			}
		} else {
			h.sent.Add(1)
		}
		if !sleep(h.ctx, h.cfg.NotifyInterval) {
			return
		}
	}
}

// listen keeps a connection LISTENing, reconnecting with backoff.
func (h *Hub) listen() {
	backoff := h.cfg.ReconnectMin
	first := true
	for h.ctx.Err() == nil {
		start := time.Now()
		err := h.listenOnce(first)
		h.listening.Store(false)
		if h.ctx.Err() != nil {
			return
		}
		if !first || err != nil {
			h.log.Warn("events: listener lost; readers fall back to polling", zap.Error(err),
				zap.Duration("retry_in", backoff))
		}
		first = false
		if time.Since(start) > h.cfg.ReconnectMax {
			backoff = h.cfg.ReconnectMin // it had been up a while
		}
		// Full jitter around the backoff, so processes do not reconnect in step.
		d := backoff/2 + rand.N(backoff/2+1)
		if !sleep(h.ctx, d) {
			return
		}
		backoff = min(backoff*2, h.cfg.ReconnectMax)
	}
}

// listenOnce opens one listening connection and serves it until it fails.
func (h *Hub) listenOnce(first bool) error {
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(ctx, h.connCf)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(ctx)
		cancel()
	}()
	if _, err := conn.Exec(h.ctx, "LISTEN "+pgx.Identifier{h.cfg.Channel}.Sanitize()); err != nil {
		return err
	}
	h.listening.Store(true)
	if !first {
		h.reconnects.Add(1)
		h.log.Info("events: listener reconnected")
	}
	// Notifications sent while no one listened are gone: read now.
	h.wake()
	for {
		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.IdleCheck)
		_, err := conn.WaitForNotification(ctx)
		cancel()
		switch {
		case err == nil:
			h.notifications.Add(1)
			h.wake()
		case h.ctx.Err() != nil:
			return nil
		case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
			// Quiet for a while: make sure the connection is alive.
			ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
			err := conn.Ping(ctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
