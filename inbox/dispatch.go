package inbox

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClaimedMessage is a message leased to a dispatcher: everything it needs to
// submit the message. The lease runs until LeaseUntil; after that the message
// is claimable again by anyone, with Attempts one higher.
type ClaimedMessage struct {
	ID        MessageID
	Workspace WorkspaceID
	Thread    ThreadID
	From      string // the local number, E.164
	Carrier   string // the carrier of From
	RateClass string // the throttle class of From
	To        string // the contact, E.164
	Body      string
	Encoding  string
	Segments  int
	Attempts  int       // including this one
	CreatedAt time.Time // when the message was accepted
	// QueuedAt is when it entered the queue: its acceptance, or the
	// release of a scheduled message at its send time.
	QueuedAt   time.Time
	LeaseUntil time.Time
	// ExpiresAt is the tenant's validity deadline (zero when none was
	// given): the submit_sm carries it as validity_period, and it must not
	// be submitted after it.
	ExpiresAt time.Time
	// Parts is how many submit_sm the message goes out in, as recorded by
	// its first accepted submit (1 for a long message in one
	// message_payload); 0 while none was accepted: then it is Segments.
	Parts int
	// Submitted holds, per part index, whether an earlier attempt already
	// submitted it: a retry submits only the others.
	Submitted []bool
}

// Claim leases up to max claimable messages to owner for lease, oldest due
// first, and marks them sending. It never waits on rows another claimer
// holds (FOR UPDATE SKIP LOCKED), so concurrent claimers get disjoint sets.
//
// A message is claimable when it is queued and due (its not-before time has
// passed), or sending with an expired lease (its claimer is presumed dead),
// and before its deadline (its validity, else the message TTL from its send
// time), and its number is connected and enabled
// in its workspace, and it is the head of its thread.
//
// Order: the outbound messages of a thread are numbered as they are
// accepted (thread_seq, handed out under the thread row's lock), and the
// thread names its head, the oldest one still pending (threads.out_next).
// Only the head is claimable; it stays the head while claimed, in flight or
// requeued for later, and the thread moves to the next message only when the
// head is submitted, failed or expired. So message N+1 from a number to a
// contact never goes out before message N of the same thread. Ordering is
// per thread (workspace, number, contact): two workspaces sharing a number
// are independent senders, and one of them pausing its number must not hold
// the other's messages.
func (s *Store) Claim(ctx context.Context, owner string, max int, lease time.Duration) ([]ClaimedMessage, error) {
	return s.ClaimLimited(ctx, owner, max, lease, nil, 0)
}

// ClaimLimited is Claim taking at most perNumber messages of any one sender
// number (0: no limit) and none of the numbers in skip (E.164), so that a
// dispatcher keeps only a few seconds of each number's backlog and one
// number's long backlog never fills a claim that other numbers' messages
// are waiting for.
//
// Fairness across numbers: a claim walks the sender numbers that have
// claimable heads round robin, from where this Store's previous claim
// stopped, at most claimWalk(max, perNumber) numbers a claim, taking up to
// perNumber of each number's due heads (oldest due first) until it has
// max. So when the carrier account, not the numbers, is the bottleneck,
// every number with work is served in turn (10,000 backlogged numbers: each
// within a few claims' walks), instead of first in, first out across
// numbers. Cost: one index probe to find each number walked and one range
// of messages_ready per number (its due heads only: the messages behind a
// head are not in the index), whatever the backlog.
func (s *Store) ClaimLimited(ctx context.Context, owner string, max int, lease time.Duration, skip []string, perNumber int) ([]ClaimedMessage, error) {
	if owner == "" || max <= 0 || lease <= 0 || perNumber < 0 {
		return nil, invalid("claim needs an owner, a positive max and a positive lease")
	}
	if perNumber == 0 {
		perNumber = max
	}
	if skip == nil {
		skip = []string{}
	}
	// A claim whose every pick another claimer holds takes nothing, though
	// there may be due heads past them: two engine processes start their
	// cursors at the same number and pick the same heads, and the later one
	// skips them. It tries once more at once, from after the last number
	// it picked (TestClaimMovesPastHeldPicks).
	out, c, err := s.claimFrom(ctx, owner, max, lease, skip, perNumber)
	if err != nil || len(out) > 0 || c.skipped == 0 {
		return out, err
	}
	s.claimCursor.CompareAndSwap(c.next, c.lastPicked)
	out, _, err = s.claimFrom(ctx, owner, max, lease, skip, perNumber)
	return out, err
}

