package smpptest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
)

// LastSeq, as Send's sequence number, means the sequence number of the PDU
// the last Expect step read: the usual choice for a response.
const LastSeq = ^uint32(0)

// StepTimeout bounds how long an Expect step waits for its PDU.
const StepTimeout = 10 * time.Second

// Step is one step of a script run by RunScript.
type Step struct {
	name string
	run  func(sc *script) error
}

func (s Step) String() string { return s.name }

type script struct {
	nc      net.Conn
	rd      *smpp.Reader
	dec     smpp.Decoder
	lastSeq uint32
}

// Expect reads the next PDU and fails the test unless its command_id is id.
func Expect(id smpp.CommandID) Step {
	return ExpectPDU(id, nil)
}

// ExpectPDU reads the next PDU, fails the test unless its command_id is id,
// and then unless check (when not nil) returns nil. p is the decoded PDU,
// valid only during the call (nil for an unknown command_id).
func ExpectPDU(id smpp.CommandID, check func(h smpp.Header, p smpp.PDU) error) Step {
	return Step{name: "Expect(" + id.String() + ")", run: func(sc *script) error {
		_ = sc.nc.SetReadDeadline(time.Now().Add(StepTimeout))
		h, body, err := sc.rd.Next()
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		sc.lastSeq = h.Sequence
		if h.ID != id {
			return fmt.Errorf("got %v (status %v, sequence %d)", h.ID, h.Status, h.Sequence)
		}
		if check == nil {
			return nil
		}
		p, err := sc.dec.Decode(h, body)
		var uc *smpp.UnknownCommandError
		if err != nil && !errors.As(err, &uc) {
			return fmt.Errorf("decode: %w", err)
		}
		return check(h, p)
	}}
}

// ExpectClose waits until the peer closes the connection, failing the test
// if a PDU arrives first.
func ExpectClose() Step {
	return Step{name: "ExpectClose", run: func(sc *script) error {
		_ = sc.nc.SetReadDeadline(time.Now().Add(StepTimeout))
		h, _, err := sc.rd.Next()
		switch {
		case err == nil:
			return fmt.Errorf("got %v (sequence %d)", h.ID, h.Sequence)
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			return nil
		case isReset(err):
			return nil
		}
		return err
	}}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// Send encodes p with the status and sequence number (LastSeq: the last
// Expect'ed PDU's) and writes it. p is encoded when the step runs.
func Send(p smpp.PDU, status smpp.Status, seq uint32) Step {
	return Step{name: "Send(" + p.CommandID().String() + ")", run: func(sc *script) error {
		if seq == LastSeq {
			seq = sc.lastSeq
		}
		b, err := smpp.AppendPDU(nil, p, status, seq)
		if err != nil {
			return err
		}
		_, err = sc.nc.Write(b)
		return err
	}}
}

// SendRaw writes b as it is.
func SendRaw(b []byte) Step {
	return Step{name: fmt.Sprintf("SendRaw(%d octets)", len(b)), run: func(sc *script) error {
		_, err := sc.nc.Write(b)
		return err
	}}
}

// Sleep pauses the script.
func Sleep(d time.Duration) Step {
	return Step{name: "Sleep(" + d.String() + ")", run: func(*script) error {
		time.Sleep(d)
		return nil
	}}
}

// Close closes the connection (without unbind).
func Close() Step {
	return Step{name: "Close", run: func(sc *script) error { return sc.nc.Close() }}
}

// RunScript listens on 127.0.0.1, accepts one connection and runs the steps
// on it in order, reporting the first failing step with t.Errorf. It returns
// the address to dial. The connection is closed when a step fails, and when
// the test ends; a script that did not run to its end fails the test.
func RunScript(t testing.TB, steps ...Step) (addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smpptest: %v", err)
	}
	var (
		stopping atomic.Bool
		mu       sync.Mutex
		nc       net.Conn
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		c, err := ln.Accept()
		_ = ln.Close()
		if err != nil {
			if len(steps) > 0 {
				t.Errorf("smpptest: script: no connection before the test ended (%v)", err)
			}
			return
		}
		mu.Lock()
		nc = c
		if stopping.Load() {
			_ = c.Close()
		}
		mu.Unlock()
		sc := &script{nc: c, rd: smpp.NewReader(c, 0)}
		for i, st := range steps {
			if err := st.run(sc); err != nil {
				if stopping.Load() {
					t.Errorf("smpptest: script stopped at step %d, %v: the test ended first", i+1, st)
				} else {
					t.Errorf("smpptest: script step %d, %v: %v", i+1, st, err)
				}
				_ = c.Close() // the peer under test sees EOF instead of waiting
				return
			}
		}
	}()
	t.Cleanup(func() {
		stopping.Store(true)
		_ = ln.Close()
		mu.Lock()
		if nc != nil {
			_ = nc.Close()
		}
		mu.Unlock()
		<-done
	})
	return ln.Addr().String()
}
