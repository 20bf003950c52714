package inbox

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Change is one entry of a workspace's change feed: a message as it is
// after it was created (inbound or outbound) or its status changed, a
// number request as it is after it was created or its status changed, or a
// quota event (a segment cap's threshold reached, see SetQuota). An object
// changed several times between two reads appears once, as it is now.
type Change struct {
	// Cursor names this change: Changes(after: Cursor) returns what came
	// after it. It is opaque, like page cursors.
	Cursor string
	Kind   ChangeKind
	// Request is the number request (Kind ChangeRequest); the message
	// fields below are then zero.
	Request *NumberRequest
	// Quota is the quota event (Kind ChangeQuota); the message fields
	// below are then zero.
	Quota *QuotaEvent

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

	// Memo is shared by the readers a Feed gave this change (nil from
	// Store.Changes): what they build from it is built once.
	Memo *Memo
}

// ChangeKind says what a change is about.
type ChangeKind int

// Change kinds. Within one writing transaction, message changes come
// before request changes, and those before quota events.
const (
	ChangeMessage ChangeKind = iota // a message (the fields of Change)
	ChangeRequest                   // a number request (Change.Request)
	ChangeQuota                     // a quota threshold reached (Change.Quota)

	// changeNone is changesSQL's marker row: the log page was full and
	// ended at the transaction in its last column.
	changeNone ChangeKind = -1
)

// DefaultChangesLimit is the page size of Changes when limit is 0.
const DefaultChangesLimit = 100

// Cursor kinds of the feed: after a message change ("c1:xid:message"),
// after a request change ("c1r:xid:request") and after a quota event
// ("c1q:xid:event"). ChangeCursor hands out c1.
const (
	changeCursorKind  = "c1"
	requestCursorKind = "c1r"
	quotaCursorKind   = "c1q"
	noMessageAfter    = int64(1<<63 - 1)
	noRequestAfter    = int64(0)
	noRequestAfterAll = int64(1<<63 - 1) // past every request of the transaction
	noQuotaAfter      = int64(0)
	noQuotaAfterAll   = int64(1<<63 - 1) // past every quota event of the transaction
)

// ChangeCursor returns a cursor at the end of the change feed as of now:
// Changes after it returns what changes from here on (and what
// transactions still running when it was taken commit later).
func (s *Store) ChangeCursor(ctx context.Context) (string, error) {
	var h uint64
	err := s.queryPlanned(ctx, activityFirst, cursorSQL, []any{micros(s.feedWait)}, func(rows pgx.Rows) error {
		return rows.Scan(&h)
	})
	if err != nil {
		return "", err
	}
	return encodeCursor(changeCursorKind, int64(h), 0), nil
}

// activityFirst opens the transaction of a read of the feed (see
// queryPlanned): its first statement reads the server's transactions
// (pg_stat_get_activity, which a transaction reads once and keeps), so that
// the horizon statement after it places every transaction of its snapshot
// that began before that read. Read after the snapshot, as one statement
// alone does, a transaction of another database that ended in between was
// in the snapshot but no longer in the list, could not be placed, and held
// that read back (CI saw single reads of the feed come back empty under
// load).
var activityFirst = []string{"BEGIN", "SELECT count(*) FROM pg_stat_get_activity(NULL)"}

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
// Cost on the write paths: the statements that change a status set
// change_xid in the same UPDATE (inserts take it from the column default),
// and a statement-level trigger writes one message_changes row per
// statement and workspace, listing the ids it changed (migration 0008); no
// index of messages is written for the feed, so a status update that
// changes no indexed column is HOT. A read is a range of message_changes
// (whole transactions, at most limit rows of it), the listed messages by
// primary key, keeping each message at its latest change only, and a range
// of number_requests_changes (a small table), in a transaction whose first
// statement reads pg_stat_get_activity (activityFirst). Log rows older than the feed's
// retention are deleted by PruneChanges.
func (s *Store) Changes(ctx context.Context, ws WorkspaceID, after string, limit int) ([]Change, error) {
	// The feed's order is (change_xid, kind, id). A cursor after a message
	// (xid, m) is followed by the messages (xid, > m) and every request and
	// quota event of xid; one after a request (xid, r) by no message of xid,
	// the requests (xid, > r) and every quota event of xid; one after a
	// quota event (xid, q) by the quota events (xid, > q) only: each table
	// gets its own row comparison, which its index answers.
	k, err := parseFeedKey(after)
	if err != nil {
		return nil, err
	}
	xid, msgAfter, reqAfter, quotaAfter := k.xid, int64(noMessageAfter), int64(noRequestAfterAll), k.id
	switch k.kind {
	case ChangeMessage:
		msgAfter, reqAfter, quotaAfter = k.id, noRequestAfter, noQuotaAfter
	case ChangeRequest:
		reqAfter, quotaAfter = k.id, noQuotaAfter
	}
	limit = changesLimit(limit)
	for {
		cs, skipTo, err := s.changesPage(ctx, ws, xid, msgAfter, reqAfter, quotaAfter, limit)
		if err != nil || len(cs) > 0 || skipTo == 0 {
			return cs, err
		}
		// A whole page of the log listed only messages changed again
		// since (shown at their later entry): read on past it.
		xid, msgAfter, reqAfter, quotaAfter = skipTo, noMessageAfter, noRequestAfterAll, noQuotaAfterAll
	}
}

