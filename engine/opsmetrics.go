package engine

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/routing"
)

// The metrics the operators' dashboard and alert rules need beyond the
// binds' and the dispatcher's counters (configs/grafana, configs/prometheus):
// whether PostgreSQL and Redis answer, each sender number's queue and rate,
// and how long a message waits between entering the queue and the
// carrier's acceptance. None costs a query per message: the queues are read at most
// every numberQueueRefresh, the latency is one histogram observation per
// message in the submit results' batch.

var (
	numberLabels    = []string{"carrier", "number"}
	descPostgresUp  = prometheus.NewDesc("switchboard_postgres_up", "1 when PostgreSQL answered a ping at this scrape.", nil, nil)
	descRedisUp     = prometheus.NewDesc("switchboard_redis_up", "1 when Redis answered a ping at this scrape.", nil, nil)
	descNumQueue    = prometheus.NewDesc("switchboard_number_queue_messages", "Outbound messages queued or being sent from the number (the numbers with the oldest queues, at most 200).", numberLabels, nil)
	descNumQueueSeg = prometheus.NewDesc("switchboard_number_queue_segments", "Their segments.", numberLabels, nil)
	descNumOldest   = prometheus.NewDesc("switchboard_number_queue_oldest_seconds", "Age of the number's oldest pending outbound message.", numberLabels, nil)
	descNumRate     = prometheus.NewDesc("switchboard_number_rate", "The number's configured rate (its rate class), segments/s.", numberLabels, nil)
	descNumEffRate  = prometheus.NewDesc("switchboard_number_effective_rate", "What the adaptive slow-down leaves of the number's rate now, segments/s.", numberLabels, nil)
	descQueueAsOf   = prometheus.NewDesc("switchboard_number_queue_age_seconds", "How old the per-number queue figures are (they are read at most every 10 s).", nil, nil)
)

const (
	// numberQueueMax bounds the numbers exported per scrape (those whose
	// oldest pending message is oldest), so that a queue spread over
	// thousands of numbers keeps the series and the Redis calls bounded.
	numberQueueMax = 200
	// numberQueueRefresh is how often the per-number queue is read from
	// PostgreSQL and the numbers' effective rates from Redis at most;
	// scrapes in between export the last reading.
	numberQueueRefresh = 10 * time.Second
)

// numberQueueRow is a number's exported figures.
type numberQueueRow struct {
	q         inbox.NumberQueue
	rate      float64
	effective float64
	hasEff    bool
}

// numberQueues caches the per-number figures between refreshes; safe for
// concurrent scrapes.
type numberQueues struct {
	mu   sync.Mutex
	at   time.Time
	rows []numberQueueRow
}

// collectOps exports the metrics of this file (the submit latency
// histogram is registered on its own).
func (c *collector) collectOps(ctx context.Context, ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	up := func(err error) float64 {
		if err != nil {
			return 0
		}
		return 1
	}
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	gauge(descPostgresUp, up(c.e.db.Ping(pctx)))
	gauge(descRedisUp, up(c.e.rdb.Ping(pctx).Err()))
	cancel()

	rows, at := c.numbers.read(ctx, c.e)
	if at.IsZero() {
		return
	}
	gauge(descQueueAsOf, time.Since(at).Seconds())
	for _, r := range rows {
		l := []string{r.q.Carrier, r.q.Number}
		gauge(descNumQueue, float64(r.q.Pending), l...)
		gauge(descNumQueueSeg, float64(r.q.Segments), l...)
		gauge(descNumOldest, r.q.Oldest.Seconds(), l...)
		gauge(descNumRate, r.rate, l...)
		if r.hasEff {
			gauge(descNumEffRate, r.effective, l...)
		}
	}
}

// read returns the per-number figures, refreshed when older than
// numberQueueRefresh, and when they were read (zero when never). A failed
// refresh keeps the previous reading (its age is exported).
func (n *numberQueues) read(ctx context.Context, e *Engine) ([]numberQueueRow, time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if time.Since(n.at) < numberQueueRefresh {
		return n.rows, n.at
	}
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	qs, err := e.store.QueueByNumber(qctx, numberQueueMax)
	if err != nil {
		return n.rows, n.at
	}
	rows := make([]numberQueueRow, len(qs))
	for i, q := range qs {
		rows[i].q = q
		lim, ok := e.limits.limits().classes[q.RateClass]
		if !ok {
			continue
		}
		rows[i].rate = lim.Rate()
		if qctx.Err() == nil {
			if v, err := e.limiter.EffectiveRate(qctx, q.Carrier, q.Number, lim); err == nil {
				rows[i].effective, rows[i].hasEff = v, true
			}
		}
	}
	n.rows, n.at = rows, time.Now()
	return n.rows, n.at
}

// newSubmitLatency is the histogram of the wait between a message's
// entering the queue (its acceptance by POST /v1/messages, or a scheduled
// message's release at its send time) and the carrier's acceptance of its
// last part: 5 ms to 11.6 h, doubling.
func newSubmitLatency() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "switchboard_message_submit_seconds",
		Help:    "Time from a message's entering the queue (accepted by the API, or a scheduled one released at its send time) to the carrier's submit_sm_resp for its last part (recorded by this process).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 24),
	})
}

// observeSubmitted records the latency of each message whose last part the
// carrier accepted in rs (one clock read per batch).
func observeSubmitted(h prometheus.Observer, rs []routing.SegmentResult) {
	if h == nil {
		return
	}
	now := time.Now()
	for i := range rs {
		r := &rs[i]
		if r.Outcome == routing.Accepted && r.Segment == max(r.Parts, 1)-1 && !r.Queued.IsZero() {
			h.Observe(now.Sub(r.Queued).Seconds())
		}
	}
}
