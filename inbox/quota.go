package inbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Segment quotas (issue 19 §2, docs/quotas.md). A workspace may have a
// daily and a monthly segment cap, set by the operator (SetQuota); none by
// default. Days and months are those of the workspace's time zone.
//
// What counts: the segments of every outbound message Enqueue accepts
// (queued or scheduled: a scheduled message counts on the day it was
// accepted, not the day it goes out), the inbox's own keyword replies
// included; duplicates of an idempotency key do not count again. A message
// counts once accepted, whatever becomes of it (canceled, failed, expired).
//
// Where it is counted: in quota_usage, one row per workspace that has a
// cap, which Enqueue locks, checks and updates in the statement that
// inserts the messages (once per call and workspace), so the count is
// exact however many calls and engine processes enqueue at once, and a
// workspace without a cap costs Enqueue one index probe of that small
// table and no write. An item that would take the period past a cap is
// refused (QuotaExceededError); within one call a workspace's items are
// counted in order, and once one does not fit, its later items in the call
// do not either (except keyword replies, which are never refused for a
// quota: an opt-out confirmation always goes).
//
// Threshold events (EventQuotaThreshold): when a period's count reaches
// 80 % and 100 % of a cap, or a message is first refused by the cap (100 %
// in effect), a quota event is written in the same transaction, at most
// one per workspace, period, threshold and cap value. They are part of the
// change feed (Changes, ChangeQuota), hence of the event stream and of
// webhooks.

// QuotaPeriod is the period of a segment cap.
type QuotaPeriod string

// Quota periods.
const (
	QuotaDay   QuotaPeriod = "day"
	QuotaMonth QuotaPeriod = "month"
)

// MaxSegmentCap is the largest cap SetQuota takes.
const MaxSegmentCap = 1_000_000_000_000

// Quota thresholds, in percent of a cap, at which a quota event is written.
const (
	QuotaWarnPercent = 80
	QuotaFullPercent = 100
)

// QuotaPatch changes a workspace's quota settings; nil fields stay as they
// are. A cap of 0 removes it.
type QuotaPatch struct {
	// TimeZone is an IANA time zone name ("Europe/Paris", "UTC").
	TimeZone   *string
	DailyCap   *int64
	MonthlyCap *int64
}

// CheckTimeZone reports whether name is a time zone the quota may be
// counted in: an IANA name Go's time.LoadLocation knows ("Local" and ""
// are not names). PostgreSQL's own zone database is checked by SetQuota.
func CheckTimeZone(name string) error {
	if name == "" || name == "Local" || strings.TrimSpace(name) != name {
		return invalid("time_zone %q is not an IANA time zone name", name)
	}
	if _, err := time.LoadLocation(name); err != nil {
		return invalid("time_zone %q is not an IANA time zone name", name)
	}
	return nil
}

// SetQuota changes a workspace's time zone and caps (operator). When the
// workspace gets a cap while it had none, or its time zone changes while
// it has one, the current day's and month's counts are computed afresh
// from the messages it accepted since they began (a read of its threads
// active this month and their messages, once); a message being accepted at
// that very moment may be left out. Changing a cap's value keeps the
// count. Removing the last cap drops the count: Enqueue then writes
// nothing for the workspace. A threshold a count already reached under a
// new cap value writes its quota event now. ErrNotFound; ErrInvalidArgument
// for a cap below 0 or above MaxSegmentCap, or a time zone CheckTimeZone or
// PostgreSQL does not know.
func (s *Store) SetQuota(ctx context.Context, ws WorkspaceID, p QuotaPatch) error {
	if p.TimeZone != nil {
		if err := CheckTimeZone(*p.TimeZone); err != nil {
			return err
		}
	}
	for _, c := range []*int64{p.DailyCap, p.MonthlyCap} {
		if c != nil && (*c < 0 || *c > MaxSegmentCap) {
			return invalid("a segment cap is 1 to %d (0 or null: none)", int64(MaxSegmentCap))
		}
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var tz string
		var daily, monthly *int64
		// NO KEY UPDATE: Enqueue's foreign key checks (KEY SHARE) on the
		// workspace row go on meanwhile, so no lock order with the
		// counters is needed.
		err := tx.QueryRow(ctx, `SELECT time_zone, daily_segment_cap, monthly_segment_cap FROM workspaces
			WHERE id = $1 FOR NO KEY UPDATE`, ws).Scan(&tz, &daily, &monthly)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		hadCap := daily != nil || monthly != nil
		newTZ := tz
		if p.TimeZone != nil {
			newTZ = *p.TimeZone
		}
		set := func(c **int64, v *int64) {
			if v != nil {
				*c = nil
				if *v > 0 {
					x := *v
					*c = &x
				}
			}
		}
		set(&daily, p.DailyCap)
		set(&monthly, p.MonthlyCap)
		_, err = tx.Exec(ctx, `UPDATE workspaces SET time_zone = $2, daily_segment_cap = $3, monthly_segment_cap = $4,
				updated_at = now()
			WHERE id = $1 AND (now() AT TIME ZONE $2) IS NOT NULL`, ws, newTZ, daily, monthly)
		var pg *pgconn.PgError
		if errors.As(err, &pg) && pg.Code == "22023" { // invalid_parameter_value: time zone not recognized
			return invalid("time_zone %q is not a time zone PostgreSQL knows", newTZ)
		}
		if err != nil {
			return err
		}
		if daily == nil && monthly == nil {
			_, err := tx.Exec(ctx, `DELETE FROM quota_usage WHERE workspace_id = $1`, ws)
			return err
		}
		if !hadCap || newTZ != tz {
			if _, err := tx.Exec(ctx, quotaSeedSQL, ws, s.quotaClock()); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, quotaReachedSQL, ws, s.quotaClock())
		return err
	})
}

