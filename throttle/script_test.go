package throttle

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// The script's arithmetic on a fake clock: miniredis runs it (gopher-lua)
// with TIME following SetTime, so the boundaries can be checked to the
// microsecond. The real Redis runs the same script in the other tests.

type fakeRedis struct {
	t  *testing.T
	mr *miniredis.Miniredis
	l  *Limiter
}

func newFakeRedis(t *testing.T, cfg Config) *fakeRedis {
	t.Helper()
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	l, err := New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeRedis{t: t, mr: mr, l: l}
}

// t0 is a Redis-clock instant on a whole millisecond.
var t0 = time.UnixMicro(fakeNow)

func (f *fakeRedis) at(d time.Duration) { f.mr.SetTime(t0.Add(d)) }

// take takes at t0+d and checks the grants and waits (in that order, one
// pair per want) and the account's wait.
func (f *fakeRedis) take(d time.Duration, acct Limit, wants []Want, want []time.Duration, acctWait time.Duration) {
	f.t.Helper()
	f.at(d)
	r, err := f.l.Take(context.Background(), "acct", acct, wants)
	if err != nil {
		f.t.Fatalf("at +%v: %v", d, err)
	}
	var got []time.Duration
	for _, g := range r.Grants {
		got = append(got, time.Duration(g.N), g.Wait)
	}
	if !slices.Equal(got, want) || r.AccountWait != acctWait || !r.Now.Equal(t0.Add(d)) {
		f.t.Fatalf("at +%v: grants and waits %v, account wait %v, now %v; want %v, %v", d, got, r.AccountWait, r.Now.Sub(t0), want, acctWait)
	}
}

const ms = time.Millisecond

