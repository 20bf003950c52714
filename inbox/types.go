package inbox

import "time"

// Identifiers are bigint identities: eight bytes, ordered by creation, cheap
// to index and to compare on the hot paths. They are not secrets: every
// workspace-facing operation checks that the object belongs to the caller's
// workspace and answers ErrNotFound otherwise.
type (
	WorkspaceID int64
	NumberID    int64
	ThreadID    int64
	MessageID   int64
	UnroutedID  int64
)

// Workspace is a tenant.
type Workspace struct {
	ID       WorkspaceID
	Name     string
	SMSAddon bool // whether the workspace may use SMS at all
	// System marks the system workspace, which owns the self-test messages
	// (see StartSelfTest); it has no tokens.
	System bool
	// SmartEncoding is the workspace's default for smart encoding (see
	// smpp/coding.Substitute): a message whose request does not say is sent
	// with its GSM-7 look-alikes replaced when it is on. Off by default.
	SmartEncoding bool
	// TimeZone is the IANA name of the time zone the workspace's quota days
	// and months are counted in ("UTC" by default).
	TimeZone string
	// DailySegmentCap and MonthlySegmentCap are the workspace's segment
	// caps (see SetQuota); 0 is no cap, the default.
	DailySegmentCap, MonthlySegmentCap int64
	// RateLimits are the workspace's own API rate limits; nil fields take
	// the engine's configured defaults.
	RateLimits RateLimits
	CreatedAt  time.Time
}

// RateLimits are a workspace's own API rate limits, per second across
// every engine process: nil takes the configured default, 0 is no limit,
// at most MaxRateLimit.
type RateLimits struct {
	RequestsPerSecond *int
	MessagesPerSecond *int
}

// MaxRateLimit is the largest rate limit a workspace may have.
const MaxRateLimit = 1000000

// NumberKind says who may use a number.
type NumberKind string

// Number kinds.
const (
	Shared    NumberKind = "shared"    // in the pool any workspace may pick
	Dedicated NumberKind = "dedicated" // assigned to one workspace by an operator
)

// NumberStatus is a number's life at the operator level.
type NumberStatus string

// Number statuses.
const (
	NumberActive  NumberStatus = "active"
	NumberRetired NumberStatus = "retired"
)

// Default rate classes, used when an operator names none.
const (
	RateClassShared    = "shared"
	RateClassDedicated = "dedicated"
)

// Number is a phone number Switchboard sends from.
type Number struct {
	ID        NumberID
	E164      string
	Kind      NumberKind
	RateClass string      // the throttle class; dedicated numbers get a higher one
	Carrier   string      // the carrier whose binds send from it
	Owner     WorkspaceID // the owning workspace of a dedicated number, 0 for shared
	Status    NumberStatus
	CreatedAt time.Time
}

// ConnectionState is a number's state as one workspace sees it.
type ConnectionState string

// Connection states.
const (
	Available ConnectionState = "available" // the workspace may connect it
	Connected ConnectionState = "connected" // connected and enabled: outbound goes out
	Disabled  ConnectionState = "disabled"  // connected but disabled: outbound refused, inbound lands
)

// WorkspaceNumber is a number with its state in one workspace.
type WorkspaceNumber struct {
	Number
	State       ConnectionState
	ConnectedAt time.Time // zero when Available
}

// Direction of a message.
type Direction string

// Directions.
const (
	DirectionOut Direction = "out"
	DirectionIn  Direction = "in"
)

// Status of a message. Outbound messages walk queued → sending → submitted →
// delivered | failed | expired | rejected (failed, expired and rejected may
// also come straight from queued or sending); inbound ones are received. A
// message sent later starts scheduled and becomes queued at its send time;
// a scheduled or queued one may be canceled (or expire) instead.
type Status string

// Message statuses.
const (
	StatusScheduled Status = "scheduled"
	StatusQueued    Status = "queued"
	StatusSending   Status = "sending"
	StatusSubmitted Status = "submitted"
	StatusDelivered Status = "delivered"
	StatusFailed    Status = "failed"
	StatusExpired   Status = "expired"
	StatusRejected  Status = "rejected"
	StatusCanceled  Status = "canceled"
	StatusReceived  Status = "received"
)

// Final reports whether no later event changes the status.
func (s Status) Final() bool {
	switch s {
	case StatusDelivered, StatusFailed, StatusExpired, StatusRejected, StatusCanceled, StatusReceived:
		return true
	}
	return false
}

// MaxSegments is the most segments an outbound message may have.
const MaxSegments = 10

// ChannelSMS is the channel of every thread this package creates.
const ChannelSMS = "sms"

// Thread is one conversation: a workspace, a channel, a local number and a
// contact.
type Thread struct {
	ID             ThreadID
	Workspace      WorkspaceID
	Channel        string
	NumberID       NumberID
	Number         string // the local number, E.164
	Contact        string
	CreatedAt      time.Time
	LastMessageAt  time.Time
	LastOutboundAt time.Time // zero when the workspace never wrote
	UnreadCount    int
	// Last is the thread's newest message (without SegmentInfo), set by
	// ListThreads only.
	Last *Message
}

// Segment is what the inbox knows of one submitted segment.
type Segment struct {
	Index            int    // 0-based
	CarrierMessageID string // as the carrier wrote it in its submit response
	ReceiptStatus    ReceiptStatus
	ReceiptError     int
}

// Message is one message of a thread.
type Message struct {
	ID             MessageID
	Workspace      WorkspaceID
	Thread         ThreadID
	Direction      Direction
	From, To       string // E.164; for outbound From is the local number
	Body           string
	Encoding       string
	Segments       int
	Status         Status
	Attempts       int
	CarrierError   int    // the carrier's error code, 0 when none
	LastError      string // the last reason given for a failure or a requeue
	IdempotencyKey string
	SegmentInfo    []Segment // submitted segments, by index

	CreatedAt   time.Time
	QueuedAt    time.Time
	SendingAt   time.Time
	SubmittedAt time.Time
	DeliveredAt time.Time
	FailedAt    time.Time
	ExpiredAt   time.Time
	RejectedAt  time.Time
	ReceivedAt  time.Time
	CanceledAt  time.Time
	// SendAt is when a scheduled message is (or was) to be sent; zero for
	// a message sent at once.
	SendAt time.Time
	// ExpiresAt is the tenant's validity deadline: not submitted by then,
	// the message expires (and the carrier drops it after then). Zero: the
	// configured message TTL from the send time.
	ExpiresAt time.Time
}
