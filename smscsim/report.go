package smscsim

import (
	"encoding/json"
	"os"
	"sort"
	"time"
)

// Stats are the simulator's totals over all accounts, for quick checks.
type Stats struct {
	ConnsOpen      int64 // connections open now
	Bound          int64 // bound connections now
	Binds          int64 // binds accepted
	BindsRefused   int64 // binds refused (any reason)
	Submits        int64 // submit_sm received on bound connections
	Accepted       int64 // answered ESME_ROK
	Throttled      int64 // answered ESME_RTHROTTLED by a rate limit
	QueueFull      int64 // answered ESME_RMSGQFUL (window)
	Injected       int64 // answered with a status from faults.fail or a script
	Receipts       int64 // receipts sent (retries included)
	ReceiptRetries int64 // receipts sent again: unacknowledged, or answered with a temporary error
	MORetries      int64 // MO parts sent again, likewise
	ReceiptResps   int64 // deliver_sm_resp received (or lost) for receipts
	MOMessages     int64 // MO messages sent (generated, injected, loopback)
	MOParts        int64 // their deliver_sm parts
	MOResps        int64 // deliver_sm_resp received (or lost) for MO parts
	Loopbacks      int64 // submit_sm to a loopback number
	Drops          int64 // connections closed by a fault
}

// Stats returns a snapshot of the totals.
func (s *Sim) Stats() Stats {
	var t Stats
	t.ConnsOpen, _ = s.core.ConnsOpen()
	t.BindsRefused = s.bindsRefused.Load()
	for _, a := range s.accounts {
		st := &a.st
		t.Bound += st.bound.Load()
		t.Binds += st.binds.Load()
		t.BindsRefused += st.bindsRefused.Load()
		t.Submits += st.submits.Load()
		t.Accepted += st.accepted.Load()
		t.Throttled += st.throttled.Load()
		t.QueueFull += st.queueFull.Load()
		t.Injected += st.injected.Load()
		t.Receipts += st.receipts.Load()
		t.ReceiptRetries += st.receiptRetries.Load()
		t.MORetries += st.moRetries.Load()
		t.MOMessages += st.moMessages.Load()
		t.MOParts += st.moParts.Load()
		t.Loopbacks += st.loopbacks.Load()
		t.Drops += st.drops.Load()
		a.smu.Lock()
		for _, n := range a.receiptResps {
			t.ReceiptResps += n
		}
		for _, n := range a.moResps {
			t.MOResps += n
		}
		a.smu.Unlock()
	}
	return t
}

// Report is what the simulator saw: the JSON of GET /stats and of the
// report file written on Close.
type Report struct {
	Started          time.Time         `json:"started"`
	At               time.Time         `json:"at"`
	UptimeSeconds    float64           `json:"uptime_seconds"`
	Listeners        map[string]string `json:"listeners"`
	ConnsOpen        int64             `json:"conns_open"`
	BindsRefused     int64             `json:"binds_refused_unknown"` // before an account was known
	UnknownResponses int64             `json:"unknown_responses"`
	Accounts         []AccountReport   `json:"accounts"`
}

