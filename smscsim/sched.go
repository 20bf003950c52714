package smscsim

import "github.com/switchboard-sms/switchboard/smpp"

// kind says what an item writes when it falls due.
type kind uint8

const (
	kResp    kind = iota + 1 // submit_sm_resp, with a receipt before or after it when flagged
	kReceipt                 // a delivery receipt
	kDeliver                 // a mobile-originated deliver_sm (one or more parts)
	kDrop                    // fault: close the connection
)

// item flags.
const (
	fReceipt     uint8 = 1 << iota // a receipt goes with the response (rc is set)
	fFirst                         // the receipt goes before the response
	fReceiptSent                   // the receipt already left (fFirst)
)

// item is an answer, a receipt or a deliver_sm waiting for its time in a
// connection's heap or in an account's backlog. It is a value with fixed-size
// fields (but d, for the rare mobile-originated messages), so scheduling one
// allocates nothing.
type item struct {
	due    int64  // Sim.now() value
	ord    uint64 // push order: items due together leave in order
	kind   kind
	flags  uint8
	seq    uint32
	status smpp.Status
	n      uint64 // message number, for the ids
	rc     receipt
	d      *delivery // kDeliver
}

// abandon tells a waiter that the item will never be sent.
func (it *item) abandon() {
	if it.kind == kDeliver && it.d != nil {
		it.d.finish(statusLost, len(it.d.parts))
	}
}

// receipt keeps what a delivery receipt needs from its submit_sm. Addresses
// of submit_sm are at most 20 characters; the text keeps the first 20 octets.
type receipt struct {
	submitted      int64 // wall clock, Unix nanoseconds
	delay          int64 // from the response to the receipt
	state          smpp.MessageState
	err            uint16
	srcTON, srcNPI uint8
	dstTON, dstNPI uint8
	srcLen, dstLen uint8
	textLen        uint8
	src, dst, text [20]byte
}

func (r *receipt) fill(p *smpp.SubmitSM, submitted int64, oc Outcome, delay int64) {
	r.submitted, r.delay = submitted, delay
	r.state, r.err = oc.State, uint16(oc.Err)
	r.srcTON, r.srcNPI = p.Source.TON, p.Source.NPI
	r.dstTON, r.dstNPI = p.Dest.TON, p.Dest.NPI
	r.srcLen = uint8(copy(r.src[:], p.Source.Addr))
	r.dstLen = uint8(copy(r.dst[:], p.Dest.Addr))
	r.textLen = 0
	// Text only for the GSM default alphabet, IA5 and Latin-1 without a
	// UDH; other codings would make the receipt's text undecodable.
	if p.ESMClass&smpp.ESMClassUDHI == 0 && (p.DataCoding == 0 || p.DataCoding == 1 || p.DataCoding == 3) {
		n := copy(r.text[:], p.ShortMessage)
		// Do not cut a GSM escape pair in half.
		if n > 0 && p.DataCoding == 0 && r.text[n-1] == 0x1B {
			n--
		}
		r.textLen = uint8(n)
	}
}

// sched is a min-heap of items by due time, written by hand rather than with
// container/heap, whose interface boxes every pushed item.
type sched []item

func less(a, b *item) bool { return a.due < b.due || (a.due == b.due && a.ord < b.ord) }

// push adds an item and reports whether it is now the first due.
func (h *sched) push(it item) (top bool) {
	*h = append(*h, it)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(&q[i], &q[p]) {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
	return i == 0
}

func (h *sched) pop() item {
	q := *h
	it := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = item{}
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && less(&q[l], &q[m]) {
			m = l
		}
		if r < len(q) && less(&q[r], &q[m]) {
			m = r
		}
		if m == i {
			break
		}
		q[m], q[i] = q[i], q[m]
		i = m
	}
	*h = q
	return it
}
