package smscsim_test

import (
	"context"
	"crypto/tls"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// TestMain doubles as the simulator process of the benchmarks (see
// bench_test.go) and fails the run when goroutines of package smscsim, or
// of the smpptest.Core it runs on, outlive the tests (every Sim is closed
// by then).
func TestMain(m *testing.M) {
	if os.Getenv("SMSCSIM_CHILD") != "" {
		childSim()
		os.Exit(0)
	}
	os.Exit(smpptest.CheckLeaks(m.Run(), "github.com/switchboard-sms/switchboard/smscsim", "github.com/switchboard-sms/switchboard/smpp/smpptest"))
}

const ioTimeout = smpptest.IOTimeout

// start starts a simulator on 127.0.0.1:0 (unless cfg says otherwise) and
// closes it when the test ends.
func start(t testing.TB, cfg smscsim.Config) *smscsim.Sim {
	t.Helper()
	if len(cfg.Listeners) == 0 {
		cfg.Listeners = []smscsim.ListenerConfig{{Addr: "127.0.0.1:0"}}
	}
	if cfg.Logger == nil && testing.Verbose() {
		cfg.Logger = zaptest.NewLogger(t)
	}
	s, err := smscsim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// acct is an account with credentials "acme"/"secret" and the given changes.
func acct(f func(a *smscsim.AccountConfig)) smscsim.AccountConfig {
	a := smscsim.AccountConfig{SystemID: "acme", Password: "secret"}
	if f != nil {
		f(&a)
	}
	return a
}

func oneAccount(f func(a *smscsim.AccountConfig)) smscsim.Config {
	return smscsim.Config{Accounts: []smscsim.AccountConfig{acct(f)}}
}

func waitStats(t testing.TB, s *smscsim.Sim, what string, cond func(smscsim.Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v (stats %+v)", what, err, s.Stats())
	}
}

func report(t testing.TB, s *smscsim.Sim, id string) smscsim.AccountReport {
	t.Helper()
	ar, ok := s.Report().Account(id)
	if !ok {
		t.Fatalf("no account %q in the report", id)
	}
	return ar
}

// client is a raw ESME (smpptest.Client) with the helpers of these tests.
type client struct{ *smpptest.Client }

func dial(t testing.TB, addr string) *client { return &client{smpptest.Dial(t, addr)} }

// mustBind binds as "acme"/"secret" or fails the test.
func (c *client) mustBind(typ smpp.BindType) *client {
	c.T.Helper()
	c.MustBind(typ, "acme", "secret")
	return c
}

func msg(src, dst string, rd uint8, text string) *smpp.SubmitSM {
	return &smpp.SubmitSM{
		Source:             smpp.Address{TON: smpp.TONInternational, NPI: smpp.NPIE164, Addr: []byte(src)},
		Dest:               smpp.Address{TON: smpp.TONInternational, NPI: smpp.NPIE164, Addr: []byte(dst)},
		RegisteredDelivery: rd,
		ShortMessage:       []byte(text),
	}
}

// event is what a client read: a response or a deliver_sm, flattened.
type event struct {
	at     time.Time
	id     smpp.CommandID
	status smpp.Status
	seq    uint32
	msgID  string // submit_sm_resp
	// deliver_sm
	esm      uint8
	src, dst string
	dc       uint8
	text     []byte // short_message or message_payload
	tlvs     smpp.TLVs
}

// collect reads PDUs until n submit_sm_resp and m deliver_sm have come (or
// the timeout), answering every deliver_sm with ack.
func (c *client) collect(n, m int, ack smpp.Status, timeout time.Duration) []event {
	c.T.Helper()
	var out []event
	deadline := time.Now().Add(timeout)
	resps, dels := 0, 0
	for resps < n || dels < m {
		h, p, err := c.ReadWithin(time.Until(deadline))
		if err != nil {
			c.T.Fatalf("after %d responses and %d deliver_sm of %d and %d: %v", resps, dels, n, m, err)
		}
		ev := event{at: time.Now(), id: h.ID, status: h.Status, seq: h.Sequence}
		switch p := p.(type) {
		case *smpp.SubmitSMResp:
			resps++
			ev.msgID = string(p.MessageID)
		case *smpp.DeliverSM:
			dels++
			ev.esm, ev.src, ev.dst, ev.dc = p.ESMClass, string(p.Source.Addr), string(p.Dest.Addr), p.DataCoding
			ev.text = append([]byte(nil), p.Payload()...)
			ev.tlvs = append(smpp.TLVs(nil), p.TLVs...)
			c.Ack(h.Sequence, ack)
		default:
			if h.ID == smpp.SubmitSMRespID {
				resps++
			}
		}
		out = append(out, ev)
	}
	return out
}

// reassemble joins the parts of concatenated MO messages (UDH or SAR) and
// decodes them, in arrival order of their last part.
func reassemble(t testing.TB, evs []event) []string {
	t.Helper()
	type key struct {
		src, dst string
		ref      uint16
	}
	partial := map[key][][]byte{}
	var out []string
	for _, ev := range evs {
		if ev.id != smpp.DeliverSMID || ev.esm&smpp.ESMClassDeliveryReceipt != 0 {
			continue
		}
		data, cc, isPart, err := smpp.UserData(ev.esm, ev.text, ev.tlvs)
		if err != nil {
			t.Fatalf("UserData: %v", err)
		}
		enc := smpp.EncodingOf(ev.dc, 0)
		if !isPart {
			s, err := coding.Decode(data, enc)
			if err != nil {
				t.Fatalf("decode %x as %v: %v", data, enc, err)
			}
			out = append(out, s)
			continue
		}
		k := key{ev.src, ev.dst, cc.Ref}
		if partial[k] == nil {
			partial[k] = make([][]byte, cc.Total)
		}
		partial[k][cc.Seq-1] = append([]byte(nil), data...)
		var all []byte
		complete := true
		for _, p := range partial[k] {
			if p == nil {
				complete = false
				break
			}
			all = append(all, p...)
		}
		if complete {
			s, err := coding.Decode(all, enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			out = append(out, s)
			delete(partial, k)
		}
	}
	return out
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func tlsConfig(s *smscsim.Sim) *tls.Config {
	return &tls.Config{RootCAs: s.RootCAs(), ServerName: "127.0.0.1"}
}

// session binds our own ESME client (smpp.Session, transceiver "acme")
// and closes it when the test ends.
func session(t testing.TB, addr string, f func(c *smpp.SessionConfig)) *smpp.Session {
	t.Helper()
	cfg := smpp.SessionConfig{Addr: addr, SystemID: "acme", Password: "secret", Window: 100, ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond}
	if f != nil {
		f(&cfg)
	}
	sess, err := smpp.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sess.Close(c)
	})
	if err := sess.WaitBound(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return sess
}

// inbox is a Handler that keeps what the simulator delivered, as events.
type inbox struct {
	mu     sync.Mutex
	evs    []event
	status smpp.Status
	note   chan struct{}
}

func newInbox() *inbox { return &inbox{note: make(chan struct{}, 1)} }

func (in *inbox) HandleInbound(_ context.Context, p smpp.SMSCPDU) smpp.Status {
	d, ok := p.(*smpp.DeliverSM)
	if !ok {
		return smpp.StatusOK
	}
	ev := event{at: time.Now(), id: smpp.DeliverSMID, esm: d.ESMClass, src: string(d.Source.Addr), dst: string(d.Dest.Addr),
		dc: d.DataCoding, text: append([]byte(nil), d.Payload()...), tlvs: append(smpp.TLVs(nil), d.TLVs...)}
	in.mu.Lock()
	in.evs = append(in.evs, ev)
	st := in.status
	in.mu.Unlock()
	select {
	case in.note <- struct{}{}:
	default:
	}
	return st
}

// wait waits until at least n deliver_sm have come and returns them.
func (in *inbox) wait(t testing.TB, n int) []event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		in.mu.Lock()
		if len(in.evs) >= n {
			out := append([]event(nil), in.evs...)
			in.mu.Unlock()
			return out
		}
		got := len(in.evs)
		in.mu.Unlock()
		select {
		case <-in.note:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d deliver_sm of %d", got, n)
		}
	}
}

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
