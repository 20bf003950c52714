package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Scenario names.
const (
	ScenarioWindow   = "window"
	ScenarioAdvise   = "advise"
	ScenarioThrottle = "throttle"
	ScenarioE2E      = "e2e"
	ScenarioInbound  = "inbound"
	ScenarioSoak     = "soak"
	ScenarioFairness = "fairness"
	ScenarioBacklog  = "backlog"
	ScenarioKannel   = "kannel"
)

// Scenarios lists every scenario, in the order the usage text shows them.
var Scenarios = []string{ScenarioWindow, ScenarioAdvise, ScenarioThrottle, ScenarioE2E, ScenarioInbound, ScenarioSoak, ScenarioFairness, ScenarioBacklog, ScenarioKannel}

// Scenario holds every parameter of a run. It is what a scenario file
// (YAML) holds, what every flag sets, and what the report records: a
// report's scenario.yaml run again repeats the run.
//
// Defaults(name, short) gives the defaults; LoadScenario reads a file on
// top of them; flags override both (see ParseArgs).
type Scenario struct {
	// Scenario is which one runs: window, advise, throttle, e2e, inbound,
	// soak, fairness.
	Scenario string `yaml:"scenario"`
	// Title names the run in the report; default the scenario's name.
	Title string `yaml:"title,omitempty"`
	// Seed seeds every random choice of the bench and of the simulator.
	Seed uint64 `yaml:"seed"`
	// Short runs the scenario's short mode (seconds; what CI runs): other
	// defaults, the same code.
	Short bool `yaml:"short"`
	// Out is the directory report.json, report.html, summary.txt and
	// scenario.yaml are written to; "" writes none.
	Out string `yaml:"out"`
	// Quiet turns the live progress off.
	Quiet bool `yaml:"quiet"`

	// Target is a real SMSC for window and advise; empty: a simulator is
	// started in-process for the run.
	Target Target `yaml:"target"`
	// Engine says which engine the engine scenarios drive (throttle, e2e,
	// inbound, soak, fairness): processes started for the run, or a running
	// one (not fairness).
	Engine EngineSetup `yaml:"engine"`
	// Carrier is the carrier account the started engine binds to the
	// simulator with.
	Carrier CarrierParams `yaml:"carrier"`
	// Sim is how the simulated carrier behaves in the engine scenarios.
	Sim SimParams `yaml:"sim"`

	Window   WindowParams   `yaml:"window"`
	Advise   AdviseParams   `yaml:"advise"`
	Throttle ThrottleParams `yaml:"throttle"`
	E2E      E2EParams      `yaml:"e2e"`
	Inbound  InboundParams  `yaml:"inbound"`
	Soak     SoakParams     `yaml:"soak"`
	Fairness FairnessParams `yaml:"fairness"`
	Backlog  BacklogParams  `yaml:"backlog"`
	// Kannel: the kannel scenario's own; its traffic is E2E's.
	Kannel KannelParams `yaml:"kannel"`
}

