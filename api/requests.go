package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// Custom number requests: a workspace asks for a dedicated number, an
// operator fulfils (dedicates a number to it) or declines the request, the
// workspace may cancel it while it is open. Every change is an event on
// the workspace's stream (number_request.status).

type requestView struct {
	ID            string     `json:"id"`
	Workspace     string     `json:"workspace,omitempty"` // operator views only
	Country       string     `json:"country"`
	AreaCode      *string    `json:"area_code"`
	Note          string     `json:"note"`
	Status        string     `json:"status"`
	Number        *string    `json:"number"`
	DeclineReason *string    `json:"decline_reason"`
	CreatedAt     time.Time  `json:"created_at"`
	ClosedAt      *time.Time `json:"closed_at"`
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func requestOf(q *inbox.NumberRequest) requestView {
	return requestView{
		ID: idString(int64(q.ID)), Country: q.Country, AreaCode: orNull(q.AreaCode), Note: q.Note,
		Status: string(q.Status), Number: orNull(q.Number), DeclineReason: orNull(q.DeclineReason),
		CreatedAt: q.CreatedAt.UTC(), ClosedAt: utc(q.ClosedAt),
	}
}

func adminRequestOf(q *inbox.NumberRequest) requestView {
	v := requestOf(q)
	v.Workspace = idString(int64(q.Workspace))
	return v
}

type numberRequestBody struct {
	Country  string `json:"country"`
	AreaCode string `json:"area_code"`
	Note     string `json:"note"`
}

// requestNumber: POST /v1/sms/number-requests.
func (c *call) requestNumber() error {
	var body numberRequestBody
	if err := c.decodeBody(&body, false); err != nil {
		return err
	}
	if strings.TrimSpace(body.Country) == "" {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "country is required")
	}
	q, err := c.s.store.RequestNumber(c.ctx, c.ws, inbox.NewNumberRequest{Country: body.Country, AreaCode: body.AreaCode, Note: body.Note})
	if err != nil {
		return err
	}
	c.s.notify()
	c.w.Header().Set("Location", "/v1/sms/number-requests/"+idString(int64(q.ID)))
	return c.json(http.StatusCreated, requestOf(&q))
}

// listNumberRequests: GET /v1/sms/number-requests, newest first.
func (c *call) listNumberRequests() error {
	p, err := c.page()
	if err != nil {
		return err
	}
	list, next, err := c.s.store.ListNumberRequests(c.ctx, c.ws, p)
	if err != nil {
		return err
	}
	out := struct {
		Requests   []requestView `json:"requests"`
		NextCursor *string       `json:"next_cursor"`
	}{Requests: make([]requestView, len(list)), NextCursor: cursorOrNull(next)}
	for i := range list {
		out.Requests[i] = requestOf(&list[i])
	}
	return c.json(http.StatusOK, out)
}

// getNumberRequest: GET /v1/sms/number-requests/{id}.
func (c *call) getNumberRequest() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	q, err := c.s.store.GetNumberRequest(c.ctx, c.ws, inbox.RequestID(id))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, requestOf(&q))
}

// cancelNumberRequest: POST /v1/sms/number-requests/{id}/cancel.
func (c *call) cancelNumberRequest() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	if err := c.decodeBody(&struct{}{}, true); err != nil {
		return err
	}
	q, err := c.s.store.CancelNumberRequest(c.ctx, c.ws, inbox.RequestID(id))
	if err != nil {
		return err
	}
	c.s.notify()
	return c.json(http.StatusOK, requestOf(&q))
}

// listAllNumberRequests: GET /admin/v1/number-requests[?status=], oldest
// first; open ones unless status says otherwise (all for every status).
func (c *call) listAllNumberRequests() error {
	p, err := c.page()
	if err != nil {
		return err
	}
	status := inbox.RequestOpen
	switch q := c.r.URL.Query().Get("status"); q {
	case "":
	case "all":
		status = ""
	case string(inbox.RequestOpen), string(inbox.RequestFulfilled), string(inbox.RequestDeclined), string(inbox.RequestCancelled):
		status = inbox.RequestStatus(q)
	default:
		return errorf(http.StatusBadRequest, codeInvalidRequest, "status must be open, fulfilled, declined, cancelled or all")
	}
	list, next, err := c.s.store.ListAllNumberRequests(c.ctx, status, p)
	if err != nil {
		return err
	}
	out := struct {
		Requests   []requestView `json:"requests"`
		NextCursor *string       `json:"next_cursor"`
	}{Requests: make([]requestView, len(list)), NextCursor: cursorOrNull(next)}
	for i := range list {
		out.Requests[i] = adminRequestOf(&list[i])
	}
	return c.json(http.StatusOK, out)
}

type fulfilBody struct {
	Number  string `json:"number"`
	Carrier string `json:"carrier"`
	Class   string `json:"class"`
}

// fulfilNumberRequest: POST /admin/v1/number-requests/{id}/fulfil
// dedicates a number to the requesting workspace.
func (c *call) fulfilNumberRequest() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	var body fulfilBody
	if err := c.decodeBody(&body, false); err != nil {
		return err
	}
	if strings.TrimSpace(body.Number) == "" {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "number is required")
	}
	if _, ok := inbox.NormalizeE164(body.Number); !ok {
		return errorf(http.StatusUnprocessableEntity, codeInvalidNumber, "number is not a valid E.164 number")
	}
	cat := c.s.catalog.Load()
	if body.Carrier != "" && cat.carriers != nil && !cat.carriers[body.Carrier] {
		return errorf(http.StatusUnprocessableEntity, codeUnknownCarrier, "carrier %q is not configured", body.Carrier)
	}
	if body.Class != "" && cat.classes != nil && !cat.classes[body.Class] {
		return errorf(http.StatusUnprocessableEntity, codeUnknownRateClass, "rate class %q is not configured", body.Class)
	}
	q, n, err := c.s.store.FulfilNumberRequest(c.ctx, inbox.RequestID(id),
		inbox.Fulfilment{Number: body.Number, Carrier: body.Carrier, RateClass: body.Class})
	if inbox.ErrorCode(err) == inbox.CodeUnknownNumber {
		return errorf(http.StatusConflict, codeUnknownNumber, "Switchboard does not have this number: name its carrier to add it")
	}
	if err != nil {
		return err
	}
	c.s.notify()
	return c.json(http.StatusOK, struct {
		Request requestView     `json:"request"`
		Number  adminNumberView `json:"number"`
	}{adminRequestOf(&q), adminNumberOf(&n)})
}

type declineBody struct {
	Reason string `json:"reason"`
}

// declineNumberRequest: POST /admin/v1/number-requests/{id}/decline.
func (c *call) declineNumberRequest() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	var body declineBody
	if err := c.decodeBody(&body, false); err != nil {
		return err
	}
	if strings.TrimSpace(body.Reason) == "" {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "reason is required")
	}
	q, err := c.s.store.DeclineNumberRequest(c.ctx, inbox.RequestID(id), body.Reason)
	if err != nil {
		return err
	}
	c.s.notify()
	return c.json(http.StatusOK, adminRequestOf(&q))
}

// notify wakes the event streams of every process (a request changed).
func (s *Server) notify() {
	if s.cfg.Events != nil {
		s.cfg.Events.Notify()
	}
}
