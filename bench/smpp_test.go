package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The window sweep's short mode: each point reaches a sane share of its
// W/RTT limit, every submit is answered, and the recommendation is the
// smallest window that carries the target.
func TestWindowShort(t *testing.T) {
	t.Parallel()
	sc := Defaults(ScenarioWindow, true)
	sc.Out = t.TempDir()
	rep, err := Run(context.Background(), sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("checks failed: %+v", rep.Checks)
	}
	res := rep.Results.(*WindowResults)
	if len(res.Points) != len(sc.Window.Windows)*len(sc.Window.Latencies) {
		t.Fatalf("%d points", len(res.Points))
	}
	for _, pt := range res.Points {
		t.Logf("RTT %v W=%d: %.0f msgs/s, %.1f%% of W/RTT, %.1f%% of W/measured RTT (mean %.2f ms)",
			pt.LatencyMS, pt.Window, pt.Rate, pt.EfficiencyConfigured, pt.EfficiencyMeasured, pt.MeanRTTMS)
		// Against the configured RTT only the ceiling is a property of
		// the window (a loaded machine adds to every round trip: CI saw
		// 48 % at a measured RTT of 41 ms for 20 configured); the measured
		// RTT's efficiency below is the check of the window itself.
		if pt.EfficiencyConfigured <= 0 || pt.EfficiencyConfigured > 110 {
			t.Errorf("W=%d: efficiency %.1f%% against the configured RTT, want at most 110%%", pt.Window, pt.EfficiencyConfigured)
		}
		if pt.EfficiencyMeasured < 50 || pt.EfficiencyMeasured > 110 {
			t.Errorf("W=%d: efficiency %.1f%% against the measured RTT, want 50–110%%", pt.Window, pt.EfficiencyMeasured)
		}
		if pt.MeanRTTMS < pt.LatencyMS {
			t.Errorf("W=%d: mean RTT %.2f ms below the configured %v ms", pt.Window, pt.MeanRTTMS, pt.LatencyMS)
		}
	}
	rec := res.Recommendations[0]
	if rec.Window == 0 || rec.Rate < 0.95*sc.Window.TPS {
		t.Fatalf("recommendation %+v", rec)
	}
	for _, pt := range res.Points {
		if pt.Window < rec.Window && pt.Rate >= 0.95*sc.Window.TPS {
			t.Errorf("window %d already reached the target, but %d was recommended", pt.Window, rec.Window)
		}
	}
	checkFiles(t, sc.Out)
}

// checkFiles reads what --out wrote back: the JSON decodes, its HDR
// histograms decode, scenario.yaml loads as the same scenario.
func checkFiles(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Machine   Machine   `json:"machine"`
		Latencies []Summary `json:"latencies"`
		Scenario  string    `json:"scenario"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Machine.Cores == 0 || rep.Machine.GoVersion == "" {
		t.Errorf("machine not recorded: %+v", rep.Machine)
	}
	for _, l := range rep.Latencies {
		if l.Count == 0 {
			continue
		}
		h, err := decodeHDR(l.HDR)
		if err != nil {
			t.Fatalf("%s: %v", l.Name, err)
		}
		if h.TotalCount() != l.Count {
			t.Errorf("%s: the encoded histogram holds %d values, want %d", l.Name, h.TotalCount(), l.Count)
		}
	}
	sc, err := LoadScenario(filepath.Join(dir, "scenario.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Scenario != rep.Scenario {
		t.Errorf("scenario.yaml is a %q scenario", sc.Scenario)
	}
	for _, f := range []string{"report.html", "summary.txt"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func decodeHDR(s string) (*hdrhistogram.Histogram, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return hdrhistogram.Decode(b)
}

// advise against a simulator with cloudhopper-smpp#39's latency mix (80%
// 10 ms, 15% 100 ms, 5% 1 s): the distribution is measured, the
// recommendation follows from it, the probe stays within its bounds and
// the session unbinds.
func TestAdviseLatencyMix(t *testing.T) {
	t.Parallel()
	sc := Defaults(ScenarioAdvise, true)
	sc.Out = t.TempDir()
	sc.Advise.Count, sc.Advise.Rate, sc.Advise.ProbeWindow = 80, 40, 8
	start := time.Now()
	rep, err := Run(context.Background(), sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("checks failed: %+v", rep.Checks)
	}
	res := rep.Results.(*AdviseResults)
	t.Logf("RTT mean %.1f p50 %.1f p95 %.1f p99 %.1f ms; %d binds × window %d (total %d) for %v/s; took %v",
		res.RTT.MeanMS, res.RTT.P50MS, res.RTT.P95MS, res.RTT.P99MS, res.Binds, res.Window, res.TotalWindow, res.TPS, time.Since(start))
	if res.Sent != int64(sc.Advise.Count) || res.Answered != res.Sent {
		t.Fatalf("sent %d answered %d", res.Sent, res.Answered)
	}
	if res.RTT.P50MS < 10 || res.RTT.P50MS > 60 {
		t.Errorf("p50 %.1f ms; 80%% of answers take 10 ms", res.RTT.P50MS)
	}
	if res.RTT.P95MS < 100 {
		t.Errorf("p95 %.1f ms; 20%% of answers take 100 ms or more", res.RTT.P95MS)
	}
	// Little's law, with the headroom: binds × window carry the target at
	// the mean response time.
	mean := res.RTT.MeanMS / 1000
	if float64(res.Binds*res.Window) < res.TPS*mean || res.Expected < res.TPS {
		t.Errorf("%d × %d carries %.0f/s, below %.0f/s at %.1f ms", res.Binds, res.Window, res.Expected, res.TPS, res.RTT.MeanMS)
	}
	if float64(res.Window) > 3*res.TPS/float64(res.Binds) || res.Window > sc.Advise.MaxWindow || res.Binds > sc.Advise.MaxBinds {
		t.Errorf("window %d × %d binds beyond the caps", res.Window, res.Binds)
	}
	if res.ProbeRate > sc.Advise.Rate*1.1 {
		t.Errorf("probed at %.1f/s, more than %v/s", res.ProbeRate, sc.Advise.Rate)
	}
	if !res.Unbound {
		t.Errorf("did not unbind cleanly: %s", res.UnbindErr)
	}
	checkFiles(t, sc.Out)
}

// enquire_link probes send no message.
func TestAdviseEnquireLink(t *testing.T) {
	t.Parallel()
	sc := Defaults(ScenarioAdvise, true)
	sc.Advise.Probe, sc.Advise.Count, sc.Advise.Rate = "enquire_link", 20, 50
	rep, err := Run(context.Background(), sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Results.(*AdviseResults)
	if !rep.OK() || res.Answered != 20 || res.Window < 1 {
		t.Fatalf("checks %+v, results %+v", rep.Checks, res)
	}
}

func TestLatencyQuantiles(t *testing.T) {
	l := NewLatency()
	for i := 1; i <= 1000; i++ {
		l.Record(time.Duration(i) * time.Millisecond)
	}
	s := l.Summarize("x")
	if s.Count != 1000 || s.P50MS < 499 || s.P50MS > 501 || s.P99MS < 989 || s.P99MS > 991 || s.MaxMS < 999 {
		t.Fatalf("%+v", s)
	}
	h, err := decodeHDR(s.HDR)
	if err != nil || h.TotalCount() != 1000 {
		t.Fatalf("decode: %v", err)
	}
}
