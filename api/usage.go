package api

import (
	"encoding/csv"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// Usage (issue 16 §4): messages and segments per period, number, direction
// and status, from the rollups the inbox keeps as messages change. Days
// are UTC days. JSON by default; CSV when the caller accepts text/csv (and
// not JSON before it). The rollups are brought up to date every few
// seconds (inbox.Store.FoldUsage, run by the engine): the answer says as of
// when, in as_of and in the Usage-As-Of header (RFC 3339).

const dateLayout = "2006-01-02"

type usageRowView struct {
	Workspace *string `json:"workspace,omitempty"` // the operator's view only
	Period    string  `json:"period"`              // YYYY-MM-DD, the first day of the day or month
	Number    string  `json:"number"`
	Direction string  `json:"direction"`
	Status    string  `json:"status"`
	Messages  int64   `json:"messages"`
	Segments  int64   `json:"segments"`
}

type usageView struct {
	From        string         `json:"from"`
	To          string         `json:"to"`
	Granularity string         `json:"granularity"`
	TimeZone    string         `json:"time_zone"`
	AsOf        string         `json:"as_of"` // RFC 3339: the rollups hold the changes committed before then
	Rows        []usageRowView `json:"rows"`
	// Quota is the workspace's segment quota now (GET /v1/usage; null in
	// the operator's view across workspaces).
	Quota *quotaView `json:"quota"`
}

// usageQuery reads ?from=&to=&granularity= (and the operator's
// ?workspace=). Defaults: granularity day; to today (UTC); from 29 days
// before to (day) or the first day of the 11th month before to's (month).
func (c *call) usageQuery() (inbox.UsageQuery, error) {
	q := c.r.URL.Query()
	uq := inbox.UsageQuery{Workspace: c.ws, Granularity: inbox.Daily}
	if g := q.Get("granularity"); g != "" {
		if g != string(inbox.Daily) && g != string(inbox.Monthly) {
			return uq, errorf(http.StatusBadRequest, codeInvalidRequest, "granularity must be day or month")
		}
		uq.Granularity = inbox.Granularity(g)
	}
	date := func(name string) (time.Time, bool, error) {
		s := q.Get(name)
		if s == "" {
			return time.Time{}, false, nil
		}
		t, err := time.Parse(dateLayout, s)
		if err != nil || t.Year() < 1970 {
			return t, false, errorf(http.StatusBadRequest, codeInvalidRequest, "%s must be a date from 1970-01-01 on, YYYY-MM-DD", name)
		}
		return t, true, nil
	}
	to, ok, err := date("to")
	if err != nil {
		return uq, err
	}
	if !ok {
		to = time.Now().UTC()
	}
	from, ok, err := date("from")
	if err != nil {
		return uq, err
	}
	if !ok {
		if uq.Granularity == inbox.Daily {
			from = to.AddDate(0, 0, -29)
		} else {
			from = time.Date(to.Year(), to.Month()-11, 1, 0, 0, 0, 0, time.UTC)
		}
	}
	uq.From, uq.To = from, to
	if c.route.access == operator {
		uq.Workspace = 0
		if w := q.Get("workspace"); w != "" {
			id, err := strconv.ParseInt(w, 10, 64)
			if err != nil || id <= 0 {
				return uq, errorf(http.StatusBadRequest, codeInvalidRequest, "workspace must be a workspace id")
			}
			uq.Workspace = inbox.WorkspaceID(id)
		}
	}
	return uq, nil
}

// getUsage: GET /v1/usage and GET /admin/v1/usage.
func (c *call) getUsage() error {
	q, err := c.usageQuery()
	if err != nil {
		return err
	}
	// The time first: the rows read after it are at least as fresh.
	asOf, err := c.s.store.UsageAsOf(c.ctx)
	if err != nil {
		return err
	}
	rows, err := c.s.store.Usage(c.ctx, q)
	if err != nil {
		return err
	}
	v := usageView{From: q.From.Format(dateLayout), To: q.To.Format(dateLayout), Granularity: string(q.Granularity),
		TimeZone: "UTC", AsOf: asOf.UTC().Format(time.RFC3339), Rows: make([]usageRowView, len(rows))}
	c.w.Header().Set("Usage-As-Of", v.AsOf)
	admin := c.route.access == operator
	if !admin {
		q, err := c.s.store.Quota(c.ctx, c.ws)
		if err != nil {
			return err
		}
		v.Quota = quotaOf(&q)
	}
	for i, r := range rows {
		v.Rows[i] = usageRowView{Period: r.Period.Format(dateLayout), Number: r.Number, Direction: string(r.Direction),
			Status: r.Status, Messages: r.Messages, Segments: r.Segments}
		if admin {
			id := idString(int64(r.Workspace))
			v.Rows[i].Workspace = &id
		}
	}
	if wantsCSV(c.r) {
		return c.usageCSV(&v, admin)
	}
	return c.json(http.StatusOK, v)
}

// usageCSV writes the rows as RFC 4180 CSV with a header line.
func (c *call) usageCSV(v *usageView, admin bool) error {
	h := c.w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="usage-`+v.From+`-`+v.To+`.csv"`)
	c.w.WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.w)
	head := []string{"period", "number", "direction", "status", "messages", "segments"}
	if admin {
		head = append([]string{"workspace"}, head...)
	}
	w.Write(head)
	for _, r := range v.Rows {
		rec := []string{r.Period, r.Number, r.Direction, r.Status,
			strconv.FormatInt(r.Messages, 10), strconv.FormatInt(r.Segments, 10)}
		if admin {
			rec = append([]string{*r.Workspace}, rec...)
		}
		w.Write(rec)
	}
	w.Flush()
	return nil // the status is written: a late write error has nobody to tell
}

// wantsCSV reports whether the Accept header prefers text/csv to JSON:
// text/csv is listed with a quality above 0, and above any JSON type's.
func wantsCSV(r *http.Request) bool {
	csvQ, jsonQ := -1.0, -1.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "text/csv":
			csvQ = max(csvQ, q)
		case "application/json":
			jsonQ = max(jsonQ, q)
		}
	}
	return csvQ > 0 && csvQ > jsonQ
}
