package throttle

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Levels of the buckets the engine always takes. Extra levels (a 10DLC
// campaign, a brand with a daily cap) use names of the caller's choosing.
const (
	LevelNumber  = "number"  // one sender number, at its rate class
	LevelAccount = "account" // one carrier account, at its TPS
)

// Limits on what one request may ask for.
const (
	MaxCost    = 255 // segments in one request: the most a concatenated SMS can have (8-bit UDH)
	MaxBuckets = 8   // buckets in one request

	minRate = 0.001   // segments/s: one every 1000 s
	maxRate = 1e6     // segments/s: the emission interval is counted in whole microseconds
	maxCap  = 1 << 40 // segments per day
)

// Limit is the configured rate of one bucket. The zero value is invalid: Rate
// must be set.
type Limit struct {
	// Rate is the sustained rate in segments per second, between 0.001 and
	// 1e6. Rates below 1 are fine: 0.1 is one segment every 10 s.
	Rate float64
	// Burst is how many segments may be scheduled at the same instant on an
	// idle bucket; 0 means 1 (no burst).
	Burst int
	// DailyCap, when positive, is the most segments per UTC day (counted in
	// the day of each reservation's first segment), e.g. a brand's daily cap.
	DailyCap int64
}

// Class is a rate class of sender numbers ("shared long code", "dedicated
// local", "toll-free"…), as configuration names it.
type Class struct {
	Name  string
	Rate  float64 // segments per second
	Burst int     // 0 means 1
}

// Limit returns the class's limit.
func (c Class) Limit() Limit { return Limit{Rate: c.Rate, Burst: c.Burst} }

// Bucket names one bucket of an account and gives its limit.
type Bucket struct {
	// Level is LevelNumber, LevelAccount or an extra level ("campaign",
	// "brand"): letters, digits, '-' and '_' only.
	Level string
	// ID tells buckets of one level apart: the E.164 number, the campaign
	// id. It is empty for the account bucket and must not be for others.
	ID    string
	Limit Limit
}

// Number returns the bucket of sender number e164 in rate class c.
func Number(e164 string, c Class) Bucket {
	return Bucket{Level: LevelNumber, ID: e164, Limit: c.Limit()}
}

// Account returns the bucket of the carrier account itself, at tps segments
// per second with the given burst (0 means 1).
func Account(tps float64, burst int) Bucket {
	return Bucket{Level: LevelAccount, Limit: Limit{Rate: tps, Burst: burst}}
}

// Request asks for Cost tokens from every one of Buckets, atomically.
type Request struct {
	// Account is the carrier account the message goes out on. It is the
	// Redis Cluster hash tag of every key the request touches, so it must
	// not contain '{' or '}'.
	Account string
	// Cost is the number of segments, 1…MaxCost.
	Cost int
	// Buckets are the buckets to take from (usually the number and the
	// account, see doc.go), at most MaxBuckets, no two alike.
	Buckets []Bucket
}

// ErrInvalid is wrapped by every error about a malformed Request, Bucket or
// Config.
var ErrInvalid = errors.New("throttle: invalid")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// interval is a rate's emission interval in whole microseconds, rounded up
// so the bucket never runs faster than configured.
func interval(rate float64) int64 { return int64(math.Ceil(1e6 / rate)) }

func (l Limit) validate() error {
	if math.IsNaN(l.Rate) || l.Rate < minRate || l.Rate > maxRate {
		return invalidf("rate %v segments/s outside [%v, %v]", l.Rate, minRate, maxRate)
	}
	if l.Burst < 0 || l.Burst > 1e6 {
		return invalidf("burst %d outside [0, 1000000]", l.Burst)
	}
	if l.DailyCap < 0 || l.DailyCap > maxCap {
		return invalidf("daily cap %d outside [0, %d]", l.DailyCap, int64(maxCap))
	}
	return nil
}

// params are the script's per-bucket arguments: emission interval, burst
// tolerance (both µs) and daily cap.
func (l Limit) params() bucketParams {
	t := interval(l.Rate)
	b := int64(max(l.Burst, 1))
	return bucketParams{T: t, Tau: (b - 1) * t, Cap: l.DailyCap}
}

func validLevel(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func validAccount(s string) error {
	if s == "" || len(s) > 128 {
		return invalidf("account %q: want 1 to 128 bytes", s)
	}
	if strings.ContainsAny(s, "{}") {
		return invalidf("account %q contains '{' or '}' (it is the key's hash tag)", s)
	}
	return nil
}

func (b Bucket) validate() error {
	if !validLevel(b.Level) {
		return invalidf("bucket level %q: want 1 to 32 letters, digits, '-' or '_'", b.Level)
	}
	switch {
	case b.Level == LevelAccount && b.ID != "":
		return invalidf("account bucket with id %q: the account bucket has no id", b.ID)
	case b.Level != LevelAccount && b.ID == "":
		return invalidf("%s bucket without an id", b.Level)
	case len(b.ID) > 256:
		return invalidf("%s bucket id of %d bytes: at most 256", b.Level, len(b.ID))
	}
	if err := b.Limit.validate(); err != nil {
		return fmt.Errorf("%s bucket %q: %w", b.Level, b.ID, err)
	}
	return nil
}

func (r Request) validate() error {
	if err := validAccount(r.Account); err != nil {
		return err
	}
	if r.Cost < 1 || r.Cost > MaxCost {
		return invalidf("cost %d segments outside [1, %d]", r.Cost, MaxCost)
	}
	if len(r.Buckets) == 0 || len(r.Buckets) > MaxBuckets {
		return invalidf("%d buckets: want 1 to %d", len(r.Buckets), MaxBuckets)
	}
	for i, b := range r.Buckets {
		if err := b.validate(); err != nil {
			return err
		}
		for _, o := range r.Buckets[:i] {
			if o.Level == b.Level && o.ID == b.ID {
				return invalidf("bucket %s %q appears twice", b.Level, b.ID)
			}
		}
	}
	return nil
}

// bucketKey is the Redis key of bucket (level, id) of account: see the key
// layout in doc.go.
func bucketKey(prefix, account, level, id string) string {
	var sb strings.Builder
	sb.Grow(len(prefix) + len(account) + len(level) + len(id) + 4)
	sb.WriteString(prefix)
	sb.WriteByte('{')
	sb.WriteString(account)
	sb.WriteString("}:")
	sb.WriteString(level)
	if id != "" {
		sb.WriteByte(':')
		sb.WriteString(id)
	}
	return sb.String()
}

// fenceKey is the key of account's fence (see doc.go, "Losing Redis's data").
// "fence" is not a valid level name with an empty id for any bucket but the
// account's, so it cannot collide with a bucket key.
func fenceKey(prefix, account string) string { return prefix + "{" + account + "}:fence" }
