package smscsim_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// Sliding-window rate limits over real sockets. The simulator decides at
// the arrival times it reads itself, which a test cannot know exactly; so
// every test records each decision with its arrival time (RecordAdmissions)
// and replays them through the definition (modelLimit): the decisions, and
// the report's max_in_interval and tightest_ms, must be what the definition
// gives for those times. The scenarios then use intervals long enough that
// "back to back" stays inside one interval on a busy machine, and waits that
// start from a response (so after the arrival) for "later".

// admissions collects the decisions of a simulator's rate limits.
type admissions struct {
	mu  sync.Mutex
	all []smscsim.Admission
}

func (r *admissions) add(a smscsim.Admission) {
	r.mu.Lock()
	r.all = append(r.all, a)
	r.mu.Unlock()
}

func (r *admissions) get() []smscsim.Admission {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]smscsim.Admission(nil), r.all...)
}

// startSliding starts a simulator whose account "acme" has rate rate
// (mode sliding) and records its decisions.
func startSliding(t *testing.T, rate smscsim.RateConfig, f func(cfg *smscsim.Config)) (*smscsim.Sim, *admissions) {
	t.Helper()
	rate.Mode = smscsim.RateSliding
	cfg := oneAccount(func(a *smscsim.AccountConfig) { a.Rate = rate })
	if f != nil {
		f(&cfg)
	}
	rec := &admissions{}
	smscsim.RecordAdmissions(&cfg, rec.add)
	return start(t, cfg), rec
}

// replay checks the recorded decisions of account "acme" against the
// definition of its limits (account n, per-source n from srcN, interval
// span) and the report's window figures against the accepted arrival
// times. It returns the verdicts in order.
func replay(t *testing.T, s *smscsim.Sim, rec *admissions, rate smscsim.RateConfig) []string {
	t.Helper()
	span := int64(rate.Interval)
	if span == 0 {
		span = int64(time.Second)
	}
	srcN := func(src string) int {
		for _, sr := range rate.Sources {
			for _, n := range sr.Numbers {
				if strings.TrimPrefix(n, "+") == src {
					return int(sr.Rate)
				}
			}
		}
		return int(rate.Source)
	}
	acct := &modelLimit{n: int(rate.Account), span: span}
	srcs := map[string]*modelLimit{}
	var verdicts []string
	for i, a := range rec.get() {
		if a.Account != "acme" {
			continue
		}
		m := srcs[a.Source]
		if m == nil {
			m = &modelLimit{n: srcN(a.Source), span: span}
			srcs[a.Source] = m
		}
		u := int64(a.At)
		// Check both before taking either: a refused submit counts nowhere.
		want := "ok"
		switch {
		case !acct.allows(u, a.Segments):
			want = "account"
		case !m.allows(u, a.Segments):
			want = "source"
		default:
			acct.take(u, a.Segments)
			m.take(u, a.Segments)
		}
		if a.Verdict != want {
			t.Errorf("decision %d: %d segments from %s at %v: %s, the definition says %s", i, a.Segments, a.Source, a.At, a.Verdict, want)
		}
		verdicts = append(verdicts, a.Verdict)
	}
	ar := report(t, s, "acme")
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	if ar.RateMode != "sliding" || ar.IntervalMS != ms(span) || ar.MaxInInterval != maxIn(acct.ts, span) || ar.TightestMS != ms(tightest(acct.ts, acct.n)) {
		t.Errorf("account: mode %s interval %vms max_in_interval %d tightest_ms %v; from the arrivals: %d, %v",
			ar.RateMode, ar.IntervalMS, ar.MaxInInterval, ar.TightestMS, maxIn(acct.ts, span), ms(tightest(acct.ts, acct.n)))
	}
	for src, m := range srcs {
		sr, ok := ar.Source(src)
		if !ok || sr.AcceptedSegments != int64(len(m.ts)) || sr.MaxInInterval != maxIn(m.ts, span) || sr.TightestMS != ms(tightest(m.ts, m.n)) {
			t.Errorf("source %s: %+v; from the arrivals: %d segments, max_in_interval %d, tightest_ms %v",
				src, sr, len(m.ts), maxIn(m.ts, span), ms(tightest(m.ts, m.n)))
		}
		if m.n > 0 && sr.MaxInInterval > int64(m.n) {
			t.Errorf("source %s: %d segments in one interval, limit %d", src, sr.MaxInInterval, m.n)
		}
	}
	if acct.n > 0 && ar.MaxInInterval > int64(acct.n) {
		t.Errorf("account: %d segments in one interval, limit %d", ar.MaxInInterval, acct.n)
	}
	return verdicts
}

