package throttle

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// The arithmetic on a fake clock: each scenario is a list of steps at fixed
// instants (µs after t0, like x/time/rate's t0…t9) with the reply expected.
// The same table runs against the Go mirror here and against the script in
// miniredis in script_test.go, so the expectations pin both.

const t0 = int64(1_795_000_000_000_000) // a Redis-clock instant, µs; not near a UTC midnight

const sec = int64(1_000_000)

type op int

const (
	opReserve op = iota
	opCancel     // cancel the reservation made at step ref
	opCut
	opRate
	opLose // Redis loses all its data (restart without persistence)
	opIdle // AssumeIdle
)

type step struct {
	at   int64 // µs after t0
	op   op
	cost int
	bs   []int // indexes into the scenario's buckets (reserve); bs[0] for cut/rate
	ref  int   // opCancel: index of the reserving step
	want []int64
}

type scenario struct {
	name    string
	cfg     Config // zero: horizon 30 s, span 60 s, backoff 0.5, floor 0.1, recovery 60 s, hold 1 s
	buckets []Bucket
	fresh   bool // start without a fence (first use, or after a data loss)
	steps   []step
}

var (
	perSec1  = Number("+15550000001", Class{Name: "shared", Rate: 1})
	perSec1b = Number("+15550000002", Class{Name: "shared", Rate: 1})
	burst3   = Number("+15550000003", Class{Name: "dedicated", Rate: 1, Burst: 3})
	slow     = Number("+15550000004", Class{Name: "intl", Rate: 0.1})
	third    = Number("+15550000005", Class{Name: "tollfree", Rate: 3})
	acct2    = Account(2, 0)
	capped   = Bucket{Level: "brand", ID: "b1", Limit: Limit{Rate: 100, Burst: 10, DailyCap: 3}}
)

// g is a granted reply with segment times relative to t0.
func g(now int64, times ...int64) []int64 { return append([]int64{codeGranted, now}, times...) }

