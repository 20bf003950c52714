package smscsim

import "time"

// Test hooks: the rate limiter and the sliding window on a fake clock.

// TestWindow is slidingMax for the external tests.
type TestWindow struct{ w slidingMax }

// Add records k segments accepted at t (nanoseconds, non-decreasing).
func (w *TestWindow) Add(t int64, k int) { w.w.add(t, k) }

// Max returns the most segments in any window [t, t+1s) so far (or of
// the span NewTestWindow set).
func (w *TestWindow) Max() int64 { return w.w.max }

// NewTestWindow returns a window maximum over windows of span nanoseconds.
func NewTestWindow(span int64) *TestWindow { return &TestWindow{w: slidingMax{span: span}} }

// TestLimit is the sliding-window limit for the external tests.
type TestLimit struct{ l slidingLimit }

// NewTestLimit returns a limit of n segments in any interval of span
// nanoseconds.
func NewTestLimit(n int, span int64) *TestLimit {
	return &TestLimit{l: newSlidingLimit(n, span)}
}

// Take takes k segments at t (nanoseconds, non-decreasing) when the limit
// allows them.
func (l *TestLimit) Take(t int64, k int) bool {
	if !l.l.allows(t, k) {
		return false
	}
	l.l.take(t, k)
	return true
}

// Tightest returns the smallest t[i+n] − t[i] of the segments taken, or 0.
func (l *TestLimit) Tightest() int64 { return l.l.tight }

// Admission is one decision of an account's rate limits.
type Admission struct {
	Account, Source string
	At              time.Duration // since the simulator started
	Segments        int
	// Verdict is "ok", "account" (refused: the account is full) or
	// "source" (refused: the source is full).
	Verdict string
}

// RecordAdmissions makes the simulator started with cfg call f with each
// decision of its rate limits, in the order each account made them (under
// the account's lock: f must not call into the simulator).
func RecordAdmissions(cfg *Config, f func(Admission)) {
	cfg.admitHook = func(acct, src string, now int64, segs, verdict int) {
		v := "ok"
		switch verdict {
		case admitAccount:
			v = "account"
		case admitSource:
			v = "source"
		}
		f(Admission{Account: acct, Source: src, At: time.Duration(now), Segments: segs, Verdict: v})
	}
}

// TestBucket is the GCRA token bucket for the external tests.
type TestBucket struct{ g gcra }

// NewTestBucket returns a bucket of rate segments per second and burst.
func NewTestBucket(rate float64, burst int) *TestBucket {
	return &TestBucket{g: newGCRA(rate, burst)}
}

// Take takes n segments at t when the bucket has them.
func (b *TestBucket) Take(t int64, n int) bool {
	if !b.g.allows(t, n) {
		return false
	}
	b.g.take(t, n)
	return true
}
