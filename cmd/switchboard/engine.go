package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/config"
	"github.com/switchboard-sms/switchboard/events"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/lease"
	"github.com/switchboard-sms/switchboard/routing"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/throttle"
)

// engine is one switchboard process: the binds, the dispatcher, the router
// and the HTTP API, over one PostgreSQL and one Redis.
type engine struct {
	cfg        *config.Config
	log        *zap.Logger
	db         *pgxpool.Pool
	store      *inbox.Store
	rdb        *redis.Client
	limiter    *throttle.Limiter
	slots      *lease.Slots
	carriers   []*carrierRun
	router     *routing.Router
	dispatcher *routing.Dispatcher
	httpSrv    *http.Server
	listener   net.Listener
	hub        *events.Hub
	api        *api.Server
	accounts   map[string]throttle.Bucket // each carrier account's bucket, by carrier
}

// openStore connects to PostgreSQL and brings the schema up to date.
func openStore(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, *inbox.Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.Postgres.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres.url: %w", err)
	}
	pc.MaxConns = cfg.Postgres.MaxConns
	db, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	if err := inbox.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	return db, inbox.New(db, inbox.Options{MessageTTL: cfg.Engine.MessageTTL.D()}), nil
}

// newEngine connects to PostgreSQL (migrating it) and Redis and builds every
// part; nothing runs until run.
func newEngine(ctx context.Context, cfg *config.Config, log *zap.Logger) (*engine, error) {
	e := &engine{cfg: cfg, log: log}
	var err error
	if e.db, e.store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	ropt, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		e.db.Close()
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	e.rdb = redis.NewClient(ropt)
	e.limiter, err = throttle.New(e.rdb, throttle.Config{
		Prefix:  cfg.Throttle.Prefix,
		Horizon: cfg.Throttle.Horizon.D(),
		MaxSpan: cfg.Throttle.MaxSpan.D(),
		Logger:  zapSlog(log.Named("throttle")),
	})
	if err != nil {
		e.close()
		return nil, err
	}
	e.slots = lease.New(e.rdb, cfg.Redis.Prefix+"binds:", cfg.Engine.InstanceID, 15*time.Second)

	limits := &limiterAdapter{l: e.limiter, classes: map[string]throttle.Class{}, accounts: map[string]throttle.Bucket{}}
	for _, rc := range cfg.Classes {
		limits.classes[rc.Name] = throttle.Class{Name: rc.Name, Rate: rc.Rate, Burst: rc.Burst}
	}
	adapter := &storeAdapter{s: e.store, formats: map[string][2]inbox.IDFormat{}}
	routingCarriers := map[string]*routing.Carrier{}
	for i := range cfg.Carriers {
		k := &cfg.Carriers[i]
		limits.accounts[k.Name] = throttle.Account(k.TPS, k.TPSBurst)
		sub, _ := inbox.ParseIDFormat(k.MessageIDs.Submit)
		rec, _ := inbox.ParseIDFormat(k.MessageIDs.Receipt)
		adapter.formats[k.Name] = [2]inbox.IDFormat{sub, rec}
		cr, err := newCarrierRun(k, e)
		if err != nil {
			e.close()
			return nil, err
		}
		e.carriers = append(e.carriers, cr)
		routingCarriers[k.Name] = cr.rc
		if cfg.Throttle.AssumeIdle {
			if _, err := e.limiter.AssumeIdle(ctx, k.Name); err != nil {
				log.Warn("throttle: assume idle failed", zap.String("carrier", k.Name), zap.Error(err))
			}
		}
	}
	limits.pace = newPacer(limits.classes, limits.accounts)
	e.accounts = limits.accounts
	if e.hub, err = events.New(events.Config{Pool: e.db, Logger: log.Named("events")}); err != nil {
		e.close()
		return nil, err
	}
	adapter.notify = e.hub.Notify
	e.router = routing.NewRouter(routing.RouterConfig{
		Store: adapter, Carriers: routingCarriers, PartTimeout: cfg.Engine.InboundPartTimeout.D(), Logger: log,
	})
	for _, cr := range e.carriers {
		cr.handler = e.router.Handler(cr.rc)
	}
	e.dispatcher, err = routing.NewDispatcher(routing.DispatcherConfig{
		Owner: cfg.Engine.InstanceID, Store: adapter, Limiter: limits, Carriers: routingCarriers,
		ClaimBatch: cfg.Engine.ClaimBatch, Lease: cfg.Engine.Lease.D(), InFlight: cfg.Engine.InFlight,
		RetryMin: cfg.Engine.RetryMin.D(), RetryMax: cfg.Engine.RetryMax.D(), DrainTimeout: cfg.Engine.DrainTimeout.D(),
		Logger: log,
	})
	if err != nil {
		e.close()
		return nil, err
	}
	var carriers, classes []string
	rates, carrierRates := map[string]float64{}, map[string]float64{}
	for _, k := range cfg.Carriers {
		carriers = append(carriers, k.Name)
		carrierRates[k.Name] = k.TPS
	}
	for _, rc := range cfg.Classes {
		classes = append(classes, rc.Name)
		rates[rc.Name] = rc.Rate
	}
	e.api, err = api.New(api.Config{
		Store: e.store, OperatorToken: cfg.Operator.Token, MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
		Binds: func() any { return e.bindsWithRates() }, Kick: e.dispatcher.Kick, Events: e.hub,
		Carriers: carriers, RateClasses: classes, Rates: rates, CarrierRates: carrierRates, Logger: log.Named("api"),
	})
	if err != nil {
		e.close()
		return nil, err
	}
	if e.listener, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		e.close()
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	return e, nil
}

