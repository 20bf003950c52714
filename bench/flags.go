package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// flagDef is one command-line flag: the scenario field it sets (Path, as
// a scenario file writes it) and how.
type flagDef struct {
	Name, Path, Usage string
	Bind              func(sc *Scenario) flag.Value
}

// Flags returns the flags of a scenario's command, each bound to a field of
// the scenario file (its Path).
func Flags(scenario string) []flagDef {
	common := []flagDef{
		{"seed", "seed", "seed of every random choice (bench and simulator)", func(sc *Scenario) flag.Value { return (*uint64Val)(&sc.Seed) }},
		{"short", "short", "short mode: seconds, small parameters (what CI runs)", func(sc *Scenario) flag.Value { return (*boolVal)(&sc.Short) }},
		{"out", "out", "directory for report.json, report.html, summary.txt, scenario.yaml", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Out) }},
		{"quiet", "quiet", "no live progress", func(sc *Scenario) flag.Value { return (*boolVal)(&sc.Quiet) }},
		{"title", "title", "the report's title", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Title) }},
	}
	target := []flagDef{
		{"target", "target.addr", "host:port of a real SMSC (default: a simulator started for the run)", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Target.Addr) }},
		{"system-id", "target.system_id", "the SMSC account's system_id", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Target.SystemID) }},
		{"password", "target.password", "its password (never written to the report)", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Target.Password) }},
		{"system-type", "target.system_type", "its system_type", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Target.SystemType) }},
		{"tls", "target.tls", "bind over TLS", func(sc *Scenario) flag.Value { return (*boolVal)(&sc.Target.TLS) }},
		{"insecure-skip-verify", "target.insecure_skip_verify", "accept any TLS certificate", func(sc *Scenario) flag.Value { return (*boolVal)(&sc.Target.InsecureSkipVerify) }},
	}
	engine := []flagDef{
		{"engine", "engine.url", "URL of a running engine's API (default: start engine processes)", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Engine.URL) }},
		{"operator-token", "engine.operator_token", "operator token of the running engine", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Engine.OperatorToken) }},
		{"carrier-name", "engine.carrier_name", "the engine's carrier the bench's numbers use", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Engine.CarrierName) }},
		{"sim-stats", "engine.sim_stats", "host:port of the HTTP endpoint of the smscsim a running engine binds to", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Engine.SimStats) }},
		{"switchboard", "engine.switchboard", "the switchboard binary (default: next to smppbench, else go build)", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Engine.Switchboard) }},
		{"processes", "engine.processes", "engine processes to start", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Engine.Processes) }},
		{"database-url", "engine.database_url", "PostgreSQL server for the run's own database (default $DATABASE_URL)", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Engine.DatabaseURL) }},
		{"redis-url", "engine.redis_url", "Redis (default $REDIS_URL); the run uses its own key prefix", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Engine.RedisURL) }},
		{"profile", "engine.profile", "CPU profile of the first engine process over this much of the measured run (e2e, inbound), written beside the report as engine.cpu.pprof", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Engine.Profile) }},
		{"keep", "engine.keep", "keep the run's database, Redis keys and logs", func(sc *Scenario) flag.Value { return (*boolVal)(&sc.Engine.Keep) }},
		{"carrier-binds", "carrier.binds", "binds per engine process", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Carrier.Binds) }},
		{"carrier-window", "carrier.window", "window per bind", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Carrier.Window) }},
		{"carrier-tps", "carrier.tps", "the carrier account's rate (segments/s, all processes)", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Carrier.TPS) }},
		{"carrier-tps-burst", "carrier.tps_burst", "its burst", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Carrier.TPSBurst) }},
		{"latency", "sim.latency", "simulated carrier's response time: 10ms, 5ms..20ms, 80%:10ms,20%:50ms", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Sim.Latency) }},
		{"receipt-delay", "sim.receipt_delay", "delay from response to receipt (a distribution)", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Sim.ReceiptDelay) }},
		{"outcomes", "sim.outcomes", "receipt outcomes, e.g. DELIVRD:95,UNDELIV:5", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Sim.Outcomes) }},
		{"receipt-first", "sim.receipt_first", "fraction of receipts sent before their response", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Sim.ReceiptFirst) }},
		{"fail", "sim.fail", "statuses for a fraction of submits, e.g. 0x58:1%,0x14:0.5%", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Sim.Fail) }},
		{"drop-every", "sim.drop_every", "cut each bind this long after it binds", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Sim.DropEvery) }},
		{"mute-every", "sim.mute_every", "hang the carrier at the end of every such period", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Sim.MuteEvery) }},
		{"mute-for", "sim.mute_for", "for this long", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Sim.MuteFor) }},
	}
	var own []flagDef
	switch scenario {
	case ScenarioWindow:
		own = []flagDef{
			{"binds", "window.binds", "binds used together", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Window.Binds) }},
			{"windows", "window.windows", "window sizes per bind, comma-separated", func(sc *Scenario) flag.Value { return (*intsVal)(&sc.Window.Windows) }},
			{"latencies", "window.latencies", "simulated response times, comma-separated", func(sc *Scenario) flag.Value { return (*dursVal)(&sc.Window.Latencies) }},
			{"duration", "window.duration", "length of each point", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Window.Duration) }},
			{"tps", "window.tps", "rate the window recommendation is for", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Window.TPS) }},
			{"carrier-tps", "window.carrier_tps", "rate limit of the simulated account (0: none)", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Window.CarrierTPS) }},
			{"source", "window.source", "source_addr of the submits", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Window.Source) }},
			{"dest", "window.dest", "destination_addr (with --target: a number you own)", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Window.Dest) }},
			{"max-messages", "window.max_messages", "bound on all submits (required with --target)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Window.MaxMessages) }},
		}
		return append(append(common, target...), own...)
	case ScenarioAdvise:
		own = []flagDef{
			{"tps", "advise.tps", "target rate to size window and binds for", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Advise.TPS) }},
			{"rate", "advise.rate", fmt.Sprintf("probe rate, msgs/s (at most %d against a real SMSC)", MaxProbeRate), func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Advise.Rate) }},
			{"count", "advise.count", fmt.Sprintf("probes (at most %d)", MaxProbeCount), func(sc *Scenario) flag.Value { return (*intVal)(&sc.Advise.Count) }},
			{"max-duration", "advise.max_duration", "the probe phase ends after this", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Advise.MaxDuration) }},
			{"probe", "advise.probe", "submit (submit_sm to --dest) or enquire_link (sends no message)", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Advise.Probe) }},
			{"probe-window", "advise.probe_window", "probes outstanding at most", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Advise.ProbeWindow) }},
			{"max-window", "advise.max_window", "largest window per bind to recommend", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Advise.MaxWindow) }},
			{"max-binds", "advise.max_binds", "most binds to recommend", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Advise.MaxBinds) }},
			{"headroom", "advise.headroom", "window = TPS × mean RTT × headroom", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Advise.Headroom) }},
			{"source", "advise.source", "source_addr of the probes", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Advise.Source) }},
			{"dest", "advise.dest", "destination_addr (with --target: a number you own)", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Advise.Dest) }},
			{"sim-latency", "advise.sim_latency", "response times of the simulator (without --target)", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Advise.SimLatency) }},
		}
		return append(append(common, target...), own...)
	case ScenarioThrottle:
		own = []flagDef{
			{"classes", "throttle.classes", "rate classes NAME:RATE:BURST:NUMBERS, comma-separated", func(sc *Scenario) flag.Value { return (*classesVal)(&sc.Throttle.Classes) }},
			{"duration", "throttle.duration", "each number gets rate × duration + burst messages", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Throttle.Duration) }},
			{"segments", "throttle.segments", "segments per message (1..4)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Throttle.Segments) }},
			{"timeout", "throttle.timeout", "for every message to reach the carrier", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Throttle.Timeout) }},
		}
	case ScenarioE2E:
		own = []flagDef{
			{"messages", "e2e.messages", "messages to send", func(sc *Scenario) flag.Value { return (*intVal)(&sc.E2E.Messages) }},
			{"rate", "e2e.rate", "messages per second (0: as fast as --concurrency allows)", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.E2E.Rate) }},
			{"concurrency", "e2e.concurrency", "HTTP clients", func(sc *Scenario) flag.Value { return (*intVal)(&sc.E2E.Concurrency) }},
			{"webhooks", "e2e.webhooks", "register a message.status webhook to a verifying receiver in the bench and wait for every delivered event (started engine only)", func(sc *Scenario) flag.Value { return (*boolVal)(&sc.E2E.Webhooks) }},
			{"batch", "e2e.batch", "messages per POST /v1/messages/batch, 2..1000 (0 or 1: one POST /v1/messages each)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.E2E.Batch) }},
			{"numbers", "e2e.numbers", "our numbers", func(sc *Scenario) flag.Value { return (*intVal)(&sc.E2E.Numbers) }},
			{"number-rate", "e2e.number_rate", "rate class of each number, segments/s", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.E2E.NumberRate) }},
			{"number-burst", "e2e.number_burst", "its burst", func(sc *Scenario) flag.Value { return (*intVal)(&sc.E2E.NumberBurst) }},
			{"contacts", "e2e.contacts", "distinct recipients", func(sc *Scenario) flag.Value { return (*intVal)(&sc.E2E.Contacts) }},
			{"long", "e2e.long", "fraction of two-segment texts", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.E2E.Long) }},
			{"timeout", "e2e.timeout", "for every message to be final", func(sc *Scenario) flag.Value { return (*durVal)(&sc.E2E.Timeout) }},
		}
	case ScenarioInbound:
		own = []flagDef{
			{"messages", "inbound.messages", "MO messages to inject", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Inbound.Messages) }},
			{"concurrency", "inbound.concurrency", "MO in flight at once", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Inbound.Concurrency) }},
			{"numbers", "inbound.numbers", "our numbers", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Inbound.Numbers) }},
			{"contacts", "inbound.contacts", "distinct senders", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Inbound.Contacts) }},
			{"long", "inbound.long", "fraction of two-part MO", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Inbound.Long) }},
			{"timeout", "inbound.timeout", "for every MO to be in a thread", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Inbound.Timeout) }},
		}
	case ScenarioSoak:
		own = []flagDef{
			{"duration", "soak.duration", "length of the traffic", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Soak.Duration) }},
			{"send-rate", "soak.send_rate", "messages/s through the API", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Soak.SendRate) }},
			{"mo-rate", "soak.mo_rate", "MO/s", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Soak.MORate) }},
			{"numbers", "soak.numbers", "our numbers", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Soak.Numbers) }},
			{"number-rate", "soak.number_rate", "rate class of each number", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Soak.NumberRate) }},
			{"number-burst", "soak.number_burst", "its burst", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Soak.NumberBurst) }},
			{"contacts", "soak.contacts", "distinct contacts", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Soak.Contacts) }},
			{"long", "soak.long", "fraction of two-segment texts and MO", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Soak.Long) }},
			{"settle", "soak.settle", "time allowed after the traffic for everything to be final", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Soak.Settle) }},
		}
	case ScenarioFairness:
		own = []flagDef{
			{"numbers", "fairness.numbers", "our numbers, each with a campaign (with --rates: default one per rate)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Fairness.Numbers) }},
			{"number-rate", "fairness.number_rate", "each number's rate, segments/s (its rate class; the simulator's limit per source in any sliding second); --rates replaces it", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Fairness.NumberRate) }},
			{"rates", "fairness.rates", "the numbers' rates instead, comma-separated (e.g. 1,3,10): number i gets the (i mod count)th, each rate a class of its own and the simulator's limit for that number; whole numbers ≥ 1; --numbers defaults to their count", func(sc *Scenario) flag.Value { return (*floatsVal)(&sc.Fairness.Rates) }},
			{"backlog-seconds", "fairness.backlog_seconds", "each number gets its rate × this many segments", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Fairness.BacklogSeconds) }},
			{"order", "fairness.order", "sequential (one campaign after another) or interleaved (round robin)", func(sc *Scenario) flag.Value { return (*stringVal)(&sc.Fairness.Order) }},
			{"account-tps", "fairness.account_tps", "the carrier account's rate, in the engine and the simulator (0: none below the sum of the numbers' rates)", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Fairness.AccountTPS) }},
			{"segments", "fairness.segments", "segments per message (1..4)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Fairness.Segments) }},
			{"over", "fairness.over", "configure the first number's rate class this many % above what the simulator allows (0: none)", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Fairness.Over) }},
			{"timeout", "fairness.timeout", "for every segment to reach the carrier (0: from the work)", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Fairness.Timeout) }},
			{"binds", "carrier.binds", "binds per engine process (as --carrier-binds)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Carrier.Binds) }},
			{"window", "carrier.window", "window per bind (as --carrier-window)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Carrier.Window) }},
		}
	case ScenarioBacklog:
		own = backlogFlags()
	case ScenarioKannel:
		return kannelFlags(Flags(ScenarioE2E))
	default:
		return common
	}
	return append(append(common, engine...), own...)
}

