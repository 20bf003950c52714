package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smscsim"
)

// The most segments in any window [t, t+1s), against a brute force that
// tries every start, arrivals and the instants just after them included.
func TestMaxInWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int, segs int) arrival {
		return arrival{t: t0.Add(time.Duration(ms) * time.Millisecond), segs: segs}
	}

	// A window is half-open: an arrival exactly 1 s later is in the next.
	arr := []arrival{at(0, 1), at(500, 1), at(999, 1), at(1000, 2), at(1500, 1), at(2600, 1)}
	got, start := maxInWindow(arr, time.Second)
	if got != 4 || !start.Equal(t0.Add(500*time.Millisecond)) {
		t.Errorf("got %d from %v, want 4 from +500ms", got, start.Sub(t0))
	}
	if got, _ := maxInWindow(nil, time.Second); got != 0 {
		t.Errorf("no arrivals: %d", got)
	}
	if got, _ := maxInWindow([]arrival{at(0, 3), at(0, 2)}, time.Second); got != 5 {
		t.Errorf("two at one instant: %d", got)
	}

	brute := func(arr []arrival, w time.Duration) int64 {
		var best int64
		for _, a := range arr {
			for _, s := range []time.Time{a.t, a.t.Add(time.Nanosecond), a.t.Add(-w + time.Nanosecond)} {
				var n int64
				for _, b := range arr {
					if !b.t.Before(s) && b.t.Before(s.Add(w)) {
						n += int64(b.segs)
					}
				}
				best = max(best, n)
			}
		}
		return best
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := rng.IntN(60)
		arr := make([]arrival, n)
		for i := range arr {
			// Millisecond steps so that gaps of exactly 1 s happen.
			arr[i] = at(rng.IntN(4000), 1+rng.IntN(3))
		}
		sorted := slices.Clone(arr)
		slices.SortStableFunc(sorted, func(a, b arrival) int { return a.t.Compare(b.t) })
		got, _ := maxInWindow(sorted, time.Second)
		if want := brute(arr, time.Second); got != want {
			t.Fatalf("%v: got %d, want %d", arr, got, want)
		}
	}
}

func TestJain(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
		ok   bool
	}{
		{[]float64{1, 1, 1}, 1, true},
		{[]float64{0.5, 0.5}, 1, true},
		{[]float64{1, 0, 0, 0}, 0.25, true},
		{[]float64{1, 2}, 0.9, true}, // 9 / (2 × 5)
		{[]float64{2, 1, 1, 0}, 16.0 / 24, true},
		{nil, 0, false},
		{[]float64{0, 0}, 0, false},
	} {
		got, ok := jain(c.xs)
		if ok != c.ok || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("jain(%v) = %v, %v; want %v, %v", c.xs, got, ok, c.want, c.ok)
		}
	}
}

func TestFairShares(t *testing.T) {
	for _, c := range []struct {
		name     string
		capacity float64
		demands  []float64
		want     []float64
	}{
		{"no account limit", 0, []float64{10, 12, 3}, []float64{10, 12, 3}},
		{"account above the sum", 100, []float64{10, 10, 10}, []float64{10, 10, 10}},
		{"account below the sum: equal shares", 30, []float64{10, 10, 10, 10}, []float64{7.5, 7.5, 7.5, 7.5}},
		{"a capped number leaves the rest to the others", 30, []float64{10, 2, 10, 10}, []float64{28.0 / 3, 2, 28.0 / 3, 28.0 / 3}},
		{"two capped", 40, []float64{1, 30, 4, 30}, []float64{1, 17.5, 4, 17.5}},
		{"no backlog gets nothing", 10, []float64{0, 10, 10}, []float64{0, 5, 5}},
		{"exactly the sum", 20, []float64{5, 15}, []float64{5, 15}},
	} {
		got := fairShares(c.capacity, c.demands)
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-9 {
				t.Errorf("%s: fairShares(%v, %v) = %v, want %v", c.name, c.capacity, c.demands, got, c.want)
				break
			}
		}
		var sum, dsum float64
		for i := range got {
			sum += got[i]
			dsum += c.demands[i]
			if got[i] > c.demands[i]+1e-9 {
				t.Errorf("%s: share %v above demand %v", c.name, got[i], c.demands[i])
			}
		}
		if c.capacity > 0 && math.Abs(sum-math.Min(c.capacity, dsum)) > 1e-9 {
			t.Errorf("%s: shares add up to %v, want min(capacity, Σ demands) = %v", c.name, sum, math.Min(c.capacity, dsum))
		}
	}
}

