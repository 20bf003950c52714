// The adapters between routing and the concrete parts it drives live here,
// in package engine, on purpose. Routing defines small interfaces for what it
// needs, in its own types (OutboundStore, InboundStore, Limiter); the inbox
// knows nothing of routing, and the throttle nothing of messages; only
// engine joins concrete parts together (DESIGN.md, Packages). So neither
// side imports the other: storeAdapter presents the inbox as routing's
// stores, limiterAdapter (with the pacer) the throttle as its Limiter.

package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/routing"
	"github.com/switchboard-sms/switchboard/throttle"
)

// storeAdapter presents the inbox as routing's OutboundStore and
// InboundStore. It converts types and nothing else.
type storeAdapter struct {
	s *inbox.Store
	// notify wakes the readers of the change feed (the API's event streams,
	// in every process) after a write that changed messages.
	notify func()
	// formats holds each carrier's message-id formats (submit, receipt).
	formats map[string][2]inbox.IDFormat
}

func (a *storeAdapter) Claim(ctx context.Context, owner string, max int, lease time.Duration) ([]routing.Outbound, error) {
	ms, err := a.s.Claim(ctx, owner, max, lease)
	if err != nil {
		return nil, err
	}
	if len(ms) > 0 {
		a.changed()
	}
	out := make([]routing.Outbound, len(ms))
	for i, m := range ms {
		out[i] = routing.Outbound{
			ID: int64(m.ID), From: m.From, To: m.To, Carrier: m.Carrier, RateClass: m.RateClass, Body: m.Body,
			Encoding: m.Encoding, Segments: m.Segments, Attempts: m.Attempts, CreatedAt: m.CreatedAt, Parts: m.Parts, Submitted: m.Submitted,
		}
	}
	return out, nil
}

func (a *storeAdapter) RecordSubmits(ctx context.Context, rs []routing.SegmentResult) error {
	in := make([]inbox.SubmitResult, 0, len(rs))
	for _, r := range rs {
		o := inbox.SubmitOK
		switch r.Outcome {
		case routing.Retryable:
			o = inbox.SubmitRetryable
		case routing.Permanent:
			o = inbox.SubmitPermanent
		}
		in = append(in, inbox.SubmitResult{
			Message: inbox.MessageID(r.Message), Segment: r.Segment, Parts: r.Parts, Outcome: o, CarrierMessageID: r.CarrierID,
			Format: a.formats[r.Carrier][0], ErrorCode: int(r.Status), Reason: r.Reason,
		})
	}
	errs, err := a.s.RecordSubmits(ctx, in)
	if err != nil {
		return err
	}
	a.changed()
	return firstItemError(errs, inbox.ErrNotFound)
}

func (a *storeAdapter) Requeue(ctx context.Context, owner string, rs []routing.Retry) error {
	in := make([]inbox.Requeue, len(rs))
	for i, r := range rs {
		in[i] = inbox.Requeue{ID: inbox.MessageID(r.Message), NotBefore: r.NotBefore, Reason: r.Reason, CarrierError: int(r.Status)}
	}
	errs, err := a.s.Requeue(ctx, owner, in)
	if err != nil {
		return err
	}
	a.changed()
	// A lost lease means another claimer has the message: nothing to do.
	return firstItemError(errs, inbox.ErrNotFound, inbox.ErrLeaseLost)
}

