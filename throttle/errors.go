package throttle

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnavailable is wrapped by every error that means Redis did not give a
// usable answer: unreachable, timed out, an error reply, a reply of the wrong
// shape. Nothing is granted then (fail closed); see Limiter.Healthy.
var ErrUnavailable = errors.New("throttle: redis unavailable")

// ErrRefused matches (errors.Is) every refusal that is not a failure: a
// *HorizonError, *SpanError or *CapError. Nothing was taken; ask again later.
var ErrRefused = errors.New("throttle: refused")

// HorizonError refuses a request whose first segment would have to wait longer
// than Config.Horizon: the buckets are booked that far ahead already.
type HorizonError struct {
	Wait      time.Duration // how long the first segment would have waited
	Horizon   time.Duration // Config.Horizon
	Level, ID string        // the bucket that set the wait
}

func (e *HorizonError) Error() string {
	return fmt.Sprintf("throttle: %s bucket %q is booked %v ahead, beyond the %v horizon", e.Level, e.ID, e.Wait, e.Horizon)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *HorizonError) Is(target error) bool { return target == ErrRefused }

// RetryAfter is how long until the same request would fit within the horizon,
// if nobody else booked meanwhile.
func (e *HorizonError) RetryAfter() time.Duration { return max(e.Wait-e.Horizon, 0) }

// SpanError refuses a request whose segments, spaced at the buckets' current
// effective rates, would spread over more than Config.MaxSpan. It does not
// depend on the backlog: only a rate recovering (see Limiter.Throttled) or a
// larger MaxSpan lets the same request through.
type SpanError struct {
	Span      time.Duration // from the first segment to the last
	MaxSpan   time.Duration // Config.MaxSpan
	Level, ID string        // the bucket that spaced the last segment
}

func (e *SpanError) Error() string {
	return fmt.Sprintf("throttle: %s bucket %q would spread the segments over %v, more than the %v maximum span", e.Level, e.ID, e.Span, e.MaxSpan)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *SpanError) Is(target error) bool { return target == ErrRefused }

// CapError refuses a request that would take a bucket over its daily cap.
type CapError struct {
	Level, ID string
	Cap       int64         // the bucket's Limit.DailyCap
	ResetIn   time.Duration // until the day the count is in ends (UTC)
}

func (e *CapError) Error() string {
	return fmt.Sprintf("throttle: %s bucket %q reached its daily cap of %d segments; it resets in %v", e.Level, e.ID, e.Cap, e.ResetIn)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *CapError) Is(target error) bool { return target == ErrRefused }
