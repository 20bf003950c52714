package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-sms/switchboard/smscsim"
)

// The fairness scenario asks what a tenant sees: each sender number should
// go out at the rate its carrier allows (no faster: the carrier answers
// 0x58; no slower: the SMS is late), and no number should wait behind
// another number's backlog. K numbers each get a campaign of R × S
// segments (R its rate: one for all, or each its own with
// fairness.rates), queued one campaign after another (or round robin),
// against a carrier that allows each source at most its R segments in any
// sliding second (and the account at most its TPS). Every figure comes
// from the simulator: its message log (each accepted submit_sm with its
// arrival time) and its report (0x58 answers per source); from the
// bench's side only when the API answered 202.

// Fairness classes of the started engine.
const (
	fairClass     = "dedicated"      // the numbers' rate class
	fairOverClass = "dedicated_over" // the first number's with --over
)

// FairnessNumber is one number's result. Times are seconds since the run
// started posting; figures that do not exist (a number none of whose
// segments arrived, a rate over a single instant) are null.
type FairnessNumber struct {
	Number string `json:"number"`
	// ConfiguredRate is its rate class in the engine; CarrierLimit what the
	// simulator allows it in any sliding second; Over marks the number
	// configured above its carrier limit (--over).
	ConfiguredRate float64 `json:"configured_rate"`
	CarrierLimit   float64 `json:"carrier_limit"`
	Over           bool    `json:"over,omitempty"`
	// EntitledRate is what it should get while it has a backlog:
	// min(configured rate, carrier limit), or less, its max-min fair share
	// of the account's TPS among the numbers with a backlog.
	EntitledRate     float64 `json:"entitled_rate"`
	Messages         int     `json:"messages"`
	QueuedSegments   int64   `json:"queued_segments"`   // the API's segments of its accepted messages
	AcceptedSegments int64   `json:"accepted_segments"` // in the simulator's log
	// QueuedAt is when the API answered 202 to the first of its messages:
	// when its campaign was queued.
	QueuedAt  *float64 `json:"queued_at_s"`
	FirstAt   *float64 `json:"first_at_s"` // its first segment at the carrier
	LastAt    *float64 `json:"last_at_s"`  // its last
	WaitFirst *float64 `json:"queued_to_first_s"`
	Drain     *float64 `json:"queued_to_last_s"` // time to drain its backlog
	// Rate is segments / (last − first arrival), segments/s; Entitled it
	// as a percentage of EntitledRate.
	Rate     *float64 `json:"rate"`
	Entitled *float64 `json:"pct_of_entitled"`
	// MaxPerSecond is the most of its segments in any window [t, t+1s),
	// exact, from the arrival times; MaxAt that window's start.
	MaxPerSecond int64    `json:"max_per_second"`
	MaxAt        *float64 `json:"max_per_second_at_s"`
	// Tightest is the shortest time between a segment and the one its
	// carrier limit N places after it (N+1 segments), in ms: above 1000 the
	// number never had N+1 in any second; the excess is the margin that
	// was left (nil with N segments or fewer).
	Tightest *float64 `json:"tightest_ms"`
	// CarrierMax is the simulator's own count of the same (its clock,
	// read at admission rather than at logging).
	CarrierMax int64 `json:"carrier_max_per_second"`
	Refusals   int64 `json:"refusals"` // submit_sm answered 0x58 (throttled)
	// PerSecond is its segments at the carrier in each second since the
	// start (the chart's data).
	PerSecond []int64 `json:"segments_per_second"`
}

