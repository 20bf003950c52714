package inbox

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutboundRequest is one message a workspace asks to send.
type OutboundRequest struct {
	Workspace WorkspaceID
	// From is the E.164 of one of the workspace's connected numbers, or ""
	// for the workspace's own choice: the number already used with this
	// contact (sticky sender), else the least loaded enabled number.
	From string
	To   string // the recipient, E.164 (formatting characters accepted)
	Body string
	// Encoding and Segments come from the caller's segmentation (the API,
	// using smpp/coding); the inbox stores them and enforces MaxSegments.
	Encoding string
	Segments int
	// IdempotencyKey, when set, makes the request idempotent within the
	// workspace: a request whose key was accepted before returns the first
	// message (Duplicate set) instead of queueing another.
	IdempotencyKey string
	// SendAt, when in the future, schedules the message: it is stored as
	// scheduled and enters the queue at SendAt (ReleaseScheduled), at most
	// MaxScheduleAhead from now. Zero or a time already past sends at once.
	SendAt time.Time
	// Validity, when set (MinValidity to MaxValidity), is how long after
	// its send time the message may still go out: not submitted by then it
	// expires, and the carrier is told to drop it then (validity_period).
	// Zero keeps the configured message TTL.
	Validity time.Duration
	// OptOutExempt sends the message even to a contact who opted out. It
	// is for the inbox's own keyword replies (the confirmation of an
	// opt-out goes to the contact who has just opted out); the API never
	// sets it.
	OptOutExempt bool
}

// Limits of OutboundRequest.SendAt and Validity.
const (
	MaxScheduleAhead = 35 * 24 * time.Hour
	MinValidity      = time.Minute
	MaxValidity      = 10 * time.Hour
)

// EnqueueResult is the outcome of one OutboundRequest.
type EnqueueResult struct {
	ID        MessageID
	Thread    ThreadID
	From      string // the local number it is sent from, E.164
	To        string // the recipient, E.164 (set when queued, not for a duplicate)
	Duplicate bool   // the idempotency key matched an earlier message, which ID names
	// Scheduled says the message was stored as scheduled (SendAt in the
	// future), not queued; not set for a duplicate.
	Scheduled bool
	Err       error // a refusal (*Error); nothing was queued
}

const maxIdempotencyKey = 255

// Enqueue validates and queues outbound messages, durably: when it returns,
// every item without Err is committed as queued. Items are independent: a
// refused item does not affect the others. Per item, in this order:
// ErrNotFound (no such workspace), an earlier message with the same
// idempotency key (returned as a duplicate, whatever has changed since),
// ErrSMSAddonRequired, ErrInvalidArgument (empty body or encoding, bad
// segment count, SendAt more than MaxScheduleAhead ahead, Validity out of
// range), ErrInvalidRecipient, ErrMessageTooLong,
// ErrNoNumberConnected (none connected, or From is not one of them),
// ErrNumberDisabled, ErrRecipientOptedOut, and last a *QuotaExceededError
// (ErrQuotaExceeded) for an item that would take its workspace past a
// segment cap (see SetQuota: the workspace's items of a call are counted in
// order, and the count is exact across concurrent calls and processes).
// Messages of one batch to one thread are queued (and later sent) in slice
// order. One round trip; the error return is for database failures, in
// which case nothing was queued.
func (s *Store) Enqueue(ctx context.Context, reqs []OutboundRequest) ([]EnqueueResult, error) {
	res := make([]EnqueueResult, len(reqs))
	if len(reqs) == 0 {
		return res, nil
	}
	now := time.Now()
	b := newEnqueueBatch(reqs, now)
	lost, err := s.insertBatch(ctx, reqs, b, res, now)
	if err != nil {
		return nil, err
	}
	if err := s.reportLostRaces(ctx, reqs, res, lost); err != nil {
		return nil, err
	}
	for i, j := range b.sameAs {
		res[i] = res[j]
		if res[i].Err == nil {
			res[i].Duplicate, res[i].To = true, ""
		}
	}
	addQuotaUse(reqs, res)
	return res, nil
}

