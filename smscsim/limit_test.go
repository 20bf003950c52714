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

const ms = int64(1e6)

// TestSlidingLimitBoundaries: at most n segments in any interval, with
// the edges exact: a segment at t counts in (t−span, t] and stops counting
// at exactly t+span; a request of k segments needs room for all k.
func TestSlidingLimitBoundaries(t *testing.T) {
	t.Parallel()
	type step struct {
		at   int64
		k    int
		want bool
	}
	for _, tc := range []struct {
		name  string
		n     int
		span  int64
		steps []step
		tight int64
	}{
		{"1/s", 1, sec, []step{
			{0, 1, true}, {sec - 1, 1, false}, {sec, 1, true}, {2*sec - 1, 1, false}, {2 * sec, 1, true},
		}, sec},
		{"3/s", 3, sec, []step{
			{0, 1, true}, {500 * ms, 1, true}, {900 * ms, 1, true}, {sec - 1, 1, false},
			{sec, 1, true},          // the one at 0 has left
			{1400 * ms, 1, false},   // 500, 900, 1000 in (400, 1400]
			{1500 * ms, 1, true},    // 500 left at exactly 1500
			{1900 * ms, 1, true},    // 900 left at exactly 1900
			{1900*ms + 1, 1, false}, // 1000, 1500, 1900
			{2 * sec, 1, true},      // 1000 left
		}, sec},
		{"segments", 3, sec, []step{
			{0, 2, true}, {500 * ms, 2, false}, {500 * ms, 1, true}, {700 * ms, 1, false},
			{sec - 1, 2, false}, {sec, 2, true}, // 0, 0 left: 500 + 2 = 3
			{1500*ms - 1, 1, false}, {1500 * ms, 1, true},
		}, sec},
		{"larger than n", 3, sec, []step{{0, 4, false}, {0, 3, true}, {10 * sec, 4, false}}, 0},
		{"one instant", 2, sec, []step{{5 * sec, 1, true}, {5 * sec, 1, true}, {5 * sec, 1, false}, {6 * sec, 2, true}}, sec},
		{"long interval", 2, 60 * sec, []step{{0, 1, true}, {59 * sec, 1, true}, {60*sec - 1, 1, false}, {60 * sec, 1, true}, {119 * sec, 1, true}}, 60 * sec},
		{"spaced", 1, sec, []step{{0, 1, true}, {1050 * ms, 1, true}, {2100 * ms, 1, true}, {3300 * ms, 1, true}}, 1050 * ms},
		{"no limit", 0, sec, []step{{0, 1000, true}, {0, 1000, true}}, 0},
	} {
		l := smscsim.NewTestLimit(tc.n, tc.span)
		for i, s := range tc.steps {
			if got := l.Take(s.at, s.k); got != s.want {
				t.Errorf("%s: step %d: %d segments at %v: allowed %v, want %v", tc.name, i, s.k, s.at, got, s.want)
			}
		}
		if l.Tightest() != tc.tight {
			t.Errorf("%s: tightest %d, want %d", tc.name, l.Tightest(), tc.tight)
		}
	}
}

// modelLimit is the sliding limit by its definition: every accepted
// segment's time, counted over (u−span, u] at each request.
type modelLimit struct {
	n    int
	span int64
	ts   []int64
}

// allows reports whether k segments may pass at u.
func (m *modelLimit) allows(u int64, k int) bool {
	if m.n == 0 {
		return true
	}
	in := 0
	for _, t := range m.ts {
		if t > u-m.span && t <= u {
			in++
		}
	}
	return in+k <= m.n
}

// take takes k segments at u when they may pass.
func (m *modelLimit) take(u int64, k int) bool {
	if !m.allows(u, k) {
		return false
	}
	for range k {
		m.ts = append(m.ts, u)
	}
	return true
}

// tightest is the smallest ts[i+n] − ts[i], or 0.
func tightest(ts []int64, n int) int64 {
	var best int64
	for i := 0; n > 0 && i+n < len(ts); i++ {
		if d := ts[i+n] - ts[i]; best == 0 || d < best {
			best = d
		}
	}
	return best
}

// maxIn is the most of ts in any window [t, t+span), by brute force.
func maxIn(ts []int64, span int64) int64 {
	var best int64
	for _, a := range ts {
		var n int64
		for _, b := range ts {
			if b >= a && b < a+span {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

// TestSlidingLimitModel: on random traffic (gaps that often land exactly
// on the interval or one nanosecond either side of it, several segments at
// once), the limit decides as the definition does, its tightest spacing is
// the brute-force one, and a window of the same span never sees more than
// n.
func TestSlidingLimitModel(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	for round := range 300 {
		n := 1 + r.IntN(6)
		span := (1 + r.Int64N(30)) * 100 * ms
		l := smscsim.NewTestLimit(n, span)
		m := &modelLimit{n: n, span: span}
		w := smscsim.NewTestWindow(span)
		now := int64(0)
		for i := range 200 {
			switch r.IntN(5) {
			case 0: // exactly a span after an accepted segment, or next to it
				if len(m.ts) > 0 {
					now = max(now, m.ts[r.IntN(len(m.ts))]+span+r.Int64N(3)-1)
				}
			case 1: // the same instant
			default:
				now += r.Int64N(span / int64(n))
			}
			k := 1 + r.IntN(3)
			want := m.take(now, k)
			if got := l.Take(now, k); got != want {
				t.Fatalf("round %d (n %d span %v) request %d: %d at %d: allowed %v, model %v", round, n, span, i, k, now, got, want)
			}
			if want {
				w.Add(now, k)
			}
		}
		if got, want := l.Tightest(), tightest(m.ts, n); got != want {
			t.Fatalf("round %d: tightest %d, brute force %d", round, got, want)
		}
		if got, want := w.Max(), maxIn(m.ts, span); got != want || got > int64(n) {
			t.Fatalf("round %d: window max %d, brute force %d, limit %d", round, got, want, n)
		}
	}
}
