package engine

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-sms/switchboard/smpp"
)

// collector exports the engine's counters at scrape time, reading the same
// snapshots the operator API shows; it keeps no state of its own but the
// per-number queue figures it refreshes every few seconds (opsmetrics.go).
type collector struct {
	e       *Engine
	numbers numberQueues
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {} // unchecked: the label sets vary with the binds

var (
	bindLabels  = []string{"carrier", "slot", "type"}
	descBindUp  = prometheus.NewDesc("switchboard_bind_up", "1 when the bind is bound.", bindLabels, nil)
	descWinUse  = prometheus.NewDesc("switchboard_bind_window_in_use", "Requests outstanding on the bind.", bindLabels, nil)
	descWinSize = prometheus.NewDesc("switchboard_bind_window_size", "The bind's window.", bindLabels, nil)
	descSubmit  = prometheus.NewDesc("switchboard_bind_requests_total", "Requests written on the bind.", bindLabels, nil)
	descResp    = prometheus.NewDesc("switchboard_bind_responses_total", "Responses by command_status.", append(bindLabels, "status"), nil)
	descReconn  = prometheus.NewDesc("switchboard_bind_reconnects_total", "Binds after the first.", bindLabels, nil)
	descTimeout = prometheus.NewDesc("switchboard_bind_timeouts_total", "Requests with no response in time.", bindLabels, nil)
	descUnknown = prometheus.NewDesc("switchboard_bind_unknown_outcome_total", "Requests whose outcome is unknown (timeout or link lost after writing).", bindLabels, nil)
	descInbound = prometheus.NewDesc("switchboard_bind_inbound_total", "deliver_sm/data_sm received.", bindLabels, nil)
	descBackoff = prometheus.NewDesc("switchboard_bind_backoff_seconds", "Current reconnect backoff.", bindLabels, nil)
	descRTT     = prometheus.NewDesc("switchboard_bind_response_seconds", "Response time of requests.", bindLabels, nil)

	descDispatch = prometheus.NewDesc("switchboard_dispatch_total", "Dispatcher counters by event.", []string{"event"}, nil)
	descInFlight = prometheus.NewDesc("switchboard_dispatch_in_flight", "Messages held between claim and result.", nil, nil)
	descRouter   = prometheus.NewDesc("switchboard_inbound_total", "Inbound counters by kind.", []string{"kind"}, nil)
	descThrottle = prometheus.NewDesc("switchboard_throttle_total", "Throttle counters by event.", []string{"event"}, nil)
	descTHealthy = prometheus.NewDesc("switchboard_throttle_healthy", "1 while Redis answers the throttle.", nil, nil)
	descQueue    = prometheus.NewDesc("switchboard_queue_messages", "Outbound messages queued or being sent, all workspaces (counted up to 100,000).", nil, nil)
	descQueueSeg = prometheus.NewDesc("switchboard_queue_segments", "Their segments.", nil, nil)
	descQueueAge = prometheus.NewDesc("switchboard_queue_oldest_seconds", "Age of the oldest pending outbound message.", nil, nil)
	descAcctRate = prometheus.NewDesc("switchboard_carrier_account_rate", "The carrier account's configured rate, segments/s (all engine processes).", []string{"carrier"}, nil)
	descEffRate  = prometheus.NewDesc("switchboard_carrier_effective_rate", "What the adaptive slow-down leaves of the account's rate now, segments/s.", []string{"carrier"}, nil)
	descRefusals = prometheus.NewDesc("switchboard_carrier_refusals_total", "Submits the carrier refused for now (0x58 throttled, 0x14 queue full), per sender number.", []string{"carrier", "number", "status"}, nil)
	descQuiet    = prometheus.NewDesc("switchboard_throttle_quiet_seconds", "Time left in the carrier account's quiet period (Redis lost its rate state): nothing is sent on it meanwhile.", []string{"carrier"}, nil)
	descFeed     = prometheus.NewDesc("switchboard_feed_reads_total", "Reads of the change feed by this process's event streams and webhook endpoints (calls), and the database reads they took: shared by the readers at the end of a workspace's feed, or direct for a reader behind it.", []string{"kind"}, nil)
	descHooks    = prometheus.NewDesc("switchboard_webhook_deliveries_total", "Webhook delivery attempts by this process, by result (delivered: answered 2xx; failed: to be retried or given up; given_up: events abandoned after the retry period).", []string{"result"}, nil)
	descHookEPs  = prometheus.NewDesc("switchboard_webhook_endpoints", "Webhook endpoints this process delivers now.", nil, nil)
	descHookOff  = prometheus.NewDesc("switchboard_webhook_endpoints_disabled_total", "Webhook endpoints this process disabled (410 Gone, or failing for 3 days).", nil, nil)
	descLimited  = prometheus.NewDesc("switchboard_api_rate_limited_total", "Refused for a workspace's API rate limit: requests answered 429 (limit requests), messages refused (limit messages; a batch's items one each).", []string{"limit"}, nil)
	descRLCalls  = prometheus.NewDesc("switchboard_ratelimit_redis_calls_total", "Grant requests the API rate limits sent to Redis.", nil, nil)
	descRLFail   = prometheus.NewDesc("switchboard_ratelimit_failures_total", "Grant requests to Redis that failed (the limits then fail open).", nil, nil)
	descRLOpen   = prometheus.NewDesc("switchboard_ratelimit_fail_open_total", "Requests and messages let through without a rate limit check, Redis being unavailable.", nil, nil)
	descRLHealth = prometheus.NewDesc("switchboard_ratelimit_healthy", "1 while Redis answers the API rate limits.", nil, nil)
	descWaiting  = prometheus.NewDesc("switchboard_dispatch_queued", "Messages waiting in this process's number queues for their turn.", nil, nil)
)

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	bounds := smpp.LatencyBuckets()
	for _, b := range c.e.binds() {
		l := []string{b.Carrier, strconv.Itoa(b.Slot), b.Type}
		st := b.Stats
		up := 0.0
		if st.State == smpp.SessionBound {
			up = 1
		}
		gauge(descBindUp, up, l...)
		gauge(descWinUse, float64(st.InFlight), l...)
		gauge(descWinSize, float64(st.Window), l...)
		counter(descSubmit, float64(st.Submitted), l...)
		for status, n := range st.ByStatus {
			counter(descResp, float64(n), append(l, status.String())...)
		}
		counter(descReconn, float64(st.Reconnects), l...)
		counter(descTimeout, float64(st.Timeouts), l...)
		counter(descUnknown, float64(st.UnknownOutcome), l...)
		counter(descInbound, float64(st.Inbound), l...)
		gauge(descBackoff, st.Backoff.Seconds(), l...)
		buckets := map[float64]uint64{}
		var cum uint64
		for i, bound := range bounds {
			cum += uint64(st.ResponseTime.Counts[i])
			buckets[bound.Seconds()] = cum
		}
		ch <- prometheus.MustNewConstHistogram(descRTT, uint64(st.ResponseTime.Count), st.ResponseTime.Sum.Seconds(), buckets, l...)
	}
	d := c.e.dispatcher.Stats()
	for ev, v := range map[string]int64{
		"claimed": d.Claimed, "accepted": d.Accepted, "retried": d.Retried, "failed": d.Failed, "handed_back": d.HandedBack,
		"expired": d.Expired, "released": d.Released, "segments": d.Segments, "throttled": d.Throttled, "unknown_outcome": d.Unknown,
		"limiter_down": d.LimiterDown, "store_errors": d.StoreErrors, "takes": d.Takes, "quiet": d.Quiet,
		"write_held": d.WriteHeld, "spread_widened": d.SpreadWidened,
	} {
		counter(descDispatch, float64(v), ev)
	}
	gauge(descInFlight, float64(d.InFlight))
	gauge(descWaiting, float64(d.Queued))
	for k, n := range c.e.dispatcher.Refusals() {
		counter(descRefusals, float64(n), k.Carrier, k.Number, refusalName(k.Status))
	}
	if c.e.webhooks != nil {
		w := c.e.webhooks.Stats()
		counter(descHooks, float64(w.Delivered), "delivered")
		counter(descHooks, float64(w.Failed), "failed")
		counter(descHooks, float64(w.GivenUp), "given_up")
		gauge(descHookEPs, float64(w.Endpoints))
		counter(descHookOff, float64(w.Disabled))
	}
	f := c.e.feed.Stats()
	counter(descFeed, float64(f.Calls), "calls")
	counter(descFeed, float64(f.Shared), "shared")
	counter(descFeed, float64(f.Direct), "direct")
	r := c.e.router.Stats()
	for k, v := range map[string]int64{
		"receipt": r.Receipts, "receipt_unmatched": r.ReceiptsUnmatched, "mo": r.MO, "mo_part": r.MOParts, "mo_incomplete": r.MOIncomplete,
		"unrouted": r.Unrouted, "duplicate": r.Duplicates, "keyword": r.Keywords, "store_failure": r.Failures, "malformed": r.Malformed,
	} {
		counter(descRouter, float64(v), k)
	}
	t := c.e.limiter.Stats()
	for ev, v := range map[string]int64{"takes": t.Takes, "granted": t.Granted, "quiet": t.Quiet, "returned": t.Returned, "cuts": t.Cuts, "failures": t.Failures} {
		counter(descThrottle, float64(v), ev)
	}
	h := 0.0
	if t.Healthy {
		h = 1
	}
	gauge(descTHealthy, h)
	as := c.e.api.Stats()
	counter(descLimited, float64(as.RateLimitedRequests), "requests")
	counter(descLimited, float64(as.RateLimitedMessages), "messages")
	rl := c.e.rateLimits.Stats()
	counter(descRLCalls, float64(rl.Calls))
	counter(descRLFail, float64(rl.Failures))
	counter(descRLOpen, float64(rl.FailOpen))
	h = 0
	if rl.Healthy {
		h = 1
	}
	gauge(descRLHealth, h)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for name, acct := range c.e.limits.limits().accounts {
		gauge(descAcctRate, acct.Rate(), name)
		if v, err := c.e.limiter.EffectiveRate(ctx, name, "", acct); err == nil {
			gauge(descEffRate, v, name)
		}
		if until, err := c.e.limiter.QuietUntil(ctx, name); err == nil {
			gauge(descQuiet, max(0, time.Until(until).Seconds()), name)
		}
	}
	if q, err := c.e.store.QueueStats(ctx); err == nil {
		gauge(descQueue, float64(q.Pending))
		gauge(descQueueSeg, float64(q.Segments))
		gauge(descQueueAge, q.Oldest.Seconds())
	}
	c.collectOps(ctx, ch)
}

// refusalName names a refusal status in metrics.
func refusalName(st uint32) string {
	switch smpp.Status(st) {
	case smpp.StatusTHROTTLED:
		return "throttled"
	case smpp.StatusMSGQFUL:
		return "queue_full"
	}
	return strconv.FormatUint(uint64(st), 10)
}
