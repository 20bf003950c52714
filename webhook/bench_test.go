package webhook_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/webhook"
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
