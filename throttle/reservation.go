package throttle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrCancelled is returned by Wait on a cancelled Reservation.
var ErrCancelled = errors.New("throttle: reservation cancelled")

// Reservation is a grant of tokens: segment i of the message may be submitted
// from At(i) on. The times come from the Redis clock as delays, applied to the
// local clock when the reply arrived, so the local clock's offset does not
// matter. A Reservation holds its tokens until they are used or cancelled;
// its methods are safe for concurrent use.
type Reservation struct {
	l         *Limiter
	keys      []string // the bucket keys (not the fence)
	token     string
	cost      int
	server    []int64   // Redis-clock µs of each segment
	serverNow int64     // Redis-clock µs of the grant
	local     time.Time // local time the reply arrived, standing for serverNow

	mu        sync.Mutex
	cancelled bool
}

// Cost is the number of segments reserved.
func (r *Reservation) Cost() int { return r.cost }

// Delay is how long after the grant the first segment may go, as Redis
// computed it.
func (r *Reservation) Delay() time.Duration { return micros(r.server[0] - r.serverNow) }

// At is the local time from which segment i (0-based) may be submitted.
func (r *Reservation) At(i int) time.Time { return r.local.Add(micros(r.server[i] - r.serverNow)) }

// ServerTime is the Redis-clock time booked for segment i: the time the
// guarantee in doc.go is about.
func (r *Reservation) ServerTime(i int) time.Time { return time.UnixMicro(r.server[i]) }

// Wait blocks until the first segment may be submitted. It fails with the
// context's error (the tokens stay booked: call Cancel if the message will
// not go), with ErrCancelled, or with ErrUnavailable when the Limiter lost
// Redis meanwhile (fail closed: the tokens stay spent; requeue the message).
// Submit the other segments after WaitSegment.
func (r *Reservation) Wait(ctx context.Context) error { return r.WaitSegment(ctx, 0) }

// WaitSegment blocks until segment i may be submitted. For i > 0 it does not
// look at the Limiter's health: a message that has started is finished.
func (r *Reservation) WaitSegment(ctx context.Context, i int) error {
	if i < 0 || i >= r.cost {
		return fmt.Errorf("%w: segment %d of a %d-segment reservation", ErrInvalid, i, r.cost)
	}
	if d := r.At(i).Sub(r.l.now()); d > 0 {
		c, stop := r.l.newTimer(d)
		select {
		case <-c:
		case <-ctx.Done():
			stop()
			return ctx.Err()
		}
	}
	r.mu.Lock()
	cancelled := r.cancelled
	r.mu.Unlock()
	if cancelled {
		return ErrCancelled
	}
	if i == 0 && !r.l.Healthy() {
		return fmt.Errorf("%w: lost Redis while waiting; not sending (fail closed)", ErrUnavailable)
	}
	return nil
}

// Cancel gives the tokens back, for a message none of whose segments was
// submitted. Buckets where a later reservation was booked since keep the
// tokens spent (giving them back there could double-book a slot). Cancel is
// idempotent; after a failure (ErrUnavailable) it may be called again, and
// if it is not, the tokens just stay spent.
func (r *Reservation) Cancel(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancelled {
		return nil
	}
	cmd := r.l.run(ctx, r.keys, "cancel", r.token, r.cost, floorDay(r.server[0]))
	v, err := cmd.Result()
	if err != nil {
		return r.l.fail(ctx, err)
	}
	n, ok := v.(int64)
	if !ok || n < 0 || n > int64(len(r.keys)) {
		return r.l.fail(ctx, fmt.Errorf("reply: cancel answered %T %v", v, v))
	}
	r.l.ok()
	r.cancelled = true
	if n > 0 {
		r.l.cancelled.Add(1)
	}
	return nil
}