var scenarios = []scenario{
	{name: "one per second, queued not refused", buckets: []Bucket{perSec1}, steps: []step{
		{at: 0, cost: 1, bs: []int{0}, want: g(0, 0)},
		{at: 0, cost: 1, bs: []int{0}, want: g(0, 1*sec)},
		{at: sec / 2, cost: 1, bs: []int{0}, want: g(sec/2, 2*sec)},
		{at: 10 * sec, cost: 1, bs: []int{0}, want: g(10*sec, 10*sec)}, // idle again: at once
	}},
	{name: "cost above burst spreads, never starves", buckets: []Bucket{perSec1}, steps: []step{
		{at: 0, cost: 5, bs: []int{0}, want: g(0, 0, sec, 2*sec, 3*sec, 4*sec)},
		{at: 0, cost: 1, bs: []int{0}, want: g(0, 5*sec)},
	}},
	{name: "burst three at once, then the rate", buckets: []Bucket{burst3}, steps: []step{
		{at: 0, cost: 3, bs: []int{0}, want: g(0, 0, 0, 0)},
		{at: 0, cost: 2, bs: []int{0}, want: g(0, sec, 2*sec)},
		{at: 5 * sec, cost: 4, bs: []int{0}, want: g(5*sec, 5*sec, 5*sec, 5*sec, 6*sec)},
	}},
	{name: "a tenth of a segment per second", buckets: []Bucket{slow}, steps: []step{
		{at: 0, cost: 2, bs: []int{0}, want: g(0, 0, 10*sec)},
		{at: sec, cost: 1, bs: []int{0}, want: g(sec, 20*sec)},
	}},
	{name: "three per second rounds the interval up", buckets: []Bucket{third}, steps: []step{
		{at: 0, cost: 3, bs: []int{0}, want: g(0, 0, 333334, 666668)},
	}},
	{name: "numbers share their account", buckets: []Bucket{perSec1, perSec1b, acct2}, steps: []step{
		{at: 0, cost: 1, bs: []int{0, 2}, want: g(0, 0)},
		{at: 0, cost: 1, bs: []int{1, 2}, want: g(0, sec/2)},            // the account is the limit
		{at: 0, cost: 1, bs: []int{0, 2}, want: g(0, sec)},              // the number is the limit
		{at: 0, cost: 2, bs: []int{1, 2}, want: g(0, 3*sec/2, 5*sec/2)}, // the number spaces both
	}},
	{name: "a gap the number leaves in its account is filled", buckets: []Bucket{perSec1, perSec1b, Account(10, 1)}, steps: []step{
		{at: 0, cost: 2, bs: []int{0, 2}, want: g(0, 0, sec)}, // the account is free between 0.1 s and 1 s
		{at: 0, cost: 1, bs: []int{1, 2}, want: g(0, sec/10)}, // plain GCRA would say 1.1 s
		{at: 0, cost: 2, bs: []int{1, 2}, want: g(0, sec+sec/10, 2*sec+sec/10)},
	}},
	{name: "horizon refuses and takes nothing", cfg: Config{Horizon: 2 * 1e9}, buckets: []Bucket{perSec1}, steps: []step{
		{at: 0, cost: 3, bs: []int{0}, want: g(0, 0, sec, 2*sec)},
		{at: 0, cost: 1, bs: []int{0}, want: []int64{codeHorizon, 0, 3 * sec, 1}},
		{at: sec, cost: 1, bs: []int{0}, want: g(sec, 3*sec)},
	}},
	{name: "span refuses a message too long for the rate", cfg: Config{MaxSpan: 2 * 1e9}, buckets: []Bucket{perSec1}, steps: []step{
		{at: 0, cost: 4, bs: []int{0}, want: []int64{codeSpan, 0, 3 * sec, 1}},
		{at: 0, cost: 3, bs: []int{0}, want: g(0, 0, sec, 2*sec)},
	}},
	{name: "daily cap", buckets: []Bucket{capped}, steps: []step{
		{at: 0, cost: 2, bs: []int{0}, want: g(0, 0, 0)},
		{at: 0, cost: 2, bs: []int{0}, want: []int64{codeCap, 0, dayMicros - t0%dayMicros, 1}},
		{at: 0, cost: 1, bs: []int{0}, want: g(0, 0)},
		{at: 0, op: opCancel, ref: 2, bs: []int{0}, want: []int64{1}},
		{at: 0, cost: 1, bs: []int{0}, want: g(0, 0)},
		{at: dayMicros, cost: 3, bs: []int{0}, want: g(dayMicros, dayMicros, dayMicros, dayMicros)}, // a new day
	}},
	{name: "cancel restores only where latest", buckets: []Bucket{perSec1, perSec1b, acct2}, steps: []step{
		{at: 0, cost: 1, bs: []int{0, 2}, want: g(0, 0)},
		{at: 0, cost: 1, bs: []int{1, 2}, want: g(0, sec/2)},
		{at: 0, op: opCancel, ref: 0, want: []int64{1}},    // number 0 restored, account not (step 1 booked after)
		{at: 0, cost: 1, bs: []int{0, 2}, want: g(0, sec)}, // number free at 0 again; account at 1 s
		{at: 0, op: opCancel, ref: 3, want: []int64{2}},    // latest in both
		{at: 0, op: opCancel, ref: 3, want: []int64{0}},    // idempotent
		{at: 0, cost: 1, bs: []int{0, 2}, want: g(0, sec)},
	}},
	{name: "cut halves, recovery is linear, holds count once", buckets: []Bucket{perSec1}, steps: []step{
		{at: 0, op: opCut, bs: []int{0}, want: []int64{1, 0, 500000}},
		{at: sec / 2, op: opCut, bs: []int{0}, want: []int64{0, sec / 2, 500000 + 8333}}, // within hold
		{at: sec, cost: 2, bs: []int{0}, want: g(sec, sec, sec+1935487)},                 // f = 0.516666: ceil(1e6/f) µs
		{at: 30 * sec, op: opRate, bs: []int{0}, want: []int64{30 * sec, 1000000}},       // 0.5 + 30/60 = 1
		{at: 30 * sec, op: opCut, bs: []int{0}, want: []int64{1, 30 * sec, 500000}},
		{at: 31 * sec, op: opCut, bs: []int{0}, want: []int64{1, 31 * sec, 258333}}, // (0.5+1/60)·0.5
		{at: 32 * sec, op: opCut, bs: []int{0}, want: []int64{1, 32 * sec, 137499}},
		{at: 33 * sec, op: opCut, bs: []int{0}, want: []int64{1, 33 * sec, 100000}}, // the floor
		{at: 33 * sec, op: opRate, bs: []int{0}, want: []int64{33 * sec, 100000}},
	}},
	{name: "lost data: quiet period, no burst", cfg: Config{Horizon: 2 * 1e9, MaxSpan: 3 * 1e9, Adaptive: Adaptive{Floor: 0.5}}, buckets: []Bucket{burst3}, steps: []step{
		{at: 0, cost: 3, bs: []int{0}, want: g(0, 0, 0, 0)},
		{at: sec, op: opLose},
		// fence gone at 1 s: nothing before horizon 2 s + span 3 s + one
		// interval at the floor rate (2 s) later, 8 s, and no burst then
		{at: sec, cost: 1, bs: []int{0}, want: []int64{codeHorizon, sec, 7 * sec, 1}},
		{at: 6 * sec, cost: 1, bs: []int{0}, want: g(6*sec, 8*sec)},
		{at: 7 * sec, cost: 1, bs: []int{0}, want: g(7*sec, 9*sec)},
		{at: 20 * sec, cost: 3, bs: []int{0}, want: g(20*sec, 20*sec, 20*sec, 20*sec)},
	}},
	{name: "first use waits the quiet period unless assumed idle", fresh: true, cfg: Config{Horizon: 2 * 1e9, MaxSpan: 3 * 1e9, Adaptive: Adaptive{Floor: 0.5}}, buckets: []Bucket{perSec1, perSec1b}, steps: []step{
		{at: 0, cost: 1, bs: []int{0}, want: []int64{codeHorizon, 0, 7 * sec, 1}},
		{at: 0, op: opIdle, want: []int64{0}}, // too late: the fence exists now
		{at: 6 * sec, cost: 1, bs: []int{1}, want: g(6*sec, 7*sec)},
		{at: 7 * sec, op: opLose},
		{at: 7 * sec, op: opIdle, want: []int64{1}},
		{at: 7 * sec, cost: 1, bs: []int{0}, want: g(7*sec, 7*sec)},
	}},
}

