package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// maxClientRef is the longest client_ref the inbox keeps.
const maxClientRef = 255

type sendRequest struct {
	To        string          `json:"to"`
	Text      json.RawMessage `json:"text"`
	ClientRef string          `json:"client_ref"`
	From      string          `json:"from"`
	// SendAt schedules the message (RFC 3339, at most 35 days ahead; a
	// time already past sends at once).
	SendAt string `json:"send_at"`
	// Validity is how long after its send time the message may still go
	// out, in seconds (60 to 36000); absent: the engine's message TTL.
	Validity *json.Number `json:"validity"`
	// SmartEncoding replaces the text's GSM-7 look-alikes (true) or not
	// (false); absent or null: the workspace's default.
	SmartEncoding *bool `json:"smart_encoding"`
}

// sendMessage: POST /v1/messages.
func (c *call) sendMessage() error {
	body, err := c.readBody()
	if err != nil {
		return err
	}
	smart, err := c.s.smartDefault(c.ctx, c.ws)
	if err != nil {
		return err
	}
	o, err := parseOutgoing(body, smart)
	if err != nil {
		return err
	}
	if _, err := c.takeMessages(1); err != nil {
		return err
	}
	res, err := c.s.batch.enqueue(c.ctx, o.request(c.ws))
	if err != nil {
		return err
	}
	a, err := c.answer(&o, res)
	if err != nil {
		return err
	}
	if a.status == http.StatusOK {
		c.w.Header().Set("Idempotent-Replayed", "true")
	}
	return c.json(a.status, a.body)
}

// outgoing is one message as POST /v1/messages takes it (its whole body;
// one item of POST /v1/messages/batch), checked, with the text as sent
// (smart encoding applied), its encoding and billed segments.
type outgoing struct {
	sendRequest
	text     string // as sent
	written  string // as the request wrote it
	enc      coding.Encoding
	segments int
	smart    smartView
	sendAt   time.Time
	validity time.Duration
}

// smartView is what smart encoding did to a message (docs/encoding.md).
type smartView struct {
	// Enabled: smart encoding was on for the message (the request's
	// smart_encoding, else the workspace's default).
	Enabled bool `json:"enabled"`
	// Applied: the text was substituted; the message's text is the result.
	Applied bool `json:"applied"`
	// Replaced is how many characters were replaced.
	Replaced int `json:"replaced"`
	// SegmentsSaved is how many segments fewer the text as sent costs than
	// the text as written.
	SegmentsSaved int `json:"segments_saved"`
}

// parseOutgoing decodes and checks one message; smartDefault is the
// workspace's smart encoding default, for a request that does not say.
// Its errors are the answers of POST /v1/messages.
func parseOutgoing(body []byte, smartDefault bool) (outgoing, error) {
	var o outgoing
	// The text is checked on its own first: text that is not valid UTF-8
	// (or a lone surrogate escape, which encoding/json would silently
	// replace) is 422 invalid_text, not a malformed request.
	if err := decodeStrict(body, &o.sendRequest, false); err != nil {
		if !utf8.Valid(body) {
			var loose struct {
				Text json.RawMessage `json:"text"`
			}
			if json.Unmarshal(body, &loose) == nil && len(loose.Text) > 0 && !utf8.Valid(loose.Text) {
				return o, errorf(http.StatusUnprocessableEntity, codeInvalidText, "text is not valid UTF-8")
			}
		}
		return o, err
	}
	text, err := decodeText(o.Text)
	if err != nil {
		return o, err
	}
	switch {
	case strings.TrimSpace(o.To) == "":
		return o, errorf(http.StatusBadRequest, codeInvalidRequest, "to is required")
	case len(o.ClientRef) > maxClientRef:
		return o, errorf(http.StatusBadRequest, codeInvalidRequest, "client_ref is longer than %d bytes", maxClientRef)
	}
	if o.sendAt, o.validity, err = parseSchedule(o.SendAt, o.Validity, time.Now()); err != nil {
		return o, err
	}
	smart := smartDefault
	if o.SmartEncoding != nil {
		smart = *o.SmartEncoding
	}
	p, err := coding.Prepare(text, coding.UDH8, smart)
	if err != nil && !errors.Is(err, coding.ErrTooManyParts) {
		return o, errorf(http.StatusUnprocessableEntity, codeInvalidText, "text cannot be encoded: %v", err)
	}
	// More than MaxSegments is refused by the inbox, after the add-on
	// check and the idempotency lookup, like its other rules.
	o.text, o.written, o.enc, o.segments = p.Text, text, p.Encoding, p.Segments
	o.smart = smartView{Enabled: smart, Applied: p.Replaced > 0, Replaced: p.Replaced, SegmentsSaved: p.SegmentsSaved}
	return o, nil
}

