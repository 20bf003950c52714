package throttle

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Mode says how a carrier counts a bucket's segments.
type Mode uint8

const (
	// Sliding: never more than N segments in any interval of length
	// Interval (plus Config.Margin). What strict carriers enforce; the
	// default.
	Sliding Mode = iota
	// Bucket: a token bucket (GCRA), N per Interval on average, up to Burst
	// at once.
	Bucket
)

func (m Mode) String() string {
	switch m {
	case Sliding:
		return "sliding"
	case Bucket:
		return "bucket"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Limits on arguments.
const (
	MaxN        = 1_000_000 // segments per interval, and Burst
	MinInterval = time.Millisecond
	MaxInterval = time.Hour
	MaxWants    = 1000 // wants in one Take
	MaxWeight   = 1e6  // a Want's Weight

	maxAccount = 128 // bytes
	maxNumber  = 256 // bytes
)

// Limit says how a carrier counts one bucket's segments: N per Interval, in
// Sliding or Bucket mode. The zero value is invalid (N must be set).
type Limit struct {
	N        int           // segments per Interval, 1 to MaxN
	Interval time.Duration // 1ms to 1h; zero means time.Second
	Mode     Mode          // Sliding (default) or Bucket
	Burst    int           // Bucket only: the most at once (0 means N); must be 0 in Sliding
	// Spread, Sliding only, lengthens this bucket's window beyond
	// Interval+Margin: how much later than the margin allows its carrier
	// was seen to count (the engine's dispatcher learns it from refusals
	// at the edge; RememberSpread). 0 to MaxMargin; 0 in Bucket.
	Spread time.Duration
}

// PerSecond returns the sliding Limit for a rate in segments per second,
// over the shortest whole number of seconds (up to 1000) in which the rate
// makes whole segments: 10 → 10 per 1s, 0.5 → 1 per 2s, 2.5 → 5 per 2s,
// 0.001 → 1 per 1000s. Other rates are rounded down to floor(rate) (at least
// 1) segments per the interval that gives at most the rate. A rate that is not
// positive and finite gives the zero Limit, which every call refuses.
func PerSecond(rate float64) Limit {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return Limit{}
	}
	for k := 1; k <= 1000; k++ {
		n := rate * float64(k)
		r := math.Round(n)
		if r >= 1 && r <= MaxN && math.Abs(n-r) <= 1e-9*r {
			return Limit{N: int(r), Interval: time.Duration(k) * time.Second}
		}
	}
	n := max(1, math.Floor(rate))
	if n > MaxN {
		return Limit{N: MaxN, Interval: time.Second}
	}
	iv := math.Ceil(n / rate * 1e6) // µs, rounded up: never faster than rate
	return Limit{N: int(n), Interval: time.Duration(iv) * time.Microsecond}
}

// Rate is the limit's sustained rate in segments per second.
func (l Limit) Rate() float64 { return float64(l.N) / l.interval().Seconds() }

func (l Limit) interval() time.Duration {
	if l.Interval == 0 {
		return time.Second
	}
	return l.Interval
}

// burst is the effective burst in Bucket mode.
func (l Limit) burst() int {
	if l.Burst == 0 {
		return l.N
	}
	return l.Burst
}

// most is the most segments one Take can grant the bucket.
func (l Limit) most() int {
	if l.Mode == Bucket {
		return l.burst()
	}
	return l.N
}

func (l Limit) validate() error {
	if l.N < 1 || l.N > MaxN {
		return invalidf("limit N %d outside [1, %d]", l.N, MaxN)
	}
	if iv := l.interval(); iv < MinInterval || iv > MaxInterval {
		return invalidf("limit interval %v outside [%v, %v]", iv, MinInterval, MaxInterval)
	}
	switch l.Mode {
	case Sliding:
		if l.Burst != 0 {
			return invalidf("limit burst %d in sliding mode: a sliding window has no burst (leave it 0)", l.Burst)
		}
		if l.Spread < 0 || l.Spread > MaxMargin {
			return invalidf("limit spread %v outside [0, %v]", l.Spread, MaxMargin)
		}
	case Bucket:
		if l.Burst < 0 || l.Burst > MaxN {
			return invalidf("limit burst %d outside [0, %d]", l.Burst, MaxN)
		}
		if l.Spread != 0 {
			return invalidf("limit spread %v in bucket mode: only a sliding window has one (leave it 0)", l.Spread)
		}
	default:
		return invalidf("limit mode %v: want Sliding or Bucket", l.Mode)
	}
	return nil
}

// inlineMax is the largest N whose sliding log is kept in the bucket's own
// key; a larger one's log is a list (doc.go, key layout).
const inlineMax = 32

// listed reports whether the bucket's log is a list.
func (l Limit) listed() bool { return l.Mode == Sliding && l.N > inlineMax }

// args appends the script's per-bucket arguments: N, interval (µs), mode,
// burst, weight, max, index of the log list in KEYS (0: none).
func (l Limit) args(a []any, weight string, most, logIndex int) []any {
	burst := 0
	if l.Mode == Bucket {
		burst = l.burst()
	}
	if l.Mode == Sliding {
		burst = int(l.Spread.Microseconds()) // the script's burst slot carries it in this mode
	}
	return append(a, l.N, l.interval().Microseconds(), int(l.Mode), burst, weight, most, logIndex)
}

// ErrInvalid is wrapped by every error about a malformed argument or Config.
var ErrInvalid = errors.New("throttle: invalid")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func validAccount(s string) error {
	if s == "" || len(s) > maxAccount {
		return invalidf("account %q: want 1 to %d bytes", s, maxAccount)
	}
	if strings.ContainsAny(s, "{}") {
		return invalidf("account %q contains '{' or '}' (it is the keys' hash tag)", s)
	}
	return nil
}

func validNumber(s string) error {
	if s == "" || len(s) > maxNumber {
		return invalidf("number %q: want 1 to %d bytes", s, maxNumber)
	}
	return nil
}

// Keys: see the key layout in doc.go. Buckets are under "account" and
// "number:", their log lists under "log:", the fence is "fence": no two
// collide, whatever the number.

func accountKey(prefix, account string) string { return prefix + "{" + account + "}:account" }

// logKey is the key of the list holding the log of the account's bucket
// (number "") or of a number's.
func logKey(prefix, account, number string) string {
	if number == "" {
		return prefix + "{" + account + "}:log:account"
	}
	return prefix + "{" + account + "}:log:number:" + number
}
func fenceKey(prefix, account string) string { return prefix + "{" + account + "}:fence" }

// spreadKey is the key of the spread remembered for the account
// (Limiter.RememberSpread).
func spreadKey(prefix, account string) string { return prefix + "{" + account + "}:spread" }
func numberKey(prefix, account, number string) string {
	var sb strings.Builder
	sb.Grow(len(prefix) + len(account) + len(number) + 10)
	sb.WriteString(prefix)
	sb.WriteByte('{')
	sb.WriteString(account)
	sb.WriteString("}:number:")
	sb.WriteString(number)
	return sb.String()
}
