package throttle

import (
	"math"
	"slices"
)

// This file mirrors throttle.lua's arithmetic in Go, operation by operation,
// with the caller's clock (habit 15). Nothing in the Limiter uses it: it
// exists so the arithmetic can be tested on a fake clock (gcra_test.go), and
// script_test.go holds the script to the same replies. Keep the two in step:
// same operations in the same order, on float64 where Lua computes on doubles.

// bucketState is one bucket's hash as the script keeps it (see doc.go).
type bucketState struct {
	HasTAT           bool
	TAT, Prev        int64   // t, p
	Holes, PrevHoles []int64 // h, q: a1 b1 a2 b2 …
	Token            string  // r
	HasCut           bool
	FCut, Cut        int64 // f, c
	HasDay           bool
	Day, Cnt         int64 // dd, dc
}

// fenceState is an account's fence hash.
type fenceState struct {
	Exists           bool
	Epoch, Refreshed int64 // f, r
}

type reserveArgs struct {
	Cost                       int
	Horizon, MaxSpan, Recovery int64
	Floor                      int64 // Adaptive.Floor in ppm
	Token                      string
	Buckets                    []bucketParams
}

// fraction mirrors the script's fraction(): the share of the configured rate
// in force at now, in ppm.
func fraction(st *bucketState, now, recovery int64) int64 {
	if !st.HasCut {
		return ppm
	}
	elapsed := max(now-st.Cut, 0)
	if elapsed >= recovery {
		return ppm
	}
	f := st.FCut + int64(math.Floor(float64(elapsed)*ppm/float64(recovery)))
	return min(f, ppm)
}

// effectiveInterval is the emission interval at fraction f (ppm) of the
// configured interval t: never shorter than t.
func effectiveInterval(t, f int64) int64 {
	return int64(math.Ceil(float64(t) * ppm / float64(f)))
}

const maxHoles = 32

// pruneHoles mirrors parseholes: holes trimmed to start no earlier than
// from (no segment from now on can use capacity before now-tau), dropped when
// empty.
func pruneHoles(raw []int64, from int64) []int64 {
	var h []int64
	for i := 0; i+1 < len(raw); i += 2 {
		if a, b := max(raw[i], from), raw[i+1]; b > a {
			h = append(h, a, b)
		}
	}
	return h
}

// freeIn mirrors freein: how much free capacity (holes, and all time from
// the TAT on) lies within [x, y].
func freeIn(tat int64, h []int64, x, y int64) int64 {
	f := int64(0)
	for k := 0; k+1 < len(h); k += 2 {
		if lo, hi := max(h[k], x), min(h[k+1], y); hi > lo {
			f += hi - lo
		}
	}
	if lo := max(tat, x); y > lo {
		f += y - lo
	}
	return f
}

// place mirrors the script's place: the earliest time t >= lo at which the
// bucket has T of free capacity within [t-tau, t+T].
func place(tat int64, h []int64, T, tau, lo int64) int64 {
	fp := freeIn(tat, h, lo-tau, lo+T)
	if fp >= T {
		return lo
	}
	if len(h) == 0 {
		return max(lo, tat)
	}
	// The free capacity in the window is piecewise linear in t, with
	// breakpoints where a window end crosses an end of a free interval.
	var pts []int64
	for _, e := range append(slices.Clone(h), tat) {
		if e+tau > lo {
			pts = append(pts, e+tau)
		}
		if e-T > lo {
			pts = append(pts, e-T)
		}
	}
	slices.Sort(pts)
	p := lo
	for _, q := range pts {
		if q == p {
			continue
		}
		fq := freeIn(tat, h, q-tau, q+T)
		if fq >= T {
			slope := (fq - fp) / (q - p)
			return p + int64(math.Ceil(float64(T-fp)/float64(slope)))
		}
		p, fp = q, fq
	}
	return max(lo, tat)
}

// dropSmallest mirrors dropsmallest: it removes the shortest hole (the
// earliest of equals).
func dropSmallest(h []int64) []int64 {
	k := 0
	for i := 2; i+1 < len(h); i += 2 {
		if h[i+1]-h[i] < h[k+1]-h[k] {
			k = i
		}
	}
	return append(h[:k:k], h[k+2:]...)
}

// take mirrors the script's take: a segment at t takes T of the free
// capacity within [t-tau, t+T], the earliest first. It returns the new TAT
// and holes; from is the earliest capacity worth keeping (now-tau).
func take(tat int64, h []int64, T, tau, t, from int64) (int64, []int64) {
	w0, w1 := t-tau, t+T
	need := T
	var n []int64
	for k := 0; k+1 < len(h); k += 2 {
		a, b := h[k], h[k+1]
		lo, hi := max(a, w0), min(b, w1)
		if need > 0 && hi > lo {
			x := min(need, hi-lo)
			if lo > a {
				n = append(n, a, lo)
			}
			if b > lo+x {
				n = append(n, lo+x, b)
			}
			need -= x
		} else {
			n = append(n, a, b)
		}
	}
	if need > 0 {
		lo := max(tat, w0)
		if g := max(tat, from); lo > g {
			n = append(n, g, lo)
		}
		tat = lo + need
	}
	for len(n) > 2*maxHoles {
		n = dropSmallest(n)
	}
	return tat, n
}

