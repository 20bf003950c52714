package routing

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// Defaults of DispatcherConfig's zero fields.
const (
	DefaultClaimBatch   = 200
	DefaultLease        = 2 * time.Minute
	DefaultInFlight     = 5000
	DefaultQueueAhead   = 2 * time.Second
	DefaultMinQueue     = 8
	DefaultRetryMin     = time.Second
	DefaultRetryMax     = 5 * time.Minute
	DefaultPoll         = 200 * time.Millisecond
	DefaultClaimGap     = 10 * time.Millisecond
	DefaultExpireEvery  = 30 * time.Second
	DefaultReleaseEvery = time.Second
	DefaultDrainTimeout = 10 * time.Second
	DefaultRefusalSpan  = 2 * time.Second
	DefaultMaxHold      = 5 * time.Millisecond
)

// The dispatcher's own timings, which no configuration changes.
const (
	// claimErrMin is the wait after a failed claim, doubling at each
	// failure in a row up to claimErrMax.
	claimErrMin, claimErrMax = 100 * time.Millisecond, 5 * time.Second
	// budgetWait: with the in-flight budget used up, the claim loop looks
	// again after this long.
	budgetWait = 5 * time.Millisecond
	// noBindWait: with no bind up here, the claim loop looks again after
	// this long (it claims nothing meanwhile).
	noBindWait = 100 * time.Millisecond
	// sweepEvery is how often the scheduler drops idle numbers' queues.
	sweepEvery = time.Second
	// takeTimeout bounds one Limiter.Take.
	takeTimeout = 5 * time.Second
	// takeErrMin: after a failed Take a carrier waits this long, doubling at
	// each failure in a row up to takeErrMax.
	takeErrMin, takeErrMax = 100 * time.Millisecond, 2 * time.Second
	// notHereDelay: a message of a carrier not configured in this process
	// is given back for this long (another process may hold the carrier).
	notHereDelay = time.Minute
	// handoffDelay is about how long a message given back for want of a
	// bind waits before anyone may claim it again (jittered in [1/2, 1]).
	handoffDelay = 300 * time.Millisecond
	// refusalLogEvery: a carrier's refusals of one number and status get
	// a warn line at most this often (the line counts those in between).
	refusalLogEvery = 10 * time.Second
	// spreadHold: a write check widened by refusals (writeLog.widen) gives
	// back half of what it grew by after this long without growing again.
	spreadHold = 5 * time.Minute
	// spreadCallTimeout bounds a call of the Limiter's SpreadMemory.
	spreadCallTimeout = time.Second
	// flushLinger is how long the flusher gathers results after the first
	// before it writes them, up to flushMax results at once.
	flushLinger = 2 * time.Millisecond
	flushMax    = 2000
	// storeErrMin: a store call that records results is retried after
	// this long, doubling up to storeErrMax; each try is bounded by
	// storeCallTimeout.
	storeErrMin, storeErrMax = 50 * time.Millisecond, 5 * time.Second
	storeCallTimeout         = 30 * time.Second
)

// DispatcherConfig configures a Dispatcher. Owner, Store, Limiter and
// Carriers are required; the other fields default to the Default* constants.
type DispatcherConfig struct {
	Owner    string // this process in claims; required
	Store    OutboundStore
	Limiter  Limiter
	Carriers map[string]*Carrier

	ClaimBatch int           // messages per claim
	Lease      time.Duration // claim lease: a message not started within half of it is given back
	InFlight   int           // messages held between claim and result, all numbers together
	// QueueAhead sizes each sender number's ready queue: it holds at most
	// what the number can send in this long at its rate (and at least
	// MinQueue messages). A number whose queue is full is left out of
	// claims, so its backlog stays in the store and never takes the claims
	// or the in-flight budget of other numbers.
	QueueAhead time.Duration
	// MinQueue is also the most messages of one number a claim takes while
	// the numbers with work hold no more than half of InFlight at that
	// many each; past that, fewer (claimPerNumber).
	MinQueue int
	RetryMin time.Duration // first retry delay
	RetryMax time.Duration // longest retry delay
	Poll     time.Duration // how often an idle dispatcher looks for work
	// ClaimGap is the least time between two claims that found less than a
	// full batch: kicks arriving meanwhile are gathered into one claim,
	// which costs a transaction whatever its size.
	ClaimGap    time.Duration
	ExpireEvery time.Duration // how often expired messages are failed
	// ReleaseEvery is how often scheduled messages whose send time has
	// come are queued (Store.ReleaseScheduled): a scheduled message goes
	// out up to this long after its send time, then at its number's rate.
	ReleaseEvery time.Duration
	DrainTimeout time.Duration // how long Run waits for started messages when stopping
	// RefusalSpan: carrier refusals (0x58) of two or more numbers of one
	// account within this span slow the whole account; a refusal of one
	// number slows only that number.
	RefusalSpan time.Duration
	// MaxHold is how long granted tokens may wait for a window slot. The
	// dispatcher takes tokens ahead of the window: for the parts in flight
	// whose answers are due (at the round trip the binds measure) within
	// about a Take's duration, so that a slot is refilled the moment it
	// frees rather than a round trip to the limiter later (with a window
	// of W the slots otherwise stay empty for one Take in every round
	// trip). Tokens not written within MaxHold are given back. A grant
	// then reaches the carrier up to MaxHold after its time, so keep it
	// within the throttle's margin (the engine uses half of it). 0 takes
	// no tokens ahead of the window.
	MaxHold time.Duration
	// WriteMargin is for the dispatcher's own check, at the moment of
	// writing, of the limits the Limiter reports as sliding windows
	// (SlidingLimits): a part of a number (or account) allowed N segments
	// in any Interval is not written while N of its segments were written
	// in the last Interval+WriteMargin. It waits: its tokens stay pooled
	// when the wait ends within MaxHold of their grant, and go back to the
	// limiter otherwise. The limiter grants by the same rule, so this holds
	// a part back only when an earlier grant was written later after its
	// grant than this one (it waited for a window slot, or the process was
	// starved) and would otherwise share an interval with it at the
	// carrier. WriteMargin covers the spread from writing to the carrier's
	// reading: the engine uses the throttle's whole margin, so that what a
	// grant waited never takes from it. Negative: no check. It is this
	// process's check only: a number sent from several processes relies on
	// the limiter alone.
	//
	// A 0x58 refusal of a sliding limit that this check's record of writes
	// explains by a spread larger than WriteMargin (the carrier counted
	// them later than that, unevenly) widens the check of that number or
	// account by the spread, at most a tenth of the interval, instead of
	// slowing it down (see judge); half of it is given back after
	// spreadHold without another. A Limiter that is a SpreadMemory keeps
	// an account's for the other processes and the next start.
	WriteMargin time.Duration
	Logger      *zap.Logger
	// Now is the dispatcher's clock (time.Now when nil): the instants it
	// decides by and records (retry times, the write check, refusal spans,
	// when a grant may be written). Its timers and tickers run on real
	// time; tests that assert those instants pass a clock of their own.
	Now func() time.Time
}

