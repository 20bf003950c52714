package smpp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// newSession starts a session against srv with short timers for tests and
// closes it when the test ends.
func newSession(t *testing.T, srv *smpptest.Server, mod func(*smpp.SessionConfig)) *smpp.Session {
	t.Helper()
	cfg := smpp.SessionConfig{
		Addr:                srv.Addr(),
		SystemID:            "test",
		Password:            "pw",
		Window:              10,
		ResponseTimeout:     5 * time.Second,
		EnquireLinkInterval: time.Minute,
		ReconnectMin:        10 * time.Millisecond,
		ReconnectMax:        100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := smpp.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

func waitBound(t *testing.T, s interface{ WaitBound(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitBound(ctx); err != nil {
		t.Fatalf("not bound: %v", err)
	}
}

func msg(to string) *smpp.SubmitSM {
	return &smpp.SubmitSM{
		Source:             smpp.Address{TON: 1, NPI: 1, Addr: []byte("15550001111")},
		Dest:               smpp.Address{TON: 1, NPI: 1, Addr: []byte(to)},
		RegisteredDelivery: 1,
		ShortMessage:       []byte("hello"),
	}
}

// checkNoLeaks fails the test if goroutines of the smpp package outlive it.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		var leaks []string
		testenv.Wait(t, 5*time.Second, "the smpp goroutines to end", func() bool {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			leaks = nil
			for _, g := range strings.Split(string(buf[:n]), "\n\n") {
				if strings.Contains(g, "smpp.(*conn)") || strings.Contains(g, "smpp.(*Session)") {
					leaks = append(leaks, g)
				}
			}
			return len(leaks) == 0
		}, func() string {
			return fmt.Sprintf("%d goroutines leaked:\n%s", len(leaks), strings.Join(leaks, "\n\n"))
		})
	})
}

func TestSessionSubmit(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{Accounts: map[string]string{"test": "pw"}})
	s := newSession(t, srv, nil)
	waitBound(t, s)
	ctx := context.Background()
	r, err := s.Submit(ctx, msg("447700900001"))
	if err != nil {
		t.Fatal(err)
	}
	if r.MessageID != "1" {
		t.Fatalf("message id %q, want the server's first id", r.MessageID)
	}
	got := srv.Received()
	var submits []smpptest.Received
	for _, rc := range got {
		if rc.Header.ID == smpp.SubmitSMID {
			submits = append(submits, rc)
		}
	}
	if len(submits) != 1 || submits[0].Dest != "447700900001" || string(submits[0].ShortMessage) != "hello" {
		t.Fatalf("server received %+v", submits)
	}
	st := s.Stats()
	if st.Submitted < 1 || st.ByStatus[smpp.StatusOK] != 1 || st.ResponseTime.Count != 1 || st.Connects != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSessionErrorStatusIsTyped(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, nil)
	waitBound(t, s)
	srv.FailNext(1, smpp.StatusTHROTTLED)
	_, err := s.Submit(context.Background(), msg("1"))
	var se *smpp.StatusError
	if !errors.As(err, &se) || se.Status != smpp.StatusTHROTTLED || !smpp.Retryable(err) {
		t.Fatalf("got %v", err)
	}
	srv.FailNext(1, smpp.StatusINVDSTADR)
	_, err = s.Submit(context.Background(), msg("1"))
	if st, ok := smpp.StatusOf(err); !ok || st != smpp.StatusINVDSTADR || smpp.Retryable(err) {
		t.Fatalf("got %v", err)
	}
	if _, err := s.Submit(context.Background(), msg("1")); err != nil {
		t.Fatalf("after errors: %v", err)
	}
	if got := s.Stats().Throttled(); got != 1 {
		t.Fatalf("throttled count %d", got)
	}
}

