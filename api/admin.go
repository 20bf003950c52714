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
	v := c.s.workspaceOf(&w)
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
	return c.json(http.StatusOK, c.s.workspaceOf(&w))
}

type patchWorkspaceRequest struct {
	SMSAddon      *bool            `json:"sms_addon"`
	SmartEncoding *bool            `json:"smart_encoding"`
	RateLimits    *rateLimitsPatch `json:"rate_limits"`
	TimeZone      *string          `json:"time_zone"`
	// DailySegmentCap and MonthlySegmentCap: a number sets the cap, null
	// removes it, absent leaves it (quota.go).
	DailySegmentCap   optCap `json:"daily_segment_cap"`
	MonthlySegmentCap optCap `json:"monthly_segment_cap"`
}

// patchWorkspace: PATCH /admin/v1/workspaces/{id} switches the add-on and
// the smart encoding default, sets the workspace's own rate limits, and
// its time zone and segment caps. Each field is its own change: a refused
// one leaves those before it done.
func (c *call) patchWorkspace() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	var req patchWorkspaceRequest
	if err := c.decodeBody(&req, false); err != nil {
		return err
	}
	qp, quota, err := quotaPatch(req.TimeZone, req.DailySegmentCap, req.MonthlySegmentCap)
	if err != nil {
		return err
	}
	ws := inbox.WorkspaceID(id)
	if req.RateLimits != nil {
		w, err := c.s.store.GetWorkspace(c.ctx, ws)
		if err != nil {
			return err
		}
		own, err := req.RateLimits.apply(w.RateLimits)
		if err != nil {
			return err
		}
		if err := c.s.store.SetRateLimits(c.ctx, ws, own); err != nil {
			return err
		}
		c.s.forgetSettings(ws)
	}
	if req.SMSAddon != nil {
		if err := c.s.store.SetSMSAddon(c.ctx, ws, *req.SMSAddon); err != nil {
			return err
		}
	}
	if req.SmartEncoding != nil {
		if err := c.s.store.SetSmartEncoding(c.ctx, ws, *req.SmartEncoding); err != nil {
			return err
		}
		c.s.forgetSettings(ws)
	}
	if quota {
		if err := c.s.store.SetQuota(c.ctx, ws, qp); err != nil {
			return err
		}
		c.s.notify() // a cap under what is used writes its quota.threshold events
	}
	w, err := c.s.store.GetWorkspace(c.ctx, ws)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, c.s.workspaceOf(&w))
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
	cat := c.s.catalog.Load()
	if cat.carriers != nil && !cat.carriers[req.Carrier] {
		return errorf(http.StatusUnprocessableEntity, codeUnknownCarrier, "carrier %q is not configured", req.Carrier)
	}
	if req.Class != "" && cat.classes != nil && !cat.classes[req.Class] {
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
	var version any
	if c.s.cfg.ConfigVersion != nil {
		version = c.s.cfg.ConfigVersion()
	}
	return c.json(http.StatusOK, struct {
		Binds  any `json:"binds"`
		Config any `json:"config,omitempty"`
	}{binds, version})
}

// listAllNumbers: GET /admin/v1/numbers, every number in the order it was
// added, with the workspaces that have it connected.
func (c *call) listAllNumbers() error {
	p, err := c.page()
	if err != nil {
		return err
	}
	var status inbox.NumberStatus
	switch q := c.r.URL.Query().Get("status"); q {
	case "", "all":
	case string(inbox.NumberActive), string(inbox.NumberRetired):
		status = inbox.NumberStatus(q)
	default:
		return errorf(http.StatusBadRequest, codeInvalidRequest, "status must be active, retired or all")
	}
	list, next, err := c.s.store.AllNumbers(c.ctx, status, p)
	if err != nil {
		return err
	}
	out := struct {
		Numbers    []adminNumberView `json:"numbers"`
		NextCursor *string           `json:"next_cursor"`
	}{Numbers: make([]adminNumberView, len(list)), NextCursor: cursorOrNull(next)}
	for i := range list {
		v := adminNumberOf(&list[i].Number)
		v.ConnectedBy = make([]useView, len(list[i].Uses))
		for j, u := range list[i].Uses {
			v.ConnectedBy[j] = useView{Workspace: idString(int64(u.Workspace)), State: string(u.State), ConnectedAt: u.ConnectedAt.UTC()}
		}
		out.Numbers[i] = v
	}
	return c.json(http.StatusOK, out)
}
