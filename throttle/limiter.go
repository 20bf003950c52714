package throttle

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/internal/redisscript"
)

//go:embed throttle.lua
var scriptSrc string

var script = redisscript.New(scriptSrc)

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
	DefaultMargin   = 10 * time.Millisecond
	DefaultBackoff  = 0.5
	DefaultFloor    = 0.1
	DefaultRecovery = 60 * time.Second
	DefaultHold     = time.Second
)

// NoMargin as Config.Margin asks for no margin at all (the zero value means
// DefaultMargin).
const NoMargin time.Duration = -1

// MaxMargin is the largest Config.Margin.
const MaxMargin = 10 * time.Second

// Config configures a Limiter. The zero value is valid: every zero field takes
// the default named after it. All engine processes sharing a Redis must use
// the same Prefix, Margin and Adaptive.
type Config struct {
	// Prefix starts every key (DefaultPrefix). It must not contain '{' or
	// '}': the hash tag is the account (doc.go).
	Prefix string
	// Margin widens every Sliding window: a bucket grants at most N
	// segments in any Interval+Margin of the Redis clock. It covers the
	// spread between the time Redis granted a segment and the time the
	// carrier counts its submit (doc.go). Zero means DefaultMargin,
	// NoMargin none; at most MaxMargin. Bucket mode ignores it.
	Margin time.Duration
	// Adaptive configures the slow-down after carrier throttling.
	Adaptive Adaptive
	// Logger gets one line each time Redis becomes unavailable (error
	// level, field error) or available again (info, field down_for). Nil
	// is silent (zap.NewNop).
	Logger *zap.Logger
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
	if c.Margin == 0 {
		c.Margin = DefaultMargin
	}
	if c.Margin < 0 && c.Margin != NoMargin || c.Margin > MaxMargin {
		return invalidf("margin %v outside [0, %v] (NoMargin for none)", c.Margin, MaxMargin)
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
		def(&a.Recovery, DefaultRecovery, "adaptive recovery", time.Millisecond),
		def(&a.Hold, DefaultHold, "adaptive hold", time.Microsecond),
	)
}

// Limiter grants segments just in time from buckets kept in Redis, for any
// number of processes sharing that Redis: see doc.go for the semantics and
// the guarantee. A Limiter is safe for concurrent use; make one per process
// and Redis.
type Limiter struct {
	c   Client
	cfg Config

	margin, recovery, hold int64 // µs
	backoff, floor         int64 // ppm

	health redisscript.Health

	takes, granted, quiet, returned, cuts atomic.Int64
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
		margin:   max(cfg.Margin, 0).Microseconds(),
		recovery: cfg.Adaptive.Recovery.Microseconds(),
		hold:     cfg.Adaptive.Hold.Microseconds(),
		backoff:  int64(math.Round(cfg.Adaptive.Backoff * ppm)),
		floor:    int64(math.Round(cfg.Adaptive.Floor * ppm)),
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	hook := cfg.OnHealthChange
	l.health.OnChange = func(healthy bool, err error, downFor time.Duration) {
		if healthy {
			log.Info("throttle: Redis answers again; granting resumes", zap.Duration("down_for", downFor.Round(time.Millisecond)))
		} else {
			log.Error("throttle: Redis unavailable; nothing is granted or sent until it answers (fail closed)", zap.Error(err))
		}
		if hook != nil {
			hook(healthy, err)
		}
	}
	return l, nil
}

const ppm = 1000000 // rate fractions are in parts per million

// Config returns the configuration in force, defaults filled in.
func (l *Limiter) Config() Config { return l.cfg }

// Key returns the Redis key of a number's bucket of account, or of the
// account's own bucket when number is "", for inspection.
func (l *Limiter) Key(account, number string) string {
	if number == "" {
		return accountKey(l.cfg.Prefix, account)
	}
	return numberKey(l.cfg.Prefix, account, number)
}

// Want is one sender number in a Take.
type Want struct {
	// Number is the number's bucket id (its E.164); unique within a Take.
	Number string
	// Limit is how the carrier counts the number's segments.
	Limit Limit
	// Weight is the number's share of the account's room when that is
	// short of what the numbers could take (0 means 1; at most MaxWeight).
	Weight float64
	// Max is how many segments the number wants now, >= 0.
	Max int
}

