package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/inbox"
)

// Store is what the Deliverer needs of the inbox; *inbox.Store implements it.
type Store interface {
	ClaimWebhooks(ctx context.Context, owner string, ttl time.Duration, max int) ([]inbox.WebhookTarget, error)
	ReleaseWebhooks(ctx context.Context, owner string) error
	WebhookTarget(ctx context.Context, id inbox.WebhookID, owner string) (inbox.WebhookTarget, error)
	Changes(ctx context.Context, ws inbox.WorkspaceID, after string, limit int) ([]inbox.Change, error)
	NumberChanges(ctx context.Context, ws inbox.WorkspaceID, xid uint64, id int64, limit int) ([]inbox.NumberChange, error)
	RecordWebhookBatch(ctx context.Context, id inbox.WebhookID, owner string, evs []inbox.WebhookEvent, results []inbox.WebhookResult, to inbox.WebhookCursors) (time.Time, error)
	DueWebhookEvents(ctx context.Context, id inbox.WebhookID, limit int) ([]inbox.PendingWebhookEvent, time.Time, error)
	RecordWebhookAttempts(ctx context.Context, id inbox.WebhookID, rs []inbox.WebhookResult) (time.Time, error)
	DisableWebhook(ctx context.Context, id inbox.WebhookID, reason string, notice func(inbox.Webhook) inbox.WebhookEvent) (bool, error)
}

var _ Store = (*inbox.Store)(nil)

// ChangeReader reads a workspace's change feed after a cursor, as
// inbox.Store.Changes does; *inbox.Feed implements it too, sharing the
// reads among the process's readers.
type ChangeReader interface {
	Changes(ctx context.Context, ws inbox.WorkspaceID, after string, limit int) ([]inbox.Change, error)
}

var _ ChangeReader = (*inbox.Feed)(nil)

// Views turn the feed's entries into the objects the API shows (package
// api provides them): an event's data is the same object a GET returns.
type Views struct {
	// Change returns the event type of a feed entry and its data, or ""
	// when the entry makes no webhook event.
	Change func(*inbox.Change) (string, any)
	// Number returns the data of a number event.
	Number func(*inbox.NumberChange) any
	// Endpoint returns the data of a webhook.disabled event.
	Endpoint func(*inbox.Webhook) any
}

// Defaults of Config.
const (
	DefaultLeaseTTL     = 15 * time.Second
	DefaultConcurrency  = 32
	DefaultBatch        = 500
	DefaultMaxEndpoints = 1000
	DefaultPoll         = time.Second
	// maxDrain is how much of an answer's body is read (and discarded) so
	// the connection can be reused.
	maxDrain = 64 << 10
)

// Config configures a Deliverer. Store, Owner and Views are required; zero
// values take the defaults above and those of Backoff.
type Config struct {
	Store Store
	// Feed, when set, reads the change feed instead of Store (the
	// process's shared inbox.Feed, so that the endpoints and the event
	// streams of a workspace share one read and each event's body is
	// built once: Deliverers sharing a Feed must have the same Views).
	Feed ChangeReader
	// Owner names this process in endpoint leases (unique per process).
	Owner string
	Views Views
	// Changed, when set, returns a channel closed when the feed may have
	// grown (events.Hub.Changed); endpoints also read every Poll.
	Changed func() <-chan struct{}
	Poll    time.Duration
	// Guard decides which addresses may be reached; nil: public ones only.
	Guard *Guard
	// Timeout bounds each request, answer body included (10 s).
	Timeout time.Duration
	Backoff Backoff
	// FailingLimit: an endpoint whose every attempt failed for this long is
	// disabled (3 days).
	FailingLimit time.Duration
	// LeaseTTL is how long a claim holds an endpoint: another process takes
	// over a dead one's endpoints after at most this long (15 s).
	LeaseTTL time.Duration
	// Concurrency is the requests in flight per endpoint (32); Batch the
	// events read per round (500); MaxEndpoints the endpoints one process
	// delivers at once (1000).
	Concurrency  int
	Batch        int
	MaxEndpoints int
	Logger       *zap.Logger
}

// Stats are a Deliverer's counters.
type Stats struct {
	Endpoints int   // endpoints this process delivers now
	Delivered int64 // attempts answered 2xx
	Failed    int64 // attempts that failed (to be retried or given up)
	GivenUp   int64 // events given up
	Disabled  int64 // endpoints disabled
}

// Deliverer delivers the events of the endpoints this process holds. Run
// runs it; it is safe for concurrent use.
type Deliverer struct {
	cfg    Config
	log    *zap.Logger
	poster *poster

	mu      sync.Mutex
	running map[inbox.WebhookID]*endpoint

	delivered, failed, givenUp, disabled atomic.Int64
}

