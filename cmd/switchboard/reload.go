package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/engine"
	"github.com/switchboard-sms/switchboard/engine/config"
)

// reloadOnHUP reloads the engine's configuration file on each SIGHUP
// until ctx ends or the returned function is called. A file that does not
// load leaves the running configuration (Engine.ReloadFile logs why).
func reloadOnHUP(ctx context.Context, e *engine.Engine, log *zap.Logger) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-hup:
				log.Info("SIGHUP: reloading the configuration")
				e.ReloadFile(ctx, "")
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

// writePIDFile writes this process's id to path, refusing when the file
// names another running process.
func writePIDFile(path string) error {
	if pid, err := readPIDFile(path); err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == nil {
		return fmt.Errorf("%s: process %d is running (another switchboard serve?)", path, pid)
	}
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: not a process id: %q", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// reload runs `switchboard reload`: the file was checked by Load already;
// the engine serving it is found through its pid_file and sent SIGHUP.
func reload(cfg *config.Config, path string, stdout, stderr io.Writer) int {
	if cfg.PIDFile == "" {
		fmt.Fprintf(stderr, "switchboard reload: %s has no pid_file: send SIGHUP to the switchboard serve process yourself\n", path)
		return 2
	}
	pid, err := readPIDFile(cfg.PIDFile)
	if err != nil {
		fmt.Fprintln(stderr, "switchboard reload: pid_file:", err)
		return 1
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			err = fmt.Errorf("no process %d (is switchboard serve running?)", pid)
		}
		fmt.Fprintln(stderr, "switchboard reload:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok; sent SIGHUP to switchboard serve (pid %d): it reloads the file and logs the outcome (GET /admin/v1/binds shows the configuration version)\n", path, pid)
	return 0
}
