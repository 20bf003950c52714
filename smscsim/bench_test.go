package smscsim_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// Benchmarks of the instant path: one bind, window 100, the simulator with
// instant answers. The client is either a raw pipelined one (coalesced
// writes, nothing but the codec) or our smpp.Session.SubmitAsync; the
// simulator runs in this process or in a child process (this test binary
// with SMSCSIM_CHILD set), whose CPU time is then reported alone;
// SMSCSIM_CHILD_CPUPROFILE=file profiles the child.
//
//	go test -run '^$' -bench . -count 5 ./smscsim/

// cpuNow is this process's CPU time in nanoseconds.
func cpuNow() int64 {
	ns, _ := smpptest.ProcessCPU()
	return ns
}

// childSim is the child process: a simulator with one account "bench",
// instant answers (receipts on request), on 127.0.0.1:0, served to the
// parent by smpptest.ServeChild.
func childSim() {
	s, err := smscsim.Start(smscsim.Config{
		Listeners: []smscsim.ListenerConfig{{Addr: "127.0.0.1:0"}},
		Accounts:  []smscsim.AccountConfig{{SystemID: "bench"}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if path := os.Getenv("SMSCSIM_CHILD_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	smpptest.ServeChild(s.Addr(""))
	_ = s.Close()
}

// startChild runs the simulator in a child process with GOMAXPROCS procs
// (0: the default).
func startChild(b *testing.B, procs int) *smpptest.Child {
	env := []string{"SMSCSIM_CHILD=1"}
	if procs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	return smpptest.StartChild(b, env...)
}

// template is a submit_sm of 100 GSM characters from one long code, with
// sequence number 0.
func template(tb testing.TB, rd uint8) []byte {
	b, err := smpp.AppendPDU(nil, msg("14155550100", "447700900123", rd, strings.Repeat("Hello 0123", 10)), smpp.StatusOK, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// benchRaw binds a raw client to addr as "bench" and measures the
// pipeline (see smpptest.MeasurePipeline), with a receipt per message when
// rd asks for them.
func benchRaw(b *testing.B, addr string, rd uint8, cpu func() int64, metric string) {
	c := dial(b, addr)
	c.MustBind(smpp.BindTransceiver, "bench", "")
	smpptest.MeasurePipeline(b, c.Client, template(b, rd), rd != 0, cpu, metric)
}

// BenchmarkSimSubmit: raw client and simulator in this process;
// cpu-ns/msg is both together.
func BenchmarkSimSubmit(b *testing.B) {
	s := start(b, smscsim.Config{Accounts: []smscsim.AccountConfig{{SystemID: "bench"}}})
	benchRaw(b, s.Addr(""), 0, cpuNow, "cpu-ns/msg")
}

// BenchmarkSimSubmitRated: as BenchmarkSimSubmit with account and source
// limits too high to refuse anything, so each submit_sm pays for the
// checks and their bookkeeping, in each rate mode.
func BenchmarkSimSubmitRated(b *testing.B) {
	for _, tc := range []struct {
		name string
		rate smscsim.RateConfig
	}{
		{"bucket", smscsim.RateConfig{Account: 1e8, Source: 1e8}},
		// At most 10,000 in any 1 ms (rings of 80 kB), and 2^20 in any
		// 100 ms (8 MB): max_in_interval needs a window of its own.
		{"sliding", smscsim.RateConfig{Mode: smscsim.RateSliding, Interval: time.Millisecond, Account: 10_000, Source: 10_000}},
		{"sliding-big", smscsim.RateConfig{Mode: smscsim.RateSliding, Interval: 100 * time.Millisecond, Account: 1 << 20, Source: 1 << 20}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := start(b, smscsim.Config{Accounts: []smscsim.AccountConfig{{SystemID: "bench", Rate: tc.rate}}})
			benchRaw(b, s.Addr(""), 0, cpuNow, "cpu-ns/msg")
		})
	}
}

// BenchmarkSimSubmitChild: raw client here, simulator in a child process
// with GOMAXPROCS 1 and 2; server-cpu-ns/msg is the child's.
func BenchmarkSimSubmitChild(b *testing.B) {
	for _, procs := range []int{1, 2} {
		b.Run("procs="+strconv.Itoa(procs), func(b *testing.B) {
			ch := startChild(b, procs)
			benchRaw(b, ch.Addr, 0, func() int64 { return ch.CPU(b) }, "server-cpu-ns/msg")
		})
	}
}

// BenchmarkSimSubmitReceiptsChild: as BenchmarkSimSubmitChild with
// registered_delivery 1: each message also costs a receipt and its
// deliver_sm_resp.
func BenchmarkSimSubmitReceiptsChild(b *testing.B) {
	ch := startChild(b, smscsim.DefaultGOMAXPROCS)
	benchRaw(b, ch.Addr, smpp.RegisteredDeliveryFinal, func() int64 { return ch.CPU(b) }, "server-cpu-ns/msg")
}

// BenchmarkSessionSubmitAsyncChild: our smpp.Session.SubmitAsync, window
// 100, against the simulator in a child process (DefaultGOMAXPROCS);
// client-cpu-ns/msg is this process's.
func BenchmarkSessionSubmitAsyncChild(b *testing.B) {
	ch := startChild(b, smscsim.DefaultGOMAXPROCS)
	sess, err := smpp.NewSession(smpp.SessionConfig{Addr: ch.Addr, SystemID: "bench", Window: 100})
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sess.WaitBound(ctx); err != nil {
		b.Fatal(err)
	}
	m := msg("14155550100", "447700900123", 0, strings.Repeat("Hello 0123", 10))
	var done, failed atomic.Int64
	fin := make(chan struct{})
	n := int64(b.N)
	cb := func(_ smpp.SubmitResult, err error) {
		if err != nil {
			failed.Add(1)
		}
		if done.Add(1) == n {
			close(fin)
		}
	}
	cpu0, ccpu0 := ch.CPU(b), cpuNow()
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		if err := sess.SubmitAsync(context.Background(), m, cb); err != nil {
			b.Fatal(err)
		}
	}
	<-fin
	elapsed := time.Since(t0)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d submits failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(ch.CPU(b)-cpu0)/float64(b.N), "server-cpu-ns/msg")
	b.ReportMetric(float64(cpuNow()-ccpu0)/float64(b.N), "client-cpu-ns/msg")
}

// TestSubmitAllocatesNothing: answering submit_sm on the instant path
// allocates nothing, without and with a receipt per message. Not timed; it
// counts every allocation of the process, so it does not run in parallel.
func TestSubmitAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := start(t, smscsim.Config{Accounts: []smscsim.AccountConfig{{SystemID: "bench"}}})
	for _, rd := range []uint8{0, smpp.RegisteredDeliveryFinal} {
		c := dial(t, s.Addr(""))
		c.MustBind(smpp.BindTransceiver, "bench", "")
		tmpl := template(t, rd)
		run := func(n int) {
			receipts := 0
			if rd != 0 {
				receipts = n
			}
			if err := smpptest.Pipeline(c.NC, c.RD, tmpl, n, 100, receipts); err != nil {
				t.Fatal(err)
			}
		}
		// The warm-up grows buffers, maps and the sliding-window rings.
		per := smpptest.MallocsPer(20000, 20000, run)
		t.Logf("registered_delivery %d: %.4f allocations per submit_sm", rd, per)
		if per > 0.01 {
			t.Errorf("registered_delivery %d: %.4f allocations per submit_sm", rd, per)
		}
	}
}
