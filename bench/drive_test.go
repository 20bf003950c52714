package bench

import (
	"context"
	"sync"
	"testing"
	"time"
)

// drive paces calls on a schedule from the start: call i never before
// start + i/rate, whatever the calls take, and calls that took long do not
// cost the rate: once a goroutine is free the calls behind catch up (a
// ticker would have dropped the ticks nobody was free to take).
func TestDrivePacesOnASchedule(t *testing.T) {
	const n, conc, rate = 500, 16, 1000.0
	var mu sync.Mutex
	var at []time.Duration
	start := time.Now()
	drive(context.Background(), n, conc, rate, &Progress{}, func(ctx context.Context) int {
		mu.Lock()
		at = append(at, time.Since(start))
		k := len(at)
		mu.Unlock()
		if k <= conc {
			time.Sleep(300 * time.Millisecond) // every goroutine stuck in a slow call
		}
		return 1
	})
	if len(at) != n {
		t.Fatalf("%d calls, want %d", len(at), n)
	}
	for k, d := range at {
		// The k-th call to start may not start before the k-th slot of the
		// schedule (a little slack for the clock reads).
		if due := time.Duration(float64(k) / rate * float64(time.Second)); d < due-2*time.Millisecond {
			t.Fatalf("call %d started at %v, before its slot at %v", k, d, due)
		}
	}
	// The schedule ends at 499 ms; losing the 300 ms the goroutines were
	// stuck would end it near 800 ms.
	if last := at[n-1]; last > 650*time.Millisecond {
		t.Errorf("the last call started at %v; the schedule ends at 499 ms", last)
	}
}
