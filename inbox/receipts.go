package inbox

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReceiptStatus is a delivery receipt's state, mapped by the caller from the
// carrier's report (SMPP's DELIVRD, UNDELIV, ...).
type ReceiptStatus string

// Receipt statuses. Delivered, Failed, Expired and Rejected are final; the
// others are recorded on the segment and change nothing else.
const (
	ReceiptAccepted  ReceiptStatus = "accepted"
	ReceiptEnroute   ReceiptStatus = "enroute"
	ReceiptUnknown   ReceiptStatus = "unknown"
	ReceiptDelivered ReceiptStatus = "delivered"
	ReceiptFailed    ReceiptStatus = "failed"
	ReceiptExpired   ReceiptStatus = "expired"
	ReceiptRejected  ReceiptStatus = "rejected"
)

// Final reports whether the receipt status is final.
func (r ReceiptStatus) Final() bool {
	switch r {
	case ReceiptDelivered, ReceiptFailed, ReceiptExpired, ReceiptRejected:
		return true
	}
	return false
}

func (r ReceiptStatus) valid() bool {
	switch r {
	case ReceiptAccepted, ReceiptEnroute, ReceiptUnknown:
		return true
	}
	return r.Final()
}

// Receipt is one delivery receipt.
type Receipt struct {
	Carrier          string
	CarrierMessageID string   // as written in the receipt
	Format           IDFormat // the carrier's receipt id format
	Status           ReceiptStatus
	ErrorCode        int       // the receipt's error code, 0 when none
	At               time.Time // when the carrier reports the state; zero means now
}

// ReceiptResult is what became of one receipt.
type ReceiptResult struct {
	// Message is the message the receipt belongs to, 0 while its submit
	// result has not been recorded (the receipt is kept and applied when
	// RecordSubmits maps the id).
	Message MessageID
	Status  Status // the message's status after the batch (when Message is set)
	Err     error  // ErrInvalidArgument for an unknown status or an empty id
}

// ApplyReceipts applies delivery receipts by (carrier, carrier message id),
// both normalised with CanonicalMessageID. A receipt for an id not yet
// recorded by RecordSubmits is kept and applied when the submit result
// lands. Rules: a final status never moves back (neither on the segment nor
// on the message); duplicate receipts are harmless; intermediate statuses
// (accepted, enroute, unknown) are recorded on the segment only. A message is
// delivered when every segment is; a failed, expired or rejected segment
// makes the whole message failed, expired or rejected at once (the contact
// cannot read it with a part missing) and later receipts of its other
// segments are recorded on the segments only. One round trip.
func (s *Store) ApplyReceipts(ctx context.Context, receipts []Receipt) ([]ReceiptResult, error) {
	res := make([]ReceiptResult, len(receipts))
	if len(receipts) == 0 {
		return res, nil
	}
	type rk struct{ carrier, key string }
	type item struct {
		rk
		status ReceiptStatus
		code   int32
		at     time.Time
	}
	byKey := make(map[rk]int, len(receipts))
	items := make([]item, 0, len(receipts))
	slot := make([]int, len(receipts))
	for i, r := range receipts {
		k := rk{strings.TrimSpace(r.Carrier), CanonicalMessageID(r.Format, r.CarrierMessageID)}
		if k.carrier == "" || k.key == "" || !r.Status.valid() {
			res[i].Err = invalid("receipt %q/%q with status %q", r.Carrier, r.CarrierMessageID, r.Status)
			slot[i] = -1
			continue
		}
		at := r.At
		if at.IsZero() {
			at = time.Now()
		}
		if j, ok := byKey[k]; ok {
			// Two receipts for one id in a batch: the first final one wins,
			// else the latest intermediate one.
			if !items[j].status.Final() {
				items[j].status, items[j].code, items[j].at = r.Status, int32(r.ErrorCode), at
			}
			slot[i] = j
			continue
		}
		byKey[k] = len(items)
		slot[i] = len(items)
		items = append(items, item{k, r.Status, int32(r.ErrorCode), at})
	}
	if len(items) == 0 {
		return res, nil
	}
	// Sorted by key: every batch takes the segment locks in the same order.
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := strings.Compare(items[a].carrier, items[b].carrier); c != 0 {
			return c
		}
		return strings.Compare(items[a].key, items[b].key)
	})
	n := len(items)
	idx := make([]int32, n)
	carrier := make([]string, n)
	key := make([]string, n)
	status := make([]string, n)
	code := make([]int32, n)
	at := make([]time.Time, n)
	for p, i := range order {
		it := items[i]
		idx[p], carrier[p], key[p], status[p], code[p], at[p] = int32(i), it.carrier, it.key, string(it.status), it.code, it.at
	}
	// Only a failed, expired or rejected receipt can end a message still
	// sending and so move its thread on: without one in the batch, no
	// thread's next message needs its due time (promoteByCarrierIDsSQL).
	var more []*pgx.QueuedQuery
	for _, it := range items {
		if it.status.Final() && it.status != ReceiptDelivered {
			more = append(more, &pgx.QueuedQuery{SQL: promoteByCarrierIDsSQL, Arguments: []any{carrier, key}})
			break
		}
	}
	out := make([]ReceiptResult, len(items))
	err := retry(ctx, func() error {
		return s.queryPlanned(ctx, planFor(len(idx)), applyReceiptsSQL, []any{idx, carrier, key, status, code, at}, func(rows pgx.Rows) error {
			var i int32
			var msg int64
			var st string
			if err := rows.Scan(&i, &msg, &st); err != nil {
				return err
			}
			out[i] = ReceiptResult{Message: MessageID(msg), Status: Status(st)}
			return nil
		}, more...)
	})
	if err != nil {
		return nil, err
	}
	for i, j := range slot {
		if j >= 0 {
			res[i] = out[j]
		}
	}
	return res, nil
}

