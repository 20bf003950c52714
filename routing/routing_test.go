package routing_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/routing"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// memStore is an in-memory OutboundStore and InboundStore for the routing
// package's own tests (the inbox's PostgreSQL implementation is tested
// end to end in package engine).
type memStore struct {
	mu       sync.Mutex
	queue    []routing.Outbound
	leased   map[int64]routing.Outbound
	results  []routing.SegmentResult
	retries  []routing.Retry
	receipts []routing.Receipt
	parts    map[routing.PartKey]map[int]routing.Part
	inbound  []routing.Inbound
	failNext int // store calls to fail
	claims   int
	per      []int               // perNumber of each claim
	recorded map[int64]time.Time // when each message's first result was recorded
	now      func() time.Time    // the clock SweepParts measures part ages by
}

func newMemStore(msgs ...routing.Outbound) *memStore {
	return &memStore{queue: msgs, leased: map[int64]routing.Outbound{}, parts: map[routing.PartKey]map[int]routing.Part{}, now: time.Now}
}

// testClock is a clock that stands still until the test moves it (Advance).
// It is safe for concurrent use.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (s *memStore) fail() error {
	if s.failNext > 0 {
		s.failNext--
		return errors.New("store down (test)")
	}
	return nil
}

func (s *memStore) Claim(ctx context.Context, owner string, max int, lease time.Duration, skip []string, perNumber int) ([]routing.Outbound, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	s.per = append(s.per, perNumber)
	var out []routing.Outbound
	per := map[string]int{}
	kept := s.queue[:0]
	for _, m := range s.queue {
		if len(out) == max || slices.Contains(skip, m.From) || per[m.From] == perNumber {
			kept = append(kept, m)
			continue
		}
		per[m.From]++
		m.Attempts++
		s.leased[m.ID] = m
		out = append(out, m)
	}
	s.queue = kept
	return out, nil
}

func (s *memStore) RecordSubmits(ctx context.Context, rs []routing.SegmentResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results = append(s.results, rs...)
	now := time.Now()
	if s.recorded == nil {
		s.recorded = map[int64]time.Time{}
	}
	for _, r := range rs {
		delete(s.leased, r.Message)
		if _, ok := s.recorded[r.Message]; !ok {
			s.recorded[r.Message] = now
		}
	}
	return nil
}

// recordedAt returns when message id's first result was recorded.
func (s *memStore) recordedAt(id int64) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.recorded[id]
	return t, ok
}

func (s *memStore) Requeue(ctx context.Context, owner string, rs []routing.Retry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retries = append(s.retries, rs...)
	return nil
}

func (s *memStore) ExpireMessages(ctx context.Context) (int64, error)   { return 0, nil }
func (s *memStore) ReleaseScheduled(ctx context.Context) (int64, error) { return 0, nil }

func (s *memStore) ApplyReceipts(ctx context.Context, rs []routing.Receipt) ([]routing.ReceiptOutcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail(); err != nil {
		return nil, err
	}
	s.receipts = append(s.receipts, rs...)
	return make([]routing.ReceiptOutcome, len(rs)), nil
}

func (s *memStore) StoreParts(ctx context.Context, ps []routing.Part) ([]*routing.PartSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*routing.PartSet, len(ps))
	for i, p := range ps {
		m := s.parts[p.Key]
		if m == nil {
			m = map[int]routing.Part{}
			s.parts[p.Key] = m
		}
		m[p.Seq] = p
		if len(m) == p.Key.Total {
			set := &routing.PartSet{Key: p.Key, Complete: true}
			for seq := 1; seq <= p.Key.Total; seq++ {
				set.Parts = append(set.Parts, m[seq].Payload)
				set.Codings = append(set.Codings, m[seq].Coding)
			}
			delete(s.parts, p.Key)
			out[i] = set
		}
	}
	return out, nil
}

