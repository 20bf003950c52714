package routing

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// DispatcherConfig configures a Dispatcher. Store, Limiter and Carriers are
// required; the other fields have the defaults named.
type DispatcherConfig struct {
	Owner    string // this process in claims; required
	Store    OutboundStore
	Limiter  Limiter
	Carriers map[string]*Carrier

	ClaimBatch int           // messages per claim (200)
	Lease      time.Duration // claim lease (2m)
	InFlight   int           // messages held between claim and result (5000)
	RetryMin   time.Duration // first retry delay (1s)
	RetryMax   time.Duration // longest retry delay (5m)
	Poll       time.Duration // how often an idle dispatcher looks for work (200ms)
	// ClaimGap is the least time between two claims that found less than a
	// full batch (10ms): kicks arriving meanwhile are gathered into one
	// claim, which costs a transaction whatever its size.
	ClaimGap     time.Duration
	ExpireEvery  time.Duration // how often expired messages are failed (30s)
	DrainTimeout time.Duration // how long Run waits for submits in flight when stopping (10s)
	Logger       *zap.Logger
}

// Dispatcher takes queued messages from the store, books their segments with
// the limiter, submits each segment on its carrier's binds when its time
// comes, and records the results: accepted segments with the carrier's id,
// retryable refusals requeued with backoff (and the limiter told of carrier
// throttling), permanent refusals failing the message.
//
// Messages to one contact from one number go out in the order they were
// accepted: the store hands out only the oldest pending message of a pair,
// and a message is released (recorded or requeued) before the next of its
// pair can be claimed.
type Dispatcher struct {
	cfg     DispatcherConfig
	log     *zap.Logger
	kick    chan struct{}
	slots   chan struct{} // in-flight budget: a claimed message holds one
	results chan dispatchResult
	stats   dispatchCounters
}

type dispatchResult struct {
	segs  []SegmentResult
	retry *Retry
}

type dispatchCounters struct {
	claimed, accepted, retried, failed, deferred, expired  atomic.Int64
	segments, throttled, unknown, limiterDown, storeErrors atomic.Int64
	inFlight                                               atomic.Int64
}

// DispatcherStats are the dispatcher's counters.
type DispatcherStats struct {
	Claimed     int64 // messages claimed
	Accepted    int64 // messages whose every segment the carrier accepted
	Retried     int64 // messages requeued after a retryable refusal
	Failed      int64 // messages failed by a permanent refusal
	Deferred    int64 // messages requeued because their number was booked too far ahead
	Expired     int64 // messages expired by age
	Segments    int64 // submit_sm sent
	Throttled   int64 // segments answered 0x58 or 0x14
	Unknown     int64 // segments whose outcome is unknown (timeout, link lost after writing)
	LimiterDown int64 // bookings that failed because the limiter could not answer
	StoreErrors int64 // store calls that failed
	InFlight    int64 // messages held now
}

// NewDispatcher checks cfg and fills its defaults.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Owner == "" || cfg.Store == nil || cfg.Limiter == nil || len(cfg.Carriers) == 0 {
		return nil, errors.New("routing: DispatcherConfig needs Owner, Store, Limiter and Carriers")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.ClaimBatch <= 0 {
		cfg.ClaimBatch = 200
	}
	if cfg.InFlight < cfg.ClaimBatch {
		cfg.InFlight = max(5000, cfg.ClaimBatch)
	}
	def(&cfg.Lease, 2*time.Minute)
	def(&cfg.RetryMin, time.Second)
	def(&cfg.RetryMax, 5*time.Minute)
	def(&cfg.Poll, 200*time.Millisecond)
	def(&cfg.ClaimGap, 10*time.Millisecond)
	def(&cfg.ExpireEvery, 30*time.Second)
	def(&cfg.DrainTimeout, 10*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Dispatcher{
		cfg:     cfg,
		log:     cfg.Logger.Named("dispatcher"),
		kick:    make(chan struct{}, 1),
		slots:   make(chan struct{}, cfg.InFlight),
		results: make(chan dispatchResult, cfg.InFlight),
	}, nil
}

