// Package webhooktest is a webhook receiver for tests and the bench: an
// HTTP server that verifies every delivery's Standard Webhooks signature
// with the specification's reference library (not with package webhook's
// own code), records the events it accepted, and answers as a Behaviour
// says (errors, delays, slow bodies, Retry-After), so a test can check
// that every event arrives, verified, whatever the receiver did meanwhile.
// Production code never imports it.
package webhooktest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"

	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Answer is how the receiver answers one delivery.
type Answer struct {
	Status     int           // 0: 200
	Delay      time.Duration // wait before answering (past the sender's timeout: a timeout)
	SlowBody   time.Duration // after the status line, trickle the body over this long
	RetryAfter string        // a Retry-After header, if set
}

// Behaviour decides the answer to the n-th delivery (from 1) of an event
// whose type is typ. Nil answers 200 at once.
type Behaviour func(n int64, typ string) Answer

// Event is an event the receiver accepted (answered 2xx), as first received.
type Event struct {
	ID, Type string
	Data     json.RawMessage
	At       time.Time // when it was first accepted
	Times    int       // accepted deliveries of this id (more than 1: a duplicate)
}

// Receiver is a running receiver. Its methods are safe for concurrent use.
type Receiver struct {
	URL string
	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	hooks    []*standardwebhooks.Webhook
	behave   Behaviour
	events   map[string]*Event
	order    []string
	lastSigs int

	requests, unverified, accepted, conns atomic.Int64
}

// Start listens on addr ("127.0.0.1:0" for any port) and serves until Close.
func Start(addr string) (*Receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &Receiver{URL: "http://" + ln.Addr().String() + "/hook", ln: ln, events: map[string]*Event{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			r.conns.Add(1)
		}
	}}
	go r.srv.Serve(ln)
	return r, nil
}

// Close stops the server.
func (r *Receiver) Close() error { return r.srv.Close() }

// SetSecrets sets the secrets a delivery may be signed with (one valid
// signature is enough, as receivers check).
func (r *Receiver) SetSecrets(secrets ...string) error {
	var hooks []*standardwebhooks.Webhook
	for _, s := range secrets {
		h, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return err
		}
		hooks = append(hooks, h)
	}
	r.mu.Lock()
	r.hooks = hooks
	r.mu.Unlock()
	return nil
}

// SetBehaviour changes how the receiver answers from now on.
func (r *Receiver) SetBehaviour(b Behaviour) {
	r.mu.Lock()
	r.behave = b
	r.mu.Unlock()
}

// Stats: every request, those whose signature did not verify (answered
// 401), and those accepted.
func (r *Receiver) Stats() (requests, unverified, accepted int64) {
	return r.requests.Load(), r.unverified.Load(), r.accepted.Load()
}

// Conns is how many connections were opened to the receiver (fewer than
// the requests when the sender keeps them alive).
func (r *Receiver) Conns() int64 { return r.conns.Load() }

// Events returns a copy of the events accepted so far, by id.
func (r *Receiver) Events() map[string]Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Event, len(r.events))
	for id, e := range r.events {
		out[id] = *e
	}
	return out
}

// Order returns the ids of the accepted events in the order first accepted.
func (r *Receiver) Order() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// LastSignatures is how many signatures the last verified delivery carried.
func (r *Receiver) LastSignatures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastSigs
}

type envelope struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// ServeHTTP verifies and records one delivery.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := r.requests.Add(1)
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	hooks, behave := r.hooks, r.behave
	r.mu.Unlock()
	verified := false
	for _, h := range hooks {
		if h.Verify(body, req.Header) == nil {
			verified = true
			break
		}
	}
	var ev envelope
	if !verified || json.Unmarshal(body, &ev) != nil || ev.ID != req.Header.Get("webhook-id") {
		r.unverified.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var a Answer
	if behave != nil {
		a = behave(n, ev.Type)
	}
	if a.Delay > 0 {
		select {
		case <-time.After(a.Delay):
		case <-req.Context().Done():
			return
		}
	}
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	if a.Status >= 200 && a.Status < 300 {
		r.record(&ev, req)
	}
	if a.SlowBody > 0 {
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(a.Status)
		for range 10 {
			w.Write([]byte{'.'})
			http.NewResponseController(w).Flush()
			select {
			case <-time.After(a.SlowBody / 10):
			case <-req.Context().Done():
				return
			}
		}
		return
	}
	w.WriteHeader(a.Status)
}

func (r *Receiver) record(ev *envelope, req *http.Request) {
	r.accepted.Add(1)
	sigs := 0
	for _, s := range splitSpaces(req.Header.Get("webhook-signature")) {
		if s != "" {
			sigs++
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastSigs = sigs
	if e, ok := r.events[ev.ID]; ok {
		e.Times++
		return
	}
	r.events[ev.ID] = &Event{ID: ev.ID, Type: ev.Type, Data: ev.Data, At: time.Now(), Times: 1}
	r.order = append(r.order, ev.ID)
}

func splitSpaces(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
