package inbox

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Webhooks: a workspace's endpoints, the outbox of events each still has to
// receive, and the log of delivery attempts (migration 0009). Endpoints are
// managed through the API (CreateWebhook ... ReplayWebhookEvent); the engine
// delivers with ClaimWebhooks, WebhookTarget, NumberChanges,
// RecordWebhookBatch, DueWebhookEvents and RecordWebhookAttempts (package
// webhook). The outbox and log rows have no foreign key (migration 0016):
// every statement that writes them holds the endpoint's row.

// WebhookID names an endpoint.
type WebhookID int64

// Webhook event types. A subscription lists some of them, or "number.*"
// for every number event.
const (
	EventMessageStatus          = "message.status"   // an outbound message submitted, delivered, failed, expired or rejected
	EventMessageReceived        = "message.received" // an inbound message, with its thread
	EventNumberConnected        = "number.connected"
	EventNumberDisabled         = "number.disabled"
	EventNumberEnabled          = "number.enabled"
	EventNumberDisconnected     = "number.disconnected"
	EventNumberRequestFulfilled = "number.request_fulfilled"
	EventNumberRequestDeclined  = "number.request_declined"
	// EventWebhookDisabled: another endpoint of the workspace was disabled
	// (it answered 410, or failed for WebhookFailingLimit).
	EventWebhookDisabled = "webhook.disabled"
	// EventQuotaThreshold: the workspace's segment count in a day or month
	// reached 80 % or 100 % of its cap (see SetQuota).
	EventQuotaThreshold = "quota.threshold"
	// EventWebhookTest is sent on request (POST /v1/webhooks/{id}/test),
	// whatever the endpoint subscribes to.
	EventWebhookTest = "webhook.test"
	// EventNumberAll subscribes to every number.* type.
	EventNumberAll = "number.*"
)

// WebhookEventTypes are the types an endpoint may subscribe to.
var WebhookEventTypes = []string{
	EventMessageStatus, EventMessageReceived, EventNumberAll,
	EventNumberConnected, EventNumberDisabled, EventNumberEnabled, EventNumberDisconnected,
	EventNumberRequestFulfilled, EventNumberRequestDeclined, EventWebhookDisabled, EventQuotaThreshold,
}

// Limits of webhooks.
const (
	MaxWebhooksPerWorkspace = 20
	MaxWebhookURL           = 2000
	MaxWebhookDescription   = 500
	// WebhookSecretBytes is the length of a signing key (Standard Webhooks
	// asks for 24 to 64 bytes).
	WebhookSecretBytes = 32
	// WebhookSecretPrefix starts every secret, as Standard Webhooks writes them.
	WebhookSecretPrefix = "whsec_"
)

