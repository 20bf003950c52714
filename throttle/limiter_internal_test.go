package throttle

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// fakeClient answers every script call with the next scripted reply, so the
// Limiter's handling of odd replies and failures can be checked without a
// server. It has no pipeline.
type fakeClient struct {
	mu      sync.Mutex
	replies []fakeReply
	calls   int
}

type fakeReply struct {
	val any
	err error
}

func (f *fakeClient) next(ctx context.Context) *redis.Cmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	r := fakeReply{err: errors.New("fakeClient: no reply scripted")}
	if len(f.replies) > 0 {
		r, f.replies = f.replies[0], f.replies[1:]
	}
	return redis.NewCmdResult(r.val, r.err)
}

func (f *fakeClient) EvalSha(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return f.next(ctx)
}

func (f *fakeClient) Eval(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return f.next(ctx)
}

func (f *fakeClient) Pipeline() redis.Pipeliner { return nil }

func oneNumber(cost int) Request {
	return Request{Account: "a", Cost: cost, Buckets: []Bucket{perSec1}}
}

func TestReplyShapesFailClosed(t *testing.T) {
	t.Parallel()
	now := t0
	for _, c := range []struct {
		name string
		r    fakeReply
	}{
		{"error reply", fakeReply{err: redis.ErrClosed}},
		{"nil", fakeReply{}},
		{"string", fakeReply{val: "OK"}},
		{"integer", fakeReply{val: int64(0)}},
		{"too short", fakeReply{val: []any{int64(0)}}},
		{"granted without times", fakeReply{val: []any{int64(0), now}}},
		{"granted with too many times", fakeReply{val: []any{int64(0), now, now, now}}},
		{"string element", fakeReply{val: []any{int64(0), now, "x"}}},
		{"time before now", fakeReply{val: []any{int64(0), now, now - 1}}},
		{"time beyond horizon and span", fakeReply{val: []any{int64(0), now, now + int64(91*time.Second/time.Microsecond)}}},
		{"unknown code", fakeReply{val: []any{int64(9), now, int64(1), int64(1)}}},
		{"cap of no bucket", fakeReply{val: []any{int64(codeCap), now, int64(1), int64(5)}}},
		{"horizon too short", fakeReply{val: []any{int64(codeHorizon), now, int64(1)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			var hook []bool
			f := &fakeClient{replies: []fakeReply{c.r, {val: []any{int64(0), now, now}}}}
			l, err := New(f, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				OnHealthChange: func(ok bool, _ error) { hook = append(hook, ok) }})
			if err != nil {
				t.Fatal(err)
			}
			r, err := l.Reserve(context.Background(), oneNumber(1))
			if !errors.Is(err, ErrUnavailable) || r != nil {
				t.Fatalf("Reserve = %v, %v; want nil, ErrUnavailable", r, err)
			}
			if l.Healthy() || !strings.Contains(logs.String(), "fail closed") {
				t.Fatalf("healthy=%v, log %q", l.Healthy(), logs.String())
			}
			// The next good reply makes it healthy again, by itself.
			if _, err := l.Reserve(context.Background(), oneNumber(1)); err != nil {
				t.Fatal(err)
			}
			if !l.Healthy() || !strings.Contains(logs.String(), "resumes") || len(hook) != 2 || hook[0] || !hook[1] {
				t.Fatalf("healthy=%v hook=%v log %q", l.Healthy(), hook, logs.String())
			}
			if s := l.Stats(); s.Failures != 1 || s.Granted != 1 || !errors.Is(s.LastError, ErrUnavailable) {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestRefusalsAreTyped(t *testing.T) {
	t.Parallel()
	now := t0
	f := &fakeClient{replies: []fakeReply{
		{val: []any{int64(codeHorizon), now, int64(45 * sec), int64(1)}},
		{val: []any{int64(codeSpan), now, int64(70 * sec), int64(2)}},
		{val: []any{int64(codeCap), now, int64(3600 * sec), int64(3)}},
	}}
	l, err := New(f, Config{})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Account: "a", Cost: 2, Buckets: []Bucket{perSec1, acct2, capped}}
	_, err = l.Reserve(context.Background(), req)
	var he *HorizonError
	if !errors.As(err, &he) || !errors.Is(err, ErrRefused) || he.Wait != 45*time.Second || he.RetryAfter() != 15*time.Second || he.ID != perSec1.ID {
		t.Fatalf("horizon: %v %+v", err, he)
	}
	_, err = l.Reserve(context.Background(), req)
	var se *SpanError
	if !errors.As(err, &se) || !errors.Is(err, ErrRefused) || se.Span != 70*time.Second || se.Level != LevelAccount {
		t.Fatalf("span: %v %+v", err, se)
	}
	_, err = l.Reserve(context.Background(), req)
	var ce *CapError
	if !errors.As(err, &ce) || !errors.Is(err, ErrRefused) || ce.ResetIn != time.Hour || ce.Cap != 3 || ce.ID != "b1" {
		t.Fatalf("cap: %v %+v", err, ce)
	}
	if !l.Healthy() || l.Stats().Refused != 3 {
		t.Fatalf("refusals are answers, not failures: %+v", l.Stats())
	}
}

func TestInvalidRequests(t *testing.T) {
	t.Parallel()
	f := &fakeClient{}
	l, err := New(f, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ok := Number("+1555", Class{Rate: 1})
	for name, req := range map[string]Request{
		"no account":      {Cost: 1, Buckets: []Bucket{ok}},
		"brace":           {Account: "a}b", Cost: 1, Buckets: []Bucket{ok}},
		"zero cost":       {Account: "a", Buckets: []Bucket{ok}},
		"huge cost":       {Account: "a", Cost: MaxCost + 1, Buckets: []Bucket{ok}},
		"no bucket":       {Account: "a", Cost: 1},
		"twice":           {Account: "a", Cost: 1, Buckets: []Bucket{ok, ok}},
		"zero rate":       {Account: "a", Cost: 1, Buckets: []Bucket{Number("+1", Class{})}},
		"too slow":        {Account: "a", Cost: 1, Buckets: []Bucket{Number("+1", Class{Rate: 0.0001})}},
		"negative burst":  {Account: "a", Cost: 1, Buckets: []Bucket{Number("+1", Class{Rate: 1, Burst: -1})}},
		"number no id":    {Account: "a", Cost: 1, Buckets: []Bucket{Number("", Class{Rate: 1})}},
		"account with id": {Account: "a", Cost: 1, Buckets: []Bucket{{Level: LevelAccount, ID: "x", Limit: Limit{Rate: 1}}}},
		"bad level":       {Account: "a", Cost: 1, Buckets: []Bucket{{Level: "a:b", ID: "x", Limit: Limit{Rate: 1}}}},
		"negative cap":    {Account: "a", Cost: 1, Buckets: []Bucket{{Level: "brand", ID: "x", Limit: Limit{Rate: 1, DailyCap: -1}}}},
	} {
		if _, err := l.Reserve(context.Background(), req); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if f.calls != 0 || !l.Healthy() {
		t.Fatalf("invalid requests reached Redis (%d calls) or changed health", f.calls)
	}
	for name, cfg := range map[string]Config{
		"prefix":   {Prefix: "x{"},
		"horizon":  {Horizon: 2 * time.Hour},
		"negative": {MaxSpan: -time.Second},
		"backoff":  {Adaptive: Adaptive{Backoff: 1}},
		"floor":    {Adaptive: Adaptive{Floor: 2}},
		"recovery": {Adaptive: Adaptive{Recovery: 2 * time.Hour}},
	} {
		if _, err := New(f, cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("config %s: %v, want ErrInvalid", name, err)
		}
	}
}

// fakeTimers is a fake clock for Reservation.Wait: Advance fires the timers
// that are due.
type fakeTimers struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func (f *fakeTimers) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

func (f *fakeTimers) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan time.Time, 1)
	f.timers = append(f.timers, fakeTimer{at: f.now.Add(d), c: c})
	return c, func() bool { return true }
}

func (f *fakeTimers) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.timers[:0]
	for _, t := range f.timers {
		if !t.at.After(f.now) {
			t.c <- f.now
		} else {
			kept = append(kept, t)
		}
	}
	f.timers = kept
}

func (f *fakeTimers) pending() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.timers) }

func TestReservationWaitFakeClock(t *testing.T) {
	t.Parallel()
	clk := &fakeTimers{now: time.Unix(1000, 0)}
	now := t0
	f := &fakeClient{replies: []fakeReply{
		{val: []any{int64(0), now, now + 2*sec, now + 3*sec}},
		{val: []any{int64(0), now, now + 2*sec}},
		{err: redis.ErrClosed},
		{val: []any{int64(0), now, now + sec}},
		{val: int64(1)},
	}}
	l, err := New(f, Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l.now, l.newTimer = clk.Now, clk.NewTimer
	ctx := context.Background()

	r, err := l.Reserve(ctx, oneNumber(2))
	if err != nil {
		t.Fatal(err)
	}
	if r.Delay() != 2*time.Second || !r.At(1).Equal(clk.Now().Add(3*time.Second)) || r.ServerTime(0).UnixMicro() != now+2*sec {
		t.Fatalf("delay %v, at(1) %v, server %v", r.Delay(), r.At(1), r.ServerTime(0))
	}
	done := make(chan error, 1)
	go func() { done <- r.Wait(ctx) }()
	for clk.pending() == 0 {
		time.Sleep(time.Millisecond)
	}
	clk.Advance(1999 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v a millisecond early", err)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := r.WaitSegment(ctx, 1); err != nil { // due: no timer
		t.Fatal(err)
	}
	if err := r.WaitSegment(ctx, 2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("segment 2 of 2: %v", err)
	}

	// A reservation not yet due when Redis is lost is not released.
	r2, err := l.Reserve(ctx, oneNumber(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reserve(ctx, oneNumber(1)); !errors.Is(err, ErrUnavailable) {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	if err := r2.Wait(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Wait while unhealthy: %v", err)
	}

	// A cancelled context; then Cancel; then Wait says cancelled.
	r3, err := l.Reserve(ctx, oneNumber(1)) // healthy again
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r3.Wait(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context: %v", err)
	}
	if err := r3.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r3.Cancel(ctx); err != nil { // idempotent, no second call
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := r3.Wait(ctx); !errors.Is(err, ErrCancelled) {
		t.Fatalf("Wait after Cancel: %v", err)
	}
	if f.calls != 5 || l.Stats().Cancelled != 1 {
		t.Fatalf("%d calls, stats %+v", f.calls, l.Stats())
	}
}
