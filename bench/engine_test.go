package bench

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// The engine scenarios in short mode, against real switchboard processes
// (built once from this checkout, or $SMPPBENCH_SWITCHBOARD), PostgreSQL
// and Redis ($DATABASE_URL, $REDIS_URL; scripts/services.sh up), and the
// in-process simulator. Their numbers are checked for sanity, not speed.

var (
	engineOnce sync.Once
	engineBin  string
	engineErr  error
)

func engineBinary(t *testing.T) string {
	t.Helper()
	engineOnce.Do(func() {
		if p := os.Getenv("SMPPBENCH_SWITCHBOARD"); p != "" {
			engineBin = p
			return
		}
		dir, err := os.MkdirTemp("", "smppbench-test-")
		if err != nil {
			engineErr = err
			return
		}
		engineBin, engineErr = buildSwitchboard(context.Background(), dir, nil)
	})
	if engineErr != nil {
		t.Fatal(engineErr)
	}
	return engineBin
}

func runEngineScenario(t *testing.T, name string, edit func(*Scenario)) *Report {
	t.Helper()
	sc := Defaults(name, true)
	sc.Engine.Switchboard = engineBinary(t)
	// The engines count at a strict carrier while the whole suite runs
	// under the race detector on two cores, where a write is late by tens
	// of milliseconds now and then: a wider throttle margin than the
	// default 10 ms (measured on an idle machine), as engine's testMargin.
	sc.Engine.ThrottleMargin = 50 * time.Millisecond
	sc.Out = t.TempDir()
	if edit != nil {
		edit(&sc)
	}
	rep, err := Run(context.Background(), sc, nil)
	if errors.Is(err, ErrNoAPI) {
		t.Skipf("skipped: %v — the engine binary does not mount the HTTP API yet", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var txt strings.Builder
	rep.WriteText(&txt)
	t.Logf("\n%s", txt.String())
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("check %q failed: %s", c.Name, c.Detail)
		}
	}
	checkFiles(t, sc.Out)
	return rep
}

func TestThrottleShort(t *testing.T) {
	rep := runEngineScenario(t, ScenarioThrottle, nil)
	res := rep.Results.(*ThrottleResults)
	if res.Violations != 0 {
		t.Errorf("%d violations", res.Violations)
	}
	for _, n := range res.Numbers {
		if n.Accepted != n.Segments {
			t.Errorf("%s: the carrier accepted %d of %d segments", n.Number, n.Accepted, n.Segments)
		}
		if n.Utilisation < 80 || n.Utilisation > 120 {
			t.Errorf("%s: utilisation %.1f%%, want 80–120%%", n.Number, n.Utilisation)
		}
		if float64(n.MaxPerSecond) > n.Limit || n.MaxPerSecond < int64(n.Rate) {
			t.Errorf("%s: %d in 1 s against rate %v + burst %d", n.Number, n.MaxPerSecond, n.Rate, n.Burst)
		}
	}
	if res.Processes != 2 {
		t.Errorf("%d processes", res.Processes)
	}
}

func TestE2EShort(t *testing.T) {
	rep := runEngineScenario(t, ScenarioE2E, nil)
	res := rep.Results.(*E2EResults)
	if res.Accepted != int64(Defaults(ScenarioE2E, true).E2E.Messages) || res.Delivered != res.Accepted {
		t.Errorf("accepted %d, delivered %d", res.Accepted, res.Delivered)
	}
	if res.AcceptRate <= 0 || res.DeliveredRate <= 0 {
		t.Errorf("rates %v %v", res.AcceptRate, res.DeliveredRate)
	}
	// The stages happen in order.
	s := res.Stages
	if !(s[1].P50MS <= s[2].P50MS && s[2].P50MS <= s[3].P50MS) || s[0].Count != res.Accepted || s[3].Count != res.Delivered {
		t.Errorf("stages out of order: %+v", s)
	}
	checkCPU(t, rep, res.Delivered)
}

