package smscsim_test

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/switchboard-sms/switchboard/smscsim"
)

const sec = int64(1e9)

// bruteMax is the most segments in any window [t, t+1s), by brute force
// over every window that starts at an event.
func bruteMax(ts []int64, ks []int) int64 {
	var best int64
	for i := range ts {
		var sum int64
		for j := range ts {
			if ts[j] >= ts[i] && ts[j] < ts[i]+sec {
				sum += int64(ks[j])
			}
		}
		best = max(best, sum)
	}
	return best
}

// TestSlidingWindowExact: the window maximum equals the brute-force one
// on random traffic, and the edges are half-open: events exactly one
// second apart are never in one window.
func TestSlidingWindowExact(t *testing.T) {
	t.Parallel()
	var w smscsim.TestWindow
	w.Add(0, 1)
	w.Add(sec-1, 1) // same window as 0
	w.Add(sec, 1)   // not with 0
	if w.Max() != 2 {
		t.Fatalf("edges: max %d, want 2", w.Max())
	}
	r := rand.New(rand.NewPCG(7, 8))
	for round := range 50 {
		n := 1 + r.IntN(400)
		ts := make([]int64, n)
		ks := make([]int, n)
		for i := range ts {
			ts[i] = r.Int64N(5 * sec)
			if r.IntN(4) == 0 && i > 0 {
				ts[i] = ts[i-1] + sec // exactly one second after another
			}
			ks[i] = 1 + r.IntN(3)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		var w smscsim.TestWindow
		for i := range ts {
			w.Add(ts[i], ks[i])
		}
		if want := bruteMax(ts, ks); w.Max() != want {
			t.Fatalf("round %d: max %d, brute force %d", round, w.Max(), want)
		}
	}
}

// TestBucketRate: a bucket of rate r and burst b lets b through at once,
// then one every 1/r, never more than b + r in any second, and refuses a
// request larger than its burst.
func TestBucketRate(t *testing.T) {
	t.Parallel()
	b := smscsim.NewTestBucket(10, 5)
	got := 0
	for range 20 {
		if b.Take(0, 1) {
			got++
		}
	}
	if got != 5 {
		t.Fatalf("burst: %d, want 5", got)
	}
	if b.Take(sec/10-1, 1) || !b.Take(sec/10, 1) {
		t.Fatal("the next token is due 100ms later")
	}
	// Offered 1000/s for 10 s: accepted in any one-second window ≤ b + r.
	b = smscsim.NewTestBucket(10, 5)
	var w smscsim.TestWindow
	total := 0
	for t0 := int64(0); t0 < 10*sec; t0 += sec / 1000 {
		if b.Take(t0, 1) {
			w.Add(t0, 1)
			total++
		}
	}
	if w.Max() > 15 || total < 100 || total > 106 {
		t.Fatalf("window max %d, total %d", w.Max(), total)
	}
	if smscsim.NewTestBucket(1, 1).Take(0, 2) {
		t.Fatal("a request over the burst passed")
	}
	if !smscsim.NewTestBucket(0, 0).Take(0, 1000) {
		t.Fatal("rate 0 must not limit")
	}
	// 0.1 per second (a Telnyx long code): one, then the next 10 s later.
	b = smscsim.NewTestBucket(0.1, 1)
	if !b.Take(0, 1) || b.Take(9*sec, 1) || !b.Take(10*sec, 1) {
		t.Fatal("0.1/s")
	}
}
