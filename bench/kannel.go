package bench

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
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
	"sync/atomic"
	"time"

	"github.com/switchboard-sms/switchboard/smscsim"
)

// The kannel scenario is a baseline: the same traffic as e2e, sent through
// Kannel (bearerbox + smsbox, the Debian package) instead of Switchboard,
// against the same in-process carrier simulator with the same carrier
// parameters. The bench sends through smsbox's sendsms interface and
// receives the delivery reports on a dlr-url of its own; see bench/README.md.

// Kannel's default binaries (Debian package kannel).
const (
	defaultBearerbox = "/usr/sbin/bearerbox"
	defaultSmsbox    = "/usr/sbin/smsbox"
)

// Kannel delivery report types (the dlr-mask bits, and %d in a dlr-url).
const (
	dlrDelivered = 1  // the carrier's receipt said delivered
	dlrFailed    = 2  // the carrier's receipt said failed
	dlrBuffered  = 4  // intermediate
	dlrSMSCAck   = 8  // submit_sm_resp OK
	dlrSMSCNack  = 16 // submit_sm_resp refused
	dlrMaskAll   = dlrDelivered | dlrFailed | dlrBuffered | dlrSMSCAck | dlrSMSCNack
)

// kannelUser is the sendsms-user the generated config has (the password
// is made up per run).
const kannelUser = "smppbench"

// KannelParams are the kannel scenario's own parameters. The traffic
// (messages, concurrency, numbers, contacts, long, rate, timeout) is the
// e2e section's, so one flag line runs both; e2e's number_rate and
// number_burst have no equivalent in Kannel and are ignored.
type KannelParams struct {
	// Bearerbox and Smsbox are Kannel's binaries; "" is /usr/sbin's.
	Bearerbox string `yaml:"bearerbox"`
	Smsbox    string `yaml:"smsbox"`
	// LogLevel is both boxes' log-level (0 debug … 4 panic); the default 2
	// (warning) matches the engine's log level warn.
	LogLevel int `yaml:"log_level"`
}

// KannelResults are the kannel scenario's results.
type KannelResults struct {
	Accepted      int64            `json:"accepted"` // sendsms answered 202
	HTTPErrors    map[string]int64 `json:"http_errors"`
	Delivered     int64            `json:"delivered"` // messages with a DLR of type 1 at the receiver
	AcceptRate    float64          `json:"accepted_per_s"`
	DeliveredRate float64          `json:"delivered_per_s"` // from the first 202 to the last delivered DLR
	// DLRs counts every DLR request the receiver got by type
	// ("1 delivered", "8 smsc ack", ...); Duplicates are a message's
	// second DLR of one type; Unmatched carried no id the bench sent.
	DLRs       map[string]int64 `json:"dlrs"`
	Duplicates int64            `json:"dlr_duplicates"`
	Unmatched  int64            `json:"dlr_unmatched"`
	// Segments is what the texts sent need (GSM 7-bit: 160, then 153 per
	// part); CarrierAccepted what the simulator accepted.
	Segments        int64     `json:"segments"`
	CarrierAccepted int64     `json:"carrier_accepted_segments"`
	Stages          []Summary `json:"stages"`
}

// kannelFlags are the kannel command's flags: e2e's (from e2eFlags),
// without those that only mean something to the engine, and Kannel's own.
func kannelFlags(e2eFlags []flagDef) []flagDef {
	engineOnly := []string{"engine", "operator-token", "carrier-name", "sim-stats", "switchboard", "processes",
		"database-url", "redis-url", "profile", "webhooks", "batch",
		// the clean path only: every message delivered
		"outcomes", "receipt-first", "fail", "drop-every", "mute-every", "mute-for"}
	var out []flagDef
	for _, d := range e2eFlags {
		if !slices.Contains(engineOnly, d.Name) {
			out = append(out, d)
		}
	}
	return append(out,
		flagDef{"bearerbox", "kannel.bearerbox", "Kannel's bearerbox binary (default " + defaultBearerbox + ")", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Kannel.Bearerbox) }},
		flagDef{"smsbox", "kannel.smsbox", "Kannel's smsbox binary (default " + defaultSmsbox + ")", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Kannel.Smsbox) }},
		flagDef{"kannel-log-level", "kannel.log_level", "log-level of bearerbox and smsbox (0 debug … 4 panic)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Kannel.LogLevel) }},
	)
}

