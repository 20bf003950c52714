package routing_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/routing"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// strictCarrier answers 0x58 to a submit that would make more than n
// accepted in any window of length within, by the time it reads them.
type strictCarrier struct {
	mu       sync.Mutex
	n        int
	within   time.Duration
	accepted []time.Time
	refused  int
}

func (c *strictCarrier) respond(*smpp.SubmitSM) smpp.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	in := 0
	for _, t := range c.accepted {
		if now.Sub(t) < c.within {
			in++
		}
	}
	if in >= c.n {
		c.refused++
		return smpp.StatusTHROTTLED
	}
	c.accepted = append(c.accepted, now)
	return smpp.StatusOK
}

// A carrier that counts a number's submits over a little more than the
// engine's interval and margin (it reads them later than we write them,
// unevenly) refuses the first submits written at the edge of the limit.
// Our own writes account for those refusals: the dispatcher widens its
// write check by that spread and slows nothing down, and the carrier
// refuses nothing more. A carrier that allows fewer than the engine was
// told is not explained so: that refusal slows the number down (the
// control).
func TestDispatchRefusalAtTheEdgeWidensTheCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		carrier   *strictCarrier
		messages  int
		explained bool
	}{
		{"lagging carrier", &strictCarrier{n: 5, within: time.Second + 40*time.Millisecond}, 15, true},
		{"lower limit", &strictCarrier{n: 3, within: time.Second}, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var refused int
			var st routing.DispatcherStats
			var throttled []string
			// A scenario the machine's load made too late to be refused
			// (the lagging carrier refuses only what comes within its 30 ms
			// of lag past the engine's check) is run again, at most 3 times.
			for try := 0; try < 3 && refused == 0; try++ {
				refused, st, throttled = edgeRun(t, &strictCarrier{n: tc.carrier.n, within: tc.carrier.within}, tc.messages)
				t.Logf("carrier refused %d; spread widened %d; slowed down %v", refused, st.SpreadWidened, throttled)
			}
			switch {
			case refused == 0:
				t.Fatal("the carrier refused nothing: the scenario no longer writes at the edge of its window")
			case tc.explained && (len(throttled) > 0 || st.SpreadWidened == 0):
				t.Fatalf("refusals at the edge slowed %v down (spread widened %d times), want the check widened and nothing slowed", throttled, st.SpreadWidened)
			case tc.explained && refused > 5:
				t.Fatalf("the carrier refused %d: more than the first burst at the edge", refused)
			case !tc.explained && (st.SpreadWidened > 0 || len(throttled) == 0):
				t.Fatalf("a lower limit widened the check %d times and slowed %v down, want the number slowed", st.SpreadWidened, throttled)
			}
		})
	}
}

// edgeRun sends messages of one number, at most 5 in any second and a
// margin of 10 ms by the limiter, to carrier; it returns what the carrier
// refused, the dispatcher's counters and what the limiter was told to
// slow down.
func edgeRun(t *testing.T, carrier *strictCarrier, messages int) (int, routing.DispatcherStats, []string) {
	lim := &lateLimiter{n: 5, interval: time.Second, margin: 10 * time.Millisecond, grants: map[string][]lateGrant{}}
	refused, st := runToCarrier(t, carrier, lim, messages)
	lim.instant.mu.Lock() // lateLimiter's own mu guards its grants
	defer lim.instant.mu.Unlock()
	return refused, st, append([]string(nil), lim.throttled...)
}

