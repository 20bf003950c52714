package smscsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
)

// This file parses the compact value syntaxes the configuration shares with
// the command line: latency distributions, receipt outcome mixes, injected
// failure mixes, message-id formats and number lists.

// Dist is a distribution of delays, parsed from a string (ParseDist):
//
//	10ms                          fixed
//	5ms..20ms                     uniform in [5ms, 20ms)
//	80%:10ms,15%:100ms,5%:1s      a mix (weights in percent, adding up to 100);
//	                              each component fixed or a uniform range
//
// The zero value is the fixed delay 0.
type Dist struct {
	comps []distComp
}

type distComp struct {
	cum    float64 // cumulative weight, 0..1
	lo, hi int64   // nanoseconds; hi > lo means uniform in [lo, hi)
}

// ParseDist parses a distribution; "" is the fixed delay 0.
func ParseDist(s string) (Dist, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Dist{}, nil
	}
	parts := strings.Split(s, ",")
	var d Dist
	total := 0.0
	for _, p := range parts {
		p = strings.TrimSpace(p)
		w := 100.0
		if i := strings.IndexByte(p, ':'); i >= 0 {
			ws := strings.TrimSuffix(strings.TrimSpace(p[:i]), "%")
			v, err := strconv.ParseFloat(ws, 64)
			if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
				return Dist{}, fmt.Errorf("%q: weight %q is not a positive percentage", p, p[:i])
			} else if len(parts) == 1 && v != 100 {
				return Dist{}, fmt.Errorf("%q: a single component weighs 100%%", p)
			}
			w = v
			p = strings.TrimSpace(p[i+1:])
		} else if len(parts) > 1 {
			return Dist{}, fmt.Errorf("%q: each component of a mix needs a weight (e.g. 80%%:10ms)", p)
		}
		c := distComp{}
		lo, hi, isRange := strings.Cut(p, "..")
		a, err := parseNonNegDuration(lo)
		if err != nil {
			return Dist{}, err
		}
		c.lo, c.hi = int64(a), int64(a)
		if isRange {
			b, err := parseNonNegDuration(hi)
			if err != nil {
				return Dist{}, err
			}
			if b < a {
				return Dist{}, fmt.Errorf("%q: range ends before it starts", p)
			}
			c.hi = int64(b)
		}
		total += w
		c.cum = total
		d.comps = append(d.comps, c)
	}
	if math.Abs(total-100) > 1e-9 {
		return Dist{}, fmt.Errorf("%q: weights add up to %g%%, want 100%%", s, total)
	}
	for i := range d.comps {
		d.comps[i].cum /= 100
	}
	d.comps[len(d.comps)-1].cum = 1
	return d, nil
}

func parseNonNegDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 10ms, 1.5s)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q: a delay cannot be negative", s)
	}
	return v, nil
}

// Zero reports whether the distribution always gives 0.
func (d Dist) Zero() bool {
	for _, c := range d.comps {
		if c.hi != 0 {
			return false
		}
	}
	return true
}

// Max returns the largest delay the distribution can give.
func (d Dist) Max() time.Duration {
	var m int64
	for _, c := range d.comps {
		m = max(m, c.hi)
	}
	return time.Duration(m)
}

// Sample draws a delay, in nanoseconds. It allocates nothing.
func (d *Dist) Sample(r *rand.Rand) int64 {
	switch len(d.comps) {
	case 0:
		return 0
	case 1:
		return d.comps[0].sample(r)
	}
	u := r.Float64()
	for i := range d.comps {
		if u < d.comps[i].cum {
			return d.comps[i].sample(r)
		}
	}
	return d.comps[len(d.comps)-1].sample(r)
}

func (c *distComp) sample(r *rand.Rand) int64 {
	if c.hi <= c.lo {
		return c.lo
	}
	return c.lo + r.Int64N(c.hi-c.lo)
}

