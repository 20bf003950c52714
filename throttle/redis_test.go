package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/throttle"
)

// Every client kind the engine may hold satisfies the narrow interface.
var (
	_ throttle.Client = (*redis.Client)(nil)
	_ throttle.Client = (*redis.ClusterClient)(nil)
	_ throttle.Client = (*redis.Ring)(nil)
	_ throttle.Client = redis.UniversalClient(nil)
)

var quiet = slog.New(slog.DiscardHandler)

// newLimiter returns a Limiter on the shared Redis under a prefix of the
// test's own, with every account used by the test assumed idle (no quiet
// period: the keys are new).
func newLimiter(t testing.TB, cfg throttle.Config, accounts ...string) (*throttle.Limiter, *redis.Client, string) {
	t.Helper()
	c, prefix := testenv.Redis(t)
	cfg.Prefix = prefix
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	l, err := throttle.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		if _, err := l.AssumeIdle(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	return l, c, prefix
}

func TestReserveOnRealRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c, prefix := newLimiter(t, throttle.Config{Horizon: 10 * time.Second}, "carrierA")
	num := throttle.Number("+15551230001", throttle.Class{Name: "shared", Rate: 1})
	acct := throttle.Account(100, 10)
	req := throttle.Request{Account: "carrierA", Cost: 5, Buckets: []throttle.Bucket{num, acct}}

	// A 5-segment message on a 1/s number: one segment a second, all within 5 s.
	r, err := l.Reserve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r.Delay() != 0 || r.Cost() != 5 {
		t.Fatalf("delay %v cost %d", r.Delay(), r.Cost())
	}
	for i := range 5 {
		if d := r.ServerTime(i).Sub(r.ServerTime(0)); d != time.Duration(i)*time.Second {
			t.Fatalf("segment %d at +%v", i, d)
		}
	}
	// The next one queues behind it, on the Redis clock.
	r2, err := l.Reserve(ctx, throttle.Request{Account: "carrierA", Cost: 1, Buckets: req.Buckets})
	if err != nil {
		t.Fatal(err)
	}
	if d := r2.ServerTime(0).Sub(r.ServerTime(0)); d != 5*time.Second {
		t.Fatalf("second reservation %v after the first, want 5s", d)
	}

	// Key layout: one hash per bucket, hash-tagged by the account, expiring.
	numKey := prefix + "{carrierA}:number:+15551230001"
	if got := l.Key("carrierA", num); got != numKey {
		t.Fatalf("key %q, want %q", got, numKey)
	}
	h, err := c.HGetAll(ctx, numKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if h["t"] != fmt.Sprint(r2.ServerTime(0).UnixMicro()+1e6) || h["r"] == "" || h["p"] == "" {
		t.Fatalf("bucket hash %v", h)
	}
	ttl := c.PTTL(ctx, numKey).Val()
	if ttl <= 7*time.Second || ttl > 18*time.Second {
		t.Fatalf("number key TTL %v: want until its state is idle (6 s), plus 1 s, plus up to 10 s", ttl)
	}
	for _, k := range []string{prefix + "{carrierA}:account", prefix + "{carrierA}:fence"} {
		if c.PTTL(ctx, k).Val() <= 0 {
			t.Fatalf("%s has no TTL", k)
		}
	}

	// Cancel gives back where it is the latest booking.
	if err := r2.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	r3, err := l.Reserve(ctx, throttle.Request{Account: "carrierA", Cost: 1, Buckets: req.Buckets})
	if err != nil {
		t.Fatal(err)
	}
	if !r3.ServerTime(0).Equal(r2.ServerTime(0)) {
		t.Fatalf("after Cancel the slot %v was not free again (got %v)", r2.ServerTime(0), r3.ServerTime(0))
	}

	// The horizon refuses and takes nothing.
	big := throttle.Request{Account: "carrierA", Cost: 10, Buckets: req.Buckets}
	if _, err := l.Reserve(ctx, big); err != nil { // first segment at +6 s: fits
		t.Fatal(err)
	}
	_, err = l.Reserve(ctx, big)
	var he *throttle.HorizonError
	if !errors.As(err, &he) || !errors.Is(err, throttle.ErrRefused) || he.Wait < 15*time.Second || he.ID != num.ID {
		t.Fatalf("beyond the horizon: %v", err)
	}

	// A daily cap.
	brand := throttle.Bucket{Level: "brand", ID: "B7", Limit: throttle.Limit{Rate: 100, Burst: 10, DailyCap: 3}}
	capReq := throttle.Request{Account: "carrierA", Cost: 2, Buckets: []throttle.Bucket{brand}}
	if _, err := l.Reserve(ctx, capReq); err != nil {
		t.Fatal(err)
	}
	_, err = l.Reserve(ctx, capReq)
	var ce *throttle.CapError
	if !errors.As(err, &ce) || ce.Cap != 3 || ce.ResetIn <= 0 || ce.ResetIn > 24*time.Hour {
		t.Fatalf("over the daily cap: %v", err)
	}

	// Rates below one per second.
	slow := throttle.Number("+15551230002", throttle.Class{Rate: 0.1})
	rs, err := l.Reserve(ctx, throttle.Request{Account: "carrierA", Cost: 2, Buckets: []throttle.Bucket{slow}})
	if err != nil {
		t.Fatal(err)
	}
	if d := rs.ServerTime(1).Sub(rs.ServerTime(0)); d != 10*time.Second {
		t.Fatalf("0.1/s: segments %v apart", d)
	}
}

func TestAdaptiveOnRealRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _, _ := newLimiter(t, throttle.Config{}, "carrierB")
	num := throttle.Number("+15551230003", throttle.Class{Rate: 10, Burst: 1})
	if r, err := l.EffectiveRate(ctx, "carrierB", num); err != nil || r != 10 {
		t.Fatalf("effective rate before any cut: %v, %v", r, err)
	}
	r, err := l.Throttled(ctx, "carrierB", num)
	if err != nil || r != 5 {
		t.Fatalf("after a cut: %v, %v; want 5", r, err)
	}
	if r, err := l.Throttled(ctx, "carrierB", num); err != nil || r < 5 || r > 5.1 {
		t.Fatalf("a second 0x58 within the hold counts once: %v, %v", r, err)
	}
	if e, err := l.EffectiveRate(ctx, "carrierB", num); err != nil || e < 5 || e > 5.1 {
		t.Fatalf("effective rate %v, %v", e, err)
	}
	// Two segments at the cut rate: 0.2 s apart instead of 0.1 s (a little
	// less: the rate recovers by 1/60 of 10 per second).
	res, err := l.Reserve(ctx, throttle.Request{Account: "carrierB", Cost: 2, Buckets: []throttle.Bucket{num}})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.ServerTime(1).Sub(res.ServerTime(0)); d < 190*time.Millisecond || d > 200*time.Millisecond {
		t.Fatalf("segments %v apart at half of 10/s", d)
	}
	if s := l.Stats(); s.Cuts != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestHashTags checks the cluster property: every key one request touches
// carries the same hash tag, the account, so the script runs in one slot.
func TestHashTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c, prefix := newLimiter(t, throttle.Config{}, "acct-9")
	req := throttle.Request{Account: "acct-9", Cost: 1, Buckets: []throttle.Bucket{
		throttle.Number("+1555{odd}", throttle.Class{Rate: 1}),
		throttle.Account(50, 0),
		{Level: "campaign", ID: "C1", Limit: throttle.Limit{Rate: 4}},
		{Level: "brand", ID: "B1", Limit: throttle.Limit{Rate: 100, DailyCap: 2000}},
	}}
	if _, err := l.Reserve(ctx, req); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, strings.NewReplacer("*", `\*`, "?", `\?`, "[", `\[`).Replace(prefix)+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	want := []string{"{acct-9}:account", "{acct-9}:brand:B1", "{acct-9}:campaign:C1", "{acct-9}:fence", "{acct-9}:number:+1555{odd}"}
	var got []string
	for _, k := range keys {
		got = append(got, strings.TrimPrefix(k, prefix))
		if tag := hashTag(k); tag != "acct-9" {
			t.Errorf("key %q has hash tag %q", k, tag)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
}

// hashTag is what Redis Cluster hashes: the part between the first '{' and
// the next '}', when not empty.
func hashTag(k string) string {
	i := strings.IndexByte(k, '{')
	if i < 0 {
		return k
	}
	j := strings.IndexByte(k[i+1:], '}')
	if j <= 0 {
		return k
	}
	return k[i+1 : i+1+j]
}

// roundTrips counts the script calls the client sends: one round trip per
// single command, one per pipeline. (The commands a new connection sends to
// set itself up are not script calls.)
type roundTrips struct{ single, pipelines, cmds atomic.Int64 }

func isScript(c redis.Cmder) bool { return c.Name() == "evalsha" || c.Name() == "eval" }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isScript(cmd) {
			r.single.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && isScript(cmds[0]) {
			r.pipelines.Add(1)
			r.cmds.Add(int64(len(cmds)))
		}
		return next(ctx, cmds)
	}
}

func TestReserveBatchOneRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c, _ := newLimiter(t, throttle.Config{}, "carrierC")
	if err := l.Ping(ctx); err != nil { // the script is cached from here on
		t.Fatal(err)
	}
	rt := &roundTrips{}
	c.AddHook(rt)
	class := throttle.Class{Rate: 10, Burst: 2}
	var reqs []throttle.Request
	for i := range 200 {
		reqs = append(reqs, throttle.Request{Account: "carrierC", Cost: 1 + i%3, Buckets: []throttle.Bucket{
			throttle.Number(fmt.Sprintf("+1555000%04d", i%20), class), throttle.Account(1000, 50)}})
	}
	reqs = append(reqs, throttle.Request{Account: "carrierC"}) // invalid: its own error, no harm to others
	res := l.ReserveBatch(ctx, reqs)
	if rt.pipelines.Load() != 1 || rt.single.Load() != 0 || rt.cmds.Load() != 200 {
		t.Fatalf("round trips: %d pipelines of %d commands, %d single", rt.pipelines.Load(), rt.cmds.Load(), rt.single.Load())
	}
	if !errors.Is(res[200].Err, throttle.ErrInvalid) {
		t.Fatalf("invalid request in batch: %v", res[200].Err)
	}
	// Per number: its segments booked back to back in batch order, the
	// first two within the burst, then one every 100 ms.
	per := map[string][]time.Time{}
	for i, r := range res[:200] {
		if r.Err != nil {
			t.Fatalf("request %d: %v", i, r.Err)
		}
		n := reqs[i].Buckets[0].ID
		for s := range r.Reservation.Cost() {
			per[n] = append(per[n], r.Reservation.ServerTime(s))
		}
	}
	for n, ts := range per {
		var us []int64
		for _, x := range ts {
			us = append(us, x.UnixMicro())
		}
		want := time.Duration(len(ts)-2) * 100 * time.Millisecond
		if got := ts[len(ts)-1].Sub(ts[0]); got != want || worstWindow(us, time.Second) > 10+2 {
			t.Fatalf("%s: %d segments over %v (want %v), %d in one second", n, len(ts), got, want, worstWindow(us, time.Second))
		}
	}
}

