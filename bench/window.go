package bench

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// WindowPoint is one point of the window sweep: N binds with window W each
// against an SMSC answering after a given time.
type WindowPoint struct {
	LatencyMS float64          `json:"latency_ms"` // configured at the simulator; 0 against a real SMSC
	Window    int              `json:"window"`     // per bind
	Binds     int              `json:"binds"`
	Sent      int64            `json:"sent"`
	OK        int64            `json:"ok"`
	Errors    map[string]int64 `json:"errors"`
	Seconds   float64          `json:"seconds"`
	// Rate is ESME_ROK responses per second, from the first submit to the
	// last response (the ramp at both ends cancels out: see runWindowPoint).
	Rate      float64 `json:"msgs_per_s"`
	MeanRTTMS float64 `json:"mean_rtt_ms"`
	P50MS     float64 `json:"p50_ms"`
	P95MS     float64 `json:"p95_ms"`
	P99MS     float64 `json:"p99_ms"`
	// The W/RTT limit, N × W / RTT, with the configured response time and
	// with the mean one measured by the client, and the share of each
	// reached (%).
	LimitConfigured      float64 `json:"limit_configured"`
	LimitMeasured        float64 `json:"limit_measured"`
	EfficiencyConfigured float64 `json:"efficiency_configured_pct"`
	EfficiencyMeasured   float64 `json:"efficiency_measured_pct"`

	rtt *Latency
}

// WindowRecommendation is the answer for one response time: the smallest
// swept window whose measured rate reached 95% of the target TPS.
type WindowRecommendation struct {
	LatencyMS float64 `json:"latency_ms"`
	RTTMS     float64 `json:"rtt_ms"` // mean measured
	TPS       float64 `json:"tps"`
	Binds     int     `json:"binds"`
	// Window is 0 when no swept window reached it.
	Window int     `json:"window"`
	Rate   float64 `json:"msgs_per_s"`
	// Formula is TPS × RTT / binds, the window Little's law asks for.
	Formula float64 `json:"formula_window"`
	// NowSMSCap is 3 × TPS / binds, the most a window should be.
	NowSMSCap float64 `json:"window_cap"`
	Text      string  `json:"text"`
}

// WindowResults are the window scenario's results.
type WindowResults struct {
	Points          []WindowPoint          `json:"points"`
	Recommendations []WindowRecommendation `json:"recommendations"`
}

func runWindow(ctx context.Context, sc Scenario, rep *Report, prog *Progress) error {
	p := sc.Window
	lats := p.Latencies
	if sc.Target.Addr != "" {
		lats = []time.Duration{0} // the SMSC's own
		rep.Against = "SMSC " + sc.Target.Addr
	} else {
		rep.Against = "smscsim (in-process, one account per response time)"
	}
	points := len(lats) * len(p.Windows)
	var estimate int64
	for _, l := range lats {
		for _, w := range p.Windows {
			if l > 0 {
				estimate += int64(float64(p.Binds*w) / l.Seconds() * p.Duration.Seconds())
			}
		}
	}
	prog.Start(fmt.Sprintf("window sweep (%d points)", points), estimate, "msgs")
	meter := NewMeter(100 * time.Millisecond)
	var budget atomic.Int64
	budget.Store(int64(p.MaxMessages))
	if p.MaxMessages <= 0 {
		budget.Store(math.MaxInt64)
	}
	var res WindowResults
	for li, lat := range lats {
		var l *link
		var err error
		if sc.Target.Addr != "" {
			l = targetLink(sc.Target)
		} else {
			l, err = startSimLink(sc.Seed+uint64(li), smscsim.AccountConfig{
				Latency: lat.String(), Rate: smscsim.RateConfig{Account: p.CarrierTPS},
			})
			if err != nil {
				return err
			}
		}
		for _, w := range p.Windows {
			if ctx.Err() != nil {
				l.close()
				return ctx.Err()
			}
			pt, err := runWindowPoint(ctx, l, lat, p, w, meter, prog, &budget)
			if err != nil {
				l.close()
				return err
			}
			res.Points = append(res.Points, pt)
			prog.Note("  RTT %-6s W=%-5d %8.0f msgs/s  %5.1f%% of W/RTT (configured)  %5.1f%% (measured RTT %.2f ms)",
				latencyName(lat), w, pt.Rate, pt.EfficiencyConfigured, pt.EfficiencyMeasured, pt.MeanRTTMS)
		}
		l.close()
	}
	windowReport(sc, rep, &res, meter)
	return nil
}

