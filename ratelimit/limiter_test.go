package ratelimit_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/ratelimit"
)

func newLimiter(t testing.TB, c ratelimit.Client, prefix string, grant time.Duration) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(c, ratelimit.Config{Prefix: prefix, Grant: grant})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A fresh bucket of rate 5 grants its burst of 5 at once, then refuses
// with a RetryAfter of at most a grant's refill, and reports what is left.
func TestBurstThenRefuse(t *testing.T) {
	t.Parallel()
	c, prefix := testenv.Redis(t)
	l := newLimiter(t, c, prefix, 100*time.Millisecond)
	ctx := context.Background()
	k := ratelimit.Key{Kind: "requests", ID: 1}
	for i := range 5 {
		r := l.Take(ctx, k, 5, 1)
		if r.Granted != 1 || r.FailOpen {
			t.Fatalf("take %d: %+v", i, r)
		}
		if r.Remaining != 4-i {
			t.Errorf("take %d: remaining %d, want %d", i, r.Remaining, 4-i)
		}
	}
	r := l.Take(ctx, k, 5, 1)
	if r.Granted != 0 || r.RetryAfter <= 0 || r.RetryAfter > 250*time.Millisecond || r.Remaining != 0 {
		t.Fatalf("sixth take: %+v", r)
	}
	if r.Reset <= 0 || r.Reset > time.Second+10*time.Millisecond {
		t.Errorf("reset %v, want within (0, 1s]", r.Reset)
	}
	// It refills at 5 a second: a unit is back after RetryAfter (real time:
	// the script reads Redis's clock).
	time.Sleep(r.RetryAfter + 5*time.Millisecond)
	if r := l.Take(ctx, k, 5, 1); r.Granted != 1 {
		t.Fatalf("after RetryAfter: %+v", r)
	}
	// Another key is another bucket.
	if r := l.Take(ctx, ratelimit.Key{Kind: "messages", ID: 1}, 5, 5); r.Granted != 5 {
		t.Fatalf("other kind: %+v", r)
	}
}

// A batch takes what the bucket holds: part of it when it holds less.
func TestPartialGrant(t *testing.T) {
	t.Parallel()
	c, prefix := testenv.Redis(t)
	l := newLimiter(t, c, prefix, 100*time.Millisecond)
	ctx := context.Background()
	k := ratelimit.Key{Kind: "messages", ID: 7}
	if r := l.Take(ctx, k, 100, 30); r.Granted != 30 {
		t.Fatalf("first batch: %+v", r)
	}
	r := l.Take(ctx, k, 100, 500)
	if r.Granted < 70 || r.Granted > 72 || r.RetryAfter <= 0 {
		t.Fatalf("second batch: %+v, want the 70 left (a unit or two refilled)", r)
	}
	if r := l.Take(ctx, k, 100, 0); r.Granted != 0 {
		t.Fatalf("n 0: %+v", r)
	}
	// No limit: everything, nothing counted.
	if r := l.Take(ctx, k, 0, 5000); r.Granted != 5000 {
		t.Fatalf("rate 0: %+v", r)
	}
	if st := l.Stats(); st.Refused == 0 || st.Granted < 100 {
		t.Errorf("stats %+v", st)
	}
}

// A rate that changes applies at once: the grant held under the old rate
// is dropped, and Redis's bucket is read at the new rate.
func TestRateChange(t *testing.T) {
	t.Parallel()
	c, prefix := testenv.Redis(t)
	l := newLimiter(t, c, prefix, time.Second)
	ctx := context.Background()
	k := ratelimit.Key{Kind: "requests", ID: 3}
	if r := l.Take(ctx, k, 1000, 1); r.Granted != 1 {
		t.Fatal(r)
	}
	// This process holds most of a 1000-unit grant; at rate 2 the bucket
	// Redis keeps has (far) less than a unit left.
	if r := l.Take(ctx, k, 2, 1); r.Granted != 0 {
		t.Fatalf("after lowering the rate to 2: %+v", r)
	}
}

