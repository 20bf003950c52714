package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/throttle"
)

// TestFailClosedRedisRestart runs two dispatcher loops (a Take every 5 ms for
// five numbers) against a private redis-server, kills it (SIGKILL, no
// persistence: its data is lost) and starts it again half a second later.
// While it is down nothing is granted, the state shows and is logged once;
// when it is back granting resumes by itself after the quiet period (the
// longest interval plus the margin), and no number or account is granted
// more than its N in any window of Interval+Margin across the whole run.
func TestFailClosedRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and starts a redis-server; not in -short")
	}
	t.Parallel()
	const numbers = 5
	lim := throttle.Limit{N: 2}
	acct := throttle.Limit{N: 8}
	srv := testenv.StartRedisServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond})
	defer c.Close()
	core, logs := observer.New(zap.InfoLevel)
	var (
		hmu    sync.Mutex
		health []bool
	)
	l, err := throttle.New(c, throttle.Config{
		Logger:         zap.New(core),
		OnHealthChange: func(ok bool, _ error) { hmu.Lock(); health = append(health, ok); hmu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := l.AssumeIdle(ctx, "carrierF"); err != nil {
		t.Fatal(err)
	}

	var (
		log        grantLog
		mu         sync.Mutex
		local      []time.Time // when the Take of each grant was sent, local clock
		failed     int
		quietTakes int
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for d := range 2 {
		wg.Go(func() {
			var wants []throttle.Want
			for n := range numbers {
				wants = append(wants, throttle.Want{Number: fmt.Sprintf("+1555999%d%d", d, n), Limit: lim, Max: 1})
			}
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				sent := time.Now()
				r, err := l.Take(ctx, "carrierF", acct, wants)
				if err != nil {
					if !errors.Is(err, throttle.ErrUnavailable) {
						t.Error(err)
						return
					}
					mu.Lock()
					failed++
					mu.Unlock()
					continue
				}
				mu.Lock()
				if r.Quiet > 0 {
					quietTakes++
				}
				for i, g := range r.Grants {
					if g.N > 0 {
						log.add(wants[i].Number, r.Now, g.N)
						log.add("account", r.Now, g.N)
						local = append(local, sent)
					}
				}
				mu.Unlock()
			}
		})
	}
	count := func(from, to time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		k := 0
		for _, x := range local {
			if !x.Before(from) && x.Before(to) {
				k++
			}
		}
		return k
	}

	time.Sleep(2 * time.Second) // real time: two seconds of granting, counted below
	tStop := time.Now()
	srv.Stop()
	// Down for half a second at least, and long enough for a Take to fail.
	testenv.Eventually(t, "the limiter to see Redis down", func() bool { return !l.Healthy() })
	time.Sleep(time.Until(tStop.Add(500 * time.Millisecond)))
	downHealthy := l.Healthy()
	downStats := l.Stats()
	tStart := time.Now()
	srv.Start()
	var resumed time.Time
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if count(tStart, time.Now()) > 0 {
			resumed = time.Now()
			break
		}
	}
	if !resumed.IsZero() {
		time.Sleep(time.Second) // real time: a window's worth of grants after the restart, for the limits checked below
	}
	close(stop)
	wg.Wait()

	before := count(tStop.Add(-2*time.Second), tStop)
	during := count(tStop, tStart) // Takes sent after the server was killed
	t.Logf("before the stop: %d grants in 2 s; down for %v: %d failed takes, %d grants; Redis back (data lost): first grant after %v (%d takes answered quiet); health %v",
		before, tStart.Sub(tStop).Round(time.Millisecond), failed, during, resumed.Sub(tStart).Round(time.Millisecond), quietTakes, health)
	if before == 0 {
		t.Fatal("nothing was granted before the stop")
	}
	if downHealthy || downStats.Healthy || downStats.DownSince.IsZero() || downStats.Failures == 0 {
		t.Errorf("still healthy with Redis down: %+v", downStats)
	}
	if during != 0 {
		t.Errorf("%d grants while Redis was down", during)
	}
	if resumed.IsZero() {
		t.Fatalf("granting did not resume within 10 s of Redis coming back")
	}
	if q := time.Second + throttle.DefaultMargin; resumed.Sub(tStart) < q-50*time.Millisecond || quietTakes == 0 {
		t.Errorf("resumed %v after Redis came back (%d quiet takes), before the %v quiet period", resumed.Sub(tStart), quietTakes, q)
	}
	if !l.Healthy() {
		t.Error("not healthy again")
	}
	hmu.Lock()
	if len(health) != 2 || health[0] || !health[1] {
		t.Errorf("health changes %v, want [false true]", health)
	}
	hmu.Unlock()
	if logs.FilterMessageSnippet("fail closed").Len() != 1 || logs.FilterMessageSnippet("resumes").Len() != 1 {
		t.Errorf("want one line each way, got: %v", logs.All())
	}
	window := time.Second + throttle.DefaultMargin
	if w, _ := log.worst("account", window); w > acct.N {
		t.Errorf("account: %d grants in one window across the restart (limit %d)", w, acct.N)
	}
	for d := range 2 {
		for n := range numbers {
			num := fmt.Sprintf("+1555999%d%d", d, n)
			if w, _ := log.worst(num, window); w > lim.N {
				t.Errorf("%s: %d grants in one window across the restart (limit %d)", num, w, lim.N)
			}
		}
	}
}
