package throttle_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/throttle"
)

// BenchmarkTake: one goroutine, one Take of 1, 10 or 50 wants per round
// trip, against a private redis-server (so that its INFO commandstats count
// only this benchmark's scripts: redis-µs/call is the time Redis spent in one
// Take, the figure that bounds how many Takes a Redis serves;
// server-cpu-µs/call is the server's CPU time over the calls, reading the
// requests and writing the replies included).
//
// wants=N: the account is sliding, 1e6 segments per 500 ms with no margin,
// so its log (a list) holds a record for each of the last 500 milliseconds
// (Takes come more often than one a millisecond) and it never holds
// anything back; 20000 numbers at 10 per second (their logs inline) take
// turns, one segment each, so every want is granted and written back, and
// no key is in the CPU's cache. That is the costly case: a number granted
// nothing is not written.
//
// limited: 50 wants as above, but the account allows 1000 segments a
// second, the dispatcher's steady state under a backlog: a Take grants what
// the account has regained since the last (a segment or two), the other
// wants are told to wait for the account.
func BenchmarkTake(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("wants=%d", n), func(b *testing.B) {
			benchTake(b, n, throttle.Limit{N: 1_000_000, Interval: 500 * time.Millisecond})
		})
	}
	b.Run("wants=50,limited", func(b *testing.B) { benchTake(b, 50, throttle.Limit{N: 1000}) })
}

func benchTake(b *testing.B, wantsPerTake int, acct throttle.Limit) {
	ctx := context.Background()
	srv := testenv.StartRedisServer(b)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	l, err := throttle.New(c, throttle.Config{Margin: throttle.NoMargin})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := l.AssumeIdle(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	limited := acct.N < 1_000_000
	const numbers = 20000
	lim := throttle.Limit{N: 10}
	next := 0
	wants := make([]throttle.Want, wantsPerTake)
	takeOnce := func() {
		for i := range wants {
			wants[i] = throttle.Want{Number: "+1555" + strconv.Itoa(1000000+next), Limit: lim, Max: 1}
			next = (next + 1) % numbers
		}
		r, err := l.Take(ctx, "bench", acct, wants)
		if err != nil {
			b.Fatal(err)
		}
		if !limited && r.Granted() != wantsPerTake {
			b.Fatalf("granted %d of %d: %+v", r.Granted(), wantsPerTake, r)
		}
		if limited && r.Granted() < wantsPerTake && r.AccountWait == 0 {
			b.Fatalf("granted %d of %d with room in the account: %+v", r.Granted(), wantsPerTake, r)
		}
	}
	// Fill the account's log: 1.2 s of Takes.
	for end := time.Now().Add(1200 * time.Millisecond); time.Now().Before(end); {
		takeOnce()
	}
	records, err := c.LLen(ctx, strings.Replace(l.Key("bench", ""), "}:account", "}:log:account", 1)).Result()
	if err != nil {
		b.Fatal(err)
	}
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	cpu0 := serverCPU(b, c)
	for b.Loop() {
		takeOnce()
	}
	cpu := serverCPU(b, c) - cpu0
	calls, usec := evalStats(b, c)
	if calls > 0 {
		b.ReportMetric(float64(usec)/float64(calls), "redis-µs/call")
		b.ReportMetric(cpu/float64(calls)*1e6, "server-cpu-µs/call")
	}
	b.ReportMetric(float64(records), "account-log-records")
}

// serverCPU is the redis-server's CPU time so far (INFO cpu: user + system,
// in seconds). Unlike commandstats' µs (wall time inside the command), it
// does not count time the server spent preempted on a busy machine; it does
// count reading requests and writing replies.
func serverCPU(b *testing.B, c *redis.Client) float64 {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			x, _ := strconv.ParseFloat(v, 64)
			sum += x
		}
	}
	return sum
}

// evalStats returns the calls and µs of EVALSHA and EVAL from INFO
// commandstats. A script's µs include the commands it ran.
func evalStats(b *testing.B, c *redis.Client) (calls, usec int64) {
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") {
			continue
		}
		for _, kv := range strings.Split(line[strings.IndexByte(line, ':')+1:], ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				calls += n
			case "usec":
				usec += n
			}
		}
	}
	return calls, usec
}