// mirror runs steps on the Go mirror.
type mirror struct {
	cfg    Config
	fence  fenceState
	states map[string]*bucketState
	toks   map[int]string
	days   map[int]int64
	costs  map[int]int
	keys   map[int][]string
}

func newMirror(cfg Config) *mirror {
	return &mirror{cfg: cfg, states: map[string]*bucketState{}, toks: map[int]string{}, days: map[int]int64{}, costs: map[int]int{}, keys: map[int][]string{}}
}

func (m *mirror) state(key string) *bucketState {
	st := m.states[key]
	if st == nil {
		st = &bucketState{}
		m.states[key] = st
	}
	return st
}

func (m *mirror) run(i int, now int64, s step, bs []Bucket) []int64 {
	c := m.cfg
	switch s.op {
	case opReserve:
		a := reserveArgs{Cost: s.cost, Horizon: c.Horizon.Microseconds(), MaxSpan: c.MaxSpan.Microseconds(),
			Recovery: c.Adaptive.Recovery.Microseconds(), Floor: int64(c.Adaptive.Floor * ppm), Token: fmt.Sprintf("tok%d", i)}
		var sts []*bucketState
		var keys []string
		for _, j := range s.bs {
			a.Buckets = append(a.Buckets, bs[j].Limit.params())
			k := bucketKey("", "acct", bs[j].Level, bs[j].ID)
			keys = append(keys, k)
			sts = append(sts, m.state(k))
		}
		r := reserveAt(now, &m.fence, sts, a)
		if r[0] == codeGranted {
			m.toks[i], m.days[i], m.costs[i], m.keys[i] = a.Token, floorDay(r[2]), s.cost, keys
		}
		return r
	case opCancel:
		var sts []*bucketState
		for _, k := range m.keys[s.ref] {
			sts = append(sts, m.state(k))
		}
		return []int64{cancelAt(sts, m.toks[s.ref], m.costs[s.ref], m.days[s.ref])}
	case opCut:
		st := m.state(bucketKey("", "acct", bs[s.bs[0]].Level, bs[s.bs[0]].ID))
		a := c.Adaptive
		return cutAt(now, st, int64(a.Backoff*ppm), int64(a.Floor*ppm), a.Recovery.Microseconds(), a.Hold.Microseconds())
	case opRate:
		st := m.state(bucketKey("", "acct", bs[s.bs[0]].Level, bs[s.bs[0]].ID))
		return []int64{now, fraction(st, now, c.Adaptive.Recovery.Microseconds())}
	case opLose:
		m.fence, m.states = fenceState{}, map[string]*bucketState{}
		return nil
	case opIdle:
		if m.fence.Exists {
			return []int64{0}
		}
		m.fence = fenceState{Exists: true, Epoch: 0, Refreshed: now}
		return []int64{1}
	}
	panic("unknown op")
}

