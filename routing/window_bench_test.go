package routing_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/routing"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// slowTake is a Limiter that grants everything, each Take after a delay
// (a round trip to Redis and its script).
type slowTake struct {
	instant
	delay time.Duration
}

func (l *slowTake) Take(ctx context.Context, reqs []routing.TakeRequest) []routing.TakeResult {
	time.Sleep(l.delay)
	return l.instant.Take(ctx, reqs)
}

// BenchmarkDispatchWindowFill measures how well the dispatcher keeps a bind's
// window full when the window is the only limit: 10 numbers with a backlog,
// one bind of window 10, a carrier answering after 20 ms, a limiter taking
// 0.5 ms per Take. It reports segments/s and that as a percentage of W/RTT,
// at the nominal 20 ms (pct_nominal) and at the round trip the bind measured
// (pct_measured). Each iteration is one segment.
func BenchmarkDispatchWindowFill(b *testing.B) {
	const window, latency = 10, 20 * time.Millisecond
	srv := smpptest.Start(b, smpptest.Config{Latency: latency})
	c := &routing.Carrier{Name: "sim", Method: coding.UDH8, SourceTON: 1, SourceNPI: 1, DestTON: 1, DestNPI: 1}
	pool := startPool(b, smpp.SessionConfig{Addr: srv.Addr(), SystemID: "sb", Window: window})
	c.Submitter = pool
	var msgs []routing.Outbound
	for k := range 10 {
		for i := range max(b.N/10, 1) {
			msgs = append(msgs, from(int64(k*b.N+i+1), fmt.Sprintf("+1555000%04d", k)))
		}
	}
	store := newMemStore(msgs...)
	d, err := routing.NewDispatcher(routing.DispatcherConfig{
		Owner: "bench", Store: store, Limiter: &slowTake{delay: 500 * time.Microsecond}, Carriers: map[string]*routing.Carrier{"sim": c},
		MaxHold: 5 * time.Millisecond,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	go func() { d.Run(ctx); close(done) }()
	// Measure from the first answer to the last, so the claim of the first
	// batch does not count. Poll finely (not testenv.Eventually's 20 ms):
	// the times measured end when the polls see the counts.
	for srv.Stats().Submits < 1 {
		time.Sleep(100 * time.Microsecond)
	}
	start = time.Now()
	first := srv.Stats().Submits
	want := int64(len(msgs))
	for srv.Stats().Submits < want {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	rate := float64(want-first) / el.Seconds()
	rtt := time.Duration(0)
	for _, s := range pool.Sessions() {
		h := s.Stats().ResponseTime
		if h.Count > 0 {
			rtt = h.Sum / time.Duration(h.Count)
		}
	}
	b.ReportMetric(rate, "seg/s")
	b.ReportMetric(100*rate/(window/latency.Seconds()), "pct_nominal")
	if rtt > 0 {
		b.ReportMetric(100*rate/(window/rtt.Seconds()), "pct_measured")
		b.ReportMetric(float64(rtt.Microseconds())/1000, "rtt_ms")
	}
}
