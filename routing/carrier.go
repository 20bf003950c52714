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
	refs                 coding.RefSource
}

// Booking asks the limiter for a message's segments.
type Booking struct {
	Carrier   string // the carrier account
	From      string // the sender number
	RateClass string // its rate class
	Segments  int
}

// Reservation is a booking granted by a Limiter: segment i may go from the
// time WaitSegment(i) returns.
type Reservation interface {
	WaitSegment(ctx context.Context, i int) error
	// Cancel gives the tokens back when no segment was sent.
	Cancel(ctx context.Context) error
}

// BookingResult is one booking's outcome: a Reservation, or an error.
// RetryAfter, when positive, says the booking was refused because the
// number is booked too far ahead: ask again after it.
type BookingResult struct {
	Reservation Reservation
	RetryAfter  time.Duration
	Err         error
}

// Limiter keeps numbers and carrier accounts under their rates (package
// throttle behind an adapter). Safe for concurrent use.
type Limiter interface {
	ReserveBatch(ctx context.Context, b []Booking) []BookingResult
	// Throttled reports that the carrier answered 0x58 or 0x14 for a
	// message from number on carrier: slow them down.
	Throttled(ctx context.Context, carrier, number, rateClass string)
	// Pace waits, just before a segment is submitted, until sending it keeps
	// this process's own stream within the number's and the account's rate.
	// Bookings are spaced in Redis, but timers that fire late can bunch
	// segments; pacing smooths what actually reaches the carrier.
	Pace(ctx context.Context, carrier, number, rateClass string) error
}