// changesLimit is the page size Changes reads for limit.
func changesLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultChangesLimit
	case limit > MaxPageSize:
		return MaxPageSize
	}
	return limit
}

// feedKey is a position in the feed's order, (change_xid, kind, id): a
// change's own position, or a cursor's (the change it names; ""
// is before every change). The feed after a cursor is the changes whose key
// is greater than the cursor's.
type feedKey struct {
	xid  int64
	kind ChangeKind
	id   int64
}

// parseFeedKey decodes a cursor of the feed ("" for its start).
func parseFeedKey(cursor string) (feedKey, error) {
	if cursor == "" {
		return feedKey{}, nil
	}
	k := feedKey{kind: ChangeMessage}
	f, err := decodeCursor(cursor, changeCursorKind, 2)
	if err != nil {
		k.kind = ChangeRequest
		if f, err = decodeCursor(cursor, requestCursorKind, 2); err != nil {
			k.kind = ChangeQuota
			if f, err = decodeCursor(cursor, quotaCursorKind, 2); err != nil {
				return feedKey{}, err
			}
		}
	}
	k.xid, k.id = f[0], f[1]
	if k.xid < 0 || k.id < 0 {
		return feedKey{}, ErrInvalidCursor
	}
	return k, nil
}

// compare compares two positions in feed order.
func (k feedKey) compare(o feedKey) int {
	if c := cmp.Compare(k.xid, o.xid); c != 0 {
		return c
	}
	if c := cmp.Compare(k.kind, o.kind); c != 0 {
		return c
	}
	return cmp.Compare(k.id, o.id)
}

