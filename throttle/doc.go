// Package throttle keeps every sender number and every carrier account under
// the rate its carrier allows, however many engine processes share one Redis,
// and lets the engine use that rate.
//
// Carriers count segments, not messages (Twilio: 1 segment/s per long code, 3
// per toll-free number, 100/s per short code), so a message costs as many
// tokens as it has segments. A request takes them from all of its buckets
// atomically, in one round trip: one Lua script (throttle.lua, run with
// EVALSHA, falling back to EVAL when Redis has not cached it) that reads the
// clock with Redis TIME, so client clocks never matter.
//
// # Buckets
//
// A request (Request) names a carrier account and 1 to MaxBuckets buckets of
// it: usually the sender number at its rate class (Number) and the account at
// its TPS (Account), plus optional extra levels such as a 10DLC campaign or a
// brand with a daily cap (Bucket with a Level of the caller's choosing and a
// Limit with DailyCap). A sender number belongs to one carrier account.
//
// # Semantics: scheduling, not refusing
//
// Each bucket has a rate r (segments per second; 0.1 is fine) and a burst B.
// Let T = ⌈1e6/r⌉ µs be its emission interval and τ = (B-1)·T its tolerance.
// A bucket's capacity is time itself: every instant is capacity that at most
// one segment can hold. A segment booked for time t takes T of the bucket's
// free capacity lying within [t-τ, t+T], the earliest first. That is GCRA
// (the generic cell rate algorithm) in its fluid form: on a bucket that is
// only ever booked at its end it books exactly what GCRA would.
//
// Reserve books each segment of a message in turn at the earliest time t, no
// earlier than Redis's "now" nor than the previous segment, at which every
// bucket of the request has room, and takes the room in all of them. It
// returns those times as a Reservation: the dispatcher waits (Wait,
// WaitSegment) and submits segment i from At(i) on. Nothing polls Redis. A
// message costing more than its number's burst is spread at the number's
// rate: a 5-segment message on a 1/s number goes out over 4 s (segments at
// +0, +1, +2, +3, +4 s), it never starves (go-redis/redis_rate refuses such a
// cost for ever).
//
// A request is refused, taking nothing, when its first segment would wait
// longer than Config.Horizon (*HorizonError, with the wait: a huge backlog
// does not book a number hours ahead), when its segments would spread over
// more than Config.MaxSpan (*SpanError), or when it would take a bucket over
// its daily cap (*CapError). All three match ErrRefused.
//
// Holes. When one bucket holds a segment back (the number is booked further
// ahead than its account), the other buckets get a gap before that segment.
// A bucket remembers up to 32 such holes (dropping the shortest first, which
// only wastes capacity) and later segments fill them, so an account shared by
// many numbers is used at its full rate.
//
// # The guarantee
//
// For every bucket, over any closed one-second window [x, x+1s] of the Redis
// clock, the segments booked for a time inside the window number at most
// ⌊(1s+τ)/T⌋+1 ≤ rate+burst, across any number of processes.
//
// Proof: the segments booked in the window took disjoint pieces of capacity,
// each at least T long (T_i ≥ T at a cut rate), all inside [x-τ, x+1s+T_k]
// where T_k is the largest of them; so the others hold at most 1s+τ, and
// (n-1)·T ≤ 1s+τ. The script is the only writer of a bucket, and Redis runs
// scripts one at a time, so the proof holds for any interleaving of processes.
// TestMirrorGuarantee checks it on random traffic with cancels, rate cuts,
// losses of Redis's data and a clock that steps back; TestAccuracyMultiProcess
// checks it with 4 processes on the real Redis.
//
// The guarantee is about booked times. A process submits a segment when its
// timer fires, a little after the booked time, so two segments of different
// reservations can reach the carrier closer together than they were booked
// (the accuracy test prints this "local" worst window too): leave the carrier
// some headroom, in the rate or the burst.
//
// Lost replies are safe: a script that ran but whose reply was lost (or that
// go-redis retried) only books segments nobody sends. That wastes capacity;
// it can never add a segment to a window.
//
// Cancel gives tokens back for a message none of whose segments was
// submitted: in each bucket where the reservation is still the latest
// booking (a per-reservation token says so) the bucket is put back exactly as
// it was before it, which is as if it had never been booked. Elsewhere its
// capacity stays taken.
//
// # Adaptive slow-down
//
// When the carrier answers throttled (0x58) or queue full (0x14), Throttled
// multiplies the bucket's rate fraction f by Adaptive.Backoff (never below
// Adaptive.Floor); f then grows back linearly, by 1/Adaptive.Recovery per
// second, to 1 (AIMD). Reports within Adaptive.Hold of the last cut count
// once, as a window of in-flight submits all answered 0x58 is one signal. The
// fraction lives in the bucket's hash, so every process slows down together,
// and the script applies it: segments take T/f of capacity. EffectiveRate
// shows r·f. Reservations already booked keep their times.
//
// # Failure: fail closed
//
// Any Redis error, timeout or reply of an unexpected shape (every reply is
// checked, never asserted) returns an error matching ErrUnavailable and never
// a grant. Healthy turns false, one log line says so (Config.Logger) and
// Config.OnHealthChange is called; reservations not yet due are then not
// released (Wait fails with ErrUnavailable), so nothing is sent. The next
// call that gets a good answer turns Healthy true again, with one log line:
// sending resumes by itself. Ping lets an engine probe while it waits.
//
// # Losing Redis's data
//
// A Redis that restarts without persistence, or fails over to a replica that
// missed the last writes, forgets the buckets while reservations made before
// may still be waiting in some process, up to Horizon+MaxSpan ahead. Each
// account therefore has a fence key, written with the account's first
// booking: a missing fence means the state is new or lost, and a bucket
// without state then starts only after a quiet period of Horizon+MaxSpan plus
// one interval at the floor rate, without burst. Sending resumes after it, by
// itself. The first use of an account waits the same quiet period unless
// AssumeIdle declares that nothing is outstanding (a first deployment).
// Replica lag can still lose the last few bookings: prefer a primary with
// appendonly, and never an eviction policy that can drop keys (noeviction:
// the bucket keys carry TTLs, so volatile-* policies could evict them). All
// processes must use the same Prefix, Horizon, MaxSpan and Adaptive.
//
// # Key layout
//
// Every key starts with Config.Prefix (default "sb:throttle:") and carries the
// carrier account as its Redis Cluster hash tag:
//
//	<prefix>{<account>}:fence                 hash  f: epoch (µs) since which this Redis holds the account's state, r: last refresh
//	<prefix>{<account>}:account               hash  the account's bucket
//	<prefix>{<account>}:number:<e164>         hash  a sender number's bucket
//	<prefix>{<account>}:<level>:<id>          hash  an extra level (campaign, brand…)
//
// A bucket's hash holds t (the TAT: capacity from t on is free), h (holes,
// "a1 b1 a2 b2 …"), p and q (t and h before the latest booking), r (the latest
// booking's token), f and c (rate fraction in ppm after the last cut, and its
// time), dd and dc (UTC day and segments counted in it, for a daily cap), x
// (when the key expires at the earliest). All times are integer µs of the
// Redis clock. A bucket key expires 1 to 11 s after its state stops mattering
// (its TAT has passed, its rate has recovered, its cap day has ended: the TTL
// is renewed only when it falls short, to save a command per call); a fence 7
// days after its last refresh.
//
// # Redis Cluster
//
// A script may only touch keys of one hash slot, and a number's bucket and its
// account's must be taken in one script, so every key of an account shares
// the tag {<account>}. The consequence: all the numbers of one carrier
// account, the account and its extra levels live in one slot, on one node.
// Load spreads over the cluster by account, not by number. An extra level that
// spans accounts (a campaign sent over two carrier accounts) cannot be taken
// atomically with both: give it one bucket per account, splitting its rate.
// ReserveBatch pipelines to every node at once (one round trip per node).
//
// # Local guard
//
// BindGuard is a process-local golang.org/x/time/rate limiter for one SMPP
// bind at its share of the account's TPS, a second line behind Redis.
package throttle
