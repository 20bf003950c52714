package bench

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// AdviseResults are what advise measured and recommends.
type AdviseResults struct {
	Probe     string           `json:"probe"` // submit or enquire_link
	Sent      int64            `json:"sent"`
	Answered  int64            `json:"answered"` // ESME_ROK
	Errors    map[string]int64 `json:"errors"`
	Seconds   float64          `json:"seconds"`
	ProbeRate float64          `json:"probe_rate"` // achieved probes/s
	RTT       Summary          `json:"rtt"`
	// Unbound says the session unbound cleanly (unbind_resp received).
	Unbound   bool   `json:"unbound_cleanly"`
	UnbindErr string `json:"unbind_error,omitempty"`

	// The recommendation for TPS.
	TPS         float64 `json:"tps"`
	TotalWindow int     `json:"total_window"` // ⌈TPS × mean RTT × headroom⌉
	Binds       int     `json:"binds"`
	Window      int     `json:"window"` // per bind
	// Expected is binds × window / mean RTT: what the recommendation
	// carries at most (the carrier's TPS limit aside).
	Expected float64 `json:"expected_msgs_per_s"`
	// WindowP95 is the window per bind if every response took the p95 time.
	WindowP95 int               `json:"window_p95"`
	Capped    bool              `json:"capped"` // the 3 × TPS cap or max_binds × max_window bit
	Table     []AdviceForTarget `json:"by_tps"`
}

// AdviceForTarget is the recommendation for one TPS.
type AdviceForTarget struct {
	TPS      float64 `json:"tps"`
	Binds    int     `json:"binds"`
	Window   int     `json:"window"`
	Expected float64 `json:"expected_msgs_per_s"`
}

func runAdvise(ctx context.Context, sc Scenario, rep *Report, prog *Progress) error {
	p := sc.Advise
	var l *link
	if sc.Target.Addr != "" {
		l = targetLink(sc.Target)
		rep.Against = "SMSC " + sc.Target.Addr
	} else {
		var err error
		l, err = startSimLink(sc.Seed, smscsim.AccountConfig{Latency: p.SimLatency})
		if err != nil {
			return err
		}
		defer l.close()
		rep.Against = "smscsim (in-process) with response times " + p.SimLatency
	}
	dest := p.Dest
	if dest == "" {
		dest = simDest // only against the simulator: Check requires dest with a target
	}
	ss, err := l.bind(ctx, 1, p.ProbeWindow, 30*time.Second)
	if err != nil {
		return err
	}
	s := ss[0]
	prog.Start(fmt.Sprintf("advise: %d %s probes at %s/s", p.Count, p.Probe, formatNum(p.Rate)), int64(p.Count), "probes")

	rtt := NewLatency()
	meter := NewMeter(250 * time.Millisecond)
	var (
		sent, ok atomic.Int64
		errs     counts
		wg       sync.WaitGroup
		mu       sync.Mutex
		scatter  [][2]float64
	)
	start := time.Now()
	record := func(at time.Time, d time.Duration, err error) {
		if err != nil {
			errs.add(errName(err))
		} else {
			ok.Add(1)
			rtt.Record(d)
			mu.Lock()
			scatter = append(scatter, [2]float64{round3(at.Sub(start).Seconds()), round3(ms(d))})
			mu.Unlock()
			meter.AddAt(at, 1)
		}
		prog.Add(1)
		wg.Done()
	}
	probeCtx, cancel := context.WithTimeout(ctx, p.MaxDuration)
	defer cancel()
	slots := make(chan struct{}, p.ProbeWindow)
	interval := time.Duration(float64(time.Second) / p.Rate)
	tick := time.NewTicker(interval)
	m := probeMessage(p.Source, dest, "smppbench advise probe")
loop:
	for i := 0; i < p.Count; i++ {
		if i > 0 {
			select {
			case <-tick.C:
			case <-probeCtx.Done():
				break loop
			}
		}
		wg.Add(1)
		t0 := time.Now()
		if p.Probe == "enquire_link" {
			select {
			case slots <- struct{}{}:
			case <-probeCtx.Done():
				wg.Done()
				break loop
			}
			sent.Add(1)
			go func() {
				_, err := s.Request(ctx, &smpp.EnquireLink{})
				<-slots
				record(t0, time.Since(t0), err)
			}()
			continue
		}
		err := s.SubmitAsync(probeCtx, m, func(r smpp.SubmitResult, err error) { record(t0, r.RTT, err) })
		if err != nil {
			wg.Done()
			if probeCtx.Err() != nil {
				break
			}
			errs.add(errName(err))
			continue
		}
		sent.Add(1)
	}
	tick.Stop()
	wg.Wait()
	elapsed := time.Since(start)
	res := AdviseResults{Probe: p.Probe, Sent: sent.Load(), Answered: ok.Load(), Errors: errs.snapshot(),
		Seconds: round3(elapsed.Seconds()), TPS: p.TPS}
	if err := closeSessions(ss); err != nil {
		res.UnbindErr = err.Error()
	} else {
		res.Unbound = true
	}
	res.ProbeRate = round3(float64(res.Sent) / elapsed.Seconds())
	res.RTT = rtt.Summarize("RTT (" + p.Probe + ")")
	adviseRecommend(p, &res, rtt.Mean(), rtt.Quantile(.95))
	adviseReport(sc, rep, &res, scatter, meter)
	return nil
}

