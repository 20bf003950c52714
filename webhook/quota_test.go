package webhook_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/webhook/webhooktest"
)

// quota.threshold events reach the endpoints that subscribe to them, once
// per threshold, signed like any other; an endpoint that does not
// subscribe gets none.
func TestQuotaThresholdWebhook(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.endpoint(f.recv, inbox.EventQuotaThreshold)
	other, err := webhooktest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	f.endpoint(other, inbox.EventMessageReceived)
	f.deliverer("a")

	limit := int64(5)
	if err := f.store.SetQuota(f.ctx, f.ws, inbox.QuotaPatch{DailyCap: &limit}); err != nil {
		t.Fatal(err)
	}
	for i := range 7 { // 80 % at the 4th, 100 % at the 5th; the last two refused
		res, err := f.store.Enqueue(f.ctx, []inbox.OutboundRequest{{Workspace: f.ws, To: fmt.Sprintf("+1646555%04d", i),
			Body: "hi", Encoding: "GSM7", Segments: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if (res[0].Err == nil) != (i < 5) {
			t.Fatalf("message %d: %v", i, res[0].Err)
		}
	}
	// An inbound message after them: once the other endpoint has it, it
	// has read past the quota events.
	f.inbound(1)
	testenv.Eventually(t, "two quota events", func() bool { return len(f.recv.Events()) >= 2 })
	testenv.Eventually(t, "the inbound message at the other endpoint", func() bool { return len(other.Events()) == 1 })
	var thresholds []int
	for _, id := range f.recv.Order() {
		ev := f.recv.Events()[id]
		var data struct {
			Cap       string
			Threshold int
			Limit     int64
			Used      int64
		}
		if err := json.Unmarshal(ev.Data, &data); err != nil || ev.Type != inbox.EventQuotaThreshold || data.Cap != "daily" || data.Limit != 5 ||
			data.Used != int64(data.Threshold)/20 || ev.Times != 1 {
			t.Fatalf("event %+v: %s (%v)", ev, ev.Data, err)
		}
		thresholds = append(thresholds, data.Threshold)
	}
	slices.Sort(thresholds) // sent concurrently: either may arrive first
	if fmt.Sprint(thresholds) != "[80 100]" || f.count(`SELECT count(*) FROM quota_events`) != 2 {
		t.Fatalf("thresholds %v", thresholds)
	}
	if _, unverified, _ := f.recv.Stats(); unverified != 0 {
		t.Fatalf("%d unverified deliveries", unverified)
	}
	for _, ev := range other.Events() {
		if ev.Type != inbox.EventMessageReceived {
			t.Fatalf("the other endpoint got %s", ev.Type)
		}
	}
}
