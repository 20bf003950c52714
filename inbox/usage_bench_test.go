package inbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// BenchmarkUsageYear reads a year of usage of a workspace that sends a
// million messages a day from 100 numbers (issue 16 §4 asks for at most
// 100 ms), from generated rollups: 365 days × 100 numbers × 6 status
// buckets, 219,000 rows of usage_daily (and 7,200 of usage_monthly), among
// another workspace's year as big. Each op is one Usage call; ns/op is the
// answer's time. "month" is the year by month; "month-cut" a span that
// starts and ends mid-month; "day" the last month by day (the longest
// daily report, inbox.MaxUsageDays: 18,600 rows out).
func BenchmarkUsageYear(b *testing.B) {
	e := newEnv(b)
	ws := e.workspace("big", true)
	other := e.workspace("other", true)
	const numbers = 100
	first := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, w := range []inbox.WorkspaceID{ws, other} {
		for i := 0; i < numbers; i++ {
			e.dedicated(w, "carrier-a")
		}
		// 1,000,000 messages a day over 100 numbers: 10,000 each, split
		// over the buckets; inbound about a tenth.
		e.exec(`INSERT INTO usage_daily (workspace_id, day, number_id, direction, status, messages, segments)
			SELECT $1, $2::date + d, n.id, s.dir, s.st, s.share, s.share * 13 / 10
			FROM generate_series(0, 364) d
			CROSS JOIN (SELECT id FROM numbers WHERE workspace_id = $1) n
			CROSS JOIN (VALUES ('out', 'delivered', 8800), ('out', 'submitted', 100), ('out', 'failed', 80),
			                   ('out', 'expired', 10), ('out', 'rejected', 10), ('in', 'received', 1000)) s(dir, st, share)`,
			w, first)
	}
	e.exec(`INSERT INTO usage_monthly (workspace_id, month, number_id, direction, status, messages, segments)
		SELECT workspace_id, date_trunc('month', day::timestamp)::date, number_id, direction, status, sum(messages), sum(segments)
		FROM usage_daily GROUP BY 1, 2, 3, 4, 5`)
	e.exec(`VACUUM ANALYZE usage_daily`)
	e.exec(`VACUUM ANALYZE usage_monthly`)
	if n := e.count(`SELECT count(*) FROM usage_daily WHERE workspace_id = $1`, ws); n != 365*numbers*6 {
		b.Fatalf("%d rollup rows", n)
	}
	for _, c := range []struct {
		name     string
		g        inbox.Granularity
		from, to time.Time
	}{
		{"month", inbox.Monthly, first, first.AddDate(0, 0, 364)},
		{"month-cut", inbox.Monthly, first.AddDate(0, 0, -20), first.AddDate(0, 0, 364+20)},
		{"day", inbox.Daily, first.AddDate(0, 0, 365-inbox.MaxUsageDays), first.AddDate(0, 0, 364)},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := inbox.UsageQuery{Workspace: ws, From: c.from, To: c.to, Granularity: c.g}
			var rows []inbox.UsageRow
			for b.Loop() {
				var err error
				if rows, err = e.s.Usage(e.ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			var msgs int64
			for _, r := range rows {
				msgs += r.Messages
			}
			days := int64(c.to.Sub(c.from).Hours()/24) + 1
			if want := min(days, 365) * numbers * 10_000; msgs != want {
				b.Fatalf("%d messages in %d rows, want %d", msgs, len(rows), want)
			}
			b.ReportMetric(float64(len(rows)), "rows")
		})
	}
}

// BenchmarkFoldUsage is FoldUsage's cost per message (pg-cpu-us/msg: the
// CPU time of the PostgreSQL backends; the fold runs off the write paths,
// in the engine's background). Setup, untimed: b.N messages over the 100
// workspaces, each through the four changes of a sent message, each
// change a statement per batch of benchBatch as the store's would be
// (queued, sending, submitted, delivered: four log entries per message).
// "receipts-first": one fold after all four (each message looked up once,
// counted delivered); "receipts-after": a fold after the submits (counted
// submitted, kept in usage_open) and one after the receipts (moved).
func BenchmarkFoldUsage(b *testing.B) {
	for _, split := range []bool{false, true} {
		name := "receipts-first"
		if split {
			name = "receipts-after"
		}
		b.Run(name, func(b *testing.B) {
			db := openBench(b)
			ctx := context.Background()
			if _, err := db.s.FoldUsage(ctx); err != nil { // the history populate wrote
				b.Fatal(err)
			}
			var first int64
			if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) + 1 FROM messages`).Scan(&first); err != nil {
				b.Fatal(err)
			}
			exec := func(sql string) {
				for from := 0; from < b.N; from += benchBatch {
					if _, err := db.pool.Exec(ctx, sql, first+int64(from), first+int64(min(from+benchBatch, b.N))); err != nil {
						b.Fatal(err)
					}
				}
			}
			exec(`INSERT INTO messages (id, workspace_id, thread_id, thread_seq, number_id, contact, direction, body, encoding,
					segments, status, created_at, queued_at, pending_since)
				SELECT g, t.workspace_id, t.id, 0, t.number_id, t.contact, 'out', 'Your code is 123456', 'gsm7', 1,
					'queued', now(), now(), now()
				FROM generate_series($1::int8, $2::int8 - 1) g
				JOIN threads t ON t.id = 1 + (g * 7919) % 200000`)
			exec(`UPDATE messages SET status = 'sending', sending_at = now(), change_xid = pg_current_xact_id() WHERE id >= $1 AND id < $2`)
			exec(`UPDATE messages SET status = 'submitted', submitted_at = now(), pending_since = NULL, change_xid = pg_current_xact_id()
				WHERE id >= $1 AND id < $2`)
			fold := func() {
				f, err := db.s.FoldUsage(ctx)
				if err != nil || f.Busy {
					b.Fatalf("%+v %v", f, err)
				}
			}
			if split {
				p := startProbe(b, db.pool)
				b.ResetTimer()
				fold()
				b.StopTimer()
				exec(`UPDATE messages SET status = 'delivered', delivered_at = now(), change_xid = pg_current_xact_id() WHERE id >= $1 AND id < $2`)
				b.StartTimer()
				fold()
				b.StopTimer()
				p.report(b, b.N)
			} else {
				exec(`UPDATE messages SET status = 'delivered', delivered_at = now(), change_xid = pg_current_xact_id() WHERE id >= $1 AND id < $2`)
				p := startProbe(b, db.pool)
				b.ResetTimer()
				fold()
				b.StopTimer()
				p.report(b, b.N)
			}
			var n int64
			if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM usage_open`).Scan(&n); err != nil || n != 0 {
				b.Fatalf("%d left open (%v)", n, err)
			}
		})
	}
}
