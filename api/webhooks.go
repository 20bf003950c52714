package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/webhook"
)

// Webhooks (/v1/webhooks): a workspace registers endpoints and the event
// types each receives; the engine delivers them signed (package webhook).
// Managing endpoints needs the settings scope; subscribing to message
// events also needs the messages scope (they carry the conversations),
// as the event stream does.

// WebhookStore is what the webhook routes need of the inbox;
// *inbox.Store implements it. Config.Store is used when it does.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, ws inbox.WorkspaceID, nw inbox.NewWebhook) (inbox.Webhook, string, error)
	ListWebhooks(ctx context.Context, ws inbox.WorkspaceID) ([]inbox.Webhook, error)
	GetWebhook(ctx context.Context, ws inbox.WorkspaceID, id inbox.WebhookID) (inbox.Webhook, error)
	UpdateWebhook(ctx context.Context, ws inbox.WorkspaceID, id inbox.WebhookID, p inbox.WebhookPatch) (inbox.Webhook, error)
	DeleteWebhook(ctx context.Context, ws inbox.WorkspaceID, id inbox.WebhookID) error
	RotateWebhookSecret(ctx context.Context, ws inbox.WorkspaceID, id inbox.WebhookID, keepOld time.Duration) (inbox.Webhook, string, error)
	QueueWebhookEvent(ctx context.Context, ws inbox.WorkspaceID, id inbox.WebhookID, ev inbox.WebhookEvent) error
	ReplayWebhookEvent(ctx context.Context, ws inbox.WorkspaceID, id inbox.WebhookID, eventID string) error
	WebhookAttempts(ctx context.Context, ws inbox.WorkspaceID, id inbox.WebhookID, p inbox.Page) ([]inbox.WebhookAttempt, string, error)
}

var _ WebhookStore = (*inbox.Store)(nil)

// SecretOverlap is how long a rotated-out secret keeps signing.
const SecretOverlap = 24 * time.Hour

var errWebhooksOff = errorf(http.StatusServiceUnavailable, codeUnavailable, "webhooks are not available on this server")

