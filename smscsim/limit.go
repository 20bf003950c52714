package smscsim

import "math"

// gcra is a token bucket in its GCRA form (the generic cell rate algorithm):
// one number, the theoretical arrival time, in integer nanoseconds, so that
// no rounding accumulates. A request of n segments is allowed when, after
// adding n emission intervals, the bucket is no more than burst intervals
// ahead of now. Its zero value allows everything.
type gcra struct {
	interval int64 // nanoseconds per segment; 0 means no limit
	burst    int64 // bucket size in segments
	tat      int64 // theoretical arrival time
}

func newGCRA(rate float64, burst int) gcra {
	if rate <= 0 {
		return gcra{}
	}
	if burst <= 0 {
		burst = int(math.Max(1, math.Ceil(rate)))
	}
	iv := int64(math.Round(1e9 / rate))
	if iv < 1 {
		iv = 1
	}
	return gcra{interval: iv, burst: int64(burst)}
}

// limited reports whether the bucket limits anything.
func (g *gcra) limited() bool { return g.interval > 0 }

// allows reports whether n segments may pass at now, without taking them.
func (g *gcra) allows(now int64, n int) bool {
	if g.interval == 0 {
		return true
	}
	tat := max(g.tat, now)
	return tat+int64(n)*g.interval-now <= g.burst*g.interval
}

// take charges n segments at now (after allows said yes).
func (g *gcra) take(now int64, n int) {
	if g.interval == 0 {
		return
	}
	g.tat = max(g.tat, now) + int64(n)*g.interval
}

// slidingMax finds the most segments accepted in any one-second window
// [t, t+1s), exactly: it keeps the accept time of each segment of the last
// second in a ring, and on each accept at now evicts those at or before
// now−1s, so the ring holds the window (now−1s, now] that ends with this
// accept. The maximum over all windows is reached by one that ends at an
// accept, so the ring's length after each accept finds it.
//
// Times must not decrease from one add to the next (the caller holds the
// lock under which it reads the clock). The ring holds one int64 per
// segment of the last second: 8 MB at a million segments per second.
type slidingMax struct {
	ring []int64 // power-of-two length
	head int     // oldest entry
	n    int     // entries in the ring
	max  int64
	at   int64 // when max was first reached (end of that window)
}

const second = int64(1e9)

func (w *slidingMax) add(now int64, k int) {
	w.evict(now)
	for range k {
		if w.n == len(w.ring) {
			w.grow()
		}
		w.ring[(w.head+w.n)&(len(w.ring)-1)] = now
		w.n++
	}
	if int64(w.n) > w.max {
		w.max, w.at = int64(w.n), now
	}
}

func (w *slidingMax) evict(now int64) {
	mask := len(w.ring) - 1
	for w.n > 0 && w.ring[w.head] <= now-second {
		w.head = (w.head + 1) & mask
		w.n--
	}
}

func (w *slidingMax) grow() {
	size := len(w.ring) * 2
	if size == 0 {
		size = 64
	}
	r := make([]int64, size)
	for i := 0; i < w.n; i++ {
		r[i] = w.ring[(w.head+i)&(len(w.ring)-1)]
	}
	w.ring, w.head = r, 0
}
