package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// Segment quotas (docs/quotas.md): the operator sets a workspace's daily
// and monthly segment caps and its time zone (PATCH
// /admin/v1/workspaces/{id}); GET /v1/sms and GET /v1/usage show them with
// what the current periods have used; a message that would cross a cap is
// 429 quota_exceeded, with the cap, what is used and when it resets (and
// Retry-After on POST /v1/messages); quota.threshold events at 80 % and
// 100 % go to the event stream and to webhooks.

const codeQuotaExceeded = "quota_exceeded" // 429: a segment cap would be crossed

// capName is a period's cap as the API names it.
var capName = map[inbox.QuotaPeriod]string{inbox.QuotaDay: "daily", inbox.QuotaMonth: "monthly"}

// quotaView is a workspace's quota: its time zone and each cap (null when
// there is none).
type quotaView struct {
	TimeZone string        `json:"time_zone"`
	Daily    *quotaUseView `json:"daily"`
	Monthly  *quotaUseView `json:"monthly"`
}

// quotaUseView is one cap and what its current period has used.
type quotaUseView struct {
	Limit     int64 `json:"limit"`
	Used      int64 `json:"used"`
	Remaining int64 `json:"remaining"`
	// PeriodStart is the period's first day in the workspace's time zone.
	PeriodStart string    `json:"period_start"`
	ResetsAt    time.Time `json:"resets_at"`
}

func quotaOf(q *inbox.QuotaStatus) *quotaView {
	use := func(u *inbox.QuotaUse) *quotaUseView {
		if u == nil {
			return nil
		}
		return &quotaUseView{Limit: u.Limit, Used: u.Used, Remaining: u.Remaining(),
			PeriodStart: u.Start.Format(dateLayout), ResetsAt: u.ResetsAt.UTC()}
	}
	return &quotaView{TimeZone: q.TimeZone, Daily: use(q.Daily), Monthly: use(q.Monthly)}
}

// quotaErrorView is the "quota" member of a quota_exceeded error.
type quotaErrorView struct {
	Cap   string `json:"cap"` // daily or monthly
	Limit int64  `json:"limit"`
	// Used is what the period had used once the request was stored.
	Used     int64     `json:"used"`
	Segments int       `json:"segments"` // the refused message's
	ResetsAt time.Time `json:"resets_at"`
}

// quotaExceeded is the answer to a message refused by a cap.
func quotaExceeded(q *inbox.QuotaExceededError) *apiError {
	e := errorf(http.StatusTooManyRequests, codeQuotaExceeded,
		"the workspace's %s cap of %d segments would be crossed (%d used, this message needs %d); it resets at %s",
		capName[q.Period], q.Limit, q.Used, q.Segments, q.ResetsAt.UTC().Format(time.RFC3339))
	e.quota = &quotaErrorView{Cap: capName[q.Period], Limit: q.Limit, Used: q.Used, Segments: q.Segments, ResetsAt: q.ResetsAt.UTC()}
	e.retryAfter = time.Until(q.ResetsAt) // Retry-After (fail): until the cap resets
	return e
}

// quotaEventView is the data of a quota.threshold event.
type quotaEventView struct {
	Cap string `json:"cap"` // daily or monthly
	// Threshold is 80 or 100 (percent of the cap): 100 also when a message
	// was refused by the cap before the count reached it.
	Threshold   int       `json:"threshold"`
	Limit       int64     `json:"limit"`
	Used        int64     `json:"used"`
	PeriodStart string    `json:"period_start"`
	ResetsAt    time.Time `json:"resets_at"`
	At          time.Time `json:"at"`
}

func quotaEventOf(q *inbox.QuotaEvent) quotaEventView {
	return quotaEventView{Cap: capName[q.Period], Threshold: q.Threshold, Limit: q.Limit, Used: q.Used,
		PeriodStart: q.Start.Format(dateLayout), ResetsAt: q.ResetsAt.UTC(), At: q.At.UTC()}
}

// optCap is a cap in a PATCH body: absent (unchanged), null (no cap) or a
// whole number of segments from 1 to inbox.MaxSegmentCap.
type optCap struct {
	set bool
	v   int64 // 0: null
}

func (o *optCap) UnmarshalJSON(b []byte) error {
	o.set = true
	if bytes.Equal(b, []byte("null")) {
		o.v = 0
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || v < 1 || v > inbox.MaxSegmentCap {
		return fmt.Errorf("a segment cap must be a whole number from 1 to %d, or null for none", int64(inbox.MaxSegmentCap))
	}
	o.v = v
	return nil
}

var _ json.Unmarshaler = (*optCap)(nil)

// ptr is the cap as inbox.QuotaPatch takes it (nil: unchanged, 0: none).
func (o optCap) ptr() *int64 {
	if !o.set {
		return nil
	}
	v := o.v
	return &v
}

// quotaPatch checks the quota fields of PATCH /admin/v1/workspaces/{id}.
func quotaPatch(tz *string, daily, monthly optCap) (inbox.QuotaPatch, bool, error) {
	p := inbox.QuotaPatch{TimeZone: tz, DailyCap: daily.ptr(), MonthlyCap: monthly.ptr()}
	if tz != nil {
		if err := inbox.CheckTimeZone(*tz); err != nil {
			return p, false, errorf(http.StatusBadRequest, codeInvalidRequest,
				"time_zone must be an IANA time zone name such as Europe/Paris or UTC, not %s", fmt.Sprintf("%q", *tz))
		}
	}
	return p, tz != nil || daily.set || monthly.set, nil
}