// relative turns absolute Redis-clock times in a reply into offsets from t0.
func relative(o op, r []int64) []int64 {
	r = slices.Clone(r)
	switch o {
	case opReserve:
		r[1] -= t0
		if r[0] == codeGranted {
			for i := 2; i < len(r); i++ {
				r[i] -= t0
			}
		}
	case opCut:
		r[1] -= t0
	case opRate:
		r[0] -= t0
	}
	return r
}

func filled(t testing.TB, c Config) Config {
	t.Helper()
	if err := c.fill(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMirrorScenarios(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			m := newMirror(filled(t, sc.cfg))
			if !sc.fresh {
				m.run(-1, t0, step{op: opIdle}, nil)
			}
			for i, s := range sc.steps {
				got := m.run(i, t0+s.at, s, sc.buckets)
				if s.op == opLose {
					continue
				}
				if got = relative(s.op, got); !slices.Equal(got, s.want) {
					t.Errorf("step %d (%+v): got %v, want %v", i, s, got, s.want)
				}
			}
		})
	}
}

// TestMirrorGuarantee drives the mirror with random traffic from many
// "processes" on a clock that sometimes steps back, with cancels, rate cuts
// and losses of all data, and checks the guarantee on every bucket: in any
// closed window of one second, the segments that were granted and not
// cancelled number at most ⌊(1s+τ)/T⌋+1 ≤ rate+burst.
func TestMirrorGuarantee(t *testing.T) {
	t.Parallel()
	buckets := []Bucket{perSec1, perSec1b, burst3, slow, third, acct2,
		Number("+15550000009", Class{Rate: 10, Burst: 5}),
		{Level: "campaign", ID: "c7", Limit: Limit{Rate: 7, Burst: 3}}}
	for seed := range uint64(24) {
		rng := rand.New(rand.NewPCG(seed, 99))
		cfg := filled(t, Config{Horizon: 3 * 1e9, MaxSpan: 4 * 1e9, Adaptive: Adaptive{Recovery: 5 * 1e9, Floor: 0.5}})
		m := newMirror(cfg)
		m.run(-1, t0, step{op: opIdle}, nil)
		type grant struct {
			times []int64
			keys  []string
		}
		grants := map[int]grant{}
		now := t0
		// light traffic, or saturating (losses per second of the same order)
		gap, reserves, cancels, cuts, losses := int64(300_000), 80, 92, 98, 10
		if seed%2 == 1 {
			gap, reserves, cancels, cuts, losses = 50_000, 96, 98, 99, 50
		}
		for i := range 3000 {
			now += rng.Int64N(gap) - gap/10 // sometimes the clock steps back
			var s step
			switch x := rng.IntN(100); {
			case x < reserves:
				// a number, with or without an account
				s = step{op: opReserve, cost: 1 + rng.IntN(4), bs: []int{rng.IntN(5)}}
				if rng.IntN(3) > 0 {
					s.bs = append(s.bs, 5+rng.IntN(2)*2) // the account or the campaign
				}
				if rng.IntN(4) == 0 {
					s.bs = []int{6}
				}
			case x < cancels:
				// cancel a reservation whose message was not sent, due or not
				if len(grants) == 0 {
					continue
				}
				refs := slices.Sorted(maps.Keys(grants))
				s = step{op: opCancel, ref: refs[rng.IntN(len(refs))]}
			case x < cuts:
				s = step{op: opCut, bs: []int{rng.IntN(len(buckets))}}
			default:
				if rng.IntN(losses) == 0 {
					s = step{op: opLose}
				} else {
					continue
				}
			}
			r := m.run(i, now, s, buckets)
			switch {
			case s.op == opReserve && r[0] == codeGranted:
				grants[i] = grant{times: r[2:], keys: m.keys[i]}
			case s.op == opCancel:
				// Only the buckets restored give the tokens back, but
				// the message is not sent at all.
				delete(grants, s.ref)
			}
		}
		byKey := map[string][]int64{}
		for _, gr := range grants {
			for _, k := range gr.keys {
				byKey[k] = append(byKey[k], gr.times...)
			}
		}
		for _, b := range buckets {
			k := bucketKey("", "acct", b.Level, b.ID)
			p := b.Limit.params()
			bound := (sec+p.Tau)/p.T + 1
			if w := worstWindow(byKey[k], sec); w > bound {
				t.Fatalf("seed %d: %s: %d segments in one second, bound %d", seed, k, w, bound)
			}
			if float64(bound) > b.Limit.Rate+float64(max(b.Limit.Burst, 1)) {
				t.Fatalf("bound %d above rate+burst for %+v", bound, b.Limit)
			}
		}
	}
}

