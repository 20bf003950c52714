package smpptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
)

// IOTimeout bounds each read and write of a Client.
const IOTimeout = 5 * time.Second

// Client is a raw ESME written with the smpp codec and driven step by step
// by a test of a fake SMSC, for checks of order, content and timing on the
// wire. Every failure stops the test (t.Fatal). Send, Write, Raw and Ack
// may be called from two goroutines at once (a reader acknowledging
// deliver_sm while another sends); reads must come from one. The PDU a
// read returns is valid until the next read.
type Client struct {
	T   testing.TB
	NC  net.Conn
	RD  *smpp.Reader
	Seq uint32 // the last sequence number Send used

	dec smpp.Decoder
	wmu sync.Mutex
}

// Dial connects a Client to addr; the connection closes when the test
// ends.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, IOTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return NewClient(t, nc)
}

// NewClient returns a Client on an open connection (TLS, for instance).
func NewClient(t testing.TB, nc net.Conn) *Client {
	return &Client{T: t, NC: nc, RD: smpp.NewReader(nc, 0)}
}

// Send writes a request with the next sequence number and returns it.
func (c *Client) Send(p smpp.PDU) uint32 {
	c.T.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.Seq++
	c.write(p, smpp.StatusOK, c.Seq)
	return c.Seq
}

// Write writes p with a status and sequence number of the caller's.
func (c *Client) Write(p smpp.PDU, st smpp.Status, seq uint32) {
	c.T.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.write(p, st, seq)
}

func (c *Client) write(p smpp.PDU, st smpp.Status, seq uint32) {
	c.T.Helper()
	b, err := smpp.AppendPDU(nil, p, st, seq)
	if err != nil {
		c.T.Fatal(err)
	}
	c.raw(b)
}

// Raw writes b as it is.
func (c *Client) Raw(b []byte) {
	c.T.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.raw(b)
}

func (c *Client) raw(b []byte) {
	c.T.Helper()
	_ = c.NC.SetWriteDeadline(time.Now().Add(IOTimeout))
	if _, err := c.NC.Write(b); err != nil {
		c.T.Fatal(err)
	}
}

// Ack answers the deliver_sm with sequence number seq.
func (c *Client) Ack(seq uint32, st smpp.Status) {
	c.T.Helper()
	c.Write(&smpp.DeliverSMResp{}, st, seq)
}

// ReadWithin returns the next PDU, decoded (nil with a decoding error),
// or the error of a read that failed or took longer than d. A timed-out
// read may leave part of a PDU buffered; later reads go on from it.
func (c *Client) ReadWithin(d time.Duration) (smpp.Header, smpp.PDU, error) {
	_ = c.NC.SetReadDeadline(time.Now().Add(d))
	h, body, err := c.RD.Next()
	if err != nil {
		return h, nil, err
	}
	p, err := c.dec.Decode(h, body)
	return h, p, err
}

// Read returns the next PDU, failing the test when none comes within
// IOTimeout or it does not decode.
func (c *Client) Read() (smpp.Header, smpp.PDU) {
	c.T.Helper()
	h, p, err := c.ReadWithin(IOTimeout)
	if err != nil {
		c.T.Fatalf("read: %v (header %+v)", err, h)
	}
	return h, p
}

// Expect reads the next PDU and checks its command_id, status and sequence
// number.
func (c *Client) Expect(id smpp.CommandID, st smpp.Status, seq uint32) smpp.PDU {
	c.T.Helper()
	h, p := c.Read()
	if h.ID != id || h.Status != st || h.Sequence != seq {
		c.T.Fatalf("got %v status %v seq %d, want %v status %v seq %d", h.ID, h.Status, h.Sequence, id, st, seq)
	}
	return p
}

// ExpectNothing checks that no PDU arrives within d.
func (c *Client) ExpectNothing(d time.Duration) {
	c.T.Helper()
	h, _, err := c.ReadWithin(d)
	var ne net.Error
	if err == nil {
		c.T.Fatalf("got %v status %v seq %d, want nothing", h.ID, h.Status, h.Sequence)
	}
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.T.Fatalf("want nothing, got error %v", err)
	}
}

// ExpectEOF checks that the SMSC closes the connection within IOTimeout;
// PDUs with a command_id in skip may come first (answers sent before the
// close), any other fails the test.
func (c *Client) ExpectEOF(skip ...smpp.CommandID) {
	c.T.Helper()
	for {
		h, _, err := c.ReadWithin(IOTimeout)
		if err == nil {
			if contains(skip, h.ID) {
				continue
			}
			c.T.Fatalf("got %v, want the connection closed", h.ID)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.T.Fatal("connection still open")
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
			c.T.Fatalf("want EOF, got %v", err)
		}
		return
	}
}

