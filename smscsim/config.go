package smscsim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"
)

// Defaults of Config's zero values.
const (
	// DefaultSystemID is the system_id in bind responses.
	DefaultSystemID = "smscsim"
	// DefaultListenAddr is where a Config without listeners listens.
	DefaultListenAddr = "127.0.0.1:2775"
	// DefaultBacklog is how many receipts and mobile-originated messages an
	// account keeps while none of its receivers is bound.
	DefaultBacklog = 100_000
	// maxSources caps the source numbers tracked one by one per account;
	// further sources are counted together under "(other)".
	maxSources = 100_000
)

// Config configures a simulator. It is what the YAML file holds (see
// configs/smscsim.yaml); LoadConfig reads one. Start checks it and reports
// every problem with the field's path (e.g. "accounts[0].rate.source").
//
// The zero value is not usable: at least one account is needed.
type Config struct {
	// SystemID is the system_id in bind responses; "" means DefaultSystemID.
	SystemID string `yaml:"system_id"`
	// Seed seeds every random choice (latency, outcomes, MO traffic); 0
	// picks a random seed. With a seed and one connection a run repeats.
	Seed uint64 `yaml:"seed"`
	// Stats is the address of the HTTP endpoint (GET /stats, POST /mo,
	// POST /mute, POST /drop); "" serves none.
	Stats string `yaml:"stats"`
	// Report is a file Close writes the final report to (JSON); "" writes none.
	Report string `yaml:"report"`
	// Log is a file to which every accepted submit_sm is appended as one
	// JSON line; "" logs nothing.
	Log string `yaml:"log"`
	// Backlog is how many receipts and MO messages an account keeps while
	// none of its receivers is bound; 0 means DefaultBacklog.
	Backlog int `yaml:"backlog"`
	// Listeners are the addresses to accept ESMEs on; none means one plain
	// listener "default" on DefaultListenAddr.
	Listeners []ListenerConfig `yaml:"listeners"`
	// Accounts are the ESME accounts; at least one.
	Accounts []AccountConfig `yaml:"accounts"`

	// Logger receives connection events (bind, refusal, close, fault) and
	// problems at run time (a fault script that does not parse, a generated
	// MO that cannot be built); never one per message. nil is silent.
	Logger *zap.Logger `yaml:"-"`

	// admitHook, when set (tests only, see export_test.go), sees every
	// decision of the rate limits: account, source, arrival (Sim.now),
	// segments and verdict, in the order each account made them.
	admitHook func(acct, src string, now int64, segs, verdict int)
}

// ListenerConfig is one listening address.
type ListenerConfig struct {
	// Name identifies the listener for Sim.Addr; "" names it by position
	// ("listener0", ...), except a single one, which is "default".
	Name string `yaml:"name"`
	// Addr is host:port; port 0 picks a free port. Only loopback
	// addresses are expected (it is a test tool), but any is accepted.
	Addr string `yaml:"addr"`
	// TLS makes the listener accept TLS connections only.
	TLS *TLSConfig `yaml:"tls"`
	// Accounts restricts the listener to these system_ids; empty allows all.
	Accounts []string `yaml:"accounts"`
}

// TLSConfig is a listener's certificate: files, or a self-signed one made
// at start (for tests; clients must skip verification or trust Sim.CACert).
type TLSConfig struct {
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	SelfSigned bool   `yaml:"self_signed"`
}

// Bind type names of AccountConfig.BindTypes.
const (
	BindTransceiver = "transceiver"
	BindTransmitter = "transmitter"
	BindReceiver    = "receiver"
)

// AccountConfig is one ESME account, with the carrier behaviour it sees.
type AccountConfig struct {
	// SystemID and Password are the credentials. An unknown system_id is
	// refused with ESME_RINVSYSID, a wrong password with ESME_RINVPASWD.
	SystemID string `yaml:"system_id"`
	Password string `yaml:"password"`
	// BindTypes lists the bind types allowed (transceiver, transmitter,
	// receiver); empty allows all. Others are refused with ESME_RBINDFAIL.
	BindTypes []string `yaml:"bind_types"`
	// MaxBinds limits simultaneous binds; 0 means no limit. One more is
	// refused with ESME_RALYBND.
	MaxBinds int `yaml:"max_binds"`
	// Window, when > 0, answers ESME_RMSGQFUL to a submit_sm that arrives
	// while Window submit_sm of its bind are unanswered.
	Window int `yaml:"window"`
	// Rate sets the rate limits; over a limit the submit_sm is answered
	// ESME_RTHROTTLED.
	Rate RateConfig `yaml:"rate"`
	// Latency is the delay before each submit_sm_resp: "10ms", "5ms..20ms"
	// or a mix "80%:10ms,15%:100ms,5%:1s" (see ParseDist); "" is instant.
	Latency string `yaml:"latency"`
	// MessageID is the format of message ids in submit_sm_resp: decimal,
	// hex, HEX, optionally with a zero-padded width ("hex:10"); see
	// ParseIDFormat. "" is decimal.
	MessageID string `yaml:"message_id"`
	// ReceiptID is the format of the same ids in receipts (text and
	// receipted_message_id), when it differs from MessageID, as some
	// carriers do (Vonage: hex in the resp, decimal in the receipt).
	ReceiptID string `yaml:"receipt_id"`
	// IDStart is the number of the account's first message; 0 means 1.
	IDStart uint64 `yaml:"id_start"`
	// Receipts configures delivery receipts.
	Receipts ReceiptConfig `yaml:"receipts"`
	// Numbers are the account's own numbers: where MO traffic goes by
	// default, and how an injected MO without an account finds one. Entries
	// are numbers or ranges "FIRST..LAST"; a leading '+' is ignored.
	Numbers []string `yaml:"numbers"`
	// Loopback configures loopback numbers.
	Loopback LoopbackConfig `yaml:"loopback"`
	// MO configures generated mobile-originated traffic.
	MO MOConfig `yaml:"mo"`
	// Faults configures injected faults.
	Faults FaultConfig `yaml:"faults"`
}