// SweepParts takes the part sets whose first part came older ago or more.
func (s *memStore) SweepParts(ctx context.Context, older time.Duration, limit int) ([]routing.PartSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []routing.PartSet
	for k, m := range s.parts {
		set := routing.PartSet{Key: k}
		for seq := 1; seq <= k.Total; seq++ {
			p, ok := m[seq]
			if ok {
				set.Parts = append(set.Parts, p.Payload)
				if set.FirstAt.IsZero() || p.ReceivedAt.Before(set.FirstAt) {
					set.FirstAt = p.ReceivedAt
				}
			} else {
				set.Parts = append(set.Parts, nil)
			}
			set.Codings = append(set.Codings, p.Coding)
		}
		if s.now().Sub(set.FirstAt) < older || len(out) == limit {
			continue
		}
		delete(s.parts, k)
		out = append(out, set)
	}
	return out, nil
}

func (s *memStore) AppendInbound(ctx context.Context, ms []routing.Inbound) ([]routing.InboundOutcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail(); err != nil {
		return nil, err
	}
	s.inbound = append(s.inbound, ms...)
	return make([]routing.InboundOutcome, len(ms)), nil
}

func (s *memStore) snapshot() ([]routing.SegmentResult, []routing.Retry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]routing.SegmentResult(nil), s.results...), append([]routing.Retry(nil), s.retries...)
}

// instant is a Limiter that grants at once and records throttling reports.
type instant struct {
	mu        sync.Mutex
	throttled []string
}

// instant is a Limiter that grants everything at once.
func (l *instant) Take(ctx context.Context, reqs []routing.TakeRequest) []routing.TakeResult {
	out := make([]routing.TakeResult, len(reqs))
	for i, r := range reqs {
		out[i].Grants = make([]routing.Grant, len(r.Wants))
		for k, w := range r.Wants {
			out[i].Grants[k].N = w.Max
		}
	}
	return out
}

func (l *instant) Return(ctx context.Context, carrier, number, class string, n int, at time.Time) {}

func (l *instant) Rate(carrier, class string) float64 { return 100 }

func (l *instant) Throttled(ctx context.Context, carrier, number, class string) {
	l.mu.Lock()
	l.throttled = append(l.throttled, carrier+"/"+number)
	l.mu.Unlock()
}

// sliding is a Limiter that allows each number at most perNumber segments
// in any second, in memory (the real one is package throttle's, in Redis).
type sliding struct {
	instant
	perNumber int
	mu2       sync.Mutex
	sent      map[string][]time.Time
}

func (l *sliding) Take(ctx context.Context, reqs []routing.TakeRequest) []routing.TakeResult {
	l.mu2.Lock()
	defer l.mu2.Unlock()
	now := time.Now()
	out := make([]routing.TakeResult, len(reqs))
	for i, r := range reqs {
		out[i].Grants = make([]routing.Grant, len(r.Wants))
		for k, w := range r.Wants {
			ts := l.sent[w.Number]
			for len(ts) > 0 && now.Sub(ts[0]) >= time.Second {
				ts = ts[1:]
			}
			g := min(w.Max, l.perNumber-len(ts))
			for range g {
				ts = append(ts, now)
			}
			l.sent[w.Number] = ts
			out[i].Grants[k].N = g
			if g < w.Max {
				out[i].Grants[k].Wait = ts[0].Add(time.Second).Sub(now)
			}
		}
	}
	return out
}

func (l *sliding) Rate(carrier, class string) float64 { return float64(l.perNumber) }

func startCarrier(t *testing.T, srv *smpptest.Server, method coding.Method, h func(*routing.Carrier) smpp.Handler) *routing.Carrier {
	t.Helper()
	return startCarrierWindow(t, srv, method, 20, h)
}

