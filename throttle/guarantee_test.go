package throttle_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/throttle"
)

// grantLog collects what was granted (and not given back), per bucket, by
// Redis-clock time.
type grantLog struct {
	mu sync.Mutex
	by map[string]map[int64]int // bucket → µs → segments
}

func (g *grantLog) add(bucket string, at time.Time, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.by == nil {
		g.by = map[string]map[int64]int{}
	}
	m := g.by[bucket]
	if m == nil {
		m = map[int64]int{}
		g.by[bucket] = m
	}
	m[at.UnixMicro()] += n
}

// worst is the most segments of bucket in any window (x, x+w] (a window of
// length w, as the carrier counts: open at one end), and the total.
func (g *grantLog) worst(bucket string, w time.Duration) (worst, total int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.by[bucket]
	times := make([]int64, 0, len(m))
	for t := range m {
		times = append(times, t)
	}
	slices.Sort(times)
	sum, j := 0, 0
	for _, t := range times {
		sum += m[t]
		total += m[t]
		for times[j] <= t-w.Microseconds() {
			sum -= m[times[j]]
			j++
		}
		worst = max(worst, sum)
	}
	return worst, total
}

// guaranteeNumbers are the numbers of TestGuaranteeRandomTraffic, with
// short intervals so that a few seconds hold many windows.
var guaranteeNumbers = []throttle.Limit{
	{N: 1, Interval: 300 * time.Millisecond},
	{N: 3, Interval: 500 * time.Millisecond},
	{N: 5, Interval: 400 * time.Millisecond},
	{N: 2, Interval: 250 * time.Millisecond},
	{N: 4, Interval: 600 * time.Millisecond},
	{N: 10, Interval: 400 * time.Millisecond, Mode: throttle.Bucket, Burst: 3},
	{N: 6, Interval: 300 * time.Millisecond, Mode: throttle.Bucket},
	{N: 8, Interval: 500 * time.Millisecond},
	{N: 40, Interval: 300 * time.Millisecond}, // its log is a list
}

// The accounts: one short of what its numbers could send, one not.
var guaranteeAccounts = map[string]throttle.Limit{
	"acct-short": {N: 12, Interval: 300 * time.Millisecond},
	"acct-loose": {N: 200, Interval: 500 * time.Millisecond},
}