// Target is a real SMSC (window, advise).
type Target struct {
	Addr       string `yaml:"addr"` // host:port; "" starts a simulator
	SystemID   string `yaml:"system_id"`
	Password   string `yaml:"password"` // never written to a report
	SystemType string `yaml:"system_type"`
	TLS        bool   `yaml:"tls"`
	// InsecureSkipVerify accepts any certificate (test SMSCs with
	// self-signed ones).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// EngineSetup says how the engine scenarios reach the engine.
type EngineSetup struct {
	// URL of a running engine's HTTP API; "" starts engine processes.
	URL string `yaml:"url"`
	// OperatorToken for the operator API; with URL it is required, else
	// the bench makes one up and gives it to the processes it starts.
	OperatorToken string `yaml:"operator_token"`
	// CarrierName is the carrier (in the engine's config) the bench's
	// numbers use; a started engine's only carrier is "sim".
	CarrierName string `yaml:"carrier_name"`
	// SimStats is the HTTP endpoint (host:port) of the smscsim a running
	// engine (URL) is bound to: the bench reads its report (GET /stats)
	// and injects MO (POST /mo) there. Ignored when the bench starts the
	// simulator itself.
	SimStats string `yaml:"sim_stats"`
	// Switchboard is the engine binary; "" looks next to smppbench, else
	// builds it with go build into a temporary directory (needs the
	// source: run from the checkout).
	Switchboard string `yaml:"switchboard"`
	// Processes is how many engine processes to start.
	Processes int `yaml:"processes"`
	// DatabaseURL is the PostgreSQL server the bench makes the run's own
	// database on; default $DATABASE_URL, then 127.0.0.1:5432/test.
	DatabaseURL string `yaml:"database_url"`
	// RedisURL; default $REDIS_URL, then 127.0.0.1:6379/0. Each run uses
	// its own key prefix and deletes its keys at the end.
	RedisURL string `yaml:"redis_url"`
	// Keep leaves the run's database, Redis keys and logs in place.
	Keep bool `yaml:"keep"`
	// ThrottleMargin is the started engines' throttle.margin; 0 keeps the
	// engine's default (10 ms).
	ThrottleMargin time.Duration `yaml:"throttle_margin"`
	// Profile, when > 0, takes a CPU profile of the first started engine
	// process over the first Profile of the measured run (e2e, inbound),
	// through the engine's http.pprof_listen; it is written beside the
	// report (engine.cpu.pprof, for go tool pprof) and its path is in the
	// summary.
	Profile time.Duration `yaml:"profile"`
}

// CarrierParams is the engine's carrier account (started engines only).
type CarrierParams struct {
	Binds    int     `yaml:"binds"`     // binds per engine process
	Window   int     `yaml:"window"`    // per bind
	TPS      float64 `yaml:"tps"`       // the account's rate, all processes together
	TPSBurst int     `yaml:"tps_burst"` // its burst
}

// SimParams is the simulated carrier of the engine scenarios.
type SimParams struct {
	Latency      string  `yaml:"latency"`       // before each submit_sm_resp: "5ms..20ms", "80%:10ms,20%:50ms"
	ReceiptDelay string  `yaml:"receipt_delay"` // between the resp and the receipt
	Outcomes     string  `yaml:"outcomes"`      // receipt outcomes: "DELIVRD:95,UNDELIV:5"
	ReceiptFirst float64 `yaml:"receipt_first"` // fraction of receipts sent before their resp
	// Faults (soak): statuses for a fraction of submits ("0x58:1%"),
	// binds cut every DropEvery, a hung carrier for MuteFor every MuteEvery.
	Fail      string        `yaml:"fail"`
	DropEvery time.Duration `yaml:"drop_every"`
	MuteEvery time.Duration `yaml:"mute_every"`
	MuteFor   time.Duration `yaml:"mute_for"`
}

// WindowParams: the window sweep.
type WindowParams struct {
	Binds     int             `yaml:"binds"`     // binds used together
	Windows   []int           `yaml:"windows"`   // window sizes swept, per bind
	Latencies []time.Duration `yaml:"latencies"` // simulated response times swept (ignored with a target)
	Duration  time.Duration   `yaml:"duration"`  // of each point
	// TPS is the rate the recommendation is for: the smallest window
	// whose measured rate reaches 95% of it.
	TPS float64 `yaml:"tps"`
	// CarrierTPS limits the simulated account (0: no limit).
	CarrierTPS float64 `yaml:"carrier_tps"`
	Source     string  `yaml:"source"`
	// Dest is the destination_addr: required with a target (a number you
	// own); against the simulator "" uses simDest.
	Dest        string `yaml:"dest"`
	MaxMessages int    `yaml:"max_messages"` // a bound on all submits of the run (0: none; required with a target)
}

// AdviseParams: measure an SMSC's response times and recommend window and
// binds.
type AdviseParams struct {
	TPS         float64       `yaml:"tps"`          // the target rate
	Rate        float64       `yaml:"rate"`         // probe rate, msgs/s (at most MaxProbeRate against a target)
	Count       int           `yaml:"count"`        // probes (at most MaxProbeCount)
	MaxDuration time.Duration `yaml:"max_duration"` // the probe phase ends after this however many were sent
	Probe       string        `yaml:"probe"`        // submit or enquire_link
	ProbeWindow int           `yaml:"probe_window"` // outstanding probes at most
	MaxWindow   int           `yaml:"max_window"`   // the largest window per bind to recommend
	MaxBinds    int           `yaml:"max_binds"`    // the most binds to recommend
	Headroom    float64       `yaml:"headroom"`     // window = TPS × mean RTT × headroom
	Source      string        `yaml:"source"`
	Dest        string        `yaml:"dest"` // required with a target and probe submit
	SimLatency  string        `yaml:"sim_latency"`
}

// RateClassSpec is a rate class of the throttle scenario and how many
// numbers it gets.
type RateClassSpec struct {
	Name    string  `yaml:"name"`
	Rate    float64 `yaml:"rate"`
	Burst   int     `yaml:"burst"`
	Numbers int     `yaml:"numbers"`
}

// ThrottleParams: numbers in rate classes, pushed past their rate.
type ThrottleParams struct {
	Classes []RateClassSpec `yaml:"classes"`
	// Duration: each number gets rate × Duration + burst messages, so it
	// is busy for about Duration.
	Duration time.Duration `yaml:"duration"`
	Segments int           `yaml:"segments"` // per message (1..4)
	Timeout  time.Duration `yaml:"timeout"`  // for every message to reach the carrier
}

// maxBatch is the most messages one POST /v1/messages/batch takes (the
// API's MaxBatchMessages).
const maxBatch = 1000

// E2EParams: messages through the API to delivered receipts.
type E2EParams struct {
	Messages    int     `yaml:"messages"`
	Rate        float64 `yaml:"rate"`        // messages per second; 0: as fast as Concurrency allows
	Concurrency int     `yaml:"concurrency"` // HTTP clients
	Batch       int     `yaml:"batch"`       // > 1: messages per POST /v1/messages/batch (the last may carry fewer); 0, 1: POST /v1/messages
	// Webhooks registers a message.status webhook to a verifying receiver
	// in the bench (a started engine only) and waits for every message's
	// delivered event: deliveries/s, lag behind the receipt, duplicates.
	Webhooks    bool          `yaml:"webhooks"`
	Numbers     int           `yaml:"numbers"` // our numbers (a class of NumberRate each)
	NumberRate  float64       `yaml:"number_rate"`
	NumberBurst int           `yaml:"number_burst"`
	Contacts    int           `yaml:"contacts"`
	Long        float64       `yaml:"long"` // fraction of two-segment texts
	Timeout     time.Duration `yaml:"timeout"`
}

// InboundParams: an MO flood into threads.
type InboundParams struct {
	Messages    int           `yaml:"messages"`
	Concurrency int           `yaml:"concurrency"` // deliver_sm in flight at once (injectors)
	Numbers     int           `yaml:"numbers"`
	Contacts    int           `yaml:"contacts"`
	Long        float64       `yaml:"long"` // fraction of concatenated (two-part) MO
	Timeout     time.Duration `yaml:"timeout"`
}

// SoakParams: mixed traffic with faults, then a reconciliation.
type SoakParams struct {
	Duration    time.Duration `yaml:"duration"`
	SendRate    float64       `yaml:"send_rate"` // messages/s through the API
	MORate      float64       `yaml:"mo_rate"`   // MO/s from the simulator
	Numbers     int           `yaml:"numbers"`
	NumberRate  float64       `yaml:"number_rate"`
	NumberBurst int           `yaml:"number_burst"`
	Contacts    int           `yaml:"contacts"`
	Long        float64       `yaml:"long"`
	Settle      time.Duration `yaml:"settle"` // after the traffic, how long everything may take to be final
}

// FairnessParams: numbers with a backlog each, against a strict carrier:
// does each go out at its rate, and does none wait behind another's
// backlog?
type FairnessParams struct {
	Numbers int `yaml:"numbers"` // our numbers, each with a campaign
	// NumberRate is each number's rate, segments/s: the engine's rate
	// class of the dedicated numbers (written with its rate only) and what
	// the simulator allows each source in any sliding second. Rates, when
	// given, replaces it.
	NumberRate float64 `yaml:"number_rate"`
	// Rates, when given, are the numbers' rates instead: number i gets
	// Rates[i mod len(Rates)], each distinct rate is a rate class of its
	// own, and the simulator limits each number to its rate. Numbers
	// defaults to len(Rates) when neither the file nor a flag sets it.
	Rates []float64 `yaml:"rates,omitempty"`
	// BacklogSeconds: each number gets its rate × BacklogSeconds segments
	// of work (so every campaign lasts as long).
	BacklogSeconds float64 `yaml:"backlog_seconds"`
	// Order is how the campaigns are queued: sequential (number 1's whole
	// campaign, then number 2's, ...) or interleaved (round robin).
	Order string `yaml:"order"`
	// AccountTPS is the carrier account's rate: the engine's carrier tps
	// and the simulator's account limit. 0: none below the sum of the
	// numbers' rates (the engine gets carrier.tps or twice that sum, the
	// simulator no account limit).
	AccountTPS float64 `yaml:"account_tps"`
	Segments   int     `yaml:"segments"` // per message (1..4)
	// Over configures the first number's rate class this many percent
	// above what the simulator allows it (0: none).
	Over float64 `yaml:"over"`
	// Timeout for every segment to reach the carrier; 0: 60 s + 1.5 × the
	// time the campaigns would take one after another.
	Timeout time.Duration `yaml:"timeout"`
}

// RateOf is number i's rate, segments/s: Rates[i mod len(Rates)], or
// NumberRate without Rates.
func (p FairnessParams) RateOf(i int) float64 {
	if len(p.Rates) > 0 {
		return p.Rates[i%len(p.Rates)]
	}
	return p.NumberRate
}

// SegmentsOf is number i's work: ⌈its rate × BacklogSeconds⌉ segments.
func (p FairnessParams) SegmentsOf(i int) int {
	return int(math.Ceil(p.RateOf(i)*p.BacklogSeconds - 1e-9))
}

// OverRate is the rate class of the first number with Over: its rate,
// Over % higher (a whole number when it is within rounding of one, as
// 10 × 1.1 is).
func (p FairnessParams) OverRate() float64 {
	r := p.RateOf(0) * (1 + p.Over/100)
	if w := math.Round(r); math.Abs(r-w) <= 1e-9*math.Max(1, r) {
		return w
	}
	return r
}

// fairSegments is the work of all the numbers, segments (as a float: it
// bounds what is checked).
func (p FairnessParams) fairSegments() float64 {
	var sum float64
	for i := range max(p.Numbers, 0) {
		sum += p.RateOf(i) * p.BacklogSeconds
	}
	return sum
}

// Fairness queueing orders.
const (
	OrderSequential  = "sequential"
	OrderInterleaved = "interleaved"
)

// Safety bounds of advise against a real SMSC.
const (
	MaxProbeRate  = 20   // probes per second
	MaxProbeCount = 1000 // probes per run
)

// Defaults returns the parameters of a scenario with nothing set: its full
// mode, or its short mode (seconds).
func Defaults(name string, short bool) Scenario {
	sc := Scenario{
		Scenario: name, Seed: 1, Short: short,
		Engine:  EngineSetup{CarrierName: "sim", Processes: 1},
		Carrier: CarrierParams{Binds: 2, Window: 50, TPS: 2000, TPSBurst: 100},
		Sim:     SimParams{Latency: "5ms..20ms", ReceiptDelay: "50ms..200ms"},
		Window: WindowParams{
			Binds: 1, Windows: []int{1, 2, 5, 10, 20, 50, 100},
			Latencies: []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond},
			Duration:  2 * time.Second, TPS: 500,
			Source: "+14155550100",
		},
		Advise: AdviseParams{
			TPS: 200, Rate: 5, Count: 100, MaxDuration: time.Minute, Probe: "submit", ProbeWindow: 5,
			MaxWindow: 50, MaxBinds: 10, Headroom: 1.25, Source: "+14155550100",
			SimLatency: "80%:10ms,15%:100ms,5%:1s",
		},
		Throttle: ThrottleParams{
			Classes: []RateClassSpec{
				{Name: "longcode", Rate: 1, Burst: 1, Numbers: 6},
				{Name: "tollfree", Rate: 3, Burst: 3, Numbers: 3},
				{Name: "dedicated", Rate: 10, Burst: 5, Numbers: 3},
			},
			Duration: 10 * time.Second, Segments: 1, Timeout: time.Minute,
		},
		E2E: E2EParams{Messages: 2000, Concurrency: 16, Numbers: 4, NumberRate: 200, NumberBurst: 50,
			Contacts: 1000, Long: 0.1, Timeout: 2 * time.Minute},
		Inbound: InboundParams{Messages: 2000, Concurrency: 16, Numbers: 2, Contacts: 500, Long: 0.1, Timeout: 2 * time.Minute},
		Soak: SoakParams{Duration: time.Minute, SendRate: 40, MORate: 10, Numbers: 4, NumberRate: 50, NumberBurst: 10,
			Contacts: 200, Long: 0.1, Settle: 2 * time.Minute},
		Fairness: FairnessParams{Numbers: 10, NumberRate: 10, BacklogSeconds: 20, Order: OrderSequential, Segments: 1},
		Backlog:  defaultBacklog,
		Kannel:   KannelParams{Bearerbox: defaultBearerbox, Smsbox: defaultSmsbox, LogLevel: 2},
	}
	if name == ScenarioThrottle {
		sc.Engine.Processes = 2
	}
	if name == ScenarioSoak {
		sc.Sim = SimParams{Latency: "80%:5ms,15%:30ms,5%:200ms", ReceiptDelay: "100ms..2s",
			Outcomes: "DELIVRD:94,UNDELIV:3,EXPIRED:1,REJECTD:2", ReceiptFirst: 0.02,
			Fail: "0x58:1%,0x14:0.5%,0x08:0.5%", DropEvery: 20 * time.Second, MuteEvery: 30 * time.Second, MuteFor: 2 * time.Second}
	}
	if !short {
		return sc
	}
	sc.Window.Windows = []int{1, 4, 16}
	sc.Window.Latencies = []time.Duration{20 * time.Millisecond}
	sc.Window.Duration = 700 * time.Millisecond
	sc.Window.TPS = 150
	sc.Advise.Count, sc.Advise.Rate, sc.Advise.MaxDuration = 60, 40, 20*time.Second
	sc.Throttle.Classes = []RateClassSpec{
		{Name: "longcode", Rate: 2, Burst: 1, Numbers: 2},
		{Name: "dedicated", Rate: 10, Burst: 5, Numbers: 2},
	}
	sc.Throttle.Duration, sc.Throttle.Timeout = 3*time.Second, 40*time.Second
	sc.E2E.Messages, sc.E2E.Concurrency, sc.E2E.Contacts, sc.E2E.Timeout = 150, 8, 100, 40*time.Second
	sc.Inbound.Messages, sc.Inbound.Concurrency, sc.Inbound.Contacts, sc.Inbound.Timeout = 150, 8, 50, 40*time.Second
	sc.Soak.Duration, sc.Soak.SendRate, sc.Soak.MORate, sc.Soak.Contacts, sc.Soak.Settle = 5*time.Second, 20, 5, 40, 50*time.Second
	sc.Fairness.Numbers, sc.Fairness.BacklogSeconds = 4, 2
	sc.Backlog = shortBacklog
	if name == ScenarioSoak {
		sc.Sim.DropEvery, sc.Sim.MuteEvery, sc.Sim.MuteFor = 2*time.Second, 3*time.Second, 500*time.Millisecond
		sc.Sim.Fail = "0x58:2%,0x14:1%,0x08:1%"
	}
	return sc
}

