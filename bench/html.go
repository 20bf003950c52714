package bench

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and inline SVG charts drawn here, no script, nothing fetched.
func (r *Report) WriteHTML(w io.Writer) error {
	charts := make([]template.HTML, 0, len(r.Charts))
	for _, c := range r.Charts {
		charts = append(charts, template.HTML(renderChart(c))) // built from escaped parts only
	}
	tables := append([]Table(nil), r.Tables...)
	if len(r.Latencies) > 0 {
		tables = append(tables, latencyTable(r.Latencies))
	}
	return reportTemplate.Execute(w, struct {
		*Report
		ChartSVG  []template.HTML
		AllTables []Table
		Generated string
	}{r, charts, tables, r.Finished.Format(time.RFC1123)})
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"num":     formatNum,
	"numeric": numeric,
	"loadavg": func(l [3]float64) string { return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]) },
	"passed": func(cs []Check) int {
		n := 0
		for _, c := range cs {
			if c.OK {
				n++
			}
		}
		return n
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; margin: 0; background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 30px 0 10px; border-bottom: 1px solid #d8dce3; padding-bottom: 4px; }
.sub { color: #5b6475; margin: 0 0 18px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 8px 14px; min-width: 150px; }
.card .v { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .n { color: #5b6475; font-size: 12px; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #dde1e8; padding: 4px 9px; text-align: left; }
th { background: #eef1f5; font-weight: 600; }
td.num { text-align: right; }
.ok { color: #18794e; font-weight: 600; }
.fail { color: #c4320a; font-weight: 600; }
ul.checks { list-style: none; padding: 0; }
ul.checks li { margin: 3px 0; }
pre { background: #fff; border: 1px solid #dde1e8; padding: 10px; overflow-x: auto; font-size: 12px; }
figure { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; margin: 12px 0; padding: 8px; }
figure svg { width: 100%; height: auto; display: block; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
@media (max-width: 800px) { .grid { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p class="sub">Scenario <b>{{.Scenario}}</b> against {{.Against}} · {{.Generated}} · {{num .Seconds}} s
{{if .Checks}} · checks: {{passed .Checks}}/{{len .Checks}} passed{{end}}</p>

{{if .Summary}}<h2>Summary</h2>
<div class="cards">{{range .Summary}}<div class="card"><div class="v">{{num .Value}}{{if .Unit}} <small>{{.Unit}}</small>{{end}}</div><div class="n">{{.Name}}</div></div>{{end}}</div>{{end}}

{{if .Checks}}<h2>Checks</h2>
<ul class="checks">{{range .Checks}}<li>{{if .OK}}<span class="ok">✔ pass</span>{{else}}<span class="fail">✘ FAIL</span>{{end}} <b>{{.Name}}</b>: {{.Detail}}</li>{{end}}</ul>{{end}}

{{if .Recommendations}}<h2>Recommendations</h2>
<ul>{{range .Recommendations}}<li>{{.}}</li>{{end}}</ul>{{end}}

{{if .ChartSVG}}<h2>Charts</h2>
{{range .ChartSVG}}<figure>{{.}}</figure>
{{end}}{{end}}

{{range .AllTables}}<h2>{{.Title}}</h2>
<table><thead><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range $i, $c := .}}<td{{if and $i (numeric $c)}} class="num"{{end}}>{{$c}}</td>{{end}}</tr>{{end}}</tbody></table>
{{end}}

{{if .Notes}}<h2>Notes</h2><ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}

<div class="grid">
<div><h2>Machine</h2>
<table>
<tr><th>cores</th><td class="num">{{.Machine.Cores}} (GOMAXPROCS {{.Machine.GOMAXPROCS}})</td></tr>
<tr><th>CPU</th><td>{{.Machine.CPU}}</td></tr>
<tr><th>memory</th><td class="num">{{num .Machine.MemoryGiB}} GiB</td></tr>
<tr><th>Go</th><td>{{.Machine.GoVersion}} {{.Machine.OS}}/{{.Machine.Arch}}</td></tr>
<tr><th>host</th><td>{{.Machine.Hostname}}</td></tr>
<tr><th>load avg at start</th><td>{{loadavg .Machine.LoadStart}}</td></tr>
<tr><th>load avg at end</th><td>{{loadavg .Machine.LoadEnd}}</td></tr>
</table></div>
<div><h2>Parameters</h2>
<pre>{{.ScenarioYAML}}</pre>
<p class="sub">Run again: <code>smppbench --scenario scenario.yaml</code></p></div>
</div>
</main>
</body>
</html>
`))

// Chart geometry, in SVG user units.
const (
	chartW, chartH                       = 760, 380
	padLeft, padRight, padTop, padBottom = 72, 20, 34, 58
	legendLine                           = 16
)

// palette colours series by group; the first eight are the usual ones,
// the rest keep the lines of a chart with many series (one per number)
// apart.
var palette = []string{"#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563",
	"#65a30d", "#92400e", "#be123c", "#4338ca", "#0f766e", "#a21caf"}

// renderChart draws a chart as an inline SVG element: axes with ticks and
// labels, one path per series (class "series", data-points its count),
// and a legend. A chart without points says so (data-empty="true").
func renderChart(c Chart) string {
	esc := template.HTMLEscapeString
	series, total, r := plotPoints(c)
	cols := legendColumns(c)
	legendRows := (len(c.Series) + cols - 1) / cols
	height := chartH + legendRows*legendLine
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" data-points="%d" data-empty="%v" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">`,
		esc(c.ID), total, total == 0, chartW, height, esc(c.Title))
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15" font-weight="600" fill="#1d2330">%s</text>`, padLeft, esc(c.Title))
	pl := plotArea{x0: float64(padLeft), y0: float64(padTop), w: float64(chartW - padLeft - padRight), h: float64(chartH - padTop - padBottom)}
	if total == 0 {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#c9ced8"/>`, padLeft, padTop, pl.w, pl.h)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle" fill="#5b6475">no data</text></svg>`, pl.x0+pl.w/2, pl.y0+pl.h/2)
		return b.String()
	}
	xt, yt := pl.scale(c, r)
	drawGrid(&b, c, pl, xt, yt)
	// Axis labels.
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#1d2330">%s</text>`, pl.x0+pl.w/2, pl.y0+pl.h+38, esc(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle" fill="#1d2330">%s</text>`, pl.y0+pl.h/2, esc(c.YLabel))
	drawSeries(&b, c, pl, series)
	drawLegend(&b, c, cols)
	b.WriteString(`</svg>`)
	return b.String()
}

// plotPt is a point in plotting space: after the chart's log or percentile
// transform of its axes.
type plotPt struct{ x, y float64 }

// dataRange is the extent of a chart's points in plotting space.
type dataRange struct{ xmin, xmax, ymin, ymax float64 }

// plotPoints transforms each series' points into plotting space, leaving
// out those the axes cannot show (x at or past the 100th percentile, a
// value <= 0 on a log axis, NaN). It returns them, how many there are and
// their extent.
func plotPoints(c Chart) ([][]plotPt, int, dataRange) {
	tx := func(x float64) (float64, bool) {
		switch {
		case c.Kind == "percentile":
			if x >= 100 {
				return 0, false
			}
			return -math.Log10(1 - x/100), true
		case c.LogX:
			if x <= 0 {
				return 0, false
			}
			return math.Log10(x), true
		}
		return x, true
	}
	ty := func(y float64) (float64, bool) {
		if c.LogY {
			if y <= 0 {
				return 0, false
			}
			return math.Log10(y), true
		}
		return y, true
	}
	series := make([][]plotPt, len(c.Series))
	total := 0
	r := dataRange{math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)}
	for i, s := range c.Series {
		for _, p := range s.Points {
			x, okx := tx(p[0])
			y, oky := ty(p[1])
			if !okx || !oky || math.IsNaN(x) || math.IsNaN(y) || math.IsInf(y, 0) {
				continue
			}
			series[i] = append(series[i], plotPt{x, y})
			r.xmin, r.xmax = math.Min(r.xmin, x), math.Max(r.xmax, x)
			r.ymin, r.ymax = math.Min(r.ymin, y), math.Max(r.ymax, y)
			total++
		}
	}
	return series, total, r
}

// legendColumns is how many legend entries fit a row (1 to 3), as the
// longest series name allows.
func legendColumns(c Chart) int {
	longest := 0
	for _, s := range c.Series {
		longest = max(longest, len([]rune(s.Name)))
	}
	return max(1, min(3, (chartW-padLeft)/(34+longest*7)))
}

// plotArea is where a chart's data is drawn: its top left corner and size
// in SVG units, and the data range it shows (set by scale).
type plotArea struct {
	x0, y0, w, h float64
	r            dataRange
}

// scale sets the range the plot shows from the data's, r: a linear y axis
// starts at 0, a percentile x axis at 0 and at least at the 99th
// percentile, and every axis reaches its outer ticks. It returns the ticks
// of x and y.
func (pl *plotArea) scale(c Chart, r dataRange) (xt, yt []float64) {
	if !c.LogY && r.ymin > 0 {
		r.ymin = 0
	}
	if c.Kind == "percentile" {
		r.xmin = 0
		r.xmax = math.Max(2, math.Ceil(r.xmax))
	}
	xt = ticks(r.xmin, r.xmax, c.LogX || c.Kind == "percentile")
	yt = ticks(r.ymin, r.ymax, c.LogY)
	r.xmin, r.xmax = math.Min(r.xmin, xt[0]), math.Max(r.xmax, xt[len(xt)-1])
	r.ymin, r.ymax = math.Min(r.ymin, yt[0]), math.Max(r.ymax, yt[len(yt)-1])
	if r.xmax == r.xmin {
		r.xmax, r.xmin = r.xmax+1, r.xmin-1
	}
	if r.ymax == r.ymin {
		r.ymax = r.ymin + 1
	}
	pl.r = r
	return xt, yt
}

// px and py place a point of plotting space in the picture.
func (pl plotArea) px(x float64) float64 { return pl.x0 + (x-pl.r.xmin)/(pl.r.xmax-pl.r.xmin)*pl.w }
func (pl plotArea) py(y float64) float64 {
	return pl.y0 + pl.h - (y-pl.r.ymin)/(pl.r.ymax-pl.r.ymin)*pl.h
}

// drawGrid draws the grid lines, the tick labels and the plot's frame.
func drawGrid(b *strings.Builder, c Chart, pl plotArea, xt, yt []float64) {
	esc := template.HTMLEscapeString
	label := func(v float64, log bool) string {
		if log {
			v = math.Pow(10, v)
		}
		return shortNum(v)
	}
	for _, t := range yt {
		y := pl.py(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e6e9ef"/>`, pl.x0, y, pl.x0+pl.w, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#3d4556">%s</text>`, pl.x0-6, y+4, esc(label(t, c.LogY)))
	}
	for i, t := range xt {
		x := pl.px(t)
		anchor := "middle"
		if i == len(xt)-1 {
			anchor = "end" // the last label stays inside the picture
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e6e9ef"/>`, x, pl.y0, x, pl.y0+pl.h)
		var l string
		if c.Kind == "percentile" {
			l = percentileLabel(t)
		} else {
			l = label(t, c.LogX)
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="#3d4556">%s</text>`, x, pl.y0+pl.h+16, anchor, esc(l))
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#8a93a6"/>`, pl.x0, pl.y0, pl.w, pl.h)
}

// seriesStyle is a series' colour, by its group, and its dash attribute.
func seriesStyle(s Series) (color, dash string) {
	color = palette[s.Group%len(palette)]
	if s.Dashed {
		dash = ` stroke-dasharray="6 4"`
	}
	return color, dash
}

// drawSeries draws each series as a path (class "series"), with a dot per
// point when a solid one has at most 40.
func drawSeries(b *strings.Builder, c Chart, pl plotArea, series [][]plotPt) {
	for i, s := range c.Series {
		pts := series[i]
		if len(pts) == 0 {
			continue
		}
		color, dash := seriesStyle(s)
		var d strings.Builder
		for j, p := range pts {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, pl.px(p.x), pl.py(p.y))
		}
		fmt.Fprintf(b, `<path class="series" data-points="%d" d="%s" fill="none" stroke="%s" stroke-width="2"%s><title>%s</title></path>`,
			len(pts), strings.TrimSpace(d.String()), color, dash, template.HTMLEscapeString(s.Name))
		if !s.Dashed && len(pts) <= 40 {
			for _, p := range pts {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, pl.px(p.x), pl.py(p.y), color)
			}
		}
	}
}

// drawLegend draws the legend below the plot, cols entries a row.
func drawLegend(b *strings.Builder, c Chart, cols int) {
	for i, s := range c.Series {
		lx := float64(padLeft) + float64(i%cols)*float64(chartW-padLeft)/float64(cols)
		ly := float64(chartH) + float64(i/cols)*legendLine - 2
		color, dash := seriesStyle(s)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`, lx, ly-4, lx+22, ly-4, color, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#1d2330">%s</text>`, lx+28, ly, template.HTMLEscapeString(s.Name))
	}
}

// ticks returns tick positions covering [lo, hi]: "nice" steps of 1, 2 or
// 5 × 10^k on a linear axis, whole decades on a log axis (values are
// already log10 there).
func ticks(lo, hi float64, log bool) []float64 {
	if log {
		a, b := math.Floor(lo), math.Ceil(hi)
		if a == b {
			b = a + 1
		}
		var t []float64
		for v := a; v <= b; v++ {
			t = append(t, v)
		}
		return t
	}
	if hi == lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var t []float64
	for v := math.Floor(lo/step) * step; v <= hi+step*0.999; v += step {
		t = append(t, math.Round(v/step)*step)
	}
	return t
}

func percentileLabel(x float64) string {
	p := 100 * (1 - math.Pow(10, -x))
	return strconv.FormatFloat(math.Round(p*1e4)/1e4, 'f', -1, 64) + "%"
}

// shortNum writes an axis value compactly: 1500 → 1.5k.
func shortNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	case a == 0:
		return "0"
	case a < 0.01:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