// enqueueBatch is a call's items as the Enqueue statements' parameter
// arrays, one element an item in call order (items repeating an earlier
// item's idempotency key left out), and what Enqueue needs of them after
// the statement.
type enqueueBatch struct {
	ord    []int32  // the item's index in the call
	ws     []int64  // workspace
	from   []string // From, normalised; "" for any of the workspace's numbers
	to     []string // recipient in E.164; "" when invalid
	body   []string
	enc    []string
	segs   []int16
	idem   []string // idempotency key, "" for none
	local  []string // the refusal found without the database (a Code), "" for none
	sendAt []*time.Time
	valid  []int64 // validity in µs, 0 for the default
	exempt []bool  // OptOutExempt

	sameAs map[int]int // item → earlier item with the same workspace and key
	toOf   []string    // item → its recipient in E.164
}

// newEnqueueBatch checks what each item can be refused for without the
// database and lays the call out as parameter arrays.
func newEnqueueBatch(reqs []OutboundRequest, now time.Time) *enqueueBatch {
	n := len(reqs)
	b := &enqueueBatch{
		ord: make([]int32, 0, n), ws: make([]int64, 0, n), from: make([]string, 0, n),
		to: make([]string, 0, n), body: make([]string, 0, n), enc: make([]string, 0, n),
		segs: make([]int16, 0, n), idem: make([]string, 0, n), local: make([]string, 0, n),
		sendAt: make([]*time.Time, 0, n), valid: make([]int64, 0, n), exempt: make([]bool, 0, n),
		sameAs: map[int]int{}, toOf: make([]string, n),
	}
	keys := map[idemKey]int{}
	for i, r := range reqs {
		if r.IdempotencyKey != "" {
			k := idemKey{r.Workspace, r.IdempotencyKey}
			if j, ok := keys[k]; ok {
				b.sameAs[i] = j
				continue
			}
			keys[k] = i
		}
		contact, lerr := checkItem(r, now)
		fromN := ""
		if r.From != "" {
			fromN = normalizeAddress(r.From)
		}
		if r.Segments > MaxSegments || r.Segments < 0 {
			r.Segments = 0 // keep the smallint parameter in range
		}
		var at *time.Time
		if r.SendAt.After(now) {
			t := r.SendAt
			at = &t
		}
		b.ord = append(b.ord, int32(i))
		b.ws = append(b.ws, int64(r.Workspace))
		b.from = append(b.from, fromN)
		b.to = append(b.to, contact)
		b.toOf[i] = contact
		b.body = append(b.body, r.Body)
		b.enc = append(b.enc, strings.TrimSpace(r.Encoding))
		b.segs = append(b.segs, int16(r.Segments))
		b.idem = append(b.idem, r.IdempotencyKey)
		b.local = append(b.local, string(lerr))
		b.sendAt = append(b.sendAt, at)
		b.valid = append(b.valid, micros(r.Validity))
		b.exempt = append(b.exempt, r.OptOutExempt)
	}
	return b
}

// checkItem answers an item's recipient in E.164 ("" when it has none)
// and the first refusal Enqueue can decide without the database, "" for
// none: a bad field (CodeInvalidArgument), the recipient
// (CodeInvalidRecipient), the length (CodeMessageTooLong).
func checkItem(r OutboundRequest, now time.Time) (contact string, refusal Code) {
	contact, ok := NormalizeE164(r.To)
	switch {
	case r.Body == "" || strings.TrimSpace(r.Encoding) == "" || r.Segments < 1 ||
		len(r.IdempotencyKey) > maxIdempotencyKey ||
		r.SendAt.After(now.Add(MaxScheduleAhead)) ||
		(r.Validity != 0 && (r.Validity < MinValidity || r.Validity > MaxValidity)):
		return contact, CodeInvalidArgument
	case !ok:
		return "", CodeInvalidRecipient
	case r.Segments > MaxSegments:
		return contact, CodeMessageTooLong
	}
	return contact, ""
}