// Webhook is an endpoint as its workspace sees it; the secret is only ever
// returned by CreateWebhook and RotateWebhookSecret.
type Webhook struct {
	ID          WebhookID
	Workspace   WorkspaceID
	URL         string
	Description string
	Types       []string
	Enabled     bool
	// DisabledReason is "gone" (the endpoint answered 410), "failing" (it
	// failed for WebhookFailingLimit) or "" (disabled by hand, or enabled).
	DisabledReason string
	FailingSince   time.Time // zero when the last attempt succeeded
	// PreviousSecretUntil is when the secret replaced by the last rotation
	// stops signing (zero when none does).
	PreviousSecretUntil time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Wants reports whether the endpoint subscribes to events of type t.
func (w *Webhook) Wants(t string) bool { return wantsType(w.Types, t) }

func wantsType(types []string, t string) bool {
	if t == EventWebhookTest {
		return true
	}
	for _, s := range types {
		if s == t || (s == EventNumberAll && strings.HasPrefix(t, "number.")) {
			return true
		}
	}
	return false
}

// NewWebhook is an endpoint to create.
type NewWebhook struct {
	URL         string
	Description string
	Types       []string
}

// WebhookPatch changes an endpoint; nil fields stay as they are.
// Enabling a disabled endpoint starts it from the feed as it is now: the
// events of the time it was disabled are not sent.
type WebhookPatch struct {
	URL         *string
	Description *string
	Types       []string
	Enabled     *bool
}

// CheckWebhookURL checks the form of an endpoint's URL: absolute http or
// https with a host, no user info or fragment, at most MaxWebhookURL
// bytes. Whether the host may be reached is the deliverer's to decide (at
// dial time).
func CheckWebhookURL(raw string) error {
	if raw == "" {
		return invalid("url is required")
	}
	if len(raw) > MaxWebhookURL {
		return invalid("url is longer than %d bytes", MaxWebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("url is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("url must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return invalid("url has no host")
	}
	if u.User != nil {
		return invalid("url must not carry credentials")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return invalid("url must not have a fragment")
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f {
			return invalid("url must not contain spaces or control characters")
		}
	}
	return nil
}

// checkWebhookTypes checks a subscription and returns it sorted, without
// duplicates.
func checkWebhookTypes(types []string) ([]string, error) {
	if len(types) == 0 {
		return nil, invalid("event_types must list at least one event type")
	}
	out := make([]string, 0, len(types))
	for _, t := range types {
		if !slices.Contains(WebhookEventTypes, t) {
			return nil, invalid("unknown event type %q (one of %s)", t, strings.Join(WebhookEventTypes, ", "))
		}
		out = append(out, t)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// NewWebhookSecret returns a fresh signing secret, whsec_ and base64 of
// WebhookSecretBytes random bytes.
func NewWebhookSecret() string {
	b := make([]byte, WebhookSecretBytes)
	rand.Read(b)
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b)
}

const webhookColumns = `id, workspace_id, url, description, event_types, enabled, coalesce(disabled_reason, ''),
	failing_since, CASE WHEN previous_until > now() THEN previous_until END, created_at, updated_at`

func scanWebhook(r pgx.Row, w *Webhook, extra ...any) error {
	var failing, prevUntil *time.Time
	err := r.Scan(append([]any{&w.ID, &w.Workspace, &w.URL, &w.Description, &w.Types, &w.Enabled, &w.DisabledReason,
		&failing, &prevUntil, &w.CreatedAt, &w.UpdatedAt}, extra...)...)
	w.FailingSince, w.PreviousSecretUntil = timeOrZero(failing), timeOrZero(prevUntil)
	return err
}

// feedStart returns cursors at the end of the change feed as of now: the
// message feed's (as ChangeCursor) and the number events' transaction.
func (s *Store) feedStart(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (string, uint64, error) {
	var h uint64
	if err := q.QueryRow(ctx, cursorSQL, micros(s.feedWait)).Scan(&h); err != nil {
		return "", 0, err
	}
	return encodeCursor(changeCursorKind, int64(h), 0), h, nil
}

// CreateWebhook registers an endpoint that receives the workspace's events
// of the given types from now on, and returns it with its signing secret
// (which no other call returns). Refusals: ErrInvalidArgument (bad URL,
// types, description, or MaxWebhooksPerWorkspace reached), ErrNotFound
// (no such workspace).
func (s *Store) CreateWebhook(ctx context.Context, ws WorkspaceID, nw NewWebhook) (Webhook, string, error) {
	if err := CheckWebhookURL(nw.URL); err != nil {
		return Webhook{}, "", err
	}
	if len(nw.Description) > MaxWebhookDescription {
		return Webhook{}, "", invalid("description is longer than %d bytes", MaxWebhookDescription)
	}
	types, err := checkWebhookTypes(nw.Types)
	if err != nil {
		return Webhook{}, "", err
	}
	secret := NewWebhookSecret()
	var w Webhook
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockWorkspace(ctx, tx, ws); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE workspace_id = $1`, ws).Scan(&n); err != nil {
			return err
		}
		if n >= MaxWebhooksPerWorkspace {
			return invalid("a workspace may have at most %d webhooks", MaxWebhooksPerWorkspace)
		}
		cursor, h, err := s.feedStart(ctx, tx)
		if err != nil {
			return err
		}
		return scanWebhook(tx.QueryRow(ctx, `
			INSERT INTO webhook_endpoints (workspace_id, url, description, event_types, secret, feed_cursor, number_xid)
			VALUES ($1, $2, $3, $4, $5, $6, $7::xid8)
			RETURNING `+webhookColumns, ws, nw.URL, nw.Description, types, secret, cursor, h), &w)
	})
	if err != nil {
		return Webhook{}, "", err
	}
	return w, secret, nil
}

// ListWebhooks returns a workspace's endpoints, oldest first.
func (s *Store) ListWebhooks(ctx context.Context, ws WorkspaceID) ([]Webhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhook_endpoints WHERE workspace_id = $1 ORDER BY id`, ws)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Webhook, error) {
		var w Webhook
		err := scanWebhook(r, &w)
		return w, err
	})
}

// GetWebhook returns one endpoint of the workspace (ErrNotFound for another
// workspace's).
func (s *Store) GetWebhook(ctx context.Context, ws WorkspaceID, id WebhookID) (Webhook, error) {
	var w Webhook
	err := scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhook_endpoints
		WHERE id = $1 AND workspace_id = $2`, id, ws), &w)
	if errors.Is(err, pgx.ErrNoRows) {
		return Webhook{}, ErrNotFound
	}
	return w, err
}

// UpdateWebhook changes an endpoint (see WebhookPatch).
func (s *Store) UpdateWebhook(ctx context.Context, ws WorkspaceID, id WebhookID, p WebhookPatch) (Webhook, error) {
	if p.URL != nil {
		if err := CheckWebhookURL(*p.URL); err != nil {
			return Webhook{}, err
		}
	}
	if p.Description != nil && len(*p.Description) > MaxWebhookDescription {
		return Webhook{}, invalid("description is longer than %d bytes", MaxWebhookDescription)
	}
	var types []string
	if p.Types != nil {
		var err error
		if types, err = checkWebhookTypes(p.Types); err != nil {
			return Webhook{}, err
		}
	}
	var w Webhook
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var enabled bool
		err := tx.QueryRow(ctx, `SELECT enabled FROM webhook_endpoints WHERE id = $1 AND workspace_id = $2 FOR UPDATE`, id, ws).Scan(&enabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var cursor *string
		var h *uint64
		if p.Enabled != nil && *p.Enabled && !enabled {
			c, x, err := s.feedStart(ctx, tx)
			if err != nil {
				return err
			}
			cursor, h = &c, &x
		}
		if p.Enabled != nil && !*p.Enabled && enabled {
			if _, err := tx.Exec(ctx, `UPDATE webhook_events SET state = 'failed', done_at = now()
				WHERE endpoint_id = $1 AND state = 'pending'`, id); err != nil {
				return err
			}
		}
		return scanWebhook(tx.QueryRow(ctx, `
			UPDATE webhook_endpoints SET
				url = coalesce($3, url), description = coalesce($4, description),
				event_types = coalesce($5, event_types), enabled = coalesce($6, enabled),
				disabled_reason = CASE WHEN $6::bool IS NOT NULL THEN NULL ELSE disabled_reason END,
				failing_since = CASE WHEN $7::text IS NOT NULL THEN NULL ELSE failing_since END,
				feed_cursor = coalesce($7, feed_cursor), number_xid = coalesce($8::xid8, number_xid),
				number_event = CASE WHEN $7::text IS NOT NULL THEN 0 ELSE number_event END,
				-- enabling or disabling hands the endpoint back: its deliverer
				-- (holding the old cursors) stops, the next claim starts afresh
				lease_owner = CASE WHEN $6::bool IS DISTINCT FROM NULL AND $6 <> enabled THEN NULL ELSE lease_owner END,
				lease_until = CASE WHEN $6::bool IS DISTINCT FROM NULL AND $6 <> enabled THEN NULL ELSE lease_until END,
				updated_at = now()
			WHERE id = $1 AND workspace_id = $2
			RETURNING `+webhookColumns, id, ws, p.URL, p.Description, types, p.Enabled, cursor, h), &w)
	})
	if err != nil {
		return Webhook{}, err
	}
	return w, nil
}

// DeleteWebhook removes an endpoint, its pending events and its log. The
// endpoint goes first: a deliverer recording into it (which holds its row)
// commits before, and the later statements, each with a fresh snapshot,
// delete what it wrote; a writer that comes after finds no endpoint and
// writes nothing (migration 0016).
func (s *Store) DeleteWebhook(ctx context.Context, ws WorkspaceID, id WebhookID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1 AND workspace_id = $2`, id, ws)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM webhook_events WHERE endpoint_id = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM webhook_attempts WHERE endpoint_id = $1`, id)
		return err
	})
}

// RotateWebhookSecret gives an endpoint a new secret and returns it; the
// current one keeps signing (a second signature on every delivery) for
// keepOld, so a receiver can switch over without losing an event.
func (s *Store) RotateWebhookSecret(ctx context.Context, ws WorkspaceID, id WebhookID, keepOld time.Duration) (Webhook, string, error) {
	secret := NewWebhookSecret()
	var w Webhook
	err := scanWebhook(s.pool.QueryRow(ctx, `
		UPDATE webhook_endpoints SET previous_secret = secret, secret = $3,
			previous_until = now() + $4::int8 * interval '1 microsecond', updated_at = now()
		WHERE id = $1 AND workspace_id = $2
		RETURNING `+webhookColumns, id, ws, secret, micros(keepOld)), &w)
	if errors.Is(err, pgx.ErrNoRows) {
		return Webhook{}, "", ErrNotFound
	}
	if err != nil {
		return Webhook{}, "", err
	}
	return w, secret, nil
}

// WebhookEvent is an event to deliver to one endpoint.
type WebhookEvent struct {
	ID   string // the webhook-id: the same for every attempt and replay
	Type string
	// Message is the message a message.status event is about: a newer one
	// supersedes a pending one of the same message (0 for other events).
	Message MessageID
	Body    []byte // the JSON payload, signed and sent as is
}

// QueueWebhookEvent adds one event to an endpoint's outbox, due now (test
// events). A disabled endpoint is ErrInvalidArgument.
func (s *Store) QueueWebhookEvent(ctx context.Context, ws WorkspaceID, id WebhookID, ev WebhookEvent) error {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO webhook_events (endpoint_id, event_id, type, body)
		SELECT id, $3, $4, $5 FROM webhook_endpoints WHERE id = $1 AND workspace_id = $2 AND enabled FOR KEY SHARE`,
		id, ws, ev.ID, ev.Type, ev.Body)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.GetWebhook(ctx, ws, id); err != nil {
			return err
		}
		return invalid("the webhook is disabled")
	}
	return nil
}