// TestTwoLimitersShareTheRate: two Limiters (two engine processes) on one
// Redis, eight goroutines each taking as fast as they can for 2.5 s, at
// rate 200 with the default grant. Every unit granted is stamped; in every
// window of one second the two together granted at most R + R·(1 s +
// Grant) (doc.go, The guarantee), and over the whole run they used the
// rate (at least 90 % of R per second after the first burst).
func TestTwoLimitersShareTheRate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 2.5 s")
	}
	t.Parallel()
	const rate = 200
	grant := ratelimit.DefaultGrant
	c, prefix := testenv.Redis(t)
	// A second client: another process has its own connections.
	c2, _ := testenv.Redis(t)
	lims := []*ratelimit.Limiter{newLimiter(t, c, prefix, grant), newLimiter(t, c2, prefix, grant)}
	k := ratelimit.Key{Kind: "requests", ID: 42}
	var (
		mu     sync.Mutex
		stamps []time.Time
	)
	ctx := context.Background()
	start := time.Now()
	end := start.Add(2500 * time.Millisecond)
	var wg sync.WaitGroup
	for _, l := range lims {
		for range 8 {
			wg.Go(func() {
				for time.Now().Before(end) {
					r := l.Take(ctx, k, rate, 1)
					if r.FailOpen {
						t.Error("fail open with Redis up")
						return
					}
					if r.Granted == 1 {
						now := time.Now()
						mu.Lock()
						stamps = append(stamps, now)
						mu.Unlock()
					} else {
						time.Sleep(time.Millisecond) // refused: try again shortly, as a busy client would
					}
				}
			})
		}
	}
	wg.Wait()
	sort.Slice(stamps, func(i, j int) bool { return stamps[i].Before(stamps[j]) })
	bound := rate + int(float64(rate)*(1+grant.Seconds()))
	most := 0
	j := 0
	for i := range stamps {
		for stamps[i].Sub(stamps[j]) > time.Second {
			j++
		}
		most = max(most, i-j+1)
	}
	t.Logf("%d granted in %v; most in any second %d (bound %d); Redis calls %d + %d",
		len(stamps), time.Since(start).Round(time.Millisecond), most, bound, lims[0].Stats().Calls, lims[1].Stats().Calls)
	if most > bound {
		t.Errorf("%d granted within one second, bound R + R·(1s + grant) = %d", most, bound)
	}
	// Burst R, then R a second for the rest of the run, less the grants
	// held unused at the end.
	if low := rate + int(0.9*rate*(end.Sub(start).Seconds()-grant.Seconds())); len(stamps) < low {
		t.Errorf("%d granted in all, want at least %d: the rate was not used", len(stamps), low)
	}
	// The processes asked Redis per grant, not per request.
	if calls := lims[0].Stats().Calls + lims[1].Stats().Calls; calls > int64(len(stamps))/4 {
		t.Errorf("%d Redis calls for %d grants", calls, len(stamps))
	}
}

// TestFailOpen: with its Redis killed, the Limiter grants everything
// (FailOpen), says so once in the log and in Stats, asks Redis again only
// after Retry, and enforces the limit again once Redis is back.
func TestFailOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and starts a redis-server; not in -short")
	}
	t.Parallel()
	srv := testenv.StartRedisServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	defer c.Close()
	core, logs := observer.New(zap.InfoLevel)
	l, err := ratelimit.New(c, ratelimit.Config{Retry: 300 * time.Millisecond, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k := ratelimit.Key{Kind: "requests", ID: 9}
	if r := l.Take(ctx, k, 2, 2); r.Granted != 2 || r.FailOpen {
		t.Fatalf("with Redis: %+v", r)
	}
	if r := l.Take(ctx, k, 2, 1); r.Granted != 0 {
		t.Fatalf("over the limit with Redis: %+v", r)
	}
	srv.Stop()
	// The empty bucket is refused locally for up to a unit's refill
	// (500 ms); past it the Limiter asks Redis, fails and opens.
	testenv.Eventually(t, "a grant without Redis", func() bool {
		return l.Take(ctx, k, 2, 1).FailOpen
	})
	calls := l.Stats().Calls
	for range 100 {
		if r := l.Take(ctx, k, 2, 1); r.Granted != 1 || !r.FailOpen {
			t.Fatalf("Redis down: %+v", r)
		}
	}
	st := l.Stats()
	if st.Healthy || st.Failures == 0 || st.FailOpen < 100 {
		t.Errorf("stats while down: %+v", st)
	}
	if st.Calls != calls {
		t.Errorf("%d Redis calls within Retry of the failure, want none", st.Calls-calls)
	}
	if n := logs.FilterMessageSnippet("fail open").FilterLevelExact(zap.ErrorLevel).Len(); n != 1 {
		t.Errorf("%d fail-open log lines at error level, want 1: %v", n, logs.All())
	}
	srv.Start()
	testenv.Eventually(t, "Redis answering the Limiter again", func() bool {
		l.Take(ctx, k, 2, 1)
		return l.Healthy()
	})
	// Enforced again: the restarted Redis has a fresh bucket of 2.
	refused := false
	for range 5 {
		if r := l.Take(ctx, k, 2, 1); r.Granted == 0 && !r.FailOpen {
			refused = true
		}
	}
	if !refused {
		t.Error("5 takes at rate 2 after Redis came back were all granted")
	}
	if logs.FilterMessageSnippet("answers again").FilterLevelExact(zap.InfoLevel).Len() != 1 {
		t.Errorf("no recovery log line at info level: %v", logs.All())
	}
}

// A reply of the wrong shape is a failure (fail open), never a panic: a
// hook rewrites every script reply of a real client into a string.
func TestBadReplyFailsOpen(t *testing.T) {
	t.Parallel()
	c, prefix := testenv.Redis(t)
	c.AddHook(badReplies{})
	l := newLimiter(t, c, prefix, 0)
	r := l.Take(context.Background(), ratelimit.Key{Kind: "requests", ID: 1}, 10, 1)
	if r.Granted != 1 || !r.FailOpen || l.Healthy() {
		t.Fatalf("%+v healthy %v", r, l.Healthy())
	}
}

// badReplies replaces the reply of every script run in a pipeline.
type badReplies struct{}

func (badReplies) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (badReplies) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (badReplies) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if cmd, ok := c.(*redis.Cmd); ok {
				cmd.SetErr(nil)
				cmd.SetVal("not an array")
			}
		}
		return err
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	c, _ := testenv.Redis(t)
	for _, cfg := range []ratelimit.Config{
		{Prefix: "a{b"},
		{Grant: time.Microsecond},
		{Grant: 2 * time.Second},
	} {
		if _, err := ratelimit.New(c, cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	if _, err := ratelimit.New(nil, ratelimit.Config{}); err == nil {
		t.Error("nil client: no error")
	}
}