// decodeScenario decodes YAML onto sc, refusing unknown fields.
func decodeScenario(b []byte, sc *Scenario) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(sc); err != nil && !errors.Is(err, errEOF) {
		return err
	}
	return nil
}

var errEOF = yaml.NewDecoder(strings.NewReader("")).Decode(new(any)) // io.EOF: an empty file

// peekScenario reads the scenario name and short flag of a file, so its
// defaults can be chosen before it is decoded onto them.
func peekScenario(b []byte) (name string, short bool, err error) {
	var head struct {
		Scenario string `yaml:"scenario"`
		Short    bool   `yaml:"short"`
	}
	if err := yaml.Unmarshal(b, &head); err != nil {
		return "", false, err
	}
	return head.Scenario, head.Short, nil
}

// impliedNumbers gives a fairness scenario with rates one number per rate
// when neither its file (raw) nor a flag (flagGiven) set how many.
func (sc *Scenario) impliedNumbers(raw []byte, flagGiven bool) {
	if sc.Scenario != ScenarioFairness || len(sc.Fairness.Rates) == 0 || flagGiven {
		return
	}
	var file struct {
		Fairness struct {
			Numbers *int `yaml:"numbers"`
		} `yaml:"fairness"`
	}
	if raw != nil && yaml.Unmarshal(raw, &file) == nil && file.Fairness.Numbers != nil {
		return
	}
	sc.Fairness.Numbers = len(sc.Fairness.Rates)
}

