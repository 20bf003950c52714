package routing

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// slot is what the claimer knows of one sender number: whether the store
// has work of it (dueAt), how many of its messages this process holds, and
// how many it may hold (its queue's size).
type slot struct {
	number         string
	carrier, class string // "" until a claim or DueNumbers says

	held atomic.Int32 // claimed and not yet released (done)
	cap  atomic.Int32 // most held at once

	// The claimer goroutine's own:
	dueAt   time.Time // the store has claimable work of it from then; zero: none known
	inOrder bool      // in the rotation (order)
	seen    time.Time // last time it had work or held messages
	scan    int       // due messages a claim reads for it (0: the store's default)
	rate    float64   // what it can send, per second: its rate or its share of its account's (0: unknown)
}

// chunk is the most one claim takes of s: a quarter of its queue's time's
// worth, at least minQueue.
func (s *slot) chunk(minQueue int, ahead time.Duration) int {
	if s.rate <= 0 {
		return math.MaxInt32
	}
	return max(minQueue, int(math.Ceil(s.rate*ahead.Seconds()/4)))
}

// maxScan is the most due messages a claim reads of one number.
const maxScan = 100000

// claimer chooses what to claim: the numbers that have work in the store
// and room in their queues, in rotating order, each for as many messages as
// it has room for. It learns of numbers with work from notes (Kick with
// numbers: local enqueues, results recorded, retries) and from a periodic
// pass over the store's numbers with pending messages (DueNumbers: other
// processes' enqueues, leases released, scheduled sends, a restart), read
// a page at a time, so that the first claims after a restart never wait
// for, nor read, the whole backlog.
type claimer struct {
	d *Dispatcher

	slotsM sync.Mutex // guards slots (the claimer adds and drops; done looks up)
	slots  map[string]*slot

	noteM    sync.Mutex
	notes    map[string]time.Time // number → due from (earliest)
	discover bool                 // a bare Kick: look for numbers with work now

	// the claim goroutine's own:
	order      []*slot   // numbers with work, in rotation
	next       int       // where the next claim starts in order
	passAfter  int64     // the discovery pass's cursor
	passOn     bool      // a discovery pass is under way
	passAt     time.Time // when the last pass started
	resizedAt  time.Time
	discovered int64 // numbers reported by DueNumbers (stats)
}

func newClaimer(d *Dispatcher) *claimer {
	return &claimer{d: d, slots: map[string]*slot{}, notes: map[string]time.Time{}}
}

// note says number has claimable work from at.
func (c *claimer) note(number string, at time.Time) {
	c.noteM.Lock()
	if old, ok := c.notes[number]; !ok || at.Before(old) {
		c.notes[number] = at
	}
	c.noteM.Unlock()
}

// wantDiscovery asks for a discovery pass now.
func (c *claimer) wantDiscovery() {
	c.noteM.Lock()
	c.discover = true
	c.noteM.Unlock()
}

// slot returns number's slot, making it when new.
func (c *claimer) slot(number string) *slot {
	c.slotsM.Lock()
	defer c.slotsM.Unlock()
	s := c.slots[number]
	if s == nil {
		s = &slot{number: number}
		s.cap.Store(int32(c.d.cfg.MinQueue))
		c.slots[number] = s
	}
	return s
}

// release gives back one held message of number; it says whether the
// number's queue has room again (the claimer may claim for it).
func (c *claimer) release(number string) bool {
	c.slotsM.Lock()
	s := c.slots[number]
	c.slotsM.Unlock()
	if s == nil {
		return false
	}
	h := s.held.Add(-1)
	return h < s.cap.Load()
}

// takeNotes moves the notes into the slots and the rotation; it reports
// whether a discovery pass was asked for.
func (c *claimer) takeNotes() bool {
	c.noteM.Lock()
	notes, disc := c.notes, c.discover
	if len(notes) > 0 {
		c.notes = make(map[string]time.Time, len(notes))
	} else {
		notes = nil
	}
	c.discover = false
	c.noteM.Unlock()
	for n, at := range notes {
		c.due(c.slot(n), at)
	}
	return disc
}

// due records that s has work from at.
func (c *claimer) due(s *slot, at time.Time) {
	if s.dueAt.IsZero() || at.Before(s.dueAt) {
		s.dueAt = at
	}
	if !s.inOrder {
		s.inOrder = true
		c.order = append(c.order, s)
	}
}

