// Package lease hands out numbered slots among processes that share a Redis:
// at most N holders of a name at once, each slot held by one owner until it
// releases it or stops renewing it. The engine uses it so that the binds of
// a carrier account, summed over every engine process, never exceed what the
// carrier allows, and so that a dead process's binds move to the others once
// its leases run out. It sits under engine, the one package that holds
// binds.
//
// A slot is the key <prefix><name>:<i> holding the owner's id, with the
// lease as its expiry. Every operation on a slot is one Lua script over that
// one key (so the package works on Redis Cluster too): Acquire takes a slot
// that is free or already holds the owner's id; Renew and Release check the
// owner, so an owner never extends or deletes a slot someone else has taken
// since.
//
// The owner id names a process across its restarts (the engine's instance
// id), and must be unique among running processes. A process restarted at
// once (after kill -9) therefore gets its previous life's slots back at its
// first Acquire, instead of waiting for them to expire; within one process,
// Slots remembers which slots it holds, so Acquire never hands out one it
// holds already.
//
// Nothing here assumes a lease length: the TTL is New's, renew within it
// (every TTL/3). A dead process's slots are free after at most one TTL.
package lease

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is the part of a Redis client the package uses.
type Client interface {
	Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd
}

// Slots leases the slots of names to one owner. Safe for concurrent use.
type Slots struct {
	c      Client
	prefix string
	owner  string
	ttl    time.Duration

	// acquiring serialises Acquire: a slot holding this owner's id is
	// taken as this owner's, so two concurrent calls could both take it.
	acquiring sync.Mutex
	mu        sync.Mutex
	// held maps the key of each slot this Slots took or renewed, and has
	// neither released nor lost since, to the end of its lease as last
	// known here: until then Acquire leaves it to its current user. A slot
	// dropped without Release (its renewals failed) becomes acquirable
	// again when that lease would have ended, as it would in Redis.
	held map[string]time.Time
}

// ErrLost says a slot is no longer held by its owner: it expired and may
// belong to someone else now. Stop using what it guarded.
var ErrLost = errors.New("lease: slot lost")

// New returns the slots of owner, with keys under prefix and leases of ttl.
// owner is unique among running processes and stays the same across a
// process's restarts (see the package documentation); use one Slots per
// owner within a process.
func New(c Client, prefix, owner string, ttl time.Duration) *Slots {
	return &Slots{c: c, prefix: prefix, owner: owner, ttl: ttl, held: map[string]time.Time{}}
}

// TTL returns the lease duration. Renew well within it (every TTL/3).
func (s *Slots) TTL() time.Duration { return s.ttl }

func (s *Slots) key(name string, i int) string { return s.prefix + name + ":" + strconv.Itoa(i) }

// acquireScript takes KEYS[1] for ARGV[1] for ARGV[2] ms when it holds
// ARGV[1] already or, when ARGV[3] is '1', when it is free. It returns 1
// when taken, 0 when free (and not taken), -1 when held by another owner.
const acquireScript = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or (not v and ARGV[3] == '1') then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if not v then return 0 end
return -1`

// Acquire takes one slot of name among 0..max-1, or returns -1 when all are
// held. It takes a slot holding this owner's id already (left by a previous
// life of this process) before a free one, lowest index first, and never
// one this Slots holds. Each slot is taken atomically (one script): two
// owners never both get it.
func (s *Slots) Acquire(ctx context.Context, name string, max int) (int, error) {
	s.acquiring.Lock()
	defer s.acquiring.Unlock()
	start := time.Now()
	var candidates, free []int
	s.mu.Lock()
	for i := 0; i < max; i++ {
		if until, ok := s.held[s.key(name, i)]; !ok || !start.Before(until) {
			candidates = append(candidates, i)
		}
	}
	s.mu.Unlock()
	// First this owner's slots, then the free ones.
	for _, i := range candidates {
		n, err := s.take(ctx, name, i, false)
		if err != nil {
			return -1, err
		}
		switch n {
		case 1:
			s.hold(name, i, start)
			return i, nil
		case 0:
			free = append(free, i)
		}
	}
	for _, i := range free {
		n, err := s.take(ctx, name, i, true)
		if err != nil {
			return -1, err
		}
		if n == 1 {
			s.hold(name, i, start)
			return i, nil
		}
	}
	return -1, nil
}

func (s *Slots) take(ctx context.Context, name string, i int, free bool) (int64, error) {
	f := "0"
	if free {
		f = "1"
	}
	n, err := s.c.Eval(ctx, acquireScript, []string{s.key(name, i)}, s.owner, s.ttl.Milliseconds(), f).Int64()
	if err != nil {
		return 0, fmt.Errorf("lease: acquire %s: %w", name, err)
	}
	return n, nil
}

// hold records slot i of name as held until start+TTL (start: when the
// call that took or renewed it began, so no later than its end in Redis).
func (s *Slots) hold(name string, i int, start time.Time) {
	s.mu.Lock()
	s.held[s.key(name, i)] = start.Add(s.ttl)
	s.mu.Unlock()
}

func (s *Slots) forget(name string, i int) {
	s.mu.Lock()
	delete(s.held, s.key(name, i))
	s.mu.Unlock()
}

const renewScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`
const releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`

// Renew extends slot i of name by the TTL. It returns ErrLost when the slot
// is not ours any more.
func (s *Slots) Renew(ctx context.Context, name string, i int) error {
	start := time.Now()
	n, err := s.c.Eval(ctx, renewScript, []string{s.key(name, i)}, s.owner, s.ttl.Milliseconds()).Int64()
	if err != nil {
		return fmt.Errorf("lease: renew %s:%d: %w", name, i, err)
	}
	if n != 1 {
		s.forget(name, i)
		return ErrLost
	}
	s.hold(name, i, start)
	return nil
}

// Release gives slot i of name back, if it is still ours. This Slots stops
// counting it as held even when Redis cannot be reached (the slot then
// expires there, or a later Acquire of this owner takes it back).
func (s *Slots) Release(ctx context.Context, name string, i int) error {
	s.forget(name, i)
	if _, err := s.c.Eval(ctx, releaseScript, []string{s.key(name, i)}, s.owner).Result(); err != nil {
		return fmt.Errorf("lease: release %s:%d: %w", name, i, err)
	}
	return nil
}
