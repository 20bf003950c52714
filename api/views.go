package api

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// The JSON the API writes. Ids are strings of decimal digits (they are
// 64-bit; JavaScript numbers are not), times RFC 3339 in UTC, absent
// values null or left out as the OpenAPI document says.

func idString(id int64) string { return strconv.FormatInt(id, 10) }

// encodingName is the API's name of a stored encoding: gsm7, ucs2,
// latin1, binary.
func encodingName(enc string) string { return strings.ToLower(enc) }

func utc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

type statusAt struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

type partView struct {
	Index            int    `json:"index"`
	CarrierMessageID string `json:"carrier_message_id"`
	ReceiptStatus    string `json:"receipt_status,omitempty"`
	ReceiptError     int    `json:"receipt_error,omitempty"`
}

type failureView struct {
	CarrierCode int    `json:"carrier_code,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

type messageView struct {
	ID            string       `json:"id"`
	ThreadID      string       `json:"thread_id"`
	Direction     string       `json:"direction"`
	From          string       `json:"from"`
	To            string       `json:"to"`
	Text          string       `json:"text"`
	Encoding      string       `json:"encoding"`
	Segments      int          `json:"segments"`
	Status        string       `json:"status"`
	ClientRef     string       `json:"client_ref,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
	StatusHistory []statusAt   `json:"status_history"`
	Parts         []partView   `json:"parts"`
	Attempts      int          `json:"attempts"`
	Error         *failureView `json:"error"`
	// SendAt is set for a message sent at a chosen time; ExpiresAt when
	// the sender gave it a validity.
	SendAt    *time.Time `json:"send_at,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// history lists a message's statuses with the time of each, in the order
// they happened. (A retried message keeps the time of its last attempt at
// sending.)
func history(m *inbox.Message) []statusAt {
	all := []struct {
		s inbox.Status
		t time.Time
	}{
		{inbox.StatusScheduled, scheduledAt(m)},
		{inbox.StatusQueued, m.QueuedAt}, {inbox.StatusSending, m.SendingAt},
		{inbox.StatusSubmitted, m.SubmittedAt}, {inbox.StatusDelivered, m.DeliveredAt},
		{inbox.StatusFailed, m.FailedAt}, {inbox.StatusExpired, m.ExpiredAt},
		{inbox.StatusRejected, m.RejectedAt}, {inbox.StatusReceived, m.ReceivedAt},
		{inbox.StatusCanceled, m.CanceledAt},
	}
	out := make([]statusAt, 0, 4)
	for _, x := range all {
		if !x.t.IsZero() {
			out = append(out, statusAt{string(x.s), x.t.UTC()})
		}
	}
	// Stable: equal times keep the life-cycle order above.
	slices.SortStableFunc(out, func(a, b statusAt) int { return a.At.Compare(b.At) })
	return out
}

// scheduledAt is when a scheduled message was accepted (zero for one sent
// at once).
func scheduledAt(m *inbox.Message) time.Time {
	if m.SendAt.IsZero() {
		return time.Time{}
	}
	return m.CreatedAt
}

func messageOf(m *inbox.Message) messageView {
	v := messageView{
		ID: idString(int64(m.ID)), ThreadID: idString(int64(m.Thread)), Direction: string(m.Direction),
		From: m.From, To: m.To, Text: m.Body, Encoding: encodingName(m.Encoding), Segments: m.Segments,
		Status: string(m.Status), ClientRef: m.IdempotencyKey, CreatedAt: m.CreatedAt.UTC(),
		StatusHistory: history(m), Parts: []partView{}, Attempts: m.Attempts,
		SendAt: utc(m.SendAt), ExpiresAt: utc(m.ExpiresAt),
	}
	for _, sg := range m.SegmentInfo {
		v.Parts = append(v.Parts, partView{Index: sg.Index, CarrierMessageID: sg.CarrierMessageID,
			ReceiptStatus: string(sg.ReceiptStatus), ReceiptError: sg.ReceiptError})
	}
	if m.CarrierError != 0 || m.LastError != "" {
		v.Error = &failureView{CarrierCode: m.CarrierError, Reason: m.LastError}
	}
	return v
}

// messageSummary is a message in a list of threads and in events.
type messageSummary struct {
	ID        string    `json:"id"`
	ThreadID  string    `json:"thread_id"`
	Direction string    `json:"direction"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Text      string    `json:"text"`
	Encoding  string    `json:"encoding"`
	Segments  int       `json:"segments"`
	Status    string    `json:"status"`
	StatusAt  time.Time `json:"status_at"`
	CreatedAt time.Time `json:"created_at"`
}

