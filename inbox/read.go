package inbox

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Page asks for one page of a list.
type Page struct {
	Cursor string // "" for the first page, else the next cursor of the previous page
	Limit  int    // 0 means DefaultPageSize; at most MaxPageSize
}

// Page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageSize
	case p.Limit > MaxPageSize:
		return MaxPageSize
	}
	return p.Limit
}

// Cursors are opaque to callers: base64url of "kind:fields". The kind keeps a
// cursor of one list from being used on another.
func encodeCursor(kind string, fields ...int64) string {
	var b strings.Builder
	b.WriteString(kind)
	for _, f := range fields {
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(f, 10))
	}
	return base64.RawURLEncoding.EncodeToString([]byte(b.String()))
}

func decodeCursor(c, kind string, n int) ([]int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, ErrInvalidCursor
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != n+1 || parts[0] != kind {
		return nil, ErrInvalidCursor
	}
	out := make([]int64, n)
	for i := range out {
		if out[i], err = strconv.ParseInt(parts[i+1], 10, 64); err != nil {
			return nil, ErrInvalidCursor
		}
	}
	return out, nil
}

const threadColumns = `t.id, t.workspace_id, t.channel, t.number_id, n.e164, t.contact, t.created_at,
	t.last_message_at, t.last_outbound_at, t.unread_count`

func scanThread(row pgx.Row, t *Thread, extra ...any) error {
	var lastOut *time.Time
	err := row.Scan(append([]any{&t.ID, &t.Workspace, &t.Channel, &t.NumberID, &t.Number, &t.Contact, &t.CreatedAt,
		&t.LastMessageAt, &lastOut, &t.UnreadCount}, extra...)...)
	t.LastOutboundAt = timeOrZero(lastOut)
	return err
}

// ListThreads returns a workspace's threads, most recent message first, and
// the cursor of the next page ("" after the last). A thread that gets a new
// message while a caller pages moves to the front, so it may be seen again or
// not at all on later pages, as in any newest-first list.
func (s *Store) ListThreads(ctx context.Context, ws WorkspaceID, p Page) ([]Thread, string, error) {
	at, id := int64(1<<53), int64(1<<62)
	if p.Cursor != "" {
		f, err := decodeCursor(p.Cursor, "t1", 2)
		if err != nil {
			return nil, "", err
		}
		at, id = f[0], f[1]
	}
	lim := p.limit()
	// The newest message of each thread of the page: a backward probe of
	// messages_thread per thread. A thread without messages (its first
	// message lost an idempotency race) has nothing to show and is skipped.
	rows, err := s.pool.Query(ctx, `
		SELECT `+threadColumns+`, `+messageBaseColumns+`
		FROM threads t
		JOIN numbers n ON n.id = t.number_id
		JOIN LATERAL (
			SELECT * FROM messages m WHERE m.thread_id = t.id ORDER BY m.id DESC LIMIT 1
		) m ON true
		WHERE t.workspace_id = $1
		  AND (t.last_message_at, t.id) < ($2::timestamptz, $3)
		ORDER BY t.last_message_at DESC, t.id DESC
		LIMIT $4`, ws, time.UnixMicro(at), id, lim+1)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Thread, error) {
		var t Thread
		var x messageScan
		m := new(Message)
		if err := scanThread(r, &t, x.dest(m)...); err != nil {
			return t, err
		}
		x.finish(m)
		t.Last = m
		return t, nil
	})
	if err != nil {
		return nil, "", err
	}
	if len(list) == 0 && p.Cursor == "" {
		if _, err := s.GetWorkspace(ctx, ws); err != nil {
			return nil, "", err
		}
	}
	list, next := trimPage(list, lim, func(last *Thread) string { return encodeCursor("t1", last.LastMessageAt.UnixMicro(), int64(last.ID)) })
	return list, next, nil
}

// GetThread returns one thread of a workspace; another workspace's thread is
// ErrNotFound.
func (s *Store) GetThread(ctx context.Context, ws WorkspaceID, id ThreadID) (Thread, error) {
	var t Thread
	err := scanThread(s.pool.QueryRow(ctx, `SELECT `+threadColumns+`
		FROM threads t JOIN numbers n ON n.id = t.number_id
		WHERE t.id = $1 AND t.workspace_id = $2`, id, ws), &t)
	if errors.Is(err, pgx.ErrNoRows) {
		return Thread{}, ErrNotFound
	}
	return t, err
}