// Grant is what one Want got.
type Grant struct {
	// N segments are granted now, 0 to Max: write them at once.
	N int
	// Wait, when N < Max, is the time until the number itself has room for
	// one more segment: 0 when it has room now and only the account held it
	// back (see TakeResult.AccountWait). It is 0 when N == Max.
	Wait time.Duration
}

// TakeResult is the outcome of a Take.
type TakeResult struct {
	// Grants has one Grant per Want, in the same order.
	Grants []Grant
	// AccountWait is the time until the account has room for one more
	// segment (0 if it has room now).
	AccountWait time.Duration
	// Quiet, when > 0, says the account is in a quiet period (doc.go,
	// "Losing Redis's data"): nothing was granted; take again after it.
	Quiet time.Duration
	// Now is Redis's clock when the script ran: the time of every grant.
	Now time.Time
}

// Granted is the sum of the grants.
func (r TakeResult) Granted() int {
	n := 0
	for _, g := range r.Grants {
		n += g.N
	}
	return n
}

// Take grants, for each Want, what can leave now: up to Max segments within
// the number's limit, all of them within the account's limit acct, the
// account's room shared by weighted max-min fairness when it is short. It
// takes from every number's bucket and the account's atomically, in one
// script call. Write what is granted at once; give back what will not be
// written with Return.
//
// Errors: ErrInvalid (bad arguments: nothing reached Redis), ErrUnavailable
// (Redis did not answer usably: nothing granted, though some segments may
// have been taken, never more than the guarantee allows).
func (l *Limiter) Take(ctx context.Context, account string, acct Limit, wants []Want) (TakeResult, error) {
	keys, args, err := l.prepareTake(account, acct, wants)
	if err != nil {
		return TakeResult{}, err
	}
	return l.finishTake(ctx, acct, wants, l.run(ctx, keys, args...))
}

// TakeRequest is one account's Take in TakeBatch.
type TakeRequest struct {
	Account string
	Limit   Limit // the account's
	Wants   []Want
}

// TakeOutcome is one request's outcome in TakeBatch, as Take would return it.
type TakeOutcome struct {
	TakeResult
	Err error
}

// TakeBatch takes for several accounts in one pipelined round trip (one per
// node on a cluster; a second one only when Redis had not cached the
// script). Each request is atomic on its own; the batch is not: outcome i is
// reqs[i]'s, exactly as Take would give it.
func (l *Limiter) TakeBatch(ctx context.Context, reqs []TakeRequest) []TakeOutcome {
	out := make([]TakeOutcome, len(reqs))
	calls := make([]redisscript.Call, 0, len(reqs))
	index := make([]int, 0, len(reqs)) // calls[k] is reqs[index[k]]'s
	for i, r := range reqs {
		keys, args, err := l.prepareTake(r.Account, r.Limit, r.Wants)
		if err != nil {
			out[i].Err = err
			continue
		}
		calls = append(calls, redisscript.Call{Keys: keys, Args: args})
		index = append(index, i)
	}
	script.RunBatch(ctx, l.c, calls)
	for k, c := range calls {
		i := index[k]
		out[i].TakeResult, out[i].Err = l.finishTake(ctx, reqs[i].Limit, reqs[i].Wants, c.Cmd)
	}
	return out
}

