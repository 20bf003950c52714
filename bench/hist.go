package bench

import (
	"encoding/base64"
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 1 hour, with three
// significant digits (an error of at most 0.1%).
const (
	histMin    = 1
	histMax    = int64(time.Hour / time.Microsecond)
	histDigits = 3
)

// Latency is an HDR histogram of durations. It is safe for concurrent use;
// its zero value is not: use NewLatency.
type Latency struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// NewLatency returns an empty histogram.
func NewLatency() *Latency {
	return &Latency{h: hdrhistogram.New(histMin, histMax, histDigits)}
}

// Record adds one duration (clamped to the histogram's range).
func (l *Latency) Record(d time.Duration) {
	us := d.Microseconds()
	if us < histMin {
		us = histMin
	}
	if us > histMax {
		us = histMax
	}
	l.mu.Lock()
	_ = l.h.RecordValue(us)
	l.mu.Unlock()
}

// Merge adds every value of o.
func (l *Latency) Merge(o *Latency) {
	o.mu.Lock()
	c := o.h.Export()
	o.mu.Unlock()
	l.mu.Lock()
	l.h.Merge(hdrhistogram.Import(c))
	l.mu.Unlock()
}

// Count returns how many values were recorded.
func (l *Latency) Count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.TotalCount()
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1).
func (l *Latency) Quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Duration(l.h.ValueAtQuantile(q*100)) * time.Microsecond
}

// Mean returns the mean.
func (l *Latency) Mean() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Duration(l.h.Mean() * float64(time.Microsecond))
}

// Summary is a histogram as the report holds it: the usual percentiles in
// milliseconds, the percentile curve the charts draw, and the histogram
// itself, HDR V2-compressed and base64-encoded (hdrhistogram.Decode reads
// it back).
type Summary struct {
	Name   string  `json:"name"`
	Count  int64   `json:"count"`
	MinMS  float64 `json:"min_ms"`
	MeanMS float64 `json:"mean_ms"`
	// StdDevMS is the standard deviation; the mean's 95% confidence
	// interval is about ±1.96 × StdDevMS / √Count.
	StdDevMS float64 `json:"stddev_ms"`
	P50MS    float64 `json:"p50_ms"`
	P90MS    float64 `json:"p90_ms"`
	P95MS    float64 `json:"p95_ms"`
	P99MS    float64 `json:"p99_ms"`
	P999MS   float64 `json:"p999_ms"`
	MaxMS    float64 `json:"max_ms"`
	// Curve is the percentile spectrum: (percentile, ms) pairs.
	Curve [][2]float64 `json:"curve"`
	HDR   string       `json:"hdr"`
}

// Summarize returns the histogram's summary under a name.
func (l *Latency) Summarize(name string) Summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.h
	ms := func(us int64) float64 { return math.Round(float64(us)) / 1000 }
	s := Summary{Name: name, Count: h.TotalCount()}
	if s.Count == 0 {
		return s
	}
	s.MinMS, s.MaxMS = ms(h.Min()), ms(h.Max())
	s.MeanMS = math.Round(h.Mean()) / 1000
	s.StdDevMS = math.Round(h.StdDev()) / 1000
	s.P50MS, s.P90MS, s.P95MS = ms(h.ValueAtQuantile(50)), ms(h.ValueAtQuantile(90)), ms(h.ValueAtQuantile(95))
	s.P99MS, s.P999MS = ms(h.ValueAtQuantile(99)), ms(h.ValueAtQuantile(99.9))
	for _, p := range curvePercentiles {
		s.Curve = append(s.Curve, [2]float64{p, ms(h.ValueAtQuantile(p))})
	}
	if b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		s.HDR = base64.StdEncoding.EncodeToString(b)
	}
	return s
}

// curvePercentiles are where the percentile curve is sampled: dense towards
// the tail, as HDR plots are.
var curvePercentiles = func() []float64 {
	var ps []float64
	for _, p := range []float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 97.5, 98, 98.5, 99,
		99.25, 99.5, 99.75, 99.9, 99.95, 99.99, 99.999, 100} {
		ps = append(ps, p)
	}
	return ps
}()
