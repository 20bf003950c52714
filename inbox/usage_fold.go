package inbox

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// usageFoldApp is the application_name of a fold's transaction: the
// change feed does not wait for it (see horizonCTE).
const usageFoldApp = "switchboard usage fold"

// defaultFoldStep bounds the transactions (xids) one fold transaction
// reads the log of: a fold far behind (the first after a long stop)
// catches up in steps of this many, each committed on its own.
const defaultFoldStep = 20_000

// UsageFold is what FoldUsage did.
type UsageFold struct {
	// Busy: another fold held the cursor (another engine process); this
	// call did nothing.
	Busy bool
	// Messages is how many messages were looked at: those whose latest
	// change was in the folded part of the log (pending ones included,
	// though they count nowhere).
	Messages int64
	// Steps is how many fold transactions ran.
	Steps int
}

// FoldUsage brings the usage rollups (usage_daily, usage_monthly, read by
// Usage) up to date with the change log (message_changes): it reads the
// log entries of the transactions between its cursor and the feed's
// horizon (the oldest write transaction still running, as Changes does:
// one running longer than Options.ChangesWaitLimit is read past) and
// counts each listed message whose latest change is that entry, in its
// status now, moving it from the bucket it was counted in before (see
// migration 0009). Each message is counted once in its current bucket,
// however many times it changed and however the folds fall between its
// changes.
//
// The messages' write paths pay nothing for this: no trigger, no index;
// the cost is here, per message changed: its ids in the log and one
// primary-key lookup, a usage_open row while a message is submitted, and
// one upsert per rollup row touched. The engine calls it every few
// seconds; any number of processes may: one folds at a time (the cursor
// row is locked, the others return Busy at once). Safe to call at any
// time; a fold that fails changes nothing.
func (s *Store) FoldUsage(ctx context.Context) (UsageFold, error) {
	var res UsageFold
	for {
		done, n, busy, err := s.foldOnce(ctx)
		if err != nil || busy {
			res.Busy = busy
			return res, err
		}
		res.Messages += n
		res.Steps++
		if done {
			return res, nil
		}
	}
}

// foldOnce runs one fold transaction, over at most s.foldStep transactions
// of the log (Store.foldStep); done when it reached the horizon.
func (s *Store) foldOnce(ctx context.Context) (done bool, n int64, busy bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var from, horizon uint64
		err := tx.QueryRow(ctx, `SELECT horizon FROM usage_fold FOR NO KEY UPDATE SKIP LOCKED`).Scan(&from)
		if errors.Is(err, pgx.ErrNoRows) {
			busy = true
			return nil
		}
		if err != nil {
			return err
		}
		// Named, so that the feed's horizon skips this transaction.
		if _, err := tx.Exec(ctx, `SET LOCAL application_name = '`+usageFoldApp+`'`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, cursorSQL, micros(s.feedWait)).Scan(&horizon); err != nil {
			return err
		}
		horizon = max(from, horizon)
		to := horizon
		if horizon-from > s.foldStep {
			// Far behind: fold from the next entry of the log on (xids
			// are numbered across databases; the log may skip many).
			var next *uint64
			if err := tx.QueryRow(ctx, nextLoggedSQL, from).Scan(&next); err != nil {
				return err
			}
			if next != nil && *next < horizon {
				to = min(horizon, max(from, *next)+s.foldStep)
			}
		}
		done = to == horizon
		if to == from { // nothing committed since the last fold
			_, err := tx.Exec(ctx, `UPDATE usage_fold SET folded_at = now()`)
			return err
		}
		return tx.QueryRow(ctx, foldSQL, from, to, done).Scan(&n)
	})
	return done, n, busy, err
}

// logWorkspacesCTE lists the workspaces of the log (ws.w), skipping
// through its feed index: one probe each.
const logWorkspacesCTE = `
WITH RECURSIVE ws AS (
    (SELECT workspace_id AS w FROM message_changes ORDER BY workspace_id LIMIT 1)
    UNION ALL
    SELECT (SELECT l.workspace_id FROM message_changes l WHERE l.workspace_id > ws.w ORDER BY l.workspace_id LIMIT 1)
    FROM ws WHERE ws.w IS NOT NULL
)`

