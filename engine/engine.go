// Package engine is the running Switchboard engine: from a configuration it
// builds the carriers' binds (each carrier's share of the account's binds,
// held through leases in Redis so that every engine process together stays
// within the maximum), the dispatcher and the inbound router (package
// routing) over the inbox (PostgreSQL) and the throttle (Redis), and the
// HTTP server: the API, the web console, health, readiness and metrics. It
// is the only package that joins concrete parts together; cmd/switchboard
// parses the command line and calls it:
//
//	log := engine.NewLogger(cfg.Log.Level, os.Stderr)
//	e, err := engine.New(ctx, cfg, log) // connects, migrates, listens
//	...
//	err = e.Run(ctx) // serves until ctx ends, then shuts down in order
package engine

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
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/engine/lease"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/inbox/events"
	"github.com/switchboard-sms/switchboard/ratelimit"
	"github.com/switchboard-sms/switchboard/routing"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/throttle"
	"github.com/switchboard-sms/switchboard/webhook"
)

// Engine is one switchboard process: the binds, the dispatcher, the router
// and the HTTP API, over one PostgreSQL and one Redis. New builds it, Run
// runs it once.
type Engine struct {
	cfg     *config.Config
	log     *zap.Logger
	db      *pgxpool.Pool
	store   *inbox.Store
	rdb     *redis.Client
	limiter *throttle.Limiter
	// rateLimits enforces the API's rate limits (api_limits).
	rateLimits *ratelimit.Limiter
	slots      *lease.Slots
	// carriers are the carriers' binds; a reload adds and removes some
	// (carriersMu guards the slice, not the carrierRuns).
	carriersMu sync.RWMutex
	carriers   []*carrierRun
	// adapter presents the inbox to routing (a reload swaps its formats).
	adapter *storeAdapter
	// level is the log level in force when the logger came from NewLogger
	// (a reload changes it); nil otherwise.
	level *zap.AtomicLevel
	// reload is the reload state: the configuration in force, its version,
	// where the binds run (reload.go).
	reload     reloadState
	router     *routing.Router
	dispatcher *routing.Dispatcher
	httpSrv    *http.Server
	listener   net.Listener
	// pprofLn serves runtime profiles when http.pprof_listen is set (nil
	// otherwise).
	pprofLn  net.Listener
	hub      *events.Hub
	api      *api.Server
	limits   *limiterAdapter
	webhooks *webhook.Deliverer // nil when webhooks.disabled
	feed     *inbox.Feed        // the change feed's reads, shared by the event streams and the webhooks
	// owner is this process in claims (the instance id and a random part,
	// new at each start); liveness has a connection pool of its own, so a
	// heartbeat never waits behind claims.
	owner    string
	liveness *inbox.Store
	livePool *pgxpool.Pool
	// submitLatency is switchboard_message_submit_seconds (opsmetrics.go).
	submitLatency prometheus.Histogram
}