// FairnessResults are the fairness scenario's results.
type FairnessResults struct {
	Order string `json:"order"`
	// NumberRate is every number's rate, or Rates the list number i's
	// rate was taken from (i mod its length), with fairness.rates.
	NumberRate float64   `json:"number_rate,omitempty"`
	Rates      []float64 `json:"rates,omitempty"`
	AccountTPS float64   `json:"account_tps"` // 0: none
	// Capacity is min(account TPS, Σ of the numbers' min(rate, carrier
	// limit)): the most the run can carry.
	Capacity float64 `json:"capacity"`
	// SimLimit is how the simulator enforced its limits.
	SimLimit string           `json:"sim_limit"`
	Numbers  []FairnessNumber `json:"numbers"`

	QueuedSegments   int64 `json:"queued_segments"`
	AcceptedSegments int64 `json:"accepted_segments"`
	// Missing are queued segments the carrier did not get (by number);
	// Extra segments it got beyond those queued (sent twice).
	Missing int64 `json:"missing_segments"`
	Extra   int64 `json:"extra_segments"`
	// Queueing is from the first campaign queued to the last.
	Queueing *float64 `json:"queueing_s"`
	// Drain is from the first campaign queued to the last segment at the
	// carrier; Utilisation the accepted segments over what the numbers
	// could have sent while they had work (capacityWhileBusy, %).
	Drain       *float64 `json:"drain_s"`
	Utilisation *float64 `json:"utilisation_pct"`
	// Jain is Jain's fairness index (Σx)²/(n·Σx²) over the numbers'
	// rate/entitled ratios (a number with nothing at the carrier counts 0).
	Jain *float64 `json:"jain_index"`
	// Refusals are submit_sm answered 0x58, all numbers.
	Refusals int64 `json:"refusals"`
	// WorstWait is the longest queued → first segment, and WorstNumber
	// whose; NeverStarted counts numbers none of whose segments arrived.
	WorstWait    *float64 `json:"worst_queued_to_first_s"`
	WorstNumber  string   `json:"worst_number,omitempty"`
	MedianWait   *float64 `json:"median_queued_to_first_s"`
	NeverStarted int      `json:"never_started"`
	// LowestEntitled is the lowest pct_of_entitled of any number;
	// Tightest the lowest tightest_ms.
	LowestEntitled *float64         `json:"lowest_pct_of_entitled"`
	Tightest       *float64         `json:"tightest_ms"`
	HTTPErrors     map[string]int64 `json:"http_errors"`
	TimedOut       bool             `json:"timed_out"`
}

