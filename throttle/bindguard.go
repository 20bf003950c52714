package throttle

import (
	"context"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// BindGuard is a process-local limit for one SMPP bind: its share of the
// carrier account's TPS (accountTPS/binds segments per second), with a burst
// of that share rounded up (at least 1). It is a second line behind the Redis
// buckets, which already keep the account within its TPS across processes:
// it catches a dispatcher that piles one bind's share onto another. Call Wait
// before each submit_sm. Safe for concurrent use.
type BindGuard struct {
	lim *rate.Limiter
}

// NewBindGuard returns a guard at accountTPS/binds segments per second.
func NewBindGuard(accountTPS float64, binds int) (*BindGuard, error) {
	r, b, err := share(accountTPS, binds)
	if err != nil {
		return nil, err
	}
	return &BindGuard{lim: rate.NewLimiter(r, b)}, nil
}

func share(accountTPS float64, binds int) (rate.Limit, int, error) {
	if math.IsNaN(accountTPS) || accountTPS < minRate || accountTPS > maxRate {
		return 0, 0, invalidf("account TPS %v outside [%v, %v]", accountTPS, minRate, maxRate)
	}
	if binds < 1 || binds > 10000 {
		return 0, 0, invalidf("%d binds: want 1 to 10000", binds)
	}
	s := accountTPS / float64(binds)
	return rate.Limit(s), max(1, int(math.Ceil(s))), nil
}

// Wait blocks until one segment may be submitted on the bind, or ctx is done
// (or would be before then).
func (g *BindGuard) Wait(ctx context.Context) error { return g.lim.Wait(ctx) }

// AllowAt reports whether one segment may be submitted at t, taking its token
// if so.
func (g *BindGuard) AllowAt(t time.Time) bool { return g.lim.AllowN(t, 1) }

// SetShare changes the guard's share, e.g. when binds open or close, or when
// the account's effective rate is cut (Limiter.Throttled), effective at t.
func (g *BindGuard) SetShare(t time.Time, accountTPS float64, binds int) error {
	r, b, err := share(accountTPS, binds)
	if err != nil {
		return err
	}
	g.lim.SetLimitAt(t, r)
	g.lim.SetBurstAt(t, b)
	return nil
}

// Limit returns the guard's rate in segments per second and its burst.
func (g *BindGuard) Limit() (float64, int) { return float64(g.lim.Limit()), g.lim.Burst() }
