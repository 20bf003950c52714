// Package redisscript holds what the Redis-backed limiters (packages
// throttle and ratelimit) share about calling their Lua script: running it
// by EVALSHA with EVAL as the fallback when Redis has not cached it
// (NOSCRIPT), alone or in a pipeline; checking that a reply is an array of
// integers; and the health of Redis as those calls observe it.
//
// What a failure means stays with each package: the throttle fails closed
// (nothing is granted while Redis does not answer), the API rate limits
// fail open. Health only records the transitions and orders them.
package redisscript

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Evaler runs a script: *redis.Client, *redis.ClusterClient, *redis.Ring
// and redis.UniversalClient satisfy it.
type Evaler interface {
	EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd
	Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd
}

// Pipeliner starts pipelines: every go-redis client satisfies it.
type Pipeliner interface {
	Pipeline() redis.Pipeliner
}

// Script is a Lua script and its SHA1. It is safe for concurrent use.
type Script struct {
	src    string
	script *redis.Script
}

// New returns the script whose source is src.
func New(src string) *Script { return &Script{src: src, script: redis.NewScript(src)} }

// Source returns the script's source.
func (s *Script) Source() string { return s.src }

// Run runs the script with EVALSHA, then with EVAL when Redis answers
// NOSCRIPT (the script did not run, so running it again cannot apply it
// twice). The reply and any error are in the returned command.
func (s *Script) Run(ctx context.Context, c Evaler, keys []string, args ...any) *redis.Cmd {
	cmd := c.EvalSha(ctx, s.script.Hash(), keys, args...)
	if IsNoScript(cmd.Err()) {
		cmd = c.Eval(ctx, s.src, keys, args...)
	}
	return cmd
}

// Call is one script call of a RunBatch: its keys and arguments, and after
// RunBatch the command holding its reply.
type Call struct {
	Keys []string
	Args []any
	Cmd  *redis.Cmd
}

// RunBatch runs every call in one pipeline (one round trip; one per node on
// a cluster), then, in a second pipeline, again with EVAL the calls Redis
// answered NOSCRIPT. Errors are per call, in each Call's Cmd; the calls are
// not atomic together.
func (s *Script) RunBatch(ctx context.Context, c Pipeliner, calls []Call) {
	if len(calls) == 0 {
		return
	}
	pipe := c.Pipeline()
	for i := range calls {
		calls[i].Cmd = pipe.EvalSha(ctx, s.script.Hash(), calls[i].Keys, calls[i].Args...)
	}
	_, _ = pipe.Exec(ctx) // errors are per command
	var retry redis.Pipeliner
	for i := range calls {
		if IsNoScript(calls[i].Cmd.Err()) {
			if retry == nil {
				retry = c.Pipeline()
			}
			calls[i].Cmd = retry.Eval(ctx, s.src, calls[i].Keys, calls[i].Args...)
		}
	}
	if retry != nil {
		_, _ = retry.Exec(ctx)
	}
}

// IsNoScript reports whether err is Redis's NOSCRIPT: the script is not in
// its cache.
func IsNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

// Ints checks that v, a script's reply, is an array of lo to hi integers and
// returns them; anything else is an error saying what came instead.
func Ints(v any, lo, hi int) ([]int64, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("reply: got %T, want an array", v)
	}
	if len(a) < lo || len(a) > hi {
		if lo == hi {
			return nil, fmt.Errorf("reply: got %d elements, want %d", len(a), lo)
		}
		return nil, fmt.Errorf("reply: got %d elements, want %d to %d", len(a), lo, hi)
	}
	r := make([]int64, len(a))
	for i, e := range a {
		n, ok := e.(int64)
		if !ok {
			return nil, fmt.Errorf("reply: element %d is %T, want an integer", i, e)
		}
		r[i] = n
	}
	return r, nil
}

// Health is the health of Redis as a limiter's calls observe it: healthy
// until a call fails (Down), healthy again at the next usable answer (Up).
// Its zero value is healthy, with no hook. It is safe for concurrent use;
// Up and Down cost an atomic load when they change nothing.
type Health struct {
	// OnChange, when set, is called at each transition, under the lock
	// that orders them (so in order, and never two at once): healthy false
	// with the error of the call that failed, or true with how long Redis
	// was unavailable. It must not call Up or Down. Set it before use.
	OnChange func(healthy bool, err error, downFor time.Duration)

	mu        sync.Mutex // orders transitions and their OnChange calls
	down      atomic.Bool
	downSince atomic.Int64 // UnixNano, 0 while healthy
	failures  atomic.Int64
	lastErr   atomic.Pointer[error]
}

// Up records a usable answer from Redis.
func (h *Health) Up() {
	if !h.down.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down.Load() {
		return
	}
	var downFor time.Duration
	if ns := h.downSince.Swap(0); ns != 0 {
		downFor = time.Since(time.Unix(0, ns))
	}
	h.down.Store(false)
	if h.OnChange != nil {
		h.OnChange(true, nil, downFor)
	}
}

// Down records a call that failed with err for want of Redis.
func (h *Health) Down(err error) {
	h.failures.Add(1)
	h.lastErr.Store(&err)
	if h.down.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down.Load() {
		return
	}
	h.downSince.Store(time.Now().UnixNano())
	h.down.Store(true)
	if h.OnChange != nil {
		h.OnChange(false, err, 0)
	}
}

// Healthy reports whether the last call that reached Redis got a usable
// answer (true before any call).
func (h *Health) Healthy() bool { return !h.down.Load() }

// DownSince returns when Healthy last became false; the zero time while
// healthy.
func (h *Health) DownSince() time.Time {
	if ns := h.downSince.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Failures returns how many calls failed (Down) so far.
func (h *Health) Failures() int64 { return h.failures.Load() }

// LastError returns the error of the last failed call, nil if none yet.
func (h *Health) LastError() error {
	if e := h.lastErr.Load(); e != nil {
		return *e
	}
	return nil
}