// submitAll writes ps in one Write (back to back) and returns the statuses
// of their responses, in the order of ps.
func (c *client) submitAll(ps ...*smpp.SubmitSM) []smpp.Status {
	c.T.Helper()
	var buf []byte
	first := c.Seq + 1
	for _, p := range ps {
		c.Seq++
		var err error
		if buf, err = smpp.AppendPDU(buf, p, smpp.StatusOK, c.Seq); err != nil {
			c.T.Fatal(err)
		}
	}
	c.Raw(buf)
	out := make([]smpp.Status, len(ps))
	for _, ev := range c.collect(len(ps), 0, 0, ioTimeout) {
		if ev.id == smpp.SubmitSMRespID {
			out[ev.seq-first] = ev.status
		}
	}
	return out
}

func repeat(n int, p *smpp.SubmitSM) []*smpp.SubmitSM {
	out := make([]*smpp.SubmitSM, n)
	for i := range out {
		out[i] = p
	}
	return out
}

func statusCounts(sts []smpp.Status) map[smpp.Status]int {
	m := map[smpp.Status]int{}
	for _, st := range sts {
		m[st]++
	}
	return m
}

// TestSlidingExactlyN: with 3 per 10 s per source, six submit_sm back to
// back get three ESME_ROK and then 0x58; the refused ones count nowhere,
// and another source is not affected.
func TestSlidingExactlyN(t *testing.T) {
	t.Parallel()
	rate := smscsim.RateConfig{Source: 3, Interval: 10 * time.Second}
	s, rec := startSliding(t, rate, nil)
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	sts := c.submitAll(repeat(6, msg("14155550100", "447700900001", 0, "x"))...)
	want := []smpp.Status{smpp.StatusOK, smpp.StatusOK, smpp.StatusOK, smpp.StatusTHROTTLED, smpp.StatusTHROTTLED, smpp.StatusTHROTTLED}
	for i := range want {
		if sts[i] != want[i] {
			t.Fatalf("answers %v, want %v", sts, want)
		}
	}
	if sts := c.submitAll(repeat(4, msg("14155550101", "447700900001", 0, "x"))...); statusCounts(sts)[smpp.StatusOK] != 3 {
		t.Fatalf("second source: %v", sts)
	}
	replay(t, s, rec, rate)
	ar := report(t, s, "acme")
	sr, _ := ar.Source("14155550100")
	if ar.Accepted != 6 || ar.Throttled != 4 || ar.ThrottledSource != 4 || sr.Accepted != 3 || sr.Throttled != 3 || sr.MaxInInterval != 3 || sr.TightestMS != 0 {
		t.Fatalf("report %+v", ar)
	}
}

// TestSlidingOldestLeaves: with 2 per 1.5 s, after two accepted a third is
// refused until the first has left the interval; polled every 20 ms, the
// first one accepted is the first that arrived at least 1.5 s after the
// first (replay checks every poll's decision against its arrival time).
func TestSlidingOldestLeaves(t *testing.T) {
	t.Parallel()
	rate := smscsim.RateConfig{Source: 2, Interval: 1500 * time.Millisecond}
	s, rec := startSliding(t, rate, nil)
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	p := msg("14155550100", "447700900001", 0, "x")
	if sts := c.submitAll(p, p); sts[0] != smpp.StatusOK || sts[1] != smpp.StatusOK {
		t.Fatalf("first two: %v", sts)
	}
	refused := 0
	testenv.Wait(t, 15*time.Second, "the third submit to be accepted", func() bool {
		if st := c.submitAll(p)[0]; st == smpp.StatusOK {
			return true
		} else if st != smpp.StatusTHROTTLED {
			t.Fatalf("poll: %v", st)
		}
		refused++
		return false
	}, func() string { return fmt.Sprintf("still refused after %d polls", refused) })
	if refused == 0 {
		t.Fatal("the third was accepted at once")
	}
	replay(t, s, rec, rate)
	adm := rec.get()
	first, last := adm[0].At, adm[len(adm)-1].At
	if d := last - first; d < rate.Interval {
		t.Fatalf("accepted %v after the first", d)
	}
	if d := adm[len(adm)-2].At - first; d >= rate.Interval {
		t.Fatalf("the last refusal came %v after the first", d)
	}
	t.Logf("%d polls refused; accepted %v after the first", refused, last-first)
}

