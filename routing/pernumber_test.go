package routing_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/routing"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// accountBucket is a Limiter whose only limit is the carrier account's: a
// token bucket of rate tokens per second (burst rate/10), shared by the
// wants of a Take in the order given. Each number's own rate, as reported
// to the dispatcher, is numberRate: the account is the bottleneck whenever
// more than rate/numberRate numbers have work.
type accountBucket struct {
	instant
	rate, numberRate float64
	mu               sync.Mutex
	tokens           float64
	at               time.Time
}

func (l *accountBucket) Take(ctx context.Context, reqs []routing.TakeRequest) []routing.TakeResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.at.IsZero() {
		l.at = now
	}
	l.tokens = min(l.tokens+l.rate*now.Sub(l.at).Seconds(), l.rate/10)
	l.at = now
	out := make([]routing.TakeResult, len(reqs))
	for i, r := range reqs {
		out[i].Grants = make([]routing.Grant, len(r.Wants))
		for k, w := range r.Wants {
			g := min(w.Max, int(l.tokens))
			l.tokens -= float64(g)
			out[i].Grants[k].N = g
			if g < w.Max {
				out[i].AccountWait = time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
			}
		}
	}
	return out
}

func (l *accountBucket) Rate(carrier, class string) float64 {
	if class == "" {
		return l.rate
	}
	return l.numberRate
}

// Issue 15: 200 numbers each with a deep backlog, queued one number after
// another, an in-flight budget of 100 messages and a carrier account that
// sends 400 a second, far less than the numbers' 10 a second each: every
// number gets its first message out within a few seconds (a claim takes
// from the numbers in turn), not after the backlogs of the numbers queued
// before it (FIFO across numbers: about 10 s for the last one here).
func TestDispatchEveryBackloggedNumberSendsSoon(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{Latency: 2 * time.Millisecond})
	c := startCarrierWindow(t, srv, coding.UDH8, 50, nil)
	const numbers, depth = 200, 20
	var msgs []routing.Outbound
	owner := map[int64]string{}
	for k := range numbers {
		n := fmt.Sprintf("+1555%07d", k+1)
		for i := range depth {
			m := from(int64(k*depth+i+1), n)
			m.To = fmt.Sprintf("+4477009%05d", i)
			msgs = append(msgs, m)
			owner[m.ID] = n
		}
	}
	store := newMemStore(msgs...)
	d, err := routing.NewDispatcher(routing.DispatcherConfig{
		Owner: "test", Store: store, Limiter: &accountBucket{rate: 400, numberRate: 10},
		Carriers: map[string]*routing.Carrier{"sim": c}, Poll: 10 * time.Millisecond,
		InFlight: 100, ClaimBatch: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	const bound = 4 * time.Second
	firsts := func() map[string]time.Duration {
		store.mu.Lock()
		defer store.mu.Unlock()
		out := map[string]time.Duration{}
		for id, at := range store.recorded {
			n := owner[id]
			if w, ok := out[n]; !ok || at.Sub(start) < w {
				out[n] = at.Sub(start)
			}
		}
		return out
	}
	for time.Since(start) < bound && len(firsts()) < numbers {
		time.Sleep(20 * time.Millisecond)
	}
	f := firsts()
	if len(f) < numbers {
		t.Fatalf("after %v only %d of %d numbers sent anything", bound, len(f), numbers)
	}
	var last time.Duration
	for _, w := range f {
		last = max(last, w)
	}
	t.Logf("every number's first message out after at most %v", last)
	// The in-flight budget was kept: no number's backlog was all claimed.
	if st := d.Stats(); st.InFlight > 100 {
		t.Fatalf("%d messages held, over the budget of 100", st.InFlight)
	}
}
