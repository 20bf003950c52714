package inbox_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// env is one test's inbox over a database of its own.
type env struct {
	t    testing.TB
	ctx  context.Context
	s    *inbox.Store
	pool *pgxpool.Pool
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOpts(t, inbox.Options{})
}

func newEnvOpts(t testing.TB, opts inbox.Options) *env {
	t.Helper()
	ctx := context.Background()
	pool := testenv.OpenPool(t, testenv.NewDatabase(t), 8)
	if err := inbox.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return &env{t: t, ctx: ctx, s: inbox.New(pool, opts), pool: pool}
}

var numberSeq atomic.Int64

// newE164 returns a valid US number no other call of this process returns.
func newE164() string {
	n := numberSeq.Add(1)
	return fmt.Sprintf("+1415%03d%04d", 200+n/10000%800, n%10000)
}

// contact returns a valid contact number for i (stable).
func contact(i int) string {
	return fmt.Sprintf("+1646%03d%04d", 200+i/10000%800, i%10000)
}

func (e *env) workspace(name string, addon bool) inbox.WorkspaceID {
	e.t.Helper()
	w, _, err := e.s.CreateWorkspace(e.ctx, name, addon)
	if err != nil {
		e.t.Fatalf("create workspace: %v", err)
	}
	return w.ID
}

func (e *env) shared(carrier string) inbox.Number {
	e.t.Helper()
	n, err := e.s.AddNumber(e.ctx, inbox.NewNumber{E164: newE164(), Kind: inbox.Shared, Carrier: carrier})
	if err != nil {
		e.t.Fatalf("add shared number: %v", err)
	}
	return n
}

func (e *env) dedicated(ws inbox.WorkspaceID, carrier string) inbox.Number {
	e.t.Helper()
	n, err := e.s.AddNumber(e.ctx, inbox.NewNumber{E164: newE164(), Kind: inbox.Dedicated, Carrier: carrier, Owner: ws})
	if err != nil {
		e.t.Fatalf("add dedicated number: %v", err)
	}
	return n
}

func (e *env) connect(ws inbox.WorkspaceID, n inbox.Number) {
	e.t.Helper()
	if _, err := e.s.ConnectNumber(e.ctx, ws, n.ID); err != nil {
		e.t.Fatalf("connect %s to %d: %v", n.E164, ws, err)
	}
}

// ready returns a workspace with the add-on and a connected number.
func (e *env) ready(name string, kind inbox.NumberKind) (inbox.WorkspaceID, inbox.Number) {
	e.t.Helper()
	ws := e.workspace(name, true)
	var n inbox.Number
	if kind == inbox.Dedicated {
		n = e.dedicated(ws, "carrier-a")
	} else {
		n = e.shared("carrier-a")
	}
	e.connect(ws, n)
	return ws, n
}

func msg(ws inbox.WorkspaceID, to, body string) inbox.OutboundRequest {
	return inbox.OutboundRequest{Workspace: ws, To: to, Body: body, Encoding: "gsm7", Segments: 1}
}

// send enqueues requests that must all be accepted.
func (e *env) send(reqs ...inbox.OutboundRequest) []inbox.EnqueueResult {
	e.t.Helper()
	res, err := e.s.Enqueue(e.ctx, reqs)
	if err != nil {
		e.t.Fatalf("enqueue: %v", err)
	}
	for i, r := range res {
		if r.Err != nil {
			e.t.Fatalf("enqueue item %d: %v", i, r.Err)
		}
	}
	return res
}

func (e *env) claim(owner string, max int, lease time.Duration) []inbox.ClaimedMessage {
	e.t.Helper()
	c, err := e.s.Claim(e.ctx, owner, max, lease)
	if err != nil {
		e.t.Fatalf("claim: %v", err)
	}
	return c
}

