package api

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/smpp"
)

// "My SMS arrives late": GET /v1/sms reports, for each connected number,
// its rate, what the workspace has queued on it, how long its messages
// waited between acceptance and submission over the last hour, and, when
// they are late, why. The rule (also in openapi.json, SendingReport):
//
//   - Late: the queue needs at least lateAfter at the number's rate
//     (drain = queued segments / rate), or the last hour's p95 wait is at
//     least lateAfter. Otherwise cause is null.
//   - cause "carrier": the carrier answered ESME_RTHROTTLED or
//     ESME_RMSGQFUL to at least one of the workspace's messages from the
//     number still queued or submitted in the last hour, or the carrier
//     account's rate is no higher than the number's: the limit is the
//     carrier's, and a faster number class would not help.
//   - cause "number_rate": the number's own bucket is the binding limit:
//     the queue needs at least lateAfter at its rate, or (the queue gone)
//     the workspace sent in the last hour at least rate × p95 segments,
//     the least traffic that makes the rate alone cause such waits. The
//     advice then names the rate of a dedicated local number when it is
//     higher: "use a dedicated local number for higher throughput".
//   - cause "other": late, with neither explanation (retries after
//     connection errors, a number disabled for a while...).
//
// Without the engine's rates (Config.Rates) only "carrier" can be told.

const (
	// lateAfter is the wait past which a message counts as late.
	lateAfter = 2 * time.Second
	// waitWindow is the window of the wait percentiles.
	waitWindow = time.Hour
)

// throttleCodes are the carrier's "too fast" answers.
var throttleCodes = []int32{int32(smpp.StatusTHROTTLED), int32(smpp.StatusMSGQFUL)}

// Causes of late messages.
const (
	causeNumberRate = "number_rate"
	causeCarrier    = "carrier"
	causeOther      = "other"
)

type sendingView struct {
	RateClass     string       `json:"rate_class"`
	Rate          *float64     `json:"rate"`
	Queue         queueView    `json:"queue"`
	DrainSeconds  *float64     `json:"drain_seconds"`
	LastHour      lastHourView `json:"last_hour"`
	Cause         *string      `json:"cause"`
	Advice        *string      `json:"advice"`
	DedicatedRate *float64     `json:"dedicated_rate"`
}

type queueView struct {
	Messages       int        `json:"messages"`
	Segments       int        `json:"segments"`
	OldestQueuedAt *time.Time `json:"oldest_queued_at"`
}

type lastHourView struct {
	Submitted        int      `json:"submitted"`
	Segments         int      `json:"segments"`
	WaitP50Seconds   *float64 `json:"wait_p50_seconds"`
	WaitP95Seconds   *float64 `json:"wait_p95_seconds"`
	WaitSampled      int      `json:"wait_sampled"`
	CarrierThrottled int      `json:"carrier_throttled"`
}

// lateFacts is what the rule looks at for one number.
type lateFacts struct {
	class         string
	rate          float64 // segments/s of the number's class; 0 unknown
	dedicatedRate float64 // of a dedicated local number; 0 unknown
	carrierRate   float64 // of the carrier account; 0 unknown
	st            inbox.SendingStats
}

func ptr(f float64) *float64 { return &f }

// sendingOf builds a number's report and applies the rule.
func sendingOf(f lateFacts) sendingView {
	st := f.st
	v := sendingView{
		RateClass: f.class,
		Queue:     queueView{Messages: st.QueuedMessages, Segments: st.QueuedSegments, OldestQueuedAt: utc(st.OldestQueued)},
		LastHour: lastHourView{Submitted: st.Submitted, Segments: st.SubmittedSegments,
			WaitSampled: st.WaitSampled, CarrierThrottled: st.CarrierThrottled},
	}
	if st.Submitted > 0 {
		v.LastHour.WaitP50Seconds, v.LastHour.WaitP95Seconds = ptr(secs(st.WaitP50)), ptr(secs(st.WaitP95))
	}
	var drain time.Duration
	if f.rate > 0 {
		v.Rate = ptr(f.rate)
		drain = time.Duration(float64(st.QueuedSegments) / f.rate * float64(time.Second))
		v.DrainSeconds = ptr(secs(drain))
	}
	if f.dedicatedRate > 0 {
		v.DedicatedRate = ptr(f.dedicatedRate)
	}
	cause, advice := explainLate(f, drain)
	if cause != "" {
		v.Cause, v.Advice = &cause, &advice
	}
	return v
}

// explainLate is the rule above: the cause of late messages ("" when
// they are not late, or the cause cannot be told) and the advice.
func explainLate(f lateFacts, drain time.Duration) (cause, advice string) {
	st := f.st
	p95 := st.WaitP95
	if drain < lateAfter && p95 < lateAfter {
		return "", ""
	}
	switch {
	case st.CarrierThrottled > 0:
		return causeCarrier, fmt.Sprintf("The carrier answered \"throttled\" or \"queue full\" to %d of your messages from this number "+
			"in the last hour: the waits come from the carrier's limit, not from this number's rate, and a dedicated number "+
			"would not remove them.", st.CarrierThrottled)
	case f.carrierRate > 0 && f.rate > 0 && f.carrierRate <= f.rate:
		return causeCarrier, fmt.Sprintf("This number's carrier account sends at most %s for all its numbers, no more than "+
			"this number's own rate: the account's limit sets the pace.", rateString(f.carrierRate))
	case f.rate <= 0:
		return "", ""
	}
	var why string
	switch {
	case drain >= lateAfter:
		why = fmt.Sprintf("your %d queued segments need about %s to go out", st.QueuedSegments, secondsString(drain))
	case float64(st.SubmittedSegments) >= f.rate*p95.Seconds():
		why = fmt.Sprintf("your %d segments of the last hour came faster than that, so 5%% of them waited %s or more",
			st.SubmittedSegments, secondsString(p95))
	default:
		return causeOther, "Your messages waited longer than this number's rate and your traffic explain, and the carrier did not " +
			"throttle them: see their status history (retries after connection or carrier errors, or the number disabled for a while)."
	}
	advice = fmt.Sprintf("Messages wait for this number's own rate: %s (rate class %s); %s.",
		rateString(f.rate), f.class, why)
	if f.dedicatedRate > f.rate {
		advice += fmt.Sprintf(" Use a dedicated local number for higher throughput: it sends %s (%s times faster).",
			rateString(f.dedicatedRate), strconv.FormatFloat(math.Round(f.dedicatedRate/f.rate*10)/10, 'f', -1, 64))
	} else {
		advice += " The number already has the rate of a dedicated number: spread your sending over more dedicated numbers."
	}
	return causeNumberRate, advice
}

func secs(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// rateString writes a rate in segments per second.
func rateString(r float64) string {
	if r == 1 {
		return "1 segment/s"
	}
	return strconv.FormatFloat(r, 'f', -1, 64) + " segments/s"
}

func secondsString(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.0f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
