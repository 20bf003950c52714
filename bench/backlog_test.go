package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nyaruka/phonenumbers"
)

// A small backlog (20,000 messages over 200 numbers, 1,000 threads) through
// the whole scenario: the SQL load has the API's shape and writes the same
// tables, the engine sends after each start, and the figures are real.
func TestBacklogScenario(t *testing.T) {
	rep := runEngineScenario(t, ScenarioBacklog, func(sc *Scenario) {
		sc.Backlog.Numbers, sc.Backlog.Messages, sc.Backlog.Contacts = 200, 20000, 5
		sc.Backlog.Sample, sc.Backlog.Chunk = 1000, 1000
		sc.Backlog.Duration = 2 * time.Second
	})
	res, ok := rep.Results.(*BacklogResults)
	if !ok {
		t.Fatalf("results: %T", rep.Results)
	}
	for _, c := range rep.Checks {
		// The goals are findings; in short mode both should hold anyway,
		// but the machine under test load is not the measure of them.
		if !c.OK && !strings.Contains(c.Name, "issue 15") {
			t.Errorf("check failed: %s: %s", c.Name, c.Detail)
		}
	}
	if len(res.ShapeDiff) != 0 {
		t.Errorf("shapes differ: %v", res.ShapeDiff)
	}
	if res.QueuedBeforeStart != 20000 {
		t.Errorf("%d queued before the engine started, want 20000", res.QueuedBeforeStart)
	}
	for _, want := range []string{"message_changes", "messages", "threads"} {
		if !strings.Contains(strings.Join(res.TablesSQL, " "), want) {
			t.Errorf("the SQL load wrote %v, not %s", res.TablesSQL, want)
		}
	}
	if len(res.Starts) != 2 {
		t.Fatalf("%d starts measured, want 2", len(res.Starts))
	}
	for _, st := range res.Starts {
		if !(st.ReadySeconds > 0 && st.FirstSubmitSeconds >= st.ReadySeconds-1 && st.FirstSubmitSeconds < 60) {
			t.Errorf("%s: ready %.3f s, first submit %.3f s", st.Name, st.ReadySeconds, st.FirstSubmitSeconds)
		}
		if st.Accepted <= 0 || st.Rate <= 0 || st.RSSMax <= 0 || st.HWM < st.RSSMax || len(st.RSS) == 0 {
			t.Errorf("%s: accepted %d, rate %.1f, RSS %d, HWM %d, %d samples", st.Name, st.Accepted, st.Rate, st.RSSMax, st.HWM, len(st.RSS))
		}
		if st.Dispatch["accepted"] <= 0 || st.Dispatch["claimed"] < st.Dispatch["accepted"] {
			t.Errorf("%s: dispatcher counters %v", st.Name, st.Dispatch)
		}
		// Each number's first segment, from the simulator's log: within
		// the window, in order, and at most one number per segment.
		f := st.FirstPerNumber
		if st.NumbersSent < 1 || st.NumbersSent > 200 ||
			!(f[0] >= st.FirstSubmitSeconds-0.5 && f[0] <= f[1] && f[1] <= f[2] && f[2] <= st.end.Sub(st.start).Seconds()) {
			t.Errorf("%s: %d numbers sent, first submits %v (first submit_sm at %.3f s)", st.Name, st.NumbersSent, f, st.FirstSubmitSeconds)
		}
	}
	if res.LoadSeconds <= 0 || res.DatabaseBytes <= 0 {
		t.Errorf("load %.3f s, database %d bytes", res.LoadSeconds, res.DatabaseBytes)
	}
}