func runFairness(ctx context.Context, sc Scenario, rep *Report, prog *Progress) error {
	p := sc.Fairness
	numbers := ourNumbers(p.Numbers, 0)
	// Each number's rate (what the simulator allows it), its rate class
	// in the engine, its work in segments and messages.
	rates := make([]float64, len(numbers))
	configuredRates := make([]float64, len(numbers))
	classNames := make([]string, len(numbers))
	perNumber := make([]int, len(numbers))
	msgs := make([]int, len(numbers))
	var classes []classDef
	var limits []sourceLimit
	var configured float64
	for i, n := range numbers {
		rates[i], configuredRates[i], classNames[i] = p.RateOf(i), p.RateOf(i), fairClassName(p, p.RateOf(i))
		if i == 0 && p.Over > 0 {
			configuredRates[i], classNames[i] = p.OverRate(), fairOverClass
		}
		if !slices.ContainsFunc(classes, func(c classDef) bool { return c.Name == classNames[i] }) {
			classes = append(classes, classDef{Name: classNames[i], Rate: configuredRates[i], RateOnly: true})
		}
		if k := slices.IndexFunc(limits, func(l sourceLimit) bool { return l.Rate == rates[i] }); k >= 0 {
			limits[k].Numbers = append(limits[k].Numbers, n)
		} else {
			limits = append(limits, sourceLimit{Numbers: []string{n}, Rate: rates[i]})
		}
		configured += configuredRates[i]
		perNumber[i] = p.SegmentsOf(i)
		msgs[i] = max(1, (perNumber[i]+p.Segments-1)/p.Segments)
	}
	classOf := func(i int) string { return classNames[i] }
	simRate, simMode, err := strictCarrier(limits, p.AccountTPS)
	if err != nil {
		return err
	}
	e, err := startEngine(ctx, sc, engineOptions{classes: classes, numbers: numbers, tps: 2 * configured,
		accountTPS: p.AccountTPS, logSim: true, simRate: &simRate}, prog)
	if err != nil {
		return err
	}
	defer e.close()
	rep.Against = e.against
	if e.inproc == nil {
		return fmt.Errorf("fairness needs the simulator it starts (its message log)")
	}
	wc, err := setupWorkspace(ctx, e.api, "smppbench fairness", e.carrier, numbers, classOf)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, e.logTail())
	}

	// The campaigns, each message to a contact of its own.
	type job struct{ num int }
	var jobs []job
	if p.Order == OrderInterleaved {
		// Round robin among the numbers with messages left.
		for k := range slices.Max(msgs) {
			for n := range numbers {
				if k < msgs[n] {
					jobs = append(jobs, job{n})
				}
			}
		}
	} else {
		for n := range numbers {
			for range msgs[n] {
				jobs = append(jobs, job{n})
			}
		}
	}
	type posted struct {
		at   time.Time // 202 answered
		segs int
		ok   bool
	}
	done := make([]posted, len(jobs))
	campaigns := fmt.Sprintf("%d messages", msgs[0])
	if slices.Min(msgs) != slices.Max(msgs) {
		campaigns = fmt.Sprintf("%d to %d messages", slices.Min(msgs), slices.Max(msgs))
	}
	prog.Start(fmt.Sprintf("fairness: queuing %d campaigns of %s (%s)", len(numbers), campaigns, p.Order), int64(len(jobs)), "msgs")
	var errs counts
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				text := benchText(fmt.Sprintf("fair %d", sc.Seed), i, false)
				if p.Segments > 1 {
					text = segmentsText(text, p.Segments)
				}
				var resp sendJSON
				body := map[string]any{"to": contact(i), "text": text, "from": numbers[jobs[i].num]}
				if err := wc.Do(ctx, "POST", "/v1/messages", body, &resp); err != nil {
					if ctx.Err() == nil {
						errs.add(httpErrName(err))
					}
					continue
				}
				done[i] = posted{at: time.Now(), segs: max(resp.Segments, 1), ok: true}
				prog.Add(1)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}

	in := fairIn{Start: start, AccountTPS: p.AccountTPS, Numbers: make([]fairNumberIn, len(numbers))}
	for i, n := range numbers {
		in.Numbers[i] = fairNumberIn{Number: n, ConfiguredRate: configuredRates[i], CarrierLimit: rates[i],
			Over: classOf(i) == fairOverClass}
	}
	var want int64
	for i, d := range done {
		if !d.ok {
			continue
		}
		fn := &in.Numbers[jobs[i].num]
		fn.Messages++
		fn.QueuedSegments += int64(d.segs)
		if fn.QueuedAt.IsZero() || d.at.Before(fn.QueuedAt) {
			fn.QueuedAt = d.at
		}
		want += int64(d.segs)
	}

	// Until the carrier has every segment (or the timeout).
	timeout := p.Timeout
	if timeout == 0 {
		var serial float64 // the campaigns one after another, each at its rate
		for i := range numbers {
			r := rates[i]
			if p.AccountTPS > 0 {
				r = math.Min(r, p.AccountTPS)
			}
			serial += float64(perNumber[i]) / r
		}
		timeout = time.Minute + time.Duration(1.5*serial*float64(time.Second))
	}
	prog.Start("fairness: waiting for the carrier to accept every segment", want, "segments")
	deadline := time.Now().Add(timeout)
	var got, shown int64
	for {
		r, err := e.sim.Report(ctx)
		if err != nil {
			return err
		}
		got = 0
		for _, a := range r.Accounts {
			got += a.AcceptedSegments
		}
		prog.Add(got - shown)
		shown = got
		if got >= want || ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	timedOut := got < want

	// The carrier's word: its final report and its message log (flushed
	// when it closes).
	e.inproc.Close()
	final := e.inproc.Report()
	lines, err := readSimLog(e.simLog)
	if err != nil {
		return err
	}
	idx := map[string]int{}
	for i, n := range numbers {
		idx[strings.TrimPrefix(n, "+")] = i
	}
	var stray int64
	for _, l := range lines {
		i, ok := idx[strings.TrimPrefix(l.Src, "+")]
		if !ok {
			stray += int64(max(l.Segments, 1))
			continue
		}
		in.Numbers[i].Arrivals = append(in.Numbers[i].Arrivals, arrival{t: l.T, segs: max(l.Segments, 1)})
	}
	for _, a := range final.Accounts {
		for i, n := range numbers {
			if s, ok := a.Source(strings.TrimPrefix(n, "+")); ok {
				in.Numbers[i].Refusals += s.Throttled
				in.Numbers[i].CarrierMax = max(in.Numbers[i].CarrierMax, s.MaxPerSecond)
			}
		}
	}
	res := measureFairness(in)
	res.Order, res.SimLimit, res.HTTPErrors, res.TimedOut = p.Order, simMode, errs.snapshot(), timedOut
	if len(p.Rates) > 0 {
		res.Rates = p.Rates
	} else {
		res.NumberRate = p.NumberRate
	}
	res.Extra += stray
	fairnessReport(sc, rep, res, timeout)
	return nil
}

// sourceLimit is what the simulator allows some of our numbers: at most
// Rate segments each in any sliding second.
type sourceLimit struct {
	Numbers []string
	Rate    float64
}

// fairClassName is the engine's rate class of the numbers at rate: the
// one class "dedicated" without fairness.rates, else one per rate.
func fairClassName(p FairnessParams, rate float64) string {
	if len(p.Rates) == 0 {
		return fairClass
	}
	return fairClass + "_" + strings.ReplaceAll(strconv.FormatFloat(rate, 'g', -1, 64), ".", "_")
}