func TestTightest(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int, segs int) arrival {
		return arrival{t: t0.Add(time.Duration(ms) * time.Millisecond), segs: segs}
	}
	// 2 per second: segments at 0, 0, 1005, 1010 (two in one arrival), 2000.
	arr := []arrival{at(0, 2), at(1005, 1), at(1010, 1), at(2000, 1)}
	if got, ok := tightest(arr, 2); !ok || got != 995*time.Millisecond {
		t.Errorf("tightest 3 segments: %v %v, want 995ms (0→1005, 0→1010, 1005→2000)", got, ok)
	}
	if _, ok := tightest(arr[:1], 2); ok {
		t.Error("two segments have no 3 to span")
	}
}

// A number's busy time is whole windows from its queueing: what a strict
// carrier lets through from then to its last arrival, however they were
// spaced.
func TestBusyUntil(t *testing.T) {
	for _, c := range []struct{ from, last, rate, want float64 }{
		{0, 0.9, 10, 1},      // 10 evenly, from 0 to 0.9: one window
		{0, 1, 10, 2},        // 10 at 0 and 10 at 1 (the window is half-open): two
		{0.5, 1.49, 10, 1.5}, // one window from the queueing
		{0.5, 1.5, 10, 2.5},
		{2, 59.9, 1, 60}, // at 1/s from 2 s to 59.9 s: 58 windows
		{0, 3, 0.5, 4},   // one segment per 2 s: 0 and 3 are in windows 0 and 1
		{1, 0.99, 3, 2},  // an arrival before the 202 (the bench sees it late)
	} {
		if got := busyUntil(c.from, c.last, c.rate); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("busyUntil(%v, %v, %v) = %v, want %v", c.from, c.last, c.rate, got, c.want)
		}
	}
}

func TestCapacityWhileBusy(t *testing.T) {
	spans := []busySpan{{from: 0, to: 2, rate: 10}, {from: 1, to: 3, rate: 10}}
	if got := capacityWhileBusy(spans, 15); math.Abs(got-35) > 1e-9 {
		t.Errorf("under an account of 15/s: %v segments, want 10 + 15 + 10", got)
	}
	if got := capacityWhileBusy(spans, 0); math.Abs(got-40) > 1e-9 {
		t.Errorf("without an account limit: %v segments, want 10 + 20 + 10", got)
	}
	if got := capacityWhileBusy(nil, 15); got != 0 {
		t.Errorf("nobody busy: %v", got)
	}
}

