package throttle_test

import (
	"context"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/throttle"
)

// One tick of a dispatcher for one carrier account: take what can leave now
// for the numbers that have work, write it at once, and know when to come
// back.
func Example() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	l, err := throttle.New(rdb, throttle.Config{})
	if err != nil {
		log.Fatal(err)
	}
	account := throttle.PerSecond(30) // the carrier account's TPS, sliding
	longCode := throttle.PerSecond(1) // a shared long code
	tollFree := throttle.PerSecond(3) // a toll-free number
	wants := []throttle.Want{         // rotate the order from tick to tick
		{Number: "+15551230001", Limit: longCode, Max: 3}, // its ready queue holds 3 segments
		{Number: "+18005550100", Limit: tollFree, Max: 40, Weight: 3},
	}
	r, err := l.Take(ctx, "carrier-a", account, wants)
	switch {
	case err != nil: // ErrUnavailable: fail closed, nothing goes; retry with backoff
		log.Print(err)
		return
	case r.Quiet > 0: // the account's state was lost: nothing goes until then
		log.Printf("quiet for %v", r.Quiet)
		return
	}
	for i, g := range r.Grants {
		// write g.N segments of wants[i]'s queue on a bind now; if the bind
		// drops before some are written:
		//   l.Return(ctx, "carrier-a", account, wants[i].Number, wants[i].Limit, unwritten, r.Now)
		// on 0x58/0x14 for the number:
		//   l.Throttled(ctx, "carrier-a", wants[i].Number, wants[i].Limit)
		if g.N < wants[i].Max {
			next := max(g.Wait, r.AccountWait) // when to try this number again
			_ = next
		}
	}
	_ = time.Second
}