// strictCarrier returns the simulator's limits for the fairness run: at
// most a limit's rate of segments from each of its numbers, and account
// from the whole account (0: none), in any sliding second; and how they
// are enforced. One limit for every number is written as smscsim's
// source limit, several as its per-source limits (sources). It writes
// them as smscsim's YAML, and first with its sliding-window mode (mode:
// sliding, interval: 1s). A simulator without that mode refuses those
// fields; the limits are then token buckets of burst 1, which never let
// more than the rate through in any sliding second either, but are
// stricter than a window: two segments closer than 1/rate are refused.
func strictCarrier(limits []sourceLimit, account float64) (smscsim.RateConfig, string, error) {
	if len(limits) == 0 {
		return smscsim.RateConfig{}, "", fmt.Errorf("the simulator's rate limits: no numbers")
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	var sources, buckets string
	if len(limits) == 1 {
		sources = "source: " + num(limits[0].Rate)
		buckets = sources + ", source_burst: 1"
	} else {
		var s, b []string
		for _, l := range limits {
			quoted := make([]string, len(l.Numbers))
			for i, n := range l.Numbers {
				quoted[i] = strconv.Quote(n)
			}
			entry := "{numbers: [" + strings.Join(quoted, ", ") + "], rate: " + num(l.Rate)
			s = append(s, entry+"}")
			b = append(b, entry+", burst: 1}")
		}
		sources = "sources: [" + strings.Join(s, ", ") + "]"
		buckets = "sources: [" + strings.Join(b, ", ") + "]"
	}
	sliding := "{mode: sliding, interval: 1s, " + sources
	bucket := "{" + buckets
	if account > 0 {
		sliding += ", account: " + num(account)
		bucket += ", account: " + num(account) + ", account_burst: 1"
	}
	if rc, err := decodeRate(sliding + "}"); err == nil {
		return rc, simLimitSliding, nil
	}
	rc, err := decodeRate(bucket + "}")
	if err != nil {
		return rc, "", fmt.Errorf("the simulator's rate limits: %w", err)
	}
	return rc, simLimitBucket, nil
}

// How the simulator enforced its limits, as the report says it.
const (
	simLimitSliding = "sliding 1 s window"
	simLimitBucket  = "token bucket of burst 1 (this smscsim has no sliding windows: stricter than a 1 s window)"
)

// decodeRate reads smscsim's rate section, refusing unknown fields.
func decodeRate(y string) (smscsim.RateConfig, error) {
	var rc smscsim.RateConfig
	dec := yaml.NewDecoder(bytes.NewReader([]byte(y)))
	dec.KnownFields(true)
	err := dec.Decode(&rc)
	return rc, err
}

// The measurements, from arrival times alone (unit-tested on synthetic
// ones).

// arrival is one submit_sm the carrier accepted: when, how many segments.
type arrival struct {
	t    time.Time
	segs int
}

type fairNumberIn struct {
	Number                       string
	ConfiguredRate, CarrierLimit float64
	Over                         bool
	QueuedAt                     time.Time // the first 202; zero: nothing queued
	Messages                     int
	QueuedSegments               int64
	Refusals                     int64
	CarrierMax                   int64
	Arrivals                     []arrival
}

type fairIn struct {
	Start      time.Time // the times' origin
	AccountTPS float64   // 0: none
	Numbers    []fairNumberIn
}

// measureFairness computes every figure of the report.
func measureFairness(in fairIn) FairnessResults {
	res := FairnessResults{AccountTPS: in.AccountTPS}
	since := func(t time.Time) *float64 { return fnum(t.Sub(in.Start).Seconds()) }
	// Entitlements: each number's demand is its rate, capped by what the
	// carrier allows it; numbers with a backlog share the account max-min
	// fairly.
	demands := make([]float64, len(in.Numbers))
	for i, n := range in.Numbers {
		if n.QueuedSegments > 0 {
			demands[i] = math.Min(n.ConfiguredRate, n.CarrierLimit)
		}
		res.Capacity += demands[i]
	}
	if in.AccountTPS > 0 {
		res.Capacity = math.Min(res.Capacity, in.AccountTPS)
	}
	shares := fairShares(in.AccountTPS, demands)
	var firstQueued, lastQueued, lastArrival time.Time
	var ratios, waits []float64
	end := 0 // seconds of per-second bins
	for _, n := range in.Numbers {
		for _, a := range n.Arrivals {
			end = max(end, int(a.t.Sub(in.Start)/time.Second)+1)
		}
	}
	for i, n := range in.Numbers {
		fn := FairnessNumber{Number: n.Number, ConfiguredRate: n.ConfiguredRate, CarrierLimit: n.CarrierLimit, Over: n.Over,
			EntitledRate: round3(shares[i]), Messages: n.Messages, QueuedSegments: n.QueuedSegments,
			Refusals: n.Refusals, CarrierMax: n.CarrierMax, PerSecond: make([]int64, end)}
		arr := slices.Clone(n.Arrivals)
		sort.SliceStable(arr, func(a, b int) bool { return arr[a].t.Before(arr[b].t) })
		for _, a := range arr {
			fn.AcceptedSegments += int64(a.segs)
			fn.PerSecond[max(0, int(a.t.Sub(in.Start)/time.Second))] += int64(a.segs)
		}
		if !n.QueuedAt.IsZero() {
			fn.QueuedAt = since(n.QueuedAt)
			if firstQueued.IsZero() || n.QueuedAt.Before(firstQueued) {
				firstQueued = n.QueuedAt
			}
			if n.QueuedAt.After(lastQueued) {
				lastQueued = n.QueuedAt
			}
		}
		if len(arr) > 0 {
			first, last := arr[0].t, arr[len(arr)-1].t
			fn.FirstAt, fn.LastAt = since(first), since(last)
			if last.After(lastArrival) {
				lastArrival = last
			}
			if !n.QueuedAt.IsZero() {
				fn.WaitFirst = fnum(first.Sub(n.QueuedAt).Seconds())
				fn.Drain = fnum(last.Sub(n.QueuedAt).Seconds())
				waits = append(waits, *fn.WaitFirst)
				if res.WorstWait == nil || *fn.WaitFirst > *res.WorstWait {
					res.WorstWait, res.WorstNumber = fn.WaitFirst, n.Number
				}
			}
			if span := last.Sub(first).Seconds(); span > 0 {
				rate := float64(fn.AcceptedSegments) / span
				fn.Rate = fnum(rate)
				if shares[i] > 0 {
					fn.Entitled = fnum(100 * rate / shares[i])
					ratios = append(ratios, rate/shares[i])
				}
			}
			var at time.Time
			fn.MaxPerSecond, at = maxInWindow(arr, time.Second)
			fn.MaxAt = since(at)
			if tight, ok := tightest(arr, int(n.CarrierLimit)); ok {
				fn.Tightest = fnum(tight.Seconds() * 1000)
				if res.Tightest == nil || *fn.Tightest < *res.Tightest {
					res.Tightest = fn.Tightest
				}
			}
		} else if n.QueuedSegments > 0 {
			res.NeverStarted++
			ratios = append(ratios, 0) // a backlog and nothing sent
		}
		if fn.Entitled != nil && (res.LowestEntitled == nil || *fn.Entitled < *res.LowestEntitled) {
			res.LowestEntitled = fn.Entitled
		}
		res.QueuedSegments += fn.QueuedSegments
		res.AcceptedSegments += fn.AcceptedSegments
		res.Missing += max(0, fn.QueuedSegments-fn.AcceptedSegments)
		res.Extra += max(0, fn.AcceptedSegments-fn.QueuedSegments)
		res.Refusals += fn.Refusals
		res.Numbers = append(res.Numbers, fn)
	}
	if res.NeverStarted > 0 {
		res.WorstWait, res.WorstNumber = nil, "" // someone waits still: no worst figure
	}
	if len(waits) > 0 {
		res.MedianWait = fnum(median(waits))
	}
	if !firstQueued.IsZero() {
		res.Queueing = fnum(lastQueued.Sub(firstQueued).Seconds())
	}
	if !firstQueued.IsZero() && lastArrival.After(firstQueued) {
		d := lastArrival.Sub(firstQueued).Seconds()
		res.Drain = fnum(d)
		var busy []busySpan
		for i, n := range in.Numbers {
			if demands[i] <= 0 || n.QueuedAt.IsZero() {
				continue
			}
			// A number that never sent had work until the run's end.
			last := lastArrival
			if len(n.Arrivals) > 0 {
				last = n.Arrivals[0].t
				for _, a := range n.Arrivals {
					if a.t.After(last) {
						last = a.t
					}
				}
			}
			from := n.QueuedAt.Sub(in.Start).Seconds()
			busy = append(busy, busySpan{from: from, to: busyUntil(from, last.Sub(in.Start).Seconds(), demands[i]), rate: demands[i]})
		}
		if c := capacityWhileBusy(busy, in.AccountTPS); c > 0 {
			res.Utilisation = fnum(100 * float64(res.AcceptedSegments) / c)
		}
	}
	if j, ok := jain(ratios); ok {
		res.Jain = fnum(j)
	}
	return res
}

// fnum is a rounded figure that exists (not NaN, not infinite).
func fnum(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	r := round3(v)
	return &r
}

// maxInWindow returns the most segments in any window [t, t+w) of sorted
// arrivals, exactly, and the start of the first such window. The best
// window can always start at an arrival, so only those are tried.
func maxInWindow(arr []arrival, w time.Duration) (int64, time.Time) {
	var best, sum int64
	var at time.Time
	j := 0
	for i := range arr {
		end := arr[i].t.Add(w)
		for j < len(arr) && arr[j].t.Before(end) {
			sum += int64(arr[j].segs)
			j++
		}
		if sum > best {
			best, at = sum, arr[i].t
		}
		sum -= int64(arr[i].segs)
	}
	return best, at
}

// tightest returns the shortest time spanned by n+1 consecutive segments
// of sorted arrivals; ok is false with n segments or fewer (or n < 1).
func tightest(arr []arrival, n int) (time.Duration, bool) {
	var ts []time.Time
	for _, a := range arr {
		for range a.segs {
			ts = append(ts, a.t)
		}
	}
	if n < 1 || len(ts) <= n {
		return 0, false
	}
	best := ts[n].Sub(ts[0])
	for i := 1; i+n < len(ts); i++ {
		best = min(best, ts[i+n].Sub(ts[i]))
	}
	return best, true
}

// jain returns Jain's fairness index (Σx)² / (n·Σx²) of xs: 1 when all
// are equal, 1/n when one has everything. ok is false without values or
// when all are 0.
func jain(xs []float64) (float64, bool) {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if len(xs) == 0 || sq == 0 {
		return 0, false
	}
	return sum * sum / (float64(len(xs)) * sq), true
}

// fairShares divides capacity max-min fairly among demands (water
// filling): a demand below an equal share gets what it asks, and what it
// leaves is shared among the others in the same way. capacity 0 means no
// limit: each gets its demand. A demand of 0 (no backlog) gets 0.
func fairShares(capacity float64, demands []float64) []float64 {
	out := make([]float64, len(demands))
	if capacity <= 0 {
		copy(out, demands)
		return out
	}
	order := make([]int, 0, len(demands))
	for i, d := range demands {
		if d > 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return demands[order[a]] < demands[order[b]] })
	left := capacity
	for k, i := range order {
		share := left / float64(len(order)-k)
		out[i] = math.Min(demands[i], share)
		left -= out[i]
	}
	return out
}