// Every figure of the report from synthetic arrival times: an account of
// 15/s over three numbers of 10/s (one of them configured 20% over what
// the carrier allows), one of which never gets a segment out.
func TestMeasureFairness(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := func(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }
	even := func(fromMS, n, everyMS int) []arrival {
		var a []arrival
		for i := range n {
			a = append(a, arrival{t: t0.Add(time.Duration(fromMS+i*everyMS) * time.Millisecond), segs: 1})
		}
		return a
	}
	// Number 1: 20 segments from 0.1 s every 0.1 s (last at 2.0 s).
	// Number 2: queued at 0.5 s, 10 segments every 0.2 s from 1.0 s,
	// out of order in the log (last at 2.8 s).
	n2 := even(1000, 10, 200)
	n2[0], n2[9] = n2[9], n2[0]
	in := fairIn{Start: t0, AccountTPS: 15, Numbers: []fairNumberIn{
		{Number: "+1", ConfiguredRate: 12, CarrierLimit: 10, Over: true, QueuedAt: s(0.05), Messages: 20, QueuedSegments: 20, Refusals: 3, Arrivals: even(100, 20, 100)},
		{Number: "+2", ConfiguredRate: 10, CarrierLimit: 10, QueuedAt: s(0.5), Messages: 10, QueuedSegments: 10, Arrivals: n2},
		{Number: "+3", ConfiguredRate: 10, CarrierLimit: 10, QueuedAt: s(0.9), Messages: 10, QueuedSegments: 10, Refusals: 1},
	}}
	res := measureFairness(in)
	approx := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || math.Abs(*got-want) > math.Max(0.0015, 0.0005*math.Abs(want)) { // figures are rounded (round3)
			t.Errorf("%s: got %v, want %.4f", name, deref(got), want)
		}
	}
	if res.Capacity != 15 {
		t.Errorf("capacity %v, want min(15, 30)", res.Capacity)
	}
	a, b, c := res.Numbers[0], res.Numbers[1], res.Numbers[2]
	for _, n := range res.Numbers {
		if n.EntitledRate != 5 {
			t.Errorf("%s: entitled %v, want 15/3", n.Number, n.EntitledRate)
		}
	}
	approx("1 queued→first", a.WaitFirst, 0.05)
	approx("1 queued→last", a.Drain, 1.95)
	approx("1 rate", a.Rate, 20/1.9)
	approx("1 % of entitled", a.Entitled, 100*20/1.9/5)
	if a.MaxPerSecond != 10 || *a.MaxAt != 0.1 {
		t.Errorf("1: most in 1 s %d at %v, want 10 at 0.1", a.MaxPerSecond, deref(a.MaxAt))
	}
	approx("2 first", b.FirstAt, 1.0)
	approx("2 last", b.LastAt, 2.8)
	approx("2 queued→first", b.WaitFirst, 0.5)
	approx("2 rate", b.Rate, 10/1.8)
	if b.MaxPerSecond != 5 {
		t.Errorf("2: most in 1 s %d, want 5", b.MaxPerSecond)
	}
	if c.FirstAt != nil || c.WaitFirst != nil || c.Rate != nil || c.Entitled != nil || c.AcceptedSegments != 0 {
		t.Errorf("3 never started, yet %+v", c)
	}
	if !reflect.DeepEqual(a.PerSecond, []int64{9, 10, 1}) || !reflect.DeepEqual(b.PerSecond, []int64{0, 5, 5}) || !reflect.DeepEqual(c.PerSecond, []int64{0, 0, 0}) {
		t.Errorf("per second: %v %v %v", a.PerSecond, b.PerSecond, c.PerSecond)
	}
	if res.QueuedSegments != 40 || res.AcceptedSegments != 30 || res.Missing != 10 || res.Extra != 0 || res.Refusals != 4 || res.NeverStarted != 1 {
		t.Errorf("totals %+v", res)
	}
	// Someone never started: there is no worst wait.
	if res.WorstWait != nil {
		t.Errorf("worst wait %v with a number that never started", *res.WorstWait)
	}
	approx("median wait", res.MedianWait, 0.275)
	approx("queueing", res.Queueing, 0.85)
	approx("drain", res.Drain, 2.75)
	// Busy, in whole seconds from each campaign's queueing: 1 over
	// [0.05, 2.05] (last at 2.0), 2 over [0.5, 3.5] (last at 2.8), 3
	// (never sent: busy until the last arrival of all, 2.8) over
	// [0.9, 2.9], each at 10/s, under the account's 15/s.
	approx("utilisation", res.Utilisation, 100*30/(10*0.45+15*0.4+15*1.15+15*0.85+10*0.6))
	r1, r2 := 20/1.9/5, 10/1.8/5
	approx("Jain", res.Jain, (r1+r2)*(r1+r2)/(3*(r1*r1+r2*r2))) // the third counts 0
	approx("lowest % of entitled", res.LowestEntitled, 100*r2)

	// Without the third: the worst wait is the second's; without an
	// account limit each is entitled to min(rate, carrier limit).
	in.Numbers, in.AccountTPS = in.Numbers[:2], 0
	res = measureFairness(in)
	approx("worst wait", res.WorstWait, 0.5)
	if res.WorstNumber != "+2" || res.Capacity != 20 || res.Numbers[0].EntitledRate != 10 || res.Numbers[1].EntitledRate != 10 {
		t.Errorf("worst %s, capacity %v, entitled %v %v", res.WorstNumber, res.Capacity, res.Numbers[0].EntitledRate, res.Numbers[1].EntitledRate)
	}
	approx("Jain", res.Jain, func() float64 { x, y := 20/1.9/10, 10/1.8/10; return (x + y) * (x + y) / (2 * (x*x + y*y)) }())
	// The figures survive JSON (no NaN, no infinity).
	if _, err := json.Marshal(res); err != nil {
		t.Fatal(err)
	}
	// A lone arrival has no rate, and nothing at all no figures.
	res = measureFairness(fairIn{Start: t0, Numbers: []fairNumberIn{
		{Number: "+1", ConfiguredRate: 1, CarrierLimit: 1, QueuedAt: s(0), QueuedSegments: 1, Arrivals: even(500, 1, 0)},
		{Number: "+2", ConfiguredRate: 1, CarrierLimit: 1},
	}})
	if res.Numbers[0].Rate != nil || res.Numbers[0].MaxPerSecond != 1 || res.Jain != nil || res.Numbers[1].EntitledRate != 0 || res.Capacity != 1 {
		t.Errorf("%+v", res)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatal(err)
	}
}

