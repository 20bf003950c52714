package smpptest

import "github.com/switchboard-sms/switchboard/smpp"

// kind says what an item writes when it falls due (or is released).
type kind uint8

const (
	kSubmitResp  kind = iota + 1 // submit_sm_resp, then maybe a receipt
	kDataResp                    // data_sm_resp with message_id n
	kMultiResp                   // submit_multi_resp with message_id n
	kReceipt                     // a delivery receipt for message n
	kEnquireLink                 // the Server's own enquire_link, rescheduled each time
	kRaw                         // raw, pre-encoded octets
)

// item flags.
const (
	fReceipt     uint8 = 1 << iota // a receipt follows the response (rc is set)
	fReceiptSent                   // ReceiptBeforeResp: the receipt already left
)

// item is an answer or a receipt waiting for its time (in conn.sched) or for
// Release (in conn.held). It is a value with fixed-size fields so queuing one
// allocates nothing.
type item struct {
	due    int64  // Server.now() value
	ord    uint64 // push order, to keep items due at the same time in order
	kind   kind
	flags  uint8
	seq    uint32
	status smpp.Status
	n      uint64 // message number (message_id) when status is OK
	raw    []byte // kRaw
	rc     receipt
}

// receipt keeps what a delivery receipt needs from its submit_sm. Addresses
// of submit_sm are at most 20 characters; the text keeps the first 20 octets.
type receipt struct {
	submitted      int64 // wall clock, Unix nanoseconds
	final          smpp.MessageState
	srcTON, srcNPI uint8
	dstTON, dstNPI uint8
	srcLen, dstLen uint8
	textLen        uint8
	src, dst, text [20]byte
}

func (r *receipt) fill(p *smpp.SubmitSM, submitted int64, final smpp.MessageState) {
	r.submitted, r.final = submitted, final
	r.srcTON, r.srcNPI = p.Source.TON, p.Source.NPI
	r.dstTON, r.dstNPI = p.Dest.TON, p.Dest.NPI
	r.srcLen = uint8(copy(r.src[:], p.Source.Addr))
	r.dstLen = uint8(copy(r.dst[:], p.Dest.Addr))
	r.textLen = 0
	// Text only for GSM 7-bit default, IA5 and Latin-1 without a UDH; other
	// codings would make the receipt's text undecodable.
	if p.ESMClass&smpp.ESMClassUDHI == 0 && (p.DataCoding == 0 || p.DataCoding == 1 || p.DataCoding == 3) {
		r.textLen = uint8(copy(r.text[:], p.ShortMessage))
	}
}

// sched is a min-heap of items by due time. Written by hand rather than with
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