// MarkThreadRead sets a thread's unread count to zero.
func (s *Store) MarkThreadRead(ctx context.Context, ws WorkspaceID, id ThreadID) error {
	tag, err := s.pool.Exec(ctx, `UPDATE threads SET unread_count = 0 WHERE id = $1 AND workspace_id = $2`, id, ws)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// messageBaseColumns are a message's own columns (n is its number),
// messageColumns add its segments.
const messageBaseColumns = `m.id, m.workspace_id, m.thread_id, m.direction, n.e164, m.contact, m.body, m.encoding,
	m.segments, m.status, m.attempts, coalesce(m.carrier_error, 0), coalesce(m.last_error, ''),
	coalesce(m.idempotency_key, ''), m.created_at, m.queued_at, m.sending_at, m.submitted_at,
	m.delivered_at, m.failed_at, m.expired_at, m.rejected_at, m.received_at,
	m.canceled_at, m.send_at, m.expires_at`

const messageColumns = messageBaseColumns + `,
	(SELECT coalesce(array_agg(g.seg ORDER BY g.seg), '{}') FROM segments g WHERE g.message_id = m.id),
	(SELECT coalesce(array_agg(coalesce(g.carrier_id, '') ORDER BY g.seg), '{}') FROM segments g WHERE g.message_id = m.id),
	(SELECT coalesce(array_agg(coalesce(g.receipt_status, '') ORDER BY g.seg), '{}') FROM segments g WHERE g.message_id = m.id),
	(SELECT coalesce(array_agg(coalesce(g.receipt_error, 0) ORDER BY g.seg), '{}') FROM segments g WHERE g.message_id = m.id)`

// messageScan is the scratch messageBaseColumns scan into: dest gives the
// destinations, finish moves what they hold into the Message.
type messageScan struct {
	local, contact                                string
	segs                                          int16
	queued, sending, submitted, delivered, failed *time.Time
	expired, rejected, received                   *time.Time
	canceled, sendAt, expiresAt                   *time.Time
}

func (x *messageScan) dest(m *Message) []any {
	return []any{&m.ID, &m.Workspace, &m.Thread, &m.Direction, &x.local, &x.contact, &m.Body, &m.Encoding,
		&x.segs, &m.Status, &m.Attempts, &m.CarrierError, &m.LastError, &m.IdempotencyKey, &m.CreatedAt,
		&x.queued, &x.sending, &x.submitted, &x.delivered, &x.failed, &x.expired, &x.rejected, &x.received,
		&x.canceled, &x.sendAt, &x.expiresAt}
}

func (x *messageScan) finish(m *Message) {
	m.Segments = int(x.segs)
	if m.Direction == DirectionOut {
		m.From, m.To = x.local, x.contact
	} else {
		m.From, m.To = x.contact, x.local
	}
	m.QueuedAt, m.SendingAt, m.SubmittedAt = timeOrZero(x.queued), timeOrZero(x.sending), timeOrZero(x.submitted)
	m.DeliveredAt, m.FailedAt, m.ExpiredAt = timeOrZero(x.delivered), timeOrZero(x.failed), timeOrZero(x.expired)
	m.RejectedAt, m.ReceivedAt = timeOrZero(x.rejected), timeOrZero(x.received)
	m.CanceledAt, m.SendAt, m.ExpiresAt = timeOrZero(x.canceled), timeOrZero(x.sendAt), timeOrZero(x.expiresAt)
}

func scanMessage(row pgx.Row, m *Message) error {
	var (
		segIdx            []int16
		segIDs, segStatus []string
		segErr            []int32
	)
	var x messageScan
	if err := row.Scan(append(x.dest(m), &segIdx, &segIDs, &segStatus, &segErr)...); err != nil {
		return err
	}
	x.finish(m)
	for i := range segIdx {
		m.SegmentInfo = append(m.SegmentInfo, Segment{Index: int(segIdx[i]), CarrierMessageID: segIDs[i],
			ReceiptStatus: ReceiptStatus(segStatus[i]), ReceiptError: int(segErr[i])})
	}
	return nil
}

// GetMessage returns one message of a workspace; another workspace's
// message is ErrNotFound.
func (s *Store) GetMessage(ctx context.Context, ws WorkspaceID, id MessageID) (Message, error) {
	var m Message
	err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+messageColumns+`
		FROM messages m JOIN numbers n ON n.id = m.number_id
		WHERE m.id = $1 AND m.workspace_id = $2`, id, ws), &m)
	if errors.Is(err, pgx.ErrNoRows) {
		return Message{}, ErrNotFound
	}
	return m, err
}

// ListMessages returns a thread's messages in order (oldest first, both
// directions) and the cursor of the next page ("" after the last). Another
// workspace's thread is ErrNotFound.
func (s *Store) ListMessages(ctx context.Context, ws WorkspaceID, thread ThreadID, p Page) ([]Message, string, error) {
	after := int64(0)
	if p.Cursor != "" {
		f, err := decodeCursor(p.Cursor, "m1", 1)
		if err != nil {
			return nil, "", err
		}
		after = f[0]
	}
	lim := p.limit()
	rows, err := s.pool.Query(ctx, `
		SELECT `+messageColumns+`
		FROM threads t
		JOIN messages m ON m.thread_id = t.id
		JOIN numbers n ON n.id = m.number_id
		WHERE t.id = $1 AND t.workspace_id = $2 AND m.id > $3
		ORDER BY m.id
		LIMIT $4`, thread, ws, after, lim+1)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) {
		var m Message
		err := scanMessage(r, &m)
		return m, err
	})
	if err != nil {
		return nil, "", err
	}
	if len(list) == 0 {
		if _, err := s.GetThread(ctx, ws, thread); err != nil {
			return nil, "", err
		}
	}
	list, next := trimPage(list, lim, func(last *Message) string { return encodeCursor("m1", int64(last.ID)) })
	return list, next, nil
}

// trimPage cuts the lim+1 rows a list query fetched to one page, and makes
// the next cursor from the last row it keeps ("" after the last page).
func trimPage[T any](list []T, lim int, cursor func(last *T) string) ([]T, string) {
	if len(list) <= lim {
		return list, ""
	}
	list = list[:lim]
	return list, cursor(&list[lim-1])
}
