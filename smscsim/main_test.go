package smscsim_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// TestMain doubles as the simulator process of the benchmarks (see
// bench_test.go) and fails the run when goroutines of package smscsim
// outlive the tests (every Sim is closed by then).
func TestMain(m *testing.M) {
	if os.Getenv("SMSCSIM_CHILD") != "" {
		childSim()
		os.Exit(0)
	}
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked := leakedGoroutines()
			if len(leaked) == 0 {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "smscsim: %d goroutines leaked:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
				code = 1
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of goroutines running code of package
// smscsim (the test package's own frames are "smscsim_test.").
func leakedGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "/smscsim.") {
			out = append(out, g)
		}
	}
	return out
}

const ioTimeout = 5 * time.Second

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

// client is a raw ESME on the smpp codec, driven step by step by a test,
// for checks of order and timing on the wire. The PDU read returns is
// valid until the next read.
type client struct {
	t   testing.TB
	nc  net.Conn
	rd  *smpp.Reader
	dec smpp.Decoder
	seq uint32
	wmu sync.Mutex
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &client{t: t, nc: nc, rd: smpp.NewReader(nc, 0)}
}

// send writes a request with the next sequence number and returns it.
func (c *client) send(p smpp.PDU) uint32 {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.seq++
	b, err := smpp.AppendPDU(nil, p, smpp.StatusOK, c.seq)
	if err != nil {
		c.t.Fatal(err)
	}
	c.raw(b)
	return c.seq
}

func (c *client) raw(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// ack answers a deliver_sm.
func (c *client) ack(seq uint32, st smpp.Status) {
	c.t.Helper()
	b, _ := smpp.AppendPDU(nil, &smpp.DeliverSMResp{}, st, seq)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.raw(b)
}

func (c *client) readWithin(d time.Duration) (smpp.Header, smpp.PDU, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	h, body, err := c.rd.Next()
	if err != nil {
		return h, nil, err
	}
	p, err := c.dec.Decode(h, body)
	return h, p, err
}

func (c *client) read() (smpp.Header, smpp.PDU) {
	c.t.Helper()
	h, p, err := c.readWithin(ioTimeout)
	if err != nil {
		c.t.Fatalf("read: %v (header %+v)", err, h)
	}
	return h, p
}

// expectNothing checks that no PDU arrives within d.
func (c *client) expectNothing(d time.Duration) {
	c.t.Helper()
	h, _, err := c.readWithin(d)
	var ne net.Error
	if err == nil {
		c.t.Fatalf("got %v status %v seq %d, want nothing", h.ID, h.Status, h.Sequence)
	}
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("want nothing, got error %v", err)
	}
}

// expectEOF checks that the simulator closes the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	for {
		h, _, err := c.readWithin(ioTimeout)
		if err == nil {
			if h.ID == smpp.SubmitSMRespID || h.ID == smpp.DeliverSMID {
				continue // answers sent before the close
			}
			c.t.Fatalf("got %v, want the connection closed", h.ID)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatal("connection still open")
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
			c.t.Fatalf("want EOF, got %v", err)
		}
		return
	}
}

// bind binds and returns the response status.
func (c *client) bind(typ smpp.BindType, systemID, password string) smpp.Status {
	c.t.Helper()
	b := &smpp.Bind{Type: typ, SystemID: []byte(systemID), Password: []byte(password), InterfaceVersion: smpp.InterfaceVersion34}
	seq := c.send(b)
	h, p := c.read()
	if h.ID != b.CommandID().Response() || h.Sequence != seq {
		c.t.Fatalf("bind: got %v seq %d", h.ID, h.Sequence)
	}
	if h.Status == smpp.StatusOK {
		if r := p.(*smpp.BindResp); len(r.SystemID) == 0 {
			c.t.Fatalf("bind response system_id %q", r.SystemID)
		}
	} else if h.Length != smpp.HeaderLen {
		c.t.Fatalf("refused bind response has a body (%d octets)", h.Length)
	}
	return h.Status
}

func (c *client) mustBind(typ smpp.BindType) *client {
	c.t.Helper()
	if st := c.bind(typ, "acme", "secret"); st != smpp.StatusOK {
		c.t.Fatalf("bind: %v", st)
	}
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

// submitResp reads a submit_sm_resp and returns its status and message_id.
func (c *client) submitResp(seq uint32) (smpp.Status, string) {
	c.t.Helper()
	h, p := c.read()
	if h.ID != smpp.SubmitSMRespID || h.Sequence != seq {
		c.t.Fatalf("got %v seq %d, want submit_sm_resp seq %d", h.ID, h.Sequence, seq)
	}
	if h.Status != smpp.StatusOK {
		if h.Length != smpp.HeaderLen {
			c.t.Fatalf("error response with a body")
		}
		return h.Status, ""
	}
	return h.Status, string(p.(*smpp.SubmitSMResp).MessageID)
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
	c.t.Helper()
	var out []event
	deadline := time.Now().Add(timeout)
	resps, dels := 0, 0
	for resps < n || dels < m {
		h, p, err := c.readWithin(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("after %d responses and %d deliver_sm of %d and %d: %v", resps, dels, n, m, err)
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
			c.ack(h.Sequence, ack)
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