// syntheticFairness is a run of the scenario's numbers as a fair engine
// would make it: campaigns queued 0.3 s apart, each number at its share
// of the account (its own rate without one), evenly spaced from 20 ms
// after its campaign was queued.
func syntheticFairness(sc Scenario) fairIn {
	p := sc.Fairness
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	demands := make([]float64, p.Numbers)
	for i := range demands {
		demands[i] = p.RateOf(i)
	}
	shares := fairShares(p.AccountTPS, demands)
	in := fairIn{Start: t0, AccountTPS: p.AccountTPS}
	for i, n := range ourNumbers(p.Numbers, 0) {
		q := t0.Add(time.Duration(i) * 300 * time.Millisecond)
		segs := p.SegmentsOf(i)
		fn := fairNumberIn{Number: n, ConfiguredRate: p.RateOf(i), CarrierLimit: p.RateOf(i), QueuedAt: q, Messages: segs, QueuedSegments: int64(segs)}
		if i == 0 && p.Over > 0 {
			fn.ConfiguredRate, fn.Over = p.OverRate(), true
		}
		for k := range segs {
			fn.Arrivals = append(fn.Arrivals, arrival{t: q.Add(20*time.Millisecond + time.Duration(math.Round(float64(k)/shares[i]*float64(time.Second)))), segs: 1})
		}
		in.Numbers = append(in.Numbers, fn)
	}
	return in
}

