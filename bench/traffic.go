package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Numbers and contacts. Ours are +1 415 555 NNNN (valid North American
// numbers of the 555 exchange); contacts are +44 7911 1NNNNN (UK mobile).

func ourNumbers(n, offset int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+1415555%04d", 100+offset+i)
	}
	return out
}

func contact(i int) string { return fmt.Sprintf("+447911%06d", 100000+i%900000) }

// numberOffset keeps the numbers of runs against a running engine apart
// (they stay in its database); a started engine's database is new.
func numberOffset(sc Scenario) int {
	if sc.Engine.URL == "" {
		return 0
	}
	return int(time.Now().Unix()%90) * 100
}

const filler = " Your appointment is confirmed; reply to this message to change it, or STOP to opt out."

// benchText is message i's text: a unique tag, made two segments long
// (161..306 GSM characters) when long.
func benchText(tag string, i int, long bool) string {
	t := fmt.Sprintf("%s %06d", tag, i)
	if long {
		for len(t) < 200 {
			t += filler
		}
		t = t[:200]
	}
	return t
}

// tagOf returns the tag and index at the start of a bench text.
func tagOf(text string) string {
	f := strings.Fields(text)
	if len(f) < 3 {
		return text
	}
	return f[0] + " " + f[1] + " " + f[2]
}

// sentMessage is a message the API accepted.
type sentMessage struct {
	ID       string
	At       time.Time // POST started
	Text     string
	Segments int
}

// traffic is the messages a scenario sends or injects: message i goes
// between numbers[i mod N] and contact(i mod contacts), with benchText's
// tagged text, two segments long with probability long. Safe for
// concurrent use.
type traffic struct {
	numbers  []string
	contacts int
	long     float64
	tag      string
	rngMu    sync.Mutex
	rng      *rand.Rand
	next     atomic.Int64 // the next message's index (take)
}

func newTraffic(numbers []string, contacts int, long float64, tag string, seed, stream uint64) traffic {
	return traffic{numbers: numbers, contacts: contacts, long: long, tag: tag, rng: rand.New(rand.NewPCG(seed, stream))}
}

// take returns the next message's index.
func (t *traffic) take() int { return int(t.next.Add(1) - 1) }

// pick returns message i: its text, our number, the contact, and whether
// it is a long one.
func (t *traffic) pick(i int) (text, number, to string, long bool) {
	t.rngMu.Lock()
	long = t.rng.Float64() < t.long
	t.rngMu.Unlock()
	return benchText(t.tag, i, long), t.numbers[i%len(t.numbers)], contact(i % t.contacts), long
}

// sender posts messages through the API and tracks what was accepted and,
// from the event stream, what became final.
type sender struct {
	c *APIClient
	traffic

	accepted *Latency // POST → 202
	meter    *Meter   // accepted per time
	errs     counts

	mu      sync.Mutex
	sent    []sentMessage
	byID    map[string]int
	finals  map[string]string // id → final status, from events
	nFinal  int               // accepted messages with a final status
	changed chan struct{}     // closed and replaced at every final
}

func newSender(c *APIClient, numbers []string, contacts int, long float64, tag string, seed uint64) *sender {
	return &sender{c: c, traffic: newTraffic(numbers, contacts, long, tag, seed, 0x5eed), accepted: NewLatency(), meter: NewMeter(250 * time.Millisecond),
		byID: map[string]int{}, finals: map[string]string{}, changed: make(chan struct{})}
}

// message returns message i's text and its body for the API.
func (s *sender) message(i int) (string, map[string]any) {
	text, from, to, _ := s.pick(i)
	return text, map[string]any{"to": to, "text": text, "from": from}
}

// send posts one message; false when it was refused (counted in errs).
func (s *sender) send(ctx context.Context) bool {
	text, body := s.message(s.take())
	t0 := time.Now()
	var resp sendJSON
	err := s.c.Do(ctx, "POST", "/v1/messages", body, &resp)
	if err != nil {
		if ctx.Err() == nil {
			s.errs.add(httpErrName(err))
		}
		return false
	}
	s.accept(t0, time.Now(), text, resp)
	return true
}