// insertBatch runs the batch's statement and fills res for every item it
// holds. It runs the plain statement first, unless a workspace of the call
// is known to have a cap; if that finds one after all, it inserts nothing
// and the quota statement runs instead. It answers the accepted items whose
// idempotency key a concurrent call inserted first (reportLostRaces).
func (s *Store) insertBatch(ctx context.Context, reqs []OutboundRequest, b *enqueueBatch, res []EnqueueResult, now time.Time) (lost []int, err error) {
	sql := enqueuePlainSQL
	args := []any{b.ord, b.ws, b.from, b.to, b.body, b.enc, b.segs, b.idem, b.local, b.sendAt, b.valid, b.exempt}
	if s.capped.any(reqs, now) {
		sql, args = enqueueQuotaSQL, append(args, s.quotaClock())
	}
	for {
		var bounced []WorkspaceID
		err := retry(ctx, func() error {
			lost, bounced = lost[:0], bounced[:0]
			return s.queryPlanned(ctx, planFor(len(b.ord)), sql, args, func(rows pgx.Rows) error {
				i, capped, accepted, err := scanEnqueued(rows, reqs, b.toOf, res)
				switch {
				case err != nil:
					return err
				case capped:
					bounced = append(bounced, reqs[i].Workspace)
				case accepted:
					lost = append(lost, i)
				}
				return nil
			})
		})
		if err != nil {
			return nil, err
		}
		if len(bounced) == 0 {
			return lost, nil
		}
		s.capped.add(bounced, time.Now())
		sql, args = enqueueQuotaSQL, append(args, s.quotaClock())
	}
}

// scanEnqueued reads one row of an Enqueue statement into res and answers
// its item, whether the plain statement bounced it (codeCapped: its
// workspace has a cap), and whether it was accepted but not inserted (a
// concurrent call inserted its idempotency key first).
func scanEnqueued(rows pgx.Rows, reqs []OutboundRequest, toOf []string, res []EnqueueResult) (item int, capped, lostRace bool, err error) {
	var (
		i                int32
		code, from, over string
		id, th           int64
		inserted, sched  bool
		limit, used      int64
		resets           *time.Time
	)
	if err := rows.Scan(&i, &code, &id, &th, &inserted, &from, &sched, &over, &limit, &used, &resets); err != nil {
		return 0, false, false, err
	}
	r := &res[i]
	*r = EnqueueResult{ID: MessageID(id), Thread: ThreadID(th), From: from, To: toOf[i], Scheduled: sched && inserted}
	switch {
	case code == codeCapped:
		return int(i), true, false, nil
	case code == "duplicate":
		r.Duplicate, r.To = true, ""
	case code == string(CodeQuotaExceeded):
		// Used is the count before the call here; the call's own
		// inserts are added by addQuotaUse.
		*r = EnqueueResult{Err: &QuotaExceededError{Period: QuotaPeriod(over), Limit: limit, Used: used,
			Segments: reqs[i].Segments, ResetsAt: timeOrZero(resets)}}
	case code != "":
		*r = EnqueueResult{Err: refusal(code)}
	case !inserted:
		return int(i), false, true, nil
	}
	return int(i), false, false, nil
}

// reportLostRaces answers each item of lost, whose idempotency key a
// concurrent Enqueue committed between this call's snapshot and its insert,
// with that call's message, as the duplicate it is.
func (s *Store) reportLostRaces(ctx context.Context, reqs []OutboundRequest, res []EnqueueResult, lost []int) error {
	for _, i := range lost {
		r := &res[i]
		err := s.pool.QueryRow(ctx, `SELECT m.id, m.thread_id, n.e164 FROM messages m
			JOIN numbers n ON n.id = m.number_id
			WHERE m.workspace_id = $1 AND m.idempotency_key = $2`, reqs[i].Workspace, reqs[i].IdempotencyKey).
			Scan(&r.ID, &r.Thread, &r.From)
		if err != nil {
			return err
		}
		r.Duplicate, r.To = true, ""
	}
	return nil
}