// checkKannel reports the first problem of a kannel scenario's values.
func (sc *Scenario) checkKannel() error {
	p := &sc.E2E
	switch {
	case sc.Engine.URL != "":
		return errors.New("engine.url: the kannel scenario starts Kannel, not an engine")
	case p.Messages < 1 || p.Concurrency < 1 || p.Numbers < 1 || p.Contacts < 1 || p.Timeout <= 0:
		return errors.New("e2e: messages, concurrency, numbers, contacts and timeout must be positive")
	case p.Batch > 1 || p.Webhooks:
		return errors.New("e2e: batch and webhooks are the engine's; Kannel's sendsms takes one message a request")
	case sc.Sim.Outcomes != "" || sc.Sim.ReceiptFirst != 0 || sc.Sim.Fail != "" || sc.Sim.DropEvery != 0 || sc.Sim.MuteEvery != 0:
		return errors.New("sim: the kannel scenario measures the clean path (every message delivered); outcomes, receipt_first and faults are not supported")
	case sc.Kannel.LogLevel < 0 || sc.Kannel.LogLevel > 4:
		return fmt.Errorf("kannel.log_level: 0 (debug) to 4 (panic), got %d", sc.Kannel.LogLevel)
	}
	return nil
}

// kannelRun is Kannel (both boxes) and the simulator it binds to.
type kannelRun struct {
	dir        string
	keep       bool
	sim        *smscsim.Sim
	bearerbox  *engineProc
	smsbox     *engineProc
	adminAddr  string
	adminPass  string
	sendsms    string // base URL of smsbox's sendsms interface
	sendsmsPwd string
	binds      int
}

// kannelConfig is what the generated kannel.conf says.
type kannelConfig struct {
	adminAddr, adminPass, smsboxAddr, sendsmsAddr, sendsmsPass string
	simHost, simPort                                           string
	binds, window                                              int
	tps                                                        float64 // the account's; 0: none
	logLevel                                                   int
	dir                                                        string // logs
}

// render writes kannel.conf: one core group, binds smsc groups (one bind
// each, all smsc-id sim), an smsbox group and one sendsms-user. DLRs are
// kept in bearerbox's memory (dlr-storage = internal) and there is no
// store-file: nothing Kannel holds survives it.
func (c kannelConfig) render() string {
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	var b strings.Builder
	fmt.Fprintf(&b, `# written by smppbench
group = core
admin-port = %s
admin-password = %q
admin-interface = "127.0.0.1"
admin-allow-ip = "127.0.0.1"
smsbox-port = %s
smsbox-interface = "127.0.0.1"
box-allow-ip = "127.0.0.1"
dlr-storage = internal
log-file = %q
log-level = %d
`, port(c.adminAddr), c.adminPass, port(c.smsboxAddr), filepath.Join(c.dir, "bearerbox.log"), c.logLevel)
	for i := range c.binds {
		fmt.Fprintf(&b, `
group = smsc
smsc = smpp
smsc-id = sim
smsc-admin-id = sim-%d
host = %s
port = %s
transceiver-mode = true
smsc-username = %q
smsc-password = %q
system-type = ""
max-pending-submits = %d
# the simulator's ids are decimal in submit_sm_resp and in receipts
msg-id-type = 0x00
reconnect-delay = 1
`, i+1, c.simHost, c.simPort, engineSystemID, engineSimPass, c.window)
		if c.tps > 0 {
			fmt.Fprintf(&b, "throughput = %s\n", strconv.FormatFloat(c.tps/float64(c.binds), 'f', 3, 64))
		}
	}
	fmt.Fprintf(&b, `
group = smsbox
bearerbox-host = "127.0.0.1"
bearerbox-port = %s
sendsms-port = %s
sendsms-interface = "127.0.0.1"
log-file = %q
log-level = %d

group = sendsms-user
username = %q
password = %q
max-messages = 10
concatenation = true
`, port(c.smsboxAddr), port(c.sendsmsAddr), filepath.Join(c.dir, "smsbox.log"), c.logLevel, kannelUser, c.sendsmsPass)
	return b.String()
}