// The window is never exceeded, whatever the number of callers.
func TestSessionWindowNeverExceeded(t *testing.T) {
	checkNoLeaks(t) // not parallel: the check sees every goroutine of the process
	const window = 7
	srv := smpptest.Start(t, smpptest.Config{Window: window, Latency: 2 * time.Millisecond})
	s := newSession(t, srv, func(c *smpp.SessionConfig) { c.Window = window })
	waitBound(t, s)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var maxInFlight atomic.Int64
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if n := int64(s.InFlight()); n > maxInFlight.Load() {
					maxInFlight.Store(n)
				}
				if _, err := s.Submit(context.Background(), msg("1")); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	st := srv.Stats()
	if failed.Load() != 0 || st.QueueFull != 0 {
		t.Fatalf("%d submits failed, server answered %d with queue full", failed.Load(), st.QueueFull)
	}
	if st.MaxOutstanding > window || maxInFlight.Load() > window {
		t.Fatalf("window %d exceeded: server saw %d outstanding, client %d", window, st.MaxOutstanding, maxInFlight.Load())
	}
	if st.MaxOutstanding < window-1 {
		t.Fatalf("the window was not used: at most %d outstanding of %d", st.MaxOutstanding, window)
	}
	if st.SubmitsOK != 1000 {
		t.Fatalf("server accepted %d of 1000", st.SubmitsOK)
	}
}

// A caller waiting for a window slot leaves when its context ends, and
// nothing is sent for it.
func TestSessionWaitForSlotHonoursContext(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, func(c *smpp.SessionConfig) { c.Window = 1 })
	waitBound(t, s)
	srv.Hold()
	go s.Submit(context.Background(), msg("1")) // takes the only slot
	testenv.Eventually(t, "the first submit to arrive", func() bool { return srv.Stats().Submits == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Submit(ctx, msg("2"))
	if !errors.Is(err, context.DeadlineExceeded) || smpp.OutcomeUnknown(err) {
		t.Fatalf("got %v, want the context's error with nothing sent", err)
	}
	srv.Release()
	time.Sleep(20 * time.Millisecond) // real time: a submit wrongly sent once the slot frees would arrive now
	if n := srv.Stats().Submits; n != 1 {
		t.Fatalf("server received %d submits, want 1", n)
	}
}

// A lost link fails every request written but not answered with an unknown
// outcome; the session rebinds by itself on one socket at a time.
func TestSessionReconnectFailsInFlightAsUnknown(t *testing.T) {
	checkNoLeaks(t) // not parallel: the check sees every goroutine of the process
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, func(c *smpp.SessionConfig) { c.Window = 20 })
	waitBound(t, s)
	srv.Hold()
	errs := make(chan error, 5)
	for i := 0; i < 5; i++ {
		go func() { _, err := s.Submit(context.Background(), msg("1")); errs <- err }()
	}
	testenv.Eventually(t, "5 submits at the server", func() bool { return srv.Stats().Submits == 5 })
	srv.DropAll()
	for i := 0; i < 5; i++ {
		err := <-errs
		var u *smpp.UnknownOutcomeError
		if !errors.As(err, &u) || !smpp.Retryable(err) {
			t.Fatalf("in-flight submit: %v, want an UnknownOutcomeError", err)
		}
	}
	srv.Release()
	testenv.Eventually(t, "a rebind", func() bool { return s.Stats().Reconnects == 1 && s.Bound() })
	if _, err := s.Submit(context.Background(), msg("1")); err != nil {
		t.Fatalf("after the rebind: %v", err)
	}
	if st := s.Stats(); st.UnknownOutcome != 5 || st.InFlight != 0 {
		t.Fatalf("stats after the drop: %+v", st)
	}
	if m := srv.Stats().MaxConnsOpen; m != 1 {
		t.Fatalf("%d sockets open at once, want 1", m)
	}
}

// Requests never written (the bind was down) fail with ErrNotBound, distinct
// from an unknown outcome.
func TestSessionNotBoundIsNotUnknown(t *testing.T) {
	t.Parallel()
	// Nothing listens here: the session stays in backoff.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := smpp.NewSession(smpp.SessionConfig{Addr: addr, SystemID: "x", ReconnectMin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	_, err = s.Submit(context.Background(), msg("1"))
	if !errors.Is(err, smpp.ErrNotBound) || smpp.OutcomeUnknown(err) || !smpp.Retryable(err) {
		t.Fatalf("got %v", err)
	}
}

