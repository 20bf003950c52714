// The adapters between routing and the concrete parts it drives live here,
// in package engine, on purpose. Routing defines small interfaces for what it
// needs, in its own types (OutboundStore, InboundStore, Limiter); the inbox
// knows nothing of routing, and the throttle nothing of messages; only
// engine joins concrete parts together (DESIGN.md, Packages). So neither
// side imports the other: storeAdapter presents the inbox as routing's
// stores, limiterAdapter the throttle as its Limiter.

package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-sms/switchboard/engine/config"
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
	// formats holds each carrier's message-id formats (submit, receipt),
	// swapped whole by a reload.
	formats atomic.Pointer[map[string][2]inbox.IDFormat]
	// submitted, when set, observes the latency of each message whose last
	// part was accepted, once its result is recorded (opsmetrics.go).
	submitted prometheus.Observer
}

// format is carrier's message-id format: of submit results (0) or of
// receipts (1); the zero IDFormat when the carrier is not configured.
func (a *storeAdapter) format(carrier string, which int) inbox.IDFormat {
	return (*a.formats.Load())[carrier][which]
}

// setFormats puts the message-id formats of cfg's carriers in force.
func (a *storeAdapter) setFormats(cfg *config.Config) {
	m := map[string][2]inbox.IDFormat{}
	for _, k := range cfg.Carriers {
		sub, _ := inbox.ParseIDFormat(k.MessageIDs.Submit)
		rec, _ := inbox.ParseIDFormat(k.MessageIDs.Receipt)
		m[k.Name] = [2]inbox.IDFormat{sub, rec}
	}
	a.formats.Store(&m)
}

func (a *storeAdapter) Claim(ctx context.Context, owner string, max int, lease time.Duration, skip []string, perNumber int) ([]routing.Outbound, error) {
	ms, err := a.s.ClaimLimited(ctx, owner, max, lease, skip, perNumber)
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
			Encoding: m.Encoding, Segments: m.Segments, Attempts: m.Attempts, CreatedAt: m.CreatedAt, QueuedAt: m.QueuedAt, ExpiresAt: m.ExpiresAt, Parts: m.Parts, Submitted: m.Submitted,
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
			Format: a.format(r.Carrier, 0), ErrorCode: int(r.Status), Reason: r.Reason,
		})
	}
	errs, err := a.s.RecordSubmits(ctx, in)
	if err != nil {
		return err
	}
	observeSubmitted(a.submitted, rs)
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

func (a *storeAdapter) ReleaseScheduled(ctx context.Context) (int64, error) {
	n, err := a.s.ReleaseScheduled(ctx)
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
		in[i] = inbox.Receipt{Carrier: r.Carrier, CarrierMessageID: r.CarrierID, Format: a.format(r.Carrier, 1),
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
			Unrouted: r.Unrouted != 0, Duplicate: r.Duplicate, ReplyErr: r.ReplyErr}
		switch r.Keyword {
		case inbox.KeywordOptOut:
			out[i].Keyword = "stop"
		case inbox.KeywordOptIn:
			out[i].Keyword = "start"
		case inbox.KeywordHelp:
			out[i].Keyword = "help"
		}
	}
	return out, nil
}

// limiterAdapter presents the throttle as routing's Limiter: a number's
// segments are taken from its bucket (at its rate class's limit) and its
// carrier account's bucket (at the account's limit), just in time. The
// limits are swapped whole by a reload (set), so a Take sees one
// configuration's limits, never a mix.
var _ interface {
	routing.Limiter
	routing.SlidingLimits
	routing.SpreadMemory
} = (*limiterAdapter)(nil)

type limiterAdapter struct {
	l   *throttle.Limiter
	cur atomic.Pointer[limitSet]
}

// limitSet is one configuration's limits.
type limitSet struct {
	classes  map[string]throttle.Limit // by rate class
	accounts map[string]throttle.Limit // by carrier
}

func newLimiterAdapter(l *throttle.Limiter, cfg *config.Config) *limiterAdapter {
	a := &limiterAdapter{l: l}
	a.set(cfg)
	return a
}

// set puts cfg's limits in force. A rate class or carrier account that cfg
// no longer has keeps its previous limit (numbers may still use the class;
// parts of the carrier may still be in flight or given back); it reports
// the rate classes so kept.
func (a *limiterAdapter) set(cfg *config.Config) (kept []string) {
	next := &limitSet{classes: map[string]throttle.Limit{}, accounts: map[string]throttle.Limit{}}
	for _, rc := range cfg.Classes {
		next.classes[rc.Name] = limitOf(rc.Rate, rc.Interval, rc.Mode, rc.Burst)
	}
	for _, k := range cfg.Carriers {
		next.accounts[k.Name] = limitOf(k.TPS, k.TPSInterval, k.TPSMode, k.TPSBurst)
	}
	if old := a.cur.Load(); old != nil {
		for name, lim := range old.classes {
			if _, ok := next.classes[name]; !ok {
				next.classes[name] = lim
				kept = append(kept, name)
			}
		}
		for name, lim := range old.accounts {
			if _, ok := next.accounts[name]; !ok {
				next.accounts[name] = lim
			}
		}
	}
	a.cur.Store(next)
	return kept
}

