package redisscript_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/redisscript"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// Health reports each transition once, in order, however many calls
// observe it.
func TestHealthTransitions(t *testing.T) {
	t.Parallel()
	type change struct {
		healthy bool
		err     error
		downFor time.Duration
	}
	var changes []change
	var h redisscript.Health
	h.OnChange = func(healthy bool, err error, downFor time.Duration) {
		changes = append(changes, change{healthy, err, downFor})
	}
	if !h.Healthy() || !h.DownSince().IsZero() || h.LastError() != nil {
		t.Fatalf("zero value: healthy %v, down since %v, last error %v", h.Healthy(), h.DownSince(), h.LastError())
	}
	h.Up()
	first, second := errors.New("refused"), errors.New("timeout")
	h.Down(first)
	h.Down(second)
	if h.Healthy() || h.DownSince().IsZero() || h.LastError() != second || h.Failures() != 2 {
		t.Fatalf("down: healthy %v, down since %v, last error %v, failures %d", h.Healthy(), h.DownSince(), h.LastError(), h.Failures())
	}
	time.Sleep(2 * time.Millisecond) // an outage that lasts
	h.Up()
	h.Up()
	if !h.Healthy() || !h.DownSince().IsZero() || h.Failures() != 2 {
		t.Fatalf("up again: healthy %v, down since %v, failures %d", h.Healthy(), h.DownSince(), h.Failures())
	}
	if len(changes) != 2 || changes[0].healthy || changes[0].err != first || !changes[1].healthy || changes[1].downFor < 2*time.Millisecond {
		t.Fatalf("changes %+v; want down (refused), then up after at least 2ms", changes)
	}
}

func TestInts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v      any
		lo, hi int
		err    string
	}{
		{[]any{int64(1), int64(2)}, 2, 2, ""},
		{[]any{int64(1)}, 1, 3, ""},
		{"OK", 1, 1, "got string, want an array"},
		{[]any{int64(1)}, 2, 2, "got 1 elements, want 2"},
		{[]any{int64(1)}, 2, 3, "got 1 elements, want 2 to 3"},
		{[]any{int64(1), "x"}, 2, 2, "element 1 is string, want an integer"},
		{nil, 0, 0, "got <nil>, want an array"},
	} {
		r, err := redisscript.Ints(c.v, c.lo, c.hi)
		if c.err == "" {
			if err != nil || len(r) != len(c.v.([]any)) {
				t.Errorf("Ints(%v, %d, %d) = %v, %v", c.v, c.lo, c.hi, r, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("Ints(%v, %d, %d): error %v, want %q", c.v, c.lo, c.hi, err, c.err)
		}
	}
}

// A script Redis has never seen answers NOSCRIPT to EVALSHA; Run and
// RunBatch run it with EVAL instead, and it runs once per call.
func TestRunFallsBackToEval(t *testing.T) {
	t.Parallel()
	c, prefix := testenv.Redis(t)
	ctx := context.Background()
	// Sources of this test's own: not in Redis's script cache.
	src := func(which string) string {
		return fmt.Sprintf("-- %s %s\nreturn {redis.call('INCRBY', KEYS[1], ARGV[1])}", prefix, which)
	}
	r, err := redisscript.Ints(redisscript.New(src("run")).Run(ctx, c, []string{prefix + "a"}, 2).Val(), 1, 1)
	if err != nil || r[0] != 2 {
		t.Fatalf("Run on an uncached script: %v, %v", r, err)
	}
	calls := []redisscript.Call{{Keys: []string{prefix + "a"}, Args: []any{3}}, {Keys: []string{prefix + "b"}, Args: []any{5}}}
	redisscript.New(src("batch")).RunBatch(ctx, c, calls)
	for i, want := range []int64{5, 5} {
		r, err := redisscript.Ints(calls[i].Cmd.Val(), 1, 1)
		if err != nil || r[0] != want {
			t.Errorf("RunBatch call %d on an uncached script: %v, %v (%v); want %d", i, r, err, calls[i].Cmd.Err(), want)
		}
	}
	redisscript.New(src("none")).RunBatch(ctx, c, nil) // nothing to run: no round trip, no panic
}
