package throttle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// The script itself on a fake clock: miniredis runs it (gopher-lua) with
// TIME following SetTime. It must give the replies of the scenario table and
// of the Go mirror, step for step.

type scriptRunner struct {
	t   testing.TB
	mr  *miniredis.Miniredis
	l   *Limiter
	res map[int]struct {
		keys []string
		tok  string
		cost int
		day  int64
	}
}

func newScriptRunner(t testing.TB, cfg Config) *scriptRunner {
	t.Helper()
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	l, err := New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &scriptRunner{t: t, mr: mr, l: l, res: map[int]struct {
		keys []string
		tok  string
		cost int
		day  int64
	}{}}
}

func (s *scriptRunner) run(i int, now int64, st step, bs []Bucket) []int64 {
	t, l, ctx := s.t, s.l, context.Background()
	t.Helper()
	s.mr.SetTime(time.UnixMicro(now))
	var cmd *redis.Cmd
	switch st.op {
	case opReserve:
		req := Request{Account: "acct", Cost: st.cost}
		for _, j := range st.bs {
			req.Buckets = append(req.Buckets, bs[j])
		}
		tok := fmt.Sprintf("tok%d", i)
		keys, args, err := l.prepare(req, tok)
		if err != nil {
			t.Fatal(err)
		}
		cmd = l.run(ctx, keys, args...)
		r := s.ints(cmd, 2, 2+MaxCost)
		if r[0] == codeGranted {
			s.res[i] = struct {
				keys []string
				tok  string
				cost int
				day  int64
			}{keys[1:], tok, st.cost, floorDay(r[2])}
		}
		return r
	case opCancel:
		r := s.res[st.ref]
		cmd = l.run(ctx, r.keys, "cancel", r.tok, r.cost, r.day)
	case opCut:
		cmd = l.run(ctx, []string{l.Key("acct", bs[st.bs[0]])}, "cut", l.backoff, l.floor, l.recovery, l.hold)
	case opRate:
		cmd = l.run(ctx, []string{l.Key("acct", bs[st.bs[0]])}, "rate", l.recovery)
	case opLose:
		s.mr.FlushAll()
		return nil
	case opIdle:
		created, err := l.AssumeIdle(ctx, "acct")
		if err != nil {
			t.Fatal(err)
		}
		if created {
			return []int64{1}
		}
		return []int64{0}
	}
	v, err := cmd.Result()
	if err != nil {
		t.Fatalf("step %d: %v", i, err)
	}
	if n, ok := v.(int64); ok {
		return []int64{n}
	}
	r, err := ints(v, 1, 2+MaxCost)
	if err != nil {
		t.Fatalf("step %d: %v", i, err)
	}
	return r
}

func (s *scriptRunner) ints(cmd *redis.Cmd, lo, hi int) []int64 {
	s.t.Helper()
	v, err := cmd.Result()
	if err != nil {
		s.t.Fatal(err)
	}
	r, err := ints(v, lo, hi)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

func TestScriptScenarios(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s := newScriptRunner(t, sc.cfg)
			if !sc.fresh {
				s.run(-1, t0, step{op: opIdle}, nil)
			}
			for i, st := range sc.steps {
				got := s.run(i, t0+st.at, st, sc.buckets)
				if st.op == opLose {
					continue
				}
				if got = relative(st.op, got); !slices.Equal(got, st.want) {
					t.Errorf("step %d (%+v): got %v, want %v", i, st, got, st.want)
				}
			}
		})
	}
}

// TestScriptMatchesMirror runs random steps on both and compares every reply,
// so what TestMirrorGuarantee proves of the mirror holds for the script.
const maxHoles32 = maxHoles

func TestScriptMatchesMirror(t *testing.T) {
	t.Parallel()
	buckets := []Bucket{perSec1, perSec1b, burst3, slow, third, acct2, capped,
		{Level: "campaign", ID: "c7", Limit: Limit{Rate: 7, Burst: 3, DailyCap: 400}}}
	// Many numbers behind one fast account: the account collects more holes
	// than it keeps.
	many := []Bucket{Account(1000, 100)}
	for n := range 60 {
		many = append(many, Number(fmt.Sprintf("+1555%04d", n), Class{Rate: 1}))
	}
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 7))
		if seed == 3 {
			cfg := filled(t, Config{Horizon: 3 * time.Second, MaxSpan: 4 * time.Second})
			m, s := newMirror(cfg), newScriptRunner(t, cfg)
			m.run(-1, t0, step{op: opIdle}, nil)
			s.run(-1, t0, step{op: opIdle}, nil)
			now := t0
			maxHoles := 0
			for i := range 700 {
				now += rng.Int64N(3000)
				st := step{op: opReserve, cost: 1 + rng.IntN(3), bs: []int{1 + rng.IntN(60), 0}}
				want, got := m.run(i, now, st, many), s.run(i, now, st, many)
				if !slices.Equal(got, want) {
					t.Fatalf("many numbers, step %d (%+v): script %v, mirror %v", i, st, got, want)
				}
				maxHoles = max(maxHoles, len(m.states[bucketKey("", "acct", LevelAccount, "")].Holes)/2)
			}
			if maxHoles != maxHoles32 {
				t.Fatalf("the account never filled its holes (%d)", maxHoles)
			}
			continue
		}
		cfg := filled(t, Config{Horizon: 3 * time.Second, MaxSpan: 4 * time.Second, Adaptive: Adaptive{Recovery: 5 * time.Second}})
		m, s := newMirror(cfg), newScriptRunner(t, cfg)
		now := t0 + dayMicros - 200*sec // cross a UTC midnight on the way
		var granted []int
		for i := range 800 {
			now += rng.Int64N(400_000) - 30_000
			var st step
			switch x := rng.IntN(100); {
			case x < 75:
				st = step{op: opReserve, cost: 1 + rng.IntN(5), bs: []int{rng.IntN(5)}}
				if rng.IntN(2) == 0 {
					st.bs = append(st.bs, 5+rng.IntN(3))
				}
			case x < 88 && len(granted) > 0:
				st = step{op: opCancel, ref: granted[rng.IntN(len(granted))]}
			case x < 94:
				st = step{op: opCut, bs: []int{rng.IntN(len(buckets))}}
			case x < 98:
				st = step{op: opRate, bs: []int{rng.IntN(len(buckets))}}
			case x < 99:
				st = step{op: opLose}
			default:
				st = step{op: opIdle}
			}
			want := m.run(i, now, st, buckets)
			got := s.run(i, now, st, buckets)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d (%+v) at %d: script %v, mirror %v", seed, i, st, now, got, want)
			}
			if st.op == opReserve && got[0] == codeGranted {
				granted = append(granted, i)
			}
		}
	}
}