// firstItemError returns the first per-item error that is not one of the
// harmless ones; those are dropped (the item is already where it belongs).
func firstItemError(errs []error, harmless ...error) error {
	for _, e := range errs {
		if e == nil {
			continue
		}
		ok := false
		for _, h := range harmless {
			if errors.Is(e, h) {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("inbox item: %w", e)
		}
	}
	return nil
}

func (a *storeAdapter) ExpireMessages(ctx context.Context) (int64, error) {
	n, err := a.s.ExpireMessages(ctx)
	if n > 0 {
		a.changed()
	}
	return n, err
}

func (a *storeAdapter) changed() {
	if a.notify != nil {
		a.notify()
	}
}

func (a *storeAdapter) ApplyReceipts(ctx context.Context, rs []routing.Receipt) ([]routing.ReceiptOutcome, error) {
	in := make([]inbox.Receipt, len(rs))
	for i, r := range rs {
		in[i] = inbox.Receipt{Carrier: r.Carrier, CarrierMessageID: r.CarrierID, Format: a.formats[r.Carrier][1],
			Status: inbox.ReceiptStatus(r.State), ErrorCode: r.ErrorCode, At: r.At}
	}
	res, err := a.s.ApplyReceipts(ctx, in)
	if err != nil {
		return nil, err
	}
	a.changed()
	out := make([]routing.ReceiptOutcome, len(rs))
	for i := range res {
		if res[i].Err != nil {
			// An unusable receipt (empty id, unknown state): nothing to
			// retry, so it is acknowledged; the router counts it unmatched.
			continue
		}
		out[i].Matched = res[i].Message != 0
	}
	return out, nil
}

func (a *storeAdapter) StoreParts(ctx context.Context, ps []routing.Part) ([]*routing.PartSet, error) {
	in := make([]inbox.InboundPart, len(ps))
	for i, p := range ps {
		in[i] = inbox.InboundPart{PartSetKey: partKeyIn(p.Key), Seq: p.Seq, Payload: p.Payload, Coding: int(p.Coding), ReceivedAt: p.ReceivedAt}
	}
	sets, err := a.s.StoreInboundParts(ctx, in)
	if err != nil {
		return nil, err
	}
	out := make([]*routing.PartSet, len(ps))
	for i, s := range sets {
		if s != nil {
			ps := partSetOut(*s)
			out[i] = &ps
		}
	}
	return out, nil
}

func (a *storeAdapter) SweepParts(ctx context.Context, older time.Duration, limit int) ([]routing.PartSet, error) {
	sets, err := a.s.SweepInboundParts(ctx, older, limit)
	if err != nil {
		return nil, err
	}
	out := make([]routing.PartSet, len(sets))
	for i, s := range sets {
		out[i] = partSetOut(s)
	}
	return out, nil
}

func partKeyIn(k routing.PartKey) inbox.PartSetKey {
	return inbox.PartSetKey{Carrier: k.Carrier, Source: k.Source, Destination: k.Destination, Reference: k.Reference, Total: k.Total}
}

func partSetOut(s inbox.PartSet) routing.PartSet {
	out := routing.PartSet{
		Key:     routing.PartKey{Carrier: s.Key.Carrier, Source: s.Key.Source, Destination: s.Key.Destination, Reference: s.Key.Reference, Total: s.Key.Total},
		FirstAt: s.FirstAt, Complete: s.Complete,
		Parts: make([][]byte, len(s.Parts)), Codings: make([]uint8, len(s.Parts)),
	}
	for i, p := range s.Parts {
		if !p.Missing {
			out.Parts[i] = p.Payload
		}
		out.Codings[i] = uint8(p.Coding)
	}
	return out
}

func (a *storeAdapter) AppendInbound(ctx context.Context, ms []routing.Inbound) ([]routing.InboundOutcome, error) {
	in := make([]inbox.Inbound, len(ms))
	for i, m := range ms {
		in[i] = inbox.Inbound{Carrier: m.Carrier, From: m.From, To: m.To, Body: m.Body, Encoding: m.Encoding, Segments: m.Segments, ReceivedAt: m.ReceivedAt}
		if m.Parts != nil {
			k := partKeyIn(*m.Parts)
			in[i].Parts = &k
		}
	}
	res, err := a.s.AppendInbound(ctx, in)
	if err != nil {
		return nil, err
	}
	a.changed()
	out := make([]routing.InboundOutcome, len(res))
	for i, r := range res {
		out[i] = routing.InboundOutcome{Workspace: int64(r.Workspace), Thread: int64(r.Thread), Message: int64(r.Message),
			Unrouted: r.Unrouted != 0, Duplicate: r.Duplicate}
		switch r.Keyword {
		case inbox.KeywordOptOut:
			out[i].Keyword = "stop"
		case inbox.KeywordOptIn:
			out[i].Keyword = "start"
		}
	}
	return out, nil
}

// limiterAdapter presents the throttle as routing's Limiter: a message takes
// its segments from its number's bucket (at its rate class) and its carrier
// account's bucket (at the account's TPS).
type limiterAdapter struct {
	pace     *pacer
	l        *throttle.Limiter
	classes  map[string]throttle.Class
	accounts map[string]throttle.Bucket
}

func (a *limiterAdapter) request(b routing.Booking) (throttle.Request, error) {
	class, ok := a.classes[b.RateClass]
	if !ok {
		return throttle.Request{}, fmt.Errorf("rate class %q is not configured", b.RateClass)
	}
	acct, ok := a.accounts[b.Carrier]
	if !ok {
		return throttle.Request{}, fmt.Errorf("carrier %q is not configured", b.Carrier)
	}
	return throttle.Request{Account: b.Carrier, Cost: b.Segments, Buckets: []throttle.Bucket{throttle.Number(b.From, class), acct}}, nil
}

func (a *limiterAdapter) ReserveBatch(ctx context.Context, bs []routing.Booking) []routing.BookingResult {
	out := make([]routing.BookingResult, len(bs))
	reqs := make([]throttle.Request, 0, len(bs))
	idx := make([]int, 0, len(bs))
	for i, b := range bs {
		r, err := a.request(b)
		if err != nil {
			out[i].Err = err
			continue
		}
		reqs = append(reqs, r)
		idx = append(idx, i)
	}
	for k, r := range a.l.ReserveBatch(ctx, reqs) {
		i := idx[k]
		if r.Err != nil {
			out[i].Err = r.Err
			var h *throttle.HorizonError
			if errors.As(r.Err, &h) {
				out[i].RetryAfter = max(h.RetryAfter(), time.Second)
			} else if errors.Is(r.Err, throttle.ErrRefused) {
				out[i].RetryAfter = 30 * time.Second // span or daily cap: try much later
			}
			continue
		}
		out[i].Reservation = r.Reservation
	}
	return out
}

func (a *limiterAdapter) Throttled(ctx context.Context, carrier, number, rateClass string) {
	if acct, ok := a.accounts[carrier]; ok {
		a.l.Throttled(ctx, carrier, acct)
	}
	if class, ok := a.classes[rateClass]; ok {
		a.l.Throttled(ctx, carrier, throttle.Number(number, class))
	}
}

// pacer keeps this process's stream of submits within each number's and
// each account's rate at the moment they are written (x/time/rate token
// buckets at the class and account limits), behind the Redis bookings.
type pacer struct {
	mu       sync.Mutex
	numbers  map[string]*rate.Limiter
	accounts map[string]*rate.Limiter
	classes  map[string]throttle.Class
}

func newPacer(classes map[string]throttle.Class, accounts map[string]throttle.Bucket) *pacer {
	p := &pacer{numbers: map[string]*rate.Limiter{}, accounts: map[string]*rate.Limiter{}, classes: classes}
	for name, b := range accounts {
		p.accounts[name] = rate.NewLimiter(rate.Limit(b.Limit.Rate), max(b.Limit.Burst, 1))
	}
	return p
}

func (p *pacer) wait(ctx context.Context, carrier, number, class string) error {
	p.mu.Lock()
	nl := p.numbers[number]
	if nl == nil {
		if c, ok := p.classes[class]; ok {
			nl = rate.NewLimiter(rate.Limit(c.Rate), max(c.Burst, 1))
			p.numbers[number] = nl
		}
	}
	al := p.accounts[carrier]
	p.mu.Unlock()
	if nl != nil {
		if err := nl.Wait(ctx); err != nil {
			return err
		}
	}
	if al != nil {
		return al.Wait(ctx)
	}
	return nil
}

func (a *limiterAdapter) Pace(ctx context.Context, carrier, number, rateClass string) error {
	return a.pace.wait(ctx, carrier, number, rateClass)
}