// request is what the inbox is asked to store for o.
func (o *outgoing) request(ws inbox.WorkspaceID) inbox.OutboundRequest {
	return inbox.OutboundRequest{
		Workspace: ws, From: o.From, To: o.To, Body: o.text,
		Encoding: o.enc.String(), Segments: o.segments, IdempotencyKey: o.ClientRef,
		SendAt: o.sendAt, Validity: o.validity,
	}
}

// parseSchedule checks send_at and validity: send_at an RFC 3339 time at
// most inbox.MaxScheduleAhead after now ("" or a past time: at once),
// validity a whole number of seconds from inbox.MinValidity to
// inbox.MaxValidity (nil: the engine's message TTL). Its errors are 400
// invalid_request naming the field.
func parseSchedule(sendAt string, validity *json.Number, now time.Time) (time.Time, time.Duration, error) {
	var at time.Time
	if sendAt != "" {
		t, err := time.Parse(time.RFC3339Nano, sendAt)
		if err != nil {
			return at, 0, errorf(http.StatusBadRequest, codeInvalidRequest,
				"send_at must be an RFC 3339 time such as 2030-01-02T09:00:00Z, not %q", sendAt)
		}
		if t.After(now.Add(inbox.MaxScheduleAhead)) {
			return at, 0, errorf(http.StatusBadRequest, codeInvalidRequest,
				"send_at may be at most %d days ahead", int(inbox.MaxScheduleAhead/(24*time.Hour)))
		}
		at = t
	}
	if validity == nil {
		return at, 0, nil
	}
	lo, hi := int64(inbox.MinValidity/time.Second), int64(inbox.MaxValidity/time.Second)
	v, err := validity.Int64()
	if err != nil || v < lo || v > hi {
		return at, 0, errorf(http.StatusBadRequest, codeInvalidRequest,
			"validity must be a whole number of seconds from %d to %d, not %s", lo, hi, validity.String())
	}
	return at, time.Duration(v) * time.Second, nil
}

// sent is the success answer of POST /v1/messages: 202 and the new
// message, or 200 and the earlier message of a repeated client_ref.
type sent struct {
	status int
	body   sendResponse
}

// answer turns the inbox's result for o into the answer of
// POST /v1/messages: a refusal is an error, a repeated client_ref reads
// the first message as it is now.
func (c *call) answer(o *outgoing, res inbox.EnqueueResult) (sent, error) {
	if res.Err != nil {
		return sent{}, res.Err
	}
	if !res.Duplicate {
		st := inbox.StatusQueued
		var sendAt *time.Time
		if res.Scheduled {
			st, sendAt = inbox.StatusScheduled, utc(o.sendAt)
		}
		smart := o.smart
		return sent{http.StatusAccepted, sendResponse{
			ID: idString(int64(res.ID)), ThreadID: idString(int64(res.Thread)), Status: string(st),
			To: res.To, From: res.From, Text: o.text, Segments: o.segments, Encoding: encodingName(o.enc.String()),
			ClientRef: o.ClientRef, SendAt: sendAt, SmartEncoding: &smart,
		}}, nil
	}
	m, err := c.s.store.GetMessage(c.ctx, c.ws, res.ID)
	if err != nil {
		return sent{}, err
	}
	if to, _ := inbox.NormalizeE164(o.To); !sameText(m.Body, o) || (to != "" && to != m.To) ||
		(o.From != "" && normalizedOr(o.From) != m.From) {
		return sent{}, errorf(http.StatusConflict, codeClientRefConflict,
			"client_ref was used for message %d with another recipient, sender or text", m.ID)
	}
	return sent{http.StatusOK, sendResponse{
		ID: idString(int64(m.ID)), ThreadID: idString(int64(m.Thread)), Status: string(m.Status), To: m.To,
		From: m.From, Text: m.Body, Segments: m.Segments, Encoding: encodingName(m.Encoding), ClientRef: m.IdempotencyKey,
		SendAt: utc(m.SendAt),
	}}, nil
}

