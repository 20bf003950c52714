package routing

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// RouterConfig configures a Router. Store is required; the other fields
// default to the Default* constants.
type RouterConfig struct {
	Store InboundStore
	// Carriers by name, for decoding part sets the sweep stores.
	Carriers map[string]*Carrier
	// PartTimeout: parts of a long message still incomplete after this long
	// are stored as they are, flagged incomplete.
	PartTimeout time.Duration
	// SweepEvery is how often timed-out part sets are looked for.
	SweepEvery time.Duration
	// Flushers is how many store calls of each kind may run at once;
	// BatchMax the most items in one; Linger how long a call waits for
	// more items after its first (negative: not at all).
	Flushers, BatchMax int
	Linger             time.Duration
	// OnInbound, when set, is called after each inbound message is committed.
	OnInbound func(Inbound, InboundOutcome)
	Logger    *zap.Logger
	// Now is the router's clock (time.Now when nil): the time it stamps
	// on what it files (Inbound.ReceivedAt, Part.ReceivedAt, Receipt.At).
	Now func() time.Time
}

// RouterConfig's defaults, which NewRouter puts in its zero fields.
const (
	DefaultPartTimeout = 10 * time.Minute
	DefaultSweepEvery  = 30 * time.Second
	DefaultFlushers    = 2
	DefaultBatchMax    = 500
	DefaultLinger      = 2 * time.Millisecond
)

// Router files what carriers deliver: delivery receipts update their
// messages, mobile-originated messages are reassembled when they come in
// parts and appended to their workspace's thread. Its handler answers each
// deliver_sm only after what it carries is committed (ack-after-commit): an
// error answers ESME_RX_T_APPN, so the carrier keeps the message and sends it
// again later. Concurrent deliveries are committed together (group commit).
type Router struct {
	cfg RouterConfig
	// carriers is cfg.Carriers, replaced whole by SetCarriers.
	carriers atomic.Pointer[map[string]*Carrier]
	log      *zap.Logger
	receipts *batcher[Receipt, ReceiptOutcome]
	parts    *batcher[Part, *PartSet]
	inbound  *batcher[Inbound, InboundOutcome]
	stop     chan struct{}
	swept    chan struct{}
	stats    routerCounters
}

type routerCounters struct {
	receipts, receiptsUnmatched, mo, moParts, moIncomplete, unrouted, duplicates, keywords, failures, malformed atomic.Int64
}

// RouterStats are the router's counters.
type RouterStats struct {
	Receipts          int64 // receipts committed
	ReceiptsUnmatched int64 // receipts kept for a submit result not yet recorded
	MO                int64 // whole mobile-originated messages committed
	MOParts           int64 // parts of long messages stored
	MOIncomplete      int64 // long messages stored after a timeout, with parts missing
	Unrouted          int64 // messages no workspace could claim
	Duplicates        int64 // messages already stored (a carrier's resend)
	Keywords          int64 // STOP/START applied
	Failures          int64 // deliveries answered with a temporary error (store failed)
	Malformed         int64 // deliveries that could not be read (answered with an error)
}

// NewRouter starts the router's flushers and its sweep of timed-out parts.
// Stop it with Close after the binds that use its handlers are closed.
func NewRouter(cfg RouterConfig) *Router {
	orDefault(&cfg.PartTimeout, DefaultPartTimeout)
	orDefault(&cfg.SweepEvery, DefaultSweepEvery)
	orDefault(&cfg.Flushers, DefaultFlushers)
	if cfg.Linger == 0 { // negative: no linger
		cfg.Linger = DefaultLinger
	}
	orDefault(&cfg.BatchMax, DefaultBatchMax)
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Router{cfg: cfg, log: cfg.Logger.Named("router"), stop: make(chan struct{}), swept: make(chan struct{})}
	r.SetCarriers(cfg.Carriers)
	r.receipts = newBatcher(cfg.Flushers, cfg.BatchMax, cfg.Linger, cfg.Store.ApplyReceipts)
	r.parts = newBatcher(cfg.Flushers, cfg.BatchMax, cfg.Linger, cfg.Store.StoreParts)
	r.inbound = newBatcher(cfg.Flushers, cfg.BatchMax, cfg.Linger, cfg.Store.AppendInbound)
	go r.sweepLoop()
	return r
}

// orDefault sets *v to def when it is zero or negative (a configuration
// field left out).
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// SetCarriers replaces the carriers by name that the router decodes stored
// part sets with (a reload added or removed carriers).
func (r *Router) SetCarriers(m map[string]*Carrier) {
	if m == nil {
		m = map[string]*Carrier{}
	}
	r.carriers.Store(&m)
}

// Close stops the sweep and the flushers. No handler may run during or after it.
func (r *Router) Close() {
	close(r.stop)
	<-r.swept
	r.receipts.close()
	r.parts.close()
	r.inbound.close()
}