// addQuotaUse completes the Used of each QuotaExceededError of a call with
// the segments the call queued for its workspace: Used is then the
// period's count once the call was stored, what the counter row holds.
func addQuotaUse(reqs []OutboundRequest, res []EnqueueResult) {
	var added map[WorkspaceID]int64
	done := map[*QuotaExceededError]bool{} // a repeated key shares its item's error
	for i := range res {
		var q *QuotaExceededError
		if !errors.As(res[i].Err, &q) || done[q] {
			continue
		}
		done[q] = true
		if added == nil {
			added = map[WorkspaceID]int64{}
			for k, r := range res {
				if r.Err == nil && !r.Duplicate {
					added[reqs[k].Workspace] += int64(reqs[k].Segments)
				}
			}
		}
		q.Used += added[reqs[i].Workspace]
	}
}

// codeCapped is enqueuePlainSQL's answer for an item of a workspace that
// has a cap: nothing was inserted, run enqueueQuotaSQL.
const codeCapped = "capped"

// cappedMemory is how long a Store remembers that a workspace has a cap:
// its calls go straight to the quota statement meanwhile. A cap removed is
// noticed when the memory ends (until then its calls cost a little more);
// a cap set is noticed at once (the plain statement checks).
const cappedMemory = time.Minute

// cappedSet is the workspaces a Store has recently seen with a cap.
type cappedSet struct {
	mu    sync.Mutex
	until map[WorkspaceID]time.Time
}

// any reports whether a workspace of reqs is remembered as capped at now.
func (c *cappedSet) any(reqs []OutboundRequest, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.until) == 0 {
		return false
	}
	for _, r := range reqs {
		if t, ok := c.until[r.Workspace]; ok {
			if now.Before(t) {
				return true
			}
			delete(c.until, r.Workspace)
		}
	}
	return false
}

// add remembers workspaces as capped from now on, for cappedMemory.
func (c *cappedSet) add(ws []WorkspaceID, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.until == nil {
		c.until = map[WorkspaceID]time.Time{}
	}
	for _, w := range ws {
		c.until[w] = now.Add(cappedMemory)
	}
}

type idemKey struct {
	ws  WorkspaceID
	key string
}

// The Enqueue statements (enqueuePlainSQL, enqueueQuotaSQL) validate, pick
// the sender and insert a whole batch in one statement (one snapshot, one
// round trip).
//
// Sender choice per item (cand): the workspace's current connections,
// restricted to From when given; enabled ones first; then, only for a
// workspace with several enabled numbers, the one with a thread with this
// contact (sticky sender, most recent first), then the least loaded, spread
// by a hash of contact and number among equally loaded ones. Load is the
// number's pending messages counted up to 50, in buckets of 10: idle numbers
// are preferred to busy ones, and busy ones share new contacts evenly.
// (Counting a whole backlog costs O(backlog) per batch; perf showed an
// uncapped count as the top cost of Enqueue.) Load is counted only for the
// numbers of items that need it — an item with no sticky thread —, so a
// batch to known contacts counts nothing: counting 40 numbers' queues for
// every batch was two thirds of Enqueue's time in smppbench e2e
// (pg_stat_statements: 9.2 ms a batch of 31, 3.0 ms without).
//
// The lookups into big tables are LATERAL subqueries with LIMIT 1, which
// the planner cannot flatten into joins: each is an index probe per item
// whatever the statistics say (flattened, one became a merge join over the
// whole idempotency index once the table had grown).
//
// Message ids are drawn from the sequence in item order before the insert
// (ok), so messages of a batch to one thread are ordered as given. The
// thread upsert takes the thread row's lock and hands out the thread
// sequence numbers (out_seq) of the new messages: a new message is the
// thread's head, and claimable at once (due_at set: it enters the claim
// index), exactly when its place is the thread's out_next (the thread had no
// pending message before it), with no read of messages. The others get
// their due time when the message before them stops being pending.
//
// A scheduled item (send_at, $10, set: the caller passes it only when it is
// in the future) gets the thread (created if new) but no place in its line:
// no thread_seq, no out_seq, no due_at, so it holds back nothing until
// ReleaseScheduled queues it. expires_at is set only for a tenant's
// validity ($11, microseconds; 0 for none): send time + validity.
var (
	// enqueueQuotaSQL is the statement for a batch with a capped workspace.
	enqueueQuotaSQL = enqueueHead + enqueueQuota + enqueueOK(enqueueQuotaFilter) + enqueueInsert + ",\n" +
		enqueueQuotaCount + enqueueQuotaResult
	// enqueuePlainSQL is the statement for a batch without one: it checks
	// that with one probe of quota_usage per workspace and, if a workspace
	// of the batch has a cap after all, inserts nothing and answers
	// codeCapped for that workspace's items (Enqueue then runs
	// enqueueQuotaSQL).
	enqueuePlainSQL = enqueueHead + enqueueCapped + enqueueOK(enqueuePlainFilter) + enqueueInsert + "\n" + enqueuePlainResult
)

