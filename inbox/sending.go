package inbox

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// SendingStats is what one workspace has waiting on one of its numbers, and
// how long its messages from that number waited over a recent window: the
// data behind "why is my SMS late".
type SendingStats struct {
	Number NumberID
	// The queue: the workspace's messages from the number still queued or
	// sending, their segments, and when the oldest was accepted (zero when
	// none waits).
	QueuedMessages int
	QueuedSegments int
	OldestQueued   time.Time
	// The window: the workspace's messages from the number submitted
	// within it, their segments, and the median and 95th percentile of
	// their waits from acceptance (created) to submission (the last
	// segment accepted by the carrier), zero when none. The percentiles
	// are over the newest WaitSampled of them: all of them up to
	// Options.WaitSample, else the most recent that many.
	Submitted         int
	SubmittedSegments int
	WaitP50, WaitP95  time.Duration
	WaitSampled       int
	// CarrierThrottled counts the messages, queued or submitted in the
	// window, that the carrier refused at least once with one of the
	// throttle codes asked for.
	CarrierThrottled int
}

// DefaultWaitSample is the default of Options.WaitSample: how many
// submitted messages SendingStats computes the wait percentiles over (the
// newest of the window). 10,000 keeps the percentiles to milliseconds for a
// number sending 100 segments/s for an hour (360,000 messages) while the
// counts stay exact.
const DefaultWaitSample = 10_000

// SendingStats returns, for each of numbers, what the workspace has queued
// on it and the waits of its messages submitted in the last window;
// throttleCodes are the carrier error codes that mean "too fast" (the
// caller knows them: ESME_RTHROTTLED, ESME_RMSGQFUL). Numbers the workspace
// never sent from get zeros.
//
// Cost: the queue is read from messages_pending (O(the workspace's backlog
// on the number)), the window's counts from an index-only scan of
// messages_submitted (O(messages submitted in it), a few bytes each), and
// the percentiles by PostgreSQL (percentile_cont) over at most
// Options.WaitSample entries of the same index.
func (s *Store) SendingStats(ctx context.Context, ws WorkspaceID, numbers []NumberID, window time.Duration, throttleCodes []int32) ([]SendingStats, error) {
	if len(numbers) == 0 {
		return nil, nil
	}
	if window <= 0 {
		return nil, invalid("window must be positive")
	}
	ids := make([]int64, len(numbers))
	for i, n := range numbers {
		ids[i] = int64(n)
	}
	if throttleCodes == nil {
		throttleCodes = []int32{}
	}
	rows, err := s.pool.Query(ctx, sendingStatsSQL, ws, ids, micros(window), throttleCodes, s.waitSample)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := map[NumberID]SendingStats{}
	for rows.Next() {
		var (
			st       SendingStats
			oldest   *time.Time
			p50, p95 *float64
		)
		if err := rows.Scan(&st.Number, &st.QueuedMessages, &st.QueuedSegments, &oldest, &st.Submitted,
			&st.SubmittedSegments, &p50, &p95, &st.WaitSampled, &st.CarrierThrottled); err != nil {
			return nil, err
		}
		st.OldestQueued = timeOrZero(oldest)
		if p50 != nil && p95 != nil {
			st.WaitP50, st.WaitP95 = seconds(*p50), seconds(*p95)
		}
		byID[st.Number] = st
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]SendingStats, len(numbers))
	for i, n := range numbers {
		out[i] = byID[n]
		out[i].Number = n
	}
	return out, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// sendingStatsSQL: per number, one range of messages_pending (the queue),
// one index-only range of messages_submitted (the window's counts), and the
// newest Options.WaitSample entries of that range (the percentiles).
const sendingStatsSQL = `
SELECT n.id, q.msgs, q.segs, q.oldest, h.msgs, h.segs, w.p[1], w.p[2], w.n, q.throttled + h.throttled
FROM unnest($2::int8[]) AS n(id)
CROSS JOIN LATERAL (
    SELECT count(*)::int AS msgs, coalesce(sum(m.segments), 0)::int AS segs, min(m.created_at) AS oldest,
           (count(*) FILTER (WHERE m.carrier_error = ANY ($4::int4[])))::int AS throttled
    FROM messages m
    WHERE m.number_id = n.id AND m.workspace_id = $1 AND m.pending_since IS NOT NULL
) q
CROSS JOIN LATERAL (
    SELECT count(*)::int AS msgs, coalesce(sum(m.segments), 0)::int AS segs,
           (count(*) FILTER (WHERE m.carrier_error = ANY ($4::int4[])))::int AS throttled
    FROM messages m
    WHERE m.number_id = n.id AND m.workspace_id = $1 AND m.submitted_at IS NOT NULL
      AND m.submitted_at > now() - $3::int8 * interval '1 microsecond'
) h
CROSS JOIN LATERAL (
    SELECT percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY s.wait) AS p, count(*)::int AS n
    FROM (
        SELECT extract(epoch FROM m.submitted_at - m.created_at) AS wait
        FROM messages m
        WHERE m.number_id = n.id AND m.workspace_id = $1 AND m.submitted_at IS NOT NULL
          AND m.submitted_at > now() - $3::int8 * interval '1 microsecond'
        ORDER BY m.submitted_at DESC
        LIMIT $5
    ) s
) w
`

