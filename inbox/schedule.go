package inbox

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// releaseBatch is how many scheduled messages one ReleaseScheduled
// statement queues: a million due at once are queued in steps of this many,
// each a short transaction, and meanwhile the dispatchers already send the
// first ones at their numbers' rates.
const releaseBatch = 5000

// ReleaseScheduled queues every scheduled message whose send time has come,
// oldest send time first, in batches of releaseBatch, and returns how many
// it released. A released message becomes queued and takes its place at the
// end of its thread's line (as if it was sent at that moment), so from then
// on it is an ordinary queued message: the dispatchers' fair scheduler sends
// it at its number's rate. Its number being disabled or disconnected holds
// it like any queued message; a contact who opted out (STOP) since it was
// scheduled gets nothing: the message is canceled with the reason
// recipient_opted_out. Each change is a status event of the change feed.
//
// Safe to run from several processes at once (SKIP LOCKED: each batch takes
// what no other holds); meant to run about every second. When nothing is
// due it costs one probe of the messages_scheduled index, whose entries are
// only the scheduled messages: the claim never reads them.
func (s *Store) ReleaseScheduled(ctx context.Context) (int64, error) {
	var total int64
	for {
		var n int64
		err := retry(ctx, func() error {
			return s.pool.QueryRow(ctx, releaseScheduledSQL, releaseBatch).Scan(&n)
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < releaseBatch {
			return total, nil
		}
	}
}

// releaseScheduledSQL takes up to $1 due scheduled messages (messages_scheduled, in
// send order), locks their threads in id order (the thread row's lock is what
// hands out places in the line, as in Enqueue; the order keeps two releasers
// from deadlocking each other), adds them at the end of their lines and
// queues them: due at once when their number is connected and enabled in the
// workspace and they are their thread's head, else held (due_at NULL) until
// both hold (the message before them moves the thread on, or the number is
// enabled). The predicate of the scan
// is messages_scheduled's own, and is checked again on the row it locks, so
// a message canceled meanwhile is left alone.
const releaseScheduledSQL = `
WITH c AS MATERIALIZED (
    SELECT m.id, m.thread_id, m.workspace_id, m.number_id, m.contact, m.send_at
    FROM messages m
    WHERE m.direction = 'out' AND m.thread_seq IS NULL AND m.canceled_at IS NULL
      AND m.send_at <= now() AND m.status = 'scheduled'
    ORDER BY m.send_at, m.id
    LIMIT $1
    FOR NO KEY UPDATE SKIP LOCKED
),
v AS MATERIALIZED (
    SELECT c.*, coalesce(o.opted_out, false) AS opted_out, coalesce(nc.enabled, false) AS enabled
    FROM c
    LEFT JOIN contacts o ON o.workspace_id = c.workspace_id AND o.contact = c.contact
    LEFT JOIN number_connections nc
           ON nc.workspace_id = c.workspace_id AND nc.number_id = c.number_id AND nc.disconnected_at IS NULL
),
lk AS MATERIALIZED (
    SELECT t.id FROM threads t
    WHERE t.id IN (SELECT thread_id FROM v WHERE NOT opted_out)
    ORDER BY t.id
    FOR NO KEY UPDATE
),
th AS (
    UPDATE threads t
    SET out_seq = t.out_seq + x.n, last_message_at = greatest(t.last_message_at, now()), last_outbound_at = now()
    FROM (SELECT thread_id, count(*) AS n FROM v WHERE NOT opted_out GROUP BY thread_id) x
    WHERE t.id = x.thread_id AND t.id IN (SELECT id FROM lk)
    RETURNING t.id, t.out_seq, t.out_next
),
q AS (
    SELECT v.id, v.enabled, th.out_next,
           th.out_seq - count(*) OVER w + row_number() OVER (w ORDER BY v.send_at, v.id) AS seq
    FROM v JOIN th ON th.id = v.thread_id
    WHERE NOT v.opted_out
    WINDOW w AS (PARTITION BY v.thread_id)
),
queued AS (
    UPDATE messages m
    SET status = 'queued', thread_seq = q.seq, queued_at = now(), pending_since = now(),
        due_at = CASE WHEN q.enabled AND q.seq = q.out_next THEN now() END, change_xid = pg_current_xact_id()
    FROM q WHERE m.id = q.id
    RETURNING m.id
),
dropped AS (
    UPDATE messages m
    SET status = 'canceled', canceled_at = now(), last_error = 'recipient_opted_out',
        change_xid = pg_current_xact_id()
    FROM v WHERE m.id = v.id AND v.opted_out
    RETURNING m.id
)
SELECT (SELECT count(*) FROM c)
`

// CancelMessage cancels one of the workspace's outbound messages that has
// not gone out: a scheduled one, or a queued one none of whose parts was
// accepted by the carrier. It returns the message as it is now (canceled;
// canceling a canceled message again returns it unchanged). Errors:
// ErrNotFound (no such outbound message of ws), ErrNotCancelable (it is being
// submitted, was submitted, or is final).
//
// A canceled message never goes out. The cancel locks the message row
// first: a dispatcher's claim that holds it has made it sending (then the
// cancel is refused), and a claim that comes while the cancel holds it skips
// it and finds it canceled afterwards. A queued message gives up its place
// in its thread's line: the messages behind it move up one place (under the
// thread row's lock, like Enqueue and ReleaseScheduled), so the thread's
// next message becomes the head when it was the head.
func (s *Store) CancelMessage(ctx context.Context, ws WorkspaceID, id MessageID) (Message, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The thread row's lock first, then the message's: the order of
		// every statement that moves a thread on and then gives its next
		// message its due time (RecordSubmits, ApplyReceipts, expiry), so
		// the two never deadlock. thread_id never changes.
		var thread int64
		err := tx.QueryRow(ctx, `SELECT thread_id FROM messages WHERE id = $1 AND workspace_id = $2 AND direction = 'out'`,
			id, ws).Scan(&thread)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var next int32
		if err := tx.QueryRow(ctx, `SELECT out_next FROM threads WHERE id = $1 FOR NO KEY UPDATE`, thread).Scan(&next); err != nil {
			return err
		}
		var (
			st   Status
			seq  *int32
			mask int32
		)
		err = tx.QueryRow(ctx, `SELECT status, thread_seq, sent_mask FROM messages
			WHERE id = $1 AND workspace_id = $2 AND direction = 'out' FOR NO KEY UPDATE`, id, ws).
			Scan(&st, &seq, &mask)
		if err != nil {
			return err
		}
		switch {
		case st == StatusCanceled:
			return nil
		case st == StatusScheduled:
			_, err = tx.Exec(ctx, `UPDATE messages SET status = 'canceled', canceled_at = now(),
				change_xid = pg_current_xact_id() WHERE id = $1`, id)
			return err
		case st != StatusQueued || mask != 0 || seq == nil:
			return ErrNotCancelable
		}
		// Statements after the thread lock see every message given a place
		// in this line before it (READ COMMITTED: a snapshot per statement).
		// When the canceled message was the head, the one behind it takes
		// its place and becomes the head: it gets its due time, as
		// promoteHeadsSQL gives it.
		b := &pgx.Batch{}
		b.Queue(`UPDATE messages SET status = 'canceled', canceled_at = now(), thread_seq = NULL, due_at = NULL,
			pending_since = NULL, lease_owner = NULL, change_xid = pg_current_xact_id() WHERE id = $1`, id)
		b.Queue(`UPDATE messages SET thread_seq = thread_seq - 1,
			due_at = CASE WHEN $2 = $3::int4 AND thread_seq = $2 + 1 AND status = 'queued' AND due_at IS NULL
			              THEN greatest(coalesce(not_before, queued_at, created_at), coalesce(queued_at, created_at))
			              ELSE due_at END
			WHERE thread_id = $1 AND direction = 'out' AND thread_seq > $2`, thread, *seq, next)
		b.Queue(`UPDATE threads SET out_seq = out_seq - 1 WHERE id = $1`, thread)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return Message{}, err
	}
	return s.GetMessage(ctx, ws, id)
}

// messageDeadlineSQL4 and messageDeadlineSQL1 are the time past which
// message m, not yet submitted, expires: the tenant's validity deadline,
// else the message TTL (parameter $4 or $1, microseconds) from its send
// time (send_at for a scheduled message, else created_at).
const (
	messageDeadlineSQL4 = `coalesce(m.expires_at, coalesce(m.send_at, m.created_at) + $4::int8 * interval '1 microsecond')`
	messageDeadlineSQL1 = `coalesce(m.expires_at, coalesce(m.send_at, m.created_at) + $1::int8 * interval '1 microsecond')`
)
