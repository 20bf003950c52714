// Package lease hands out numbered slots among processes that share a Redis:
// at most N holders of a name at once, each slot held by one owner until it
// releases it or stops renewing it. The engine uses it so that the binds of
// a carrier account, summed over every engine process, never exceed what the
// carrier allows, and so that a dead process's binds move to the others once
// its leases run out.
//
// A slot is the key <prefix><name>:<i> holding the owner's id, written with
// SET NX PX; renewing and releasing check the owner in a Lua script, so an
// owner never extends or deletes a slot someone else has taken since.
package lease

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is the part of a Redis client the package uses.
type Client interface {
	SetNX(ctx context.Context, key string, value any, expiration time.Duration) *redis.BoolCmd
	Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd
}

// Slots leases the slots of names to one owner. Safe for concurrent use.
type Slots struct {
	c      Client
	prefix string
	owner  string
	ttl    time.Duration
}

// ErrLost says a slot is no longer held by its owner: it expired and may
// belong to someone else now. Stop using what it guarded.
var ErrLost = errors.New("lease: slot lost")

// New returns the slots of owner (unique per process), with keys under
// prefix and leases of ttl.
func New(c Client, prefix, owner string, ttl time.Duration) *Slots {
	return &Slots{c: c, prefix: prefix, owner: owner, ttl: ttl}
}

// TTL returns the lease duration. Renew well within it (every TTL/3).
func (s *Slots) TTL() time.Duration { return s.ttl }

func (s *Slots) key(name string, i int) string { return s.prefix + name + ":" + strconv.Itoa(i) }

// Acquire takes one free slot of name among 0..max-1, or returns -1 when all
// are held.
func (s *Slots) Acquire(ctx context.Context, name string, max int) (int, error) {
	for i := 0; i < max; i++ {
		ok, err := s.c.SetNX(ctx, s.key(name, i), s.owner, s.ttl).Result()
		if err != nil {
			return -1, fmt.Errorf("lease: acquire %s: %w", name, err)
		}
		if ok {
			return i, nil
		}
	}
	return -1, nil
}

const renewScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`
const releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`

// Renew extends slot i of name by the TTL. It returns ErrLost when the slot
// is not ours any more.
func (s *Slots) Renew(ctx context.Context, name string, i int) error {
	n, err := s.c.Eval(ctx, renewScript, []string{s.key(name, i)}, s.owner, s.ttl.Milliseconds()).Int64()
	if err != nil {
		return fmt.Errorf("lease: renew %s:%d: %w", name, i, err)
	}
	if n != 1 {
		return ErrLost
	}
	return nil
}

// Release gives slot i of name back, if it is still ours.
func (s *Slots) Release(ctx context.Context, name string, i int) error {
	if _, err := s.c.Eval(ctx, releaseScript, []string{s.key(name, i)}, s.owner).Result(); err != nil {
		return fmt.Errorf("lease: release %s:%d: %w", name, i, err)
	}
	return nil
}
