package api

import (
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// Routes lists the route table as "METHOD /path" (for the tests).
func Routes() []string {
	out := make([]string, len(routes))
	for i, r := range routes {
		out[i] = r.method + " " + r.path
	}
	return out
}

// WorkspaceRoutes lists the routes that take a workspace token.
func WorkspaceRoutes() []string {
	var out []string
	for _, r := range routes {
		if r.access == workspace {
			out = append(out, r.method+" "+r.path)
		}
	}
	return out
}

// LateFacts are the facts the late-SMS rule of GET /v1/sms looks at for one
// number (for the tests); the rate class is "c". A zero Window is the
// report's (one minute).
type LateFacts struct {
	Rate, DedicatedRate, CarrierRate float64
	Disabled                         bool
	BindsUp                          *bool
	Now                              time.Time
	Window                           time.Duration
	Stats                            inbox.SendingStats
	Recent                           inbox.RecentSending
}

// ExplainLate applies the late-SMS rule of GET /v1/sms to one number (for
// the tests).
func ExplainLate(f LateFacts) sendingView {
	return sendingOf(lateFacts{class: "c", rate: f.Rate, dedicatedRate: f.DedicatedRate, carrierRate: f.CarrierRate,
		disabled: f.Disabled, bindsUp: f.BindsUp, now: f.Now, window: f.Window, st: f.Stats, rec: f.Recent})
}

// LateCauses lists every cause the late-SMS rule names (for the tests).
func LateCauses() []string {
	return []string{causeNumberRate, causeAccountShare, causeCarrier, causeEngine, causeOther}
}