// nextLoggedSQL: the first transaction of the log at or after $1 (NULL:
// none), one probe per workspace.
const nextLoggedSQL = logWorkspacesCTE + `
SELECT min(l.change_xid) FROM ws
JOIN LATERAL (
    SELECT l.change_xid FROM message_changes l
    WHERE l.workspace_id = ws.w AND l.change_xid >= $1::xid8
    ORDER BY l.change_xid LIMIT 1
) l ON true
`

// foldSQL folds the log entries of transactions in [$1, $2) into the
// rollups and moves the cursor to $2 ($3: the horizon was reached, so
// folded_at is now). The log's workspaces are found by skipping through
// its feed index (logWorkspacesCTE), and each one's range of entries read
// from it: no index of the log serves the fold alone, so writers maintain
// no more than before. usage_open holds only submitted messages, so a message
// is either deleted from it (it left submitted) or inserted (it reached
// submitted), never both.
const foldSQL = logWorkspacesCTE + `,
logged AS MATERIALIZED (
    SELECT u.id, l.change_xid
    FROM ws
    JOIN LATERAL (
        SELECT l.change_xid, l.ids FROM message_changes l
        WHERE l.workspace_id = ws.w AND l.change_xid >= $1::xid8 AND l.change_xid < $2::xid8
    ) l ON true,
    unnest(l.ids) AS u(id)
),
-- the messages whose latest change is one of these entries, as they are
-- now, and where they were counted before if they can move
cur AS MATERIALIZED (
    SELECT m.id, m.workspace_id, (m.created_at AT TIME ZONE 'UTC')::date AS day, m.number_id, m.direction,
           usage_bucket(m.status) AS status, m.segments::int8 AS segments,
           o.workspace_id AS o_ws, o.day AS o_day, o.number_id AS o_number, o.direction AS o_dir,
           o.status AS o_status, o.segments AS o_segments
    FROM (SELECT DISTINCT id FROM logged) d
    JOIN messages m ON m.id = d.id
    LEFT JOIN usage_open o ON o.message_id = m.id
    WHERE (m.id, m.change_xid) IN (SELECT id, change_xid FROM logged)
),
delta AS MATERIALIZED (
    SELECT workspace_id, day, number_id, direction, status, sum(dm)::int8 AS messages, sum(ds)::int8 AS segments
    FROM (
        SELECT workspace_id, day, number_id, direction, status, 1 AS dm, segments AS ds
        FROM cur WHERE status <> 'pending' AND status IS DISTINCT FROM o_status
        UNION ALL
        SELECT o_ws, o_day, o_number, o_dir, o_status, -1, -o_segments
        FROM cur WHERE o_status IS NOT NULL AND o_status <> status
    ) x
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(dm) <> 0 OR sum(ds) <> 0
),
closed AS (
    DELETE FROM usage_open o USING cur
    WHERE o.message_id = cur.id AND cur.o_status <> cur.status
),
opened AS (
    INSERT INTO usage_open (message_id, workspace_id, day, number_id, direction, status, segments)
    SELECT id, workspace_id, day, number_id, direction, status, segments
    FROM cur WHERE status = 'submitted' AND o_status IS NULL
),
daily AS (
    INSERT INTO usage_daily AS u (workspace_id, day, number_id, direction, status, messages, segments)
    SELECT * FROM delta ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, number_id, direction, status) DO UPDATE
        SET messages = u.messages + excluded.messages, segments = u.segments + excluded.segments
),
monthly AS (
    INSERT INTO usage_monthly AS u (workspace_id, month, number_id, direction, status, messages, segments)
    SELECT workspace_id, date_trunc('month', day::timestamp)::date, number_id, direction, status, sum(messages), sum(segments)
    FROM delta
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(messages) <> 0 OR sum(segments) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, month, number_id, direction, status) DO UPDATE
        SET messages = u.messages + excluded.messages, segments = u.segments + excluded.segments
),
cursor AS (
    UPDATE usage_fold SET horizon = $2::xid8, folded_at = CASE WHEN $3::boolean THEN now() ELSE folded_at END
)
SELECT count(*) FROM cur
`

// UsageAsOf returns when the usage rollups were last brought up to date
// with the messages (FoldUsage): the changes committed before then are in
// them, but for those of transactions still running at that time.
func (s *Store) UsageAsOf(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := s.pool.QueryRow(ctx, `SELECT folded_at FROM usage_fold`).Scan(&t)
	return t, err
}
