package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// startEngineLogged is startEngine with the engine's log lines in logs.
func startEngineLogged(t *testing.T, cfg *config.Config, logs *testenv.LogBuffer) *testEngine {
	t.Helper()
	e, err := New(context.Background(), cfg, NewLogger(cfg.Log.Level, logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	te := &testEngine{Engine: e, cancel: cancel, done: make(chan error, 1), dbURL: cfg.Postgres.URL}
	go func() { te.done <- e.Run(ctx) }()
	testenv.Wait(t, 15*time.Second, "the engine to be ready", func() bool { return e.Ready(context.Background()) == nil }, func() string {
		return fmt.Sprintf("engine not ready: %v\n%s", e.Ready(context.Background()), tail(logs.String(), 30))
	})
	te.url = "http://" + e.listener.Addr().String()
	t.Cleanup(te.stop)
	return te
}

// reloadConfig writes a configuration file for one carrier and loads it.
type reloadConfig struct {
	t                   *testing.T
	path                string
	dbURL, prefix, inst string
	host, port          string
}

func newReloadConfig(t *testing.T, dbURL, carrierAddr string) *reloadConfig {
	_, prefix := testenv.Redis(t)
	host, port, _ := net.SplitHostPort(carrierAddr)
	return &reloadConfig{t: t, path: filepath.Join(t.TempDir(), "switchboard.yaml"), dbURL: dbURL, prefix: prefix,
		inst: testenv.UniqueName("engine-"), host: host, port: port}
}

// write writes the file with a carrier's window and TPS (and extra YAML
// inside the carrier's mapping) and the log level.
func (rc *reloadConfig) write(window, tps int, level, extra string) {
	rc.t.Helper()
	y := fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
log: {level: %s}
postgres: {url: %q}
redis: {url: %q, prefix: %q}
engine: {retry_min: 200ms, lease: 10s, drain_timeout: 3s, instance_id: %q}
throttle: {margin: %s}
rate_classes:
  - {name: shared, rate: 2000}
  - {name: dedicated, rate: 2000}
carriers:
  - {name: sim, host: %s, port: %s, system_id: sb, window: %d, tps: %d,
     message_ids: {submit: decimal}, reconnect_min: 20ms, reconnect_max: 200ms%s}
`, level, rc.dbURL, testenv.RedisURL(), rc.prefix, rc.inst, testMargin.D(), rc.host, rc.port, window, tps, extra)
	if err := os.WriteFile(rc.path, []byte(y), 0o600); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *reloadConfig) load() *config.Config {
	rc.t.Helper()
	c, err := config.Load(rc.path)
	if err != nil {
		rc.t.Fatal(err)
	}
	c.Operator.Token = testenv.OperatorToken
	return c
}

// windowOf is the window size and use of the engine's one bind.
func windowOf(te *testEngine) (size, inUse int) {
	for _, b := range te.binds() {
		return b.Window, b.InFlight
	}
	return -1, -1
}

// A reload under load: window 100 → 20 → 200, TPS halved and restored.
// No submit is lost, refused (0x58, 0x14) or sent twice; the one bind is
// never dropped; the window shrink holds the bind to 20 outstanding once
// the requests above it are answered; the halved TPS holds from the
// reload on; an invalid file leaves everything running and logs its field
// error.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "sim.jsonl")
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 150ms, window: 250,
  receipts: {delay: 5ms}, rate: {mode: sliding, account: 200}}]
log: `+logPath)
	rc := newReloadConfig(t, testenv.NewDatabase(t), sim.Addr(""))
	rc.write(100, 200, "info", "")
	var logs testenv.LogBuffer
	te := startEngineLogged(t, rc.load(), &logs)
	ws := testenv.Seed(t, te.store, "+14155552671")
	const total = 1800
	enqueueLoad(t, te.store, ws, "reload", total, 600)
	te.dispatcher.Kick()
	testenv.Eventually(t, "sending under way", func() bool { return sim.Stats().Accepted >= 200 })
	ctx := context.Background()
	reload := func(window, tps int) time.Time {
		t.Helper()
		rc.write(window, tps, "info", "")
		at := time.Now()
		if _, err := te.Reload(ctx, rc.load()); err != nil {
			t.Fatalf("reload window %d tps %d: %v", window, tps, err)
		}
		return at
	}

	reload(20, 200)
	testenv.Eventually(t, "the window at 20 with at most 20 outstanding", func() bool {
		size, inUse := windowOf(te)
		return size == 20 && inUse <= 20
	})
	for range 20 {
		if size, inUse := windowOf(te); size != 20 || inUse > 20 {
			t.Fatalf("after the shrink to 20: window %d, %d outstanding", size, inUse)
		}
		time.Sleep(25 * time.Millisecond) // the bound holds over half a second of sending, sampled
	}
	if acc := sim.Stats().Accepted; acc >= total-300 {
		t.Fatalf("the load ran out too soon for the test (%d accepted)", acc)
	}

	halvedAt := reload(200, 100)
	testenv.Eventually(t, "the window at 200", func() bool { size, _ := windowOf(te); return size == 200 })
	time.Sleep(2500 * time.Millisecond) // real time: seconds of sending at 100 TPS, measured below
	restoredAt := reload(200, 200)

	// An invalid file: the reload fails with the field, nothing changes.
	before := te.ConfigVersion()
	rc.write(-5, 200, "info", "")
	if _, err := te.ReloadFile(ctx, ""); err == nil || !strings.Contains(err.Error(), "carriers[0].window") {
		t.Fatalf("invalid reload: err %v, want the field carriers[0].window", err)
	}
	if v := te.ConfigVersion(); v.Version != before.Version || v.Hash != before.Hash || before.Version != 4 {
		t.Fatalf("config version %+v after an invalid reload, before %+v (want 4 before)", v, before)
	}
	if size, _ := windowOf(te); size != 200 {
		t.Fatalf("window %d after an invalid reload, want 200", size)
	}
	if !strings.Contains(logs.String(), `"level":"error"`) || !strings.Contains(logs.String(), `"field":"carriers[0].window"`) {
		t.Errorf("the invalid reload's field error is not in the log at error level:\n%s", tail(logs.String(), 20))
	}
	// The bind view shows the version in force.
	var view struct {
		Config ConfigVersion `json:"config"`
	}
	testenv.APICall(t, "GET", te.url+"/admin/v1/binds", testenv.OperatorToken, nil, &view)
	if view.Config.Version != 4 || view.Config.Hash != before.Hash || view.Config.LoadedAt.IsZero() {
		t.Errorf("GET /admin/v1/binds config = %+v, want version 4, hash %s", view.Config, before.Hash)
	}

	counts := waitAllFinal(t, te, 60*time.Second)
	if counts[inbox.StatusFailed] != 0 || counts[inbox.StatusExpired] != 0 {
		t.Errorf("final statuses: %v", counts)
	}
	st := sim.Stats()
	if st.Throttled != 0 || st.QueueFull != 0 {
		t.Errorf("the carrier refused submits: %d throttled (0x58), %d window full (0x14)", st.Throttled, st.QueueFull)
	}
	if st.Binds != 1 || st.Drops != 0 {
		t.Errorf("binds accepted: %d (want 1: none dropped), drops %d", st.Binds, st.Drops)
	}
	sim.Close()
	seen, _ := simTexts(t, logPath)
	if len(seen) != total {
		t.Errorf("%d distinct texts reached the carrier, want %d", len(seen), total)
	}
	for text, n := range seen {
		if n > 1 {
			t.Errorf("%q sent %d times", text, n)
		}
	}
	// TPS halved: no second after the reload (and before the restore)
	// holds more than 100 segments.
	var ts []time.Time
	for _, l := range testenv.ReadSimLog(t, logPath) {
		ts = append(ts, l.T)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	worst := 0
	for i, a := range ts {
		if a.Before(halvedAt.Add(50*time.Millisecond)) || a.Add(time.Second).After(restoredAt) {
			continue
		}
		k := sort.Search(len(ts), func(j int) bool { return !ts[j].Before(a.Add(time.Second)) })
		worst = max(worst, k-i)
	}
	t.Logf("TPS halved to 100: at most %d segments in a second after the reload", worst)
	if worst > 100 || worst < 50 {
		t.Errorf("while the TPS was 100, a second held %d segments (want 50 to 100)", worst)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// A reload adds a carrier (it binds; the API takes numbers on it at once;
// a message from such a number goes out on it), changes another's
// connection settings (only that carrier binds again, at its new address)
// and removes the added one (its binds drain and unbind). The carrier left
// alone is never dropped.
func TestReloadCarriersAddRebindRemove(t *testing.T) {
	t.Parallel()
	const acct = `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}}]`
	simA, simB, simC := testenv.StartSim(t, acct), testenv.StartSim(t, acct), testenv.StartSim(t, acct)
	rc := newReloadConfig(t, testenv.NewDatabase(t), simA.Addr(""))
	carrier := func(name string, sim interface{ Addr(string) string }) string {
		host, port, _ := net.SplitHostPort(sim.Addr(""))
		return fmt.Sprintf("\n  - {name: %s, host: %s, port: %s, system_id: sb, window: 20, tps: 100, message_ids: {submit: decimal}, reconnect_min: 20ms, reconnect_max: 200ms}", name, host, port)
	}
	write := func(extra string) *config.Config {
		t.Helper()
		rc.write(20, 100, "info", "")
		b, err := os.ReadFile(rc.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rc.path, append(b, []byte(extra+"\n")...), 0o600); err != nil {
			t.Fatal(err)
		}
		return rc.load()
	}
	te := startEngine(t, write(""))
	ctx := context.Background()
	bound := func(sim interface{ Stats() smscsim.Stats }) int64 { return sim.Stats().Bound }
	testenv.Eventually(t, "sim bound", func() bool { return bound(simA) == 1 })
	ws, tok := testenv.TenantOf(t, te.url, "acme")

	// Before the reload the API refuses numbers on carrier "second".
	refused := testenv.Call(t, te.url, "POST", "/admin/v1/numbers", testenv.OperatorToken,
		map[string]any{"number": "+14155550142", "kind": "dedicated", "workspace": ws, "carrier": "second"})
	testenv.Expect(t, refused, 422)

	ch, err := te.Reload(ctx, write(carrier("second", simB)))
	if err != nil || len(ch.Added) != 1 {
		t.Fatalf("reload adding a carrier: %+v %v", ch, err)
	}
	testenv.Eventually(t, "the added carrier bound", func() bool { return bound(simB) == 1 })
	testenv.Expect(t, testenv.Call(t, te.url, "POST", "/admin/v1/numbers", testenv.OperatorToken,
		map[string]any{"number": "+14155550142", "kind": "dedicated", "workspace": ws, "carrier": "second"}), 201)
	testenv.Expect(t, testenv.Call(t, te.url, "PUT", "/v1/sms/number", tok, map[string]any{"number": "+14155550142"}), 200)
	testenv.Expect(t, testenv.Call(t, te.url, "POST", "/v1/messages", tok, map[string]any{"to": "+447911123456", "text": "via second"}), 202)
	testenv.Eventually(t, "the message out on the added carrier", func() bool { return simB.Stats().Accepted == 1 })

	// sim moves to simC: it binds there; second is left alone.
	rc.host, rc.port, _ = net.SplitHostPort(simC.Addr(""))
	ch, err = te.Reload(ctx, write(carrier("second", simB)))
	if err != nil || len(ch.Rebind) != 1 || ch.Rebind[0] != "sim" {
		t.Fatalf("reload moving sim: %+v %v", ch, err)
	}
	testenv.Eventually(t, "sim bound at its new address, gone from the old", func() bool { return bound(simC) == 1 && bound(simA) == 0 })

	// second removed: it drains and unbinds; sim stays bound.
	ch, err = te.Reload(ctx, write(""))
	if err != nil || len(ch.Removed) != 1 {
		t.Fatalf("reload removing a carrier: %+v %v", ch, err)
	}
	testenv.Eventually(t, "the removed carrier unbound", func() bool { return bound(simB) == 0 })
	if b := simB.Stats().Binds; b != 1 {
		t.Errorf("the added carrier bound %d times (a reload that changes nothing of it must not rebind it)", b)
	}
	if b, n := simC.Stats().Binds, bound(simC); b != 1 || n != 1 {
		t.Errorf("sim at its new address: %d binds, %d bound", b, n)
	}
}
