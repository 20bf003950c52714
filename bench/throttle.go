package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sms/switchboard/smscsim"
)

// ThrottleNumber is one number's result: the most segments the carrier
// accepted from it in any one-second window (the simulator's exact
// sliding-window maximum) against its class's limit, rate + burst.
type ThrottleNumber struct {
	Number       string  `json:"number"`
	Class        string  `json:"class"`
	Rate         float64 `json:"rate"`
	Burst        int     `json:"burst"`
	Limit        float64 `json:"limit"` // rate + burst: the most in any 1 s window
	Messages     int     `json:"messages"`
	Segments     int64   `json:"segments"`       // sent to the engine
	Accepted     int64   `json:"accepted"`       // segments the carrier accepted from it
	MaxPerSecond int64   `json:"max_per_second"` // exact, any [t, t+1s)
	MaxAt        float64 `json:"max_at_s"`
	// Utilisation is the rate it was sent at after its burst, over its
	// class's rate (%): (segments − burst) / (last − first accept) / rate.
	Utilisation float64 `json:"utilisation_pct"`
	Violation   bool    `json:"violation"`
}

// ThrottleResults are the throttle scenario's results.
type ThrottleResults struct {
	Numbers    []ThrottleNumber `json:"numbers"`
	Violations int              `json:"violations"`
	Processes  int              `json:"processes"`
	// Claimed is how many messages each process claimed (its
	// switchboard_dispatch_total{event="claimed"}), when it could be read.
	Claimed    []float64        `json:"claimed_per_process,omitempty"`
	HTTPErrors map[string]int64 `json:"http_errors"`
	Throttled  int64            `json:"carrier_throttled"`
}

// throttleSpec is one number of the throttle scenario: its class and how
// many messages it is sent.
type throttleSpec struct {
	class classDef
	msgs  int
}

// throttlePlan lays out the throttle scenario's numbers, class by class:
// each is sent its class's rate × duration + burst segments (in whole
// messages). tps is what they may send together, rate + burst each.
func throttlePlan(sc Scenario) (classes []classDef, numbers []string, specs []throttleSpec, tps float64) {
	p := sc.Throttle
	total := 0
	for _, c := range p.Classes {
		total += c.Numbers
	}
	all := ourNumbers(total, numberOffset(sc))
	for _, c := range p.Classes {
		cd := classDef{Name: c.Name, Rate: c.Rate, Burst: max(c.Burst, 1)}
		classes = append(classes, cd)
		segs := int(math.Ceil(c.Rate*p.Duration.Seconds())) + cd.Burst
		for i := 0; i < c.Numbers; i++ {
			numbers = append(numbers, all[len(numbers)])
			specs = append(specs, throttleSpec{class: cd, msgs: (segs + p.Segments - 1) / p.Segments})
		}
		tps += float64(c.Numbers) * (c.Rate + float64(cd.Burst))
	}
	return classes, numbers, specs, tps
}

func runThrottle(ctx context.Context, sc Scenario, rep *Report, prog *Progress) error {
	p := sc.Throttle
	classes, numbers, specs, tps := throttlePlan(sc)
	e, err := startEngine(ctx, sc, engineOptions{classes: classes, numbers: numbers, tps: 2 * tps, logSim: true}, prog)
	if err != nil {
		return err
	}
	defer e.close()
	rep.Against = e.against
	if e.sim == nil {
		return fmt.Errorf("throttle needs the simulator's report: give engine.sim_stats (--sim-stats)")
	}
	wc, err := setupWorkspace(ctx, e.api, "smppbench throttle", e.carrier, numbers, func(i int) string { return specs[i].class.Name })
	if err != nil {
		return fmt.Errorf("%w\n%s", err, e.logTail())
	}
	jobs := interleave(specs)
	var wantSegs int64
	for _, s := range specs {
		wantSegs += int64(s.msgs * p.Segments)
	}
	start := time.Now()
	errs := postThrottleJobs(ctx, sc, wc, numbers, jobs, prog)
	prog.Start("throttle: waiting for the carrier to accept every segment", wantSegs, "segments")
	got, err := waitAccepted(ctx, e, wantSegs, p.Timeout, prog)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	// Per-process share of the work, before they stop.
	res := ThrottleResults{Processes: len(e.bases), HTTPErrors: errs.snapshot()}
	for _, b := range e.bases {
		res.Claimed = append(res.Claimed, scrapeMetric(ctx, b, `switchboard_dispatch_total{event="claimed"}`))
	}
	report, err := e.sim.Report(ctx)
	if err != nil {
		return err
	}
	acc, err := readAcceptTimes(e, numbers, specs, start)
	if err != nil {
		return err
	}
	for _, a := range report.Accounts {
		res.Throttled += a.Throttled
	}
	minUtil := throttleNumbers(&res, report, numbers, specs, p.Segments, acc)
	throttleReport(sc, rep, &res, acc.perClass, wantSegs, got, elapsed, minUtil)
	return nil
}