// Under repeated drops the session never holds a second socket, and
// backoff between attempts grows while the server refuses connections.
func TestSessionNeverASecondSocket(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, nil)
	for i := 0; i < 5; i++ {
		waitBound(t, s)
		srv.DropAll()
		testenv.Eventually(t, "the drop to be seen", func() bool { return !s.Bound() || s.Stats().Connects > int64(i+1) })
	}
	waitBound(t, s)
	if m := srv.Stats().MaxConnsOpen; m != 1 {
		t.Fatalf("%d sockets open at once, want 1", m)
	}
	if r := s.Stats().Reconnects; r < 5 {
		t.Fatalf("%d reconnects after 5 drops", r)
	}
}

func TestSessionBackoffGrows(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var backoffs []time.Duration
	dials := 0
	s, err := smpp.NewSession(smpp.SessionConfig{
		Addr: "127.0.0.1:1", SystemID: "x",
		ReconnectMin: 4 * time.Millisecond, ReconnectMax: 64 * time.Millisecond,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dials++
			mu.Unlock()
			return nil, errors.New("refused by test")
		},
		OnStateChange: func(c smpp.StateChange) {
			if c.State == smpp.SessionBackoff {
				mu.Lock()
				backoffs = append(backoffs, c.Backoff)
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "8 attempts", func() bool { mu.Lock(); defer mu.Unlock(); return len(backoffs) >= 8 })
	s.Close(context.Background())
	mu.Lock()
	defer mu.Unlock()
	// Attempt i waits within [b/2, b] for b = min(4ms·2^i, 64ms).
	for i, got := range backoffs[:8] {
		b := min(4*time.Millisecond<<i, 64*time.Millisecond)
		if got < b/2 || got > b {
			t.Fatalf("backoff %d = %v, want within [%v, %v]; all %v", i, got, b/2, b, backoffs)
		}
	}
	if st := s.Stats(); st.LastError == "" || !strings.Contains(st.LastError, "refused by test") {
		t.Fatalf("last error %q", st.LastError)
	}
}

// Bad credentials: the session stops retrying and says why.
func TestSessionBadCredentialsStopRetrying(t *testing.T) {
	checkNoLeaks(t) // not parallel: the check sees every goroutine of the process
	srv := smpptest.Start(t, smpptest.Config{Accounts: map[string]string{"test": "right"}})
	s := newSession(t, srv, func(c *smpp.SessionConfig) { c.Password = "wrong" })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.WaitBound(ctx)
	if st, ok := smpp.StatusOf(err); !ok || st != smpp.StatusINVPASWD {
		t.Fatalf("WaitBound: %v, want ESME_RINVPASWD", err)
	}
	if s.State() != smpp.SessionRefused {
		t.Fatalf("state %v", s.State())
	}
	time.Sleep(100 * time.Millisecond) // real time: ten 10 ms backoffs' worth, for a wrong retry to show
	if n := srv.Stats().BindsRefused; n != 1 {
		t.Fatalf("%d bind attempts refused, want 1 (no retry)", n)
	}
	if _, err := s.Submit(context.Background(), msg("1")); !errors.Is(err, smpp.ErrNotBound) {
		t.Fatalf("submit on a refused session: %v", err)
	}
}

// An unknown command from the SMSC gets generic_nack; the bind stays.
func TestSessionNacksUnknownCommand(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, nil)
	waitBound(t, s)
	raw := smpp.AppendHeader(nil, smpp.Header{Length: 20, ID: 0x00010203, Sequence: 77})
	raw = append(raw, 1, 2, 3, 4)
	if err := srv.SendRaw(raw); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "a generic_nack at the server", func() bool { return srv.Stats().GenericNacks == 1 })
	if _, err := s.Submit(context.Background(), msg("1")); err != nil {
		t.Fatalf("bind lost after an unknown command: %v", err)
	}
	if s.Stats().Reconnects != 0 {
		t.Fatal("the session reconnected")
	}
}

