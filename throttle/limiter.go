package throttle

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed throttle.lua
var scriptSrc string

var script = redis.NewScript(scriptSrc)

// Client is the part of a Redis client the Limiter uses: *redis.Client,
// *redis.ClusterClient, *redis.Ring and redis.UniversalClient all satisfy it.
// EvalSha runs the script, Eval is the fallback when Redis has not cached it
// (NOSCRIPT), Pipeline sends a batch in one round trip (one per node on a
// cluster).
type Client interface {
	EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd
	Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd
	Pipeline() redis.Pipeliner
}

// Defaults for the zero values of Config and Adaptive.
const (
	DefaultPrefix   = "sb:throttle:"
	DefaultHorizon  = 30 * time.Second
	DefaultMaxSpan  = 60 * time.Second
	DefaultBackoff  = 0.5
	DefaultFloor    = 0.1
	DefaultRecovery = 60 * time.Second
	DefaultHold     = time.Second
)

// Config configures a Limiter. The zero value is valid: every zero field takes
// the default named after it. All engine processes sharing a Redis must use
// the same Prefix, Horizon, MaxSpan and Adaptive.Recovery: the quiet period
// after a loss of Redis's data is computed from Horizon+MaxSpan (doc.go).
type Config struct {
	// Prefix starts every key (DefaultPrefix). It must not contain '{' or
	// '}': the hash tag is the account (doc.go).
	Prefix string
	// Horizon is how far ahead a first segment may be booked (DefaultHorizon,
	// at most an hour). A request that would wait longer gets a
	// *HorizonError and takes nothing.
	Horizon time.Duration
	// MaxSpan is the most time from a reservation's first segment to its
	// last (DefaultMaxSpan, at most an hour). A request whose segments would
	// spread further at the current rates gets a *SpanError.
	MaxSpan time.Duration
	// Adaptive configures the slow-down after carrier throttling.
	Adaptive Adaptive
	// Logger gets one line each time Redis becomes unavailable or available
	// again (slog.Default() when nil).
	Logger *slog.Logger
	// OnHealthChange, when set, is called with each change of Healthy, in
	// order, from the goroutine whose call observed it. It must not call the
	// Limiter's methods that reach Redis.
	OnHealthChange func(healthy bool, err error)
}

// Adaptive configures the AIMD slow-down of Limiter.Throttled: each cut
// multiplies a bucket's rate fraction by Backoff, never below Floor; then the
// fraction grows back linearly, by 1/Recovery per second, to 1.
type Adaptive struct {
	Backoff  float64       // in (0, 1) (DefaultBackoff)
	Floor    float64       // in [0.001, 1] (DefaultFloor)
	Recovery time.Duration // time to regain the whole rate from 0, at most an hour (DefaultRecovery)
	Hold     time.Duration // cuts closer together than this count once (DefaultHold)
}

func (c *Config) fill() error {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(c.Prefix, "{}") {
		return invalidf("key prefix %q contains '{' or '}'", c.Prefix)
	}
	def := func(d *time.Duration, v time.Duration, name string, lo time.Duration) error {
		if *d == 0 {
			*d = v
		}
		if *d < lo || *d > time.Hour {
			return invalidf("%s %v outside [%v, 1h]", name, *d, lo)
		}
		return nil
	}
	a := &c.Adaptive
	if a.Backoff == 0 {
		a.Backoff = DefaultBackoff
	}
	if a.Floor == 0 {
		a.Floor = DefaultFloor
	}
	if !(a.Backoff > 0 && a.Backoff < 1) {
		return invalidf("adaptive backoff %v outside (0, 1)", a.Backoff)
	}
	if !(a.Floor >= 0.001 && a.Floor <= 1) {
		return invalidf("adaptive floor %v outside [0.001, 1]", a.Floor)
	}
	return errors.Join(
		def(&c.Horizon, DefaultHorizon, "horizon", time.Millisecond),
		def(&c.MaxSpan, DefaultMaxSpan, "max span", time.Millisecond),
		def(&a.Recovery, DefaultRecovery, "adaptive recovery", time.Millisecond),
		def(&a.Hold, DefaultHold, "adaptive hold", time.Microsecond),
	)
}