// enqueueHead is the statement's common start: the items (req), the
// workspaces' connections (conn), the sender candidates (pairs, load, cand)
// and each item's verdict.
const enqueueHead = `
WITH req AS (
    SELECT * FROM unnest($1::int4[], $2::int8[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::int2[], $8::text[], $9::text[], $10::timestamptz[], $11::int8[], $12::bool[])
        AS r(ord, ws, from_e164, contact, body, enc, segs, idem, local_err, send_at, validity, exempt)
),
conn AS MATERIALIZED (
    SELECT c.workspace_id, c.number_id, c.enabled, n.e164,
           count(*) FILTER (WHERE c.enabled) OVER (PARTITION BY c.workspace_id) AS n_enabled
    FROM number_connections c
    JOIN numbers n ON n.id = c.number_id
    WHERE c.disconnected_at IS NULL
      AND c.workspace_id IN (SELECT DISTINCT ws FROM req)
),
pairs AS MATERIALIZED (
    SELECT r.ord, r.contact, c.number_id, c.enabled, c.e164, st.last_message_at,
           c.enabled AND c.n_enabled > 1 AND r.from_e164 = '' AS choice
    FROM req r
    JOIN conn c ON c.workspace_id = r.ws AND (r.from_e164 = '' OR c.e164 = r.from_e164)
    LEFT JOIN LATERAL (
        SELECT t.last_message_at FROM threads t
        WHERE c.n_enabled > 1 AND c.enabled AND r.from_e164 = ''
          AND t.workspace_id = r.ws AND t.channel = 'sms'
          AND t.number_id = c.number_id AND t.contact = r.contact
        LIMIT 1
    ) st ON true
),
load AS MATERIALIZED (
    SELECT c.number_id,
           (SELECT count(*) FROM (
                SELECT 1 FROM messages m
                WHERE m.number_id = c.number_id AND m.pending_since IS NOT NULL
                LIMIT 50) x) AS n
    FROM (SELECT DISTINCT p.number_id FROM pairs p
          WHERE p.choice
            AND NOT EXISTS (SELECT 1 FROM pairs q WHERE q.ord = p.ord AND q.last_message_at IS NOT NULL)) c
),
cand AS (
    SELECT DISTINCT ON (p.ord) p.ord, p.number_id, p.enabled, p.e164
    FROM pairs p
    LEFT JOIN load l ON l.number_id = p.number_id
    ORDER BY p.ord, p.enabled DESC, p.last_message_at DESC NULLS LAST,
             coalesce(l.n, 0) / 10, hashtext(p.contact || '/' || p.number_id), p.number_id
),
verdict AS MATERIALIZED (
    SELECT r.*, cand.number_id, cand.e164 AS sender, d.id AS dup_id, d.thread_id AS dup_thread, d.e164 AS dup_from,
        CASE
            WHEN w.id IS NULL THEN 'not_found'
            WHEN d.id IS NOT NULL THEN 'duplicate'
            WHEN NOT w.sms_addon THEN 'sms_addon_required'
            WHEN r.local_err <> '' THEN r.local_err
            WHEN cand.number_id IS NULL THEN 'no_number_connected'
            WHEN NOT cand.enabled THEN 'number_disabled'
            WHEN coalesce(o.opted_out, false) THEN 'recipient_opted_out'
            ELSE ''
        END AS refusal
    FROM req r
    LEFT JOIN workspaces w ON w.id = r.ws
    LEFT JOIN cand ON cand.ord = r.ord
    LEFT JOIN LATERAL (
        SELECT d.id, d.thread_id, (SELECT n.e164 FROM numbers n WHERE n.id = d.number_id) AS e164
        FROM messages d
        WHERE r.idem <> '' AND d.workspace_id = r.ws AND d.idempotency_key = r.idem
        LIMIT 1
    ) d ON true
    LEFT JOIN LATERAL (
        SELECT o.opted_out FROM contacts o
        WHERE NOT r.exempt AND o.workspace_id = r.ws AND o.contact = r.contact
        LIMIT 1
    ) o ON true
),
`