// ReplayWebhookEvent sends an event the endpoint was sent before (or is
// still trying to send) once more, due now, with the same id and body: a
// new entry of its outbox, retried like any other. A replayed status event
// may be older than one the receiver already has; the receiver compares
// status_at. ErrNotFound when the endpoint never had the event (events are
// kept for WebhookRetention).
func (s *Store) ReplayWebhookEvent(ctx context.Context, ws WorkspaceID, id WebhookID, eventID string) error {
	var enabled bool
	err := s.pool.QueryRow(ctx, `
		WITH ev AS (
			SELECT e.endpoint_id, e.event_id, e.type, e.body, w.enabled
			FROM webhook_events e JOIN webhook_endpoints w ON w.id = e.endpoint_id
			WHERE e.endpoint_id = $1 AND w.workspace_id = $2 AND e.event_id = $3
			ORDER BY e.id DESC LIMIT 1
			FOR KEY SHARE OF w
		), ins AS (
			INSERT INTO webhook_events (endpoint_id, event_id, type, body)
			SELECT endpoint_id, event_id, type, body FROM ev WHERE enabled
		)
		SELECT enabled FROM ev`, id, ws, eventID).Scan(&enabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if !enabled {
		return invalid("the webhook is disabled")
	}
	return nil
}

// WebhookAttempt is one delivery attempt, as the delivery log shows it.
type WebhookAttempt struct {
	ID         int64
	EventID    string
	At         time.Time
	HTTPStatus int // 0: no answer
	Latency    time.Duration
	Error      string
}

// WebhookAttempts returns an endpoint's delivery log, newest first.
func (s *Store) WebhookAttempts(ctx context.Context, ws WorkspaceID, id WebhookID, p Page) ([]WebhookAttempt, string, error) {
	before := int64(1<<63 - 1)
	if p.Cursor != "" {
		f, err := decodeCursor(p.Cursor, "wa", 1)
		if err != nil {
			return nil, "", err
		}
		before = f[0]
	}
	if _, err := s.GetWebhook(ctx, ws, id); err != nil {
		return nil, "", err
	}
	limit := p.limit()
	rows, err := s.pool.Query(ctx, `SELECT id, event_id, at, http_status, latency_us, error FROM webhook_attempts
		WHERE endpoint_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, id, before, limit+1)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WebhookAttempt, error) {
		var a WebhookAttempt
		var us int64
		err := r.Scan(&a.ID, &a.EventID, &a.At, &a.HTTPStatus, &us, &a.Error)
		a.Latency = time.Duration(us) * time.Microsecond
		return a, err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = encodeCursor("wa", list[limit-1].ID)
	}
	return list, next, nil
}

// WebhookTarget is an endpoint as its deliverer needs it: where to send,
// what, signed with which secrets, and where its feed cursors are.
type WebhookTarget struct {
	ID        WebhookID
	Workspace WorkspaceID
	URL       string
	Types     []string
	// Secrets sign each delivery: the current one, then the previous one
	// while a rotation keeps it valid.
	Secrets     []string
	FeedCursor  string
	NumberXid   uint64
	NumberEvent int64
}

// Wants reports whether the endpoint subscribes to events of type t.
func (t *WebhookTarget) Wants(typ string) bool { return wantsType(t.Types, typ) }

// ClaimWebhooks returns the enabled endpoints owner delivers for the next
// ttl: those it held already (renewed) and, up to max in all, those nobody
// holds or whose holder's lease ran out (a process that died). Several
// processes may call it at once: each endpoint goes to one.
func (s *Store) ClaimWebhooks(ctx context.Context, owner string, ttl time.Duration, max int) ([]WebhookTarget, error) {
	rows, err := s.pool.Query(ctx, `
		WITH mine AS (
			SELECT id FROM webhook_endpoints WHERE enabled AND lease_owner = $1
		), free AS (
			SELECT id FROM webhook_endpoints
			WHERE enabled AND (lease_until IS NULL OR lease_until < now()) AND lease_owner IS DISTINCT FROM $1
			ORDER BY id LIMIT greatest($3 - (SELECT count(*) FROM mine), 0)
			FOR UPDATE SKIP LOCKED
		)
		UPDATE webhook_endpoints w SET lease_owner = $1, lease_until = now() + $2::int8 * interval '1 microsecond'
		WHERE w.id IN (SELECT id FROM mine UNION ALL SELECT id FROM free)
		RETURNING `+webhookTargetColumns, owner, micros(ttl), max)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WebhookTarget, error) {
		var t WebhookTarget
		err := scanWebhookTarget(r, &t)
		return t, err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(list, func(a, b WebhookTarget) int { return int(a.ID - b.ID) })
	return list, nil
}

// webhookTargetColumns are a WebhookTarget's columns of webhook_endpoints w
// (scanWebhookTarget).
const webhookTargetColumns = `w.id, w.workspace_id, w.url, w.event_types, w.secret,
	CASE WHEN w.previous_until > now() THEN w.previous_secret END, w.feed_cursor, w.number_xid, w.number_event`

func scanWebhookTarget(r pgx.Row, t *WebhookTarget) error {
	var cur string
	var prev *string
	err := r.Scan(&t.ID, &t.Workspace, &t.URL, &t.Types, &cur, &prev, &t.FeedCursor, &t.NumberXid, &t.NumberEvent)
	t.Secrets = []string{cur}
	if prev != nil {
		t.Secrets = append(t.Secrets, *prev)
	}
	return err
}

// WebhookTarget returns an endpoint owner holds as it is now (its URL,
// types and secrets: a rotation, or an update, committed before the call
// shows), one primary-key read; the deliverer calls it before it sends a
// round, so a rotated secret signs the next delivery. ErrLeaseLost when
// owner no longer holds the endpoint (or it was disabled or deleted).
// Its cursors are the stored ones, which the holder's own run may be
// ahead of.
func (s *Store) WebhookTarget(ctx context.Context, id WebhookID, owner string) (WebhookTarget, error) {
	var t WebhookTarget
	err := scanWebhookTarget(s.pool.QueryRow(ctx, `SELECT `+webhookTargetColumns+` FROM webhook_endpoints w
		WHERE w.id = $1 AND w.lease_owner = $2 AND w.enabled`, id, owner), &t)
	if errors.Is(err, pgx.ErrNoRows) {
		return WebhookTarget{}, ErrLeaseLost
	}
	return t, err
}

// ReleaseWebhooks gives up owner's leases (at shutdown), so another
// process takes the endpoints over at once.
func (s *Store) ReleaseWebhooks(ctx context.Context, owner string) error {
	_, err := s.pool.Exec(ctx, `UPDATE webhook_endpoints SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1`, owner)
	return err
}

// NumberChange is one entry of a workspace's number events: a number
// connected, disabled, enabled or disconnected.
type NumberChange struct {
	Xid       uint64
	ID        int64
	Event     string // connected, disabled, enabled, disconnected
	At        time.Time
	Number    NumberID
	E164      string
	Kind      NumberKind
	RateClass string
}

// numberChangesSQL reads number_events after (xid, id) up to the feed's
// horizon (see Changes): in commit-safe order, like the message feed.
var numberChangesSQL = fmt.Sprintf(horizonCTE, 4) + `
SELECT e.change_xid, e.id, e.event, e.at, n.id, n.e164, n.kind, n.rate_class
FROM number_events e JOIN numbers n ON n.id = e.number_id
WHERE e.workspace_id = $1 AND e.change_xid IS NOT NULL
  AND (e.change_xid, e.id) > ($2::xid8, $3::int8)
  AND e.change_xid < (SELECT h FROM horizon)
  AND e.event IN ('connected', 'disabled', 'enabled', 'disconnected')
ORDER BY e.change_xid, e.id
LIMIT $5`

// NumberChanges returns a workspace's number events after (xid, id),
// oldest first, at most limit.
func (s *Store) NumberChanges(ctx context.Context, ws WorkspaceID, xid uint64, id int64, limit int) ([]NumberChange, error) {
	rows, err := s.pool.Query(ctx, numberChangesSQL, ws, xid, id, micros(s.feedWait), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (NumberChange, error) {
		var c NumberChange
		err := r.Scan(&c.Xid, &c.ID, &c.Event, &c.At, &c.Number, &c.E164, &c.Kind, &c.RateClass)
		return c, err
	})
}

// WebhookCursors are where an endpoint's reading of the feed stands.
type WebhookCursors struct {
	Feed        string
	NumberXid   uint64
	NumberEvent int64
}

// recordWebhookBatchSQL is RecordWebhookBatch's one statement. ep moves
// the cursors only while $2 holds the endpoint, and locks its row; every
// other part reads ep, so nothing is written without it. sup supersedes
// the pending events of the batch's messages before ins adds theirs (ins
// reads sup's count, so sup has run to its end before ins writes a row:
// the one pending event per message and endpoint of webhook_events_message
// holds). log is the delivery log, one row per attempt.
const recordWebhookBatchSQL = `
WITH ep AS (
    UPDATE webhook_endpoints SET feed_cursor = $3, number_xid = $4::xid8, number_event = $5,
        failing_since = CASE WHEN $6 THEN NULL WHEN $7 THEN coalesce(failing_since, now()) ELSE failing_since END
    WHERE id = $1 AND lease_owner = $2 AND enabled
    RETURNING id, failing_since
), sup AS (
    UPDATE webhook_events e SET state = 'superseded', done_at = now()
    FROM ep
    WHERE e.endpoint_id = ep.id AND e.state = 'pending' AND e.message_id = ANY($8::int8[])
    RETURNING 1
), ins AS (
    INSERT INTO webhook_events (endpoint_id, event_id, type, message_id, body, state, attempts, next_attempt_at, done_at)
    SELECT ep.id, e.id, e.type, e.msg, e.body, e.state, 1, coalesce(e.next, now()),
           CASE WHEN e.state = 'pending' THEN NULL ELSE now() END
    FROM ep, (SELECT count(*) FROM sup) s,
         unnest($9::text[], $10::text[], $11::int8[], $12::bytea[], $13::text[], $14::timestamptz[])
             AS e(id, type, msg, body, state, next)
), log AS (
    INSERT INTO webhook_attempts (endpoint_id, event_id, http_status, latency_us, error)
    SELECT ep.id, a.* FROM ep, unnest($9::text[], $15::int4[], $16::int8[], $17::text[]) AS a
)
SELECT failing_since FROM ep`

// RecordWebhookBatch records events made from the feed that the deliverer
// sent at once, before writing them (results[i] is the attempt at evs[i]),
// and moves the endpoint's feed cursors past them, in one statement: each
// event goes into the outbox already in its state after that attempt
// (delivered; pending with its next attempt; failed), with its attempt in
// the delivery log, and a message's event supersedes its pending one. So a
// delivered event costs one outbox row and one log row, and a round one
// statement, not an insert, an update and a log row per event. A crash
// before the commit leaves the cursors where they were: the events are
// made again from the same changes (same ids) and sent again (at least
// once). It returns since when the endpoint has been failing, like
// RecordWebhookAttempts. ErrLeaseLost when owner no longer holds the
// endpoint (or it was disabled or deleted): nothing is written, and the
// holder sends the events again.
func (s *Store) RecordWebhookBatch(ctx context.Context, id WebhookID, owner string, evs []WebhookEvent, results []WebhookResult, to WebhookCursors) (time.Time, error) {
	if len(results) != len(evs) {
		return time.Time{}, invalid("a result for each event")
	}
	n := len(evs)
	ids, types, bodies := make([]string, n), make([]string, n), make([][]byte, n)
	msgs := make([]*int64, n)
	states, next := make([]string, n), make([]*time.Time, n)
	statuses, lat, errs := make([]int32, n), make([]int64, n), make([]string, n)
	supersede := make([]int64, 0, n)
	ok := false
	for i, ev := range evs {
		r := &results[i]
		ids[i], types[i], bodies[i] = ev.ID, ev.Type, ev.Body
		statuses[i], lat[i], errs[i] = int32(r.HTTPStatus), r.Latency.Microseconds(), r.Error
		if ev.Message != 0 {
			m := int64(ev.Message)
			msgs[i] = &m
			supersede = append(supersede, m)
		}
		switch {
		case r.Delivered:
			states[i], ok = "delivered", true
		case r.NextAttempt.IsZero():
			states[i] = "failed"
		default:
			states[i], next[i] = "pending", &r.NextAttempt
		}
	}
	var since *time.Time
	err := retry(ctx, func() error {
		// The cursors move, and failing_since follows the attempts (none:
		// unchanged), only while owner holds the endpoint.
		return s.pool.QueryRow(ctx, recordWebhookBatchSQL, id, owner, to.Feed, to.NumberXid, to.NumberEvent,
			ok, n > 0 && !ok, supersede, ids, types, msgs, bodies, states, next, statuses, lat, errs).Scan(&since)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, ErrLeaseLost
	}
	if err != nil {
		return time.Time{}, err
	}
	return timeOrZero(since), nil
}

// PendingWebhookEvent is an event due for delivery.
type PendingWebhookEvent struct {
	Row       int64 // the outbox entry
	ID        string
	Type      string
	Body      []byte
	Attempts  int // made so far
	CreatedAt time.Time
}

// DueWebhookEvents returns up to limit of an endpoint's pending events
// whose next attempt is due, oldest first, and when the next one not yet
// due is (zero when none is pending).
func (s *Store) DueWebhookEvents(ctx context.Context, id WebhookID, limit int) ([]PendingWebhookEvent, time.Time, error) {
	rows, err := s.pool.Query(ctx, `
		(SELECT id, event_id, type, body, attempts, created_at, next_attempt_at FROM webhook_events
		 WHERE endpoint_id = $1 AND state = 'pending' AND next_attempt_at <= now()
		 ORDER BY next_attempt_at, id LIMIT $2)
		UNION ALL
		(SELECT 0, '', '', ''::bytea, 0, now(), next_attempt_at FROM webhook_events
		 WHERE endpoint_id = $1 AND state = 'pending' AND next_attempt_at > now()
		 ORDER BY next_attempt_at LIMIT 1)`, id, limit)
	if err != nil {
		return nil, time.Time{}, err
	}
	var next time.Time
	var out []PendingWebhookEvent
	for rows.Next() {
		var e PendingWebhookEvent
		var at time.Time
		if err := rows.Scan(&e.Row, &e.ID, &e.Type, &e.Body, &e.Attempts, &e.CreatedAt, &at); err != nil {
			rows.Close()
			return nil, time.Time{}, err
		}
		if e.Row == 0 {
			next = at
			continue
		}
		out = append(out, e)
	}
	return out, next, rows.Err()
}

// WebhookResult is the outcome of one attempt to deliver an outbox entry.
type WebhookResult struct {
	Row        int64
	EventID    string
	HTTPStatus int // 0: no answer
	Latency    time.Duration
	Error      string
	// Delivered: the receiver answered 2xx. Otherwise NextAttempt is when
	// to try again, or zero to give up on the event (failed).
	Delivered   bool
	NextAttempt time.Time
}

// recordWebhookAttemptsSQL is RecordWebhookAttempts' one statement: ep
// locks the endpoint's row (nothing is written for a deleted endpoint),
// upd moves the outbox entries on, log adds the attempts.
const recordWebhookAttemptsSQL = `
WITH ep AS (
    UPDATE webhook_endpoints SET failing_since = CASE WHEN $2 THEN NULL ELSE coalesce(failing_since, now()) END
    WHERE id = $1
    RETURNING id, failing_since
), upd AS (
    UPDATE webhook_events e SET state = r.state, attempts = e.attempts + 1,
        next_attempt_at = CASE WHEN r.state = 'pending' THEN r.next ELSE e.next_attempt_at END,
        done_at = CASE WHEN r.state = 'pending' THEN NULL ELSE now() END
    FROM ep, unnest($3::int8[], $4::text[], $5::timestamptz[]) AS r(id, state, next)
    WHERE e.id = r.id AND e.endpoint_id = ep.id AND e.state = 'pending'
), log AS (
    INSERT INTO webhook_attempts (endpoint_id, event_id, http_status, latency_us, error)
    SELECT ep.id, a.* FROM ep, unnest($6::text[], $7::int4[], $8::int8[], $9::text[]) AS a
)
SELECT failing_since FROM ep`

// RecordWebhookAttempts logs attempts and updates their outbox entries, in
// one statement, and returns since when the endpoint has been failing
// (zero if some attempt succeeded, or it was not failing). It records
// whatever lease the caller holds: an attempt was made either way. For an
// endpoint deleted meanwhile it records nothing.
func (s *Store) RecordWebhookAttempts(ctx context.Context, id WebhookID, rs []WebhookResult) (time.Time, error) {
	n := len(rs)
	rowIDs, statuses, lat := make([]int64, n), make([]int32, n), make([]int64, n)
	evIDs, errs, states := make([]string, n), make([]string, n), make([]string, n)
	next := make([]time.Time, n)
	ok := false
	for i, r := range rs {
		rowIDs[i], evIDs[i], statuses[i], lat[i], errs[i] = r.Row, r.EventID, int32(r.HTTPStatus), r.Latency.Microseconds(), r.Error
		switch {
		case r.Delivered:
			states[i], ok = "delivered", true
		case r.NextAttempt.IsZero():
			states[i] = "failed"
		default:
			states[i], next[i] = "pending", r.NextAttempt
		}
	}
	var since *time.Time
	err := retry(ctx, func() error {
		return s.pool.QueryRow(ctx, recordWebhookAttemptsSQL, id, ok, rowIDs, states, next, evIDs, statuses, lat, errs).Scan(&since)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil // deleted meanwhile
	}
	return timeOrZero(since), err
}

// DisableWebhook turns an endpoint off for reason ("gone", "failing"),
// fails its pending events, and queues notice (a webhook.disabled event,
// built by the caller for the endpoint's workspace) to every other enabled
// endpoint of the workspace that subscribes to webhook.disabled. It
// reports whether it disabled the endpoint (false: already disabled or
// deleted).
func (s *Store) DisableWebhook(ctx context.Context, id WebhookID, reason string, notice func(Webhook) WebhookEvent) (bool, error) {
	done := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var w Webhook
		err := scanWebhook(tx.QueryRow(ctx, `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2,
				lease_owner = NULL, lease_until = NULL, updated_at = now()
			WHERE id = $1 AND enabled RETURNING `+webhookColumns, id, reason), &w)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		done = true
		if _, err := tx.Exec(ctx, `UPDATE webhook_events SET state = 'failed', done_at = now()
			WHERE endpoint_id = $1 AND state = 'pending'`, id); err != nil {
			return err
		}
		if notice == nil {
			return nil
		}
		ev := notice(w)
		_, err = tx.Exec(ctx, `INSERT INTO webhook_events (endpoint_id, event_id, type, body)
			SELECT id, $3, $4, $5 FROM webhook_endpoints
			WHERE workspace_id = $1 AND id <> $2 AND enabled AND $4 = ANY(event_types) FOR KEY SHARE`,
			w.Workspace, id, ev.ID, ev.Type, ev.Body)
		return err
	})
	return done, err
}

// PruneWebhooks deletes finished outbox entries and log rows older than
// olderThan, and returns how many rows it deleted.
func (s *Store) PruneWebhooks(ctx context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, invalid("prune webhooks needs a positive age")
	}
	a, err := s.pool.Exec(ctx, `DELETE FROM webhook_events WHERE created_at < now() - $1::int8 * interval '1 microsecond'
		AND state <> 'pending'`, micros(olderThan))
	if err != nil {
		return 0, err
	}
	b, err := s.pool.Exec(ctx, `DELETE FROM webhook_attempts WHERE at < now() - $1::int8 * interval '1 microsecond'`, micros(olderThan))
	if err != nil {
		return 0, err
	}
	return a.RowsAffected() + b.RowsAffected(), nil
}