// Limiter takes tokens from token buckets kept in Redis, for any number of
// processes sharing that Redis: see doc.go for the semantics and the
// guarantee. Most callers want Reserve, then Reservation.Wait before sending.
// A Limiter is safe for concurrent use; make one per process and Redis.
type Limiter struct {
	c   Client
	cfg Config
	log *slog.Logger

	horizon, maxSpan, recovery, hold int64 // µs
	backoff, floor                   int64 // ppm

	healthMu  sync.Mutex // orders health transitions and their hook calls
	healthy   atomic.Bool
	lastErr   atomic.Pointer[error]
	downSince atomic.Int64 // UnixNano, 0 while healthy

	granted, segments, refused, cancelled, cuts, failures atomic.Int64

	now      func() time.Time
	newTimer func(time.Duration) (<-chan time.Time, func() bool)
}

// New returns a Limiter over c. It does not reach Redis: an unreachable Redis
// shows in the first call's error and in Healthy.
func New(c Client, cfg Config) (*Limiter, error) {
	if c == nil {
		return nil, invalidf("nil Redis client")
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	l := &Limiter{
		c:        c,
		cfg:      cfg,
		log:      cfg.Logger,
		horizon:  cfg.Horizon.Microseconds(),
		maxSpan:  cfg.MaxSpan.Microseconds(),
		recovery: cfg.Adaptive.Recovery.Microseconds(),
		hold:     cfg.Adaptive.Hold.Microseconds(),
		backoff:  int64(math.Round(cfg.Adaptive.Backoff * ppm)),
		floor:    int64(math.Round(cfg.Adaptive.Floor * ppm)),
		now:      time.Now,
		newTimer: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		},
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.healthy.Store(true)
	return l, nil
}

// Config returns the configuration in force, defaults filled in.
func (l *Limiter) Config() Config { return l.cfg }

// Key returns the Redis key of bucket b of account, for inspection.
func (l *Limiter) Key(account string, b Bucket) string {
	return bucketKey(l.cfg.Prefix, account, b.Level, b.ID)
}

// Reserve takes req.Cost tokens from every bucket of req atomically, in one
// round trip, and returns when each segment may be submitted. It never blocks
// for the tokens: it books them, and the Reservation tells how long to wait.
// Errors: ErrInvalid (bad request), ErrRefused (*HorizonError, *SpanError,
// *CapError: nothing taken), ErrUnavailable (Redis did not answer usably:
// nothing granted; some tokens may be spent, never more than the guarantee
// allows).
func (l *Limiter) Reserve(ctx context.Context, req Request) (*Reservation, error) {
	tok := newToken()
	keys, args, err := l.prepare(req, tok)
	if err != nil {
		return nil, err
	}
	cmd := l.c.EvalSha(ctx, script.Hash(), keys, args...)
	if isNoScript(cmd.Err()) {
		cmd = l.c.Eval(ctx, scriptSrc, keys, args...)
	}
	return l.finishReserve(ctx, req, keys, tok, cmd, l.now())
}

// BatchResult is one request's outcome in ReserveBatch: a Reservation or an
// error, as Reserve would return them.
type BatchResult struct {
	Reservation *Reservation
	Err         error
}

// ReserveBatch reserves for every request in one pipelined round trip (one
// per node on a cluster; a second one only when Redis had not cached the
// script). Each request is atomic on its own; the batch is not: results[i]
// is reqs[i]'s outcome, exactly as Reserve would give it.
func (l *Limiter) ReserveBatch(ctx context.Context, reqs []Request) []BatchResult {
	res := make([]BatchResult, len(reqs))
	type item struct {
		keys []string
		args []any
		tok  string
		cmd  *redis.Cmd
	}
	items := make([]item, len(reqs))
	pipe := l.c.Pipeline()
	n := 0
	for i, req := range reqs {
		tok := newToken()
		keys, args, err := l.prepare(req, tok)
		if err != nil {
			res[i].Err = err
			continue
		}
		items[i] = item{keys: keys, args: args, tok: tok, cmd: pipe.EvalSha(ctx, script.Hash(), keys, args...)}
		n++
	}
	if n == 0 {
		return res
	}
	_, _ = pipe.Exec(ctx) // errors are per command
	var retry redis.Pipeliner
	for i := range items {
		if it := &items[i]; it.cmd != nil && isNoScript(it.cmd.Err()) {
			if retry == nil {
				retry = l.c.Pipeline()
			}
			// NOSCRIPT: the script did not run, so running it now cannot
			// book twice.
			it.cmd = retry.Eval(ctx, scriptSrc, it.keys, it.args...)
		}
	}
	if retry != nil {
		_, _ = retry.Exec(ctx)
	}
	recv := l.now()
	for i, it := range items {
		if it.cmd != nil {
			res[i].Reservation, res[i].Err = l.finishReserve(ctx, reqs[i], it.keys, it.tok, it.cmd, recv)
		}
	}
	return res
}

// prepare validates req and returns the script's keys and arguments.
func (l *Limiter) prepare(req Request, tok string) ([]string, []any, error) {
	if err := req.validate(); err != nil {
		return nil, nil, err
	}
	keys := make([]string, 1, 1+len(req.Buckets))
	keys[0] = fenceKey(l.cfg.Prefix, req.Account)
	args := make([]any, 0, 7+3*len(req.Buckets))
	args = append(args, "reserve", req.Cost, l.horizon, l.maxSpan, tok, l.recovery, l.floor)
	for _, b := range req.Buckets {
		keys = append(keys, bucketKey(l.cfg.Prefix, req.Account, b.Level, b.ID))
		p := b.Limit.params()
		args = append(args, p.T, p.Tau, p.Cap)
	}
	return keys, args, nil
}

// finishReserve turns the script's reply into a Reservation or an error.
func (l *Limiter) finishReserve(ctx context.Context, req Request, keys []string, tok string, cmd *redis.Cmd, recv time.Time) (*Reservation, error) {
	v, err := cmd.Result()
	if err != nil {
		return nil, l.fail(ctx, err)
	}
	r, err := ints(v, 2, max(4, 2+req.Cost))
	if err != nil {
		return nil, l.fail(ctx, err)
	}
	code, now := r[0], r[1]
	bucket := func(j int64) (level, id string) {
		if j >= 1 && int(j) <= len(req.Buckets) {
			b := req.Buckets[j-1]
			return b.Level, b.ID
		}
		return "", ""
	}
	switch {
	case code == codeGranted && len(r) == 2+req.Cost:
		times := r[2:]
		if times[0] < now || times[len(times)-1] > now+l.horizon+l.maxSpan {
			break
		}
		for i := 1; i < len(times); i++ {
			if times[i] < times[i-1] {
				return nil, l.fail(ctx, fmt.Errorf("reply: segment times out of order: %v", times))
			}
		}
		l.ok()
		l.granted.Add(1)
		l.segments.Add(int64(req.Cost))
		return &Reservation{
			l: l, keys: keys[1:], token: tok, cost: req.Cost,
			server: times, serverNow: now, local: recv,
		}, nil
	case len(r) != 4:
	case code == codeHorizon:
		l.ok()
		l.refused.Add(1)
		lv, id := bucket(r[3])
		return nil, &HorizonError{Wait: micros(r[2]), Horizon: l.cfg.Horizon, Level: lv, ID: id}
	case code == codeSpan:
		l.ok()
		l.refused.Add(1)
		lv, id := bucket(r[3])
		return nil, &SpanError{Span: micros(r[2]), MaxSpan: l.cfg.MaxSpan, Level: lv, ID: id}
	case code == codeCap && r[3] >= 1 && int(r[3]) <= len(req.Buckets):
		l.ok()
		l.refused.Add(1)
		b := req.Buckets[r[3]-1]
		return nil, &CapError{Level: b.Level, ID: b.ID, Cap: b.Limit.DailyCap, ResetIn: micros(r[2])}
	}
	return nil, l.fail(ctx, fmt.Errorf("reply: unexpected reserve reply %v for cost %d", r, req.Cost))
}

// Throttled reports that the carrier answered throttled (0x58) or queue full
// (0x14) for bucket b of account: the bucket's effective rate is multiplied by
// Adaptive.Backoff (not below Adaptive.Floor of its configured rate), then
// recovers linearly over Adaptive.Recovery. Reports within Adaptive.Hold of
// the previous cut count once. The state is in Redis, so every process slows
// down together. It returns the effective rate now in force.
func (l *Limiter) Throttled(ctx context.Context, account string, b Bucket) (float64, error) {
	if err := errors.Join(validAccount(account), b.validate()); err != nil {
		return 0, err
	}
	cmd := l.run(ctx, []string{l.Key(account, b)}, "cut", l.backoff, l.floor, l.recovery, l.hold)
	r, err := l.reply(ctx, cmd, 3, 3)
	if err != nil {
		return 0, err
	}
	if r[2] < 1 || r[2] > ppm {
		return 0, l.fail(ctx, fmt.Errorf("reply: rate fraction %d ppm", r[2]))
	}
	if r[0] == 1 {
		l.cuts.Add(1)
	}
	l.ok()
	return b.Limit.Rate * float64(r[2]) / ppm, nil
}

// EffectiveRate returns bucket b's effective rate in segments per second: its
// configured rate, or less while it recovers from Throttled.
func (l *Limiter) EffectiveRate(ctx context.Context, account string, b Bucket) (float64, error) {
	if err := errors.Join(validAccount(account), b.validate()); err != nil {
		return 0, err
	}
	cmd := l.run(ctx, []string{l.Key(account, b)}, "rate", l.recovery)
	r, err := l.reply(ctx, cmd, 2, 2)
	if err != nil {
		return 0, err
	}
	if r[1] < 1 || r[1] > ppm {
		return 0, l.fail(ctx, fmt.Errorf("reply: rate fraction %d ppm", r[1]))
	}
	l.ok()
	return b.Limit.Rate * float64(r[1]) / ppm, nil
}

// AssumeIdle declares that no reservation of account is outstanding anywhere,
// so its buckets need no quiet period (doc.go, "Losing Redis's data"). Call
// it on a first deployment, or when every engine has been stopped for longer
// than Horizon+MaxSpan; calling it while another process holds reservations
// made on lost data voids the guarantee. It does nothing if account's fence
// exists, and reports whether it created it.
func (l *Limiter) AssumeIdle(ctx context.Context, account string) (bool, error) {
	if err := validAccount(account); err != nil {
		return false, err
	}
	cmd := l.run(ctx, []string{fenceKey(l.cfg.Prefix, account)}, "idle")
	v, err := cmd.Result()
	if err != nil {
		return false, l.fail(ctx, err)
	}
	n, ok := v.(int64)
	if !ok || (n != 0 && n != 1) {
		return false, l.fail(ctx, fmt.Errorf("reply: idle answered %T %v", v, v))
	}
	l.ok()
	return n == 1, nil
}

// Ping runs the script once (loading it into Redis's cache) and updates
// Healthy; an engine may call it periodically while Healthy is false.
func (l *Limiter) Ping(ctx context.Context) error {
	cmd := l.run(ctx, nil, "time")
	if _, err := l.reply(ctx, cmd, 1, 1); err != nil {
		return err
	}
	l.ok()
	return nil
}

// Healthy reports whether the last call that reached Redis got a usable
// answer. While it is false nothing is granted, and reservations not yet due
// are not released (Reservation.Wait fails): the engine sends nothing.
func (l *Limiter) Healthy() bool { return l.healthy.Load() }

// Stats are counters since the Limiter was made, and the health state, for
// the engine to export. They are a snapshot.
type Stats struct {
	Granted   int64 // reservations granted
	Segments  int64 // segments in them
	Refused   int64 // requests refused (horizon, span, daily cap)
	Cancelled int64 // reservations cancelled with at least one bucket restored
	Cuts      int64 // Throttled calls that cut a rate
	Failures  int64 // calls that failed for want of Redis
	Healthy   bool
	DownSince time.Time // when Healthy last became false; zero while healthy
	LastError error     // the last failure, nil if none yet
}

// Stats returns the counters.
func (l *Limiter) Stats() Stats {
	s := Stats{
		Granted: l.granted.Load(), Segments: l.segments.Load(), Refused: l.refused.Load(),
		Cancelled: l.cancelled.Load(), Cuts: l.cuts.Load(), Failures: l.failures.Load(),
		Healthy: l.healthy.Load(),
	}
	if ns := l.downSince.Load(); ns != 0 {
		s.DownSince = time.Unix(0, ns)
	}
	if e := l.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	return s
}

// run runs the script with EVALSHA, falling back to EVAL on NOSCRIPT.
func (l *Limiter) run(ctx context.Context, keys []string, args ...any) *redis.Cmd {
	cmd := l.c.EvalSha(ctx, script.Hash(), keys, args...)
	if isNoScript(cmd.Err()) {
		cmd = l.c.Eval(ctx, scriptSrc, keys, args...)
	}
	return cmd
}

// reply returns cmd's reply as integers, between lo and hi of them.
func (l *Limiter) reply(ctx context.Context, cmd *redis.Cmd, lo, hi int) ([]int64, error) {
	v, err := cmd.Result()
	if err != nil {
		return nil, l.fail(ctx, err)
	}
	r, err := ints(v, lo, hi)
	if err != nil {
		return nil, l.fail(ctx, err)
	}
	return r, nil
}

// ok records a usable answer from Redis.
func (l *Limiter) ok() {
	if l.healthy.Load() {
		return
	}
	l.healthMu.Lock()
	defer l.healthMu.Unlock()
	if l.healthy.Load() {
		return
	}
	down := time.Duration(0)
	if ns := l.downSince.Swap(0); ns != 0 {
		down = time.Since(time.Unix(0, ns)).Round(time.Millisecond)
	}
	l.healthy.Store(true)
	l.log.Info("throttle: Redis answers again; granting resumes", "down_for", down)
	if h := l.cfg.OnHealthChange; h != nil {
		h(true, nil)
	}
}

// fail records a failed call and returns the error to give the caller. A
// cancelled context is the caller's doing and says nothing about Redis.
func (l *Limiter) fail(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	l.failures.Add(1)
	l.lastErr.Store(&err)
	if !l.healthy.Load() {
		return err
	}
	l.healthMu.Lock()
	defer l.healthMu.Unlock()
	if l.healthy.Load() {
		l.downSince.Store(l.now().UnixNano())
		l.healthy.Store(false)
		l.log.Error("throttle: Redis unavailable; nothing is granted or sent until it answers (fail closed)", "err", err)
		if h := l.cfg.OnHealthChange; h != nil {
			h(false, err)
		}
	}
	return err
}

// ints checks that v is an array of lo to hi integers and returns them.
func ints(v any, lo, hi int) ([]int64, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("reply: got %T, want an array", v)
	}
	if len(a) < lo || len(a) > hi {
		return nil, fmt.Errorf("reply: got %d elements, want %d to %d", len(a), lo, hi)
	}
	r := make([]int64, len(a))
	for i, e := range a {
		n, ok := e.(int64)
		if !ok {
			return nil, fmt.Errorf("reply: element %d is %T, want an integer", i, e)
		}
		r[i] = n
	}
	return r, nil
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// newToken names one reservation so Cancel can tell it is still the latest
// in a bucket. 64 random bits: a collision needs ~4e9 live reservations.
func newToken() string { return strconv.FormatUint(rand.Uint64(), 36) }