// TestGuaranteeRandomTraffic: three Limiters (as three engine processes,
// each with its own connections) share one prefix; each runs senders that
// take for random sets of numbers with random Max and weights, sleep random
// times or what Wait says, now and then cut a rate (Throttled) or give back
// part of a grant (Return). Over every window of Interval+Margin of the
// Redis clock, no number and no account is granted more than its N (sliding
// mode), and no bucket-mode number more than Burst + N in any Interval.
func TestGuaranteeRandomTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("4 s against Redis; not in -short")
	}
	t.Parallel()
	const (
		limiters = 3
		senders  = 2 // per Limiter and account
		duration = 4 * time.Second
		margin   = 5 * time.Millisecond
	)
	ctx := context.Background()
	_, prefix := testenv.Redis(t)
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg := throttle.Config{Prefix: prefix, Margin: margin,
		Adaptive: throttle.Adaptive{Recovery: 1500 * time.Millisecond, Hold: 200 * time.Millisecond}}
	var ls []*throttle.Limiter
	for range limiters {
		c := redis.NewClient(opt)
		defer c.Close()
		l, err := throttle.New(c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	for a := range guaranteeAccounts {
		idle(t, ls[0], a)
	}

	var log grantLog
	end := time.Now().Add(duration)
	var wg sync.WaitGroup
	var seed uint64
	for _, l := range ls {
		for account, acct := range guaranteeAccounts {
			for range senders {
				seed++
				rng := rand.New(rand.NewPCG(seed, 42))
				wg.Go(func() {
					for time.Now().Before(end) {
						var wants []throttle.Want
						for _, i := range rng.Perm(len(guaranteeNumbers))[:1+rng.IntN(len(guaranteeNumbers))] {
							wants = append(wants, throttle.Want{
								Number: fmt.Sprintf("+1555000%02d", i), Limit: guaranteeNumbers[i],
								Weight: float64(rng.IntN(4)), Max: rng.IntN(6),
							})
						}
						r, err := l.Take(ctx, account, acct, wants)
						if err != nil {
							t.Error(err)
							return
						}
						minWait := 20 * time.Millisecond
						for i, g := range r.Grants {
							n := g.N
							if n > 0 && rng.IntN(20) == 0 { // the bind dropped: some never written
								back := 1 + rng.IntN(n)
								if err := l.Return(ctx, account, acct, wants[i].Number, wants[i].Limit, back, r.Now); err != nil {
									t.Error(err)
									return
								}
								n -= back
							}
							if n > 0 {
								log.add(account+" "+wants[i].Number, r.Now, n)
								log.add(account, r.Now, n)
							}
							if g.Wait > 0 {
								minWait = min(minWait, g.Wait)
							}
						}
						if rng.IntN(400) == 0 {
							num := ""
							lim := acct
							if rng.IntN(2) == 0 {
								num, lim = wants[0].Number, wants[0].Limit
							}
							if _, err := l.Throttled(ctx, account, num, lim); err != nil {
								t.Error(err)
								return
							}
						}
						// A sender's pace: random, or as soon as the
						// shortest Wait says there is room.
						if rng.IntN(2) == 0 {
							time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
						} else {
							time.Sleep(minWait)
						}
					}
				})
			}
		}
	}
	wg.Wait()

	for account, acct := range guaranteeAccounts {
		w, total := log.worst(account, acct.Interval+margin)
		t.Logf("%s (%d per %v): %d segments, worst window %d", account, acct.N, acct.Interval, total, w)
		if w > acct.N {
			t.Errorf("account %s: %d segments in one window of %v, limit %d", account, w, acct.Interval+margin, acct.N)
		}
		if total == 0 {
			t.Errorf("account %s: nothing granted", account)
		}
		for i, lim := range guaranteeNumbers {
			name := fmt.Sprintf("%s +1555000%02d", account, i)
			if lim.Mode == throttle.Bucket {
				burst := lim.Burst
				if burst == 0 {
					burst = lim.N
				}
				w, total := log.worst(name, lim.Interval)
				t.Logf("  %s (bucket %d per %v, burst %d): %d segments, worst window of %v %d", name, lim.N, lim.Interval, burst, total, lim.Interval, w)
				if w > burst+lim.N || total == 0 {
					t.Errorf("%s (bucket %d per %v, burst %d): worst window %d, %d in all", name, lim.N, lim.Interval, burst, w, total)
				}
				continue
			}
			w, total := log.worst(name, lim.Interval+margin)
			t.Logf("  %s (%d per %v): %d segments, worst window %d", name, lim.N, lim.Interval, total, w)
			if w > lim.N || total == 0 {
				t.Errorf("%s (%d per %v): worst window %d, %d in all", name, lim.N, lim.Interval, w, total)
			}
		}
	}
	var st throttle.Stats
	for _, l := range ls {
		s := l.Stats()
		st.Takes += s.Takes
		st.Granted += s.Granted
		st.Returned += s.Returned
		st.Cuts += s.Cuts
	}
	t.Logf("%d takes, %d segments granted, %d returned, %d cuts", st.Takes, st.Granted, st.Returned, st.Cuts)
}

// TestSlidingUtilisation: a number that always wants more, taking again
// whenever Wait says, gets at least 97% of N per Interval (sliding mode,
// margin 10 ms). What is measured is the limiter: the time this test's
// goroutine takes to wake and call again (the machine's load) is the
// caller's, and is left out; the raw figure is logged.
func TestSlidingUtilisation(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t, throttle.Config{}, "carrierU")
	lim := throttle.Limit{N: 10, Interval: time.Second}
	want := throttle.Want{Number: "+15551230009", Limit: lim, Max: 1000}
	var (
		first, last time.Time
		lastN, sum  int
		late        time.Duration // from when Wait said to when the next Take ran
		due         time.Time
		takes       int
	)
	for {
		r := take(t, l, "carrierU", big, want)
		takes++
		if !due.IsZero() && r.Now.After(due) {
			late += r.Now.Sub(due)
		}
		g := r.Grants[0]
		if g.N > 0 {
			if first.IsZero() {
				first = r.Now
			}
			sum += g.N
			last, lastN = r.Now, g.N
		}
		if r.Now.Sub(first) >= 4*time.Second {
			break
		}
		if g.Wait == 0 {
			t.Fatalf("a number wanting more with room left: %+v", r)
		}
		due = r.Now.Add(g.Wait)
		time.Sleep(g.Wait)
	}
	// Everything granted before the last grant, over the time up to it:
	// the steady rate.
	span := last.Sub(first)
	ideal := float64(lim.N) * span.Seconds() / lim.Interval.Seconds()
	raw := float64(sum-lastN) / ideal
	util := float64(sum-lastN) / (ideal * (span - late).Seconds() / span.Seconds())
	t.Logf("%d segments in %d takes over %v: %.1f%% of %d per %v (%.1f%% counting the %v this goroutine woke late)",
		sum, takes, span, util*100, lim.N, lim.Interval, raw*100, late)
	if util < 0.97 {
		t.Errorf("utilisation %.1f%% < 97%%", util*100)
	}
}
