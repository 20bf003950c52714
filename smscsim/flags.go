package smscsim

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Flags are the command line of cmd/smscsim. NewFlags defines them on a
// flag.FlagSet; after Parse, Config builds the configuration:
//
//   - without --config, the flags describe one account (--system-id is
//     required) on the --listen addresses (default DefaultListenAddr);
//   - with --config, the file is the base: --listen and --tls-listen add
//     listeners, account flags add one more account (with its own
//     --system-id), and --stats, --report, --log, --seed, --backlog and
//     --smsc-id override the file's values.
type Flags struct {
	fs *flag.FlagSet

	// GOMAXPROCS is the --gomaxprocs value: how many OS threads run Go code
	// at once in the binary (0 leaves Go's default).
	GOMAXPROCS int
	// Verbose is --verbose: log connection events to standard error.
	Verbose bool

	config                    string
	listen, tlsListen         listFlag
	tlsCert, tlsKey           string
	cfg                       Config // top-level values
	acct                      AccountConfig
	bindTypes, numbers, loops listFlag
	moFrom, moTo, moMethods   listFlag
	sourceRates               listFlag
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// DefaultGOMAXPROCS is --gomaxprocs's default: one thread. A busy bind
// costs the simulator mostly system calls and hand-offs between its reader
// and writer goroutines; on one thread those hand-offs need no futex
// wake-ups, so each message costs less CPU (about 730 ns against 900 on
// this project's 2-core machine) and the simulator leaves the other cores
// to the engine it tests. Raise it when many busy binds need more than one
// core (one thread answers over 800,000 submit_sm/s).
const DefaultGOMAXPROCS = 1

// accountFlags names the flags that describe the flag account.
var accountFlags = map[string]bool{
	"system-id": true, "password": true, "bind-types": true, "max-binds": true, "window": true,
	"rate": true, "burst": true, "rate-mode": true, "rate-interval": true, "source-rate": true, "source-burst": true, "source-rates": true,
	"latency": true, "id-format": true, "receipt-id-format": true, "id-start": true,
	"no-receipts": true, "receipt-delay": true, "receipt-outcomes": true, "receipt-first": true, "receipt-first-gap": true,
	"numbers": true, "loopback": true, "loopback-delay": true,
	"mo-rate": true, "mo-from": true, "mo-to": true, "mo-texts": true, "mo-long": true, "mo-methods": true,
	"mo-ucs2": true, "mo-keywords": true,
	"drop-every": true, "drop-after-pdus": true, "mute-every": true, "mute-for": true, "fail": true, "no-scripts": true,
}

// NewFlags defines the simulator's flags on fs and sets fs.Usage.
func NewFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	a := &f.acct
	fs.StringVar(&f.config, "config", "", "YAML configuration `file` (see configs/smscsim.yaml); flags add to it")
	fs.Var(&f.listen, "listen", "plain TCP `addr`ess to accept binds on, host:port (repeatable; default "+DefaultListenAddr+" without --config)")
	fs.Var(&f.tlsListen, "tls-listen", "TLS `addr`ess to accept binds on (repeatable); a self-signed certificate unless --tls-cert and --tls-key")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate `file` for --tls-listen")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key `file` for --tls-listen")
	fs.StringVar(&f.cfg.Stats, "stats", "", "HTTP `addr`ess of the endpoint: GET /stats, POST /mo, POST /mute?for=5s, POST /drop, POST /unbind")
	fs.StringVar(&f.cfg.Report, "report", "", "write the report (JSON) to this `file` on exit")
	fs.StringVar(&f.cfg.Log, "log", "", "append every accepted submit_sm to this `file`, one JSON line each")
	fs.Uint64Var(&f.cfg.Seed, "seed", 0, "seed of every random choice; 0 picks one (same seed, same run)")
	fs.IntVar(&f.cfg.Backlog, "backlog", 0, fmt.Sprintf("receipts and MO kept per account while no receiver is bound (0: %d)", DefaultBacklog))
	fs.StringVar(&f.cfg.SystemID, "smsc-id", "", "system_id in bind responses (default \""+DefaultSystemID+"\")")
	fs.IntVar(&f.GOMAXPROCS, "gomaxprocs", DefaultGOMAXPROCS, "OS threads running Go code at once (0: one per CPU)")
	fs.BoolVar(&f.Verbose, "verbose", false, "log connection events (binds, closes, faults) to standard error")

	fs.StringVar(&a.SystemID, "system-id", "", "the account's system_id (required without --config)")
	fs.StringVar(&a.Password, "password", "", "the account's password (a wrong one gets ESME_RINVPASWD)")
	fs.Var(&f.bindTypes, "bind-types", "bind `types` allowed: transceiver,transmitter,receiver (default all; others get ESME_RBINDFAIL)")
	fs.IntVar(&a.MaxBinds, "max-binds", 0, "most simultaneous binds; one more gets ESME_RALYBND (0: no limit)")
	fs.IntVar(&a.Window, "window", 0, "most submit_sm outstanding per bind; one more gets ESME_RMSGQFUL 0x14 (0: no limit)")
	fs.StringVar(&a.Rate.Mode, "rate-mode", "", "rate limit `mode`: bucket (token buckets, per second with a burst) or sliding (at most N segments in any --rate-interval, as strict carriers count) (default bucket)")
	fs.DurationVar(&a.Rate.Interval, "rate-interval", 0, "the sliding window of --rate-mode sliding: --rate, --source-rate and --source-rates are segments in any `interval` this long (0: 1s)")
	fs.Float64Var(&a.Rate.Account, "rate", 0, "account limit in segments per second (sliding: per --rate-interval); over it ESME_RTHROTTLED 0x58 (0: none)")
	fs.IntVar(&a.Rate.AccountBurst, "burst", 0, "account bucket size in segments (0: max(1, --rate); bucket mode only)")
	fs.Float64Var(&a.Rate.Source, "source-rate", 0, "limit per source number in segments per second (sliding: per --rate-interval) (0: none)")
	fs.IntVar(&a.Rate.SourceBurst, "source-burst", 0, "bucket size per source number (0: max(1, --source-rate); bucket mode only)")
	fs.Var(&f.sourceRates, "source-rates", "per-number `limits`, NUMBER=RATE[/BURST], e.g. 18005550100=3/3 (sliding mode: NUMBER=N) (repeatable)")
	fs.StringVar(&a.Latency, "latency", "", "submit_sm_resp delay `dist`ribution: 10ms, 5ms..20ms or 80%:10ms,15%:100ms,5%:1s (default instant)")
	fs.StringVar(&a.MessageID, "id-format", "", "message_id `format` in submit_sm_resp: decimal, hex, HEX, with a zero-padded width as hex:10 (default decimal)")
	fs.StringVar(&a.ReceiptID, "receipt-id-format", "", "message id `format` in receipts when it differs from --id-format (e.g. hex resp, decimal receipt)")
	fs.Uint64Var(&a.IDStart, "id-start", 0, "number of the first message id (0: 1)")
	fs.BoolVar(&a.Receipts.Disabled, "no-receipts", false, "send no delivery receipts even when registered_delivery asks")
	fs.StringVar(&a.Receipts.Delay, "receipt-delay", "", "`dist`ribution of the delay from submit_sm_resp to receipt (default at once)")
	fs.StringVar(&a.Receipts.Outcomes, "receipt-outcomes", "", "receipt outcome `mix`, e.g. DELIVRD:90,UNDELIV:5,EXPIRED:3,REJECTD/034:2 (default DELIVRD)")
	fs.Float64Var(&a.Receipts.BeforeResp, "receipt-first", 0, "`fraction` (0..1) of receipts sent before their submit_sm_resp")
	fs.DurationVar(&a.Receipts.BeforeRespGap, "receipt-first-gap", 0, "time between such a receipt and its submit_sm_resp")
	fs.Var(&f.numbers, "numbers", "our `numbers` on this account (MO destinations): numbers or ranges FIRST..LAST, comma-separated")
	fs.Var(&f.loops, "loopback", "loopback `numbers`: a submit_sm to one comes back as an MO deliver_sm (numbers or ranges)")
	fs.StringVar(&a.Loopback.Delay, "loopback-delay", "", "`dist`ribution of the delay before a loopback MO (default at once)")
	fs.Float64Var(&a.MO.Rate, "mo-rate", 0, "generated mobile-originated messages per second (0: none)")
	fs.Var(&f.moFrom, "mo-from", "contact `numbers` MO traffic comes from (numbers or ranges)")
	fs.Var(&f.moTo, "mo-to", "our `numbers` MO traffic goes to (default --numbers)")
	fs.StringVar(&a.MO.TextsFile, "mo-texts", "", "`file` of MO texts, one per line (default generated texts)")
	fs.Float64Var(&a.MO.Long, "mo-long", 0, "`fraction` of generated MO texts long enough for several parts")
	fs.Var(&f.moMethods, "mo-methods", "how long MO messages are sent, in turn: udh8,udh16,sar,payload (default udh8)")
	fs.Float64Var(&a.MO.UCS2, "mo-ucs2", 0, "`fraction` of generated MO texts sent as UCS-2")
	fs.Float64Var(&a.MO.Keywords, "mo-keywords", 0, "`fraction` of MO messages that are STOP/START keywords")
	fs.DurationVar(&a.Faults.DropEvery, "drop-every", 0, "close each bind abruptly this long after it bound (0: never)")
	fs.IntVar(&a.Faults.DropAfterPDUs, "drop-after-pdus", 0, "close a connection on receiving its N-th PDU, unanswered (0: never)")
	fs.DurationVar(&a.Faults.MuteEvery, "mute-every", 0, "hang (answer nothing) for --mute-for at the end of every such period")
	fs.DurationVar(&a.Faults.MuteFor, "mute-for", 0, "how long each hang of --mute-every lasts")
	fs.StringVar(&a.Faults.Fail, "fail", "", "answer a fraction of submit_sm with a status: `mix` such as 0x58:1%,0x14:0.5%")
	fs.BoolVar(&a.Faults.NoScripts, "no-scripts", false, "ignore fault scripts in message texts, e.g. {submit:{status:0x58},receipt:{stat:UNDELIV,after:5s}}")
	fs.Usage = func() { f.usage(fs.Output()) }
	return f
}

