package smpptest_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// pipeline sends n copies of tmpl (with increasing sequence numbers) through
// nc, keeping at most window unanswered and writing every free slot in one
// Write, and reads the responses with rd on a second goroutine. It fails on
// any response but submit_sm_resp ESME_ROK. It allocates nothing per message.
func pipeline(nc net.Conn, rd *smpp.Reader, tmpl []byte, n, window int) error {
	return pipelineReceipts(nc, rd, tmpl, n, window, 0)
}

// pipelineReceipts is pipeline that also expects receipts delivery receipts
// and acknowledges them (deliver_sm_resp, written in batches).
func pipelineReceipts(nc net.Conn, rd *smpp.Reader, tmpl []byte, n, window, receipts int) error {
	_ = nc.SetDeadline(time.Time{})
	var (
		acked atomic.Int64
		wmu   sync.Mutex // serialises the two goroutines' writes
	)
	wake := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		var got, rcpts int64
		var acks []byte
		for got < int64(n) || rcpts < int64(receipts) {
			h, _, err := rd.Next()
			if err != nil {
				errc <- err
				return
			}
			switch {
			case h.ID == smpp.DeliverSMID && receipts > 0:
				rcpts++
				acks = smpp.AppendHeader(acks, smpp.Header{Length: smpp.HeaderLen + 1, ID: smpp.DeliverSMRespID, Sequence: h.Sequence})
				acks = append(acks, 0) // empty message_id
			case h.ID == smpp.SubmitSMRespID && h.Status == smpp.StatusOK:
				got++
			default:
				errc <- fmt.Errorf("got %v status %v seq %d", h.ID, h.Status, h.Sequence)
				return
			}
			if rd.Buffered() == 0 || got == int64(n) {
				if len(acks) > 0 {
					wmu.Lock()
					_, err := nc.Write(acks)
					wmu.Unlock()
					if err != nil {
						errc <- err
						return
					}
					acks = acks[:0]
				}
				acked.Store(got)
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		errc <- nil
	}()
	buf := make([]byte, 0, window*len(tmpl))
	sent, seq := 0, uint32(0)
	for sent < n {
		free := window - (sent - int(acked.Load()))
		if free <= 0 {
			select {
			case <-wake:
			case err := <-errc:
				if err == nil {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			continue
		}
		free = min(free, n-sent)
		buf = buf[:0]
		for range free {
			seq++
			buf = append(buf, tmpl...)
			binary.BigEndian.PutUint32(buf[len(buf)-len(tmpl)+12:], seq)
		}
		wmu.Lock()
		_, err := nc.Write(buf)
		wmu.Unlock()
		if err != nil {
			return err
		}
		sent += free
	}
	return <-errc
}

// BenchmarkServerSubmit: a raw pipelined client (window 100, coalesced
// writes) against an instant Server in the same process, on one bind.
// cpu-ns/msg is the whole process (client and server); see
// BenchmarkServerSubmitSubprocess for the server alone.
func BenchmarkServerSubmit(b *testing.B) {
	s := smpptest.Start(b, smpptest.Config{NoRecord: true})
	c := dial(b, s.Addr())
	c.mustBind(smpp.BindTransmitter, "bench", "")
	tmpl := submitTemplate(b)
	b.ReportAllocs()
	cpu0, _ := processCPU()
	b.ResetTimer()
	start := time.Now()
	if err := pipeline(c.nc, c.rd, tmpl, b.N, 100); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	if cpu1, ok := processCPU(); ok {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/msg")
	}
}

// BenchmarkServerSubmitReceipts is BenchmarkServerSubmit with
// registered_delivery 1 and Receipts on: each message also costs a
// deliver_sm receipt and its deliver_sm_resp.
func BenchmarkServerSubmitReceipts(b *testing.B) {
	s := smpptest.Start(b, smpptest.Config{NoRecord: true, Receipts: true})
	c := dial(b, s.Addr())
	c.mustBind(smpp.BindTransceiver, "bench", "")
	tmpl := submitTemplateRD(b, smpp.RegisteredDeliveryFinal)
	b.ReportAllocs()
	cpu0, _ := processCPU()
	b.ResetTimer()
	start := time.Now()
	if err := pipelineReceipts(c.nc, c.rd, tmpl, b.N, 100, b.N); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	if cpu1, ok := processCPU(); ok {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/msg")
	}
}

// BenchmarkServerSubmitSubprocess runs the Server in a child process so its
// CPU time per message (getrusage in the child) can be reported alone.
func BenchmarkServerSubmitSubprocess(b *testing.B) {
	if _, ok := processCPU(); !ok {
		b.Skip("no getrusage here")
	}
	child := startChild(b)
	c := dial(b, child.addr)
	c.mustBind(smpp.BindTransmitter, "bench", "")
	tmpl := submitTemplate(b)
	cpu0 := child.cpu(b)
	b.ResetTimer()
	start := time.Now()
	if err := pipeline(c.nc, c.rd, tmpl, b.N, 100); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu1 := child.cpu(b)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "server-cpu-ns/msg")
}

type childServer struct {
	addr  string
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startChild(b *testing.B) *childServer {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SMPPTEST_CHILD=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ch := &childServer{stdin: stdin, out: bufio.NewScanner(stdout)}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	ch.addr = ch.line(b, "ADDR ")
	return ch
}

func (ch *childServer) line(b *testing.B, prefix string) string {
	for ch.out.Scan() {
		if s, ok := strings.CutPrefix(ch.out.Text(), prefix); ok {
			return s
		}
	}
	b.Fatalf("child server: no %q line (%v)", prefix, ch.out.Err())
	return ""
}

func (ch *childServer) cpu(b *testing.B) int64 {
	if _, err := io.WriteString(ch.stdin, "cpu\n"); err != nil {
		b.Fatal(err)
	}
	n, err := strconv.ParseInt(ch.line(b, "CPU "), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// TestChildServer is the child process of BenchmarkServerSubmitSubprocess.
func TestChildServer(t *testing.T) {
	if os.Getenv("SMPPTEST_CHILD") != "1" {
		t.Skip("helper process for BenchmarkServerSubmitSubprocess")
	}
	s, err := smpptest.NewServer(smpptest.Config{NoRecord: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fmt.Printf("ADDR %s\n", s.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "cpu" {
			ns, _ := processCPU()
			fmt.Printf("CPU %d\n", ns)
		}
	}
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
		c.mustBind(smpp.BindTransceiver, "bench", "")
		rd, receipts := uint8(0), 0
		if cfg.Receipts {
			rd = smpp.RegisteredDeliveryFinal
		}
		tmpl := submitTemplateRD(t, rd)
		run := func(n int) {
			if cfg.Receipts {
				receipts = n
			}
			if err := pipelineReceipts(c.nc, c.rd, tmpl, n, 100, receipts); err != nil {
				t.Fatal(err)
			}
		}
		run(5000) // warm up buffers and maps
		const n = 20000
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		run(n)
		runtime.ReadMemStats(&m1)
		per := float64(m1.Mallocs-m0.Mallocs) / n
		t.Logf("NoRecord=%v Receipts=%v: %.4f allocations per submit_sm (%d in all)", cfg.NoRecord, cfg.Receipts, per, m1.Mallocs-m0.Mallocs)
		if per > 0.01 {
			t.Errorf("NoRecord=%v Receipts=%v: %.4f allocations per submit_sm", cfg.NoRecord, cfg.Receipts, per)
		}
		_ = s.Close()
	}
}
