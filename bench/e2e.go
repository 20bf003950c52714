package bench

import (
	"context"
	"fmt"
	"time"
)

// E2EResults are the e2e scenario's results.
type E2EResults struct {
	Accepted      int64            `json:"accepted"`
	HTTPErrors    map[string]int64 `json:"http_errors"`
	Statuses      map[string]int64 `json:"statuses"` // of the accepted messages at the end
	Delivered     int64            `json:"delivered"`
	AcceptRate    float64          `json:"accepted_per_s"`  // POSTs answered 202 per second
	DeliveredRate float64          `json:"delivered_per_s"` // from the first queued to the last delivered
	Segments      int64            `json:"segments"`
	// CarrierAccepted is what the carrier accepted (segments): equal to
	// Segments when every segment was submitted exactly once.
	CarrierAccepted int64     `json:"carrier_accepted_segments"`
	Stages          []Summary `json:"stages"`
	// Webhooks: with --webhooks only.
	Webhooks *WebhookResults `json:"webhooks,omitempty"`
}

func runE2E(ctx context.Context, sc Scenario, rep *Report, prog *Progress) error {
	p := sc.E2E
	numbers := ourNumbers(p.Numbers, numberOffset(sc))
	class := "bench"
	if p.Webhooks && sc.Engine.URL != "" {
		return fmt.Errorf("e2e --webhooks needs an engine the bench starts (its receiver is on the bench's loopback)")
	}
	e, err := startEngine(ctx, sc, engineOptions{
		classes: []classDef{{Name: class, Rate: p.NumberRate, Burst: p.NumberBurst}}, numbers: numbers,
		tps: p.NumberRate * float64(p.Numbers) * 2, webhooksLoopback: p.Webhooks,
	}, prog)
	if err != nil {
		return err
	}
	defer e.close()
	rep.Against = e.against
	if sc.Engine.URL != "" {
		class = "" // the running engine's own classes
	}
	wc, err := setupWorkspace(ctx, e.api, "smppbench e2e", e.carrier, numbers, func(int) string { return class })
	if err != nil {
		return fmt.Errorf("%w\n%s", err, e.logTail())
	}
	var hooks *webhookSink
	if p.Webhooks {
		if hooks, err = startWebhooks(ctx, wc); err != nil {
			return err
		}
		defer hooks.close()
	}
	s := newSender(wc, numbers, p.Contacts, p.Long, fmt.Sprintf("e2e %d", sc.Seed), sc.Seed)
	evCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	ready := make(chan struct{})
	go streamEvents(evCtx, wc, s.event, ready)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
	}

	cpu := startCPU(ctx, e)
	start := time.Now()
	prog.Start(fmt.Sprintf("e2e: sending %d messages", p.Messages), int64(p.Messages), "msgs")
	s.run(ctx, p.Messages, p.Concurrency, p.Rate, p.Batch, prog)
	sendSecs := time.Since(start).Seconds()
	acc, _, _ := s.progress()
	prog.Start("e2e: waiting for receipts", int64(acc), "final")
	allFinal := s.waitFinal(ctx, p.Timeout, prog)
	cpu.stop(ctx)
	stopEvents()

	prog.Start("e2e: reading every message's status history", int64(acc), "msgs")
	st, gerrs := collectStages(ctx, s, start)
	res := E2EResults{Accepted: int64(acc), HTTPErrors: s.errs.snapshot(), Statuses: st.statuses, Delivered: st.delivered,
		AcceptRate: round3(float64(acc) / sendSecs), Segments: st.segments}
	if !st.lastDelivered.IsZero() {
		res.DeliveredRate = round3(float64(st.delivered) / st.lastDelivered.Sub(st.firstQueued).Seconds())
	}
	if e.sim != nil {
		if r, err := e.sim.Report(ctx); err == nil && len(r.Accounts) > 0 {
			for _, a := range r.Accounts {
				res.CarrierAccepted += a.AcceptedSegments
			}
		}
	}
	accepted := "accepted (POST → 202)"
	if p.Batch > 1 {
		accepted = "accepted (batch POST → 200)"
		rep.Notes = append(rep.Notes, fmt.Sprintf("Sent %d messages per POST /v1/messages/batch: a message is accepted when its batch's answer arrives; a refused request counts as an HTTP error once per message it carried.", p.Batch))
	}
	res.Stages = []Summary{
		s.accepted.Summarize(accepted),
		st.sending.Summarize("submitted (queued → sending)"),
		st.submitted.Summarize("answered (queued → submit_sm_resp)"),
		st.deliver.Summarize("delivered (queued → receipt)"),
		st.e2e.Summarize("end to end (POST → delivered)"),
	}
	if hooks != nil {
		hooks.wait(ctx, st.deliveredAt, p.Timeout, prog)
		wr := hooks.results(st.deliveredAt)
		res.Webhooks = &wr
		res.Stages = append(res.Stages, wr.Lag)
		rep.metric("webhook events/s", wr.Rate, "events/s")
		rep.metric("p99 delivered → webhook", wr.Lag.P99MS, "ms")
		rep.Tables = append(rep.Tables, Table{Title: "Webhooks (message.status, one endpoint, a verifying receiver in the bench)", Columns: []string{"", "count"}, Rows: [][]string{
			{"delivered events owed", fmt.Sprint(wr.Expected)},
			{"arrived, verified", fmt.Sprint(wr.Arrived)},
			{"requests answered (all event types, retries)", fmt.Sprint(wr.Requests)},
			{"signatures not verified", fmt.Sprint(wr.Unverified)},
			{"duplicates", fmt.Sprint(wr.Duplicates)},
			{"connections opened (keep-alive)", fmt.Sprint(wr.Connections)},
		}})
		rep.check("every delivered message's webhook arrived", wr.Arrived == wr.Expected, "%d of %d", wr.Arrived, wr.Expected)
		rep.check("every webhook signature verified", wr.Unverified == 0, "%d not verified", wr.Unverified)
	}
	rep.Latencies = res.Stages
	rep.metric("messages accepted", float64(res.Accepted), "")
	rep.metric("accepted rate", res.AcceptRate, "msgs/s")
	rep.metric("delivered", float64(res.Delivered), "")
	rep.metric("delivered rate", res.DeliveredRate, "msgs/s")
	rep.metric("HTTP errors", float64(s.errs.total()), "")
	rep.metric("p50 POST → delivered", res.Stages[4].P50MS, "ms")
	rep.metric("p99 POST → delivered", res.Stages[4].P99MS, "ms")
	rep.Tables = append(rep.Tables, Table{Title: "Outcome", Columns: []string{"", "count"}, Rows: [][]string{
		{"accepted (202)", fmt.Sprint(res.Accepted)},
		{"HTTP errors", formatCounts(res.HTTPErrors)},
		{"final statuses", formatCounts(res.Statuses)},
		{"segments (engine)", fmt.Sprint(res.Segments)},
		{"segments accepted by the carrier", fmt.Sprint(res.CarrierAccepted)},
	}})
	cpu.report(rep, res.Delivered, "delivered msg")
	stageChart := latencyChart(res.Stages)
	rep.Charts = append(rep.Charts,
		Chart{ID: "throughput", Title: "Throughput over time", Kind: "line", XLabel: "seconds since start", YLabel: "msgs/s", Series: []Series{
			{Name: "accepted (202)", Points: s.meter.Series(300), Group: 0},
			{Name: "answered by the carrier", Points: st.submittedMeter.Series(300), Group: 1},
			{Name: "delivered (receipt)", Points: st.deliveredMeter.Series(300), Group: 2},
		}},
		stageChart)
	rep.check("no HTTP errors", s.errs.total() == 0, "%s", formatCounts(res.HTTPErrors))
	rep.check("every message read back", len(gerrs) == 0, "%d errors reading messages", len(gerrs))
	want := "delivered"
	if sc.Sim.Outcomes != "" {
		rep.check("every message final", allFinal && len(st.notFinal) == 0, "%d not final: %v", len(st.notFinal), first(st.notFinal, 5))
	} else {
		rep.check("every message "+want, res.Delivered == res.Accepted && res.Accepted > 0, "%d of %d delivered; statuses %s", res.Delivered, res.Accepted, formatCounts(res.Statuses))
	}
	if e.inproc != nil {
		rep.check("each segment submitted once", res.CarrierAccepted == res.Segments, "carrier accepted %d segments, the engine has %d", res.CarrierAccepted, res.Segments)
	}
	rep.Notes = append(rep.Notes, "Stage times come from each message's status history (the engine's clock); accepted and end to end from the bench's clock (the same machine).")
	rep.Results = &res
	return nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// latencyChart is the percentile chart of a run's latency per stage.
func latencyChart(stages []Summary) Chart {
	c := Chart{ID: "latency-percentiles", Title: "Latency per stage", Kind: "percentile", XLabel: "percentile", YLabel: "ms"}
	for i, l := range stages {
		c.Series = append(c.Series, Series{Name: l.Name, Points: l.Curve, Group: i})
	}
	return c
}
