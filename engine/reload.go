package engine

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/routing"
	"github.com/switchboard-sms/switchboard/smpp"
)

// Reload: a running engine takes a new configuration without dropping the
// binds whose connection settings did not change (issue 18). What a reload
// applies, and how:
//
//   - log.level: at once (when the logger came from NewLogger);
//   - rate classes and carriers' TPS: the limits are swapped whole; the
//     throttle's Redis state counts the segments already sent against the
//     new limits, and the dispatcher's write check keeps its record of
//     recent writes, so a lowered rate lets no burst through;
//   - a carrier's window and timers: on its running binds (smpp
//     Session.Tune); a smaller window waits for the outstanding requests
//     to fall below it;
//   - its coding, addresses, message ids, throttle scope: for the parts
//     written from then on; binds: more binds are taken, extra ones drained;
//   - its host, port, TLS, system_id, password, system_type or bind mode:
//     that carrier's binds are drained (in-flight submits answered, within
//     engine.drain_timeout), unbound and bound again with the new settings;
//   - a carrier added binds; a carrier removed stops sending (its queued
//     messages are given back), drains and unbinds;
//   - http, postgres, redis, operator, engine, throttle, pid_file: only at
//     a restart; the reload says so (warn) and applies the rest.
//
// A file that does not load (YAML or a field error) changes nothing: the
// reload fails with the error, logged with its field.

// ConfigVersion identifies the configuration in force: GET /admin/v1/binds
// and the console's Binds view show it.
type ConfigVersion struct {
	// Version is 1 for the configuration the engine started with and goes
	// up by one with each reload applied.
	Version int `json:"version"`
	// Hash is the first 12 hex digits of the file's SHA-256.
	Hash     string    `json:"hash"`
	LoadedAt time.Time `json:"loaded_at"`
	// RestartPending names the sections changed by a reload that take
	// effect only at a restart.
	RestartPending []string `json:"restart_pending,omitempty"`
}

// reloadState is the engine's side of reloads.
type reloadState struct {
	mu      sync.Mutex // one reload at a time, and not while Run stops
	current *config.Config
	version ConfigVersion
	// bindCtx and bindsWG are where carriers' binds run (set by Run);
	// stopped is set once Run stops them.
	bindCtx context.Context
	bindsWG sync.WaitGroup
	stopped bool
}

// ErrNotRunning is Reload's error before Run has started or after it
// stopped.
var ErrNotRunning = errors.New("engine: not running")

// ConfigVersion returns the version of the configuration in force.
func (e *Engine) ConfigVersion() ConfigVersion {
	e.reload.mu.Lock()
	defer e.reload.mu.Unlock()
	v := e.reload.version
	v.RestartPending = append([]string(nil), v.RestartPending...)
	return v
}

// ReloadFile loads the configuration from path (the file the engine
// started with when path is "") and applies it as Reload does. A file that
// does not load changes nothing; its error is logged (error level, with the
// field) and returned.
func (e *Engine) ReloadFile(ctx context.Context, path string) (config.Changes, error) {
	if path == "" {
		e.reload.mu.Lock()
		path = e.reload.current.Path
		e.reload.mu.Unlock()
	}
	if path == "" {
		err := errors.New("engine: reload: the configuration was not loaded from a file")
		e.log.Error("config reload failed; the running configuration stays", zap.Error(err))
		return config.Changes{}, err
	}
	next, err := config.Load(path)
	if err != nil {
		f := []zap.Field{zap.String("file", path), zap.Error(err)}
		var fe *config.FieldError
		if errors.As(err, &fe) {
			f = append(f, zap.String("field", fe.Field))
		}
		e.log.Error("config reload failed; the running configuration stays", f...)
		return config.Changes{}, err
	}
	return e.Reload(ctx, next)
}