// runToCarrier sends n messages of one number through a dispatcher with
// lim (MaxHold 5 ms, WriteMargin 10 ms) to carrier until each has a
// result or a retry; it returns what the carrier refused and the
// dispatcher's counters.
func runToCarrier(t *testing.T, carrier *strictCarrier, lim routing.Limiter, n int) (int, routing.DispatcherStats) {
	srv := smpptest.Start(t, smpptest.Config{})
	srv.SetResponder(carrier.respond)
	c := startCarrierWindow(t, srv, coding.UDH8, 10, nil)
	var msgs []routing.Outbound
	for i := range n {
		m := from(int64(i+1), "+15550000001")
		m.To = fmt.Sprintf("+4477009%05d", i)
		msgs = append(msgs, m)
	}
	store := newMemStore(msgs...)
	d, err := routing.NewDispatcher(routing.DispatcherConfig{Owner: "test", Store: store, Limiter: lim, Carriers: map[string]*routing.Carrier{"sim": c},
		Poll: 10 * time.Millisecond, RetryMin: time.Minute, MaxHold: 5 * time.Millisecond, WriteMargin: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	testenv.Eventually(t, "a result or a retry for every message", func() bool {
		results, retries := store.snapshot()
		return len(results)+len(retries) >= len(msgs)
	})
	cancel()
	<-done
	carrier.mu.Lock()
	defer carrier.mu.Unlock()
	return carrier.refused, d.Stats()
}

// accountLimiter is a lateLimiter whose account is a sliding window too
// (one number: the same as the number's).
type accountLimiter struct{ *lateLimiter }

func (l accountLimiter) Sliding(carrier, class string) (int, time.Duration, bool) {
	return l.n, l.interval, true
}

// memoryLimiter is an accountLimiter that remembers spreads, as package
// throttle's does in Redis.
type memoryLimiter struct {
	accountLimiter

	mu      sync.Mutex
	spreads map[string]time.Duration
	asked   time.Duration // the largest TakeRequest.Spread
}

func (l *memoryLimiter) Spread(ctx context.Context, carrier string) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spreads[carrier], nil
}

func (l *memoryLimiter) RememberSpread(ctx context.Context, carrier string, d, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.spreads[carrier] = max(l.spreads[carrier], d)
}

// Take records the largest account spread asked for.
func (l *memoryLimiter) Take(ctx context.Context, reqs []routing.TakeRequest) []routing.TakeResult {
	l.mu.Lock()
	for _, r := range reqs {
		l.asked = max(l.asked, r.Spread)
	}
	l.mu.Unlock()
	return l.accountLimiter.Take(ctx, reqs)
}

func (l *memoryLimiter) spread(carrier string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spreads[carrier]
}

// An account's spread learned from refusals at the edge is handed to the
// Limiter's memory, and a dispatcher that starts (a restart, another
// process) with a spread remembered checks its writes with it from its
// first: a carrier lagging 40 ms past the engine's 10 ms margin refuses
// nothing of it, and refuses the same traffic without the memory (the
// control). The carrier refuses only what is written within its lag past
// the engine's check: a run the machine's load made too late to be refused
// is run again, at most three times.
func TestDispatchRemembersTheAccountSpread(t *testing.T) {
	t.Parallel()
	newLate := func() *lateLimiter {
		return &lateLimiter{n: 5, interval: time.Second, margin: 10 * time.Millisecond, grants: map[string][]lateGrant{}}
	}
	t.Run("remember", func(t *testing.T) {
		t.Parallel()
		for try := 0; try < 3; try++ {
			lim := &memoryLimiter{accountLimiter: accountLimiter{newLate()}, spreads: map[string]time.Duration{}}
			refused := spreadRun(t, lim, 10)
			if refused == 0 {
				continue
			}
			// Handed over in the background: the account's widened spread,
			// at least the 11 ms the first refusal shows.
			testenv.Eventually(t, "the account's spread remembered", func() bool { return lim.spread("sim") >= 11*time.Millisecond })
			t.Logf("refused %d; remembered %v", refused, lim.spread("sim"))
			return
		}
		t.Fatal("the carrier refused nothing in 3 runs: the scenario no longer writes at the edge")
	})
	t.Run("recall", func(t *testing.T) {
		t.Parallel()
		lim := &memoryLimiter{accountLimiter: accountLimiter{newLate()}, spreads: map[string]time.Duration{"sim": 45 * time.Millisecond}}
		if refused := spreadRun(t, lim, 10); refused != 0 {
			t.Fatalf("started with 45 ms remembered, the dispatcher was refused %d", refused)
		}
		// Its Takes ask the limiter for the same window: 45 ms past the
		// interval, 35 past the interval and the margin.
		lim.mu.Lock()
		defer lim.mu.Unlock()
		if lim.asked != 35*time.Millisecond {
			t.Fatalf("the Takes asked for an account spread of %v, want 35ms", lim.asked)
		}
	})
	t.Run("control", func(t *testing.T) {
		t.Parallel()
		for try := 0; try < 3; try++ {
			if refused := spreadRun(t, accountLimiter{newLate()}, 10); refused > 0 {
				return
			}
		}
		t.Fatal("without a memory the dispatcher was refused nothing in 3 runs: the recall shows nothing")
	})
}

// spreadRun sends n messages of one number through a dispatcher with lim
// to a carrier that counts 5 in any 1.04 s, and returns what it refused.
func spreadRun(t *testing.T, lim routing.Limiter, n int) int {
	refused, _ := runToCarrier(t, &strictCarrier{n: 5, within: time.Second + 40*time.Millisecond}, lim, n)
	return refused
}
