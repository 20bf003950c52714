package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/smscsim"
)

// The engine scenarios drive real switchboard processes. The bench starts
// them itself (engine.url empty): a database of the run's own on the
// PostgreSQL server, a Redis key prefix of its own, an in-process smscsim
// as the carrier "sim", N `switchboard serve` processes with a config the
// bench writes, and the operator token it makes up. Or it is pointed at a
// running engine (engine.url, engine.operator_token) and the smscsim that
// engine binds to (engine.sim_stats).

// Environment variables the bench gives the processes it starts.
const (
	envOperatorToken = "SMPPBENCH_OPERATOR_TOKEN"
	envSMSCPassword  = "SMPPBENCH_SMSC_PASSWORD"
	engineSystemID   = "switchboard"
	engineSimPass    = "bench"
)

// classDef is a rate class the started engine is configured with.
type classDef struct {
	Name  string
	Rate  float64
	Burst int
	// RateOnly writes the class with its rate and no burst: the engine's
	// default for a class (fairness).
	RateOnly bool
}

// engineRun is an engine (one or more processes) and its carrier.
type engineRun struct {
	api     *APIClient // operator API of the first process
	bases   []string   // every process's base URL
	carrier string
	sim     simControl
	inproc  *smscsim.Sim // the simulator the bench started, or nil
	simLog  string       // its message log, when started here
	procs   []*engineProc
	dir     string // logs and configs
	keep    bool
	cleanup []func()
	against string
	// dbURL (the run's database) and redisURL, when the bench started the
	// engine; "" otherwise.
	dbURL, redisURL string
	// pprof is the first process's runtime-profile address (host:port)
	// when the scenario asks for a profile; profile is how long, and
	// profileOut the file it is written to.
	pprof      string
	profile    time.Duration
	profileOut string
}

// engineOptions says what a scenario needs of the engine it starts.
type engineOptions struct {
	classes []classDef
	numbers []string // our numbers, for the simulator's MO routing
	tps     float64  // the carrier account's rate; 0: sc.Carrier.TPS
	// accountTPS, when > 0, is the carrier account's rate exactly (tps
	// and sc.Carrier.TPS are then ignored), written without a burst.
	accountTPS float64
	logSim     bool // keep the simulator's message log (per-message accept times)
	// simRate is the simulator's rate limits; nil: none.
	simRate *smscsim.RateConfig
	// webhooksLoopback lets webhooks reach 127.0.0.1 (the bench's own
	// receiver).
	webhooksLoopback bool
}

