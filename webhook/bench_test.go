package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/webhook"
	"github.com/switchboard-sms/switchboard/webhook/webhooktest"
)

// BenchmarkDeliverFromFeed measures the whole webhook path for one
// endpoint on a local keep-alive receiver that verifies every signature
// with the reference library: inbound messages committed (in batches of
// 500, as the router commits them), read from the feed, written to the
// outbox, signed, POSTed and recorded. It reports deliveries/s.
func BenchmarkDeliverFromFeed(b *testing.B) {
	f := newFixtureTB(b)
	f.endpoint(f.recv, inbox.EventMessageReceived)
	n := max(b.N, 5000)
	var in []inbox.Inbound
	for i := range n {
		in = append(in, inbox.Inbound{Carrier: "sim", From: fmt.Sprintf("+1646%07d", i), To: f.num.E164, Body: "reply", Encoding: "GSM7"})
	}
	for i := 0; i < len(in); i += 500 {
		if _, err := f.store.AppendInbound(f.ctx, in[i:min(i+500, len(in))]); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	f.deliverer("bench", func(c *webhook.Config) {
		c.Timeout = 10 * time.Second
		c.Poll = 10 * time.Millisecond
		c.Concurrency = benchConcurrency
	})
	testenv.Eventually(b, "every event", func() bool { _, _, acc := f.recv.Stats(); return acc >= int64(n) })
	el := time.Since(start)
	b.StopTimer()
	if _, unverified, _ := f.recv.Stats(); unverified != 0 {
		b.Fatalf("%d unverified", unverified)
	}
	b.ReportMetric(float64(n)/el.Seconds(), "deliveries/s")
}

// benchConcurrency is Config.Concurrency in BenchmarkDeliverFromFeed.
var benchConcurrency = webhook.DefaultConcurrency

// BenchmarkPost is the cost of one delivery's request and answer, sender
// and receiver together (one process), 32 in flight: the deliveries'
// client ("poster") and net/http's Transport ("net-http", as the
// deliverer used it before) against the same verifying receiver.
// cpu-µs/op is the process's CPU time (getrusage) per request.
func BenchmarkPost(b *testing.B) {
	rcv, err := webhooktest.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer rcv.Close()
	secret := "whsec_MDEyMzQ1Njc4OWFiY2RlZg=="
	rcv.SetSecrets(secret)
	key, _ := webhook.ParseKey(secret)
	body := []byte(`{"id":"evt_1","type":"message.status","timestamp":"2026-12-08T00:34:52.123456Z","data":{"id":"msg_0123456789","thread_id":"thr_01234567","direction":"out","from":"+14155550100","to":"+16465550123","body":"hello there, this is message 1234 of the bench","status":"delivered"}}`)
	g, _ := webhook.NewGuard([]string{"127.0.0.1"})
	b.Run("poster", func(b *testing.B) {
		defer cpuPerOp(b)()
		p := webhook.NewTestPoster(g, 10*time.Second, 64, nil)
		b.SetParallelism(16) // 32 goroutines on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if status, _, err := p.Post(context.Background(), rcv.URL, "evt_1", []webhook.Key{key}, body); err != nil || status != 200 {
					b.Errorf("%d %v", status, err)
				}
			}
		})
	})
	b.Run("net-http", func(b *testing.B) {
		defer cpuPerOp(b)()
		tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		s := webhook.NewSigner([]webhook.Key{key})
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequestWithContext(context.Background(), "POST", rcv.URL, bytes.NewReader(body))
				ts := time.Now().Unix()
				req.Header["Content-Type"] = []string{"application/json"}
				req.Header[webhook.HeaderID] = []string{"evt_1"}
				req.Header[webhook.HeaderTimestamp] = []string{strconv.FormatInt(ts, 10)}
				req.Header[webhook.HeaderSignature] = []string{s.Signature("evt_1", ts, body)}
				resp, err := c.Do(req)
				if err != nil {
					b.Error(err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	})
}

// cpuPerOp reports the process's CPU time per op from now until the
// returned function is called.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0 := cpu()
	return func() { b.ReportMetric(float64(cpu()-c0)/1e3/float64(b.N), "cpu-µs/op") }
}
