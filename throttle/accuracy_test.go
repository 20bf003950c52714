package throttle_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/throttle"
)

// The accuracy test of issue 4: 4 OS processes share one Redis and send for
// the same 50 numbers in 3 classes (1, 3 and 10 segments/s), each with a
// backlog of messages of 1–3 segments, for 20 s. For every number, no closed
// 1-second window holds more than rate+burst segments (by the Redis-clock
// time each segment was booked for), and at least 97% of what the rate
// allows in those 20 s is sent.

const (
	accProcs    = 4
	accNumbers  = 50
	accDuration = 20 * time.Second
	accHorizon  = 2 * time.Second
	accMaxSpan  = 3 * time.Second
)

var accClasses = []throttle.Class{
	{Name: "shared", Rate: 1, Burst: 1},
	{Name: "tollfree", Rate: 3, Burst: 2},
	{Name: "dedicated", Rate: 10, Burst: 3},
}

// accNumber is number i of the test: its E.164, class and carrier account.
func accNumber(i int) (string, throttle.Class, string) {
	return fmt.Sprintf("+1555700%04d", i), accClasses[i%len(accClasses)], []string{"carrier-A", "carrier-B"}[i%2]
}

func accConfig(prefix string) throttle.Config {
	return throttle.Config{Prefix: prefix, Horizon: accHorizon, MaxSpan: accMaxSpan, Logger: quiet}
}

// accAccount is the carrier account bucket: far above the numbers' sum, so
// the numbers are what is measured (TestAccountBucket measures accounts).
var accAccount = throttle.Account(1000, 100)

func TestAccuracyMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s against Redis; not in -short")
	}
	t.Parallel()
	ctx := context.Background()
	c, prefix := testenv.Redis(t)
	l, err := throttle.New(c, accConfig(prefix))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"carrier-A", "carrier-B"} {
		if _, err := l.AssumeIdle(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	now, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	t0 := now.Add(2 * time.Second) // time for the processes to start
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, accProcs)
	outs := make([][]byte, accProcs)
	for p := range accProcs {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, accDuration+60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(cctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
			cmd.Env = append(os.Environ(),
				"THROTTLE_HELPER=1",
				"REDIS_URL="+testenv.RedisURL(),
				"THROTTLE_PREFIX="+prefix,
				"THROTTLE_T0="+strconv.FormatInt(t0.UnixMicro(), 10),
				"THROTTLE_PROC="+strconv.Itoa(p),
				"THROTTLE_OUT="+filepath.Join(dir, fmt.Sprintf("sends-%d.txt", p)),
			)
			outs[p], errs[p] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for p, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v\n%s", p, err, outs[p])
		}
	}

	// server[n] are the Redis-clock µs booked for number n's segments; local
	// the local clock when each was submitted (after Wait).
	server, local := map[string][]int64{}, map[string][]int64{}
	for p := range accProcs {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("sends-%d.txt", p)))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var n string
			var s, lo int64
			if _, err := fmt.Sscan(sc.Text(), &n, &s, &lo); err != nil {
				t.Fatalf("process %d: line %q: %v", p, sc.Text(), err)
			}
			server[n] = append(server[n], s)
			local[n] = append(local[n], lo)
		}
		f.Close()
	}

	type classStat struct {
		worst, worstLocal int
		minUtil, sumUtil  float64
		numbers, segments int
	}
	stats := map[string]*classStat{}
	from, to := t0.UnixMicro(), t0.Add(accDuration).UnixMicro()
	for i := range accNumbers {
		num, class, _ := accNumber(i)
		st := stats[class.Name]
		if st == nil {
			st = &classStat{minUtil: 1e9}
			stats[class.Name] = st
		}
		ts := server[num]
		w, wl := worstWindow(ts, time.Second), worstWindow(local[num], time.Second)
		in := 0
		for _, s := range ts {
			if s >= from && s < to {
				in++
			}
		}
		util := float64(in) / (class.Rate * accDuration.Seconds())
		st.worst, st.worstLocal = max(st.worst, w), max(st.worstLocal, wl)
		st.minUtil, st.sumUtil = min(st.minUtil, util), st.sumUtil+util
		st.numbers++
		st.segments += in
		if limit := int(class.Rate) + class.Burst; w > limit {
			t.Errorf("%s (%s): %d segments in one second, limit %d", num, class.Name, w, limit)
		}
		if util < 0.97 {
			t.Errorf("%s (%s): %d segments in %v, %.1f%% of its rate", num, class.Name, in, accDuration, util*100)
		}
	}
	t.Logf("%d processes, %d numbers, %v, messages of 1-3 segments:", accProcs, accNumbers, accDuration)
	for _, class := range accClasses {
		st := stats[class.Name]
		t.Logf("  %-9s %4.0f/s burst %d: %2d numbers, %5d segments; worst 1-s window %2d (limit %2d; %2d by local submit time); utilisation min %.1f%% mean %.1f%%",
			class.Name, class.Rate, class.Burst, st.numbers, st.segments, st.worst, int(class.Rate)+class.Burst,
			st.worstLocal, st.minUtil*100, st.sumUtil/float64(st.numbers)*100)
	}
}