// throttleJob is one message of the throttle scenario: number num's seq-th.
type throttleJob struct{ num, seq int }

// interleave orders the messages round by round, the numbers interleaved:
// every number's first message, then every second one, and so on.
func interleave(specs []throttleSpec) []throttleJob {
	var jobs []throttleJob
	for round := 0; ; round++ {
		added := false
		for i, s := range specs {
			if round < s.msgs {
				jobs = append(jobs, throttleJob{i, round})
				added = true
			}
		}
		if !added {
			return jobs
		}
	}
}

// postThrottleJobs posts the messages from 16 workers, each to a contact of
// its own (so no thread's order holds one back), and counts the HTTP
// errors.
func postThrottleJobs(ctx context.Context, sc Scenario, wc *APIClient, numbers []string, jobs []throttleJob, prog *Progress) *counts {
	p := sc.Throttle
	prog.Start(fmt.Sprintf("throttle: posting %d messages for %d numbers", len(jobs), len(numbers)), int64(len(jobs)), "msgs")
	var errs counts
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				text := benchText(fmt.Sprintf("thr %d", sc.Seed), i, false)
				if p.Segments > 1 {
					text = segmentsText(text, p.Segments)
				}
				body := map[string]any{"to": contact(i), "text": text, "from": numbers[j.num]}
				if err := wc.Do(ctx, "POST", "/v1/messages", body, nil); err != nil {
					errs.add(httpErrName(err))
					continue
				}
				prog.Add(1)
			}
		}()
	}
	wg.Wait()
	return &errs
}

