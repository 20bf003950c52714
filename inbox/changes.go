package inbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Change is one entry of a workspace's change feed: a message as it is
// after it was created (inbound or outbound) or its status changed, or a
// number request as it is after it was created or its status changed. An
// object changed several times between two reads appears once, as it is
// now.
type Change struct {
	// Cursor names this change: Changes(after: Cursor) returns what came
	// after it. It is opaque, like page cursors.
	Cursor string
	Kind   ChangeKind
	// Request is the number request (Kind ChangeRequest); the message
	// fields below are then zero.
	Request *NumberRequest

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

// ChangeKind says what a change is about.
type ChangeKind int

// Change kinds. Within one writing transaction, message changes come
// before request changes.
const (
	ChangeMessage ChangeKind = iota // a message (the fields of Change)
	ChangeRequest                   // a number request (Change.Request)
)

// DefaultChangesLimit is the page size of Changes when limit is 0.
const DefaultChangesLimit = 100

// Cursor kinds of the feed: after a message change ("c1:xid:message") and
// after a request change ("c1r:xid:request"). ChangeCursor hands out c1.
const (
	changeCursorKind  = "c1"
	requestCursorKind = "c1r"
	noMessageAfter    = int64(1<<63 - 1)
	noRequestAfter    = int64(0)
)

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
// read is one index range scan of messages_changes and one of
// number_requests_changes (a small table); pg_stat_get_activity is read
// only while some transaction is running.
func (s *Store) Changes(ctx context.Context, ws WorkspaceID, after string, limit int) ([]Change, error) {
	// The feed's order is (change_xid, kind, id). A cursor after a message
	// (xid, m) is followed by the messages (xid, > m) and every request of
	// xid; one after a request (xid, r) by no message of xid and the
	// requests (xid, > r): each table gets its own row comparison, which
	// its index answers.
	var xid, msgAfter, reqAfter int64
	if after != "" {
		f, err := decodeCursor(after, changeCursorKind, 2)
		if err == nil {
			xid, msgAfter, reqAfter = f[0], f[1], noRequestAfter
		} else if f, err = decodeCursor(after, requestCursorKind, 2); err == nil {
			xid, msgAfter, reqAfter = f[0], noMessageAfter, f[1]
		} else {
			return nil, err
		}
	}
	if xid < 0 || msgAfter < 0 || reqAfter < 0 {
		return nil, ErrInvalidCursor
	}
	switch {
	case limit <= 0:
		limit = DefaultChangesLimit
	case limit > MaxPageSize:
		limit = MaxPageSize
	}
	rows, err := s.pool.Query(ctx, changesSQL, ws, uint64(xid), msgAfter, limit, micros(s.feedWait), reqAfter)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Change, error) {
		var (
			c              Change
			cx             uint64
			id             int64
			local, contact string
			segs           int16
			q              NumberRequest
			closed         *time.Time
		)
		err := r.Scan(&cx, &c.Kind, &id, &c.Thread, &c.Direction, &local, &contact, &c.Body, &c.Encoding, &segs,
			&c.Status, &c.CarrierError, &c.At, &c.CreatedAt,
			&q.Country, &q.AreaCode, &q.Note, &q.Status, &q.NumberID, &q.DeclineReason, &closed)
		if err != nil {
			return c, err
		}
		if c.Kind == ChangeRequest {
			q.ID, q.Workspace, q.Number, q.CreatedAt, q.ClosedAt = RequestID(id), ws, local, c.CreatedAt, timeOrZero(closed)
			return Change{Cursor: encodeCursor(requestCursorKind, int64(cx), id), Kind: ChangeRequest, Request: &q}, nil
		}
		c.Message = MessageID(id)
		c.Cursor = encodeCursor(changeCursorKind, int64(cx), id)
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

// changesSQL: an index range scan of messages_changes and one of
// number_requests_changes, each bounded above by the horizon, merged in
// feed order. Rows have the columns of both kinds (the other kind's are
// empty); for a request, the number is its dedicated number's E.164, the
// status its status, "at" when it reached it.
var changesSQL = fmt.Sprintf(horizonCTE, 5) + `
SELECT * FROM (
    (SELECT m.change_xid, 0 AS kind, m.id, m.thread_id, m.direction, n.e164, m.contact, m.body, m.encoding,
            m.segments, m.status, coalesce(m.carrier_error, 0),
            coalesce(CASE m.status
                WHEN 'queued' THEN m.queued_at WHEN 'sending' THEN m.sending_at
                WHEN 'submitted' THEN m.submitted_at WHEN 'delivered' THEN m.delivered_at
                WHEN 'failed' THEN m.failed_at WHEN 'expired' THEN m.expired_at
                WHEN 'rejected' THEN m.rejected_at WHEN 'received' THEN m.received_at END, m.created_at),
            m.created_at,
            ''::text, ''::text, ''::text, ''::text, 0::int8, ''::text, NULL::timestamptz
     FROM messages m
     JOIN numbers n ON n.id = m.number_id
     WHERE m.workspace_id = $1
       AND (m.change_xid, m.id) > ($2::xid8, $3::int8)
       AND m.change_xid < (SELECT h FROM horizon)
     ORDER BY m.change_xid, m.id
     LIMIT $4)
    UNION ALL
    (SELECT r.change_xid, 1, r.id, 0::int8, ''::text, coalesce(n.e164, ''), ''::text, ''::text, ''::text,
            0::int2, r.status, 0, coalesce(r.closed_at, r.created_at), r.created_at,
            r.country, coalesce(r.area_code, ''), r.note, r.status, coalesce(r.number_id, 0),
            coalesce(r.decline_reason, ''), r.closed_at
     FROM number_requests r
     LEFT JOIN numbers n ON n.id = r.number_id
     WHERE r.workspace_id = $1
       AND (r.change_xid, r.id) > ($2::xid8, $6::int8)
       AND r.change_xid < (SELECT h FROM horizon)
     ORDER BY r.change_xid, r.id
     LIMIT $4)
) x
ORDER BY 1, 2, 3
LIMIT $4
`

var cursorSQL = fmt.Sprintf(horizonCTE, 1) + `SELECT h FROM horizon`