// changesPage reads one page of the feed after (xid, msgAfter, reqAfter,
// quotaAfter).
// When it read a whole page of the log (limit rows) and found no change to
// return in it, skipTo is the page's last transaction, past which the next
// page starts; it is 0 otherwise.
func (s *Store) changesPage(ctx context.Context, ws WorkspaceID, xid, msgAfter, reqAfter, quotaAfter int64, limit int) (cs []Change, skipTo int64, err error) {
	var bound uint64
	err = s.queryPlanned(ctx, activityFirst, changesSQL, []any{ws, uint64(xid), msgAfter, limit, micros(s.feedWait), reqAfter, quotaAfter}, func(r pgx.Rows) error {
		c, err := scanChange(r, ws, &bound)
		cs = append(cs, c)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	out := cs[:0]
	for _, c := range cs {
		if c.Kind != changeNone {
			out = append(out, c)
		}
	}
	if len(out) == 0 && bound != 0 {
		return nil, int64(bound), nil
	}
	return out, 0, nil
}

// scanChange reads one row of changesSQL: a change, or the marker row
// (kind changeNone), whose transaction goes to *bound.
func scanChange(r pgx.Rows, ws WorkspaceID, bound *uint64) (Change, error) {
	var (
		c              Change
		cx             uint64
		id             int64
		local, contact string
		segs           int16
		q              NumberRequest
		closed         *time.Time
		mark           uint64
		qe             QuotaEvent
		qPeriod        string
	)
	err := r.Scan(&cx, &c.Kind, &id, &c.Thread, &c.Direction, &local, &contact, &c.Body, &c.Encoding, &segs,
		&c.Status, &c.CarrierError, &c.At, &c.CreatedAt,
		&q.Country, &q.AreaCode, &q.Note, &q.Status, &q.NumberID, &q.DeclineReason, &closed, &mark,
		&qPeriod, &qe.Start, &qe.Threshold, &qe.Limit, &qe.Used, &qe.ResetsAt)
	if err != nil {
		return c, err
	}
	if c.Kind == changeNone {
		*bound = mark
		return c, nil
	}
	if c.Kind == ChangeQuota {
		qe.ID, qe.Period, qe.At, qe.Start = id, QuotaPeriod(qPeriod), c.At, utcDay(qe.Start)
		return Change{Cursor: encodeCursor(quotaCursorKind, int64(cx), id), Kind: ChangeQuota, Quota: &qe, At: c.At}, nil
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
}

// horizonCTE computes the feed's horizon (see Changes): the oldest
// transaction of the snapshot still running, skipping those of other
// databases (they cannot write here), the usage fold's (it writes no
// message and no request; skipped so that a fold of many messages does not
// hold the feed back) and those of this database running for longer than
// the wait limit ($1 in ChangeCursor, $5 in Changes, µs).
// A transaction whose start time cannot be read (another user's, without
// pg_read_all_stats) is waited for: a skip is made only when it is certain.
// The statement runs after a read of pg_stat_get_activity in the same
// transaction (activityFirst), whose list it then sees.
const horizonCTE = `
WITH snap AS MATERIALIZED (
    SELECT pg_current_snapshot() AS s
),
skip AS MATERIALIZED (
    SELECT a.backend_xid FROM pg_stat_get_activity(NULL) a
    WHERE a.backend_xid IS NOT NULL
      AND (a.datid IS DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database())
           OR a.xact_start < now() - $%d::int8 * interval '1 microsecond'
           OR a.application_name = '` + usageFoldApp + `')
),
horizon AS MATERIALIZED (
    SELECT coalesce(min(x), (SELECT pg_snapshot_xmax(s) FROM snap)) AS h
    FROM snap, pg_snapshot_xip(snap.s) x
    WHERE x::xid NOT IN (SELECT backend_xid FROM skip)
)
`

// changesSQL: a page of the workspace's log (message_changes) after the
// cursor's transaction, at most $4 rows, extended to whole transactions
// (a transaction's ids may be spread over several rows, and the cursor
// orders ids within a transaction) and bounded by the horizon; the ids it
// lists whose message still has that change as its latest (change_xid),
// by primary key; and ranges of number_requests_changes (after $6 within
// the cursor's transaction) and quota_events_changes (after $7) up to the
// same bound, merged in feed order. Rows have the columns of every kind
// (the other kinds' are empty); for a request, the number is its dedicated
// number's E.164, the status its status, "at" when it reached it; a quota
// event has columns of its own (the last six). When the
// log page was full, a marker row (kind -1) after the page gives its last
// transaction, so that a page whose every id was superseded can be read
// past (see Changes).
var changesSQL = fmt.Sprintf(horizonCTE, 5) + `,
page AS MATERIALIZED (
    SELECT l.change_xid FROM message_changes l
    WHERE l.workspace_id = $1 AND l.change_xid >= $2::xid8 AND l.change_xid < (SELECT h FROM horizon)
      -- a cursor past every message of its transaction starts after it
      AND (l.change_xid > $2::xid8 OR $3::int8 < 9223372036854775807)
    ORDER BY l.change_xid
    LIMIT $4
),
-- full_to: the page's last transaction when the page is full; b: how far
-- this read goes (full_to, else the horizon).
bound AS MATERIALIZED (
    SELECT full_to, coalesce(full_to, (SELECT h FROM horizon)) AS b
    FROM (SELECT CASE WHEN count(*) = $4 THEN max(change_xid) END AS full_to FROM page) p
),
logged AS MATERIALIZED (
    SELECT DISTINCT l.change_xid, u.id
    FROM message_changes l, unnest(l.ids) AS u(id)
    WHERE l.workspace_id = $1 AND l.change_xid >= $2::xid8
      AND l.change_xid < (SELECT h FROM horizon)
      AND l.change_xid <= (SELECT b FROM bound)
      AND (l.change_xid, u.id) > ($2::xid8, $3::int8)
    ORDER BY 1, 2
),
-- The first $4 ids, in feed order, whose message still has this change as
-- its latest: probed one by one (a scalar subquery, never turned into a
-- join that could reorder them) in the order materialized above, stopping
-- at $4 (a transaction of a 1,000-message batch is not read whole for a
-- page of 100).
live AS MATERIALIZED (
    SELECT c.change_xid, c.id FROM logged c
    WHERE (SELECT m.change_xid FROM messages m WHERE m.id = c.id AND m.workspace_id = $1) = c.change_xid
    LIMIT $4
)
SELECT * FROM (
    SELECT * FROM (
        (SELECT m.change_xid, 0 AS kind, m.id, m.thread_id, m.direction, n.e164, m.contact, m.body, m.encoding,
                m.segments, m.status, coalesce(m.carrier_error, 0),
                coalesce(CASE m.status
                    WHEN 'queued' THEN m.queued_at WHEN 'sending' THEN m.sending_at
                    WHEN 'submitted' THEN m.submitted_at WHEN 'delivered' THEN m.delivered_at
                    WHEN 'failed' THEN m.failed_at WHEN 'expired' THEN m.expired_at
                    WHEN 'rejected' THEN m.rejected_at WHEN 'received' THEN m.received_at
                    WHEN 'canceled' THEN m.canceled_at END, m.created_at),
                m.created_at,
                ''::text, ''::text, ''::text, ''::text, 0::int8, ''::text, NULL::timestamptz, '0'::xid8,
                ''::text, 'epoch'::date, 0::int2, 0::int8, 0::int8, 'epoch'::timestamptz
         FROM live c
         JOIN messages m ON m.id = c.id
         JOIN numbers n ON n.id = m.number_id
         ORDER BY c.change_xid, c.id
         LIMIT $4)
        UNION ALL
        (SELECT r.change_xid, 1, r.id, 0::int8, ''::text, coalesce(n.e164, ''), ''::text, ''::text, ''::text,
                0::int2, r.status, 0, coalesce(r.closed_at, r.created_at), r.created_at,
                r.country, coalesce(r.area_code, ''), r.note, r.status, coalesce(r.number_id, 0),
                coalesce(r.decline_reason, ''), r.closed_at, '0'::xid8,
                ''::text, 'epoch'::date, 0::int2, 0::int8, 0::int8, 'epoch'::timestamptz
         FROM number_requests r
         LEFT JOIN numbers n ON n.id = r.number_id
         WHERE r.workspace_id = $1
           AND (r.change_xid, r.id) > ($2::xid8, $6::int8)
           AND r.change_xid < (SELECT h FROM horizon)
           AND r.change_xid <= (SELECT b FROM bound)
         ORDER BY r.change_xid, r.id
         LIMIT $4)
        UNION ALL
        (SELECT e.change_xid, 2, e.id, 0::int8, ''::text, ''::text, ''::text, ''::text, ''::text,
                0::int2, ''::text, 0, e.at, e.at,
                ''::text, ''::text, ''::text, ''::text, 0::int8, ''::text, NULL::timestamptz, '0'::xid8,
                e.period, e.period_start, e.threshold, e.cap, e.used, e.resets_at
         FROM quota_events e
         WHERE e.workspace_id = $1
           AND (e.change_xid, e.id) > ($2::xid8, $7::int8)
           AND e.change_xid < (SELECT h FROM horizon)
           AND e.change_xid <= (SELECT b FROM bound)
         ORDER BY e.change_xid, e.id
         LIMIT $4)
    ) x
    ORDER BY 1, 2, 3
    LIMIT $4
) y
UNION ALL
SELECT full_to, -1, 0, 0, '', '', '', '', '', 0::int2, '', 0, now(), now(), '', '', '', '', 0, '', NULL, full_to,
       '', 'epoch'::date, 0::int2, 0, 0, 'epoch'::timestamptz
FROM bound WHERE full_to IS NOT NULL
`

var cursorSQL = fmt.Sprintf(horizonCTE, 1) + `SELECT h FROM horizon`

// PruneChanges deletes the rows of the change log written more than
// olderThan ago and returns how many. A reader whose cursor is older than
// that no longer sees those changes (the messages themselves stay); the
// engine keeps a week. Rows the usage fold has not read yet (FoldUsage)
// are kept whatever their age. The log is appended in time order, so this reads a
// few pages of its BRIN index and deletes whole pages. Quota events older
// than olderThan go too once their period has ended (until then they keep
// a threshold from firing twice in the period); there are a few per
// workspace and day at most.
func (s *Store) PruneChanges(ctx context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, invalid("prune changes needs a positive age")
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM message_changes
		WHERE at < now() - $1::int8 * interval '1 microsecond' AND change_xid < (SELECT horizon FROM usage_fold)`, micros(olderThan))
	if err != nil {
		return 0, err
	}
	q, err := s.pool.Exec(ctx, `DELETE FROM quota_events
		WHERE at < now() - $1::int8 * interval '1 microsecond' AND resets_at < now()`, micros(olderThan))
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected() + q.RowsAffected(), nil
}