// Stats returns the counters.
func (r *Router) Stats() RouterStats {
	c := &r.stats
	return RouterStats{
		Receipts: c.receipts.Load(), ReceiptsUnmatched: c.receiptsUnmatched.Load(), MO: c.mo.Load(), MOParts: c.moParts.Load(),
		MOIncomplete: c.moIncomplete.Load(), Unrouted: c.unrouted.Load(), Duplicates: c.duplicates.Load(), Keywords: c.keywords.Load(),
		Failures: c.failures.Load(), Malformed: c.malformed.Load(),
	}
}

// Handler returns the smpp.Handler for the binds of carrier c.
func (r *Router) Handler(c *Carrier) smpp.Handler {
	return smpp.HandlerFunc(func(ctx context.Context, p smpp.SMSCPDU) smpp.Status {
		switch m := p.(type) {
		case *smpp.DeliverSM:
			return r.handle(ctx, c, m.IsReceipt(), m.ESMClass, m.DataCoding, m.Source, m.Dest, m.Payload(), m.TLVs)
		case *smpp.DataSM:
			payload, _ := m.TLVs.MessagePayload()
			return r.handle(ctx, c, m.IsReceipt(), m.ESMClass, m.DataCoding, m.Source, m.Dest, payload, m.TLVs)
		}
		return smpp.StatusOK // alert_notification: nothing to file
	})
}

func (r *Router) handle(ctx context.Context, c *Carrier, receipt bool, esm, dc uint8, src, dst smpp.Address, payload []byte, tlvs smpp.TLVs) smpp.Status {
	if receipt {
		return r.handleReceipt(ctx, c, payload, tlvs)
	}
	data, concat, isPart, err := smpp.UserData(esm, payload, tlvs)
	if err != nil {
		// A broken UDH: keep the message whole rather than lose it.
		r.log.Warn("malformed user data header; storing the message as it came", zap.String("carrier", c.Name), zap.Error(err))
		data, isPart = payload, false
	}
	from, to := e164(src), e164(dst)
	now := r.cfg.Now()
	if isPart {
		set, err := r.parts.do(ctx, Part{
			Key:     PartKey{Carrier: c.Name, Source: from, Destination: to, Reference: int(concat.Ref), Total: int(concat.Total)},
			Seq:     int(concat.Seq),
			Payload: append([]byte(nil), data...), // data is only valid during the handler
			Coding:  dc, ReceivedAt: now,
		})
		if err != nil {
			return r.failed("store inbound part", c, err)
		}
		r.stats.moParts.Add(1)
		if set == nil {
			return smpp.StatusOK // more parts to come
		}
		return r.appendSet(ctx, c, *set)
	}
	enc := smpp.EncodingOf(dc, c.GSMDataCoding)
	body := string(coding.AppendDecodeReplace(nil, data, enc))
	return r.append(ctx, c, Inbound{Carrier: c.Name, From: from, To: to, Body: body, Encoding: enc.String(), Segments: 1, ReceivedAt: now})
}

// appendSet reassembles a part set and stores the whole message. Parts are
// joined before decoding, so an escape or a surrogate pair cut between parts
// by the sender still decodes.
func (r *Router) appendSet(ctx context.Context, c *Carrier, set PartSet) smpp.Status {
	msg := r.reassemble(c, set)
	return r.append(ctx, c, msg)
}

func (r *Router) reassemble(c *Carrier, set PartSet) Inbound {
	var dc uint8
	for i, p := range set.Parts {
		if p != nil {
			dc = set.Codings[i]
			break
		}
	}
	enc := smpp.EncodingOf(dc, c.GSMDataCoding)
	var body []byte
	for _, p := range set.Parts {
		if p == nil {
			body = append(body, "[…]"...) // a part that never came
			continue
		}
		body = coding.AppendDecodeReplace(body, p, enc)
	}
	key := set.Key
	return Inbound{
		Carrier: c.Name, From: key.Source, To: key.Destination, Body: string(body), Encoding: enc.String(),
		Segments: key.Total, ReceivedAt: set.FirstAt, Parts: &key, Incomplete: !set.Complete,
	}
}

func (r *Router) append(ctx context.Context, c *Carrier, m Inbound) smpp.Status {
	out, err := r.inbound.do(ctx, m)
	if err != nil {
		return r.failed("append inbound", c, err)
	}
	r.count(m, out)
	return smpp.StatusOK
}

