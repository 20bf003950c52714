package routing

import (
	"testing"
	"time"
)

// The write check allows n segments in any interval of length within, at
// millisecond precision, counting a write for up to 1 ms longer than it
// happened.
func TestWriteLogWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	w := newWriteLog(3, time.Second, 0, t0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		at    int // ms after base
		k     int
		wait  time.Duration // what wait answers before the write
		write bool
	}{
		{0, 1, 0, true},
		{100, 2, 0, true},                       // 3 in the interval
		{200, 1, 800 * time.Millisecond, false}, // the write at 0 leaves at 1000
		{999, 1, time.Millisecond, false},
		{1000, 1, 0, true},
		{1000, 2, 100 * time.Millisecond, false}, // both of 100 must leave
		{1100, 2, 0, true},
		{1101, 4, 999 * time.Millisecond, false}, // more than n: when nothing counts
		{2100, 4, 0, true},                       // granted at once: allowed alone
		{2101, 1, 999 * time.Millisecond, false},
	}
	for i, s := range steps {
		if got := w.wait(at(s.at), s.k); got != s.wait {
			t.Fatalf("step %d: wait(%d ms, %d) = %v, want %v", i, s.at, s.k, got, s.wait)
		}
		if s.write {
			w.add(at(s.at), s.k)
		}
	}
	if w.idle(at(3099)) || !w.idle(at(3100)) {
		t.Fatal("idle: the write at 2100 counts until 3100")
	}
	// A write between two milliseconds counts until the next one's end.
	w2 := newWriteLog(1, time.Second, 0, t0)
	w2.add(t0.Add(1500*time.Microsecond), 1)
	if got := w2.wait(t0.Add(1001500*time.Microsecond), 1); got != 500*time.Microsecond {
		t.Fatalf("rounded up: wait %v, want 500µs", got)
	}
	if newWriteLog(0, time.Second, 0, t0) != nil || (*writeLog)(nil).wait(t0, 5) != 0 || !(*writeLog)(nil).idle(t0) {
		t.Fatal("a nil log checks nothing")
	}
}

// Writes of many milliseconds keep one record each, and the log drops what
// no longer counts.
func TestWriteLogPrunes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	w := newWriteLog(1000, 100*time.Millisecond, 0, t0)
	for ms := range 10_000 {
		now := t0.Add(time.Duration(ms) * time.Millisecond)
		if got := w.wait(now, 1); got != 0 {
			t.Fatalf("%d ms: wait %v with 1 per ms", ms, got)
		}
		w.add(now, 1)
	}
	if n := len(w.recs) - w.head; n > 101 || w.sum != n {
		t.Fatalf("%d records holding %d segments, want ≤ 101 (one per ms of the interval)", n, w.sum)
	}
	// explain's history: the longest check and the time a refusal takes to come.
	if n, most := len(w.recs)-w.tail, int((100*time.Millisecond+w.maxSpread()+explainAfter)/time.Millisecond)+1; n > most {
		t.Fatalf("%d records kept, want ≤ %d", n, most)
	}
}

// explain finds the spread that accounts for a refusal, widen makes the
// check hold it, and narrow gives it back after a while.
func TestWriteLogExplainsRefusalsBySpread(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	w := newWriteLog(3, time.Second, 10*time.Millisecond, t0)
	for _, ms := range []int{0, 10, 20} {
		w.add(at(ms), 1)
	}
	// At 1040 the check lets a fourth go (the write at 0 left at 1010,
	// the one at 10 at 1020, ...).
	if got := w.wait(at(1040), 2); got != 0 {
		t.Fatalf("wait %v at 1040 for 2", got)
	}
	w.add(at(1040), 2)
	// A carrier that counted the write at 10 more than 30 ms later than
	// the one at 1040 saw four in its second: 31 ms of spread explain it.
	s, ok := w.explain(at(1040), at(1060))
	if !ok || s != 31*time.Millisecond {
		t.Fatalf("explain: %v, %v; want 31ms, true", s, ok)
	}
	if !w.widen(s, at(1060)) || w.within != time.Second+41*time.Millisecond {
		t.Fatalf("widen: within %v, want 1.041s (the margin on top)", w.within)
	}
	if w.widen(5*time.Millisecond, at(1060)) {
		t.Fatal("a smaller spread widened it again")
	}
	// The wider check counts the writes at 10 and 20 again: one more waits
	// until both have left, at 1061 (it went at once at 1.010 s).
	if got := w.wait(at(1045), 1); got != 16*time.Millisecond {
		t.Fatalf("wait after widening: %v, want 16ms (until 1061)", got)
	}
	// Nothing within a tenth of the interval explains a write alone in
	// its second: the carrier allows less than it was told.
	w2 := newWriteLog(3, time.Second, 10*time.Millisecond, t0)
	w2.add(at(0), 1)
	w2.add(at(500), 1)
	if _, ok := w2.explain(at(500), at(520)); ok {
		t.Fatal("explained a refusal of the second write of a second allowing 3")
	}
	// Four writes 200 ms apart: the fourth is explained only by 400 ms,
	// past the tenth.
	w3 := newWriteLog(3, time.Second, 10*time.Millisecond, t0)
	for _, ms := range []int{0, 800, 900, 1600} {
		w3.add(at(ms), 1)
	}
	if s, ok := w3.explain(at(1600), at(1610)); ok {
		t.Fatalf("explained by %v, past the tenth of the interval", s)
	}
	if _, ok := w3.explain(at(900), at(910)); ok {
		t.Fatal("explained a refusal of the third write of a second allowing 3")
	}
	// Four in a second (written past the check: another process's grant)
	// explain a refusal with no spread at all.
	w4 := newWriteLog(3, time.Second, 10*time.Millisecond, t0)
	for _, ms := range []int{0, 800, 900, 950} {
		w4.add(at(ms), 1)
	}
	if s, ok := w4.explain(at(950), at(960)); !ok || s != 0 {
		t.Fatalf("four in a second allowing 3: explained by %v, %v; want 0, true", s, ok)
	}
	// The widened check is kept for spreadHold, then halves.
	if w.narrow(at(1060).Add(time.Minute), 5*time.Minute) {
		t.Fatal("narrowed before the hold")
	}
	if !w.narrow(at(1060).Add(5*time.Minute), 5*time.Minute) || w.within != time.Second+25*time.Millisecond+500*time.Microsecond {
		t.Fatalf("narrow: within %v, want 1.0255s", w.within)
	}
	// Each refusal the check did not cover at least doubles the spread,
	// up to a tenth of the interval.
	w5 := newWriteLog(3, time.Second, 10*time.Millisecond, t0)
	for i, c := range []struct{ s, within time.Duration }{
		{11 * time.Millisecond, 1021 * time.Millisecond},
		{15 * time.Millisecond, 1042 * time.Millisecond},
		{500 * time.Millisecond, 1100 * time.Millisecond},
	} {
		if !w5.widen(c.s, t0) || w5.within != c.within {
			t.Fatalf("widen %d by %v: within %v, want %v", i, c.s, w5.within, c.within)
		}
	}
	if (*writeLog)(nil).narrow(t0, 0) {
		t.Fatal("a nil log narrowed")
	}
	if _, ok := (*writeLog)(nil).explain(t0, t0); ok {
		t.Fatal("a nil log explained")
	}
}