// TestMirrorGuaranteeManyNumbers: sixty backlogged numbers behind one
// account, more holes than a bucket keeps; the account and every number keep
// the bound, and the account's rate is used.
func TestMirrorGuaranteeManyNumbers(t *testing.T) {
	t.Parallel()
	for _, acct := range []Bucket{Account(1000, 100), Account(40, 3)} {
		bs := []Bucket{acct}
		for n := range 60 {
			bs = append(bs, Number(fmt.Sprintf("+1555%04d", n), Class{Rate: 1}))
		}
		rng := rand.New(rand.NewPCG(5, 5))
		m := newMirror(filled(t, Config{Horizon: 3 * 1e9, MaxSpan: 4 * 1e9}))
		m.run(-1, t0, step{op: opIdle}, nil)
		byKey := map[string][]int64{}
		now := t0
		for i := range 20000 {
			now += rng.Int64N(2000)
			s := step{op: opReserve, cost: 1 + rng.IntN(3), bs: []int{1 + rng.IntN(60), 0}}
			if r := m.run(i, now, s, bs); r[0] == codeGranted {
				for _, k := range m.keys[i] {
					byKey[k] = append(byKey[k], r[2:]...)
				}
			}
		}
		for _, b := range bs {
			k := bucketKey("", "acct", b.Level, b.ID)
			p := b.Limit.params()
			if w, bound := worstWindow(byKey[k], sec), (sec+p.Tau)/p.T+1; w > bound {
				t.Fatalf("%s: %d segments in one second, bound %d", k, w, bound)
			}
		}
		if acct.Limit.Rate == 40 {
			ak := bucketKey("", "acct", LevelAccount, "")
			in := 0
			for _, x := range byKey[ak] {
				if x >= t0+5*sec && x < now-5*sec {
					in++
				}
			}
			if util := float64(in) / (40 * float64(now-10*sec-t0) / 1e6); util < 0.97 {
				t.Errorf("account of 40/s behind 60 numbers: utilisation %.3f", util)
			}
		}
	}
}

// worstWindow is the most times within any closed window [t, t+w].
func worstWindow(times []int64, w int64) int64 {
	s := slices.Clone(times)
	slices.Sort(s)
	worst, j := 0, 0
	for i := range s {
		for s[i]-s[j] > w {
			j++
		}
		worst = max(worst, i-j+1)
	}
	return int64(worst)
}

func TestWorstWindow(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		times []int64
		want  int64
	}{
		{nil, 0},
		{[]int64{0}, 1},
		{[]int64{0, sec, 2 * sec}, 2}, // closed windows: 0 and 1 s together
		{[]int64{0, sec + 1, 2*sec + 2}, 1},
		{[]int64{5, 5, 5, 0}, 4},
	} {
		if got := worstWindow(c.times, sec); got != c.want {
			t.Errorf("worstWindow(%v) = %d, want %d", c.times, got, c.want)
		}
	}
}