func latencyName(d time.Duration) string {
	if d == 0 {
		return "SMSC"
	}
	return d.String()
}

// runWindowPoint keeps binds × window submits in flight for the duration,
// then lets the last window drain. The rate is OK responses over the time
// from the first submit to the last response: with a full window the
// first RTT brings no response and the last RTT only responses, so
// (r·D + N·W)/(D + RTT) = r exactly when r = N·W/RTT.
func runWindowPoint(ctx context.Context, l *link, lat time.Duration, p WindowParams, window int, meter *Meter, prog *Progress, budget *atomic.Int64) (WindowPoint, error) {
	timeout := 30 * time.Second
	if lat > 0 && 20*lat > timeout {
		timeout = 20 * lat
	}
	ss, err := l.bind(ctx, p.Binds, window, timeout)
	if err != nil {
		return WindowPoint{}, err
	}
	pt := WindowPoint{LatencyMS: ms(lat), Window: window, Binds: p.Binds, rtt: NewLatency()}
	var (
		ok, sent atomic.Int64
		errs     counts
		inflight sync.WaitGroup
		lastNS   atomic.Int64
	)
	start := time.Now()
	done := func(r smpp.SubmitResult, err error) {
		now := time.Now()
		if err != nil {
			errs.add(errName(err))
		} else {
			ok.Add(1)
			pt.rtt.Record(r.RTT)
			meter.AddAt(now, 1)
			prog.Add(1)
		}
		for {
			last := lastNS.Load()
			ns := now.Sub(start).Nanoseconds()
			if ns <= last || lastNS.CompareAndSwap(last, ns) {
				break
			}
		}
		inflight.Done()
	}
	runCtx, cancel := context.WithTimeout(ctx, p.Duration)
	var loops sync.WaitGroup
	for i, s := range ss {
		loops.Add(1)
		go func() {
			defer loops.Done()
			dest := p.Dest
			if dest == "" {
				dest = simDest
			}
			m := probeMessage(p.Source, dest, "smppbench window "+strconv.Itoa(i))
			for runCtx.Err() == nil {
				if budget.Add(-1) < 0 {
					return
				}
				inflight.Add(1)
				if err := s.SubmitAsync(runCtx, m, done); err != nil {
					inflight.Done()
					budget.Add(1)
					if runCtx.Err() == nil {
						errs.add(errName(err))
						time.Sleep(10 * time.Millisecond) // not bound: do not spin
					}
					continue
				}
				sent.Add(1)
			}
		}()
	}
	loops.Wait()
	cancel()
	drained := make(chan struct{})
	go func() { inflight.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(timeout + 5*time.Second):
	}
	closeSessions(ss)
	<-drained // Close fails whatever was still pending, so every done ran

	pt.Sent, pt.OK, pt.Errors = sent.Load(), ok.Load(), errs.snapshot()
	pt.Seconds = round3(time.Duration(lastNS.Load()).Seconds())
	if pt.Seconds > 0 {
		pt.Rate = round3(float64(pt.OK) / time.Duration(lastNS.Load()).Seconds())
	}
	mean := pt.rtt.Mean()
	pt.MeanRTTMS = round3(ms(mean))
	pt.P50MS, pt.P95MS, pt.P99MS = round3(ms(pt.rtt.Quantile(.5))), round3(ms(pt.rtt.Quantile(.95))), round3(ms(pt.rtt.Quantile(.99)))
	nw := float64(p.Binds * window)
	if lat > 0 {
		pt.LimitConfigured = round3(nw / lat.Seconds())
		pt.EfficiencyConfigured = round3(100 * pt.Rate / pt.LimitConfigured)
	}
	if mean > 0 {
		pt.LimitMeasured = round3(nw / mean.Seconds())
		pt.EfficiencyMeasured = round3(100 * pt.Rate / pt.LimitMeasured)
	}
	return pt, nil
}