// checkCPU checks the CPU split of a run whose engine the bench started:
// the engine, the bench and Redis are always measured; PostgreSQL when
// its data directory is readable here (it says why not otherwise).
func checkCPU(t *testing.T, rep *Report, msgs int64) {
	t.Helper()
	c := rep.CPU
	if c == nil {
		t.Fatal("no CPU split")
	}
	if c.Messages != msgs || c.WallSeconds <= 0 {
		t.Errorf("CPU split over %d messages, %v s", c.Messages, c.WallSeconds)
	}
	for name, f := range map[string]CPUFigure{"engine": c.Engine, "bench": c.Bench, "redis": c.Redis, "machine": c.Machine} {
		if f.Seconds == nil || f.MicrosPerMessage == nil || f.Cores == nil || f.NA != "" {
			t.Errorf("%s: not measured: %+v", name, f)
		} else if *f.Seconds <= 0 && name != "redis" {
			t.Errorf("%s: %v s of CPU", name, *f.Seconds)
		}
	}
	for name, f := range map[string]CPUFigure{"postgresql": c.PostgreSQL, "postgresql_run_backends": c.PostgreSQLRun} {
		if (f.Seconds == nil) == (f.NA == "") {
			t.Errorf("%s: %+v", name, f)
		}
		if f.Seconds == nil {
			t.Logf("%s: n/a: %s", name, f.NA)
		}
	}
	if c.PostgreSQL.Seconds != nil && c.PostgreSQLRun.Seconds != nil && *c.PostgreSQLRun.Seconds > *c.PostgreSQL.Seconds+0.05 {
		t.Errorf("the run's backends %v s > the whole server %v s", *c.PostgreSQLRun.Seconds, *c.PostgreSQL.Seconds)
	}
	if c.StatementsNA == "" && (c.StatementsAll == nil || c.StatementsAll.Calls == 0 || len(c.Statements) == 0) {
		t.Errorf("pg_stat_statements: %+v", c.Statements)
	}
	for _, s := range c.Statements {
		if strings.Contains(s.Query, "smppbench cpu") {
			t.Errorf("the meter's own query: %q", s.Query)
		}
	}
}

// TestE2EBatchShort: the e2e scenario through POST /v1/messages/batch,
// 50 messages a request and a shorter last one: every message accepted
// once, tracked by its id and delivered.
func TestE2EBatchShort(t *testing.T) {
	const n = 320
	rep := runEngineScenario(t, ScenarioE2E, func(sc *Scenario) { sc.E2E.Messages, sc.E2E.Batch = n, 50 })
	res := rep.Results.(*E2EResults)
	if res.Accepted != n || res.Delivered != n || len(res.HTTPErrors) != 0 {
		t.Errorf("accepted %d, delivered %d, errors %v", res.Accepted, res.Delivered, res.HTTPErrors)
	}
	if s := res.Stages; s[0].Count != n || s[4].Count != n || s[0].Name != "accepted (batch POST → 200)" {
		t.Errorf("stages: %+v", s)
	}
}

func TestInboundShort(t *testing.T) {
	rep := runEngineScenario(t, ScenarioInbound, nil)
	res := rep.Results.(*InboundResults)
	if res.Injected != int64(Defaults(ScenarioInbound, true).Inbound.Messages) || res.InThreads != res.Injected {
		t.Errorf("acknowledged %d, in threads %d", res.Injected, res.InThreads)
	}
	if res.MORate <= 0 || res.DeliverResp.P50MS <= 0 || res.InjectedLong == 0 {
		t.Errorf("%+v", res)
	}
	checkCPU(t, rep, res.InThreads)
}

func TestSoakShort(t *testing.T) {
	rep := runEngineScenario(t, ScenarioSoak, nil)
	res := rep.Results.(*SoakResults)
	if res.Accepted == 0 || res.MOAcked == 0 {
		t.Errorf("no traffic: %+v", res)
	}
	if res.Drops == 0 && res.MutedDrops == 0 && res.Injected == 0 {
		t.Errorf("no fault happened: %+v", res)
	}
}
