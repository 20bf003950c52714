package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/inbox"
)

// Event stream (GET /v1/events), server-sent events:
//
//	id: <cursor>
//	event: message.received | message.status
//	data: {"id": ..., "thread_id": ..., "direction", "from", "to", "text", "status", "status_at", ...}
//
// message.received is a new inbound message; message.status is an
// outbound message queued or changing status (queued, sending, submitted,
// delivered, failed, expired, rejected); number_request.status is a
// custom number request created or changing status (open, fulfilled,
// declined, cancelled), its data the request as GET
// /v1/sms/number-requests/{id} shows it. Each event carries the object as
// it is at the time of reading: one that changed twice between two reads
// is sent once, with its latest status. Message events need a token with
// the messages scope (they carry the conversations); request events go to
// every token, as GET /v1/sms/number-requests does. The first event of a new
// stream is "ready" (data {}), whose id marks where the stream starts, so
// an EventSource that reconnects before any message event resumes from
// there. A client resumes with the Last-Event-ID header (EventSource sends
// it by itself) or ?last_event_id=; events after that id are sent, none
// before. Comment lines (": heartbeat") keep an idle stream open.

const (
	streamBatch      = 100              // changes read per query
	streamWriteLimit = 30 * time.Second // a client that takes longer to read an event is dropped
	streamReauth     = time.Minute      // the token is checked again this often
	streamDBGiveUp   = 30 * time.Second // a stream whose reads fail this long ends
)

var errStreamClosed = errorf(http.StatusServiceUnavailable, codeUnavailable, "the server is shutting down; reconnect")

// eventData is a message event: the message as lists show it and, for a
// failed one, the carrier's error.
type eventData struct {
	messageSummary
	CarrierError int `json:"carrier_error,omitempty"`
}

// events: GET /v1/events.
func (c *call) events() error {
	select {
	case <-c.s.closing:
		return errStreamClosed
	default:
	}
	cursor, fresh, err := c.streamCursor()
	if err != nil {
		return err
	}
	// The first read happens before the answer starts, so a bad cursor or
	// a database that is down gets a proper error status.
	wake := c.s.changed()
	changes, err := c.readChanges(cursor)
	if err != nil {
		return err
	}

	c.s.streams.Add(1)
	defer c.s.streams.Add(-1)
	w := c.startStream()
	if fresh {
		writeEvent(w.bw, cursor, "ready", []byte("{}"))
	}
	if err := w.flush(); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(c.s.cfg.Heartbeat)
	defer heartbeat.Stop()
	authed := time.Now()
	var failingSince time.Time
	for {
		var wrote bool
		if cursor, wrote, err = c.writeChanges(w.bw, changes, cursor); err != nil {
			return err
		}
		if wrote {
			if err := w.flush(); err != nil {
				return nil // the client is gone
			}
		}
		// A full batch: read on at once.
		if len(changes) < streamBatch && !c.awaitChange(w, wake, heartbeat.C, &authed) {
			return nil
		}
		wake = c.s.changed()
		changes, err = c.readChanges(cursor)
		if c.feedFailed(err, &failingSince) {
			return nil
		}
	}
}

// streamCursor is where a stream starts: the client's Last-Event-ID (or
// ?last_event_id=), else the end of the feed now (fresh: the stream then
// starts with a "ready" event carrying it).
func (c *call) streamCursor() (cursor string, fresh bool, err error) {
	cursor = c.r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = c.r.URL.Query().Get("last_event_id")
	}
	if cursor != "" {
		return cursor, false, nil
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.RequestTimeout)
	defer cancel()
	cursor, err = c.s.store.ChangeCursor(ctx)
	return cursor, true, err
}

// sseWriter writes a stream's events, buffered; flush sends them, each
// write bounded by streamWriteLimit.
type sseWriter struct {
	bw *bufio.Writer
	rc *http.ResponseController
}

func (w sseWriter) flush() error {
	w.rc.SetWriteDeadline(time.Now().Add(streamWriteLimit))
	if err := w.bw.Flush(); err != nil {
		return err
	}
	return w.rc.Flush()
}

// startStream answers 200 with the event stream's headers and the
// client's reconnection delay, and returns the stream's writer.
func (c *call) startStream() sseWriter {
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c.w.WriteHeader(http.StatusOK)
	w := sseWriter{bw: bufio.NewWriterSize(c.w, 8<<10), rc: http.NewResponseController(c.w)}
	w.bw.WriteString("retry: 2000\n\n")
	return w
}