// String returns the distribution in the syntax ParseDist reads.
func (d Dist) String() string {
	if len(d.comps) == 0 {
		return "0"
	}
	var b strings.Builder
	prev := 0.0
	for i, c := range d.comps {
		if i > 0 {
			b.WriteByte(',')
		}
		if len(d.comps) > 1 {
			b.WriteString(strconv.FormatFloat((c.cum-prev)*100, 'g', 6, 64))
			b.WriteString("%:")
		}
		prev = c.cum
		b.WriteString(time.Duration(c.lo).String())
		if c.hi > c.lo {
			b.WriteString("..")
			b.WriteString(time.Duration(c.hi).String())
		}
	}
	return b.String()
}

// Outcome is a receipt's final state and err: code.
type Outcome struct {
	State smpp.MessageState
	Err   int // 0..999, written as three digits
}

// Outcomes is a mix of receipt outcomes, parsed from a string
// (ParseOutcomes): "DELIVRD:90,UNDELIV:5,EXPIRED:3,REJECTD:2", each stat
// optionally with its err: code ("UNDELIV/034:5"). Weights are percentages
// adding up to 100. The zero value is always DELIVRD with err 000.
type Outcomes struct {
	cum []float64
	out []Outcome
}

// Default err: codes of failed outcomes when none is given.
var defaultErr = map[smpp.MessageState]int{
	smpp.StateDelivered: 0, smpp.StateExpired: 1, smpp.StateDeleted: 2,
	smpp.StateUndeliverable: 3, smpp.StateAccepted: 0, smpp.StateUnknown: 5,
	smpp.StateRejected: 6, smpp.StateEnroute: 0,
}

// ParseStat parses a receipt stat word (DELIVRD, UNDELIV, EXPIRED, REJECTD,
// DELETED, ACCEPTD, UNKNOWN, ENROUTE; long forms such as DELIVERED too).
func ParseStat(s string) (smpp.MessageState, error) {
	st, ok := smpp.Receipt{Stat: []byte(strings.TrimSpace(s))}.State()
	if !ok || (st == smpp.StateUnknown && !strings.EqualFold(strings.TrimSpace(s), "UNKNOWN")) {
		return 0, fmt.Errorf("%q is not a receipt stat (DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, ACCEPTD, UNKNOWN, ENROUTE)", s)
	}
	return st, nil
}

// ParseOutcomes parses an outcome mix; "" is always DELIVRD.
func ParseOutcomes(s string) (Outcomes, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Outcomes{}, nil
	}
	var o Outcomes
	total := 0.0
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		name, ws, ok := strings.Cut(p, ":")
		if !ok {
			if strings.Contains(s, ",") {
				return Outcomes{}, fmt.Errorf("%q: want STAT:PERCENT (e.g. UNDELIV:5)", p)
			}
			ws = "100"
		}
		w, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(ws), "%"), 64)
		if err != nil || w < 0 || math.IsInf(w, 0) || math.IsNaN(w) {
			return Outcomes{}, fmt.Errorf("%q: weight %q is not a percentage", p, ws)
		}
		stat, errs, hasErr := strings.Cut(name, "/")
		st, err := ParseStat(stat)
		if err != nil {
			return Outcomes{}, err
		}
		oc := Outcome{State: st, Err: defaultErr[st]}
		if hasErr {
			e, err := strconv.Atoi(strings.TrimSpace(errs))
			if err != nil || e < 0 || e > 999 {
				return Outcomes{}, fmt.Errorf("%q: err %q is not a number 0..999", p, errs)
			}
			oc.Err = e
		}
		total += w
		o.cum = append(o.cum, total)
		o.out = append(o.out, oc)
	}
	if math.Abs(total-100) > 1e-9 {
		return Outcomes{}, fmt.Errorf("%q: weights add up to %g%%, want 100%%", s, total)
	}
	for i := range o.cum {
		o.cum[i] /= 100
	}
	o.cum[len(o.cum)-1] = 1
	return o, nil
}