func summaryOf(m *inbox.Message) messageSummary {
	at := m.CreatedAt
	for _, x := range history(m) {
		if x.Status == string(m.Status) {
			at = x.At
		}
	}
	return messageSummary{
		ID: idString(int64(m.ID)), ThreadID: idString(int64(m.Thread)), Direction: string(m.Direction),
		From: m.From, To: m.To, Text: m.Body, Encoding: encodingName(m.Encoding), Segments: m.Segments,
		Status: string(m.Status), StatusAt: at.UTC(), CreatedAt: m.CreatedAt.UTC(),
	}
}

type threadView struct {
	ID            string          `json:"id"`
	Channel       string          `json:"channel"`
	Number        string          `json:"number"`
	Contact       string          `json:"contact"`
	UnreadCount   int             `json:"unread_count"`
	CreatedAt     time.Time       `json:"created_at"`
	LastMessageAt time.Time       `json:"last_message_at"`
	LastMessage   *messageSummary `json:"last_message"`
}

func threadOf(t *inbox.Thread) threadView {
	v := threadView{
		ID: idString(int64(t.ID)), Channel: t.Channel, Number: t.Number, Contact: t.Contact,
		UnreadCount: t.UnreadCount, CreatedAt: t.CreatedAt.UTC(), LastMessageAt: t.LastMessageAt.UTC(),
	}
	if t.Last != nil {
		s := summaryOf(t.Last)
		v.LastMessage = &s
	}
	return v
}

type numberView struct {
	Number      string     `json:"number"`
	Kind        string     `json:"kind"`
	RateClass   string     `json:"rate_class"`
	State       string     `json:"state"`
	ConnectedAt *time.Time `json:"connected_at"`
	// Sending is set by GET /v1/sms only (connected numbers).
	Sending *sendingView `json:"sending,omitempty"`
}

func numberOf(n *inbox.WorkspaceNumber) numberView {
	return numberView{Number: n.E164, Kind: string(n.Kind), RateClass: n.RateClass, State: string(n.State),
		ConnectedAt: utc(n.ConnectedAt)}
}

type workspaceView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	SMSAddon bool   `json:"sms_addon"`
	// SmartEncoding is the workspace's smart encoding default.
	SmartEncoding bool `json:"smart_encoding"`
	// TimeZone and the caps are the workspace's segment quota (null: no
	// cap).
	TimeZone          string `json:"time_zone"`
	DailySegmentCap   *int64 `json:"daily_segment_cap"`
	MonthlySegmentCap *int64 `json:"monthly_segment_cap"`
	System            bool   `json:"system,omitempty"`
	// RateLimits are the API rate limits in force (0: none);
	// RateLimitOverrides the workspace's own (null: the default).
	RateLimits         rateLimitsView         `json:"rate_limits"`
	RateLimitOverrides rateLimitOverridesView `json:"rate_limit_overrides"`
	CreatedAt          time.Time              `json:"created_at"`
	Token              string                 `json:"token,omitempty"`
}

func (s *Server) workspaceOf(w *inbox.Workspace) workspaceView {
	l := s.limitsOf(w.RateLimits)
	orNil := func(v int64) *int64 {
		if v == 0 {
			return nil
		}
		return &v
	}
	return workspaceView{ID: idString(int64(w.ID)), Name: w.Name, SMSAddon: w.SMSAddon, SmartEncoding: w.SmartEncoding,
		TimeZone: w.TimeZone, DailySegmentCap: orNil(w.DailySegmentCap), MonthlySegmentCap: orNil(w.MonthlySegmentCap),
		System: w.System, CreatedAt: w.CreatedAt.UTC(),
		RateLimits: rateLimitsView{RequestsPerSecond: l.requests, MessagesPerSecond: l.messages},
		RateLimitOverrides: rateLimitOverridesView{RequestsPerSecond: w.RateLimits.RequestsPerSecond,
			MessagesPerSecond: w.RateLimits.MessagesPerSecond}}
}

type adminNumberView struct {
	ID        string    `json:"id"`
	Number    string    `json:"number"`
	Kind      string    `json:"kind"`
	RateClass string    `json:"rate_class"`
	Carrier   string    `json:"carrier"`
	Workspace *string   `json:"workspace"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	// ConnectedBy is set by GET /admin/v1/numbers only.
	ConnectedBy []useView `json:"connected_by,omitempty"`
}

// useView is one workspace's current connection of a number.
type useView struct {
	Workspace   string    `json:"workspace"`
	State       string    `json:"state"` // connected or disabled
	ConnectedAt time.Time `json:"connected_at"`
}

func adminNumberOf(n *inbox.Number) adminNumberView {
	v := adminNumberView{ID: idString(int64(n.ID)), Number: n.E164, Kind: string(n.Kind), RateClass: n.RateClass,
		Carrier: n.Carrier, Status: string(n.Status), CreatedAt: n.CreatedAt.UTC()}
	if n.Owner != 0 {
		s := idString(int64(n.Owner))
		v.Workspace = &s
	}
	return v
}

// cursorOrNull is a next_cursor: null after the last page.
func cursorOrNull(c string) *string {
	if c == "" {
		return nil
	}
	return &c
}