// TestSlidingSourceOverrides: 1 per 10 s per long code, 3 for the
// toll-free number (given with '+'), 0 (none) for a short code.
func TestSlidingSourceOverrides(t *testing.T) {
	t.Parallel()
	rate := smscsim.RateConfig{Source: 1, Interval: 10 * time.Second, Sources: []smscsim.SourceRate{
		{Numbers: []string{"+18005550100"}, Rate: 3},
		{Numbers: []string{"12345"}, Rate: 0},
	}}
	s, rec := startSliding(t, rate, nil)
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	var ps []*smpp.SubmitSM
	for range 5 {
		for _, src := range []string{"14155550100", "14155550101", "18005550100", "12345"} {
			ps = append(ps, msg(src, "447700900001", 0, "x"))
		}
	}
	c.submitAll(ps...)
	replay(t, s, rec, rate)
	ar := report(t, s, "acme")
	for src, want := range map[string]int64{"14155550100": 1, "14155550101": 1, "18005550100": 3, "12345": 5} {
		sr, ok := ar.Source(src)
		if !ok || sr.Accepted != want || sr.Throttled != 5-want || sr.MaxInInterval != want {
			t.Errorf("source %s: %+v, want %d accepted", src, sr, want)
		}
	}
}

// TestSlidingAccountAcrossBinds: the account's window (5 per 10 s) counts
// every source on every bind; each source also has its own (2 per 10 s).
// Two binds send from four sources, interleaved.
func TestSlidingAccountAcrossBinds(t *testing.T) {
	t.Parallel()
	rate := smscsim.RateConfig{Account: 5, Source: 2, Interval: 10 * time.Second}
	s, rec := startSliding(t, rate, nil)
	c1 := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	c2 := dial(t, s.Addr("")).mustBind(smpp.BindTransmitter)
	// Three from one source per bind and round: 2 + 2 accepted, 1 + 1
	// refused by the source; then 1 accepted and the account is full.
	var ok int
	for round := range 3 {
		for i, c := range []*client{c1, c2} {
			src := []string{"14155550100", "14155550101", "14155550102", "14155550103"}[(round+i*2)%4]
			ok += statusCounts(c.submitAll(repeat(3, msg(src, "447700900001", 0, "x"))...))[smpp.StatusOK]
		}
	}
	verdicts := replay(t, s, rec, rate)
	ar := report(t, s, "acme")
	if ok != 5 || ar.Accepted != 5 || ar.MaxInInterval != 5 || ar.ThrottledSource != 2 || ar.ThrottledAccount != 11 || len(verdicts) != 18 {
		t.Fatalf("%d accepted; report %+v", ok, ar)
	}
	for _, sr := range ar.Sources {
		if sr.MaxInInterval > 2 {
			t.Errorf("source %+v", sr)
		}
	}
}