// Numbers at rates of their own (10 configured 20% over, 3, 1, 10: the
// list wraps), each sent evenly at its rate, or at its max-min fair share
// of an account of 8/s: every figure is the number's own.
func TestMeasureFairnessMixedRates(t *testing.T) {
	sc := Defaults(ScenarioFairness, false)
	sc.Fairness.Rates, sc.Fairness.Numbers, sc.Fairness.BacklogSeconds, sc.Fairness.Over = []float64{10, 3, 1}, 4, 60, 20
	if err := sc.Check(); err != nil {
		t.Fatal(err)
	}
	res := measureFairness(syntheticFairness(sc))
	rates := []float64{10, 3, 1, 10}
	if res.Capacity != 24 {
		t.Errorf("capacity %v, want 10 + 3 + 1 + 10", res.Capacity)
	}
	for i, n := range res.Numbers {
		r := rates[i]
		segs := int64(r * 60)
		if n.CarrierLimit != r || n.EntitledRate != r || n.QueuedSegments != segs || n.AcceptedSegments != segs || n.Over != (i == 0) {
			t.Errorf("%s: limit %v, entitled %v, %d of %d segments, over %v; want %v and %d", n.Number, n.CarrierLimit, n.EntitledRate, n.AcceptedSegments, n.QueuedSegments, n.Over, r, segs)
		}
		if want := map[bool]float64{true: 12, false: r}[i == 0]; n.ConfiguredRate != want {
			t.Errorf("%s: configured %v, want %v", n.Number, n.ConfiguredRate, want)
		}
		// segs arrivals 1/r apart: rate segs / ((segs − 1)/r), exactly
		// the 1/(n−1) above the rate the report warns of.
		hi := 100 * float64(segs) / float64(segs-1)
		if n.Entitled == nil || math.Abs(*n.Entitled-hi) > 0.1 {
			t.Errorf("%s: %v%% of entitled, want %.3f", n.Number, deref(n.Entitled), hi)
		}
		if float64(n.MaxPerSecond) != r {
			t.Errorf("%s: %d in 1 s, want %v", n.Number, n.MaxPerSecond, r)
		}
		var binned int64
		for _, v := range n.PerSecond[:60] {
			binned += v
		}
		if binned < segs-int64(r) || n.PerSecond[30] != int64(r) {
			t.Errorf("%s: %d segments in the first 60 s, %d in second 30", n.Number, binned, n.PerSecond[30])
		}
	}
	// Every number at its rate from its campaign on: all of what they
	// could send (60 windows of its rate each, counted from its campaign).
	if res.Utilisation == nil || *res.Utilisation < 99.9 || *res.Utilisation > 100.001 {
		t.Errorf("utilisation %v, want 100", deref(res.Utilisation))
	}
	if res.Jain == nil || *res.Jain < 0.9999 {
		t.Errorf("Jain's index %v with every number at its rate", deref(res.Jain))
	}

	// An account of 11/s: water filling gives 1 and 3 their rates, and
	// the two numbers of 10/s 3.5 each.
	sc.Fairness.AccountTPS = 11
	res = measureFairness(syntheticFairness(sc))
	for i, want := range []float64{3.5, 3, 1, 3.5} {
		n := res.Numbers[i]
		if n.EntitledRate != want {
			t.Errorf("%s: entitled %v, want %v", n.Number, n.EntitledRate, want)
		}
		if n.Entitled == nil || *n.Entitled < 100 || *n.Entitled > 102 {
			t.Errorf("%s: %v%% of entitled", n.Number, deref(n.Entitled))
		}
	}
	if res.Capacity != 11 || res.Jain == nil || *res.Jain < 0.999 {
		t.Errorf("capacity %v, Jain %v", res.Capacity, deref(res.Jain))
	}

	// The report: the carrier's limit and the fair shares drawn per
	// number, the table titled with every limit.
	rep := &Report{}
	fairnessReport(sc, rep, res, time.Minute)
	var dashed []string
	for _, s := range rep.Charts[0].Series {
		if s.Dashed {
			dashed = append(dashed, fmt.Sprintf("%s=%v@%d", s.Name, s.Points[0][1], s.Group))
		}
	}
	ours := ourNumbers(4, 0)
	want := []string{"carrier limit 10/s (2 numbers)=10@4", "carrier limit of " + ours[1] + "=3@1", "carrier limit of " + ours[2] + "=1@2",
		"fair share of the account 3.50/s (2 numbers)=3.5@5"}
	if !reflect.DeepEqual(dashed, want) {
		t.Errorf("limit lines %q, want %q", dashed, want)
	}
	if title := rep.Tables[0].Title; !strings.Contains(title, "each number's rate (10, 3, 1)") || !strings.Contains(title, "11 for the account") {
		t.Errorf("table title %q", title)
	}
	if row := rep.Tables[0].Rows[0]; row[1] != "12 (+20%)" || row[2] != "3.50" {
		t.Errorf("the first row %q", row)
	}
	var notes strings.Builder
	for _, n := range rep.Notes {
		notes.WriteString(n + "\n")
	}
	for _, w := range []string{"600 at 10/s, 180 at 3/s, 60 at 1/s", "(12/s configured, 10/s allowed)"} {
		if !strings.Contains(notes.String(), w) {
			t.Errorf("the notes lack %q:\n%s", w, notes.String())
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// The simulator's limits: its sliding-window mode when it has one, else
// token buckets of burst 1; one limit for all sources, or each number's
// own.
func TestStrictCarrier(t *testing.T) {
	rc, mode, err := strictCarrier([]sourceLimit{{Numbers: []string{"+1", "+2"}, Rate: 10}}, 25)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Source != 10 || rc.Account != 25 || len(rc.Sources) != 0 {
		t.Errorf("%+v", rc)
	}
	if mode == simLimitBucket && (rc.SourceBurst != 1 || rc.AccountBurst != 1) {
		t.Errorf("buckets without burst 1: %+v", rc)
	}
	t.Logf("the simulator's limits: %s", mode)
	if rc, _, _ := strictCarrier([]sourceLimit{{Numbers: []string{"+1"}, Rate: 3}}, 0); rc.Account != 0 || rc.Source != 3 {
		t.Errorf("no account limit: %+v", rc)
	}
	// Each number its own limit: the simulator's per-source limits, the
	// numbers as written (a leading + is the simulator's to drop).
	ours := ourNumbers(4, 0)
	rc, mode, err = strictCarrier([]sourceLimit{{Numbers: []string{ours[0], ours[3]}, Rate: 1}, {Numbers: []string{ours[1]}, Rate: 3}, {Numbers: []string{ours[2]}, Rate: 10}}, 12)
	if err != nil {
		t.Fatal(err)
	}
	want := []smscsim.SourceRate{{Numbers: []string{ours[0], ours[3]}, Rate: 1}, {Numbers: []string{ours[1]}, Rate: 3}, {Numbers: []string{ours[2]}, Rate: 10}}
	if mode == simLimitBucket {
		for i := range want {
			want[i].Burst = 1
		}
	}
	if rc.Source != 0 || rc.Account != 12 || !reflect.DeepEqual(rc.Sources, want) {
		t.Errorf("per source: %+v", rc)
	}
	// The simulator takes it, and limits each number to its own rate.
	cfg := smscsim.Config{Listeners: []smscsim.ListenerConfig{{Addr: "127.0.0.1:0"}},
		Accounts: []smscsim.AccountConfig{{SystemID: "a", Password: "b", Rate: rc}}}
	if err := cfg.Check(); err != nil {
		t.Errorf("the simulator refuses the limits: %v", err)
	}
	if _, _, err := strictCarrier(nil, 0); err == nil {
		t.Error("no numbers: no error")
	}
}

// The scenario in its short mode against real engine processes: the
// report is complete and adds up. Fairness goals are not checked here
// (today's engine does not meet them); the integrator checks them.
func TestFairnessShort(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Scenario)
	}{
		{"sequential", nil},
		// Interleaved, numbers at rates of their own (10, 3, 1, 10), an
		// account limit below their sum, one number over, two segments a
		// message, two processes.
		{"interleaved-rates-account-over", func(sc *Scenario) {
			sc.Fairness.Order, sc.Fairness.AccountTPS, sc.Fairness.Over, sc.Fairness.Segments = OrderInterleaved, 12, 20, 2
			sc.Fairness.Rates = []float64{10, 3, 1}
			sc.Engine.Processes = 2
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := runEngineScenario(t, ScenarioFairness, c.edit)
			res := rep.Results.(*FairnessResults)
			sc := Defaults(ScenarioFairness, true)
			if c.edit != nil {
				c.edit(&sc)
			}
			checkFairness(t, sc, res)
			// report.json holds the same results, and every figure a
			// number that drained must have is there.
			var back struct {
				Results FairnessResults `json:"results"`
			}
			out, _ := rep.Parameters["out"].(string)
			b, err := os.ReadFile(filepath.Join(out, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Results, *res) {
				t.Errorf("report.json's results differ from the run's")
			}
			var raw struct {
				Results struct {
					Numbers []map[string]any `json:"numbers"`
				} `json:"results"`
			}
			json.Unmarshal(b, &raw)
			for _, n := range raw.Results.Numbers {
				for _, k := range []string{"queued_at_s", "first_at_s", "last_at_s", "queued_to_first_s", "queued_to_last_s", "rate", "pct_of_entitled", "max_per_second_at_s"} {
					if v, ok := n[k]; !ok || v == nil {
						t.Errorf("%v: %s is %v", n["number"], k, v)
					}
				}
			}
			var txt strings.Builder
			rep.WriteText(&txt)
			for _, want := range []string{"Jain's fairness index", "utilisation", "worst queued → first submit", "refusals (0x58)", "% of entitled"} {
				if !strings.Contains(txt.String(), want) {
					t.Errorf("the summary lacks %q", want)
				}
			}
		})
	}
}

// checkFairness checks that a run's results are complete and consistent.
func checkFairness(t *testing.T, sc Scenario, res *FairnessResults) {
	t.Helper()
	p := sc.Fairness
	if len(res.Numbers) != p.Numbers {
		t.Fatalf("%d numbers, want %d", len(res.Numbers), p.Numbers)
	}
	demands := make([]float64, p.Numbers)
	var wantCap float64
	for i := range demands {
		demands[i] = p.RateOf(i)
		wantCap += demands[i]
	}
	if p.AccountTPS > 0 {
		wantCap = math.Min(wantCap, p.AccountTPS)
	}
	shares := fairShares(p.AccountTPS, demands)
	var queued, accepted, refusals int64
	var worst float64
	for i, n := range res.Numbers {
		msgs := (int64(p.SegmentsOf(i)) + int64(p.Segments) - 1) / int64(p.Segments)
		if n.Messages != int(msgs) || n.QueuedSegments != msgs*int64(p.Segments) {
			t.Errorf("%s: %d messages, %d segments queued; want %d and %d", n.Number, n.Messages, n.QueuedSegments, msgs, msgs*int64(p.Segments))
		}
		// Every queued segment accounted for, once.
		if n.AcceptedSegments != n.QueuedSegments {
			t.Errorf("%s: %d of %d segments at the carrier", n.Number, n.AcceptedSegments, n.QueuedSegments)
		}
		var binned int64
		for _, v := range n.PerSecond {
			binned += v
		}
		if binned != n.AcceptedSegments || len(n.PerSecond) != len(res.Numbers[0].PerSecond) {
			t.Errorf("%s: %d segments in %d per-second bins, want %d", n.Number, binned, len(n.PerSecond), n.AcceptedSegments)
		}
		if n.QueuedAt == nil || n.FirstAt == nil || n.LastAt == nil || n.WaitFirst == nil || n.Drain == nil || n.Rate == nil || n.Entitled == nil || n.MaxAt == nil {
			t.Errorf("%s: a figure is missing: %+v", n.Number, n)
			continue
		}
		const eps = 0.0025 // the figures are rounded to 1 ms
		if math.Abs(*n.FirstAt-*n.QueuedAt-*n.WaitFirst) > eps || math.Abs(*n.LastAt-*n.QueuedAt-*n.Drain) > eps || *n.LastAt < *n.FirstAt {
			t.Errorf("%s: queued %v, first %v, last %v, wait %v, drain %v", n.Number, *n.QueuedAt, *n.FirstAt, *n.LastAt, *n.WaitFirst, *n.Drain)
		}
		if want := float64(n.AcceptedSegments) / (*n.LastAt - *n.FirstAt); math.Abs(*n.Rate-want)/want > 0.01 {
			t.Errorf("%s: rate %v, want about %v", n.Number, *n.Rate, want)
		}
		if math.Abs(*n.Entitled-100**n.Rate/n.EntitledRate) > 0.5 {
			t.Errorf("%s: %v%% of entitled, rate %v, entitled %v", n.Number, *n.Entitled, *n.Rate, n.EntitledRate)
		}
		if math.Abs(n.EntitledRate-shares[i]) > 0.001 || n.CarrierLimit != p.RateOf(i) {
			t.Errorf("%s: entitled %v, carrier limit %v; want %v and %v", n.Number, n.EntitledRate, n.CarrierLimit, shares[i], p.RateOf(i))
		}
		if (i == 0 && p.Over > 0) != n.Over || (n.Over && n.ConfiguredRate <= n.CarrierLimit) {
			t.Errorf("%s: over %v, configured %v", n.Number, n.Over, n.ConfiguredRate)
		}
		if n.MaxPerSecond < 1 || n.MaxPerSecond > n.AcceptedSegments || *n.MaxAt < *n.FirstAt || *n.MaxAt > *n.LastAt {
			t.Errorf("%s: most in 1 s %d at %v", n.Number, n.MaxPerSecond, *n.MaxAt)
		}
		queued += n.QueuedSegments
		accepted += n.AcceptedSegments
		refusals += n.Refusals
		worst = math.Max(worst, *n.WaitFirst)
	}
	if res.QueuedSegments != queued || res.AcceptedSegments != accepted || res.Refusals != refusals || res.Missing != 0 || res.Extra != 0 || res.TimedOut {
		t.Errorf("totals: %+v", res)
	}
	if res.WorstWait == nil || *res.WorstWait != worst || res.MedianWait == nil || *res.MedianWait > worst || res.NeverStarted != 0 {
		t.Errorf("worst wait %v, median %v, want worst %v", deref(res.WorstWait), deref(res.MedianWait), worst)
	}
	if res.Jain == nil || *res.Jain <= 0 || *res.Jain > 1.0005 {
		t.Errorf("Jain's index %v", deref(res.Jain))
	}
	if math.Abs(res.Capacity-wantCap) > 1e-9 || res.Drain == nil || res.Utilisation == nil ||
		*res.Utilisation <= 0 || *res.Utilisation > 110 {
		t.Errorf("capacity %v, drain %v, utilisation %v", res.Capacity, deref(res.Drain), deref(res.Utilisation))
	}
	if len(p.Rates) > 0 && (!reflect.DeepEqual(res.Rates, p.Rates) || res.NumberRate != 0) || len(p.Rates) == 0 && (res.Rates != nil || res.NumberRate != p.NumberRate) {
		t.Errorf("rates %v, number rate %v", res.Rates, res.NumberRate)
	}
	if res.Order != p.Order || res.SimLimit == "" || res.Queueing == nil {
		t.Errorf("order %q, sim limit %q, queueing %v", res.Order, res.SimLimit, deref(res.Queueing))
	}
}
