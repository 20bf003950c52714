package smscsim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// Sim is a running carrier simulator. Start one with Start; all its methods
// are safe for concurrent use.
type Sim struct {
	cfg       Config
	byID      map[string]*account
	accounts  []*account // in configuration order
	epoch     time.Time
	epochUnix int64
	seed      uint64
	sysID     []byte
	refs      coding.RefSource

	listeners []*listener
	httpSrv   *http.Server
	httpLn    net.Listener
	log       *msgLog

	mu     sync.Mutex
	conns  map[*conn]struct{}
	nextID int
	closed bool

	wg        sync.WaitGroup // accept loops, connections' goroutines, MO generators
	stop      chan struct{}
	muteUntil atomic.Int64 // now() value; 0: not muted

	bindsRefused atomic.Int64 // refused before an account was known
	unknownResps atomic.Int64

	closeOnce sync.Once
	closeErr  error
	endReport atomic.Pointer[Report]
}

type listener struct {
	name    string
	ln      net.Listener
	allowed map[string]bool
	tls     bool
	cert    *x509.Certificate // self-signed
}

// Start checks cfg, listens on its addresses and starts serving. It fails
// when the configuration is wrong (every problem is named) or an address
// cannot be listened on.
func Start(cfg Config) (*Sim, error) {
	comp, err := compile(&cfg)
	if err != nil {
		return nil, err
	}
	s := &Sim{
		cfg:      cfg,
		byID:     comp.byID,
		accounts: comp.accounts,
		epoch:    time.Now(),
		seed:     cfg.Seed,
		sysID:    []byte(cfg.SystemID),
		conns:    map[*conn]struct{}{},
		stop:     make(chan struct{}),
	}
	s.epochUnix = s.epoch.UnixNano()
	if len(s.sysID) == 0 {
		s.sysID = []byte(DefaultSystemID)
	}
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
		s.wg.Add(1)
		go s.acceptLoop(l)
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

func listen(spec listenerSpec) (*listener, error) {
	ln, err := net.Listen("tcp", spec.addr)
	if err != nil {
		return nil, fmt.Errorf("smscsim: listener %q: %w", spec.name, err)
	}
	l := &listener{name: spec.name, ln: ln, allowed: spec.allowed}
	if t := spec.tls; t != nil {
		var cert tls.Certificate
		if t.SelfSigned {
			cert, l.cert, err = selfSigned()
		} else {
			cert, err = tls.LoadX509KeyPair(t.Cert, t.Key)
		}
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("smscsim: listener %q: tls: %w", spec.name, err)
		}
		l.ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		l.tls = true
	}
	return l, nil
}

// selfSigned makes a certificate for localhost, 127.0.0.1 and ::1.
func selfSigned() (tls.Certificate, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "smscsim"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf, nil
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

// RootCAs returns a pool with the self-signed certificates of the TLS
// listeners, for clients to verify them.
func (s *Sim) RootCAs() *x509.CertPool {
	p := x509.NewCertPool()
	for _, l := range s.listeners {
		if l.cert != nil {
			p.AddCert(l.cert)
		}
	}
	return p
}

func (s *Sim) acceptLoop(l *listener) {
	defer s.wg.Done()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // listener closed
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.nextID++
		c := newConn(s, l, nc, s.nextID)
		s.conns[c] = struct{}{}
		s.wg.Add(2)
		s.mu.Unlock()
		s.logf("smscsim: conn %d: accepted on %s from %v", c.id, l.name, nc.RemoteAddr())
		go c.readLoop()
		go c.writeLoop()
	}
}

func (s *Sim) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Sim) snapshot() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (s *Sim) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// now is the time since the simulator started, on the monotonic clock.
func (s *Sim) now() int64 { return int64(time.Since(s.epoch)) }

// unixNow is the wall clock in Unix nanoseconds, from the monotonic clock
// (cheaper than time.Now, and steady if the wall clock is set).
func (s *Sim) unixNow() int64 { return s.epochUnix + s.now() }

func (s *Sim) muted(now int64) bool {
	u := s.muteUntil.Load()
	return u != 0 && now < u
}

// Mute makes the whole simulator a hung SMSC for d: requests that arrive
// are dropped unanswered (enquire_link and binds included), answers that
// fall due are dropped, and receipts and MO messages wait until it ends.
func (s *Sim) Mute(d time.Duration) {
	u := s.now() + int64(d)
	if u == 0 {
		u = 1
	}
	s.muteUntil.Store(u)
}

// DropAll closes every connection abruptly, without unbind. Receipts and MO
// messages not yet sent wait for the accounts' next binds.
func (s *Sim) DropAll() {
	for _, c := range s.snapshot() {
		s.logf("smscsim: conn %d: dropped (DropAll)", c.id)
		c.close()
	}
}

// UnbindAll sends unbind to every bound connection (a carrier-initiated
// unbind); each closes when its unbind_resp arrives.
func (s *Sim) UnbindAll() {
	for _, c := range s.snapshot() {
		c.sendUnbind()
	}
}

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
	d.ch = make(chan smpp.Status, len(d.parts))
	a.deliver(item{kind: kDeliver, due: s.now(), d: d})
	out := make([]smpp.Status, 0, len(d.parts))
	for range d.parts {
		select {
		case st := <-d.ch:
			if st == statusLost {
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
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		for _, l := range s.listeners {
			_ = l.ln.Close()
		}
		if s.httpSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = s.httpSrv.Shutdown(ctx)
			cancel()
		}
		for _, c := range s.snapshot() {
			c.close()
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
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		if cond(s.Stats()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
