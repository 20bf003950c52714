package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/switchboard-sms/switchboard/inbox"
)

// Error codes of the API's error bodies ({"error": {"code", "message"}}).
// The inbox's refusal codes pass through unchanged, except
// invalid_argument, which is invalid_request here.
const (
	codeInvalidRequest       = "invalid_request"          // 400: malformed or incomplete request
	codeInvalidCursor        = "invalid_cursor"           // 400: a cursor this list did not hand out
	codeNumberRequired       = "number_required"          // 400: several numbers connected; name one
	codeUnauthorized         = "unauthorized"             // 401
	codeSMSAddonRequired     = "sms_addon_required"       // 402
	codeForbidden            = "forbidden"                // 403: the token lacks the route's scope (missing_scope)
	codeNotFound             = "not_found"                // 404: also another workspace's objects
	codeMethodNotAllowed     = "method_not_allowed"       // 405
	codeNoNumberConnected    = "no_number_connected"      // 409
	codeNumberDisabled       = "number_disabled"          // 409
	codeRecipientOptedOut    = "recipient_opted_out"      // 409
	codeClientRefConflict    = "client_ref_conflict"      // 409: client_ref reused with another to/text/from
	codeNumberExists         = "number_exists"            // 409
	codeNumberRetired        = "number_retired"           // 409
	codeNumberDedicated      = "number_already_dedicated" // 409
	codeNumberInUse          = "number_in_use"            // 409
	codeRequestClosed        = "number_request_closed"    // 409: the request is no longer open
	codeRequestLimit         = "number_request_limit"     // 409: too many open requests
	codeUnknownNumber        = "unknown_number"           // 409: Switchboard has no such active number
	codeNoProbeNumber        = "no_probe_number"          // 409: no number to send a self-test from
	codeNotCancelable        = "message_not_cancelable"   // 409: the message went out (or is going) or is final
	codePayloadTooLarge      = "payload_too_large"        // 413
	codeUnsupportedMediaType = "unsupported_media_type"   // 415
	codeInvalidRecipient     = "invalid_recipient"        // 422
	codeMessageTooLong       = "message_too_long"         // 422
	codeInvalidText          = "invalid_text"             // 422: not valid UTF-8 / not encodable
	codeInvalidNumber        = "invalid_number"           // 422: not a valid E.164 number (numbers)
	codeUnknownCarrier       = "unknown_carrier"          // 422
	codeUnknownRateClass     = "unknown_rate_class"       // 422
	codeWebhookTarget        = "webhook_target_refused"   // 422: the URL's address is loopback, private or reserved
	codeWebhookDisabled      = "webhook_disabled"         // 409: the endpoint is disabled
	codeInternal             = "internal"                 // 500
	codeUnavailable          = "unavailable"              // 503: the database cannot be reached; retry
	codeRateLimited          = "rate_limited"             // 429: over the workspace's requests or messages per second
	// codeQuotaExceeded (429, quota.go): a segment cap would be crossed.
)