// Sample draws an outcome.
func (o *Outcomes) Sample(r *rand.Rand) Outcome {
	switch len(o.out) {
	case 0:
		return Outcome{State: smpp.StateDelivered}
	case 1:
		return o.out[0]
	}
	u := r.Float64()
	for i, c := range o.cum {
		if u < c {
			return o.out[i]
		}
	}
	return o.out[len(o.out)-1]
}

// Failures is a mix of statuses to answer a fraction of submit_sm with,
// parsed from a string (ParseFailures): "0x58:1%,0x14:0.5%" or with names,
// "ESME_RTHROTTLED:1%". The fractions add up to at most 100%. The zero value
// fails nothing.
type Failures struct {
	cum []float64
	st  []smpp.Status
}

// ParseStatus parses a command_status: hex (0x58), decimal (88) or its name
// (ESME_RTHROTTLED, or RTHROTTLED, THROTTLED).
func ParseStatus(s string) (smpp.Status, error) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseUint(s, 0, 32); err == nil {
		return smpp.Status(v), nil
	}
	name := strings.ToUpper(s)
	name = strings.TrimPrefix(name, "ESME_")
	name = strings.TrimPrefix(name, "R")
	for v := smpp.Status(0); v < 0x100; v++ {
		if !v.Defined() {
			continue
		}
		n := strings.TrimPrefix(strings.TrimPrefix(v.String(), "ESME_"), "R")
		if n == name || v.String() == strings.ToUpper(s) {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%q is not a command_status (hex 0x58, decimal or a name such as ESME_RTHROTTLED)", s)
}

// ParseFailures parses a failure mix; "" fails nothing.
func ParseFailures(s string) (Failures, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Failures{}, nil
	}
	var f Failures
	total := 0.0
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		i := strings.LastIndexByte(p, ':')
		if i < 0 {
			return Failures{}, fmt.Errorf("%q: want STATUS:PERCENT (e.g. 0x58:1%%)", p)
		}
		st, err := ParseStatus(p[:i])
		if err != nil {
			return Failures{}, err
		}
		if st == smpp.StatusOK {
			return Failures{}, fmt.Errorf("%q: ESME_ROK is not a failure", p)
		}
		w, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(p[i+1:]), "%"), 64)
		if err != nil || w < 0 || math.IsInf(w, 0) || math.IsNaN(w) {
			return Failures{}, fmt.Errorf("%q: %q is not a percentage", p, p[i+1:])
		}
		total += w
		f.cum = append(f.cum, total/100)
		f.st = append(f.st, st)
	}
	if total > 100+1e-9 {
		return Failures{}, fmt.Errorf("%q: fractions add up to %g%%, more than 100%%", s, total)
	}
	return f, nil
}

// Sample returns the status to fail a submit_sm with, or false.
func (f *Failures) Sample(r *rand.Rand) (smpp.Status, bool) {
	if len(f.st) == 0 {
		return 0, false
	}
	u := r.Float64()
	for i, c := range f.cum {
		if u < c {
			return f.st[i], true
		}
	}
	return 0, false
}

// IDFormat is how message ids are written: "decimal", "hex" (lower case),
// "HEX" (upper case), each optionally with a fixed width padded with leading
// zeros, e.g. "hex:10" or "decimal:12". Parse it with ParseIDFormat. The zero
// value is decimal without padding.
type IDFormat struct {
	Base  int  // 10 or 16
	Upper bool // upper-case hex digits
	Width int  // 0: no padding; at most 64
}

// ParseIDFormat parses an id format; "" is decimal.
func ParseIDFormat(s string) (IDFormat, error) {
	s = strings.TrimSpace(s)
	name, ws, hasW := strings.Cut(s, ":")
	f := IDFormat{Base: 10}
	switch name {
	case "", "decimal", "dec":
	case "hex", "hex-lower":
		f.Base = 16
	case "HEX", "hex-upper":
		f.Base, f.Upper = 16, true
	default:
		return IDFormat{}, fmt.Errorf("%q: format %q is not decimal, hex or HEX", s, name)
	}
	if hasW {
		w, err := strconv.Atoi(ws)
		if err != nil || w < 1 || w > 64 {
			return IDFormat{}, fmt.Errorf("%q: width %q is not 1..64", s, ws)
		}
		f.Width = w
	}
	return f, nil
}

