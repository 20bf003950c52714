package smscsim

// Test hooks: the rate limiter and the sliding window on a fake clock.

// TestWindow is slidingMax for the external tests.
type TestWindow struct{ w slidingMax }

// Add records k segments accepted at t (nanoseconds, non-decreasing).
func (w *TestWindow) Add(t int64, k int) { w.w.add(t, k) }

// Max returns the most segments in any window [t, t+1s) so far.
func (w *TestWindow) Max() int64 { return w.w.max }

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
