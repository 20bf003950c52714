package main

// An internal test: a main package cannot be imported, so its tests live in
// it. The binary itself is this test binary run with SMSCSIM_MAIN set.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

func TestMain(m *testing.M) {
	if os.Getenv("SMSCSIM_MAIN") != "" {
		os.Args = append([]string{"smscsim"}, strings.Fields(os.Getenv("SMSCSIM_MAIN"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// binary runs the program in a child process with args.
func binary(t *testing.T, args ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SMSCSIM_MAIN="+strings.Join(args, " "))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, stderr
}

func TestHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := run([]string{"--help"}, &out, nil); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, s := range []string{"Usage:", "-listen addr", "-system-id", "-receipt-first", "-gomaxprocs", "-rate-mode mode", "-rate-interval interval"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("--help lacks %q", s)
		}
	}
	out.Reset()
	if code := run([]string{"--latency", "fast", "--system-id", "x"}, &out, nil); code != 2 || !strings.Contains(out.String(), "accounts[0].latency") {
		t.Fatalf("bad flag value: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"--system-id", "x", "--rate-mode", "strict"}, &out, nil); code != 2 || !strings.Contains(out.String(), "accounts[0].rate.mode: must be bucket or sliding") {
		t.Fatalf("bad rate mode: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"--system-id", "x", "--rate-mode", "sliding", "--source-rate", "1", "--source-burst", "2"}, &out, nil); code != 2 || !strings.Contains(out.String(), "accounts[0].rate.source_burst") {
		t.Fatalf("burst in sliding mode: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"--system-id", "x", "stray"}, &out, nil); code != 2 {
		t.Fatalf("stray argument: exit %d", code)
	}
}

// bind starts our smpp.Session with cfg and waits until it is bound; the
// context it returns ends 10 s after the call (or with the test).
func bind(t *testing.T, cfg smpp.SessionConfig) (*smpp.Session, context.Context) {
	t.Helper()
	sess, err := smpp.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	if err := sess.WaitBound(ctx); err != nil {
		t.Fatal(err)
	}
	return sess, ctx
}

// terminate sends SIGTERM to the binary, which must exit 0, and returns the
// report it wrote to path (and the file's content).
func terminate(t *testing.T, cmd *exec.Cmd, path string) (smscsim.Report, []byte) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r smscsim.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r, b
}

// TestSIGTERMWritesReport runs the binary's quick start, submits a message
// with a receipt, sends SIGTERM and reads the report; --verbose logs the
// bind on standard error.
func TestSIGTERMWritesReport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	reportPath := filepath.Join(dir, "report.json")
	cmd, stderr := binary(t, "--listen", "127.0.0.1:0", "--system-id", "ID", "--password", "PW", "--report", reportPath, "--stats", "127.0.0.1:0", "--verbose")
	sc := bufio.NewScanner(stderr)
	addr := ""
	var lines []string
	for addr == "" && sc.Scan() {
		lines = append(lines, sc.Text())
		addr, _ = strings.CutPrefix(sc.Text(), "smscsim: listening default ")
	}
	if addr == "" {
		t.Fatalf("no address in %q", lines)
	}
	var logged bytes.Buffer
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&logged, stderr); close(copied) }()
	receipts := make(chan struct{}, 1)
	sess, ctx := bind(t, smpp.SessionConfig{Addr: addr, SystemID: "ID", Password: "PW",
		Handler: smpp.HandlerFunc(func(_ context.Context, p smpp.SMSCPDU) smpp.Status {
			receipts <- struct{}{}
			return smpp.StatusOK
		})})
	m := &smpp.SubmitSM{Source: smpp.Address{Addr: []byte("14155550100")}, Dest: smpp.Address{Addr: []byte("447700900001")},
		RegisteredDelivery: 1, ShortMessage: []byte("hello")}
	if _, err := sess.Submit(ctx, m); err != nil {
		t.Fatal(err)
	}
	select {
	case <-receipts:
	case <-ctx.Done():
		t.Fatal("no receipt")
	}
	_ = sess.Close(ctx)
	r, b := terminate(t, cmd, reportPath)
	<-copied
	if l := logged.String(); !strings.Contains(l, "INFO\tbound\t") || !strings.Contains(l, `"system_id": "ID"`) || !strings.Contains(l, `"listener": "default"`) {
		t.Errorf("--verbose: no bind logged in %q", l)
	}
	ar, ok := r.Account("ID")
	if !ok || ar.Accepted != 1 || ar.Receipts != 1 || ar.MaxPerSecond != 1 {
		t.Fatalf("report %s", b)
	}
}

// TestStrictCarrierFlags runs the binary as a strict carrier from flags
// alone (sliding window, 1 per 10 s per source, 3 per 10 s for the
// account) and submits with our smpp.Session: the second submit_sm from a
// source within the interval gets ESME_RTHROTTLED, as does the fourth of
// the account; the report on SIGTERM says so.
func TestStrictCarrierFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	reportPath := filepath.Join(dir, "report.json")
	cmd, stderr := binary(t, "--listen", "127.0.0.1:0", "--system-id", "ID", "--report", reportPath,
		"--rate-mode", "sliding", "--rate-interval", "10s", "--source-rate", "1", "--rate", "3")
	sc := bufio.NewScanner(stderr)
	addr := ""
	for addr == "" && sc.Scan() {
		addr, _ = strings.CutPrefix(sc.Text(), "smscsim: listening default ")
	}
	if addr == "" {
		t.Fatal("no address")
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	sess, ctx := bind(t, smpp.SessionConfig{Addr: addr, SystemID: "ID"})
	submit := func(src string) smpp.Status {
		m := &smpp.SubmitSM{Source: smpp.Address{Addr: []byte(src)}, Dest: smpp.Address{Addr: []byte("447700900001")}, ShortMessage: []byte("hi")}
		_, err := sess.Submit(ctx, m)
		var se *smpp.StatusError
		switch {
		case err == nil:
			return smpp.StatusOK
		case errors.As(err, &se):
			return se.Status
		}
		t.Fatal(err)
		return 0
	}
	var got []smpp.Status
	for _, src := range []string{"14155550100", "14155550100", "14155550101", "14155550102", "14155550103"} {
		got = append(got, submit(src))
	}
	want := []smpp.Status{smpp.StatusOK, smpp.StatusTHROTTLED, smpp.StatusOK, smpp.StatusOK, smpp.StatusTHROTTLED}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("answers %v, want %v", got, want)
	}
	_ = sess.Close(ctx)
	r, b := terminate(t, cmd, reportPath)
	ar, _ := r.Account("ID")
	src, _ := ar.Source("14155550100")
	if ar.RateMode != "sliding" || ar.IntervalMS != 10000 || ar.Accepted != 3 || ar.ThrottledSource != 1 || ar.ThrottledAccount != 1 ||
		ar.MaxInInterval != 3 || src.MaxInInterval != 1 || src.Throttled != 1 {
		t.Fatalf("report %s", b)
	}
}
