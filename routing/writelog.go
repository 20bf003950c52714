package routing

import "time"

// writeLog is the dispatcher's record of when it wrote a sender number's
// (or a carrier account's) segments, for its check at the moment of
// writing: at most n segments in any interval of length within. The
// limiter grants by the same rule, but a grant written late (a starved
// process, a slow round) and one written on time could otherwise fall
// within one interval at the carrier.
//
// A write's time is rounded up to the millisecond (recorded later than it
// happened, it only counts for longer), and the writes of one millisecond
// share a record, so a log holds at most one record per millisecond of
// within.
type writeLog struct {
	n      int
	within time.Duration
	base   time.Time  // the millisecond boundaries are base + k ms
	recs   []writeRec // oldest first, from head
	head   int
	sum    int // segments in recs[head:]
}

type writeRec struct {
	at time.Time
	k  int
}

// newWriteLog returns the log of at most n segments within within, its
// millisecond boundaries counted from now; nil when n or within is not
// positive (no check).
func newWriteLog(n int, within time.Duration, now time.Time) *writeLog {
	if n <= 0 || within <= 0 {
		return nil
	}
	return &writeLog{n: n, within: within, base: now}
}

// prune drops the records that no longer count at now.
func (w *writeLog) prune(now time.Time) {
	for w.head < len(w.recs) && !now.Before(w.recs[w.head].at.Add(w.within)) {
		w.sum -= w.recs[w.head].k
		w.recs[w.head] = writeRec{}
		w.head++
	}
	if w.head == len(w.recs) {
		w.recs, w.head = w.recs[:0], 0
	} else if w.head > 64 && w.head > len(w.recs)/2 {
		n := copy(w.recs, w.recs[w.head:])
		clear(w.recs[n:])
		w.recs, w.head = w.recs[:n], 0
	}
}

// wait is how long from now k more segments must wait: 0 when they may be
// written now. k segments more than n may go when nothing else counts (the
// limiter granted them at once).
func (w *writeLog) wait(now time.Time, k int) time.Duration {
	if w == nil {
		return 0
	}
	w.prune(now)
	excess := w.sum + k - w.n
	if excess <= 0 || w.sum == 0 {
		return 0
	}
	// The oldest records holding excess segments must leave the interval
	// (all of them, for more than n at once).
	excess = min(excess, w.sum)
	got := 0
	for _, r := range w.recs[w.head:] {
		got += r.k
		if got >= excess {
			return r.at.Add(w.within).Sub(now)
		}
	}
	return w.within // not reached: sum is the records' total
}

// add records k segments written at now.
func (w *writeLog) add(now time.Time, k int) {
	if w == nil || k <= 0 {
		return
	}
	ms := (now.Sub(w.base) + time.Millisecond - 1) / time.Millisecond
	at := w.base.Add(ms * time.Millisecond)
	if last := len(w.recs) - 1; last >= w.head && !at.After(w.recs[last].at) {
		w.recs[last].k += k // the same millisecond (or a clock that did not move on)
	} else {
		w.recs = append(w.recs, writeRec{at: at, k: k})
	}
	w.sum += k
}

// idle reports whether nothing written counts any more at now.
func (w *writeLog) idle(now time.Time) bool {
	if w == nil {
		return true
	}
	w.prune(now)
	return w.sum == 0
}
