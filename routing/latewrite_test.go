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
)

// lateLimiter allows each number n segments in any interval+margin, as
// package throttle's Sliding mode does, and hands its first grant over
// late: the scheduler waits for it as a starved process would.
type lateLimiter struct {
	instant
	n                      int
	interval, margin, late time.Duration

	mu     sync.Mutex
	grants map[string][]lateGrant
	takes  int
}

type lateGrant struct {
	at time.Time
	k  int
}

func (l *lateLimiter) Take(ctx context.Context, reqs []routing.TakeRequest) []routing.TakeResult {
	l.mu.Lock()
	now := time.Now()
	out := make([]routing.TakeResult, len(reqs))
	for i, r := range reqs {
		out[i].At = now
		out[i].Grants = make([]routing.Grant, len(r.Wants))
		for k, w := range r.Wants {
			gs := l.grants[w.Number]
			sum := 0
			kept := gs[:0]
			for _, g := range gs {
				if now.Sub(g.at) < l.interval+l.margin {
					kept = append(kept, g)
					sum += g.k
				}
			}
			gs = kept
			n := min(w.Max, l.n-sum)
			if n > 0 {
				gs = append(gs, lateGrant{now, n})
			}
			out[i].Grants[k].N = n
			if n < w.Max {
				out[i].Grants[k].Wait = gs[0].at.Add(l.interval + l.margin).Sub(now)
			}
			l.grants[w.Number] = gs
		}
	}
	l.takes++
	first := l.takes == 1
	l.mu.Unlock()
	if first {
		time.Sleep(l.late)
	}
	return out
}

func (l *lateLimiter) Return(ctx context.Context, carrier, number, class string, n int, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, g := range l.grants[number] {
		if g.at.Equal(at) {
			l.grants[number][i].k -= min(n, g.k)
		}
	}
}

func (l *lateLimiter) Rate(carrier, class string) float64 { return float64(l.n) / l.interval.Seconds() }

func (l *lateLimiter) Sliding(carrier, class string) (int, time.Duration, bool) {
	if class == "" {
		return 0, 0, false
	}
	return l.n, l.interval, true
}

// A grant handed over late is written late; grants taken on time after it
// must not put N+1 segments of the number into one interval at a carrier
// that refuses them: the dispatcher checks every write against the
// number's own recent writes (WriteMargin). Without the check (the control)
// the carrier refuses some.
func TestDispatchLateGrantNoExtraInInterval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		writeMargin time.Duration
	}{{"checked", 50 * time.Millisecond}, {"control", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			refused, maxIn := lateGrantRun(t, tc.writeMargin)
			t.Logf("refused %d, most in a second %d", refused, maxIn)
			switch {
			case tc.writeMargin >= 0 && (refused != 0 || maxIn > 5):
				t.Fatalf("carrier refused %d submits, most in a second %d (want 0 and ≤ 5)", refused, maxIn)
			case tc.writeMargin < 0 && refused == 0:
				t.Fatalf("control: the carrier refused nothing; the scenario no longer writes a grant late")
			}
		})
	}
}

// lateGrantRun sends 10 segments of one number at 5 in any second, the
// first grant (2 segments: the window) handed over 200 ms late, to a carrier
// that allows the number 5 in any sliding second; it returns how many
// submits the carrier refused and the most it accepted in a second.
func lateGrantRun(t *testing.T, writeMargin time.Duration) (refused, maxIn int64) {
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 1ms, rate: {mode: sliding, source: 5}}]`)
	c := &routing.Carrier{Name: "sim", Method: coding.UDH8, SourceTON: 1, SourceNPI: 1, DestTON: 1, DestNPI: 1}
	c.Submitter = startPool(t, smpp.SessionConfig{Addr: sim.Addr(""), SystemID: "sb", Window: 2, ReconnectMin: 10 * time.Millisecond})
	var msgs []routing.Outbound
	for i := range 10 {
		m := from(int64(i+1), "+15550000001")
		m.To = fmt.Sprintf("+4477009%05d", i)
		msgs = append(msgs, m)
	}
	store := newMemStore(msgs...)
	lim := &lateLimiter{n: 5, interval: time.Second, margin: 50 * time.Millisecond, late: 200 * time.Millisecond, grants: map[string][]lateGrant{}}
	d, err := routing.NewDispatcher(routing.DispatcherConfig{
		Owner: "test", Store: store, Limiter: lim, Carriers: map[string]*routing.Carrier{"sim": c},
		Poll: 10 * time.Millisecond, MaxHold: 5 * time.Millisecond, WriteMargin: writeMargin,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()
	testenv.Eventually(t, "a result or a retry for every message", func() bool {
		results, retries := store.snapshot()
		return len(results)+len(retries) >= len(msgs)
	})
	if writeMargin >= 0 && d.Stats().WriteHeld == 0 {
		t.Errorf("no write was held back: the late grant did not reach the check")
	}
	rep := sim.Report()
	for _, a := range rep.Accounts {
		for _, s := range a.Sources {
			maxIn = max(maxIn, s.MaxInInterval)
		}
	}
	return sim.Stats().Throttled, maxIn
}
