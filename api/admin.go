package api

import (
	"net/http"
	"reflect"
	"strings"

	"github.com/switchboard-sms/switchboard/inbox"
)

type createWorkspaceRequest struct {
	Name     string `json:"name"`
	SMSAddon bool   `json:"sms_addon"`
}

// createWorkspace: POST /admin/v1/workspaces. The answer holds the
// workspace's API token, shown this once.
func (c *call) createWorkspace() error {
	var req createWorkspaceRequest
	if err := c.decodeBody(&req, false); err != nil {
		return err
	}
	if strings.TrimSpace(req.Name) == "" {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "name is required")
	}
	w, token, err := c.s.store.CreateWorkspace(c.ctx, req.Name, req.SMSAddon)
	if err != nil {
		return err
	}
	v := workspaceOf(&w)
	v.Token = token
	c.w.Header().Set("Location", "/admin/v1/workspaces/"+v.ID)
	return c.json(http.StatusCreated, v)
}

// getWorkspace: GET /admin/v1/workspaces/{id}.
func (c *call) getWorkspace() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	w, err := c.s.store.GetWorkspace(c.ctx, inbox.WorkspaceID(id))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, workspaceOf(&w))
}

type patchWorkspaceRequest struct {
	SMSAddon *bool `json:"sms_addon"`
}

// patchWorkspace: PATCH /admin/v1/workspaces/{id} switches the add-on.
func (c *call) patchWorkspace() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	var req patchWorkspaceRequest
	if err := c.decodeBody(&req, false); err != nil {
		return err
	}
	ws := inbox.WorkspaceID(id)
	if req.SMSAddon != nil {
		if err := c.s.store.SetSMSAddon(c.ctx, ws, *req.SMSAddon); err != nil {
			return err
		}
	}
	w, err := c.s.store.GetWorkspace(c.ctx, ws)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, workspaceOf(&w))
}

type addNumberRequest struct {
	Number    string  `json:"number"`
	Kind      string  `json:"kind"`
	Workspace idParam `json:"workspace"`
	Carrier   string  `json:"carrier"`
	Class     string  `json:"class"`
}

// addNumber: POST /admin/v1/numbers adds a shared number to the pool or a
// dedicated one to a workspace.
func (c *call) addNumber() error {
	var req addNumberRequest
	if err := c.decodeBody(&req, false); err != nil {
		return err
	}
	kind := inbox.NumberKind(req.Kind)
	switch {
	case req.Number == "" || req.Carrier == "" || req.Kind == "":
		return errorf(http.StatusBadRequest, codeInvalidRequest, "number, kind and carrier are required")
	case kind != inbox.Shared && kind != inbox.Dedicated:
		return errorf(http.StatusBadRequest, codeInvalidRequest, "kind must be shared or dedicated")
	case kind == inbox.Dedicated && req.Workspace == 0:
		return errorf(http.StatusBadRequest, codeInvalidRequest, "a dedicated number needs a workspace")
	case kind == inbox.Shared && req.Workspace != 0:
		return errorf(http.StatusBadRequest, codeInvalidRequest, "a shared number has no workspace")
	}
	if _, ok := inbox.NormalizeE164(req.Number); !ok {
		return errorf(http.StatusUnprocessableEntity, codeInvalidNumber, "number is not a valid E.164 number")
	}
	if c.s.carriers != nil && !c.s.carriers[req.Carrier] {
		return errorf(http.StatusUnprocessableEntity, codeUnknownCarrier, "carrier %q is not configured", req.Carrier)
	}
	if req.Class != "" && c.s.classes != nil && !c.s.classes[req.Class] {
		return errorf(http.StatusUnprocessableEntity, codeUnknownRateClass, "rate class %q is not configured", req.Class)
	}
	n, err := c.s.store.AddNumber(c.ctx, inbox.NewNumber{E164: req.Number, Kind: kind, RateClass: req.Class,
		Carrier: req.Carrier, Owner: inbox.WorkspaceID(req.Workspace)})
	if err != nil {
		if inbox.ErrorCode(err) == inbox.CodeNotFound {
			return errorf(http.StatusNotFound, codeNotFound, "no such workspace")
		}
		return err
	}
	return c.json(http.StatusCreated, adminNumberOf(&n))
}

// listBinds: GET /admin/v1/binds, what the engine's Binds reports.
func (c *call) listBinds() error {
	var binds any = []any{}
	if c.s.cfg.Binds != nil {
		b := c.s.cfg.Binds()
		if v := reflect.ValueOf(b); b != nil && !((v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.IsNil()) {
			binds = b
		}
	}
	return c.json(http.StatusOK, struct {
		Binds any `json:"binds"`
	}{binds})
}

// listUnrouted: GET /admin/v1/unrouted, inbound messages no workspace
// could claim, newest first.
func (c *call) listUnrouted() error {
	p, err := c.page()
	if err != nil {
		return err
	}
	list, next, err := c.s.store.ListUnrouted(c.ctx, p)
	if err != nil {
		return err
	}
	out := struct {
		Messages   []unroutedView `json:"messages"`
		NextCursor *string        `json:"next_cursor"`
	}{Messages: make([]unroutedView, len(list)), NextCursor: cursorOrNull(next)}
	for i, u := range list {
		out.Messages[i] = unroutedView{ID: idString(int64(u.ID)), Carrier: u.Carrier, From: u.From, To: u.To,
			Text: u.Body, Encoding: encodingName(u.Encoding), Segments: u.Segments, Reason: u.Reason,
			ReceivedAt: u.ReceivedAt.UTC()}
	}
	return c.json(http.StatusOK, out)
}
