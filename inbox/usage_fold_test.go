package inbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// usageRecount checks that the rollups hold the messages counted from
// scratch, per key (rows of zero left out), by day and by month.
func (e *env) usageRecount() {
	e.t.Helper()
	read := func(sql string) []string {
		rows, err := e.pool.Query(e.ctx, sql)
		ok(e.t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var ws, num, msgs, segs int64
			var day time.Time
			var dir, st string
			ok(e.t, rows.Scan(&ws, &day, &num, &dir, &st, &msgs, &segs))
			out = append(out, fmt.Sprintf("%d/%s/%d/%s/%s %d %d", ws, day.Format("2006-01-02"), num, dir, st, msgs, segs))
		}
		ok(e.t, rows.Err())
		return out
	}
	const recount = `SELECT workspace_id, %s, number_id, direction, usage_bucket(status), count(*), sum(segments)::int8
		FROM messages WHERE usage_bucket(status) <> 'pending' GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5`
	const rollup = `SELECT workspace_id, %s, number_id, direction, status, messages, segments
		FROM %s WHERE messages <> 0 OR segments <> 0 ORDER BY 1, 2, 3, 4, 5`
	day := `(created_at AT TIME ZONE 'UTC')::date`
	month := `date_trunc('month', created_at AT TIME ZONE 'UTC')::date`
	if got, want := read(fmt.Sprintf(rollup, "day", "usage_daily")), read(fmt.Sprintf(recount, day)); !slices.Equal(got, want) {
		e.t.Fatalf("usage_daily:\n%v\nrecount:\n%v", got, want)
	}
	if got, want := read(fmt.Sprintf(rollup, "month", "usage_monthly")), read(fmt.Sprintf(recount, month)); !slices.Equal(got, want) {
		e.t.Fatalf("usage_monthly:\n%v\nrecount:\n%v", got, want)
	}
}

// TestUsageFoldMatchesRecount: whatever the order of sends, claims,
// submits, receipts, inbound messages and folds (of one step or of
// several, each over a few transactions of the log), the rollups after a
// fold are the messages counted from scratch: each once, in its bucket
// now; and messages still open (submitted) are exactly those of
// usage_open.
func TestUsageFoldMatchesRecount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	other, on := e.ready("other", inbox.Dedicated)
	rng := rand.New(rand.NewPCG(16, 4))
	var carrierSeq int
	var submitted []string // carrier ids of submitted segments without a receipt
	for range 60 {
		switch r := rng.IntN(10); {
		case r < 3:
			var reqs []inbox.OutboundRequest
			for range 1 + rng.IntN(6) {
				w := ws
				if rng.IntN(3) == 0 {
					w = other
				}
				m := msg(w, contact(rng.IntN(20)), "hi")
				m.Segments = 1 + rng.IntN(3)
				reqs = append(reqs, m)
			}
			e.send(reqs...)
		case r < 5:
			var rs []inbox.SubmitResult
			for _, c := range e.claim("o", 1+rng.IntN(5), time.Minute) {
				for s := range c.Segments {
					carrierSeq++
					id := fmt.Sprint("c", carrierSeq)
					out := inbox.SubmitOK
					if rng.IntN(8) == 0 {
						out = inbox.SubmitPermanent
					} else {
						submitted = append(submitted, id)
					}
					rs = append(rs, inbox.SubmitResult{Message: c.ID, Segment: s, Outcome: out, CarrierMessageID: id, Format: inbox.IDOpaque})
				}
			}
			if len(rs) > 0 {
				e.record(rs...)
			}
		case r < 7 && len(submitted) > 0:
			rng.Shuffle(len(submitted), func(i, j int) { submitted[i], submitted[j] = submitted[j], submitted[i] })
			k := 1 + rng.IntN(min(4, len(submitted)))
			var rs []inbox.Receipt
			for _, id := range submitted[:k] {
				st := inbox.ReceiptDelivered
				if rng.IntN(6) == 0 {
					st = inbox.ReceiptFailed
				}
				rs = append(rs, inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: id, Format: inbox.IDOpaque, Status: st})
			}
			submitted = submitted[k:]
			e.receipts(rs...)
		case r < 8:
			to := n.E164
			if rng.IntN(2) == 0 {
				to = on.E164
			}
			e.inbound(mo(contact(100+rng.IntN(5)), to, "yes"))
		default:
			inbox.SetFoldStep(e.s, uint64(1+rng.IntN(3))) // several steps per fold
			if rng.IntN(2) == 0 {
				inbox.SetFoldStep(e.s, 20_000)
			}
			e.foldUsage()
			e.usageRecount()
		}
	}
	f := e.foldUsage()
	if f.Steps < 1 {
		t.Fatalf("fold %+v", f)
	}
	e.usageRecount()
	if open, subm := e.count(`SELECT count(*) FROM usage_open`), e.count(`SELECT count(*) FROM messages WHERE status = 'submitted'`); open != subm || subm == 0 {
		t.Fatalf("usage_open has %d messages, %d are submitted", open, subm)
	}
}

