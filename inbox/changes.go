package inbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Change is one entry of a workspace's change feed: a message as it is
// after it was created (inbound or outbound) or its status changed. A
// message changed several times between two reads appears once, as it is
// now.
type Change struct {
	// Cursor names this change: Changes(after: Cursor) returns what came
	// after it. It is opaque, like page cursors.
	Cursor    string
	Message   MessageID
	Thread    ThreadID
	Direction Direction
	From, To  string // E.164; for outbound From is the local number
	Body      string
	Encoding  string
	Segments  int
	Status    Status
	// At is when the message reached Status (received_at for inbound).
	At           time.Time
	CreatedAt    time.Time
	CarrierError int // the carrier's error code, 0 when none
}

// DefaultChangesLimit is the page size of Changes when limit is 0.
const DefaultChangesLimit = 100

const changeCursorKind = "c1"

// ChangeCursor returns a cursor at the end of the change feed as of now:
// Changes after it returns what changes from here on (and what
// transactions still running when it was taken commit later).
func (s *Store) ChangeCursor(ctx context.Context) (string, error) {
	var h uint64
	if err := s.pool.QueryRow(ctx, cursorSQL, micros(s.feedWait)).Scan(&h); err != nil {
		return "", err
	}
	return encodeCursor(changeCursorKind, int64(h), 0), nil
}

// Changes returns a workspace's changes after the cursor after ("" for
// the start of the feed), oldest first, at most limit (0 means
// DefaultChangesLimit, at most MaxPageSize). An empty result means nothing
// new: call again later with the same cursor.
//
// Order and completeness. A change is keyed by the transaction that made
// it (change_xid), then the message id, and is returned only once every
// transaction of this database that was running when it was written has
// ended: the horizon is the oldest transaction still running. So a change
// committed late by a slow transaction is not skipped by a reader that
// already went past faster ones, and a reader's cursor never misses a
// change. (A sequence number drawn at write time would: a batch that drew
// number 100 often commits after one that drew 101 was read.) Two limits
// keep a stuck transaction from stopping the feed: transactions of other
// databases are never waited for (they cannot write here), and one of this
// database running longer than Options.ChangesWaitLimit (10 s) is read
// past; if such a transaction writes messages and commits later, readers
// already past it do not see those changes (they are still in the threads
// and messages, only not in the feed). The store's own transactions are
// single statements lasting milliseconds.
//
// Cost on the write paths: inserts take change_xid from the column
// default; every statement that changes a status sets it in the same
// UPDATE. The cost is mostly the messages_changes index, which every
// insert and every non-HOT update of messages now also writes: on the
// inbox benchmarks about +9-18% WAL per message and +10-30% database CPU
// (medians on a busy 2-core machine). Setting
// change_xid in the statements was measured cheaper than a BEFORE UPDATE
// trigger (about 1 µs per changed row less, bare UPDATE of 50,000 rows). A
// read is one index range scan of messages_changes; pg_stat_get_activity
// is read only while some transaction is running.
func (s *Store) Changes(ctx context.Context, ws WorkspaceID, after string, limit int) ([]Change, error) {
	var xid, id int64
	if after != "" {
		f, err := decodeCursor(after, changeCursorKind, 2)
		if err != nil {
			return nil, err
		}
		xid, id = f[0], f[1]
	}
	if xid < 0 || id < 0 {
		return nil, ErrInvalidCursor
	}
	switch {
	case limit <= 0:
		limit = DefaultChangesLimit
	case limit > MaxPageSize:
		limit = MaxPageSize
	}
	rows, err := s.pool.Query(ctx, changesSQL, ws, uint64(xid), id, limit, micros(s.feedWait))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Change, error) {
		var (
			c              Change
			cx             uint64
			local, contact string
			segs           int16
		)
		err := r.Scan(&cx, &c.Message, &c.Thread, &c.Direction, &local, &contact, &c.Body, &c.Encoding, &segs,
			&c.Status, &c.CarrierError, &c.At, &c.CreatedAt)
		c.Cursor = encodeCursor(changeCursorKind, int64(cx), int64(c.Message))
		c.Segments = int(segs)
		if c.Direction == DirectionOut {
			c.From, c.To = local, contact
		} else {
			c.From, c.To = contact, local
		}
		return c, err
	})
}

// horizonCTE computes the feed's horizon (see Changes): the oldest
// transaction of the snapshot still running, skipping those of other
// databases (they cannot write here) and those of this database running
// for longer than the wait limit ($1 in ChangeCursor, $5 in Changes, µs).
// A transaction whose start time cannot be read (another user's, without
// pg_read_all_stats) is waited for: a skip is made only when it is certain.
// pg_stat_get_activity is read only when some transaction is running.
const horizonCTE = `
WITH snap AS MATERIALIZED (
    SELECT pg_current_snapshot() AS s
),
skip AS MATERIALIZED (
    SELECT a.backend_xid FROM pg_stat_get_activity(NULL) a
    WHERE a.backend_xid IS NOT NULL
      AND (a.datid IS DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database())
           OR a.xact_start < now() - $%d::int8 * interval '1 microsecond')
),
horizon AS MATERIALIZED (
    SELECT coalesce(min(x), (SELECT pg_snapshot_xmax(s) FROM snap)) AS h
    FROM snap, pg_snapshot_xip(snap.s) x
    WHERE x::xid NOT IN (SELECT backend_xid FROM skip)
)
`

// changesSQL: an index range scan of messages_changes, bounded above by
// the horizon.
var changesSQL = fmt.Sprintf(horizonCTE, 5) + `
SELECT m.change_xid, m.id, m.thread_id, m.direction, n.e164, m.contact, m.body, m.encoding, m.segments,
       m.status, coalesce(m.carrier_error, 0),
       coalesce(CASE m.status
           WHEN 'queued' THEN m.queued_at WHEN 'sending' THEN m.sending_at
           WHEN 'submitted' THEN m.submitted_at WHEN 'delivered' THEN m.delivered_at
           WHEN 'failed' THEN m.failed_at WHEN 'expired' THEN m.expired_at
           WHEN 'rejected' THEN m.rejected_at WHEN 'received' THEN m.received_at END, m.created_at),
       m.created_at
FROM messages m
JOIN numbers n ON n.id = m.number_id
WHERE m.workspace_id = $1
  AND (m.change_xid, m.id) > ($2::xid8, $3::int8)
  AND m.change_xid < (SELECT h FROM horizon)
ORDER BY m.change_xid, m.id
LIMIT $4
`

var cursorSQL = fmt.Sprintf(horizonCTE, 1) + `SELECT h FROM horizon`
