// Package ratelimit keeps API clients under a rate per second, however many
// engine processes serve them, at a cost of about a microsecond per
// request: token buckets kept in Redis, spent mostly from small grants each
// process holds for a moment.
//
// The API (package api) uses it for each workspace's requests per second
// and messages per second; the package itself knows nothing of workspaces:
// a bucket is a Key (a kind and an id) and a rate.
//
// # Buckets
//
// A bucket with rate R holds up to R units (one second's worth, its burst)
// and refills continuously at R units per second: a client may spend R at
// once, then R a second. In Redis it is one integer under its key, the
// GCRA theoretical arrival time (ratelimit.lua): one script call grants up
// to the units asked for, reading the clock with Redis TIME so that client
// clocks never matter, and writing with SET ... PX so an idle bucket
// expires a second after it is full again. A unit costs 1/R s rounded up
// to the microsecond, so Redis never grants faster than R. A rate that
// changes applies to the next grant; a bucket whose rate fell below what
// it had granted is empty until the time the lower rate needs for it.
//
// # Grants
//
// Calling Redis for every request would cost more than the whole check may
// (about 20 µs of client CPU a round trip, and a round trip of latency). A
// process therefore asks for a grant: Config.Grant's worth of the rate
// (100 ms: R/10 units, at least one; more when one Take needs more, as a
// batch of messages may), which it spends locally, under the bucket's own
// mutex, until it is spent or Config.Grant has passed since the call that
// got it began; then what is left is dropped, never returned. The next Take
// that finds nothing to spend asks Redis again; concurrent Takes of that
// bucket wait for that one answer instead of asking too. When Redis holds
// less than a unit, the process refuses locally, without asking, until a
// grant's worth is back (at most Config.Grant past the first unit): an
// overloaded bucket costs a Redis call per Grant, not per request.
//
// # The guarantee
//
// While Redis answers, over any interval of length L, all the processes
// sharing one Redis and Prefix together grant at most
//
//	R + R·(L + Grant)
//
// units of a bucket of rate R: for L = 1 s and the default grant, 2.1·R
// (R at once, R refilled within the second, R/10 of slack). Proof: Redis
// grants at most R + R·L' in any window of length L' of its clock (GCRA
// with burst R). A unit spent at time s was granted by a call that began
// at b ≤ g (g the moment Redis granted it) and is spent before b + Grant,
// so g ≤ s < g + Grant: the units spent in (x, x+L] were granted in
// (x − Grant, x + L], at most R + R·(L + Grant) of them. The slack is the
// price of not calling Redis per request: a process may spend a grant
// taken up to Grant earlier. TestTwoLimitersShareTheRate checks it with
// two Limiters (two processes) on one Redis.
//
// The other way round, a process may refuse while another holds units it
// will not use: at most a grant (R·Grant) per process, for at most Grant.
//
// # Redis unavailable: fail open
//
// A failed call (refused, timed out after Config.Timeout, an error reply or
// one of the wrong shape; every reply is checked, never asserted) grants
// what was asked, with Result.FailOpen set, and for Config.Retry (1 s)
// every Take that needs Redis grants without asking: a Redis outage never
// refuses a request. Healthy turns false, with one log line at error
// level; the first good answer turns it true again, with one line at info.
// Stats counts the units granted without a check (FailOpen) and the
// failed calls, for metrics.
//
// # Key layout
//
//	<prefix>{<kind>:<id>}   string   the bucket's theoretical arrival time (µs of the Redis clock)
//
// Each key is its own Redis Cluster hash tag: buckets spread over the
// nodes.
//
// # Cost
//
// A Take that spends from the process's grant is a sync.Map lookup, a
// mutex and one reading of the clock, with no allocation:
// BenchmarkTakeLocal, about 0.6 µs on the development VMs, where time.Now
// alone costs 0.3 to 0.5 µs (kvm-clock). A Take that asks Redis costs one
// EVALSHA round trip; grant requests of many buckets made at once share
// one pipeline. While a
// bucket is busy a process asks about once per Grant (10 calls a second
// per busy bucket and process); BenchmarkTake20k measures the engine CPU
// of the whole check, Redis calls included, at 20,000 requests a second.
// Each bucket a process has used in the last minute takes about 150 bytes;
// the idle ones are dropped.
package ratelimit
