package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine"
	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// TestMain lets the test binary be the switchboard binary: with SB_MAIN set
// it runs main's run with the arguments in SB_MAIN_ARGS (separated by the unit separator, 0x1F).
// Tests start real engine processes this way, with the code under test.
func TestMain(m *testing.M) {
	if os.Getenv("SB_MAIN") != "" {
		os.Exit(run(strings.Split(os.Getenv("SB_MAIN_ARGS"), "\x1f"), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// engineProc is an engine running as its own OS process.
type engineProc struct {
	t      *testing.T
	name   string
	cfg    string // config file
	env    []string
	cmd    *exec.Cmd
	http   string
	logs   *testenv.LogBuffer
	exited chan struct{}
}

// writeEngineConfig writes an engine config for a process and returns its path.
func writeEngineConfig(t *testing.T, dbURL, redisPrefix, carrierAddr, instance string, extra string) string {
	t.Helper()
	return writeEngineConfigWith(t, dbURL, redisPrefix, carrierAddr, instance, "", extra)
}

// writeEngineConfigWith is writeEngineConfig with more fields of the engine
// section (engineFields, e.g. "claim_batch: 20, in_flight: 40").
func writeEngineConfigWith(t *testing.T, dbURL, redisPrefix, carrierAddr, instance, engineFields, extra string) string {
	t.Helper()
	if engineFields != "" {
		engineFields = ", " + engineFields
	}
	host, port, _ := net.SplitHostPort(carrierAddr)
	yaml := fmt.Sprintf(`
http: {listen: "127.0.0.1:%d"}
log: {level: info}
postgres: {url: %q}
redis: {url: %q, prefix: %q}
engine: {retry_min: 200ms, lease: 10s, drain_timeout: 3s, instance_id: %q%s}
rate_classes:
  - {name: shared, rate: 50}
  - {name: dedicated, rate: 200}
carriers:
  - {name: sim, host: %s, port: %s, system_id: sb, window: 50, tps: 2000,
     binds: 1, max_binds: 4, reconnect_min: 20ms, reconnect_max: 200ms}
%s`, testenv.FreePort(t), dbURL, testenv.RedisURL(), redisPrefix, instance, engineFields, host, port, extra)
	path := filepath.Join(t.TempDir(), instance+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func startProc(t *testing.T, name, cfgPath string, env ...string) *engineProc {
	t.Helper()
	p := &engineProc{t: t, name: name, cfg: cfgPath, env: env}
	p.start()
	t.Cleanup(func() { p.stop(syscall.SIGTERM) })
	return p
}

var httpAddrRE = regexp.MustCompile(`"http":"([0-9.:]+)"`)

func (p *engineProc) start() {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "SB_MAIN=1", "SB_MAIN_ARGS=serve\x1f--config\x1f"+p.cfg), p.env...)
	p.logs = &testenv.LogBuffer{}
	pr, pw := io.Pipe()
	cmd.Stdout = p.logs
	cmd.Stderr = io.MultiWriter(p.logs, pw)
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() { cmd.Wait(); pw.Close(); close(p.exited) }()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if m := httpAddrRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case p.http = <-found:
	case <-p.exited:
		p.t.Fatalf("%s exited at start:\n%s", p.name, p.logs.String())
	case <-time.After(20 * time.Second):
		p.t.Fatalf("%s did not start:\n%s", p.name, p.logs.String())
	}
}

// stop signals the process and waits for it (SIGKILL after 15 s).
func (p *engineProc) stop(sig syscall.Signal) {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// waitReady waits until the process answers GET /readyz with 200 (its
// store answers and a bind is up), or fails the test.
func (p *engineProc) waitReady() {
	p.t.Helper()
	testenv.Wait(p.t, 20*time.Second, p.name+" ready", func() bool {
		resp, err := http.Get("http://" + p.http + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, p.logs.String)
}

// metric returns the value of one sample of the process's /metrics, or -1.
func (p *engineProc) metric(name string) float64 {
	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(line[len(name):]), 64)
			return v
		}
	}
	return -1
}

// loadConfig loads an engine config file as the process does.
func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Two engine processes share one queue (four sender numbers): every
// message is sent exactly once, and both do part of the work. The queue is
// filled through the store, which wakes no dispatcher: each finds the work
// at its next poll (every 200 ms). So the work must outlast a few polls:
// each process holds at most 40 messages (claims of 20) and the carrier
// answers in 100 ms, at most 400 a second a process. (With a 2 ms carrier
// and the default 5,000, one process sent all 400 within 180 ms, before the
// other's next poll, in one run of five to fifteen.) Both are bound before
// the queue fills: a process without a bind leaves the queue to the others.
func TestProcessesShareTheWork(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "sim.jsonl")
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 100ms, receipts: {delay: 5ms}}]
log: `+logPath)
	dbURL := testenv.NewDatabase(t)
	_, prefix := testenv.Redis(t)
	const small = "claim_batch: 20, in_flight: 40"
	procs := []*engineProc{
		startProc(t, "engine-a", writeEngineConfigWith(t, dbURL, prefix, sim.Addr(""), "engine-a", small, "")),
		startProc(t, "engine-b", writeEngineConfigWith(t, dbURL, prefix, sim.Addr(""), "engine-b", small, "")),
	}
	for _, p := range procs {
		p.waitReady()
	}
	db, store, err := engine.OpenStore(context.Background(), loadConfig(t, procs[0].cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws := testenv.Seed(t, store, "+14155552671")
	const n = 400
	ctx := context.Background()
	froms := []string{"+14155552671", "+14155552672", "+14155552673", "+14155552674"}
	for _, e164 := range froms[1:] {
		num, err := store.AddNumber(ctx, inbox.NewNumber{E164: e164, Kind: inbox.Dedicated, Carrier: "sim", Owner: ws})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.ConnectNumber(ctx, ws, num.ID); err != nil {
			t.Fatal(err)
		}
	}
	var reqs []inbox.OutboundRequest
	for i := 0; i < n; i++ {
		text := fmt.Sprintf("message %04d", i)
		// Many contacts, so many threads can go at once.
		reqs = append(reqs, inbox.OutboundRequest{Workspace: ws, From: froms[i%len(froms)], To: fmt.Sprintf("+4479111%05d", i%200),
			Body: text, Encoding: "GSM7", Segments: 1})
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
	for _, r := range res {
		testenv.WaitStatus(t, store, ws, r.ID, inbox.StatusDelivered)
	}
	claimed := []float64{}
	for _, p := range procs {
		claimed = append(claimed, p.metric(`switchboard_dispatch_total{event="claimed"}`))
	}
	for _, p := range procs {
		p.stop(syscall.SIGTERM)
	}
	sim.Close()
	seen := map[string]int{}
	for _, l := range testenv.ReadSimLog(t, logPath) {
		seen[l.Text]++
	}
	for i := 0; i < n; i++ {
		text := fmt.Sprintf("message %04d", i)
		if seen[text] != 1 {
			t.Errorf("%q reached the carrier %d times", text, seen[text])
		}
	}
	if claimed[0] <= 0 || claimed[1] <= 0 || claimed[0]+claimed[1] < n {
		l := procs[1].logs.String()
		t.Fatalf("claims per process %v: the work was not shared; engine-b's log ends:\n%s", claimed, l[max(0, len(l)-4000):])
	}
	t.Logf("claims per process: %v", claimed)
	_ = smscsim.MO{}
}