// SessionConfig.Logger gets, at debug level, what OnStateChange does not
// say: a response that matches no request, and why a connection was lost.
// Every line carries the field addr.
func TestSessionLogger(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.DebugLevel)
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, func(c *smpp.SessionConfig) { c.Logger = zap.New(core) })
	waitBound(t, s)
	if err := srv.SendRaw(smpp.AppendHeaderOnly(nil, smpp.EnquireLinkRespID, smpp.StatusOK, 4242)); err != nil {
		t.Fatal(err)
	}
	stray := func() []observer.LoggedEntry {
		return logs.FilterMessage("smpp: response matches no request").FilterField(zap.Uint32("sequence", 4242)).All()
	}
	testenv.Eventually(t, "the stray response logged", func() bool { return len(stray()) == 1 })
	srv.DropAll()
	lost := func() []observer.LoggedEntry { return logs.FilterMessage("smpp: connection lost; reconnecting").All() }
	testenv.Eventually(t, "the lost connection logged", func() bool { return len(lost()) >= 1 })
	for _, e := range append(stray(), lost()[0]) {
		if e.Level != zap.DebugLevel || e.ContextMap()["addr"] != srv.Addr() {
			t.Errorf("%q at %v with fields %v: want debug level and addr %s", e.Message, e.Level, e.ContextMap(), srv.Addr())
		}
	}
	if f := lost()[0].ContextMap(); f["error"] == nil || f["retry_in"] == nil {
		t.Errorf("connection lost without error and retry_in: %v", f)
	}
}

// deliver_sm_resp is written only after the handler returns, with the
// status it returns.
func TestSessionAckAfterHandlerReturns(t *testing.T) {
	t.Parallel()
	entered := make(chan string, 1)
	release := make(chan smpp.Status)
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, func(c *smpp.SessionConfig) {
		c.Handler = smpp.HandlerFunc(func(ctx context.Context, p smpp.SMSCPDU) smpp.Status {
			d := p.(*smpp.DeliverSM)
			entered <- string(d.ShortMessage)
			return <-release
		})
	})
	waitBound(t, s)
	type result struct {
		st  smpp.Status
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := srv.Deliver(context.Background(), &smpp.DeliverSM{
			Source: smpp.Address{TON: 1, NPI: 1, Addr: []byte("447700900001")},
			Dest:   smpp.Address{TON: 1, NPI: 1, Addr: []byte("15550001111")}, ShortMessage: []byte("reply"),
		})
		done <- result{st, err}
	}()
	if got := <-entered; got != "reply" {
		t.Fatalf("handler got %q", got)
	}
	select {
	case r := <-done:
		t.Fatalf("deliver_sm answered (%v, %v) before the handler returned", r.st, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	release <- smpp.StatusX_T_APPN
	r := <-done
	if r.err != nil || r.st != smpp.StatusX_T_APPN {
		t.Fatalf("deliver_sm_resp (%v, %v), want the handler's ESME_RX_T_APPN", r.st, r.err)
	}
}

// Messages between one pair of addresses (a conversation, one message's
// receipts) are handled in order even with many workers.
func TestSessionInboundOrderPerPair(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string][]int{}
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, func(c *smpp.SessionConfig) {
		c.InboundWorkers = 4
		c.Handler = smpp.HandlerFunc(func(ctx context.Context, p smpp.SMSCPDU) smpp.Status {
			d := p.(*smpp.DeliverSM)
			var n int
			fmt.Sscanf(string(d.ShortMessage), "%d", &n)
			k := string(d.Source.Addr) + ">" + string(d.Dest.Addr)
			mu.Lock()
			got[k] = append(got[k], n)
			mu.Unlock()
			return smpp.StatusOK
		})
	})
	waitBound(t, s)
	var wg sync.WaitGroup
	for pair := 0; pair < 8; pair++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				srv.Deliver(context.Background(), &smpp.DeliverSM{
					Source:       smpp.Address{Addr: []byte(fmt.Sprintf("4477009000%02d", pair%4))},
					Dest:         smpp.Address{Addr: []byte(fmt.Sprintf("1555000%04d", pair/4))},
					ShortMessage: []byte(fmt.Sprint(i)),
				})
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 8 {
		t.Fatalf("handled %d pairs, want 8", len(got))
	}
	for pair, seq := range got {
		for i, n := range seq {
			if n != i {
				t.Fatalf("pair %s handled out of order: %v", pair, seq)
			}
		}
	}
}