// windowReport fills the report from the sweep.
func windowReport(sc Scenario, rep *Report, res *WindowResults, meter *Meter) {
	p := sc.Window
	// Group by response time, in sweep order.
	var lats []float64
	byLat := map[float64][]WindowPoint{}
	for _, pt := range res.Points {
		if _, ok := byLat[pt.LatencyMS]; !ok {
			lats = append(lats, pt.LatencyMS)
		}
		byLat[pt.LatencyMS] = append(byLat[pt.LatencyMS], pt)
	}
	sweep := Chart{ID: "window-sweep", Title: "Window sweep: throughput against the W/RTT limit", Kind: "line", LogX: true, LogY: true,
		XLabel: fmt.Sprintf("window per bind (%d bind(s))", p.Binds), YLabel: "msgs/s"}
	eff := Chart{ID: "window-efficiency", Title: "Share of the W/RTT limit reached", Kind: "line", LogX: true,
		XLabel: "window per bind", YLabel: "% of N×W/RTT"}
	pct := Chart{ID: "latency-percentiles", Title: "Response time percentiles (submit_sm → submit_sm_resp)", Kind: "percentile",
		XLabel: "percentile", YLabel: "ms"}
	table := Table{Title: "Window sweep", Columns: []string{"RTT set", "window", "binds", "sent", "ok", "errors", "msgs/s",
		"W/RTT limit", "efficiency", "RTT mean", "limit (measured RTT)", "efficiency (measured)", "p50 ms", "p95 ms", "p99 ms"}}
	var effs, effsMeasured []float64
	var total, errors int64
	best := 0.0
	for gi, lat := range lats {
		pts := byLat[lat]
		name := "SMSC"
		if lat > 0 {
			name = strconv.FormatFloat(lat, 'g', -1, 64) + " ms"
		}
		var meas, limit, effc, effm [][2]float64
		all := NewLatency()
		for _, pt := range pts {
			meas = append(meas, [2]float64{float64(pt.Window), pt.Rate})
			if pt.LimitConfigured > 0 {
				limit = append(limit, [2]float64{float64(pt.Window), pt.LimitConfigured})
				effc = append(effc, [2]float64{float64(pt.Window), pt.EfficiencyConfigured})
				effs = append(effs, pt.EfficiencyConfigured)
			} else if pt.LimitMeasured > 0 {
				limit = append(limit, [2]float64{float64(pt.Window), pt.LimitMeasured})
			}
			effm = append(effm, [2]float64{float64(pt.Window), pt.EfficiencyMeasured})
			effsMeasured = append(effsMeasured, pt.EfficiencyMeasured)
			all.Merge(pt.rtt)
			total += pt.OK
			var ne int64
			for _, v := range pt.Errors {
				ne += v
			}
			errors += ne
			best = math.Max(best, pt.Rate)
			table.Rows = append(table.Rows, []string{name, strconv.Itoa(pt.Window), strconv.Itoa(pt.Binds),
				strconv.FormatInt(pt.Sent, 10), strconv.FormatInt(pt.OK, 10), formatCounts(pt.Errors), formatNum(pt.Rate),
				numOrDash(pt.LimitConfigured), pctOrDash(pt.EfficiencyConfigured, pt.LimitConfigured > 0), formatNum(pt.MeanRTTMS),
				formatNum(pt.LimitMeasured), pctOrDash(pt.EfficiencyMeasured, pt.LimitMeasured > 0),
				formatNum(pt.P50MS), formatNum(pt.P95MS), formatNum(pt.P99MS)})
		}
		sweep.Series = append(sweep.Series, Series{Name: "measured, RTT " + name, Points: meas, Group: gi})
		limitName := "W/RTT limit, RTT " + name
		if lat == 0 {
			limitName = "W/RTT limit (measured RTT)"
		}
		sweep.Series = append(sweep.Series, Series{Name: limitName, Points: limit, Dashed: true, Group: gi})
		if len(effc) > 0 {
			eff.Series = append(eff.Series, Series{Name: "vs configured RTT " + name, Points: effc, Group: gi})
		}
		eff.Series = append(eff.Series, Series{Name: "vs measured RTT " + name, Points: effm, Dashed: true, Group: gi})
		sum := all.Summarize("RTT " + name)
		pct.Series = append(pct.Series, Series{Name: "RTT " + name, Points: sum.Curve, Group: gi})
		rep.Latencies = append(rep.Latencies, sum)
		res.Recommendations = append(res.Recommendations, recommendWindow(p, lat, pts, all.Mean()))
	}
	eff.Series = append(eff.Series, Series{Name: "100%", Points: [][2]float64{{float64(minInt(p.Windows)), 100}, {float64(maxInt(p.Windows)), 100}}, Dashed: true, Group: 7})
	tput := Chart{ID: "throughput", Title: "Throughput over time (the sweep's points one after another)", Kind: "line",
		XLabel: "seconds since start", YLabel: "msgs/s", Series: []Series{{Name: "ESME_ROK responses/s", Points: meter.Series(400)}}}
	rep.Charts = append(rep.Charts, sweep, eff, tput, pct)
	rep.Tables = append(rep.Tables, table)
	rep.metric("points", float64(len(res.Points)), "")
	rep.metric("messages answered OK", float64(total), "msgs")
	rep.metric("best throughput", best, "msgs/s")
	if len(effs) > 0 {
		rep.metric("median efficiency vs configured RTT", median(effs), "%")
	}
	rep.metric("median efficiency vs measured RTT", median(effsMeasured), "%")
	recs := Table{Title: fmt.Sprintf("Recommended window for %s msgs/s on %d bind(s)", formatNum(p.TPS), p.Binds),
		Columns: []string{"RTT set", "RTT measured (mean ms)", "window", "measured msgs/s", "TPS×RTT/binds", "cap 3×TPS/binds"}}
	for _, r := range res.Recommendations {
		w := "none swept"
		if r.Window > 0 {
			w = strconv.Itoa(r.Window)
		}
		set := "SMSC"
		if r.LatencyMS > 0 {
			set = formatNum(r.LatencyMS) + " ms"
		}
		recs.Rows = append(recs.Rows, []string{set, formatNum(r.RTTMS), w, formatNum(r.Rate), formatNum(r.Formula), formatNum(r.NowSMSCap)})
		rep.Recommendations = append(rep.Recommendations, r.Text)
	}
	rep.Tables = append(rep.Tables, recs)
	if len(res.Recommendations) > 0 && res.Recommendations[0].Window > 0 {
		rep.metric(fmt.Sprintf("recommended window (%s, %s msgs/s)", latencyLabel(res.Recommendations[0].LatencyMS), formatNum(p.TPS)),
			float64(res.Recommendations[0].Window), "per bind")
	}
	if p.CarrierTPS > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("The simulated account was limited to %s msgs/s: submits above it were answered ESME_RTHROTTLED and are counted as errors.", formatNum(p.CarrierTPS)))
	} else {
		rep.check("every submit answered ESME_ROK", errors == 0, "%d errors over %d points", errors, len(res.Points))
	}
	rep.Notes = append(rep.Notes,
		"Efficiency is the measured rate over N×W/RTT. Against the configured RTT it includes the simulator's timer lateness on a busy machine; against the RTT the client measured it shows the client's own overhead.",
		"The recommendation is the smallest swept window per bind whose measured rate reached 95% of the target TPS; the NowSMS rule of thumb caps a window at 2–3 × the TPS the bind carries.")
	rep.Results = res
}