// Kick tells the dispatcher that new messages were queued, so it looks now
// instead of at its next poll.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (d *Dispatcher) Stats() DispatcherStats {
	c := &d.stats
	return DispatcherStats{
		Claimed: c.claimed.Load(), Accepted: c.accepted.Load(), Retried: c.retried.Load(), Failed: c.failed.Load(),
		Deferred: c.deferred.Load(), Expired: c.expired.Load(), Segments: c.segments.Load(), Throttled: c.throttled.Load(),
		Unknown: c.unknown.Load(), LimiterDown: c.limiterDown.Load(), StoreErrors: c.storeErrors.Load(), InFlight: c.inFlight.Load(),
	}
}

// Run dispatches until ctx ends. It then stops claiming, puts back the
// messages not yet started, lets submits in flight finish for up to
// DrainTimeout, records every result and returns.
func (d *Dispatcher) Run(ctx context.Context) error {
	flushed := make(chan struct{})
	go d.flusher(flushed)
	sendCtx, cancelSends := context.WithCancel(context.Background())
	defer cancelSends()
	var wg sync.WaitGroup
	poll := time.NewTimer(0)
	defer poll.Stop()
	expire := time.NewTicker(d.cfg.ExpireEvery)
	defer expire.Stop()
	errDelay := 100 * time.Millisecond

	for ctx.Err() == nil {
		free := cap(d.slots) - len(d.slots)
		if free < min(d.cfg.ClaimBatch, cap(d.slots))/2 {
			// Wait for some messages to finish before claiming more.
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		if !d.anyUp() {
			// No bind is up here (starting, or other processes hold them
			// all): leave the queue to the processes that can send.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			case <-expire.C:
				d.expire(ctx)
			}
			continue
		}
		msgs, err := d.cfg.Store.Claim(ctx, d.cfg.Owner, min(free, d.cfg.ClaimBatch), d.cfg.Lease)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			d.stats.storeErrors.Add(1)
			d.log.Warn("claim failed", zap.Error(err), zap.Duration("retry_in", errDelay))
			sleepCtx(ctx, errDelay)
			errDelay = min(2*errDelay, 5*time.Second)
			continue
		}
		errDelay = 100 * time.Millisecond
		if len(msgs) > 0 {
			d.dispatch(ctx, sendCtx, msgs, &wg)
			if len(msgs) == min(free, d.cfg.ClaimBatch) {
				continue // there may be more: claim again at once
			}
		}
		// Less than a full batch was waiting: gather what comes next for a
		// moment before claiming again.
		sleepCtx(ctx, d.cfg.ClaimGap)
		poll.Reset(d.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-d.kick:
		case <-poll.C:
		case <-expire.C:
			d.expire(ctx)
		}
	}
	// Drain: goroutines waiting for their booking saw ctx end and put their
	// message back; those submitting finish within DrainTimeout.
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(d.cfg.DrainTimeout):
		d.log.Warn("drain timeout: cancelling submits still in flight")
		cancelSends()
		<-drained
	}
	close(d.results)
	<-flushed
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// job is one claimed message being sent.
type job struct {
	m      Outbound
	c      *Carrier
	parts  []coding.Part
	enc    coding.Encoding
	method coding.Method
	unsent []int // part indexes still to send
	// perPart is how many segments (throttle tokens) each part counts: 1,
	// or the message's segments when it goes out whole in one
	// message_payload, which the carrier splits and bills as segments.
	perPart int
}

// tokens is how many segments the unsent parts count.
func (j *job) tokens() int { return len(j.unsent) * j.perPart }