// startEngine starts (or connects to) the engine of an engine scenario.
func startEngine(ctx context.Context, sc Scenario, opt engineOptions, prog *Progress) (*engineRun, error) {
	if sc.Engine.URL != "" {
		return connectEngine(ctx, sc)
	}
	e := &engineRun{carrier: "sim", keep: sc.Engine.Keep}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	var err error
	if e.dir, err = os.MkdirTemp("", "smppbench-"+sc.Scenario+"-"); err != nil {
		return nil, err
	}
	bin, err := findSwitchboard(ctx, sc.Engine.Switchboard, e.dir, prog)
	if err != nil {
		return nil, err
	}
	runID := fmt.Sprintf("%d_%s", time.Now().Unix(), randomHex(3))

	// The carrier.
	simCfg, err := simConfig(sc, opt)
	if err != nil {
		return nil, err
	}
	if opt.logSim {
		e.simLog = filepath.Join(e.dir, "smscsim.jsonl")
		simCfg.Log = e.simLog
	}
	sim, err := smscsim.Start(simCfg)
	if err != nil {
		return nil, fmt.Errorf("starting the simulator: %w", err)
	}
	e.inproc, e.sim = sim, inprocSim{sim}
	e.cleanup = append(e.cleanup, func() { sim.Close() })

	// A database and a Redis prefix of the run's own.
	dbURL, dropDB, err := createDatabase(ctx, envOr(sc.Engine.DatabaseURL, "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "smppbench_"+runID)
	if err != nil {
		return nil, err
	}
	if !e.keep {
		e.cleanup = append(e.cleanup, dropDB)
	}
	e.dbURL = dbURL
	redisURL := envOr(sc.Engine.RedisURL, "REDIS_URL", "redis://127.0.0.1:6379/0")
	prefix := "smppbench:" + runID + ":"
	clearKeys, err := redisCleaner(ctx, redisURL, prefix)
	if err != nil {
		return nil, err
	}
	if !e.keep {
		e.cleanup = append(e.cleanup, clearKeys)
	}
	e.redisURL = redisURL

	token := "bench-op-" + randomHex(16)
	tps, burst := sc.Carrier.TPS, sc.Carrier.TPSBurst
	if opt.tps > tps {
		tps, burst = opt.tps, max(burst, int(opt.tps/10))
	}
	burst = max(burst, 1)
	if opt.accountTPS > 0 {
		tps, burst = opt.accountTPS, 0
	}
	host, port, _ := net.SplitHostPort(sim.Addr(""))
	for i := 0; i < sc.Engine.Processes; i++ {
		httpAddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		pprofAddr := ""
		if i == 0 && sc.Engine.Profile > 0 {
			if pprofAddr, err = freeAddr(); err != nil {
				return nil, err
			}
			e.pprof, e.profile = pprofAddr, sc.Engine.Profile
			e.profileOut = filepath.Join(e.dir, "engine.cpu.pprof")
			if sc.Out != "" {
				e.profileOut = filepath.Join(sc.Out, "engine.cpu.pprof")
			}
		}
		cfg := engineConfig(engineConfigArgs{
			http: httpAddr, db: dbURL, redis: redisURL, prefix: prefix, instance: fmt.Sprintf("bench-%d", i+1),
			classes: opt.classes, host: host, port: port, binds: sc.Carrier.Binds, maxBinds: sc.Carrier.Binds * sc.Engine.Processes,
			window: sc.Carrier.Window, tps: tps, burst: burst, margin: sc.Engine.ThrottleMargin, pprof: pprofAddr,
			webhooksLoopback: opt.webhooksLoopback,
		})
		path := filepath.Join(e.dir, fmt.Sprintf("switchboard-%d.yaml", i+1))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		p, err := startEngineProc(ctx, bin, path, filepath.Join(e.dir, fmt.Sprintf("switchboard-%d.log", i+1)),
			[]string{envOperatorToken + "=" + token, envSMSCPassword + "=" + engineSimPass})
		if err != nil {
			return nil, err
		}
		e.procs = append(e.procs, p)
		base := "http://" + httpAddr
		// The first process migrates the database; the others start once
		// it is ready.
		if err := waitReady(ctx, base, p); err != nil {
			return nil, err
		}
		e.bases = append(e.bases, base)
	}
	e.api = NewAPIClient(e.bases[0], token)
	e.against = fmt.Sprintf("%d switchboard process(es) (%s) and smscsim (in-process), PostgreSQL database smppbench_%s, Redis prefix %s",
		len(e.procs), bin, runID, prefix)
	ok = true
	return e, nil
}

// connectEngine uses a running engine.
func connectEngine(ctx context.Context, sc Scenario) (*engineRun, error) {
	e := &engineRun{carrier: sc.Engine.CarrierName, keep: true, bases: []string{strings.TrimRight(sc.Engine.URL, "/")}}
	e.api = NewAPIClient(e.bases[0], sc.Engine.OperatorToken)
	if sc.Engine.SimStats != "" {
		e.sim = httpSim{base: "http://" + strings.TrimPrefix(sc.Engine.SimStats, "http://"), hc: &http.Client{Timeout: 60 * time.Second}}
	}
	if err := waitReady(ctx, e.bases[0], nil); err != nil {
		return nil, err
	}
	e.against = "the running engine at " + sc.Engine.URL
	if sc.Engine.SimStats != "" {
		e.against += " and the smscsim at " + sc.Engine.SimStats
	}
	return e, nil
}

// close stops the processes (SIGTERM, then SIGKILL after 15 s) and the
// simulator, and removes what the run made unless keep.
func (e *engineRun) close() {
	var wg sync.WaitGroup
	for _, p := range e.procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
	if e.dir != "" && !e.keep {
		os.RemoveAll(e.dir)
	}
}

// logTail returns the end of every process's log, for errors.
func (e *engineRun) logTail() string {
	var b strings.Builder
	for i, p := range e.procs {
		fmt.Fprintf(&b, "--- switchboard-%d log (%s) ---\n%s\n", i+1, p.log, tail(p.log, 3000))
	}
	return b.String()
}

// simConfig is the simulated carrier of the engine scenarios.
func simConfig(sc Scenario, opt engineOptions) (smscsim.Config, error) {
	s := sc.Sim
	acct := smscsim.AccountConfig{
		SystemID: engineSystemID, Password: engineSimPass, Latency: s.Latency, Numbers: opt.numbers,
		Receipts: smscsim.ReceiptConfig{Delay: s.ReceiptDelay, Outcomes: s.Outcomes, BeforeResp: s.ReceiptFirst, BeforeRespGap: 5 * time.Millisecond},
		Faults:   smscsim.FaultConfig{Fail: s.Fail, DropEvery: s.DropEvery, MuteEvery: s.MuteEvery, MuteFor: s.MuteFor, NoScripts: true},
	}
	if opt.simRate != nil {
		acct.Rate = *opt.simRate
	}
	cfg := smscsim.Config{Seed: sc.Seed, Listeners: []smscsim.ListenerConfig{{Addr: "127.0.0.1:0"}}, Accounts: []smscsim.AccountConfig{acct}}
	return cfg, cfg.Check()
}

type engineConfigArgs struct {
	http, db, redis, prefix, instance string
	classes                           []classDef
	host, port                        string
	binds, maxBinds, window           int
	tps                               float64
	burst                             int           // 0: none written (the engine's default)
	margin                            time.Duration // throttle.margin; 0: the engine's default
	pprof                             string        // http.pprof_listen; "": none
	webhooksLoopback                  bool          // webhooks.allow_private: [127.0.0.1]
}

// engineConfig writes the config of one started engine process. Retries
// are quick (100 ms to 2 s) so faults settle within a bench run.
func engineConfig(a engineConfigArgs) string {
	var classes strings.Builder
	// The kinds' default classes, unless the scenario defines its own.
	defs := []classDef{{Name: "shared", Rate: 1}, {Name: "dedicated", Rate: 10}}
	for _, d := range defs {
		if !slices.ContainsFunc(a.classes, func(c classDef) bool { return c.Name == d.Name }) {
			a.classes = append(a.classes, d)
		}
	}
	// A class or account with a burst above 1 is a token bucket; without
	// one it is the engine's default, a strict sliding window of its rate.
	for _, c := range a.classes {
		if c.RateOnly || c.Burst <= 1 {
			fmt.Fprintf(&classes, "  - {name: %q, rate: %s}\n", c.Name, strconv.FormatFloat(c.Rate, 'g', -1, 64))
			continue
		}
		fmt.Fprintf(&classes, "  - {name: %q, rate: %s, mode: bucket, burst: %d}\n", c.Name, strconv.FormatFloat(c.Rate, 'g', -1, 64), c.Burst)
	}
	tpsBurst := ""
	if a.burst > 1 {
		tpsBurst = fmt.Sprintf(" tps_mode: bucket, tps_burst: %d,", a.burst)
	}
	pprof := ""
	if a.pprof != "" {
		pprof = fmt.Sprintf(", pprof_listen: %q", a.pprof)
	}
	extra := "" // top-level sections written only when asked for
	if a.margin > 0 {
		extra = fmt.Sprintf("throttle: {margin: %s}\n", a.margin)
	}
	if a.webhooksLoopback {
		extra += "webhooks: {allow_private: [\"127.0.0.1\"]}\n"
	}
	return fmt.Sprintf(`# written by smppbench
http: {listen: %q%s}
log: {level: warn}
postgres: {url: %q, max_conns: 10}
redis: {url: %q, prefix: %q}
operator: {token_env: %s}
engine: {instance_id: %q, retry_min: 100ms, retry_max: 2s, lease: 40s, drain_timeout: 3s}
api_limits: {requests_per_second: 1000000, messages_per_second: 1000000}  # far above any scenario: the check runs, never refuses
%srate_classes:
%scarriers:
  - {name: sim, host: %s, port: %s, system_id: %s, password_env: %s, binds: %d, max_binds: %d,
     window: %d, tps: %s,%s reconnect_min: 50ms, reconnect_max: 1s, response_timeout: 10s}
`, a.http, pprof, a.db, a.redis, a.prefix, envOperatorToken, a.instance, extra, classes.String(), a.host, a.port, engineSystemID, envSMSCPassword,
		a.binds, a.maxBinds, a.window, strconv.FormatFloat(a.tps, 'g', -1, 64), tpsBurst)
}

// engineProc is one switchboard process.
type engineProc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startEngineProc(ctx context.Context, bin, cfg, logPath string, env []string) (*engineProc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &engineProc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func (p *engineProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *engineProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// WaitReady waits until the engine at base (as for NewAPIClient) answers
// GET /readyz with 200, asking every 100 ms for 30 s at most. It returns
// ctx's error when ctx ends first, and after 30 s an error naming base and
// the last answer (or error) it got.
func WaitReady(ctx context.Context, base string) error { return waitReady(ctx, base, nil) }

// waitReady is WaitReady for the process p started (nil: none): p's exit
// ends the wait with the tail of its log, which a timeout's error carries
// too.
func waitReady(ctx context.Context, base string, p *engineProc) error {
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("switchboard exited at start:\n%s", tail(p.log, 3000))
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	msg := fmt.Sprintf("the engine at %s was not ready within 30 s (%s)", base, last)
	if p != nil {
		msg += "\n" + tail(p.log, 3000)
	}
	return errors.New(msg)
}

// findSwitchboard finds the engine binary: the path given; else
// "switchboard" next to this executable; else it builds one with go build
// (from the module this process runs in, found from the working
// directory up) into dir.
func findSwitchboard(ctx context.Context, given, dir string, prog *Progress) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", fmt.Errorf("engine.switchboard: %w", err)
		}
		return given, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "switchboard")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return buildSwitchboard(ctx, dir, prog)
}

var buildMu sync.Mutex

// buildSwitchboard runs go build ./cmd/switchboard in the module root.
func buildSwitchboard(ctx context.Context, dir string, prog *Progress) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	goTool := "go"
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		goTool = p
	} else if _, err := exec.LookPath("go"); err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	out := filepath.Join(dir, "switchboard")
	prog.Note("building the engine: go build -o %s ./cmd/switchboard", out)
	buildMu.Lock() // concurrent builds of one package only wait on each other
	defer buildMu.Unlock()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", out, "./cmd/switchboard")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/switchboard (give --switchboard PATH instead): %v\n%s", err, b)
	}
	return out, nil
}