// discoverPage reads the next page of the discovery pass. It returns the
// numbers read.
func (c *claimer) discoverPage(ctx context.Context, now time.Time) (int, error) {
	page := c.d.cfg.DiscoverPage
	nums, err := c.d.cfg.Store.DueNumbers(ctx, c.passAfter, page)
	if err != nil {
		return 0, err
	}
	for _, n := range nums {
		s := c.slot(n.Number)
		if s.carrier == "" {
			s.carrier, s.class = n.Carrier, n.RateClass
		}
		at := n.DueAt
		if at.IsZero() {
			at = now
		}
		c.due(s, at)
		c.passAfter = n.Cursor
	}
	c.discovered += int64(len(nums))
	if len(nums) < page {
		c.passOn, c.passAfter = false, 0
	}
	return len(nums), nil
}

// wants builds the next claim: from where the last one stopped, the
// numbers with work due and room, each wanting its room, up to budget
// messages and ClaimBatch numbers; all says it went round the whole
// rotation.
func (c *claimer) wants(now time.Time, budget int) (wants []ClaimWant, picked []*slot, all bool) {
	n := len(c.order)
	if n == 0 {
		return nil, nil, true
	}
	start := c.next % n
	i := 0
	for ; i < n && budget > 0 && len(wants) < c.d.cfg.ClaimBatch; i++ {
		s := c.order[(start+i)%n]
		if s.dueAt.IsZero() || s.dueAt.After(now) {
			continue
		}
		room := int(s.cap.Load() - s.held.Load())
		if room <= 0 {
			continue
		}
		room = min(room, budget, s.chunk(c.d.cfg.MinQueue, c.d.cfg.QueueAhead))
		budget -= room
		wants = append(wants, ClaimWant{Number: s.number, Max: room, Scan: s.scan})
		picked = append(picked, s)
	}
	c.next = start + i
	return wants, picked, i == n
}

// claimed takes a claim's answer: each number that gave all it was asked
// for may have more; one that gave less has nothing claimable for now
// (until a note or a discovery pass says otherwise). One that gave nothing
// is asked again at once reading 16 times as far (up to maxScan): its
// heads may sit behind their threads' later messages (requeued for later);
// the wider read stays until it gives all it is asked for. A number that
// gave all is due again when it has sent half of it. drained says no
// number gave all it was asked for.
func (c *claimer) claimed(now time.Time, wants []ClaimWant, picked []*slot, msgs []Outbound) (drained bool) {
	drained = true
	got := make(map[string]int, len(wants))
	for _, m := range msgs {
		got[m.From]++
	}
	for _, m := range msgs {
		s := c.slot(m.From)
		if s.carrier == "" {
			s.carrier, s.class = m.Carrier, m.RateClass
		}
	}
	for k, w := range wants {
		s := picked[k]
		g := got[w.Number]
		s.held.Add(int32(g))
		switch {
		case g == w.Max:
			s.scan = 0
			drained = false
			if s.rate > 0 {
				// Its queue fills at twice what it sends, no faster: its
				// backlog stays in the store, for other processes too.
				s.dueAt = now.Add(time.Duration(float64(g) / (2 * s.rate) * float64(time.Second)))
			}
		case g == 0 && s.scan < maxScan:
			s.scan = min(max(s.scan, 4*w.Max+16)*16, maxScan)
			drained = false
		default:
			s.dueAt = time.Time{}
		}
	}
	return drained
}

// nextDue is the earliest future time a number in the rotation becomes due
// (zero: none).
func (c *claimer) nextDue(now time.Time) time.Time {
	var t time.Time
	for _, s := range c.order {
		if s.dueAt.After(now) && (t.IsZero() || s.dueAt.Before(t)) {
			t = s.dueAt
		}
	}
	return t
}

