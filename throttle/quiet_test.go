package throttle_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/throttle"
)

// TestQuietPeriod: an account whose fence is missing (new, or Redis lost its
// data) grants nothing for the longest span of the buckets at hand plus the
// margin; AssumeIdle ends or prevents that; numbers that were not at hand
// wait their own span from the fence's creation.
func TestQuietPeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c, prefix := newLimiter(t, throttle.Config{})
	acct := throttle.Limit{N: 100, Interval: 200 * time.Millisecond}
	a := throttle.Want{Number: "+1", Limit: throttle.Limit{N: 2, Interval: 300 * time.Millisecond}, Max: 1}
	slow := throttle.Want{Number: "+2", Limit: throttle.Limit{N: 1, Interval: 700 * time.Millisecond}, Max: 1}

	// First use: the longest interval at hand (300 ms) plus the 10 ms margin.
	r := take(t, l, "carrierQ", acct, a)
	if r.Quiet != 310*time.Millisecond || r.AccountWait != r.Quiet || r.Grants[0] != (throttle.Grant{}) {
		t.Fatalf("first take: %+v", r)
	}
	until, err := l.QuietUntil(ctx, "carrierQ")
	if err != nil || !until.Equal(r.Now.Add(r.Quiet)) {
		t.Fatalf("QuietUntil %v, %v; want %v", until, err, r.Now.Add(r.Quiet))
	}
	if r2 := take(t, l, "carrierQ", acct, a, slow); r2.Quiet <= 0 || r2.Quiet > r.Quiet || r2.Granted() != 0 {
		t.Fatalf("in the quiet period: %+v", r2)
	}
	if s := l.Stats(); s.Quiet != 2 || s.Granted != 0 {
		t.Fatalf("stats %+v", s)
	}
	time.Sleep(r.Quiet)
	// After it, the numbers at hand send; one that was not waits for its own
	// 700 ms + 10 ms from the fence's creation.
	r3 := take(t, l, "carrierQ", acct, a, slow)
	slowFrom := r.Now.Add(710 * time.Millisecond)
	if r3.Quiet != 0 || r3.Grants[0].N != 1 {
		t.Fatalf("after the quiet period: %+v (fence at %v)", r3, r.Now)
	}
	if r3.Now.Before(slowFrom) && (r3.Grants[1].N != 0 || r3.Grants[1].Wait != slowFrom.Sub(r3.Now)) ||
		!r3.Now.Before(slowFrom) && r3.Grants[1].N != 1 { // a slow machine got there late
		t.Fatalf("the number not at hand: %+v (fence at %v)", r3, r.Now)
	}
	if until, err := l.QuietUntil(ctx, "carrierQ"); err != nil || !until.IsZero() {
		t.Fatalf("QuietUntil after it: %v, %v", until, err)
	}

	// Redis loses the data (all the prefix's keys): quiet again.
	testenv.DeleteKeys(ctx, c, prefix)
	r4 := take(t, l, "carrierQ", acct, a, slow)
	if r4.Quiet != 710*time.Millisecond || r4.Granted() != 0 {
		t.Fatalf("after the loss: %+v", r4)
	}
	// The engine knows nothing was sent lately: AssumeIdle ends it.
	if changed, err := l.AssumeIdle(ctx, "carrierQ"); err != nil || !changed {
		t.Fatalf("AssumeIdle in a quiet period: %v, %v", changed, err)
	}
	if r5 := take(t, l, "carrierQ", acct, a, slow); r5.Quiet != 0 || r5.Grants[0].N != 1 || r5.Grants[1].N != 1 {
		t.Fatalf("after AssumeIdle: %+v", r5)
	}
	if changed, err := l.AssumeIdle(ctx, "carrierQ"); err != nil || changed {
		t.Fatalf("AssumeIdle again: %v, %v", changed, err)
	}

	// A fresh account declared idle first sends at once.
	if changed, err := l.AssumeIdle(ctx, "carrierQ2"); err != nil || !changed {
		t.Fatalf("AssumeIdle on a new account: %v, %v", changed, err)
	}
	if r6 := take(t, l, "carrierQ2", acct, a); r6.Quiet != 0 || r6.Grants[0].N != 1 {
		t.Fatalf("fresh account after AssumeIdle: %+v", r6)
	}

	// Bucket mode: the time its burst takes to refill (30 × 50 ms), here
	// longer than the account's 200 ms + 10 ms.
	b := throttle.Want{Number: "+3", Limit: throttle.Limit{N: 20, Mode: throttle.Bucket, Burst: 30}, Max: 1}
	if r7 := take(t, l, "carrierQ3", acct, b); r7.Quiet != 1500*time.Millisecond {
		t.Fatalf("bucket mode quiet: %+v", r7)
	}
}
