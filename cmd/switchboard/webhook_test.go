package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/webhook/webhooktest"
)

// Webhooks end to end: two engine processes, the carrier simulator with
// receipts, and a receiver that verifies every signature and, for a while,
// answers 500s, times out and trickles its bodies. The process delivering
// the endpoint is killed with SIGKILL in the middle. Every message's final
// status (delivered) still arrives, verified, and no message's status goes
// backwards at the receiver.
func TestWebhooksSurviveKill9(t *testing.T) {
	t.Parallel()
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 5ms, receipts: {delay: 20ms}}]`)
	dbURL := testenv.NewDatabase(t)
	_, prefix := testenv.Redis(t)
	extra := "webhooks: {allow_private: [127.0.0.1], timeout: 1s, lease: 2s}\n"
	procs := map[string]*engineProc{}
	for _, name := range []string{"hooks-a", "hooks-b"} {
		procs[name] = startProc(t, name, writeEngineConfig(t, dbURL, prefix, sim.Addr(""), name, extra))
	}
	ctx := context.Background()
	db, store, err := engine.OpenStore(ctx, loadConfig(t, procs["hooks-a"].cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws := testenv.Seed(t, store, "+14155552671")

	recv, err := webhooktest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	var faulty atomic.Bool
	faulty.Store(true)
	recv.SetBehaviour(func(n int64, typ string) webhooktest.Answer {
		if !faulty.Load() {
			return webhooktest.Answer{}
		}
		switch n % 4 {
		case 0:
			return webhooktest.Answer{Status: 500}
		case 1:
			return webhooktest.Answer{Delay: 2 * time.Second} // past the 1 s timeout
		case 2:
			return webhooktest.Answer{SlowBody: 2 * time.Second}
		}
		return webhooktest.Answer{}
	})
	w, secret, err := store.CreateWebhook(ctx, ws, inbox.NewWebhook{URL: recv.URL, Types: []string{inbox.EventMessageStatus}})
	if err != nil {
		t.Fatal(err)
	}
	recv.SetSecrets(secret)

	n := 600
	var reqs []inbox.OutboundRequest
	for i := range n {
		reqs = append(reqs, inbox.OutboundRequest{Workspace: ws, To: fmt.Sprintf("+4479111%05d", i), Body: fmt.Sprintf("hook %d", i), Encoding: "GSM7", Segments: 1})
	}
	res, err := store.Enqueue(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		want[fmt.Sprint(r.ID)] = true
	}
	defer func() {
		if t.Failed() {
			for name, p := range procs {
				t.Logf("%s log (tail):\n%s", name, tail(p.logs.String(), 4000))
			}
		}
	}()
	testenv.Eventually(t, "some events accepted", func() bool { _, _, acc := recv.Stats(); return acc >= 50 })
	var owner string
	if err := db.QueryRow(ctx, `SELECT coalesce(lease_owner, '') FROM webhook_endpoints WHERE id = $1`, w.ID).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	victim := strings.Split(owner, "/")[0]
	if procs[victim] == nil {
		t.Fatalf("the endpoint is held by %q", owner)
	}
	procs[victim].stop(syscall.SIGKILL)
	t.Logf("killed %s (holding the endpoint) with %d events accepted", victim, len(recv.Events()))
	time.Sleep(3 * time.Second) // faults go on across the takeover
	faulty.Store(false)

	// Every message's delivered status arrives.
	final := func() map[string][]string {
		seq := map[string][]string{}
		evs := recv.Events()
		for _, id := range recv.Order() {
			var m struct{ ID, Status string }
			json.Unmarshal(evs[id].Data, &m)
			seq[m.ID] = append(seq[m.ID], m.Status)
		}
		return seq
	}
	done := 0
	testenv.Wait(t, 90*time.Second, "every message's delivered status", func() bool {
		seq := final()
		done = 0
		for id := range want {
			if s := seq[id]; len(s) > 0 && s[len(s)-1] == "delivered" {
				done++
			}
		}
		return done == n
	}, func() string { return fmt.Sprintf("%d of %d messages' delivered status arrived", done, n) })
	rank := map[string]int{"submitted": 1, "delivered": 2, "failed": 2, "expired": 2}
	for id, s := range final() {
		if !want[id] {
			t.Fatalf("an event about message %s, not one of ours", id)
		}
		for i := 1; i < len(s); i++ {
			if rank[s[i]] < rank[s[i-1]] {
				t.Fatalf("message %s: statuses %v went backwards", id, s)
			}
		}
	}
	requests, unverified, accepted := recv.Stats()
	if unverified != 0 {
		t.Fatalf("%d deliveries did not verify", unverified)
	}
	dups := 0
	for _, e := range recv.Events() {
		dups += e.Times - 1
	}
	t.Logf("%d requests, %d accepted (%d events, %d duplicates after faults and the kill)", requests, accepted, len(recv.Events()), dups)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