// Usage is the tool's help text.
const Usage = `smppbench: load and window benchmarks for Switchboard and SMPP carrier links

Usage:
  smppbench SCENARIO [flags]          run a scenario with its defaults and flags
  smppbench SCENARIO --scenario FILE  the file's parameters; flags override them
  smppbench --scenario FILE           the scenario the file names
  smppbench SCENARIO --help           the scenario's flags

Scenarios:
  window    sweep window sizes × response times on N binds (smpp.Session against a simulator)
  advise    measure a real SMSC's response times at a safe rate; recommend window and binds
  throttle  numbers in rate classes × engine processes; per-number 1-second maxima vs limits
  e2e       through the engine's HTTP API to delivered receipts; latency per stage
  inbound   an MO flood through the engine into threads
  soak      mixed traffic with the simulator's faults on; then every message final, every MO in a thread
  fairness  numbers with a backlog each against a strict carrier: wait, rate and fairness per number
  backlog   millions of messages queued, then engine start and kill -9 restart: RSS, time to ready and to sending
  kannel    e2e's traffic through Kannel (bearerbox + smsbox) instead: the baseline, same carrier

Examples:
  smppbench window --out /tmp/window
  smppbench window --binds 2 --windows 5,10,20,50 --latencies 30ms,120ms --tps 400
  smppbench advise --target smsc.example.net:2775 --system-id ID --password PW \
                   --dest +15555550123 --tps 200 --count 100 --rate 5
  smppbench throttle --processes 3 --classes longcode:1:1:10,tollfree:3:3:4
  smppbench e2e --messages 5000 --concurrency 32
  smppbench e2e --messages 20000 --concurrency 16 --batch 1000
  smppbench e2e --engine http://127.0.0.1:8080 --operator-token T --carrier-name sim
  smppbench kannel --messages 5000 --concurrency 32   # the same flags as e2e
  smppbench soak --duration 10m --out /tmp/soak
  smppbench fairness --numbers 20 --order interleaved --account-tps 100 --out /tmp/fair
  smppbench fairness --rates 1,3,10 --backlog-seconds 60 --out /tmp/rates
  smppbench backlog --messages 1000000 --numbers 10000 --out /tmp/backlog
  smppbench --scenario configs/bench/throttle.yaml --seed 7

The engine scenarios start their own switchboard processes (--switchboard
PATH, else the binary next to smppbench, else go build from the checkout),
a database and a Redis prefix of the run's own (on $DATABASE_URL and
$REDIS_URL), and an in-process smscsim; or drive a running engine with
--engine URL --operator-token T [--sim-stats HOST:PORT of its smscsim].

Every run writes a summary; --out DIR adds report.json, report.html (charts,
no network needed), summary.txt and scenario.yaml (every parameter: run it
again with --scenario). The exit status is 1 when a check of the run fails.
`