// busySpan is the time a number had work: from its campaign's queueing
// to the end of the window its last segment arrived in (busyUntil), and
// its rate (its demand).
type busySpan struct{ from, to, rate float64 }

// busyUntil is when a number queued at from whose last segment arrived at
// last stopped having work, in whole windows from its queueing: a window
// is 1 s (1/rate for a rate below 1, one segment per window), and a strict
// carrier lets at most rate × window segments through in each window
// [from + k·window, from + (k+1)·window). That is the most it could have
// sent from its queueing to its last arrival, however its sender spaced
// them: evenly (R segments from from, last at from + 1 − 1/R: one window)
// or all at once in each window (the sliding window allows R at once:
// 2R segments at from and from + 1 s: two windows, where the last arrival
// plus one interval, from + 1.1 s at 10/s, would count 11 segments of
// capacity and utilisation would read 182 %).
func busyUntil(from, last, rate float64) float64 {
	w := math.Max(1, 1/rate)
	return from + w*(math.Floor(math.Max(0, last-from)/w)+1)
}

// capacityWhileBusy is how many segments the numbers could have sent while
// they had work: the integral over time of min(account, Σ rates of the
// numbers busy then) (account 0: no account limit). A sender that sends
// every number at its rate from the moment it is queued uses exactly this:
// utilisation = accepted segments / capacityWhileBusy, whatever the order
// campaigns were queued in and however long queueing them took.
func capacityWhileBusy(spans []busySpan, account float64) float64 {
	type edge struct{ t, d float64 }
	var edges []edge
	for _, s := range spans {
		edges = append(edges, edge{s.from, s.rate}, edge{s.to, -s.rate})
	}
	sort.Slice(edges, func(i, j int) bool { return edges[i].t < edges[j].t })
	var total, sum, prev float64
	for i, e := range edges {
		if i > 0 {
			c := sum
			if account > 0 {
				c = math.Min(c, account)
			}
			total += c * (e.t - prev)
		}
		sum += e.d
		prev = e.t
	}
	return total
}