// TestUsageFoldHorizon: a fold stops at the oldest transaction still
// running. Here such a transaction changes a message after a younger one
// changed it and committed: the message ends in the older transaction's
// status, and is counted there once (a fold that read past the running
// transaction would count it in the younger one's, for ever). A fold
// while another holds the cursor does nothing.
func TestUsageFoldHorizon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, num := e.ready("w", inbox.Dedicated)
	id := e.send(msg(ws, contact(1), "a"))[0].ID
	e.claim("o", 1, time.Minute)
	e.record(okSeg(id, 0, "c1"))
	e.foldUsage()
	e.usageRecount()
	asOf, err := e.s.UsageAsOf(e.ctx)
	ok(t, err)

	old, err := e.pool.Begin(e.ctx)
	ok(t, err)
	defer old.Rollback(e.ctx)
	_, err = old.Exec(e.ctx, `SELECT pg_current_xact_id()`) // an xid older than the next writer's
	ok(t, err)
	e.receipts(inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: "c1", Format: inbox.IDOpaque, Status: inbox.ReceiptDelivered})
	f, err := e.s.FoldUsage(e.ctx)
	ok(t, err)
	if f.Messages != 0 {
		t.Fatalf("the fold read past a running transaction: %+v", f)
	}
	if later, err := e.s.UsageAsOf(e.ctx); err != nil || !later.After(asOf) {
		t.Fatalf("as of %v, then %v (%v)", asOf, later, err)
	}
	if n := e.count(`SELECT messages FROM usage_daily WHERE status = 'submitted'`); n != 1 {
		t.Fatalf("submitted: %d", n)
	}
	_, err = old.Exec(e.ctx, `UPDATE messages SET status = 'expired', expired_at = now(), change_xid = pg_current_xact_id() WHERE id = $1`, id)
	ok(t, err)
	ok(t, old.Commit(e.ctx))
	e.foldUsage()
	e.usageRecount()
	if n := e.count(`SELECT count(*) FROM usage_daily WHERE status = 'expired' AND messages = 1`); n != 1 {
		t.Fatal("not counted as expired")
	}

	// Another fold holds the cursor: Busy, nothing done.
	e.inbound(mo(contact(2), num.E164, "hi"))
	lock, err := e.pool.Begin(e.ctx)
	ok(t, err)
	_, err = lock.Exec(e.ctx, `SELECT * FROM usage_fold FOR UPDATE`)
	ok(t, err)
	f, err = e.s.FoldUsage(e.ctx)
	ok(t, err)
	ok(t, lock.Rollback(e.ctx))
	if !f.Busy || f.Messages != 0 || e.count(`SELECT count(*) FROM usage_daily WHERE status = 'received'`) != 0 {
		t.Fatalf("fold while another holds the cursor: %+v", f)
	}
	e.foldUsage()
	e.usageRecount()
}

