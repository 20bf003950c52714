package routing

import (
	"context"
	"time"
)

// Outbound is a queued message claimed for dispatch.
type Outbound struct {
	ID        int64
	From      string // our number, E.164
	To        string // the contact, E.164
	Carrier   string // the carrier account of From
	RateClass string // the rate class of From
	Body      string
	Encoding  string // "GSM7", "UCS2", "Latin1" (coding.Encoding's names)
	Segments  int    // as billed when accepted
	Attempts  int    // claims so far, this one included
	CreatedAt time.Time
	// QueuedAt is when the message entered the queue (its acceptance, or
	// its release when it was scheduled).
	QueuedAt time.Time
	// ExpiresAt is the tenant's validity deadline, zero when none was
	// given: each submit_sm carries the time left as its validity_period
	// (so the carrier drops the message after it too), and no part is
	// submitted after it.
	ExpiresAt time.Time
	// Parts is how many submit_sm the message went out in when an earlier
	// attempt had a part accepted (1 for a long text in one
	// message_payload); 0 when none was. A retry keeps that split.
	Parts int
	// Submitted[i] says part i was accepted by the carrier in an earlier
	// attempt; a retry sends only the others.
	Submitted []bool
}

// Outcome is what became of one segment's submit_sm.
type Outcome uint8

const (
	// Accepted: the carrier answered ESME_ROK with CarrierID.
	Accepted Outcome = iota
	// Retryable: refused for now (throttled, queue full, timeout, link lost);
	// the message is requeued.
	Retryable
	// Permanent: refused for good; the message fails with the carrier's status.
	Permanent
)

// SegmentResult is the result of one part's submit_sm.
type SegmentResult struct {
	Message int64
	Carrier string
	Segment int // 0-based index of the part
	// Parts is how many submit_sm the whole message goes out in: its
	// segment count with UDH or SAR, 1 with message_payload.
	Parts     int
	Outcome   Outcome
	CarrierID string // the carrier's message id, as written in submit_sm_resp
	Status    uint32 // the carrier's command_status for refusals
	Reason    string
	// Queued is when the message entered the queue (Outbound.QueuedAt),
	// set on the results of submits, for the engine's latency metric.
	Queued time.Time
}

// Retry puts a claimed message back in the queue until NotBefore.
type Retry struct {
	Message   int64
	NotBefore time.Time
	Reason    string
	// Status is the carrier's command_status when the carrier refused the
	// message for now (ESME_RTHROTTLED, ESME_RMSGQFUL...), 0 otherwise; it
	// is kept as the message's carrier error.
	Status uint32
}

// OutboundStore is the queue the dispatcher works from. Implementations are
// safe for concurrent use; each call is one transaction.
type OutboundStore interface {
	// Claim leases up to max queued messages to owner for lease, oldest
	// first, at most perNumber of any one sender number and none of the
	// numbers in skip (those have enough queued here already). Only the
	// oldest pending message of each (from, to) pair is claimable, so
	// messages to one contact go out in order.
	Claim(ctx context.Context, owner string, max int, lease time.Duration, skip []string, perNumber int) ([]Outbound, error)
	// RecordSubmits records segment results; a Permanent result fails its
	// message, a message whose segments are all Accepted becomes submitted.
	RecordSubmits(ctx context.Context, results []SegmentResult) error
	// Requeue releases owner's leases on the messages, claimable again from
	// NotBefore.
	Requeue(ctx context.Context, owner string, retries []Retry) error
	// ExpireMessages fails queued messages past their deadline (their
	// validity, else the message TTL).
	ExpireMessages(ctx context.Context) (int64, error)
	// ReleaseScheduled queues the scheduled messages whose send time has
	// come and returns how many.
	ReleaseScheduled(ctx context.Context) (int64, error)
}

// ReceiptState is a delivery receipt's state.
type ReceiptState string

// Receipt states (the inbox's names).
const (
	ReceiptAccepted  ReceiptState = "accepted"
	ReceiptEnroute   ReceiptState = "enroute"
	ReceiptUnknown   ReceiptState = "unknown"
	ReceiptDelivered ReceiptState = "delivered"
	ReceiptFailed    ReceiptState = "failed"
	ReceiptExpired   ReceiptState = "expired"
	ReceiptRejected  ReceiptState = "rejected"
)

// Receipt is one delivery receipt.
type Receipt struct {
	Carrier   string
	CarrierID string // receipted_message_id, or the text's id:, as written
	State     ReceiptState
	ErrorCode int
	At        time.Time
}

// ReceiptOutcome says what became of one receipt.
type ReceiptOutcome struct {
	Matched bool // it matched a message; false: kept until the submit result lands
}

// PartKey identifies the parts of one concatenated inbound message.
type PartKey struct {
	Carrier     string
	Source      string
	Destination string
	Reference   int
	Total       int
}

// Part is one part of a concatenated inbound message.
type Part struct {
	Key        PartKey
	Seq        int    // 1-based
	Payload    []byte // user data without its UDH
	Coding     uint8  // data_coding
	ReceivedAt time.Time
}

// PartSet is the parts of one message, in order, returned once complete (or
// once timed out, with holes).
type PartSet struct {
	Key      PartKey
	Parts    [][]byte // payloads by position; nil where a part is missing
	Codings  []uint8
	FirstAt  time.Time
	Complete bool
}

// Inbound is one whole mobile-originated message.
type Inbound struct {
	Carrier    string
	From       string // the contact (E.164 where the carrier gave a number)
	To         string // our number
	Body       string
	Encoding   string
	Segments   int
	ReceivedAt time.Time
	Parts      *PartKey // the part set it was reassembled from, if any
	Incomplete bool     // reassembled after a timeout, with parts missing
}

// InboundOutcome says where an inbound message went.
type InboundOutcome struct {
	Workspace int64 // 0 when unrouted
	Thread    int64
	Message   int64
	Unrouted  bool
	Duplicate bool
	Keyword   string // "stop", "start" or "help" when a keyword was applied
	// ReplyErr says why the workspace's reply to the keyword was not
	// queued (the message itself is stored); the router logs it.
	ReplyErr error
}

// InboundStore files what carriers deliver. Implementations are safe for
// concurrent use; each call is one transaction, committed when it returns
// without error.
type InboundStore interface {
	ApplyReceipts(ctx context.Context, receipts []Receipt) ([]ReceiptOutcome, error)
	// StoreParts keeps parts; for each part it returns the whole set when
	// that part completed it, else nil.
	StoreParts(ctx context.Context, parts []Part) ([]*PartSet, error)
	// SweepParts returns (and removes from waiting) part sets first seen
	// before olderThan that never completed.
	SweepParts(ctx context.Context, olderThan time.Duration, limit int) ([]PartSet, error)
	AppendInbound(ctx context.Context, msgs []Inbound) ([]InboundOutcome, error)
}