// startKannel starts the simulator, writes kannel.conf, starts bearerbox
// and smsbox and waits until every bind is online and sendsms answers.
// On error everything it started is stopped.
func startKannel(ctx context.Context, sc Scenario, prog *Progress) (*kannelRun, error) {
	bearer, smsbox := cmp.Or(sc.Kannel.Bearerbox, defaultBearerbox), cmp.Or(sc.Kannel.Smsbox, defaultSmsbox)
	for _, bin := range []string{bearer, smsbox} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("Kannel is not installed (apt-get install kannel, or --bearerbox/--smsbox): %w", err)
		}
	}
	k := &kannelRun{keep: sc.Engine.Keep, binds: sc.Carrier.Binds, adminPass: randomHex(8), sendsmsPwd: randomHex(8)}
	ok := false
	defer func() {
		if !ok {
			k.close()
		}
	}()
	var err error
	if k.dir, err = os.MkdirTemp("", "smppbench-kannel-"); err != nil {
		return nil, err
	}
	simCfg, err := simConfig(sc, engineOptions{})
	if err != nil {
		return nil, err
	}
	if k.sim, err = smscsim.Start(simCfg); err != nil {
		return nil, fmt.Errorf("starting the simulator: %w", err)
	}
	host, port, _ := net.SplitHostPort(k.sim.Addr(""))
	addrs := make([]string, 3)
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	k.adminAddr, k.sendsms = addrs[0], "http://"+addrs[2]
	cfg := kannelConfig{adminAddr: addrs[0], adminPass: k.adminPass, smsboxAddr: addrs[1], sendsmsAddr: addrs[2], sendsmsPass: k.sendsmsPwd,
		simHost: host, simPort: port, binds: sc.Carrier.Binds, window: sc.Carrier.Window, tps: sc.Carrier.TPS,
		logLevel: sc.Kannel.LogLevel, dir: k.dir}
	conf := filepath.Join(k.dir, "kannel.conf")
	if err := os.WriteFile(conf, []byte(cfg.render()), 0o600); err != nil {
		return nil, err
	}
	args := []string{"-v", strconv.Itoa(max(sc.Kannel.LogLevel, 2)), conf} // the console: warnings at most
	if k.bearerbox, err = startBox(bearer, args, filepath.Join(k.dir, "bearerbox.out")); err != nil {
		return nil, err
	}
	prog.Note("kannel: bearerbox started, config %s", conf)
	if err := k.waitOnline(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	if k.smsbox, err = startBox(smsbox, args, filepath.Join(k.dir, "smsbox.out")); err != nil {
		return nil, err
	}
	if err := k.waitSendsms(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	ok = true
	return k, nil
}

// startBox starts one Kannel box with its output into logPath.
func startBox(bin string, args []string, logPath string) (*engineProc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &engineProc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// onlineBinds counts the SMSC connections bearerbox's status.txt reports
// online.
func onlineBinds(status string) int {
	n := 0
	for _, line := range strings.Split(status, "\n") {
		if strings.Contains(line, "SMPP:") && strings.Contains(line, "(online") {
			n++
		}
	}
	return n
}

// waitOnline waits until bearerbox says every bind is online.
func (k *kannelRun) waitOnline(ctx context.Context, limit time.Duration) error {
	u := "http://" + k.adminAddr + "/status.txt?password=" + url.QueryEscape(k.adminPass)
	last := ""
	_, err := pollUntil(ctx, limit, 100*time.Millisecond, func() (bool, error) {
		if k.bearerbox.exited() {
			return true, nil
		}
		body, err := httpGetText(ctx, u)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = body
		return onlineBinds(body) >= k.binds, nil
	})
	if k.bearerbox.exited() {
		return fmt.Errorf("bearerbox exited at start:\n%s", k.logTail())
	}
	if err != nil {
		return fmt.Errorf("Kannel's %d SMSC bind(s) not online within %s: %w\nlast status: %s\n%s", k.binds, limit, err, last, k.logTail())
	}
	return nil
}

// waitSendsms waits until smsbox's sendsms interface answers (any HTTP
// status: without arguments it refuses the request).
func (k *kannelRun) waitSendsms(ctx context.Context, limit time.Duration) error {
	_, err := pollUntil(ctx, limit, 100*time.Millisecond, func() (bool, error) {
		if k.smsbox.exited() {
			return true, nil
		}
		_, err := httpGetText(ctx, k.sendsms+"/cgi-bin/sendsms")
		var se statusErr
		return err == nil || errors.As(err, &se), nil
	})
	if k.smsbox.exited() {
		return fmt.Errorf("smsbox exited at start:\n%s", k.logTail())
	}
	if err != nil {
		return fmt.Errorf("smsbox's sendsms at %s did not answer within %s: %w\n%s", k.sendsms, limit, err, k.logTail())
	}
	return nil
}

// statusErr is an HTTP answer other than 2xx.
type statusErr struct {
	code int
	body string
}

func (e statusErr) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

func httpGetText(ctx context.Context, u string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return "", statusErr{resp.StatusCode, strings.TrimSpace(b.String())}
	}
	return b.String(), err
}

// logTail is the end of both boxes' logs and outputs, for errors.
func (k *kannelRun) logTail() string {
	var b strings.Builder
	for _, name := range []string{"bearerbox.log", "bearerbox.out", "smsbox.log", "smsbox.out"} {
		path := filepath.Join(k.dir, name)
		if t := tail(path, 2000); t != "" {
			fmt.Fprintf(&b, "--- %s ---\n%s\n", path, t)
		}
	}
	return b.String()
}

// close stops smsbox, then bearerbox (SIGTERM, SIGKILL after 15 s), then
// the simulator, and removes the run's directory unless keep.
func (k *kannelRun) close() {
	for _, p := range []*engineProc{k.smsbox, k.bearerbox} {
		if p != nil {
			p.stop()
		}
	}
	if k.sim != nil {
		k.sim.Close()
	}
	if k.dir != "" && !k.keep {
		os.RemoveAll(k.dir)
	}
}

// kannelMessage is what the bench knows of one message: nanoseconds since
// the run's start, 0 while not (yet) seen.
type kannelMessage struct {
	sent, accepted, acked, delivered atomic.Int64
	segments                         int
}

// dlrSink is the dlr-url receiver: GET /dlr?id=N&type=T.
type dlrSink struct {
	start     time.Time
	msgs      []kannelMessage
	srv       *http.Server
	url       string // the dlr-url template, %d for Kannel's type
	delivered atomic.Int64
	ackMeter  *Meter
	dlvMeter  *Meter
	mu        sync.Mutex
	types     map[string]int64
	dups      int64
	unmatched int64
	changed   chan struct{} // closed and replaced at every delivered DLR
}

var dlrTypeNames = map[int]string{dlrDelivered: "1 delivered", dlrFailed: "2 failed", dlrBuffered: "4 buffered",
	dlrSMSCAck: "8 smsc ack", dlrSMSCNack: "16 smsc nack"}

// startDLRSink listens on 127.0.0.1 for the DLRs of n messages.
func startDLRSink(n int, start time.Time) (*dlrSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &dlrSink{start: start, msgs: make([]kannelMessage, n), types: map[string]int64{},
		ackMeter: meterFrom(start), dlvMeter: meterFrom(start), changed: make(chan struct{})}
	s.url = "http://" + l.Addr().String() + "/dlr?type=%d&id="
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(l)
	return s, nil
}

// meterFrom is a meter of 250 ms buckets counting from start.
func meterFrom(start time.Time) *Meter { return &Meter{start: start, width: 250 * time.Millisecond} }

// serve takes one DLR; each is answered 200 whatever it says.
func (s *dlrSink) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	q := r.URL.Query()
	typ, _ := strconv.Atoi(q.Get("type"))
	id, err := strconv.Atoi(q.Get("id"))
	name := dlrTypeNames[typ]
	if name == "" {
		name = "type " + q.Get("type")
	}
	s.mu.Lock()
	s.types[name]++
	if err != nil || id < 0 || id >= len(s.msgs) {
		s.unmatched++
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	s.mu.Unlock()
	m := &s.msgs[id]
	at := now.Sub(s.start).Nanoseconds()
	var first bool
	switch typ {
	case dlrDelivered:
		if first = m.delivered.CompareAndSwap(0, at); first {
			s.delivered.Add(1)
			s.dlvMeter.AddAt(now, 1)
			s.mu.Lock()
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
		}
	case dlrSMSCAck:
		if first = m.acked.CompareAndSwap(0, at); first {
			s.ackMeter.AddAt(now, 1)
		}
	default:
		first = true
	}
	if !first {
		s.mu.Lock()
		s.dups++
		s.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

// waitDelivered waits until want messages have a delivered DLR, ctx ends
// or timeout passes; it reports whether all arrived.
func (s *dlrSink) waitDelivered(ctx context.Context, want int64, timeout time.Duration, prog *Progress) bool {
	return waitCount(ctx, timeout, prog, func() (int64, int64, <-chan struct{}) {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		return s.delivered.Load(), want, ch
	})
}

func (s *dlrSink) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// kannelSender sends the scenario's messages through sendsms.
type kannelSender struct {
	k    *kannelRun
	sink *dlrSink
	hc   *http.Client
	traffic
	accepted *Latency
	nAcc     atomic.Int64 // messages answered 202
	meter    *Meter
	errs     counts
}

// send sends the next message; false when it was refused (counted in
// errs).
func (s *kannelSender) send(ctx context.Context) bool {
	i := s.take()
	text, from, to, _ := s.pick(i)
	m := &s.sink.msgs[i]
	m.segments = gsmSegments(text)
	q := url.Values{
		"username": {kannelUser}, "password": {s.k.sendsmsPwd},
		"from": {from}, "to": {to}, "text": {text},
		"dlr-mask": {strconv.Itoa(dlrMaskAll)}, "dlr-url": {s.sink.url + strconv.Itoa(i)},
	}
	t0 := time.Now()
	m.sent.Store(t0.Sub(s.sink.start).Nanoseconds())
	req, err := http.NewRequestWithContext(ctx, "GET", s.k.sendsms+"/cgi-bin/sendsms?"+q.Encode(), nil)
	if err != nil {
		s.errs.add("request: " + err.Error())
		return false
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		s.errs.add("transport error")
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	done := time.Now()
	if resp.StatusCode/100 != 2 {
		s.errs.add(strconv.Itoa(resp.StatusCode))
		return false
	}
	m.accepted.Store(done.Sub(s.sink.start).Nanoseconds())
	s.accepted.Record(done.Sub(t0))
	s.nAcc.Add(1)
	s.meter.AddAt(done, 1)
	return true
}

// gsmSegments is how many SMS a text of GSM 7-bit basic characters takes:
// one up to 160, else 153 a part (the UDH takes the rest).
func gsmSegments(text string) int {
	if len(text) <= 160 {
		return 1
	}
	return (len(text) + 152) / 153
}

// kannelCPU samples the CPU of both boxes, the bench and the machine.
type kannelCPU struct {
	bearerbox, smsbox, bench, machine cpuPart
	t0, t1                            time.Time
}

func procCPU(p *engineProc, name string) cpuPart {
	pid := p.cmd.Process.Pid
	return cpuPart{source: fmt.Sprintf("/proc/%d/stat utime+stime (%s)", pid, name), read: func(context.Context) (time.Duration, error) {
		st, err := readProcStat(pid)
		if err != nil {
			return 0, fmt.Errorf("%s (%d): %w", name, pid, err)
		}
		return ticksToDuration(st.utime + st.stime), nil
	}}
}

func startKannelCPU(ctx context.Context, k *kannelRun) *kannelCPU {
	c := &kannelCPU{
		bearerbox: procCPU(k.bearerbox, "bearerbox"), smsbox: procCPU(k.smsbox, "smsbox"),
		bench:   cpuPart{source: "getrusage(RUSAGE_SELF) of the bench, the in-process simulator and the DLR receiver included", read: func(context.Context) (time.Duration, error) { return selfCPU() }},
		machine: cpuPart{source: "/proc/stat: busy time of all cores (every process on the machine)", read: func(context.Context) (time.Duration, error) { return machineCPU() }},
	}
	c.t0 = time.Now()
	for _, p := range c.parts() {
		p.sample(ctx, &p.v0)
	}
	return c
}

func (c *kannelCPU) parts() []*cpuPart {
	return []*cpuPart{&c.bearerbox, &c.smsbox, &c.bench, &c.machine}
}

func (c *kannelCPU) stop(ctx context.Context) {
	c.t1 = time.Now()
	for _, p := range c.parts() {
		p.sample(ctx, &p.v1)
	}
}

// figure is p's CPU over the phase: per message of n, and in cores.
func (c *kannelCPU) figure(p *cpuPart, n int64) CPUFigure { return p.figure(n, c.t1.Sub(c.t0)) }

// report fills rep.CPU (Engine is Kannel: both boxes) and adds the CPU
// table and the headline numbers, per delivered message of n.
func (c *kannelCPU) report(rep *Report, n int64) {
	const per = "delivered msg"
	both := cpuPart{source: "bearerbox + smsbox, /proc/<pid>/stat utime+stime", na: cmp.Or(c.bearerbox.na, c.smsbox.na),
		v0: c.bearerbox.v0 + c.smsbox.v0, v1: c.bearerbox.v1 + c.smsbox.v1}
	none := "Kannel uses neither (dlr-storage = internal, no store-file)"
	s := &CPUSplit{WallSeconds: round3(c.t1.Sub(c.t0).Seconds()), Messages: n, Per: per,
		PostgreSQL: CPUFigure{NA: none}, PostgreSQLRun: CPUFigure{NA: none}, Redis: CPUFigure{NA: none},
		Engine: c.figure(&both, n), Bench: c.figure(&c.bench, n), Machine: c.figure(&c.machine, n),
		StatementsNA: none, RedisNA: none}
	rep.CPU = s
	t := Table{Title: fmt.Sprintf("CPU during the measured run (%s s wall, %d × %s)", formatNum(s.WallSeconds), n, per),
		Columns: []string{"", "CPU s", "µs/" + per, "cores busy", "measured by"}}
	for _, r := range []struct {
		name, metric string
		f            CPUFigure
	}{
		{"Kannel (bearerbox + smsbox)", "CPU Kannel", s.Engine},
		{"↳ bearerbox", "", c.figure(&c.bearerbox, n)},
		{"↳ smsbox", "", c.figure(&c.smsbox, n)},
		{"bench (with the simulator and the DLR receiver)", "CPU bench", s.Bench},
		{"whole machine", "", s.Machine},
	} {
		rep.cpuRow(&t, r.name, r.metric, r.f, "µs/"+per)
	}
	rep.Tables = append(rep.Tables, t)
}

func runKannel(ctx context.Context, sc Scenario, rep *Report, prog *Progress) error {
	p := sc.E2E
	k, err := startKannel(ctx, sc, prog)
	if err != nil {
		return err
	}
	defer k.close()
	rep.Against = fmt.Sprintf("Kannel (%s, %s; %d SMPP transceiver bind(s), DLRs in memory) and smscsim (in-process); config and logs in %s (removed at the end unless --keep)",
		cmp.Or(sc.Kannel.Bearerbox, defaultBearerbox), cmp.Or(sc.Kannel.Smsbox, defaultSmsbox), sc.Carrier.Binds, k.dir)
	start := time.Now()
	sink, err := startDLRSink(p.Messages, start)
	if err != nil {
		return err
	}
	defer sink.close()
	s := &kannelSender{k: k, sink: sink, traffic: newTraffic(ourNumbers(p.Numbers, 0), p.Contacts, p.Long, fmt.Sprintf("kannel %d", sc.Seed), sc.Seed, 0x5eed),
		accepted: NewLatency(), meter: meterFrom(start),
		hc: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: p.Concurrency, MaxConnsPerHost: p.Concurrency}}}
	defer s.hc.CloseIdleConnections()

	cpu := startKannelCPU(ctx, k)
	prog.Start(fmt.Sprintf("kannel: sending %d messages", p.Messages), int64(p.Messages), "msgs")
	drive(ctx, p.Messages, p.Concurrency, p.Rate, prog, one(s.send))
	sendSecs := time.Since(start).Seconds()
	acc := s.nAcc.Load()
	prog.Start("kannel: waiting for delivered DLRs", acc, "delivered")
	allDelivered := sink.waitDelivered(ctx, acc, p.Timeout, prog)
	cpu.stop(ctx)

	res := kannelResults(s, sink, acc, sendSecs)
	if r := k.sim.Report(); len(r.Accounts) > 0 {
		for _, a := range r.Accounts {
			res.CarrierAccepted += a.AcceptedSegments
		}
	}
	fillKannelReport(rep, s, sink, &res)
	cpu.report(rep, res.Delivered)
	rep.check("no HTTP errors", s.errs.total() == 0, "%s", formatCounts(res.HTTPErrors))
	rep.check("every message delivered (DLR type 1)", allDelivered && res.Delivered == res.Accepted && res.Accepted > 0,
		"%d of %d accepted have a delivered DLR; DLRs %s", res.Delivered, res.Accepted, formatCounts(res.DLRs))
	rep.check("each segment submitted once", res.CarrierAccepted == res.Segments, "carrier accepted %d segments, the texts need %d", res.CarrierAccepted, res.Segments)
	rep.Notes = append(rep.Notes,
		"Kannel 1.4.5 keeps its DLRs in bearerbox's memory (dlr-storage = internal) and has no store-file here: a crash loses every message in flight and every pending DLR. Switchboard answers 202 only after the message is in PostgreSQL.",
		"e2e's number_rate and number_burst have no equivalent in Kannel and are not applied: Kannel sends as fast as its binds' windows allow (throughput = carrier.tps / binds per bind).",
		"Times are the bench's clock: accepted is the sendsms answer, answered and end to end are the arrival of the DLR (type 8, type 1) at the bench's receiver, so smsbox's DLR request is in them.")
	rep.Results = &res
	if !allDelivered {
		rep.Notes = append(rep.Notes, "Kannel's logs: "+k.dir+" (kept with --keep)")
	}
	return nil
}

// kannelResults gathers the per-message times into the results.
func kannelResults(s *kannelSender, sink *dlrSink, acc int64, sendSecs float64) KannelResults {
	ackLat, e2eLat := NewLatency(), NewLatency()
	var firstAccepted, lastDelivered int64
	var segments int64
	for i := range sink.msgs[:min(int(s.next.Load()), len(sink.msgs))] {
		m := &sink.msgs[i]
		sent, accepted, acked, delivered := m.sent.Load(), m.accepted.Load(), m.acked.Load(), m.delivered.Load()
		if accepted == 0 {
			continue
		}
		segments += int64(m.segments)
		if firstAccepted == 0 || accepted < firstAccepted {
			firstAccepted = accepted
		}
		if acked > 0 {
			ackLat.Record(time.Duration(acked - sent))
		}
		if delivered > 0 {
			e2eLat.Record(time.Duration(delivered - sent))
			lastDelivered = max(lastDelivered, delivered)
		}
	}
	sink.mu.Lock()
	res := KannelResults{Accepted: acc, HTTPErrors: s.errs.snapshot(), Delivered: sink.delivered.Load(),
		AcceptRate: round3(float64(acc) / sendSecs), DLRs: maps.Clone(sink.types), Duplicates: sink.dups, Unmatched: sink.unmatched,
		Segments: segments}
	sink.mu.Unlock()
	if lastDelivered > firstAccepted {
		res.DeliveredRate = round3(float64(res.Delivered) / time.Duration(lastDelivered-firstAccepted).Seconds())
	}
	res.Stages = []Summary{
		s.accepted.Summarize("accepted (GET sendsms → 202)"),
		ackLat.Summarize("answered (GET → DLR 8 smsc ack at the receiver)"),
		e2eLat.Summarize("end to end (GET → DLR 1 delivered at the receiver)"),
	}
	return res
}

// fillKannelReport adds the summary, tables and charts e2e has.
func fillKannelReport(rep *Report, s *kannelSender, sink *dlrSink, res *KannelResults) {
	end := res.Stages[len(res.Stages)-1]
	rep.Latencies = res.Stages
	rep.metric("messages accepted", float64(res.Accepted), "")
	rep.metric("accepted rate", res.AcceptRate, "msgs/s")
	rep.metric("delivered", float64(res.Delivered), "")
	rep.metric("delivered rate", res.DeliveredRate, "msgs/s")
	rep.metric("HTTP errors", float64(s.errs.total()), "")
	rep.metric("p50 end to end", end.P50MS, "ms")
	rep.metric("p99 end to end", end.P99MS, "ms")
	rep.Tables = append(rep.Tables, Table{Title: "Outcome", Columns: []string{"", "count"}, Rows: [][]string{
		{"accepted (202)", fmt.Sprint(res.Accepted)},
		{"HTTP errors", formatCounts(res.HTTPErrors)},
		{"DLRs at the receiver", formatCounts(res.DLRs)},
		{"DLR duplicates (same message, same type)", fmt.Sprint(res.Duplicates)},
		{"DLRs matching no message", fmt.Sprint(res.Unmatched)},
		{"segments (the texts)", fmt.Sprint(res.Segments)},
		{"segments accepted by the carrier", fmt.Sprint(res.CarrierAccepted)},
	}})
	stageChart := latencyChart(res.Stages)
	rep.Charts = append(rep.Charts,
		Chart{ID: "throughput", Title: "Throughput over time", Kind: "line", XLabel: "seconds since start", YLabel: "msgs/s", Series: []Series{
			{Name: "accepted (202)", Points: s.meter.Series(300), Group: 0},
			{Name: "answered (DLR 8)", Points: sink.ackMeter.Series(300), Group: 1},
			{Name: "delivered (DLR 1)", Points: sink.dlvMeter.Series(300), Group: 2},
		}},
		stageChart)
}