// prepareTake validates a Take and returns the script's keys and arguments.
func (l *Limiter) prepareTake(account string, acct Limit, wants []Want) ([]string, []any, error) {
	if err := validAccount(account); err != nil {
		return nil, nil, err
	}
	if err := acct.validate(); err != nil {
		return nil, nil, fmt.Errorf("account %q: %w", account, err)
	}
	if len(wants) > MaxWants {
		return nil, nil, invalidf("%d wants in one Take: at most %d", len(wants), MaxWants)
	}
	keys := make([]string, 2, 2+len(wants)+1)
	keys[0], keys[1] = fenceKey(l.cfg.Prefix, account), accountKey(l.cfg.Prefix, account)
	// Log lists go after the buckets: want i's bucket is KEYS[2+i].
	var logs []string
	logIndex := func(lim Limit, number string) int {
		if !lim.listed() {
			return 0
		}
		logs = append(logs, logKey(l.cfg.Prefix, account, number))
		return 2 + len(wants) + len(logs)
	}
	args := make([]any, 0, 3+7*(1+len(wants)))
	args = append(args, "take", l.margin, l.recovery)
	args = acct.args(args, "1", 0, logIndex(acct, ""))
	var seen map[string]struct{}
	if len(wants) > 1 {
		seen = make(map[string]struct{}, len(wants))
	}
	for i, w := range wants {
		if err := validNumber(w.Number); err != nil {
			return nil, nil, fmt.Errorf("want %d: %w", i, err)
		}
		if err := w.Limit.validate(); err != nil {
			return nil, nil, fmt.Errorf("want %d (%s): %w", i, w.Number, err)
		}
		if w.Max < 0 {
			return nil, nil, invalidf("want %d (%s): max %d < 0", i, w.Number, w.Max)
		}
		weight := w.Weight
		if weight == 0 {
			weight = 1
		}
		if !(weight > 0 && weight <= MaxWeight) {
			return nil, nil, invalidf("want %d (%s): weight %v outside (0, %v]", i, w.Number, w.Weight, float64(MaxWeight))
		}
		if seen != nil {
			if _, dup := seen[w.Number]; dup {
				return nil, nil, invalidf("want %d: number %q appears twice in one Take", i, w.Number)
			}
			seen[w.Number] = struct{}{}
		}
		keys = append(keys, numberKey(l.cfg.Prefix, account, w.Number))
		// More than most could never be granted; one more still says the
		// number wanted more than it got (then the script works out Wait).
		args = w.Limit.args(args, strconv.FormatFloat(weight, 'g', -1, 64), min(w.Max, w.Limit.most()+1), logIndex(w.Limit, w.Number))
	}
	return append(keys, logs...), args, nil
}

// maxWait bounds every wait a reply may carry: an interval stretched by the
// lowest rate fraction, plus the margin and a bucket's spread, with room
// to spare.
const maxWait = int64(MaxInterval/time.Microsecond)*1000 + 2*int64(MaxMargin/time.Microsecond)

// finishTake checks the script's reply and turns it into a TakeResult.
func (l *Limiter) finishTake(ctx context.Context, acct Limit, wants []Want, cmd *redis.Cmd) (TakeResult, error) {
	m := len(wants)
	r, err := l.reply(ctx, cmd, 3+2*m, 3+2*m)
	if err != nil {
		return TakeResult{}, err
	}
	bad := func(format string, args ...any) (TakeResult, error) {
		return TakeResult{}, l.fail(ctx, fmt.Errorf("reply: "+format, args...))
	}
	now, quiet, aw := r[0], r[1], r[2]
	if now <= 0 || quiet < 0 || quiet > maxWait || aw < 0 || aw > maxWait {
		return bad("take answered now %d, quiet %d, account wait %d", now, quiet, aw)
	}
	res := TakeResult{Grants: make([]Grant, m), AccountWait: micros(aw), Quiet: micros(quiet), Now: time.UnixMicro(now)}
	sum := 0
	for i, w := range wants {
		g, wt := r[3+2*i], r[4+2*i]
		if g < 0 || g > int64(min(w.Max, w.Limit.most())) || wt < 0 || wt > maxWait {
			return bad("want %d (max %d): granted %d, wait %d", i, w.Max, g, wt)
		}
		if quiet > 0 && g != 0 {
			return bad("granted %d in a quiet period", g)
		}
		res.Grants[i] = Grant{N: int(g), Wait: micros(wt)}
		sum += int(g)
	}
	if sum > acct.most() {
		return bad("granted %d in all, more than the account's %d", sum, acct.most())
	}
	l.ok()
	l.takes.Add(1)
	l.granted.Add(int64(sum))
	if quiet > 0 {
		l.quiet.Add(1)
	}
	return res, nil
}