// claimEnd is what a claim statement says besides its messages: where the
// next claim starts, how many picked rows other claimers held, and the
// number of the last picked row.
type claimEnd struct {
	next, lastPicked int64
	skipped          int32
}

// claimFrom is one claim statement from the Store's claim cursor, which it
// moves on (unless another claim of the Store moved it meanwhile).
func (s *Store) claimFrom(ctx context.Context, owner string, max int, lease time.Duration, skip []string, perNumber int) ([]ClaimedMessage, claimEnd, error) {
	var (
		out []ClaimedMessage
		end claimEnd
	)
	from := s.claimCursor.Load()
	err := retry(ctx, func() error {
		out = out[:0]
		// One round trip: the claim in a transaction of its own whose
		// planner settings keep its scans plain index scans in claim
		// order (see claimPlan).
		return s.queryPlanned(ctx, claimPlan, claimSQL,
			[]any{owner, max, micros(lease), micros(s.ttl), skip, perNumber, claimWalk(max, perNumber), from},
			func(rows pgx.Rows) error {
				var (
					c           ClaimedMessage
					id          *int64
					segs, parts int16
					mask        int32
					exp         *time.Time
				)
				if err := rows.Scan(&end.next, &end.skipped, &end.lastPicked, &id, &c.Workspace, &c.Thread, &c.From, &c.Carrier, &c.RateClass, &c.To,
					&c.Body, &c.Encoding, &segs, &c.Attempts, &c.CreatedAt, &c.LeaseUntil, &mask, &parts, &exp, &c.QueuedAt); err != nil {
					return err
				}
				if id == nil {
					return nil // the cursor row of a claim that took nothing
				}
				c.ID = MessageID(*id)
				c.ExpiresAt = timeOrZero(exp)
				c.Segments, c.Parts = int(segs), int(parts)
				c.Submitted = make([]bool, c.Segments)
				for i := range c.Submitted {
					c.Submitted[i] = mask&(1<<i) != 0
				}
				out = append(out, c)
				return nil
			})
	})
	if err != nil {
		return nil, end, err
	}
	s.claimCursor.CompareAndSwap(from, end.next)
	slices.SortFunc(out, func(a, b ClaimedMessage) int { return int(a.ID - b.ID) })
	return out, end, nil
}

// claimPlan opens the claim's transaction with the settings that keep its
// scans of messages_ready plain index scans, in (number_id, due_at, id)
// order, stopping at their LIMITs. Left to itself the planner may estimate
// the head check as very selective and pick a bitmap scan and a sort, which
// reads every entry of the range — including those of the dead row
// versions that every claim and result leaves behind (an UPDATE that
// changes due_at is never HOT) — and never marks them dead, since only a
// plain index scan does. Seen in smppbench e2e with the earlier global
// index: 15,722 entries read to find 26 due messages, every 10 ms.
// jit = off: with seqscan "disabled" the estimated costs are huge and would
// make PostgreSQL JIT-compile the claim (half a second of CPU, measured).
var claimPlan = []string{"BEGIN", "SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_seqscan = off", "SET LOCAL jit = off"}

// claimWalk is how many sender numbers a claim of max messages, at most
// perNumber of each, walks at most: enough to fill it twice over when each
// number has perNumber due heads, and at least 64, so that numbers with
// one head each still fill a claim in one walk.
func claimWalk(want, perNumber int) int {
	return min(1000, max(64, 2*((want+perNumber-1)/perNumber)))
}