// Rate modes of RateConfig.Mode.
const (
	// RateBucket: token buckets, rates in segments per second with a burst.
	RateBucket = "bucket"
	// RateSliding: a sliding window, as strict carriers count: at most N
	// segments in any interval of length Interval.
	RateSliding = "sliding"
)

// RateConfig holds the rate limits, in segments: a submit_sm is one segment
// (each part of a concatenated message is its own submit_sm); one that
// carries a long text in message_payload counts the segments the text
// needs. 0 means no limit. Both levels apply: a submit_sm needs room at
// the account and at its source, and one refused (ESME_RTHROTTLED) counts
// at neither.
//
// In Mode "bucket" (the default) the limits are token buckets of Account or
// Source segments per second, of AccountBurst or SourceBurst segments.
//
// In Mode "sliding" Account, Source and a Sources entry's Rate are whole
// numbers N: at most N segments whose arrivals (the moment the simulator
// reads the submit_sm) fall in any interval of length Interval, i.e. a
// submit_sm of k segments arriving at u passes when at most N−k accepted
// segments arrived in (u−Interval, u]; one arrived at t stops counting at
// exactly t+Interval. A submit_sm of more than N segments never passes. The
// burst fields are errors in this mode.
type RateConfig struct {
	// Mode is "bucket" or "sliding"; "" means "bucket".
	Mode string `yaml:"mode"`
	// Interval is the sliding window's length; 0 means one second. Only in
	// sliding mode (bucket rates are per second). A limit of N keeps the
	// arrival times of the last N segments; the report's max_in_interval
	// keeps those of the last interval (bounded by N where there is a
	// limit, by the traffic where there is none).
	Interval time.Duration `yaml:"interval"`
	// Account limits the whole account, all binds and sources together.
	Account float64 `yaml:"account"`
	// AccountBurst is the account bucket's size; 0 means max(1, Account).
	AccountBurst int `yaml:"account_burst"`
	// Source limits each source_addr.
	Source float64 `yaml:"source"`
	// SourceBurst is each source bucket's size; 0 means max(1, Source).
	SourceBurst int `yaml:"source_burst"`
	// Sources override Source for some numbers (e.g. a toll-free number at
	// 3/s among long codes at 1/s).
	Sources []SourceRate `yaml:"sources"`
}

// SourceRate is the limit of some source numbers: a rate and burst in
// bucket mode, N per interval in sliding mode (Burst unset).
type SourceRate struct {
	Numbers []string `yaml:"numbers"`
	Rate    float64  `yaml:"rate"`
	Burst   int      `yaml:"burst"` // 0 means max(1, Rate)
}

// ReceiptConfig configures delivery receipts. A receipt is sent when
// registered_delivery asks for one: bits 0–1 equal to 1 (always) or 2 (on
// failure only).
type ReceiptConfig struct {
	// Disabled sends no receipts at all.
	Disabled bool `yaml:"disabled"`
	// Delay between the submit_sm_resp and the receipt (a distribution, see
	// ParseDist); "" is at once.
	Delay string `yaml:"delay"`
	// Outcomes is the mix of final states: "DELIVRD:90,UNDELIV:5,
	// EXPIRED:3,REJECTD:2", each optionally with its err code
	// ("UNDELIV/034:5"); "" is always DELIVRD.
	Outcomes string `yaml:"outcomes"`
	// BeforeResp is the fraction (0..1) of receipts sent before their
	// submit_sm_resp: the receipt leaves when the response would have,
	// and the response BeforeRespGap after it, on the same connection when
	// the bind is a transceiver.
	BeforeResp float64 `yaml:"before_resp"`
	// BeforeRespGap is the time between such a receipt and its response.
	BeforeRespGap time.Duration `yaml:"before_resp_gap"`
}