// webhookView is an endpoint as the API shows it (never its secret).
type webhookView struct {
	ID                      string     `json:"id"`
	URL                     string     `json:"url"`
	Description             string     `json:"description"`
	EventTypes              []string   `json:"event_types"`
	Enabled                 bool       `json:"enabled"`
	DisabledReason          *string    `json:"disabled_reason"`
	FailingSince            *time.Time `json:"failing_since"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// webhookWithSecret is the answer of create and rotate: the secret is
// shown this once.
type webhookWithSecret struct {
	webhookView
	Secret string `json:"secret"`
}

func webhookOf(w *inbox.Webhook) webhookView {
	v := webhookView{
		ID: idString(int64(w.ID)), URL: w.URL, Description: w.Description, EventTypes: w.Types, Enabled: w.Enabled,
		FailingSince: utc(w.FailingSince), PreviousSecretExpiresAt: utc(w.PreviousSecretUntil),
		CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(),
	}
	if v.EventTypes == nil {
		v.EventTypes = []string{}
	}
	if !w.Enabled {
		r := w.DisabledReason
		if r == "" {
			r = "manual"
		}
		v.DisabledReason = &r
	}
	return v
}

type attemptView struct {
	ID         string    `json:"id"`
	EventID    string    `json:"event_id"`
	At         time.Time `json:"at"`
	HTTPStatus *int      `json:"http_status"`
	LatencyMs  float64   `json:"latency_ms"`
	Error      *string   `json:"error"`
}

type createWebhookRequest struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	EventTypes  []string `json:"event_types"`
}

type patchWebhookRequest struct {
	URL         *string  `json:"url"`
	Description *string  `json:"description"`
	EventTypes  []string `json:"event_types"`
	Enabled     *bool    `json:"enabled"`
}

// webhookStore returns the store of the webhook routes.
func (c *call) webhookStore() (WebhookStore, error) {
	ws, ok := c.s.cfg.Store.(WebhookStore)
	if !ok {
		return nil, errWebhooksOff
	}
	return ws, nil
}

// checkWebhookTarget refuses a URL the engine would not deliver to, and
// message subscriptions of a token without the messages scope.
func (c *call) checkWebhookTarget(url *string, types []string) error {
	if url != nil {
		if err := inbox.CheckWebhookURL(*url); err != nil {
			return err
		}
		g := c.s.cfg.WebhookGuard
		if g == nil {
			g = &webhook.Guard{}
		}
		if err := g.CheckURL(*url); err != nil {
			return errorf(http.StatusUnprocessableEntity, codeWebhookTarget,
				"url points at an address webhooks may not reach (loopback, private or reserved): %v", err)
		}
	}
	for _, t := range types {
		if (t == inbox.EventMessageStatus || t == inbox.EventMessageReceived) && !c.auth.Has(inbox.ScopeMessages) {
			return errForbidden(inbox.ScopeMessages)
		}
	}
	return nil
}

func (c *call) webhookID() (inbox.WebhookID, error) {
	id, err := c.pathID("id")
	return inbox.WebhookID(id), err
}

// webhookOfPath is the store and the endpoint id of the routes under
// /v1/webhooks/{id}.
func (c *call) webhookOfPath() (WebhookStore, inbox.WebhookID, error) {
	st, err := c.webhookStore()
	if err != nil {
		return nil, 0, err
	}
	id, err := c.webhookID()
	return st, id, err
}

// createWebhook: POST /v1/webhooks.
func (c *call) createWebhook() error {
	st, err := c.webhookStore()
	if err != nil {
		return err
	}
	var body createWebhookRequest
	if err := c.decodeBody(&body, false); err != nil {
		return err
	}
	if err := c.checkWebhookTarget(&body.URL, body.EventTypes); err != nil {
		return err
	}
	w, secret, err := st.CreateWebhook(c.ctx, c.ws, inbox.NewWebhook{URL: body.URL, Description: body.Description, Types: body.EventTypes})
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", "/v1/webhooks/"+idString(int64(w.ID)))
	return c.json(http.StatusCreated, webhookWithSecret{webhookView: webhookOf(&w), Secret: secret})
}

// listWebhooks: GET /v1/webhooks.
func (c *call) listWebhooks() error {
	st, err := c.webhookStore()
	if err != nil {
		return err
	}
	list, err := st.ListWebhooks(c.ctx, c.ws)
	if err != nil {
		return err
	}
	out := make([]webhookView, len(list))
	for i := range list {
		out[i] = webhookOf(&list[i])
	}
	return c.json(http.StatusOK, map[string]any{"webhooks": out})
}

// getWebhook: GET /v1/webhooks/{id}.
func (c *call) getWebhook() error {
	st, id, err := c.webhookOfPath()
	if err != nil {
		return err
	}
	w, err := st.GetWebhook(c.ctx, c.ws, id)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, webhookOf(&w))
}

// updateWebhook: PATCH /v1/webhooks/{id}.
func (c *call) updateWebhook() error {
	st, id, err := c.webhookOfPath()
	if err != nil {
		return err
	}
	var body patchWebhookRequest
	if err := c.decodeBody(&body, false); err != nil {
		return err
	}
	if body.EventTypes != nil && len(body.EventTypes) == 0 {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "event_types must list at least one event type")
	}
	if err := c.checkWebhookTarget(body.URL, body.EventTypes); err != nil {
		return err
	}
	w, err := st.UpdateWebhook(c.ctx, c.ws, id, inbox.WebhookPatch{URL: body.URL, Description: body.Description,
		Types: body.EventTypes, Enabled: body.Enabled})
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, webhookOf(&w))
}

// deleteWebhook: DELETE /v1/webhooks/{id}.
func (c *call) deleteWebhook() error {
	st, id, err := c.webhookOfPath()
	if err != nil {
		return err
	}
	if err := st.DeleteWebhook(c.ctx, c.ws, id); err != nil {
		return err
	}
	return c.noContent()
}

// rotateWebhookSecret: POST /v1/webhooks/{id}/rotate-secret.
func (c *call) rotateWebhookSecret() error {
	st, id, err := c.webhookOfPath()
	if err != nil {
		return err
	}
	if err := c.decodeBody(&struct{}{}, true); err != nil {
		return err
	}
	w, secret, err := st.RotateWebhookSecret(c.ctx, c.ws, id, SecretOverlap)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, webhookWithSecret{webhookView: webhookOf(&w), Secret: secret})
}

// testWebhook: POST /v1/webhooks/{id}/test: a webhook.test event, queued
// for delivery now.
func (c *call) testWebhook() error {
	st, id, err := c.webhookOfPath()
	if err != nil {
		return err
	}
	if err := c.decodeBody(&struct{}{}, true); err != nil {
		return err
	}
	evID := webhook.NewEventID("t")
	now := time.Now()
	body, err := webhook.Body(evID, inbox.EventWebhookTest, now, map[string]any{"webhook_id": idString(int64(id))})
	if err != nil {
		return err
	}
	if err := st.QueueWebhookEvent(c.ctx, c.ws, id, inbox.WebhookEvent{ID: evID, Type: inbox.EventWebhookTest, Body: body}); err != nil {
		return webhookDisabledConflict(err)
	}
	c.s.notify()
	return c.json(http.StatusAccepted, map[string]any{"event_id": evID})
}

// replayWebhookEvent: POST /v1/webhooks/{id}/events/{event_id}/replay.
func (c *call) replayWebhookEvent() error {
	st, id, err := c.webhookOfPath()
	if err != nil {
		return err
	}
	ev := c.r.PathValue("event_id")
	if ev == "" || len(ev) > 200 {
		return errNotFound
	}
	if err := c.decodeBody(&struct{}{}, true); err != nil {
		return err
	}
	if err := st.ReplayWebhookEvent(c.ctx, c.ws, id, ev); err != nil {
		return webhookDisabledConflict(err)
	}
	c.s.notify()
	return c.json(http.StatusAccepted, map[string]any{"event_id": ev})
}

// webhookDisabledConflict answers an event for a disabled endpoint with 409.
func webhookDisabledConflict(err error) error {
	if errors.Is(err, inbox.ErrInvalidArgument) {
		return errorf(http.StatusConflict, codeWebhookDisabled, "the webhook is disabled: enable it with PATCH /v1/webhooks/{id}")
	}
	return err
}

// listWebhookAttempts: GET /v1/webhooks/{id}/attempts, the delivery log,
// newest first.
func (c *call) listWebhookAttempts() error {
	st, id, err := c.webhookOfPath()
	if err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	list, next, err := st.WebhookAttempts(c.ctx, c.ws, id, p)
	if err != nil {
		return err
	}
	out := make([]attemptView, len(list))
	for i, a := range list {
		v := attemptView{ID: idString(a.ID), EventID: a.EventID, At: a.At.UTC(), LatencyMs: ms(a.Latency), Error: orNull(a.Error)}
		if a.HTTPStatus != 0 {
			s := a.HTTPStatus
			v.HTTPStatus = &s
		}
		out[i] = v
	}
	return c.json(http.StatusOK, map[string]any{"attempts": out, "next_cursor": orNull(next)})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WebhookViews are the objects of webhook events, the same the API shows:
// message.status carries the message as GET /v1/threads/{id}/messages
// lists it (and the carrier's error), message.received the message and its
// thread, number.* the number as GET /v1/sms/numbers shows it, number
// request events the request, quota.threshold the cap reached (as the
// event stream sends it), webhook.disabled the endpoint. Queued and
// sending statuses make no event (the tenant's own request answered them).
func WebhookViews() webhook.Views {
	return webhook.Views{Change: webhookChange, Number: webhookNumber, Endpoint: func(w *inbox.Webhook) any { return webhookOf(w) }}
}

// receivedData is the data of message.received.
type receivedData struct {
	messageSummary
	Thread receivedThread `json:"thread"`
}

type receivedThread struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`
	Number  string `json:"number"`
	Contact string `json:"contact"`
}