// claimSQL: $1 owner, $2 max, $3 lease and $4 TTL in microseconds, $5
// numbers to skip (E.164), $6 per number, $7 numbers to walk, $8 the
// number to start after (the previous claim's cursor).
//
//   - walk: the numbers with an entry in messages_ready, in number order
//     from after $8, wrapping around once to the lowest and stopping
//     before $8 is passed again or after $7 numbers (a loose index scan:
//     one probe per number). Its LATERAL subqueries end in OFFSET 0 so
//     that they are not flattened: flattened, the probe (a scalar
//     subquery) was copied into every expression naming p.after and run
//     four to eight times a step (280 entries read to claim 40 heads of
//     40 numbers, 83 now; TestClaimReadsOnlyWhatItTakes).
//   - scan: per walked number not skipped, up to $6 of its due heads in due
//     order (a range of messages_ready; the per-row check that the entry is
//     its thread's head is a primary-key probe of threads, and only matters
//     for entries written before migration 0013 and for the moment between
//     a head's result and its thread moving on).
//   - top: the first $2+1 rows of scan, in walk order; pick: the first $2
//     of them; nxt: where the next claim starts: before the number of the
//     row left out of pick, else after the last number walked. scan is not
//     materialized: the walk and each number's range are read through a
//     nested loop only until top has its rows, so a claim reads about what
//     it takes. (Materialized, it read $6 heads of every walked number
//     first: 720 index entries to claim 5, TestClaimReadsOnlyWhatItTakes,
//     and twice the claim's PostgreSQL CPU in BenchmarkClaimAndRecordSubmit.)
//   - c: the picked rows locked by primary key (one array, whatever the
//     planner guesses of its size), skipping rows other claimers hold and
//     checking again, on the locked row, that it is a due head (written
//     with coalesce so that it implies nothing about due_at: else the
//     planner reads messages_ready's whole due range and filters it by id).
//   - v, held: the candidates' connections checked once per batch (a hash
//     join); a candidate whose number is not connected and enabled (one
//     that became due while its number was being disabled) is put back on
//     hold, out of messages_ready, instead of being claimed.
//
// The result has one row per claimed message, each with the cursor, how
// many picked rows other claimers held (skipped), and the number of the
// last picked row; a claim that took nothing returns one row with those
// and NULLs.
const claimSQL = `
WITH RECURSIVE skipped AS MATERIALIZED (
    SELECT coalesce(array_agg(n.id), '{}') AS ids FROM numbers n WHERE n.e164 = ANY($5::text[])
),
walk (number_id, k, wrapped) AS (
    SELECT coalesce(f.after, f.lowest), 1, f.after IS NULL
    FROM (SELECT (SELECT m.number_id FROM messages m WHERE m.due_at IS NOT NULL AND m.number_id > $8::int8
                  ORDER BY m.number_id LIMIT 1) AS after,
                 (SELECT m.number_id FROM messages m WHERE m.due_at IS NOT NULL
                  ORDER BY m.number_id LIMIT 1) AS lowest) f
    UNION ALL
    SELECT x.number_id, w.k + 1, x.wrapped
    FROM walk w
    CROSS JOIN LATERAL (
        SELECT (SELECT m.number_id FROM messages m WHERE m.due_at IS NOT NULL AND m.number_id > w.number_id
                ORDER BY m.number_id LIMIT 1) AS after
        OFFSET 0
    ) p
    CROSS JOIN LATERAL (
        SELECT CASE WHEN p.after IS NULL AND NOT w.wrapped
                    THEN (SELECT m.number_id FROM messages m WHERE m.due_at IS NOT NULL
                          ORDER BY m.number_id LIMIT 1)
                    ELSE p.after END AS number_id,
               w.wrapped OR p.after IS NULL AS wrapped
        OFFSET 0
    ) x
    WHERE w.number_id IS NOT NULL AND w.k < $7
      AND x.number_id IS NOT NULL AND NOT (x.wrapped AND x.number_id > $8::int8)
),
scan AS (
    SELECT h.id, h.number_id
    FROM walk w
    CROSS JOIN LATERAL (
        SELECT m.id, m.number_id, m.due_at
        FROM messages m
        WHERE m.number_id = w.number_id AND m.due_at <= now()
          AND m.status IN ('queued', 'sending')
          AND ` + messageDeadlineSQL4 + ` > now()
          AND m.thread_seq = (SELECT t.out_next FROM threads t WHERE t.id = m.thread_id)
        ORDER BY m.due_at, m.id
        LIMIT $6
    ) h
    WHERE w.number_id IS NOT NULL AND w.number_id <> ALL((SELECT ids FROM skipped)::int8[])
),
top AS MATERIALIZED (
    SELECT s.id, s.number_id, row_number() OVER () AS rn FROM (SELECT * FROM scan LIMIT $2 + 1) s
),
pick AS MATERIALIZED (
    SELECT id FROM top WHERE rn <= $2
),
nxt AS MATERIALIZED (
    SELECT coalesce((SELECT r.number_id - 1 FROM top r WHERE r.rn = $2 + 1),
                    (SELECT w.number_id FROM walk w WHERE w.number_id IS NOT NULL ORDER BY w.k DESC LIMIT 1),
                    0)::int8 AS cursor
),
c AS MATERIALIZED (
    SELECT m.id, m.workspace_id, m.number_id
    FROM messages m
    WHERE m.id = ANY(ARRAY(SELECT id FROM pick))
      AND coalesce(m.due_at, 'infinity') <= now()
      AND m.status IN ('queued', 'sending')
      AND m.thread_seq = (SELECT t.out_next FROM threads t WHERE t.id = m.thread_id)
    FOR NO KEY UPDATE OF m SKIP LOCKED
),
v AS MATERIALIZED (
    SELECT c.id, coalesce(nc.enabled, false) AS enabled
    FROM c
    LEFT JOIN number_connections nc
           ON nc.workspace_id = c.workspace_id AND nc.number_id = c.number_id AND nc.disconnected_at IS NULL
),
held AS (
    UPDATE messages m SET status = 'queued', due_at = NULL, lease_owner = NULL,
        change_xid = CASE WHEN m.status <> 'queued' THEN pg_current_xact_id() ELSE m.change_xid END
    FROM v WHERE m.id = v.id AND NOT v.enabled
),
claimed AS (
    UPDATE messages m
    SET status = 'sending', lease_owner = $1, attempts = m.attempts + 1, sending_at = now(),
        change_xid = pg_current_xact_id(),
        due_at = now() + $3::int8 * interval '1 microsecond'
    FROM v, numbers n
    WHERE m.id = v.id AND v.enabled AND n.id = m.number_id
    RETURNING m.id, m.workspace_id, m.thread_id, n.e164, n.carrier, n.rate_class, m.contact,
              m.body, m.encoding, m.segments, m.attempts, m.created_at, m.due_at, m.sent_mask,
              coalesce(m.wire_parts, 0)::int2 AS parts, m.expires_at, coalesce(m.queued_at, m.created_at) AS queued_at
)
SELECT nxt.cursor, ((SELECT count(*) FROM pick) - (SELECT count(*) FROM c))::int4 AS skipped,
       coalesce((SELECT t.number_id FROM top t WHERE t.rn <= $2 ORDER BY t.rn DESC LIMIT 1), 0) AS last_picked,
       c.id, coalesce(c.workspace_id, 0), coalesce(c.thread_id, 0), coalesce(c.e164, ''),
       coalesce(c.carrier, ''), coalesce(c.rate_class, ''), coalesce(c.contact, ''),
       coalesce(c.body, ''), coalesce(c.encoding, ''), coalesce(c.segments, 0)::int2, coalesce(c.attempts, 0),
       coalesce(c.created_at, now()), coalesce(c.due_at, now()), coalesce(c.sent_mask, 0),
       coalesce(c.parts, 0)::int2, c.expires_at, coalesce(c.queued_at, now())
FROM nxt LEFT JOIN claimed c ON true
`

