package inbox_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// webhookBenchBatch is the events one BenchmarkRecordWebhookBatch call
// records: about what a deliverer's round held in smppbench e2e --webhooks
// (20,000 events in 150 to 190 rounds).
const webhookBenchBatch = 128

// BenchmarkRecordWebhookBatch measures what recording a round of fresh
// webhook events costs PostgreSQL: benchWorkers endpoints, each recording
// rounds of webhookBenchBatch message.status events that were delivered at
// the first attempt (the common case), with their delivery log and the
// endpoint's cursor. Each op is one event; pg-cpu-us/msg and wal-B/msg are
// per event.
func BenchmarkRecordWebhookBatch(b *testing.B) {
	ctx := context.Background()
	url := testenv.NewDatabase(b)
	pool := testenv.OpenPool(b, url, 2*benchWorkers)
	if err := inbox.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	s := inbox.New(pool, inbox.Options{})
	ws := testenv.Seed(b, s, "+14155550100")
	var ids []inbox.WebhookID
	for w := range benchWorkers {
		h, _, err := s.CreateWebhook(ctx, ws, inbox.NewWebhook{URL: fmt.Sprintf("https://example.com/hook/%d", w),
			Types: []string{inbox.EventMessageStatus}})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, h.ID)
	}
	const owner = "bench"
	targets, err := s.ClaimWebhooks(ctx, owner, time.Hour, benchWorkers)
	if err != nil || len(targets) != benchWorkers {
		b.Fatalf("claimed %d of %d endpoints: %v", len(targets), benchWorkers, err)
	}
	// A message.status body of the usual size (about 600 bytes).
	pad := strings.Repeat("x", 400)
	n := b.N
	evs := make([]inbox.WebhookEvent, n)
	results := make([]inbox.WebhookResult, n)
	for i := range evs {
		id := fmt.Sprintf("evt_c%012d", i)
		evs[i] = inbox.WebhookEvent{ID: id, Type: inbox.EventMessageStatus, Message: inbox.MessageID(i + 1),
			Body: []byte(`{"id":"` + id + `","type":"message.status","timestamp":"2026-01-01T00:00:00Z","data":{"status":"delivered","pad":"` + pad + `"}}`)}
		results[i] = inbox.WebhookResult{EventID: id, HTTPStatus: 200, Latency: 800 * time.Microsecond, Delivered: true}
	}
	db := &benchDB{pool: pool, s: s}
	runBatchesOf(b, db, n, webhookBenchBatch, func(w, from, to int) error {
		cur := inbox.WebhookCursors{Feed: targets[w].FeedCursor, NumberXid: targets[w].NumberXid}
		_, err := s.RecordWebhookBatch(ctx, ids[w], owner, evs[from:to], results[from:to], cur)
		return err
	})
}