func (f *Flags) usage(w io.Writer) {
	fmt.Fprint(w, `smscsim: a carrier (SMSC) simulator for SMPP 3.4 ESMEs.

Usage:
  smscsim --listen 127.0.0.1:2775 --system-id ID --password PW [flags]
  smscsim --config configs/smscsim.yaml [flags]

One account with instant answers and receipts on request needs no file.
SIGINT or SIGTERM writes the --report and exits 0.

Flags:
`)
	f.fs.PrintDefaults()
}

// Config builds the configuration from the parsed flags (and --config).
func (f *Flags) Config() (Config, error) {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var cfg Config
	if f.config != "" {
		c, err := LoadConfig(f.config)
		if err != nil {
			return Config{}, err
		}
		cfg = c
		if set["stats"] {
			cfg.Stats = f.cfg.Stats
		}
		if set["report"] {
			cfg.Report = f.cfg.Report
		}
		if set["log"] {
			cfg.Log = f.cfg.Log
		}
		if set["smsc-id"] {
			cfg.SystemID = f.cfg.SystemID
		}
		if set["seed"] {
			cfg.Seed = f.cfg.Seed
		}
		if set["backlog"] {
			cfg.Backlog = f.cfg.Backlog
		}
	} else {
		cfg = f.cfg
	}
	withAccount := false
	for name := range set {
		if accountFlags[name] {
			withAccount = true
		}
	}
	if f.config == "" && !withAccount {
		return Config{}, errors.New("smscsim: give --system-id (and --password), or --config FILE")
	}
	if withAccount {
		if f.acct.SystemID == "" {
			return Config{}, errors.New("smscsim: account flags need --system-id")
		}
		a := f.acct
		a.BindTypes = f.bindTypes
		a.Numbers = f.numbers
		a.Loopback.Numbers = f.loops
		a.MO.From, a.MO.To, a.MO.Methods = f.moFrom, f.moTo, f.moMethods
		for _, sr := range f.sourceRates {
			r, err := parseSourceRate(sr)
			if err != nil {
				return Config{}, fmt.Errorf("smscsim: --source-rates: %w", err)
			}
			a.Rate.Sources = append(a.Rate.Sources, r)
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	if len(f.listen) > 0 || len(f.tlsListen) > 0 {
		if f.config == "" {
			cfg.Listeners = nil
		}
		single := len(cfg.Listeners) == 0 && len(f.listen)+len(f.tlsListen) == 1
		for i, addr := range f.listen {
			name := fmt.Sprintf("listen%d", i)
			if single {
				name = "default"
			}
			cfg.Listeners = append(cfg.Listeners, ListenerConfig{Name: name, Addr: addr})
		}
		for i, addr := range f.tlsListen {
			name := fmt.Sprintf("tls%d", i)
			if single {
				name = "default"
			}
			t := &TLSConfig{Cert: f.tlsCert, Key: f.tlsKey, SelfSigned: f.tlsCert == "" && f.tlsKey == ""}
			cfg.Listeners = append(cfg.Listeners, ListenerConfig{Name: name, Addr: addr, TLS: t})
		}
	} else if (f.tlsCert != "" || f.tlsKey != "") && len(f.tlsListen) == 0 {
		return Config{}, errors.New("smscsim: --tls-cert and --tls-key need --tls-listen")
	}
	if err := cfg.Check(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// parseSourceRate parses NUMBER=RATE[/BURST].
func parseSourceRate(s string) (SourceRate, error) {
	num, rb, ok := strings.Cut(s, "=")
	if !ok {
		return SourceRate{}, fmt.Errorf("%q: want NUMBER=RATE[/BURST]", s)
	}
	var r SourceRate
	r.Numbers = []string{strings.TrimSpace(num)}
	rs, bs, hasBurst := strings.Cut(rb, "/")
	if _, err := fmt.Sscanf(strings.TrimSpace(rs), "%g", &r.Rate); err != nil {
		return SourceRate{}, fmt.Errorf("%q: rate %q is not a number", s, rs)
	}
	if hasBurst {
		if _, err := fmt.Sscanf(strings.TrimSpace(bs), "%d", &r.Burst); err != nil {
			return SourceRate{}, fmt.Errorf("%q: burst %q is not a whole number", s, bs)
		}
	}
	return r, nil
}