// One handset's messages to different numbers are handled concurrently: a
// handler that waits on one conversation holds back neither the others of
// that handset nor, through the reader, the rest of the bind. Receipts come
// from the handsets a campaign went to, so many numbers texting the same
// handsets send their receipts from one source.
func TestSessionInboundPairsRunConcurrently(t *testing.T) {
	t.Parallel()
	handset := smpp.Address{TON: 1, NPI: 1, Addr: []byte("447700900001")}
	release := make(chan struct{})
	others := make(chan string, 16)
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, func(c *smpp.SessionConfig) {
		c.InboundWorkers = 8
		c.Handler = smpp.HandlerFunc(func(ctx context.Context, p smpp.SMSCPDU) smpp.Status {
			d := p.(*smpp.DeliverSM)
			if string(d.Dest.Addr) == "15550000000" {
				<-release // a slow commit for this conversation
				return smpp.StatusOK
			}
			others <- string(d.Dest.Addr)
			return smpp.StatusOK
		})
	})
	waitBound(t, s)
	defer close(release)
	for i := range 9 {
		go srv.Deliver(context.Background(), &smpp.DeliverSM{Source: handset,
			Dest: smpp.Address{TON: 1, NPI: 1, Addr: []byte(fmt.Sprintf("1555000%04d", i))}, ShortMessage: []byte("x")})
		if i == 0 {
			time.Sleep(10 * time.Millisecond) // the slow one first
		}
	}
	// With 8 workers, all eight others land on the slow one's worker with
	// probability 8⁻⁸; keyed by the source alone, they always do.
	select {
	case d := <-others:
		t.Logf("the message to %s was handled while the first waited", d)
	case <-time.After(5 * time.Second):
		t.Fatal("the handset's messages to other numbers waited behind its first")
	}
}

// A request with no answer fails after the response timeout and gives its
// window slot back.
func TestSessionResponseTimeout(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, func(c *smpp.SessionConfig) {
		c.ResponseTimeout = 100 * time.Millisecond
		c.Window = 1
	})
	waitBound(t, s)
	srv.Hold()
	_, err := s.Submit(context.Background(), msg("1"))
	if !errors.Is(err, smpp.ErrResponseTimeout) || !smpp.OutcomeUnknown(err) {
		t.Fatalf("got %v", err)
	}
	if s.InFlight() != 0 {
		t.Fatal("the timed-out request kept its window slot")
	}
	if s.Stats().Timeouts != 1 {
		t.Fatal("timeout not counted")
	}
	srv.Release() // the late response matches nothing and is counted
	testenv.Eventually(t, "the late response to be counted", func() bool { return s.Stats().UnknownResps == 1 })
}

// enquire_link is sent only while the link is idle, and a link that stops
// answering is declared dead and rebound.
func TestSessionEnquireLink(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, func(c *smpp.SessionConfig) {
		c.EnquireLinkInterval = 200 * time.Millisecond
		c.MaxUnansweredLinks = 2
		c.ResponseTimeout = time.Second
		c.BindTimeout = 300 * time.Millisecond
	})
	waitBound(t, s)
	// Busy: a submit every 5 ms keeps the link from being idle.
	for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if _, err := s.Submit(context.Background(), msg("1")); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Stats().EnquireLinks; n != 0 {
		t.Fatalf("%d enquire_links sent while the link was busy", n)
	}
	testenv.Eventually(t, "an enquire_link while idle", func() bool { return srv.Stats().EnquireLinks >= 1 })
	srv.Mute(2 * time.Second)
	testenv.Eventually(t, "the dead link to be rebound", func() bool { return s.Stats().Reconnects >= 1 })
}

