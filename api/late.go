package api

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/smpp"
)

// "My SMS arrives late": GET /v1/sms reports, for each connected number,
// its rate, what the workspace has queued on it, how long its messages
// waited between acceptance and submission over the last hour, what the
// number and its carrier account sent over the last minute (measured), and,
// when the messages are late, why. The rule (also in openapi.json,
// SendingReport):
//
//   - Late: the queue needs at least lateAfter at the number's rate
//     (drain = queued segments / rate), or its oldest message has waited
//     lateAfter, or the last hour's p95 wait is at least lateAfter.
//     Otherwise cause is null.
//   - The backlog: how long, within the last minute (recentWindow), the
//     workspace had a message from the number waiting that waited at least
//     lateAfter (inbox.RecentSending). It is measured when the number's
//     rate would send at least minMeasured segments in it; then, over the
//     backlog, "busy" means sending at least busyShare (90 %) of a rate:
//     the number of its class's rate, the account of its TPS
//     (Config.CarrierRates), counting every workspace's segments.
//
// The causes, first match:
//
//  1. "other": the workspace disabled the number and has messages queued
//     on it (they wait until it is enabled).
//  2. "engine": messages are queued and Config.BindsUp says no bind of the
//     number's carrier is up.
//  3. "carrier": the carrier answered ESME_RTHROTTLED or ESME_RMSGQFUL to at
//     least one of the workspace's messages from the number still queued or
//     submitted in the last hour.
//  4. Without the number's rate (Config.Rates) nothing more can be told:
//     cause null.
//  5. A measured backlog: "account_share" when the account was busy during
//     it (its rate was in use by its numbers: a faster number class would
//     not help, the operator can raise the account's TPS); else
//     "number_rate" when the number was busy (its own rate is the limit and
//     the account had room); else "engine" (the number sent well below its
//     rate and the account was not busy: the engine's own backlog; without
//     the account's TPS the advice says the account cannot be ruled out).
//  6. Messages queued, the backlog too short to measure (a fresh queue):
//     over the whole last minute, "account_share" when the account was
//     busy, "number_rate" when the number was; "account_share" when the
//     account's TPS is below the number's rate; "number_rate" when the
//     queue needs at least lateAfter at the number's rate (drain);
//     "engine" when the oldest queued message has waited lateAfter anyway.
//  7. Otherwise (nothing measurable waits now; the hour's p95 is late):
//     "number_rate" when the workspace sent in the last hour at least
//     rate × p95 segments, the least traffic that makes the rate alone
//     cause such waits; else "other" (the waits went before the window and
//     no rate explains them: retries after errors, the number disabled for
//     a while...).
//
// The number_rate advice names the rate of a dedicated local number when it
// is higher: "use a dedicated local number for higher throughput".

const (
	// lateAfter is the wait past which a message counts as late.
	lateAfter = 2 * time.Second
	// waitWindow is the window of the wait percentiles.
	waitWindow = time.Hour
	// recentWindow is the window the number's and the account's sending
	// are measured over.
	recentWindow = time.Minute
	// busyShare is the share of its rate at which a number or an account
	// counts as sending at its rate.
	busyShare = 0.9
	// minMeasured: a backlog is measured when the number's rate would send
	// at least this many segments in it, so that one segment more or less
	// moves the measured share by at most 1/minMeasured (10 %).
	minMeasured = 10
)

// throttleCodes are the carrier's "too fast" answers.
var throttleCodes = []int32{int32(smpp.StatusTHROTTLED), int32(smpp.StatusMSGQFUL)}

// Causes of late messages.
const (
	causeNumberRate   = "number_rate"
	causeAccountShare = "account_share"
	causeCarrier      = "carrier"
	causeEngine       = "engine"
	causeOther        = "other"
)

