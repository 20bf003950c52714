package smpptest_test

import (
	"os"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// TestMain doubles as the SMSC process of BenchmarkServerSubmitSubprocess
// (SMPPTEST_CHILD set) and fails the run when goroutines of package
// smpptest outlive the tests (every Server is closed by then).
func TestMain(m *testing.M) {
	if os.Getenv("SMPPTEST_CHILD") != "" {
		childServer()
		return
	}
	os.Exit(smpptest.CheckLeaks(m.Run(), pkgPath))
}

// pkgPath is the import path of package smpptest, whose goroutines must not
// outlive a Server.
const pkgPath = "github.com/switchboard-sms/switchboard/smpp/smpptest"

const ioTimeout = smpptest.IOTimeout

// client is the raw ESME of the tests.
type client = smpptest.Client

func dial(t testing.TB, addr string) *client { return smpptest.Dial(t, addr) }

func submitSM(dest string, registeredDelivery uint8) *smpp.SubmitSM {
	return &smpp.SubmitSM{
		Source:             smpp.Address{TON: smpp.TONAlphanumeric, Addr: []byte("MyBrand")},
		Dest:               smpp.Address{TON: smpp.TONInternational, NPI: smpp.NPIE164, Addr: []byte(dest)},
		RegisteredDelivery: registeredDelivery,
		ShortMessage:       []byte("Hello from the test, a text longer than twenty"),
	}
}
