package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sms/switchboard/smscsim"
)

// InboundResults are the inbound scenario's results.
type InboundResults struct {
	Injected     int64            `json:"injected"`     // MO the engine acknowledged (every part ESME_ROK)
	Failed       map[string]int64 `json:"failed"`       // MO not acknowledged, by reason
	MORate       float64          `json:"mo_per_s"`     // acknowledged per second
	InThreads    int64            `json:"in_threads"`   // acknowledged MO found in a thread through the API
	Missing      []string         `json:"missing"`      // acknowledged but in no thread (first few)
	DeliverResp  Summary          `json:"deliver_resp"` // deliver_sm → deliver_sm_resp (all parts)
	ToEvent      Summary          `json:"to_event"`     // deliver_sm sent → message.received event read
	EventsSeen   int64            `json:"events_seen"`
	InjectedLong int64            `json:"injected_long"`
}

// moInjector sends MO messages through the carrier and times their
// acknowledgement.
type moInjector struct {
	sim simControl
	traffic

	resp  *Latency
	meter *Meter
	fails counts
	long2 atomic.Int64

	mu   sync.Mutex
	sent map[string]time.Time // tag → when the deliver_sm went out (acknowledged ones)
	seen map[string]time.Time // tag → when the event was read
	toEv *Latency
}

func newMOInjector(sim simControl, numbers []string, contacts int, long float64, tag string, seed uint64) *moInjector {
	return &moInjector{sim: sim, traffic: newTraffic(numbers, contacts, long, tag, seed, 0x0de),
		resp: NewLatency(), meter: NewMeter(250 * time.Millisecond), sent: map[string]time.Time{}, seen: map[string]time.Time{}, toEv: NewLatency()}
}

func (m *moInjector) inject(ctx context.Context) bool {
	text, ours, them, long := m.pick(m.take())
	mo := smscsim.MO{From: them, To: ours, Text: text}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t0 := time.Now()
	err := m.sim.InjectMO(ictx, mo)
	if err != nil {
		if ctx.Err() == nil {
			name := err.Error()
			switch {
			case errors.Is(err, smscsim.ErrNoReceiver):
				name = "no receiver bound"
			case errors.Is(err, smscsim.ErrLost):
				name = "connection lost"
			case errors.Is(err, context.DeadlineExceeded):
				name = "no answer in 30 s"
			}
			m.fails.add(name)
		}
		return false
	}
	m.resp.Record(time.Since(t0))
	m.meter.Add(1)
	if long {
		m.long2.Add(1)
	}
	tag := tagOf(text)
	m.mu.Lock()
	m.sent[tag] = t0
	if at, ok := m.seen[tag]; ok {
		m.toEv.Record(at.Sub(t0))
	}
	m.mu.Unlock()
	return true
}

// event takes a message.received event.
func (m *moInjector) event(ev event) {
	if ev.Kind != "message.received" {
		return
	}
	tag := tagOf(ev.Data.Text)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.seen[tag]; dup {
		return
	}
	m.seen[tag] = ev.At
	if t0, ok := m.sent[tag]; ok {
		m.toEv.Record(ev.At.Sub(t0))
	}
}

// counts returns acknowledged MO and how many of them were seen as events.
func (m *moInjector) counts() (acked, seen int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for tag := range m.sent {
		if _, ok := m.seen[tag]; ok {
			seen++
		}
	}
	return len(m.sent), seen
}

// run injects n MO (n < 0: until ctx ends) with conc at once, at most
// rate per second (0: no limit).
func (m *moInjector) run(ctx context.Context, n, conc int, rate float64, prog *Progress) {
	drive(ctx, n, conc, rate, prog, one(m.inject))
}

