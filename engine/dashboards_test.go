package engine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/routing"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

const (
	dashboardPath = "../configs/grafana/switchboard.json"
	alertsPath    = "../configs/prometheus/alerts.yml"
)

// prometheusOwn are the series Prometheus makes itself rather than scrapes.
var prometheusOwn = map[string]bool{"up": true}

var metricName = regexp.MustCompile(`\b(switchboard_[a-z0-9_]+|up)\b`)

// dashboardExprs returns every query of the Grafana dashboard (panel
// targets and templating queries).
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(d)
	return out
}

// alertExprs returns every rule expression of the alert rules.
func alertExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", alertsPath, err)
	}
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, r.Expr)
		}
	}
	return out
}

// scrape reads /metrics: each series' name (histograms as their _bucket,
// _sum and _count series) and the value of each whole series line.
func scrape(t *testing.T, base string) (names map[string]bool, values map[string]float64) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	names, values = map[string]bool{}, map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		series := line[:i]
		v, _ := strconv.ParseFloat(line[i+1:], 64)
		values[series] = v
		if j := strings.IndexByte(series, '{'); j >= 0 {
			series = series[:j]
		}
		names[series] = true
	}
	return names, values
}

// TestDashboardAndAlertMetricsExported: every metric the Grafana dashboard
// and the alert rules name is exported at /metrics by a running engine.
// Some series appear only with traffic, so the test makes it: a refusal
// (switchboard_carrier_refusals_total has a series per refused number), a
// message submitted (the latency histogram counts it) and a message
// pending (the per-number queue series exist only for numbers with pending
// messages). The values that mean something are checked too.
func TestDashboardAndAlertMetricsExported(t *testing.T) {
	t.Parallel()
	used := map[string][]string{}
	for _, e := range dashboardExprs(t) {
		for _, m := range metricName.FindAllString(e, -1) {
			used[m] = append(used[m], dashboardPath)
		}
	}
	for _, e := range alertExprs(t) {
		for _, m := range metricName.FindAllString(e, -1) {
			used[m] = append(used[m], alertsPath)
		}
	}
	if len(used) < 20 {
		t.Fatalf("found only %d metric names in the dashboard and the rules: %v", len(used), used)
	}

	srv := smpptest.Start(t, smpptest.Config{})
	// The held message below times out and is sent again, pending all
	// along; the engine's shutdown waits for no response longer than this.
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), srv.Addr(), func(c *config.Config) {
		c.Carriers[0].ResponseTimeout = config.Duration(2 * time.Second)
	}))
	const number = "+14155550123"
	ws := testenv.Seed(t, te.store, number)
	ctx := context.Background()
	send := func(text string) inbox.MessageID {
		t.Helper()
		res, err := te.store.Enqueue(ctx, []inbox.OutboundRequest{{Workspace: ws, To: "+447911123456", Body: text, Encoding: "GSM7", Segments: 1}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
		te.dispatcher.Kick()
		return res[0].ID
	}
	// One refusal, then accepted on the retry.
	srv.FailNext(1, smpp.StatusTHROTTLED)
	testenv.WaitStatus(t, te.store, ws, send("refused once"), inbox.StatusSubmitted)
	// One pending: the carrier holds its answer (the bind gives up after
	// 2 s and the message is sent again).
	srv.SetLatency(time.Minute)
	send("held")
	testenv.Eventually(t, "the held message reaches the carrier", func() bool { return srv.Stats().Submits >= 3 })

	names, values := scrape(t, te.url)
	var missing []string
	for m, where := range used {
		if !names[m] && !names[m+"_bucket"] && !prometheusOwn[m] {
			missing = append(missing, m+" (named in "+strings.Join(dedupe(where), ", ")+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("not exported at /metrics: %s", m)
	}
	want := map[string]float64{
		`switchboard_postgres_up`: 1,
		`switchboard_redis_up`:    1,
		`switchboard_number_queue_messages{carrier="sim",number="` + number + `"}`:                     1,
		`switchboard_number_queue_segments{carrier="sim",number="` + number + `"}`:                     1,
		`switchboard_number_rate{carrier="sim",number="` + number + `"}`:                               100,
		`switchboard_message_submit_seconds_count`:                                                     1,
		`switchboard_carrier_refusals_total{carrier="sim",number="` + number + `",status="throttled"}`: 1,
	}
	for series, v := range want {
		if got, ok := values[series]; !ok || got != v {
			t.Errorf("%s = %v (exported: %v), want %v", series, got, ok, v)
		}
	}
	if v := values[`switchboard_number_effective_rate{carrier="sim",number="`+number+`"}`]; v <= 0 || v > 100 {
		t.Errorf("switchboard_number_effective_rate = %v, want within (0, 100]", v)
	}
	if v := values[`switchboard_number_queue_oldest_seconds{carrier="sim",number="`+number+`"}`]; v <= 0 || v > 60 {
		t.Errorf("switchboard_number_queue_oldest_seconds = %v, want the held message's age", v)
	}
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// TestObserveSubmitted: a message counts once, when its last part is
// accepted; refusals and earlier parts do not count.
func TestObserveSubmitted(t *testing.T) {
	h := newSubmitLatency()
	q := time.Now().Add(-3 * time.Second)
	observeSubmitted(h, []routing.SegmentResult{
		{Message: 1, Segment: 0, Parts: 1, Outcome: routing.Accepted, Queued: q},
		{Message: 2, Segment: 0, Parts: 2, Outcome: routing.Accepted, Queued: q},
		{Message: 2, Segment: 1, Parts: 2, Outcome: routing.Accepted, Queued: q},
		{Message: 3, Segment: 0, Parts: 1, Outcome: routing.Retryable, Queued: q},
		{Message: 4, Segment: 0, Parts: 0, Outcome: routing.Accepted, Queued: q}, // Parts 0: one part
		{Message: 5, Segment: 0, Parts: 1, Outcome: routing.Accepted},            // no time: not counted
	})
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetHistogram().GetSampleCount(); n != 3 {
		t.Fatalf("observed %d messages, want 3 (1, 2 and 4)", n)
	}
	if s := m.GetHistogram().GetSampleSum(); s < 9 || s > 10 {
		t.Errorf("sum %v s, want about 3 × 3 s", s)
	}
}

// BenchmarkObserveSubmitted is the latency metric's cost per submit result
// on the dispatcher's path (a batch of 200, every one a last part).
func BenchmarkObserveSubmitted(b *testing.B) {
	h := newSubmitLatency()
	rs := make([]routing.SegmentResult, 200)
	for i := range rs {
		rs[i] = routing.SegmentResult{Message: int64(i), Parts: 1, Outcome: routing.Accepted, Queued: time.Now().Add(-time.Duration(i) * time.Millisecond)}
	}
	b.ResetTimer()
	for range b.N {
		observeSubmitted(h, rs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rs)), "ns/result")
}