func contains(ids []smpp.CommandID, id smpp.CommandID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// Bind binds and returns the response's status. An accepted bind's
// response must carry a system_id and sc_interface_version 3.4, a refused
// one no body.
func (c *Client) Bind(typ smpp.BindType, systemID, password string) smpp.Status {
	c.T.Helper()
	b := &smpp.Bind{Type: typ, SystemID: []byte(systemID), Password: []byte(password), InterfaceVersion: smpp.InterfaceVersion34}
	seq := c.Send(b)
	h, p := c.Read()
	if h.ID != b.CommandID().Response() || h.Sequence != seq {
		c.T.Fatalf("bind: got %v seq %d", h.ID, h.Sequence)
	}
	if h.Status == smpp.StatusOK {
		r := p.(*smpp.BindResp)
		if len(r.SystemID) == 0 {
			c.T.Fatal("bind response without system_id")
		}
		if v, ok := r.TLVs.SCInterfaceVersion(); !ok || v != smpp.InterfaceVersion34 {
			c.T.Fatalf("sc_interface_version %v %v", v, ok)
		}
	} else if h.Length != smpp.HeaderLen {
		c.T.Fatalf("refused bind response has a body (%d octets)", h.Length)
	}
	return h.Status
}

// MustBind binds or fails the test.
func (c *Client) MustBind(typ smpp.BindType, systemID, password string) {
	c.T.Helper()
	if st := c.Bind(typ, systemID, password); st != smpp.StatusOK {
		c.T.Fatalf("bind %q: %v", systemID, st)
	}
}

// SubmitResp reads a submit_sm_resp to the request with sequence number
// seq and returns its status and message_id ("" for an error, which must
// have no body).
func (c *Client) SubmitResp(seq uint32) (smpp.Status, string) {
	c.T.Helper()
	h, p := c.Read()
	if h.ID != smpp.SubmitSMRespID || h.Sequence != seq {
		c.T.Fatalf("got %v seq %d, want submit_sm_resp seq %d", h.ID, h.Sequence, seq)
	}
	if h.Status != smpp.StatusOK {
		if h.Length != smpp.HeaderLen {
			c.T.Fatalf("error response with a body")
		}
		return h.Status, ""
	}
	return h.Status, string(p.(*smpp.SubmitSMResp).MessageID)
}

// Pipeline sends n copies of the encoded submit_sm tmpl through nc, with
// sequence numbers 1, 2, …, keeping at most window unanswered and writing
// every free slot in one Write, and reads the answers with rd on a second
// goroutine; with receipts > 0 it also expects that many deliver_sm and
// acknowledges them (deliver_sm_resp, written in batches). It fails on any
// answer but submit_sm_resp ESME_ROK and those deliver_sm. It allocates
// nothing per message, so that benchmarks measure the SMSC.
func Pipeline(nc net.Conn, rd *smpp.Reader, tmpl []byte, n, window, receipts int) error {
	_ = nc.SetDeadline(time.Time{})
	var (
		acked atomic.Int64
		wmu   sync.Mutex // serialises the two goroutines' writes
	)
	wake := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		var got, rcpts int64
		var acks []byte
		for got < int64(n) || rcpts < int64(receipts) {
			h, _, err := rd.Next()
			if err != nil {
				errc <- err
				return
			}
			switch {
			case h.ID == smpp.DeliverSMID && receipts > 0:
				rcpts++
				acks = smpp.AppendHeader(acks, smpp.Header{Length: smpp.HeaderLen + 1, ID: smpp.DeliverSMRespID, Sequence: h.Sequence})
				acks = append(acks, 0) // empty message_id
			case h.ID == smpp.SubmitSMRespID && h.Status == smpp.StatusOK:
				got++
			default:
				errc <- fmt.Errorf("got %v status %v seq %d", h.ID, h.Status, h.Sequence)
				return
			}
			if rd.Buffered() == 0 || got == int64(n) {
				if len(acks) > 0 {
					wmu.Lock()
					_, err := nc.Write(acks)
					wmu.Unlock()
					if err != nil {
						errc <- err
						return
					}
					acks = acks[:0]
				}
				acked.Store(got)
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		errc <- nil
	}()
	buf := make([]byte, 0, window*len(tmpl))
	sent, seq := 0, uint32(0)
	for sent < n {
		free := window - (sent - int(acked.Load()))
		if free <= 0 {
			select {
			case <-wake:
			case err := <-errc:
				if err == nil {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			continue
		}
		free = min(free, n-sent)
		buf = buf[:0]
		for range free {
			seq++
			buf = append(buf, tmpl...)
			binary.BigEndian.PutUint32(buf[len(buf)-len(tmpl)+12:], seq)
		}
		wmu.Lock()
		_, err := nc.Write(buf)
		wmu.Unlock()
		if err != nil {
			return err
		}
		sent += free
	}
	return <-errc
}

// MeasurePipeline is a benchmark's body: Pipeline of b.N copies of tmpl on
// c (bound), window 100, with a receipt per message when receipts is set,
// timed. It reports allocations, msgs/s and, when cpu is not nil, how much
// cpu() grew per message, as metric.
func MeasurePipeline(b *testing.B, c *Client, tmpl []byte, receipts bool, cpu func() int64, metric string) {
	b.Helper()
	n := 0
	if receipts {
		n = b.N
	}
	b.ReportAllocs()
	var cpu0 int64
	if cpu != nil {
		cpu0 = cpu()
	}
	b.ResetTimer()
	start := time.Now()
	if err := Pipeline(c.NC, c.RD, tmpl, b.N, 100, n); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	if cpu != nil {
		b.ReportMetric(float64(cpu()-cpu0)/float64(b.N), metric)
	}
}

// MallocsPer runs run(warm) (to grow buffers and maps), then run(n), and
// returns the heap allocations of the whole process during the second run,
// per unit of n. It counts every allocation of the process: not for
// parallel tests.
func MallocsPer(n, warm int, run func(n int)) float64 {
	run(warm)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	run(n)
	runtime.ReadMemStats(&m1)
	return float64(m1.Mallocs-m0.Mallocs) / float64(n)
}