type sendingView struct {
	RateClass     string       `json:"rate_class"`
	Rate          *float64     `json:"rate"`
	Queue         queueView    `json:"queue"`
	DrainSeconds  *float64     `json:"drain_seconds"`
	LastHour      lastHourView `json:"last_hour"`
	Measured      measuredView `json:"measured"`
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

// measuredView is what the number and its carrier account sent over the
// last minute, during the workspace's backlog and over the whole window.
type measuredView struct {
	WindowSeconds  float64         `json:"window_seconds"`
	BacklogSeconds float64         `json:"backlog_seconds"`
	Number         numberMeasured  `json:"number"`
	Account        accountMeasured `json:"account"`
	BindsUp        *bool           `json:"binds_up"`
}

type numberMeasured struct {
	Segments          int      `json:"segments"`
	OwnSegments       int      `json:"own_segments"`
	Rate              *float64 `json:"rate"`
	Used              *float64 `json:"used"`
	WindowSegments    int      `json:"window_segments"`
	WindowOwnSegments int      `json:"window_own_segments"`
	WindowRate        float64  `json:"window_rate"`
	WindowUsed        *float64 `json:"window_used"`
}

type accountMeasured struct {
	TPS            *float64 `json:"tps"`
	Segments       int      `json:"segments"`
	Numbers        int      `json:"numbers"`
	Rate           *float64 `json:"rate"`
	Used           *float64 `json:"used"`
	WindowSegments int      `json:"window_segments"`
	WindowNumbers  int      `json:"window_numbers"`
	WindowRate     float64  `json:"window_rate"`
	WindowUsed     *float64 `json:"window_used"`
}

// lateFacts is what the rule looks at for one number.
type lateFacts struct {
	class         string
	rate          float64 // segments/s of the number's class; 0 unknown
	dedicatedRate float64 // of a dedicated local number; 0 unknown
	carrierRate   float64 // of the carrier account (its TPS); 0 unknown
	disabled      bool    // the workspace disabled the number
	bindsUp       *bool   // some bind of the carrier account is up; nil unknown
	now           time.Time
	window        time.Duration // what rec.Window* were counted over
	st            inbox.SendingStats
	rec           inbox.RecentSending
}

func ptr(f float64) *float64 { return &f }

// sendingOf builds a number's report and applies the rule.
func sendingOf(f lateFacts) sendingView {
	if f.window <= 0 {
		f.window = recentWindow
	}
	st := f.st
	v := sendingView{
		RateClass: f.class,
		Queue:     queueView{Messages: st.QueuedMessages, Segments: st.QueuedSegments, OldestQueuedAt: utc(st.OldestQueued)},
		LastHour: lastHourView{Submitted: st.Submitted, Segments: st.SubmittedSegments,
			WaitSampled: st.WaitSampled, CarrierThrottled: st.CarrierThrottled},
		Measured: measuredOf(f),
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

// measuredOf turns the counts into rates and shares of the limits.
func measuredOf(f lateFacts) measuredView {
	r := f.rec
	m := measuredView{
		WindowSeconds:  secs(f.window),
		BacklogSeconds: secs(r.Backlog),
		Number: numberMeasured{Segments: r.NumberSegments, OwnSegments: r.OwnSegments,
			WindowSegments: r.WindowNumberSegments, WindowOwnSegments: r.WindowOwnSegments},
		Account: accountMeasured{Segments: r.AccountSegments, Numbers: r.AccountNumbers,
			WindowSegments: r.WindowAccountSegments, WindowNumbers: r.WindowAccountNumbers},
		BindsUp: f.bindsUp,
	}
	if f.carrierRate > 0 {
		m.Account.TPS = ptr(f.carrierRate)
	}
	if b := r.Backlog.Seconds(); b > 0 {
		m.Number.Rate, m.Number.Used = measure(r.NumberSegments, b, f.rate)
		m.Account.Rate, m.Account.Used = measure(r.AccountSegments, b, f.carrierRate)
	}
	if w := f.window.Seconds(); w > 0 {
		var rate *float64
		rate, m.Number.WindowUsed = measure(r.WindowNumberSegments, w, f.rate)
		m.Number.WindowRate = *rate
		rate, m.Account.WindowUsed = measure(r.WindowAccountSegments, w, f.carrierRate)
		m.Account.WindowRate = *rate
	}
	return m
}

// measure returns segments/seconds and its share of limit (nil when the
// limit is unknown), rounded to thousandths.
func measure(segments int, seconds, limit float64) (rate, used *float64) {
	r := float64(segments) / seconds
	rate = ptr(round3(r))
	if limit > 0 {
		used = ptr(round3(r / limit))
	}
	return rate, used
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// busy reports whether segments sent over seconds reach busyShare of rate.
func busy(segments int, seconds, rate float64) bool {
	return rate > 0 && seconds > 0 && float64(segments) >= busyShare*rate*seconds
}

// explainLate is the rule above: the cause of late messages ("" when
// they are not late, or the cause cannot be told) and the advice.
func explainLate(f lateFacts, drain time.Duration) (cause, advice string) {
	st, rec := f.st, f.rec
	var oldest time.Duration
	if st.QueuedMessages > 0 && !st.OldestQueued.IsZero() {
		oldest = f.now.Sub(st.OldestQueued)
	}
	if drain < lateAfter && st.WaitP95 < lateAfter && oldest < lateAfter {
		return "", ""
	}
	switch {
	case f.disabled && st.QueuedMessages > 0:
		return causeOther, fmt.Sprintf("This number is disabled in your workspace: your %s queued on it wait until you enable it.",
			plural(st.QueuedMessages, "message"))
	case st.QueuedMessages > 0 && f.bindsUp != nil && !*f.bindsUp:
		return causeEngine, fmt.Sprintf("No connection (bind) to this number's carrier is up: your %s queued on it wait until one is. "+
			"The hold-up is the engine's link to the carrier, not a rate; your operator sees the binds' state.",
			plural(st.QueuedMessages, "message"))
	case st.CarrierThrottled > 0:
		return causeCarrier, fmt.Sprintf("The carrier answered \"throttled\" or \"queue full\" to %d of your messages from this number "+
			"in the last hour: the waits come from the carrier's limit, not from this number's rate, and a dedicated number "+
			"would not remove them.", st.CarrierThrottled)
	case f.rate <= 0:
		return "", ""
	}
	own := ownRate(f)
	backlog := rec.Backlog.Seconds()
	if f.rate*backlog >= minMeasured {
		during := fmt.Sprintf("While your messages waited (%s of the last %s)", secondsString(rec.Backlog), windowString(f.window))
		numberBusy := busy(rec.NumberSegments, backlog, f.rate)
		switch {
		case busy(rec.AccountSegments, backlog, f.carrierRate):
			return causeAccountShare, accountAdvice(f, during, rec.NumberSegments, rec.AccountSegments, rec.AccountNumbers, backlog, numberBusy)
		case numberBusy:
			advice = fmt.Sprintf("Messages wait for %s. %s, the number sent %s, %s of that rate%s%s.", own, during,
				measuredRate(rec.NumberSegments, backlog), percent(float64(rec.NumberSegments)/(f.rate*backlog)),
				ownPart(rec.OwnSegments, rec.NumberSegments), accountRoom(f, rec.AccountSegments, backlog))
			if drain >= lateAfter {
				advice += fmt.Sprintf(" Your %d queued segments need about %s to go out.", st.QueuedSegments, secondsString(drain))
			}
			return causeNumberRate, advice + fasterNumber(f)
		default:
			return causeEngine, fmt.Sprintf("%s, this number sent only %s, %s of its rate of %s%s. "+
				"The wait is in the engine itself (its own backlog of messages to submit, or a carrier connection slow to answer)%s.",
				during, measuredRate(rec.NumberSegments, backlog), percentUnder(float64(rec.NumberSegments)/(f.rate*backlog)),
				rateString(f.rate), accountIdle(f, rec.AccountSegments, backlog), bindsNote(f))
		}
	}
	window := f.window.Seconds()
	if st.QueuedMessages > 0 && (drain >= lateAfter || oldest >= lateAfter) {
		over := "Over the last " + windowString(f.window)
		switch {
		case busy(rec.WindowAccountSegments, window, f.carrierRate):
			return causeAccountShare, accountAdvice(f, over, rec.WindowNumberSegments, rec.WindowAccountSegments,
				rec.WindowAccountNumbers, window, busy(rec.WindowNumberSegments, window, f.rate)) +
				fmt.Sprintf(" Your %d queued segments wait for their share.", st.QueuedSegments)
		case busy(rec.WindowNumberSegments, window, f.rate):
			return causeNumberRate, fmt.Sprintf("Messages wait for %s. %s the number sent %s, %s of that rate%s%s; your %d queued "+
				"segments need about %s to go out.", own, over, measuredRate(rec.WindowNumberSegments, window),
				percent(float64(rec.WindowNumberSegments)/(f.rate*window)), ownPart(rec.WindowOwnSegments, rec.WindowNumberSegments),
				accountRoom(f, rec.WindowAccountSegments, window), st.QueuedSegments, secondsString(drain)) + fasterNumber(f)
		case f.carrierRate > 0 && f.carrierRate < f.rate:
			return causeAccountShare, fmt.Sprintf("This number's carrier account sends at most %s for all its numbers, less than "+
				"this number's own rate of %s: the account's rate sets the pace, and a faster number class would not help. "+
				"Your operator can raise the account's rate (TPS).", rateString(f.carrierRate), rateString(f.rate))
		case drain >= lateAfter:
			return causeNumberRate, fmt.Sprintf("Messages wait for %s; your %d queued segments need about %s to go out.",
				own, st.QueuedSegments, secondsString(drain)) + fasterNumber(f)
		default:
			return causeEngine, fmt.Sprintf("Your oldest queued message has waited %s, longer than this number's rate explains "+
				"(%s about %s at %s), yet over the last %s the number sent %s, %s of its rate%s. The wait is in the "+
				"engine itself (its own backlog of messages to submit, or a carrier connection slow to answer)%s.",
				secondsString(oldest), queuedNeed(st.QueuedSegments), secondsString(drain), rateString(f.rate),
				windowString(f.window), measuredRate(rec.WindowNumberSegments, window),
				percentUnder(float64(rec.WindowNumberSegments)/(f.rate*window)), accountIdle(f, rec.WindowAccountSegments, window), bindsNote(f))
		}
	}
	p95 := st.WaitP95
	if p95 >= lateAfter && float64(st.SubmittedSegments) >= f.rate*p95.Seconds() {
		return causeNumberRate, fmt.Sprintf("Messages wait for %s; your %d segments of the last hour came faster than that, "+
			"so 5%% of them waited %s or more.", own, st.SubmittedSegments, secondsString(p95)) + fasterNumber(f)
	}
	return causeOther, fmt.Sprintf("Your messages waited longer than this number's rate and your traffic explain, earlier than "+
		"the last %s (when the engine measures the number's and the account's sending), and the carrier did not throttle them: "+
		"see their status history (retries after connection or carrier errors, or the number disabled for a while).",
		windowString(f.window))
}

// ownRate names the number's rate.
func ownRate(f lateFacts) string {
	return fmt.Sprintf("this number's own rate: %s (rate class %s)", rateString(f.rate), f.class)
}

// fasterNumber is the number_rate advice's last sentence.
func fasterNumber(f lateFacts) string {
	if f.dedicatedRate > f.rate {
		return fmt.Sprintf(" Use a dedicated local number for higher throughput: it sends %s (%s times faster).",
			rateString(f.dedicatedRate), strconv.FormatFloat(math.Round(f.dedicatedRate/f.rate*10)/10, 'f', -1, 64))
	}
	return " The number already has the rate of a dedicated number: spread your sending over more dedicated numbers."
}

// accountAdvice is the account_share advice: over seconds (the backlog or
// the window), the number sent numberSegs and the account accountSegs
// from numbers numbers.
func accountAdvice(f lateFacts, over string, numberSegs, accountSegs, numbers int, seconds float64, numberBusy bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, this number sent %s, %s of its own rate of %s (rate class %s): its carrier account, which sends at "+
		"most %s for all its numbers, was in use at %s (%s)", over, measuredRate(numberSegs, seconds),
		percent(float64(numberSegs)/(f.rate*seconds)), rateString(f.rate), f.class, rateString(f.carrierRate),
		percent(float64(accountSegs)/(f.carrierRate*seconds)), measuredRate(accountSegs, seconds))
	others := numbers - 1
	if numberSegs == 0 {
		others = numbers
	}
	if others > 0 && accountSegs > 0 {
		share := float64(numberSegs) / float64(accountSegs)
		fmt.Fprintf(&b, ", shared with %s, yours or other workspaces': this number got %s of the account's traffic, "+
			"the others %s", plural(others, "other number"), percent(share), percent(1-share))
	} else {
		b.WriteString(", all of it by this number: the account's rate is lower than this number's")
	}
	b.WriteString(". A faster number class would not help: the account is the limit. Your operator can raise the account's rate (TPS).")
	if numberBusy {
		b.WriteString(" This number also sent at its own rate, so a faster number would help only once the account's rate is raised.")
	}
	return b.String()
}

// ownPart says how much of a shared number's sending was the workspace's.
func ownPart(own, all int) string {
	if all == 0 || own >= all {
		return ""
	}
	return fmt.Sprintf(" (%s of it yours: other workspaces share this number)", percent(float64(own)/float64(all)))
}

// accountRoom says the account had room (number_rate), when its rate is known.
func accountRoom(f lateFacts, accountSegs int, seconds float64) string {
	if f.carrierRate <= 0 {
		return ""
	}
	return fmt.Sprintf(", and its carrier account had room (%s of its %s in use)",
		percentUnder(float64(accountSegs)/(f.carrierRate*seconds)), rateString(f.carrierRate))
}

// accountIdle says the account was not busy (engine), or that it cannot be
// told without the account's rate.
func accountIdle(f lateFacts, accountSegs int, seconds float64) string {
	if f.carrierRate <= 0 {
		return "; the carrier account's rate is not known here, so the account cannot be ruled out"
	}
	return fmt.Sprintf(", and its carrier account was not busy (%s of its %s in use): no rate held them back",
		percentUnder(float64(accountSegs)/(f.carrierRate*seconds)), rateString(f.carrierRate))
}

// bindsNote adds what the engine said of the carrier's binds.
func bindsNote(f lateFacts) string {
	if f.bindsUp != nil && *f.bindsUp {
		return "; a connection (bind) to the carrier is up. Your operator can look at the engine's queue and binds"
	}
	return ". Your operator can look at the engine's queue and binds"
}

func secs(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// rateString writes a rate in segments per second.
func rateString(r float64) string {
	if r == 1 {
		return "1 segment/s"
	}
	return strconv.FormatFloat(r, 'f', -1, 64) + " segments/s"
}

// measuredRate writes segments over seconds as a rate, to a tenth.
func measuredRate(segments int, seconds float64) string {
	return rateString(math.Round(float64(segments)/seconds*10) / 10)
}

// percent writes a share as a whole percentage.
func percent(share float64) string { return fmt.Sprintf("%.0f %%", share*100) }

// percentUnder writes a share known to be under busyShare: to a tenth when
// a whole percentage would round it up to busyShare ("89.5 %", not "90 %").
func percentUnder(share float64) string {
	if math.Round(share*100) >= busyShare*100 {
		return fmt.Sprintf("%.1f %%", math.Floor(share*1000)/10)
	}
	return percent(share)
}

// queuedNeed is "1 queued segment needs" or "n queued segments need".
func queuedNeed(n int) string {
	if n == 1 {
		return "1 queued segment needs"
	}
	return strconv.Itoa(n) + " queued segments need"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func secondsString(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.0f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// windowString names the measuring window ("minute", "2 minutes").
func windowString(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "minute"
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return secondsString(d)
}
