package inbox

import (
	"errors"
	"fmt"
)

// Code names a refusal. The workspace-facing codes are the ones the HTTP API
// returns in its error bodies.
type Code string

// Refusal codes.
const (
	CodeSMSAddonRequired  Code = "sms_addon_required"
	CodeNoNumberConnected Code = "no_number_connected"
	CodeNumberDisabled    Code = "number_disabled"
	CodeRecipientOptedOut Code = "recipient_opted_out"
	CodeInvalidRecipient  Code = "invalid_recipient"
	CodeMessageTooLong    Code = "message_too_long"
	CodeNotFound          Code = "not_found"
	CodeInvalidArgument   Code = "invalid_argument"
	CodeInvalidCursor     Code = "invalid_cursor"
	CodeUnauthorized      Code = "unauthorized"
	CodeNumberExists      Code = "number_exists"
	CodeNumberRetired     Code = "number_retired"
	CodeNumberDedicated   Code = "number_already_dedicated"
	CodeNumberInUse       Code = "number_in_use"
	CodeLeaseLost         Code = "lease_lost"
	CodeRequestClosed     Code = "number_request_closed"
	CodeRequestLimit      Code = "number_request_limit"
	CodeUnknownNumber     Code = "unknown_number"
	CodeNoProbeNumber     Code = "no_probe_number"
	CodeOwnerSuperseded   Code = "owner_superseded"
	CodeNotCancelable     Code = "message_not_cancelable"
	CodeQuotaExceeded     Code = "quota_exceeded"
)

// Error is a refusal with a code. Compare with errors.Is against the Err*
// values (which match on Code, whatever the message) or read the code with
// ErrorCode.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return "inbox: " + e.Message }

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The refusals, one per code.
var (
	ErrSMSAddonRequired  = &Error{CodeSMSAddonRequired, "sms add-on required"}
	ErrNoNumberConnected = &Error{CodeNoNumberConnected, "no number connected"}
	ErrNumberDisabled    = &Error{CodeNumberDisabled, "number disabled"}
	ErrRecipientOptedOut = &Error{CodeRecipientOptedOut, "recipient opted out"}
	ErrInvalidRecipient  = &Error{CodeInvalidRecipient, "recipient is not a valid E.164 number"}
	ErrMessageTooLong    = &Error{CodeMessageTooLong, "message longer than 10 segments"}
	ErrNotFound          = &Error{CodeNotFound, "not found"}
	ErrInvalidArgument   = &Error{CodeInvalidArgument, "invalid argument"}
	ErrInvalidCursor     = &Error{CodeInvalidCursor, "invalid cursor"}
	ErrUnauthorized      = &Error{CodeUnauthorized, "unauthorized"}
	ErrNumberExists      = &Error{CodeNumberExists, "number already exists"}
	ErrNumberRetired     = &Error{CodeNumberRetired, "number retired"}
	ErrNumberDedicated   = &Error{CodeNumberDedicated, "number already dedicated"}
	ErrNumberInUse       = &Error{CodeNumberInUse, "number connected by other workspaces"}
	ErrLeaseLost         = &Error{CodeLeaseLost, "message not leased by this owner"}
	ErrRequestClosed     = &Error{CodeRequestClosed, "number request no longer open"}
	ErrRequestLimit      = &Error{CodeRequestLimit, "too many open number requests"}
	ErrUnknownNumber     = &Error{CodeUnknownNumber, "no active number with this E.164"}
	ErrNoProbeNumber     = &Error{CodeNoProbeNumber, "no number to send the self-test from"}
	// ErrOwnerSuperseded says another owner has registered the same
	// instance since (see Store.Heartbeat): this process is the previous
	// life of its instance (it was paused for long and a restarted process
	// took over), or two running processes share an instance id. Its
	// claims were released; it must stop dispatching.
	ErrOwnerSuperseded = &Error{CodeOwnerSuperseded, "instance taken over by another owner"}
	// ErrNotCancelable says a message can no longer be canceled: it is
	// being submitted, was submitted, or is final.
	ErrNotCancelable = &Error{CodeNotCancelable, "message already submitted or final"}
	// ErrQuotaExceeded says a message would take its workspace past a
	// segment cap; Enqueue returns it as a *QuotaExceededError, which says
	// which cap and when it resets.
	ErrQuotaExceeded = &Error{CodeQuotaExceeded, "segment quota exceeded"}
)

var errByCode = map[Code]*Error{}

func init() {
	for _, e := range []*Error{ErrSMSAddonRequired, ErrNoNumberConnected, ErrNumberDisabled,
		ErrRecipientOptedOut, ErrInvalidRecipient, ErrMessageTooLong, ErrNotFound,
		ErrInvalidArgument, ErrInvalidCursor, ErrUnauthorized, ErrNumberExists,
		ErrNumberRetired, ErrNumberDedicated, ErrNumberInUse, ErrLeaseLost, ErrRequestClosed,
		ErrRequestLimit, ErrUnknownNumber, ErrNoProbeNumber, ErrOwnerSuperseded, ErrNotCancelable, ErrQuotaExceeded} {
		errByCode[e.Code] = e
	}
}

// ErrorCode returns the code of the first *Error in err's chain, or "" when
// there is none (a database or context error).
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// refusal returns the error for a code produced by SQL; "" is no error.
func refusal(code string) error {
	if code == "" {
		return nil
	}
	if e, ok := errByCode[Code(code)]; ok {
		return e
	}
	return fmt.Errorf("inbox: unknown refusal %q", code)
}

// invalid returns ErrInvalidArgument with a detail.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}