// String returns the format in the syntax ParseIDFormat reads.
func (f IDFormat) String() string {
	s := "decimal"
	if f.Base == 16 {
		s = "hex"
		if f.Upper {
			s = "HEX"
		}
	}
	if f.Width > 0 {
		s += ":" + strconv.Itoa(f.Width)
	}
	return s
}

// Append appends the id of message number n. It allocates nothing.
func (f IDFormat) Append(dst []byte, n uint64) []byte {
	var b [64]byte
	i := len(b)
	base := uint64(10)
	if f.Base == 16 {
		base = 16
	}
	digits := "0123456789abcdef"
	if f.Upper {
		digits = "0123456789ABCDEF"
	}
	for {
		i--
		b[i] = digits[n%base]
		n /= base
		if n == 0 {
			break
		}
	}
	for len(b)-i < f.Width {
		i--
		b[i] = '0'
	}
	return append(dst, b[i:]...)
}

// Format returns the id of message number n.
func (f IDFormat) Format(n uint64) string { return string(f.Append(nil, n)) }

// Parse reads an id written in this format back to its message number.
func (f IDFormat) Parse(id string) (uint64, bool) {
	base := 10
	if f.Base == 16 {
		base = 16
	}
	v, err := strconv.ParseUint(id, base, 64)
	return v, err == nil
}

// maxNumberRange bounds a "FIRST..LAST" range in a number list.
const maxNumberRange = 1_000_000

// expandNumbers expands a number list: each entry is a number, or a range
// "FIRST..LAST" of numbers of the same length. A leading '+' is dropped:
// numbers are compared without it.
func expandNumbers(list []string) ([]string, error) {
	var out []string
	for _, e := range list {
		e = strings.TrimSpace(e)
		a, b, isRange := strings.Cut(e, "..")
		a, b = trimPlus(strings.TrimSpace(a)), trimPlus(strings.TrimSpace(b))
		if a == "" {
			return nil, fmt.Errorf("%q: empty number", e)
		}
		if len(a) > 20 {
			return nil, fmt.Errorf("%q: longer than 20 characters (SMPP's source_addr limit)", e)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		lo, err1 := strconv.ParseUint(a, 10, 64)
		hi, err2 := strconv.ParseUint(b, 10, 64)
		if err1 != nil || err2 != nil || len(a) != len(b) {
			return nil, fmt.Errorf("%q: a range is FIRST..LAST, two numbers of the same length", e)
		}
		if hi < lo {
			return nil, fmt.Errorf("%q: range ends before it starts", e)
		}
		if hi-lo >= maxNumberRange {
			return nil, fmt.Errorf("%q: more than %d numbers", e, maxNumberRange)
		}
		for v := lo; v <= hi; v++ {
			s := strconv.FormatUint(v, 10)
			out = append(out, strings.Repeat("0", len(a)-len(s))+s)
		}
	}
	return out, nil
}

func trimPlus(s string) string { return strings.TrimPrefix(s, "+") }

func trimPlusB(b []byte) []byte {
	if len(b) > 0 && b[0] == '+' {
		return b[1:]
	}
	return b
}

// numberSet is a set of numbers, compared without a leading '+'.
type numberSet map[string]struct{}

func newNumberSet(list []string) numberSet {
	if len(list) == 0 {
		return nil
	}
	s := make(numberSet, len(list))
	for _, n := range list {
		s[n] = struct{}{}
	}
	return s
}

// has reports whether b (with or without '+') is in the set; it allocates
// nothing.
func (s numberSet) has(b []byte) bool {
	if s == nil {
		return false
	}
	_, ok := s[string(trimPlusB(b))]
	return ok
}
