package inbox_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// planLog collects the plans auto_explain sends as notices.
type planLog struct {
	mu    sync.Mutex
	plans []string
}

func (p *planLog) add(_ *pgconn.PgConn, n *pgconn.Notice) {
	p.mu.Lock()
	p.plans = append(p.plans, n.Message)
	p.mu.Unlock()
}

func (p *planLog) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.plans
	p.plans = nil
	return out
}

// TestExplainHotPaths prints the plans, with timings, buffers and WAL, of
// the statements of one 500-message batch of each hot-path operation
// against a pre-populated database (the benchmarks' data), as auto_explain
// reports them for the real calls. It is a measuring tool, run on demand
// (it needs a superuser to LOAD auto_explain):
//
//	INBOX_EXPLAIN=1 go test -run ExplainHotPaths -v ./inbox/
func TestExplainHotPaths(t *testing.T) {
	if os.Getenv("INBOX_EXPLAIN") == "" {
		t.Skip("measuring tool: set INBOX_EXPLAIN=1 to run")
	}
	ctx := context.Background()
	plans := &planLog{}
	cfg, err := pgxpool.ParseConfig(testenv.NewDatabase(t))
	ok(t, err)
	cfg.MaxConns = 1
	cfg.ConnConfig.OnNotice = plans.add
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	ok(t, err)
	defer pool.Close()
	ok(t, inbox.Migrate(ctx, pool))
	populateT(t, pool)
	s := inbox.New(pool, inbox.Options{})
	_, err = pool.Exec(ctx, `LOAD 'auto_explain'`)
	ok(t, err)
	for _, set := range []string{"log_min_duration = 0", "log_analyze = on", "log_buffers = on", "log_wal = on",
		"log_timing = on", "log_level = notice", "log_nested_statements = off"} {
		_, err = pool.Exec(ctx, "SET auto_explain."+set)
		ok(t, err)
	}
	explain := func(name string) {
		for _, p := range plans.take() {
			if strings.Contains(p, "unnest") || strings.Contains(p, "messages_due") {
				t.Logf("=== %s\n%s", name, p)
			}
		}
	}
	// INBOX_EXPLAIN_BACKLOG=n first queues n messages nobody claims, as the
	// Enqueue benchmark leaves behind after a few runs.
	if n, _ := strconv.Atoi(os.Getenv("INBOX_EXPLAIN_BACKLOG")); n > 0 {
		var backlog []inbox.OutboundRequest
		for i := range n {
			ws := 1 + i%benchWorkspaces
			backlog = append(backlog, inbox.OutboundRequest{Workspace: inbox.WorkspaceID(ws), To: benchContactOf(ws, (i*7)%benchThreadsPer),
				Body: "backlog", Encoding: "gsm7", Segments: 1, IdempotencyKey: fmt.Sprint("b", i)})
			if len(backlog) == 500 {
				_, err := s.Enqueue(ctx, backlog)
				ok(t, err)
				backlog = backlog[:0]
			}
		}
		plans.take()
	}
	var reqs []inbox.OutboundRequest
	for i := range 500 {
		ws := 1 + i%benchWorkspaces
		reqs = append(reqs, inbox.OutboundRequest{Workspace: inbox.WorkspaceID(ws), To: benchContactOf(ws, (i*37)%benchThreadsPer),
			Body: "Hi! Your order has shipped.", Encoding: "gsm7", Segments: 1, IdempotencyKey: fmt.Sprint("x", i)})
	}
	// Warm up: past the fifth execution PostgreSQL may switch a prepared
	// statement to its generic plan, the one a long-running engine uses.
	for w := range 7 {
		for i := range reqs {
			reqs[i].IdempotencyKey = fmt.Sprint("w", w, "-", i)
		}
		_, err = s.Enqueue(ctx, reqs)
		ok(t, err)
		c, err := s.Claim(ctx, "warm", 500, time.Minute)
		ok(t, err)
		var rs []inbox.SubmitResult
		for i, m := range c {
			rs = append(rs, inbox.SubmitResult{Message: m.ID, Outcome: inbox.SubmitOK, CarrierMessageID: fmt.Sprintf("%X", w<<32+i), Format: inbox.IDHex})
		}
		_, err = s.RecordSubmits(ctx, rs)
		ok(t, err)
		var rc []inbox.Receipt
		for i, m := range c {
			rc = append(rc, inbox.Receipt{Carrier: m.Carrier, CarrierMessageID: fmt.Sprint(w<<32 + i), Format: inbox.IDDecimal, Status: inbox.ReceiptDelivered})
		}
		_, err = s.ApplyReceipts(ctx, rc)
		ok(t, err)
		var in []inbox.Inbound
		for i := range 500 {
			ws := 1 + i%benchWorkspaces
			in = append(in, inbox.Inbound{Carrier: "carrier-1", From: benchContactOf(ws, (i*31+w)%benchThreadsPer), To: dedicatedE164(ws),
				Body: "ok", Encoding: "gsm7", Segments: 1})
		}
		_, err = s.AppendInbound(ctx, in)
		ok(t, err)
	}
	plans.take()
	for i := range reqs {
		reqs[i].IdempotencyKey = fmt.Sprint("y", i)
	}
	_, err = s.Enqueue(ctx, reqs)
	ok(t, err)
	explain("Enqueue")

	c, err := s.Claim(ctx, "x", 500, time.Minute)
	ok(t, err)
	explain("Claim")
	var rs []inbox.SubmitResult
	for i, m := range c {
		rs = append(rs, inbox.SubmitResult{Message: m.ID, Outcome: inbox.SubmitOK, CarrierMessageID: fmt.Sprintf("%X", 1<<40+i), Format: inbox.IDHex})
	}
	_, err = s.RecordSubmits(ctx, rs)
	ok(t, err)
	explain("RecordSubmits")
	var rc []inbox.Receipt
	for i, m := range c {
		rc = append(rc, inbox.Receipt{Carrier: m.Carrier, CarrierMessageID: fmt.Sprint(1<<40 + i),
			Format: inbox.IDDecimal, Status: inbox.ReceiptDelivered})
	}
	_, err = s.ApplyReceipts(ctx, rc)
	ok(t, err)
	explain("ApplyReceipts")
	var in []inbox.Inbound
	for i := range 500 {
		ws := 1 + i%benchWorkspaces
		in = append(in, inbox.Inbound{Carrier: "carrier-1", From: benchContactOf(ws, (i*53)%benchThreadsPer), To: dedicatedE164(ws),
			Body: "Yes, see you then", Encoding: "gsm7", Segments: 1})
	}
	_, err = s.AppendInbound(ctx, in)
	ok(t, err)
	explain("AppendInbound")
}