// SubmitOutcome is what became of one segment's submit_sm, as the caller
// (who knows the carrier's status codes) judged it.
type SubmitOutcome int

// Submit outcomes.
const (
	SubmitOK        SubmitOutcome = iota // accepted; CarrierMessageID is its id
	SubmitRetryable                      // refused for now (throttled, queue full, timeout, bind lost)
	SubmitPermanent                      // refused for good: the message fails
)

// SubmitResult is the result of submitting one part of a message.
type SubmitResult struct {
	Message MessageID
	Segment int // 0-based index of the part
	// Parts is how many submit_sm the message goes out in: its segment
	// count when each segment is its own submit_sm (UDH, SAR), 1 when the
	// whole text rides in one message_payload. 0 means Segments. The first
	// accepted result fixes it for the message (wire_parts): the message is
	// submitted when that many parts are, delivered when that many parts'
	// receipts say so.
	Parts   int
	Outcome SubmitOutcome
	// CarrierMessageID is the id from submit_sm_resp (SubmitOK), written in
	// Format, the carrier's submit-response id format.
	CarrierMessageID string
	Format           IDFormat
	ErrorCode        int    // the carrier's command_status, for errors
	Reason           string // free text kept as the message's last error
}

// RecordSubmits records submit results. A successful segment is mapped from
// its carrier message id to the message (a receipt that arrived first is
// applied now); when every segment of a message is submitted, the message
// is submitted and its lease ends. A permanent error fails the message with
// the carrier's code. A retryable error is recorded (code and reason) and
// the message stays sending under its lease: the caller requeues it with
// Requeue, or the lease runs out and it comes back by itself. Results are
// recorded even when the lease has been lost, since the segment did go out.
// Final statuses never change. Per item: nil, ErrNotFound (no such outbound
// message) or ErrInvalidArgument (segment index out of range). One round trip.
func (s *Store) RecordSubmits(ctx context.Context, results []SubmitResult) ([]error, error) {
	errs := make([]error, len(results))
	if len(results) == 0 {
		return errs, nil
	}
	n := len(results)
	var (
		ord     = make([]int32, n)
		msg     = make([]int64, n)
		seg     = make([]int16, n)
		raw     = make([]string, n)
		key     = make([]string, n)
		outcome = make([]int16, n)
		code    = make([]int32, n)
		reason  = make([]string, n)
		parts   = make([]int16, n)
	)
	for i, r := range results {
		ord[i], msg[i], outcome[i], code[i], reason[i] = int32(i), int64(r.Message), int16(r.Outcome), int32(r.ErrorCode), r.Reason
		parts[i] = int16(r.Parts)
		if r.Segment < 0 || r.Segment >= MaxSegments || r.Outcome < SubmitOK || r.Outcome > SubmitPermanent ||
			r.Parts < 0 || r.Parts > MaxSegments || (r.Parts > 0 && r.Segment >= r.Parts) {
			seg[i] = -1
			continue
		}
		seg[i] = int16(r.Segment)
		if r.Outcome == SubmitOK {
			raw[i] = r.CarrierMessageID
			key[i] = CanonicalMessageID(r.Format, r.CarrierMessageID)
			if key[i] == "" {
				seg[i] = -1
			}
		}
	}
	err := retry(ctx, func() error {
		return s.queryPlanned(ctx, planFor(len(ord)), recordSubmitsSQL, []any{ord, msg, seg, raw, key, outcome, code, reason, parts}, func(rows pgx.Rows) error {
			var i int32
			var c string
			if err := rows.Scan(&i, &c); err != nil {
				return err
			}
			errs[i] = refusal(c)
			return nil
		}, &pgx.QueuedQuery{SQL: promoteByMessagesSQL, Arguments: []any{msg}})
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// messageUpdate is the tail shared by RecordSubmits and ApplyReceipts: agg
// holds per message (msg) the bits to add (sent, deliv), a permanent submit
// error (perm_code), a failed receipt (rfail, rfail_code), a retryable
// error (retry_code) and a reason. The UPDATE computes the new state from
// the row it locks (in READ COMMITTED that is the latest version, so
// concurrent batches on one message compose), visits the messages in id
// order, writes only rows that change (upd), and moves a thread on when its
// head stopped being pending (adv: out_next still names the message, which
// is no longer queued or sending).
const messageUpdate = `
upd AS (
    UPDATE messages m SET
        status = ` + newStatus + `,
        sent_mask = m.sent_mask | a.sent,
        delivered_mask = m.delivered_mask | a.deliv,
        carrier_error = CASE WHEN m.status IN ('delivered', 'failed', 'expired', 'rejected')
                             THEN m.carrier_error ELSE coalesce(a.perm_code, a.rfail_code, a.retry_code, m.carrier_error) END,
        last_error = coalesce(nullif(a.reason, ''), m.last_error),
        wire_parts = coalesce(m.wire_parts, a.parts),
        submitted_at = CASE WHEN m.submitted_at IS NULL AND (m.sent_mask | a.sent) = ` + allParts + `
                            THEN now() ELSE m.submitted_at END,
        delivered_at = CASE WHEN m.delivered_at IS NULL AND ` + newStatus + ` = 'delivered' THEN now() ELSE m.delivered_at END,
        failed_at    = CASE WHEN m.failed_at    IS NULL AND ` + newStatus + ` = 'failed'    THEN now() ELSE m.failed_at END,
        expired_at   = CASE WHEN m.expired_at   IS NULL AND ` + newStatus + ` = 'expired'   THEN now() ELSE m.expired_at END,
        rejected_at  = CASE WHEN m.rejected_at  IS NULL AND ` + newStatus + ` = 'rejected'  THEN now() ELSE m.rejected_at END,
        due_at        = CASE WHEN ` + newStatus + ` IN ('queued', 'sending') THEN m.due_at END,
        pending_since = CASE WHEN ` + newStatus + ` IN ('queued', 'sending') THEN m.pending_since END,
        lease_owner   = CASE WHEN ` + newStatus + ` IN ('queued', 'sending') THEN m.lease_owner END,
        change_xid    = CASE WHEN ` + newStatus + ` <> m.status THEN pg_current_xact_id() ELSE m.change_xid END
    FROM (SELECT * FROM agg ORDER BY msg) a
    WHERE m.id = a.msg AND m.direction = 'out'
      AND (a.sent & ~m.sent_mask <> 0 OR a.deliv & ~m.delivered_mask <> 0
           OR (m.wire_parts IS NULL AND a.parts IS NOT NULL)
           OR a.perm_code IS NOT NULL OR a.rfail IS NOT NULL OR a.retry_code IS NOT NULL
           OR coalesce(a.reason, '') <> '')
    RETURNING m.id, m.thread_id, m.thread_seq, m.status
),
adv AS (
    UPDATE threads t SET out_next = t.out_next + 1
    FROM upd
    WHERE t.id = upd.thread_id AND t.out_next = upd.thread_seq
      AND upd.status NOT IN ('queued', 'sending')
    RETURNING t.id
)
`

// promoteHeadsSQL gives the head of each thread threadsOf selects its due
// time, if it is queued without one, so that it enters messages_ready: the
// second statement of every transaction whose first moved threads on
// (RecordSubmits, ApplyReceipts, ExpireMessages). The due time is when the
// message was queued (or its not-before time, if later), so a number's
// heads are claimed in the order their messages were accepted, whenever
// each became its thread's head.
//
// A statement of its own, not a CTE of the one that moves the threads on:
// that one may have waited for a thread's row lock held by an Enqueue
// adding a message to the thread, and its snapshot, taken before the
// wait, would not see the new message (READ COMMITTED), which then never
// got its due time (found by the PostgreSQL-restart fault test: messages
// left queued for good). This statement's snapshot is taken after the
// first one's locks are held: every message added to those threads before
// is visible, and an Enqueue after waits for this transaction and then
// sees the thread moved on (its new message is the head at once). Threads
// whose head is still pending are left alone (their head has its due time,
// or is held while its number is disabled). A head whose number is
// disabled enters the index too; the claim puts it back on hold (its
// connection is checked there).
//
// The heads are found by a scalar subquery per thread, one probe of
// messages_pending, whose key the thread row gives (joined instead, the
// planner scanned every pending message against the threads: 8 s for a
// 500-message batch over a 20,000-message backlog), and updated by primary
// key, one array.
func promoteHeadsSQL(threadsOf string) string {
	return `
UPDATE messages m
SET due_at = greatest(coalesce(m.not_before, m.queued_at, m.created_at), coalesce(m.queued_at, m.created_at))
WHERE m.id = ANY (ARRAY(
        SELECT (SELECT h.id FROM messages h
                WHERE h.number_id = t.number_id AND h.workspace_id = t.workspace_id
                  AND h.thread_id = t.id AND h.thread_seq = t.out_next AND h.pending_since IS NOT NULL
                LIMIT 1)
        FROM threads t
        WHERE t.id = ANY (ARRAY(` + threadsOf + `))))
  AND m.status = 'queued' AND m.due_at IS NULL`
}

// promoteByMessagesSQL: the threads of the outbound messages $1.
var promoteByMessagesSQL = promoteHeadsSQL(`SELECT DISTINCT x.thread_id FROM messages x WHERE x.id = ANY ($1::int8[]) AND x.direction = 'out'`)

// allParts is the mask of every part of message m on the wire: one bit per
// segment, or per submit_sm when the message went out in fewer (a long text
// in one message_payload is one part). a.parts is the part count a batch's
// accepted submit reports; the first one recorded stays (wire_parts).
const allParts = `((1 << coalesce(m.wire_parts, a.parts, m.segments)) - 1)`

// newStatus is a message's status after agg is applied to its row m. A
// final status never changes; a permanent error fails the message; a
// failed, expired or rejected part gives the message that status; all
// parts delivered make it delivered, all submitted make it submitted.
const newStatus = `(CASE
            WHEN m.status IN ('delivered', 'failed', 'expired', 'rejected') THEN m.status
            WHEN a.perm_code IS NOT NULL THEN 'failed'
            WHEN a.rfail IS NOT NULL THEN a.rfail
            WHEN (m.delivered_mask | a.deliv) = ` + allParts + ` THEN 'delivered'
            WHEN (m.sent_mask | a.sent) = ` + allParts + ` THEN 'submitted'
            ELSE m.status
        END)`

// recordSubmitsSQL: segments first (in key order), then messages (in id
// order), the same lock order as ApplyReceipts, so the two never deadlock.
const recordSubmitsSQL = `
WITH r AS (
    SELECT * FROM unnest($1::int4[], $2::int8[], $3::int2[], $4::text[], $5::text[],
                         $6::int2[], $7::int4[], $8::text[], $9::int2[])
        AS r(ord, msg, seg, raw, key, outcome, code, reason, parts)
),
tgt AS MATERIALIZED (
    SELECT r.*, m.segments, n.carrier
    FROM r
    JOIN messages m ON m.id = r.msg AND m.direction = 'out'
    JOIN numbers n ON n.id = m.number_id
    WHERE r.seg >= 0 AND r.seg < m.segments AND r.parts <= m.segments
      AND (r.parts = 0 OR r.seg < r.parts)
),
s AS (
    INSERT INTO segments AS s (carrier, carrier_key, message_id, seg, carrier_id, submitted_at)
    SELECT DISTINCT ON (carrier, key) carrier, key, msg, seg, raw, now()
    FROM tgt WHERE outcome = 0
    ORDER BY carrier, key, ord DESC
    ON CONFLICT (carrier, carrier_key) DO UPDATE SET
        message_id = excluded.message_id, seg = excluded.seg,
        carrier_id = excluded.carrier_id, submitted_at = excluded.submitted_at,
        -- a receipt waiting for this id is kept; an id the carrier reuses
        -- for another message starts without one
        receipt_status = CASE WHEN s.message_id IS NULL OR s.message_id = excluded.message_id
                              THEN s.receipt_status END,
        receipt_error  = CASE WHEN s.message_id IS NULL OR s.message_id = excluded.message_id
                              THEN s.receipt_error END,
        receipt_at     = CASE WHEN s.message_id IS NULL OR s.message_id = excluded.message_id
                              THEN s.receipt_at END
    RETURNING s.message_id, s.seg, s.receipt_status, s.receipt_error
),
agg AS (
    SELECT msg, bit_or(sent) AS sent, bit_or(deliv) AS deliv,
           min(perm_code) AS perm_code, min(rfail) AS rfail, min(rfail_code) AS rfail_code,
           min(retry_code) AS retry_code, max(reason) AS reason, max(parts) AS parts
    FROM (
        SELECT message_id AS msg, 1 << seg AS sent,
               CASE WHEN receipt_status = 'delivered' THEN 1 << seg ELSE 0 END AS deliv,
               NULL::int4 AS perm_code,
               CASE WHEN receipt_status IN ('failed', 'expired', 'rejected') THEN receipt_status END AS rfail,
               CASE WHEN receipt_status IN ('failed', 'expired', 'rejected') THEN receipt_error END AS rfail_code,
               NULL::int4 AS retry_code, NULL::text AS reason, NULL::int2 AS parts
        FROM s
        UNION ALL
        SELECT msg, 0, 0,
               CASE WHEN outcome = 2 THEN code END, NULL, NULL,
               CASE WHEN outcome = 1 THEN code END, reason, NULL
        FROM tgt WHERE outcome <> 0
        UNION ALL
        -- the part count an accepted submit reports (0: one per segment)
        SELECT msg, 0, 0, NULL, NULL, NULL, NULL, NULL, nullif(parts, 0)
        FROM tgt WHERE outcome = 0 AND parts > 0
    ) x
    GROUP BY msg
),
` + messageUpdate + `
SELECT r.ord,
       CASE WHEN NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = r.msg AND m.direction = 'out') THEN 'not_found'
            WHEN NOT EXISTS (SELECT 1 FROM tgt WHERE tgt.ord = r.ord) THEN 'invalid_argument'
            ELSE '' END
FROM r
`

// Requeue is a request to put a leased message back in the queue.
type Requeue struct {
	ID        MessageID
	NotBefore time.Time // not claimable before; zero means at once
	Reason    string    // kept as the message's last error
	// CarrierError is the carrier's error code when the carrier refused
	// the message for now (throttled, queue full), kept as the message's
	// carrier error; 0 keeps the one it has.
	CarrierError int
}

// Requeue puts messages leased to owner back in the queue as queued, not
// claimable before their NotBefore time; their attempt counts stay. Later
// messages of the same thread keep waiting behind them. Per item: nil,
// ErrNotFound, or ErrLeaseLost when the message is not sending under
// owner's lease (its lease ran out and another claimer has it, or it is
// already submitted or final). One round trip.
func (s *Store) Requeue(ctx context.Context, owner string, reqs []Requeue) ([]error, error) {
	errs := make([]error, len(reqs))
	if len(reqs) == 0 {
		return errs, nil
	}
	ord := make([]int32, len(reqs))
	ids := make([]int64, len(reqs))
	nb := make([]time.Time, len(reqs))
	reason := make([]string, len(reqs))
	code := make([]int32, len(reqs))
	for i, r := range reqs {
		ord[i], ids[i], nb[i], reason[i], code[i] = int32(i), int64(r.ID), r.NotBefore, r.Reason, int32(r.CarrierError)
	}
	err := retry(ctx, func() error {
		return s.queryPlanned(ctx, planFor(len(ord)), requeueSQL, []any{owner, ord, ids, nb, reason, code}, func(rows pgx.Rows) error {
			var i int32
			var c string
			if err := rows.Scan(&i, &c); err != nil {
				return err
			}
			errs[i] = refusal(c)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

const requeueSQL = `
WITH r AS (
    SELECT DISTINCT ON (id) * FROM unnest($2::int4[], $3::int8[], $4::timestamptz[], $5::text[], $6::int4[])
        AS r(ord, id, not_before, reason, code)
    ORDER BY id, ord DESC
),
lk AS MATERIALIZED (
    SELECT m.id FROM messages m
    WHERE m.id IN (SELECT id FROM r) AND m.status = 'sending' AND m.lease_owner = $1
    ORDER BY m.id
    FOR NO KEY UPDATE
),
upd AS (
    UPDATE messages m
    SET status = 'queued', lease_owner = NULL, last_error = coalesce(nullif(r.reason, ''), m.last_error),
        carrier_error = coalesce(nullif(r.code, 0), m.carrier_error),
        change_xid = pg_current_xact_id(),
        not_before = r.not_before,
        -- held (no due_at) while its number is disabled or disconnected
        due_at = CASE WHEN coalesce((SELECT nc.enabled FROM number_connections nc
                                     WHERE nc.workspace_id = m.workspace_id AND nc.number_id = m.number_id
                                       AND nc.disconnected_at IS NULL), false)
                      THEN greatest(now(), coalesce(r.not_before, now())) END
    FROM r
    WHERE m.id = r.id AND m.id IN (SELECT id FROM lk) AND m.status = 'sending' AND m.lease_owner = $1
    RETURNING m.id
)
SELECT x.ord,
       CASE WHEN EXISTS (SELECT 1 FROM upd WHERE upd.id = x.id) THEN ''
            WHEN EXISTS (SELECT 1 FROM messages m WHERE m.id = x.id AND m.direction = 'out') THEN 'lease_lost'
            ELSE 'not_found' END
FROM unnest($2::int4[], $3::int8[]) AS x(ord, id)
`

// ExpireMessages marks expired every message not yet submitted that is past
// its deadline (its validity, else the message TTL from its send time):
// queued ones, and sending ones whose lease has run out. Messages in flight under a live lease are left to their dispatcher.
// Only a thread's head is expired, and the thread moves on, so a thread's
// messages expire in order; the call repeats until nothing is left to
// expire. It returns how many it expired. Safe to run from several
// processes; meant to run every minute or so (Claim already skips messages
// past the TTL).
func (s *Store) ExpireMessages(ctx context.Context) (int64, error) {
	const batch = 5000
	var total int64
	for {
		var n int64
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			var expired []int64
			if err := tx.QueryRow(ctx, expireSQL, micros(s.ttl), batch).Scan(&expired); err != nil {
				return err
			}
			n = int64(len(expired))
			if n == 0 {
				return nil
			}
			_, err := tx.Exec(ctx, promoteByMessagesSQL, expired)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			return total, nil
		}
	}
}

const expireSQL = `
WITH c AS (
    SELECT m.id
    FROM messages m
    WHERE m.pending_since IS NOT NULL
      AND ` + messageDeadlineSQL1 + ` <= now()
      AND (m.status = 'queued' OR m.due_at <= now())
      AND m.thread_seq = (SELECT t.out_next FROM threads t WHERE t.id = m.thread_id)
    ORDER BY m.id
    LIMIT $2
    FOR NO KEY UPDATE SKIP LOCKED
),
e AS (
    UPDATE messages m
    SET status = 'expired', expired_at = now(), due_at = NULL, pending_since = NULL, lease_owner = NULL,
        change_xid = pg_current_xact_id()
    FROM c WHERE m.id = c.id
    RETURNING m.id, m.thread_id, m.thread_seq
),
adv AS (
    UPDATE threads t SET out_next = t.out_next + 1
    FROM e WHERE t.id = e.thread_id AND t.out_next = e.thread_seq
)
SELECT coalesce(array_agg(e.id), '{}') FROM e
`
