package smpptest_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
)

// TestMain fails the run when goroutines of package smpptest outlive the
// tests (every Server is closed by then).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked := leakedGoroutines()
			if len(leaked) == 0 {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "smpptest: %d goroutines leaked:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
				code = 1
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of goroutines running code of package
// smpptest (the test package's own frames are "smpptest_test.").
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
		if strings.Contains(g, "/smpp/smpptest.") {
			out = append(out, g)
		}
	}
	return out
}

const ioTimeout = 5 * time.Second

// client is a raw ESME written with the smpp codec, driven step by step by
// a test. The PDU read returns is valid until the next read.
type client struct {
	t   testing.TB
	nc  net.Conn
	rd  *smpp.Reader
	dec smpp.Decoder
	seq uint32
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return newClient(t, nc)
}

func newClient(t testing.TB, nc net.Conn) *client {
	return &client{t: t, nc: nc, rd: smpp.NewReader(nc, 0)}
}

// send writes a request with the next sequence number and returns it.
func (c *client) send(p smpp.PDU) uint32 {
	c.t.Helper()
	c.seq++
	c.write(p, smpp.StatusOK, c.seq)
	return c.seq
}

func (c *client) write(p smpp.PDU, st smpp.Status, seq uint32) {
	c.t.Helper()
	b, err := smpp.AppendPDU(nil, p, st, seq)
	if err != nil {
		c.t.Fatal(err)
	}
	c.raw(b)
}

func (c *client) raw(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
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

// read returns the next PDU, failing the test when none comes.
func (c *client) read() (smpp.Header, smpp.PDU) {
	c.t.Helper()
	h, p, err := c.readWithin(ioTimeout)
	if err != nil {
		c.t.Fatalf("read: %v (header %+v)", err, h)
	}
	return h, p
}

// expect reads the next PDU and checks its command_id, status and sequence.
func (c *client) expect(id smpp.CommandID, st smpp.Status, seq uint32) smpp.PDU {
	c.t.Helper()
	h, p := c.read()
	if h.ID != id || h.Status != st || h.Sequence != seq {
		c.t.Fatalf("got %v status %v seq %d, want %v status %v seq %d", h.ID, h.Status, h.Sequence, id, st, seq)
	}
	return p
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
	// A timed-out Reader may hold part of a PDU; later reads go on from it.
}

// expectEOF checks that the server closes the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	h, _, err := c.readWithin(ioTimeout)
	if err == nil {
		c.t.Fatalf("got %v, want the connection closed", h.ID)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("connection still open")
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
		c.t.Fatalf("want EOF, got %v", err)
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
		r := p.(*smpp.BindResp)
		if string(r.SystemID) == "" {
			c.t.Fatal("bind response without system_id")
		}
		if v, ok := r.TLVs.SCInterfaceVersion(); !ok || v != smpp.InterfaceVersion34 {
			c.t.Fatalf("sc_interface_version %v %v", v, ok)
		}
	} else if h.Length != smpp.HeaderLen {
		c.t.Fatalf("refused bind response has a body (%d octets)", h.Length)
	}
	return h.Status
}

func (c *client) mustBind(typ smpp.BindType, systemID, password string) {
	c.t.Helper()
	if st := c.bind(typ, systemID, password); st != smpp.StatusOK {
		c.t.Fatalf("bind %q: %v", systemID, st)
	}
}

func submitSM(dest string, registeredDelivery uint8) *smpp.SubmitSM {
	return &smpp.SubmitSM{
		Source:             smpp.Address{TON: smpp.TONAlphanumeric, Addr: []byte("MyBrand")},
		Dest:               smpp.Address{TON: smpp.TONInternational, NPI: smpp.NPIE164, Addr: []byte(dest)},
		RegisteredDelivery: registeredDelivery,
		ShortMessage:       []byte("Hello from the test, a text longer than twenty"),
	}
}

// submitResp reads a submit_sm_resp and returns its status and message_id.
func (c *client) submitResp(seq uint32) (smpp.Status, string) {
	c.t.Helper()
	h, p := c.read()
	if h.ID != smpp.SubmitSMRespID || h.Sequence != seq {
		c.t.Fatalf("got %v seq %d, want submit_sm_resp seq %d", h.ID, h.Sequence, seq)
	}
	if h.Status != smpp.StatusOK && h.Length != smpp.HeaderLen {
		c.t.Fatalf("error response with a body")
	}
	return h.Status, string(p.(*smpp.SubmitSMResp).MessageID)
}
