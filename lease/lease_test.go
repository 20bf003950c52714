package lease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/lease"
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
	// A slot left to expire goes to whoever asks.
	time.Sleep(400 * time.Millisecond)
	if err := a.Renew(ctx, "carrier", 0); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("renew after expiry: %v", err)
	}
	if i, err := b.Acquire(ctx, "carrier", 3); err != nil || i < 0 {
		t.Fatalf("expired slot not taken over: %d %v", i, err)
	}
}
