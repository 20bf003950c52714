package smpp

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns starts with "smpp: ".
var (
	// ErrClosed: the bind was closed by Close; nothing more is sent on it.
	ErrClosed = errors.New("smpp: bind closed")
	// ErrNotBound: the bind has no bound connection right now (it is
	// connecting or reconnecting). The request was never written: retry it.
	ErrNotBound = errors.New("smpp: not bound")
	// ErrResponseTimeout: the request was written but no response came within
	// the response timeout; the peer may or may not have acted on it.
	ErrResponseTimeout = errors.New("smpp: response timeout")
	// ErrUnbound: the peer unbound or the link was lost.
	ErrUnbound = errors.New("smpp: peer unbound")

	errShortHeader = errors.New("smpp: short PDU header")
)

// StatusError is a peer's answer with a non-zero command_status: the
// carrier's word on a request. Test for it with errors.As.
type StatusError struct {
	Command CommandID // the request's command, e.g. SubmitSMID
	Status  Status
}

func (e *StatusError) Error() string {
	d := e.Status.Description()
	if d == "" {
		return fmt.Sprintf("smpp: %v answered %v", e.Command, e.Status)
	}
	return fmt.Sprintf("smpp: %v answered %v (%s)", e.Command, e.Status, d)
}

// Retryable reports whether the status is temporary (see Status.Temporary).
func (e *StatusError) Retryable() bool { return e.Status.Temporary() }

// UnknownOutcomeError says a request was written to a connection that was then
// lost, or timed out, before its response came: the peer may have acted on
// it. It is retryable, but a retry may duplicate the request at the peer.
// Requests that were never written fail with ErrNotBound instead.
type UnknownOutcomeError struct {
	Command CommandID
	Err     error // why: ErrResponseTimeout, ErrUnbound or the connection's error
}

func (e *UnknownOutcomeError) Error() string {
	return fmt.Sprintf("smpp: %v outcome unknown: %v", e.Command, e.Err)
}
func (e *UnknownOutcomeError) Unwrap() error   { return e.Err }
func (e *UnknownOutcomeError) Retryable() bool { return true }

// PDULengthError reports a command_length below 16 or above the reader's
// maximum. The stream cannot be trusted after it: answer generic_nack with
// ESME_RINVCMDLEN and close the connection.
type PDULengthError struct {
	Length uint32
	Max    uint32 // 0 when the length was too short
}

func (e *PDULengthError) Error() string {
	if e.Length < HeaderLen {
		return fmt.Sprintf("smpp: command_length %d is shorter than the 16-octet header", e.Length)
	}
	return fmt.Sprintf("smpp: command_length %d exceeds the maximum of %d", e.Length, e.Max)
}

// DecodeError reports a PDU body that does not follow SMPP 3.4. The framing
// was fine, so the stream is still in sync: answer the request with Status
// (or generic_nack for a response) and carry on.
type DecodeError struct {
	Command CommandID
	Field   string // the SMPP field name, e.g. "source_addr"
	Reason  string
	Status  Status // the status to answer the PDU with
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("smpp: %v: %s: %s", e.Command, e.Field, e.Reason)
}

// UnknownCommandError reports a command_id SMPP 3.4 does not define; answer it
// with generic_nack ESME_RINVCMDID and keep the bind.
type UnknownCommandError struct{ ID CommandID }

func (e *UnknownCommandError) Error() string {
	return fmt.Sprintf("smpp: unknown %v", e.ID)
}

// EncodeError reports a PDU that cannot be written as it is (a field longer
// than SMPP allows, a short_message over 254 octets, ...). Nothing was sent.
type EncodeError struct {
	Command CommandID
	Field   string
	Reason  string
}

func (e *EncodeError) Error() string {
	return fmt.Sprintf("smpp: encode %v: %s: %s", e.Command, e.Field, e.Reason)
}

// Retryable reports whether err says the request may succeed if sent again:
// a temporary command_status, an unknown outcome (lost link, timeout), or a
// request that was never written because the bind was down.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotBound) {
		return true
	}
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && r.Retryable()
}

// OutcomeUnknown reports whether the request behind err may have reached the
// peer although no answer came (see UnknownOutcomeError).
func OutcomeUnknown(err error) bool {
	var u *UnknownOutcomeError
	return errors.As(err, &u)
}

// StatusOf returns the peer's command_status carried by err, if any.
func StatusOf(err error) (Status, bool) {
	var s *StatusError
	if errors.As(err, &s) {
		return s.Status, true
	}
	return 0, false
}