// enqueueQuota locks and checks the counters of the batch's capped
// workspaces (enqueueQuotaSQL).
const enqueueQuota = `-- Segment quotas (quota.go): the counters of the batch's workspaces that
-- have a cap (the others have no row: nothing is locked or written for
-- them), locked in workspace order before any thread, each read at its
-- latest committed value (under READ COMMITTED, FOR UPDATE waits for a
-- concurrent Enqueue holding the row and returns the row it committed),
-- with the periods current at $13 (NULL: now()) in the workspace's time
-- zone; a counter of an earlier period counts 0.
qcap AS MATERIALIZED (
    SELECT q.workspace_id AS ws, w.daily_segment_cap AS day_cap, w.monthly_segment_cap AS month_cap,
           p.day, p.month, p.day_end, p.month_end,
           CASE WHEN q.day = p.day THEN q.day_segments ELSE 0 END AS day_used,
           CASE WHEN q.month = p.month THEN q.month_segments ELSE 0 END AS month_used
    FROM quota_usage q
    JOIN workspaces w ON w.id = q.workspace_id
    CROSS JOIN LATERAL (SELECT coalesce($13::timestamptz, now()) AS at) qt` + quotaPeriods + `
    WHERE q.workspace_id IN (SELECT DISTINCT ws FROM req)
    ORDER BY q.workspace_id
    FOR UPDATE OF q
),
-- The cap each item otherwise accepted would cross ('' for none), counting
-- the workspace's items in order: once one does not fit, the later ones
-- do not either. Keyword replies (exempt) count but are never refused.
qv AS MATERIALIZED (
    SELECT s.ord, s.ws, q.day_cap, q.month_cap, q.day_used, q.month_used, q.day_end, q.month_end,
           CASE WHEN s.exempt THEN ''
                WHEN q.month_cap IS NOT NULL AND q.month_used + s.upto > q.month_cap THEN 'month'
                WHEN q.day_cap IS NOT NULL AND q.day_used + s.upto > q.day_cap THEN 'day'
                ELSE '' END AS over
    FROM (SELECT v.ord, v.ws, v.exempt, sum(v.segs) OVER (PARTITION BY v.ws ORDER BY v.ord) AS upto
          FROM verdict v
          WHERE v.refusal = '' AND v.ws IN (SELECT ws FROM qcap)) s
    JOIN qcap q ON q.ws = s.ws
),
-- The items refused for a quota, which ok leaves out. ok keeps one
-- equality as its filter: the planner's row estimate of ok, on which the
-- joins of th and ins are planned, stays as it was (a second qual made it
-- 1 row and turned those joins into 500 x 500 nested loops).
qno AS MATERIALIZED (
    SELECT coalesce(array_agg(ord), '{}') AS refused FROM qv WHERE over <> ''
),
`