// reserveAt mirrors the script's reserve at Redis time now and returns its
// reply. It updates fence and, when it grants, states.
func reserveAt(now int64, fence *fenceState, states []*bucketState, a reserveArgs) []int64 {
	if !fence.Exists {
		*fence = fenceState{Exists: true, Epoch: now, Refreshed: now}
	} else if now-fence.Refreshed > 3600000000 {
		fence.Refreshed = now
	}
	quiet := fence.Epoch + a.Horizon + a.MaxSpan

	m := len(states)
	tat := make([]int64, m)
	prev := make([]int64, m)
	holes := make([][]int64, m)
	T := make([]int64, m)
	for j, st := range states {
		p := a.Buckets[j]
		T[j] = effectiveInterval(p.T, fraction(st, now, a.Recovery))
		t := st.TAT
		if !st.HasTAT {
			t = quiet + int64(math.Ceil(float64(p.T)*ppm/float64(a.Floor)))
		}
		tat[j], prev[j] = t, t
		holes[j] = pruneHoles(st.Holes, now-p.Tau)
	}

	times := make([]int64, a.Cost)
	s := now
	limFirst, limLast := int64(0), int64(0)
	for i := range a.Cost {
		lim := int64(0)
		settled := false
		for range 16 {
			settled = true
			for j := range m {
				if t := place(tat[j], holes[j], T[j], a.Buckets[j].Tau, s); t > s {
					s, lim, settled = t, int64(j+1), false
				}
			}
			if settled {
				break
			}
		}
		if !settled {
			for j := range m {
				if tat[j] > s {
					s, lim = tat[j], int64(j+1)
				}
			}
		}
		times[i] = s
		if i == 0 {
			limFirst = lim
		}
		if lim > 0 {
			limLast = lim
		}
		for j := range m {
			tat[j], holes[j] = take(tat[j], holes[j], T[j], a.Buckets[j].Tau, s, now-a.Buckets[j].Tau)
		}
	}

	first := times[0]
	if first-now > a.Horizon {
		return []int64{codeHorizon, now, first - now, limFirst}
	}
	if span := times[a.Cost-1] - first; span > a.MaxSpan {
		return []int64{codeSpan, now, span, limLast}
	}
	dFirst := floorDay(first)
	dd := make([]int64, m)
	used := make([]int64, m)
	for j, st := range states {
		if a.Buckets[j].Cap <= 0 {
			continue
		}
		dj := dFirst
		if st.HasDay && st.Day > dj {
			dj = st.Day
		}
		dd[j] = dj
		if st.HasDay && st.Day == dj {
			used[j] = st.Cnt
		}
		if used[j]+int64(a.Cost) > a.Buckets[j].Cap {
			return []int64{codeCap, now, (dj+1)*dayMicros - now, int64(j + 1)}
		}
	}

	for j, st := range states {
		st.PrevHoles = st.Holes
		st.HasTAT, st.TAT, st.Prev, st.Holes, st.Token = true, tat[j], prev[j], slices.Clone(holes[j]), a.Token
		if a.Buckets[j].Cap > 0 {
			st.HasDay, st.Day, st.Cnt = true, dd[j], used[j]+int64(a.Cost)
		}
	}
	return append([]int64{codeGranted, now}, times...)
}

// cancelAt mirrors the script's cancel and returns its reply: the number of
// buckets restored.
func cancelAt(states []*bucketState, token string, cost int, day int64) int64 {
	n := int64(0)
	for _, st := range states {
		if !st.HasTAT || st.Token != token {
			continue
		}
		n++
		st.TAT, st.Holes, st.Token = st.Prev, st.PrevHoles, ""
		if st.HasDay && st.Day == day {
			st.Cnt = max(st.Cnt-int64(cost), 0)
		}
	}
	return n
}

// cutAt mirrors the script's cut and returns its reply {cut?, now, fraction}.
func cutAt(now int64, st *bucketState, backoff, floor, recovery, hold int64) []int64 {
	f := fraction(st, now, recovery)
	if st.HasCut && now >= st.Cut && now-st.Cut < hold {
		return []int64{0, now, f}
	}
	nf := max(int64(math.Floor(float64(f)*float64(backoff)/ppm)), floor)
	st.HasCut, st.FCut, st.Cut = true, nf, now
	return []int64{1, now, nf}
}
