package ratelimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/internal/redisscript"
)

//go:embed ratelimit.lua
var scriptSrc string

var script = redisscript.New(scriptSrc)

// Client is the part of a Redis client the Limiter uses: *redis.Client,
// *redis.ClusterClient, *redis.Ring and redis.UniversalClient all satisfy
// it. Grants go out in pipelines: EVALSHA, and EVAL when Redis has not
// cached the script (NOSCRIPT).
type Client interface {
	Pipeline() redis.Pipeliner
}

// Defaults for the zero values of Config.
const (
	DefaultPrefix  = "sb:ratelimit:"
	DefaultGrant   = 100 * time.Millisecond
	DefaultTimeout = 250 * time.Millisecond
	DefaultRetry   = time.Second
)

// Bounds of Config.Grant and of a rate.
const (
	MinGrant = time.Millisecond
	MaxGrant = time.Second
	MaxRate  = 1000000
)

// Config configures a Limiter. The zero value is valid: every zero field
// takes the default named after it. All processes sharing a Redis must use
// the same Prefix; Grant may differ (each process's own slack).
type Config struct {
	// Prefix starts every key (DefaultPrefix). It must not contain '{' or
	// '}': the hash tag is the bucket.
	Prefix string
	// Grant is the lifetime of a grant (DefaultGrant, MinGrant to
	// MaxGrant): a process asks Redis for Grant's worth of a bucket's
	// rate at once (at least one unit) and spends it within Grant, then
	// drops what is left. It bounds both the Redis calls (at most about
	// one per Grant per busy bucket and process) and the slack of the
	// guarantee (doc.go).
	Grant time.Duration
	// Timeout bounds each Redis call (DefaultTimeout); past it the call
	// has failed.
	Timeout time.Duration
	// Retry is how long the Limiter fails open after a failed call
	// before it asks Redis again (DefaultRetry).
	Retry time.Duration
	// Logger gets one line when Redis stops answering (the Limiter then
	// fails open; error level, fields error and retry_every) and one when
	// it answers again (info, field down_for). Nil is silent (zap.NewNop).
	Logger *zap.Logger
}