// close releases the connections (after run, or when newEngine fails).
func (e *engine) close() {
	if e.hub != nil {
		e.hub.Close()
	}
	if e.rdb != nil {
		e.rdb.Close()
	}
	if e.db != nil {
		e.db.Close()
	}
}

// run serves until ctx ends, then shuts down in order: stop taking requests,
// stop claiming and drain the submits in flight, unbind, stop the router,
// release the bind leases.
func (e *engine) run(ctx context.Context) error {
	defer e.close()
	ln := e.listener
	var err error
	e.httpSrv = &http.Server{Handler: e.handler(), ReadHeaderTimeout: 10 * time.Second}
	e.httpSrv.RegisterOnShutdown(e.api.CloseStreams)
	httpDone := make(chan error, 1)
	go func() { httpDone <- e.httpSrv.Serve(ln) }()
	e.log.Info("switchboard serving", zap.String("http", ln.Addr().String()), zap.String("instance", e.cfg.Engine.InstanceID),
		zap.Int("carriers", len(e.carriers)))

	bindCtx, stopBinds := context.WithCancel(context.Background())
	var bindsWG sync.WaitGroup
	for _, cr := range e.carriers {
		bindsWG.Add(1)
		go func() { defer bindsWG.Done(); cr.run(bindCtx) }()
	}
	dispCtx, stopDispatch := context.WithCancel(context.Background())
	dispDone := make(chan struct{})
	go func() { e.dispatcher.Run(dispCtx); close(dispDone) }()

	go e.maintain(dispCtx)
	select {
	case <-ctx.Done():
	case err = <-httpDone:
		e.log.Error("http server failed", zap.Error(err))
	}
	e.log.Info("shutting down")
	grace, cancel := context.WithTimeout(context.Background(), e.cfg.HTTP.ShutdownGrace.D())
	e.httpSrv.Shutdown(grace)
	cancel()
	stopDispatch()
	<-dispDone
	stopBinds()
	bindsWG.Wait()
	drain, cancel := context.WithTimeout(context.Background(), e.cfg.Engine.DrainTimeout.D())
	for _, cr := range e.carriers {
		cr.close(drain)
	}
	cancel()
	e.router.Close()
	e.log.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// orphanReceiptAge is how long a receipt whose message id matches no submit
// result is kept, waiting for the result (it may come from a slow engine).
const orphanReceiptAge = 24 * time.Hour

// maintain runs the periodic sweeps the store needs until ctx ends.
func (e *engine) maintain(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := e.store.DeleteOrphanReceipts(ctx, orphanReceiptAge); err != nil {
			e.log.Warn("deleting orphan receipts failed", zap.Error(err))
		} else if n > 0 {
			e.log.Info("orphan receipts deleted", zap.Int64("count", n), zap.Duration("older_than", orphanReceiptAge))
		}
	}
}

// carrierRun holds a carrier's binds: as many as configured, within the
// account's maximum across every engine process (leases in Redis).
type carrierRun struct {
	cfg     *config.Carrier
	e       *engine
	rc      *routing.Carrier
	pool    *smpp.Pool
	handler smpp.Handler

	mu   sync.Mutex
	held map[int]*heldSlot
}

type heldSlot struct {
	sessions []*smpp.Session
	renewed  time.Time
}

