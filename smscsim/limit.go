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

// slidingMax finds the most segments accepted in any window [t, t+span),
// span one second unless set, exactly: it keeps the accept time of each
// segment of the last span in a ring, and on each accept at now evicts
// those at or before now−span, so the ring holds the window (now−span, now]
// that ends with this accept. The maximum over all windows is reached by
// one that ends at an accept, so the ring's length after each accept finds
// it.
//
// Times must not decrease from one add to the next (the caller holds the
// lock under which it reads the clock). The ring holds one int64 per
// segment of the last span: 8 MB at a million segments per second over
// one second.
type slidingMax struct {
	span int64   // window length in nanoseconds; 0 means one second
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
	span := w.span
	if span == 0 {
		span = second
	}
	for w.n > 0 && w.ring[w.head] <= now-span {
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

// slidingLimit is a strict carrier's limit: at most n segments in any
// interval of length span, counted at their arrival. It keeps the arrival
// times of the last n accepted segments in a ring, oldest first; a request
// of k segments at now is allowed when at most n−k of them are in
// (now−span, now], i.e. when the k-th oldest of the last n arrived at or
// before now−span (a segment at t stops counting at exactly t+span). One
// comparison per request, one store per segment; the ring grows to n
// entries as segments are accepted, so a source that sends little costs
// little. The ring also yields the tightest spacing: the smallest
// t[i+n] − t[i] over all accepted segments, taken as each segment pushes
// out the one n before it. Its zero value allows everything.
//
// Times must not decrease from one call to the next (see slidingMax).
type slidingLimit struct {
	n     int     // segments per span; 0 means no limit
	span  int64   // nanoseconds
	ring  []int64 // power-of-two length, at most the next power of two ≥ n
	head  int     // oldest entry
	cnt   int     // entries, at most n
	tight int64   // smallest t[i+n] − t[i] so far; 0 while none
}

func newSlidingLimit(n int, span int64) slidingLimit {
	if n <= 0 {
		return slidingLimit{}
	}
	return slidingLimit{n: n, span: span}
}

// allows reports whether k segments may pass at now, without taking them.
// A request of more than n segments never passes.
func (l *slidingLimit) allows(now int64, k int) bool {
	if l.n == 0 {
		return true
	}
	if k > l.n {
		return false
	}
	// The last n accepted, oldest first, are n−cnt that never were (long
	// ago) and then the ring; the k-th of them must be out of the window.
	missing := l.n - l.cnt
	if k <= missing {
		return true
	}
	t := l.ring[(l.head+k-missing-1)&(len(l.ring)-1)]
	return t <= now-l.span
}

// take records k segments arriving at now (after allows said yes).
func (l *slidingLimit) take(now int64, k int) {
	if l.n == 0 {
		return
	}
	for range k {
		if l.cnt == l.n {
			// now is t[i+n] for the oldest entry t[i].
			if d := now - l.ring[l.head]; l.tight == 0 || d < l.tight {
				l.tight = max(d, 1) // ≥ span, as allows let it pass; 0 means none
			}
			l.head = (l.head + 1) & (len(l.ring) - 1)
			l.cnt--
		}
		if l.cnt == len(l.ring) {
			l.grow()
		}
		l.ring[(l.head+l.cnt)&(len(l.ring)-1)] = now
		l.cnt++
	}
}

func (l *slidingLimit) grow() {
	size := len(l.ring) * 2
	if size == 0 {
		size = 1
		for size < l.n && size < 16 {
			size *= 2
		}
	}
	r := make([]int64, size)
	for i := 0; i < l.cnt; i++ {
		r[i] = l.ring[(l.head+i)&(len(l.ring)-1)]
	}
	l.ring, l.head = r, 0
}
