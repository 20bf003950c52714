package smpptest_test

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// submitTemplate is the submit_sm of gosmpp-eval.md (100 GSM 7-bit
// characters unpacked, alphanumeric source, registered_delivery 0 here so
// the bench measures the submit path alone) with sequence number 0.
func submitTemplate(tb testing.TB) []byte { return submitTemplateRD(tb, 0) }

// submitTemplateRD is submitTemplate with a registered_delivery.
func submitTemplateRD(tb testing.TB, registeredDelivery uint8) []byte {
	p := &smpp.SubmitSM{
		RegisteredDelivery: registeredDelivery,
		Source:             smpp.Address{TON: smpp.TONAlphanumeric, Addr: []byte("MyBrand")},
		Dest:               smpp.Address{TON: smpp.TONInternational, NPI: smpp.NPIE164, Addr: []byte("447700900123")},
		ShortMessage:       bytes.Repeat([]byte("Hello 0123"), 10),
	}
	b, err := smpp.AppendPDU(nil, p, smpp.StatusOK, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// processCPU is this process's CPU time, or nil where it is unknown.
func processCPU() func() int64 {
	if _, ok := smpptest.ProcessCPU(); !ok {
		return nil
	}
	return func() int64 { ns, _ := smpptest.ProcessCPU(); return ns }
}

// BenchmarkServerSubmit: a raw pipelined client (window 100, coalesced
// writes) against an instant Server in the same process, on one bind.
// cpu-ns/msg is the whole process (client and server); see
// BenchmarkServerSubmitSubprocess for the server alone.
func BenchmarkServerSubmit(b *testing.B) {
	s := smpptest.Start(b, smpptest.Config{NoRecord: true})
	c := dial(b, s.Addr())
	c.MustBind(smpp.BindTransmitter, "bench", "")
	smpptest.MeasurePipeline(b, c, submitTemplate(b), false, processCPU(), "cpu-ns/msg")
}

// BenchmarkServerSubmitReceipts is BenchmarkServerSubmit with
// registered_delivery 1 and Receipts on: each message also costs a
// deliver_sm receipt and its deliver_sm_resp.
func BenchmarkServerSubmitReceipts(b *testing.B) {
	s := smpptest.Start(b, smpptest.Config{NoRecord: true, Receipts: true})
	c := dial(b, s.Addr())
	c.MustBind(smpp.BindTransceiver, "bench", "")
	smpptest.MeasurePipeline(b, c, submitTemplateRD(b, smpp.RegisteredDeliveryFinal), true, processCPU(), "cpu-ns/msg")
}

// BenchmarkServerSubmitSubprocess runs the Server in a child process so its
// CPU time per message (getrusage in the child) can be reported alone.
func BenchmarkServerSubmitSubprocess(b *testing.B) {
	if processCPU() == nil {
		b.Skip("no getrusage here")
	}
	child := smpptest.StartChild(b, "SMPPTEST_CHILD=1")
	c := dial(b, child.Addr)
	c.MustBind(smpp.BindTransmitter, "bench", "")
	smpptest.MeasurePipeline(b, c, submitTemplate(b), false, func() int64 { return child.CPU(b) }, "server-cpu-ns/msg")
}

// childServer is the child process of BenchmarkServerSubmitSubprocess: an
// instant Server without recording.
func childServer() {
	s, err := smpptest.NewServer(smpptest.Config{NoRecord: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	smpptest.ServeChild(s.Addr())
	_ = s.Close()
}

// TestSubmitAllocatesNothing: answering submit_sm on the instant path
// allocates nothing, recording off and on (arenas and interning amortise
// to almost nothing), and with a receipt per message. Not timed; runs alone because it counts every
// allocation of the process.
func TestSubmitAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, cfg := range []smpptest.Config{{NoRecord: true}, {}, {NoRecord: true, Receipts: true}} {
		s := smpptest.Start(t, cfg)
		c := dial(t, s.Addr())
		c.MustBind(smpp.BindTransceiver, "bench", "")
		rd, receipts := uint8(0), 0
		if cfg.Receipts {
			rd = smpp.RegisteredDeliveryFinal
		}
		tmpl := submitTemplateRD(t, rd)
		run := func(n int) {
			if cfg.Receipts {
				receipts = n
			}
			if err := smpptest.Pipeline(c.NC, c.RD, tmpl, n, 100, receipts); err != nil {
				t.Fatal(err)
			}
		}
		per := smpptest.MallocsPer(20000, 5000, run)
		t.Logf("NoRecord=%v Receipts=%v: %.4f allocations per submit_sm", cfg.NoRecord, cfg.Receipts, per)
		if per > 0.01 {
			t.Errorf("NoRecord=%v Receipts=%v: %.4f allocations per submit_sm", cfg.NoRecord, cfg.Receipts, per)
		}
		_ = s.Close()
	}
}