// TestMigrateUsage: the usage of messages written before the rollups
// existed (version 8) is counted by the migration, submitted ones as open,
// so that their receipts after the upgrade move them; transactions of
// other databases running meanwhile (other tests') do not defer them.
func TestMigrateUsage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.OpenPool(t, testenv.NewDatabase(t), 4)
	ok(t, inbox.MigrateTo(ctx, pool, 8))
	var ws, num, thread int64
	ok(t, pool.QueryRow(ctx, `INSERT INTO workspaces (name, sms_addon) VALUES ('old', true) RETURNING id`).Scan(&ws))
	ok(t, pool.QueryRow(ctx, `INSERT INTO numbers (e164, kind, rate_class, carrier, workspace_id)
		VALUES ('+14155550100', 'dedicated', 'dedicated', 'c', $1) RETURNING id`, ws).Scan(&num))
	ok(t, pool.QueryRow(ctx, `INSERT INTO threads (workspace_id, number_id, contact, last_message_at)
		VALUES ($1, $2, '+16465550100', now()) RETURNING id`, ws, num).Scan(&thread))
	var submitted int64
	ok(t, pool.QueryRow(ctx, `
		WITH m AS (INSERT INTO messages (workspace_id, thread_id, thread_seq, number_id, contact, direction, body, encoding, segments, status, created_at)
		SELECT $1, $2, s, $3, '+16465550100', 'out', 'm', 'gsm7', s, st, now() - (s || ' days')::interval
		FROM unnest(ARRAY['submitted', 'delivered', 'queued', 'failed', 'submitted']) WITH ORDINALITY AS x(st, s)
		RETURNING id) SELECT min(id) FROM m`, ws, thread, num).Scan(&submitted))
	_, err := pool.Exec(ctx, `INSERT INTO messages (workspace_id, thread_id, number_id, contact, direction, body, encoding, segments, status, received_at)
		VALUES ($1, $2, $3, '+16465550100', 'in', 'hi', 'gsm7', 1, 'received', now())`, ws, thread, num)
	ok(t, err)

	// Their log rows pruned: only the migration can count them.
	_, err = pool.Exec(ctx, `DELETE FROM message_changes`)
	ok(t, err)

	ok(t, inbox.Migrate(ctx, pool))
	e := &env{t: t, ctx: ctx, s: inbox.New(pool, inbox.Options{}), pool: pool}
	if n := e.count(`SELECT count(*) FROM usage_daily`); n != 5 {
		t.Fatalf("%d daily rows after the migration", n)
	}
	e.usageRecount()
	if n := e.count(`SELECT count(*) FROM usage_open`); n != 2 {
		t.Fatalf("%d open after the migration", n)
	}
	_, err = pool.Exec(ctx, `UPDATE messages SET status = 'delivered', change_xid = pg_current_xact_id() WHERE id = $1`, submitted)
	ok(t, err)
	e.foldUsage()
	e.usageRecount()
	if n := e.count(`SELECT count(*) FROM usage_open`); n != 1 {
		t.Fatalf("%d open after a receipt", n)
	}
}

// TestFeedSkipsUsageFold: the change feed does not wait for a usage fold
// still running (it writes no message), as it waits for other writers.
func TestFeedSkipsUsageFold(t *testing.T) {
	t.Parallel()
	e := newEnvOpts(t, inbox.Options{ChangesWaitLimit: time.Minute})
	ws, num := e.ready("w", inbox.Dedicated)
	after, err := e.s.ChangeCursor(e.ctx)
	ok(t, err)
	for _, app := range []string{inbox.UsageFoldApp, "another writer"} {
		tx, err := e.pool.Begin(e.ctx)
		ok(t, err)
		_, err = tx.Exec(e.ctx, `SET LOCAL application_name = '`+app+`'`)
		ok(t, err)
		_, err = tx.Exec(e.ctx, `SELECT pg_current_xact_id()`) // running, with an xid older than the next message's
		ok(t, err)
		id := e.inbound(mo(contact(1), num.E164, app))[0].Message
		var got []inbox.MessageID
		for deadline := time.Now().Add(2 * time.Second); len(got) == 0 && time.Now().Before(deadline); {
			cs, err := e.s.Changes(e.ctx, ws, after, 10)
			ok(t, err)
			for _, c := range cs {
				got, after = append(got, c.Message), c.Cursor
			}
			time.Sleep(20 * time.Millisecond)
		}
		ok(t, tx.Rollback(e.ctx))
		switch {
		case app == inbox.UsageFoldApp && fmt.Sprint(got) != fmt.Sprint([]inbox.MessageID{id}):
			t.Fatalf("feed while a fold runs: %v, want [%d]", got, id)
		case app != inbox.UsageFoldApp && len(got) != 0:
			t.Fatalf("feed read past a running writer: %v", got)
		}
	}
}