// Dispatcher takes queued messages from the store into a ready queue per
// sender number and serves the numbers that have room in turn. Every few
// milliseconds, for each carrier account, it asks the limiter for what the
// numbers with work may send now (tokens taken just in time, never booked
// ahead: a number waiting for its rate holds nothing that another number
// could use), writes those segments at once on the carrier's binds (never
// more than their free window, so a granted segment does not wait for the
// window after its token was taken), and records the results: accepted
// segments with the carrier's id, retryable refusals requeued with backoff
// (and the refused number, or account, slowed down), permanent refusals
// failing the message.
//
// Fairness: the binds' free window is dealt to the numbers with work in
// rotating order, and when a carrier account's rate is short of what its
// numbers could send, the limiter shares it by the numbers' weights. A
// number's queue holds only what it can send in QueueAhead, so a long
// backlog of one number never takes the claims of another.
//
// Messages to one contact from one number go out in the order they were
// accepted: the store hands out only the oldest pending message of a pair,
// and a message is released (recorded or requeued) before the next of its
// pair can be claimed.
type Dispatcher struct {
	cfg     DispatcherConfig
	log     *zap.Logger
	now     func() time.Time // cfg.Now
	kick    chan struct{}
	wake    chan struct{} // the scheduler: new claims, a window slot freed
	results chan dispatchResult
	stats   dispatchCounters

	held    atomic.Int64             // messages claimed and not yet released
	jobs    sync.WaitGroup           // one per message held
	returns sync.WaitGroup           // tokens being given back to the limiter
	full    atomic.Pointer[[]string] // numbers whose queues are full, for Claim
	// withWork is how many numbers have messages queued here (the
	// scheduler's rings), for claimPerNumber.
	withWork atomic.Int64
	intakeM  sync.Mutex // guards intake
	intake   []Outbound // claimed, not yet in a queue
	refuseM  sync.Mutex // guards refuse, recent and refusals
	refuse   map[RefusalKey]*refusalCount
	recent   map[string]map[string]time.Time // carrier → number → last 0x58
	refusals []refusal                       // for the scheduler to judge

	// carrierSet is the carrier set in force (SetCarriers); reconf is a
	// new one the scheduler has not applied yet.
	carrierSet atomic.Pointer[map[string]*Carrier]
	reconf     atomic.Pointer[map[string]*Carrier]

	// scheduler state: only the scheduler goroutine touches these
	carriers map[string]*carrierQ
	numbers  map[numberKey]*numberQ
	widened  map[*writeLog]struct{} // write checks a refusal widened
}

type dispatchResult struct {
	segs  []SegmentResult
	retry *Retry
}

type dispatchCounters struct {
	claimed, accepted, retried, failed, handedBack, expired atomic.Int64
	released                                                atomic.Int64
	segments, throttled, unknown, limiterDown, storeErrors  atomic.Int64
	takes, quiet, queued, writeHeld, spreadWidened          atomic.Int64
}

// DispatcherStats are the dispatcher's counters.
type DispatcherStats struct {
	Claimed     int64 // messages claimed
	Accepted    int64 // messages whose every part the carrier accepted
	Retried     int64 // messages requeued after a retryable refusal
	Failed      int64 // messages failed by a permanent refusal
	HandedBack  int64 // messages given back unsent (no bind up here, waited too long, shutting down)
	Expired     int64 // messages expired by age
	Released    int64 // scheduled messages queued at their send time
	Segments    int64 // submit_sm sent
	Throttled   int64 // parts answered 0x58 or 0x14
	Unknown     int64 // parts whose outcome is unknown (timeout, link lost after writing)
	LimiterDown int64 // takes that failed because the limiter could not answer
	StoreErrors int64 // store calls that failed
	Takes       int64 // limiter calls (one per carrier account per round)
	Quiet       int64 // takes answered with a quiet period
	InFlight    int64 // messages held now (claimed, not yet released)
	Queued      int64 // of which waiting in a number's queue, not started
	// WriteHeld counts parts held back at the moment of writing by the
	// check of WriteMargin (an earlier grant was written late).
	WriteHeld int64
	// SpreadWidened counts refusals the dispatcher put down to the
	// carrier counting later than WriteMargin allows, and answered by
	// widening its write check instead of slowing down (see judge).
	SpreadWidened int64
}

// RefusalKey names a count of carrier refusals.
type RefusalKey struct {
	Carrier string
	Number  string // the sender number
	Status  uint32 // 0x58 or 0x14
}

type refusalCount struct {
	n       int64
	logged  time.Time // last warn line
	skipped int64     // refusals since, not logged
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
		cfg.ClaimBatch = DefaultClaimBatch
	}
	if cfg.InFlight < cfg.ClaimBatch {
		cfg.InFlight = max(DefaultInFlight, cfg.ClaimBatch)
	}
	if cfg.MinQueue <= 0 {
		cfg.MinQueue = DefaultMinQueue
	}
	def(&cfg.Lease, DefaultLease)
	def(&cfg.QueueAhead, DefaultQueueAhead)
	def(&cfg.RetryMin, DefaultRetryMin)
	def(&cfg.RetryMax, DefaultRetryMax)
	def(&cfg.Poll, DefaultPoll)
	def(&cfg.ClaimGap, DefaultClaimGap)
	def(&cfg.ExpireEvery, DefaultExpireEvery)
	def(&cfg.ReleaseEvery, DefaultReleaseEvery)
	def(&cfg.DrainTimeout, DefaultDrainTimeout)
	def(&cfg.RefusalSpan, DefaultRefusalSpan)
	if cfg.MaxHold < 0 {
		cfg.MaxHold = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Dispatcher{
		cfg:      cfg,
		log:      cfg.Logger.Named("dispatcher"),
		now:      cfg.Now,
		kick:     make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
		results:  make(chan dispatchResult, cfg.InFlight),
		refuse:   map[RefusalKey]*refusalCount{},
		recent:   map[string]map[string]time.Time{},
		carriers: map[string]*carrierQ{},
		numbers:  map[numberKey]*numberQ{},
		widened:  map[*writeLog]struct{}{},
	}
	set := make(map[string]*Carrier, len(cfg.Carriers))
	for name, c := range cfg.Carriers {
		d.carriers[name] = &carrierQ{name: name, c: c, wlog: d.newWriteLog(name, "")}
		set[name] = c
	}
	d.carrierSet.Store(&set)
	d.full.Store(&[]string{})
	return d, nil
}