// verify lists the workspace's threads and checks every acknowledged MO
// is in one.
func (m *moInjector) verify(ctx context.Context, c *APIClient) (found int64, missing []string, err error) {
	texts, err := inboundTexts(ctx, c)
	if err != nil {
		return 0, nil, err
	}
	have := map[string]bool{}
	for t := range texts {
		have[tagOf(t)] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for tag := range m.sent {
		if have[tag] {
			found++
		} else if len(missing) < 10 {
			missing = append(missing, tag)
		}
	}
	return found, missing, nil
}

// waitSeen waits until every acknowledged MO was seen as an event, or
// timeout.
func (m *moInjector) waitSeen(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if acked, seen := m.counts(); seen >= acked {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runInbound(ctx context.Context, sc Scenario, rep *Report, prog *Progress) error {
	p := sc.Inbound
	numbers := ourNumbers(p.Numbers, numberOffset(sc))
	e, err := startEngine(ctx, sc, engineOptions{numbers: numbers}, prog)
	if err != nil {
		return err
	}
	defer e.close()
	rep.Against = e.against
	if e.sim == nil {
		return errors.New("inbound needs the simulator the engine binds to: give engine.sim_stats (--sim-stats)")
	}
	wc, err := setupWorkspace(ctx, e.api, "smppbench inbound", e.carrier, numbers, func(int) string { return "" })
	if err != nil {
		return fmt.Errorf("%w\n%s", err, e.logTail())
	}
	inj := newMOInjector(e.sim, numbers, p.Contacts, p.Long, fmt.Sprintf("mo %d", sc.Seed), sc.Seed)
	evCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	ready := make(chan struct{})
	go streamEvents(evCtx, wc, inj.event, ready)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
	}
	prog.Start(fmt.Sprintf("inbound: %d MO, %d at once", p.Messages, p.Concurrency), int64(p.Messages), "MO")
	cpu := startCPU(ctx, e)
	start := time.Now()
	inj.run(ctx, p.Messages, p.Concurrency, 0, prog)
	elapsed := time.Since(start)
	inj.waitSeen(ctx, p.Timeout)
	cpu.stop(ctx)
	stopEvents()
	found, missing, verr := inj.verify(ctx, wc)
	acked, seen := inj.counts()
	res := InboundResults{Injected: int64(acked), Failed: inj.fails.snapshot(), MORate: round3(float64(acked) / elapsed.Seconds()),
		InThreads: found, Missing: missing, DeliverResp: inj.resp.Summarize("deliver_sm → deliver_sm_resp"),
		ToEvent: inj.toEv.Summarize("deliver_sm → message.received event"), EventsSeen: int64(seen), InjectedLong: inj.long2.Load()}
	rep.Latencies = []Summary{res.DeliverResp, res.ToEvent}
	rep.metric("MO acknowledged", float64(res.Injected), "")
	rep.metric("MO rate", res.MORate, "MO/s")
	rep.metric("p50 deliver_sm → resp", res.DeliverResp.P50MS, "ms")
	rep.metric("p99 deliver_sm → resp", res.DeliverResp.P99MS, "ms")
	rep.metric("MO in threads", float64(res.InThreads), "")
	rep.Tables = append(rep.Tables, Table{Title: "Outcome", Columns: []string{"", "count"}, Rows: [][]string{
		{"MO acknowledged (all parts ESME_ROK)", fmt.Sprint(res.Injected)},
		{"of them concatenated (two parts)", fmt.Sprint(res.InjectedLong)},
		{"not acknowledged", formatCounts(res.Failed)},
		{"seen as message.received events", fmt.Sprint(res.EventsSeen)},
		{"found in a thread (GET /v1/threads…)", fmt.Sprint(res.InThreads)},
	}})
	cpu.report(rep, res.InThreads, "MO in thread")
	rep.Charts = append(rep.Charts,
		Chart{ID: "throughput", Title: "MO acknowledged over time", Kind: "line", XLabel: "seconds since start", YLabel: "MO/s",
			Series: []Series{{Name: "MO/s", Points: inj.meter.Series(300)}}},
		Chart{ID: "latency-percentiles", Title: "Inbound latency", Kind: "percentile", XLabel: "percentile", YLabel: "ms", Series: []Series{
			{Name: res.DeliverResp.Name, Points: res.DeliverResp.Curve, Group: 0},
			{Name: res.ToEvent.Name, Points: res.ToEvent.Curve, Group: 1},
		}})
	rep.check("every MO acknowledged", inj.fails.total() == 0 && res.Injected == int64(p.Messages), "%d of %d; failures %s", res.Injected, p.Messages, formatCounts(res.Failed))
	if verr != nil {
		rep.check("every MO in a thread", false, "listing threads: %v", verr)
	} else {
		rep.check("every MO in a thread", found == res.Injected && res.Injected > 0, "%d of %d found; missing e.g. %v", found, res.Injected, missing)
	}
	rep.Results = &res
	return nil
}