// waitAccepted polls the simulator's report until the carrier has accepted
// want segments, timeout passes or ctx ends; it returns how many it had.
func waitAccepted(ctx context.Context, e *engineRun, want int64, timeout time.Duration, prog *Progress) (int64, error) {
	deadline := time.Now().Add(timeout)
	var got, shown int64
	for time.Now().Before(deadline) && ctx.Err() == nil {
		r, err := e.sim.Report(ctx)
		if err != nil {
			return got, err
		}
		got = 0
		for _, a := range r.Accounts {
			got += a.AcceptedSegments
		}
		prog.Add(got - shown)
		shown = got
		if got >= want {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	return got, nil
}

// acceptTimes are when the carrier accepted each number's first and last
// segment (by number without '+'), and the segments accepted over time per
// rate class.
type acceptTimes struct {
	first, last map[string]time.Time
	perClass    map[string]*Meter
}

// readAcceptTimes reads the accept time of every segment from the
// simulator's log, which it flushes when it closes (an in-process
// simulator only; otherwise the maps stay empty).
func readAcceptTimes(e *engineRun, numbers []string, specs []throttleSpec, start time.Time) (acceptTimes, error) {
	acc := acceptTimes{first: map[string]time.Time{}, last: map[string]time.Time{}, perClass: map[string]*Meter{}}
	if e.inproc == nil {
		return acc, nil
	}
	classOf := map[string]string{}
	for i, n := range numbers {
		classOf[strings.TrimPrefix(n, "+")] = specs[i].class.Name
	}
	e.inproc.Close()
	lines, err := readSimLog(e.simLog)
	if err != nil {
		return acc, err
	}
	for _, l := range lines {
		if f, ok := acc.first[l.Src]; !ok || l.T.Before(f) {
			acc.first[l.Src] = l.T
		}
		if l.T.After(acc.last[l.Src]) {
			acc.last[l.Src] = l.T
		}
		c := classOf[l.Src]
		if acc.perClass[c] == nil {
			acc.perClass[c] = &Meter{start: start, width: time.Second}
		}
		acc.perClass[c].AddAt(l.T, int64(max(l.Segments, 1)))
	}
	return acc, nil
}

// throttleNumbers fills res's per-number results from the simulator's
// report and the accept times, counts the violations and returns the
// lowest utilisation (+Inf when none could be measured).
func throttleNumbers(res *ThrottleResults, report smscsim.Report, numbers []string, specs []throttleSpec, segments int, acc acceptTimes) float64 {
	minUtil := math.Inf(1)
	for i, n := range numbers {
		s := specs[i]
		tn := ThrottleNumber{Number: n, Class: s.class.Name, Rate: s.class.Rate, Burst: s.class.Burst,
			Limit: s.class.Rate + float64(s.class.Burst), Messages: s.msgs, Segments: int64(s.msgs * segments)}
		src := strings.TrimPrefix(n, "+")
		for _, a := range report.Accounts {
			if sr, ok := a.Source(src); ok {
				tn.Accepted += sr.AcceptedSegments
				tn.MaxPerSecond = max(tn.MaxPerSecond, sr.MaxPerSecond)
				tn.MaxAt = sr.MaxPerSecondAt
			}
		}
		tn.Violation = float64(tn.MaxPerSecond) > tn.Limit
		if f, l := acc.first[src], acc.last[src]; !f.IsZero() && l.After(f) && tn.Accepted > int64(tn.Burst) {
			tn.Utilisation = round3(100 * float64(tn.Accepted-int64(tn.Burst)) / l.Sub(f).Seconds() / tn.Rate)
			minUtil = math.Min(minUtil, tn.Utilisation)
		}
		if tn.Violation {
			res.Violations++
		}
		res.Numbers = append(res.Numbers, tn)
	}
	return minUtil
}

// segmentsText makes a GSM text that needs n segments (153 characters
// each with a UDH).
func segmentsText(tag string, n int) string {
	t := tag
	for len(t) < 153*(n-1)+40 {
		t += filler
	}
	return t[:153*(n-1)+40]
}

func throttleReport(sc Scenario, rep *Report, res *ThrottleResults, perClass map[string]*Meter, want, got int64, elapsed time.Duration, minUtil float64) {
	table := Table{Title: "Per number: most segments in any 1-second window against rate + burst", Columns: []string{
		"number", "class", "rate/s", "burst", "limit (1 s)", "max in 1 s", "at s", "peak/limit", "segments", "carrier accepted", "utilisation", "violation"}}
	var maxes, limits [][2]float64
	var utils []float64
	for i, n := range res.Numbers {
		v := "no"
		if n.Violation {
			v = "YES"
		}
		util := "-"
		if n.Utilisation > 0 {
			util = formatNum(n.Utilisation) + "%"
			utils = append(utils, n.Utilisation)
		}
		table.Rows = append(table.Rows, []string{n.Number, n.Class, formatNum(n.Rate), strconv.Itoa(n.Burst), formatNum(n.Limit),
			strconv.FormatInt(n.MaxPerSecond, 10), formatNum(n.MaxAt), formatNum(100*float64(n.MaxPerSecond)/n.Limit) + "%",
			strconv.FormatInt(n.Segments, 10), strconv.FormatInt(n.Accepted, 10), util, v})
		maxes = append(maxes, [2]float64{float64(i + 1), float64(n.MaxPerSecond)})
		limits = append(limits, [2]float64{float64(i + 1), n.Limit})
	}
	rep.Tables = append(rep.Tables, table)
	if len(res.Claimed) > 0 {
		t := Table{Title: "Work per engine process", Columns: []string{"process", "messages claimed"}}
		for i, c := range res.Claimed {
			cl := "?"
			if c >= 0 {
				cl = formatNum(c)
			}
			t.Rows = append(t.Rows, []string{fmt.Sprintf("switchboard-%d", i+1), cl})
		}
		rep.Tables = append(rep.Tables, t)
	}
	rep.metric("numbers", float64(len(res.Numbers)), "")
	rep.metric("engine processes", float64(res.Processes), "")
	rep.metric("violations", float64(res.Violations), "")
	if len(utils) > 0 {
		rep.metric("median utilisation", median(utils), "%")
		rep.metric("lowest utilisation", minUtil, "%")
	}
	rep.metric("segments accepted by the carrier", float64(got), "")
	rep.metric("carrier throttled (0x58)", float64(res.Throttled), "")
	tput := Chart{ID: "throughput", Title: "Segments accepted by the carrier over time, per rate class", Kind: "line",
		XLabel: "seconds since start", YLabel: "segments/s"}
	names := make([]string, 0, len(perClass))
	for c := range perClass {
		names = append(names, c)
	}
	sort.Strings(names)
	for i, c := range names {
		tput.Series = append(tput.Series, Series{Name: c, Points: perClass[c].Series(200), Group: i})
	}
	rep.Charts = append(rep.Charts,
		Chart{ID: "max-per-second", Title: "Most segments in any 1-second window, per number, against its limit", Kind: "line",
			XLabel: "number (table order)", YLabel: "segments in 1 s", Series: []Series{
				{Name: "measured maximum (simulator, exact)", Points: maxes},
				{Name: "limit: rate + burst", Points: limits, Dashed: true, Group: 1},
			}},
		tput)
	rep.check("no number over its limit", res.Violations == 0, "%d of %d numbers had more than rate + burst segments in some 1-second window", res.Violations, len(res.Numbers))
	rep.check("every segment reached the carrier", got >= want, "%d of %d in %s", got, want, elapsed.Round(time.Millisecond))
	rep.check("no HTTP errors", len(res.HTTPErrors) == 0, "%s", formatCounts(res.HTTPErrors))
	rep.Notes = append(rep.Notes,
		"Each number got rate × duration + burst segments at once; the engine spreads them at its class's rate. The simulator records every segment's accept time and computes the most in any sliding window [t, t+1s) exactly.",
		"Utilisation is the rate after the initial burst, (segments − burst) / (last − first accept), over the class's rate.")
	rep.Results = res
}

// scrapeMetric reads one sample of a process's /metrics; -1 when absent.
func scrapeMetric(ctx context.Context, base, name string) float64 {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return -1
}
