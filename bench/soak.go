package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// SoakResults are the soak scenario's results.
type SoakResults struct {
	Accepted   int64            `json:"accepted"`
	HTTPErrors map[string]int64 `json:"http_errors"`
	Statuses   map[string]int64 `json:"statuses"`
	NotFinal   []string         `json:"not_final"` // first few
	MOAcked    int64            `json:"mo_acknowledged"`
	MOFailed   map[string]int64 `json:"mo_not_acknowledged"`
	MOInThread int64            `json:"mo_in_threads"`
	MOMissing  []string         `json:"mo_missing"`
	// What the carrier did: faults injected and their effects.
	Drops          int64 `json:"carrier_drops"`
	MutedDrops     int64 `json:"carrier_muted_drops"`
	Injected       int64 `json:"carrier_injected_failures"`
	Throttled      int64 `json:"carrier_throttled"`
	ReceiptRetries int64 `json:"carrier_receipt_retries"`
	// Resubmitted counts segments the carrier accepted more than once:
	// allowed only for those in flight when a bind dropped.
	Resubmitted int64   `json:"resubmitted_segments"`
	SettleSecs  float64 `json:"settle_seconds"`
}

func runSoak(ctx context.Context, sc Scenario, rep *Report, prog *Progress) error {
	p := sc.Soak
	numbers := ourNumbers(p.Numbers, numberOffset(sc))
	e, err := startEngine(ctx, sc, engineOptions{
		classes: []classDef{{Name: "bench", Rate: p.NumberRate, Burst: p.NumberBurst}}, numbers: numbers,
		tps: p.NumberRate * float64(p.Numbers) * 2, logSim: true,
	}, prog)
	if err != nil {
		return err
	}
	defer e.close()
	rep.Against = e.against
	if e.sim == nil {
		return errors.New("soak needs the simulator the engine binds to: give engine.sim_stats (--sim-stats)")
	}
	class := "bench"
	if sc.Engine.URL != "" {
		class = ""
	}
	wc, err := setupWorkspace(ctx, e.api, "smppbench soak", e.carrier, numbers, func(int) string { return class })
	if err != nil {
		return fmt.Errorf("%w\n%s", err, e.logTail())
	}
	s := newSender(wc, numbers, p.Contacts, p.Long, fmt.Sprintf("soak %d", sc.Seed), sc.Seed)
	inj := newMOInjector(e.sim, numbers, p.Contacts, p.Long, fmt.Sprintf("somo %d", sc.Seed), sc.Seed+1)
	evCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	ready := make(chan struct{})
	go streamEvents(evCtx, wc, func(ev event) { s.event(ev); inj.event(ev) }, ready)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
	}

	start := time.Now()
	soakTraffic(ctx, p, s, inj, prog)
	acc, _, _ := s.progress()
	prog.Start("soak: settling (every message final, every MO in a thread)", int64(acc), "final")
	settleStart := time.Now()
	allFinal := s.waitFinal(ctx, p.Settle, prog)
	inj.waitSeen(ctx, max(p.Settle-time.Since(settleStart), time.Second))
	settle := time.Since(settleStart)
	stopEvents()

	st, gerrs := collectStages(ctx, s, start)
	found, missing, verr := inj.verify(ctx, wc)
	acked, _ := inj.counts()
	res := SoakResults{Accepted: int64(acc), HTTPErrors: s.errs.snapshot(), Statuses: st.statuses, NotFinal: first(st.notFinal, 10),
		MOAcked: int64(acked), MOFailed: inj.fails.snapshot(), MOInThread: found, MOMissing: missing, SettleSecs: round3(settle.Seconds())}
	carrierCounts(ctx, e, &res)
	soakReport(rep, &res, soakOutcome{s: s, inj: inj, st: st, allFinal: allFinal, readErrs: gerrs, found: found, missing: missing, verifyErr: verr})
	return nil
}

// soakTraffic sends messages at p.SendRate and injects MO at p.MORate, at
// once, for p.Duration.
func soakTraffic(ctx context.Context, p SoakParams, s *sender, inj *moInjector, prog *Progress) {
	est := int64(p.Duration.Seconds() * (p.SendRate + p.MORate))
	prog.Start(fmt.Sprintf("soak: %s of mixed traffic with faults", p.Duration), est, "msgs+MO")
	tctx, stopTraffic := context.WithTimeout(ctx, p.Duration)
	defer stopTraffic()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.run(tctx, -1, 8, p.SendRate, 0, prog) }()
	go func() {
		defer wg.Done()
		if p.MORate > 0 {
			inj.run(tctx, -1, 4, p.MORate, prog)
		}
	}()
	wg.Wait()
}

