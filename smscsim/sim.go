package smscsim

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// Sim is a running carrier simulator: a smpptest.Core whose connections
// answer as their accounts say (conn.go, submit.go). Start one with Start;
// all its methods are safe for concurrent use.
type Sim struct {
	cfg       Config
	core      *smpptest.Core
	logger    *zap.Logger
	byID      map[string]*account
	accounts  []*account // in configuration order
	epochUnix int64
	seed      uint64
	refs      coding.RefSource

	listeners []*listener
	httpSrv   *http.Server
	httpLn    net.Listener
	log       *msgLog

	wg   sync.WaitGroup // the HTTP endpoint and the MO generators
	stop chan struct{}

	bindsRefused atomic.Int64 // refused before an account was known
	unknownResps atomic.Int64

	closeOnce sync.Once
	closeErr  error
	endReport atomic.Pointer[Report]
}

// Start checks cfg, listens on its addresses and starts serving. It fails
// when the configuration is wrong (every problem is named) or an address
// cannot be listened on.
func Start(cfg Config) (*Sim, error) {
	comp, err := compile(&cfg)
	if err != nil {
		return nil, err
	}
	sysID := cfg.SystemID
	if sysID == "" {
		sysID = DefaultSystemID
	}
	core, err := smpptest.NewCore(smpptest.CoreConfig{SystemID: sysID, KeepWhileMuted: true, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("smscsim: %w", err)
	}
	s := &Sim{
		cfg:      cfg,
		core:     core,
		logger:   core.Logger(),
		byID:     comp.byID,
		accounts: comp.accounts,
		seed:     cfg.Seed,
		stop:     make(chan struct{}),
	}
	s.epochUnix = core.Started().UnixNano()
	if s.seed == 0 {
		s.seed = mrand.Uint64()
	}
	for _, a := range s.accounts {
		a.sim = s
	}
	fail := func(err error) (*Sim, error) {
		for _, l := range s.listeners {
			_ = l.ln.Close()
		}
		if s.httpLn != nil {
			_ = s.httpLn.Close()
		}
		if s.log != nil {
			_ = s.log.close()
		}
		return nil, err
	}
	for _, spec := range comp.listeners {
		l, err := listen(spec)
		if err != nil {
			return fail(err)
		}
		s.listeners = append(s.listeners, l)
	}
	if cfg.Log != "" {
		if s.log, err = openLog(cfg.Log); err != nil {
			return fail(fmt.Errorf("smscsim: log: %w", err))
		}
	}
	if cfg.Stats != "" {
		if s.httpLn, err = net.Listen("tcp", cfg.Stats); err != nil {
			return fail(fmt.Errorf("smscsim: stats: %w", err))
		}
		s.httpSrv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = s.httpSrv.Serve(s.httpLn)
		}()
	}
	for _, l := range s.listeners {
		core.Serve(l.ln, func(c *smpptest.Conn) smpptest.ConnHandler { return s.newConn(l, c) }, zap.String("listener", l.name))
	}
	for _, a := range s.accounts {
		if a.mo.rate > 0 {
			g := &moGen{a: a, rng: mrand.New(mrand.NewPCG(s.seed, seedFor(s.seed, "mo:"+a.id)))}
			s.wg.Add(1)
			go g.run(s.stop)
		}
	}
	return s, nil
}

// Addr returns the address (host:port) of the listener with this name, or
// of the first listener when name is ""; "" when there is none.
func (s *Sim) Addr(name string) string {
	for _, l := range s.listeners {
		if name == "" || l.name == name {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// StatsAddr returns the HTTP endpoint's address, or "" when it has none.
func (s *Sim) StatsAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// now is the time since the simulator started, on the monotonic clock.
func (s *Sim) now() int64 { return s.core.Now() }

// unixNow is the wall clock in Unix nanoseconds, from the monotonic clock
// (cheaper than time.Now, and steady if the wall clock is set).
func (s *Sim) unixNow() int64 { return s.core.UnixNow() }

// Mute makes the whole simulator a hung SMSC for d: requests that arrive
// are dropped unanswered (enquire_link and binds included), answers that
// fall due are dropped, and receipts and MO messages wait until it ends.
func (s *Sim) Mute(d time.Duration) { s.core.Mute(d) }

// DropAll closes every connection abruptly, without unbind. Receipts and MO
// messages not yet sent wait for the accounts' next binds.
func (s *Sim) DropAll() { s.core.DropAll() }

// UnbindAll sends unbind to every bound connection (a carrier-initiated
// unbind); each closes when its unbind_resp arrives.
func (s *Sim) UnbindAll() { s.core.UnbindAll() }

// InjectMO delivers a mobile-originated message now, on a bound receiver or
// transceiver of the account (see MO), and returns the status of each
// part's deliver_sm_resp. It fails with ErrNoReceiver when none is bound,
// ErrLost when the connection closed first, or ctx's error.
func (s *Sim) InjectMO(ctx context.Context, m MO) ([]smpp.Status, error) {
	a, err := s.accountFor(m)
	if err != nil {
		return nil, err
	}
	d, err := buildMO(m, &s.refs)
	if err != nil {
		return nil, err
	}
	if !a.hasReceiver() {
		return nil, ErrNoReceiver
	}
	d.Statuses = make(chan smpp.Status, len(d.Parts))
	a.deliver(smpptest.Item{Kind: smpptest.ItemDeliver, Due: s.now(), Delivery: d})
	out := make([]smpp.Status, 0, len(d.Parts))
	for range d.Parts {
		select {
		case st := <-d.Statuses:
			if st == smpptest.StatusLost {
				return out, ErrLost
			}
			out = append(out, st)
		case <-ctx.Done():
			return out, ctx.Err()
		case <-s.stop:
			return out, ErrClosed
		}
	}
	return out, nil
}

// ErrClosed is returned by InjectMO once the simulator is closed.
var ErrClosed = errors.New("smscsim: closed")

func (s *Sim) accountFor(m MO) (*account, error) {
	if m.Account != "" {
		a, ok := s.byID[m.Account]
		if !ok {
			return nil, fmt.Errorf("smscsim: MO: no account %q", m.Account)
		}
		return a, nil
	}
	to := []byte(m.To)
	for _, a := range s.accounts {
		if a.numberSet.has(to) {
			return a, nil
		}
	}
	if len(s.accounts) == 1 {
		return s.accounts[0], nil
	}
	return nil, fmt.Errorf("smscsim: MO: no account has number %q (set account)", m.To)
}

// Close stops listening, stops the MO generators, closes every connection
// without unbinding and waits until all the simulator's goroutines have
// ended; then it flushes the message log and writes the report when the
// configuration names files for them. Calling it again returns the first
// result.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.core.Close() // listeners and connections
		if s.httpSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = s.httpSrv.Shutdown(ctx)
			cancel()
		}
		s.wg.Wait()
		var errs []error
		if s.log != nil {
			errs = append(errs, s.log.close())
		}
		r := s.Report()
		s.endReport.Store(&r)
		if s.cfg.Report != "" {
			errs = append(errs, r.WriteFile(s.cfg.Report))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// WaitFor polls Stats until cond returns true or ctx ends (then it returns
// ctx's error).
func (s *Sim) WaitFor(ctx context.Context, cond func(Stats) bool) error {
	return smpptest.Poll(ctx, func() bool { return cond(s.Stats()) })
}