// limits is the set in force.
func (a *limiterAdapter) limits() *limitSet { return a.cur.Load() }

// limitOf is a configured limit (checked by package config) as the
// throttle's.
func limitOf(rate float64, interval config.Duration, mode string, burst int) throttle.Limit {
	l := throttle.Limit{N: int(rate), Interval: interval.D(), Burst: burst}
	if mode == config.ModeBucket {
		l.Mode = throttle.Bucket
	}
	return l
}

// longestInterval is the longest interval of the account's limit and its
// classes': how far back a sent segment can still count.
func (a *limiterAdapter) longestInterval(carrier string) time.Duration {
	ls := a.limits()
	d := ls.accounts[carrier].Interval
	for _, c := range ls.classes {
		d = max(d, c.Interval)
	}
	return d
}

// request is a routing TakeRequest in the throttle's terms: the account's
// limit and each number's class limit.
func (a *limiterAdapter) request(r routing.TakeRequest) (throttle.TakeRequest, error) {
	ls := a.limits()
	acct, ok := ls.accounts[r.Carrier]
	if !ok {
		return throttle.TakeRequest{}, fmt.Errorf("carrier %q is not configured", r.Carrier)
	}
	wants := make([]throttle.Want, len(r.Wants))
	for k, w := range r.Wants {
		lim, ok := ls.classes[w.RateClass]
		if !ok {
			return throttle.TakeRequest{}, fmt.Errorf("rate class %q is not configured", w.RateClass)
		}
		wants[k] = throttle.Want{Number: w.Number, Limit: withSpread(lim, w.Spread), Weight: w.Weight, Max: w.Max}
	}
	return throttle.TakeRequest{Account: r.Carrier, Limit: withSpread(acct, r.Spread), Wants: wants}, nil
}

// withSpread is lim with the dispatcher's learned spread, for a sliding
// window (at most what the throttle takes).
func withSpread(lim throttle.Limit, s time.Duration) throttle.Limit {
	if lim.Mode == throttle.Sliding && s > 0 {
		lim.Spread = min(s, throttle.MaxMargin)
	}
	return lim
}

func (a *limiterAdapter) Take(ctx context.Context, reqs []routing.TakeRequest) []routing.TakeResult {
	out := make([]routing.TakeResult, len(reqs))
	treqs := make([]throttle.TakeRequest, 0, len(reqs))
	idx := make([]int, 0, len(reqs))
	for i, r := range reqs {
		tr, err := a.request(r)
		if err != nil {
			out[i].Err = err
			continue
		}
		treqs = append(treqs, tr)
		idx = append(idx, i)
	}
	if len(treqs) == 0 {
		return out
	}
	res := a.l.TakeBatch(ctx, treqs)
	for k, r := range res {
		i := idx[k]
		if r.Err != nil {
			out[i].Err = r.Err
			continue
		}
		o := &out[i]
		o.AccountWait, o.Quiet, o.At = r.AccountWait, r.Quiet, r.Now
		o.Grants = make([]routing.Grant, len(r.Grants))
		for g := range r.Grants {
			o.Grants[g] = routing.Grant{N: r.Grants[g].N, Wait: r.Grants[g].Wait}
		}
	}
	return out
}

func (a *limiterAdapter) Return(ctx context.Context, carrier, number, rateClass string, n int, at time.Time) {
	ls := a.limits()
	acct, ok1 := ls.accounts[carrier]
	lim, ok2 := ls.classes[rateClass]
	if !ok1 || !ok2 || at.IsZero() {
		return
	}
	_ = a.l.Return(ctx, carrier, acct, number, lim, n, at) // best effort: what is not given back stays taken
}

func (a *limiterAdapter) Throttled(ctx context.Context, carrier, number, rateClass string) {
	ls := a.limits()
	lim, ok := ls.classes[rateClass]
	if number == "" {
		lim, ok = ls.accounts[carrier]
	}
	if ok {
		a.l.Throttled(ctx, carrier, number, lim)
	}
}

// Spread and RememberSpread keep what the dispatcher learned of a
// carrier account's spread in Redis (routing.SpreadMemory).
func (a *limiterAdapter) Spread(ctx context.Context, carrier string) (time.Duration, error) {
	return a.l.Spread(ctx, carrier)
}

func (a *limiterAdapter) RememberSpread(ctx context.Context, carrier string, d, ttl time.Duration) {
	a.l.RememberSpread(ctx, carrier, d, ttl)
}

// Sliding reports a rate class's limit, or with rateClass "" the
// carrier account's, when it is a sliding window (routing.SlidingLimits).
func (a *limiterAdapter) Sliding(carrier, rateClass string) (int, time.Duration, bool) {
	ls := a.limits()
	lim, ok := ls.classes[rateClass]
	if rateClass == "" {
		lim, ok = ls.accounts[carrier]
	}
	if !ok || lim.Mode != throttle.Sliding || lim.N <= 0 {
		return 0, 0, false
	}
	if lim.Interval <= 0 {
		lim.Interval = time.Second
	}
	return lim.N, lim.Interval, true
}

func (a *limiterAdapter) Rate(carrier, rateClass string) float64 {
	if lim, ok := a.limits().classes[rateClass]; ok {
		return lim.Rate()
	}
	return 1
}