// carrierCounts adds what the carrier did to res: the faults it injected
// and their effects, from its report, and the segments it accepted more
// than once, from its message log (an in-process simulator only, which
// flushes the log when it closes).
func carrierCounts(ctx context.Context, e *engineRun, res *SoakResults) {
	if r, err := e.sim.Report(ctx); err == nil {
		for _, a := range r.Accounts {
			res.Drops += a.Drops
			res.MutedDrops += a.MutedDrops
			res.Injected += a.Injected
			res.Throttled += a.Throttled
			res.ReceiptRetries += a.ReceiptRetries
		}
	}
	if e.inproc != nil {
		e.inproc.Close()
		if lines, err := readSimLog(e.simLog); err == nil {
			seen := map[string]int{}
			for _, l := range lines {
				seen[fmt.Sprintf("%s#%d", l.Text, l.Part)]++
			}
			for _, n := range seen {
				if n > 1 {
					res.Resubmitted += int64(n - 1)
				}
			}
		}
	}
}

// soakOutcome is what the soak scenario measured besides SoakResults.
type soakOutcome struct {
	s         *sender
	inj       *moInjector
	st        *stageTimes
	allFinal  bool    // every accepted message became final within the settle time
	readErrs  []error // reading the messages' stages
	found     int64   // acknowledged MO found in threads
	missing   []string
	verifyErr error // listing the threads
}

// soakReport writes the soak scenario's metrics, latencies, table, charts,
// checks and notes into rep.
func soakReport(rep *Report, res *SoakResults, o soakOutcome) {
	s, inj, st := o.s, o.inj, o.st
	rep.metric("messages accepted", float64(res.Accepted), "")
	rep.metric("MO acknowledged", float64(res.MOAcked), "")
	rep.metric("not final", float64(len(st.notFinal)), "")
	rep.metric("MO missing from threads", float64(res.MOAcked-res.MOInThread), "")
	rep.metric("carrier drops", float64(res.Drops), "")
	rep.metric("carrier injected failures", float64(res.Injected), "")
	rep.metric("segments resubmitted", float64(res.Resubmitted), "")
	rep.metric("settle time", res.SettleSecs, "s")
	rep.Latencies = []Summary{
		s.accepted.Summarize("accepted (POST → 202)"),
		st.deliver.Summarize("delivered (queued → receipt)"),
		inj.resp.Summarize("MO deliver_sm → deliver_sm_resp"),
	}
	rep.Tables = append(rep.Tables, Table{Title: "Reconciliation", Columns: []string{"", "count"}, Rows: [][]string{
		{"messages accepted (202)", fmt.Sprint(res.Accepted)},
		{"HTTP errors", formatCounts(res.HTTPErrors)},
		{"final statuses", formatCounts(res.Statuses)},
		{"MO acknowledged", fmt.Sprint(res.MOAcked)},
		{"MO not acknowledged (faults)", formatCounts(res.MOFailed)},
		{"acknowledged MO found in threads", fmt.Sprint(res.MOInThread)},
		{"carrier: binds dropped / answers lost while muted", fmt.Sprintf("%d / %d", res.Drops, res.MutedDrops)},
		{"carrier: injected failures / throttled", fmt.Sprintf("%d / %d", res.Injected, res.Throttled)},
		{"carrier: receipts sent again", fmt.Sprint(res.ReceiptRetries)},
		{"segments the carrier accepted twice", fmt.Sprint(res.Resubmitted)},
	}})
	pct := Chart{ID: "latency-percentiles", Title: "Latency under faults", Kind: "percentile", XLabel: "percentile", YLabel: "ms"}
	for i, l := range rep.Latencies {
		pct.Series = append(pct.Series, Series{Name: l.Name, Points: l.Curve, Group: i})
	}
	rep.Charts = append(rep.Charts,
		Chart{ID: "throughput", Title: "Throughput over time", Kind: "line", XLabel: "seconds since start", YLabel: "per second", Series: []Series{
			{Name: "messages accepted", Points: s.meter.Series(300), Group: 0},
			{Name: "answered by the carrier", Points: st.submittedMeter.Series(300), Group: 1},
			{Name: "delivered", Points: st.deliveredMeter.Series(300), Group: 2},
			{Name: "MO acknowledged", Points: inj.meter.Series(300), Group: 3},
		}},
		pct)
	rep.check("every accepted message final", o.allFinal && len(st.notFinal) == 0 && len(o.readErrs) == 0 && res.Accepted > 0,
		"%d of %d not final (e.g. %v); %d read errors", len(st.notFinal), res.Accepted, res.NotFinal, len(o.readErrs))
	if o.verifyErr != nil {
		rep.check("every MO in a thread", false, "listing threads: %v", o.verifyErr)
	} else {
		rep.check("every MO in a thread", o.found == res.MOAcked, "%d of %d acknowledged MO found (missing e.g. %v)", o.found, res.MOAcked, o.missing)
	}
	rep.Notes = append(rep.Notes,
		"An MO counts once the engine acknowledged every part (ack after commit); MO the faults cut off before their deliver_sm_resp are listed apart.",
		"Segments accepted twice are allowed only for those in flight when a bind dropped or the carrier hung (the engine cannot know whether they arrived).")
	rep.Results = res
}