const applyReceiptsSQL = `
WITH r AS (
    SELECT * FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::timestamptz[])
        WITH ORDINALITY AS r(idx, carrier, key, status, code, at, pos)
),
s AS (
    INSERT INTO segments AS s (carrier, carrier_key, receipt_status, receipt_error, receipt_at)
    SELECT carrier, key, status, nullif(code, 0), at FROM r ORDER BY pos
    ON CONFLICT (carrier, carrier_key) DO UPDATE SET
        receipt_status = CASE WHEN s.receipt_status IN ('delivered', 'failed', 'expired', 'rejected')
                              THEN s.receipt_status ELSE excluded.receipt_status END,
        receipt_error  = CASE WHEN s.receipt_status IN ('delivered', 'failed', 'expired', 'rejected')
                              THEN s.receipt_error ELSE excluded.receipt_error END,
        receipt_at     = CASE WHEN s.receipt_status IN ('delivered', 'failed', 'expired', 'rejected')
                              THEN s.receipt_at ELSE excluded.receipt_at END
    RETURNING s.carrier, s.carrier_key, s.message_id, s.seg, s.receipt_status, s.receipt_error
),
agg AS (
    SELECT message_id AS msg,
           bit_or(CASE WHEN receipt_status = 'delivered' THEN 1 << seg ELSE 0 END) AS deliv,
           0 AS sent, NULL::int4 AS perm_code,
           min(receipt_status) FILTER (WHERE receipt_status IN ('failed', 'expired', 'rejected')) AS rfail,
           min(receipt_error) FILTER (WHERE receipt_status IN ('failed', 'expired', 'rejected')) AS rfail_code,
           NULL::int4 AS retry_code, NULL::text AS reason, NULL::int2 AS parts
    FROM s
    WHERE message_id IS NOT NULL
    GROUP BY message_id
),
` + messageUpdate + `
SELECT r.idx, coalesce(s.message_id, 0), coalesce(upd.status, m.status, '')
FROM r
JOIN s ON s.carrier = r.carrier AND s.carrier_key = r.key
LEFT JOIN upd ON upd.id = s.message_id
LEFT JOIN LATERAL (SELECT m.status FROM messages m WHERE m.id = s.message_id LIMIT 1) m ON true
`

// DeleteOrphanReceipts deletes receipts that have waited longer than
// olderThan for a submit result that never came (ids the carrier made up, or
// messages whose result was lost), and returns how many.
func (s *Store) DeleteOrphanReceipts(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM segments
		WHERE message_id IS NULL AND created_at < now() - $1::int8 * interval '1 microsecond'`, micros(olderThan))
	return tag.RowsAffected(), err
}

// promoteByCarrierIDsSQL: the threads of the messages whose segments the
// receipts name ($1 carriers, $2 canonical ids; ApplyReceipts' own arrays)
// and that failed, expired or were rejected: the only way a receipt moves
// a thread on (a message still sending whose part the carrier reports
// failed). A delivered message was submitted first, and its thread moved
// on then.
var promoteByCarrierIDsSQL = promoteHeadsSQL(`SELECT DISTINCT x.thread_id FROM segments s JOIN messages x ON x.id = s.message_id
    WHERE (s.carrier, s.carrier_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
      AND x.status IN ('failed', 'expired', 'rejected')`)