// TestSlidingMessagePayload: a text sent whole in message_payload counts
// the segments it needs, at the source (3 per 10 s) and at the account (5
// per 10 s); a request of more segments than the limit never passes. The
// message log gives each accepted submit_sm its arrival time, exactly the
// one the limits used, and its segments.
func TestSlidingMessagePayload(t *testing.T) {
	t.Parallel()
	rate := smscsim.RateConfig{Account: 5, Source: 3, Interval: 10 * time.Second}
	logPath := filepath.Join(t.TempDir(), "log.jsonl")
	s, rec := startSliding(t, rate, func(cfg *smscsim.Config) { cfg.Log = logPath })
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	payload := func(src string, chars int) *smpp.SubmitSM {
		p := msg(src, "447700900001", 0, "")
		p.TLVs = smpp.AppendTLV(nil, smpp.TagMessagePayload, []byte(strings.Repeat("a", chars)))
		return p
	}
	a2, a1 := payload("14155550100", 300), msg("14155550100", "447700900001", 0, "x") // 2 segments of 153, 1
	b2, b1, b4 := payload("14155550101", 300), msg("14155550101", "447700900001", 0, "x"), payload("14155550102", 600)
	sts := c.submitAll(a2, a2, a1, a1, b2, b1, b4)
	want := []smpp.Status{smpp.StatusOK, smpp.StatusTHROTTLED, smpp.StatusOK, smpp.StatusTHROTTLED, smpp.StatusOK, smpp.StatusTHROTTLED, smpp.StatusTHROTTLED}
	for i := range want {
		if sts[i] != want[i] {
			t.Fatalf("answers %v, want %v", sts, want)
		}
	}
	verdicts := replay(t, s, rec, rate)
	if strings.Join(verdicts, ",") != "ok,source,ok,source,ok,account,account" {
		t.Fatalf("verdicts %v", verdicts)
	}
	ar := report(t, s, "acme")
	sa, _ := ar.Source("14155550100")
	if ar.AcceptedSegments != 5 || ar.MaxInInterval != 5 || sa.AcceptedSegments != 3 || sa.MaxInInterval != 3 || ar.ThrottledAccount != 2 {
		t.Fatalf("report %+v", ar)
	}
	started := s.Report().Started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var accepted []smscsim.Admission
	for _, a := range rec.get() {
		if a.Verdict == "ok" {
			accepted = append(accepted, a)
		}
	}
	sc := bufio.NewScanner(f)
	i := 0
	for ; sc.Scan(); i++ {
		var line struct {
			T        string `json:"t"`
			Src      string `json:"src"`
			Segments int    `json:"segments"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		at, err := time.Parse(time.RFC3339Nano, line.T)
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(accepted) || at.Sub(started) != accepted[i].At || line.Src != accepted[i].Source || line.Segments != accepted[i].Segments {
			t.Fatalf("log line %d %s: arrival %v; admissions %+v", i, sc.Text(), at.Sub(started), accepted)
		}
	}
	if i != 3 {
		t.Fatalf("%d log lines", i)
	}
}

// TestSlidingTightest: 1 per second per source and 2 per second for the
// account; three submit_sm each sent 1.05 s after the previous one's
// response (so arriving more than 1.05 s after it) are all accepted, and
// the report says how close they came: the source's tightest spacing is at
// least 1050 ms and the account's (three segments: t[2] − t[0]) at least
// 2100 ms, exactly as the arrival times give.
func TestSlidingTightest(t *testing.T) {
	t.Parallel()
	rate := smscsim.RateConfig{Account: 2, Source: 1}
	s, rec := startSliding(t, rate, nil)
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	for i := range 3 {
		if i > 0 {
			time.Sleep(1050 * time.Millisecond)
		}
		if st := c.submitAll(msg("14155550100", "447700900001", 0, "x"))[0]; st != smpp.StatusOK {
			t.Fatalf("submit %d: %v", i, st)
		}
	}
	replay(t, s, rec, rate)
	ar := report(t, s, "acme")
	sr, _ := ar.Source("14155550100")
	adm := rec.get()
	gaps := []time.Duration{adm[1].At - adm[0].At, adm[2].At - adm[1].At}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	if sr.MaxInInterval != 1 || sr.TightestMS < 1050 || sr.TightestMS != float64(gaps[0])/1e6 ||
		ar.MaxInInterval != 1 || ar.TightestMS < 2100 || ar.TightestMS != float64(adm[2].At-adm[0].At)/1e6 {
		t.Fatalf("account %+v; gaps %v", ar, gaps)
	}
	t.Logf("tightest: source %.3f ms, account %.3f ms", sr.TightestMS, ar.TightestMS)
}
