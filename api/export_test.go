package api

import "github.com/switchboard-sms/switchboard/inbox"

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

// ExplainLate applies the late-SMS rule of GET /v1/sms to one number of
// the given rates (for the tests).
func ExplainLate(rate, dedicatedRate, carrierRate float64, st inbox.SendingStats) sendingView {
	return sendingOf(lateFacts{class: "c", rate: rate, dedicatedRate: dedicatedRate, carrierRate: carrierRate, st: st})
}