// OpenStore connects to PostgreSQL (cfg.Postgres) and brings the schema up
// to date; the caller closes the pool. The engine opens its store this way,
// and so do the commands that work on the database alone (migrate, the
// workspace, number and token commands).
func OpenStore(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, *inbox.Store, error) {
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

// New connects to PostgreSQL (migrating it, as OpenStore) and Redis, builds
// every part from cfg and listens on cfg.HTTP.Listen; nothing runs until
// Run, which must follow (it releases what New opened). When New fails, it
// has closed whatever it opened.
func New(ctx context.Context, cfg *config.Config, log *zap.Logger) (*Engine, error) {
	e := &Engine{cfg: cfg, log: log}
	if lc, ok := log.Core().(levelCore); ok {
		e.level = &lc.level
	}
	e.reload.current, e.reload.version = cfg, ConfigVersion{Version: 1, Hash: cfg.Hash, LoadedAt: time.Now().UTC()}
	var err error
	if e.db, e.store, err = OpenStore(ctx, cfg); err != nil {
		return nil, err
	}
	if e.livePool, e.liveness, err = openLiveness(ctx, cfg); err != nil {
		e.db.Close()
		return nil, err
	}
	ropt, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		e.close()
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	e.rdb = redis.NewClient(ropt)
	e.limiter, err = throttle.New(e.rdb, throttle.Config{
		Prefix: cfg.Throttle.Prefix,
		Margin: cfg.Throttle.Margin.D(),
		Logger: log.Named("throttle"),
	})
	if err != nil {
		e.close()
		return nil, err
	}
	e.rateLimits, err = ratelimit.New(e.rdb, ratelimit.Config{
		Prefix: cfg.APILimits.Prefix, Grant: cfg.APILimits.Grant.D(), Logger: log.Named("ratelimit"),
	})
	if err != nil {
		e.close()
		return nil, err
	}
	e.owner = inbox.NewOwner(cfg.Engine.InstanceID)
	e.slots = lease.New(e.rdb, cfg.Redis.Prefix+"binds:", cfg.Engine.InstanceID, bindLeaseTTL)

	limits := newLimiterAdapter(e.limiter, cfg)
	e.submitLatency = newSubmitLatency()
	adapter := &storeAdapter{s: e.store, submitted: e.submitLatency}
	adapter.setFormats(cfg)
	e.adapter = adapter
	routingCarriers := map[string]*routing.Carrier{}
	for i := range cfg.Carriers {
		k := &cfg.Carriers[i]
		cr, err := newCarrierRun(k, e)
		if err != nil {
			e.close()
			return nil, err
		}
		e.carriers = append(e.carriers, cr)
		routingCarriers[k.Name] = cr.rc
		e.assumeIdle(ctx, k.Name, limits.longestInterval(k.Name)+cfg.Throttle.Margin.D())
	}
	e.limits = limits
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
		Owner: e.owner, Store: adapter, Limiter: limits, Carriers: routingCarriers,
		ClaimBatch: cfg.Engine.ClaimBatch, Lease: cfg.Engine.Lease.D(), InFlight: cfg.Engine.InFlight,
		RetryMin: cfg.Engine.RetryMin.D(), RetryMax: cfg.Engine.RetryMax.D(), DrainTimeout: cfg.Engine.DrainTimeout.D(),
		ExpireEvery: cfg.Engine.ExpireEvery.D(), ReleaseEvery: cfg.Engine.ReleaseEvery.D(),
		// A grant may wait up to half the margin for its window slot; the
		// dispatcher checks each write against the number's writes with
		// the whole margin, so that wait never takes from what is left for
		// the spread between writing and the carrier's reading.
		MaxHold: cfg.Throttle.Margin.D() / 2, WriteMargin: cfg.Throttle.Margin.D(),
		Logger: log,
	})
	if err != nil {
		e.close()
		return nil, err
	}
	carriers, classes, rates, carrierRates := catalogOf(cfg)
	guard, err := webhook.NewGuard(cfg.Webhooks.AllowPrivate)
	if err != nil {
		e.close()
		return nil, fmt.Errorf("webhooks.allow_private: %w", err)
	}
	// One read of the change feed per workspace serves this process's
	// event streams and webhook endpoints (inbox.Feed).
	e.feed = e.store.NewFeed(e.hub.Changed, inbox.FeedOptions{})
	if !cfg.Webhooks.Disabled {
		e.webhooks, err = webhook.New(webhook.Config{
			Store: e.store, Feed: e.feed, Owner: e.owner, Views: api.WebhookViews(), Changed: e.hub.Changed, Guard: guard,
			Timeout: cfg.Webhooks.Timeout.D(), Concurrency: cfg.Webhooks.Concurrency, LeaseTTL: cfg.Webhooks.Lease.D(),
			Logger: log.Named("webhooks"),
		})
		if err != nil {
			e.close()
			return nil, err
		}
	}
	e.api, err = api.New(api.Config{
		Store: e.store, OperatorToken: cfg.Operator.Token, MaxBodyBytes: cfg.HTTP.MaxBodyBytes, MaxBatchBodyBytes: cfg.HTTP.MaxBatchBodyBytes,
		Binds: func() any { return e.bindsWithRates() }, ConfigVersion: func() any { return e.ConfigVersion() }, Kick: e.dispatcher.Kick, Events: e.hub, Feed: e.feed,
		Carriers: carriers, RateClasses: classes, Rates: rates, CarrierRates: carrierRates, Logger: log.Named("api"),
		WebhookGuard: guard,
		RateLimiter:  e.rateLimits, RequestsPerSecond: cfg.APILimits.RequestsPerSecond, MessagesPerSecond: cfg.APILimits.MessagesPerSecond,
	})
	if err != nil {
		e.close()
		return nil, err
	}
	if e.listener, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		e.close()
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	if cfg.HTTP.PprofListen != "" {
		if e.pprofLn, err = net.Listen("tcp", cfg.HTTP.PprofListen); err != nil {
			e.listener.Close()
			e.close()
			return nil, fmt.Errorf("http.pprof_listen: %w", err)
		}
	}
	return e, nil
}

