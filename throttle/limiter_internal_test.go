package throttle

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
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

func (f *fakeClient) next() *redis.Cmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	r := fakeReply{err: errors.New("fakeClient: no reply scripted")}
	if len(f.replies) > 0 {
		r, f.replies = f.replies[0], f.replies[1:]
	}
	return redis.NewCmdResult(r.val, r.err)
}

func (f *fakeClient) EvalSha(context.Context, string, []string, ...any) *redis.Cmd { return f.next() }
func (f *fakeClient) Eval(context.Context, string, []string, ...any) *redis.Cmd    { return f.next() }
func (f *fakeClient) Pipeline() redis.Pipeliner                                    { return nil }

const fakeNow = int64(1_795_000_000_000_000) // a Redis-clock instant, µs

func ia(v ...int64) []any {
	a := make([]any, len(v))
	for i, x := range v {
		a[i] = x
	}
	return a
}

// TestReplyShapesFailClosed: every reply of the wrong shape or out of range
// is a failure (ErrUnavailable, nothing granted, one log line, the hook),
// and the next good reply heals by itself.
func TestReplyShapesFailClosed(t *testing.T) {
	t.Parallel()
	now := fakeNow
	acct := Limit{N: 10}
	wants := []Want{{Number: "+1", Limit: Limit{N: 3}, Max: 2}, {Number: "+2", Limit: Limit{N: 3}, Max: 5}}
	good := ia(now, 0, 0, 2, 0, 3, 1000)
	for _, c := range []struct {
		name string
		r    fakeReply
	}{
		{"error reply", fakeReply{err: redis.ErrClosed}},
		{"nil", fakeReply{}},
		{"string", fakeReply{val: "OK"}},
		{"integer", fakeReply{val: int64(0)}},
		{"too short", fakeReply{val: ia(now, 0, 0, 1, 0)}},
		{"too long", fakeReply{val: ia(now, 0, 0, 1, 0, 1, 0, 1, 0)}},
		{"string element", fakeReply{val: []any{now, int64(0), int64(0), "x", int64(0), int64(0), int64(0)}}},
		{"no clock", fakeReply{val: ia(0, 0, 0, 1, 0, 1, 0)}},
		{"negative grant", fakeReply{val: ia(now, 0, 0, -1, 0, 1, 0)}},
		{"more than max", fakeReply{val: ia(now, 0, 0, 3, 0, 1, 0)}},
		{"more than the number's N", fakeReply{val: ia(now, 0, 0, 1, 0, 4, 0)}},
		{"more than the account's N", fakeReply{val: ia(now, 0, 0, 2, 0, 3, 0)}},
		{"negative wait", fakeReply{val: ia(now, 0, 0, 1, -5, 1, 0)}},
		{"absurd wait", fakeReply{val: ia(now, 0, 0, 1, math.MaxInt64, 1, 0)}},
		{"negative account wait", fakeReply{val: ia(now, 0, -1, 1, 0, 1, 0)}},
		{"grant in a quiet period", fakeReply{val: ia(now, 1000, 1000, 1, 0, 0, 0)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			core, logs := observer.New(zap.InfoLevel)
			var hook []bool
			f := &fakeClient{replies: []fakeReply{c.r, {val: good}}}
			l, err := New(f, Config{Logger: zap.New(core),
				OnHealthChange: func(ok bool, _ error) { hook = append(hook, ok) }})
			if err != nil {
				t.Fatal(err)
			}
			a := Limit{N: 4}
			if c.name != "more than the account's N" {
				a = acct
			}
			r, err := l.Take(context.Background(), "a", a, wants)
			if !errors.Is(err, ErrUnavailable) || r.Grants != nil {
				t.Fatalf("Take = %+v, %v; want nothing, ErrUnavailable", r, err)
			}
			if l.Healthy() || logs.FilterMessageSnippet("fail closed").FilterLevelExact(zap.ErrorLevel).Len() != 1 {
				t.Fatalf("healthy=%v, log %v", l.Healthy(), logs.All())
			}
			// The next good reply makes it healthy again, by itself.
			r, err = l.Take(context.Background(), "a", acct, wants)
			if err != nil || r.Grants[0] != (Grant{N: 2}) || r.Grants[1] != (Grant{N: 3, Wait: time.Millisecond}) || !r.Now.Equal(time.UnixMicro(now)) {
				t.Fatalf("good reply: %+v, %v", r, err)
			}
			if !l.Healthy() || logs.FilterMessageSnippet("resumes").FilterLevelExact(zap.InfoLevel).Len() != 1 || len(hook) != 2 || hook[0] || !hook[1] {
				t.Fatalf("healthy=%v hook=%v log %v", l.Healthy(), hook, logs.All())
			}
			if s := l.Stats(); s.Failures != 1 || s.Takes != 1 || s.Granted != 5 || !errors.Is(s.LastError, ErrUnavailable) {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// TestCancelledContextIsNotAFailure: the caller's cancellation says nothing
// about Redis.
func TestCancelledContextIsNotAFailure(t *testing.T) {
	t.Parallel()
	f := &fakeClient{replies: []fakeReply{{err: context.Canceled}}}
	l, err := New(f, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Take(ctx, "a", Limit{N: 1}, nil); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) || !l.Healthy() {
		t.Fatalf("Take on a cancelled context: %v, healthy %v", err, l.Healthy())
	}
}

func TestInvalidArguments(t *testing.T) {
	t.Parallel()
	f := &fakeClient{}
	l, err := New(f, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ok := Limit{N: 1}
	w := func(number string, lim Limit, max int) Want { return Want{Number: number, Limit: lim, Max: max} }
	many := make([]Want, MaxWants+1)
	for i := range many {
		many[i] = w(strings.Repeat("9", 1+i%10)+string(rune('a'+i/10%26))+string(rune('a'+i/260)), ok, 1)
	}
	for name, c := range map[string]struct {
		account string
		acct    Limit
		wants   []Want
		msg     string
	}{
		"no account":        {"", ok, nil, "account"},
		"brace":             {"a}b", ok, nil, "hash tag"},
		"long account":      {strings.Repeat("a", 129), ok, nil, "account"},
		"account N 0":       {"a", Limit{}, nil, "N 0"},
		"account N huge":    {"a", Limit{N: MaxN + 1}, nil, "N"},
		"negative interval": {"a", Limit{N: 1, Interval: -time.Second}, nil, "interval"},
		"tiny interval":     {"a", Limit{N: 1, Interval: time.Microsecond}, nil, "interval"},
		"huge interval":     {"a", Limit{N: 1, Interval: 2 * time.Hour}, nil, "interval"},
		"burst in sliding":  {"a", Limit{N: 1, Burst: 2}, nil, "sliding"},
		"negative burst":    {"a", Limit{N: 1, Mode: Bucket, Burst: -1}, nil, "burst"},
		"unknown mode":      {"a", Limit{N: 1, Mode: 7}, nil, "mode"},
		"no number":         {"a", ok, []Want{w("", ok, 1)}, "number"},
		"number N 0":        {"a", ok, []Want{w("+1", Limit{}, 1)}, "N 0"},
		"number burst":      {"a", ok, []Want{w("+1", Limit{N: 2, Burst: 1}, 1)}, "sliding"},
		"negative max":      {"a", ok, []Want{w("+1", ok, -1)}, "max -1"},
		"twice":             {"a", ok, []Want{w("+1", ok, 1), w("+2", ok, 1), w("+1", ok, 1)}, "twice"},
		"negative weight":   {"a", ok, []Want{{Number: "+1", Limit: ok, Weight: -1}}, "weight"},
		"NaN weight":        {"a", ok, []Want{{Number: "+1", Limit: ok, Weight: math.NaN()}}, "weight"},
		"infinite weight":   {"a", ok, []Want{{Number: "+1", Limit: ok, Weight: math.Inf(1)}}, "weight"},
		"huge weight":       {"a", ok, []Want{{Number: "+1", Limit: ok, Weight: 2e6}}, "weight"},
		"too many wants":    {"a", ok, many, "at most 1000"},
	} {
		_, err := l.Take(ctx, c.account, c.acct, c.wants)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want ErrInvalid mentioning %q", name, err, c.msg)
		}
		for _, o := range l.TakeBatch(ctx, []TakeRequest{{Account: c.account, Limit: c.acct, Wants: c.wants}}) {
			if !errors.Is(o.Err, ErrInvalid) {
				t.Errorf("%s in a batch: %v", name, o.Err)
			}
		}
	}
	at := time.UnixMicro(fakeNow)
	for name, err := range map[string]error{
		"return no number":      l.Return(ctx, "a", ok, "", ok, 1, at),
		"return negative":       l.Return(ctx, "a", ok, "+1", ok, -1, at),
		"return without time":   l.Return(ctx, "a", ok, "+1", ok, 1, time.Time{}),
		"return bad limit":      l.Return(ctx, "a", ok, "+1", Limit{}, 1, at),
		"throttled no account":  func() error { _, err := l.Throttled(ctx, "", "+1", ok); return err }(),
		"throttled bad limit":   func() error { _, err := l.Throttled(ctx, "a", "+1", Limit{N: -1}); return err }(),
		"rate bad limit":        func() error { _, err := l.EffectiveRate(ctx, "a", "", Limit{}); return err }(),
		"idle bad account":      func() error { _, err := l.AssumeIdle(ctx, "{x}"); return err }(),
		"quietuntil no account": func() error { _, err := l.QuietUntil(ctx, ""); return err }(),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if f.calls != 0 || !l.Healthy() {
		t.Fatalf("invalid arguments reached Redis (%d calls) or changed health", f.calls)
	}
	for name, cfg := range map[string]Config{
		"prefix":          {Prefix: "x{"},
		"negative margin": {Margin: -time.Second},
		"huge margin":     {Margin: time.Minute},
		"backoff":         {Adaptive: Adaptive{Backoff: 1}},
		"floor":           {Adaptive: Adaptive{Floor: 2}},
		"recovery":        {Adaptive: Adaptive{Recovery: 2 * time.Hour}},
	} {
		if _, err := New(f, cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("config %s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := New(nil, Config{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil client: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	l, err := New(&fakeClient{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c := l.Config(); c.Prefix != DefaultPrefix || c.Margin != DefaultMargin || c.Adaptive.Recovery != DefaultRecovery || l.margin != 10000 {
		t.Fatalf("defaults %+v", c)
	}
	l, err = New(&fakeClient{}, Config{Margin: NoMargin})
	if err != nil || l.margin != 0 || l.Config().Margin != NoMargin {
		t.Fatalf("no margin: %v %+v", err, l)
	}
}

func TestPerSecond(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rate float64
		want Limit
	}{
		{10, Limit{N: 10, Interval: time.Second}},
		{1, Limit{N: 1, Interval: time.Second}},
		{0.5, Limit{N: 1, Interval: 2 * time.Second}},
		{2.5, Limit{N: 5, Interval: 2 * time.Second}},
		{0.1, Limit{N: 1, Interval: 10 * time.Second}},
		{1.0 / 3, Limit{N: 1, Interval: 3 * time.Second}},
		{0.3, Limit{N: 3, Interval: 10 * time.Second}},
		{0.001, Limit{N: 1, Interval: 1000 * time.Second}},
		{1.2345678, Limit{N: 1, Interval: 810001 * time.Microsecond}}, // no whole number of seconds: 1 per 1/rate, rounded up
		{0, Limit{}},
		{-1, Limit{}},
		{math.NaN(), Limit{}},
		{math.Inf(1), Limit{}},
	} {
		got := PerSecond(c.rate)
		if got != c.want {
			t.Errorf("PerSecond(%v) = %+v, want %+v", c.rate, got, c.want)
		}
		if c.want.N > 0 && (got.Rate() > c.rate || got.Rate() < c.rate*0.99999) {
			t.Errorf("PerSecond(%v).Rate() = %v", c.rate, got.Rate())
		}
	}
	if r := (Limit{N: 3}).Rate(); r != 3 {
		t.Errorf("rate of 3 per default interval: %v", r)
	}
	if r := (Limit{N: 5, Interval: 2 * time.Second, Mode: Bucket, Burst: 10}).Rate(); r != 2.5 {
		t.Errorf("rate %v", r)
	}
}
