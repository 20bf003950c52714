package smpp_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// TestMain doubles as a fake SMSC process for the benchmarks: with
// SMPP_FAKE_SMSC set it serves smpptest on 127.0.0.1 (smpptest.ServeChild)
// until its standard input closes. Running the SMSC in its own process lets
// a benchmark measure the client's CPU alone.
func TestMain(m *testing.M) {
	if os.Getenv("SMPP_FAKE_SMSC") != "" {
		latency, _ := time.ParseDuration(os.Getenv("SMPP_FAKE_SMSC_LATENCY"))
		srv, err := smpptest.NewServer(smpptest.Config{Latency: latency, NoRecord: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		smpptest.ServeChild(srv.Addr())
		srv.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startFakeSMSC runs an instant (or latency-delayed) smpptest.Server without
// recording in a child process and returns its address.
func startFakeSMSC(tb testing.TB, latency time.Duration) string {
	tb.Helper()
	return smpptest.StartChild(tb, "SMPP_FAKE_SMSC=1", "SMPP_FAKE_SMSC_LATENCY="+latency.String()).Addr
}