// LoadScenario reads a scenario file: the defaults of the scenario it
// names (its short mode when it says short: true), overlaid with the file.
// Unknown fields are errors.
func LoadScenario(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, err
	}
	name, short, err := peekScenario(b)
	if err != nil {
		return Scenario{}, fmt.Errorf("%s: %w", path, err)
	}
	sc := Defaults(name, short)
	if err := decodeScenario(b, &sc); err != nil {
		return Scenario{}, fmt.Errorf("%s: %w", path, err)
	}
	sc.impliedNumbers(b, false)
	if err := sc.Check(); err != nil {
		return Scenario{}, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// YAML returns the scenario as a scenario file: the common fields and the
// sections its scenario uses, in the order of the struct. The target's
// password and the operator token are left out.
func (sc Scenario) YAML() []byte {
	c := sc
	c.Target.Password = ""
	c.Engine.OperatorToken = ""
	keep := map[string]bool{"scenario": true, "title": true, "seed": true, "short": true, "out": true, "quiet": true}
	switch sc.Scenario {
	case ScenarioWindow, ScenarioAdvise:
		keep["target"], keep[sc.Scenario] = true, true
	default:
		keep["engine"], keep["carrier"], keep["sim"], keep[sc.Scenario] = true, true, true, true
	}
	if sc.Scenario == ScenarioKannel {
		keep["e2e"] = true // its traffic
	}
	var doc yaml.Node
	if err := doc.Encode(c); err != nil {
		return nil
	}
	var content []*yaml.Node
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if keep[doc.Content[i].Value] {
			content = append(content, doc.Content[i], doc.Content[i+1])
		}
	}
	doc.Content = content
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	_ = enc.Encode(&doc)
	_ = enc.Close()
	return out.Bytes()
}

