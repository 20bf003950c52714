package smscsim_test

import (
	"bytes"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/smscsim"
)

func parseFlags(t *testing.T, args ...string) (*smscsim.Flags, smscsim.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("smscsim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := smscsim.NewFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	cfg, err := f.Config()
	return f, cfg, err
}

// TestHelpListsEveryFlag: --help documents every flag, each with a usage
// text, and shows the quick start.
func TestHelpListsEveryFlag(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("smscsim", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	smscsim.NewFlags(fs)
	if err := fs.Parse([]string{"--help"}); err != flag.ErrHelp {
		t.Fatalf("--help: %v", err)
	}
	help := out.String()
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(help, "  -"+f.Name+" ") && !strings.Contains(help, "  -"+f.Name+"\n") {
			t.Errorf("--help does not list -%s", f.Name)
		}
		if len(f.Usage) < 15 {
			t.Errorf("-%s: usage %q is not documentation", f.Name, f.Usage)
		}
	})
	if n < 40 || !strings.Contains(help, "smscsim --listen 127.0.0.1:2775 --system-id ID --password PW") {
		t.Fatalf("%d flags; help:\n%s", n, help)
	}
}

// TestEveryFlagTakesEffect: each flag, set, changes the configuration (or
// the Flags it reports): a flag that is parsed but ignored fails here, and
// a new flag without a case here fails too.
func TestEveryFlagTakesEffect(t *testing.T) {
	t.Parallel()
	base := []string{"--system-id", "acme"}
	cases := map[string][]string{
		"backlog": {"--backlog", "7"}, "bind-types": {"--bind-types", "transmitter"}, "burst": {"--rate", "5", "--burst", "9"},
		"drop-after-pdus": {"--drop-after-pdus", "3"}, "drop-every": {"--drop-every", "1m"}, "fail": {"--fail", "0x58:1%"},
		"id-format": {"--id-format", "hex:10"}, "id-start": {"--id-start", "100"}, "latency": {"--latency", "10ms"},
		"listen": {"--listen", "127.0.0.1:9"}, "log": {"--log", "x.jsonl"}, "loopback": {"--loopback", "1..3"},
		"loopback-delay": {"--loopback-delay", "1s"}, "max-binds": {"--max-binds", "2"},
		"mo-from": {"--mo-from", "44"}, "mo-keywords": {"--mo-keywords", "0.5"}, "mo-long": {"--mo-long", "0.5"},
		"mo-methods": {"--mo-methods", "sar"}, "mo-rate": {"--mo-rate", "1", "--mo-from", "44", "--mo-to", "1"},
		"mo-texts": {"--mo-texts", "../configs/smscsim.yaml"}, "mo-to": {"--mo-to", "1"}, "mo-ucs2": {"--mo-ucs2", "0.5"},
		"mute-every": {"--mute-every", "2s", "--mute-for", "1s"}, "mute-for": {"--mute-every", "2s", "--mute-for", "1s"},
		"no-receipts": {"--no-receipts"}, "no-scripts": {"--no-scripts"}, "numbers": {"--numbers", "1,2"},
		"password": {"--password", "pw"}, "rate": {"--rate", "5"},
		"rate-mode": {"--rate-mode", "sliding"}, "rate-interval": {"--rate-mode", "sliding", "--rate-interval", "2s"}, "receipt-delay": {"--receipt-delay", "1s"},
		"receipt-first": {"--receipt-first", "0.5"}, "receipt-first-gap": {"--receipt-first-gap", "1s"},
		"receipt-id-format": {"--receipt-id-format", "HEX"}, "receipt-outcomes": {"--receipt-outcomes", "UNDELIV:100"},
		"report": {"--report", "r.json"}, "seed": {"--seed", "3"}, "smsc-id": {"--smsc-id", "carrier"},
		"source-burst": {"--source-rate", "1", "--source-burst", "4"}, "source-rate": {"--source-rate", "1"},
		"source-rates": {"--source-rates", "18005550100=3/4"}, "stats": {"--stats", "127.0.0.1:0"},
		"system-id": {"--system-id", "other"}, "window": {"--window", "10"}, "tls-listen": {"--tls-listen", "127.0.0.1:0"},
		"tls-cert": {"--tls-listen", "127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key", "k.pem"},
		"tls-key":  {"--tls-listen", "127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key", "k.pem"},
		"config":   {"--config", "../configs/smscsim.yaml"}, "gomaxprocs": {"--gomaxprocs", "2"}, "verbose": {"--verbose"},
	}
	// Flags whose pair partner is the one that matters: compare against
	// the partner alone.
	partner := map[string][]string{
		"burst": {"--rate", "5"}, "source-burst": {"--source-rate", "1"}, "mute-every": nil, "mute-for": nil,
		"rate-interval": {"--rate-mode", "sliding"},
		"mo-rate":       {"--mo-from", "44", "--mo-to", "1"},
		"tls-cert":      {"--tls-listen", "127.0.0.1:0"}, "tls-key": {"--tls-listen", "127.0.0.1:0"},
	}
	f0, cfg0, err := parseFlags(t, base...)
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	smscsim.NewFlags(fs)
	fs.VisitAll(func(fl *flag.Flag) {
		args, ok := cases[fl.Name]
		if !ok {
			t.Errorf("-%s: no case in this test", fl.Name)
			return
		}
		refF, refCfg := f0, cfg0
		if p, ok := partner[fl.Name]; ok && p != nil {
			var err error
			if refF, refCfg, err = parseFlags(t, append(append([]string{}, base...), p...)...); err != nil {
				t.Fatalf("-%s partner: %v", fl.Name, err)
			}
		}
		f, cfg, err := parseFlags(t, append(append([]string{}, base...), args...)...)
		if err != nil {
			t.Errorf("-%s: %v", fl.Name, err)
			return
		}
		if reflect.DeepEqual(cfg, refCfg) && f.GOMAXPROCS == refF.GOMAXPROCS && f.Verbose == refF.Verbose {
			t.Errorf("-%s %q changed nothing", fl.Name, args)
		}
	})
}