// TestAccountBucket: twelve numbers at 1 segment/s share an account of 10
// TPS, less than the 12 they could send, each served by two dispatchers (as
// two engine processes would). With a backlog on every number, for 6 s, the
// account never exceeds 10 + burst in any second, every number stays within
// its own rate, and the account's rate is used.
func TestAccountBucket(t *testing.T) {
	t.Parallel()
	const (
		numbers  = 12
		duration = 6 * time.Second
		tps      = 10.0
		burst    = 2
	)
	ctx := context.Background()
	l, _, _ := newLimiter(t, throttle.Config{Horizon: 2 * time.Second, MaxSpan: 2 * time.Second}, "carrierD")
	class := throttle.Class{Name: "shared", Rate: 1}
	var (
		mu   sync.Mutex
		sent = map[string][]int64{} // Redis-clock µs of each segment, per bucket
	)
	end := time.Now().Add(duration)
	var wg sync.WaitGroup
	for n := range numbers {
		for range 2 {
			wg.Go(func() {
				num := throttle.Number(fmt.Sprintf("+1555888%04d", n), class)
				for time.Now().Before(end) {
					cost := 1 + (n % 2)
					r, err := l.Reserve(ctx, throttle.Request{Account: "carrierD", Cost: cost,
						Buckets: []throttle.Bucket{num, throttle.Account(tps, burst)}})
					var he *throttle.HorizonError
					if errors.As(err, &he) {
						time.Sleep(he.RetryAfter())
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					if !r.At(0).Before(end) {
						r.Cancel(ctx)
						return
					}
					for i := range cost {
						if err := r.WaitSegment(ctx, i); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						us := r.ServerTime(i).UnixMicro()
						sent[num.ID] = append(sent[num.ID], us)
						sent["account"] = append(sent["account"], us)
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	acct := sent["account"]
	slices.Sort(acct)
	worst := worstWindow(acct, time.Second)
	// Utilisation over the whole seconds from the first segment on.
	t0, win := acct[0], duration-time.Second
	inWin := 0
	for _, us := range acct {
		if us < t0+win.Microseconds() {
			inWin++
		}
	}
	util := float64(inWin) / (tps * win.Seconds())
	t.Logf("account: worst 1-s window %d segments (limit %v+%d), utilisation %.1f%% of %v/s over %v",
		worst, tps, burst, util*100, tps, win)
	if worst > int(tps)+burst {
		t.Errorf("account exceeded its rate: %d segments in one second", worst)
	}
	if util < 0.95 {
		t.Errorf("account utilisation %.1f%% < 95%%", util*100)
	}
	for n, ts := range sent {
		if n == "account" {
			continue
		}
		if w := worstWindow(ts, time.Second); w > 1+1 {
			t.Errorf("number %s: %d segments in one second", n, w)
		}
	}
}

// worstWindow is the most times (µs) within any closed window [t, t+w].
func worstWindow(times []int64, w time.Duration) int {
	s := slices.Clone(times)
	slices.Sort(s)
	worst, j := 0, 0
	for i := range s {
		for s[i]-s[j] > w.Microseconds() {
			j++
		}
		worst = max(worst, i-j+1)
	}
	return worst
}

// TestNoScriptFallback: on a Redis that has not cached the script (a new
// server, or after SCRIPT FLUSH), EVALSHA's NOSCRIPT falls back to EVAL, for
// single calls and batches. A private server: flushing the shared one's
// script cache would disturb other packages.
func TestNoScriptFallback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.StartRedisServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	l, err := throttle.New(c, throttle.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AssumeIdle(ctx, "x"); err != nil { // NOSCRIPT → EVAL
		t.Fatal(err)
	}
	req := throttle.Request{Account: "x", Cost: 1, Buckets: []throttle.Bucket{throttle.Number("+1", throttle.Class{Rate: 100})}}
	if _, err := l.Reserve(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for i, r := range l.ReserveBatch(ctx, []throttle.Request{req, req, req}) {
		if r.Err != nil {
			t.Fatalf("batch %d after SCRIPT FLUSH: %v", i, r.Err)
		}
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reserve(ctx, req); err != nil {
		t.Fatalf("after SCRIPT FLUSH: %v", err)
	}
	if s := l.Stats(); s.Granted != 5 || s.Failures != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestUnreachableFailsClosed: nothing listens; every call fails with
// ErrUnavailable, never a grant.
func TestUnreachableFailsClosed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	l, err := throttle.New(c, throttle.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := throttle.Request{Account: "x", Cost: 1, Buckets: []throttle.Bucket{throttle.Number("+1", throttle.Class{Rate: 100})}}
	if r, err := l.Reserve(ctx, req); r != nil || !errors.Is(err, throttle.ErrUnavailable) {
		t.Fatalf("Reserve: %v, %v", r, err)
	}
	for _, br := range l.ReserveBatch(ctx, []throttle.Request{req, req}) {
		if br.Reservation != nil || !errors.Is(br.Err, throttle.ErrUnavailable) {
			t.Fatalf("batch: %+v", br)
		}
	}
	if _, err := l.Throttled(ctx, "x", req.Buckets[0]); !errors.Is(err, throttle.ErrUnavailable) {
		t.Fatal(err)
	}
	if l.Healthy() {
		t.Fatal("healthy with nothing listening")
	}
}
