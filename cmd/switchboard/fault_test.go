package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-sms/switchboard/engine"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// kill -9 of an engine under load: every accepted message reaches a final
// status once the survivors take its claims back, and the carrier sees a
// message twice only if it was in flight at the killed engine.
func TestFaultKill9UnderLoad(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "sim.jsonl")
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 20ms, receipts: {delay: 5ms}}]
log: `+logPath)
	dbURL := testenv.NewDatabase(t)
	_, prefix := testenv.Redis(t)
	extra := "" // the default engine config, lease 10s
	a := startProc(t, "engine-a", writeEngineConfig(t, dbURL, prefix, sim.Addr(""), "engine-a", extra))
	b := startProc(t, "engine-b", writeEngineConfig(t, dbURL, prefix, sim.Addr(""), "engine-b", extra))
	ctx := context.Background()
	db, store, err := engine.OpenStore(ctx, loadConfig(t, a.cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws := testenv.Seed(t, store, "+14155552671")
	const n = 1500
	var reqs []inbox.OutboundRequest
	for i := 0; i < n; i++ {
		reqs = append(reqs, inbox.OutboundRequest{Workspace: ws, To: fmt.Sprintf("+4479111%05d", i%300), Body: fmt.Sprintf("kill test %05d", i), Encoding: "GSM7", Segments: 1})
	}
	res, err := store.Enqueue(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	// Kill engine-a in the middle of the load.
	testenv.Eventually(t, "a third of the messages submitted", func() bool { return sim.Stats().Accepted >= n/3 })
	a.stop(syscall.SIGKILL)
	var inFlight int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE status = 'sending' AND lease_owner LIKE 'engine-a/%'`).Scan(&inFlight); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFinal(t, db, time.Minute, nil)
	recovery := time.Since(start)
	b.stop(syscall.SIGTERM)
	sim.Close()
	lost, dups := lostAndDuplicated(t, logPath, "kill test %05d", n)
	var delivered int
	db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'delivered'`).Scan(&delivered)
	t.Logf("kill -9 under load: accepted %d, delivered %d, lost %d, duplicates at the carrier %d (in flight at the kill %d), all final %v after the kill",
		len(res), delivered, lost, dups, inFlight, recovery.Round(time.Millisecond))
	testenv.FaultRow(t, "kill -9 of an engine process", fmt.Sprintf("%d msgs, 2 processes", n), n, lost, dups, 0)
	if lost != 0 || delivered != n {
		t.Fatalf("lost %d, delivered %d of %d", lost, delivered, n)
	}
	if dups > inFlight {
		t.Fatalf("%d duplicates, but only %d messages were in flight at the kill", dups, inFlight)
	}
	_ = pgx.ErrNoRows
}

// The only engine process is killed with kill -9 under load and restarted
// at once, with the claim lease at its default of 2 minutes: the restarted
// process takes its previous life's claims and bind slot back at once, so
// the backlog moves again within seconds (not after the lease); nothing is
// lost; what the carrier got twice is within what was in flight.
func TestFaultKill9OnlyEngineRestarted(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "sim.jsonl")
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 20ms, receipts: {delay: 5ms}}]
log: `+logPath)
	dbURL := testenv.NewDatabase(t)
	_, prefix := testenv.Redis(t)
	cfgPath := writeEngineConfig(t, dbURL, prefix, sim.Addr(""), "engine-solo", "")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(b), "lease: 10s", "lease: 2m", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "engine-solo", cfgPath)
	ctx := context.Background()
	db, store, err := engine.OpenStore(ctx, loadConfig(t, p.cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws := testenv.Seed(t, store, "+14155552671")
	n := 1500 * testenv.FaultScale()
	var reqs []inbox.OutboundRequest
	for i := 0; i < n; i++ {
		reqs = append(reqs, inbox.OutboundRequest{Workspace: ws, To: fmt.Sprintf("+4479111%05d", i%300), Body: fmt.Sprintf("solo kill %05d", i), Encoding: "GSM7", Segments: 1})
	}
	res, err := store.Enqueue(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	defer func() {
		if t.Failed() {
			t.Logf("engine log:\n%s", p.logs.String())
		}
	}()
	testenv.Eventually(t, "a third of the messages submitted", func() bool { return sim.Stats().Accepted >= int64(n/3) })
	p.stop(syscall.SIGKILL)
	killed := time.Now()
	var inFlight int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE status = 'sending' AND lease_owner LIKE 'engine-solo/%'`).Scan(&inFlight); err != nil {
		t.Fatal(err)
	}
	before := sim.Stats().Accepted
	p.start()
	restarted := time.Now()
	var moved time.Duration
	waitFinal(t, db, time.Minute, func() {
		if moved == 0 && sim.Stats().Accepted > before {
			moved = time.Since(restarted)
		}
	})
	total := time.Since(killed)
	p.stop(syscall.SIGTERM)
	sim.Close()
	lost, dups := lostAndDuplicated(t, logPath, "solo kill %05d", n)
	afterKill := restarted.Sub(killed) + moved
	t.Logf("kill -9 of the only engine, restarted at once (lease 2m): the backlog moved again %v after the restart (%v after the kill), all final %v after the kill; lost %d, duplicates %d (in flight at the kill %d)",
		moved.Round(time.Millisecond), afterKill.Round(time.Millisecond), total.Round(time.Millisecond), lost, dups, inFlight)
	testenv.FaultRow(t, "kill -9 of the only engine, restarted at once", fmt.Sprintf("%d msgs; moving again %.1f s after the kill", n, afterKill.Seconds()), n, lost, dups, 0)
	if lost != 0 {
		t.Fatalf("lost %d of %d", lost, n)
	}
	if dups > inFlight {
		t.Fatalf("%d duplicates, but only %d messages were in flight at the kill", dups, inFlight)
	}
	if moved == 0 || moved > 10*time.Second {
		t.Fatalf("the backlog moved again %v after the restart, want within 10 s", moved)
	}
}

// waitFinal waits until every outbound message of the database is final,
// failing the test after within.
func waitFinal(t *testing.T, db *pgxpool.Pool, within time.Duration, after func()) {
	t.Helper()
	var open int
	testenv.Wait(t, within, "every outbound message to be final", func() bool {
		if after != nil {
			after()
		}
		open = 0
		db.QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE direction = 'out' AND status NOT IN ('delivered','failed','expired','rejected')`).Scan(&open)
		return open == 0
	}, func() string { return fmt.Sprintf("%d messages not final %v after the fault", open, within) })
}

// lostAndDuplicated counts, in the simulator's log, the n texts of format
// (with the index 0..n-1) that never arrived and the extra copies of those
// that arrived more than once.
func lostAndDuplicated(t *testing.T, logPath, format string, n int) (lost, dups int) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range testenv.ReadSimLog(t, logPath) {
		seen[l.Text]++
	}
	for i := 0; i < n; i++ {
		switch c := seen[fmt.Sprintf(format, i)]; {
		case c == 0:
			lost++
		case c > 1:
			dups += c - 1
		}
	}
	return lost, dups
}
