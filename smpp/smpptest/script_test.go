package smpptest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

func TestScript(t *testing.T) {
	t.Parallel()
	addr := smpptest.RunScript(t,
		smpptest.ExpectPDU(smpp.BindTransceiverID, func(h smpp.Header, p smpp.PDU) error {
			if b := p.(*smpp.Bind); string(b.SystemID) != "acme" || string(b.Password) != "pw" {
				return fmt.Errorf("bind as %q/%q", b.SystemID, b.Password)
			}
			return nil
		}),
		smpptest.Send(&smpp.BindResp{Type: smpp.BindTransceiver, SystemID: []byte("script")}, smpp.StatusOK, smpptest.LastSeq),
		smpptest.Expect(smpp.SubmitSMID),
		smpptest.Send(&smpp.SubmitSMResp{}, smpp.StatusTHROTTLED, smpptest.LastSeq),
		// Byte-level: an enquire_link with sequence 0x01020304, then a
		// generic_nack with sequence 0 as a carrier would send it.
		smpptest.SendRaw([]byte{
			0x00, 0x00, 0x00, 0x10, // command_length 16
			0x00, 0x00, 0x00, 0x15, // enquire_link
			0x00, 0x00, 0x00, 0x00, // command_status
			0x01, 0x02, 0x03, 0x04, // sequence_number
		}),
		smpptest.Expect(smpp.EnquireLinkRespID),
		smpptest.Send(&smpp.GenericNack{}, smpp.StatusINVCMDLEN, 0),
		smpptest.Close(),
	)
	c := dial(t, addr)
	c.Write(&smpp.Bind{Type: smpp.BindTransceiver, SystemID: []byte("acme"), Password: []byte("pw")}, 0, 1)
	h, p := c.Read()
	if h.ID != smpp.BindTransceiverRespID || h.Sequence != 1 || string(p.(*smpp.BindResp).SystemID) != "script" {
		t.Fatalf("bind resp %+v", h)
	}
	c.Write(submitSM("447700900001", 0), 0, 2)
	c.Expect(smpp.SubmitSMRespID, smpp.StatusTHROTTLED, 2)
	c.Expect(smpp.EnquireLinkID, smpp.StatusOK, 0x01020304)
	c.Write(&smpp.EnquireLinkResp{}, 0, 0x01020304)
	c.Expect(smpp.GenericNackID, smpp.StatusINVCMDLEN, 0)
	c.ExpectEOF()
}

// recordingTB captures what RunScript reports, so its failures can be
// tested; cleanups run when the test calls finish.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *recordingTB) finish() []string {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs
}

func TestScriptReportsWrongPDU(t *testing.T) {
	t.Parallel()
	rec := &recordingTB{TB: t}
	addr := smpptest.RunScript(rec, smpptest.Expect(smpp.BindTransmitterID), smpptest.Send(&smpp.BindResp{}, 0, smpptest.LastSeq))
	c := dial(t, addr)
	c.Send(&smpp.EnquireLink{})
	c.ExpectEOF() // the script stops at its failing step and the test ends it
	errs := rec.finish()
	if len(errs) != 1 || !strings.Contains(errs[0], "step 1, Expect(bind_transmitter): got enquire_link") {
		t.Fatalf("reported %q", errs)
	}
}

func TestScriptReportsUnfinished(t *testing.T) {
	t.Parallel()
	rec := &recordingTB{TB: t}
	addr := smpptest.RunScript(rec,
		smpptest.Expect(smpp.EnquireLinkID),
		smpptest.Send(&smpp.EnquireLinkResp{}, 0, smpptest.LastSeq),
		smpptest.Expect(smpp.UnbindID))
	c := dial(t, addr)
	c.Expect(smpp.EnquireLinkRespID, 0, c.Send(&smpp.EnquireLink{}))
	errs := rec.finish()
	if len(errs) != 1 || !strings.Contains(errs[0], "stopped at step 3, Expect(unbind): the test ended first") {
		t.Fatalf("reported %q", errs)
	}
	rec2 := &recordingTB{TB: t}
	smpptest.RunScript(rec2, smpptest.Expect(smpp.EnquireLinkID))
	if errs := rec2.finish(); len(errs) != 1 || !strings.Contains(errs[0], "no connection") {
		t.Fatalf("reported %q", errs)
	}
}