// Return gives back n segments that a Take granted number (and account) at
// time at (that Take's TakeResult.Now) and that were never written, e.g.
// because the bind dropped before the write. Pass the limits that Take had.
// It is best effort: in Sliding mode the segments are given back while that
// grant is still in the window; in Bucket mode only while that Take is the
// latest to have taken from the bucket. Elsewhere they stay taken. n must
// not exceed what that Take granted the number: then a window never holds
// more than N segments that were written.
func (l *Limiter) Return(ctx context.Context, account string, acct Limit, number string, lim Limit, n int, at time.Time) error {
	if err := errors.Join(validAccount(account), validNumber(number), acct.validate(), lim.validate()); err != nil {
		return err
	}
	if n < 0 || n > MaxN {
		return invalidf("return of %d segments: want 0 to %d", n, MaxN)
	}
	if at.IsZero() || at.UnixMicro() <= 0 {
		return invalidf("return at %v: pass the TakeResult.Now of the Take that granted them", at)
	}
	if n == 0 {
		return nil
	}
	keys := []string{accountKey(l.cfg.Prefix, account), numberKey(l.cfg.Prefix, account, number)}
	li := [2]int{}
	if acct.listed() {
		keys = append(keys, logKey(l.cfg.Prefix, account, ""))
		li[0] = len(keys)
	}
	if lim.listed() {
		keys = append(keys, logKey(l.cfg.Prefix, account, number))
		li[1] = len(keys)
	}
	cmd := l.run(ctx, keys, "give", at.UnixMicro(), n, li[0], li[1])
	r, err := l.reply(ctx, cmd, 2, 2)
	if err != nil {
		return err
	}
	if r[0] < 0 || r[0] > int64(n) || r[1] < 0 || r[1] > int64(n) {
		return l.fail(ctx, fmt.Errorf("reply: give answered %v for %d", r, n))
	}
	l.ok()
	l.returned.Add(r[1])
	return nil
}

// Throttled reports that the carrier answered throttled (0x58) or queue full
// (0x14) for number of account, or for the account itself when number is "":
// that bucket's rate fraction is multiplied by Adaptive.Backoff (not below
// Adaptive.Floor), then recovers linearly to 1 over Adaptive.Recovery.
// Reports within Adaptive.Hold of the previous cut count once. The state is in
// Redis, so every process slows down together. lim is the bucket's Limit; the
// result is its effective rate now in force, in segments per second.
func (l *Limiter) Throttled(ctx context.Context, account, number string, lim Limit) (float64, error) {
	key, err := l.bucket(account, number, lim)
	if err != nil {
		return 0, err
	}
	cmd := l.run(ctx, []string{key}, "cut", l.backoff, l.floor, l.recovery, l.hold)
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
	return lim.Rate() * float64(r[2]) / ppm, nil
}

// EffectiveRate returns the effective rate, in segments per second, of
// number's bucket of account (the account's own when number is ""): lim's
// rate, or less while it recovers from Throttled.
func (l *Limiter) EffectiveRate(ctx context.Context, account, number string, lim Limit) (float64, error) {
	key, err := l.bucket(account, number, lim)
	if err != nil {
		return 0, err
	}
	cmd := l.run(ctx, []string{key}, "rate", l.recovery)
	r, err := l.reply(ctx, cmd, 2, 2)
	if err != nil {
		return 0, err
	}
	if r[1] < 1 || r[1] > ppm {
		return 0, l.fail(ctx, fmt.Errorf("reply: rate fraction %d ppm", r[1]))
	}
	l.ok()
	return lim.Rate() * float64(r[1]) / ppm, nil
}

func (l *Limiter) bucket(account, number string, lim Limit) (string, error) {
	if err := validAccount(account); err != nil {
		return "", err
	}
	if len(number) > maxNumber {
		return "", validNumber(number)
	}
	if err := lim.validate(); err != nil {
		return "", err
	}
	return l.Key(account, number), nil
}

// AssumeIdle declares that nothing of account was sent within its longest
// interval, so it needs no quiet period (doc.go, "Losing Redis's data"): it
// creates the account's fence without one, or ends the quiet period in
// force. Call it when the record of what was sent (PostgreSQL) shows that,
// e.g. on a first deployment; declaring it while segments granted on lost
// state may still count at the carrier voids the guarantee. It reports
// whether it changed anything.
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

