package routing

import (
	"time"

	"go.uber.org/zap"
)

// SetCarriers replaces the carrier accounts the dispatcher sends on, while
// it runs (a configuration reload). The scheduler applies the change at
// the start of its next round:
//
//   - a carrier in both sets keeps its queues and its record of the parts
//     in flight; the new *Carrier (its coding, addresses, throttle scope and
//     Submitter) serves the parts written from then on;
//   - a new carrier gets a queue and is claimed for;
//   - a carrier no longer in the set sends nothing more: its queued
//     messages are given back (as when no bind of it is up) and the parts
//     of a message it already started are recorded as not sent, retryable;
//     what is in flight completes as usual.
//
// It also reads again, for every account and number, the limits the
// Limiter reports (Rate, SlidingLimits): call it after changing those. The
// write check of a limit that stays a sliding window keeps its record of
// recent writes under the new size, so a lowered rate never lets a burst
// through; one that becomes (or stops being) a sliding window starts anew.
// carriers must not be empty; SetCarriers is safe for concurrent use.
func (d *Dispatcher) SetCarriers(carriers map[string]*Carrier) {
	m := make(map[string]*Carrier, len(carriers))
	for k, v := range carriers {
		m[k] = v
	}
	d.carrierSet.Store(&m)
	d.reconf.Store(&m)
	signal(d.wake)
	d.Kick()
}

// applyCarriers is SetCarriers' work, on the scheduler goroutine.
func (d *Dispatcher) applyCarriers(now time.Time) {
	if d.reconf.Load() == nil {
		return // one atomic load per round when nothing changed
	}
	next := d.reconf.Swap(nil)
	if next == nil {
		return
	}
	for name, cq := range d.carriers {
		c, ok := (*next)[name]
		if !ok {
			d.log.Info("carrier removed: its queued messages are given back", zap.String("carrier", name))
			d.handBackCarrier(cq, now)
			for _, n := range cq.ring {
				n.inRing = false
			}
			cq.ring = nil
			for k, n := range d.numbers {
				if n.cq == cq {
					d.giveBack(n)
					delete(d.numbers, k)
				}
			}
			delete(d.carriers, name)
			continue
		}
		cq.c = c
		cq.wlog = d.retuneWriteLog(cq.wlog, name, "")
	}
	for name, c := range *next {
		if _, ok := d.carriers[name]; !ok {
			d.carriers[name] = &carrierQ{name: name, c: c, wlog: d.newWriteLog(name, "")}
			d.log.Info("carrier added", zap.String("carrier", name))
		}
	}
	for _, n := range d.numbers {
		rate := d.cfg.Limiter.Rate(n.key.carrier, n.class)
		n.weight = max(rate, 0.001)
		n.cap = max(d.cfg.MinQueue, rateCap(rate, d.cfg.QueueAhead))
		n.wlog = d.retuneWriteLog(n.wlog, n.key.carrier, n.class)
	}
}

// retuneWriteLog is w under the limit the Limiter reports now for
// rateClass on carrier (see SetCarriers).
func (d *Dispatcher) retuneWriteLog(w *writeLog, carrier, rateClass string) *writeLog {
	fresh := d.newWriteLog(carrier, rateClass)
	if w == nil || fresh == nil {
		return fresh
	}
	w.n, w.within = fresh.n, fresh.within
	return w
}

// carriersNow is the carrier set in force (SetCarriers), for the claim
// loop.
func (d *Dispatcher) carriersNow() map[string]*Carrier { return *d.carrierSet.Load() }