// AccountReport is one account's part of the report.
type AccountReport struct {
	SystemID     string `json:"system_id"`
	Bound        int64  `json:"bound"`
	Binds        int64  `json:"binds"`
	BindsRefused int64  `json:"binds_refused"`

	Submits          int64 `json:"submits"`
	Accepted         int64 `json:"accepted"`
	AcceptedSegments int64 `json:"accepted_segments"`
	Throttled        int64 `json:"throttled"` // by a rate limit: the two below
	ThrottledAccount int64 `json:"throttled_account"`
	ThrottledSource  int64 `json:"throttled_source"`
	QueueFull        int64 `json:"queue_full"`
	Injected         int64 `json:"injected_failures"` // faults.fail and scripts
	Unanswered       int64 `json:"unanswered"`        // scripts with drop:true
	// ValidityExpired counts accepted messages whose validity_period ended
	// before they would have been delivered: their receipt says EXPIRED,
	// sent when the validity ended.
	ValidityExpired int64 `json:"validity_expired"`
	// Statuses counts the submit_sm_resp statuses by name.
	Statuses map[string]int64 `json:"statuses"`
	// MaxPerSecond is the most segments accepted in any sliding one-second
	// window [t, t+1s), exactly; MaxPerSecondAt is when that window ended,
	// in seconds since the start.
	MaxPerSecond   int64   `json:"max_per_second"`
	MaxPerSecondAt float64 `json:"max_per_second_at"`
	// RateMode is the rate limits' mode, "bucket" or "sliding";
	// IntervalMS the length of the windows of MaxInInterval (rate.interval
	// in sliding mode, 1000 in bucket mode).
	RateMode   string  `json:"rate_mode"`
	IntervalMS float64 `json:"interval_ms"`
	// MaxInInterval is the most segments accepted in any window of length
	// IntervalMS (any start), exactly; in sliding mode it never exceeds
	// the account's limit.
	MaxInInterval int64 `json:"max_in_interval"`
	// TightestMS, in sliding mode with an account limit N, is the smallest
	// t[i+N] − t[i] over the arrival times t of the accepted segments, in
	// milliseconds: how close the traffic came to N+1 in one interval (it
	// is never below IntervalMS). 0 when there is no such limit or fewer
	// than N+1 segments were accepted.
	TightestMS float64 `json:"tightest_ms"`
	// MaxOutstanding is the most submit_sm unanswered at once on one bind.
	MaxOutstanding int64 `json:"max_outstanding"`

	Receipts       int64            `json:"receipts_sent"`
	ReceiptRetries int64            `json:"receipt_retries"` // sent again: unacknowledged, or a temporary error
	MORetries      int64            `json:"mo_retries"`      // MO parts sent again, likewise
	ReceiptResps   map[string]int64 `json:"receipt_resps"`   // deliver_sm_resp statuses; "lost": the connection closed first
	MOSent         int64            `json:"mo_sent"`         // messages
	MOParts        int64            `json:"mo_parts"`        // deliver_sm
	MOResps        map[string]int64 `json:"mo_resps"`
	MOSkipped      int64            `json:"mo_skipped"` // generated while no receiver was bound
	Loopbacks      int64            `json:"loopbacks"`

	Backlog        int   `json:"backlog"`         // receipts and MO waiting for a receiver
	BacklogDropped int64 `json:"backlog_dropped"` // over the backlog limit
	Drops          int64 `json:"drops"`           // connections closed by drop_every / drop_after_pdus
	MutedDrops     int64 `json:"muted_drops"`     // requests and answers dropped while muted
	ScriptErrors   int64 `json:"script_errors"`   // texts starting with '{' that are no valid script

	Sources []SourceReport `json:"sources"`
}

// SourceReport is one source number's part of the report. MaxInInterval
// and TightestMS are as in AccountReport, over this source's segments and
// against its own limit N (rate.source or its rate.sources entry).
type SourceReport struct {
	Source           string  `json:"source"`
	Accepted         int64   `json:"accepted"`
	AcceptedSegments int64   `json:"accepted_segments"`
	Throttled        int64   `json:"throttled"`
	MaxPerSecond     int64   `json:"max_per_second"`
	MaxPerSecondAt   float64 `json:"max_per_second_at"`
	MaxInInterval    int64   `json:"max_in_interval"`
	TightestMS       float64 `json:"tightest_ms"`
}

// Report returns the report as of now; after Close, the final one.
func (s *Sim) Report() Report {
	if r := s.endReport.Load(); r != nil {
		return *r
	}
	now, epoch := time.Now(), s.core.Started()
	r := Report{
		Started:          epoch.UTC(),
		At:               now.UTC(),
		UptimeSeconds:    now.Sub(epoch).Seconds(),
		Listeners:        map[string]string{},
		BindsRefused:     s.bindsRefused.Load(),
		UnknownResponses: s.unknownResps.Load(),
		Accounts:         []AccountReport{},
	}
	for _, l := range s.listeners {
		r.Listeners[l.name] = l.ln.Addr().String()
	}
	r.ConnsOpen, _ = s.core.ConnsOpen()
	for _, a := range s.accounts {
		r.Accounts = append(r.Accounts, a.report())
	}
	return r
}