// startCarrierWindow is startCarrier with one bind of the window given.
func startCarrierWindow(t *testing.T, srv *smpptest.Server, method coding.Method, window int, h func(*routing.Carrier) smpp.Handler) *routing.Carrier {
	t.Helper()
	c := &routing.Carrier{Name: "sim", Method: method, SourceTON: 1, SourceNPI: 1, DestTON: 1, DestNPI: 1, RegisteredDelivery: 1}
	cfg := smpp.SessionConfig{Addr: srv.Addr(), SystemID: "sb", Window: window, ReconnectMin: 10 * time.Millisecond}
	if h != nil {
		cfg.Handler = h(c)
	}
	c.Submitter = startPool(t, cfg)
	return c
}

// startPool returns a pool of one bind on cfg, bound; it is closed when the
// test ends. (The engine fills its pools the same way, a lease slot's binds
// at a time.)
func startPool(tb testing.TB, cfg smpp.SessionConfig) *smpp.Pool {
	tb.Helper()
	s, err := smpp.NewSession(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	pool := &smpp.Pool{}
	pool.Add(s)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		pool.Close(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pool.WaitBound(ctx); err != nil {
		tb.Fatal(err)
	}
	return pool
}

func runDispatcher(t *testing.T, store *memStore, lim routing.Limiter, c *routing.Carrier) *routing.Dispatcher {
	t.Helper()
	return runDispatcherOf(t, store, lim, map[string]*routing.Carrier{"sim": c}, time.Second)
}

// runDispatcherOf runs a dispatcher polling every 10 ms until the test
// ends; mod, when given, changes its configuration first.
func runDispatcherOf(t *testing.T, store *memStore, lim routing.Limiter, carriers map[string]*routing.Carrier, retryMin time.Duration, mod ...func(*routing.DispatcherConfig)) *routing.Dispatcher {
	t.Helper()
	cfg := routing.DispatcherConfig{
		Owner: "test", Store: store, Limiter: lim, Carriers: carriers,
		Poll: 10 * time.Millisecond, RetryMin: retryMin,
	}
	for _, f := range mod {
		f(&cfg)
	}
	d, err := routing.NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func out(id int64, body string) routing.Outbound {
	enc := coding.Choose(body)
	info, _ := coding.Count(body, enc, coding.UDH8)
	return routing.Outbound{ID: id, From: "+15550001111", To: "+447700900123", Carrier: "sim", RateClass: "shared",
		Body: body, Encoding: enc.String(), Segments: info.Segments, CreatedAt: time.Now()}
}

func TestDispatchSubmitsEverySegment(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	c := startCarrier(t, srv, coding.UDH16, nil)
	long := strings.Repeat("Emoji 😀 text ", 20) // UCS-2, several parts
	store := newMemStore(out(1, "hello"), out(2, long))
	runDispatcher(t, store, &instant{}, c)
	want := 1 + out(2, long).Segments
	testenv.Eventually(t, "every segment recorded", func() bool { r, _ := store.snapshot(); return len(r) == want })
	results, retries := store.snapshot()
	if len(retries) != 0 {
		t.Fatalf("retries %+v", retries)
	}
	for _, r := range results {
		if r.Outcome != routing.Accepted || r.CarrierID == "" {
			t.Fatalf("result %+v", r)
		}
	}
	// The carrier got the parts with 16-bit references and UCS-2 coding, the
	// numbers without '+', and reassembling them gives the text back.
	var joined []byte
	for _, rc := range srv.Received() {
		if rc.Header.ID != smpp.SubmitSMID {
			continue
		}
		if rc.Dest != "447700900123" || rc.Source != "15550001111" {
			t.Fatalf("received %+v", rc)
		}
		data, concat, isPart, err := smpp.UserData(rc.ESMClass, rc.ShortMessage, rc.TLVs)
		if err != nil {
			t.Fatal(err)
		}
		if isPart {
			if !concat.Wide || rc.DataCoding != smpp.DataCodingUCS2 {
				t.Fatalf("part %+v coding %d", concat, rc.DataCoding)
			}
			joined = append(joined, data...)
		}
	}
	if got, _ := coding.DecodeUCS2(joined); got != long {
		t.Fatalf("reassembled %q", got)
	}
}

// A message refused 0x58 is requeued RetryMin/2 to RetryMin after the
// refusal (the number is slowed instead of the message backed off), and
// the limiter hears of it.
func TestDispatchThrottledIsRetriedAndReported(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	c := startCarrier(t, srv, coding.UDH8, nil)
	srv.FailNext(1, smpp.StatusTHROTTLED)
	store := newMemStore(out(7, "hi"))
	lim := &instant{}
	clock := newTestClock()
	runDispatcherOf(t, store, lim, map[string]*routing.Carrier{"sim": c}, time.Second, func(c *routing.DispatcherConfig) { c.Now = clock.Now })
	testenv.Eventually(t, "a retry", func() bool { _, r := store.snapshot(); return len(r) == 1 })
	_, retries := store.snapshot()
	wait := retries[0].NotBefore.Sub(clock.Now())
	if retries[0].Message != 7 || wait < 500*time.Millisecond || wait > time.Second || !strings.Contains(retries[0].Reason, "THROTTLED") {
		t.Fatalf("retry %+v, %v after the refusal; want 0.5 to 1 s (RetryMin 1 s)", retries[0], wait)
	}
	testenv.Eventually(t, "the limiter told", func() bool { lim.mu.Lock(); defer lim.mu.Unlock(); return len(lim.throttled) == 1 })
}

func TestDispatchPermanentFailure(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	c := startCarrier(t, srv, coding.UDH8, nil)
	srv.FailNext(1, smpp.StatusINVDSTADR)
	store := newMemStore(out(9, "hi"))
	d := runDispatcher(t, store, &instant{}, c)
	testenv.Eventually(t, "a result", func() bool { r, _ := store.snapshot(); return len(r) == 1 })
	results, retries := store.snapshot()
	if results[0].Outcome != routing.Permanent || results[0].Status != uint32(smpp.StatusINVDSTADR) || len(retries) != 0 {
		t.Fatalf("%+v %+v", results, retries)
	}
	if d.Stats().Failed != 1 {
		t.Fatalf("stats %+v", d.Stats())
	}
}

func TestDispatchUnknownCarrierIsGivenBack(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	c := startCarrier(t, srv, coding.UDH8, nil)
	m := out(3, "x")
	m.Carrier = "elsewhere"
	store := newMemStore(m)
	runDispatcher(t, store, &instant{}, c)
	testenv.Eventually(t, "a retry", func() bool { _, r := store.snapshot(); return len(r) == 1 })
	if s := srv.Stats().Submits; s != 0 {
		t.Fatalf("%d submits", s)
	}
}

// A receipt and an MO in parts are filed; a failing store makes the carrier
// resend (ESME_RX_T_APPN) instead of losing the delivery.
func TestRouterFilesAndAcksAfterCommit(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	r := routing.NewRouter(routing.RouterConfig{Store: store})
	t.Cleanup(r.Close)
	srv := smpptest.Start(t, smpptest.Config{})
	startCarrier(t, srv, coding.UDH8, r.Handler)
	ctx := context.Background()

	var tl smpp.TLVs
	tl = smpp.AppendTLV(tl, smpp.TagReceiptedMessageID, []byte("00AB\x00"))
	tl = smpp.AppendTLV(tl, smpp.TagMessageState, []byte{byte(smpp.StateUndeliverable)})
	st, err := srv.Deliver(ctx, &smpp.DeliverSM{ESMClass: smpp.ESMClassDeliveryReceipt, TLVs: tl,
		ShortMessage: []byte("id:00AB sub:001 dlvrd:000 submit date:2611251200 done date:2611251201 stat:UNDELIV err:034 text:")})
	if err != nil || st != smpp.StatusOK {
		t.Fatal(st, err)
	}
	// A receipt read from the text alone.
	st, err = srv.Deliver(ctx, &smpp.DeliverSM{ESMClass: smpp.ESMClassDeliveryReceipt,
		ShortMessage: []byte("id:77 sub:001 dlvrd:001 submit date:2611251200 done date:2611251201 stat:DELIVRD err:000 text:")})
	if err != nil || st != smpp.StatusOK {
		t.Fatal(st, err)
	}
	text := strings.Repeat("long reply ", 30)
	parts, err := coding.Split(text, coding.GSM7, coding.SAR, 0x1234)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(parts) - 1; i >= 0; i-- { // out of order
		p := smpp.DeliverSM{Source: smpp.Address{TON: 1, NPI: 1, Addr: []byte("447700900123")}, Dest: smpp.Address{TON: 1, NPI: 1, Addr: []byte("15550001111")}}
		smpp.SetPart((*smpp.SubmitSM)(&p), parts[i], coding.SAR)
		if st, err := srv.Deliver(ctx, &p); err != nil || st != 0 {
			t.Fatal(st, err)
		}
	}
	store.mu.Lock()
	if len(store.receipts) != 2 || store.receipts[0].CarrierID != "00AB" || store.receipts[0].State != routing.ReceiptFailed || store.receipts[0].ErrorCode != 34 ||
		store.receipts[1].CarrierID != "77" || store.receipts[1].State != routing.ReceiptDelivered {
		t.Fatalf("receipts %+v", store.receipts)
	}
	if len(store.inbound) != 1 || store.inbound[0].Body != text || store.inbound[0].From != "+447700900123" || store.inbound[0].Segments != len(parts) {
		t.Fatalf("inbound %+v", store.inbound)
	}
	store.failNext = 1
	store.mu.Unlock()
	st, err = srv.Deliver(ctx, &smpp.DeliverSM{Source: smpp.Address{Addr: []byte("447700900123")}, ShortMessage: []byte("STOP")})
	if err != nil || st != smpp.StatusX_T_APPN {
		t.Fatalf("with the store down: %v %v, want ESME_RX_T_APPN", st, err)
	}
	if r.Stats().Failures != 1 {
		t.Fatalf("%+v", r.Stats())
	}
}

// A long message whose parts are still incomplete PartTimeout after the
// first came is stored as it is, flagged incomplete, with the time the
// first part came (on the router's clock); not before.
func TestRouterSweepsIncompleteParts(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	store := newMemStore()
	store.now = clock.Now
	r := routing.NewRouter(routing.RouterConfig{Store: store, Now: clock.Now})
	t.Cleanup(r.Close)
	srv := smpptest.Start(t, smpptest.Config{})
	startCarrier(t, srv, coding.UDH8, r.Handler)
	parts, _ := coding.Split(strings.Repeat("x", 400), coding.GSM7, coding.UDH8, 5)
	p := smpp.DeliverSM{Source: smpp.Address{TON: 1, Addr: []byte("447700900123")}}
	smpp.SetPart((*smpp.SubmitSM)(&p), parts[0], coding.UDH8)
	first := clock.Now()
	if st, err := srv.Deliver(context.Background(), &p); err != nil || st != 0 {
		t.Fatal(st, err)
	}
	clock.Advance(routing.DefaultPartTimeout - time.Millisecond)
	if n := r.Sweep(context.Background()); n != 0 {
		t.Fatalf("swept %d a millisecond before the part timeout", n)
	}
	clock.Advance(time.Millisecond)
	if n := r.Sweep(context.Background()); n != 1 {
		t.Fatalf("swept %d at the part timeout, want 1", n)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.inbound) != 1 || !store.inbound[0].Incomplete || !strings.HasPrefix(store.inbound[0].Body, strings.Repeat("x", 153)) || !strings.Contains(store.inbound[0].Body, "[…]") {
		t.Fatalf("%+v", store.inbound)
	}
	if at := store.inbound[0].ReceivedAt; !at.Equal(first) {
		t.Fatalf("stored as received at %v, want %v (the first part)", at, first)
	}
}

// downPool is a Submitter with no bind up (another engine process holds
// them all); it must never be asked to submit.
type downPool struct{ submits atomic.Int64 }

func (p *downPool) Bound() int { return 0 }
func (p *downPool) SubmitAsync(ctx context.Context, sm *smpp.SubmitSM, done func(smpp.SubmitResult, error)) error {
	p.submits.Add(1)
	return errors.New("not bound (test)")
}

// A process with no bind up claims nothing, so the processes that hold the
// binds send the queue; one whose carrier is down among others gives that
// carrier's messages back at once, for a short while, without submitting.
func TestDispatchLeavesMessagesToProcessesWithBinds(t *testing.T) {
	t.Parallel()
	down := &downPool{}
	store := newMemStore(out(1, "x"))
	runDispatcher(t, store, &instant{}, &routing.Carrier{Name: "sim", Submitter: down})
	time.Sleep(200 * time.Millisecond) // real time: dispatch rounds in which a wrong claim would show
	store.mu.Lock()
	queued, leased := len(store.queue), len(store.leased)
	store.mu.Unlock()
	if queued != 1 || leased != 0 {
		t.Fatalf("a process with no bind up claimed: %d queued, %d leased", queued, leased)
	}

	srv := smpptest.Start(t, smpptest.Config{})
	up := startCarrier(t, srv, coding.UDH8, nil)
	m := out(2, "y")
	m.Carrier = "down"
	store2 := newMemStore(m)
	clock := newTestClock()
	runDispatcherOf(t, store2, &instant{}, map[string]*routing.Carrier{"sim": up, "down": {Name: "down", Submitter: down}}, time.Minute,
		func(c *routing.DispatcherConfig) { c.Now = clock.Now })
	var r []routing.Retry
	testenv.Eventually(t, "the message given back", func() bool { _, r = store2.snapshot(); return len(r) == 1 })
	if wait := r[0].NotBefore.Sub(clock.Now()); wait <= 0 || wait > time.Second {
		t.Fatalf("given back for %v, as a failed attempt would be (RetryMin is a minute)", wait)
	}
	if n := down.submits.Load(); n != 0 {
		t.Fatalf("%d submits on a carrier with no bind up", n)
	}
}

// from returns a one-segment message from number.
func from(id int64, number string) routing.Outbound {
	m := out(id, "hi")
	m.From = number
	return m
}

// A number's backlog holds back no other number: number A's 40 messages
// (4 s at 10 per second) are queued first, number B's one message after
// them; B's goes out at once, and A's go no faster than A's rate.
func TestDispatchNoHeadOfLineBlocking(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	c := startCarrier(t, srv, coding.UDH8, nil)
	var msgs []routing.Outbound
	for i := range 40 {
		msgs = append(msgs, from(int64(i+1), "+15550000001"))
	}
	msgs = append(msgs, from(100, "+15550000002"))
	store := newMemStore(msgs...)
	start := time.Now()
	runDispatcher(t, store, &sliding{perNumber: 10, sent: map[string][]time.Time{}}, c)
	var at time.Time
	testenv.Eventually(t, "B's message recorded", func() bool { var ok bool; at, ok = store.recordedAt(100); return ok })
	if wait := at.Sub(start); wait > time.Second {
		t.Fatalf("B's message waited %v behind A's backlog", wait)
	}
	// A's backlog is not all claimed at once: its queue holds about what
	// it sends in QueueAhead, the rest stays in the store.
	store.mu.Lock()
	left := len(store.queue)
	store.mu.Unlock()
	if left == 0 {
		t.Fatal("A's whole backlog was claimed at once")
	}
	if s := srv.Stats().Submits; s > 21 {
		t.Fatalf("%d submits within the first second: more than A's rate allows", s)
	}
}

// The binds' free window is dealt to the numbers with work in turn: with a
// window of 2 and a slow carrier, four numbers each with a backlog send
// about as much as each other, whatever order they were queued in.
func TestDispatchDealsTheWindowInTurn(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{Latency: 20 * time.Millisecond})
	c := startCarrierWindow(t, srv, coding.UDH8, 2, nil)
	var msgs []routing.Outbound
	numbers := []string{"+15550000001", "+15550000002", "+15550000003", "+15550000004"}
	for k, n := range numbers {
		for i := range 30 {
			msgs = append(msgs, from(int64(k*100+i+1), n))
		}
	}
	store := newMemStore(msgs...)
	runDispatcher(t, store, &instant{}, c)
	testenv.Eventually(t, "40 submits", func() bool { return srv.Stats().Submits >= 40 })
	per := map[string]int{}
	for i, rc := range srv.Received() {
		if i >= 40 {
			break
		}
		if rc.Header.ID == smpp.SubmitSMID {
			per[rc.Source]++
		}
	}
	for _, n := range numbers {
		if got := per[n[1:]]; got < 7 || got > 13 {
			t.Fatalf("first 40 submits per number: %v (want about 10 each)", per)
		}
	}
}

// A refusal of one number slows that number only; refusals of two numbers
// of the account within the span slow the account too; 0x14 slows the
// account. Each is counted per number.
func TestDispatchRefusalsSlowWhatWasRefused(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	c := startCarrier(t, srv, coding.UDH8, nil)
	refuse := map[string]smpp.Status{"15550000001": smpp.StatusTHROTTLED}
	var mu sync.Mutex
	srv.SetResponder(func(p *smpp.SubmitSM) smpp.Status {
		mu.Lock()
		defer mu.Unlock()
		st := refuse[string(p.Source.Addr)]
		delete(refuse, string(p.Source.Addr))
		return st
	})
	store := newMemStore(from(1, "+15550000001"), from(2, "+15550000003"))
	lim := &instant{}
	d := runDispatcherOf(t, store, lim, map[string]*routing.Carrier{"sim": c}, 50*time.Millisecond)
	testenv.Eventually(t, "the refused number slowed", func() bool {
		lim.mu.Lock()
		defer lim.mu.Unlock()
		return slices.Contains(lim.throttled, "sim/+15550000001")
	})
	testenv.Eventually(t, "the other one accepted, the refused one requeued", func() bool { r, q := store.snapshot(); return len(r) == 1 && len(q) == 1 })
	lim.mu.Lock()
	if slices.Contains(lim.throttled, "sim/") {
		t.Fatalf("one number's refusal slowed the account: %v", lim.throttled)
	}
	lim.mu.Unlock()
	if n := d.Refusals()[routing.RefusalKey{Carrier: "sim", Number: "+15550000001", Status: uint32(smpp.StatusTHROTTLED)}]; n != 1 {
		t.Fatalf("refusals %v", d.Refusals())
	}

	// Two numbers refused within the span: the account slows too.
	mu.Lock()
	refuse["15550000001"], refuse["15550000002"] = smpp.StatusTHROTTLED, smpp.StatusTHROTTLED
	mu.Unlock()
	store.mu.Lock()
	store.queue = append(store.queue, from(3, "+15550000001"), from(4, "+15550000002"))
	store.mu.Unlock()
	d.Kick()
	testenv.Eventually(t, "the account slowed", func() bool {
		lim.mu.Lock()
		defer lim.mu.Unlock()
		return slices.Contains(lim.throttled, "sim/")
	})
}

// account is a Limiter whose carrier account grants at most per segments a
// Take, shared max-min fairly (one at a time round the wants, in the order
// asked, as package throttle's does with equal weights); the numbers have
// no limit of their own: the account, not the numbers, is the bottleneck.
type account struct {
	instant
	per int
}

func (l *account) Take(ctx context.Context, reqs []routing.TakeRequest) []routing.TakeResult {
	out := make([]routing.TakeResult, len(reqs))
	for i, r := range reqs {
		out[i].Grants = make([]routing.Grant, len(r.Wants))
		left := l.per
		for dealt := true; left > 0 && dealt; {
			dealt = false
			for k, w := range r.Wants {
				if left > 0 && out[i].Grants[k].N < w.Max {
					out[i].Grants[k].N++
					left--
					dealt = true
				}
			}
		}
		if left == 0 {
			out[i].AccountWait = time.Millisecond
		}
	}
	return out
}

// firstSources returns the sources of the first n submit_sm srv received.
func firstSources(srv *smpptest.Server, n int) []string {
	var src []string
	for _, rc := range srv.Received() {
		if rc.Header.ID == smpp.SubmitSMID && len(src) < n {
			src = append(src, rc.Source)
		}
	}
	return src
}

// When the account is short, its grants go round the numbers with work:
// each round starts past the last number the previous one got tokens for.
// 20 numbers with a backlog each and an account that grants 2 segments a
// Take: the first 20 submits are from 20 different numbers.
func TestDispatchAccountGrantsGoRound(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	c := startCarrierWindow(t, srv, coding.UDH8, 100, nil)
	var msgs []routing.Outbound
	for k := range 20 {
		for i := range 5 {
			msgs = append(msgs, from(int64(k*100+i+1), fmt.Sprintf("+155500000%02d", k)))
		}
	}
	store := newMemStore(msgs...)
	runDispatcher(t, store, &account{per: 2}, c)
	testenv.Eventually(t, "20 submits", func() bool { return srv.Stats().Submits >= 20 })
	seen := map[string]int{}
	for _, s := range firstSources(srv, 20) {
		seen[s]++
	}
	if len(seen) != 20 {
		t.Fatalf("the first 20 submits came from %d numbers (%v), want all 20 once", len(seen), seen)
	}
}

// With more numbers with work than the in-flight budget holds at MinQueue
// each, a claim takes fewer messages of each number, down to one, so that
// the budget is spread over every backlogged number instead of held by the
// first few (the store's claim walks the numbers round robin; this test's
// store does not, so the test checks what the dispatcher asks for): 60
// numbers with 10 messages each, a budget of 40 and MinQueue 8. With 2
// numbers, claims take MinQueue each.
func TestDispatchClaimsSpreadWhenNumbersOutnumberTheBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		numbers int
		least   int // the fewest per number a claim should ask for
		most    int // the most
		submits int
	}{{60, 1, 8, 400}, {2, 8, 8, 15}} {
		t.Run(fmt.Sprint(tc.numbers, " numbers"), func(t *testing.T) {
			srv := smpptest.Start(t, smpptest.Config{})
			c := startCarrierWindow(t, srv, coding.UDH8, 100, nil)
			var msgs []routing.Outbound
			for k := range tc.numbers {
				for i := range 10 {
					msgs = append(msgs, from(int64(k*100+i+1), fmt.Sprintf("+155500001%02d", k)))
				}
			}
			store := newMemStore(msgs...)
			runDispatcherOf(t, store, &account{per: 4}, map[string]*routing.Carrier{"sim": c}, time.Second,
				func(cfg *routing.DispatcherConfig) { cfg.ClaimBatch, cfg.InFlight, cfg.MinQueue = 20, 40, 8 })
			testenv.Eventually(t, "the submits", func() bool { return srv.Stats().Submits >= int64(tc.submits) })
			store.mu.Lock()
			per := slices.Clone(store.per)
			store.mu.Unlock()
			if slices.Min(per) != tc.least || slices.Max(per) != tc.most {
				t.Fatalf("claims asked for %v per number, want from %d to %d", per, tc.least, tc.most)
			}
		})
	}
}
