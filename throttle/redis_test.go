package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
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

// big is an account limit that never holds anything back in these tests.
var big = throttle.Limit{N: 100000}

// newLimiter returns a Limiter on the shared Redis under a prefix of the
// test's own, with every account used by the test assumed idle (no quiet
// period: the keys are new).
func newLimiter(t testing.TB, cfg throttle.Config, accounts ...string) (*throttle.Limiter, *redis.Client, string) {
	t.Helper()
	c, prefix := testenv.Redis(t)
	cfg.Prefix = prefix
	l, err := throttle.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	idle(t, l, accounts...)
	return l, c, prefix
}

func idle(t testing.TB, l *throttle.Limiter, accounts ...string) {
	t.Helper()
	for _, a := range accounts {
		if _, err := l.AssumeIdle(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

func take(t testing.TB, l *throttle.Limiter, account string, acct throttle.Limit, wants ...throttle.Want) throttle.TakeResult {
	t.Helper()
	r, err := l.Take(context.Background(), account, acct, wants)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func grants(r throttle.TakeResult) []int {
	var g []int
	for _, x := range r.Grants {
		g = append(g, x.N)
	}
	return g
}

// within reports whether d is in [lo, hi].
func within(d, lo, hi time.Duration) bool { return d >= lo && d <= hi }

func TestSlidingOnRealRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c, prefix := newLimiter(t, throttle.Config{}, "carrierA")
	num := throttle.Want{Number: "+15551230001", Limit: throttle.Limit{N: 3}, Max: 5}

	// 3 of the 5 wanted leave now; the 4th may go 1s + 10ms margin later
	// (up to 1 ms more: times are kept in ms rounded up).
	r := take(t, l, "carrierA", big, num)
	if g := r.Grants[0]; g.N != 3 || !within(g.Wait, 1010*time.Millisecond, 1011*time.Millisecond) || r.Quiet != 0 || r.AccountWait != 0 {
		t.Fatalf("first take: %+v", r)
	}
	r2 := take(t, l, "carrierA", big, num)
	if g := r2.Grants[0]; g.N != 0 || g.Wait > r.Grants[0].Wait || g.Wait < r.Grants[0].Wait-r2.Now.Sub(r.Now)-time.Millisecond {
		t.Fatalf("second take right after: %+v (first %+v)", r2, r)
	}
	if s := l.Stats(); s.Takes != 2 || s.Granted != 3 {
		t.Fatalf("stats %+v", s)
	}

	// Key layout: one string per bucket, hash-tagged by the account,
	// expiring shortly after their state stops mattering (the 1.01 s window
	// + 1 s).
	numKey := prefix + "{carrierA}:number:+15551230001"
	if got := l.Key("carrierA", num.Number); got != numKey {
		t.Fatalf("key %q, want %q", got, numKey)
	}
	if got := l.Key("carrierA", ""); got != prefix+"{carrierA}:account" {
		t.Fatalf("account key %q", got)
	}
	v, err := c.Get(ctx, numKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ms := (r.Now.UnixMicro() + 999) / 1000; v != fmt.Sprintf("s,0,0,3;%013d%07d", ms, 3) {
		t.Fatalf("bucket state %q (grant at %v)", v, r.Now)
	}
	if ttl := c.PTTL(ctx, numKey).Val(); !within(ttl, time.Second, 2012*time.Millisecond) {
		t.Fatalf("number key TTL %v", ttl)
	}
	if ttl := c.PTTL(ctx, prefix+"{carrierA}:account").Val(); !within(ttl, time.Second, 2012*time.Millisecond) {
		t.Fatalf("account key TTL %v", ttl)
	}
	if ttl := c.PTTL(ctx, prefix+"{carrierA}:fence").Val(); !within(ttl, 6*24*time.Hour, 7*24*time.Hour) {
		t.Fatalf("fence TTL %v", ttl)
	}

	// Max 0 asks nothing (and gets no Wait: that is for wants not met).
	r3 := take(t, l, "carrierA", big, throttle.Want{Number: num.Number, Limit: num.Limit})
	if r3.Grants[0] != (throttle.Grant{}) {
		t.Fatalf("max 0: %+v", r3)
	}
	// A Take with no wants only reports on the account.
	if r4 := take(t, l, "carrierA", throttle.Limit{N: 3}); len(r4.Grants) != 0 || r4.AccountWait == 0 {
		t.Fatalf("no wants on a full account: %+v", r4)
	}

	// After the wait, room again. Real time: the script reads Redis's clock.
	time.Sleep(r2.Grants[0].Wait)
	if r5 := take(t, l, "carrierA", big, num); r5.Grants[0].N != 3 {
		t.Fatalf("after the wait: %+v", r5)
	}
}

func TestBucketModeOnRealRedis(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t, throttle.Config{}, "carrierB", "carrierB2")
	// 10 per second on average, 3 at once: T = 100 ms.
	num := throttle.Want{Number: "+15551230002", Limit: throttle.Limit{N: 10, Mode: throttle.Bucket, Burst: 3}, Max: 10}
	r := take(t, l, "carrierB", big, num)
	if g := r.Grants[0]; g.N != 3 || g.Wait != 100*time.Millisecond {
		t.Fatalf("first take: %+v", r)
	}
	time.Sleep(250 * time.Millisecond) // real time: the bucket refills by Redis's clock
	r2 := take(t, l, "carrierB", big, num)
	el := r2.Now.Sub(r.Now)
	if want := min(3, int(el/(100*time.Millisecond))); r2.Grants[0].N != want {
		t.Fatalf("%v later: granted %d, want %d", el, r2.Grants[0].N, want)
	}
	// The account in bucket mode too: burst 2 of 100/s.
	acct := throttle.Limit{N: 100, Mode: throttle.Bucket, Burst: 2}
	r3 := take(t, l, "carrierB2", acct, throttle.Want{Number: "+2", Limit: throttle.Limit{N: 50}, Max: 5})
	if r3.Grants[0].N != 2 || r3.Grants[0].Wait != 0 || r3.AccountWait != 10*time.Millisecond {
		t.Fatalf("bucket account: %+v", r3)
	}
}

// TestWaterFilling: the account's room is shared by weighted max-min
// fairness when it is short; integer remainders go in the order given.
func TestWaterFilling(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t, throttle.Config{})
	for i, c := range []struct {
		room    int
		caps    []int     // each number's own room (its N)
		maxes   []int     // what each wants
		weights []float64 // nil: all 1
		want    []int
	}{
		{20, []int{100, 100, 100, 100, 100}, []int{10, 10, 10, 10, 10}, nil, []int{4, 4, 4, 4, 4}},
		{20, []int{100, 100, 100}, []int{10, 10, 10}, []float64{2, 1, 1}, []int{10, 5, 5}},
		{20, []int{100, 100, 100}, []int{2, 10, 10}, nil, []int{2, 9, 9}},                  // a capped one's rest goes to the others
		{20, []int{1, 100, 100}, []int{10, 10, 10}, nil, []int{1, 10, 9}},                  // capped by its own room
		{10, []int{100, 100, 100}, []int{10, 10, 10}, nil, []int{4, 3, 3}},                 // remainder to the first
		{10, []int{100, 100, 100}, []int{10, 10, 10}, []float64{1, 0, 2}, []int{3, 2, 5}},  // weight 0 means 1
		{5, []int{100, 100}, []int{10, 10}, []float64{1, 3}, []int{2, 3}},                  // 1.25 and 3.75: the remainder in order
		{30, []int{100, 100, 100}, []int{10, 5, 10}, []float64{5, 1, 1}, []int{10, 5, 10}}, // room enough for all
		{7, []int{100, 100, 100}, []int{0, 5, 5}, nil, []int{0, 4, 3}},                     // one wants nothing
		{0, []int{100}, []int{5}, nil, []int{0}},
	} {
		account := fmt.Sprintf("wf%d", i)
		idle(t, l, account)
		var wants []throttle.Want
		for j := range c.caps {
			w := throttle.Want{Number: fmt.Sprintf("+%d", j), Limit: throttle.Limit{N: c.caps[j]}, Max: c.maxes[j]}
			if c.weights != nil {
				w.Weight = c.weights[j]
			}
			wants = append(wants, w)
		}
		acct := throttle.Limit{N: max(c.room, 1)}
		if c.room == 0 { // a full account: take its one segment first
			take(t, l, account, acct, throttle.Want{Number: "+x", Limit: acct, Max: 1})
		}
		if got := grants(take(t, l, account, acct, wants...)); !slices.Equal(got, c.want) {
			t.Errorf("case %d: room %d caps %v maxes %v weights %v: got %v, want %v", i, c.room, c.caps, c.maxes, c.weights, got, c.want)
		}
	}
}

// TestReturn gives back segments that were granted but never written.
func TestReturn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _, _ := newLimiter(t, throttle.Config{}, "carrierR")
	acct := throttle.Limit{N: 4}
	num := throttle.Limit{N: 3}
	r := take(t, l, "carrierR", acct, throttle.Want{Number: "+1", Limit: num, Max: 3})
	if r.Grants[0].N != 3 {
		t.Fatalf("%+v", r)
	}
	// Another number takes the account's last segment, later.
	if r2 := take(t, l, "carrierR", acct, throttle.Want{Number: "+2", Limit: num, Max: 3}); r2.Grants[0].N != 1 {
		t.Fatalf("%+v", r2)
	}
	// +1 could write only one of its three: two go back to it and to the
	// account, from its own grant; +2's stays taken.
	if err := l.Return(ctx, "carrierR", acct, "+1", num, 2, r.Now); err != nil {
		t.Fatal(err)
	}
	if r3 := take(t, l, "carrierR", acct, throttle.Want{Number: "+1", Limit: num, Max: 3}); r3.Grants[0].N != 2 || r3.AccountWait == 0 {
		t.Fatalf("after return: %+v", r3)
	}
	// A return for a time nothing was granted at gives nothing back.
	if err := l.Return(ctx, "carrierR", acct, "+1", num, 2, r.Now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if r4 := take(t, l, "carrierR", acct, throttle.Want{Number: "+2", Limit: num, Max: 3}); r4.Grants[0].N != 0 {
		t.Fatalf("after a return that matched nothing: %+v", r4)
	}
	if s := l.Stats(); s.Returned != 2 {
		t.Fatalf("stats %+v", s)
	}

	// Bucket mode: only the latest grant can be given back.
	bn := throttle.Limit{N: 10, Mode: throttle.Bucket, Burst: 4}
	b1 := take(t, l, "carrierR", big, throttle.Want{Number: "+b", Limit: bn, Max: 4})
	if err := l.Return(ctx, "carrierR", big, "+b", bn, 3, b1.Now); err != nil {
		t.Fatal(err)
	}
	// T = 100 ms: one of the four is still taken, the rest come back as
	// time passes.
	b2 := take(t, l, "carrierR", big, throttle.Want{Number: "+b", Limit: bn, Max: 4})
	if want := min(4, 3+int(b2.Now.Sub(b1.Now)/(100*time.Millisecond))); b2.Grants[0].N != want {
		t.Fatalf("bucket mode after return: %+v, want %d", b2, want)
	}
	if err := l.Return(ctx, "carrierR", big, "+b", bn, 3, b1.Now); err != nil { // b1 is not the latest any more
		t.Fatal(err)
	}
	b3 := take(t, l, "carrierR", big, throttle.Want{Number: "+b", Limit: bn, Max: 4})
	if want := min(4, int(b3.Now.Sub(b1.Now)/(100*time.Millisecond))); b3.Grants[0].N > want {
		t.Fatalf("bucket mode, return of an older grant: %+v, want at most %d", b3, want)
	}
}

// TestHashTags checks the cluster property: every key one Take touches
// carries the same hash tag, the account, so the script runs in one slot.
func TestHashTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c, prefix := newLimiter(t, throttle.Config{}, "acct-9")
	take(t, l, "acct-9", throttle.Limit{N: 50},
		throttle.Want{Number: "+1555{odd}", Limit: throttle.Limit{N: 1}, Max: 1},
		throttle.Want{Number: "+15550001", Limit: throttle.Limit{N: 4, Mode: throttle.Bucket}, Max: 1},
		throttle.Want{Number: "+15550002", Limit: throttle.Limit{N: 100}, Max: 1}) // a log list
	keys, err := c.Keys(ctx, strings.NewReplacer("*", `\*`, "?", `\?`, "[", `\[`).Replace(prefix)+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	want := []string{"{acct-9}:account", "{acct-9}:fence", "{acct-9}:log:account", "{acct-9}:log:number:+15550002",
		"{acct-9}:number:+15550001", "{acct-9}:number:+15550002", "{acct-9}:number:+1555{odd}"}
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

func TestTakeBatchOneRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var accounts []string
	for i := range 20 {
		accounts = append(accounts, fmt.Sprintf("carrier%d", i))
	}
	l, c, _ := newLimiter(t, throttle.Config{}, accounts...)
	if err := l.Ping(ctx); err != nil { // the script is cached from here on
		t.Fatal(err)
	}
	rt := &roundTrips{}
	c.AddHook(rt)
	var reqs []throttle.TakeRequest
	for i, a := range accounts {
		req := throttle.TakeRequest{Account: a, Limit: throttle.Limit{N: 10}}
		for j := range 5 {
			req.Wants = append(req.Wants, throttle.Want{Number: fmt.Sprintf("+1555%02d%02d", i, j), Limit: throttle.Limit{N: 1 + j}, Max: 3})
		}
		reqs = append(reqs, req)
	}
	reqs = append(reqs, throttle.TakeRequest{Account: "carrier0"}) // invalid: its own error, no harm to others
	res := l.TakeBatch(ctx, reqs)
	if rt.pipelines.Load() != 1 || rt.single.Load() != 0 || rt.cmds.Load() != 20 {
		t.Fatalf("round trips: %d pipelines of %d commands, %d single", rt.pipelines.Load(), rt.cmds.Load(), rt.single.Load())
	}
	if !errors.Is(res[20].Err, throttle.ErrInvalid) {
		t.Fatalf("invalid request in batch: %v", res[20].Err)
	}
	for i, r := range res[:20] {
		// caps 1, 2, 3, 3, 3 (sum 12) under a room of 10: 1, 2, 3, 2, 2.
		if r.Err != nil || !slices.Equal(grants(r.TakeResult), []int{1, 2, 3, 2, 2}) {
			t.Fatalf("request %d: %v %v", i, grants(r.TakeResult), r.Err)
		}
	}
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
	l, err := throttle.New(c, throttle.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AssumeIdle(ctx, "x"); err != nil { // NOSCRIPT → EVAL
		t.Fatal(err)
	}
	want := throttle.Want{Number: "+1", Limit: throttle.Limit{N: 100}, Max: 1}
	if _, err := l.Take(ctx, "x", big, []throttle.Want{want}); err != nil {
		t.Fatal(err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	req := throttle.TakeRequest{Account: "x", Limit: big, Wants: []throttle.Want{want}}
	for i, r := range l.TakeBatch(ctx, []throttle.TakeRequest{req, req, req}) {
		if r.Err != nil || r.Grants[0].N != 1 {
			t.Fatalf("batch %d after SCRIPT FLUSH: %+v", i, r)
		}
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Take(ctx, "x", big, []throttle.Want{want}); err != nil {
		t.Fatalf("after SCRIPT FLUSH: %v", err)
	}
	if s := l.Stats(); s.Takes != 5 || s.Granted != 5 || s.Failures != 0 {
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
	l, err := throttle.New(c, throttle.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := []throttle.Want{{Number: "+1", Limit: throttle.Limit{N: 100}, Max: 1}}
	if r, err := l.Take(ctx, "x", big, want); r.Grants != nil || !errors.Is(err, throttle.ErrUnavailable) {
		t.Fatalf("Take: %+v, %v", r, err)
	}
	for _, o := range l.TakeBatch(ctx, []throttle.TakeRequest{{Account: "x", Limit: big, Wants: want}, {Account: "y", Limit: big, Wants: want}}) {
		if o.Grants != nil || !errors.Is(o.Err, throttle.ErrUnavailable) {
			t.Fatalf("batch: %+v", o)
		}
	}
	if _, err := l.Throttled(ctx, "x", "+1", want[0].Limit); !errors.Is(err, throttle.ErrUnavailable) {
		t.Fatal(err)
	}
	if _, err := l.QuietUntil(ctx, "x"); !errors.Is(err, throttle.ErrUnavailable) {
		t.Fatal(err)
	}
	if l.Healthy() {
		t.Fatal("healthy with nothing listening")
	}
}

// TestManyWants: the most wants one Take allows, in one script call.
func TestManyWants(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t, throttle.Config{}, "carrierM")
	wants := make([]throttle.Want, throttle.MaxWants)
	for i := range wants {
		wants[i] = throttle.Want{Number: fmt.Sprintf("+1555%07d", i), Limit: throttle.Limit{N: 1 + i%40}, Max: 2}
	}
	r := take(t, l, "carrierM", throttle.Limit{N: 1500}, wants...)
	// 975 numbers could take 2, 25 (those with N = 1) only 1: 1975 > 1500,
	// so the room is shared: 1 each, and the 500 left to the first 500 that
	// can take a second.
	if r.Granted() != 1500 || r.Grants[0].N != 1 || r.Grants[1].N != 2 || r.Grants[999].N != 1 {
		t.Fatalf("granted %d: first %+v %+v, last %+v", r.Granted(), r.Grants[0], r.Grants[1], r.Grants[999])
	}
	if _, err := l.Take(context.Background(), "carrierM", big, append(wants, throttle.Want{Number: "+1", Limit: big})); !errors.Is(err, throttle.ErrInvalid) {
		t.Fatalf("one more want: %v", err)
	}
}

// A remembered spread is there for another Limiter on the same Redis and
// prefix, a smaller one does not replace it, and it expires after its ttl.
func TestRememberSpread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c, prefix := newLimiter(t, throttle.Config{}, "sim")
	other, err := throttle.New(c, throttle.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := other.Spread(ctx, "sim"); err != nil || d != 0 {
		t.Fatalf("nothing remembered: %v, %v", d, err)
	}
	if d, err := l.RememberSpread(ctx, "sim", 40*time.Millisecond, time.Minute); err != nil || d != 40*time.Millisecond {
		t.Fatalf("remember 40ms: %v, %v", d, err)
	}
	if d, err := l.RememberSpread(ctx, "sim", 20*time.Millisecond, 300*time.Millisecond); err != nil || d != 40*time.Millisecond {
		t.Fatalf("a smaller spread replaced the larger: %v, %v", d, err)
	}
	if d, err := other.Spread(ctx, "sim"); err != nil || d != 40*time.Millisecond {
		t.Fatalf("the other Limiter reads %v, %v; want 40ms", d, err)
	}
	if d, _ := other.Spread(ctx, "another"); d != 0 {
		t.Fatalf("another account reads %v", d)
	}
	// The smaller one renewed the ttl to 300 ms: it expires then.
	testenv.Eventually(t, "the spread to expire", func() bool { d, _ := other.Spread(ctx, "sim"); return d == 0 })
	if _, err := l.RememberSpread(ctx, "sim", 0, time.Minute); !errors.Is(err, throttle.ErrInvalid) {
		t.Fatalf("a zero spread: %v", err)
	}
}
