package coding_test

import (
	"sync"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

func TestRefSourceRotates(t *testing.T) {
	t.Parallel()
	var rs coding.RefSource // the zero value is ready
	for _, tc := range []struct {
		m    coding.Method
		wrap int
	}{{coding.UDH8, 256}, {coding.UDH16, 65536}, {coding.SAR, 65536}} {
		dest := "+447700900123/" + tc.m.String()
		first := rs.Next(dest, tc.m)
		prev := first
		seen := make(map[uint16]bool, tc.wrap)
		seen[first] = true
		for i := 1; i < tc.wrap; i++ {
			r := rs.Next(dest, tc.m)
			if int(r) >= tc.wrap {
				t.Fatalf("%s: ref %d beyond %d", tc.m, r, tc.wrap)
			}
			if int(r) != (int(prev)+1)%tc.wrap {
				t.Fatalf("%s: %d after %d, want the next value", tc.m, r, prev)
			}
			if seen[r] {
				t.Fatalf("%s: ref %d repeated after %d calls", tc.m, r, i)
			}
			seen[r] = true
			prev = r
		}
		if r := rs.Next(dest, tc.m); r != first {
			t.Errorf("%s: after %d refs got %d, want the first one %d again", tc.m, tc.wrap, r, first)
		}
	}
	if r := rs.Next("+15550100", coding.Payload); r != 0 {
		t.Errorf("Payload ref %d, want 0", r)
	}
}

func TestRefSourceDestinationsIndependent(t *testing.T) {
	t.Parallel()
	var rs coding.RefSource
	a0 := rs.Next("+15550100", coding.UDH16)
	for range 10 {
		rs.Next("+15550199", coding.UDH16)
	}
	a1 := rs.Next("+15550100", coding.UDH16)
	// Unless the two numbers share a counter (1 in 4096, fixed per process
	// seed), the second call is the next value.
	if a1 != a0+1 {
		t.Logf("destinations share a counter in this process: %d then %d", a0, a1)
	}
	if a1 == a0 {
		t.Errorf("same reference twice in a row: %d", a0)
	}
}

func TestRefSourceConcurrent(t *testing.T) {
	t.Parallel()
	var rs coding.RefSource
	const workers, each = 8, 32 // 256 refs in all: every 8-bit value once
	var mu sync.Mutex
	seen := map[uint16]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			local := make([]uint16, 0, each)
			for range each {
				local = append(local, rs.Next("+33612345678", coding.UDH8))
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range local {
				seen[r]++
			}
		})
	}
	wg.Wait()
	if len(seen) != 256 {
		t.Errorf("%d distinct refs from 256 concurrent calls, want 256", len(seen))
	}
}