func (r *Router) count(m Inbound, out InboundOutcome) {
	switch {
	case out.Duplicate:
		r.stats.duplicates.Add(1)
	case out.Unrouted:
		r.stats.unrouted.Add(1)
		r.stats.mo.Add(1)
	default:
		r.stats.mo.Add(1)
	}
	if m.Incomplete {
		r.stats.moIncomplete.Add(1)
	}
	if out.Keyword != "" {
		r.stats.keywords.Add(1)
	}
	if out.ReplyErr != nil {
		r.log.Warn("keyword reply not queued", zap.Int64("workspace", out.Workspace),
			zap.Int64("message", out.Message), zap.String("keyword", out.Keyword), zap.Error(out.ReplyErr))
	}
	if r.cfg.OnInbound != nil && !out.Duplicate {
		r.cfg.OnInbound(m, out)
	}
}

func (r *Router) handleReceipt(ctx context.Context, c *Carrier, payload []byte, tlvs smpp.TLVs) smpp.Status {
	rc := Receipt{Carrier: c.Name, At: r.cfg.Now()}
	id, okID := tlvs.ReceiptedMessageID()
	st, okSt := tlvs.MessageState()
	text, textErr := smpp.ParseReceipt(payload)
	if !okID && textErr == nil {
		id, okID = text.ID, len(text.ID) > 0
	}
	if !okSt && textErr == nil {
		st, okSt = text.State()
	}
	if !okID || !okSt {
		r.stats.malformed.Add(1)
		r.log.Warn("delivery receipt without an id or a state; acknowledged and dropped", zap.String("carrier", c.Name),
			zap.Bool("has_id", okID), zap.Bool("has_state", okSt))
		return smpp.StatusOK // resending it would not make it readable
	}
	rc.CarrierID = string(id)
	rc.State = receiptState(st)
	if textErr == nil && len(text.Err) > 0 {
		rc.ErrorCode = atoiPrefix(text.Err)
	}
	if ne, ok := tlvs.NetworkErrorCode(); ok && rc.ErrorCode == 0 {
		rc.ErrorCode = int(ne.Code)
	}
	if textErr == nil {
		if t, err := smpp.ParseReceiptDate(text.DoneDate); err == nil {
			rc.At = t
		}
	}
	out, err := r.receipts.do(ctx, rc)
	if err != nil {
		return r.failed("apply receipt", c, err)
	}
	r.stats.receipts.Add(1)
	if !out.Matched {
		r.stats.receiptsUnmatched.Add(1)
	}
	return smpp.StatusOK
}

func receiptState(s smpp.MessageState) ReceiptState {
	switch s {
	case smpp.StateDelivered:
		return ReceiptDelivered
	case smpp.StateExpired:
		return ReceiptExpired
	case smpp.StateDeleted, smpp.StateUndeliverable:
		return ReceiptFailed
	case smpp.StateRejected:
		return ReceiptRejected
	case smpp.StateAccepted:
		return ReceiptAccepted
	case smpp.StateEnroute, smpp.StateScheduled:
		return ReceiptEnroute
	}
	return ReceiptUnknown
}

func atoiPrefix(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
		if n > 1<<20 {
			break
		}
	}
	return n
}

// failed answers a delivery whose commit failed with a temporary error, so
// the carrier sends it again later.
func (r *Router) failed(what string, c *Carrier, err error) smpp.Status {
	r.stats.failures.Add(1)
	r.log.Warn(what+" failed; the carrier will resend", zap.String("carrier", c.Name), zap.Error(err))
	return smpp.StatusX_T_APPN
}

// e164 writes an SMPP address as E.164 when it is an international number
// (TON 1, or digits the carrier sent without a TON): "+" and its digits.
// Alphanumeric and short codes are kept as they are.
func e164(a smpp.Address) string {
	s := string(a.Addr)
	if strings.HasPrefix(s, "+") {
		return s
	}
	if a.TON == smpp.TONInternational || (a.TON == smpp.TONUnknown && len(s) > 7 && allDigits(s)) {
		if allDigits(s) && s != "" {
			return "+" + s
		}
	}
	return s
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// sweepLoop stores part sets that never completed, as they are.
func (r *Router) sweepLoop() {
	defer close(r.swept)
	t := time.NewTicker(r.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.Sweep(context.Background())
	}
}

// Sweep stores every part set older than PartTimeout that never completed,
// with its missing parts marked, and returns how many it stored. The sweep
// loop calls it; tests may too.
func (r *Router) Sweep(ctx context.Context) int {
	n := 0
	for {
		sets, err := r.cfg.Store.SweepParts(ctx, r.cfg.PartTimeout, 100)
		if err != nil {
			r.log.Warn("sweeping inbound parts failed", zap.Error(err))
			return n
		}
		if len(sets) == 0 {
			return n
		}
		for _, set := range sets {
			c := (*r.carriers.Load())[set.Key.Carrier]
			if c == nil {
				c = &Carrier{Name: set.Key.Carrier}
			}
			m := r.reassemble(c, set)
			out, err := r.inbound.do(ctx, m)
			if err != nil {
				r.log.Warn("storing an incomplete message failed", zap.Error(err))
				return n
			}
			r.count(m, out)
			n++
		}
	}
}