// moduleRoot finds the directory of go.mod of this module, from the
// working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/switchboard-sms/switchboard") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no switchboard binary next to smppbench and not inside the Switchboard checkout to build one: give --switchboard PATH")
		}
		dir = parent
	}
}

// createDatabase creates a database on the server of adminURL and returns
// its URL and a function that drops it.
func createDatabase(ctx context.Context, adminURL, name string) (string, func(), error) {
	c, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL at %s does not answer (scripts/services.sh up starts one): %w", redactURL(adminURL), err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, adminURL); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			c.Close(ctx)
		}
	}
	return u.String(), drop, nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "DATABASE_URL"
	}
	return u.Redacted()
}

// redisCleaner checks that Redis answers and returns a function deleting
// every key under prefix.
func redisCleaner(ctx context.Context, redisURL, prefix string) (func(), error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("engine.redis_url: %w", err)
	}
	r := redis.NewClient(opt)
	if err := r.Ping(ctx).Err(); err != nil {
		r.Close()
		return nil, fmt.Errorf("Redis at %s does not answer (scripts/services.sh up starts one): %w", opt.Addr, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		iter := r.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			r.Del(ctx, iter.Val())
		}
		r.Close()
	}, nil
}

func envOr(v, env, def string) string {
	if v != "" {
		return v
	}
	if e := os.Getenv(env); e != "" {
		return e
	}
	return def
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// simControl is the carrier the bench reads the report of and injects MO
// into: the in-process simulator, or a running smscsim over HTTP.
type simControl interface {
	Report(ctx context.Context) (smscsim.Report, error)
	InjectMO(ctx context.Context, m smscsim.MO) error
}

type inprocSim struct{ s *smscsim.Sim }

func (s inprocSim) Report(context.Context) (smscsim.Report, error) { return s.s.Report(), nil }

func (s inprocSim) InjectMO(ctx context.Context, m smscsim.MO) error {
	sts, err := s.s.InjectMO(ctx, m)
	if err != nil {
		return err
	}
	for _, st := range sts {
		if st != 0 {
			return fmt.Errorf("deliver_sm_resp %s", st)
		}
	}
	return nil
}

type httpSim struct {
	base string
	hc   *http.Client
}

func (s httpSim) Report(ctx context.Context) (smscsim.Report, error) {
	var r smscsim.Report
	err := getJSON(ctx, s.hc, s.base+"/stats", &r)
	return r, err
}

func (s httpSim) InjectMO(ctx context.Context, m smscsim.MO) error {
	var res smscsim.MOResult
	if err := postJSON(ctx, s.hc, s.base+"/mo", m, &res); err != nil {
		return err
	}
	if res.Error != "" {
		return errors.New(res.Error)
	}
	for _, st := range res.Statuses {
		if st != "ESME_ROK" {
			return fmt.Errorf("deliver_sm_resp %s", st)
		}
	}
	return nil
}

// readSimLog reads the simulator's message log: per accepted submit_sm,
// when, from which source, how many segments, and its text.
type simLogLine struct {
	T        time.Time `json:"t"`
	Src      string    `json:"src"`
	Segments int       `json:"segments"`
	Text     string    `json:"text"`
	Part     int       `json:"part"`
}

func readSimLog(path string) ([]simLogLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []simLogLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l simLogLine
		if err := jsonUnmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("simulator log: %w", err)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}
