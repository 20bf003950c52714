package smpp

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBuckets are the upper bounds of the response-time histogram: 50 µs
// to about 105 s, doubling, plus an overflow bucket.
var latencyBuckets = func() []time.Duration {
	var b []time.Duration
	for d := 50 * time.Microsecond; d < 2*time.Minute; d *= 2 {
		b = append(b, d)
	}
	return b
}()

// LatencyBuckets returns the histogram's bucket upper bounds (the last
// bucket of a Histogram, beyond these, counts everything longer).
func LatencyBuckets() []time.Duration { return append([]time.Duration(nil), latencyBuckets...) }

// histogram counts durations in latencyBuckets; safe for concurrent use,
// lock-free.
type histogram struct {
	counts [32]atomic.Int64
	sum    atomic.Int64 // nanoseconds
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(latencyBuckets) && d > latencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

func (h *histogram) snapshot() Histogram {
	var s Histogram
	s.Counts = make([]int64, len(latencyBuckets)+1)
	for i := range s.Counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// Histogram is a snapshot of response times: Counts[i] counts responses of at
// most LatencyBuckets()[i] (and above the previous bound); the last count is
// everything longer.
type Histogram struct {
	Counts []int64
	Count  int64
	Sum    time.Duration
}

// Quantile estimates the q-quantile (0 < q ≤ 1) by linear interpolation
// inside its bucket; 0 when empty.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := q * float64(h.Count)
	var seen float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo := time.Duration(0)
			if i > 0 {
				lo = latencyBuckets[i-1]
			}
			hi := 2 * lo
			if i < len(latencyBuckets) {
				hi = latencyBuckets[i]
			}
			frac := (rank - seen) / float64(c)
			return lo + time.Duration(math.Round(frac*float64(hi-lo)))
		}
		seen += float64(c)
	}
	return latencyBuckets[len(latencyBuckets)-1]
}

// Mean returns the average response time.
func (h Histogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / time.Duration(h.Count)
}

// counters are a Session's running totals.
type counters struct {
	submitted       atomic.Int64 // requests written (all commands)
	responses       atomic.Int64
	byStatusLow     [256]atomic.Int64 // responses by command_status < 256
	byStatusHighMu  sync.Mutex
	byStatusHigh    map[Status]int64
	timeouts        atomic.Int64
	unknownOutcome  atomic.Int64 // requests failed with UnknownOutcomeError
	unknownResp     atomic.Int64 // responses matching no request
	reconnects      atomic.Int64
	connects        atomic.Int64
	inbound         atomic.Int64 // deliver_sm / data_sm / alert_notification received
	inboundRejected atomic.Int64 // inbound answered with a non-zero status
	enquireSent     atomic.Int64
	nacksSent       atomic.Int64
	rtt             histogram
}

func (c *counters) response(st Status) {
	c.responses.Add(1)
	if st < 256 {
		c.byStatusLow[st].Add(1)
		return
	}
	c.byStatusHighMu.Lock()
	if c.byStatusHigh == nil {
		c.byStatusHigh = make(map[Status]int64)
	}
	c.byStatusHigh[st]++
	c.byStatusHighMu.Unlock()
}

// SessionStats is a snapshot of a Session's state and counters.
type SessionStats struct {
	State          SessionState
	LastError      string // why the last connection or attempt ended, "" if none
	Window         int    // the configured window
	InFlight       int    // requests outstanding now (window in use)
	Submitted      int64  // requests written
	Responses      int64
	ByStatus       map[Status]int64 // responses by command_status
	Timeouts       int64            // requests that got no response in time
	UnknownOutcome int64            // requests failed with an unknown outcome (timeouts and lost links)
	UnknownResps   int64            // responses matching no request
	Connects       int64            // successful binds
	Reconnects     int64            // successful binds after the first
	Inbound        int64            // deliver_sm / data_sm / alert_notification received
	InboundFailed  int64            // answered with a non-zero status
	EnquireLinks   int64            // enquire_link sent
	NacksSent      int64            // generic_nack sent
	Backoff        time.Duration    // current reconnect backoff
	ResponseTime   Histogram        // of every answered request
}

// Throttled returns how many responses were ESME_RTHROTTLED or ESME_RMSGQFUL.
func (s SessionStats) Throttled() int64 {
	return s.ByStatus[StatusTHROTTLED] + s.ByStatus[StatusMSGQFUL]
}
