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
	// interval is the limit's own interval, base its check's length
	// without a spread learned from refusals (interval + the margin), and
	// within is base or more: see widen.
	interval, base time.Duration
	widenedAt      time.Time  // when within last grew past base
	epoch          time.Time  // the millisecond boundaries are epoch + k ms
	recs           []writeRec // oldest first, from tail
	tail           int        // first record kept (for explain)
	head           int        // first record counted (within of now)
	sum            int        // segments in recs[head:]
}

type writeRec struct {
	at time.Time
	k  int
}

// newWriteLog returns the log of at most n segments in any interval of
// length interval+margin, its millisecond boundaries counted from now; nil
// when n or that length is not positive (no check).
func newWriteLog(n int, interval, margin time.Duration, now time.Time) *writeLog {
	if n <= 0 || interval+margin <= 0 {
		return nil
	}
	return &writeLog{n: n, within: interval + margin, interval: interval, base: interval + margin, epoch: now}
}

// maxSpread is the most a log's check grows past its limit's interval
// when refusals show the carrier counting later than the margin allows
// (see widen): a tenth of the interval, so a rate never loses more than
// about a tenth to it.
func (w *writeLog) maxSpread() time.Duration { return w.interval / 10 }

// keep is how long a record stays after it stops counting: long enough
// for explain to look back over the longest check, from the answer to the
// write it is asked about (which comes a round trip later).
func (w *writeLog) keep() time.Duration { return w.interval + w.maxSpread() + explainAfter - w.within }

// explainAfter is how long after a write explain can still account for
// its refusal: the answer's round trip and the scheduler's next round. A
// refusal answered later (a carrier that slow) is not explained, and
// slows down as any other.
const explainAfter = 2 * time.Second

// prune stops counting the records that no longer count at now and drops
// those explain can no longer need.
func (w *writeLog) prune(now time.Time) {
	for w.head < len(w.recs) && !now.Before(w.recs[w.head].at.Add(w.within)) {
		w.sum -= w.recs[w.head].k
		w.head++
	}
	keep := w.keep()
	for w.tail < w.head && !now.Before(w.recs[w.tail].at.Add(w.within+keep)) {
		w.recs[w.tail] = writeRec{}
		w.tail++
	}
	if w.tail == len(w.recs) {
		w.recs, w.tail, w.head = w.recs[:0], 0, 0
	} else if w.tail > 64 && w.tail > len(w.recs)/2 {
		n := copy(w.recs, w.recs[w.tail:])
		clear(w.recs[n:])
		w.recs, w.head, w.tail = w.recs[:n], w.head-w.tail, 0
	}
}

// explain looks for the spread that accounts for a refusal of a write at
// at by a carrier that allows n in any interval: the least s such that
// more than n of the logged segments fall in (at − interval − s, at], that
// is, how much later than this log the carrier must have counted the
// older writes (its reading lagging behind our writing, unevenly) for the
// write at at to be its n+1st. It is 0 when our own writes already put
// more than n in the interval (another process's writes are not logged
// here). ok is false when no s up to maxSpread accounts for it: the
// carrier allows fewer than we were told, or others send on the account.
func (w *writeLog) explain(at time.Time, now time.Time) (s time.Duration, ok bool) {
	if w == nil {
		return 0, false
	}
	w.prune(now)
	at = w.round(at)
	got := 0
	for i := len(w.recs) - 1; i >= w.tail; i-- {
		r := w.recs[i]
		if r.at.After(at) {
			continue
		}
		got += r.k
		if got > w.n {
			s = at.Add(-w.interval).Sub(r.at) + time.Millisecond
			if s > w.maxSpread() {
				return 0, false
			}
			return max(s, 0), true
		}
	}
	return 0, false
}

// widen makes the check hold n in any interval+margin+s from now on (s
// from explain) when it held less; and then at least twice the spread it
// held, so that a carrier lagging further than each refusal showed is
// caught up with in a few. Refusals the check already covers (of writes
// made before it grew) change nothing. At most interval+maxSpread; it
// reports whether the check grew.
func (w *writeLog) widen(s time.Duration, now time.Time) bool {
	if w.base+s <= w.within {
		return false
	}
	return w.growTo(max(w.base+s, w.interval+2*(w.within-w.interval)), now)
}

// spread is what the check holds beyond the interval and margin it was
// made with (widen, hold): the spread to ask the limiter's window for too.
func (w *writeLog) spread() time.Duration {
	if w == nil {
		return 0
	}
	return w.within - w.base
}

// hold makes the check hold n in any interval+d from now on, d being a
// spread another check learned (within − interval, as remembered), at
// most interval+maxSpread; it reports whether the check grew.
func (w *writeLog) hold(d time.Duration, now time.Time) bool {
	return w != nil && w.growTo(w.interval+d, now)
}

// growTo makes the check's length within, at most interval+maxSpread,
// when that is longer than it is; it reports whether it grew.
func (w *writeLog) growTo(within time.Duration, now time.Time) bool {
	within = min(within, w.interval+w.maxSpread())
	if within <= w.within {
		return false
	}
	w.within, w.widenedAt = within, now
	w.recount(now)
	return true
}

// narrow halves what widen added, once it has held for hold without
// growing again; it reports whether it did.
func (w *writeLog) narrow(now time.Time, hold time.Duration) bool {
	if w == nil || w.within == w.base || now.Sub(w.widenedAt) < hold {
		return false
	}
	w.within = w.base + (w.within-w.base)/2
	if w.within-w.base < time.Millisecond {
		w.within = w.base
	}
	w.widenedAt = now
	w.recount(now)
	return true
}

// recount makes head and sum count what falls within of now after within
// changed (a longer check counts older records again).
func (w *writeLog) recount(now time.Time) {
	w.head, w.sum = w.tail, 0
	for _, r := range w.recs[w.tail:] {
		w.sum += r.k
	}
	w.prune(now)
}

// round is t rounded up to the log's millisecond.
func (w *writeLog) round(t time.Time) time.Time {
	ms := (t.Sub(w.epoch) + time.Millisecond - 1) / time.Millisecond
	return w.epoch.Add(ms * time.Millisecond)
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
	at := w.round(now)
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
