package smpptest

import "github.com/switchboard-sms/switchboard/smpp"

// ConnHandler is what one fake SMSC decides on one connection; the Conn
// does the rest: reading, the session rules of SMPP 3.4 §7, the window, the
// timer heap and the writing. Server (this package) and the carrier
// simulator (package smscsim) each implement it.
//
// Unless a method says otherwise it runs on the Conn's reader goroutine, so
// the calls for one Conn never overlap, and without the Conn's lock. The
// methods marked "lock held" run with it held, on the reader or the writer
// goroutine: they must not block, nor call the Conn's methods other than
// those whose names end in Locked.
type ConnHandler interface {
	// Bind decides whether the credentials of a bind on an open Conn are
	// accepted: ESME_ROK, or the status to refuse it with.
	Bind(b *smpp.Bind) smpp.Status
	// Bound registers the accepted bind b (lock held; the Conn already
	// has b's state, system_id and bind type, so that a sender elsewhere
	// that finds it registered may schedule on it, and what it schedules
	// leaves after the bind response). false refuses it with ESME_RALYBND
	// (its place is taken) and the Conn returns to the open state. Bound
	// may set the Conn's window, peak counter and faults.
	Bound(b *smpp.Bind) bool
	// BindRefused sees each refused bind, after decoding (b is nil when it
	// did not decode): to count it.
	BindRefused(b *smpp.Bind, st smpp.Status)

	// Submit decides a decoded submit_sm of a transmitter or transceiver
	// within the window (sm is valid only during the call): it answers
	// through Queue (at once, later or on Release) or leaves it
	// unanswered with Unanswered.
	Submit(h smpp.Header, sm *smpp.SubmitSM)
	// SubmitRefused sees each submit_sm the Conn answered at once with st:
	// undecodable, not bound as a transmitter or transceiver
	// (ESME_RINVBNDSTS), or over the window (ESME_RMSGQFUL).
	SubmitRefused(st smpp.Status)

	// Response sees each response from the ESME: p is the request of the
	// Conn it answers (valid only during the call; its Statuses waiter, if
	// any, then gets h.Status), nil when it answers none. true closes the
	// connection (our unbind answered).
	Response(h smpp.Header, p *Pending) (close bool)
	// Unbinding is called once when the bind ends by an unbind, from the
	// ESME (reader goroutine) or from the SMSC (SendUnbind's goroutine):
	// nothing more should be scheduled on the Conn.
	Unbinding()

	// AppendMessageID appends the message_id of message n for responses
	// (lock held).
	AppendMessageID(dst []byte, n uint64) []byte
	// AppendReceiptID appends the id of message n as receipts write it
	// (lock held).
	AppendReceiptID(dst []byte, n uint64) []byte
	// ReceiptSent sees each receipt written: of message n, reporting state
	// (lock held).
	ReceiptSent(n uint64, state smpp.MessageState)
	// DeliverySent sees each mobile-originated message written (lock held).
	DeliverySent(d *Delivery)

	// Fault sees each fault the Conn applied (lock held for
	// FaultMutedAnswer).
	Fault(f Fault)

	// Divert takes receipts and deliveries the Conn cannot send because it
	// no longer receives (it is unbinding): to send elsewhere or drop.
	// Writer goroutine.
	Divert(items []Item)
	// Closed is called once when the connection has closed, from the
	// goroutine that closed it: owed holds the receipts and deliveries it
	// had not sent (see Item kinds), pend the requests of the Conn the ESME
	// had not answered.
	Closed(owed []Item, pend []Pending)
}

// RequestObserver is implemented by a ConnHandler that records or counts
// the requests it is shown.
type RequestObserver interface {
	// Request sees each request the Conn is about to answer (not those a
	// mute or a drop fault swallows), once decoded: p is nil for
	// enquire_link, unbind, an unknown command_id and a request that
	// failed to decode.
	Request(h smpp.Header, p smpp.PDU)
}

// OtherHandler is implemented by a ConnHandler that answers data_sm,
// submit_multi, query_sm, cancel_sm and replace_sm. The Conn decodes them
// (a failure gets the response with the decoder's status), shows them to
// a RequestObserver,
// answers those not from a bound transmitter or transceiver with
// ESME_RINVBNDSTS, and hands the rest to Other, which answers through
// Queue. Without it the Conn answers them at once without a body:
// ESME_RINVCMDID when bound (not implemented), ESME_RINVBNDSTS when not.
type OtherHandler interface {
	Other(h smpp.Header, p smpp.PDU)
}

// Fault is a fault a Conn applied.
type Fault uint8

// Faults.
const (
	// FaultDrop: the connection was closed abruptly (Faults.DropAfterPDUs,
	// Faults.DropEvery, Core.DropAfter).
	FaultDrop Fault = iota + 1
	// FaultMutedRequest: a request arrived while muted and was dropped.
	FaultMutedRequest
	// FaultMutedAnswer: a submit_sm_resp fell due while muted and was
	// dropped.
	FaultMutedAnswer
)

// PendingKind is the kind of a request a Conn sent and awaits the response
// to.
type PendingKind uint8

// Pending kinds.
const (
	PendDeliver PendingKind = iota + 1 // a deliver_sm sent by SendRequest
	PendReceipt                        // a receipt (Pending.N, Pending.Receipt)
	PendMO                             // a part of a Delivery (Pending.Delivery, Pending.Part)
	PendEnquire                        // the SMSC's enquire_link
	PendUnbind                         // the SMSC's unbind
)

// respID is the command_id that answers a request of kind k (besides
// generic_nack).
func (k PendingKind) respID() smpp.CommandID {
	switch k {
	case PendEnquire:
		return smpp.EnquireLinkRespID
	case PendUnbind:
		return smpp.UnbindRespID
	}
	return smpp.DeliverSMRespID
}

// Pending is a request a Conn sent and awaits the response to.
type Pending struct {
	Kind     PendingKind
	Statuses chan smpp.Status // SendRequest's waiter (buffered); nil for the others
	N        uint64           // PendReceipt: the message number
	Receipt  Receipt          // PendReceipt: what to send again
	Delivery *Delivery        // PendMO
	Part     int              // PendMO: which part of Delivery
}

// Faults are the faults a Conn injects on its own once bound (set by
// ConnHandler.Bound through SetFaultsLocked). The zero value injects none.
type Faults struct {
	// DropAfterPDUs closes the connection abruptly, unanswered, when it
	// receives its n-th PDU (counted from the start, the bind included).
	DropAfterPDUs int64
	// DropEvery closes the connection abruptly this long (nanoseconds)
	// after the bind.
	DropEvery int64
	// MuteEvery and MuteFor hang the bound connection for the last MuteFor
	// of every MuteEvery (nanoseconds of Core.Now): requests are dropped
	// unanswered, answers that fall due are dropped, and with
	// CoreConfig.KeepWhileMuted receipts and deliveries wait.
	MuteEvery, MuteFor int64
}

// muted reports whether the periodic mute is on at now.
func (f *Faults) muted(now int64) bool {
	return f.MuteEvery > 0 && now%f.MuteEvery >= f.MuteEvery-f.MuteFor
}