func newCarrierRun(k *config.Carrier, e *engine) (*carrierRun, error) {
	method := map[string]coding.Method{"udh8": coding.UDH8, "udh16": coding.UDH16, "sar": coding.SAR, "payload": coding.Payload}[k.LongMessage]
	pool := &smpp.Pool{}
	cr := &carrierRun{cfg: k, e: e, pool: pool, held: map[int]*heldSlot{}}
	cr.rc = &routing.Carrier{
		Name: k.Name, Submitter: pool, GSMDataCoding: k.GSMDataCoding, Method: method,
		SourceTON: k.SourceTON, SourceNPI: k.SourceNPI, DestTON: k.DestTON, DestNPI: k.DestNPI,
		RegisteredDelivery: *k.RegisteredDelivery,
	}
	if k.TLS != nil {
		if _, err := cr.tlsConfig(); err != nil {
			return nil, err
		}
	}
	return cr, nil
}

func (cr *carrierRun) tlsConfig() (*tls.Config, error) {
	t := cr.cfg.TLS
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("carrier %s: tls.ca_file: %w", cr.cfg.Name, err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("carrier %s: tls.ca_file: no PEM certificate in %s", cr.cfg.Name, t.CAFile)
		}
		tc.RootCAs = roots
	}
	return tc, nil
}

func (cr *carrierRun) sessionConfig(t smpp.BindType) smpp.SessionConfig {
	k := cr.cfg
	log := cr.e.log.Named("smpp").With(zap.String("carrier", k.Name))
	sc := smpp.SessionConfig{
		Addr: k.Addr(), Type: t, SystemID: k.SystemID, Password: k.Password, SystemType: k.SystemType,
		Window: k.Window, ResponseTimeout: k.ResponseTimeout.D(), EnquireLinkInterval: k.EnquireLinkInterval.D(),
		ReconnectMin: k.ReconnectMin.D(), ReconnectMax: k.ReconnectMax.D(),
		Handler: cr.handler,
		// Receipts and replies are committed in groups: many handlers in
		// flight make the groups large (order per sender is kept).
		InboundWorkers: 32,
		Logf:           func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) },
		OnStateChange: func(c smpp.StateChange) {
			f := []zap.Field{zap.String("state", c.State.String())}
			if c.Err != nil {
				f = append(f, zap.Error(c.Err))
			}
			log.Info("bind state", f...)
		},
	}
	if k.TLS != nil {
		sc.TLS, _ = cr.tlsConfig()
	}
	return sc
}

// run keeps the carrier's binds: renews the leases it holds, takes free ones
// up to the configured number of binds, and drops a bind whose lease it can
// no longer vouch for.
func (cr *carrierRun) run(ctx context.Context) {
	ttl := cr.e.slots.TTL()
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		cr.maintain(ctx, ttl)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (cr *carrierRun) maintain(ctx context.Context, ttl time.Duration) {
	name := cr.cfg.Name
	now := time.Now()
	cr.mu.Lock()
	defer cr.mu.Unlock()
	for i, h := range cr.held {
		err := cr.e.slots.Renew(ctx, name, i)
		switch {
		case err == nil:
			h.renewed = now
		case errors.Is(err, lease.ErrLost) || now.Sub(h.renewed) > ttl*2/3:
			// Someone else may hold the slot now (or soon): give up the bind.
			cr.e.log.Warn("bind lease lost; closing the bind", zap.String("carrier", name), zap.Int("slot", i), zap.Error(err))
			cr.drop(i, h)
		}
	}
	for len(cr.held) < cr.cfg.Binds {
		i, err := cr.e.slots.Acquire(ctx, name, cr.cfg.MaxBinds)
		if err != nil {
			cr.e.log.Warn("bind lease: redis unavailable", zap.String("carrier", name), zap.Error(err))
			return
		}
		if i < 0 {
			return // every slot of the account is held by some engine
		}
		h := &heldSlot{renewed: now}
		types := []smpp.BindType{smpp.BindTransceiver}
		if cr.cfg.BindMode == "transmitter_receiver" {
			types = []smpp.BindType{smpp.BindTransmitter, smpp.BindReceiver}
		}
		for _, t := range types {
			s, err := smpp.NewSession(cr.sessionConfig(t))
			if err != nil {
				cr.e.log.Error("bind config", zap.String("carrier", name), zap.Error(err))
				continue
			}
			h.sessions = append(h.sessions, s)
		}
		cr.pool.Add(h.sessions...)
		cr.held[i] = h
		cr.e.log.Info("bind lease taken", zap.String("carrier", name), zap.Int("slot", i))
	}
}

// drop closes a slot's binds in the background and forgets the slot.
func (cr *carrierRun) drop(i int, h *heldSlot) {
	delete(cr.held, i)
	for _, s := range h.sessions {
		cr.pool.Remove(s)
		go func(s *smpp.Session) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.Close(ctx)
		}(s)
	}
}

