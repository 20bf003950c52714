package inbox_test

import (
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// BenchmarkUsageYear reads a year of usage of a workspace that sends a
// million messages a day from 100 numbers (issue 16 §4 asks for at most
// 100 ms), from generated rollups: 365 days × 100 numbers × 6 status
// buckets, 219,000 rows of usage_daily (and 7,200 of usage_monthly), among
// another workspace's year as big. Each op is one Usage call; ns/op is the
// answer's time. "month" is the year by month; "day" the year by day
// (219,000 rows out); "month-cut" a span that starts and ends mid-month.
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
		{"day", inbox.Daily, first, first.AddDate(0, 0, 364)},
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
			if want := int64(365 * numbers * 10_000); msgs != want {
				b.Fatalf("%d messages in %d rows, want %d", msgs, len(rows), want)
			}
			b.ReportMetric(float64(len(rows)), "rows")
		})
	}
}
