package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Report is what a run found, in the form report.json holds; summary.txt
// and report.html are renderings of it.
type Report struct {
	Tool     string    `json:"tool"`
	Scenario string    `json:"scenario"`
	Title    string    `json:"title"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Seconds  float64   `json:"seconds"`
	// Against says what was measured: "smscsim (in-process)", an SMSC's
	// address, the engine processes started.
	Against string `json:"against"`
	// Parameters is the scenario as its file writes it (ScenarioYAML
	// parsed), and ScenarioYAML the file itself: run it again with
	// --scenario to repeat the run.
	Parameters   map[string]any `json:"parameters"`
	ScenarioYAML string         `json:"scenario_yaml"`
	Machine      Machine        `json:"machine"`

	// Summary holds the headline numbers.
	Summary []Metric `json:"summary"`
	// Tables hold the detail (per window point, per number, per stage).
	Tables    []Table   `json:"tables"`
	Latencies []Summary `json:"latencies"`
	Charts    []Chart   `json:"charts"`
	// Checks are what must hold for the run to count (violations 0, every
	// message final, ...); a failed one makes smppbench exit 1.
	Checks          []Check  `json:"checks"`
	Recommendations []string `json:"recommendations,omitempty"`
	Notes           []string `json:"notes,omitempty"`
	// Results holds the scenario's own typed results (WindowResults, ...).
	Results any `json:"results"`
	// CPU is the CPU time of the measured run by process (e2e, inbound).
	CPU *CPUSplit `json:"cpu,omitempty"`
}

// Metric is one headline number.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
}

// Table is a titled table of text cells.
type Table struct {
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// Check is one condition the run must meet.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Chart is a chart of the HTML report: series of (x, y) points.
type Chart struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	XLabel string `json:"x_label"`
	YLabel string `json:"y_label"`
	// Kind: "line", or "percentile" (x is a percentile, drawn on the
	// 1/(1-p) scale HDR plots use).
	Kind   string   `json:"kind"`
	LogX   bool     `json:"log_x,omitempty"`
	LogY   bool     `json:"log_y,omitempty"`
	Series []Series `json:"series"`
}

// Series is one line of a chart. Dashed lines are limits and references.
type Series struct {
	Name   string       `json:"name"`
	Points [][2]float64 `json:"points"`
	Dashed bool         `json:"dashed,omitempty"`
	// Group pairs a measured line with its limit: same colour.
	Group int `json:"group"`
}

// Machine describes where the run ran.
type Machine struct {
	Hostname   string     `json:"hostname"`
	OS         string     `json:"os"`
	Arch       string     `json:"arch"`
	CPU        string     `json:"cpu"`
	Cores      int        `json:"cores"`
	GOMAXPROCS int        `json:"gomaxprocs"`
	GoVersion  string     `json:"go_version"`
	MemoryGiB  float64    `json:"memory_gib"`
	LoadStart  [3]float64 `json:"load_avg_start"`
	LoadEnd    [3]float64 `json:"load_avg_end"`
}

// thisMachine describes the machine now (the load average at the end is
// filled in by finish).
func thisMachine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	m.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemoryGiB = math.Round(kb/1024/1024*10) / 10
			}
		}
	}
	m.LoadStart = loadAvg()
	return m
}

func loadAvg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// newReport starts a report for a scenario.
func newReport(sc Scenario) *Report {
	title := sc.Title
	if title == "" {
		title = "smppbench " + sc.Scenario
		if sc.Short {
			title += " (short mode)"
		}
	}
	y := sc.YAML()
	params := map[string]any{}
	_ = yaml.Unmarshal(y, &params)
	return &Report{Tool: "smppbench", Scenario: sc.Scenario, Title: title, Started: time.Now(),
		Parameters: params, ScenarioYAML: string(y), Machine: thisMachine()}
}

func (r *Report) finish() {
	r.Finished = time.Now()
	r.Seconds = math.Round(r.Finished.Sub(r.Started).Seconds()*100) / 100
	r.Machine.LoadEnd = loadAvg()
}

func (r *Report) metric(name string, v float64, unit string) {
	r.Summary = append(r.Summary, Metric{Name: name, Value: round3(v), Unit: unit})
}

func (r *Report) check(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// OK reports whether every check passed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Metric returns a headline number by name.
func (r *Report) Metric(name string) (float64, bool) {
	for _, m := range r.Summary {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

func round3(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	if math.Abs(v) >= 100 {
		return math.Round(v*10) / 10
	}
	return math.Round(v*1000) / 1000
}

// WriteFiles writes report.json, report.html, summary.txt and
// scenario.yaml into dir (made if missing).
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	var html, txt bytes.Buffer
	if err := r.WriteHTML(&html); err != nil {
		return err
	}
	r.WriteText(&txt)
	for name, b := range map[string][]byte{
		"report.json": append(js, '\n'), "report.html": html.Bytes(), "summary.txt": txt.Bytes(),
		"scenario.yaml": []byte(r.ScenarioYAML),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteText writes the summary: headline numbers, tables, latencies,
// checks and recommendations, as aligned plain text.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%s\n%s\n", r.Title, strings.Repeat("=", len([]rune(r.Title))))
	fmt.Fprintf(w, "against %s; %s, %.1f s\n", r.Against, r.Started.Format(time.RFC3339), r.Seconds)
	m := r.Machine
	fmt.Fprintf(w, "machine: %d cores (GOMAXPROCS %d), %s, %s; load avg %.2f at start, %.2f at end\n\n",
		m.Cores, m.GOMAXPROCS, m.CPU, m.GoVersion, m.LoadStart[0], m.LoadEnd[0])
	if len(r.Summary) > 0 {
		rows := make([][]string, len(r.Summary))
		for i, s := range r.Summary {
			rows[i] = []string{s.Name, formatNum(s.Value), s.Unit}
		}
		writeTable(w, Table{Title: "Summary", Columns: []string{"", "value", "unit"}, Rows: rows})
	}
	for _, t := range r.Tables {
		writeTable(w, t)
	}
	if len(r.Latencies) > 0 {
		writeTable(w, latencyTable(r.Latencies))
	}
	if len(r.Recommendations) > 0 {
		fmt.Fprintln(w, "Recommendations")
		for _, s := range r.Recommendations {
			fmt.Fprintf(w, "  - %s\n", s)
		}
		fmt.Fprintln(w)
	}
	if len(r.Checks) > 0 {
		fmt.Fprintln(w, "Checks")
		for _, c := range r.Checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "  %s %s: %s\n", mark, c.Name, c.Detail)
		}
		fmt.Fprintln(w)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func latencyTable(ls []Summary) Table {
	t := Table{Title: "Latency (ms, HDR histograms)", Columns: []string{"", "count", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"}}
	for _, l := range ls {
		t.Rows = append(t.Rows, []string{l.Name, strconv.FormatInt(l.Count, 10), formatNum(l.MeanMS), formatNum(l.P50MS),
			formatNum(l.P90MS), formatNum(l.P95MS), formatNum(l.P99MS), formatNum(l.P999MS), formatNum(l.MaxMS)})
	}
	return t
}

func writeTable(w io.Writer, t Table) {
	if t.Title != "" {
		fmt.Fprintln(w, t.Title)
	}
	widths := make([]int, len(t.Columns))
	for i, c := range t.Columns {
		widths[i] = len([]rune(c))
	}
	for _, row := range t.Rows {
		for i, c := range row {
			if i < len(widths) && len([]rune(c)) > widths[i] {
				widths[i] = len([]rune(c))
			}
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString(" ")
		for i, c := range cells {
			if i >= len(widths) {
				break
			}
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i == 0 || !numeric(c) {
				b.WriteString(" " + c + pad + " ")
			} else {
				b.WriteString(" " + pad + c + " ")
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(t.Columns)
	var sep []string
	for _, n := range widths {
		sep = append(sep, strings.Repeat("-", n))
	}
	line(sep)
	for _, row := range t.Rows {
		line(row)
	}
	fmt.Fprintln(w)
}

func numeric(s string) bool {
	s = strings.TrimSuffix(strings.TrimSuffix(s, "%"), "/s")
	_, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	return err == nil
}

// formatNum writes a number with as many decimals as it deserves.
func formatNum(v float64) string {
	a := math.Abs(v)
	switch {
	case v == math.Trunc(v) && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Meter counts events over time in buckets, for throughput-over-time
// charts. It is safe for concurrent use.
type Meter struct {
	start time.Time
	width time.Duration
	mu    sync.Mutex
	n     []int64
}

// NewMeter starts a meter now with buckets of width.
func NewMeter(width time.Duration) *Meter { return &Meter{start: time.Now(), width: width} }

// Add counts n events now.
func (m *Meter) Add(n int64) { m.AddAt(time.Now(), n) }

// AddAt counts n events at t.
func (m *Meter) AddAt(t time.Time, n int64) {
	i := int(t.Sub(m.start) / m.width)
	if i < 0 {
		i = 0
	}
	m.mu.Lock()
	for len(m.n) <= i {
		m.n = append(m.n, 0)
	}
	m.n[i] += n
	m.mu.Unlock()
}

// Series returns (seconds since start, events/s) points, averaged over
// buckets so there are at most maxPoints.
func (m *Meter) Series(maxPoints int) [][2]float64 {
	m.mu.Lock()
	n := append([]int64(nil), m.n...)
	m.mu.Unlock()
	group := 1
	for len(n)/group > maxPoints {
		group++
	}
	var pts [][2]float64
	w := m.width.Seconds() * float64(group)
	for i := 0; i < len(n); i += group {
		var sum int64
		for j := i; j < i+group && j < len(n); j++ {
			sum += n[j]
		}
		pts = append(pts, [2]float64{round3(float64(i) * m.width.Seconds()), round3(float64(sum) / w)})
	}
	return pts
}
