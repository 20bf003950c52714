package throttle_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/throttle"
)

// TestAdaptive: Throttled halves a bucket's rate (a sliding window twice as
// long, a bucket's T twice as long), cuts within the hold count once, and
// the rate recovers linearly over Adaptive.Recovery.
func TestAdaptive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A long hold: the second cut below must fall within it on a slow machine.
	l, _, _ := newLimiter(t, throttle.Config{Adaptive: throttle.Adaptive{Hold: 10 * time.Second}}, "carrierT", "carrierT2")
	lim := throttle.Limit{N: 10}
	if r, err := l.EffectiveRate(ctx, "carrierT", "+1", lim); err != nil || r != 10 {
		t.Fatalf("effective rate before any cut: %v, %v", r, err)
	}
	if r, err := l.Throttled(ctx, "carrierT", "+1", lim); err != nil || r != 5 {
		t.Fatalf("after a cut: %v, %v; want 5", r, err)
	}
	if r, err := l.Throttled(ctx, "carrierT", "+1", lim); err != nil || r < 5 || r > 5.1 {
		t.Fatalf("a second 0x58 within the hold counts once: %v, %v", r, err)
	}
	if s := l.Stats(); s.Cuts != 1 {
		t.Fatalf("stats %+v", s)
	}
	// 5 in any second now (the burst shrinks with the rate), plus the 10 ms
	// margin.
	r := take(t, l, "carrierT", big, throttle.Want{Number: "+1", Limit: lim, Max: 20})
	if g := r.Grants[0]; g.N != 5 || !within(g.Wait, 900*time.Millisecond, 1011*time.Millisecond) {
		t.Fatalf("sliding at half rate: %+v", r)
	}

	// The account's own bucket: number "".
	acct := throttle.Limit{N: 4, Interval: 100 * time.Millisecond}
	if r, err := l.Throttled(ctx, "carrierT2", "", acct); err != nil || r != 20 {
		t.Fatalf("account cut: %v, %v; want 20", r, err)
	}
	ra := take(t, l, "carrierT2", acct, throttle.Want{Number: "+2", Limit: lim, Max: 5})
	if ra.Grants[0].N != 2 || !within(ra.AccountWait, 60*time.Millisecond, 111*time.Millisecond) {
		t.Fatalf("account at half rate: %+v", ra)
	}

	// Bucket mode: T = 100 ms becomes 200 ms.
	bl := throttle.Limit{N: 10, Mode: throttle.Bucket, Burst: 1}
	if _, err := l.Throttled(ctx, "carrierT", "+3", bl); err != nil {
		t.Fatal(err)
	}
	rb := take(t, l, "carrierT", big, throttle.Want{Number: "+3", Limit: bl, Max: 5})
	if g := rb.Grants[0]; g.N != 1 || !within(g.Wait, 150*time.Millisecond, 200*time.Millisecond) {
		t.Fatalf("bucket at half rate: %+v", rb)
	}

	// Recovery: with a 300 ms recovery, a cut to half is gone after 150 ms
	// (linearly: how far along it is depends on how fast this test runs).
	// Real time: recovery runs on Redis's clock.
	lr, _, _ := newLimiter(t, throttle.Config{Adaptive: throttle.Adaptive{Recovery: 300 * time.Millisecond}})
	if r, err := lr.Throttled(ctx, "carrierT", "+4", lim); err != nil || r != 5 {
		t.Fatalf("cut: %v, %v", r, err)
	}
	time.Sleep(75 * time.Millisecond)
	if r, err := lr.EffectiveRate(ctx, "carrierT", "+4", lim); err != nil || r <= 5 || r > 10 {
		t.Fatalf("recovering: %v, %v", r, err)
	}
	time.Sleep(100 * time.Millisecond)
	if r, err := lr.EffectiveRate(ctx, "carrierT", "+4", lim); err != nil || r != 10 {
		t.Fatalf("after recovery: %v, %v", r, err)
	}
}