// New checks cfg and returns a Deliverer.
func New(cfg Config) (*Deliverer, error) {
	if cfg.Store == nil || cfg.Owner == "" || cfg.Views.Change == nil || cfg.Views.Number == nil || cfg.Views.Endpoint == nil {
		return nil, errors.New("webhook: Config needs Store, Owner and Views")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Poll, DefaultPoll)
	def(&cfg.Timeout, DefaultTimeout)
	def(&cfg.Backoff.Min, DefaultRetryMin)
	def(&cfg.Backoff.Max, DefaultRetryMax)
	def(&cfg.Backoff.For, DefaultRetryFor)
	def(&cfg.Backoff.RetryAfterMax, DefaultRetryAfterMax)
	def(&cfg.FailingLimit, DefaultFailingLimit)
	def(&cfg.LeaseTTL, DefaultLeaseTTL)
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Batch > inbox.MaxPageSize {
		cfg.Batch = inbox.MaxPageSize
	}
	if cfg.MaxEndpoints <= 0 {
		cfg.MaxEndpoints = DefaultMaxEndpoints
	}
	if cfg.Guard == nil {
		cfg.Guard = &Guard{}
	}
	if cfg.Feed == nil {
		cfg.Feed = cfg.Store
	}
	d := &Deliverer{cfg: cfg, log: cfg.Logger, running: map[inbox.WebhookID]*endpoint{}}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	// The connections of a round stay open for the next (an endpoint's
	// rounds follow each other closely); twice the concurrency, for
	// endpoints of a workspace (or several) on one host.
	d.poster = newPoster(cfg.Guard, cfg.Timeout, 2*cfg.Concurrency)
	return d, nil
}

// Stats returns the Deliverer's counters.
func (d *Deliverer) Stats() Stats {
	d.mu.Lock()
	n := len(d.running)
	d.mu.Unlock()
	return Stats{Endpoints: n, Delivered: d.delivered.Load(), Failed: d.failed.Load(),
		GivenUp: d.givenUp.Load(), Disabled: d.disabled.Load()}
}

// Run claims endpoints and delivers their events until ctx ends, then
// stops every endpoint (requests in flight are cancelled; their events stay
// pending) and gives its leases up.
func (d *Deliverer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	t := time.NewTicker(d.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		d.claim(ctx, &wg)
		d.poster.closeIdle(idleTimeout)
		select {
		case <-ctx.Done():
		case <-t.C:
			continue
		}
		break
	}
	d.mu.Lock()
	for _, e := range d.running {
		e.cancel()
	}
	d.mu.Unlock()
	wg.Wait()
	d.poster.closeIdle(0)
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := d.cfg.Store.ReleaseWebhooks(rctx, d.cfg.Owner); err != nil {
		d.log.Warn("webhooks: releasing leases failed", zap.Error(err))
	}
}

// claim renews this process's leases, takes free endpoints, starts what is
// new and stops what it no longer holds.
func (d *Deliverer) claim(ctx context.Context, wg *sync.WaitGroup) {
	cctx, cancel := context.WithTimeout(ctx, d.cfg.LeaseTTL/3)
	targets, err := d.cfg.Store.ClaimWebhooks(cctx, d.cfg.Owner, d.cfg.LeaseTTL, d.cfg.MaxEndpoints)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("webhooks: claiming endpoints failed", zap.Error(err))
		}
		return
	}
	held := map[inbox.WebhookID]bool{}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range targets {
		held[t.ID] = true
		keys, err := parseKeys(t.Secrets)
		if err != nil {
			d.log.Error("webhooks: endpoint secret unreadable", zap.Int64("webhook", int64(t.ID)), zap.Error(err))
			continue
		}
		if e, ok := d.running[t.ID]; ok && e.ctx.Err() == nil {
			e.target.Store(newTarget(t, keys, e.target.Load()))
			continue
		}
		e := &endpoint{d: d, id: t.ID}
		e.ctx, e.cancel = context.WithCancel(ctx)
		e.target.Store(newTarget(t, keys, nil))
		e.cursors = inbox.WebhookCursors{Feed: t.FeedCursor, NumberXid: t.NumberXid, NumberEvent: t.NumberEvent}
		d.running[t.ID] = e
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.run()
			d.mu.Lock()
			if d.running[e.id] == e {
				delete(d.running, e.id)
			}
			d.mu.Unlock()
		}()
	}
	for id, e := range d.running {
		if !held[id] {
			e.cancel()
		}
	}
}

