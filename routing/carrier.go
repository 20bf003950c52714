package routing

import (
	"context"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// Submitter sends submit_sm on a carrier's binds: *smpp.Pool is one.
// SubmitAsync waits for a window slot (honouring ctx), queues the PDU and
// returns; done gets the result later and must not block.
type Submitter interface {
	SubmitAsync(ctx context.Context, p *smpp.SubmitSM, done func(smpp.SubmitResult, error)) error
}

// BindCounter is implemented by a Submitter that can say how many of its
// binds are up (smpp.Pool does). The dispatcher leaves a carrier's messages
// to other engine processes while this one has none of its binds up.
type BindCounter interface {
	Bound() int
}

// up reports whether c can submit now: a Submitter that does not count its
// binds is taken to be up.
func (c *Carrier) up() bool {
	bc, ok := c.Submitter.(BindCounter)
	return !ok || bc.Bound() > 0
}

// Carrier is one carrier account as the dispatcher and router see it.
type Carrier struct {
	Name      string
	Submitter Submitter
	// GSMDataCoding is the data_coding the carrier reads as GSM 03.38 (0 or 1).
	GSMDataCoding uint8
	// Method is how texts over one part are sent.
	Method               coding.Method
	SourceTON, SourceNPI uint8
	DestTON, DestNPI     uint8
	RegisteredDelivery   uint8
	// AccountThrottle says the carrier's rate limit is account-wide: a
	// refusal (0x58) of any number slows the whole account, not only that
	// number.
	AccountThrottle bool
	refs            coding.RefSource
}

// Want asks the limiter for a sender number's segments in a Take.
type Want struct {
	Number    string  // the sender number, E.164
	RateClass string  // its rate class
	Weight    float64 // its share of the account when the account is short (the class's rate by default)
	Max       int     // segments wanted now
	// Spread lengthens the number's sliding window in the limiter beyond
	// its interval and margin: what this process's write check learned
	// from refusals at the edge (DispatcherConfig.WriteMargin); 0: none.
	Spread time.Duration
}

// Grant is what a Want got: N segments to submit at once. When N is below
// Max, Wait is how long until the number itself has room for one more (0:
// the account held it back, see TakeResult.AccountWait).
type Grant struct {
	N    int
	Wait time.Duration
}

// TakeRequest is one carrier account's wants in a Take.
type TakeRequest struct {
	Carrier string
	Wants   []Want
	// Spread is the account's, as Want.Spread is a number's.
	Spread time.Duration
}

// TakeResult is one TakeRequest's outcome: a Grant per Want, in order; how
// long until the account has room again when it held wants back; a quiet
// period (nothing granted until it ends) after the limiter lost its state;
// or an error (nothing granted: the limiter could not answer).
type TakeResult struct {
	Grants      []Grant
	AccountWait time.Duration
	Quiet       time.Duration
	// At is the limiter's time of the grants: pass it to Return.
	At  time.Time
	Err error
}

// Limiter keeps numbers and carrier accounts under the rates their carriers
// allow (package throttle behind an adapter). Tokens are taken just in time:
// a grant is for segments the dispatcher writes at once. Safe for concurrent
// use.
type Limiter interface {
	// Take takes, for each request, what its wants may send now, from each
	// number's bucket and its account's, in one round trip for the batch.
	// When an account's room is short it is shared among the wants by
	// weight (max-min fair); integer remainders go in the order given.
	Take(ctx context.Context, reqs []TakeRequest) []TakeResult
	// Return gives back n segments granted to number by the Take whose
	// TakeResult.At is at, that were never written (the bind went down
	// first, or they waited too long for a window slot). Best effort.
	Return(ctx context.Context, carrier, number, rateClass string, n int, at time.Time)
	// Throttled reports that the carrier refused a submit of number for
	// now (0x58 or 0x14): slow the number down, or the whole account when
	// number is "".
	Throttled(ctx context.Context, carrier, number, rateClass string)
	// Rate is the number's configured rate in segments per second; the
	// dispatcher sizes the number's queue from it.
	Rate(carrier, rateClass string) float64
}

// SpreadMemory is implemented by a Limiter that keeps what a dispatcher
// learned of a carrier account's spread (how much later than WriteMargin
// allows the carrier counts our writes; see DispatcherConfig.WriteMargin)
// for every process and for the next start: a carrier that reads unevenly
// does so for all of them.
type SpreadMemory interface {
	// Spread is the spread remembered for carrier's account (0: none).
	Spread(ctx context.Context, carrier string) (time.Duration, error)
	// RememberSpread remembers d for carrier's account for ttl, unless a
	// larger spread is remembered. Best effort.
	RememberSpread(ctx context.Context, carrier string, d, ttl time.Duration)
}

// SlidingLimits is implemented by a Limiter that can say which of its limits
// are sliding windows (a strict carrier's count): the dispatcher then checks
// each write against them too (DispatcherConfig.WriteMargin).
type SlidingLimits interface {
	// Sliding returns the sliding window of a number of rateClass, or with
	// rateClass "" of the carrier account: at most n segments in any
	// interval. ok is false for a limit that is not a sliding window, or
	// unknown.
	Sliding(carrier, rateClass string) (n int, interval time.Duration, ok bool)
}