// LoopbackConfig makes some destination numbers answer: a submit_sm to one
// of them comes back, Delay after its response, as a mobile-originated
// deliver_sm from that number to the submit's source, with the same
// data_coding and text (parts stay parts: UDH or sar_* TLVs are kept), on a
// receiver or transceiver bind of the same account.
type LoopbackConfig struct {
	Numbers []string `yaml:"numbers"`
	Delay   string   `yaml:"delay"` // a distribution; "" is at once
}

// MOConfig configures generated mobile-originated traffic.
type MOConfig struct {
	// Rate is messages per second; 0 generates none. Messages go to the
	// account's receivers and transceivers in turn; when none is bound,
	// none is generated.
	Rate float64 `yaml:"rate"`
	// From are the contacts' numbers (numbers or ranges); required with Rate.
	From []string `yaml:"from"`
	// To are our numbers the messages go to; empty means the account's Numbers.
	To []string `yaml:"to"`
	// TextsFile holds texts, one per line, chosen at random; the fractions
	// below then apply only to keywords. Empty generates texts.
	TextsFile string `yaml:"texts_file"`
	// Long is the fraction (0..1) of generated texts too long for one
	// message, sent as concatenated parts.
	Long float64 `yaml:"long"`
	// Methods are how long messages are sent, taken in turn: udh8, udh16,
	// sar, payload; empty means udh8.
	Methods []string `yaml:"methods"`
	// UCS2 is the fraction (0..1) of generated texts with characters
	// outside GSM 03.38, sent as UCS-2.
	UCS2 float64 `yaml:"ucs2"`
	// Keywords is the fraction (0..1) of messages that are STOP or START
	// keywords (and synonyms).
	Keywords float64 `yaml:"keywords"`
}

// FaultConfig configures injected faults.
type FaultConfig struct {
	// DropEvery closes each bound connection of the account this long
	// after its bind, abruptly (no unbind).
	DropEvery time.Duration `yaml:"drop_every"`
	// DropAfterPDUs closes a connection when it receives its N-th PDU,
	// without answering it.
	DropAfterPDUs int `yaml:"drop_after_pdus"`
	// MuteEvery and MuteFor make the account's binds hang for MuteFor at
	// the end of every MuteEvery period: requests are dropped unanswered
	// and due answers are dropped.
	MuteEvery time.Duration `yaml:"mute_every"`
	MuteFor   time.Duration `yaml:"mute_for"`
	// Fail answers a fraction of submit_sm with a status:
	// "0x58:1%,0x14:0.5%" (see ParseFailures).
	Fail string `yaml:"fail"`
	// NoScripts ignores fault scripts in message texts (see Script).
	NoScripts bool `yaml:"no_scripts"`
}

// LoadConfig reads a YAML configuration file. Unknown fields are errors;
// every error names the file, the line and the field.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("smscsim: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("smscsim: %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses a YAML configuration. It checks the syntax and the
// field names; Check (and Start) check the values.
func ParseConfig(b []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, errors.New("empty configuration")
		}
		return Config{}, explainYAML(b, err)
	}
	return cfg, nil
}

var lineRE = regexp.MustCompile(`line (\d+): `)

// explainYAML adds the path of the field each yaml.v3 error is about, as
// yaml.v3 names only the line.
func explainYAML(src []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(src, &root) != nil {
		return err
	}
	paths := map[int]string{}
	walkPaths(&root, "", paths)
	var msgs []string
	for _, e := range te.Errors {
		m := lineRE.FindStringSubmatchIndex(e)
		if m == nil {
			msgs = append(msgs, e)
			continue
		}
		line, _ := strconv.Atoi(e[m[2]:m[3]])
		msg := e[m[1]:]
		// "field x not found in type smscsim.AccountConfig" → "unknown field".
		if f, ok := strings.CutPrefix(msg, "field "); ok {
			if name, _, ok := strings.Cut(f, " not found"); ok {
				msg = "unknown field " + strconv.Quote(name)
			}
		}
		if p, ok := paths[line]; ok {
			msgs = append(msgs, fmt.Sprintf("line %d: %s: %s", line, p, msg))
		} else {
			msgs = append(msgs, fmt.Sprintf("line %d: %s", line, msg))
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// walkPaths records, for each line holding a mapping key, the key's path.
func walkPaths(n *yaml.Node, path string, out map[int]string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walkPaths(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if _, ok := out[k.Line]; !ok {
				out[k.Line] = p
			}
			walkPaths(v, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if _, ok := out[c.Line]; !ok && c.Kind == yaml.ScalarNode {
				out[c.Line] = p
			}
			walkPaths(c, p, out)
		}
	}
}

// configError collects the problems Check finds.
type configError struct{ msgs []string }

func (e *configError) add(path, format string, args ...any) {
	e.msgs = append(e.msgs, path+": "+fmt.Sprintf(format, args...))
}

func (e *configError) err() error {
	if len(e.msgs) == 0 {
		return nil
	}
	return errors.New("smscsim: config: " + strings.Join(e.msgs, "; "))
}

// Check reports every problem of the configuration's values, each with the
// field's path, or nil. Start calls it.
func (c *Config) Check() error {
	_, err := compile(c)
	return err
}
