package inbox

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// NumberClaim asks ClaimNumbers for up to Max messages from sender number
// Number (E.164), looking at most at its first Scan due messages for them
// (0: 4×Max+16).
type NumberClaim struct {
	Number string
	Max    int
	Scan   int
}

// MaxNumberClaims is the most numbers one ClaimNumbers call takes.
const MaxNumberClaims = 10000

// ClaimNumbers leases to owner for lease, for each sender number asked for,
// up to its Max claimable messages of that number, oldest due first, and
// marks them sending: Claim's guarantees (SKIP LOCKED, a thread's head
// only, the number connected and enabled, younger than the TTL), with the
// choice of numbers left to the caller. A dispatcher asks for the numbers
// whose ready queues have room, so a number's backlog is read only as far
// as the number can send soon, however many numbers have one, and whatever
// order they were queued in.
//
// Each number's due messages are read in order from messages_number_due,
// at most Scan of them (the ones behind a head that is in flight are not
// heads), so a number whose threads all wait for their heads costs a
// bounded read. A head requeued for later goes behind its thread's later
// messages in that order: a caller that finds nothing where the store has
// due work asks again with a larger Scan. A number asked for twice counts
// once, with the larger Max and Scan.
// An unknown number gives nothing. One round trip.
func (s *Store) ClaimNumbers(ctx context.Context, owner string, lease time.Duration, wants []NumberClaim) ([]ClaimedMessage, error) {
	if owner == "" || lease <= 0 || len(wants) > MaxNumberClaims {
		return nil, invalid("claim needs an owner, a positive lease and at most %d numbers", MaxNumberClaims)
	}
	nums := make([]string, 0, len(wants))
	lims := make([]int32, 0, len(wants))
	scans := make([]int32, 0, len(wants))
	total := 0
	for _, w := range wants {
		if w.Max < 0 || w.Max > MaxClaimPerNumber || w.Scan < 0 || w.Scan > MaxClaimScan {
			return nil, invalid("claim of %d messages of a number in %d: want 0 to %d in 0 to %d", w.Max, w.Scan, MaxClaimPerNumber, MaxClaimScan)
		}
		if w.Max == 0 {
			continue
		}
		nums = append(nums, w.Number)
		lims = append(lims, int32(w.Max))
		scan := w.Scan
		if scan == 0 {
			scan = 4*w.Max + 16
		}
		scans = append(scans, int32(max(scan, w.Max)))
		total += w.Max
	}
	if total == 0 {
		return nil, nil
	}
	var out []ClaimedMessage
	err := retry(ctx, func() error {
		out = out[:0]
		return s.queryPlanned(ctx, claimPlan, claimNumbersSQL, []any{owner, total, micros(lease), micros(s.ttl), nums, lims, scans},
			func(rows pgx.Rows) error {
				c, err := scanClaimed(rows)
				if err != nil {
					return err
				}
				out = append(out, c)
				return nil
			})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b ClaimedMessage) int { return int(a.ID - b.ID) })
	return out, nil
}

// MaxClaimPerNumber is the most messages ClaimNumbers takes of one number,
// MaxClaimScan the most due messages it reads of one number.
const (
	MaxClaimPerNumber = 100000
	MaxClaimScan      = 1000000
)

// claimNumbersSQL: per number asked for (w, the largest Max of each, joined
// to its ids), a LATERAL read of its first due entries of
// messages_number_due in (due_at, id) order, bounded, each checked with a
// primary-key probe of its thread (is it the head), keeping the first Max
// heads; then claimTail as for Claim. The plan settings of claimPlan keep
// the reads plain index scans that stop at their LIMIT.
const claimNumbersSQL = `
WITH w AS MATERIALIZED (
    SELECT n.id AS number_id, x.lim, x.scan
    FROM (SELECT e164, max(lim) AS lim, max(scan) AS scan
          FROM unnest($5::text[], $6::int4[], $7::int4[]) AS u(e164, lim, scan) GROUP BY e164) x
    JOIN numbers n ON n.e164 = x.e164 AND n.status = 'active'
),
fair AS MATERIALIZED (
    SELECT h.id
    FROM w CROSS JOIN LATERAL (
        SELECT s.id
        FROM (
            SELECT m.id, m.due_at, m.thread_id, m.thread_seq
            FROM messages m
            WHERE m.number_id = w.number_id
              AND m.due_at <= now()
              AND m.status IN ('queued', 'sending')
              AND m.created_at > now() - $4::int8 * interval '1 microsecond'
            ORDER BY m.due_at, m.id
            LIMIT w.scan
        ) s
        WHERE s.thread_seq = (SELECT t.out_next FROM threads t WHERE t.id = s.thread_id)
        ORDER BY s.due_at, s.id
        LIMIT w.lim
    ) h
),
` + claimTail

