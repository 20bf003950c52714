package smpp_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// TestMain doubles as a fake SMSC process for the benchmarks: with
// SMPP_FAKE_SMSC set it serves smpptest on 127.0.0.1, prints the address and
// runs until its standard input closes. Running the SMSC in its own process
// lets a benchmark measure the client's CPU alone.
func TestMain(m *testing.M) {
	if os.Getenv("SMPP_FAKE_SMSC") != "" {
		latency, _ := time.ParseDuration(os.Getenv("SMPP_FAKE_SMSC_LATENCY"))
		srv, err := smpptest.NewServer(smpptest.Config{Latency: latency, NoRecord: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(srv.Addr())
		bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
		srv.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startFakeSMSC runs a fake SMSC in a child process and returns its address.
func startFakeSMSC(tb testing.TB, latency time.Duration) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SMPP_FAKE_SMSC=1", "SMPP_FAKE_SMSC_LATENCY="+latency.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("fake SMSC: %v", err)
	}
	return strings.TrimSpace(line)
}