func parseKeys(secrets []string) ([]Key, error) {
	keys := make([]Key, 0, len(secrets))
	for _, s := range secrets {
		k, err := ParseKey(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

type target struct {
	inbox.WebhookTarget
	signer *Signer
	dest   *dest
}

// newTarget returns t with its signer and its parsed URL: cur's when cur
// has the same secrets (its HMAC states are reused) and URL, else new ones.
func newTarget(t inbox.WebhookTarget, keys []Key, cur *target) *target {
	nt := &target{WebhookTarget: t}
	if cur != nil && slices.Equal(cur.Secrets, t.Secrets) {
		nt.signer = cur.signer
	} else {
		nt.signer = NewSigner(keys)
	}
	if cur != nil && cur.URL == t.URL {
		nt.dest = cur.dest
	} else {
		nt.dest = newDest(t.URL)
	}
	return nt
}

// endpoint delivers one endpoint's events while this process holds it.
type endpoint struct {
	d       *Deliverer
	id      inbox.WebhookID
	ctx     context.Context
	cancel  context.CancelFunc
	target  atomic.Pointer[target]
	cursors inbox.WebhookCursors // where this run has read the feed to
}

func (e *endpoint) run() {
	defer e.cancel()
	log := e.d.log.With(zap.Int64("webhook", int64(e.id)))
	var failing time.Time // since when reads or writes of the store fail
	for e.ctx.Err() == nil {
		var wake <-chan struct{}
		if e.d.cfg.Changed != nil {
			wake = e.d.cfg.Changed()
		}
		more, err := e.collect()
		var sent int
		var next time.Time
		if err == nil {
			sent, next, err = e.deliver()
		}
		switch {
		case errors.Is(err, inbox.ErrLeaseLost):
			log.Info("webhooks: endpoint no longer held here; stopping")
			return
		case err != nil && e.ctx.Err() == nil:
			if failing.IsZero() {
				failing = time.Now()
				log.Warn("webhooks: store unavailable; retrying", zap.Error(err))
			}
			if !sleep(e.ctx, e.d.cfg.Poll) {
				return
			}
			continue
		}
		failing = time.Time{}
		if more || sent == e.d.cfg.Batch {
			continue // work left: go on at once
		}
		wait := e.d.cfg.Poll
		if !next.IsZero() {
			wait = min(wait, max(time.Until(next), time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-e.ctx.Done():
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// collect reads the feed after the endpoint's cursors, sends the events it
// subscribes to at once, and records them with their outcome as it moves
// the cursors (RecordWebhookBatch: one statement; what failed stays in
// the outbox, pending its retry). A message's status appears once per read
// of the feed, at its latest change; a newer event supersedes an older one
// still pending in the outbox, which this endpoint's loop only sends after
// this batch is recorded. It reports whether there may be more to read at
// once.
func (e *endpoint) collect() (bool, error) {
	t := e.target.Load()
	st, views, batch := e.d.cfg.Store, e.d.cfg.Views, e.d.cfg.Batch
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	changes, err := e.d.cfg.Feed.Changes(ctx, t.Workspace, e.cursors.Feed, batch)
	if err != nil {
		return false, err
	}
	numbers, err := st.NumberChanges(ctx, t.Workspace, e.cursors.NumberXid, e.cursors.NumberEvent, batch)
	if err != nil {
		return false, err
	}
	if len(changes) == 0 && len(numbers) == 0 {
		return false, nil
	}
	if t, err = e.refresh(ctx); err != nil {
		return false, err
	}
	to := e.cursors
	evs := make([]inbox.WebhookEvent, 0, len(changes)+len(numbers))
	for i := range changes {
		ch := &changes[i]
		to.Feed = ch.Cursor
		ce := ch.Memo.Get(memoKey, func() any { return newChangeEvent(views, ch) }).(*changeEvent)
		if ce.typ == "" || !t.Wants(ce.typ) {
			continue
		}
		body, err := ce.body()
		if err != nil {
			return false, err
		}
		ev := inbox.WebhookEvent{ID: ce.id, Type: ce.typ, Body: body}
		if ce.typ == inbox.EventMessageStatus {
			ev.Message = ch.Message
		}
		evs = append(evs, ev)
	}
	for i := range numbers {
		n := &numbers[i]
		to.NumberXid, to.NumberEvent = n.Xid, n.ID
		typ := "number." + n.Event
		if !t.Wants(typ) {
			continue
		}
		id := "evt_n" + strconv.FormatInt(n.ID, 10)
		body, err := Body(id, typ, n.At, views.Number(n))
		if err != nil {
			return false, err
		}
		evs = append(evs, inbox.WebhookEvent{ID: id, Type: typ, Body: body})
	}
	evs = lastPerMessage(evs)
	fresh := make([]inbox.PendingWebhookEvent, len(evs))
	now := time.Now()
	for i, ev := range evs {
		fresh[i] = inbox.PendingWebhookEvent{ID: ev.ID, Type: ev.Type, Body: ev.Body, CreatedAt: now}
	}
	results, gone := e.sendAll(t, fresh)
	if e.ctx.Err() != nil {
		// Stopped mid-batch: nothing recorded, the cursors stay; the
		// events are made and sent again.
		return false, e.ctx.Err()
	}
	goneAny := e.tally(results, gone)
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	since, err := st.RecordWebhookBatch(rctx, e.id, e.d.cfg.Owner, evs, results, to)
	if err != nil {
		return false, err
	}
	e.cursors = to
	e.afterAttempts(rctx, goneAny, since)
	return len(changes) == batch || len(numbers) == batch, nil
}

// refresh reads the endpoint as it is now before a round is sent, after
// the reads that found the round's events: a rotation (or a new URL or
// subscription) committed before an event was made signs (reaches,
// filters) its delivery, not only from the next lease round. One
// primary-key read per round that sends something; an idle round reads
// nothing. The signer is kept when the secrets are unchanged.
func (e *endpoint) refresh(ctx context.Context) (*target, error) {
	t, err := e.d.cfg.Store.WebhookTarget(ctx, e.id, e.d.cfg.Owner)
	if err != nil {
		return nil, err
	}
	cur := e.target.Load()
	if cur.URL == t.URL && slices.Equal(cur.Secrets, t.Secrets) && slices.Equal(cur.Types, t.Types) {
		return cur, nil
	}
	keys, err := parseKeys(t.Secrets)
	if err != nil {
		return nil, fmt.Errorf("webhook: endpoint %d: %w", e.id, err)
	}
	nt := newTarget(t, keys, cur)
	e.target.Store(nt)
	return nt, nil
}

// memoKey is the deliverer's key in a change's inbox.Memo.
const memoKey = "webhook"

// changeEvent is the event a change of the feed makes, the same for every
// endpoint of the workspace: built once per change in the process (see
// inbox.Memo), its body when the first endpoint that wants it sends it.
type changeEvent struct {
	id, typ string // typ "": the change makes no event
	at      time.Time
	data    any

	once sync.Once
	b    []byte
	err  error
}

func newChangeEvent(views Views, ch *inbox.Change) *changeEvent {
	typ, data := views.Change(ch)
	ce := &changeEvent{id: "evt_" + ch.Cursor, typ: typ, at: ch.At, data: data}
	if ch.Kind == inbox.ChangeRequest && ch.Request != nil {
		ce.at = ch.Request.ClosedAt
	}
	return ce
}

func (ce *changeEvent) body() ([]byte, error) {
	ce.once.Do(func() { ce.b, ce.err = Body(ce.id, ce.typ, ce.at, ce.data) })
	return ce.b, ce.err
}

// lastPerMessage keeps, of several events about one message, the last.
func lastPerMessage(evs []inbox.WebhookEvent) []inbox.WebhookEvent {
	last := map[inbox.MessageID]int{}
	for i, ev := range evs {
		if ev.Message != 0 {
			last[ev.Message] = i
		}
	}
	if len(last) == 0 {
		return evs
	}
	out := evs[:0:0]
	for i, ev := range evs {
		if ev.Message == 0 || last[ev.Message] == i {
			out = append(out, ev)
		}
	}
	return out
}

// deliver sends one batch of due events, Concurrency at a time, and records
// the outcomes. It returns how many it sent and when the next event not
// yet due is.
func (e *endpoint) deliver() (int, time.Time, error) {
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	due, next, err := e.d.cfg.Store.DueWebhookEvents(ctx, e.id, e.d.cfg.Batch)
	if err != nil || len(due) == 0 {
		cancel()
		return 0, next, err
	}
	t, err := e.refresh(ctx)
	cancel()
	if err != nil {
		return 0, next, err
	}
	results, gone := e.sendAll(t, due)
	if e.ctx.Err() != nil {
		// Stopped mid-batch: what was not recorded stays pending.
		return 0, next, e.ctx.Err()
	}
	goneAny := e.tally(results, gone)
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	since, err := e.d.cfg.Store.RecordWebhookAttempts(rctx, e.id, results)
	if err != nil {
		return 0, next, err
	}
	e.afterAttempts(rctx, goneAny, since)
	return len(due), next, nil
}

// sendAll makes one attempt at each event, Concurrency at a time, and
// returns the results and which were answered 410 Gone.
func (e *endpoint) sendAll(t *target, evs []inbox.PendingWebhookEvent) ([]inbox.WebhookResult, []bool) {
	results := make([]inbox.WebhookResult, len(evs))
	gone := make([]bool, len(evs))
	var idx atomic.Int64
	var wg sync.WaitGroup
	for range min(e.d.cfg.Concurrency, len(evs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(idx.Add(1)) - 1
				if i >= len(evs) || e.ctx.Err() != nil {
					return
				}
				results[i], gone[i] = e.d.send(e.ctx, t, &evs[i])
			}
		}()
	}
	wg.Wait()
	return results, gone
}

// tally counts the results and reports whether any was 410 Gone.
func (e *endpoint) tally(results []inbox.WebhookResult, gone []bool) bool {
	var goneAny bool
	for i := range results {
		if gone[i] {
			goneAny = true
		}
		switch {
		case results[i].Delivered:
			e.d.delivered.Add(1)
		case results[i].NextAttempt.IsZero():
			e.d.failed.Add(1)
			e.d.givenUp.Add(1)
		default:
			e.d.failed.Add(1)
		}
	}
	return goneAny
}

// afterAttempts disables the endpoint when it answered 410 Gone or has been
// failing for FailingLimit.
func (e *endpoint) afterAttempts(ctx context.Context, goneAny bool, since time.Time) {
	switch {
	case goneAny:
		e.disable(ctx, "gone")
	case !since.IsZero() && time.Since(since) >= e.d.cfg.FailingLimit:
		e.disable(ctx, "failing")
	}
}

// disable turns the endpoint off and tells the workspace's other endpoints.
func (e *endpoint) disable(ctx context.Context, reason string) {
	notice := func(w inbox.Webhook) inbox.WebhookEvent {
		id := "evt_d" + randomID()
		body, _ := Body(id, inbox.EventWebhookDisabled, time.Now(), e.d.cfg.Views.Endpoint(&w))
		return inbox.WebhookEvent{ID: id, Type: inbox.EventWebhookDisabled, Body: body}
	}
	ok, err := e.d.cfg.Store.DisableWebhook(ctx, e.id, reason, notice)
	if err != nil {
		e.d.log.Warn("webhooks: disabling endpoint failed", zap.Int64("webhook", int64(e.id)), zap.Error(err))
		return
	}
	if ok {
		e.d.disabled.Add(1)
		e.d.log.Info("webhooks: endpoint disabled", zap.Int64("webhook", int64(e.id)), zap.String("reason", reason))
	}
	e.cancel()
}

// send makes one attempt and returns its result, and whether the receiver
// answered 410 Gone.
func (d *Deliverer) send(ctx context.Context, t *target, ev *inbox.PendingWebhookEvent) (inbox.WebhookResult, bool) {
	res := inbox.WebhookResult{Row: ev.Row, EventID: ev.ID}
	start := time.Now()
	a, err := d.poster.post(ctx, t.dest, ev.ID, start.Unix(), t.signer, ev.Body)
	var retryAfter time.Duration
	if err == nil {
		res.HTTPStatus = a.status
		if a.retryAfter != "" {
			retryAfter = ParseRetryAfter(a.retryAfter, time.Now())
		}
	}
	res.Latency = time.Since(start)
	now := time.Now()
	switch {
	case err != nil:
		res.Error = errText(err)
	case res.HTTPStatus >= 200 && res.HTTPStatus < 300:
		res.Delivered = true
		return res, false
	case res.HTTPStatus == http.StatusGone:
		res.Error = "410 Gone: the endpoint is disabled"
		return res, true
	default:
		res.Error = fmt.Sprintf("HTTP %d", res.HTTPStatus)
	}
	res.NextAttempt = d.cfg.Backoff.Next(ev.CreatedAt, now, ev.Attempts+1, retryAfter)
	if res.NextAttempt.IsZero() {
		res.Error += "; given up"
	}
	return res, false
}

// errText is a delivery error for the log, without the URL (which the
// endpoint's owner knows) repeated in it.
func errText(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// envelope is the JSON body of every event.
type envelope struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// Body is the JSON payload of an event: {"id", "type", "timestamp",
// "data"}, as Standard Webhooks suggests; data is the object the API shows.
func Body(id, typ string, at time.Time, data any) ([]byte, error) {
	return json.Marshal(envelope{ID: id, Type: typ, Timestamp: at.UTC(), Data: data})
}

// NewEventID returns a fresh event id for events not made from the feed
// (tests, notices).
func NewEventID(prefix string) string { return "evt_" + prefix + randomID() }

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
