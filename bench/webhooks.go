package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/switchboard-sms/switchboard/webhook/webhooktest"
)

// WebhookResults are what e2e --webhooks measured of the message.status
// webhook: every accepted message's delivered event at a receiver in the
// bench that verifies each signature.
type WebhookResults struct {
	Expected   int64 `json:"expected"`   // delivered messages, each owed a delivered event
	Arrived    int64 `json:"arrived"`    // of those, delivered events accepted by the receiver
	Requests   int64 `json:"requests"`   // deliveries the receiver answered (every event type, retries included)
	Unverified int64 `json:"unverified"` // deliveries whose signature did not verify (must be 0)
	Duplicates int64 `json:"duplicates"` // events accepted more than once (at least once allows them)
	// Connections the engine opened to the receiver (keep-alive: about
	// webhooks.concurrency, whatever the number of events).
	Connections int64   `json:"connections"`
	Rate        float64 `json:"events_per_s"`
	// Lag is, per message, from its delivered time (the engine's status
	// history) to its delivered event's arrival at the receiver.
	Lag Summary `json:"lag"`
}

// webhookSink is the bench's receiver and the endpoint registered to it.
type webhookSink struct {
	rcv *webhooktest.Receiver
}

// startWebhooks starts a verifying receiver on loopback and registers it
// for message.status events of the workspace wc stands for.
func startWebhooks(ctx context.Context, wc *APIClient) (*webhookSink, error) {
	rcv, err := webhooktest.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var ep struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := wc.Do(ctx, "POST", "/v1/webhooks", map[string]any{"url": rcv.URL, "event_types": []string{"message.status"},
		"description": "smppbench e2e"}, &ep); err != nil {
		rcv.Close()
		return nil, fmt.Errorf("registering the webhook: %w", err)
	}
	if err := rcv.SetSecrets(ep.Secret); err != nil {
		rcv.Close()
		return nil, fmt.Errorf("the webhook's secret: %w", err)
	}
	// A tenant's endpoint exists long before the traffic it reports: wait
	// until an engine process delivers it (a test event arrives; a new
	// endpoint is picked up at the deliverers' next lease round, within
	// webhooks.lease/3), so the run measures delivery, not the pick-up.
	if err := wc.Do(ctx, "POST", "/v1/webhooks/"+ep.ID+"/test", nil, nil); err != nil {
		rcv.Close()
		return nil, fmt.Errorf("sending the webhook a test event: %w", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, _, accepted := rcv.Stats(); accepted > 0 {
			break
		}
		if time.Now().After(deadline) {
			rcv.Close()
			return nil, fmt.Errorf("the webhook's test event did not arrive within 30 s")
		}
	}
	return &webhookSink{rcv: rcv}, nil
}

// delivered returns, per message id, when its delivered event first
// arrived.
func (w *webhookSink) delivered() map[string]time.Time {
	out := map[string]time.Time{}
	for _, ev := range w.rcv.Events() {
		var m struct{ ID, Status string }
		if ev.Type != "message.status" || json.Unmarshal(ev.Data, &m) != nil || m.Status != "delivered" {
			continue
		}
		if t, ok := out[m.ID]; !ok || ev.At.Before(t) {
			out[m.ID] = ev.At
		}
	}
	return out
}

// wait waits until every id in want has its delivered event, or timeout.
func (w *webhookSink) wait(ctx context.Context, want map[string]time.Time, timeout time.Duration, prog *Progress) {
	deadline := time.Now().Add(timeout)
	prog.Start("e2e: waiting for the delivered webhooks", int64(len(want)), "events")
	last := 0
	for {
		got := w.delivered()
		n := 0
		for id := range want {
			if _, ok := got[id]; ok {
				n++
			}
		}
		prog.Add(int64(n - last))
		last = n
		if n == len(want) || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// results measures the events of the messages delivered at the times in
// want (the engine's status history).
func (w *webhookSink) results(want map[string]time.Time) WebhookResults {
	got := w.delivered()
	requests, unverified, _ := w.rcv.Stats()
	r := WebhookResults{Expected: int64(len(want)), Requests: requests, Unverified: unverified, Connections: w.rcv.Conns()}
	lag := NewLatency()
	var arrivals []time.Time
	for id, at := range want {
		if t, ok := got[id]; ok {
			r.Arrived++
			lag.Record(t.Sub(at))
			arrivals = append(arrivals, t)
		}
	}
	for _, ev := range w.rcv.Events() {
		if ev.Type == "message.status" && ev.Times > 1 {
			r.Duplicates += int64(ev.Times - 1)
		}
	}
	if len(arrivals) > 1 {
		sort.Slice(arrivals, func(i, j int) bool { return arrivals[i].Before(arrivals[j]) })
		if d := arrivals[len(arrivals)-1].Sub(arrivals[0]).Seconds(); d > 0 {
			r.Rate = round3(float64(len(arrivals)) / d)
		}
	}
	r.Lag = lag.Summarize("webhook (delivered → event at the receiver)")
	return r
}

func (w *webhookSink) close() { w.rcv.Close() }
