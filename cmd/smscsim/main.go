// Command smscsim is Switchboard's carrier simulator: an SMSC for SMPP 3.4
// ESMEs that throttles, fills its queue, answers slowly, sends receipts
// before responses, writes message ids its own way, drops and hangs, and
// sends mobile-originated traffic. See package smscsim and `smscsim --help`.
//
//	smscsim --listen 127.0.0.1:2775 --system-id ID --password PW --report report.json
//	smscsim --config configs/smscsim.yaml --stats 127.0.0.1:8775
//
// It prints its addresses on standard error, runs until SIGINT or SIGTERM,
// then writes the report (--report) and exits 0.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchboard-sms/switchboard/smscsim"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	os.Exit(run(os.Args[1:], os.Stderr, sigs))
}

// run is the whole program: parse flags, start, wait for a signal, close.
func run(args []string, stderr io.Writer, sigs <-chan os.Signal) int {
	fs := flag.NewFlagSet("smscsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := smscsim.NewFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "smscsim: unexpected arguments %q (see --help)\n", fs.Args())
		return 2
	}
	cfg, err := f.Config()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if f.GOMAXPROCS > 0 {
		runtime.GOMAXPROCS(f.GOMAXPROCS)
	}
	if f.Verbose {
		cfg.Logger = consoleLogger(stderr)
		defer func() { _ = cfg.Logger.Sync() }()
	}
	sim, err := smscsim.Start(cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	r := sim.Report()
	names := make([]string, 0, len(r.Listeners))
	for n := range r.Listeners {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(stderr, "smscsim: listening %s %s\n", n, r.Listeners[n])
	}
	if a := sim.StatsAddr(); a != "" {
		fmt.Fprintf(stderr, "smscsim: stats http://%s/stats\n", a)
	}
	ids := make([]string, 0, len(r.Accounts))
	for _, a := range r.Accounts {
		ids = append(ids, a.SystemID)
	}
	fmt.Fprintf(stderr, "smscsim: accounts %s\n", strings.Join(ids, ", "))
	sig := <-sigs
	fmt.Fprintf(stderr, "smscsim: %v: closing\n", sig)
	if err := sim.Close(); err != nil {
		fmt.Fprintf(stderr, "smscsim: %v\n", err)
		return 1
	}
	if cfg.Report != "" {
		fmt.Fprintf(stderr, "smscsim: report written to %s\n", cfg.Report)
	}
	return 0
}

// consoleLogger writes every level to w, one line an event: time, level,
// message and the fields (bind, system_id, …) as JSON.
func consoleLogger(w io.Writer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), zapcore.DebugLevel))
}
