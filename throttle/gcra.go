package throttle

import "math"

// Arithmetic shared by the Limiter and the Go mirror of throttle.lua
// (mirror_test.go).

const (
	dayMicros = 86400000000 // µs in a UTC day
	ppm       = 1000000     // rate fractions are in parts per million
)

// bucketParams are one bucket's arguments to the script, in µs.
type bucketParams struct {
	T   int64 // emission interval at the configured rate
	Tau int64 // burst tolerance: (burst-1)·T
	Cap int64 // daily cap in segments, 0 = none
}

// Reply codes of the reserve operation.
const (
	codeGranted = 0
	codeHorizon = 1
	codeCap     = 2
	codeSpan    = 3
)

// floorDay is the UTC day of Redis-clock time t (µs), as the script computes it.
func floorDay(t int64) int64 { return int64(math.Floor(float64(t) / dayMicros)) }
