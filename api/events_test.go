package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/inbox/events"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

type sse struct {
	id, event string
	data      map[string]any
	comment   bool
	at        time.Time
}

// stream is an open GET /v1/events.
type stream struct {
	t      *testing.T
	cancel context.CancelFunc
	events chan sse
	status int
}

// openStream opens the event stream; lastID "" opens a new one.
func (e *env) openStream(t *testing.T, token, lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &stream{t: t, cancel: cancel, events: make(chan sse, 100), status: res.StatusCode}
	t.Cleanup(s.close)
	if ct := res.Header.Get("Content-Type"); res.StatusCode == 200 && ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	go func() {
		defer res.Body.Close()
		defer close(s.events)
		rd := bufio.NewReader(res.Body)
		var ev sse
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if ev.event != "" || ev.comment {
					ev.at = time.Now()
					s.events <- ev
				}
				ev = sse{}
			case strings.HasPrefix(line, ":"):
				ev.comment = true
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(line[6:]), &ev.data); err != nil {
					t.Errorf("data %q: %v", line, err)
				}
			}
		}
	}()
	return s
}

func (s *stream) close() { s.cancel() }

// next returns the next event (comments skipped), failing after within.
func (s *stream) next(within time.Duration) sse {
	s.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("the stream ended")
			}
			if !ev.comment {
				return ev
			}
		case <-deadline:
			s.t.Fatalf("no event within %v", within)
		}
	}
}

// otherProcess is a second engine process on the same database: its own
// pool, store and hub.
func (e *env) otherProcess(t *testing.T) (*inbox.Store, *events.Hub) {
	pool := testenv.OpenPool(t, e.url, 4)
	hub, err := events.New(events.Config{Pool: pool, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	return inbox.New(pool, inbox.Options{}), hub
}

func TestEventStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	other := e.ready("other")
	store2, hub2 := e.otherProcess(t)
	s := e.openStream(t, w.token, "")
	if s.status != 200 {
		t.Fatalf("status %d", s.status)
	}
	ready := s.next(5 * time.Second)
	if ready.event != "ready" || ready.id == "" {
		t.Fatalf("first event %+v", ready)
	}

	// An inbound message stored by another process.
	start := time.Now()
	res, err := store2.AppendInbound(e.ctx, []inbox.Inbound{
		{Carrier: "carrier-a", From: contact(1), To: other.num.E164, Body: "for the other workspace", Encoding: "GSM7"},
		{Carrier: "carrier-a", From: contact(1), To: w.num.E164, Body: "hello from a phone", Encoding: "GSM7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	hub2.Notify()
	in := s.next(3 * time.Second)
	t.Logf("inbound event after %v", in.at.Sub(start))
	if in.event != "message.received" || in.data["text"] != "hello from a phone" || in.data["direction"] != "in" ||
		in.data["from"] != contact(1) || in.data["to"] != w.num.E164 || in.data["status"] != "received" ||
		in.data["id"] != idOf(res[1].Message) || in.data["thread_id"] != idOf(res[1].Thread) {
		t.Fatalf("inbound event %+v", in)
	}

	// An outbound message sent through the API, then its status changes
	// made by the other process's dispatcher.
	r := e.send(w.token, contact(1), "hi back")
	want(t, r, 202, "")
	id := r.json(t)["id"].(string)
	q := s.next(3 * time.Second)
	if q.event != "message.status" || q.data["id"] != id || q.data["status"] != "queued" || q.data["text"] != "hi back" {
		t.Fatalf("queued event %+v", q)
	}
	start = time.Now()
	claimed, err := store2.Claim(e.ctx, "other", 10, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim %v %v", claimed, err)
	}
	hub2.Notify()
	sending := s.next(3 * time.Second)
	t.Logf("status event after %v", sending.at.Sub(start))
	if sending.data["id"] != id || sending.data["status"] != "sending" {
		t.Fatalf("sending event %+v", sending)
	}
	// Without a Notify (a writer that died after its commit): the poll
	// brings it, within a second.
	if _, err := store2.RecordSubmits(e.ctx, []inbox.SubmitResult{{Message: claimed[0].ID, Outcome: inbox.SubmitOK, CarrierMessageID: "x1"}}); err != nil {
		t.Fatal(err)
	}
	sub := s.next(3 * time.Second)
	if sub.data["id"] != id || sub.data["status"] != "submitted" {
		t.Fatalf("submitted event %+v", sub)
	}
	s.close()

	// Resume after the inbound event: what came after it, not it.
	dbg, err := e.store.Changes(e.ctx, w.id, in.id, 10)
	t.Logf("DEBUG changes after %s: %+v %v", in.id, dbg, err)
	s2 := e.openStream(t, w.token, in.id)
	again := s2.next(3 * time.Second)
	if again.data["id"] != id || again.data["status"] != "submitted" {
		t.Fatalf("resumed after the inbound: %+v", again)
	}
	// Resume after the last event: nothing until something new.
	s3 := e.openStream(t, w.token, sub.id)
	e.inbound(contact(2), w.num.E164, "newer")
	if ev := s3.next(3 * time.Second); ev.data["text"] != "newer" {
		t.Fatalf("resumed after the last: %+v", ev)
	}
	// A resumed stream does not start with ready.
	if again.event == "ready" {
		t.Fatal("ready on a resumed stream")
	}

	bad := e.do("GET", "/v1/events", w.token, nil, "Last-Event-ID", "not-a-cursor")
	want(t, bad, 400, "invalid_cursor")
}

func TestEventStreamHeartbeatAndShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) { c.Heartbeat = 100 * time.Millisecond })
	w := e.ready("w")
	s := e.openStream(t, w.token, "")
	s.next(3 * time.Second) // ready
	want(t, e.send(w.token, contact(1), "once"), 202, "")
	if ev := s.next(3 * time.Second); ev.data["text"] != "once" {
		t.Fatalf("event %+v", ev)
	}
	// Heartbeats follow, and nothing is sent twice.
	deadline := time.After(5 * time.Second)
	for beats := 0; beats < 3; {
		select {
		case ev := <-s.events:
			if !ev.comment {
				t.Fatalf("event after the heartbeats began: %+v", ev)
			}
			beats++
		case <-deadline:
			t.Fatal("no heartbeat")
		}
	}
	// CloseStreams (on server shutdown) ends the stream; new ones are 503.
	e.api.CloseStreams()
	for range s.events {
	}
	want(t, e.do("GET", "/v1/events", w.token, nil), 503, "unavailable")
}

func idOf[T ~int64](id T) string { return strconv.FormatInt(int64(id), 10) }