// close releases the connections (after Run, or when New fails).
func (e *Engine) close() {
	if e.hub != nil {
		e.hub.Close()
	}
	if e.rdb != nil {
		e.rdb.Close()
	}
	if e.db != nil {
		e.db.Close()
	}
	if e.livePool != nil {
		e.livePool.Close()
	}
}

// Run serves until ctx ends (or the HTTP server fails), then shuts down in
// order: stop taking HTTP requests (those in progress get
// http.shutdown_grace; event streams are closed), stop claiming and drain
// the submits in flight, stop taking bind leases, unbind every bind
// (waiting for responses within engine.drain_timeout) and release its
// lease, stop the inbound router, and close the connections to Redis and
// PostgreSQL. It returns nil after a shutdown caused by ctx, the HTTP
// server's error otherwise. Run is called once.
func (e *Engine) Run(ctx context.Context) error {
	defer e.close()
	ln := e.listener
	var err error
	e.httpSrv = &http.Server{Handler: e.handler(), ReadHeaderTimeout: 10 * time.Second}
	e.httpSrv.RegisterOnShutdown(e.api.CloseStreams)
	httpDone := make(chan error, 1)
	go func() { httpDone <- e.httpSrv.Serve(ln) }()
	if e.pprofLn != nil {
		pprofSrv := &http.Server{Handler: pprofHandler(), ReadHeaderTimeout: 10 * time.Second}
		go pprofSrv.Serve(e.pprofLn)
		defer pprofSrv.Close()
		e.log.Info("serving runtime profiles", zap.String("pprof", e.pprofLn.Addr().String()))
	}
	e.log.Info("switchboard serving", zap.String("http", ln.Addr().String()), zap.String("instance", e.cfg.Engine.InstanceID),
		zap.Int("carriers", len(e.carriers)))

	stopBinds := e.startBinds()
	dispCtx, stopDispatch := context.WithCancel(context.Background())
	e.takeOver(ctx)
	liveDone := make(chan struct{})
	go func() { e.keepAlive(dispCtx, stopDispatch); close(liveDone) }()
	dispDone := make(chan struct{})
	go func() { e.dispatcher.Run(dispCtx); close(dispDone) }()

	go e.maintain(dispCtx)
	hooksDone := make(chan struct{})
	if e.webhooks != nil {
		go func() { e.webhooks.Run(dispCtx); close(hooksDone) }()
	} else {
		close(hooksDone)
	}
	go e.watchDependencies(dispCtx)
	go e.foldUsage(dispCtx)
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
	<-hooksDone
	<-liveDone
	e.unregister()
	stopBinds()
	drain, cancel := context.WithTimeout(context.Background(), e.cfg.Engine.DrainTimeout.D())
	for _, cr := range e.carrierRuns() {
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

// changeRetention is how long the change feed's log is kept: a feed reader
// (GET /v1/events) that resumes from an older cursor misses the changes
// before it.
const changeRetention = 7 * 24 * time.Hour

// webhookRetention is how long delivered or given-up webhook events and
// the delivery log are kept (replay by id reaches this far back).
const webhookRetention = 7 * 24 * time.Hour

// maintain runs the periodic sweeps the store needs until ctx ends.
func (e *Engine) maintain(ctx context.Context) {
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
		if n, err := e.store.PruneWebhooks(ctx, webhookRetention); err != nil {
			e.log.Warn("pruning the webhook log failed", zap.Error(err))
		} else if n > 0 {
			e.log.Info("webhook log pruned", zap.Int64("rows", n), zap.Duration("older_than", webhookRetention))
		}
		if n, err := e.store.PruneChanges(ctx, changeRetention); err != nil {
			e.log.Warn("pruning the change log failed", zap.Error(err))
		} else if n > 0 {
			e.log.Info("change log pruned", zap.Int64("rows", n), zap.Duration("older_than", changeRetention))
		}
	}
}

// usageFoldInterval is how often the usage rollups are brought up to date
// (inbox.Store.FoldUsage): their freshness, plus a fold's time. Every
// engine process tries; one folds at a time, the others skip.
const usageFoldInterval = 5 * time.Second

// foldUsage keeps the usage rollups up to date until ctx ends.
func (e *Engine) foldUsage(ctx context.Context) {
	t := time.NewTicker(usageFoldInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		f, err := e.store.FoldUsage(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			e.log.Warn("folding usage failed", zap.Error(err))
		case f.Steps > 1:
			e.log.Info("usage folded in steps (catching up)", zap.Int("steps", f.Steps), zap.Int64("messages", f.Messages),
				zap.Duration("took", time.Since(start)))
		}
	}
}

// carrierRun holds a carrier's binds: as many as configured, within the
// account's maximum across every engine process (leases in Redis).
type carrierRun struct {
	name    string // cfg.Name, which never changes
	cfg     *config.Carrier
	e       *Engine
	rc      *routing.Carrier
	pool    *smpp.Pool
	handler smpp.Handler
	// stop ends run, done is closed when it has (startCarrier).
	stop context.CancelFunc
	done chan struct{}

	// mu guards held and cfg (a reload replaces cfg).
	mu   sync.Mutex
	held map[int]*heldSlot
}

type heldSlot struct {
	sessions []*smpp.Session
	renewed  time.Time
}

func newCarrierRun(k *config.Carrier, e *Engine) (*carrierRun, error) {
	pool := &smpp.Pool{}
	cr := &carrierRun{name: k.Name, cfg: k, e: e, pool: pool, held: map[int]*heldSlot{}}
	cr.rc = routingCarrier(k, pool)
	if k.TLS != nil {
		if _, err := cr.tlsConfig(); err != nil {
			return nil, err
		}
	}
	return cr, nil
}

// routingCarrier is k as the dispatcher and router see it, sending on pool.
func routingCarrier(k *config.Carrier, pool *smpp.Pool) *routing.Carrier {
	method := map[string]coding.Method{"udh8": coding.UDH8, "udh16": coding.UDH16, "sar": coding.SAR, "payload": coding.Payload}[k.LongMessage]
	return &routing.Carrier{
		Name: k.Name, Submitter: pool, GSMDataCoding: k.GSMDataCoding, Method: method,
		SourceTON: k.SourceTON, SourceNPI: k.SourceNPI, DestTON: k.DestTON, DestNPI: k.DestNPI,
		RegisteredDelivery: *k.RegisteredDelivery, AccountThrottle: k.ThrottleScope == "account",
	}
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

// sessionConfig is the configuration of the bind of type t in slot. Its
// log lines carry the fields carrier and bind (slot/type); their levels
// (issue 18 §5): a bind refused for its credentials and a bind not up for
// longer than unreachable_after are errors (a person must act), a lost or
// failing connection a warning, other state changes info.
func (cr *carrierRun) sessionConfig(slot int, t smpp.BindType) smpp.SessionConfig {
	k := cr.cfg
	log := cr.e.log.Named("smpp").With(zap.String("carrier", k.Name), zap.String("bind", fmt.Sprintf("%d/%s", slot, t)))
	unreachableAfter := k.UnreachableAfter.D()
	var (
		mu        sync.Mutex
		downSince time.Time // first failure since the bind was last up (zero while up)
		alerted   bool      // the outage was logged at error level
	)
	sc := smpp.SessionConfig{
		Addr: k.Addr(), Type: t, SystemID: k.SystemID, Password: k.Password, SystemType: k.SystemType,
		Window: k.Window, ResponseTimeout: k.ResponseTimeout.D(), EnquireLinkInterval: k.EnquireLinkInterval.D(),
		ReconnectMin: k.ReconnectMin.D(), ReconnectMax: k.ReconnectMax.D(),
		Handler: cr.handler,
		// Receipts and replies are committed in groups, and each handler
		// waits for its group's commit: the handlers in flight bound the
		// inbound rate (workers × binds / commit time) and make the groups
		// large. 32 held smppbench inbound --concurrency 1024 to 3.0k MO/s
		// (332 µs of PostgreSQL CPU an MO); 256, 5.2-5.9k (176-204 µs).
		// Order per sender is kept (a sender's PDUs go to one worker).
		InboundWorkers: 256,
		Logger:         log,
		OnStateChange: func(c smpp.StateChange) {
			f := []zap.Field{zap.String("state", c.State.String())}
			if c.Err != nil {
				f = append(f, zap.Error(c.Err))
			}
			mu.Lock()
			switch c.State {
			case smpp.SessionBound:
				if !downSince.IsZero() {
					f = append(f, zap.Duration("down_for", c.At.Sub(downSince)))
				}
				downSince, alerted = time.Time{}, false
			case smpp.SessionBackoff:
				if downSince.IsZero() {
					downSince = c.At
				}
				f = append(f, zap.Duration("retry_in", c.Backoff))
			}
			down := c.At.Sub(downSince)
			alert := c.State == smpp.SessionBackoff && !alerted && down >= unreachableAfter
			alerted = alerted || alert
			mu.Unlock()
			switch {
			case c.State == smpp.SessionRefused:
				log.Error("bind refused by the carrier; not retrying: check system_id, password and system_type", f...)
			case alert:
				log.Error("carrier unreachable: the bind has not been up for longer than unreachable_after",
					append(f, zap.Duration("down_for", down), zap.Duration("unreachable_after", unreachableAfter))...)
			case c.State == smpp.SessionBackoff:
				log.Warn("bind down; reconnecting", f...)
			default:
				log.Info("bind state", f...)
			}
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
	now := time.Now()
	cr.mu.Lock()
	defer cr.mu.Unlock()
	name := cr.cfg.Name // cr.cfg is replaced under cr.mu by a reload (retune)
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
			s, err := smpp.NewSession(cr.sessionConfig(i, t))
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

// bindInfo describes one bind for the operator API and metrics.
type bindInfo struct {
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
	AccountRate   float64  `json:"account_rate"`
	EffectiveRate *float64 `json:"effective_rate"`
	// QuietUntil is set while the carrier account is in a throttle quiet
	// period (Redis lost its rate state): nothing is sent on it until then.
	QuietUntil *time.Time        `json:"quiet_until,omitempty"`
	Stats      smpp.SessionStats `json:"-"`
}

// binds lists the binds this process holds.
func (e *Engine) binds() []bindInfo {
	var out []bindInfo
	for _, cr := range e.carrierRuns() {
		cr.mu.Lock()
		for i, h := range cr.held {
			for _, s := range h.sessions {
				st := s.Stats()
				p50, p99 := st.ResponseTime.Quantile(0.5), st.ResponseTime.Quantile(0.99)
				out = append(out, bindInfo{
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
func (e *Engine) bindsWithRates() []bindInfo {
	out := e.binds()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	type rates struct {
		account   float64
		effective *float64
		quiet     *time.Time
	}
	known := map[string]rates{}
	for i := range out {
		b := &out[i]
		r, ok := known[b.Carrier]
		if !ok {
			acct := e.limits.limits().accounts[b.Carrier]
			r.account = acct.Rate()
			if ctx.Err() == nil {
				if v, err := e.limiter.EffectiveRate(ctx, b.Carrier, "", acct); err == nil {
					r.effective = &v
				}
				if q, err := e.limiter.QuietUntil(ctx, b.Carrier); err == nil && q.After(time.Now()) {
					r.quiet = &q
				}
			}
			known[b.Carrier] = r
		}
		b.AccountRate, b.EffectiveRate, b.QuietUntil = r.account, r.effective, r.quiet
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Ready reports why the engine cannot serve, or nil: PostgreSQL and Redis
// answer and at least one bind is up. GET /readyz answers with it.
func (e *Engine) Ready(ctx context.Context) error {
	if err := e.db.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	for _, cr := range e.carrierRuns() {
		if cr.pool.Bound() > 0 {
			return nil
		}
	}
	return errors.New("no bind is up")
}

// quietCarriers returns the carrier accounts in a throttle quiet period and
// when each ends (readiness reports them; the engine stays ready: the
// period lasts about one rate interval).
func (e *Engine) quietCarriers(ctx context.Context) map[string]time.Time {
	out := map[string]time.Time{}
	for _, cr := range e.carrierRuns() {
		if q, err := e.limiter.QuietUntil(ctx, cr.name); err == nil && q.After(time.Now()) {
			out[cr.name] = q
		}
	}
	return out
}

// Addr is the address the HTTP server listens on, from New on (the port
// chosen when cfg.HTTP.Listen asks for port 0).
func (e *Engine) Addr() net.Addr { return e.listener.Addr() }
