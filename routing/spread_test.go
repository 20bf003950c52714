package routing_test

import (
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
			carrier := tc.carrier
			srv := smpptest.Start(t, smpptest.Config{})
			srv.SetResponder(carrier.respond)
			c := startCarrierWindow(t, srv, coding.UDH8, 10, nil)
			var msgs []routing.Outbound
			for i := range tc.messages {
				m := from(int64(i+1), "+15550000001")
				m.To = fmt.Sprintf("+4477009%05d", i)
				msgs = append(msgs, m)
			}
			store := newMemStore(msgs...)
			lim := &lateLimiter{n: 5, interval: time.Second, margin: 10 * time.Millisecond, grants: map[string][]lateGrant{}}
			d := runDispatcherOf(t, store, lim, map[string]*routing.Carrier{"sim": c}, time.Minute, func(cfg *routing.DispatcherConfig) {
				cfg.MaxHold, cfg.WriteMargin = 5*time.Millisecond, 10*time.Millisecond
			})
			testenv.Eventually(t, "a result or a retry for every message", func() bool {
				results, retries := store.snapshot()
				return len(results)+len(retries) >= len(msgs)
			})
			carrier.mu.Lock()
			refused := carrier.refused
			carrier.mu.Unlock()
			lim.instant.mu.Lock() // lateLimiter's own mu guards its grants
			throttled := append([]string(nil), lim.throttled...)
			lim.instant.mu.Unlock()
			st := d.Stats()
			t.Logf("carrier refused %d; spread widened %d; slowed down %v", refused, st.SpreadWidened, throttled)
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