func TestScriptSlidingBoundaries(t *testing.T) {
	t.Parallel()
	f := newFakeRedis(t, Config{}) // margin 10 ms
	f.at(0)
	if _, err := f.l.AssumeIdle(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	big := Limit{N: 1000}
	w := []Want{{Number: "+1", Limit: Limit{N: 2}, Max: 5}}
	f.take(0, big, []Want{{Number: "+1", Limit: Limit{N: 2}, Max: 1}}, []time.Duration{1, 0}, 0)
	// At +100.5 ms: recorded at +101 ms (rounded up).
	f.take(100500*time.Microsecond, big, w, []time.Duration{1, 1010*ms - 100500*time.Microsecond}, 0)
	// The first grant counts until +1010 ms exactly.
	f.take(1010*ms-time.Microsecond, big, w, []time.Duration{0, time.Microsecond}, 0)
	f.take(1010*ms, big, w, []time.Duration{1, 101*ms + 1010*ms - 1010*ms}, 0)
	f.take(1111*ms, big, w, []time.Duration{1, 909 * ms}, 0)
	// The clock steps back 5 s: what lies ahead still counts.
	f.take(-5*time.Second, big, w, []time.Duration{0, 5*time.Second + 2020*ms}, 0)
	// The account: 3 per 100 ms, shared by two numbers.
	acct := Limit{N: 3, Interval: 100 * ms}
	two := []Want{{Number: "+2", Limit: Limit{N: 5}, Max: 5}, {Number: "+3", Limit: Limit{N: 5}, Max: 5}}
	f.take(10*time.Second, acct, two, []time.Duration{2, 0, 1, 0}, 110*ms)
	f.take(10*time.Second+110*ms, acct, two, []time.Duration{2, 0, 1, 0}, 110*ms)
}

// TestScriptLogList: the same boundaries for buckets whose log is a list
// (N > 32), the account's and a number's.
func TestScriptLogList(t *testing.T) {
	t.Parallel()
	f := newFakeRedis(t, Config{})
	f.at(0)
	if _, err := f.l.AssumeIdle(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	acct := Limit{N: 40}
	one := func(max int) []Want { return []Want{{Number: "+1", Limit: Limit{N: 33}, Max: max}} }
	f.take(0, acct, one(32), []time.Duration{32, 0}, 0)
	f.take(100500*time.Microsecond, acct, one(5), []time.Duration{1, 1010*ms - 100500*time.Microsecond}, 0)
	f.take(1010*ms-time.Microsecond, acct, one(5), []time.Duration{0, time.Microsecond}, 0)
	// The 32 at 0 leave; the account has 39 of 40 free.
	f.take(1010*ms, acct, one(5), []time.Duration{5, 0}, 0)
	f.take(1010*ms, acct, one(40), []time.Duration{27, 101 * ms}, 0) // merged into the record of +1010 ms
	// The account holds 33 (1 at +101 ms, 32 at +1010 ms): 7 more fill it.
	two := []Want{{Number: "+2", Limit: Limit{N: 5}, Max: 5}, {Number: "+3", Limit: Limit{N: 5}, Max: 5}}
	f.take(1020*ms, acct, two, []time.Duration{4, 0, 3, 0}, 101*ms+1010*ms-1020*ms)
	// Give back 3 of +2's: the account's record of +1020 ms is in the list.
	if err := f.l.Return(context.Background(), "acct", acct, "+2", two[0].Limit, 3, t0.Add(1020*ms)); err != nil {
		t.Fatal(err)
	}
	f.take(1030*ms, acct, two[:1], []time.Duration{3, 0}, 101*ms+1010*ms-1030*ms)
	// Everything has left the window: the whole list goes at once.
	f.take(5*time.Second, acct, one(40), []time.Duration{33, 1010 * ms}, 0)
	if n, err := f.mr.List(DefaultPrefix + "{acct}:log:account"); err != nil || len(n) != 1 {
		t.Fatalf("account log %v, %v", n, err)
	}
}

func TestScriptBucketMode(t *testing.T) {
	t.Parallel()
	f := newFakeRedis(t, Config{})
	f.at(0)
	if _, err := f.l.AssumeIdle(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	big := Limit{N: 1000}
	// 10 per second, 3 at once: T = 100 ms.
	w := []Want{{Number: "+1", Limit: Limit{N: 10, Mode: Bucket, Burst: 3}, Max: 10}}
	f.take(0, big, w, []time.Duration{3, 100 * ms}, 0)
	f.take(50*ms, big, w, []time.Duration{0, 50 * ms}, 0)
	f.take(100*ms, big, w, []time.Duration{1, 100 * ms}, 0)
	f.take(450*ms, big, w, []time.Duration{3, 100 * ms}, 0)
	f.take(2*time.Second, big, w, []time.Duration{3, 100 * ms}, 0)
	// Burst 0 means N; rates that do not divide: T rounded up (333334 µs).
	w3 := []Want{{Number: "+2", Limit: Limit{N: 3, Mode: Bucket}, Max: 10}}
	f.take(3*time.Second, big, w3, []time.Duration{3, 333334 * time.Microsecond}, 0)
}

// TestScriptModeChange: a bucket whose Limit changes mode waits until the
// grants its old state records no longer matter under the new one.
func TestScriptModeChange(t *testing.T) {
	t.Parallel()
	f := newFakeRedis(t, Config{})
	f.at(0)
	if _, err := f.l.AssumeIdle(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	big := Limit{N: 1000}
	sliding := []Want{{Number: "+1", Limit: Limit{N: 2}, Max: 5}}
	bucket := []Want{{Number: "+1", Limit: Limit{N: 10, Mode: Bucket, Burst: 3}, Max: 5}}
	f.take(0, big, sliding, []time.Duration{2, 1010 * ms}, 0)
	// Bucket mode: a burst's refill (300 ms) after the last sliding grant.
	f.take(100*ms, big, bucket, []time.Duration{0, 200 * ms}, 0)
	f.take(300*ms, big, bucket, []time.Duration{3, 100 * ms}, 0)
	// Sliding again: the window after the last bucket grant.
	f.take(400*ms, big, sliding, []time.Duration{0, 910 * ms}, 0)
	f.take(1310*ms, big, sliding, []time.Duration{2, 1010 * ms}, 0)
}

func TestScriptQuietAndAdaptive(t *testing.T) {
	t.Parallel()
	f := newFakeRedis(t, Config{Adaptive: Adaptive{Recovery: 10 * time.Second}})
	w := []Want{{Number: "+1", Limit: Limit{N: 2, Interval: 500 * ms}, Max: 5}}
	acct := Limit{N: 100, Interval: 200 * ms}
	ctx := context.Background()
	// No fence: quiet for the longest span at hand (500 ms + 10 ms).
	f.at(0)
	r, err := f.l.Take(ctx, "acct", acct, w)
	if err != nil || r.Quiet != 510*ms || r.Granted() != 0 {
		t.Fatalf("first take: %+v, %v", r, err)
	}
	f.at(509 * ms)
	if r, err := f.l.Take(ctx, "acct", acct, w); err != nil || r.Quiet != ms {
		t.Fatalf("end of the quiet period: %+v, %v", r, err)
	}
	f.take(510*ms, acct, w, []time.Duration{2, 510 * ms}, 0)
	// A cut halves the number's rate: 1 segment in any 500 ms + 10 ms (the
	// burst shrinks with the rate), so at +1100 ms one goes, and the next
	// a window later.
	f.at(1100 * ms)
	if r, err := f.l.Throttled(ctx, "acct", "+1", w[0].Limit); err != nil || r != 2 {
		t.Fatalf("cut: %v, %v", r, err)
	}
	f.take(1100*ms, acct, w, []time.Duration{1, 510 * ms}, 0)
	// It recovers by 1/10 a second: at +1700 ms the fraction is 0.56, so
	// ⌊2·0.56⌋ = 1 segment in any 500 ms + 10 ms.
	f.take(1700*ms, acct, w, []time.Duration{1, 510 * ms}, 0)
	f.at(2100 * ms)
	if r, err := f.l.EffectiveRate(ctx, "acct", "+1", w[0].Limit); err != nil || r != 2.4 {
		t.Fatalf("rate after 1 s of recovery: %v, %v", r, err)
	}
}

// A sliding bucket's Spread lengthens its window beyond the interval and
// the margin, to the microsecond, for a number's bucket and the account's.
func TestScriptSlidingSpread(t *testing.T) {
	t.Parallel()
	f := newFakeRedis(t, Config{}) // margin 10 ms
	f.at(0)
	if _, err := f.l.AssumeIdle(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	big := Limit{N: 1000}
	w := []Want{{Number: "+1", Limit: Limit{N: 2, Spread: 30 * ms}, Max: 2}}
	f.take(0, big, w, []time.Duration{2, 0}, 0)
	// The grants of 0 count until +1040 ms: 1 s, the margin and the spread.
	f.take(1010*ms, big, w, []time.Duration{0, 30 * ms}, 0)
	f.take(1040*ms-time.Microsecond, big, w, []time.Duration{0, time.Microsecond}, 0)
	f.take(1040*ms, big, w, []time.Duration{2, 0}, 0)
	// The account: 2 per 100 ms with 20 ms of spread, counted until +130 ms.
	acct := Limit{N: 2, Interval: 100 * ms, Spread: 20 * ms}
	two := []Want{{Number: "+2", Limit: Limit{N: 5}, Max: 5}}
	f.take(5*time.Second, acct, two, []time.Duration{2, 0}, 130*ms)
	f.take(5*time.Second+110*ms, acct, two, []time.Duration{0, 0}, 20*ms)
	f.take(5*time.Second+130*ms, acct, two, []time.Duration{2, 0}, 130*ms)
	// A spread is for a sliding window only, and at most MaxMargin.
	for _, l := range []Limit{{N: 2, Mode: Bucket, Spread: ms}, {N: 2, Spread: -ms}, {N: 2, Spread: MaxMargin + ms}} {
		if _, err := f.l.Take(context.Background(), "acct", l, nil); err == nil {
			t.Errorf("limit %+v accepted", l)
		}
	}
}