// adviseRecommend sizes window and binds for TPS from the mean response
// time (Little's law: in flight = rate × time in the system) with
// headroom, at most max_window per bind and max_binds binds, and no window
// above 3 × the TPS a bind carries (NowSMS's rule of thumb).
func adviseRecommend(p AdviseParams, res *AdviseResults, mean, p95 time.Duration) {
	if mean <= 0 {
		return
	}
	size := func(tps float64) (total, binds, window int, capped bool) {
		total = int(math.Ceil(tps * mean.Seconds() * p.Headroom))
		total = max(total, 1)
		binds = (total + p.MaxWindow - 1) / p.MaxWindow
		if binds > p.MaxBinds {
			binds, capped = p.MaxBinds, true
		}
		window = (total + binds - 1) / binds
		window = min(window, p.MaxWindow)
		if limit := int(math.Ceil(3 * tps / float64(binds))); window > limit {
			window, capped = max(limit, 1), true
		}
		return total, binds, window, capped
	}
	res.TotalWindow, res.Binds, res.Window, res.Capped = size(p.TPS)
	res.Expected = round3(float64(res.Binds*res.Window) / mean.Seconds())
	res.WindowP95 = int(math.Ceil(p.TPS * p95.Seconds() / float64(res.Binds)))
	for _, f := range []float64{0.1, 0.25, 0.5, 1, 2, 5} {
		tps := p.TPS * f
		_, b, w, _ := size(tps)
		res.Table = append(res.Table, AdviceForTarget{TPS: round3(tps), Binds: b, Window: w, Expected: round3(float64(b*w) / mean.Seconds())})
	}
}