// resize drops from the rotation the numbers with no work, forgets the idle
// ones, and sizes each number's queue by what it can send soon: its own
// rate, or its share of its carrier account's when the account is the
// bottleneck (the account's rate over its numbers with work), for
// QueueAhead, and at least MinQueue.
func (c *claimer) resize(now time.Time) {
	kept := c.order[:0]
	for _, s := range c.order {
		if s.dueAt.IsZero() {
			s.inOrder = false
			continue
		}
		kept = append(kept, s)
	}
	clear(c.order[len(kept):])
	c.order = kept
	active := map[string]int{}
	c.slotsM.Lock()
	defer c.slotsM.Unlock()
	for n, s := range c.slots {
		if !s.dueAt.IsZero() || s.held.Load() > 0 {
			s.seen = now
		} else if now.Sub(s.seen) > time.Minute {
			delete(c.slots, n)
			continue
		}
		if now.Sub(s.seen) < time.Second && s.carrier != "" {
			active[s.carrier]++
		}
	}
	lim, ahead := c.d.cfg.Limiter, c.d.cfg.QueueAhead.Seconds()
	for _, s := range c.slots {
		if s.carrier == "" {
			continue
		}
		rate := lim.Rate(s.carrier, s.class)
		if acct := lim.Rate(s.carrier, ""); acct > 0 && active[s.carrier] > 0 {
			rate = min(rate, acct/float64(active[s.carrier]))
		}
		s.rate = rate
		s.cap.Store(int32(max(c.d.cfg.MinQueue, int(math.Ceil(rate*ahead)))))
	}
}

// claimLoop claims messages for the scheduler until ctx ends: for the
// numbers with work and room, as many as the in-flight budget allows.
func (d *Dispatcher) claimLoop(ctx context.Context) {
	c := d.claimer
	poll := time.NewTimer(0)
	defer poll.Stop()
	expire := time.NewTicker(d.cfg.ExpireEvery)
	defer expire.Stop()
	errDelay := 100 * time.Millisecond
	fail := func(what string, err error) {
		d.stats.storeErrors.Add(1)
		d.log.Warn(what+" failed", zap.Error(err), zap.Duration("retry_in", errDelay))
		sleepCtx(ctx, errDelay)
		errDelay = min(2*errDelay, 5*time.Second)
	}
	for ctx.Err() == nil {
		now := time.Now()
		if c.takeNotes() || (!c.passOn && now.Sub(c.passAt) >= d.cfg.DiscoverEvery) {
			if !c.passOn {
				c.passOn, c.passAt, c.passAfter = true, now, 0
			}
		}
		if now.Sub(c.resizedAt) >= 250*time.Millisecond {
			c.resizedAt = now
			c.resize(now)
		}
		free := d.cfg.InFlight - int(d.held.Load())
		if free < min(d.cfg.ClaimBatch, d.cfg.InFlight)/2 {
			// Wait for some messages to finish before claiming more.
			sleepCtx(ctx, 5*time.Millisecond)
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
		if c.passOn {
			// One page of the discovery pass per round: claims go on
			// between pages.
			if _, err := c.discoverPage(ctx, now); err != nil {
				if ctx.Err() != nil {
					break
				}
				fail("looking for numbers with work", err)
				continue
			}
		}
		want := min(free, d.cfg.ClaimBatch)
		wants, picked, all := c.wants(now, want)
		if len(wants) > 0 {
			msgs, err := d.cfg.Store.Claim(ctx, d.cfg.Owner, d.cfg.Lease, wants)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				fail("claim", err)
				continue
			}
			errDelay = 100 * time.Millisecond
			drained := c.claimed(now, wants, picked, msgs)
			if got := len(msgs); got > 0 {
				d.stats.claimed.Add(int64(got))
				d.held.Add(int64(got))
				d.jobs.Add(got)
				d.intakeM.Lock()
				d.intake = append(d.intake, msgs...)
				d.intakeM.Unlock()
				signal(d.wake)
			}
			if !all || !drained || c.passOn {
				continue // more numbers, or more of them: claim again at once
			}
		}
		if c.passOn {
			continue
		}
		// Nothing to claim now: gather what comes next for a moment, then
		// wait for a kick, a number's due time or the poll.
		sleepCtx(ctx, d.cfg.ClaimGap)
		wait := d.cfg.Poll
		if t := c.nextDue(now); !t.IsZero() {
			wait = min(wait, max(time.Until(t), time.Millisecond))
		}
		poll.Reset(wait)
		select {
		case <-ctx.Done():
		case <-d.kick:
		case <-poll.C:
		case <-expire.C:
			d.expire(ctx)
		}
		if !poll.Stop() {
			select {
			case <-poll.C:
			default:
			}
		}
	}
}
