package ratelimit_test

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/ratelimit"
)

// BenchmarkTakeLocal is the per-request check when the process holds a
// grant or knows the bucket is empty: at the highest rate a grant is
// 100,000 units, so about one Take in 100,000 asks Redis, and those past
// the rate are refused locally (ns/op, allocs/op). Parallel:
// all goroutines on one bucket (the worst case for its mutex) and on one
// bucket each.
func BenchmarkTakeLocal(b *testing.B) {
	c, prefix := testenv.Redis(b)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		l := newLimiter(b, c, prefix+"s:", 0)
		k := ratelimit.Key{Kind: "requests", ID: 1}
		l.Take(ctx, k, ratelimit.MaxRate, 1)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			l.Take(ctx, k, ratelimit.MaxRate, 1)
		}
	})
	b.Run("parallel-one-bucket", func(b *testing.B) {
		l := newLimiter(b, c, prefix+"p1:", 0)
		k := ratelimit.Key{Kind: "requests", ID: 1}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Take(ctx, k, ratelimit.MaxRate, 1)
			}
		})
	})
	b.Run("parallel-own-buckets", func(b *testing.B) {
		l := newLimiter(b, c, prefix+"pn:", 0)
		var mu sync.Mutex
		id := int64(0)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			mu.Lock()
			id++
			k := ratelimit.Key{Kind: "requests", ID: id}
			mu.Unlock()
			for pb.Next() {
				l.Take(ctx, k, ratelimit.MaxRate, 1)
			}
		})
	})
}

// BenchmarkTake20k measures what the brief asks: the engine CPU the check
// costs per request at 20,000 requests a second, Redis calls included.
// Each iteration sends 20,000 Takes paced over one second by 16 goroutines
// (as the HTTP server's goroutines would call it), spread over W
// workspaces, each with a rate of 2·20000/W (the traffic uses half of
// each workspace's budget, so grants are asked for all the time; a
// workspace over its limit costs less: it is refused locally), with the
// default grant and, for 1,000 workspaces, a grant of 500 ms. The
// metric cpu-ns/req is the process's user+system CPU time divided by the
// Takes, minus that of a run that only paces (measured first); redis/s is
// the Redis calls a second.
//
//	go test -run '^$' -bench Take20k -benchtime 3x ./ratelimit/
func BenchmarkTake20k(b *testing.B) {
	const perSecond, workers = 20000, 16
	c, prefix := testenv.Redis(b)
	for _, tc := range []struct {
		w     int
		grant time.Duration
	}{{1, 0}, {100, 0}, {1000, 0}, {1000, 500 * time.Millisecond}} {
		w := tc.w
		b.Run(fmt.Sprintf("workspaces=%d/grant=%v", w, cmp.Or(tc.grant, ratelimit.DefaultGrant)), func(b *testing.B) {
			l := newLimiter(b, c, fmt.Sprintf("%sw%d-%d:", prefix, w, tc.grant), tc.grant)
			rate := 2 * perSecond / w
			ctx := context.Background()
			run := func(take bool) (time.Duration, int64) {
				cpu0 := cpuTime()
				var wg sync.WaitGroup
				var granted sync.Mutex
				total := int64(0)
				start := time.Now()
				for g := range workers {
					wg.Go(func() {
						n := int64(0)
						each := perSecond / workers
						for i := range each {
							// Pace: request i of this worker is due at i/each s.
							if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(each))); d > 0 {
								time.Sleep(d)
							}
							if take {
								k := ratelimit.Key{Kind: "requests", ID: int64((g*each + i) % w)}
								n += int64(l.Take(ctx, k, rate, 1).Granted)
							}
						}
						granted.Lock()
						total += n
						granted.Unlock()
					})
				}
				wg.Wait()
				return cpuTime() - cpu0, total
			}
			base, _ := run(false)
			b.ResetTimer()
			var cpu time.Duration
			calls0 := l.Stats().Calls
			var total int64
			for b.Loop() {
				d, n := run(true)
				cpu += d - base
				total += n
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(int64(b.N)*perSecond), "cpu-ns/req")
			b.ReportMetric(float64(l.Stats().Calls-calls0)/float64(b.N), "redis/s")
			b.ReportMetric(float64(total)/float64(int64(b.N)*perSecond), "granted/req")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