// QuietUntil returns when account's quiet period ends, on the Redis clock, or
// the zero time when none is in force. (With no fence at all, the next Take
// starts one, unless AssumeIdle comes first.)
func (l *Limiter) QuietUntil(ctx context.Context, account string) (time.Time, error) {
	if err := validAccount(account); err != nil {
		return time.Time{}, err
	}
	cmd := l.run(ctx, []string{fenceKey(l.cfg.Prefix, account)}, "quiet")
	r, err := l.reply(ctx, cmd, 3, 3)
	if err != nil {
		return time.Time{}, err
	}
	if r[0] <= 0 || r[1] < 0 {
		return time.Time{}, l.fail(ctx, fmt.Errorf("reply: quiet answered %v", r))
	}
	l.ok()
	if r[1] <= r[0] {
		return time.Time{}, nil
	}
	return time.UnixMicro(r[1]), nil
}

// Spread returns the spread remembered for account (RememberSpread), 0
// when none is (never, or it expired).
func (l *Limiter) Spread(ctx context.Context, account string) (time.Duration, error) {
	if err := validAccount(account); err != nil {
		return 0, err
	}
	r, err := l.reply(ctx, l.run(ctx, []string{spreadKey(l.cfg.Prefix, account)}, "spread"), 1, 1)
	if err != nil {
		return 0, err
	}
	l.ok()
	return micros(r[0]), nil
}

// RememberSpread remembers d as account's spread for ttl, for every
// process sharing the Redis and the Prefix and for the next start: how
// much later than the margin allows the account's carrier was seen to
// count our writes (the engine's dispatcher learns it from refusals and
// checks its writes with it; routing.SpreadMemory). A larger spread
// remembered already stays, its ttl renewed. It returns the spread
// remembered now.
func (l *Limiter) RememberSpread(ctx context.Context, account string, d, ttl time.Duration) (time.Duration, error) {
	if err := validAccount(account); err != nil {
		return 0, err
	}
	if d <= 0 || ttl < time.Millisecond {
		return 0, invalidf("spread %v for %v: both must be positive (ttl at least 1 ms)", d, ttl)
	}
	cmd := l.run(ctx, []string{spreadKey(l.cfg.Prefix, account)}, "spread", d.Microseconds(), ttl.Milliseconds())
	r, err := l.reply(ctx, cmd, 1, 1)
	if err != nil {
		return 0, err
	}
	l.ok()
	return micros(r[0]), nil
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
// answer. While it is false nothing is granted: the engine sends nothing.
func (l *Limiter) Healthy() bool { return l.health.Healthy() }

// Stats are counters since the Limiter was made, and the health state, for
// the engine to export. They are a snapshot.
type Stats struct {
	Takes     int64 // Takes answered (batched ones included)
	Granted   int64 // segments granted by them
	Quiet     int64 // Takes answered with a quiet period
	Returned  int64 // segments given back to number buckets by Return
	Cuts      int64 // Throttled calls that cut a rate
	Failures  int64 // calls that failed for want of Redis
	Healthy   bool
	DownSince time.Time // when Healthy last became false; zero while healthy
	LastError error     // the last failure, nil if none yet
}

// Stats returns the counters.
func (l *Limiter) Stats() Stats {
	return Stats{
		Takes: l.takes.Load(), Granted: l.granted.Load(), Quiet: l.quiet.Load(),
		Returned: l.returned.Load(), Cuts: l.cuts.Load(), Failures: l.health.Failures(),
		Healthy: l.health.Healthy(), DownSince: l.health.DownSince(), LastError: l.health.LastError(),
	}
}

// run runs the script with EVALSHA, falling back to EVAL on NOSCRIPT.
func (l *Limiter) run(ctx context.Context, keys []string, args ...any) *redis.Cmd {
	return script.Run(ctx, l.c, keys, args...)
}

// reply returns cmd's reply as integers, between lo and hi of them.
func (l *Limiter) reply(ctx context.Context, cmd *redis.Cmd, lo, hi int) ([]int64, error) {
	v, err := cmd.Result()
	if err != nil {
		return nil, l.fail(ctx, err)
	}
	r, err := redisscript.Ints(v, lo, hi)
	if err != nil {
		return nil, l.fail(ctx, err)
	}
	return r, nil
}

// ok records a usable answer from Redis.
func (l *Limiter) ok() { l.health.Up() }

// fail records a failed call and returns the error to give the caller. A
// cancelled context is the caller's doing and says nothing about Redis.
func (l *Limiter) fail(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	l.health.Down(err)
	return err
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
