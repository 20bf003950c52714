// Package throttle keeps every sender number and every carrier account under
// the rate its carrier allows, however many engine processes share one Redis,
// and grants that rate just in time: what can leave now, never a booking for
// later.
//
// Carriers count segments, not messages (Twilio: 1 segment/s per long code, 3
// per toll-free number, 100/s per short code), so everything here is counted
// in segments.
//
// # Taking what can leave now
//
// A dispatcher keeps a ready queue per sender number. Every few milliseconds,
// for each carrier account, it calls Take once with a Want for each number
// that has work and room: the number, its Limit, its Weight and Max, the
// segments it could write now. Take answers, per Want, how many segments are
// granted (write them at once) and, when fewer than Max, Wait: how long until
// the number itself has room again (0 when it has room and only the account
// held it back; TakeResult.AccountWait says when the account has room). A
// number that cannot send holds nothing, so no number waits behind another
// number's backlog: a grant is taken at the moment the segments leave.
//
// One Take is one script call (throttle.lua, run with EVALSHA, falling back
// to EVAL when Redis has not cached it) over the account's keys only. It
// reads the clock with Redis TIME, so client clocks never matter, and takes
// from every Want's number bucket and from the account's bucket atomically.
// TakeBatch sends the Takes of several accounts in one pipelined round trip.
//
// # Limits: Sliding and Bucket
//
// A Limit is N segments per Interval in one of two modes.
//
// Sliding (the default) is what strict carriers enforce: a bucket never
// grants more than N segments in any interval of length Interval+Margin
// (Config.Margin, 10 ms by default). It keeps the times of its recent grants
// as (time, count) records, one per millisecond at most (grants of one Take
// share one time; a time is rounded up to the millisecond, which only makes a
// grant count for longer), and grants k segments at time t while the grants
// in (t − Interval/f − Margin, t], plus k, are at most N (f: the adaptive
// rate fraction below, 1 normally).
//
// A Sliding Limit's Spread lengthens its window further, to
// Interval+Margin+Spread: the engine's dispatcher sets it to what it
// learned from a carrier refusing at the edge (it counts our writes later
// than Margin allows). A longer window only grants less, so the guarantee
// below holds whatever the Spread.
//
// Bucket is a token bucket (GCRA): N per Interval on average, up to Burst at
// once (Burst 0 means N). A segment costs T = Interval/(N·f), the bucket holds
// Burst·T: in any window of length L it grants at most Burst + L/T segments.
// Margin does not apply.
//
// PerSecond turns a rate into a Sliding limit: 10 → 10 per second, 0.5 → 1
// per 2 s, 2.5 → 5 per 2 s.
//
// # Sharing the account
//
// Each Want can take min(Max, its number's room). When the account's room is
// less than the sum of those, it is shared by weighted max-min fairness
// (water-filling, as HTB shares a parent's rate): each Want gets at most what
// it can take, the rest in proportion to Weight, and what a capped Want cannot
// use goes to the others. Integer remainders go to the Wants in the order
// given, so the caller rotates the order from tick to tick. Five Wants of
// weight 1 that could take 10 each, under an account room of 20, get 4 each;
// weights 2:1:1 get 10:5:5.
//
// # The guarantee
//
// For every Sliding bucket, over any interval (x, x+Interval+Margin] of the
// Redis clock, the segments granted at a time inside it number at most N,
// across any number of processes and Limiters sharing the Redis and the
// Prefix. For a Bucket bucket, at most Burst + L·N/Interval in any window of
// length L.
//
// Proof (Sliding): let t be the latest grant in the interval. Every earlier
// grant in it happened after x ≥ t − Interval − Margin and was recorded at
// that time or later (rounded up); records are dropped only once they lie at
// or before now − Interval/f − Margin ≤ now − Interval − Margin at some now ≤
// t, so at t they were all still counted, and t was granted only if they and
// its own segments were at most N. The script is the only writer of a
// bucket, and Redis runs scripts one at a time. A Redis clock that steps back
// only delays grants: records that seem to lie ahead still count.
// TestGuaranteeRandomTraffic checks it with three Limiters on random traffic
// with returns and rate cuts; TestScriptSlidingBoundaries to the microsecond
// on a fake clock.
//
// What is not guaranteed: the time from a grant to the moment the carrier
// counts the submit. The caller writes granted segments at once, and Margin
// covers the spread of that delay (measure it: the integrator sets Margin);
// a submit delayed by more than Margin after its grant can make the carrier
// see N+1 in its interval. (The engine's dispatcher also checks its own
// writes, and widens that check when a refusal shows the carrier counting
// with a larger spread: routing.DispatcherConfig.WriteMargin.) Lost replies are safe: a script that ran but whose
// reply was lost (or that go-redis retried) only grants segments nobody
// sends, which wastes room and never adds a segment to a window.
//
// Return gives back segments that a Take granted but that were never written
// (the bind dropped first). In Sliding mode they are taken off the record of
// that Take's time, wherever it is in the window; in Bucket mode only while
// that Take is still the bucket's latest. A window then counts what was
// written; returning more than was granted would void the guarantee.
//
// # Adaptive slow-down
//
// When the carrier answers throttled (0x58) or queue full (0x14), Throttled
// multiplies the bucket's rate fraction f (the number's, or the account's
// when number is "") by Adaptive.Backoff (never below Adaptive.Floor); f then
// grows back linearly, by 1/Adaptive.Recovery per second, to 1 (AIMD). Cuts
// within Adaptive.Hold of the last count once, as a window of in-flight
// submits all answered 0x58 is one signal. The fraction lives in the bucket's
// state, so every process slows down together. In Sliding mode the burst
// shrinks with the rate: ⌊N·f⌋ segments in any Interval while N·f ≥ 1, else
// one in any Interval/(N·f) — so a number configured above what its carrier
// allows comes down to what the carrier takes (a shorter window would keep
// bursts of N, which such a carrier refuses whatever the spacing); the
// window is never shorter than Interval, so the guarantee for the
// configured limit holds through cuts. In Bucket mode it lengthens T.
// EffectiveRate shows the rate in force (N·f per Interval).
//
// # Failure: fail closed
//
// Any Redis error, timeout or reply of an unexpected shape (every reply is
// checked, never asserted) returns an error matching ErrUnavailable and never
// a grant. Healthy turns false, one log line says so (Config.Logger) and
// Config.OnHealthChange is called. The next call that gets a good answer turns
// Healthy true again, with one log line: granting resumes by itself. Ping lets
// an engine probe while it waits. Bad arguments return ErrInvalid and never
// reach Redis.
//
// # Losing Redis's data
//
// A Redis that restarts without persistence, or fails over to a replica that
// missed the last writes, forgets the buckets while segments granted just
// before may still count at the carrier. Each account therefore has a fence
// key, recording since when this Redis holds the account's state. A Take that
// finds no fence (a new account, or a lost one) creates it with a quiet
// period: the longest span among the account and the Take's Wants — for a
// Sliding limit its Interval/f + Margin, for a Bucket limit the time its
// burst takes to refill — and grants nothing until it ends (TakeResult.Quiet;
// QuietUntil). A quiet period is thus about one interval: a second or so, not
// minutes. A bucket that has recorded no grant since the fence was created
// (a number that was not in that first Take) likewise waits for its own span
// from the fence's creation.
//
// AssumeIdle creates the fence with no quiet period, or ends one in force:
// the engine calls it when its own record (PostgreSQL) shows that nothing of
// the account was sent within the longest interval, e.g. on a fresh install,
// which must send at once. Replica lag can still lose the last few grants:
// prefer a primary with appendonly, and never an eviction policy that can
// drop keys (noeviction: the bucket keys carry TTLs, so volatile-* policies
// could evict them). All processes must use the same Prefix, Margin and
// Adaptive.
//
// # Key layout
//
// Every key starts with Config.Prefix (default "sb:throttle:") and carries the
// carrier account as its Redis Cluster hash tag:
//
//	<prefix>{<account>}:fence                hash    f: epoch (µs) since which this Redis holds the account's state (0: assumed idle), q: end of the quiet period, r: last refresh
//	<prefix>{<account>}:account              string  the account's bucket
//	<prefix>{<account>}:number:<number>      string  a sender number's bucket
//	<prefix>{<account>}:log:account          list    the account's log, when its Limit is Sliding with N > 32
//	<prefix>{<account>}:log:number:<number>  list    likewise for a number
//	<prefix>{<account>}:spread               string  the spread remembered for the account (µs; RememberSpread), with its TTL
//
// A bucket's state is one short string, so that a Take reads all its buckets
// with one MGET and writes each one it granted from with one SET ... PX:
//
//	s,<fcut>,<cut>,<sum>;<log>                            Sliding, the log inline
//	l,<fcut>,<cut>,<sum>,<first>,<last>,<lastn>,<expiry>  Sliding, the log in its list
//	b,<fcut>,<cut>,<tat>,<at>,<base>,<n>                  Bucket
//	n,<fcut>,<cut>                                        no grant yet, only a rate cut
//
// fcut and cut are the rate fraction (ppm) the last cut left and its time (0
// and 0: never cut). A log is records of 20 digits, oldest first: the time in
// ms (13 digits) and the segments granted then (7). sum is their total; a
// list's first and last are the ms of its end records, lastn the count of the
// last, expiry when the list's TTL runs out at the earliest. tat is GCRA's
// theoretical arrival time; at, base and n describe the latest grant (for
// Return). All other times are integer µs of the Redis clock. A bucket key
// expires one second after its state stops mattering (its last record has
// left the window, its rate has recovered, its tat has passed); a log list up
// to 10 s after that (its TTL is renewed only when it falls short); a fence 7
// days after its last refresh.
//
// A Limit may change between Takes. A larger or smaller N or Interval
// applies at once to the grants already recorded. A change of mode finds a
// state of the other mode: the bucket then grants nothing until the last
// grant that state records has left the new window (Sliding) or a burst's
// refill time after it (Bucket), then starts afresh. A Sliding log stays
// where it is (inline or a list) until it empties, except that a list whose
// N fell to 32 or less is no longer passed to the script: the bucket then
// waits until all of it has left the window.
//
// # Redis Cluster
//
// A script may only touch keys of one hash slot, and a number's bucket and
// its account's must be taken in one script, so every key of an account
// shares the tag {<account>}. The consequence: all the numbers of one carrier
// account live in one slot, on one node. Load spreads over the cluster by
// account, not by number. TakeBatch pipelines to every node at once (one
// round trip per node).
//
// # Cost
//
// A Take costs Redis one MGET of all its buckets, one SET per bucket granted
// from, and for a bucket whose log is a list a few list commands at its ends
// (LRANGE of 4, LTRIM, RPUSH or LSET). A Want granted nothing is not
// written. BenchmarkTake reports the time Redis spends per call (INFO
// commandstats; figures in the README): the cost grows with the Wants, each
// paying for reading and writing its own key and for the script's parsing
// of its state, so a dispatcher keeps a Take to the numbers that have work
// and room.
//
// # Upgrading from the booking API
//
// The earlier API booked segments up to Horizon+MaxSpan ahead in hashes at
// the same key names. This one reads those keys as no state and trusts an
// existing fence: stop every engine running the old API and wait Horizon +
// MaxSpan (90 s by default) before starting this one, or use a new Prefix.
package throttle