// writeChanges writes the events of changes this token may see and
// returns the cursor after the last change and whether it wrote any.
func (c *call) writeChanges(bw *bufio.Writer, changes []inbox.Change, cursor string) (string, bool, error) {
	wrote := false
	for _, ch := range changes {
		cursor = ch.Cursor
		kind, v := c.eventOf(&ch)
		if kind == "" {
			continue // not for this token's scopes
		}
		data, err := eventJSON(&ch, v)
		if err != nil {
			return cursor, wrote, err
		}
		writeEvent(bw, ch.Cursor, kind, data)
		wrote = true
	}
	return cursor, wrote, nil
}

// awaitChange waits for wake, writing a heartbeat at each tick and checking
// the token again every streamReauth (authed: when it last was). It
// reports false when the stream must end: the client is gone, the token
// revoked (the reconnect gets 401), the server closing or the request over.
func (c *call) awaitChange(w sseWriter, wake <-chan struct{}, tick <-chan time.Time, authed *time.Time) bool {
	for {
		select {
		case <-wake:
			return true
		case <-tick:
			w.bw.WriteString(": heartbeat\n\n")
			if err := w.flush(); err != nil {
				return false
			}
			if time.Since(*authed) > streamReauth {
				tok, _ := bearer(c.r)
				if _, err := c.s.store.Authenticate(c.ctx, tok); inbox.ErrorCode(err) == inbox.CodeUnauthorized {
					return false
				}
				*authed = time.Now()
			}
		case <-c.s.closing:
			return false
		case <-c.ctx.Done():
			return false
		}
	}
}

// feedFailed keeps the account of a stream's failed reads (failingSince:
// when they began, zero after a good one) and reports true when the stream
// must end: the request is over, or reads have failed for streamDBGiveUp.
func (c *call) feedFailed(err error, failingSince *time.Time) bool {
	switch {
	case err == nil:
		*failingSince = time.Time{}
		return false
	case c.ctx.Err() != nil:
		return true
	case failingSince.IsZero():
		*failingSince = time.Now()
		fallthrough
	default:
		if time.Since(*failingSince) > streamDBGiveUp {
			c.s.log.Warn("event stream: the feed cannot be read; closing", zap.Int64("workspace", int64(c.ws)), zap.Error(err))
			return true
		}
		c.s.log.Debug("event stream: read failed; retrying", zap.Error(err))
		return false
	}
}

// readChanges reads the feed after cursor within RequestTimeout.
func (c *call) readChanges(cursor string) ([]inbox.Change, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.RequestTimeout)
	defer cancel()
	return c.s.cfg.Feed.Changes(ctx, c.ws, cursor, streamBatch)
}

// streamMemo is the streams' key in a change's inbox.Memo.
const streamMemo = "stream"

type builtJSON struct {
	b   []byte
	err error
}

// eventJSON returns the JSON of a change's event data v, built once per
// change however many streams send it (the data of a change is the same
// for every token that may see it).
func eventJSON(ch *inbox.Change, v any) ([]byte, error) {
	bj := ch.Memo.Get(streamMemo, func() any {
		b, err := json.Marshal(v)
		return builtJSON{b, err}
	}).(builtJSON)
	return bj.b, bj.err
}

func writeEvent(w *bufio.Writer, id, kind string, data []byte) {
	w.WriteString("id: ")
	w.WriteString(id)
	w.WriteString("\nevent: ")
	w.WriteString(kind)
	w.WriteString("\ndata: ")
	w.Write(data)
	w.WriteString("\n\n")
}

// eventOf returns a change's event name and data, or "" when the token
// may not see it.
func (c *call) eventOf(ch *inbox.Change) (string, any) {
	if ch.Kind == inbox.ChangeRequest {
		return "number_request.status", requestOf(ch.Request)
	}
	if ch.Kind == inbox.ChangeQuota {
		return inbox.EventQuotaThreshold, quotaEventOf(ch.Quota)
	}
	if !c.auth.Has(inbox.ScopeMessages) {
		return "", nil
	}
	kind := "message.status"
	if ch.Direction == inbox.DirectionIn {
		kind = "message.received"
	}
	return kind, messageEventOf(ch)
}

func messageEventOf(ch *inbox.Change) eventData {
	return eventData{messageSummary: messageSummary{
		ID: idString(int64(ch.Message)), ThreadID: idString(int64(ch.Thread)), Direction: string(ch.Direction),
		From: ch.From, To: ch.To, Text: ch.Body, Encoding: encodingName(ch.Encoding), Segments: ch.Segments,
		Status: string(ch.Status), StatusAt: ch.At.UTC(), CreatedAt: ch.CreatedAt.UTC(),
	}, CarrierError: ch.CarrierError}
}

// changed returns the channel the next wake-up closes.
func (s *Server) changed() <-chan struct{} {
	if s.cfg.Events != nil {
		return s.cfg.Events.Changed()
	}
	ch := make(chan struct{})
	time.AfterFunc(streamPoll, func() { close(ch) })
	return ch
}