// quotaPeriods is the quota periods of the workspace w (its time_zone) at
// the time qt.at, as a lateral subquery p: the day and month (their first
// day), when each began and when each ends (the next local midnight, the
// first of the next month), as instants. One definition for Enqueue, Quota
// and SetQuota, written out in each statement (a SQL function would be
// parsed again whenever the statement is planned, which Enqueue is at
// every call).
const quotaPeriods = `
    CROSS JOIN LATERAL (
        SELECT d.day, d.month,
               d.day::timestamp AT TIME ZONE w.time_zone AS day_start,
               d.month::timestamp AT TIME ZONE w.time_zone AS month_start,
               (d.day + 1)::timestamp AT TIME ZONE w.time_zone AS day_end,
               (d.month + interval '1 month') AT TIME ZONE w.time_zone AS month_end
        FROM (SELECT l::date AS day, date_trunc('month', l)::date AS month
              FROM (SELECT qt.at AT TIME ZONE w.time_zone AS l) x) d
    ) p`

// quotaSeedSQL counts the segments the workspace ($1) has had accepted in
// its current day and month (at $2, NULL: now) into its quota_usage row:
// the workspace's threads written to this month (threads_recent), and
// their outbound messages created since the month began (messages_thread).
const quotaSeedSQL = `
WITH p AS (
    SELECT p.* FROM workspaces w
    CROSS JOIN LATERAL (SELECT coalesce($2::timestamptz, now()) AS at) qt` + quotaPeriods + `
    WHERE w.id = $1
),
n AS (
    SELECT coalesce(sum(m.segments) FILTER (WHERE m.created_at >= p.day_start), 0) AS day_segs,
           coalesce(sum(m.segments), 0) AS month_segs
    FROM p
    JOIN threads t ON t.workspace_id = $1 AND t.last_message_at >= p.month_start AND t.last_outbound_at >= p.month_start
    JOIN messages m ON m.thread_id = t.id AND m.direction = 'out' AND m.created_at >= p.month_start
)
INSERT INTO quota_usage (workspace_id, day, day_segments, month, month_segments)
SELECT $1, p.day, n.day_segs, p.month, n.month_segs FROM p, n
ON CONFLICT (workspace_id) DO UPDATE
    SET day = excluded.day, day_segments = excluded.day_segments,
        month = excluded.month, month_segments = excluded.month_segments`

// quotaReachedSQL writes the quota events of the thresholds the
// workspace's ($1) counts have reached under its caps (at $2, NULL: now),
// those already written excepted.
const quotaReachedSQL = `
INSERT INTO quota_events (workspace_id, period, period_start, threshold, cap, used, resets_at)
SELECT w.id, x.period, x.start, t.threshold, x.cap, x.used, x.resets
FROM workspaces w
CROSS JOIN LATERAL (SELECT coalesce($2::timestamptz, now()) AS at) qt` + quotaPeriods + `
JOIN quota_usage q ON q.workspace_id = w.id
CROSS JOIN LATERAL (VALUES
    ('day', p.day, w.daily_segment_cap, CASE WHEN q.day = p.day THEN q.day_segments ELSE 0 END, p.day_end),
    ('month', p.month, w.monthly_segment_cap, CASE WHEN q.month = p.month THEN q.month_segments ELSE 0 END, p.month_end)
) AS x(period, start, cap, used, resets)
CROSS JOIN (VALUES (80), (100)) AS t(threshold)
WHERE w.id = $1 AND x.cap IS NOT NULL AND x.used * 100 >= x.cap * t.threshold
ON CONFLICT DO NOTHING`

