// Command smppbench runs Switchboard's benchmark scenarios: window sweeps
// and window advice over SMPP, and throttle, end-to-end, inbound, soak,
// fairness and backlog runs through the engine's HTTP API, and the e2e
// traffic through Kannel as a baseline (kannel), each against a carrier
// simulator started for the run (or a real SMSC, or a running engine). See
// bench/README.md and `smppbench --help`.
//
//	smppbench window --out /tmp/window
//	smppbench advise --target smsc.example:2775 --system-id ID --password PW --dest +15555550123 --tps 200
//	smppbench e2e --short
//	smppbench kannel --short
//	smppbench --scenario configs/bench/throttle.yaml
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchboard-sms/switchboard/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, bench.Usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sc, err := bench.ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "smppbench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var prog *bench.Progress
	if !sc.Quiet {
		tty := false
		if f, ok := stdout.(*os.File); ok {
			tty = bench.IsTerminal(f)
		}
		prog = bench.NewProgress(stdout, tty)
	}
	rep, err := bench.Run(ctx, sc, prog)
	prog.Done()
	if err != nil {
		fmt.Fprintln(stderr, "smppbench:", err)
		return 1
	}
	rep.WriteText(stdout)
	if sc.Out != "" {
		fmt.Fprintf(stdout, "report: %s/report.html (also report.json, summary.txt, scenario.yaml)\n", sc.Out)
	}
	if !rep.OK() {
		fmt.Fprintln(stderr, "smppbench: a check failed")
		return 1
	}
	return 0
}