// sameText reports whether a stored message's text is o's: as written, or
// as smart encoding substitutes it (whether or not it was on for either
// request: the workspace's default may have changed since).
func sameText(stored string, o *outgoing) bool {
	if stored == o.text || stored == o.written {
		return true
	}
	sub, n := coding.Substitute(o.written)
	return n > 0 && stored == sub
}

func normalizedOr(s string) string {
	if n, ok := inbox.NormalizeE164(s); ok {
		return n
	}
	return s
}

// decodeText reads the text field: a non-empty JSON string of valid
// Unicode. encoding/json turns invalid UTF-8 and lone surrogate escapes
// ("\ud800") into U+FFFD without a word; here they are 422 invalid_text.
func decodeText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", errorf(http.StatusBadRequest, codeInvalidRequest, "text is required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errorf(http.StatusBadRequest, codeInvalidRequest, "text must be a string")
	}
	if !utf8.Valid(raw) || strings.Count(s, "\uFFFD") > replacementsWritten(raw) {
		return "", errorf(http.StatusUnprocessableEntity, codeInvalidText, "text is not valid Unicode (invalid UTF-8 or a lone surrogate)")
	}
	if s == "" {
		return "", errorf(http.StatusBadRequest, codeInvalidRequest, "text is empty")
	}
	return s, nil
}

// replacementsWritten counts the U+FFFD characters a JSON string literal
// spells out, literally or as \uFFFD escapes.
func replacementsWritten(raw []byte) int {
	n := strings.Count(string(raw), "\uFFFD")
	lower := strings.ToLower(string(raw))
	for i := 0; ; {
		j := strings.Index(lower[i:], `\ufffd`)
		if j < 0 {
			return n
		}
		// An escaped backslash before it ("\\ufffd") is not an escape.
		k := i + j
		bs := 0
		for k-1-bs >= 0 && lower[k-1-bs] == '\\' {
			bs++
		}
		if bs%2 == 0 {
			n++
		}
		i = k + len(`\ufffd`)
	}
}

type sendResponse struct {
	ID       string `json:"id"`
	ThreadID string `json:"thread_id"`
	Status   string `json:"status"`
	To       string `json:"to"`
	From     string `json:"from"`
	// Text, Segments and Encoding are those of the text as sent (smart
	// encoding applied).
	Text      string `json:"text"`
	Segments  int    `json:"segments"`
	Encoding  string `json:"encoding"`
	ClientRef string `json:"client_ref,omitempty"`
	// SendAt is set for a scheduled message.
	SendAt *time.Time `json:"send_at,omitempty"`
	// SmartEncoding is set on a 202: what smart encoding did. A repeated
	// client_ref (200) answers the stored message without it.
	SmartEncoding *smartView `json:"smart_encoding,omitempty"`
}

// getMessage: GET /v1/messages/{id}.
func (c *call) getMessage() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	m, err := c.s.store.GetMessage(c.ctx, c.ws, inbox.MessageID(id))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, messageOf(&m))
}

// cancelMessage: POST /v1/messages/{id}/cancel. A scheduled or queued
// message is canceled and never goes out (200, the message); one being
// submitted, submitted or final is 409 message_not_cancelable. Canceling a
// canceled message answers it again.
func (c *call) cancelMessage() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	if err := c.decodeBody(&struct{}{}, true); err != nil {
		return err
	}
	m, err := c.s.store.CancelMessage(c.ctx, c.ws, inbox.MessageID(id))
	if err != nil {
		return err
	}
	c.s.notify()
	return c.json(http.StatusOK, messageOf(&m))
}

