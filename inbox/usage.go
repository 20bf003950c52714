package inbox

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Granularity is the period of a usage row.
type Granularity string

// Granularities.
const (
	Daily   Granularity = "day"
	Monthly Granularity = "month"
)

// Usage spans: a daily report covers at most MaxUsageDays days (any
// calendar month; the answer is a row per day, number and status: 18,600
// rows for a workspace of 100 numbers, about 50 ms, see
// BenchmarkUsageYear), a monthly one at most MaxUsageMonthsDays (ten
// years).
const (
	MaxUsageDays       = 31
	MaxUsageMonthsDays = 3660
)

// UsageQuery asks for usage over [From, To], whole UTC days (the time of
// day is ignored), per Granularity.
type UsageQuery struct {
	// Workspace limits the report to one workspace; 0 is every workspace
	// (the operator's view).
	Workspace   WorkspaceID
	From, To    time.Time
	Granularity Granularity
}

// UsageRow is the messages and segments of one workspace, period, number,
// direction and status bucket.
type UsageRow struct {
	Workspace WorkspaceID
	// Period is the first day of the day or month (UTC midnight); a month
	// at the edge of the query counts only the days inside it.
	Period    time.Time
	Number    string // the local number, E.164
	Direction Direction
	// Status is the messages' status now: submitted, delivered, failed,
	// expired, rejected, or received for inbound. An outbound message
	// counts once it is past queued and sending, once, in the period it was
	// created in.
	Status   string
	Messages int64
	Segments int64
}

// Usage returns usage rows in (workspace, period, number id, direction,
// status) order, from the rollups kept as messages change (usage_daily
// and usage_monthly, see migration 0009): the cost is in the rows of the span, never in the
// messages. Days are UTC days. ErrInvalidArgument for an unknown
// granularity, To before From, or a span beyond MaxUsageDays (daily) or
// MaxUsageMonthsDays (monthly).
func (s *Store) Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	from, to := utcDay(q.From), utcDay(q.To)
	days := int(to.Sub(from).Hours()/24) + 1
	switch {
	case q.Granularity != Daily && q.Granularity != Monthly:
		return nil, invalid("granularity %q (day or month)", q.Granularity)
	case to.Before(from):
		return nil, invalid("to is before from")
	case q.Granularity == Daily && days > MaxUsageDays:
		return nil, invalid("a daily report covers at most %d days (ask for months)", MaxUsageDays)
	case days > MaxUsageMonthsDays:
		return nil, invalid("a monthly report covers at most %d days", MaxUsageMonthsDays)
	}
	// The rollups are summed per number id first, and joined to numbers
	// per summed row only. A monthly report reads the whole months of the
	// span from usage_monthly and only the days of the months cut by its
	// ends from usage_daily.
	var fullFrom, fullTo time.Time // the whole months inside the span (none: fullFrom > fullTo)
	if q.Granularity == Monthly {
		fullFrom = monthStart(from)
		if from.Day() != 1 {
			fullFrom = fullFrom.AddDate(0, 1, 0)
		}
		fullTo = monthStart(to.AddDate(0, 0, 1)).AddDate(0, 0, -1)
	}
	sql := `
		SELECT x.workspace_id, x.period, n.e164, x.direction, x.status, x.messages, x.segments
		FROM (
			SELECT u.workspace_id, u.period, u.number_id, u.direction, u.status,
			       sum(u.messages)::int8 AS messages, sum(u.segments)::int8 AS segments
			FROM (
				SELECT u.workspace_id, date_trunc($4::text, u.day::timestamp)::date AS period, u.number_id,
				       u.direction, u.status, u.messages, u.segments
				FROM usage_daily u
				WHERE ` + usageFilter(q.Workspace) + ` AND u.day BETWEEN $2 AND $3 AND (u.day < $5 OR u.day > $6)
				UNION ALL
				SELECT u.workspace_id, u.month, u.number_id, u.direction, u.status, u.messages, u.segments
				FROM usage_monthly u
				WHERE ` + usageFilter(q.Workspace) + ` AND u.month BETWEEN $5 AND $6
			) u
			GROUP BY 1, 2, 3, 4, 5
			HAVING sum(u.messages) <> 0 OR sum(u.segments) <> 0
		) x
		JOIN numbers n ON n.id = x.number_id
		ORDER BY x.workspace_id, x.period, x.number_id, x.direction, x.status`
	args := []any{int64(q.Workspace), from, to, string(q.Granularity), fullFrom, fullTo}
	if q.Granularity == Daily {
		// A daily row is its own period: no sums, and the primary key's
		// order is the answer's.
		sql = `
		SELECT u.workspace_id, u.day, n.e164, u.direction, u.status, u.messages, u.segments
		FROM usage_daily u
		JOIN numbers n ON n.id = u.number_id
		WHERE ` + usageFilter(q.Workspace) + ` AND u.day BETWEEN $2 AND $3 AND (u.messages <> 0 OR u.segments <> 0)
		ORDER BY u.workspace_id, u.day, u.number_id, u.direction, u.status`
		args = args[:3]
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (UsageRow, error) {
		var u UsageRow
		var dir string
		err := r.Scan(&u.Workspace, &u.Period, &u.Number, &dir, &u.Status, &u.Messages, &u.Segments)
		u.Direction = Direction(dir)
		u.Period = utcDay(u.Period)
		return u, err
	})
}

// usageFilter picks the workspace: one (the primary key's prefix) or all
// (the BRIN index on day). Two statements rather than "$1 = 0 OR ...",
// which would keep a cached plan from using the key.
func usageFilter(ws WorkspaceID) string {
	if ws == 0 {
		return `$1::int8 = 0`
	}
	return `u.workspace_id = $1`
}

// monthStart is the first day of t's month.
func monthStart(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// utcDay is t's UTC date at midnight.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