func fairnessReport(sc Scenario, rep *Report, res FairnessResults, timeout time.Duration) {
	p := sc.Fairness
	opt := func(v *float64, suffix string) string {
		if v == nil {
			return "-"
		}
		return formatNum(*v) + suffix
	}
	// The carrier limits, each with its numbers, in order of first use.
	type limitLine struct {
		rate    float64
		numbers []int
	}
	var limits, shares []limitLine
	add := func(ls []limitLine, rate float64, i int) []limitLine {
		if k := slices.IndexFunc(ls, func(l limitLine) bool { return l.rate == rate }); k >= 0 {
			ls[k].numbers = append(ls[k].numbers, i)
			return ls
		}
		return append(ls, limitLine{rate: rate, numbers: []int{i}})
	}
	for i, n := range res.Numbers {
		limits = add(limits, n.CarrierLimit, i)
		// A fair share of the account below what the number may send.
		if p.AccountTPS > 0 && n.EntitledRate > 0 && n.EntitledRate < math.Min(n.ConfiguredRate, n.CarrierLimit) {
			shares = add(shares, n.EntitledRate, i)
		}
	}
	var limit string
	if len(limits) == 1 {
		limit = fmt.Sprintf("at most %s segments per source", formatNum(limits[0].rate))
	} else {
		var each []string
		for _, l := range limits {
			each = append(each, formatNum(l.rate))
		}
		limit = fmt.Sprintf("at most each number's rate (%s) of its segments", strings.Join(each, ", "))
	}
	if p.AccountTPS > 0 {
		limit += fmt.Sprintf(" and %s for the account", formatNum(p.AccountTPS))
	}
	t := Table{Title: fmt.Sprintf("Per number (%s order; carrier: %s in any sliding second, as a %s)", p.Order, limit, res.SimLimit),
		Columns: []string{"number", "rate/s", "entitled/s", "queued at s", "first at s", "queued→first s", "queued→last s",
			"segments", "at carrier", "rate achieved/s", "% of entitled", "max in 1 s", "0x58"}}
	rateSeries := make([]Series, 0, len(res.Numbers)+1)
	var queuedPts, firstPts, lastPts [][2]float64
	for i, n := range res.Numbers {
		rate := formatNum(n.ConfiguredRate)
		if n.Over {
			rate += fmt.Sprintf(" (+%s%%)", formatNum(p.Over))
		}
		t.Rows = append(t.Rows, []string{n.Number, rate, formatNum(n.EntitledRate), opt(n.QueuedAt, ""), opt(n.FirstAt, ""),
			opt(n.WaitFirst, ""), opt(n.Drain, ""), strconv.FormatInt(n.QueuedSegments, 10), strconv.FormatInt(n.AcceptedSegments, 10),
			opt(n.Rate, ""), opt(n.Entitled, "%"), strconv.FormatInt(n.MaxPerSecond, 10), strconv.FormatInt(n.Refusals, 10)})
		pts := make([][2]float64, len(n.PerSecond))
		for s, v := range n.PerSecond {
			pts[s] = [2]float64{float64(s), float64(v)}
		}
		rateSeries = append(rateSeries, Series{Name: n.Number, Points: pts, Group: i})
		x := float64(i + 1)
		if n.QueuedAt != nil {
			queuedPts = append(queuedPts, [2]float64{x, *n.QueuedAt})
		}
		if n.FirstAt != nil {
			firstPts = append(firstPts, [2]float64{x, *n.FirstAt})
			lastPts = append(lastPts, [2]float64{x, *n.LastAt})
		}
	}
	rep.Tables = append(rep.Tables, t)
	if len(res.Numbers) > 0 && len(res.Numbers[0].PerSecond) > 0 {
		// A dashed line per carrier limit and per fair share: in its
		// number's colour when it is one number's, else in a colour of
		// its own.
		end := float64(len(res.Numbers[0].PerSecond) - 1)
		group := len(res.Numbers)
		lines := func(ls []limitLine, name string) {
			for _, l := range ls {
				s := Series{Name: name, Dashed: true, Points: [][2]float64{{0, l.rate}, {end, l.rate}}}
				switch {
				case len(ls) == 1 && len(l.numbers) == len(res.Numbers) && len(res.Numbers) > 1:
					s.Name += " per number" // every number's, as without rates
					s.Group, group = group, group+1
				case len(l.numbers) == 1:
					s.Name += " of " + res.Numbers[l.numbers[0]].Number
					s.Group = l.numbers[0]
				default:
					s.Name += fmt.Sprintf(" %s/s (%d numbers)", formatNum(l.rate), len(l.numbers))
					s.Group, group = group, group+1
				}
				rateSeries = append(rateSeries, s)
			}
		}
		lines(limits, "carrier limit")
		lines(shares, "fair share of the account")
	}

	metricOpt := func(name string, v *float64, unit string) {
		if v != nil {
			rep.metric(name, *v, unit)
		}
	}
	rep.metric("numbers", float64(len(res.Numbers)), "")
	rep.metric("segments queued", float64(res.QueuedSegments), "")
	rep.metric("segments at the carrier", float64(res.AcceptedSegments), "")
	rep.metric("capacity min(account, Σ rates)", res.Capacity, "seg/s")
	metricOpt("drain time", res.Drain, "s")
	metricOpt("utilisation", res.Utilisation, "%")
	metricOpt("Jain's fairness index", res.Jain, "")
	metricOpt("lowest % of entitled", res.LowestEntitled, "%")
	metricOpt("closest N+1 segments of a number", res.Tightest, "ms")
	metricOpt("worst queued → first submit", res.WorstWait, "s")
	metricOpt("median queued → first submit", res.MedianWait, "s")
	if res.NeverStarted > 0 {
		rep.metric("numbers that never started", float64(res.NeverStarted), "")
	}
	rep.metric("refusals (0x58)", float64(res.Refusals), "")
	metricOpt("campaigns queued over", res.Queueing, "s")

	rep.Charts = append(rep.Charts,
		Chart{ID: "rate-per-number", Title: "Each number's segments at the carrier per second (1 s bins)", Kind: "line",
			XLabel: "seconds since the first campaign was posted", YLabel: "segments/s", Series: rateSeries},
		Chart{ID: "campaign-times", Title: "Per number: campaign queued, first and last segment at the carrier", Kind: "line",
			XLabel: "number (queue order)", YLabel: "seconds since start", Series: []Series{
				{Name: "queued (202 for its first message)", Points: queuedPts, Group: 0},
				{Name: "first segment at the carrier", Points: firstPts, Group: 1},
				{Name: "last segment at the carrier", Points: lastPts, Group: 2},
			}})
	rep.check("every queued segment reached the carrier", res.Missing == 0 && !res.TimedOut,
		"%d of %d (%d missing) within %s", res.AcceptedSegments-res.Extra, res.QueuedSegments, res.Missing, timeout)
	rep.check("no segment sent twice", res.Extra == 0, "%d segments beyond those queued", res.Extra)
	rep.check("no HTTP errors", len(res.HTTPErrors) == 0, "%s", formatCounts(res.HTTPErrors))
	var work []string
	for _, l := range limits {
		k := l.numbers[0]
		work = append(work, fmt.Sprintf("%d at %s/s", p.SegmentsOf(k), formatNum(l.rate)))
	}
	rep.Notes = append(rep.Notes,
		fmt.Sprintf("Each of %d numbers got a campaign of its rate × %s s of segments (%s), each message to its own contact, queued %s; the carrier simulator allows %s in any sliding second (%s).",
			len(res.Numbers), formatNum(p.BacklogSeconds), strings.Join(work, ", "), map[string]string{
				OrderSequential: "one campaign after another", OrderInterleaved: "round robin"}[p.Order], limit, res.SimLimit),
		"Every figure comes from the simulator: its message log (each accepted submit_sm's arrival time) and its report (0x58 per source); only the 202 times are the bench's. Times are seconds since the first POST.",
		"Entitled rate: min(the number's rate class, what the carrier allows it), or its max-min fair share of the account's TPS among the numbers with a backlog. Rate achieved: segments / (last − first arrival), which reads about 1/(n−1) high for n arrivals.",
		"Utilisation: segments / what the numbers could have sent while they had work (∫ min(account TPS, Σ rates of the numbers queued and not yet drained) dt; a number is busy from its campaign's 202 to the end of the window its last segment arrived in, counting whole 1 s windows from that 202, in each of which a strict carrier lets at most its rate through): 100 % is every number at its rate from the moment it is queued, whatever the order and however it spaces its segments within a second. Jain's index is over rate achieved / entitled (1: all equal).",
		"No fairness goal is a check here: the checks are that the run is complete (every queued segment at the carrier once, no HTTP error).")
	if p.Over > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("The first number's rate class is %s%% above what the carrier allows it (%s/s configured, %s/s allowed); its entitlement is what the carrier allows.",
			formatNum(p.Over), formatNum(p.OverRate()), formatNum(p.RateOf(0))))
	}
	rep.Results = &res
}
