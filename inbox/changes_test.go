package inbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// changes reads a workspace's feed after cursor, page by page, until it is
// empty.
func (e *env) changes(ws inbox.WorkspaceID, after string) ([]inbox.Change, string) {
	e.t.Helper()
	var all []inbox.Change
	for {
		cs, err := e.s.Changes(e.ctx, ws, after, 2)
		if err != nil {
			e.t.Fatalf("changes: %v", err)
		}
		if len(cs) == 0 {
			return all, after
		}
		all = append(all, cs...)
		after = cs[len(cs)-1].Cursor
	}
}

// changesN reads a workspace's feed after cursor until it holds n changes:
// other tests' transactions on the server may hold the feed back a while.
func (e *env) changesN(ws inbox.WorkspaceID, after string, n int) ([]inbox.Change, string) {
	e.t.Helper()
	var all []inbox.Change
	deadline := time.Now().Add(15 * time.Second)
	for {
		cs, next := e.changes(ws, after)
		all, after = append(all, cs...), next
		if len(all) >= n {
			return all, after
		}
		if time.Now().After(deadline) {
			e.t.Logf("changes: %d of %d after 15 s; %s", len(all), n, e.horizonHolders())
			return all, after
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describe(cs []inbox.Change) string {
	out := ""
	for _, c := range cs {
		out += fmt.Sprintf("%d %s %s %q; ", c.Message, c.Direction, c.Status, c.Body)
	}
	return out
}

func TestChangesFeed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	other, on := e.ready("other", inbox.Dedicated)
	start, err := e.s.ChangeCursor(e.ctx)
	ok(t, err)

	out := e.send(msg(ws, contact(1), "hello"))[0]
	e.send(msg(other, contact(1), "not yours"))
	in := e.inbound(mo(contact(1), n.E164, "hi back"))[0]
	e.inbound(mo(contact(1), on.E164, "to other"))

	cs, cur := e.changesN(ws, start, 2)
	want := fmt.Sprintf("%d out queued \"hello\"; %d in received \"hi back\"; ", out.ID, in.Message)
	if got := describe(cs); got != want {
		t.Fatalf("changes %s, want %s", got, want)
	}
	if c := cs[1]; c.From != contact(1) || c.To != n.E164 || c.Thread != out.Thread || c.At.IsZero() {
		t.Fatalf("inbound change %+v", c)
	}
	if c := cs[0]; c.From != n.E164 || c.To != contact(1) || c.Encoding != "gsm7" || c.Segments != 1 {
		t.Fatalf("outbound change %+v", c)
	}

	// Status changes: each read shows the message as it is now, once.
	c := e.claim("d", 10, time.Minute)
	cs, cur = e.changesN(ws, cur, 1)
	if got := describe(cs); got != fmt.Sprintf("%d out sending \"hello\"; ", out.ID) || len(c) != 2 {
		t.Fatalf("after claim: %s (claimed %d)", got, len(c))
	}
	e.record(okSeg(out.ID, 0, "abc"))
	e.receipts(rcpt("abc", inbox.ReceiptDelivered))
	cs, cur = e.changesN(ws, cur, 1)
	if got := describe(cs); got != fmt.Sprintf("%d out delivered \"hello\"; ", out.ID) {
		t.Fatalf("after receipt: %s", got)
	}
	// A receipt that changes nothing is not a change: only the marker
	// written after it shows.
	e.receipts(rcpt("abc", inbox.ReceiptDelivered))
	marker := e.inbound(mo(contact(1), n.E164, "marker"))[0]
	cs, _ = e.changesN(ws, cur, 1)
	if got := describe(cs); got != fmt.Sprintf("%d in received \"marker\"; ", marker.Message) {
		t.Fatalf("duplicate receipt: %s", got)
	}

	// From the start of the feed: every message of the workspace, once.
	all, _ := e.changesN(ws, "", 3)
	if len(all) != 3 {
		t.Fatalf("whole feed: %s", describe(all))
	}

	_, err = e.s.Changes(e.ctx, ws, "garbage!", 0)
	wantCode(t, err, inbox.CodeInvalidCursor)
	_, mnext, err := e.s.ListMessages(e.ctx, ws, out.Thread, inbox.Page{Limit: 1})
	ok(t, err)
	_, err = e.s.Changes(e.ctx, ws, mnext, 0)
	wantCode(t, err, inbox.CodeInvalidCursor)
}

// TestChangesWaitForSlowTransactions: a change committed after a later one
// was read is still returned, because the feed stops below the oldest
// transaction still running.
func TestChangesWaitForSlowTransactions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	start, err := e.s.ChangeCursor(e.ctx)
	ok(t, err)

	// A slow writer: stores an inbound message and holds its transaction.
	tx, err := e.pool.Begin(e.ctx)
	ok(t, err)
	defer tx.Rollback(context.Background())
	var slow int64
	ok(t, tx.QueryRow(e.ctx, `
		WITH t AS (
			INSERT INTO threads (workspace_id, number_id, contact, last_message_at)
			VALUES ($1, $2, $3, now()) RETURNING id
		)
		INSERT INTO messages (workspace_id, thread_id, number_id, contact, direction, body, encoding, segments, status, received_at)
		SELECT $1, t.id, $2, $3, 'in', 'slow', 'gsm7', 1, 'received', now() FROM t
		RETURNING id`, ws, n.ID, contact(9)).Scan(&slow))

	// A fast writer commits after it, and is not returned before it.
	fast := e.inbound(mo(contact(1), n.E164, "fast"))[0]
	cs, cur := e.changes(ws, start)
	if len(cs) != 0 {
		t.Fatalf("read past a running transaction: %s", describe(cs))
	}
	ok(t, tx.Commit(e.ctx))
	cs, _ = e.changesN(ws, cur, 2)
	want := fmt.Sprintf("%d in received \"slow\"; %d in received \"fast\"; ", slow, fast.Message)
	if got := describe(cs); got != want {
		t.Fatalf("after commit: %s, want %s", got, want)
	}
}

// TestChangesIgnoreOtherDatabases: a transaction left open in another
// database of the server does not hold this database's feed back.
func TestChangesIgnoreOtherDatabases(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	start, err := e.s.ChangeCursor(e.ctx)
	ok(t, err)

	other := testenv.OpenPool(t, testenv.NewDatabase(t), 1)
	tx, err := other.Begin(e.ctx)
	ok(t, err)
	defer tx.Rollback(context.Background())
	_, err = tx.Exec(e.ctx, `CREATE TABLE held (x int)`) // takes an xid
	ok(t, err)

	in := e.inbound(mo(contact(1), n.E164, "not held back"))[0]
	cs, _ := e.changesN(ws, start, 1)
	if got := describe(cs); got != fmt.Sprintf("%d in received \"not held back\"; ", in.Message) {
		t.Fatalf("feed: %s", got)
	}
}

// TestChangesWaitLimit: a transaction of this database open longer than
// the wait limit is read past.
func TestChangesWaitLimit(t *testing.T) {
	t.Parallel()
	e := newEnvOpts(t, inbox.Options{ChangesWaitLimit: 2 * time.Second})
	ws, n := e.ready("w", inbox.Dedicated)
	start, err := e.s.ChangeCursor(e.ctx)
	ok(t, err)
	tx, err := e.pool.Begin(e.ctx)
	ok(t, err)
	defer tx.Rollback(context.Background())
	_, err = tx.Exec(e.ctx, `CREATE TABLE held (x int)`) // takes an xid
	ok(t, err)

	in := e.inbound(mo(contact(1), n.E164, "after the limit"))[0]
	if cs, _ := e.changes(ws, start); len(cs) != 0 {
		t.Fatalf("read past a young transaction: %s", describe(cs))
	}
	began := time.Now()
	cs, _ := e.changesN(ws, start, 1)
	if got := describe(cs); got != fmt.Sprintf("%d in received \"after the limit\"; ", in.Message) {
		t.Fatalf("feed: %s", got)
	}
	if waited := time.Since(began); waited > 5*time.Second {
		t.Fatalf("waited %v", waited)
	}
}

// TestEnqueueAndListThreadsForTheAPI: what the HTTP API renders — the
// sender of each accepted message and each thread's last message.
func TestEnqueueAndListThreadsForTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	r := msg(ws, contact(1), "first")
	r.IdempotencyKey = "k"
	res := e.send(r)[0]
	if res.From != n.E164 {
		t.Fatalf("from %q, want %s", res.From, n.E164)
	}
	dup := e.send(r)[0]
	if !dup.Duplicate || dup.From != n.E164 || dup.ID != res.ID {
		t.Fatalf("duplicate %+v", dup)
	}
	refused, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(ws, "+1 555", "x")})
	ok(t, err)
	if refused[0].From != "" || refused[0].Err == nil {
		t.Fatalf("refused %+v", refused[0])
	}
	e.inbound(mo(contact(1), n.E164, "reply"))
	e.send(msg(ws, contact(2), "other thread"))
	ths, _, err := e.s.ListThreads(e.ctx, ws, inbox.Page{})
	ok(t, err)
	if len(ths) != 2 || ths[0].Last == nil || ths[0].Last.Body != "other thread" || ths[0].Last.Status != inbox.StatusQueued ||
		ths[1].Last == nil || ths[1].Last.Body != "reply" || ths[1].Last.Direction != inbox.DirectionIn ||
		ths[1].Last.From != contact(1) || ths[1].Last.To != n.E164 || ths[1].Last.ReceivedAt.IsZero() {
		t.Fatalf("threads %+v", ths)
	}
}