// Reload applies next to the running engine (see the comment at the top
// of reload.go) and returns what changed. It returns when the binds it had
// to drain are drained and their replacements started (not bound: they bind
// in the background). Safe for concurrent use; reloads run one at a time.
func (e *Engine) Reload(ctx context.Context, next *config.Config) (config.Changes, error) {
	e.reload.mu.Lock()
	defer e.reload.mu.Unlock()
	if e.reload.bindCtx == nil || e.reload.stopped {
		return config.Changes{}, ErrNotRunning
	}
	old := e.reload.current
	ch := config.Diff(old, next)
	if ch.None() && old.Hash == next.Hash {
		e.log.Info("config reload: nothing changed", zap.Int("config_version", e.reload.version.Version))
		return ch, nil
	}
	if len(ch.Restart) > 0 {
		e.log.Warn("config reload: these sections change only at a restart; the running values stay",
			zap.Strings("sections", ch.Restart))
	}
	if ch.LogLevel {
		if e.level != nil {
			var lvl zapcore.Level
			if err := lvl.UnmarshalText([]byte(next.Log.Level)); err == nil {
				e.level.SetLevel(lvl)
			}
		} else {
			e.log.Warn("config reload: log.level cannot change: the engine's logger is not from engine.NewLogger")
		}
	}
	// Limits and message-id formats first: a carrier added below must find
	// its account's limit, and one removed keeps its own for what is in
	// flight.
	if kept := e.limits.set(next); len(kept) > 0 {
		e.log.Warn("config reload: rate classes removed from the file stay in force until a restart (numbers may use them)",
			zap.Strings("rate_classes", kept))
	}
	e.adapter.setFormats(next)

	drain := next.Engine.DrainTimeout.D()
	if e.cfg.Engine.DrainTimeout > 0 {
		drain = e.cfg.Engine.DrainTimeout.D()
	}
	runs := map[string]*carrierRun{}
	for _, cr := range e.carrierRuns() {
		runs[cr.name] = cr
	}
	var removed []*carrierRun
	for _, name := range ch.Removed {
		removed = append(removed, runs[name])
		delete(runs, name)
	}
	var added []*carrierRun
	for i := range next.Carriers {
		k := &next.Carriers[i]
		cr := runs[k.Name]
		if cr == nil {
			nc, err := newCarrierRun(k, e)
			if err != nil {
				// Checked by config already (tls.ca_file); keep the rest.
				e.log.Error("config reload: carrier not added", zap.String("carrier", k.Name), zap.Error(err))
				continue
			}
			nc.handler = e.router.Handler(nc.rc)
			added = append(added, nc)
			runs[k.Name] = nc
			continue
		}
		cr.retune(k)
	}
	routingCarriers := map[string]*routing.Carrier{}
	for name, cr := range runs {
		cr.mu.Lock()
		routingCarriers[name] = cr.rc
		cr.mu.Unlock()
	}
	// The dispatcher stops sending on removed carriers and starts on added
	// ones before their binds go and come.
	e.dispatcher.SetCarriers(routingCarriers)
	e.router.SetCarriers(routingCarriers)
	e.api.SetCatalog(catalogOf(next))
	e.carriersMu.Lock()
	list := make([]*carrierRun, 0, len(runs))
	for _, cr := range e.carriers {
		if runs[cr.name] == cr {
			list = append(list, cr)
		}
	}
	list = append(list, added...)
	e.carriers = list
	e.carriersMu.Unlock()
	for _, cr := range added {
		e.assumeIdle(ctx, cr.name, e.limits.longestInterval(cr.name)+e.cfg.Throttle.Margin.D())
		e.startCarrier(cr)
		e.log.Info("config reload: carrier added", zap.String("carrier", cr.name))
	}
	var wg sync.WaitGroup
	for _, cr := range removed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cr.stop()
			<-cr.done
			dctx, cancel := context.WithTimeout(context.Background(), drain)
			cr.close(dctx)
			cancel()
			e.log.Info("config reload: carrier removed; its binds drained and unbound", zap.String("carrier", cr.name))
		}()
	}
	for _, name := range ch.Rebind {
		cr := runs[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			cr.rebind(drain)
			e.log.Info("config reload: connection settings changed; the carrier's binds were drained and bind again",
				zap.String("carrier", name))
		}()
	}
	wg.Wait()

	e.reload.current = next
	v := &e.reload.version
	v.Version++
	v.Hash, v.LoadedAt = next.Hash, time.Now().UTC()
	v.RestartPending = mergeNames(v.RestartPending, ch.Restart)
	e.log.Info("config reloaded", zap.Int("config_version", v.Version), zap.String("config_hash", v.Hash),
		zap.Bool("log_level", ch.LogLevel), zap.Bool("rate_classes", ch.Classes), zap.Strings("added", ch.Added),
		zap.Strings("removed", ch.Removed), zap.Strings("rebound", ch.Rebind), zap.Strings("retuned", ch.Retune))
	return ch, nil
}

// catalogOf is what the API checks numbers against under c: the carriers,
// the rate classes (a class removed from the file stays until a restart:
// limits.set keeps it) and their rates.
func catalogOf(c *config.Config) (carriers, classes []string, rates, carrierRates map[string]float64) {
	rates, carrierRates = map[string]float64{}, map[string]float64{}
	for _, k := range c.Carriers {
		carriers = append(carriers, k.Name)
		carrierRates[k.Name] = k.TPS
	}
	for _, rc := range c.Classes {
		classes = append(classes, rc.Name)
		rates[rc.Name] = rc.Rate
	}
	return carriers, classes, rates, carrierRates
}

