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
			if strings.Contains(p, "unnest") || strings.Contains(p, "messages_ready") || strings.Contains(p, "t.out_next") {
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

// TestRecentSendingPlan checks that RecentSending reads the window, not the
// history: over a database holding 200,000 submitted messages from before
// the window (70 numbers on 3 carrier accounts, 40 workspaces, shared
// numbers used by 8 of them) and a minute of traffic, both its custom plan
// and its generic plan (the one a prepared statement settles on) scan
// messages only through messages_submitted and messages_pending, and the
// rows they read are the window's submissions and one probe per (number,
// workspace) pair, a small fraction of the history. Both asked numbers are
// on one account. EXPLAIN ANALYZE counts
// rows, not time: the check does not depend on the machine's load.
func TestRecentSendingPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.OpenPool(t, testenv.NewDatabase(t), 2)
	ok(t, inbox.Migrate(ctx, pool))
	const history = 200_000
	for _, q := range []string{
		`INSERT INTO workspaces (name, sms_addon) SELECT 'ws' || i, true FROM generate_series(1, 40) i`,
		// 60 dedicated numbers (workspace 1 + i % 40) and 10 shared ones,
		// on carrier-0, -1 and -2.
		`INSERT INTO numbers (e164, kind, rate_class, carrier, workspace_id)
		 SELECT '+1415200' || lpad(i::text, 4, '0'), 'dedicated', 'dedicated', 'carrier-' || (i % 3), 1 + i % 40
		 FROM generate_series(1, 60) i`,
		`INSERT INTO numbers (e164, kind, rate_class, carrier)
		 SELECT '+1415999' || lpad(i::text, 4, '0'), 'shared', 'shared', 'carrier-' || (i % 3) FROM generate_series(1, 10) i`,
		// The history: every number, from 2 days to 2 minutes ago; shared
		// numbers for 8 workspaces each.
		fmt.Sprintf(`INSERT INTO messages (workspace_id, thread_id, thread_seq, number_id, contact, direction, body, encoding,
		     segments, status, attempts, sent_mask, created_at, submitted_at)
		 SELECT coalesce(n.workspace_id, 1 + (j %% 8) * 5), j, 1, n.id, '+16462000000', 'out', 'x', 'gsm7', 1, 'delivered', 1, 1,
		        s - interval '1 s', s
		 FROM generate_series(1, %d) j
		 JOIN numbers n ON n.id = 1 + j %% 70,
		 LATERAL (SELECT now() - interval '2 days' + j * (interval '2 days' - interval '2 minutes') / %[1]d AS s) x`, history),
		// The window: every number sends 2 segments/s for the last 70 s,
		// workspace 1's messages having waited 5 s.
		`INSERT INTO messages (workspace_id, thread_id, thread_seq, number_id, contact, direction, body, encoding,
		     segments, status, attempts, sent_mask, created_at, submitted_at)
		 SELECT coalesce(n.workspace_id, 1 + (j % 8) * 5), j, 1, n.id, '+16462000000', 'out', 'x', 'gsm7', 1, 'submitted', 1, 1,
		        now() - j * interval '500 ms' - CASE WHEN coalesce(n.workspace_id, 1 + (j % 8) * 5) = 1 THEN interval '5 s' ELSE interval '100 ms' END,
		        now() - j * interval '500 ms'
		 FROM generate_series(0, 139) j CROSS JOIN numbers n`,
		// Workspace 1's queue on its dedicated number and on shared number 1.
		`INSERT INTO messages (workspace_id, thread_id, thread_seq, number_id, contact, direction, body, encoding,
		     segments, status, attempts, sent_mask, created_at, pending_since, due_at)
		 SELECT 1, j, 1, n.id, '+16462000000', 'out', 'x', 'gsm7', 1, 'queued', 0, 0, now() - interval '5 s', now() - interval '5 s', now()
		 FROM generate_series(1, 200) j JOIN numbers n ON n.e164 IN ('+14152000040', '+14159990001')`,
		`VACUUM ANALYZE`,
	} {
		_, err := pool.Exec(ctx, q)
		ok(t, err)
	}
	var asked []int64
	err := pool.QueryRow(ctx, `SELECT array_agg(id ORDER BY id) FROM numbers WHERE e164 IN ('+14152000040', '+14159990001')`).Scan(&asked)
	ok(t, err)
	var inWindow, pairs int
	err = pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE submitted_at > now() - interval '1 minute'),
	                                 (SELECT count(*) FROM (SELECT DISTINCT number_id, workspace_id FROM messages WHERE submitted_at IS NOT NULL) p)
	                          FROM messages`).Scan(&inWindow, &pairs)
	ok(t, err)
	args := fmt.Sprintf("1, '{%d,%d}', %d, %d", asked[0], asked[1], time.Minute.Microseconds(), (2 * time.Second).Microseconds())

	conn, err := pool.Acquire(ctx)
	ok(t, err)
	defer conn.Release()
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		for _, q := range inbox.RecentSendingPlan {
			_, err := conn.Exec(ctx, q)
			ok(t, err)
		}
		for _, q := range []string{"SET LOCAL plan_cache_mode = " + mode,
			"PREPARE recent (int8, int8[], int8, int8) AS " + inbox.RecentSendingSQL} {
			_, err := conn.Exec(ctx, q)
			ok(t, err)
		}
		text := explainLines(t, conn, "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) EXECUTE recent ("+args+")")
		var plan []struct{ Plan planNode }
		ok(t, conn.QueryRow(ctx, "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) EXECUTE recent ("+args+")").Scan(&plan))
		for _, q := range []string{"COMMIT", "DEALLOCATE recent"} {
			_, err = conn.Exec(ctx, q)
			ok(t, err)
		}
		t.Logf("%s:\n%s", mode, strings.Join(text, "\n"))

		read := 0
		var walk func(n planNode)
		walk = func(n planNode) {
			if n.Relation == "messages" {
				if n.Index != "messages_submitted" && n.Index != "messages_pending" {
					t.Errorf("%s: messages read by a %s (index %q)", mode, n.Type, n.Index)
				}
				read += int(n.Rows * n.Loops)
			}
			if strings.Contains(n.Type, "Seq Scan") && n.Relation == "messages" {
				t.Errorf("%s: sequential scan of messages", mode)
			}
			for _, c := range n.Plans {
				walk(c)
			}
		}
		walk(plan[0].Plan)
		// The window's submissions of the asked numbers' account, once per
		// asked number (and workspace 1's again for its backlog), its
		// queues, one probe per pair and per number.
		limit := len(asked)*inWindow + 400 + 2*pairs + 70
		t.Logf("%s: %d index entries of messages read; %d submissions in the window, %d pairs, %d in the history", mode, read, inWindow, pairs, history)
		if read == 0 || read > limit {
			t.Errorf("%s: read %d entries of messages, want at most %d", mode, read, limit)
		}
	}
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	Type     string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Rows     float64    `json:"Actual Rows"`
	Loops    float64    `json:"Actual Loops"`
	Plans    []planNode `json:"Plans"`
}