// A carrier-initiated unbind is answered and the session binds again.
func TestSessionPeerUnbind(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, nil)
	waitBound(t, s)
	srv.UnbindAll()
	testenv.Eventually(t, "a rebind after the carrier's unbind", func() bool { return s.Stats().Reconnects == 1 && s.Bound() })
	if _, err := s.Submit(context.Background(), msg("1")); err != nil {
		t.Fatal(err)
	}
	if m := srv.Stats().MaxConnsOpen; m != 1 {
		t.Fatalf("%d sockets at once", m)
	}
}

// Close under load: every submit ends with success, ErrClosed or an unknown
// outcome; the server sees an unbind; no goroutine survives.
func TestSessionCloseUnderLoad(t *testing.T) {
	checkNoLeaks(t) // not parallel: the check sees every goroutine of the process
	srv := smpptest.Start(t, smpptest.Config{Latency: time.Millisecond})
	s := newSession(t, srv, func(c *smpp.SessionConfig) { c.Window = 50 })
	waitBound(t, s)
	var ok, closed, other atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 100; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := s.Submit(context.Background(), msg("1"))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, smpp.ErrClosed):
					closed.Add(1)
					return
				default:
					other.Add(1)
					t.Errorf("submit during close: %v", err)
					return
				}
			}
		}()
	}
	testenv.Eventually(t, "the load to be under way", func() bool { return ok.Load() >= 100 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if ok.Load() == 0 || closed.Load() != 100 {
		t.Fatalf("ok %d closed %d other %d", ok.Load(), closed.Load(), other.Load())
	}
	testenv.Eventually(t, "the server to see the unbind", func() bool { return srv.Stats().Unbinds == 1 })
	if srv.Stats().SubmitsOK != ok.Load() {
		t.Fatalf("server accepted %d, clients saw %d succeed", srv.Stats().SubmitsOK, ok.Load())
	}
	if s.State() != smpp.SessionClosed {
		t.Fatalf("state %v", s.State())
	}
}

func TestPoolPicksMostFreeWindow(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	p := &smpp.Pool{}
	for range 3 {
		p.Add(newSession(t, srv, func(c *smpp.SessionConfig) { c.SystemID, c.Window = "p", 4 }))
	}
	defer closeWithin(p, 2*time.Second)
	testenv.Eventually(t, "3 binds", func() bool { return p.Bound() == 3 })
	srv.Hold()
	// One at a time: each pick sees the windows the earlier ones left (six
	// picks racing may read the same free window before any takes a slot;
	// CI under load once put 3 on one bind).
	for i := 1; i <= 6; i++ {
		go p.Submit(context.Background(), msg("1"))
		testenv.Eventually(t, fmt.Sprintf("submit %d held", i), func() bool { return srv.Stats().Submits == int64(i) })
	}
	for _, s := range p.Sessions() {
		if s.InFlight() != 2 {
			t.Fatalf("uneven spread: %d in flight on one bind, want 2 on each", s.InFlight())
		}
	}
	srv.Release()
	testenv.Eventually(t, "all answered", func() bool { return p.FreeWindow() == 12 })
}

func TestPoolTransmitterReceiver(t *testing.T) {
	t.Parallel()
	var inbound atomic.Int64
	srv := smpptest.Start(t, smpptest.Config{})
	p := &smpp.Pool{}
	for range 2 {
		for _, bt := range []smpp.BindType{smpp.BindTransmitter, smpp.BindReceiver} {
			p.Add(newSession(t, srv, func(c *smpp.SessionConfig) {
				c.SystemID, c.Type = "p", bt
				c.Handler = smpp.HandlerFunc(func(ctx context.Context, p smpp.SMSCPDU) smpp.Status { inbound.Add(1); return 0 })
			}))
		}
	}
	defer closeWithin(p, 2*time.Second)
	waitBound(t, p)
	testenv.Eventually(t, "4 binds", func() bool { return srv.Stats().Binds == 4 })
	for i := 0; i < 10; i++ {
		if _, err := p.Submit(context.Background(), msg("1")); err != nil {
			t.Fatal(err)
		}
	}
	var txSubmits, rxSubmits int64
	for _, s := range p.Sessions() {
		if s.Config().Type == smpp.BindReceiver {
			rxSubmits += s.Stats().Submitted
		} else {
			txSubmits += s.Stats().Submitted
		}
	}
	if txSubmits != 10 || rxSubmits != 0 {
		t.Fatalf("submits on transmitters %d, on receivers %d", txSubmits, rxSubmits)
	}
	if st, err := srv.Deliver(context.Background(), &smpp.DeliverSM{Source: smpp.Address{Addr: []byte("1")}}); err != nil || st != 0 {
		t.Fatal(st, err)
	}
	if inbound.Load() != 1 {
		t.Fatal("receiver did not handle the deliver_sm")
	}
}

func closeWithin(c interface{ Close(context.Context) error }, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c.Close(ctx)
}

func TestSessionSubmitAsync(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{Latency: time.Millisecond})
	s := newSession(t, srv, func(c *smpp.SessionConfig) { c.Window = 5 })
	waitBound(t, s)
	var mu sync.Mutex
	ids := map[string]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		err := s.SubmitAsync(context.Background(), msg("1"), func(r smpp.SubmitResult, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("async submit: %v", err)
				return
			}
			mu.Lock()
			ids[r.MessageID] = true
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if len(ids) != 100 {
		t.Fatalf("%d distinct message ids for 100 submits", len(ids))
	}
	if m := srv.Stats().MaxOutstanding; m > 5 {
		t.Fatalf("window 5 exceeded: %d outstanding", m)
	}
	// A failed async submit reports through the callback with the typed error.
	srv.FailNext(1, smpp.StatusMSGQFUL)
	errc := make(chan error, 1)
	if err := s.SubmitAsync(context.Background(), msg("1"), func(_ smpp.SubmitResult, err error) { errc <- err }); err != nil {
		t.Fatal(err)
	}
	if st, ok := smpp.StatusOf(<-errc); !ok || st != smpp.StatusMSGQFUL {
		t.Fatalf("got %v", st)
	}
}

// A peer that sends an oversized command_length or garbage gets a
// generic_nack and the connection is closed; the session rebinds, nothing is
// allocated for the hostile length, and the process lives on.
func TestSessionHostilePeer(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, func(c *smpp.SessionConfig) { c.MaxPDULength = 4096 })
	waitBound(t, s)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	huge := smpp.AppendHeader(nil, smpp.Header{Length: 0x7FFFFFF0, ID: smpp.DeliverSMID, Sequence: 9})
	if err := srv.SendRaw(huge); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "a rebind after the oversized PDU", func() bool { return s.Stats().Reconnects == 1 && s.Bound() })
	runtime.ReadMemStats(&after)
	if grew := int64(after.TotalAlloc) - int64(before.TotalAlloc); grew > 64<<20 {
		t.Fatalf("%d MiB allocated after a 2 GiB command_length", grew>>20)
	}
	testenv.Eventually(t, "the generic_nack", func() bool { return srv.Stats().GenericNacks >= 1 })
	// Garbage: a length below the header's own.
	if err := srv.SendRaw([]byte{0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "a second rebind", func() bool { return s.Stats().Reconnects == 2 && s.Bound() })
	if _, err := s.Submit(context.Background(), msg("1")); err != nil {
		t.Fatalf("after the hostile peer: %v", err)
	}
}