// enqueueCapped lists the batch's workspaces that have a cap
// (enqueuePlainSQL): when there is one, the plain statement inserts
// nothing.
const enqueueCapped = `capped AS MATERIALIZED (
    SELECT coalesce(array_agg(q.workspace_id), '{}') AS ws
    FROM quota_usage q WHERE q.workspace_id IN (SELECT DISTINCT ws FROM req)
),
`

// The filters of ok: the items to insert. The plain one adds a condition
// on no row but on the capped CTE, which PostgreSQL evaluates once and
// leaves out of ok's row estimate (see ok).
const (
	enqueueQuotaFilter = "CASE WHEN ord = ANY ((SELECT refused FROM qno)::int4[]) THEN 'quota_exceeded' ELSE refusal END = ''"
	enqueuePlainFilter = "refusal = '' AND cardinality((SELECT ws FROM capped)) = 0"
)

// enqueueOK is the items to insert (those filter keeps), with their ids,
// in item order.
func enqueueOK(filter string) string {
	return `ok AS MATERIALIZED (
    SELECT x.*,
           row_number() OVER (PARTITION BY x.ws, x.number_id, x.contact, x.send_at IS NULL ORDER BY x.ord) AS k,
           count(*) OVER (PARTITION BY x.ws, x.number_id, x.contact, x.send_at IS NULL) AS n
    FROM (
        SELECT nextval('messages_id_seq') AS id, v.*
        FROM (SELECT * FROM verdict
              WHERE ` + filter + `
              ORDER BY ord) v
    ) x
),
`
}

// enqueueInsert upserts the threads and inserts the messages.
const enqueueInsert = `th AS (
    INSERT INTO threads AS t (workspace_id, channel, number_id, contact, last_message_at, last_outbound_at, out_seq)
    SELECT ws, 'sms', number_id, contact, now(), now(), count(*) FILTER (WHERE send_at IS NULL) FROM ok
    GROUP BY ws, number_id, contact
    ORDER BY ws, number_id, contact
    ON CONFLICT (workspace_id, channel, number_id, contact) DO UPDATE
        SET last_message_at = excluded.last_message_at, last_outbound_at = excluded.last_outbound_at,
            out_seq = t.out_seq + excluded.out_seq
    RETURNING t.id, t.workspace_id, t.number_id, t.contact, t.out_seq, t.out_next
),
ins AS (
    INSERT INTO messages (id, workspace_id, thread_id, thread_seq, number_id, contact, direction, body,
                          encoding, segments, status, idempotency_key, created_at, queued_at,
                          due_at, pending_since, send_at, expires_at)
    SELECT ok.id, ok.ws, th.id, CASE WHEN ok.send_at IS NULL THEN th.out_seq - ok.n + ok.k END,
           ok.number_id, ok.contact, 'out', ok.body, ok.enc, ok.segs,
           CASE WHEN ok.send_at IS NULL THEN 'queued' ELSE 'scheduled' END, nullif(ok.idem, ''), now(),
           CASE WHEN ok.send_at IS NULL THEN now() END,
           CASE WHEN ok.send_at IS NULL AND th.out_seq - ok.n + ok.k = th.out_next THEN now() END,
           CASE WHEN ok.send_at IS NULL THEN now() END, ok.send_at,
           CASE WHEN ok.validity > 0 THEN coalesce(ok.send_at, now()) + ok.validity * interval '1 microsecond' END
    FROM ok
    JOIN th ON th.workspace_id = ok.ws AND th.number_id = ok.number_id AND th.contact = ok.contact
    ON CONFLICT (workspace_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, thread_id
)`