// ParseArgs builds a run's scenario from the command line: the command
// (a scenario name, or none with --scenario), the defaults of that
// scenario, the --scenario file on top, and the flags on top of both.
func ParseArgs(args []string, stderr io.Writer) (Scenario, error) {
	name := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
		if !slices.Contains(Scenarios, name) {
			return Scenario{}, fmt.Errorf("unknown scenario %q (one of %s)", name, strings.Join(Scenarios, ", "))
		}
	}
	// First pass: find --scenario and --short; the flags of the named
	// scenario (or of all, to accept any) are bound to a throwaway.
	file, short, err := prescan(args, name)
	if err != nil {
		return Scenario{}, err
	}
	var raw []byte
	if file != "" {
		raw, err = os.ReadFile(file)
		if err != nil {
			return Scenario{}, err
		}
		fname, fshort, err := peekScenario(raw)
		if err != nil {
			return Scenario{}, fmt.Errorf("%s: %w", file, err)
		}
		switch {
		case name == "":
			name = fname
		case fname != "" && fname != name:
			return Scenario{}, fmt.Errorf("%s is a %q scenario, not %q", file, fname, name)
		}
		short = short || fshort
	}
	if name == "" {
		return Scenario{}, errors.New("name a scenario (" + strings.Join(Scenarios, ", ") + ") or give --scenario FILE")
	}
	sc := Defaults(name, short)
	if raw != nil {
		if err := decodeScenario(raw, &sc); err != nil {
			return Scenario{}, fmt.Errorf("%s: %w", file, err)
		}
		sc.Scenario = name
	}
	fs := newFlagSet(name, &sc, stderr)
	if err := fs.Parse(args); err != nil {
		return Scenario{}, err
	}
	if fs.NArg() > 0 {
		return Scenario{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if short {
		sc.Short = true
	}
	numbersGiven := false
	fs.Visit(func(f *flag.Flag) { numbersGiven = numbersGiven || f.Name == "numbers" })
	sc.impliedNumbers(raw, numbersGiven)
	if err := sc.Check(); err != nil {
		return Scenario{}, err
	}
	return sc, nil
}

func newFlagSet(name string, sc *Scenario, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("smppbench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("scenario", "", "scenario file (YAML); flags override its values")
	for _, d := range Flags(name) {
		fs.Var(d.Bind(sc), d.Name, d.Usage+" ("+d.Path+")")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "smppbench %s [--scenario FILE] [flags]\n\nFlags (each with its scenario-file field):\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// prescan parses the arguments once to find --scenario and --short.
func prescan(args []string, name string) (file string, short bool, err error) {
	var throw Scenario
	fs := flag.NewFlagSet("prescan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&file, "scenario", "", "")
	names := []string{name}
	if name == "" {
		names = Scenarios
	}
	seen := map[string]bool{}
	for _, n := range names {
		for _, d := range Flags(n) {
			if !seen[d.Name] {
				seen[d.Name] = true
				fs.Var(d.Bind(&throw), d.Name, "")
			}
		}
	}
	if err := fs.Parse(args); err != nil && !errors.Is(err, flag.ErrHelp) {
		return "", false, err
	}
	return file, throw.Short, nil
}

// Flag values bound to scenario fields.

type stringVal string

func (v *stringVal) String() string     { return string(*v) }
func (v *stringVal) Set(s string) error { *v = stringVal(s); return nil }

type boolVal bool

func (v *boolVal) String() string { return strconv.FormatBool(bool(*v)) }
func (v *boolVal) Set(s string) error {
	b, err := strconv.ParseBool(s)
	*v = boolVal(b)
	return err
}
func (v *boolVal) IsBoolFlag() bool { return true }

type intVal int

func (v *intVal) String() string { return strconv.Itoa(int(*v)) }
func (v *intVal) Set(s string) error {
	n, err := strconv.Atoi(s)
	*v = intVal(n)
	return err
}

type uint64Val uint64

func (v *uint64Val) String() string { return strconv.FormatUint(uint64(*v), 10) }
func (v *uint64Val) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	*v = uint64Val(n)
	return err
}

type floatVal float64

func (v *floatVal) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }
func (v *floatVal) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	*v = floatVal(f)
	return err
}

type durVal time.Duration

func (v *durVal) String() string { return time.Duration(*v).String() }
func (v *durVal) Set(s string) error {
	d, err := time.ParseDuration(s)
	*v = durVal(d)
	return err
}

type intsVal []int

func (v *intsVal) String() string {
	var s []string
	for _, n := range *v {
		s = append(s, strconv.Itoa(n))
	}
	return strings.Join(s, ",")
}
func (v *intsVal) Set(s string) error {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		out = append(out, n)
	}
	*v = out
	return nil
}

type floatsVal []float64

func (v *floatsVal) String() string {
	var s []string
	for _, f := range *v {
		s = append(s, strconv.FormatFloat(f, 'g', -1, 64))
	}
	return strings.Join(s, ",")
}
func (v *floatsVal) Set(s string) error {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return err
		}
		out = append(out, x)
	}
	*v = out
	return nil
}

type dursVal []time.Duration

func (v *dursVal) String() string {
	var s []string
	for _, d := range *v {
		s = append(s, d.String())
	}
	return strings.Join(s, ",")
}
func (v *dursVal) Set(s string) error {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		out = append(out, d)
	}
	*v = out
	return nil
}

type classesVal []RateClassSpec

func (v *classesVal) String() string {
	var s []string
	for _, c := range *v {
		s = append(s, fmt.Sprintf("%s:%g:%d:%d", c.Name, c.Rate, c.Burst, c.Numbers))
	}
	return strings.Join(s, ",")
}
func (v *classesVal) Set(s string) error {
	var out []RateClassSpec
	for _, f := range strings.Split(s, ",") {
		p := strings.Split(strings.TrimSpace(f), ":")
		if len(p) != 4 {
			return fmt.Errorf("%q: want NAME:RATE:BURST:NUMBERS", f)
		}
		rate, err1 := strconv.ParseFloat(p[1], 64)
		burst, err2 := strconv.Atoi(p[2])
		n, err3 := strconv.Atoi(p[3])
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("%q: %w", f, err)
		}
		out = append(out, RateClassSpec{Name: p[0], Rate: rate, Burst: burst, Numbers: n})
	}
	*v = out
	return nil
}