// TestHelperProcess is one sending process of TestAccuracyMultiProcess; it
// does nothing unless THROTTLE_HELPER is set.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("THROTTLE_HELPER") != "1" {
		t.Skip("a helper for TestAccuracyMultiProcess")
	}
	ctx := context.Background()
	opt, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	l, err := throttle.New(c, accConfig(os.Getenv("THROTTLE_PREFIX")))
	if err != nil {
		t.Fatal(err)
	}
	t0us, _ := strconv.ParseInt(os.Getenv("THROTTLE_T0"), 10, 64)
	proc, _ := strconv.Atoi(os.Getenv("THROTTLE_PROC"))
	// Start at t0 on the Redis clock; stop booking first segments at t0+20s.
	rt, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	offset := time.Since(rt) // local minus Redis, give or take half a round trip
	start := time.UnixMicro(t0us).Add(offset)
	end := start.Add(accDuration)
	endServer := time.UnixMicro(t0us).Add(accDuration)
	time.Sleep(time.Until(start))

	var (
		mu     sync.Mutex
		lines  []string
		failed []string
	)
	var wg sync.WaitGroup
	for i := range accNumbers {
		num, class, account := accNumber(i)
		req := throttle.Request{Account: account, Buckets: []throttle.Bucket{throttle.Number(num, class), accAccount}}
		rng := rand.New(rand.NewPCG(uint64(proc), uint64(i)))
		wg.Go(func() {
			for time.Now().Before(end) {
				req.Cost = 1 + rng.IntN(3)
				r, err := l.Reserve(ctx, req)
				var he *throttle.HorizonError
				switch {
				case errors.As(err, &he):
					time.Sleep(max(he.RetryAfter(), time.Millisecond))
					continue
				case err != nil:
					mu.Lock()
					failed = append(failed, fmt.Sprintf("%s: %v", num, err))
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if !r.ServerTime(0).Before(endServer) {
					_ = r.Cancel(ctx)
					return
				}
				for s := range req.Cost {
					if err := r.WaitSegment(ctx, s); err != nil {
						mu.Lock()
						failed = append(failed, fmt.Sprintf("%s: wait: %v", num, err))
						mu.Unlock()
						break
					}
					line := fmt.Sprintf("%s %d %d", num, r.ServerTime(s).UnixMicro(), time.Now().UnixMicro())
					mu.Lock()
					lines = append(lines, line)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d failures, first: %s", len(failed), failed[0])
	}
	slices.Sort(lines)
	if err := os.WriteFile(os.Getenv("THROTTLE_OUT"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("process %d: %d segments, %+v", proc, len(lines), l.Stats())
}