// TestChangesLogPages: the feed is read from a log of one row per writing
// statement and workspace (migration 0008). A page of the log whose every
// id changed again since is read past, not answered empty; the ids of one
// transaction spread over several log rows are all returned, in order,
// whatever the page size; PruneChanges drops old rows of the log only, once
// the usage fold has read them.
func TestChangesLogPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Dedicated)
	start, err := e.s.ChangeCursor(e.ctx)
	ok(t, err)

	// Five messages, each queued and then changed again in a statement of
	// its own: five log rows of superseded entries before the five latest.
	var ids []inbox.MessageID
	for i := range 5 {
		ids = append(ids, e.send(msg(ws, contact(100+i), "m"))[0].ID)
	}
	for _, id := range ids {
		_, err := e.pool.Exec(e.ctx, `UPDATE messages SET last_error = 'x', change_xid = pg_current_xact_id() WHERE id = $1`, id)
		ok(t, err)
	}
	// Pages of 2 log rows: the first two pages list only superseded entries.
	var got []inbox.MessageID
	after := start
	testenv.Wait(t, 15*time.Second, "the five messages in pages of 2", func() bool {
		for len(got) < 5 { // pages that are not empty are read at once
			cs, err := e.s.Changes(e.ctx, ws, after, 2)
			ok(t, err)
			if len(cs) == 0 {
				return false // another test's transaction holds the horizon
			}
			for _, c := range cs {
				got = append(got, c.Message)
			}
			after = cs[len(cs)-1].Cursor
		}
		return true
	}, func() string {
		return fmt.Sprintf("feed %v, want each message once at its latest change %v", got, ids)
	})
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("feed %v, want each message once at its latest change %v", got, ids)
	}

	// One transaction writing its ids in two statements: {a, c}, then {b}.
	a := e.send(msg(ws, contact(200), "a"))[0].ID
	b := e.send(msg(ws, contact(201), "b"))[0].ID
	c := e.send(msg(ws, contact(202), "c"))[0].ID
	tx, err := e.pool.Begin(e.ctx)
	ok(t, err)
	_, err = tx.Exec(e.ctx, `UPDATE messages SET last_error = 'y', change_xid = pg_current_xact_id() WHERE id = ANY($1)`, []int64{int64(a), int64(c)})
	ok(t, err)
	_, err = tx.Exec(e.ctx, `UPDATE messages SET last_error = 'y', change_xid = pg_current_xact_id() WHERE id = $1`, int64(b))
	ok(t, err)
	ok(t, tx.Commit(e.ctx))
	got = got[:0]
	want := []inbox.MessageID{a, b, c}
	testenv.Wait(t, 15*time.Second, "the transaction's three messages in pages of 1", func() bool {
		for len(got) < 3 { // pages that are not empty are read at once
			cs, err := e.s.Changes(e.ctx, ws, after, 1)
			ok(t, err)
			if len(cs) == 0 {
				return false
			}
			got = append(got, cs[0].Message)
			after = cs[0].Cursor
		}
		return true
	}, func() string {
		return fmt.Sprintf("one transaction over two log rows, pages of 1: %v, want %v", got, want)
	})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("one transaction over two log rows, pages of 1: %v, want %v", got, want)
	}

	// Pruning: rows older than the cut go, younger ones stay.
	before := e.count(`SELECT count(*) FROM message_changes WHERE workspace_id = $1`, ws)
	n, err := e.s.PruneChanges(e.ctx, time.Hour)
	ok(t, err)
	if after := e.count(`SELECT count(*) FROM message_changes WHERE workspace_id = $1`, ws); n != 0 || after != before {
		t.Fatalf("prune of rows older than an hour deleted %d; %d rows left of %d", n, after, before)
	}
	_, err = e.pool.Exec(e.ctx, `UPDATE message_changes SET at = now() - interval '2 hours' WHERE workspace_id = $1`, ws)
	ok(t, err)
	// Old rows the usage fold has not read yet stay.
	if n, err = e.s.PruneChanges(e.ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("prune before the usage fold deleted %d (%v)", n, err)
	}
	e.foldUsage()
	if _, err = e.s.PruneChanges(e.ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if left := e.count(`SELECT count(*) FROM message_changes WHERE workspace_id = $1`, ws); left != 0 || before == 0 {
		t.Fatalf("after pruning %d of the workspace's %d log rows are left", left, before)
	}
}
