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
	w := newWriteLog(3, time.Second, t0)
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
	w2 := newWriteLog(1, time.Second, t0)
	w2.add(t0.Add(1500*time.Microsecond), 1)
	if got := w2.wait(t0.Add(1001500*time.Microsecond), 1); got != 500*time.Microsecond {
		t.Fatalf("rounded up: wait %v, want 500µs", got)
	}
	if newWriteLog(0, time.Second, t0) != nil || (*writeLog)(nil).wait(t0, 5) != 0 || !(*writeLog)(nil).idle(t0) {
		t.Fatal("a nil log checks nothing")
	}
}

// Writes of many milliseconds keep one record each, and the log drops what
// no longer counts.
func TestWriteLogPrunes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	w := newWriteLog(1000, 100*time.Millisecond, t0)
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
}