func adviseReport(sc Scenario, rep *Report, res *AdviseResults, scatter [][2]float64, meter *Meter) {
	p := sc.Advise
	rep.metric("probes sent", float64(res.Sent), "")
	rep.metric("answered OK", float64(res.Answered), "")
	rep.metric("probe rate", res.ProbeRate, "probes/s")
	rep.metric("RTT mean", res.RTT.MeanMS, "ms")
	rep.metric("RTT p50", res.RTT.P50MS, "ms")
	rep.metric("RTT p95", res.RTT.P95MS, "ms")
	rep.metric("RTT p99", res.RTT.P99MS, "ms")
	rep.metric("recommended binds", float64(res.Binds), "")
	rep.metric("recommended window", float64(res.Window), "per bind")
	rep.Latencies = append(rep.Latencies, res.RTT)
	if res.Window > 0 {
		text := fmt.Sprintf("For %s msgs/s: %d bind(s) with window %d each (total %d = ⌈TPS × mean RTT %s ms × headroom %s⌉); they carry up to %s msgs/s at the mean RTT.",
			formatNum(p.TPS), res.Binds, res.Window, res.TotalWindow, formatNum(res.RTT.MeanMS), formatNum(p.Headroom), formatNum(res.Expected))
		rep.Recommendations = append(rep.Recommendations, text)
		rep.Recommendations = append(rep.Recommendations, fmt.Sprintf(
			"If every response took the p95 time (%s ms), a window of %d per bind would be needed; a slow tail this long is what makes windows starve.",
			formatNum(res.RTT.P95MS), res.WindowP95))
		if res.Capped {
			rep.Recommendations = append(rep.Recommendations, fmt.Sprintf(
				"Capped: at most %d binds × window %d, and no window above 3 × the TPS a bind carries; the target may be out of reach at this response time — ask the carrier for more binds or a faster path.",
				p.MaxBinds, p.MaxWindow))
		}
	} else {
		rep.Recommendations = append(rep.Recommendations, "No probe was answered: no recommendation.")
	}
	if res.RTT.Count > 1 {
		ci := 1.96 * res.RTT.StdDevMS / math.Sqrt(float64(res.RTT.Count))
		rep.metric("RTT mean 95% confidence ±", ci, "ms")
		if ci > 0.2*res.RTT.MeanMS {
			rep.Notes = append(rep.Notes, fmt.Sprintf(
				"The mean RTT is known only to ±%s ms (95%%) from %d probes: the slow tail dominates it. Probe more (--count) for a firmer window; sized on the upper bound, the window would be %d.",
				formatNum(ci), res.RTT.Count, int(math.Ceil(p.TPS*(res.RTT.MeanMS+ci)/1000*p.Headroom/float64(max(res.Binds, 1))))))
		}
	}
	if res.Probe == "enquire_link" {
		rep.Notes = append(rep.Notes, "Probed with enquire_link: it sends no message, but SMSCs answer it faster than submit_sm (no routing, no store); treat the recommendation as a lower bound.")
	}
	evidence := Table{Title: "Evidence", Columns: []string{"", "value"}, Rows: [][]string{
		{"probe", res.Probe},
		{"sent / answered OK", fmt.Sprintf("%d / %d", res.Sent, res.Answered)},
		{"errors", formatCounts(res.Errors)},
		{"probe rate (limit)", fmt.Sprintf("%s/s (%s/s)", formatNum(res.ProbeRate), formatNum(p.Rate))},
		{"outstanding at most", strconv.Itoa(p.ProbeWindow)},
		{"RTT mean / p50 / p95 / p99 / max ms", fmt.Sprintf("%s / %s / %s / %s / %s", formatNum(res.RTT.MeanMS), formatNum(res.RTT.P50MS),
			formatNum(res.RTT.P95MS), formatNum(res.RTT.P99MS), formatNum(res.RTT.MaxMS))},
		{"unbound cleanly", strconv.FormatBool(res.Unbound)},
	}}
	byTPS := Table{Title: "Window and binds by target TPS", Columns: []string{"TPS", "binds", "window per bind", "carries up to msgs/s"}}
	var need, needP95 [][2]float64
	for _, a := range res.Table {
		byTPS.Rows = append(byTPS.Rows, []string{formatNum(a.TPS), strconv.Itoa(a.Binds), strconv.Itoa(a.Window), formatNum(a.Expected)})
		need = append(need, [2]float64{a.TPS, a.TPS * res.RTT.MeanMS / 1000 * p.Headroom})
		needP95 = append(needP95, [2]float64{a.TPS, a.TPS * res.RTT.P95MS / 1000})
	}
	rep.Tables = append(rep.Tables, evidence, byTPS)
	rep.Charts = append(rep.Charts,
		Chart{ID: "latency-percentiles", Title: "Response time percentiles", Kind: "percentile", XLabel: "percentile", YLabel: "ms",
			Series: []Series{{Name: res.RTT.Name, Points: res.RTT.Curve}}},
		Chart{ID: "rtt-over-time", Title: "Response time of each probe", Kind: "line", XLabel: "seconds since start", YLabel: "ms",
			Series: []Series{{Name: "RTT", Points: scatter}}},
		Chart{ID: "window-needed", Title: "Total window needed by target TPS", Kind: "line", LogX: true, LogY: true,
			XLabel: "target msgs/s", YLabel: "window (all binds)", Series: []Series{
				{Name: "TPS × mean RTT × headroom", Points: need},
				{Name: "TPS × p95 RTT", Points: needP95, Dashed: true, Group: 1},
			}},
		Chart{ID: "throughput", Title: "Probes answered over time", Kind: "line", XLabel: "seconds since start", YLabel: "probes/s",
			Series: []Series{{Name: "answered/s", Points: meter.Series(300)}}},
	)
	rep.check("probes bounded", res.Sent <= int64(p.Count), "%d sent, at most %d", res.Sent, p.Count)
	rep.check("probe rate bounded", res.ProbeRate <= p.Rate*1.1+1, "%s/s achieved, at most %s/s", formatNum(res.ProbeRate), formatNum(p.Rate))
	rep.check("probes answered", res.Answered > 0 && res.Answered == res.Sent, "%d of %d answered ESME_ROK; errors: %s", res.Answered, res.Sent, formatCounts(res.Errors))
	rep.check("unbound cleanly", res.Unbound, "unbind: %s", orOK(res.UnbindErr))
	rep.Results = res
}

func orOK(s string) string {
	if s == "" {
		return "ok"
	}
	return s
}
