package lease_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine/lease"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

func TestSlotsAcrossOwners(t *testing.T) {
	t.Parallel()
	c, prefix := testenv.Redis(t)
	ctx := context.Background()
	a := lease.New(c, prefix, "a", 300*time.Millisecond)
	b := lease.New(c, prefix, "b", 300*time.Millisecond)
	got := map[int]string{}
	for _, s := range []struct {
		l    *lease.Slots
		name string
	}{{a, "a"}, {b, "b"}, {a, "a"}} {
		i, err := s.l.Acquire(ctx, "carrier", 3)
		if err != nil || i < 0 {
			t.Fatal(i, err)
		}
		got[i] = s.name
	}
	if len(got) != 3 {
		t.Fatalf("slots %v", got)
	}
	if i, err := b.Acquire(ctx, "carrier", 3); err != nil || i != -1 {
		t.Fatalf("a fourth slot of 3: %d %v", i, err)
	}
	// b cannot renew or release a's slot.
	if err := b.Renew(ctx, "carrier", 0); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("b renewed a's slot: %v", err)
	}
	b.Release(ctx, "carrier", 0)
	if err := a.Renew(ctx, "carrier", 0); err != nil {
		t.Fatalf("a lost its slot to b's release: %v", err)
	}
	// A slot left to expire goes to whoever asks. Real time: the 300 ms
	// lease runs out in Redis.
	time.Sleep(400 * time.Millisecond)
	if err := a.Renew(ctx, "carrier", 0); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("renew after expiry: %v", err)
	}
	if i, err := b.Acquire(ctx, "carrier", 3); err != nil || i < 0 {
		t.Fatalf("expired slot not taken over: %d %v", i, err)
	}
}

// TestRestartRetakesItsSlots: a process restarted at once under the same
// owner id gets its previous life's slots back without waiting for them to
// expire, its own before free ones, and peers still get none of them.
func TestRestartRetakesItsSlots(t *testing.T) {
	t.Parallel()
	c, prefix := testenv.Redis(t)
	ctx := context.Background()
	const ttl = time.Minute // far longer than the test: nothing expires
	peer := lease.New(c, prefix, "peer", ttl)
	first := lease.New(c, prefix, "inst-1", ttl)
	for want, l := range []*lease.Slots{peer, peer, first, first} {
		if i, err := l.Acquire(ctx, "carrier", 4); err != nil || i != want {
			t.Fatalf("acquire %d: %d %v", want, i, err)
		}
	}
	ok(t, peer.Release(ctx, "carrier", 0)) // slot 0 is free now

	// kill -9, restart: a new Slots with the same owner id.
	second := lease.New(c, prefix, "inst-1", ttl)
	for _, want := range []int{2, 3, 0, -1} {
		if i, err := second.Acquire(ctx, "carrier", 4); err != nil || i != want {
			t.Fatalf("restarted: acquired %d (%v), want %d", i, err, want)
		}
	}
	for i := 0; i < 4; i++ {
		if err := second.Renew(ctx, "carrier", i); (err == nil) != (i != 1) {
			t.Fatalf("restarted: renew of slot %d: %v", i, err)
		}
	}
	if i, err := peer.Acquire(ctx, "carrier", 4); err != nil || i != -1 {
		t.Fatalf("peer took slot %d (%v) of a full account", i, err)
	}
	// The slots now carry the full TTL again.
	if d := c.PTTL(ctx, prefix+"carrier:2").Val(); d <= 0 || d > ttl {
		t.Fatalf("slot 2 expires in %v", d)
	}
}

