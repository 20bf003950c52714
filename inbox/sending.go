package inbox

import (
	"context"
	"time"
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
