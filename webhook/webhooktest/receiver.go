// Package webhooktest is a webhook receiver for tests and the bench: an
// HTTP server that verifies every delivery's Standard Webhooks signature
// with the specification's reference library (not with package webhook's
// own code), records the events it accepted, and answers as a Behaviour
// says (errors, delays, slow bodies, Retry-After), so a test can check
// that every event arrives, verified, whatever the receiver did meanwhile.
// Production code never imports it.
package webhooktest

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
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
//
// It serves HTTP/1.1 itself, one goroutine per connection reading each
// request (http.ReadRequest) and writing its answer in one write, rather
// than through http.Server: it shares the CPU with what it measures (the
// bench runs it beside the engine), and http.Server costs more a request
// (a goroutine and a read per request that watch for a closed connection,
// the response writer's buffers). It verifies and answers as before.
type Receiver struct {
	URL string
	ln  net.Listener

	mu       sync.Mutex
	hooks    []*standardwebhooks.Webhook
	behave   Behaviour
	events   map[string]*Event
	order    []string
	lastSigs int
	open     map[net.Conn]bool
	closed   bool

	requests, unverified, accepted, conns atomic.Int64
}

// Start listens on addr ("127.0.0.1:0" for any port) and serves until Close.
func Start(addr string) (*Receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &Receiver{URL: "http://" + ln.Addr().String() + "/hook", ln: ln, events: map[string]*Event{}, open: map[net.Conn]bool{}}
	go r.serve()
	return r, nil
}

// Close stops the receiver and closes its connections.
func (r *Receiver) Close() error {
	err := r.ln.Close()
	r.mu.Lock()
	r.closed = true
	for c := range r.open {
		c.Close()
	}
	r.mu.Unlock()
	return err
}

func (r *Receiver) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return
		}
		r.open[c] = true
		r.mu.Unlock()
		r.conns.Add(1)
		go r.serveConn(c)
	}
}

// serveConn answers the requests of one connection in turn until it
// closes.
func (r *Receiver) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		r.mu.Lock()
		delete(r.open, c)
		r.mu.Unlock()
	}()
	br := bufio.NewReader(c)
	var out []byte
	for {
		c.SetReadDeadline(time.Now().Add(headerTimeout))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		c.SetReadDeadline(time.Time{})
		body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
		if err != nil || len(body) > maxBody {
			c.Write(answerLine(out[:0], http.StatusBadRequest, "", true))
			return
		}
		a, ev, ok := r.handle(req, body)
		if !ok {
			out = answerLine(out[:0], http.StatusUnauthorized, "", req.Close)
		} else if !wait(c, br, a.Delay) {
			return // the sender gave up (its timeout) and closed
		} else {
			if a.Status >= 200 && a.Status < 300 {
				r.record(&ev, req)
			}
			if a.SlowBody > 0 {
				if !slowBody(c, a) || req.Close {
					return
				}
				continue
			}
			out = answerLine(out[:0], a.Status, a.RetryAfter, req.Close)
		}
		if _, err := c.Write(out); err != nil || req.Close {
			return
		}
	}
}

const (
	headerTimeout = 10 * time.Second // a request's header must arrive within
	maxBody       = 1 << 20          // longer bodies are refused (400)
)

// answerLine appends an answer without a body.
func answerLine(b []byte, status int, retryAfter string, close bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	if retryAfter != "" {
		b = append(b, "\r\nRetry-After: "...)
		b = append(b, retryAfter...)
	}
	if close {
		b = append(b, "\r\nConnection: close"...)
	}
	return append(b, "\r\nContent-Length: 0\r\n\r\n"...)
}

// wait waits d before an answer, and reports false when the sender closed
// the connection meanwhile (it timed out: the answer would not count).
func wait(c net.Conn, br *bufio.Reader, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	end := time.Now().Add(d)
	c.SetReadDeadline(end)
	_, err := br.Peek(1)
	c.SetReadDeadline(time.Time{})
	if err == nil { // a pipelined request: no sign of a close
		time.Sleep(time.Until(end))
		return true
	}
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// slowBody answers a.Status with a 10-byte body trickled over a.SlowBody;
// false when the sender closed meanwhile.
func slowBody(c net.Conn, a Answer) bool {
	if _, err := c.Write([]byte("HTTP/1.1 " + strconv.Itoa(a.Status) + " " + http.StatusText(a.Status) + "\r\nContent-Length: 10\r\n\r\n")); err != nil {
		return false
	}
	for range 10 {
		time.Sleep(a.SlowBody / 10)
		if _, err := c.Write([]byte{'.'}); err != nil {
			return false
		}
	}
	return true
}

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

// handle verifies a delivery and decides its answer; ok is false when it
// did not verify (answered 401).
func (r *Receiver) handle(req *http.Request, body []byte) (a Answer, ev envelope, ok bool) {
	n := r.requests.Add(1)
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
	if !verified || json.Unmarshal(body, &ev) != nil || ev.ID != req.Header.Get("webhook-id") {
		r.unverified.Add(1)
		return a, ev, false
	}
	if behave != nil {
		a = behave(n, ev.Type)
	}
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	return a, ev, true
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