func mergeNames(a, b []string) []string {
	for _, n := range b {
		found := false
		for _, m := range a {
			found = found || m == n
		}
		if !found {
			a = append(a, n)
		}
	}
	return a
}

// carrierRuns returns the carriers' binds in force.
func (e *Engine) carrierRuns() []*carrierRun {
	e.carriersMu.RLock()
	defer e.carriersMu.RUnlock()
	return append([]*carrierRun(nil), e.carriers...)
}

// startBinds starts every carrier's binds (Run); the function it returns
// stops them, waits for their loops to end and ends reloads.
func (e *Engine) startBinds() func() {
	e.reload.mu.Lock()
	defer e.reload.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	e.reload.bindCtx = ctx
	for _, cr := range e.carrierRuns() {
		e.startCarrier(cr)
	}
	return func() {
		e.reload.mu.Lock()
		e.reload.stopped = true
		e.reload.mu.Unlock()
		cancel()
		e.reload.bindsWG.Wait()
	}
}

// startCarrier runs cr's binds until cr.stop or the engine stops them.
func (e *Engine) startCarrier(cr *carrierRun) {
	ctx, cancel := context.WithCancel(e.reload.bindCtx)
	cr.stop, cr.done = cancel, make(chan struct{})
	e.reload.bindsWG.Add(1)
	go func() {
		defer e.reload.bindsWG.Done()
		defer close(cr.done)
		cr.run(ctx)
	}()
}

// tuning is the part of k a running bind takes (smpp.Session.Tune).
func tuning(k *config.Carrier) smpp.Tuning {
	return smpp.Tuning{Window: k.Window, ResponseTimeout: k.ResponseTimeout.D(), EnquireLinkInterval: k.EnquireLinkInterval.D(),
		ReconnectMin: k.ReconnectMin.D(), ReconnectMax: k.ReconnectMax.D()}
}

// retune puts k (same connection settings) in force on cr's running binds;
// when k has fewer binds, the extra ones are drained and released in the
// background.
func (cr *carrierRun) retune(k *config.Carrier) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.cfg = k
	cr.rc = routingCarrier(k, cr.pool)
	t := tuning(k)
	for _, h := range cr.held {
		for _, s := range h.sessions {
			if err := s.Tune(t); err != nil {
				cr.e.log.Error("config reload: bind not retuned", zap.String("carrier", k.Name), zap.Error(err))
			}
		}
	}
	for i, h := range cr.held {
		if len(cr.held) <= k.Binds {
			break
		}
		delete(cr.held, i)
		go cr.release(i, h)
	}
}

// rebind drains cr's binds (within drain), releases their leases and binds
// again with cr.cfg, which the reload has set (retune).
func (cr *carrierRun) rebind(drain time.Duration) {
	cr.mu.Lock()
	held := cr.held
	cr.held = map[int]*heldSlot{}
	cr.mu.Unlock()
	var wg sync.WaitGroup
	for i, h := range held {
		wg.Add(1)
		go func() { defer wg.Done(); cr.releaseWithin(i, h, drain) }()
	}
	wg.Wait()
	cr.maintain(cr.e.reload.bindCtx, cr.e.slots.TTL())
}

// release drains a slot's binds and gives its lease back.
func (cr *carrierRun) release(i int, h *heldSlot) {
	cr.releaseWithin(i, h, cr.e.cfg.Engine.DrainTimeout.D())
}

func (cr *carrierRun) releaseWithin(i int, h *heldSlot, drain time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range h.sessions {
		cr.pool.Remove(s)
		wg.Add(1)
		go func() { defer wg.Done(); s.Close(ctx) }()
	}
	wg.Wait()
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer rcancel()
	cr.e.slots.Release(rctx, cr.name, i)
}

// levelCore is NewLogger's core: its level is an AtomicLevel a reload
// changes.
type levelCore struct {
	zapcore.Core
	level zap.AtomicLevel
}

func (c levelCore) With(f []zapcore.Field) zapcore.Core { return levelCore{c.Core.With(f), c.level} }

// NewLogger is the engine's logger: JSON lines on w, ISO 8601 times, at
// level (debug, info, warn, error; info when level is not one of them). An
// engine given this logger changes its level on a reload.
func NewLogger(level string, w io.Writer) *zap.Logger {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		lvl = zapcore.InfoLevel
	}
	al := zap.NewAtomicLevelAt(lvl)
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), al)
	return zap.New(levelCore{core, al})
}