// TestFlagsQuickStart: the quick start needs no file and gives one
// account on one listener named "default".
func TestFlagsQuickStart(t *testing.T) {
	t.Parallel()
	f, cfg, err := parseFlags(t, "--listen", "127.0.0.1:2775", "--system-id", "ID", "--password", "PW", "--report", "r.json")
	if err != nil {
		t.Fatal(err)
	}
	want := smscsim.Config{
		Report:    "r.json",
		Listeners: []smscsim.ListenerConfig{{Name: "default", Addr: "127.0.0.1:2775"}},
		Accounts:  []smscsim.AccountConfig{{SystemID: "ID", Password: "PW"}},
	}
	if !reflect.DeepEqual(cfg, want) || f.GOMAXPROCS != smscsim.DefaultGOMAXPROCS {
		t.Fatalf("config %+v", cfg)
	}
	if _, _, err := parseFlags(t); err == nil || !strings.Contains(err.Error(), "--system-id") {
		t.Fatalf("no flags: %v", err)
	}
	if _, _, err := parseFlags(t, "--rate", "5"); err == nil {
		t.Fatal("account flags without --system-id")
	}
	if _, _, err := parseFlags(t, "--system-id", "a", "--latency", "fast"); err == nil || !strings.Contains(err.Error(), "accounts[0].latency") {
		t.Fatalf("bad latency: %v", err)
	}
}

// TestFlagsAddToConfig: with --config, --listen adds a listener, account
// flags add an account and --stats overrides the file.
func TestFlagsAddToConfig(t *testing.T) {
	t.Parallel()
	_, cfg, err := parseFlags(t, "--config", "../configs/smscsim.yaml", "--listen", "127.0.0.1:0", "--system-id", "extra", "--stats", "127.0.0.1:0", "--seed", "9")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listeners) != 4 || cfg.Listeners[3].Name != "listen0" || len(cfg.Accounts) != 5 || cfg.Accounts[4].SystemID != "extra" ||
		cfg.Stats != "127.0.0.1:0" || cfg.Seed != 9 || cfg.Report != "smscsim-report.json" {
		t.Fatalf("config %+v", cfg)
	}
	if _, _, err := parseFlags(t, "--config", "../configs/smscsim.yaml", "--system-id", "bench"); err == nil {
		t.Fatal("a flag account with a system_id of the file")
	}
}
