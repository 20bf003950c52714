package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// Number self-test (POST /admin/v1/numbers/{number}/self-test): "replies
// do not show up". The inbox queues a probe message from one of our
// numbers to the number under test, in the system workspace, with a random
// token in its text; the dispatcher of any engine process sends it. When
// the carrier delivers it back to one of our binds as a mobile-originated
// message (any process's), the inbound path records it on the self-test
// instead of filing it. The request waits, reading the self-test at each
// wake-up of the event hub (LISTEN/NOTIFY, so a return on another process
// is seen at once) and at least twice a second, until the probe came back,
// failed, or the timeout passed.

// Self-test results.
const (
	selfTestReturned   = "returned"    // the probe came back as a mobile-originated message
	selfTestTimedOut   = "timed_out"   // it did not within the timeout
	selfTestSendFailed = "send_failed" // the carrier refused it (or it expired): nothing learnt
)

const selfTestPoll = 500 * time.Millisecond

type selfTestBody struct {
	From      string `json:"from"`
	TimeoutMS int64  `json:"timeout_ms"`
}

type probeView struct {
	MessageID    string     `json:"message_id"`
	Status       string     `json:"status"`
	SubmittedAt  *time.Time `json:"submitted_at"`
	CarrierError int        `json:"carrier_error,omitempty"`
}

type returnedView struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Carrier string `json:"carrier"`
}

type selfTestView struct {
	ID              string        `json:"id"`
	Number          string        `json:"number"`
	From            string        `json:"from"`
	Carrier         string        `json:"carrier"`
	Result          string        `json:"result"`
	TimeoutMS       int64         `json:"timeout_ms"`
	Probe           probeView     `json:"probe"`
	ReturnedAt      *time.Time    `json:"returned_at"`
	LatencyMS       *int64        `json:"latency_ms"`
	ReturnedAs      *returnedView `json:"returned_as"`
	NumberKnown     bool          `json:"number_known"`
	NumberWorkspace *string       `json:"number_workspace"`
	Hint            string        `json:"hint"`
}

// selfTest: POST /admin/v1/numbers/{number}/self-test.
func (c *call) selfTest() error {
	number := c.r.PathValue("number")
	if number != "" && number[0] != '+' {
		number = "+" + number // the + is optional in the path
	}
	number, ok := inbox.NormalizeE164(number)
	if !ok {
		return errorf(http.StatusUnprocessableEntity, codeInvalidNumber, "the number in the path is not a valid E.164 number (write + as %%2B or leave it out)")
	}
	var body selfTestBody
	if err := c.decodeBody(&body, true); err != nil {
		return err
	}
	timeout := c.s.cfg.SelfTestTimeout
	if body.TimeoutMS != 0 {
		timeout = time.Duration(body.TimeoutMS) * time.Millisecond
		if timeout < 100*time.Millisecond || timeout > MaxSelfTestTimeout {
			return errorf(http.StatusBadRequest, codeInvalidRequest, "timeout_ms must be 100 to %d", MaxSelfTestTimeout.Milliseconds())
		}
	}
	if body.From != "" {
		if _, ok := inbox.NormalizeE164(body.From); !ok {
			return errorf(http.StatusUnprocessableEntity, codeInvalidNumber, "from is not a valid E.164 number")
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.RequestTimeout)
	st, err := c.s.store.StartSelfTest(ctx, inbox.NewSelfTest{Number: number, From: body.From})
	cancel()
	if err != nil {
		return err
	}
	if c.s.cfg.Kick != nil {
		c.s.cfg.Kick()
	}
	c.s.notify()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for done := false; !done && !selfTestSettled(&st); {
		wake := c.s.changed()
		select {
		case <-wake:
		case <-time.After(selfTestPoll):
		case <-deadline.C:
			done = true
		case <-c.ctx.Done():
			return nil // the operator went away
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.RequestTimeout)
		st, err = c.s.store.GetSelfTest(ctx, st.ID)
		cancel()
		if err != nil {
			return err
		}
	}
	return c.json(http.StatusOK, selfTestOf(&st, timeout))
}

// selfTestSettled reports whether the answer is known: the probe came back
// and its submit is recorded (the carrier's loopback can beat the record
// of the submit_sm_resp by a few milliseconds: the answer then waits for
// it, within the timeout), or the probe can no longer go out.
func selfTestSettled(st *inbox.SelfTest) bool {
	return (!st.Returned.IsZero() && !st.Probe.SubmittedAt.IsZero()) || probeFailed(st)
}

// probeFailed reports whether the probe can no longer go out.
func probeFailed(st *inbox.SelfTest) bool {
	switch st.Probe.Status {
	case inbox.StatusFailed, inbox.StatusRejected, inbox.StatusExpired:
		return st.Probe.SubmittedAt.IsZero()
	}
	return false
}

func selfTestOf(st *inbox.SelfTest, timeout time.Duration) selfTestView {
	p := &st.Probe
	v := selfTestView{
		ID: idString(int64(st.ID)), Number: st.Number, From: st.From, Carrier: st.Carrier, TimeoutMS: timeout.Milliseconds(),
		Probe: probeView{MessageID: idString(int64(p.ID)), Status: string(p.Status), SubmittedAt: utc(p.SubmittedAt),
			CarrierError: p.CarrierError},
		NumberKnown: st.NumberKnown,
	}
	if st.NumberWorkspace != 0 {
		v.NumberWorkspace = orNull(idString(int64(st.NumberWorkspace)))
	}
	switch {
	case !st.Returned.IsZero():
		v.Result = selfTestReturned
		v.ReturnedAt = utc(st.Returned)
		lat := st.Returned.Sub(st.CreatedAt).Milliseconds()
		v.LatencyMS = &lat
		v.ReturnedAs = &returnedView{From: st.ReturnedFrom, To: st.ReturnedTo, Carrier: st.ReturnedCarrier}
		if st.NumberKnown {
			v.Hint = "The carrier routes this number's inbound traffic to Switchboard's binds: replies to it reach us."
		} else {
			v.Hint = "The carrier routes this number's inbound traffic to Switchboard's binds, but Switchboard does not have the " +
				"number: replies to it are kept as unrouted. Add it (POST /admin/v1/numbers), then assign its unrouted messages."
		}
	case probeFailed(st):
		v.Result = selfTestSendFailed
		v.Hint = fmt.Sprintf("The probe could not be sent (%s, carrier error 0x%08X): the test says nothing about inbound "+
			"routing; fix sending from %s first.", p.Status, p.CarrierError, st.From)
	default:
		v.Result = selfTestTimedOut
		if !p.SubmittedAt.IsZero() {
			v.Hint = fmt.Sprintf("The carrier accepted the probe but did not deliver it back to Switchboard's binds within %s: "+
				"it does not route this number's inbound traffic to us, so replies to it never arrive. Ask carrier %q to route "+
				"inbound messages for %s to this account.", timeout, st.Carrier, st.Number)
		} else {
			v.Hint = fmt.Sprintf("The probe was not submitted within %s (status %s: no bind up, or %s's rate): the test says "+
				"nothing about inbound routing yet; retry with a longer timeout.", timeout, p.Status, st.From)
		}
	}
	return v
}