func (c *Config) fill() error {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(c.Prefix, "{}") {
		return fmt.Errorf("ratelimit: key prefix %q contains '{' or '}'", c.Prefix)
	}
	if c.Grant == 0 {
		c.Grant = DefaultGrant
	}
	if c.Grant < MinGrant || c.Grant > MaxGrant {
		return fmt.Errorf("ratelimit: grant %v outside [%v, %v]", c.Grant, MinGrant, MaxGrant)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Retry <= 0 {
		c.Retry = DefaultRetry
	}
	return nil
}

// Key names a bucket: a kind of unit and whose budget it is (for the API,
// "requests" or "messages" and a workspace id). Kind must not contain '{'
// or '}'; use constant strings, so that building a Key allocates nothing.
type Key struct {
	Kind string
	ID   int64
}

// Result is the answer of Take.
type Result struct {
	// Granted is how many of the units asked for were granted, 0 to n.
	Granted int
	// Remaining is what the bucket holds after this Take, as far as this
	// process knows: its own unspent grant plus what Redis held at its
	// last grant (other processes may have taken some since). 0 to the
	// burst.
	Remaining int
	// Reset is how long until the bucket is full again, if nothing more
	// is taken.
	Reset time.Duration
	// RetryAfter, when Granted < n, is how long until the bucket holds a
	// unit again; 0 otherwise.
	RetryAfter time.Duration
	// FailOpen: Redis could not be asked, and the units were granted
	// without a check.
	FailOpen bool
}

// Limiter takes units from token buckets shared through Redis by every
// process, spending most of them from grants held locally: see doc.go for
// the semantics, the guarantee and the cost. A Limiter is safe for
// concurrent use; make one per process and Redis.
type Limiter struct {
	c   Client
	cfg Config

	buckets sync.Map // Key → *bucket
	swept   atomic.Int64
	asks    asks

	downUntil atomic.Int64 // UnixNano: fail open without asking Redis until then
	health    redisscript.Health

	calls, granted, refused, failOpen atomic.Int64
}

// bucket is what this process holds of one Key.
type bucket struct {
	mu      sync.Mutex
	rate    int       // the rate the state below is for; a new rate starts afresh
	tokens  int       // granted by Redis, not spent yet
	expires time.Time // tokens may be spent until then
	left    int       // what Redis held after the last grant
	full    time.Time // when the bucket is full again, as of the last grant
	empty   time.Time // Redis held less than a unit: refuse without asking until then
	pending chan struct{}
	used    time.Time // the last Take, for the sweep
}

// New returns a Limiter over c. It does not reach Redis.
func New(c Client, cfg Config) (*Limiter, error) {
	if c == nil {
		return nil, errors.New("ratelimit: nil Redis client")
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	l := &Limiter{c: c, cfg: cfg}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	l.health.OnChange = func(healthy bool, err error, downFor time.Duration) {
		if healthy {
			log.Info("ratelimit: Redis answers again; API rate limits are enforced again",
				zap.Duration("down_for", downFor.Round(time.Millisecond)))
		} else {
			log.Error("ratelimit: Redis unavailable; API rate limits are not enforced until it answers (fail open)",
				zap.Error(err), zap.Duration("retry_every", cfg.Retry))
		}
	}
	return l, nil
}

// Config returns the configuration in force, defaults filled in.
func (l *Limiter) Config() Config { return l.cfg }

// RedisKey returns the Redis key of k's bucket, for inspection.
func (l *Limiter) RedisKey(k Key) string {
	return l.cfg.Prefix + "{" + k.Kind + ":" + strconv.FormatInt(k.ID, 10) + "}"
}

// grantSize is how many units a process asks for at once at rate: the
// rate's worth of one Grant, at least 1.
func (l *Limiter) grantSize(rate int) int {
	return max(1, int(math.Ceil(float64(rate)*l.cfg.Grant.Seconds())))
}

// Take takes up to n units from k's bucket, whose limit is rate units per
// second in bursts of up to rate (a token bucket holding one second's
// worth). It grants what the bucket holds, up to n: all of them, some (a
// batch) or none. Most calls spend from this process's grant and reach no
// Redis; one that finds it spent asks Redis for another (concurrent calls
// on the same bucket wait for that one answer). A bucket found empty is
// not asked again until it holds a unit.
//
// rate <= 0 means no limit: everything is granted, nothing is counted. n
// <= 0 grants nothing and counts nothing. When Redis cannot be asked, the
// units are granted (FailOpen) and Redis is not asked again for
// Config.Retry. ctx bounds the wait for another call's answer.
func (l *Limiter) Take(ctx context.Context, k Key, rate, n int) Result {
	if rate <= 0 || n <= 0 {
		return Result{Granted: max(n, 0)}
	}
	rate = min(rate, MaxRate)
	v, ok := l.buckets.Load(k)
	if !ok {
		v, _ = l.buckets.LoadOrStore(k, &bucket{})
	}
	b := v.(*bucket)
	now := time.Now()
	b.mu.Lock()
	b.used = now
	if b.rate != rate {
		b.reset(rate)
	}
	got := 0
	for {
		if now.Before(b.expires) {
			take := min(b.tokens, n-got)
			b.tokens -= take
			got += take
		} else {
			b.tokens = 0
		}
		if got == n {
			r := b.result(got, now)
			b.mu.Unlock()
			l.granted.Add(int64(got))
			return r
		}
		if now.Before(b.empty) {
			r := b.result(got, now)
			r.RetryAfter = b.empty.Sub(now)
			b.mu.Unlock()
			l.granted.Add(int64(got))
			l.refused.Add(int64(n - got))
			return r
		}
		if now.UnixNano() < l.downUntil.Load() {
			b.mu.Unlock()
			return l.openResult(n, rate)
		}
		if ch := b.pending; ch != nil {
			// Another call is asking Redis for this bucket: wait for it.
			b.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				l.granted.Add(int64(got))
				l.refused.Add(int64(n - got))
				return Result{Granted: got, Remaining: 0, Reset: time.Second, RetryAfter: l.cfg.Grant}
			}
			now = time.Now()
			b.mu.Lock()
			if b.rate != rate {
				// The limit changed meanwhile: what was taken stays
				// taken, the rest comes from the new limit.
				b.reset(rate)
			}
			continue
		}
		ch := make(chan struct{})
		b.pending = ch
		want := max(l.grantSize(rate), n-got)
		b.mu.Unlock()
		start := time.Now()
		g, err := l.ask(k, rate, want)
		now = time.Now()
		b.mu.Lock()
		b.pending = nil
		close(ch)
		if err != nil {
			b.mu.Unlock()
			l.granted.Add(int64(got))
			return l.openResult(n-got, rate).plus(got)
		}
		if b.rate != rate {
			// Another call changed the limit while this one asked.
			b.reset(rate)
		}
		// The grant was made after start: counting its lifetime from
		// start keeps every unit spent within Grant of its grant.
		b.tokens, b.expires = g.granted, start.Add(l.cfg.Grant)
		b.left = g.left
		b.full = now.Add(g.full)
		b.empty = time.Time{}
		if g.left < 1 {
			// Empty: ask again once a grant's worth is back, not every
			// unit, so an overloaded bucket costs a Redis call per Grant.
			refill := g.wait + time.Duration(l.grantSize(rate)-1)*unitCost(rate)
			b.empty = now.Add(max(refill, time.Millisecond))
		}
	}
}

// reset starts the bucket afresh at a new rate (b.mu is held): what was
// granted under the old rate is dropped.
func (b *bucket) reset(rate int) {
	b.rate, b.tokens, b.left = rate, 0, rate
	b.expires, b.full, b.empty = time.Time{}, time.Time{}, time.Time{}
}

// result is the answer for got units granted at now; b.mu is held.
func (b *bucket) result(got int, now time.Time) Result {
	rem := 0
	if now.Before(b.expires) {
		rem = b.tokens
	}
	rem = min(rem+b.left, b.rate)
	var reset time.Duration
	if rem < b.rate {
		// What is missing refills at rate; never sooner than Redis said.
		reset = time.Duration(int64(b.rate-rem) * int64(time.Second) / int64(b.rate))
		reset = max(reset, b.full.Sub(now))
	}
	return Result{Granted: got, Remaining: rem, Reset: reset}
}

// unitCost is the time a unit takes to refill at rate, rounded up to the
// µs as the script rounds it.
func unitCost(rate int) time.Duration {
	return time.Duration((1000000+rate-1)/rate) * time.Microsecond
}

// openResult grants n units without a check (Redis is unavailable).
func (l *Limiter) openResult(n, rate int) Result {
	l.failOpen.Add(int64(n))
	l.granted.Add(int64(n))
	return Result{Granted: n, Remaining: rate, FailOpen: true}
}

func (r Result) plus(got int) Result {
	r.Granted += got
	return r
}

// grant is the script's answer.
type grant struct {
	granted, left int
	wait, full    time.Duration
}

// askReq is one bucket's request for a grant, waiting for a pipeline.
type askReq struct {
	key        string
	rate, want int
	g          grant
	err        error
	// wake says the request is answered (false) or that its caller now
	// runs the next pipeline (true).
	wake chan bool
}

// asks queues the requests for grants: the first caller that finds no
// pipeline in flight runs one with everything queued (group commit), so
// concurrent grants of many buckets share one round trip, one write and
// one read. A lone request costs one round trip, no added delay.
type asks struct {
	mu    sync.Mutex
	queue []*askReq
	busy  bool // a caller is running a pipeline
}

// ask asks Redis for up to want units of k's bucket.
func (l *Limiter) ask(k Key, rate, want int) (grant, error) {
	r := &askReq{key: l.RedisKey(k), rate: rate, want: want, wake: make(chan bool, 1)}
	q := &l.asks
	q.mu.Lock()
	q.queue = append(q.queue, r)
	lead := !q.busy
	q.busy = true
	q.mu.Unlock()
	if !lead {
		lead = <-r.wake
	}
	if lead {
		q.mu.Lock()
		batch := q.queue
		q.queue = nil
		q.mu.Unlock()
		l.run(batch)
		// Hand over: the first request queued meanwhile runs the next
		// pipeline, so this caller returns with its own answer.
		q.mu.Lock()
		if len(q.queue) > 0 {
			q.queue[0].wake <- true
		} else {
			q.busy = false
		}
		q.mu.Unlock()
		// A leader's own request was queued before it took the queue, so
		// it is answered now.
	}
	return r.g, r.err
}

// run sends one pipeline of grant requests and answers each.
func (l *Limiter) run(batch []*askReq) {
	l.calls.Add(int64(len(batch)))
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
	defer cancel()
	calls := make([]redisscript.Call, len(batch))
	for i, r := range batch {
		calls[i] = redisscript.Call{Keys: []string{r.key}, Args: []any{r.rate, r.rate, r.want}}
	}
	script.RunBatch(ctx, l.c, calls)
	good := false
	var bad error
	for i, r := range batch {
		r.g, r.err = parseGrant(calls[i].Cmd, r.rate, r.want)
		if r.err != nil {
			bad = r.err
		} else {
			good = true
		}
		r.wake <- false
	}
	if good {
		l.ok()
		l.sweep()
	}
	if bad != nil {
		l.fail(bad)
	}
}

// parseGrant checks the script's answer.
func parseGrant(cmd *redis.Cmd, rate, want int) (grant, error) {
	v, err := cmd.Result()
	if err != nil {
		return grant{}, err
	}
	r, err := redisscript.Ints(v, 4, 4)
	if err != nil {
		return grant{}, err
	}
	if r[0] < 0 || r[0] > int64(want) || r[1] < 0 || r[2] < 0 || r[3] < 0 {
		return grant{}, fmt.Errorf("reply %v out of range", r)
	}
	return grant{granted: int(r[0]), left: int(min(r[1], int64(rate))),
		wait: time.Duration(r[2]) * time.Microsecond, full: time.Duration(r[3]) * time.Microsecond}, nil
}

// ok records a usable answer from Redis.
func (l *Limiter) ok() { l.health.Up() }

// fail records a failed call: fail open for Config.Retry.
func (l *Limiter) fail(err error) {
	l.downUntil.Store(time.Now().Add(l.cfg.Retry).UnixNano())
	l.health.Down(err)
}

// sweepEvery is how often (at most) a Redis answer also drops the buckets
// idle for sweepIdle, so a process keeps only the buckets in use.
const (
	sweepEvery = 10 * time.Second
	sweepIdle  = time.Minute
)

func (l *Limiter) sweep() {
	now := time.Now()
	last := l.swept.Load()
	if now.UnixNano()-last < int64(sweepEvery) || !l.swept.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	l.buckets.Range(func(k, v any) bool {
		b := v.(*bucket)
		b.mu.Lock()
		if now.Sub(b.used) > sweepIdle && b.pending == nil {
			l.buckets.Delete(k)
		}
		b.mu.Unlock()
		return true
	})
}

// Healthy reports whether the last call that reached Redis got a usable
// answer. While it is false, units are granted without a check.
func (l *Limiter) Healthy() bool { return l.health.Healthy() }

// Stats are counters since the Limiter was made, for the engine to export.
type Stats struct {
	Calls    int64 // script calls made to Redis
	Granted  int64 // units granted (FailOpen ones included)
	Refused  int64 // units refused
	FailOpen int64 // units granted without a check, Redis being unavailable
	Failures int64 // Redis calls that failed
	Healthy  bool
}

// Stats returns the counters.
func (l *Limiter) Stats() Stats {
	return Stats{Calls: l.calls.Load(), Granted: l.granted.Load(), Refused: l.refused.Load(),
		FailOpen: l.failOpen.Load(), Failures: l.health.Failures(), Healthy: l.health.Healthy()}
}