// scanClaimed reads one row of claimTail's RETURNING.
func scanClaimed(rows pgx.Rows) (ClaimedMessage, error) {
	var c ClaimedMessage
	var segs, parts int16
	var mask int32
	var exp *time.Time
	if err := rows.Scan(&c.ID, &c.Workspace, &c.Thread, &c.From, &c.Carrier, &c.RateClass, &c.To,
		&c.Body, &c.Encoding, &segs, &c.Attempts, &c.CreatedAt, &c.LeaseUntil, &mask, &parts, &exp, &c.QueuedAt); err != nil {
		return c, err
	}
	c.ExpiresAt = timeOrZero(exp)
	c.Segments, c.Parts = int(segs), int(parts)
	c.Submitted = make([]bool, c.Segments)
	for i := range c.Submitted {
		c.Submitted[i] = mask&(1<<i) != 0
	}
	return c, nil
}

// DueNumber is a sender number with pending messages in the claim queue.
type DueNumber struct {
	ID        int64 // the number's id: pass the last one to DueNumbers as after
	Number    string
	Carrier   string
	RateClass string
	// DueAt is when its earliest pending message is (or was) due: claimable
	// from then if it heads its thread. A message in flight is due at its
	// lease end.
	DueAt time.Time
}

// DueNumbers returns up to limit numbers with pending messages that are
// not held (queued or sending, with a due time), in id order after the
// number id after (0: from the start); fewer than limit means the end was
// reached. It reads one index entry per number (a loose index scan of
// messages_number_due), never the messages behind it, so a dispatcher can
// find the numbers with work after a restart, or queued by other
// processes, whatever the size of the backlog. The earliest due time may be
// a message that is not its thread's head (its head is in flight): a claim
// of that number then finds nothing for now.
func (s *Store) DueNumbers(ctx context.Context, after int64, limit int) ([]DueNumber, error) {
	if limit <= 0 || limit > MaxNumberClaims {
		return nil, invalid("due numbers: limit %d, want 1 to %d", limit, MaxNumberClaims)
	}
	var out []DueNumber
	err := retry(ctx, func() error {
		out = out[:0]
		rows, err := s.pool.Query(ctx, dueNumbersSQL, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d DueNumber
			if err := rows.Scan(&d.ID, &d.Number, &d.Carrier, &d.RateClass, &d.DueAt); err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// dueNumbersSQL is a loose index scan of messages_number_due: each step
// descends the index once to the first entry of the next number (its
// earliest due time, the index being in (number_id, due_at) order). The
// recursion runs only as far as the LIMIT asks.
const dueNumbersSQL = `
WITH RECURSIVE r(number_id, due_at) AS (
    (SELECT m.number_id, m.due_at FROM messages m
     WHERE m.due_at IS NOT NULL AND m.number_id > $1
     ORDER BY m.number_id, m.due_at LIMIT 1)
    UNION ALL
    SELECT x.number_id, x.due_at
    FROM r CROSS JOIN LATERAL (
        SELECT m.number_id, m.due_at FROM messages m
        WHERE m.due_at IS NOT NULL AND m.number_id > r.number_id
        ORDER BY m.number_id, m.due_at LIMIT 1
    ) x
)
SELECT r.number_id, n.e164, n.carrier, n.rate_class, r.due_at
FROM (SELECT * FROM r LIMIT $2) r
JOIN numbers n ON n.id = r.number_id
ORDER BY r.number_id
`