func latencyLabel(ms float64) string {
	if ms == 0 {
		return "SMSC RTT"
	}
	return "RTT " + formatNum(ms) + " ms"
}

func numOrDash(v float64) string {
	if v == 0 {
		return "-"
	}
	return formatNum(v)
}

func pctOrDash(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return formatNum(v) + "%"
}

// recommendWindow picks the smallest swept window whose rate reached 95%
// of the target TPS.
func recommendWindow(p WindowParams, lat float64, pts []WindowPoint, mean time.Duration) WindowRecommendation {
	r := WindowRecommendation{LatencyMS: lat, RTTMS: round3(ms(mean)), TPS: p.TPS, Binds: p.Binds,
		Formula: round3(p.TPS * mean.Seconds() / float64(p.Binds)), NowSMSCap: round3(3 * p.TPS / float64(p.Binds))}
	sorted := append([]WindowPoint(nil), pts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Window < sorted[j].Window })
	for _, pt := range sorted {
		if pt.Rate >= 0.95*p.TPS {
			r.Window, r.Rate = pt.Window, pt.Rate
			break
		}
	}
	label := latencyLabel(lat)
	if r.Window == 0 {
		bestRate := 0.0
		for _, pt := range sorted {
			bestRate = math.Max(bestRate, pt.Rate)
		}
		r.Text = fmt.Sprintf("%s: no swept window reached 95%% of %s msgs/s on %d bind(s) (best %s msgs/s); Little's law asks for about %s per bind (TPS × RTT / binds) — sweep larger windows or add binds.",
			label, formatNum(p.TPS), p.Binds, formatNum(bestRate), formatNum(math.Ceil(r.Formula/0.95)))
		return r
	}
	r.Text = fmt.Sprintf("%s: window %d per bind on %d bind(s) reaches %s msgs/s (≥ 95%% of %s); TPS × RTT / binds = %s.",
		label, r.Window, p.Binds, formatNum(r.Rate), formatNum(p.TPS), formatNum(r.Formula))
	if float64(r.Window) > r.NowSMSCap {
		r.Text += fmt.Sprintf(" That is above 3 × TPS per bind (%s): the SMSC answers slowly; expect it to queue or throttle.", formatNum(r.NowSMSCap))
	}
	return r
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minInt(v []int) int {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxInt(v []int) int {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