// RecentSending is how a number and its carrier account sent over a recent
// window, and how long one workspace's messages from the number were held
// up in it: the measurements that tell which limit made them late. The
// counts are of every workspace's submissions (a shared number's rate, and
// an account's, are shared by all of them).
type RecentSending struct {
	Number  NumberID
	Carrier string // the number's carrier account; "" for an unknown number
	// Backlog is how long, within the window, the workspace had a message
	// from the number waiting that waited at least the late threshold (or
	// has been waiting that long): the union of those messages' waits from
	// acceptance to submission (to now for those still waiting), clipped
	// to the window. Zero when there were none.
	Backlog time.Duration
	// During the backlog: segments submitted from the number by every
	// workspace, those of them the workspace's, segments submitted from
	// every number of the carrier account (this one included), and how
	// many of the account's numbers submitted any.
	NumberSegments, OwnSegments, AccountSegments, AccountNumbers int
	// Over the whole window: the same.
	WindowNumberSegments, WindowOwnSegments, WindowAccountSegments, WindowAccountNumbers int
}

// RecentSending measures, for each of numbers, the workspace's backlog on
// it over the last window (messages that waited at least late) and what
// the number, and every number of its carrier account, submitted during
// that backlog and during the whole window. Unknown numbers get zeros.
//
// Cost, with the indexes there are: the backlog is one range of
// messages_submitted per number (the workspace's submissions in the
// window) and the workspace's queue on it (messages_pending); the counts
// are, per asked number, one range of messages_submitted per (number of
// the account, workspace that ever submitted from it), bounded by the
// window; the pairs are found by a loose scan of the same index (one probe
// each). So O(asked numbers × submissions of their account in the window +
// pairs), never the messages before the window. The numbers of the
// account are read from the numbers table (no index on carrier: a scan of
// that small table).
func (s *Store) RecentSending(ctx context.Context, ws WorkspaceID, numbers []NumberID, window, late time.Duration) ([]RecentSending, error) {
	if len(numbers) == 0 {
		return nil, nil
	}
	if window <= 0 || late < 0 {
		return nil, invalid("window must be positive and late not negative")
	}
	ids := make([]int64, len(numbers))
	for i, n := range numbers {
		ids[i] = int64(n)
	}
	byID := map[NumberID]RecentSending{}
	err := retry(ctx, func() error {
		clear(byID)
		return s.queryPlanned(ctx, recentSendingPlan, recentSendingSQL, []any{ws, ids, micros(window), micros(late)}, func(rows pgx.Rows) error {
			var (
				r       RecentSending
				backlog float64
			)
			if err := rows.Scan(&r.Number, &r.Carrier, &backlog, &r.NumberSegments, &r.OwnSegments, &r.AccountSegments,
				&r.AccountNumbers, &r.WindowNumberSegments, &r.WindowOwnSegments, &r.WindowAccountSegments, &r.WindowAccountNumbers); err != nil {
				return err
			}
			r.Backlog = seconds(backlog)
			byID[r.Number] = r
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]RecentSending, len(numbers))
	for i, n := range numbers {
		out[i] = byID[n]
		out[i].Number = n
	}
	return out, nil
}

// recentSendingPlan opens the statement's transaction without JIT: the
// planner cannot estimate the rows of the loose scan (a recursive CTE: it
// guesses ten times the account's numbers, times ten again) and the cost
// it derives grows with the numbers of the account; past jit_above_cost
// PostgreSQL compiles the plan, which took 100-300 ms (measured, with an
// earlier form of this query) for a statement that runs in a few.
var recentSendingPlan = []string{"BEGIN READ ONLY", "SET LOCAL jit = off"}

// recentSendingSQL: $1 the workspace, $2 the numbers, $3 the window and $4
// the late threshold in microseconds.
//
//   - asked: the numbers asked about and their carrier accounts.
//   - senders: every (number of those accounts, workspace that ever
//     submitted from it), by a loose scan of messages_submitted
//     (number_id, workspace_id, submitted_at): each step is one probe for
//     the number's next workspace_id.
//   - per asked number: the workspace's backlog as a tstzmultirange
//     (range_agg merges the waits into disjoint stretches) and its length;
//     then, per pair of its account, one range of messages_submitted
//     bounded by the window, summed within the backlog (<@) and in all.
//     The per-pair sums are an aggregate in a LATERAL subquery, which the
//     planner cannot flatten: it stays a per-pair index range scan (a
//     plain join was planned as a scan of every message, the recursive
//     CTE's row count being a guess).
const recentSendingSQL = `WITH RECURSIVE asked AS (
    SELECT n.id, n.carrier FROM numbers n WHERE n.id = ANY ($2::int8[])
),
senders (number_id, carrier, workspace_id) AS (
    SELECT n.id, n.carrier, (SELECT m.workspace_id FROM messages m
                             WHERE m.number_id = n.id AND m.submitted_at IS NOT NULL
                             ORDER BY m.number_id, m.workspace_id LIMIT 1)
    FROM numbers n
    WHERE n.carrier IN (SELECT a.carrier FROM asked a)
      AND (n.status = 'active' OR n.retired_at > now() - $3::int8 * interval '1 microsecond')
    UNION ALL
    SELECT s.number_id, s.carrier, (SELECT m.workspace_id FROM messages m
                                    WHERE m.number_id = s.number_id AND m.workspace_id > s.workspace_id
                                      AND m.submitted_at IS NOT NULL
                                    ORDER BY m.number_id, m.workspace_id LIMIT 1)
    FROM senders s
    WHERE s.workspace_id IS NOT NULL
)
SELECT a.id, a.carrier, coalesce(extract(epoch FROM b.len), 0)::float8,
       x.num_segs, x.own_segs, x.acct_segs, x.acct_nums, x.win_num_segs, x.win_own_segs, x.win_acct_segs, x.win_acct_nums
FROM asked a
CROSS JOIN LATERAL (
    SELECT coalesce(range_agg(tstzrange(greatest(w.s, now() - $3::int8 * interval '1 microsecond'), w.e, '[]')),
                    '{}') AS mr
    FROM (
        SELECT m.created_at AS s, m.submitted_at AS e FROM messages m
        WHERE m.number_id = a.id AND m.workspace_id = $1 AND m.submitted_at IS NOT NULL
          AND m.submitted_at > now() - $3::int8 * interval '1 microsecond'
          AND m.submitted_at - m.created_at >= $4::int8 * interval '1 microsecond'
        UNION ALL
        SELECT min(m.created_at), now() FROM messages m
        WHERE m.number_id = a.id AND m.workspace_id = $1 AND m.pending_since IS NOT NULL
        HAVING min(m.created_at) <= now() - $4::int8 * interval '1 microsecond'
    ) w
) r
CROSS JOIN LATERAL (SELECT sum(upper(i) - lower(i)) AS len FROM unnest(r.mr) i) b
CROSS JOIN LATERAL (
    SELECT coalesce(sum(p.segs) FILTER (WHERE s.number_id = a.id), 0)::int AS num_segs,
           coalesce(sum(p.segs) FILTER (WHERE s.number_id = a.id AND s.workspace_id = $1), 0)::int AS own_segs,
           coalesce(sum(p.segs), 0)::int AS acct_segs,
           (count(DISTINCT s.number_id) FILTER (WHERE p.segs > 0))::int AS acct_nums,
           coalesce(sum(p.win_segs) FILTER (WHERE s.number_id = a.id), 0)::int AS win_num_segs,
           coalesce(sum(p.win_segs) FILTER (WHERE s.number_id = a.id AND s.workspace_id = $1), 0)::int AS win_own_segs,
           coalesce(sum(p.win_segs), 0)::int AS win_acct_segs,
           (count(DISTINCT s.number_id) FILTER (WHERE p.win_segs > 0))::int AS win_acct_nums
    FROM senders s
    CROSS JOIN LATERAL (
        SELECT sum(m.segments) FILTER (WHERE m.submitted_at <@ r.mr) AS segs, sum(m.segments) AS win_segs
        FROM messages m
        WHERE m.number_id = s.number_id AND m.workspace_id = s.workspace_id AND m.submitted_at IS NOT NULL
          AND m.submitted_at > now() - $3::int8 * interval '1 microsecond'
    ) p
    WHERE s.carrier = a.carrier AND s.workspace_id IS NOT NULL
) x
`
