package throttle_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/throttle"
)

// syncBuffer is a log sink safe for concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFailClosedRedisRestart runs senders against a private redis-server,
// kills it (SIGKILL, no persistence: its data is lost) mid-run and starts it
// again. While it is down nothing is granted and nothing new is sent, the
// state shows and is logged once; when it is back sending resumes by itself,
// after the quiet period that covers reservations made before the loss; and
// no number ever exceeds its rate, across the whole run.
func TestFailClosedRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and starts a redis-server; not in -short")
	}
	t.Parallel()
	const (
		numbers = 5
		horizon = time.Second
		maxSpan = 1500 * time.Millisecond
	)
	class := throttle.Class{Name: "shared", Rate: 2, Burst: 1}
	srv := testenv.StartRedisServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond})
	defer c.Close()
	var logs syncBuffer
	var (
		hmu    sync.Mutex
		health []bool
	)
	l, err := throttle.New(c, throttle.Config{
		Horizon: horizon, MaxSpan: maxSpan, Adaptive: throttle.Adaptive{Floor: 0.5},
		Logger:         slog.New(slog.NewTextHandler(&logs, nil)),
		OnHealthChange: func(ok bool, _ error) { hmu.Lock(); health = append(health, ok); hmu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := l.AssumeIdle(ctx, "carrierF"); err != nil {
		t.Fatal(err)
	}

	type send struct {
		server int64     // Redis-clock µs booked
		local  time.Time // when it was submitted
		first  bool      // a message's first segment
	}
	var (
		mu        sync.Mutex
		sends     = map[string][]send{}
		refusedUn int // calls that failed with ErrUnavailable
		dropped   int // reservations not released because Redis was lost
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for n := range numbers {
		for range 2 {
			wg.Go(func() {
				num := throttle.Number(fmt.Sprintf("+1555999%04d", n), class)
				req := throttle.Request{Account: "carrierF", Cost: 1 + n%2, Buckets: []throttle.Bucket{num, throttle.Account(100, 10)}}
				for {
					select {
					case <-stop:
						return
					default:
					}
					r, err := l.Reserve(ctx, req)
					var he *throttle.HorizonError
					switch {
					case errors.As(err, &he):
						time.Sleep(max(he.RetryAfter(), time.Millisecond))
						continue
					case errors.Is(err, throttle.ErrUnavailable):
						mu.Lock()
						refusedUn++
						mu.Unlock()
						time.Sleep(50 * time.Millisecond) // the dispatcher's backoff
						continue
					case err != nil:
						t.Error(err)
						return
					}
					for i := range req.Cost {
						if err := r.WaitSegment(ctx, i); err != nil {
							if !errors.Is(err, throttle.ErrUnavailable) {
								t.Error(err)
							}
							mu.Lock()
							dropped++
							mu.Unlock()
							break
						}
						mu.Lock()
						sends[num.ID] = append(sends[num.ID], send{r.ServerTime(i).UnixMicro(), time.Now(), i == 0})
						mu.Unlock()
					}
				}
			})
		}
	}
	count := func(from, to time.Time, firstOnly bool) int {
		mu.Lock()
		defer mu.Unlock()
		k := 0
		for _, ss := range sends {
			for _, s := range ss {
				if !s.local.Before(from) && s.local.Before(to) && (s.first || !firstOnly) {
					k++
				}
			}
		}
		return k
	}

	time.Sleep(3 * time.Second)
	tStop := time.Now()
	srv.Stop()
	time.Sleep(3 * time.Second)
	downHealthy := l.Healthy()
	downStats := l.Stats()
	tStart := time.Now()
	srv.Start()
	// Sending resumes by itself: wait for it, at most 15 s.
	var resumed time.Time
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if count(tStart, time.Now(), false) > 0 {
			resumed = time.Now()
			break
		}
	}
	if !resumed.IsZero() {
		time.Sleep(2 * time.Second)
	}
	close(stop)
	wg.Wait()

	before := count(tStop.Add(-3*time.Second), tStop, false)
	// Reservations granted before the stop may still be released until the
	// first failed call marks the Limiter unhealthy (a 2/s sender calls again
	// within half a second); after that, no message starts.
	late := count(tStop.Add(time.Second), tStart, true)
	after := count(tStart, time.Now(), false)
	t.Logf("before the stop: %d segments in 3 s; down for %v: %d failed calls, %d reservations not released, %d messages started after stop+1s; "+
		"Redis back (data lost): first segment after %v, %d segments in the next 2 s; health %v",
		before, tStart.Sub(tStop).Round(time.Millisecond), downStats.Failures, dropped, late,
		resumed.Sub(tStart).Round(time.Millisecond), after, health)
	if before == 0 {
		t.Fatal("nothing was sent before the stop")
	}
	if downHealthy || downStats.Healthy || downStats.DownSince.IsZero() {
		t.Errorf("still healthy with Redis down: %+v", downStats)
	}
	if late != 0 {
		t.Errorf("%d messages started while Redis was down", late)
	}
	if resumed.IsZero() || after == 0 {
		t.Fatalf("sending did not resume within 15 s of Redis coming back")
	}
	// The quiet period after the loss: horizon + max span + one interval at
	// the floor rate (1 s) after the fence is made again.
	if q := horizon + maxSpan + time.Second; resumed.Sub(tStart) < q-200*time.Millisecond {
		t.Errorf("resumed %v after Redis came back, before the %v quiet period", resumed.Sub(tStart), q)
	}
	if !l.Healthy() {
		t.Error("not healthy again")
	}
	hmu.Lock()
	if len(health) != 2 || health[0] || !health[1] {
		t.Errorf("health changes %v, want [false true]", health)
	}
	hmu.Unlock()
	if s := logs.String(); strings.Count(s, "fail closed") != 1 || strings.Count(s, "resumes") != 1 {
		t.Errorf("want one line each way, got:\n%s", s)
	}
	for n, ss := range sends {
		var us []int64
		for _, s := range ss {
			us = append(us, s.server)
		}
		if w := worstWindow(us, time.Second); w > int(class.Rate)+class.Burst {
			t.Errorf("%s: %d segments in one second across the restart (limit %d)", n, w, int(class.Rate)+class.Burst)
		}
	}
}