// The SQL load alone (no measured engine), then one SQL-loaded message
// behind its thread's head given a due time: compareShapes reports it.
func TestBacklogShapeCheckFails(t *testing.T) {
	sc := Defaults(ScenarioBacklog, true)
	sc.Engine.Switchboard = engineBinary(t)
	sc.Backlog.Numbers, sc.Backlog.Messages, sc.Backlog.Contacts, sc.Backlog.Sample = 30, 3000, 4, 300
	ctx := context.Background()
	r := &backlogRun{sc: sc, p: sc.Backlog, numbers: backlogNumbers(sc.Backlog.Numbers)}
	defer r.close()
	if err := r.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	var res BacklogResults
	if err := r.load(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.ShapeDiff) != 0 || len(res.ConnectionShapeDiff) != 0 || res.QueuedBeforeStart != 3000 {
		t.Fatalf("after the load: %d queued, shapes differ: %v %v", res.QueuedBeforeStart, res.ShapeDiff, res.ConnectionShapeDiff)
	}
	c, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	tag, err := c.Exec(ctx, `UPDATE messages SET due_at = now()
		WHERE id = (SELECT min(id) FROM messages WHERE id >= $1 AND due_at IS NULL)`, res.FirstSQLID)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("marking a message behind a head due: %v, %d rows", err, tag.RowsAffected())
	}
	diff, err := compareShapes(ctx, c, res.Workspace, res.FirstSQLID)
	if err != nil {
		t.Fatal(err)
	}
	if len(diff) != 1 || !strings.HasPrefix(diff[0], "SQL only: ") || !strings.Contains(diff[0], `"due_iff_head": false`) {
		t.Errorf("a message behind its head with a due time: compareShapes reported %v", diff)
	}
	// A number connected by SQL but disabled.
	if _, err := c.Exec(ctx, "UPDATE number_connections SET enabled = false WHERE number_id = (SELECT id FROM numbers WHERE e164 = $1)", r.numbers[apiConnected]); err != nil {
		t.Fatal(err)
	}
	if diff, err := compareConnections(ctx, c, res.Workspace, r.numbers); err != nil || len(diff) != 1 || !strings.Contains(diff[0], `"enabled": false`) || !strings.HasPrefix(diff[0], "SQL only: number_connections") {
		t.Errorf("a disabled connection: compareConnections reported %v, %v", diff, err)
	}
}

func TestParseProcMemory(t *testing.T) {
	rss, hwm, err := parseProcMemory("Name:\tswitchboard\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n")
	if err != nil || rss != 100<<20 || hwm != 200<<20 {
		t.Fatalf("rss %d, hwm %d, %v", rss, hwm, err)
	}
	for _, bad := range []string{"Name:\tkthreadd\n", "VmRSS:\t12 MB\nVmHWM:\t1 kB\n", "VmRSS:\tx kB\nVmHWM:\t1 kB\n"} {
		if _, _, err := parseProcMemory(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestShapeDiff(t *testing.T) {
	api := map[string]bool{"head": true, "tail": true}
	if d := shapeDiff(api, map[string]bool{"head": true, "tail": true}); len(d) != 0 {
		t.Errorf("equal sets: %v", d)
	}
	d := shapeDiff(api, map[string]bool{"head": true, "odd": true})
	if len(d) != 2 || d[0] != "API only: tail" || d[1] != "SQL only: odd" {
		t.Errorf("%v", d)
	}
}

func TestBacklogNumbersAreValid(t *testing.T) {
	ns := backlogNumbers(maxBacklogNumbers)
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 9999, 10000, 54321, maxBacklogNumbers - 1} {
		p, err := phonenumbers.Parse(ns[i], "ZZ")
		if err != nil || !phonenumbers.IsValidNumber(p) {
			t.Errorf("%s is not a valid number", ns[i])
		}
	}
	for _, n := range ns {
		if seen[n] {
			t.Fatalf("%s twice", n)
		}
		seen[n] = true
	}
}

func TestBacklogChecks(t *testing.T) {
	for name, edit := range map[string]func(*Scenario){
		"engine url":  func(sc *Scenario) { sc.Engine.URL, sc.Engine.OperatorToken = "http://127.0.0.1:1", "t" },
		"numbers":     func(sc *Scenario) { sc.Backlog.Numbers = 0 },
		"sample":      func(sc *Scenario) { sc.Backlog.Sample = 1001 },
		"few":         func(sc *Scenario) { sc.Backlog.Messages = 10 },
		"processes":   func(sc *Scenario) { sc.Engine.Processes = 2 },
		"chunk":       func(sc *Scenario) { sc.Backlog.Chunk = 0 },
		"big chunk":   func(sc *Scenario) { sc.Backlog.Chunk = 1001 },
		"number rate": func(sc *Scenario) { sc.Backlog.NumberRate = 0 },
	} {
		sc := Defaults(ScenarioBacklog, false)
		if err := sc.Check(); err != nil {
			t.Fatalf("defaults: %v", err)
		}
		edit(&sc)
		if err := sc.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
