package throttle_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/throttle"
)

// How a dispatcher sends one 3-segment message from a shared long code over
// its carrier account.
func Example() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	l, err := throttle.New(rdb, throttle.Config{Horizon: 30 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	shared := throttle.Class{Name: "shared long code", Rate: 1}
	req := throttle.Request{Account: "carrier-a", Cost: 3, Buckets: []throttle.Bucket{
		throttle.Number("+15551230001", shared),
		throttle.Account(30, 3),
	}}
	r, err := l.Reserve(ctx, req)
	var he *throttle.HorizonError
	switch {
	case errors.As(err, &he):
		log.Printf("booked too far ahead; requeue for %v", he.RetryAfter())
		return
	case err != nil: // ErrUnavailable: fail closed, requeue with backoff
		log.Print(err)
		return
	}
	for i := range r.Cost() {
		if err := r.WaitSegment(ctx, i); err != nil {
			if i == 0 {
				_ = r.Cancel(ctx) // nothing sent: give the tokens back
			}
			return
		}
		// submit segment i on a bind here; on 0x58/0x14:
		//   l.Throttled(ctx, req.Account, req.Buckets[0])
	}
}