// TestAcquireNeverHandsOutAHeldSlot: within one Slots, the owner's own slots
// are taken back only when this Slots does not hold them: after Release,
// after ErrLost, or once a slot it stopped renewing would have expired.
func TestAcquireNeverHandsOutAHeldSlot(t *testing.T) {
	t.Parallel()
	c, prefix := testenv.Redis(t)
	ctx := context.Background()
	a := lease.New(c, prefix, "a", time.Minute)
	for want := 0; want < 3; want++ {
		if i, err := a.Acquire(ctx, "k", 3); err != nil || i != want {
			t.Fatalf("acquire: %d %v, want %d", i, err, want)
		}
	}
	if i, err := a.Acquire(ctx, "k", 3); err != nil || i != -1 {
		t.Fatalf("a fourth slot of 3 from one Slots: %d %v", i, err)
	}
	ok(t, a.Release(ctx, "k", 1))
	if i, err := a.Acquire(ctx, "k", 3); err != nil || i != 1 {
		t.Fatalf("after release: %d %v", i, err)
	}
	// Another owner takes slot 2 behind a's back (it expired): a's renew
	// says lost, and a does not get it back.
	c.Set(ctx, prefix+"k:2", "b", time.Minute)
	if err := a.Renew(ctx, "k", 2); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("renew of a slot taken by b: %v", err)
	}
	if i, err := a.Acquire(ctx, "k", 3); err != nil || i != -1 {
		t.Fatalf("acquired %d (%v) with b on slot 2", i, err)
	}

	// A slot neither renewed nor released (its renewals failed and the
	// caller dropped it) comes back once its lease would have ended.
	const ttl = 200 * time.Millisecond
	short := lease.New(c, prefix, "s", ttl)
	before := time.Now()
	if i, err := short.Acquire(ctx, "x", 1); err != nil || i != 0 {
		t.Fatalf("short: %d %v", i, err)
	}
	testenv.Eventually(t, "the dropped slot to come back", func() bool {
		i, err := short.Acquire(ctx, "x", 1)
		ok(t, err)
		return i == 0
	})
	if d := time.Since(before); d < ttl {
		t.Fatalf("slot handed out again %v after it was taken, inside its lease of %v", d, ttl)
	}
}

// TestAcquireIsAtomic: owners racing for the slots get one each, never the
// same.
func TestAcquireIsAtomic(t *testing.T) {
	t.Parallel()
	c, prefix := testenv.Redis(t)
	ctx := context.Background()
	const owners, max = 12, 5
	got := make([]int, owners)
	errs := make([]error, owners)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for o := range owners {
		l := lease.New(c, prefix, fmt.Sprint("owner-", o), time.Minute)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[o], errs[o] = l.Acquire(ctx, "k", max)
		}()
	}
	close(start)
	wg.Wait()
	seen := map[int]int{}
	for o, i := range got {
		ok(t, errs[o])
		if i < 0 {
			continue
		}
		if prev, dup := seen[i]; dup {
			t.Fatalf("slot %d given to owner-%d and owner-%d", i, prev, o)
		}
		seen[i] = o
		if v := c.Get(ctx, fmt.Sprint(prefix, "k:", i)).Val(); v != fmt.Sprint("owner-", o) {
			t.Fatalf("slot %d holds %q, acquired by owner-%d", i, v, o)
		}
	}
	if len(seen) != max {
		t.Fatalf("%d slots taken of %d: %v", len(seen), max, got)
	}
}

// TestShortTTL: the lease length is the caller's (the engine renews a 6 s
// lease every 2 s): every write sets it.
func TestShortTTL(t *testing.T) {
	t.Parallel()
	c, prefix := testenv.Redis(t)
	ctx := context.Background()
	const ttl = 6 * time.Second
	l := lease.New(c, prefix, "a", ttl)
	if l.TTL() != ttl {
		t.Fatalf("TTL %v", l.TTL())
	}
	i, err := l.Acquire(ctx, "k", 1)
	if err != nil || i != 0 {
		t.Fatal(i, err)
	}
	key := prefix + "k:0"
	if d := c.PTTL(ctx, key).Val(); d <= 0 || d > ttl {
		t.Fatalf("after acquire: expires in %v, want within %v", d, ttl)
	}
	// Renewing sets the TTL, whatever the key's expiry was.
	c.PExpire(ctx, key, time.Hour)
	ok(t, l.Renew(ctx, "k", 0))
	if d := c.PTTL(ctx, key).Val(); d <= 0 || d > ttl {
		t.Fatalf("after renew: expires in %v, want within %v", d, ttl)
	}
	// A restarted owner re-taking it sets the TTL too.
	c.PExpire(ctx, key, time.Hour)
	if i, err := lease.New(c, prefix, "a", ttl).Acquire(ctx, "k", 1); err != nil || i != 0 {
		t.Fatal(i, err)
	}
	if d := c.PTTL(ctx, key).Val(); d <= 0 || d > ttl {
		t.Fatalf("after re-take: expires in %v, want within %v", d, ttl)
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