func (d *Dispatcher) dispatch(stop, sendCtx context.Context, msgs []Outbound, wg *sync.WaitGroup) {
	d.stats.claimed.Add(int64(len(msgs)))
	jobs := make([]*job, 0, len(msgs))
	bookings := make([]Booking, 0, len(msgs))
	for _, m := range msgs {
		d.slots <- struct{}{}
		d.stats.inFlight.Add(1)
		j, res := d.prepare(m)
		if res != nil {
			d.done(*res)
			continue
		}
		jobs = append(jobs, j)
		bookings = append(bookings, Booking{Carrier: m.Carrier, From: m.From, RateClass: m.RateClass, Segments: j.tokens()})
	}
	if len(jobs) == 0 {
		return
	}
	granted := d.cfg.Limiter.ReserveBatch(stop, bookings)
	now := time.Now()
	for i, j := range jobs {
		g := granted[i]
		switch {
		case g.Err == nil && g.Reservation != nil:
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.send(stop, sendCtx, j, g.Reservation)
			}()
		case g.RetryAfter > 0:
			d.stats.deferred.Add(1)
			d.done(dispatchResult{retry: &Retry{Message: j.m.ID, NotBefore: now.Add(g.RetryAfter), Reason: "number booked ahead: " + errString(g.Err)}})
		default:
			d.stats.limiterDown.Add(1)
			d.done(dispatchResult{retry: &Retry{Message: j.m.ID, NotBefore: now.Add(time.Second), Reason: "throttle unavailable: " + errString(g.Err)}})
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// prepare splits a message for its carrier. It returns a result instead of a
// job when the message cannot be sent now.
// expire fails the messages past their maximum age.
func (d *Dispatcher) expire(ctx context.Context) {
	if n, err := d.cfg.Store.ExpireMessages(ctx); err != nil {
		d.stats.storeErrors.Add(1)
		d.log.Warn("expiring messages failed", zap.Error(err))
	} else if n > 0 {
		d.stats.expired.Add(n)
		d.log.Info("messages expired", zap.Int64("count", n))
	}
}

// handoffDelay is about how long a message given back for want of a bind
// waits before anyone may claim it again (jittered in [1/2, 1]).
const handoffDelay = 300 * time.Millisecond

// anyUp reports whether some carrier of this process has a bind up: until
// one does, claiming would only hand messages back.
func (d *Dispatcher) anyUp() bool {
	for _, c := range d.cfg.Carriers {
		if c.up() {
			return true
		}
	}
	return len(d.cfg.Carriers) == 0
}

func (d *Dispatcher) prepare(m Outbound) (*job, *dispatchResult) {
	c := d.cfg.Carriers[m.Carrier]
	if c == nil {
		// Another engine may hold this carrier: give it back for a while.
		return nil, &dispatchResult{retry: &Retry{Message: m.ID, NotBefore: time.Now().Add(time.Minute), Reason: fmt.Sprintf("carrier %q is not configured on %s", m.Carrier, d.cfg.Owner)}}
	}
	if !c.up() {
		// No bind of this carrier is up here (another engine process may
		// hold them all): give the message back at once, for a process that
		// can send it, rather than retry it here with a growing backoff.
		return nil, &dispatchResult{retry: &Retry{Message: m.ID, NotBefore: time.Now().Add(handoffDelay/2 + rand.N(handoffDelay/2+1)),
			Reason: fmt.Sprintf("no bind of carrier %q is up on %s", m.Carrier, d.cfg.Owner)}}
	}
	enc, ok := parseEncoding(m.Encoding)
	if !ok {
		return nil, d.permanent(m, 0, "unknown encoding "+m.Encoding)
	}
	method := c.Method
	switch {
	case m.Parts == 1 && m.Segments > 1:
		// An earlier attempt sent it whole in message_payload: keep that.
		method = coding.Payload
	case m.Parts > 1 && method == coding.Payload:
		// An earlier attempt sent it in parts (the carrier's method changed
		// since): send the rest in parts too.
		method = coding.UDH8
	}
	ref := c.refs.Next(m.To, method)
	parts, err := coding.Split(m.Body, enc, method, ref)
	if err == nil && len(parts) != m.Segments && method != coding.Payload {
		// The message was billed with 8-bit references (153/67 per part);
		// 16-bit ones hold one unit less and may need a part more. Keep the
		// billed count.
		method = coding.UDH8
		parts, err = coding.Split(m.Body, enc, method, ref&0xFF)
	}
	if err != nil {
		return nil, d.permanent(m, 0, "cannot encode: "+err.Error())
	}
	j := &job{m: m, c: c, parts: parts, enc: enc, method: method, perPart: 1}
	if len(parts) == 1 && m.Segments > 1 {
		j.perPart = m.Segments
	}
	for i := range parts {
		if i < len(m.Submitted) && m.Submitted[i] {
			continue
		}
		j.unsent = append(j.unsent, i)
	}
	if len(j.unsent) == 0 {
		// Every segment went out in an earlier attempt; record nothing new,
		// the store already has them all.
		return nil, &dispatchResult{}
	}
	return j, nil
}

func (d *Dispatcher) permanent(m Outbound, status uint32, reason string) *dispatchResult {
	d.stats.failed.Add(1)
	return &dispatchResult{segs: []SegmentResult{{Message: m.ID, Carrier: m.Carrier, Segment: 0, Outcome: Permanent, Status: status, Reason: reason}}}
}

func parseEncoding(s string) (coding.Encoding, bool) {
	for _, e := range []coding.Encoding{coding.GSM7, coding.UCS2, coding.Latin1, coding.Binary} {
		if e.String() == s {
			return e, true
		}
	}
	return 0, false
}

// send waits for each segment's booked time and submits it.
func (d *Dispatcher) send(stop, sendCtx context.Context, j *job, res Reservation) {
	m, c := j.m, j.c
	var mu sync.Mutex
	var pending sync.WaitGroup
	results := make([]SegmentResult, 0, len(j.unsent))
	add := func(r SegmentResult) {
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}
	started := false
	for k, idx := range j.unsent {
		waitCtx := stop
		if started {
			waitCtx = sendCtx // a message that has started is finished
		}
		// A part that counts several segments goes when its last is due.
		if err := res.WaitSegment(waitCtx, (k+1)*j.perPart-1); err != nil {
			if !started {
				res.Cancel(context.Background())
				delay := time.Second
				if stop.Err() != nil {
					delay = 0 // shutting down: another engine may take it at once
				}
				d.done(dispatchResult{retry: &Retry{Message: m.ID, NotBefore: time.Now().Add(delay), Reason: "not sent: " + err.Error()}})
				return
			}
			for _, rest := range j.unsent[k:] {
				add(SegmentResult{Message: m.ID, Carrier: m.Carrier, Segment: rest, Outcome: Retryable, Reason: "not sent: " + err.Error()})
			}
			break
		}
		if err := d.pace(waitCtx, m, j.perPart); err != nil {
			if !started {
				res.Cancel(context.Background())
				d.done(dispatchResult{retry: &Retry{Message: m.ID, NotBefore: time.Now(), Reason: "not sent: " + err.Error()}})
				return
			}
			for _, rest := range j.unsent[k:] {
				add(SegmentResult{Message: m.ID, Carrier: m.Carrier, Segment: rest, Outcome: Retryable, Reason: "not sent: " + err.Error()})
			}
			break
		}
		p := smpp.SubmitSM{
			Source:             smpp.Address{TON: c.SourceTON, NPI: c.SourceNPI, Addr: addrDigits(m.From, c.SourceTON)},
			Dest:               smpp.Address{TON: c.DestTON, NPI: c.DestNPI, Addr: addrDigits(m.To, c.DestTON)},
			RegisteredDelivery: c.RegisteredDelivery,
			DataCoding:         smpp.DataCoding(j.enc, c.GSMDataCoding),
		}
		smpp.SetPart(&p, j.parts[idx], j.method)
		pending.Add(1)
		seg := idx
		err := c.Submitter.SubmitAsync(sendCtx, &p, func(r smpp.SubmitResult, err error) {
			add(d.segmentResult(m, seg, len(j.parts), r, err))
			pending.Done()
		})
		if err != nil {
			pending.Done()
			add(d.segmentResult(m, seg, len(j.parts), smpp.SubmitResult{}, err))
			if !started {
				// Nothing reached the carrier: the booking is not needed.
				res.Cancel(context.Background())
			}
			for _, rest := range j.unsent[k+1:] {
				add(SegmentResult{Message: m.ID, Carrier: m.Carrier, Segment: rest, Outcome: Retryable, Reason: "not sent: " + err.Error()})
			}
			break
		}
		started = true
		d.stats.segments.Add(1)
	}
	pending.Wait()
	d.finish(m, results)
}

// pace waits until this process may send segs more segments of m's number
// and account (see Limiter.Pace).
func (d *Dispatcher) pace(ctx context.Context, m Outbound, segs int) error {
	for range segs {
		if err := d.cfg.Limiter.Pace(ctx, m.Carrier, m.From, m.RateClass); err != nil {
			return err
		}
	}
	return nil
}

// addrDigits writes an E.164 number as SMPP wants it for an international
// TON: digits without the '+'.
func addrDigits(n string, ton uint8) []byte {
	if ton == smpp.TONInternational && len(n) > 0 && n[0] == '+' {
		return []byte(n[1:])
	}
	return []byte(n)
}

// segmentResult classifies one submit's result.
func (d *Dispatcher) segmentResult(m Outbound, seg, parts int, r smpp.SubmitResult, err error) SegmentResult {
	out := SegmentResult{Message: m.ID, Carrier: m.Carrier, Segment: seg, Parts: parts}
	if err == nil {
		out.Outcome = Accepted
		out.CarrierID = r.MessageID
		return out
	}
	out.Reason = err.Error()
	if st, ok := smpp.StatusOf(err); ok {
		out.Status = uint32(st)
		switch {
		case st == smpp.StatusTHROTTLED || st == smpp.StatusMSGQFUL:
			d.stats.throttled.Add(1)
			out.Outcome = Retryable
		case st.Temporary(), st.Class() == smpp.ClassBind, st == smpp.StatusINVBNDSTS:
			out.Outcome = Retryable
		default:
			out.Outcome = Permanent
		}
		return out
	}
	if smpp.OutcomeUnknown(err) {
		d.stats.unknown.Add(1)
	}
	var ee *smpp.EncodeError
	if errors.As(err, &ee) {
		out.Outcome = Permanent
		return out
	}
	out.Outcome = Retryable // not bound, closed, unknown outcome, cancelled
	return out
}

// finish turns a message's segment results into its outcome.
func (d *Dispatcher) finish(m Outbound, results []SegmentResult) {
	var retryable, permanent, throttled bool
	for _, r := range results {
		switch r.Outcome {
		case Retryable:
			retryable = true
			if r.Status == uint32(smpp.StatusTHROTTLED) || r.Status == uint32(smpp.StatusMSGQFUL) {
				throttled = true
			}
		case Permanent:
			permanent = true
		}
	}
	if throttled {
		go d.cfg.Limiter.Throttled(context.Background(), m.Carrier, m.From, m.RateClass)
	}
	res := dispatchResult{segs: results}
	switch {
	case permanent:
		d.stats.failed.Add(1)
	case retryable:
		d.stats.retried.Add(1)
		var reason string
		var status uint32
		for _, r := range results {
			if r.Outcome == Retryable {
				reason, status = r.Reason, r.Status
				break
			}
		}
		res.retry = &Retry{Message: m.ID, NotBefore: time.Now().Add(d.backoff(m.Attempts)), Reason: reason, Status: status}
		// Only the accepted segments are recorded; the retry resends the rest.
		kept := results[:0:0]
		for _, r := range results {
			if r.Outcome == Accepted {
				kept = append(kept, r)
			}
		}
		res.segs = kept
	default:
		d.stats.accepted.Add(1)
	}
	d.done(res)
}

// backoff is the delay before attempt n+1: RetryMin doubling per attempt up
// to RetryMax, with jitter in [b/2, b].
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.cfg.RetryMin
	for i := 1; i < attempts && b < d.cfg.RetryMax; i++ {
		b *= 2
	}
	b = min(b, d.cfg.RetryMax)
	return b/2 + rand.N(b/2+1)
}

// done hands a message's result to the flusher and frees its slot.
func (d *Dispatcher) done(r dispatchResult) {
	d.results <- r
	<-d.slots
	d.stats.inFlight.Add(-1)
}

// flusher records results in batches: segment results first, then retries,
// so a requeued message's accepted segments are known before anyone claims
// it again. A failing store is retried until it answers: results are never
// dropped (if the process dies meanwhile, the leases run out and the messages
// are claimed again).
func (d *Dispatcher) flusher(done chan<- struct{}) {
	defer close(done)
	var segs []SegmentResult
	var retries []Retry
	for r := range d.results {
		segs, retries = segs[:0], retries[:0]
		add := func(r dispatchResult) {
			segs = append(segs, r.segs...)
			if r.retry != nil {
				retries = append(retries, *r.retry)
			}
		}
		add(r)
		// Gather for a moment: each store call costs a transaction and a
		// plan whatever its size.
		linger := time.NewTimer(2 * time.Millisecond)
	more:
		for len(segs)+len(retries) < 2000 {
			select {
			case r, ok := <-d.results:
				if !ok {
					break more
				}
				add(r)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		d.retryStore("record submits", func(ctx context.Context) error {
			if len(segs) == 0 {
				return nil
			}
			return d.cfg.Store.RecordSubmits(ctx, segs)
		})
		d.retryStore("requeue", func(ctx context.Context) error {
			if len(retries) == 0 {
				return nil
			}
			return d.cfg.Store.Requeue(ctx, d.cfg.Owner, retries)
		})
	}
}

func (d *Dispatcher) retryStore(what string, f func(context.Context) error) {
	delay := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		d.stats.storeErrors.Add(1)
		d.log.Warn(what+" failed; retrying", zap.Error(err), zap.Duration("retry_in", delay))
		time.Sleep(delay)
		delay = min(2*delay, 5*time.Second)
	}
}