// enqueueQuotaCount adds the inserted segments to the capped workspaces'
// counters and writes their threshold events (enqueueQuotaSQL).
const enqueueQuotaCount = `-- The capped workspaces' counts after the batch: what their inserted
-- messages added (an item that lost an idempotency race inserted
-- nothing), and whether a cap refused an item.
qadd AS MATERIALIZED (
    SELECT q.*, coalesce(a.segs, 0) AS added,
           coalesce(r.day_refused, false) AS day_refused, coalesce(r.month_refused, false) AS month_refused
    FROM qcap q
    LEFT JOIN (SELECT ok.ws, sum(ok.segs) AS segs FROM ok JOIN ins i ON i.id = ok.id GROUP BY ok.ws) a ON a.ws = q.ws
    LEFT JOIN (SELECT ws, bool_or(over = 'day') AS day_refused, bool_or(over = 'month') AS month_refused
               FROM qv GROUP BY ws) r ON r.ws = q.ws
),
-- One update per capped workspace that inserted something (the row locked
-- by qcap; a new period starts its count here).
qupd AS (
    UPDATE quota_usage u
    SET day = a.day, day_segments = a.day_used + a.added, month = a.month, month_segments = a.month_used + a.added
    FROM qadd a
    WHERE u.workspace_id = a.ws AND a.added > 0
),
-- quota.threshold: a count that crossed 80 % or 100 % of its cap in this
-- batch, or a cap that refused an item (100 %); once per period,
-- threshold and cap value (the unique key).
qev AS (
    INSERT INTO quota_events (workspace_id, period, period_start, threshold, cap, used, resets_at)
    SELECT a.ws, x.period, x.start, t.threshold, x.cap, x.used + a.added, x.resets
    FROM qadd a
    CROSS JOIN LATERAL (VALUES
        ('day', a.day, a.day_cap, a.day_used, a.day_end, a.day_refused),
        ('month', a.month, a.month_cap, a.month_used, a.month_end, a.month_refused)
    ) AS x(period, start, cap, used, resets, refused)
    CROSS JOIN (VALUES (80), (100)) AS t(threshold)
    WHERE x.cap IS NOT NULL
      AND ((x.used * 100 < x.cap * t.threshold AND (x.used + a.added) * 100 >= x.cap * t.threshold)
           OR (t.threshold = 100 AND x.refused))
    ON CONFLICT DO NOTHING
)
`

// enqueueQuotaResult is enqueueQuotaSQL's answer, a row per item.
const enqueueQuotaResult = `SELECT v.ord, CASE WHEN qv.over <> '' THEN 'quota_exceeded' ELSE v.refusal END,
       coalesce(i.id, v.dup_id, 0), coalesce(i.thread_id, v.dup_thread, 0), i.id IS NOT NULL,
       coalesce(CASE WHEN i.id IS NOT NULL THEN ok.sender END, v.dup_from, ''),
       ok.send_at IS NOT NULL,
       coalesce(qv.over, ''),
       coalesce(CASE qv.over WHEN 'day' THEN qv.day_cap WHEN 'month' THEN qv.month_cap END, 0),
       coalesce(CASE qv.over WHEN 'day' THEN qv.day_used WHEN 'month' THEN qv.month_used END, 0),
       CASE qv.over WHEN 'day' THEN qv.day_end WHEN 'month' THEN qv.month_end END
FROM verdict v
LEFT JOIN ok ON ok.ord = v.ord
LEFT JOIN ins i ON i.id = ok.id
LEFT JOIN qv ON qv.ord = v.ord
`

// enqueuePlainResult is enqueuePlainSQL's answer, a row per item, in the
// columns of enqueueQuotaResult.
const enqueuePlainResult = `
SELECT v.ord, CASE WHEN v.refusal = '' AND v.ws = ANY ((SELECT ws FROM capped)::int8[]) THEN '` + codeCapped + `' ELSE v.refusal END,
       coalesce(i.id, v.dup_id, 0), coalesce(i.thread_id, v.dup_thread, 0), i.id IS NOT NULL,
       coalesce(CASE WHEN i.id IS NOT NULL THEN ok.sender END, v.dup_from, ''),
       ok.send_at IS NOT NULL, '', 0::int8, 0::int8, NULL::timestamptz
FROM verdict v
LEFT JOIN ok ON ok.ord = v.ord
LEFT JOIN ins i ON i.id = ok.id
`
