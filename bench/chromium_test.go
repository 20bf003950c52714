package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// chromiumPath finds Debian's chromium. When it is missing and
// SMPPBENCH_CHROMIUM_INSTALL=1, the test installs it with apt-get (as
// root); otherwise testenv.Chromium skips (or fails, in CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := testenv.ChromiumPath(); p != "" || os.Getenv("SMPPBENCH_CHROMIUM_INSTALL") != "1" || os.Geteuid() != 0 {
		return testenv.Chromium(t, "the HTML report is not checked in a browser (or set SMPPBENCH_CHROMIUM_INSTALL=1, as root, to let this test install it)")
	}
	t.Log("installing chromium with apt-get")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "chromium"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return "/usr/bin/chromium"
}

// chartState is what the browser says of one chart.
type chartState struct {
	ID     string  `json:"id"`
	Empty  string  `json:"empty"`
	Paths  int     `json:"paths"`
	Drawn  int     `json:"drawn"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

type pageState struct {
	Charts    []chartState `json:"charts"`
	Resources int          `json:"resources"`
	Title     string       `json:"title"`
}

const inspectJS = `(() => ({
  title: document.title,
  resources: performance.getEntriesByType('resource').length,
  charts: [...document.querySelectorAll('svg.chart')].map(c => {
    const paths = [...c.querySelectorAll('path.series')];
    const drawn = paths.filter(p => { const b = p.getBBox(); return p.getTotalLength() > 0 && (b.width > 0 || b.height > 0); }).length;
    const r = c.getBoundingClientRect();
    return {id: c.id, empty: c.dataset.empty, paths: paths.length, drawn: drawn, width: r.width, height: r.height};
  }),
}))()`

// inspect loads a page in the browser and returns what it shows and every
// console message of level error (and every exception).
func inspect(ctx context.Context, url string) (pageState, []string, error) {
	tctx, cancel := chromedp.NewContext(ctx)
	defer cancel()
	// Subscribe before the page loads, so nothing is missed.
	msgs := chromedp.Console(tctx)
	var mu sync.Mutex
	var errs []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == "error" || m.Type == "assert" {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s: %s", m.Type, m.Text))
				mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(tctx, chromedp.Navigate(url)); err != nil {
		return pageState{}, nil, err
	}
	st, err := chromedp.Run(tctx, chromedp.Evaluate[pageState](inspectJS))
	if err != nil {
		return pageState{}, nil, err
	}
	time.Sleep(300 * time.Millisecond) // late console messages
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return st, errs, nil
}

// problems lists what is wrong with a rendered report.
func problems(st pageState, errs []string) []string {
	var p []string
	for _, e := range errs {
		p = append(p, "console: "+e)
	}
	if len(st.Charts) == 0 {
		p = append(p, "no chart")
	}
	for _, c := range st.Charts {
		if c.Empty != "false" || c.Paths == 0 || c.Drawn == 0 || c.Width < 100 || c.Height < 100 {
			p = append(p, fmt.Sprintf("chart %q is empty: %+v", c.ID, c))
		}
	}
	if st.Resources != 0 {
		p = append(p, fmt.Sprintf("the page fetched %d resources; it must need no network", st.Resources))
	}
	return p
}

// The HTML report renders in headless Chromium without console errors,
// needs no network, and every chart draws its lines. The same check
// catches an empty chart and a console error (the controls).
func TestReportInChromium(t *testing.T) {
	t.Parallel()
	bin := chromiumPath(t)
	dir := t.TempDir()

	sc := Defaults(ScenarioWindow, true)
	sc.Window.Duration = 300 * time.Millisecond
	rep, err := Run(context.Background(), sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every chart kind: advise-like charts too.
	rep.Charts = append(rep.Charts, Chart{ID: "extra", Title: "Percentiles", Kind: "percentile", XLabel: "percentile", YLabel: "ms",
		Series: []Series{{Name: "x", Points: rep.Latencies[0].Curve}}})
	// And the fairness scenario's, from synthetic arrivals: numbers at
	// rates of their own (10, 3, 1, 10) under an account of 12/s, so
	// there are limit lines of one number and of two, and fair shares.
	fsc := Defaults(ScenarioFairness, true)
	fsc.Fairness.AccountTPS, fsc.Fairness.Rates = 12, []float64{10, 3, 1}
	fair := newReport(fsc)
	fairnessReport(fsc, fair, measureFairness(syntheticFairness(fsc)), time.Minute)
	rep.Charts = append(rep.Charts, fair.Charts...)
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	bad := *rep
	bad.Charts = []Chart{{ID: "nothing", Title: "No data", Kind: "line", Series: []Series{{Name: "none"}}}}
	var html strings.Builder
	if err := bad.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "empty.html"), []byte(html.String()), 0o644)
	noisy := strings.Replace(readFile(t, filepath.Join(dir, "report.html")), "</body>", `<script>console.error("boom")</script></body>`, 1)
	os.WriteFile(filepath.Join(dir, "noisy.html"), []byte(noisy), 0o644)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 900))
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx); err != nil { // start the browser
		t.Fatalf("starting %s: %v", bin, err)
	}

	st, errs, err := inspect(bctx, "file://"+filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%q: %d charts: %+v", st.Title, len(st.Charts), st.Charts)
	if p := problems(st, errs); len(p) > 0 {
		t.Errorf("report.html: %s", strings.Join(p, "; "))
	}
	if len(st.Charts) != len(rep.Charts) {
		t.Errorf("%d charts in the browser, %d in the report", len(st.Charts), len(rep.Charts))
	}

	// Controls: the check sees an empty chart and a console error.
	st, errs, err = inspect(bctx, "file://"+filepath.Join(dir, "empty.html"))
	if err != nil {
		t.Fatal(err)
	}
	if p := problems(st, errs); len(p) == 0 {
		t.Error("an empty chart passed the check")
	}
	st, errs, err = inspect(bctx, "file://"+filepath.Join(dir, "noisy.html"))
	if err != nil {
		t.Fatal(err)
	}
	if p := problems(st, errs); len(p) == 0 || !strings.Contains(strings.Join(p, " "), "boom") {
		t.Errorf("a console error passed the check: %v", p)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