// apiError is an answer other than success.
type apiError struct {
	status  int
	code    string
	message string
	scope   inbox.Scope     // the missing scope of a 403
	quota   *quotaErrorView // the cap of a 429 quota_exceeded
	// retryAfter is the Retry-After of a 429 (whole seconds, at least 1).
	retryAfter time.Duration
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

var (
	errUnauthorized = errorf(http.StatusUnauthorized, codeUnauthorized, "missing or invalid bearer token")
	errNotFound     = errorf(http.StatusNotFound, codeNotFound, "not found")
)

// errForbidden answers a token that lacks the scope a route needs.
func errForbidden(sc inbox.Scope) *apiError {
	e := errorf(http.StatusForbidden, codeForbidden, "this token lacks the %q scope this request needs", sc)
	e.scope = sc
	return e
}

// inboxStatus maps the inbox's refusal codes to HTTP statuses.
var inboxStatus = map[inbox.Code]int{
	inbox.CodeSMSAddonRequired:  http.StatusPaymentRequired,
	inbox.CodeNoNumberConnected: http.StatusConflict,
	inbox.CodeNumberDisabled:    http.StatusConflict,
	inbox.CodeRecipientOptedOut: http.StatusConflict,
	inbox.CodeInvalidRecipient:  http.StatusUnprocessableEntity,
	inbox.CodeMessageTooLong:    http.StatusUnprocessableEntity,
	inbox.CodeNotFound:          http.StatusNotFound,
	inbox.CodeInvalidArgument:   http.StatusBadRequest,
	inbox.CodeInvalidCursor:     http.StatusBadRequest,
	inbox.CodeUnauthorized:      http.StatusUnauthorized,
	inbox.CodeNumberExists:      http.StatusConflict,
	inbox.CodeNumberRetired:     http.StatusConflict,
	inbox.CodeNumberDedicated:   http.StatusConflict,
	inbox.CodeNumberInUse:       http.StatusConflict,
	inbox.CodeRequestClosed:     http.StatusConflict,
	inbox.CodeRequestLimit:      http.StatusConflict,
	inbox.CodeUnknownNumber:     http.StatusConflict,
	inbox.CodeNoProbeNumber:     http.StatusConflict,
	inbox.CodeNotCancelable:     http.StatusConflict,
	inbox.CodeQuotaExceeded:     http.StatusTooManyRequests,
}

// inboxMessage is the message of each refusal in the API's words.
var inboxMessage = map[inbox.Code]string{
	inbox.CodeSMSAddonRequired:  "the workspace needs the SMS add-on to use SMS",
	inbox.CodeNoNumberConnected: "no number is connected: connect one with PUT /v1/sms/number",
	inbox.CodeNumberDisabled:    "the number is disabled: enable it with POST /v1/sms/number/enable",
	inbox.CodeRecipientOptedOut: "the recipient opted out (STOP) of this workspace's messages and must send START first",
	inbox.CodeInvalidRecipient:  "to is not a valid E.164 number (+ and country code)",
	inbox.CodeMessageTooLong:    "the text needs more than 10 segments",
	inbox.CodeNotFound:          "not found",
	inbox.CodeUnauthorized:      "missing or invalid bearer token",
	inbox.CodeInvalidCursor:     "invalid cursor",
	inbox.CodeNumberExists:      "an active number with this E.164 already exists",
	inbox.CodeNumberRetired:     "the number is retired",
	inbox.CodeNumberDedicated:   "the number is already dedicated",
	inbox.CodeNumberInUse:       "the number is connected by other workspaces",
	inbox.CodeRequestClosed:     "the number request is no longer open",
	inbox.CodeRequestLimit:      fmt.Sprintf("a workspace may have at most %d open number requests", inbox.MaxOpenRequests),
	inbox.CodeUnknownNumber:     "Switchboard has no active number with this E.164",
	inbox.CodeNoProbeNumber:     "there is no number to send the self-test from: add a shared number or name one in from",
	inbox.CodeNotCancelable:     "the message is being sent, was sent or is final: only a scheduled or queued message can be canceled",
	inbox.CodeQuotaExceeded:     "the workspace's segment cap would be crossed",
}

// toAPIError classifies an error: a refusal keeps its code; a database
// that cannot be reached (connection refused or lost, pool closed, server
// shutting down or out of connections, timeout) is 503 so a load balancer
// retries elsewhere; anything else is 500.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var qe *inbox.QuotaExceededError
	if errors.As(err, &qe) {
		return quotaExceeded(qe)
	}
	if code := inbox.ErrorCode(err); code != "" {
		st, ok := inboxStatus[code]
		if !ok {
			return errorf(http.StatusInternalServerError, codeInternal, "internal error")
		}
		apiCode := string(code)
		if code == inbox.CodeInvalidArgument {
			apiCode = codeInvalidRequest
		}
		msg := inboxMessage[code]
		if msg == "" {
			msg = err.Error()
		}
		return &apiError{status: st, code: apiCode, message: msg}
	}
	if unavailable(err) {
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the database is unavailable; retry later")
	}
	return errorf(http.StatusInternalServerError, codeInternal, "internal error")
}

// unavailable reports whether err says the database cannot serve now.
func unavailable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		if len(pg.Code) == 5 {
			switch pg.Code[:2] {
			case "08", // connection exception
				"53", // insufficient resources (too many connections, disk full)
				"57", // operator intervention (shutdown, cannot connect now)
				"58": // system error
				return true
			}
		}
		switch pg.Code {
		case "40001", "40P01", // still failing after the store's retries
			"55P03", "25006": // lock not available; read-only (a standby after failover)
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, puddle.ErrClosedPool) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	MissingScope string `json:"missing_scope,omitempty"`
	// Quota names the cap of a quota_exceeded error.
	Quota *quotaErrorView `json:"quota,omitempty"`
}

// detail is the error object of e's answer.
func (e *apiError) detail() errorDetail {
	return errorDetail{Code: e.code, Message: e.message, MissingScope: string(e.scope), Quota: e.quota}
}

// fail writes the error answer for err (unless the client is gone) and
// returns the error it answered with.
func (c *call) fail(err error) error {
	if c.r.Context().Err() != nil && !errors.As(err, new(*apiError)) {
		// The client went away: nobody to answer.
		return err
	}
	ae := toAPIError(err)
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	switch ae.status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="switchboard"`)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	case http.StatusTooManyRequests:
		h.Set("Retry-After", strconv.Itoa(ceilSeconds(max(ae.retryAfter, time.Second))))
	}
	if c.w.status != 0 {
		return err // an answer was already started (an event stream)
	}
	b, _ := json.Marshal(errorBody{ae.detail()})
	c.w.WriteHeader(ae.status)
	c.w.Write(append(b, '\n'))
	if ae.status >= 500 {
		return fmt.Errorf("%s: %w", ae.code, err)
	}
	return ae
}