// batcher groups concurrent enqueues into one Enqueue call each (group
// commit): a request that finds fewer than workers calls in flight stores
// its message at once, with whatever else is waiting; one that finds them
// all busy waits for the next call, which takes up to max waiting
// messages. No goroutine runs while nothing is waiting, and an idle server
// adds no delay.
type batcher struct {
	s       *Server
	max     int
	workers int

	mu      sync.Mutex
	pending []*pendingSend
	running int // flush loops running
}

type pendingSend struct {
	req  inbox.OutboundRequest
	res  inbox.EnqueueResult
	err  error
	done chan struct{}
}

// enqueue stores one message and returns its result.
func (b *batcher) enqueue(ctx context.Context, req inbox.OutboundRequest) (inbox.EnqueueResult, error) {
	if b.max <= 1 {
		res, err := b.s.enqueue(ctx, []inbox.OutboundRequest{req})
		if err != nil {
			return inbox.EnqueueResult{}, err
		}
		return res[0], nil
	}
	p := &pendingSend{req: req, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, p)
	// Another call in parallel only when the one in flight leaves a
	// quarter batch waiting: fewer, fuller calls are cheaper (each has a
	// fixed cost, planning and commit, of about 2 ms).
	lead := b.running == 0 || (b.running < b.workers && len(b.pending) >= max(b.max/4, 1))
	if lead {
		b.running++
	}
	b.mu.Unlock()
	if lead {
		b.flush(p)
	}
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		// The message may still be stored by the call it is part of.
		return inbox.EnqueueResult{}, ctx.Err()
	}
}

// flush stores waiting messages batch after batch until its own is stored;
// if more are waiting then, a goroutine carries on in its place.
func (b *batcher) flush(own *pendingSend) {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		if own != nil && isDone(own.done) {
			// Ours is stored; hand the rest to a goroutine and answer.
			b.mu.Unlock()
			go b.flush(nil)
			return
		}
		n := min(len(b.pending), b.max)
		batch := make([]*pendingSend, n)
		copy(batch, b.pending)
		b.pending = append(b.pending[:0], b.pending[n:]...)
		b.mu.Unlock()
		b.store(batch)
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// store runs one Enqueue for a batch. It is not tied to any one request:
// a client that leaves does not cancel the others' messages.
func (b *batcher) store(batch []*pendingSend) {
	reqs := make([]inbox.OutboundRequest, len(batch))
	for i, p := range batch {
		reqs[i] = p.req
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.s.cfg.RequestTimeout)
	res, err := b.s.enqueue(ctx, reqs)
	cancel()
	for i, p := range batch {
		if err != nil {
			p.err = err
		} else {
			p.res = res[i]
		}
		close(p.done)
	}
}

// enqueue stores messages in one Enqueue call (one transaction), counts
// it, and wakes the dispatcher and the event streams when something was
// queued.
func (s *Server) enqueue(ctx context.Context, reqs []inbox.OutboundRequest) ([]inbox.EnqueueResult, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	s.enqueueCalls.Add(1)
	s.enqueued.Add(int64(len(reqs)))
	res, err := s.store.Enqueue(ctx, reqs)
	if err != nil {
		return nil, err
	}
	s.afterEnqueue(res)
	return res, nil
}

// afterEnqueue wakes the dispatcher and the event streams when something
// was queued, and the event streams when a quota refused a message (which
// may have written a quota.threshold event).
func (s *Server) afterEnqueue(res []inbox.EnqueueResult) {
	for _, r := range res {
		if errors.Is(r.Err, inbox.ErrQuotaExceeded) {
			s.notify()
			break
		}
	}
	for _, r := range res {
		if r.Err == nil && !r.Duplicate {
			if s.cfg.Kick != nil {
				s.cfg.Kick()
			}
			if s.cfg.Events != nil {
				s.cfg.Events.Notify()
			}
			return
		}
	}
}