// QuotaUse is a workspace's count under one cap, in the current period.
type QuotaUse struct {
	Period QuotaPeriod
	Limit  int64 // the cap, in segments
	Used   int64 // segments accepted in the period so far
	// Start is the period's first day (its date, at midnight UTC); ResetsAt
	// is when the next period begins (the next local midnight or first of
	// the month, in the workspace's time zone).
	Start    time.Time
	ResetsAt time.Time
}

// Remaining is what the period may still accept (0 when the cap is
// reached).
func (u *QuotaUse) Remaining() int64 { return max(u.Limit-u.Used, 0) }

// QuotaStatus is a workspace's quota now.
type QuotaStatus struct {
	TimeZone string
	// Daily and Monthly are nil when the workspace has no such cap (nothing
	// is counted for a workspace without caps).
	Daily, Monthly *QuotaUse
}

// Quota returns a workspace's caps and what the current periods have used
// of them. ErrNotFound.
func (s *Store) Quota(ctx context.Context, ws WorkspaceID) (QuotaStatus, error) {
	var (
		st                   QuotaStatus
		daily, monthly       *int64
		dayUsed, monthUsed   int64
		day, month           time.Time
		dayReset, monthReset time.Time
	)
	err := s.pool.QueryRow(ctx, `
		SELECT w.time_zone, w.daily_segment_cap, w.monthly_segment_cap, p.day, p.month, p.day_end, p.month_end,
		       CASE WHEN q.day = p.day THEN q.day_segments ELSE 0 END,
		       CASE WHEN q.month = p.month THEN q.month_segments ELSE 0 END
		FROM workspaces w
		CROSS JOIN LATERAL (SELECT coalesce($2::timestamptz, now()) AS at) qt`+quotaPeriods+`
		LEFT JOIN quota_usage q ON q.workspace_id = w.id
		WHERE w.id = $1`, ws, s.quotaClock()).
		Scan(&st.TimeZone, &daily, &monthly, &day, &month, &dayReset, &monthReset, &dayUsed, &monthUsed)
	if errors.Is(err, pgx.ErrNoRows) {
		return QuotaStatus{}, ErrNotFound
	}
	if err != nil {
		return QuotaStatus{}, err
	}
	if daily != nil {
		st.Daily = &QuotaUse{Period: QuotaDay, Limit: *daily, Used: dayUsed, Start: utcDay(day), ResetsAt: dayReset}
	}
	if monthly != nil {
		st.Monthly = &QuotaUse{Period: QuotaMonth, Limit: *monthly, Used: monthUsed, Start: utcDay(month), ResetsAt: monthReset}
	}
	return st, nil
}

// QuotaExceededError is Enqueue's refusal of a message that would take the
// workspace past a segment cap. errors.Is(err, ErrQuotaExceeded) holds and
// ErrorCode is CodeQuotaExceeded. When both caps would be crossed it names
// the monthly one (which resets last).
type QuotaExceededError struct {
	Period QuotaPeriod
	Limit  int64 // the cap
	// Used is the period's count once the call that refused the message
	// was stored (the messages of the call it accepted included).
	Used     int64
	Segments int       // the refused message's segments
	ResetsAt time.Time // when the period ends and the count starts again
}

func (e *QuotaExceededError) Error() string {
	return fmt.Sprintf("inbox: %s segment cap %d reached (%d used, the message needs %d); resets at %s",
		e.Period, e.Limit, e.Used, e.Segments, e.ResetsAt.UTC().Format(time.RFC3339))
}

// Unwrap returns ErrQuotaExceeded.
func (e *QuotaExceededError) Unwrap() error { return ErrQuotaExceeded }

// QuotaEvent is a quota.threshold event: a workspace's count in a period
// reached Threshold percent of its cap (or, at 100, a message was refused
// by the cap).
type QuotaEvent struct {
	ID        int64
	Period    QuotaPeriod
	Start     time.Time // the period's first day (its date at midnight UTC)
	Threshold int       // QuotaWarnPercent or QuotaFullPercent
	Limit     int64
	Used      int64 // the count when the event was written
	ResetsAt  time.Time
	At        time.Time
}

// quotaClock is the time the quota periods are computed at: nil (the
// database's now()) except in tests.
func (s *Store) quotaClock() *time.Time {
	if s.quotaNow == nil {
		return nil
	}
	t := s.quotaNow()
	return &t
}

func orZero(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