func webhookChange(ch *inbox.Change) (string, any) {
	if ch.Kind == inbox.ChangeQuota {
		if ch.Quota == nil {
			return "", nil
		}
		return inbox.EventQuotaThreshold, quotaEventOf(ch.Quota)
	}
	if ch.Kind == inbox.ChangeRequest {
		if ch.Request == nil {
			return "", nil
		}
		switch ch.Request.Status {
		case inbox.RequestFulfilled:
			return inbox.EventNumberRequestFulfilled, requestOf(ch.Request)
		case inbox.RequestDeclined:
			return inbox.EventNumberRequestDeclined, requestOf(ch.Request)
		}
		return "", nil
	}
	if ch.Direction == inbox.DirectionIn {
		ev := messageEventOf(ch)
		return inbox.EventMessageReceived, receivedData{messageSummary: ev.messageSummary,
			Thread: receivedThread{ID: idString(int64(ch.Thread)), Channel: "sms", Number: ch.To, Contact: ch.From}}
	}
	switch ch.Status {
	case inbox.StatusSubmitted, inbox.StatusDelivered, inbox.StatusFailed, inbox.StatusExpired, inbox.StatusRejected:
		return inbox.EventMessageStatus, messageEventOf(ch)
	}
	return "", nil
}

func webhookNumber(n *inbox.NumberChange) any {
	// The number's state in the workspace after the event.
	state := map[string]inbox.ConnectionState{"connected": inbox.Connected, "enabled": inbox.Connected,
		"disabled": inbox.Disabled, "disconnected": inbox.Available}[n.Event]
	return numberView{Number: n.E164, Kind: string(n.Kind), RateClass: n.RateClass, State: string(state)}
}
