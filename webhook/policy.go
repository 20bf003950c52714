package webhook

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults of Config's retry policy and limits.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultRetryMin     = 5 * time.Second
	DefaultRetryMax     = time.Hour
	DefaultRetryFor     = 24 * time.Hour
	DefaultFailingLimit = 3 * 24 * time.Hour
	// DefaultRetryAfterMax bounds how long a Retry-After answer may put an
	// event off.
	DefaultRetryAfterMax = 6 * time.Hour
)

// Backoff says when to try an event again.
type Backoff struct {
	Min, Max      time.Duration // exponential from Min, at most Max
	For           time.Duration // give up this long after the event was made
	RetryAfterMax time.Duration // a Retry-After longer than this is cut to it
}

// Next returns when to make attempt attempts+1 of an event made at created,
// after attempts failed ones, the last at now; or the zero time when the
// event should be given up. The delay is Min·2^(attempts-1), at most Max,
// with full jitter (uniform in [d/2, d]); a Retry-After the receiver
// answered (retryAfter > 0) replaces it when longer. The last attempt is at
// created+For at the latest.
func (b Backoff) Next(created, now time.Time, attempts int, retryAfter time.Duration) time.Time {
	end := created.Add(b.For)
	if !now.Before(end) {
		return time.Time{}
	}
	d := b.Max
	if attempts < 1 {
		attempts = 1
	}
	if shift := attempts - 1; shift < 40 {
		if e := b.Min << shift; e > 0 && e < b.Max {
			d = e
		}
	}
	d = d/2 + rand.N(d/2+1)
	if retryAfter > 0 {
		d = max(d, min(retryAfter, b.RetryAfterMax))
	}
	next := now.Add(d)
	if next.After(end) {
		next = end
	}
	return next
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date,
// relative to now. It returns 0 when the header is absent, malformed or in
// the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