// Kick tells the dispatcher that new messages were queued, so it looks now
// instead of at its next poll.
func (d *Dispatcher) Kick() { signal(d.kick) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (d *Dispatcher) Stats() DispatcherStats {
	c := &d.stats
	return DispatcherStats{
		Claimed: c.claimed.Load(), Accepted: c.accepted.Load(), Retried: c.retried.Load(), Failed: c.failed.Load(),
		HandedBack: c.handedBack.Load(), Expired: c.expired.Load(), Released: c.released.Load(), Segments: c.segments.Load(), Throttled: c.throttled.Load(),
		Unknown: c.unknown.Load(), LimiterDown: c.limiterDown.Load(), StoreErrors: c.storeErrors.Load(),
		Takes: c.takes.Load(), Quiet: c.quiet.Load(), InFlight: d.held.Load(), Queued: c.queued.Load(),
		WriteHeld: c.writeHeld.Load(), SpreadWidened: c.spreadWidened.Load(),
	}
}

// Refusals returns how many submits each carrier refused for now (0x58,
// 0x14), per sender number, since the dispatcher started.
func (d *Dispatcher) Refusals() map[RefusalKey]int64 {
	d.refuseM.Lock()
	defer d.refuseM.Unlock()
	out := make(map[RefusalKey]int64, len(d.refuse))
	for k, v := range d.refuse {
		out[k] = v.n
	}
	return out
}

// Run dispatches until ctx ends. It then stops claiming, gives back the
// messages not yet started, lets the started ones finish for up to
// DrainTimeout, records every result and returns.
func (d *Dispatcher) Run(ctx context.Context) error {
	flushed := make(chan struct{})
	go d.flusher(flushed)
	sendCtx, cancelSends := context.WithCancel(context.Background())
	defer cancelSends()
	schedDone, claimsDone := make(chan struct{}), make(chan struct{})
	go func() { d.schedule(ctx, sendCtx, claimsDone); close(schedDone) }()
	releaseDone := make(chan struct{})
	go func() { d.releaseLoop(ctx); close(releaseDone) }()
	d.claimLoop(ctx)
	<-releaseDone
	close(claimsDone)
	signal(d.wake)
	<-schedDone
	drained := make(chan struct{})
	go func() { d.jobs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(d.cfg.DrainTimeout):
		d.log.Warn("drain timeout: cancelling submits still in flight")
		cancelSends()
		<-drained
	}
	close(d.results)
	<-flushed
	d.returns.Wait()
	return nil
}

// claimLoop claims messages for the scheduler until ctx ends: as many as the
// in-flight budget allows, leaving out the numbers whose queues are full.
func (d *Dispatcher) claimLoop(ctx context.Context) {
	poll := time.NewTimer(0)
	defer poll.Stop()
	expire := time.NewTicker(d.cfg.ExpireEvery)
	defer expire.Stop()
	errDelay := claimErrMin
	for ctx.Err() == nil {
		free := d.cfg.InFlight - int(d.held.Load())
		if free < min(d.cfg.ClaimBatch, d.cfg.InFlight)/2 {
			// Wait for some messages to finish before claiming more.
			sleepCtx(ctx, budgetWait)
			continue
		}
		if !d.anyUp() {
			// No bind is up here (starting, or other processes hold them
			// all): leave the queue to the processes that can send.
			select {
			case <-ctx.Done():
			case <-time.After(noBindWait):
			case <-expire.C:
				d.expire(ctx)
			}
			continue
		}
		want := min(free, d.cfg.ClaimBatch)
		msgs, err := d.cfg.Store.Claim(ctx, d.cfg.Owner, want, d.cfg.Lease, *d.full.Load(), d.claimPerNumber())
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			d.stats.storeErrors.Add(1)
			d.log.Warn("claim failed", zap.Error(err), zap.Duration("retry_in", errDelay))
			sleepCtx(ctx, errDelay)
			errDelay = min(2*errDelay, claimErrMax)
			continue
		}
		errDelay = claimErrMin
		if len(msgs) > 0 {
			d.stats.claimed.Add(int64(len(msgs)))
			d.held.Add(int64(len(msgs)))
			d.jobs.Add(len(msgs))
			d.intakeM.Lock()
			d.intake = append(d.intake, msgs...)
			d.intakeM.Unlock()
			signal(d.wake)
			if len(msgs) == want {
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
}

// claimPerNumber is how many messages of one sender number a claim takes:
// MinQueue, or fewer when that many of each number with work here would
// take more than half the in-flight budget. Then the carrier account, not
// the numbers, is the bottleneck (thousands of numbers with work), and a
// number's next messages would only wait in memory while other numbers'
// first ones wait in the store: claiming fewer of each spreads the budget
// over more numbers, down to one message each, so that every backlogged
// number is sent from within a few passes of the budget instead of a block
// of numbers at a time.
func (d *Dispatcher) claimPerNumber() int {
	n := int(d.withWork.Load())
	if n*d.cfg.MinQueue <= d.cfg.InFlight/2 {
		return d.cfg.MinQueue
	}
	return max(1, d.cfg.InFlight/(2*n))
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// releaseLoop queues the scheduled messages that are due, every
// ReleaseEvery, until ctx ends, and kicks the claim loop when it queued
// some. It runs beside the claim loop, so that releasing a large batch
// never delays a claim.
func (d *Dispatcher) releaseLoop(ctx context.Context) {
	t := time.NewTicker(d.cfg.ReleaseEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := d.cfg.Store.ReleaseScheduled(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.stats.storeErrors.Add(1)
				d.log.Warn("releasing scheduled messages failed", zap.Error(err))
			}
			continue
		}
		if n > 0 {
			d.stats.released.Add(n)
			d.Kick()
		}
	}
}

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

// anyUp reports whether some carrier of this process has a bind up: until
// one does, claiming would only hand messages back.
func (d *Dispatcher) anyUp() bool {
	for _, c := range d.carriersNow() {
		if c.up() {
			return true
		}
	}
	return false
}

// job is one claimed message on its way to the carrier.
type job struct {
	m       Outbound
	c       *Carrier
	parts   []coding.Part
	enc     coding.Encoding
	method  coding.Method
	unsent  []int // part indexes to send in this attempt
	perPart int   // segments (tokens) each part counts: 1, or all of them for one message_payload
	next    int   // unsent[next] is the next part to submit
	tokens  int   // tokens taken toward that part
	claimed time.Time

	mu          sync.Mutex
	results     []SegmentResult
	outstanding int       // parts submitted whose result has not come
	closed      bool      // no more parts will be submitted
	refusedAt   time.Time // when a part the carrier refused for now (0x58, 0x14) was written
}

// need is how many tokens the job's remaining parts take.
func (j *job) need() int { return (len(j.unsent)-j.next)*j.perPart - j.tokens }

func (j *job) started() bool { return j.next > 0 }

// numberKey names a sender number on a carrier account.
type numberKey struct{ carrier, number string }

// numberQ is a sender number's ready queue.
type numberQ struct {
	key      numberKey
	class    string
	cq       *carrierQ
	jobs     []*job    // in claim order; jobs[0] may be partly submitted
	eligible time.Time // no take for it before this (it has no room until then)
	pool     int       // tokens granted and not yet spent (waiting for a window slot)
	pooledAt time.Time // when pool was granted (local clock)
	grantAt  time.Time // the limiter's time of that grant (for Return)
	inRing   bool
	ringAt   int // its index in cq.ring when the last round was planned
	weight   float64
	cap      int       // most jobs queued
	wlog     *writeLog // its recent writes (nil: no check)
	writeAt  time.Time // its pooled tokens wait for the write check until then
}

// carrierQ is a carrier account's numbers with work.
type carrierQ struct {
	name string
	c    *Carrier
	ring []*numberQ
	// rr is where the next round starts in ring: past the last number the
	// previous round got tokens for, so that when the account is short
	// every number with work gets its turn (round robin over the grants,
	// not over the rounds).
	rr       int
	eligible time.Time // the account has no room before this
	errDelay time.Duration
	quiet    bool // in a quiet period (logged once)

	// The look-ahead's view of the window: when each part in flight was
	// written (oldest first; the scheduler appends, and drops one from the
	// front per answer, as answers come about in order), the round trip an
	// answer takes and how long a Take takes (moving averages).
	sent     []time.Time
	answered atomic.Int64 // answers received (response, timeout, link lost)
	dropped  int64        // answers already taken off sent
	rtt      atomic.Int64 // nanoseconds
	takeTime time.Duration

	wlog *writeLog // the account's recent writes (nil: no check)
}

// inFlight brings cq.sent up to date with the answers received and
// returns it.
func (cq *carrierQ) inFlight() []time.Time {
	k := int(min(cq.answered.Load()-cq.dropped, int64(len(cq.sent))))
	if k > 0 {
		cq.dropped += int64(k)
		n := copy(cq.sent, cq.sent[k:])
		cq.sent = cq.sent[:n]
	}
	return cq.sent
}

// answer records that one of cq's parts in flight was answered after rtt
// (0: no response, the link was lost or it timed out). It runs on the
// session's goroutines.
func (cq *carrierQ) answer(rtt time.Duration) {
	if rtt > 0 {
		old := cq.rtt.Load()
		if old == 0 {
			cq.rtt.Store(int64(rtt))
		} else {
			cq.rtt.Store(old + (int64(rtt)-old)/8)
		}
	}
	cq.answered.Add(1)
}

// lead is how long before a window slot is due to free the look-ahead
// takes its tokens: a Take's usual duration, and a quarter of maxHold so
// that the grant is usually there first.
func (cq *carrierQ) lead(maxHold time.Duration) time.Duration {
	return cq.takeTime + maxHold/4
}

// freeingBy is how many of cq's parts in flight are due to be answered by
// t, at the usual round trip.
func (cq *carrierQ) freeingBy(t time.Time) int {
	rtt := time.Duration(cq.rtt.Load())
	if rtt <= 0 {
		return 0
	}
	sent := cq.inFlight()
	return sort.Search(len(sent), func(i int) bool { return sent[i].Add(rtt).After(t) })
}

// schedule is the scheduler goroutine: it moves claimed messages into their
// numbers' queues and serves the numbers with work and room. When ctx ends
// it gives back what has not started and goes on serving the started
// messages; it returns once none is left (or DrainTimeout has passed) and
// claimsDone is closed (no claim can bring more).
func (d *Dispatcher) schedule(ctx, sendCtx context.Context, claimsDone <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var stopDeadline time.Time
	d.recallSpreads(sendCtx)
	lastSweep := d.now()
	for {
		now := d.now()
		stopping := ctx.Err() != nil
		if stopping && stopDeadline.IsZero() {
			stopDeadline = now.Add(d.cfg.DrainTimeout)
		}
		d.applyCarriers(now)
		d.takeIntake(now)
		d.judgeRefusals(now)
		if stopping {
			d.handBackAll(0, false)
			if d.startedJobs() == 0 || now.After(stopDeadline) {
				select {
				case <-claimsDone:
					d.takeIntake(now)
					d.handBackAll(0, true)
					d.publishFull()
					return
				default:
				}
			}
		}
		if now.Sub(lastSweep) > sweepEvery {
			lastSweep = now
			d.sweep(now)
		}
		reqs, plans := d.plan(sendCtx, now)
		granted := 0
		if len(reqs) > 0 {
			takeCtx, cancel := context.WithTimeout(sendCtx, takeTimeout)
			t0 := d.now()
			res := d.cfg.Limiter.Take(takeCtx, reqs)
			took := d.now().Sub(t0)
			cancel()
			for _, r := range reqs {
				cq := d.carriers[r.Carrier]
				cq.takeTime += (took - cq.takeTime) / 8
			}
			granted = d.apply(sendCtx, reqs, plans, res)
		}
		d.publishFull()
		next := d.nextWake(d.now())
		switch {
		case next == 0 && granted > 0:
			continue // more to send now
		case next == 0:
			// Asked and got nothing, yet nothing says wait (or the time
			// came since this round planned): look again soon, without
			// spinning.
			next = time.Millisecond
		case next < 0 || next > d.cfg.Poll:
			next = d.cfg.Poll
		}
		done := ctx.Done()
		if stopping {
			done = nil
		}
		timer.Reset(next)
		select {
		case <-d.wake:
		case <-timer.C:
		case <-done:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// takeIntake moves the claimed messages into their numbers' queues.
func (d *Dispatcher) takeIntake(now time.Time) {
	d.intakeM.Lock()
	msgs := d.intake
	d.intake = nil
	d.intakeM.Unlock()
	for _, m := range msgs {
		j, res := d.prepare(m, now)
		if res != nil {
			d.done(*res)
			continue
		}
		n := d.number(j)
		n.jobs = append(n.jobs, j)
		d.stats.queued.Add(1)
		if !n.inRing {
			n.inRing = true
			n.cq.ring = append(n.cq.ring, n)
		}
	}
}

// number returns the queue of j's sender number, making it when new.
func (d *Dispatcher) number(j *job) *numberQ {
	k := numberKey{j.m.Carrier, j.m.From}
	n := d.numbers[k]
	if n == nil {
		rate := d.cfg.Limiter.Rate(j.m.Carrier, j.m.RateClass)
		n = &numberQ{key: k, class: j.m.RateClass, cq: d.carriers[j.m.Carrier], weight: max(rate, 0.001),
			cap: max(d.cfg.MinQueue, rateCap(rate, d.cfg.QueueAhead)), wlog: d.newWriteLog(j.m.Carrier, j.m.RateClass)}
		d.numbers[k] = n
	}
	return n
}

// rateCap is the most jobs a number's queue holds at rate: what it sends
// in ahead (QueueAhead).
func rateCap(rate float64, ahead time.Duration) int { return int(math.Ceil(rate * ahead.Seconds())) }

// newWriteLog is the write check of a number of rateClass on carrier, or of
// the carrier account with rateClass "": nil when its limit is not a
// sliding window (or the check is off).
func (d *Dispatcher) newWriteLog(carrier, rateClass string) *writeLog {
	sl, ok := d.cfg.Limiter.(SlidingLimits)
	if !ok || d.cfg.WriteMargin < 0 {
		return nil
	}
	n, interval, ok := sl.Sliding(carrier, rateClass)
	if !ok {
		return nil
	}
	return newWriteLog(n, interval, d.cfg.WriteMargin, d.now())
}

func (d *Dispatcher) prepare(m Outbound, now time.Time) (*job, *dispatchResult) {
	var c *Carrier
	if cq := d.carriers[m.Carrier]; cq != nil {
		c = cq.c
	}
	if c == nil {
		// Another engine may hold this carrier: give it back for a while.
		d.stats.handedBack.Add(1)
		return nil, &dispatchResult{retry: &Retry{Message: m.ID, NotBefore: now.Add(notHereDelay), Reason: fmt.Sprintf("carrier %q is not configured on %s", m.Carrier, d.cfg.Owner)}}
	}
	if !c.up() {
		d.stats.handedBack.Add(1)
		return nil, d.handBack(m, now, c)
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
	j := &job{m: m, c: c, parts: parts, enc: enc, method: method, perPart: 1, claimed: now}
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
		// Every part went out in an earlier attempt; record nothing new,
		// the store already has them all.
		return nil, &dispatchResult{}
	}
	return j, nil
}

// handBack gives a message back unsent for a process whose binds are up:
// no bind of its carrier is up here (another engine process may hold them
// all). At once rather than with a growing backoff.
func (d *Dispatcher) handBack(m Outbound, now time.Time, c *Carrier) *dispatchResult {
	return &dispatchResult{retry: &Retry{Message: m.ID, NotBefore: now.Add(handoffDelay/2 + rand.N(handoffDelay/2+1)),
		Reason: fmt.Sprintf("no bind of carrier %q is up on %s", c.Name, d.cfg.Owner)}}
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

// plan builds this round's takes: for each carrier account with free window
// and room, the numbers with work whose own room has come, each wanting the
// tokens of the parts dealt to it from the free window (one part each in
// turn, from a start that rotates every round).
func (d *Dispatcher) plan(sendCtx context.Context, now time.Time) ([]TakeRequest, [][]*numberQ) {
	var reqs []TakeRequest
	var plans [][]*numberQ
	for _, cq := range d.carriers {
		if len(cq.ring) == 0 {
			continue
		}
		if !cq.c.up() {
			d.handBackCarrier(cq, now)
			continue
		}
		// Tokens granted already are written whatever the account's room
		// now (they may have waited for a slot or the write check).
		free := freeWindow(cq.c)
		free = d.spendPools(sendCtx, cq, now, free)
		if now.Before(cq.eligible) {
			continue
		}
		ahead := 0
		if d.cfg.MaxHold > 0 {
			// The parts in flight whose answers are due before a Take
			// started now would return: their slots get tokens now.
			ahead = cq.freeingBy(now.Add(cq.lead(d.cfg.MaxHold)))
		}
		for _, n := range cq.ring {
			if n.pool > 0 {
				ahead -= n.pool // tokens already held count against the look-ahead
			}
		}
		free += max(ahead, 0)
		if free <= 0 {
			continue // a response will wake the scheduler
		}
		var cands []*numberQ
		var alloc, left []int
		for i := range cq.ring {
			at := (cq.rr + i) % len(cq.ring)
			n := cq.ring[at]
			if len(n.jobs) > 0 && n.pool == 0 && !now.Before(n.eligible) {
				n.ringAt = at
				cands = append(cands, n)
				alloc = append(alloc, 0)
				left = append(left, partsLeft(n, free))
			}
		}
		if len(cands) == 0 {
			continue
		}
		// Deal the free window one part at a time.
		for dealt := true; free > 0 && dealt; {
			dealt = false
			for i := range cands {
				if free == 0 {
					break
				}
				if alloc[i] < left[i] {
					alloc[i]++
					free--
					dealt = true
				}
			}
		}
		req := TakeRequest{Carrier: cq.name, Spread: cq.wlog.spread()}
		var plan []*numberQ
		for i, n := range cands {
			if alloc[i] == 0 {
				continue
			}
			req.Wants = append(req.Wants, Want{Number: n.key.number, RateClass: n.class, Weight: n.weight, Max: tokensFor(n, alloc[i]), Spread: n.wlog.spread()})
			plan = append(plan, n)
		}
		if len(req.Wants) > 0 {
			reqs = append(reqs, req)
			plans = append(plans, plan)
		}
	}
	return reqs, plans
}

// partsLeft is how many parts n's queue still has to submit, counted up to
// atMost (a fast number's queue holds thousands of jobs; a round deals at
// most the free window).
func partsLeft(n *numberQ, atMost int) int {
	k := 0
	for _, j := range n.jobs {
		if k >= atMost {
			break
		}
		k += len(j.unsent) - j.next
	}
	return min(k, atMost)
}

// tokensFor is how many tokens n's next k parts take.
func tokensFor(n *numberQ, k int) int {
	t := 0
	for _, j := range n.jobs {
		left := len(j.unsent) - j.next
		if left > k {
			left = k
		}
		if left == 0 {
			continue
		}
		t += left * j.perPart
		if j.next < len(j.unsent) {
			t -= j.tokens
		}
		k -= left
		if k == 0 {
			break
		}
	}
	return t
}

// freeWindow is how many more submit_sm c's binds take now without waiting.
func freeWindow(c *Carrier) int {
	if fw, ok := c.Submitter.(interface{ FreeWindow() int }); ok {
		return fw.FreeWindow()
	}
	return 1 << 20
}

// apply spends the grants: each number's tokens go to its parts in order,
// which are submitted at once.
func (d *Dispatcher) apply(sendCtx context.Context, reqs []TakeRequest, plans [][]*numberQ, res []TakeResult) (granted int) {
	now := d.now()
	d.stats.takes.Add(int64(len(reqs)))
	for i, req := range reqs {
		cq := d.carriers[req.Carrier]
		r := res[i]
		switch {
		case r.Err != nil:
			d.stats.limiterDown.Add(1)
			cq.errDelay = min(max(2*cq.errDelay, takeErrMin), takeErrMax)
			cq.eligible = now.Add(cq.errDelay)
			d.log.Warn("throttle unavailable: nothing sent on this carrier meanwhile", zap.String("carrier", cq.name),
				zap.Error(r.Err), zap.Duration("retry_in", cq.errDelay))
			continue
		case r.Quiet > 0:
			d.stats.quiet.Add(1)
			cq.eligible = now.Add(r.Quiet)
			if !cq.quiet {
				cq.quiet = true
				d.log.Warn("throttle quiet period: the carrier account's rate state was lost (Redis restarted?); sending resumes when it ends",
					zap.String("carrier", cq.name), zap.Duration("quiet_for", r.Quiet), zap.Time("resumes_at", now.Add(r.Quiet)))
			}
			continue
		}
		cq.errDelay, cq.quiet = 0, false
		accountShort := false
		free := freeWindow(cq.c)
		for k, n := range plans[i] {
			g := Grant{}
			if k < len(r.Grants) {
				g = r.Grants[k]
			}
			want := req.Wants[k].Max
			granted += g.N
			if g.N > 0 {
				// The ring is as plan saw it (only this goroutine changes
				// it, and not in between).
				cq.rr = (n.ringAt + 1) % len(cq.ring)
				n.pooledAt, n.grantAt = now, r.At
				n.pool += g.N
				free = d.spend(sendCtx, n, free)
			}
			if g.N < want {
				if g.Wait > 0 {
					n.eligible = laterOf(n.eligible, now.Add(g.Wait)) // the write check may have said later
				} else {
					accountShort = true
				}
			}
		}
		if accountShort && r.AccountWait > 0 {
			cq.eligible = laterOf(cq.eligible, now.Add(r.AccountWait))
		}
	}
	return granted
}

// spend gives n's pooled tokens to its parts in order, submitting each part
// whose tokens are all there, while the window has free slots; it returns
// the free slots left. Tokens left in the pool wait for a slot (spendPools).
func (d *Dispatcher) spend(sendCtx context.Context, n *numberQ, free int) int {
	for free > 0 && n.pool > 0 && len(n.jobs) > 0 {
		j := n.jobs[0]
		t := min(n.pool, j.perPart-j.tokens)
		if j.tokens+t == j.perPart && !d.mayWrite(n, j.perPart) {
			break
		}
		j.tokens += t
		n.pool -= t
		if j.tokens < j.perPart {
			break
		}
		j.tokens = 0
		if !j.started() {
			d.stats.queued.Add(-1)
		}
		if !d.submit(sendCtx, n, j) {
			// The bind went down under us: give back this part's tokens
			// and the rest; the job is finished with what it sent.
			n.pool += j.perPart
			n.jobs = n.jobs[1:]
			d.giveBack(n)
			break
		}
		free--
		if j.next == len(j.unsent) {
			n.jobs = n.jobs[1:]
			j.close(d)
			if len(n.jobs) == n.cap/2 {
				d.Kick() // room for more of this number: claim now
			}
		}
	}
	if len(n.jobs) == 0 {
		n.jobs = nil
		d.giveBack(n) // nothing left to spend them on
	}
	return free
}

// mayWrite checks a part of k segments of n against the writes of n and
// of its account (WriteMargin). When it may not go now, n's pooled tokens
// wait for it if that is within MaxHold of their grant; otherwise they go
// back to the limiter and n (or the account) waits until it may.
func (d *Dispatcher) mayWrite(n *numberQ, k int) bool {
	if n.wlog == nil && n.cq.wlog == nil {
		return true
	}
	now := d.now()
	w, wa := n.wlog.wait(now, k), n.cq.wlog.wait(now, k)
	if w <= 0 && wa <= 0 {
		return true
	}
	at := now.Add(max(w, wa))
	if !n.writeAt.After(now) {
		d.stats.writeHeld.Add(1) // a part newly held back
	}
	if !at.After(n.pooledAt.Add(d.cfg.MaxHold)) {
		n.writeAt = at
		return false
	}
	n.writeAt = time.Time{}
	d.giveBack(n)
	if w > 0 {
		n.eligible = laterOf(n.eligible, now.Add(w))
	}
	if wa > 0 {
		n.cq.eligible = laterOf(n.cq.eligible, now.Add(wa))
	}
	return false
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// spendPools writes the carrier's numbers' pooled tokens into the free
// window, giving back those older than MaxHold (a grant must reach the
// carrier close to its time); it returns the free slots left.
func (d *Dispatcher) spendPools(sendCtx context.Context, cq *carrierQ, now time.Time, free int) int {
	for i := range cq.ring {
		n := cq.ring[(cq.rr+i)%len(cq.ring)] // in the rotating order of the deal
		if n.pool == 0 {
			continue
		}
		if now.Sub(n.pooledAt) > d.cfg.MaxHold {
			d.giveBack(n)
			continue
		}
		if free > 0 {
			free = d.spend(sendCtx, n, free)
		}
	}
	return free
}

// giveBack returns n's pooled tokens to the limiter, in the background:
// the scheduler does not wait for the round trip (a return that comes late
// only leaves the room taken a moment longer).
func (d *Dispatcher) giveBack(n *numberQ) {
	if n.pool > 0 {
		k, class, pool, at := n.key, n.class, n.pool, n.grantAt
		d.returns.Add(1)
		go func() {
			defer d.returns.Done()
			d.cfg.Limiter.Return(context.Background(), k.carrier, k.number, class, pool, at)
		}()
		n.pool = 0
	}
}

// submit writes j's next part. It returns false when the write failed at
// once (no bind): the job is then closed, its unsent parts retryable.
func (d *Dispatcher) submit(sendCtx context.Context, n *numberQ, j *job) bool {
	m, c, cq := j.m, j.c, n.cq
	idx := j.unsent[j.next]
	var validity []byte
	if !m.ExpiresAt.IsZero() {
		var err error
		if validity, err = smpp.RelativeTime(m.ExpiresAt.Sub(d.now())); err != nil {
			// Its validity ran out while it waited here: it is not sent,
			// and the expiry sweep marks it expired.
			j.closeUnsent(d, "not sent: its validity ran out")
			return false
		}
	}
	p := smpp.SubmitSM{
		Source:             smpp.Address{TON: c.SourceTON, NPI: c.SourceNPI, Addr: addrDigits(m.From, c.SourceTON)},
		Dest:               smpp.Address{TON: c.DestTON, NPI: c.DestNPI, Addr: addrDigits(m.To, c.DestTON)},
		RegisteredDelivery: c.RegisteredDelivery,
		DataCoding:         smpp.DataCoding(j.enc, c.GSMDataCoding),
		ValidityPeriod:     validity,
	}
	smpp.SetPart(&p, j.parts[idx], j.method)
	j.mu.Lock()
	j.outstanding++
	j.mu.Unlock()
	sentAt := d.now()
	err := c.Submitter.SubmitAsync(sendCtx, &p, func(r smpp.SubmitResult, err error) {
		cq.answer(r.RTT)
		if err != nil {
			if st, ok := smpp.StatusOf(err); ok && (st == smpp.StatusTHROTTLED || st == smpp.StatusMSGQFUL) {
				j.mu.Lock()
				j.refusedAt = sentAt
				j.mu.Unlock()
			}
		}
		j.result(d, d.segmentResult(m, idx, len(j.parts), r, err))
		signal(d.wake) // a window slot is free
	})
	if err != nil {
		j.result(d, d.segmentResult(m, idx, len(j.parts), smpp.SubmitResult{}, err))
		j.next++
		j.closeUnsent(d, "not sent: "+err.Error())
		return false
	}
	j.next++
	cq.sent = append(cq.inFlight(), sentAt)
	n.wlog.add(sentAt, j.perPart)
	cq.wlog.add(sentAt, j.perPart)
	d.stats.segments.Add(1)
	return true
}

// result records one part's result; the last one finishes the job.
func (j *job) result(d *Dispatcher, r SegmentResult) {
	j.mu.Lock()
	j.results = append(j.results, r)
	j.outstanding--
	last := j.closed && j.outstanding == 0
	j.mu.Unlock()
	if last {
		d.finish(j)
	}
}

// close says no more parts will be submitted.
func (j *job) close(d *Dispatcher) {
	j.mu.Lock()
	j.closed = true
	last := j.outstanding == 0
	j.mu.Unlock()
	if last {
		d.finish(j)
	}
}

// closeUnsent closes j with its parts not yet submitted recorded as not
// sent (retryable).
func (j *job) closeUnsent(d *Dispatcher, reason string) {
	j.mu.Lock()
	for _, idx := range j.unsent[j.next:] {
		j.results = append(j.results, SegmentResult{Message: j.m.ID, Carrier: j.m.Carrier, Segment: idx, Parts: len(j.parts), Outcome: Retryable, Reason: reason})
	}
	j.mu.Unlock()
	j.next = len(j.unsent)
	j.close(d)
}

// handBackAll empties every queue: jobs not started are given back (to be
// claimed again at once); started ones too when all is true, their unsent
// parts recorded as not sent.
func (d *Dispatcher) handBackAll(delay time.Duration, all bool) {
	now := d.now()
	for _, cq := range d.carriers {
		for _, n := range cq.ring {
			d.filterJobs(n, func(j *job) bool {
				switch {
				case !j.started():
					d.giveBackUnstarted(j, &Retry{Message: j.m.ID, NotBefore: now.Add(delay), Reason: "not sent: shutting down"})
				case all:
					j.closeUnsent(d, "not sent: shutting down")
				default:
					return true
				}
				return false
			})
		}
	}
}

// handBackCarrier gives back the queued messages of a carrier none of whose
// binds is up here, for a process that can send them.
func (d *Dispatcher) handBackCarrier(cq *carrierQ, now time.Time) {
	for _, n := range cq.ring {
		d.filterJobs(n, func(j *job) bool {
			if j.started() {
				j.closeUnsent(d, fmt.Sprintf("not sent: no bind of carrier %q is up", cq.name))
			} else {
				d.giveBackUnstarted(j, d.handBack(j.m, now, cq.c).retry)
			}
			return false
		})
	}
}

// sweep gives back the messages that waited in a queue for half their lease
// (before another process may claim them again), and drops idle numbers
// from the rings.
func (d *Dispatcher) sweep(now time.Time) {
	for w := range d.widened {
		if w.narrow(now, spreadHold) && w.within == w.base {
			delete(d.widened, w)
		}
	}
	limit := d.cfg.Lease / 2
	for _, cq := range d.carriers {
		ring := cq.ring[:0]
		for _, n := range cq.ring {
			d.filterJobs(n, func(j *job) bool {
				if !j.started() && now.Sub(j.claimed) > limit {
					d.giveBackUnstarted(j, &Retry{Message: j.m.ID, NotBefore: now, Reason: "waited too long for its number's turn; given back"})
					return false
				}
				return true
			})
			switch {
			case len(n.jobs) > 0:
				ring = append(ring, n)
			default:
				n.inRing = false
				if now.After(n.eligible) && n.wlog.idle(now) {
					delete(d.numbers, n.key)
					delete(d.widened, n.wlog)
				}
			}
		}
		clear(cq.ring[len(ring):])
		cq.ring = ring
		if len(ring) > 0 {
			cq.rr %= len(ring)
		} else {
			cq.rr = 0
		}
	}
}

// filterJobs keeps the jobs of n for which keep returns true, in order;
// when none is left, n's pooled tokens go back to the limiter.
func (d *Dispatcher) filterJobs(n *numberQ, keep func(*job) bool) {
	kept := n.jobs[:0]
	for _, j := range n.jobs {
		if keep(j) {
			kept = append(kept, j)
		}
	}
	clear(n.jobs[len(kept):])
	n.jobs = kept
	if len(n.jobs) == 0 {
		n.jobs = nil
		d.giveBack(n)
	}
}

// giveBackUnstarted releases a queued job that sent nothing with retry.
func (d *Dispatcher) giveBackUnstarted(j *job, retry *Retry) {
	d.stats.queued.Add(-1)
	d.stats.handedBack.Add(1)
	d.done(dispatchResult{retry: retry})
}

// startedJobs counts the jobs partly submitted.
func (d *Dispatcher) startedJobs() int {
	k := 0
	for _, cq := range d.carriers {
		for _, n := range cq.ring {
			for _, j := range n.jobs {
				if j.started() {
					k++
				}
			}
		}
	}
	return k
}

// publishFull tells the claimer which numbers have full queues, and how
// many numbers have work (claimPerNumber). It runs
// every round, so it allocates only when the set changed.
func (d *Dispatcher) publishFull() {
	old := *d.full.Load()
	k, same, work := 0, true, 0
	for _, cq := range d.carriers {
		work += len(cq.ring)
		for _, n := range cq.ring {
			if len(n.jobs) >= n.cap {
				same = same && k < len(old) && old[k] == n.key.number
				k++
			}
		}
	}
	d.withWork.Store(int64(work))
	if same && k == len(old) {
		return
	}
	full := make([]string, 0, k)
	for _, cq := range d.carriers {
		for _, n := range cq.ring {
			if len(n.jobs) >= n.cap {
				full = append(full, n.key.number)
			}
		}
	}
	d.full.Store(&full)
}

// nextWake is how long the scheduler may sleep: until the earliest time a
// number with work or an account gets room, for carriers with free window
// (or, with the look-ahead, a slot due to free soon). 0 means there is work
// to do now.
func (d *Dispatcher) nextWake(now time.Time) time.Duration {
	next := time.Duration(-1)
	for _, cq := range d.carriers {
		if len(cq.ring) == 0 {
			continue
		}
		var slot time.Time // when the window has a slot to take tokens for; zero: now
		if freeWindow(cq.c) <= 0 {
			t, ok := d.aheadAt(cq)
			if !ok {
				continue // a response will wake the scheduler
			}
			slot = t
		}
		for _, n := range cq.ring {
			if len(n.jobs) == 0 {
				continue
			}
			if n.pool > 0 {
				// It waits for a slot (a response wakes the scheduler), for
				// the write check, or for its tokens to go stale.
				w := n.pooledAt.Add(d.cfg.MaxHold).Sub(now)
				if n.writeAt.After(now) {
					w = min(w, n.writeAt.Sub(now))
				}
				if next < 0 || w < next {
					next = max(w, time.Millisecond)
				}
				continue
			}
			t := n.eligible
			if cq.eligible.After(t) {
				t = cq.eligible
			}
			if slot.After(t) {
				t = slot
			}
			w := t.Sub(now)
			if w <= 0 {
				return 0
			}
			if next < 0 || w < next {
				next = w
			}
		}
	}
	return next
}

// aheadAt is when the look-ahead takes tokens next on a carrier whose
// window is full: a lead before the first part in flight that no pooled
// token covers is due to be answered. ok is false when there is none (or no
// look-ahead): only an answer frees a slot then.
func (d *Dispatcher) aheadAt(cq *carrierQ) (t time.Time, ok bool) {
	rtt := time.Duration(cq.rtt.Load())
	if d.cfg.MaxHold <= 0 || rtt <= 0 {
		return time.Time{}, false
	}
	pooled := 0
	for _, n := range cq.ring {
		pooled += n.pool
	}
	sent := cq.inFlight()
	if pooled >= len(sent) {
		return time.Time{}, false
	}
	return sent[pooled].Add(rtt - cq.lead(d.cfg.MaxHold)), true
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
	out := SegmentResult{Message: m.ID, Carrier: m.Carrier, Segment: seg, Parts: parts, Queued: m.QueuedAt}
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

// finish turns a job's part results into its outcome.
func (d *Dispatcher) finish(j *job) {
	m, results := j.m, j.results
	var retryable, permanent bool
	for _, r := range results {
		switch r.Outcome {
		case Retryable:
			retryable = true
			if r.Status == uint32(smpp.StatusTHROTTLED) || r.Status == uint32(smpp.StatusMSGQFUL) {
				d.refused(j.c, m.From, m.RateClass, r.Status, j.refusedAt)
			}
		case Permanent:
			permanent = true
		}
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
		delay := d.backoff(m.Attempts)
		if status == uint32(smpp.StatusTHROTTLED) || status == uint32(smpp.StatusMSGQFUL) {
			// The carrier said "too fast", not "broken": the refused number
			// (or account) is slowed down already; the message waits its
			// turn again at the slower rate, not a growing backoff.
			delay = d.cfg.RetryMin/2 + rand.N(d.cfg.RetryMin/2+1)
		}
		res.retry = &Retry{Message: m.ID, NotBefore: d.now().Add(delay), Reason: reason, Status: status}
		// Only the accepted parts are recorded; the retry resends the rest.
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

// refused counts a carrier's refusal of number's submit, written at at,
// and hands it to the scheduler to answer (judge): what it was about is
// the number for 0x58; the whole account too for 0x14 (the carrier's
// queue), when the carrier says its limit is account-wide, or when
// refusals of two or more of its numbers fall within RefusalSpan.
func (d *Dispatcher) refused(c *Carrier, number, class string, status uint32, at time.Time) {
	now := d.now()
	d.refuseM.Lock()
	defer d.refuseM.Unlock()
	k := RefusalKey{Carrier: c.Name, Number: number, Status: status}
	rc := d.refuse[k]
	if rc == nil {
		rc = &refusalCount{}
		d.refuse[k] = rc
	}
	rc.n++
	r := refusal{carrier: c.Name, number: number, class: class, status: status, at: at, skipped: rc.skipped}
	if r.log = now.Sub(rc.logged) >= refusalLogEvery; r.log {
		rc.logged, rc.skipped = now, 0
	} else {
		rc.skipped++
	}
	r.account = status == uint32(smpp.StatusMSGQFUL) || c.AccountThrottle
	if status == uint32(smpp.StatusTHROTTLED) {
		rec := d.recent[c.Name]
		if rec == nil {
			rec = map[string]time.Time{}
			d.recent[c.Name] = rec
		}
		rec[number] = now
		others := 0
		for n, t := range rec {
			switch {
			case now.Sub(t) > d.cfg.RefusalSpan:
				delete(rec, n)
			case n != number:
				others++
			}
		}
		if others > 0 {
			r.account = true
		}
	}
	d.refusals = append(d.refusals, r)
	signal(d.wake)
}

// refusal is a carrier's refusal for now, waiting for the scheduler.
type refusal struct {
	carrier, number, class string
	status                 uint32
	account                bool      // about the account too (see refused)
	at                     time.Time // when the refused part was written
	log                    bool      // it gets a warn line
	skipped                int64     // refusals of its number and status since the last line
}

// recallSpreads starts each carrier account's write check widened by the
// spread remembered for it (SpreadMemory): what another process, or this
// one before a restart, learned from refusals. Scheduler goroutine, before
// its first round.
func (d *Dispatcher) recallSpreads(ctx context.Context) {
	mem, ok := d.cfg.Limiter.(SpreadMemory)
	if !ok {
		return
	}
	now := d.now()
	for name, cq := range d.carriers {
		if cq.wlog == nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, spreadCallTimeout)
		s, err := mem.Spread(cctx, name)
		cancel()
		if err != nil || s <= 0 || !cq.wlog.hold(s, now) {
			continue
		}
		d.widened[cq.wlog] = struct{}{}
		d.log.Info("the carrier account's write check starts widened by the spread remembered for it",
			zap.String("carrier", name), zap.Duration("account_check", cq.wlog.within))
	}
}

// rememberSpread hands an account's widened spread to the SpreadMemory,
// in the background.
func (d *Dispatcher) rememberSpread(carrier string, s time.Duration) {
	mem, ok := d.cfg.Limiter.(SpreadMemory)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), spreadCallTimeout)
		defer cancel()
		mem.RememberSpread(ctx, carrier, s, spreadHold)
	}()
}

// judgeRefusals answers the refusals handed over since the last round.
// Scheduler goroutine: the write logs are its own.
func (d *Dispatcher) judgeRefusals(now time.Time) {
	d.refuseM.Lock()
	rs := d.refusals
	d.refusals = nil
	d.refuseM.Unlock()
	for _, r := range rs {
		d.judge(r, now)
	}
}

// judge answers one refusal. A 0x58 that our own writes account for had
// the carrier counted them a little later than the write check allows
// (writeLog.explain: the carrier reads unevenly behind our writing, more
// than WriteMargin) is a matter of timing at the edge of the limit, not
// of a lower limit: the check of the number or account it explains is
// widened by that spread (writeLog.widen), and nothing slows down. Any
// other refusal slows down what it was about (Limiter.Throttled, the
// adaptive cut): 0x14, a spread beyond a tenth of the interval (the
// carrier allows less than configured, or other senders share the
// account), a limit that is not a sliding window here.
func (d *Dispatcher) judge(r refusal, now time.Time) {
	var nlog, alog *writeLog
	if cq := d.carriers[r.carrier]; cq != nil {
		alog = cq.wlog
	}
	if n := d.numbers[numberKey{r.carrier, r.number}]; n != nil {
		nlog = n.wlog
	}
	var spread []zap.Field
	if r.status == uint32(smpp.StatusTHROTTLED) && !r.at.IsZero() {
		for _, l := range []struct {
			name string
			w    *writeLog
		}{{"number_check", nlog}, {"account_check", alog}} {
			s, ok := l.w.explain(r.at, now)
			if !ok {
				continue
			}
			if l.w.widen(s, now) {
				d.widened[l.w] = struct{}{}
				if l.w == alog {
					d.rememberSpread(r.carrier, alog.within-alog.interval)
				}
			}
			spread = append(spread, zap.Duration(l.name, l.w.within))
		}
	}
	if len(spread) > 0 {
		d.stats.spreadWidened.Add(1)
		if r.log {
			d.log.Warn("carrier refused a submit at the edge of its limit, counting our writes later than the margin allows; widening the write check, not slowing down",
				append([]zap.Field{zap.String("carrier", r.carrier), zap.String("number", r.number), zap.String("status", fmt.Sprintf("0x%02X", r.status)),
					zap.Int64("since_last_line", r.skipped)}, spread...)...)
		}
		return
	}
	if r.log {
		d.log.Warn("carrier refused a submit for now; slowing down", zap.String("carrier", r.carrier), zap.String("number", r.number),
			zap.String("status", fmt.Sprintf("0x%02X", r.status)), zap.Bool("account_wide", r.account), zap.Int64("since_last_line", r.skipped))
	}
	ctx := context.Background()
	if r.status == uint32(smpp.StatusTHROTTLED) {
		go d.cfg.Limiter.Throttled(ctx, r.carrier, r.number, r.class)
	}
	if r.account {
		go d.cfg.Limiter.Throttled(ctx, r.carrier, "", r.class)
	}
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

// done hands a message's result to the flusher and releases it.
func (d *Dispatcher) done(r dispatchResult) {
	d.results <- r
	d.held.Add(-1)
	d.jobs.Done()
}

// flusher records results in batches: segment results first, then retries,
// so a requeued message's accepted segments are known before anyone claims
// it again. A failing store is retried until it answers: results are never
// dropped (if the process dies meanwhile, its claims come back to the
// others).
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
		linger := time.NewTimer(flushLinger)
	more:
		for len(segs)+len(retries) < flushMax {
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
		// A thread's next message can be claimed now.
		d.Kick()
	}
}

func (d *Dispatcher) retryStore(what string, f func(context.Context) error) {
	delay := storeErrMin
	for {
		ctx, cancel := context.WithTimeout(context.Background(), storeCallTimeout)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		d.stats.storeErrors.Add(1)
		d.log.Warn(what+" failed; retrying", zap.Error(err), zap.Duration("retry_in", delay))
		time.Sleep(delay)
		delay = min(2*delay, storeErrMax)
	}
}
