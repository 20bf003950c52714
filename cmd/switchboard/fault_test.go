package main

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	final := func() int {
		var open int
		db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE direction = 'out' AND status NOT IN ('delivered','failed','expired','rejected')`).Scan(&open)
		return open
	}
	deadline := time.Now().Add(60 * time.Second)
	for final() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages not final a minute after the kill", final())
		}
		time.Sleep(100 * time.Millisecond)
	}
	recovery := time.Since(start)
	b.stop(syscall.SIGTERM)
	sim.Close()
	seen := map[string]int{}
	for _, l := range testenv.ReadSimLog(t, logPath) {
		seen[l.Text]++
	}
	dups, lost := 0, 0
	for i := 0; i < n; i++ {
		switch c := seen[fmt.Sprintf("kill test %05d", i)]; {
		case c == 0:
			lost++
		case c > 1:
			dups += c - 1
		}
	}
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