// sendBatch posts messages first to first+n-1 in one POST
// /v1/messages/batch and returns how many were accepted. Every message of
// the batch is accepted when the answer arrives; each refused item, or
// every item of a refused request, counts in errs.
func (s *sender) sendBatch(ctx context.Context, first, n int) int {
	texts := make([]string, n)
	items := make([]map[string]any, n)
	for k := range items {
		texts[k], items[k] = s.message(first + k)
	}
	t0 := time.Now()
	var resp struct {
		Results []struct {
			Status  int      `json:"status"`
			Message sendJSON `json:"message"`
			Error   struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"results"`
	}
	err := s.c.Do(ctx, "POST", "/v1/messages/batch", map[string]any{"messages": items}, &resp)
	if err == nil && len(resp.Results) != n {
		err = fmt.Errorf("POST /v1/messages/batch: %d results for %d messages", len(resp.Results), n)
	}
	if err != nil {
		if ctx.Err() == nil {
			name := httpErrName(err)
			for range n {
				s.errs.add(name)
			}
		}
		return 0
	}
	done := time.Now()
	ok := 0
	for k, r := range resp.Results {
		if r.Status >= 300 {
			s.errs.add(httpErrName(&apiError{Status: r.Status, Code: r.Error.Code}))
			continue
		}
		s.accept(t0, done, texts[k], r.Message)
		ok++
	}
	return ok
}

// accept tracks a message the API accepted: posted at t0, answered at
// done.
func (s *sender) accept(t0, done time.Time, text string, resp sendJSON) {
	s.accepted.Record(done.Sub(t0))
	s.meter.Add(1)
	s.mu.Lock()
	s.byID[resp.ID] = len(s.sent)
	s.sent = append(s.sent, sentMessage{ID: resp.ID, At: t0, Text: text, Segments: resp.Segments})
	if _, ok := s.finals[resp.ID]; ok {
		s.finalLocked()
	}
	s.mu.Unlock()
}

func httpErrName(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.Code != "" {
			return strconv.Itoa(ae.Status) + " " + ae.Code
		}
		return strconv.Itoa(ae.Status)
	}
	return "transport error"
}

// event takes a message.status event.
func (s *sender) event(ev event) {
	if ev.Kind != "message.status" || !finalStatus(ev.Data.Status) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.finals[ev.Data.ID]; seen {
		return
	}
	s.finals[ev.Data.ID] = ev.Data.Status
	if _, ok := s.byID[ev.Data.ID]; ok {
		s.finalLocked()
	}
}

func (s *sender) finalLocked() {
	s.nFinal++
	close(s.changed)
	s.changed = make(chan struct{})
}

// progress returns accepted and final counts, and a channel closed at the
// next final.
func (s *sender) progress() (accepted, final int, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent), s.nFinal, s.changed
}

// ids returns the accepted messages' ids.
func (s *sender) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.sent))
	for i, m := range s.sent {
		out[i] = m.ID
	}
	return out
}

func (s *sender) messages() []sentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sentMessage(nil), s.sent...)
}

// run posts n messages (n < 0: until ctx ends) with conc clients, at
// most rate per second (0: no limit); batch > 1 posts them batch at a
// time through POST /v1/messages/batch.
func (s *sender) run(ctx context.Context, n int, conc int, rate float64, batch int, prog *Progress) {
	if batch <= 1 {
		drive(ctx, n, conc, rate, prog, one(s.send))
		return
	}
	calls := n
	if n >= 0 {
		calls = (n + batch - 1) / batch
	}
	drive(ctx, calls, conc, rate/float64(batch), prog, func(ctx context.Context) int {
		first := int(s.next.Add(int64(batch)) - int64(batch))
		size := batch
		if n >= 0 {
			size = min(batch, n-first) // the last call carries the rest
		}
		return s.sendBatch(ctx, first, size)
	})
}

// one counts a call that reports success as one unit of progress.
func one(do func(context.Context) bool) func(context.Context) int {
	return func(ctx context.Context) int {
		if do(ctx) {
			return 1
		}
		return 0
	}
}

// drive calls do n times (n < 0: until ctx ends) from conc goroutines, at
// most rate calls per second (0: no limit), adding what each call reports
// done to prog. The calls are paced on a schedule fixed at the start (call
// i not before start + i/rate), so a goroutine that falls behind (a slow
// call, a descheduled process) catches up at once instead of the rate
// losing what a ticker would drop; at most conc calls are in flight.
func drive(ctx context.Context, n, conc int, rate float64, prog *Progress, do func(context.Context) int) {
	start := time.Now()
	var issued atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := issued.Add(1)
				if n >= 0 && i > int64(n) {
					return
				}
				if rate > 0 {
					due := start.Add(time.Duration(float64(i-1) / rate * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return
						}
					}
				}
				prog.Add(int64(do(ctx)))
			}
		}()
	}
	wg.Wait()
}

// waitFinal waits until every accepted message has a final status (by the
// events), or ctx ends, or timeout passes.
func (s *sender) waitFinal(ctx context.Context, timeout time.Duration, prog *Progress) bool {
	return waitCount(ctx, timeout, prog, func() (int64, int64, <-chan struct{}) {
		acc, fin, ch := s.progress()
		return int64(fin), int64(acc), ch
	})
}

// waitCount waits until count's got reaches its want, adding what it got
// meanwhile to prog, or ctx ends, or timeout passes; it reports whether it
// did. count is called again when its channel says something changed, and
// every second in any case.
func waitCount(ctx context.Context, timeout time.Duration, prog *Progress, count func() (got, want int64, changed <-chan struct{})) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	reported := int64(0)
	for {
		got, want, ch := count()
		prog.Add(got - reported)
		reported = got
		if got >= want {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

// stageTimes holds the latency of each stage of the accepted messages, from
// their status history.
type stageTimes struct {
	sending, submitted, deliver, e2e *Latency
	statuses                         map[string]int64
	notFinal                         []string
	submittedMeter, deliveredMeter   *Meter
	firstQueued, lastDelivered       time.Time
	delivered                        int64
	segments                         int64
	deliveredAt                      map[string]time.Time // per message id, from its status history
}

// collectStages fetches every accepted message and measures its stages.
func collectStages(ctx context.Context, s *sender, start time.Time) (*stageTimes, []error) {
	msgs := s.messages()
	got, errs := getMessages(ctx, s.c, s.ids(), 8)
	st := &stageTimes{sending: NewLatency(), submitted: NewLatency(), deliver: NewLatency(), e2e: NewLatency(),
		statuses: map[string]int64{}, deliveredAt: map[string]time.Time{}, submittedMeter: &Meter{start: start, width: 250 * time.Millisecond},
		deliveredMeter: &Meter{start: start, width: 250 * time.Millisecond}}
	for _, sm := range msgs {
		m, ok := got[sm.ID]
		if !ok {
			st.statuses["unknown"]++
			continue
		}
		st.statuses[m.Status]++
		st.segments += int64(m.Segments)
		if !finalStatus(m.Status) {
			st.notFinal = append(st.notFinal, m.ID)
		}
		q := m.at("queued")
		if q.IsZero() {
			q = m.CreatedAt
		}
		if st.firstQueued.IsZero() || q.Before(st.firstQueued) {
			st.firstQueued = q
		}
		if t := m.at("sending"); !t.IsZero() {
			st.sending.Record(t.Sub(q))
		}
		if t := m.at("submitted"); !t.IsZero() {
			st.submitted.Record(t.Sub(q))
			st.submittedMeter.AddAt(t, 1)
		}
		if t := m.at("delivered"); !t.IsZero() {
			st.deliver.Record(t.Sub(q))
			st.e2e.Record(t.Sub(sm.At))
			st.deliveredMeter.AddAt(t, 1)
			st.deliveredAt[sm.ID] = t
			st.delivered++
			if t.After(st.lastDelivered) {
				st.lastDelivered = t
			}
		}
	}
	return st, errs
}