func secs(ns int64) float64 { return float64(ns) / 1e9 }

func millis(ns int64) float64 { return float64(ns) / 1e6 }

// inInterval is the window maximum over the account's span: the one-second
// window's when the span is one second.
func (a *account) inInterval(win, iwin *slidingMax) int64 {
	if a.span == second {
		return win.max
	}
	return iwin.max
}

func (a *account) report() AccountReport {
	st := &a.st
	ar := AccountReport{
		SystemID: a.id, Bound: st.bound.Load(), Binds: st.binds.Load(), BindsRefused: st.bindsRefused.Load(),
		Submits: st.submits.Load(), Accepted: st.accepted.Load(), AcceptedSegments: st.segments.Load(),
		Throttled: st.throttled.Load(), ThrottledAccount: st.throttledAcct.Load(), ThrottledSource: st.throttledSrc.Load(),
		QueueFull: st.queueFull.Load(), Injected: st.injected.Load(), Unanswered: st.dropped.Load(),
		ValidityExpired: st.validityExpired.Load(),
		MaxOutstanding:  st.maxOutstanding.Load(), Receipts: st.receipts.Load(), ReceiptRetries: st.receiptRetries.Load(), MORetries: st.moRetries.Load(),
		MOSent: st.moMessages.Load(), MOParts: st.moParts.Load(), MOSkipped: st.moSkipped.Load(),
		Loopbacks: st.loopbacks.Load(), Drops: st.drops.Load(), MutedDrops: st.mutedDrops.Load(),
		ScriptErrors: st.scriptErrors.Load(),
		Statuses:     map[string]int64{}, ReceiptResps: map[string]int64{}, MOResps: map[string]int64{},
		Sources: []SourceReport{},
	}
	a.smu.Lock()
	for k, v := range a.respStatus {
		ar.Statuses[k.String()] += v
	}
	for k, v := range a.receiptResps {
		ar.ReceiptResps[k] = v
	}
	for k, v := range a.moResps {
		ar.MOResps[k] = v
	}
	a.smu.Unlock()
	a.bmu.Lock()
	ar.Backlog, ar.BacklogDropped = len(a.backlog), a.backlogDropped
	a.bmu.Unlock()
	ar.RateMode, ar.IntervalMS = RateBucket, millis(a.span)
	if a.sliding {
		ar.RateMode = RateSliding
	}
	a.mu.Lock()
	ar.MaxPerSecond, ar.MaxPerSecondAt = a.win.max, secs(a.win.at)
	ar.MaxInInterval, ar.TightestMS = a.inInterval(&a.win, &a.iwin), millis(a.lim.tight)
	if n := a.acceptedN; n > 0 {
		ar.Statuses["ESME_ROK"] = n
	}
	for _, src := range a.sources {
		ar.Sources = append(ar.Sources, SourceReport{
			Source: src.addr, Accepted: src.accepted, AcceptedSegments: src.segments, Throttled: src.throttled,
			MaxPerSecond: src.win.max, MaxPerSecondAt: secs(src.win.at),
			MaxInInterval: a.inInterval(&src.win, &src.iwin), TightestMS: millis(src.lim.tight),
		})
	}
	a.mu.Unlock()
	sort.Slice(ar.Sources, func(i, j int) bool { return ar.Sources[i].Source < ar.Sources[j].Source })
	return ar
}

// Account returns the named account's part of the report, or false.
func (r Report) Account(systemID string) (AccountReport, bool) {
	for _, a := range r.Accounts {
		if a.SystemID == systemID {
			return a, true
		}
	}
	return AccountReport{}, false
}

// Source returns one source number's part of the report, or false.
func (a AccountReport) Source(addr string) (SourceReport, bool) {
	for _, s := range a.Sources {
		if s.Source == addr {
			return s, true
		}
	}
	return SourceReport{}, false
}

// WriteFile writes the report as indented JSON, atomically (a temporary
// file renamed into place).
func (r Report) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