// close unbinds every bind (waiting for in-flight responses within ctx) and
// releases the leases.
func (cr *carrierRun) close(ctx context.Context) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	var wg sync.WaitGroup
	for i, h := range cr.held {
		for _, s := range h.sessions {
			cr.pool.Remove(s)
			wg.Add(1)
			go func(s *smpp.Session) { defer wg.Done(); s.Close(ctx) }(s)
		}
		wg.Wait()
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cr.e.slots.Release(rctx, cr.cfg.Name, i)
		cancel()
		delete(cr.held, i)
	}
}

// BindInfo describes one bind for the operator API and metrics.
type BindInfo struct {
	Carrier    string        `json:"carrier"`
	Slot       int           `json:"slot"`
	Type       string        `json:"type"`
	State      string        `json:"state"`
	LastError  string        `json:"last_error,omitempty"`
	InFlight   int           `json:"window_in_use"`
	Window     int           `json:"window_size"`
	Submitted  int64         `json:"submitted"`
	P50        time.Duration `json:"-"`
	P99        time.Duration `json:"-"`
	P50Ms      float64       `json:"response_p50_ms"`
	P99Ms      float64       `json:"response_p99_ms"`
	Throttled  int64         `json:"throttled"`
	Reconnects int64         `json:"reconnects"`
	// AccountRate is the carrier account's configured TPS (segments/s, every
	// engine process together); EffectiveRate is what the adaptive slow-down
	// leaves of it now, nil when Redis could not be asked. Both are per
	// carrier account, repeated on each of its binds; set for the API only.
	AccountRate   float64           `json:"account_rate"`
	EffectiveRate *float64          `json:"effective_rate"`
	Stats         smpp.SessionStats `json:"-"`
}

// binds lists the binds this process holds.
func (e *engine) binds() []BindInfo {
	var out []BindInfo
	for _, cr := range e.carriers {
		cr.mu.Lock()
		for i, h := range cr.held {
			for _, s := range h.sessions {
				st := s.Stats()
				p50, p99 := st.ResponseTime.Quantile(0.5), st.ResponseTime.Quantile(0.99)
				out = append(out, BindInfo{
					Carrier: cr.cfg.Name, Slot: i, Type: s.Config().Type.String(), State: st.State.String(), LastError: st.LastError,
					InFlight: st.InFlight, Window: st.Window, Submitted: st.Submitted, P50: p50, P99: p99,
					P50Ms: ms(p50), P99Ms: ms(p99), Throttled: st.Throttled(), Reconnects: st.Reconnects, Stats: st,
				})
			}
		}
		cr.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Carrier != out[j].Carrier {
			return out[i].Carrier < out[j].Carrier
		}
		if out[i].Slot != out[j].Slot {
			return out[i].Slot < out[j].Slot
		}
		return out[i].Type < out[j].Type
	})
	return out
}

// bindsWithRates is binds with each carrier account's configured and
// effective rate: one Redis call per carrier, bounded by a short deadline so
// that a slow Redis leaves the rates unknown rather than the answer late.
func (e *engine) bindsWithRates() []BindInfo {
	out := e.binds()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	type rates struct {
		account   float64
		effective *float64
	}
	known := map[string]rates{}
	for i := range out {
		b := &out[i]
		r, ok := known[b.Carrier]
		if !ok {
			acct := e.accounts[b.Carrier]
			r.account = acct.Limit.Rate
			if ctx.Err() == nil {
				if v, err := e.limiter.EffectiveRate(ctx, b.Carrier, acct); err == nil {
					r.effective = &v
				}
			}
			known[b.Carrier] = r
		}
		b.AccountRate, b.EffectiveRate = r.account, r.effective
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ready reports why the engine cannot serve, or nil: PostgreSQL and Redis
// answer and at least one bind is up.
func (e *engine) ready(ctx context.Context) error {
	if err := e.db.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	for _, cr := range e.carriers {
		if cr.pool.Bound() > 0 {
			return nil
		}
	}
	return errors.New("no bind is up")
}

func itoa(n int) string { return strconv.Itoa(n) }