func (e *env) record(rs ...inbox.SubmitResult) {
	e.t.Helper()
	errs, err := e.s.RecordSubmits(e.ctx, rs)
	if err != nil {
		e.t.Fatalf("record submits: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			e.t.Fatalf("record submit %d: %v", i, err)
		}
	}
}

func (e *env) receipts(rs ...inbox.Receipt) []inbox.ReceiptResult {
	e.t.Helper()
	res, err := e.s.ApplyReceipts(e.ctx, rs)
	if err != nil {
		e.t.Fatalf("apply receipts: %v", err)
	}
	for i, r := range res {
		if r.Err != nil {
			e.t.Fatalf("receipt %d: %v", i, r.Err)
		}
	}
	return res
}

func (e *env) inbound(ms ...inbox.Inbound) []inbox.InboundResult {
	e.t.Helper()
	res, err := e.s.AppendInbound(e.ctx, ms)
	if err != nil {
		e.t.Fatalf("append inbound: %v", err)
	}
	return res
}

func (e *env) message(ws inbox.WorkspaceID, id inbox.MessageID) inbox.Message {
	e.t.Helper()
	m, err := e.s.GetMessage(e.ctx, ws, id)
	if err != nil {
		e.t.Fatalf("get message %d: %v", id, err)
	}
	return m
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.pool.Exec(e.ctx, sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func wantCode(t testing.TB, err error, code inbox.Code) {
	t.Helper()
	if got := inbox.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// foldUsage brings the usage rollups up to date (FoldUsage), and checks
// that the fold reached the end of the log.
func (e *env) foldUsage() inbox.UsageFold {
	e.t.Helper()
	f, err := e.s.FoldUsage(e.ctx)
	if err != nil || f.Busy {
		e.t.Fatalf("fold usage: %+v, %v", f, err)
	}
	if n := e.count(`SELECT count(*) FROM message_changes WHERE change_xid >= (SELECT horizon FROM usage_fold)`); n != 0 {
		e.t.Fatalf("fold usage: %d log rows left past the cursor", n)
	}
	return f
}

// horizonHolders describes the transactions of the server that hold an
// xid or a snapshot now (the change feed waits for those of this
// database): for a test that waited on the feed in vain.
func (e *env) horizonHolders() string {
	rows, err := e.pool.Query(e.ctx, `SELECT coalesce(datname, '-'), backend_type, coalesce(application_name, ''),
			coalesce(backend_xid::text, ''), coalesce(backend_xmin::text, ''),
			coalesce(extract(epoch FROM now() - xact_start)::int, -1), coalesce(state, ''), left(query, 60)
		FROM pg_stat_activity WHERE backend_xid IS NOT NULL OR backend_xmin IS NOT NULL`)
	if err != nil {
		return "transactions: " + err.Error()
	}
	defer rows.Close()
	out := "transactions holding an xid or a snapshot (db, type, app, xid, xmin, age s, state, query):"
	for rows.Next() {
		var db, typ, app, xid, xmin, state, q string
		var age int
		if err := rows.Scan(&db, &typ, &app, &xid, &xmin, &age, &state, &q); err != nil {
			return out + " " + err.Error()
		}
		out += fmt.Sprintf(" [%s %s %q %s %s %ds %s %q]", db, typ, app, xid, xmin, age, state, q)
	}
	return out
}

// changesUntil reads a page of the workspace's feed after the cursor
// until ok holds for it (at most 15 s) and returns the last page read. A
// read of the feed may show less than the one before it for a moment: a
// transaction of another database that ends between the statement's
// snapshot and its look at the server's transactions holds the horizon
// back for that read (Store.Changes waits for what it cannot place).
func (e *env) changesUntil(ws inbox.WorkspaceID, after string, ok func([]inbox.Change) bool) []inbox.Change {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		cs, err := e.s.Changes(e.ctx, ws, after, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		if ok(cs) || time.Now().After(deadline) {
			return cs
		}
		time.Sleep(20 * time.Millisecond)
	}
}