// Check reports the first problem of the parameters' values, naming the
// field as a scenario file writes it.
func (sc *Scenario) Check() error {
	if !slices.Contains(Scenarios, sc.Scenario) {
		return fmt.Errorf("scenario: %q is not one of %s", sc.Scenario, strings.Join(Scenarios, ", "))
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
	}
	if sc.Target.Addr != "" && sc.Scenario != ScenarioWindow && sc.Scenario != ScenarioAdvise {
		return bad("target.addr", "only window and advise bind to an SMSC themselves; point a started engine elsewhere with its own config")
	}
	switch sc.Scenario {
	case ScenarioWindow:
		w := &sc.Window
		switch {
		case w.Binds < 1:
			return bad("window.binds", "must be at least 1")
		case len(w.Windows) == 0:
			return bad("window.windows", "give at least one window size")
		case slices.ContainsFunc(w.Windows, func(x int) bool { return x < 1 || x > 65535 }):
			return bad("window.windows", "each must be 1..65535")
		case sc.Target.Addr == "" && len(w.Latencies) == 0:
			return bad("window.latencies", "give at least one response time")
		case sc.Target.Addr == "" && slices.ContainsFunc(w.Latencies, func(d time.Duration) bool { return d <= 0 }):
			return bad("window.latencies", "each must be > 0 (W/RTT has no limit at 0)")
		case w.Duration <= 0:
			return bad("window.duration", "must be > 0")
		case w.TPS <= 0:
			return bad("window.tps", "must be > 0")
		case sc.Target.Addr != "" && w.MaxMessages <= 0:
			return bad("window.max_messages", "is required against a real SMSC (a bound on what the sweep sends)")
		case sc.Target.Addr != "" && w.Dest == "":
			return bad("window.dest", "is required against a real SMSC: a number you own")
		}
	case ScenarioAdvise:
		a := &sc.Advise
		switch {
		case a.TPS <= 0:
			return bad("advise.tps", "must be > 0")
		case a.Rate <= 0:
			return bad("advise.rate", "must be > 0")
		case a.Count < 1:
			return bad("advise.count", "must be at least 1")
		case a.Count > MaxProbeCount:
			return bad("advise.count", "at most %d", MaxProbeCount)
		case sc.Target.Addr != "" && a.Rate > MaxProbeRate:
			return bad("advise.rate", "at most %d/s against a real SMSC", MaxProbeRate)
		case a.Probe != "submit" && a.Probe != "enquire_link":
			return bad("advise.probe", "submit or enquire_link")
		case sc.Target.Addr != "" && a.Probe == "submit" && a.Dest == "":
			return bad("advise.dest", "probing a real SMSC with submit_sm sends real messages: give a number you own, or use probe: enquire_link")
		case a.ProbeWindow < 1:
			return bad("advise.probe_window", "must be at least 1")
		case a.MaxWindow < 1:
			return bad("advise.max_window", "must be at least 1")
		case a.MaxBinds < 1:
			return bad("advise.max_binds", "must be at least 1")
		case a.Headroom < 1:
			return bad("advise.headroom", "must be at least 1")
		case a.MaxDuration <= 0:
			return bad("advise.max_duration", "must be > 0")
		}
	default:
		e := &sc.Engine
		switch {
		case e.URL != "" && e.OperatorToken == "":
			return bad("engine.operator_token", "is required with engine.url")
		case e.URL == "" && e.Processes < 1:
			return bad("engine.processes", "must be at least 1")
		case e.CarrierName == "":
			return bad("engine.carrier_name", "is required")
		case e.URL == "" && (sc.Carrier.Binds < 1 || sc.Carrier.Window < 1 || sc.Carrier.TPS <= 0):
			return bad("carrier", "binds, window and tps must be positive")
		}
	}
	switch sc.Scenario {
	case ScenarioThrottle:
		t := &sc.Throttle
		if len(t.Classes) == 0 {
			return bad("throttle.classes", "give at least one class")
		}
		for i, c := range t.Classes {
			if c.Name == "" || c.Rate <= 0 || c.Numbers < 1 {
				return bad(fmt.Sprintf("throttle.classes[%d]", i), "needs a name, rate > 0 and numbers ≥ 1")
			}
			if c.Burst < 1 {
				t.Classes[i].Burst = 1
			}
		}
		if t.Duration <= 0 || t.Timeout <= 0 {
			return bad("throttle.duration", "duration and timeout must be > 0")
		}
		if t.Segments < 1 || t.Segments > 4 {
			return bad("throttle.segments", "1..4")
		}
	case ScenarioE2E:
		p := &sc.E2E
		if p.Messages < 1 || p.Concurrency < 1 || p.Numbers < 1 || p.Contacts < 1 || p.NumberRate <= 0 || p.Timeout <= 0 {
			return bad("e2e", "messages, concurrency, numbers, contacts, number_rate and timeout must be positive")
		}
		if p.Batch < 0 || p.Batch > maxBatch {
			return bad("e2e.batch", "0 to %d messages per request", maxBatch)
		}
	case ScenarioInbound:
		p := &sc.Inbound
		if p.Messages < 1 || p.Concurrency < 1 || p.Numbers < 1 || p.Contacts < 1 || p.Timeout <= 0 {
			return bad("inbound", "messages, concurrency, numbers, contacts and timeout must be positive")
		}
	case ScenarioSoak:
		p := &sc.Soak
		if p.Duration <= 0 || p.SendRate <= 0 || p.MORate < 0 || p.Numbers < 1 || p.Contacts < 1 || p.NumberRate <= 0 || p.Settle <= 0 {
			return bad("soak", "duration, send_rate, numbers, contacts, number_rate and settle must be positive")
		}
	case ScenarioKannel:
		return sc.checkKannel()
	case ScenarioFairness:
		p := &sc.Fairness
		switch {
		case sc.Engine.URL != "":
			return bad("engine.url", "fairness starts its own engine and carrier simulator (it configures the simulator strict and reads its message log)")
		case p.Numbers < 1 || p.Numbers > 1000:
			return bad("fairness.numbers", "1..1000")
		case p.NumberRate <= 0 || p.NumberRate > 10000:
			return bad("fairness.number_rate", "must be above 0 and at most 10000 segments/s")
		case p.BacklogSeconds <= 0:
			return bad("fairness.backlog_seconds", "must be > 0")
		case slices.ContainsFunc(p.Rates, func(r float64) bool { return !(r >= 1) }):
			// smscsim counts a sliding window over one interval for the
			// whole account; a source cannot have one of 1/rate seconds.
			return bad("fairness.rates", "each must be at least 1 segment/s, got %v: the simulator's sliding windows have one interval for the whole account (1 s here), so it cannot limit one number to a segment per 1/rate seconds next to others at N per second", p.Rates)
		case slices.ContainsFunc(p.Rates, func(r float64) bool { return r != math.Trunc(r) || r > 10000 }):
			return bad("fairness.rates", "each must be a whole number of segments/s, at most 10000, got %v: a strict sliding window counts whole segments (the engine's rate classes and the simulator's limits both need one)", p.Rates)
		case p.fairSegments() > 1e6:
			return bad("fairness.backlog_seconds", "Σ of the numbers' rates × backlog_seconds is over a million segments")
		case p.Order != OrderSequential && p.Order != OrderInterleaved:
			return bad("fairness.order", "%s or %s, got %q", OrderSequential, OrderInterleaved, p.Order)
		case p.AccountTPS < 0:
			return bad("fairness.account_tps", "must be ≥ 0 (0: no account limit below the sum of the numbers' rates)")
		case p.Segments < 1 || p.Segments > 4:
			return bad("fairness.segments", "1..4")
		case p.Over < 0 || p.Over > 1000:
			return bad("fairness.over", "a percentage, 0..1000")
		case p.Over > 0 && p.OverRate() > 1 && p.OverRate() != math.Trunc(p.OverRate()):
			return bad("fairness.over", "the first number's class would be %v segments/s (%v + %v%%), and the engine's sliding rate classes need a whole number of segments per second: choose over so that it is whole (or put a rate first that makes it so)",
				p.OverRate(), p.RateOf(0), p.Over)
		case p.Timeout < 0:
			return bad("fairness.timeout", "must be ≥ 0 (0: from the work)")
		}
	case ScenarioBacklog:
		return sc.checkBacklog()
	}
	return nil
}
