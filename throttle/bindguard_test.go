package throttle_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/throttle"
)

func TestBindGuardShare(t *testing.T) {
	t.Parallel()
	g, err := throttle.NewBindGuard(10, 4) // 2.5 segments/s per bind, burst 3
	if err != nil {
		t.Fatal(err)
	}
	if r, b := g.Limit(); r != 2.5 || b != 3 {
		t.Fatalf("limit %v burst %d", r, b)
	}
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if !g.AllowAt(t0) {
			t.Fatalf("segment %d of the burst refused", i)
		}
	}
	if g.AllowAt(t0) || g.AllowAt(t0.Add(399*time.Millisecond)) {
		t.Fatal("allowed beyond the burst before 1/2.5 s")
	}
	if !g.AllowAt(t0.Add(400 * time.Millisecond)) {
		t.Fatal("refused after 1/2.5 s")
	}
	// Over 10 s of fake time, at most rate·10 s + burst.
	n := 0
	for ms := 401; ms <= 10400; ms++ {
		if g.AllowAt(t0.Add(time.Duration(ms) * time.Millisecond)) {
			n++
		}
	}
	if n != 25 {
		t.Fatalf("%d segments in 10 s at 2.5/s", n)
	}

	// A bind closes: the other three take its share.
	if err := g.SetShare(t0.Add(11*time.Second), 9, 3); err != nil {
		t.Fatal(err)
	}
	if r, b := g.Limit(); r != 3 || b != 3 {
		t.Fatalf("after SetShare: %v, %d", r, b)
	}
	// Slow shares still allow one segment at a time.
	if slow, err := throttle.NewBindGuard(0.5, 2); err != nil {
		t.Fatal(err)
	} else if r, b := slow.Limit(); r != 0.25 || b != 1 {
		t.Fatalf("0.5 TPS over 2 binds: %v, %d", r, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tps   float64
		binds int
	}{{0, 1}, {-1, 1}, {math.NaN(), 1}, {10, 0}, {10, -2}} {
		if _, err := throttle.NewBindGuard(c.tps, c.binds); !errors.Is(err, throttle.ErrInvalid) {
			t.Errorf("NewBindGuard(%v, %d): %v", c.tps, c.binds, err)
		}
		if err := g.SetShare(t0, c.tps, c.binds); !errors.Is(err, throttle.ErrInvalid) {
			t.Errorf("SetShare(%v, %d): %v", c.tps, c.binds, err)
		}
	}
}
