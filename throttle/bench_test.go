package throttle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/throttle"
)

// Benchmarks against the Redis of REDIS_URL: acquisitions per second and
// round trips per acquisition (counted by a client hook). The ceiling to
// compare with is redis-benchmark's own figure for a trivial script on the
// same machine, e.g.
//
//	sha=$(redis-cli SCRIPT LOAD "return 1")
//	redis-benchmark -n 200000 -q EVALSHA $sha 0          # 50 clients, one command per round trip
//	redis-benchmark -n 200000 -q -P 100 EVALSHA $sha 0   # pipelined, 100 per round trip
//
// and, for the cost of this package's own script in Redis (the same two
// buckets as below; delete the sbbench: keys afterwards):
//
//	sha=$(redis-cli SCRIPT LOAD "$(cat throttle/throttle.lua)")
//	redis-cli HSET 'sbbench:{a}:fence' f 0 r 0
//	redis-benchmark -r 1000 -n 100000 -q [-P 100] EVALSHA $sha 3 'sbbench:{a}:fence' \
//	    'sbbench:{a}:number:__rand_int__' 'sbbench:{a}:account' \
//	    reserve 1 30000000 60000000 tok 60000000 100000 10 90 0 1 99 0
//
// Each acquisition takes a number's bucket and its account's (two buckets,
// the fence, one script call), spread over 1000 numbers fast enough never to
// queue, so what is measured is the round trip and the script.

var (
	benchClass   = throttle.Class{Name: "bench", Rate: 1e5, Burst: 10}
	benchAccount = throttle.Account(1e6, 100)
)

func benchRequests(n int) []throttle.Request {
	reqs := make([]throttle.Request, n)
	for i := range reqs {
		reqs[i] = throttle.Request{Account: "bench", Cost: 1, Buckets: []throttle.Bucket{
			throttle.Number(fmt.Sprintf("+1555%07d", i%1000), benchClass), benchAccount}}
	}
	return reqs
}

func benchLimiter(b *testing.B) (*throttle.Limiter, *roundTrips) {
	l, c, _ := newLimiter(b, throttle.Config{}, "bench")
	if err := l.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	rt := &roundTrips{}
	c.AddHook(rt)
	return l, rt
}

func report(b *testing.B, rt *roundTrips, acquisitions int, d time.Duration) {
	b.ReportMetric(float64(acquisitions)/d.Seconds(), "acq/s")
	b.ReportMetric(float64(rt.single.Load()+rt.pipelines.Load())/float64(acquisitions), "roundtrips/acq")
}

// BenchmarkReserve: one goroutine, one acquisition per round trip.
func BenchmarkReserve(b *testing.B) {
	l, rt := benchLimiter(b)
	reqs := benchRequests(1000)
	ctx := context.Background()
	i := 0
	start := time.Now()
	for b.Loop() {
		if _, err := l.Reserve(ctx, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	report(b, rt, i, time.Since(start))
}

// BenchmarkReserveParallel: 50 goroutines (redis-benchmark's default client
// count), one acquisition per round trip each.
func BenchmarkReserveParallel(b *testing.B) {
	l, rt := benchLimiter(b)
	reqs := benchRequests(1000)
	ctx := context.Background()
	b.SetParallelism(25) // × GOMAXPROCS (2 here) = 50 goroutines
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := l.Reserve(ctx, reqs[i%len(reqs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	report(b, rt, b.N, time.Since(start))
}

// BenchmarkReserveBatch: one goroutine, 100 acquisitions per pipelined round
// trip. One op is one acquisition.
func BenchmarkReserveBatch(b *testing.B) {
	l, rt := benchLimiter(b)
	const batch = 100
	reqs := benchRequests(batch)
	ctx := context.Background()
	start := time.Now()
	n := 0
	for n < b.N {
		k := min(batch, b.N-n)
		for _, r := range l.ReserveBatch(ctx, reqs[:k]) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
		n += k
	}
	report(b, rt, n, time.Since(start))
}

// BenchmarkReserveBatchParallel: 4 goroutines, each 100 acquisitions per
// pipelined round trip.
func BenchmarkReserveBatchParallel(b *testing.B) {
	l, rt := benchLimiter(b)
	const batch = 100
	reqs := benchRequests(batch * 4)
	ctx := context.Background()
	b.SetParallelism(2)
	start := time.Now()
	var acquired = make(chan int, 64)
	b.RunParallel(func(pb *testing.PB) {
		n, off := 0, 0
		for {
			k := 0
			for k < batch && pb.Next() {
				k++
			}
			if k == 0 {
				break
			}
			for _, r := range l.ReserveBatch(ctx, reqs[off:off+k]) {
				if r.Err != nil {
					b.Error(r.Err)
					return
				}
			}
			off = (off + batch) % len(reqs)
			n += k
		}
		acquired <- n
	})
	close(acquired)
	total := 0
	for n := range acquired {
		total += n
	}
	report(b, rt, total, time.Since(start))
}
