package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// The workspace's SMS settings: whether it has the add-on, and its
// numbers. The workspace-facing state of a connection is connected,
// disabled, or disconnected (for GET /v1/sms) / available (for a number
// listed by GET /v1/sms/numbers that the workspace has not connected).
// GET /v1/sms also reports, per connected number, how its sending goes
// (late.go).

const stateDisconnected = "disconnected"

type smsView struct {
	Addon bool `json:"addon"`
	// SmartEncoding is the workspace's smart encoding default, which
	// messages that do not say follow.
	SmartEncoding bool         `json:"smart_encoding"`
	Number        *string      `json:"number"`
	State         string       `json:"state"`
	Numbers       []numberView `json:"numbers"`
	// Quota is the workspace's segment caps and what the current day and
	// month have used of them (quota.go).
	Quota *quotaView `json:"quota"`
}

// getSMS: GET /v1/sms.
func (c *call) getSMS() error {
	w, err := c.s.store.GetWorkspace(c.ctx, c.ws)
	if err != nil {
		return err
	}
	nums, err := c.s.store.ListNumbers(c.ctx, c.ws)
	if err != nil {
		return err
	}
	q, err := c.s.store.Quota(c.ctx, c.ws)
	if err != nil {
		return err
	}
	v := smsView{Addon: w.SMSAddon, SmartEncoding: w.SmartEncoding, State: stateDisconnected, Numbers: []numberView{},
		Quota: quotaOf(&q)}
	var conn []*inbox.WorkspaceNumber
	for i := range nums {
		n := &nums[i]
		switch n.State {
		case inbox.Connected:
			v.State = string(inbox.Connected)
		case inbox.Disabled:
			if v.State == stateDisconnected {
				v.State = string(inbox.Disabled)
			}
		default:
			continue
		}
		conn = append(conn, n)
	}
	if len(conn) > 0 {
		ids := make([]inbox.NumberID, len(conn))
		for i, n := range conn {
			ids[i] = n.ID
		}
		stats, err := c.s.store.SendingStats(c.ctx, c.ws, ids, waitWindow, throttleCodes)
		if err != nil {
			return err
		}
		recent, err := c.s.store.RecentSending(c.ctx, c.ws, ids, recentWindow, lateAfter)
		if err != nil {
			return err
		}
		now, cat := time.Now(), c.s.catalog.Load()
		for i, n := range conn {
			nv := numberOf(n)
			var up *bool
			if c.s.cfg.BindsUp != nil {
				b := c.s.cfg.BindsUp(n.Carrier)
				up = &b
			}
			sv := sendingOf(lateFacts{class: n.RateClass, rate: cat.rates[n.RateClass],
				dedicatedRate: cat.rates[c.s.cfg.DedicatedClass], carrierRate: cat.carrierRates[n.Carrier],
				disabled: n.State == inbox.Disabled, bindsUp: up, now: now, window: recentWindow,
				st: stats[i], rec: recent[i]})
			nv.Sending = &sv
			v.Numbers = append(v.Numbers, nv)
		}
	}
	if len(v.Numbers) == 1 {
		v.Number = &v.Numbers[0].Number
	}
	return c.json(http.StatusOK, v)
}

// listNumbers: GET /v1/sms/numbers.
func (c *call) listNumbers() error {
	nums, err := c.s.store.ListNumbers(c.ctx, c.ws)
	if err != nil {
		return err
	}
	out := struct {
		Numbers []numberView `json:"numbers"`
	}{Numbers: make([]numberView, len(nums))}
	for i := range nums {
		out.Numbers[i] = numberOf(&nums[i])
	}
	return c.json(http.StatusOK, out)
}

type numberBody struct {
	Number string `json:"number"`
}

// connectNumber: PUT /v1/sms/number connects a number (or switches to
// another shared one).
func (c *call) connectNumber() error {
	var body numberBody
	if err := c.decodeBody(&body, false); err != nil {
		return err
	}
	if strings.TrimSpace(body.Number) == "" {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "number is required")
	}
	n, err := c.findNumber(body.Number)
	if err != nil {
		return err
	}
	wn, err := c.s.store.ConnectNumber(c.ctx, c.ws, n.ID)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, numberOf(&wn))
}

// findNumber returns the number, as the workspace sees it, with this
// E.164; numbers the workspace may not use are not found.
func (c *call) findNumber(e164 string) (inbox.WorkspaceNumber, error) {
	want, ok := inbox.NormalizeE164(e164)
	if !ok {
		return inbox.WorkspaceNumber{}, errorf(http.StatusUnprocessableEntity, codeInvalidNumber,
			"number is not a valid E.164 number")
	}
	n, err := c.s.store.FindNumber(c.ctx, c.ws, want)
	if errors.Is(err, inbox.ErrNotFound) {
		return inbox.WorkspaceNumber{}, errorf(http.StatusNotFound, codeNotFound, "no such number")
	}
	return n, err
}

// connectedNumber picks the number a disable, enable or disconnect acts
// on: the one named in the body or ?number=, else the workspace's only
// connected number.
func (c *call) connectedNumber() (inbox.WorkspaceNumber, error) {
	var body numberBody
	if err := c.decodeBody(&body, true); err != nil {
		return inbox.WorkspaceNumber{}, err
	}
	q := c.r.URL.Query().Get("number")
	named := strings.TrimSpace(body.Number)
	if q != "" {
		if named != "" && normalizedOr(named) != normalizedOr(q) {
			return inbox.WorkspaceNumber{}, errorf(http.StatusBadRequest, codeInvalidRequest,
				"the body and ?number= name different numbers")
		}
		named = q
	}
	if named != "" {
		n, err := c.findNumber(named)
		if err == nil && n.State == inbox.Available {
			err = inbox.ErrNoNumberConnected
		}
		return n, err
	}
	nums, err := c.s.store.ListNumbers(c.ctx, c.ws)
	if err != nil {
		return inbox.WorkspaceNumber{}, err
	}
	var conn []inbox.WorkspaceNumber
	for _, n := range nums {
		if n.State != inbox.Available {
			conn = append(conn, n)
		}
	}
	switch len(conn) {
	case 0:
		return inbox.WorkspaceNumber{}, inbox.ErrNoNumberConnected
	case 1:
		return conn[0], nil
	}
	return inbox.WorkspaceNumber{}, errorf(http.StatusBadRequest, codeNumberRequired,
		"%d numbers are connected: name one with {\"number\": \"+E164\"} or ?number=", len(conn))
}

// disableNumber: POST /v1/sms/number/disable.
func (c *call) disableNumber() error {
	n, err := c.connectedNumber()
	if err != nil {
		return err
	}
	if err := c.s.store.DisableNumber(c.ctx, c.ws, n.ID); err != nil {
		return err
	}
	n.State = inbox.Disabled
	return c.json(http.StatusOK, numberOf(&n))
}

// enableNumber: POST /v1/sms/number/enable.
func (c *call) enableNumber() error {
	n, err := c.connectedNumber()
	if err != nil {
		return err
	}
	if err := c.s.store.EnableNumber(c.ctx, c.ws, n.ID); err != nil {
		return err
	}
	n.State = inbox.Connected
	return c.json(http.StatusOK, numberOf(&n))
}

// disconnectNumber: DELETE /v1/sms/number.
func (c *call) disconnectNumber() error {
	n, err := c.connectedNumber()
	if err != nil {
		return err
	}
	if err := c.s.store.DisconnectNumber(c.ctx, c.ws, n.ID); err != nil {
		return err
	}
	return c.noContent()
}
